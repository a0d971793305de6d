//! Prometheus metrics of a running proxy: a simulated pool and miner, shares accepted, then
//! the text from `hashmux::http::metrics::render` checked line by line and written to
//! `<target>/metrics-sample.txt` for `.ci/check_metrics.py` (a real parser).
#![cfg(feature = "sim")]

mod common;

use common::wait_for;
use hashmux::sim::{MinerFlavour, SimMiner, SimMinerConfig, SimPool, SimPoolConfig};
use std::path::PathBuf;

/// True if `line` is `name value` or `name{label="value",...} value` in text format 0.0.4,
/// with a plain decimal value (what hashmux writes; no exponents, NaN or timestamps).
fn is_sample_line(line: &str) -> bool {
    let name_char = |c: char, first: bool| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit())
    };
    let label_char = |c: char, first: bool| {
        c.is_ascii_alphabetic() || c == '_' || (!first && c.is_ascii_digit())
    };
    let mut chars = line.chars().peekable();
    let mut first = true;
    while let Some(&c) = chars.peek() {
        if !name_char(c, first) {
            break;
        }
        first = false;
        chars.next();
    }
    if first {
        return false;
    }
    if chars.peek() == Some(&'{') {
        chars.next();
        loop {
            let mut first = true;
            while let Some(&c) = chars.peek() {
                if !label_char(c, first) {
                    break;
                }
                first = false;
                chars.next();
            }
            if first || chars.next() != Some('=') || chars.next() != Some('"') {
                return false;
            }
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('\\' | '"' | 'n') => {}
                        _ => return false,
                    },
                    Some('\n') | None => return false,
                    Some(_) => {}
                }
            }
            match chars.next() {
                Some(',') => continue,
                Some('}') => break,
                _ => return false,
            }
        }
    }
    if chars.next() != Some(' ') {
        return false;
    }
    let value: String = chars.collect();
    let digits = value.strip_prefix('-').unwrap_or(&value);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.chars().all(|c| c.is_ascii_digit())
}

#[test]
fn test_sample_line_checker_accepts_and_rejects() {
    for ok in [
        "a 1",
        "hashmux_x{pool=\"p\"} 0.700000",
        "a_b:c{x=\"q\\\"\\\\\\n\",y_2=\"\"} -12",
    ] {
        assert!(is_sample_line(ok), "{ok}");
    }
    for bad in [
        "",
        "1a 1",
        "a{x=\"1\"}",
        "a{x=1} 1",
        "a{x=\"1\" 1",
        "a{x=\"\\q\"} 1",
        "a  1",
        "a 1.",
        "a x",
        "a{=\"1\"} 1",
    ] {
        assert!(!is_sample_line(bad), "{bad}");
    }
}

fn sample_value(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn test_metrics_of_a_mining_proxy() {
    let pool = SimPool::start(SimPoolConfig {
        name: "p".into(),
        difficulty: 0.0002,
        ..SimPoolConfig::default()
    })
    .unwrap();
    let json = format!(
        r#"{{"listen":"127.0.0.1:0","http":"127.0.0.1:0",
            "pools":[{{"name":"p","url":"stratum+tcp://{}","user":"u","password":"secret-x"}}],
            "miners":{{"min_difficulty":0.000001,"start_difficulty":0.00002}}}}"#,
        pool.addr()
    );
    let cfg = hashmux::ops::config::parse(json.as_bytes()).expect("config parses");
    let proxy = hashmux::runtime::spawn(cfg).unwrap();
    let _miner = SimMiner::start(SimMinerConfig {
        addr: proxy.stratum_addr,
        user: "rig".into(),
        password: "x".into(),
        flavour: MinerFlavour::Cgminer,
        max_hashes_per_sec: 200_000,
        name: "rig".into(),
    });
    let snap = wait_for(30, "a share accepted by the pool", || {
        let s = proxy.snapshot()?;
        (s.pool("p")?.shares.accepted > 0 && !s.miners.is_empty()).then_some(s)
    });
    let text = hashmux::http::metrics::render(&snap);

    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is <target>/tmp")
        .to_path_buf();
    std::fs::create_dir_all(&target).unwrap();
    let sample = target.join("metrics-sample.txt");
    std::fs::write(&sample, &text).unwrap();
    println!("wrote {}", sample.display());

    assert!(
        text.lines().any(|l| l == r#"hashmux_pool_up{pool="p"} 1"#),
        "{text}"
    );
    let accepted = sample_value(
        &text,
        r#"hashmux_pool_shares_total{pool="p",verdict="accepted"}"#,
    );
    assert!(accepted.is_some_and(|n| n > 0), "{text}");
    assert!(
        text.lines().any(|l| l
            .starts_with(r#"hashmux_miner_shares_total{miner="rig",address="127.0.0.1:"#)
            && l.contains(r#"verdict="valid"} "#)),
        "{text}"
    );
    assert!(!text.contains("secret-x"), "pool password leaked");
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        assert!(is_sample_line(line), "not a sample line: {line:?}");
    }
}
