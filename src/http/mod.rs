//! The web page, the JSON API and the metrics, as pure functions: requests are parsed with
//! httparse from bytes ([`parse_head`]), pages rendered from a [`crate::stats::Snapshot`]
//! ([`page`], [`chart`], [`metrics`]), control requests applied to the core ([`control`]).
//! The server loop (sockets, timeouts, client caps) is the runtime's (`runtime::http`).

pub mod chart;
pub mod control;
pub mod metrics;
pub mod page;

/// Largest request (head and body) we read.
pub const REQUEST_CAP: usize = 8 * 1024;
const MAX_HEADERS: usize = 32;

/// Largest request body (control requests are small JSON objects).
const BODY_CAP: usize = 4 * 1024;

/// A parsed request: method, path (query stripped), Authorization header, body.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub auth: Option<Vec<u8>>,
    /// The `Host` header without its port (the address the client reached us at).
    pub host: Option<String>,
    /// The `Host` header as sent (with its port), to compare with `Origin`.
    pub authority: Option<String>,
    /// The `Origin` header (browsers send it with a form's POST).
    pub origin: Option<String>,
    /// `Sec-Fetch-Site: cross-site`: the request was made by another site's page.
    pub cross_site: bool,
    /// The body is a form (`application/x-www-form-urlencoded`): the page's controls.
    pub form: bool,
    pub body: Vec<u8>,
}

/// What the bytes received so far make of a request (no I/O; fuzzed in `fuzz/`).
#[derive(Debug)]
pub enum Head {
    /// More bytes needed (and there is room for them).
    Partial,
    /// Not HTTP, or a head larger than the request buffer.
    Bad,
    /// `Content-Length` above the body cap.
    TooLarge,
    /// Head complete: the request with the body bytes received so far, and the body length
    /// announced.
    Complete {
        request: Request,
        content_length: usize,
    },
}

/// `host[:port]` or `[v6]:port` without the port; only characters a host name or address
/// may hold are kept (the value is shown on the page).
fn host_only(v: &str) -> String {
    let v = v.trim();
    let h = match v.strip_prefix('[') {
        Some(rest) => rest
            .split(']')
            .next()
            .map(|a| format!("[{a}]"))
            .unwrap_or_default(),
        None => v.split(':').next().unwrap_or("").to_string(),
    };
    h.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        .take(64)
        .collect()
}

/// Parse the first `buf.len()` bytes of a request.
pub fn parse_head(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(head)) => {
            let header = |name: &str| {
                req.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| h.value)
            };
            let text = |name: &str| header(name).and_then(|v| core::str::from_utf8(v).ok());
            let content_length = header("content-length")
                .and_then(|v| core::str::from_utf8(v).ok())
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if content_length > BODY_CAP {
                return Head::TooLarge;
            }
            let request = Request {
                method: req.method.unwrap_or("").to_string(),
                path: req
                    .path
                    .unwrap_or("/")
                    .split('?')
                    .next()
                    .unwrap_or("/")
                    .to_string(),
                auth: header("authorization").map(|v| v.to_vec()),
                host: text("host").map(host_only),
                authority: text("host").map(|h| h.trim().to_string()),
                origin: text("origin").map(|h| h.trim().to_string()),
                cross_site: text("sec-fetch-site").is_some_and(|v| v.trim() == "cross-site"),
                form: text("content-type").is_some_and(|v| {
                    v.trim_start()
                        .to_ascii_lowercase()
                        .starts_with("application/x-www-form-urlencoded")
                }),
                body: buf[head..].to_vec(),
            };
            Head::Complete {
                request,
                content_length,
            }
        }
        Ok(httparse::Status::Partial) if buf.len() < REQUEST_CAP => Head::Partial,
        _ => Head::Bad,
    }
}
