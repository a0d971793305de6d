//! The SV2 Noise handshake's act 2 as a pool (or anyone on the path) sends it, and the secp256k1
//! pieces it rests on, on arbitrary bytes.
//!
//! Input layout (zero-padded): act 2 (234 bytes) ‖ an ElligatorSwift encoding (64) ‖ a BIP340
//! public key (32) ‖ message (32) ‖ signature (64).
//!
//! Beyond "never panics": act 1 is our key's encoding, a forged act 2 never completes the
//! handshake (its tags cannot be right without the keys), and every 64-byte encoding decodes to
//! the x coordinate of a curve point (BIP324 XSwiftEC is total).
#![no_main]

use hashmux::wire::sv2::noise::{Initiator, ACT2_LEN};
use hashmux::wire::sv2::secp::{ellswift_decode, schnorr_verify, Keypair};
use k256::elliptic_curve::point::DecompressPoint;
use k256::elliptic_curve::subtle::Choice;
use k256::{AffinePoint, FieldBytes};
use libfuzzer_sys::fuzz_target;

#[path = "pool_side.rs"]
mod pool_side;

const NOW: u32 = 1_800_000_000;
const LEN: usize = ACT2_LEN + 64 + 32 + 32 + 64;
/// BIP340 test vector 0's public key, standing in for a pool's authority key.
const AUTHORITY: [u8; 32] = [
    0xf9, 0x30, 0x8a, 0x01, 0x92, 0x58, 0xc3, 0x10, 0x49, 0x34, 0x4f, 0x85, 0xf8, 0x9d, 0x52, 0x29,
    0xb5, 0x31, 0xc8, 0x45, 0x83, 0x6f, 0x99, 0xb0, 0x86, 0x01, 0xf1, 0x13, 0xbc, 0xe0, 0x36, 0xf9,
];

fuzz_target!(|data: &[u8]| {
    let mut buf = [0u8; LEN];
    let n = data.len().min(LEN);
    buf[..n].copy_from_slice(&data[..n]);
    let (act2, rest) = buf.split_at(ACT2_LEN);
    let act2: &[u8; ACT2_LEN] = act2.try_into().unwrap();
    let (enc, rest) = rest.split_at(64);
    let enc: &[u8; 64] = enc.try_into().unwrap();
    let (pubkey, rest) = rest.split_at(32);
    let (msg, sig) = rest.split_at(32);

    // Our ephemeral key pair, made once (key generation is slow).
    let f = pool_side::fixed();
    let e = Keypair {
        secret: f.e_secret,
        ellswift: f.e_ellswift,
    };
    let (init, act1) = Initiator::start(AUTHORITY, e);
    assert_eq!(act1, f.e_ellswift);
    match init.finish(act2, NOW) {
        Ok((_, cert)) => panic!("forged act 2 completed the handshake: {cert:?}"),
        Err(e) => {
            let _ = e.to_string();
        }
    }

    let x = ellswift_decode(enc);
    let on_curve: Option<AffinePoint> =
        AffinePoint::decompress(FieldBytes::from_slice(&x), Choice::from(0)).into();
    assert!(
        on_curve.is_some(),
        "encoding {enc:02x?} decodes to x {x:02x?}, not on the curve"
    );
    let _ = schnorr_verify(pubkey.try_into().unwrap(), msg, sig.try_into().unwrap());
});
