//! The HTTP server loop: at most 8 clients at once and 4 per address; a newcomer takes the
//! place of its address's oldest client, or of the oldest of all, so stalled clients cannot
//! lock anyone out of the page or `/healthz`. Each gets 5 s; answers come from the core.
//! Nothing here can block mining: each client is its own task and its buffers are bounded.

use super::Shared;
use crate::http::{chart, control, metrics, page, parse_head, Head, Request, REQUEST_CAP};
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
        let Some((id, dropped)) = clients.borrow_mut().admit(addr.ip()) else {
            log::debug!("http: too many clients from {}, refusing {addr}", addr.ip());
            continue;
        };
        let (p, c) = (rt.clone(), clients.clone());
        ex.spawn(async move {
            let timeout = async {
                smol::Timer::after(REQUEST_TIMEOUT).await;
                Ok(())
            };
            let evicted = async {
                let _ = dropped.recv().await;
                Ok(())
            };
            let _ = future::or(serve(&p, stream), future::or(timeout, evicted)).await;
            c.borrow_mut().release(id);
        })
        .detach();
    }
}

/// One client being served; dropping `evict` ends its task.
struct Client {
    id: u64,
    ip: std::net::IpAddr,
    _evict: smol::channel::Sender<()>,
}

/// Clients being served, oldest first: at most [`MAX_CLIENTS`] in all and
/// [`MAX_CLIENTS_PER_ADDRESS`] from one address, so one device cannot lock others out; a
/// newcomer when all are taken drops the oldest (a stalled client gives way to a fresh one).
#[derive(Default)]
struct Clients {
    list: heapless::Deque<Client, MAX_CLIENTS>,
    next_id: u64,
}

/// Simultaneous HTTP clients from one address.
const MAX_CLIENTS_PER_ADDRESS: usize = 4;

impl Clients {
    /// Admit a client: its id and the channel that closes if it is dropped for a newcomer.
    /// Room is made by dropping the oldest client of the same address when that address has
    /// its share, else the oldest of all when every place is taken.
    fn admit(&mut self, ip: std::net::IpAddr) -> Option<(u64, smol::channel::Receiver<()>)> {
        if self.list.iter().filter(|c| c.ip == ip).count() >= MAX_CLIENTS_PER_ADDRESS {
            if let Some(oldest) = self.list.iter().find(|c| c.ip == ip).map(|c| c.id) {
                log::debug!("http: dropping the oldest client from {ip} for a newcomer");
                self.release(oldest);
            }
        } else if self.list.is_full() {
            if let Some(old) = self.list.pop_front() {
                log::debug!(
                    "http: dropping the oldest client ({}) for a newcomer",
                    old.ip
                );
            }
        }
        let (tx, rx) = smol::channel::bounded(1);
        self.next_id += 1;
        let id = self.next_id;
        let _ = self.list.push_back(Client { id, ip, _evict: tx });
        Some((id, rx))
    }

    fn release(&mut self, id: u64) {
        for _ in 0..self.list.len() {
            if let Some(c) = self.list.pop_front() {
                if c.id != id {
                    let _ = self.list.push_back(c);
                }
            }
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
    if req.method == "POST" && req.form {
        let r = rt.with_core(|c, now| control::handle_form(c, now, &req));
        return match r {
            control::FormReply::Done => {
                let head = "HTTP/1.1 303 See Other\r\nLocation: /\r\nContent-Length: 0\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
                stream.write_all(head.as_bytes()).await?;
                stream.flush().await
            }
            control::FormReply::Refused(status, msg) => {
                let html = page::refused(&msg);
                respond(
                    &mut stream,
                    status,
                    "text/html; charset=utf-8",
                    html.as_bytes(),
                )
                .await
            }
        };
    }
    if req.method == "POST" {
        let r = rt
            .with_core(|c, now| control::handle(c, now, &req.path, req.auth.as_deref(), &req.body));
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
                // Vacant slots (and pools a reload removed) have no line and no legend.
                let names: heapless::Vec<&str, { crate::MAX_POOLS }> = c
                    .pools()
                    .iter()
                    .map(|p| if p.vacant { "" } else { p.cfg.name.as_str() })
                    .collect();
                chart::render(c.history(), &names)
            });
            let view = page::View {
                host: req.host.as_deref(),
                now_unix: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            };
            let html = page::render(&rt.snapshot(), &svg, &view);
            respond(
                &mut stream,
                "200 OK",
                "text/html; charset=utf-8",
                html.as_bytes(),
            )
            .await
        }
        "/metrics" => {
            let text =
                metrics::render(&rt.snapshot(), &crate::stats::process::ProcessStats::read());
            respond(
                &mut stream,
                "200 OK",
                metrics::CONTENT_TYPE,
                text.as_bytes(),
            )
            .await
        }
        "/api/stats" => {
            let history = rt.with_core(|c, _| c.history_snap());
            let json = rt.snapshot().to_json_with(&history);
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
    fn test_clients_full_newcomer_drops_the_oldest_one_address_capped() {
        let ip = |n: u8| std::net::IpAddr::from([192, 168, 1, n]);
        let mut c = Clients::default();
        let first: Vec<_> = (0..4).map(|_| c.admit(ip(1)).unwrap()).collect();
        let (_, _fifth) = c.admit(ip(1)).expect("a fifth from one address gets in");
        assert!(first[0].1.is_closed(), "in place of that address's oldest");
        assert_eq!(c.list.iter().filter(|x| x.ip == ip(1)).count(), 4);
        let second: Vec<_> = (0..4).map(|_| c.admit(ip(2)).unwrap()).collect();
        let (_, _rx) = c
            .admit(ip(3))
            .expect("a newcomer gets in when all 8 are taken");
        assert!(first[1].1.is_closed(), "the oldest of all was told to go");
        assert!(!first[2].1.is_closed() && !second[0].1.is_closed());
        c.release(first[2].0);
        assert_eq!(c.list.len(), 7);
    }
}
