//! hashmux: a single-threaded Stratum proxy for routers.
//!
//! The data path, left to right:
//! - [`wire`]: protocol codecs, bytes in and out, no I/O ([`wire::sv1`] lines,
//!   [`wire::sv2`] frames and the Noise handshake).
//! - [`upstream`] and [`downstream`]: the connection kinds. Each turns what its peer sent
//!   into events for the core and renders the core's actions in its protocol; none of them
//!   does I/O or sees the core's insides.
//! - [`core`]: the proxy's whole state (pools, miners, shares in flight, the ledger, the
//!   split) in one owned struct driven by events and a clock passed in; it returns actions.
//! - [`runtime`]: the only async code. It owns the core, runs the sockets on one smol
//!   `LocalExecutor`, feeds events in and writes actions out.
//!
//! Beside it: [`ops`] (config, reload, persistence, signals, logging), [`http`] (the page,
//! the API and metrics, rendered from a [`stats::Snapshot`]), [`work`] (the one job and share
//! model every protocol maps onto), [`stats`] (counters and the split history).

pub mod core;
pub mod downstream;
pub mod http;
pub mod io;
pub mod ops;
pub mod runtime;
pub mod stats;
pub mod upstream;
pub mod wire;
pub mod work;

#[cfg(feature = "sim")]
pub mod demo;
#[cfg(feature = "sim")]
pub mod sim;

/// Compile-time capacity of the pool table.
pub const MAX_POOLS: usize = 8;
/// Compile-time capacity of the miner table (`miners.max` may be lower, never higher).
pub const MAX_MINERS: usize = 256;
