//! Prometheus metrics of a running proxy: a simulated pool that accepts then rejects shares,
//! a pool that is down, two miners; the text from `hashmux::http::metrics::render` (with the
//! process's own figures) checked line by line and written to `<target>/metrics-sample.txt`
//! for `.ci/check_metrics.py` (a real parser) and `promtool check metrics` (in `.ci/run`).
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

/// A local address nothing listens on (bound, then released): a pool that is always down.
fn closed_addr() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[test]
fn test_running_proxy_pool_rejects_sample_has_every_family() {
    let pool = SimPool::start(SimPoolConfig {
        name: "p".into(),
        difficulty: 0.0002,
        ..SimPoolConfig::default()
    })
    .unwrap();
    let json = format!(
        r#"{{"listen":"127.0.0.1:0","http":"127.0.0.1:0",
            "pools":[{{"name":"p","url":"stratum+tcp://{}","user":"u","password":"secret-x"}},
                     {{"name":"down","url":"stratum+tcp://{}","user":"u","password":"x"}}],
            "miners":{{"min_difficulty":0.000001,"start_difficulty":0.00002}}}}"#,
        pool.addr(),
        closed_addr()
    );
    let cfg = hashmux::ops::config::parse(json.as_bytes()).expect("config parses");
    let proxy = hashmux::runtime::spawn(cfg).unwrap();
    let _miners: Vec<SimMiner> = ["rig", "rig2"]
        .into_iter()
        .map(|name| {
            SimMiner::start(SimMinerConfig {
                addr: proxy.stratum_addr,
                user: name.into(),
                password: "x".into(),
                flavour: MinerFlavour::Cgminer,
                max_hashes_per_sec: 200_000,
                name: name.into(),
            })
        })
        .collect();
    wait_for(30, "a share accepted by the pool", || {
        let s = proxy.snapshot()?;
        (s.pool("p")?.shares.accepted > 0).then_some(())
    });
    pool.set_reject_submits(true);
    let snap = wait_for(30, "a share rejected, both miners working", || {
        let s = proxy.snapshot()?;
        (s.pool("p")?.shares.rejected > 0
            && s.miners.len() == 2
            && s.miners.iter().all(|m| m.shares.valid > 0))
        .then_some(s)
    });
    let text =
        hashmux::http::metrics::render(&snap, &hashmux::stats::process::ProcessStats::read());

    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is <target>/tmp")
        .to_path_buf();
    std::fs::create_dir_all(&target).unwrap();
    let sample = target.join("metrics-sample.txt");
    std::fs::write(&sample, &text).unwrap();
    println!("wrote {}", sample.display());

    let has = |l: &str| text.lines().any(|x| x == l);
    assert!(has(r#"hashmux_pool_up{pool="p"} 1"#), "{text}");
    assert!(has(r#"hashmux_pool_up{pool="down"} 0"#), "{text}");
    let accepted = sample_value(
        &text,
        r#"hashmux_pool_shares_total{pool="p",verdict="accepted"}"#,
    );
    assert!(accepted.is_some_and(|n| n > 0), "{text}");
    let rejected = sample_value(
        &text,
        r#"hashmux_pool_shares_total{pool="p",verdict="rejected"}"#,
    );
    assert!(rejected.is_some_and(|n| n > 0), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with(
            r#"hashmux_pool_rejects_total{pool="p",reason="rejected for the test"} "#
        )),
        "{text}"
    );
    for worker in ["rig", "rig2"] {
        let valid = sample_value(
            &text,
            &format!(r#"hashmux_miner_shares_valid_total{{worker="{worker}"}}"#),
        );
        assert!(valid.is_some_and(|n| n > 0), "{worker}: {text}");
        assert_eq!(
            sample_value(
                &text,
                &format!(r#"hashmux_miner_connections{{worker="{worker}"}}"#)
            ),
            Some(1),
            "{text}"
        );
    }
    assert!(!text.contains("127.0.0.1"), "an address in a label: {text}");
    if std::path::Path::new("/proc/self/stat").exists() {
        for name in [
            "process_start_time_seconds ",
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
        ] {
            assert!(text.lines().any(|l| l.starts_with(name)), "{name}: {text}");
        }
    }
    assert!(!text.contains("secret-x"), "pool password leaked");
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        assert!(is_sample_line(line), "not a sample line: {line:?}");
    }
    // The sample exercises every family, so promtool and the parser see each one filled in.
    for family in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = family.split(' ').next().unwrap();
        let filled = text.lines().any(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        });
        let optional =
            name.starts_with("process_") && !std::path::Path::new("/proc/self/stat").exists();
        assert!(filled || optional, "family {name} has no sample:\n{text}");
    }
}
