//! The built-in web server: `GET /` (stats page), `GET /api/stats` (JSON), `GET /metrics`
//! (Prometheus), `GET /healthz`,
//! and token-protected `POST` control endpoints ([`control`]).
//!
//! Requests are parsed with httparse from a fixed 8 KB buffer with at most 32 headers; a
//! client gets 5 s to send its request; every answer closes the connection. Nothing here can
//! block mining: each client is its own task and its buffers are bounded.

pub mod chart;
pub mod control;
pub mod metrics;
mod page;

use crate::proxy::Proxy;
use async_net::{TcpListener, TcpStream};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use smol::LocalExecutor;
use std::rc::Rc;
use std::time::Duration;

const REQUEST_CAP: usize = 8 * 1024;
const MAX_HEADERS: usize = 32;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Simultaneous HTTP clients; more are refused.
const MAX_CLIENTS: usize = 8;

pub async fn run(proxy: Rc<Proxy>, listener: TcpListener, ex: Rc<LocalExecutor<'static>>) {
    let clients = Rc::new(std::cell::RefCell::new(Clients::default()));
    loop {
        let Ok((stream, addr)) = listener.accept().await else {
            smol::Timer::after(Duration::from_millis(100)).await;
            continue;
        };
        if !clients.borrow_mut().admit(addr.ip()) {
            log::debug!("http: too many clients, refusing {addr}");
            continue;
        }
        let (p, c) = (proxy.clone(), clients.clone());
        ex.spawn(async move {
            let _ = future::or(serve(&p, stream), async {
                smol::Timer::after(REQUEST_TIMEOUT).await;
                Ok(())
            })
            .await;
            c.borrow_mut().release(addr.ip());
        })
        .detach();
    }
}

/// Clients being served, by address: at most [`MAX_CLIENTS`] in all and
/// [`MAX_CLIENTS_PER_ADDRESS`] from one address, so one device cannot lock others out.
#[derive(Default)]
struct Clients(heapless::Vec<std::net::IpAddr, MAX_CLIENTS>);

/// Simultaneous HTTP clients from one address.
const MAX_CLIENTS_PER_ADDRESS: usize = 4;

impl Clients {
    fn admit(&mut self, ip: std::net::IpAddr) -> bool {
        let same = self.0.iter().filter(|a| **a == ip).count();
        same < MAX_CLIENTS_PER_ADDRESS && self.0.push(ip).is_ok()
    }
    fn release(&mut self, ip: std::net::IpAddr) {
        if let Some(i) = self.0.iter().position(|a| *a == ip) {
            self.0.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_clients_cap_per_address_and_in_all() {
        let ip = |n: u8| std::net::IpAddr::from([192, 168, 1, n]);
        let mut c = Clients::default();
        assert!((0..4).all(|_| c.admit(ip(1))));
        assert!(!c.admit(ip(1)), "fifth from one address");
        assert!((0..4).all(|_| c.admit(ip(2))), "others still get in");
        assert!(!c.admit(ip(3)), "eight in all");
        c.release(ip(1));
        assert!(c.admit(ip(3)));
        assert!(!c.admit(ip(1)));
    }
}

/// Largest request body (control requests are small JSON objects).
const BODY_CAP: usize = 4 * 1024;

/// A parsed request: method, path (query stripped), Authorization header, body.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub auth: Option<Vec<u8>>,
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

/// Read one request; `Ok(None)` if the client went away or sent garbage (answered already).
async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = vec![0u8; REQUEST_CAP];
    let mut len = 0;
    loop {
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            return Ok(None);
        }
        len += n;
        match parse_head(&buf[..len]) {
            Head::Partial => continue,
            Head::TooLarge => {
                respond(
                    stream,
                    "413 Payload Too Large",
                    "text/plain",
                    b"body too large\n",
                )
                .await?;
                return Ok(None);
            }
            Head::Bad => {
                respond(stream, "400 Bad Request", "text/plain", b"bad request\n").await?;
                return Ok(None);
            }
            Head::Complete {
                request: mut r,
                content_length,
            } => {
                while r.body.len() < content_length {
                    let mut chunk = [0u8; 1024];
                    let n = stream.read(&mut chunk).await?;
                    if n == 0 {
                        return Ok(None);
                    }
                    r.body.extend_from_slice(&chunk[..n]);
                }
                r.body.truncate(content_length);
                return Ok(Some(r));
            }
        }
    }
}

async fn serve(proxy: &Proxy, mut stream: TcpStream) -> std::io::Result<()> {
    let Some(req) = read_request(&mut stream).await? else {
        return Ok(());
    };
    if req.method == "POST" {
        let r = control::handle(proxy, &req.path, req.auth.as_deref(), &req.body);
        return respond(&mut stream, r.status, "application/json", r.body.as_bytes()).await;
    }
    if req.method != "GET" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"method not allowed\n",
        )
        .await;
    }
    match req.path.as_str() {
        "/" => {
            let names: heapless::Vec<heapless::String<32>, { crate::MAX_POOLS }> = proxy
                .pools
                .iter()
                .map(|p| p.borrow().cfg.name.clone())
                .collect();
            let names: heapless::Vec<&str, { crate::MAX_POOLS }> =
                names.iter().map(|n| n.as_str()).collect();
            let svg = chart::render(&proxy.history.borrow(), &names);
            let html = page::render(&proxy.snapshot(), &svg);
            respond(
                &mut stream,
                "200 OK",
                "text/html; charset=utf-8",
                html.as_bytes(),
            )
            .await
        }
        "/metrics" => {
            let text = metrics::render(&proxy.snapshot());
            respond(
                &mut stream,
                "200 OK",
                metrics::CONTENT_TYPE,
                text.as_bytes(),
            )
            .await
        }
        "/api/stats" => {
            let json = proxy.snapshot().to_json();
            respond(&mut stream, "200 OK", "application/json", json.as_bytes()).await
        }
        "/healthz" => {
            let live = proxy.pools.iter().any(|p| p.borrow().is_live());
            let (status, body): (&str, &[u8]) = if live {
                ("200 OK", b"ok\n")
            } else {
                ("503 Service Unavailable", b"no live pool\n")
            };
            respond(&mut stream, status, "text/plain", body).await
        }
        _ => respond(&mut stream, "404 Not Found", "text/plain", b"not found\n").await,
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    ctype: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}
