//! The shipped binary end to end, as its own process: by default the host build, and in CI
//! the router builds under qemu-user (`HASHMUX_BIN=target/mipsel-…/hashmux
//! HASHMUX_RUNNER="qemu-mipsel -cpu 24Kc"`). Simulated pools and miners run on the host and
//! check every share with their own code; hashmux sits between them on 127.0.0.1.
//!
//! Ignored in a plain `cargo test` (it exists for the emulated runs, and a native run adds
//! nothing the in-process tests do not cover); `.ci/run` runs it once per emulated target.

#[path = "common/sv2miner.rs"]
#[allow(dead_code)]
mod sv2miner;
#[path = "common/sv2pool.rs"]
#[allow(dead_code)]
mod sv2pool;
#[path = "common/sv2util.rs"]
#[allow(dead_code)]
mod sv2util;

use hashmux::sim::{
    ExternalProxy, Launch, MinerFlavour, SimMiner, SimMinerConfig, SimPool, SimPoolConfig,
};
use std::time::{Duration, Instant};

/// Poll `f` every 200 ms for at most `secs`; panics naming `what` on timeout.
fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < until, "timed out after {secs} s: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("{:>6.1} s: {what}", start.elapsed().as_secs_f64());
}

fn pool(name: &str, e1: usize, e2: usize) -> SimPool {
    SimPool::start(SimPoolConfig {
        name: name.into(),
        extranonce1_size: e1,
        extranonce2_size: e2,
        difficulty: 0.00002,
        job_interval_ms: 3_000,
        block_interval_ms: 20_000,
        ..SimPoolConfig::default()
    })
    .expect("sim pool starts")
}

fn config(a: &SimPool, b: &SimPool, weights: (u32, u32)) -> impl Fn(String, String) -> String {
    let (pa, pb) = (a.addr(), b.addr());
    move |listen, http| {
        format!(
            r#"{{"listen":"{listen}","http":"{http}",
 "pools":[{{"name":"a","url":"stratum+tcp://{pa}","user":"acct.a","password":"pw-a","weight":{},"priority":1}},
          {{"name":"b","url":"stratum+tcp://{pb}","user":"acct.b","password":"pw-b","weight":{},"priority":2}}],
 "miners":{{"max":16,"shares_per_min":60,"min_difficulty":0.00001,"start_difficulty":0.0001,"max_difficulty":1}},
 "failover":{{"job_timeout_secs":30,"backoff_min_ms":300,"backoff_max_ms":2000}},
 "split":{{"interval_secs":2,"min_dwell_secs":2,"hysteresis_secs":2}},
 "log_level":"info"}}"#,
            weights.0, weights.1
        )
    }
}

#[test]
#[ignore = "run by .ci/run against each emulated router build"]
fn test_external_binary_mines_fails_over_reloads_and_stops() {
    let launch = Launch::from_env(env!("CARGO_BIN_EXE_hashmux"));
    eprintln!("running {}", launch.describe());
    let (a, b) = (pool("a", 4, 8), pool("b", 8, 4));
    let make = config(&a, &b, (1, 0));
    let mut proxy = ExternalProxy::start(
        &launch,
        |s, h| make(s.to_string(), h.to_string()),
        Duration::from_secs(60),
    )
    .expect("hashmux starts");

    let miners: Vec<SimMiner> = [
        ("nano3s", MinerFlavour::Nano3s),
        ("cgminer", MinerFlavour::Cgminer),
        ("cpuminer", MinerFlavour::Plain),
    ]
    .into_iter()
    .map(|(name, flavour)| {
        SimMiner::start(SimMinerConfig {
            addr: proxy.stratum,
            user: name.into(),
            password: "x".into(),
            flavour,
            max_hashes_per_sec: 100_000,
            name: name.into(),
        })
    })
    .collect();
    let accepted = |ms: &[SimMiner]| ms.iter().map(|m| m.stats().accepted).collect::<Vec<_>>();

    // 1. Every miner's shares reach pool a, which checks them itself; b is failover only.
    wait_until(90, "every miner has 3 shares accepted via pool a", || {
        accepted(&miners).iter().all(|&n| n >= 3) && a.stats().accepted >= 9
    });
    assert_eq!(
        b.stats().accepted,
        0,
        "b has weight 0: no work while a lives"
    );
    let (code, body) = proxy.http_get("/healthz").expect("GET /healthz");
    assert_eq!(code, 200, "{body}");
    let (code, body) = proxy.http_get("/api/stats").expect("GET /api/stats");
    assert_eq!(code, 200);
    assert!(body.contains("\"heap_peak_bytes\":"), "{body}");
    assert!(!body.contains("pw-a"), "no password in the API");

    // 2. Pool a dies: every miner keeps mining, now for b.
    a.set_down(true);
    let (b0, m0) = (b.stats().accepted, accepted(&miners));
    wait_until(
        90,
        "every miner has 3 more shares accepted via pool b",
        || {
            let now = accepted(&miners);
            now.iter().zip(&m0).all(|(n, o)| *n >= o + 3) && b.stats().accepted >= b0 + 9
        },
    );

    // 3. a is back and preferred again.
    a.set_down(false);
    let a0 = a.stats().accepted;
    wait_until(90, "shares flow to pool a again", || {
        a.stats().accepted >= a0 + 6
    });

    // 4. SIGHUP with swapped weights: the same miners move to b without reconnecting.
    let connects: Vec<u64> = miners.iter().map(|m| m.stats().connects).collect();
    let swapped = config(&a, &b, (0, 1));
    std::fs::write(
        &proxy.config_path,
        swapped(proxy.stratum.to_string(), proxy.http.to_string()),
    )
    .expect("rewrite config");
    proxy.signal("HUP").expect("send SIGHUP");
    wait_until(60, "reload logged", || {
        proxy.log().contains("config reloaded")
    });
    std::thread::sleep(Duration::from_secs(4));
    let (a1, b1) = (a.stats().accepted, b.stats().accepted);
    wait_until(90, "after reload, shares go to b and not a", || {
        b.stats().accepted >= b1 + 9
    });
    assert!(
        a.stats().accepted <= a1 + 3,
        "a (weight 0 now) kept getting shares: {} -> {}",
        a1,
        a.stats().accepted
    );
    let after: Vec<u64> = miners.iter().map(|m| m.stats().connects).collect();
    assert_eq!(connects, after, "reload dropped no miner");

    // 5. Nothing the pools saw was bad work: no low-difficulty or duplicate rejections.
    for (name, p) in [("a", &a), ("b", &b)] {
        let s = p.stats();
        for (reason, n) in &s.rejected_by_reason {
            assert!(
                !reason.contains("low") && !reason.contains("uplicate"),
                "pool {name} rejected {n} shares as {reason:?}"
            );
        }
    }

    // 6. SIGTERM: a clean exit.
    drop(miners);
    proxy.signal("TERM").expect("send SIGTERM");
    let code = proxy.wait_exit(Duration::from_secs(20));
    assert_eq!(code, Some(0), "clean exit on SIGTERM");
}

#[test]
#[ignore = "run by .ci/run against each emulated router build"]
fn test_external_binary_mines_for_an_sv2_pool_with_sv1_and_sv2_miners() {
    let launch = Launch::from_env(env!("CARGO_BIN_EXE_hashmux"));
    let pool = sv2pool::Sv2Pool::start(sv2pool::Sv2PoolConfig {
        target_difficulty: 0.00002,
        job_interval_ms: 3_000,
        ..sv2pool::Sv2PoolConfig::default()
    });
    let url = format!(
        "stratum2+tcp://{}/{}",
        pool.addr(),
        pool.authority_pubkey_base58()
    );
    // A free port for the SV2 miners' listener (bound and released; loopback only).
    let sv2_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let proxy = ExternalProxy::start(
        &launch,
        |s, h| {
            format!(
                r#"{{"listen":"{s}","http":"{h}","listen_sv2":"127.0.0.1:{sv2_port}","pools":[{{"name":"v2","url":"{url}","user":"acct.v2"}}],
                "miners":{{"shares_per_min":60,"min_difficulty":0.00001,"start_difficulty":0.0001,"max_difficulty":1}}}}"#
            )
        },
        Duration::from_secs(60),
    )
    .expect("hashmux starts");
    let miners: Vec<SimMiner> = [MinerFlavour::Nano3s, MinerFlavour::Cgminer]
        .into_iter()
        .enumerate()
        .map(|(i, flavour)| {
            SimMiner::start(SimMinerConfig {
                addr: proxy.stratum,
                user: format!("rig{i}"),
                password: "x".into(),
                flavour,
                max_hashes_per_sec: 100_000,
                name: format!("rig{i}"),
            })
        })
        .collect();
    // An SV2 miner too, given the authority key the binary created next to its config.
    let (_, body) = proxy.http_get("/api/stats").expect("GET /api/stats");
    let key_text = body
        .split("\"authority_key\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("authority key in /api/stats");
    let key = sv2util::authority_key_from_base58(key_text).expect("base58check key");
    let sv2_miner = sv2miner::Sv2Miner::start(sv2miner::Sv2MinerConfig {
        channel: sv2miner::ChannelKind::Standard,
        max_hashrate: Some(100_000.0),
        ..sv2miner::Sv2MinerConfig::new(format!("127.0.0.1:{sv2_port}").parse().unwrap(), key)
    });
    wait_until(
        90,
        "the SV2 pool accepted 6 shares from every miner's work",
        || {
            pool.stats().accepted >= 6
                && miners.iter().all(|m| m.stats().accepted > 0)
                && sv2_miner.stats().accepted > 0
        },
    );
    assert_eq!(sv2_miner.stats().rejected, 0, "{:?}", sv2_miner.stats());
    let st = pool.stats();
    assert_eq!(st.rejected_total(), 0, "{:?}", st.rejected_by_reason);
    let (_, body) = proxy.http_get("/api/stats").expect("GET /api/stats");
    assert!(
        body.contains("\"protocol\":\"sv2\",\"encrypted\":true"),
        "{body}"
    );
}
