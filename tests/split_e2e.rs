//! The weighted split end to end on loopback: real proxy, simulated pools checking shares with
//! their own code, simulated miners doing sha256d. Fast split settings so it converges in
//! seconds; the bound is loose because a few hundred shares carry Poisson noise.
#![cfg(feature = "sim")]

mod common;

use common::wait_for;
use hashmux::sim::{MinerFlavour, SimMiner, SimPool, SimPoolConfig};

#[test]
fn test_two_live_pools_70_30_accepted_work_converges() {
    let pool = |n: &str| {
        SimPool::start(SimPoolConfig {
            name: n.into(),
            difficulty: 0.0002,
            ..SimPoolConfig::default()
        })
        .unwrap()
    };
    let (a, b) = (pool("a"), pool("b"));
    let json = format!(
        r#"{{"listen":"127.0.0.1:0","http":"",
            "pools":[{{"name":"a","url":"stratum+tcp://{}","user":"u","weight":70}},
                     {{"name":"b","url":"stratum+tcp://{}","user":"u","weight":30}}],
            "miners":{{"shares_per_min":120,"min_difficulty":0.000001,"start_difficulty":0.00002}},
            "split":{{"interval_secs":1,"window_intervals":30,"min_dwell_secs":2,"hysteresis_secs":3}}}}"#,
        a.addr(),
        b.addr()
    );
    let proxy =
        hashmux::runtime::spawn(hashmux::ops::config::parse(json.as_bytes()).unwrap()).unwrap();
    let miners: Vec<SimMiner> =
        SimMiner::fleet(proxy.stratum_addr, 4, &[MinerFlavour::Cgminer], 150_000);
    wait_for(20, "both pools get work", || {
        let s = proxy.snapshot()?;
        (s.pools[0].shares.valid > 5 && s.pools[1].shares.valid > 5).then_some(())
    });
    let (wa, wb) = common::split_over(&proxy, 40, 300);
    let share_a = wa * 1000 / (wa + wb);
    eprintln!("pool a share of accepted work over 40 s: {share_a} per mille");
    assert!(
        (600..=800).contains(&share_a),
        "pool a got {share_a}‰ of the work over 40 s (target 700‰)"
    );
    let s = proxy.snapshot().unwrap();
    assert!(
        s.miners.iter().all(|m| m.switches < 40),
        "switches bounded: {:?}",
        s.miners.iter().map(|m| m.switches).collect::<Vec<_>>()
    );
    assert_eq!(a.stats().rejected + b.stats().rejected, 0);
    drop(miners);
}
