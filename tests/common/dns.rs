//! A tiny DNS server on a loopback address for name-resolution fault tests. It answers every
//! query according to its current [`Mode`]: SERVFAIL, silence (the resolver times out), or an
//! A record 127.0.0.1 (AAAA queries get an empty NOERROR). Written from RFC 1035 §4: a
//! 12-byte header, the question copied back, one answer that points at the question's name.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    ServFail = 0,
    Silent = 1,
    Loopback = 2,
}

struct Shared {
    mode: AtomicU8,
    queries: AtomicUsize,
    stop: AtomicBool,
}

pub struct DnsServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Bind UDP `addr` (port 53 needs root) and serve until dropped.
    pub fn start(addr: &str, mode: Mode) -> std::io::Result<DnsServer> {
        let sock = UdpSocket::bind(addr)?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let shared = Arc::new(Shared {
            mode: AtomicU8::new(mode as u8),
            queries: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let addr = sock.local_addr()?;
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !s.stop.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                s.queries.fetch_add(1, Ordering::Relaxed);
                if let Some(reply) = answer(&buf[..n], s.mode.load(Ordering::Relaxed)) {
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        Ok(DnsServer {
            addr,
            shared,
            thread: Some(thread),
        })
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::Relaxed);
    }

    pub fn queries(&self) -> usize {
        self.shared.queries.load(Ordering::Relaxed)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reply to one query, or None to stay silent (or for a packet that is not a query).
fn answer(q: &[u8], mode: u8) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    // The question: labels up to the zero byte, then type and class.
    let mut i = 12;
    while *q.get(i)? != 0 {
        i += 1 + usize::from(q[i]);
    }
    let end = i + 5;
    let qtype = u16::from_be_bytes([*q.get(i + 1)?, *q.get(i + 2)?]);
    if end > q.len() {
        return None;
    }
    let (rcode, a_record) = match mode {
        0 => (2u8, false),
        1 => return None,
        _ => (0, qtype == 1),
    };
    let mut r = Vec::with_capacity(end + 16);
    r.extend_from_slice(&q[..2]); // id
    r.push(0x80 | (q[2] & 0x01)); // QR, recursion desired as asked
    r.push(0x80 | rcode); // recursion available, rcode
    r.extend_from_slice(&[0, 1, 0, u8::from(a_record), 0, 0, 0, 0]);
    r.extend_from_slice(&q[12..end]);
    if a_record {
        // Name as a pointer to the question, type A, class IN, TTL 0, 4 bytes of address.
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1]);
    }
    Some(r)
}
