//! SV2 frames, the field reader and writer, and the common + mining messages an
//! extended-channel client uses, as bytes in and bytes out (sv2-spec "Protocol Overview" data
//! types and "Mining Protocol"). The server side's messages are in [`super::server`].
//!
//! Wire facts: integers little-endian; frame header = extension_type u16 (bit 15 = channel
//! message) ‖ msg_type u8 ‖ payload length u24; `STR0_255`/`B0_32` = u8 length ‖ bytes;
//! `B0_64K` = u16 length ‖ bytes; `U256` = 32 raw bytes; `SEQ0_255[T]` = u8 count ‖ items;
//! `OPTION[T]` = u8 count (0 or 1) ‖ item; `BOOL` one byte 0/1; `F32` IEEE-754 little-endian.
//!
//! Invariants: decoding never panics and never reads past the payload; anything malformed or
//! unknown is an [`Sv2Error`] or [`Incoming::Other`], for the caller to log and drop. A
//! [`Writer`] leaves either one whole frame or nothing in its buffer.

use std::fmt;

pub const HEADER_LEN: usize = 6;
/// Channel-message flag in `extension_type`.
const CHANNEL_BIT: u16 = 0x8000;

pub mod types {
    pub const SETUP_CONNECTION: u8 = 0x00;
    pub const SETUP_CONNECTION_SUCCESS: u8 = 0x01;
    pub const SETUP_CONNECTION_ERROR: u8 = 0x02;
    pub const CHANNEL_ENDPOINT_CHANGED: u8 = 0x03;
    pub const RECONNECT: u8 = 0x04;
    pub const OPEN_STANDARD_MINING_CHANNEL: u8 = 0x10;
    pub const OPEN_STANDARD_MINING_CHANNEL_SUCCESS: u8 = 0x11;
    pub const OPEN_EXTENDED_MINING_CHANNEL: u8 = 0x13;
    pub const OPEN_EXTENDED_MINING_CHANNEL_SUCCESS: u8 = 0x14;
    pub const OPEN_MINING_CHANNEL_ERROR: u8 = 0x12;
    pub const NEW_MINING_JOB: u8 = 0x15;
    pub const UPDATE_CHANNEL: u8 = 0x16;
    pub const UPDATE_CHANNEL_ERROR: u8 = 0x17;
    pub const CLOSE_CHANNEL: u8 = 0x18;
    pub const SET_EXTRANONCE_PREFIX: u8 = 0x19;
    pub const SUBMIT_SHARES_STANDARD: u8 = 0x1a;
    pub const SUBMIT_SHARES_EXTENDED: u8 = 0x1b;
    pub const SUBMIT_SHARES_SUCCESS: u8 = 0x1c;
    pub const SUBMIT_SHARES_ERROR: u8 = 0x1d;
    pub const NEW_EXTENDED_MINING_JOB: u8 = 0x1f;
    pub const SET_NEW_PREV_HASH: u8 = 0x20;
    pub const SET_TARGET: u8 = 0x21;
    pub const SET_GROUP_CHANNEL: u8 = 0x25;
}

/// SetupConnection flag (mining protocol): the client may roll version bits.
pub const FLAG_REQUIRES_VERSION_ROLLING: u32 = 0b100;

/// Why a frame or message could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sv2Error {
    /// The payload ended inside a field.
    Truncated,
    /// Bytes left over after the last field.
    Trailing,
    /// A field holds a value the type does not allow (bool not 0/1, option count > 1, more
    /// bytes than a `B0_32` or `B0_64K` holds, …), read or to be written.
    BadValue,
    /// A payload too long for the 24-bit length field.
    TooLong,
}

impl fmt::Display for Sv2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sv2Error::Truncated => "message ends inside a field",
            Sv2Error::Trailing => "unexpected bytes after the message",
            Sv2Error::BadValue => "field holds a value its type does not allow",
            Sv2Error::TooLong => "message longer than 16 MiB",
        })
    }
}

/// A frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub extension: u16,
    pub channel_msg: bool,
    pub msg_type: u8,
    pub len: u32,
}

impl Header {
    pub fn parse(b: &[u8; HEADER_LEN]) -> Header {
        let ext = u16::from_le_bytes([b[0], b[1]]);
        Header {
            extension: ext & !CHANNEL_BIT,
            channel_msg: ext & CHANNEL_BIT != 0,
            msg_type: b[2],
            len: u32::from_le_bytes([b[3], b[4], b[5], 0]),
        }
    }
    pub fn bytes(&self) -> [u8; HEADER_LEN] {
        let ext = self.extension | if self.channel_msg { CHANNEL_BIT } else { 0 };
        let e = ext.to_le_bytes();
        let l = self.len.to_le_bytes();
        [e[0], e[1], self.msg_type, l[0], l[1], l[2]]
    }
}

/// Reads fields from a payload.
pub struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Sv2Error> {
        if self.b.len() < n {
            return Err(Sv2Error::Truncated);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    pub fn u8(&mut self) -> Result<u8, Sv2Error> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, Sv2Error> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self) -> Result<u32, Sv2Error> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self) -> Result<u64, Sv2Error> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    pub fn bool(&mut self) -> Result<bool, Sv2Error> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Sv2Error::BadValue),
        }
    }
    pub fn u256(&mut self) -> Result<[u8; 32], Sv2Error> {
        Ok(self.take(32)?.try_into().expect("32 bytes"))
    }
    /// `STR0_255` or `B0_255`.
    pub fn b0_255(&mut self) -> Result<&'a [u8], Sv2Error> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    pub fn b0_32(&mut self) -> Result<&'a [u8], Sv2Error> {
        let b = self.b0_255()?;
        if b.len() > 32 {
            return Err(Sv2Error::BadValue);
        }
        Ok(b)
    }
    pub fn b0_64k(&mut self) -> Result<&'a [u8], Sv2Error> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    pub fn option_u32(&mut self) -> Result<Option<u32>, Sv2Error> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.u32()?)),
            _ => Err(Sv2Error::BadValue),
        }
    }
    /// An `F32` as its IEEE-754 bits (no floating point here; see
    /// [`super::server::u64_of_f32_bits`]).
    pub fn f32_bits(&mut self) -> Result<u32, Sv2Error> {
        self.u32()
    }
    pub fn end(&self) -> Result<(), Sv2Error> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(Sv2Error::Trailing)
        }
    }
}

/// Writes fields of one frame into a buffer; [`Writer::finish`] fills in the header, or takes
/// the frame back out if a field did not fit its type.
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    /// A field was longer than its type allows: `finish` fails.
    bad: bool,
}

impl<'a> Writer<'a> {
    /// Start a frame of `msg_type` (mining/common extension 0).
    pub fn frame(out: &'a mut Vec<u8>, msg_type: u8, channel_msg: bool) -> Self {
        let start = out.len();
        let h = Header {
            extension: 0,
            channel_msg,
            msg_type,
            len: 0,
        };
        out.extend_from_slice(&h.bytes());
        Writer {
            out,
            start,
            bad: false,
        }
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.out.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u256(&mut self, v: &[u8; 32]) -> &mut Self {
        self.out.extend_from_slice(v);
        self
    }
    /// `STR0_255`/`B0_255`/`B0_32`; longer input is cut at 255 bytes.
    pub fn b0_255(&mut self, v: &[u8]) -> &mut Self {
        let v = &v[..v.len().min(255)];
        self.out.push(v.len() as u8);
        self.out.extend_from_slice(v);
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.out.push(u8::from(v));
        self
    }
    pub fn option_u32(&mut self, v: Option<u32>) -> &mut Self {
        match v {
            None => self.u8(0),
            Some(v) => self.u8(1).u32(v),
        }
    }
    /// A length-prefixed field of at most `max` bytes (`len_bytes` of little-endian length).
    fn bounded(&mut self, v: &[u8], max: usize, len_bytes: usize) -> &mut Self {
        if v.len() > max {
            self.bad = true;
            return self;
        }
        self.out
            .extend_from_slice(&(v.len() as u32).to_le_bytes()[..len_bytes]);
        self.out.extend_from_slice(v);
        self
    }
    /// `STR0_255`/`B0_255`; longer input makes [`Writer::finish`] fail.
    pub fn str0_255(&mut self, v: &[u8]) -> &mut Self {
        self.bounded(v, 255, 1)
    }
    /// `B0_32`; longer input makes [`Writer::finish`] fail.
    pub fn b0_32(&mut self, v: &[u8]) -> &mut Self {
        self.bounded(v, 32, 1)
    }
    /// `B0_64K`; longer input makes [`Writer::finish`] fail.
    pub fn b0_64k(&mut self, v: &[u8]) -> &mut Self {
        self.bounded(v, 0xffff, 2)
    }
    /// `SEQ0_255[U256]` from hashes back to back; a length that is not a multiple of 32 or more
    /// than 255 hashes makes [`Writer::finish`] fail.
    pub fn seq0_255_u256(&mut self, hashes: &[u8]) -> &mut Self {
        if hashes.len() % 32 != 0 {
            self.bad = true;
            return self;
        }
        let n = hashes.len() / 32;
        if n > 255 {
            self.bad = true;
            return self;
        }
        self.out.push(n as u8);
        self.out.extend_from_slice(hashes);
        self
    }
    /// Finish the frame: patch the payload length. Fails, leaving the buffer as it was before
    /// the frame, if a field did not fit its type or the payload exceeds 24 bits.
    pub fn finish(self) -> Result<(), Sv2Error> {
        if self.bad {
            self.out.truncate(self.start);
            return Err(Sv2Error::BadValue);
        }
        let len = self.out.len() - self.start - HEADER_LEN;
        if len >= 1 << 24 {
            self.out.truncate(self.start);
            return Err(Sv2Error::TooLong);
        }
        let l = (len as u32).to_le_bytes();
        self.out[self.start + 3..self.start + 6].copy_from_slice(&l[..3]);
        Ok(())
    }
}

/// IEEE-754 single-precision bits of a non-negative integer, with integer arithmetic only
/// (routers have no FPU; the nominal hashrate goes on the wire as an `F32`).
pub fn f32_bits_of(v: u64) -> u32 {
    if v == 0 {
        return 0;
    }
    let mut top = 63 - v.leading_zeros(); // index of the highest set bit
    let mut m = if top > 23 {
        // Keep 24 significant bits, rounding half to even as IEEE-754 does.
        let shift = top - 23;
        let (kept, rest, half) = (v >> shift, v & ((1 << shift) - 1), 1u64 << (shift - 1));
        kept + u64::from(rest > half || (rest == half && kept & 1 == 1))
    } else {
        v << (23 - top)
    };
    if m >> 24 != 0 {
        // Rounded up to the next power of two.
        m >>= 1;
        top += 1;
    }
    ((top + 127) << 23) | (m as u32 & 0x7f_ffff)
}

/// What we send: SetupConnection for the mining protocol.
pub fn setup_connection(
    out: &mut Vec<u8>,
    host: &str,
    port: u16,
    flags: u32,
) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::SETUP_CONNECTION, false);
    w.u8(0) // protocol: mining
        .u16(2)
        .u16(2)
        .u32(flags)
        .b0_255(host.as_bytes())
        .u16(port)
        .b0_255(b"hashmux")
        .b0_255(b"")
        .b0_255(env!("CARGO_PKG_VERSION").as_bytes())
        .b0_255(b"");
    w.finish()
}

/// OpenExtendedMiningChannel. `max_target` is little-endian, as every SV2 `U256` target.
pub fn open_extended_channel(
    out: &mut Vec<u8>,
    request_id: u32,
    user: &str,
    hashrate: u64,
    max_target: &[u8; 32],
    min_extranonce_size: u16,
) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::OPEN_EXTENDED_MINING_CHANNEL, false);
    w.u32(request_id)
        .b0_255(user.as_bytes())
        .u32(f32_bits_of(hashrate))
        .u256(max_target)
        .u16(min_extranonce_size);
    w.finish()
}

/// A share on an extended channel. `extranonce` is what follows the channel's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubmitExtended<'a> {
    pub channel_id: u32,
    pub sequence_number: u32,
    pub job_id: u32,
    pub nonce: u32,
    pub ntime: u32,
    pub version: u32,
    pub extranonce: &'a [u8],
}

pub fn submit_shares_extended(out: &mut Vec<u8>, s: &SubmitExtended<'_>) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::SUBMIT_SHARES_EXTENDED, true);
    w.u32(s.channel_id)
        .u32(s.sequence_number)
        .u32(s.job_id)
        .u32(s.nonce)
        .u32(s.ntime)
        .u32(s.version)
        .b0_255(s.extranonce);
    w.finish()
}

pub fn update_channel(
    out: &mut Vec<u8>,
    channel_id: u32,
    hashrate: u64,
    max_target: &[u8; 32],
) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::UPDATE_CHANNEL, true);
    w.u32(channel_id)
        .u32(f32_bits_of(hashrate))
        .u256(max_target);
    w.finish()
}

pub fn close_channel(out: &mut Vec<u8>, channel_id: u32, reason: &str) -> Result<(), Sv2Error> {
    let mut w = Writer::frame(out, types::CLOSE_CHANNEL, true);
    w.u32(channel_id).b0_255(reason.as_bytes());
    w.finish()
}

/// NewExtendedMiningJob, borrowed from the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtendedJob<'a> {
    pub channel_id: u32,
    pub job_id: u32,
    /// None: a future job, active on a later SetNewPrevHash with this job id.
    pub min_ntime: Option<u32>,
    pub version: u32,
    pub version_rolling_allowed: bool,
    /// Merkle path: 32-byte hashes back to back, in the order they are applied.
    pub merkle_path: &'a [u8],
    pub coinbase_prefix: &'a [u8],
    pub coinbase_suffix: &'a [u8],
}

impl ExtendedJob<'_> {
    /// The merkle path's hashes.
    pub fn path(&self) -> impl Iterator<Item = [u8; 32]> + '_ {
        self.merkle_path
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32 bytes"))
    }
}

/// What a pool sends us, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    SetupSuccess {
        used_version: u16,
        flags: u32,
    },
    SetupError {
        flags: u32,
        code: &'a [u8],
    },
    ChannelOpened {
        request_id: u32,
        channel_id: u32,
        target: [u8; 32],
        extranonce_size: u16,
        extranonce_prefix: &'a [u8],
        group_channel_id: u32,
    },
    ChannelOpenError {
        request_id: u32,
        code: &'a [u8],
    },
    Job(ExtendedJob<'a>),
    PrevHash {
        channel_id: u32,
        job_id: u32,
        prev_hash: [u8; 32],
        min_ntime: u32,
        nbits: u32,
    },
    SetTarget {
        channel_id: u32,
        max_target: [u8; 32],
    },
    SetExtranoncePrefix {
        channel_id: u32,
        prefix: &'a [u8],
    },
    SharesAccepted {
        channel_id: u32,
        last_sequence_number: u32,
        count: u32,
        shares_sum: u64,
    },
    ShareRejected {
        channel_id: u32,
        sequence_number: u32,
        code: &'a [u8],
    },
    UpdateChannelError {
        channel_id: u32,
        code: &'a [u8],
    },
    CloseChannel {
        channel_id: u32,
        reason: &'a [u8],
    },
    Reconnect {
        host: &'a [u8],
        port: u16,
    },
    /// A message we do not act on (group channel set-up, endpoint changed, standard jobs,
    /// extensions): its type, to be counted and ignored.
    Other {
        extension: u16,
        msg_type: u8,
    },
}

/// Decode one payload under its header.
pub fn decode<'a>(h: &Header, payload: &'a [u8]) -> Result<Incoming<'a>, Sv2Error> {
    use types::*;
    if h.extension != 0 {
        return Ok(Incoming::Other {
            extension: h.extension,
            msg_type: h.msg_type,
        });
    }
    let mut r = Reader::new(payload);
    let m = match h.msg_type {
        SETUP_CONNECTION_SUCCESS => Incoming::SetupSuccess {
            used_version: r.u16()?,
            flags: r.u32()?,
        },
        SETUP_CONNECTION_ERROR => Incoming::SetupError {
            flags: r.u32()?,
            code: r.b0_255()?,
        },
        OPEN_EXTENDED_MINING_CHANNEL_SUCCESS => Incoming::ChannelOpened {
            request_id: r.u32()?,
            channel_id: r.u32()?,
            target: r.u256()?,
            extranonce_size: r.u16()?,
            extranonce_prefix: r.b0_32()?,
            group_channel_id: r.u32()?,
        },
        OPEN_MINING_CHANNEL_ERROR => Incoming::ChannelOpenError {
            request_id: r.u32()?,
            code: r.b0_255()?,
        },
        NEW_EXTENDED_MINING_JOB => {
            let channel_id = r.u32()?;
            let job_id = r.u32()?;
            let min_ntime = r.option_u32()?;
            let version = r.u32()?;
            let version_rolling_allowed = r.bool()?;
            let n = r.u8()? as usize;
            let merkle_path = r.take(32 * n)?;
            Incoming::Job(ExtendedJob {
                channel_id,
                job_id,
                min_ntime,
                version,
                version_rolling_allowed,
                merkle_path,
                coinbase_prefix: r.b0_64k()?,
                coinbase_suffix: r.b0_64k()?,
            })
        }
        SET_NEW_PREV_HASH => Incoming::PrevHash {
            channel_id: r.u32()?,
            job_id: r.u32()?,
            prev_hash: r.u256()?,
            min_ntime: r.u32()?,
            nbits: r.u32()?,
        },
        SET_TARGET => Incoming::SetTarget {
            channel_id: r.u32()?,
            max_target: r.u256()?,
        },
        SET_EXTRANONCE_PREFIX => Incoming::SetExtranoncePrefix {
            channel_id: r.u32()?,
            prefix: r.b0_32()?,
        },
        SUBMIT_SHARES_SUCCESS => Incoming::SharesAccepted {
            channel_id: r.u32()?,
            last_sequence_number: r.u32()?,
            count: r.u32()?,
            shares_sum: r.u64()?,
        },
        SUBMIT_SHARES_ERROR => Incoming::ShareRejected {
            channel_id: r.u32()?,
            sequence_number: r.u32()?,
            code: r.b0_255()?,
        },
        UPDATE_CHANNEL_ERROR => Incoming::UpdateChannelError {
            channel_id: r.u32()?,
            code: r.b0_255()?,
        },
        CLOSE_CHANNEL => Incoming::CloseChannel {
            channel_id: r.u32()?,
            reason: r.b0_255()?,
        },
        RECONNECT => Incoming::Reconnect {
            host: r.b0_255()?,
            port: r.u16()?,
        },
        other => {
            return Ok(Incoming::Other {
                extension: 0,
                msg_type: other,
            })
        }
    };
    r.end()?;
    Ok(m)
}

#[cfg(test)]
#[path = "msg_tests.rs"]
mod tests;
