//! Control endpoints over real loopback HTTP: token required, same effect as a reload.
#![cfg(feature = "sim")]

mod common;

use common::wait_for;
use hashmux::sim::{MinerFlavour, SimMiner, SimPool, SimPoolConfig};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const TOKEN: &str = "correct-horse-battery";

fn post(addr: SocketAddr, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    send_post(addr, path, "x", &auth, body)
}

/// One `POST` with `Host: host` and the `headers` lines (each ending in CRLF): the status code
/// and the whole answer.
fn send_post(addr: SocketAddr, path: &str, host: &str, headers: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    (
        out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0),
        out,
    )
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn test_control_api_with_token_changes_split_weights_and_pools() {
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
        r#"{{"listen":"127.0.0.1:0","http":"127.0.0.1:0","api_token":"{TOKEN}",
            "pools":[{{"name":"a","url":"stratum+tcp://{}","user":"u","weight":70}},
                     {{"name":"b","url":"stratum+tcp://{}","user":"u","weight":30}}],
            "miners":{{"min_difficulty":0.000001,"start_difficulty":0.00002}},
            "split":{{"interval_secs":1,"min_dwell_secs":1,"hysteresis_secs":1}}}}"#,
        a.addr(),
        b.addr()
    );
    let proxy =
        hashmux::runtime::spawn(hashmux::ops::config::parse(json.as_bytes()).unwrap()).unwrap();
    let web = proxy.http_addr.unwrap();
    let miners: Vec<SimMiner> =
        SimMiner::fleet(proxy.stratum_addr, 2, &[MinerFlavour::Cgminer], 100_000);
    wait_for(20, "both pools live", || {
        proxy
            .snapshot()?
            .pools
            .iter()
            .all(|p| p.state == "live")
            .then_some(())
    });

    assert_eq!(
        post(web, "/api/weights", None, r#"{"a":1}"#).0,
        401,
        "no token"
    );
    assert_eq!(
        post(
            web,
            "/api/weights",
            Some("correct-horse-battery!"),
            r#"{"a":1}"#
        )
        .0,
        401,
        "wrong token"
    );
    assert_eq!(
        post(web, "/api/weights", Some("correct-horse"), r#"{"a":1}"#).0,
        401,
        "prefix of the token"
    );

    let (st, body) = post(web, "/api/weights", Some(TOKEN), r#"{"a":50,"b":50}"#);
    assert_eq!(st, 200, "{body}");
    wait_for(10, "targets 50/50", || {
        (proxy.snapshot()?.pools[0].split.target_ppm == 500_000).then_some(())
    });
    let (st, body) = post(web, "/api/weights", Some(TOKEN), r#"{"zz":5}"#);
    assert_eq!(st, 400);
    assert!(body.contains("no pool named"), "{body}");

    let (st, body) = post(
        web,
        "/api/split",
        Some(TOKEN),
        r#"{"preset":"aggressive","interval_secs":1}"#,
    );
    assert_eq!(st, 200, "{body}");
    assert!(get(web, "/api/stats").contains(r#""preset":"aggressive""#));
    let (st, body) = post(web, "/api/split", Some(TOKEN), r#"{"preset":"fast"}"#);
    assert_eq!(st, 400);
    assert!(
        body.contains("split.preset"),
        "error names the field: {body}"
    );

    let (st, _) = post(web, "/api/pools/b/disable", Some(TOKEN), "");
    assert_eq!(st, 200);
    wait_for(10, "every miner on a", || {
        let s = proxy.snapshot()?;
        (s.miners.len() == 2 && s.miners.iter().all(|m| m.pool.as_deref() == Some("a")))
            .then_some(())
    });
    assert_eq!(post(web, "/api/pools/b/enable", Some(TOKEN), "").0, 200);
    assert_eq!(post(web, "/api/pools/nope/enable", Some(TOKEN), "").0, 404);
    for page in [get(web, "/api/stats"), get(web, "/")] {
        assert!(!page.contains(TOKEN), "token leaked");
    }
    drop(miners);
}

/// A form post as a browser sends it: `extra` headers (Origin, Sec-Fetch-Site) and a
/// urlencoded body.
fn post_form(addr: SocketAddr, path: &str, extra: &str, body: &str) -> (u16, String) {
    let headers = format!("{extra}Content-Type: application/x-www-form-urlencoded\r\n");
    send_post(addr, path, &addr.to_string(), &headers, body)
}

#[test]
fn test_page_forms_with_token_apply_and_other_sites_are_refused() {
    let pool = |n: &str| {
        SimPool::start(SimPoolConfig {
            name: n.into(),
            ..SimPoolConfig::default()
        })
        .unwrap()
    };
    let (a, b) = (pool("a"), pool("b b"));
    let json = format!(
        r#"{{"listen":"127.0.0.1:0","http":"127.0.0.1:0","api_token":"{TOKEN}",
            "pools":[{{"name":"a","url":"stratum+tcp://{}","user":"u","weight":70}},
                     {{"name":"b b","url":"stratum+tcp://{}","user":"u","weight":30}}]}}"#,
        a.addr(),
        b.addr()
    );
    let proxy =
        hashmux::runtime::spawn(hashmux::ops::config::parse(json.as_bytes()).unwrap()).unwrap();
    let web = proxy.http_addr.unwrap();
    let weights = || {
        let s = proxy.snapshot().unwrap();
        (s.pool("a").unwrap().weight, s.pool("b b").unwrap().weight)
    };

    // The page offers the controls, never the token itself.
    let page = get(web, "/");
    for shown in [
        "name='weight.a'",
        "name='weight.b%20b'",
        "formaction='/api/pools/b%20b/disable'",
        "formaction=/api/split",
        "<option selected>balanced</option>",
    ] {
        assert!(page.contains(shown), "page has {shown}");
    }
    assert!(!page.contains(TOKEN));

    let origin = format!("Origin: http://{web}\r\n");
    let body = format!("weight.a=1&weight.b%20b=3&token={TOKEN}");
    // Another site's page: refused before the token is looked at, nothing changes.
    let (code, out) = post_form(
        web,
        "/api/weights",
        "Origin: http://evil.example\r\n",
        &body,
    );
    assert_eq!(code, 403, "{out}");
    assert!(out.contains("another site"));
    let (code, _) = post_form(web, "/api/weights", "Sec-Fetch-Site: cross-site\r\n", &body);
    assert_eq!(code, 403);
    assert_eq!(weights(), (70, 30));
    // A wrong token: told on a page with the way back.
    let (code, out) = post_form(web, "/api/weights", &origin, "weight.a=1&token=nope");
    assert_eq!(code, 401);
    assert!(out.contains("missing or wrong token") && out.contains("href=/"));
    assert_eq!(weights(), (70, 30));
    // The right token from the page itself: applied, and back to the page.
    let (code, out) = post_form(web, "/api/weights", &origin, &body);
    assert_eq!(code, 303, "{out}");
    assert!(out.contains("Location: /\r\n"));
    assert_eq!(weights(), (1, 3));
    // The same form's other buttons: a preset, a pool off (its name encoded in the path).
    let (code, _) = post_form(
        web,
        "/api/split",
        &origin,
        &format!("weight.a=1&preset=conservative&token={TOKEN}"),
    );
    assert_eq!(code, 303);
    let s = proxy.snapshot().unwrap();
    assert_eq!(s.split.preset.map(|p| p.name()), Some("conservative"));
    let (code, _) = post_form(
        web,
        "/api/pools/b%20b/disable",
        "",
        &format!("token={TOKEN}"),
    );
    assert_eq!(
        code, 303,
        "no Origin (an older browser, curl): the token decides"
    );
    assert!(proxy.snapshot().unwrap().pool("b b").unwrap().disabled);
    let (code, out) = post_form(
        web,
        "/api/split",
        &origin,
        &format!("preset=wild&token={TOKEN}"),
    );
    assert_eq!(code, 400);
    assert!(out.contains("wild"), "{out}");
}
