//! The split controller: measures each pool's share of accepted work and trims the
//! scheduler's fractions with an integer PID so the long-run split lands on the weights.
//!
//! Units: shares and fractions in parts per million (ppm; 1 percentage point = 10,000 ppm),
//! gains in thousandths. Work in hashes (difficulty × 2^32). No floats.
//!
//! Per pool `i` with weight `w_i`: target `t_i = w_i / Σw` over weighted pools. Every
//! evaluation interval:
//! - `s_i`: share of accepted work over the sliding window (last `window` intervals);
//! - `e_i = t_i − s_i`, zero inside the deadband;
//! - debt `I_i += (t_i·W − w_i) / W̄` (work owed this interval, `W` all accepted work of the
//!   interval, `w_i` the pool's, `W̄` the window's mean per interval), clamped to `±payback_cap` (anti-windup;
//!   also the cap on how much missed work is paid back after an outage); intervals with no
//!   work at all (everything down) add nothing;
//! - `f_i = t_i + (kp·e_i + ki·I_i + kd·(e_i − e_prev)) / 1000`, limited to `t_i ± max_trim`,
//!   zero for pools not live, then normalised over live weighted pools.
//!
//! Invariant: the fractions of live weighted pools sum to exactly 1,000,000 (or all are zero
//! when no weighted pool is live). Deterministic: same calls, same numbers.

use crate::MAX_POOLS;

pub const PPM: i64 = 1_000_000;
/// Longest measurement window, in intervals.
pub const MAX_WINDOW: usize = 120;

/// PID gains in thousandths (500 = 0.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gains {
    pub kp: i64,
    pub ki: i64,
    pub kd: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    Aggressive,
    Balanced,
    Conservative,
    ProportionalOnly,
}

impl Preset {
    pub const ALL: [Preset; 4] = [
        Preset::Aggressive,
        Preset::Balanced,
        Preset::Conservative,
        Preset::ProportionalOnly,
    ];

    pub fn gains(self) -> Gains {
        let (kp, ki, kd) = match self {
            Preset::Aggressive => (1000, 100, 50),
            Preset::Balanced => (500, 50, 20),
            Preset::Conservative => (200, 10, 5),
            Preset::ProportionalOnly => (300, 0, 0),
        };
        Gains { kp, ki, kd }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Aggressive => "aggressive",
            Preset::Balanced => "balanced",
            Preset::Conservative => "conservative",
            Preset::ProportionalOnly => "proportional_only",
        }
    }

    pub fn from_name(s: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// Controller settings (runtime-changeable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PidSettings {
    pub gains: Gains,
    /// Errors smaller than this are treated as zero (ppm; default 5,000 = 0.5 pp).
    pub deadband_ppm: i64,
    /// Evaluation interval.
    pub interval_ms: u64,
    /// Measurement window, in intervals (≤ [`MAX_WINDOW`]).
    pub window: usize,
    /// Largest debt a pool accumulates, in ppm·intervals (e.g. 300,000 × 60 = one hour of a
    /// 30 % pool at 60 s intervals).
    pub payback_cap: i64,
    /// Largest trim away from the target, ppm (keeps the other pools fed while paying back).
    pub max_trim_ppm: i64,
}

impl Default for PidSettings {
    fn default() -> Self {
        PidSettings {
            gains: Preset::Balanced.gains(),
            deadband_ppm: 5_000,
            interval_ms: 60_000,
            window: 60,
            payback_cap: 300_000 * 120,
            max_trim_ppm: 150_000,
        }
    }
}

/// What the controller knows of a pool at an evaluation.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolInput {
    pub weight: u32,
    pub live: bool,
}

/// Observable state per pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolTerms {
    pub target_ppm: i64,
    /// Accepted-work share over the window.
    pub measured_ppm: i64,
    pub p: i64,
    pub i: i64,
    pub d: i64,
    /// Accumulated debt (ppm·intervals); positive = the pool is owed work.
    pub debt: i64,
    /// Fraction handed to the scheduler.
    pub fraction_ppm: i64,
}

pub struct Pid {
    pub settings: PidSettings,
    window: Box<[[u64; MAX_POOLS]; MAX_WINDOW]>,
    pos: usize,
    filled: usize,
    pending: [u64; MAX_POOLS],
    last_error: [i64; MAX_POOLS],
    last_eval_ms: u64,
    pub terms: [PoolTerms; MAX_POOLS],
}

impl Pid {
    pub fn new(settings: PidSettings, now_ms: u64) -> Pid {
        Pid {
            settings,
            window: Box::new([[0; MAX_POOLS]; MAX_WINDOW]),
            pos: 0,
            filled: 0,
            pending: [0; MAX_POOLS],
            last_error: [0; MAX_POOLS],
            last_eval_ms: now_ms,
            terms: [PoolTerms::default(); MAX_POOLS],
        }
    }

    /// Count accepted work for a pool.
    pub fn record(&mut self, pool: usize, work: u64) {
        self.pending[pool] = self.pending[pool].saturating_add(work);
    }

    /// Take back work a pool rejected after the proxy had counted it (the pool's difficulty
    /// of the rejected share): what the pool did not accept must not count as served.
    pub fn deduct(&mut self, pool: usize, work: u64) {
        self.pending[pool] = self.pending[pool].saturating_sub(work);
    }

    /// Evaluate if an interval has passed; returns true if the fractions were recomputed.
    pub fn evaluate(&mut self, now_ms: u64, pools: &[PoolInput]) -> bool {
        if now_ms < self.last_eval_ms + self.settings.interval_ms {
            return false;
        }
        self.last_eval_ms = now_ms;
        let n = pools.len().min(MAX_POOLS);
        let window = self.settings.window.clamp(1, MAX_WINDOW);
        let interval = std::mem::take(&mut self.pending);
        let interval_total: u128 = interval[..n].iter().map(|&w| w as u128).sum();
        self.window[self.pos] = interval;
        self.pos = (self.pos + 1) % window;
        self.filled = (self.filled + 1).min(window);
        let mut sums = [0u128; MAX_POOLS];
        for k in 0..self.filled {
            for (i, s) in sums.iter_mut().enumerate().take(n) {
                *s += self.window[k][i] as u128;
            }
        }
        let total: u128 = sums[..n].iter().sum();
        let weight_sum: i64 = pools[..n].iter().map(|p| p.weight as i64).sum();
        let g = self.settings.gains;
        for i in 0..n {
            let t = &mut self.terms[i];
            if weight_sum == 0 || pools[i].weight == 0 {
                *t = PoolTerms::default();
                continue;
            }
            t.target_ppm = pools[i].weight as i64 * PPM / weight_sum;
            t.measured_ppm = (sums[i] * PPM as u128)
                .checked_div(total)
                .map_or(t.target_ppm, |v| v as i64);
            let mut e = t.target_ppm - t.measured_ppm;
            if e.abs() < self.settings.deadband_ppm {
                e = 0;
            }
            if interval_total > 0 {
                // Work owed this interval, in units of the window's mean work per interval:
                // the debt follows accepted work, not time (a rejecting pool's intervals
                // carry less work and must not count as fully served).
                let mean = (total / self.filled as u128).max(1) as i128;
                let owed = t.target_ppm as i128 * interval_total as i128
                    - interval[i] as i128 * PPM as i128;
                let cap = self.settings.payback_cap as i128;
                t.debt = (t.debt as i128 + owed / mean).clamp(-cap, cap) as i64;
            }
            t.p = g.kp * e / 1000;
            t.i = g.ki * t.debt / 1000;
            t.d = g.kd * (e - self.last_error[i]) / 1000;
            self.last_error[i] = e;
            let trim =
                (t.p + t.i + t.d).clamp(-self.settings.max_trim_ppm, self.settings.max_trim_ppm);
            t.fraction_ppm = if pools[i].live {
                (t.target_ppm + trim).max(0)
            } else {
                0
            };
        }
        normalise(&mut self.terms[..n]);
        true
    }

    /// Fractions for the pools as they are now: the last evaluation's for live pools, the
    /// target for a pool that came back since, zero for dead ones; normalised.
    pub fn fractions_now(&self, pools: &[PoolInput]) -> [i64; MAX_POOLS] {
        let n = pools.len().min(MAX_POOLS);
        let weight_sum: i64 = pools[..n].iter().map(|p| p.weight as i64).sum();
        let mut t = [PoolTerms::default(); MAX_POOLS];
        for i in 0..n {
            if pools[i].live && pools[i].weight > 0 {
                let f = self.terms[i].fraction_ppm;
                t[i].fraction_ppm = if f > 0 {
                    f
                } else {
                    pools[i].weight as i64 * PPM / weight_sum
                };
            }
        }
        normalise(&mut t[..n]);
        let mut out = [0; MAX_POOLS];
        for i in 0..n {
            out[i] = t[i].fraction_ppm;
        }
        out
    }

    /// Current fraction for each pool (ppm).
    pub fn fraction(&self, pool: usize) -> i64 {
        self.terms[pool].fraction_ppm
    }

    /// Forget debts and the window (after a weight change, for instance).
    pub fn reset(&mut self) {
        self.filled = 0;
        self.pos = 0;
        self.last_error = [0; MAX_POOLS];
        for t in self.terms.iter_mut() {
            t.debt = 0;
        }
    }
}

/// Scale fractions to sum to exactly PPM (the remainder goes to the largest).
fn normalise(terms: &mut [PoolTerms]) {
    let sum: i64 = terms.iter().map(|t| t.fraction_ppm).sum();
    if sum == 0 {
        return;
    }
    for t in terms.iter_mut() {
        t.fraction_ppm = t.fraction_ppm * PPM / sum;
    }
    let rest = PPM - terms.iter().map(|t| t.fraction_ppm).sum::<i64>();
    if let Some(t) = terms.iter_mut().max_by_key(|t| t.fraction_ppm) {
        t.fraction_ppm += rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(weights: &[u32]) -> Vec<PoolInput> {
        weights
            .iter()
            .map(|&w| PoolInput {
                weight: w,
                live: true,
            })
            .collect()
    }

    #[test]
    fn test_pid_on_target_gives_target_fractions() {
        let mut pid = Pid::new(PidSettings::default(), 0);
        pid.record(0, 700);
        pid.record(1, 300);
        assert!(pid.evaluate(60_000, &live(&[70, 30])));
        assert_eq!((pid.fraction(0), pid.fraction(1)), (700_000, 300_000));
    }

    #[test]
    fn test_pid_under_served_pool_gets_more() {
        let mut pid = Pid::new(PidSettings::default(), 0);
        pid.record(0, 800);
        pid.record(1, 200);
        pid.evaluate(60_000, &live(&[70, 30]));
        assert!(pid.fraction(1) > 300_000, "{:?}", pid.terms[1]);
        assert_eq!(pid.fraction(0) + pid.fraction(1), PPM);
    }

    #[test]
    fn test_pid_not_due_before_interval() {
        let mut pid = Pid::new(PidSettings::default(), 0);
        assert!(!pid.evaluate(59_999, &live(&[1, 1])));
    }

    #[test]
    fn test_pid_dead_pool_gets_nothing_and_debt_is_capped() {
        let s = PidSettings {
            payback_cap: 1_000_000,
            ..PidSettings::default()
        };
        let mut pid = Pid::new(s, 0);
        let pools = [
            PoolInput {
                weight: 70,
                live: true,
            },
            PoolInput {
                weight: 30,
                live: false,
            },
        ];
        for k in 1..=100 {
            pid.record(0, 1000);
            pid.evaluate(k * 60_000, &pools);
        }
        assert_eq!(pid.fraction(1), 0);
        assert_eq!(pid.fraction(0), PPM);
        assert_eq!(pid.terms[1].debt, 1_000_000, "capped");
    }

    #[test]
    fn test_pid_trim_is_limited() {
        let mut pid = Pid::new(PidSettings::default(), 0);
        pid.record(0, 1000);
        pid.evaluate(60_000, &live(&[50, 50]));
        assert_eq!(pid.fraction(1), 650_000, "50 % + at most 15 pp");
    }

    #[test]
    fn test_fractions_now_follow_liveness_between_evaluations() {
        let mut pid = Pid::new(PidSettings::default(), 0);
        pid.record(0, 700);
        pid.evaluate(
            60_000,
            &[
                PoolInput {
                    weight: 70,
                    live: true,
                },
                PoolInput {
                    weight: 30,
                    live: false,
                },
            ],
        );
        let both = [
            PoolInput {
                weight: 70,
                live: true,
            },
            PoolInput {
                weight: 30,
                live: true,
            },
        ];
        let f = pid.fractions_now(&both);
        assert_eq!(f[0] + f[1], PPM);
        assert!(
            f[1] > 0,
            "a pool back since the last evaluation gets its target"
        );
        let only_b = [
            PoolInput {
                weight: 70,
                live: false,
            },
            PoolInput {
                weight: 30,
                live: true,
            },
        ];
        assert_eq!(pid.fractions_now(&only_b)[1], PPM);
    }

    #[test]
    fn test_presets_have_the_seed_gains() {
        assert_eq!(
            Preset::Balanced.gains(),
            Gains {
                kp: 500,
                ki: 50,
                kd: 20
            }
        );
        assert_eq!(
            Preset::from_name("proportional_only"),
            Some(Preset::ProportionalOnly)
        );
    }
}
