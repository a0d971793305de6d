//! Per-connection half of the test-only SV2 pool (`sv2pool.rs`, which includes this file as its
//! `conn` module): the SRI Noise responder, `SetupConnection`, extended channels, jobs,
//! prevhashes, extranonce prefixes, and the pool's own check of every `SubmitSharesExtended`.

use super::{PoolEvent, Shared, POOL_JOB_VERSION, POOL_NBITS};
use crate::sv2util::{
    block_header, le256_cmp, merkle_root, read_full, sha256d, unix_now, wait_readable, Frame, Rx,
    Tx, BIP320_VERSION_MASK, FRAME_DEADLINE, POLL, SV2_VERSION,
};
use binary_sv2::{Seq0255, Str0255, Sv2Option, B032, B064K, U256};
use codec_sv2::{Decoded, Handshake, NoiseDecoder, NoiseEncoder};
use common_messages_sv2::{
    Protocol, SetupConnection, SetupConnectionError, SetupConnectionSuccess,
    MESSAGE_TYPE_SETUP_CONNECTION, MESSAGE_TYPE_SETUP_CONNECTION_ERROR,
    MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS,
};
use mining_sv2::{
    CloseChannel, NewExtendedMiningJob, OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess, OpenMiningChannelError, SetExtranoncePrefix, SetNewPrevHash,
    SetTarget, SubmitSharesError, SubmitSharesExtended, SubmitSharesSuccess, UpdateChannel,
    UpdateChannelError, MESSAGE_TYPE_CLOSE_CHANNEL, MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH,
    MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB, MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL,
    MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS, MESSAGE_TYPE_OPEN_MINING_CHANNEL_ERROR,
    MESSAGE_TYPE_SET_EXTRANONCE_PREFIX, MESSAGE_TYPE_SET_TARGET, MESSAGE_TYPE_SUBMIT_SHARES_ERROR,
    MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED, MESSAGE_TYPE_SUBMIT_SHARES_SUCCESS,
    MESSAGE_TYPE_UPDATE_CHANNEL, MESSAGE_TYPE_UPDATE_CHANNEL_ERROR,
};
use noise_sv2::{Responder, ELLSWIFT_ENCODING_SIZE};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

const MAX_JOBS_KEPT: usize = 256;
const MAX_FUTURE_NTIME: u32 = 7200;

struct PoolJob {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    merkle_path: Vec<[u8; 32]>,
    version: u32,
    /// Smallest nTime for shares on this job.
    min_ntime: u32,
    /// Block epoch the job belongs to; jobs of an earlier epoch are stale.
    block_epoch: u64,
    /// The channel's extranonce prefix when the job was sent.
    extranonce_prefix: Vec<u8>,
    /// Sent as a future job whose `SetNewPrevHash` has not been sent yet.
    future: bool,
}

struct Channel {
    id: u32,
    extranonce_prefix: Vec<u8>,
    target: [u8; 32],
    jobs: BTreeMap<u32, PoolJob>,
    block_epoch: u64,
    prefix_epoch: u64,
    /// The pool's `job_epoch` this channel has had its pushed job for.
    job_epoch: u64,
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

pub(super) fn serve(sh: &Shared, stream: TcpStream, epoch: u64) -> Result<(), String> {
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
            prefix_epoch: self.sh.prefix_epoch.load(Ordering::SeqCst),
            job_epoch: self.sh.job_epoch.load(Ordering::SeqCst),
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
            extranonce_prefix: ch.extranonce_prefix.clone(),
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

    /// Move a channel to a new extranonce prefix, then send a job that uses it.
    fn send_extranonce_prefix(&mut self, tx: &mut Tx, channel_id: u32) -> Result<(), String> {
        let n = self.sh.next_prefix.fetch_add(1, Ordering::SeqCst);
        let ch = self.channels.get_mut(&channel_id).expect("channel");
        ch.prefix_epoch = self.sh.prefix_epoch.load(Ordering::SeqCst);
        ch.extranonce_prefix = extranonce_prefix_for(n, ch.extranonce_prefix.len());
        let msg = SetExtranoncePrefix {
            channel_id,
            extranonce_prefix: B032::try_from(&ch.extranonce_prefix[..]).expect("<= 32 bytes"),
        };
        tx.send(msg, MESSAGE_TYPE_SET_EXTRANONCE_PREFIX, true)?;
        self.sh.stats().extranonce_prefixes_sent += 1;
        self.send_job(tx, channel_id, Some(unix_now()))?;
        Ok(())
    }

    /// Periodic work: new prevhash after [`Sv2Pool::new_block`], new extranonce prefix after
    /// [`Sv2Pool::change_extranonce_prefixes`], a job after [`Sv2Pool::push_job`], follow-up
    /// jobs on the interval.
    fn tick(&mut self, tx: &mut Tx) -> Result<(), String> {
        let epoch = self.sh.block_epoch.load(Ordering::SeqCst);
        let prefix_epoch = self.sh.prefix_epoch.load(Ordering::SeqCst);
        let job_epoch = self.sh.job_epoch.load(Ordering::SeqCst);
        let interval = self.sh.cfg.job_interval_ms;
        let ids: Vec<u32> = self.channels.keys().copied().collect();
        for id in ids {
            let ch = &self.channels[&id];
            if ch.block_epoch != epoch {
                self.send_prev_hash(tx, id, epoch)?;
            } else if ch.prefix_epoch != prefix_epoch {
                self.send_extranonce_prefix(tx, id)?;
            } else if ch.job_epoch != job_epoch {
                let ntime = self.sh.job_ntime.load(Ordering::SeqCst);
                self.channels.get_mut(&id).expect("channel").job_epoch = job_epoch;
                self.sh.observe(PoolEvent::JobSent {
                    ntime,
                    at: SystemTime::now(),
                });
                self.send_job(tx, id, Some(ntime))?;
            } else if interval > 0 && ch.last_job.elapsed() >= Duration::from_millis(interval) {
                self.send_job(tx, id, Some(unix_now()))?;
            }
        }
        Ok(())
    }

    fn submit(&mut self, tx: &mut Tx, m: &SubmitSharesExtended) -> Result<(), String> {
        self.sh.observe(PoolEvent::Share {
            nonce: m.nonce,
            at: SystemTime::now(),
        });
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
        coinbase.extend_from_slice(&job.extranonce_prefix);
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
// Deterministic pool data.

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
