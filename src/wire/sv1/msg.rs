//! Typed Stratum V1 messages, parsed from one line, borrowing from it.
//!
//! Miner side: [`MinerRequest`] (what a miner sends us). Pool side: [`PoolMessage`] (what a
//! pool sends us). A line that is valid JSON but not a message we understand becomes an
//! `Unknown`/`Invalid` value carrying the id so the caller can answer it; only lines that are
//! not JSON objects at all are errors.

use super::json::{self, Value};
use core::fmt;

/// Why a line could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    Json(json::JsonError),
    NotObject,
    NotUtf8,
    /// A known method with missing or wrongly typed params.
    BadParams(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Json(e) => write!(f, "{e}"),
            ParseError::NotObject => write!(f, "line is not a JSON object"),
            ParseError::NotUtf8 => write!(f, "line is not UTF-8"),
            ParseError::BadParams(what) => write!(f, "bad params: {what}"),
        }
    }
}

/// The envelope of any line: raw id text (echoed back verbatim), method and params.
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    /// Raw JSON text of the id (`1`, `"x"`, `null`), or `null` if absent.
    pub id: &'a str,
    pub method: Option<&'a str>,
    pub params: Value<'a>,
    pub result: Value<'a>,
    pub error: Value<'a>,
}

/// Split a line into its envelope.
pub fn envelope(line: &[u8]) -> Result<Envelope<'_>, ParseError> {
    let text = core::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    let v = json::parse(text).map_err(ParseError::Json)?;
    if !matches!(v, Value::Object(_)) {
        return Err(ParseError::NotObject);
    }
    let id = match v.get("id") {
        None | Some(Value::Null) => "null",
        Some(Value::Number(n)) => n,
        Some(Value::Str(s)) => raw_quoted(text, s),
        // Arrays/objects/bools as ids are nonsense; answer with null.
        Some(_) => "null",
    };
    Ok(Envelope {
        id,
        method: v.get("method").and_then(|m| m.as_str()),
        params: v.get("params").unwrap_or(Value::Array("[]")),
        result: v.get("result").unwrap_or(Value::Null),
        error: v.get("error").unwrap_or(Value::Null),
    })
}

/// Extend a raw string slice (inside `text`) to include its quotes, so it can be echoed.
fn raw_quoted<'a>(text: &'a str, inner: &'a str) -> &'a str {
    let start = inner.as_ptr() as usize - text.as_ptr() as usize;
    &text[start - 1..start + inner.len() + 1]
}

/// A `mining.submit` from a miner (5 params, or 6 with version bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submit<'a> {
    pub worker: &'a str,
    pub job_id: &'a str,
    /// Hex of the miner's extranonce2.
    pub extranonce2: &'a str,
    pub ntime: u32,
    pub nonce: u32,
    pub version_bits: Option<u32>,
}

/// What a miner asks of us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinerRequest<'a> {
    /// BIP310 `mining.configure`; only version rolling is acted on.
    Configure {
        version_rolling: bool,
        /// Mask the miner asks for (defaults to all bits).
        mask: u32,
    },
    Subscribe {
        agent: Option<&'a str>,
    },
    Authorize {
        user: &'a str,
    },
    ExtranonceSubscribe,
    /// Number text of the suggested difficulty.
    SuggestDifficulty(&'a str),
    Submit(Submit<'a>),
    /// Any other method (answered with an error).
    Unknown(&'a str),
    /// A response from the miner (to something we never ask) or a line without a method.
    NoMethod,
}

impl<'a> MinerRequest<'a> {
    pub fn parse(env: &Envelope<'a>) -> Result<MinerRequest<'a>, ParseError> {
        let p = env.params;
        let Some(method) = env.method else {
            return Ok(MinerRequest::NoMethod);
        };
        Ok(match method {
            "mining.configure" => {
                let exts = p
                    .at(0)
                    .ok_or(ParseError::BadParams("configure needs extensions"))?;
                let version_rolling = exts.items().any(|e| e.as_str() == Some("version-rolling"));
                let mask = p
                    .at(1)
                    .and_then(|o| o.get("version-rolling.mask"))
                    .and_then(|m| m.as_str())
                    .and_then(parse_mask)
                    .unwrap_or(u32::MAX);
                MinerRequest::Configure {
                    version_rolling,
                    mask,
                }
            }
            "mining.subscribe" => MinerRequest::Subscribe {
                agent: p.at(0).and_then(|a| a.as_str()),
            },
            "mining.authorize" => MinerRequest::Authorize {
                user: p
                    .at(0)
                    .and_then(|u| u.as_str())
                    .ok_or(ParseError::BadParams("authorize needs a user name"))?,
            },
            "mining.extranonce.subscribe" => MinerRequest::ExtranonceSubscribe,
            "mining.suggest_difficulty" => match p.at(0) {
                Some(Value::Number(n)) => MinerRequest::SuggestDifficulty(n),
                _ => return Err(ParseError::BadParams("suggest_difficulty needs a number")),
            },
            "mining.submit" => MinerRequest::Submit(parse_submit(p)?),
            other => MinerRequest::Unknown(other),
        })
    }
}

fn parse_submit(p: Value<'_>) -> Result<Submit<'_>, ParseError> {
    let s = |i: usize, what: &'static str| {
        p.at(i)
            .and_then(|v| v.as_str())
            .ok_or(ParseError::BadParams(what))
    };
    let n = p.items().count();
    if !(5..=6).contains(&n) {
        return Err(ParseError::BadParams("submit takes 5 or 6 params"));
    }
    let version_bits = match p.at(5) {
        None | Some(Value::Null) => None,
        Some(Value::Str(v)) => {
            Some(parse_mask(v).ok_or(ParseError::BadParams("version bits are not hex"))?)
        }
        Some(_) => return Err(ParseError::BadParams("version bits are not a string")),
    };
    Ok(Submit {
        worker: s(0, "worker is not a string")?,
        job_id: s(1, "job id is not a string")?,
        extranonce2: s(2, "extranonce2 is not a string")?,
        ntime: super::hex_u32(s(3, "ntime is not a string")?)
            .ok_or(ParseError::BadParams("ntime is not 8 hex digits"))?,
        nonce: super::hex_u32(s(4, "nonce is not a string")?)
            .ok_or(ParseError::BadParams("nonce is not 8 hex digits"))?,
        version_bits,
    })
}

/// Parse a hex mask of 1..=8 digits.
pub fn parse_mask(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 8 {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// A `mining.notify` from a pool; hex fields still hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notify<'a> {
    pub job_id: &'a str,
    pub prevhash: &'a str,
    pub coinb1: &'a str,
    pub coinb2: &'a str,
    /// Array of branch hex strings.
    pub branches: Value<'a>,
    pub version: u32,
    pub nbits: u32,
    pub ntime: u32,
    pub clean: bool,
}

/// What a pool sends us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMessage<'a> {
    /// Answer to one of our requests.
    Response {
        id: Option<u64>,
        result: Value<'a>,
        error: Value<'a>,
    },
    Notify(Notify<'a>),
    /// Number text.
    SetDifficulty(&'a str),
    SetExtranonce {
        extranonce1: &'a str,
        extranonce2_size: u64,
    },
    SetVersionMask(u32),
    Reconnect {
        host: Option<&'a str>,
        port: Option<u64>,
        wait_secs: u64,
    },
    ShowMessage(&'a str),
    /// A request from the pool we do not support; answered with an error if it has an id.
    Unknown(&'a str),
}

impl<'a> PoolMessage<'a> {
    pub fn parse(env: &Envelope<'a>) -> Result<PoolMessage<'a>, ParseError> {
        let p = env.params;
        let Some(method) = env.method else {
            return Ok(PoolMessage::Response {
                id: env.id.parse().ok(),
                result: env.result,
                error: env.error,
            });
        };
        let s = |i: usize, what: &'static str| {
            p.at(i)
                .and_then(|v| v.as_str())
                .ok_or(ParseError::BadParams(what))
        };
        Ok(match method {
            "mining.notify" => {
                let hex = |i: usize, what: &'static str| {
                    s(i, what).and_then(|t| super::hex_u32(t).ok_or(ParseError::BadParams(what)))
                };
                let branches = p
                    .at(4)
                    .ok_or(ParseError::BadParams("notify needs merkle branches"))?;
                if !matches!(branches, Value::Array(_)) {
                    return Err(ParseError::BadParams("merkle branches are not an array"));
                }
                PoolMessage::Notify(Notify {
                    job_id: s(0, "job id is not a string")?,
                    prevhash: s(1, "prevhash is not a string")?,
                    coinb1: s(2, "coinb1 is not a string")?,
                    coinb2: s(3, "coinb2 is not a string")?,
                    branches,
                    version: hex(5, "version is not 8 hex digits")?,
                    nbits: hex(6, "nbits is not 8 hex digits")?,
                    ntime: hex(7, "ntime is not 8 hex digits")?,
                    clean: p.at(8).and_then(|c| c.as_bool()).unwrap_or(false),
                })
            }
            "mining.set_difficulty" => match p.at(0) {
                Some(Value::Number(n)) => PoolMessage::SetDifficulty(n),
                _ => return Err(ParseError::BadParams("set_difficulty needs a number")),
            },
            "mining.set_extranonce" => PoolMessage::SetExtranonce {
                extranonce1: s(0, "extranonce1 is not a string")?,
                extranonce2_size: p
                    .at(1)
                    .and_then(|n| n.as_u64())
                    .ok_or(ParseError::BadParams("extranonce2 size is not an integer"))?,
            },
            "mining.set_version_mask" => PoolMessage::SetVersionMask(
                parse_mask(s(0, "version mask is not a string")?)
                    .ok_or(ParseError::BadParams("version mask is not hex"))?,
            ),
            "client.reconnect" => PoolMessage::Reconnect {
                host: p.at(0).and_then(|h| h.as_str()),
                port: p.at(1).and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|t| t.parse().ok()))
                }),
                wait_secs: p.at(2).and_then(|w| w.as_u64()).unwrap_or(0),
            },
            "client.show_message" => {
                PoolMessage::ShowMessage(p.at(0).and_then(|m| m.as_str()).unwrap_or(""))
            }
            other => PoolMessage::Unknown(other),
        })
    }
}

/// Parse a pool's subscribe result: `[subscriptions, extranonce1_hex, extranonce2_size]`.
pub fn subscribe_result<'a>(result: &Value<'a>) -> Option<(&'a str, u64)> {
    Some((result.at(1)?.as_str()?, result.at(2)?.as_u64()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miner(line: &str) -> Result<MinerRequest<'_>, ParseError> {
        MinerRequest::parse(&envelope(line.as_bytes())?)
    }

    fn pool(line: &str) -> Result<PoolMessage<'_>, ParseError> {
        PoolMessage::parse(&envelope(line.as_bytes())?)
    }

    #[test]
    fn test_envelope_echoes_string_id_with_quotes() {
        let e = envelope(br#"{"id":"abc","method":"x","params":[]}"#).unwrap();
        assert_eq!(e.id, "\"abc\"");
        let e = envelope(br#"{"id":7,"method":"x"}"#).unwrap();
        assert_eq!(e.id, "7");
    }

    #[test]
    fn test_miner_submit_with_version_bits() {
        let r = miner(
            r#"{"id":4,"method":"mining.submit","params":["w","1a","00000001","5f5e1000","deadbeef","00002000"]}"#,
        );
        assert_eq!(
            r.unwrap(),
            MinerRequest::Submit(Submit {
                worker: "w",
                job_id: "1a",
                extranonce2: "00000001",
                ntime: 0x5f5e1000,
                nonce: 0xdeadbeef,
                version_bits: Some(0x2000),
            })
        );
    }

    #[test]
    fn test_miner_submit_bad_nonce_is_error() {
        let r =
            miner(r#"{"id":4,"method":"mining.submit","params":["w","1a","00","5f5e1000","xyz"]}"#);
        assert!(matches!(r, Err(ParseError::BadParams(_))));
        let r = miner(r#"{"id":4,"method":"mining.submit","params":["w"]}"#);
        assert!(matches!(r, Err(ParseError::BadParams(_))));
    }

    #[test]
    fn test_miner_configure_nano3s() {
        let r = miner(
            r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff","version-rolling.min-bit-count":16}]}"#,
        );
        assert_eq!(
            r.unwrap(),
            MinerRequest::Configure {
                version_rolling: true,
                mask: u32::MAX
            }
        );
    }

    #[test]
    fn test_pool_notify_parses() {
        let r = pool(
            r#"{"id":null,"method":"mining.notify","params":["j1","00","aa","bb",["cc"],"20000000","1d00ffff","6500a0b1",true]}"#,
        );
        match r.unwrap() {
            PoolMessage::Notify(n) => {
                assert_eq!(n.job_id, "j1");
                assert_eq!(n.version, 0x2000_0000);
                assert!(n.clean);
                assert_eq!(n.branches.items().count(), 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn test_pool_response_and_subscribe_result() {
        let r = pool(r#"{"id":2,"result":[[["mining.notify","x"]],"0a0b0c0d",8],"error":null}"#)
            .unwrap();
        let PoolMessage::Response { id, result, .. } = r else {
            panic!()
        };
        assert_eq!(id, Some(2));
        assert_eq!(subscribe_result(&result), Some(("0a0b0c0d", 8)));
    }

    #[test]
    fn test_pool_wrong_types_are_errors() {
        assert!(pool(r#"{"id":null,"method":"mining.set_difficulty","params":["8"]}"#).is_err());
        assert!(pool(r#"{"id":null,"method":"mining.notify","params":["j1"]}"#).is_err());
        assert!(pool("[1,2]").is_err());
        assert!(pool("not json").is_err());
    }
}
