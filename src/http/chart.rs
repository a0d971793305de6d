//! The split as an inline SVG: no JavaScript, no external assets.
//!
//! Per configured pool, in a fixed colour by pool index: a solid line for the measured share
//! (trailing 15-minute average of the minutes that have data) and a dashed line for its
//! target. Minutes with no data break the lines. The x axis zooms to the data there is: the
//! last hour, 6 hours or 24 hours ([`WINDOWS`]), newest sample at the right edge; the y axis is
//! 0–100 %. The legend names exactly the configured pools.
//!
//! Compact by construction: integer coordinates, at most one point per pixel column, runs of
//! equal height reduced to their ends, one `<polyline>` per unbroken segment. Integer
//! arithmetic only.

use crate::stats::history::{History, Sample, FULL, MINUTES, NO_DATA};
use crate::MAX_POOLS;
use std::fmt::Write;

/// Line colour per pool index.
pub const COLOURS: [&str; MAX_POOLS] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];
/// Minutes in the trailing average of the measured share.
pub const SMOOTH_MINUTES: usize = 15;
/// The x axis spans the first of these (minutes, label) that holds all the data.
pub const WINDOWS: [(usize, &str); 3] = [(60, "1h"), (360, "6h"), (MINUTES, "24h")];

const WIDTH: u32 = 640;
const HEIGHT: u32 = 200;
/// Plot area.
const X0: u32 = 48;
const X1: u32 = 630;
const Y0: u32 = 8;
const Y1: u32 = 148;
const X_LABEL_Y: u32 = 166;
const LEGEND_Y: u32 = 190;

/// The chart of `h`; `pool_names[i]` names pool `i` in the legend.
pub fn render(h: &History, pool_names: &[&str]) -> String {
    let all: Vec<&Sample> = h.iter().collect();
    let (window, label) = WINDOWS
        .iter()
        .copied()
        .find(|(w, _)| all.len() <= *w)
        .unwrap_or(WINDOWS[WINDOWS.len() - 1]);
    let samples = &all[all.len().saturating_sub(window)..];
    let shown = shown(pool_names);
    let mut o = String::with_capacity(4096);
    let _ = write!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="pool split, last {label}" font-family="sans-serif" font-size="16" fill="#555">"##
    );
    axes(&mut o, window);
    let mut any_actual = false;
    if !samples.is_empty() {
        o.push_str(
            r#"<g fill="none" stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round">"#,
        );
        for (p, colour) in COLOURS.iter().enumerate().filter(|(p, _)| shown[*p]) {
            let target: Vec<u16> = samples.iter().map(|s| s.target[p]).collect();
            // Smoothed over the whole history, then cut to the window.
            let actual = smooth(all.iter().map(|s| s.actual[p]));
            let actual = &actual[all.len() - samples.len()..];
            any_actual |= actual.iter().any(|&v| v != NO_DATA);
            let _ = write!(o, r#"<g stroke="{colour}">"#);
            polylines(
                &mut o,
                &target,
                window,
                r#" stroke-dasharray="4 3" stroke-width="1""#,
            );
            polylines(&mut o, actual, window, "");
            o.push_str("</g>");
        }
        o.push_str("</g>");
    }
    if !any_actual {
        let _ = write!(
            o,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="18">no data yet</text>"#,
            (X0 + X1) / 2,
            (Y0 + Y1) / 2 + 4
        );
    }
    legend(&mut o, &shown, pool_names);
    o.push_str("</svg>");
    o
}

/// Pools to draw: the configured ones (an empty name is a vacant table slot, or a pool a
/// reload removed).
fn shown(names: &[&str]) -> [bool; MAX_POOLS] {
    core::array::from_fn(|p| names.get(p).is_some_and(|n| !n.is_empty()))
}

/// Gridlines at 0/25/50/75/100 % with labels, the x axis labels for a `window`-minute span.
fn axes(o: &mut String, window: usize) {
    o.push_str(r##"<g stroke="#ddd">"##);
    for pct in [0u32, 25, 50, 75, 100] {
        let y = y_of(pct as u16 * 10);
        let _ = write!(o, r#"<line x1="{X0}" y1="{y}" x2="{X1}" y2="{y}"/>"#);
    }
    let mid = (X0 + X1) / 2;
    let _ = write!(
        o,
        r#"<line x1="{X0}" y1="{Y0}" x2="{X0}" y2="{Y1}"/><line x1="{mid}" y1="{Y0}" x2="{mid}" y2="{Y1}"/><line x1="{X1}" y1="{Y0}" x2="{X1}" y2="{Y1}"/></g>"#
    );
    o.push_str(r#"<g text-anchor="end">"#);
    for pct in [0u32, 25, 50, 75, 100] {
        let y = y_of(pct as u16 * 10) + 4;
        let _ = write!(o, r#"<text x="{}" y="{y}">{pct}%</text>"#, X0 - 4);
    }
    o.push_str("</g>");
    let half = window / 2;
    let (start, middle) = if window >= 120 {
        (format!("-{}h", window / 60), format!("-{}h", half / 60))
    } else {
        (format!("-{window}min"), format!("-{half}min"))
    };
    let _ = write!(
        o,
        r#"<text x="{X0}" y="{X_LABEL_Y}">{start}</text><text x="{mid}" y="{X_LABEL_Y}" text-anchor="middle">{middle}</text><text x="{X1}" y="{X_LABEL_Y}" text-anchor="end">now</text>"#
    );
}

fn legend(o: &mut String, shown: &[bool; MAX_POOLS], names: &[&str]) {
    let pools = shown.iter().filter(|&&s| s).count();
    if pools == 0 {
        return;
    }
    let spacing = (X1 - X0) / pools.max(4) as u32;
    // About 9 px per character at this font size, after an 18 px swatch.
    let max_chars = (spacing.saturating_sub(18) / 9).max(3) as usize;
    let drawn = COLOURS.iter().enumerate().filter(|(p, _)| shown[*p]);
    for (slot, (p, colour)) in drawn.enumerate() {
        let x = X0 + slot as u32 * spacing;
        let fallback;
        let name = match names.get(p) {
            Some(n) if !n.is_empty() => *n,
            _ => {
                fallback = format!("pool {p}");
                &fallback
            }
        };
        let _ = write!(
            o,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            x + 12,
            x + 16,
            LEGEND_Y + 4,
            esc(&shorten(name, max_chars)),
            y = LEGEND_Y,
        );
    }
}

/// `s` cut to `max` characters, the last one an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Trailing average over the last [`SMOOTH_MINUTES`] samples that have data, rounded; a sample
/// with no data stays [`NO_DATA`] so gaps still break the line.
fn smooth(values: impl Iterator<Item = u16>) -> Vec<u16> {
    let raw: Vec<u16> = values.collect();
    let mut out = Vec::with_capacity(raw.len());
    let (mut sum, mut count) = (0u32, 0u32);
    for (k, &v) in raw.iter().enumerate() {
        if v != NO_DATA {
            sum += v as u32;
            count += 1;
        }
        if k >= SMOOTH_MINUTES {
            let old = raw[k - SMOOTH_MINUTES];
            if old != NO_DATA {
                sum -= old as u32;
                count -= 1;
            }
        }
        out.push(if v == NO_DATA {
            NO_DATA
        } else {
            ((sum + count / 2) / count) as u16
        });
    }
    out
}

/// Pixel column of the sample at `age` minutes before the newest, in a `window`-minute span.
fn x_of(age: usize, window: usize) -> u32 {
    let span = (window.max(2) - 1) as u32;
    let age = age.min(window.max(2) - 1) as u32;
    X1 - (age * (X1 - X0) + span / 2) / span
}

/// Pixel row of a share in tenths of a percent.
fn y_of(v: u16) -> u32 {
    let v = v.min(FULL) as u32;
    Y0 + ((FULL as u32 - v) * (Y1 - Y0) + FULL as u32 / 2) / FULL as u32
}

/// One `<polyline>` per run of samples with data in `values` (oldest → newest).
fn polylines(o: &mut String, values: &[u16], window: usize, attrs: &str) {
    let n = values.len();
    let mut seg: Vec<(u32, u32)> = Vec::new();
    for (k, &v) in values.iter().enumerate() {
        if v == NO_DATA {
            emit(o, &mut seg, attrs);
            continue;
        }
        let p = (x_of(n - 1 - k, window), y_of(v));
        match seg.last_mut() {
            // Same pixel column: the newest sample wins.
            Some(last) if last.0 == p.0 => *last = p,
            _ => seg.push(p),
        }
    }
    emit(o, &mut seg, attrs);
}

/// Writes `seg` as a polyline (equal-height runs cut to their ends) and clears it.
fn emit(o: &mut String, seg: &mut Vec<(u32, u32)>, attrs: &str) {
    if seg.is_empty() {
        return;
    }
    if seg.len() == 1 {
        // A lone minute: a one-pixel stub so it shows.
        let (x, y) = seg[0];
        let x = x.min(X1 - 1);
        seg.clear();
        seg.extend([(x, y), (x + 1, y)]);
    }
    let _ = write!(o, r#"<polyline{attrs} points=""#);
    for (i, &(x, y)) in seg.iter().enumerate() {
        let inner = i > 0 && i + 1 < seg.len();
        if inner && seg[i - 1].1 == y && seg[i + 1].1 == y {
            continue;
        }
        if i > 0 {
            o.push(' ');
        }
        let _ = write!(o, "{x},{y}");
    }
    o.push_str(r#""/>"#);
    seg.clear();
}

/// Text escaped for XML; control characters (invalid in XML) dropped.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if c.is_control() => {}
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 60_000;

    /// `minutes` closed minutes with pools 0 and 1 at 70/30, targets 70/30.
    fn seventy_thirty(minutes: u64) -> History {
        let mut h = History::new();
        h.set_targets(&[700_000, 300_000]);
        for m in 0..=minutes {
            h.record(m * M, 0, 7_000);
            h.record(m * M, 1, 3_000);
        }
        h
    }

    /// `points` of every polyline, with or without the dash attribute.
    fn polyline_points(svg: &str, dashed: bool) -> Vec<Vec<(u32, u32)>> {
        svg.split("<polyline")
            .skip(1)
            .filter(|p| {
                let head = &p[..p.find("/>").unwrap()];
                head.contains("stroke-dasharray") == dashed
            })
            .map(|p| {
                let start = p.find("points=\"").unwrap() + 8;
                let end = start + p[start..].find('"').unwrap();
                p[start..end]
                    .split(' ')
                    .map(|xy| {
                        let (x, y) = xy.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect()
            })
            .collect()
    }

    fn assert_well_formed(svg: &str) {
        assert!(svg.starts_with("<svg "));
        assert!(svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<svg").count(), 1);
        assert_eq!(svg.matches("</svg>").count(), 1);
        assert_eq!(svg.matches("<g").count(), svg.matches("</g>").count());
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        for p in svg.split("<polyline").skip(1) {
            let close = p.find("/>").expect("polyline closed");
            assert!(!p[..close].contains('<'), "polyline not closed: {p}");
        }
        assert!(!svg.contains("NaN"));
        assert!(!svg.contains("=\"-"), "negative coordinate");
    }

    #[test]
    fn test_esc_xml_specials() {
        assert_eq!(esc(r#"a&b<c>d"e'f"#), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
        assert_eq!(esc("pool\u{1}\n1"), "pool1");
        assert_eq!(esc("plain"), "plain");
    }

    #[test]
    fn test_render_escapes_pool_names() {
        let h = seventy_thirty(5);
        let svg = render(&h, &["<b>&", "o'k\""]);
        assert!(svg.contains(">&lt;b&gt;&amp;</text>"));
        assert!(svg.contains(">o&apos;k&quot;</text>"));
        assert!(!svg.contains("<b>"));
        assert_well_formed(&svg);
    }

    #[test]
    fn test_render_no_data_shows_axes_and_message() {
        let h = History::new();
        let svg = render(&h, &[]);
        assert!(svg.contains("no data yet"));
        assert!(!svg.contains("<polyline"));
        for label in ["0%", "25%", "50%", "75%", "100%", "-60min", "-30min", "now"] {
            assert!(svg.contains(&format!(">{label}</text>")), "{label}");
        }
        assert_eq!(svg.matches("<line").count(), 5 + 3);
        assert!(svg.contains(r#"width="100%""#));
        assert!(svg.contains(r#"viewBox="0 0 640 200""#));
        assert_well_formed(&svg);
    }

    #[test]
    fn test_render_no_work_minutes_is_no_data() {
        let mut h = History::new();
        h.set_targets(&[500_000, 500_000]);
        h.roll(0);
        h.roll(30 * M);
        let svg = render(&h, &["a", "b"]);
        assert!(svg.contains("no data yet"));
        // Targets are known and drawn; there is no measured line.
        assert_eq!(polyline_points(&svg, true).len(), 2);
        assert!(polyline_points(&svg, false).is_empty());
        assert_well_formed(&svg);
    }

    #[test]
    fn test_render_seventy_thirty_lines_at_right_height() {
        let h = seventy_thirty(120);
        let svg = render(&h, &["main", "backup"]);
        assert!(!svg.contains("no data yet"));
        let y70 = y_of(700);
        let y30 = y_of(300);
        assert_eq!(y70, Y0 + (Y1 - Y0) * 3 / 10);
        assert_eq!(y30, Y0 + (Y1 - Y0) * 7 / 10);

        let targets = polyline_points(&svg, true);
        assert_eq!(targets.len(), 2);
        for (line, y) in targets.iter().zip([y70, y30]) {
            // Flat: cut to its two ends, ending at the right edge.
            assert_eq!(line.len(), 2);
            assert!(line.iter().all(|p| p.1 == y));
            assert_eq!(line[1].0, X1);
            assert_eq!(line[0].0, x_of(119, 360), "two hours of data: the 6 h view");
        }
        let actual = polyline_points(&svg, false);
        assert_eq!(actual.len(), 2);
        assert!(actual[0].iter().all(|p| p.1 == y70));
        assert!(actual[1].iter().all(|p| p.1 == y30));
        assert!(svg.contains(&format!(r#"stroke="{}""#, COLOURS[0])));
        assert!(svg.contains(&format!(r#"stroke="{}""#, COLOURS[1])));
        assert!(!svg.contains(COLOURS[2]));
        assert!(svg.contains(">main</text>") && svg.contains(">backup</text>"));
        assert_well_formed(&svg);
    }

    #[test]
    fn test_render_gap_breaks_polyline() {
        let mut h = History::new();
        h.set_targets(&[1_000_000]);
        for m in 0..100u64 {
            if (40..60).contains(&m) {
                h.roll(m * M); // the 1 s tick: minutes closed with targets, no work
            } else {
                h.record(m * M, 0, 1);
            }
        }
        h.roll(100 * M);
        let svg = render(&h, &["solo"]);
        assert_eq!(polyline_points(&svg, false).len(), 2);
        // The target is set throughout, so its line is not broken.
        assert_eq!(polyline_points(&svg, true).len(), 1);
        assert_well_formed(&svg);
    }

    #[test]
    fn test_render_full_day_is_compact() {
        let mut h = History::new();
        h.set_targets(&[500_000, 500_000]);
        for m in 0..(MINUTES as u64 + 200) {
            // A wobbling split so every column differs.
            let a = 400 + (m * 37 % 200);
            h.record(m * M, 0, a);
            h.record(m * M, 1, 1000 - a);
        }
        let svg = render(&h, &["a", "b"]);
        for line in polyline_points(&svg, false) {
            assert!(line.len() <= (X1 - X0 + 1) as usize);
            assert!(line.windows(2).all(|w| w[0].0 < w[1].0));
            assert_eq!(line[0].0, X0);
            assert_eq!(line.last().unwrap().0, X1);
            assert!(line.iter().all(|p| (Y0..=Y1).contains(&p.1)));
        }
        assert!(svg.len() < 16 * 1024, "{} bytes", svg.len());
        assert_well_formed(&svg);
    }

    #[test]
    fn test_smooth_trailing_average_skips_gaps() {
        let v = smooth([0, 1000, NO_DATA, 500].into_iter());
        assert_eq!(v, vec![0, 500, NO_DATA, 500]);
        let step: Vec<u16> = (0..30).map(|k| if k < 15 { 0 } else { 1000 }).collect();
        let s = smooth(step.into_iter());
        assert_eq!(s[14], 0);
        assert_eq!(s[15], (1000 + 7) / 15);
        assert_eq!(s[29], 1000);
    }

    #[test]
    fn test_lone_minute_drawn_as_stub() {
        let mut h = History::new();
        h.set_targets(&[1_000_000]);
        h.record(0, 0, 1);
        h.roll(M);
        let svg = render(&h, &["solo"]);
        let lines = polyline_points(&svg, false);
        assert_eq!(lines, vec![vec![(X1 - 1, Y0), (X1, Y0)]]);
        assert_well_formed(&svg);
    }

    #[test]
    fn test_legend_skips_vacant_slots_without_data() {
        let h = seventy_thirty(30);
        let svg = render(&h, &["a", "b", "", "", "", "", "", ""]);
        assert_eq!(svg.matches(r#"stroke-width="3""#).count(), 2, "{svg}");
        assert!(svg.contains(">a</text>") && svg.contains(">b</text>"));
        assert!(!svg.contains(">pool 2</text>"));
        assert_well_formed(&svg);
    }

    #[test]
    fn test_legend_only_configured_pools_and_shortens() {
        let mut h = History::new();
        h.set_targets(&[0, 0, 1_000_000]);
        h.record(0, 2, 1);
        h.roll(M);
        // Pool 2 has data but is no longer configured (a reload removed it): not drawn.
        let svg = render(&h, &["a-very-long-pool-name-indeed-yes"]);
        assert_eq!(svg.matches(r#"stroke-width="3""#).count(), 1, "{svg}");
        assert!(!svg.contains(">pool 2</text>") && !svg.contains(COLOURS[2]));
        assert!(!svg.contains("indeed-yes"));
        assert!(svg.contains('…'));
        assert_well_formed(&svg);
    }

    #[test]
    fn test_render_zooms_to_the_data_it_has() {
        for (minutes, window, start) in [
            (30, 60, "-60min"),
            (200, 360, "-6h"),
            (1000, MINUTES, "-24h"),
        ] {
            let svg = render(&seventy_thirty(minutes), &["main", "backup"]);
            assert!(
                svg.contains(&format!(">{start}</text>")),
                "{minutes} min: {svg}"
            );
            // The oldest sample sits at its place in the window, not squeezed to the right.
            let target = &polyline_points(&svg, true)[0];
            assert_eq!(target[0].0, x_of(minutes as usize - 1, window));
            assert!(
                target[0].0 < X1 - (X1 - X0) / 3,
                "{minutes} min spans the chart"
            );
        }
    }
}
