//! `cargo bench --bench scale`: how hashmux's cost grows with miners and pools, against a bare
//! TCP relay (the floor) measured in the same run.
//!
//! For every (miners, pools) in the matrix it starts `pools` bench pools, then hashmux as a
//! separate process (`HASHMUX_BIN` under `HASHMUX_RUNNER`, as in src/sim/external.rs, so a
//! router build runs under qemu-user) and then the relay (this binary re-run with `--relay`:
//! one thread, one smol executor, each miner's bytes copied to its own pool connection and
//! back), and drives each with the same miners:
//!
//! - notify: every pool writes a new job to each of its connections; the time until the last
//!   miner has read it (p50/p99 over the rounds);
//! - submit: one miner sends `mining.submit`; the time until a pool has read it (p50/p99);
//! - saturation: every miner keeps `WINDOW` submits in flight for `HASHMUX_BENCH_SECS`; shares
//!   the pools received per second, the process's CPU time (utime + stime) per 1,000 shares;
//! - resident memory (VmRSS at the end, VmHWM) of the process.
//!
//! The pools ask for difficulty 1e-10 and the miners' difficulty is pinned there (min = start =
//! max = 1e-10: below `min_difficulty` hashmux would keep miners at a floor), so every hash
//! meets the target: each share is a real,
//! valid share that hashmux hashes (sha256d over coinbase, merkle root and header) and checks
//! before forwarding; the `valid` column is hashmux's own count from `/api/stats`. The relay
//! checks nothing. Timings are medians/p99 of samples taken in this run; ratios are against
//! the relay's figures from the same run. Nothing is asserted.
//!
//! Stratum V2 miners: for the `sv2` rows (and `sv2std`) a second hashmux process, started with
//! `listen_sv2`, is driven by SV2 miners on the same pools (SRI Noise initiator and codec, see
//! `common/sv2miners.rs`), each with one extended channel (`sv2std`: standard channel). The
//! figures are the same: notify is the time from the pools writing a job until every miner
//! has its `NewExtendedMiningJob` / `NewMiningJob` (rounds told apart by the job's ntime, as for
//! SV1), submit is `SubmitSharesExtended` / `SubmitSharesStandard` until a pool has read the
//! `mining.submit`, saturation keeps `WINDOW` submits in flight per miner (any nonce is a valid
//! share at difficulty 1e-10). The relay figures beside them are the SV1 relay's: a relay cannot
//! turn SV2 into SV1, so the SV1 floor is the floor for both.
//!
//! Environment: `HASHMUX_BENCH_MINERS` (default "1,16,64,256"), `HASHMUX_BENCH_POOLS` ("1,2,4,8"),
//! `HASHMUX_BENCH_SECS` (saturation seconds, default 3), `HASHMUX_BENCH_ROUNDS` (notify rounds,
//! default 30, paced a little over a second apart like a pool's jobs; submits are 4×),
//! `HASHMUX_BENCH_MINER_PROTO` (the miners' protocols, any of `sv1`, `sv2` (extended channels)
//! and `sv2std` (standard channels); default "sv1,sv2").

mod common;
#[path = "common/sv2miners.rs"]
mod sv2miners;
// The SRI-based pieces of the SV2 test miners (Noise initiator, setup, channel state).
#[path = "../tests/common/sv2miner.rs"]
#[allow(dead_code)]
mod sv2miner;
#[path = "../tests/common/sv2util.rs"]
#[allow(dead_code)]
mod sv2util;

use common::notify_line;
use sv2miner::ChannelKind;
use sv2miners::Sv2BenchMiner;

use hashmux::sim::{ExternalProxy, Launch};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Submits each miner keeps in flight at saturation.
const WINDOW: usize = 8;
/// Threads that drive the miners at saturation.
const LOAD_THREADS: usize = 2;
/// Most shares on their way to the pools at saturation (hashmux keeps 512 per pool).
const MAX_BACKLOG: u64 = 256;
/// ntime of the first job; round r's job carries NTIME + r, which is how a miner tells it.
const NTIME: u32 = 0x6560_f0a0;
/// Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks.
const TICKS_PER_SEC: u64 = 100;

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------
// Bench pools: any number of connections, each answered by its own thread.

struct PoolShared {
    /// Writers of every accepted connection, for job broadcasts.
    conns: Mutex<Vec<TcpStream>>,
    /// Submits read, by all connections of all pools.
    received: Arc<AtomicU64>,
    /// While set, every submit's nonce and arrival time go to `arrivals`.
    timing: Arc<AtomicBool>,
    arrivals: Mutex<mpsc::Sender<(u32, Instant)>>,
}

struct BenchPool {
    addr: SocketAddr,
    shared: Arc<PoolShared>,
}

impl BenchPool {
    fn start(
        received: Arc<AtomicU64>,
        timing: Arc<AtomicBool>,
        arrivals: mpsc::Sender<(u32, Instant)>,
    ) -> BenchPool {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let shared = Arc::new(PoolShared {
            conns: Mutex::new(Vec::new()),
            received,
            timing,
            arrivals: Mutex::new(arrivals),
        });
        let sh = shared.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { return };
                let _ = s.set_nodelay(true);
                let w = s.try_clone().unwrap();
                sh.conns.lock().unwrap().push(s.try_clone().unwrap());
                let sh = sh.clone();
                std::thread::spawn(move || serve_pool_conn(s, w, &sh));
            }
        });
        BenchPool { addr, shared }
    }

    /// Write job `job` with ntime `ntime` to every connection.
    fn broadcast(&self, job: u32, ntime: u32) {
        let line = notify_line(job, ntime, false);
        for c in self.shared.conns.lock().unwrap().iter_mut() {
            let _ = c.write_all(line.as_bytes());
        }
    }

    fn connections(&self) -> usize {
        self.shared.conns.lock().unwrap().len()
    }
}

fn serve_pool_conn(s: TcpStream, mut w: TcpStream, sh: &PoolShared) {
    let arrivals = sh.arrivals.lock().unwrap().clone();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let mut out = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let t = Instant::now();
        let id = field(&line, "\"id\":").unwrap_or("null");
        if line.contains("\"mining.submit\"") {
            sh.received.fetch_add(1, Ordering::Relaxed);
            if sh.timing.load(Ordering::Relaxed) {
                let nonce = line
                    .rsplit('"')
                    .nth(1)
                    .and_then(|n| u32::from_str_radix(n, 16).ok())
                    .unwrap_or(0);
                let _ = arrivals.send((nonce, t));
            }
            out.push_str(&format!("{{\"id\":{id},\"result\":true,\"error\":null}}\n"));
        } else if line.contains("\"mining.configure\"") {
            // Version rolling allowed (BIP320 bits), as pools do: hashmux only puts SV2
            // miners (which it configures for rolling) on a pool that allows it.
            out.push_str(&format!(
                "{{\"id\":{id},\"result\":{{\"version-rolling\":true,\"version-rolling.mask\":\"1fffe000\"}},\"error\":null}}\n"
            ));
        } else if line.contains("\"mining.subscribe\"") {
            out.push_str(&format!(
                "{{\"id\":{id},\"result\":[[],\"0a0b0c0d\",8],\"error\":null}}\n"
            ));
        } else if line.contains("\"mining.authorize\"") {
            out.push_str(&format!("{{\"id\":{id},\"result\":true,\"error\":null}}\n{{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[1e-10]}}\n"));
            out.push_str(&notify_line(1, NTIME, false));
        } else if id != "null" {
            out.push_str(&format!("{{\"id\":{id},\"result\":true,\"error\":null}}\n"));
        }
        // Answer in one write per burst of lines, as a pool under load would.
        if !out.is_empty() && r.buffer().is_empty() {
            if w.write_all(out.as_bytes()).is_err() {
                return;
            }
            out.clear();
        }
    }
}

/// The raw text after `key` up to the next `,` or `}` (enough for ids and numbers).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(key)? + key.len();
    let rest = line[at..].trim_start();
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

// ---------------------------------------------------------------------------------------
// Miners: what the measurements need of an SV1 or SV2 miner.

trait BenchMiner: Send + 'static {
    /// Read until the job carrying `ntime` has arrived.
    fn await_job(&mut self, ntime: u32) -> std::io::Result<()>;
    /// Append one share with `nonce` on the current job to `out`.
    fn push_submit(&mut self, nonce: u32, out: &mut Vec<u8>);
    /// Write `bytes` (submits) to the proxy.
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Read until `n` shares have been answered (notifications skipped).
    fn await_answers(&mut self, n: usize) -> std::io::Result<()>;
    /// Shares the proxy refused and the last refusal's code (SV2 miners count them; SV1
    /// miners do not look).
    fn rejected(&self) -> (u64, Option<String>) {
        (0, None)
    }
}

/// The miners' protocol in one run of rows.
#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Sv1,
    /// SV2, one extended channel per connection.
    Sv2,
    /// SV2, one standard channel per connection.
    Sv2Std,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Sv1 => "sv1",
            Proto::Sv2 => "sv2",
            Proto::Sv2Std => "sv2std",
        }
    }

    fn parse(s: &str) -> Option<Proto> {
        [Proto::Sv1, Proto::Sv2, Proto::Sv2Std]
            .into_iter()
            .find(|p| p.name() == s.trim())
    }
}

// ---------------------------------------------------------------------------------------
// SV1 miners: blocking sockets, lines scanned without a JSON parser (the same cost either way).

struct Miner {
    w: TcpStream,
    r: BufReader<TcpStream>,
    e2_size: usize,
    job: String,
    ntime: u32,
    next_id: u64,
    line: String,
}

impl Miner {
    fn connect(addr: SocketAddr, i: usize) -> std::io::Result<Miner> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut m = Miner {
            w: s.try_clone()?,
            r: BufReader::new(s),
            e2_size: 0,
            job: String::new(),
            ntime: 0,
            next_id: 10,
            line: String::new(),
        };
        write!(m.w, "{{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"bench/{i}\"]}}\n{{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"rig{i}\",\"x\"]}}\n")?;
        loop {
            m.read()?;
            let v: serde_json::Value = serde_json::from_str(&m.line).unwrap_or_default();
            if v["id"] == 1 {
                // result: [subscriptions, extranonce1, extranonce2_size]
                m.e2_size = v["result"][2].as_u64().unwrap_or(4) as usize;
            }
            if m.take_notify().is_some() {
                return Ok(m);
            }
        }
    }

    fn read(&mut self) -> std::io::Result<()> {
        self.line.clear();
        if self.r.read_line(&mut self.line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        Ok(())
    }

    /// If the line just read is a notify, remember its job id and ntime and return the ntime.
    fn take_notify(&mut self) -> Option<u32> {
        if !self.line.contains("\"mining.notify\"") {
            return None;
        }
        let params = self.line.split("\"params\":[").nth(1)?;
        let mut quoted = params.split('"').skip(1).step_by(2);
        self.job = quoted.next()?.to_string();
        self.ntime = u32::from_str_radix(quoted.nth(7)?, 16).ok()?;
        Some(self.ntime)
    }

    /// Read until the notify carrying `ntime` has arrived.
    fn await_job(&mut self, ntime: u32) -> std::io::Result<()> {
        loop {
            self.read()?;
            if self.take_notify() == Some(ntime) {
                return Ok(());
            }
        }
    }

    fn submit_line(&mut self, nonce: u32, out: &mut Vec<u8>) {
        let _ = writeln!(
            out,
            "{{\"id\":{},\"method\":\"mining.submit\",\"params\":[\"rig\",\"{}\",\"{:0w$x}\",\"{:08x}\",\"{nonce:08x}\"]}}",
            self.next_id,
            self.job,
            0,
            self.ntime,
            w = self.e2_size * 2
        );
        self.next_id += 1;
    }

    /// Read until `n` answers to requests have arrived (notifications skipped).
    fn await_answers(&mut self, mut n: usize) -> std::io::Result<()> {
        while n > 0 {
            self.read()?;
            if self.line.contains("\"result\"") {
                n -= 1;
            } else {
                self.take_notify();
            }
        }
        Ok(())
    }
}

impl BenchMiner for Miner {
    fn await_job(&mut self, ntime: u32) -> std::io::Result<()> {
        Miner::await_job(self, ntime)
    }

    fn push_submit(&mut self, nonce: u32, out: &mut Vec<u8>) {
        self.submit_line(nonce, out)
    }

    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.write_all(bytes)
    }

    fn await_answers(&mut self, n: usize) -> std::io::Result<()> {
        Miner::await_answers(self, n)
    }
}

// ---------------------------------------------------------------------------------------
// The relay (the floor): this binary with `--relay <listen> <pool>...`.

fn relay_main(listen: &str, pools: &[String]) {
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let l = async_net::TcpListener::bind(listen).await.unwrap();
        let mut next = 0usize;
        loop {
            let Ok((down, _)) = l.accept().await else {
                continue;
            };
            let pool = pools[next % pools.len()].clone();
            next += 1;
            ex.spawn(async move {
                let Ok(up) = async_net::TcpStream::connect(pool.as_str()).await else {
                    return;
                };
                let _ = down.set_nodelay(true);
                let _ = up.set_nodelay(true);
                let a = smol::io::copy(down.clone(), up.clone());
                let b = smol::io::copy(up, down);
                let _ = smol::future::or(a, b).await;
            })
            .detach();
        }
    }));
}

// ---------------------------------------------------------------------------------------
// One measured system: hashmux or the relay, as a process.

enum System {
    Proxy(ExternalProxy),
    Relay(Child, SocketAddr),
}

impl System {
    fn addr(&self) -> SocketAddr {
        match self {
            System::Proxy(p) => p.stratum,
            System::Relay(_, a) => *a,
        }
    }

    fn pid(&self) -> u32 {
        match self {
            System::Proxy(p) => p.pid(),
            System::Relay(c, _) => c.id(),
        }
    }

    /// utime + stime in ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = after.split_whitespace().collect();
        // After the name: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
        let get = |i: usize| {
            f.get(i - 3)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        get(14) + get(15)
    }

    fn status_kb(&self, key: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    }

    /// hashmux's own counts: shares it validated (at or above the miner's target) and
    /// shares counted lost on the way to the pools.
    fn validated(&self) -> Option<(u64, u64)> {
        let System::Proxy(p) = self else { return None };
        let (_, body) = p.http_get("/api/stats").ok()?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let sum = |list: &str, key: &str| -> u64 {
            v[list].as_array().map_or(0, |a| {
                a.iter()
                    .map(|x| x["shares"][key].as_u64().unwrap_or(0))
                    .sum()
            })
        };
        Some((sum("miners", "valid"), sum("pools", "lost")))
    }

    /// hashmux's SV2 listener and authority public key, from `/api/stats`.
    fn sv2_endpoint(&self) -> Option<(SocketAddr, [u8; 32])> {
        let System::Proxy(p) = self else { return None };
        let (_, body) = p.http_get("/api/stats").ok()?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let addr = v["sv2"]["listen"].as_str()?.parse().ok()?;
        let key = sv2util::authority_key_from_base58(v["sv2"]["authority_key"].as_str()?)?;
        Some((addr, key))
    }
}

impl Drop for System {
    fn drop(&mut self) {
        if let System::Relay(c, _) = self {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// hashmux on `pools`; with `sv2_key` (its authority key file) also listening for SV2 miners.
fn start_proxy(launch: &Launch, pools: &[BenchPool], sv2_key: Option<&std::path::Path>) -> System {
    let sv2 = sv2_key.map_or(String::new(), |k| {
        format!(
            "\"listen_sv2\":\"{}\",\"sv2_key_file\":{},",
            free_port(),
            serde_json::Value::from(k.display().to_string())
        )
    });
    let before: Vec<usize> = pools.iter().map(BenchPool::connections).collect();
    let list: Vec<String> = pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{{\"name\":\"p{i}\",\"url\":\"stratum+tcp://{}\",\"user\":\"u\",\"weight\":1}}",
                p.addr
            )
        })
        .collect();
    let proxy = ExternalProxy::start(
        launch,
        |s, h| {
            format!(
                "{{{sv2}\"listen\":\"{s}\",\"http\":\"{h}\",\"log_level\":\"warn\",\"pools\":[{}],\"miners\":{{\"max\":256,\"max_per_address\":256,\"min_difficulty\":1e-10,\"start_difficulty\":1e-10,\"max_difficulty\":1e-10}}}}",
                list.join(",")
            )
        },
        Duration::from_secs(60),
    )
    .expect("hashmux starts");
    let until = Instant::now() + Duration::from_secs(60);
    // The pools may still hold an earlier process's connections: wait for new ones.
    while pools
        .iter()
        .zip(&before)
        .any(|(p, b)| p.connections() <= *b)
        && Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    System::Proxy(proxy)
}

fn start_relay(pools: &[BenchPool]) -> System {
    let addr = free_port();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg("--relay").arg(addr.to_string());
    for p in pools {
        cmd.arg(p.addr.to_string());
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < until, "relay did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    System::Relay(child, addr)
}

// ---------------------------------------------------------------------------------------
// Measurements.

#[derive(Default, Clone)]
struct Figures {
    notify: (Duration, Duration),
    submit: (Duration, Duration),
    shares_per_s: f64,
    cpu_ms_per_1k: f64,
    cpu_share: f64,
    rss_kb: u64,
    hwm_kb: u64,
    validated: Option<(u64, u64)>,
    /// Shares the miners saw refused (SV2 miners only), and the last refusal's code.
    rejected: u64,
    refusal: Option<String>,
}

fn pct(v: &mut [Duration], p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

struct Run<'a> {
    pools: &'a [BenchPool],
    received: &'a AtomicU64,
    received_arc: Arc<AtomicU64>,
    timing: &'a AtomicBool,
    arrivals: &'a mpsc::Receiver<(u32, Instant)>,
    rounds: usize,
    secs: u64,
}

impl Run<'_> {
    /// Connect `n_miners` miners of `proto` to `sys` and measure.
    fn measure(&self, sys: &System, proto: Proto, n_miners: usize, round0: u32) -> Figures {
        let sv2 = |kind: ChannelKind| {
            let (addr, key) = sys.sv2_endpoint().expect("hashmux listens for SV2 miners");
            let miners: Vec<Sv2BenchMiner> = (0..n_miners)
                .map(|i| Sv2BenchMiner::connect(addr, key, i, &kind).expect("SV2 miner connects"))
                .collect();
            self.measure_with(sys, miners, round0)
        };
        match proto {
            Proto::Sv1 => {
                let miners: Vec<Miner> = (0..n_miners)
                    .map(|i| Miner::connect(sys.addr(), i).expect("miner connects"))
                    .collect();
                self.measure_with(sys, miners, round0)
            }
            Proto::Sv2 => sv2(ChannelKind::Extended {
                min_extranonce_size: 2,
            }),
            Proto::Sv2Std => sv2(ChannelKind::Standard),
        }
    }

    fn measure_with<M: BenchMiner>(
        &self,
        sys: &System,
        mut miners: Vec<M>,
        round0: u32,
    ) -> Figures {
        let n_miners = miners.len();
        let mut f = Figures::default();

        // Notify: every pool sends round r's job; the last miner to have it ends the sample.
        let mut lat = Vec::with_capacity(self.rounds);
        for r in 0..self.rounds as u32 {
            // Rounds as a pool sends jobs, not faster than hashmux passes them on: a miner
            // gets at most one notify per MIN_NOTIFY_GAP_MS (a flood is coalesced to the
            // latest job), so back-to-back rounds would measure the coalescing, not the path.
            std::thread::sleep(Duration::from_millis(hashmux::core::MIN_NOTIFY_GAP_MS + 50));
            let ntime = NTIME + round0 + r + 1;
            let t0 = Instant::now();
            for p in self.pools {
                p.broadcast(round0 + r + 2, ntime);
            }
            for m in miners.iter_mut() {
                m.await_job(ntime).expect("job reaches the miner");
            }
            lat.push(t0.elapsed());
        }
        f.notify = (pct(&mut lat, 50), pct(&mut lat, 99));

        // Submit: one at a time, miners in turn; until a pool has read it.
        while self.arrivals.try_recv().is_ok() {}
        self.timing.store(true, Ordering::SeqCst);
        let mut lat = Vec::with_capacity(self.rounds * 4);
        let mut line = Vec::new();
        for k in 0..self.rounds * 4 {
            let m = &mut miners[k % n_miners];
            let nonce = 0x4000_0000 + k as u32;
            line.clear();
            m.push_submit(nonce, &mut line);
            let t0 = Instant::now();
            m.send(&line).unwrap();
            loop {
                let (got, t) = self
                    .arrivals
                    .recv_timeout(Duration::from_secs(30))
                    .expect("share reaches a pool");
                if got == nonce {
                    lat.push(t.duration_since(t0));
                    break;
                }
            }
            m.await_answers(1).expect("answer");
        }
        self.timing.store(false, Ordering::SeqCst);
        f.submit = (pct(&mut lat, 50), pct(&mut lat, 99));

        // Saturation: LOAD_THREADS threads share the miners; each miner keeps WINDOW submits
        // in flight. hashmux answers a miner once it has validated the share, before the pool
        // has it, so the load also stops while more than MAX_BACKLOG shares are on their way
        // to the pools: the figure is hashmux's rate, not a pool falling behind.
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(self.received.load(Ordering::SeqCst)));
        let mut groups: Vec<Vec<(usize, M)>> = (0..LOAD_THREADS).map(|_| Vec::new()).collect();
        for (i, m) in miners.into_iter().enumerate() {
            groups[i % LOAD_THREADS].push((i, m));
        }
        let threads: Vec<_> = groups
            .into_iter()
            .map(|mut group| {
                let (stop, sent) = (stop.clone(), sent.clone());
                let received = self.received_arc.clone();
                std::thread::spawn(move || {
                    let mut batch = Vec::new();
                    let mut nonce = 0u32;
                    'run: while !stop.load(Ordering::Relaxed) {
                        for (i, m) in group.iter_mut() {
                            while sent.load(Ordering::Relaxed)
                                > received.load(Ordering::Relaxed) + MAX_BACKLOG
                            {
                                if stop.load(Ordering::Relaxed) {
                                    break 'run;
                                }
                                std::thread::yield_now();
                            }
                            batch.clear();
                            for _ in 0..WINDOW {
                                m.push_submit((*i as u32) << 22 | nonce, &mut batch);
                                nonce = (nonce + 1) & 0x3f_ffff;
                            }
                            sent.fetch_add(WINDOW as u64, Ordering::Relaxed);
                            if m.send(&batch).is_err() {
                                break 'run;
                            }
                        }
                        for (_, m) in group.iter_mut() {
                            if m.await_answers(WINDOW).is_err() {
                                break 'run;
                            }
                        }
                    }
                    group.into_iter().map(|(_, m)| m).collect::<Vec<M>>()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300)); // warm-up
        let (c0, n0, t0) = (
            sys.cpu_ticks(),
            self.received.load(Ordering::SeqCst),
            Instant::now(),
        );
        std::thread::sleep(Duration::from_secs(self.secs));
        let (c1, n1, wall) = (
            sys.cpu_ticks(),
            self.received.load(Ordering::SeqCst),
            t0.elapsed(),
        );
        stop.store(true, Ordering::SeqCst);
        let miners: Vec<M> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let shares = (n1 - n0).max(1) as f64;
        let cpu_s = (c1 - c0) as f64 / TICKS_PER_SEC as f64;
        f.shares_per_s = shares / wall.as_secs_f64();
        f.cpu_ms_per_1k = cpu_s * 1000.0 / (shares / 1000.0);
        f.cpu_share = cpu_s / wall.as_secs_f64();
        f.rss_kb = sys.status_kb("VmRSS");
        f.hwm_kb = sys.status_kb("VmHWM");
        f.validated = sys.validated();
        for m in &miners {
            let (n, code) = m.rejected();
            f.rejected += n;
            if code.is_some() {
                f.refusal = code;
            }
        }
        drop(miners);
        f
    }
}

fn us(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--relay") {
        return relay_main(&args[i + 1], &args[i + 2..]);
    }
    let miners = env_list("HASHMUX_BENCH_MINERS", &[1, 16, 64, 256]);
    let pool_counts = env_list("HASHMUX_BENCH_POOLS", &[1, 2, 4, 8]);
    let secs = env_num("HASHMUX_BENCH_SECS", 3);
    let rounds = env_num("HASHMUX_BENCH_ROUNDS", 30) as usize;
    let protos: Vec<Proto> = std::env::var("HASHMUX_BENCH_MINER_PROTO")
        .unwrap_or_else(|_| "sv1,sv2".into())
        .split(',')
        .map(|p| {
            Proto::parse(p).unwrap_or_else(|| {
                panic!("HASHMUX_BENCH_MINER_PROTO: {p:?} is not one of sv1, sv2, sv2std")
            })
        })
        .collect();
    let launch = Launch::from_env(env!("CARGO_BIN_EXE_hashmux"));
    // One SV2 authority key for every hashmux process of this run, removed at the end.
    let key_file = std::env::temp_dir().join(format!("hashmux-scale-{}.key", std::process::id()));
    println!(
        "hashmux scale bench: {} against a one-thread relay; {} cores visible; {rounds} notify rounds, {} submits, {secs} s saturation with {WINDOW} in flight per miner; miners: {}",
        launch.describe(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        rounds * 4,
        protos.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
    );
    println!("latencies in µs (p50/p99); ratio = hashmux p99 / relay p99; CPU = process utime+stime; shares/s = received by the pools");
    if protos.iter().any(|p| *p != Proto::Sv1) {
        println!("proto: the miners' protocol (sv2 = extended channels, sv2std = standard channels), each against its own hashmux process; the relay is the SV1 relay in every row (a relay cannot turn SV2 into SV1: the SV1 floor is the floor for both); rej = shares the SV2 miners saw refused");
    }
    println!();
    println!(
        "{:>6} {:>5} {:>6} | {:>13} {:>13} {:>5} | {:>13} {:>13} {:>5} | {:>8} {:>5} {:>7} {:>7} | {:>8} {:>4} {:>4} {:>7} | {:>6} {:>6}",
        "miners", "pools", "proto", "notify hmux", "notify relay", "ratio", "submit hmux", "submit relay", "ratio",
        "shares/s", "CPU%", "ms/1k", "relay", "valid", "lost", "rej", "k/CPU-s", "RSS kB", "HWM kB"
    );
    let mut rows = Vec::new();
    let mut refusals = Vec::new();
    let mut gone = 0;
    for &np in &pool_counts {
        for &nm in &miners {
            let received = Arc::new(AtomicU64::new(0));
            let timing = Arc::new(AtomicBool::new(false));
            let (tx, rx) = mpsc::channel();
            let pools: Vec<BenchPool> = (0..np)
                .map(|_| BenchPool::start(received.clone(), timing.clone(), tx.clone()))
                .collect();
            let run = Run {
                pools: &pools,
                received: &received,
                received_arc: received.clone(),
                timing: &timing,
                arrivals: &rx,
                rounds,
                secs,
            };
            // Each protocol against its own hashmux process (rounds numbered apart), then the
            // relay with SV1 miners.
            let mut measured = Vec::new();
            for (k, &proto) in protos.iter().enumerate() {
                let key = (proto != Proto::Sv1).then_some(key_file.as_path());
                let proxy = start_proxy(&launch, &pools, key);
                let h = run.measure(&proxy, proto, nm, 2_000_000 * k as u32);
                if let System::Proxy(p) = &proxy {
                    if h.rss_kb == 0 {
                        eprintln!("hashmux is gone; its log:\n{}", p.log());
                        gone += 1;
                    }
                }
                drop(proxy);
                measured.push((proto, h));
            }
            let relay = start_relay(&pools);
            let r = run.measure(&relay, Proto::Sv1, nm, 1_000_000);
            drop(relay);
            let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
            for (proto, h) in measured {
                println!(
                    "{nm:>6} {np:>5} {:>6} | {:>6}/{:<6} {:>6}/{:<6} {:>5.2} | {:>6}/{:<6} {:>6}/{:<6} {:>5.2} | {:>8.0} {:>4.0}% {:>7.1} {:>7.1} | {:>8} {:>4} {:>4} {:>7.1} | {:>6} {:>6}",
                    proto.name(),
                    us(h.notify.0), us(h.notify.1), us(r.notify.0), us(r.notify.1), ratio(h.notify.1, r.notify.1),
                    us(h.submit.0), us(h.submit.1), us(r.submit.0), us(r.submit.1), ratio(h.submit.1, r.submit.1),
                    h.shares_per_s, h.cpu_share * 100.0, h.cpu_ms_per_1k, r.cpu_ms_per_1k,
                    h.validated.map_or("?".into(), |v| v.0.to_string()),
                    h.validated.map_or("?".into(), |v| v.1.to_string()),
                    h.rejected,
                    1000.0 / h.cpu_ms_per_1k.max(1e-9),
                    h.rss_kb, h.hwm_kb
                );
                if let Some(code) = &h.refusal {
                    refusals.push(format!(
                        "{nm} miners × {np} pools, {}: {} refused, the last with {code}",
                        proto.name(),
                        h.rejected
                    ));
                }
                rows.push((nm, np, proto, h, r.clone()));
            }
        }
    }
    let _ = std::fs::remove_file(&key_file);
    println!();
    for r in &refusals {
        println!("refused shares: {r}");
    }
    for proto in &protos {
        let of: Vec<(usize, usize, Figures, Figures)> = rows
            .iter()
            .filter(|r| r.2 == *proto)
            .map(|r| (r.0, r.1, r.3.clone(), r.4.clone()))
            .collect();
        if protos.len() > 1 {
            println!("{} miners:", proto.name());
        }
        summary(&of);
    }
    // Figures are reported, not judged; a proxy that died under the load is a failure.
    if gone > 0 {
        eprintln!("hashmux exited during {gone} of the runs");
        std::process::exit(1);
    }
}

/// The budget lines: worst latency ratio, best shares per CPU-second, RSS at 64×4, and the
/// CPU per share at the largest miner count over that at 16.
fn summary(rows: &[(usize, usize, Figures, Figures)]) {
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    let worst_notify = rows
        .iter()
        .map(|(_, _, h, r)| ratio(h.notify.1, r.notify.1))
        .fold(0.0, f64::max);
    let worst_submit = rows
        .iter()
        .map(|(_, _, h, r)| ratio(h.submit.1, r.submit.1))
        .fold(0.0, f64::max);
    println!("budget: p99 ≤ 2× relay: worst notify ratio {worst_notify:.2}, worst submit ratio {worst_submit:.2}");
    let best = rows
        .iter()
        .map(|(_, _, h, _)| 1e6 / h.cpu_ms_per_1k.max(1e-9))
        .fold(0.0, f64::max);
    let peak = rows
        .iter()
        .map(|(_, _, h, _)| h.shares_per_s)
        .fold(0.0, f64::max);
    println!("budget: ≥ 20,000 validated shares/s on one core: {best:.0} shares per CPU-second (best row), {peak:.0} shares/s measured (best row, load generator on the same cores)");
    if let Some((_, _, h, _)) = rows.iter().find(|(m, p, _, _)| *m == 64 && *p == 4) {
        println!(
            "budget: RSS ≤ 4 MB at 64 miners × 4 pools: VmRSS {} kB, VmHWM {} kB",
            h.rss_kb, h.hwm_kb
        );
    }
    let mut pools: Vec<usize> = rows.iter().map(|r| r.1).collect();
    pools.dedup();
    for p in pools {
        let at = |m: usize| {
            rows.iter()
                .find(|r| r.0 == m && r.1 == p)
                .map(|r| r.2.cpu_ms_per_1k)
        };
        let top = rows
            .iter()
            .filter(|r| r.1 == p)
            .map(|r| r.0)
            .max()
            .unwrap_or(0);
        if let (Some(a), Some(b)) = (at(16), at(top)) {
            println!(
                "budget: CPU per share flat from 16 to {top} miners ({p} pools): {a:.1} → {b:.1} ms per 1,000 shares (×{:.2})",
                b / a.max(1e-9)
            );
        }
    }
}
