//! One connected miner as the core sees it, whatever its protocol.
//!
//! [`Miner`]: its constant identity (tag, extranonce2 size, version mask), its
//! [`MinerState`], requests waiting for the first pool ([`Deferred`]), the jobs recently
//! sent to it ([`JobRing`]), duplicate detection, vardiff, hashrate and counters.
//!
//! Invariants: a miner's tag and extranonce2 size never change while it is connected; job
//! ids in its ring have pairwise distinct CRC16; it is only sent jobs in `Working`, and only
//! jobs it fits.

use super::vardiff::Vardiff;
use crate::stats::ShareCounters;
use crate::work::job::{Job, Variant, TAG_SIZE};
use crate::work::Difficulty;
use std::net::SocketAddr;
use std::rc::Rc;

/// Jobs remembered per miner (Avalon keeps 3; cgminer more). Shares for older ids are stale.
pub const JOB_RING: usize = 8;
/// Recent share hashes remembered per miner for duplicate detection.
pub const DUP_RING: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinerState {
    Connected,
    Subscribed,
    /// Authorized before subscribing (allowed; some firmwares do it).
    Authorized,
    /// Subscribed and authorized: receives jobs.
    Working,
}

/// A request answered only once a pool has told us its extranonce size and version mask
/// (or after [`super::POOL_WAIT_MS`]), in the order it came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deferred {
    Configure { version_rolling: bool, mask: u32 },
    Subscribe { agent: Option<heapless::String<64>> },
}

/// What a session event does to the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinerEvent {
    Subscribe,
    Authorize,
}

/// A job as sent to one miner.
#[derive(Clone)]
pub struct SentJob {
    pub id: u32,
    pub crc: u16,
    pub job: Rc<Job>,
    /// Local difficulty in force for this job.
    pub difficulty: Difficulty,
    /// Which copy of the job it was.
    pub variant: Variant,
}

/// The last [`JOB_RING`] jobs sent to a miner.
#[derive(Default)]
pub struct JobRing {
    slots: [Option<SentJob>; JOB_RING],
    next: usize,
}

impl JobRing {
    pub fn push(&mut self, j: SentJob) {
        self.slots[self.next] = Some(j);
        self.next = (self.next + 1) % JOB_RING;
    }

    pub fn find(&self, id: u32) -> Option<&SentJob> {
        self.slots.iter().flatten().find(|j| j.id == id)
    }

    pub fn has_crc(&self, crc: u16) -> bool {
        self.slots.iter().flatten().any(|j| j.crc == crc)
    }

    /// The most recently sent job.
    pub fn latest(&self) -> Option<&SentJob> {
        self.slots[(self.next + JOB_RING - 1) % JOB_RING].as_ref()
    }

    pub fn clear(&mut self) {
        self.slots = Default::default();
    }
}

/// Recent share hashes (first 8 bytes), to refuse resubmitted shares.
pub struct DupRing {
    hashes: [u64; DUP_RING],
    next: usize,
}

impl Default for DupRing {
    fn default() -> Self {
        DupRing {
            hashes: [0; DUP_RING],
            next: 0,
        }
    }
}

impl DupRing {
    /// Insert; false if it was already there.
    pub fn insert(&mut self, hash: &[u8; 32]) -> bool {
        let mut k = [0u8; 8];
        k.copy_from_slice(&hash[..8]);
        let k = u64::from_le_bytes(k) | 1; // never 0, so empty slots never match
        if self.hashes.contains(&k) {
            return false;
        }
        self.hashes[self.next] = k;
        self.next = (self.next + 1) % DUP_RING;
        true
    }
}

pub struct Miner {
    /// Connection id, unique for the life of the process.
    pub id: u32,
    pub tag: [u8; TAG_SIZE],
    pub addr: SocketAddr,
    pub state: MinerState,
    /// Extranonce2 size handed out at subscribe (0 before).
    pub e2_size: usize,
    pub version_mask: Option<u32>,
    pub worker: heapless::String<64>,
    pub agent: heapless::String<64>,
    /// Requests waiting for the first pool, with their request ids, oldest first.
    pub deferred: heapless::Deque<(super::ReqId, Deferred), 2>,
    /// When the oldest deferred request arrived.
    pub deferred_since_ms: u64,
    /// The core asked for this connection to be closed; it gets nothing more.
    pub closing: bool,
    /// Pool this miner works for now.
    pub pool: Option<usize>,
    pub jobs: JobRing,
    next_job_id: u32,
    /// Last difficulty sent with `mining.set_difficulty`.
    pub sent_difficulty: Option<Difficulty>,
    pub vardiff: Vardiff,
    pub dups: DupRing,
    pub connected_ms: u64,
    pub last_rx_ms: u64,
    pub last_tx_ms: u64,
    /// When the last notify (and the last clean one) went out: a flooding pool's jobs are
    /// coalesced to at most one per [`super::MIN_NOTIFY_GAP_MS`].
    pub last_notify_ms: u64,
    pub last_clean_ms: u64,
    /// A newer job of its pool is waiting for the gap to pass (sent by the next tick).
    pub job_due: bool,
    pub last_share_ms: u64,
    pub shares: ShareCounters,
    pub switches: u64,
    pub bytes_in: u64,
    /// When it started working for its current pool.
    pub since_ms: u64,
    /// Per pool, the last job of that pool this miner was given (serial) and the copies of it
    /// given so far. Only a pool's current job is ever handed out, so this tells whether the
    /// miner had a job before ([`Miner::next_variant`]).
    pub copies: [(u64, u32); crate::MAX_POOLS],
    /// Estimated hashes per second: valid work over the last 5 minutes (or since it
    /// connected), updated every tick. What the scheduler weighs miners by.
    pub hashrate: u64,
    /// What the miner says it hashes (SV2 `nominal_hash_rate`), H/s; 0 if it did not say.
    pub declared_hashrate: u64,
    /// Valid work per minute for the last hour (5 min and 1 h hashrates).
    pub rate: RateRing,
}

/// Valid work per minute over the last 60 minutes, for hashrate estimates over 5 min and 1 h.
/// Points in a miner's hashrate sparkline (the last hour in 5-minute slots).
pub const SPARK_POINTS: usize = 12;

pub struct RateRing {
    buckets: Box<[u64; 60]>,
    minute: u64,
}

impl RateRing {
    pub fn new(now_ms: u64) -> RateRing {
        RateRing {
            buckets: Box::new([0; 60]),
            minute: now_ms / 60_000,
        }
    }

    fn roll(&mut self, now_ms: u64) {
        let m = now_ms / 60_000;
        if m >= self.minute + 60 {
            self.buckets.fill(0);
            self.minute = m;
        }
        while self.minute < m {
            self.minute += 1;
            self.buckets[(self.minute % 60) as usize] = 0;
        }
    }

    pub fn add(&mut self, now_ms: u64, work: u64) {
        self.roll(now_ms);
        let b = &mut self.buckets[(self.minute % 60) as usize];
        *b = b.saturating_add(work);
    }

    /// The last hour as [`SPARK_POINTS`] hashrates (H/s) of 5 minutes each, oldest first, the
    /// last slot ending now (its current minute counted for the time elapsed); a slot that
    /// ended before `since_ms` (the miner was not connected) is `None`.
    pub fn history(&mut self, now_ms: u64, since_ms: u64) -> [Option<u64>; SPARK_POINTS] {
        self.roll(now_ms);
        let per = (60 / SPARK_POINTS) as u64;
        let since_minute = since_ms / 60_000;
        core::array::from_fn(|i| {
            // Slot i covers minutes [first, first + per); the ring holds minute - 59 ..= minute.
            let first = (self.minute + 1 + i as u64 * per).checked_sub(60)?;
            if first + per <= since_minute {
                return None;
            }
            let sum: u128 = (first..first + per)
                .map(|m| self.buckets[(m % 60) as usize] as u128)
                .sum();
            let span = if i + 1 == SPARK_POINTS {
                (per - 1) * 60_000 + (now_ms % 60_000).max(1)
            } else {
                per * 60_000
            };
            Some((sum * 1000 / span as u128).min(u64::MAX as u128) as u64)
        })
    }

    /// Hashes per second over the last `mins` minutes (≤ 60), or since `since_ms` if later.
    pub fn rate(&mut self, now_ms: u64, mins: u64, since_ms: u64) -> u64 {
        self.roll(now_ms);
        let mins = mins.clamp(1, 60);
        let sum: u128 = (0..mins)
            .map(|k| self.buckets[((self.minute + 60 - k) % 60) as usize] as u128)
            .sum();
        let span = ((mins - 1) * 60_000 + now_ms % 60_000)
            .min(now_ms.saturating_sub(since_ms))
            .max(1);
        (sum * 1000 / span as u128).min(u64::MAX as u128) as u64
    }
}

impl Miner {
    pub fn new(
        id: u32,
        tag: [u8; TAG_SIZE],
        addr: SocketAddr,
        vardiff: Vardiff,
        now_ms: u64,
    ) -> Miner {
        Miner {
            id,
            tag,
            addr,
            state: MinerState::Connected,
            e2_size: 0,
            version_mask: None,
            worker: heapless::String::new(),
            agent: heapless::String::new(),
            deferred: heapless::Deque::new(),
            deferred_since_ms: 0,
            closing: false,
            pool: None,
            jobs: JobRing::default(),
            // Spread ids between miners; they only need to be distinct per miner.
            next_job_id: id.wrapping_mul(0x101) & 0xffff,
            sent_difficulty: None,
            vardiff,
            dups: DupRing::default(),
            connected_ms: now_ms,
            last_rx_ms: now_ms,
            last_tx_ms: now_ms,
            last_notify_ms: 0,
            last_clean_ms: 0,
            job_due: false,
            last_share_ms: 0,
            shares: ShareCounters::default(),
            switches: 0,
            bytes_in: 0,
            since_ms: now_ms,
            copies: [(u64::MAX, 0); crate::MAX_POOLS],
            hashrate: 0,
            declared_hashrate: 0,
            rate: RateRing::new(now_ms),
        }
    }

    /// Apply an event; returns true if the state changed.
    pub fn on(&mut self, ev: MinerEvent) -> bool {
        let next = match (self.state, ev) {
            (MinerState::Connected, MinerEvent::Subscribe) => MinerState::Subscribed,
            (MinerState::Connected, MinerEvent::Authorize) => MinerState::Authorized,
            (MinerState::Subscribed, MinerEvent::Authorize) => MinerState::Working,
            (MinerState::Authorized, MinerEvent::Subscribe) => MinerState::Working,
            (s, _) => s,
        };
        if next == self.state {
            return false;
        }
        log::debug!(
            "miner {} ({}): {:?} -> {:?}",
            self.id,
            self.addr,
            self.state,
            next
        );
        self.state = next;
        true
    }

    /// The copy of pool `pool`'s job `serial` to give this miner next: 0 for a job it never
    /// had, else a copy of it that it never had.
    pub fn next_variant(&mut self, pool: usize, serial: u64) -> Variant {
        let Some(c) = self.copies.get_mut(pool) else {
            return Variant(0);
        };
        if c.0 == serial {
            c.1 = c.1.wrapping_add(1);
        } else {
            *c = (serial, 0);
        }
        Variant(c.1)
    }

    /// A fresh job id whose CRC16 differs from every job in the ring.
    pub fn new_job_id(&mut self) -> (u32, u16) {
        loop {
            self.next_job_id = self.next_job_id.wrapping_add(1);
            let id = self.next_job_id;
            let mut buf = [0u8; 8];
            let text = hex_id(id, &mut buf);
            let crc = crate::wire::sv1::crc16(text);
            if !self.jobs.has_crc(crc) {
                return (id, crc);
            }
        }
    }

    /// Update the hashrate estimate: valid work over the last 5 minutes. (A ~30 s moving
    /// average swung ±22 % at 20 shares a minute, in step with the miner's switches, and
    /// skewed a time-sliced split by about half a point; the split simulator measured it.)
    /// The scheduler's estimate: measured from valid work, or, before any, what the miner
    /// declared (SV2 miners; 0 for SV1).
    pub fn update_hashrate(&mut self, now_ms: u64) {
        let since = self.connected_ms;
        let measured = self.rate.rate(now_ms, 5, since);
        self.hashrate = if measured > 0 {
            measured
        } else {
            self.declared_hashrate
        };
    }

    /// Display name for logs: worker name if known, else address.
    pub fn label(&self) -> String {
        if self.worker.is_empty() {
            format!("#{} {}", self.id, self.addr)
        } else {
            format!("#{} {} ({})", self.id, self.worker, self.addr)
        }
    }
}

/// Lowercase hex of `id` without leading zeros, as sent in job ids.
pub fn hex_id(id: u32, buf: &mut [u8; 8]) -> &[u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (8 - (id.leading_zeros() / 4) as usize).max(1);
    for i in 0..digits {
        buf[digits - 1 - i] = DIGITS[((id >> (4 * i)) & 15) as usize];
    }
    &buf[..digits]
}

/// Parse a job id we issued.
pub fn parse_job_id(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 8 {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miner() -> Miner {
        let v = Vardiff::new(Difficulty::ONE, Difficulty::ONE, Difficulty::ONE, 20, 0);
        Miner::new(5, [0, 5], "127.0.0.1:1".parse().unwrap(), v, 0)
    }

    #[test]
    fn test_rate_history_five_minute_slots_last_one_ending_now() {
        const MIN: u64 = 60_000;
        // Connected at minute 100; 300 MH of work in each of minutes 100..130, then nothing.
        let mut r = RateRing::new(100 * MIN);
        for m in 100..130 {
            r.add(m * MIN + 10, 300_000_000 * 60);
        }
        // At minute 134 and a half: slots cover minutes 75..=134; the first five end by
        // minute 100 and are None, the next six are full, the last (130..=134) idle.
        let h = r.history(134 * MIN + 30_000, 100 * MIN);
        assert_eq!(h[..5], [None; 5]);
        assert_eq!(h[5..11], [Some(300_000_000); 6]);
        assert_eq!(h[11], Some(0));
        // Work in the current minute counts for the time elapsed in it.
        r.add(134 * MIN + 30_000, 270_000_000 * 30);
        assert_eq!(
            r.history(134 * MIN + 30_000, 100 * MIN)[11],
            Some(30_000_000)
        );
    }

    #[test]
    fn test_connected_subscribe_then_authorize_is_working() {
        let mut m = miner();
        assert!(m.on(MinerEvent::Subscribe));
        assert!(m.on(MinerEvent::Authorize));
        assert_eq!(m.state, MinerState::Working);
        assert!(!m.on(MinerEvent::Authorize));
    }

    #[test]
    fn test_connected_authorize_then_subscribe_is_working() {
        let mut m = miner();
        m.on(MinerEvent::Authorize);
        m.on(MinerEvent::Subscribe);
        assert_eq!(m.state, MinerState::Working);
    }

    #[test]
    fn test_hex_id_round_trip() {
        let mut b = [0u8; 8];
        assert_eq!(hex_id(0, &mut b), b"0");
        assert_eq!(hex_id(0x1a2b, &mut b), b"1a2b");
        assert_eq!(parse_job_id("1a2b"), Some(0x1a2b));
        assert_eq!(parse_job_id("xyz"), None);
    }

    #[test]
    fn test_job_ids_have_distinct_crc16_in_ring() {
        let mut m = miner();
        let job = dummy_job();
        let mut crcs = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let (id, crc) = m.new_job_id();
            assert!(!m.jobs.has_crc(crc));
            m.jobs.push(SentJob {
                id,
                crc,
                job: job.clone(),
                difficulty: Difficulty::ONE,
                variant: Variant(0),
            });
            crcs.insert(crc);
        }
        let ring: Vec<u16> = m.jobs.slots.iter().flatten().map(|j| j.crc).collect();
        let uniq: std::collections::HashSet<_> = ring.iter().collect();
        assert_eq!(uniq.len(), JOB_RING);
    }

    #[test]
    fn test_rate_ring_windows_and_expiry() {
        let mut r = RateRing::new(0);
        // 60 s of 1,000 H/s, then 4 quiet minutes.
        r.add(30_000, 60_000);
        assert_eq!(
            r.rate(60_000, 5, 0),
            1_000,
            "only 60 s connected: rate over that"
        );
        assert_eq!(
            r.rate(299_999, 5, 0),
            200,
            "60,000 hashes over (almost) 5 min"
        );
        assert_eq!(
            r.rate(300_000, 5, 0),
            0,
            "minute 0 has left the 5 min window"
        );
        assert_eq!(
            r.rate(3_600_000 + 60_000, 60, 0),
            0,
            "an hour later the minute has expired"
        );
        r.add(10_000_000, 6_000);
        assert!(r.rate(10_000_000, 60, 0) > 0);
    }

    #[test]
    fn test_dup_ring_refuses_repeat() {
        let mut d = DupRing::default();
        let h = [7u8; 32];
        assert!(d.insert(&h));
        assert!(!d.insert(&h));
        assert!(d.insert(&[8u8; 32]));
    }

    fn dummy_job() -> Rc<Job> {
        use crate::wire::sv1::msg::{envelope, PoolMessage};
        let line = br#"{"id":null,"method":"mining.notify","params":["j","0000000000000000000000000000000000000000000000000000000000000000","","",[],"20000000","1d00ffff","65000000",false]}"#;
        let env = envelope(line).unwrap();
        let PoolMessage::Notify(n) = PoolMessage::parse(&env).unwrap() else {
            panic!()
        };
        let origin = crate::work::job::JobOrigin {
            pool: 0,
            conn_gen: 0,
            epoch: 0,
            extranonce1: heapless::Vec::new(),
            extranonce2_size: 8,
            difficulty: Difficulty::ONE,
            serial: 1,
        };
        Rc::new(Job::from_notify(&n, origin).unwrap())
    }
}
