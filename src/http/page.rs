//! The stats page: one small HTML document for a phone first (412 px) and a desktop, no
//! JavaScript, no external assets, refreshing itself every 30 s.
//!
//! Layout: a status line in plain words (what is wrong, or that all is fine, and where to
//! point miners when there are none), the split chart, one card per pool (state, target vs
//! actual with an on/off-target cue, hashrate, shares, last share, host and user, last error
//! in full), the split controller's terms explained, one card per miner, worker totals.
//! Cards flow in one column on a phone and several on a desktop; nothing is wider than the
//! screen (long words break), so nothing needs a sideways swipe.
//!
//! Numbers read as a person reads them: hashrates scaled to kH/s…EH/s, difficulties and
//! work to three significant digits, ages as "3 min ago", clock times in UTC. Integer
//! arithmetic only.

use crate::stats::{MinerSnap, PoolSnap, ShareCounters, Snapshot};
use crate::work::Difficulty;
use std::fmt::Write;

/// What the page needs beyond the snapshot: where it was asked for, and the time.
pub struct View<'a> {
    /// The host the page was requested on (`Host` header, port stripped): the address miners
    /// on the same network reach this router at.
    pub host: Option<&'a str>,
    /// Seconds since 1970 (UTC), for "down since 14:02".
    pub now_unix: u64,
}

/// A miner without a share for this long is highlighted as stale.
pub const STALE_MINER_MS: u64 = 10 * 60 * 1000;
/// Within this many ppm of its target a pool is "on target" (1 percentage point).
pub const ON_TARGET_PPM: i64 = 10_000;

const STYLE: &str = concat!(
    "body{font:15px system-ui,sans-serif;margin:0 auto;padding:.6em;max-width:1200px;color:#222;overflow-wrap:anywhere}",
    "h1{font-size:1.2em;margin:.2em 0}h2{font-size:1.05em;margin:1.2em 0 .4em}h3{font-size:1em;margin:0 0 .3em}",
    ".st{padding:.5em .7em;border-radius:6px;margin:.4em 0}.ok{background:#e6f4ea}.warn{background:#fff4e0}.bad{background:#fde8e8}",
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,330px),1fr));gap:.6em}",
    ".card{border:1px solid #ddd;border-radius:8px;padding:.5em .7em}",
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.15em .7em;margin:0}dt{color:#666}dd{margin:0}",
    ".live{color:#080}.down{color:#b00}.off{color:#b60}.on{color:#080}.muted{color:#777;font-size:.9em}",
    "table{border-collapse:collapse;width:100%}td,th{padding:.2em .4em;border-bottom:1px solid #ddd;text-align:right}",
    "td:first-child,th:first-child{text-align:left}svg{max-width:760px;display:block}code{word-break:break-all}"
);

pub fn render(s: &Snapshot, chart_svg: &str, v: &View<'_>) -> String {
    let mut h = String::with_capacity(6144 + 700 * (s.pools.len() + s.miners.len()));
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'><meta http-equiv=refresh content=30><title>hashmux</title><style>{STYLE}</style></head><body><h1>hashmux {}</h1>",
        s.version
    );
    status(&mut h, s, v);
    let _ = write!(
        h,
        "<p class=muted>up {} · {} · {} refused (table full) · memory {} KiB (peak {} KiB)</p>",
        duration(s.uptime_ms),
        count(s.miners.len(), "miner", "miners"),
        s.refused,
        s.heap_bytes / 1024,
        s.heap_peak_bytes / 1024
    );
    h.push_str("<h2>Split</h2><p class=muted>solid: each pool's share of accepted work (15 min average); dashed: its target</p>");
    h.push_str(chart_svg);
    h.push_str("<h2>Pools</h2><div class=cards>");
    for p in &s.pools {
        pool_card(&mut h, s, p);
    }
    h.push_str("</div>");
    controller(&mut h, s);
    if s.control {
        controls(&mut h, s);
    }
    h.push_str("<h2>Miners</h2>");
    if s.miners.is_empty() {
        h.push_str("<p>No miner connected.</p>");
    }
    h.push_str("<div class=cards>");
    for m in &s.miners {
        miner_card(&mut h, s, m);
    }
    h.push_str("</div>");
    workers(&mut h, s);
    let t = totals(s);
    let _ = write!(
        h,
        "<p class=muted>All miners since start: {} valid, {} forwarded, {} accepted, {} rejected, {} lost. <a href=/api/stats>JSON</a> · <a href=/metrics>metrics</a></p></body></html>",
        t.valid, t.forwarded, t.accepted, t.rejected, t.lost
    );
    h
}

/// The status line: each problem in plain words, or that all is fine.
fn status(h: &mut String, s: &Snapshot, v: &View<'_>) {
    let mut lines: Vec<(&str, String)> = Vec::new();
    let enabled: Vec<&PoolSnap> = s.pools.iter().filter(|p| !p.disabled).collect();
    let live = enabled.iter().filter(|p| p.state == "live").count();
    if s.pools.is_empty() {
        lines.push(("bad", "No pool is configured.".into()));
    } else if live == 0 {
        lines.push(("bad", "No pool is live: miners have no work.".into()));
    }
    for p in enabled.iter().filter(|p| p.state != "live") {
        let since = v.now_unix.saturating_sub(p.state_age_ms / 1000);
        let what = if p.state == "down" {
            "down"
        } else {
            "connecting"
        };
        let mut line = format!(
            "Pool {} {what} since {} UTC ({})",
            esc(&p.name),
            clock(since),
            ago(p.state_age_ms)
        );
        if !p.last_error.is_empty() {
            let _ = write!(line, ": {}", esc(&p.last_error));
        }
        lines.push((if live == 0 { "bad" } else { "warn" }, line));
    }
    let host = v.host.filter(|h| !h.is_empty()).unwrap_or("this-router");
    if s.miners.is_empty() {
        let mut line = format!(
            "No miners yet — point them at <code>stratum+tcp://{}:{}</code>",
            esc(host),
            s.stratum_port
        );
        if let Some(l) = &s.sv2 {
            let port = l.listen.rsplit(':').next().unwrap_or("3336");
            let _ = write!(
                line,
                " (Stratum V2: <code>stratum2+tcp://{}:{}</code> with the authority key below)",
                esc(host),
                esc(port)
            );
        }
        lines.push(("warn", line));
    }
    for m in &s.miners {
        let idle = m.last_share_age_ms.unwrap_or(m.connected_ms);
        if idle >= STALE_MINER_MS {
            lines.push((
                "warn",
                format!(
                    "Miner {} has sent no valid share for {}.",
                    esc(worker(m)),
                    age_words(idle)
                ),
            ));
        }
    }
    if lines.is_empty() {
        let rate: u64 = s.miners.iter().map(|m| m.hashrate_5m).sum();
        lines.push((
            "ok",
            format!(
                "All fine: {} on {} live, {}.",
                count(s.miners.len(), "miner", "miners"),
                count(live, "pool", "pools"),
                hashrate(rate)
            ),
        ));
    }
    for (class, line) in lines.iter().take(8) {
        let _ = write!(h, "<p class='st {class}' id=status>{line}</p>");
    }
    if lines.len() > 8 {
        let _ = write!(h, "<p class=muted>and {} more</p>", lines.len() - 8);
    }
    if let Some(l) = &s.sv2 {
        let _ = write!(
            h,
            "<p class=muted>Stratum V2 miners: port {} · authority key <code>{}</code></p>",
            esc(&l.listen),
            esc(&l.authority_key)
        );
    }
}

fn pool_card(h: &mut String, s: &Snapshot, p: &PoolSnap) {
    let (class, state) = match (p.disabled, p.state) {
        (true, _) => ("off", "disabled"),
        (false, "live") => ("live", "live"),
        (false, st) => ("down", st),
    };
    let t = &p.split;
    let rate: u64 = s
        .miners
        .iter()
        .filter(|m| m.pool.as_deref() == Some(p.name.as_str()))
        .map(|m| m.hashrate_5m)
        .sum();
    let measured = s.pools.iter().any(|p| p.shares.accepted > 0);
    let cue = if !measured {
        "<span class=muted>(no accepted work yet)</span>".to_string()
    } else if (t.measured_ppm - t.target_ppm).abs() <= ON_TARGET_PPM {
        "<b class=on>on target</b>".to_string()
    } else {
        format!(
            "<b class=off>off by {} pp</b>",
            ppm((t.measured_ppm - t.target_ppm).abs())
        )
    };
    let day = p
        .actual_24h_permille
        .map(|v| format!("{}.{} %", v / 10, v % 10))
        .unwrap_or_else(|| "-".into());
    let _ = write!(
        h,
        "<div class=card><h3>{} <span class={class}>{state}</span> <span class=muted>{} · weight {} · priority {}</span></h3><dl>",
        esc(&p.name),
        match (p.protocol, p.encrypted) {
            ("sv2", true) => "SV2, encrypted",
            ("sv2", false) => "SV2",
            _ => "SV1",
        },
        p.weight,
        p.priority
    );
    let _ = write!(
        h,
        "<dt>split</dt><dd>target {} % · last hour {} % {cue} · 24 h {day}</dd>",
        ppm(t.target_ppm),
        ppm(t.measured_ppm)
    );
    let _ = write!(
        h,
        "<dt>hashrate</dt><dd>{} from {}</dd>",
        hashrate(rate),
        count(p.miners, "miner", "miners")
    );
    let _ = write!(
        h,
        "<dt>shares</dt><dd>{} accepted · {} rejected · {} stale · {} lost</dd>",
        p.shares.accepted, p.shares.rejected, p.shares.stale, p.shares.lost
    );
    let _ = write!(
        h,
        "<dt>last share</dt><dd>{}</dd><dt>last job</dt><dd>{}</dd><dt>difficulty</dt><dd>{} · answer time {} ms</dd>",
        p.last_share_age_ms.map(ago).unwrap_or_else(|| "none yet".into()),
        p.last_job_age_ms.map(ago).unwrap_or_else(|| "none yet".into()),
        difficulty(p.difficulty),
        p.rtt_ms
    );
    let _ = write!(
        h,
        "<dt>host</dt><dd>{}</dd><dt>user</dt><dd>{}</dd>",
        esc(&p.address),
        esc(&p.user)
    );
    if !p.rejects.is_empty() {
        h.push_str("<dt>rejected as</dt><dd>");
        for (i, (r, n)) in p.rejects.iter().enumerate() {
            let _ = write!(h, "{}{} × {n}", if i > 0 { ", " } else { "" }, esc(r));
        }
        h.push_str("</dd>");
    }
    if !p.last_error.is_empty() {
        let _ = write!(h, "<dt>last error</dt><dd>{}</dd>", esc(&p.last_error));
    }
    h.push_str("</dl></div>");
}

/// The split controller's terms, explained.
fn controller(h: &mut String, s: &Snapshot) {
    h.push_str("<details><summary>Split controller</summary><p class=muted>Each interval the controller moves each pool's share of miners by P + I + D percentage points. P: how far the last hour is from the target, times kp. I: the error added up over time, which removes a lasting offset. D: how fast the error changes, which damps overshoot. Debt: the accepted work a pool is still owed (positive) or has had extra, in percent-intervals; the scheduler pays it back first.</p><table><tr><th>pool</th><th>P</th><th>I</th><th>D</th><th>debt</th></tr>");
    for p in &s.pools {
        let t = &p.split;
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.name),
            ppm(t.p),
            ppm(t.i),
            ppm(t.d),
            t.debt / 10_000
        );
    }
    h.push_str("</table></details>");
}

/// The controls, for holders of the API token: one form, a button per action (`formaction`),
/// the token typed once (a password field the browser may remember).
fn controls(h: &mut String, s: &Snapshot) {
    h.push_str("<details><summary>Change the split (needs the API token)</summary><form method=post action=/api/weights><dl>");
    for (i, p) in s.pools.iter().enumerate() {
        let _ = write!(
            h,
            "<dt><label for=w{i}>{}</label></dt><dd><input id=w{i} name='weight.{}' type=number min=0 max=1000000 inputmode=numeric value={} style=width:7em> <button formaction='/api/pools/{}/{}'>{}</button></dd>",
            esc(&p.name),
            esc(&super::control::encode(&p.name)),
            p.weight,
            esc(&super::control::encode(&p.name)),
            if p.disabled { "enable" } else { "disable" },
            if p.disabled { "enable" } else { "disable" }
        );
    }
    h.push_str("<dt><label for=ps>preset</label></dt><dd><select id=ps name=preset>");
    let current = s.split.preset;
    for p in crate::core::split::pid::Preset::ALL {
        let _ = write!(
            h,
            "<option{}>{}</option>",
            if Some(p) == current { " selected" } else { "" },
            p.name()
        );
    }
    h.push_str("</select> <button formaction=/api/split>switch preset</button></dd><dt><label for=tk>API token</label></dt><dd><input id=tk type=password name=token autocomplete=current-password required style=width:12em></dd></dl><button>set weights</button> <span class=muted>weights are relative: 70/30 and 7/3 are the same split</span></form></details>");
}

/// The page a refused control form gets: what was wrong, and the way back.
pub fn refused(msg: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'><title>hashmux</title><style>{STYLE}</style></head><body><p class='st bad'>{}</p><p><a href=/>back to the page</a></p></body></html>",
        esc(msg)
    )
}

fn miner_card(h: &mut String, s: &Snapshot, m: &MinerSnap) {
    let idle = m.last_share_age_ms.unwrap_or(m.connected_ms);
    let last = match m.last_share_age_ms {
        Some(a) => ago(a),
        None => "none yet".into(),
    };
    let last_class = if idle >= STALE_MINER_MS { "down" } else { "" };
    // The worker's totals include this session.
    let (ever, best_ever) = s
        .workers
        .iter()
        .find(|(w, _)| w == &m.worker)
        .map_or((m.shares.valid, m.shares.best), |(_, c)| (c.valid, c.best));
    let _ = write!(
        h,
        "<div class=card><h3>{} <span class=muted>{} · {}</span></h3><dl><dt>pool</dt><dd>{}</dd>",
        esc(worker(m)),
        m.protocol.to_ascii_uppercase(),
        m.addr.ip(),
        esc(m.pool.as_deref().unwrap_or("none"))
    );
    let _ = write!(
        h,
        "<dt>hashrate</dt><dd>{} (5 min) · {} (1 h) {}</dd><dt>difficulty</dt><dd>{}</dd>",
        hashrate(m.hashrate_5m),
        hashrate(m.hashrate_1h),
        sparkline(&m.sparkline),
        m.difficulty.map(difficulty).unwrap_or_else(|| "-".into())
    );
    let _ = write!(
        h,
        "<dt>best share</dt><dd>{}</dd><dt>last share</dt><dd class='{last_class}'>{last}</dd>",
        match (m.best_share, best_ever) {
            (Some(d), e) => format!(
                "{} this session · {} ever",
                difficulty(d),
                difficulty(Difficulty(e.max(d.0)))
            ),
            (None, 0) => "none yet".into(),
            (None, e) => format!("none this session · {} ever", difficulty(Difficulty(e))),
        }
    );
    let c = &m.shares;
    let _ = write!(
        h,
        "<dt>shares</dt><dd>{} valid this session ({} since first start)</dd><dt>refused</dt><dd>{} too easy · {} duplicate · {} stale · {} malformed</dd><dt>at pools</dt><dd>{} accepted · {} rejected · {} lost</dd></dl></div>",
        c.valid,
        ever,
        c.low_difficulty,
        c.duplicate,
        c.stale,
        c.malformed,
        c.accepted,
        c.rejected,
        c.lost
    );
}

/// The last hour's hashrate as a small inline SVG (60 × 16), scaled to its own peak; slots
/// before the miner connected are left out.
fn sparkline(points: &[Option<u64>]) -> String {
    let peak = points.iter().flatten().copied().max().unwrap_or(0).max(1) as u128;
    let step = 60 / points.len().saturating_sub(1).max(1);
    let mut o = String::from("<svg width=60 height=16 viewBox='0 0 60 16' role=img aria-label='hashrate, last hour'><polyline fill=none stroke=#1f77b4 stroke-width=1.5 points='");
    let mut first = true;
    for (i, p) in points.iter().enumerate() {
        let Some(v) = p else { continue };
        let y = 15 - (*v as u128 * 14 / peak) as u32;
        let _ = write!(o, "{}{},{y}", if first { "" } else { " " }, i * step);
        first = false;
    }
    o.push_str("'/></svg>");
    o
}

fn workers(h: &mut String, s: &Snapshot) {
    if s.workers.is_empty() {
        return;
    }
    h.push_str("<h2>Workers since first start</h2><table><tr><th>worker</th><th>work</th><th>accepted</th><th>rejected</th><th>lost</th></tr>");
    for (name, c) in &s.workers {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            work(c.work_valid),
            c.accepted,
            c.rejected,
            c.lost
        );
    }
    h.push_str(
        "</table><p class=muted>work: hashes the valid shares stand for (difficulty × 2³²).</p>",
    );
}

fn worker(m: &MinerSnap) -> &str {
    if m.worker.is_empty() {
        "(no name)"
    } else {
        &m.worker
    }
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

/// `n` and the noun in the right number: "1 miner", "2 miners".
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// ppm as a percentage with one decimal.
fn ppm(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let v = v.unsigned_abs();
    format!("{sign}{}.{}", v / 10_000, v % 10_000 / 1_000)
}

/// `num / den` to three significant digits (at least the whole part), no floats.
fn sig3(num: u128, den: u128) -> String {
    if den == 0 || num == 0 {
        return "0".into();
    }
    let whole = num / den;
    if whole >= 100 {
        return whole.to_string();
    }
    // Decimals so that three significant digits show: 1.23, 12.3, 0.0123.
    let mut decimals = if whole >= 10 { 1 } else { 2 };
    if whole == 0 {
        // k: the first digit's place after the point (0.00123: k = 3).
        let (mut probe, mut k) = (num * 10, 1);
        while probe < den && k < 30 {
            probe *= 10;
            k += 1;
        }
        decimals = k + 2;
    }
    let scale = 10u128.pow(decimals);
    let v = (num * scale + den / 2) / den;
    let (w, f) = (v / scale, v % scale);
    let f = format!("{f:0width$}", width = decimals as usize);
    let f = f.trim_end_matches('0');
    if f.is_empty() {
        w.to_string()
    } else {
        format!("{w}.{f}")
    }
}

/// A value with an SI prefix, three significant digits: `12.3 T` + `unit`.
fn si(v: u128, unit: &str) -> String {
    const PREFIX: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    let mut p = 0;
    let mut div: u128 = 1;
    while p + 1 < PREFIX.len() && v >= div * 1000 {
        div *= 1000;
        p += 1;
    }
    format!("{} {}{unit}", sig3(v, div), PREFIX[p])
}

fn hashrate(hs: u64) -> String {
    si(hs as u128, "H/s")
}

/// Work as hashes (`work` is difficulty × 2^32 summed, i.e. hashes).
fn work(w: u128) -> String {
    si(w, "H")
}

/// A difficulty to three significant digits, large ones with k/M/G.
fn difficulty(d: Difficulty) -> String {
    let one = 1u128 << 32;
    if (d.0 as u128) < one * 1000 {
        return sig3(d.0 as u128, one);
    }
    si(d.0 as u128 >> 32, "").replace(' ', "")
}

/// "just now", "12 s", "3 min", "2 h 5 min", "4 d" (without "ago").
fn age_words(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, s / 60 % 60),
        _ => format!("{} d {} h", s / 86_400, s / 3600 % 24),
    }
}

fn ago(ms: u64) -> String {
    if ms < 1000 {
        return "just now".into();
    }
    format!("{} ago", age_words(ms))
}

fn duration(ms: u64) -> String {
    age_words(ms)
}

/// Clock time `HH:MM` (UTC) of `unix` seconds.
fn clock(unix: u64) -> String {
    let s = unix % 86_400;
    format!("{:02}:{:02}", s / 3600, s / 60 % 60)
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

#[cfg(test)]
#[path = "page_tests.rs"]
mod tests;
