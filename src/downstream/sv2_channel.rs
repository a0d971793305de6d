//! One mining channel of an SV2 miner connection, without I/O: its state (opening, open), what
//! the core told it (version mask, extranonce tag, authorization, difficulty) and how the core's
//! messages for it become frames. [`super::sv2::Sv2Miner`] owns the channels of a connection
//! and routes frames and core messages to them.
//!
//! Invariants: a channel is bound to exactly one core miner for its whole life; it sends no job
//! or target before its Success; a job on a new prevhash (or one the core marks clean) is sent
//! as a future job and activated by `SetNewPrevHash`; its target is never easier than the
//! miner's `max_target`.

use super::sv2::{Event, REQ_AUTHORIZE, REQ_CONFIGURE, REQ_SUBSCRIBE};
use crate::core::{Answer, MinerId, ToMiner};
use crate::wire::sv2::msg;
use crate::wire::sv2::server;
use crate::work::hash::swap_words;
use crate::work::job::{MAX_MINER_E2, TAG_SIZE};
use crate::work::{Difficulty, Target};

/// Jobs whose versions are remembered (the core keeps 8 per miner; a share on an older job is
/// stale anyway).
const JOB_VERSIONS: usize = 8;

/// A channel's id on its connection (assigned by hashmux, from 1, never reused).
pub type ChannelId = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    Standard,
    Extended,
}

/// A channel's life: one enum, its transitions in [`Channel::write`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelState {
    /// Asked for; waiting for the core's three answers.
    Opening,
    /// Success sent: jobs, targets and shares flow.
    Open,
}

/// What a core message did to the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Keep,
    /// The channel cannot be served (the miner was told, with this code): its core miner is
    /// let go.
    Ended(&'static str),
}

/// One channel, bound to core miner `mid`.
pub struct Channel {
    pub id: ChannelId,
    pub mid: MinerId,
    pub kind: ChannelKind,
    pub state: ChannelState,
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

impl Channel {
    pub fn new(
        id: ChannelId,
        mid: MinerId,
        kind: ChannelKind,
        min_extranonce: usize,
        request_id: u32,
        max_target: [u8; 32],
    ) -> Channel {
        Channel {
            id,
            mid,
            kind,
            state: ChannelState::Opening,
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
        }
    }

    fn set_state(&mut self, peer: &std::net::SocketAddr, to: ChannelState) {
        if self.state != to {
            log::debug!(
                "sv2 miner {peer} channel {}: {:?} -> {to:?}",
                self.id,
                self.state
            );
            self.state = to;
        }
    }

    /// A share on this open channel as the core's event (`extended`: `x.extranonce` is the
    /// bytes the miner rolled; a standard channel's are zeros).
    pub fn submit(&self, x: &server::SubmitExtended<'_>, extended: bool) -> Option<Event> {
        let extranonce = extended.then_some(x.extranonce);
        let (seq, job, nonce, ntime, version) =
            (x.sequence_number, x.job_id, x.nonce, x.ntime, x.version);
        let (_, e2_size) = self.sub?;
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
        let job_version = self
            .versions
            .iter()
            .find(|(id, _)| *id == job)
            .map(|(_, v)| *v);
        let mask = self.mask.flatten().unwrap_or(0);
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

    /// Render one message from the core as plain frames for this channel.
    pub fn write(&mut self, peer: &std::net::SocketAddr, out: &mut Vec<u8>, m: &ToMiner) -> Step {
        let open = self.state == ChannelState::Open;
        match m {
            ToMiner::Reply { req, answer } => match (req.as_str(), answer) {
                (REQ_CONFIGURE, Answer::Configure(mask)) => self.mask = Some(*mask),
                (REQ_SUBSCRIBE, Answer::Subscribe { tag, e2_size, .. }) => {
                    self.sub = Some((*tag, *e2_size))
                }
                (REQ_AUTHORIZE, Answer::True) => self.authorized = true,
                (REQ_CONFIGURE | REQ_SUBSCRIBE | REQ_AUTHORIZE, Answer::Refused(r)) if !open => {
                    let code = r.sv2_code();
                    let _ = server::open_channel_error(out, self.request_id, code);
                    log::info!("sv2 miner {peer}: channel {} refused: {code}", self.id);
                    return Step::Ended(code);
                }
                (seq, Answer::True) => {
                    let seq = seq.parse().unwrap_or(0);
                    let sum = self.difficulty.map_or(1, |d| d.whole().max(1));
                    let _ = server::submit_shares_success(out, self.id, seq, 1, sum);
                }
                (seq, Answer::Refused(r)) => {
                    let seq = seq.parse().unwrap_or(0);
                    let _ = server::submit_shares_error(out, self.id, seq, r.sv2_code());
                }
                _ => {}
            },
            ToMiner::SetDifficulty(d) => {
                self.difficulty = Some(*d);
                if open {
                    let _ = server::set_target(out, self.id, &self.target_for(*d));
                }
            }
            ToMiner::Notify {
                id,
                job,
                variant,
                e2_size,
                clean,
            } => {
                if !open {
                    return Step::Keep;
                }
                let Some((tag, _)) = self.sub else {
                    return Step::Keep;
                };
                let ntime = job.ntime_of(*e2_size, *variant);
                let prevhash = swap_words(&job.prevhash);
                let new_tip = *clean || self.prevhash != Some(prevhash);
                let min_ntime = (!new_tip).then_some(ntime);
                let rolling = self.mask.flatten().is_some();
                let r = match self.kind {
                    ChannelKind::Standard => {
                        let zeros = [0u8; MAX_MINER_E2];
                        let root = job.merkle_root_for(&tag, &zeros[..*e2_size], *variant);
                        server::new_mining_job(out, self.id, *id, min_ntime, job.version, &root)
                    }
                    ChannelKind::Extended => {
                        let (prefix, suffix) = job.coinbase_parts(*e2_size, *variant);
                        server::new_extended_mining_job(
                            out,
                            &msg::ExtendedJob {
                                channel_id: self.id,
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
                    log::warn!("sv2 miner {peer}: job {id} not sent: {e}");
                    return Step::Keep;
                }
                if new_tip {
                    let _ =
                        server::set_new_prev_hash(out, self.id, *id, &prevhash, ntime, job.nbits);
                    self.prevhash = Some(prevhash);
                }
                self.versions[self.next_version] = (*id, job.version);
                self.next_version = (self.next_version + 1) % JOB_VERSIONS;
            }
            ToMiner::SetVersionMask(_) | ToMiner::Close => {}
        }
        if self.state == ChannelState::Opening {
            return self.finish_open(peer, out);
        }
        Step::Keep
    }

    /// Send the channel's Success once the core has answered all three opening requests.
    fn finish_open(&mut self, peer: &std::net::SocketAddr, out: &mut Vec<u8>) -> Step {
        let (Some(_), Some((tag, e2_size)), true) = (self.mask, self.sub, self.authorized) else {
            return Step::Keep;
        };
        if e2_size < self.min_extranonce {
            // The pools leave less room than the miner needs: it cannot work here.
            let code = server::codes::MIN_EXTRANONCE_SIZE_TOO_LARGE;
            let _ = server::open_channel_error(out, self.request_id, code);
            log::warn!(
                "sv2 miner {peer}: channel {} needs {} extranonce bytes; the pools leave {e2_size}",
                self.id,
                self.min_extranonce
            );
            return Step::Ended(code);
        }
        let target = match self.difficulty {
            Some(d) => self.target_for(d),
            None => self.max_target,
        };
        let r = match self.kind {
            ChannelKind::Standard => {
                let mut prefix = heapless::Vec::<u8, 8>::new();
                let _ = prefix.extend_from_slice(&tag);
                let _ = prefix.resize(TAG_SIZE + e2_size, 0);
                server::open_standard_channel_success(
                    out,
                    self.request_id,
                    self.id,
                    &target,
                    &prefix,
                    0,
                )
            }
            ChannelKind::Extended => server::open_extended_channel_success(
                out,
                self.request_id,
                self.id,
                &target,
                e2_size as u16,
                &tag,
                0,
            ),
        };
        if r.is_ok() {
            log::info!(
                "sv2 miner {peer}: {} channel {} open (extranonce prefix {:02x}{:02x}, {} bytes to roll)",
                match self.kind {
                    ChannelKind::Standard => "standard",
                    ChannelKind::Extended => "extended",
                },
                self.id,
                tag[0],
                tag[1],
                if self.kind == ChannelKind::Extended { e2_size } else { 0 }
            );
            self.set_state(peer, ChannelState::Open);
        }
        Step::Keep
    }

    /// The SV2 target of difficulty `d` for this channel: never easier than the miner's
    /// `max_target` (a harder one only means fewer, larger shares, all still valid for the
    /// core).
    fn target_for(&self, d: Difficulty) -> [u8; 32] {
        let t = d.target().0;
        if Target(self.max_target).is_met_by(&t) {
            t
        } else {
            self.max_target
        }
    }
}
