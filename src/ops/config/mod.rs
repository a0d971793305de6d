//! Configuration: the JSON file users write → a validated [`Config`].
//!
//! This module owns the file format (field names, defaults, limits) and every message about
//! it. [`parse`] runs in three steps:
//!
//! 1. `json` walks the text once against the schema (in `convert`): JSON syntax, unknown or
//!    repeated fields, value types, string lengths, array sizes. It is what gives errors a
//!    field path and a line and column, which serde-json-core cannot.
//! 2. serde-json-core decodes the now-known-good text into fixed-capacity raw structs.
//! 3. `convert` turns those into the public types, filling defaults and checking ranges and
//!    cross-field rules. `url` splits pool URLs.
//!
//! Invariants of every [`Config`] handed out:
//! - 1..=[`MAX_POOLS`] pools with distinct, non-empty names, a non-empty user that is not
//!   the packaged example account (`bc1qyourbitcoinaddress…`), a valid host
//!   (DNS name, IPv4, or IPv6 without brackets), a port in 1..=65535 and `weight <= 10000`
//!   (all weights 0 is allowed: pure failover by `priority`, lower first).
//! - `1 <= miners.max <= crate::MAX_MINERS`; `0 < min_difficulty <= start_difficulty <=
//!   max_difficulty`; `1 <= shares_per_min <= 600`; `idle_timeout_secs >= 30`.
//! - `5 <= job_timeout_secs <= 3600`; `100 <= backoff_min_ms <= backoff_max_ms <= 600000`.
//! - `http`, when set, does not bind the same port as `listen`; `listen_sv2`, when set, binds
//!   neither's port; `sv2_key_file`, when set, is an absolute path.
//!
//! Nothing is ever ignored: unknown fields are errors, and so is `null` (leave a field out to
//! get its default). Passwords never appear in `Debug` output.

use core::fmt;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::Path;

use heapless::{String as HString, Vec as HVec};

use crate::work::Difficulty;

pub mod base58;
mod convert;
mod json;
#[cfg(test)]
mod tests;
mod url;

/// Capacity of the pool table.
pub const MAX_POOLS: usize = crate::MAX_POOLS;
/// Largest config file [`load`] accepts, in bytes.
pub const MAX_FILE_BYTES: usize = 64 * 1024;

const NAME_MAX: usize = 32;
const HOST_MAX: usize = 253;
const CRED_MAX: usize = 128;
/// Longest pool URL (scheme, longest DNS name, port, slash, with room to spare). Also the
/// longest string in the schema, hence the size of the unescaping buffer.
const URL_MAX: usize = 300;
const ADDR_MAX: usize = 64;
const TOKEN_MAX: usize = 64;
const TOKEN_MIN: usize = 12;
const LEVEL_MAX: usize = 16;
const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];
const MAX_WEIGHT: u32 = 10_000;
const DEFAULT_LISTEN: &str = "0.0.0.0:3333";
const DEFAULT_HTTP: &str = "0.0.0.0:8080";
/// Default difficulties as JSON number text: parsed like the file's, and quoted in messages.
const DEFAULT_MIN_DIFFICULTY: &str = "0.0001";
const DEFAULT_MAX_DIFFICULTY: &str = "4096";
/// The largest difficulty accepted, 4294967295 (`u32::MAX`), just below where the fixed-point
/// [`Difficulty`] saturates. All difficulty handling here is integer: no floats on MIPS.
const DIFFICULTY_LIMIT: Difficulty = Difficulty((u32::MAX as u64) << 32);

/// One upstream pool.
#[derive(Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Unique among the pools; defaults to `pool<index>`.
    pub name: HString<NAME_MAX>,
    /// DNS name, IPv4 or IPv6 address (no brackets).
    pub host: HString<HOST_MAX>,
    pub port: u16,
    pub user: HString<CRED_MAX>,
    pub password: HString<CRED_MAX>,
    /// Share of the hashrate, relative to the other pools' weights; 0 = failover only.
    pub weight: u32,
    /// Failover order: lower is preferred. Defaults to the pool's index.
    pub priority: u32,
    /// Stratum V2 pool: the x-only authority key its certificate must be signed with.
    /// `None` for a Stratum V1 pool.
    pub authority: Option<[u8; 32]>,
}

impl fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolConfig")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"***")
            .field("weight", &self.weight)
            .field("priority", &self.priority)
            .field("sv2", &self.authority.is_some())
            .finish()
    }
}

/// Downstream miners and their vardiff.
#[derive(Clone, Debug, PartialEq)]
pub struct MinerSettings {
    /// Most miners served at once (at most `crate::MAX_MINERS`).
    pub max: usize,
    /// Vardiff aim per miner.
    pub shares_per_min: u32,
    pub min_difficulty: Difficulty,
    pub max_difficulty: Difficulty,
    pub start_difficulty: Difficulty,
    /// A miner silent this long is disconnected.
    pub idle_timeout_secs: u32,
    /// Most miner connections from one IP address, so one device cannot take every slot.
    pub max_per_address: usize,
}

impl Default for MinerSettings {
    fn default() -> Self {
        let difficulty =
            |text| Difficulty::parse(text).expect("default difficulties are positive numbers");
        MinerSettings {
            max: 64,
            shares_per_min: 20,
            min_difficulty: difficulty(DEFAULT_MIN_DIFFICULTY),
            max_difficulty: difficulty(DEFAULT_MAX_DIFFICULTY),
            start_difficulty: Difficulty::ONE,
            idle_timeout_secs: 600,
            max_per_address: 32,
        }
    }
}

/// When a pool counts as down, and how fast to retry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverSettings {
    /// A pool that sends no new job for this long is treated as down.
    pub job_timeout_secs: u32,
    /// Reconnect backoff: starts at the minimum, doubles up to the maximum.
    pub backoff_min_ms: u32,
    pub backoff_max_ms: u32,
}

impl Default for FailoverSettings {
    fn default() -> Self {
        FailoverSettings {
            job_timeout_secs: 180,
            backoff_min_ms: 1000,
            backoff_max_ms: 60_000,
        }
    }
}

/// The whole validated configuration. See the module docs for its invariants.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Where miners connect.
    pub listen: SocketAddr,
    /// The status page; `None` when disabled with `"http": ""`.
    pub http: Option<SocketAddr>,
    /// Where Stratum V2 miners connect; `None` (absent or `""`): no SV2 listener.
    pub listen_sv2: Option<SocketAddr>,
    /// The SV2 authority key file; `None`: next to the config file (`hashmux-sv2.key`).
    pub sv2_key_file: Option<std::path::PathBuf>,
    /// One of `error`, `warn`, `info`, `debug`, `trace`; `None` leaves the choice to the caller.
    pub log_level: Option<HString<8>>,
    pub pools: HVec<PoolConfig, MAX_POOLS>,
    pub miners: MinerSettings,
    pub failover: FailoverSettings,
    /// The weighted split's controller and scheduler settings.
    pub split: crate::core::split::SplitConfig,
    /// Where totals and the split history are kept across restarts.
    pub stats: StatsSettings,
    /// Token for the HTTP control endpoints; `None` disables them.
    pub api_token: Option<ApiToken>,
}

/// Stats persistence: off unless `stats.file` is set.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StatsSettings {
    pub file: Option<std::path::PathBuf>,
    /// How often the file is rewritten (flash-friendly default: hourly), and on clean shutdown.
    pub save_interval_mins: u32,
}

/// The control API token. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(pub HString<TOKEN_MAX>);

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(***)")
    }
}

impl ApiToken {
    /// Compare with a presented token in time that does not depend on where they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let mine = self.0.as_bytes();
        let mut diff = (mine.len() != presented.len()) as u8;
        for (i, &b) in mine.iter().enumerate() {
            diff |= b ^ presented.get(i).copied().unwrap_or(0);
        }
        diff == 0
    }
}

/// Parse a `split` section alone (the control API's body), with the config file's rules.
pub fn parse_split(body: &[u8]) -> Result<crate::core::split::SplitConfig, ConfigError> {
    convert::parse_split(body)
}

/// What is wrong, without where.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The file could not be read; `reason` is the OS's text or the size limit.
    Io {
        file: String,
        reason: String,
    },
    /// Not valid JSON.
    Syntax(String),
    /// A field the format does not have (the error's path is the enclosing object), with the
    /// known field of that object its name is closest to, when one is close.
    UnknownField {
        key: String,
        did_you_mean: Option<&'static str>,
    },
    DuplicateField,
    Missing,
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    TooLong {
        len: usize,
        max: usize,
    },
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    /// A well-formed value that is not acceptable; the text says why.
    Invalid(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Io { file, reason } => write!(f, "cannot read {file}: {reason}"),
            Problem::Syntax(msg) => write!(f, "invalid JSON: {msg}"),
            Problem::UnknownField { key, .. } => write!(f, "unknown field \"{key}\""),
            Problem::DuplicateField => f.write_str("field appears more than once"),
            Problem::Missing => f.write_str("required field is missing"),
            Problem::WrongType { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            Problem::TooLong { len, max } => write!(f, "too long: {len} bytes, at most {max}"),
            Problem::TooMany { what, count, max } => {
                write!(f, "too many {what}: {count}, at most {max}")
            }
            Problem::Invalid(msg) => f.write_str(msg),
        }
    }
}

/// A refused configuration: `<path>: <problem> (line L, column C)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Field path such as `pools[1].weight`; empty for the document as a whole.
    pub path: String,
    pub problem: Problem,
    /// 1-based line and column (in characters) of the offending value or key, when known.
    pub line_col: Option<(usize, usize)>,
}

impl ConfigError {
    fn new(path: &str, problem: Problem, text: &[u8], at: Option<usize>) -> Self {
        ConfigError {
            path: path.into(),
            problem,
            line_col: at.map(|at| json::line_col(text, at)),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::UnknownField { key, .. } if !self.path.is_empty() => {
                write!(f, "{}.{key}: unknown field", self.path)?
            }
            problem if self.path.is_empty() => write!(f, "{problem}")?,
            problem => write!(f, "{}: {problem}", self.path)?,
        }
        if let Some((line, column)) = self.line_col {
            write!(f, " (line {line}, column {column})")?;
        }
        match &self.problem {
            Problem::UnknownField {
                did_you_mean: Some(name),
                ..
            } => write!(f, "; did you mean `{name}`?"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Parses and validates a configuration document.
pub fn parse(json: &[u8]) -> Result<Config, ConfigError> {
    let json = json.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(json); // BOM from Windows editors
    convert::parse(json)
}

/// A warning if the config file can be read by every user of the machine: it holds pool
/// passwords and the API token.
pub fn permissions_warning(path: &Path) -> Option<String> {
    super::mode_warning(
        path,
        0o004,
        "readable by every user",
        "pool passwords and the API token",
    )
}

/// Reads the file at `path` (at most [`MAX_FILE_BYTES`]) and [`parse`]s it.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let fail = |reason: &str| {
        let (file, reason) = (path.display().to_string(), reason.to_string());
        let problem = Problem::Io { file, reason };
        ConfigError {
            path: String::new(),
            problem,
            line_col: None,
        }
    };
    let mut text = Vec::new();
    let limit = MAX_FILE_BYTES as u64 + 1;
    if let Err(e) = std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut text)) {
        // The OS's own text, without Rust's " (os error 2)".
        let reason = e.to_string();
        return Err(fail(reason.split(" (os error ").next().unwrap_or_default()));
    }
    if text.len() > MAX_FILE_BYTES {
        return Err(fail(&format!(
            "file is larger than {} KiB",
            MAX_FILE_BYTES / 1024
        )));
    }
    parse(&text)
}
