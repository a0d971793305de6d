//! SV2 Noise transport frames after a real handshake: the target plays the pool
//! (fuzz_targets/pool_side.rs) and sends genuine, tampered and garbage frames to the
//! initiator's [`Transport`], and opens what the initiator seals. The handshake is done once
//! (with a signed certificate, see `sv2_noise_peer` for fuzzing it) and each run starts from
//! a clone of that fresh session, so runs are independent and cheap.
//!
//! Input: operations until the input ends (at most 8), each an op byte (bits 0-1: genuine
//! frame to us, tampered frame to us, frame from us, garbage; bits 6-7 = 3 allows payloads
//! past one 65,535-byte chunk) ‖ a 6-byte header ‖ a 24-bit length ‖ operands ‖ payload bytes
//! (repeated to the length).
//!
//! Properties: every genuine frame opens to its plaintext in either direction; a tampered or
//! garbage frame is refused and does not advance the receive nonce (the genuine frames after
//! it still open).
#![no_main]

#[path = "pool_side.rs"]
mod pool_side;

use hashmux::wire::sv2::noise::{
    certificate_digest, ciphertext_len, Initiator, NoiseError, Transport, HEADER_CT_LEN,
    MAX_CT_CHUNK, MAX_PT_CHUNK,
};
use hashmux::wire::sv2::secp::{ellswift_decode, Keypair};
use libfuzzer_sys::fuzz_target;
use pool_side::{act2, certificate, fixed, receive, seal_frame, sign, xorshift, Cipher, Input};
use std::sync::OnceLock;

/// Largest transport payload an operation builds (covers the multi-chunk path).
const MAX_PAYLOAD: usize = 2 * MAX_PT_CHUNK + 100;
const MAX_OPS: usize = 8;
const NOW: u32 = 1_800_000_000;

/// The initiator's transport and the pool's (receive, send) keys right after the handshake.
fn session() -> &'static (Transport, [u8; 32], [u8; 32]) {
    static S: OnceLock<(Transport, [u8; 32], [u8; 32])> = OnceLock::new();
    S.get_or_init(|| {
        let f = fixed();
        let mut next = xorshift(0x7a5e_55ed);
        let mut key = || [next(), next()].concat().try_into().unwrap();
        let (re, rs): ([u8; 64], [u8; 64]) = (key(), key());
        let (from, until) = (NOW - 86_400, NOW + 86_400);
        let sig = sign(
            f,
            &certificate_digest(0, from, until, &ellswift_decode(&rs)),
        );
        let e = Keypair {
            secret: f.e_secret,
            ellswift: f.e_ellswift,
        };
        let (init, act1) = Initiator::start(f.authority, e);
        let (act2, recv, send) =
            act2(f, &act1, &re, &rs, &certificate(0, from, until, &sig)).expect("ECDH values");
        let (t, _) = init.finish(&act2, NOW).expect("the handshake completes");
        (t, recv.key_bytes, send.key_bytes)
    })
}

fuzz_target!(|data: &[u8]| {
    let (fresh, k_recv, k_send) = session();
    let mut transport = fresh.clone();
    let mut pool_recv = Cipher::new(k_recv);
    let mut pool_send = Cipher::new(k_send);
    let mut input = Input(data);
    for _ in 0..MAX_OPS {
        if input.0.is_empty() {
            break;
        }
        let op = input.u8();
        let header: [u8; 6] = input.bytes();
        // Payloads past one chunk only when the op asks for them (bits 6-7): they are slow.
        let len = input.u24() % if op >> 6 == 3 { MAX_PAYLOAD + 1 } else { 1024 };
        match op % 4 {
            0 => {
                let payload = input.payload(len);
                let ct = seal_frame(&mut pool_send, &header, &payload);
                receive(&mut transport, &ct, &header, &payload);
            }
            1 => {
                let at = input.u24();
                let bit = input.u8() % 8;
                let payload = input.payload(len);
                let ct = seal_frame(&mut pool_send, &header, &payload);
                let mut bad = ct.clone();
                let at = at % bad.len();
                bad[at] ^= 1 << bit;
                if at < HEADER_CT_LEN {
                    let h: [u8; HEADER_CT_LEN] = bad[..HEADER_CT_LEN].try_into().unwrap();
                    assert_eq!(transport.open_header(&h), Err(NoiseError::Decrypt));
                    // Refused without advancing the nonce: the genuine frame still opens.
                    receive(&mut transport, &ct, &header, &payload);
                } else {
                    let h: [u8; HEADER_CT_LEN] = ct[..HEADER_CT_LEN].try_into().unwrap();
                    assert_eq!(transport.open_header(&h), Ok(header));
                    let mut buf = bad[HEADER_CT_LEN..].to_vec();
                    assert_eq!(transport.open_payload(&mut buf), Err(NoiseError::Decrypt));
                    if at - HEADER_CT_LEN < MAX_CT_CHUNK {
                        // The first chunk failed, so nothing advanced.
                        let mut buf = ct[HEADER_CT_LEN..].to_vec();
                        assert_eq!(transport.open_payload(&mut buf), Ok(payload.len()));
                        assert!(buf[..payload.len()] == payload[..]);
                    } else {
                        // A later chunk failed after earlier ones advanced the nonce: the
                        // session is over, as the caller treats it.
                        return;
                    }
                }
            }
            2 => {
                let payload = input.payload(len);
                let mut out = vec![0xa5];
                transport.seal_frame(&header, &payload, &mut out);
                assert_eq!(out[0], 0xa5, "seal_frame overwrote what was in the buffer");
                let ct = &out[1..];
                assert_eq!(ct.len(), HEADER_CT_LEN + ciphertext_len(payload.len()));
                let h = pool_recv
                    .open(&ct[..HEADER_CT_LEN])
                    .expect("our header opens");
                assert_eq!(h, header);
                let mut got = Vec::new();
                for chunk in ct[HEADER_CT_LEN..].chunks(MAX_CT_CHUNK) {
                    got.extend(pool_recv.open(chunk).expect("our payload opens"));
                }
                assert!(got == payload);
            }
            _ => {
                // Garbage where a frame should be.
                let mut garbage = input.payload(len.min(3 * MAX_CT_CHUNK));
                if len & 1 == 0 {
                    let mut h = [0u8; HEADER_CT_LEN];
                    let n = garbage.len().min(HEADER_CT_LEN);
                    h[..n].copy_from_slice(&garbage[..n]);
                    assert!(transport.open_header(&h).is_err());
                } else {
                    match transport.open_payload(&mut garbage) {
                        Ok(n) => assert!(n == 0, "garbage opened to {n} bytes"),
                        Err(NoiseError::Decrypt | NoiseError::Frame) => {}
                        Err(e) => panic!("unexpected error for garbage: {e}"),
                    }
                }
            }
        }
    }
});
