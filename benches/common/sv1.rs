//! SV1 pieces shared by the benches: bench pools (any number of connections, each answered by
//! its own thread, every share answered `true` without a check), the SV1 bench miner, the
//! [`BenchMiner`] interface the measurements drive, and the bare relay (the floor).
//!
//! Bench miners scan lines without a JSON parser past the handshake (the same cost for every
//! system measured); they submit extranonce2 0 and the nonce they are given on the current job,
//! under the user they authorized as, and count the shares the proxy refuses.

use super::measure::PoolSide;
use super::{notify_line, NTIME};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

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

pub struct BenchPool {
    pub addr: SocketAddr,
    shared: Arc<PoolShared>,
}

impl BenchPool {
    pub fn start(
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
    pub fn broadcast(&self, job: u32, ntime: u32) {
        let line = notify_line(job, ntime, false);
        for c in self.shared.conns.lock().unwrap().iter_mut() {
            let _ = c.write_all(line.as_bytes());
        }
    }

    pub fn connections(&self) -> usize {
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

/// Bench pools sharing one share counter and one arrival channel: what a run drives.
pub struct Sv1Pools {
    pub pools: Vec<BenchPool>,
    received: Arc<AtomicU64>,
    timing: Arc<AtomicBool>,
    arrivals: mpsc::Receiver<(u32, Instant)>,
}

impl Sv1Pools {
    /// Start `n` bench pools on loopback.
    pub fn start(n: usize) -> Sv1Pools {
        let received = Arc::new(AtomicU64::new(0));
        let timing = Arc::new(AtomicBool::new(false));
        let (tx, arrivals) = mpsc::channel();
        let pools = (0..n)
            .map(|_| BenchPool::start(received.clone(), timing.clone(), tx.clone()))
            .collect();
        Sv1Pools {
            pools,
            received,
            timing,
            arrivals,
        }
    }

    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.pools.iter().map(|p| p.addr).collect()
    }
}

impl PoolSide for Sv1Pools {
    fn new_job(&self, job: u32, ntime: u32) -> Instant {
        let t0 = Instant::now();
        for p in &self.pools {
            p.broadcast(job, ntime);
        }
        t0
    }

    fn received(&self) -> Arc<AtomicU64> {
        self.received.clone()
    }

    fn set_timing(&self, on: bool) {
        self.timing.store(on, Ordering::SeqCst);
    }

    fn arrivals(&self) -> &mpsc::Receiver<(u32, Instant)> {
        &self.arrivals
    }
}

// ---------------------------------------------------------------------------------------
// Miners: what the measurements need of an SV1 or SV2 miner.

pub trait BenchMiner: Send + 'static {
    /// Read until the job carrying `ntime` has arrived.
    fn await_job(&mut self, ntime: u32) -> std::io::Result<()>;
    /// Append one share with `nonce` on the current job to `out`.
    fn push_submit(&mut self, nonce: u32, out: &mut Vec<u8>);
    /// Write `bytes` (submits) to the proxy.
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Read until `n` shares have been answered (notifications skipped).
    fn await_answers(&mut self, n: usize) -> std::io::Result<()>;
    /// Shares the proxy refused, and the last refusal.
    fn rejected(&self) -> (u64, Option<String>) {
        (0, None)
    }
}

// ---------------------------------------------------------------------------------------
// SV1 miners: blocking sockets, lines scanned without a JSON parser (the same cost either way).

pub struct Miner {
    w: TcpStream,
    r: BufReader<TcpStream>,
    e2_size: usize,
    job: String,
    ntime: u32,
    next_id: u64,
    line: String,
    user: String,
    /// Answers that refused a share, and the last one's line.
    refused: u64,
    last_refusal: Option<String>,
}

impl Miner {
    pub fn connect(addr: SocketAddr, i: usize) -> std::io::Result<Miner> {
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
            user: format!("rig{i}"),
            refused: 0,
            last_refusal: None,
        };
        write!(m.w, "{{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"bench/{i}\"]}}\n{{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"{}\",\"x\"]}}\n", m.user)?;
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
    /// (Parsed as JSON: the merkle branch count varies by pool; notifies are rare next to
    /// answers, which are scanned.)
    fn take_notify(&mut self) -> Option<u32> {
        if !self.line.contains("\"mining.notify\"") {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&self.line).ok()?;
        let p = v["params"].as_array()?;
        self.job = p.first()?.as_str()?.to_string();
        self.ntime = u32::from_str_radix(p.get(7)?.as_str()?, 16).ok()?;
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
            "{{\"id\":{},\"method\":\"mining.submit\",\"params\":[\"{}\",\"{}\",\"{:0w$x}\",\"{:08x}\",\"{nonce:08x}\"]}}",
            self.next_id,
            self.user,
            self.job,
            0,
            self.ntime,
            w = self.e2_size * 2
        );
        self.next_id += 1;
    }

    /// Read until `n` answers to requests have arrived (notifications skipped); a refusal
    /// (`"result":false` or a non-null `"error"`) is counted.
    fn await_answers(&mut self, mut n: usize) -> std::io::Result<()> {
        while n > 0 {
            self.read()?;
            if self.line.contains("\"result\"") {
                n -= 1;
                let l = self.line.replace(' ', "");
                if l.contains("\"result\":false")
                    || (l.contains("\"error\":") && !l.contains("\"error\":null"))
                {
                    self.refused += 1;
                    self.last_refusal = Some(self.line.trim().to_string());
                }
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

    fn rejected(&self) -> (u64, Option<String>) {
        (self.refused, self.last_refusal.clone())
    }
}

// ---------------------------------------------------------------------------------------
// The relay (the floor): this binary with `--relay <listen> <pool>...`.

pub fn relay_main(listen: &str, pools: &[String]) {
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
