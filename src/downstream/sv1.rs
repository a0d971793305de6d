//! A Stratum V1 miner connection, without I/O: one received line becomes one [`Downstream`]
//! event for the core (or an answer of its own when the line needs no state: a bad line, an
//! unknown method, `mining.extranonce.subscribe`); the core's [`ToMiner`] messages become
//! lines.
//!
//! Invariants: every request with an id gets exactly one answer, from here or from the core;
//! more than [`MAX_BAD_LINES`] unreadable lines end the connection.

use crate::core::{Answer, Downstream, MinerShare, ToMiner};
use crate::wire::sv1::msg::{envelope, MinerRequest};
use crate::wire::sv1::{code, emit, hex_decode};
use crate::work::Difficulty;
use std::fmt;

/// Malformed lines tolerated before a miner is dropped.
pub const MAX_BAD_LINES: u32 = 20;
/// Largest extranonce2 a miner may send (we hand out at most 4 bytes).
const MAX_E2: usize = 16;

/// Why a session must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    TooManyBadLines,
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Close::TooManyBadLines => write!(f, "more than {MAX_BAD_LINES} bad lines"),
        }
    }
}

/// Per-connection state of the line protocol (the core keeps everything else).
pub struct Sv1Miner {
    /// The peer, for log lines.
    peer: std::net::SocketAddr,
    bad_lines: u32,
    /// The decoded extranonce2 of the submit being handed to the core.
    e2: [u8; MAX_E2],
}

impl Sv1Miner {
    pub fn new(peer: std::net::SocketAddr) -> Sv1Miner {
        Sv1Miner {
            peer,
            bad_lines: 0,
            e2: [0; MAX_E2],
        }
    }

    /// Turn one line into an event for the core (`Ok(None)`: nothing for the core; any answer
    /// was written to `reply`).
    pub fn on_line<'a>(
        &'a mut self,
        line: &'a [u8],
        reply: &mut Vec<u8>,
    ) -> Result<Option<Downstream<'a>>, Close> {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(None);
        }
        let env = match envelope(line) {
            Ok(e) => e,
            Err(e) => return self.bad_line("null", &e.to_string(), reply).map(|_| None),
        };
        let req = match MinerRequest::parse(&env) {
            Ok(r) => r,
            Err(e) => {
                self.bad_line(env.id, &e.to_string(), reply)?;
                // A submit we cannot even read still counts, as a malformed one.
                let submit = env.method == Some("mining.submit");
                return Ok(submit.then_some(Downstream::Malformed { submit }));
            }
        };
        let req_id = env.id;
        Ok(Some(match req {
            MinerRequest::Configure {
                version_rolling,
                mask,
            } => Downstream::Configure {
                req: req_id,
                version_rolling,
                mask,
            },
            MinerRequest::Subscribe { agent } => Downstream::Subscribe { req: req_id, agent },
            MinerRequest::Authorize { user } => Downstream::Authorize { req: req_id, user },
            MinerRequest::ExtranonceSubscribe => {
                // Our extranonce never changes; saying yes is harmless and what miners expect.
                emit::result(reply, req_id, "true");
                return Ok(None);
            }
            MinerRequest::SuggestDifficulty(text) => match Difficulty::parse(text) {
                Some(difficulty) => Downstream::SuggestDifficulty {
                    req: req_id,
                    difficulty,
                },
                None => {
                    emit::error(
                        reply,
                        req_id,
                        code::OTHER,
                        "difficulty must be a positive number",
                    );
                    return Ok(None);
                }
            },
            MinerRequest::Submit(s) => {
                let n = hex_decode(s.extranonce2, &mut self.e2)
                    .filter(|&n| s.extranonce2.len() == 2 * n);
                Downstream::Submit {
                    req: req_id,
                    share: MinerShare {
                        job: crate::core::miner::parse_job_id(s.job_id),
                        extranonce2: n.map(|n| &self.e2[..n]),
                        ntime: s.ntime,
                        nonce: s.nonce,
                        version_bits: s.version_bits,
                        #[cfg(feature = "sim")]
                        sim_hash: None,
                    },
                }
            }
            MinerRequest::Unknown(method) => {
                log::debug!("miner {}: unsupported method {method}", self.peer);
                if req_id != "null" {
                    emit::error(reply, req_id, code::OTHER, "unsupported method");
                }
                return Ok(None);
            }
            MinerRequest::NoMethod => return Ok(None),
        }))
    }

    fn bad_line(&mut self, id: &str, why: &str, reply: &mut Vec<u8>) -> Result<(), Close> {
        self.bad_lines += 1;
        log::warn!("miner {}: bad line ({why})", self.peer);
        emit::error(reply, id, code::OTHER, why);
        if self.bad_lines > MAX_BAD_LINES {
            return Err(Close::TooManyBadLines);
        }
        Ok(())
    }
}

/// Render one message from the core as Stratum V1 lines (`Close` is the runtime's).
pub fn write(out: &mut Vec<u8>, msg: &ToMiner) {
    match msg {
        ToMiner::Reply { req, answer } => match answer {
            Answer::True => emit::result(out, req, "true"),
            Answer::Configure(mask) => emit::configure_result(out, req, *mask),
            Answer::Subscribe {
                session,
                tag,
                e2_size,
            } => emit::subscribe_result(out, req, *session, tag, *e2_size as u8),
            Answer::Refused(r) => emit::error(out, req, r.sv1_code(), &r.to_string()),
        },
        ToMiner::SetDifficulty(d) => emit::set_difficulty(out, &d.to_string()),
        ToMiner::Notify {
            id,
            job,
            variant,
            e2_size,
            clean,
        } => {
            if let Some(body) = job.notify_body(*e2_size, *variant) {
                emit::notify(out, *id, &body, *clean);
            }
        }
        ToMiner::SetVersionMask(mask) => emit::set_version_mask(out, *mask),
        ToMiner::Close => {}
    }
}
