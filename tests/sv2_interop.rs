//! hashmux's Stratum V2 upstream against a test pool built on the SV2 Reference
//! Implementation crates (tests/common/sv2pool.rs): the other end of the wire is code we did not
//! write. The pool checks every share with its own sha256d; the miners are simulated and do
//! real work. Loopback only; every wait is bounded.
#![cfg(all(feature = "sim", feature = "sv2"))]

mod common;
#[path = "common/sv2pool.rs"]
#[allow(dead_code)]
mod sv2pool;
#[path = "common/sv2util.rs"]
#[allow(dead_code)]
mod sv2util;

use common::wait_for;
use hashmux::sim::{MinerFlavour, SimMiner, SimPool, SimPoolConfig};
use std::time::Duration;
use sv2pool::{Sv2Pool, Sv2PoolConfig};

fn sv2_pool(cfg: Sv2PoolConfig) -> Sv2Pool {
    sv2_pool_at(0.0002, cfg)
}

/// A pool whose share target is `difficulty` (lower: more shares for the same hashing).
fn sv2_pool_at(difficulty: f64, cfg: Sv2PoolConfig) -> Sv2Pool {
    Sv2Pool::start(Sv2PoolConfig {
        extranonce_prefix_len: 4,
        extranonce_size: 8,
        target_difficulty: difficulty,
        job_interval_ms: 3_000,
        ..cfg
    })
}

fn miners(addr: std::net::SocketAddr, n: usize) -> Vec<SimMiner> {
    SimMiner::fleet(
        addr,
        n,
        &[
            MinerFlavour::Nano3s,
            MinerFlavour::Cgminer,
            MinerFlavour::Plain,
        ],
        150_000,
    )
}

fn sv2_url(p: &Sv2Pool) -> String {
    format!(
        "stratum2+tcp://{}/{}",
        p.addr(),
        p.authority_pubkey_base58()
    )
}

fn spawn(pools_json: &str) -> hashmux::runtime::Handle {
    let json = format!(
        r#"{{"listen":"127.0.0.1:0","http":"127.0.0.1:0","pools":[{pools_json}],
            "miners":{{"shares_per_min":120,"min_difficulty":0.000001,"start_difficulty":0.00002}},
            "failover":{{"job_timeout_secs":20,"backoff_min_ms":200,"backoff_max_ms":1000}},
            "split":{{"interval_secs":1,"window_intervals":30,"min_dwell_secs":2,"hysteresis_secs":3}}}}"#
    );
    hashmux::runtime::spawn(hashmux::ops::config::parse(json.as_bytes()).expect("config")).unwrap()
}

/// The first error the proxy reports for its only pool (bounded wait).
fn first_error(proxy: &hashmux::runtime::Handle) -> String {
    wait_for(20, "the handshake failure is reported", || {
        let s = proxy.snapshot()?;
        let e = s.pools[0].last_error.clone();
        (!e.is_empty()).then_some(e)
    })
}

#[test]
fn test_sv2_pool_handshake_channel_jobs_and_shares_accepted() {
    // A low share target so a loaded CI machine still sees shares within the wait.
    let pool = sv2_pool_at(0.00005, Sv2PoolConfig::default());
    let proxy = spawn(&format!(
        r#"{{"name":"v2","url":"{}","user":"acct.v2","password":"pw"}}"#,
        sv2_url(&pool)
    ));
    let ms = miners(proxy.stratum_addr, 3);
    wait_for(120, "6 shares accepted by the SRI pool", || {
        (pool.stats().accepted >= 6).then_some(())
    });
    wait_for(120, "every miner has accepted shares", || {
        ms.iter().all(|m| m.stats().accepted > 0).then_some(())
    });
    let st = pool.stats();
    assert_eq!(st.handshakes_ok, 1, "one Noise session");
    assert_eq!(st.channels_opened, 1, "one extended channel for all miners");
    assert_eq!(st.rejected_total(), 0, "{:?}", st.rejected_by_reason);
    let ps = wait_for(10, "the proxy counted the pool's answers", || {
        let s = proxy.snapshot()?;
        let p = s.pools[0].clone();
        (p.shares.accepted >= 6).then_some(p)
    });
    assert_eq!((ps.protocol, ps.encrypted, ps.state), ("sv2", true, "live"));
    assert!(ps.shares.forwarded >= ps.shares.accepted);
    drop(ms);
}

#[test]
fn test_sv2_certificate_from_wrong_authority_is_refused() {
    let pool = sv2_pool(Sv2PoolConfig {
        sign_with_wrong_authority: true,
        ..Sv2PoolConfig::default()
    });
    let proxy = spawn(&format!(
        r#"{{"name":"v2","url":"{}","user":"u"}}"#,
        sv2_url(&pool)
    ));
    let err = first_error(&proxy);
    assert!(
        err.contains("not signed by the configured authority"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let st = pool.stats();
    assert!(st.connections >= 1);
    assert_eq!(
        st.setup_connections, 0,
        "nothing sent after a bad certificate"
    );
    assert_ne!(proxy.snapshot().unwrap().pools[0].state, "live");
}

#[test]
fn test_sv2_expired_certificate_is_refused_naming_the_dates() {
    let pool = sv2_pool(Sv2PoolConfig {
        cert_valid_from: 1_600_000_000,
        cert_not_valid_after: 1_650_000_000,
        ..Sv2PoolConfig::default()
    });
    let proxy = spawn(&format!(
        r#"{{"name":"v2","url":"{}","user":"u"}}"#,
        sv2_url(&pool)
    ));
    let err = first_error(&proxy);
    assert!(err.contains("1650000000"), "{err}");
    assert_eq!(pool.stats().setup_connections, 0);
}

#[test]
fn test_mixed_sv1_sv2_split_60_40_converges_and_fails_over_between_kinds() {
    let v1 = SimPool::start(SimPoolConfig {
        name: "v1".into(),
        difficulty: 0.0002,
        ..SimPoolConfig::default()
    })
    .unwrap();
    let v2 = sv2_pool(Sv2PoolConfig::default());
    let proxy = spawn(&format!(
        r#"{{"name":"v1","url":"stratum+tcp://{}","user":"acct.v1","weight":60}},
           {{"name":"v2","url":"{}","user":"acct.v2","weight":40}}"#,
        v1.addr(),
        sv2_url(&v2)
    ));
    let ms = miners(proxy.stratum_addr, 4);
    wait_for(60, "both pools get work", || {
        let s = proxy.snapshot()?;
        (s.pools[0].shares.valid > 5 && s.pools[1].shares.valid > 5).then_some(())
    });
    let (wa, wb) = common::split_over(&proxy, 40, 300);
    let share_v1 = wa * 1000 / (wa + wb);
    eprintln!("SV1 pool's share of accepted work over 40 s: {share_v1} per mille (target 600)");
    assert!(
        (500..=700).contains(&share_v1),
        "v1 got {share_v1}‰ of the work over 40 s (target 600‰)"
    );
    wait_for(60, "both pools accepted shares", || {
        (v2.stats().accepted > 0 && v1.stats().accepted > 0).then_some(())
    });
    assert_eq!(
        v2.stats().rejected_total(),
        0,
        "{:?}",
        v2.stats().rejected_by_reason
    );
    assert_eq!(
        v1.stats().rejected,
        0,
        "{:?}",
        v1.stats().rejected_by_reason
    );

    // The SV2 pool dies: everything goes to the SV1 pool; then the other way round.
    v2.set_down(true);
    let a0 = v1.stats().accepted;
    wait_for(60, "all work on the SV1 pool", || {
        let s = proxy.snapshot()?;
        (s.miners.iter().all(|m| m.pool.as_deref() == Some("v1")) && v1.stats().accepted >= a0 + 4)
            .then_some(())
    });
    v2.set_down(false);
    v1.set_down(true);
    let b0 = v2.stats().accepted;
    wait_for(60, "all work on the SV2 pool", || {
        let s = proxy.snapshot()?;
        (s.miners.iter().all(|m| m.pool.as_deref() == Some("v2")) && v2.stats().accepted >= b0 + 4)
            .then_some(())
    });
    drop(ms);
}
