//! Stratum V2 codec: what the wire carries to and from an SV2 peer, as bytes in and
//! bytes out, with no I/O (like [`crate::wire::sv1`] for SV1). Both roles: hashmux is an SV2
//! client of its pools and can be the SV2 server of its miners.
//!
//! [`secp`] (BIP324 ElligatorSwift and x-only ECDH, BIP340 signing and verification on `k256`
//! field arithmetic), [`noise`] (the NX handshake, initiator and responder, and the
//! transport's frame sealing), [`msg`] (frames, field reader/writer, and the common and mining
//! messages hashmux sends to and reads from a pool) and [`server`] (the mining messages hashmux
//! reads from and sends to a miner).

pub mod msg;
pub mod noise;
pub mod secp;
pub mod server;
