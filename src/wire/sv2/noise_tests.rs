//! The initiator against a responder written here from the spec (the interop test against the
//! SV2 reference implementation lives in `tests/`).

use super::*;
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::point::AffineCoordinates;
use k256::elliptic_curve::PrimeField;
use k256::{FieldBytes, ProjectivePoint, Scalar, U256};

fn rng(seed: u64) -> impl FnMut() -> [u8; 32] {
    super::secp::xorshift_source(seed)
}

fn scalar(b: &[u8; 32]) -> Scalar {
    Option::from(Scalar::from_repr(*FieldBytes::from_slice(b))).unwrap()
}

/// BIP340 signing (test-only; any nonce verifies, this one is derived from key and message).
fn sign(sk: &[u8; 32], msg: &[u8; 32]) -> ([u8; 32], [u8; 64]) {
    let mut d = scalar(sk);
    let p = (ProjectivePoint::GENERATOR * d).to_affine();
    if bool::from(p.y_is_odd()) {
        d = -d;
    }
    let px: [u8; 32] = p.x().into();
    let k0 = secp::tagged_hash("test/nonce", &[sk, msg]);
    let mut k = <Scalar as Reduce<U256>>::reduce_bytes(FieldBytes::from_slice(&k0));
    let r = (ProjectivePoint::GENERATOR * k).to_affine();
    if bool::from(r.y_is_odd()) {
        k = -k;
    }
    let rx: [u8; 32] = r.x().into();
    let e = secp::tagged_hash("BIP0340/challenge", &[&rx, &px, msg]);
    let e = <Scalar as Reduce<U256>>::reduce_bytes(FieldBytes::from_slice(&e));
    let s = k + e * d;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&rx);
    sig[32..].copy_from_slice(&s.to_bytes());
    (px, sig)
}

struct Responder {
    authority_sk: [u8; 32],
    static_key: Keypair,
    valid_from: u32,
    not_valid_after: u32,
}

impl Responder {
    fn new(seed: u64) -> Responder {
        let mut r = rng(seed);
        Responder {
            authority_sk: r(),
            static_key: Keypair::from_random(&mut r),
            valid_from: 1_750_000_000,
            not_valid_after: 1_850_000_000,
        }
    }

    fn authority(&self) -> [u8; 32] {
        sign(&self.authority_sk, &[0; 32]).0
    }

    /// Act 2 for this act 1, and the responder's (recv, send) ciphers.
    fn act2(&self, act1: &[u8; 64], seed: u64) -> ([u8; ACT2_LEN], CipherState, CipherState) {
        let ecdh_resp = |ours: &Keypair, theirs: &[u8; 64]| {
            let x = secp::ellswift_ecdh_xonly(theirs, &ours.secret).unwrap();
            secp::tagged_hash("bip324_ellswift_xonly_ecdh", &[theirs, &ours.ellswift, &x])
        };
        let mut sym = Symmetric::new();
        sym.mix_hash(act1);
        sym.mix_hash(&[]);
        let e = Keypair::from_random(rng(seed));
        let mut out = Vec::new();
        out.extend_from_slice(&e.ellswift);
        sym.mix_hash(&e.ellswift);
        sym.mix_key(&ecdh_resp(&e, act1));
        let mut s = self.static_key.ellswift.to_vec();
        s.extend_from_slice(&[0; MAC_LEN]);
        let h = sym.h;
        sym.cipher.encrypt(&h, &mut s);
        sym.mix_hash(&s);
        out.extend_from_slice(&s);
        sym.mix_key(&ecdh_resp(&self.static_key, act1));
        let server_x = secp::ellswift_decode(&self.static_key.ellswift);
        let digest = certificate_digest(0, self.valid_from, self.not_valid_after, &server_x);
        let (_, sig) = sign(&self.authority_sk, &digest);
        let mut cert = Vec::new();
        cert.extend_from_slice(&0u16.to_le_bytes());
        cert.extend_from_slice(&self.valid_from.to_le_bytes());
        cert.extend_from_slice(&self.not_valid_after.to_le_bytes());
        cert.extend_from_slice(&sig);
        cert.extend_from_slice(&[0; MAC_LEN]);
        let h = sym.h;
        sym.cipher.encrypt(&h, &mut cert);
        sym.mix_hash(&cert);
        out.extend_from_slice(&cert);
        let (c1, c2) = sym.split();
        (out.try_into().unwrap(), c1, c2)
    }
}

const NOW: u32 = 1_800_000_000;

fn handshake(
    pool: &Responder,
    authority: [u8; 32],
    now: u32,
) -> Result<(Transport, Certificate, CipherState, CipherState), NoiseError> {
    let (init, act1) = Initiator::start(authority, Keypair::from_random(rng(7)));
    assert_eq!(act1.len(), 64);
    let (act2, recv, send) = pool.act2(&act1, 11);
    let (t, cert) = init.finish(&act2, now)?;
    Ok((t, cert, recv, send))
}

#[test]
fn test_hmac_rfc4231_case2_with_zero_padded_key() {
    let mut key = [0u8; 32];
    key[..4].copy_from_slice(b"Jefe");
    let mac = hmac(&key, &[b"what do ya want ", b"for nothing?"]);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn test_act2_is_234_bytes_and_chunk_lengths() {
    assert_eq!(ACT2_LEN, 234);
    assert_eq!(ciphertext_len(0), 0);
    assert_eq!(ciphertext_len(1), 17);
    assert_eq!(ciphertext_len(MAX_PT_CHUNK), MAX_CT_CHUNK);
    assert_eq!(ciphertext_len(MAX_PT_CHUNK + 1), MAX_CT_CHUNK + 17);
}

#[test]
fn test_handshake_good_certificate_then_frames_both_ways() {
    let pool = Responder::new(3);
    let (mut t, cert, mut pool_recv, mut pool_send) =
        handshake(&pool, pool.authority(), NOW).expect("handshake");
    assert_eq!(cert.valid_from, pool.valid_from);
    assert_eq!(
        cert.server_key,
        secp::ellswift_decode(&pool.static_key.ellswift)
    );
    // Us → pool: a payload spanning three chunks.
    let payload: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let len = payload.len() as u32;
    let header = [0, 0, 0x1f, len as u8, (len >> 8) as u8, (len >> 16) as u8];
    let mut wire = Vec::new();
    t.seal_frame(&header, &payload, &mut wire);
    assert_eq!(wire.len(), HEADER_CT_LEN + ciphertext_len(payload.len()));
    let (h, body) = wire.split_at_mut(HEADER_CT_LEN);
    pool_recv.decrypt(&[], h).unwrap();
    assert_eq!(&h[..6], &header);
    let mut at = 0;
    let mut plain = Vec::new();
    while at < body.len() {
        let n = (body.len() - at).min(MAX_CT_CHUNK);
        pool_recv.decrypt(&[], &mut body[at..at + n]).unwrap();
        plain.extend_from_slice(&body[at..at + n - MAC_LEN]);
        at += n;
    }
    assert_eq!(plain, payload);
    // Pool → us.
    let mut h = [
        1, 0, 0x15, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    pool_send.encrypt(&[], &mut h);
    let mut body = [7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    pool_send.encrypt(&[], &mut body);
    assert_eq!(t.open_header(&h).unwrap(), [1, 0, 0x15, 3, 0, 0]);
    assert_eq!(t.open_payload(&mut body).unwrap(), 3);
    assert_eq!(&body[..3], &[7, 8, 9]);
    // A flipped bit is refused.
    let mut h2 = [0u8; HEADER_CT_LEN];
    pool_send.encrypt(&[], &mut h2);
    h2[3] ^= 1;
    assert_eq!(t.open_header(&h2), Err(NoiseError::Decrypt));
}

#[test]
fn test_handshake_wrong_authority_key_is_refused() {
    let pool = Responder::new(3);
    let other = Responder::new(5).authority();
    assert_eq!(
        handshake(&pool, other, NOW).err(),
        Some(NoiseError::BadSignature)
    );
}

#[test]
fn test_handshake_expired_certificate_is_refused() {
    let pool = Responder::new(3);
    let err = handshake(&pool, pool.authority(), 1_900_000_000).err();
    assert!(
        matches!(
            err,
            Some(NoiseError::CertificateTime {
                now: 1_900_000_000,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn test_handshake_unset_clock_is_called_out() {
    let pool = Responder::new(3);
    let err = handshake(&pool, pool.authority(), 86_400).err().unwrap();
    assert_eq!(err, NoiseError::ClockUnset { now: 86_400 });
    assert!(err.to_string().contains("NTP"));
}

#[test]
fn test_handshake_tampered_act2_fails_decrypt() {
    let pool = Responder::new(3);
    let (init, act1) = Initiator::start(pool.authority(), Keypair::from_random(rng(7)));
    let (mut act2, _, _) = pool.act2(&act1, 11);
    act2[100] ^= 0x40;
    assert_eq!(init.finish(&act2, NOW).err(), Some(NoiseError::Decrypt));
}
