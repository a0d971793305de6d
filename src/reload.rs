//! Config reload: read the file again and apply what can change without dropping miners.
//!
//! Applied live, matching pools by name: pools added (into a free slot), removed (closed,
//! their miners move on), re-addressed or given new credentials (reconnected); weights and
//! priorities; miner settings; failover timeouts; the split controller's settings. Miners
//! stay connected throughout. Not applied (logged, a restart takes them): the listen/http
//! addresses. A config that does not validate is refused as a whole and the
//! running one stays.

use crate::config::Config;
use crate::pools::Pool;
use crate::proxy::Proxy;

/// What a reload changed, for the log and the caller.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub weights_changed: bool,
    /// Pools were added, removed, or re-addressed.
    pub pools_changed: bool,
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
        // Pools gone from the file: close and empty their slots (their miners move on).
        for slot in self.pools.iter() {
            let mut p = slot.borrow_mut();
            if !p.vacant && !new.pools.iter().any(|n| n.name == p.cfg.name) {
                log::info!(target: "config_reloaded", "pool {} removed", p.cfg.name);
                p.vacant = true;
                p.set_error("removed from the config");
                if let Some(o) = &p.out {
                    o.close();
                }
                a.pools_changed = true;
            }
        }
        for np in new.pools.iter() {
            let existing = self
                .pools
                .iter()
                .find(|p| !p.borrow().vacant && p.borrow().cfg.name == np.name);
            match existing {
                Some(slot) => {
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
                        // New address or credentials: reconnect with them.
                        log::info!(target: "config_reloaded", "pool {}: address or credentials changed; reconnecting", np.name);
                        p.cfg = np.clone();
                        p.set_error("address or credentials changed by a reload");
                        if let Some(o) = &p.out {
                            o.close();
                        }
                        a.pools_changed = true;
                    }
                    if p.cfg.weight != np.weight {
                        a.weights_changed = true;
                    }
                    p.cfg.weight = np.weight;
                    p.cfg.priority = np.priority;
                }
                None => match self
                    .pools
                    .iter()
                    .find(|p| p.borrow().vacant && p.borrow().out.is_none())
                {
                    Some(slot) => {
                        let mut p = slot.borrow_mut();
                        // Keep connection generations increasing in a reused slot, so a late
                        // share for the old pool's job can never reach the new pool.
                        let gen = p.conn_gen.wrapping_add(1_000);
                        *p = Pool::new(p.idx, np.clone());
                        p.conn_gen = gen;
                        log::info!(target: "config_reloaded", "pool {} added", np.name);
                        a.pools_changed = true;
                        a.weights_changed |= np.weight > 0;
                    }
                    None => a
                        .needs_restart
                        .push(format!("adding pool {} (no free slot yet)", np.name)),
                },
            }
        }
        cfg.pools = new.pools.clone();
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

/// Most workers whose totals are kept (beyond it, new names are folded into "(others)").
pub const MAX_WORKERS: usize = 256;

impl Proxy {
    /// Add a departing miner's counters to its worker's totals.
    pub fn fold_worker(&self, worker: &str, c: &crate::stats::ShareCounters) {
        let mut w = self.worker_totals.borrow_mut();
        let name = if worker.is_empty() {
            "(unnamed)"
        } else {
            worker
        };
        let i = match w.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None if w.len() < MAX_WORKERS => {
                w.push((name.to_string(), Default::default()));
                w.len() - 1
            }
            None => match w.iter().position(|(n, _)| n == "(others)") {
                Some(i) => i,
                None => {
                    w.push(("(others)".into(), Default::default()));
                    w.len() - 1
                }
            },
        };
        crate::proxy::add_counters(&mut w[i].1, c);
    }

    /// Worker totals including the miners connected now.
    pub fn worker_totals_now(&self) -> Vec<(String, crate::stats::ShareCounters)> {
        let mut all = self.worker_totals.borrow().clone();
        for m in self.miners.borrow().iter() {
            let m = m.borrow();
            let name = if m.worker.is_empty() {
                "(unnamed)"
            } else {
                m.worker.as_str()
            };
            match all.iter_mut().find(|(n, _)| n == name) {
                Some((_, c)) => crate::proxy::add_counters(c, &m.shares),
                None => all.push((name.to_string(), m.shares.clone())),
            }
        }
        all
    }

    /// Write the stats file now (if one is configured). Errors are logged, never fatal.
    pub fn save_stats(&self) {
        let Some(path) = self.cfg.borrow().stats.file.clone() else {
            return;
        };
        // Borrow the history out of its cell for encoding (it is not Clone: 46 KB).
        let mut saved = crate::stats::persist::Saved {
            pools: self
                .pools
                .iter()
                .filter(|p| !p.borrow().vacant)
                .map(|p| (p.borrow().cfg.name.to_string(), p.borrow().shares.clone()))
                .collect(),
            workers: self.worker_totals_now(),
            history: Some(std::mem::take(&mut *self.history.borrow_mut())),
        };
        let text = crate::stats::persist::encode(&saved);
        if let Some(h) = saved.history.take() {
            *self.history.borrow_mut() = h;
        }
        match crate::stats::persist::write_file(&path, &text) {
            Ok(()) => log::debug!("stats saved to {}", path.display()),
            Err(e) => {
                log::warn!(target: "stats_save_failed", "cannot write stats file {}: {e}", path.display())
            }
        }
    }

    /// Load the stats file at start. A missing file is normal; a damaged one is reported and
    /// ignored.
    pub fn load_stats(&self) {
        let Some(path) = self.cfg.borrow().stats.file.clone() else {
            return;
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                log::warn!(target: "stats_load_failed", "cannot read stats file {}: {e}; starting from zero", path.display());
                return;
            }
        };
        match crate::stats::persist::decode(&bytes) {
            Ok(saved) => {
                for (name, c) in &saved.pools {
                    if let Some(p) = self
                        .pools
                        .iter()
                        .find(|p| p.borrow().cfg.name.as_str() == name)
                    {
                        p.borrow_mut().shares = c.clone();
                    }
                }
                *self.worker_totals.borrow_mut() = saved.workers;
                if let Some(h) = saved.history {
                    *self.history.borrow_mut() = h;
                }
                log::info!(target: "stats_loaded", "stats loaded from {}", path.display());
            }
            Err(e) => log::warn!(
                target: "stats_load_failed",
                "stats file {} is damaged ({e}); ignoring it and starting from zero",
                path.display()
            ),
        }
    }
}
