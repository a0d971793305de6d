//! The proxy: owns the pool and miner tables and runs everything on one `LocalExecutor`.
//!
//! All state lives in `RefCell`s reached through one `Rc<Proxy>`; no borrow is ever held
//! across an `.await`. Cross-cutting actions live here: sending a job to a miner, moving
//! miners between pools ([`Proxy::reassign`]), forwarding shares, counting verdicts, and the
//! once-a-second housekeeping ([`Proxy::tick`]: keepalives, idle and silence timeouts, vardiff).

use crate::config::Config;
use crate::io::Outbox;
use crate::miners::{Miner, MinerState};
use crate::pools::{InFlight, Pool, PoolEvent, PoolState};
use crate::split::pid::{Pid, PoolInput};
use crate::split::scheduler::{MinerInput, Scheduler};
use crate::split::{self, Candidate, MinerNeeds};
use crate::stats::ShareCounters;
use crate::stratum::emit;
use crate::work::job::{Job, TAG_SIZE};
use crate::work::Difficulty;
use crate::{MAX_MINERS, MAX_POOLS};
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Something is sent to every miner at least this often (cgminer gives up after ~90 s).
pub const KEEPALIVE_MS: u64 = 55_000;
/// A pool connection that is not live this long after connecting is dropped.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 20_000;

pub type MinerRef = Rc<RefCell<Miner>>;

pub struct Proxy {
    pub cfg: RefCell<Config>,
    pub pools: heapless::Vec<RefCell<Pool>, MAX_POOLS>,
    pub miners: RefCell<heapless::Vec<MinerRef, MAX_MINERS>>,
    start: Instant,
    /// Added to the clock; lets tests jump forward in time without sleeping.
    skew_ms: Cell<u64>,
    next_miner_id: Cell<u32>,
    next_tag: Cell<u16>,
    /// Connections refused because the miner table was full.
    pub refused: Cell<u64>,
    /// Counters of miners that have disconnected (so totals survive them).
    pub departed: RefCell<ShareCounters>,
    pub stratum_addr: Cell<Option<SocketAddr>>,
    pub http_addr: Cell<Option<SocketAddr>>,
    /// The split controller (accepted work → fractions) and scheduler (fractions → miners).
    pub pid: RefCell<Pid>,
    pub sched: RefCell<Scheduler>,
    /// Per-minute target vs measured split for the last 24 h (the page's chart).
    pub history: RefCell<crate::stats::history::History>,
    /// Totals per worker name of miners that have left (and those loaded at start).
    pub worker_totals: RefCell<Vec<(String, ShareCounters)>>,
    last_save_ms: Cell<u64>,
    last_tick_ms: Cell<u64>,
    /// The file the config came from (reload reads it again).
    pub config_path: RefCell<Option<std::path::PathBuf>>,
}

impl Proxy {
    pub fn new(cfg: Config) -> Rc<Proxy> {
        let split = cfg.split;
        let mut pools = heapless::Vec::new();
        for (i, p) in cfg.pools.iter().enumerate() {
            let _ = pools.push(RefCell::new(Pool::new(i, p.clone())));
        }
        // Every slot exists from the start, so a reload can add pools without moving any.
        for i in cfg.pools.len()..MAX_POOLS {
            let _ = pools.push(RefCell::new(Pool::vacant(i)));
        }
        Rc::new(Proxy {
            cfg: RefCell::new(cfg),
            pools,
            miners: RefCell::new(heapless::Vec::new()),
            start: Instant::now(),
            skew_ms: Cell::new(0),
            next_miner_id: Cell::new(1),
            next_tag: Cell::new(0),
            refused: Cell::new(0),
            departed: RefCell::new(ShareCounters::default()),
            stratum_addr: Cell::new(None),
            http_addr: Cell::new(None),
            pid: RefCell::new(Pid::new(split.pid(), 0)),
            sched: RefCell::new(Scheduler::new(split.sched(), 0)),
            last_tick_ms: Cell::new(0),
            history: RefCell::new(crate::stats::history::History::new()),
            worker_totals: RefCell::new(Vec::new()),
            last_save_ms: Cell::new(0),
            config_path: RefCell::new(None),
        })
    }

    /// Set pool weights by name (control API). All names must exist; nothing changes otherwise.
    pub fn set_weights(&self, weights: &[(&str, u32)]) -> Result<(), String> {
        for (name, w) in weights {
            if !self.pools.iter().any(|p| p.borrow().cfg.name == *name) {
                return Err(format!("no pool named {name:?}"));
            }
            if *w > 10_000 {
                return Err(format!(
                    "weight of {name:?} must be at most 10000 (found {w})"
                ));
            }
        }
        let mut cfg = self.cfg.borrow_mut();
        for (name, w) in weights {
            for p in self.pools.iter() {
                let mut p = p.borrow_mut();
                if p.cfg.name == *name {
                    p.cfg.weight = *w;
                }
            }
            if let Some(c) = cfg.pools.iter_mut().find(|c| c.name == *name) {
                c.weight = *w;
            }
        }
        drop(cfg);
        self.pid.borrow_mut().reset();
        log::info!(target: "control", "split weights set: {weights:?}");
        self.reassign();
        Ok(())
    }

    /// Take a pool out of the split and failover (`false`) or put it back (control API).
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), String> {
        let slot = self
            .pools
            .iter()
            .find(|p| p.borrow().cfg.name == name)
            .ok_or_else(|| format!("no pool named {name:?}"))?;
        slot.borrow_mut().disabled = !enabled;
        log::info!(target: "control",
            "pool {name}: {} by the operator",
            if enabled { "enabled" } else { "disabled" }
        );
        self.reassign();
        Ok(())
    }

    /// New split settings from the control API: same effect as a reload that changes them.
    pub fn set_split(&self, s: crate::split::SplitConfig) {
        self.cfg.borrow_mut().split = s;
        self.apply_split_settings(&s);
        log::info!(target: "control",
            "split settings set: preset {}",
            s.preset.map(|p| p.name()).unwrap_or("custom")
        );
    }

    /// New split settings (config reload, later the control API).
    pub fn apply_split_settings(&self, s: &crate::split::SplitConfig) {
        let mut pid = self.pid.borrow_mut();
        let window_changed = pid.settings.window != s.pid().window;
        pid.settings = s.pid();
        if window_changed {
            // The ring is indexed by the window length: start measuring afresh.
            pid.reset();
        }
        drop(pid);
        self.sched.borrow_mut().settings = s.sched();
    }

    /// Milliseconds since the proxy started (monotonic).
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + self.skew_ms.get()
    }

    /// Move the proxy's clock forward (tests of timeouts and keepalives).
    pub fn advance_clock(&self, ms: u64) {
        self.skew_ms.set(self.skew_ms.get() + ms);
    }

    // ----- miners table -------------------------------------------------------------------

    /// Add a miner if there is room (`miners.max`); returns it, or None if the table is full.
    pub fn add_miner(&self, addr: SocketAddr, out: Rc<Outbox>) -> Option<MinerRef> {
        let cfg = self.cfg.borrow();
        let mut miners = self.miners.borrow_mut();
        if miners.len() >= cfg.miners.max.min(MAX_MINERS) {
            self.refused.set(self.refused.get() + 1);
            log::warn!(target: "miner_refused",
                "miner table full ({} miners): refusing {addr}",
                miners.len()
            );
            return None;
        }
        let same_ip = miners
            .iter()
            .filter(|m| m.borrow().addr.ip() == addr.ip())
            .count();
        if same_ip >= cfg.miners.max_per_address {
            self.refused.set(self.refused.get() + 1);
            log::warn!(target: "miner_refused",
                "{} miner connections from {} already (miners.max_per_address): refusing {addr}",
                same_ip,
                addr.ip()
            );
            return None;
        }
        let tag = self.alloc_tag(&miners);
        let id = self.next_miner_id.get();
        self.next_miner_id.set(id.wrapping_add(1));
        let now = self.now_ms();
        let s = &cfg.miners;
        let vd = crate::miners::vardiff::Vardiff::new(
            s.start_difficulty,
            s.min_difficulty,
            s.max_difficulty,
            s.shares_per_min,
            now,
        );
        let m = Rc::new(RefCell::new(Miner::new(id, tag, addr, out, vd, now)));
        let _ = miners.push(m.clone());
        log::info!(target: "miner_connected",
            "miner #{id} connected from {addr} (tag {:02x}{:02x}, {} miners)",
            tag[0],
            tag[1],
            miners.len()
        );
        Some(m)
    }

    /// Tags are handed out round-robin over the whole 16-bit space, skipping those in use, so
    /// a tag is not reused soon after its miner left (its old work could still be in flight).
    fn alloc_tag(&self, miners: &[MinerRef]) -> [u8; TAG_SIZE] {
        loop {
            let t = self.next_tag.get().wrapping_add(1);
            self.next_tag.set(t);
            let tag = t.to_be_bytes();
            if !miners.iter().any(|m| m.borrow().tag == tag) {
                return tag;
            }
        }
    }

    pub fn remove_miner(&self, id: u32, why: &str) {
        let mut miners = self.miners.borrow_mut();
        if let Some(i) = miners.iter().position(|m| m.borrow().id == id) {
            let m = miners.swap_remove(i);
            let m = m.borrow();
            m.out.close();
            add_counters(&mut self.departed.borrow_mut(), &m.shares);
            self.fold_worker(&m.worker, &m.shares);
            log::info!(target: "miner_disconnected",
                "miner {} disconnected: {why} ({} miners)",
                m.label(),
                miners.len()
            );
        }
    }

    /// Run `f` on a miner's counters if it is still connected. A miner borrowed further up
    /// the call stack (the one whose submit is being forwarded) is skipped while searching:
    /// callers credit that one directly.
    fn credit_miner(&self, id: u32, f: impl FnOnce(&mut ShareCounters)) {
        let miners = self.miners.borrow();
        let found = miners
            .iter()
            .filter_map(|m| m.try_borrow_mut().ok())
            .find(|m| m.id == id);
        if let Some(mut m) = found {
            f(&mut m.shares);
        }
    }

    // ----- pool facts miners depend on ------------------------------------------------------

    /// Smallest extranonce2 size among pools that have ever told us theirs.
    pub fn smallest_pool_e2(&self) -> Option<usize> {
        self.pools
            .iter()
            .filter_map(|p| p.borrow().known_e2_size)
            .min()
    }

    /// Intersection of the version masks of every pool that answered `mining.configure` with
    /// rolling enabled; `None` if none did yet.
    pub fn pools_version_mask(&self) -> Option<u32> {
        self.pools
            .iter()
            .filter_map(|p| p.borrow().version_mask)
            .reduce(|a, b| a & b)
    }

    /// Whether any pool has reported its extranonce size (so miners can be sized).
    pub fn pools_known(&self) -> bool {
        self.smallest_pool_e2().is_some()
    }

    fn candidates(&self) -> heapless::Vec<Candidate, MAX_POOLS> {
        self.pools
            .iter()
            .map(|p| {
                let p = p.borrow();
                Candidate {
                    idx: p.idx,
                    live: p.is_live() && p.job.is_some() && !p.disabled,
                    priority: p.cfg.priority,
                    extranonce2_size: p.extranonce2_size,
                    version_mask: p.version_mask,
                }
            })
            .collect()
    }

    // ----- jobs to miners -------------------------------------------------------------------

    /// Send `job` to `m`, preceded by `mining.set_difficulty` if its difficulty changes.
    /// The local difficulty never exceeds the pool difficulty the job was issued under.
    pub fn send_job(&self, m: &mut Miner, job: &Rc<Job>, clean: bool) {
        let d = m.vardiff.current().min(job.origin.difficulty);
        let new_diff = m.sent_difficulty != Some(d);
        let (id, crc) = m.new_job_id();
        let body = job.notify_body(m.e2_size);
        let ok = m.out.push(|b| {
            if new_diff {
                emit::set_difficulty(b, &d.to_string());
            }
            emit::notify(b, id, &body, clean);
        });
        if !ok {
            log::warn!(
                "miner {}: output buffer full, dropping the connection",
                m.label()
            );
            return;
        }
        m.sent_difficulty = Some(d);
        m.jobs.push(crate::miners::SentJob {
            id,
            crc,
            job: job.clone(),
            difficulty: d,
        });
        m.pool = Some(job.origin.pool);
        m.last_tx_ms = self.now_ms();
    }

    /// A pool has a new job: give it to every miner working for that pool.
    pub fn broadcast(&self, pool: usize, job: &Rc<Job>) {
        let miners = self.miners.borrow();
        for m in miners.iter() {
            let mut m = m.borrow_mut();
            if m.state == MinerState::Working && m.pool == Some(pool) && job.fits(m.e2_size) {
                self.send_job(&mut m, job, job.clean);
            }
        }
    }

    fn pool_inputs(&self) -> heapless::Vec<PoolInput, MAX_POOLS> {
        self.pools
            .iter()
            .map(|p| {
                let p = p.borrow();
                PoolInput {
                    weight: p.cfg.weight,
                    live: p.is_live() && p.job.is_some() && !p.disabled,
                }
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
            .then(|| self.pid.borrow().fractions_now(&inputs))
    }

    /// Pools (bit i = pool i) that are live and can take this miner.
    fn usable(cands: &[Candidate], needs: &MinerNeeds) -> u16 {
        cands
            .iter()
            .filter(|c| c.live && split::compatible(c, needs))
            .fold(0, |acc, c| acc | (1 << c.idx))
    }

    /// Move miners where the split (or, with no weighted pool live, priority failover) wants
    /// them; a miner that moves gets the new pool's current job at once (no reconnect).
    pub fn reassign(&self) {
        let now = self.now_ms();
        let cands = self.candidates();
        let fractions = self.split_fractions();
        let miners = self.miners.borrow();
        let mut inputs = heapless::Vec::<MinerInput, MAX_MINERS>::new();
        for m in miners.iter() {
            let m = m.borrow();
            if m.state == MinerState::Working {
                let needs = MinerNeeds {
                    e2_size: m.e2_size,
                    version_mask: m.version_mask,
                };
                let _ = inputs.push(MinerInput {
                    id: m.id,
                    hashrate: m.hashrate.max(1),
                    pool: m.pool,
                    since_ms: m.since_ms,
                    usable: Self::usable(&cands, &needs),
                });
            }
        }
        let moves = match &fractions {
            Some(f) => self
                .sched
                .borrow_mut()
                .step(now, &f[..cands.len()], &inputs),
            None => self.sched.borrow_mut().step(now, &[], &[]),
        };
        for mref in miners.iter() {
            let mut m = mref.borrow_mut();
            if m.state != MinerState::Working {
                continue;
            }
            let target = match moves.iter().find(|(id, _)| *id == m.id) {
                Some(&(_, p)) => Some(p),
                None => self.keep_or_fail_over(&m, &cands, fractions.is_some()),
            };
            self.move_miner(&mut m, target, &cands);
        }
    }

    /// Without a scheduler move: stay if the current pool is still usable (and in the split
    /// when there is one), else the best pool by priority.
    fn keep_or_fail_over(&self, m: &Miner, cands: &[Candidate], weighted: bool) -> Option<usize> {
        let needs = MinerNeeds {
            e2_size: m.e2_size,
            version_mask: m.version_mask,
        };
        let usable = Self::usable(cands, &needs);
        let weight_ok = |p: usize| !weighted || self.pools[p].borrow().cfg.weight > 0;
        match m.pool {
            Some(p) if usable & (1 << p) != 0 && weight_ok(p) => Some(p),
            _ => split::choose(cands, &needs),
        }
    }

    /// Place a miner that has just become ready.
    pub fn assign(&self, m: &mut Miner) {
        let cands = self.candidates();
        let needs = MinerNeeds {
            e2_size: m.e2_size,
            version_mask: m.version_mask,
        };
        let target = match self.split_fractions() {
            Some(f) => self.place(&f[..cands.len()], Self::usable(&cands, &needs)),
            None => None,
        }
        .or_else(|| split::choose(&cands, &needs));
        self.move_miner(m, target, &cands);
    }

    /// Starting pool for a new miner: the usable pool furthest below its fraction in miner
    /// count (the scheduler refines by hashrate and time from there). `m` itself is borrowed
    /// by the caller and skipped.
    fn place(&self, fractions: &[i64], usable: u16) -> Option<usize> {
        let mut counts = [0i64; MAX_POOLS];
        let mut total = 1i64;
        for other in self.miners.borrow().iter() {
            if let Ok(o) = other.try_borrow() {
                if let (MinerState::Working, Some(p)) = (o.state, o.pool) {
                    counts[p] += 1;
                    total += 1;
                }
            }
        }
        (0..fractions.len())
            .filter(|&i| fractions[i] > 0 && usable & (1 << i) != 0)
            .max_by_key(|&i| {
                (
                    fractions[i] * total - counts[i] * 1_000_000,
                    std::cmp::Reverse(i),
                )
            })
    }

    fn move_miner(&self, m: &mut Miner, target: Option<usize>, cands: &[Candidate]) {
        if target == m.pool && m.jobs.latest().is_some() {
            return;
        }
        let Some(t) = target else {
            if m.pool.take().is_some() {
                let misfit = cands.iter().any(|c| c.live);
                if misfit {
                    // A pool is live but cannot take this miner's extranonce or mask: make the
                    // miner reconnect so it is sized for the pools we have now.
                    log::warn!(target: "miner_switched",
                        "miner {}: no live pool fits its extranonce2 size {} / version mask; reconnecting it",
                        m.label(),
                        m.e2_size
                    );
                    m.out.close();
                } else {
                    log::warn!(target: "miner_switched", "miner {}: no live pool; keeping it connected", m.label());
                }
            }
            return;
        };
        let Some(job) = self.pools[t].borrow().job.clone() else {
            return;
        };
        let old = m.pool;
        // Work for the old pool stays valid while that pool is live: don't make the miner drop it.
        let old_live = old.is_some_and(|o| self.pools[o].borrow().is_live());
        self.send_job(m, &job, !old_live);
        m.since_ms = self.now_ms();
        if let Some(o) = old {
            if o != t {
                m.switches += 1;
                log::info!(target: "miner_switched",
                    "miner {} switched from pool {} to pool {}",
                    m.label(),
                    self.pools[o].borrow().cfg.name,
                    self.pools[t].borrow().cfg.name
                );
            }
        }
    }

    // ----- shares to pools ------------------------------------------------------------------

    /// Forward a share to the pool that issued `job`. Counts `forwarded` and, if it cannot be
    /// sent, `lost`, on both the pool and `m`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        m: &mut Miner,
        job: &Job,
        e2_pool: &[u8],
        ntime: u32,
        nonce: u32,
        version_bits: Option<u32>,
    ) {
        let mut p = self.pools[job.origin.pool].borrow_mut();
        p.shares.forwarded += 1;
        m.shares.forwarded += 1;
        let out = match &p.out {
            Some(o) if p.conn_gen == job.origin.conn_gen && !o.is_closed() => o.clone(),
            _ => {
                p.shares.lost += 1;
                m.shares.lost += 1;
                log::warn!(target: "share_lost",
                    "pool {}: share from miner {} lost: pool connection gone",
                    p.cfg.name,
                    m.label()
                );
                return;
            }
        };
        let id = p.next_id;
        p.next_id += 1;
        let now = self.now_ms();
        let diff = job.origin.difficulty.min(p.difficulty);
        let evicted = p.track(InFlight {
            id,
            miner: m.id,
            difficulty: diff,
            sent_ms: now,
        });
        let user = p.cfg.user.clone();
        #[cfg(feature = "sv2")]
        let sv2_channel = p.sv2.as_ref().and_then(|l| l.channel_id);
        #[cfg(not(feature = "sv2"))]
        let sv2_channel: Option<u32> = None;
        let queued = match sv2_channel {
            #[cfg(feature = "sv2")]
            Some(channel_id) => out.push(|b| {
                let mask = p.version_mask.unwrap_or(0);
                let share = crate::stratum2::msg::SubmitExtended {
                    channel_id,
                    sequence_number: id as u32,
                    job_id: job.id.parse().unwrap_or(0),
                    nonce,
                    ntime,
                    version: crate::work::hash::rolled_version(
                        job.version,
                        version_bits.unwrap_or(0),
                        mask,
                    ),
                    extranonce: e2_pool,
                };
                let _ = crate::stratum2::msg::submit_shares_extended(b, &share);
            }),
            _ => out
                .push(|b| emit::submit(b, id, &user, &job.id, e2_pool, ntime, nonce, version_bits)),
        };
        if !queued {
            p.answer(id);
            p.shares.lost += 1;
            m.shares.lost += 1;
            log::warn!(
                "pool {}: output buffer full; share lost, dropping the connection",
                p.cfg.name
            );
        }
        if let Some(old) = evicted {
            p.shares.lost += 1;
            log::warn!(target: "share_lost",
                "pool {}: {} shares await answers; the oldest ({}, sent {} ms ago) is counted lost",
                p.cfg.name,
                crate::pools::INFLIGHT,
                old.id,
                now - old.sent_ms
            );
            drop(p);
            if old.miner == m.id {
                m.shares.lost += 1;
            } else {
                self.credit_miner(old.miner, |s| s.lost += 1);
            }
        }
    }

    /// Like [`Proxy::verdict`], silently skipping an `id` already answered (an SV2 batch
    /// acknowledgement covers shares refused one by one before it).
    pub fn verdict_if_waiting(&self, pool: usize, id: u64, accepted: bool, reason: &str) {
        if self.pools[pool].borrow().is_waiting(id) {
            self.verdict(pool, id, accepted, reason);
        }
    }

    /// Sum of the 5-minute hashrate estimates (H/s) of the miners working for `pool`.
    pub fn pool_hashrate(&self, pool: usize) -> u64 {
        let now = self.now_ms();
        self.miners
            .borrow()
            .iter()
            .map(|m| {
                let mut m = m.borrow_mut();
                if m.pool == Some(pool) {
                    let since = m.connected_ms;
                    m.rate.rate(now, 5, since)
                } else {
                    0
                }
            })
            .sum()
    }

    /// The pool answered submit `id`.
    pub fn verdict(&self, pool: usize, id: u64, accepted: bool, reason: &str) {
        let mut p = self.pools[pool].borrow_mut();
        let Some(f) = p.answer(id) else {
            log::debug!("pool {}: answer to unknown request {id}", p.cfg.name);
            return;
        };
        p.last_rtt_ms = self.now_ms().saturating_sub(f.sent_ms);
        if accepted {
            p.shares.add_accepted(f.difficulty);
        } else {
            p.shares.rejected += 1;
            p.rejects.add(reason);
            self.pid.borrow_mut().deduct(pool, f.difficulty.0);
            log::warn!(target: "share_lost",
                "pool {} rejected a share from miner #{}: {reason}",
                p.cfg.name,
                f.miner
            );
        }
        drop(p);
        self.credit_miner(f.miner, |s| {
            if accepted {
                s.add_accepted(f.difficulty)
            } else {
                s.rejected += 1
            }
        });
    }

    // ----- pool lifecycle -------------------------------------------------------------------

    /// A pool connection ended: count its unanswered shares lost, mark it down, move miners.
    pub fn pool_lost(&self, idx: usize, why: &str, retry_at_ms: u64) {
        let mut lost = heapless::Vec::<InFlight, 64>::new();
        let mut extra = 0u64;
        {
            let mut p = self.pools[idx].borrow_mut();
            p.out = None;
            p.authorized = false;
            p.job = None;
            for f in p.drain_inflight() {
                if lost.push(f).is_err() {
                    extra += 1;
                }
            }
            p.shares.lost += lost.len() as u64 + extra;
            p.set_error(why);
            let now = self.now_ms();
            let was_live = p.is_live();
            p.on(PoolEvent::Lost { retry_at_ms }, now);
            log::warn!(target: "pool_lost",
                "pool {} lost{}: {why}; {} unanswered shares counted lost; retry in {} ms",
                p.cfg.name,
                if was_live { " (was live)" } else { "" },
                lost.len() as u64 + extra,
                retry_at_ms.saturating_sub(now)
            );
        }
        for f in &lost {
            self.credit_miner(f.miner, |s| s.lost += 1);
        }
        self.reassign();
    }

    /// Mark a pool ready if it is authorized and has a job; moves miners if it became live.
    pub fn maybe_ready(&self, idx: usize) {
        let changed = {
            let mut p = self.pools[idx].borrow_mut();
            if !(p.authorized && p.job.is_some()) {
                return;
            }
            p.failures = 0;
            let now = self.now_ms();
            p.on(PoolEvent::Ready, now)
        };
        if changed {
            self.reassign();
        }
    }

    /// A pool narrowed its version mask: tell its miners (some firmwares honour it).
    pub fn narrow_version_masks(&self, pool: usize, mask: u32) {
        for m in self.miners.borrow().iter() {
            let mut m = m.borrow_mut();
            if m.pool != Some(pool) {
                continue;
            }
            if let Some(mm) = m.version_mask {
                if mm & !mask != 0 {
                    let nm = mm & mask;
                    m.version_mask = Some(nm);
                    m.out.push(|b| emit::set_version_mask(b, nm));
                }
            }
        }
    }

    /// Close a pool connection from outside (silence, handshake timeout).
    fn close_pool(&self, p: &mut Pool, why: &str) {
        if let Some(o) = p.out.clone() {
            log::warn!("pool {}: {why}; closing the connection", p.cfg.name);
            p.set_error(why);
            o.close();
        }
    }

    // ----- housekeeping ---------------------------------------------------------------------

    /// Once a second: pool silence and handshake timeouts, miner idle timeouts, keepalives,
    /// vardiff.
    pub fn tick(&self) {
        if self.config_path.borrow().is_some() {
            if crate::signal::stop_requested() {
                self.save_stats();
                log::info!(target: "shutdown", "stopping (signal); stats saved");
                std::process::exit(0);
            }
            if crate::signal::take_hup() {
                self.reload_from_file();
            }
        }
        let now = self.now_ms();
        let every = self.cfg.borrow().stats.save_interval_mins as u64 * 60_000;
        if now.saturating_sub(self.last_save_ms.get()) >= every {
            self.last_save_ms.set(now);
            self.save_stats();
        }
        let (job_timeout, idle_timeout) = {
            let c = self.cfg.borrow();
            (
                c.failover.job_timeout_secs as u64 * 1000,
                c.miners.idle_timeout_secs as u64 * 1000,
            )
        };
        for p in self.pools.iter() {
            let mut p = p.borrow_mut();
            match p.state {
                PoolState::Live if now.saturating_sub(p.last_job_ms) > job_timeout => {
                    let why = format!("no new job for {} s", job_timeout / 1000);
                    self.close_pool(&mut p, &why);
                }
                PoolState::Connecting | PoolState::Handshake
                    if now.saturating_sub(p.state_since_ms) > HANDSHAKE_TIMEOUT_MS =>
                {
                    self.close_pool(&mut p, "not ready 20 s after connecting");
                }
                _ => {}
            }
        }
        let dt = now.saturating_sub(self.last_tick_ms.replace(now));
        let miners: heapless::Vec<MinerRef, MAX_MINERS> = self.miners.borrow().clone();
        for mref in miners.iter() {
            let mut m = mref.borrow_mut();
            m.update_hashrate(dt);
            if now.saturating_sub(m.last_rx_ms) > idle_timeout {
                log::info!(
                    "miner {}: nothing received for {} s; closing",
                    m.label(),
                    idle_timeout / 1000
                );
                m.out.close();
                continue;
            }
            if m.state != MinerState::Working {
                continue;
            }
            let retarget = m.vardiff.retarget(now).is_some();
            let current = m.pool.and_then(|p| self.pools[p].borrow().job.clone());
            let quiet = now.saturating_sub(m.last_tx_ms) >= KEEPALIVE_MS;
            match current {
                // Resend the current job with a fresh id: carries a new difficulty, or
                // just keeps the miner from declaring us dead.
                Some(job) if retarget || quiet => self.send_job(&mut m, &job, false),
                None if quiet => {
                    let d = m.sent_difficulty.unwrap_or(m.vardiff.current());
                    m.out.push(|b| emit::set_difficulty(b, &d.to_string()));
                    m.last_tx_ms = now;
                }
                _ => {}
            }
        }
        drop(miners);
        let inputs = self.pool_inputs();
        self.pid.borrow_mut().evaluate(now, &inputs);
        {
            let pid = self.pid.borrow();
            let targets: heapless::Vec<i64, MAX_POOLS> = (0..self.pools.len())
                .map(|i| pid.terms[i].target_ppm)
                .collect();
            let mut h = self.history.borrow_mut();
            h.set_targets(&targets);
            h.roll(now);
        }
        self.reassign();
    }

    /// Wait (bounded) until some pool has told us its extranonce size.
    pub async fn wait_for_pools(&self, max: Duration) {
        let until = Instant::now() + max;
        while !self.pools_known() && Instant::now() < until {
            smol::Timer::after(Duration::from_millis(50)).await;
        }
    }
}

pub fn add_counters(into: &mut ShareCounters, c: &ShareCounters) {
    into.submitted += c.submitted;
    into.valid += c.valid;
    into.low_difficulty += c.low_difficulty;
    into.duplicate += c.duplicate;
    into.stale += c.stale;
    into.malformed += c.malformed;
    into.forwarded += c.forwarded;
    into.accepted += c.accepted;
    into.rejected += c.rejected;
    into.lost += c.lost;
    into.work_valid += c.work_valid;
    into.work_accepted += c.work_accepted;
}

/// Difficulty of a job's pool at the time, for a share: the easier of the job's and now's.
pub fn pool_share_difficulty(job: &Job, pool: &Pool) -> Difficulty {
    job.origin.difficulty.min(pool.difficulty)
}

impl Proxy {
    /// Copy of everything observable, for the HTTP page, the API and tests.
    pub fn snapshot(&self) -> crate::stats::Snapshot {
        use crate::stats::{MinerSnap, PoolSnap, Snapshot};
        let now = self.now_ms();
        let miners = self.miners.borrow();
        let pid = self.pid.borrow();
        let history = self.history.borrow();
        let pools = self
            .pools
            .iter()
            .filter(|p| !p.borrow().vacant)
            .map(|p| {
                let p = p.borrow();
                PoolSnap {
                    name: p.cfg.name.to_string(),
                    address: format!("{}:{}", p.cfg.host, p.cfg.port),
                    state: crate::pools::state_name(p.state),
                    protocol: if p.cfg.authority.is_some() {
                        "sv2"
                    } else {
                        "sv1"
                    },
                    encrypted: p.is_encrypted(),
                    priority: p.cfg.priority,
                    weight: p.cfg.weight,
                    difficulty: p.difficulty,
                    extranonce2_size: p.extranonce2_size,
                    version_mask: p.version_mask,
                    shares: p.shares.clone(),
                    rejects: p.rejects.iter().map(|(r, n)| (r.to_string(), n)).collect(),
                    connects: p.connects,
                    last_error: p.last_error.to_string(),
                    last_job_age_ms: p.job.as_ref().map(|_| now.saturating_sub(p.last_job_ms)),
                    rtt_ms: p.last_rtt_ms,
                    miners: miners
                        .iter()
                        .filter(|m| m.borrow().pool == Some(p.idx))
                        .count(),
                    split: pid.terms[p.idx],
                    actual_24h_permille: history.mean_actual(p.idx),
                }
            })
            .collect();
        let miners = miners
            .iter()
            .map(|m| {
                let mut m = m.borrow_mut();
                let connected = m.connected_ms;
                let up = now.saturating_sub(m.connected_ms).max(1);
                MinerSnap {
                    id: m.id,
                    worker: m.worker.to_string(),
                    agent: m.agent.to_string(),
                    addr: m.addr,
                    tag: format!("{:02x}{:02x}", m.tag[0], m.tag[1]),
                    extranonce2_size: m.e2_size,
                    pool: m.pool.map(|p| self.pools[p].borrow().cfg.name.to_string()),
                    difficulty: m.sent_difficulty,
                    shares: m.shares.clone(),
                    connected_ms: up,
                    last_share_age_ms: (m.last_share_ms > 0)
                        .then(|| now.saturating_sub(m.last_share_ms)),
                    switches: m.switches,
                    bytes_in: m.bytes_in,
                    bytes_out: m.out.bytes_written(),
                    hashrate_5m: m.rate.rate(now, 5, connected),
                    hashrate_1h: m.rate.rate(now, 60, connected),
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
            refused: self.refused.get(),
            split: self.cfg.borrow().split,
            workers: self.worker_totals_now(),
            departed: self.departed.borrow().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::miners::MinerEvent;

    fn proxy() -> Rc<Proxy> {
        let cfg =
            crate::config::parse(br#"{"pools":[{"url":"stratum+tcp://127.0.0.1:1","user":"u"}]}"#)
                .unwrap();
        Proxy::new(cfg)
    }

    fn working_miner(p: &Proxy) -> (MinerRef, Rc<Outbox>) {
        let out = Rc::new(Outbox::new(64 * 1024));
        let m = p
            .add_miner("127.0.0.1:9".parse().unwrap(), out.clone())
            .unwrap();
        m.borrow_mut().e2_size = 4;
        m.borrow_mut().on(MinerEvent::Subscribe);
        m.borrow_mut().on(MinerEvent::Authorize);
        (m, out)
    }

    fn drain(out: &Outbox) -> String {
        String::from_utf8(std::mem::take(&mut *out.buffer_for_tests())).unwrap()
    }

    #[test]
    fn test_working_miner_without_pool_gets_keepalive_after_55s() {
        let p = proxy();
        let (_m, out) = working_miner(&p);
        p.tick();
        assert_eq!(drain(&out), "", "nothing due yet");
        p.advance_clock(KEEPALIVE_MS);
        p.tick();
        let sent = drain(&out);
        assert!(
            sent.contains("mining.set_difficulty"),
            "keepalive sent: {sent:?}"
        );
        p.tick();
        assert_eq!(drain(&out), "", "not again right away");
    }

    #[test]
    fn test_silent_miner_is_closed_after_idle_timeout() {
        let p = proxy();
        let (m, out) = working_miner(&p);
        p.advance_clock(599_000);
        m.borrow_mut().last_rx_ms = p.now_ms();
        p.advance_clock(599_000);
        p.tick();
        assert!(!out.is_closed(), "heard from within the timeout");
        p.advance_clock(2_000);
        p.tick();
        assert!(out.is_closed(), "closed after 600 s of silence");
    }

    #[test]
    fn test_full_table_refuses_and_counts() {
        let cfg = crate::config::parse(
            br#"{"pools":[{"url":"stratum+tcp://127.0.0.1:1","user":"u"}],"miners":{"max":2}}"#,
        )
        .unwrap();
        let p = Proxy::new(cfg);
        let a = "127.0.0.1:9".parse().unwrap();
        assert!(p.add_miner(a, Rc::new(Outbox::new(64))).is_some());
        assert!(p.add_miner(a, Rc::new(Outbox::new(64))).is_some());
        assert!(p.add_miner(a, Rc::new(Outbox::new(64))).is_none());
        assert_eq!(p.refused.get(), 1);
    }

    #[test]
    fn test_one_address_past_its_limit_is_refused_others_admitted() {
        let cfg = crate::config::parse(
            br#"{"pools":[{"url":"stratum+tcp://127.0.0.1:1","user":"u"}],"miners":{"max":8,"max_per_address":2}}"#,
        )
        .unwrap();
        let p = Proxy::new(cfg);
        let a: SocketAddr = "192.168.1.20:4000".parse().unwrap();
        let b: SocketAddr = "192.168.1.21:4000".parse().unwrap();
        let out = || Rc::new(Outbox::new(64));
        assert!(p.add_miner(a, out()).is_some());
        assert!(p.add_miner(a, out()).is_some());
        assert!(p.add_miner(a, out()).is_none(), "third from one address");
        assert!(
            p.add_miner(b, out()).is_some(),
            "another address still gets in"
        );
        assert_eq!(p.refused.get(), 1);
    }

    #[test]
    fn test_tags_are_unique_and_not_reused_at_once() {
        let p = proxy();
        let a = "127.0.0.1:9".parse().unwrap();
        let m1 = p.add_miner(a, Rc::new(Outbox::new(64))).unwrap();
        let t1 = m1.borrow().tag;
        let id1 = m1.borrow().id;
        p.remove_miner(id1, "test");
        let m2 = p.add_miner(a, Rc::new(Outbox::new(64))).unwrap();
        assert_ne!(
            m2.borrow().tag,
            t1,
            "a freed tag is not handed out again at once"
        );
    }
}
