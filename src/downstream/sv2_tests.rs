//! The SV2 miner session on its own: frames in, events and frames out, read back with the
//! client-side decoder (`wire::sv2::msg::decode`, checked against the SRI crates elsewhere).

use super::*;
use crate::core::Refusal;
use crate::wire::sv2::msg::{Incoming, Writer, HEADER_LEN};
use crate::work::job::{Job, JobOrigin, JobParts, Variant};
use std::rc::Rc;

fn peer() -> std::net::SocketAddr {
    "192.168.1.20:4000".parse().unwrap()
}

/// Split `buf` into (header, payload) frames.
fn frames(buf: &[u8]) -> Vec<(Header, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= HEADER_LEN {
        let h = Header::parse(rest[..HEADER_LEN].try_into().unwrap());
        let end = HEADER_LEN + h.len as usize;
        out.push((h, rest[HEADER_LEN..end].to_vec()));
        rest = &rest[end..];
    }
    assert!(rest.is_empty(), "whole frames only");
    out
}

/// Feed one plain frame built by `build`.
fn feed(
    s: &mut Sv2Miner,
    build: impl FnOnce(&mut Vec<u8>),
) -> (Result<Option<Event>, Close>, Vec<u8>) {
    let mut f = Vec::new();
    build(&mut f);
    let (h, p) = frames(&f).remove(0);
    let mut out = Vec::new();
    let r = s.on_frame(&h, &p, &mut out);
    (r, out)
}

fn setup(flags: u32) -> impl FnOnce(&mut Vec<u8>) {
    move |out| {
        let mut w = Writer::frame(out, msg::types::SETUP_CONNECTION, false);
        w.u8(0)
            .u16(2)
            .u16(2)
            .u32(flags)
            .str0_255(b"10.0.0.1")
            .u16(3336)
            .str0_255(b"Bitaxe")
            .str0_255(b"601")
            .str0_255(b"v2.9.0")
            .str0_255(b"");
        w.finish().unwrap();
    }
}

fn open_standard(out: &mut Vec<u8>) {
    let mut w = Writer::frame(out, msg::types::OPEN_STANDARD_MINING_CHANNEL, false);
    w.u32(7)
        .str0_255(b"bc1q.worker")
        .u32(msg::f32_bits_of(1_000_000_000_000))
        .u256(&[0xff; 32]);
    w.finish().unwrap();
}

fn submit_standard(channel: u32, seq: u32, job: u32, version: u32) -> impl FnOnce(&mut Vec<u8>) {
    move |out| {
        let mut w = Writer::frame(out, msg::types::SUBMIT_SHARES_STANDARD, true);
        w.u32(channel)
            .u32(seq)
            .u32(job)
            .u32(0x1234_5678)
            .u32(0x6500_0010)
            .u32(version);
        w.finish().unwrap();
    }
}

fn job(prev: u8, e2_size: usize) -> Rc<Job> {
    let parts = JobParts {
        id: 9,
        prevhash: [prev; 32],
        coinb1: &[1, 2, 3],
        coinb2: &[4, 5],
        branches: &[0x11; 32],
        version: 0x2000_0000,
        nbits: 0x1d00_ffff,
        ntime: 0x6500_0000,
        clean: false,
    };
    let origin = JobOrigin {
        pool: 0,
        conn_gen: 1,
        epoch: 1,
        extranonce1: heapless::Vec::from_slice(&[0xaa, 0xbb]).unwrap(),
        extranonce2_size: e2_size,
        difficulty: Difficulty::ONE,
        serial: 1,
    };
    Rc::new(Job::from_parts(&parts, origin).unwrap())
}

fn reply(req: &str, answer: Answer) -> ToMiner {
    ToMiner::Reply {
        req: heapless::String::try_from(req).unwrap(),
        answer,
    }
}

/// A session with its standard channel open (tag 0x0102, extranonce2 4 bytes).
fn open_session() -> Sv2Miner {
    let mut s = Sv2Miner::new(peer());
    assert_eq!(feed(&mut s, setup(0)).0, Ok(None));
    let (r, _) = feed(&mut s, open_standard);
    assert!(matches!(r, Ok(Some(Event::Open { .. }))));
    let mut out = Vec::new();
    s.write(
        &mut out,
        &reply(REQ_CONFIGURE, Answer::Configure(Some(SV2_VERSION_MASK))),
    );
    s.write(
        &mut out,
        &reply(
            REQ_SUBSCRIBE,
            Answer::Subscribe {
                session: 1,
                tag: [1, 2],
                e2_size: 4,
            },
        ),
    );
    assert!(out.is_empty(), "no Success before the user is authorized");
    s.write(&mut out, &reply(REQ_AUTHORIZE, Answer::True));
    let f = frames(&out);
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].0.msg_type,
        msg::types::OPEN_STANDARD_MINING_CHANNEL_SUCCESS
    );
    s
}

fn notify(s: &mut Sv2Miner, id: u32, j: &Rc<Job>, clean: bool) -> Vec<(Header, Vec<u8>)> {
    let mut out = Vec::new();
    s.write(
        &mut out,
        &ToMiner::Notify {
            id,
            job: j.clone(),
            variant: Variant(0),
            e2_size: 4,
            clean,
        },
    );
    frames(&out)
}

#[test]
fn test_await_setup_setup_answered_with_success() {
    let mut s = Sv2Miner::new(peer());
    let (r, out) = feed(&mut s, setup(0));
    assert_eq!(r, Ok(None));
    let f = frames(&out);
    assert_eq!(
        msg::decode(&f[0].0, &f[0].1).unwrap(),
        Incoming::SetupSuccess {
            used_version: 2,
            flags: 0
        }
    );
    assert_eq!(s.agent.as_str(), "sv2 Bitaxe 601 v2.9.0");
}

#[test]
fn test_await_setup_work_selection_refused_and_closed() {
    let mut s = Sv2Miner::new(peer());
    let (r, out) = feed(&mut s, setup(REQUIRES_WORK_SELECTION));
    assert_eq!(
        r,
        Err(Close::Setup(server::codes::UNSUPPORTED_FEATURE_FLAGS))
    );
    let f = frames(&out);
    assert_eq!(
        msg::decode(&f[0].0, &f[0].1).unwrap(),
        Incoming::SetupError {
            flags: REQUIRES_WORK_SELECTION,
            code: b"unsupported-feature-flags"
        }
    );
}

#[test]
fn test_await_setup_other_message_is_bad_and_many_close() {
    let mut s = Sv2Miner::new(peer());
    for _ in 0..MAX_BAD_FRAMES {
        assert_eq!(feed(&mut s, open_standard).0, Ok(None));
    }
    assert_eq!(feed(&mut s, open_standard).0, Err(Close::TooManyBadFrames));
}

#[test]
fn test_ready_extended_asking_too_much_extranonce_refused() {
    let mut s = Sv2Miner::new(peer());
    let _ = feed(&mut s, setup(0));
    let (r, out) = feed(&mut s, |o| {
        msg::open_extended_channel(o, 3, "w", 0, &[0xff; 32], 8).unwrap()
    });
    assert_eq!(r, Ok(None));
    let f = frames(&out);
    assert_eq!(
        msg::decode(&f[0].0, &f[0].1).unwrap(),
        Incoming::ChannelOpenError {
            request_id: 3,
            code: b"min-extranonce-size-too-large"
        }
    );
}

#[test]
fn test_ready_share_before_channel_answered_invalid_channel() {
    let mut s = Sv2Miner::new(peer());
    let _ = feed(&mut s, setup(0));
    let (r, out) = feed(&mut s, submit_standard(1, 5, 1, 0x2000_0000));
    assert_eq!(r, Ok(Some(Event::Malformed)));
    let f = frames(&out);
    assert_eq!(
        msg::decode(&f[0].0, &f[0].1).unwrap(),
        Incoming::ShareRejected {
            channel_id: 1,
            sequence_number: 5,
            code: b"invalid-channel-id"
        }
    );
}

#[test]
fn test_open_first_job_is_future_then_prevhash_and_next_is_active() {
    let mut s = open_session();
    let j = job(0x33, 8);
    let f = notify(&mut s, 5, &j, true);
    assert_eq!(f.len(), 2, "future job + SetNewPrevHash");
    assert_eq!(f[0].0.msg_type, msg::types::NEW_MINING_JOB);
    let mut r = msg::Reader::new(&f[0].1);
    assert_eq!((r.u32().unwrap(), r.u32().unwrap()), (1, 5));
    assert_eq!(r.option_u32().unwrap(), None, "future job");
    assert_eq!(r.u32().unwrap(), 0x2000_0000);
    let root = r.u256().unwrap();
    assert_eq!(root, j.merkle_root_for(&[1, 2], &[0; 4], Variant(0)));
    match msg::decode(&f[1].0, &f[1].1).unwrap() {
        Incoming::PrevHash {
            channel_id: 1,
            job_id: 5,
            prev_hash,
            min_ntime: 0x6500_0000,
            nbits: 0x1d00_ffff,
        } => assert_eq!(
            prev_hash, [0x33; 32],
            "header byte order, as the pool sent it"
        ),
        other => panic!("{other:?}"),
    }
    // Same prevhash, not clean: one active job.
    let f = notify(&mut s, 6, &j, false);
    assert_eq!(f.len(), 1);
    let mut r = msg::Reader::new(&f[0].1);
    r.u32().unwrap();
    r.u32().unwrap();
    assert_eq!(r.option_u32().unwrap(), Some(0x6500_0000));
    // A new block: future + SetNewPrevHash again.
    assert_eq!(notify(&mut s, 7, &job(0x44, 8), false).len(), 2);
}

#[test]
fn test_open_share_becomes_event_with_zero_extranonce_and_rolled_bits() {
    let mut s = open_session();
    notify(&mut s, 5, &job(0x33, 8), true);
    let (r, _) = feed(&mut s, submit_standard(1, 1, 5, 0x2000_0000 | 0x0000_e000));
    assert_eq!(
        r,
        Ok(Some(Event::Submit {
            seq: 1,
            job: 5,
            extranonce2: heapless::Vec::from_slice(&[0; 4]).unwrap(),
            ntime: 0x6500_0010,
            nonce: 0x1234_5678,
            version_bits: Some(0xe000),
        }))
    );
    // A bit outside the mask is passed on whole, for the core to refuse.
    let (r, _) = feed(&mut s, submit_standard(1, 2, 5, 0x2000_0001));
    assert!(matches!(
        r,
        Ok(Some(Event::Submit {
            version_bits: Some(0x2000_0001),
            ..
        }))
    ));
    // Another channel id never reaches the core.
    let (r, out) = feed(&mut s, submit_standard(9, 3, 5, 0x2000_0000));
    assert_eq!(r, Ok(Some(Event::Malformed)));
    assert_eq!(frames(&out)[0].0.msg_type, msg::types::SUBMIT_SHARES_ERROR);
}

#[test]
fn test_open_core_answers_become_success_and_error_frames() {
    let mut s = open_session();
    let mut out = Vec::new();
    s.write(&mut out, &ToMiner::SetDifficulty(Difficulty::ONE));
    s.write(&mut out, &reply("41", Answer::True));
    s.write(&mut out, &reply("42", Answer::Refused(Refusal::Stale)));
    let f = frames(&out);
    assert_eq!(
        msg::decode(&f[0].0, &f[0].1).unwrap(),
        Incoming::SetTarget {
            channel_id: 1,
            max_target: Difficulty::ONE.target().0
        }
    );
    assert_eq!(
        msg::decode(&f[1].0, &f[1].1).unwrap(),
        Incoming::SharesAccepted {
            channel_id: 1,
            last_sequence_number: 41,
            count: 1,
            shares_sum: 1
        }
    );
    assert_eq!(
        msg::decode(&f[2].0, &f[2].1).unwrap(),
        Incoming::ShareRejected {
            channel_id: 1,
            sequence_number: 42,
            code: b"stale-share"
        }
    );
}

#[test]
fn test_open_second_channel_refused() {
    let mut s = open_session();
    let (r, out) = feed(&mut s, open_standard);
    assert_eq!(r, Ok(None));
    assert_eq!(
        frames(&out)[0].0.msg_type,
        msg::types::OPEN_MINING_CHANNEL_ERROR
    );
}

#[test]
fn test_open_target_never_easier_than_max_target() {
    let mut s = Sv2Miner::new(peer());
    let _ = feed(&mut s, setup(0));
    let max = Difficulty::ONE.scale(1000, 1).target().0;
    let _ = feed(&mut s, |o| {
        msg::open_extended_channel(o, 3, "w", 0, &max, 2).unwrap()
    });
    let mut out = Vec::new();
    s.write(&mut out, &reply(REQ_CONFIGURE, Answer::Configure(None)));
    s.write(
        &mut out,
        &reply(
            REQ_SUBSCRIBE,
            Answer::Subscribe {
                session: 1,
                tag: [1, 2],
                e2_size: 4,
            },
        ),
    );
    s.write(&mut out, &reply(REQ_AUTHORIZE, Answer::True));
    out.clear();
    s.write(&mut out, &ToMiner::SetDifficulty(Difficulty::ONE));
    let f = frames(&out);
    assert_eq!(
        msg::decode(&f[0].0, &f[0].1).unwrap(),
        Incoming::SetTarget {
            channel_id: 1,
            max_target: max
        }
    );
}

#[test]
fn test_opening_core_refusal_is_told_then_next_message_closes() {
    let mut s = Sv2Miner::new(peer());
    let _ = feed(&mut s, setup(0));
    let _ = feed(&mut s, open_standard);
    let mut out = Vec::new();
    s.write(
        &mut out,
        &reply(REQ_SUBSCRIBE, Answer::Refused(Refusal::AlreadySubscribed)),
    );
    let f = frames(&out);
    assert_eq!(f[0].0.msg_type, msg::types::OPEN_MINING_CHANNEL_ERROR);
    out.clear();
    s.write(&mut out, &reply(REQ_AUTHORIZE, Answer::True));
    assert!(out.is_empty(), "no Success for a refused channel");
    let (r, _) = feed(&mut s, submit_standard(1, 0, 1, 0x2000_0000));
    assert!(matches!(r, Err(Close::Channel(_))), "{r:?}");
}
