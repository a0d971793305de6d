//! Stats survive a restart; a damaged stats file is reported and ignored.
#![cfg(feature = "sim")]

mod common;

use common::wait_for;
use hashmux::sim::{MinerFlavour, SimMiner, SimMinerConfig, SimPool, SimPoolConfig};

fn config(pool: &SimPool, stats: &std::path::Path) -> hashmux::ops::config::Config {
    let json = format!(
        r#"{{"listen":"127.0.0.1:0","http":"",
            "pools":[{{"name":"p","url":"stratum+tcp://{}","user":"u"}}],
            "miners":{{"min_difficulty":0.000001,"start_difficulty":0.00002}},
            "stats":{{"file":"{}","save_interval_mins":60}}}}"#,
        pool.addr(),
        stats.display()
    );
    hashmux::ops::config::parse(json.as_bytes()).unwrap()
}

#[test]
fn test_restarted_proxy_keeps_pool_and_worker_totals() {
    let pool = SimPool::start(SimPoolConfig {
        name: "p".into(),
        difficulty: 0.0002,
        ..SimPoolConfig::default()
    })
    .unwrap();
    let file = std::env::temp_dir().join(format!("hashmux-stats-{}.dat", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let proxy = hashmux::runtime::spawn(config(&pool, &file)).unwrap();
    let miner = SimMiner::start(SimMinerConfig {
        addr: proxy.stratum_addr,
        user: "rig-7".into(),
        password: "x".into(),
        flavour: MinerFlavour::Cgminer,
        max_hashes_per_sec: 200_000,
        name: "rig-7".into(),
    });
    wait_for(30, "accepted shares", || {
        (proxy.snapshot()?.pools[0].shares.accepted >= 2).then_some(())
    });
    drop(miner);
    let before = wait_for(10, "miner gone", || {
        let s = proxy.snapshot()?;
        s.miners.is_empty().then_some(s)
    });
    proxy.stop(); // clean shutdown writes the file
    assert!(file.exists(), "stats file written on clean shutdown");

    let again = hashmux::runtime::spawn(config(&pool, &file)).unwrap();
    let after = again.snapshot().unwrap();
    assert_eq!(
        after.pools[0].shares, before.pools[0].shares,
        "pool totals restored"
    );
    let rig = after
        .workers
        .iter()
        .find(|(n, _)| n == "rig-7")
        .expect("worker totals restored");
    assert_eq!(
        rig.1.valid,
        before
            .workers
            .iter()
            .find(|(n, _)| n == "rig-7")
            .unwrap()
            .1
            .valid
    );
    again.stop();

    std::fs::write(
        &file,
        b"hashmux-stats 1\npool p 1 2 3\nend 0000000000000000\n",
    )
    .unwrap();
    let fresh = hashmux::runtime::spawn(config(&pool, &file)).unwrap();
    let s = fresh.snapshot().unwrap();
    assert_eq!(
        s.pools[0].shares.accepted, 0,
        "a damaged file is ignored: starts from zero"
    );
    wait_for(10, "still connects to its pool", || {
        (fresh.snapshot()?.pools[0].state == "live").then_some(())
    });
    fresh.stop();
    let _ = std::fs::remove_file(&file);
}
