//! A test-only Stratum V2 miner on the Stratum V2 Reference Implementation (SRI) crates: the
//! SRI Noise initiator and codec carry the frames, the SRI message types encode and decode them,
//! and the hashing is our own sha256d (`sv2util.rs`). It is independent of hashmux's `stratum2`
//! code, so a test can point it at hashmux's SV2 server side and check what comes back.
//!
//! [`Sv2Miner::start`] runs one connection in its own thread: TCP connect, Noise NX handshake
//! (certificate checked against the authority key, SRI's validity-window check included),
//! `SetupConnection` (mining protocol, version 2, the configured flags), then one standard or
//! extended channel ([`ChannelKind`]). It follows jobs as sv2-spec 05-Mining-Protocol says:
//!
//! - a job without `min_ntime` is a future job, mined once a `SetNewPrevHash` names it; a
//!   `SetNewPrevHash` drops every other job; a job with `min_ntime` is active at once on the
//!   current prevhash (kept until one arrives);
//! - header = version ‖ prev_hash ‖ merkle root ‖ ntime ‖ nbits ‖ nonce, with ntime =
//!   max(job `min_ntime`, prevhash `min_ntime`) and nbits from the `SetNewPrevHash`; standard
//!   jobs carry the merkle root, extended jobs the coinbase halves and merkle path (coinbase =
//!   prefix ‖ extranonce_prefix ‖ miner extranonce ‖ suffix, the miner's part being the
//!   `extranonce_size` bytes of `OpenExtendedMiningChannel.Success`);
//! - `SetExtranoncePrefix` applies to the jobs received after it (each job keeps the prefix in
//!   force when it arrived); `SetTarget` applies at once;
//! - shares whose hash ≤ channel target (256-bit little-endian) are sent as
//!   `SubmitSharesStandard` / `SubmitSharesExtended`, sequence numbers from 0 up; the version is
//!   the job's, unless the configured flags carry `REQUIRES_VERSION_ROLLING`, the upstream's
//!   `SetupConnection.Success` does not carry `REQUIRES_FIXED_VERSION` and (extended jobs) the
//!   job allows rolling: then BIP320 bits (`0x1fffe000`) change with every new piece of work.
//!
//! A certificate the SRI initiator refuses counts in `handshake_failed`, and nothing is sent on
//! that connection. `SetupConnection.Error`, `OpenMiningChannel.Error`, a `CloseChannel` or a
//! lost connection end the connection; it reconnects after `reconnect_delay` (None: the thread
//! ends).
//!
//! Each loop turn hashes at most `hashes_per_turn` nonces, then looks at the socket; with no work
//! it waits for frames through 50 ms read timeouts, so the stop flag is seen within about 50 ms.
//! [`Sv2Miner`] stops and joins its thread on drop. A debug build hashes about 500k headers a
//! second (midstate, `sv2util::HeaderHasher`): pick share difficulties around 1e-5 (43k hashes a
//! share), and `max_hashrate` to leave CPU to the code under test.
//!
//! Include it with its helpers (the allow goes on the `mod` items):
//!
//! ```ignore
//! #[path = "common/sv2util.rs"]
//! #[allow(dead_code)]
//! mod sv2util;
//! #[path = "common/sv2miner.rs"]
//! #[allow(dead_code)]
//! mod sv2miner;
//! ```
//!
//! The channel state machine ([`ChannelState`]) and the setup exchanges ([`setup_connection`],
//! [`open_channel`]) are in `sv2channel.rs`, included here as the `channel` module and
//! re-exported; the step-by-step client in `sv2client.rs` uses them too.

#[path = "sv2channel.rs"]
mod channel;
pub use channel::*;

use crate::sv2util::{
    search_nonces, Frame, Sv2ClientError, Wire, BIP320_VERSION_MASK, POLL, REQUIRES_VERSION_ROLLING,
};
use binary_sv2::B032;
use mining_sv2::{
    SubmitSharesExtended, SubmitSharesStandard, MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED,
    MESSAGE_TYPE_SUBMIT_SHARES_STANDARD,
};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Which channel the miner opens.
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelKind {
    /// `OpenStandardMiningChannel`: header-only mining on `NewMiningJob`.
    Standard,
    /// `OpenExtendedMiningChannel` asking for at least `min_extranonce_size` bytes to roll.
    Extended { min_extranonce_size: u16 },
}

/// Miner settings; [`Sv2MinerConfig::new`] fills in the defaults.
#[derive(Clone, Debug)]
pub struct Sv2MinerConfig {
    /// Upstream address (hashmux's SV2 server side, or a test pool).
    pub addr: SocketAddr,
    /// Authority x-only public key the upstream's certificate must be signed with.
    pub authority_pubkey: [u8; 32],
    pub channel: ChannelKind,
    /// `user_identity` of the channel.
    pub user: String,
    /// `nominal_hash_rate` of the channel (hashes/s), as reported; not a limit.
    pub nominal_hashrate: f32,
    /// `SetupConnection.flags`; default 0 (in particular `REQUIRES_VERSION_ROLLING` unset). With
    /// `REQUIRES_VERSION_ROLLING` set the miner rolls BIP320 bits where the job and the upstream
    /// allow it.
    pub setup_flags: u32,
    /// `max_target` of the channel (256-bit little-endian); default all 0xff.
    pub max_target: [u8; 32],
    /// `SetupConnection.device_id`.
    pub device_id: String,
    /// Nonces hashed per loop turn before the socket is looked at again.
    pub hashes_per_turn: u32,
    /// Hash at most this many hashes per second (None: as fast as the CPU goes).
    pub max_hashrate: Option<f64>,
    /// Wait before reconnecting after a lost or refused connection; None: do not reconnect.
    pub reconnect_delay: Option<Duration>,
}

impl Sv2MinerConfig {
    /// An extended channel (min extranonce 4) for user `sv2miner.worker` at a nominal 1 MH/s.
    pub fn new(addr: SocketAddr, authority_pubkey: [u8; 32]) -> Self {
        Sv2MinerConfig {
            addr,
            authority_pubkey,
            channel: ChannelKind::Extended {
                min_extranonce_size: 4,
            },
            user: "sv2miner.worker".into(),
            nominal_hashrate: 1.0e6,
            setup_flags: 0,
            max_target: [0xff; 32],
            device_id: "sv2miner".into(),
            hashes_per_turn: 10_000,
            max_hashrate: None,
            reconnect_delay: Some(Duration::from_millis(500)),
        }
    }
}

/// What the miner saw and did, cumulated over its connections; [`Sv2Miner::stats`] returns a
/// snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sv2MinerStats {
    /// TCP connections made.
    pub connects: u64,
    /// Handshakes the SRI initiator refused (a certificate not signed by the authority key, or
    /// outside its validity window); nothing is sent after such a handshake.
    pub handshake_failed: u64,
    /// Handshakes completed.
    pub handshakes_ok: u64,
    /// `SetupConnection.Success` received.
    pub setup_ok: u64,
    /// `SetupConnection.Error` received.
    pub setup_refused: u64,
    /// Flags of the last `SetupConnection.Success`.
    pub setup_success_flags: u32,
    /// Channels opened (`Open*MiningChannel.Success`).
    pub channel_opened: u64,
    /// `OpenMiningChannel.Error` received.
    pub channel_refused: u64,
    /// The open channel, while connected.
    pub channel_id: Option<u32>,
    /// Channel open and mining or waiting for work.
    pub connected: bool,
    /// The current extranonce prefix.
    pub extranonce_prefix: Vec<u8>,
    /// Bytes of extranonce the miner rolls (extended channels).
    pub extranonce_size: u16,
    /// `SetExtranoncePrefix` messages applied.
    pub extranonce_prefix_changes: u64,
    /// The current channel target (256-bit little-endian).
    pub target: [u8; 32],
    /// Jobs received (`NewMiningJob` / `NewExtendedMiningJob`), future ones included.
    pub jobs: u64,
    /// Future jobs (no `min_ntime`) among them.
    pub future_jobs: u64,
    /// `SetNewPrevHash` received.
    pub prev_hashes: u64,
    /// `SetNewPrevHash` naming a job the miner did not have.
    pub prev_hash_unknown_job: u64,
    /// `SetTarget` received.
    pub targets_set: u64,
    /// Hashes computed.
    pub hashes: u64,
    /// Shares submitted.
    pub submitted: u64,
    /// Shares submitted with version bits rolled away from the job's version.
    pub version_rolled: u64,
    /// Sum of `new_submits_accepted_count` over `SubmitShares.Success`.
    pub accepted: u64,
    /// Sum of `new_shares_sum` over `SubmitShares.Success`.
    pub shares_sum: u64,
    /// `SubmitShares.Error` received.
    pub rejected: u64,
    /// `SubmitShares.Error` by error code.
    pub rejected_by_code: BTreeMap<String, u64>,
    /// Frames of an unknown or unexpected type, for another channel, or of another extension.
    pub unexpected_messages: u64,
    /// Connections lost or refused (not counting the stop at the end).
    pub disconnects: u64,
    /// Why the last connection ended or failed.
    pub last_error: Option<String>,
}

impl Sv2MinerStats {
    /// Shares rejected with `code`.
    pub fn rejected(&self, code: &str) -> u64 {
        self.rejected_by_code.get(code).copied().unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------------
// The miner thread.

struct Shared {
    stop: AtomicBool,
    stats: Mutex<Sv2MinerStats>,
}

impl Shared {
    fn stats(&self) -> MutexGuard<'_, Sv2MinerStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn alive(&self) -> bool {
        !self.stop.load(Ordering::SeqCst)
    }
}

/// A running test miner; stops and joins its thread on drop.
pub struct Sv2Miner {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Sv2Miner {
    /// Start mining in a background thread.
    pub fn start(cfg: Sv2MinerConfig) -> Sv2Miner {
        assert!(cfg.hashes_per_turn > 0, "hashes_per_turn must be > 0");
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            stats: Mutex::new(Sv2MinerStats::default()),
        });
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sv2miner".into())
            .spawn(move || run(cfg, sh))
            .expect("spawn miner thread");
        Sv2Miner {
            shared,
            thread: Some(thread),
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Sv2MinerStats {
        self.shared.stats().clone()
    }

    /// Whether the thread still runs (it ends on stop, or after a failure without reconnect).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stop, join, and return the final counters.
    pub fn stop(mut self) -> Sv2MinerStats {
        self.halt();
        self.stats()
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sv2Miner {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run(cfg: Sv2MinerConfig, sh: Arc<Shared>) {
    while sh.alive() {
        let result = session(&cfg, &sh);
        {
            let mut st = sh.stats();
            st.connected = false;
            st.channel_id = None;
            if let Err(e) = result {
                if sh.alive() {
                    st.disconnects += 1;
                    st.last_error = Some(e.to_string());
                }
            }
        }
        let Some(delay) = cfg.reconnect_delay else {
            break;
        };
        let until = Instant::now() + delay;
        while sh.alive() && Instant::now() < until {
            std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
        }
    }
}

/// One connection, from TCP connect to its end (Ok: stopped).
fn session(cfg: &Sv2MinerConfig, sh: &Shared) -> Result<(), Sv2ClientError> {
    let alive = || sh.alive();
    let stream = TcpStream::connect_timeout(&cfg.addr, Duration::from_secs(2))
        .map_err(|e| Sv2ClientError::Io(format!("connect {}: {e}", cfg.addr)))?;
    sh.stats().connects += 1;
    let mut wire = match Wire::handshake(stream, Some(cfg.authority_pubkey), &alive) {
        Ok(w) => w,
        Err(e) => {
            if matches!(e, Sv2ClientError::Handshake(_)) {
                sh.stats().handshake_failed += 1;
            }
            return Err(e);
        }
    };
    sh.stats().handshakes_ok += 1;
    let flags = match setup_connection(&mut wire, cfg.addr, cfg.setup_flags, &cfg.device_id, &alive)
    {
        Ok(f) => f,
        Err(e) => {
            if matches!(e, Sv2ClientError::Refused(..)) {
                sh.stats().setup_refused += 1;
            }
            return Err(e);
        }
    };
    {
        let mut st = sh.stats();
        st.setup_ok += 1;
        st.setup_success_flags = flags;
    }
    let kind = &cfg.channel;
    let ch = match open_channel(
        &mut wire,
        kind,
        &cfg.user,
        cfg.nominal_hashrate,
        cfg.max_target,
        &alive,
    ) {
        Ok(ch) => ch,
        Err(e) => {
            if matches!(e, Sv2ClientError::Refused(..)) {
                sh.stats().channel_refused += 1;
            }
            return Err(e);
        }
    };
    {
        let mut st = sh.stats();
        st.channel_opened += 1;
        st.channel_id = Some(ch.channel_id);
        st.connected = true;
        st.extranonce_prefix = ch.extranonce_prefix.clone();
        st.extranonce_size = ch.extranonce_size;
        st.target = ch.target;
    }
    let roll_versions =
        cfg.setup_flags & REQUIRES_VERSION_ROLLING != 0 && flags & REQUIRES_FIXED_VERSION == 0;
    let mut m = Mining {
        cfg,
        sh,
        wire,
        ch,
        roll_versions,
        sequence: 0,
        work: None,
        counter: 0,
        started: Instant::now(),
        hashed: 0,
    };
    m.run()
}

/// What the miner is hashing on.
struct Work {
    job_id: u32,
    version: u32,
    ntime: u32,
    extranonce: Vec<u8>,
    header: [u8; 80],
    next_nonce: u64,
    /// Every nonce tried and nothing left to roll: wait for new work.
    exhausted: bool,
}

struct Mining<'a> {
    cfg: &'a Sv2MinerConfig,
    sh: &'a Shared,
    wire: Wire,
    ch: ChannelState,
    roll_versions: bool,
    sequence: u32,
    work: Option<Work>,
    /// Source of extranonces and rolled version bits.
    counter: u64,
    started: Instant,
    hashed: u64,
}

impl Mining<'_> {
    fn run(&mut self) -> Result<(), Sv2ClientError> {
        let sh = self.sh;
        let alive = || sh.alive();
        while sh.alive() {
            // Frames first; wait for them (≤ 50 ms) only when there is nothing to hash.
            let mut wait = !self.has_work();
            while let Some(mut f) = self.wire.poll(wait, &alive)? {
                self.handle(&mut f)?;
                wait = false;
                if !sh.alive() {
                    return Ok(());
                }
            }
            if self.has_work() {
                self.mine_turn()?;
                self.throttle();
            }
        }
        Ok(())
    }

    fn has_work(&mut self) -> bool {
        if self.work.is_none() {
            self.work = self.build_work();
        }
        self.work.as_ref().is_some_and(|w| !w.exhausted)
    }

    fn build_work(&mut self) -> Option<Work> {
        let job = self.ch.job()?;
        self.counter += 1;
        let mut extranonce = vec![0u8; self.ch.extranonce_size as usize];
        let tag = self.counter.to_le_bytes();
        let k = extranonce.len().min(8);
        extranonce[..k].copy_from_slice(&tag[..k]);
        let rolls = self.roll_versions && (!self.ch.extended || job.version_rolling_allowed);
        let version = if rolls {
            let bits = ((self.counter % 0xffff) + 1) << 13;
            (job.version & !BIP320_VERSION_MASK) | (bits as u32 & BIP320_VERSION_MASK)
        } else {
            job.version
        };
        let ntime = self.ch.ntime_for(job);
        Some(Work {
            job_id: job.job_id,
            version,
            ntime,
            header: self.ch.header(job, &extranonce, version, ntime, 0),
            extranonce,
            next_nonce: 0,
            exhausted: false,
        })
    }

    fn handle(&mut self, f: &mut Frame) -> Result<(), Sv2ClientError> {
        let applied = self.ch.apply(f).map_err(Sv2ClientError::Protocol)?;
        let mut st = self.sh.stats();
        match applied {
            Applied::Job { future } => {
                st.jobs += 1;
                st.future_jobs += future as u64;
                if self.work.as_ref().map(|w| w.job_id) != self.ch.active_job {
                    self.work = None;
                }
            }
            Applied::PrevHash { activated } => {
                st.prev_hashes += 1;
                st.prev_hash_unknown_job += !activated as u64;
                self.work = None;
            }
            Applied::Target => {
                st.targets_set += 1;
                st.target = self.ch.target;
            }
            Applied::ExtranoncePrefix => {
                st.extranonce_prefix_changes += 1;
                st.extranonce_prefix = self.ch.extranonce_prefix.clone();
            }
            Applied::Reply(ShareReply::Accepted {
                new_submits_accepted_count,
                new_shares_sum,
                ..
            }) => {
                st.accepted += new_submits_accepted_count as u64;
                st.shares_sum += new_shares_sum;
            }
            Applied::Reply(ShareReply::Rejected { error_code, .. }) => {
                st.rejected += 1;
                *st.rejected_by_code.entry(error_code).or_insert(0) += 1;
            }
            Applied::Closed(reason) => {
                return Err(proto(&format!("channel closed by the upstream: {reason}")));
            }
            Applied::Foreign | Applied::Unexpected => st.unexpected_messages += 1,
        }
        Ok(())
    }

    /// Hash up to `hashes_per_turn` nonces on the current work; submit a share if one is found.
    fn mine_turn(&mut self) -> Result<(), Sv2ClientError> {
        let target = self.ch.target;
        let work = self.work.as_mut().expect("work");
        let count = self.cfg.hashes_per_turn as u64;
        let (found, tried) = search_nonces(&mut work.header, work.next_nonce, count, &target);
        work.next_nonce += tried;
        self.hashed += tried;
        self.sh.stats().hashes += tried;
        if let Some((nonce, _)) = found {
            self.submit(nonce)?;
        }
        let work = self.work.as_mut().expect("work");
        if work.next_nonce >= 1u64 << 32 {
            if self.ch.extended && self.ch.extranonce_size > 0 {
                self.work = None; // a new extranonce
            } else {
                work.exhausted = true;
            }
        }
        Ok(())
    }

    fn submit(&mut self, nonce: u32) -> Result<(), Sv2ClientError> {
        let work = self.work.as_ref().expect("work");
        let job_version = self.ch.jobs.get(&work.job_id).map(|j| j.version);
        let seq = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        if self.ch.extended {
            let msg = SubmitSharesExtended {
                channel_id: self.ch.channel_id,
                sequence_number: seq,
                job_id: work.job_id,
                nonce,
                ntime: work.ntime,
                version: work.version,
                extranonce: B032::try_from(&work.extranonce[..])
                    .map_err(|e| proto(&format!("extranonce: {e:?}")))?,
            };
            self.wire
                .send(msg, MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED, true)?;
        } else {
            let msg = SubmitSharesStandard {
                channel_id: self.ch.channel_id,
                sequence_number: seq,
                job_id: work.job_id,
                nonce,
                ntime: work.ntime,
                version: work.version,
            };
            self.wire
                .send(msg, MESSAGE_TYPE_SUBMIT_SHARES_STANDARD, true)?;
        }
        let mut st = self.sh.stats();
        st.submitted += 1;
        st.version_rolled += (job_version != Some(work.version)) as u64;
        Ok(())
    }

    /// Under `max_hashrate`, sleep (≤ 50 ms at a time) until the hashes done fit the rate.
    fn throttle(&self) {
        let Some(rate) = self.cfg.max_hashrate.filter(|r| *r > 0.0) else {
            return;
        };
        let due = Duration::from_secs_f64(self.hashed as f64 / rate);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            std::thread::sleep((due - elapsed).min(POLL));
        }
    }
}
