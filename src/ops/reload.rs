//! Config reload: read the file again and hand it to the core, which applies what can change
//! without dropping miners ([`crate::core::Core::apply_config`]). A file that does not
//! validate is refused as a whole and the running config stays.

use crate::core::Core;
use std::path::Path;

/// Reload `core` from the config file at `path`; logs the outcome.
pub fn from_file(core: &mut Core, path: &Path, now: u64) {
    match crate::ops::config::load(path) {
        Ok(cfg) => {
            let a = core.apply_config(cfg, now);
            log::info!(target: "config_reloaded",
                "config reloaded from {}{}",
                path.display(),
                if a.weights_changed {
                    " (split weights changed)"
                } else {
                    ""
                }
            );
            for r in &a.needs_restart {
                log::warn!(target: "config_reloaded", "config reload: {r} needs a restart; keeping the running value");
            }
        }
        Err(e) => {
            log::error!(target: "config_reload_failed", "config reload failed, keeping the running config: {e}")
        }
    }
}
