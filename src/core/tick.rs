//! Housekeeping, once a second on the runtime's clock: pool silence and handshake timeouts,
//! miner idle timeouts, requests that waited long enough for a pool, keepalives, vardiff,
//! hashrate reports, the PID and the scheduler, and the periodic stats save.

use super::assign::{job_for, local_difficulty, send_job};
use super::miner::MinerState;
use super::pool::{PoolState, ANSWER_TIMEOUT_MS};
use super::{
    Action, Core, ToMiner, ToPool, HANDSHAKE_TIMEOUT_MS, HASHRATE_REPORT_MS, KEEPALIVE_MS,
};

impl Core {
    /// Run the housekeeping due at `now`.
    pub fn tick(&mut self, now: u64) {
        let every = self.cfg.stats.save_interval_mins as u64 * 60_000;
        if self.cfg.stats.file.is_some() && now.saturating_sub(self.last_save_ms) >= every {
            self.last_save_ms = now;
            self.push(Action::SaveStats);
        }
        self.pool_timeouts(now);
        self.answer_timeouts(now);
        self.resolve_deferred(Some(now));
        self.miner_housekeeping(now);
        if now.saturating_sub(self.last_report_ms) >= HASHRATE_REPORT_MS {
            self.last_report_ms = now;
            for idx in 0..self.pools.len() {
                if self.pools[idx].connected {
                    let rate = self.pool_hashrate(idx, now);
                    self.push(Action::Pool(idx, ToPool::Hashrate(rate)));
                }
            }
        }
        self.evaluate_split(now);
        self.reassign(now);
    }

    /// Shares a connected pool has not answered in [`ANSWER_TIMEOUT_MS`] are counted lost:
    /// their slots are freed, so a pool that stops answering cannot hold its miners back.
    fn answer_timeouts(&mut self, now: u64) {
        for idx in 0..self.pools.len() {
            let mut lost = Vec::new();
            self.pools[idx].expire(now, |f| lost.push(f));
            if lost.is_empty() {
                continue;
            }
            let p = &mut self.pools[idx];
            p.shares.lost += lost.len() as u64;
            log::warn!(target: "share_lost",
                "pool {}: {} in {} s; counted lost",
                p.cfg.name,
                crate::stats::count_of(lost.len(), "share unanswered"),
                ANSWER_TIMEOUT_MS / 1000
            );
            for f in lost {
                self.credit_miner(f.miner, |c| c.lost += 1);
            }
        }
    }

    fn pool_timeouts(&mut self, now: u64) {
        let job_timeout = self.cfg.failover.job_timeout_secs as u64 * 1000;
        for idx in 0..self.pools.len() {
            let p = &self.pools[idx];
            match p.state {
                PoolState::Live if now.saturating_sub(p.last_job_ms) > job_timeout => {
                    let why = format!("no new job for {} s", job_timeout / 1000);
                    self.close_pool(idx, &why);
                }
                PoolState::Handshake
                    if now.saturating_sub(p.state_since_ms) > HANDSHAKE_TIMEOUT_MS =>
                {
                    self.close_pool(idx, "not ready 20 s after connecting");
                }
                _ => {}
            }
        }
    }

    fn miner_housekeeping(&mut self, now: u64) {
        let idle_timeout = self.cfg.miners.idle_timeout_secs as u64 * 1000;
        let floor = self.cfg.miners.min_difficulty;
        for m in self.miners.iter_mut() {
            m.update_hashrate(now);
            if m.closing {
                continue;
            }
            // A miner held back by its congested pool is silent because we do not read it.
            let held = m.pool.is_some_and(|p| self.pools[p].congested);
            if held {
                m.last_rx_ms = now;
            }
            if now.saturating_sub(m.last_rx_ms) > idle_timeout {
                log::info!(
                    "miner {}: nothing received for {} s; closing",
                    m.label(),
                    idle_timeout / 1000
                );
                m.closing = true;
                self.actions.push_back(Action::Miner(m.id, ToMiner::Close));
                continue;
            }
            if m.state != MinerState::Working {
                continue;
            }
            let current = m.pool.and_then(|p| job_for(&self.pools[p], m));
            let before = current.as_ref().map(|j| local_difficulty(m, j, floor));
            m.vardiff.retarget(now);
            let retarget = current.as_ref().map(|j| local_difficulty(m, j, floor)) != before;
            let quiet = now.saturating_sub(m.last_tx_ms) >= KEEPALIVE_MS;
            match current {
                // A new copy of the current job (new work, see `Miner::next_variant`): carries
                // a new difficulty, the pool's latest job held back by the notify gap, or just
                // keeps the miner from declaring us dead.
                Some(job) if retarget || quiet || m.job_due => {
                    send_job(&mut self.actions, m, job, false, floor, now)
                }
                None if quiet => {
                    let d = m.sent_difficulty.unwrap_or(m.vardiff.current());
                    self.actions
                        .push_back(Action::Miner(m.id, ToMiner::SetDifficulty(d)));
                    m.last_tx_ms = now;
                }
                _ => {}
            }
        }
    }

    /// Sum of the 5-minute hashrate estimates (H/s) of the miners working for `pool`.
    pub fn pool_hashrate(&mut self, pool: usize, now: u64) -> u64 {
        self.miners
            .iter_mut()
            .filter(|m| m.pool == Some(pool))
            .map(|m| {
                let since = m.connected_ms;
                m.rate.rate(now, 5, since)
            })
            .sum()
    }
}
