//! Downstream connection kinds: how miners talk to us. Each kind turns what its miner sent
//! into [`crate::core::Downstream`] events and renders [`crate::core::ToMiner`] messages in
//! its protocol, without I/O; the runtime moves the bytes.
//!
//! Built: [`sv1`] (Stratum V1 lines) and [`sv2`] (Stratum V2 frames: standard and extended
//! channels, several per connection, each its own core miner; the Noise handshake is the
//! runtime's).

pub mod sv1;
#[cfg(feature = "sv2")]
pub mod sv2;
#[cfg(feature = "sv2")]
mod sv2_channel;

/// The protocol a miner connection speaks, with what its writer must remember.
#[derive(Clone)]
pub enum Kind {
    Sv1,
    /// The session is shared with the connection's reader (one borrow at a time).
    #[cfg(feature = "sv2")]
    Sv2(std::rc::Rc<std::cell::RefCell<sv2::Sv2Miner>>),
}

impl Kind {
    /// Does the connection still hold a core miner? (An SV2 connection whose channels were all
    /// refused does not, and ends.)
    pub fn holds_miners(&self) -> bool {
        match self {
            Kind::Sv1 => true,
            #[cfg(feature = "sv2")]
            Kind::Sv2(s) => s.borrow().any_miner().is_some(),
        }
    }
}

/// Render one message from the core for miner `id` in its protocol. False: what `id` stood
/// for on its connection has ended (an SV2 channel refused); the runtime lets `id` go.
pub fn write(
    kind: &Kind,
    id: crate::core::MinerId,
    out: &mut Vec<u8>,
    msg: &crate::core::ToMiner,
) -> bool {
    match kind {
        Kind::Sv1 => {
            let _ = id;
            sv1::write(out, msg);
            true
        }
        #[cfg(feature = "sv2")]
        Kind::Sv2(s) => s.borrow_mut().write(id, out, msg) == sv2::Step::Keep,
    }
}
