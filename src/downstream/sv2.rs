//! A Stratum V2 miner connection after its Noise handshake, without I/O: hashmux as the SV2
//! server of one mining channel per connection (standard or extended).
//!
//! [`Sv2Miner::on_frame`] turns one decrypted frame into [`Event`]s for the core (or an answer
//! of its own: SetupConnection, errors about the connection's own state); [`Sv2Miner::write`]
//! renders the core's [`ToMiner`] messages as frames. The runtime keeps one `Sv2Miner` per
//! connection, shared by its reader and the writer, borrowed for one call at a time.
//!
//! Mapping onto the core's model (one channel = one core miner):
//! - opening a channel = version rolling request (BIP320 bits) + subscribe + authorize (the
//!   core's requests [`REQ_CONFIGURE`], [`REQ_SUBSCRIBE`], [`REQ_AUTHORIZE`]); the channel's
//!   Success is sent when the core has answered all three, with the miner's tag as the
//!   extended channel's extranonce prefix (standard: tag ‖ zeros, the whole extranonce);
//! - a job: copy `variant` of the pool job, as `NewExtendedMiningJob` (coinbase around the
//!   extranonce) or `NewMiningJob` (merkle root for the zero extranonce2); a job on a new
//!   prevhash, or one the core marks clean (another pool, a new block) is sent as a future job
//!   and activated by `SetNewPrevHash`, so the miner drops older work at once;
//! - difficulty = `SetTarget` (never easier than the miner's `max_target`);
//! - a share's request id is its sequence number; the core's answer becomes
//!   `SubmitShares.Success` (one per share) or `SubmitShares.Error` with the spec's code.
//!
//! Invariants: nothing but SetupConnection is read before SetupConnection; a second channel is
//! refused (`OpenMiningChannel.Error`); shares on another channel id are answered
//! `invalid-channel-id` and never reach the core; more than [`MAX_BAD_FRAMES`] unreadable or
//! misplaced messages end the connection.

use crate::core::{Answer, Downstream, MinerShare, ToMiner};
use crate::upstream::sv2::SV2_VERSION_MASK;
use crate::wire::sv2::msg::{self, Header};
use crate::wire::sv2::server::{self, FromMiner, OpenChannel};
use crate::work::hash::swap_words;
use crate::work::job::{MAX_MINER_E2, TAG_SIZE};
use crate::work::{Difficulty, Target};
use std::fmt;

/// Unreadable or misplaced messages tolerated before the miner is dropped.
pub const MAX_BAD_FRAMES: u32 = 20;
/// Largest payload a miner may send (a submit is 30–60 bytes, SetupConnection ≤ ~1.3 KB).
pub const MAX_MINER_PAYLOAD: usize = 4096;
/// The core request ids a channel opening is made of.
pub const REQ_CONFIGURE: &str = "open-version";
pub const REQ_SUBSCRIBE: &str = "open-channel";
pub const REQ_AUTHORIZE: &str = "open-user";
/// The one channel of a connection.
const CHANNEL_ID: u32 = 1;
/// Jobs whose versions are remembered (the core keeps 8 per miner; a share on an older job is
/// stale anyway).
const JOB_VERSIONS: usize = 8;
/// SetupConnection flags (mining protocol).
const REQUIRES_WORK_SELECTION: u32 = 0b10;

/// Why a session must end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Close {
    /// SetupConnection refused (the miner was told why).
    Setup(&'static str),
    TooManyBadFrames,
    /// The miner closed its channel.
    ChannelClosed,
    /// The channel cannot be served (the miner was told why).
    Channel(&'static str),
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Close::Setup(code) => write!(f, "SetupConnection refused: {code}"),
            Close::TooManyBadFrames => write!(f, "more than {MAX_BAD_FRAMES} bad messages"),
            Close::ChannelClosed => f.write_str("the miner closed its channel"),
            Close::Channel(code) => write!(f, "channel refused: {code}"),
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChannelKind {
    Standard,
    Extended,
}

/// The connection's state: one enum, its transitions in [`Sv2Miner::on_frame`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Encrypted session up; nothing but SetupConnection is accepted.
    AwaitSetup,
    /// SetupConnection answered; a channel may be opened.
    Ready,
    /// A channel was asked for; waiting for the core's three answers.
    Opening,
    /// Channel open: jobs, targets and shares flow.
    Open,
    /// The core refused the channel (the miner was told): the next message ends the session.
    Refused(&'static str),
}

/// The channel being opened or open.
struct Channel {
    kind: ChannelKind,
    /// Extended channels: the fewest extranonce bytes the miner will roll.
    min_extranonce: usize,
    request_id: u32,
    /// The easiest target the miner accepts (little-endian 256-bit).
    max_target: [u8; 32],
    /// From the core's answers.
    mask: Option<Option<u32>>,
    sub: Option<([u8; TAG_SIZE], usize)>,
    authorized: bool,
    /// The difficulty in force (the core sends it before the first job).
    difficulty: Option<Difficulty>,
    /// Prevhash of the last job sent (SV2 order).
    prevhash: Option<[u8; 32]>,
    /// (job id, version) of recent jobs, to tell rolled bits from the job's own.
    versions: [(u32, u32); JOB_VERSIONS],
    next_version: usize,
}

/// One SV2 miner session. See the module docs.
pub struct Sv2Miner {
    peer: std::net::SocketAddr,
    state: State,
    channel: Option<Channel>,
    agent: heapless::String<64>,
    bad: u32,
}

fn text<const N: usize>(b: &[u8]) -> heapless::String<N> {
    let s = String::from_utf8_lossy(b);
    heapless::String::try_from(crate::stats::truncate(&s, N)).unwrap_or_default()
}

impl Sv2Miner {
    pub fn new(peer: std::net::SocketAddr) -> Sv2Miner {
        Sv2Miner {
            peer,
            state: State::AwaitSetup,
            channel: None,
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

    /// Turn one decrypted frame into an event for the core (`Ok(None)`: nothing for the core;
    /// any answer was written to `out` as plain frames).
    pub fn on_frame(
        &mut self,
        h: &Header,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Option<Event>, Close> {
        if let State::Refused(code) = self.state {
            return Err(Close::Channel(code));
        }
        let m = match server::decode_from_miner(h, payload) {
            Ok(m) => m,
            Err(e) => {
                let submit = matches!(
                    h.msg_type,
                    msg::types::SUBMIT_SHARES_STANDARD | msg::types::SUBMIT_SHARES_EXTENDED
                );
                self.bad_frame(&format!("message type {:#04x}: {e}", h.msg_type))?;
                return Ok(submit.then_some(Event::Malformed));
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
                Ok(None)
            }
            (State::Ready, FromMiner::OpenStandard(o)) => {
                Ok(Some(self.open(ChannelKind::Standard, 0, &o)))
            }
            (
                State::Ready,
                FromMiner::OpenExtended {
                    open: o,
                    min_extranonce_size,
                },
            ) => {
                let request_id = o.request_id;
                if min_extranonce_size as usize > MAX_MINER_E2 {
                    let _ = server::open_channel_error(
                        out,
                        request_id,
                        server::codes::MIN_EXTRANONCE_SIZE_TOO_LARGE,
                    );
                    log::warn!(
                        "sv2 miner {}: asks for {min_extranonce_size} extranonce bytes; hashmux gives at most {MAX_MINER_E2}",
                        self.peer
                    );
                    return Ok(None);
                }
                Ok(Some(self.open(
                    ChannelKind::Extended,
                    min_extranonce_size as usize,
                    &o,
                )))
            }
            (
                State::Opening | State::Open,
                FromMiner::OpenStandard(OpenChannel { request_id, .. })
                | FromMiner::OpenExtended {
                    open: OpenChannel { request_id, .. },
                    ..
                },
            ) => {
                let _ = server::open_channel_error(
                    out,
                    request_id,
                    server::codes::CHANNEL_CAPACITY_EXHAUSTED,
                );
                log::info!(
                    "sv2 miner {}: refused a second channel (one per connection)",
                    self.peer
                );
                Ok(None)
            }
            (State::Open, FromMiner::SubmitStandard(x)) => Ok(self.submit(
                out,
                x.channel_id,
                x.sequence_number,
                x.job_id,
                None,
                x.nonce,
                x.ntime,
                x.version,
            )),
            (State::Open, FromMiner::SubmitExtended(x)) => Ok(self.submit(
                out,
                x.channel_id,
                x.sequence_number,
                x.job_id,
                Some(x.extranonce),
                x.nonce,
                x.ntime,
                x.version,
            )),
            (_, FromMiner::SubmitStandard(x)) => {
                self.refuse_share(out, x.channel_id, x.sequence_number)
            }
            (_, FromMiner::SubmitExtended(x)) => {
                self.refuse_share(out, x.channel_id, x.sequence_number)
            }
            (
                State::Opening | State::Open,
                FromMiner::UpdateChannel {
                    channel_id,
                    hash_rate_bits,
                    ..
                },
            ) => {
                if channel_id != CHANNEL_ID {
                    let _ = server::update_channel_error(
                        out,
                        channel_id,
                        server::codes::INVALID_CHANNEL_ID,
                    );
                    return Ok(None);
                }
                // The core weighs a miner by its shares once it has some; until then by this.
                Ok(Some(Event::Hashrate(server::u64_of_f32_bits(
                    hash_rate_bits,
                ))))
            }
            (_, FromMiner::CloseChannel { channel_id, .. }) if channel_id == CHANNEL_ID => {
                Err(Close::ChannelClosed)
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
            (_, other) => {
                self.bad_frame(&format!("{} unexpected here", name(&other)))?;
                Ok(None)
            }
        }
    }

    fn open(&mut self, kind: ChannelKind, min_extranonce: usize, o: &OpenChannel<'_>) -> Event {
        let (request_id, max_target) = (o.request_id, o.max_target);
        self.channel = Some(Channel {
            kind,
            min_extranonce,
            request_id,
            max_target,
            mask: None,
            sub: None,
            authorized: false,
            difficulty: None,
            prevhash: None,
            versions: [(0, 0); JOB_VERSIONS],
            next_version: 0,
        });
        self.set_state(State::Opening);
        Event::Open {
            user: text::<64>(o.user_identity),
            agent: self.agent.clone(),
            hashrate: server::u64_of_f32_bits(o.hash_rate_bits),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn submit(
        &mut self,
        out: &mut Vec<u8>,
        channel_id: u32,
        seq: u32,
        job: u32,
        extranonce: Option<&[u8]>,
        nonce: u32,
        ntime: u32,
        version: u32,
    ) -> Option<Event> {
        let ch = self.channel.as_ref()?;
        if channel_id != CHANNEL_ID {
            let _ = server::submit_shares_error(
                out,
                channel_id,
                seq,
                server::codes::INVALID_CHANNEL_ID,
            );
            return Some(Event::Malformed);
        }
        let (_, e2_size) = ch.sub?;
        let extranonce2 = match extranonce {
            Some(e) => heapless::Vec::from_slice(e).unwrap_or_default(),
            None => {
                let mut z = heapless::Vec::new();
                let _ = z.resize(e2_size, 0);
                z
            }
        };
        // The core takes the rolled bits (SV1's form): the version's bits inside the mask;
        // bits changed outside it are passed on so the core refuses the share.
        let job_version = ch
            .versions
            .iter()
            .find(|(id, _)| *id == job)
            .map(|(_, v)| *v);
        let mask = ch.mask.flatten().unwrap_or(0);
        let version_bits = match job_version {
            Some(v) if v == version => None,
            Some(v) if (v ^ version) & !mask == 0 => Some(version & mask),
            _ => Some(version),
        };
        Some(Event::Submit {
            seq,
            job,
            extranonce2,
            ntime,
            nonce,
            version_bits,
        })
    }

    /// A share before the channel is open: answered, counted malformed.
    fn refuse_share(
        &mut self,
        out: &mut Vec<u8>,
        channel_id: u32,
        seq: u32,
    ) -> Result<Option<Event>, Close> {
        let _ =
            server::submit_shares_error(out, channel_id, seq, server::codes::INVALID_CHANNEL_ID);
        Ok(Some(Event::Malformed))
    }

    fn bad_frame(&mut self, why: &str) -> Result<(), Close> {
        self.bad += 1;
        log::warn!("sv2 miner {}: bad message ({why})", self.peer);
        if self.bad > MAX_BAD_FRAMES {
            return Err(Close::TooManyBadFrames);
        }
        Ok(())
    }

    /// Render one message from the core as plain frames (`Close` is the runtime's).
    pub fn write(&mut self, out: &mut Vec<u8>, msg: &ToMiner) {
        let state = self.state;
        let Some(ch) = self.channel.as_mut() else {
            return;
        };
        match msg {
            ToMiner::Reply { req, answer } => match (req.as_str(), answer) {
                (REQ_CONFIGURE, Answer::Configure(mask)) => ch.mask = Some(*mask),
                (REQ_SUBSCRIBE, Answer::Subscribe { tag, e2_size, .. }) => {
                    ch.sub = Some((*tag, *e2_size))
                }
                (REQ_AUTHORIZE, Answer::True) => ch.authorized = true,
                (REQ_CONFIGURE | REQ_SUBSCRIBE | REQ_AUTHORIZE, Answer::Refused(r)) => {
                    // The channel cannot open on this connection: the miner is told, and the
                    // connection ends at its next message (a fresh one starts clean).
                    let _ = server::open_channel_error(out, ch.request_id, r.sv2_code());
                    self.channel = None;
                    self.set_state(State::Refused(r.sv2_code()));
                    return;
                }
                (seq, Answer::True) => {
                    let seq = seq.parse().unwrap_or(0);
                    let sum = ch.difficulty.map_or(1, |d| d.whole().max(1));
                    let _ = server::submit_shares_success(out, CHANNEL_ID, seq, 1, sum);
                }
                (seq, Answer::Refused(r)) => {
                    let seq = seq.parse().unwrap_or(0);
                    let _ = server::submit_shares_error(out, CHANNEL_ID, seq, r.sv2_code());
                }
                _ => {}
            },
            ToMiner::SetDifficulty(d) => {
                ch.difficulty = Some(*d);
                if state == State::Open {
                    let t = target_for(ch, *d);
                    let _ = server::set_target(out, CHANNEL_ID, &t);
                }
            }
            ToMiner::Notify {
                id,
                job,
                variant,
                e2_size,
                clean,
            } => {
                if state != State::Open {
                    return;
                }
                let Some((tag, _)) = ch.sub else { return };
                let ntime = job.ntime_of(*e2_size, *variant);
                let prevhash = swap_words(&job.prevhash);
                let new_tip = *clean || ch.prevhash != Some(prevhash);
                let min_ntime = (!new_tip).then_some(ntime);
                let rolling = ch.mask.flatten().is_some();
                let r = match ch.kind {
                    ChannelKind::Standard => {
                        let zeros = [0u8; MAX_MINER_E2];
                        let root = job.merkle_root_for(&tag, &zeros[..*e2_size], *variant);
                        server::new_mining_job(out, CHANNEL_ID, *id, min_ntime, job.version, &root)
                    }
                    ChannelKind::Extended => {
                        let (prefix, suffix) = job.coinbase_parts(*e2_size, *variant);
                        server::new_extended_mining_job(
                            out,
                            &msg::ExtendedJob {
                                channel_id: CHANNEL_ID,
                                job_id: *id,
                                min_ntime,
                                version: job.version,
                                version_rolling_allowed: rolling,
                                merkle_path: job.branches.as_slice().as_flattened(),
                                coinbase_prefix: &prefix,
                                coinbase_suffix: &suffix,
                            },
                        )
                    }
                };
                if let Err(e) = r {
                    log::warn!("sv2 miner {}: job {id} not sent: {e}", self.peer);
                    return;
                }
                if new_tip {
                    let _ = server::set_new_prev_hash(
                        out, CHANNEL_ID, *id, &prevhash, ntime, job.nbits,
                    );
                    ch.prevhash = Some(prevhash);
                }
                ch.versions[ch.next_version] = (*id, job.version);
                ch.next_version = (ch.next_version + 1) % JOB_VERSIONS;
            }
            ToMiner::SetVersionMask(_) | ToMiner::Close => {}
        }
        if self.state == State::Opening {
            self.finish_open(out);
        }
    }

    /// Send the channel's Success once the core has answered all three opening requests.
    fn finish_open(&mut self, out: &mut Vec<u8>) {
        let Some(ch) = self.channel.as_ref() else {
            return;
        };
        let (Some(_), Some((tag, e2_size)), true) = (ch.mask, ch.sub, ch.authorized) else {
            return;
        };
        if e2_size < ch.min_extranonce {
            // The pools leave less room than the miner needs: it cannot work here.
            let _ = server::open_channel_error(
                out,
                ch.request_id,
                server::codes::MIN_EXTRANONCE_SIZE_TOO_LARGE,
            );
            log::warn!(
                "sv2 miner {}: needs {} extranonce bytes; the pools leave {e2_size}",
                self.peer,
                ch.min_extranonce
            );
            self.channel = None;
            self.set_state(State::Ready);
            return;
        }
        let target = match ch.difficulty {
            Some(d) => target_for(ch, d),
            None => ch.max_target,
        };
        let r = match ch.kind {
            ChannelKind::Standard => {
                let mut prefix = heapless::Vec::<u8, 8>::new();
                let _ = prefix.extend_from_slice(&tag);
                let _ = prefix.resize(TAG_SIZE + e2_size, 0);
                server::open_standard_channel_success(
                    out,
                    ch.request_id,
                    CHANNEL_ID,
                    &target,
                    &prefix,
                    0,
                )
            }
            ChannelKind::Extended => server::open_extended_channel_success(
                out,
                ch.request_id,
                CHANNEL_ID,
                &target,
                e2_size as u16,
                &tag,
                0,
            ),
        };
        if r.is_ok() {
            log::info!(
                "sv2 miner {}: {:?} channel open (extranonce prefix {:02x}{:02x}, {} bytes to roll)",
                self.peer,
                ch.kind,
                tag[0],
                tag[1],
                if ch.kind == ChannelKind::Extended { e2_size } else { 0 }
            );
            self.set_state(State::Open);
        }
    }
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

/// The SV2 target of difficulty `d` for this channel: never easier than the miner's
/// `max_target` (a harder one only means fewer, larger shares, all still valid for the core).
fn target_for(ch: &Channel, d: Difficulty) -> [u8; 32] {
    let t = d.target().0;
    if Target(ch.max_target).is_met_by(&t) {
        t
    } else {
        ch.max_target
    }
}

#[cfg(test)]
#[path = "sv2_tests.rs"]
mod tests;
