//! Upstream events: what a pool connection reports, applied to the pool's facts.
//!
//! The pool holds each fact once: its extranonce space, version mask, difficulty and current
//! job. A new extranonce space voids the pool's jobs (epoch and job cleared) until the pool
//! sends a job built on it; miners working for the pool wait for that job or go elsewhere.

use super::pool::{Extranonce, InFlight, PoolEvent};
use super::{
    Action, Core, ToMiner, ToPool, Upstream, FLOOD_JOBS_PER_SEC, MIN_NOTIFY_GAP_MS,
    POOL_FLOOR_RATIO,
};

/// How often a pool that keeps failing to come up is reported as still down.
pub const DOWN_REPORT_MS: u64 = 10 * 60_000;
use crate::work::job::{miner_e2_size, Job, MAX_E1};
use std::rc::Rc;

impl Core {
    /// Apply an event from pool `idx`'s connection.
    pub fn handle_pool(&mut self, idx: usize, ev: Upstream<'_>, now: u64) {
        if idx >= self.pools.len() {
            return;
        }
        match ev {
            Upstream::Connecting => {
                self.pools[idx].on(PoolEvent::Connecting, now);
            }
            Upstream::Connected { encrypted } => {
                let p = &mut self.pools[idx];
                p.begin_connection(encrypted, now);
                p.closing = false;
            }
            Upstream::VersionMask(mask) => self.set_version_mask(idx, mask),
            Upstream::Extranonce { prefix, e2_size } => self.set_extranonce(idx, prefix, e2_size),
            Upstream::Authorized => {
                self.pools[idx].authorized = true;
                self.maybe_ready(idx, now);
            }
            Upstream::Target(d) => {
                let floor = self.cfg.miners.min_difficulty;
                let p = &mut self.pools[idx];
                log::debug!("pool {}: difficulty {d}", p.cfg.name);
                p.difficulty = d;
                let below = d < floor;
                if below && !p.below_floor {
                    let why = format!(
                        "asks difficulty {d}, below miners.min_difficulty {floor}: miners stay at or above {floor} (and at least 1/{POOL_FLOOR_RATIO} of their vardiff difficulty); every share they find still goes to the pool"
                    );
                    log::warn!(target: "pool_message", "pool {}: {why}", p.cfg.name);
                    p.set_error(&why);
                }
                p.below_floor = below;
            }
            Upstream::Job(t) => {
                let p = &mut self.pools[idx];
                if p.current_extranonce().is_none() {
                    log::warn!(
                        "pool {}: job {} before the extranonce was known; dropped",
                        p.cfg.name,
                        t.id
                    );
                    return;
                }
                let new_block = t.clean || p.job.as_ref().is_some_and(|j| j.prevhash != t.prevhash);
                if new_block {
                    p.epoch = p.epoch.wrapping_add(1);
                }
                p.jobs_made += 1;
                let second = now / 1000;
                if second != p.flood_second {
                    p.flood_second = second;
                    p.jobs_in_second = 0;
                }
                p.jobs_in_second += 1;
                let quiet_since = p
                    .flood_reported_ms
                    .is_none_or(|t| now.saturating_sub(t) >= 60_000);
                if p.jobs_in_second > FLOOD_JOBS_PER_SEC && quiet_since {
                    p.flood_reported_ms = Some(now);
                    let why = format!(
                        "sends more than {FLOOD_JOBS_PER_SEC} jobs a second; each miner gets its latest job at most once every {MIN_NOTIFY_GAP_MS} ms"
                    );
                    log::warn!(target: "pool_message", "pool {}: {why}", p.cfg.name);
                    p.set_error(&why);
                }
                let Some(origin) = p.job_origin() else { return };
                let was_usable = p.usable();
                let job = Rc::new(Job::new(*t, origin));
                p.job = Some(job.clone());
                p.last_job_ms = now;
                self.maybe_ready(idx, now);
                if !was_usable {
                    // Usable again (first job, or first after an extranonce change): miners
                    // that waited for it are placed now, not at the next tick.
                    self.reassign(now);
                }
                self.broadcast(idx, &job, now);
            }
            Upstream::BlockWithoutJob => {
                let p = &mut self.pools[idx];
                p.epoch = p.epoch.wrapping_add(1);
                p.job = None;
                log::warn!(
                    "pool {}: new block without a job; waiting for one",
                    p.cfg.name
                );
            }
            Upstream::Verdict {
                id,
                accepted,
                reason,
            } => self.verdict(idx, id, accepted, reason, now),
            Upstream::AcceptedRange { first, last } => {
                let cap = self.pools[idx].inflight_capacity() as u64;
                let first = first.max(last.saturating_sub(cap));
                for id in first..=last {
                    if self.pools[idx].is_waiting(id) {
                        self.verdict(idx, id, true, "", now);
                    }
                }
            }
            Upstream::Lost {
                why,
                retry_after_ms,
            } => self.pool_lost(idx, why, retry_after_ms, now),
        }
    }

    fn set_version_mask(&mut self, idx: usize, mask: Option<u32>) {
        let p = &mut self.pools[idx];
        p.version_mask = mask;
        match mask {
            Some(m) => log::info!("pool {}: version rolling mask {m:08x}", p.cfg.name),
            None => log::info!("pool {}: no version rolling", p.cfg.name),
        }
        let Some(mask) = mask else { return };
        // Miners working for this pool with a wider mask are told (some firmwares honour it).
        for m in self.miners.iter_mut() {
            if m.pool != Some(idx) || m.closing {
                continue;
            }
            if let Some(mm) = m.version_mask {
                if mm & !mask != 0 {
                    let nm = mm & mask;
                    m.version_mask = Some(nm);
                    self.actions
                        .push_back(Action::Miner(m.id, ToMiner::SetVersionMask(nm)));
                }
            }
        }
    }

    fn set_extranonce(&mut self, idx: usize, prefix: &[u8], e2_size: usize) {
        let p = &mut self.pools[idx];
        if prefix.len() > MAX_E1 || e2_size > 32 || miner_e2_size(e2_size).is_none() {
            let why = format!(
                "extranonce2_size {e2_size} (prefix {} bytes) cannot be shared between miners (needs 4..=32, prefix <= {MAX_E1}); this pool is not usable",
                prefix.len()
            );
            self.close_pool(idx, &why);
            return;
        }
        let x = Extranonce {
            prefix: heapless::Vec::from_slice(prefix).unwrap_or_default(),
            e2_size,
            conn_gen: p.conn_gen,
        };
        let changed = p.current_extranonce().is_some_and(|old| *old != x);
        p.extranonce = Some(x);
        if changed {
            // Jobs built on the old space cannot take new shares, and a miner sized for the new
            // one may not fit them: nothing is handed out until the pool's next job.
            p.epoch = p.epoch.wrapping_add(1);
            p.job = None;
            log::info!(
                "pool {}: new extranonce ({} bytes prefix, extranonce2_size {e2_size}); its jobs are void until the next",
                p.cfg.name,
                prefix.len()
            );
        } else {
            log::info!(target: "pool_connected",
                "pool {}: extranonce {} bytes, extranonce2_size {e2_size}",
                p.cfg.name,
                prefix.len()
            );
        }
        self.resolve_deferred(None);
    }

    /// Mark a pool live if it is authorized and has a job; moves miners if it became live.
    fn maybe_ready(&mut self, idx: usize, now: u64) {
        let p = &mut self.pools[idx];
        if !(p.authorized && p.job.is_some()) {
            return;
        }
        p.failures = 0;
        if p.on(PoolEvent::Ready, now) {
            self.reassign(now);
        }
    }

    /// Ask pool `idx`'s connection to close; `why` is what the page and the log will say.
    pub(super) fn close_pool(&mut self, idx: usize, why: &str) {
        let p = &mut self.pools[idx];
        if !p.connected || p.closing {
            return;
        }
        log::warn!("pool {}: {why}; closing the connection", p.cfg.name);
        p.set_error(why);
        p.closing = true;
        self.push(Action::Pool(idx, ToPool::Close));
    }

    /// A pool connection ended: its unanswered shares are lost, it waits, miners move.
    fn pool_lost(&mut self, idx: usize, why: &str, retry_after_ms: Option<u64>, now: u64) {
        let (min, max) = (
            self.cfg.failover.backoff_min_ms,
            self.cfg.failover.backoff_max_ms,
        );
        let mut lost = Vec::<InFlight>::new();
        let p = &mut self.pools[idx];
        p.failures = p.failures.saturating_add(1);
        let seed = now ^ ((idx as u64) << 32) ^ p.connects;
        let delay =
            retry_after_ms.unwrap_or_else(|| super::backoff::delay_ms(p.failures, min, max, seed));
        lost.extend(p.drain_inflight());
        p.shares.lost += lost.len() as u64;
        if !p.closing {
            p.set_error(why);
        }
        let why = p.last_error.clone();
        p.closing = false;
        p.connected = false;
        p.authorized = false;
        p.job = None;
        let was_live = p.is_live();
        p.on(
            PoolEvent::Lost {
                retry_at_ms: now + delay,
            },
            now,
        );
        // Say it when a live pool goes, at the first failed attempt, then every
        // DOWN_REPORT_MS: a day of a dead pool is a few hundred lines, not thousands.
        if was_live || p.failures == 1 || !lost.is_empty() {
            p.down_reported_ms = now;
            log::warn!(target: "pool_lost",
                "pool {} lost{}: {why}; {} counted lost; retry in {delay} ms",
                p.cfg.name,
                if was_live { " (was live)" } else { "" },
                crate::stats::count_of(lost.len(), "unanswered share")
            );
        } else if now.saturating_sub(p.down_reported_ms) >= DOWN_REPORT_MS {
            p.down_reported_ms = now;
            log::warn!(target: "pool_lost",
                "pool {} still down ({} attempts, last error: {why}); retry in {delay} ms",
                p.cfg.name,
                p.failures
            );
        } else {
            log::debug!("pool {}: attempt {} failed: {why}", p.cfg.name, p.failures);
        }
        for f in &lost {
            self.credit_miner(f.miner, |s| s.lost += 1);
        }
        self.reassign(now);
    }
}
