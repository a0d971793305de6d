//! `hashmux` command line.

use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
hashmux — Stratum mining proxy for routers

USAGE:
  hashmux --config PATH [--log-level LEVEL] [--log-format plain|json]   run the proxy
  hashmux --config PATH --check               validate the config and exit
  hashmux --config PATH --show-key            print the SV2 authority public key (creates it)
  hashmux demo [--seconds N] [--log-level L]  simulated pools and miners on 127.0.0.1
  hashmux --version
  hashmux --help

LEVEL is one of error, warn, info (default), debug, trace.
--log-format json writes one JSON object per line with an event name (pool_lost, ...).
";

fn main() -> ExitCode {
    let mut args = pico_args::Arguments::from_env();
    if args.contains(["-h", "--help"]) {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    if args.contains(["-V", "--version"]) {
        println!("hashmux {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hashmux: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(mut args: pico_args::Arguments) -> Result<(), String> {
    let json_logs = match args
        .opt_value_from_str::<_, String>("--log-format")
        .map_err(|e| e.to_string())?
        .as_deref()
    {
        None | Some("plain") => false,
        Some("json") => true,
        Some(other) => {
            return Err(format!(
                "--log-format: unknown format {other:?} (plain, json)"
            ))
        }
    };
    let level: Option<String> = args
        .opt_value_from_str("--log-level")
        .map_err(|e| e.to_string())?;
    let check = args.contains("--check");
    let show_key = args.contains("--show-key");
    let config: Option<PathBuf> = args
        .opt_value_from_os_str("--config", |s| Ok::<_, String>(PathBuf::from(s)))
        .map_err(|e| e.to_string())?;
    let sub: Option<String> = args.subcommand().map_err(|e| e.to_string())?;
    match sub.as_deref() {
        Some("demo") => {
            let seconds: Option<u64> = args
                .opt_value_from_str("--seconds")
                .map_err(|e| e.to_string())?;
            no_more(args)?;
            init_log(level.as_deref().unwrap_or("info"), json_logs)?;
            demo(seconds)
        }
        Some(other) => Err(format!("unknown command {other:?}; see --help")),
        None => {
            no_more(args)?;
            let path = config.ok_or("missing --config PATH (see --help)")?;
            let cfg = hashmux::ops::config::load(&path).map_err(|e| match e.problem {
                hashmux::ops::config::Problem::Io { .. } => e.to_string(),
                _ => format!("{}: {e}", path.display()),
            })?;
            if check {
                println!(
                    "{}: ok ({} pool{})",
                    path.display(),
                    cfg.pools.len(),
                    if cfg.pools.len() == 1 { "" } else { "s" }
                );
                return Ok(());
            }
            if show_key {
                return show_sv2_key(&cfg, &path);
            }
            let lvl = level.or_else(|| cfg.log_level.as_ref().map(|l| l.to_string()));
            init_log(lvl.as_deref().unwrap_or("info"), json_logs)?;
            if let Some(w) = hashmux::ops::config::permissions_warning(&path) {
                log::warn!(target: "config_permissions", "{w}");
            }
            hashmux::runtime::run(cfg, Some(path)).map_err(|e| e.to_string())
        }
    }
}

fn no_more(args: pico_args::Arguments) -> Result<(), String> {
    let rest = args.finish();
    if rest.is_empty() {
        Ok(())
    } else {
        Err(format!("unexpected arguments {rest:?}; see --help"))
    }
}

fn init_log(level: &str, json: bool) -> Result<(), String> {
    let l = match level {
        "error" => log::LevelFilter::Error,
        "warn" => log::LevelFilter::Warn,
        "info" => log::LevelFilter::Info,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        other => {
            return Err(format!(
                "--log-level: unknown level {other:?} (error, warn, info, debug, trace)"
            ))
        }
    };
    let format = if json {
        hashmux::ops::logging::Format::Json
    } else {
        hashmux::ops::logging::Format::Plain
    };
    hashmux::ops::logging::init(l, format)
}

#[cfg(feature = "sv2")]
fn show_sv2_key(cfg: &hashmux::ops::config::Config, path: &std::path::Path) -> Result<(), String> {
    println!("{}", hashmux::runtime::show_key(cfg, path)?);
    Ok(())
}

#[cfg(not(feature = "sv2"))]
fn show_sv2_key(_: &hashmux::ops::config::Config, _: &std::path::Path) -> Result<(), String> {
    Err("this build has no Stratum V2 (built without the `sv2` feature)".into())
}

#[cfg(feature = "sim")]
fn demo(seconds: Option<u64>) -> Result<(), String> {
    hashmux::demo::run(seconds).map_err(|e| e.to_string())
}

#[cfg(not(feature = "sim"))]
fn demo(_: Option<u64>) -> Result<(), String> {
    Err("this build has no simulator (built without the `sim` feature)".into())
}
