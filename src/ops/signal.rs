//! SIGHUP → "reload the config"; SIGTERM/SIGINT → "save stats and exit". The handlers only
//! set flags; the proxy's once-a-second housekeeping acts on them on the executor thread. SIGHUP is 1 on every Linux architecture we
//! build for, and `signal()` with a plain handler is the same on all of them.

use std::sync::atomic::{AtomicBool, Ordering};

static HUP: AtomicBool = AtomicBool::new(false);
static STOP: AtomicBool = AtomicBool::new(false);
const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

extern "C" fn on_hup(_: i32) {
    HUP.store(true, Ordering::Relaxed);
}

extern "C" fn on_stop(_: i32) {
    STOP.store(true, Ordering::Relaxed);
}

/// Install the SIGHUP (reload) and SIGTERM/SIGINT (save and exit) handlers. Daemon only;
/// tests and the demo don't.
pub fn install() {
    // SAFETY: the handlers only store to atomics, which is async-signal-safe.
    unsafe {
        signal(SIGHUP, on_hup);
        signal(SIGTERM, on_stop);
        signal(SIGINT, on_stop);
    }
}

/// True once SIGTERM or SIGINT has arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// True once per received SIGHUP (or [`request_reload`]).
pub fn take_hup() -> bool {
    HUP.swap(false, Ordering::Relaxed)
}

/// Ask for a reload as if SIGHUP had arrived.
pub fn request_reload() {
    HUP.store(true, Ordering::Relaxed);
}
