//! A line from a downstream miner: envelope, then the miner-side request parser.
//!
//! Beyond "never panics": the id we echo back must make our answer a line that parses again
//! with the same id (miners match answers by id), and the answer to a bad line (the error's
//! Display) must be a valid line too; number texts the session turns into difficulties keep
//! `Difficulty`'s documented rounding.
#![no_main]

#[path = "checks.rs"]
mod checks;

use hashmux::wire::sv1::emit;
use hashmux::wire::sv1::msg::{envelope, MinerRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let env = match envelope(data) {
        Ok(env) => env,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    check_id(env.id);
    match MinerRequest::parse(&env) {
        Ok(req) => {
            let _ = format!("{req:?}");
            match req {
                MinerRequest::Subscribe { agent: Some(a) } => {
                    assert!(hashmux::stats::truncate(a, 64).len() <= 64);
                }
                MinerRequest::Authorize { user } => {
                    assert!(hashmux::stats::truncate(user, 64).len() <= 64);
                }
                MinerRequest::SuggestDifficulty(text) => checks::check_difficulty(text),
                MinerRequest::Submit(s) => {
                    let mut e2 = [0u8; 32];
                    let _ = hashmux::wire::sv1::hex_decode(s.extranonce2, &mut e2);
                }
                _ => {}
            }
            answers_parse_back(env.id, |out| emit::result(out, env.id, "true"));
        }
        Err(e) => {
            let why = e.to_string();
            answers_parse_back(env.id, |out| emit::error(out, env.id, 20, &why));
        }
    }
});

/// The raw id is `null`, a number's text, or a quoted string.
fn check_id(id: &str) {
    let b = id.as_bytes();
    assert!(
        id == "null"
            || (b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"')
            || b.first().is_some_and(|c| *c == b'-' || c.is_ascii_digit()),
        "odd raw id {id:?}"
    );
}

/// What we write back with the miner's id is one line that parses to an envelope with that id.
fn answers_parse_back(id: &str, write: impl FnOnce(&mut Vec<u8>)) {
    let mut out = Vec::new();
    write(&mut out);
    assert_eq!(out.last(), Some(&b'\n'));
    let line = &out[..out.len() - 1];
    assert!(!line.contains(&b'\n'), "answer spans lines: {out:?}");
    let back = envelope(line).unwrap_or_else(|e| {
        panic!(
            "our answer does not parse ({e}): {}",
            String::from_utf8_lossy(&out)
        )
    });
    assert_eq!(back.id, id);
}
