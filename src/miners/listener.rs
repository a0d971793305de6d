//! Accept miners on the stratum port and run one task per connection.
//!
//! Caps: `miners.max` connections (newcomers beyond it are closed with a log line), a fixed
//! line length (a longer line closes that connection), a fixed output buffer per miner.

use super::session::{self, Close};
use crate::io::{LineReader, Outbox};
use crate::proxy::Proxy;
use async_net::{TcpListener, TcpStream};
use futures_lite::future;
use smol::LocalExecutor;
use std::rc::Rc;

/// Longest line a miner may send (a submit is ~200 bytes, a configure ~300).
pub const MINER_LINE_CAP: usize = 4096;
/// Output buffered per miner before it is considered stuck and dropped.
pub const MINER_OUT_CAP: usize = 256 * 1024;

pub async fn run(proxy: Rc<Proxy>, listener: TcpListener, ex: Rc<LocalExecutor<'static>>) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                log::warn!("accept failed: {e}");
                smol::Timer::after(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let out = Rc::new(Outbox::new(MINER_OUT_CAP));
        let Some(miner) = proxy.add_miner(addr, out) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        ex.spawn(serve(proxy.clone(), stream, miner)).detach();
    }
}

async fn serve(proxy: Rc<Proxy>, stream: TcpStream, miner: crate::proxy::MinerRef) {
    let (id, out) = {
        let m = miner.borrow();
        (m.id, m.out.clone())
    };
    let mut rs = stream.clone();
    let mut ws = stream;
    let read = async {
        let mut reader = LineReader::new(MINER_LINE_CAP);
        let mut bad = 0u32;
        loop {
            match reader.next_line(&mut rs).await {
                Ok(Some(line)) => {
                    {
                        let mut m = miner.borrow_mut();
                        m.last_rx_ms = proxy.now_ms();
                        m.bytes_in += line.len() as u64 + 1;
                    }
                    if let Err(Close(why)) =
                        session::handle_line(&proxy, &miner, line, &mut bad).await
                    {
                        return why;
                    }
                }
                Ok(None) => return "closed by the miner".to_string(),
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
    proxy.remove_miner(id, &why);
}
