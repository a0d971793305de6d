//! hashmux: a single-threaded Stratum proxy for routers.
//!
//! Data path, left to right: [`miners`] (downstream SV1 sessions) → [`work`] (the one job and
//! share model shared by every upstream kind) → [`pools`] (upstream connections). Beside it:
//! [`split`] decides which pool each miner works for, [`stats`] counts everything, [`http`]
//! shows it. [`stratum`] is the SV1 line codec (bytes in, bytes out, no I/O) used on both sides.
//! [`proxy`] wires it all onto one smol `LocalExecutor`.

pub mod config;
pub mod http;
pub mod io;
pub mod logging;
pub mod miners;
pub mod pools;
pub mod proxy;
pub mod reload;
pub mod runtime;
pub mod signal;
pub mod split;
pub mod stats;
pub mod stratum;
#[cfg(feature = "sv2")]
pub mod stratum2;
pub mod work;

#[cfg(feature = "sim")]
pub mod demo;
#[cfg(feature = "sim")]
pub mod sim;

/// Compile-time capacity of the pool table.
pub const MAX_POOLS: usize = 8;
/// Compile-time capacity of the miner table (`miners.max` may be lower, never higher).
pub const MAX_MINERS: usize = 256;
