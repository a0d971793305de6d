//! `cargo bench --bench core`: shares validated per second on one core through the share-hash
//! path alone (coinbase, merkle root, header, sha256d, target), in process: the ceiling under
//! everything `cargo bench --bench scale` measures end to end (latencies against a bare relay,
//! saturation, CPU per share, memory). The figure is the median of 7 runs; nothing is asserted.

// Only `notify_line` of the shared bench pieces is used here.
#[allow(dead_code)]
mod common;
use common::notify_line;

use hashmux::wire::sv1::msg::{envelope, PoolMessage};
use hashmux::work::job::{Job, JobOrigin, ShareInput, Variant};
use hashmux::work::Difficulty;
use std::time::Instant;

fn main() {
    println!(
        "hashmux core bench ({} cores visible)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    validation_rate();
}

/// Shares per second through the validation path: coinbase, merkle, header, sha256d, target.
fn validation_rate() {
    let line = notify_line(1, 0x6560_f0a0, true);
    let env = envelope(line.trim_end().as_bytes()).unwrap();
    let PoolMessage::Notify(n) = PoolMessage::parse(&env).unwrap() else {
        unreachable!()
    };
    let origin = JobOrigin {
        pool: 0,
        conn_gen: 1,
        epoch: 1,
        extranonce1: heapless::Vec::from_slice(&[1, 2, 3, 4]).unwrap(),
        extranonce2_size: 8,
        difficulty: Difficulty::ONE,
        serial: 1,
    };
    let job = Job::from_notify(&n, origin).unwrap();
    let target = Difficulty::ONE.target();
    let mut rates = Vec::new();
    for _ in 0..7 {
        let n = 200_000u32;
        let t = Instant::now();
        let mut met = 0u32;
        for nonce in 0..n {
            let e2 = (nonce / 1000).to_le_bytes();
            let h = job.share_hash(&ShareInput {
                tag: &[0, 1],
                miner_extranonce2: &e2,
                ntime: 0x6560f0a0,
                nonce,
                version: 0x2000_0000,
                variant: Variant(0),
            });
            met += target.is_met_by(&h) as u32;
        }
        std::hint::black_box(met);
        rates.push((n as f64 / t.elapsed().as_secs_f64()) as u64);
    }
    rates.sort();
    println!(
        "share validation, one core: median {} shares/s (min {}, max {})",
        rates[3], rates[0], rates[6]
    );
}
