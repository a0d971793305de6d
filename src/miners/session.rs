//! One miner line in, answers out: `mining.configure`, `subscribe`, `authorize`,
//! `extranonce.subscribe`, `suggest_difficulty`, `submit`; anything else gets a Stratum error.
//!
//! Every share is validated here (sha256d of the header with version rolling). Low-difficulty,
//! duplicate, stale and malformed shares are answered with an error and never reach a pool;
//! valid shares are answered `true` at once and forwarded if they meet the pool's target.

use super::{parse_job_id, Miner, MinerEvent, MinerState};
use crate::proxy::{pool_share_difficulty, MinerRef, Proxy};
use crate::stratum::msg::{envelope, MinerRequest, Submit};
use crate::stratum::{code, emit, hex_decode};
use crate::work::hash::rolled_version;
use crate::work::job::{miner_e2_size, ShareInput, MAX_MINER_E2};
use crate::work::Difficulty;
use std::time::Duration;

/// How long a miner's subscribe/configure may wait for the first pool to tell us its sizes.
const POOL_WAIT: Duration = Duration::from_secs(5);
/// Malformed lines tolerated before a miner is dropped.
const MAX_BAD_LINES: u32 = 20;

/// Why a session must end.
#[derive(Debug)]
pub struct Close(pub String);

/// Handle one line from a miner.
pub async fn handle_line(
    proxy: &Proxy,
    miner: &MinerRef,
    line: &[u8],
    bad_lines: &mut u32,
) -> Result<(), Close> {
    if line.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(());
    }
    let env = match envelope(line) {
        Ok(e) => e,
        Err(e) => return bad_line(miner, "null", &e.to_string(), bad_lines),
    };
    let req = match MinerRequest::parse(&env) {
        Ok(r) => r,
        Err(e) => {
            if env.method == Some("mining.submit") {
                // A submit we cannot even read still counts, as a malformed one.
                let mut m = miner.borrow_mut();
                m.shares.submitted += 1;
                m.shares.malformed += 1;
            }
            return bad_line(miner, env.id, &e.to_string(), bad_lines);
        }
    };
    let id = env.id;
    match req {
        MinerRequest::Configure {
            version_rolling,
            mask,
        } => {
            proxy.wait_for_pools(POOL_WAIT).await;
            let mut m = miner.borrow_mut();
            let granted = version_rolling
                .then(|| {
                    mask & proxy
                        .pools_version_mask()
                        .unwrap_or(crate::pools::WANTED_VERSION_MASK)
                })
                .filter(|g| *g != 0);
            m.version_mask = granted;
            m.out.push(|b| emit::configure_result(b, id, granted));
        }
        MinerRequest::Subscribe { agent } => {
            if miner.borrow().state != MinerState::Connected
                && miner.borrow().state != MinerState::Authorized
            {
                let m = miner.borrow();
                m.out
                    .push(|b| emit::error(b, id, code::OTHER, "already subscribed"));
                return Ok(());
            }
            proxy.wait_for_pools(POOL_WAIT).await;
            let mut m = miner.borrow_mut();
            m.e2_size = proxy
                .smallest_pool_e2()
                .and_then(miner_e2_size)
                .unwrap_or(MAX_MINER_E2);
            if let Some(a) = agent {
                m.agent.clear();
                let _ = m.agent.push_str(crate::stats::truncate(a, 64));
            }
            let (tag, e2, mid) = (m.tag, m.e2_size as u8, m.id);
            m.out.push(|b| emit::subscribe_result(b, id, mid, &tag, e2));
            transition(proxy, &mut m, MinerEvent::Subscribe);
        }
        MinerRequest::Authorize { user } => {
            let mut m = miner.borrow_mut();
            m.worker.clear();
            let _ = m.worker.push_str(crate::stats::truncate(user, 64));
            m.out.push(|b| emit::result(b, id, "true"));
            transition(proxy, &mut m, MinerEvent::Authorize);
        }
        MinerRequest::ExtranonceSubscribe => {
            // Our extranonce never changes; saying yes is harmless and what miners expect.
            miner.borrow().out.push(|b| emit::result(b, id, "true"));
        }
        MinerRequest::SuggestDifficulty(text) => {
            let mut m = miner.borrow_mut();
            match Difficulty::parse(text) {
                Some(d) => {
                    let now = proxy.now_ms();
                    m.vardiff.suggest(d, now);
                    m.out.push(|b| emit::result(b, id, "true"));
                }
                None => {
                    m.out.push(|b| {
                        emit::error(b, id, code::OTHER, "difficulty must be a positive number")
                    });
                }
            }
        }
        MinerRequest::Submit(s) => {
            let mut m = miner.borrow_mut();
            submit(proxy, &mut m, id, &s);
        }
        MinerRequest::Unknown(method) => {
            log::debug!(
                "miner {}: unsupported method {method}",
                miner.borrow().label()
            );
            if id != "null" {
                miner
                    .borrow()
                    .out
                    .push(|b| emit::error(b, id, code::OTHER, "unsupported method"));
            }
        }
        MinerRequest::NoMethod => {}
    }
    Ok(())
}

fn bad_line(miner: &MinerRef, id: &str, why: &str, bad_lines: &mut u32) -> Result<(), Close> {
    *bad_lines += 1;
    let m = miner.borrow();
    log::warn!("miner {}: bad line ({why})", m.label());
    m.out.push(|b| emit::error(b, id, code::OTHER, why));
    if *bad_lines > MAX_BAD_LINES {
        return Err(Close(format!("more than {MAX_BAD_LINES} bad lines")));
    }
    Ok(())
}

/// Apply a state event; a miner that starts working is given a pool and a job at once.
fn transition(proxy: &Proxy, m: &mut Miner, ev: MinerEvent) {
    if m.on(ev) && m.state == MinerState::Working {
        log::info!(
            "miner {} ready (extranonce2 size {}, version mask {:?})",
            m.label(),
            m.e2_size,
            m.version_mask
        );
        proxy.assign(m);
    }
}

/// Validate a share and answer it; forward it if it meets the pool's target.
fn submit(proxy: &Proxy, m: &mut Miner, id: &str, s: &Submit<'_>) {
    m.shares.submitted += 1;
    let reply_err = |m: &Miner, c: i32, msg: &str| {
        m.out.push(|b| emit::error(b, id, c, msg));
    };
    if m.state != MinerState::Working {
        m.shares.malformed += 1;
        let (c, msg) = match m.state {
            MinerState::Connected | MinerState::Authorized => {
                (code::NOT_SUBSCRIBED, "not subscribed")
            }
            _ => (code::UNAUTHORIZED, "not authorized"),
        };
        return reply_err(m, c, msg);
    }
    let Some(sent) = parse_job_id(s.job_id).and_then(|j| m.jobs.find(j)).cloned() else {
        m.shares.stale += 1;
        return reply_err(m, code::STALE, "job not found");
    };
    let job = sent.job;
    {
        let p = proxy.pools[job.origin.pool].borrow();
        if p.conn_gen != job.origin.conn_gen || p.epoch != job.origin.epoch {
            m.shares.stale += 1;
            return reply_err(
                m,
                code::STALE,
                "stale share: the pool has moved to a new block",
            );
        }
    }
    let mut e2 = [0u8; MAX_MINER_E2];
    if hex_decode(s.extranonce2, &mut e2) != Some(m.e2_size) || s.extranonce2.len() != 2 * m.e2_size
    {
        m.shares.malformed += 1;
        let msg = format!("extranonce2 must be {} bytes of hex", m.e2_size);
        return reply_err(m, code::OTHER, &msg);
    }
    let e2 = &e2[..m.e2_size];
    let version = match (s.version_bits, m.version_mask) {
        (None, _) => job.version,
        (Some(bits), Some(mask)) if bits & !mask == 0 => rolled_version(job.version, bits, mask),
        (Some(_), Some(_)) => {
            m.shares.malformed += 1;
            return reply_err(m, code::OTHER, "version bits outside the negotiated mask");
        }
        (Some(_), None) => {
            m.shares.malformed += 1;
            return reply_err(m, code::OTHER, "version rolling was not negotiated");
        }
    };
    let tag = m.tag;
    let hash = job.share_hash(&ShareInput {
        tag: &tag,
        miner_extranonce2: e2,
        ntime: s.ntime,
        nonce: s.nonce,
        version,
    });
    // A miner may apply a new difficulty to an older job: accept the easier of the two.
    let local = sent
        .difficulty
        .min(m.sent_difficulty.unwrap_or(sent.difficulty));
    if !local.target().is_met_by(&hash) {
        m.shares.low_difficulty += 1;
        return reply_err(m, code::LOW_DIFFICULTY, "low difficulty share");
    }
    if !m.dups.insert(&hash) {
        m.shares.duplicate += 1;
        return reply_err(m, code::DUPLICATE, "duplicate share");
    }
    m.shares.add_valid(local);
    m.vardiff.record(local);
    m.rate.add(proxy.now_ms(), local.0);
    m.last_share_ms = proxy.now_ms();
    m.out.push(|b| emit::result(b, id, "true"));
    let pool_diff = {
        let mut p = proxy.pools[job.origin.pool].borrow_mut();
        p.shares.submitted += 1;
        p.shares.add_valid(local);
        proxy.pid.borrow_mut().record(job.origin.pool, local.0);
        proxy
            .history
            .borrow_mut()
            .record(proxy.now_ms(), job.origin.pool, local.0);
        pool_share_difficulty(&job, &p)
    };
    if pool_diff.target().is_met_by(&hash) {
        let e2_pool = job.pool_extranonce2(&tag, e2);
        let vbits = s
            .version_bits
            .map(|_| version & m.version_mask.unwrap_or(0));
        proxy.forward(m, &job, &e2_pool, s.ntime, s.nonce, vbits);
    }
}
