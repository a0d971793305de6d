//! Accept miners on the stratum port and run one task per connection: read lines, turn each
//! into an event with the connection kind, hand it to the core, and write what comes back.
//!
//! Caps: the core admits or refuses each newcomer (table size, per-address limit); a line
//! longer than [`MINER_LINE_CAP`] closes that connection; each miner's output is bounded.

use super::{MinerIo, Shared};
use crate::core::{Downstream, MinerId};
use crate::downstream::sv1::Sv1Miner;
use crate::downstream::Kind;
use crate::io::{LineReader, Outbox};
use async_net::{TcpListener, TcpStream};
use futures_lite::future;
use smol::LocalExecutor;
use std::net::SocketAddr;
use std::rc::Rc;

/// Longest line a miner may send (a submit is ~200 bytes, a configure ~300).
pub const MINER_LINE_CAP: usize = 4096;
/// Output buffered per miner before it is considered stuck and dropped.
pub const MINER_OUT_CAP: usize = 256 * 1024;

pub async fn run(rt: Rc<Shared>, listener: TcpListener, ex: Rc<LocalExecutor<'static>>) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                log::warn!("accept failed: {e}");
                smol::Timer::after(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(id) = rt.with_core(|c, now| c.miner_connected(addr, now)) else {
            drop(stream);
            continue;
        };
        let out = Rc::new(Outbox::new(MINER_OUT_CAP));
        if !register(&rt, id, out.clone(), Kind::Sv1) {
            continue;
        }
        let _ = stream.set_nodelay(true);
        ex.spawn(serve(rt.clone(), stream, addr, id, out)).detach();
    }
}

async fn serve(rt: Rc<Shared>, stream: TcpStream, addr: SocketAddr, id: MinerId, out: Rc<Outbox>) {
    let mut rs = stream.clone();
    let mut ws = stream;
    // Why the miner's side ended, when it is we who end it: the miner is told first (the
    // outbox is closed after its last line, and the writer flushes it before it stops).
    let ended_by_us = std::cell::RefCell::new(None::<String>);
    let end_with = |why: String, line: Option<&[u8]>| {
        if let Some(l) = line {
            out.push(|b| b.extend_from_slice(l));
        }
        *ended_by_us.borrow_mut() = Some(why);
        out.close();
    };
    let read = async {
        let mut reader = LineReader::new(MINER_LINE_CAP);
        let mut session = Sv1Miner::new(addr);
        let mut reply = Vec::new();
        loop {
            // Backpressure: not one more share while the pool cannot be asked about it.
            rt.wait_to_read(|| heapless::Vec::from_slice(&[id]).unwrap_or_default())
                .await;
            match reader.next_line(&mut rs).await {
                Ok(Some(line)) => {
                    reply.clear();
                    let bytes = line.len() + 1;
                    let r = session.on_line(line, &mut reply);
                    let closing = r.as_ref().err().map(|c| c.to_string());
                    rt.with_core(|c, now| {
                        c.handle_miner(id, Downstream::Received { bytes }, now);
                        if let Ok(Some(ev)) = r {
                            c.handle_miner(id, ev, now);
                        }
                    });
                    if !reply.is_empty() {
                        out.push(|b| b.extend_from_slice(&reply));
                    }
                    if let Some(why) = closing {
                        end_with(why, None);
                        return future::pending().await;
                    }
                }
                Ok(None) => return "closed by the miner".to_string(),
                Err(e @ crate::io::LineError::TooLong(_)) => {
                    let mut line = Vec::new();
                    crate::wire::sv1::emit::error(
                        &mut line,
                        "null",
                        crate::wire::sv1::code::OTHER,
                        &e.to_string(),
                    );
                    end_with(e.to_string(), Some(&line));
                    return future::pending().await;
                }
                Err(e) => return e.to_string(),
            }
        }
    };
    let write = async {
        match out.run_writer(&mut ws).await {
            Ok(()) => "closed by the proxy".to_string(),
            Err(e) => format!("write failed: {e}"),
        }
    };
    let why = future::or(read, write).await;
    let why = ended_by_us.borrow_mut().take().unwrap_or(why);
    rt.forget_miner(id, &why);
}

/// Give admitted miner `id` its output side; false (and the miner is let go) if there is no
/// room, which cannot happen: the core's table and this one have the same cap.
pub(super) fn register(rt: &Shared, id: MinerId, out: Rc<Outbox>, kind: Kind) -> bool {
    if rt
        .io
        .borrow_mut()
        .miners
        .insert(id, MinerIo { out, kind })
        .is_err()
    {
        rt.with_core(|c, now| c.handle_miner(id, Downstream::Gone { why: "no room" }, now));
        return false;
    }
    true
}

impl Shared {
    /// Miner `id`'s connection ended: close its output and tell the core.
    pub(super) fn forget_miner(&self, id: MinerId, why: &str) {
        if let Some(io) = self.io.borrow_mut().miners.remove(&id) {
            io.out.close();
        }
        self.with_core(|c, now| c.handle_miner(id, Downstream::Gone { why }, now));
    }

    #[cfg(feature = "sv2")]
    /// Miner `id` ended but its connection goes on (an SV2 channel closed; the connection's
    /// other channels share its output): tell the core, leave the output open.
    pub(super) fn release_miner(&self, id: MinerId, why: &str) {
        self.io.borrow_mut().miners.remove(&id);
        self.with_core(|c, now| c.handle_miner(id, Downstream::Gone { why }, now));
    }
}
