//! Downstream connection kinds: how miners talk to us. Each kind turns what its miner sent
//! into [`crate::core::Downstream`] events and renders [`crate::core::ToMiner`] messages in
//! its protocol, without I/O; the runtime moves the bytes.
//!
//! Built: [`sv1`] (Stratum V1 lines) and [`sv2`] (Stratum V2 frames: one standard or
//! extended channel per connection; the Noise handshake is the runtime's).

pub mod sv1;
#[cfg(feature = "sv2")]
pub mod sv2;

/// The protocol a miner connection speaks, with what its writer must remember.
#[derive(Clone)]
pub enum Kind {
    Sv1,
    /// The session is shared with the connection's reader (one borrow at a time).
    #[cfg(feature = "sv2")]
    Sv2(std::rc::Rc<std::cell::RefCell<sv2::Sv2Miner>>),
}

/// Render one message from the core in the miner's protocol.
pub fn write(kind: &Kind, out: &mut Vec<u8>, msg: &crate::core::ToMiner) {
    match kind {
        Kind::Sv1 => sv1::write(out, msg),
        #[cfg(feature = "sv2")]
        Kind::Sv2(s) => s.borrow_mut().write(out, msg),
    }
}
