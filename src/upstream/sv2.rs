//! A Stratum V2 pool connection's mining session, without I/O: SetupConnection, one extended
//! channel, and the channel's messages turned into [`Upstream`] events; the core's
//! [`ToPool`] messages become frames. (The Noise handshake and frame sealing are
//! [`crate::wire::sv2::noise`]; the runtime moves the bytes.)
//!
//! The channel's extranonce prefix and size play the roles of an SV1 pool's extranonce1 and
//! extranonce2_size; its target becomes the pool difficulty; a job (future until its
//! SetNewPrevHash, or active at once when it carries `min_ntime`) becomes a job template; a
//! share's submit id is its sequence number. SubmitShares.Success acknowledges every share up
//! to its `last_sequence_number` that was not refused on its own by SubmitShares.Error.
//!
//! Invariants: messages for other channels are ignored; at most [`PENDING_JOBS`] future jobs
//! are kept; the session ends on a refused setup/channel, CloseChannel or Reconnect.

use super::Ended;
use crate::core::{ToPool, Upstream};
use crate::wire::sv2::msg::{self, Incoming};
use crate::work::job::{JobParts, JobTemplate, PoolJobId, MAX_MINER_E2, TAG_SIZE};
use crate::work::Difficulty;

/// Largest plaintext payload accepted from a pool (a job carries two ≤ 64 KiB coinbase parts).
pub const MAX_PAYLOAD: usize = 160 * 1024;
/// Version bits an SV2 job lets us roll when `version_rolling_allowed` (BIP320).
pub const SV2_VERSION_MASK: u32 = 0x1fff_e000;
const REQUEST_ID: u32 = 1;
/// Future jobs kept while waiting for their SetNewPrevHash.
pub const PENDING_JOBS: usize = 4;

/// A future job waiting for its SetNewPrevHash.
struct Pending {
    id: u32,
    version: u32,
    branches: Box<[u8]>,
    coinb1: Box<[u8]>,
    coinb2: Box<[u8]>,
}

/// The current block: what active jobs are built on.
#[derive(Clone, Copy)]
struct Tip {
    prevhash: [u8; 32],
    nbits: u32,
    min_ntime: u32,
}

/// One SV2 pool session (after the Noise handshake).
pub struct Sv2Pool {
    name: heapless::String<32>,
    user: heapless::String<128>,
    channel_id: Option<u32>,
    group_channel_id: u32,
    /// The channel's extranonce size (SetExtranoncePrefix changes only the prefix).
    extranonce_size: usize,
    /// Every share with a sequence number up to this one has been answered.
    acked_upto: u64,
    tip: Option<Tip>,
    pending: heapless::Deque<Pending, PENDING_JOBS>,
}

fn text(b: &[u8]) -> String {
    crate::stats::truncate(&String::from_utf8_lossy(b), 80).to_string()
}

impl Sv2Pool {
    /// Start a session: writes SetupConnection and OpenExtendedMiningChannel (plain frames,
    /// sealed by the writer) to `out`.
    pub fn start(cfg: &crate::ops::config::PoolConfig, out: &mut Vec<u8>) -> Sv2Pool {
        // Miners such as the Avalon Nano 3S refuse to work without version rolling.
        let _ = msg::setup_connection(out, &cfg.host, cfg.port, msg::FLAG_REQUIRES_VERSION_ROLLING);
        let _ = msg::open_extended_channel(
            out,
            REQUEST_ID,
            &cfg.user,
            0,
            &[0xff; 32],
            (TAG_SIZE + MAX_MINER_E2) as u16,
        );
        Sv2Pool {
            name: cfg.name.clone(),
            user: heapless::String::try_from(cfg.user.as_str()).unwrap_or_default(),
            channel_id: None,
            group_channel_id: 0,
            extranonce_size: 0,
            acked_upto: 0,
            tip: None,
            pending: heapless::Deque::new(),
        }
    }

    fn ours(&self, channel_id: u32) -> bool {
        Some(channel_id) == self.channel_id
            || (self.group_channel_id != 0 && channel_id == self.group_channel_id)
    }

    /// Act on one message from the pool; events go to `ev`. `Err` ends the connection.
    pub fn on_message(
        &mut self,
        m: Incoming<'_>,
        ev: &mut impl FnMut(Upstream<'_>),
    ) -> Result<(), Ended> {
        let name = self.name.clone();
        match m {
            Incoming::SetupSuccess {
                used_version,
                flags,
            } => {
                log::debug!("pool {name}: SV2 setup ok (version {used_version}, flags {flags:#x})");
            }
            Incoming::SetupError { code, .. } => {
                return Err(Ended::because(format!("SV2 setup refused: {}", text(code))));
            }
            Incoming::ChannelOpenError { code, .. } => {
                return Err(Ended::because(format!(
                    "extended channel refused for user {}: {}",
                    self.user,
                    text(code)
                )));
            }
            Incoming::ChannelOpened {
                channel_id,
                target,
                extranonce_size,
                extranonce_prefix,
                group_channel_id,
                ..
            } => {
                self.channel_id = Some(channel_id);
                self.group_channel_id = group_channel_id;
                self.extranonce_size = extranonce_size as usize;
                log::info!(target: "pool_connected",
                    "pool {name}: extended channel {channel_id} open, extranonce prefix {} bytes + {extranonce_size}",
                    extranonce_prefix.len()
                );
                ev(Upstream::Target(Difficulty::from_hash(&target)));
                ev(Upstream::VersionMask(Some(SV2_VERSION_MASK)));
                ev(Upstream::Extranonce {
                    prefix: extranonce_prefix,
                    e2_size: extranonce_size as usize,
                });
                ev(Upstream::Authorized);
            }
            Incoming::Job(j) => {
                if !self.ours(j.channel_id) {
                    log::debug!("pool {name}: job for another channel {}", j.channel_id);
                    return Ok(());
                }
                match (j.min_ntime, self.tip) {
                    (Some(ntime), Some(tip)) => {
                        let parts = JobParts {
                            id: j.job_id,
                            prevhash: tip.prevhash,
                            coinb1: j.coinbase_prefix,
                            coinb2: j.coinbase_suffix,
                            branches: j.merkle_path,
                            version: j.version,
                            nbits: tip.nbits,
                            ntime: ntime.max(tip.min_ntime),
                            clean: false,
                        };
                        self.activate(&parts, ev);
                    }
                    _ => {
                        if self.pending.is_full() {
                            self.pending.pop_front();
                        }
                        let _ = self.pending.push_back(Pending {
                            id: j.job_id,
                            version: j.version,
                            branches: j.merkle_path.into(),
                            coinb1: j.coinbase_prefix.into(),
                            coinb2: j.coinbase_suffix.into(),
                        });
                    }
                }
            }
            Incoming::PrevHash {
                channel_id,
                job_id,
                prev_hash,
                min_ntime,
                nbits,
            } => {
                if !self.ours(channel_id) {
                    return Ok(());
                }
                self.tip = Some(Tip {
                    prevhash: prev_hash,
                    nbits,
                    min_ntime,
                });
                let pos = self.pending.iter().position(|j| j.id == job_id);
                let pending = pos.and_then(|i| {
                    // Jobs queued before this one belong to templates the pool moved past.
                    for _ in 0..i {
                        self.pending.pop_front();
                    }
                    self.pending.pop_front()
                });
                match pending {
                    Some(f) => {
                        let parts = JobParts {
                            id: f.id,
                            prevhash: prev_hash,
                            coinb1: &f.coinb1,
                            coinb2: &f.coinb2,
                            branches: &f.branches,
                            version: f.version,
                            nbits,
                            ntime: min_ntime,
                            clean: true,
                        };
                        self.activate(&parts, ev);
                    }
                    None => {
                        log::warn!(
                            "pool {name}: new block for unknown job {job_id}; waiting for a job"
                        );
                        ev(Upstream::BlockWithoutJob);
                    }
                }
            }
            Incoming::SetTarget {
                channel_id,
                max_target,
            } => {
                if self.ours(channel_id) {
                    ev(Upstream::Target(Difficulty::from_hash(&max_target)));
                }
            }
            Incoming::SetExtranoncePrefix { channel_id, prefix } => {
                if self.ours(channel_id) {
                    ev(Upstream::Extranonce {
                        prefix,
                        e2_size: self.extranonce_size,
                    });
                }
            }
            Incoming::SharesAccepted {
                channel_id,
                last_sequence_number,
                ..
            } => {
                if !self.ours(channel_id) {
                    return Ok(());
                }
                let last = last_sequence_number as u64;
                let first = self.acked_upto + 1;
                self.acked_upto = self.acked_upto.max(last);
                ev(Upstream::AcceptedRange { first, last });
            }
            Incoming::ShareRejected {
                sequence_number,
                code,
                ..
            } => ev(Upstream::Verdict {
                id: sequence_number as u64,
                accepted: false,
                reason: &text(code),
            }),
            Incoming::UpdateChannelError { code, .. } => {
                log::warn!(target: "pool_message", "pool {name}: UpdateChannel refused: {}", text(code));
            }
            Incoming::CloseChannel { reason, .. } => {
                return Err(Ended::because(format!(
                    "the pool closed the channel: {}",
                    text(reason)
                )));
            }
            Incoming::Reconnect { host, port } => {
                log::info!(target: "pool_message",
                    "pool {name}: asked to reconnect (to {}:{port}); reconnecting to the configured address",
                    text(host)
                );
                return Err(Ended::retry("pool sent Reconnect", 100));
            }
            Incoming::Other {
                extension,
                msg_type,
            } => {
                log::debug!("pool {name}: ignoring message {extension:#x}/{msg_type:#04x}");
            }
        }
        Ok(())
    }

    fn activate(&mut self, parts: &JobParts<'_>, ev: &mut impl FnMut(Upstream<'_>)) {
        match JobTemplate::from_parts(parts) {
            Ok(t) => ev(Upstream::Job(Box::new(t))),
            Err(e) => log::warn!("pool {}: dropping job {}: {e}", self.name, parts.id),
        }
    }

    /// The channel the pool opened for us, once it did.
    pub fn channel_id(&self) -> Option<u32> {
        self.channel_id
    }
}

/// Render one message from the core as SV2 frames on `channel_id` (`Close` is the runtime's).
pub fn write(out: &mut Vec<u8>, channel_id: u32, m: &ToPool) {
    match m {
        ToPool::Submit(s) => {
            let job_id = match s.job.id {
                PoolJobId::Number(n) => n,
                // A job from this upstream always carries its u32 id; anything else is not
                // this pool's and cannot be submitted here.
                PoolJobId::Text(_) => return,
            };
            let share = msg::SubmitExtended {
                channel_id,
                sequence_number: s.id as u32,
                job_id,
                nonce: s.nonce,
                ntime: s.ntime,
                version: s.version,
                extranonce: &s.extranonce2,
            };
            let _ = msg::submit_shares_extended(out, &share);
        }
        ToPool::Hashrate(rate) => {
            let _ = msg::update_channel(out, channel_id, *rate, &[0xff; 32]);
        }
        ToPool::Close => {}
    }
}
