//! One pool's connection loop: connect (DNS included), handshake (configure, subscribe,
//! authorize, pipelined), read jobs and verdicts, and on any loss wait with backoff and retry.
//!
//! A malformed message from a pool is logged and dropped; the connection survives it. A line
//! longer than [`POOL_LINE_CAP`], a refused subscribe/authorize, or a closed socket ends the
//! connection; [`Proxy::pool_lost`] then moves the miners.

use super::{backoff, PoolEvent, WANTED_VERSION_MASK};
use crate::io::{LineReader, Outbox};
use crate::proxy::Proxy;
use crate::stratum::json::Value;
use crate::stratum::msg::{envelope, parse_mask, subscribe_result, PoolMessage};
use crate::stratum::{code, emit, hex_decode};
use crate::work::job::{miner_e2_size, Job};
use crate::work::Difficulty;
use async_net::TcpStream;
use futures_lite::future;
use std::rc::Rc;
use std::time::Duration;

/// Longest line a pool may send: real pools with many payout outputs send multi-KB coinb2.
pub const POOL_LINE_CAP: usize = 64 * 1024;
/// Output buffered towards a pool before the connection is considered stuck.
pub const POOL_OUT_CAP: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const ID_CONFIGURE: u64 = 1;
const ID_SUBSCRIBE: u64 = 2;
const ID_AUTHORIZE: u64 = 3;

/// How a connection ended.
pub struct Ended {
    why: String,
    /// The pool asked us to come back after this long (client.reconnect).
    retry_after_ms: Option<u64>,
}

impl Ended {
    pub fn because(why: impl Into<String>) -> Ended {
        Ended {
            why: why.into(),
            retry_after_ms: None,
        }
    }
    /// Ended at the pool's request; reconnect after `ms`.
    pub fn retry(why: impl Into<String>, ms: u64) -> Ended {
        Ended {
            why: why.into(),
            retry_after_ms: Some(ms),
        }
    }
}

/// Run pool `idx` forever.
pub async fn run(proxy: Rc<Proxy>, idx: usize) {
    loop {
        if proxy.pools[idx].borrow().vacant {
            // An empty slot: wait for a reload to put a pool here.
            smol::Timer::after(Duration::from_secs(1)).await;
            continue;
        }
        let now = proxy.now_ms();
        proxy.pools[idx].borrow_mut().on(PoolEvent::Connecting, now);
        let ended = connect_and_serve(&proxy, idx).await;
        let (min, max) = {
            let c = proxy.cfg.borrow();
            (c.failover.backoff_min_ms, c.failover.backoff_max_ms)
        };
        let delay = {
            let mut p = proxy.pools[idx].borrow_mut();
            p.failures = p.failures.saturating_add(1);
            let seed = proxy.now_ms() ^ ((idx as u64) << 32) ^ p.connects;
            ended
                .retry_after_ms
                .unwrap_or_else(|| backoff::delay_ms(p.failures, min, max, seed))
        };
        proxy.pool_lost(idx, &ended.why, proxy.now_ms() + delay);
        smol::Timer::after(Duration::from_millis(delay)).await;
    }
}

async fn connect_and_serve(proxy: &Rc<Proxy>, idx: usize) -> Ended {
    let target = {
        let p = proxy.pools[idx].borrow();
        format!("{}:{}", p.cfg.host, p.cfg.port)
    };
    let connect = async {
        TcpStream::connect(target.as_str())
            .await
            .map_err(|e| e.to_string())
    };
    let timeout = async {
        smol::Timer::after(CONNECT_TIMEOUT).await;
        Err(format!(
            "connect timed out after {} s",
            CONNECT_TIMEOUT.as_secs()
        ))
    };
    let stream = match future::or(connect, timeout).await {
        Ok(s) => s,
        Err(e) => return Ended::because(format!("cannot connect to {target}: {e}")),
    };
    let _ = stream.set_nodelay(true);
    #[cfg(feature = "sv2")]
    if proxy.pools[idx].borrow().cfg.authority.is_some() {
        return super::sv2::serve(proxy, idx, stream).await;
    }
    let out = Rc::new(Outbox::new(POOL_OUT_CAP));
    {
        let now = proxy.now_ms();
        let mut p = proxy.pools[idx].borrow_mut();
        p.begin_connection(out.clone(), now);
        let (user, pass) = (p.cfg.user.clone(), p.cfg.password.clone());
        out.push(|b| {
            emit::configure(b, ID_CONFIGURE, WANTED_VERSION_MASK);
            emit::subscribe(
                b,
                ID_SUBSCRIBE,
                concat!("hashmux/", env!("CARGO_PKG_VERSION")),
            );
            emit::authorize(b, ID_AUTHORIZE, &user, &pass);
        });
    }
    let mut rs = stream.clone();
    let mut ws = stream;
    let read = async {
        let mut reader = LineReader::new(POOL_LINE_CAP);
        loop {
            match reader.next_line(&mut rs).await {
                Ok(Some(line)) => {
                    if let Err(e) = handle_line(proxy, idx, line, &out) {
                        return e;
                    }
                }
                Ok(None) => return Ended::because("the pool closed the connection"),
                Err(e) => return Ended::because(e.to_string()),
            }
        }
    };
    let write = async {
        let r = out.run_writer(&mut ws).await;
        let p = proxy.pools[idx].borrow();
        match r {
            Err(e) => Ended::because(format!("write failed: {e}")),
            Ok(()) if !p.last_error.is_empty() => Ended::because(p.last_error.as_str()),
            Ok(()) => Ended::because("closed by the proxy"),
        }
    };
    future::or(read, write).await
}

/// Handle one line from the pool. `Err` ends the connection.
fn handle_line(proxy: &Proxy, idx: usize, line: &[u8], out: &Outbox) -> Result<(), Ended> {
    let name = || proxy.pools[idx].borrow().cfg.name.clone();
    let env = match envelope(line) {
        Ok(e) => e,
        Err(e) => {
            log::warn!(target: "pool_message", "pool {}: dropping bad line ({e})", name());
            return Ok(());
        }
    };
    let msg = match PoolMessage::parse(&env) {
        Ok(m) => m,
        Err(e) => {
            log::warn!(target: "pool_message", "pool {}: dropping bad message ({e})", name());
            return Ok(());
        }
    };
    match msg {
        PoolMessage::Response {
            id: Some(ID_CONFIGURE),
            result,
            ..
        } => {
            let mask = (result.get("version-rolling") == Some(Value::Bool(true)))
                .then(|| {
                    result
                        .get("version-rolling.mask")
                        .and_then(|m| m.as_str())
                        .and_then(parse_mask)
                })
                .flatten();
            proxy.pools[idx].borrow_mut().version_mask = mask;
            log::info!(
                "pool {}: version rolling mask {:?}",
                name(),
                mask.map(|m| format!("{m:08x}"))
            );
        }
        PoolMessage::Response {
            id: Some(ID_SUBSCRIBE),
            result,
            error,
        } => {
            let Some((e1_hex, n)) = subscribe_result(&result).filter(|_| error.is_null()) else {
                return Err(Ended::because(format!(
                    "subscribe refused: {}",
                    error_text(&error)
                )));
            };
            let mut e1 = [0u8; 32];
            let Some(len) = hex_decode(e1_hex, &mut e1) else {
                return Err(Ended::because("subscribe answer has a bad extranonce1"));
            };
            let n = n as usize;
            if n > 32 || miner_e2_size(n).is_none() {
                return Err(Ended::because(format!(
                    "extranonce2_size {n} cannot be shared between miners (needs 4..=32); this pool is not usable"
                )));
            }
            let mut p = proxy.pools[idx].borrow_mut();
            p.extranonce1 = heapless::Vec::from_slice(&e1[..len]).unwrap_or_default();
            p.extranonce2_size = n;
            p.known_e2_size = Some(n);
            log::info!(target: "pool_connected",
                "pool {}: subscribed, extranonce1 {e1_hex}, extranonce2_size {n}",
                p.cfg.name
            );
        }
        PoolMessage::Response {
            id: Some(ID_AUTHORIZE),
            result,
            error,
        } => {
            if result != Value::Bool(true) {
                return Err(Ended::because(format!(
                    "authorization refused for user {}: {}",
                    proxy.pools[idx].borrow().cfg.user,
                    error_text(&error)
                )));
            }
            proxy.pools[idx].borrow_mut().authorized = true;
            proxy.maybe_ready(idx);
        }
        PoolMessage::Response {
            id: Some(id),
            result,
            error,
        } => {
            let accepted = result == Value::Bool(true) && error.is_null();
            proxy.verdict(idx, id, accepted, &error_text(&error));
        }
        PoolMessage::Response { id: None, .. } => {
            log::debug!("pool {}: response without id", name())
        }
        PoolMessage::Notify(n) => {
            let job = {
                let mut p = proxy.pools[idx].borrow_mut();
                if p.extranonce2_size == 0 {
                    log::warn!("pool {}: job before subscribe answer; dropped", p.cfg.name);
                    return Ok(());
                }
                let new_block = n.clean
                    || p.job
                        .as_ref()
                        .is_some_and(|j| !prevhash_eq(&j.prevhash, n.prevhash));
                if new_block {
                    p.epoch = p.epoch.wrapping_add(1);
                }
                let origin = p.job_origin();
                match Job::from_notify(&n, origin) {
                    Ok(j) => {
                        let j = Rc::new(j);
                        p.job = Some(j.clone());
                        p.last_job_ms = proxy.now_ms();
                        j
                    }
                    Err(e) => {
                        log::warn!("pool {}: dropping job {}: {e}", p.cfg.name, n.job_id);
                        return Ok(());
                    }
                }
            };
            proxy.maybe_ready(idx);
            proxy.broadcast(idx, &job);
        }
        PoolMessage::SetDifficulty(text) => match Difficulty::parse(text) {
            Some(d) => {
                let mut p = proxy.pools[idx].borrow_mut();
                log::debug!("pool {}: difficulty {d}", p.cfg.name);
                p.difficulty = d;
            }
            None => log::warn!("pool {}: ignoring set_difficulty {text}", name()),
        },
        PoolMessage::SetExtranonce {
            extranonce1,
            extranonce2_size,
        } => {
            let mut e1 = [0u8; 32];
            let n = extranonce2_size as usize;
            match hex_decode(extranonce1, &mut e1) {
                Some(len) if n <= 32 && miner_e2_size(n).is_some() => {
                    let mut p = proxy.pools[idx].borrow_mut();
                    p.extranonce1 = heapless::Vec::from_slice(&e1[..len]).unwrap_or_default();
                    p.extranonce2_size = n;
                    p.known_e2_size = Some(n);
                    // Jobs under the old extranonce cannot take new shares.
                    p.epoch = p.epoch.wrapping_add(1);
                    log::info!(
                        "pool {}: new extranonce1 {extranonce1}, extranonce2_size {n}",
                        p.cfg.name
                    );
                }
                _ => {
                    return Err(Ended::because(format!(
                        "unusable set_extranonce ({extranonce1}, {n})"
                    )))
                }
            }
        }
        PoolMessage::SetVersionMask(mask) => {
            proxy.pools[idx].borrow_mut().version_mask = Some(mask);
            log::info!("pool {}: version mask now {mask:08x}", name());
            proxy.narrow_version_masks(idx, mask);
        }
        PoolMessage::Reconnect {
            host,
            port,
            wait_secs,
        } => {
            let wait = wait_secs.min(600) * 1000;
            log::info!(target: "pool_message",
                "pool {}: asked to reconnect (to {}:{}) in {} s; reconnecting to the configured address",
                name(),
                host.unwrap_or("same host"),
                port.map(|p| p.to_string()).unwrap_or_else(|| "same port".into()),
                wait / 1000
            );
            return Err(Ended {
                why: "pool sent client.reconnect".into(),
                retry_after_ms: Some(wait.max(100)),
            });
        }
        PoolMessage::ShowMessage(text) => log::info!(target: "pool_message",
            "pool {} says: {}",
            name(),
            crate::stats::truncate(text, 200)
        ),
        PoolMessage::Unknown(method) => {
            log::debug!("pool {}: unsupported method {method}", name());
            if env.id != "null" {
                out.push(|b| emit::error(b, env.id, code::OTHER, "unsupported method"));
            }
        }
    }
    Ok(())
}

fn prevhash_eq(bytes: &[u8; 32], hex: &str) -> bool {
    let mut b = [0u8; 32];
    hex_decode(hex, &mut b) == Some(32) && &b == bytes
}

/// Human text of a Stratum error value (`[code, "msg", ...]`, a string, or null).
fn error_text(e: &Value<'_>) -> String {
    match e {
        Value::Null => "no reason given".into(),
        Value::Str(s) => (*s).into(),
        Value::Array(_) => e
            .at(1)
            .and_then(|m| m.as_str())
            .unwrap_or("no reason given")
            .into(),
        Value::Object(_) => e
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("no reason given")
            .into(),
        other => format!("{other:?}"),
    }
}
