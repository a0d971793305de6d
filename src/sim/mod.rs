//! Simulated Stratum V1 pools and miners: the test and demo oracle for the proxy.
//!
//! What it owns:
//! - [`SimPool`]: a pool on 127.0.0.1 that hands out deterministic jobs (name-seeded
//!   xorshift bytes), answers configure/subscribe/authorize, pushes difficulty and jobs on
//!   timers or on command, and validates every share itself, counting rejections by reason.
//! - [`SimMiner`]: a miner (cgminer, NerdQaxe/Nano 3S-like, or plain) that does real,
//!   throttled sha256d work on the newest job and counts what was accepted and rejected.
//! - [`chain`]: the sim-side sha256d, merkle root, header and difficulty target used by both.
//! - [`ExternalProxy`]: a hashmux binary (a router build under qemu-user, or the host
//!   build) run as its own process with a config written for it.
//!
//! Invariants:
//! - Independence: nothing here uses any other hashmux module (no `crate::work`,
//!   `crate::wire::sv1`, ...). JSON is `serde_json::Value`, hashing is `sha2` directly, targets
//!   are the sim's own big-number division compared as big-endian bytes. A bug in the proxy's
//!   share arithmetic or codec can therefore not hide in its own test oracle.
//! - Never in router builds: compiled only with the `sim` feature (default on; router builds
//!   use `--no-default-features`). It is test infrastructure, so it may lock `Arc<Mutex<_>>`
//!   stats and allocate freely.
//! - Isolation: each pool and each miner runs in its own OS thread with its own
//!   `smol::block_on`, so tests can run them beside a proxy in another thread. Only
//!   127.0.0.1 is ever bound or connected.
//! - Bounded lifetime: every handle stops everything it started (listener, connections,
//!   thread, joined) on `stop()` or drop; every loop is raced against the stop signal or a
//!   timer, so nothing outlives its handle or spins unbounded.

pub mod chain;
pub mod external;
pub mod miner;
pub mod pool;
pub mod splitsim;
mod wire;

#[cfg(test)]
mod tests;

pub use external::{ExternalProxy, Launch};
pub use miner::{MinerFlavour, SimMiner, SimMinerConfig, SimMinerStats};
pub use pool::{JobIdStyle, SimPool, SimPoolConfig, SimPoolStats};
