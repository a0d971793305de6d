//! Virtual-time driver of the real [`Core`]: the weighted split as the product wires it
//! (vardiff, hashrate estimates, failover masking, placement, PID, scheduler), run over
//! simulated days in seconds, with no sockets, no threads and no sleeping.
//!
//! What it models, per 1 s step `t` of virtual time (`now = t·1000` ms):
//! 1. Miners (connected at `t = 0` from distinct 127.0.0.x addresses, subscribed, authorized)
//!    each hold the latest job they were sent (`ToMiner::Notify`) and the difficulty `D` in
//!    force; a `SetDifficulty` takes effect at the next notify, as cgminer does. A miner
//!    finds `Poisson(hashrate · 1 s / (D·2^32))` shares in `(t−1 s, t]` and submits each
//!    (after a `Received`, as the connection reports every line) with its current job id, a
//!    fresh extranonce2 counter and `sim_hash` = a uniform 256-bit value below its local
//!    target, so the core's local and pool checks see exactly the probabilities a real hash
//!    would give (`D_local/D_pool` for the pool's target). No real hashing.
//! 2. Pools (simulated here) come up at `t = 0` (Connecting, Connected, VersionMask,
//!    Extranonce of 8 bytes, Authorized, Target(pool difficulty), Job), send a job every
//!    30 s and a clean job (new prevhash) every 10 min of their connection. During an outage
//!    `[start_s, end_s)` a pool is `Lost` (at the start) and comes back with the whole
//!    sequence at the end. Every `ToPool::Submit` gets a verdict at once: rejected with the
//!    pool's `reject_ppm` probability, else accepted. A `ToPool::Close` is a lost connection,
//!    retried when the core's backoff says.
//! 3. `core.tick(now)`. The action queue is drained after every call into the core.
//!
//! Measured per pool per minute: the accepted work as the core credits it, i.e. what the PID
//! sees (a share's local difficulty when the core answers it `True`, minus the pool
//! difficulty of a forwarded share the pool rejects), and, for reference, what the pool
//! credits (accepted forwarded shares × pool difficulty). Per miner: switches (a notify whose
//! job is from another pool than the previous one). Lost work: shares found on a job of a pool
//! that is down, and a second of hashrate for every step a miner has no job.
//!
//! Open loop is the same core with custom PID gains all zero (the config accepts `kp`, `ki`,
//! `kd` = 0 with `"preset": "custom"`): the fractions are then the weight targets of the live
//! pools, the scheduler and everything else unchanged, and nothing is paid back.
//!
//! Assumptions: verdicts come back within the step (no shares in flight at a loss); a pool
//! loss is noticed at once; every pool has the same extranonce2 size and version mask; miners
//! never send `mining.configure` or `suggest_difficulty`, never roll ntime or version, and
//! never find the same hash twice (random `sim_hash`, so the duplicate ring never fires); a
//! miner the core closes reconnects at the next step.
//!
//! Invariants: deterministic — same [`SimSpec`], same [`SimResult`] (own splitmix64 PRNG, one
//! stream per miner and per pool; the core reads no clock). Unlike the rest of
//! [`crate::sim`], this module uses hashmux code on purpose: it is the test bench of
//! [`crate::core`]'s split, not an independent protocol oracle. f64 appears only here in the
//! test infrastructure, never in the core it drives.

use crate::core::{
    Action, Answer, Core, Downstream, MinerId, MinerShare, ToMiner, ToPool, Upstream,
};
use crate::work::job::{JobTemplate, PoolJobId};
use crate::work::{Difficulty, Target};

/// Open loop: PID gains zero (fractions = weight targets). Closed loop: the configured preset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    OpenLoop,
    #[default]
    ClosedLoop,
}

/// One simulated pool.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimPoolSpec {
    /// Split weight; 0 = failover only.
    pub weight: u32,
    /// The pool's share difficulty.
    pub difficulty: f64,
    /// Outages as `[start_s, end_s)` in seconds of virtual time.
    pub outages: Vec<(u64, u64)>,
    /// Probability that a forwarded share is rejected, in ppm.
    pub reject_ppm: u32,
}

impl SimPoolSpec {
    /// A pool with this weight at difficulty 16384, always up, rejecting nothing.
    pub fn weighted(weight: u32) -> SimPoolSpec {
        let difficulty = 16384.0;
        SimPoolSpec {
            weight,
            difficulty,
            ..SimPoolSpec::default()
        }
    }

    fn down(&self, t_s: u64) -> bool {
        self.outages.iter().any(|&(a, b)| a <= t_s && t_s < b)
    }
}

/// `"split"` settings written into the config; `None` leaves the product default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SplitSpec {
    /// Closed-loop preset (default `balanced`).
    pub preset: Option<&'static str>,
    pub min_dwell_secs: Option<u32>,
    pub hysteresis_secs: Option<u32>,
    /// Percent.
    pub max_trim: Option<u32>,
    pub max_payback_mins: Option<u32>,
}

/// `"miners"` settings written into the config; `None` leaves the product default
/// (vardiff at 20 shares/min between 0.0001 and 4096, starting at 1).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MinerSpec {
    pub shares_per_min: Option<u32>,
    pub min_difficulty: Option<f64>,
    pub max_difficulty: Option<f64>,
    pub start_difficulty: Option<f64>,
}

/// A whole simulation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimSpec {
    /// Miners' true hashrates, H/s.
    pub miners: Vec<u64>,
    pub pools: Vec<SimPoolSpec>,
    pub hours: u64,
    pub seed: u64,
    pub mode: Mode,
    pub split: SplitSpec,
    pub miner: MinerSpec,
}

impl SimSpec {
    /// These miners and pools, closed loop, product defaults, seed 7.
    pub fn new(miners: &[u64], pools: Vec<SimPoolSpec>, hours: u64) -> SimSpec {
        let (miners, seed) = (miners.to_vec(), 7);
        SimSpec {
            miners,
            pools,
            hours,
            seed,
            ..SimSpec::default()
        }
    }
}

/// What a run produced. Work is in hashes (difficulty × 2^32).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimResult {
    /// `accepted[pool][minute]`: accepted work as the core credits it (the PID's view).
    pub accepted: Vec<Vec<i64>>,
    /// `pool_accepted[pool][minute]`: accepted forwarded shares × pool difficulty.
    pub pool_accepted: Vec<Vec<i64>>,
    /// Work the pool rejected (pool difficulty of each rejected share).
    pub rejected: Vec<u64>,
    /// Work found with no job, or on a job of a pool that was down.
    pub lost: u64,
    /// Shares the core refused (stale, duplicate, low difficulty...).
    pub refused: u64,
    /// Pool changes per miner (the first job is not counted).
    pub switches: Vec<u64>,
    /// The same, within the first hour.
    pub first_hour_switches: Vec<u64>,
    /// Times the core closed a miner (it reconnects at the next step).
    pub miner_closes: u64,
    pub hours: u64,
}

/// splitmix64: small, seedable, good enough for share luck.
#[derive(Clone, Debug, Default)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `ppm` / 1,000,000.
    pub fn chance_ppm(&mut self, ppm: u32) -> bool {
        ((self.next_u64() >> 32) * 1_000_000) >> 32 < ppm as u64
    }

    /// Poisson(λ) by multiplying uniforms (Knuth); λ is split into chunks of at most 16 so
    /// `e^−λ` never underflows (a sum of Poissons is Poisson).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        let mut left = lambda.max(0.0);
        let mut k = 0;
        while left > 0.0 {
            let part = left.min(16.0);
            left -= part;
            let limit = (-part).exp();
            let mut p = self.unit();
            while p > limit {
                k += 1;
                p *= self.unit();
            }
        }
        k
    }

    /// A uniform 256-bit value strictly below `t`: `floor(t · X / 2^256)` for a uniform
    /// 256-bit `X` (little-endian like a share hash; 64-bit limbs, u128 products).
    pub fn below(&mut self, t: &Target) -> [u8; 32] {
        let t: [u64; 4] = std::array::from_fn(|i| {
            u64::from_le_bytes(t.0[8 * i..8 * i + 8].try_into().unwrap_or_default())
        });
        let x: [u64; 4] = std::array::from_fn(|_| self.next_u64());
        let mut prod = [0u64; 8];
        for i in 0..4 {
            let mut carry = 0u128;
            for j in 0..4 {
                let cur = prod[i + j] as u128 + t[i] as u128 * x[j] as u128 + carry;
                (prod[i + j], carry) = (cur as u64, cur >> 64);
            }
            prod[i + 4] = carry as u64;
        }
        let mut out = [0u8; 32];
        for (i, l) in prod[4..].iter().enumerate() {
            out[8 * i..8 * i + 8].copy_from_slice(&l.to_le_bytes());
        }
        out
    }
}

/// The config the core runs with, as JSON text (parsed by `ops::config::parse`).
pub fn config_json(spec: &SimSpec) -> String {
    let pools: Vec<String> = (spec.pools.iter().enumerate())
        .map(|(i, p)| {
            let url = format!("stratum+tcp://127.0.0.1:{}", 3401 + i);
            format!(
                r#"{{"name":"p{i}","url":"{url}","user":"sim","weight":{}}}"#,
                p.weight
            )
        })
        .collect();
    let (m, s) = (&spec.miner, &spec.split);
    let fields = |first: String, rest: &[(&str, Option<f64>)]| {
        let set = rest
            .iter()
            .filter_map(|(k, v)| v.map(|v| format!(r#","{k}":{v}"#)));
        first + &set.collect::<String>()
    };
    let miners = fields(
        r#""max":256,"max_per_address":1"#.into(),
        &[
            ("shares_per_min", m.shares_per_min.map(f64::from)),
            ("min_difficulty", m.min_difficulty),
            ("max_difficulty", m.max_difficulty),
            ("start_difficulty", m.start_difficulty),
        ],
    );
    let split = fields(
        match spec.mode {
            Mode::OpenLoop => r#""preset":"custom","kp":0,"ki":0,"kd":0"#.into(),
            Mode::ClosedLoop => format!(r#""preset":"{}""#, s.preset.unwrap_or("balanced")),
        },
        &[
            ("min_dwell_secs", s.min_dwell_secs.map(f64::from)),
            ("hysteresis_secs", s.hysteresis_secs.map(f64::from)),
            ("max_trim", s.max_trim.map(f64::from)),
            ("max_payback_mins", s.max_payback_mins.map(f64::from)),
        ],
    );
    let pools = pools.join(",");
    format!(r#"{{"pools":[{pools}],"miners":{{{miners}}},"split":{{{split}}}}}"#)
}

#[derive(Default)]
struct SimMiner {
    id: MinerId,
    hashrate: u64,
    e2_size: usize,
    /// Our job id, its pool and the ntime the notify gave.
    job: Option<(u32, usize, u32)>,
    /// Sent by `SetDifficulty`, in force from the next notify.
    next_diff: Option<Difficulty>,
    diff: Option<Difficulty>,
    e2_counter: u32,
    last_pool: Option<usize>,
    closed: bool,
    rng: Rng,
}

#[derive(Default)]
struct SimPool {
    spec: SimPoolSpec,
    up: bool,
    /// Down because of an outage (comes back at its end) rather than a close.
    in_outage: bool,
    up_since_s: u64,
    jobs: u64,
    blocks: u64,
    rng: Rng,
}

struct Driver {
    core: Core,
    miners: Vec<SimMiner>,
    pools: Vec<SimPool>,
    out: SimResult,
    minute: usize,
    /// Pool and local difficulty of the share being submitted (for its reply).
    submitting: Option<(usize, Difficulty)>,
}

/// Run the simulation. Panics if the generated config is refused or a miner is not admitted.
pub fn run(spec: &SimSpec) -> SimResult {
    let cfg = crate::ops::config::parse(config_json(spec).as_bytes())
        .unwrap_or_else(|e| panic!("sim config refused: {e}"));
    let (n, m) = (spec.pools.len(), spec.miners.len());
    let minutes = spec.hours as usize * 60;
    let stream = |k: usize, mul: u64| Rng::new(spec.seed ^ (k as u64 + 1).wrapping_mul(mul));
    let mut d = Driver {
        core: Core::new(cfg, 0),
        miners: (spec.miners.iter().enumerate())
            .map(|(k, &hashrate)| SimMiner {
                hashrate,
                rng: stream(k, 0xd1b5_4a32_d192_ed03),
                ..SimMiner::default()
            })
            .collect(),
        pools: (spec.pools.iter().enumerate())
            .map(|(i, p)| SimPool {
                spec: p.clone(),
                rng: stream(i, 0x8cb9_2ba7_2f3d_8dd7),
                ..SimPool::default()
            })
            .collect(),
        out: SimResult {
            accepted: vec![vec![0; minutes]; n],
            pool_accepted: vec![vec![0; minutes]; n],
            rejected: vec![0; n],
            switches: vec![0; m],
            first_hour_switches: vec![0; m],
            hours: spec.hours,
            ..SimResult::default()
        },
        minute: 0,
        submitting: None,
    };
    for i in 0..n {
        d.pool_step(i, 0);
    }
    for k in 0..m {
        d.connect(k, 0);
    }
    for t in 1..=spec.hours * 3600 {
        let now = t * 1000;
        d.minute = ((t - 1) / 60) as usize;
        for k in 0..m {
            if d.miners[k].closed {
                d.connect(k, now);
            } else {
                d.mine(k, now);
            }
        }
        for i in 0..n {
            d.pool_step(i, t);
        }
        d.core.tick(now);
        d.drain(now);
    }
    d.out
}

impl Driver {
    /// Miner `k` connects, subscribes and authorizes.
    fn connect(&mut self, k: usize, now: u64) {
        let addr = std::net::SocketAddr::from(([127, 0, 0, k as u8 + 1], 4000));
        let id = self.core.miner_connected(addr, now).expect("admitted");
        let m = &mut self.miners[k];
        (m.id, m.closed, m.job, m.next_diff, m.diff) = (id, false, None, None, None);
        self.drain(now);
        let (agent, user) = (Some("sim"), "sim");
        self.miner_ev(id, Downstream::Subscribe { req: "1", agent }, now);
        self.miner_ev(id, Downstream::Authorize { req: "2", user }, now);
    }

    fn miner_ev(&mut self, id: MinerId, ev: Downstream<'_>, now: u64) {
        self.core.handle_miner(id, ev, now);
        self.drain(now);
    }

    fn pool_ev(&mut self, i: usize, ev: Upstream<'_>, now: u64) {
        self.core.handle_pool(i, ev, now);
        self.drain(now);
    }

    /// Miner `k`'s shares found in the second before `now`, submitted.
    fn mine(&mut self, k: usize, now: u64) {
        let m = &mut self.miners[k];
        let (Some(diff), Some((job, pool, ntime))) = (m.diff, m.job) else {
            self.out.lost += m.hashrate; // a second of work with nothing to work on
            return;
        };
        let target = diff.target();
        let lambda = m.hashrate as f64 / diff.0 as f64;
        // Only a core that refuses every share drives vardiff this low: stop, don't crawl.
        assert!(
            lambda < 1e5,
            "miner {k} at difficulty {diff}: are its shares refused?"
        );
        for _ in 0..m.rng.poisson(lambda) {
            if !self.pools[pool].up {
                self.out.lost += diff.0;
            }
            let m = &mut self.miners[k];
            m.e2_counter = m.e2_counter.wrapping_add(1);
            let e2 = m.e2_counter.to_be_bytes();
            let share = MinerShare {
                job: Some(job),
                extranonce2: Some(&e2[4 - m.e2_size.min(4)..]),
                ntime,
                nonce: m.e2_counter,
                version_bits: None,
                sim_hash: Some(m.rng.below(&target)),
            };
            let id = m.id;
            self.miner_ev(id, Downstream::Received { bytes: 120 }, now);
            self.submitting = Some((pool, diff));
            self.miner_ev(id, Downstream::Submit { req: "s", share }, now);
            self.submitting = None;
        }
    }

    /// Pool `i` at second `t`: outage start or end, reconnect after a close, jobs.
    fn pool_step(&mut self, i: usize, t: u64) {
        let now = t * 1000;
        let p = &mut self.pools[i];
        let down = p.spec.down(t);
        if p.up && down {
            (p.up, p.in_outage) = (false, true);
            self.pool_ev(i, lost("sim outage"), now);
        } else if !p.up && !down {
            if p.in_outage || now >= self.core.pool_retry_at(i).unwrap_or(0) {
                self.pool_up(i, t);
            }
        } else if p.up && (t - p.up_since_s) % 30 == 0 {
            let clean = (t - p.up_since_s) % 600 == 0;
            self.job(i, clean, now);
        }
    }

    /// Pool `i`'s whole connection sequence, ending with a clean job.
    fn pool_up(&mut self, i: usize, t: u64) {
        let now = t * 1000;
        let p = &mut self.pools[i];
        (p.up, p.in_outage, p.up_since_s) = (true, false, t);
        let prefix = [i as u8, p.blocks as u8, 0xe1, 0x01];
        let target = Difficulty::parse(&p.spec.difficulty.to_string()).expect("difficulty > 0");
        for ev in [
            Upstream::Connecting,
            Upstream::Connected { encrypted: false },
            Upstream::VersionMask(Some(0x1fff_e000)),
            Upstream::Extranonce {
                prefix: &prefix,
                e2_size: 8,
            },
            Upstream::Authorized,
            Upstream::Target(target),
        ] {
            self.pool_ev(i, ev, now);
        }
        self.job(i, true, now);
    }

    fn job(&mut self, i: usize, clean: bool, now: u64) {
        let p = &mut self.pools[i];
        p.jobs += 1;
        p.blocks += clean as u64;
        let mut prevhash = [i as u8; 32];
        prevhash[..8].copy_from_slice(&p.blocks.to_le_bytes());
        let id = heapless::String::try_from(format!("{:x}", p.jobs).as_str()).unwrap_or_default();
        let t = JobTemplate {
            id: PoolJobId::Text(id),
            prevhash,
            coinb1: vec![1, 2, 3, 4].into(),
            coinb2: vec![5, 6].into(),
            branches: heapless::Vec::new(),
            version: 0x2000_0000,
            nbits: 0x1d00_ffff,
            ntime: 0x6500_0000 + (now / 1000) as u32,
            clean,
        };
        self.pool_ev(i, Upstream::Job(Box::new(t)), now);
    }

    /// Carry out every action the core queued, including the ones they cause.
    fn drain(&mut self, now: u64) {
        while let Some(a) = self.core.poll_action() {
            match a {
                Action::Miner(id, msg) => self.for_miner(id, msg, now),
                Action::Pool(i, ToPool::Submit(s)) => {
                    let p = &mut self.pools[i];
                    let work = s.job.origin.difficulty.0; // = the pool's (it never changes)
                    let accepted = !p.rng.chance_ppm(p.spec.reject_ppm);
                    if accepted {
                        self.out.pool_accepted[i][self.minute] += work as i64;
                    } else {
                        self.out.rejected[i] += work;
                        self.out.accepted[i][self.minute] -= work as i64;
                    }
                    let (id, reason) = (s.id, if accepted { "" } else { "sim reject" });
                    let verdict = Upstream::Verdict {
                        id,
                        accepted,
                        reason,
                    };
                    self.core.handle_pool(i, verdict, now);
                }
                Action::Pool(i, ToPool::Close) => {
                    self.pools[i].up = false;
                    self.core.handle_pool(i, lost("closed by the proxy"), now);
                }
                Action::Pool(_, ToPool::Hashrate(_)) | Action::SaveStats => {}
            }
        }
    }

    fn for_miner(&mut self, id: MinerId, msg: ToMiner, now: u64) {
        let Some(k) = self.miners.iter().position(|m| m.id == id && !m.closed) else {
            return;
        };
        let m = &mut self.miners[k];
        match msg {
            ToMiner::Reply { req, answer } => match (req.as_str(), answer) {
                ("1", Answer::Subscribe { e2_size, .. }) => m.e2_size = e2_size,
                ("s", Answer::True) => {
                    if let Some((pool, d)) = self.submitting {
                        self.out.accepted[pool][self.minute] += d.0 as i64;
                    }
                }
                ("s", Answer::Refused(_)) => self.out.refused += 1,
                _ => {}
            },
            ToMiner::SetDifficulty(d) => m.next_diff = Some(d),
            ToMiner::Notify {
                id, job, variant, ..
            } => {
                m.diff = m.next_diff.take().or(m.diff);
                let (pool, ntime) = (job.origin.pool, job.ntime_of(m.e2_size, variant));
                if m.last_pool.is_some_and(|p| p != pool) {
                    self.out.switches[k] += 1;
                    self.out.first_hour_switches[k] += (now <= 3_600_000) as u64;
                }
                (m.last_pool, m.job) = (Some(pool), Some((id, pool, ntime)));
            }
            ToMiner::SetVersionMask(_) => {}
            ToMiner::Close => {
                self.out.miner_closes += 1;
                m.closed = true;
                let why = "closed by the proxy";
                self.core.handle_miner(id, Downstream::Gone { why }, now);
            }
        }
    }
}

fn lost(why: &str) -> Upstream<'_> {
    Upstream::Lost {
        why,
        retry_after_ms: None,
    }
}

/// Weight targets of the weighted pools (fractions of 1), ignoring liveness.
pub fn targets(pools: &[SimPoolSpec]) -> Vec<f64> {
    let sum: u64 = pools.iter().map(|p| p.weight as u64).sum();
    let sum = sum.max(1) as f64; // all weights zero: all targets zero
    pools.iter().map(|p| p.weight as f64 / sum).collect()
}

/// Share of the work per pool over minutes `[from_min, to_min)` of `work` (a result's
/// `accepted` or `pool_accepted`), fractions of 1; all zero if there was none.
pub fn split_of(work: &[Vec<i64>], from_min: usize, to_min: usize) -> Vec<f64> {
    let sums: Vec<i128> = work
        .iter()
        .map(|v| v[from_min..to_min].iter().map(|&w| w as i128).sum())
        .collect();
    let total: i128 = sums.iter().sum();
    let total = if total > 0 {
        total as f64
    } else {
        f64::INFINITY
    };
    sums.iter().map(|&s| s as f64 / total).collect()
}

/// Share of accepted work as the core credits it per pool over `[from_min, to_min)`.
pub fn split_over(r: &SimResult, from_min: usize, to_min: usize) -> Vec<f64> {
    split_of(&r.accepted, from_min, to_min)
}

/// Largest per-pool error of a split against targets, in percentage points.
pub fn split_error(split: &[f64], targets: &[f64]) -> f64 {
    split
        .iter()
        .zip(targets)
        .map(|(s, t)| (s - t).abs() * 100.0)
        .fold(0.0, f64::max)
}

/// Largest error of any pool, in percentage points, between `targets` (fractions of 1) and
/// the split over `[s, s + window_min)` for `s = start_min, start_min + step_min, …` while the
/// window fits in the run.
pub fn worst_window_error(
    r: &SimResult,
    window_min: usize,
    step_min: usize,
    start_min: usize,
    targets: &[f64],
) -> f64 {
    let len = (r.hours * 60) as usize;
    let mut worst = 0.0f64;
    let mut s = start_min;
    while s + window_min <= len {
        worst = worst.max(split_error(&split_over(r, s, s + window_min), targets));
        s += step_min.max(1);
    }
    worst
}

/// Error (pp) of the trailing window of `window_min` minutes ending at each minute `m`
/// (`[m − window_min, m)`, or `[0, m)` early on), for `m = 1..=run length`.
pub fn trailing_errors(r: &SimResult, window_min: usize, targets: &[f64]) -> Vec<f64> {
    let len = (r.hours * 60) as usize;
    (1..=len)
        .map(|m| split_error(&split_over(r, m.saturating_sub(window_min), m), targets))
        .collect()
}

/// The first minute `m` from which errors as [`trailing_errors`] gives them stay within
/// `tol_pp` to the end of the run (`None` if the last one is off).
pub fn stays_within_from(errors: &[f64], tol_pp: f64) -> Option<usize> {
    match errors.iter().rposition(|&x| x > tol_pp) {
        None => Some(1),
        Some(i) if i + 1 == errors.len() => None,
        Some(i) => Some(i + 2),
    }
}

/// Switches per hour of the miner that switched most.
pub fn max_switches_per_hour(r: &SimResult) -> f64 {
    r.switches.iter().copied().max().unwrap_or(0) as f64 / r.hours.max(1) as f64
}

/// Mean switches per miner per hour.
pub fn mean_switches_per_hour(r: &SimResult) -> f64 {
    let miners = r.switches.len().max(1) as f64;
    r.switches.iter().sum::<u64>() as f64 / miners / r.hours.max(1) as f64
}
