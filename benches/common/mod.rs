//! What more than one bench needs: a pool's `mining.notify` with a realistic coinbase
//! (coinb1 ends where the extranonce goes, coinb2 pays one P2PKH output) and two merkle
//! branches; the SV1 bench pools, miners and relay ([`sv1`]); what a row measures
//! ([`measure`]).

pub mod measure;
pub mod sv1;

/// ntime of the first job of the SV1 bench pools; round r's job carries NTIME + r, which is how
/// a miner tells it.
pub const NTIME: u32 = 0x6560_f0a0;

/// `mining.notify` for job `job` with time `ntime`.
pub fn notify_line(job: u32, ntime: u32, clean: bool) -> String {
    format!(
        "{{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"{job:x}\",\"{}\",\"{}\",\"{}\",[\"{}\",\"{}\"],\"20000000\",\"1d00ffff\",\"{ntime:08x}\",{clean}]}}\n",
        "11".repeat(32),
        "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20",
        "ffffffff0100f2052a010000001976a914".to_string() + &"ab".repeat(20) + "88ac00000000",
        "22".repeat(32),
        "33".repeat(32)
    )
}
