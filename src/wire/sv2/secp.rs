//! secp256k1 pieces the SV2 Noise handshake needs, on pure-Rust `k256` field and group
//! arithmetic (no precomputed tables, so it stays small on routers):
//! - BIP324 ElligatorSwift: decoding 64 bytes to an x coordinate (XSwiftEC), encoding our own
//!   public key (XElligatorSwift via XSwiftEC⁻¹), and x-only ECDH on an encoded key;
//! - BIP340 Schnorr signatures: verification (a pool's certificate, when we connect to one)
//!   and signing (our own certificate, when miners connect to us).
//!
//! Invariants: every function takes and returns big-endian 32-byte values, as the BIPs do;
//! field inputs of 32 bytes are reduced modulo p (an encoding may hold values ≥ p); nothing
//! here does I/O except [`Keypair::generate`], which reads the OS random source.

use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::point::{AffineCoordinates, DecompressPoint};
use k256::elliptic_curve::subtle::Choice;
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, FieldBytes, FieldElement, ProjectivePoint, Scalar, U256};
use sha2::{Digest, Sha256};

/// The field prime p = 2^256 − 2^32 − 977, big-endian.
const P: [u8; 32] = {
    let mut p = [0xff; 32];
    p[27] = 0xfe;
    p[28] = 0xff;
    p[29] = 0xff;
    p[30] = 0xfc;
    p[31] = 0x2f;
    p
};

/// `bytes` as a field element, reduced modulo p (only values in [p, 2^256) need it).
fn fe(bytes: &[u8; 32]) -> FieldElement {
    let mut b = *bytes;
    if b >= P {
        // b − p = b + 2^32 + 977 (mod 2^256), and b − p < 2^32 + 977 fits the low bytes.
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = b[i] as i16 - P[i] as i16 - borrow;
            b[i] = d.rem_euclid(256) as u8;
            borrow = (d < 0) as i16;
        }
    }
    Option::from(FieldElement::from_bytes(FieldBytes::from_slice(&b))).expect("reduced below p")
}

fn bytes(f: &FieldElement) -> [u8; 32] {
    f.normalize().to_bytes().into()
}

fn small(v: u32) -> FieldElement {
    FieldElement::from_u64(v as u64)
}

fn neg(f: &FieldElement) -> FieldElement {
    f.normalize().negate(1).normalize()
}

fn add(a: &FieldElement, b: &FieldElement) -> FieldElement {
    (a.normalize() + b.normalize()).normalize()
}

fn sub(a: &FieldElement, b: &FieldElement) -> FieldElement {
    add(a, &neg(b))
}

fn mul(a: &FieldElement, b: &FieldElement) -> FieldElement {
    (a.normalize() * b.normalize()).normalize()
}

fn is_zero(a: &FieldElement) -> bool {
    bool::from(a.normalize().is_zero())
}

/// a / b; b must not be zero.
fn div(a: &FieldElement, b: &FieldElement) -> FieldElement {
    mul(
        a,
        &Option::from(b.normalize().invert()).unwrap_or(FieldElement::ZERO),
    )
}

fn sqrt(a: &FieldElement) -> Option<FieldElement> {
    Option::from(a.normalize().sqrt()).map(|r: FieldElement| r.normalize())
}

fn cube(a: &FieldElement) -> FieldElement {
    mul(&mul(a, a), a)
}

/// x³ + 7 is a square: x is the x coordinate of a curve point.
fn is_valid_x(x: &FieldElement) -> bool {
    sqrt(&add(&cube(x), &small(7))).is_some()
}

/// √−3, the root the BIPs' reference code takes (x^((p+1)/4), as k256's `sqrt`).
fn minus_3_sqrt() -> FieldElement {
    sqrt(&neg(&small(3))).expect("−3 is a square mod p")
}

/// XSwiftEC: the x coordinate that field elements (u, t) encode (BIP324).
fn xswiftec(u: &FieldElement, t: &FieldElement) -> FieldElement {
    let u = if is_zero(u) { FieldElement::ONE } else { *u };
    let mut t = if is_zero(t) { FieldElement::ONE } else { *t };
    let u3_7 = add(&cube(&u), &small(7));
    if is_zero(&add(&u3_7, &mul(&t, &t))) {
        t = add(&t, &t);
    }
    let big_x = div(&sub(&u3_7, &mul(&t, &t)), &add(&t, &t));
    let big_y = div(&add(&big_x, &t), &mul(&minus_3_sqrt(), &u));
    let half = |v: FieldElement| div(&v, &small(2));
    let x_over_y = div(&big_x, &big_y);
    let four_y2 = mul(&small(4), &mul(&big_y, &big_y));
    let candidates = [
        add(&u, &four_y2),
        half(sub(&neg(&x_over_y), &u)),
        half(sub(&x_over_y, &u)),
    ];
    candidates
        .into_iter()
        .find(is_valid_x)
        .expect("one of the three candidates is always on the curve")
}

/// XSwiftEC⁻¹: a t with xswiftec(u, t) = x, for one of 8 cases, if that case has one.
fn xswiftec_inv(x: &FieldElement, u: &FieldElement, case: u8) -> Option<FieldElement> {
    let u3_7 = add(&cube(u), &small(7));
    let (s, v);
    if case & 2 == 0 {
        let other = sub(&neg(x), u);
        if is_valid_x(&other) {
            return None;
        }
        v = if case & 1 == 0 { *x } else { other };
        // s = −(u³ + 7) / (u² + u·v + v²)
        let denom = add(&add(&mul(u, u), &mul(u, &v)), &mul(&v, &v));
        if is_zero(&denom) {
            return None;
        }
        s = div(&neg(&u3_7), &denom);
    } else {
        s = sub(x, u);
        if is_zero(&s) {
            return None;
        }
        // r = √(−s · (4(u³ + 7) + 3·s·u²))
        let inner = add(
            &mul(&small(4), &u3_7),
            &mul(&mul(&small(3), &s), &mul(u, u)),
        );
        let mut r = sqrt(&neg(&mul(&s, &inner)))?;
        if case & 1 != 0 {
            if is_zero(&r) {
                return None;
            }
            r = neg(&r);
        }
        v = div(&add(&neg(u), &div(&r, &s)), &small(2));
    }
    let mut w = sqrt(&s)?;
    if case & 4 != 0 {
        w = neg(&w);
    }
    // t = w · (u · (√−3 − 1) / 2 − v)
    let k = div(&sub(&minus_3_sqrt(), &FieldElement::ONE), &small(2));
    Some(mul(&w, &sub(&mul(u, &k), &v)))
}

/// The x coordinate a 64-byte ElligatorSwift encoding stands for.
pub fn ellswift_decode(enc: &[u8; 64]) -> [u8; 32] {
    let (u, t) = enc.split_at(32);
    let u = fe(u.try_into().expect("32 bytes"));
    let t = fe(t.try_into().expect("32 bytes"));
    bytes(&xswiftec(&u, &t))
}

/// A 64-byte encoding of `x` (a valid x coordinate), from a stream of random 32-byte
/// candidates for u and random case choices. Each try succeeds with probability about 1/4.
pub fn ellswift_encode(x: &[u8; 32], mut random32: impl FnMut() -> [u8; 32]) -> [u8; 64] {
    let x = fe(x);
    loop {
        let r = random32();
        let u = fe(&r);
        if is_zero(&u) {
            continue;
        }
        let case = random32()[0] & 7;
        if let Some(t) = xswiftec_inv(&x, &u, case) {
            let mut out = [0u8; 64];
            out[..32].copy_from_slice(&bytes(&u));
            out[32..].copy_from_slice(&bytes(&t));
            return out;
        }
    }
}

/// The curve point with this x coordinate and an even y, if there is one.
fn lift_x(x: &[u8; 32]) -> Option<AffinePoint> {
    Option::from(AffinePoint::decompress(
        FieldBytes::from_slice(x),
        Choice::from(0),
    ))
}

/// x(d · P) where P has the x coordinate `ell_theirs` encodes (BIP324 x-only ECDH; y's sign
/// does not change the x of the product). None if the secret is not a valid scalar.
pub fn ellswift_ecdh_xonly(ell_theirs: &[u8; 64], secret: &[u8; 32]) -> Option<[u8; 32]> {
    let d = scalar(secret)?;
    let p = lift_x(&ellswift_decode(ell_theirs))?;
    let shared = (ProjectivePoint::from(p) * d).to_affine();
    Some(shared.x().into())
}

fn scalar(b: &[u8; 32]) -> Option<Scalar> {
    let s: Option<Scalar> = Scalar::from_repr(*FieldBytes::from_slice(b)).into();
    s.filter(|s| !bool::from(s.is_zero()))
}

/// Is `b` a valid secret key (1 ≤ b < the group order n)?
pub fn valid_secret(b: &[u8; 32]) -> bool {
    scalar(b).is_some()
}

/// SHA256(SHA256(tag) ‖ SHA256(tag) ‖ parts…), BIP340's tagged hash.
pub fn tagged_hash(tag: &str, parts: &[&[u8]]) -> [u8; 32] {
    let t = Sha256::digest(tag.as_bytes());
    let mut h = Sha256::new();
    h.update(t);
    h.update(t);
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// A secp256k1 key pair with the public key's ElligatorSwift encoding.
pub struct Keypair {
    pub secret: [u8; 32],
    pub ellswift: [u8; 64],
}

impl Keypair {
    /// A key pair from `random32`, a source of 32 random bytes per call.
    pub fn from_random(mut random32: impl FnMut() -> [u8; 32]) -> Keypair {
        loop {
            let secret = random32();
            let Some(d) = scalar(&secret) else { continue };
            let x: [u8; 32] = (ProjectivePoint::GENERATOR * d).to_affine().x().into();
            let ellswift = ellswift_encode(&x, &mut random32);
            return Keypair { secret, ellswift };
        }
    }

    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> std::io::Result<Keypair> {
        let mut src = OsRandom::open()?;
        let mut failed = None;
        let kp = Keypair::from_random(|| match src.bytes32() {
            Ok(b) => b,
            Err(e) => {
                failed = Some(e);
                [1; 32]
            }
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(kp),
        }
    }
}

/// 32-byte reads from /dev/urandom.
pub struct OsRandom(std::fs::File);

impl OsRandom {
    pub fn open() -> std::io::Result<OsRandom> {
        std::fs::File::open("/dev/urandom").map(OsRandom)
    }
    pub fn bytes32(&mut self) -> std::io::Result<[u8; 32]> {
        use std::io::Read;
        let mut b = [0u8; 32];
        self.0.read_exact(&mut b)?;
        Ok(b)
    }
}

/// BIP340: does `sig` (R.x ‖ s) sign `msg` under the x-only public key `pubkey`?
pub fn schnorr_verify(pubkey: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let Some(p) = lift_x(pubkey) else {
        return false;
    };
    let (r, s) = sig.split_at(32);
    if r >= &P[..] {
        return false;
    }
    let Some(s) = Option::<Scalar>::from(Scalar::from_repr(*FieldBytes::from_slice(s))) else {
        return false;
    };
    let e = tagged_hash("BIP0340/challenge", &[r, pubkey, msg]);
    let e = <Scalar as Reduce<U256>>::reduce_bytes(FieldBytes::from_slice(&e));
    let big_r = ProjectivePoint::GENERATOR * s - ProjectivePoint::from(p) * e;
    if big_r == ProjectivePoint::IDENTITY {
        return false;
    }
    let big_r = big_r.to_affine();
    !bool::from(big_r.y_is_odd()) && big_r.x().as_slice() == r
}

/// d·G for a valid secret, with d negated when the point has an odd y (BIP340's key
/// normalisation), and the x-only bytes of the point. None if `secret` is 0 or ≥ n.
fn even_y_secret(secret: &[u8; 32]) -> Option<(Scalar, [u8; 32])> {
    let d = scalar(secret)?;
    let p = (ProjectivePoint::GENERATOR * d).to_affine();
    let d = if bool::from(p.y_is_odd()) { -d } else { d };
    Some((d, p.x().into()))
}

/// The BIP340 x-only public key of `secret`. All zeros if `secret` is not a valid secret key
/// (0 or ≥ the group order); an all-zero key never verifies anything.
pub fn xonly_public(secret: &[u8; 32]) -> [u8; 32] {
    even_y_secret(secret).map_or([0; 32], |(_, x)| x)
}

/// BIP340 signature of the 32-byte `msg` under `secret`, with the nonce derived from the key,
/// the message and `aux_rand` (fresh randomness; all zeros is still safe, only less hardened
/// against side channels). All zeros if `secret` is not a valid secret key (0 or ≥ the group
/// order) or the derived nonce is zero (probability ~2⁻²⁵⁶); such a signature never verifies.
pub fn schnorr_sign(secret: &[u8; 32], msg: &[u8; 32], aux_rand: &[u8; 32]) -> [u8; 64] {
    let Some((d, px)) = even_y_secret(secret) else {
        return [0; 64];
    };
    let mask = tagged_hash("BIP0340/aux", &[aux_rand]);
    let mut t: [u8; 32] = d.to_bytes().into();
    for (b, m) in t.iter_mut().zip(mask) {
        *b ^= m;
    }
    let rand = tagged_hash("BIP0340/nonce", &[&t, &px, msg]);
    let k = <Scalar as Reduce<U256>>::reduce_bytes(FieldBytes::from_slice(&rand));
    if bool::from(k.is_zero()) {
        return [0; 64];
    }
    let r = (ProjectivePoint::GENERATOR * k).to_affine();
    let k = if bool::from(r.y_is_odd()) { -k } else { k };
    let rx: [u8; 32] = r.x().into();
    let e = tagged_hash("BIP0340/challenge", &[&rx, &px, msg]);
    let e = <Scalar as Reduce<U256>>::reduce_bytes(FieldBytes::from_slice(&e));
    let s = k + e * d;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&rx);
    sig[32..].copy_from_slice(&s.to_bytes());
    sig
}

#[cfg(test)]
#[path = "secp_tests.rs"]
mod tests;

/// A deterministic stand-in for a random source (xorshift64 from `seed`), for tests and
/// fuzzing, where runs must repeat. Never for real keys: hashmux's keys come from the OS.
#[doc(hidden)]
pub fn xorshift_source(seed: u64) -> impl FnMut() -> [u8; 32] {
    let mut state = seed | 1;
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
