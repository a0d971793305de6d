//! Jobs and shares: the one model every upstream kind feeds and every miner consumes.
//!
//! - [`difficulty`]: difficulty as fixed-point (expected hashes per share) and 256-bit targets.
//! - [`hash`]: sha256d, merkle root, the 80-byte header, the share hash.
//! - [`job`]: a pool's job as received, and the extranonce mapping onto miners.

pub mod difficulty;
pub mod hash;
pub mod job;

pub use difficulty::{Difficulty, Target};
