//! Stratum V2 codec: what the wire carries to and from an SV2 peer, as bytes in and
//! bytes out, with no I/O (like [`crate::wire::sv1`] for SV1).
//!
//! [`secp`] (BIP324 ElligatorSwift and x-only ECDH, BIP340 on `k256` field arithmetic),
//! [`noise`] (the NX handshake and the transport's frame sealing) and [`msg`] (the common and
//! mining messages hashmux sends and reads).

pub mod msg;
pub mod noise;
pub mod secp;
