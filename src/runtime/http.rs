//! The HTTP server loop: accepts clients (at most 8, 4 per address, so one device cannot
//! lock others out), gives each 5 s to send its request, answers from the core and closes.
//! Nothing here can block mining: each client is its own task and its buffers are bounded.

use super::Shared;
use crate::http::{control, metrics, page, chart, parse_head, Head, Request, REQUEST_CAP};
use async_net::{TcpListener, TcpStream};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use smol::LocalExecutor;
use std::rc::Rc;
use std::time::Duration;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Simultaneous HTTP clients; more are refused.
const MAX_CLIENTS: usize = 8;

pub async fn run(rt: Rc<Shared>, listener: TcpListener, ex: Rc<LocalExecutor<'static>>) {
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
        let (p, c) = (rt.clone(), clients.clone());
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

async fn serve(rt: &Shared, mut stream: TcpStream) -> std::io::Result<()> {
    let Some(req) = read_request(&mut stream).await? else {
        return Ok(());
    };
    if req.method == "POST" {
        let r = rt.with_core(|c, now| control::handle(c, now, &req.path, req.auth.as_deref(), &req.body));
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
            let svg = rt.with_core(|c, _| {
                let names: heapless::Vec<&str, { crate::MAX_POOLS }> =
                    c.pools().iter().map(|p| p.cfg.name.as_str()).collect();
                chart::render(c.history(), &names)
            });
            let html = page::render(&rt.snapshot(), &svg);
            respond(
                &mut stream,
                "200 OK",
                "text/html; charset=utf-8",
                html.as_bytes(),
            )
            .await
        }
        "/metrics" => {
            let text = metrics::render(&rt.snapshot());
            respond(
                &mut stream,
                "200 OK",
                metrics::CONTENT_TYPE,
                text.as_bytes(),
            )
            .await
        }
        "/api/stats" => {
            let json = rt.snapshot().to_json();
            respond(&mut stream, "200 OK", "application/json", json.as_bytes()).await
        }
        "/healthz" => {
            let live = rt.with_core(|c, _| c.any_live());
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

