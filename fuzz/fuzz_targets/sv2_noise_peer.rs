//! The SV2 Noise handshake against a hostile pool that holds valid keys: the target plays the
//! pool (responder, fuzz_targets/pool_side.rs), so everything the pool controls *inside* the
//! encryption reaches the initiator: its ephemeral and static key encodings, the
//! certificate's version, validity window and signature. `sv2_noise` cannot get past the
//! first authentication tag with arbitrary bytes; this one encrypts fuzzer-chosen plaintext
//! with the session's real keys. The transport after it is `sv2_transport`.
//!
//! Input (zero-padded): flags u8 (bit 0: sign the certificate with the authority key, else use
//! the input's signature) ‖ now u32 ‖ re (64) ‖ rs (64) ‖ version u16 ‖ valid_from u32 ‖
//! not_valid_after u32 ‖ signature (64).
//!
//! Properties: the handshake result is exactly what the certificate rules say (signature,
//! window, unset clock), with the certificate fields as sent; on success one genuine frame
//! opens each way, so both sides derived the same keys.
#![no_main]

#[path = "pool_side.rs"]
mod pool_side;

use hashmux::wire::sv2::noise::{
    certificate_digest, Initiator, NoiseError, ACT2_LEN, CERT_LEN, CLOCK_PLAUSIBLE_FROM,
    HEADER_CT_LEN,
};
use hashmux::wire::sv2::secp::{ellswift_decode, Keypair};
use libfuzzer_sys::fuzz_target;
use pool_side::{act2, certificate, fixed, receive, seal_frame, sign, Input};

const PREFIX: usize = 1 + 4 + 64 + 64 + CERT_LEN;

fuzz_target!(|data: &[u8]| {
    let f = fixed();
    let pre: [u8; PREFIX] = Input(data).bytes();
    let flags = pre[0];
    let now = u32::from_le_bytes(pre[1..5].try_into().unwrap());
    let re: [u8; 64] = pre[5..69].try_into().unwrap();
    let rs: [u8; 64] = pre[69..133].try_into().unwrap();
    let c = &pre[133..133 + CERT_LEN];
    let version = u16::from_le_bytes([c[0], c[1]]);
    let valid_from = u32::from_le_bytes(c[2..6].try_into().unwrap());
    let not_valid_after = u32::from_le_bytes(c[6..10].try_into().unwrap());
    let server_key = ellswift_decode(&rs);
    let signed = flags & 1 != 0;
    let sig: [u8; 64] = if signed {
        sign(
            f,
            &certificate_digest(version, valid_from, not_valid_after, &server_key),
        )
    } else {
        c[10..74].try_into().unwrap()
    };

    let e = Keypair {
        secret: f.e_secret,
        ellswift: f.e_ellswift,
    };
    let (init, act1) = Initiator::start(f.authority, e);
    let cert = certificate(version, valid_from, not_valid_after, &sig);
    let Some((act2, mut pool_recv, mut pool_send)) = act2(f, &act1, &re, &rs, &cert) else {
        // XSwiftEC is total (sv2_noise checks it), so this cannot happen; if it did, the
        // initiator must refuse the key rather than panic.
        let mut forged = [0u8; ACT2_LEN];
        forged[..64].copy_from_slice(&re);
        forged[64..128].copy_from_slice(&rs);
        assert!(init.finish(&forged, now).is_err());
        return;
    };

    let in_window = valid_from <= now && now <= not_valid_after;
    let mut transport = match init.finish(&act2, now) {
        Ok((t, got)) => {
            assert!(signed, "unsigned certificate accepted");
            assert!(in_window, "certificate accepted outside its window");
            assert_eq!(got.version, version);
            assert_eq!(got.valid_from, valid_from);
            assert_eq!(got.not_valid_after, not_valid_after);
            assert_eq!(got.server_key, server_key);
            t
        }
        Err(NoiseError::BadSignature) => {
            assert!(!signed, "a correctly signed certificate was refused");
            return;
        }
        Err(NoiseError::ClockUnset { now: n }) => {
            assert!(signed && !in_window && now < CLOCK_PLAUSIBLE_FROM && n == now);
            return;
        }
        Err(NoiseError::CertificateTime {
            now: n,
            valid_from: a,
            not_valid_after: b,
        }) => {
            assert!(signed && !in_window && now >= CLOCK_PLAUSIBLE_FROM);
            assert_eq!((n, a, b), (now, valid_from, not_valid_after));
            return;
        }
        Err(e) => panic!("handshake with the pool's real keys failed: {e}"),
    };

    // Both sides hold the same keys: one frame each way.
    let header = [0, 0, 0x15, 3, 0, 0];
    let payload = [1, 2, 3];
    let ct = seal_frame(&mut pool_send, &header, &payload);
    receive(&mut transport, &ct, &header, &payload);
    let mut out = Vec::new();
    transport.seal_frame(&header, &payload, &mut out);
    assert_eq!(
        pool_recv.open(&out[..HEADER_CT_LEN]).as_deref(),
        Some(&header[..])
    );
    assert_eq!(
        pool_recv.open(&out[HEADER_CT_LEN..]).as_deref(),
        Some(&payload[..])
    );
});
