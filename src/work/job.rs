//! A pool's job as received, and the extranonce mapping onto miners.
//!
//! hashmux gives every miner its own constant extranonce1, a [`TAG_SIZE`]-byte tag, and an
//! extranonce2 size M. For a pool with extranonce1 `E1` and extranonce2 size `N`:
//! - to the miner: `coinb1' = coinb1 ‖ E1`, `coinb2' = zeros(N − TAG_SIZE − M) ‖ coinb2`;
//! - to the pool: `E2 = tag ‖ E2_miner ‖ zeros(N − TAG_SIZE − M)`.
//!
//! A Stratum V2 miner gets the same bytes: an extended channel's extranonce prefix is the tag,
//! its job's coinbase prefix `coinb1'` and suffix `coinb2'` ([`Job::coinbase_parts`]); a
//! standard channel cannot roll an extranonce, so its extranonce2 is M zero bytes and hashmux
//! sends the merkle root ([`Job::merkle_root_for`]).
//!
//! The bytes are exactly the pool's coinbase, so a miner's share is the pool's share, and
//! moving a miner to another pool is only a new job. A [`Job`] is immutable once built; it
//! remembers its pool, that pool's connection generation and block epoch, so a late share can
//! be routed to the pool that issued it and judged stale only when that pool moved on.

use super::hash;
use super::Difficulty;
use crate::wire::sv1::{self as stratum, Notify};
use std::cell::OnceCell;
use std::fmt;
use std::rc::Rc;

/// Bytes of extranonce space each miner's tag takes.
pub const TAG_SIZE: usize = 2;
/// Smallest and largest miner extranonce2 size we hand out (cgminer needs ≥ 2; Avalon rolls ≤ 4).
pub const MIN_MINER_E2: usize = 2;
pub const MAX_MINER_E2: usize = 4;
/// Longest pool job id we keep.
pub const MAX_JOB_ID: usize = 64;
/// Most merkle branches (Avalon firmware takes ≤ 30).
pub const MAX_BRANCHES: usize = 32;
/// Longest pool extranonce1.
pub const MAX_E1: usize = 32;
/// Largest coinb1/coinb2 each (a real coinbase stays below ~6 KB).
pub const MAX_COINB: usize = 16 * 1024;

/// Why a pool's notify could not become a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobError {
    JobIdTooLong,
    /// The job id string has a bad JSON escape.
    BadJobId,
    BadPrevhash,
    BadCoinbase,
    BadBranch,
    TooManyBranches,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobError::JobIdTooLong => "job id longer than 64 characters",
            JobError::BadJobId => "job id has a bad escape",
            JobError::BadPrevhash => "prevhash is not 64 hex digits",
            JobError::BadCoinbase => "coinbase part is not hex or is too large",
            JobError::BadBranch => "merkle branch is not 64 hex digits",
            JobError::TooManyBranches => "more than 32 merkle branches",
        })
    }
}

/// A job's parts as an upstream of any protocol decoded them (see [`Job::from_parts`]).
pub struct JobParts<'a> {
    /// The pool's job id (SV2: the u32 job id).
    pub id: u32,
    /// Previous block hash in the header's internal byte order.
    pub prevhash: [u8; 32],
    pub coinb1: &'a [u8],
    pub coinb2: &'a [u8],
    /// Merkle branches, 32 bytes each, back to back.
    pub branches: &'a [u8],
    pub version: u32,
    pub nbits: u32,
    pub ntime: u32,
    pub clean: bool,
}

/// A pool's job id in the pool's own type: SV1 ids are strings (sent back as they came),
/// SV2 ids are u32 (sent back as the number). Never converted between the two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolJobId {
    Text(heapless::String<MAX_JOB_ID>),
    Number(u32),
}

impl fmt::Display for PoolJobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolJobId::Text(s) => f.write_str(s),
            PoolJobId::Number(n) => write!(f, "{n}"),
        }
    }
}

/// Where a job came from and the pool state it was issued under.
#[derive(Clone, Debug)]
pub struct JobOrigin {
    pub pool: usize,
    /// Pool connection generation: a share is only submittable on the same connection.
    pub conn_gen: u32,
    /// Pool block epoch: bumped on every new block and every extranonce change; an older
    /// epoch means stale.
    pub epoch: u32,
    pub extranonce1: heapless::Vec<u8, MAX_E1>,
    pub extranonce2_size: usize,
    pub difficulty: Difficulty,
    /// Unique among the jobs of this process (pool index and the pool's job count): tells
    /// whether a miner has had this job before.
    pub serial: u64,
}

/// Which copy of a job a miner gets. Copy 0 is the job as the pool made it; copy `n` varies
/// the bytes hashmux owns so that it is different work: the padding of the pool's
/// extranonce2 (`n` little-endian), and, past what the padding can count (or with no padding
/// at all), the ntime, `n >> 8·padding` seconds later. A miner that restarts its extranonce2
/// on every notify (cgminer, bfgminer, Avalon) therefore never redoes work it did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Variant(pub u32);

/// A job as an upstream decoded it, before the core gives it an origin: what every protocol
/// delivers, validated and owned.
#[derive(Debug)]
pub struct JobTemplate {
    pub id: PoolJobId,
    /// Previous block hash as the header carries it.
    pub prevhash: [u8; 32],
    pub coinb1: Box<[u8]>,
    pub coinb2: Box<[u8]>,
    pub branches: heapless::Vec<[u8; 32], MAX_BRANCHES>,
    pub version: u32,
    pub nbits: u32,
    pub ntime: u32,
    /// The pool says older jobs are void (a new block).
    pub clean: bool,
}

impl JobTemplate {
    /// An SV1 `mining.notify`, hex fields decoded and checked.
    pub fn from_notify(n: &Notify<'_>) -> Result<JobTemplate, JobError> {
        let id = stratum::json::unescape::<MAX_JOB_ID>(n.job_id).map_err(|e| match e {
            stratum::json::UnescapeError::TooLong => JobError::JobIdTooLong,
            stratum::json::UnescapeError::BadEscape => JobError::BadJobId,
        })?;
        let mut prevhash = [0u8; 32];
        if stratum::hex_decode(n.prevhash, &mut prevhash) != Some(32) {
            return Err(JobError::BadPrevhash);
        }
        let mut branches = heapless::Vec::new();
        for b in n.branches.items() {
            let mut h = [0u8; 32];
            let s = b.as_str().ok_or(JobError::BadBranch)?;
            if stratum::hex_decode(s, &mut h) != Some(32) {
                return Err(JobError::BadBranch);
            }
            branches.push(h).map_err(|_| JobError::TooManyBranches)?;
        }
        Ok(JobTemplate {
            id: PoolJobId::Text(id),
            prevhash,
            coinb1: decode_coinb(n.coinb1)?,
            coinb2: decode_coinb(n.coinb2)?,
            branches,
            version: n.version,
            nbits: n.nbits,
            ntime: n.ntime,
            clean: n.clean,
        })
    }

    /// Already-decoded parts (SV2 extended jobs). `prevhash` is in the block header's internal
    /// byte order.
    pub fn from_parts(p: &JobParts<'_>) -> Result<JobTemplate, JobError> {
        if p.coinb1.len() > MAX_COINB || p.coinb2.len() > MAX_COINB {
            return Err(JobError::BadCoinbase);
        }
        let mut branches = heapless::Vec::new();
        for b in p.branches.chunks(32) {
            let b: [u8; 32] = b.try_into().map_err(|_| JobError::BadBranch)?;
            branches.push(b).map_err(|_| JobError::TooManyBranches)?;
        }
        Ok(JobTemplate {
            id: PoolJobId::Number(p.id),
            prevhash: hash::swap_words(&p.prevhash),
            coinb1: p.coinb1.into(),
            coinb2: p.coinb2.into(),
            branches,
            version: p.version,
            nbits: p.nbits,
            ntime: p.ntime,
            clean: p.clean,
        })
    }
}

/// One pool job, immutable, shared by every miner working on it: a template and its origin.
/// The template's fields read through (`job.coinb1`).
pub struct Job {
    pub origin: JobOrigin,
    template: JobTemplate,
    /// Rendered SV1 notify bodies, one per miner extranonce2 size, each written once on
    /// first use (a memo, not shared mutable state).
    bodies: [OnceCell<Rc<[u8]>>; MAX_MINER_E2 + 1],
}

impl std::ops::Deref for Job {
    type Target = JobTemplate;
    fn deref(&self) -> &JobTemplate {
        &self.template
    }
}

/// The full share a miner found, in the job's terms.
#[derive(Clone, Copy, Debug)]
pub struct ShareInput<'a> {
    pub tag: &'a [u8],
    pub miner_extranonce2: &'a [u8],
    pub ntime: u32,
    pub nonce: u32,
    /// The header version after rolling.
    pub version: u32,
    /// The copy of the job the miner worked on.
    pub variant: Variant,
}

impl Job {
    /// A template issued under `origin`.
    pub fn new(t: JobTemplate, origin: JobOrigin) -> Job {
        Job {
            origin,
            template: t,
            bodies: Default::default(),
        }
    }

    pub fn from_notify(n: &Notify<'_>, origin: JobOrigin) -> Result<Job, JobError> {
        Ok(Job::new(JobTemplate::from_notify(n)?, origin))
    }

    pub fn from_parts(p: &JobParts<'_>, origin: JobOrigin) -> Result<Job, JobError> {
        Ok(Job::new(JobTemplate::from_parts(p)?, origin))
    }

    /// Does a miner with this extranonce2 size fit into the pool's extranonce2 space?
    pub fn fits(&self, miner_e2: usize) -> bool {
        fits(self.origin.extranonce2_size, miner_e2)
    }

    /// Bytes appended after the miner's extranonce2 to fill the pool's; 0 for a miner that
    /// does not fit (callers check [`Job::fits`] first; this never underflows).
    fn padding(&self, miner_e2: usize) -> usize {
        self.origin
            .extranonce2_size
            .saturating_sub(TAG_SIZE + miner_e2)
    }

    /// The padding bytes of copy `v` for a miner with extranonce2 size `miner_e2`.
    pub fn padding_bytes(&self, miner_e2: usize, v: Variant) -> heapless::Vec<u8, 32> {
        let n = self.padding(miner_e2);
        let mut out = heapless::Vec::new();
        let le = v.0.to_le_bytes();
        for i in 0..n {
            let _ = out.push(le.get(i).copied().unwrap_or(0));
        }
        out
    }

    /// The ntime copy `v` is handed out with.
    pub fn ntime_of(&self, miner_e2: usize, v: Variant) -> u32 {
        let n = self.padding(miner_e2);
        let carry = if n >= 4 { 0 } else { v.0 >> (8 * n) };
        self.ntime.wrapping_add(carry)
    }

    /// The middle of a `mining.notify` for miners with extranonce2 size `miner_e2`:
    /// `"prevhash","coinb1'","coinb2'",[branches],"version","nbits","ntime",`.
    /// `None` if such a miner does not fit this job. Copy 0 is rendered once per size.
    pub fn notify_body(&self, miner_e2: usize, v: Variant) -> Option<Rc<[u8]>> {
        if !self.fits(miner_e2) || miner_e2 > MAX_MINER_E2 {
            return None;
        }
        if v != Variant(0) {
            return Some(self.render_body(miner_e2, v));
        }
        Some(
            self.bodies[miner_e2]
                .get_or_init(|| self.render_body(miner_e2, v))
                .clone(),
        )
    }

    fn render_body(&self, miner_e2: usize, v: Variant) -> Rc<[u8]> {
        let mut out = Vec::with_capacity(
            2 * (self.coinb1.len() + self.coinb2.len()) + 80 * self.branches.len() + 200,
        );
        out.push(b'"');
        stratum::hex_push(&mut out, &self.prevhash);
        out.extend_from_slice(b"\",\"");
        stratum::hex_push(&mut out, &self.coinb1);
        stratum::hex_push(&mut out, &self.origin.extranonce1);
        out.extend_from_slice(b"\",\"");
        stratum::hex_push(&mut out, &self.padding_bytes(miner_e2, v));
        stratum::hex_push(&mut out, &self.coinb2);
        out.extend_from_slice(b"\",[");
        for (i, b) in self.branches.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            stratum::hex_push(&mut out, b);
            out.push(b'"');
        }
        use std::io::Write;
        let _ = write!(
            out,
            "],\"{:08x}\",\"{:08x}\",\"{:08x}\",",
            self.version,
            self.nbits,
            self.ntime_of(miner_e2, v)
        );
        out.into()
    }

    /// The extranonce2 the pool sees for a miner's share on copy `v`.
    pub fn pool_extranonce2(
        &self,
        tag: &[u8],
        miner_e2: &[u8],
        v: Variant,
    ) -> heapless::Vec<u8, 32> {
        let mut e2 = heapless::Vec::new();
        let _ = e2.extend_from_slice(tag);
        let _ = e2.extend_from_slice(miner_e2);
        let _ = e2.extend_from_slice(&self.padding_bytes(miner_e2.len(), v));
        e2
    }

    /// The coinbase around a miner's extranonce, as an SV2 extended job carries it, for copy
    /// `v` and a miner extranonce of `miner_e2` bytes after the tag: `(coinb1 ‖ E1,
    /// padding ‖ coinb2)`. The full extranonce in between is `tag ‖ miner extranonce2`.
    pub fn coinbase_parts(&self, miner_e2: usize, v: Variant) -> (Vec<u8>, Vec<u8>) {
        let mut prefix = Vec::with_capacity(self.coinb1.len() + self.origin.extranonce1.len());
        prefix.extend_from_slice(&self.coinb1);
        prefix.extend_from_slice(&self.origin.extranonce1);
        let pad = self.padding_bytes(miner_e2, v);
        let mut suffix = Vec::with_capacity(pad.len() + self.coinb2.len());
        suffix.extend_from_slice(&pad);
        suffix.extend_from_slice(&self.coinb2);
        (prefix, suffix)
    }

    /// The merkle root of copy `v` for a miner whose whole extranonce is `tag ‖ miner_e2`
    /// (an SV2 standard channel, which cannot roll the extranonce itself).
    pub fn merkle_root_for(&self, tag: &[u8], miner_e2: &[u8], v: Variant) -> [u8; 32] {
        let pad = self.padding_bytes(miner_e2.len(), v);
        let cb = hash::sha256d_parts(&[
            &self.coinb1,
            &self.origin.extranonce1,
            tag,
            miner_e2,
            &pad,
            &self.coinb2,
        ]);
        hash::merkle_root(&cb, &self.branches)
    }

    /// sha256d of the 80-byte header the share describes.
    pub fn share_hash(&self, s: &ShareInput<'_>) -> [u8; 32] {
        let root = self.merkle_root_for(s.tag, s.miner_extranonce2, s.variant);
        hash::sha256d(&hash::header(
            s.version,
            &self.prevhash,
            &root,
            s.ntime,
            self.nbits,
            s.nonce,
        ))
    }
}

/// Does a miner extranonce2 of `miner_e2` bytes fit a pool extranonce2 of `pool_e2` bytes?
pub fn fits(pool_e2: usize, miner_e2: usize) -> bool {
    pool_e2 >= TAG_SIZE + miner_e2 && pool_e2 <= 32
}

/// The miner extranonce2 size to hand out given the smallest pool extranonce2 size known.
/// `None` if even the minimum does not fit.
pub fn miner_e2_size(smallest_pool_e2: usize) -> Option<usize> {
    let m = smallest_pool_e2.checked_sub(TAG_SIZE)?.min(MAX_MINER_E2);
    (m >= MIN_MINER_E2).then_some(m)
}

fn decode_coinb(hex: &str) -> Result<Box<[u8]>, JobError> {
    if hex.len() > 2 * MAX_COINB {
        return Err(JobError::BadCoinbase);
    }
    let mut v = vec![0u8; hex.len() / 2];
    match stratum::hex_decode(hex, &mut v) {
        Some(_) => Ok(v.into_boxed_slice()),
        None => Err(JobError::BadCoinbase),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::sv1::msg::{envelope, PoolMessage};

    /// Build a job from a notify line under a pool with extranonce1 `e1` and size `e2_size`.
    fn from_line(line: &[u8], e1: &[u8], e2_size: usize) -> Result<Job, JobError> {
        let env = envelope(line).unwrap();
        let PoolMessage::Notify(n) = PoolMessage::parse(&env).unwrap() else {
            panic!("not a notify")
        };
        let origin = JobOrigin {
            pool: 0,
            conn_gen: 1,
            epoch: 1,
            extranonce1: heapless::Vec::from_slice(e1).unwrap(),
            extranonce2_size: e2_size,
            difficulty: Difficulty::ONE,
            serial: 1,
        };
        Job::from_notify(&n, origin)
    }

    fn job(e1: &[u8], e2_size: usize) -> Job {
        let line = br#"{"id":null,"method":"mining.notify","params":["j1","00000000000000000000000000000000000000000000000000000000000000ff","01020304","0506",["1111111111111111111111111111111111111111111111111111111111111111"],"20000000","1d00ffff","65000000",false]}"#;
        from_line(line, e1, e2_size).unwrap()
    }

    #[test]
    fn test_miner_e2_size_choice() {
        assert_eq!(miner_e2_size(8), Some(4));
        assert_eq!(miner_e2_size(4), Some(2));
        assert_eq!(miner_e2_size(5), Some(3));
        assert_eq!(miner_e2_size(3), None);
    }

    #[test]
    fn test_notify_body_moves_e1_into_coinb1_and_pads_coinb2() {
        let j = job(&[0xaa, 0xbb], 8);
        let body = j.notify_body(4, Variant(0)).unwrap();
        let text = core::str::from_utf8(&body).unwrap();
        assert!(text.contains("\"01020304aabb\""), "{text}");
        assert!(text.contains("\"00000506\""), "{text}");
        assert!(text.ends_with("\"20000000\",\"1d00ffff\",\"65000000\","));
    }

    #[test]
    fn test_pool_extranonce2_is_tag_e2_padding() {
        let j = job(&[0xaa], 8);
        assert_eq!(
            &j.pool_extranonce2(&[0, 7], &[1, 2, 3], Variant(0))[..],
            &[0, 7, 1, 2, 3, 0, 0, 0]
        );
    }

    #[test]
    fn test_share_hash_equals_pool_view_of_coinbase() {
        // The miner's coinbase (coinb1' ‖ tag ‖ E2_miner ‖ coinb2') must equal the pool's
        // (coinb1 ‖ E1 ‖ E2_pool ‖ coinb2), so the hashes agree.
        let j = job(&[0xaa, 0xbb, 0xcc, 0xdd], 8);
        let tag = [0x00, 0x05];
        let e2 = [9, 8, 7];
        let h = j.share_hash(&ShareInput {
            tag: &tag,
            miner_extranonce2: &e2,
            ntime: 1,
            nonce: 2,
            version: 0x2000_0000,
            variant: Variant(0),
        });
        let pool_e2 = j.pool_extranonce2(&tag, &e2, Variant(0));
        let cb =
            hash::sha256d_parts(&[&[1, 2, 3, 4], &[0xaa, 0xbb, 0xcc, 0xdd], &pool_e2, &[5, 6]]);
        let root = hash::merkle_root(&cb, &j.branches);
        assert_eq!(
            h,
            hash::sha256d(&hash::header(
                0x2000_0000,
                &j.prevhash,
                &root,
                1,
                0x1d00ffff,
                2
            ))
        );
    }

    #[test]
    fn test_copies_of_a_job_differ_in_padding_then_ntime_and_hash_as_the_pool_sees_them() {
        // Padding of 2 bytes (pool 8, tag 2, miner 4): copies 1..65535 vary the padding.
        let j = job(&[0xaa], 8);
        let tag = [0, 5];
        let e2 = [1, 2, 3, 4];
        let v = Variant(0x0102);
        let body = String::from_utf8(j.notify_body(4, v).unwrap().to_vec()).unwrap();
        assert!(body.contains("\"02010506\""), "{body}");
        assert_eq!(j.ntime_of(4, v), 0x6500_0000);
        assert_eq!(
            &j.pool_extranonce2(&tag, &e2, v)[..],
            &[0, 5, 1, 2, 3, 4, 2, 1]
        );
        let input = |variant| ShareInput {
            tag: &tag,
            miner_extranonce2: &e2,
            ntime: 1,
            nonce: 2,
            version: 0x2000_0000,
            variant,
        };
        assert_ne!(j.share_hash(&input(v)), j.share_hash(&input(Variant(0))));
        let cb = hash::sha256d_parts(&[
            &[1, 2, 3, 4],
            &[0xaa],
            &j.pool_extranonce2(&tag, &e2, v),
            &[5, 6],
        ]);
        let root = hash::merkle_root(&cb, &j.branches);
        let header = hash::header(0x2000_0000, &j.prevhash, &root, 1, 0x1d00ffff, 2);
        assert_eq!(j.share_hash(&input(v)), hash::sha256d(&header));
        // No padding (pool 6, miner 4): copies move the ntime by one second each.
        let tight = job(&[0xaa], 6);
        assert!(tight.padding_bytes(4, Variant(3)).is_empty());
        assert_eq!(tight.ntime_of(4, Variant(3)), 0x6500_0003);
        let b0 = tight.notify_body(4, Variant(0)).unwrap();
        let b3 = tight.notify_body(4, Variant(3)).unwrap();
        assert_ne!(b0, b3);
        assert!(String::from_utf8(b3.to_vec())
            .unwrap()
            .ends_with("\"65000003\","));
    }

    #[test]
    fn test_from_notify_rejects_bad_prevhash() {
        let line = br#"{"id":null,"method":"mining.notify","params":["j1","zz","01","02",[],"20000000","1d00ffff","65000000",false]}"#;
        assert_eq!(from_line(line, &[], 8).err(), Some(JobError::BadPrevhash));
    }
}
