//! SIGHUP → "reload the config". The handler only sets a flag; the proxy's once-a-second
//! housekeeping picks it up on the executor thread. SIGHUP is 1 on every Linux architecture we
//! build for, and `signal()` with a plain handler is the same on all of them.

use std::sync::atomic::{AtomicBool, Ordering};

static HUP: AtomicBool = AtomicBool::new(false);
const SIGHUP: i32 = 1;

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

extern "C" fn on_hup(_: i32) {
    HUP.store(true, Ordering::Relaxed);
}

/// Install the SIGHUP handler (daemon only; tests and the demo don't).
pub fn install_hup() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        signal(SIGHUP, on_hup);
    }
}

/// True once per received SIGHUP (or [`request_reload`]).
pub fn take_hup() -> bool {
    HUP.swap(false, Ordering::Relaxed)
}

/// Ask for a reload as if SIGHUP had arrived.
pub fn request_reload() {
    HUP.store(true, Ordering::Relaxed);
}
