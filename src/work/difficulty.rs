//! Difficulty in fixed point, and 256-bit targets. No floats here except `from_f64`, which
//! only the config loader uses.
//!
//! `Difficulty(d)` holds difficulty × 2^32, i.e. the expected number of hashes per share.
//! Difficulty 1 is `Difficulty(1 << 32)`. Values saturate at `u64::MAX` (difficulty ≈ 4.29e9).

/// Difficulty × 2^32 (expected hashes per share). Never zero when built by the constructors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Difficulty(pub u64);

/// A share target as a 256-bit little-endian integer (byte 0 least significant), compared with
/// the sha256d of the header read as a little-endian integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target(pub [u8; 32]);

// API contract (bodies filled in by the work module's author):
//
// impl Difficulty {
//     pub const ONE: Difficulty;                       // 1 << 32
//     pub fn parse(s: &str) -> Option<Difficulty>;     // JSON number text, rounds UP, saturates
//     pub fn from_f64(v: f64) -> Option<Difficulty>;   // config only; rounds up; None if !(v > 0)
//     pub fn write_json(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result; // rounds UP
//     pub fn target(&self) -> Target;                  // floor(0xFFFF * 2^240 / self.0)
//     pub fn from_hash(hash: &[u8; 32]) -> Difficulty; // difficulty a hash meets (floor, saturating)
//     pub fn scale(self, mul: u64, div: u64) -> Difficulty; // self*mul/div saturating, >= 1
// }
// impl core::fmt::Display for Difficulty            // same text as write_json
// impl Target { pub fn is_met_by(&self, hash: &[u8; 32]) -> bool }
