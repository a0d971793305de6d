//! Prometheus text exposition (format 0.0.4) of a [`Snapshot`] and the process's
//! [`ProcessStats`]: [`render`] only, no I/O.
//!
//! What it owns: the metric names, their HELP texts and types, and how each snapshot field
//! becomes a sample. Every name starts with `hashmux_`, except the standard `process_*` ones;
//! counters end in `_total`; a name with a unit ends in it in base units (`_seconds`,
//! `_bytes`, `_hashes`, `_hashes_per_second`, `_ratio`), before `_total`. `promtool check
//! metrics` passes on the output (CI runs it on `target/metrics-sample.txt`).
//!
//! Invariants:
//! - One family per metric name: each name is written once, as `# HELP`, then `# TYPE`,
//!   then all of its samples together (one per pool, worker or label combination). A family
//!   may have no samples (no pools or miners yet, or an optional value that is unknown).
//! - Label values within one family never nest: summing a family over `verdict` or
//!   `reason` counts each share once. The stages a share passes (submitted, valid,
//!   forwarded) are families of their own.
//! - No label changes on reconnect: miners are labelled by worker name (`worker`), never by
//!   address or port or connection id. Counters come from the worker's totals, which outlive
//!   its connections; gauges sum or pick over its connections open now.
//! - Label values are escaped (`\\`, `\"`, `\n`), so pool reject reasons and worker names
//!   sent by strangers cannot break a line or forge a sample.
//! - Values are integers, except difficulties (the exact decimal of [`Difficulty`]'s
//!   `Display`), the split ratios (ppm written as a decimal with six fractional digits by
//!   integer formatting) and seconds from milliseconds (three fractional digits). No floating
//!   point is used.
//! - Work is exported in hashes (difficulty × 2^32, the snapshot's own unit), so
//!   `rate(hashmux_miner_work_valid_hashes_total[5m])` is a hashrate in H/s.
//! - Nothing from the config beyond what the snapshot carries: the snapshot has no pool
//!   users or passwords, and nothing here adds any.
//!
//! [`Difficulty`]: crate::work::Difficulty

use crate::stats::process::ProcessStats;
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

/// The pool's verdicts on forwarded shares: disjoint, so their sum is every forwarded share
/// that is no longer in flight.
const POOL_VERDICTS: [&str; 3] = ["accepted", "rejected", "lost"];

/// Why hashmux refused a miner's share itself: disjoint, and with `valid` they add up to
/// every submit.
const REFUSALS: [&str; 4] = ["low_difficulty", "duplicate", "stale", "malformed"];

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
        debug_assert!(
            name.starts_with("hashmux_") || name.starts_with("process_"),
            "{name}: missing prefix"
        );
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

    /// One unlabelled sample, or none for an unknown value.
    fn samples_opt(&mut self, value: Option<impl Display>) {
        if let Some(v) = value {
            self.sample(&[], v);
        }
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

/// One miner name's view: its totals since the stats file began (departed connections and
/// the open ones), and what its open connections show now.
struct Worker<'a> {
    name: &'a str,
    totals: &'a ShareCounters,
    open: Vec<&'a MinerSnap>,
}

/// The name a miner is labelled with: its worker name, `(unnamed)` before it authorized
/// (the name [`Snapshot::workers`] files it under).
fn worker_name(m: &MinerSnap) -> &str {
    if m.worker.is_empty() {
        "(unnamed)"
    } else {
        &m.worker
    }
}

/// Every worker name with totals, with the open connections filed under it.
fn workers(s: &Snapshot) -> Vec<Worker<'_>> {
    let mut w: Vec<Worker<'_>> = s
        .workers
        .iter()
        .map(|(name, totals)| Worker {
            name,
            totals,
            open: Vec::new(),
        })
        .collect();
    for m in &s.miners {
        if let Some(x) = w.iter_mut().find(|x| x.name == worker_name(m)) {
            x.open.push(m);
        }
    }
    w
}

/// One sample per worker name, labelled `worker`.
fn per_worker<V: Display>(
    out: &mut Out,
    workers: &[Worker<'_>],
    name: &'static str,
    kind: Kind,
    help: &str,
    value: impl Fn(&Worker<'_>) -> Option<V>,
) {
    let mut f = out.family(name, kind, help);
    for w in workers {
        if let Some(v) = value(w) {
            f.sample(&[("worker", w.name)], v);
        }
    }
}

/// Milliseconds shown as seconds: `35` → `0.035`.
struct Millis(u64);

impl Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// The whole snapshot, then the process's own figures, as Prometheus text exposition
/// format 0.0.4.
pub fn render(s: &Snapshot, proc: &ProcessStats) -> String {
    let mut out = Out {
        text: String::with_capacity(4096 + 2048 * s.pools.len() + 2048 * s.workers.len()),
        #[cfg(debug_assertions)]
        seen: Vec::with_capacity(48),
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
    per_pool(
        &mut out,
        pools,
        "hashmux_pool_shares_valid_total",
        Counter,
        "Valid miner shares (at the miner's difficulty) on the pool's jobs.",
        |p| Some(p.shares.valid),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_pool_shares_forwarded_total",
        Counter,
        "Valid shares that also met the pool's difficulty and were sent to it.",
        |p| Some(p.shares.forwarded),
    );
    {
        let mut f = out.family(
            "hashmux_pool_shares_total",
            Counter,
            "Forwarded shares by outcome: accepted, rejected by the pool, or lost (no answer \
             will come). Disjoint; the sum trails shares_forwarded by the shares in flight.",
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
        "hashmux_pool_work_valid_hashes_total",
        Counter,
        "Work of valid shares on the pool's jobs, in hashes (miner share difficulty x 2^32).",
        |p| Some(p.shares.work_valid),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_pool_work_accepted_hashes_total",
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
        "hashmux_pool_rtt_seconds",
        Gauge,
        "Last measured submit round-trip time to the pool, in seconds.",
        |p| Some(Millis(p.rtt_ms)),
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
        "hashmux_split_debt_ratio_intervals",
        Gauge,
        "Split controller's accumulated debt: share-of-work error (as a ratio) summed over \
         control intervals; positive = the pool is owed work.",
        |p| Some(Ratio(p.split.debt)),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_split_pid_proportional_ratio",
        Gauge,
        "Split controller's proportional term, as a share of the work.",
        |p| Some(Ratio(p.split.p)),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_split_pid_integral_ratio",
        Gauge,
        "Split controller's integral term, as a share of the work.",
        |p| Some(Ratio(p.split.i)),
    );
    per_pool(
        &mut out,
        pools,
        "hashmux_split_pid_derivative_ratio",
        Gauge,
        "Split controller's derivative term, as a share of the work.",
        |p| Some(Ratio(p.split.d)),
    );

    // Miners, by worker name: counters are the worker's totals (they survive reconnects and
    // restarts); gauges cover its connections open now and have no sample without one.
    let workers = workers(s);
    per_worker(
        &mut out,
        &workers,
        "hashmux_miner_connections",
        Gauge,
        "Connections open now under the worker name.",
        |w| Some(w.open.len()),
    );
    per_worker(
        &mut out,
        &workers,
        "hashmux_miner_shares_submitted_total",
        Counter,
        "Shares the worker submitted (valid plus refused).",
        |w| Some(w.totals.submitted),
    );
    per_worker(
        &mut out,
        &workers,
        "hashmux_miner_shares_valid_total",
        Counter,
        "Shares of the worker that met its difficulty and passed hashmux's checks.",
        |w| Some(w.totals.valid),
    );
    {
        let mut f = out.family(
            "hashmux_miner_shares_refused_total",
            Counter,
            "Shares hashmux refused itself, by reason. Disjoint; with shares_valid they add up \
             to shares_submitted.",
        );
        for w in &workers {
            for reason in REFUSALS {
                let n = w.totals.count(reason).unwrap_or(0);
                f.sample(&[("worker", w.name), ("reason", reason)], n);
            }
        }
    }
    per_worker(
        &mut out,
        &workers,
        "hashmux_miner_shares_forwarded_total",
        Counter,
        "Valid shares of the worker that also met the pool's difficulty and were sent to it.",
        |w| Some(w.totals.forwarded),
    );
    {
        let mut f = out.family(
            "hashmux_miner_shares_total",
            Counter,
            "The worker's forwarded shares by outcome: accepted, rejected by the pool, or lost \
             (no answer will come). Disjoint; the sum trails shares_forwarded by those in flight.",
        );
        for w in &workers {
            for verdict in POOL_VERDICTS {
                let n = w.totals.count(verdict).unwrap_or(0);
                f.sample(&[("worker", w.name), ("verdict", verdict)], n);
            }
        }
    }
    per_worker(
        &mut out,
        &workers,
        "hashmux_miner_work_valid_hashes_total",
        Counter,
        "Work of the worker's valid shares, in hashes (miner share difficulty x 2^32).",
        |w| Some(w.totals.work_valid),
    );
    per_worker(
        &mut out,
        &workers,
        "hashmux_miner_hashrate_hashes_per_second",
        Gauge,
        "Hashrate of the worker's open connections over the last 5 minutes, from valid work.",
        |w| (!w.open.is_empty()).then(|| w.open.iter().map(|m| m.hashrate_5m).sum::<u64>()),
    );
    per_worker(
        &mut out,
        &workers,
        "hashmux_miner_difficulty",
        Gauge,
        "Share difficulty last sent to the worker (the lowest over its open connections).",
        |w| w.open.iter().filter_map(|m| m.difficulty).min(),
    );
    per_worker(
        &mut out,
        &workers,
        "hashmux_miner_connected_seconds",
        Gauge,
        "Seconds the worker's longest-open connection has been up.",
        |w| w.open.iter().map(|m| m.connected_ms / 1000).max(),
    );
    per_worker(
        &mut out,
        &workers,
        "hashmux_miner_switches_total",
        Counter,
        "Times the worker's open connections were moved from one pool to another.",
        |w| (!w.open.is_empty()).then(|| w.open.iter().map(|m| m.switches).sum::<u64>()),
    );
    per_worker(
        &mut out,
        &workers,
        "hashmux_miner_received_bytes_total",
        Counter,
        "Bytes received on the worker's open connections.",
        |w| (!w.open.is_empty()).then(|| w.open.iter().map(|m| m.bytes_in).sum::<u64>()),
    );
    per_worker(
        &mut out,
        &workers,
        "hashmux_miner_sent_bytes_total",
        Counter,
        "Bytes sent on the worker's open connections.",
        |w| (!w.open.is_empty()).then(|| w.open.iter().map(|m| m.bytes_out).sum::<u64>()),
    );

    // The process, as every Prometheus client library exports it.
    out.family(
        "process_start_time_seconds",
        Gauge,
        "When the process started, in seconds since the Unix epoch.",
    )
    .samples_opt(proc.start_time_ms.map(Millis));
    out.family(
        "process_cpu_seconds_total",
        Counter,
        "User plus system CPU time the process has used, in seconds.",
    )
    .samples_opt(proc.cpu_ms.map(Millis));
    out.family(
        "process_resident_memory_bytes",
        Gauge,
        "Resident set size of the process, in bytes.",
    )
    .samples_opt(proc.resident_bytes);
    out.family(
        "process_open_fds",
        Gauge,
        "File descriptors the process has open.",
    )
    .samples_opt(proc.open_fds);
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

    /// A snapshot whose worker totals are the miners' counters, summed by name (as the
    /// core's are while no miner has left).
    fn snapshot(pools: Vec<PoolSnap>, miners: Vec<MinerSnap>) -> Snapshot {
        let mut workers: Vec<(String, ShareCounters)> = Vec::new();
        for m in &miners {
            let name = worker_name(m).to_string();
            match workers.iter_mut().find(|(n, _)| *n == name) {
                Some((_, c)) => crate::core::add_counters(c, &m.shares),
                None => workers.push((name, m.shares.clone())),
            }
        }
        Snapshot {
            version: "9.8.7",
            uptime_ms: 123_456,
            heap_bytes: 300_000,
            heap_peak_bytes: 400_000,
            pools,
            miners,
            refused: 4,
            split: crate::core::split::SplitConfig::default(),
            workers,
            departed: ShareCounters::default(),
            sv2: None,
            stratum_port: 3333,
            control: false,
        }
    }

    const PROC: ProcessStats = ProcessStats {
        start_time_ms: Some(1_764_633_600_250),
        cpu_ms: Some(1_230),
        resident_bytes: Some(2_097_152),
        open_fds: Some(9),
    };

    fn render(s: &Snapshot) -> String {
        super::render(s, &PROC)
    }

    /// The value of the one sample line `series value`.
    fn value_of<'a>(out: &'a str, series: &str) -> Option<&'a str> {
        out.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
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
        assert!(out.contains("hashmux_miner_switches_total{worker=\"rig\\\\a\"} 3\n"));
        // Every line is one sample or one comment: the newline in the reason did not escape.
        for line in out.lines() {
            assert!(
                line.starts_with("# ")
                    || line.starts_with("hashmux_")
                    || line.starts_with("process_"),
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

    #[test]
    fn test_millis_formats_as_seconds() {
        let m = |v| Millis(v).to_string();
        assert_eq!(m(35), "0.035");
        assert_eq!(m(0), "0.000");
        assert_eq!(m(1_500), "1.500");
        assert_eq!(m(1_764_633_600_250), "1764633600.250");
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
                assert!(
                    name.starts_with("hashmux_") || name.starts_with("process_"),
                    "{line}"
                );
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
            // 6 proxy-wide, 21 per pool, 13 per worker, 4 process: all present even with no
            // pools or miners.
            assert_eq!(help.len(), 44, "{help:?}");
            assert!(help.values().all(|&n| n == 1), "{help:?}");
            assert_eq!(kinds.len(), help.len());
            assert!(kinds.values().all(|&(n, _)| n == 1), "{kinds:?}");
        }
    }

    #[test]
    fn test_render_one_pool_one_miner_expected_lines() {
        let out = render(&snapshot(vec![pool("p")], vec![miner(7, "rig1")]));
        let m = r#"worker="rig1""#;
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
            r#"hashmux_pool_shares_valid_total{pool="p"} 11"#.into(),
            r#"hashmux_pool_shares_forwarded_total{pool="p"} 10"#.into(),
            r#"hashmux_pool_shares_total{pool="p",verdict="accepted"} 9"#.into(),
            r#"hashmux_pool_shares_total{pool="p",verdict="rejected"} 1"#.into(),
            r#"hashmux_pool_shares_total{pool="p",verdict="lost"} 0"#.into(),
            r#"hashmux_pool_work_valid_hashes_total{pool="p"} 21474836480"#.into(),
            r#"hashmux_pool_work_accepted_hashes_total{pool="p"} 6442450944"#.into(),
            r#"hashmux_pool_difficulty{pool="p"} 0.5"#.into(),
            r#"hashmux_pool_rtt_seconds{pool="p"} 0.035"#.into(),
            r#"hashmux_pool_miners{pool="p"} 1"#.into(),
            r#"hashmux_pool_last_job_age_seconds{pool="p"} 4"#.into(),
            r#"hashmux_split_target_ratio{pool="p"} 0.700000"#.into(),
            r#"hashmux_split_measured_ratio{pool="p"} 0.650500"#.into(),
            r#"hashmux_split_fraction_ratio{pool="p"} 0.748300"#.into(),
            r#"hashmux_split_debt_ratio_intervals{pool="p"} 0.003000"#.into(),
            r#"hashmux_split_pid_proportional_ratio{pool="p"} 0.049500"#.into(),
            r#"hashmux_split_pid_integral_ratio{pool="p"} -0.001200"#.into(),
            r#"hashmux_split_pid_derivative_ratio{pool="p"} 0.000000"#.into(),
            format!("hashmux_miner_connections{{{m}}} 1"),
            format!("hashmux_miner_shares_submitted_total{{{m}}} 7"),
            format!("hashmux_miner_shares_valid_total{{{m}}} 6"),
            format!(r#"hashmux_miner_shares_refused_total{{{m},reason="low_difficulty"}} 1"#),
            format!(r#"hashmux_miner_shares_refused_total{{{m},reason="malformed"}} 0"#),
            format!("hashmux_miner_shares_forwarded_total{{{m}}} 5"),
            format!(r#"hashmux_miner_shares_total{{{m},verdict="accepted"}} 5"#),
            format!("hashmux_miner_work_valid_hashes_total{{{m}}} 25769803776"),
            format!("hashmux_miner_hashrate_hashes_per_second{{{m}}} 415000000"),
            format!("hashmux_miner_difficulty{{{m}}} 1"),
            format!("hashmux_miner_switches_total{{{m}}} 3"),
            format!("hashmux_miner_received_bytes_total{{{m}}} 1200"),
            format!("hashmux_miner_sent_bytes_total{{{m}}} 3400"),
            format!("hashmux_miner_connected_seconds{{{m}}} 61"),
            "process_start_time_seconds 1764633600.250".into(),
            "process_cpu_seconds_total 1.230".into(),
            "process_resident_memory_bytes 2097152".into(),
            "process_open_fds 9".into(),
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
        assert_eq!(samples("hashmux_pool_shares_total"), 3);
        assert_eq!(samples("hashmux_miner_shares_total"), 3);
        assert_eq!(samples("hashmux_miner_shares_refused_total"), 4);
        assert_eq!(samples("hashmux_pool_rejects_total"), 1);
        assert!(
            !out.contains("192.168.1.20"),
            "an address leaked into a label"
        );
        assert!(out.ends_with('\n'));
    }

    #[test]
    fn test_shares_verdicts_sum_to_their_stage_without_double_counting() {
        let mut m = miner(1, "rig");
        m.shares = ShareCounters {
            submitted: 20,
            valid: 12,
            low_difficulty: 3,
            duplicate: 2,
            stale: 2,
            malformed: 1,
            forwarded: 9,
            accepted: 6,
            rejected: 2,
            lost: 1,
            ..ShareCounters::default()
        };
        let out = render(&snapshot(vec![pool("p")], vec![m]));
        let sum = |prefix: &str| -> u64 {
            out.lines()
                .filter(|l| l.starts_with(prefix))
                .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
                .sum()
        };
        let one = |series: &str| value_of(&out, series).unwrap().parse::<u64>().unwrap();
        let w = r#"{worker="rig""#;
        // Refusals plus valid shares are every submit, each once.
        assert_eq!(
            sum(&format!("hashmux_miner_shares_refused_total{w},"))
                + one(&format!("hashmux_miner_shares_valid_total{w}}}")),
            one(&format!("hashmux_miner_shares_submitted_total{w}}}"))
        );
        // The pool's verdicts are each forwarded share once (none in flight here).
        assert_eq!(
            sum(&format!("hashmux_miner_shares_total{w},")),
            one(&format!("hashmux_miner_shares_forwarded_total{w}}}"))
        );
        // The pool in the fixture has 1 in flight: 10 forwarded, 9 + 1 + 0 answered or lost.
        assert_eq!(sum("hashmux_pool_shares_total{pool=\"p\","), 10);
        assert!(
            !out.contains(r#"verdict="stale""#),
            "stale is a refusal reason"
        );
        assert!(
            !out.contains(r#"verdict="submitted""#),
            "a stage is not a verdict"
        );
    }

    #[test]
    fn test_two_connections_of_one_worker_one_series() {
        let mut a = miner(1, "rig");
        let mut b = miner(2, "rig");
        b.addr = "192.168.1.21:51000".parse().unwrap();
        b.hashrate_5m = 85_000_000;
        b.difficulty = Some(Difficulty(1 << 31));
        b.connected_ms = 5_000;
        a.bytes_in = 100;
        b.bytes_in = 23;
        let mut s = snapshot(vec![pool("p")], vec![a, b]);
        // The worker also had a connection that closed: its shares stay in the totals.
        s.workers[0].1.submitted += 100;
        let out = render(&s);
        let w = r#"{worker="rig"}"#;
        assert_eq!(
            value_of(&out, &format!("hashmux_miner_connections{w}")),
            Some("2")
        );
        assert_eq!(
            value_of(&out, &format!("hashmux_miner_shares_submitted_total{w}")),
            Some("114")
        );
        assert_eq!(
            value_of(
                &out,
                &format!("hashmux_miner_hashrate_hashes_per_second{w}")
            ),
            Some("500000000")
        );
        assert_eq!(
            value_of(&out, &format!("hashmux_miner_difficulty{w}")),
            Some("0.5")
        );
        assert_eq!(
            value_of(&out, &format!("hashmux_miner_connected_seconds{w}")),
            Some("61")
        );
        assert_eq!(
            value_of(&out, &format!("hashmux_miner_received_bytes_total{w}")),
            Some("123")
        );
        let series: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("hashmux_miner_shares_submitted_total{"))
            .collect();
        assert_eq!(series.len(), 1, "{series:?}");
        assert!(
            !out.contains(":51000") && !out.contains(":40000"),
            "a port in a label"
        );
        assert!(!out.contains("192.168.1."), "an address in a label");
    }

    #[test]
    fn test_worker_with_no_open_connection_keeps_counters_only() {
        let mut s = snapshot(vec![pool("p")], vec![]);
        let gone = ShareCounters {
            submitted: 4,
            valid: 4,
            ..ShareCounters::default()
        };
        s.workers.push(("old-rig".into(), gone));
        let out = render(&s);
        let w = r#"{worker="old-rig"}"#;
        assert_eq!(
            value_of(&out, &format!("hashmux_miner_shares_valid_total{w}")),
            Some("4")
        );
        assert_eq!(
            value_of(&out, &format!("hashmux_miner_connections{w}")),
            Some("0")
        );
        assert_eq!(
            value_of(
                &out,
                &format!("hashmux_miner_hashrate_hashes_per_second{w}")
            ),
            None
        );
        assert_eq!(
            value_of(&out, &format!("hashmux_miner_switches_total{w}")),
            None
        );
    }

    #[test]
    fn test_process_stats_unknown_omits_samples() {
        let out = super::render(&snapshot(vec![], vec![]), &ProcessStats::default());
        for name in [
            "process_start_time_seconds",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
        ] {
            assert!(out.contains(&format!("# TYPE {name} ")), "{name}");
            assert!(!out.contains(&format!("\n{name} ")), "{name}");
        }
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
            "hashmux_miner_hashrate_hashes_per_second{worker=\"(unnamed)\"} 415000000\n"
        ));
    }
}
