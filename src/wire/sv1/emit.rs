//! Outgoing Stratum V1 lines, appended to a byte buffer. Every function writes exactly one
//! line ending in `\n`. `id` arguments are raw JSON (as received, or a number we chose).

use std::io::Write;

/// Append `s` as a JSON string (with quotes), escaping what JSON requires.
pub fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// `{"id":ID,"result":RESULT,"error":null}` with RESULT raw JSON.
pub fn result(out: &mut Vec<u8>, id: &str, result: &str) {
    let _ = writeln!(out, "{{\"id\":{id},\"result\":{result},\"error\":null}}");
}

/// `{"id":ID,"result":null,"error":[CODE,"MSG",null]}`.
pub fn error(out: &mut Vec<u8>, id: &str, code: i32, msg: &str) {
    let _ = write!(out, "{{\"id\":{id},\"result\":null,\"error\":[{code},");
    json_str(out, msg);
    out.extend_from_slice(b",null]}\n");
}

/// Answer to `mining.configure`.
pub fn configure_result(out: &mut Vec<u8>, id: &str, mask: Option<u32>) {
    match mask {
        Some(m) => {
            let _ = writeln!(
                out,
                "{{\"id\":{id},\"result\":{{\"version-rolling\":true,\"version-rolling.mask\":\"{m:08x}\"}},\"error\":null}}"
            );
        }
        None => result(out, id, "{\"version-rolling\":false}"),
    }
}

/// Answer to `mining.subscribe`: our subscription ids, the miner's tag as extranonce1 and its
/// extranonce2 size.
pub fn subscribe_result(
    out: &mut Vec<u8>,
    id: &str,
    session: u32,
    extranonce1: &[u8],
    e2_size: u8,
) {
    let _ = write!(
        out,
        "{{\"id\":{id},\"result\":[[[\"mining.set_difficulty\",\"{session:x}\"],[\"mining.notify\",\"{session:x}\"]],\""
    );
    super::hex_push(out, extranonce1);
    let _ = writeln!(out, "\",{e2_size}],\"error\":null}}");
}

/// `mining.set_difficulty` with the difficulty as JSON number text.
pub fn set_difficulty(out: &mut Vec<u8>, difficulty: &str) {
    let _ = writeln!(
        out,
        "{{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[{difficulty}]}}"
    );
}

pub fn set_version_mask(out: &mut Vec<u8>, mask: u32) {
    let _ = writeln!(
        out,
        "{{\"id\":null,\"method\":\"mining.set_version_mask\",\"params\":[\"{mask:08x}\"]}}"
    );
}

/// `mining.notify`: `body` is the pre-rendered middle of the params (prevhash through ntime,
/// each followed by a comma), shared by all miners that get the same job.
pub fn notify(out: &mut Vec<u8>, job_id: u32, body: &[u8], clean: bool) {
    let _ = write!(
        out,
        "{{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"{job_id:x}\","
    );
    out.extend_from_slice(body);
    let _ = writeln!(out, "{clean}]}}");
}

/// Upstream: `mining.configure` asking for version rolling with `mask`.
pub fn configure(out: &mut Vec<u8>, id: u64, mask: u32) {
    let _ = writeln!(
        out,
        "{{\"id\":{id},\"method\":\"mining.configure\",\"params\":[[\"version-rolling\"],{{\"version-rolling.mask\":\"{mask:08x}\",\"version-rolling.min-bit-count\":2}}]}}"
    );
}

/// Upstream: `mining.subscribe`.
pub fn subscribe(out: &mut Vec<u8>, id: u64, agent: &str) {
    let _ = write!(
        out,
        "{{\"id\":{id},\"method\":\"mining.subscribe\",\"params\":["
    );
    json_str(out, agent);
    out.extend_from_slice(b"]}\n");
}

/// Upstream: `mining.authorize`.
pub fn authorize(out: &mut Vec<u8>, id: u64, user: &str, password: &str) {
    let _ = write!(
        out,
        "{{\"id\":{id},\"method\":\"mining.authorize\",\"params\":["
    );
    json_str(out, user);
    out.push(b',');
    json_str(out, password);
    out.extend_from_slice(b"]}\n");
}

/// Upstream: `mining.submit`.
#[allow(clippy::too_many_arguments)]
pub fn submit(
    out: &mut Vec<u8>,
    id: u64,
    user: &str,
    job_id: &str,
    extranonce2: &[u8],
    ntime: u32,
    nonce: u32,
    version_bits: Option<u32>,
) {
    let _ = write!(
        out,
        "{{\"id\":{id},\"method\":\"mining.submit\",\"params\":["
    );
    json_str(out, user);
    out.push(b',');
    json_str(out, job_id);
    out.extend_from_slice(b",\"");
    super::hex_push(out, extranonce2);
    let _ = write!(out, "\",\"{ntime:08x}\",\"{nonce:08x}\"");
    if let Some(v) = version_bits {
        let _ = write!(out, ",\"{v:08x}\"");
    }
    out.extend_from_slice(b"]}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::sv1::{json, msg};

    #[test]
    fn test_error_line_escapes_message() {
        let mut out = Vec::new();
        error(&mut out, "3", 23, "low \"difficulty\"");
        assert_eq!(
            out,
            b"{\"id\":3,\"result\":null,\"error\":[23,\"low \\\"difficulty\\\"\",null]}\n"
        );
        assert!(json::parse(core::str::from_utf8(&out).unwrap().trim_end()).is_ok());
    }

    #[test]
    fn test_submit_round_trips_through_parser() {
        let mut out = Vec::new();
        submit(
            &mut out,
            9,
            "acct.w",
            "j\"1",
            &[0, 1, 2, 3],
            0x65000000,
            0xdeadbeef,
            Some(0x2000),
        );
        let env = msg::envelope(out.strip_suffix(b"\n").unwrap()).unwrap();
        let req = msg::MinerRequest::parse(&env).unwrap();
        let msg::MinerRequest::Submit(s) = req else {
            panic!()
        };
        assert_eq!(s.extranonce2, "00010203");
        assert_eq!(s.nonce, 0xdeadbeef);
        assert_eq!(s.version_bits, Some(0x2000));
    }

    #[test]
    fn test_subscribe_result_shape() {
        let mut out = Vec::new();
        subscribe_result(&mut out, "1", 0x2a, &[0x00, 0x07], 4);
        let env = msg::envelope(out.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(msg::subscribe_result(&env.result), Some(("0007", 4)));
    }
}
