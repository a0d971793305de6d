//! The config file parser (and the control API's `split` body parser, same rules).
//!
//! Beyond "never panics": errors Display; an accepted config keeps the invariants the
//! `hashmux::ops::config` module documents for every `Config` it hands out.
#![no_main]

use hashmux::ops::config::{parse, parse_split};
use hashmux::work::Difficulty;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(c) => {
            let _ = format!("{c:?}");
            assert!((1..=hashmux::MAX_POOLS).contains(&c.pools.len()));
            for (i, p) in c.pools.iter().enumerate() {
                assert!(!p.name.is_empty(), "pool {i} has an empty name");
                assert!(
                    c.pools[..i].iter().all(|q| q.name != p.name),
                    "duplicate pool name {:?}",
                    p.name
                );
                assert!(!p.user.is_empty());
                assert!(!p.host.is_empty());
                assert!(p.port != 0, "pool {i} has port 0");
                assert!(p.weight <= 10_000);
            }
            let m = &c.miners;
            assert!((1..=hashmux::MAX_MINERS).contains(&m.max));
            assert!(Difficulty(0) < m.min_difficulty);
            assert!(m.min_difficulty <= m.start_difficulty);
            assert!(m.start_difficulty <= m.max_difficulty);
            assert!((1..=600).contains(&m.shares_per_min));
            assert!(m.idle_timeout_secs >= 30);
            let f = &c.failover;
            assert!((5..=3600).contains(&f.job_timeout_secs));
            assert!(100 <= f.backoff_min_ms);
            assert!(f.backoff_min_ms <= f.backoff_max_ms);
            assert!(f.backoff_max_ms <= 600_000);
            if let Some(http) = c.http {
                let listen = c.listen;
                assert!(
                    !(http.port() == listen.port()
                        && http.port() != 0
                        && (http.ip() == listen.ip()
                            || http.ip().is_unspecified()
                            || listen.ip().is_unspecified())),
                    "http {http} binds the same port as listen {listen}"
                );
            }
        }
        Err(e) => {
            let _ = e.to_string();
            let _ = format!("{e:?}");
        }
    }
    match parse_split(data) {
        Ok(s) => {
            let _ = format!("{s:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
