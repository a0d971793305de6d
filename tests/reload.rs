//! Config reload on a running proxy: split settings and weights change without dropping
//! miners; a broken file is refused and the running config stays.
#![cfg(feature = "sim")]

mod common;

use common::wait_for;
use hashmux::sim::{MinerFlavour, SimMiner, SimMinerConfig, SimPool, SimPoolConfig};

fn write_config(path: &std::path::Path, a: &SimPool, b: &SimPool, wa: u32, wb: u32, preset: &str) {
    let json = format!(
        r#"{{"listen":"127.0.0.1:0","http":"",
            "pools":[{{"name":"a","url":"stratum+tcp://{}","user":"u","weight":{wa}}},
                     {{"name":"b","url":"stratum+tcp://{}","user":"u","weight":{wb}}}],
            "miners":{{"min_difficulty":0.000001,"start_difficulty":0.00002}},
            "split":{{"preset":"{preset}","interval_secs":1}}}}"#,
        a.addr(),
        b.addr()
    );
    std::fs::write(path, json).unwrap();
}

#[test]
fn test_running_proxy_reload_changes_weights_and_keeps_miners() {
    let pool = |n: &str| {
        SimPool::start(SimPoolConfig {
            name: n.into(),
            difficulty: 0.0002,
            ..SimPoolConfig::default()
        })
        .unwrap()
    };
    let (a, b) = (pool("a"), pool("b"));
    let path = std::env::temp_dir().join(format!("hashmux-reload-{}.json", std::process::id()));
    write_config(&path, &a, &b, 70, 30, "balanced");
    let cfg = hashmux::ops::config::load(&path).unwrap();
    let proxy = hashmux::runtime::spawn_with_path(cfg, Some(path.clone())).unwrap();
    let miner = SimMiner::start(SimMinerConfig {
        addr: proxy.stratum_addr,
        user: "rig".into(),
        password: "x".into(),
        flavour: MinerFlavour::Cgminer,
        max_hashes_per_sec: 200_000,
        name: "rig".into(),
    });
    wait_for(20, "targets 70/30", || {
        let s = proxy.snapshot()?;
        (s.pools[0].split.target_ppm == 700_000 && s.pools[1].split.target_ppm == 300_000)
            .then_some(())
    });
    write_config(&path, &a, &b, 50, 50, "aggressive");
    proxy.reload();
    wait_for(20, "targets 50/50 after reload", || {
        let s = proxy.snapshot()?;
        (s.pools[0].split.target_ppm == 500_000
            && s.split.preset.map(|p| p.name()) == Some("aggressive"))
        .then_some(())
    });
    std::fs::write(&path, r#"{"pools": "#).unwrap();
    proxy.reload();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let s = proxy.snapshot().unwrap();
    assert_eq!(
        s.pools[0].split.target_ppm, 500_000,
        "a broken file keeps the running config"
    );
    assert_eq!(s.miners.len(), 1);
    assert_eq!(miner.stats().connects, 1, "the miner was never dropped");
    let _ = std::fs::remove_file(path);
}

#[test]
fn test_reload_adds_and_removes_pools_without_dropping_miners() {
    let pool = |n: &str| {
        SimPool::start(SimPoolConfig {
            name: n.into(),
            difficulty: 0.0002,
            ..SimPoolConfig::default()
        })
        .unwrap()
    };
    let (a, b, c) = (pool("a"), pool("b"), pool("c"));
    let path =
        std::env::temp_dir().join(format!("hashmux-reload-pools-{}.json", std::process::id()));
    let write = |pools: &[(&str, &SimPool, u32)]| {
        let list: Vec<String> = pools
            .iter()
            .map(|(n, p, w)| {
                format!(
                    r#"{{"name":"{n}","url":"stratum+tcp://{}","user":"u","weight":{w}}}"#,
                    p.addr()
                )
            })
            .collect();
        let json = format!(
            r#"{{"listen":"127.0.0.1:0","http":"","pools":[{}],
                "miners":{{"min_difficulty":0.000001,"start_difficulty":0.00002}},
                "split":{{"interval_secs":1,"min_dwell_secs":1,"hysteresis_secs":1}}}}"#,
            list.join(",")
        );
        std::fs::write(&path, json).unwrap();
    };
    write(&[("a", &a, 1), ("b", &b, 0)]);
    let proxy = hashmux::runtime::spawn_with_path(
        hashmux::ops::config::load(&path).unwrap(),
        Some(path.clone()),
    )
    .unwrap();
    let miner = SimMiner::start(SimMinerConfig {
        addr: proxy.stratum_addr,
        user: "rig".into(),
        password: "x".into(),
        flavour: MinerFlavour::Cgminer,
        max_hashes_per_sec: 200_000,
        name: "rig".into(),
    });
    wait_for(20, "miner on a", || {
        (proxy.snapshot()?.miners.first()?.pool.as_deref() == Some("a")).then_some(())
    });
    // Remove a, add c as the weighted pool.
    write(&[("b", &b, 0), ("c", &c, 1)]);
    proxy.reload();
    wait_for(20, "miner on c, a gone from the table", || {
        let s = proxy.snapshot()?;
        let names: Vec<&str> = s.pools.iter().map(|p| p.name.as_str()).collect();
        (names == ["b", "c"] && s.miners.first()?.pool.as_deref() == Some("c")).then_some(())
    });
    let c0 = c.stats().accepted;
    wait_for(30, "shares accepted by the added pool", || {
        (c.stats().accepted > c0).then_some(())
    });
    assert_eq!(a.stats().open, 0, "the removed pool's connection is closed");
    assert_eq!(miner.stats().connects, 1, "the miner was never dropped");
    let _ = std::fs::remove_file(path);
}
