//! Stratum V1 line codec: parses one received line into a borrowed message and appends
//! outgoing lines to a byte buffer. No I/O happens here.
//!
//! Invariants: parsing never allocates and never panics on any input; every emitted line is
//! one JSON object followed by `\n`, with strings escaped.

pub mod emit;
pub mod json;
pub mod msg;

pub use json::{JsonError, Value};
pub use msg::{MinerRequest, Notify, PoolMessage, Submit};

/// Stratum error codes as used by pools and cgminer.
pub mod code {
    pub const OTHER: i32 = 20;
    pub const STALE: i32 = 21;
    pub const DUPLICATE: i32 = 22;
    pub const LOW_DIFFICULTY: i32 = 23;
    pub const UNAUTHORIZED: i32 = 24;
    pub const NOT_SUBSCRIBED: i32 = 25;
}

/// CRC-16/XMODEM of a job id string. Avalon firmware tells jobs apart by this value, so job
/// ids sent to one miner must differ in it.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Decode hex into `out`; returns the number of bytes, or None on odd length, a non-hex digit
/// or a result longer than `out`.
pub fn hex_decode(s: &str, out: &mut [u8]) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() % 2 != 0 || b.len() / 2 > out.len() {
        return None;
    }
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(b.len() / 2)
}

/// Parse exactly 8 hex digits as a big-endian u32 (Stratum's version, nbits, ntime, nonce).
pub fn hex_u32(s: &str) -> Option<u32> {
    let mut b = [0u8; 4];
    if s.len() != 8 || hex_decode(s, &mut b)? != 4 {
        return None;
    }
    Some(u32::from_be_bytes(b))
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Append lowercase hex of `data`.
pub fn hex_push(out: &mut Vec<u8>, data: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in data {
        out.push(DIGITS[(b >> 4) as usize]);
        out.push(DIGITS[(b & 15) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_crc16_xmodem_check_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn test_hex_decode_rejects_odd_and_bad_digits() {
        let mut out = [0u8; 4];
        assert_eq!(hex_decode("0aFf", &mut out), Some(2));
        assert_eq!(&out[..2], &[0x0a, 0xff]);
        assert_eq!(hex_decode("abc", &mut out), None);
        assert_eq!(hex_decode("zz", &mut out), None);
        assert_eq!(hex_decode("0011223344", &mut out), None);
        assert_eq!(hex_u32("20000000"), Some(0x2000_0000));
        assert_eq!(hex_u32("2000000"), None);
    }

    #[test]
    fn test_hex_push_round_trip() {
        let mut v = Vec::new();
        hex_push(&mut v, &[0, 1, 0xab, 0xff]);
        assert_eq!(v, b"0001abff");
    }
}
