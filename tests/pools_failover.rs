//! Pool side over real loopback TCP: shares accepted by an independent pool, pools with
//! different extranonce sizes and colliding job ids, job ownership, failover and fail-back,
//! a pool dying mid-submit, big notify lines.
#![cfg(feature = "sim")]

mod common;

use common::{config, wait_for, RawMiner};
use hashmux::sim::{JobIdStyle, MinerFlavour, SimMiner, SimMinerConfig, SimPool, SimPoolConfig};
use serde_json::json;
use std::net::SocketAddr;

fn pool(name: &str, e1: usize, e2: usize) -> SimPool {
    SimPool::start(SimPoolConfig {
        name: name.into(),
        extranonce1_size: e1,
        extranonce2_size: e2,
        difficulty: 0.0002,
        job_id_style: JobIdStyle::Counter,
        job_interval_ms: 2_000,
        block_interval_ms: 60_000,
        ..SimPoolConfig::default()
    })
    .unwrap()
}

fn miners(addr: SocketAddr) -> Vec<SimMiner> {
    [
        MinerFlavour::Nano3s,
        MinerFlavour::Cgminer,
        MinerFlavour::Plain,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, flavour)| {
        SimMiner::start(SimMinerConfig {
            addr,
            user: format!("rig{i}"),
            password: "x".into(),
            flavour,
            max_hashes_per_sec: 300_000,
            name: format!("rig{i}"),
        })
    })
    .collect()
}

fn on_pool(h: &hashmux::runtime::Handle, name: &str, n: usize) -> Option<()> {
    let s = h.snapshot()?;
    (s.miners.len() == n && s.miners.iter().all(|m| m.pool.as_deref() == Some(name))).then_some(())
}

#[test]
fn test_live_pool_accepts_shares_from_every_miner_flavour() {
    let p = pool("a", 4, 8);
    let proxy = hashmux::runtime::spawn(config(&[("a", p.addr(), 1)], 8)).unwrap();
    let ms = miners(proxy.stratum_addr);
    wait_for(60, "3 accepted shares at the pool", || {
        (p.stats().accepted >= 3).then_some(())
    });
    wait_for(60, "every miner has accepted shares", || {
        ms.iter().all(|m| m.stats().accepted > 0).then_some(())
    });
    let st = p.stats();
    assert_eq!(st.rejected, 0, "{:?}", st.rejected_by_reason);
    assert_eq!(
        st.workers.keys().collect::<Vec<_>>(),
        vec!["acct.a"],
        "shares go upstream under the pool's user"
    );
    // Shares the proxy accepted need not meet the pool's difficulty: wait for the pool to
    // have shares from two miners (on a loaded machine the first three may be one miner's).
    wait_for(
        60,
        "the pool accepted shares from two miners (distinct tags)",
        || (p.stats().extranonce2_prefixes.len() >= 2).then_some(()),
    );
    // The pool's answers reach the proxy a moment after the pool counted them.
    let ps = wait_for(10, "the proxy counted 3 accepted shares", || {
        let s = proxy.snapshot()?;
        let ps = s.pools[0].shares.clone();
        (ps.accepted >= 3).then_some(ps)
    });
    assert!(ps.forwarded >= ps.accepted);
    drop(ms);
}

#[test]
fn test_two_pools_with_different_extranonce_sizes_and_colliding_job_ids() {
    // a: E1 4 bytes, N 8; b: E1 8 bytes, N 4 → miners get extranonce2 size 2 for both.
    let a = pool("a", 4, 8);
    let b = pool("b", 8, 4);
    let proxy =
        hashmux::runtime::spawn(config(&[("a", a.addr(), 1), ("b", b.addr(), 2)], 8)).unwrap();
    wait_for(10, "both pools live", || {
        let s = proxy.snapshot()?;
        s.pools.iter().all(|p| p.state == "live").then_some(())
    });
    let ms = miners(proxy.stratum_addr);
    wait_for(60, "accepted shares at a", || {
        (a.stats().accepted >= 2).then_some(())
    });
    a.set_down(true);
    wait_for(10, "miners on b", || on_pool(&proxy, "b", 3));
    wait_for(60, "accepted shares at b", || {
        (b.stats().accepted >= 2).then_some(())
    });
    assert_eq!(a.stats().rejected, 0, "{:?}", a.stats().rejected_by_reason);
    assert_eq!(b.stats().rejected, 0, "{:?}", b.stats().rejected_by_reason);
    drop(ms);
}

#[test]
fn test_switched_miner_late_share_goes_to_the_pool_that_issued_the_job() {
    // b is preferred but starts down; the miner works for a, then b comes up and the miner
    // moves to b while a stays live. A late share for a's job must be accepted by a.
    let a = pool("a", 4, 8);
    let b = pool("b", 4, 8);
    b.set_down(true);
    let proxy =
        hashmux::runtime::spawn(config(&[("a", a.addr(), 2), ("b", b.addr(), 1)], 8)).unwrap();
    let mut m = RawMiner::connect(proxy.stratum_addr);
    m.handshake("rig");
    let job_a = m.next_job();
    b.set_down(false);
    let job_b = wait_for(20, "switch to b", || {
        let j = m.next_job();
        (!j.clean && proxy.snapshot()?.miners[0].pool.as_deref() == Some("b")).then_some(j)
    });
    assert_ne!(
        job_a.id, job_b.id,
        "proxy job ids differ even though both pools count from 1"
    );
    let before = a.stats().accepted;
    // Search at the pool's difficulty so the late share is forwarded.
    let e2 = format!("{:0w$x}", 9, w = m.extranonce2_size * 2);
    let (nonce, _) = job_a.find(&m.extranonce1, &e2, 0, 0.0002, None).unwrap();
    let id = m.submit(
        &job_a.id,
        &(e2, format!("{:08x}", job_a.ntime), format!("{nonce:08x}")),
    );
    assert_eq!(m.response(id)["result"], json!(true));
    wait_for(10, "late share accepted by a", || {
        (a.stats().accepted > before).then_some(())
    });
    assert_eq!(b.stats().rejected + a.stats().rejected, 0);
}

#[test]
fn test_live_pool_dies_miners_fail_over_then_fail_back() {
    let a = pool("a", 4, 8);
    let b = pool("b", 4, 8);
    let proxy =
        hashmux::runtime::spawn(config(&[("a", a.addr(), 1), ("b", b.addr(), 2)], 8)).unwrap();
    let ms = miners(proxy.stratum_addr);
    wait_for(20, "miners on a", || on_pool(&proxy, "a", 3));
    a.set_down(true);
    // How fast is the core's (`core::tests`, virtual time: on the event itself); here only
    // that it happens.
    wait_for(5, "miners on b", || on_pool(&proxy, "b", 3));
    let b0 = b.stats().accepted;
    wait_for(60, "shares accepted by b", || {
        (b.stats().accepted > b0).then_some(())
    });
    a.set_down(false);
    wait_for(20, "miners back on a", || on_pool(&proxy, "a", 3));
    let a0 = a.stats().accepted;
    wait_for(60, "shares accepted by a again", || {
        (a.stats().accepted > a0).then_some(())
    });
    assert!(
        ms.iter().all(|m| m.stats().connects == 1),
        "miners never reconnected"
    );
}

#[test]
fn test_every_pool_down_miners_stay_connected() {
    let a = pool("a", 4, 8);
    let proxy = hashmux::runtime::spawn(config(&[("a", a.addr(), 1)], 8)).unwrap();
    let ms = miners(proxy.stratum_addr);
    wait_for(20, "miners on a", || on_pool(&proxy, "a", 3));
    a.set_down(true);
    wait_for(5, "pool down", || {
        (proxy.snapshot()?.pools[0].state != "live").then_some(())
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        proxy.snapshot().unwrap().miners.len(),
        3,
        "miners stay connected"
    );
    a.set_down(false);
    let a0 = a.stats().accepted;
    wait_for(60, "mining resumes", || {
        (a.stats().accepted > a0).then_some(())
    });
    assert!(ms.iter().all(|m| m.stats().connects == 1));
}

#[test]
fn test_pool_killed_mid_submit_counts_unanswered_shares_lost() {
    let a = pool("a", 4, 8);
    let proxy = hashmux::runtime::spawn(config(&[("a", a.addr(), 1)], 8)).unwrap();
    let ms = miners(proxy.stratum_addr);
    wait_for(60, "accepted shares", || {
        (a.stats().accepted >= 1).then_some(())
    });
    a.set_answer_submits(false);
    // A share the pool read and will never answer (one merely in flight when the pool
    // stopped answering may still be answered: waiting on hashmux's books raced with that).
    wait_for(60, "a forwarded share left unanswered", || {
        (a.stats().ignored_submits >= 1).then_some(())
    });
    // Down, not just dropped: a reconnected pool that still does not answer would keep fresh
    // shares in flight, and the books would balance only between two submits.
    a.set_down(true);
    let s = wait_for(20, "every forwarded share has an outcome", || {
        let p = proxy.snapshot()?.pools[0].shares.clone();
        (p.lost > 0 && p.forwarded == p.accepted + p.rejected + p.lost).then_some(p)
    });
    assert!(s.lost >= 1);
    drop(ms);
}

#[test]
fn test_pool_with_16kb_notify_lines_is_usable() {
    let p = SimPool::start(SimPoolConfig {
        name: "big".into(),
        difficulty: 0.0002,
        coinb2_extra_bytes: 8_000,
        ..SimPoolConfig::default()
    })
    .unwrap();
    let proxy = hashmux::runtime::spawn(config(&[("big", p.addr(), 1)], 8)).unwrap();
    let ms = miners(proxy.stratum_addr);
    wait_for(60, "accepted shares with big coinbase", || {
        (p.stats().accepted >= 2).then_some(())
    });
    assert_eq!(p.stats().rejected, 0);
    drop(ms);
}

#[test]
fn test_live_pool_silent_past_job_timeout_loses_its_miners() {
    let a = pool("a", 4, 8);
    let b = pool("b", 4, 8);
    let cfg = common::config_with(
        &[
            ("a", a.addr().to_string(), 1),
            ("b", b.addr().to_string(), 2),
        ],
        8,
        5,
    );
    let proxy = hashmux::runtime::spawn(cfg).unwrap();
    let ms = miners(proxy.stratum_addr);
    wait_for(20, "miners on a", || on_pool(&proxy, "a", 3));
    a.set_silent(true);
    wait_for(15, "miners on b after a went silent", || {
        on_pool(&proxy, "b", 3)
    });
    let s = proxy.snapshot().unwrap();
    assert!(
        s.pools[0].last_error.contains("no new job"),
        "{}",
        s.pools[0].last_error
    );
    drop(ms);
}

#[test]
fn test_pool_url_with_dns_name_connects() {
    let a = pool("a", 4, 8);
    let cfg = common::config_with(&[("a", format!("localhost:{}", a.addr().port()), 1)], 8, 10);
    let proxy = hashmux::runtime::spawn(cfg).unwrap();
    wait_for(10, "pool live through a DNS name", || {
        (proxy.snapshot()?.pools[0].state == "live").then_some(())
    });
}
