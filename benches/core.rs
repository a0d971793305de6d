//! `cargo bench --bench core`: figures for the core proxy.
//!
//! - shares validated per second on one core (the share-hash path, in process);
//! - pool `mining.notify` → last of 64 miners has the job (proxy as a child process);
//! - miner `mining.submit` → the pool has the share;
//! - peak RSS of the proxy process with 64 miners and 2 pools.
//!
//! Pools and miners here are minimal blocking-socket peers on 127.0.0.1 written for the
//! bench. Every figure is a median (and p99) over repeated samples; nothing is asserted.

use hashmux::stratum::msg::{envelope, PoolMessage};
use hashmux::work::job::{Job, JobOrigin, ShareInput};
use hashmux::work::Difficulty;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MINERS: usize = 64;
const NOTIFY_ROUNDS: usize = 200;
const SUBMITS: usize = 2000;

fn main() {
    println!(
        "hashmux core bench ({} cores visible)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    validation_rate();
    proxy_figures();
}

fn notify_line(job: u64, clean: bool) -> String {
    format!(
        "{{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"{job:x}\",\"{}\",\"{}\",\"{}\",[\"{}\",\"{}\"],\"20000000\",\"1d00ffff\",\"6560f0a0\",{clean}]}}\n",
        "11".repeat(32),
        "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20",
        "ffffffff0100f2052a010000001976a914".to_string() + &"ab".repeat(20) + "88ac00000000",
        "22".repeat(32),
        "33".repeat(32)
    )
}

/// Shares per second through the validation path: coinbase, merkle, header, sha256d, target.
fn validation_rate() {
    let line = notify_line(1, true);
    let env = envelope(line.trim_end().as_bytes()).unwrap();
    let PoolMessage::Notify(n) = PoolMessage::parse(&env).unwrap() else {
        unreachable!()
    };
    let origin = JobOrigin {
        pool: 0,
        conn_gen: 1,
        epoch: 1,
        extranonce1: heapless::Vec::from_slice(&[1, 2, 3, 4]).unwrap(),
        extranonce2_size: 8,
        difficulty: Difficulty::ONE,
    };
    let job = Job::from_notify(&n, origin).unwrap();
    let target = Difficulty::ONE.target();
    let mut rates = Vec::new();
    for _ in 0..7 {
        let n = 200_000u32;
        let t = Instant::now();
        let mut met = 0u32;
        for nonce in 0..n {
            let e2 = (nonce / 1000).to_le_bytes();
            let h = job.share_hash(&ShareInput {
                tag: &[0, 1],
                miner_extranonce2: &e2,
                ntime: 0x6560f0a0,
                nonce,
                version: 0x2000_0000,
            });
            met += target.is_met_by(&h) as u32;
        }
        std::hint::black_box(met);
        rates.push((n as f64 / t.elapsed().as_secs_f64()) as u64);
    }
    rates.sort();
    println!(
        "share validation, one core: median {} shares/s (min {}, max {})",
        rates[3], rates[0], rates[6]
    );
}

/// A bench pool: answers the handshake, sends jobs on request, timestamps submits.
struct BenchPool {
    addr: std::net::SocketAddr,
    jobs: mpsc::Sender<(u64, mpsc::Sender<Instant>)>,
    submits: mpsc::Receiver<(u64, Instant)>,
}

fn bench_pool(e2_size: usize) -> BenchPool {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (jtx, jrx) = mpsc::channel::<(u64, mpsc::Sender<Instant>)>();
    let (stx, srx) = mpsc::channel();
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut w = s.try_clone().unwrap();
        let r = BufReader::new(s);
        let mut w2 = w.try_clone().unwrap();
        std::thread::spawn(move || {
            for line in r.lines() {
                let Ok(line) = line else { return };
                let t = Instant::now();
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                let id = v["id"].as_u64().unwrap_or(0);
                let reply = match v["method"].as_str() {
                    Some("mining.configure") => format!("{{\"id\":{id},\"result\":{{\"version-rolling\":true,\"version-rolling.mask\":\"1fffe000\"}},\"error\":null}}\n"),
                    Some("mining.subscribe") => format!("{{\"id\":{id},\"result\":[[],\"0a0b0c0d\",{e2_size}],\"error\":null}}\n"),
                    Some("mining.authorize") => {
                        format!("{{\"id\":{id},\"result\":true,\"error\":null}}\n{{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[1e-10]}}\n{}", notify_line(1, true))
                    }
                    Some("mining.submit") => {
                        let nonce = u64::from_str_radix(v["params"][4].as_str().unwrap(), 16).unwrap();
                        let _ = stx.send((nonce, t));
                        format!("{{\"id\":{id},\"result\":true,\"error\":null}}\n")
                    }
                    _ => continue,
                };
                if w2.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
        });
        for (job, sent) in jrx {
            let line = notify_line(job, false);
            let _ = sent.send(Instant::now());
            if w.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    BenchPool {
        addr,
        jobs: jtx,
        submits: srx,
    }
}

struct Miner {
    w: TcpStream,
    r: BufReader<TcpStream>,
    e2_size: usize,
    /// Id of the last job received.
    last_job: String,
}

impl Miner {
    fn connect(addr: std::net::SocketAddr) -> Miner {
        let s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut m = Miner {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
            e2_size: 0,
            last_job: String::new(),
        };
        m.w.write_all(b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"bench\"]}\n{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"b\",\"x\"]}\n").unwrap();
        loop {
            let v = m.line();
            if v["id"] == 1 {
                m.e2_size = v["result"][2].as_u64().unwrap() as usize;
            }
            if v["method"] == "mining.notify" {
                m.last_job = v["params"][0].as_str().unwrap().to_string();
                return m;
            }
        }
    }

    fn line(&mut self) -> serde_json::Value {
        let mut s = String::new();
        self.r.read_line(&mut s).expect("line from proxy");
        serde_json::from_str(&s).expect("json from proxy")
    }

    /// Read until a notify arrives; returns its job id.
    fn notify(&mut self) -> String {
        loop {
            let v = self.line();
            if v["method"] == "mining.notify" {
                self.last_job = v["params"][0].as_str().unwrap().to_string();
                return self.last_job.clone();
            }
        }
    }
}

/// Kills the proxy child process when dropped (also on panic).
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_proxy(
    pools: &[std::net::SocketAddr],
) -> (Reaper, std::net::SocketAddr, std::path::PathBuf) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let list: Vec<String> = pools
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{{\"name\":\"p{i}\",\"url\":\"stratum+tcp://{a}\",\"user\":\"u\",\"priority\":{i}}}"))
        .collect();
    let cfg = format!(
        "{{\"listen\":\"127.0.0.1:{port}\",\"http\":\"\",\"pools\":[{}],\"miners\":{{\"max\":256,\"max_per_address\":256,\"min_difficulty\":1e-10,\"start_difficulty\":1e-10,\"max_difficulty\":1}}}}",
        list.join(",")
    );
    let path = std::env::temp_dir().join(format!("hashmux-bench-{}.json", std::process::id()));
    std::fs::write(&path, cfg).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_hashmux"))
        .args(["--config", path.to_str().unwrap(), "--log-level", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start hashmux");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..100 {
        if TcpStream::connect(addr).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (Reaper(child), addr, path)
}

fn pct(v: &mut [Duration], p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn proxy_figures() {
    let pools = [bench_pool(8), bench_pool(8)];
    let (child, addr, path) = spawn_proxy(&pools.iter().map(|p| p.addr).collect::<Vec<_>>());
    std::thread::sleep(Duration::from_millis(500));
    let mut miners: Vec<Miner> = (0..MINERS).map(|_| Miner::connect(addr)).collect();
    // The proxy connected the bench pools with priorities 0 and 1: every miner is on pool 0.
    let mut lat = Vec::new();
    for round in 0..NOTIFY_ROUNDS {
        let (tx, rx) = mpsc::channel();
        pools[0].jobs.send((round as u64 + 2, tx)).unwrap();
        let sent = rx.recv().unwrap();
        for m in miners.iter_mut() {
            m.notify();
        }
        lat.push(sent.elapsed());
        std::thread::sleep(Duration::from_millis(5));
    }
    let (p50, p99) = (pct(&mut lat, 50), pct(&mut lat, 99));
    println!(
        "notify → last of {MINERS} miners: p50 {:?}, p99 {:?} ({NOTIFY_ROUNDS} rounds)",
        p50, p99
    );

    let m = &mut miners[0];
    let job = m.last_job.clone();
    let mut lat = Vec::new();
    for i in 0..SUBMITS {
        let line = format!(
            "{{\"id\":{},\"method\":\"mining.submit\",\"params\":[\"b\",\"{job}\",\"{:0w$x}\",\"6560f0a0\",\"{:08x}\"]}}\n",
            i + 10,
            i / 50000,
            i,
            w = m.e2_size * 2
        );
        let t = Instant::now();
        m.w.write_all(line.as_bytes()).unwrap();
        let (nonce, got) = pools[0]
            .submits
            .recv_timeout(Duration::from_secs(5))
            .expect("share reached the pool");
        assert_eq!(nonce, i as u64);
        lat.push(got.duration_since(t));
    }
    let (p50, p99) = (pct(&mut lat, 50), pct(&mut lat, 99));
    println!(
        "submit → pool: p50 {:?}, p99 {:?} ({SUBMITS} shares)",
        p50, p99
    );

    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.0.id())).unwrap_or_default();
    for key in ["VmHWM", "VmRSS"] {
        if let Some(l) = status.lines().find(|l| l.starts_with(key)) {
            println!(
                "proxy {key} with {MINERS} miners and 2 pools: {}",
                l.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")
            );
        }
    }
    drop(child);
    let _ = std::fs::remove_file(path);
}
