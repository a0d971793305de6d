//! A line from an upstream SV1 pool: envelope, the pool-side message parser, the subscribe
//! result reader, and what the upstream does next with a job or a difficulty.
//!
//! Beyond "never panics": a notify that becomes a job is re-sent to miners as a notify line
//! that parses back to the same job (with the pool's extranonce1 moved into coinb1 and the
//! extranonce2 padding into coinb2); difficulty texts keep `Difficulty`'s rounding.
#![no_main]

#[path = "checks.rs"]
mod checks;

use hashmux::wire::sv1::msg::{envelope, subscribe_result, PoolMessage};
use hashmux::wire::sv1::{emit, hex_decode, Value};
use hashmux::work::job::{miner_e2_size, Job, JobOrigin, ShareInput, Variant, TAG_SIZE};
use hashmux::work::Difficulty;
use libfuzzer_sys::fuzz_target;

/// A subscribed pool: extranonce1 `e1`, extranonce2 size 8 (miners get 4 bytes).
const E1: [u8; 4] = [0x0a, 0x0b, 0x0c, 0x0d];
const POOL_E2: usize = 8;

fuzz_target!(|data: &[u8]| {
    let Ok(env) = envelope(data) else {
        return;
    };
    if let Some((e1_hex, e2_size)) = subscribe_result(&env.result) {
        let mut e1 = [0u8; 32];
        let _ = hex_decode(e1_hex, &mut e1);
        let _ = usize::try_from(e2_size).ok().and_then(miner_e2_size);
    }
    let msg = match PoolMessage::parse(&env) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = format!("{msg:?}");
    match msg {
        PoolMessage::Response { result, error, .. } => {
            let _ = result == Value::Bool(true) && error.is_null();
            for item in error.items() {
                let _ = item.as_str();
            }
        }
        PoolMessage::Notify(n) => {
            let origin = JobOrigin {
                pool: 0,
                conn_gen: 1,
                epoch: 1,
                extranonce1: heapless::Vec::from_slice(&E1).unwrap(),
                extranonce2_size: POOL_E2,
                difficulty: Difficulty::ONE,
                serial: 1,
            };
            let Ok(job) = Job::from_notify(&n, origin) else {
                return;
            };
            let miner_e2 = miner_e2_size(POOL_E2).unwrap();
            assert!(job.fits(miner_e2));
            let body = job
                .notify_body(miner_e2, Variant(0))
                .expect("the miner fits");
            let mut line = Vec::new();
            emit::notify(&mut line, 0x1a2b, &body, n.clean);
            let text = &line[..line.len() - 1];
            let env2 = envelope(text).unwrap_or_else(|e| {
                panic!(
                    "re-sent notify does not parse ({e}): {}",
                    String::from_utf8_lossy(&line)
                )
            });
            let Ok(PoolMessage::Notify(m)) = PoolMessage::parse(&env2) else {
                panic!(
                    "re-sent notify is not a notify: {}",
                    String::from_utf8_lossy(&line)
                );
            };
            assert_eq!(m.job_id, "1a2b");
            assert!(m.prevhash.eq_ignore_ascii_case(n.prevhash));
            let coinb1 = format!("{}0a0b0c0d", n.coinb1.to_ascii_lowercase());
            assert_eq!(m.coinb1, coinb1);
            let pad = "00".repeat(POOL_E2 - TAG_SIZE - miner_e2);
            assert_eq!(m.coinb2, format!("{pad}{}", n.coinb2.to_ascii_lowercase()));
            assert_eq!(m.branches.items().count(), n.branches.items().count());
            assert_eq!((m.version, m.nbits, m.ntime), (n.version, n.nbits, n.ntime));
            assert_eq!(m.clean, n.clean);
            let tag = [0u8, 7];
            let e2 = [1u8, 2, 3, 4];
            assert_eq!(job.pool_extranonce2(&tag, &e2, Variant(7)).len(), POOL_E2);
            let _ = job.share_hash(&ShareInput {
                tag: &tag,
                miner_extranonce2: &e2,
                ntime: n.ntime,
                nonce: 0,
                version: n.version,
                variant: Variant(0),
            });
        }
        PoolMessage::SetDifficulty(text) => checks::check_difficulty(text),
        PoolMessage::SetExtranonce {
            extranonce1,
            extranonce2_size,
        } => {
            let mut e1 = [0u8; 32];
            let _ = hex_decode(extranonce1, &mut e1);
            let _ = usize::try_from(extranonce2_size)
                .ok()
                .and_then(miner_e2_size);
        }
        PoolMessage::ShowMessage(text) => {
            assert!(hashmux::stats::truncate(text, 200).len() <= 200);
        }
        PoolMessage::Unknown(_) if env.id != "null" => {
            let mut out = Vec::new();
            emit::error(&mut out, env.id, 20, "unsupported method");
            let back = envelope(&out[..out.len() - 1]).expect("our error answer parses");
            assert_eq!(back.id, env.id);
        }
        _ => {}
    }
});
