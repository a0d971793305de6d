//! The web surface over real loopback HTTP: stats page, JSON API, health, bad requests.
#![cfg(feature = "sim")]

mod common;

use common::{config, wait_for};
use hashmux::sim::{SimPool, SimPoolConfig};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn http(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    let status = body.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, body)
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
}

#[test]
fn test_http_pages_show_pools_and_hide_passwords() {
    let p = SimPool::start(SimPoolConfig {
        name: "p".into(),
        ..SimPoolConfig::default()
    })
    .unwrap();
    let proxy = hashmux::runtime::spawn(config(&[("p", p.addr(), 1)], 8)).unwrap();
    let web = proxy.http_addr.unwrap();
    wait_for(10, "healthz 200", || {
        (get(web, "/healthz").0 == 200).then_some(())
    });
    let (status, api) = get(web, "/api/stats");
    assert_eq!(status, 200);
    let json = &api[api.find("\r\n\r\n").unwrap() + 4..];
    let v: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
    assert_eq!(v["pools"][0]["name"], "p");
    assert_eq!(v["pools"][0]["state"], "live");
    // As the README promises: worker totals and the split history, work in a precise unit.
    assert!(v["workers"].is_array(), "{json}");
    assert_eq!(v["history"]["interval_s"], 60);
    assert_eq!(v["history"]["pools"][0]["name"], "p");
    assert!(v["history"]["pools"][0]["actual_permille"].is_array());
    assert!(v["pools"][0]["shares"]["work_valid_diff1_shares"].is_number());
    let (status, page) = get(web, "/");
    assert_eq!(status, 200);
    assert!(page.contains("<h2>Pools</h2>") && page.contains(">p<"));
    for body in [&api, &page] {
        assert!(!body.contains("secret-p"), "password leaked");
    }
    let (status, metrics) = get(web, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("text/plain; version=0.0.4")
            && metrics.contains("hashmux_pool_up{pool=\"p\"} 1")
    );
    assert!(
        !metrics.contains("secret-p"),
        "password leaked into metrics"
    );
    assert_eq!(get(web, "/nope").0, 404);
    // No files are ever served, however the path is spelled.
    for path in [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "//etc/passwd",
        "/api/../../../etc/passwd",
    ] {
        let (status, body) = get(web, path);
        assert_eq!(status, 404, "{path}");
        assert!(!body.contains("root:"), "{path} served a file");
    }
    let off = http(
        web,
        b"POST /api/split HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    )
    .0;
    assert_eq!(off, 403, "control API is off without a configured token");
    assert_eq!(
        http(web, b"PUT / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").0,
        405
    );
    assert_eq!(http(web, b"\x00\x01garbage\r\n\r\n").0, 400);
}

#[test]
fn test_http_slow_client_does_not_block_others() {
    let p = SimPool::start(SimPoolConfig {
        name: "p".into(),
        ..SimPoolConfig::default()
    })
    .unwrap();
    let proxy = hashmux::runtime::spawn(config(&[("p", p.addr(), 1)], 8)).unwrap();
    let web = proxy.http_addr.unwrap();
    let mut stalled = TcpStream::connect(web).unwrap();
    stalled.write_all(b"GET / HT").unwrap();
    assert_eq!(
        get(web, "/api/stats").0,
        200,
        "answered while another client stalls"
    );
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        stalled.read(&mut buf).unwrap_or(0),
        0,
        "the stalled client is dropped after its timeout"
    );
}

#[test]
fn test_healthz_without_live_pool_is_503() {
    // A pool address nothing listens on.
    let dead: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = hashmux::runtime::spawn(config(&[("p", dead, 1)], 8)).unwrap();
    assert_eq!(get(proxy.http_addr.unwrap(), "/healthz").0, 503);
}
