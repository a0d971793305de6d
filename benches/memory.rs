//! Resident memory of a hashmux process with 64 simulated miners and 4 simulated pools.
//!
//!     targets/build.sh x86_64-unknown-linux-musl
//!     HASHMUX_BIN=target/x86_64-unknown-linux-musl/release/hashmux cargo bench --bench memory
//!     HASHMUX_BIN=target/mipsel-unknown-linux-musl/release/hashmux \
//!       HASHMUX_RUNNER="qemu-mipsel -cpu 24Kc" cargo bench --bench memory
//!
//! Without HASHMUX_BIN it measures the host build. Prints the kernel's view of the process
//! (VmHWM/VmRSS; under qemu-user that is qemu plus the guest) and hashmux's own heap
//! accounting from `/api/stats` (exact for the guest architecture, emulated or not).
//! HASHMUX_BENCH_SECS sets the loaded phase (default 60).

use hashmux::sim::{
    ExternalProxy, Launch, MinerFlavour, SimMiner, SimMinerConfig, SimPool, SimPoolConfig,
};
use std::time::Duration;

const MINERS: usize = 64;
const POOLS: usize = 4;

fn heap(proxy: &ExternalProxy) -> (u64, u64, u64) {
    let (_, body) = proxy.http_get("/api/stats").expect("GET /api/stats");
    let v: serde_json::Value = serde_json::from_str(&body).expect("stats JSON");
    let miners = v["miners"].as_array().map_or(0, |m| m.len() as u64);
    (
        v["heap_bytes"].as_u64().unwrap_or(0),
        v["heap_peak_bytes"].as_u64().unwrap_or(0),
        miners,
    )
}

fn kb(proxy: &ExternalProxy, key: &str) -> String {
    proxy
        .proc_status_kb(key)
        .map_or("?".into(), |v| format!("{v} kB"))
}

fn main() {
    let secs: u64 = std::env::var("HASHMUX_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let launch = Launch::from_env(env!("CARGO_BIN_EXE_hashmux"));
    let pools: Vec<SimPool> = (0..POOLS)
        .map(|i| {
            SimPool::start(SimPoolConfig {
                name: format!("p{i}"),
                extranonce1_size: 4,
                extranonce2_size: 8,
                difficulty: 0.00001,
                job_interval_ms: 2_000,
                block_interval_ms: 30_000,
                coinb2_extra_bytes: 200,
                ..SimPoolConfig::default()
            })
            .expect("sim pool")
        })
        .collect();
    let list: Vec<String> = pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                r#"{{"name":"p{i}","url":"stratum+tcp://{}","user":"acct.p{i}","weight":{},"priority":{}}}"#,
                p.addr(),
                [40, 30, 20, 10][i],
                i + 1
            )
        })
        .collect();
    let list = list.join(",");
    let proxy = ExternalProxy::start(
        &launch,
        |s, h| {
            format!(
                r#"{{"listen":"{s}","http":"{h}","pools":[{list}],
                "miners":{{"max":{MINERS},"max_per_address":{MINERS},"shares_per_min":20,"min_difficulty":1e-8,"start_difficulty":1e-6,"max_difficulty":1}},
                "split":{{"interval_secs":5,"min_dwell_secs":10,"hysteresis_secs":10}},"log_level":"warn"}}"#
            )
        },
        Duration::from_secs(60),
    )
    .expect("hashmux starts");
    std::thread::sleep(Duration::from_secs(5));
    println!("memory: {}", launch.describe());
    let (h, hp, _) = heap(&proxy);
    println!(
        "  idle, {POOLS} pools, 0 miners: VmRSS {}, heap {} KiB (peak {} KiB)",
        kb(&proxy, "VmRSS"),
        h / 1024,
        hp / 1024
    );
    let miners: Vec<SimMiner> = (0..MINERS)
        .map(|i| {
            SimMiner::start(SimMinerConfig {
                addr: proxy.stratum,
                user: format!("rig{i:02}"),
                password: "x".into(),
                flavour: [
                    MinerFlavour::Nano3s,
                    MinerFlavour::Cgminer,
                    MinerFlavour::Plain,
                ][i % 3],
                max_hashes_per_sec: 2_000,
                name: format!("rig{i:02}"),
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    let (h, hp, connected) = heap(&proxy);
    let shares: u64 = miners.iter().map(|m| m.stats().accepted).sum();
    let accepted: u64 = pools.iter().map(|p| p.stats().accepted).sum();
    println!(
        "  {connected} miners, {POOLS} pools, {secs} s ({shares} shares accepted by the proxy, {accepted} by the pools): VmHWM {}, VmRSS {}, heap {} KiB (peak {} KiB)",
        kb(&proxy, "VmHWM"),
        kb(&proxy, "VmRSS"),
        h / 1024,
        hp / 1024
    );
    drop(miners);
}
