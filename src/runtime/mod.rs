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
#[cfg(feature = "sv2")]
pub mod sv2miners;

use crate::core::{Action, Core, Downstream, MinerId, ToMiner, ToPool};
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
    /// The SV2 miners' listener, for the page and the API.
    sv2: RefCell<Option<crate::stats::snapshot::Sv2Listener>>,
    /// Miners held back while their pool is congested wait here; woken when a pool leaves
    /// congestion ([`Core::releases`] changed) and at every tick.
    released: crate::io::Notify,
    last_releases: std::cell::Cell<u32>,
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
            sv2: RefCell::new(None),
            released: Default::default(),
            last_releases: Default::default(),
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
        if self.released.waiting() > 0 {
            let releases = self.core.borrow().releases();
            if releases != self.last_releases.replace(releases) {
                self.released.notify_all();
            }
        }
        r
    }

    /// Wait until miner `id` may be read: its pool is not congested (see
    /// [`Core::may_read`]). Ends when the pool answers, loses its connection, times its
    /// answers out, or the miner moves to another pool.
    pub(super) async fn wait_to_read(&self, ids: impl Fn() -> heapless::Vec<MinerId, 32>) {
        loop {
            let ready = {
                let core = self.core.borrow();
                ids().iter().all(|&id| core.may_read(id))
            };
            if ready {
                return;
            }
            self.released.wait().await;
        }
    }

    /// Write every pending action into its connection's outbox.
    fn flush(&self) {
        let mut core = self.core.borrow_mut();
        let io = self.io.borrow();
        let now = self.now_ms();
        // Miners whose channel ended while being written to (an SV2 channel the core refused).
        let mut ended: heapless::Vec<MinerId, 8> = heapless::Vec::new();
        while let Some(a) = core.poll_action() {
            match a {
                Action::Miner(id, msg) => {
                    let Some(m) = io.miners.get(&id) else {
                        continue;
                    };
                    let mut keep = true;
                    if let ToMiner::Close = msg {
                        m.out.close();
                    } else if !m
                        .out
                        .push(|b| keep = downstream::write(&m.kind, id, b, &msg))
                    {
                        log::warn!("miner #{id}: output buffer full, dropping the connection");
                    }
                    if !keep && !ended.contains(&id) {
                        core.handle_miner(
                            id,
                            Downstream::Gone {
                                why: "channel refused",
                            },
                            now,
                        );
                        if !m.kind.holds_miners() {
                            // Its connection has nothing left to serve.
                            m.out.close();
                        }
                        if ended.push(id).is_err() {
                            log::warn!("miner #{id}: too many channels ended at once");
                        }
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
                Action::SaveStats => {
                    crate::ops::persist::save(&mut core);
                }
            }
        }
        drop(io);
        if !ended.is_empty() {
            let mut io = self.io.borrow_mut();
            for id in ended {
                io.miners.remove(&id);
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
                m.protocol = match x.kind {
                    downstream::Kind::Sv1 => "sv1",
                    #[cfg(feature = "sv2")]
                    downstream::Kind::Sv2(_) => "sv2",
                };
            }
        }
        s.sv2 = self.sv2.borrow().clone();
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

    /// Write the stats file if one is configured; the file written, if any.
    fn save_stats(&self) -> Option<std::path::PathBuf> {
        self.with_core(|c, _| crate::ops::persist::save(c))
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
    #[cfg(feature = "sv2")]
    sv2: Option<(std::net::TcpListener, sv2miners::Identity)>,
}

/// Where the SV2 authority key lives: the configured file, else next to the config file;
/// `None` (a proxy started without a file: tests, benches) keeps a key in memory only.
#[cfg(feature = "sv2")]
fn sv2_key_path(cfg: &Config, path: Option<&std::path::Path>) -> Option<PathBuf> {
    cfg.sv2_key_file.clone().or_else(|| {
        path.map(|p| {
            p.parent()
                .unwrap_or(std::path::Path::new("."))
                .join("hashmux-sv2.key")
        })
    })
}

/// The SV2 listener and identity, when `listen_sv2` is set: the authority key is loaded, or
/// created on first start (logged with its public half).
#[cfg(feature = "sv2")]
fn bind_sv2(
    cfg: &Config,
    path: Option<&std::path::Path>,
) -> std::io::Result<Option<(std::net::TcpListener, sv2miners::Identity)>> {
    use crate::ops::keys::AuthorityKey;
    let Some(addr) = cfg.listen_sv2 else {
        return Ok(None);
    };
    let key = match sv2_key_path(cfg, path) {
        Some(file) => {
            let (key, created) = AuthorityKey::load_or_create(&file)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            if let Some(w) = crate::ops::keys::permissions_warning(&file) {
                log::warn!(target: "sv2_key", "{w}");
            }
            if created {
                log::info!(target: "sv2_key",
                    "created the SV2 authority key {} (public key {})",
                    file.display(),
                    key.public_text()
                );
            }
            key
        }
        None => AuthorityKey::generate().map_err(|e| std::io::Error::other(e.to_string()))?,
    };
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} (listen_sv2): {e}"),
        )
    })?;
    Ok(Some((listener, sv2miners::Identity::new(key)?)))
}

/// The authority key SV2 miners must be given: `hashmux --show-key`.
#[cfg(feature = "sv2")]
pub fn show_key(cfg: &Config, path: &std::path::Path) -> Result<String, String> {
    let file = sv2_key_path(cfg, Some(path)).ok_or("no key file")?;
    let (key, created) =
        crate::ops::keys::AuthorityKey::load_or_create(&file).map_err(|e| e.to_string())?;
    Ok(format!(
        "{}{}",
        key.public_text(),
        if created {
            format!("\n(created {})", file.display())
        } else {
            String::new()
        }
    ))
}

fn bind(cfg: &Config, path: Option<&std::path::Path>) -> std::io::Result<Sockets> {
    #[cfg(not(feature = "sv2"))]
    let _ = path;
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
    Ok(Sockets {
        stratum,
        http,
        #[cfg(feature = "sv2")]
        sv2: bind_sv2(cfg, path)?,
    })
}

/// Run the proxy on this thread until the process ends. With `path`, SIGHUP reloads it and
/// SIGTERM/SIGINT save the stats and exit.
pub fn run(cfg: Config, path: Option<PathBuf>) -> std::io::Result<()> {
    let sockets = bind(&cfg, path.as_deref())?;
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
    /// The SV2 miners' port, when `listen_sv2` is set.
    #[cfg(feature = "sv2")]
    pub sv2_addr: Option<SocketAddr>,
    /// The authority public key SV2 miners must be configured with.
    #[cfg(feature = "sv2")]
    pub sv2_authority: Option<[u8; 32]>,
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
    let sockets = bind(&cfg, path.as_deref())?;
    let stratum_addr = sockets.stratum.local_addr()?;
    let http_addr = sockets.http.as_ref().map(|h| h.local_addr()).transpose()?;
    #[cfg(feature = "sv2")]
    let (sv2_addr, sv2_authority) = match &sockets.sv2 {
        Some((l, id)) => (Some(l.local_addr()?), Some(id.authority.public())),
        None => (None, None),
    };
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
        #[cfg(feature = "sv2")]
        sv2_addr,
        #[cfg(feature = "sv2")]
        sv2_authority,
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
    #[cfg(feature = "sv2")]
    if let Some((l, id)) = sockets.sv2 {
        let l = async_net::TcpListener::try_from(l)?;
        let info = crate::stats::snapshot::Sv2Listener {
            listen: l.local_addr()?.to_string(),
            authority_key: id.authority.public_text(),
        };
        log::info!(
            "listening for Stratum V2 miners on {} (authority key {})",
            info.listen,
            info.authority_key
        );
        *rt.sv2.borrow_mut() = Some(info);
        ex.spawn(sv2miners::run(rt.clone(), l, ex.clone(), Rc::new(id)))
            .detach();
    }
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
                    match r.save_stats() {
                        Some(path) => log::info!(
                            target: "shutdown",
                            "stopping (signal); stats saved to {}",
                            path.display()
                        ),
                        None => log::info!(target: "shutdown", "stopping (signal)"),
                    }
                    std::process::exit(0);
                }
                if crate::ops::signal::take_hup() {
                    r.reload();
                }
            }
            r.with_core(|c, now| c.tick(now));
            // Held miners re-check (a miner may have moved to another pool).
            r.released.notify_all();
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
