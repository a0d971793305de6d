//! A point-in-time copy of everything the stats page, the JSON API and tests show. Plain
//! owned data (`Send`), built on demand by [`crate::core::Core::snapshot`].

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

    /// JSON for `/api/stats`. Never contains pool passwords (the snapshot has none).
    pub fn to_json(&self) -> String {
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
            s.push_str("}}");
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
            s.push('}');
        }
        s.push_str("],\"departed_miners_shares\":");
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
        "\"work_valid\":{},\"work_accepted\":{}}}",
        c.work_valid >> 32,
        c.work_accepted >> 32
    );
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
