//! The schema, the raw structs serde-json-core fills, and their conversion into the public
//! types: defaults, ranges and cross-field rules.
//!
//! [`SCHEMA`] (checked by the walker) and the `Raw*` structs (filled by serde) describe the same
//! format twice: keep them in step. The full-example test fails if they drift.
//!
//! Difficulties never pass through floats (MIPS has no FPU): serde skips them, and the
//! converter reads their text where the walker found it and hands it to [`Difficulty::parse`].

use core::cmp::Ordering;
use core::fmt::{self, Display};
use std::net::SocketAddr;

use heapless::{String as HString, Vec as HVec};
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::json::{self, Field, Shape};
use super::{
    ApiToken, Config, ConfigError, FailoverSettings, MinerSettings, PoolConfig, Problem,
    StatsSettings, ADDR_MAX, CRED_MAX, DEFAULT_HTTP, DEFAULT_LISTEN, DEFAULT_MAX_DIFFICULTY,
    DEFAULT_MIN_DIFFICULTY, DIFFICULTY_LIMIT, LEVEL_MAX, LOG_LEVELS, MAX_POOLS, MAX_WEIGHT,
    NAME_MAX, TOKEN_MAX, TOKEN_MIN, URL_MAX,
};
use crate::core::split::pid::{Preset, MAX_WINDOW};
use crate::core::split::SplitConfig;
use crate::work::Difficulty;

/// Decodes a `split` section on its own (the control API's body), with the same rules and
/// messages as in a config file; paths are reported as `split.<field>`.
pub(super) fn parse_split(body: &[u8]) -> Result<SplitConfig, ConfigError> {
    let mut doc = Vec::with_capacity(body.len() + 16);
    doc.extend_from_slice(b"{\"split\":");
    doc.extend_from_slice(body);
    doc.push(b'}');
    let spots = json::check(&doc, &SPLIT_ONLY)?;
    let (raw, _) = serde_json_core::from_slice::<SplitDoc>(&doc)
        .map_err(|e| ConfigError::new("", Problem::Syntax(e.to_string()), &doc, None))?;
    Ctx { json: &doc, spots }.split(raw.split.unwrap_or_default())
}

const SPLIT_ONLY: Shape = Shape::Obj(&[optional("split", Shape::Obj(SPLIT_FIELDS))]);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SplitDoc {
    split: Option<RawSplit>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStats {
    file: Option<HString<PATH_MAX>>,
    save_interval_mins: Option<u32>,
}

/// Checks and decodes `json` (without BOM) into a [`Config`].
pub(super) fn parse(json: &[u8]) -> Result<Config, ConfigError> {
    let spots = json::check(json, &SCHEMA)?;
    let mut unescaped = [0; URL_MAX];
    let (raw, _) = serde_json_core::from_slice_escaped::<RawConfig>(json, &mut unescaped)
        .map_err(|e| ConfigError::new("", Problem::Syntax(e.to_string()), json, None))?;
    Ctx { json, spots }.config(raw)
}

const fn optional(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: false,
    }
}

const fn required(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: true,
    }
}

const POOL_FIELDS: &[Field] = &[
    optional("name", Shape::Str(NAME_MAX)),
    required("url", Shape::Str(URL_MAX)),
    required("user", Shape::Str(CRED_MAX)),
    optional("password", Shape::Str(CRED_MAX)),
    optional("weight", Shape::UInt),
    optional("priority", Shape::UInt),
    optional("authority_pubkey", Shape::Str(KEY_MAX)),
];

/// The account in the packaged example config (`openwrt/files/config.json`). A pool user
/// containing it is refused, so a freshly installed package never mines to a made-up address.
pub(super) const PLACEHOLDER_ACCOUNT: &str = "bc1qyourbitcoinaddress";

/// Longest base58 authority key text (38 bytes encode to 51-52 characters).
const KEY_MAX: usize = 64;

const MINERS_FIELDS: &[Field] = &[
    optional("max", Shape::UInt),
    optional("shares_per_min", Shape::UInt),
    optional("min_difficulty", Shape::Num),
    optional("max_difficulty", Shape::Num),
    optional("start_difficulty", Shape::Num),
    optional("idle_timeout_secs", Shape::UInt),
    optional("max_per_address", Shape::UInt),
];

const FAILOVER_FIELDS: &[Field] = &[
    optional("job_timeout_secs", Shape::UInt),
    optional("backoff_min_ms", Shape::UInt),
    optional("backoff_max_ms", Shape::UInt),
];

const SPLIT_FIELDS: &[Field] = &[
    optional("preset", Shape::Str(PRESET_MAX)),
    optional("kp", Shape::Num),
    optional("ki", Shape::Num),
    optional("kd", Shape::Num),
    optional("deadband", Shape::Num),
    optional("interval_secs", Shape::UInt),
    optional("window_intervals", Shape::UInt),
    optional("max_payback_mins", Shape::UInt),
    optional("max_trim", Shape::UInt),
    optional("min_dwell_secs", Shape::UInt),
    optional("hysteresis_secs", Shape::UInt),
];

const PRESET_MAX: usize = 24;
const PATH_MAX: usize = 200;

const STATS_FIELDS: &[Field] = &[
    optional("file", Shape::Str(PATH_MAX)),
    optional("save_interval_mins", Shape::UInt),
];

const SCHEMA: Shape = Shape::Obj(&[
    optional("listen", Shape::Str(ADDR_MAX)),
    optional("http", Shape::Str(ADDR_MAX)),
    optional("listen_sv2", Shape::Str(ADDR_MAX)),
    optional("sv2_key_file", Shape::Str(PATH_MAX)),
    optional("log_level", Shape::Str(LEVEL_MAX)),
    optional("api_token", Shape::Str(TOKEN_MAX)),
    required(
        "pools",
        Shape::Arr {
            item: &Shape::Obj(POOL_FIELDS),
            max: MAX_POOLS,
            what: "pools",
        },
    ),
    optional("miners", Shape::Obj(MINERS_FIELDS)),
    optional("failover", Shape::Obj(FAILOVER_FIELDS)),
    optional("split", Shape::Obj(SPLIT_FIELDS)),
    optional("stats", Shape::Obj(STATS_FIELDS)),
]);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<HString<ADDR_MAX>>,
    http: Option<HString<ADDR_MAX>>,
    listen_sv2: Option<HString<ADDR_MAX>>,
    sv2_key_file: Option<HString<PATH_MAX>>,
    log_level: Option<HString<LEVEL_MAX>>,
    api_token: Option<HString<TOKEN_MAX>>,
    pools: HVec<RawPool, MAX_POOLS>,
    miners: Option<RawMiners>,
    failover: Option<RawFailover>,
    split: Option<RawSplit>,
    stats: Option<RawStats>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSplit {
    preset: Option<HString<PRESET_MAX>>,
    // Decimals read from the text, like difficulties.
    kp: Option<IgnoredAny>,
    ki: Option<IgnoredAny>,
    kd: Option<IgnoredAny>,
    deadband: Option<IgnoredAny>,
    interval_secs: Option<u32>,
    window_intervals: Option<u32>,
    max_payback_mins: Option<u32>,
    max_trim: Option<u32>,
    min_dwell_secs: Option<u32>,
    hysteresis_secs: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    name: Option<HString<NAME_MAX>>,
    url: HString<URL_MAX>,
    user: HString<CRED_MAX>,
    password: Option<HString<CRED_MAX>>,
    weight: Option<u32>,
    priority: Option<u32>,
    authority_pubkey: Option<HString<KEY_MAX>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMiners {
    max: Option<u32>,
    shares_per_min: Option<u32>,
    // Skipped by serde (present or not is all it tells): the value is read from the text.
    min_difficulty: Option<IgnoredAny>,
    max_difficulty: Option<IgnoredAny>,
    start_difficulty: Option<IgnoredAny>,
    idle_timeout_secs: Option<u32>,
    max_per_address: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFailover {
    job_timeout_secs: Option<u32>,
    backoff_min_ms: Option<u32>,
    backoff_max_ms: Option<u32>,
}

/// A difficulty with the text it was written as (or its default's): compared by value, shown
/// as the text, so messages quote the file rather than a rounded fixed-point value.
#[derive(Clone, Copy)]
struct Written<'a> {
    text: &'a str,
    value: Difficulty,
}

impl PartialEq for Written<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl PartialOrd for Written<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.value.cmp(&other.value))
    }
}

impl Display for Written<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

/// Raw structs → public types: defaults, ranges, cross-field rules. Errors point at the
/// offending value when the text has it (a defaulted value has no position).
struct Ctx<'a> {
    json: &'a [u8],
    spots: json::Spots,
}

impl<'a> Ctx<'a> {
    fn invalid(&self, path: &str, msg: String) -> ConfigError {
        ConfigError::new(path, Problem::Invalid(msg), self.json, self.spots.get(path))
    }

    fn range<T: PartialOrd + Display>(
        &self,
        path: &str,
        v: T,
        lo: T,
        hi: T,
    ) -> Result<T, ConfigError> {
        if lo <= v && v <= hi {
            return Ok(v);
        }
        Err(self.invalid(path, format!("must be between {lo} and {hi} (found {v})")))
    }

    /// `v <= limit`, where `limit` is the value of the field at `other`.
    fn at_most<T: PartialOrd + Display>(
        &self,
        path: &str,
        v: T,
        other: &str,
        limit: T,
    ) -> Result<(), ConfigError> {
        if v <= limit {
            return Ok(());
        }
        Err(self.invalid(path, format!("{v} is above {other} ({limit})")))
    }

    /// `v >= limit`, where `limit` is the value of the field at `other`.
    fn at_least<T: PartialOrd + Display>(
        &self,
        path: &str,
        v: T,
        other: &str,
        limit: T,
    ) -> Result<(), ConfigError> {
        if v >= limit {
            return Ok(());
        }
        Err(self.invalid(path, format!("{v} is below {other} ({limit})")))
    }

    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let listen = self.socket_addr("listen", raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN))?;
        let http = match raw.http.as_deref().unwrap_or(DEFAULT_HTTP) {
            "" => None,
            text => Some(self.socket_addr("http", text)?),
        };
        if let Some(http) = http.filter(|http| same_port(http, &listen)) {
            return Err(self.invalid(
                "http",
                format!("{http} would bind the same port as listen ({listen})"),
            ));
        }
        let listen_sv2 = match raw.listen_sv2.as_deref() {
            None | Some("") => None,
            Some(text) => Some(self.socket_addr("listen_sv2", text)?),
        };
        if let Some(sv2) = listen_sv2 {
            for (other, addr) in [("listen", Some(listen)), ("http", http)] {
                if addr.is_some_and(|a| same_port(&sv2, &a)) {
                    return Err(self.invalid(
                        "listen_sv2",
                        format!("{sv2} would bind the same port as {other}"),
                    ));
                }
            }
        }
        let sv2_key_file = match raw.sv2_key_file.as_deref() {
            None | Some("") => None,
            Some(f) if f.starts_with('/') => Some(std::path::PathBuf::from(f)),
            Some(f) => {
                return Err(self.invalid(
                    "sv2_key_file",
                    format!("must be an absolute path (found {f:?})"),
                ))
            }
        };
        let log_level = match raw.log_level {
            None => None,
            Some(level) if LOG_LEVELS.contains(&level.as_str()) => Some(hstring(&level)),
            Some(level) => {
                let msg = format!(
                    "unknown level \"{level}\"; expected one of {}",
                    LOG_LEVELS.join(", ")
                );
                return Err(self.invalid("log_level", msg));
            }
        };
        Ok(Config {
            listen,
            http,
            listen_sv2,
            sv2_key_file,
            log_level,
            api_token: match raw.api_token {
                None => None,
                Some(t) if t.len() >= TOKEN_MIN && t.chars().all(|c| c.is_ascii_graphic()) => {
                    Some(ApiToken(t))
                }
                Some(_) => {
                    return Err(self.invalid(
                        "api_token",
                        format!(
                        "must be {TOKEN_MIN} to {TOKEN_MAX} printable characters without spaces"
                    ),
                    ))
                }
            },
            pools: self.pools(&raw.pools)?,
            miners: self.miners(raw.miners.unwrap_or_default())?,
            split: self.split(raw.split.unwrap_or_default())?,
            stats: self.stats(raw.stats.unwrap_or_default())?,
            failover: self.failover(raw.failover.unwrap_or_default())?,
        })
    }

    fn socket_addr(&self, path: &str, text: &str) -> Result<SocketAddr, ConfigError> {
        let msg =
            || format!("\"{text}\" is not an address with a port, e.g. 0.0.0.0:3333 or [::]:3333");
        text.parse().map_err(|_| self.invalid(path, msg()))
    }

    fn pools(&self, raw: &[RawPool]) -> Result<HVec<PoolConfig, MAX_POOLS>, ConfigError> {
        if raw.is_empty() {
            return Err(self.invalid("pools", "at least one pool is required".into()));
        }
        let mut pools: HVec<PoolConfig, MAX_POOLS> = HVec::new();
        for (i, p) in raw.iter().enumerate() {
            let path = |field: &str| format!("pools[{i}].{field}");
            let url = super::url::parse(&p.url).map_err(|msg| self.invalid(&path("url"), msg))?;
            let (host, port) = (url.host, url.port);
            let authority = self.authority(&path, url.v2, p.authority_pubkey.as_deref())?;
            let name = match &p.name {
                Some(name) => name.clone(),
                None => hstring(&format!("pool{i}")),
            };
            if name.is_empty() {
                return Err(self.invalid(&path("name"), "must not be empty".into()));
            }
            if let Some(j) = pools.iter().position(|q| q.name == name) {
                let at = self
                    .spots
                    .get(&path("name"))
                    .or_else(|| self.spots.get(&format!("pools[{i}]")));
                let msg = format!("duplicate pool name \"{name}\" (also pools[{j}])");
                return Err(ConfigError::new(
                    "pools",
                    Problem::Invalid(msg),
                    self.json,
                    at,
                ));
            }
            if p.user.is_empty() {
                return Err(self.invalid(&path("user"), "must not be empty".into()));
            }
            if p.user.to_ascii_lowercase().contains(PLACEHOLDER_ACCOUNT) {
                let msg = format!(
                    "still the example account \"{}\"; put your own payout address",
                    p.user
                );
                return Err(self.invalid(&path("user"), msg));
            }
            let pool = PoolConfig {
                name,
                host: hstring(host), // url::parse guarantees at most 253 bytes
                port,
                user: p.user.clone(),
                password: p.password.clone().unwrap_or_else(|| hstring("x")),
                weight: self.range(&path("weight"), p.weight.unwrap_or(1), 0, MAX_WEIGHT)?,
                priority: p.priority.unwrap_or(i as u32),
                authority,
            };
            // Cannot fail: `raw` has the same capacity.
            let _ = pools.push(pool);
        }
        Ok(pools)
    }

    /// The SV2 authority key from the URL path or the `authority_pubkey` field.
    fn authority(
        &self,
        path: &dyn Fn(&str) -> String,
        v2: Option<Option<&str>>,
        field: Option<&str>,
    ) -> Result<Option<[u8; 32]>, ConfigError> {
        let Some(in_url) = v2 else {
            return match field {
                Some(_) => Err(self.invalid(
                    &path("authority_pubkey"),
                    "only stratum2+tcp:// pools have an authority key".into(),
                )),
                None => Ok(None),
            };
        };
        if !cfg!(feature = "sv2") {
            return Err(self.invalid(
                &path("url"),
                "this build of hashmux has no Stratum V2 support".into(),
            ));
        }
        let (text, at) = match (in_url, field) {
            (Some(u), Some(f)) if u != f => {
                return Err(self.invalid(
                    &path("authority_pubkey"),
                    "differs from the key in the url".into(),
                ))
            }
            (Some(u), _) => (u, path("url")),
            (None, Some(f)) => (f, path("authority_pubkey")),
            (None, None) => {
                return Err(self.invalid(
                    &path("url"),
                    "a Stratum V2 pool needs its authority public key: stratum2+tcp://host:port/KEY or \"authority_pubkey\"".into(),
                ))
            }
        };
        super::base58::authority_key(text)
            .map(Some)
            .map_err(|e| self.invalid(&at, format!("bad authority key: {e}")))
    }

    fn miners(&self, m: RawMiners) -> Result<MinerSettings, ConfigError> {
        const MIN: &str = "miners.min_difficulty";
        const MAX: &str = "miners.max_difficulty";
        const START: &str = "miners.start_difficulty";
        let d = MinerSettings::default();
        let max = self.range(
            "miners.max",
            m.max.unwrap_or(d.max as u32),
            1,
            crate::MAX_MINERS as u32,
        )?;
        let shares_per_min = self.range(
            "miners.shares_per_min",
            m.shares_per_min.unwrap_or(d.shares_per_min),
            1,
            600,
        )?;
        let idle = m.idle_timeout_secs.unwrap_or(d.idle_timeout_secs);
        if idle < 30 {
            return Err(self.invalid(
                "miners.idle_timeout_secs",
                format!("must be at least 30 (found {idle})"),
            ));
        }
        let min_text = self.number_text(MIN, m.min_difficulty);
        let min_d = self.difficulty(MIN, min_text.unwrap_or(DEFAULT_MIN_DIFFICULTY))?;
        let max_text = self.number_text(MAX, m.max_difficulty);
        let max_d = self.difficulty(MAX, max_text.unwrap_or(DEFAULT_MAX_DIFFICULTY))?;
        match min_text {
            Some(_) => self.at_most(MIN, min_d, MAX, max_d)?,
            None => self.at_least(MAX, max_d, MIN, min_d)?,
        }
        let start_difficulty = match self.number_text(START, m.start_difficulty) {
            Some(text) => {
                let start_d = self.difficulty(START, text)?;
                self.at_least(START, start_d, MIN, min_d)?;
                self.at_most(START, start_d, MAX, max_d)?;
                start_d.value
            }
            None => Difficulty::ONE.clamp(min_d.value, max_d.value),
        };
        let per_address = self.range(
            "miners.max_per_address",
            m.max_per_address.unwrap_or(d.max_per_address as u32),
            1,
            crate::MAX_MINERS as u32,
        )?;
        Ok(MinerSettings {
            max_per_address: per_address as usize,
            max: max as usize,
            shares_per_min,
            min_difficulty: min_d.value,
            max_difficulty: max_d.value,
            start_difficulty,
            idle_timeout_secs: idle,
        })
    }

    /// The number text at `path` when the file sets that field (`field` is serde's skipped
    /// value). The walker has checked it is a JSON number and recorded exactly where it sits.
    fn number_text(&self, path: &str, field: Option<IgnoredAny>) -> Option<&'a str> {
        let span = field.and(self.spots.span(path))?;
        core::str::from_utf8(self.json.get(span)?).ok()
    }

    /// Parses difficulty `text` (JSON number text) and checks `0 < value <= DIFFICULTY_LIMIT`.
    fn difficulty(&self, path: &str, text: &'a str) -> Result<Written<'a>, ConfigError> {
        match Difficulty::parse(text) {
            Some(value) if value <= DIFFICULTY_LIMIT => Ok(Written { text, value }),
            Some(_) => Err(self.invalid(
                path,
                format!("must be at most {DIFFICULTY_LIMIT} (found {text})"),
            )),
            None => Err(self.invalid(path, format!("must be greater than 0 (found {text})"))),
        }
    }

    fn split(&self, r: RawSplit) -> Result<SplitConfig, ConfigError> {
        let d = SplitConfig::default();
        let named = match r.preset.as_deref() {
            None | Some("custom") => None,
            Some(name) => Some(Preset::from_name(name).ok_or_else(|| {
                self.invalid(
                    "split.preset",
                    format!("unknown preset \"{name}\"; expected aggressive, balanced, conservative, proportional_only or custom"),
                )
            })?),
        };
        let mut gains = named.unwrap_or(Preset::Balanced).gains();
        let mut custom = r.preset.as_deref() == Some("custom");
        for (key, field, slot) in [
            ("kp", r.kp, &mut gains.kp),
            ("ki", r.ki, &mut gains.ki),
            ("kd", r.kd, &mut gains.kd),
        ] {
            let path = format!("split.{key}");
            let Some(text) = self.number_text(&path, field) else {
                continue;
            };
            if let Some(p) = named {
                return Err(self.invalid(
                    &path,
                    format!("gains come from preset \"{}\"; set \"preset\": \"custom\" to give your own", p.name()),
                ));
            }
            *slot = self.decimal(&path, text, 1000, 10_000)?;
            custom = true;
        }
        let deadband = match self.number_text("split.deadband", r.deadband) {
            Some(text) => self.decimal("split.deadband", text, 10_000, 100_000)?,
            None => d.deadband_ppm,
        };
        Ok(SplitConfig {
            preset: if custom {
                None
            } else {
                Some(named.unwrap_or(Preset::Balanced))
            },
            gains,
            deadband_ppm: deadband,
            interval_secs: self.range(
                "split.interval_secs",
                r.interval_secs.unwrap_or(d.interval_secs),
                1,
                3600,
            )?,
            window_intervals: self.range(
                "split.window_intervals",
                r.window_intervals.unwrap_or(d.window_intervals),
                1,
                MAX_WINDOW as u32,
            )?,
            max_payback_mins: self.range(
                "split.max_payback_mins",
                r.max_payback_mins.unwrap_or(d.max_payback_mins),
                0,
                1440,
            )?,
            max_trim_ppm: self.range(
                "split.max_trim",
                r.max_trim.unwrap_or((d.max_trim_ppm / 10_000) as u32),
                0,
                100,
            )? as i64
                * 10_000,
            min_dwell_secs: self.range(
                "split.min_dwell_secs",
                r.min_dwell_secs.unwrap_or(d.min_dwell_secs),
                0,
                3600,
            )?,
            hysteresis_secs: self.range(
                "split.hysteresis_secs",
                r.hysteresis_secs.unwrap_or(d.hysteresis_secs),
                0,
                3600,
            )?,
        })
    }

    /// A non-negative decimal `text` × `scale`, rounded, at most `max`.
    fn decimal(&self, path: &str, text: &str, scale: i64, max: i64) -> Result<i64, ConfigError> {
        let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
        let v = if mantissa.bytes().all(|b| b == b'0' || b == b'.') {
            Some(0)
        } else {
            // Difficulty::parse is an exact decimal parser into units of 2^-32.
            Difficulty::parse(text)
                .map(|d| ((d.0 as u128 * scale as u128 + (1 << 31)) >> 32) as i64)
        };
        match v {
            Some(v) if v <= max => Ok(v),
            Some(_) => Err(self.invalid(
                path,
                format!("must be at most {} (found {text})", max / scale),
            )),
            None => Err(self.invalid(
                path,
                format!("must be a number of 0 or more (found {text})"),
            )),
        }
    }

    fn stats(&self, r: RawStats) -> Result<StatsSettings, ConfigError> {
        let file = match r.file.as_deref() {
            None | Some("") => None,
            Some(f) if f.starts_with('/') => Some(std::path::PathBuf::from(f)),
            Some(f) => {
                return Err(self.invalid(
                    "stats.file",
                    format!("must be an absolute path (found {f:?})"),
                ))
            }
        };
        let mins = self.range(
            "stats.save_interval_mins",
            r.save_interval_mins.unwrap_or(60),
            1,
            1440,
        )?;
        Ok(StatsSettings {
            file,
            save_interval_mins: mins,
        })
    }

    fn failover(&self, f: RawFailover) -> Result<FailoverSettings, ConfigError> {
        const LO: &str = "failover.backoff_min_ms";
        const HI: &str = "failover.backoff_max_ms";
        let d = FailoverSettings::default();
        let job = self.range(
            "failover.job_timeout_secs",
            f.job_timeout_secs.unwrap_or(d.job_timeout_secs),
            5,
            3600,
        )?;
        let lo = self.range(
            LO,
            f.backoff_min_ms.unwrap_or(d.backoff_min_ms),
            100,
            600_000,
        )?;
        let hi = self.range(
            HI,
            f.backoff_max_ms.unwrap_or(d.backoff_max_ms),
            100,
            600_000,
        )?;
        match f.backoff_min_ms {
            Some(_) => self.at_most(LO, lo, HI, hi)?,
            None => self.at_least(HI, hi, LO, lo)?,
        }
        Ok(FailoverSettings {
            job_timeout_secs: job,
            backoff_min_ms: lo,
            backoff_max_ms: hi,
        })
    }
}

/// Whether binding both addresses would collide (same non-zero port, overlapping addresses).
fn same_port(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Copies a string known to fit.
fn hstring<const N: usize>(s: &str) -> HString<N> {
    let mut out = HString::new();
    let _ = out.push_str(s);
    out
}
