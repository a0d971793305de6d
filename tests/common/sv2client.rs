//! Step-by-step SV2 clients on the Stratum V2 Reference Implementation (SRI) crates, for tests
//! that drive every message themselves (the threaded miner is in `sv2miner.rs`):
//!
//! - [`Sv2TestClient`]: connects, opens one extended channel, follows jobs on request
//!   ([`Sv2TestClient::poll_for`]), mines a share on the CPU and submits it, waiting for the
//!   answer. Its channel is a [`ChannelState`] (read through `Deref`: `client.target`,
//!   `client.job()`, …).
//! - [`Sv2RawClient`]: TCP + Noise handshake only, then any frame a hostile test wants to send
//!   (any message type, channel bit, extension type and payload bytes, or raw bytes on the
//!   socket), and the decrypted frames that come back.
//!
//! Include it after its helpers (the allow goes on the `mod` items):
//!
//! ```ignore
//! #[path = "common/sv2util.rs"]
//! #[allow(dead_code)]
//! mod sv2util;
//! #[path = "common/sv2miner.rs"]
//! #[allow(dead_code)]
//! mod sv2miner;
//! #[path = "common/sv2client.rs"]
//! #[allow(dead_code)]
//! mod sv2client;
//! ```

use crate::sv2miner::{
    open_channel, setup_connection, Applied, ChannelKind, ChannelState, ShareReply,
};
use crate::sv2util::{
    le256_cmp, search_nonces, sha256d, Frame, Sv2ClientError, Wire, FRAME_DEADLINE,
};
use binary_sv2::{GetSize, Serialize, Str0255, B032, U256};
use common_messages_sv2::SetupConnectionSuccess;
use mining_sv2::{
    CloseChannel, SubmitSharesExtended, UpdateChannel, MESSAGE_TYPE_CLOSE_CHANNEL,
    MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED, MESSAGE_TYPE_UPDATE_CHANNEL,
};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

/// A share as submitted in `SubmitSharesExtended`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sv2Share {
    pub job_id: u32,
    pub nonce: u32,
    pub ntime: u32,
    pub version: u32,
    /// The rolled part only (`extranonce_size` bytes; the upstream prepends its prefix).
    pub extranonce: Vec<u8>,
}

/// An SV2 mining client on SRI's Noise initiator and codec: one extended channel, driven step
/// by step.
pub struct Sv2TestClient {
    wire: Wire,
    /// The channel and its jobs.
    pub ch: ChannelState,
    /// `SetupConnection.Success.flags` from the upstream.
    pub setup_flags: u32,
    sequence: u32,
    pending: Vec<ShareReply>,
}

impl Deref for Sv2TestClient {
    type Target = ChannelState;

    fn deref(&self) -> &ChannelState {
        &self.ch
    }
}

impl DerefMut for Sv2TestClient {
    fn deref_mut(&mut self) -> &mut ChannelState {
        &mut self.ch
    }
}

fn always() -> bool {
    true
}

impl Sv2TestClient {
    /// Connect, run the Noise handshake against `authority_pubkey`, `SetupConnection` (flags 0),
    /// open an extended channel (min extranonce 4, nominal 1 MH/s) and wait (≤ 10 s) until a job
    /// is active.
    pub fn connect(addr: SocketAddr, authority_pubkey: [u8; 32]) -> Result<Self, Sv2ClientError> {
        let mut wire = Wire::connect(addr, Some(authority_pubkey), &always)?;
        let setup_flags = setup_connection(&mut wire, addr, 0, "sv2-selftest", &always)?;
        let kind = ChannelKind::Extended {
            min_extranonce_size: 4,
        };
        let ch = open_channel(
            &mut wire,
            &kind,
            "sv2-selftest.worker",
            1.0e6,
            [0xff; 32],
            &always,
        )?;
        let mut client = Sv2TestClient {
            wire,
            ch,
            setup_flags,
            sequence: 0,
            pending: Vec::new(),
        };
        let until = Instant::now() + FRAME_DEADLINE;
        while client.ch.active_job.is_none() {
            if Instant::now() >= until {
                return Err(Sv2ClientError::Protocol("no active job within 10 s".into()));
            }
            client.poll_one(Some(until))?;
        }
        Ok(client)
    }

    /// Read and apply one message (share replies are queued for [`Sv2TestClient::submit`]).
    fn poll_one(&mut self, deadline: Option<Instant>) -> Result<(), Sv2ClientError> {
        let mut f = self.wire.recv(deadline, &always)?;
        if let Applied::Reply(r) = self.ch.apply(&mut f).map_err(Sv2ClientError::Protocol)? {
            self.pending.push(r);
        }
        Ok(())
    }

    /// Process whatever the upstream sends for `dur` (new jobs, prevhashes, targets).
    pub fn poll_for(&mut self, dur: Duration) -> Result<(), Sv2ClientError> {
        let until = Instant::now() + dur;
        while Instant::now() < until {
            match self.poll_one(Some(until)) {
                Ok(()) => {}
                Err(Sv2ClientError::Io(e)) if e.starts_with("timed out") => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The header hash of `share` on the job it names (None if the job is unknown).
    pub fn share_hash(&self, share: &Sv2Share) -> Option<[u8; 32]> {
        let job = self.ch.jobs.get(&share.job_id)?;
        let header = self.ch.header(
            job,
            &share.extranonce,
            share.version,
            share.ntime,
            share.nonce,
        );
        Some(sha256d(&header))
    }

    /// Whether `share` meets the channel target.
    pub fn meets_target(&self, share: &Sv2Share) -> bool {
        self.share_hash(share)
            .is_some_and(|h| le256_cmp(&h, &self.ch.target).is_le())
    }

    /// Search nonces on the active job (extranonce `extranonce_tag` padded with zeros) for a
    /// share meeting the channel target, trying at most `max_hashes` nonces.
    pub fn find_share(&self, extranonce_tag: u64, max_hashes: u64) -> Option<Sv2Share> {
        let job = self.ch.job()?;
        let mut extranonce = vec![0u8; self.ch.extranonce_size as usize];
        let tag = extranonce_tag.to_le_bytes();
        let k = extranonce.len().min(8);
        extranonce[..k].copy_from_slice(&tag[..k]);
        let ntime = self.ch.ntime_for(job);
        let mut header = self.ch.header(job, &extranonce, job.version, ntime, 0);
        let (found, _) = search_nonces(&mut header, 0, max_hashes, &self.ch.target);
        let (nonce, _) = found?;
        Some(Sv2Share {
            job_id: job.job_id,
            nonce,
            ntime,
            version: job.version,
            extranonce,
        })
    }

    /// Submit `share` (sequence numbers from 1) and wait (≤ 10 s) for the answer to it.
    pub fn submit(&mut self, share: &Sv2Share) -> Result<ShareReply, Sv2ClientError> {
        self.sequence += 1;
        let seq = self.sequence;
        let msg = SubmitSharesExtended {
            channel_id: self.ch.channel_id,
            sequence_number: seq,
            job_id: share.job_id,
            nonce: share.nonce,
            ntime: share.ntime,
            version: share.version,
            extranonce: B032::try_from(&share.extranonce[..])
                .map_err(|e| Sv2ClientError::Protocol(format!("extranonce: {e:?}")))?,
        };
        self.wire
            .send(msg, MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED, true)?;
        let until = Instant::now() + FRAME_DEADLINE;
        loop {
            let found = self.pending.iter().position(|r| match r {
                ShareReply::Accepted {
                    last_sequence_number,
                    ..
                } => *last_sequence_number >= seq,
                ShareReply::Rejected {
                    sequence_number, ..
                } => *sequence_number == seq,
            });
            if let Some(i) = found {
                return Ok(self.pending.remove(i));
            }
            if Instant::now() >= until {
                return Err(Sv2ClientError::Io(format!(
                    "timed out waiting for the answer to share {seq}"
                )));
            }
            self.poll_one(Some(until))?;
        }
    }

    /// Mine a share for real on the active job (≤ 50M hashes) and submit it; Ok(true) if the
    /// upstream accepted it.
    pub fn mine_and_submit(&mut self) -> Result<bool, Sv2ClientError> {
        let tag = self.sequence as u64 + 1;
        let share = self
            .find_share(tag, 50_000_000)
            .ok_or_else(|| Sv2ClientError::Protocol("no share within 50M hashes".into()))?;
        Ok(matches!(self.submit(&share)?, ShareReply::Accepted { .. }))
    }

    /// Send `UpdateChannel` with `nominal_hash_rate` and the given maximum target.
    pub fn update_channel(
        &mut self,
        nominal_hash_rate: f32,
        maximum_target: [u8; 32],
    ) -> Result<(), Sv2ClientError> {
        let msg = UpdateChannel {
            channel_id: self.ch.channel_id,
            nominal_hash_rate,
            maximum_target: U256::from(&maximum_target),
        };
        self.wire.send(msg, MESSAGE_TYPE_UPDATE_CHANNEL, true)
    }

    /// Send `CloseChannel`.
    pub fn close_channel(&mut self) -> Result<(), Sv2ClientError> {
        let msg = CloseChannel {
            channel_id: self.ch.channel_id,
            reason_code: Str0255::try_from("done").expect("short"),
        };
        self.wire.send(msg, MESSAGE_TYPE_CLOSE_CHANNEL, true)
    }

    /// Send a message of type `msg_type` (extension 0) with a 6-byte dummy payload, e.g. one the
    /// upstream does not know.
    pub fn send_raw(&mut self, msg_type: u8) -> Result<(), Sv2ClientError> {
        let dummy = SetupConnectionSuccess {
            used_version: 0,
            flags: 0,
        };
        self.wire.send(dummy, msg_type, false)
    }
}

/// A Noise-encrypted SV2 connection with no protocol behind it: hostile tests send what they
/// like and read what comes back.
pub struct Sv2RawClient {
    wire: Wire,
}

impl Sv2RawClient {
    /// TCP connect and SRI's Noise handshake, checking the certificate against
    /// `authority_pubkey` (None: any key). Nothing is sent after the handshake.
    pub fn connect(
        addr: SocketAddr,
        authority_pubkey: Option<[u8; 32]>,
    ) -> Result<Self, Sv2ClientError> {
        Ok(Sv2RawClient {
            wire: Wire::connect(addr, authority_pubkey, &always)?,
        })
    }

    /// Send an SRI message (extension 0).
    pub fn send<T: Serialize + GetSize>(
        &mut self,
        msg: T,
        msg_type: u8,
        channel_bit: bool,
    ) -> Result<(), Sv2ClientError> {
        self.wire.send(msg, msg_type, channel_bit)
    }

    /// Send one encrypted frame carrying `payload` as it is (extension 0).
    pub fn send_frame(
        &mut self,
        msg_type: u8,
        channel_bit: bool,
        payload: &[u8],
    ) -> Result<(), Sv2ClientError> {
        self.send_frame_ext(0, msg_type, channel_bit, payload)
    }

    /// Send one encrypted frame under any extension type.
    pub fn send_frame_ext(
        &mut self,
        ext_type: u16,
        msg_type: u8,
        channel_bit: bool,
        payload: &[u8],
    ) -> Result<(), Sv2ClientError> {
        self.wire
            .tx
            .send_raw(ext_type, msg_type, channel_bit, payload)
            .map_err(Sv2ClientError::Io)
    }

    /// Write bytes on the socket as they are (not encrypted): corrupt ciphertext, garbage.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), Sv2ClientError> {
        (&self.wire.stream)
            .write_all(bytes)
            .map_err(|e| Sv2ClientError::Io(format!("write: {e}")))
    }

    /// The next decrypted frame within `timeout`; Ok(None) if none started to arrive.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Frame>, Sv2ClientError> {
        match self.wire.recv(Some(Instant::now() + timeout), &always) {
            Ok(f) => Ok(Some(f)),
            Err(Sv2ClientError::Io(e)) if e.starts_with("timed out") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Read frames for up to `timeout` until one of type `msg_type` arrives (others dropped).
    pub fn recv_type(
        &mut self,
        msg_type: u8,
        timeout: Duration,
    ) -> Result<Option<Frame>, Sv2ClientError> {
        let until = Instant::now() + timeout;
        while let Some(f) = self.recv(until.saturating_duration_since(Instant::now()))? {
            if f.msg_type == msg_type {
                return Ok(Some(f));
            }
        }
        Ok(None)
    }

    /// Whether the upstream closed the connection (EOF) within `timeout`; frames before it are
    /// dropped.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.recv(left) {
                Ok(Some(_)) => {}
                Ok(None) => return false,
                Err(_) => return true,
            }
        }
    }

    /// The socket, for tests that need it (shutdown, peer address).
    pub fn stream(&self) -> &TcpStream {
        &self.wire.stream
    }
}
