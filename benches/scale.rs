//! `cargo bench --bench scale`: how hashmux's cost grows with miners and pools, against a bare
//! TCP relay (the floor) measured in the same run.
//!
//! For every (miners, pools) in the matrix it starts `pools` bench pools, then hashmux as a
//! separate process (`HASHMUX_BIN` under `HASHMUX_RUNNER`, as in src/sim/external.rs, so a
//! router build runs under qemu-user) and then the relay (this binary re-run with `--relay`:
//! one thread, one smol executor, each miner's bytes copied to its own pool connection and
//! back), and drives each with the same miners:
//!
//! - notify: every pool writes a new job to each of its connections; the time until the last
//!   miner has read it (p50/p99 over the rounds);
//! - submit: one miner sends `mining.submit`; the time until a pool has read it (p50/p99);
//! - saturation: every miner keeps `WINDOW` submits in flight for `HASHMUX_BENCH_SECS`; shares
//!   the pools received per second, the process's CPU time (utime + stime) per 1,000 shares;
//! - resident memory (VmRSS at the end, VmHWM) of the process.
//!
//! The pools ask for difficulty 1e-10 and the miners' difficulty is pinned there (min = start =
//! max = 1e-10: below `min_difficulty` hashmux would keep miners at a floor), so every hash
//! meets the target: each share is a real,
//! valid share that hashmux hashes (sha256d over coinbase, merkle root and header) and checks
//! before forwarding; the `valid` column is hashmux's own count from `/api/stats`. The relay
//! checks nothing. Timings are medians/p99 of samples taken in this run; ratios are against
//! the relay's figures from the same run. Nothing is asserted.
//!
//! Stratum V2 miners: for the `sv2` rows (and `sv2std`) a second hashmux process, started with
//! `listen_sv2`, is driven by SV2 miners on the same pools (SRI Noise initiator and codec, see
//! `common/sv2miners.rs`), each with one extended channel (`sv2std`: standard channel). The
//! figures are the same: notify is the time from the pools writing a job until every miner
//! has its `NewExtendedMiningJob` / `NewMiningJob` (rounds told apart by the job's ntime, as for
//! SV1), submit is `SubmitSharesExtended` / `SubmitSharesStandard` until a pool has read the
//! `mining.submit`, saturation keeps `WINDOW` submits in flight per miner (any nonce is a valid
//! share at difficulty 1e-10). The relay figures beside them are the SV1 relay's: a relay cannot
//! turn SV2 into SV1, so the SV1 floor is the floor for both.
//!
//! The pools, miners, relay and measurements live in `common/` (shared with the peers bench).
//!
//! Environment: `HASHMUX_BENCH_MINERS` (default "1,16,64,256"), `HASHMUX_BENCH_POOLS` ("1,2,4,8"),
//! `HASHMUX_BENCH_SECS` (saturation seconds, default 3), `HASHMUX_BENCH_ROUNDS` (notify rounds,
//! default 30, paced a little over a second apart like a pool's jobs; submits are 4×),
//! `HASHMUX_BENCH_MINER_PROTO` (the miners' protocols, any of `sv1`, `sv2` (extended channels)
//! and `sv2std` (standard channels); default "sv1,sv2").

mod common;
#[path = "common/sv2miners.rs"]
mod sv2miners;
// The SRI-based pieces of the SV2 test miners (Noise initiator, setup, channel state).
#[path = "../tests/common/sv2miner.rs"]
#[allow(dead_code)]
mod sv2miner;
#[path = "../tests/common/sv2util.rs"]
#[allow(dead_code)]
mod sv2util;

use common::measure::{
    env_list, env_num, free_port, start_relay, us, Figures, Run, System, WINDOW,
};
use common::sv1::{relay_main, BenchPool, Miner, Sv1Pools};
use common::NTIME;
use sv2miner::ChannelKind;
use sv2miners::Sv2BenchMiner;
// The SV2 bench miners implement the shared miner interface.
use common::sv1::BenchMiner;

use hashmux::sim::{ExternalProxy, Launch};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Sv1,
    /// SV2, one extended channel per connection.
    Sv2,
    /// SV2, one standard channel per connection.
    Sv2Std,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Sv1 => "sv1",
            Proto::Sv2 => "sv2",
            Proto::Sv2Std => "sv2std",
        }
    }

    fn parse(s: &str) -> Option<Proto> {
        [Proto::Sv1, Proto::Sv2, Proto::Sv2Std]
            .into_iter()
            .find(|p| p.name() == s.trim())
    }
}

fn start_proxy(launch: &Launch, pools: &Sv1Pools, sv2_key: Option<&std::path::Path>) -> System {
    let pools = &pools.pools;
    let sv2 = sv2_key.map_or(String::new(), |k| {
        format!(
            "\"listen_sv2\":\"{}\",\"sv2_key_file\":{},",
            free_port(),
            serde_json::Value::from(k.display().to_string())
        )
    });
    let before: Vec<usize> = pools.iter().map(BenchPool::connections).collect();
    let list: Vec<String> = pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{{\"name\":\"p{i}\",\"url\":\"stratum+tcp://{}\",\"user\":\"u\",\"weight\":1}}",
                p.addr
            )
        })
        .collect();
    let proxy = ExternalProxy::start(
        launch,
        |s, h| {
            format!(
                "{{{sv2}\"listen\":\"{s}\",\"http\":\"{h}\",\"log_level\":\"warn\",\"pools\":[{}],\"miners\":{{\"max\":256,\"max_per_address\":256,\"min_difficulty\":1e-10,\"start_difficulty\":1e-10,\"max_difficulty\":1e-10}}}}",
                list.join(",")
            )
        },
        Duration::from_secs(60),
    )
    .expect("hashmux starts");
    let until = Instant::now() + Duration::from_secs(60);
    // The pools may still hold an earlier process's connections: wait for new ones.
    while pools
        .iter()
        .zip(&before)
        .any(|(p, b)| p.connections() <= *b)
        && Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    System::Proxy(proxy)
}

/// hashmux's SV2 listener and authority public key, from `/api/stats`.
fn sv2_endpoint(sys: &System) -> Option<(SocketAddr, [u8; 32])> {
    let System::Proxy(p) = sys else { return None };
    let (_, body) = p.http_get("/api/stats").ok()?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let addr = v["sv2"]["listen"].as_str()?.parse().ok()?;
    let key = sv2util::authority_key_from_base58(v["sv2"]["authority_key"].as_str()?)?;
    Some((addr, key))
}

/// Connect `n_miners` miners of `proto` to `sys` and measure.
fn measure(run: &Run, sys: &System, proto: Proto, n_miners: usize, round0: u32) -> Figures {
    let sv2 = |kind: ChannelKind| {
        let (addr, key) = sv2_endpoint(sys).expect("hashmux listens for SV2 miners");
        let miners: Vec<Sv2BenchMiner> = (0..n_miners)
            .map(|i| Sv2BenchMiner::connect(addr, key, i, &kind).expect("SV2 miner connects"))
            .collect();
        run.measure_with(sys, miners, round0)
    };
    match proto {
        Proto::Sv1 => {
            let miners: Vec<Miner> = (0..n_miners)
                .map(|i| Miner::connect(sys.addr(), i).expect("miner connects"))
                .collect();
            run.measure_with(sys, miners, round0)
        }
        Proto::Sv2 => sv2(ChannelKind::Extended {
            min_extranonce_size: 2,
        }),
        Proto::Sv2Std => sv2(ChannelKind::Standard),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--relay") {
        return relay_main(&args[i + 1], &args[i + 2..]);
    }
    let miners = env_list("HASHMUX_BENCH_MINERS", &[1, 16, 64, 256]);
    let pool_counts = env_list("HASHMUX_BENCH_POOLS", &[1, 2, 4, 8]);
    let secs = env_num("HASHMUX_BENCH_SECS", 3);
    let rounds = env_num("HASHMUX_BENCH_ROUNDS", 30) as usize;
    let protos: Vec<Proto> = std::env::var("HASHMUX_BENCH_MINER_PROTO")
        .unwrap_or_else(|_| "sv1,sv2".into())
        .split(',')
        .map(|p| {
            Proto::parse(p).unwrap_or_else(|| {
                panic!("HASHMUX_BENCH_MINER_PROTO: {p:?} is not one of sv1, sv2, sv2std")
            })
        })
        .collect();
    let launch = Launch::from_env(env!("CARGO_BIN_EXE_hashmux"));
    // One SV2 authority key for every hashmux process of this run, removed at the end.
    let key_file = std::env::temp_dir().join(format!("hashmux-scale-{}.key", std::process::id()));
    println!(
        "hashmux scale bench: {} against a one-thread relay; {} cores visible; {rounds} notify rounds, {} submits, {secs} s saturation with {WINDOW} in flight per miner; miners: {}",
        launch.describe(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        rounds * 4,
        protos.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
    );
    println!("latencies in µs (p50/p99); ratio = hashmux p99 / relay p99; CPU = process utime+stime; shares/s = received by the pools");
    if protos.iter().any(|p| *p != Proto::Sv1) {
        println!("proto: the miners' protocol (sv2 = extended channels, sv2std = standard channels), each against its own hashmux process; the relay is the SV1 relay in every row (a relay cannot turn SV2 into SV1: the SV1 floor is the floor for both); rej = shares the SV2 miners saw refused");
    }
    println!();
    println!(
        "{:>6} {:>5} {:>6} | {:>13} {:>13} {:>5} | {:>13} {:>13} {:>5} | {:>8} {:>5} {:>7} {:>7} | {:>8} {:>4} {:>4} {:>7} | {:>6} {:>6}",
        "miners", "pools", "proto", "notify hmux", "notify relay", "ratio", "submit hmux", "submit relay", "ratio",
        "shares/s", "CPU%", "ms/1k", "relay", "valid", "lost", "rej", "k/CPU-s", "RSS kB", "HWM kB"
    );
    let mut rows = Vec::new();
    let mut refusals = Vec::new();
    let mut gone = 0;
    for &np in &pool_counts {
        for &nm in &miners {
            let pools = Sv1Pools::start(np);
            let run = Run {
                pools: &pools,
                rounds,
                submits: rounds * 4,
                secs,
                ntime0: NTIME,
            };
            // Each protocol against its own hashmux process (rounds numbered apart), then the
            // relay with SV1 miners.
            let mut measured = Vec::new();
            for (k, &proto) in protos.iter().enumerate() {
                let key = (proto != Proto::Sv1).then_some(key_file.as_path());
                let proxy = start_proxy(&launch, &pools, key);
                let h = measure(&run, &proxy, proto, nm, 2_000_000 * k as u32);
                if let System::Proxy(p) = &proxy {
                    if h.rss_kb == 0 {
                        eprintln!("hashmux is gone; its log:\n{}", p.log());
                        gone += 1;
                    }
                }
                drop(proxy);
                measured.push((proto, h));
            }
            let relay = start_relay(&pools.addrs());
            let r = measure(&run, &relay, Proto::Sv1, nm, 1_000_000);
            drop(relay);
            let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
            for (proto, h) in measured {
                println!(
                    "{nm:>6} {np:>5} {:>6} | {:>6}/{:<6} {:>6}/{:<6} {:>5.2} | {:>6}/{:<6} {:>6}/{:<6} {:>5.2} | {:>8.0} {:>4.0}% {:>7.1} {:>7.1} | {:>8} {:>4} {:>4} {:>7.1} | {:>6} {:>6}",
                    proto.name(),
                    us(h.notify.0), us(h.notify.1), us(r.notify.0), us(r.notify.1), ratio(h.notify.1, r.notify.1),
                    us(h.submit.0), us(h.submit.1), us(r.submit.0), us(r.submit.1), ratio(h.submit.1, r.submit.1),
                    h.shares_per_s, h.cpu_share * 100.0, h.cpu_ms_per_1k, r.cpu_ms_per_1k,
                    h.validated.map_or("?".into(), |v| v.0.to_string()),
                    h.validated.map_or("?".into(), |v| v.1.to_string()),
                    h.rejected,
                    1000.0 / h.cpu_ms_per_1k.max(1e-9),
                    h.rss_kb, h.hwm_kb
                );
                if let Some(code) = &h.refusal {
                    refusals.push(format!(
                        "{nm} miners × {np} pools, {}: {} refused, the last with {code}",
                        proto.name(),
                        h.rejected
                    ));
                }
                rows.push((nm, np, proto, h, r.clone()));
            }
        }
    }
    let _ = std::fs::remove_file(&key_file);
    println!();
    for r in &refusals {
        println!("refused shares: {r}");
    }
    for proto in &protos {
        let of: Vec<(usize, usize, Figures, Figures)> = rows
            .iter()
            .filter(|r| r.2 == *proto)
            .map(|r| (r.0, r.1, r.3.clone(), r.4.clone()))
            .collect();
        if protos.len() > 1 {
            println!("{} miners:", proto.name());
        }
        summary(&of);
    }
    // Figures are reported, not judged; a proxy that died under the load is a failure.
    if gone > 0 {
        eprintln!("hashmux exited during {gone} of the runs");
        std::process::exit(1);
    }
}

/// The budget lines: worst latency ratio, best shares per CPU-second, RSS at 64×4, and the
/// CPU per share at the largest miner count over that at 16.
fn summary(rows: &[(usize, usize, Figures, Figures)]) {
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    let worst_notify = rows
        .iter()
        .map(|(_, _, h, r)| ratio(h.notify.1, r.notify.1))
        .fold(0.0, f64::max);
    let worst_submit = rows
        .iter()
        .map(|(_, _, h, r)| ratio(h.submit.1, r.submit.1))
        .fold(0.0, f64::max);
    println!("budget: p99 ≤ 2× relay: worst notify ratio {worst_notify:.2}, worst submit ratio {worst_submit:.2}");
    let best = rows
        .iter()
        .map(|(_, _, h, _)| 1e6 / h.cpu_ms_per_1k.max(1e-9))
        .fold(0.0, f64::max);
    let peak = rows
        .iter()
        .map(|(_, _, h, _)| h.shares_per_s)
        .fold(0.0, f64::max);
    println!("budget: ≥ 20,000 validated shares/s on one core: {best:.0} shares per CPU-second (best row), {peak:.0} shares/s measured (best row, load generator on the same cores)");
    if let Some((_, _, h, _)) = rows.iter().find(|(m, p, _, _)| *m == 64 && *p == 4) {
        println!(
            "budget: RSS ≤ 4 MB at 64 miners × 4 pools: VmRSS {} kB, VmHWM {} kB",
            h.rss_kb, h.hwm_kb
        );
    }
    let mut pools: Vec<usize> = rows.iter().map(|r| r.1).collect();
    pools.dedup();
    for p in pools {
        let at = |m: usize| {
            rows.iter()
                .find(|r| r.0 == m && r.1 == p)
                .map(|r| r.2.cpu_ms_per_1k)
        };
        let top = rows
            .iter()
            .filter(|r| r.1 == p)
            .map(|r| r.0)
            .max()
            .unwrap_or(0);
        if let (Some(a), Some(b)) = (at(16), at(top)) {
            println!(
                "budget: CPU per share flat from 16 to {top} miners ({p} pools): {a:.1} → {b:.1} ms per 1,000 shares (×{:.2})",
                b / a.max(1e-9)
            );
        }
    }
}
