//! Stratum V2 upstream codec: what the wire carries to and from an SV2 pool, as bytes in and
//! bytes out, with no I/O (like [`crate::stratum`] for SV1).
//!
//! Built so far: [`secp`] (BIP324 ElligatorSwift and x-only ECDH, BIP340 verification on
//! `k256` field arithmetic). The Noise handshake, framing, mining messages and the upstream
//! connection are not built yet; `stratum2+tcp://` pool URLs are refused by the config.

pub mod msg;
pub mod noise;
pub mod secp;
