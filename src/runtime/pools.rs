//! One task per pool slot: connect (DNS included), run the pool's session (SV1 lines, or the
//! SV2 Noise handshake then frames), feed what it reports to the core, and on any end wait
//! until the core's retry time and connect again. An empty slot idles until a reload fills it.

use super::{PoolIo, PoolKind, Shared};
use crate::core::Upstream;
use crate::io::{LineReader, Outbox};
use crate::ops::config::PoolConfig;
use crate::upstream::sv1::{Sv1Pool, POOL_LINE_CAP};
use crate::upstream::Ended;
use async_net::TcpStream;
use futures_lite::future;
use std::rc::Rc;
use std::time::Duration;

/// Output buffered towards a pool before the connection is considered stuck.
pub const POOL_OUT_CAP: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Shared {
    fn pool_event(&self, idx: usize, ev: Upstream<'_>) {
        self.with_core(|c, now| c.handle_pool(idx, ev, now));
    }

    /// A connection is up: its outbox takes the core's messages from now on.
    fn pool_connected(&self, idx: usize, io: PoolIo, encrypted: bool) {
        self.io.borrow_mut().pools[idx] = Some(io);
        self.pool_event(idx, Upstream::Connected { encrypted });
    }

    /// The connection ended: no more output to it, and the core hears it in the same step.
    fn pool_ended(&self, idx: usize, ended: &Ended) {
        if let Some(io) = self.io.borrow_mut().pools[idx].take() {
            io.out.close();
        }
        self.pool_event(
            idx,
            Upstream::Lost {
                why: &ended.why,
                retry_after_ms: ended.retry_after_ms,
            },
        );
    }
}

/// Run pool slot `idx` forever.
pub async fn run(rt: Rc<Shared>, idx: usize) {
    loop {
        let Some(cfg) = rt.with_core(|c, _| c.pool_target(idx).cloned()) else {
            // An empty slot: wait for a reload to put a pool here.
            smol::Timer::after(Duration::from_secs(1)).await;
            continue;
        };
        rt.pool_event(idx, Upstream::Connecting);
        let ended = connect_and_serve(&rt, idx, &cfg).await;
        rt.pool_ended(idx, &ended);
        let now = rt.now_ms();
        let wait = rt
            .with_core(|c, _| c.pool_retry_at(idx))
            .map_or(1_000, |at| at.saturating_sub(now));
        smol::Timer::after(Duration::from_millis(wait)).await;
    }
}

async fn connect_and_serve(rt: &Rc<Shared>, idx: usize, cfg: &PoolConfig) -> Ended {
    let target = format!("{}:{}", cfg.host, cfg.port);
    let connect = async {
        TcpStream::connect(target.as_str())
            .await
            .map_err(|e| e.to_string())
    };
    let timeout = async {
        smol::Timer::after(CONNECT_TIMEOUT).await;
        Err(format!(
            "connect timed out after {} s",
            CONNECT_TIMEOUT.as_secs()
        ))
    };
    let stream = match future::or(connect, timeout).await {
        Ok(s) => s,
        Err(e) => return Ended::because(format!("cannot connect to {target}: {e}")),
    };
    let _ = stream.set_nodelay(true);
    #[cfg(feature = "sv2")]
    if cfg.authority.is_some() {
        return sv2::serve(rt, idx, cfg, stream).await;
    }
    let out = Rc::new(Outbox::new(POOL_OUT_CAP));
    let mut hello = Vec::new();
    let mut session = Sv1Pool::start(cfg, &mut hello);
    out.push(|b| b.extend_from_slice(&hello));
    let kind = PoolKind::Sv1 {
        user: heapless::String::try_from(cfg.user.as_str()).unwrap_or_default(),
    };
    rt.pool_connected(
        idx,
        PoolIo {
            out: out.clone(),
            kind,
        },
        false,
    );
    let mut rs = stream.clone();
    let mut ws = stream;
    let read = async {
        let mut reader = LineReader::new(POOL_LINE_CAP);
        let mut reply = Vec::new();
        loop {
            match reader.next_line(&mut rs).await {
                Ok(Some(line)) => {
                    reply.clear();
                    let r = session.on_line(line, &mut reply, &mut |ev| rt.pool_event(idx, ev));
                    if !reply.is_empty() {
                        out.push(|b| b.extend_from_slice(&reply));
                    }
                    if let Err(e) = r {
                        return e;
                    }
                }
                Ok(None) => return Ended::because("the pool closed the connection"),
                Err(e) => return Ended::because(e.to_string()),
            }
        }
    };
    let write = async {
        match out.run_writer(&mut ws).await {
            Err(e) => Ended::because(format!("write failed: {e}")),
            Ok(()) => Ended::because("closed by the proxy"),
        }
    };
    future::or(read, write).await
}

#[cfg(feature = "sv2")]
mod sv2 {
    //! The SV2 transport: Noise NX handshake as initiator, then encrypted frames both ways.

    use super::*;
    use crate::runtime::sv2link::{read_frame, seal_frames, unix_now};
    use crate::upstream::sv2::{Sv2Pool, MAX_PAYLOAD};
    use crate::wire::sv2::msg;
    use crate::wire::sv2::noise::{Initiator, ACT2_LEN};
    use crate::wire::sv2::secp::Keypair;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use std::cell::RefCell;

    const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

    /// Serve an established TCP connection to SV2 pool `idx` until it ends.
    pub async fn serve(rt: &Rc<Shared>, idx: usize, cfg: &PoolConfig, stream: TcpStream) -> Ended {
        let authority = cfg.authority.unwrap_or([0; 32]);
        let name = &cfg.name;
        let mut rs = stream.clone();
        let mut ws = stream;
        let keys = match Keypair::generate() {
            Ok(k) => k,
            Err(e) => return Ended::because(format!("no randomness for the handshake: {e}")),
        };
        let (init, act1) = Initiator::start(authority, keys);
        let handshake = async {
            ws.write_all(&act1).await.map_err(|e| e.to_string())?;
            let mut act2 = [0u8; ACT2_LEN];
            rs.read_exact(&mut act2).await.map_err(|e| e.to_string())?;
            init.finish(&act2, unix_now()).map_err(|e| e.to_string())
        };
        let timeout = async {
            smol::Timer::after(HANDSHAKE_TIMEOUT).await;
            Err(format!(
                "no answer within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            ))
        };
        let (transport, cert) = match future::or(handshake, timeout).await {
            Ok(t) => t,
            Err(e) => {
                log::debug!("pool {name}: Noise handshake failed: {e}");
                return Ended::because(format!("Noise handshake failed: {e}"));
            }
        };
        log::info!(target: "pool_connected",
            "pool {name}: encrypted session up (certificate v{} valid until {})",
            cert.version, cert.not_valid_after
        );
        let transport = RefCell::new(transport);
        let out = Rc::new(Outbox::new(POOL_OUT_CAP));
        let mut hello = Vec::new();
        let mut session = Sv2Pool::start(cfg, &mut hello);
        out.push(|b| b.extend_from_slice(&hello));
        rt.pool_connected(
            idx,
            PoolIo {
                out: out.clone(),
                kind: PoolKind::Sv2 { channel_id: None },
            },
            true,
        );
        let read = async {
            let mut payload = Vec::new();
            loop {
                let h = match read_frame(&mut rs, &transport, &mut payload, MAX_PAYLOAD, "pool")
                    .await
                {
                    Ok(h) => h,
                    Err(e) => return Ended::because(e),
                };
                let len = h.len as usize;
                match msg::decode(&h, &payload[..len]) {
                    Ok(m) => {
                        // No share can be sent while the channel-open answer is handled (no
                        // job exists yet), so the writer learns the channel right after it.
                        let r = session.on_message(m, &mut |ev| rt.pool_event(idx, ev));
                        if let Some(ch) = session.channel_id() {
                            rt.set_pool_channel(idx, ch);
                        }
                        if let Err(e) = r {
                            return e;
                        }
                    }
                    Err(e) => log::warn!(target: "pool_message",
                        "pool {name}: dropping malformed message type {:#04x} ({e})", h.msg_type),
                }
            }
        };
        let write = async {
            let r = out
                .run_writer_sealed(&mut ws, |plain, wire| seal_frames(&transport, plain, wire))
                .await;
            match r {
                Err(e) => Ended::because(format!("write failed: {e}")),
                Ok(()) => Ended::because("closed by the proxy"),
            }
        };
        future::or(read, write).await
    }

    impl Shared {
        fn set_pool_channel(&self, idx: usize, ch: u32) {
            if let Some(p) = self.io.borrow_mut().pools[idx].as_mut() {
                p.kind = PoolKind::Sv2 {
                    channel_id: Some(ch),
                };
            }
        }
    }
}
