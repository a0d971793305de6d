//! A Stratum V1 pool connection, without I/O: the pipelined handshake (configure, subscribe,
//! authorize), then each received line becomes [`Upstream`] events for the core; the core's
//! [`ToPool`] messages become lines.
//!
//! The handshake is a small state machine ([`Handshake`], transitions in
//! [`Sv1Pool::answer`]): each of the three requests is answered once. An answer with a
//! handshake id that is not awaited (late, repeated, or from a confused pool) is counted and
//! ignored; it is never taken as a verdict on the live connection. A malformed line is logged
//! and dropped; a refused subscribe or authorize ends the connection.

use super::Ended;
use crate::core::WANTED_VERSION_MASK;
use crate::core::{PoolSubmit, ToPool, Upstream};
use crate::wire::sv1::json::Value;
use crate::wire::sv1::msg::{envelope, parse_mask, subscribe_result, PoolMessage};
use crate::wire::sv1::{code, emit, hex_decode};
use crate::work::job::{JobTemplate, PoolJobId};
use crate::work::Difficulty;

/// Longest line a pool may send: real pools with many payout outputs send multi-KB coinb2.
pub const POOL_LINE_CAP: usize = 64 * 1024;

const ID_CONFIGURE: u64 = 1;
const ID_SUBSCRIBE: u64 = 2;
const ID_AUTHORIZE: u64 = 3;

/// Which handshake answers are still awaited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Handshake {
    pub configured: bool,
    pub subscribed: bool,
    pub authorized: bool,
}

/// One SV1 pool session.
pub struct Sv1Pool {
    name: heapless::String<32>,
    user: heapless::String<128>,
    handshake: Handshake,
    /// Answers with a handshake id that was not awaited.
    pub stray_answers: u64,
}

impl Sv1Pool {
    /// Start a session: writes the pipelined handshake to `out`.
    pub fn start(cfg: &crate::ops::config::PoolConfig, out: &mut Vec<u8>) -> Sv1Pool {
        emit::configure(out, ID_CONFIGURE, WANTED_VERSION_MASK);
        emit::subscribe(
            out,
            ID_SUBSCRIBE,
            concat!("hashmux/", env!("CARGO_PKG_VERSION")),
        );
        emit::authorize(out, ID_AUTHORIZE, &cfg.user, &cfg.password);
        Sv1Pool {
            name: cfg.name.clone(),
            user: heapless::String::try_from(cfg.user.as_str()).unwrap_or_default(),
            handshake: Handshake::default(),
            stray_answers: 0,
        }
    }

    /// Handle one line from the pool: events go to `emit`, answers the pool asked for to
    /// `reply`. `Err` ends the connection.
    pub fn on_line(
        &mut self,
        line: &[u8],
        reply: &mut Vec<u8>,
        ev: &mut impl FnMut(Upstream<'_>),
    ) -> Result<(), Ended> {
        let name = &self.name;
        let env = match envelope(line) {
            Ok(e) => e,
            Err(e) => {
                log::warn!(target: "pool_message", "pool {name}: dropping bad line ({e})");
                return Ok(());
            }
        };
        let msg = match PoolMessage::parse(&env) {
            Ok(m) => m,
            Err(e) => {
                log::warn!(target: "pool_message", "pool {name}: dropping bad message ({e})");
                return Ok(());
            }
        };
        match msg {
            PoolMessage::Response {
                id: Some(id @ ID_CONFIGURE..=ID_AUTHORIZE),
                result,
                error,
            } => self.answer(id, &result, &error, ev)?,
            PoolMessage::Response {
                id: Some(id),
                result,
                error,
            } => {
                let accepted = result == Value::Bool(true) && error.is_null();
                ev(Upstream::Verdict {
                    id,
                    accepted,
                    reason: &error_text(&error),
                });
            }
            PoolMessage::Response { id: None, .. } => {
                log::debug!("pool {name}: response without id")
            }
            PoolMessage::Notify(n) => match JobTemplate::from_notify(&n) {
                Ok(t) => ev(Upstream::Job(Box::new(t))),
                Err(e) => log::warn!("pool {name}: dropping job {}: {e}", n.job_id),
            },
            PoolMessage::SetDifficulty(text) => match Difficulty::parse(text) {
                Some(d) => ev(Upstream::Target(d)),
                None => log::warn!("pool {name}: ignoring set_difficulty {text}"),
            },
            PoolMessage::SetExtranonce {
                extranonce1,
                extranonce2_size,
            } => {
                let mut e1 = [0u8; 32];
                let Some(len) = hex_decode(extranonce1, &mut e1) else {
                    return Err(Ended::because(format!(
                        "unusable set_extranonce ({extranonce1}, {extranonce2_size})"
                    )));
                };
                ev(Upstream::Extranonce {
                    prefix: &e1[..len],
                    e2_size: extranonce2_size.min(u32::MAX as u64) as usize,
                });
            }
            PoolMessage::SetVersionMask(mask) => ev(Upstream::VersionMask(Some(mask))),
            PoolMessage::Reconnect {
                host,
                port,
                wait_secs,
            } => {
                let wait = wait_secs.min(600) * 1000;
                log::info!(target: "pool_message",
                    "pool {name}: asked to reconnect (to {}:{}) in {} s; reconnecting to the configured address",
                    host.unwrap_or("same host"),
                    port.map(|p| p.to_string()).unwrap_or_else(|| "same port".into()),
                    wait / 1000
                );
                return Err(Ended::retry("pool sent client.reconnect", wait.max(100)));
            }
            PoolMessage::ShowMessage(text) => log::info!(target: "pool_message",
                "pool {name} says: {}",
                crate::stats::truncate(text, 200)
            ),
            PoolMessage::Unknown(method) => {
                log::debug!("pool {name}: unsupported method {method}");
                if env.id != "null" {
                    emit::error(reply, env.id, code::OTHER, "unsupported method");
                }
            }
        }
        Ok(())
    }

    /// An answer to a handshake request: the one place the handshake state changes.
    fn answer(
        &mut self,
        id: u64,
        result: &Value<'_>,
        error: &Value<'_>,
        ev: &mut impl FnMut(Upstream<'_>),
    ) -> Result<(), Ended> {
        let h = &mut self.handshake;
        let awaited = match id {
            ID_CONFIGURE => !std::mem::replace(&mut h.configured, true),
            ID_SUBSCRIBE => !std::mem::replace(&mut h.subscribed, true),
            _ => !std::mem::replace(&mut h.authorized, true),
        };
        if !awaited {
            self.stray_answers += 1;
            log::debug!(
                "pool {}: answer to request {id} that was not awaited (ignored)",
                self.name
            );
            return Ok(());
        }
        log::debug!("pool {}: handshake {:?}", self.name, self.handshake);
        match id {
            ID_CONFIGURE => {
                let mask = (result.get("version-rolling") == Some(Value::Bool(true)))
                    .then(|| {
                        result
                            .get("version-rolling.mask")
                            .and_then(|m| m.as_str())
                            .and_then(parse_mask)
                    })
                    .flatten();
                ev(Upstream::VersionMask(mask));
            }
            ID_SUBSCRIBE => {
                let Some((e1_hex, n)) = subscribe_result(result).filter(|_| error.is_null()) else {
                    return Err(Ended::because(format!(
                        "subscribe refused: {}",
                        error_text(error)
                    )));
                };
                let mut e1 = [0u8; 32];
                let Some(len) = hex_decode(e1_hex, &mut e1) else {
                    return Err(Ended::because("subscribe answer has a bad extranonce1"));
                };
                ev(Upstream::Extranonce {
                    prefix: &e1[..len],
                    e2_size: n.min(u32::MAX as u64) as usize,
                });
            }
            _ => {
                if *result != Value::Bool(true) {
                    return Err(Ended::because(format!(
                        "authorization refused for user {}: {}",
                        self.user,
                        error_text(error)
                    )));
                }
                ev(Upstream::Authorized);
            }
        }
        Ok(())
    }

    /// Render one message from the core as SV1 lines (`Close` is the runtime's).
    pub fn write(&self, out: &mut Vec<u8>, msg: &ToPool) {
        if let ToPool::Submit(s) = msg {
            write_submit(out, &self.user, s);
        }
    }
}

/// `mining.submit` for a share; the job id goes back exactly as the pool sent it.
pub fn write_submit(out: &mut Vec<u8>, user: &str, s: &PoolSubmit) {
    let text;
    let job_id = match &s.job.id {
        PoolJobId::Text(t) => t.as_str(),
        PoolJobId::Number(n) => {
            text = n.to_string();
            text.as_str()
        }
    };
    emit::submit(
        out,
        s.id,
        user,
        job_id,
        &s.extranonce2,
        s.ntime,
        s.nonce,
        s.version_bits,
    );
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
        Value::Number(n) => format!("error {n}"),
        Value::Bool(b) => format!("error {b}"),
    }
}
