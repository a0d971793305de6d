//! The last 24 hours of the split, one [`Sample`] per minute, for the chart on the stats page.
//!
//! Per minute and per pool it keeps the target share (from the last [`History::set_targets`])
//! and the measured share of accepted work counted by [`History::record`] during that minute,
//! both in tenths of a percent (0..=1000), or [`NO_DATA`].
//!
//! Invariants:
//! - Fixed size: [`MINUTES`] samples (≈ 46 KB) allocated once in [`History::new`]; the ring
//!   never grows, and once full each new minute overwrites the oldest.
//! - One sample per elapsed minute: a minute is closed when a later `now_ms` is seen (by
//!   `record` or by `roll`, which the 1 s tick calls so quiet minutes are closed too); minutes
//!   with no call at all are filled with no-data samples, at most [`MINUTES`] of them however
//!   long the jump.
//! - Time only comes from the `now_ms` arguments (minute = `now_ms / 60_000`): same calls, same
//!   history. A `now_ms` earlier than the open minute counts into the open minute; time never
//!   goes back.
//! - Integer arithmetic only.

use crate::MAX_POOLS;
use std::fmt;

/// Minutes kept: 24 hours.
pub const MINUTES: usize = 1440;
/// Marks a value with no data: pool absent, or no accepted work at all that minute.
pub const NO_DATA: u16 = u16::MAX;
/// Full scale of a share: 1000 tenths of a percent = 100 %.
pub const FULL: u16 = 1000;

const MINUTE_MS: u64 = 60_000;

/// One minute: per pool, target share and measured share of accepted work in that minute, in
/// tenths of a percent (0..=1000); [`NO_DATA`] = no data (pool absent / no work that minute).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub target: [u16; MAX_POOLS],
    pub actual: [u16; MAX_POOLS],
}

impl Sample {
    /// A minute with no data for any pool.
    pub const EMPTY: Sample = Sample {
        target: [NO_DATA; MAX_POOLS],
        actual: [NO_DATA; MAX_POOLS],
    };
}

pub struct History {
    samples: Box<[Sample; MINUTES]>,
    /// Slot the next closed minute goes to.
    next: usize,
    /// Samples held, `0..=MINUTES`.
    len: usize,
    /// Work counted so far in the open minute.
    minute_work: [u64; MAX_POOLS],
    /// The open minute (`now_ms / 60_000`), `None` before the first call.
    current_minute: Option<u64>,
    /// Targets from the last `set_targets`, tenths of a percent or `NO_DATA`.
    targets: [u16; MAX_POOLS],
}

impl fmt::Debug for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History")
            .field("len", &self.len)
            .field("next", &self.next)
            .field("current_minute", &self.current_minute)
            .field("minute_work", &self.minute_work)
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    pub fn new() -> Self {
        // Built on the heap: a 46 KB array by value would go through the stack first.
        let samples: Box<[Sample]> = vec![Sample::EMPTY; MINUTES].into_boxed_slice();
        let samples: Box<[Sample; MINUTES]> = match samples.try_into() {
            Ok(s) => s,
            Err(_) => unreachable!("vec of MINUTES samples"),
        };
        History {
            samples,
            next: 0,
            len: 0,
            minute_work: [0; MAX_POOLS],
            current_minute: None,
            targets: [NO_DATA; MAX_POOLS],
        }
    }

    /// Counts `work` (hashes of accepted shares) for `pool` at `now_ms`; closes the open minute
    /// first if `now_ms` is past it. Pools outside `0..MAX_POOLS` are ignored.
    pub fn record(&mut self, now_ms: u64, pool: usize, work: u64) {
        self.roll(now_ms);
        if let Some(w) = self.minute_work.get_mut(pool) {
            *w = w.saturating_add(work);
        }
    }

    /// Sets the targets used for the minutes closed from now on, in parts per million per pool
    /// (rounded to tenths of a percent, clamped to 0..=100 %). Pools past the end of
    /// `targets_ppm` have no target.
    pub fn set_targets(&mut self, targets_ppm: &[i64]) {
        for (i, t) in self.targets.iter_mut().enumerate() {
            *t = match targets_ppm.get(i) {
                Some(&ppm) => (ppm.clamp(0, 1_000_000).saturating_add(500) / 1000) as u16,
                None => NO_DATA,
            };
        }
    }

    /// Closes the open minute if `now_ms` is past it, then fills the minutes skipped since
    /// with no-data samples. The first call of `roll` or `record` opens the first minute.
    pub fn roll(&mut self, now_ms: u64) {
        let minute = now_ms / MINUTE_MS;
        let Some(open) = self.current_minute else {
            self.current_minute = Some(minute);
            return;
        };
        if minute <= open {
            return;
        }
        let closed = self.close_minute();
        self.push(closed);
        let skipped = (minute - open - 1).min(MINUTES as u64);
        for _ in 0..skipped {
            self.push(Sample::EMPTY);
        }
        self.minute_work = [0; MAX_POOLS];
        self.current_minute = Some(minute);
    }

    /// Sample for the open minute's work and the current targets.
    fn close_minute(&self) -> Sample {
        let total: u128 = self.minute_work.iter().map(|&w| w as u128).sum();
        let mut s = Sample {
            target: self.targets,
            actual: [NO_DATA; MAX_POOLS],
        };
        if total == 0 {
            return s;
        }
        for (i, a) in s.actual.iter_mut().enumerate() {
            let w = self.minute_work[i] as u128;
            // A pool with no target and no work is absent, not at 0 %.
            if w == 0 && self.targets[i] == NO_DATA {
                continue;
            }
            *a = ((w * FULL as u128 + total / 2) / total) as u16;
        }
        s
    }

    fn push(&mut self, s: Sample) {
        self.samples[self.next] = s;
        self.next = (self.next + 1) % MINUTES;
        self.len = (self.len + 1).min(MINUTES);
    }

    /// Closed minutes, oldest → newest.
    pub fn iter(&self) -> impl Iterator<Item = &Sample> {
        let start = (self.next + MINUTES - self.len) % MINUTES;
        (0..self.len).map(move |k| &self.samples[(start + k) % MINUTES])
    }

    /// Mean measured share of `pool` over the closed minutes that have data (tenths of a
    /// percent), or None if there are none.
    pub fn mean_actual(&self, pool: usize) -> Option<u32> {
        let (sum, n) = self
            .iter()
            .filter_map(|s| s.actual.get(pool).copied().filter(|&a| a != NO_DATA))
            .fold((0u64, 0u64), |(s, n), a| (s + a as u64, n + 1));
        (n > 0).then(|| (sum / n) as u32)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Compact little-endian form of the closed minutes:
    ///
    /// | bytes | field |
    /// |---|---|
    /// | 4 | magic `HMXH` |
    /// | 1 | version (1) |
    /// | 1 | pools per sample (`MAX_POOLS`) |
    /// | 2 | sample count (`0..=MINUTES`) |
    /// | 8 | minute of the newest sample, `u64::MAX` if none |
    /// | count × pools × 4 | per sample: `pools` targets then `pools` actuals, `u16` each |
    ///
    /// The open minute's partial work and the targets are not kept.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_LEN + self.len * SAMPLE_LEN);
        b.extend_from_slice(MAGIC);
        b.push(VERSION);
        b.push(MAX_POOLS as u8);
        b.extend_from_slice(&(self.len as u16).to_le_bytes());
        let newest = match self.current_minute {
            Some(m) if self.len > 0 => m - 1,
            _ => u64::MAX,
        };
        b.extend_from_slice(&newest.to_le_bytes());
        for s in self.iter() {
            for v in s.target.iter().chain(s.actual.iter()) {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        b
    }

    /// Decodes [`History::to_bytes`] output. The minute after the newest sample is opened, so the
    /// first `roll` after a restart fills the downtime with no-data samples.
    pub fn from_bytes(b: &[u8]) -> Result<History, HistoryError> {
        if b.len() < HEADER_LEN {
            return Err(HistoryError::Truncated {
                expected: HEADER_LEN,
                got: b.len(),
            });
        }
        if &b[0..4] != MAGIC {
            return Err(HistoryError::BadMagic);
        }
        if b[4] != VERSION {
            return Err(HistoryError::Version(b[4]));
        }
        if b[5] as usize != MAX_POOLS {
            return Err(HistoryError::Pools(b[5]));
        }
        let len = u16::from_le_bytes([b[6], b[7]]) as usize;
        if len > MINUTES {
            return Err(HistoryError::TooMany(len));
        }
        let mut newest = [0u8; 8];
        newest.copy_from_slice(&b[8..16]);
        let newest = u64::from_le_bytes(newest);
        if (len == 0) != (newest == u64::MAX) {
            return Err(HistoryError::BadMinute);
        }
        let expected = HEADER_LEN + len * SAMPLE_LEN;
        if b.len() < expected {
            return Err(HistoryError::Truncated {
                expected,
                got: b.len(),
            });
        }
        if b.len() > expected {
            return Err(HistoryError::TrailingBytes(b.len() - expected));
        }
        let mut h = History::new();
        for (k, chunk) in b[HEADER_LEN..].chunks_exact(SAMPLE_LEN).enumerate() {
            let mut s = Sample::EMPTY;
            let values = s.target.iter_mut().chain(s.actual.iter_mut());
            for (j, (v, raw)) in values.zip(chunk.chunks_exact(2)).enumerate() {
                *v = u16::from_le_bytes([raw[0], raw[1]]);
                if *v > FULL && *v != NO_DATA {
                    return Err(HistoryError::BadValue {
                        sample: k,
                        value: j,
                        raw: *v,
                    });
                }
            }
            h.push(s);
        }
        if len > 0 {
            h.current_minute = Some(newest + 1);
        }
        Ok(h)
    }
}

const MAGIC: &[u8; 4] = b"HMXH";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 16;
const SAMPLE_LEN: usize = MAX_POOLS * 2 * 2;

/// Why [`History::from_bytes`] refused its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryError {
    /// Shorter than the header or than the samples it announces.
    Truncated {
        expected: usize,
        got: usize,
    },
    /// Longer than the samples the header announces.
    TrailingBytes(usize),
    BadMagic,
    Version(u8),
    /// Pools per sample differ from this build's `MAX_POOLS`.
    Pools(u8),
    /// More samples than [`MINUTES`].
    TooMany(usize),
    /// Newest-minute field inconsistent with the sample count.
    BadMinute,
    /// A value above 1000 that is not [`NO_DATA`].
    BadValue {
        sample: usize,
        value: usize,
        raw: u16,
    },
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::Truncated { expected, got } => {
                write!(f, "history truncated: {got} bytes, expected {expected}")
            }
            HistoryError::TrailingBytes(n) => write!(f, "history has {n} trailing bytes"),
            HistoryError::BadMagic => write!(f, "not a history (bad magic)"),
            HistoryError::Version(v) => write!(f, "unsupported history version {v}"),
            HistoryError::Pools(p) => {
                write!(f, "history has {p} pools per sample, expected {MAX_POOLS}")
            }
            HistoryError::TooMany(n) => {
                write!(f, "history has {n} samples, at most {MINUTES} allowed")
            }
            HistoryError::BadMinute => write!(f, "history newest minute inconsistent"),
            HistoryError::BadValue { sample, value, raw } => {
                write!(
                    f,
                    "history sample {sample} value {value} out of range: {raw}"
                )
            }
        }
    }
}

impl std::error::Error for HistoryError {}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = MINUTE_MS;

    fn two_pools() -> History {
        let mut h = History::new();
        h.set_targets(&[700_000, 300_000]);
        h
    }

    #[test]
    fn test_record_closes_minute_on_next_minute() {
        let mut h = two_pools();
        h.record(10 * M, 0, 5);
        h.record(10 * M + 59_999, 1, 5);
        assert!(h.is_empty());
        h.record(11 * M, 0, 1);
        assert_eq!(h.len(), 1);
        let s = h.iter().next().unwrap();
        assert_eq!(s.actual[0], 500);
        assert_eq!(s.actual[1], 500);
        assert_eq!(s.target[0], 700);
        assert_eq!(s.target[1], 300);
    }

    #[test]
    fn test_actual_per_mille_from_work() {
        let mut h = two_pools();
        h.record(0, 0, 700);
        h.record(1, 1, 300);
        h.roll(M);
        let s = h.iter().next().unwrap();
        assert_eq!(&s.actual[..2], &[700, 300]);
        assert_eq!(&s.target[..2], &[700, 300]);
        assert!(s.actual[2..].iter().all(|&a| a == NO_DATA));
        assert!(s.target[2..].iter().all(|&t| t == NO_DATA));
    }

    #[test]
    fn test_actual_rounds_and_survives_huge_work() {
        let mut h = two_pools();
        h.record(0, 0, u64::MAX);
        h.record(0, 0, u64::MAX); // saturates, no overflow
        h.record(0, 1, u64::MAX / 2);
        h.roll(M);
        let s = h.iter().next().unwrap();
        assert_eq!(&s.actual[..2], &[667, 333]);
    }

    #[test]
    fn test_pool_without_work_but_with_target_is_zero() {
        let mut h = two_pools();
        h.record(0, 0, 42);
        h.roll(M);
        let s = h.iter().next().unwrap();
        assert_eq!(&s.actual[..2], &[1000, 0]);
    }

    #[test]
    fn test_no_work_minute_is_no_data() {
        let mut h = two_pools();
        h.roll(0);
        h.roll(M);
        assert_eq!(h.len(), 1);
        let s = h.iter().next().unwrap();
        assert!(s.actual.iter().all(|&a| a == NO_DATA));
        assert_eq!(&s.target[..2], &[700, 300]);
    }

    #[test]
    fn test_roll_within_minute_or_backwards_does_nothing() {
        let mut h = two_pools();
        h.record(5 * M, 0, 1);
        h.roll(5 * M + 30_000);
        h.roll(2 * M);
        h.record(3 * M, 1, 1); // counts into the open minute
        assert!(h.is_empty());
        h.roll(6 * M);
        assert_eq!(h.len(), 1);
        assert_eq!(&h.iter().next().unwrap().actual[..2], &[500, 500]);
    }

    #[test]
    fn test_skipped_minutes_filled_with_no_data() {
        let mut h = two_pools();
        h.record(0, 0, 1);
        h.record(4 * M, 1, 1);
        assert_eq!(h.len(), 4);
        let v: Vec<&Sample> = h.iter().collect();
        assert_eq!(v[0].actual[0], 1000);
        for s in &v[1..] {
            assert_eq!(**s, Sample::EMPTY);
        }
        h.roll(5 * M);
        assert_eq!(h.iter().last().unwrap().actual[1], 1000);
    }

    #[test]
    fn test_skipped_minutes_bounded_by_ring() {
        let mut h = two_pools();
        h.record(0, 0, 1);
        h.roll(u64::MAX);
        assert_eq!(h.len(), MINUTES);
        assert!(h.iter().all(|s| *s == Sample::EMPTY));
    }

    #[test]
    fn test_ring_wraps_after_full_day() {
        let mut h = two_pools();
        let extra = 100u64;
        for m in 0..(MINUTES as u64 + extra + 1) {
            // Pool 0's share encodes the minute (mod 1000) so order can be checked.
            let a = m % 1000;
            h.record(m * M, 0, a);
            h.record(m * M, 1, 1000 - a);
        }
        assert_eq!(h.len(), MINUTES);
        for (k, s) in h.iter().enumerate() {
            let m = k as u64 + extra;
            assert_eq!(s.actual[0] as u64, m % 1000, "sample {k}");
        }
    }

    #[test]
    fn test_set_targets_rounds_and_clamps() {
        let mut h = History::new();
        h.set_targets(&[333_333, 666_667, -5, 2_000_000, 499]);
        h.roll(0);
        h.roll(M);
        let t = h.iter().next().unwrap().target;
        assert_eq!(&t[..5], &[333, 667, 0, 1000, 0]);
        assert_eq!(t[5], NO_DATA);
    }

    #[test]
    fn test_bytes_round_trip() {
        let mut h = two_pools();
        for m in 0..50u64 {
            if m % 7 != 3 {
                h.record(m * M, (m % 2) as usize, 10 + m);
                h.record(m * M, 1, 20);
            }
        }
        h.roll(60 * M);
        let b = h.to_bytes();
        assert_eq!(b.len(), HEADER_LEN + h.len() * SAMPLE_LEN);
        let g = History::from_bytes(&b).unwrap();
        assert_eq!(g.len(), h.len());
        assert!(g.iter().eq(h.iter()));
        assert_eq!(g.to_bytes(), b);
        // The downtime after a restart becomes no-data minutes.
        let mut g = g;
        g.roll(65 * M);
        assert_eq!(g.len(), h.len() + 5);
    }

    #[test]
    fn test_bytes_round_trip_empty_and_full() {
        let h = History::new();
        let g = History::from_bytes(&h.to_bytes()).unwrap();
        assert!(g.is_empty());
        let mut h = two_pools();
        for m in 0..(MINUTES as u64 + 10) {
            h.record(m * M, 0, 3);
            h.record(m * M, 1, 1);
        }
        let g = History::from_bytes(&h.to_bytes()).unwrap();
        assert_eq!(g.len(), MINUTES);
        assert!(g.iter().eq(h.iter()));
    }

    #[test]
    fn test_from_bytes_rejects_truncated_and_garbage() {
        let mut h = two_pools();
        for m in 0..5u64 {
            h.record(m * M, 0, 1);
        }
        let b = h.to_bytes();
        for n in 0..b.len() {
            assert!(
                matches!(
                    History::from_bytes(&b[..n]),
                    Err(HistoryError::Truncated { .. })
                ),
                "prefix {n}"
            );
        }
        let mut long = b.clone();
        long.push(0);
        assert_eq!(
            History::from_bytes(&long).err(),
            Some(HistoryError::TrailingBytes(1))
        );
        let mut bad = b.clone();
        bad[0] = b'X';
        assert_eq!(
            History::from_bytes(&bad).err(),
            Some(HistoryError::BadMagic)
        );
        let mut bad = b.clone();
        bad[4] = 9;
        assert_eq!(
            History::from_bytes(&bad).err(),
            Some(HistoryError::Version(9))
        );
        let mut bad = b.clone();
        bad[5] = 3;
        assert_eq!(
            History::from_bytes(&bad).err(),
            Some(HistoryError::Pools(3))
        );
        let mut bad = b.clone();
        bad[6..8].copy_from_slice(&2000u16.to_le_bytes());
        assert_eq!(
            History::from_bytes(&bad).err(),
            Some(HistoryError::TooMany(2000))
        );
        let mut bad = b.clone();
        bad[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            History::from_bytes(&bad).err(),
            Some(HistoryError::BadMinute)
        );
        let mut bad = b.clone();
        bad[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&1001u16.to_le_bytes());
        assert!(matches!(
            History::from_bytes(&bad),
            Err(HistoryError::BadValue {
                sample: 0,
                value: 1,
                raw: 1001
            })
        ));
        let garbage: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
        assert!(History::from_bytes(&garbage).is_err());
        assert!(History::from_bytes(&[]).is_err());
        // Errors read as text.
        let e = History::from_bytes(&b[..3]).unwrap_err();
        assert_eq!(e.to_string(), "history truncated: 3 bytes, expected 16");
    }
}
