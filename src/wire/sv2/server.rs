//! The SV2 mining protocol as a server speaks it, for hashmux acting as the pool of SV2
//! miners: what a miner sends us, decoded ([`decode_from_miner`]), and what we send a miner,
//! encoded (one frame appended to a `Vec<u8>` per call). Bytes in, bytes out; the frame
//! layout, field types and [`Sv2Error`] are [`super::msg`]'s.
//!
//! Channel bit (extension_type bit 15), as the SRI crates set it (`mining_sv2` and
//! `common_messages_sv2` `CHANNEL_BIT_*`): set on messages about one channel
//! (NewMiningJob, NewExtendedMiningJob, SetNewPrevHash, SetTarget, SubmitShares.Success and
//! .Error, SetExtranoncePrefix, UpdateChannel.Error, CloseChannel), clear on connection set-up
//! and channel opening (SetupConnection.Success and .Error, Open*MiningChannel.Success,
//! OpenMiningChannel.Error). Decoding ignores the bit: the message type says it all.
//!
//! Invariants: decoding never panics, never reads past the payload and refuses bytes left
//! over; an encoder appends one whole frame or, on error, nothing. No floating point: an
//! `F32` hash rate stays as its bits, [`u64_of_f32_bits`] turns it into an integer.

pub use super::msg::{close_channel, ExtendedJob, SubmitExtended};
use super::msg::{types, Header, Reader, Sv2Error, Writer};

/// `SetupConnection.protocol` of the mining protocol.
pub const PROTOCOL_MINING: u8 = 0;
/// The only protocol version there is.
pub const PROTOCOL_VERSION: u16 = 2;

/// `SetupConnection.flags` of the mining protocol (sv2-spec 5.3.1).
pub mod setup_flags {
    /// The client can only take standard jobs.
    pub const REQUIRES_STANDARD_JOBS: u32 = 1 << 0;
    /// The client will send SetCustomMiningJob.
    pub const REQUIRES_WORK_SELECTION: u32 = 1 << 1;
    /// The client needs version rolling (every job must allow it).
    pub const REQUIRES_VERSION_ROLLING: u32 = 1 << 2;
    /// In `SetupConnection.Success`: we accept no change to the version field.
    pub const SUCCESS_REQUIRES_FIXED_VERSION: u32 = 1 << 0;
    /// In `SetupConnection.Success`: we open no standard channels.
    pub const SUCCESS_REQUIRES_EXTENDED_CHANNELS: u32 = 1 << 1;
}

/// Error codes of the spec's `*.Error` messages, as the SRI crates spell them.
pub mod codes {
    // SetupConnection.Error
    pub const UNSUPPORTED_FEATURE_FLAGS: &str = "unsupported-feature-flags";
    pub const UNSUPPORTED_PROTOCOL: &str = "unsupported-protocol";
    pub const PROTOCOL_VERSION_MISMATCH: &str = "protocol-version-mismatch";
    // OpenMiningChannel.Error
    pub const UNKNOWN_USER: &str = "unknown-user";
    pub const INVALID_USER_IDENTITY: &str = "invalid-user-identity";
    pub const MAX_TARGET_OUT_OF_RANGE: &str = "max-target-out-of-range";
    pub const INVALID_NOMINAL_HASHRATE: &str = "invalid-nominal-hashrate";
    pub const MIN_EXTRANONCE_SIZE_TOO_LARGE: &str = "min-extranonce-size-too-large";
    pub const UNSUPPORTED_MIN_EXTRANONCE_SIZE: &str = "unsupported-min-extranonce-size";
    pub const CHANNEL_CAPACITY_EXHAUSTED: &str = "channel-capacity-exhausted";
    // UpdateChannel.Error and SubmitShares.Error
    pub const INVALID_CHANNEL_ID: &str = "invalid-channel-id";
    // SubmitShares.Error
    pub const STALE_SHARE: &str = "stale-share";
    pub const DIFFICULTY_TOO_LOW: &str = "difficulty-too-low";
    pub const INVALID_JOB_ID: &str = "invalid-job-id";
    pub const INVALID_SHARE: &str = "invalid-share";
    pub const DUPLICATE_SHARE: &str = "duplicate-share";
    pub const BAD_EXTRANONCE_SIZE: &str = "bad-extranonce-size";
    pub const VERSION_ROLLING_NOT_ALLOWED: &str = "version-rolling-not-allowed";
    pub const INVALID_NON_ROLLABLE_VERSION_BIT: &str = "invalid-non-rollable-version-bit";
}

/// SetupConnection, borrowed from the payload (strings are bytes: the spec does not promise
/// UTF-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetupConnection<'a> {
    pub protocol: u8,
    pub min_version: u16,
    pub max_version: u16,
    pub flags: u32,
    pub endpoint_host: &'a [u8],
    pub endpoint_port: u16,
    pub vendor: &'a [u8],
    pub hardware_version: &'a [u8],
    pub firmware: &'a [u8],
    pub device_id: &'a [u8],
}

/// The fields OpenStandardMiningChannel and OpenExtendedMiningChannel share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenChannel<'a> {
    pub request_id: u32,
    pub user_identity: &'a [u8],
    /// `nominal_hash_rate` as IEEE-754 single bits (h/s); see [`u64_of_f32_bits`].
    pub hash_rate_bits: u32,
    /// Little-endian, as every SV2 `U256` target.
    pub max_target: [u8; 32],
}

/// A share on a standard channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubmitStandard {
    pub channel_id: u32,
    pub sequence_number: u32,
    pub job_id: u32,
    pub nonce: u32,
    pub ntime: u32,
    pub version: u32,
}

/// What a miner sends us, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FromMiner<'a> {
    Setup(SetupConnection<'a>),
    OpenStandard(OpenChannel<'a>),
    OpenExtended {
        open: OpenChannel<'a>,
        min_extranonce_size: u16,
    },
    UpdateChannel {
        channel_id: u32,
        /// F32 bits, as in [`OpenChannel::hash_rate_bits`].
        hash_rate_bits: u32,
        maximum_target: [u8; 32],
    },
    CloseChannel {
        channel_id: u32,
        reason: &'a [u8],
    },
    SubmitStandard(SubmitStandard),
    SubmitExtended(SubmitExtended<'a>),
    /// A message we do not act on (extensions, custom jobs, anything unknown): its type, to be
    /// counted and ignored, or answered with an error by the caller.
    Other {
        extension: u16,
        msg_type: u8,
    },
}

fn open_channel<'a>(r: &mut Reader<'a>) -> Result<OpenChannel<'a>, Sv2Error> {
    Ok(OpenChannel {
        request_id: r.u32()?,
        user_identity: r.b0_255()?,
        hash_rate_bits: r.f32_bits()?,
        max_target: r.u256()?,
    })
}

/// Decode one payload a miner sent under its header.
pub fn decode_from_miner<'a>(h: &Header, payload: &'a [u8]) -> Result<FromMiner<'a>, Sv2Error> {
    use types::*;
    let other = FromMiner::Other {
        extension: h.extension,
        msg_type: h.msg_type,
    };
    if h.extension != 0 {
        return Ok(other);
    }
    let mut r = Reader::new(payload);
    let m = match h.msg_type {
        SETUP_CONNECTION => FromMiner::Setup(SetupConnection {
            protocol: r.u8()?,
            min_version: r.u16()?,
            max_version: r.u16()?,
            flags: r.u32()?,
            endpoint_host: r.b0_255()?,
            endpoint_port: r.u16()?,
            vendor: r.b0_255()?,
            hardware_version: r.b0_255()?,
            firmware: r.b0_255()?,
            device_id: r.b0_255()?,
        }),
        OPEN_STANDARD_MINING_CHANNEL => FromMiner::OpenStandard(open_channel(&mut r)?),
        OPEN_EXTENDED_MINING_CHANNEL => FromMiner::OpenExtended {
            open: open_channel(&mut r)?,
            min_extranonce_size: r.u16()?,
        },
        UPDATE_CHANNEL => FromMiner::UpdateChannel {
            channel_id: r.u32()?,
            hash_rate_bits: r.f32_bits()?,
            maximum_target: r.u256()?,
        },
        CLOSE_CHANNEL => FromMiner::CloseChannel {
            channel_id: r.u32()?,
            reason: r.b0_255()?,
        },
        SUBMIT_SHARES_STANDARD => FromMiner::SubmitStandard(SubmitStandard {
            channel_id: r.u32()?,
            sequence_number: r.u32()?,
            job_id: r.u32()?,
            nonce: r.u32()?,
            ntime: r.u32()?,
            version: r.u32()?,
        }),
        SUBMIT_SHARES_EXTENDED => FromMiner::SubmitExtended(SubmitExtended {
            channel_id: r.u32()?,
            sequence_number: r.u32()?,
            job_id: r.u32()?,
            nonce: r.u32()?,
            ntime: r.u32()?,
            version: r.u32()?,
            extranonce: r.b0_32()?,
        }),
        _ => return Ok(other),
    };
    r.end()?;
    Ok(m)
}

/// The integer part of a non-negative IEEE-754 single given as its bits, with integer
/// arithmetic only: NaN, negatives and values below 1 give 0, +∞ and values ≥ 2⁶⁴ give
/// `u64::MAX`. For integers it inverts [`super::msg::f32_bits_of`].
pub fn u64_of_f32_bits(bits: u32) -> u64 {
    let exp = (bits >> 23) & 0xff;
    let frac = u64::from(bits & 0x7f_ffff);
    if bits >> 31 != 0 {
        return 0; // negative (or −0, or a NaN with the sign bit)
    }
    if exp == 0xff {
        return if frac == 0 { u64::MAX } else { 0 };
    }
    if exp < 127 {
        return 0; // below 1, subnormals and zero included
    }
    // value = 1.frac × 2^(exp − 127) = (2²³ + frac) × 2^(exp − 150)
    let m = (1 << 23) | frac;
    let shift = exp as i32 - 150;
    if shift < 0 {
        m >> -shift
    } else if shift <= 40 {
        m << shift // m < 2²⁴, so ≤ 2⁶⁴ − 1
    } else {
        u64::MAX
    }
}

/// SetupConnection.Success.
pub fn setup_connection_success(
    out: &mut Vec<u8>,
    used_version: u16,
    flags: u32,
) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::SETUP_CONNECTION_SUCCESS, false);
    w.u16(used_version).u32(flags);
    w.finish()
}

/// SetupConnection.Error: `flags` are the ones we do not support, `code` one of [`codes`].
pub fn setup_connection_error(out: &mut Vec<u8>, flags: u32, code: &str) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::SETUP_CONNECTION_ERROR, false);
    w.u32(flags).str0_255(code.as_bytes());
    w.finish()
}

/// OpenStandardMiningChannel.Success. `target` little-endian; `extranonce_prefix` ≤ 32 bytes.
pub fn open_standard_channel_success(
    out: &mut Vec<u8>,
    request_id: u32,
    channel_id: u32,
    target: &[u8; 32],
    extranonce_prefix: &[u8],
    group_channel_id: u32,
) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::OPEN_STANDARD_MINING_CHANNEL_SUCCESS, false);
    w.u32(request_id)
        .u32(channel_id)
        .u256(target)
        .b0_32(extranonce_prefix)
        .u32(group_channel_id);
    w.finish()
}

/// OpenExtendedMiningChannel.Success: the miner rolls `extranonce_size` bytes after
/// `extranonce_prefix` (≤ 32 bytes).
pub fn open_extended_channel_success(
    out: &mut Vec<u8>,
    request_id: u32,
    channel_id: u32,
    target: &[u8; 32],
    extranonce_size: u16,
    extranonce_prefix: &[u8],
    group_channel_id: u32,
) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::OPEN_EXTENDED_MINING_CHANNEL_SUCCESS, false);
    w.u32(request_id)
        .u32(channel_id)
        .u256(target)
        .u16(extranonce_size)
        .b0_32(extranonce_prefix)
        .u32(group_channel_id);
    w.finish()
}

/// OpenMiningChannel.Error (either kind of channel).
pub fn open_channel_error(out: &mut Vec<u8>, request_id: u32, code: &str) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::OPEN_MINING_CHANNEL_ERROR, false);
    w.u32(request_id).str0_255(code.as_bytes());
    w.finish()
}

/// NewMiningJob (standard channel). `min_ntime` None: a future job, active on a later
/// SetNewPrevHash with this job id.
pub fn new_mining_job(
    out: &mut Vec<u8>,
    channel_id: u32,
    job_id: u32,
    min_ntime: Option<u32>,
    version: u32,
    merkle_root: &[u8; 32],
) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::NEW_MINING_JOB, true);
    w.u32(channel_id)
        .u32(job_id)
        .option_u32(min_ntime)
        .u32(version)
        .u256(merkle_root);
    w.finish()
}

/// NewExtendedMiningJob. The merkle path is ≤ 255 hashes back to back; each coinbase part is
/// ≤ 65,535 bytes.
pub fn new_extended_mining_job(out: &mut Vec<u8>, job: &ExtendedJob<'_>) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::NEW_EXTENDED_MINING_JOB, true);
    w.u32(job.channel_id)
        .u32(job.job_id)
        .option_u32(job.min_ntime)
        .u32(job.version)
        .bool(job.version_rolling_allowed)
        .seq0_255_u256(job.merkle_path)
        .b0_64k(job.coinbase_prefix)
        .b0_64k(job.coinbase_suffix);
    w.finish()
}

/// SetNewPrevHash.
pub fn set_new_prev_hash(
    out: &mut Vec<u8>,
    channel_id: u32,
    job_id: u32,
    prev_hash: &[u8; 32],
    min_ntime: u32,
    nbits: u32,
) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::SET_NEW_PREV_HASH, true);
    w.u32(channel_id)
        .u32(job_id)
        .u256(prev_hash)
        .u32(min_ntime)
        .u32(nbits);
    w.finish()
}

/// SetTarget (`max_target` little-endian).
pub fn set_target(
    out: &mut Vec<u8>,
    channel_id: u32,
    max_target: &[u8; 32],
) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::SET_TARGET, true);
    w.u32(channel_id).u256(max_target);
    w.finish()
}

/// SubmitShares.Success for a batch of accepted shares.
pub fn submit_shares_success(
    out: &mut Vec<u8>,
    channel_id: u32,
    last_sequence_number: u32,
    new_submits_accepted_count: u32,
    new_shares_sum: u64,
) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::SUBMIT_SHARES_SUCCESS, true);
    w.u32(channel_id)
        .u32(last_sequence_number)
        .u32(new_submits_accepted_count)
        .u64(new_shares_sum);
    w.finish()
}

/// SubmitShares.Error for one share.
pub fn submit_shares_error(
    out: &mut Vec<u8>,
    channel_id: u32,
    sequence_number: u32,
    code: &str,
) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::SUBMIT_SHARES_ERROR, true);
    w.u32(channel_id)
        .u32(sequence_number)
        .str0_255(code.as_bytes());
    w.finish()
}

/// SetExtranoncePrefix (`prefix` ≤ 32 bytes).
pub fn set_extranonce_prefix(
    out: &mut Vec<u8>,
    channel_id: u32,
    prefix: &[u8],
) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::SET_EXTRANONCE_PREFIX, true);
    w.u32(channel_id).b0_32(prefix);
    w.finish()
}

/// UpdateChannel.Error.
pub fn update_channel_error(
    out: &mut Vec<u8>,
    channel_id: u32,
    code: &str,
) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::UPDATE_CHANNEL_ERROR, true);
    w.u32(channel_id).str0_255(code.as_bytes());
    w.finish()
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
