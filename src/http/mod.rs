//! The built-in web server: `GET /` (stats page), `GET /api/stats` (JSON), `GET /healthz`.
//!
//! Requests are parsed with httparse from a fixed 8 KB buffer with at most 32 headers; a
//! client gets 5 s to send its request; every answer closes the connection. Nothing here can
//! block mining: each client is its own task and its buffers are bounded.

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
    let clients = Rc::new(std::cell::Cell::new(0usize));
    loop {
        let Ok((stream, addr)) = listener.accept().await else {
            smol::Timer::after(Duration::from_millis(100)).await;
            continue;
        };
        if clients.get() >= MAX_CLIENTS {
            log::debug!("http: too many clients, refusing {addr}");
            continue;
        }
        clients.set(clients.get() + 1);
        let (p, c) = (proxy.clone(), clients.clone());
        ex.spawn(async move {
            let _ = future::or(serve(&p, stream), async {
                smol::Timer::after(REQUEST_TIMEOUT).await;
                Ok(())
            })
            .await;
            c.set(c.get() - 1);
        })
        .detach();
    }
}

async fn serve(proxy: &Proxy, mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; REQUEST_CAP];
    let mut len = 0;
    let path = loop {
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            return Ok(());
        }
        len += n;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(_)) => {
                if req.method != Some("GET") {
                    return respond(
                        &mut stream,
                        "405 Method Not Allowed",
                        "text/plain",
                        b"method not allowed\n",
                    )
                    .await;
                }
                break req.path.unwrap_or("/").to_string();
            }
            Ok(httparse::Status::Partial) if len < REQUEST_CAP => continue,
            _ => {
                return respond(
                    &mut stream,
                    "400 Bad Request",
                    "text/plain",
                    b"bad request\n",
                )
                .await
            }
        }
    };
    let path = path.split('?').next().unwrap_or("/");
    match path {
        "/" => {
            let html = page::render(&proxy.snapshot());
            respond(
                &mut stream,
                "200 OK",
                "text/html; charset=utf-8",
                html.as_bytes(),
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
