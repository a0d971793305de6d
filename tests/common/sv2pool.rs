//! Test-only Stratum V2 pool, and a small Stratum V2 test client, both built on the Stratum V2
//! Reference Implementation (SRI) crates rather than on hashmux's own `stratum2` code.
//!
//! This module owns:
//! - [`Sv2Pool`]: a blocking-socket SV2 pool on `127.0.0.1:0`. Per connection it runs the SRI
//!   Noise NX responder (`noise_sv2::Responder` through `codec_sv2`), answers `SetupConnection`
//!   (mining protocol, version 2) and `OpenExtendedMiningChannel`, sends a future
//!   `NewExtendedMiningJob` activated by `SetNewPrevHash`, then a fresh job (active at once,
//!   `min_ntime` set) every `job_interval_ms`. It validates `SubmitSharesExtended` with its own
//!   sha256d code (coinbase = prefix ‖ extranonce_prefix ‖ extranonce ‖ suffix, merkle fold,
//!   80-byte header, hash ≤ channel target as 256-bit little-endian integers) and answers
//!   `SubmitShares.Success` per accepted share or `SubmitShares.Error` with the spec's codes.
//! - [`Sv2TestClient`]: an SRI Noise initiator + codec client that opens an extended channel,
//!   follows jobs, mines shares for real on the CPU and submits them.
//! - Base58check helpers for the pool authority key (sv2-spec 04-Protocol-Security §4.7).
//!
//! Integration tests include it with `#[path = "common/sv2pool.rs"] #[allow(dead_code)] mod
//! sv2pool;` (the allow goes on the `mod` item, not in this file). Everything
//! is bounded: every loop polls a stop flag through 50 ms read timeouts, and [`Sv2Pool`] stops
//! and joins its threads on drop.
//!
//! Pool-local conventions (not from the spec): `handshakes_ok` counts connections whose first
//! encrypted frame decrypted (i.e. the client accepted the certificate); jobs of an earlier
//! prevhash ([`Sv2Pool::new_block`]) are rejected as `stale-share`, job ids never issued on the
//! channel as `invalid-job-id`; an nTime below the job's `min_ntime` or more than two hours ahead
//! is rejected as `ntime-out-of-range`; version bits outside the BIP320 mask `0x1fffe000` that
//! differ from the job's version are rejected as `invalid-non-rollable-version-bit`.

use binary_sv2::{GetSize, Seq0255, Serialize, Str0255, Sv2Option, B032, B064K, U256};
use codec_sv2::{
    Decoded, Decrypted, Handshake, InitiatorSent, MessageFrame, NoiseDecoder, NoiseEncoder,
    TransportDecryptState, TransportEncryptState,
};
use common_messages_sv2::{
    Protocol, SetupConnection, SetupConnectionError, SetupConnectionSuccess,
    MESSAGE_TYPE_SETUP_CONNECTION, MESSAGE_TYPE_SETUP_CONNECTION_ERROR,
    MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS,
};
use mining_sv2::{
    CloseChannel, NewExtendedMiningJob, OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess, OpenMiningChannelError, SetNewPrevHash, SetTarget,
    SubmitSharesError, SubmitSharesExtended, SubmitSharesSuccess, UpdateChannel,
    UpdateChannelError, MESSAGE_TYPE_CLOSE_CHANNEL, MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH,
    MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB, MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL,
    MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS, MESSAGE_TYPE_OPEN_MINING_CHANNEL_ERROR,
    MESSAGE_TYPE_SET_TARGET, MESSAGE_TYPE_SUBMIT_SHARES_ERROR, MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED,
    MESSAGE_TYPE_SUBMIT_SHARES_SUCCESS, MESSAGE_TYPE_UPDATE_CHANNEL,
    MESSAGE_TYPE_UPDATE_CHANNEL_ERROR,
};
use noise_sv2::{
    Initiator, Responder, ELLSWIFT_ENCODING_SIZE, INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE,
};
use secp256k1::{Keypair, Secp256k1};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `nbits` of every job (the difficulty-1 compact target).
pub const POOL_NBITS: u32 = 0x1d00_ffff;
/// `version` of every job (BIP9 top bits only).
pub const POOL_JOB_VERSION: u32 = 0x2000_0000;
/// BIP320 general-purpose version bits a miner may roll.
pub const BIP320_VERSION_MASK: u32 = 0x1fff_e000;
/// The `SetupConnection` protocol version this pool speaks.
pub const SV2_VERSION: u16 = 2;
/// Version prefix of a base58check-encoded authority key (sv2-spec §4.7), LE u16 1.
pub const AUTHORITY_KEY_VERSION: [u8; 2] = [1, 0];

const POLL: Duration = Duration::from_millis(50);
const FRAME_DEADLINE: Duration = Duration::from_secs(10);
const MAX_JOBS_KEPT: usize = 256;
const MAX_FUTURE_NTIME: u32 = 7200;

/// Pool settings.
#[derive(Clone, Debug)]
pub struct Sv2PoolConfig {
    /// Bytes of extranonce the pool fixes per channel (distinct per channel, so per connection).
    pub extranonce_prefix_len: usize,
    /// Bytes of extranonce the client may roll (`OpenExtendedMiningChannel.Success.extranonce_size`).
    pub extranonce_size: u16,
    /// Share difficulty (1.0 = target 0x00000000ffff0000…); tiny so CPU miners find shares.
    pub target_difficulty: f64,
    /// Interval between follow-up jobs (`min_ntime` set, active at once); 0 = never.
    pub job_interval_ms: u64,
    /// Certificate validity start (unix seconds).
    pub cert_valid_from: u32,
    /// Certificate validity end (unix seconds).
    pub cert_not_valid_after: u32,
    /// Sign the certificate with a key other than the advertised authority key.
    pub sign_with_wrong_authority: bool,
}

impl Default for Sv2PoolConfig {
    fn default() -> Self {
        let now = unix_now();
        Sv2PoolConfig {
            extranonce_prefix_len: 4,
            extranonce_size: 8,
            target_difficulty: 0.0001,
            job_interval_ms: 10_000,
            cert_valid_from: now.saturating_sub(3600),
            cert_not_valid_after: now.saturating_add(24 * 3600),
            sign_with_wrong_authority: false,
        }
    }
}

/// Counters the pool keeps; [`Sv2Pool::stats`] returns a snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sv2PoolStats {
    /// TCP connections accepted.
    pub connections: u64,
    /// TCP connections currently open.
    pub open: u64,
    /// Connections whose first encrypted frame decrypted (the client accepted the certificate).
    pub handshakes_ok: u64,
    /// `SetupConnection` messages received.
    pub setup_connections: u64,
    /// Extended channels opened.
    pub channels_opened: u64,
    /// `NewExtendedMiningJob` messages sent.
    pub jobs_sent: u64,
    /// Shares accepted.
    pub accepted: u64,
    /// Shares rejected, by the error code sent back.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// `UpdateChannel` messages received.
    pub update_channels: u64,
    /// Last nominal hashrate reported by `OpenExtendedMiningChannel` or `UpdateChannel`.
    pub last_nominal_hashrate: f32,
    /// Lengths of the `extranonce` field of the submitted shares.
    pub extranonce_lens_seen: BTreeSet<usize>,
    /// `CloseChannel` messages received.
    pub close_channels: u64,
    /// Messages of unknown type or that failed to decode, and messages before `SetupConnection`.
    pub unknown_messages: u64,
    /// `SetNewPrevHash` messages sent.
    pub prev_hashes_sent: u64,
}

impl Sv2PoolStats {
    /// Shares rejected with `reason`.
    pub fn rejected(&self, reason: &str) -> u64 {
        self.rejected_by_reason.get(reason).copied().unwrap_or(0)
    }

    /// Shares rejected for any reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected_by_reason.values().sum()
    }
}

struct Shared {
    cfg: Sv2PoolConfig,
    addr: SocketAddr,
    /// The key the certificate is signed with (the authority, or a stranger).
    signing_kp: Keypair,
    target: [u8; 32],
    stop: AtomicBool,
    down: AtomicBool,
    /// Bumped by `set_down(true)`: connections from an older epoch close.
    down_epoch: AtomicU64,
    /// Bumped by `new_block`: channels send a new prevhash and older jobs go stale.
    block_epoch: AtomicU64,
    next_prefix: AtomicU64,
    listener: Mutex<Option<TcpListener>>,
    stats: Mutex<Sv2PoolStats>,
    streams: Mutex<Vec<(u64, TcpStream)>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn stats(&self) -> std::sync::MutexGuard<'_, Sv2PoolStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn shutdown_streams(&self) {
        for (_, s) in self
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// A running test pool; stops (bounded) on drop.
pub struct Sv2Pool {
    shared: Arc<Shared>,
    authority: [u8; 32],
    accept: Option<JoinHandle<()>>,
}

impl Sv2Pool {
    /// Bind `127.0.0.1:0` and serve in background threads.
    pub fn start(cfg: Sv2PoolConfig) -> Sv2Pool {
        assert!(
            cfg.extranonce_prefix_len + cfg.extranonce_size as usize <= 32,
            "extranonce_prefix_len + extranonce_size must fit in 32 bytes"
        );
        assert!(cfg.target_difficulty > 0.0, "target_difficulty must be > 0");
        let secp = Secp256k1::new();
        let mut rng = secp256k1::rand::thread_rng();
        let authority_kp = Keypair::new(&secp, &mut rng);
        let authority = authority_kp.x_only_public_key().0.serialize();
        let signing_kp = if cfg.sign_with_wrong_authority {
            Keypair::new(&secp, &mut rng)
        } else {
            authority_kp
        };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared {
            target: difficulty_to_target(cfg.target_difficulty),
            cfg,
            addr,
            signing_kp,
            stop: AtomicBool::new(false),
            down: AtomicBool::new(false),
            down_epoch: AtomicU64::new(0),
            block_epoch: AtomicU64::new(0),
            next_prefix: AtomicU64::new(1),
            listener: Mutex::new(Some(listener)),
            stats: Mutex::new(Sv2PoolStats::default()),
            streams: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let accept = std::thread::Builder::new()
            .name("sv2pool-accept".into())
            .spawn(move || accept_loop(s))
            .expect("spawn accept thread");
        Sv2Pool {
            shared,
            authority,
            accept: Some(accept),
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The authority x-only public key clients must trust (raw 32 bytes).
    pub fn authority_pubkey(&self) -> [u8; 32] {
        self.authority
    }

    /// The authority public key, base58check with the `[1, 0]` version prefix (sv2-spec §4.7).
    pub fn authority_pubkey_base58(&self) -> String {
        authority_key_to_base58(&self.authority)
    }

    /// The channel target (256-bit little-endian) every channel starts with.
    pub fn target(&self) -> [u8; 32] {
        self.shared.target
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Sv2PoolStats {
        self.shared.stats().clone()
    }

    /// While down, every connection is closed and new ones are refused (the listening socket is
    /// closed, so connects fail); back up, the same address listens again. Synchronous: returns
    /// once the listener and the connections are closed (or reopened).
    pub fn set_down(&self, down: bool) {
        let sh = &self.shared;
        let mut listener = sh.listener.lock().unwrap_or_else(|e| e.into_inner());
        if down {
            sh.down.store(true, Ordering::SeqCst);
            sh.down_epoch.fetch_add(1, Ordering::SeqCst);
            *listener = None;
            drop(listener);
            sh.shutdown_streams();
            let until = Instant::now() + Duration::from_secs(3);
            while sh.stats().open > 0 && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
        } else {
            if listener.is_none() {
                *listener = bind_again(sh.addr);
            }
            sh.down.store(false, Ordering::SeqCst);
        }
    }

    /// A new block: every channel gets a future job and a `SetNewPrevHash` for it (new prevhash),
    /// and shares for the earlier jobs become `stale-share`.
    pub fn new_block(&self) {
        self.shared.block_epoch.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Sv2Pool {
    fn drop(&mut self) {
        let sh = &self.shared;
        sh.stop.store(true, Ordering::SeqCst);
        sh.shutdown_streams();
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        let threads: Vec<_> =
            std::mem::take(&mut *sh.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for h in threads {
            let _ = h.join();
        }
        *sh.listener.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

fn bind_again(addr: SocketAddr) -> Option<TcpListener> {
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => {
                l.set_nonblocking(true).ok()?;
                return Some(l);
            }
            Err(e) if Instant::now() >= until => {
                eprintln!("sv2pool: cannot listen on {addr} again: {e}");
                return None;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn accept_loop(sh: Arc<Shared>) {
    let mut next_conn = 0u64;
    while !sh.stop.load(Ordering::SeqCst) {
        // Accept, count and register under the listener lock, which `set_down` also takes: a
        // connection is either refused or visible to `set_down`'s shutdown and wait.
        let accepted = {
            let mut guard = sh.listener.lock().unwrap_or_else(|e| e.into_inner());
            if guard.is_none() && !sh.down.load(Ordering::SeqCst) {
                *guard = bind_again(sh.addr);
            }
            match guard.as_ref().map(|l| l.accept()) {
                Some(Ok((stream, _))) if !sh.down.load(Ordering::SeqCst) => {
                    next_conn += 1;
                    {
                        let mut st = sh.stats();
                        st.connections += 1;
                        st.open += 1;
                    }
                    if let Ok(c) = stream.try_clone() {
                        sh.streams
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((next_conn, c));
                    }
                    Some((stream, next_conn, sh.down_epoch.load(Ordering::SeqCst)))
                }
                _ => None,
            }
        };
        let Some((stream, id, epoch)) = accepted else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let open = OpenGuard(sh.clone(), id);
        let s2 = sh.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("sv2pool-conn-{id}"))
            .spawn(move || {
                let _open = open;
                if let Err(e) = serve(&s2, stream, epoch) {
                    if !s2.stop.load(Ordering::SeqCst) && !e.starts_with("peer closed") {
                        eprintln!("sv2pool: connection {id} closed: {e}");
                    }
                }
            });
        let mut threads = sh.threads.lock().unwrap_or_else(|e| e.into_inner());
        threads.retain(|h| !h.is_finished());
        if let Ok(h) = spawned {
            threads.push(h);
        }
    }
}

/// Decrements `open` and forgets the stream when a connection thread ends, however it ends.
struct OpenGuard(Arc<Shared>, u64);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(id, _)| *id != self.1);
        let mut st = self.0.stats();
        st.open = st.open.saturating_sub(1);
    }
}

// ---------------------------------------------------------------------------------------------
// Blocking I/O helpers shared by the pool and the client.

/// Wait until at least one byte can be read. Calls `idle` on every 50 ms timeout; an `Err` from
/// it, EOF, or passing `deadline` ends the wait with an error.
fn wait_readable(
    stream: &TcpStream,
    deadline: Option<Instant>,
    idle: &mut dyn FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let mut b = [0u8; 1];
    loop {
        match stream.peek(&mut b) {
            Ok(0) => return Err("peer closed the connection".into()),
            Ok(_) => return Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                idle()?;
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err("timed out waiting for data".into());
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Fill `buf` completely (within [`FRAME_DEADLINE`]), checking `alive` on every timeout.
fn read_full(stream: &TcpStream, buf: &mut [u8], alive: &dyn Fn() -> bool) -> Result<(), String> {
    let until = Instant::now() + FRAME_DEADLINE;
    let mut off = 0;
    while off < buf.len() {
        match (&*stream).read(&mut buf[off..]) {
            Ok(0) => return Err("peer closed the connection mid-frame".into()),
            Ok(n) => off += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if !alive() || Instant::now() >= until {
                    return Err("stopped or timed out mid-frame".into());
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(())
}

/// Encrypting half of a connection: codec encoder + Noise state + socket.
struct Tx {
    stream: TcpStream,
    encoder: NoiseEncoder,
    enc: TransportEncryptState,
}

impl Tx {
    fn send<T: Serialize + GetSize>(
        &mut self,
        msg: T,
        msg_type: u8,
        channel_msg: bool,
    ) -> Result<(), String> {
        let frame = MessageFrame::from_message(msg, msg_type, 0, channel_msg)
            .map_err(|e| format!("frame 0x{msg_type:02x}: {e:?}"))?;
        let bytes = self
            .encoder
            .encode_transport(frame, &mut self.enc)
            .map_err(|e| format!("encode 0x{msg_type:02x}: {e}"))?;
        (&self.stream)
            .write_all(bytes.as_ref())
            .map_err(|e| format!("write: {e}"))
    }
}

/// A decrypted frame: message type, channel bit, extension type and payload.
struct Frame {
    msg_type: u8,
    ext_type: u16,
    payload: Vec<u8>,
}

/// Decrypting half of a connection.
struct Rx {
    decoder: NoiseDecoder,
    dec: Option<TransportDecryptState>,
}

impl Rx {
    /// Read one frame. `deadline` bounds the wait for its first byte; `idle` runs every 50 ms
    /// while waiting; `alive` aborts a partly read frame.
    fn recv(
        &mut self,
        stream: &TcpStream,
        deadline: Option<Instant>,
        idle: &mut dyn FnMut() -> Result<(), String>,
        alive: &dyn Fn() -> bool,
    ) -> Result<Frame, String> {
        loop {
            if self.decoder.writable_len() > 0 {
                wait_readable(stream, deadline, idle)?;
                read_full(stream, self.decoder.writable(), alive)?;
            }
            let dec = self.dec.take().ok_or("decrypt state lost")?;
            match self.decoder.next_transport_frame(dec) {
                Ok(Decrypted::Frame(mut frame, dec)) => {
                    self.dec = Some(dec);
                    let h = frame.header();
                    return Ok(Frame {
                        msg_type: h.msg_type(),
                        ext_type: h.ext_type_without_channel_msg(),
                        payload: frame.payload().to_vec(),
                    });
                }
                Ok(Decrypted::Incomplete(_, dec)) => self.dec = Some(dec),
                Err(e) => return Err(format!("decrypt/decode: {e}")),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pool connection.

struct PoolJob {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    merkle_path: Vec<[u8; 32]>,
    version: u32,
    /// Smallest nTime for shares on this job.
    min_ntime: u32,
    /// Block epoch the job belongs to; jobs of an earlier epoch are stale.
    block_epoch: u64,
    /// Sent as a future job whose `SetNewPrevHash` has not been sent yet.
    future: bool,
}

struct Channel {
    id: u32,
    extranonce_prefix: Vec<u8>,
    target: [u8; 32],
    jobs: BTreeMap<u32, PoolJob>,
    block_epoch: u64,
    prev_hash: [u8; 32],
    last_job: Instant,
    seen: HashSet<[u8; 32]>,
}

struct Conn<'a> {
    sh: &'a Shared,
    setup_done: bool,
    channels: BTreeMap<u32, Channel>,
    next_channel_id: u32,
    next_job_id: u32,
}

fn serve(sh: &Shared, stream: TcpStream, epoch: u64) -> Result<(), String> {
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(POLL))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let alive = || !sh.stop.load(Ordering::SeqCst) && sh.down_epoch.load(Ordering::SeqCst) == epoch;
    let mut check = || {
        if alive() {
            Ok(())
        } else {
            Err("pool stopped or went down".to_string())
        }
    };

    // Noise NX, responder side (SRI).
    let mut decoder = NoiseDecoder::new();
    let first = loop {
        match decoder.next_handshake_frame::<Responder>() {
            Ok(Decoded::Frame(f)) => break f,
            Ok(Decoded::Incomplete(_)) => {
                wait_readable(&stream, Some(Instant::now() + FRAME_DEADLINE), &mut check)?;
                read_full(&stream, decoder.writable(), &alive)?;
            }
            Err(e) => return Err(format!("handshake act 1: {e}")),
        }
    };
    let first: [u8; ELLSWIFT_ENCODING_SIZE] = first
        .payload()
        .try_into()
        .map_err(|_| "handshake act 1: bad length")?;
    let validity = sh
        .cfg
        .cert_not_valid_after
        .saturating_sub(sh.cfg.cert_valid_from);
    // The responder signs [now, now + validity]; passing cert_valid_from as "now" makes the
    // certificate window exactly [cert_valid_from, cert_not_valid_after].
    let responder = Responder::new(sh.signing_kp, validity);
    let (second, transport) = Handshake::responder(responder)
        .step_1_with_now_rng(
            first,
            sh.cfg.cert_valid_from,
            &mut secp256k1::rand::thread_rng(),
        )
        .map_err(|e| format!("handshake act 2: {e}"))?;
    let mut encoder = NoiseEncoder::new();
    let act2 = encoder.encode_handshake(second);
    (&stream)
        .write_all(act2.as_ref())
        .map_err(|e| format!("write act 2: {e}"))?;
    let (enc, dec) = transport.split();
    let mut tx = Tx {
        stream: stream.try_clone().map_err(|e| e.to_string())?,
        encoder,
        enc,
    };
    let mut rx = Rx {
        decoder,
        dec: Some(dec),
    };
    let mut conn = Conn {
        sh,
        setup_done: false,
        channels: BTreeMap::new(),
        next_channel_id: 1,
        next_job_id: 1,
    };
    let mut first_frame = true;
    loop {
        let frame = {
            let mut idle = || {
                check()?;
                conn.tick(&mut tx)
            };
            rx.recv(&stream, None, &mut idle, &alive)?
        };
        if first_frame {
            first_frame = false;
            sh.stats().handshakes_ok += 1;
        }
        conn.handle(&mut tx, frame)?;
        check()?;
        conn.tick(&mut tx)?;
    }
}

impl Conn<'_> {
    fn unknown(&self) {
        self.sh.stats().unknown_messages += 1;
    }

    fn handle(&mut self, tx: &mut Tx, mut f: Frame) -> Result<(), String> {
        if f.ext_type != 0 {
            self.unknown();
            return Ok(());
        }
        if !self.setup_done && f.msg_type != MESSAGE_TYPE_SETUP_CONNECTION {
            self.unknown();
            return Ok(());
        }
        match f.msg_type {
            MESSAGE_TYPE_SETUP_CONNECTION => {
                let Ok(m) = binary_sv2::from_bytes::<SetupConnection>(&mut f.payload) else {
                    self.unknown();
                    return Ok(());
                };
                self.sh.stats().setup_connections += 1;
                let error = if !matches!(m.protocol, Protocol::MiningProtocol) {
                    Some("unsupported-protocol")
                } else if m.min_version > SV2_VERSION || m.max_version < SV2_VERSION {
                    Some("protocol-version-mismatch")
                } else {
                    None
                };
                if let Some(code) = error {
                    let msg = SetupConnectionError {
                        flags: 0,
                        error_code: Str0255::try_from(code).expect("short code"),
                    };
                    tx.send(msg, MESSAGE_TYPE_SETUP_CONNECTION_ERROR, false)?;
                    return Err(format!("SetupConnection refused: {code}"));
                }
                self.setup_done = true;
                let msg = SetupConnectionSuccess {
                    used_version: SV2_VERSION,
                    flags: 0,
                };
                tx.send(msg, MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS, false)
            }
            MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL => {
                let Ok(m) = binary_sv2::from_bytes::<OpenExtendedMiningChannel>(&mut f.payload)
                else {
                    self.unknown();
                    return Ok(());
                };
                self.open_channel(tx, &m)
            }
            MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED => {
                let Ok(m) = binary_sv2::from_bytes::<SubmitSharesExtended>(&mut f.payload) else {
                    self.unknown();
                    return Ok(());
                };
                self.submit(tx, &m)
            }
            MESSAGE_TYPE_UPDATE_CHANNEL => {
                let Ok(m) = binary_sv2::from_bytes::<UpdateChannel>(&mut f.payload) else {
                    self.unknown();
                    return Ok(());
                };
                {
                    let mut st = self.sh.stats();
                    st.update_channels += 1;
                    st.last_nominal_hashrate = m.nominal_hash_rate;
                }
                let Some(ch) = self.channels.get_mut(&m.channel_id) else {
                    let msg = UpdateChannelError {
                        channel_id: m.channel_id,
                        error_code: Str0255::try_from("invalid-channel-id").expect("short"),
                    };
                    return tx.send(msg, MESSAGE_TYPE_UPDATE_CHANNEL_ERROR, true);
                };
                let max = m.maximum_target.to_array();
                if le256_cmp(&max, &ch.target).is_lt() {
                    ch.target = max;
                    let msg = SetTarget {
                        channel_id: ch.id,
                        maximum_target: U256::from(&ch.target),
                    };
                    tx.send(msg, MESSAGE_TYPE_SET_TARGET, true)?;
                }
                Ok(())
            }
            MESSAGE_TYPE_CLOSE_CHANNEL => {
                let Ok(m) = binary_sv2::from_bytes::<CloseChannel>(&mut f.payload) else {
                    self.unknown();
                    return Ok(());
                };
                self.sh.stats().close_channels += 1;
                self.channels.remove(&m.channel_id);
                Ok(())
            }
            _ => {
                self.unknown();
                Ok(())
            }
        }
    }

    fn open_channel(&mut self, tx: &mut Tx, m: &OpenExtendedMiningChannel) -> Result<(), String> {
        let cfg = &self.sh.cfg;
        self.sh.stats().last_nominal_hashrate = m.nominal_hash_rate;
        if m.min_extranonce_size > cfg.extranonce_size {
            let msg = OpenMiningChannelError {
                request_id: m.request_id,
                error_code: Str0255::try_from("min-extranonce-size-too-large").expect("short"),
            };
            return tx.send(msg, MESSAGE_TYPE_OPEN_MINING_CHANNEL_ERROR, false);
        }
        // The channel target never exceeds what the client can accept.
        let max = m.max_target.to_array();
        let target = if le256_cmp(&max, &self.sh.target).is_lt() {
            max
        } else {
            self.sh.target
        };
        let n = self.sh.next_prefix.fetch_add(1, Ordering::SeqCst);
        let prefix = extranonce_prefix_for(n, cfg.extranonce_prefix_len);
        let id = self.next_channel_id;
        self.next_channel_id += 1;
        let epoch = self.sh.block_epoch.load(Ordering::SeqCst);
        let ch = Channel {
            id,
            extranonce_prefix: prefix.clone(),
            target,
            jobs: BTreeMap::new(),
            block_epoch: epoch,
            prev_hash: prev_hash_for(epoch),
            last_job: Instant::now(),
            seen: HashSet::new(),
        };
        self.channels.insert(id, ch);
        self.sh.stats().channels_opened += 1;
        let msg = OpenExtendedMiningChannelSuccess {
            request_id: m.request_id,
            channel_id: id,
            target: U256::from(&target),
            extranonce_size: cfg.extranonce_size,
            extranonce_prefix: B032::try_from(&prefix[..]).expect("prefix <= 32 bytes"),
            group_channel_id: 0,
        };
        tx.send(
            msg,
            MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS,
            false,
        )?;
        self.send_prev_hash(tx, id, epoch)
    }

    /// A future job, then the `SetNewPrevHash` that activates it; earlier jobs go stale.
    fn send_prev_hash(&mut self, tx: &mut Tx, channel_id: u32, epoch: u64) -> Result<(), String> {
        let now = unix_now();
        {
            let ch = self.channels.get_mut(&channel_id).expect("channel");
            ch.block_epoch = epoch;
            ch.prev_hash = prev_hash_for(epoch);
        }
        let job_id = self.send_job(tx, channel_id, None)?;
        let ch = self.channels.get_mut(&channel_id).expect("channel");
        if let Some(job) = ch.jobs.get_mut(&job_id) {
            job.future = false;
            job.min_ntime = now;
        }
        let msg = SetNewPrevHash {
            channel_id,
            job_id,
            prev_hash: U256::from(&ch.prev_hash),
            min_ntime: now,
            nbits: POOL_NBITS,
        };
        tx.send(msg, MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH, true)?;
        self.sh.stats().prev_hashes_sent += 1;
        Ok(())
    }

    /// Send a `NewExtendedMiningJob`; `min_ntime` None = future job.
    fn send_job(
        &mut self,
        tx: &mut Tx,
        channel_id: u32,
        min_ntime: Option<u32>,
    ) -> Result<u32, String> {
        let job_id = self.next_job_id;
        self.next_job_id += 1;
        let ch = self.channels.get_mut(&channel_id).expect("channel");
        let height = 900_000 + ch.block_epoch as u32;
        let (prefix, suffix) = coinbase_parts(
            job_id,
            height,
            ch.extranonce_prefix.len() + self.sh.cfg.extranonce_size as usize,
        );
        let merkle_path = merkle_path_for(job_id);
        let job = PoolJob {
            prefix,
            suffix,
            merkle_path,
            version: POOL_JOB_VERSION,
            min_ntime: min_ntime.unwrap_or(0),
            block_epoch: ch.block_epoch,
            future: min_ntime.is_none(),
        };
        let path: Vec<U256> = job.merkle_path.iter().map(U256::from).collect();
        let msg = NewExtendedMiningJob {
            channel_id,
            job_id,
            min_ntime: Sv2Option::new(min_ntime),
            version: job.version,
            version_rolling_allowed: true,
            merkle_path: Seq0255::new(path).expect("<= 255 hashes"),
            coinbase_tx_prefix: B064K::try_from(&job.prefix[..]).expect("short prefix"),
            coinbase_tx_suffix: B064K::try_from(&job.suffix[..]).expect("short suffix"),
        };
        tx.send(msg, MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB, true)?;
        ch.jobs.insert(job_id, job);
        while ch.jobs.len() > MAX_JOBS_KEPT {
            ch.jobs.pop_first();
        }
        ch.last_job = Instant::now();
        self.sh.stats().jobs_sent += 1;
        Ok(job_id)
    }

    /// Periodic work: new prevhash after [`Sv2Pool::new_block`], follow-up jobs on the interval.
    fn tick(&mut self, tx: &mut Tx) -> Result<(), String> {
        let epoch = self.sh.block_epoch.load(Ordering::SeqCst);
        let interval = self.sh.cfg.job_interval_ms;
        let ids: Vec<u32> = self.channels.keys().copied().collect();
        for id in ids {
            let ch = &self.channels[&id];
            if ch.block_epoch != epoch {
                self.send_prev_hash(tx, id, epoch)?;
            } else if interval > 0 && ch.last_job.elapsed() >= Duration::from_millis(interval) {
                self.send_job(tx, id, Some(unix_now()))?;
            }
        }
        Ok(())
    }

    fn submit(&mut self, tx: &mut Tx, m: &SubmitSharesExtended) -> Result<(), String> {
        let extranonce = m.extranonce.as_bytes();
        self.sh
            .stats()
            .extranonce_lens_seen
            .insert(extranonce.len());
        let verdict = self.check_share(m);
        match verdict {
            Ok(()) => {
                self.sh.stats().accepted += 1;
                let msg = SubmitSharesSuccess {
                    channel_id: m.channel_id,
                    last_sequence_number: m.sequence_number,
                    new_submits_accepted_count: 1,
                    new_shares_sum: (self.sh.cfg.target_difficulty.round() as u64).max(1),
                };
                tx.send(msg, MESSAGE_TYPE_SUBMIT_SHARES_SUCCESS, true)
            }
            Err(code) => {
                *self
                    .sh
                    .stats()
                    .rejected_by_reason
                    .entry(code.to_string())
                    .or_insert(0) += 1;
                let msg = SubmitSharesError {
                    channel_id: m.channel_id,
                    sequence_number: m.sequence_number,
                    error_code: Str0255::try_from(code).expect("short code"),
                };
                tx.send(msg, MESSAGE_TYPE_SUBMIT_SHARES_ERROR, true)
            }
        }
    }

    fn check_share(&mut self, m: &SubmitSharesExtended) -> Result<(), &'static str> {
        let extranonce_size = self.sh.cfg.extranonce_size as usize;
        let Some(ch) = self.channels.get_mut(&m.channel_id) else {
            return Err("invalid-channel-id");
        };
        let Some(job) = ch.jobs.get(&m.job_id) else {
            return Err("invalid-job-id");
        };
        if job.future {
            return Err("invalid-job-id");
        }
        if job.block_epoch != ch.block_epoch {
            return Err("stale-share");
        }
        let extranonce = m.extranonce.as_bytes();
        if extranonce.len() != extranonce_size {
            return Err("bad-extranonce-size");
        }
        if (m.version ^ job.version) & !BIP320_VERSION_MASK != 0 {
            return Err("invalid-non-rollable-version-bit");
        }
        if m.ntime < job.min_ntime || m.ntime > unix_now().saturating_add(MAX_FUTURE_NTIME) {
            return Err("ntime-out-of-range");
        }
        let mut coinbase = job.prefix.clone();
        coinbase.extend_from_slice(&ch.extranonce_prefix);
        coinbase.extend_from_slice(extranonce);
        coinbase.extend_from_slice(&job.suffix);
        let root = merkle_root(&coinbase, &job.merkle_path);
        let header = block_header(
            m.version,
            &ch.prev_hash,
            &root,
            m.ntime,
            POOL_NBITS,
            m.nonce,
        );
        let hash = sha256d(&header);
        if le256_cmp(&hash, &ch.target).is_gt() {
            return Err("difficulty-too-low");
        }
        if !ch.seen.insert(hash) {
            return Err("duplicate-share");
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Bitcoin arithmetic (our own, on sha2).

/// Seconds since the unix epoch.
pub fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// SHA-256 applied twice.
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    let first = Sha256::digest(data);
    Sha256::digest(first).into()
}

/// Merkle root from the coinbase and the job's path, all in internal (raw sha256d) byte order:
/// `root = sha256d(coinbase)`, then `root = sha256d(root ‖ h)` for each path hash `h`.
pub fn merkle_root(coinbase: &[u8], path: &[[u8; 32]]) -> [u8; 32] {
    let mut root = sha256d(coinbase);
    for h in path {
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(&root);
        buf[32..].copy_from_slice(h);
        root = sha256d(&buf);
    }
    root
}

/// The 80-byte block header: version LE ‖ prev_hash (the U256 bytes as sent) ‖ merkle root (raw)
/// ‖ ntime LE ‖ nbits LE ‖ nonce LE.
pub fn block_header(
    version: u32,
    prev_hash: &[u8; 32],
    merkle_root: &[u8; 32],
    ntime: u32,
    nbits: u32,
    nonce: u32,
) -> [u8; 80] {
    let mut h = [0u8; 80];
    h[0..4].copy_from_slice(&version.to_le_bytes());
    h[4..36].copy_from_slice(prev_hash);
    h[36..68].copy_from_slice(merkle_root);
    h[68..72].copy_from_slice(&ntime.to_le_bytes());
    h[72..76].copy_from_slice(&nbits.to_le_bytes());
    h[76..80].copy_from_slice(&nonce.to_le_bytes());
    h
}

/// Compare two 256-bit little-endian integers.
pub fn le256_cmp(a: &[u8; 32], b: &[u8; 32]) -> std::cmp::Ordering {
    a.iter().rev().cmp(b.iter().rev())
}

/// Target for a share difficulty: `0xffff·2^208 / difficulty`, as a 256-bit little-endian
/// integer (saturating at 2^256-1).
pub fn difficulty_to_target(difficulty: f64) -> [u8; 32] {
    let t = 65535.0 / difficulty * 2f64.powi(208);
    if !t.is_finite() || t >= 2f64.powi(256) {
        return [0xff; 32];
    }
    if t < 1.0 {
        return [0; 32];
    }
    // t = mantissa · 2^exp with a 53-bit integer mantissa.
    let bits = t.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1075;
    let mant = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let mut out = [0u8; 32];
    if exp < 0 {
        let v = mant >> (-exp) as u32;
        out[..8].copy_from_slice(&v.to_le_bytes());
    } else {
        // Place the mantissa bit by bit at position exp.
        for i in 0..53 {
            if (mant >> i) & 1 == 1 {
                let pos = i + exp as usize;
                if pos < 256 {
                    out[pos / 8] |= 1 << (pos % 8);
                }
            }
        }
    }
    out
}

/// Distinct extranonce prefix for counter `n` (big-endian counter in the last bytes).
fn extranonce_prefix_for(n: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0x5a; len];
    let be = n.to_be_bytes();
    let k = len.min(8);
    v[len - k..].copy_from_slice(&be[8 - k..]);
    v
}

/// Deterministic prevhash for a block epoch (raw/U256 byte order, top 4 bytes zero).
fn prev_hash_for(epoch: u64) -> [u8; 32] {
    let mut seed = b"hashmux-sv2pool-prevhash".to_vec();
    seed.extend_from_slice(&epoch.to_le_bytes());
    let mut h = sha256d(&seed);
    h[28..].copy_from_slice(&[0; 4]);
    h
}

/// Deterministic merkle path of 0..=2 hashes.
fn merkle_path_for(job_id: u32) -> Vec<[u8; 32]> {
    (0..job_id % 3)
        .map(|i| {
            let mut seed = b"hashmux-sv2pool-tx".to_vec();
            seed.extend_from_slice(&job_id.to_le_bytes());
            seed.extend_from_slice(&i.to_le_bytes());
            sha256d(&seed)
        })
        .collect()
}

/// Coinbase prefix and suffix of a legacy (non-segwit) transaction whose scriptSig ends with the
/// `extranonce_total` extranonce bytes.
fn coinbase_parts(job_id: u32, height: u32, extranonce_total: usize) -> (Vec<u8>, Vec<u8>) {
    const TAG: &[u8] = b"/hashmux-sv2pool/";
    let mut script_head = vec![0x03];
    script_head.extend_from_slice(&height.to_le_bytes()[..3]); // BIP34 height push
    script_head.push(TAG.len() as u8);
    script_head.extend_from_slice(TAG);
    let script_len = script_head.len() + extranonce_total;
    assert!(script_len <= 100, "coinbase scriptSig too long");
    let mut prefix = Vec::new();
    prefix.extend_from_slice(&2u32.to_le_bytes()); // tx version
    prefix.push(1); // one input
    prefix.extend_from_slice(&[0; 32]); // null prevout
    prefix.extend_from_slice(&[0xff; 4]);
    prefix.push(script_len as u8);
    prefix.extend_from_slice(&script_head);
    let mut suffix = Vec::new();
    suffix.extend_from_slice(&[0xff; 4]); // sequence
    suffix.push(1); // one output
    suffix.extend_from_slice(&(312_500_000u64 + job_id as u64).to_le_bytes());
    let payout = sha256d(b"hashmux-sv2pool-payout");
    suffix.push(22);
    suffix.extend_from_slice(&[0x00, 0x14]); // P2WPKH
    suffix.extend_from_slice(&payout[..20]);
    suffix.extend_from_slice(&0u32.to_le_bytes()); // locktime
    (prefix, suffix)
}

// ---------------------------------------------------------------------------------------------
// Base58check (our own).

const B58: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Base58 (Bitcoin alphabet) of `data`.
pub fn base58_encode(data: &[u8]) -> String {
    let zeros = data.iter().take_while(|b| **b == 0).count();
    let mut digits: Vec<u8> = Vec::new(); // base-58 digits, least significant first
    for &byte in data {
        let mut carry = byte as u32;
        for d in digits.iter_mut() {
            carry += (*d as u32) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut s = String::with_capacity(zeros + digits.len());
    s.extend(std::iter::repeat_n('1', zeros));
    s.extend(digits.iter().rev().map(|d| B58[*d as usize] as char));
    s
}

/// Inverse of [`base58_encode`]; None on a character outside the alphabet.
pub fn base58_decode(s: &str) -> Option<Vec<u8>> {
    let zeros = s.bytes().take_while(|c| *c == b'1').count();
    let mut bytes: Vec<u8> = Vec::new(); // base-256, least significant first
    for c in s.bytes() {
        let mut carry = B58.iter().position(|x| *x == c)? as u32;
        for b in bytes.iter_mut() {
            carry += (*b as u32) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let mut out = vec![0u8; zeros];
    out.extend(bytes.iter().rev());
    Some(out)
}

/// Base58check: `payload ‖ sha256d(payload)[..4]`, base58-encoded.
pub fn base58check_encode(payload: &[u8]) -> String {
    let mut v = payload.to_vec();
    v.extend_from_slice(&sha256d(payload)[..4]);
    base58_encode(&v)
}

/// Inverse of [`base58check_encode`]; None on a bad character or checksum.
pub fn base58check_decode(s: &str) -> Option<Vec<u8>> {
    let v = base58_decode(s)?;
    if v.len() < 4 {
        return None;
    }
    let (payload, check) = v.split_at(v.len() - 4);
    (sha256d(payload)[..4] == *check).then(|| payload.to_vec())
}

/// An authority x-only key as sv2-spec §4.7 prints it: base58check of `[1, 0] ‖ key`.
pub fn authority_key_to_base58(key: &[u8; 32]) -> String {
    let mut payload = AUTHORITY_KEY_VERSION.to_vec();
    payload.extend_from_slice(key);
    base58check_encode(&payload)
}

/// Inverse of [`authority_key_to_base58`]; None unless the version prefix is `[1, 0]`.
pub fn authority_key_from_base58(s: &str) -> Option<[u8; 32]> {
    let v = base58check_decode(s)?;
    if v.len() != 34 || v[..2] != AUTHORITY_KEY_VERSION {
        return None;
    }
    v[2..].try_into().ok()
}

// ---------------------------------------------------------------------------------------------
// SRI test client.

/// Why [`Sv2TestClient`] failed.
#[derive(Debug)]
pub enum Sv2ClientError {
    /// TCP connect/read/write failed or timed out.
    Io(String),
    /// The SRI Noise initiator refused the handshake (e.g. a bad certificate).
    Handshake(codec_sv2::Error),
    /// The pool answered something unexpected.
    Protocol(String),
}

impl Sv2ClientError {
    /// The initiator refused the responder's certificate (signature or validity window).
    pub fn is_invalid_certificate(&self) -> bool {
        self.invalid_certificate().is_some()
    }

    /// The refused certificate's `(valid_from, not_valid_after)`, if that is the error.
    pub fn invalid_certificate(&self) -> Option<(u32, u32)> {
        match self {
            Sv2ClientError::Handshake(codec_sv2::Error::NoiseSv2Error(
                noise_sv2::Error::InvalidCertificate(m),
            )) => Some((m.valid_from, m.not_valid_after)),
            _ => None,
        }
    }
}

impl std::fmt::Display for Sv2ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sv2ClientError::Io(e) => write!(f, "io: {e}"),
            Sv2ClientError::Handshake(e) => write!(f, "handshake: {e}"),
            Sv2ClientError::Protocol(e) => write!(f, "protocol: {e}"),
        }
    }
}

/// A job as the client holds it.
#[derive(Clone, Debug)]
pub struct ClientJob {
    pub job_id: u32,
    pub min_ntime: Option<u32>,
    pub version: u32,
    pub version_rolling_allowed: bool,
    pub merkle_path: Vec<[u8; 32]>,
    pub coinbase_tx_prefix: Vec<u8>,
    pub coinbase_tx_suffix: Vec<u8>,
}

/// A share as submitted in `SubmitSharesExtended`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sv2Share {
    pub job_id: u32,
    pub nonce: u32,
    pub ntime: u32,
    pub version: u32,
    /// The rolled part only (`extranonce_size` bytes; the pool prepends its prefix).
    pub extranonce: Vec<u8>,
}

/// The pool's answer to one share.
#[derive(Clone, Debug, PartialEq)]
pub enum ShareReply {
    Accepted {
        last_sequence_number: u32,
        new_submits_accepted_count: u32,
        new_shares_sum: u64,
    },
    Rejected {
        sequence_number: u32,
        error_code: String,
    },
}

/// An SV2 mining client on SRI's Noise initiator and codec: one extended channel.
pub struct Sv2TestClient {
    stream: TcpStream,
    tx: Tx,
    rx: Rx,
    pub channel_id: u32,
    pub extranonce_prefix: Vec<u8>,
    pub extranonce_size: u16,
    /// Channel target, 256-bit little-endian.
    pub target: [u8; 32],
    /// Jobs received (future and active), by id.
    pub jobs: HashMap<u32, ClientJob>,
    /// The job to mine on, once a prevhash made one active.
    pub active_job: Option<u32>,
    pub prev_hash: [u8; 32],
    pub nbits: u32,
    /// nTime to mine with (the active job's `min_ntime`).
    pub ntime: u32,
    pub jobs_received: u64,
    pub prev_hashes_received: u64,
    /// `SetupConnection.Success.flags` from the pool.
    pub setup_flags: u32,
    sequence: u32,
    pending: Vec<ShareReply>,
}

impl Sv2TestClient {
    /// Connect, run the Noise handshake against `authority_pubkey`, `SetupConnection`, open an
    /// extended channel and wait (≤ 10 s) until a job is active.
    pub fn connect(addr: SocketAddr, authority_pubkey: [u8; 32]) -> Result<Self, Sv2ClientError> {
        let io = |e: io::Error| Sv2ClientError::Io(e.to_string());
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(io)?;
        stream.set_read_timeout(Some(POLL)).map_err(io)?;
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .map_err(io)?;
        let _ = stream.set_nodelay(true);
        let alive = || true;
        let deadline = || Some(Instant::now() + FRAME_DEADLINE);

        let initiator = Initiator::from_raw_k(authority_pubkey)
            .map_err(|e| Sv2ClientError::Handshake(e.into()))?;
        let (act1, sent) = Handshake::initiator(initiator)
            .step_0()
            .map_err(Sv2ClientError::Handshake)?;
        let mut encoder = NoiseEncoder::new();
        let bytes = encoder.encode_handshake(act1);
        (&stream).write_all(bytes.as_ref()).map_err(io)?;
        let mut decoder = NoiseDecoder::new();
        let act2 = loop {
            match decoder.next_handshake_frame::<InitiatorSent>() {
                Ok(Decoded::Frame(f)) => break f,
                Ok(Decoded::Incomplete(_)) => {
                    wait_readable(&stream, deadline(), &mut || Ok(()))
                        .map_err(Sv2ClientError::Io)?;
                    read_full(&stream, decoder.writable(), &alive).map_err(Sv2ClientError::Io)?;
                }
                Err(e) => return Err(Sv2ClientError::Handshake(e)),
            }
        };
        let act2: [u8; INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE] = act2
            .payload()
            .try_into()
            .map_err(|_| Sv2ClientError::Protocol("act 2 length".into()))?;
        let transport = sent.step_2(act2).map_err(Sv2ClientError::Handshake)?;
        let (enc, dec) = transport.split();
        let mut client = Sv2TestClient {
            tx: Tx {
                stream: stream.try_clone().map_err(io)?,
                encoder,
                enc,
            },
            rx: Rx {
                decoder,
                dec: Some(dec),
            },
            stream,
            channel_id: 0,
            extranonce_prefix: Vec::new(),
            extranonce_size: 0,
            target: [0; 32],
            jobs: HashMap::new(),
            active_job: None,
            prev_hash: [0; 32],
            nbits: 0,
            ntime: 0,
            jobs_received: 0,
            prev_hashes_received: 0,
            setup_flags: 0,
            sequence: 0,
            pending: Vec::new(),
        };

        let setup = SetupConnection {
            protocol: Protocol::MiningProtocol,
            min_version: SV2_VERSION,
            max_version: SV2_VERSION,
            flags: 0,
            endpoint_host: Str0255::try_from("127.0.0.1").expect("short"),
            endpoint_port: addr.port(),
            vendor: Str0255::try_from("hashmux-tests").expect("short"),
            hardware_version: Str0255::try_from("cpu").expect("short"),
            firmware: Str0255::try_from("sri-test-client").expect("short"),
            device_id: Str0255::try_from("sv2-selftest").expect("short"),
        };
        client.send(setup, MESSAGE_TYPE_SETUP_CONNECTION, false)?;
        let mut f = client.recv_frame(deadline())?;
        match f.msg_type {
            MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS => {
                let m: SetupConnectionSuccess = binary_sv2::from_bytes(&mut f.payload)
                    .map_err(|e| Sv2ClientError::Protocol(format!("{e:?}")))?;
                if m.used_version != SV2_VERSION {
                    return Err(Sv2ClientError::Protocol(format!(
                        "used_version {}",
                        m.used_version
                    )));
                }
                client.setup_flags = m.flags;
            }
            t => {
                return Err(Sv2ClientError::Protocol(format!(
                    "expected SetupConnection.Success, got 0x{t:02x}"
                )))
            }
        }

        let open = OpenExtendedMiningChannel {
            request_id: 1,
            user_identity: Str0255::try_from("sv2-selftest.worker").expect("short"),
            nominal_hash_rate: 1.0e6,
            max_target: U256::from(&[0xff; 32]),
            min_extranonce_size: 4,
        };
        client.send(open, MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL, false)?;
        let mut f = client.recv_frame(deadline())?;
        match f.msg_type {
            MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS => {
                let m: OpenExtendedMiningChannelSuccess = binary_sv2::from_bytes(&mut f.payload)
                    .map_err(|e| Sv2ClientError::Protocol(format!("{e:?}")))?;
                client.channel_id = m.channel_id;
                client.target = m.target.to_array();
                client.extranonce_size = m.extranonce_size;
                client.extranonce_prefix = m.extranonce_prefix.as_bytes().to_vec();
            }
            t => {
                return Err(Sv2ClientError::Protocol(format!(
                    "expected OpenExtendedMiningChannel.Success, got 0x{t:02x}"
                )))
            }
        }
        let until = Instant::now() + FRAME_DEADLINE;
        while client.active_job.is_none() {
            if Instant::now() >= until {
                return Err(Sv2ClientError::Protocol("no active job within 10 s".into()));
            }
            client.poll_one(Some(until))?;
        }
        Ok(client)
    }

    fn send<T: Serialize + GetSize>(
        &mut self,
        msg: T,
        msg_type: u8,
        channel_msg: bool,
    ) -> Result<(), Sv2ClientError> {
        self.tx
            .send(msg, msg_type, channel_msg)
            .map_err(Sv2ClientError::Io)
    }

    fn recv_frame(&mut self, deadline: Option<Instant>) -> Result<Frame, Sv2ClientError> {
        self.rx
            .recv(&self.stream, deadline, &mut || Ok(()), &|| true)
            .map_err(Sv2ClientError::Io)
    }

    /// Read and apply one message (jobs, prevhash, target, share replies are queued).
    fn poll_one(&mut self, deadline: Option<Instant>) -> Result<(), Sv2ClientError> {
        let mut f = self.recv_frame(deadline)?;
        let bad = |e: binary_sv2::Error| Sv2ClientError::Protocol(format!("decode: {e:?}"));
        match f.msg_type {
            MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB => {
                let m: NewExtendedMiningJob =
                    binary_sv2::from_bytes(&mut f.payload).map_err(bad)?;
                let job = ClientJob {
                    job_id: m.job_id,
                    min_ntime: m.min_ntime.as_ref().copied(),
                    version: m.version,
                    version_rolling_allowed: m.version_rolling_allowed,
                    merkle_path: m.merkle_path.iter().map(|h| h.to_array()).collect(),
                    coinbase_tx_prefix: m.coinbase_tx_prefix.as_bytes().to_vec(),
                    coinbase_tx_suffix: m.coinbase_tx_suffix.as_bytes().to_vec(),
                };
                self.jobs_received += 1;
                if let Some(t) = job.min_ntime {
                    self.active_job = Some(job.job_id);
                    self.ntime = t;
                }
                self.jobs.insert(job.job_id, job);
            }
            MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH => {
                let m: SetNewPrevHash = binary_sv2::from_bytes(&mut f.payload).map_err(bad)?;
                self.prev_hashes_received += 1;
                self.prev_hash = m.prev_hash.to_array();
                self.nbits = m.nbits;
                self.ntime = m.min_ntime;
                self.active_job = Some(m.job_id);
                self.jobs.retain(|id, _| *id == m.job_id);
            }
            MESSAGE_TYPE_SET_TARGET => {
                let m: SetTarget = binary_sv2::from_bytes(&mut f.payload).map_err(bad)?;
                self.target = m.maximum_target.to_array();
            }
            MESSAGE_TYPE_SUBMIT_SHARES_SUCCESS => {
                let m: SubmitSharesSuccess = binary_sv2::from_bytes(&mut f.payload).map_err(bad)?;
                self.pending.push(ShareReply::Accepted {
                    last_sequence_number: m.last_sequence_number,
                    new_submits_accepted_count: m.new_submits_accepted_count,
                    new_shares_sum: m.new_shares_sum,
                });
            }
            MESSAGE_TYPE_SUBMIT_SHARES_ERROR => {
                let m: SubmitSharesError = binary_sv2::from_bytes(&mut f.payload).map_err(bad)?;
                self.pending.push(ShareReply::Rejected {
                    sequence_number: m.sequence_number,
                    error_code: String::from_utf8_lossy(m.error_code.as_bytes()).into_owned(),
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// Process whatever the pool sends for `dur` (new jobs, prevhashes, targets).
    pub fn poll_for(&mut self, dur: Duration) -> Result<(), Sv2ClientError> {
        let until = Instant::now() + dur;
        while Instant::now() < until {
            match self.poll_one(Some(until)) {
                Ok(()) => {}
                Err(Sv2ClientError::Io(e)) if e.starts_with("timed out") => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The active job.
    pub fn job(&self) -> Option<&ClientJob> {
        self.active_job.and_then(|id| self.jobs.get(&id))
    }

    /// The header hash of `share` on the job it names (None if the job is unknown).
    pub fn share_hash(&self, share: &Sv2Share) -> Option<[u8; 32]> {
        let job = self.jobs.get(&share.job_id)?;
        let mut coinbase = job.coinbase_tx_prefix.clone();
        coinbase.extend_from_slice(&self.extranonce_prefix);
        coinbase.extend_from_slice(&share.extranonce);
        coinbase.extend_from_slice(&job.coinbase_tx_suffix);
        let root = merkle_root(&coinbase, &job.merkle_path);
        let header = block_header(
            share.version,
            &self.prev_hash,
            &root,
            share.ntime,
            self.nbits,
            share.nonce,
        );
        Some(sha256d(&header))
    }

    /// Whether `share` meets the channel target.
    pub fn meets_target(&self, share: &Sv2Share) -> bool {
        self.share_hash(share)
            .is_some_and(|h| le256_cmp(&h, &self.target).is_le())
    }

    /// Search nonces on the active job (extranonce `extranonce_tag` padded with zeros) for a
    /// share meeting the channel target, trying at most `max_hashes` nonces.
    pub fn find_share(&self, extranonce_tag: u64, max_hashes: u64) -> Option<Sv2Share> {
        let job = self.job()?;
        let mut extranonce = vec![0u8; self.extranonce_size as usize];
        let tag = extranonce_tag.to_le_bytes();
        let k = extranonce.len().min(8);
        extranonce[..k].copy_from_slice(&tag[..k]);
        let mut coinbase = job.coinbase_tx_prefix.clone();
        coinbase.extend_from_slice(&self.extranonce_prefix);
        coinbase.extend_from_slice(&extranonce);
        coinbase.extend_from_slice(&job.coinbase_tx_suffix);
        let root = merkle_root(&coinbase, &job.merkle_path);
        let mut header = block_header(
            job.version,
            &self.prev_hash,
            &root,
            self.ntime,
            self.nbits,
            0,
        );
        for n in 0..max_hashes.min(1u64 << 32) {
            let nonce = n as u32;
            header[76..80].copy_from_slice(&nonce.to_le_bytes());
            let hash = sha256d(&header);
            if le256_cmp(&hash, &self.target).is_le() {
                return Some(Sv2Share {
                    job_id: job.job_id,
                    nonce,
                    ntime: self.ntime,
                    version: job.version,
                    extranonce,
                });
            }
        }
        None
    }

    /// Submit `share` and wait (≤ 10 s) for the pool's answer to it.
    pub fn submit(&mut self, share: &Sv2Share) -> Result<ShareReply, Sv2ClientError> {
        self.sequence += 1;
        let seq = self.sequence;
        let msg = SubmitSharesExtended {
            channel_id: self.channel_id,
            sequence_number: seq,
            job_id: share.job_id,
            nonce: share.nonce,
            ntime: share.ntime,
            version: share.version,
            extranonce: B032::try_from(&share.extranonce[..])
                .map_err(|e| Sv2ClientError::Protocol(format!("extranonce: {e:?}")))?,
        };
        self.send(msg, MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED, true)?;
        let until = Instant::now() + FRAME_DEADLINE;
        loop {
            let found = self.pending.iter().position(|r| match r {
                ShareReply::Accepted {
                    last_sequence_number,
                    ..
                } => *last_sequence_number >= seq,
                ShareReply::Rejected {
                    sequence_number, ..
                } => *sequence_number == seq,
            });
            if let Some(i) = found {
                return Ok(self.pending.remove(i));
            }
            if Instant::now() >= until {
                return Err(Sv2ClientError::Io(format!(
                    "timed out waiting for the answer to share {seq}"
                )));
            }
            self.poll_one(Some(until))?;
        }
    }

    /// Mine a share for real on the active job (≤ 50M hashes) and submit it; Ok(true) if the
    /// pool accepted it.
    pub fn mine_and_submit(&mut self) -> Result<bool, Sv2ClientError> {
        let tag = self.sequence as u64 + 1;
        let share = self
            .find_share(tag, 50_000_000)
            .ok_or_else(|| Sv2ClientError::Protocol("no share within 50M hashes".into()))?;
        Ok(matches!(self.submit(&share)?, ShareReply::Accepted { .. }))
    }

    /// Send `UpdateChannel` with `nominal_hash_rate` and the given maximum target.
    pub fn update_channel(
        &mut self,
        nominal_hash_rate: f32,
        maximum_target: [u8; 32],
    ) -> Result<(), Sv2ClientError> {
        let msg = UpdateChannel {
            channel_id: self.channel_id,
            nominal_hash_rate,
            maximum_target: U256::from(&maximum_target),
        };
        self.send(msg, MESSAGE_TYPE_UPDATE_CHANNEL, true)
    }

    /// Send `CloseChannel`.
    pub fn close_channel(&mut self) -> Result<(), Sv2ClientError> {
        let msg = CloseChannel {
            channel_id: self.channel_id,
            reason_code: Str0255::try_from("done").expect("short"),
        };
        self.send(msg, MESSAGE_TYPE_CLOSE_CHANNEL, true)
    }

    /// Send a message of type `msg_type` (extension 0) with a 6-byte dummy payload, e.g. one the
    /// pool does not know.
    pub fn send_raw(&mut self, msg_type: u8) -> Result<(), Sv2ClientError> {
        let dummy = SetupConnectionSuccess {
            used_version: 0,
            flags: 0,
        };
        self.send(dummy, msg_type, false)
    }
}
