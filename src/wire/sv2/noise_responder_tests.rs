//! [`respond`] against our [`Initiator`], and against the SV2 reference implementation's
//! initiator (`noise_sv2` through `codec_sv2`, dev-dependencies): handshake, frames both ways,
//! certificate refusals, tampering, and act 1 bytes that are no honest key.

use super::super::msg;
use super::*;
use binary_sv2::{Seq0255, Str0255, Sv2Option, B032, B064K, U256};
use codec_sv2::{Decrypted, Handshake, MessageFrame, NoiseDecoder, NoiseEncoder};
use mining_sv2::{NewExtendedMiningJob, SubmitSharesExtended};

const NOW: u32 = 1_800_000_000;
const VALID_FROM: u32 = 1_750_000_000;
const NOT_VALID_AFTER: u32 = 1_850_000_000;

fn rng(seed: u64) -> impl FnMut() -> [u8; 32] {
    secp::xorshift_source(seed)
}

/// Our side of a pool: authority secret, static key, and the certificate for the static key.
struct Server {
    authority_secret: [u8; 32],
    static_key: Keypair,
    cert: CertificateFields,
}

impl Server {
    fn new(seed: u64) -> Server {
        let mut r = rng(seed);
        let authority_secret = r();
        let static_key = Keypair::from_random(&mut r);
        let static_x = secp::ellswift_decode(&static_key.ellswift);
        let signature = sign_certificate(
            &authority_secret,
            CERT_VERSION,
            VALID_FROM,
            NOT_VALID_AFTER,
            &static_x,
            &r(),
        );
        Server {
            authority_secret,
            static_key,
            cert: CertificateFields {
                version: CERT_VERSION,
                valid_from: VALID_FROM,
                not_valid_after: NOT_VALID_AFTER,
                signature,
            },
        }
    }

    fn authority(&self) -> [u8; 32] {
        secp::xonly_public(&self.authority_secret)
    }

    fn respond(&self, act1: &[u8; ACT1_LEN], seed: u64) -> (Transport, [u8; ACT2_LEN]) {
        let e = Keypair::from_random(rng(seed));
        respond(act1, &self.static_key, e, &self.cert).expect("respond")
    }
}

/// One frame through `from` and back out of `to`: (header, payload).
fn carry(from: &mut Transport, to: &mut Transport, header: [u8; 6], payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    from.seal_frame(&header, payload, &mut wire);
    let (h, body) = wire.split_at_mut(HEADER_CT_LEN);
    assert_eq!(to.open_header(&(*h).try_into().unwrap()).unwrap(), header);
    let n = to.open_payload(body).unwrap();
    body[..n].to_vec()
}

fn header_for(msg_type: u8, len: usize) -> [u8; 6] {
    let l = (len as u32).to_le_bytes();
    [0, 0x80, msg_type, l[0], l[1], l[2]]
}

#[test]
fn test_respond_our_initiator_accepts_then_frames_flow_both_ways() {
    let server = Server::new(21);
    let (init, act1) = Initiator::start(server.authority(), Keypair::from_random(rng(22)));
    let (mut ours, act2) = server.respond(&act1, 23);
    let (mut theirs, cert) = init.finish(&act2, NOW).expect("initiator accepts act 2");
    assert_eq!(
        cert,
        Certificate {
            version: CERT_VERSION,
            valid_from: VALID_FROM,
            not_valid_after: NOT_VALID_AFTER,
            server_key: secp::ellswift_decode(&server.static_key.ellswift),
        }
    );
    // Three chunks each way, then small frames, so the nonces move in step.
    let big: Vec<u8> = (0..150_000u32).map(|i| (i % 253) as u8).collect();
    let h = header_for(0x1f, big.len());
    assert_eq!(carry(&mut ours, &mut theirs, h, &big), big);
    assert_eq!(carry(&mut theirs, &mut ours, h, &big), big);
    for i in 0..3u8 {
        let h = header_for(0x1b, 3);
        assert_eq!(carry(&mut theirs, &mut ours, h, &[i, 2, 3]), [i, 2, 3]);
        assert_eq!(carry(&mut ours, &mut theirs, h, &[]), Vec::<u8>::new());
    }
}

#[test]
fn test_respond_initiator_with_other_authority_refuses_bad_signature() {
    let server = Server::new(21);
    let stranger = Server::new(31).authority();
    let (init, act1) = Initiator::start(stranger, Keypair::from_random(rng(22)));
    let (_, act2) = server.respond(&act1, 23);
    assert_eq!(
        init.finish(&act2, NOW).err(),
        Some(NoiseError::BadSignature)
    );
}

#[test]
fn test_respond_certificate_for_other_static_key_refuses_bad_signature() {
    let mut server = Server::new(21);
    server.static_key = Keypair::from_random(rng(77));
    let (init, act1) = Initiator::start(server.authority(), Keypair::from_random(rng(22)));
    let (_, act2) = server.respond(&act1, 23);
    assert_eq!(
        init.finish(&act2, NOW).err(),
        Some(NoiseError::BadSignature)
    );
}

#[test]
fn test_respond_tampered_act1_makes_initiator_fail_decrypt() {
    let server = Server::new(21);
    for at in [0, 31, 32, 63] {
        let (init, mut act1) = Initiator::start(server.authority(), Keypair::from_random(rng(22)));
        act1[at] ^= 0x01;
        let (_, act2) = server.respond(&act1, 23);
        assert_eq!(
            init.finish(&act2, NOW).err(),
            Some(NoiseError::Decrypt),
            "byte {at}"
        );
    }
}

#[test]
fn test_respond_tampered_act2_fails_in_each_part() {
    let server = Server::new(21);
    // Our ephemeral key, the encrypted static key and its tag, the encrypted certificate.
    for at in [5, 64, 140, 150, 200, ACT2_LEN - 1] {
        let (init, act1) = Initiator::start(server.authority(), Keypair::from_random(rng(22)));
        let (_, mut act2) = server.respond(&act1, 23);
        act2[at] ^= 0x80;
        assert_eq!(
            init.finish(&act2, NOW).err(),
            Some(NoiseError::Decrypt),
            "byte {at}"
        );
    }
}

#[test]
fn test_respond_garbage_act1_gives_a_session_not_a_panic() {
    let server = Server::new(21);
    let mut r = rng(5);
    let mut inputs = vec![[0u8; 64], [0xff; 64]];
    for _ in 0..8 {
        let mut a = [0u8; 64];
        a[..32].copy_from_slice(&r());
        a[32..].copy_from_slice(&r());
        inputs.push(a);
    }
    for act1 in inputs {
        let e = Keypair::from_random(rng(23));
        let got = respond(&act1, &server.static_key, e, &server.cert);
        assert!(got.is_ok(), "{act1:02x?}");
    }
}

#[test]
fn test_respond_invalid_static_secret_is_bad_key() {
    let server = Server::new(21);
    let bad = Keypair {
        secret: [0; 32],
        ellswift: server.static_key.ellswift,
    };
    let got = respond(&[7; 64], &bad, Keypair::from_random(rng(1)), &server.cert);
    assert_eq!(got.err(), Some(NoiseError::BadKey));
}

// --- The SV2 reference implementation (SRI) as the initiator. ---

/// The SRI initiator's act 1, and its state waiting for act 2.
fn sri_start(authority: [u8; 32]) -> ([u8; ACT1_LEN], Handshake<codec_sv2::InitiatorSent>) {
    let init = noise_sv2::Initiator::from_raw_k(authority).expect("authority key");
    let (msg, sent) = Handshake::initiator(init).step_0().expect("step 0");
    (msg.payload().try_into().expect("64-byte act 1"), sent)
}

/// Feed `wire` to an SRI decoder; the decrypted frames as (msg_type, channel bit, payload).
fn sri_read(
    wire: &[u8],
    dec: &mut Option<codec_sv2::TransportDecryptState>,
) -> Vec<(u8, bool, Vec<u8>)> {
    let mut decoder = NoiseDecoder::new();
    let mut at = 0;
    let mut out = Vec::new();
    loop {
        let n = decoder.writable_len();
        if n > 0 {
            if at == wire.len() {
                return out;
            }
            decoder.writable().copy_from_slice(&wire[at..at + n]);
            at += n;
        }
        match decoder.next_transport_frame(dec.take().unwrap()) {
            Ok(Decrypted::Frame(mut f, d)) => {
                *dec = Some(d);
                let h = f.header();
                out.push((h.msg_type(), h.channel_msg(), f.payload().to_vec()));
            }
            Ok(Decrypted::Incomplete(_, d)) => *dec = Some(d),
            Err(e) => panic!("SRI decoder: {e:?}"),
        }
    }
}

/// Seal one frame with the SRI encoder.
fn sri_seal<T: binary_sv2::Serialize + binary_sv2::GetSize>(
    encoder: &mut NoiseEncoder,
    frame: MessageFrame<T>,
    enc: &mut codec_sv2::TransportEncryptState,
) -> Vec<u8> {
    let bytes = encoder.encode_transport(frame, enc).unwrap();
    let b: &[u8] = bytes.as_ref();
    b.to_vec()
}

/// Read one frame sealed by SRI with our transport: (header, payload).
fn our_read(t: &mut Transport, wire: &mut [u8]) -> (msg::Header, Vec<u8>) {
    let (h, body) = wire.split_at_mut(HEADER_CT_LEN);
    let h = msg::Header::parse(&t.open_header(&(*h).try_into().unwrap()).unwrap());
    assert_eq!(body.len(), ciphertext_len(h.len as usize));
    let n = t.open_payload(body).unwrap();
    (h, body[..n].to_vec())
}

#[test]
fn test_respond_sri_initiator_completes_and_frames_decrypt_both_ways() {
    let server = Server::new(41);
    let (act1, sent) = sri_start(server.authority());
    let (mut ours, act2) = server.respond(&act1, 42);
    let (mut enc, dec) = sent
        .step_2_with_now(act2, NOW)
        .expect("SRI initiator accepts our act 2")
        .split();
    let mut dec = Some(dec);
    let mut encoder = NoiseEncoder::new();

    // SRI → us: a share, then a frame of three chunks.
    let share = SubmitSharesExtended {
        channel_id: 7,
        sequence_number: 1,
        job_id: 3,
        nonce: 0xdead_beef,
        ntime: 1_700_000_000,
        version: 0x2000_0000,
        extranonce: B032::try_from(&[1u8, 2, 3, 4][..]).unwrap(),
    };
    let expect = binary_sv2::to_bytes(share.clone()).unwrap();
    let frame = MessageFrame::from_message(share, 0x1b, 0, true).unwrap();
    let mut wire = sri_seal(&mut encoder, frame, &mut enc);
    let (h, payload) = our_read(&mut ours, &mut wire);
    assert_eq!((h.msg_type, h.channel_msg, h.extension), (0x1b, true, 0));
    assert_eq!(payload, expect);

    let prefix = vec![0xabu8; 65_000];
    let suffix = vec![0xcdu8; 60_000];
    let job = NewExtendedMiningJob {
        channel_id: 7,
        job_id: 9,
        min_ntime: Sv2Option::new(Some(1_700_000_000)),
        version: 0x2000_0000,
        version_rolling_allowed: true,
        merkle_path: Seq0255::new(vec![U256::from(&[5u8; 32])]).unwrap(),
        coinbase_tx_prefix: B064K::try_from(&prefix[..]).unwrap(),
        coinbase_tx_suffix: B064K::try_from(&suffix[..]).unwrap(),
    };
    let expect = binary_sv2::to_bytes(job.clone()).unwrap();
    assert!(expect.len() > MAX_PT_CHUNK);
    let frame = MessageFrame::from_message(job, 0x1f, 0, true).unwrap();
    let mut wire = sri_seal(&mut encoder, frame, &mut enc);
    let (h, payload) = our_read(&mut ours, &mut wire);
    assert_eq!(h.len as usize, expect.len());
    assert_eq!(payload, expect);

    // Us → SRI: a small frame and a large one in one stream.
    let code = binary_sv2::to_bytes(Str0255::try_from("stale-share").unwrap()).unwrap();
    let big: Vec<u8> = (0..140_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut wire = Vec::new();
    ours.seal_frame(&header_for(0x1d, code.len()), &code, &mut wire);
    ours.seal_frame(&header_for(0x1f, big.len()), &big, &mut wire);
    let frames = sri_read(&wire, &mut dec);
    assert_eq!(frames, vec![(0x1d, true, code), (0x1f, true, big)]);
}

#[test]
fn test_respond_sri_initiator_with_other_authority_refuses() {
    let server = Server::new(41);
    let (act1, sent) = sri_start(Server::new(43).authority());
    let (_, act2) = server.respond(&act1, 42);
    assert!(sent.step_2_with_now(act2, NOW).is_err());
}

#[test]
fn test_respond_sri_initiator_outside_validity_refuses() {
    let server = Server::new(41);
    let (act1, sent) = sri_start(server.authority());
    let (_, act2) = server.respond(&act1, 42);
    assert!(sent.step_2_with_now(act2, NOT_VALID_AFTER + 3600).is_err());
}
