//! Which pool each miner works for.
//!
//! - Weighted split, while any pool with `weight > 0` is live: [`pid`] (integer controller on
//!   accepted work) turns measured shares into fractions, [`scheduler`] (credit-based time
//!   slicing) turns fractions into per-miner moves. Proven in the virtual-clock harness
//!   (`sim::splitsim`, `tests/split_sim.rs`, `benches/split.rs`).
//! - Priority failover ([`choose`]), when no weighted pool is live: every miner works for the
//!   live pool with the lowest `priority` (ties by config order).
//!
//! Either way a pool only takes a miner whose extranonce fits it and whose version mask it
//! covers ([`compatible`]). Everything here is pure: same inputs, same answer.

pub mod pid;
pub mod scheduler;

use pid::{Gains, PidSettings, Preset};
use scheduler::SchedSettings;

/// The split's settings as configured (`"split"` in the config); runtime-changeable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitConfig {
    /// The preset the gains came from; `None` for custom gains.
    pub preset: Option<Preset>,
    pub gains: Gains,
    /// Errors below this are ignored (ppm; 5,000 = 0.5 percentage points).
    pub deadband_ppm: i64,
    pub interval_secs: u32,
    /// Measurement window in intervals.
    pub window_intervals: u32,
    /// Most missed work a pool is paid back after an outage, in minutes of the whole
    /// farm's hashrate.
    pub max_payback_mins: u32,
    /// Largest trim of a pool's fraction away from its target (ppm).
    pub max_trim_ppm: i64,
    pub min_dwell_secs: u32,
    pub hysteresis_secs: u32,
}

impl Default for SplitConfig {
    fn default() -> Self {
        let p = PidSettings::default();
        let s = SchedSettings::default();
        SplitConfig {
            preset: Some(Preset::Balanced),
            gains: p.gains,
            deadband_ppm: p.deadband_ppm,
            interval_secs: (p.interval_ms / 1000) as u32,
            window_intervals: p.window as u32,
            max_payback_mins: 120,
            max_trim_ppm: p.max_trim_ppm,
            min_dwell_secs: (s.min_dwell_ms / 1000) as u32,
            hysteresis_secs: (s.hysteresis_ms / 1000) as u32,
        }
    }
}

impl SplitConfig {
    pub fn pid(&self) -> PidSettings {
        let interval = self.interval_secs.max(1) as i64;
        PidSettings {
            gains: self.gains,
            deadband_ppm: self.deadband_ppm,
            interval_ms: interval as u64 * 1000,
            window: (self.window_intervals as usize).clamp(1, pid::MAX_WINDOW),
            payback_cap: pid::PPM * (self.max_payback_mins as i64 * 60 / interval),
            max_trim_ppm: self.max_trim_ppm,
        }
    }

    pub fn sched(&self) -> SchedSettings {
        SchedSettings {
            min_dwell_ms: self.min_dwell_secs as u64 * 1000,
            hysteresis_ms: self.hysteresis_secs as u64 * 1000,
        }
    }
}

/// What the split needs to know about a pool.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub idx: usize,
    pub live: bool,
    pub priority: u32,
    pub extranonce2_size: usize,
    pub version_mask: Option<u32>,
}

/// What the split needs to know about a miner.
#[derive(Clone, Copy, Debug)]
pub struct MinerNeeds {
    pub e2_size: usize,
    pub version_mask: Option<u32>,
}

/// Can this pool take this miner's shares?
pub fn compatible(c: &Candidate, m: &MinerNeeds) -> bool {
    let mask_ok = match (m.version_mask, c.version_mask) {
        (None, _) => true,
        (Some(mm), Some(pm)) => mm & !pm == 0,
        (Some(_), None) => false,
    };
    crate::work::job::fits(c.extranonce2_size, m.e2_size) && mask_ok
}

/// The pool a miner should work for now, if any.
pub fn choose(pools: &[Candidate], miner: &MinerNeeds) -> Option<usize> {
    pools
        .iter()
        .filter(|c| c.live && compatible(c, miner))
        .min_by_key(|c| (c.priority, c.idx))
        .map(|c| c.idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(idx: usize, live: bool, priority: u32) -> Candidate {
        Candidate {
            idx,
            live,
            priority,
            extranonce2_size: 8,
            version_mask: Some(0x1fffe000),
        }
    }

    const M: MinerNeeds = MinerNeeds {
        e2_size: 4,
        version_mask: Some(0x1fffe000),
    };

    #[test]
    fn test_choose_lowest_priority_live_pool() {
        assert_eq!(choose(&[c(0, true, 2), c(1, true, 1)], &M), Some(1));
        assert_eq!(choose(&[c(0, true, 2), c(1, false, 1)], &M), Some(0));
        assert_eq!(choose(&[c(0, false, 2), c(1, false, 1)], &M), None);
    }

    #[test]
    fn test_choose_skips_pool_too_small_or_narrow_mask() {
        let mut small = c(0, true, 0);
        small.extranonce2_size = 4;
        let mut narrow = c(1, true, 1);
        narrow.version_mask = Some(0x00ff_e000);
        assert_eq!(choose(&[small, narrow, c(2, true, 9)], &M), Some(2));
        let plain = MinerNeeds {
            e2_size: 2,
            version_mask: None,
        };
        assert_eq!(choose(&[small, narrow], &plain), Some(0));
    }
}
