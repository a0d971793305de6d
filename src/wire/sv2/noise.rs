//! The SV2 Noise handshake, both sides, and the encrypted transport that follows it
//! (`Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256`, sv2-spec §4). Bytes in, bytes out.
//!
//! - Act 1 (`-> e`): 64 bytes, the initiator's ephemeral key ElligatorSwift-encoded.
//! - Act 2 (`<- e, ee, s, es, SIGNATURE_NOISE_MESSAGE`): 234 bytes = 64 (e) + 64 + 16 (s,
//!   encrypted) + 74 + 16 (certificate, encrypted). The certificate is the responder's static
//!   key signed (BIP340) by an authority key, with a validity window.
//! - Transport: each frame is the 6-byte header encrypted alone (22 bytes), then the payload
//!   in ≤ 65,535-byte ciphertext chunks (65,519 bytes of plaintext + 16 of tag each).
//!
//! [`Initiator`] is our side when we connect to a pool (it checks the pool's certificate
//! against the authority key from the config); [`respond`] is our side when a miner connects
//! to us (it sends our static key and a certificate signed with our own authority key, see
//! [`sign_certificate`]). Both ECDH hashes put the initiator's encoding first, whichever side
//! computes them; after the handshake the initiator sends on the first split key and the
//! responder on the second.
//!
//! Invariants: a failed decryption never advances a nonce and ends the session (the caller
//! drops the connection); nothing is accepted from the pool before its certificate checked;
//! any 64 bytes are a valid act 1 (every encoding decodes to a point), so the responder
//! refuses nothing there, and a forged act 1 only yields a session nobody else can read.

use super::secp::{self, Keypair};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};
use sha2::{Digest, Sha256};
use std::fmt;

pub const PROTOCOL_NAME: &[u8] = b"Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256";
pub const MAC_LEN: usize = 16;
pub const ACT1_LEN: usize = 64;
/// Plaintext certificate: version u16, valid_from u32, not_valid_after u32, signature 64.
pub const CERT_LEN: usize = 74;
pub const ACT2_LEN: usize = 64 + 64 + MAC_LEN + CERT_LEN + MAC_LEN;
/// Largest ciphertext chunk of a transport message.
pub const MAX_CT_CHUNK: usize = 65_535;
pub const MAX_PT_CHUNK: usize = MAX_CT_CHUNK - MAC_LEN;
/// An encrypted frame header.
pub const HEADER_CT_LEN: usize = 6 + MAC_LEN;
/// Before this time (2024-01-01) a router's clock is taken to be unset, not the pool wrong.
pub const CLOCK_PLAUSIBLE_FROM: u32 = 1_704_067_200;

/// Certificate format version of sv2-spec §4.7 (the only one defined).
pub const CERT_VERSION: u16 = 0;

/// Why a handshake or a transport frame was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoiseError {
    /// An authentication tag did not match (wrong peer, corrupted or tampered bytes).
    Decrypt,
    /// The pool's ephemeral or static key does not decode to a usable point.
    BadKey,
    /// The certificate is not signed by the configured authority key.
    BadSignature,
    /// Now is outside the certificate's validity window (unix seconds).
    CertificateTime {
        now: u32,
        valid_from: u32,
        not_valid_after: u32,
    },
    /// Our clock reads before 2024: most likely a router without an RTC before NTP ran.
    ClockUnset { now: u32 },
    /// A frame that cannot be a transport message (too short, length mismatch).
    Frame,
}

impl fmt::Display for NoiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoiseError::Decrypt => f.write_str("decryption failed (wrong pool key or corrupted data)"),
            NoiseError::BadKey => f.write_str("a key is not a valid secp256k1 point or secret"),
            NoiseError::BadSignature => f.write_str(
                "pool certificate is not signed by the configured authority key (check the key in the pool URL)",
            ),
            NoiseError::CertificateTime { now, valid_from, not_valid_after } => write!(
                f,
                "pool certificate valid from {valid_from} to {not_valid_after} (unix time), but the clock says {now}"
            ),
            NoiseError::ClockUnset { now } => write!(
                f,
                "the system clock reads {now} (before 2024): it is probably not set yet (router without RTC? check NTP); cannot check the pool certificate"
            ),
            NoiseError::Frame => f.write_str("malformed encrypted frame"),
        }
    }
}

/// HMAC-SHA256 with a 32-byte key over the concatenation of `parts`.
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

/// HKDF with empty info and two outputs, as Noise uses it.
fn hkdf2(ck: &[u8; 32], ikm: &[u8]) -> ([u8; 32], [u8; 32]) {
    let temp = hmac(ck, &[ikm]);
    let o1 = hmac(&temp, &[&[1]]);
    let o2 = hmac(&temp, &[&o1, &[2]]);
    (o1, o2)
}

/// A key and a counter nonce (32 zero bits ‖ 64-bit little-endian counter).
#[derive(Clone)]
pub struct CipherState {
    key: Option<ChaCha20Poly1305>,
    nonce: u64,
}

impl CipherState {
    fn empty() -> CipherState {
        CipherState {
            key: None,
            nonce: 0,
        }
    }

    fn with_key(k: &[u8; 32]) -> CipherState {
        CipherState {
            key: Some(ChaCha20Poly1305::new(k.into())),
            nonce: 0,
        }
    }

    fn nonce_bytes(&self) -> Nonce {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.nonce.to_le_bytes());
        n.into()
    }

    /// Encrypt `buf[..len - 16]` in place and write the tag into the last 16 bytes.
    /// Without a key the bytes stay as they are and no tag is added (`buf` has no room for it).
    fn encrypt(&mut self, ad: &[u8], buf: &mut [u8]) {
        if let Some(c) = &self.key {
            let (pt, tag) = buf.split_at_mut(buf.len() - MAC_LEN);
            let t = c
                .encrypt_in_place_detached(&self.nonce_bytes(), ad, pt)
                .expect("chunk within ChaCha20 limits");
            tag.copy_from_slice(&t);
            self.nonce += 1;
        }
    }

    /// Decrypt `buf` (ciphertext ‖ tag) in place; the plaintext is `buf[..len - 16]`.
    fn decrypt(&mut self, ad: &[u8], buf: &mut [u8]) -> Result<(), NoiseError> {
        if let Some(c) = &self.key {
            if buf.len() < MAC_LEN {
                return Err(NoiseError::Frame);
            }
            let (ct, tag) = buf.split_at_mut(buf.len() - MAC_LEN);
            let tag = *Tag::from_slice(tag);
            c.decrypt_in_place_detached(&self.nonce_bytes(), ad, ct, &tag)
                .map_err(|_| NoiseError::Decrypt)?;
            self.nonce += 1;
        }
        Ok(())
    }
}

/// ck, h and the handshake cipher.
struct Symmetric {
    ck: [u8; 32],
    h: [u8; 32],
    cipher: CipherState,
}

impl Symmetric {
    fn new() -> Symmetric {
        let h: [u8; 32] = Sha256::digest(PROTOCOL_NAME).into();
        Symmetric {
            ck: h,
            h: Sha256::digest(h).into(),
            cipher: CipherState::empty(),
        }
    }
    fn mix_hash(&mut self, data: &[u8]) {
        let mut d = Sha256::new();
        d.update(self.h);
        d.update(data);
        self.h = d.finalize().into();
    }
    fn mix_key(&mut self, ikm: &[u8]) {
        let (ck, k) = hkdf2(&self.ck, ikm);
        self.ck = ck;
        self.cipher = CipherState::with_key(&k);
    }
    /// `buf` is plaintext ‖ 16 bytes of room for the tag; on return it is ciphertext ‖ tag.
    fn encrypt_and_hash(&mut self, buf: &mut [u8]) {
        let h = self.h;
        self.cipher.encrypt(&h, buf);
        self.mix_hash(buf);
    }
    /// `buf` is ciphertext ‖ tag; on success its front holds the plaintext.
    fn decrypt_and_hash(&mut self, buf: &mut [u8]) -> Result<(), NoiseError> {
        let ct_hash = {
            let mut d = Sha256::new();
            d.update(self.h);
            d.update(&*buf);
            d.finalize().into()
        };
        let h = self.h;
        self.cipher.decrypt(&h, buf)?;
        self.h = ct_hash;
        Ok(())
    }
    fn split(&self) -> (CipherState, CipherState) {
        let (k1, k2) = hkdf2(&self.ck, &[]);
        (CipherState::with_key(&k1), CipherState::with_key(&k2))
    }
}

/// ECDH as the spec defines it: the BIP324 tagged hash of (the initiator's encoding, the
/// responder's, x-only shared point), the same bytes on both sides.
fn ecdh(ours: &Keypair, theirs: &[u8; 64], we_initiate: bool) -> Result<[u8; 32], NoiseError> {
    let x = secp::ellswift_ecdh_xonly(theirs, &ours.secret).ok_or(NoiseError::BadKey)?;
    let (a, b) = if we_initiate {
        (&ours.ellswift, theirs)
    } else {
        (theirs, &ours.ellswift)
    };
    Ok(secp::tagged_hash("bip324_ellswift_xonly_ecdh", &[a, b, &x]))
}

/// What the pool's certificate says, once verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub version: u16,
    pub valid_from: u32,
    pub not_valid_after: u32,
    /// x coordinate of the pool's static key.
    pub server_key: [u8; 32],
}

/// SHA-256 of the signed certificate fields (little-endian integers, then the x-only key).
pub fn certificate_digest(
    version: u16,
    valid_from: u32,
    not_valid_after: u32,
    key: &[u8; 32],
) -> [u8; 32] {
    let mut d = Sha256::new();
    d.update(version.to_le_bytes());
    d.update(valid_from.to_le_bytes());
    d.update(not_valid_after.to_le_bytes());
    d.update(key);
    d.finalize().into()
}

/// The certificate a responder sends, as signed: [`CERT_LEN`] bytes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertificateFields {
    pub version: u16,
    pub valid_from: u32,
    pub not_valid_after: u32,
    /// BIP340 signature by the authority key of [`certificate_digest`] over these fields and
    /// the x-only static key.
    pub signature: [u8; 64],
}

impl CertificateFields {
    fn bytes(&self) -> [u8; CERT_LEN] {
        let mut b = [0u8; CERT_LEN];
        b[..2].copy_from_slice(&self.version.to_le_bytes());
        b[2..6].copy_from_slice(&self.valid_from.to_le_bytes());
        b[6..10].copy_from_slice(&self.not_valid_after.to_le_bytes());
        b[10..].copy_from_slice(&self.signature);
        b
    }
}

/// The authority's signature for a certificate over the responder's x-only static key
/// (`aux` is fresh randomness for BIP340's nonce; all zeros is still a valid signature).
/// All zeros if `authority_secret` is not a valid secret key.
pub fn sign_certificate(
    authority_secret: &[u8; 32],
    version: u16,
    valid_from: u32,
    not_valid_after: u32,
    static_xonly: &[u8; 32],
    aux: &[u8; 32],
) -> [u8; 64] {
    let digest = certificate_digest(version, valid_from, not_valid_after, static_xonly);
    secp::schnorr_sign(authority_secret, &digest, aux)
}

/// The responder's whole handshake: read act 1, answer with act 2 from our `static_key`, a
/// fresh `ephemeral` key and the certificate `cert` for the static key. The transport is
/// ready as soon as act 2 is sent (NX has no third act). Only a secret key that is not a
/// valid scalar fails ([`NoiseError::BadKey`]); any act 1 is accepted.
pub fn respond(
    act1: &[u8; ACT1_LEN],
    static_key: &Keypair,
    ephemeral: Keypair,
    cert: &CertificateFields,
) -> Result<(Transport, [u8; ACT2_LEN]), NoiseError> {
    let mut sym = Symmetric::new();
    sym.mix_hash(act1);
    sym.mix_hash(&[]); // DecryptAndHash of act 1's empty payload, with no key yet.
    let mut act2 = [0u8; ACT2_LEN];
    act2[..64].copy_from_slice(&ephemeral.ellswift);
    sym.mix_hash(&ephemeral.ellswift);
    sym.mix_key(&ecdh(&ephemeral, act1, false)?);
    let (s_part, cert_part) = act2[64..].split_at_mut(64 + MAC_LEN);
    s_part[..64].copy_from_slice(&static_key.ellswift);
    sym.encrypt_and_hash(s_part);
    sym.mix_key(&ecdh(static_key, act1, false)?);
    cert_part[..CERT_LEN].copy_from_slice(&cert.bytes());
    sym.encrypt_and_hash(cert_part);
    let (c1, c2) = sym.split();
    Ok((Transport { send: c2, recv: c1 }, act2))
}

/// The initiator between act 1 and act 2.
pub struct Initiator {
    sym: Symmetric,
    e: Keypair,
    authority: [u8; 32],
}

impl Initiator {
    /// Start a handshake with ephemeral key `e`; returns the state and the 64 bytes of act 1.
    pub fn start(authority: [u8; 32], e: Keypair) -> (Initiator, [u8; ACT1_LEN]) {
        let mut sym = Symmetric::new();
        sym.mix_hash(&e.ellswift);
        sym.mix_hash(&[]); // EncryptAndHash of the empty payload, with no key yet.
        let act1 = e.ellswift;
        (Initiator { sym, e, authority }, act1)
    }

    /// Read act 2 at unix time `now`: the transport and the verified certificate.
    pub fn finish(
        mut self,
        act2: &[u8; ACT2_LEN],
        now: u32,
    ) -> Result<(Transport, Certificate), NoiseError> {
        let mut msg = *act2;
        let re: [u8; 64] = msg[..64].try_into().expect("64 bytes");
        self.sym.mix_hash(&re);
        self.sym.mix_key(&ecdh(&self.e, &re, true)?);
        let (s_part, cert_part) = msg[64..].split_at_mut(64 + MAC_LEN);
        self.sym.decrypt_and_hash(s_part)?;
        let rs: [u8; 64] = s_part[..64].try_into().expect("64 bytes");
        self.sym.mix_key(&ecdh(&self.e, &rs, true)?);
        self.sym.decrypt_and_hash(cert_part)?;
        let c = &cert_part[..CERT_LEN];
        let version = u16::from_le_bytes([c[0], c[1]]);
        let valid_from = u32::from_le_bytes(c[2..6].try_into().expect("4"));
        let not_valid_after = u32::from_le_bytes(c[6..10].try_into().expect("4"));
        let sig: [u8; 64] = c[10..74].try_into().expect("64");
        let server_key = secp::ellswift_decode(&rs);
        let digest = certificate_digest(version, valid_from, not_valid_after, &server_key);
        if !secp::schnorr_verify(&self.authority, &digest, &sig) {
            return Err(NoiseError::BadSignature);
        }
        if now < valid_from || now > not_valid_after {
            if now < CLOCK_PLAUSIBLE_FROM {
                return Err(NoiseError::ClockUnset { now });
            }
            return Err(NoiseError::CertificateTime {
                now,
                valid_from,
                not_valid_after,
            });
        }
        let (send, recv) = self.sym.split();
        let cert = Certificate {
            version,
            valid_from,
            not_valid_after,
            server_key,
        };
        Ok((Transport { send, recv }, cert))
    }
}

/// Ciphertext length of a payload of `pt_len` plaintext bytes.
pub fn ciphertext_len(pt_len: usize) -> usize {
    let rest = pt_len % MAX_PT_CHUNK;
    pt_len / MAX_PT_CHUNK * MAX_CT_CHUNK + if rest > 0 { rest + MAC_LEN } else { 0 }
}

/// The two directions of an established session (cloning it forks both nonces, for tests).
#[derive(Clone)]
pub struct Transport {
    send: CipherState,
    recv: CipherState,
}

impl Transport {
    /// Append the encryption of one frame (`header` = the 6 plaintext header bytes whose
    /// length field is `payload.len()`) to `out`.
    pub fn seal_frame(&mut self, header: &[u8; 6], payload: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(header);
        out.extend_from_slice(&[0; MAC_LEN]);
        self.send.encrypt(&[], &mut out[start..]);
        for chunk in payload.chunks(MAX_PT_CHUNK) {
            let at = out.len();
            out.extend_from_slice(chunk);
            out.extend_from_slice(&[0; MAC_LEN]);
            self.send.encrypt(&[], &mut out[at..]);
        }
    }

    /// Decrypt a 22-byte encrypted header into the 6 plaintext bytes.
    pub fn open_header(&mut self, ct: &[u8; HEADER_CT_LEN]) -> Result<[u8; 6], NoiseError> {
        let mut b = *ct;
        self.recv.decrypt(&[], &mut b)?;
        Ok(b[..6].try_into().expect("6 bytes"))
    }

    /// Decrypt a payload of `ciphertext_len(pt_len)` bytes in place; returns the plaintext
    /// length (the plaintext is compacted to the front of `buf`).
    pub fn open_payload(&mut self, buf: &mut [u8]) -> Result<usize, NoiseError> {
        let mut read = 0;
        let mut written = 0;
        while read < buf.len() {
            let n = (buf.len() - read).min(MAX_CT_CHUNK);
            if n <= MAC_LEN {
                return Err(NoiseError::Frame);
            }
            self.recv.decrypt(&[], &mut buf[read..read + n])?;
            buf.copy_within(read..read + n - MAC_LEN, written);
            written += n - MAC_LEN;
            read += n;
        }
        Ok(written)
    }
}

#[cfg(test)]
#[path = "noise_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "noise_responder_tests.rs"]
mod responder_tests;
