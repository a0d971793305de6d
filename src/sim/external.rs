//! A hashmux binary run as a separate process, possibly a router build under qemu-user, so
//! that tests and benches can drive exactly what ships.
//!
//! `HASHMUX_BIN` names the binary and `HASHMUX_RUNNER` an optional emulator command line
//! (e.g. `qemu-mipsel -cpu 24Kc`); [`ExternalProxy::from_env`] falls back to the given
//! default binary run natively. The process is stopped (SIGTERM, then SIGKILL after 5 s) and
//! reaped when the handle drops; its log (info lines on stdout, warnings and errors on stderr)
//! goes to one file that is printed if a test is panicking, so a failure under emulation shows
//! the proxy's own log. Only 127.0.0.1 is used.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to run: a binary and an optional emulator in front of it.
#[derive(Clone, Debug)]
pub struct Launch {
    pub bin: PathBuf,
    pub runner: Vec<String>,
}

impl Launch {
    /// `HASHMUX_BIN` (else `default_bin`) under `HASHMUX_RUNNER` (else natively).
    pub fn from_env(default_bin: &str) -> Launch {
        let bin = std::env::var_os("HASHMUX_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default_bin));
        let runner = std::env::var("HASHMUX_RUNNER")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        Launch { bin, runner }
    }

    /// "qemu-mipsel -cpu 24Kc target/…/hashmux" or just the binary.
    pub fn describe(&self) -> String {
        let mut parts = self.runner.clone();
        parts.push(self.bin.display().to_string());
        parts.join(" ")
    }
}

/// A running hashmux process with its config file, ports and log.
pub struct ExternalProxy {
    child: Child,
    pub stratum: SocketAddr,
    pub http: SocketAddr,
    pub config_path: PathBuf,
    log_path: PathBuf,
}

/// A free loopback port (bound and released; a race with other processes is possible but
/// the start below fails loudly if it happens).
fn free_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

impl ExternalProxy {
    /// Write a config made by `make_config(stratum, http)` to a temporary file, start the
    /// process, and wait (at most `startup`) until its stratum port accepts connections.
    pub fn start(
        launch: &Launch,
        make_config: impl FnOnce(SocketAddr, SocketAddr) -> String,
        startup: Duration,
    ) -> std::io::Result<ExternalProxy> {
        let (stratum, http) = (free_port()?, free_port()?);
        let tag = format!(
            "hashmux-ext-{}-{}-{}",
            std::process::id(),
            stratum.port(),
            http.port()
        );
        let dir = std::env::temp_dir();
        let config_path = dir.join(format!("{tag}.json"));
        let log_path = dir.join(format!("{tag}.log"));
        std::fs::write(&config_path, make_config(stratum, http))?;
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = match launch.runner.split_first() {
            Some((emu, args)) => {
                let mut c = Command::new(emu);
                c.args(args).arg(&launch.bin);
                c
            }
            None => Command::new(&launch.bin),
        };
        let child = cmd
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                std::io::Error::other(format!("cannot start {}: {e}", launch.describe()))
            })?;
        let mut proxy = ExternalProxy {
            child,
            stratum,
            http,
            config_path,
            log_path,
        };
        let until = Instant::now() + startup;
        loop {
            if TcpStream::connect(stratum).is_ok() {
                return Ok(proxy);
            }
            if let Ok(Some(status)) = proxy.child.try_wait() {
                return Err(std::io::Error::other(format!(
                    "{} exited at start ({status}); its log:\n{}",
                    launch.describe(),
                    proxy.log()
                )));
            }
            if Instant::now() > until {
                return Err(std::io::Error::other(format!(
                    "{} did not listen on {stratum} within {startup:?}; its log:\n{}",
                    launch.describe(),
                    proxy.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The process id (of the emulator when there is one).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process logged so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Send a signal by name ("HUP", "TERM") with the system's `kill`.
    pub fn signal(&self, name: &str) -> std::io::Result<()> {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()?
            .success();
        if ok {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("kill -{name} failed")))
        }
    }

    /// Wait at most `limit` for the process to exit; its exit code, or None if still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// `key` (e.g. "VmHWM") from the process's /proc status, in kB.
    pub fn proc_status_kb(&self, key: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// A plain HTTP/1.0 GET on the proxy's http port: (status code, body).
    pub fn http_get(&self, path: &str) -> std::io::Result<(u16, String)> {
        let mut s = TcpStream::connect(self.http)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut raw = String::new();
        s.read_to_string(&mut raw)?;
        let code = raw
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = raw
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((code, body))
    }
}

impl Drop for ExternalProxy {
    /// SIGTERM first, so the process (or a profiler wrapping it) can finish; SIGKILL if it
    /// has not exited within 5 s.
    fn drop(&mut self) {
        if self.signal("TERM").is_err() || self.wait_exit(Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- hashmux log ({}) ---\n{}",
                self.log_path.display(),
                self.log()
            );
        }
        let _ = std::fs::remove_file(&self.config_path);
        let _ = std::fs::remove_file(&self.log_path);
    }
}
