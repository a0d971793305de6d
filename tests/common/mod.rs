//! Shared test support: a scripted raw-TCP miner with its own share search (independent of
//! both hashmux's validator and the simulator), config builders, and bounded waits.
#![allow(dead_code)]

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Poll `f` every 50 ms until it returns Some, for at most `secs` seconds.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    // A bound, not a budget: the condition is polled until it holds. The bound is sized for a
    // machine at load 10 on 2 cores (5× slower than a quiet one), never below 2 minutes, so
    // a busy laptop waits longer instead of failing.
    let secs = (secs * 5).max(120);
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < until,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Validated work of the first two pools over a window of at least `secs` seconds that also
/// holds at least `shares` validated shares: on a slow machine the window grows, so the figure
/// rests on as many shares as on a quiet one.
pub fn split_over(proxy: &hashmux::runtime::Handle, secs: u64, shares: u64) -> (u128, u128) {
    let work = |s: &hashmux::stats::Snapshot| {
        (
            s.pools[0].shares.work_valid,
            s.pools[1].shares.work_valid,
            s.pools[0].shares.valid + s.pools[1].shares.valid,
        )
    };
    let start = work(&proxy.snapshot().unwrap());
    let t0 = Instant::now();
    let end = wait_for(secs * 10, "a window long enough for the split", || {
        let now = work(&proxy.snapshot()?);
        (t0.elapsed() >= Duration::from_secs(secs) && now.2 - start.2 >= shares).then_some(now)
    });
    (end.0 - start.0, end.1 - start.1)
}

/// A proxy config for these pools: (name, address, priority).
pub fn config(
    pools: &[(&str, SocketAddr, u32)],
    miners_max: usize,
) -> hashmux::ops::config::Config {
    let pools: Vec<(&str, String, u32)> = pools
        .iter()
        .map(|(n, a, p)| (*n, a.to_string(), *p))
        .collect();
    config_with(&pools, miners_max, 10)
}

/// Like [`config`], with pool addresses as text (host names allowed) and a job timeout.
pub fn config_with(
    pools: &[(&str, String, u32)],
    miners_max: usize,
    job_timeout_secs: u32,
) -> hashmux::ops::config::Config {
    // The preferred pool (lowest priority) carries the weight; the others are failover-only.
    let best = pools.iter().map(|p| p.2).min().unwrap_or(0);
    let pools: Vec<String> = pools
        .iter()
        .map(|(n, a, p)| format!(r#"{{"name":"{n}","url":"stratum+tcp://{a}","user":"acct.{n}","password":"secret-{n}","weight":{},"priority":{p}}}"#, u32::from(*p == best)))
        .collect();
    let json = format!(
        r#"{{"listen":"127.0.0.1:0","http":"127.0.0.1:0","pools":[{}],
            "miners":{{"max":{miners_max},"shares_per_min":60,"min_difficulty":0.000001,"start_difficulty":0.00002,"max_difficulty":1}},
            "failover":{{"job_timeout_secs":{job_timeout_secs},"backoff_min_ms":200,"backoff_max_ms":1000}}}}"#,
        pools.join(",")
    );
    hashmux::ops::config::parse(json.as_bytes()).expect("test config parses")
}

fn sha256d(data: &[u8]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(data)).into()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A job as a miner sees it.
#[derive(Clone, Debug)]
pub struct MinerJob {
    pub id: String,
    pub prevhash: String,
    pub coinb1: String,
    pub coinb2: String,
    pub branches: Vec<String>,
    pub version: u32,
    pub nbits: u32,
    pub ntime: u32,
    pub clean: bool,
    /// Difficulty in force when the job arrived.
    pub difficulty: f64,
}

/// A found share: (extranonce2 hex, ntime hex, nonce hex).
pub type Share = (String, String, String);

impl MinerJob {
    fn merkle_root(&self, e1: &str, e2: &str) -> [u8; 32] {
        let cb = unhex(&format!("{}{}{}{}", self.coinb1, e1, e2, self.coinb2));
        let mut root = sha256d(&cb);
        for b in &self.branches {
            let mut x = root.to_vec();
            x.extend(unhex(b));
            root = sha256d(&x);
        }
        root
    }

    fn header_hash(&self, root: &[u8; 32], nonce: u32) -> [u8; 32] {
        let mut h = Vec::with_capacity(80);
        h.extend(self.version.to_le_bytes());
        for w in unhex(&self.prevhash).chunks(4) {
            h.extend(w.iter().rev());
        }
        h.extend(root);
        h.extend(self.ntime.to_le_bytes());
        h.extend(self.nbits.to_le_bytes());
        h.extend(nonce.to_le_bytes());
        sha256d(&h)
    }

    /// Difficulty a hash meets, as f64 (test-side approximation).
    fn hash_difficulty(hash: &[u8; 32]) -> f64 {
        let mut v = 0f64;
        for b in hash.iter().rev() {
            v = v * 256.0 + *b as f64;
        }
        (0xFFFFu64 as f64) * 2f64.powi(208) / v.max(1.0)
    }

    /// Search nonces from `start` for a share at `min_diff` or more (and, if `max_diff` is
    /// given, below it). Bounded to 20 M hashes.
    pub fn find(
        &self,
        e1: &str,
        e2: &str,
        start: u32,
        min_diff: f64,
        max_diff: Option<f64>,
    ) -> Option<(u32, f64)> {
        let root = self.merkle_root(e1, e2);
        for nonce in start..start.saturating_add(20_000_000) {
            let d = Self::hash_difficulty(&self.header_hash(&root, nonce));
            if d >= min_diff && max_diff.is_none_or(|m| d < m) {
                return Some((nonce, d));
            }
        }
        None
    }
}

/// A scripted miner on a blocking socket.
pub struct RawMiner {
    w: TcpStream,
    r: BufReader<TcpStream>,
    next_id: u64,
    pub extranonce1: String,
    pub extranonce2_size: usize,
    pub difficulty: f64,
    pub jobs: Vec<MinerJob>,
    pub log: Vec<Value>,
}

impl RawMiner {
    pub fn connect(addr: SocketAddr) -> RawMiner {
        let s = TcpStream::connect(addr).expect("connect to proxy");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        RawMiner {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
            next_id: 1,
            extranonce1: String::new(),
            extranonce2_size: 0,
            difficulty: 1.0,
            jobs: Vec::new(),
            log: Vec::new(),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.write_all(bytes)
    }

    /// Send a request; returns its id.
    pub fn request(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        self.w.write_all(line.as_bytes()).expect("send");
        id
    }

    /// Next line as JSON; None on EOF/timeout/error. Tracks difficulty and jobs.
    pub fn recv(&mut self) -> Option<Value> {
        let mut line = String::new();
        match self.r.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("proxy sent bad JSON {line:?}: {e}"));
                match v["method"].as_str() {
                    Some("mining.set_difficulty") => {
                        self.difficulty = v["params"][0].as_f64().unwrap()
                    }
                    Some("mining.notify") => {
                        let p = &v["params"];
                        let hex =
                            |i: usize| u32::from_str_radix(p[i].as_str().unwrap(), 16).unwrap();
                        self.jobs.push(MinerJob {
                            id: p[0].as_str().unwrap().into(),
                            prevhash: p[1].as_str().unwrap().into(),
                            coinb1: p[2].as_str().unwrap().into(),
                            coinb2: p[3].as_str().unwrap().into(),
                            branches: p[4]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|b| b.as_str().unwrap().to_string())
                                .collect(),
                            version: hex(5),
                            nbits: hex(6),
                            ntime: hex(7),
                            clean: p[8].as_bool().unwrap(),
                            difficulty: self.difficulty,
                        });
                    }
                    _ => {}
                }
                self.log.push(v.clone());
                Some(v)
            }
        }
    }

    /// Read until the response to `id` arrives (bounded by the read timeout).
    pub fn response(&mut self, id: u64) -> Value {
        loop {
            let v = self
                .recv()
                .unwrap_or_else(|| panic!("no response to request {id}"));
            if v["id"] == json!(id) {
                return v;
            }
        }
    }

    /// subscribe + authorize as cgminer does; fills extranonce fields.
    pub fn handshake(&mut self, user: &str) {
        let id = self.request("mining.subscribe", json!(["cgminer/4.11.1"]));
        let r = self.response(id);
        self.extranonce1 = r["result"][1].as_str().unwrap().into();
        self.extranonce2_size = r["result"][2].as_u64().unwrap() as usize;
        let id = self.request("mining.authorize", json!([user, "x"]));
        assert_eq!(self.response(id)["result"], json!(true));
    }

    /// Wait for the next notify.
    pub fn next_job(&mut self) -> MinerJob {
        let n = self.jobs.len();
        while self.jobs.len() == n {
            self.recv().expect("a job from the proxy");
        }
        self.jobs.last().unwrap().clone()
    }

    /// Find and submit a share for `job` meeting its difficulty; returns (request id, share).
    pub fn submit_found(&mut self, job: &MinerJob, e2_counter: u32) -> (u64, Share) {
        let e2 = format!("{:0width$x}", e2_counter, width = self.extranonce2_size * 2);
        let (nonce, _) = job
            .find(&self.extranonce1, &e2, 0, job.difficulty, None)
            .expect("share found");
        let share = (e2, format!("{:08x}", job.ntime), format!("{nonce:08x}"));
        let id = self.submit(&job.id, &share);
        (id, share)
    }

    pub fn submit(&mut self, job_id: &str, s: &Share) -> u64 {
        self.request("mining.submit", json!(["w", job_id, s.0, s.1, s.2]))
    }
}

impl RawMiner {
    /// The latest job received, or wait for one.
    pub fn next_job_or_current(&mut self) -> MinerJob {
        match self.jobs.last() {
            Some(j) => j.clone(),
            None => self.next_job(),
        }
    }
}
