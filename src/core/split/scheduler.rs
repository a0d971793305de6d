//! Deterministic scheduler: turns the controller's fractions into "which pool each miner
//! works for now".
//!
//! Every pool in the split keeps a credit in hashes: it earns `fraction × total hashrate`
//! per second and spends the estimated hashrate of the miners working for it. A miner moves
//! to the pool with the most credit once it has stayed `min_dwell` on its current pool and the
//! gap exceeds `hysteresis` seconds of that miner's own work. One miner is thereby split in
//! time; several are split by assignment plus time, the biggest placed first, so each pool
//! sees a steady hashrate rather than the whole fleet flapping together.
//!
//! Invariants: credits stay within ±4 hysteresis periods of total hashrate; same inputs in
//! the same order, same decisions (ties go to the lower pool index, then lower miner id).

use crate::{MAX_MINERS, MAX_POOLS};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedSettings {
    /// A miner stays at least this long on a pool before it may move (unless the pool dies).
    pub min_dwell_ms: u64,
    /// A move needs a credit gap worth this much of the miner's own work.
    pub hysteresis_ms: u64,
}

impl Default for SchedSettings {
    fn default() -> Self {
        // 180 s keeps every miner under 20 switches an hour even when the smallest of a fleet
        // absorbs the leftover imbalance (measured in benches/split.rs).
        SchedSettings {
            min_dwell_ms: 180_000,
            hysteresis_ms: 120_000,
        }
    }
}

/// What the scheduler needs to know of a miner.
#[derive(Clone, Copy, Debug)]
pub struct MinerInput {
    pub id: u32,
    /// Estimated hashes per second.
    pub hashrate: u64,
    /// Pool it works for now.
    pub pool: Option<usize>,
    /// When it started working for that pool.
    pub since_ms: u64,
    /// Bit `i` set: pool `i` can take this miner (extranonce and mask fit).
    pub usable: u16,
}

pub struct Scheduler {
    pub settings: SchedSettings,
    credit: [i128; MAX_POOLS],
    last_ms: u64,
}

impl Scheduler {
    pub fn new(settings: SchedSettings, now_ms: u64) -> Scheduler {
        Scheduler {
            settings,
            credit: [0; MAX_POOLS],
            last_ms: now_ms,
        }
    }

    pub fn credit(&self, pool: usize) -> i128 {
        self.credit[pool]
    }

    /// Where a newly ready miner should start: the usable pool in the split with the most
    /// credit (does not advance time).
    pub fn best(&self, fractions: &[i64], usable: u16) -> Option<usize> {
        let n = fractions.len().min(MAX_POOLS);
        (0..n)
            .filter(|&i| fractions[i] > 0 && usable & (1 << i) != 0)
            .max_by(|&a, &b| self.credit[a].cmp(&self.credit[b]).then(b.cmp(&a)))
    }

    /// Advance to `now_ms` with the given fractions (ppm per pool, 0 = not in the split) and
    /// return the new pool of every miner whose pool should change.
    pub fn step(
        &mut self,
        now_ms: u64,
        fractions: &[i64],
        miners: &[MinerInput],
    ) -> heapless::Vec<(u32, usize), MAX_MINERS> {
        let n = fractions.len().min(MAX_POOLS);
        let dt = now_ms.saturating_sub(self.last_ms) as i128;
        self.last_ms = now_ms;
        let in_split = |i: usize| fractions[i] > 0;
        let total: i128 = miners
            .iter()
            .filter(|m| (0..n).any(|i| in_split(i) && m.usable & (1 << i) != 0))
            .map(|m| m.hashrate as i128)
            .sum();
        let mut load = [0i128; MAX_POOLS];
        for m in miners {
            if let Some(p) = m.pool.filter(|&p| p < n) {
                load[p] += m.hashrate as i128;
            }
        }
        let bound = total * 4 * self.settings.hysteresis_ms as i128 / 1000;
        for i in 0..n {
            if !in_split(i) {
                self.credit[i] = 0;
                continue;
            }
            let earned = fractions[i] as i128 * total * dt / 1_000_000_000;
            let spent = load[i] * dt / 1000;
            self.credit[i] = (self.credit[i] + earned - spent).clamp(-bound, bound);
        }
        let mut order: heapless::Vec<&MinerInput, MAX_MINERS> = miners.iter().collect();
        order.sort_unstable_by(|a, b| b.hashrate.cmp(&a.hashrate).then(a.id.cmp(&b.id)));
        let mut adj = self.credit;
        let mut moves = heapless::Vec::new();
        for m in order {
            let usable = |i: usize| i < n && in_split(i) && m.usable & (1 << i) != 0;
            let Some(best) = (0..n)
                .filter(|&i| usable(i))
                .max_by(|&a, &b| adj[a].cmp(&adj[b]).then(b.cmp(&a)))
            else {
                continue;
            };
            let weight = m.hashrate as i128 * self.settings.hysteresis_ms as i128 / 1000;
            let target = match m.pool.filter(|&p| usable(p)) {
                None => best,
                Some(cur) if now_ms.saturating_sub(m.since_ms) < self.settings.min_dwell_ms => cur,
                Some(cur) if adj[best] - adj[cur] > weight => best,
                Some(cur) => cur,
            };
            if Some(target) != m.pool {
                if let Some(cur) = m.pool.filter(|&p| p < n) {
                    adj[cur] += weight;
                }
                adj[target] -= weight;
                let _ = moves.push((m.id, target));
            }
        }
        moves
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run one miner for `secs` seconds at 1 s steps; returns seconds spent per pool and moves.
    fn run(fractions: &[i64], secs: u64) -> ([u64; 2], u64) {
        let mut s = Scheduler::new(SchedSettings::default(), 0);
        let mut m = MinerInput {
            id: 1,
            hashrate: 6_000_000_000_000,
            pool: None,
            since_ms: 0,
            usable: 0b11,
        };
        let mut time = [0u64; 2];
        let mut moves = 0;
        for t in 0..secs {
            let now = t * 1000;
            for (_, p) in s.step(now, fractions, &[m]) {
                if m.pool.is_some() {
                    moves += 1;
                }
                m.pool = Some(p);
                m.since_ms = now;
            }
            time[m.pool.unwrap()] += 1;
        }
        (time, moves)
    }

    #[test]
    fn test_one_miner_is_split_in_time_by_fraction() {
        let (time, moves) = run(&[700_000, 300_000], 36_000);
        let share_a = time[0] * 1000 / 36_000;
        assert!(
            (695..=705).contains(&share_a),
            "share of time on a: {share_a}‰"
        );
        assert!(moves <= 10 * 20, "{moves} moves in 10 h");
    }

    #[test]
    fn test_pool_out_of_split_loses_its_miner_at_once() {
        let mut s = Scheduler::new(SchedSettings::default(), 0);
        let m = MinerInput {
            id: 1,
            hashrate: 100,
            pool: Some(0),
            since_ms: 999,
            usable: 0b11,
        };
        let moves = s.step(1000, &[0, 1_000_000], &[m]);
        assert_eq!(
            &moves[..],
            &[(1, 1)],
            "dwell does not hold a miner on a dead pool"
        );
    }

    #[test]
    fn test_same_inputs_same_decisions() {
        assert_eq!(
            run(&[500_000, 500_000], 7200),
            run(&[500_000, 500_000], 7200)
        );
    }

    #[test]
    fn test_unusable_pool_is_never_chosen() {
        let mut s = Scheduler::new(SchedSettings::default(), 0);
        let m = MinerInput {
            id: 1,
            hashrate: 100,
            pool: None,
            since_ms: 0,
            usable: 0b10,
        };
        assert_eq!(&s.step(0, &[900_000, 100_000], &[m])[..], &[(1, 1)]);
    }
}
