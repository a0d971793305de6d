//! Start the proxy: bind sockets, spawn the pool, miner, HTTP and housekeeping tasks on one
//! `LocalExecutor`. [`run`] blocks the calling thread (the daemon); [`spawn`] runs the proxy
//! on its own thread and returns a [`Handle`] (demo, tests, benches).

use crate::config::Config;
use crate::proxy::Proxy;
use crate::stats::Snapshot;
use smol::LocalExecutor;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

enum Cmd {
    Snapshot(smol::channel::Sender<Snapshot>),
    Reload,
    Stop,
}

/// Bound sockets, ready to serve.
struct Sockets {
    stratum: std::net::TcpListener,
    http: Option<std::net::TcpListener>,
}

fn bind(cfg: &Config) -> std::io::Result<Sockets> {
    let stratum = std::net::TcpListener::bind(cfg.listen).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {} (listen): {e}", cfg.listen),
        )
    })?;
    let http = match cfg.http {
        Some(a) => Some(std::net::TcpListener::bind(a).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {a} (http): {e}"))
        })?),
        None => None,
    };
    Ok(Sockets { stratum, http })
}

/// Run the proxy on this thread until the process ends. With `path`, SIGHUP reloads it.
pub fn run(cfg: Config, path: Option<std::path::PathBuf>) -> std::io::Result<()> {
    let sockets = bind(&cfg)?;
    let ex = Rc::new(LocalExecutor::new());
    let proxy = Proxy::new(cfg);
    proxy.load_stats();
    if path.is_some() {
        crate::signal::install();
    }
    *proxy.config_path.borrow_mut() = path;
    smol::block_on(ex.run(serve(proxy, ex.clone(), sockets, None)))
}

/// A proxy running on its own thread. Dropping it stops the proxy.
pub struct Handle {
    pub stratum_addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    cmd: smol::channel::Sender<Cmd>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Handle {
    /// Current statistics (asks the proxy thread; waits at most 5 s).
    pub fn snapshot(&self) -> Option<Snapshot> {
        let (tx, rx) = smol::channel::bounded(1);
        self.cmd.send_blocking(Cmd::Snapshot(tx)).ok()?;
        smol::block_on(async {
            futures_lite::future::or(async { rx.recv().await.ok() }, async {
                smol::Timer::after(Duration::from_secs(5)).await;
                None
            })
            .await
        })
    }

    /// Reload the config file the proxy was started with (as SIGHUP does for the daemon).
    pub fn reload(&self) {
        let _ = self.cmd.send_blocking(Cmd::Reload);
    }

    /// Stop the proxy: every connection is closed.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.cmd.send_blocking(Cmd::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Run the proxy on a new thread.
pub fn spawn(cfg: Config) -> std::io::Result<Handle> {
    spawn_with_path(cfg, None)
}

/// Run the proxy on a new thread, remembering the file `cfg` came from for [`Handle::reload`].
pub fn spawn_with_path(cfg: Config, path: Option<std::path::PathBuf>) -> std::io::Result<Handle> {
    let sockets = bind(&cfg)?;
    let stratum_addr = sockets.stratum.local_addr()?;
    let http_addr = sockets.http.as_ref().map(|h| h.local_addr()).transpose()?;
    let (tx, rx) = smol::channel::unbounded();
    let thread = std::thread::Builder::new()
        .name("hashmux".into())
        .spawn(move || {
            let ex = Rc::new(LocalExecutor::new());
            let proxy = Proxy::new(cfg);
            proxy.load_stats();
            *proxy.config_path.borrow_mut() = path;
            smol::block_on(ex.run(serve(proxy, ex.clone(), sockets, Some(rx))))
        })?;
    Ok(Handle {
        stratum_addr,
        http_addr,
        cmd: tx,
        thread: Some(thread),
    })
}

async fn serve(
    proxy: Rc<Proxy>,
    ex: Rc<LocalExecutor<'static>>,
    sockets: Sockets,
    cmds: Option<smol::channel::Receiver<Cmd>>,
) -> std::io::Result<()> {
    let stratum = async_net::TcpListener::try_from(sockets.stratum)?;
    proxy.stratum_addr.set(stratum.local_addr().ok());
    log::info!(
        "hashmux {} listening for miners on {}",
        env!("CARGO_PKG_VERSION"),
        stratum.local_addr()?
    );
    for idx in 0..proxy.pools.len() {
        ex.spawn(crate::pools::upstream::run(proxy.clone(), idx))
            .detach();
    }
    ex.spawn(crate::miners::listener::run(
        proxy.clone(),
        stratum,
        ex.clone(),
    ))
    .detach();
    if let Some(h) = sockets.http {
        let h = async_net::TcpListener::try_from(h)?;
        proxy.http_addr.set(h.local_addr().ok());
        log::info!("stats page on http://{}/", h.local_addr()?);
        ex.spawn(crate::http::run(proxy.clone(), h, ex.clone()))
            .detach();
    }
    let p = proxy.clone();
    ex.spawn(async move {
        loop {
            smol::Timer::after(Duration::from_secs(1)).await;
            p.tick();
        }
    })
    .detach();
    match cmds {
        None => futures_lite::future::pending().await,
        Some(rx) => {
            while let Ok(cmd) = rx.recv().await {
                match cmd {
                    Cmd::Snapshot(tx) => {
                        let _ = tx.try_send(proxy.snapshot());
                    }
                    Cmd::Reload => proxy.reload_from_file(),
                    Cmd::Stop => {
                        proxy.save_stats();
                        break;
                    }
                }
            }
            Ok(())
        }
    }
}
