//! The page on its own: numbers as a person reads them, the status line in each situation,
//! nothing the owner must not see.

use super::*;
use crate::core::split::pid::PoolTerms;

fn pool(name: &str, state: &'static str, target_ppm: i64, measured_ppm: i64) -> PoolSnap {
    let shares = ShareCounters {
        accepted: 10,
        ..Default::default()
    };
    PoolSnap {
        name: name.into(),
        address: format!("{name}.example:3333"),
        state,
        protocol: "sv1",
        encrypted: false,
        priority: 0,
        weight: 70,
        difficulty: Difficulty::parse("16384").unwrap(),
        extranonce2_size: 4,
        version_mask: None,
        shares,
        rejects: vec![("Job not found".into(), 2)],
        connects: 1,
        last_error: if state == "live" {
            String::new()
        } else {
            "connect failed: connection refused".into()
        },
        last_job_age_ms: Some(4_000),
        last_share_age_ms: None,
        state_age_ms: 12 * 60_000,
        user: "bc1qowner.rig".into(),
        disabled: false,
        rtt_ms: 40,
        miners: 1,
        actual_24h_permille: Some(699),
        split: PoolTerms {
            target_ppm,
            measured_ppm,
            ..Default::default()
        },
    }
}

fn miner(worker: &str, pool: &str, last_share_age_ms: Option<u64>) -> MinerSnap {
    MinerSnap {
        id: 1,
        worker: worker.into(),
        agent: "cgminer/4.11".into(),
        protocol: "sv1",
        addr: "192.168.1.20:40000".parse().unwrap(),
        tag: "0001".into(),
        extranonce2_size: 4,
        pool: Some(pool.into()),
        difficulty: Difficulty::parse("0.0005000001"),
        shares: ShareCounters {
            valid: 12,
            ..Default::default()
        },
        connected_ms: 3_600_000,
        last_share_age_ms,
        best_share: Difficulty::parse("1234567"),
        switches: 0,
        bytes_in: 0,
        bytes_out: 0,
        hashrate_5m: 1_234_000_000_000,
        hashrate_1h: 1_200_000_000_000,
        sparkline: [
            None,
            None,
            Some(0),
            Some(1_000),
            Some(3_000),
            Some(2_000),
            Some(2_000),
            Some(2_000),
            Some(2_000),
            Some(2_000),
            Some(2_000),
            Some(4_000),
        ],
        hashrate: 1_200_000_000_000,
    }
}

fn snapshot(pools: Vec<PoolSnap>, miners: Vec<MinerSnap>) -> Snapshot {
    Snapshot {
        version: "1.2.3",
        uptime_ms: 7_200_000,
        heap_bytes: 300_000,
        heap_peak_bytes: 400_000,
        pools,
        miners,
        refused: 0,
        split: crate::core::split::SplitConfig::default(),
        workers: Vec::new(),
        departed: ShareCounters::default(),
        sv2: None,
        stratum_port: 3333,
        control: false,
    }
}

fn view() -> View<'static> {
    View {
        host: Some("192.168.1.1"),
        // 2026-12-02 14:14:00 UTC
        now_unix: 1_796_220_840,
    }
}

/// The status lines' text.
fn status_lines(html: &str) -> Vec<&str> {
    html.split("<p class='st ")
        .skip(1)
        .map(|p| &p[..p.find("</p>").unwrap()])
        .collect()
}

#[test]
fn test_units_hashrate_scaled_three_digits() {
    assert_eq!(hashrate(0), "0 H/s");
    assert_eq!(hashrate(999), "999 H/s");
    assert_eq!(hashrate(12_345), "12.3 kH/s");
    assert_eq!(hashrate(1_234_567), "1.23 MH/s");
    assert_eq!(hashrate(6_000_000_000_000), "6 TH/s");
    assert_eq!(hashrate(450_000_000_000_000_000), "450 PH/s");
}

#[test]
fn test_units_difficulty_without_float_artefacts() {
    let d = |s| difficulty(Difficulty::parse(s).unwrap());
    assert_eq!(d("0.0005000001"), "0.0005");
    assert_eq!(d("0.00123456"), "0.00123");
    assert_eq!(d("1"), "1");
    assert_eq!(d("512"), "512");
    assert_eq!(d("16384"), "16.4k");
    assert_eq!(d("4000000000"), "4G");
}

#[test]
fn test_units_work_of_a_small_miner_is_not_zero() {
    // Three shares at difficulty 0.001: 12.9 million hashes, which whole difficulty units
    // showed as 0.
    let w = 3 * Difficulty::parse("0.001").unwrap().0 as u128;
    assert_eq!(work(w), "12.9 MH");
}

#[test]
fn test_units_ages_in_words() {
    assert_eq!(ago(300), "just now");
    assert_eq!(ago(12_000), "12 s ago");
    assert_eq!(ago(180_000), "3 min ago");
    assert_eq!(ago(2 * 3_600_000 + 5 * 60_000), "2 h 5 min ago");
    assert_eq!(clock(1_796_220_840), "14:14");
    assert_eq!(count(1, "miner", "miners"), "1 miner");
    assert_eq!(count(2, "miner", "miners"), "2 miners");
}

#[test]
fn test_status_all_fine() {
    let s = snapshot(
        vec![pool("main", "live", 700_000, 701_000)],
        vec![miner("rig1", "main", Some(5_000))],
    );
    let html = render(&s, "", &view());
    let lines = status_lines(&html);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("ok' id=status>All fine: 1 miner on 1 pool live, 1.23 TH/s."));
    assert!(html.contains("<b class=on>on target</b>"));
}

#[test]
fn test_status_pool_down_says_since_when_and_why() {
    let s = snapshot(
        vec![
            pool("main", "live", 700_000, 900_000),
            pool("backup", "down", 300_000, 100_000),
        ],
        vec![miner("rig1", "main", Some(5_000))],
    );
    let html = render(&s, "", &view());
    let lines = status_lines(&html);
    assert_eq!(
        lines,
        ["warn' id=status>Pool backup down since 14:02 UTC (12 min ago): connect failed: connection refused"]
    );
    assert!(html.contains("<b class=off>off by 20.0 pp</b>"));
}

#[test]
fn test_status_no_pool_live_is_bad() {
    let s = snapshot(vec![pool("main", "down", 1_000_000, 0)], Vec::new());
    let html = render(&s, "", &view());
    let lines = status_lines(&html);
    assert!(
        lines[0].starts_with("bad' id=status>No pool is live"),
        "{lines:?}"
    );
    assert!(lines[1].starts_with("bad' id=status>Pool main down since"));
}

#[test]
fn test_status_no_miners_says_where_to_point_them() {
    let mut s = snapshot(vec![pool("main", "live", 1_000_000, 0)], Vec::new());
    s.sv2 = Some(crate::stats::snapshot::Sv2Listener {
        listen: "0.0.0.0:3336".into(),
        authority_key: "9bXeg4wH".into(),
    });
    let html = render(&s, "", &view());
    let lines = status_lines(&html);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].contains("<code>stratum+tcp://192.168.1.1:3333</code>")
            && lines[0].contains("<code>stratum2+tcp://192.168.1.1:3336</code>"),
        "{}",
        lines[0]
    );
    assert!(html.contains("No miner connected."));
}

#[test]
fn test_status_stale_miner_highlighted() {
    let s = snapshot(
        vec![pool("main", "live", 1_000_000, 1_000_000)],
        vec![miner("rig1", "main", Some(15 * 60_000))],
    );
    let html = render(&s, "", &view());
    assert_eq!(
        status_lines(&html),
        ["warn' id=status>Miner rig1 has sent no valid share for 15 min."]
    );
    assert!(html.contains("<dd class='down'>15 min ago</dd>"));
}

#[test]
fn test_page_escapes_and_shows_pool_details() {
    let mut p = pool("<b>x", "live", 1_000_000, 1_000_000);
    p.last_error = "pool said <script>".into();
    let html = render(&snapshot(vec![p], Vec::new()), "", &view());
    assert!(!html.contains("<b>x") && html.contains("&lt;b&gt;x"));
    assert!(!html.contains("<script>"));
    for shown in [
        "bc1qowner.rig",
        "&lt;b&gt;x.example:3333",
        "Job not found × 2",
        "pool said &lt;script&gt;",
        "16.4k",
        "69.9 %",
    ] {
        assert!(html.contains(shown), "{shown}");
    }
}

#[test]
fn test_page_for_a_typical_router_is_small() {
    let pools = (0..4)
        .map(|i| pool(&format!("pool{i}"), "live", 250_000, 250_000))
        .collect();
    let miners = (0..16)
        .map(|i| {
            miner(
                &format!("bc1qexampleexampleexample.rig{i}"),
                "pool0",
                Some(1_000),
            )
        })
        .collect();
    let html = render(&snapshot(pools, miners), &"x".repeat(6_000), &view());
    assert!(html.len() <= 32 * 1024, "{} bytes", html.len());
}

#[test]
fn test_sparkline_scaled_to_its_peak_gaps_before_connect_left_out() {
    let svg = sparkline(&miner("rig1", "main", None).sparkline);
    // Ten points (two slots before it connected), the peak at the top, zero at the bottom.
    let points = svg
        .split("points='")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let pts: Vec<&str> = points.split(' ').collect();
    assert_eq!(pts.len(), 10, "{svg}");
    assert_eq!(pts[0], "10,15");
    assert_eq!(pts[9], "55,1");
    assert!(svg.starts_with("<svg width=60 height=16"));
}

#[test]
fn test_miner_best_share_this_session_and_ever() {
    let mut s = snapshot(
        vec![pool("main", "live", 1_000_000, 1_000_000)],
        vec![miner("rig1", "main", Some(1_000))],
    );
    let ever = ShareCounters {
        valid: 40,
        best: Difficulty::parse("5000000").unwrap().0,
        ..Default::default()
    };
    s.workers = vec![("rig1".into(), ever)];
    let html = render(&s, "", &view());
    assert!(
        html.contains("1.23M this session · 5M ever"),
        "best shares shown"
    );
    assert!(html.contains("12 valid this session (40 since first start)"));
}
