//! Logging to stderr (procd hands it to logread), plain or as JSON lines.
//!
//! Events that matter to an operator are logged with an explicit event name as the log
//! target (`log::warn!(target: "pool_lost", ...)`): `pool_connected`, `pool_live`,
//! `pool_lost`, `pool_message`, `miner_connected`, `miner_disconnected`, `miner_refused`,
//! `miner_switched`, `share_rejected`, `share_lost`, `config_reloaded`,
//! `config_reload_failed`, `control`. Everything else carries its module path. In JSON mode
//! each record is one line: `{"level":"warn","event":"pool_lost","msg":"..."}`. No line is
//! logged per accepted share at info level.

use std::io::Write;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Plain,
    Json,
}

struct JsonLogger {
    level: log::LevelFilter,
}

impl log::Log for JsonLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let line = json_line(r.level(), r.target(), &r.args().to_string());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
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
    match format {
        Format::Plain => simple_logger::SimpleLogger::new()
            .with_level(level)
            .init()
            .map_err(|e| e.to_string()),
        Format::Json => {
            log::set_boxed_logger(Box::new(JsonLogger { level })).map_err(|e| e.to_string())?;
            log::set_max_level(level);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            .contains("\"event\":\"upstream\""));
    }
}
