//! Assignment: which pool each miner works for, and the one place a miner's job is made.
//!
//! [`job_for`] decides whether a miner can take a pool's current job (the pool is usable, it
//! has a job, the miner's extranonce fits the job's origin, the pool covers the miner's version
//! mask). Every notify a miner receives goes through it, whether a pool's new job is broadcast,
//! a miner is placed or moved, or the housekeeping refreshes a miner's work.

use super::miner::{Miner, MinerState, SentJob};
use super::pool::Pool;
use super::split::scheduler::MinerInput;
use super::split::{self, Candidate, MinerNeeds};
use super::{Action, Core, ToMiner, MIN_NOTIFY_GAP_MS, POOL_FLOOR_RATIO};
use crate::work::job::Job;
use crate::work::Difficulty;
use crate::{MAX_MINERS, MAX_POOLS};
use std::collections::VecDeque;
use std::rc::Rc;

/// The job pool `p` can give miner `m` now, if any. The only place that decides whether a
/// miner fits a job.
pub(super) fn job_for(p: &Pool, m: &Miner) -> Option<Rc<Job>> {
    let job = p.job.as_ref().filter(|_| p.usable())?;
    let needs = needs(m);
    (job.fits(m.e2_size) && split::compatible(&candidate(p), &needs)).then(|| job.clone())
}

fn needs(m: &Miner) -> MinerNeeds {
    MinerNeeds {
        e2_size: m.e2_size,
        version_mask: m.version_mask,
    }
}

fn candidate(p: &Pool) -> Candidate {
    Candidate {
        idx: p.idx,
        live: p.usable(),
        priority: p.cfg.priority,
        extranonce2_size: p.current_extranonce().map_or(0, |x| x.e2_size),
        version_mask: p.version_mask,
    }
}

/// Pools (bit i = pool i) that are usable and can take a miner with these needs.
fn usable(cands: &[Candidate], needs: &MinerNeeds) -> u16 {
    cands
        .iter()
        .filter(|c| c.live && split::compatible(c, needs))
        .fold(0, |acc, c| acc | (1 << c.idx))
}

/// The difficulty miner `m` works at on `job`: its vardiff difficulty, capped by the job's
/// pool difficulty (the pool must see all the work the miner does), but never below
/// `min_difficulty` nor below vardiff / [`POOL_FLOOR_RATIO`]: a pool asking an absurdly low
/// difficulty gets every share the miner finds at that floor, not every hash.
pub(super) fn local_difficulty(m: &Miner, job: &Job, min: Difficulty) -> Difficulty {
    let v = m.vardiff.current();
    let floor = Difficulty((v.0 / POOL_FLOOR_RATIO).max(1)).max(min);
    v.min(job.origin.difficulty).max(floor)
}

/// Send `job` to `m`, preceded by a difficulty if it changes. The local difficulty never
/// exceeds the pool difficulty the job was issued under. `job` comes from [`job_for`]. A job
/// the miner had before goes out as a copy it never had ([`Miner::next_variant`]): every
/// notify is new work.
pub(super) fn send_job(
    actions: &mut VecDeque<Action>,
    m: &mut Miner,
    job: Rc<Job>,
    clean: bool,
    floor: Difficulty,
    now: u64,
) {
    let d = local_difficulty(m, &job, floor);
    if m.sent_difficulty != Some(d) {
        actions.push_back(Action::Miner(m.id, ToMiner::SetDifficulty(d)));
        m.sent_difficulty = Some(d);
    }
    let (id, crc) = m.new_job_id();
    let variant = m.next_variant(job.origin.pool, job.origin.serial);
    actions.push_back(Action::Miner(
        m.id,
        ToMiner::Notify {
            id,
            job: job.clone(),
            variant,
            e2_size: m.e2_size,
            clean,
        },
    ));
    m.pool = Some(job.origin.pool);
    m.jobs.push(SentJob {
        id,
        crc,
        job,
        difficulty: d,
        variant,
    });
    m.last_tx_ms = now;
    m.last_notify_ms = now;
    if clean {
        m.last_clean_ms = now;
    }
    m.job_due = false;
}

impl Core {
    fn candidates(&self) -> heapless::Vec<Candidate, MAX_POOLS> {
        self.pools.iter().map(candidate).collect()
    }

    fn pool_inputs(&self) -> heapless::Vec<split::pid::PoolInput, MAX_POOLS> {
        self.pools
            .iter()
            .map(|p| split::pid::PoolInput {
                weight: p.cfg.weight,
                live: p.usable(),
            })
            .collect()
    }

    /// Fractions for the weighted split, or None when no weighted pool is live (then miners
    /// fail over by priority, weight-0 pools included).
    fn split_fractions(&self) -> Option<[i64; MAX_POOLS]> {
        let inputs = self.pool_inputs();
        inputs
            .iter()
            .any(|p| p.live && p.weight > 0)
            .then(|| self.pid.fractions_now(&inputs))
    }

    /// Run the PID and the split history for this tick.
    pub(super) fn evaluate_split(&mut self, now: u64) {
        let inputs = self.pool_inputs();
        self.pid.evaluate(now, &inputs);
        let targets: heapless::Vec<i64, MAX_POOLS> = (0..self.pools.len())
            .map(|i| self.pid.terms[i].target_ppm)
            .collect();
        self.history.set_targets(&targets);
        self.history.roll(now);
    }

    /// A pool has a new job: give it to every miner working for that pool that fits it, or,
    /// to a miner that had a notify less than [`MIN_NOTIFY_GAP_MS`] ago, at the next tick
    /// (then the pool's latest job). A clean job may follow a plain one at once.
    pub(super) fn broadcast(&mut self, pool: usize, job: &Rc<Job>, now: u64) {
        let floor = self.cfg.miners.min_difficulty;
        let p = &self.pools[pool];
        for m in self.miners.iter_mut() {
            if m.state != MinerState::Working || m.closing || m.pool != Some(pool) {
                continue;
            }
            if m.jobs.latest().is_some_and(|s| Rc::ptr_eq(&s.job, job)) {
                // Placed on this pool by the same event: it has this job already.
                continue;
            }
            let recent = now.saturating_sub(m.last_notify_ms) < MIN_NOTIFY_GAP_MS;
            let clean_ok = job.clean && now.saturating_sub(m.last_clean_ms) >= MIN_NOTIFY_GAP_MS;
            if recent && !clean_ok {
                m.job_due = true;
                continue;
            }
            if let Some(j) = job_for(p, m).filter(|j| Rc::ptr_eq(j, job)) {
                send_job(&mut self.actions, m, j, job.clean, floor, now);
            }
        }
    }

    /// Move miners where the split (or, with no weighted pool live, priority failover) wants
    /// them; a miner that moves gets the new pool's current job at once (no reconnect).
    pub(super) fn reassign(&mut self, now: u64) {
        let cands = self.candidates();
        let fractions = self.split_fractions();
        let mut inputs = heapless::Vec::<MinerInput, MAX_MINERS>::new();
        for m in self
            .miners
            .iter()
            .filter(|m| m.state == MinerState::Working)
        {
            let _ = inputs.push(MinerInput {
                id: m.id,
                hashrate: m.hashrate.max(1),
                pool: m.pool,
                since_ms: m.since_ms,
                usable: usable(&cands, &needs(m)),
            });
        }
        let moves = match &fractions {
            Some(f) => self.sched.step(now, &f[..cands.len()], &inputs),
            None => self.sched.step(now, &[], &[]),
        };
        for i in 0..self.miners.len() {
            let m = &self.miners[i];
            if m.state != MinerState::Working || m.closing {
                continue;
            }
            let target = match moves.iter().find(|(id, _)| *id == m.id) {
                Some(&(_, p)) => Some(p),
                None => self.keep_or_fail_over(m, &cands, fractions.is_some()),
            };
            self.move_miner(i, target, now);
        }
    }

    /// Without a scheduler move: stay if the current pool is still usable (and in the split
    /// when there is one), else the best pool by priority.
    fn keep_or_fail_over(&self, m: &Miner, cands: &[Candidate], weighted: bool) -> Option<usize> {
        let needs = needs(m);
        let ok = usable(cands, &needs);
        let weight_ok = |p: usize| !weighted || self.pools[p].cfg.weight > 0;
        match m.pool {
            Some(p) if ok & (1 << p) != 0 && weight_ok(p) => Some(p),
            _ => split::choose(cands, &needs),
        }
    }

    /// Place a miner that has just become ready.
    pub(super) fn assign(&mut self, i: usize, now: u64) {
        let cands = self.candidates();
        let needs = needs(&self.miners[i]);
        let target = match self.split_fractions() {
            Some(f) => self.place(i, &f[..cands.len()], usable(&cands, &needs)),
            None => None,
        }
        .or_else(|| split::choose(&cands, &needs));
        self.move_miner(i, target, now);
    }

    /// Starting pool for a new miner: the usable pool furthest below its fraction in miner
    /// count (the scheduler refines by hashrate and time from there).
    fn place(&self, i: usize, fractions: &[i64], usable: u16) -> Option<usize> {
        let mut counts = [0i64; MAX_POOLS];
        let mut total = 1i64;
        for (j, o) in self.miners.iter().enumerate() {
            if let (true, MinerState::Working, Some(p)) = (j != i, o.state, o.pool) {
                counts[p] += 1;
                total += 1;
            }
        }
        (0..fractions.len())
            .filter(|&p| fractions[p] > 0 && usable & (1 << p) != 0)
            .max_by_key(|&p| {
                (
                    fractions[p] * total - counts[p] * 1_000_000,
                    std::cmp::Reverse(p),
                )
            })
    }

    fn move_miner(&mut self, i: usize, target: Option<usize>, now: u64) {
        let m = &mut self.miners[i];
        if target.is_some() && target == m.pool && m.jobs.latest().is_some() {
            return;
        }
        let Some(t) = target else {
            if m.pool.take().is_some() {
                if self.pools.iter().any(|p| p.usable()) {
                    // A pool is live but cannot take this miner's extranonce or mask: make the
                    // miner reconnect so it is sized for the pools we have now.
                    log::warn!(target: "miner_switched",
                        "miner {}: no live pool fits its extranonce2 size {} / version mask; reconnecting it",
                        m.label(),
                        m.e2_size
                    );
                    m.closing = true;
                    self.actions.push_back(Action::Miner(m.id, ToMiner::Close));
                } else {
                    log::warn!(target: "miner_switched", "miner {}: no live pool; keeping it connected", m.label());
                }
            }
            return;
        };
        let Some(job) = job_for(&self.pools[t], m) else {
            return;
        };
        let old = m.pool;
        // Work for the old pool stays valid while that pool is live: don't make the miner drop it.
        let old_live = old.is_some_and(|o| self.pools[o].is_live());
        let floor = self.cfg.miners.min_difficulty;
        send_job(&mut self.actions, m, job, !old_live, floor, now);
        m.since_ms = now;
        if let Some(o) = old.filter(|&o| o != t) {
            m.switches += 1;
            log::info!(target: "miner_switched",
                "miner {} switched from pool {} to pool {}",
                m.label(),
                self.pools[o].cfg.name,
                self.pools[t].cfg.name
            );
        }
    }
}
