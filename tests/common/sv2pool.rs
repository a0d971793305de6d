//! Test-only Stratum V2 pool built on the Stratum V2 Reference Implementation (SRI) crates rather
//! than on hashmux's own `stratum2` code.
//!
//! [`Sv2Pool`] is a blocking-socket SV2 pool on `127.0.0.1:0`. Per connection it runs the SRI
//! Noise NX responder (`noise_sv2::Responder` through `codec_sv2`), answers `SetupConnection`
//! (mining protocol, version 2) and `OpenExtendedMiningChannel` (extended channels only), sends a
//! future `NewExtendedMiningJob` activated by `SetNewPrevHash`, then a fresh job (active at once,
//! `min_ntime` set) every `job_interval_ms`. On request it moves every channel to a new
//! extranonce prefix (`SetExtranoncePrefix`, then a fresh job), or sends every channel a job
//! with a given nTime ([`Sv2Pool::push_job`]); an observer ([`Sv2Pool::set_observer`]) hears
//! when such a job is written and when each share is read (the peers bench times with these). It validates
//! `SubmitSharesExtended` with its own sha256d code (coinbase = prefix ‖ extranonce_prefix ‖
//! extranonce ‖ suffix, merkle fold, 80-byte header, hash ≤ channel target as 256-bit
//! little-endian integers) and answers `SubmitShares.Success` per accepted share or
//! `SubmitShares.Error` with the spec's codes.
//!
//! Integration tests include it together with the helpers it uses (the allow goes on the `mod`
//! items, not in these files):
//!
//! ```ignore
//! #[path = "common/sv2util.rs"]
//! #[allow(dead_code)]
//! mod sv2util;
//! #[path = "common/sv2pool.rs"]
//! #[allow(dead_code)]
//! mod sv2pool;
//! ```
//!
//! The SRI clients that talk to it live in `sv2miner.rs` (a threaded miner) and `sv2client.rs`
//! (a step-by-step client and a raw-frame client). Everything is bounded: every loop polls a
//! stop flag through 50 ms read timeouts, and [`Sv2Pool`] stops and joins its threads on drop.
//!
//! Pool-local conventions (not from the spec): `handshakes_ok` counts connections whose first
//! encrypted frame decrypted (i.e. the client accepted the certificate); jobs of an earlier
//! prevhash ([`Sv2Pool::new_block`]) are rejected as `stale-share`, job ids never issued on the
//! channel as `invalid-job-id`; an nTime below the job's `min_ntime` or more than two hours ahead
//! is rejected as `ntime-out-of-range`; version bits outside the BIP320 mask `0x1fffe000` that
//! differ from the job's version are rejected as `invalid-non-rollable-version-bit`. A share is
//! checked against the extranonce prefix in force when its job was sent (sv2-spec: a
//! `SetExtranoncePrefix` applies to the jobs sent after it).

#[path = "sv2pool_conn.rs"]
mod conn;

use crate::sv2util::{authority_key_to_base58, difficulty_to_target, unix_now};
use conn::serve;
use secp256k1::{Keypair, Secp256k1};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// `nbits` of every job (the difficulty-1 compact target).
pub const POOL_NBITS: u32 = 0x1d00_ffff;
/// `version` of every job (BIP9 top bits only).
pub const POOL_JOB_VERSION: u32 = 0x2000_0000;

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
    /// `SetExtranoncePrefix` messages sent.
    pub extranonce_prefixes_sent: u64,
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

/// What a pool tells an observer ([`Sv2Pool::set_observer`]), with the wall-clock time it
/// happened (comparable across processes on one machine).
#[derive(Clone, Copy, Debug)]
pub enum PoolEvent {
    /// A job from [`Sv2Pool::push_job`] is about to be written to a channel.
    JobSent { ntime: u32, at: SystemTime },
    /// A `SubmitSharesExtended` was read (before it is checked).
    Share { nonce: u32, at: SystemTime },
}

type Observer = Box<dyn Fn(PoolEvent) + Send>;

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
    /// Bumped by `change_extranonce_prefixes`: channels move to a new extranonce prefix.
    prefix_epoch: AtomicU64,
    next_prefix: AtomicU64,
    /// Bumped by `push_job`: every channel gets a job with nTime `job_ntime`.
    job_epoch: AtomicU64,
    job_ntime: AtomicU32,
    observer: Mutex<Option<Observer>>,
    listener: Mutex<Option<TcpListener>>,
    stats: Mutex<Sv2PoolStats>,
    streams: Mutex<Vec<(u64, TcpStream)>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn stats(&self) -> std::sync::MutexGuard<'_, Sv2PoolStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn observe(&self, event: PoolEvent) {
        if let Some(f) = self
            .observer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            f(event);
        }
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
            prefix_epoch: AtomicU64::new(0),
            next_prefix: AtomicU64::new(1),
            job_epoch: AtomicU64::new(0),
            job_ntime: AtomicU32::new(0),
            observer: Mutex::new(None),
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

    /// Every channel gets a new extranonce prefix (same length): `SetExtranoncePrefix`, then a
    /// job active at once. Shares for the jobs sent earlier stay valid with the old prefix.
    pub fn change_extranonce_prefixes(&self) {
        self.shared.prefix_epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Every channel gets a new job, active at once, whose `min_ntime` is `ntime` (sent on the
    /// connection's next turn, within one 50 ms poll).
    pub fn push_job(&self, ntime: u32) {
        self.shared.job_ntime.store(ntime, Ordering::SeqCst);
        self.shared.job_epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Call `f` on every [`PoolEvent`] (from the connections' threads).
    pub fn set_observer(&self, f: impl Fn(PoolEvent) + Send + 'static) {
        *self
            .shared
            .observer
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Box::new(f));
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
