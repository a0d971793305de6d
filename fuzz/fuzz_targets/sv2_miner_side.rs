//! hashmux as the Stratum V2 server of one miner: the Noise responder's transport
//! (`noise::respond`) and the miner session (`downstream::sv2::Sv2Miner`) together, as the
//! runtime (src/runtime/sv2miners.rs) drives them.
//!
//! The handshake is done once with real keys from the deterministic test source (our
//! `respond` answering our `Initiator`, certificate signed by a test authority); each run
//! starts from clones of both fresh transports and a new session, so runs are independent.
//! The target plays the miner (the initiator's side) and the core (the `ToMiner` messages).
//!
//! Input: steps until the input ends (at most [`MAX_STEPS`]), each an op byte whose low three
//! bits pick the step:
//! - 0, 1: a genuine frame: a message (see [`message`]) sealed by the miner's side;
//! - 2: a genuine frame of any type: extension u16 ‖ type u8 ‖ length u16 (mod cap + 1) ‖
//!   payload (what is left of the input, repeated to the length);
//! - 3: a tampered frame: a message (op bit 3: a raw frame as in 2) ‖ position u16 ‖ bit u8;
//! - 4: garbage: op bit 3: length u8 → 22 + length % 64 bytes where a frame should be; else
//!   a message whose sealed header is followed by garbage in place of its payload;
//! - 5: a frame that claims more than `MAX_MINER_PAYLOAD`: extension u16 ‖ type u8 ‖ excess
//!   u24 ‖ count u8 ‖ that many bytes (mod 64) after the header; ends the connection;
//! - 6, 7: a message from the core for this miner (see [`to_miner`]).
//!
//! Frames are read as `runtime::sv2link::read_frame` reads them: the 22-byte encrypted
//! header, the length cap, then `ciphertext_len(len)` bytes. Every plaintext that opens goes
//! to `Sv2Miner::on_frame`; every byte `on_frame` and `write` produce is sealed the way
//! `sv2link::seal_frames` seals it and opened on the miner's side.
//!
//! Properties, beyond "never panics":
//! - transport: a genuine frame opens to exactly its header and plaintext; a tampered or
//!   garbage frame is refused (`NoiseError::Decrypt`) without advancing the receive nonce
//!   (the genuine frame sent again then opens; the runtime itself drops the connection); a
//!   frame claiming more than the cap is refused right after its header, before a byte of
//!   its payload is read;
//! - session output: every byte `on_frame` or `write` produces is a sequence of whole
//!   frames (header length = payload length), extension 0, the channel bit as
//!   src/wire/sv2/server.rs documents it per type, each read back by the client side's
//!   `msg::decode` (or, for the two standard-channel messages it does not read, field by
//!   field with `msg::Reader`) without error or leftover bytes, and only of the types a server
//!   sends; each opens on the miner's side to the same bytes;
//! - session state: SetupConnection.Success at most once and before any channel; an
//!   `Event::Open` only after it, and at most once for the connection's own core miner
//!   (a further channel is an `Output::Admit`, which this harness refuses as a full core
//!   would: the miner must be told); a channel's Success only once the core
//!   answered all three opening requests (`REQ_CONFIGURE`, `REQ_SUBSCRIBE`,
//!   `REQ_AUTHORIZE`), for the request id and kind the miner asked, with the extranonce the
//!   core gave and a target never easier than the miner's `max_target`; jobs, SetNewPrevHash
//!   (right after its job) and SetTarget (never easier than `max_target`) only on the open
//!   channel; an `Event::Submit` only after the channel's Success, on channel 1, carrying the
//!   share's own fields; `Event::Malformed` only for share messages; `Close::Setup` comes
//!   with its SetupConnection.Error, `Close::ChannelClosed` only for channel 1; a channel the
//!   core refuses (`Step::Ended`) was never open and sends nothing more; a `Close` ends the run.
//!
//! Determinism: nothing reads a clock, randomness or state left by an earlier run (the keys
//! are made once from fixed seeds). With `SV2_MINER_SIDE_TWICE=1` in the environment every
//! input is run twice and the two transcripts (events, frames, closes) must be equal;
//! `SV2_MINER_SIDE_TRACE=1` prints each input's transcript instead (to read a reproducer).
#![no_main]

use hashmux::core::{Answer, Refusal, ReqId, ToMiner};
use hashmux::downstream::sv2::{
    Close, Event, Output, Step, Sv2Miner, MAX_MINER_PAYLOAD, REQ_AUTHORIZE, REQ_CONFIGURE,
    REQ_SUBSCRIBE,
};
use hashmux::wire::sv2::msg::{self, types, Header, Incoming, Reader, Writer, HEADER_LEN};
use hashmux::wire::sv2::noise::{
    ciphertext_len, respond, sign_certificate, CertificateFields, Initiator, NoiseError, Transport,
    CERT_VERSION, HEADER_CT_LEN,
};
use hashmux::wire::sv2::secp::{ellswift_decode, xonly_public, xorshift_source, Keypair};
use hashmux::wire::sv2::server::{self, FromMiner};
use hashmux::work::job::{Job, JobOrigin, JobParts, Variant, MAX_MINER_E2, MIN_MINER_E2, TAG_SIZE};
use hashmux::work::{Difficulty, Target};
use libfuzzer_sys::fuzz_target;
use std::rc::Rc;
use std::sync::OnceLock;

const MAX_STEPS: usize = 256;
const NOW: u32 = 1_800_000_000;
/// The session's one channel.
const CHANNEL_ID: u32 = 1;
/// The core miner the connection was admitted with.
const MID: u32 = 7;
/// Recent job ids and share sequence numbers kept for picking.
const KEEP: usize = 16;

/// (hashmux's transport, the miner's transport) right after the handshake.
fn session() -> &'static (Transport, Transport) {
    static S: OnceLock<(Transport, Transport)> = OnceLock::new();
    S.get_or_init(|| {
        let mut next = xorshift_source(0x05e5_510e_50fa_11ce);
        let authority_secret = next();
        let static_key = Keypair::from_random(xorshift_source(0x0057_a71c));
        let ephemeral = Keypair::from_random(xorshift_source(0x000e_94e3_e4a1));
        let miner_e = Keypair::from_random(xorshift_source(0x3_14e4));
        let (valid_from, not_valid_after) = (NOW - 86_400, NOW + 86_400);
        let cert = CertificateFields {
            version: CERT_VERSION,
            valid_from,
            not_valid_after,
            signature: sign_certificate(
                &authority_secret,
                CERT_VERSION,
                valid_from,
                not_valid_after,
                &ellswift_decode(&static_key.ellswift),
                &next(),
            ),
        };
        let (init, act1) = Initiator::start(xonly_public(&authority_secret), miner_e);
        let (ours, act2) = respond(&act1, &static_key, ephemeral, &cert).expect("respond");
        let (theirs, got) = init.finish(&act2, NOW).expect("the miner accepts act 2");
        assert_eq!(got.valid_from, valid_from);
        (ours, theirs)
    })
}

/// The input; every read past its end is `None` and ends the step.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let a: [u8; N] = self.0.get(..N)?.try_into().ok()?;
        self.0 = &self.0[N..];
        Some(a)
    }
    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }
    fn u24(&mut self) -> Option<u32> {
        let [a, b, c] = self.array()?;
        Some(u32::from_le_bytes([a, b, c, 0]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }
    /// Up to `n` bytes (fewer if the input ends).
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
    /// Exactly `n` bytes: what is left of the input (up to `n`), repeated; zeros if nothing.
    fn fill(&mut self, n: usize) -> Vec<u8> {
        let p = self.take(n);
        if p.is_empty() {
            return vec![0; n];
        }
        p.iter().copied().cycle().take(n).collect()
    }
}

/// What the harness knows of the session from what it sent and what came back.
#[derive(Default)]
struct Model {
    /// SetupConnection.Success was sent.
    setup_ok: bool,
    /// The channel asked for (`Event::Open`): request id, extended, max_target.
    asked: Option<(u32, bool, [u8; 32])>,
    /// The core's answers since the channel was asked for.
    mask: Option<Option<u32>>,
    sub: Option<([u8; TAG_SIZE], usize)>,
    authorized: bool,
    /// The channel's Success was sent.
    open: bool,
    /// The channel was refused after it was asked for: nothing more is sent on it.
    gone: bool,
    /// Job ids the session sent, share sequence numbers it handed over.
    jobs: Vec<u32>,
    seqs: Vec<u32>,
    /// The code of the last SetupConnection.Error sent.
    setup_error: Option<Vec<u8>>,
}

fn remember(v: &mut Vec<u32>, x: u32) {
    if v.len() == KEEP {
        v.remove(0);
    }
    v.push(x);
}

/// A read refused, as `sv2link::read_frame` refuses it.
#[derive(Debug, PartialEq, Eq)]
enum ReadError {
    /// The connection ended inside a frame (not expected here).
    Eof,
    Noise(NoiseError),
    /// The header claims more than the cap; nothing after the header was read.
    TooLong(usize),
}

fn take<'a>(wire: &mut &'a [u8], n: usize) -> Result<&'a [u8], ReadError> {
    if wire.len() < n {
        return Err(ReadError::Eof);
    }
    let (a, b) = wire.split_at(n);
    *wire = b;
    Ok(a)
}

/// One frame off `wire` as the runtime reads it: the encrypted header, the cap, then exactly
/// `ciphertext_len(len)` bytes; the plaintext is `payload[..len]`.
fn read_frame(
    wire: &mut &[u8],
    t: &mut Transport,
    payload: &mut Vec<u8>,
) -> Result<Header, ReadError> {
    let hct: [u8; HEADER_CT_LEN] = take(wire, HEADER_CT_LEN)?.try_into().unwrap();
    let h = Header::parse(&t.open_header(&hct).map_err(ReadError::Noise)?);
    let len = h.len as usize;
    if len > MAX_MINER_PAYLOAD {
        return Err(ReadError::TooLong(len));
    }
    payload.clear();
    payload.extend_from_slice(take(wire, ciphertext_len(len))?);
    let n = t.open_payload(payload).map_err(ReadError::Noise)?;
    assert_eq!(
        n, len,
        "a frame opened to a plaintext of another length than its header's"
    );
    Ok(h)
}

fn header(extension: u16, channel: bool, msg_type: u8, len: usize) -> [u8; HEADER_LEN] {
    Header {
        extension: extension & 0x7fff,
        channel_msg: channel,
        msg_type,
        len: len as u32,
    }
    .bytes()
}

/// A frame's (header, payload) from a buffer holding exactly one frame.
fn split(f: Vec<u8>) -> ([u8; HEADER_LEN], Vec<u8>) {
    (
        f[..HEADER_LEN].try_into().unwrap(),
        f[HEADER_LEN..].to_vec(),
    )
}

fn max_target(b: &mut Bytes<'_>) -> Option<[u8; 32]> {
    Some(match b.u8()? % 4 {
        0 => [0xff; 32],
        1 => b.array()?,
        2 => Difficulty::ONE.target().0,
        _ => [0; 32],
    })
}

/// A message from the miner. k: bits 0-2 the message (SetupConnection, OpenStandard,
/// OpenExtended, SubmitStandard, SubmitExtended, UpdateChannel, CloseChannel, any other type),
/// bits 3-4 a tweak (none, drop the last payload byte, append a zero byte, flip the channel
/// bit), bit 5 a channel id from the input (else 1), bit 6 a job id from the input (else one
/// the session sent, picked by a byte).
fn message(b: &mut Bytes<'_>, m: &Model) -> Option<([u8; HEADER_LEN], Vec<u8>)> {
    let k = b.u8()?;
    let mut f = Vec::new();
    let channel = |b: &mut Bytes<'_>| {
        if k & 0x20 != 0 {
            b.u32()
        } else {
            Some(CHANNEL_ID)
        }
    };
    match k % 8 {
        0 => {
            let sel = b.u8()?;
            let protocol = if sel & 1 != 0 { b.u8()? } else { 0 };
            let (min, max) = if sel & 2 != 0 {
                (b.u16()?, b.u16()?)
            } else {
                (2, 2)
            };
            let flags = if sel & 4 != 0 { b.u32()? } else { 0 };
            let mut s = Vec::new();
            for _ in 0..5 {
                let n = b.u8()? as usize % 48;
                s.push(b.take(n));
            }
            let mut w = Writer::frame(&mut f, types::SETUP_CONNECTION, false);
            w.u8(protocol)
                .u16(min)
                .u16(max)
                .u32(flags)
                .str0_255(s[0])
                .u16(3336)
                .str0_255(s[1])
                .str0_255(s[2])
                .str0_255(s[3])
                .str0_255(s[4]);
            w.finish().ok()?;
        }
        1 | 2 => {
            let extended = k % 8 == 2;
            let request_id = b.u32()?;
            let n = b.u8()? as usize % 80;
            let user = b.take(n);
            let rate = b.u32()?;
            let target = max_target(b)?;
            let t = if extended {
                types::OPEN_EXTENDED_MINING_CHANNEL
            } else {
                types::OPEN_STANDARD_MINING_CHANNEL
            };
            let mut w = Writer::frame(&mut f, t, false);
            w.u32(request_id).str0_255(user).u32(rate).u256(&target);
            if extended {
                let e = b.u8()?;
                w.u16(if e & 0x80 != 0 {
                    b.u16()?
                } else {
                    e as u16 % 8
                });
            }
            w.finish().ok()?;
        }
        3 | 4 => {
            let extended = k % 8 == 4;
            let channel_id = channel(b)?;
            let seq = b.u32()?;
            let job = if k & 0x40 != 0 || m.jobs.is_empty() {
                b.u32()?
            } else {
                m.jobs[b.u8()? as usize % m.jobs.len()]
            };
            let (nonce, ntime, version) = (b.u32()?, b.u32()?, b.u32()?);
            let t = if extended {
                types::SUBMIT_SHARES_EXTENDED
            } else {
                types::SUBMIT_SHARES_STANDARD
            };
            let mut w = Writer::frame(&mut f, t, true);
            w.u32(channel_id)
                .u32(seq)
                .u32(job)
                .u32(nonce)
                .u32(ntime)
                .u32(version);
            if extended {
                // Up to 35 bytes: a B0_32 longer than 32 must be refused.
                let n = b.u8()? as usize % 36;
                w.b0_255(b.take(n));
            }
            w.finish().ok()?;
        }
        5 => {
            let channel_id = channel(b)?;
            let rate = b.u32()?;
            let target = max_target(b)?;
            let mut w = Writer::frame(&mut f, types::UPDATE_CHANNEL, true);
            w.u32(channel_id).u32(rate).u256(&target);
            w.finish().ok()?;
        }
        6 => {
            let channel_id = channel(b)?;
            let n = b.u8()? as usize % 32;
            let mut w = Writer::frame(&mut f, types::CLOSE_CHANNEL, true);
            w.u32(channel_id).str0_255(b.take(n));
            w.finish().ok()?;
        }
        _ => {
            let ext = b.u16()?;
            let t = b.u8()?;
            let n = b.u8()? as usize;
            let p = b.take(n);
            f.extend_from_slice(&header(ext, ext & 0x8000 != 0, t, p.len()));
            f.extend_from_slice(p);
        }
    }
    let (h, mut p) = split(f);
    let mut h = Header::parse(&h);
    match (k >> 3) & 3 {
        0 => {}
        1 => {
            p.pop();
        }
        2 => p.push(0),
        _ => h.channel_msg = !h.channel_msg,
    }
    h.len = p.len() as u32;
    Some((h.bytes(), p))
}

/// A frame of any header fields and payload within the cap.
fn raw(b: &mut Bytes<'_>) -> Option<([u8; HEADER_LEN], Vec<u8>)> {
    let ext = b.u16()?;
    let t = b.u8()?;
    let len = b.u16()? as usize % (MAX_MINER_PAYLOAD + 1);
    let p = b.fill(len);
    Some((header(ext, ext & 0x8000 != 0, t, len), p))
}

fn refusal(b: &mut Bytes<'_>) -> Option<Refusal> {
    Some(match b.u8()? % 11 {
        0 => Refusal::NotSubscribed,
        1 => Refusal::Unauthorized,
        2 => Refusal::AlreadySubscribed,
        3 => Refusal::JobNotFound,
        4 => Refusal::Stale,
        5 => Refusal::BadExtranonce2 { size: 4 },
        6 => Refusal::VersionOutsideMask,
        7 => Refusal::NoVersionRolling,
        8 => Refusal::LowDifficulty,
        9 => Refusal::Duplicate,
        _ => Refusal::NtimeOutOfRange,
    })
}

fn reply(req: &str, answer: Answer) -> ToMiner {
    ToMiner::Reply {
        req: ReqId::try_from(req).unwrap(),
        answer,
    }
}

/// A message from the core, within what the core sends (src/core): replies to the three
/// opening requests, verdicts for share sequence numbers, difficulties, jobs that fit the
/// miner's extranonce2 size (2–4 bytes). k: bits 0-3 mod 10 the message: Configure (bit 7:
/// a mask u32 follows, else version rolling refused), Subscribe, Authorize, one of the three
/// (bits 4-5 mod 3) refused, share accepted, share refused (bit 7: the sequence number is a
/// u32, else a byte picks one the session handed over), SetDifficulty, Notify (7 and 8),
/// SetVersionMask or (bit 7) Close.
fn to_miner(b: &mut Bytes<'_>, m: &Model) -> Option<ToMiner> {
    let k = b.u8()?;
    let seq = |b: &mut Bytes<'_>| -> Option<String> {
        let s = if k & 0x80 != 0 || m.seqs.is_empty() {
            b.u32()?
        } else {
            m.seqs[b.u8()? as usize % m.seqs.len()]
        };
        Some(s.to_string())
    };
    Some(match (k & 0x0f) % 10 {
        0 => {
            let mask = if k & 0x80 != 0 { Some(b.u32()?) } else { None };
            reply(REQ_CONFIGURE, Answer::Configure(mask))
        }
        1 => {
            let session = b.u32()?;
            let tag = b.array()?;
            let e2_size = MIN_MINER_E2 + b.u8()? as usize % (MAX_MINER_E2 - MIN_MINER_E2 + 1);
            reply(
                REQ_SUBSCRIBE,
                Answer::Subscribe {
                    session,
                    tag,
                    e2_size,
                },
            )
        }
        2 => reply(REQ_AUTHORIZE, Answer::True),
        3 => {
            let req = [REQ_CONFIGURE, REQ_SUBSCRIBE, REQ_AUTHORIZE][(k as usize >> 4 & 3) % 3];
            reply(req, Answer::Refused(refusal(b)?))
        }
        4 => reply(&seq(b)?, Answer::True),
        5 => {
            let s = seq(b)?;
            reply(&s, Answer::Refused(refusal(b)?))
        }
        6 => {
            let e = b.u8()?;
            ToMiner::SetDifficulty(if e < 64 {
                Difficulty(1 << e)
            } else {
                Difficulty((b.u32()? as u64 * e as u64).max(1))
            })
        }
        7 | 8 => notify(b, m)?,
        _ => {
            if k & 0x80 != 0 {
                ToMiner::Close
            } else {
                ToMiner::SetVersionMask(b.u32()?)
            }
        }
    })
}

/// A small valid job: flags (bits 0-1 the miner's extranonce2 size when none was given,
/// bits 2-3 branches, bit 4 clean, bits 5-6 which of four prevhashes) ‖ job id u32 ‖ pool
/// padding u8 ‖ extranonce1 length u8 ‖ coinb1 and coinb2 lengths u8 ‖ version u32 ‖ ntime
/// u32 ‖ variant u16.
fn notify(b: &mut Bytes<'_>, m: &Model) -> Option<ToMiner> {
    let flags = b.u8()?;
    let id = b.u32()?;
    let e2_size = m
        .sub
        .map_or(MIN_MINER_E2 + (flags as usize & 3) % 3, |(_, e2)| e2);
    let pad = b.u8()? as usize % (32 - TAG_SIZE - e2_size + 1);
    let e1 = vec![0xe1; b.u8()? as usize % 9];
    let coinb1 = vec![0x11; b.u8()? as usize % 65];
    let coinb2 = vec![0x22; b.u8()? as usize % 65];
    let branches: Vec<u8> = (0..(flags >> 2) % 4).flat_map(|i| [i; 32]).collect();
    let (version, ntime) = (b.u32()?, b.u32()?);
    let variant = Variant(b.u16()? as u32);
    let parts = JobParts {
        id,
        prevhash: [(flags >> 5) & 3; 32],
        coinb1: &coinb1,
        coinb2: &coinb2,
        branches: &branches,
        version,
        nbits: 0x1d00_ffff,
        ntime,
        clean: flags & 0x10 != 0,
    };
    let origin = JobOrigin {
        pool: 0,
        conn_gen: 1,
        epoch: 1,
        extranonce1: heapless::Vec::from_slice(&e1).unwrap(),
        extranonce2_size: TAG_SIZE + e2_size + pad,
        difficulty: Difficulty::ONE,
        serial: id as u64,
    };
    let job = Job::from_parts(&parts, origin).expect("a small job is valid");
    assert!(job.fits(e2_size));
    Some(ToMiner::Notify {
        id,
        job: Rc::new(job),
        variant,
        e2_size,
        clean: flags & 0x10 != 0,
    })
}

/// Whether a message the server sends is about one channel (server.rs's list).
fn channel_bit(msg_type: u8) -> bool {
    match msg_type {
        types::SETUP_CONNECTION_SUCCESS
        | types::SETUP_CONNECTION_ERROR
        | types::OPEN_STANDARD_MINING_CHANNEL_SUCCESS
        | types::OPEN_EXTENDED_MINING_CHANNEL_SUCCESS
        | types::OPEN_MINING_CHANNEL_ERROR => false,
        types::NEW_MINING_JOB
        | types::NEW_EXTENDED_MINING_JOB
        | types::SET_NEW_PREV_HASH
        | types::SET_TARGET
        | types::SUBMIT_SHARES_SUCCESS
        | types::SUBMIT_SHARES_ERROR
        | types::UPDATE_CHANNEL_ERROR => true,
        t => panic!("the session sent message type {t:#04x}, which a server never sends"),
    }
}

/// A target no easier than `max`.
fn assert_within(target: &[u8; 32], max: &[u8; 32]) {
    assert!(
        Target(*max).is_met_by(target),
        "target {target:02x?} is easier than the miner's max_target {max:02x?}"
    );
}

struct Run {
    miner: Sv2Miner,
    /// hashmux's transport (the responder's) and the miner's (the initiator's).
    ours: Transport,
    theirs: Transport,
    m: Model,
    out: Vec<u8>,
    payload: Vec<u8>,
    wire: Vec<u8>,
    trace: Option<Vec<u8>>,
}

enum Flow {
    Go,
    Stop,
}

impl Run {
    fn new(trace: bool) -> Run {
        let (ours, theirs) = session();
        Run {
            miner: Sv2Miner::new(([192, 168, 1, 20], 4000).into(), MID),
            ours: ours.clone(),
            theirs: theirs.clone(),
            m: Model::default(),
            out: Vec::new(),
            payload: Vec::new(),
            wire: Vec::new(),
            trace: trace.then(Vec::new),
        }
    }

    fn note(&mut self, what: &[u8]) {
        if let Some(t) = &mut self.trace {
            t.extend_from_slice(what);
            t.push(b'\n');
        }
    }

    fn step(&mut self, b: &mut Bytes<'_>) -> Option<Flow> {
        let op = b.u8()?;
        Some(match op % 8 {
            0 | 1 => {
                let (h, p) = message(b, &self.m)?;
                self.genuine(&h, &p)
            }
            2 => {
                let (h, p) = raw(b)?;
                self.genuine(&h, &p)
            }
            3 => {
                let (h, p) = if op & 8 != 0 {
                    raw(b)?
                } else {
                    message(b, &self.m)?
                };
                let (at, bit) = (b.u16()? as usize, b.u8()? % 8);
                self.tampered(&h, &p, at, bit)
            }
            4 => {
                if op & 8 != 0 {
                    let n = HEADER_CT_LEN + b.u8()? as usize % 64;
                    let garbage = b.fill(n);
                    self.garbage_header(&garbage)
                } else {
                    let (h, p) = message(b, &self.m)?;
                    self.garbage_payload(&h, &p, b)
                }
            }
            5 => {
                let ext = b.u16()?;
                let t = b.u8()?;
                let excess = b.u24()? as usize % ((1 << 24) - MAX_MINER_PAYLOAD - 1);
                let n = b.u8()? as usize % 64;
                let after = b.fill(n);
                self.oversize(
                    &header(ext, ext & 0x8000 != 0, t, MAX_MINER_PAYLOAD + 1 + excess),
                    &after,
                )
            }
            _ => {
                let msg = to_miner(b, &self.m)?;
                self.write(&msg);
                Flow::Go
            }
        })
    }

    /// A frame the miner sealed: it opens to exactly what was sent, and goes to the session.
    fn genuine(&mut self, h: &[u8; HEADER_LEN], p: &[u8]) -> Flow {
        assert!(p.len() <= MAX_MINER_PAYLOAD);
        self.wire.clear();
        self.theirs.seal_frame(h, p, &mut self.wire);
        let mut w = &self.wire[..];
        let got = read_frame(&mut w, &mut self.ours, &mut self.payload)
            .unwrap_or_else(|e| panic!("a genuine frame was refused: {e:?}"));
        assert!(w.is_empty(), "the read left {} bytes of the frame", w.len());
        assert_eq!(&got.bytes(), h, "the header opened to other bytes");
        assert!(
            self.payload[..p.len()] == *p,
            "the payload opened to other bytes"
        );
        self.deliver(got)
    }

    /// One bit of a genuine frame flipped: refused, and nothing advanced, so the genuine
    /// frame sent again opens.
    fn tampered(&mut self, h: &[u8; HEADER_LEN], p: &[u8], at: usize, bit: u8) -> Flow {
        self.wire.clear();
        self.theirs.seal_frame(h, p, &mut self.wire);
        let mut bad = self.wire.clone();
        let at = at % bad.len();
        bad[at] ^= 1 << bit;
        let mut w = &bad[..];
        let r = read_frame(&mut w, &mut self.ours, &mut self.payload);
        assert_eq!(
            r,
            Err(ReadError::Noise(NoiseError::Decrypt)),
            "a tampered frame"
        );
        self.note(b"tampered refused");
        if at < HEADER_CT_LEN {
            let mut w = &self.wire[..];
            let got = read_frame(&mut w, &mut self.ours, &mut self.payload)
                .expect("the genuine frame opens after a refused header");
            assert_eq!(&got.bytes(), h);
            assert!(self.payload[..p.len()] == *p);
            self.deliver(got)
        } else {
            // The header opened (its nonce used); the payload's failure used none.
            self.payload.clear();
            self.payload.extend_from_slice(&self.wire[HEADER_CT_LEN..]);
            assert_eq!(self.ours.open_payload(&mut self.payload), Ok(p.len()));
            assert!(self.payload[..p.len()] == *p);
            self.deliver(Header::parse(h))
        }
    }

    /// Bytes that were never sealed where a header should be: refused, nothing advanced.
    fn garbage_header(&mut self, garbage: &[u8]) -> Flow {
        let mut w = garbage;
        let r = read_frame(&mut w, &mut self.ours, &mut self.payload);
        assert_eq!(
            r,
            Err(ReadError::Noise(NoiseError::Decrypt)),
            "a garbage header"
        );
        assert_eq!(
            w.len(),
            garbage.len() - HEADER_CT_LEN,
            "read past the header"
        );
        self.note(b"garbage header refused");
        Flow::Go
    }

    /// A genuine header followed by garbage in place of its payload: refused; the genuine
    /// payload then opens.
    fn garbage_payload(&mut self, h: &[u8; HEADER_LEN], p: &[u8], b: &mut Bytes<'_>) -> Flow {
        self.wire.clear();
        self.theirs.seal_frame(h, p, &mut self.wire);
        if p.is_empty() {
            // No payload to replace: a genuine frame after all.
            let mut w = &self.wire[..];
            let got = read_frame(&mut w, &mut self.ours, &mut self.payload)
                .expect("a genuine frame opens");
            return self.deliver(got);
        }
        // Never compared with the ciphertext: libFuzzer's memcmp hook would hand the
        // ciphertext to the mutator, which could then replay it as "garbage" (the keys are the
        // same in every run).
        let mut bad = self.wire[..HEADER_CT_LEN].to_vec();
        bad.extend_from_slice(&b.fill(self.wire.len() - HEADER_CT_LEN));
        let mut w = &bad[..];
        let r = read_frame(&mut w, &mut self.ours, &mut self.payload);
        assert_eq!(
            r,
            Err(ReadError::Noise(NoiseError::Decrypt)),
            "a garbage payload"
        );
        self.note(b"garbage payload refused");
        self.payload.clear();
        self.payload.extend_from_slice(&self.wire[HEADER_CT_LEN..]);
        assert_eq!(self.ours.open_payload(&mut self.payload), Ok(p.len()));
        assert!(self.payload[..p.len()] == *p);
        self.deliver(Header::parse(h))
    }

    /// A sealed header claiming more than the cap: refused before its payload is read; the
    /// runtime ends the connection.
    fn oversize(&mut self, h: &[u8; HEADER_LEN], after: &[u8]) -> Flow {
        self.wire.clear();
        self.theirs.seal_frame(h, &[], &mut self.wire);
        assert_eq!(self.wire.len(), HEADER_CT_LEN);
        self.wire.extend_from_slice(after);
        let mut w = &self.wire[..];
        let len = Header::parse(h).len as usize;
        let r = read_frame(&mut w, &mut self.ours, &mut self.payload);
        assert_eq!(r, Err(ReadError::TooLong(len)));
        assert!(w == after, "bytes after an oversized header were read");
        self.note(b"oversize refused");
        Flow::Stop
    }

    /// The plaintext `payload[..h.len]` to the session, as the runtime hands it over.
    fn deliver(&mut self, h: Header) -> Flow {
        let len = h.len as usize;
        let p = self.payload[..len].to_vec();
        self.out.clear();
        let r = self.miner.on_frame(&h, &p, &mut self.out);
        self.check_out();
        if self.trace.is_some() {
            let note = format!("frame {h:?} -> {r:?}");
            self.note(note.as_bytes());
        }
        let sent = server::decode_from_miner(&h, &p);
        match r {
            Ok(None) => Flow::Go,
            Ok(Some(Output::Core(mid, ev))) => {
                assert_eq!(mid, MID, "an event for a core miner the connection does not hold");
                self.event(&h, sent.ok(), &ev);
                Flow::Go
            }
            Ok(Some(Output::Admit(ch, ev))) => {
                // A further channel: this harness's core has no room (a path the runtime
                // takes when the table or the address limit is full).
                assert!(matches!(ev, Event::Open { .. }), "admission for {ev:?}");
                assert!(
                    self.m.asked.is_some(),
                    "a further channel before the first was asked for"
                );
                self.out.clear();
                self.miner.refuse(ch, &mut self.out);
                assert!(!self.out.is_empty(), "a refused channel is told");
                self.check_out();
                Flow::Go
            }
            Ok(Some(Output::Closed(mid))) => {
                panic!("core miner {mid} let go while it was the only channel")
            }
            Err(close) => {
                let _ = close.to_string();
                match &close {
                    Close::Setup(code) => {
                        assert!(matches!(sent, Ok(FromMiner::Setup(_))));
                        assert_eq!(
                            self.m.setup_error.as_deref(),
                            Some(code.as_bytes()),
                            "Close::Setup without its SetupConnection.Error"
                        );
                    }
                    Close::ChannelClosed => assert!(matches!(
                        sent,
                        Ok(FromMiner::CloseChannel {
                            channel_id: CHANNEL_ID,
                            ..
                        })
                    )),
                    Close::TooManyBadFrames => {}
                }
                Flow::Stop
            }
        }
    }

    /// An event from the frame `h` (`sent`: the frame decoded, if it decodes).
    fn event(&mut self, h: &Header, sent: Option<FromMiner<'_>>, ev: &Event) {
        match ev {
            Event::Open { agent, .. } => {
                assert!(self.m.setup_ok, "a channel opened before SetupConnection");
                assert!(self.m.asked.is_none(), "a second channel was opened");
                assert!(agent.starts_with("sv2"));
                let asked = match sent.expect("Event::Open from a message that decodes") {
                    FromMiner::OpenStandard(o) => (o.request_id, false, o.max_target),
                    FromMiner::OpenExtended { open: o, .. } => (o.request_id, true, o.max_target),
                    other => panic!("Event::Open from {other:?}"),
                };
                self.m.asked = Some(asked);
            }
            Event::Submit {
                seq,
                job,
                extranonce2,
                ntime,
                nonce,
                version_bits,
            } => {
                assert!(
                    self.m.open,
                    "a share reached the core before the channel opened"
                );
                let (s, e) = match sent.expect("Event::Submit from a message that decodes") {
                    FromMiner::SubmitStandard(s) => (
                        server::SubmitExtended {
                            channel_id: s.channel_id,
                            sequence_number: s.sequence_number,
                            job_id: s.job_id,
                            nonce: s.nonce,
                            ntime: s.ntime,
                            version: s.version,
                            extranonce: &[],
                        },
                        None,
                    ),
                    FromMiner::SubmitExtended(s) => (s, Some(s.extranonce)),
                    other => panic!("Event::Submit from {other:?}"),
                };
                assert_eq!(s.channel_id, CHANNEL_ID, "a share on another channel");
                assert_eq!(
                    (*seq, *job, *ntime, *nonce),
                    (s.sequence_number, s.job_id, s.ntime, s.nonce)
                );
                let (_, e2) = self.m.sub.expect("subscribed");
                match e {
                    Some(e) => assert!(extranonce2[..] == *e),
                    None => assert!(extranonce2.iter().all(|b| *b == 0) && extranonce2.len() == e2),
                }
                if let Some(v) = version_bits {
                    let mask = self.m.mask.flatten().unwrap_or(0);
                    assert!(*v == s.version || *v == s.version & mask);
                }
                remember(&mut self.m.seqs, *seq);
            }
            Event::Hashrate(_) => assert!(
                matches!(sent, Some(FromMiner::UpdateChannel { .. })),
                "a declared hashrate from something other than UpdateChannel"
            ),
            Event::Malformed => assert!(
                matches!(
                    h.msg_type,
                    types::SUBMIT_SHARES_STANDARD | types::SUBMIT_SHARES_EXTENDED
                ),
                "Event::Malformed for message type {:#04x}",
                h.msg_type
            ),
        }
        if self.trace.is_some() {
            let note = format!("event {ev:?}");
            self.note(note.as_bytes());
        }
    }

    fn write(&mut self, msg: &ToMiner) {
        if self.m.asked.is_some() {
            if let ToMiner::Reply { req, answer } = msg {
                match (req.as_str(), answer) {
                    (REQ_CONFIGURE, Answer::Configure(mask)) => self.m.mask = Some(*mask),
                    (REQ_SUBSCRIBE, Answer::Subscribe { tag, e2_size, .. }) => {
                        self.m.sub = Some((*tag, *e2_size))
                    }
                    (REQ_AUTHORIZE, Answer::True) => self.m.authorized = true,
                    _ => {}
                }
            }
        }
        self.out.clear();
        if let Step::Ended(_) = self.miner.write(MID, &mut self.out, msg) {
            assert!(!self.m.open, "an open channel ended by a core answer");
            assert_eq!(self.miner.any_miner(), None);
            self.m.gone = true;
        }
        self.check_out();
    }

    /// `self.out` is whole, well-formed frames that make sense now; each is then sealed as the
    /// runtime seals it and opens on the miner's side to the same bytes.
    fn check_out(&mut self) {
        let out = std::mem::take(&mut self.out);
        let mut rest = &out[..];
        let mut last_job = None;
        while !rest.is_empty() {
            assert!(
                rest.len() >= HEADER_LEN,
                "{} bytes after the last frame",
                rest.len()
            );
            let hb: [u8; HEADER_LEN] = rest[..HEADER_LEN].try_into().unwrap();
            let h = Header::parse(&hb);
            let end = HEADER_LEN + h.len as usize;
            assert!(
                rest.len() >= end,
                "a frame's header says {} bytes, {} follow",
                h.len,
                rest.len() - HEADER_LEN
            );
            let p = &rest[HEADER_LEN..end];
            assert_eq!(h.extension, 0);
            assert_eq!(
                h.channel_msg,
                channel_bit(h.msg_type),
                "channel bit of {:#04x}",
                h.msg_type
            );
            last_job = self.check_frame(&h, p, last_job);
            self.carry(&hb, p);
            rest = &rest[end..];
        }
        if !out.is_empty() && self.trace.is_some() {
            let note = format!("sent {}", hex(&out));
            self.note(note.as_bytes());
        }
        self.out = out;
    }

    /// One frame the session sent, read back; returns the job id if it was a job.
    fn check_frame(&mut self, h: &Header, p: &[u8], last_job: Option<u32>) -> Option<u32> {
        let m = &mut self.m;
        match h.msg_type {
            types::OPEN_STANDARD_MINING_CHANNEL_SUCCESS => {
                let mut r = Reader::new(p);
                let request_id = r.u32().unwrap();
                let channel_id = r.u32().unwrap();
                let target = r.u256().unwrap();
                let prefix = r.b0_32().unwrap();
                r.u32().unwrap();
                r.end()
                    .expect("nothing after OpenStandardMiningChannel.Success");
                let (tag, e2) = channel_success(m, request_id, channel_id, false, &target);
                assert_eq!(prefix.len(), TAG_SIZE + e2);
                assert!(prefix[..TAG_SIZE] == tag && prefix[TAG_SIZE..].iter().all(|b| *b == 0));
                None
            }
            types::NEW_MINING_JOB => {
                let mut r = Reader::new(p);
                let channel_id = r.u32().unwrap();
                let job_id = r.u32().unwrap();
                r.option_u32().unwrap();
                r.u32().unwrap();
                r.u256().unwrap();
                r.end().expect("nothing after NewMiningJob");
                assert!(
                    m.open && !m.asked.unwrap().1,
                    "a standard job, but no open standard channel"
                );
                assert_eq!(channel_id, CHANNEL_ID);
                remember(&mut m.jobs, job_id);
                Some(job_id)
            }
            _ => {
                let msg = msg::decode(h, p).unwrap_or_else(|e| {
                    panic!(
                        "the session sent type {:#04x} that does not read back: {e}",
                        h.msg_type
                    )
                });
                match msg {
                    Incoming::SetupSuccess { used_version, .. } => {
                        assert!(!m.setup_ok, "SetupConnection answered twice");
                        assert_eq!(used_version, 2);
                        m.setup_ok = true;
                        None
                    }
                    Incoming::SetupError { code, .. } => {
                        assert!(!m.setup_ok);
                        m.setup_error = Some(code.to_vec());
                        None
                    }
                    Incoming::ChannelOpened {
                        request_id,
                        channel_id,
                        target,
                        extranonce_size,
                        extranonce_prefix,
                        ..
                    } => {
                        let (tag, e2) = channel_success(m, request_id, channel_id, true, &target);
                        assert_eq!(extranonce_size as usize, e2);
                        assert!(extranonce_prefix == tag);
                        None
                    }
                    Incoming::ChannelOpenError { code, .. } => {
                        assert!(m.setup_ok, "a channel answered before SetupConnection");
                        assert!(!code.is_empty());
                        None
                    }
                    Incoming::Job(j) => {
                        assert!(
                            m.open && m.asked.unwrap().1,
                            "an extended job, but no open extended channel"
                        );
                        assert_eq!(j.channel_id, CHANNEL_ID);
                        assert_eq!(j.version_rolling_allowed, m.mask.flatten().is_some());
                        remember(&mut m.jobs, j.job_id);
                        Some(j.job_id)
                    }
                    Incoming::PrevHash {
                        channel_id, job_id, ..
                    } => {
                        assert!(m.open);
                        assert_eq!(channel_id, CHANNEL_ID);
                        assert_eq!(
                            Some(job_id),
                            last_job,
                            "SetNewPrevHash not right after its job"
                        );
                        None
                    }
                    Incoming::SetTarget {
                        channel_id,
                        max_target,
                    } => {
                        assert!(m.open, "SetTarget before the channel opened");
                        assert_eq!(channel_id, CHANNEL_ID);
                        assert_within(&max_target, &m.asked.unwrap().2);
                        None
                    }
                    Incoming::SharesAccepted { channel_id, .. } => {
                        assert_eq!(channel_id, CHANNEL_ID);
                        None
                    }
                    Incoming::ShareRejected { code, .. }
                    | Incoming::UpdateChannelError { code, .. } => {
                        assert!(!code.is_empty());
                        None
                    }
                    other => panic!("the session sent {other:?}, which a server never sends"),
                }
            }
        }
    }

    /// Seal one plain frame as `sv2link::seal_frames` does and open it on the miner's side.
    fn carry(&mut self, h: &[u8; HEADER_LEN], p: &[u8]) {
        self.wire.clear();
        self.ours.seal_frame(h, p, &mut self.wire);
        assert_eq!(self.wire.len(), HEADER_CT_LEN + ciphertext_len(p.len()));
        let hct: [u8; HEADER_CT_LEN] = self.wire[..HEADER_CT_LEN].try_into().unwrap();
        assert_eq!(
            self.theirs.open_header(&hct).as_ref(),
            Ok(h),
            "our header, opened"
        );
        let body = &mut self.wire[HEADER_CT_LEN..];
        assert_eq!(self.theirs.open_payload(body), Ok(p.len()));
        assert!(body[..p.len()] == *p, "our payload, opened");
    }
}

/// A channel's Success: only once, after the three answers, for what the miner asked, with a
/// target no easier than its max_target. Returns the subscription (tag, extranonce2 size).
fn channel_success(
    m: &mut Model,
    request_id: u32,
    channel_id: u32,
    extended: bool,
    target: &[u8; 32],
) -> ([u8; TAG_SIZE], usize) {
    let (asked_id, asked_ext, max) = m.asked.expect("a channel's Success nobody asked for");
    assert!(!m.open, "a channel's Success twice");
    assert!(!m.gone, "a Success for a channel that was refused");
    assert!(
        m.mask.is_some() && m.sub.is_some() && m.authorized,
        "a channel's Success before the core answered all three requests"
    );
    assert_eq!((request_id, extended), (asked_id, asked_ext));
    assert_eq!(channel_id, CHANNEL_ID);
    assert_within(target, &max);
    m.open = true;
    m.sub.unwrap()
}

fn run(data: &[u8], trace: bool) -> Option<Vec<u8>> {
    let mut r = Run::new(trace);
    let mut b = Bytes(data);
    for _ in 0..MAX_STEPS {
        match r.step(&mut b) {
            Some(Flow::Go) => {}
            Some(Flow::Stop) | None => break,
        }
    }
    r.trace
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The environment variable `name` is "1" (read once per process).
fn env_flag(name: &str, cell: &'static OnceLock<bool>) -> bool {
    *cell.get_or_init(|| std::env::var_os(name).is_some_and(|v| v == "1"))
}

fuzz_target!(|data: &[u8]| {
    static TWICE: OnceLock<bool> = OnceLock::new();
    static TRACE: OnceLock<bool> = OnceLock::new();
    if env_flag("SV2_MINER_SIDE_TWICE", &TWICE) {
        let a = run(data, true);
        let b = run(data, true);
        assert!(a == b, "the same input gave two transcripts");
    } else if env_flag("SV2_MINER_SIDE_TRACE", &TRACE) {
        let t = run(data, true).unwrap_or_default();
        eprintln!("{}", String::from_utf8_lossy(&t));
    } else {
        run(data, false);
    }
});
