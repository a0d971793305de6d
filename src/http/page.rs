//! The stats page: one small HTML document, no external assets, refreshes itself every 5 s.

use crate::stats::{ShareCounters, Snapshot};
use std::fmt::Write;

pub fn render(s: &Snapshot, chart_svg: &str) -> String {
    let mut h = String::with_capacity(4096 + 300 * (s.pools.len() + s.miners.len()));
    h.push_str(concat!(
        "<!doctype html><html><head><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'>",
        "<meta http-equiv=refresh content=5><title>hashmux</title><style>",
        "body{font:14px system-ui,sans-serif;margin:1em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}",
        "td,th{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}",
        ".live{color:#080}.down{color:#b00}.t{overflow-x:auto}svg{max-width:720px}</style></head><body>"
    ));
    let _ = write!(
        h,
        "<h1>hashmux {}</h1><p>up {}",
        s.version,
        duration(s.uptime_ms)
    );
    let _ = write!(
        h,
        " · {} miners · {} refused (table full) · heap {} KiB (peak {} KiB)</p>",
        s.miners.len(),
        s.refused,
        s.heap_bytes / 1024,
        s.heap_peak_bytes / 1024
    );
    if let Some(l) = &s.sv2 {
        let _ = write!(
            h,
            "<p>Stratum V2 miners: port {} · authority key <code>{}</code></p>",
            esc(&l.listen),
            esc(&l.authority_key)
        );
    }
    h.push_str("<h2>Split, last 24 h</h2><p>solid: accepted work per pool (15 min average), dashed: target</p>");
    h.push_str(chart_svg);
    h.push_str("<h2>Pools</h2><div class=t><table><tr><th>pool</th><th>state</th><th>protocol</th><th>prio</th><th>weight</th><th>target %</th><th>actual % (1 h window)</th><th>actual % (24 h)</th><th>P / I / D (pp)</th><th>debt</th><th>difficulty</th><th>miners</th><th>accepted</th><th>rejected</th><th>stale</th><th>lost</th><th>last job</th><th>rtt</th><th>last error</th></tr>");
    for p in &s.pools {
        let t = &p.split;
        let pid = format!("{} / {} / {}", ppm(t.p), ppm(t.i), ppm(t.d));
        let day = p
            .actual_24h_permille
            .map(|v| format!("{}.{}", v / 10, v % 10))
            .unwrap_or_else(|| "-".into());
        let _ = write!(
            h,
            "<tr><td>{}</td><td class={}>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td><td>{}</td></tr>",
            esc(&p.name),
            if p.state == "live" { "live" } else { "down" },
            p.state,
            match (p.protocol, p.encrypted) {
                ("sv2", true) => "SV2, encrypted",
                ("sv2", false) => "SV2",
                _ => "SV1",
            },
            p.priority,
            p.weight,
            ppm(p.split.target_ppm),
            ppm(p.split.measured_ppm),
            day,
            pid,
            t.debt / 1_000_000,
            p.difficulty,
            p.miners,
            p.shares.accepted,
            p.shares.rejected,
            p.shares.stale,
            p.shares.lost,
            p.last_job_age_ms.map(|a| format!("{} s ago", a / 1000)).unwrap_or_else(|| "-".into()),
            p.rtt_ms,
            esc(&p.last_error)
        );
    }
    h.push_str("</table></div><h2>Miners</h2><div class=t><table><tr><th>miner</th><th>protocol</th><th>address</th><th>pool</th><th>hashrate 5 min</th><th>1 h</th><th>difficulty</th><th>valid</th><th>low diff</th><th>dup</th><th>stale</th><th>last share</th></tr>");
    for m in &s.miners {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(if m.worker.is_empty() { "?" } else { &m.worker }),
            m.protocol,
            m.addr,
            esc(m.pool.as_deref().unwrap_or("-")),
            hashrate(m.hashrate_5m),
            hashrate(m.hashrate_1h),
            m.difficulty.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
            m.shares.valid,
            m.shares.low_difficulty,
            m.shares.duplicate,
            m.shares.stale,
            m.last_share_age_ms.map(|a| format!("{} s ago", a / 1000)).unwrap_or_else(|| "-".into())
        );
    }
    h.push_str("</table></div>");
    h.push_str("<h2>Workers since first start</h2><div class=t><table><tr><th>worker</th><th>valid</th><th>work (difficulty)</th><th>accepted</th><th>rejected</th><th>lost</th></tr>");
    for (name, c) in &s.workers {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            c.valid,
            c.work_valid >> 32,
            c.accepted,
            c.rejected,
            c.lost
        );
    }
    h.push_str("</table></div>");
    let t = totals(s);
    let _ = write!(
        h,
        "<p>All miners since start: {} valid, {} forwarded, {} accepted, {} rejected, {} lost.</p><p><a href=/api/stats>JSON</a></p></body></html>",
        t.valid, t.forwarded, t.accepted, t.rejected, t.lost
    );
    h
}

/// ppm as a percentage with one decimal.
fn ppm(v: i64) -> String {
    format!("{}.{}", v / 10_000, (v % 10_000).abs() / 1_000)
}

fn totals(s: &Snapshot) -> ShareCounters {
    let mut t = s.departed.clone();
    for m in &s.miners {
        t.valid += m.shares.valid;
        t.forwarded += m.shares.forwarded;
        t.accepted += m.shares.accepted;
        t.rejected += m.shares.rejected;
        t.lost += m.shares.lost;
    }
    t
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn hashrate(hs: u64) -> String {
    const UNITS: [&str; 6] = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s"];
    let mut v = hs as u128 * 100;
    let mut u = 0;
    while v >= 100_000 && u < UNITS.len() - 1 {
        v /= 1000;
        u += 1;
    }
    format!("{}.{:02} {}", v / 100, v % 100, UNITS[u])
}

fn duration(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_hashrate_units() {
        assert_eq!(super::hashrate(0), "0.00 H/s");
        assert_eq!(super::hashrate(6_000_000_000_000), "6.00 TH/s");
        assert_eq!(super::hashrate(1_234_567), "1.23 MH/s");
    }

    #[test]
    fn test_esc_html() {
        assert_eq!(super::esc("<a&'\">"), "&lt;a&amp;&#39;&quot;&gt;");
    }
}
