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
//!
//! The stats page's controls post the same endpoints as plain HTML forms
//! (`application/x-www-form-urlencoded`, [`handle_form`]): the token is a form field, weights
//! are `weight.<pool>` fields, the preset a `preset` field. A form from another site is
//! refused before the token is looked at: `Sec-Fetch-Site: cross-site`, or an `Origin` that
//! is not this server's own `Host`. Success answers `303 See Other` back to the page.

use crate::core::Core;
use crate::wire::sv1::json::{self, Value};

/// Status line and body of an answer.
pub struct Reply {
    pub status: &'static str,
    pub body: String,
    /// The body's message as text.
    pub message: String,
}

/// What a form post gets: back to the page, or a small page saying what was wrong.
pub enum FormReply {
    /// `303 See Other` to `/`.
    Done,
    /// Status and an HTML page with the message and a link back.
    Refused(&'static str, String),
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
    Reply {
        status,
        body,
        message: msg.to_string(),
    }
}

/// The presented token checked against the config's, in constant time.
fn authorize(core: &Core, path: &str, presented: Option<&[u8]>, how: &str) -> Result<(), Reply> {
    let allowed = match &core.config().api_token {
        None => {
            return Err(reply(
                "403 Forbidden",
                "control API disabled: set api_token in the config",
            ))
        }
        Some(token) => presented.is_some_and(|t| token.matches(t)),
    };
    if !allowed {
        log::warn!("http: control request to {path} with a missing or wrong token");
        return Err(reply(
            "401 Unauthorized",
            &format!("missing or wrong token ({how})"),
        ));
    }
    Ok(())
}

/// Handle a control request. `auth` is the raw `Authorization` header value, if any.
pub fn handle(core: &mut Core, now: u64, path: &str, auth: Option<&[u8]>, body: &[u8]) -> Reply {
    let presented = auth.and_then(|a| a.strip_prefix(b"Bearer "));
    if let Err(r) = authorize(core, path, presented, "Authorization: Bearer <api_token>") {
        return r;
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
        _ => pool_switch(core, now, path),
    }
}

/// `/api/pools/<name>/enable|disable` (the name may be percent-encoded).
fn pool_switch(core: &mut Core, now: u64, path: &str) -> Reply {
    let target = path
        .strip_prefix("/api/pools/")
        .and_then(|r| r.rsplit_once('/'))
        .and_then(|(name, action)| Some((decode(name)?, action)));
    match target {
        Some((name, "disable")) => enabled(core, now, &name, false),
        Some((name, "enable")) => enabled(core, now, &name, true),
        _ => reply("404 Not Found", "no such control endpoint"),
    }
}

/// Handle a form posted by the stats page (see the module docs).
pub fn handle_form(core: &mut Core, now: u64, req: &super::Request) -> FormReply {
    let refused = |r: Reply| FormReply::Refused(r.status, r.message);
    let foreign_origin = match (&req.origin, &req.authority) {
        (Some(o), Some(host)) => o.split_once("://").map(|(_, h)| h) != Some(host.as_str()),
        (Some(_), None) => true,
        (None, _) => false,
    };
    if req.cross_site || foreign_origin {
        log::warn!(
            "http: refused a control form for {} from another site (Origin {:?})",
            req.path,
            req.origin.as_deref().unwrap_or("-")
        );
        return FormReply::Refused(
            "403 Forbidden",
            "refused: this form was sent by another site".into(),
        );
    }
    let Ok(body) = core::str::from_utf8(&req.body) else {
        return FormReply::Refused("400 Bad Request", "the form is not UTF-8".into());
    };
    let mut token = None;
    let mut preset = None;
    let mut weights: heapless::Vec<(String, u32), { crate::MAX_POOLS }> = heapless::Vec::new();
    for pair in body.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (decode(k), decode(v)) else {
            return FormReply::Refused("400 Bad Request", "badly encoded form field".into());
        };
        match k.as_str() {
            "token" => token = Some(v),
            "preset" => preset = Some(v),
            _ => {
                if let Some(pool) = k.strip_prefix("weight.") {
                    let Ok(w) = v.trim().parse::<u32>() else {
                        return FormReply::Refused(
                            "400 Bad Request",
                            format!("weight of {pool:?} must be a whole number"),
                        );
                    };
                    if weights.push((pool.to_string(), w)).is_err() {
                        return FormReply::Refused(
                            "400 Bad Request",
                            "more weights than pools".into(),
                        );
                    }
                }
            }
        }
    }
    let presented = token.as_deref().map(str::as_bytes);
    if let Err(r) = authorize(core, &req.path, presented, "the API token field") {
        return refused(r);
    }
    let r = match req.path.as_str() {
        "/api/weights" => {
            let list: heapless::Vec<(&str, u32), { crate::MAX_POOLS }> =
                weights.iter().map(|(n, w)| (n.as_str(), *w)).collect();
            match core.set_weights(&list, now) {
                Ok(()) => reply("200 OK", "weights applied"),
                Err(e) => reply("400 Bad Request", &e.to_string()),
            }
        }
        "/api/split" => {
            let Some(p) = preset else {
                return FormReply::Refused("400 Bad Request", "no preset chosen".into());
            };
            let mut json = String::from("{\"preset\":");
            crate::stats::snapshot::json_str(&mut json, &p);
            json.push('}');
            match crate::ops::config::parse_split(json.as_bytes()) {
                Ok(s) => {
                    core.set_split(s);
                    reply("200 OK", "split settings applied")
                }
                Err(e) => reply("400 Bad Request", &e.to_string()),
            }
        }
        path => pool_switch(core, now, path),
    };
    if r.status.starts_with('2') {
        FormReply::Done
    } else {
        refused(r)
    }
}

/// Percent-decoding as forms and paths encode (`+` is a space); None if not UTF-8 or a `%`
/// is not followed by two hex digits.
pub fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = core::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `s` percent-encoded for a path segment or form field name (letters, digits, `-._~` kept).
pub fn encode(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            o.push(c as char);
        } else {
            o.push_str(&format!("%{c:02X}"));
        }
    }
    o
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
