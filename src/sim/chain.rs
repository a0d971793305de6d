//! Sim-side chain arithmetic, shared by the simulated pool and miner only.
//!
//! Deliberately written without any of hashmux's own `work` code: sha256d straight from
//! `sha2`, the header laid out byte by byte, and difficulty targets computed by a small
//! schoolbook long division over 32-bit limbs, compared as big-endian byte strings. A bug in
//! the proxy's share arithmetic therefore cannot be mirrored here.

use sha2::{Digest, Sha256};

/// Double SHA-256.
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    let first = Sha256::digest(data);
    let second = Sha256::digest(first);
    let mut out = [0u8; 32];
    out.copy_from_slice(&second);
    out
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Bytes from hex (either case). `None` on odd length or a non-hex character.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let raw = s.as_bytes();
    if raw.len() % 2 != 0 {
        return None;
    }
    raw.chunks(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

/// Exactly 32 bytes from 64 hex digits.
pub fn unhex32(s: &str) -> Option<[u8; 32]> {
    let v = unhex(s)?;
    v.try_into().ok()
}

/// A u32 sent as exactly 8 big-endian hex digits (Stratum's version/ntime/nbits/nonce form).
pub fn parse_u32_be8(s: &str) -> Option<u32> {
    if s.len() != 8 {
        return None;
    }
    let b = unhex(s)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The 8-hex-digit big-endian form of a u32.
pub fn u32_be8(v: u32) -> String {
    hex(&v.to_be_bytes())
}

/// Reverse the bytes inside each 4-byte word. Turns the `mining.notify` prevhash into header
/// byte order and back (it is its own inverse).
pub fn swap_words(b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for w in 0..8 {
        for i in 0..4 {
            out[w * 4 + i] = b[w * 4 + 3 - i];
        }
    }
    out
}

/// The merkle root: sha256d of the assembled coinbase, folded with each branch on the right.
pub fn merkle_root(coinbase_parts: &[&[u8]], branches: &[[u8; 32]]) -> [u8; 32] {
    let mut coinbase = Vec::with_capacity(coinbase_parts.iter().map(|p| p.len()).sum());
    for p in coinbase_parts {
        coinbase.extend_from_slice(p);
    }
    let mut root = sha256d(&coinbase);
    let mut pair = [0u8; 64];
    for b in branches {
        pair[..32].copy_from_slice(&root);
        pair[32..].copy_from_slice(b);
        root = sha256d(&pair);
    }
    root
}

/// The 80-byte block header. `prevhash` and `root` are in header (internal) byte order.
pub fn header(
    version: u32,
    prevhash: &[u8; 32],
    root: &[u8; 32],
    ntime: u32,
    nbits: u32,
    nonce: u32,
) -> [u8; 80] {
    let mut h = [0u8; 80];
    h[0..4].copy_from_slice(&version.to_le_bytes());
    h[4..36].copy_from_slice(prevhash);
    h[36..68].copy_from_slice(root);
    h[68..72].copy_from_slice(&ntime.to_le_bytes());
    h[72..76].copy_from_slice(&nbits.to_le_bytes());
    h[76..80].copy_from_slice(&nonce.to_le_bytes());
    h
}

/// A share target as a 256-bit big-endian byte string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target(pub [u8; 32]);

impl Target {
    /// `floor(0xFFFF * 2^208 / difficulty)`, computed with integer long division as
    /// `0xFFFF * 2^(208+s) / round(d * 2^s)`, with s = 32 (s = 0 for difficulties of 2^32 and
    /// up, so the divisor still fits a u64); the float is only used once to get the divisor.
    /// Saturates at 2^256 - 1 for difficulties too small to represent (and for `d <= 0` or
    /// NaN).
    pub fn from_difficulty(d: f64) -> Target {
        const TWO_32: f64 = 4_294_967_296.0;
        let s = if d >= TWO_32 { 0 } else { 32 };
        let scaled = if s == 32 { d * TWO_32 } else { d };
        if scaled.is_nan() || scaled < 0.5 {
            return Target([0xff; 32]);
        }
        let divisor: u64 = if scaled >= 18_446_744_073_709_551_615.0 {
            u64::MAX
        } else {
            scaled.round() as u64
        };
        // 0xFFFF << (208 + s) in nine big-endian 32-bit limbs (288 bits, the top one spare so
        // the quotient could show an overflow past 2^256).
        let shift = 208 + s;
        let mut limbs = [0u32; 9];
        let wide = 0xFFFFu64 << (shift % 32);
        let k = shift / 32; // limb index counted from the least significant
        limbs[8 - k] = wide as u32;
        limbs[7 - k] = (wide >> 32) as u32;
        let mut quotient = [0u32; 9];
        let mut rem: u128 = 0;
        let div = divisor as u128;
        for (q, limb) in quotient.iter_mut().zip(limbs) {
            let cur = (rem << 32) | limb as u128;
            *q = (cur / div) as u32;
            rem = cur % div;
        }
        if quotient[0] != 0 {
            return Target([0xff; 32]);
        }
        let mut out = [0u8; 32];
        for (chunk, q) in out.chunks_mut(4).zip(&quotient[1..]) {
            chunk.copy_from_slice(&q.to_be_bytes());
        }
        Target(out)
    }

    /// Whether a header hash (sha256d output, i.e. a little-endian number) is at or below this
    /// target: walk the hash from its last byte (most significant) against the target's first.
    pub fn is_met_by(&self, hash: &[u8; 32]) -> bool {
        for (t, h) in self.0.iter().zip(hash.iter().rev()) {
            if h != t {
                return h < t;
            }
        }
        true
    }
}

/// Display form (big-endian hex) of a hash.
pub fn display_hash(hash: &[u8; 32]) -> String {
    let mut r = *hash;
    r.reverse();
    hex(&r)
}

/// Scatter the low bits of `value` into the set bits of `mask`, lowest first.
pub fn spread_bits(value: u32, mask: u32) -> u32 {
    let mut out = 0u32;
    let mut next = 0u32;
    for i in 0..32 {
        if mask & (1 << i) != 0 {
            if next < 32 && value & (1 << next) != 0 {
                out |= 1 << i;
            }
            next += 1;
        }
    }
    out
}

/// A tiny deterministic generator (xorshift64*), seeded from a name.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    pub fn from_name(name: &str) -> XorShift {
        // FNV-1a, then make sure the state is never zero.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        XorShift(h | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }

    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.bytes(32));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev32(display: &str) -> [u8; 32] {
        let mut b = unhex32(display).unwrap();
        b.reverse();
        b
    }

    #[test]
    fn block_125552_header_hash() {
        let prev = rev32("00000000000008a3a41b85b8b29ad444def299fee21793cd8b9e567eab02cd81");
        let root = rev32("2b12fcf1b09288fcaff797d71e950e71ae42b91e8bdb2304758dfcffc2b620e3");
        // Go through the notify form of the prevhash, as a pool would send it.
        let notify_prev = hex(&swap_words(&prev));
        let prev_back = swap_words(&unhex32(&notify_prev).unwrap());
        assert_eq!(prev_back, prev);
        let h = header(
            1,
            &prev_back,
            &root,
            1_305_998_791,
            0x1a44_b9f2,
            2_504_433_986,
        );
        let hash = sha256d(&h);
        assert_eq!(
            display_hash(&hash),
            "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d"
        );
        // That hash is worth about 3.6e10: meets 3.5e10, fails 3.7e10.
        assert!(Target::from_difficulty(1.0).is_met_by(&hash));
        assert!(Target::from_difficulty(3.5e10).is_met_by(&hash));
        assert!(!Target::from_difficulty(3.7e10).is_met_by(&hash));
    }

    #[test]
    fn targets() {
        let one = Target::from_difficulty(1.0);
        let mut want = [0u8; 32];
        want[4] = 0xff;
        want[5] = 0xff;
        assert_eq!(one.0, want);
        // Difficulty 0.5 doubles the target: 0x1FFFE << 208.
        let half = Target::from_difficulty(0.5);
        let mut want = [0u8; 32];
        want[3] = 0x01;
        want[4] = 0xff;
        want[5] = 0xfe;
        assert_eq!(half.0, want);
        // Tiny difficulties saturate instead of overflowing.
        assert_eq!(Target::from_difficulty(1e-12).0, [0xff; 32]);
        assert_eq!(Target::from_difficulty(0.0).0, [0xff; 32]);
        // 1e-4: 0xFFFF*2^240 / 429497 (round(1e-4 * 2^32)).
        let t = Target::from_difficulty(0.0001);
        assert_eq!(&t.0[..6], &[0x00, 0x00, 0x27, 0x0f, 0xd7, 0x53]);
        // Comparison edges: a hash equal to the target meets it, one above does not.
        let mut at = one.0;
        at.reverse();
        assert!(one.is_met_by(&at));
        at[0] = 1; // the target plus one (little-endian order)
        assert!(!one.is_met_by(&at));
    }

    #[test]
    fn helpers() {
        assert_eq!(unhex("00ffA0"), Some(vec![0, 255, 160]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(parse_u32_be8("20000000"), Some(0x2000_0000));
        assert_eq!(parse_u32_be8("2000000"), None);
        assert_eq!(u32_be8(0x1d00ffff), "1d00ffff");
        assert_eq!(spread_bits(0b101, 0x1fffe000), 0b101 << 13);
        assert_eq!(spread_bits(u32::MAX, 0x1fffe000), 0x1fffe000);
        let mut a = XorShift::from_name("x");
        let mut b = XorShift::from_name("x");
        assert_eq!(a.bytes(40), b.bytes(40));
    }
}
