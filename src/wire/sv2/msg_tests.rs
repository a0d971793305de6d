use super::*;

fn frame(msg_type: u8, channel: bool, fill: impl FnOnce(&mut Writer<'_>)) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::frame(&mut out, msg_type, channel);
    fill(&mut w);
    w.finish().unwrap();
    out
}

fn parse(bytes: &[u8]) -> (Header, &[u8]) {
    let h = Header::parse(bytes[..HEADER_LEN].try_into().unwrap());
    assert_eq!(h.len as usize, bytes.len() - HEADER_LEN);
    (h, &bytes[HEADER_LEN..])
}

#[test]
fn test_header_round_trip_and_channel_bit() {
    let h = Header {
        extension: 0,
        channel_msg: true,
        msg_type: 0x1b,
        len: 0x01_0203,
    };
    let b = h.bytes();
    assert_eq!(b, [0x00, 0x80, 0x1b, 0x03, 0x02, 0x01]);
    assert_eq!(Header::parse(&b), h);
}

#[test]
fn test_setup_connection_layout() {
    let mut out = Vec::new();
    setup_connection(
        &mut out,
        "pool.example",
        3336,
        FLAG_REQUIRES_VERSION_ROLLING,
    )
    .unwrap();
    let (h, p) = parse(&out);
    assert_eq!(
        (h.msg_type, h.channel_msg),
        (types::SETUP_CONNECTION, false)
    );
    let mut r = Reader::new(p);
    assert_eq!(r.u8().unwrap(), 0);
    assert_eq!((r.u16().unwrap(), r.u16().unwrap()), (2, 2));
    assert_eq!(r.u32().unwrap(), 0b100);
    assert_eq!(r.b0_255().unwrap(), b"pool.example");
    assert_eq!(r.u16().unwrap(), 3336);
    assert_eq!(r.b0_255().unwrap(), b"hashmux");
}

#[test]
fn test_submit_extended_layout() {
    let mut out = Vec::new();
    let s = SubmitExtended {
        channel_id: 7,
        sequence_number: 9,
        job_id: 3,
        nonce: 0xdead_beef,
        ntime: 0x6560_f0a0,
        version: 0x2000_0000,
        extranonce: &[1, 2, 3, 4, 5, 6],
    };
    submit_shares_extended(&mut out, &s).unwrap();
    let (h, p) = parse(&out);
    assert!(h.channel_msg);
    assert_eq!(p.len(), 24 + 1 + 6);
    assert_eq!(&p[..4], &7u32.to_le_bytes());
    assert_eq!(&p[12..16], &0xdead_beefu32.to_le_bytes());
    assert_eq!(&p[24..], &[6, 1, 2, 3, 4, 5, 6]);
}

#[test]
fn test_decode_extended_job_and_prevhash() {
    let job = frame(types::NEW_EXTENDED_MINING_JOB, true, |w| {
        w.u32(5)
            .u32(42)
            .u8(1)
            .u32(1_700_000_000)
            .u32(0x2000_0000)
            .u8(1);
        w.u8(2).u256(&[0xaa; 32]).u256(&[0xbb; 32]);
        w.u16(3).u8(1).u8(2).u8(3);
        w.u16(2).u8(9).u8(8);
    });
    let (h, p) = parse(&job);
    match decode(&h, p).unwrap() {
        Incoming::Job(j) => {
            assert_eq!(
                (j.channel_id, j.job_id, j.min_ntime),
                (5, 42, Some(1_700_000_000))
            );
            assert!(j.version_rolling_allowed);
            assert_eq!(j.path().collect::<Vec<_>>(), vec![[0xaa; 32], [0xbb; 32]]);
            assert_eq!(
                (j.coinbase_prefix, j.coinbase_suffix),
                (&[1, 2, 3][..], &[9, 8][..])
            );
        }
        other => panic!("{other:?}"),
    }
    let ph = frame(types::SET_NEW_PREV_HASH, true, |w| {
        w.u32(5)
            .u32(42)
            .u256(&[7; 32])
            .u32(1_700_000_001)
            .u32(0x1d00_ffff);
    });
    let (h, p) = parse(&ph);
    assert_eq!(
        decode(&h, p).unwrap(),
        Incoming::PrevHash {
            channel_id: 5,
            job_id: 42,
            prev_hash: [7; 32],
            min_ntime: 1_700_000_001,
            nbits: 0x1d00_ffff
        }
    );
}

#[test]
fn test_decode_share_answers_and_channel_open() {
    let ok = frame(types::SUBMIT_SHARES_SUCCESS, true, |w| {
        w.u32(5).u32(12).u32(3);
        w.u32(300).u32(0);
    });
    let (h, p) = parse(&ok);
    assert_eq!(
        decode(&h, p).unwrap(),
        Incoming::SharesAccepted {
            channel_id: 5,
            last_sequence_number: 12,
            count: 3,
            shares_sum: 300
        }
    );
    let err = frame(types::SUBMIT_SHARES_ERROR, true, |w| {
        w.u32(5).u32(13).b0_255(b"stale-share");
    });
    let (h, p) = parse(&err);
    assert_eq!(
        decode(&h, p).unwrap(),
        Incoming::ShareRejected {
            channel_id: 5,
            sequence_number: 13,
            code: b"stale-share"
        }
    );
    let open = frame(types::OPEN_EXTENDED_MINING_CHANNEL_SUCCESS, false, |w| {
        w.u32(1)
            .u32(5)
            .u256(&[0xff; 32])
            .u16(8)
            .b0_255(&[1, 2, 3, 4])
            .u32(0);
    });
    let (h, p) = parse(&open);
    assert!(matches!(
        decode(&h, p).unwrap(),
        Incoming::ChannelOpened {
            channel_id: 5,
            extranonce_size: 8,
            extranonce_prefix: &[1, 2, 3, 4],
            ..
        }
    ));
}

#[test]
fn test_decode_malformed_is_error_not_panic() {
    let h = Header {
        extension: 0,
        channel_msg: true,
        msg_type: types::SET_TARGET,
        len: 10,
    };
    assert_eq!(decode(&h, &[0; 10]), Err(Sv2Error::Truncated));
    assert_eq!(decode(&h, &[0; 37]), Err(Sv2Error::Trailing));
    let h = Header {
        msg_type: types::NEW_EXTENDED_MINING_JOB,
        ..h
    };
    let mut bad_bool = vec![0u8; 8];
    bad_bool.extend([0, 0, 0, 0, 0, 7]);
    assert_eq!(decode(&h, &bad_bool), Err(Sv2Error::BadValue));
    let h = Header {
        msg_type: 0x70,
        ..h
    };
    assert_eq!(
        decode(&h, &[1, 2]),
        Ok(Incoming::Other {
            extension: 0,
            msg_type: 0x70
        })
    );
}

#[test]
fn test_f32_bits_of_matches_ieee() {
    for v in [
        0u64,
        1,
        2,
        3,
        1000,
        16_777_215,
        16_777_216,
        16_777_217,
        123_456_789_012,
        6_000_000_000_000,
        u64::MAX,
    ] {
        assert_eq!(f32_bits_of(v), (v as f32).to_bits(), "{v}");
    }
}
