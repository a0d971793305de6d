//! Fault injection over loopback: misbehaving pools and miners. Each test asserts that the
//! other miners kept mining, what the faulty party got, and that share accounting adds up:
//! every share forwarded to a pool ends as exactly one of accepted, rejected or lost.
#![cfg(feature = "sim")]

mod common;
#[path = "common/scripted.rs"]
mod scripted;

use common::{config, wait_for, RawMiner};
use hashmux::sim::{ExternalProxy, Launch, MinerFlavour, SimMiner, SimPool, SimPoolConfig};
use scripted::ScriptedPool;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

fn miners(addr: SocketAddr, n: usize) -> Vec<SimMiner> {
    SimMiner::fleet(
        addr,
        n,
        &[MinerFlavour::Cgminer, MinerFlavour::Nano3s],
        300_000,
    )
}

/// A proxy for one scripted pool. A scripted pool sends a job only when the test says so, so
/// the proxy's job timeout is set out of reach: on a loaded machine a test can take longer
/// than the usual 10 s, and a reconnect is not what these tests are about.
fn scripted_proxy(pool: &ScriptedPool) -> hashmux::runtime::Handle {
    hashmux::runtime::spawn(common::config_with(
        &[("s", pool.addr().to_string(), 1)],
        8,
        3600,
    ))
    .unwrap()
}

fn accepted(ms: &[SimMiner]) -> Vec<u64> {
    ms.iter().map(|m| m.stats().accepted).collect()
}

/// Wait until every miner has `more` accepted shares beyond `before`.
fn keep_mining(ms: &[SimMiner], before: &[u64], more: u64, what: &str) {
    wait_for(60, what, || {
        accepted(ms)
            .iter()
            .zip(before)
            .all(|(n, b)| *n >= b + more)
            .then_some(())
    });
}

/// Stop the miners, then wait until every share forwarded to every pool has its verdict:
/// forwarded = accepted + rejected + lost, on each pool and summed over miners.
fn assert_accounting(proxy: &hashmux::runtime::Handle, ms: Vec<SimMiner>) {
    drop(ms);
    wait_for(30, "forwarded = accepted + rejected + lost", || {
        let s = proxy.snapshot()?;
        let pools_ok = s.pools.iter().all(|p| {
            let c = &p.shares;
            c.forwarded == c.accepted + c.rejected + c.lost
        });
        pools_ok.then_some(())
    });
}

#[test]
fn test_pool_garbage_truncated_and_mistyped_lines_are_dropped_connection_survives() {
    let pool = ScriptedPool::start();
    let proxy = scripted_proxy(&pool);
    let ms = miners(proxy.stratum_addr, 2);
    keep_mining(&ms, &[0, 0], 2, "mining on the scripted pool");
    let before = accepted(&ms);
    for junk in [
        &b"this is not json\n"[..],
        b"{\"id\":1,\"result\":\n",
        b"{\"id\":null,\"method\":\"mining.notify\",\"params\":5}\n",
        b"{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[\"lots\"]}\n",
        b"{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"9\",\"zz\",\"\",\"\",[],\"x\",\"y\",\"z\",true]}\n",
        b"{\"id\":987654,\"result\":true,\"error\":null}\n",
        b"{\"id\":null,\"method\":\"mining.unheard_of\",\"params\":[]}\n",
        b"\xff\xfe\x00\x01\n",
    ] {
        pool.inject(junk);
    }
    keep_mining(&ms, &before, 2, "mining goes on after the junk");
    assert_eq!(
        pool.connections(),
        1,
        "junk lines do not cost the connection"
    );
    let s = proxy.snapshot().unwrap();
    assert_eq!(s.pools[0].state, "live");
    assert_accounting(&proxy, ms);
}

#[test]
fn test_pool_megabyte_line_drops_only_that_connection_and_reconnects() {
    let pool = ScriptedPool::start();
    let proxy = scripted_proxy(&pool);
    let ms = miners(proxy.stratum_addr, 2);
    keep_mining(&ms, &[0, 0], 2, "mining on the scripted pool");
    let mut big = vec![b'x'; 1024 * 1024];
    big.push(b'\n');
    pool.inject(&big);
    wait_for(20, "the proxy reconnects", || {
        (pool.connections() >= 2).then_some(())
    });
    assert!(proxy.snapshot().unwrap().pools[0].connects >= 2);
    let before = accepted(&ms);
    keep_mining(&ms, &before, 2, "mining after the reconnect");
    assert_accounting(&proxy, ms);
}

#[test]
fn test_pool_reconnect_elsewhere_returns_to_the_configured_address() {
    let pool = ScriptedPool::start();
    let proxy = scripted_proxy(&pool);
    let ms = miners(proxy.stratum_addr, 1);
    keep_mining(&ms, &[0], 1, "mining on the scripted pool");
    pool.inject(
        b"{\"id\":null,\"method\":\"client.reconnect\",\"params\":[\"evil.example\",9999,0]}\n",
    );
    wait_for(20, "the proxy reconnects to the configured pool", || {
        (pool.connections() >= 2).then_some(())
    });
    let before = accepted(&ms);
    keep_mining(&ms, &before, 2, "mining after the reconnect");
    assert_accounting(&proxy, ms);
}

#[test]
fn test_pool_that_accepts_tcp_but_never_answers_is_failed_over_and_retried() {
    let mute = ScriptedPool::start_mute();
    let b = SimPool::start(SimPoolConfig {
        difficulty: 0.0001,
        ..SimPoolConfig::default()
    })
    .unwrap();
    let cfg = common::config_with(
        &[
            ("mute", mute.addr().to_string(), 1),
            ("b", b.addr().to_string(), 2),
        ],
        8,
        5,
    );
    let proxy = hashmux::runtime::spawn(cfg).unwrap();
    let ms = miners(proxy.stratum_addr, 2);
    keep_mining(&ms, &[0, 0], 2, "miners mine on the backup pool");
    wait_for(60, "the backup pool accepts shares", || {
        (b.stats().accepted > 0).then_some(())
    });
    wait_for(30, "the mute pool is given up and retried", || {
        (mute.connections() >= 2).then_some(())
    });
    let s = proxy.snapshot().unwrap();
    assert_ne!(s.pools[0].state, "live");
    assert!(s.miners.iter().all(|m| m.pool.as_deref() == Some("b")));
    assert_accounting(&proxy, ms);
}

#[test]
fn test_miner_connection_flood_past_cap_is_refused_others_keep_mining() {
    let pool = SimPool::start(SimPoolConfig {
        difficulty: 0.0001,
        ..SimPoolConfig::default()
    })
    .unwrap();
    let proxy = hashmux::runtime::spawn(config(&[("a", pool.addr(), 1)], 3)).unwrap();
    let ms = miners(proxy.stratum_addr, 2);
    keep_mining(&ms, &[0, 0], 1, "two miners mining");
    let before = accepted(&ms);
    // 60 connections in a loop against one free slot: one gets in, the rest are refused.
    let mut held = Vec::new();
    for _ in 0..60 {
        if let Ok(s) = std::net::TcpStream::connect(proxy.stratum_addr) {
            held.push(s);
        }
    }
    wait_for(20, "the flood is refused", || {
        (proxy.snapshot()?.refused >= 50).then_some(())
    });
    keep_mining(
        &ms,
        &before,
        2,
        "the two miners keep mining through the flood",
    );
    assert!(proxy.snapshot().unwrap().miners.len() <= 3);
    drop(held);
    assert_accounting(&proxy, ms);
}

#[test]
fn test_miner_bad_hex_wrong_length_unknown_job_and_half_line_get_errors_others_keep_mining() {
    let pool = SimPool::start(SimPoolConfig {
        difficulty: 0.0001,
        ..SimPoolConfig::default()
    })
    .unwrap();
    let proxy = hashmux::runtime::spawn(config(&[("a", pool.addr(), 1)], 8)).unwrap();
    let ms = miners(proxy.stratum_addr, 2);
    keep_mining(&ms, &[0, 0], 1, "two miners mining");
    let mut bad = RawMiner::connect(proxy.stratum_addr);
    bad.handshake("bad");
    let job = bad.next_job();
    let e2 = "00".repeat(bad.extranonce2_size);
    let cases = [
        json!([
            "bad",
            job.id,
            "zz".repeat(bad.extranonce2_size),
            "6560f0a0",
            "00000000"
        ]),
        json!(["bad", job.id, "00", "6560f0a0", "00000000"]),
        json!(["bad", "not-a-job", e2, "6560f0a0", "00000000"]),
        json!(["bad", job.id, e2, "nothex!!", "00000000"]),
    ];
    for params in cases {
        let id = bad.request("mining.submit", params.clone());
        let r = bad.response(id);
        assert_ne!(r["result"], json!(true), "{params} was accepted: {r}");
        assert!(!r["error"].is_null(), "{params}: no error given: {r}");
    }
    // Half a line, then silence: the others are not held up.
    let before = accepted(&ms);
    bad.send_raw(b"{\"id\":77,\"method\":\"mining.sub").unwrap();
    keep_mining(
        &ms,
        &before,
        2,
        "the others mine while one miner stalls mid-line",
    );
    let s = proxy.snapshot().unwrap();
    let m = s
        .miners
        .iter()
        .find(|m| m.worker == "bad")
        .expect("bad miner listed");
    assert_eq!(
        m.shares.submitted, 4,
        "every submit counted: {:?}",
        m.shares
    );
    assert_eq!(m.shares.malformed + m.shares.stale, 4, "{:?}", m.shares);
    drop(bad);
    assert_accounting(&proxy, ms);
}

#[test]
fn test_sighup_with_broken_config_keeps_the_running_one() {
    let pool = SimPool::start(SimPoolConfig {
        difficulty: 0.0001,
        ..SimPoolConfig::default()
    })
    .unwrap();
    let pa = pool.addr();
    let launch = Launch::from_env(env!("CARGO_BIN_EXE_hashmux"));
    let proxy = ExternalProxy::start(
        &launch,
        |s, h| {
            format!(
                r#"{{"listen":"{s}","http":"{h}","pools":[{{"name":"a","url":"stratum+tcp://{pa}","user":"u"}}],
                "miners":{{"shares_per_min":60,"min_difficulty":0.00001,"start_difficulty":0.0001,"max_difficulty":1}}}}"#
            )
        },
        Duration::from_secs(30),
    )
    .expect("hashmux starts");
    let ms = miners(proxy.stratum, 2);
    keep_mining(&ms, &[0, 0], 1, "mining");
    std::fs::write(
        &proxy.config_path,
        br#"{"pools": [{"url": "stratum+tcp://h:1", "user": 5}]}"#,
    )
    .unwrap();
    proxy.signal("HUP").unwrap();
    wait_for(20, "the refusal is logged", || {
        proxy.log().contains("pools[0].user").then_some(())
    });
    let before = accepted(&ms);
    keep_mining(&ms, &before, 2, "mining goes on with the old config");
    let (code, body) = proxy.http_get("/api/stats").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("\"name\":\"a\""), "{body}");
    assert_eq!(
        ms.iter().map(|m| m.stats().connects).collect::<Vec<_>>(),
        vec![1, 1],
        "no miner was dropped"
    );
}

/// A pool that never answers submits: once `CONGESTED` shares await its answers hashmux stops
/// reading the miners working for it — nobody is dropped, and a share is counted lost only when
/// the pool goes away or leaves it unanswered for the answer timeout (it used to evict the
/// oldest at 512 and count it lost). When the pool goes away everything in flight is lost, the
/// books balance, and the held miner is read again.
#[test]
fn test_pool_silent_on_submits_holds_its_miners_back_then_loss_balances_the_books() {
    let pool = ScriptedPool::start_ignoring_submits(1e-9);
    let proxy = scripted_proxy(&pool);
    let mut b = RawMiner::connect(proxy.stratum_addr);
    b.handshake("b");
    let jb = b.next_job();
    let n = hashmux::core::pool::CONGESTED;
    for i in 0..n {
        let (id, _) = b.submit_found(&jb, i as u32);
        assert_eq!(b.response(id)["result"], json!(true), "share {i}");
    }
    wait_for(30, "the pool has every share", || {
        (pool.submits() == n).then_some(())
    });
    // One more is sent; hashmux does not read it while the pool owes n answers.
    let (held, _) = b.submit_found(&jb, n as u32);
    // Never more than n await answers (on a machine so slow that the first shares passed
    // the answer timeout, those are counted lost and as many more are read).
    let s = proxy.snapshot().unwrap();
    let p = &s.pools[0].shares;
    assert!(p.forwarded - p.lost <= n as u64 && p.accepted == 0, "{p:?}");
    assert_eq!(s.miners.len(), 1, "nobody dropped");
    // The pool goes away: everything in flight is lost; the held share is read now (and
    // answered; the pool it was for is gone); the books balance.
    drop(pool);
    let r = b.response(held);
    assert!(r.get("result").is_some() || r.get("error").is_some(), "{r}");
    let s = wait_for(30, "forwarded = accepted + rejected + lost", || {
        let s = proxy.snapshot()?;
        let c = &s.pools[0].shares;
        (c.forwarded == c.accepted + c.rejected + c.lost).then_some(s)
    });
    let (p, m) = (&s.pools[0].shares, &s.miners[0].shares);
    assert!(p.lost >= n as u64 && p.accepted == 0, "{p:?}");
    assert_eq!(m.lost, p.lost, "charged to the miner that sent them");
}

/// The crash of issue 13: a pool raises its extranonce2_size with `mining.set_extranonce`
/// (4 → 8). A miner that connects afterwards is sized for the new space (4 bytes) and must
/// not get the pool's old job (4 bytes of pool space: the padding would underflow and the
/// proxy panic). It waits for the pool's next job and mines; the first miner keeps mining.
#[test]
fn test_pool_grows_extranonce2_size_new_miner_waits_for_a_fitting_job_nobody_crashes() {
    let pool = ScriptedPool::start_with_extranonce2(4);
    let proxy = scripted_proxy(&pool);
    let first = miners(proxy.stratum_addr, 1);
    keep_mining(
        &first,
        &[0],
        2,
        "the first miner mining with extranonce2 size 2",
    );
    pool.inject(
        b"{\"id\":null,\"method\":\"mining.set_extranonce\",\"params\":[\"0a0b0c0d\",8]}\n",
    );
    wait_for(20, "the pool's new extranonce is known", || {
        let s = proxy.snapshot()?;
        (s.pool("s")?.extranonce2_size == 8).then_some(())
    });
    let second = miners(proxy.stratum_addr, 1);
    wait_for(
        20,
        "the new miner subscribed with extranonce2 size 4",
        || {
            let s = proxy.snapshot()?;
            s.miners
                .iter()
                .any(|m| m.extranonce2_size == 4 && !m.worker.is_empty())
                .then_some(())
        },
    );
    // The pool's next job is built on the new space: both miners fit it.
    pool.inject(scripted::notify_line(77, false).as_bytes());
    keep_mining(
        &second,
        &[0],
        2,
        "the new miner mining on the pool's next job",
    );
    let before = accepted(&first);
    keep_mining(&first, &before, 2, "the first miner still mining");
    let s = proxy.snapshot().unwrap();
    let sizes: Vec<usize> = s.miners.iter().map(|m| m.extranonce2_size).collect();
    assert!(sizes.contains(&2) && sizes.contains(&4), "{sizes:?}");
    let mut all = first;
    all.extend(second);
    assert_accounting(&proxy, all);
}
