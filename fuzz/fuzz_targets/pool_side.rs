//! The pool's side of the SV2 Noise NX handshake and transport, written here from the spec
//! (sv2-spec §4) for the Noise fuzz targets, independent of src/stratum2/noise.rs. The pool
//! computes the ECDH values from the initiator's side because it knows the initiator's fixed
//! ephemeral secret, so any 64-byte key encoding works as the pool's keys.
#![allow(dead_code)]

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};
use hashmux::wire::sv2::noise::{
    ciphertext_len, Transport, ACT2_LEN, CERT_LEN, HEADER_CT_LEN, MAC_LEN, MAX_PT_CHUNK,
    PROTOCOL_NAME,
};
use hashmux::wire::sv2::secp::{ellswift_ecdh_xonly, tagged_hash, Keypair};
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::point::AffineCoordinates;
use k256::{FieldBytes, ProjectivePoint, Scalar, U256};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::sync::OnceLock;

pub struct Fixed {
    pub e_secret: [u8; 32],
    pub e_ellswift: [u8; 64],
    pub authority_sk: Scalar,
    pub authority: [u8; 32],
}

pub use hashmux::wire::sv2::secp::xorshift_source as xorshift;

pub fn fixed() -> &'static Fixed {
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
pub fn sign(f: &Fixed, msg: &[u8; 32]) -> [u8; 64] {
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

pub fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
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

pub fn hkdf2(ck: &[u8; 32], ikm: &[u8]) -> ([u8; 32], [u8; 32]) {
    let temp = hmac(ck, &[ikm]);
    let o1 = hmac(&temp, &[&[1]]);
    let o2 = hmac(&temp, &[&o1, &[2]]);
    (o1, o2)
}

/// One direction's key and counter nonce, the pool's side.
pub struct Cipher {
    pub key_bytes: [u8; 32],
    key: ChaCha20Poly1305,
    nonce: u64,
}

impl Cipher {
    pub fn new(k: &[u8; 32]) -> Cipher {
        Cipher {
            key_bytes: *k,
            key: ChaCha20Poly1305::new(k.into()),
            nonce: 0,
        }
    }
    pub fn nonce(&self) -> Nonce {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.nonce.to_le_bytes());
        n.into()
    }
    /// Encrypt `pt` and return ciphertext ‖ tag.
    pub fn seal(&mut self, ad: &[u8], pt: &[u8]) -> Vec<u8> {
        let mut buf = pt.to_vec();
        let tag = self
            .key
            .encrypt_in_place_detached(&self.nonce(), ad, &mut buf)
            .unwrap();
        buf.extend_from_slice(&tag);
        self.nonce += 1;
        buf
    }
    pub fn open(&mut self, ct: &[u8]) -> Option<Vec<u8>> {
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
pub struct Sym {
    pub ck: [u8; 32],
    pub h: [u8; 32],
}

impl Sym {
    pub fn mix_hash(&mut self, data: &[u8]) {
        let mut d = Sha256::new();
        d.update(self.h);
        d.update(data);
        self.h = d.finalize().into();
    }
    pub fn mix_key(&mut self, ikm: &[u8]) -> Cipher {
        let (ck, k) = hkdf2(&self.ck, ikm);
        self.ck = ck;
        Cipher::new(&k)
    }
    pub fn encrypt_and_hash(&mut self, c: &mut Cipher, pt: &[u8]) -> Vec<u8> {
        let h = self.h;
        let ct = c.seal(&h, pt);
        self.mix_hash(&ct);
        ct
    }
}

/// The ECDH value both sides mix in, computed with the initiator's ephemeral secret.
fn ecdh_uncached(f: &Fixed, theirs: &[u8; 64]) -> Option<[u8; 32]> {
    let x = ellswift_ecdh_xonly(theirs, &f.e_secret)?;
    Some(tagged_hash(
        "bip324_ellswift_xonly_ecdh",
        &[&f.e_ellswift, theirs, &x],
    ))
}

/// A transport frame as `Transport::seal_frame` lays it out, sealed by `c`.
pub fn seal_frame(c: &mut Cipher, header: &[u8; 6], payload: &[u8]) -> Vec<u8> {
    let mut out = c.seal(&[], header);
    for chunk in payload.chunks(MAX_PT_CHUNK) {
        out.extend(c.seal(&[], chunk));
    }
    out
}

/// Reads the operations' bytes; past the end it yields zeros.
pub struct Input<'a>(pub &'a [u8]);

impl Input<'_> {
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = self.0.len().min(N);
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
    pub fn u8(&mut self) -> u8 {
        self.bytes::<1>()[0]
    }
    pub fn u24(&mut self) -> usize {
        let b = self.bytes::<3>();
        u32::from_le_bytes([b[0], b[1], b[2], 0]) as usize
    }
    /// `len` bytes: what is left of the input, then that pattern repeated (zeros if none).
    pub fn payload(&mut self, len: usize) -> Vec<u8> {
        let n = self.0.len().min(len);
        let mut p = self.0[..n].to_vec();
        self.0 = &self.0[n..];
        if p.is_empty() {
            p.push(0);
        }
        p.iter().copied().cycle().take(len).collect()
    }
}

/// [`ecdh_uncached`], remembered for the last keys seen: the pool side is the harness, not
/// the code under test, and a scalar multiplication costs as much as the rest of a run.
pub fn ecdh(f: &Fixed, theirs: &[u8; 64]) -> Option<[u8; 32]> {
    const KEEP: usize = 64;
    thread_local! {
        static MEMO: RefCell<Vec<([u8; 64], Option<[u8; 32]>)>> = const { RefCell::new(Vec::new()) };
    }
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if let Some((_, v)) = m.iter().find(|(k, _)| k == theirs) {
            return *v;
        }
        let v = ecdh_uncached(f, theirs);
        if m.len() == KEEP {
            m.remove(0);
        }
        m.push((*theirs, v));
        v
    })
}

/// What the pool sends as act 2 for `act1`, with ephemeral key encoding `re`, static key
/// encoding `rs` and certificate bytes `cert`, and its transport ciphers (receive, send) for
/// after it. None when a key encoding has no ECDH value (XSwiftEC is total, so never).
pub fn act2(
    f: &Fixed,
    act1: &[u8; 64],
    re: &[u8; 64],
    rs: &[u8; 64],
    cert: &[u8; CERT_LEN],
) -> Option<([u8; ACT2_LEN], Cipher, Cipher)> {
    let h0: [u8; 32] = Sha256::digest(PROTOCOL_NAME).into();
    let mut sym = Sym {
        ck: h0,
        h: Sha256::digest(h0).into(),
    };
    sym.mix_hash(act1);
    sym.mix_hash(&[]);
    sym.mix_hash(re);
    let (ee, es) = (ecdh(f, re)?, ecdh(f, rs)?);
    let mut cipher = sym.mix_key(&ee);
    let s_ct = sym.encrypt_and_hash(&mut cipher, rs);
    let mut cipher = sym.mix_key(&es);
    let cert_ct = sym.encrypt_and_hash(&mut cipher, cert);
    let mut out = Vec::with_capacity(ACT2_LEN);
    out.extend_from_slice(re);
    out.extend_from_slice(&s_ct);
    out.extend_from_slice(&cert_ct);
    // The initiator sends with k1 and receives with k2.
    let (k1, k2) = hkdf2(&sym.ck, &[]);
    Some((out.try_into().unwrap(), Cipher::new(&k1), Cipher::new(&k2)))
}

/// The certificate bytes: version, valid_from, not_valid_after (little-endian), signature.
pub fn certificate(
    version: u16,
    valid_from: u32,
    not_valid_after: u32,
    sig: &[u8; 64],
) -> [u8; CERT_LEN] {
    let mut c = [0u8; CERT_LEN];
    c[..2].copy_from_slice(&version.to_le_bytes());
    c[2..6].copy_from_slice(&valid_from.to_le_bytes());
    c[6..10].copy_from_slice(&not_valid_after.to_le_bytes());
    c[10..].copy_from_slice(sig);
    c
}

/// The initiator opens a genuine frame to its header and payload.
pub fn receive(t: &mut Transport, ct: &[u8], header: &[u8; 6], payload: &[u8]) {
    assert_eq!(ct.len(), HEADER_CT_LEN + ciphertext_len(payload.len()));
    let h: [u8; HEADER_CT_LEN] = ct[..HEADER_CT_LEN].try_into().unwrap();
    assert_eq!(t.open_header(&h), Ok(*header));
    let mut buf = ct[HEADER_CT_LEN..].to_vec();
    assert_eq!(t.open_payload(&mut buf), Ok(payload.len()));
    assert!(buf[..payload.len()] == payload[..]);
}
