//! One Stratum V2 pool connection: Noise handshake, SetupConnection, one extended channel, and
//! the channel's jobs, targets and share answers mapped onto the one job/share model.
//!
//! The channel's extranonce prefix and size play the roles of an SV1 pool's extranonce1 and
//! extranonce2_size; its target becomes the pool difficulty; a job (future until its
//! SetNewPrevHash, or active at once when it carries `min_ntime`) becomes a [`Job`]; a share's
//! submit id is its sequence number. SubmitSharesSuccess acknowledges every share up to its
//! `last_sequence_number` that was not refused on its own by SubmitSharesError.
//!
//! Invariants: nothing the pool sends is trusted before its certificate verified; the
//! connection ends on a decryption failure, a refused setup/channel, CloseChannel, Reconnect or
//! a frame over [`MAX_PAYLOAD`]; a malformed message is logged and dropped.

use super::upstream::Ended;
use crate::io::Outbox;
use crate::proxy::Proxy;
use crate::stratum2::msg::{self, Header, Incoming, HEADER_LEN};
use crate::stratum2::noise::{self, Initiator, Transport, ACT2_LEN, HEADER_CT_LEN};
use crate::stratum2::secp::Keypair;
use crate::work::job::{miner_e2_size, Job, JobParts, MAX_MINER_E2, TAG_SIZE};
use crate::work::Difficulty;
use async_net::TcpStream;
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Largest plaintext payload accepted from a pool (a job carries two ≤ 64 KiB coinbase parts).
pub const MAX_PAYLOAD: usize = 160 * 1024;
/// Version bits an SV2 job lets us roll when `version_rolling_allowed` (BIP320).
pub const SV2_VERSION_MASK: u32 = 0x1fff_e000;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the channel's nominal hashrate is updated.
const UPDATE_EVERY: Duration = Duration::from_secs(60);
const REQUEST_ID: u32 = 1;
/// Future jobs kept while waiting for their SetNewPrevHash.
const PENDING_JOBS: usize = 4;

/// A future job waiting for its SetNewPrevHash.
struct Pending {
    id: u32,
    version: u32,
    branches: Box<[u8]>,
    coinb1: Box<[u8]>,
    coinb2: Box<[u8]>,
}

/// The current block: what active jobs are built on.
#[derive(Clone, Copy)]
struct Tip {
    prevhash: [u8; 32],
    nbits: u32,
    min_ntime: u32,
}

/// Per-connection SV2 state kept on the [`super::Pool`].
#[derive(Default)]
pub struct Sv2Link {
    pub channel_id: Option<u32>,
    pub group_channel_id: u32,
    /// Every share with a sequence number up to this one has been answered.
    pub acked_upto: u64,
    tip: Option<Tip>,
    pending: heapless::Deque<Pending, PENDING_JOBS>,
}

impl Sv2Link {
    fn ours(&self, channel_id: u32) -> bool {
        Some(channel_id) == self.channel_id
            || (self.group_channel_id != 0 && channel_id == self.group_channel_id)
    }
}

fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().min(u32::MAX as u64) as u32)
        .unwrap_or(0)
}

fn text(b: &[u8]) -> String {
    crate::stats::truncate(&String::from_utf8_lossy(b), 80).to_string()
}

/// Serve an established TCP connection to SV2 pool `idx` until it ends.
pub async fn serve(proxy: &Rc<Proxy>, idx: usize, stream: TcpStream) -> Ended {
    let (authority, name) = {
        let p = proxy.pools[idx].borrow();
        (p.cfg.authority.unwrap_or([0; 32]), p.cfg.name.clone())
    };
    let mut rs = stream.clone();
    let mut ws = stream;
    // 1. Noise handshake.
    let keys = match Keypair::generate() {
        Ok(k) => k,
        Err(e) => return Ended::because(format!("no randomness for the handshake: {e}")),
    };
    let (init, act1) = Initiator::start(authority, keys);
    let handshake = async {
        ws.write_all(&act1).await.map_err(|e| e.to_string())?;
        let mut act2 = [0u8; ACT2_LEN];
        rs.read_exact(&mut act2).await.map_err(|e| e.to_string())?;
        init.finish(&act2, unix_now()).map_err(|e| e.to_string())
    };
    let timeout = async {
        smol::Timer::after(HANDSHAKE_TIMEOUT).await;
        Err(format!(
            "no answer within {} s",
            HANDSHAKE_TIMEOUT.as_secs()
        ))
    };
    let (transport, cert) = match future::or(handshake, timeout).await {
        Ok(t) => t,
        Err(e) => {
            log::error!(target: "pool_lost", "pool {name}: Noise handshake failed: {e}");
            return Ended::because(format!("Noise handshake failed: {e}"));
        }
    };
    log::info!(target: "pool_connected",
        "pool {name}: encrypted session up (certificate v{} valid until {})",
        cert.version, cert.not_valid_after
    );
    let transport = Rc::new(RefCell::new(transport));
    let out = Rc::new(Outbox::new(super::upstream::POOL_OUT_CAP));
    {
        let now = proxy.now_ms();
        let mut p = proxy.pools[idx].borrow_mut();
        p.begin_connection(out.clone(), now);
        p.sv2 = Some(Sv2Link::default());
        p.next_id = 1;
        let user = p.cfg.user.clone();
        let (host, port) = (p.cfg.host.clone(), p.cfg.port);
        out.push(|b| {
            // Miners such as the Avalon Nano 3S refuse to work without version rolling.
            let _ = msg::setup_connection(b, &host, port, msg::FLAG_REQUIRES_VERSION_ROLLING);
            let _ = msg::open_extended_channel(
                b,
                REQUEST_ID,
                &user,
                0,
                &[0xff; 32],
                (TAG_SIZE + MAX_MINER_E2) as u16,
            );
        });
    }
    let read = async {
        let mut payload = Vec::new();
        loop {
            let mut hct = [0u8; HEADER_CT_LEN];
            if let Err(e) = rs.read_exact(&mut hct).await {
                return Ended::because(format!("read failed: {e}"));
            }
            let h = match transport.borrow_mut().open_header(&hct) {
                Ok(h) => Header::parse(&h),
                Err(e) => return Ended::because(format!("bad frame from pool: {e}")),
            };
            let len = h.len as usize;
            if len > MAX_PAYLOAD {
                return Ended::because(format!(
                    "pool sent a {len}-byte message (limit {MAX_PAYLOAD})"
                ));
            }
            payload.resize(noise::ciphertext_len(len), 0);
            if let Err(e) = rs.read_exact(&mut payload).await {
                return Ended::because(format!("read failed: {e}"));
            }
            if let Err(e) = transport.borrow_mut().open_payload(&mut payload) {
                return Ended::because(format!("bad frame from pool: {e}"));
            }
            match msg::decode(&h, &payload[..len]) {
                Ok(m) => {
                    if let Err(e) = handle(proxy, idx, m) {
                        return e;
                    }
                }
                Err(e) => log::warn!(target: "pool_message",
                    "pool {name}: dropping malformed message type {:#04x} ({e})", h.msg_type),
            }
        }
    };
    let write = async {
        let r = out
            .run_writer_sealed(&mut ws, |plain, wire| seal_frames(&transport, plain, wire))
            .await;
        match r {
            Err(e) => Ended::because(format!("write failed: {e}")),
            Ok(()) => Ended::because("closed by the proxy"),
        }
    };
    let update = async {
        loop {
            smol::Timer::after(UPDATE_EVERY).await;
            let rate = proxy.pool_hashrate(idx);
            let p = proxy.pools[idx].borrow();
            if let (Some(o), Some(ch)) = (&p.out, p.sv2.as_ref().and_then(|l| l.channel_id)) {
                o.push(|b| {
                    let _ = msg::update_channel(b, ch, rate, &[0xff; 32]);
                });
            }
        }
    };
    future::or(read, future::or(write, update)).await
}

/// Encrypt every whole frame in `plain` (as `push` queued them) onto `wire`.
fn seal_frames(transport: &RefCell<Transport>, mut plain: &[u8], wire: &mut Vec<u8>) {
    let mut t = transport.borrow_mut();
    while plain.len() >= HEADER_LEN {
        let header: [u8; HEADER_LEN] = plain[..HEADER_LEN].try_into().expect("6 bytes");
        let len = Header::parse(&header).len as usize;
        let end = (HEADER_LEN + len).min(plain.len());
        t.seal_frame(&header, &plain[HEADER_LEN..end], wire);
        plain = &plain[end..];
    }
}

/// Act on one message from the pool. `Err` ends the connection.
fn handle(proxy: &Proxy, idx: usize, m: Incoming<'_>) -> Result<(), Ended> {
    let name = proxy.pools[idx].borrow().cfg.name.clone();
    match m {
        Incoming::SetupSuccess {
            used_version,
            flags,
        } => {
            log::debug!("pool {name}: SV2 setup ok (version {used_version}, flags {flags:#x})");
        }
        Incoming::SetupError { code, .. } => {
            return Err(Ended::because(format!("SV2 setup refused: {}", text(code))));
        }
        Incoming::ChannelOpenError { code, .. } => {
            let user = proxy.pools[idx].borrow().cfg.user.clone();
            return Err(Ended::because(format!(
                "extended channel refused for user {user}: {}",
                text(code)
            )));
        }
        Incoming::ChannelOpened {
            channel_id,
            target,
            extranonce_size,
            extranonce_prefix,
            group_channel_id,
            ..
        } => {
            let n = extranonce_size as usize;
            if n > 32 || miner_e2_size(n).is_none() || extranonce_prefix.len() > 32 {
                return Err(Ended::because(format!(
                    "channel extranonce size {n} cannot be shared between miners (needs 4..=32); this pool is not usable"
                )));
            }
            let mut p = proxy.pools[idx].borrow_mut();
            let link = p.sv2.get_or_insert_with(Default::default);
            link.channel_id = Some(channel_id);
            link.group_channel_id = group_channel_id;
            p.extranonce1 = heapless::Vec::from_slice(extranonce_prefix).unwrap_or_default();
            p.extranonce2_size = n;
            p.known_e2_size = Some(n);
            p.difficulty = Difficulty::from_hash(&target);
            p.version_mask = Some(SV2_VERSION_MASK);
            p.authorized = true;
            log::info!(target: "pool_connected",
                "pool {name}: extended channel {channel_id} open, extranonce prefix {} bytes + {n}, difficulty {}",
                extranonce_prefix.len(), p.difficulty
            );
        }
        Incoming::Job(j) => {
            let job = {
                let mut p = proxy.pools[idx].borrow_mut();
                let Some(link) = p.sv2.as_mut().filter(|l| l.ours(j.channel_id)) else {
                    log::debug!("pool {name}: job for another channel {}", j.channel_id);
                    return Ok(());
                };
                match (j.min_ntime, link.tip) {
                    (Some(ntime), Some(tip)) => {
                        let parts = JobParts {
                            id: j.job_id,
                            prevhash: tip.prevhash,
                            coinb1: j.coinbase_prefix,
                            coinb2: j.coinbase_suffix,
                            branches: j.merkle_path,
                            version: j.version,
                            nbits: tip.nbits,
                            ntime: ntime.max(tip.min_ntime),
                            clean: false,
                        };
                        activate(proxy, &mut p, &parts)
                    }
                    _ => {
                        if link.pending.is_full() {
                            link.pending.pop_front();
                        }
                        let _ = link.pending.push_back(Pending {
                            id: j.job_id,
                            version: j.version,
                            branches: j.merkle_path.into(),
                            coinb1: j.coinbase_prefix.into(),
                            coinb2: j.coinbase_suffix.into(),
                        });
                        None
                    }
                }
            };
            if let Some(job) = job {
                proxy.maybe_ready(idx);
                proxy.broadcast(idx, &job);
            }
        }
        Incoming::PrevHash {
            channel_id,
            job_id,
            prev_hash,
            min_ntime,
            nbits,
        } => {
            let job = {
                let mut p = proxy.pools[idx].borrow_mut();
                let Some(link) = p.sv2.as_mut().filter(|l| l.ours(channel_id)) else {
                    return Ok(());
                };
                link.tip = Some(Tip {
                    prevhash: prev_hash,
                    nbits,
                    min_ntime,
                });
                let pos = link.pending.iter().position(|j| j.id == job_id);
                let pending = pos.and_then(|i| {
                    // Jobs queued before this one belong to templates the pool moved past.
                    for _ in 0..i {
                        link.pending.pop_front();
                    }
                    link.pending.pop_front()
                });
                p.epoch = p.epoch.wrapping_add(1);
                match pending {
                    Some(f) => {
                        let parts = JobParts {
                            id: f.id,
                            prevhash: prev_hash,
                            coinb1: &f.coinb1,
                            coinb2: &f.coinb2,
                            branches: &f.branches,
                            version: f.version,
                            nbits,
                            ntime: min_ntime,
                            clean: true,
                        };
                        activate(proxy, &mut p, &parts)
                    }
                    None => {
                        log::warn!(
                            "pool {name}: new block for unknown job {job_id}; waiting for a job"
                        );
                        p.job = None;
                        None
                    }
                }
            };
            if let Some(job) = job {
                proxy.maybe_ready(idx);
                proxy.broadcast(idx, &job);
            }
        }
        Incoming::SetTarget {
            channel_id,
            max_target,
        } => {
            let mut p = proxy.pools[idx].borrow_mut();
            if p.sv2.as_ref().is_some_and(|l| l.ours(channel_id)) {
                p.difficulty = Difficulty::from_hash(&max_target);
                log::debug!("pool {name}: difficulty {}", p.difficulty);
            }
        }
        Incoming::SetExtranoncePrefix { channel_id, prefix } => {
            let mut p = proxy.pools[idx].borrow_mut();
            if p.sv2.as_ref().is_some_and(|l| l.ours(channel_id)) {
                p.extranonce1 = heapless::Vec::from_slice(prefix).unwrap_or_default();
                // Jobs under the old prefix cannot take new shares.
                p.epoch = p.epoch.wrapping_add(1);
                log::info!(
                    "pool {name}: new extranonce prefix ({} bytes)",
                    prefix.len()
                );
            }
        }
        Incoming::SharesAccepted {
            channel_id,
            last_sequence_number,
            ..
        } => {
            let from = {
                let mut p = proxy.pools[idx].borrow_mut();
                let Some(link) = p.sv2.as_mut().filter(|l| l.ours(channel_id)) else {
                    return Ok(());
                };
                let last = last_sequence_number as u64;
                let from = link.acked_upto + 1;
                link.acked_upto = link.acked_upto.max(last);
                // Only the in-flight window can still be waiting.
                from.max(last.saturating_sub(p.inflight_capacity() as u64))..=last
            };
            for id in from {
                proxy.verdict_if_waiting(idx, id, true, "");
            }
        }
        Incoming::ShareRejected {
            sequence_number,
            code,
            ..
        } => {
            proxy.verdict(idx, sequence_number as u64, false, &text(code));
        }
        Incoming::UpdateChannelError { code, .. } => {
            log::warn!(target: "pool_message", "pool {name}: UpdateChannel refused: {}", text(code));
        }
        Incoming::CloseChannel { reason, .. } => {
            return Err(Ended::because(format!(
                "the pool closed the channel: {}",
                text(reason)
            )));
        }
        Incoming::Reconnect { host, port } => {
            log::info!(target: "pool_message",
                "pool {name}: asked to reconnect (to {}:{port}); reconnecting to the configured address",
                text(host)
            );
            return Err(Ended::retry("pool sent Reconnect", 100));
        }
        Incoming::Other {
            extension,
            msg_type,
        } => {
            log::debug!("pool {name}: ignoring message {extension:#x}/{msg_type:#04x}");
        }
    }
    Ok(())
}

/// Build, store and return the pool's new current job.
fn activate(proxy: &Proxy, p: &mut super::Pool, parts: &JobParts<'_>) -> Option<Rc<Job>> {
    if p.extranonce2_size == 0 {
        log::warn!(
            "pool {}: job before the channel opened; dropped",
            p.cfg.name
        );
        return None;
    }
    let origin = p.job_origin();
    match Job::from_parts(parts, origin) {
        Ok(j) => {
            let j = Rc::new(j);
            p.job = Some(j.clone());
            p.last_job_ms = proxy.now_ms();
            Some(j)
        }
        Err(e) => {
            log::warn!("pool {}: dropping job {}: {e}", p.cfg.name, parts.id);
            None
        }
    }
}
