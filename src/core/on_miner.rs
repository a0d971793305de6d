//! Downstream events: miners arriving, their requests, their shares, and the pools' verdicts
//! on the shares forwarded for them.
//!
//! Every share is validated here (sha256d of the header with version rolling). Low-difficulty,
//! duplicate, stale and malformed shares are refused and never reach a pool; valid shares are
//! accepted at once and forwarded to the pool that issued their job if they meet its target.

use super::miner::{Deferred, Miner, MinerEvent, MinerState};
use super::pool::{InFlight, WANTED_VERSION_MASK};
use super::vardiff::Vardiff;
use super::{
    req_id, Action, Answer, Core, Downstream, MinerId, MinerShare, PoolSubmit, Refusal, Refused,
    ToMiner, ToPool, MAX_NTIME_AHEAD_S, POOL_WAIT_MS,
};
use crate::stats::ShareCounters;
use crate::work::hash::rolled_version;
use crate::work::job::{miner_e2_size, ShareInput, MAX_MINER_E2, TAG_SIZE};
use crate::MAX_MINERS;
use std::net::SocketAddr;

impl Core {
    /// A miner connected from `addr`: admitted with a fresh id, or refused (table full, or
    /// too many from its address) with a log line.
    pub fn miner_connected(&mut self, addr: SocketAddr, now: u64) -> Result<MinerId, Refused> {
        let s = &self.cfg.miners;
        if self.miners.len() >= s.max.min(MAX_MINERS) {
            self.refused += 1;
            log::warn!(target: "miner_refused",
                "miner table full ({}): refusing {addr}",
                crate::stats::count_of(self.miners.len(), "miner")
            );
            return Err(Refused::TableFull);
        }
        let same_ip = self
            .miners
            .iter()
            .filter(|m| m.addr.ip() == addr.ip())
            .count();
        if same_ip >= s.max_per_address {
            self.refused += 1;
            log::warn!(target: "miner_refused",
                "{} from {} already (miners.max_per_address): refusing {addr}",
                crate::stats::count_of(same_ip, "miner connection"),
                addr.ip()
            );
            return Err(Refused::TooManyFromAddress);
        }
        let vd = Vardiff::new(
            s.start_difficulty,
            s.min_difficulty,
            s.max_difficulty,
            s.shares_per_min,
            now,
        );
        let tag = self.alloc_tag();
        let id = self.next_miner_id;
        self.next_miner_id = id.wrapping_add(1).max(1);
        self.miners.push(Miner::new(id, tag, addr, vd, now));
        log::info!(target: "miner_connected",
            "miner #{id} connected from {addr} (tag {:02x}{:02x}, {} now)",
            tag[0],
            tag[1],
            crate::stats::count_of(self.miners.len(), "miner")
        );
        Ok(id)
    }

    /// Tags are handed out round-robin over the whole 16-bit space, skipping those in use, so
    /// a tag is not reused soon after its miner left (its old work could still be in flight).
    fn alloc_tag(&mut self) -> [u8; TAG_SIZE] {
        loop {
            self.next_tag = self.next_tag.wrapping_add(1);
            let tag = self.next_tag.to_be_bytes();
            if !self.miners.iter().any(|m| m.tag == tag) {
                return tag;
            }
        }
    }

    /// Apply an event from miner `id`'s connection (ignored if the miner is gone).
    pub fn handle_miner(&mut self, id: MinerId, ev: Downstream<'_>, now: u64) {
        let Some(i) = self.miner_index(id) else {
            log::debug!("event for departed miner #{id}: {ev:?}");
            return;
        };
        match ev {
            Downstream::Received { bytes } => {
                let m = &mut self.miners[i];
                m.last_rx_ms = now;
                m.bytes_in += bytes as u64;
            }
            Downstream::Configure {
                req,
                version_rolling,
                mask,
            } => self.defer(
                i,
                req,
                Deferred::Configure {
                    version_rolling,
                    mask,
                },
                now,
            ),
            Downstream::Subscribe { req, agent } => {
                let m = &self.miners[i];
                let pending = m
                    .deferred
                    .iter()
                    .any(|(_, d)| matches!(d, Deferred::Subscribe { .. }));
                if pending || !matches!(m.state, MinerState::Connected | MinerState::Authorized) {
                    self.reply(id, req, Answer::Refused(Refusal::AlreadySubscribed));
                    return;
                }
                let agent = agent.map(|a| {
                    heapless::String::try_from(crate::stats::truncate(a, 64)).unwrap_or_default()
                });
                self.defer(i, req, Deferred::Subscribe { agent }, now)
            }
            Downstream::Authorize { req, user } => {
                let m = &mut self.miners[i];
                m.worker.clear();
                let _ = m.worker.push_str(crate::stats::truncate(user, 64));
                self.reply(id, req, Answer::True);
                self.transition(i, MinerEvent::Authorize, now);
            }
            Downstream::SuggestDifficulty { req, difficulty } => {
                self.miners[i].vardiff.suggest(difficulty, now);
                self.reply(id, req, Answer::True);
            }
            Downstream::Submit { req, share } => {
                if let Err(r) = self.submit(i, &share, now) {
                    self.reply(id, req, Answer::Refused(r));
                } else {
                    self.reply(id, req, Answer::True);
                }
            }
            Downstream::Hashrate(h) => {
                let m = &mut self.miners[i];
                m.declared_hashrate = h;
                if m.shares.valid == 0 && h > 0 {
                    let d = m.vardiff.for_hashrate(h);
                    m.vardiff.suggest(d, now);
                }
            }
            Downstream::Malformed { submit } => {
                if submit {
                    let m = &mut self.miners[i];
                    m.shares.submitted += 1;
                    m.shares.malformed += 1;
                }
            }
            Downstream::Gone { why } => self.remove_miner(i, why),
        }
    }

    fn reply(&mut self, id: MinerId, req: &str, answer: Answer) {
        self.push(Action::Miner(
            id,
            ToMiner::Reply {
                req: req_id(req),
                answer,
            },
        ));
    }

    /// Answer now if the pools' sizes are known and nothing is waiting before it; else wait
    /// (at most [`POOL_WAIT_MS`]) for the first pool, keeping the miner's order.
    fn defer(&mut self, i: usize, req: &str, d: Deferred, now: u64) {
        let known = self.pools_known();
        let m = &mut self.miners[i];
        if known && m.deferred.is_empty() {
            self.answer_deferred(i, req_id(req), d, now);
            return;
        }
        if m.deferred.is_empty() {
            m.deferred_since_ms = now;
        }
        if let Err((req, d)) = m.deferred.push_back((req_id(req), d)) {
            // A third request while two wait: answer everything now with what we know.
            self.resolve_miner(i, now);
            self.answer_deferred(i, req, d, now);
        }
    }

    /// Answer the requests waiting for the first pool: every miner's when `now` is `None`
    /// (a pool has just told us its sizes), else those that have waited long enough.
    pub(super) fn resolve_deferred(&mut self, now: Option<u64>) {
        let known = self.pools_known();
        for i in 0..self.miners.len() {
            let m = &self.miners[i];
            if m.deferred.is_empty() {
                continue;
            }
            let at = match now {
                None if known => m.deferred_since_ms,
                None => continue,
                Some(t) if known || t.saturating_sub(m.deferred_since_ms) >= POOL_WAIT_MS => t,
                Some(_) => continue,
            };
            self.resolve_miner(i, at);
        }
    }

    fn resolve_miner(&mut self, i: usize, now: u64) {
        while let Some((req, d)) = self.miners[i].deferred.pop_front() {
            self.answer_deferred(i, req, d, now);
        }
    }

    fn answer_deferred(&mut self, i: usize, req: super::ReqId, d: Deferred, now: u64) {
        // Before any pool has reported, rolling is granted as wanted; once pools have and none
        // allows it, it is refused, so the miner mines without it instead of fitting no pool.
        let pools_mask = self.pools_version_mask().unwrap_or(if self.pools_known() {
            0
        } else {
            WANTED_VERSION_MASK
        });
        let e2 = self
            .smallest_pool_e2()
            .and_then(miner_e2_size)
            .unwrap_or(MAX_MINER_E2);
        let m = &mut self.miners[i];
        let (answer, ev) = match d {
            Deferred::Configure {
                version_rolling,
                mask,
            } => {
                let granted = version_rolling
                    .then_some(mask & pools_mask)
                    .filter(|g| *g != 0);
                m.version_mask = granted;
                (Answer::Configure(granted), None)
            }
            Deferred::Subscribe { agent } => {
                m.e2_size = e2;
                if let Some(a) = agent {
                    m.agent = a;
                }
                let answer = Answer::Subscribe {
                    session: m.id,
                    tag: m.tag,
                    e2_size: e2,
                };
                (answer, Some(MinerEvent::Subscribe))
            }
        };
        let id = m.id;
        self.push(Action::Miner(id, ToMiner::Reply { req, answer }));
        if let Some(ev) = ev {
            self.transition(i, ev, now);
        }
    }

    /// Apply a state event; a miner that starts working is given a pool and a job at once.
    fn transition(&mut self, i: usize, ev: MinerEvent, now: u64) {
        let m = &mut self.miners[i];
        if m.on(ev) && m.state == MinerState::Working {
            log::info!(
                "miner {} ready (extranonce2 size {}, {})",
                m.label(),
                m.e2_size,
                match m.version_mask {
                    Some(mask) => format!("version mask {mask:08x}"),
                    None => "no version rolling".into(),
                }
            );
            self.assign(i, now);
        }
    }

    /// Validate a share; count it; forward it if it meets its pool's target.
    fn submit(&mut self, i: usize, s: &MinerShare<'_>, now: u64) -> Result<(), Refusal> {
        let m = &mut self.miners[i];
        m.shares.submitted += 1;
        m.vardiff.submitted();
        if m.state != MinerState::Working {
            m.shares.malformed += 1;
            return Err(match m.state {
                MinerState::Connected | MinerState::Authorized => Refusal::NotSubscribed,
                _ => Refusal::Unauthorized,
            });
        }
        let Some(sent) = s.job.and_then(|j| m.jobs.find(j)).cloned() else {
            m.shares.stale += 1;
            return Err(Refusal::JobNotFound);
        };
        let job = sent.job;
        let pool = &self.pools[job.origin.pool];
        if pool.conn_gen != job.origin.conn_gen || pool.epoch != job.origin.epoch {
            m.shares.stale += 1;
            return Err(Refusal::Stale);
        }
        if s.ntime < job.ntime || s.ntime > job.ntime.saturating_add(MAX_NTIME_AHEAD_S) {
            m.shares.malformed += 1;
            return Err(Refusal::NtimeOutOfRange);
        }
        let Some(e2) = s.extranonce2.filter(|e| e.len() == m.e2_size) else {
            m.shares.malformed += 1;
            return Err(Refusal::BadExtranonce2 { size: m.e2_size });
        };
        let version = match (s.version_bits, m.version_mask) {
            (None, _) => job.version,
            (Some(bits), Some(mask)) if bits & !mask == 0 => {
                rolled_version(job.version, bits, mask)
            }
            (Some(_), Some(_)) => {
                m.shares.malformed += 1;
                return Err(Refusal::VersionOutsideMask);
            }
            (Some(_), None) => {
                m.shares.malformed += 1;
                return Err(Refusal::NoVersionRolling);
            }
        };
        let input = ShareInput {
            tag: &m.tag,
            miner_extranonce2: e2,
            ntime: s.ntime,
            nonce: s.nonce,
            version,
            variant: sent.variant,
        };
        #[cfg(feature = "sim")]
        let hash = s.sim_hash.unwrap_or_else(|| job.share_hash(&input));
        #[cfg(not(feature = "sim"))]
        let hash = job.share_hash(&input);
        // A miner may apply a new difficulty to an older job: accept the easier of the two.
        let local = sent
            .difficulty
            .min(m.sent_difficulty.unwrap_or(sent.difficulty));
        if !local.target().is_met_by(&hash) {
            m.shares.low_difficulty += 1;
            return Err(Refusal::LowDifficulty);
        }
        if !m.dups.insert(&hash) {
            m.shares.duplicate += 1;
            return Err(Refusal::Duplicate);
        }
        m.shares.add_valid(local);
        m.shares
            .note_best(crate::work::Difficulty::from_hash(&hash));
        m.vardiff.record(local);
        m.rate.add(now, local.0);
        m.last_share_ms = now;
        let pidx = job.origin.pool;
        let p = &mut self.pools[pidx];
        p.shares.submitted += 1;
        p.shares.add_valid(local);
        self.pid.record(pidx, local.0);
        self.history.record(now, pidx, local.0);
        let pool_diff = job.origin.difficulty.min(p.difficulty);
        if pool_diff.target().is_met_by(&hash) {
            let submit = PoolSubmit {
                id: 0,
                extranonce2: job.pool_extranonce2(&m.tag, e2, sent.variant),
                ntime: s.ntime,
                nonce: s.nonce,
                version,
                version_bits: s
                    .version_bits
                    .map(|_| version & m.version_mask.unwrap_or(0)),
                job: job.clone(),
            };
            self.forward(i, submit, now);
        }
        Ok(())
    }

    /// Send a share to the pool that issued its job. Counts `forwarded` and, if that
    /// connection is gone, `lost`, on both the pool and the miner.
    fn forward(&mut self, i: usize, mut s: PoolSubmit, now: u64) {
        let pidx = s.job.origin.pool;
        let m = &mut self.miners[i];
        let p = &mut self.pools[pidx];
        p.shares.forwarded += 1;
        m.shares.forwarded += 1;
        if !p.connected || p.closing || p.conn_gen != s.job.origin.conn_gen {
            p.shares.lost += 1;
            m.shares.lost += 1;
            log::warn!(target: "share_lost",
                "pool {}: share from miner {} lost: pool connection gone",
                p.cfg.name,
                m.label()
            );
            return;
        }
        s.id = p.next_id;
        p.next_id += 1;
        let evicted = p.track(InFlight {
            id: s.id,
            miner: m.id,
            difficulty: s.job.origin.difficulty.min(p.difficulty),
            sent_ms: now,
        });
        if let Some(old) = evicted {
            p.shares.lost += 1;
            log::warn!(target: "share_lost",
                "pool {}: {} shares await answers; the oldest ({}, sent {} ms ago) is counted lost",
                p.cfg.name,
                p.inflight_capacity(),
                old.id,
                now.saturating_sub(old.sent_ms)
            );
            self.credit_miner(old.miner, |c| c.lost += 1);
        }
        self.push(Action::Pool(pidx, ToPool::Submit(s)));
    }

    /// Pool `idx` answered submit `id`.
    pub(super) fn verdict(&mut self, idx: usize, id: u64, accepted: bool, reason: &str, now: u64) {
        let p = &mut self.pools[idx];
        let Some(f) = p.answer(id) else {
            p.unknown_answers += 1;
            log::debug!("pool {}: answer to unknown request {id}", p.cfg.name);
            return;
        };
        p.last_rtt_ms = now.saturating_sub(f.sent_ms);
        if accepted {
            p.shares.add_accepted(f.difficulty);
            p.last_accepted_ms = now.max(1);
        } else {
            p.shares.rejected += 1;
            p.rejects.add(reason);
            self.pid.deduct(idx, f.difficulty.0);
            log::warn!(target: "share_lost",
                "pool {} rejected a share from miner #{}: {reason}",
                p.cfg.name,
                f.miner
            );
        }
        self.credit_miner(f.miner, |s| {
            if accepted {
                s.add_accepted(f.difficulty)
            } else {
                s.rejected += 1
            }
        });
    }

    /// Run `f` on a miner's counters if it is still connected, else on the departed totals
    /// (so the books balance after it left).
    pub(super) fn credit_miner(&mut self, id: MinerId, f: impl FnOnce(&mut ShareCounters)) {
        match self.miners.iter_mut().find(|m| m.id == id) {
            Some(m) => f(&mut m.shares),
            None => f(&mut self.departed),
        }
    }

    /// A miner's connection ended: fold its counters into the totals and forget it.
    fn remove_miner(&mut self, i: usize, why: &str) {
        let m = self.miners.swap_remove(i);
        super::add_counters(&mut self.departed, &m.shares);
        self.fold_worker(&m.worker, &m.shares);
        log::info!(target: "miner_disconnected",
            "miner {} disconnected: {why} ({} left)",
            m.label(),
            crate::stats::count_of(self.miners.len(), "miner")
        );
    }
}
