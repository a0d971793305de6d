//! Prometheus text exposition (format 0.0.4) of a [`Snapshot`]: [`render`] only, no I/O.
//!
//! What it owns: the metric names, their HELP texts and types, and how each snapshot field
//! becomes a sample. Every name starts with `hashmux_`; counters end in `_total`.
//!
//! Invariants:
//! - One family per metric name: each name is written once, as `# HELP`, then `# TYPE`,
//!   then all of its samples together (one per pool, miner or label combination). A family
//!   may have no samples (no pools or miners yet, or an optional value that is unknown).
//! - Label values are escaped (`\\`, `\"`, `\n`), so pool reject reasons and worker names
//!   sent by strangers cannot break a line or forge a sample.
//! - Values are integers, except difficulties (the exact decimal of [`Difficulty`]'s
//!   `Display`) and the split ratios (ppm written as a decimal with six fractional digits by
//!   integer formatting). No floating point is used.
//! - Work is exported in hashes (difficulty × 2^32, the snapshot's own unit), so
//!   `rate(hashmux_miner_work_valid_total[5m])` is a hashrate in H/s.
//! - Nothing from the config beyond what the snapshot carries: the snapshot has no pool
//!   users or passwords, and nothing here adds any.
//!
//! [`Difficulty`]: crate::work::Difficulty

use crate::stats::{MinerSnap, PoolSnap, ShareCounters, Snapshot};
use std::fmt::{self, Display, Write};

/// The Content-Type a scraper expects for this text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// Share verdicts exported per pool (a subset of [`ShareCounters::NAMES`]; a miner exports
/// them all).
const POOL_VERDICTS: [&str; 7] = [
    "submitted",
    "valid",
    "forwarded",
    "accepted",
    "rejected",
    "stale",
    "lost",
];

/// A ppm value shown as a ratio: `700000` → `0.700000`, `-5000` → `-0.005000`.
struct Ratio(i64);

impl Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let v = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:06}", v / 1_000_000, v % 1_000_000)
    }
}

/// The text being built, and the family names written so far (to keep them unique).
struct Out {
    text: String,
    #[cfg(debug_assertions)]
    seen: Vec<&'static str>,
}

impl Out {
    /// Start a family: its `# HELP` and `# TYPE` lines. Samples follow through the returned
    /// writer, so they can only be written under the family they belong to.
    fn family(&mut self, name: &'static str, kind: Kind, help: &str) -> Family<'_> {
        debug_assert!(name.starts_with("hashmux_"), "{name}: missing prefix");
        debug_assert_eq!(
            kind == Kind::Counter,
            name.ends_with("_total"),
            "{name}: counters, and only counters, end in _total"
        );
        #[cfg(debug_assertions)]
        {
            debug_assert!(!self.seen.contains(&name), "{name}: family written twice");
            self.seen.push(name);
        }
        let t = &mut self.text;
        t.push_str("# HELP ");
        t.push_str(name);
        t.push(' ');
        escape_help(t, help);
        t.push_str("\n# TYPE ");
        t.push_str(name);
        t.push(' ');
        t.push_str(kind.as_str());
        t.push('\n');
        Family { text: t, name }
    }
}

/// Writes samples of one family.
struct Family<'a> {
    text: &'a mut String,
    name: &'static str,
}

impl Family<'_> {
    fn sample(&mut self, labels: &[(&str, &str)], value: impl Display) {
        let t = &mut *self.text;
        t.push_str(self.name);
        if !labels.is_empty() {
            t.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    t.push(',');
                }
                t.push_str(k);
                t.push_str("=\"");
                escape_label(t, v);
                t.push('"');
            }
            t.push('}');
        }
        let _ = writeln!(t, " {value}");
    }
}

/// Append a label value with `\`, `"` and newline escaped.
fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Append HELP text with `\` and newline escaped.
fn escape_help(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// One sample per pool, labelled `pool`.
fn per_pool<V: Display>(
    out: &mut Out,
    pools: &[PoolSnap],
    name: &'static str,
    kind: Kind,
    help: &str,
    value: impl Fn(&PoolSnap) -> Option<V>,
) {
    let mut f = out.family(name, kind, help);
    for p in pools {
        if let Some(v) = value(p) {
            f.sample(&[("pool", &p.name)], v);
        }
    }
}

/// A miner's identifying labels: its worker name (or `#id` before it authorized) and address.
struct MinerLabels {
    miner: String,
    address: String,
}

impl MinerLabels {
    fn of(m: &MinerSnap) -> MinerLabels {
        MinerLabels {
            miner: if m.worker.is_empty() {
                format!("#{}", m.id)
            } else {
                m.worker.clone()
            },
            address: m.addr.to_string(),
        }
    }
}

/// One sample per miner, labelled `miner` and `address`.
fn per_miner<V: Display>(
    out: &mut Out,
    miners: &[(&MinerSnap, MinerLabels)],
    name: &'static str,
    kind: Kind,
    help: &str,
    value: impl Fn(&MinerSnap) -> Option<V>,
) {
    let mut f = out.family(name, kind, help);
    for (m, l) in miners {
        if let Some(v) = value(m) {
            f.sample(&[("miner", &l.miner), ("address", &l.address)], v);
        }
    }
}

/// The whole snapshot as Prometheus text exposition format 0.0.4.
pub fn render(s: &Snapshot) -> String {
    let mut out = Out {
        text: String::with_capacity(4096 + 2048 * s.pools.len() + 2048 * s.miners.len()),
        #[cfg(debug_assertions)]
        seen: Vec::with_capacity(40),
    };
    use Kind::{Counter, Gauge};

    out.family(
        "hashmux_build_info",
        Gauge,
        "Always 1; the version label is the running hashmux version.",
    )
    .sample(&[("version", s.version)], 1);
    out.family(
        "hashmux_uptime_seconds",
        Gauge,
        "Seconds since the proxy started.",
    )
    .sample(&[], s.uptime_ms / 1000);
    out.family("hashmux_heap_bytes", Gauge, "Heap bytes in use now.")
        .sample(&[], s.heap_bytes as u64);
    out.family(
        "hashmux_heap_peak_bytes",
        Gauge,
        "Most heap bytes in use at once since start.",
    )
    .sample(&[], s.heap_peak_bytes as u64);
    out.family(
        "hashmux_miners_connected",
        Gauge,
        "Miner connections open now.",
    )
    .sample(&[], s.miners.len());
    out.family(
        "hashmux_miners_refused_total",
        Counter,
        "Miner connections refused because the miner table was full.",
    )
    .sample(&[], s.refused);

    // Pools.
    let pools = &s.pools[..];
    per_pool(
        &mut out,
        pools,
        "hashmux_pool_up",
        Gauge,
        "1 if the pool connection is live (subscribed, authorized, has a job), else 0.",
        |p| Some(u8::from(p.state == "live")),
    );
    let mut f = out.family(
        "hashmux_pool_protocol_info",
        Gauge,
        "Always 1; the protocol label is sv1 or sv2.",
    );
    for p in pools {
        f.sample(&[("pool", &p.name), ("protocol", p.protocol)], 1);
    }
    per_pool(
        &mut out,
        pools,
        "hashmux_pool_encrypted",
        Gauge,
        "1 while an encrypted (Stratum V2 Noise) session with a verified certificate is up.",
        |p| Some(u8::from(p.encrypted)),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_pool_connects_total",
        Counter,
        "Successful TCP connects to the pool.",
        |p| Some(p.connects),
    );
    {
        let mut f = out.family(
            "hashmux_pool_shares_total",
            Counter,
            "Shares routed to the pool, by verdict.",
        );
        for p in pools {
            for verdict in POOL_VERDICTS {
                let n = p.shares.count(verdict).unwrap_or(0);
                f.sample(&[("pool", &p.name), ("verdict", verdict)], n);
            }
        }
    }
    {
        let mut f = out.family(
            "hashmux_pool_rejects_total",
            Counter,
            "Shares the pool rejected, by the reason it gave (bounded table of reasons).",
        );
        for p in pools {
            for (reason, n) in &p.rejects {
                f.sample(&[("pool", &p.name), ("reason", reason)], n);
            }
        }
    }
    per_pool(
        &mut out,
        pools,
        "hashmux_pool_work_valid_total",
        Counter,
        "Work of valid shares routed to the pool, in hashes (miner share difficulty x 2^32).",
        |p| Some(p.shares.work_valid),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_pool_work_accepted_total",
        Counter,
        "Work of shares the pool accepted, in hashes (pool difficulty x 2^32).",
        |p| Some(p.shares.work_accepted),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_pool_difficulty",
        Gauge,
        "Share difficulty the pool currently asks for.",
        |p| Some(p.difficulty),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_pool_rtt_milliseconds",
        Gauge,
        "Last measured request round-trip time to the pool, in milliseconds.",
        |p| Some(p.rtt_ms),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_pool_miners",
        Gauge,
        "Miners working for the pool now.",
        |p| Some(p.miners),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_pool_last_job_age_seconds",
        Gauge,
        "Seconds since the pool's last job; no sample while the pool has no job.",
        |p| p.last_job_age_ms.map(|a| a / 1000),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_split_target_ratio",
        Gauge,
        "Share of the work the pool should get (weight / total live weight), 0 to 1.",
        |p| Some(Ratio(p.split.target_ppm)),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_split_measured_ratio",
        Gauge,
        "Share of accepted work the pool got over the split's window, 0 to 1.",
        |p| Some(Ratio(p.split.measured_ppm)),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_split_fraction_ratio",
        Gauge,
        "Share of the hashrate the scheduler is told to give the pool now, 0 to 1.",
        |p| Some(Ratio(p.split.fraction_ppm)),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_split_debt",
        Gauge,
        "Split controller's accumulated debt, integer ppm x intervals; positive = the pool is owed work.",
        |p| Some(p.split.debt),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_split_pid_p",
        Gauge,
        "Split controller's proportional term, integer ppm.",
        |p| Some(p.split.p),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_split_pid_i",
        Gauge,
        "Split controller's integral term, integer ppm.",
        |p| Some(p.split.i),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_split_pid_d",
        Gauge,
        "Split controller's derivative term, integer ppm.",
        |p| Some(p.split.d),
    );

    // Miners.
    let miners: Vec<(&MinerSnap, MinerLabels)> =
        s.miners.iter().map(|m| (m, MinerLabels::of(m))).collect();
    {
        let mut f = out.family(
            "hashmux_miner_shares_total",
            Counter,
            "Shares the miner submitted, by verdict.",
        );
        for (m, l) in &miners {
            for (verdict, n) in ShareCounters::NAMES.into_iter().zip(m.shares.counts()) {
                f.sample(
                    &[
                        ("miner", &l.miner),
                        ("address", &l.address),
                        ("verdict", verdict),
                    ],
                    n,
                );
            }
        }
    }
    per_miner(
        &mut out,
        &miners,
        "hashmux_miner_work_valid_total",
        Counter,
        "Work of the miner's valid shares, in hashes (miner share difficulty x 2^32).",
        |m| Some(m.shares.work_valid),
    );
    per_miner(
        &mut out,
        &miners,
        "hashmux_miner_hashrate",
        Gauge,
        "Miner's average hashrate since it connected, in hashes per second, from valid work.",
        |m| Some(m.hashrate),
    );
    per_miner(
        &mut out,
        &miners,
        "hashmux_miner_difficulty",
        Gauge,
        "Share difficulty last sent to the miner; no sample before the first.",
        |m| m.difficulty,
    );
    per_miner(
        &mut out,
        &miners,
        "hashmux_miner_switches_total",
        Counter,
        "Times the miner was moved from one pool to another.",
        |m| Some(m.switches),
    );
    per_miner(
        &mut out,
        &miners,
        "hashmux_miner_bytes_received_total",
        Counter,
        "Bytes received from the miner.",
        |m| Some(m.bytes_in),
    );
    per_miner(
        &mut out,
        &miners,
        "hashmux_miner_bytes_sent_total",
        Counter,
        "Bytes sent to the miner.",
        |m| Some(m.bytes_out),
    );
    per_miner(
        &mut out,
        &miners,
        "hashmux_miner_connected_seconds",
        Gauge,
        "Seconds the miner has been connected.",
        |m| Some(m.connected_ms / 1000),
    );
    out.text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::split::pid::PoolTerms;
    use crate::work::Difficulty;
    use std::collections::HashMap;

    fn pool(name: &str) -> PoolSnap {
        PoolSnap {
            name: name.into(),
            address: "pool.example:3333".into(),
            state: "live",
            protocol: "sv1",
            encrypted: false,
            priority: 0,
            weight: 70,
            difficulty: Difficulty(1 << 31),
            extranonce2_size: 4,
            version_mask: Some(0x1fff_e000),
            shares: ShareCounters {
                submitted: 12,
                valid: 11,
                forwarded: 10,
                accepted: 9,
                rejected: 1,
                stale: 2,
                lost: 0,
                work_valid: 5 << 32,
                work_accepted: 3 << 31,
                ..ShareCounters::default()
            },
            rejects: vec![("Job not \"found\"\n".into(), 1)],
            connects: 2,
            last_error: String::new(),
            last_job_age_ms: Some(4_500),
            last_share_age_ms: Some(2_000),
            state_age_ms: 60_000,
            user: "acct.main".into(),
            disabled: false,
            rtt_ms: 35,
            miners: 1,
            actual_24h_permille: Some(700),
            split: PoolTerms {
                target_ppm: 700_000,
                measured_ppm: 650_500,
                p: 49_500,
                i: -1_200,
                d: 0,
                debt: 3_000,
                fraction_ppm: 748_300,
            },
        }
    }

    fn miner(id: u32, worker: &str) -> MinerSnap {
        MinerSnap {
            id,
            worker: worker.into(),
            agent: "cgminer/4.12".into(),
            protocol: "sv1",
            addr: "192.168.1.20:40000".parse().unwrap(),
            tag: "0001".into(),
            extranonce2_size: 4,
            pool: Some("p".into()),
            difficulty: Some(Difficulty(1 << 32)),
            shares: ShareCounters {
                submitted: 7,
                valid: 6,
                low_difficulty: 1,
                forwarded: 5,
                accepted: 5,
                work_valid: 6 << 32,
                ..ShareCounters::default()
            },
            connected_ms: 61_999,
            last_share_age_ms: Some(1_000),
            best_share: None,
            switches: 3,
            hashrate_5m: 415_000_000,
            hashrate_1h: 415_000_000,
            sparkline: [None; 12],
            bytes_in: 1200,
            bytes_out: 3400,
            hashrate: 415_000_000,
        }
    }

    fn snapshot(pools: Vec<PoolSnap>, miners: Vec<MinerSnap>) -> Snapshot {
        Snapshot {
            version: "9.8.7",
            uptime_ms: 123_456,
            heap_bytes: 300_000,
            heap_peak_bytes: 400_000,
            pools,
            miners,
            refused: 4,
            split: crate::core::split::SplitConfig::default(),
            workers: Vec::new(),
            departed: ShareCounters::default(),
            sv2: None,
            stratum_port: 3333,
            control: false,
        }
    }

    #[test]
    fn test_label_escaping_handles_backslash_quote_newline() {
        let mut s = String::new();
        escape_label(&mut s, "a\\b\"c\nd é");
        assert_eq!(s, r#"a\\b\"c\nd é"#);
        let mut h = String::new();
        escape_help(&mut h, "x\\y\nz \"q\"");
        assert_eq!(h, r#"x\\y\nz "q""#);
    }

    #[test]
    fn test_label_escaping_in_rendered_samples() {
        let out = render(&snapshot(vec![pool("p\"1")], vec![miner(1, "rig\\a")]));
        assert!(out.contains(
            "hashmux_pool_rejects_total{pool=\"p\\\"1\",reason=\"Job not \\\"found\\\"\\n\"} 1\n"
        ));
        assert!(out.contains(
            "hashmux_miner_switches_total{miner=\"rig\\\\a\",address=\"192.168.1.20:40000\"} 3\n"
        ));
        // Every line is one sample or one comment: the newline in the reason did not escape.
        for line in out.lines() {
            assert!(
                line.starts_with("# ") || line.starts_with("hashmux_"),
                "{line}"
            );
        }
    }

    #[test]
    fn test_ratio_formats_ppm_with_six_digits() {
        let r = |v| Ratio(v).to_string();
        assert_eq!(r(700_000), "0.700000");
        assert_eq!(r(0), "0.000000");
        assert_eq!(r(1), "0.000001");
        assert_eq!(r(1_000_000), "1.000000");
        assert_eq!(r(1_234_567), "1.234567");
        assert_eq!(r(-5_000), "-0.005000");
        assert_eq!(r(i64::MIN), "-9223372036854.775808");
    }

    /// Family name of a `# HELP`/`# TYPE` line, or of a sample line.
    fn name_of(line: &str) -> &str {
        let rest = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .unwrap_or(line);
        let end = rest.find(['{', ' ']).unwrap_or(rest.len());
        &rest[..end]
    }

    #[test]
    fn test_families_have_help_and_type_once_and_grouped_samples() {
        for (pools, miners) in [
            (vec![], vec![]),
            (
                vec![pool("a"), pool("b")],
                vec![miner(1, "x"), miner(2, "")],
            ),
        ] {
            let out = render(&snapshot(pools, miners));
            let mut help: HashMap<&str, usize> = HashMap::new();
            let mut kinds: HashMap<&str, (usize, &str)> = HashMap::new();
            let mut finished: Vec<&str> = Vec::new();
            let mut current = "";
            for line in out.lines() {
                let name = name_of(line);
                assert!(name.starts_with("hashmux_"), "{line}");
                if line.starts_with("# HELP ") {
                    assert!(!finished.contains(&name), "{name} reopened");
                    if !current.is_empty() {
                        finished.push(current);
                    }
                    current = name;
                    *help.entry(name).or_default() += 1;
                } else if let Some(t) = line.strip_prefix("# TYPE ") {
                    assert_eq!(name, current, "TYPE follows its HELP");
                    let kind = t.rsplit(' ').next().unwrap();
                    assert!(kind == "counter" || kind == "gauge", "{line}");
                    assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
                    let e = kinds.entry(name).or_insert((0, kind));
                    e.0 += 1;
                } else {
                    assert_eq!(name, current, "sample under its family: {line}");
                    assert!(kinds.contains_key(name), "sample before TYPE: {line}");
                }
            }
            // 6 proxy-wide, 19 per pool, 6 per miner: all present even with no pools or miners.
            assert_eq!(help.len(), 33, "{help:?}");
            assert!(help.values().all(|&n| n == 1), "{help:?}");
            assert_eq!(kinds.len(), help.len());
            assert!(kinds.values().all(|&(n, _)| n == 1), "{kinds:?}");
        }
    }

    #[test]
    fn test_render_one_pool_one_miner_expected_lines() {
        let out = render(&snapshot(vec![pool("p")], vec![miner(7, "rig1")]));
        let m = r#"miner="rig1",address="192.168.1.20:40000""#;
        let expected = [
            "# HELP hashmux_build_info Always 1; the version label is the running hashmux version."
                .to_string(),
            "# TYPE hashmux_build_info gauge".into(),
            r#"hashmux_build_info{version="9.8.7"} 1"#.into(),
            "hashmux_uptime_seconds 123".into(),
            "hashmux_heap_bytes 300000".into(),
            "hashmux_heap_peak_bytes 400000".into(),
            "hashmux_miners_connected 1".into(),
            "# TYPE hashmux_miners_refused_total counter".into(),
            "hashmux_miners_refused_total 4".into(),
            r#"hashmux_pool_up{pool="p"} 1"#.into(),
            r#"hashmux_pool_connects_total{pool="p"} 2"#.into(),
            r#"hashmux_pool_shares_total{pool="p",verdict="submitted"} 12"#.into(),
            r#"hashmux_pool_shares_total{pool="p",verdict="valid"} 11"#.into(),
            r#"hashmux_pool_shares_total{pool="p",verdict="forwarded"} 10"#.into(),
            r#"hashmux_pool_shares_total{pool="p",verdict="accepted"} 9"#.into(),
            r#"hashmux_pool_shares_total{pool="p",verdict="rejected"} 1"#.into(),
            r#"hashmux_pool_shares_total{pool="p",verdict="stale"} 2"#.into(),
            r#"hashmux_pool_shares_total{pool="p",verdict="lost"} 0"#.into(),
            r#"hashmux_pool_work_valid_total{pool="p"} 21474836480"#.into(),
            r#"hashmux_pool_work_accepted_total{pool="p"} 6442450944"#.into(),
            r#"hashmux_pool_difficulty{pool="p"} 0.5"#.into(),
            r#"hashmux_pool_rtt_milliseconds{pool="p"} 35"#.into(),
            r#"hashmux_pool_miners{pool="p"} 1"#.into(),
            r#"hashmux_pool_last_job_age_seconds{pool="p"} 4"#.into(),
            r#"hashmux_split_target_ratio{pool="p"} 0.700000"#.into(),
            r#"hashmux_split_measured_ratio{pool="p"} 0.650500"#.into(),
            r#"hashmux_split_fraction_ratio{pool="p"} 0.748300"#.into(),
            r#"hashmux_split_debt{pool="p"} 3000"#.into(),
            r#"hashmux_split_pid_p{pool="p"} 49500"#.into(),
            r#"hashmux_split_pid_i{pool="p"} -1200"#.into(),
            r#"hashmux_split_pid_d{pool="p"} 0"#.into(),
            format!(r#"hashmux_miner_shares_total{{{m},verdict="submitted"}} 7"#),
            format!(r#"hashmux_miner_shares_total{{{m},verdict="low_difficulty"}} 1"#),
            format!(r#"hashmux_miner_shares_total{{{m},verdict="malformed"}} 0"#),
            format!(r#"hashmux_miner_shares_total{{{m},verdict="accepted"}} 5"#),
            format!("hashmux_miner_work_valid_total{{{m}}} 25769803776"),
            format!("hashmux_miner_hashrate{{{m}}} 415000000"),
            format!("hashmux_miner_difficulty{{{m}}} 1"),
            format!("hashmux_miner_switches_total{{{m}}} 3"),
            format!("hashmux_miner_connected_seconds{{{m}}} 61"),
        ];
        let lines: Vec<&str> = out.lines().collect();
        for e in &expected {
            assert!(lines.contains(&e.as_str()), "missing {e:?} in\n{out}");
        }
        let samples = |name: &str| {
            lines
                .iter()
                .filter(|l| name_of(l) == name && !l.starts_with('#'))
                .count()
        };
        assert_eq!(samples("hashmux_pool_shares_total"), 7);
        assert_eq!(samples("hashmux_miner_shares_total"), 10);
        assert_eq!(samples("hashmux_pool_rejects_total"), 1);
        assert!(out.ends_with('\n'));
    }

    #[test]
    fn test_render_omits_unknown_optional_values() {
        let mut p = pool("p");
        p.last_job_age_ms = None;
        p.state = "connecting";
        let mut m = miner(3, "");
        m.difficulty = None;
        let out = render(&snapshot(vec![p], vec![m]));
        assert!(out.contains("# TYPE hashmux_pool_last_job_age_seconds gauge\n"));
        assert!(!out.contains("hashmux_pool_last_job_age_seconds{"));
        assert!(!out.contains("hashmux_miner_difficulty{"));
        assert!(out.contains("hashmux_pool_up{pool=\"p\"} 0\n"));
        assert!(out.contains(
            "hashmux_miner_hashrate{miner=\"#3\",address=\"192.168.1.20:40000\"} 415000000\n"
        ));
    }
}
