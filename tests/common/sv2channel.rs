//! Channel state and connection setup of the SRI-based test miners: what one standard or
//! extended channel holds (jobs, prevhash, target, extranonce prefix), how frames from the
//! upstream change it ([`ChannelState::apply`]), how a header is built from it, and the
//! `SetupConnection` / `Open*MiningChannel` exchanges. Used by the threaded miner
//! (`sv2miner.rs`, which includes this file as its `channel` module and re-exports it) and by
//! the step-by-step client (`sv2client.rs`).

use super::ChannelKind;
use crate::sv2util::{
    block_header, merkle_root, Frame, Sv2ClientError, Wire, FRAME_DEADLINE, SV2_VERSION,
};
use binary_sv2::{Str0255, U256};
use common_messages_sv2::{
    Protocol, SetupConnection, SetupConnectionError, SetupConnectionSuccess,
    MESSAGE_TYPE_SETUP_CONNECTION, MESSAGE_TYPE_SETUP_CONNECTION_ERROR,
    MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS,
};
use mining_sv2::{
    CloseChannel, NewExtendedMiningJob, NewMiningJob, OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess, OpenMiningChannelError, OpenStandardMiningChannel,
    OpenStandardMiningChannelSuccess, SetExtranoncePrefix, SetNewPrevHash, SetTarget,
    SubmitSharesError, SubmitSharesSuccess, MESSAGE_TYPE_CLOSE_CHANNEL,
    MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH, MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB,
    MESSAGE_TYPE_NEW_MINING_JOB, MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL,
    MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS, MESSAGE_TYPE_OPEN_MINING_CHANNEL_ERROR,
    MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL, MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL_SUCCESS,
    MESSAGE_TYPE_SET_EXTRANONCE_PREFIX, MESSAGE_TYPE_SET_TARGET, MESSAGE_TYPE_SUBMIT_SHARES_ERROR,
    MESSAGE_TYPE_SUBMIT_SHARES_SUCCESS,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

/// `SetupConnection.Success.flags` bit (mining protocol): the upstream forbids version rolling.
pub const REQUIRES_FIXED_VERSION: u32 = 1 << 0;
/// Jobs a channel keeps (the oldest go first).
const MAX_JOBS_KEPT: usize = 64;

/// What a job carries to build the merkle root from.
#[derive(Clone, Debug, PartialEq)]
pub enum JobWork {
    /// `NewMiningJob`: the merkle root itself (header byte order).
    Standard { merkle_root: [u8; 32] },
    /// `NewExtendedMiningJob`: coinbase halves and merkle path, plus the channel's extranonce
    /// prefix when the job arrived.
    Extended {
        merkle_path: Vec<[u8; 32]>,
        coinbase_tx_prefix: Vec<u8>,
        coinbase_tx_suffix: Vec<u8>,
        extranonce_prefix: Vec<u8>,
    },
}

/// A job as the miner holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct MinerJob {
    pub job_id: u32,
    /// None: a future job.
    pub min_ntime: Option<u32>,
    pub version: u32,
    /// `NewExtendedMiningJob.version_rolling_allowed`; false for standard jobs (whose rolling is
    /// governed by the `SetupConnection` flags).
    pub version_rolling_allowed: bool,
    pub work: JobWork,
}

impl MinerJob {
    /// The full coinbase for the miner's `extranonce` (extended jobs only).
    pub fn coinbase(&self, extranonce: &[u8]) -> Option<Vec<u8>> {
        match &self.work {
            JobWork::Standard { .. } => None,
            JobWork::Extended {
                coinbase_tx_prefix,
                coinbase_tx_suffix,
                extranonce_prefix,
                ..
            } => {
                let mut cb = coinbase_tx_prefix.clone();
                cb.extend_from_slice(extranonce_prefix);
                cb.extend_from_slice(extranonce);
                cb.extend_from_slice(coinbase_tx_suffix);
                Some(cb)
            }
        }
    }

    /// The merkle root for the miner's `extranonce` (ignored by standard jobs).
    pub fn merkle_root(&self, extranonce: &[u8]) -> [u8; 32] {
        match &self.work {
            JobWork::Standard { merkle_root } => *merkle_root,
            JobWork::Extended { merkle_path, .. } => {
                let cb = self
                    .coinbase(extranonce)
                    .expect("extended jobs have a coinbase");
                merkle_root(&cb, merkle_path)
            }
        }
    }
}

/// The upstream's answer to shares.
#[derive(Clone, Debug, PartialEq)]
pub enum ShareReply {
    Accepted {
        last_sequence_number: u32,
        new_submits_accepted_count: u32,
        new_shares_sum: u64,
    },
    Rejected {
        sequence_number: u32,
        error_code: String,
    },
}

/// What [`ChannelState::apply`] made of a frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// A job was stored (`future`: without `min_ntime`).
    Job {
        future: bool,
    },
    /// A new prevhash; `activated`: the job it names was known and is now the active one.
    PrevHash {
        activated: bool,
    },
    Target,
    ExtranoncePrefix,
    Reply(ShareReply),
    /// The upstream closed the channel, with this reason.
    Closed(String),
    /// A message for another channel.
    Foreign,
    /// A message this channel does not expect (wrong kind, unknown type, other extension).
    Unexpected,
}

/// One open channel and the work the upstream gave it.
#[derive(Clone, Debug)]
pub struct ChannelState {
    pub extended: bool,
    pub channel_id: u32,
    pub group_channel_id: u32,
    /// Channel target, 256-bit little-endian.
    pub target: [u8; 32],
    pub extranonce_prefix: Vec<u8>,
    /// Bytes of extranonce the miner rolls (0 on standard channels).
    pub extranonce_size: u16,
    /// Jobs received (future and active), by id.
    pub jobs: BTreeMap<u32, MinerJob>,
    /// The job to mine on.
    pub active_job: Option<u32>,
    pub has_prev_hash: bool,
    pub prev_hash: [u8; 32],
    /// `SetNewPrevHash.min_ntime`.
    pub prev_hash_ntime: u32,
    pub nbits: u32,
    pub jobs_received: u64,
    pub prev_hashes_received: u64,
    pub extranonce_prefix_changes: u64,
}

impl ChannelState {
    fn new(extended: bool, channel_id: u32, group: u32, target: [u8; 32], prefix: &[u8]) -> Self {
        ChannelState {
            extended,
            channel_id,
            group_channel_id: group,
            target,
            extranonce_prefix: prefix.to_vec(),
            extranonce_size: 0,
            jobs: BTreeMap::new(),
            active_job: None,
            has_prev_hash: false,
            prev_hash: [0; 32],
            prev_hash_ntime: 0,
            nbits: 0,
            jobs_received: 0,
            prev_hashes_received: 0,
            extranonce_prefix_changes: 0,
        }
    }

    /// A standard channel as `OpenStandardMiningChannel.Success` describes it.
    pub fn standard(m: &OpenStandardMiningChannelSuccess) -> Self {
        let (target, prefix) = (m.target.to_array(), m.extranonce_prefix.as_bytes());
        ChannelState::new(false, m.channel_id, m.group_channel_id, target, prefix)
    }

    /// An extended channel as `OpenExtendedMiningChannel.Success` describes it.
    pub fn extended(m: &OpenExtendedMiningChannelSuccess) -> Self {
        let (target, prefix) = (m.target.to_array(), m.extranonce_prefix.as_bytes());
        let mut ch = ChannelState::new(true, m.channel_id, m.group_channel_id, target, prefix);
        ch.extranonce_size = m.extranonce_size;
        ch
    }

    /// The active job.
    pub fn job(&self) -> Option<&MinerJob> {
        self.active_job.and_then(|id| self.jobs.get(&id))
    }

    /// The nTime to mine `job` with: max(job `min_ntime`, prevhash `min_ntime`).
    pub fn ntime_for(&self, job: &MinerJob) -> u32 {
        job.min_ntime.unwrap_or(0).max(self.prev_hash_ntime)
    }

    /// The 80-byte header of `job` on the current prevhash.
    pub fn header(
        &self,
        job: &MinerJob,
        extranonce: &[u8],
        version: u32,
        ntime: u32,
        nonce: u32,
    ) -> [u8; 80] {
        let root = job.merkle_root(extranonce);
        block_header(version, &self.prev_hash, &root, ntime, self.nbits, nonce)
    }

    fn ours(&self, channel_id: u32) -> bool {
        channel_id == self.channel_id
            || (self.group_channel_id != 0 && channel_id == self.group_channel_id)
    }

    fn add_job(&mut self, job: MinerJob) -> Applied {
        self.jobs_received += 1;
        let future = job.min_ntime.is_none();
        if !future && self.has_prev_hash {
            self.active_job = Some(job.job_id);
        }
        self.jobs.insert(job.job_id, job);
        while self.jobs.len() > MAX_JOBS_KEPT {
            let oldest = self
                .jobs
                .keys()
                .copied()
                .find(|id| Some(*id) != self.active_job);
            self.jobs.remove(&oldest.expect("more than one job"));
        }
        Applied::Job { future }
    }

    /// Apply a frame from the upstream (jobs, prevhash, target, extranonce prefix, share
    /// replies, close). Errors only on a payload that does not decode.
    pub fn apply(&mut self, f: &mut Frame) -> Result<Applied, String> {
        if f.ext_type != 0 {
            return Ok(Applied::Unexpected);
        }
        let applied = match f.msg_type {
            MESSAGE_TYPE_NEW_MINING_JOB if !self.extended => {
                let m: NewMiningJob = f.decode()?;
                if !self.ours(m.channel_id) {
                    return Ok(Applied::Foreign);
                }
                self.add_job(MinerJob {
                    job_id: m.job_id,
                    min_ntime: m.min_ntime.as_ref().copied(),
                    version: m.version,
                    version_rolling_allowed: false,
                    work: JobWork::Standard {
                        merkle_root: m.merkle_root.to_array(),
                    },
                })
            }
            MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB if self.extended => {
                let m: NewExtendedMiningJob = f.decode()?;
                if !self.ours(m.channel_id) {
                    return Ok(Applied::Foreign);
                }
                self.add_job(MinerJob {
                    job_id: m.job_id,
                    min_ntime: m.min_ntime.as_ref().copied(),
                    version: m.version,
                    version_rolling_allowed: m.version_rolling_allowed,
                    work: JobWork::Extended {
                        merkle_path: m.merkle_path.iter().map(|h| h.to_array()).collect(),
                        coinbase_tx_prefix: m.coinbase_tx_prefix.as_bytes().to_vec(),
                        coinbase_tx_suffix: m.coinbase_tx_suffix.as_bytes().to_vec(),
                        extranonce_prefix: self.extranonce_prefix.clone(),
                    },
                })
            }
            MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH => {
                let m: SetNewPrevHash = f.decode()?;
                if !self.ours(m.channel_id) {
                    return Ok(Applied::Foreign);
                }
                self.prev_hashes_received += 1;
                self.has_prev_hash = true;
                self.prev_hash = m.prev_hash.to_array();
                self.prev_hash_ntime = m.min_ntime;
                self.nbits = m.nbits;
                // Only the job it names stays valid.
                self.jobs.retain(|id, _| *id == m.job_id);
                let activated = !self.jobs.is_empty();
                self.active_job = activated.then_some(m.job_id);
                Applied::PrevHash { activated }
            }
            MESSAGE_TYPE_SET_TARGET => {
                let m: SetTarget = f.decode()?;
                if !self.ours(m.channel_id) {
                    return Ok(Applied::Foreign);
                }
                self.target = m.maximum_target.to_array();
                Applied::Target
            }
            MESSAGE_TYPE_SET_EXTRANONCE_PREFIX => {
                let m: SetExtranoncePrefix = f.decode()?;
                if m.channel_id != self.channel_id {
                    return Ok(Applied::Foreign);
                }
                self.extranonce_prefix = m.extranonce_prefix.as_bytes().to_vec();
                self.extranonce_prefix_changes += 1;
                Applied::ExtranoncePrefix
            }
            MESSAGE_TYPE_SUBMIT_SHARES_SUCCESS => {
                let m: SubmitSharesSuccess = f.decode()?;
                if !self.ours(m.channel_id) {
                    return Ok(Applied::Foreign);
                }
                Applied::Reply(ShareReply::Accepted {
                    last_sequence_number: m.last_sequence_number,
                    new_submits_accepted_count: m.new_submits_accepted_count,
                    new_shares_sum: m.new_shares_sum,
                })
            }
            MESSAGE_TYPE_SUBMIT_SHARES_ERROR => {
                let m: SubmitSharesError = f.decode()?;
                if !self.ours(m.channel_id) {
                    return Ok(Applied::Foreign);
                }
                Applied::Reply(ShareReply::Rejected {
                    sequence_number: m.sequence_number,
                    error_code: String::from_utf8_lossy(m.error_code.as_bytes()).into_owned(),
                })
            }
            MESSAGE_TYPE_CLOSE_CHANNEL => {
                let m: CloseChannel = f.decode()?;
                if !self.ours(m.channel_id) {
                    return Ok(Applied::Foreign);
                }
                Applied::Closed(String::from_utf8_lossy(m.reason_code.as_bytes()).into_owned())
            }
            _ => Applied::Unexpected,
        };
        Ok(applied)
    }
}

// ---------------------------------------------------------------------------------------------
// Connection setup, shared with the step-by-step client.

/// Send `SetupConnection` (mining protocol, version 2, `flags`) and wait (≤ 10 s) for the
/// answer; the flags of `SetupConnection.Success`, or `Refused` on `SetupConnection.Error`.
pub fn setup_connection(
    wire: &mut Wire,
    endpoint: SocketAddr,
    flags: u32,
    device_id: &str,
    alive: &dyn Fn() -> bool,
) -> Result<u32, Sv2ClientError> {
    let host = endpoint.ip().to_string();
    let s = |v: &'static str| Str0255::try_from(v).expect("short");
    let msg = SetupConnection {
        protocol: Protocol::MiningProtocol,
        min_version: SV2_VERSION,
        max_version: SV2_VERSION,
        flags,
        endpoint_host: Str0255::try_from(host.as_str()).expect("short host"),
        endpoint_port: endpoint.port(),
        vendor: s("hashmux-tests"),
        hardware_version: s("cpu"),
        firmware: s("sri-test-miner"),
        device_id: Str0255::try_from(device_id).map_err(|_| proto("device_id too long"))?,
    };
    wire.send(msg, MESSAGE_TYPE_SETUP_CONNECTION, false)?;
    let mut f = wire.recv(Some(Instant::now() + FRAME_DEADLINE), alive)?;
    match f.msg_type {
        MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS => {
            let m: SetupConnectionSuccess = f.decode().map_err(Sv2ClientError::Protocol)?;
            if m.used_version != SV2_VERSION {
                return Err(proto(&format!("used_version {}", m.used_version)));
            }
            Ok(m.flags)
        }
        MESSAGE_TYPE_SETUP_CONNECTION_ERROR => {
            let m: SetupConnectionError = f.decode().map_err(Sv2ClientError::Protocol)?;
            let code = String::from_utf8_lossy(m.error_code.as_bytes()).into_owned();
            Err(Sv2ClientError::Refused("SetupConnection", code))
        }
        t => Err(proto(&format!(
            "expected SetupConnection.Success, got 0x{t:02x}"
        ))),
    }
}

/// Open one channel of `kind` (request id 1) and wait (≤ 10 s) for the answer.
pub fn open_channel(
    wire: &mut Wire,
    kind: &ChannelKind,
    user: &str,
    nominal_hashrate: f32,
    max_target: [u8; 32],
    alive: &dyn Fn() -> bool,
) -> Result<ChannelState, Sv2ClientError> {
    let user_identity = Str0255::try_from(user).map_err(|_| proto("user too long"))?;
    match kind {
        ChannelKind::Standard => {
            let msg = OpenStandardMiningChannel {
                request_id: 1,
                user_identity,
                nominal_hash_rate: nominal_hashrate,
                max_target: U256::from(&max_target),
            };
            wire.send(msg, MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL, false)?;
        }
        ChannelKind::Extended {
            min_extranonce_size,
        } => {
            let msg = OpenExtendedMiningChannel {
                request_id: 1,
                user_identity,
                nominal_hash_rate: nominal_hashrate,
                max_target: U256::from(&max_target),
                min_extranonce_size: *min_extranonce_size,
            };
            wire.send(msg, MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL, false)?;
        }
    }
    let mut f = wire.recv(Some(Instant::now() + FRAME_DEADLINE), alive)?;
    let bad = Sv2ClientError::Protocol;
    match (f.msg_type, kind) {
        (MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL_SUCCESS, ChannelKind::Standard) => {
            let m: OpenStandardMiningChannelSuccess = f.decode().map_err(bad)?;
            Ok(ChannelState::standard(&m))
        }
        (MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS, ChannelKind::Extended { .. }) => {
            let m: OpenExtendedMiningChannelSuccess = f.decode().map_err(bad)?;
            Ok(ChannelState::extended(&m))
        }
        (MESSAGE_TYPE_OPEN_MINING_CHANNEL_ERROR, _) => {
            let m: OpenMiningChannelError = f.decode().map_err(bad)?;
            let code = String::from_utf8_lossy(m.error_code.as_bytes()).into_owned();
            Err(Sv2ClientError::Refused("OpenMiningChannel", code))
        }
        (t, _) => Err(proto(&format!(
            "expected OpenMiningChannel.Success, got 0x{t:02x}"
        ))),
    }
}

pub(crate) fn proto(what: &str) -> Sv2ClientError {
    Sv2ClientError::Protocol(what.to_string())
}
