//! Operations around the proxy: the config file and its validation ([`config`]), live reload
//! ([`reload`]), the stats file ([`persist`]), signals ([`signal`]) and logging ([`logging`]).
//! These read files and the environment; the core never does.

pub mod config;
pub mod logging;
pub mod persist;
pub mod reload;
pub mod signal;
