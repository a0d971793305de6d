//! The SV2 Noise handshake and transport against a hostile pool that holds valid keys: the
//! target plays the pool (responder), so everything the pool controls *inside* the encryption
//! reaches the initiator: its ephemeral and static key encodings, the certificate's version,
//! validity window and signature, and then the transport frames.
//!
//! `sv2_noise` cannot get past the first authentication tag with arbitrary bytes; this one
//! encrypts fuzzer-chosen plaintext with the session's real keys. The responder side is written
//! here from the spec (sv2-spec §4, as in src/stratum2/noise_tests.rs); it computes the ECDH
//! values from the initiator's side because it knows the initiator's fixed ephemeral secret, so
//! any 64-byte key encoding works as the pool's keys.
//!
//! Input (zero-padded): flags u8 (bit 0: sign the certificate with the authority key, else use
//! the input's signature) ‖ now u32 ‖ re (64) ‖ rs (64) ‖ version u16 ‖ valid_from u32 ‖
//! not_valid_after u32 ‖ signature (64), then transport operations until the input ends.
//!
//! Properties: the handshake result is exactly what the certificate rules say (signature,
//! window, unset clock), with the certificate fields as sent; every genuine frame opens to its
//! plaintext in either direction; a tampered or garbage frame is refused and does not advance
//! the receive nonce (the genuine frames after it still open).
#![no_main]

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};
use hashmux::stratum2::noise::{
    certificate_digest, ciphertext_len, Initiator, NoiseError, Transport, ACT2_LEN, CERT_LEN,
    HEADER_CT_LEN, MAC_LEN, MAX_CT_CHUNK, MAX_PT_CHUNK, PROTOCOL_NAME,
};
use hashmux::stratum2::secp::{ellswift_decode, ellswift_ecdh_xonly, tagged_hash, Keypair};
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::point::AffineCoordinates;
use k256::{FieldBytes, ProjectivePoint, Scalar, U256};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// Mirrors noise.rs: before 2024-01-01 the clock is taken as unset.
const CLOCK_PLAUSIBLE_FROM: u32 = 1_704_067_200;
const PREFIX: usize = 1 + 4 + 64 + 64 + CERT_LEN;
/// Largest transport payload an operation builds (covers the multi-chunk path).
const MAX_PAYLOAD: usize = 2 * MAX_PT_CHUNK + 100;
const MAX_OPS: usize = 8;

struct Fixed {
    e_secret: [u8; 32],
    e_ellswift: [u8; 64],
    authority_sk: Scalar,
    authority: [u8; 32],
}

fn xorshift(seed: u64) -> impl FnMut() -> [u8; 32] {
    let mut state = seed;
    move || {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_be_bytes());
        }
        out
    }
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let e = Keypair::from_random(xorshift(0x9e37_79b9_7f4a_7c15));
        // BIP340 key: negate the secret if its point has an odd y.
        let mut d = Scalar::from(0x5eed_a11c_e5ca_1ab1u64);
        let p = (ProjectivePoint::GENERATOR * d).to_affine();
        if bool::from(p.y_is_odd()) {
            d = -d;
        }
        Fixed {
            e_secret: e.secret,
            e_ellswift: e.ellswift,
            authority_sk: d,
            authority: p.x().into(),
        }
    })
}

/// BIP340 signature by the authority (nonce derived from the message; any nonce verifies).
fn sign(f: &Fixed, msg: &[u8; 32]) -> [u8; 64] {
    let k0 = tagged_hash("fuzz/nonce", &[&f.authority_sk.to_bytes(), msg]);
    let mut k = <Scalar as Reduce<U256>>::reduce_bytes(FieldBytes::from_slice(&k0));
    let r = (ProjectivePoint::GENERATOR * k).to_affine();
    if bool::from(r.y_is_odd()) {
        k = -k;
    }
    let rx: [u8; 32] = r.x().into();
    let e = tagged_hash("BIP0340/challenge", &[&rx, &f.authority, msg]);
    let e = <Scalar as Reduce<U256>>::reduce_bytes(FieldBytes::from_slice(&e));
    let s = k + e * f.authority_sk;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&rx);
    sig[32..].copy_from_slice(&s.to_bytes());
    sig
}

fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for p in parts {
        inner.update(p);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn hkdf2(ck: &[u8; 32], ikm: &[u8]) -> ([u8; 32], [u8; 32]) {
    let temp = hmac(ck, &[ikm]);
    let o1 = hmac(&temp, &[&[1]]);
    let o2 = hmac(&temp, &[&o1, &[2]]);
    (o1, o2)
}

/// One direction's key and counter nonce, the pool's side.
struct Cipher {
    key: ChaCha20Poly1305,
    nonce: u64,
}

impl Cipher {
    fn new(k: &[u8; 32]) -> Cipher {
        Cipher {
            key: ChaCha20Poly1305::new(k.into()),
            nonce: 0,
        }
    }
    fn nonce(&self) -> Nonce {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.nonce.to_le_bytes());
        n.into()
    }
    /// Encrypt `pt` and return ciphertext ‖ tag.
    fn seal(&mut self, ad: &[u8], pt: &[u8]) -> Vec<u8> {
        let mut buf = pt.to_vec();
        let tag = self
            .key
            .encrypt_in_place_detached(&self.nonce(), ad, &mut buf)
            .unwrap();
        buf.extend_from_slice(&tag);
        self.nonce += 1;
        buf
    }
    fn open(&mut self, ct: &[u8]) -> Option<Vec<u8>> {
        let (ct, tag) = ct.split_at(ct.len().checked_sub(MAC_LEN)?);
        let mut buf = ct.to_vec();
        self.key
            .decrypt_in_place_detached(&self.nonce(), &[], &mut buf, Tag::from_slice(tag))
            .ok()?;
        self.nonce += 1;
        Some(buf)
    }
}

/// The pool's handshake state (ck, h).
struct Sym {
    ck: [u8; 32],
    h: [u8; 32],
}

impl Sym {
    fn mix_hash(&mut self, data: &[u8]) {
        let mut d = Sha256::new();
        d.update(self.h);
        d.update(data);
        self.h = d.finalize().into();
    }
    fn mix_key(&mut self, ikm: &[u8]) -> Cipher {
        let (ck, k) = hkdf2(&self.ck, ikm);
        self.ck = ck;
        Cipher::new(&k)
    }
    fn encrypt_and_hash(&mut self, c: &mut Cipher, pt: &[u8]) -> Vec<u8> {
        let h = self.h;
        let ct = c.seal(&h, pt);
        self.mix_hash(&ct);
        ct
    }
}

/// The ECDH value both sides mix in, computed with the initiator's ephemeral secret.
fn ecdh(f: &Fixed, theirs: &[u8; 64]) -> Option<[u8; 32]> {
    let x = ellswift_ecdh_xonly(theirs, &f.e_secret)?;
    Some(tagged_hash(
        "bip324_ellswift_xonly_ecdh",
        &[&f.e_ellswift, theirs, &x],
    ))
}

/// A transport frame as `Transport::seal_frame` lays it out, sealed by `c`.
fn seal_frame(c: &mut Cipher, header: &[u8; 6], payload: &[u8]) -> Vec<u8> {
    let mut out = c.seal(&[], header);
    for chunk in payload.chunks(MAX_PT_CHUNK) {
        out.extend(c.seal(&[], chunk));
    }
    out
}

/// Reads the operations' bytes; past the end it yields zeros.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = self.0.len().min(N);
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
    fn u8(&mut self) -> u8 {
        self.bytes::<1>()[0]
    }
    fn u24(&mut self) -> usize {
        let b = self.bytes::<3>();
        u32::from_le_bytes([b[0], b[1], b[2], 0]) as usize
    }
    /// `len` bytes: what is left of the input, then that pattern repeated (zeros if none).
    fn payload(&mut self, len: usize) -> Vec<u8> {
        let n = self.0.len().min(len);
        let mut p = self.0[..n].to_vec();
        self.0 = &self.0[n..];
        if p.is_empty() {
            p.push(0);
        }
        p.iter().copied().cycle().take(len).collect()
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixed();
    let mut input = Input(data);
    let pre: [u8; PREFIX] = input.bytes();
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

    // The initiator: act 1.
    let e = Keypair {
        secret: f.e_secret,
        ellswift: f.e_ellswift,
    };
    let (init, act1) = Initiator::start(f.authority, e);

    // The pool: act 2 for that act 1, from the fuzzed keys and certificate.
    let h0: [u8; 32] = Sha256::digest(PROTOCOL_NAME).into();
    let mut sym = Sym {
        ck: h0,
        h: Sha256::digest(h0).into(),
    };
    sym.mix_hash(&act1);
    sym.mix_hash(&[]);
    sym.mix_hash(&re);
    let (Some(ee), Some(es)) = (ecdh(f, &re), ecdh(f, &rs)) else {
        // XSwiftEC is total (sv2_noise checks it), so this cannot happen; if it did, the
        // initiator must refuse the key rather than panic.
        let mut act2 = [0u8; ACT2_LEN];
        act2[..64].copy_from_slice(&re);
        act2[64..128].copy_from_slice(&rs);
        assert!(init.finish(&act2, now).is_err());
        return;
    };
    let mut cipher = sym.mix_key(&ee);
    let s_ct = sym.encrypt_and_hash(&mut cipher, &rs);
    let mut cipher = sym.mix_key(&es);
    let mut cert = Vec::with_capacity(CERT_LEN);
    cert.extend_from_slice(&version.to_le_bytes());
    cert.extend_from_slice(&valid_from.to_le_bytes());
    cert.extend_from_slice(&not_valid_after.to_le_bytes());
    cert.extend_from_slice(&sig);
    let cert_ct = sym.encrypt_and_hash(&mut cipher, &cert);
    let mut act2 = Vec::with_capacity(ACT2_LEN);
    act2.extend_from_slice(&re);
    act2.extend_from_slice(&s_ct);
    act2.extend_from_slice(&cert_ct);
    let act2: [u8; ACT2_LEN] = act2.try_into().unwrap();

    let result = init.finish(&act2, now);
    let in_window = valid_from <= now && now <= not_valid_after;
    let mut transport = match result {
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

    // Transport: the initiator sends with k1 and receives with k2.
    let (k1, k2) = hkdf2(&sym.ck, &[]);
    let mut pool_recv = Cipher::new(&k1);
    let mut pool_send = Cipher::new(&k2);
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

/// The initiator opens a genuine frame to its header and payload.
fn receive(t: &mut Transport, ct: &[u8], header: &[u8; 6], payload: &[u8]) {
    assert_eq!(ct.len(), HEADER_CT_LEN + ciphertext_len(payload.len()));
    let h: [u8; HEADER_CT_LEN] = ct[..HEADER_CT_LEN].try_into().unwrap();
    assert_eq!(t.open_header(&h), Ok(*header));
    let mut buf = ct[HEADER_CT_LEN..].to_vec();
    assert_eq!(t.open_payload(&mut buf), Ok(payload.len()));
    assert!(buf[..payload.len()] == payload[..]);
}
