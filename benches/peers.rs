//! `cargo bench --bench peers`: hashmux beside what a user would run instead, on the same pool,
//! with the same miners, in the same run.
//!
//! The pool is the SRI-based SV2 test pool of the tests (`tests/common/sv2pool.rs`: SRI Noise
//! responder and codec, its own sha256d check of every share), run as its own process (this
//! binary re-run with `--sv2-pool`), asking difficulty 1e-10 so that every hash is a valid
//! share. Against it, for 1, 16, 64 and 256 SV1 bench miners (`common/sv1.rs`):
//!
//! - **translator**: SRI's `translator_sv2` 0.6.0 (SV1 miners → one aggregated SV2 extended
//!   channel), installed on first use with
//!   `cargo install --root target/peers --version 0.6.0 translator_sv2 --locked
//!   --no-default-features` (the default `monitoring` feature pulls in miner telemetry, which
//!   probes the LAN) or taken from `HASHMUX_TRANSLATOR`; vardiff off and a tiny hashrate so the
//!   pool's target reaches the miners; `RUST_LOG=warn`.
//! - **hashmux**: this crate's binary (`HASHMUX_BIN` / `HASHMUX_RUNNER` as in the scale bench)
//!   with the pool as an SV2 upstream (`stratum2+tcp://…/key`), log level warn, miners pinned at
//!   difficulty 1e-10.
//! - **relay**: the bare one-thread TCP relay in front of an SV1 bench pool: the floor (it
//!   checks nothing and translates nothing).
//!
//! Figures per row (see `common/measure.rs`): notify (the pool's write of a new job → the last
//! miner has it) and submit (a miner's write → the pool has read it) p50/p99, CPU ms per 1,000
//! shares and shares/s at saturation, RSS and HWM, threads, binary size, and the pool's own
//! verdicts (accepted/rejected) on the row's shares; hashmux's `lost` from its `/api/stats`.
//! Latencies cross the pool process through the wall clock (same machine). Nothing is asserted:
//! the budgets (hashmux ≥ 10× less RSS and ≥ 3× less CPU per share than the translator at 64
//! miners, p99 no worse) are printed with the figures.
//!
//! Environment: `HASHMUX_BENCH_MINERS` (default "1,16,64,256"), `HASHMUX_BENCH_SECS` (3),
//! `HASHMUX_BENCH_ROUNDS` (notify rounds, 30: p99 of 30 is their maximum),
//! `HASHMUX_BENCH_SUBMITS` (submit samples, 1000), `HASHMUX_TRANSLATOR` (a translator_sv2 binary to use as is),
//! `HASHMUX_PEERS_SYSTEMS` (which of `translator,hashmux,relay` to run; default all).

// Not every shared piece is used here (the scale bench uses them all).
#[allow(dead_code)]
mod common;
#[path = "../tests/common/sv2pool.rs"]
#[allow(dead_code)]
mod sv2pool;
#[path = "../tests/common/sv2util.rs"]
#[allow(dead_code)]
mod sv2util;

use common::measure::{
    env_list, env_num, free_port, start_relay, us, Figures, PoolSide, Run, System,
};
use common::sv1::{relay_main, Miner, Sv1Pools};
use hashmux::sim::{ExternalProxy, Launch};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TRANSLATOR_VERSION: &str = "0.6.0";

// ---------------------------------------------------------------------------------------
// The pool process: `--sv2-pool`. Prints `listening <addr> <authority key>`, then
// `sent <ntime> <unix ns>` for each pushed job written, `share <nonce> <unix ns>` for each share
// read while timing is on, `timing on|off` once switched, and `stats <accepted> <rejected>` when
// they change (≤ every 10 ms).
// Reads `job <ntime>`, `timing on`, `timing off` on stdin; ends at EOF.

fn unix_ns(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn unix_secs() -> u32 {
    (unix_ns(SystemTime::now()) / 1_000_000_000) as u32
}

fn pool_main() {
    let pool = sv2pool::Sv2Pool::start(sv2pool::Sv2PoolConfig {
        target_difficulty: 1e-10,
        job_interval_ms: 0,
        ..Default::default()
    });
    let timing = Arc::new(AtomicBool::new(false));
    let t = timing.clone();
    pool.set_observer(move |e| match e {
        sv2pool::PoolEvent::JobSent { ntime, at } => println!("sent {ntime} {}", unix_ns(at)),
        sv2pool::PoolEvent::Share { nonce, at } if t.load(Ordering::Relaxed) => {
            println!("share {nonce} {}", unix_ns(at))
        }
        sv2pool::PoolEvent::Share { .. } => {}
    });
    println!(
        "listening {} {}",
        pool.addr(),
        pool.authority_pubkey_base58()
    );
    let done = Arc::new(AtomicBool::new(false));
    let stats = {
        let done = done.clone();
        let shared = Arc::new(pool);
        let p = shared.clone();
        let h = std::thread::spawn(move || {
            let mut last = (u64::MAX, u64::MAX);
            while !done.load(Ordering::SeqCst) {
                let s = p.stats();
                let now = (s.accepted, s.rejected_total());
                if now != last {
                    println!("stats {} {}", now.0, now.1);
                    last = now;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        (shared, h)
    };
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut w = line.split_whitespace();
        match (w.next(), w.next()) {
            (Some("job"), Some(n)) => {
                if let Ok(n) = n.parse() {
                    stats.0.push_job(n);
                }
            }
            (Some("timing"), Some(on)) => {
                timing.store(on == "on", Ordering::SeqCst);
                // The bench sends its timed share only after this: none goes unseen.
                println!("timing {on}");
            }
            _ => eprintln!("sv2 pool: unknown command {line:?}"),
        }
    }
    done.store(true, Ordering::SeqCst);
    let _ = stats.1.join();
}

/// The pool process as the bench sees it.
struct Sv2PoolProcess {
    child: Child,
    stdin: Mutex<ChildStdin>,
    addr: SocketAddr,
    key: String,
    received: Arc<AtomicU64>,
    accepted: Arc<AtomicU64>,
    rejected: Arc<AtomicU64>,
    jobs: Mutex<mpsc::Receiver<(u32, Instant)>>,
    arrivals: mpsc::Receiver<(u32, Instant)>,
    /// The pool's acknowledgements of `timing on|off`.
    timing_acks: Mutex<mpsc::Receiver<bool>>,
}

/// The instant a wall-clock time read in another process corresponds to.
fn instant_of(ns: u128) -> Instant {
    let (now_i, now_s) = (Instant::now(), unix_ns(SystemTime::now()));
    if ns <= now_s {
        now_i - Duration::from_nanos((now_s - ns) as u64)
    } else {
        now_i + Duration::from_nanos((ns - now_s) as u64)
    }
}

impl Sv2PoolProcess {
    fn start() -> Sv2PoolProcess {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--sv2-pool")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the pool process starts");
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first)
            .expect("the pool says where it listens");
        let mut w = first.split_whitespace().skip(1);
        let addr = w.next().and_then(|a| a.parse().ok()).expect("pool address");
        let key = w.next().expect("pool key").to_string();
        let (received, accepted, rejected) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let (jobs_tx, jobs) = mpsc::channel();
        let (arrivals_tx, arrivals) = mpsc::channel();
        let (acks_tx, timing_acks) = mpsc::channel();
        let (r, a, j) = (received.clone(), accepted.clone(), rejected.clone());
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { return };
                let f: Vec<&str> = line.split_whitespace().collect();
                let num = |i: usize| f.get(i).and_then(|v| v.parse::<u128>().ok()).unwrap_or(0);
                match f.first() {
                    Some(&"sent") => {
                        let _ = jobs_tx.send((num(1) as u32, instant_of(num(2))));
                    }
                    Some(&"share") => {
                        let _ = arrivals_tx.send((num(1) as u32, instant_of(num(2))));
                    }
                    Some(&"timing") => {
                        let _ = acks_tx.send(f.get(1) == Some(&"on"));
                    }
                    Some(&"stats") => {
                        a.store(num(1) as u64, Ordering::SeqCst);
                        j.store(num(2) as u64, Ordering::SeqCst);
                        r.store((num(1) + num(2)) as u64, Ordering::SeqCst);
                    }
                    _ => {}
                }
            }
        });
        Sv2PoolProcess {
            child,
            stdin: Mutex::new(stdin),
            addr,
            key,
            received,
            accepted,
            rejected,
            jobs: Mutex::new(jobs),
            arrivals,
            timing_acks: Mutex::new(timing_acks),
        }
    }

    fn command(&self, line: &str) {
        let mut w = self.stdin.lock().unwrap();
        let _ = writeln!(w, "{line}");
        let _ = w.flush();
    }
}

impl PoolSide for Sv2PoolProcess {
    fn new_job(&self, _job: u32, ntime: u32) -> Instant {
        let jobs = self.jobs.lock().unwrap();
        while jobs.try_recv().is_ok() {}
        self.command(&format!("job {ntime}"));
        loop {
            let (n, at) = jobs
                .recv_timeout(Duration::from_secs(10))
                .expect("the pool writes the job");
            if n == ntime {
                return at;
            }
        }
    }

    fn received(&self) -> Arc<AtomicU64> {
        self.received.clone()
    }

    /// Returns once the pool has switched (a share sent earlier could go unseen).
    fn set_timing(&self, on: bool) {
        let acks = self.timing_acks.lock().unwrap();
        while acks.try_recv().is_ok() {}
        self.command(if on { "timing on" } else { "timing off" });
        loop {
            let got = acks
                .recv_timeout(Duration::from_secs(30))
                .expect("the pool acknowledges timing");
            if got == on {
                return;
            }
        }
    }

    fn arrivals(&self) -> &mpsc::Receiver<(u32, Instant)> {
        &self.arrivals
    }

    fn verdicts(&self) -> Option<(u64, u64)> {
        Some((
            self.accepted.load(Ordering::SeqCst),
            self.rejected.load(Ordering::SeqCst),
        ))
    }
}

impl Drop for Sv2PoolProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// The systems.

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The translator binary: `HASHMUX_TRANSLATOR`, or installed under target/peers (once).
fn translator_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("HASHMUX_TRANSLATOR") {
        return Ok(PathBuf::from(p));
    }
    let root = target_dir().join("peers");
    let bin = root.join("bin").join("translator_sv2");
    if bin.exists() {
        return Ok(bin);
    }
    let args = [
        "install",
        "--root",
        &root.display().to_string(),
        "--version",
        TRANSLATOR_VERSION,
        "translator_sv2",
        "--locked",
        "--no-default-features",
    ]
    .map(String::from);
    println!("installing the translator: cargo {}", args.join(" "));
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cargo install could not run: {e}"))?;
    if out.status.success() && bin.exists() {
        Ok(bin)
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        Err(format!(
            "cargo install failed ({}):\n{}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ))
    }
}

fn wait_listening(addr: SocketAddr, child: &mut Child, what: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(Instant::now() < until, "{what} did not listen within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_translator(bin: &Path, pool: &Sv2PoolProcess, log: &Path) -> System {
    let addr = free_port();
    let cfg = format!(
        r#"downstream_address = "127.0.0.1"
downstream_port = {port}
max_supported_version = 2
min_supported_version = 2
downstream_extranonce2_size = 4
aggregate_channels = true

[downstream_difficulty_config]
min_individual_miner_hashrate = 0.01
shares_per_minute = 60.0
enable_vardiff = false
job_keepalive_interval_secs = 0

[[upstreams]]
address = "{pa}"
port = {pp}
authority_pubkey = "{key}"
user_identity = "bench"
"#,
        port = addr.port(),
        pa = pool.addr.ip(),
        pp = pool.addr.port(),
        key = pool.key
    );
    let cfg_path = log.with_extension("toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let logf = std::fs::File::create(log).unwrap();
    let mut child = Command::new(bin)
        .arg("-c")
        .arg(&cfg_path)
        .env(
            "RUST_LOG",
            std::env::var("HASHMUX_TRANSLATOR_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(logf.try_clone().unwrap())
        .stderr(logf)
        .spawn()
        .expect("translator_sv2 starts");
    wait_listening(addr, &mut child, "translator_sv2");
    System::Process(child, addr)
}

fn start_hashmux(launch: &Launch, pool: &Sv2PoolProcess) -> System {
    let url = format!("stratum2+tcp://{}/{}", pool.addr, pool.key);
    let proxy = ExternalProxy::start(
        launch,
        |s, h| {
            format!(
                "{{\"listen\":\"{s}\",\"http\":\"{h}\",\"log_level\":\"warn\",\"pools\":[{{\"name\":\"sri\",\"url\":\"{url}\",\"user\":\"bench\",\"weight\":1}}],\"miners\":{{\"max\":256,\"max_per_address\":256,\"min_difficulty\":1e-10,\"start_difficulty\":1e-10,\"max_difficulty\":1e-10}}}}"
            )
        },
        Duration::from_secs(60),
    )
    .expect("hashmux starts");
    System::Proxy(proxy)
}

fn connect_miners(sys: &System, n: usize) -> Vec<Miner> {
    (0..n)
        .map(|i| Miner::connect(sys.addr(), i).expect("miner connects and gets a job"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The table.

struct Row {
    miners: usize,
    name: &'static str,
    f: Figures,
    size: Option<u64>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--relay") {
        return relay_main(&args[i + 1], &args[i + 2..]);
    }
    if args.iter().any(|a| a == "--sv2-pool") {
        return pool_main();
    }
    let miners = env_list("HASHMUX_BENCH_MINERS", &[1, 16, 64, 256]);
    let systems = std::env::var("HASHMUX_PEERS_SYSTEMS")
        .unwrap_or_else(|_| "translator,hashmux,relay".into());
    let with = |name: &str| systems.split(',').any(|s| s.trim() == name);
    let secs = env_num("HASHMUX_BENCH_SECS", 3);
    let rounds = env_num("HASHMUX_BENCH_ROUNDS", 30) as usize;
    let launch = Launch::from_env(env!("CARGO_BIN_EXE_hashmux"));
    let hashmux_size = std::fs::metadata(&launch.bin).map_or(0, |m| m.len());
    let submits = env_num("HASHMUX_BENCH_SUBMITS", 1000) as usize;
    let translator = if with("translator") {
        translator_bin()
    } else {
        Err("left out by HASHMUX_PEERS_SYSTEMS".into())
    };
    if let (Err(e), true) = (&translator, with("translator")) {
        println!("translator_sv2 {TRANSLATOR_VERSION} cannot be installed here, its rows are left out:\n{e}\n");
    }
    let translator_size = translator
        .as_ref()
        .ok()
        .and_then(|b| std::fs::metadata(b).ok())
        .map(|m| m.len());
    let log_dir = target_dir().join("peers");
    let _ = std::fs::create_dir_all(&log_dir);
    println!(
        "hashmux peers bench: {} vs translator_sv2 {TRANSLATOR_VERSION} vs a one-thread relay; {} cores visible; {rounds} notify rounds, {submits} submits, {secs} s saturation with {} in flight per miner",
        launch.describe(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        common::measure::WINDOW,
    );
    println!("pool: SRI-based SV2 test pool (own process, difficulty 1e-10, checks every share); relay: SV1 bench pool");
    println!("latencies in µs (p50/p99); ms/1k = process CPU (utime+stime) per 1,000 shares at saturation; shares/s = received by the pool; accepted/rejected = the pool's verdicts on the row's shares; lost = hashmux's count; m-rej = shares the proxy refused to the miners (bench miners submit every nonce; hashmux's easiest target is difficulty 2^-32, so about 1 hash in 65,536 is below it); RSS = VmRSS at the end (anon = heap and stacks, file = binary and libraries), HWM = VmHWM; thr = threads; binary = the file run");
    println!();
    println!(
        "{:>6} {:<10} | {:>13} {:>13} | {:>8} {:>7} {:>5} | {:>8} {:>8} {:>4} {:>5} | {:>7} {:>7} {:>7} {:>7} {:>4} | {:>10}",
        "miners", "system", "notify", "submit", "shares/s", "ms/1k", "CPU%", "accepted", "rejected", "lost", "m-rej",
        "RSS kB", "anon", "file", "HWM kB", "thr", "binary B"
    );
    let pool = Sv2PoolProcess::start();
    let sv1_pools = Sv1Pools::start(1);
    let mut rows: Vec<Row> = Vec::new();
    let mut gone = 0;
    for &nm in &miners {
        // Round r's job carries ntime now + r + 1: never below the prevhash's min_ntime, which
        // a proxy must respect (hashmux raises a job's ntime to it).
        let sv2_measure = |sys: &System| {
            let miners = connect_miners(sys, nm);
            let run = Run {
                pools: &pool,
                rounds,
                submits,
                secs,
                ntime0: unix_secs() + 1,
            };
            run.measure_with(sys, miners, 0)
        };
        let mut measured = Vec::new();
        if let Ok(bin) = &translator {
            let log = log_dir.join(format!("translator-{nm}.log"));
            // A peer we do not control: its failure costs its row, not the run.
            let row = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let sys = start_translator(bin, &pool, &log);
                sv2_measure(&sys)
            }));
            match row {
                Ok(f) => {
                    if f.rss_kb == 0 {
                        eprintln!("translator_sv2 is gone; its log is {}", log.display());
                    }
                    measured.push(Row {
                        miners: nm,
                        name: "translator",
                        f,
                        size: translator_size,
                    });
                }
                Err(_) => println!(
                    "{nm:>6} translator | failed (see the panic above); its log: {}",
                    log.display()
                ),
            }
        }
        if with("hashmux") {
            let sys = start_hashmux(&launch, &pool);
            let f = sv2_measure(&sys);
            if let System::Proxy(p) = &sys {
                if f.rss_kb == 0 {
                    eprintln!("hashmux is gone; its log:\n{}", p.log());
                    gone += 1;
                }
            }
            measured.push(Row {
                miners: nm,
                name: "hashmux",
                f,
                size: Some(hashmux_size),
            });
        }
        if with("relay") {
            let run = Run {
                pools: &sv1_pools,
                rounds,
                submits,
                secs,
                ntime0: common::NTIME,
            };
            let sys = start_relay(&sv1_pools.addrs());
            let f = run.measure_with(&sys, connect_miners(&sys, nm), 0);
            measured.push(Row {
                miners: nm,
                name: "relay",
                f,
                size: None,
            });
        }
        for r in &measured {
            print_row(r);
        }
        rows.extend(measured);
    }
    println!();
    summary(&rows);
    if gone > 0 {
        eprintln!("hashmux exited during {gone} of the runs");
        std::process::exit(1);
    }
}

fn print_row(r: &Row) {
    let f = &r.f;
    let (acc, rej) = f
        .pool_verdicts
        .map_or(("-".to_string(), "-".to_string()), |v| {
            (v.0.to_string(), v.1.to_string())
        });
    println!(
        "{:>6} {:<10} | {:>6}/{:<6} {:>6}/{:<6} | {:>8.0} {:>7.1} {:>4.0}% | {:>8} {:>8} {:>4} {:>5} | {:>7} {:>7} {:>7} {:>7} {:>4} | {:>10}",
        r.miners,
        r.name,
        us(f.notify.0),
        us(f.notify.1),
        us(f.submit.0),
        us(f.submit.1),
        f.shares_per_s,
        f.cpu_ms_per_1k,
        f.cpu_share * 100.0,
        acc,
        rej,
        f.validated.map_or("-".into(), |v| v.1.to_string()),
        f.rejected,
        f.rss_kb,
        f.rss_anon_kb,
        f.rss_file_kb,
        f.hwm_kb,
        f.threads,
        r.size.map_or("-".into(), |s| s.to_string()),
    );
    if let Some((now, peak)) = f.heap {
        println!(
            "       {} heap by its own count: {} KiB live, {} KiB peak",
            r.name,
            now / 1024,
            peak / 1024
        );
    }
    if let Some(code) = &f.refusal {
        println!(
            "       {} refused {} shares to the miners; the last: {code}",
            r.name, f.rejected
        );
    }
}

/// Ratios hashmux / translator per row, and the budgets at 64 miners.
fn summary(rows: &[Row]) {
    let find = |m: usize, name: &str| rows.iter().find(|r| r.miners == m && r.name == name);
    let mut counts: Vec<usize> = rows.iter().map(|r| r.miners).collect();
    counts.dedup();
    for m in counts {
        let (Some(h), Some(t)) = (find(m, "hashmux"), find(m, "translator")) else {
            continue;
        };
        let (h, t) = (&h.f, &t.f);
        let q = |a: f64, b: f64| a / b.max(1e-9);
        let d = |a: Duration, b: Duration| q(a.as_secs_f64(), b.as_secs_f64());
        // CPU time comes in 10 ms ticks: a short, slow row may show none at all.
        let cpu = if h.cpu_ms_per_1k > 0.0 && t.cpu_ms_per_1k > 0.0 {
            format!(
                "×{:.2} (translator {:.1}× more)",
                q(h.cpu_ms_per_1k, t.cpu_ms_per_1k),
                q(t.cpu_ms_per_1k, h.cpu_ms_per_1k)
            )
        } else {
            "not measured (under one 10 ms tick)".to_string()
        };
        println!(
            "{m:>4} miners, hashmux / translator: RSS ×{:.3} (translator {:.1}× more; private memory {:.1}× more), CPU per share {cpu}, notify p99 ×{:.2}, submit p99 ×{:.2}, shares/s ×{:.2}",
            q(h.rss_kb as f64, t.rss_kb as f64),
            q(t.rss_kb as f64, h.rss_kb as f64),
            q(t.rss_anon_kb as f64, h.rss_anon_kb as f64),
            d(h.notify.1, t.notify.1),
            d(h.submit.1, t.submit.1),
            q(h.shares_per_s, t.shares_per_s),
        );
        if m == 64 {
            let ok = |b: bool| if b { "met" } else { "MISSED" };
            println!(
                "budget at 64 miners: RSS ≥ 10× less: {}; CPU per share ≥ 3× less: {}; notify p99 no worse: {}; submit p99 no worse: {}",
                ok(t.rss_kb >= 10 * h.rss_kb),
                ok(t.cpu_ms_per_1k >= 3.0 * h.cpu_ms_per_1k),
                ok(h.notify.1 <= t.notify.1),
                ok(h.submit.1 <= t.submit.1),
            );
        }
    }
}
