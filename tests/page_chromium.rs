//! The stats page as a browser renders it: headless Chromium loads `/` from a running proxy
//! (simulated pools and miners), the rendered DOM is checked and a phone-sized screenshot is
//! saved to `target/stats-page.png`. Needs Debian's `chromium`; `.ci/run` installs it and runs
//! this test explicitly (`cargo test --test page_chromium -- --ignored`).
#![cfg(feature = "sim")]

mod common;

use common::wait_for;
use hashmux::sim::{MinerFlavour, SimMiner, SimMinerConfig, SimPool, SimPoolConfig};
use std::process::Command;

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("chromium is not installed (apt-get install chromium)")
}

fn headless(args: &[&str]) -> std::process::Output {
    let profile = std::env::temp_dir().join(format!("hashmux-chromium-{}", std::process::id()));
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args);
    let out = cmd.output().expect("run chromium");
    let _ = std::fs::remove_dir_all(profile);
    out
}

#[test]
#[ignore = "needs chromium; run by .ci/run"]
fn test_stats_page_renders_in_headless_chromium() {
    let pool = |n: &str| {
        SimPool::start(SimPoolConfig {
            name: n.into(),
            difficulty: 0.0002,
            ..SimPoolConfig::default()
        })
        .unwrap()
    };
    let (a, b) = (pool("alpha"), pool("beta"));
    let json = format!(
        r#"{{"listen":"127.0.0.1:0","http":"127.0.0.1:0",
            "pools":[{{"name":"alpha","url":"stratum+tcp://{}","user":"u","password":"hunter2-secret","weight":70}},
                     {{"name":"beta","url":"stratum+tcp://{}","user":"u","weight":30}}],
            "miners":{{"min_difficulty":0.000001,"start_difficulty":0.00002}},
            "split":{{"interval_secs":1,"min_dwell_secs":2,"hysteresis_secs":2}}}}"#,
        a.addr(),
        b.addr()
    );
    let proxy =
        hashmux::runtime::spawn(hashmux::ops::config::parse(json.as_bytes()).unwrap()).unwrap();
    let miners: Vec<SimMiner> = ["rig-one", "rig-two"]
        .iter()
        .map(|n| {
            SimMiner::start(SimMinerConfig {
                addr: proxy.stratum_addr,
                user: n.to_string(),
                password: "x".into(),
                flavour: MinerFlavour::Cgminer,
                max_hashes_per_sec: 150_000,
                name: n.to_string(),
            })
        })
        .collect();
    wait_for(30, "shares on both pools", || {
        let s = proxy.snapshot()?;
        (s.pools.iter().all(|p| p.shares.valid > 2)).then_some(())
    });
    let url = format!("http://{}/", proxy.http_addr.unwrap());
    let dom = headless(&["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("<h2>Pools</h2>"),
        "rendered page has the pools table: {}",
        &dom[..dom.len().min(500)]
    );
    for text in ["alpha", "beta", "rig-one", "rig-two", "live"] {
        assert!(dom.contains(text), "rendered page shows {text}");
    }
    assert!(!dom.contains("hunter2-secret"), "no password on the page");
    let shot = concat!(env!("CARGO_MANIFEST_DIR"), "/target/stats-page.png");
    let out = headless(&[
        "--window-size=412,1400",
        &format!("--screenshot={shot}"),
        &url,
    ]);
    let png = std::fs::read(shot).unwrap_or_else(|e| {
        panic!(
            "screenshot not written ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "a real screenshot ({} bytes)",
        png.len()
    );
    drop(miners);
}
