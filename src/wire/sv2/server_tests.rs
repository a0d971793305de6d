//! Every encoder's bytes read back by the SV2 reference implementation's message types
//! (`mining_sv2`, `common_messages_sv2` through `binary_sv2`, dev-dependencies) with equal
//! fields and byte-identical re-serialization; every decoder fed bytes SRI serialized; and
//! malformed payloads, which are errors and never panics.

use super::super::msg::{f32_bits_of, HEADER_LEN};
use super::*;
use binary_sv2::{Str0255, B032, U256};
use common_messages_sv2 as common;
use mining_sv2 as mining;

/// Our frame split into its header and payload (checking the length field).
fn split(frame: &[u8]) -> (Header, Vec<u8>) {
    let h = Header::parse(frame[..HEADER_LEN].try_into().unwrap());
    assert_eq!(h.len as usize, frame.len() - HEADER_LEN);
    assert_eq!(h.extension, 0);
    (h, frame[HEADER_LEN..].to_vec())
}

/// Encode with `f`, check type and channel bit against SRI's constants, return the payload.
fn encode(
    msg_type: u8,
    channel_bit: bool,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), Sv2Error>,
) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut out).unwrap();
    let (h, p) = split(&out);
    assert_eq!((h.msg_type, h.channel_msg), (msg_type, channel_bit));
    p
}

/// SRI's serialization of `m`.
fn sri_bytes<T: binary_sv2::Serialize + binary_sv2::GetSize>(m: T) -> Vec<u8> {
    binary_sv2::to_bytes(m).unwrap()
}

fn header(msg_type: u8, channel_msg: bool, payload: &[u8]) -> Header {
    Header {
        extension: 0,
        channel_msg,
        msg_type,
        len: payload.len() as u32,
    }
}

fn str255(s: &str) -> Str0255<'_> {
    Str0255::try_from(s).unwrap()
}

const TARGET: [u8; 32] = {
    let mut t = [0xffu8; 32];
    t[28] = 0;
    t[29] = 0;
    t[30] = 0;
    t[31] = 0;
    t
};

// --- Encoders, read by SRI. ---

#[test]
fn test_setup_success_encoded_sri_reads_same_fields() {
    let mut p = encode(
        common::MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS,
        common::CHANNEL_BIT_SETUP_CONNECTION_SUCCESS,
        |o| setup_connection_success(o, 2, setup_flags::SUCCESS_REQUIRES_EXTENDED_CHANNELS),
    );
    let copy = p.clone();
    let m: common::SetupConnectionSuccess = binary_sv2::from_bytes(&mut p).unwrap();
    assert_eq!((m.used_version, m.flags), (2, 0b10));
    assert_eq!(sri_bytes(m), copy);
}

#[test]
fn test_setup_error_encoded_sri_reads_same_fields() {
    let mut p = encode(
        common::MESSAGE_TYPE_SETUP_CONNECTION_ERROR,
        common::CHANNEL_BIT_SETUP_CONNECTION_ERROR,
        |o| setup_connection_error(o, 0b1, codes::UNSUPPORTED_FEATURE_FLAGS),
    );
    let copy = p.clone();
    let m: common::SetupConnectionError = binary_sv2::from_bytes(&mut p).unwrap();
    assert_eq!(m.flags, 1);
    assert_eq!(m.error_code.as_bytes(), b"unsupported-feature-flags");
    assert_eq!(sri_bytes(m), copy);
}

#[test]
fn test_open_standard_success_encoded_sri_reads_same_fields() {
    let mut p = encode(
        mining::MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL_SUCCESS,
        mining::CHANNEL_BIT_OPEN_STANDARD_MINING_CHANNEL_SUCCESS,
        |o| open_standard_channel_success(o, 11, 22, &TARGET, &[1, 2, 3, 4, 5, 6, 7, 8], 33),
    );
    let copy = p.clone();
    let m: mining::OpenStandardMiningChannelSuccess = binary_sv2::from_bytes(&mut p).unwrap();
    assert_eq!(
        (m.request_id, m.channel_id, m.group_channel_id),
        (11, 22, 33)
    );
    assert_eq!(m.target.as_array(), &TARGET);
    assert_eq!(m.extranonce_prefix.as_bytes(), &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(sri_bytes(m), copy);
}

#[test]
fn test_open_extended_success_encoded_sri_reads_same_fields_and_our_client_too() {
    let mut p = encode(
        mining::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS,
        mining::CHANNEL_BIT_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS,
        |o| open_extended_channel_success(o, 11, 22, &TARGET, 8, &[9; 4], 33),
    );
    let copy = p.clone();
    let m: mining::OpenExtendedMiningChannelSuccess = binary_sv2::from_bytes(&mut p).unwrap();
    assert_eq!(
        (m.request_id, m.channel_id, m.group_channel_id),
        (11, 22, 33)
    );
    assert_eq!((m.target.as_array(), m.extranonce_size), (&TARGET, 8));
    assert_eq!(m.extranonce_prefix.as_bytes(), &[9; 4]);
    assert_eq!(sri_bytes(m), copy);
    // Our own client decoder reads it the same way.
    let h = header(types::OPEN_EXTENDED_MINING_CHANNEL_SUCCESS, false, &copy);
    assert_eq!(
        super::super::msg::decode(&h, &copy).unwrap(),
        super::super::msg::Incoming::ChannelOpened {
            request_id: 11,
            channel_id: 22,
            target: TARGET,
            extranonce_size: 8,
            extranonce_prefix: &[9; 4],
            group_channel_id: 33,
        }
    );
}

#[test]
fn test_open_channel_error_encoded_sri_reads_same_fields() {
    let mut p = encode(
        mining::MESSAGE_TYPE_OPEN_MINING_CHANNEL_ERROR,
        mining::CHANNEL_BIT_OPEN_MINING_CHANNEL_ERROR,
        |o| open_channel_error(o, 5, codes::MAX_TARGET_OUT_OF_RANGE),
    );
    let copy = p.clone();
    let m: mining::OpenMiningChannelError = binary_sv2::from_bytes(&mut p).unwrap();
    assert_eq!(m.request_id, 5);
    assert_eq!(m.error_code.as_bytes(), b"max-target-out-of-range");
    assert_eq!(sri_bytes(m), copy);
}

#[test]
fn test_new_mining_job_encoded_sri_reads_same_fields_future_and_active() {
    for min_ntime in [None, Some(1_700_000_123)] {
        let mut p = encode(
            mining::MESSAGE_TYPE_NEW_MINING_JOB,
            mining::CHANNEL_BIT_NEW_MINING_JOB,
            |o| new_mining_job(o, 3, 44, min_ntime, 0x2000_0000, &[0x5a; 32]),
        );
        let copy = p.clone();
        let m: mining::NewMiningJob = binary_sv2::from_bytes(&mut p).unwrap();
        assert_eq!((m.channel_id, m.job_id, m.version), (3, 44, 0x2000_0000));
        assert_eq!(m.min_ntime.as_ref().copied(), min_ntime);
        assert_eq!(m.merkle_root.as_array(), &[0x5a; 32]);
        assert_eq!(sri_bytes(m), copy);
    }
}

#[test]
fn test_new_extended_job_encoded_sri_reads_same_fields() {
    let mut path = Vec::new();
    for i in 1..=3u8 {
        path.extend_from_slice(&[i; 32]);
    }
    let prefix: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let suffix = vec![0xee; 70];
    for (min_ntime, rolling) in [(None, true), (Some(1_700_000_000), false)] {
        let job = ExtendedJob {
            channel_id: 3,
            job_id: 45,
            min_ntime,
            version: 0x2000_0000,
            version_rolling_allowed: rolling,
            merkle_path: &path,
            coinbase_prefix: &prefix,
            coinbase_suffix: &suffix,
        };
        let mut p = encode(
            mining::MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB,
            mining::CHANNEL_BIT_NEW_EXTENDED_MINING_JOB,
            |o| new_extended_mining_job(o, &job),
        );
        let copy = p.clone();
        let m: mining::NewExtendedMiningJob = binary_sv2::from_bytes(&mut p).unwrap();
        assert_eq!((m.channel_id, m.job_id, m.version), (3, 45, 0x2000_0000));
        assert_eq!(m.min_ntime.as_ref().copied(), min_ntime);
        assert_eq!(m.version_rolling_allowed, rolling);
        let got: Vec<[u8; 32]> = m.merkle_path.iter().map(|h| *h.as_array()).collect();
        assert_eq!(got, vec![[1; 32], [2; 32], [3; 32]]);
        assert_eq!(m.coinbase_tx_prefix.as_bytes(), &prefix[..]);
        assert_eq!(m.coinbase_tx_suffix.as_bytes(), &suffix[..]);
        assert_eq!(sri_bytes(m), copy);
        // And our client decoder gives the job back.
        let h = header(types::NEW_EXTENDED_MINING_JOB, true, &copy);
        assert_eq!(
            super::super::msg::decode(&h, &copy).unwrap(),
            super::super::msg::Incoming::Job(job)
        );
    }
}

#[test]
fn test_set_new_prev_hash_encoded_sri_reads_same_fields() {
    let mut p = encode(
        mining::MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH,
        mining::CHANNEL_BIT_MINING_SET_NEW_PREV_HASH,
        |o| set_new_prev_hash(o, 3, 45, &[0x77; 32], 1_700_000_001, 0x1703_4567),
    );
    let copy = p.clone();
    let m: mining::SetNewPrevHash = binary_sv2::from_bytes(&mut p).unwrap();
    assert_eq!((m.channel_id, m.job_id), (3, 45));
    assert_eq!(m.prev_hash.as_array(), &[0x77; 32]);
    assert_eq!((m.min_ntime, m.nbits), (1_700_000_001, 0x1703_4567));
    assert_eq!(sri_bytes(m), copy);
}

#[test]
fn test_set_target_encoded_sri_reads_same_fields() {
    let mut p = encode(
        mining::MESSAGE_TYPE_SET_TARGET,
        mining::CHANNEL_BIT_SET_TARGET,
        |o| set_target(o, 3, &TARGET),
    );
    let copy = p.clone();
    let m: mining::SetTarget = binary_sv2::from_bytes(&mut p).unwrap();
    assert_eq!((m.channel_id, m.maximum_target.as_array()), (3, &TARGET));
    assert_eq!(sri_bytes(m), copy);
}

#[test]
fn test_submit_shares_success_encoded_sri_reads_same_fields() {
    let mut p = encode(
        mining::MESSAGE_TYPE_SUBMIT_SHARES_SUCCESS,
        mining::CHANNEL_BIT_SUBMIT_SHARES_SUCCESS,
        |o| submit_shares_success(o, 3, 99, 10, 0x0123_4567_89ab_cdef),
    );
    let copy = p.clone();
    let m: mining::SubmitSharesSuccess = binary_sv2::from_bytes(&mut p).unwrap();
    assert_eq!(
        (
            m.channel_id,
            m.last_sequence_number,
            m.new_submits_accepted_count
        ),
        (3, 99, 10)
    );
    assert_eq!(m.new_shares_sum, 0x0123_4567_89ab_cdef);
    assert_eq!(sri_bytes(m), copy);
}

#[test]
fn test_submit_shares_error_encoded_sri_reads_same_fields() {
    let mut p = encode(
        mining::MESSAGE_TYPE_SUBMIT_SHARES_ERROR,
        mining::CHANNEL_BIT_SUBMIT_SHARES_ERROR,
        |o| submit_shares_error(o, 3, 100, codes::STALE_SHARE),
    );
    let copy = p.clone();
    let m: mining::SubmitSharesError = binary_sv2::from_bytes(&mut p).unwrap();
    assert_eq!((m.channel_id, m.sequence_number), (3, 100));
    assert_eq!(m.error_code.as_bytes(), b"stale-share");
    assert_eq!(sri_bytes(m), copy);
}

#[test]
fn test_set_extranonce_prefix_encoded_sri_reads_same_fields() {
    let mut p = encode(
        mining::MESSAGE_TYPE_SET_EXTRANONCE_PREFIX,
        mining::CHANNEL_BIT_SET_EXTRANONCE_PREFIX,
        |o| set_extranonce_prefix(o, 3, &[0xab; 32]),
    );
    let copy = p.clone();
    let m: mining::SetExtranoncePrefix = binary_sv2::from_bytes(&mut p).unwrap();
    assert_eq!(
        (m.channel_id, m.extranonce_prefix.as_bytes()),
        (3, &[0xab; 32][..])
    );
    assert_eq!(sri_bytes(m), copy);
}

#[test]
fn test_update_channel_error_encoded_sri_reads_same_fields() {
    let mut p = encode(
        mining::MESSAGE_TYPE_UPDATE_CHANNEL_ERROR,
        mining::CHANNEL_BIT_UPDATE_CHANNEL_ERROR,
        |o| update_channel_error(o, 3, codes::INVALID_CHANNEL_ID),
    );
    let copy = p.clone();
    let m: mining::UpdateChannelError = binary_sv2::from_bytes(&mut p).unwrap();
    assert_eq!(
        (m.channel_id, m.error_code.as_bytes()),
        (3, &b"invalid-channel-id"[..])
    );
    assert_eq!(sri_bytes(m), copy);
}

#[test]
fn test_close_channel_encoded_sri_reads_same_fields() {
    let mut p = encode(
        mining::MESSAGE_TYPE_CLOSE_CHANNEL,
        mining::CHANNEL_BIT_CLOSE_CHANNEL,
        |o| close_channel(o, 3, "shutting down"),
    );
    let copy = p.clone();
    let m: mining::CloseChannel = binary_sv2::from_bytes(&mut p).unwrap();
    assert_eq!(
        (m.channel_id, m.reason_code.as_bytes()),
        (3, &b"shutting down"[..])
    );
    assert_eq!(sri_bytes(m), copy);
}

#[test]
fn test_encoder_oversize_field_is_bad_value_and_buffer_unchanged() {
    let before = vec![1u8, 2, 3];
    let long_code = "x".repeat(256);
    let path_31 = [0u8; 31];
    let path_256 = vec![0u8; 32 * 256];
    let cb_64k = vec![0u8; 0x1_0000];
    fn job<'a>(path: &'a [u8], cb: &'a [u8]) -> ExtendedJob<'a> {
        ExtendedJob {
            channel_id: 1,
            job_id: 1,
            min_ntime: None,
            version: 0,
            version_rolling_allowed: true,
            merkle_path: path,
            coinbase_prefix: cb,
            coinbase_suffix: &[],
        }
    }
    type Enc<'a> = Box<dyn Fn(&mut Vec<u8>) -> Result<(), Sv2Error> + 'a>;
    let cases: Vec<Enc<'_>> = vec![
        Box::new(|o| open_standard_channel_success(o, 1, 1, &TARGET, &[0; 33], 0)),
        Box::new(|o| open_extended_channel_success(o, 1, 1, &TARGET, 4, &[0; 33], 0)),
        Box::new(|o| set_extranonce_prefix(o, 1, &[0; 33])),
        Box::new(|o| submit_shares_error(o, 1, 1, &long_code)),
        Box::new(|o| setup_connection_error(o, 0, &long_code)),
        Box::new(|o| open_channel_error(o, 1, &long_code)),
        Box::new(|o| update_channel_error(o, 1, &long_code)),
        Box::new(|o| new_extended_mining_job(o, &job(&path_31, &[]))),
        Box::new(|o| new_extended_mining_job(o, &job(&path_256, &[]))),
        Box::new(|o| new_extended_mining_job(o, &job(&[], &cb_64k))),
    ];
    for (i, enc) in cases.iter().enumerate() {
        let mut out = before.clone();
        assert_eq!(enc(&mut out), Err(Sv2Error::BadValue), "case {i}");
        assert_eq!(out, before, "case {i}");
    }
    // The largest allowed values still encode.
    let mut out = Vec::new();
    let cb_max = vec![0u8; 0xffff];
    let path_255 = vec![0u8; 32 * 255];
    let j = ExtendedJob {
        merkle_path: &path_255,
        coinbase_prefix: &cb_max,
        coinbase_suffix: &cb_max,
        ..job(&[], &[])
    };
    new_extended_mining_job(&mut out, &j).unwrap();
    let (_, mut p) = split(&out);
    let m: mining::NewExtendedMiningJob = binary_sv2::from_bytes(&mut p).unwrap();
    assert_eq!(
        (m.merkle_path.len(), m.coinbase_tx_suffix.len()),
        (255, 0xffff)
    );
}

// --- Decoders, fed by SRI. ---

fn sri_setup() -> Vec<u8> {
    sri_bytes(common::SetupConnection {
        protocol: common::Protocol::MiningProtocol,
        min_version: 2,
        max_version: 2,
        flags: 0b101,
        endpoint_host: str255("pool.local"),
        endpoint_port: 3336,
        vendor: str255("Bitmain"),
        hardware_version: str255("S21"),
        firmware: str255("fw 1.2"),
        device_id: str255("rig-7"),
    })
}

fn sri_open_standard() -> Vec<u8> {
    sri_bytes(mining::OpenStandardMiningChannel {
        request_id: 17,
        user_identity: str255("alice.worker1"),
        nominal_hash_rate: 1.0e12,
        max_target: U256::from(&TARGET),
    })
}

fn sri_open_extended() -> Vec<u8> {
    sri_bytes(mining::OpenExtendedMiningChannel {
        request_id: 18,
        user_identity: str255("bob"),
        nominal_hash_rate: 1.0e6,
        max_target: U256::from(&[0xff; 32]),
        min_extranonce_size: 6,
    })
}

fn sri_update() -> Vec<u8> {
    sri_bytes(mining::UpdateChannel {
        channel_id: 4,
        nominal_hash_rate: 123_456_789.0,
        maximum_target: U256::from(&TARGET),
    })
}

fn sri_close() -> Vec<u8> {
    sri_bytes(mining::CloseChannel {
        channel_id: 4,
        reason_code: str255("bye"),
    })
}

fn sri_submit_standard() -> Vec<u8> {
    sri_bytes(mining::SubmitSharesStandard {
        channel_id: 4,
        sequence_number: 5,
        job_id: 6,
        nonce: 0xdead_beef,
        ntime: 1_700_000_000,
        version: 0x2000_e000,
    })
}

fn sri_submit_extended() -> Vec<u8> {
    sri_bytes(mining::SubmitSharesExtended {
        channel_id: 4,
        sequence_number: 5,
        job_id: 6,
        nonce: 0xdead_beef,
        ntime: 1_700_000_000,
        version: 0x2000_e000,
        extranonce: B032::try_from(&[1u8, 2, 3, 4, 5, 6][..]).unwrap(),
    })
}

/// (msg_type, channel bit SRI sets, payload SRI serialized) for each message a miner sends.
fn from_miner_samples() -> Vec<(u8, bool, Vec<u8>)> {
    vec![
        (
            common::MESSAGE_TYPE_SETUP_CONNECTION,
            common::CHANNEL_BIT_SETUP_CONNECTION,
            sri_setup(),
        ),
        (
            mining::MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL,
            mining::CHANNEL_BIT_OPEN_STANDARD_MINING_CHANNEL,
            sri_open_standard(),
        ),
        (
            mining::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL,
            mining::CHANNEL_BIT_OPEN_EXTENDED_MINING_CHANNEL,
            sri_open_extended(),
        ),
        (
            mining::MESSAGE_TYPE_UPDATE_CHANNEL,
            mining::CHANNEL_BIT_UPDATE_CHANNEL,
            sri_update(),
        ),
        (
            mining::MESSAGE_TYPE_CLOSE_CHANNEL,
            mining::CHANNEL_BIT_CLOSE_CHANNEL,
            sri_close(),
        ),
        (
            mining::MESSAGE_TYPE_SUBMIT_SHARES_STANDARD,
            mining::CHANNEL_BIT_SUBMIT_SHARES_STANDARD,
            sri_submit_standard(),
        ),
        (
            mining::MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED,
            mining::CHANNEL_BIT_SUBMIT_SHARES_EXTENDED,
            sri_submit_extended(),
        ),
    ]
}

/// Decode sample `i` of [`from_miner_samples`] and pass the result to `check`.
fn with_sample(i: usize, check: impl FnOnce(FromMiner<'_>)) {
    let (t, c, p) = from_miner_samples().swap_remove(i);
    check(decode_from_miner(&header(t, c, &p), &p).unwrap());
}

fn assert_decodes(i: usize, expected: FromMiner<'_>) {
    with_sample(i, |m| assert_eq!(m, expected));
}

#[test]
fn test_decode_sri_setup_connection() {
    assert_decodes(
        0,
        FromMiner::Setup(SetupConnection {
            protocol: PROTOCOL_MINING,
            min_version: 2,
            max_version: 2,
            flags: setup_flags::REQUIRES_STANDARD_JOBS | setup_flags::REQUIRES_VERSION_ROLLING,
            endpoint_host: b"pool.local",
            endpoint_port: 3336,
            vendor: b"Bitmain",
            hardware_version: b"S21",
            firmware: b"fw 1.2",
            device_id: b"rig-7",
        }),
    );
}

#[test]
fn test_decode_sri_open_standard_channel_and_its_hash_rate() {
    with_sample(1, |m| {
        let FromMiner::OpenStandard(o) = m else {
            panic!("not OpenStandard: {m:?}");
        };
        assert_eq!((o.request_id, o.user_identity), (17, &b"alice.worker1"[..]));
        assert_eq!(o.max_target, TARGET);
        assert_eq!(o.hash_rate_bits, 1.0e12f32.to_bits());
        assert_eq!(u64_of_f32_bits(o.hash_rate_bits), 999_999_995_904); // 1e12 as an f32
    });
}

#[test]
fn test_decode_sri_open_extended_channel() {
    with_sample(2, |m| {
        let FromMiner::OpenExtended {
            open,
            min_extranonce_size,
        } = m
        else {
            panic!("not OpenExtended: {m:?}");
        };
        assert_eq!((open.request_id, open.user_identity), (18, &b"bob"[..]));
        assert_eq!((open.max_target, min_extranonce_size), ([0xff; 32], 6));
        assert_eq!(u64_of_f32_bits(open.hash_rate_bits), 1_000_000);
    });
}

#[test]
fn test_decode_sri_update_channel() {
    assert_decodes(
        3,
        FromMiner::UpdateChannel {
            channel_id: 4,
            hash_rate_bits: 123_456_789.0f32.to_bits(),
            maximum_target: TARGET,
        },
    );
    assert_eq!(u64_of_f32_bits(123_456_789.0f32.to_bits()), 123_456_792);
}

#[test]
fn test_decode_sri_close_channel() {
    assert_decodes(
        4,
        FromMiner::CloseChannel {
            channel_id: 4,
            reason: b"bye",
        },
    );
}

#[test]
fn test_decode_sri_submit_standard() {
    assert_decodes(
        5,
        FromMiner::SubmitStandard(SubmitStandard {
            channel_id: 4,
            sequence_number: 5,
            job_id: 6,
            nonce: 0xdead_beef,
            ntime: 1_700_000_000,
            version: 0x2000_e000,
        }),
    );
}

#[test]
fn test_decode_sri_submit_extended() {
    assert_decodes(
        6,
        FromMiner::SubmitExtended(SubmitExtended {
            channel_id: 4,
            sequence_number: 5,
            job_id: 6,
            nonce: 0xdead_beef,
            ntime: 1_700_000_000,
            version: 0x2000_e000,
            extranonce: &[1, 2, 3, 4, 5, 6],
        }),
    );
}

#[test]
fn test_decode_our_client_messages_as_a_server() {
    // What our own client side sends decodes here too.
    let mut out = Vec::new();
    super::super::msg::open_extended_channel(&mut out, 9, "w", 5_000, &TARGET, 4).unwrap();
    let (h, p) = split(&out);
    let FromMiner::OpenExtended { open, .. } = decode_from_miner(&h, &p).unwrap() else {
        panic!("not OpenExtended");
    };
    assert_eq!(
        (open.request_id, u64_of_f32_bits(open.hash_rate_bits)),
        (9, 5_000)
    );
}

#[test]
fn test_decode_truncated_or_trailing_payload_is_error() {
    for (t, c, p) in from_miner_samples() {
        for n in 0..p.len() {
            let cut = &p[..n];
            assert_eq!(
                decode_from_miner(&header(t, c, cut), cut),
                Err(Sv2Error::Truncated),
                "type {t:#x} cut at {n}"
            );
        }
        let mut long = p.clone();
        long.push(0);
        assert_eq!(
            decode_from_miner(&header(t, c, &long), &long),
            Err(Sv2Error::Trailing),
            "type {t:#x}"
        );
    }
}

#[test]
fn test_decode_extranonce_over_32_bytes_is_bad_value() {
    let mut p = sri_submit_extended();
    p.truncate(24);
    p.push(33);
    p.extend_from_slice(&[0; 33]);
    let h = header(types::SUBMIT_SHARES_EXTENDED, true, &p);
    assert_eq!(decode_from_miner(&h, &p), Err(Sv2Error::BadValue));
}

#[test]
fn test_decode_unknown_type_or_extension_is_other() {
    let h = header(0x22, true, &[1, 2, 3]); // SetCustomMiningJob: not ours to act on
    assert_eq!(
        decode_from_miner(&h, &[1, 2, 3]),
        Ok(FromMiner::Other {
            extension: 0,
            msg_type: 0x22
        })
    );
    let h = Header {
        extension: 1,
        ..header(types::SUBMIT_SHARES_STANDARD, true, &[])
    };
    assert_eq!(
        decode_from_miner(&h, &[]),
        Ok(FromMiner::Other {
            extension: 1,
            msg_type: types::SUBMIT_SHARES_STANDARD
        })
    );
}

#[test]
fn test_decode_random_bytes_never_panic() {
    let mut r = super::super::secp::xorshift_source(17);
    for round in 0..2_000usize {
        let raw = r();
        let len = raw[0] as usize % 96;
        let mut p = Vec::with_capacity(len);
        while p.len() < len {
            p.extend_from_slice(&r());
        }
        p.truncate(len);
        for t in [0x00, 0x10, 0x13, 0x16, 0x18, 0x1a, 0x1b, 0x7f] {
            let _ = decode_from_miner(&header(t, round % 2 == 0, &p), &p);
        }
    }
}

// --- Numbers and names. ---

#[test]
fn test_u64_of_f32_bits_matches_saturating_cast() {
    for f in [
        0.0f32,
        -0.0,
        -1.0,
        0.5,
        0.999_999_9,
        1.0,
        1.5,
        2.5,
        16_777_217.0,
        1.0e6,
        1.0e15,
        9.223_372e18,
        1.844_674_4e19,
        3.4e38,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
    ] {
        assert_eq!(u64_of_f32_bits(f.to_bits()), f as u64, "{f:e}");
    }
    let mut r = super::super::secp::xorshift_source(3);
    for _ in 0..20_000 {
        let b = u32::from_le_bytes(r()[..4].try_into().unwrap());
        assert_eq!(u64_of_f32_bits(b), f32::from_bits(b) as u64, "{b:#x}");
    }
}

#[test]
fn test_u64_of_f32_bits_inverts_f32_bits_of() {
    for v in (0..2_000u64).chain([1 << 24, (1 << 24) - 1, 123_456_789_000]) {
        let bits = f32_bits_of(v);
        assert_eq!(u64_of_f32_bits(bits), f32::from_bits(bits) as u64, "{v}");
        if v < 1 << 24 {
            assert_eq!(u64_of_f32_bits(bits), v);
        }
    }
    assert_eq!(u64_of_f32_bits(f32_bits_of(u64::MAX)), u64::MAX); // 2^64 saturates
}

#[test]
fn test_error_codes_match_sri() {
    let pairs = [
        (
            codes::UNSUPPORTED_FEATURE_FLAGS,
            common::ERROR_CODE_SETUP_CONNECTION_UNSUPPORTED_FEATURE_FLAGS,
        ),
        (
            codes::UNSUPPORTED_PROTOCOL,
            common::ERROR_CODE_SETUP_CONNECTION_UNSUPPORTED_PROTOCOL,
        ),
        (
            codes::PROTOCOL_VERSION_MISMATCH,
            common::ERROR_CODE_SETUP_CONNECTION_PROTOCOL_VERSION_MISMATCH,
        ),
        (
            codes::UNKNOWN_USER,
            mining::ERROR_CODE_OPEN_MINING_CHANNEL_UNKNOWN_USER,
        ),
        (
            codes::INVALID_USER_IDENTITY,
            mining::ERROR_CODE_OPEN_MINING_CHANNEL_INVALID_USER_IDENTITY,
        ),
        (
            codes::MAX_TARGET_OUT_OF_RANGE,
            mining::ERROR_CODE_OPEN_MINING_CHANNEL_MAX_TARGET_OUT_OF_RANGE,
        ),
        (
            codes::INVALID_NOMINAL_HASHRATE,
            mining::ERROR_CODE_OPEN_MINING_CHANNEL_INVALID_NOMINAL_HASHRATE,
        ),
        (
            codes::MIN_EXTRANONCE_SIZE_TOO_LARGE,
            mining::ERROR_CODE_OPEN_MINING_CHANNEL_MIN_EXTRANONCE_SIZE_TOO_LARGE,
        ),
        (
            codes::UNSUPPORTED_MIN_EXTRANONCE_SIZE,
            mining::ERROR_CODE_OPEN_MINING_CHANNEL_UNSUPPORTED_MIN_EXTRANONCE_SIZE,
        ),
        (
            codes::CHANNEL_CAPACITY_EXHAUSTED,
            mining::ERROR_CODE_OPEN_MINING_CHANNEL_CHANNEL_CAPACITY_EXHAUSTED,
        ),
        (
            codes::INVALID_CHANNEL_ID,
            mining::ERROR_CODE_SUBMIT_SHARES_INVALID_CHANNEL_ID,
        ),
        (
            codes::INVALID_CHANNEL_ID,
            mining::ERROR_CODE_UPDATE_CHANNEL_INVALID_CHANNEL_ID,
        ),
        (
            codes::STALE_SHARE,
            mining::ERROR_CODE_SUBMIT_SHARES_STALE_SHARE,
        ),
        (
            codes::DIFFICULTY_TOO_LOW,
            mining::ERROR_CODE_SUBMIT_SHARES_DIFFICULTY_TOO_LOW,
        ),
        (
            codes::INVALID_JOB_ID,
            mining::ERROR_CODE_SUBMIT_SHARES_INVALID_JOB_ID,
        ),
        (
            codes::INVALID_SHARE,
            mining::ERROR_CODE_SUBMIT_SHARES_INVALID_SHARE,
        ),
        (
            codes::DUPLICATE_SHARE,
            mining::ERROR_CODE_SUBMIT_SHARES_DUPLICATE_SHARE,
        ),
        (
            codes::BAD_EXTRANONCE_SIZE,
            mining::ERROR_CODE_SUBMIT_SHARES_BAD_EXTRANONCE_SIZE,
        ),
        (
            codes::VERSION_ROLLING_NOT_ALLOWED,
            mining::ERROR_CODE_VERSION_ROLLING_NOT_ALLOWED,
        ),
        (
            codes::INVALID_NON_ROLLABLE_VERSION_BIT,
            mining::ERROR_CODE_SUBMIT_SHARES_INVALID_NON_ROLLABLE_VERSION_BIT,
        ),
    ];
    for (ours, sri) in pairs {
        assert_eq!(ours, sri);
    }
}
