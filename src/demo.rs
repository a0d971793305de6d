//! `hashmux demo`: two simulated pools and three simulated miners on 127.0.0.1 around a real
//! proxy, so a newcomer sees shares flowing, the stats page, and a failover (pool `a` is
//! taken down after 60 s and brought back 40 s later). Built only with the `sim` feature.

use crate::sim::{JobIdStyle, MinerFlavour, SimMiner, SimMinerConfig, SimPool, SimPoolConfig};
use std::time::{Duration, Instant};

/// Run the demo for `seconds` (forever if None).
pub fn run(seconds: Option<u64>) -> std::io::Result<()> {
    let pool_a = SimPool::start(SimPoolConfig {
        name: "a".into(),
        extranonce1_size: 4,
        extranonce2_size: 8,
        difficulty: 0.0005,
        job_interval_ms: 10_000,
        block_interval_ms: 60_000,
        job_id_style: JobIdStyle::Counter,
        ..SimPoolConfig::default()
    })?;
    let pool_b = SimPool::start(SimPoolConfig {
        name: "b".into(),
        extranonce1_size: 8,
        extranonce2_size: 4,
        difficulty: 0.0005,
        job_interval_ms: 10_000,
        block_interval_ms: 45_000,
        job_id_style: JobIdStyle::Counter,
        ..SimPoolConfig::default()
    })?;
    let listen = free_or_any(3333);
    let http = free_or_any(8080);
    let json = format!(
        r#"{{"listen":"{listen}","http":"{http}",
            "pools":[{{"name":"a","url":"stratum+tcp://{}","user":"demo.a","weight":70,"priority":1}},
                     {{"name":"b","url":"stratum+tcp://{}","user":"demo.b","weight":30,"priority":2}}],
            "miners":{{"max":16,"shares_per_min":20,"min_difficulty":0.00001,"start_difficulty":0.0001,"max_difficulty":1}},
            "failover":{{"job_timeout_secs":30,"backoff_min_ms":500,"backoff_max_ms":5000}},
            "split":{{"interval_secs":5,"window_intervals":24,"min_dwell_secs":10,"hysteresis_secs":15}}}}"#,
        pool_a.addr(),
        pool_b.addr()
    );
    let cfg = crate::ops::config::parse(json.as_bytes())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let proxy = crate::runtime::spawn(cfg)?;
    let url = format!("http://{}/", proxy.http_addr.expect("demo config has http"));
    println!(
        "\nhashmux demo: proxy for miners on {}, stats page at {url}\n",
        proxy.stratum_addr
    );
    let miners: Vec<SimMiner> = [
        ("avalon-nano3s", MinerFlavour::Nano3s),
        ("cgminer", MinerFlavour::Cgminer),
        ("cpuminer", MinerFlavour::Plain),
    ]
    .into_iter()
    .map(|(name, flavour)| {
        SimMiner::start(SimMinerConfig {
            addr: proxy.stratum_addr,
            user: name.into(),
            password: "x".into(),
            flavour,
            max_hashes_per_sec: 400_000,
            name: name.into(),
        })
    })
    .collect();
    let start = Instant::now();
    let mut phase = 0;
    loop {
        std::thread::sleep(Duration::from_secs(5));
        let t = start.elapsed().as_secs();
        if phase == 0 && t >= 60 {
            println!(
                "--- demo: taking pool a down; miners should move to pool b within a second ---"
            );
            pool_a.set_down(true);
            std::thread::sleep(Duration::from_secs(1));
            phase = 1;
        } else if phase == 1 && t >= 100 {
            println!("--- demo: pool a is back; miners should return to it ---");
            pool_a.set_down(false);
            std::thread::sleep(Duration::from_secs(2));
            phase = 2;
        }
        if let Some(s) = proxy.snapshot() {
            let pools: Vec<String> = s
                .pools
                .iter()
                .map(|p| {
                    format!(
                        "{}: {} target {}% measured {}% ({}, {} accepted, {} rejected)",
                        p.name,
                        p.state,
                        p.split.target_ppm / 10_000,
                        p.split.measured_ppm / 10_000,
                        crate::stats::count_of(p.miners, "miner"),
                        p.shares.accepted,
                        p.shares.rejected
                    )
                })
                .collect();
            let valid: u64 = s.miners.iter().map(|m| m.shares.valid).sum();
            println!(
                "[{t:>4}s] {} | miners' valid shares: {valid} | {url}",
                pools.join(" | ")
            );
        }
        if seconds.is_some_and(|limit| t >= limit) {
            break;
        }
    }
    let (a, b) = (pool_a.stats(), pool_b.stats());
    println!(
        "demo done: pool a accepted {} (rejected {}), pool b accepted {} (rejected {})",
        a.accepted, a.rejected, b.accepted, b.rejected
    );
    drop(miners);
    proxy.stop();
    Ok(())
}

/// `127.0.0.1:port` if it is free, else an ephemeral port.
fn free_or_any(port: u16) -> std::net::SocketAddr {
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l.local_addr().expect("bound"),
        Err(_) => "127.0.0.1:0".parse().expect("literal"),
    }
}
