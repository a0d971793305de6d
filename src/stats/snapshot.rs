//! A point-in-time copy of everything the stats page, the JSON API and tests show. Plain
//! owned data (`Send`), built on demand by [`crate::core::Core::snapshot`], and its JSON form
//! for `/api/stats` ([`Snapshot::to_json`]).
//!
//! JSON units: work as `work_*_diff1_shares`, difficulty-1 shares (hashes / 2^32) written as
//! an exact integer part and nine fractional digits by integer arithmetic, so a small miner's
//! work is never 0 (the older `work_valid` / `work_accepted` keep their whole-unit truncation
//! for readers that use them); hashrates in H/s; ages and durations in whole seconds (`_s`);
//! split shares in ppm or permille as their names say; history values `null` where a minute
//! has no data (the history is passed to [`Snapshot::to_json_with`], not carried).

use super::ShareCounters;
use crate::work::Difficulty;
use std::fmt::Write;
use std::net::SocketAddr;

#[derive(Clone, Debug)]
pub struct PoolSnap {
    pub name: String,
    pub address: String,
    pub state: &'static str,
    /// "sv1" or "sv2".
    pub protocol: &'static str,
    /// An SV2 session with a verified certificate is up (always false for SV1).
    pub encrypted: bool,
    pub priority: u32,
    pub weight: u32,
    pub difficulty: Difficulty,
    pub extranonce2_size: usize,
    pub version_mask: Option<u32>,
    pub shares: ShareCounters,
    pub rejects: Vec<(String, u64)>,
    pub connects: u64,
    pub last_error: String,
    pub last_job_age_ms: Option<u64>,
    /// Since the pool last accepted a share.
    pub last_share_age_ms: Option<u64>,
    /// Since the pool entered its current state.
    pub state_age_ms: u64,
    /// The account the pool is given (`user` in the config).
    pub user: String,
    /// Taken out of the split by the operator.
    pub disabled: bool,
    pub rtt_ms: u64,
    pub miners: usize,
    /// Mean of the per-minute measured shares over the last 24 h (tenths of a percent).
    pub actual_24h_permille: Option<u32>,
    /// The split controller's view of this pool.
    pub split: crate::core::split::pid::PoolTerms,
}

#[derive(Clone, Debug)]
pub struct MinerSnap {
    pub id: u32,
    pub worker: String,
    pub agent: String,
    /// "sv1" or "sv2" (filled in by the runtime, which knows the connection kinds).
    pub protocol: &'static str,
    pub addr: SocketAddr,
    pub tag: String,
    pub extranonce2_size: usize,
    pub pool: Option<String>,
    pub difficulty: Option<Difficulty>,
    pub shares: ShareCounters,
    pub connected_ms: u64,
    pub last_share_age_ms: Option<u64>,
    /// The best share this session (the difficulty its hash met).
    pub best_share: Option<Difficulty>,
    pub switches: u64,
    /// Bytes received from / sent to the miner (for billing).
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Hashrate over the last 5 minutes and the last hour, H/s, from valid work.
    pub hashrate_5m: u64,
    pub hashrate_1h: u64,
    /// The last hour in 5-minute slots (H/s), oldest first; `None` before it connected.
    pub sparkline: [Option<u64>; 12],
    /// Average hashrate since connecting, H/s, from valid work.
    pub hashrate: u64,
}

#[derive(Clone, Debug)]
pub struct Snapshot {
    pub version: &'static str,
    pub uptime_ms: u64,
    /// Heap bytes in use now and at most since start ([`crate::stats::heap`]).
    pub heap_bytes: usize,
    pub heap_peak_bytes: usize,
    pub pools: Vec<PoolSnap>,
    pub miners: Vec<MinerSnap>,
    pub refused: u64,
    /// Totals per worker name since the stats file was started (or since start).
    pub workers: Vec<(String, ShareCounters)>,
    /// The split settings in force.
    pub split: crate::core::split::SplitConfig,
    /// Totals of miners that have disconnected.
    pub departed: ShareCounters,
    /// The Stratum V2 miners' listener and the authority key to give them, when enabled.
    pub sv2: Option<Sv2Listener>,
    /// The port SV1 miners connect to (`listen`), for the page's "point miners at".
    pub stratum_port: u16,
    /// An `api_token` is configured: the page offers its controls.
    pub control: bool,
}

/// One pool's last 24 h of the split, one value per closed minute, oldest first, in tenths of
/// a percent; [`crate::stats::history::NO_DATA`] where the minute has no data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolHistory {
    pub pool: String,
    pub target_permille: Vec<u16>,
    pub actual_permille: Vec<u16>,
}

/// Where SV2 miners connect and the key they must be configured with.
#[derive(Clone, Debug)]
pub struct Sv2Listener {
    pub listen: String,
    /// The authority public key in base58check, as miners' settings take it.
    pub authority_key: String,
}

impl Snapshot {
    pub fn pool(&self, name: &str) -> Option<&PoolSnap> {
        self.pools.iter().find(|p| p.name == name)
    }

    /// JSON for `/api/stats` with an empty `history` (see [`Snapshot::to_json_with`]).
    pub fn to_json(&self) -> String {
        self.to_json_with(&[])
    }

    /// JSON for `/api/stats`, with the split history given (the snapshot does not carry it:
    /// the page and `/metrics` do not need a copy). Never contains pool passwords (the
    /// snapshot has none).
    pub fn to_json_with(&self, history: &[PoolHistory]) -> String {
        let mut s = String::with_capacity(1024 + 512 * (self.pools.len() + self.miners.len()));
        let sp = &self.split;
        let _ = write!(
            s,
            "{{\"version\":\"{}\",\"uptime_s\":{},\"heap_bytes\":{},\"heap_peak_bytes\":{},\"refused_miners\":{},\"split\":{{\"preset\":\"{}\",\"kp_milli\":{},\"ki_milli\":{},\"kd_milli\":{},\"deadband_ppm\":{},\"interval_secs\":{},\"min_dwell_secs\":{}}},\"pools\":[",
            self.version,
            self.uptime_ms / 1000,
            self.heap_bytes,
            self.heap_peak_bytes,
            self.refused,
            sp.preset.map(|p| p.name()).unwrap_or("custom"),
            sp.gains.kp,
            sp.gains.ki,
            sp.gains.kd,
            sp.deadband_ppm,
            sp.interval_secs,
            sp.min_dwell_secs
        );
        for (i, p) in self.pools.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"name\":");
            json_str(&mut s, &p.name);
            s.push_str(",\"address\":");
            json_str(&mut s, &p.address);
            let _ = write!(
                s,
                ",\"state\":\"{}\",\"protocol\":\"{}\",\"encrypted\":{},\"priority\":{},\"weight\":{},\"difficulty\":{},\"extranonce2_size\":{},\"connects\":{},\"rtt_ms\":{},\"miners\":{},\"last_job_age_s\":{},\"last_error\":",
                p.state,
                p.protocol,
                p.encrypted,
                p.priority,
                p.weight,
                p.difficulty,
                p.extranonce2_size,
                p.connects,
                p.rtt_ms,
                p.miners,
                p.last_job_age_ms.map(|a| (a / 1000).to_string()).unwrap_or_else(|| "null".into())
            );
            json_str(&mut s, &p.last_error);
            let t = &p.split;
            let _ = write!(
                s,
                ",\"split\":{{\"target_ppm\":{},\"measured_ppm\":{},\"fraction_ppm\":{},\"debt\":{},\"p\":{},\"i\":{},\"d\":{}}}",
                t.target_ppm, t.measured_ppm, t.fraction_ppm, t.debt, t.p, t.i, t.d
            );
            s.push_str(",\"shares\":");
            counters_json(&mut s, &p.shares);
            s.push_str(",\"rejects\":{");
            for (j, (r, n)) in p.rejects.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                json_str(&mut s, r);
                let _ = write!(s, ":{n}");
            }
            s.push('}');
            let _ = write!(
                s,
                ",\"actual_24h_permille\":{},\"rtt_s\":{}.{:03}}}",
                json_opt(p.actual_24h_permille),
                p.rtt_ms / 1000,
                p.rtt_ms % 1000
            );
        }
        s.push_str("],\"miners\":[");
        for (i, m) in self.miners.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{{\"id\":{},\"worker\":", m.id);
            json_str(&mut s, &m.worker);
            s.push_str(",\"agent\":");
            json_str(&mut s, &m.agent);
            let _ = write!(s, ",\"protocol\":\"{}\"", m.protocol);
            let _ = write!(
                s,
                ",\"address\":\"{}\",\"tag\":\"{}\",\"extranonce2_size\":{},\"pool\":",
                m.addr, m.tag, m.extranonce2_size
            );
            match &m.pool {
                Some(p) => json_str(&mut s, p),
                None => s.push_str("null"),
            }
            let _ = write!(
                s,
                ",\"difficulty\":{},\"hashrate\":{},\"switches\":{},\"connected_s\":{},\"last_share_age_s\":{},\"shares\":",
                m.difficulty.map(|d| d.to_string()).unwrap_or_else(|| "null".into()),
                m.hashrate,
                m.switches,
                m.connected_ms / 1000,
                m.last_share_age_ms.map(|a| (a / 1000).to_string()).unwrap_or_else(|| "null".into())
            );
            counters_json(&mut s, &m.shares);
            let _ = write!(
                s,
                ",\"hashrate_5m\":{},\"hashrate_1h\":{},\"bytes_in\":{},\"bytes_out\":{}}}",
                m.hashrate_5m, m.hashrate_1h, m.bytes_in, m.bytes_out
            );
        }
        s.push_str("],\"workers\":[");
        for (i, (name, c)) in self.workers.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"name\":");
            json_str(&mut s, name);
            s.push_str(",\"shares\":");
            counters_json(&mut s, c);
            s.push('}');
        }
        s.push_str("],\"history\":{\"interval_s\":60,\"pools\":[");
        for (i, h) in history.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"name\":");
            json_str(&mut s, &h.pool);
            s.push_str(",\"target_permille\":");
            permille_list(&mut s, &h.target_permille);
            s.push_str(",\"actual_permille\":");
            permille_list(&mut s, &h.actual_permille);
            s.push('}');
        }
        s.push_str("]},\"departed_miners_shares\":");
        counters_json(&mut s, &self.departed);
        s.push_str(",\"sv2\":");
        match &self.sv2 {
            Some(l) => {
                s.push_str("{\"listen\":");
                json_str(&mut s, &l.listen);
                s.push_str(",\"authority_key\":");
                json_str(&mut s, &l.authority_key);
                s.push('}');
            }
            None => s.push_str("null"),
        }
        s.push('}');
        s
    }
}

fn counters_json(s: &mut String, c: &ShareCounters) {
    s.push('{');
    for (name, n) in ShareCounters::NAMES.iter().zip(c.counts()) {
        let _ = write!(s, "\"{name}\":{n},");
    }
    let _ = write!(
        s,
        "\"work_valid\":{},\"work_accepted\":{},\"work_valid_diff1_shares\":{},\"work_accepted_diff1_shares\":{},\"best_share\":{}}}",
        c.work_valid >> 32,
        c.work_accepted >> 32,
        Diff1Shares(c.work_valid),
        Diff1Shares(c.work_accepted),
        Difficulty(c.best)
    );
}

/// Work in hashes shown as difficulty-1 shares (hashes / 2^32): the exact integer part and
/// nine fractional digits, truncated (integer arithmetic only).
struct Diff1Shares(u128);

impl std::fmt::Display for Diff1Shares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let frac = ((self.0 & 0xffff_ffff) * 1_000_000_000) >> 32;
        write!(f, "{}.{:09}", self.0 >> 32, frac)
    }
}

/// `v` or `null`.
fn json_opt(v: Option<impl std::fmt::Display>) -> String {
    v.map_or_else(|| "null".into(), |v| v.to_string())
}

/// A JSON array of permille values, `null` for [`NO_DATA`].
///
/// [`NO_DATA`]: crate::stats::history::NO_DATA
fn permille_list(s: &mut String, v: &[u16]) {
    s.push('[');
    for (i, &x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        if x == crate::stats::history::NO_DATA {
            s.push_str("null");
        } else {
            let _ = write!(s, "{x}");
        }
    }
    s.push(']');
}

/// Append `v` as a JSON string.
pub fn json_str(s: &mut String, v: &str) {
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::split::pid::PoolTerms;
    use crate::stats::history::NO_DATA;

    #[test]
    fn test_diff1_shares_small_work_is_not_zero() {
        let d = |w: u128| Diff1Shares(w).to_string();
        assert_eq!(d(0), "0.000000000");
        assert_eq!(d(1 << 32), "1.000000000");
        assert_eq!(d(3 << 31), "1.500000000");
        // A share at difficulty 0.0002 (858,993 hashes): the old whole-unit field shows 0.
        assert_eq!(d(858_993), "0.000199999");
        assert_eq!(d(1), "0.000000000");
        assert_eq!(d(u128::MAX), "79228162514264337593543950335.999999999");
    }

    fn snapshot() -> Snapshot {
        let shares = ShareCounters {
            submitted: 3,
            valid: 3,
            forwarded: 1,
            accepted: 1,
            work_valid: 3 * 858_993,
            work_accepted: 858_993,
            ..ShareCounters::default()
        };
        Snapshot {
            version: "1.2.3",
            uptime_ms: 61_000,
            heap_bytes: 1,
            heap_peak_bytes: 2,
            pools: vec![PoolSnap {
                name: "a".into(),
                address: "pool.example:3333".into(),
                state: "live",
                protocol: "sv1",
                encrypted: false,
                priority: 0,
                weight: 1,
                difficulty: Difficulty(858_993),
                extranonce2_size: 4,
                version_mask: None,
                shares: shares.clone(),
                rejects: vec![],
                connects: 1,
                last_error: String::new(),
                last_job_age_ms: None,
                last_share_age_ms: None,
                state_age_ms: 61_000,
                user: "acct".into(),
                disabled: false,
                rtt_ms: 42,
                miners: 1,
                actual_24h_permille: Some(1000),
                split: PoolTerms::default(),
            }],
            miners: vec![MinerSnap {
                id: 1,
                worker: "acct.rig".into(),
                agent: "cgminer".into(),
                protocol: "sv1",
                addr: "192.168.1.9:4000".parse().unwrap(),
                tag: "0001".into(),
                extranonce2_size: 4,
                pool: Some("a".into()),
                difficulty: Some(Difficulty(858_993)),
                shares: shares.clone(),
                connected_ms: 61_000,
                last_share_age_ms: Some(2_000),
                best_share: None,
                switches: 0,
                bytes_in: 10,
                bytes_out: 20,
                hashrate_5m: 40_000,
                hashrate_1h: 30_000,
                sparkline: [None; 12],
                hashrate: 42_000,
            }],
            refused: 0,
            workers: vec![
                ("acct.rig".into(), shares),
                ("old".into(), Default::default()),
            ],
            split: crate::core::split::SplitConfig::default(),
            departed: ShareCounters::default(),
            sv2: None,
            stratum_port: 3333,
            control: false,
        }
    }

    fn history() -> Vec<PoolHistory> {
        vec![PoolHistory {
            pool: "a".into(),
            target_permille: vec![1000, 1000],
            actual_permille: vec![NO_DATA, 998],
        }]
    }

    #[cfg(feature = "sim")]
    #[test]
    fn test_json_has_workers_history_and_precise_work() {
        let v: serde_json::Value =
            serde_json::from_str(&snapshot().to_json_with(&history())).expect("JSON");
        let m = &v["miners"][0];
        assert_eq!(m["shares"]["work_valid"], 0, "the old field truncates");
        let w = m["shares"]["work_valid_diff1_shares"].as_f64().unwrap();
        assert!((w - 0.0006).abs() < 1e-6, "{w}");
        assert_eq!(m["hashrate_5m"], 40_000);
        assert_eq!(m["hashrate_1h"], 30_000);
        assert_eq!(m["hashrate"], 42_000);
        assert_eq!(v["workers"][0]["name"], "acct.rig");
        assert_eq!(v["workers"][0]["shares"]["valid"], 3);
        assert_eq!(v["workers"][1]["name"], "old");
        assert_eq!(v["history"]["interval_s"], 60);
        let h = &v["history"]["pools"][0];
        assert_eq!(h["name"], "a");
        assert_eq!(h["target_permille"], serde_json::json!([1000, 1000]));
        assert_eq!(h["actual_permille"], serde_json::json!([null, 998]));
        let p = &v["pools"][0];
        assert_eq!(p["actual_24h_permille"], 1000);
        assert_eq!(p["rtt_ms"], 42);
        assert_eq!(p["rtt_s"].as_f64(), Some(0.042));
        assert!(p["shares"]["work_accepted_diff1_shares"].as_f64().unwrap() > 0.0);
        assert_eq!(p["last_job_age_s"], serde_json::Value::Null);
    }

    #[test]
    fn test_json_without_history_has_empty_lists() {
        let mut s = snapshot();
        s.workers.clear();
        let j = s.to_json();
        assert!(
            j.contains(r#""workers":[],"history":{"interval_s":60,"pools":[]}"#),
            "{j}"
        );
    }
}
