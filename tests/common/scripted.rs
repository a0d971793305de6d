//! A scripted Stratum V1 pool for fault injection: it answers the handshake and sends one real
//! job like any pool, accepts every share, and lets the test push arbitrary bytes (garbage,
//! truncated JSON, a 1 MB line, a reconnect request…) into the live connection. It does not
//! check shares (the simulated pools do that); it records what the proxy sent it.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Shared {
    /// The connection being served now (the newest).
    current: Mutex<Option<TcpStream>>,
    connections: AtomicUsize,
    submits: AtomicUsize,
    stop: AtomicBool,
    /// Accept connections but never answer anything.
    mute: AtomicBool,
    /// Read submits but never answer them.
    ignore_submits: AtomicBool,
    /// Difficulty sent after authorize (0 means the default 0.0001).
    difficulty: Mutex<f64>,
    /// extranonce2_size in the subscribe answer (0 means 8).
    e2_size: AtomicUsize,
    /// The job ids of the submits received, as JSON-decoded.
    job_ids: Mutex<Vec<String>>,
}

pub struct ScriptedPool {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// `mining.notify` for job `id` with well-formed hex (coinbase parts, no branches).
pub fn notify_line(id: u32, clean: bool) -> String {
    format!(
        "{{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"{id:x}\",\"{}\",\"01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20\",\"ffffffff0100f2052a010000001976a914000000000000000000000000000000000000000088ac00000000\",[],\"20000000\",\"1d00ffff\",\"6560f0a0\",{clean}]}}\n",
        "00".repeat(28) + &format!("{id:08x}")
    )
}

impl ScriptedPool {
    /// A pool that accepts TCP connections and never says a word.
    #[allow(dead_code)]
    pub fn start_mute() -> ScriptedPool {
        let p = ScriptedPool::start();
        p.shared.mute.store(true, Ordering::SeqCst);
        p
    }

    /// A pool at `difficulty` that reads submits and never answers them.
    #[allow(dead_code)]
    pub fn start_ignoring_submits(difficulty: f64) -> ScriptedPool {
        let p = ScriptedPool::start();
        *p.shared.difficulty.lock().unwrap() = difficulty;
        p.shared.ignore_submits.store(true, Ordering::SeqCst);
        p
    }

    /// A pool that asks this difficulty (and answers every submit).
    #[allow(dead_code)]
    pub fn start_with_difficulty(difficulty: f64) -> ScriptedPool {
        let p = ScriptedPool::start();
        *p.shared.difficulty.lock().unwrap() = difficulty;
        p
    }

    /// The job ids of the submits received so far (JSON-decoded, as the pool reads them).
    #[allow(dead_code)]
    pub fn submitted_job_ids(&self) -> Vec<String> {
        self.shared.job_ids.lock().unwrap().clone()
    }

    /// A pool whose subscribe answer gives this extranonce2_size.
    #[allow(dead_code)]
    pub fn start_with_extranonce2(n: usize) -> ScriptedPool {
        let p = ScriptedPool::start();
        p.shared.e2_size.store(n, Ordering::SeqCst);
        p
    }

    pub fn start() -> ScriptedPool {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let thread = std::thread::spawn(move || {
            while !sh.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        sh.connections.fetch_add(1, Ordering::SeqCst);
                        let _ = s.set_nonblocking(false);
                        *sh.current.lock().unwrap() = s.try_clone().ok();
                        let sh2 = sh.clone();
                        std::thread::spawn(move || serve(s, sh2));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        ScriptedPool {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// `mining.submit` requests received so far.
    #[allow(dead_code)]
    pub fn submits(&self) -> usize {
        self.shared.submits.load(Ordering::SeqCst)
    }

    /// Write raw bytes into the current connection.
    pub fn inject(&self, bytes: &[u8]) {
        if let Some(s) = self.shared.current.lock().unwrap().as_mut() {
            let _ = s.write_all(bytes);
        }
    }
}

impl Drop for ScriptedPool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(s) = self.shared.current.lock().unwrap().take() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(s: TcpStream, sh: Arc<Shared>) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut w = s.try_clone().expect("clone");
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let mut job = 1u32;
    while !sh.stop.load(Ordering::SeqCst) {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(_) => return,
        }
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if sh.mute.load(Ordering::SeqCst) {
            continue;
        }
        let id = v["id"].clone();
        let reply = match v["method"].as_str().unwrap_or("") {
            "mining.configure" => format!(
                "{{\"id\":{id},\"result\":{{\"version-rolling\":true,\"version-rolling.mask\":\"1fffe000\"}},\"error\":null}}\n"
            ),
            "mining.subscribe" => {
                let n = match sh.e2_size.load(Ordering::SeqCst) {
                    0 => 8,
                    n => n,
                };
                format!(
                    "{{\"id\":{id},\"result\":[[[\"mining.notify\",\"1\"]],\"aabbccdd\",{n}],\"error\":null}}\n"
                )
            }
            "mining.authorize" => {
                let mut r = format!("{{\"id\":{id},\"result\":true,\"error\":null}}\n");
                let d = *sh.difficulty.lock().unwrap();
                let d = if d > 0.0 { d } else { 0.0001 };
                r += &format!("{{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[{d}]}}\n");
                r += &notify_line(job, true);
                job += 1;
                r
            }
            "mining.submit" => {
                sh.submits.fetch_add(1, Ordering::SeqCst);
                if let Some(j) = v["params"][1].as_str() {
                    let mut ids = sh.job_ids.lock().unwrap();
                    if ids.len() < 10_000 {
                        ids.push(j.to_string());
                    }
                }
                if sh.ignore_submits.load(Ordering::SeqCst) {
                    continue;
                }
                format!("{{\"id\":{id},\"result\":true,\"error\":null}}\n")
            }
            _ => continue,
        };
        if w.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
