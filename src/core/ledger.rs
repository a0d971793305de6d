//! The ledger: totals that outlive miners (departed miners, per worker), the stats file's
//! contents, and the [`Snapshot`] everything observable is read from.

use super::Core;
use crate::ops::persist::Saved;
use crate::stats::snapshot::PoolHistory;
use crate::stats::{MinerSnap, PoolSnap, ShareCounters, Snapshot};
use crate::work::Difficulty;

/// Most workers whose totals are kept (beyond it, new names are folded into "(others)").
pub const MAX_WORKERS: usize = 256;

/// Add `c` to `into`, counter by counter (the one field list is `ShareCounters::counts`).
pub fn add_counters(into: &mut ShareCounters, c: &ShareCounters) {
    let mut sum = into.counts();
    for (s, x) in sum.iter_mut().zip(c.counts()) {
        *s += x;
    }
    let best = into.best.max(c.best);
    *into = ShareCounters::from_counts(
        sum,
        into.work_valid + c.work_valid,
        into.work_accepted + c.work_accepted,
    );
    into.best = best;
}

/// A pool's value in a history sample, [`NO_DATA`] outside the table.
///
/// [`NO_DATA`]: crate::stats::history::NO_DATA
fn at(v: &[u16], idx: usize) -> u16 {
    v.get(idx)
        .copied()
        .unwrap_or(crate::stats::history::NO_DATA)
}

fn worker_name(w: &str) -> &str {
    if w.is_empty() {
        "(unnamed)"
    } else {
        w
    }
}

impl Core {
    /// Add a departing miner's counters to its worker's totals.
    pub(super) fn fold_worker(&mut self, worker: &str, c: &ShareCounters) {
        let w = &mut self.worker_totals;
        let name = worker_name(worker);
        let i = match w.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None if w.len() < MAX_WORKERS => {
                w.push((name.to_string(), Default::default()));
                w.len() - 1
            }
            None => match w.iter().position(|(n, _)| n == "(others)") {
                Some(i) => i,
                None => {
                    w.push(("(others)".into(), Default::default()));
                    w.len() - 1
                }
            },
        };
        add_counters(&mut w[i].1, c);
    }

    /// Worker totals including the miners connected now.
    pub fn worker_totals_now(&self) -> Vec<(String, ShareCounters)> {
        let mut all = self.worker_totals.clone();
        for m in self.miners.iter() {
            let name = worker_name(&m.worker);
            match all.iter_mut().find(|(n, _)| n == name) {
                Some((_, c)) => add_counters(c, &m.shares),
                None => all.push((name.to_string(), m.shares.clone())),
            }
        }
        all
    }

    /// What the stats file keeps (the history is moved out; give it back with
    /// [`Core::restore_history`] after encoding).
    pub fn take_saved(&mut self) -> Saved {
        Saved {
            pools: self
                .pools
                .iter()
                .filter(|p| !p.vacant)
                .map(|p| (p.cfg.name.to_string(), p.shares.clone()))
                .collect(),
            workers: self.worker_totals_now(),
            history: Some(std::mem::take(&mut self.history)),
        }
    }

    pub fn restore_history(&mut self, h: crate::stats::history::History) {
        self.history = h;
    }

    /// Take over totals read from the stats file at start.
    pub fn load_saved(&mut self, saved: Saved) {
        for (name, c) in saved.pools {
            if let Some(p) = self
                .pools
                .iter_mut()
                .find(|p| !p.vacant && p.cfg.name.as_str() == name)
            {
                p.shares = c;
            }
        }
        self.worker_totals = saved.workers;
        if let Some(h) = saved.history {
            self.history = h;
        }
    }

    /// Copy of everything observable, for the page, the API and tests. Byte counts sent to
    /// miners are the runtime's (it fills `bytes_out`).
    pub fn snapshot(&mut self, now: u64) -> Snapshot {
        let pools = self
            .pools
            .iter()
            .filter(|p| !p.vacant)
            .map(|p| PoolSnap {
                name: p.cfg.name.to_string(),
                address: format!("{}:{}", p.cfg.host, p.cfg.port),
                state: super::pool::state_name(p.state),
                protocol: if p.cfg.authority.is_some() {
                    "sv2"
                } else {
                    "sv1"
                },
                encrypted: p.encrypted && p.connected,
                priority: p.cfg.priority,
                weight: p.cfg.weight,
                difficulty: p.difficulty,
                extranonce2_size: p.current_extranonce().map_or(0, |x| x.e2_size),
                version_mask: p.version_mask,
                shares: p.shares.clone(),
                rejects: p.rejects.iter().map(|(r, n)| (r.to_string(), n)).collect(),
                connects: p.connects,
                last_error: p.last_error.to_string(),
                last_job_age_ms: p.job.as_ref().map(|_| now.saturating_sub(p.last_job_ms)),
                last_share_age_ms: (p.last_accepted_ms > 0)
                    .then(|| now.saturating_sub(p.last_accepted_ms)),
                state_age_ms: now.saturating_sub(p.state_since_ms),
                user: p.cfg.user.to_string(),
                disabled: p.disabled,
                rtt_ms: p.last_rtt_ms,
                miners: self.miners.iter().filter(|m| m.pool == Some(p.idx)).count(),
                split: self.pid.terms[p.idx],
                actual_24h_permille: self.history.mean_actual(p.idx),
            })
            .collect();
        let pool_names: Vec<String> = self.pools.iter().map(|p| p.cfg.name.to_string()).collect();
        let miners = self
            .miners
            .iter_mut()
            .map(|m| {
                let connected = m.connected_ms;
                let up = now.saturating_sub(m.connected_ms).max(1);
                MinerSnap {
                    id: m.id,
                    worker: m.worker.to_string(),
                    agent: m.agent.to_string(),
                    protocol: "sv1",
                    addr: m.addr,
                    tag: format!("{:02x}{:02x}", m.tag[0], m.tag[1]),
                    extranonce2_size: m.e2_size,
                    pool: m.pool.map(|p| pool_names[p].clone()),
                    difficulty: m.sent_difficulty,
                    shares: m.shares.clone(),
                    connected_ms: up,
                    last_share_age_ms: (m.last_share_ms > 0)
                        .then(|| now.saturating_sub(m.last_share_ms)),
                    best_share: (m.shares.best > 0).then_some(Difficulty(m.shares.best)),
                    switches: m.switches,
                    bytes_in: m.bytes_in,
                    bytes_out: 0,
                    hashrate_5m: m.rate.rate(now, 5, connected),
                    hashrate_1h: m.rate.rate(now, 60, connected),
                    sparkline: m.rate.history(now, connected),
                    hashrate: (m.shares.work_valid * 1000 / up as u128).min(u64::MAX as u128)
                        as u64,
                }
            })
            .collect();
        Snapshot {
            version: env!("CARGO_PKG_VERSION"),
            uptime_ms: now,
            heap_bytes: crate::stats::heap::in_use(),
            heap_peak_bytes: crate::stats::heap::peak(),
            pools,
            miners,
            refused: self.refused,
            split: self.cfg.split,
            workers: self.worker_totals_now(),
            departed: self.departed.clone(),
            sv2: None,
            stratum_port: self.cfg.listen.port(),
            control: self.cfg.api_token.is_some(),
        }
    }

    /// The split history of each configured pool, oldest minute first (for `/api/stats`;
    /// the page draws it from [`Core::history`] directly).
    pub fn history_snap(&self) -> Vec<PoolHistory> {
        self.pools
            .iter()
            .filter(|p| !p.vacant)
            .map(|p| PoolHistory {
                pool: p.cfg.name.to_string(),
                target_permille: self.history.iter().map(|s| at(&s.target, p.idx)).collect(),
                actual_permille: self.history.iter().map(|s| at(&s.actual, p.idx)).collect(),
            })
            .collect()
    }
}
