//! Control endpoints (`POST`), all behind the config's `api_token`, applied to the core
//! (no I/O here; the runtime's HTTP server calls [`handle`]):
//!
//! - `POST /api/split` — body: a `split` section as in the config file (omitted fields take
//!   their defaults); validated by the config parser, applied like a reload.
//! - `POST /api/weights` — body: `{"pool name": weight, ...}`; all names must exist.
//! - `POST /api/pools/<name>/disable` and `/enable` — take a pool out of the split and
//!   failover, or put it back (it stays connected).
//!
//! Without a configured token every control request gets 403; a missing or wrong
//! `Authorization: Bearer <token>` gets 401. Tokens are compared in constant time.

use crate::core::Core;
use crate::wire::sv1::json::{self, Value};

/// Status line and body of an answer.
pub struct Reply {
    pub status: &'static str,
    pub body: String,
}

fn reply(status: &'static str, msg: &str) -> Reply {
    let mut body = String::from("{\"ok\":");
    body.push_str(if status.starts_with('2') {
        "true"
    } else {
        "false"
    });
    body.push_str(",\"message\":");
    crate::stats::snapshot::json_str(&mut body, msg);
    body.push_str("}\n");
    Reply { status, body }
}

/// Handle a control request. `auth` is the raw `Authorization` header value, if any.
pub fn handle(core: &mut Core, now: u64, path: &str, auth: Option<&[u8]>, body: &[u8]) -> Reply {
    let allowed = {
        match &core.config().api_token {
            None => {
                return reply(
                    "403 Forbidden",
                    "control API disabled: set api_token in the config",
                )
            }
            Some(token) => auth
                .and_then(|a| a.strip_prefix(b"Bearer "))
                .is_some_and(|t| token.matches(t)),
        }
    };
    if !allowed {
        log::warn!("http: control request to {path} with a missing or wrong token");
        return reply(
            "401 Unauthorized",
            "missing or wrong token (Authorization: Bearer <api_token>)",
        );
    }
    match path {
        "/api/split" => match crate::ops::config::parse_split(body) {
            Ok(s) => {
                core.set_split(s);
                reply("200 OK", "split settings applied")
            }
            Err(e) => reply("400 Bad Request", &e.to_string()),
        },
        "/api/weights" => weights(core, now, body),
        _ => match path
            .strip_prefix("/api/pools/")
            .and_then(|r| r.rsplit_once('/'))
        {
            Some((name, "disable")) => enabled(core, now, name, false),
            Some((name, "enable")) => enabled(core, now, name, true),
            _ => reply("404 Not Found", "no such control endpoint"),
        },
    }
}

fn enabled(core: &mut Core, now: u64, name: &str, on: bool) -> Reply {
    match core.set_enabled(name, on, now) {
        Ok(()) => reply("200 OK", if on { "pool enabled" } else { "pool disabled" }),
        Err(e) => reply("404 Not Found", &e.to_string()),
    }
}

fn weights(core: &mut Core, now: u64, body: &[u8]) -> Reply {
    let Ok(text) = core::str::from_utf8(body) else {
        return reply("400 Bad Request", "body is not UTF-8");
    };
    let v = match json::parse(text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return reply(
                "400 Bad Request",
                "body must be an object of pool name to weight",
            )
        }
        Err(e) => return reply("400 Bad Request", &e.to_string()),
    };
    let mut list: heapless::Vec<(&str, u32), { crate::MAX_POOLS }> = heapless::Vec::new();
    for (name, w) in v.members() {
        let Some(w) = w.as_u64().and_then(|w| u32::try_from(w).ok()) else {
            return reply(
                "400 Bad Request",
                &format!("weight of {name:?} must be a whole number"),
            );
        };
        if list.push((name, w)).is_err() {
            return reply("400 Bad Request", "more weights than pools");
        }
    }
    match core.set_weights(&list, now) {
        Ok(()) => reply("200 OK", "weights applied"),
        Err(e) => reply("400 Bad Request", &e.to_string()),
    }
}
