//! A pool slower to answer than the miners are to find shares, over real loopback TCP: hashmux
//! stops reading the miners working for it before more shares await answers than it can
//! track, so every share it forwards ends accepted or rejected by the pool — none is counted
//! lost while the pool is there to answer.
#![cfg(feature = "sim")]

mod common;

use common::wait_for;
use hashmux::core::pool::INFLIGHT;
use hashmux::sim::{MinerFlavour, SimMiner, SimPool, SimPoolConfig};

#[test]
fn test_pool_holding_its_answers_holds_miners_back_and_no_share_is_lost() {
    let pool = SimPool::start(SimPoolConfig {
        name: "slow".into(),
        // Every share a miner finds reaches the pool's target: all are forwarded.
        difficulty: 0.0000001,
        job_interval_ms: 2_000,
        ..SimPoolConfig::default()
    })
    .unwrap();
    let json = format!(
        r#"{{"listen":"127.0.0.1:0","http":"","pools":[{{"name":"slow","url":"stratum+tcp://{}","user":"acct"}}],
            "miners":{{"min_difficulty":0.0000001,"start_difficulty":0.0000001,"max_difficulty":0.0000001}}}}"#,
        pool.addr()
    );
    let proxy =
        hashmux::runtime::spawn(hashmux::ops::config::parse(json.as_bytes()).unwrap()).unwrap();
    pool.set_hold_answers(true);
    let miners = SimMiner::fleet(proxy.stratum_addr, 4, &[MinerFlavour::Cgminer], 300_000);
    // The miners find more shares than hashmux can track unanswered (at difficulty 1e-7 a
    // share is ~430 hashes: seconds of work even on a loaded machine, well inside the 60 s
    // answer timeout that would otherwise count the held shares lost).
    let found = || miners.iter().map(|m| m.stats().submitted).sum::<u64>();
    wait_for(60, "miners sent INFLIGHT + 64 shares", || {
        (found() >= INFLIGHT as u64 + 64).then_some(())
    });
    let s = proxy.snapshot().unwrap();
    let p = s.pool("slow").unwrap();
    assert_eq!(
        p.shares.lost, 0,
        "nothing counted lost while the pool holds answers"
    );
    assert!(
        pool.stats().held_answers <= INFLIGHT as u64,
        "hashmux sent {} shares the pool had not answered",
        pool.stats().held_answers
    );
    assert!(
        p.shares.forwarded < found(),
        "the miners were held back ({} forwarded of {} found)",
        p.shares.forwarded,
        found()
    );

    // The pool answers: everything forwarded gets its verdict; stop the miners and nothing
    // remains in flight.
    pool.set_hold_answers(false);
    wait_for(60, "miners read again", || {
        let f = proxy.snapshot()?.pool("slow")?.shares.forwarded;
        (f > INFLIGHT as u64 + 64).then_some(())
    });
    drop(miners);
    let s = wait_for(60, "every forwarded share answered", || {
        let s = proxy.snapshot()?;
        let c = &s.pool("slow")?.shares;
        (c.forwarded == c.accepted + c.rejected + c.lost).then_some(s)
    });
    let c = &s.pool("slow").unwrap().shares;
    assert_eq!(c.lost, 0, "{c:?}");
    assert_eq!(c.rejected, 0, "{c:?}");
    assert!(pool.stats().max_held_answers <= INFLIGHT as u64);
}
