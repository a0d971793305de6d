//! The SV2 miner session on its own: frames in, events and frames out, read back with the
//! client-side decoder (`wire::sv2::msg::decode`, checked against the SRI crates elsewhere).

use super::*;
use crate::core::{Answer, Refusal};
use crate::wire::sv2::msg::{Incoming, Writer, HEADER_LEN};
use crate::work::job::{Job, JobOrigin, JobParts, Variant};
use crate::work::Difficulty;
use std::rc::Rc;

/// The core miner the connection was admitted with, and one admitted for a second channel.
const M1: MinerId = 5;
const M2: MinerId = 6;

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

/// Feed one plain frame built by `build`: what the runtime is told, and the answer frames.
fn feed_out(
    s: &mut Sv2Miner,
    build: impl FnOnce(&mut Vec<u8>),
) -> (Result<Option<Output>, Close>, Vec<u8>) {
    let mut f = Vec::new();
    build(&mut f);
    let (h, p) = frames(&f).remove(0);
    let mut out = Vec::new();
    let r = s.on_frame(&h, &p, &mut out);
    (r, out)
}

/// As [`feed_out`], for frames of the first channel: the event for core miner `M1`.
fn feed(
    s: &mut Sv2Miner,
    build: impl FnOnce(&mut Vec<u8>),
) -> (Result<Option<Event>, Close>, Vec<u8>) {
    let (r, out) = feed_out(s, build);
    let r = r.map(|o| {
        o.map(|o| match o {
            Output::Core(M1, ev) => ev,
            other => panic!("not for the first channel: {other:?}"),
        })
    });
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
    open_standard_req(7)(out)
}

fn open_standard_req(request_id: u32) -> impl FnOnce(&mut Vec<u8>) {
    move |out| open_standard_frame(out, request_id)
}

fn open_standard_frame(out: &mut Vec<u8>, request_id: u32) {
    let mut w = Writer::frame(out, msg::types::OPEN_STANDARD_MINING_CHANNEL, false);
    w.u32(request_id)
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
    let mut s = Sv2Miner::new(peer(), M1);
    assert_eq!(feed(&mut s, setup(0)).0, Ok(None));
    let (r, _) = feed(&mut s, open_standard);
    assert!(matches!(r, Ok(Some(Event::Open { .. }))));
    let mut out = Vec::new();
    s.write(
        M1,
        &mut out,
        &reply(REQ_CONFIGURE, Answer::Configure(Some(SV2_VERSION_MASK))),
    );
    s.write(
        M1,
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
    s.write(M1, &mut out, &reply(REQ_AUTHORIZE, Answer::True));
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
        M1,
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
    let mut s = Sv2Miner::new(peer(), M1);
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
    let mut s = Sv2Miner::new(peer(), M1);
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
    let mut s = Sv2Miner::new(peer(), M1);
    for _ in 0..MAX_BAD_FRAMES {
        assert_eq!(feed(&mut s, open_standard).0, Ok(None));
    }
    assert_eq!(feed(&mut s, open_standard).0, Err(Close::TooManyBadFrames));
}

#[test]
fn test_ready_extended_asking_too_much_extranonce_refused() {
    let mut s = Sv2Miner::new(peer(), M1);
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
    let mut s = Sv2Miner::new(peer(), M1);
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
    s.write(M1, &mut out, &ToMiner::SetDifficulty(Difficulty::ONE));
    s.write(M1, &mut out, &reply("41", Answer::True));
    s.write(M1, &mut out, &reply("42", Answer::Refused(Refusal::Stale)));
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
fn test_open_target_never_easier_than_max_target() {
    let mut s = Sv2Miner::new(peer(), M1);
    let _ = feed(&mut s, setup(0));
    let max = Difficulty::ONE.scale(1000, 1).target().0;
    let _ = feed(&mut s, |o| {
        msg::open_extended_channel(o, 3, "w", 0, &max, 2).unwrap()
    });
    let mut out = Vec::new();
    s.write(M1, &mut out, &reply(REQ_CONFIGURE, Answer::Configure(None)));
    s.write(
        M1,
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
    s.write(M1, &mut out, &reply(REQ_AUTHORIZE, Answer::True));
    out.clear();
    s.write(M1, &mut out, &ToMiner::SetDifficulty(Difficulty::ONE));
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
fn test_opening_core_refusal_is_told_and_the_channel_ends() {
    let mut s = Sv2Miner::new(peer(), M1);
    let _ = feed(&mut s, setup(0));
    let _ = feed(&mut s, open_standard);
    let mut out = Vec::new();
    let step = s.write(
        M1,
        &mut out,
        &reply(REQ_SUBSCRIBE, Answer::Refused(Refusal::AlreadySubscribed)),
    );
    assert!(matches!(step, Step::Ended(_)), "{step:?}");
    let f = frames(&out);
    assert_eq!(f[0].0.msg_type, msg::types::OPEN_MINING_CHANNEL_ERROR);
    assert_eq!(
        s.any_miner(),
        None,
        "the refused channel's core miner is let go"
    );
    out.clear();
    s.write(M1, &mut out, &reply(REQ_AUTHORIZE, Answer::True));
    assert!(out.is_empty(), "no Success for a refused channel");
    let (r, out) = feed_out(&mut s, submit_standard(1, 0, 1, 0x2000_0000));
    assert_eq!(r, Ok(None), "nothing to count it against");
    assert_eq!(frames(&out)[0].0.msg_type, msg::types::SUBMIT_SHARES_ERROR);
}

/// Answer channel `mid`'s three opening requests (tag, extranonce2 4 bytes): its Success.
fn answer_open(s: &mut Sv2Miner, mid: MinerId, tag: [u8; 2]) -> Vec<(Header, Vec<u8>)> {
    let mut out = Vec::new();
    s.write(
        mid,
        &mut out,
        &reply(REQ_CONFIGURE, Answer::Configure(None)),
    );
    let sub = Answer::Subscribe {
        session: mid,
        tag,
        e2_size: 4,
    };
    s.write(mid, &mut out, &reply(REQ_SUBSCRIBE, sub));
    s.write(mid, &mut out, &reply(REQ_AUTHORIZE, Answer::True));
    frames(&out)
}

#[test]
fn test_open_second_channel_gets_its_own_core_miner_and_id() {
    let mut s = open_session();
    let (r, out) = feed_out(&mut s, open_standard_req(8));
    assert!(out.is_empty());
    let Ok(Some(Output::Admit(ch, Event::Open { .. }))) = r else {
        panic!("{r:?}")
    };
    assert_eq!(ch, 2);
    // Only one channel opens at a time.
    let (r, out) = feed_out(&mut s, open_standard_req(9));
    assert_eq!(r, Ok(None));
    assert_eq!(
        msg::decode(&frames(&out)[0].0, &frames(&out)[0].1).unwrap(),
        Incoming::ChannelOpenError {
            request_id: 9,
            code: b"channel-capacity-exhausted"
        }
    );
    s.bind(ch, M2);
    let f = answer_open(&mut s, M2, [3, 4]);
    let mut r = msg::Reader::new(&f[0].1);
    assert_eq!(
        f[0].0.msg_type,
        msg::types::OPEN_STANDARD_MINING_CHANNEL_SUCCESS
    );
    assert_eq!(
        (r.u32().unwrap(), r.u32().unwrap()),
        (8, 2),
        "request 8 -> channel 2"
    );
    // Each channel's jobs carry its own id and its own merkle root (its own tag).
    let j = job(0x33, 8);
    let mut out = Vec::new();
    let n = |out: &mut Vec<u8>, s: &mut Sv2Miner, mid| {
        s.write(
            mid,
            out,
            &ToMiner::Notify {
                id: 5,
                job: j.clone(),
                variant: Variant(0),
                e2_size: 4,
                clean: true,
            },
        )
    };
    n(&mut out, &mut s, M1);
    n(&mut out, &mut s, M2);
    let f = frames(&out);
    let root = |i: usize| {
        let mut r = msg::Reader::new(&f[i].1);
        let ch = r.u32().unwrap();
        r.u32().unwrap();
        r.option_u32().unwrap();
        r.u32().unwrap();
        (ch, r.u256().unwrap())
    };
    assert_eq!(
        root(0),
        (1, j.merkle_root_for(&[1, 2], &[0; 4], Variant(0)))
    );
    assert_eq!(
        root(2),
        (2, j.merkle_root_for(&[3, 4], &[0; 4], Variant(0)))
    );
    // Shares are routed by channel id to their own core miner.
    let (r, _) = feed_out(&mut s, submit_standard(2, 1, 5, 0x2000_0000));
    assert!(
        matches!(r, Ok(Some(Output::Core(M2, Event::Submit { .. })))),
        "{r:?}"
    );
    let (r, _) = feed_out(&mut s, submit_standard(1, 2, 5, 0x2000_0000));
    assert!(
        matches!(r, Ok(Some(Output::Core(M1, Event::Submit { .. })))),
        "{r:?}"
    );
    // Closing one channel lets its core miner go; closing the last ends the connection.
    let close = |ch: u32| {
        move |o: &mut Vec<u8>| {
            let mut w = Writer::frame(o, msg::types::CLOSE_CHANNEL, true);
            w.u32(ch).str0_255(b"bye");
            w.finish().unwrap();
        }
    };
    assert_eq!(feed_out(&mut s, close(1)).0, Ok(Some(Output::Closed(M1))));
    assert_eq!(s.miners().collect::<Vec<_>>(), vec![M2]);
    let (r, out) = feed_out(&mut s, submit_standard(1, 3, 5, 0x2000_0000));
    assert_eq!(r, Ok(Some(Output::Core(M2, Event::Malformed))));
    assert_eq!(frames(&out)[0].0.msg_type, msg::types::SUBMIT_SHARES_ERROR);
    assert_eq!(feed_out(&mut s, close(2)).0, Err(Close::ChannelClosed));
}

#[test]
fn test_ready_channel_the_core_has_no_room_for_is_refused() {
    let mut s = open_session();
    let (r, _) = feed_out(&mut s, open_standard_req(8));
    let Ok(Some(Output::Admit(ch, _))) = r else {
        panic!("{r:?}")
    };
    let mut out = Vec::new();
    s.refuse(ch, &mut out);
    assert_eq!(
        msg::decode(&frames(&out)[0].0, &frames(&out)[0].1).unwrap(),
        Incoming::ChannelOpenError {
            request_id: 8,
            code: b"channel-capacity-exhausted"
        }
    );
    assert_eq!(s.channel_count(), 1);
    // The next request may try again.
    let (r, _) = feed_out(&mut s, open_standard_req(10));
    assert!(matches!(r, Ok(Some(Output::Admit(3, _)))), "{r:?}");
}
