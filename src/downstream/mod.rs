//! Downstream connection kinds: how miners talk to us. Each kind turns what its miner sent
//! into [`crate::core::Downstream`] events and renders [`crate::core::ToMiner`] messages in
//! its protocol, without I/O; the runtime moves the bytes.
//!
//! Built: [`sv1`] (Stratum V1 lines). Stratum V2 miners (standard and extended channels) are
//! the next kind; the core's events and messages are protocol-neutral for them.

pub mod sv1;

/// The protocol a miner connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sv1,
}

/// Render one message from the core in the miner's protocol.
pub fn write(kind: Kind, out: &mut Vec<u8>, msg: &crate::core::ToMiner) {
    match kind {
        Kind::Sv1 => sv1::write(out, msg),
    }
}
