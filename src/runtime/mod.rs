//! The runtime: the only async code. It owns the [`Core`], binds the sockets and runs every
//! connection on one smol `LocalExecutor`, as embassy-net's runner owns its stack.
//!
//! Each connection task turns bytes into events with its connection kind ([`crate::upstream`],
//! [`crate::downstream`]), hands them to the core in one short synchronous call
//! ([`Shared::with_core`]), and after every call the runtime writes the core's actions into
//! the connections' bounded outboxes ([`Shared::flush`]). No borrow of the core is held across
//! an `.await`; dispatching an action never calls back into the core.
//!
//! [`run`] blocks the calling thread (the daemon); [`spawn`] runs the proxy on its own thread
//! and returns a [`Handle`] (demo, tests, benches).

pub mod http;
mod miners;
mod pools;
#[cfg(feature = "sv2")]
mod sv2link;

use crate::core::{Action, Core, MinerId, ToMiner, ToPool};
use crate::downstream;
use crate::io::Outbox;
use crate::ops::config::Config;
use crate::stats::Snapshot;
use crate::MAX_POOLS;
use smol::LocalExecutor;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How a pool's connection renders the core's messages.
enum PoolKind {
    Sv1 {
        user: heapless::String<128>,
    },
    #[cfg(feature = "sv2")]
    Sv2 {
        channel_id: Option<u32>,
    },
}

struct PoolIo {
    out: Rc<Outbox>,
    kind: PoolKind,
}

struct MinerIo {
    out: Rc<Outbox>,
    kind: downstream::Kind,
}

/// The connections' output side, addressed like the core's tables.
struct Io {
    miners: heapless::index_map::FnvIndexMap<MinerId, MinerIo, { crate::MAX_MINERS }>,
    pools: [Option<PoolIo>; MAX_POOLS],
}

/// What every task of one proxy shares: the core (one cell, short borrows) and the outboxes.
pub struct Shared {
    core: RefCell<Core>,
    io: RefCell<Io>,
    start: Instant,
    /// The file the config came from (reload reads it again).
    config_path: Option<PathBuf>,
}

impl Shared {
    fn new(cfg: Config, config_path: Option<PathBuf>) -> Rc<Shared> {
        let mut core = Core::new(cfg, 0);
        crate::ops::persist::load(&mut core);
        Rc::new(Shared {
            core: RefCell::new(core),
            io: RefCell::new(Io {
                miners: Default::default(),
                pools: Default::default(),
            }),
            start: Instant::now(),
            config_path,
        })
    }

    /// Milliseconds since the proxy started (monotonic): the core's clock.
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Run `f` on the core with the current time, then write out what it asked for.
    pub fn with_core<R>(&self, f: impl FnOnce(&mut Core, u64) -> R) -> R {
        let now = self.now_ms();
        let r = f(&mut self.core.borrow_mut(), now);
        self.flush();
        r
    }

    /// Write every pending action into its connection's outbox.
    fn flush(&self) {
        let mut core = self.core.borrow_mut();
        let io = self.io.borrow();
        while let Some(a) = core.poll_action() {
            match a {
                Action::Miner(id, msg) => {
                    let Some(m) = io.miners.get(&id) else {
                        continue;
                    };
                    if let ToMiner::Close = msg {
                        m.out.close();
                    } else if !m.out.push(|b| downstream::write(m.kind, b, &msg)) {
                        log::warn!("miner #{id}: output buffer full, dropping the connection");
                    }
                }
                Action::Pool(idx, msg) => {
                    let Some(p) = io.pools.get(idx).and_then(|p| p.as_ref()) else {
                        continue;
                    };
                    if let ToPool::Close = msg {
                        p.out.close();
                    } else if !p.out.push(|b| write_pool(&p.kind, b, &msg)) {
                        log::warn!("pool #{idx}: output buffer full; dropping the connection");
                    }
                }
                Action::SaveStats => crate::ops::persist::save(&mut core),
            }
        }
    }

    /// Everything observable, with the bytes each miner's outbox has written.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = self.with_core(|c, now| c.snapshot(now));
        let io = self.io.borrow();
        for m in s.miners.iter_mut() {
            if let Some(x) = io.miners.get(&m.id) {
                m.bytes_out = x.out.bytes_written();
            }
        }
        s
    }

    fn reload(&self) {
        match &self.config_path {
            Some(path) => self.with_core(|c, now| crate::ops::reload::from_file(c, path, now)),
            None => {
                log::warn!("reload requested but this proxy was not started from a config file")
            }
        }
    }

    fn save_stats(&self) {
        self.with_core(|c, _| crate::ops::persist::save(c));
    }
}

fn write_pool(kind: &PoolKind, out: &mut Vec<u8>, msg: &ToPool) {
    match kind {
        PoolKind::Sv1 { user } => {
            if let ToPool::Submit(s) = msg {
                crate::upstream::sv1::write_submit(out, user, s);
            }
        }
        #[cfg(feature = "sv2")]
        PoolKind::Sv2 {
            channel_id: Some(ch),
        } => crate::upstream::sv2::write(out, *ch, msg),
        #[cfg(feature = "sv2")]
        PoolKind::Sv2 { channel_id: None } => {}
    }
}

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

/// Run the proxy on this thread until the process ends. With `path`, SIGHUP reloads it and
/// SIGTERM/SIGINT save the stats and exit.
pub fn run(cfg: Config, path: Option<PathBuf>) -> std::io::Result<()> {
    let sockets = bind(&cfg)?;
    let ex = Rc::new(LocalExecutor::new());
    let signals = path.is_some();
    if signals {
        crate::ops::signal::install();
    }
    let rt = Shared::new(cfg, path);
    smol::block_on(ex.run(serve(rt, ex.clone(), sockets, None, signals)))
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
pub fn spawn_with_path(cfg: Config, path: Option<PathBuf>) -> std::io::Result<Handle> {
    let sockets = bind(&cfg)?;
    let stratum_addr = sockets.stratum.local_addr()?;
    let http_addr = sockets.http.as_ref().map(|h| h.local_addr()).transpose()?;
    let (tx, rx) = smol::channel::unbounded();
    let thread = std::thread::Builder::new()
        .name("hashmux".into())
        .spawn(move || {
            let ex = Rc::new(LocalExecutor::new());
            let rt = Shared::new(cfg, path);
            smol::block_on(ex.run(serve(rt, ex.clone(), sockets, Some(rx), false)))
        })?;
    Ok(Handle {
        stratum_addr,
        http_addr,
        cmd: tx,
        thread: Some(thread),
    })
}

async fn serve(
    rt: Rc<Shared>,
    ex: Rc<LocalExecutor<'static>>,
    sockets: Sockets,
    cmds: Option<smol::channel::Receiver<Cmd>>,
    signals: bool,
) -> std::io::Result<()> {
    let stratum = async_net::TcpListener::try_from(sockets.stratum)?;
    log::info!(
        "hashmux {} listening for miners on {}",
        env!("CARGO_PKG_VERSION"),
        stratum.local_addr()?
    );
    for idx in 0..MAX_POOLS {
        ex.spawn(pools::run(rt.clone(), idx)).detach();
    }
    ex.spawn(miners::run(rt.clone(), stratum, ex.clone()))
        .detach();
    if let Some(h) = sockets.http {
        let h = async_net::TcpListener::try_from(h)?;
        log::info!("stats page on http://{}/", h.local_addr()?);
        ex.spawn(http::run(rt.clone(), h, ex.clone())).detach();
    }
    let r = rt.clone();
    ex.spawn(async move {
        loop {
            smol::Timer::after(Duration::from_secs(1)).await;
            if signals {
                if crate::ops::signal::stop_requested() {
                    r.save_stats();
                    log::info!(target: "shutdown", "stopping (signal); stats saved");
                    std::process::exit(0);
                }
                if crate::ops::signal::take_hup() {
                    r.reload();
                }
            }
            r.with_core(|c, now| c.tick(now));
        }
    })
    .detach();
    match cmds {
        None => futures_lite::future::pending().await,
        Some(rx) => {
            while let Ok(cmd) = rx.recv().await {
                match cmd {
                    Cmd::Snapshot(tx) => {
                        let _ = tx.try_send(rt.snapshot());
                    }
                    Cmd::Reload => rt.reload(),
                    Cmd::Stop => {
                        rt.save_stats();
                        break;
                    }
                }
            }
            Ok(())
        }
    }
}
