//! The stats page as a browser renders it: headless Chromium loads `/` from a running proxy
//! (simulated pools and miners) at a phone's width (412 × 900) and a desktop's (1280 × 900);
//! screenshots are saved to `target/stats-page-412.png` and `target/stats-page-1280.png`.
//! Checked in the rendered page: nothing wider than the phone's screen (`scrollWidth ≤ 412`,
//! measured by a probe script the test adds to its own copy of the page — the page itself has
//! no JavaScript), the chart's legend names exactly the configured pools, and the status line
//! changes when a pool goes down. Needs Debian's `chromium`; `.ci/run` installs it and runs
//! this test explicitly (`cargo test --test page_chromium -- --ignored`).
#![cfg(feature = "sim")]

mod common;

use common::wait_for;
use hashmux::sim::{MinerFlavour, SimMiner, SimMinerConfig, SimPool, SimPoolConfig};
use std::io::{Read, Write};
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
    let http = proxy.http_addr.unwrap();
    let url = format!("http://{http}/");
    let dom = headless(&["--window-size=412,900", "--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("<h2>Pools</h2>"),
        "rendered page has the pools: {}",
        &dom[..dom.len().min(500)]
    );
    for text in ["alpha", "beta", "rig-one", "rig-two", "live"] {
        assert!(dom.contains(text), "rendered page shows {text}");
    }
    assert!(!dom.contains("hunter2-secret"), "no password on the page");
    assert!(
        status(&dom).contains("All fine"),
        "status with both pools live: {}",
        status(&dom)
    );
    // The legend: one swatch per configured pool, named.
    assert_eq!(
        dom.matches(r#"stroke-width="3""#).count(),
        2,
        "legend swatches"
    );
    assert!(dom.contains(">alpha</text>") && dom.contains(">beta</text>"));

    // Nothing wider than a phone. Headless Chromium lays a window out at least 500 px wide,
    // so the page as served is shown in a frame of exactly the width under test; the frame's
    // document reports its scroll width into the outer page once loaded.
    let page = get(http);
    assert!(page.len() <= 32 * 1024, "page is {} bytes", page.len());
    let dir = std::env::temp_dir().join(format!("hashmux-page-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("page.html"), &page).unwrap();
    for width in [412, 1280] {
        let outer = dir.join(format!("at-{width}.html"));
        std::fs::write(
            &outer,
            format!(
                "<!doctype html><html><body style=margin:0><iframe src=page.html width={width} height=900 style=border:0 onload=\"document.body.setAttribute('data-scroll-width',this.contentDocument.documentElement.scrollWidth)\"></iframe></body></html>"
            ),
        )
        .unwrap();
        let outer_url = format!("file://{}", outer.display());
        let window = format!("--window-size={width},900");
        let out = headless(&[
            "--allow-file-access-from-files",
            &window,
            "--dump-dom",
            &outer_url,
        ]);
        let dom = String::from_utf8_lossy(&out.stdout);
        let sw: u32 = dom
            .split("data-scroll-width=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("probe ran at {width} px: {}", &dom[..dom.len().min(300)]));
        assert!(
            sw <= width,
            "at {width} px the page is {sw} px wide: a sideways swipe"
        );
        let shot = format!(
            "{}/target/stats-page-{width}.png",
            env!("CARGO_MANIFEST_DIR")
        );
        let out = headless(&[
            "--allow-file-access-from-files",
            &window,
            &format!("--screenshot={shot}"),
            &outer_url,
        ]);
        let png = std::fs::read(&shot).unwrap_or_else(|e| {
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
    }
    let _ = std::fs::remove_dir_all(&dir);

    // A pool goes down: the status line says which, since when and why.
    b.set_down(true);
    wait_for(60, "beta seen down", || {
        let s = proxy.snapshot()?;
        (s.pool("beta")?.state != "live").then_some(())
    });
    let dom = headless(&["--window-size=412,900", "--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        status(&dom).contains("Pool beta") && status(&dom).contains("since"),
        "status with beta down: {}",
        status(&dom)
    );
    drop(miners);
}

/// The first status line's text in a rendered DOM.
fn status(dom: &str) -> &str {
    dom.split("id=\"status\">")
        .nth(1)
        .and_then(|r| r.split("</p>").next())
        .unwrap_or("")
}

/// The page as served (one HTTP/1.0 GET).
fn get(addr: std::net::SocketAddr) -> String {
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(b"GET / HTTP/1.0\r\nHost: 192.168.1.1\r\n\r\n")
        .unwrap();
    let mut r = String::new();
    c.read_to_string(&mut r).unwrap();
    let body = r.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    body.to_string()
}
