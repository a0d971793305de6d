//! Logging, plain or as JSON lines: info, debug and trace lines to stdout, warnings and errors
//! to stderr. procd hands both to logd (`procd_set_param stdout 1` / `stderr 1`) and logs a
//! daemon's stdout at `daemon.info` and its stderr at `daemon.err`, so `logread` shows each
//! line at its level.
//!
//! Events that matter to an operator are logged with an explicit event name as the log
//! target (`log::warn!(target: "pool_lost", ...)`): `pool_connected`, `pool_live`,
//! `pool_lost`, `pool_message`, `miner_connected`, `miner_disconnected`, `miner_refused`,
//! `miner_switched`, `share_rejected`, `share_lost`, `config_reloaded`,
//! `config_reload_failed`, `control`. Everything else carries its module path. In JSON mode
//! each record is one line:
//! `{"ts":"2026-12-02T16:10:04.123Z","level":"warn","event":"pool_lost","msg":"..."}` (UTC,
//! milliseconds). No line is
//! logged per accepted share at info level. A kind of line logged more than [`BURST`] times a
//! minute is held back and its count reported once a minute ([`RateLimit`]), so a peer doing
//! something wrong a thousand times a second costs a few lines, and a router's small log ring
//! keeps what matters.

use std::cell::RefCell;
use std::io::Write;
use std::time::{Instant, SystemTime};

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
        let unix_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
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
                out.push_str(&self.line(r.level(), r.target(), &note, unix_ms));
            }
            Verdict::Write => {}
        }
        out.push_str(&self.line(r.level(), r.target(), &msg, unix_ms));
        let _ = match stream_of(r.level()) {
            Stream::Stdout => std::io::stdout().lock().write_all(out.as_bytes()),
            Stream::Stderr => std::io::stderr().lock().write_all(out.as_bytes()),
        };
    }

    fn flush(&self) {}
}

impl Logger {
    fn line(&self, level: log::Level, target: &str, msg: &str, unix_ms: u64) -> String {
        match self.format {
            Format::Json => json_line(level, target, msg, unix_ms),
            Format::Plain => plain_line(level, target, msg),
        }
    }
}

/// Where a line goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Warnings and errors to stderr (logd: `daemon.err`), the rest to stdout (`daemon.info`).
pub fn stream_of(level: log::Level) -> Stream {
    match level {
        log::Level::Error | log::Level::Warn => Stream::Stderr,
        log::Level::Info | log::Level::Debug | log::Level::Trace => Stream::Stdout,
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

/// One JSON log line (with the trailing newline), stamped `unix_ms` (ms since 1970, UTC).
pub fn json_line(level: log::Level, target: &str, msg: &str, unix_ms: u64) -> String {
    let mut s = String::with_capacity(96 + msg.len());
    s.push_str("{\"ts\":\"");
    push_utc(&mut s, unix_ms);
    s.push_str("\",\"level\":\"");
    s.push_str(&level.as_str().to_ascii_lowercase());
    s.push_str("\",\"event\":");
    crate::stats::snapshot::json_str(&mut s, target.rsplit("::").next().unwrap_or(target));
    s.push_str(",\"msg\":");
    crate::stats::snapshot::json_str(&mut s, msg);
    s.push_str("}\n");
    s
}

/// Appends `unix_ms` as RFC 3339 UTC with milliseconds: `2026-12-02T16:10:04.123Z`.
fn push_utc(s: &mut String, unix_ms: u64) {
    use std::fmt::Write as _;
    let (days, ms_of_day) = (unix_ms / 86_400_000, unix_ms % 86_400_000);
    let (year, month, day) = civil_date(days);
    let secs = ms_of_day / 1000;
    let _ = write!(
        s,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000
    );
}

/// Year, month (1-12) and day (1-31) of the day `days` after 1970-01-01 (proleptic
/// Gregorian). Counts in 400-year eras of 146097 days from 0000-03-01, so that the leap
/// day ends a year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
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
        let l = json_line(log::Level::Warn, "pool_lost", "pool \"a\" lost\n", 0);
        assert_eq!(
            l,
            "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"warn\",\"event\":\"pool_lost\",\"msg\":\"pool \\\"a\\\" lost\\u000a\"}\n"
        );
    }

    #[test]
    fn test_json_line_module_target_becomes_last_segment() {
        assert!(
            json_line(log::Level::Info, "hashmux::upstream::sv1", "x", 0)
                .contains("\"event\":\"sv1\"")
        );
    }

    #[test]
    fn test_json_line_stamped_with_utc_time() {
        let l = json_line(log::Level::Info, "pool_live", "x", 1_764_691_804_123);
        assert!(
            l.starts_with("{\"ts\":\"2025-12-02T16:10:04.123Z\",\"level\":\"info\","),
            "{l}"
        );
        let leap_day = json_line(log::Level::Info, "x", "x", 951_782_400_000);
        assert!(
            leap_day.contains("\"ts\":\"2000-02-29T00:00:00.000Z\""),
            "{leap_day}"
        );
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(59), (1970, 3, 1));
        assert_eq!(civil_date(364), (1970, 12, 31));
    }

    #[test]
    fn test_level_warn_goes_to_stderr_info_to_stdout() {
        assert_eq!(stream_of(log::Level::Error), Stream::Stderr);
        assert_eq!(stream_of(log::Level::Warn), Stream::Stderr);
        assert_eq!(stream_of(log::Level::Info), Stream::Stdout);
        assert_eq!(stream_of(log::Level::Debug), Stream::Stdout);
        assert_eq!(stream_of(log::Level::Trace), Stream::Stdout);
    }
}
