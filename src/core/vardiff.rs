//! Per-miner variable difficulty: steer each miner towards `shares_per_min`.
//!
//! Pure and clock-driven (times in ms from the caller), so it is deterministic and tested
//! without sleeping. Invariant: `current()` always lies within `[min, max]`. The cap by the
//! pool's difficulty is applied by the caller when it sends a job, not stored here.

use crate::work::Difficulty;

/// Shortest window that may retarget, and the longest before a retarget is forced.
const FAST_WINDOW_MS: u64 = 2_000;
const NORMAL_WINDOW_MS: u64 = 30_000;
const FORCED_WINDOW_MS: u64 = 60_000;
/// Shares that justify a fast retarget.
const FAST_SHARES: u32 = 16;

#[derive(Clone, Debug)]
pub struct Vardiff {
    current: Difficulty,
    min: Difficulty,
    max: Difficulty,
    shares_per_min: u32,
    window_start_ms: u64,
    shares: u32,
    work: u128,
    /// Shares submitted in the window, valid or not: a miner whose shares are all refused
    /// (stale, out of range) is working, and its difficulty is not lowered for it.
    submitted: u32,
}

impl Vardiff {
    pub fn new(
        start: Difficulty,
        min: Difficulty,
        max: Difficulty,
        shares_per_min: u32,
        now_ms: u64,
    ) -> Self {
        Vardiff {
            current: start.clamp(min, max),
            min,
            max,
            shares_per_min: shares_per_min.max(1),
            window_start_ms: now_ms,
            shares: 0,
            work: 0,
            submitted: 0,
        }
    }

    pub fn current(&self) -> Difficulty {
        self.current
    }

    /// A miner's `mining.suggest_difficulty`: taken as the new starting point, within limits.
    pub fn suggest(&mut self, d: Difficulty, now_ms: u64) {
        self.current = d.clamp(self.min, self.max);
        self.restart(now_ms);
    }

    /// The difficulty at which `hashrate` (H/s) makes `shares_per_min` shares a minute:
    /// `hashrate · 60 / (shares_per_min · 2^32)`, which in 32-bit fixed point is
    /// `hashrate · 60 / shares_per_min` (clamped to this miner's range).
    pub fn for_hashrate(&self, hashrate: u64) -> Difficulty {
        let d = hashrate as u128 * 60 / self.shares_per_min as u128;
        Difficulty(d.min(u64::MAX as u128) as u64).clamp(self.min, self.max)
    }

    /// Count a valid share credited with difficulty `d`.
    pub fn record(&mut self, d: Difficulty) {
        self.shares += 1;
        self.work += d.0 as u128;
    }

    /// Look at the window; if it is due and the rate is off target, return the new difficulty.
    pub fn retarget(&mut self, now_ms: u64) -> Option<Difficulty> {
        let elapsed = now_ms.saturating_sub(self.window_start_ms);
        let due = (self.shares >= FAST_SHARES && elapsed >= FAST_WINDOW_MS)
            || (self.shares >= 1 && elapsed >= NORMAL_WINDOW_MS)
            || elapsed >= FORCED_WINDOW_MS;
        if !due {
            return None;
        }
        let cur = self.current.0 as u128;
        if self.shares == 0 && self.submitted > 0 {
            // Working, but nothing valid to measure it by: no change.
            self.restart(now_ms);
            return None;
        }
        let wanted = if self.shares == 0 {
            cur / 4
        } else {
            // hashes per ms × ms per share at the target rate
            self.work * 60_000 / (elapsed as u128 * self.shares_per_min as u128)
        };
        let wanted = wanted
            .clamp(cur / 16, cur.saturating_mul(64))
            .min(u64::MAX as u128) as u64;
        let wanted = Difficulty(wanted.max(1)).clamp(self.min, self.max);
        self.restart(now_ms);
        // Ignore changes inside ±25 %: they are noise and cost a notify.
        let w = wanted.0 as u128;
        if w * 4 >= cur * 3 && w * 4 <= cur * 5 {
            return None;
        }
        self.current = wanted;
        Some(wanted)
    }

    fn restart(&mut self, now_ms: u64) {
        self.window_start_ms = now_ms;
        self.shares = 0;
        self.work = 0;
        self.submitted = 0;
    }

    /// Count a share the miner submitted, whatever its fate.
    pub fn submitted(&mut self) {
        self.submitted = self.submitted.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(x: u64) -> Difficulty {
        Difficulty(x << 32)
    }

    #[test]
    fn test_vardiff_fast_miner_raises_difficulty() {
        let mut v = Vardiff::new(d(1), d(1), d(1 << 20), 20, 0);
        // 100 shares/s at difficulty 1 → wants 300 at 20/min; capped at 64× per step.
        for _ in 0..200 {
            v.record(d(1));
        }
        assert_eq!(v.retarget(2_000), Some(d(64)));
    }

    #[test]
    fn test_vardiff_converges_to_target_rate() {
        let mut v = Vardiff::new(d(8), d(1), d(4096), 20, 0);
        // 40 shares in 60 s at difficulty 8 is 2× the target rate → 16.
        for _ in 0..40 {
            v.record(d(8));
        }
        assert_eq!(v.retarget(60_000), Some(d(16)));
    }

    #[test]
    fn test_vardiff_no_shares_lowers_but_respects_min() {
        let mut v = Vardiff::new(d(8), d(4), d(4096), 20, 0);
        assert_eq!(
            v.retarget(30_000),
            None,
            "not due without shares before 60 s"
        );
        assert_eq!(v.retarget(60_000), Some(d(4)));
        assert_eq!(v.retarget(120_000), None, "already at min");
    }

    #[test]
    fn test_vardiff_only_refused_shares_keeps_the_difficulty() {
        let mut v = Vardiff::new(d(64), d(1), d(4096), 20, 0);
        for _ in 0..30 {
            v.submitted();
        }
        assert_eq!(v.retarget(60_000), None, "working, just refused: no change");
        assert_eq!(v.current(), d(64));
        assert_eq!(v.retarget(120_000), Some(d(16)), "silent: lowered");
    }

    #[test]
    fn test_vardiff_small_deviation_is_ignored() {
        let mut v = Vardiff::new(d(10), d(1), d(4096), 20, 0);
        for _ in 0..11 {
            v.record(d(10));
        }
        assert_eq!(v.retarget(30_000), None, "22/min vs 20/min is noise");
        assert_eq!(v.current(), d(10));
    }
}
