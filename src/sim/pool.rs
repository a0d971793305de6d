//! `SimPool`: a Stratum V1 pool on 127.0.0.1 that hands out deterministic jobs and checks every
//! share with the sim's own arithmetic ([`super::chain`]).
//!
//! One OS thread runs one `smol::LocalExecutor`. Its main task owns all state; per connection a
//! reader task turns bytes into lines (sent back to the main task) and a writer task drains an
//! outgoing queue. Dropping a connection's entry cancels both tasks and shuts the socket; the
//! main task ends when the handle's command channel closes, and with it the executor, the
//! listener and every connection.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::net::{Ipv4Addr, Shutdown, SocketAddr};
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_net::{TcpListener, TcpStream};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use serde_json::{json, Value};
use smol::channel::{self, Receiver, Sender};
use smol::{LocalExecutor, Task, Timer};

use super::chain::{self, Target, XorShift};
use super::wire::{err_line, ok_line, request_line, LineBuf};

/// How job ids look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JobIdStyle {
    /// "1", "2", "3", ...: every pool counts the same way, so two pools' ids collide.
    #[default]
    Counter,
    /// Six-ish hex digits from a name-seeded base, e.g. "5f3a01".
    Hex,
}

/// What a [`SimPool`] looks like to its clients.
#[derive(Clone, Debug)]
pub struct SimPoolConfig {
    pub extranonce1_size: usize,
    pub extranonce2_size: usize,
    /// Initial difficulty of every connection.
    pub difficulty: f64,
    /// Version-rolling bits the pool grants (ANDed with what the client asks). 0: none.
    pub version_mask: u32,
    /// A new job (clean=false) this often; 0 disables.
    pub job_interval_ms: u64,
    /// A new prevhash (clean=true) this often; jobs of older blocks become stale. 0 disables.
    pub block_interval_ms: u64,
    /// Extra bytes appended to coinb2, to make big notify lines.
    pub coinb2_extra_bytes: usize,
    pub job_id_style: JobIdStyle,
    /// Seeds the job bytes and names the thread.
    pub name: String,
}

impl Default for SimPoolConfig {
    fn default() -> Self {
        SimPoolConfig {
            extranonce1_size: 4,
            extranonce2_size: 8,
            difficulty: 0.0001,
            version_mask: 0x1fff_e000,
            job_interval_ms: 5_000,
            block_interval_ms: 60_000,
            coinb2_extra_bytes: 0,
            job_id_style: JobIdStyle::Counter,
            name: "simpool".to_string(),
        }
    }
}

/// A snapshot of what a [`SimPool`] has seen.
#[derive(Clone, Debug, Default)]
pub struct SimPoolStats {
    /// Connections accepted in total.
    pub connections: u64,
    /// Connections open now.
    pub open: usize,
    pub accepted: u64,
    pub rejected: u64,
    /// Rejections by error message ("low difficulty share", "stale", ...).
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Sum of the difficulty each accepted share was credited at.
    pub accepted_work: f64,
    /// Accepted shares per worker name (the submit's first param).
    pub workers: BTreeMap<String, u64>,
    /// Hex of the first 2 bytes of each accepted extranonce2 (all of it when shorter).
    pub extranonce2_prefixes: BTreeSet<String>,
    /// `mining.notify` lines sent, counted per connection.
    pub jobs_sent: u64,
    pub subscribes: u64,
    pub authorizes: u64,
    pub configures: u64,
    /// Submits read but left unanswered while `set_answer_submits(false)`.
    pub ignored_submits: u64,
    /// Answers held back now (`set_hold_answers(true)`), and the most ever held at once.
    pub held_answers: u64,
    pub max_held_answers: u64,
}

enum Cmd {
    SetDifficulty(f64),
    NewBlock,
    DropConnections,
    SetSilent(bool),
    SetAnswerSubmits(bool),
    SetHoldAnswers(bool),
    SetRejectSubmits(bool),
    SetDown(bool),
}

/// A running simulated pool. Stops (listener, connections, thread) on [`SimPool::stop`] or drop.
pub struct SimPool {
    addr: SocketAddr,
    stats: Arc<Mutex<SimPoolStats>>,
    cmd: Option<Sender<Cmd>>,
    thread: Option<JoinHandle<()>>,
}

impl SimPool {
    /// Bind 127.0.0.1:0 and start serving in a new thread.
    pub fn start(cfg: SimPoolConfig) -> std::io::Result<SimPool> {
        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = std_listener.local_addr()?;
        let listener = TcpListener::try_from(std_listener)?;
        let stats = Arc::new(Mutex::new(SimPoolStats::default()));
        let (cmd_tx, cmd_rx) = channel::unbounded();
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name(format!("simpool-{}", cfg.name))
            .spawn(move || {
                let ex = LocalExecutor::new();
                smol::block_on(ex.run(run_pool(&ex, listener, cfg, cmd_rx, thread_stats)));
            })?;
        Ok(SimPool {
            addr,
            stats,
            cmd: Some(cmd_tx),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> SimPoolStats {
        lock(&self.stats).clone()
    }

    /// Send `mining.set_difficulty` to every connection (and use it for new ones), then a job.
    pub fn set_difficulty(&self, d: f64) {
        self.send(Cmd::SetDifficulty(d));
    }

    /// New prevhash and a clean job now; earlier jobs become stale.
    pub fn new_block(&self) {
        self.send(Cmd::NewBlock);
    }

    /// Close every current connection; the listener stays.
    pub fn drop_connections(&self) {
        self.send(Cmd::DropConnections);
    }

    /// Stop (true) or resume (false) sending jobs; connections stay open. Resuming sends a job.
    pub fn set_silent(&self, silent: bool) {
        self.send(Cmd::SetSilent(silent));
    }

    /// With false, submits are read but never answered (a hung pool).
    pub fn set_answer_submits(&self, answer: bool) {
        self.send(Cmd::SetAnswerSubmits(answer));
    }

    /// With true, submits are judged at once but their answers held back (a slow pool);
    /// false sends every held answer, in order.
    pub fn set_hold_answers(&self, hold: bool) {
        self.send(Cmd::SetHoldAnswers(hold));
    }

    /// With true, every submit is answered with a reject ("rejected for the test"), whatever
    /// the share.
    pub fn set_reject_submits(&self, reject: bool) {
        self.send(Cmd::SetRejectSubmits(reject));
    }

    /// Take the pool down (true): close every connection and refuse new ones at once, as a
    /// dead pool does. false brings it back.
    pub fn set_down(&self, down: bool) {
        self.send(Cmd::SetDown(down));
    }

    /// Close everything and join the thread (what drop does too).
    pub fn stop(self) {}

    fn send(&self, c: Cmd) {
        if let Some(tx) = &self.cmd {
            let _ = tx.try_send(c);
        }
    }
}

impl Drop for SimPool {
    fn drop(&mut self) {
        self.cmd.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Jobs the pool still knows (for "stale" rather than "job not found").
const KEPT_JOBS: usize = 32;
/// Per-connection memory of the difficulty each job was sent at.
const KEPT_JOB_DIFFS: usize = 32;
/// Longest line accepted from a client.
const MAX_LINE: usize = 64 * 1024;
/// A client that leaves this many lines unread is dropped.
const MAX_QUEUED_LINES: usize = 10_000;
/// ntime may run this far ahead of the job's.
const NTIME_SLACK: u32 = 7_200;
const EPOCH: u32 = 1_700_000_000;

enum Ev {
    Accepted(TcpStream),
    Line(u64, String),
    Closed(u64),
}

enum Step {
    Stop,
    Cmd(Cmd),
    Ev(Ev),
    Tick,
}

struct PoolJob {
    id: String,
    block: u64,
    prevhash: [u8; 32],
    coinb1: Vec<u8>,
    coinb2: Vec<u8>,
    branches: Vec<[u8; 32]>,
    version: u32,
    nbits: u32,
    ntime: u32,
    notify: Rc<str>,
    seen: HashSet<String>,
}

struct Conn {
    stream: TcpStream,
    out: Sender<Rc<str>>,
    _reader: Task<()>,
    _writer: Task<()>,
    e1: Vec<u8>,
    subscribed: bool,
    users: BTreeSet<String>,
    /// Has had its first set_difficulty and receives broadcasts.
    primed: bool,
    difficulty: f64,
    /// Negotiated version-rolling mask; 0 until `mining.configure` grants one.
    mask: u32,
    job_diffs: VecDeque<(String, f64)>,
}

struct Pool<'ex> {
    ex: &'ex LocalExecutor<'static>,
    ev_tx: Sender<Ev>,
    cfg: SimPoolConfig,
    stats: Arc<Mutex<SimPoolStats>>,
    rng: XorShift,
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    e1_base: u64,
    jobs: VecDeque<PoolJob>,
    block: u64,
    prevhash: [u8; 32],
    job_counter: u64,
    job_id_base: u64,
    started: Instant,
    next_job: Option<Instant>,
    next_block: Option<Instant>,
    silent: bool,
    answer_submits: bool,
    reject_submits: bool,
    /// Answers held back (connection, line) while `hold_answers`.
    hold_answers: bool,
    held: Vec<(u64, String)>,
    /// Refusing connections (simulated outage).
    down: bool,
    /// Block of the last job sent to anyone.
    sent_block: u64,
}

async fn run_pool(
    ex: &LocalExecutor<'static>,
    listener: TcpListener,
    cfg: SimPoolConfig,
    cmd_rx: Receiver<Cmd>,
    stats: Arc<Mutex<SimPoolStats>>,
) {
    let (ev_tx, ev_rx) = channel::unbounded();
    let accept_tx = ev_tx.clone();
    let _accept: Task<()> = ex.spawn(async move {
        loop {
            match listener.accept().await {
                Ok((s, _)) => {
                    if accept_tx.send(Ev::Accepted(s)).await.is_err() {
                        break;
                    }
                }
                Err(_) => {
                    Timer::after(Duration::from_millis(50)).await;
                }
            }
        }
    });
    let mut rng = XorShift::from_name(&cfg.name);
    let e1_base = rng.next_u64() & 0xffff_0000;
    let job_id_base = 0x10_0000 + rng.next_u64() % 0xe0_0000;
    let prevhash = rng.bytes32();
    let mut pool = Pool {
        ex,
        ev_tx,
        stats,
        rng,
        conns: BTreeMap::new(),
        next_conn: 1,
        e1_base,
        jobs: VecDeque::new(),
        block: 1,
        prevhash,
        job_counter: 0,
        job_id_base,
        started: Instant::now(),
        next_job: None,
        next_block: None,
        silent: false,
        answer_submits: true,
        hold_answers: false,
        held: Vec::new(),
        reject_submits: false,
        down: false,
        sent_block: 1,
        cfg,
    };
    pool.make_job(true);
    pool.reset_timers(true);
    loop {
        let deadline = pool
            .next_job
            .into_iter()
            .chain(pool.next_block)
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let step = future::or(
            async {
                match cmd_rx.recv().await {
                    Ok(c) => Step::Cmd(c),
                    Err(_) => Step::Stop,
                }
            },
            future::or(
                async {
                    match ev_rx.recv().await {
                        Ok(e) => Step::Ev(e),
                        Err(_) => Step::Stop,
                    }
                },
                async {
                    Timer::at(deadline).await;
                    Step::Tick
                },
            ),
        )
        .await;
        match step {
            Step::Stop => break,
            Step::Cmd(c) => pool.command(c),
            Step::Ev(e) => pool.event(e),
            Step::Tick => pool.tick(),
        }
    }
    let ids: Vec<u64> = pool.conns.keys().copied().collect();
    for id in ids {
        pool.close(id);
    }
}

impl Pool<'_> {
    fn stats(&self) -> MutexGuard<'_, SimPoolStats> {
        lock(&self.stats)
    }

    fn reset_timers(&mut self, block_too: bool) {
        let now = Instant::now();
        if self.cfg.job_interval_ms > 0 {
            self.next_job = Some(now + Duration::from_millis(self.cfg.job_interval_ms));
        }
        if block_too && self.cfg.block_interval_ms > 0 {
            self.next_block = Some(now + Duration::from_millis(self.cfg.block_interval_ms));
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        if self.next_block.is_some_and(|t| t <= now) {
            self.reset_timers(true);
            if !self.silent {
                self.new_block();
            }
        } else if self.next_job.is_some_and(|t| t <= now) {
            self.reset_timers(false);
            if !self.silent {
                self.make_job(false);
                self.broadcast_job();
            }
        }
    }

    fn command(&mut self, c: Cmd) {
        match c {
            Cmd::SetDifficulty(d) => {
                self.cfg.difficulty = d;
                let line: Rc<str> =
                    request_line(Value::Null, "mining.set_difficulty", json!([d])).into();
                let ids: Vec<u64> = self.conns.keys().copied().collect();
                for id in ids {
                    let conn = self.conns.get_mut(&id).expect("listed");
                    conn.difficulty = d;
                    if conn.primed {
                        self.send(id, line.clone());
                    }
                }
                self.make_job(false);
                self.broadcast_job();
                self.reset_timers(false);
            }
            Cmd::NewBlock => {
                self.new_block();
                self.reset_timers(true);
            }
            Cmd::DropConnections => {
                let ids: Vec<u64> = self.conns.keys().copied().collect();
                for id in ids {
                    self.close(id);
                }
            }
            Cmd::SetSilent(s) => {
                let resumed = self.silent && !s;
                self.silent = s;
                if resumed {
                    // Clean if the block moved on while silent.
                    let moved = self.block != self.sent_block;
                    self.make_job(moved);
                    self.broadcast_job();
                    self.reset_timers(true);
                }
            }
            Cmd::SetAnswerSubmits(a) => self.answer_submits = a,
            Cmd::SetHoldAnswers(h) => {
                self.hold_answers = h;
                if !h {
                    for (id, line) in std::mem::take(&mut self.held) {
                        self.send(id, line.into());
                    }
                    self.stats().held_answers = 0;
                }
            }
            Cmd::SetRejectSubmits(r) => self.reject_submits = r,
            Cmd::SetDown(d) => {
                self.down = d;
                if d {
                    let ids: Vec<u64> = self.conns.keys().copied().collect();
                    for id in ids {
                        self.close(id);
                    }
                }
            }
        }
    }

    fn new_block(&mut self) {
        self.block += 1;
        self.prevhash = self.rng.bytes32();
        self.make_job(true);
        self.broadcast_job();
    }

    fn make_job(&mut self, clean: bool) {
        self.job_counter += 1;
        let id = match self.cfg.job_id_style {
            JobIdStyle::Counter => self.job_counter.to_string(),
            JobIdStyle::Hex => format!("{:x}", self.job_id_base + self.job_counter),
        };
        let coinb1 = self.rng.bytes(60);
        let coinb2 = self.rng.bytes(40 + self.cfg.coinb2_extra_bytes);
        let n_branches = 2 + (self.rng.next_u64() % 3) as usize;
        let branches: Vec<[u8; 32]> = (0..n_branches).map(|_| self.rng.bytes32()).collect();
        let version = 0x2000_0000;
        let nbits = 0x1d00_ffff;
        let ntime = EPOCH + self.started.elapsed().as_secs() as u32;
        let notify: Rc<str> = request_line(
            Value::Null,
            "mining.notify",
            json!([
                id,
                chain::hex(&chain::swap_words(&self.prevhash)),
                chain::hex(&coinb1),
                chain::hex(&coinb2),
                branches.iter().map(|b| chain::hex(b)).collect::<Vec<_>>(),
                chain::u32_be8(version),
                chain::u32_be8(nbits),
                chain::u32_be8(ntime),
                clean
            ]),
        )
        .into();
        self.jobs.push_back(PoolJob {
            id,
            block: self.block,
            prevhash: self.prevhash,
            coinb1,
            coinb2,
            branches,
            version,
            nbits,
            ntime,
            notify,
            seen: HashSet::new(),
        });
        while self.jobs.len() > KEPT_JOBS {
            self.jobs.pop_front();
        }
    }

    fn broadcast_job(&mut self) {
        if self.silent {
            return;
        }
        let ids: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.primed)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.send_current_job(id);
        }
    }

    fn send_current_job(&mut self, id: u64) {
        let Some(job) = self.jobs.back() else { return };
        let (job_id, line) = (job.id.clone(), job.notify.clone());
        self.sent_block = job.block;
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.job_diffs.retain(|(j, _)| *j != job_id);
        conn.job_diffs.push_back((job_id, conn.difficulty));
        while conn.job_diffs.len() > KEPT_JOB_DIFFS {
            conn.job_diffs.pop_front();
        }
        self.stats().jobs_sent += 1;
        self.send(id, line);
    }

    fn send(&mut self, id: u64, line: Rc<str>) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        if conn.out.len() > MAX_QUEUED_LINES || conn.out.try_send(line).is_err() {
            self.close(id);
        }
    }

    fn close(&mut self, id: u64) {
        if let Some(conn) = self.conns.remove(&id) {
            let _ = conn.stream.shutdown(Shutdown::Both);
            self.stats().open = self.conns.len();
        }
    }

    fn event(&mut self, e: Ev) {
        match e {
            Ev::Accepted(stream) => self.accept(stream),
            Ev::Closed(id) => self.close(id),
            Ev::Line(id, line) => self.line(id, &line),
        }
    }

    fn accept(&mut self, stream: TcpStream) {
        if self.down {
            drop(stream);
            return;
        }
        let id = self.next_conn;
        self.next_conn += 1;
        let _ = stream.set_nodelay(true);
        let counter = (self.e1_base + id).to_be_bytes();
        let size = self.cfg.extranonce1_size;
        let mut e1 = vec![0u8; size];
        let n = size.min(8);
        e1[size - n..].copy_from_slice(&counter[8 - n..]);

        let (out_tx, out_rx) = channel::unbounded::<Rc<str>>();
        let mut w = stream.clone();
        let writer = self.ex.spawn(async move {
            while let Ok(line) = out_rx.recv().await {
                if w.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
            }
            let _ = w.flush().await;
        });
        let mut r = stream.clone();
        let ev_tx = self.ev_tx.clone();
        let reader = self.ex.spawn(async move {
            let mut lines = LineBuf::new(MAX_LINE);
            let mut buf = vec![0u8; 16 * 1024];
            'read: loop {
                let n = match r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                lines.push(&buf[..n]);
                loop {
                    match lines.next_line() {
                        Ok(Some(l)) => {
                            if ev_tx.send(Ev::Line(id, l)).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => break 'read,
                    }
                }
            }
            let _ = ev_tx.send(Ev::Closed(id)).await;
        });
        self.conns.insert(
            id,
            Conn {
                stream,
                out: out_tx,
                _reader: reader,
                _writer: writer,
                e1,
                subscribed: false,
                users: BTreeSet::new(),
                primed: false,
                difficulty: self.cfg.difficulty,
                mask: 0,
                job_diffs: VecDeque::new(),
            },
        );
        let open = self.conns.len();
        let mut st = self.stats();
        st.connections += 1;
        st.open = open;
    }

    fn line(&mut self, id: u64, line: &str) {
        if !self.conns.contains_key(&id) {
            return;
        }
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            log::debug!("simpool {}: unparsable line from {id}", self.cfg.name);
            return;
        };
        let req_id = msg.get("id").cloned().unwrap_or(Value::Null);
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        let Some(method) = msg.get("method").and_then(Value::as_str) else {
            return; // a response to something we never ask: ignore
        };
        let reply = match method {
            "mining.configure" => Some(self.configure(id, &req_id, &params)),
            "mining.subscribe" => {
                self.stats().subscribes += 1;
                let conn = self.conns.get_mut(&id).expect("checked");
                conn.subscribed = true;
                let sid = format!("{id:x}");
                let result = json!([
                    [["mining.set_difficulty", sid], ["mining.notify", sid]],
                    chain::hex(&conn.e1),
                    self.cfg.extranonce2_size
                ]);
                self.reply(id, &req_id, ok_line(&req_id, result));
                self.maybe_prime(id);
                None
            }
            "mining.authorize" => {
                self.stats().authorizes += 1;
                let user = params.get(0).and_then(Value::as_str).unwrap_or("");
                if user.is_empty() {
                    Some(err_line(&req_id, 24, "unauthorized worker"))
                } else {
                    let conn = self.conns.get_mut(&id).expect("checked");
                    conn.users.insert(user.to_string());
                    self.reply(id, &req_id, ok_line(&req_id, Value::Bool(true)));
                    self.maybe_prime(id);
                    None
                }
            }
            "mining.extranonce.subscribe" | "mining.suggest_difficulty" => {
                Some(ok_line(&req_id, Value::Bool(true)))
            }
            "mining.submit" => {
                if !self.answer_submits {
                    self.stats().ignored_submits += 1;
                    None
                } else {
                    let verdict = if self.reject_submits {
                        Err((20, "rejected for the test"))
                    } else {
                        self.submit(id, &params)
                    };
                    let line = match verdict {
                        Ok(()) => ok_line(&req_id, Value::Bool(true)),
                        Err((code, reason)) => {
                            let mut st = self.stats();
                            st.rejected += 1;
                            *st.rejected_by_reason.entry(reason.to_string()).or_default() += 1;
                            err_line(&req_id, code, reason)
                        }
                    };
                    if self.hold_answers {
                        self.held.push((id, line));
                        let n = self.held.len() as u64;
                        let mut st = self.stats();
                        st.held_answers = n;
                        st.max_held_answers = st.max_held_answers.max(n);
                        None
                    } else {
                        Some(line)
                    }
                }
            }
            _ => Some(err_line(&req_id, 20, "unknown method")),
        };
        if let Some(r) = reply {
            self.reply(id, &req_id, r);
        }
    }

    /// Send a response unless the request was a notification (null id).
    fn reply(&mut self, id: u64, req_id: &Value, line: String) {
        if !req_id.is_null() {
            self.send(id, line.into());
        }
    }

    fn configure(&mut self, id: u64, req_id: &Value, params: &Value) -> String {
        self.stats().configures += 1;
        let exts: Vec<String> = params
            .get(0)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let opts = params.get(1);
        let mut result = serde_json::Map::new();
        for ext in exts {
            if ext == "version-rolling" {
                let asked = opts
                    .and_then(|o| o.get("version-rolling.mask"))
                    .and_then(Value::as_str)
                    .and_then(|s| u32::from_str_radix(s, 16).ok())
                    .unwrap_or(u32::MAX);
                let granted = asked & self.cfg.version_mask;
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.mask = granted;
                }
                result.insert("version-rolling".into(), Value::Bool(granted != 0));
                result.insert(
                    "version-rolling.mask".into(),
                    Value::String(chain::u32_be8(granted)),
                );
            } else {
                result.insert(ext, Value::Bool(false));
            }
        }
        ok_line(req_id, Value::Object(result))
    }

    /// Once subscribed and authorized: set_difficulty, then the current job.
    fn maybe_prime(&mut self, id: u64) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.primed || !conn.subscribed || conn.users.is_empty() {
            return;
        }
        conn.primed = true;
        let d = conn.difficulty;
        self.send(
            id,
            request_line(Value::Null, "mining.set_difficulty", json!([d])).into(),
        );
        if !self.silent {
            self.send_current_job(id);
        }
    }

    fn submit(&mut self, id: u64, params: &Value) -> Result<(), (i64, &'static str)> {
        const MALFORMED: (i64, &str) = (20, "malformed submit");
        let conn = self.conns.get(&id).expect("checked");
        if !conn.subscribed {
            return Err((25, "not subscribed"));
        }
        let p: Vec<&str> = params
            .as_array()
            .ok_or(MALFORMED)?
            .iter()
            .map(|v| v.as_str().ok_or(MALFORMED))
            .collect::<Result<_, _>>()?;
        if p.len() != 5 && p.len() != 6 {
            return Err(MALFORMED);
        }
        let worker = p[0];
        if !conn.users.contains(worker) {
            return Err((24, "unauthorized worker"));
        }
        let block = self.block;
        let job = self
            .jobs
            .iter_mut()
            .find(|j| j.id == p[1])
            .ok_or((21, "job not found"))?;
        if job.block != block {
            return Err((21, "stale"));
        }
        let e2 = chain::unhex(p[2]).ok_or(MALFORMED)?;
        if e2.len() != self.cfg.extranonce2_size {
            return Err((20, "incorrect extranonce2 size"));
        }
        let ntime = chain::parse_u32_be8(p[3]).ok_or(MALFORMED)?;
        if ntime < job.ntime || ntime > job.ntime.saturating_add(NTIME_SLACK) {
            return Err((20, "ntime out of range"));
        }
        let nonce = chain::parse_u32_be8(p[4]).ok_or(MALFORMED)?;
        let version = match p.get(5) {
            None => job.version,
            Some(s) => {
                let bits = chain::parse_u32_be8(s).ok_or(MALFORMED)?;
                if bits & !conn.mask != 0 {
                    return Err((20, "version bits outside mask"));
                }
                (job.version & !conn.mask) | bits
            }
        };
        let key = format!(
            "{}:{}:{ntime:08x}:{nonce:08x}:{version:08x}",
            chain::hex(&conn.e1),
            chain::hex(&e2)
        );
        if job.seen.contains(&key) {
            return Err((22, "duplicate share"));
        }
        let root = chain::merkle_root(&[&job.coinb1, &conn.e1, &e2, &job.coinb2], &job.branches);
        let hdr = chain::header(version, &job.prevhash, &root, ntime, job.nbits, nonce);
        let hash = chain::sha256d(&hdr);
        let sent_at = conn
            .job_diffs
            .iter()
            .find(|(j, _)| j == &job.id)
            .map_or(conn.difficulty, |(_, d)| *d);
        let credited = sent_at.min(conn.difficulty);
        if !Target::from_difficulty(credited).is_met_by(&hash) {
            return Err((23, "low difficulty share"));
        }
        job.seen.insert(key);
        let prefix = chain::hex(&e2[..e2.len().min(2)]);
        let mut st = self.stats();
        st.accepted += 1;
        st.accepted_work += credited;
        *st.workers.entry(worker.to_string()).or_default() += 1;
        st.extranonce2_prefixes.insert(prefix);
        Ok(())
    }
}
