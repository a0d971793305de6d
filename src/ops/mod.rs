//! Operations around the proxy: the config file and its validation ([`config`]), live reload
//! ([`reload`]), the stats file ([`persist`]), the SV2 authority key file (`keys`, with the
//! `sv2` feature), signals ([`signal`]) and logging ([`logging`]).
//! These read files and the environment; the core never does.

pub mod config;
#[cfg(feature = "sv2")]
pub mod keys;
pub mod logging;
pub mod persist;
pub mod reload;
pub mod signal;
