//! `SimMiner`: a Stratum V1 miner that does real (throttled) sha256d work with the sim's own
//! arithmetic ([`super::chain`]) and keeps score of what it was sent and what was accepted.
//!
//! One OS thread runs `smol::block_on` over a connect → session → reconnect loop. The session
//! is a single task: it drains the socket without blocking between chunks of hashing, and
//! sleeps (woken by incoming data or by the stop signal) when throttled or idle. The stop
//! signal is the handle's channel closing, checked between every chunk and raced against
//! every wait, so the thread always ends within one chunk or one write timeout.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_net::TcpStream;
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use smol::channel::{self, Receiver, Sender};
use smol::Timer;

use super::chain::{self, Target};
use super::wire::{err_line, ok_line, request_line, LineBuf};

/// How a miner opens its session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MinerFlavour {
    /// `mining.configure` (version-rolling, mask 1fffe000, min-bit-count 2), `mining.subscribe`,
    /// `mining.authorize`, `mining.extranonce.subscribe`, all pipelined. Rolls version bits
    /// only if granted; carries on without them otherwise.
    #[default]
    Cgminer,
    /// `mining.configure` first (mask ffffffff, min-bit-count 16) and waits for the answer;
    /// without `"version-rolling": true` and a non-zero mask it counts a configure failure and
    /// disconnects (then retries like any disconnect). Then subscribe, authorize; rolls
    /// version bits.
    Nano3s,
    /// subscribe and authorize only; no version rolling.
    Plain,
}

/// Where and how a [`SimMiner`] mines.
#[derive(Clone, Debug)]
pub struct SimMinerConfig {
    pub addr: SocketAddr,
    pub user: String,
    pub password: String,
    pub flavour: MinerFlavour,
    /// Hash-rate cap; 0 means no cap.
    pub max_hashes_per_sec: u64,
    pub name: String,
}

impl SimMinerConfig {
    /// Rig `i` of a fleet: user and name `rig{i}`, password `x`, flavour `flavours[i % len]`.
    pub fn rig(
        addr: SocketAddr,
        i: usize,
        flavours: &[MinerFlavour],
        max_hashes_per_sec: u64,
    ) -> SimMinerConfig {
        SimMinerConfig {
            addr,
            user: format!("rig{i}"),
            password: "x".into(),
            flavour: flavours[i % flavours.len()],
            max_hashes_per_sec,
            name: format!("rig{i}"),
        }
    }
}

/// A snapshot of what a [`SimMiner`] has seen and done.
#[derive(Clone, Debug, Default)]
pub struct SimMinerStats {
    /// A TCP session is up now.
    pub connected: bool,
    /// Successful TCP connects in total.
    pub connects: u64,
    pub extranonce1: String,
    pub extranonce2_size: usize,
    /// The version-rolling mask in use (0: not rolling).
    pub version_mask: u32,
    /// The difficulty of the job being hashed (a set_difficulty takes effect at the next
    /// notify, as in cgminer).
    pub difficulty: f64,
    pub jobs: u64,
    pub clean_jobs: u64,
    pub last_job_id: String,
    /// The last 16 job ids received, oldest first.
    pub job_ids: Vec<String>,
    pub submitted: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Rejections by the error message the upstream sent ("rejected" when it sent none).
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub hashes: u64,
    pub lines_received: u64,
    pub last_line_at: Option<Instant>,
    /// `mining.notify` received in a session before any `mining.set_difficulty`.
    pub set_difficulty_before_notify_violations: u64,
    /// Nano3s sessions given up because version rolling was not granted.
    pub configure_failures: u64,
}

/// A running simulated miner. Stops (connection, thread) on [`SimMiner::stop`] or drop.
pub struct SimMiner {
    stats: Arc<Mutex<SimMinerStats>>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SimMiner {
    /// `n` rigs mining for the proxy at `addr` (see [`SimMinerConfig::rig`]).
    pub fn fleet(
        addr: SocketAddr,
        n: usize,
        flavours: &[MinerFlavour],
        max_hashes_per_sec: u64,
    ) -> Vec<SimMiner> {
        (0..n)
            .map(|i| SimMiner::start(SimMinerConfig::rig(addr, i, flavours, max_hashes_per_sec)))
            .collect()
    }

    /// Start mining in a new thread: connect (retrying every 200 ms), run a session,
    /// reconnect whenever it ends, until stopped.
    pub fn start(cfg: SimMinerConfig) -> SimMiner {
        let stats = Arc::new(Mutex::new(SimMinerStats::default()));
        let (stop_tx, stop_rx) = channel::bounded::<()>(1);
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name(format!("simminer-{}", cfg.name))
            .spawn(move || smol::block_on(run_miner(cfg, thread_stats, stop_rx)))
            .expect("spawn sim miner thread");
        SimMiner {
            stats,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn stats(&self) -> SimMinerStats {
        lock(&self.stats).clone()
    }

    /// Disconnect and join the thread (what drop does too).
    pub fn stop(self) {}
}

impl Drop for SimMiner {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

const RETRY: Duration = Duration::from_millis(200);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest line accepted from upstream (big coinbases make long notify lines).
const MAX_LINE: usize = 1024 * 1024;
/// With version rolling, move to the next rolled version after this many nonces.
const NONCES_PER_ROLL: u64 = 4096;
const MAX_ROLLS: u32 = 1 << 16;
const KEPT_JOB_IDS: usize = 16;
const KEPT_PENDING: usize = 4096;
const USER_AGENT: &str = "cgminer/4.11.1";

/// Resolves once the handle is gone.
async fn stopped(stop: &Receiver<()>) {
    let _ = stop.recv().await;
}

/// Sleep for `d`; true if stopped meanwhile.
async fn sleep_or_stop(stop: &Receiver<()>, d: Duration) -> bool {
    future::or(
        async {
            stopped(stop).await;
            true
        },
        async {
            Timer::after(d).await;
            false
        },
    )
    .await
}

async fn run_miner(cfg: SimMinerConfig, stats: Arc<Mutex<SimMinerStats>>, stop: Receiver<()>) {
    while !stop.is_closed() {
        let conn = future::or(
            async { Some(TcpStream::connect(cfg.addr).await.ok()) },
            future::or(
                async {
                    stopped(&stop).await;
                    None
                },
                async {
                    Timer::after(CONNECT_TIMEOUT).await;
                    Some(None)
                },
            ),
        )
        .await;
        let Some(conn) = conn else { break };
        if let Some(stream) = conn {
            let _ = stream.set_nodelay(true);
            {
                let mut st = lock(&stats);
                st.connects += 1;
                st.connected = true;
            }
            let mut s = Session::new(&cfg, &stats, &stop, stream);
            if let Err(e) = s.run().await {
                log::debug!("simminer {}: session ended: {e}", cfg.name);
            }
            let _ = s.stream.shutdown(std::net::Shutdown::Both);
            lock(&stats).connected = false;
        }
        if sleep_or_stop(&stop, RETRY).await {
            break;
        }
    }
}

enum Req {
    Configure,
    Subscribe,
    Authorize,
    Other,
    Submit,
}

#[derive(Clone)]
struct MinerJob {
    id: String,
    prevhash: [u8; 32],
    coinb1: Vec<u8>,
    coinb2: Vec<u8>,
    branches: Vec<[u8; 32]>,
    version: u32,
    nbits: u32,
    ntime: u32,
    difficulty: f64,
}

struct Share {
    job_id: String,
    e2: Vec<u8>,
    ntime: u32,
    nonce: u32,
    version_bits: Option<u32>,
}

/// The hashing state for one job: walks (extranonce2, rolled version, nonce).
struct Work {
    job: MinerJob,
    e1: Vec<u8>,
    e2_size: usize,
    mask: u32,
    max_roll: u32,
    target: Target,
    e2: u64,
    roll: u32,
    nonce: u64,
    nonce_end: u64,
    version_bits: u32,
    mid: Sha256,
    tail: [u8; 12],
}

impl Work {
    fn new(job: MinerJob, e1: Vec<u8>, e2_size: usize, mask: u32, e2_start: u64) -> Work {
        let max_roll = if mask == 0 {
            0
        } else {
            let bits = mask.count_ones();
            if bits >= 17 {
                MAX_ROLLS
            } else {
                (1u32 << bits) - 1
            }
        };
        let target = Target::from_difficulty(job.difficulty);
        let mut w = Work {
            job,
            e1,
            e2_size,
            mask,
            max_roll,
            target,
            e2: e2_start,
            roll: if max_roll > 0 { 1 } else { 0 },
            nonce: 0,
            nonce_end: 0,
            version_bits: 0,
            mid: Sha256::new(),
            tail: [0; 12],
        };
        w.start_unit();
        w
    }

    fn e2_bytes(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.e2_size];
        let le = self.e2.to_le_bytes();
        let n = self.e2_size.min(8);
        v[..n].copy_from_slice(&le[..n]);
        v
    }

    fn start_unit(&mut self) {
        let e2 = self.e2_bytes();
        let root = chain::merkle_root(
            &[&self.job.coinb1, &self.e1, &e2, &self.job.coinb2],
            &self.job.branches,
        );
        let version = if self.max_roll > 0 {
            self.version_bits = chain::spread_bits(self.roll, self.mask);
            (self.job.version & !self.mask) | self.version_bits
        } else {
            self.version_bits = 0;
            self.job.version
        };
        let h = chain::header(
            version,
            &self.job.prevhash,
            &root,
            self.job.ntime,
            self.job.nbits,
            0,
        );
        let mut mid = Sha256::new();
        mid.update(&h[..64]);
        self.mid = mid;
        self.tail.copy_from_slice(&h[64..76]);
        self.nonce = 0;
        self.nonce_end = if self.max_roll > 0 {
            NONCES_PER_ROLL
        } else {
            1 << 32
        };
    }

    fn next_unit(&mut self) {
        if self.max_roll > 0 && self.roll < self.max_roll {
            self.roll += 1;
        } else {
            self.e2 = self.e2.wrapping_add(1);
            self.roll = if self.max_roll > 0 { 1 } else { 0 };
        }
        self.start_unit();
    }

    /// Hash `n` headers; shares meeting the job's target go to `out`.
    fn hash(&mut self, n: u64, out: &mut Vec<Share>) {
        for _ in 0..n {
            if self.nonce >= self.nonce_end {
                self.next_unit();
            }
            let nonce = self.nonce as u32;
            self.nonce += 1;
            let mut h = self.mid.clone();
            h.update(self.tail);
            h.update(nonce.to_le_bytes());
            let first = h.finalize();
            let second = Sha256::digest(first);
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&second);
            if self.target.is_met_by(&hash) {
                out.push(Share {
                    job_id: self.job.id.clone(),
                    e2: self.e2_bytes(),
                    ntime: self.job.ntime,
                    nonce,
                    version_bits: (self.max_roll > 0).then_some(self.version_bits),
                });
            }
        }
    }
}

enum Wake {
    Read(io::Result<usize>),
    Timeout,
    Stop,
}

/// Why a session ends on purpose (errors end it too).
fn end(msg: &str) -> io::Error {
    io::Error::other(msg.to_string())
}

struct Session<'a> {
    cfg: &'a SimMinerConfig,
    stats: &'a Mutex<SimMinerStats>,
    stop: &'a Receiver<()>,
    stream: TcpStream,
    lines: LineBuf,
    rbuf: Vec<u8>,
    next_id: u64,
    pending: BTreeMap<u64, Req>,
    e1: Option<Vec<u8>>,
    e2_size: usize,
    /// Version rolling granted (never for Plain).
    rolling_ok: bool,
    mask: u32,
    pending_difficulty: f64,
    seen_difficulty: bool,
    job: Option<MinerJob>,
    work: Option<Work>,
    next_e2: u64,
    throttle_start: Instant,
    throttle_hashes: u64,
}

impl<'a> Session<'a> {
    fn new(
        cfg: &'a SimMinerConfig,
        stats: &'a Mutex<SimMinerStats>,
        stop: &'a Receiver<()>,
        stream: TcpStream,
    ) -> Session<'a> {
        Session {
            cfg,
            stats,
            stop,
            stream,
            lines: LineBuf::new(MAX_LINE),
            rbuf: vec![0u8; 32 * 1024],
            next_id: 1,
            pending: BTreeMap::new(),
            e1: None,
            e2_size: 0,
            rolling_ok: false,
            mask: 0,
            pending_difficulty: 1.0,
            seen_difficulty: false,
            job: None,
            work: None,
            next_e2: 0,
            throttle_start: Instant::now(),
            throttle_hashes: 0,
        }
    }

    fn stats(&self) -> MutexGuard<'a, SimMinerStats> {
        lock(self.stats)
    }

    async fn write(&mut self, line: &str) -> io::Result<()> {
        let stream = &mut self.stream;
        future::or(stream.write_all(line.as_bytes()), async {
            Timer::after(WRITE_TIMEOUT).await;
            Err(end("write timed out"))
        })
        .await
    }

    async fn request(&mut self, kind: Req, method: &str, params: Value) -> io::Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, kind);
        while self.pending.len() > KEPT_PENDING {
            self.pending.pop_first();
        }
        self.write(&request_line(json!(id), method, params)).await
    }

    async fn configure(&mut self, mask: &str, min_bits: u32) -> io::Result<()> {
        let params = json!([
            ["version-rolling"],
            {"version-rolling.mask": mask, "version-rolling.min-bit-count": min_bits}
        ]);
        self.request(Req::Configure, "mining.configure", params)
            .await
    }

    async fn subscribe_authorize(&mut self) -> io::Result<()> {
        self.request(Req::Subscribe, "mining.subscribe", json!([USER_AGENT]))
            .await?;
        let auth = json!([self.cfg.user, self.cfg.password]);
        self.request(Req::Authorize, "mining.authorize", auth).await
    }

    async fn run(&mut self) -> io::Result<()> {
        match self.cfg.flavour {
            MinerFlavour::Cgminer => {
                self.configure("1fffe000", 2).await?;
                self.subscribe_authorize().await?;
                self.request(Req::Other, "mining.extranonce.subscribe", json!([]))
                    .await?;
            }
            MinerFlavour::Nano3s => {
                // Subscribe/authorize follow once the configure answer is in (see `response`).
                self.configure("ffffffff", 16).await?;
            }
            MinerFlavour::Plain => self.subscribe_authorize().await?,
        }
        loop {
            if self.stop.is_closed() {
                return Ok(());
            }
            // Take in whatever has arrived, without waiting.
            for _ in 0..64 {
                match future::poll_once(self.stream.read(&mut self.rbuf)).await {
                    None => break,
                    Some(r) => self.on_read(r).await?,
                }
            }
            let now = Instant::now();
            let deadline = match self.work.is_some() {
                true => self.throttle_deadline(now),
                false => Some(now + Duration::from_secs(1)),
            };
            match deadline {
                None => self.hash_chunk().await?,
                Some(at) => {
                    let wake = {
                        let (stream, rbuf, stop) = (&mut self.stream, &mut self.rbuf, self.stop);
                        future::or(
                            async { Wake::Read(stream.read(rbuf).await) },
                            future::or(
                                async {
                                    stopped(stop).await;
                                    Wake::Stop
                                },
                                async {
                                    Timer::at(at).await;
                                    Wake::Timeout
                                },
                            ),
                        )
                        .await
                    };
                    match wake {
                        Wake::Read(r) => self.on_read(r).await?,
                        Wake::Stop => return Ok(()),
                        Wake::Timeout => {}
                    }
                }
            }
        }
    }

    fn chunk_size(&self) -> u64 {
        match self.cfg.max_hashes_per_sec {
            0 => 4096,
            r => (r / 100).clamp(64, 4096),
        }
    }

    /// None: may hash now. Some(t): throttled until t.
    fn throttle_deadline(&mut self, now: Instant) -> Option<Instant> {
        let rate = self.cfg.max_hashes_per_sec;
        if rate == 0 {
            return None;
        }
        let due = self.throttle_start
            + Duration::from_secs_f64(self.throttle_hashes as f64 / rate as f64);
        if due > now {
            Some(due)
        } else {
            if now.duration_since(due) > Duration::from_secs(1) {
                // Idle for a while: don't bank the unused rate as a burst.
                self.throttle_start = now;
                self.throttle_hashes = 0;
            }
            None
        }
    }

    async fn hash_chunk(&mut self) -> io::Result<()> {
        let n = self.chunk_size();
        let mut shares = Vec::new();
        let Some(work) = self.work.as_mut() else {
            return Ok(());
        };
        work.hash(n, &mut shares);
        self.throttle_hashes += n;
        self.stats().hashes += n;
        for s in shares {
            let mut params = vec![
                json!(self.cfg.user),
                json!(s.job_id),
                json!(chain::hex(&s.e2)),
                json!(chain::u32_be8(s.ntime)),
                json!(chain::u32_be8(s.nonce)),
            ];
            if let Some(v) = s.version_bits {
                params.push(json!(chain::u32_be8(v)));
            }
            self.stats().submitted += 1;
            self.request(Req::Submit, "mining.submit", Value::Array(params))
                .await?;
        }
        Ok(())
    }

    async fn on_read(&mut self, r: io::Result<usize>) -> io::Result<()> {
        let n = r?;
        if n == 0 {
            return Err(end("connection closed"));
        }
        self.lines.push(&self.rbuf[..n]);
        while let Some(line) = self.lines.next_line().map_err(|_| end("line too long"))? {
            {
                let mut st = self.stats();
                st.lines_received += 1;
                st.last_line_at = Some(Instant::now());
            }
            self.on_line(&line).await?;
        }
        Ok(())
    }

    async fn on_line(&mut self, line: &str) -> io::Result<()> {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            log::debug!("simminer {}: unparsable line", self.cfg.name);
            return Ok(());
        };
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        match msg.get("method").and_then(Value::as_str) {
            Some(method) => {
                let params = msg.get("params").cloned().unwrap_or(Value::Null);
                self.on_request(&id, method, &params).await
            }
            None => self.on_response(&id, &msg).await,
        }
    }

    async fn on_request(&mut self, id: &Value, method: &str, params: &Value) -> io::Result<()> {
        match method {
            "mining.set_difficulty" => {
                if let Some(d) = params.get(0).and_then(Value::as_f64) {
                    if d > 0.0 {
                        self.pending_difficulty = d;
                        self.seen_difficulty = true;
                    }
                }
            }
            "mining.notify" => self.on_notify(params),
            "mining.set_version_mask" => {
                let mask = params
                    .get(0)
                    .and_then(Value::as_str)
                    .and_then(|s| u32::from_str_radix(s, 16).ok());
                if let (Some(mask), true) = (mask, self.rolling_ok) {
                    self.mask = mask;
                    self.stats().version_mask = mask;
                    self.restart_work();
                }
            }
            "mining.set_extranonce" => {
                let e1 = params.get(0).and_then(Value::as_str).and_then(chain::unhex);
                let size = params.get(1).and_then(Value::as_u64);
                if let (Some(e1), Some(size)) = (e1, size) {
                    self.adopt_extranonce(e1, size as usize);
                }
            }
            "client.reconnect" => return Err(end("client.reconnect")),
            "client.get_version" if !id.is_null() => {
                self.write(&ok_line(id, json!(USER_AGENT))).await?;
            }
            _ if !id.is_null() => {
                self.write(&err_line(id, 20, "unknown method")).await?;
            }
            _ => {}
        }
        Ok(())
    }

    fn adopt_extranonce(&mut self, e1: Vec<u8>, size: usize) {
        {
            let mut st = self.stats();
            st.extranonce1 = chain::hex(&e1);
            st.extranonce2_size = size;
        }
        self.e1 = Some(e1);
        self.e2_size = size;
        self.restart_work();
    }

    fn on_notify(&mut self, params: &Value) {
        if !self.seen_difficulty {
            self.stats().set_difficulty_before_notify_violations += 1;
        }
        let Some((job, clean)) = parse_notify(params, self.pending_difficulty) else {
            log::debug!("simminer {}: malformed notify", self.cfg.name);
            return;
        };
        {
            let mut st = self.stats();
            st.jobs += 1;
            if clean {
                st.clean_jobs += 1;
            }
            st.difficulty = job.difficulty;
            st.last_job_id = job.id.clone();
            st.job_ids.push(job.id.clone());
            let excess = st.job_ids.len().saturating_sub(KEPT_JOB_IDS);
            st.job_ids.drain(..excess);
        }
        self.job = Some(job);
        // Like cgminer, bfgminer and cpuminer: every notify starts over at extranonce2 0, so
        // a job re-sent unchanged would be hashed again (and its shares be duplicates).
        self.work = None;
        self.next_e2 = 0;
        self.restart_work();
    }

    /// Work the newest job with the current extranonce and mask, from a fresh extranonce2.
    fn restart_work(&mut self) {
        if let Some(old) = self.work.take() {
            self.next_e2 = old.e2.wrapping_add(1);
        }
        if let (Some(job), Some(e1)) = (&self.job, &self.e1) {
            let mask = if self.rolling_ok { self.mask } else { 0 };
            self.work = Some(Work::new(
                job.clone(),
                e1.clone(),
                self.e2_size,
                mask,
                self.next_e2,
            ));
        }
    }

    async fn on_response(&mut self, id: &Value, msg: &Value) -> io::Result<()> {
        let Some(kind) = id.as_u64().and_then(|i| self.pending.remove(&i)) else {
            return Ok(());
        };
        let result = msg.get("result").unwrap_or(&Value::Null);
        let error = msg.get("error").unwrap_or(&Value::Null);
        match kind {
            Req::Configure => {
                let granted = result.get("version-rolling").and_then(Value::as_bool) == Some(true);
                let mask = result
                    .get("version-rolling.mask")
                    .and_then(Value::as_str)
                    .and_then(|s| u32::from_str_radix(s, 16).ok())
                    .unwrap_or(0);
                let ok = granted && mask != 0;
                if ok {
                    self.rolling_ok = true;
                    self.mask = mask;
                    self.stats().version_mask = mask;
                    self.restart_work();
                }
                if self.cfg.flavour == MinerFlavour::Nano3s {
                    if !ok {
                        self.stats().configure_failures += 1;
                        return Err(end("version rolling not granted"));
                    }
                    self.subscribe_authorize().await?;
                }
            }
            Req::Subscribe => {
                let e1 = result.get(1).and_then(Value::as_str).and_then(chain::unhex);
                let size = result.get(2).and_then(Value::as_u64);
                match (e1, size) {
                    (Some(e1), Some(size)) => self.adopt_extranonce(e1, size as usize),
                    _ => return Err(end("subscribe failed")),
                }
            }
            Req::Authorize => {
                if result.as_bool() != Some(true) {
                    return Err(end("authorize failed"));
                }
            }
            Req::Submit => {
                let mut st = self.stats();
                if result.as_bool() == Some(true) && error.is_null() {
                    st.accepted += 1;
                } else {
                    st.rejected += 1;
                    let reason = error
                        .get(1)
                        .and_then(Value::as_str)
                        .unwrap_or("rejected")
                        .to_string();
                    *st.rejected_by_reason.entry(reason).or_default() += 1;
                }
            }
            Req::Other => {}
        }
        Ok(())
    }
}

/// A notify's params as a job at `difficulty`, plus its clean flag.
fn parse_notify(p: &Value, difficulty: f64) -> Option<(MinerJob, bool)> {
    let s = |i: usize| p.get(i).and_then(Value::as_str);
    let branches = p
        .get(4)?
        .as_array()?
        .iter()
        .map(|b| b.as_str().and_then(chain::unhex32))
        .collect::<Option<Vec<_>>>()?;
    let job = MinerJob {
        id: s(0)?.to_string(),
        prevhash: chain::swap_words(&chain::unhex32(s(1)?)?),
        coinb1: chain::unhex(s(2)?)?,
        coinb2: chain::unhex(s(3)?)?,
        branches,
        version: chain::parse_u32_be8(s(5)?)?,
        nbits: chain::parse_u32_be8(s(6)?)?,
        ntime: chain::parse_u32_be8(s(7)?)?,
        difficulty,
    };
    let clean = p.get(8).and_then(Value::as_bool).unwrap_or(false);
    Some((job, clean))
}
