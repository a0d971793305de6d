//! Bounded soak: 200 simulated miners at a high share rate against two simulated pools that
//! take turns going down, for HASHMUX_SOAK_SECS (default 600). Asserts that the proxy's
//! resident memory and heap stay flat after warm-up, that no table grows past its cap, and that
//! share accounting adds up at the end; prints the figures. Exits non-zero on a violation.
//!
//!     cargo bench --bench soak                     # 10 min, host build
//!     HASHMUX_SOAK_SECS=120 cargo bench --bench soak
//!     HASHMUX_BIN=target/x86_64-unknown-linux-musl/release/hashmux cargo bench --bench soak

use hashmux::sim::{ExternalProxy, Launch, MinerFlavour, SimMiner, SimPool, SimPoolConfig};
use std::time::{Duration, Instant};

const MINERS: usize = 200;
/// Pool a or b goes down for this long every other period.
const CHURN_SECS: u64 = 30;

struct Sample {
    at_s: u64,
    rss_kb: u64,
    heap: u64,
    miners: u64,
}

fn stats(proxy: &ExternalProxy) -> serde_json::Value {
    let (_, body) = proxy.http_get("/api/stats").expect("GET /api/stats");
    serde_json::from_str(&body).expect("stats JSON")
}

fn main() {
    let secs: u64 = std::env::var("HASHMUX_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let launch = Launch::from_env(env!("CARGO_BIN_EXE_hashmux"));
    let pool = |name: &str| {
        SimPool::start(SimPoolConfig {
            name: name.into(),
            difficulty: 0.0001,
            job_interval_ms: 2_000,
            block_interval_ms: 20_000,
            ..SimPoolConfig::default()
        })
        .expect("sim pool")
    };
    let (a, b) = (pool("a"), pool("b"));
    let (pa, pb) = (a.addr(), b.addr());
    let mut proxy = ExternalProxy::start(
        &launch,
        |s, h| {
            format!(
                r#"{{"listen":"{s}","http":"{h}",
                "pools":[{{"name":"a","url":"stratum+tcp://{pa}","user":"u","weight":60}},
                         {{"name":"b","url":"stratum+tcp://{pb}","user":"u","weight":40}}],
                "miners":{{"max":256,"max_per_address":256,"shares_per_min":600,"min_difficulty":1e-8,"start_difficulty":1e-7,"max_difficulty":1}},
                "failover":{{"job_timeout_secs":30,"backoff_min_ms":200,"backoff_max_ms":2000}},
                "split":{{"interval_secs":5,"min_dwell_secs":10,"hysteresis_secs":10}},"log_level":"warn"}}"#
            )
        },
        Duration::from_secs(60),
    )
    .expect("hashmux starts");
    println!("soak: {} for {secs} s, {MINERS} miners", launch.describe());
    let miners: Vec<SimMiner> = SimMiner::fleet(
        proxy.stratum,
        MINERS,
        &[
            MinerFlavour::Cgminer,
            MinerFlavour::Nano3s,
            MinerFlavour::Plain,
        ],
        4_000,
    );
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut churn = 0u64;
    while start.elapsed().as_secs() < secs {
        std::thread::sleep(Duration::from_secs(10));
        let t = start.elapsed().as_secs();
        let period = t / CHURN_SECS;
        if period != churn {
            churn = period;
            // Period 1: a down; 3: b down; even periods: both up.
            a.set_down(period % 4 == 1);
            b.set_down(period % 4 == 3);
        }
        let s = stats(&proxy);
        let sample = Sample {
            at_s: t,
            rss_kb: proxy.proc_status_kb("VmRSS").unwrap_or(0),
            heap: s["heap_bytes"].as_u64().unwrap_or(0),
            miners: s["miners"].as_array().map_or(0, |m| m.len() as u64),
        };
        println!(
            "  {:>4} s: RSS {} kB, heap {} KiB, {} miners",
            sample.at_s,
            sample.rss_kb,
            sample.heap / 1024,
            sample.miners
        );
        samples.push(sample);
    }
    a.set_down(false);
    b.set_down(false);
    let valid: u64 = miners.iter().map(|m| m.stats().accepted).sum();
    drop(miners);
    std::thread::sleep(Duration::from_secs(5));
    let end = stats(&proxy);
    let mut failures = Vec::new();
    // Flat after warm-up: the first quarter (at least 30 s) is warm-up.
    let warm = samples.len().div_ceil(4).max(3).min(samples.len());
    let base_rss = samples[..warm].iter().map(|s| s.rss_kb).max().unwrap_or(0);
    let base_heap = samples[..warm].iter().map(|s| s.heap).max().unwrap_or(0);
    let late_rss = samples[warm..]
        .iter()
        .map(|s| s.rss_kb)
        .max()
        .unwrap_or(base_rss);
    let late_heap = samples[warm..]
        .iter()
        .map(|s| s.heap)
        .max()
        .unwrap_or(base_heap);
    // Allowance: allocator slack and one more in-flight burst, not growth with time.
    if late_rss > base_rss + base_rss / 10 + 512 {
        failures.push(format!(
            "RSS grew after warm-up: {base_rss} kB → {late_rss} kB"
        ));
    }
    if late_heap > base_heap + base_heap / 10 + 256 * 1024 {
        failures.push(format!(
            "heap grew after warm-up: {base_heap} → {late_heap} bytes"
        ));
    }
    if samples.iter().any(|s| s.miners > 256) {
        failures.push("miner table above its cap".into());
    }
    for p in end["pools"].as_array().into_iter().flatten() {
        let sh = &p["shares"];
        let n = |k: &str| sh[k].as_u64().unwrap_or(0);
        if n("forwarded") != n("accepted") + n("rejected") + n("lost") {
            failures.push(format!("pool {} accounting: {sh}", p["name"]));
        }
    }
    println!(
        "soak result: {} miners, {valid} shares accepted by the proxy; RSS warm-up max {base_rss} kB, later max {late_rss} kB; heap warm-up max {} KiB, later max {} KiB; pool a accepted {}, b accepted {}",
        MINERS,
        base_heap / 1024,
        late_heap / 1024,
        a.stats().accepted,
        b.stats().accepted
    );
    // A graceful stop under load: SIGTERM, exit 0 (and heap profilers used as
    // HASHMUX_RUNNER get to write their report).
    let _ = proxy.signal("TERM");
    match proxy.wait_exit(Duration::from_secs(120)) {
        Some(0) => {}
        other => failures.push(format!("SIGTERM: exit {other:?}, expected 0")),
    }
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("soak FAILED: {f}");
        }
        std::process::exit(1);
    }
    println!("soak ok");
}
