//! The core: the proxy's whole state and logic, with no I/O and no clock.
//!
//! [`Core`] owns the pool table, the miner table, every share in flight, the ledger (per
//! miner, per pool and per worker counters, the split history) and the split (PID and
//! scheduler). It is driven the way smoltcp's `Interface` and quinn-proto's `Connection` are:
//! - [`Core::handle_pool`] takes an [`Upstream`] event from pool `i`'s connection, whatever
//!   its protocol; [`Core::miner_connected`] and [`Core::handle_miner`] take
//!   [`Downstream`] events from miner connections; [`Core::tick`] runs the housekeeping.
//!   Every call gets the time (`now`, ms on the runtime's monotonic clock) as an argument.
//! - [`Core::poll_action`] hands out what must happen next ([`Action`]): a message for a
//!   miner or a pool in the core's own job/share model (the connection kinds render it in
//!   their protocol), a connection to close, stats to save.
//!
//! The runtime owns the one `Core` and borrows it for one synchronous call at a time.
//! Invariants (checked by the stateful fuzz target `fuzz/fuzz_targets/core_events.rs`): every
//! job a miner is given fits its extranonce; per pool, forwarded = accepted + rejected + lost
//! + in flight; tables stay within their caps; the actions queue is drained after each call.

mod assign;
pub mod backoff;
mod ledger;
pub mod miner;
mod on_miner;
mod on_pool;
pub mod pool;
mod reconfigure;
pub mod split;
mod tick;
pub mod vardiff;

pub use ledger::{add_counters, MAX_WORKERS};
pub use pool::WANTED_VERSION_MASK;
pub use reconfigure::{Applied, ControlError};

use crate::ops::config::Config;
use crate::stats::history::History;
use crate::stats::ShareCounters;
use crate::work::job::{Job, JobTemplate, Variant, TAG_SIZE};
use crate::work::Difficulty;
use crate::MAX_POOLS;
use miner::Miner;
use pool::Pool;
use split::pid::Pid;
use split::scheduler::Scheduler;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

/// Something is sent to every miner at least this often (cgminer gives up after ~90 s).
pub const KEEPALIVE_MS: u64 = 55_000;
/// A pool connection that is not live this long after connecting is dropped.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 20_000;
/// How long a miner's subscribe/configure waits for the first pool to tell us its sizes.
pub const POOL_WAIT_MS: u64 = 5_000;
/// How often each pool is told the hashrate working for it (SV2 `UpdateChannel`).
pub const HASHRATE_REPORT_MS: u64 = 60_000;
/// Shortest gap between two notifies to one miner (a clean job may follow a plain one at
/// once): a pool flooding jobs reaches each miner as its latest job at most this often, which
/// Avalon firmware (3 jobs kept) tolerates.
pub const MIN_NOTIFY_GAP_MS: u64 = 1_000;
/// A pool sending more jobs than this in one second is flagged as flooding.
pub const FLOOD_JOBS_PER_SEC: u32 = 20;
/// A miner's difficulty never drops below its vardiff difficulty divided by this, whatever a
/// pool asks: a pool asking 1e-300 gets every share, at most this many times the configured
/// share rate per miner, instead of every hash.
pub const POOL_FLOOR_RATIO: u64 = 16;
/// Shares whose ntime is before their job's or this far after it are refused, as pools do.
pub const MAX_NTIME_AHEAD_S: u32 = 7_000;

/// A miner connection, unique for the life of the process.
pub type MinerId = u32;
/// A request id as the miner wrote it (SV1: the raw JSON text of `"id"`).
pub type ReqId = heapless::String<32>;

/// What a pool connection reports, in the core's terms (SV1 and SV2 alike).
#[derive(Debug)]
pub enum Upstream<'a> {
    /// A connection attempt starts (DNS and TCP).
    Connecting,
    /// The connection is up (for SV2: the encrypted session); the handshake is under way.
    Connected { encrypted: bool },
    /// The version bits the pool lets miners roll (`None`: no version rolling).
    VersionMask(Option<u32>),
    /// The pool's extranonce space: SV1 subscribe answer or `mining.set_extranonce`, SV2
    /// channel opened or `SetExtranoncePrefix`.
    Extranonce { prefix: &'a [u8], e2_size: usize },
    /// The pool accepted our credentials (SV1 authorize, SV2 channel opened).
    Authorized,
    /// The pool's share difficulty from now on.
    Target(Difficulty),
    /// A job that miners can work on now.
    Job(Box<JobTemplate>),
    /// The pool moved to a new block and we hold no job for it yet.
    BlockWithoutJob,
    /// The pool's answer to submit `id`.
    Verdict {
        id: u64,
        accepted: bool,
        reason: &'a str,
    },
    /// Every submit from `first` to `last` still awaiting an answer is accepted (SV2 batch).
    AcceptedRange { first: u64, last: u64 },
    /// The connection ended. `retry_after_ms`: the pool asked to be retried after this long.
    Lost {
        why: &'a str,
        retry_after_ms: Option<u64>,
    },
}

/// A share as a miner submitted it, decoded by its connection.
#[derive(Clone, Copy, Debug)]
pub struct MinerShare<'a> {
    /// The job id we issued, if the text was one of ours.
    pub job: Option<u32>,
    /// The miner's extranonce2, `None` if it was not hex (the core checks its length).
    pub extranonce2: Option<&'a [u8]>,
    pub ntime: u32,
    pub nonce: u32,
    pub version_bits: Option<u32>,
    /// The split simulator's stand-in for the header's sha256d (sim builds only; no
    /// connection sets it): the core judges it exactly as a computed hash.
    #[cfg(feature = "sim")]
    pub sim_hash: Option<[u8; 32]>,
}

/// What a miner connection reports, in the core's terms.
#[derive(Debug)]
pub enum Downstream<'a> {
    /// Bytes arrived (any line): the miner is alive.
    Received {
        bytes: usize,
    },
    Configure {
        req: &'a str,
        version_rolling: bool,
        mask: u32,
    },
    Subscribe {
        req: &'a str,
        agent: Option<&'a str>,
    },
    Authorize {
        req: &'a str,
        user: &'a str,
    },
    SuggestDifficulty {
        req: &'a str,
        difficulty: Difficulty,
    },
    Submit {
        req: &'a str,
        share: MinerShare<'a>,
    },
    /// The hashrate the miner declares (SV2 `nominal_hash_rate`, H/s): the scheduler's
    /// estimate and the starting difficulty until shares measure it.
    Hashrate(u64),
    /// A message that could not be read; `submit` if it was a share (counted malformed). The
    /// connection answered it.
    Malformed {
        submit: bool,
    },
    /// The connection ended.
    Gone {
        why: &'a str,
    },
}

/// Why a miner's request or share is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotSubscribed,
    Unauthorized,
    AlreadySubscribed,
    JobNotFound,
    /// The job's pool moved to a new block (or a new extranonce) since.
    Stale,
    /// The extranonce2 is not this many bytes of hex.
    BadExtranonce2 {
        size: usize,
    },
    VersionOutsideMask,
    NoVersionRolling,
    LowDifficulty,
    Duplicate,
    /// The share's ntime is before its job's, or more than [`MAX_NTIME_AHEAD_S`] after.
    NtimeOutOfRange,
}

impl Refusal {
    /// The Stratum V1 error code (cgminer's numbering).
    pub fn sv1_code(self) -> i32 {
        use crate::wire::sv1::code;
        match self {
            Refusal::NotSubscribed => code::NOT_SUBSCRIBED,
            Refusal::Unauthorized => code::UNAUTHORIZED,
            Refusal::JobNotFound | Refusal::Stale => code::STALE,
            Refusal::LowDifficulty => code::LOW_DIFFICULTY,
            Refusal::Duplicate => code::DUPLICATE,
            _ => code::OTHER,
        }
    }
}

impl Refusal {
    /// The Stratum V2 `SubmitShares.Error` code: the spec's where it has one (stale-share,
    /// difficulty-too-low, invalid-job-id), else the reference implementation's wording.
    pub fn sv2_code(self) -> &'static str {
        match self {
            Refusal::JobNotFound => "invalid-job-id",
            Refusal::Stale => "stale-share",
            Refusal::LowDifficulty => "difficulty-too-low",
            Refusal::Duplicate => "duplicate-share",
            Refusal::NtimeOutOfRange => "ntime-out-of-range",
            Refusal::VersionOutsideMask => "invalid-non-rollable-version-bit",
            Refusal::NoVersionRolling => "version-rolling-not-allowed",
            Refusal::BadExtranonce2 { .. } => "bad-extranonce-size",
            Refusal::NotSubscribed | Refusal::Unauthorized | Refusal::AlreadySubscribed => {
                "invalid-channel-id"
            }
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotSubscribed => f.write_str("not subscribed"),
            Refusal::Unauthorized => f.write_str("not authorized"),
            Refusal::AlreadySubscribed => f.write_str("already subscribed"),
            Refusal::JobNotFound => f.write_str("job not found"),
            Refusal::Stale => f.write_str("stale share: the pool has moved to a new block"),
            Refusal::BadExtranonce2 { size } => {
                write!(f, "extranonce2 must be {size} bytes of hex")
            }
            Refusal::VersionOutsideMask => f.write_str("version bits outside the negotiated mask"),
            Refusal::NoVersionRolling => f.write_str("version rolling was not negotiated"),
            Refusal::LowDifficulty => f.write_str("low difficulty share"),
            Refusal::Duplicate => f.write_str("duplicate share"),
            Refusal::NtimeOutOfRange => write!(
                f,
                "ntime out of range (from the job's ntime to {MAX_NTIME_AHEAD_S} s after it)"
            ),
        }
    }
}

/// The answer to a miner's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    True,
    /// Version rolling granted with this mask, or refused.
    Configure(Option<u32>),
    Subscribe {
        session: u32,
        tag: [u8; TAG_SIZE],
        e2_size: usize,
    },
    Refused(Refusal),
}

/// A message for one miner.
#[derive(Clone)]
pub enum ToMiner {
    Reply {
        req: ReqId,
        answer: Answer,
    },
    /// Applies to the jobs sent after it.
    SetDifficulty(Difficulty),
    /// Work: copy `variant` of `job` under our job id `id`, for a miner with extranonce2
    /// size `e2_size`.
    Notify {
        id: u32,
        job: Rc<Job>,
        variant: Variant,
        e2_size: usize,
        clean: bool,
    },
    SetVersionMask(u32),
    Close,
}

/// A share for a pool, in the pool's terms.
#[derive(Clone)]
pub struct PoolSubmit {
    /// SV1 request id / SV2 sequence number.
    pub id: u64,
    pub job: Rc<Job>,
    /// The pool's extranonce2 (tag ‖ miner extranonce2 ‖ padding).
    pub extranonce2: heapless::Vec<u8, 32>,
    pub ntime: u32,
    pub nonce: u32,
    /// The full header version after rolling.
    pub version: u32,
    /// The rolled bits, when the miner rolled (SV1's sixth submit parameter).
    pub version_bits: Option<u32>,
}

/// A message for one pool.
#[derive(Clone)]
pub enum ToPool {
    Submit(PoolSubmit),
    /// Hashes per second now working for this pool (SV2 `UpdateChannel`; SV1 has none).
    Hashrate(u64),
    Close,
}

/// What the runtime must do next.
#[derive(Clone)]
pub enum Action {
    Miner(MinerId, ToMiner),
    Pool(usize, ToPool),
    /// Write the stats file (periodic; the runtime also saves on a clean stop).
    SaveStats,
}

/// Why a miner was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    TableFull,
    TooManyFromAddress,
}

/// The proxy's state. See the module docs.
pub struct Core {
    /// Boxed, like `pools`: the core stays a small value, so building it and moving it into
    /// the runtime does not copy tens of KB through the stack (its pages stay resident).
    cfg: Box<Config>,
    /// Every slot exists from the start (always `MAX_POOLS` of them), so a reload can add
    /// pools without moving any.
    pools: Box<[Pool]>,
    /// At most `min(miners.max, MAX_MINERS)` entries; a full table refuses newcomers.
    miners: Vec<Miner>,
    pid: Pid,
    sched: Scheduler,
    /// Per-minute target vs measured split for the last 24 h (the page's chart).
    history: History,
    /// Totals per worker name of miners that have left (and those loaded at start).
    worker_totals: Vec<(String, ShareCounters)>,
    /// Counters of miners that have disconnected (so totals survive them).
    departed: ShareCounters,
    /// Connections refused because a table or address limit was reached.
    refused: u64,
    next_miner_id: u32,
    next_tag: u16,
    last_save_ms: u64,
    last_report_ms: u64,
    actions: VecDeque<Action>,
}

impl Core {
    pub fn new(cfg: Config, now_ms: u64) -> Core {
        let split = cfg.split;
        let pools = (0..MAX_POOLS)
            .map(|i| match cfg.pools.get(i) {
                Some(p) => Pool::new(i, p.clone()),
                None => Pool::vacant(i),
            })
            .collect();
        Core {
            cfg: Box::new(cfg),
            pools,
            miners: Vec::new(),
            pid: Pid::new(split.pid(), now_ms),
            sched: Scheduler::new(split.sched(), now_ms),
            history: History::new(),
            worker_totals: Vec::new(),
            departed: ShareCounters::default(),
            refused: 0,
            next_miner_id: 1,
            next_tag: 0,
            last_save_ms: now_ms,
            last_report_ms: now_ms,
            actions: VecDeque::new(),
        }
    }

    /// The next thing to do, oldest first. Call until `None` after every event.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Actions waiting (the runtime drains them after every call).
    pub fn pending_actions(&self) -> usize {
        self.actions.len()
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Every pool slot (vacant ones included), indexed by pool number.
    pub fn pools(&self) -> &[Pool] {
        &self.pools
    }

    pub fn miners(&self) -> &[Miner] {
        &self.miners
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn pid(&self) -> &Pid {
        &self.pid
    }

    /// Connections refused because the miner table or an address's share of it was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Is any pool live (for `/healthz`)?
    pub fn any_live(&self) -> bool {
        self.pools.iter().any(|p| p.is_live())
    }

    /// What pool `idx`'s connection needs to connect: its config, `None` for an empty slot.
    pub fn pool_target(&self, idx: usize) -> Option<&crate::ops::config::PoolConfig> {
        self.pools.get(idx).filter(|p| !p.vacant).map(|p| &p.cfg)
    }

    /// When pool `idx` should be tried again, if it is down.
    pub fn pool_retry_at(&self, idx: usize) -> Option<u64> {
        match self.pools.get(idx)?.state {
            pool::PoolState::Down { retry_at_ms } => Some(retry_at_ms),
            _ => None,
        }
    }

    /// May the runtime read miner `id`'s next message? Not while the pool it works for is
    /// congested (too many of its shares await answers): the miner's own TCP buffer holds
    /// the rest, so no share is read that the pool could not be asked about.
    /// Checked before every line or frame a miner sends: with no pool congested (the usual
    /// case) it answers without looking the miner up.
    pub fn may_read(&self, id: MinerId) -> bool {
        if !self.pools.iter().any(|p| p.congested) {
            return true;
        }
        let pool = self.miner_index(id).and_then(|i| self.miners[i].pool);
        pool.is_none_or(|p| !self.pools[p].congested)
    }

    /// Changes whenever a pool leaves congestion: the runtime then wakes the miners it holds.
    pub fn releases(&self) -> u32 {
        self.pools
            .iter()
            .fold(0u32, |a, p| a.wrapping_add(p.releases))
    }

    fn miner_index(&self, id: MinerId) -> Option<usize> {
        self.miners.iter().position(|m| m.id == id)
    }

    fn push(&mut self, a: Action) {
        self.actions.push_back(a);
    }

    /// Smallest extranonce2 size among pools that have told us theirs.
    fn smallest_pool_e2(&self) -> Option<usize> {
        self.pools
            .iter()
            .filter(|p| !p.vacant)
            .filter_map(|p| p.known_e2_size())
            .min()
    }

    /// Intersection of the version masks of every pool that allows rolling; `None` if none
    /// said so yet.
    fn pools_version_mask(&self) -> Option<u32> {
        self.pools
            .iter()
            .filter(|p| !p.vacant)
            .filter_map(|p| p.version_mask)
            .reduce(|a, b| a & b)
    }

    /// Whether any pool has told us its extranonce size (so miners can be sized).
    fn pools_known(&self) -> bool {
        self.smallest_pool_e2().is_some()
    }
}

/// Attach a request id, cut to what we keep (an over-long id is answered as `null`).
fn req_id(req: &str) -> ReqId {
    ReqId::try_from(req).unwrap_or_else(|_| ReqId::try_from("null").unwrap_or_default())
}

#[cfg(test)]
mod tests;
