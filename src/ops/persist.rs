//! Stats that survive a restart: per-pool and per-worker totals and the split history,
//! written to a small text file (atomically: temp file, then rename) at an interval and on a
//! clean shutdown, read back at start.
//!
//! Format (version 1), one record per line, names percent-encoded, checksum last:
//! ```text
//! hashmux-stats 1
//! pool <name> <12 counters>
//! worker <name> <12 counters>
//! history <hex of History::to_bytes>
//! end <fnv-1a 64 of every byte before this line, hex>
//! ```
//! A file that fails any check is refused as a whole with a reason ([`LoadError`]); the caller
//! reports it and starts from zero. Never fatal.

use crate::stats::history::History;
use crate::stats::ShareCounters;
use std::fmt::{self, Write};

const MAGIC: &str = "hashmux-stats 1";
/// Largest file we read (a few KB in practice; the history is ~46 KB of hex at most).
pub const MAX_FILE: usize = 256 * 1024;

/// What is saved.
#[derive(Default)]
pub struct Saved {
    pub pools: Vec<(String, ShareCounters)>,
    pub workers: Vec<(String, ShareCounters)>,
    pub history: Option<History>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum LoadError {
    TooLarge,
    NotText,
    BadMagic,
    BadChecksum,
    Truncated,
    BadLine(usize),
    BadHistory(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::TooLarge => write!(f, "file larger than {MAX_FILE} bytes"),
            LoadError::NotText => f.write_str("not UTF-8 text"),
            LoadError::BadMagic => write!(f, "does not start with \"{MAGIC}\""),
            LoadError::BadChecksum => f.write_str("checksum does not match (file damaged)"),
            LoadError::Truncated => f.write_str("no end line (file truncated)"),
            LoadError::BadLine(n) => write!(f, "line {n} is malformed"),
            LoadError::BadHistory(e) => write!(f, "history: {e}"),
        }
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn encode_name(out: &mut String, name: &str) {
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"._-#:@".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02x}");
        }
    }
    if name.is_empty() {
        out.push('%');
    }
}

fn decode_name(s: &str) -> Option<String> {
    if s == "%" {
        return Some(String::new());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn counters_out(out: &mut String, c: &ShareCounters) {
    for n in c.counts() {
        let _ = write!(out, " {n}");
    }
    let _ = write!(out, " {} {} {}", c.work_valid, c.work_accepted, c.best);
}

fn counters_in<'a>(mut it: impl Iterator<Item = &'a str>) -> Option<ShareCounters> {
    let mut counts = [0u64; 10];
    for c in counts.iter_mut() {
        *c = it.next()?.parse().ok()?;
    }
    let work_valid = it.next()?.parse().ok()?;
    let work_accepted = it.next()?.parse().ok()?;
    let mut c = ShareCounters::from_counts(counts, work_valid, work_accepted);
    // The best share came later: files written before it have none.
    if let Some(best) = it.next() {
        c.best = best.parse().ok()?;
    }
    it.next().is_none().then_some(c)
}

/// Encode everything into the file's text.
pub fn encode(s: &Saved) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str(MAGIC);
    out.push('\n');
    for (kind, list) in [("pool", &s.pools), ("worker", &s.workers)] {
        for (name, c) in list {
            out.push_str(kind);
            out.push(' ');
            encode_name(&mut out, name);
            counters_out(&mut out, c);
            out.push('\n');
        }
    }
    if let Some(h) = &s.history {
        out.push_str("history ");
        for b in h.to_bytes() {
            let _ = write!(out, "{b:02x}");
        }
        out.push('\n');
    }
    let sum = fnv1a(out.as_bytes());
    let _ = writeln!(out, "end {sum:016x}");
    out
}

/// Decode the file's bytes.
pub fn decode(bytes: &[u8]) -> Result<Saved, LoadError> {
    if bytes.len() > MAX_FILE {
        return Err(LoadError::TooLarge);
    }
    let text = core::str::from_utf8(bytes).map_err(|_| LoadError::NotText)?;
    if !text.starts_with(MAGIC) {
        return Err(LoadError::BadMagic);
    }
    let end_at = text
        .rfind("end ")
        .filter(|&i| i == 0 || text.as_bytes()[i - 1] == b'\n')
        .ok_or(LoadError::Truncated)?;
    let sum =
        u64::from_str_radix(text[end_at + 4..].trim_end(), 16).map_err(|_| LoadError::Truncated)?;
    if fnv1a(&bytes[..end_at]) != sum {
        return Err(LoadError::BadChecksum);
    }
    let mut saved = Saved::default();
    for (n, line) in text[..end_at].lines().enumerate().skip(1) {
        let mut it = line.split(' ');
        let bad = || LoadError::BadLine(n + 1);
        match it.next() {
            Some(kind @ ("pool" | "worker")) => {
                let name = decode_name(it.next().ok_or_else(bad)?).ok_or_else(bad)?;
                let c = counters_in(it).ok_or_else(bad)?;
                if kind == "pool" {
                    &mut saved.pools
                } else {
                    &mut saved.workers
                }
                .push((name, c));
            }
            Some("history") => {
                let hex = it.next().ok_or_else(bad)?;
                let mut raw = vec![0u8; hex.len() / 2];
                if crate::wire::sv1::hex_decode(hex, &mut raw) != Some(raw.len()) {
                    return Err(bad());
                }
                saved.history = Some(
                    History::from_bytes(&raw).map_err(|e| LoadError::BadHistory(e.to_string()))?,
                );
            }
            _ => return Err(bad()),
        }
    }
    Ok(saved)
}

/// Write atomically: `<path>.tmp`, then rename over `path`.
pub fn write_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Write the core's stats file now (if one is configured). Errors are logged, never fatal.
/// Returns the file written, or `None` when none is configured or the write failed.
pub fn save(core: &mut crate::core::Core) -> Option<std::path::PathBuf> {
    let path = core.config().stats.file.clone()?;
    let mut saved = core.take_saved();
    let text = encode(&saved);
    if let Some(h) = saved.history.take() {
        core.restore_history(h);
    }
    match write_file(&path, &text) {
        Ok(()) => {
            log::debug!("stats saved to {}", path.display());
            Some(path)
        }
        Err(e) => {
            log::warn!(target: "stats_save_failed", "cannot write stats file {}: {e}", path.display());
            None
        }
    }
}

/// Load the stats file at start. A missing file is normal; a damaged one is reported and
/// ignored.
pub fn load(core: &mut crate::core::Core) {
    let Some(path) = core.config().stats.file.clone() else {
        return;
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            log::warn!(target: "stats_load_failed", "cannot read stats file {}: {e}; starting from zero", path.display());
            return;
        }
    };
    match decode(&bytes) {
        Ok(saved) => {
            core.load_saved(saved);
            log::info!(target: "stats_loaded", "stats loaded from {}", path.display());
        }
        Err(e) => log::warn!(
            target: "stats_load_failed",
            "stats file {} is damaged ({e}); ignoring it and starting from zero",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Saved {
        let c = ShareCounters {
            submitted: 9,
            valid: 8,
            accepted: 3,
            work_valid: 1 << 70,
            best: 12_345 << 32,
            ..ShareCounters::default()
        };
        let mut h = History::new();
        h.set_targets(&[700_000, 300_000]);
        h.record(0, 0, 7);
        h.record(0, 1, 3);
        h.roll(120_000);
        Saved {
            pools: vec![
                ("a".into(), c.clone()),
                ("pool b\n".into(), ShareCounters::default()),
            ],
            workers: vec![
                ("acct.rig 1".into(), c),
                (String::new(), ShareCounters::default()),
            ],
            history: Some(h),
        }
    }

    fn core_with_stats(stats: &str) -> crate::core::Core {
        let json = format!(
            r#"{{"pools":[{{"name":"a","url":"stratum+tcp://127.0.0.1:1","user":"u"}}]{stats}}}"#
        );
        let cfg = crate::ops::config::parse(json.as_bytes()).expect("config parses");
        crate::core::Core::new(cfg, 0)
    }

    #[test]
    fn test_counters_best_share_round_trips_and_older_lines_have_none() {
        let c = sample().workers[0].1.clone();
        let mut line = String::new();
        counters_out(&mut line, &c);
        let back = counters_in(line.split_whitespace()).expect("parses");
        assert_eq!(back.best, 12_345 << 32);
        assert_eq!(back.counts(), c.counts());
        // A line from before the best share was kept: twelve numbers.
        let old: Vec<&str> = line.split_whitespace().collect();
        let back = counters_in(old[..12].iter().copied()).expect("older line parses");
        assert_eq!((back.best, back.valid), (0, 8));
        assert!(
            counters_in(line.split_whitespace().chain(["1"])).is_none(),
            "too many"
        );
    }

    #[test]
    fn test_no_stats_file_save_writes_nothing() {
        assert_eq!(save(&mut core_with_stats("")), None);
    }

    #[test]
    fn test_stats_file_configured_save_writes_it() {
        let dir = std::env::temp_dir().join(format!("hashmux-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stats.txt");
        let stats = format!(r#","stats":{{"file":"{}"}}"#, path.display());
        assert_eq!(save(&mut core_with_stats(&stats)), Some(path.clone()));
        let written = std::fs::read(&path).unwrap();
        assert!(decode(&written).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_saved_round_trips() {
        let text = encode(&sample());
        let back = decode(text.as_bytes()).unwrap();
        assert_eq!(back.pools, sample().pools);
        assert_eq!(back.workers, sample().workers);
        assert_eq!(back.history.unwrap().len(), sample().history.unwrap().len());
    }

    #[test]
    fn test_damaged_file_is_refused_with_reason() {
        let text = encode(&sample());
        let flipped = text.replacen(" 9 8 ", " 9 9 ", 1);
        assert_eq!(
            decode(flipped.as_bytes()).err(),
            Some(LoadError::BadChecksum)
        );
        assert_eq!(
            decode(&text.as_bytes()[..text.len() / 2]).err(),
            Some(LoadError::Truncated)
        );
        assert_eq!(decode(b"garbage").err(), Some(LoadError::BadMagic));
        assert_eq!(decode(&[0xff, 0xfe]).err(), Some(LoadError::NotText));
    }

    #[test]
    fn test_bad_line_is_named() {
        let mut body = String::from("hashmux-stats 1\npool a 1 2\n");
        let sum = fnv1a(body.as_bytes());
        body.push_str(&format!("end {sum:016x}\n"));
        assert_eq!(decode(body.as_bytes()).err(), Some(LoadError::BadLine(2)));
    }
}
