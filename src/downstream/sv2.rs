//! A Stratum V2 miner connection after its Noise handshake, without I/O: hashmux as the SV2
//! server of up to [`MAX_CHANNELS`] mining channels per connection (standard or extended;
//! one for a device such as a Bitaxe, several for a proxy in front of many devices).
//!
//! [`Sv2Miner::on_frame`] turns one decrypted frame into an [`Output`] for the runtime (or an
//! answer of its own: SetupConnection, errors about the connection's own state);
//! [`Sv2Miner::write`] renders the core's [`ToMiner`] messages for one channel as frames. The
//! runtime keeps one `Sv2Miner` per connection, shared by its reader and the writer, borrowed
//! for one call at a time.
//!
//! Mapping onto the core's model (one channel = one core miner, [`super::sv2_channel`]):
//! - the connection is admitted with one core miner; its first channel takes it, each further
//!   channel asks the runtime to admit another ([`Output::Admit`]), so the core's table caps
//!   and per-address limit count channels;
//! - opening a channel = version rolling request (BIP320 bits) + subscribe + authorize (the
//!   core's requests [`REQ_CONFIGURE`], [`REQ_SUBSCRIBE`], [`REQ_AUTHORIZE`]); the channel's
//!   Success is sent when the core has answered all three, with the miner's tag as the
//!   extended channel's extranonce prefix (standard: tag ‖ zeros, the whole extranonce);
//! - a job: copy `variant` of the pool job, as `NewExtendedMiningJob` (coinbase around the
//!   extranonce) or `NewMiningJob` (merkle root for the zero extranonce2);
//! - difficulty = `SetTarget` (never easier than the channel's `max_target`);
//! - a share's request id is its sequence number; the core's answer becomes
//!   `SubmitShares.Success` (one per share) or `SubmitShares.Error` with the spec's code.
//!
//! Invariants: nothing but SetupConnection is read before SetupConnection; one channel opens
//! at a time; shares on a channel that is not open are answered `invalid-channel-id` and never
//! reach the core; a channel the core refuses is told so and its core miner let go; closing
//! the last channel ends the connection (a live connection always holds a core miner, so the
//! core's idle timeout and caps cover it); more than [`MAX_BAD_FRAMES`] unreadable or
//! misplaced messages end the connection.

use super::sv2_channel::Channel;
pub use super::sv2_channel::{ChannelId, ChannelKind, ChannelState, Step};
use crate::core::{Downstream, MinerId, MinerShare, ToMiner};
use crate::upstream::sv2::SV2_VERSION_MASK;
use crate::wire::sv2::msg::{self, Header};
use crate::wire::sv2::server::{self, FromMiner, OpenChannel};
use crate::work::job::MAX_MINER_E2;
use std::fmt;

/// Unreadable or misplaced messages tolerated before the miner is dropped.
pub const MAX_BAD_FRAMES: u32 = 20;
/// Largest payload a miner may send (a submit is 30–60 bytes, SetupConnection ≤ ~1.3 KB).
pub const MAX_MINER_PAYLOAD: usize = 4096;
/// The core request ids a channel opening is made of.
pub const REQ_CONFIGURE: &str = "open-version";
pub const REQ_SUBSCRIBE: &str = "open-channel";
pub const REQ_AUTHORIZE: &str = "open-user";
/// Channels one connection may hold.
pub const MAX_CHANNELS: usize = 32;
/// SetupConnection flags (mining protocol).
const REQUIRES_WORK_SELECTION: u32 = 0b10;

/// Why a session must end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Close {
    /// SetupConnection refused (the miner was told why).
    Setup(&'static str),
    TooManyBadFrames,
    /// The miner closed its last channel.
    ChannelClosed,
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Close::Setup(code) => write!(f, "SetupConnection refused: {code}"),
            Close::TooManyBadFrames => write!(f, "more than {MAX_BAD_FRAMES} bad messages"),
            Close::ChannelClosed => f.write_str("the miner closed its last channel"),
        }
    }
}

/// What a frame means for the core (owned: the runtime hands it over after the session's
/// borrow ends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A channel was asked for: version rolling, subscribe and authorize, in that order.
    Open {
        user: heapless::String<64>,
        agent: heapless::String<64>,
        /// The declared `nominal_hash_rate`, H/s.
        hashrate: u64,
    },
    /// UpdateChannel: the miner's declared hashrate now, H/s.
    Hashrate(u64),
    Submit {
        seq: u32,
        job: u32,
        extranonce2: heapless::Vec<u8, 32>,
        ntime: u32,
        nonce: u32,
        version_bits: Option<u32>,
    },
    /// A share message that could not be read.
    Malformed,
}

impl Event {
    /// The core's events for this one, handed to `f` in order.
    pub fn to_core(&self, f: &mut dyn FnMut(Downstream<'_>)) {
        match self {
            Event::Open {
                user,
                agent,
                hashrate,
            } => {
                // First, so the starting difficulty fits the miner before its first job.
                f(Downstream::Hashrate(*hashrate));
                f(Downstream::Configure {
                    req: REQ_CONFIGURE,
                    version_rolling: true,
                    mask: SV2_VERSION_MASK,
                });
                f(Downstream::Subscribe {
                    req: REQ_SUBSCRIBE,
                    agent: Some(agent),
                });
                f(Downstream::Authorize {
                    req: REQ_AUTHORIZE,
                    user,
                });
            }
            Event::Submit {
                seq,
                job,
                extranonce2,
                ntime,
                nonce,
                version_bits,
            } => {
                let mut req = heapless::String::<12>::new();
                let _ = fmt::write(&mut req, format_args!("{seq}"));
                f(Downstream::Submit {
                    req: &req,
                    share: MinerShare {
                        job: Some(*job),
                        extranonce2: Some(extranonce2),
                        ntime: *ntime,
                        nonce: *nonce,
                        version_bits: *version_bits,
                        #[cfg(feature = "sim")]
                        sim_hash: None,
                    },
                })
            }
            Event::Hashrate(h) => f(Downstream::Hashrate(*h)),
            Event::Malformed => f(Downstream::Malformed { submit: true }),
        }
    }
}

/// What one frame means for the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An event for core miner `MinerId` (one of this connection's channels).
    Core(MinerId, Event),
    /// A channel was asked for and the connection has no core miner to give it: admit one
    /// (`Core::miner_connected`), then [`Sv2Miner::bind`] or [`Sv2Miner::refuse`] it, then hand
    /// the `Event::Open` to the core for it.
    Admit(ChannelId, Event),
    /// The miner closed this channel (others remain): let its core miner go.
    Closed(MinerId),
}

/// The connection's state: one enum, its transitions in [`Sv2Miner::on_frame`]. Channels have
/// their own ([`ChannelState`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Encrypted session up; nothing but SetupConnection is accepted.
    AwaitSetup,
    /// SetupConnection answered; channels may be opened, used and closed.
    Ready,
}

/// A channel asked for but not yet bound to a core miner (waiting for [`Sv2Miner::bind`]).
struct Pending {
    id: ChannelId,
    kind: ChannelKind,
    min_extranonce: usize,
    request_id: u32,
    max_target: [u8; 32],
}

/// One SV2 miner connection. See the module docs.
pub struct Sv2Miner {
    peer: std::net::SocketAddr,
    state: State,
    /// The core miner admitted with the connection, until its first channel takes it.
    spare: Option<MinerId>,
    channels: Vec<Channel>,
    pending: Option<Pending>,
    next_channel: ChannelId,
    agent: heapless::String<64>,
    bad: u32,
}

fn text<const N: usize>(b: &[u8]) -> heapless::String<N> {
    let s = String::from_utf8_lossy(b);
    heapless::String::try_from(crate::stats::truncate(&s, N)).unwrap_or_default()
}

impl Sv2Miner {
    /// A session for a connection from `peer`, admitted by the core as miner `first`.
    pub fn new(peer: std::net::SocketAddr, first: MinerId) -> Sv2Miner {
        Sv2Miner {
            peer,
            state: State::AwaitSetup,
            spare: Some(first),
            channels: Vec::new(),
            pending: None,
            next_channel: 1,
            agent: heapless::String::new(),
            bad: 0,
        }
    }

    fn set_state(&mut self, to: State) {
        if self.state != to {
            log::debug!("sv2 miner {}: {:?} -> {:?}", self.peer, self.state, to);
            self.state = to;
        }
    }

    /// Every core miner this connection holds (its channels', or the spare one): the runtime
    /// lets them all go when the connection ends.
    pub fn miners(&self) -> impl Iterator<Item = MinerId> + '_ {
        self.spare
            .iter()
            .copied()
            .chain(self.channels.iter().map(|c| c.mid))
    }

    /// The core miner that frames naming no channel are counted against.
    pub fn any_miner(&self) -> Option<MinerId> {
        self.miners().next()
    }

    /// Channels open or opening.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    fn channel(&mut self, id: ChannelId) -> Option<&mut Channel> {
        self.channels.iter_mut().find(|c| c.id == id)
    }

    /// Turn one decrypted frame into what the runtime must do (`Ok(None)`: nothing; any answer
    /// was written to `out` as plain frames).
    pub fn on_frame(
        &mut self,
        h: &Header,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Option<Output>, Close> {
        let m = match server::decode_from_miner(h, payload) {
            Ok(m) => m,
            Err(e) => {
                let submit = matches!(
                    h.msg_type,
                    msg::types::SUBMIT_SHARES_STANDARD | msg::types::SUBMIT_SHARES_EXTENDED
                );
                self.bad_frame(&format!("message type {:#04x}: {e}", h.msg_type))?;
                return Ok(self.malformed(submit));
            }
        };
        match (self.state, m) {
            (State::AwaitSetup, FromMiner::Setup(setup)) => {
                let server::SetupConnection {
                    protocol,
                    min_version,
                    max_version,
                    flags,
                    vendor,
                    hardware_version,
                    firmware,
                    ..
                } = setup;
                let refuse = if protocol != 0 {
                    Some((0, server::codes::UNSUPPORTED_PROTOCOL))
                } else if min_version > 2 || max_version < 2 {
                    Some((0, server::codes::PROTOCOL_VERSION_MISMATCH))
                } else if flags & REQUIRES_WORK_SELECTION != 0 {
                    Some((
                        REQUIRES_WORK_SELECTION,
                        server::codes::UNSUPPORTED_FEATURE_FLAGS,
                    ))
                } else {
                    None
                };
                if let Some((bad_flags, code)) = refuse {
                    let _ = server::setup_connection_error(out, bad_flags, code);
                    return Err(Close::Setup(code));
                }
                let mut agent = heapless::String::<64>::new();
                let _ = agent.push_str("sv2 ");
                for part in [vendor, hardware_version, firmware] {
                    let t = text::<30>(part);
                    if !t.is_empty() && agent.len() + t.len() < 63 {
                        let _ = agent.push_str(&t);
                        let _ = agent.push(' ');
                    }
                }
                self.agent = text::<64>(agent.trim_end().as_bytes());
                let _ = server::setup_connection_success(out, 2, 0);
                self.set_state(State::Ready);
                Ok(None)
            }
            (State::AwaitSetup, other) => {
                self.bad_frame(&format!("{} before SetupConnection", name(&other)))?;
                Ok(self.malformed(is_submit(&other)))
            }
            (State::Ready, FromMiner::OpenStandard(o)) => {
                Ok(self.open(out, ChannelKind::Standard, 0, &o))
            }
            (
                State::Ready,
                FromMiner::OpenExtended {
                    open: o,
                    min_extranonce_size,
                },
            ) => {
                if min_extranonce_size as usize > MAX_MINER_E2 {
                    let _ = server::open_channel_error(
                        out,
                        o.request_id,
                        server::codes::MIN_EXTRANONCE_SIZE_TOO_LARGE,
                    );
                    log::warn!(
                        "sv2 miner {}: asks for {min_extranonce_size} extranonce bytes; hashmux gives at most {MAX_MINER_E2}",
                        self.peer
                    );
                    return Ok(None);
                }
                Ok(self.open(out, ChannelKind::Extended, min_extranonce_size as usize, &o))
            }
            (State::Ready, FromMiner::SubmitStandard(x)) => {
                // The same fields; a standard channel's extranonce is the one hashmux fixed.
                let x = server::SubmitExtended {
                    channel_id: x.channel_id,
                    sequence_number: x.sequence_number,
                    job_id: x.job_id,
                    nonce: x.nonce,
                    ntime: x.ntime,
                    version: x.version,
                    extranonce: &[],
                };
                Ok(self.submit(out, &x, false))
            }
            (State::Ready, FromMiner::SubmitExtended(x)) => Ok(self.submit(out, &x, true)),
            (
                State::Ready,
                FromMiner::UpdateChannel {
                    channel_id,
                    hash_rate_bits,
                    ..
                },
            ) => {
                let Some(ch) = self.channel(channel_id) else {
                    let _ = server::update_channel_error(
                        out,
                        channel_id,
                        server::codes::INVALID_CHANNEL_ID,
                    );
                    return Ok(None);
                };
                // The core weighs a miner by its shares once it has some; until then by this.
                let h = server::u64_of_f32_bits(hash_rate_bits);
                Ok(Some(Output::Core(ch.mid, Event::Hashrate(h))))
            }
            (State::Ready, FromMiner::CloseChannel { channel_id, .. }) => {
                let Some(i) = self.channels.iter().position(|c| c.id == channel_id) else {
                    self.bad_frame(&format!("CloseChannel of unknown channel {channel_id}"))?;
                    return Ok(None);
                };
                if self.channels.len() == 1 && self.pending.is_none() {
                    // Its last channel: the connection ends (its core miner with it).
                    return Err(Close::ChannelClosed);
                }
                let ch = self.channels.remove(i);
                log::info!("sv2 miner {}: closed channel {channel_id}", self.peer);
                Ok(Some(Output::Closed(ch.mid)))
            }
            (
                _,
                FromMiner::Other {
                    extension,
                    msg_type,
                },
            ) => {
                log::debug!(
                    "sv2 miner {}: ignoring message {msg_type:#04x} (extension {extension})",
                    self.peer
                );
                Ok(None)
            }
            (State::Ready, FromMiner::Setup(_)) => {
                self.bad_frame("a second SetupConnection")?;
                Ok(None)
            }
        }
    }

    /// A channel is asked for: bound to the spare core miner, or to one the runtime admits.
    fn open(
        &mut self,
        out: &mut Vec<u8>,
        kind: ChannelKind,
        min_extranonce: usize,
        o: &OpenChannel<'_>,
    ) -> Option<Output> {
        if self.pending.is_some() || self.channels.len() >= MAX_CHANNELS {
            let _ = server::open_channel_error(
                out,
                o.request_id,
                server::codes::CHANNEL_CAPACITY_EXHAUSTED,
            );
            log::warn!(
                "sv2 miner {}: refused channel request {} ({} open, at most {MAX_CHANNELS} per connection, one opening at a time)",
                self.peer,
                o.request_id,
                crate::stats::count_of(self.channels.len(), "channel")
            );
            return None;
        }
        let id = self.next_channel;
        self.next_channel = self.next_channel.wrapping_add(1).max(1);
        let ev = Event::Open {
            user: text::<64>(o.user_identity),
            agent: self.agent.clone(),
            hashrate: server::u64_of_f32_bits(o.hash_rate_bits),
        };
        match self.spare.take() {
            Some(mid) => {
                let ch = Channel::new(id, mid, kind, min_extranonce, o.request_id, o.max_target);
                self.channels.push(ch);
                Some(Output::Core(mid, ev))
            }
            None => {
                self.pending = Some(Pending {
                    id,
                    kind,
                    min_extranonce,
                    request_id: o.request_id,
                    max_target: o.max_target,
                });
                Some(Output::Admit(id, ev))
            }
        }
    }

    /// The runtime admitted core miner `mid` for channel `id` (from [`Output::Admit`]).
    pub fn bind(&mut self, id: ChannelId, mid: MinerId) {
        match self.pending.take() {
            Some(p) if p.id == id => self.channels.push(Channel::new(
                id,
                mid,
                p.kind,
                p.min_extranonce,
                p.request_id,
                p.max_target,
            )),
            other => self.pending = other,
        }
    }

    /// The core had no room for channel `id`: the miner is told.
    pub fn refuse(&mut self, id: ChannelId, out: &mut Vec<u8>) {
        match self.pending.take() {
            Some(p) if p.id == id => {
                let _ = server::open_channel_error(
                    out,
                    p.request_id,
                    server::codes::CHANNEL_CAPACITY_EXHAUSTED,
                );
                log::warn!(
                    "sv2 miner {}: no room for another channel (miner table or miners.max_per_address)",
                    self.peer
                );
            }
            other => self.pending = other,
        }
    }

    /// A share on channel `x.channel_id` (`extended`: its extranonce is the miner's).
    fn submit(
        &mut self,
        out: &mut Vec<u8>,
        x: &server::SubmitExtended<'_>,
        extended: bool,
    ) -> Option<Output> {
        let (channel_id, seq) = (x.channel_id, x.sequence_number);
        let ch = self
            .channels
            .iter()
            .find(|c| c.id == channel_id && c.state == ChannelState::Open);
        let Some(ch) = ch else {
            // Unknown, or not open yet: answered, counted malformed, never a share.
            let _ = server::submit_shares_error(
                out,
                channel_id,
                seq,
                server::codes::INVALID_CHANNEL_ID,
            );
            return self.malformed(true);
        };
        let ev = ch.submit(x, extended)?;
        Some(Output::Core(ch.mid, ev))
    }

    /// A share message that could not be used, counted against the connection.
    fn malformed(&self, submit: bool) -> Option<Output> {
        let mid = self.any_miner().filter(|_| submit)?;
        Some(Output::Core(mid, Event::Malformed))
    }

    fn bad_frame(&mut self, why: &str) -> Result<(), Close> {
        self.bad += 1;
        log::warn!("sv2 miner {}: bad message ({why})", self.peer);
        if self.bad > MAX_BAD_FRAMES {
            return Err(Close::TooManyBadFrames);
        }
        Ok(())
    }

    /// Render one message from the core for its miner `mid` as plain frames (`Close` is the
    /// runtime's). [`Step::Ended`]: that channel is gone and the runtime lets `mid` go.
    pub fn write(&mut self, mid: MinerId, out: &mut Vec<u8>, m: &ToMiner) -> Step {
        let peer = self.peer;
        let Some(i) = self.channels.iter().position(|c| c.mid == mid) else {
            return Step::Keep;
        };
        let step = self.channels[i].write(&peer, out, m);
        if let Step::Ended(_) = step {
            self.channels.remove(i);
        }
        step
    }
}

fn is_submit(m: &FromMiner<'_>) -> bool {
    matches!(
        m,
        FromMiner::SubmitStandard(_) | FromMiner::SubmitExtended(_)
    )
}

/// A message's name, for log lines.
fn name(m: &FromMiner<'_>) -> &'static str {
    match m {
        FromMiner::Setup(_) => "SetupConnection",
        FromMiner::OpenStandard(_) => "OpenStandardMiningChannel",
        FromMiner::OpenExtended { .. } => "OpenExtendedMiningChannel",
        FromMiner::UpdateChannel { .. } => "UpdateChannel",
        FromMiner::CloseChannel { .. } => "CloseChannel",
        FromMiner::SubmitStandard(_) => "SubmitSharesStandard",
        FromMiner::SubmitExtended(_) => "SubmitSharesExtended",
        FromMiner::Other { .. } => "an unknown message",
    }
}

#[cfg(test)]
#[path = "sv2_tests.rs"]
mod tests;
