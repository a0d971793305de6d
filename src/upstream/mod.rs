//! Upstream connection kinds: how we talk to pools. Each kind runs its protocol's session
//! without I/O: it turns what the pool sent into [`crate::core::Upstream`] events and renders
//! [`crate::core::ToPool`] messages; the runtime moves the bytes (and, for SV2, runs the
//! Noise handshake and seals the frames).
//!
//! Built: [`sv1`] (Stratum V1 lines) and, with the `sv2` feature, [`sv2`] (one extended
//! channel per pool). Both map onto the same core model, so SV1 and SV2 pools share one split.

pub mod sv1;
#[cfg(feature = "sv2")]
pub mod sv2;

/// How a connection ended (or must end).
#[derive(Debug)]
pub struct Ended {
    pub why: String,
    /// The pool asked us to come back after this long (`client.reconnect`, SV2 Reconnect).
    pub retry_after_ms: Option<u64>,
}

impl Ended {
    pub fn because(why: impl Into<String>) -> Ended {
        Ended {
            why: why.into(),
            retry_after_ms: None,
        }
    }
    /// Ended at the pool's request; reconnect after `ms`.
    pub fn retry(why: impl Into<String>, ms: u64) -> Ended {
        Ended {
            why: why.into(),
            retry_after_ms: Some(ms),
        }
    }
}
