//! The measurements the benches share: a system under test as a process ([`System`]), the
//! pools it works for as seen by the bench ([`PoolSide`]), and one row's figures ([`Run`]):
//!
//! - notify: the pools write a new job to each of their connections; the time from the write
//!   until the last miner has read it (p50/p99 over the rounds);
//! - submit: one miner sends a share; the time until a pool has read it (p50/p99);
//! - saturation: every miner keeps `WINDOW` submits in flight for `secs`; shares the pools
//!   received per second, the process's CPU time (utime + stime) per 1,000 shares;
//! - resident memory (VmRSS at the end, VmHWM) and threads of the process.
//!
//! Timings are samples taken in this run; nothing is asserted.

use super::sv1::BenchMiner;
use hashmux::sim::ExternalProxy;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Submits each miner keeps in flight at saturation.
pub const WINDOW: usize = 8;
/// Threads that drive the miners at saturation.
const LOAD_THREADS: usize = 2;
/// Most shares on their way to the pools at saturation (hashmux holds miners back past 256
/// awaiting a pool's answers).
const MAX_BACKLOG: u64 = 256;
/// Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks.
const TICKS_PER_SEC: u64 = 100;

pub fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The pools of a run as the bench drives and observes them.
pub trait PoolSide {
    /// Write job `job` carrying `ntime` to every connection; the instant the write began.
    fn new_job(&self, job: u32, ntime: u32) -> Instant;
    /// Shares the pools have read so far (kept current while the run goes on).
    fn received(&self) -> Arc<AtomicU64>;
    /// While on, every share's nonce and arrival instant go to [`PoolSide::arrivals`].
    fn set_timing(&self, on: bool);
    fn arrivals(&self) -> &mpsc::Receiver<(u32, Instant)>;
    /// Shares accepted and rejected so far, for pools that check shares.
    fn verdicts(&self) -> Option<(u64, u64)> {
        None
    }
}

// ---------------------------------------------------------------------------------------
// One measured system, as a process: hashmux, or another proxy (the relay, a peer).

pub enum System {
    /// hashmux.
    Proxy(ExternalProxy),
    /// Any other proxy: killed on drop.
    Process(Child, SocketAddr),
}

impl System {
    pub fn addr(&self) -> SocketAddr {
        match self {
            System::Proxy(p) => p.stratum,
            System::Process(_, a) => *a,
        }
    }

    pub fn pid(&self) -> u32 {
        match self {
            System::Proxy(p) => p.pid(),
            System::Process(c, _) => c.id(),
        }
    }

    /// utime + stime in ticks.
    pub fn cpu_ticks(&self) -> u64 {
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

    /// A number from /proc/<pid>/status (kB for the memory lines).
    pub fn status_num(&self, key: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    }

    /// hashmux's own counts: shares it validated (at or above the miner's target) and
    /// shares counted lost on the way to the pools.
    pub fn validated(&self) -> Option<(u64, u64)> {
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

    /// hashmux's live heap bytes and their peak, by its counting allocator (`/api/stats`).
    pub fn heap(&self) -> Option<(u64, u64)> {
        let System::Proxy(p) = self else { return None };
        let (_, body) = p.http_get("/api/stats").ok()?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        Some((v["heap_bytes"].as_u64()?, v["heap_peak_bytes"].as_u64()?))
    }
}

impl Drop for System {
    fn drop(&mut self) {
        if let System::Process(c, _) = self {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// hashmux on `pools`; with `sv2_key` (its authority key file) also listening for SV2 miners.
/// The relay (this binary re-run with `--relay`) in front of `pools`.
pub fn start_relay(pools: &[SocketAddr]) -> System {
    let addr = free_port();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg("--relay").arg(addr.to_string());
    for p in pools {
        cmd.arg(p.to_string());
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
    System::Process(child, addr)
}

// ---------------------------------------------------------------------------------------
// Measurements.

#[derive(Default, Clone)]
pub struct Figures {
    pub notify: (Duration, Duration),
    pub submit: (Duration, Duration),
    pub shares_per_s: f64,
    pub cpu_ms_per_1k: f64,
    pub cpu_share: f64,
    pub rss_kb: u64,
    pub hwm_kb: u64,
    pub validated: Option<(u64, u64)>,
    /// Shares the miners saw refused, and the last refusal.
    pub rejected: u64,
    pub refusal: Option<String>,
    /// Threads of the process at the end.
    pub threads: u64,
    /// VmRSS split: private memory (heap, stacks) and file pages (binary, libraries).
    pub rss_anon_kb: u64,
    pub rss_file_kb: u64,
    /// hashmux's heap (live, peak) in bytes, by its own count.
    pub heap: Option<(u64, u64)>,
    /// The pools' verdicts on the shares of this row (accepted, rejected), where the pools
    /// check shares; read once the pools have stopped receiving.
    pub pool_verdicts: Option<(u64, u64)>,
}

pub fn pct(v: &mut [Duration], p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

/// One row's measurement plan.
pub struct Run<'a> {
    pub pools: &'a dyn PoolSide,
    /// Notify rounds.
    pub rounds: usize,
    /// Submit samples.
    pub submits: usize,
    /// Saturation seconds.
    pub secs: u64,
    /// Round r of a run numbered from `round0` carries ntime `ntime0 + round0 + r + 1`.
    pub ntime0: u32,
}

impl Run<'_> {
    pub fn measure_with<M: BenchMiner>(
        &self,
        sys: &System,
        mut miners: Vec<M>,
        round0: u32,
    ) -> Figures {
        let n_miners = miners.len();
        let mut f = Figures::default();
        let verdicts0 = self.pools.verdicts();
        let received = self.pools.received();

        // Notify: every pool sends round r's job; the last miner to have it ends the sample.
        let mut lat = Vec::with_capacity(self.rounds);
        for r in 0..self.rounds as u32 {
            // Rounds as a pool sends jobs, not faster than hashmux passes them on: a miner
            // gets at most one notify per MIN_NOTIFY_GAP_MS (a flood is coalesced to the
            // latest job), so back-to-back rounds would measure the coalescing, not the path.
            std::thread::sleep(Duration::from_millis(hashmux::core::MIN_NOTIFY_GAP_MS + 50));
            let ntime = self.ntime0 + round0 + r + 1;
            let t0 = self.pools.new_job(round0 + r + 2, ntime);
            for m in miners.iter_mut() {
                m.await_job(ntime).expect("job reaches the miner");
            }
            lat.push(t0.elapsed());
        }
        f.notify = (pct(&mut lat, 50), pct(&mut lat, 99));

        // Submit: one at a time, miners in turn; until a pool has read it.
        let arrivals = self.pools.arrivals();
        while arrivals.try_recv().is_ok() {}
        self.pools.set_timing(true);
        let mut lat = Vec::with_capacity(self.submits);
        let mut line = Vec::new();
        for k in 0..self.submits {
            let m = &mut miners[k % n_miners];
            let nonce = 0x4000_0000 + k as u32;
            line.clear();
            m.push_submit(nonce, &mut line);
            let t0 = Instant::now();
            m.send(&line).unwrap();
            loop {
                let (got, t) = arrivals
                    .recv_timeout(Duration::from_secs(30))
                    .expect("share reaches a pool");
                if got == nonce {
                    lat.push(t.saturating_duration_since(t0));
                    break;
                }
            }
            m.await_answers(1).expect("answer");
        }
        self.pools.set_timing(false);
        f.submit = (pct(&mut lat, 50), pct(&mut lat, 99));

        // Saturation: LOAD_THREADS threads share the miners; each miner keeps WINDOW submits
        // in flight. A proxy answers a miner once it has validated the share, before the pool
        // has it, so the load also stops while more than MAX_BACKLOG shares are on their way
        // to the pools: the figure is the proxy's rate, not a pool falling behind.
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(received.load(Ordering::SeqCst)));
        let mut groups: Vec<Vec<(usize, M)>> = (0..LOAD_THREADS).map(|_| Vec::new()).collect();
        for (i, m) in miners.into_iter().enumerate() {
            groups[i % LOAD_THREADS].push((i, m));
        }
        let threads: Vec<_> = groups
            .into_iter()
            .map(|mut group| {
                let (stop, sent, received) = (stop.clone(), sent.clone(), received.clone());
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
            received.load(Ordering::SeqCst),
            Instant::now(),
        );
        std::thread::sleep(Duration::from_secs(self.secs));
        let (c1, n1, wall) = (
            sys.cpu_ticks(),
            received.load(Ordering::SeqCst),
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
        f.rss_kb = sys.status_num("VmRSS");
        f.hwm_kb = sys.status_num("VmHWM");
        f.threads = sys.status_num("Threads:");
        f.rss_anon_kb = sys.status_num("RssAnon:");
        f.rss_file_kb = sys.status_num("RssFile:");
        // The pools' verdicts once the shares on their way have arrived (≤ 5 s of quiet).
        if verdicts0.is_some() {
            let until = Instant::now() + Duration::from_secs(5);
            let mut last = received.load(Ordering::SeqCst);
            while Instant::now() < until {
                std::thread::sleep(Duration::from_millis(200));
                let now = received.load(Ordering::SeqCst);
                if now == last {
                    break;
                }
                last = now;
            }
        }
        f.validated = sys.validated();
        f.heap = sys.heap();
        if let (Some(a), Some(b)) = (verdicts0, self.pools.verdicts()) {
            f.pool_verdicts = Some((b.0 - a.0, b.1 - a.1));
        }
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

pub fn us(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}
