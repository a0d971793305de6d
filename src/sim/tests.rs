//! Pool and miner against each other, and the pool against a hand-written raw client.
//! Loopback only; every wait is bounded. Difficulties are tiny because tests hash in debug.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::chain::{self, Target};
use super::*;

/// About 4300 hashes per share.
const TINY: f64 = 0.000_001;

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

fn pool_cfg(name: &str) -> SimPoolConfig {
    SimPoolConfig {
        difficulty: TINY,
        job_interval_ms: 500,
        // No timed block changes: a share racing a clean job is legitimately stale, and
        // these tests want zero rejects. `pool_controls` covers new blocks.
        block_interval_ms: 0,
        name: name.to_string(),
        ..SimPoolConfig::default()
    }
}

fn miner(pool: &SimPool, flavour: MinerFlavour, user: &str) -> SimMiner {
    SimMiner::start(SimMinerConfig {
        addr: pool.addr(),
        user: user.to_string(),
        password: "x".to_string(),
        flavour,
        max_hashes_per_sec: 200_000,
        name: user.to_string(),
    })
}

fn mines_directly(flavour: MinerFlavour, want_mask: u32) {
    let pool = SimPool::start(SimPoolConfig {
        coinb2_extra_bytes: 2_000,
        ..pool_cfg(&format!("direct-{flavour:?}"))
    })
    .unwrap();
    let m = miner(&pool, flavour, "worker1");
    let ok = wait_until(Duration::from_secs(8), || {
        m.stats().accepted >= 5 && pool.stats().accepted >= 5
    });
    let (ms, ps) = (m.stats(), pool.stats());
    assert!(ok, "miner {ms:?}\npool {ps:?}");
    assert_eq!(ms.rejected, 0, "{ms:?}");
    assert_eq!(ps.rejected, 0, "{ps:?}");
    assert_eq!(ms.version_mask, want_mask);
    assert_eq!(ms.set_difficulty_before_notify_violations, 0);
    assert_eq!(ms.difficulty, TINY);
    assert_eq!(ms.extranonce2_size, 8);
    assert_eq!(ms.extranonce1.len(), 8);
    assert!(ms.connected && ms.connects == 1 && ms.jobs >= 1 && ms.hashes > 0);
    assert_eq!(ps.workers.get("worker1").copied(), Some(ps.accepted));
    assert!(!ps.extranonce2_prefixes.is_empty());
    assert!((ps.accepted_work - ps.accepted as f64 * TINY).abs() < 1e-12);
    assert_eq!(
        ps.configures,
        u64::from(flavour != MinerFlavour::Plain),
        "{ps:?}"
    );
    assert_eq!((ps.subscribes, ps.authorizes, ps.connections), (1, 1, 1));
    m.stop();
    assert!(wait_until(Duration::from_secs(2), || pool.stats().open == 0));
    pool.stop();
}

#[test]
fn cgminer_mines_directly() {
    mines_directly(MinerFlavour::Cgminer, 0x1fff_e000);
}

#[test]
fn nano3s_mines_directly() {
    mines_directly(MinerFlavour::Nano3s, 0x1fff_e000);
}

#[test]
fn plain_mines_directly() {
    mines_directly(MinerFlavour::Plain, 0);
}

#[test]
fn nano3s_gives_up_without_version_rolling() {
    let pool = SimPool::start(SimPoolConfig {
        version_mask: 0,
        ..pool_cfg("no-rolling")
    })
    .unwrap();
    let m = miner(&pool, MinerFlavour::Nano3s, "nano");
    assert!(wait_until(Duration::from_secs(5), || {
        m.stats().configure_failures >= 2
    }));
    let (ms, ps) = (m.stats(), pool.stats());
    assert!(ms.connects >= 2);
    assert_eq!(ps.subscribes, 0);
    assert_eq!(ms.submitted, 0);
    // A cgminer carries on without rolling against the same pool.
    let c = miner(&pool, MinerFlavour::Cgminer, "cg");
    assert!(wait_until(Duration::from_secs(8), || c.stats().accepted >= 2));
    assert_eq!(c.stats().version_mask, 0);
    assert_eq!(pool.stats().rejected, 0);
}

#[test]
fn pool_controls() {
    let pool = SimPool::start(SimPoolConfig {
        job_interval_ms: 0,
        block_interval_ms: 0,
        job_id_style: JobIdStyle::Hex,
        ..pool_cfg("controls")
    })
    .unwrap();
    let m = miner(&pool, MinerFlavour::Cgminer, "ctl");
    assert!(wait_until(Duration::from_secs(8), || m.stats().accepted >= 2));
    let first = m.stats();
    assert!(first.last_job_id.len() >= 6, "{first:?}");
    assert!(u64::from_str_radix(&first.last_job_id, 16).is_ok());

    // A new block: a clean job arrives.
    pool.new_block();
    assert!(wait_until(Duration::from_secs(2), || {
        m.stats().clean_jobs > first.clean_jobs
    }));

    // A difficulty change arrives with a job and applies to it.
    pool.set_difficulty(2.0 * TINY);
    assert!(wait_until(Duration::from_secs(2), || {
        m.stats().difficulty == 2.0 * TINY
    }));

    // Silence: no jobs while silent. A difficulty change then waits for the next job
    // (cgminer semantics); resuming sends one, clean because the block moved on meanwhile.
    pool.set_silent(true);
    let sent = pool.stats().jobs_sent;
    let clean = m.stats().clean_jobs;
    pool.set_difficulty(3.0 * TINY);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(pool.stats().jobs_sent, sent);
    assert_eq!(m.stats().difficulty, 2.0 * TINY);
    pool.new_block();
    pool.set_silent(false);
    assert!(wait_until(Duration::from_secs(2), || {
        let s = m.stats();
        s.difficulty == 3.0 * TINY && s.clean_jobs == clean + 1
    }));
    assert_eq!(pool.stats().jobs_sent, sent + 1);
    // Shares of an old block's job that were in flight may come back stale (a true race).

    // A hung pool: submits go unanswered.
    pool.set_answer_submits(false);
    std::thread::sleep(Duration::from_millis(100));
    let before = m.stats();
    let ignored = pool.stats().ignored_submits;
    assert!(wait_until(Duration::from_secs(5), || {
        pool.stats().ignored_submits >= ignored + 2
    }));
    let hung = m.stats();
    assert!(hung.submitted >= before.submitted + 2);
    assert_eq!(
        hung.accepted + hung.rejected,
        before.accepted + before.rejected
    );
    pool.set_answer_submits(true);

    // Dropped connections: the miner comes back.
    pool.drop_connections();
    assert!(wait_until(Duration::from_secs(3), || {
        let s = m.stats();
        s.connects >= 2 && s.connected && pool.stats().open == 1
    }));
    let accepted = m.stats().accepted;
    assert!(wait_until(Duration::from_secs(8), || {
        m.stats().accepted > accepted
    }));
    let ms = m.stats();
    let stale = ms.rejected_by_reason.get("stale").copied().unwrap_or(0);
    assert_eq!(ms.rejected, stale, "{ms:?}");
    assert_eq!(ms.set_difficulty_before_notify_violations, 0);
    assert_eq!(pool.stats().connections, 2);

    // Stopping the pool closes its port; the miner notices and keeps retrying quietly.
    let addr = pool.addr();
    pool.stop();
    assert!(TcpStream::connect(addr).is_err());
    assert!(wait_until(Duration::from_secs(2), || !m.stats().connected));
    m.stop();
}

#[test]
fn counter_job_ids_collide_across_pools() {
    let a = SimPool::start(pool_cfg("a")).unwrap();
    let b = SimPool::start(pool_cfg("b")).unwrap();
    let ma = miner(&a, MinerFlavour::Plain, "ma");
    let mb = miner(&b, MinerFlavour::Plain, "mb");
    assert!(wait_until(Duration::from_secs(3), || {
        ma.stats().jobs >= 1 && mb.stats().jobs >= 1
    }));
    assert_eq!(ma.stats().job_ids[0], "1");
    assert_eq!(mb.stats().job_ids[0], "1");
}

/// A hand-driven Stratum client for poking at the pool's validator.
struct RawClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_id: u64,
    notifications: Vec<Value>,
}

impl RawClient {
    fn connect(pool: &SimPool) -> RawClient {
        let s = TcpStream::connect(pool.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        RawClient {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
            next_id: 1,
            notifications: Vec::new(),
        }
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).unwrap();
        assert!(n > 0, "pool closed the connection");
        serde_json::from_str(&line).unwrap()
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        self.writer.write_all(line.as_bytes()).unwrap();
        loop {
            let v = self.read();
            if v["id"] == json!(id) {
                return v;
            }
            self.notifications.push(v);
        }
    }

    fn next_notify(&mut self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            assert!(Instant::now() < deadline, "no notify");
            if let Some(i) = self
                .notifications
                .iter()
                .position(|v| v["method"] == "mining.notify")
            {
                return self.notifications.remove(i);
            }
            let v = self.read();
            self.notifications.push(v);
        }
    }

    /// The error message of a submit, or "accepted".
    fn submit(&mut self, params: Value) -> String {
        let r = self.call("mining.submit", params);
        if r["result"] == json!(true) {
            "accepted".to_string()
        } else {
            r["error"][1].as_str().unwrap().to_string()
        }
    }
}

/// A job as the raw client sees it, with a solver built on the sim chain code.
struct RawJob {
    params: Vec<Value>,
    e1: Vec<u8>,
}

impl RawJob {
    fn s(&self, i: usize) -> &str {
        self.params[i].as_str().unwrap()
    }

    fn hash(&self, e2: &[u8], nonce: u32, version_bits: u32) -> [u8; 32] {
        let coinb1 = chain::unhex(self.s(2)).unwrap();
        let coinb2 = chain::unhex(self.s(3)).unwrap();
        let branches: Vec<[u8; 32]> = self.params[4]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| chain::unhex32(b.as_str().unwrap()).unwrap())
            .collect();
        let root = chain::merkle_root(&[&coinb1, &self.e1, e2, &coinb2], &branches);
        let prev = chain::swap_words(&chain::unhex32(self.s(1)).unwrap());
        let version = chain::parse_u32_be8(self.s(5)).unwrap() | version_bits;
        let nbits = chain::parse_u32_be8(self.s(6)).unwrap();
        let ntime = chain::parse_u32_be8(self.s(7)).unwrap();
        chain::sha256d(&chain::header(version, &prev, &root, ntime, nbits, nonce))
    }

    fn solve(&self, e2: &[u8], version_bits: u32, target: &Target) -> u32 {
        (0u32..2_000_000)
            .find(|&n| target.is_met_by(&self.hash(e2, n, version_bits)))
            .expect("a share within 2M nonces")
    }
}

#[test]
fn pool_validator_counts_rejections_by_reason() {
    let pool = SimPool::start(SimPoolConfig {
        job_interval_ms: 0,
        block_interval_ms: 0,
        ..pool_cfg("validator")
    })
    .unwrap();
    let mut c = RawClient::connect(&pool);
    let early = c.submit(json!([
        "alice",
        "1",
        "0000000000000000",
        "00000000",
        "00000000"
    ]));
    assert_eq!(early, "not subscribed");

    let conf = c.call(
        "mining.configure",
        json!([["version-rolling"], {"version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}]),
    );
    assert_eq!(conf["result"]["version-rolling"], json!(true));
    assert_eq!(conf["result"]["version-rolling.mask"], json!("1fffe000"));
    let sub = c.call("mining.subscribe", json!(["cgminer/4.11.1"]));
    let e1 = chain::unhex(sub["result"][1].as_str().unwrap()).unwrap();
    assert_eq!(e1.len(), 4);
    assert_eq!(sub["result"][2], json!(8));
    let auth = c.call("mining.authorize", json!(["alice", "x"]));
    assert_eq!(auth["result"], json!(true));
    let unknown = c.call("mining.bogus", json!([]));
    assert_eq!(unknown["error"][0], json!(20));

    let notify = c.next_notify();
    assert_eq!(c.notifications[0]["method"], "mining.set_difficulty");
    assert_eq!(c.notifications[0]["params"][0], json!(TINY));
    let job = RawJob {
        params: notify["params"].as_array().unwrap().clone(),
        e1,
    };
    let job_id = job.s(0).to_string();
    let ntime = job.s(7).to_string();
    let target = Target::from_difficulty(TINY);
    let e2 = [0xab, 0xcd, 0, 0, 0, 0, 0, 1];
    let vbits = 0x0000_6000;
    let nonce = job.solve(&e2, vbits, &target);
    let e2h = chain::hex(&e2);
    let good = |nonce: u32| {
        json!([
            "alice",
            job_id,
            e2h,
            ntime,
            chain::u32_be8(nonce),
            chain::u32_be8(vbits)
        ])
    };
    // A corrupted nonce that really misses the target.
    let bad_nonce = (1u32..)
        .map(|k| nonce ^ k.wrapping_mul(0x9e37_79b9))
        .find(|&n| !target.is_met_by(&job.hash(&e2, n, vbits)))
        .unwrap();

    let mut reasons = Vec::new();
    let mut run = |c: &mut RawClient, params: Value| reasons.push(c.submit(params));
    run(
        &mut c,
        json!(["mallory", job_id, e2h, ntime, "00000000", "00000000"]),
    );
    run(
        &mut c,
        json!(["alice", "nope", e2h, ntime, "00000000", "00000000"]),
    );
    run(
        &mut c,
        json!(["alice", job_id, "abcd", ntime, "00000000", "00000000"]),
    );
    run(
        &mut c,
        json!(["alice", job_id, e2h, ntime, "00000000", "e0000000"]),
    );
    run(
        &mut c,
        json!(["alice", job_id, e2h, "00000001", "00000000"]),
    );
    run(&mut c, json!(["alice", job_id, e2h, ntime, "zz"]));
    run(&mut c, good(bad_nonce));
    run(&mut c, good(nonce));
    run(&mut c, good(nonce));
    // The same nonce without the version bits is a different (and failing) header.
    let plain = json!(["alice", job_id, e2h, ntime, chain::u32_be8(nonce)]);
    let plain_meets = target.is_met_by(&job.hash(&e2, nonce, 0));
    run(&mut c, plain);
    pool.new_block();
    let fresh = c.next_notify();
    assert_eq!(fresh["params"][8], json!(true));
    let mut stale_params = good(nonce);
    stale_params[2] = json!("abcd000000000001");
    run(&mut c, stale_params);

    let want = [
        "unauthorized worker",
        "job not found",
        "incorrect extranonce2 size",
        "version bits outside mask",
        "ntime out of range",
        "malformed submit",
        "low difficulty share",
        "accepted",
        "duplicate share",
        if plain_meets {
            "accepted"
        } else {
            "low difficulty share"
        },
        "stale",
    ];
    assert_eq!(reasons, want);

    let ps = pool.stats();
    let count = |r: &str| ps.rejected_by_reason.get(r).copied().unwrap_or(0);
    assert_eq!(
        count("low difficulty share"),
        if plain_meets { 1 } else { 2 }
    );
    for r in [
        "not subscribed",
        "unauthorized worker",
        "job not found",
        "incorrect extranonce2 size",
        "version bits outside mask",
        "ntime out of range",
        "malformed submit",
        "duplicate share",
        "stale",
    ] {
        assert_eq!(count(r), 1, "{r}: {ps:?}");
    }
    let accepted = if plain_meets { 2 } else { 1 };
    assert_eq!(ps.accepted, accepted);
    assert_eq!(ps.rejected, 12 - accepted);
    assert_eq!(ps.workers.get("alice").copied(), Some(accepted));
    assert!(ps.extranonce2_prefixes.contains("abcd"));
    assert_eq!(ps.configures, 1);
}

#[test]
fn pool_credits_the_easier_of_job_and_current_difficulty() {
    let pool = SimPool::start(SimPoolConfig {
        job_interval_ms: 0,
        block_interval_ms: 0,
        version_mask: 0,
        ..pool_cfg("lenient")
    })
    .unwrap();
    let mut c = RawClient::connect(&pool);
    let sub = c.call("mining.subscribe", json!(["raw"]));
    let e1 = chain::unhex(sub["result"][1].as_str().unwrap()).unwrap();
    c.call("mining.authorize", json!(["bob", "x"]));
    let notify = c.next_notify();
    let job = RawJob {
        params: notify["params"].as_array().unwrap().clone(),
        e1,
    };
    // Raise the difficulty far out of reach: a share for the old job still counts at TINY.
    pool.set_difficulty(1e6);
    let _newer = c.next_notify();
    let e2 = [1, 2, 3, 4, 5, 6, 7, 8];
    let nonce = job.solve(&e2, 0, &Target::from_difficulty(TINY));
    let r = c.submit(json!([
        "bob",
        job.s(0),
        chain::hex(&e2),
        job.s(7),
        chain::u32_be8(nonce)
    ]));
    assert_eq!(r, "accepted");
    // Without a configure, any version bits are outside the (empty) mask.
    let r = c.submit(json!([
        "bob",
        job.s(0),
        chain::hex(&e2),
        job.s(7),
        chain::u32_be8(nonce),
        "00002000"
    ]));
    assert_eq!(r, "version bits outside mask");
    let ps = pool.stats();
    assert_eq!(ps.accepted, 1);
    assert!((ps.accepted_work - TINY).abs() < 1e-15);
}

#[test]
fn handles_stop_promptly_even_without_a_peer() {
    // Nothing listens on a port we just released: the miner keeps retrying until stopped.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let m = SimMiner::start(SimMinerConfig {
        addr,
        user: "u".into(),
        password: "x".into(),
        flavour: MinerFlavour::Plain,
        max_hashes_per_sec: 0,
        name: "lonely".into(),
    });
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let s = m.stats();
    drop(m);
    assert!(t.elapsed() < Duration::from_secs(1));
    assert_eq!(s.connects, 0);
    assert!(!s.connected);

    // Dropping a pool with a busy miner attached closes it; the miner sees the close.
    let pool = SimPool::start(pool_cfg("dropped")).unwrap();
    let m = miner(&pool, MinerFlavour::Cgminer, "busy");
    assert!(wait_until(Duration::from_secs(5), || m.stats().accepted >= 1));
    let t = Instant::now();
    drop(pool);
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(wait_until(Duration::from_secs(2), || !m.stats().connected));
    let t = Instant::now();
    m.stop();
    assert!(t.elapsed() < Duration::from_secs(1));
}
