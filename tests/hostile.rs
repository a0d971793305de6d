//! Hostile and careless peers over loopback (issue 14): work re-sent under a new id, escaped
//! job ids, late answers to the handshake, an absurd pool difficulty, a notify flood, shares
//! with an ntime no pool takes. Every wait is on an event, bounded generously; nothing asserts
//! a wall-clock budget.
#![cfg(feature = "sim")]

mod common;
#[path = "common/scripted.rs"]
mod scripted;

use common::{config, config_with, wait_for, RawMiner};
use hashmux::sim::{MinerFlavour, SimMiner, SimPool, SimPoolConfig};
use scripted::ScriptedPool;
use serde_json::json;
use std::net::SocketAddr;

/// One scripted pool that sends jobs only when the test says so: no job timeout in sight.
fn proxy_for(pool: &ScriptedPool) -> hashmux::runtime::Handle {
    hashmux::runtime::spawn(config_with(&[("s", pool.addr().to_string(), 1)], 8, 3600)).unwrap()
}

fn miners(addr: SocketAddr, n: usize, hashes_per_sec: u64) -> Vec<SimMiner> {
    SimMiner::fleet(
        addr,
        n,
        &[MinerFlavour::Cgminer, MinerFlavour::Nano3s],
        hashes_per_sec,
    )
}

fn accepted(ms: &[SimMiner]) -> Vec<u64> {
    ms.iter().map(|m| m.stats().accepted).collect()
}

fn keep_mining(ms: &[SimMiner], more: u64, what: &str) {
    let before = accepted(ms);
    wait_for(60, what, || {
        accepted(ms)
            .iter()
            .zip(&before)
            .all(|(n, b)| *n >= b + more)
            .then_some(())
    });
}

/// The sim miners start over at extranonce2 0 on every notify, as cgminer, bfgminer and
/// Avalon firmware do. The pool sends one job a minute, so every notify after the first is the
/// proxy re-sending the same pool job (vardiff retargets): each must be new work.
#[test]
fn test_miner_restarting_extranonce2_through_retargets_gets_no_duplicate_rejects() {
    let pool = SimPool::start(SimPoolConfig {
        difficulty: 0.00001,
        job_interval_ms: 60_000,
        block_interval_ms: 600_000,
        ..SimPoolConfig::default()
    })
    .unwrap();
    let proxy = hashmux::runtime::spawn(config_with(&[("a", pool.addr().to_string(), 1)], 8, 3600))
        .unwrap();
    let ms = miners(proxy.stratum_addr, 2, 400_000);
    wait_for(
        120,
        "each miner got at least 4 notifies and 40 accepted shares",
        || {
            ms.iter()
                .all(|m| {
                    let s = m.stats();
                    s.jobs >= 4 && s.accepted >= 40
                })
                .then_some(())
        },
    );
    // Jobs the pool sent per connection (the proxy has one connection).
    let pool_jobs = pool.stats().jobs_sent;
    for (i, m) in ms.iter().enumerate() {
        let s = m.stats();
        assert!(
            s.jobs > pool_jobs.max(1),
            "re-sends happened: {} notifies, {pool_jobs} pool jobs",
            s.jobs
        );
        assert_eq!(
            s.rejected_by_reason.get("duplicate share"),
            None,
            "miner {i}: {:?}",
            s.rejected_by_reason
        );
    }
    let snap = proxy.snapshot().unwrap();
    for m in &snap.miners {
        assert_eq!(m.shares.duplicate, 0, "{}: {:?}", m.worker, m.shares);
    }
}

/// PHP pools write `"a\/b"`; `\u` escapes are legal anywhere. The share goes back with the
/// id the pool means.
#[test]
fn test_pool_job_id_with_json_escapes_is_submitted_back_as_the_pool_means_it() {
    let pool = ScriptedPool::start_with_difficulty(0.00001);
    let proxy = proxy_for(&pool);
    let ms = miners(proxy.stratum_addr, 1, 300_000);
    keep_mining(&ms, 1, "mining on the scripted pool");
    for (raw, meant) in [(r"a\/b", "a/b"), (r"\u00e9x", "éx")] {
        let line = scripted::notify_line(0x4d, true).replacen("\"4d\"", &format!("\"{raw}\""), 1);
        pool.inject(line.as_bytes());
        wait_for(60, &format!("a share for job {meant:?}"), || {
            pool.submitted_job_ids()
                .iter()
                .any(|j| j == meant)
                .then_some(())
        });
        assert!(
            !pool.submitted_job_ids().iter().any(|j| j.contains('\\')),
            "{:?}",
            pool.submitted_job_ids()
        );
    }
}

/// Answers with the ids of the handshake's requests, after the handshake, are not a verdict
/// on the live connection.
#[test]
fn test_pool_late_answers_to_handshake_requests_are_ignored_connection_stays() {
    let pool = ScriptedPool::start();
    let proxy = proxy_for(&pool);
    let ms = miners(proxy.stratum_addr, 2, 300_000);
    keep_mining(&ms, 2, "mining on the scripted pool");
    pool.inject(
        b"{\"id\":1,\"result\":null,\"error\":[21,\"late\",null]}\n\
          {\"id\":2,\"result\":null,\"error\":[21,\"late\",null]}\n\
          {\"id\":3,\"result\":false,\"error\":[24,\"late\",null]}\n",
    );
    keep_mining(&ms, 3, "mining after the late answers");
    assert_eq!(pool.connections(), 1, "the connection was kept");
    assert_eq!(proxy.snapshot().unwrap().pools[0].connects, 1);
}

/// A pool asking difficulty 1e-300 would make every hash a share. Miners stay at a floor:
/// the pool gets every share found there, a bounded number a second, and the page says why.
#[test]
fn test_pool_absurd_difficulty_is_reported_and_floods_nobody() {
    let pool = ScriptedPool::start_with_difficulty(1e-300);
    let proxy = proxy_for(&pool);
    let ms = miners(proxy.stratum_addr, 2, 300_000);
    keep_mining(&ms, 20, "mining on the absurd pool");
    let s = proxy.snapshot().unwrap();
    let p = s.pool("s").unwrap();
    assert!(
        p.last_error.contains("below miners.min_difficulty"),
        "{}",
        p.last_error
    );
    // The floor keeps each miner at or above min_difficulty (1e-6 here: 4,295 hashes) and
    // 1/16 of its vardiff difficulty: at 300 kH/s at most ~70 shares/s per miner, where every
    // hash would be 300,000/s. Bound it by the uptime (not a timing budget: a count).
    let secs = s.uptime_ms / 1000 + 1;
    assert!(
        (pool.submits() as u64) < 2 * 100 * secs,
        "{} shares in {secs} s",
        pool.submits()
    );
    for m in &s.miners {
        let d = m.difficulty.expect("difficulty sent");
        assert!(
            d >= hashmux::work::Difficulty::parse("0.000001").unwrap(),
            "{d}"
        );
    }
}

/// ~7,500 notifies a second from one pool: each miner gets the latest job at most about once a
/// second, nobody is dropped, and the pool is flagged.
#[test]
fn test_pool_notify_flood_is_coalesced_miners_stay_connected() {
    let pool = ScriptedPool::start();
    let proxy = proxy_for(&pool);
    let ms = miners(proxy.stratum_addr, 2, 300_000);
    keep_mining(&ms, 1, "mining on the scripted pool");
    let jobs_before: Vec<u64> = ms.iter().map(|m| m.stats().jobs).collect();
    let flood: String = (1000..8500)
        .map(|n| scripted::notify_line(n, false))
        .collect();
    pool.inject(flood.as_bytes());
    wait_for(60, "the flood is flagged", || {
        let s = proxy.snapshot()?;
        s.pool("s")?
            .last_error
            .contains("jobs a second")
            .then_some(())
    });
    keep_mining(&ms, 2, "mining after the flood");
    let up_s = proxy.snapshot().unwrap().uptime_ms / 1000 + 1;
    for (i, (m, before)) in ms.iter().zip(jobs_before).enumerate() {
        let st = m.stats();
        assert_eq!(st.connects, 1, "miner {i} was dropped");
        assert!(
            st.jobs - before <= 2 * up_s + 2,
            "miner {i}: {} notifies during the flood",
            st.jobs - before
        );
    }
}

/// Pools refuse an ntime before the job's or more than two hours after it; so does hashmux,
/// with the reason, and such shares never reach the pool.
#[test]
fn test_miner_ntime_out_of_range_is_refused_with_the_reason() {
    let pool = SimPool::start(SimPoolConfig::default()).unwrap();
    let proxy = hashmux::runtime::spawn(config(&[("a", pool.addr(), 1)], 8)).unwrap();
    let mut m = RawMiner::connect(proxy.stratum_addr);
    m.handshake("raw");
    let job = m.next_job();
    let e2 = "00".repeat(m.extranonce2_size);
    for ntime in [job.ntime - 86_400, job.ntime + 7_200] {
        let id = m.request(
            "mining.submit",
            json!(["raw", job.id, e2, format!("{ntime:08x}"), "00000000"]),
        );
        let r = m.response(id);
        let text = r["error"].to_string();
        assert!(text.contains("ntime out of range"), "{r}");
    }
    let s = pool.stats();
    assert_eq!(s.accepted + s.rejected, 0, "nothing reached the pool");
}

/// Eight clients that open the page and never finish their request do not lock anyone out:
/// `/healthz` is answered while they hang.
#[test]
fn test_eight_stalled_http_clients_do_not_lock_out_healthz() {
    use std::io::{Read, Write};
    let pool = SimPool::start(SimPoolConfig::default()).unwrap();
    let proxy = hashmux::runtime::spawn(config(&[("a", pool.addr(), 1)], 8)).unwrap();
    let http = proxy.http_addr.expect("http on");
    let stalled: Vec<std::net::TcpStream> = (0..8)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(http).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    let mut s = std::net::TcpStream::connect(http).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.1 503"),
        "{answer:?}"
    );
    drop(stalled);
}

/// A miner sending binary garbage with no line end is told why before it is disconnected.
#[test]
fn test_miner_overlong_binary_line_gets_an_error_before_the_close() {
    let pool = SimPool::start(SimPoolConfig::default()).unwrap();
    let proxy = hashmux::runtime::spawn(config(&[("a", pool.addr(), 1)], 8)).unwrap();
    let mut m = RawMiner::connect(proxy.stratum_addr);
    let _ = m.send_raw(&[0xff; 5000]);
    let mut got = Vec::new();
    while let Some(v) = m.recv() {
        got.push(v);
    }
    assert!(
        got.iter()
            .any(|v| v["error"].to_string().contains("line longer than")),
        "{got:?}"
    );
}
