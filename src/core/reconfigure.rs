//! Changing the running configuration: a reloaded config file, and the control API (weights,
//! a pool switched off or on, split settings). Applied live; miners stay connected.
//!
//! Pools are matched by name: added (into a free slot), removed (closed, their miners move
//! on), re-addressed or given new credentials (reconnected); weights and priorities; miner
//! settings; failover timeouts; the split controller's settings. `listen` and `http` need a
//! restart (reported in [`Applied::needs_restart`]).

use super::pool::Pool;
use super::Core;
use crate::core::split::SplitConfig;
use crate::ops::config::Config;
use std::fmt;

/// What a reload changed, for the log and the caller.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub weights_changed: bool,
    /// Pools were added, removed, or re-addressed.
    pub pools_changed: bool,
    /// Things the file changed that need a restart.
    pub needs_restart: Vec<String>,
}

/// Why a control request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlError {
    NoSuchPool(String),
    WeightTooLarge { pool: String, weight: u32 },
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::NoSuchPool(n) => write!(f, "no pool named {n:?}"),
            ControlError::WeightTooLarge { pool, weight } => {
                write!(
                    f,
                    "weight of {pool:?} must be at most 10000 (found {weight})"
                )
            }
        }
    }
}

impl Core {
    fn pool_named(&self, name: &str) -> Option<usize> {
        self.pools
            .iter()
            .position(|p| !p.vacant && p.cfg.name == name)
    }

    /// Set pool weights by name (control API). All names must exist; nothing changes otherwise.
    pub fn set_weights(&mut self, weights: &[(&str, u32)], now: u64) -> Result<(), ControlError> {
        for (name, w) in weights {
            if self.pool_named(name).is_none() {
                return Err(ControlError::NoSuchPool(name.to_string()));
            }
            if *w > 10_000 {
                return Err(ControlError::WeightTooLarge {
                    pool: name.to_string(),
                    weight: *w,
                });
            }
        }
        for (name, w) in weights {
            if let Some(i) = self.pool_named(name) {
                self.pools[i].cfg.weight = *w;
            }
            if let Some(c) = self.cfg.pools.iter_mut().find(|c| c.name == *name) {
                c.weight = *w;
            }
        }
        self.pid.reset();
        let list: Vec<String> = weights.iter().map(|(n, w)| format!("{n}={w}")).collect();
        log::info!(target: "control", "split weights set: {}", list.join(", "));
        self.reassign(now);
        Ok(())
    }

    /// Take a pool out of the split and failover (`false`) or put it back (control API).
    pub fn set_enabled(&mut self, name: &str, enabled: bool, now: u64) -> Result<(), ControlError> {
        let i = self
            .pool_named(name)
            .ok_or_else(|| ControlError::NoSuchPool(name.to_string()))?;
        self.pools[i].disabled = !enabled;
        log::info!(target: "control",
            "pool {name}: {} by the operator",
            if enabled { "enabled" } else { "disabled" }
        );
        self.reassign(now);
        Ok(())
    }

    /// New split settings from the control API: same effect as a reload that changes them.
    pub fn set_split(&mut self, s: SplitConfig) {
        self.cfg.split = s;
        self.apply_split_settings(&s);
        log::info!(target: "control",
            "split settings set: preset {}",
            s.preset.map(|p| p.name()).unwrap_or("custom")
        );
    }

    fn apply_split_settings(&mut self, s: &SplitConfig) {
        let window_changed = self.pid.settings.window != s.pid().window;
        self.pid.settings = s.pid();
        if window_changed {
            // The ring is indexed by the window length: start measuring afresh.
            self.pid.reset();
        }
        self.sched.settings = s.sched();
    }

    /// Apply a validated config to the running proxy.
    pub fn apply_config(&mut self, new: Config, now: u64) -> Applied {
        let mut a = Applied::default();
        if new.listen != self.cfg.listen {
            a.needs_restart.push(format!("listen ({})", new.listen));
        }
        if new.http != self.cfg.http {
            a.needs_restart.push("http".into());
        }
        // Pools gone from the file: close and empty their slots (their miners move on).
        for idx in 0..self.pools.len() {
            let p = &self.pools[idx];
            if !p.vacant && !new.pools.iter().any(|n| n.name == p.cfg.name) {
                log::info!(target: "config_reloaded", "pool {} removed", p.cfg.name);
                self.close_pool(idx, "removed from the config");
                self.pools[idx].vacant = true;
                a.pools_changed = true;
            }
        }
        for np in new.pools.iter() {
            match self.pool_named(&np.name) {
                Some(idx) => {
                    let p = &mut self.pools[idx];
                    let old = (&p.cfg.host, p.cfg.port, &p.cfg.user, &p.cfg.password);
                    if old != (&np.host, np.port, &np.user, &np.password)
                        || p.cfg.authority != np.authority
                    {
                        log::info!(target: "config_reloaded", "pool {}: address or credentials changed; reconnecting", np.name);
                        p.cfg = np.clone();
                        self.close_pool(idx, "address or credentials changed by a reload");
                        a.pools_changed = true;
                    }
                    let p = &mut self.pools[idx];
                    a.weights_changed |= p.cfg.weight != np.weight;
                    p.cfg.weight = np.weight;
                    p.cfg.priority = np.priority;
                }
                None => match self.pools.iter().position(|p| p.vacant && !p.connected) {
                    Some(idx) => {
                        let p = &mut self.pools[idx];
                        // Keep connection generations increasing in a reused slot, so a late
                        // share for the old pool's job can never reach the new pool.
                        let gen = p.conn_gen.wrapping_add(1_000);
                        let jobs_made = p.jobs_made;
                        *p = Pool::new(idx, np.clone());
                        p.conn_gen = gen;
                        p.jobs_made = jobs_made;
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
        self.cfg.pools = new.pools.clone();
        self.cfg.miners = new.miners.clone();
        self.cfg.failover = new.failover.clone();
        self.cfg.split = new.split;
        self.cfg.log_level = new.log_level.clone();
        self.apply_split_settings(&new.split);
        if a.weights_changed {
            // Debts measured against the old targets mean nothing under the new ones.
            self.pid.reset();
        }
        self.reassign(now);
        a
    }
}
