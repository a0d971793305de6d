//! The running process as Prometheus's standard `process_*` metrics see it, read from
//! `/proc/self` (Linux, so every OpenWrt router).
//!
//! What it owns: [`ProcessStats::read`], the one place that touches `/proc` for metrics, and
//! the parsers of the few lines it needs, kept pure so tests feed them text.
//!
//! Invariants:
//! - Nothing here fails: a file that is missing or does not parse leaves its value `None`,
//!   and `/metrics` then omits that sample (no `/proc`, no process samples).
//! - Clock ticks are converted with `USER_HZ` = 100, the value the kernel reports to user
//!   space in `/proc` on every architecture OpenWrt runs on.

/// Ticks per second in `/proc/*/stat` (the kernel's `USER_HZ`).
const USER_HZ: u64 = 100;

/// What `process_*` metrics show; `None` where `/proc` did not tell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessStats {
    /// Start time, milliseconds since the Unix epoch.
    pub start_time_ms: Option<u64>,
    /// User plus system CPU time, milliseconds.
    pub cpu_ms: Option<u64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
}

impl ProcessStats {
    /// Read `/proc/self/stat`, `/proc/self/status`, `/proc/stat` and `/proc/self/fd`.
    pub fn read() -> ProcessStats {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let stat = read("/proc/self/stat").and_then(|s| parse_stat(&s));
        let boot_s = read("/proc/stat").and_then(|s| parse_btime(&s));
        ProcessStats {
            start_time_ms: stat
                .zip(boot_s)
                .map(|(st, boot)| boot * 1000 + st.start_ticks * 1000 / USER_HZ),
            cpu_ms: stat.map(|st| st.cpu_ticks * 1000 / USER_HZ),
            resident_bytes: read("/proc/self/status").and_then(|s| parse_vm_rss(&s)),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as u64),
        }
    }
}

/// The fields of `/proc/self/stat` used here, in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    /// utime + stime.
    cpu_ticks: u64,
    /// Start time after boot.
    start_ticks: u64,
}

/// Parse `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may hold
/// spaces or `)`, so fields are counted from the last `)`.
fn parse_stat(s: &str) -> Option<Stat> {
    let rest = &s[s.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so field n is index n - 3.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu_ticks: n(14)? + n(15)?,
        start_ticks: n(22)?,
    })
}

/// Boot time (`btime` line of `/proc/stat`), seconds since the Unix epoch.
fn parse_btime(s: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// Resident set size from the `VmRSS:` line of `/proc/self/status` (in kB there), bytes.
fn parse_vm_rss(s: &str) -> Option<u64> {
    let v = s.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kb: u64 = v.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_stat_line_with_odd_name_parses() {
        // A command name with a space and a parenthesis; utime 250, stime 50, start 12345.
        let line = "4242 (hash mux) x) S 1 4242 4242 0 -1 4194560 300 0 0 0 250 50 0 0 20 0 3 0 \
                    12345 8000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                cpu_ticks: 300,
                start_ticks: 12345
            })
        );
        assert_eq!(parse_stat("4242 (x) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn test_btime_and_rss_lines_parse() {
        assert_eq!(
            parse_btime("cpu  1 2 3\nbtime 1764633600\nprocesses 9\n"),
            Some(1_764_633_600)
        );
        assert_eq!(parse_btime("cpu 1\n"), None);
        let status = "Name:\thashmux\nVmPeak:\t  9000 kB\nVmRSS:\t    1536 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(1536 * 1024));
        assert_eq!(parse_vm_rss("VmRSS:\tlots\n"), None);
    }

    #[test]
    fn test_read_on_linux_sees_this_process() {
        let p = ProcessStats::read();
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(p.resident_bytes.is_some_and(|b| b > 0), "{p:?}");
            // This test holds at least stdin/stdout/stderr or the fd directory itself.
            assert!(p.open_fds.is_some_and(|n| n >= 1), "{p:?}");
            assert!(p.start_time_ms.is_some(), "{p:?}");
            assert!(p.cpu_ms.is_some(), "{p:?}");
        } else {
            assert_eq!(p, ProcessStats::default());
        }
    }
}
