//! Protocol codecs: parse and emit bytes, no I/O, no state beyond one message (the Noise
//! transport keeps its cipher states). Used by both sides of the proxy.

pub mod sv1;
#[cfg(feature = "sv2")]
pub mod sv2;
