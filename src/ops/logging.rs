//! Logging to stderr (procd hands it to logread), plain or as JSON lines.
//!
//! Events that matter to an operator are logged with an explicit event name as the log
//! target (`log::warn!(target: "pool_lost", ...)`): `pool_connected`, `pool_live`,
//! `pool_lost`, `pool_message`, `miner_connected`, `miner_disconnected`, `miner_refused`,
//! `miner_switched`, `share_rejected`, `share_lost`, `config_reloaded`,
//! `config_reload_failed`, `control`. Everything else carries its module path. In JSON mode
//! each record is one line: `{"level":"warn","event":"pool_lost","msg":"..."}`. No line is
//! logged per accepted share at info level. A kind of line logged more than [`BURST`] times a
//! minute is held back and its count reported once a minute ([`RateLimit`]), so a peer doing
//! something wrong a thousand times a second costs a few lines, and a router's small log ring
//! keeps what matters.

use std::cell::RefCell;
use std::io::Write;
use std::time::Instant;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Plain,
    Json,
}

/// Lines of one kind written in a window before the rest are held back.
pub const BURST: u32 = 5;
/// The window, and how often a held-back kind reports what it held back.
pub const WINDOW_MS: u64 = 60_000;
/// Kinds tracked at once (a full table forgets the kind whose window is oldest).
const SITES: usize = 64;

/// What to do with one log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Write,
    /// Write it, after a line saying this many lines of the same kind were held back.
    WriteAfterHeldBack(u32),
    HoldBack,
}

struct Site {
    key: u64,
    window_start_ms: u64,
    written: u32,
    held: u32,
}

/// Per kind of line (its level, target and text with the digits left out, so "share 17 lost"
/// and "share 18 lost" are one kind; router builds have no file and line to tell call sites
/// apart): at most [`BURST`] lines per [`WINDOW_MS`]; the rest are counted and reported once
/// with the next line of that kind. A warning written once per share or per notify thus costs
/// a few lines a minute, not thousands a second. Pure: time is an argument.
#[derive(Default)]
pub struct RateLimit {
    sites: heapless::Vec<Site, SITES>,
}

impl RateLimit {
    pub fn check(&mut self, key: u64, now_ms: u64) -> Verdict {
        let site = match self.sites.iter_mut().position(|s| s.key == key) {
            Some(i) => &mut self.sites[i],
            None => {
                let fresh = Site {
                    key,
                    window_start_ms: now_ms,
                    written: 0,
                    held: 0,
                };
                if self.sites.is_full() {
                    // Make room: forget the kind whose window is oldest.
                    if let Some(i) =
                        (0..self.sites.len()).min_by_key(|&i| self.sites[i].window_start_ms)
                    {
                        self.sites.swap_remove(i);
                    }
                }
                let _ = self.sites.push(fresh);
                let last = self.sites.len() - 1;
                &mut self.sites[last]
            }
        };
        if now_ms.saturating_sub(site.window_start_ms) >= WINDOW_MS {
            site.window_start_ms = now_ms;
            site.written = 1;
            let held = std::mem::take(&mut site.held);
            return if held > 0 {
                Verdict::WriteAfterHeldBack(held)
            } else {
                Verdict::Write
            };
        }
        if site.written < BURST {
            site.written += 1;
            Verdict::Write
        } else {
            site.held += 1;
            Verdict::HoldBack
        }
    }
}

thread_local! {
    /// One limiter per thread: the proxy's is its own (tests run several proxies).
    static LIMIT: RefCell<RateLimit> = RefCell::new(RateLimit::default());
}

struct Logger {
    level: log::LevelFilter,
    format: Format,
    start: Instant,
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let now = self.start.elapsed().as_millis() as u64;
        let msg = r.args().to_string();
        let key = kind_of(r.level(), r.target(), &msg);
        let verdict = LIMIT.with(|x| x.borrow_mut().check(key, now));
        let mut out = String::new();
        match verdict {
            Verdict::HoldBack => return,
            Verdict::WriteAfterHeldBack(n) => {
                let note = format!(
                    "(the next line was held back {n} times in the last {} s)",
                    WINDOW_MS / 1000
                );
                out.push_str(&self.line(r.level(), r.target(), &note));
            }
            Verdict::Write => {}
        }
        out.push_str(&self.line(r.level(), r.target(), &msg));
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }

    fn flush(&self) {}
}

impl Logger {
    fn line(&self, level: log::Level, target: &str, msg: &str) -> String {
        match self.format {
            Format::Json => json_line(level, target, msg),
            Format::Plain => plain_line(level, target, msg),
        }
    }
}

/// The kind of a line: FNV-1a over its level, target and text without digits.
pub fn kind_of(level: log::Level, target: &str, msg: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let level = [level as u8];
    let bytes = level.iter().chain(target.as_bytes()).chain(msg.as_bytes());
    for &b in bytes.filter(|b| !b.is_ascii_digit()) {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// One plain log line: `LEVEL [event or module] message`.
pub fn plain_line(level: log::Level, target: &str, msg: &str) -> String {
    format!("{:<5} [{target}] {msg}\n", level.as_str())
}

/// One JSON log line (with the trailing newline).
pub fn json_line(level: log::Level, target: &str, msg: &str) -> String {
    let mut s = String::with_capacity(64 + msg.len());
    s.push_str("{\"level\":\"");
    s.push_str(&level.as_str().to_ascii_lowercase());
    s.push_str("\",\"event\":");
    crate::stats::snapshot::json_str(&mut s, target.rsplit("::").next().unwrap_or(target));
    s.push_str(",\"msg\":");
    crate::stats::snapshot::json_str(&mut s, msg);
    s.push_str("}\n");
    s
}

/// Install the global logger. Fails if one is installed already.
pub fn init(level: log::LevelFilter, format: Format) -> Result<(), String> {
    let logger = Logger {
        level,
        format,
        start: Instant::now(),
    };
    log::set_logger(Box::leak(Box::new(logger))).map_err(|e| e.to_string())?;
    log::set_max_level(level);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_call_site_past_its_burst_is_held_back_then_reported_once() {
        let mut r = RateLimit::default();
        let site = kind_of(log::Level::Warn, "share_lost", "share 17 lost");
        assert_eq!(
            site,
            kind_of(log::Level::Warn, "share_lost", "share 18 lost"),
            "digits aside, one kind"
        );
        let other = kind_of(log::Level::Warn, "share_lost", "pool a gone");
        for i in 0..BURST {
            assert_eq!(r.check(site, i as u64), Verdict::Write);
        }
        for t in 0..1000 {
            assert_eq!(r.check(site, 100 + t), Verdict::HoldBack);
        }
        assert_eq!(
            r.check(other, 200),
            Verdict::Write,
            "another site is not held"
        );
        assert_eq!(
            r.check(site, WINDOW_MS + 5),
            Verdict::WriteAfterHeldBack(1000)
        );
        assert_eq!(r.check(site, WINDOW_MS + 6), Verdict::Write);
        assert_eq!(
            r.check(site, 3 * WINDOW_MS),
            Verdict::Write,
            "nothing held: no note"
        );
    }

    #[test]
    fn test_full_table_forgets_the_oldest_kind_and_limits_the_new_one() {
        let mut r = RateLimit::default();
        for k in 0..SITES as u64 {
            r.check(k, k);
        }
        for t in 0..BURST as u64 {
            assert_eq!(r.check(999, 100 + t), Verdict::Write);
        }
        assert_eq!(
            r.check(999, 200),
            Verdict::HoldBack,
            "a new kind is limited too"
        );
    }

    #[test]
    fn test_plain_line_has_level_target_and_message() {
        assert_eq!(
            plain_line(log::Level::Warn, "pool_lost", "x"),
            "WARN  [pool_lost] x\n"
        );
    }

    #[test]
    fn test_json_line_escapes_and_names_the_event() {
        let l = json_line(log::Level::Warn, "pool_lost", "pool \"a\" lost\n");
        assert_eq!(
            l,
            "{\"level\":\"warn\",\"event\":\"pool_lost\",\"msg\":\"pool \\\"a\\\" lost\\u000a\"}\n"
        );
    }

    #[test]
    fn test_json_line_module_target_becomes_last_segment() {
        assert!(json_line(log::Level::Info, "hashmux::upstream::sv1", "x")
            .contains("\"event\":\"sv1\""));
    }
}
