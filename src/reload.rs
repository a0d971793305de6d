//! Config reload: read the file again and apply what can change without dropping miners.
//!
//! Applied live: pool weights and priorities (matched by pool name), miner settings (vardiff
//! bounds for new windows, limits), failover timeouts, and the split controller's settings.
//! Not applied (logged, a restart takes them): adding, removing or re-addressing pools, and
//! the listen/http addresses. A config that does not validate is refused as a whole and the
//! running one stays.

use crate::config::Config;
use crate::proxy::Proxy;

/// What a reload changed, for the log and the caller.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub weights_changed: bool,
    /// Things the file changed that need a restart.
    pub needs_restart: Vec<String>,
}

impl Proxy {
    /// Reload from the config file this proxy was started with, if any.
    pub fn reload_from_file(&self) {
        let Some(path) = self.config_path.borrow().clone() else {
            log::warn!("reload requested but this proxy was not started from a config file");
            return;
        };
        match crate::config::load(&path) {
            Ok(cfg) => {
                let a = self.apply_config(cfg);
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

    /// Apply a validated config to the running proxy.
    pub fn apply_config(&self, new: Config) -> Applied {
        let mut a = Applied::default();
        let mut cfg = self.cfg.borrow_mut();
        if new.listen != cfg.listen {
            a.needs_restart.push(format!("listen ({})", new.listen));
        }
        if new.http != cfg.http {
            a.needs_restart.push("http".into());
        }
        let same_set = new.pools.len() == cfg.pools.len()
            && new
                .pools
                .iter()
                .all(|n| cfg.pools.iter().any(|o| o.name == n.name));
        if !same_set {
            a.needs_restart.push("adding or removing pools".into());
        }
        for np in new.pools.iter() {
            let Some(slot) = self.pools.iter().find(|p| p.borrow().cfg.name == np.name) else {
                continue;
            };
            let mut p = slot.borrow_mut();
            if (
                np.host.as_str(),
                np.port,
                np.user.as_str(),
                np.password.as_str(),
            ) != (
                p.cfg.host.as_str(),
                p.cfg.port,
                p.cfg.user.as_str(),
                p.cfg.password.as_str(),
            ) {
                a.needs_restart
                    .push(format!("pool {} address or credentials", np.name));
            }
            if p.cfg.weight != np.weight {
                a.weights_changed = true;
                p.cfg.weight = np.weight;
            }
            p.cfg.priority = np.priority;
            if let Some(cp) = cfg.pools.iter_mut().find(|c| c.name == np.name) {
                cp.weight = np.weight;
                cp.priority = np.priority;
            }
        }
        cfg.miners = new.miners.clone();
        cfg.failover = new.failover.clone();
        cfg.split = new.split;
        cfg.log_level = new.log_level.clone();
        drop(cfg);
        self.apply_split_settings(&new.split);
        if a.weights_changed {
            // Debts measured against the old targets mean nothing under the new ones.
            self.pid.borrow_mut().reset();
        }
        self.reassign();
        a
    }
}
