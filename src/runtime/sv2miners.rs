//! Accept Stratum V2 miners on `listen_sv2`: a Noise NX handshake as responder (hashmux's own
//! authority key signs a per-process static key), then one task per connection reading frames
//! into events for the core and writing its messages as sealed frames.
//!
//! Caps: handshakes per address are rate-limited ([`HandshakeLimiter`]) so a LAN client
//! cannot keep the router's CPU busy with key exchanges; a connection that does not finish the
//! handshake within [`HANDSHAKE_TIMEOUT`] is closed; the core admits or refuses each newcomer
//! before any crypto is done; frames over [`MAX_MINER_PAYLOAD`] close the connection.

use super::miners::{register, MINER_OUT_CAP};
use super::sv2link::{read_frame, seal_frames};
use super::Shared;
use crate::core::{Downstream, MinerId};
use crate::downstream::sv2::{ChannelId, Output, Sv2Miner, MAX_CHANNELS, MAX_MINER_PAYLOAD};
use crate::downstream::Kind;
use crate::io::Outbox;
use crate::ops::keys::AuthorityKey;
use crate::wire::sv2::noise::{self, ACT1_LEN};
use crate::wire::sv2::secp::Keypair;
use async_net::{TcpListener, TcpStream};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use smol::LocalExecutor;
use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

/// A miner that has not completed the handshake by then is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes one address may start in a burst, and how fast that allowance refills.
pub const HANDSHAKE_BURST: u32 = 8;
pub const HANDSHAKE_REFILL_MS: u64 = 500;
/// Addresses whose handshake allowance is tracked (the oldest is forgotten when full).
const LIMITER_SLOTS: usize = 32;

/// What hashmux proves to SV2 miners: its authority key, and a static key with the
/// certificate that key signed for it.
pub struct Identity {
    pub authority: AuthorityKey,
    static_key: Keypair,
    cert: noise::CertificateFields,
}

impl Identity {
    /// A fresh static key for this process, certified by `authority`. The certificate is
    /// valid from 0 to the end of u32 time: miners without a clock (an ESP32 before SNTP) must
    /// not refuse it, and the static key it certifies lives only as long as this process.
    pub fn new(authority: AuthorityKey) -> std::io::Result<Identity> {
        let static_key = Keypair::generate()?;
        let cert = authority.certificate(&static_key, 0, u32::MAX);
        Ok(Identity {
            authority,
            static_key,
            cert,
        })
    }
}

/// Handshake allowance per address: a token bucket of [`HANDSHAKE_BURST`] refilled one token
/// per [`HANDSHAKE_REFILL_MS`].
pub struct HandshakeLimiter {
    slots: heapless::Vec<(IpAddr, u32, u64), LIMITER_SLOTS>,
}

impl HandshakeLimiter {
    pub fn new() -> HandshakeLimiter {
        HandshakeLimiter {
            slots: heapless::Vec::new(),
        }
    }

    /// May `ip` start a handshake at `now`? Takes a token if so.
    pub fn allow(&mut self, ip: IpAddr, now: u64) -> bool {
        let i = match self.slots.iter().position(|s| s.0 == ip) {
            Some(i) => i,
            None => {
                if self.slots.is_full() {
                    // Forget the address heard from longest ago.
                    let oldest = (0..self.slots.len())
                        .min_by_key(|&i| self.slots[i].2)
                        .unwrap_or(0);
                    self.slots.swap_remove(oldest);
                }
                let _ = self.slots.push((ip, HANDSHAKE_BURST, now));
                self.slots.len() - 1
            }
        };
        let (_, tokens, last) = &mut self.slots[i];
        let refill = now.saturating_sub(*last) / HANDSHAKE_REFILL_MS;
        if refill > 0 {
            *tokens = (*tokens as u64 + refill).min(HANDSHAKE_BURST as u64) as u32;
            *last += refill * HANDSHAKE_REFILL_MS;
        }
        if *tokens == 0 {
            return false;
        }
        *tokens -= 1;
        true
    }
}

impl Default for HandshakeLimiter {
    fn default() -> Self {
        HandshakeLimiter::new()
    }
}

pub async fn run(
    rt: Rc<Shared>,
    listener: TcpListener,
    ex: Rc<LocalExecutor<'static>>,
    id: Rc<Identity>,
) {
    let mut limiter = HandshakeLimiter::new();
    let mut limited: u64 = 0;
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                log::warn!("sv2 accept failed: {e}");
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !limiter.allow(addr.ip(), rt.now_ms()) {
            limited += 1;
            log::warn!(target: "miner_refused",
                "sv2: {} handshakes too fast; closing {addr} ({limited} refused so far)",
                addr.ip()
            );
            continue;
        }
        let Ok(mid) = rt.with_core(|c, now| c.miner_connected(addr, now)) else {
            continue;
        };
        let session = Rc::new(RefCell::new(Sv2Miner::new(addr, mid)));
        let out = Rc::new(Outbox::new(MINER_OUT_CAP));
        if !register(&rt, mid, out.clone(), Kind::Sv2(session.clone())) {
            continue;
        }
        let _ = stream.set_nodelay(true);
        ex.spawn(serve(
            rt.clone(),
            stream,
            addr,
            mid,
            out,
            session,
            id.clone(),
        ))
        .detach();
    }
}

async fn serve(
    rt: Rc<Shared>,
    stream: TcpStream,
    addr: SocketAddr,
    mid: MinerId,
    out: Rc<Outbox>,
    session: Rc<RefCell<Sv2Miner>>,
    id: Rc<Identity>,
) {
    let mut rs = stream.clone();
    let mut ws = stream;
    let handshake = async {
        let mut act1 = [0u8; ACT1_LEN];
        rs.read_exact(&mut act1)
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        let e = Keypair::generate().map_err(|e| format!("no randomness: {e}"))?;
        let (transport, act2) = noise::respond(&act1, &id.static_key, e, &id.cert)
            .map_err(|e| format!("Noise handshake failed: {e}"))?;
        ws.write_all(&act2)
            .await
            .map_err(|e| format!("write failed: {e}"))?;
        Ok::<_, String>(transport)
    };
    let timeout = async {
        smol::Timer::after(HANDSHAKE_TIMEOUT).await;
        Err(format!(
            "no Noise handshake within {} s",
            HANDSHAKE_TIMEOUT.as_secs()
        ))
    };
    let transport = match future::or(handshake, timeout).await {
        Ok(t) => RefCell::new(t),
        Err(why) => {
            log::info!("sv2 miner {addr}: {why}");
            rt.forget_miner(mid, &why);
            return;
        }
    };
    let ended_by_us = RefCell::new(None::<String>);
    let read = async {
        let mut payload = Vec::new();
        let mut reply = Vec::new();
        loop {
            // Backpressure, as for SV1 miners: while any of this connection's pools cannot
            // be asked about one more share, nothing more is read from it.
            rt.wait_to_read(|| session.borrow().miners().collect())
                .await;
            let h = match read_frame(
                &mut rs,
                &transport,
                &mut payload,
                MAX_MINER_PAYLOAD,
                "miner",
            )
            .await
            {
                Ok(h) => h,
                Err(e) => return e,
            };
            let len = h.len as usize;
            reply.clear();
            let r = session
                .borrow_mut()
                .on_frame(&h, &payload[..len], &mut reply);
            if !reply.is_empty() {
                out.push(|b| b.extend_from_slice(&reply));
            }
            let bytes = noise::HEADER_CT_LEN + noise::ciphertext_len(len);
            let r = match r {
                Ok(r) => r,
                Err(close) => {
                    *ended_by_us.borrow_mut() = Some(close.to_string());
                    out.close();
                    return future::pending().await;
                }
            };
            let (rx, ev) = match r {
                Some(Output::Core(m, ev)) => (Some(m), Some((m, ev))),
                Some(Output::Admit(ch, ev)) => match admit(&rt, addr, &out, &session, ch) {
                    Some(m) => (Some(m), Some((m, ev))),
                    None => (None, None),
                },
                Some(Output::Closed(m)) => {
                    rt.release_miner(m, "the miner closed its channel");
                    (None, None)
                }
                None => (None, None),
            };
            let rx = rx.or_else(|| session.borrow().any_miner());
            rt.with_core(|c, now| {
                if let Some(m) = rx {
                    c.handle_miner(m, Downstream::Received { bytes }, now);
                }
                if let Some((m, ev)) = ev {
                    ev.to_core(&mut |d| c.handle_miner(m, d, now));
                }
            });
        }
    };
    let write = async {
        let r = out
            .run_writer_sealed(&mut ws, |plain, wire| seal_frames(&transport, plain, wire))
            .await;
        match r {
            Ok(()) => "closed by the proxy".to_string(),
            Err(e) => format!("write failed: {e}"),
        }
    };
    let why = future::or(read, write).await;
    let why = ended_by_us.borrow_mut().take().unwrap_or(why);
    let held: heapless::Vec<MinerId, MAX_CHANNELS> = session.borrow().miners().collect();
    if held.is_empty() {
        log::info!("sv2 miner {addr}: {why}");
    }
    for m in held {
        rt.forget_miner(m, &why);
    }
}

/// A further channel on `addr`'s connection: a core miner admitted for it and given the
/// connection's output, or the miner told there is no room.
fn admit(
    rt: &Shared,
    addr: SocketAddr,
    out: &Rc<Outbox>,
    session: &Rc<RefCell<Sv2Miner>>,
    ch: ChannelId,
) -> Option<MinerId> {
    let admitted = rt
        .with_core(|c, now| c.miner_connected(addr, now))
        .ok()
        .filter(|&m| register(rt, m, out.clone(), Kind::Sv2(session.clone())));
    let mut reply = Vec::new();
    match admitted {
        Some(m) => session.borrow_mut().bind(ch, m),
        None => session.borrow_mut().refuse(ch, &mut reply),
    }
    if !reply.is_empty() {
        out.push(|b| b.extend_from_slice(&reply));
    }
    admitted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_limiter_burst_then_refill() {
        let mut l = HandshakeLimiter::new();
        let ip: IpAddr = "192.168.1.9".parse().unwrap();
        for _ in 0..HANDSHAKE_BURST {
            assert!(l.allow(ip, 1_000));
        }
        assert!(!l.allow(ip, 1_000), "burst spent");
        assert!(!l.allow(ip, 1_000 + HANDSHAKE_REFILL_MS - 1));
        assert!(l.allow(ip, 1_000 + HANDSHAKE_REFILL_MS), "one token back");
        assert!(!l.allow(ip, 1_000 + HANDSHAKE_REFILL_MS));
        let other: IpAddr = "192.168.1.10".parse().unwrap();
        assert!(
            l.allow(other, 1_000),
            "another address has its own allowance"
        );
    }

    #[test]
    fn test_limiter_full_table_forgets_the_oldest() {
        let mut l = HandshakeLimiter::new();
        for i in 0..(LIMITER_SLOTS as u32 + 5) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(l.allow(ip, i as u64));
        }
        assert_eq!(l.slots.len(), LIMITER_SLOTS);
    }
}
