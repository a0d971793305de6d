//! The Stratum V2 transport over TCP, shared by pool and miner connections: read one encrypted
//! frame, seal the plain frames an outbox queued. (The handshakes are each side's own.)
//!
//! Invariant: a frame is only handed on once its header and payload both decrypted; a payload
//! longer than the caller's cap is refused before a byte of it is read.

use crate::wire::sv2::msg::{Header, HEADER_LEN};
use crate::wire::sv2::noise::{self, Transport, HEADER_CT_LEN};
use async_net::TcpStream;
use futures_lite::AsyncReadExt;
use std::cell::RefCell;

/// Unix seconds from the system clock (0 if it reads before 1970).
pub fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().min(u32::MAX as u64) as u32)
        .unwrap_or(0)
}

/// Read and decrypt one frame: its header, and its plaintext in `payload[..header.len]`.
/// `peer` names the other side in errors ("pool", "miner").
pub async fn read_frame(
    rs: &mut TcpStream,
    transport: &RefCell<Transport>,
    payload: &mut Vec<u8>,
    max_payload: usize,
    peer: &str,
) -> Result<Header, String> {
    let mut hct = [0u8; HEADER_CT_LEN];
    rs.read_exact(&mut hct)
        .await
        .map_err(|e| format!("read failed: {e}"))?;
    let h = match transport.borrow_mut().open_header(&hct) {
        Ok(h) => Header::parse(&h),
        Err(e) => return Err(format!("bad frame from {peer}: {e}")),
    };
    let len = h.len as usize;
    if len > max_payload {
        return Err(format!(
            "{peer} sent a {len}-byte message (limit {max_payload})"
        ));
    }
    payload.resize(noise::ciphertext_len(len), 0);
    rs.read_exact(payload)
        .await
        .map_err(|e| format!("read failed: {e}"))?;
    transport
        .borrow_mut()
        .open_payload(payload)
        .map_err(|e| format!("bad frame from {peer}: {e}"))?;
    Ok(h)
}

/// Encrypt every whole frame in `plain` (as the outbox queued them) onto `wire`.
pub fn seal_frames(transport: &RefCell<Transport>, mut plain: &[u8], wire: &mut Vec<u8>) {
    let mut t = transport.borrow_mut();
    while plain.len() >= HEADER_LEN {
        let header: [u8; HEADER_LEN] = plain[..HEADER_LEN].try_into().expect("6 bytes");
        let len = Header::parse(&header).len as usize;
        let end = (HEADER_LEN + len).min(plain.len());
        t.seal_frame(&header, &plain[HEADER_LEN..end], wire);
        plain = &plain[end..];
    }
}
