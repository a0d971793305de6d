//! Counters for shares and work, kept per miner and per pool.
//!
//! Work is a sum of difficulties in [`Difficulty`] units (difficulty × 2^32, i.e. hashes) held
//! in `u128` so it cannot overflow in the life of a router. Counters only ever grow.

use crate::work::Difficulty;

pub mod heap;
pub mod history;
pub mod process;
pub mod snapshot;
pub use snapshot::{MinerSnap, PoolSnap, Snapshot};

/// Share verdicts. A validated share at or above a pool's target ends as exactly one of
/// `accepted`, `rejected` or `lost` at that pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShareCounters {
    /// Every `mining.submit` seen.
    pub submitted: u64,
    /// Passed local validation (hash meets the miner's difficulty).
    pub valid: u64,
    pub low_difficulty: u64,
    pub duplicate: u64,
    /// For a job its pool has moved past (new block or new connection), or unknown job id.
    pub stale: u64,
    /// Malformed (bad hex, wrong extranonce2 length, version bits outside the mask...).
    pub malformed: u64,
    /// Sent to a pool (met the pool's target).
    pub forwarded: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Forwarded but no verdict will come (connection lost before the answer, no answer).
    pub lost: u64,
    /// Sum of local difficulty of valid shares.
    pub work_valid: u128,
    /// Sum of the pool difficulty of accepted shares.
    pub work_accepted: u128,
    /// The best valid share: the difficulty its hash met, × 2^32 (0: none yet).
    pub best: u64,
}

impl ShareCounters {
    /// The share counts by name, in the one order the stats file, `/api/stats` and `/metrics`
    /// use; [`ShareCounters::counts`] and [`ShareCounters::from_counts`] follow it.
    pub const NAMES: [&'static str; 10] = [
        "submitted",
        "valid",
        "low_difficulty",
        "duplicate",
        "stale",
        "malformed",
        "forwarded",
        "accepted",
        "rejected",
        "lost",
    ];

    /// The counts in [`ShareCounters::NAMES`] order.
    pub fn counts(&self) -> [u64; 10] {
        [
            self.submitted,
            self.valid,
            self.low_difficulty,
            self.duplicate,
            self.stale,
            self.malformed,
            self.forwarded,
            self.accepted,
            self.rejected,
            self.lost,
        ]
    }

    /// The inverse of [`ShareCounters::counts`], with the two work sums.
    pub fn from_counts(c: [u64; 10], work_valid: u128, work_accepted: u128) -> ShareCounters {
        let [submitted, valid, low_difficulty, duplicate, stale, malformed, forwarded, accepted, rejected, lost] =
            c;
        ShareCounters {
            submitted,
            valid,
            low_difficulty,
            duplicate,
            stale,
            malformed,
            forwarded,
            accepted,
            rejected,
            lost,
            work_valid,
            work_accepted,
            best: 0,
        }
    }

    /// The count called `name` (one of [`ShareCounters::NAMES`]).
    pub fn count(&self, name: &str) -> Option<u64> {
        let i = Self::NAMES.iter().position(|n| *n == name)?;
        Some(self.counts()[i])
    }

    pub fn add_valid(&mut self, d: Difficulty) {
        self.valid += 1;
        self.work_valid += d.0 as u128;
    }

    /// A valid share whose hash met difficulty `d`: the best so far?
    pub fn note_best(&mut self, d: Difficulty) {
        self.best = self.best.max(d.0);
    }

    pub fn add_accepted(&mut self, d: Difficulty) {
        self.accepted += 1;
        self.work_accepted += d.0 as u128;
    }
}

/// Reject reasons as reported by a pool, most recent kinds first, bounded.
#[derive(Clone, Debug, Default)]
pub struct RejectReasons {
    entries: heapless::Vec<(heapless::String<48>, u64), 8>,
    /// Reasons that did not fit in the table.
    pub other: u64,
}

impl RejectReasons {
    pub fn add(&mut self, reason: &str) {
        let reason = truncate(reason, 48);
        if let Some(e) = self.entries.iter_mut().find(|e| e.0 == reason) {
            e.1 += 1;
        } else if let Ok(s) = heapless::String::try_from(reason) {
            if self.entries.push((s, 1)).is_err() {
                self.other += 1;
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.entries.iter().map(|(s, n)| (s.as_str(), *n))
    }
}

/// `n` and a noun in the right number, for log lines: `1 miner`, `0 miners`, `2 miners`.
pub fn count_of(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Longest prefix of `s` of at most `max` bytes that ends on a char boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_reject_reasons_counts_and_bounds() {
        let mut r = RejectReasons::default();
        r.add("stale");
        r.add("stale");
        for i in 0..10 {
            r.add(&format!("reason {i}"));
        }
        assert_eq!(r.iter().find(|e| e.0 == "stale").map(|e| e.1), Some(2));
        assert_eq!(r.iter().count(), 8);
        assert_eq!(r.other, 3);
    }

    #[test]
    fn test_count_of_one_and_many() {
        assert_eq!(count_of(0, "miner"), "0 miners");
        assert_eq!(count_of(1, "miner"), "1 miner");
        assert_eq!(count_of(2, "miner"), "2 miners");
    }

    #[test]
    fn test_truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 8), "abc");
    }
}
