//! Operations around the proxy: the config file and its validation ([`config`]), live reload
//! ([`reload`]), the stats file ([`persist`]), the SV2 authority key file (`keys`, with the
//! `sv2` feature), signals ([`signal`]) and logging ([`logging`]).
//! These read files and the environment; the core never does.

pub mod config;
#[cfg(feature = "sv2")]
pub mod keys;
pub mod logging;
pub mod persist;
pub mod reload;
pub mod signal;

/// A warning if `path`'s mode has any of `open_bits` set: "`path` is `who` (mode …) and holds
/// `holds`; run: chmod 600 `path`". `None` if it does not, if the file cannot be read, or off
/// Unix.
pub fn mode_warning(
    path: &std::path::Path,
    open_bits: u32,
    who: &str,
    holds: &str,
) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        (mode & open_bits != 0).then(|| {
            format!(
                "{} is {who} (mode {:o}) and holds {holds}; run: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (path, open_bits, who, holds);
        None
    }
}
