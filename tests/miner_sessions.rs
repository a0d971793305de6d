//! Miner-side protocol over real loopback TCP: the flows cgminer and the Nano 3S use, share
//! verdicts, caps on lines and miners.
#![cfg(feature = "sim")]

mod common;

use common::{config, wait_for, RawMiner};
use hashmux::sim::{SimPool, SimPoolConfig};
use serde_json::json;
use std::io::Read;
use std::time::Duration;

fn pool() -> SimPool {
    SimPool::start(SimPoolConfig {
        name: "p".into(),
        difficulty: 0.0001,
        extranonce2_size: 8,
        ..SimPoolConfig::default()
    })
    .unwrap()
}

#[test]
fn test_subscribed_cgminer_gets_tag_difficulty_then_job() {
    let p = pool();
    let proxy = hashmux::runtime::spawn(config(&[("p", p.addr(), 1)], 8)).unwrap();
    let mut m = RawMiner::connect(proxy.stratum_addr);
    m.handshake("rig1");
    assert_eq!(m.extranonce1.len(), 4, "2-byte miner tag as extranonce1");
    assert_eq!(
        m.extranonce2_size, 4,
        "pool has 8 bytes: tag 2 + miner 4 + 2 padding"
    );
    m.next_job();
    let first_notify = m
        .log
        .iter()
        .position(|v| v["method"] == "mining.notify")
        .unwrap();
    let first_diff = m
        .log
        .iter()
        .position(|v| v["method"] == "mining.set_difficulty")
        .expect("set_difficulty sent");
    assert!(
        first_diff < first_notify,
        "set_difficulty must precede the notify it applies to"
    );
    assert!(
        m.difficulty <= 0.0001,
        "local difficulty never above the pool's"
    );
}

#[test]
fn test_nano3s_configure_first_gets_version_rolling() {
    let p = pool();
    let proxy = hashmux::runtime::spawn(config(&[("p", p.addr(), 1)], 8)).unwrap();
    let mut m = RawMiner::connect(proxy.stratum_addr);
    let id = m.request(
        "mining.configure",
        json!([["version-rolling"], {"version-rolling.mask": "ffffffff", "version-rolling.min-bit-count": 16}]),
    );
    let r = m.response(id);
    assert_eq!(r["result"]["version-rolling"], json!(true));
    let mask =
        u32::from_str_radix(r["result"]["version-rolling.mask"].as_str().unwrap(), 16).unwrap();
    assert_ne!(mask, 0);
    assert_eq!(mask & !0x1fffe000, 0, "never more than the pool allows");
}

#[test]
fn test_working_miner_share_verdicts_valid_low_duplicate_stale() {
    let p = pool();
    let proxy = hashmux::runtime::spawn(config(&[("p", p.addr(), 1)], 8)).unwrap();
    let mut m = RawMiner::connect(proxy.stratum_addr);
    m.handshake("rig1");
    let job = m.next_job();
    let (id, share) = m.submit_found(&job, 1);
    assert_eq!(
        m.response(id)["result"],
        json!(true),
        "valid share accepted"
    );
    let id = m.submit(&job.id, &share);
    assert_eq!(m.response(id)["error"][0], json!(22), "duplicate refused");
    // A share below the local difficulty.
    let e2 = format!("{:08x}", 2);
    let (nonce, _) = job
        .find(&m.extranonce1, &e2, 0, 0.0, Some(job.difficulty / 1000.0))
        .unwrap();
    let id = m.submit(
        &job.id,
        &(e2, format!("{:08x}", job.ntime), format!("{nonce:08x}")),
    );
    assert_eq!(
        m.response(id)["error"][0],
        json!(23),
        "low difficulty refused"
    );
    let id = m.submit("ffffff", &share);
    assert_eq!(m.response(id)["error"][0], json!(21), "unknown job refused");
    let id = m.request(
        "mining.submit",
        json!(["w", job.id, "zz", "00000000", "00000000"]),
    );
    assert_eq!(
        m.response(id)["error"][0],
        json!(20),
        "bad extranonce2 refused"
    );
    let id = m.request("mining.frobnicate", json!([]));
    assert!(
        m.response(id)["error"].is_array(),
        "unknown method gets an error"
    );
    let s = wait_for(5, "snapshot", || proxy.snapshot());
    let c = &s.miners[0].shares;
    assert_eq!(
        (c.valid, c.duplicate, c.low_difficulty, c.stale, c.malformed),
        (1, 1, 1, 1, 1)
    );
    assert_eq!(p.stats().rejected, 0, "no bad share reached the pool");
}

#[test]
fn test_connected_miner_oversized_line_is_dropped_others_keep_mining() {
    let p = pool();
    let proxy = hashmux::runtime::spawn(config(&[("p", p.addr(), 1)], 8)).unwrap();
    let mut good = RawMiner::connect(proxy.stratum_addr);
    good.handshake("good");
    good.next_job();
    let mut bad = RawMiner::connect(proxy.stratum_addr);
    let _ = bad.send_raw(&vec![b'x'; 10_000]);
    let told = bad.recv().expect("an error before the close");
    assert!(
        told["error"].to_string().contains("line longer than"),
        "{told}"
    );
    assert!(
        bad.recv().is_none(),
        "connection closed after an oversized line"
    );
    let job = good.next_job_or_current();
    let (id, _) = good.submit_found(&job, 7);
    assert_eq!(good.response(id)["result"], json!(true));
}

#[test]
fn test_full_table_refuses_newcomers_and_keeps_others() {
    let p = pool();
    let proxy = hashmux::runtime::spawn(config(&[("p", p.addr(), 1)], 3)).unwrap();
    let mut kept: Vec<RawMiner> = (0..3)
        .map(|_| RawMiner::connect(proxy.stratum_addr))
        .collect();
    for (i, m) in kept.iter_mut().enumerate() {
        m.handshake(&format!("m{i}"));
    }
    for _ in 0..10 {
        let mut s = std::net::TcpStream::connect(proxy.stratum_addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(
            s.read(&mut buf).unwrap_or(0),
            0,
            "refused connection is closed"
        );
    }
    let snap = proxy.snapshot().unwrap();
    assert_eq!(snap.refused, 10);
    assert_eq!(snap.miners.len(), 3);
    let job = kept[0].next_job_or_current();
    let (id, _) = kept[0].submit_found(&job, 3);
    assert_eq!(kept[0].response(id)["result"], json!(true));
}
