//! Sim-side line framing and JSON-RPC helpers (serde_json only, nothing from hashmux).

use serde_json::{json, Value};

/// Bytes in, complete `\n`-terminated lines out. A partial line longer than `max` is an error
/// (the peer is broken or hostile); the simulator then drops the connection.
pub struct LineBuf {
    buf: Vec<u8>,
    scanned: usize,
    max: usize,
}

/// A partial line grew past the limit.
#[derive(Debug)]
pub struct LineTooLong;

impl LineBuf {
    pub fn new(max: usize) -> LineBuf {
        LineBuf {
            buf: Vec::new(),
            scanned: 0,
            max,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete line without its terminator (and without a trailing `\r`), skipping
    /// blank lines.
    pub fn next_line(&mut self) -> Result<Option<String>, LineTooLong> {
        loop {
            let Some(pos) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = self.buf.len();
                if self.buf.len() > self.max {
                    return Err(LineTooLong);
                }
                return Ok(None);
            };
            let end = self.scanned + pos;
            let mut line: Vec<u8> = self.buf.drain(..=end).collect();
            self.scanned = 0;
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() > self.max {
                return Err(LineTooLong);
            }
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
        }
    }
}

/// `{"id":id,"result":result,"error":null}` plus newline.
pub fn ok_line(id: &Value, result: Value) -> String {
    let mut s = json!({"id": id, "result": result, "error": null}).to_string();
    s.push('\n');
    s
}

/// `{"id":id,"result":null,"error":[code,"message",null]}` plus newline.
pub fn err_line(id: &Value, code: i64, message: &str) -> String {
    let mut s = json!({"id": id, "result": null, "error": [code, message, null]}).to_string();
    s.push('\n');
    s
}

/// A request or notification line plus newline.
pub fn request_line(id: Value, method: &str, params: Value) -> String {
    let mut s = json!({"id": id, "method": method, "params": params}).to_string();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_buf_splits_and_limits() {
        let mut lb = LineBuf::new(16);
        lb.push(b"abc\r\n\n de");
        assert_eq!(lb.next_line().unwrap().as_deref(), Some("abc"));
        assert_eq!(lb.next_line().unwrap(), None);
        lb.push(b"f\n");
        assert_eq!(lb.next_line().unwrap().as_deref(), Some(" def"));
        lb.push(&[b'x'; 20]);
        assert!(lb.next_line().is_err());
    }
}
