//! Virtual-clock simulation of the weighted split: drives the real [`Pid`] and [`Scheduler`]
//! with Poisson share arrivals, so their accepted-work split, payback after an outage and
//! switching rate can be checked over simulated days in well under a second.
//!
//! What it models, per 1 s step of virtual time `t` (no sleeping, no threads):
//! 1. Work done in `(t−1 s, t]`: each miner finds `Poisson(hashrate / (D·2^32))` shares at the
//!    local difficulty `D`; each is worth `D·2^32` hashes and goes to the pool the miner works
//!    for. On a pool in an outage the share is lost; otherwise it is rejected with the pool's
//!    `reject_ppm` probability, else accepted: counted per minute and `pid.record`ed.
//! 2. Closed loop: `pid.evaluate(t, inputs)` (live = not in an outage).
//! 3. Fractions for the scheduler (see [`fractions`]): the controller's fractions masked to the
//!    pools live *now* and renormalised (the controller only re-evaluates every interval, so the
//!    wiring must drop a dead pool at once — the proxy has to do the same); the weight targets
//!    of live pools before the first evaluation or in open loop; failover (lowest-index live
//!    pool gets everything) when no weighted pool is live, weight-0 pools being failover-only.
//! 4. `scheduler.step(t, fractions, miners)`; moved miners get `since_ms = t`, and a move away
//!    from a pool (not the first assignment) counts as a switch.
//!
//! Assumptions: the scheduler is given each miner's true hashrate (the proxy estimates it);
//! every pool can take every miner; pool difficulty is informational only (work is counted at
//! the local difficulty, as the proxy credits it).
//!
//! Invariants: deterministic — same [`SimSpec`], same [`SimResult`] (own splitmix64 PRNG,
//! one stream per miner and per pool, so open and closed loop see the same share luck).
//! Unlike the rest of [`crate::sim`], this module uses hashmux code on purpose: it is the
//! test bench of `crate::core::split`, not an independent protocol oracle. f64 appears only here in
//! the test infrastructure, never in the control code it drives.

use crate::core::split::pid::{Pid, PidSettings, PoolInput, PPM};
use crate::core::split::scheduler::{MinerInput, SchedSettings, Scheduler};
use crate::{MAX_MINERS, MAX_POOLS};

/// Open loop: fractions fixed at the weight targets of live pools. Closed loop: the PID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    OpenLoop,
    ClosedLoop(PidSettings),
}

/// One simulated pool.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimPoolSpec {
    /// Split weight; 0 = failover only.
    pub weight: u32,
    /// Pool difficulty; informational (work is counted at the local difficulty).
    pub difficulty: f64,
    /// Outages as `[start_s, end_s)` in seconds of virtual time.
    pub outages: Vec<(u64, u64)>,
    /// Probability that a share is rejected, in ppm.
    pub reject_ppm: u32,
}

impl SimPoolSpec {
    /// A pool with this weight, always up, rejecting nothing.
    pub fn weighted(weight: u32) -> SimPoolSpec {
        SimPoolSpec {
            weight,
            ..SimPoolSpec::default()
        }
    }

    fn live(&self, t_s: u64) -> bool {
        !self.outages.iter().any(|&(a, b)| a <= t_s && t_s < b)
    }
}

/// A whole simulation.
#[derive(Clone, Debug, PartialEq)]
pub struct SimSpec {
    /// Miner hashrates, H/s.
    pub miners: Vec<u64>,
    pub pools: Vec<SimPoolSpec>,
    /// Difficulty of the shares the miners submit to the proxy.
    pub local_difficulty: f64,
    pub hours: u64,
    pub seed: u64,
    pub mode: Mode,
    pub sched: SchedSettings,
}

/// What a run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimResult {
    /// `accepted[pool][minute]`: accepted work (hashes) in that minute of virtual time.
    pub accepted: Vec<Vec<u64>>,
    /// Rejected work per pool (hashes).
    pub rejected: Vec<u64>,
    /// Work found while working for a pool that was down (hashes).
    pub lost: u64,
    /// Pool changes per miner (the first assignment is not counted).
    pub switches: Vec<u64>,
    pub hours: u64,
}

/// splitmix64: small, seedable, good enough for share luck.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `ppm` / 1,000,000.
    pub fn chance_ppm(&mut self, ppm: u32) -> bool {
        ((self.next_u64() >> 32) * PPM as u64) >> 32 < ppm as u64
    }

    /// Poisson(λ) by multiplying uniforms (Knuth); λ is split into chunks of at most 16 so
    /// `e^−λ` never underflows (a sum of Poissons is Poisson).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        let mut left = lambda.max(0.0);
        let mut k = 0;
        while left > 0.0 {
            let part = left.min(16.0);
            left -= part;
            let limit = (-part).exp();
            let mut p = self.unit();
            while p > limit {
                k += 1;
                p *= self.unit();
            }
        }
        k
    }
}

/// Weight targets of the weighted pools (fractions of 1), ignoring liveness.
pub fn targets(pools: &[SimPoolSpec]) -> Vec<f64> {
    let sum: u64 = pools.iter().map(|p| p.weight as u64).sum();
    pools
        .iter()
        .map(|p| {
            if sum == 0 {
                0.0
            } else {
                p.weight as f64 / sum as f64
            }
        })
        .collect()
}

/// Scale to sum to exactly [`PPM`], remainder to the largest; all zero stays all zero.
fn normalise(f: &mut [i64]) {
    let sum: i64 = f.iter().sum();
    if sum <= 0 {
        return;
    }
    for x in f.iter_mut() {
        *x = *x * PPM / sum;
    }
    let rest = PPM - f.iter().sum::<i64>();
    let mut big = 0;
    for i in 1..f.len() {
        if f[i] > f[big] {
            big = i;
        }
    }
    f[big] += rest;
}

/// The fractions handed to the scheduler (ppm per pool), from the controller's `pid`
/// fractions (`None` = open loop or not evaluated yet), weights and liveness.
pub fn fractions(pid: Option<&[i64]>, weights: &[u32], live: &[bool]) -> Vec<i64> {
    let n = weights.len();
    let weighted_live = |i: usize| live[i] && weights[i] > 0;
    let mut f = vec![0i64; n];
    if !(0..n).any(weighted_live) {
        if let Some(first) = (0..n).find(|&i| live[i]) {
            f[first] = PPM;
        }
        return f;
    }
    if let Some(pid) = pid {
        for i in (0..n).filter(|&i| weighted_live(i)) {
            f[i] = pid[i].max(0);
        }
    }
    if f.iter().all(|&x| x == 0) {
        for i in (0..n).filter(|&i| weighted_live(i)) {
            f[i] = weights[i] as i64;
        }
    }
    normalise(&mut f);
    f
}

/// Run the simulation. Panics on more pools or miners than the proxy supports.
pub fn run(spec: &SimSpec) -> SimResult {
    let n = spec.pools.len();
    assert!((1..=MAX_POOLS).contains(&n), "1..={MAX_POOLS} pools");
    assert!(
        spec.miners.len() <= MAX_MINERS,
        "at most {MAX_MINERS} miners"
    );
    let share_work = spec.local_difficulty * 4_294_967_296.0;
    let work = share_work.round() as u64;
    let lambdas: Vec<f64> = spec.miners.iter().map(|&h| h as f64 / share_work).collect();
    let mut miner_rng: Vec<Rng> = (0..spec.miners.len() as u64)
        .map(|i| Rng::new(spec.seed ^ (i + 1).wrapping_mul(0xd1b5_4a32_d192_ed03)))
        .collect();
    let mut pool_rng: Vec<Rng> = (0..n as u64)
        .map(|i| Rng::new(!spec.seed ^ (i + 1).wrapping_mul(0x8cb9_2ba7_2f3d_8dd7)))
        .collect();
    let weights: Vec<u32> = spec.pools.iter().map(|p| p.weight).collect();
    let all_pools: u16 = ((1u32 << n) - 1) as u16;
    let mut miners: Vec<MinerInput> = spec
        .miners
        .iter()
        .enumerate()
        .map(|(i, &h)| MinerInput {
            id: i as u32,
            hashrate: h,
            pool: None,
            since_ms: 0,
            usable: all_pools,
        })
        .collect();
    let mut pid = match spec.mode {
        Mode::ClosedLoop(s) => Some(Pid::new(s, 0)),
        Mode::OpenLoop => None,
    };
    let mut evaluated = false;
    let mut sched = Scheduler::new(spec.sched, 0);
    let end_s = spec.hours * 3600;
    let mut out = SimResult {
        accepted: vec![vec![0; (spec.hours * 60) as usize]; n],
        rejected: vec![0; n],
        lost: 0,
        switches: vec![0; spec.miners.len()],
        hours: spec.hours,
    };
    let mut live = vec![false; n];
    let mut inputs = vec![PoolInput::default(); n];
    let mut pid_f = vec![0i64; n];
    for t in 0..=end_s {
        if t > 0 {
            let minute = ((t - 1) / 60) as usize;
            for (m, rng) in miners.iter().zip(miner_rng.iter_mut()) {
                let shares = rng.poisson(lambdas[m.id as usize]);
                let Some(p) = m.pool else { continue };
                let pool = &spec.pools[p];
                for _ in 0..shares {
                    if !pool.live(t - 1) {
                        out.lost += work;
                    } else if pool_rng[p].chance_ppm(pool.reject_ppm) {
                        out.rejected[p] += work;
                    } else {
                        out.accepted[p][minute] += work;
                        if let Some(pid) = pid.as_mut() {
                            pid.record(p, work);
                        }
                    }
                }
            }
        }
        let now = t * 1000;
        for (i, pool) in spec.pools.iter().enumerate() {
            live[i] = pool.live(t);
            inputs[i] = PoolInput {
                weight: pool.weight,
                live: live[i],
            };
        }
        if let Some(pid) = pid.as_mut() {
            if pid.evaluate(now, &inputs) {
                evaluated = true;
                for (i, f) in pid_f.iter_mut().enumerate() {
                    *f = pid.fraction(i);
                }
            }
        }
        let f = fractions(evaluated.then_some(&pid_f[..]), &weights, &live);
        for (id, p) in sched.step(now, &f, &miners) {
            let m = &mut miners[id as usize];
            if m.pool.is_some() {
                out.switches[id as usize] += 1;
            }
            m.pool = Some(p);
            m.since_ms = now;
        }
    }
    out
}

/// Share of accepted work per pool over minutes `[from_min, to_min)` (fractions of 1; all
/// zero if nothing was accepted).
pub fn split_over(r: &SimResult, from_min: usize, to_min: usize) -> Vec<f64> {
    let sums: Vec<u128> = r
        .accepted
        .iter()
        .map(|v| v[from_min..to_min].iter().map(|&w| w as u128).sum())
        .collect();
    let total: u128 = sums.iter().sum();
    sums.iter()
        .map(|&s| {
            if total == 0 {
                0.0
            } else {
                s as f64 / total as f64
            }
        })
        .collect()
}

/// Largest error of any pool, in percentage points, between `targets` (fractions of 1) and
/// the split over `[s, s + window_min)` for `s = start_min, start_min + step_min, …` while the
/// window fits in the run.
pub fn worst_window_error(
    r: &SimResult,
    window_min: usize,
    step_min: usize,
    start_min: usize,
    targets: &[f64],
) -> f64 {
    let len = (r.hours * 60) as usize;
    let mut worst = 0.0f64;
    let mut s = start_min;
    while s + window_min <= len {
        worst = worst.max(split_error(&split_over(r, s, s + window_min), targets));
        s += step_min.max(1);
    }
    worst
}

/// Largest per-pool error of a split against targets, in percentage points.
pub fn split_error(split: &[f64], targets: &[f64]) -> f64 {
    split
        .iter()
        .zip(targets)
        .map(|(s, t)| (s - t).abs() * 100.0)
        .fold(0.0, f64::max)
}

/// Switches per hour of the miner that switched most.
pub fn max_switches_per_hour(r: &SimResult) -> f64 {
    r.switches.iter().copied().max().unwrap_or(0) as f64 / r.hours.max(1) as f64
}

/// Mean switches per miner per hour.
pub fn mean_switches_per_hour(r: &SimResult) -> f64 {
    if r.switches.is_empty() {
        return 0.0;
    }
    r.switches.iter().sum::<u64>() as f64 / r.switches.len() as f64 / r.hours.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_poisson_has_mean_and_variance_lambda() {
        let mut rng = Rng::new(1);
        for lambda in [0.3, 1.4, 40.0] {
            let n = 100_000;
            let xs: Vec<f64> = (0..n).map(|_| rng.poisson(lambda) as f64).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            assert!(
                (mean / lambda - 1.0).abs() < 0.02,
                "λ {lambda}: mean {mean}"
            );
            assert!(
                (var / lambda - 1.0).abs() < 0.05,
                "λ {lambda}: variance {var}"
            );
        }
    }

    #[test]
    fn test_fractions_mask_dead_pools_and_fail_over() {
        let w = [70, 30, 0];
        let pid = [600_000, 400_000, 0];
        assert_eq!(fractions(Some(&pid), &w, &[true; 3]), [600_000, 400_000, 0]);
        assert_eq!(
            fractions(Some(&pid), &w, &[true, false, true]),
            [PPM, 0, 0],
            "dead at once, not at the next evaluation"
        );
        assert_eq!(fractions(None, &w, &[true; 3]), [700_000, 300_000, 0]);
        assert_eq!(
            fractions(Some(&[0, PPM, 0]), &w, &[true, false, true]),
            [PPM, 0, 0],
            "controller gave everything to a pool now dead: targets of live pools"
        );
        assert_eq!(
            fractions(Some(&pid), &w, &[false, false, true]),
            [0, 0, PPM]
        );
        assert_eq!(fractions(Some(&pid), &w, &[false; 3]), [0, 0, 0]);
    }

    #[test]
    fn test_first_assignment_is_not_a_switch_and_work_is_counted() {
        let spec = SimSpec {
            miners: vec![6_000_000_000_000],
            pools: vec![SimPoolSpec::weighted(1)],
            local_difficulty: 1024.0,
            hours: 1,
            seed: 3,
            mode: Mode::OpenLoop,
            sched: SchedSettings::default(),
        };
        let r = run(&spec);
        assert_eq!(r.switches, [0]);
        let shares = r.accepted[0].iter().sum::<u64>() / (1024u64 << 32);
        let expected = 6e12 * 3600.0 / (1024.0 * 4_294_967_296.0);
        assert!(
            (shares as f64 / expected - 1.0).abs() < 0.05,
            "{shares} vs {expected}"
        );
    }
}
