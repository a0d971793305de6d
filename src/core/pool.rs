//! One upstream pool as the core sees it, whatever its protocol: connection state
//! ([`PoolState`], one enum, transitions in [`Pool::on`]), its extranonce space, difficulty,
//! version mask, current job, the submits awaiting an answer, and its counters.
//!
//! Invariants: `conn_gen` increases on every new connection and every job carries the
//! generation it came from; `epoch` increases on every new block and extranonce change; a job
//! is only built on the extranonce space of its own connection; a forwarded share is counted
//! exactly once as accepted, rejected or lost.

use crate::ops::config::PoolConfig;
use crate::stats::{RejectReasons, ShareCounters};
use crate::work::job::{Job, JobOrigin, MAX_E1};
use crate::work::Difficulty;
use std::rc::Rc;

/// Submits in flight per pool; older unanswered ones are counted lost when overwritten (which
/// the backpressure below keeps from happening while the pool answers at all).
pub const INFLIGHT: usize = 512;
/// Submits awaiting answers at which a pool is congested: the miners working for it are not
/// read ([`crate::core::Core::may_read`]) until it is down to [`UNCONGESTED`]. The gap to
/// [`INFLIGHT`] holds one share from every miner that was read before it saw the congestion.
pub const CONGESTED: usize = INFLIGHT - crate::MAX_MINERS;
pub const UNCONGESTED: usize = CONGESTED * 3 / 4;
/// A submit the pool has not answered in this long is counted lost: the pool is connected but
/// does not answer (and would otherwise hold its miners back for ever).
pub const ANSWER_TIMEOUT_MS: u64 = 60_000;
/// First request id used for SV1 submits (smaller ids are the handshake). SV2 sequence
/// numbers start at 1.
pub const FIRST_SUBMIT_ID: u64 = 100;
/// Version mask asked of pools (BIP320 general-purpose bits).
pub const WANTED_VERSION_MASK: u32 = 0x1fff_e000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolState {
    /// Opening TCP (includes DNS).
    Connecting,
    /// Connected; handshake under way, or no job yet.
    Handshake,
    /// Authorized and has a job from this connection: can take miners.
    Live,
    /// Connection lost or refused; retry at `retry_at_ms`.
    Down { retry_at_ms: u64 },
}

/// What happened to a pool connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolEvent {
    Connecting,
    Connected,
    /// Authorized and a job is present.
    Ready,
    Lost {
        retry_at_ms: u64,
    },
}

/// One submit waiting for the pool's answer.
#[derive(Clone, Copy, Debug)]
pub struct InFlight {
    pub id: u64,
    pub miner: u32,
    pub difficulty: Difficulty,
    pub sent_ms: u64,
}

/// A pool's extranonce space: SV1 extranonce1 and extranonce2_size, or an SV2 channel's
/// extranonce prefix and size. The one place these facts live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extranonce {
    pub prefix: heapless::Vec<u8, MAX_E1>,
    pub e2_size: usize,
    /// The connection that announced it. A space from an older connection still sizes new
    /// miners while the pool is away, but no job is built on it.
    pub conn_gen: u32,
}

pub struct Pool {
    pub idx: usize,
    pub cfg: PoolConfig,
    pub state: PoolState,
    pub conn_gen: u32,
    pub epoch: u32,
    /// The last extranonce space the pool announced (see [`Extranonce::conn_gen`]).
    pub extranonce: Option<Extranonce>,
    /// Mask the pool allows; `None` if it does not do version rolling.
    pub version_mask: Option<u32>,
    pub difficulty: Difficulty,
    pub authorized: bool,
    /// An empty slot (no pool configured in it, or its pool was removed by a reload). Its
    /// connection task idles; it is never live.
    pub vacant: bool,
    /// Taken out of the split and failover by the operator (control API); stays connected.
    pub disabled: bool,
    /// The current job; `None` until the pool sends one on this connection and after its
    /// extranonce changed.
    pub job: Option<Rc<Job>>,
    pub last_job_ms: u64,
    pub state_since_ms: u64,
    /// When the pool last accepted a share (0: never).
    pub last_accepted_ms: u64,
    /// The connection is up (between `Connected` and `Lost`).
    pub connected: bool,
    /// The session is encrypted (SV2).
    pub encrypted: bool,
    /// The core asked the connection to close; `last_error` says why.
    pub closing: bool,
    pub next_id: u64,
    inflight: Box<[Option<InFlight>]>,
    /// Occupied slots of `inflight`.
    waiting: usize,
    /// At or past [`CONGESTED`] and not yet back to [`UNCONGESTED`].
    pub congested: bool,
    /// Times the pool left congestion (the runtime wakes the miners it held back).
    pub releases: u32,
    pub failures: u32,
    pub last_error: heapless::String<160>,
    pub shares: ShareCounters,
    pub rejects: RejectReasons,
    pub connects: u64,
    /// Round-trip of the last answered submit.
    pub last_rtt_ms: u64,
    /// Answers for submits that were not awaiting one (late, repeated or made up).
    pub unknown_answers: u64,
    /// Jobs this slot has made (never reset): with `idx`, each job's serial.
    pub jobs_made: u64,
    /// Jobs received in the second `flood_second` (ms / 1000), to flag a flooding pool.
    pub jobs_in_second: u32,
    pub flood_second: u64,
    /// When the pool was last reported as flooding (reported at most once a minute).
    pub flood_reported_ms: Option<u64>,
    /// The pool asks a difficulty below `miners.min_difficulty` (reported once per episode).
    pub below_floor: bool,
    /// While the pool keeps failing: when it was last reported as still down.
    pub down_reported_ms: u64,
}

impl Pool {
    pub fn new(idx: usize, cfg: PoolConfig) -> Pool {
        Pool {
            idx,
            cfg,
            state: PoolState::Connecting,
            conn_gen: 0,
            epoch: 0,
            extranonce: None,
            version_mask: None,
            difficulty: Difficulty::ONE,
            authorized: false,
            vacant: false,
            disabled: false,
            job: None,
            last_job_ms: 0,
            state_since_ms: 0,
            last_accepted_ms: 0,
            connected: false,
            encrypted: false,
            closing: false,
            next_id: FIRST_SUBMIT_ID,
            inflight: vec![None; INFLIGHT].into_boxed_slice(),
            waiting: 0,
            congested: false,
            releases: 0,
            failures: 0,
            last_error: heapless::String::new(),
            shares: ShareCounters::default(),
            rejects: RejectReasons::default(),
            connects: 0,
            last_rtt_ms: 0,
            unknown_answers: 0,
            jobs_made: 0,
            jobs_in_second: 0,
            flood_second: 0,
            flood_reported_ms: None,
            below_floor: false,
            down_reported_ms: 0,
        }
    }

    /// An empty slot: a placeholder that never connects (filled by a reload that adds a pool).
    pub fn vacant(idx: usize) -> Pool {
        let cfg = PoolConfig {
            name: heapless::String::new(),
            host: heapless::String::new(),
            port: 0,
            user: heapless::String::new(),
            password: heapless::String::new(),
            weight: 0,
            priority: u32::MAX,
            authority: None,
        };
        let mut p = Pool::new(idx, cfg);
        p.vacant = true;
        p.inflight = Box::new([]);
        p
    }

    pub fn is_live(&self) -> bool {
        self.state == PoolState::Live
    }

    /// Can take miners: live, has a job, not switched off by the operator.
    pub fn usable(&self) -> bool {
        self.is_live() && self.job.is_some() && !self.disabled && !self.vacant
    }

    /// The extranonce space of the current connection, if it announced one.
    pub fn current_extranonce(&self) -> Option<&Extranonce> {
        self.extranonce
            .as_ref()
            .filter(|x| self.connected && x.conn_gen == self.conn_gen)
    }

    /// Extranonce2 size to size new miners by: the current one, else the last one seen.
    pub fn known_e2_size(&self) -> Option<usize> {
        self.extranonce.as_ref().map(|x| x.e2_size)
    }

    /// Apply an event; the one place where the state changes. Returns true if it changed.
    pub fn on(&mut self, ev: PoolEvent, now_ms: u64) -> bool {
        let next = match (self.state, ev) {
            (_, PoolEvent::Connecting) => PoolState::Connecting,
            (PoolState::Connecting, PoolEvent::Connected) => PoolState::Handshake,
            (PoolState::Handshake, PoolEvent::Ready) => PoolState::Live,
            (PoolState::Live, PoolEvent::Ready) => PoolState::Live,
            (_, PoolEvent::Lost { retry_at_ms }) => PoolState::Down { retry_at_ms },
            (s, e) => {
                log::debug!("pool {}: ignoring {e:?} in {s:?}", self.cfg.name);
                s
            }
        };
        if std::mem::discriminant(&next) == std::mem::discriminant(&self.state) {
            self.state = next;
            return false;
        }
        let event = match next {
            PoolState::Live => "pool_live",
            PoolState::Handshake => "pool_connected",
            _ => "pool_state",
        };
        // A pool that keeps failing to come up logs its attempts at debug level; the
        // operator sees it go live, go down, and a periodic "still down" (see `pool_lost`).
        let level =
            if next == PoolState::Live || self.state == PoolState::Live || self.failures <= 1 {
                log::Level::Info
            } else {
                log::Level::Debug
            };
        log::log!(
            target: event,
            level,
            "pool {}: {} -> {}",
            self.cfg.name,
            state_name(self.state),
            state_name(next)
        );
        self.state = next;
        self.state_since_ms = now_ms;
        true
    }

    /// Remember a submit; returns one that had to be dropped unanswered to make room.
    pub fn track(&mut self, f: InFlight) -> Option<InFlight> {
        let n = self.inflight.len() as u64;
        if n == 0 {
            return Some(f);
        }
        let old = self.inflight[(f.id % n) as usize].replace(f);
        if old.is_none() {
            self.waiting += 1;
        }
        if self.waiting >= CONGESTED && !self.congested {
            self.congested = true;
            log::info!(
                "pool {}: {} shares await answers; holding its miners back until it answers",
                self.cfg.name,
                self.waiting
            );
        }
        old
    }

    /// After answers (or losses): leave congestion once down to [`UNCONGESTED`].
    fn settle(&mut self) {
        if self.congested && self.waiting <= UNCONGESTED {
            self.congested = false;
            self.releases = self.releases.wrapping_add(1);
        }
    }

    /// Submits sent at or before `now - ANSWER_TIMEOUT_MS` and still unanswered: no longer
    /// awaited (each at most once), handed to `f`.
    pub fn expire(&mut self, now: u64, mut f: impl FnMut(InFlight)) {
        if self.waiting == 0 {
            return;
        }
        for slot in self.inflight.iter_mut() {
            if slot.is_some_and(|s| now.saturating_sub(s.sent_ms) >= ANSWER_TIMEOUT_MS) {
                if let Some(s) = slot.take() {
                    self.waiting -= 1;
                    f(s);
                }
            }
        }
        self.settle();
    }

    /// The submit with this id, if still awaiting an answer.
    pub fn answer(&mut self, id: u64) -> Option<InFlight> {
        let n = self.inflight.len() as u64;
        if n == 0 {
            return None;
        }
        let slot = &mut self.inflight[(id % n) as usize];
        match slot {
            Some(f) if f.id == id => {
                self.waiting -= 1;
                let f = slot.take();
                self.settle();
                f
            }
            _ => None,
        }
    }

    /// Is submit `id` still awaiting an answer?
    pub fn is_waiting(&self, id: u64) -> bool {
        let n = self.inflight.len() as u64;
        n > 0 && matches!(&self.inflight[(id % n) as usize], Some(f) if f.id == id)
    }

    /// How many submits can await an answer at once.
    pub fn inflight_capacity(&self) -> usize {
        self.inflight.len()
    }

    /// What a job issued now by this pool records about where it came from; `None` without
    /// an extranonce space on this connection.
    pub fn job_origin(&self) -> Option<JobOrigin> {
        let x = self.current_extranonce()?;
        Some(JobOrigin {
            pool: self.idx,
            conn_gen: self.conn_gen,
            epoch: self.epoch,
            extranonce1: x.prefix.clone(),
            extranonce2_size: x.e2_size,
            difficulty: self.difficulty,
            serial: ((self.idx as u64) << 56) | self.jobs_made,
        })
    }

    /// A new connection is up: fresh generation and handshake state.
    pub fn begin_connection(&mut self, encrypted: bool, now: u64) {
        self.conn_gen = self.conn_gen.wrapping_add(1);
        self.connects += 1;
        self.connected = true;
        self.encrypted = encrypted;
        self.authorized = false;
        self.job = None;
        self.last_error.clear();
        self.next_id = if encrypted { 1 } else { FIRST_SUBMIT_ID };
        self.on(PoolEvent::Connected, now);
    }

    /// Every submit still awaiting an answer (on connection loss: they are lost).
    pub fn drain_inflight(&mut self) -> impl Iterator<Item = InFlight> + '_ {
        self.waiting = 0;
        self.settle();
        self.inflight.iter_mut().filter_map(|s| s.take())
    }

    /// Submits awaiting an answer.
    pub fn inflight_count(&self) -> usize {
        self.waiting
    }

    pub fn set_error(&mut self, e: &str) {
        self.last_error.clear();
        let _ = self
            .last_error
            .push_str(crate::stats::truncate(e, self.last_error.capacity()));
    }
}

pub fn state_name(s: PoolState) -> &'static str {
    match s {
        PoolState::Connecting => "connecting",
        PoolState::Handshake => "handshake",
        PoolState::Live => "live",
        PoolState::Down { .. } => "down",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Pool {
        let cfg = crate::ops::config::parse(
            br#"{"pools":[{"url":"stratum+tcp://127.0.0.1:1","user":"u"}]}"#,
        )
        .unwrap();
        Pool::new(0, cfg.pools[0].clone())
    }

    #[test]
    fn test_connecting_connected_ready_goes_live() {
        let mut p = pool();
        assert!(p.on(PoolEvent::Connected, 1));
        assert_eq!(p.state, PoolState::Handshake);
        assert!(p.on(PoolEvent::Ready, 2));
        assert!(p.is_live());
        assert!(!p.on(PoolEvent::Ready, 3), "already live");
    }

    #[test]
    fn test_connecting_ready_is_ignored() {
        let mut p = pool();
        assert!(!p.on(PoolEvent::Ready, 1));
        assert_eq!(p.state, PoolState::Connecting);
    }

    #[test]
    fn test_live_lost_goes_down() {
        let mut p = pool();
        p.on(PoolEvent::Connected, 1);
        p.on(PoolEvent::Ready, 2);
        assert!(p.on(PoolEvent::Lost { retry_at_ms: 50 }, 3));
        assert_eq!(p.state, PoolState::Down { retry_at_ms: 50 });
    }

    #[test]
    fn test_inflight_answer_once_and_overwrite_reports_lost() {
        let mut p = pool();
        let f = |id| InFlight {
            id,
            miner: 1,
            difficulty: Difficulty::ONE,
            sent_ms: 0,
        };
        assert!(p.track(f(100)).is_none());
        assert_eq!(p.answer(100).map(|x| x.id), Some(100));
        assert!(p.answer(100).is_none(), "answered once");
        p.track(f(101));
        let dropped = p.track(f(101 + INFLIGHT as u64));
        assert_eq!(dropped.map(|x| x.id), Some(101));
        assert_eq!(p.inflight_count(), 1);
        assert_eq!(p.drain_inflight().count(), 1);
        assert_eq!(p.inflight_count(), 0);
    }
}
