//! Self-tests of the test-only SV2 pool (`tests/common/sv2pool.rs`): SRI client against SRI-based
//! pool, end to end over loopback, plus the spec's base58check vector and a header known-answer
//! test that anchors the pool's own share arithmetic to Bitcoin's genesis block.

#[path = "common/sv2pool.rs"]
#[allow(dead_code)]
mod sv2pool;

use std::time::{Duration, Instant};
use sv2pool::*;

fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    // A bound for a loaded machine, not a budget (see tests/common/mod.rs).
    let secs = (secs * 5).max(120);
    let until = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < until, "timed out after {secs} s: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A display-order (big-endian) hash as the raw bytes sha256d produces.
fn raw_hash(display: &str) -> [u8; 32] {
    let mut v = hex(display);
    v.reverse();
    v.try_into().unwrap()
}

#[test]
fn base58check_authority_key_matches_the_spec_vector() {
    // sv2-spec 04-Protocol-Security.md §4.7.1.
    let raw: [u8; 32] = [
        118, 99, 112, 0, 151, 156, 28, 17, 175, 12, 48, 11, 205, 140, 127, 228, 134, 16, 252, 233,
        185, 193, 30, 61, 174, 227, 90, 224, 176, 138, 116, 85,
    ];
    let encoded = "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh";
    assert_eq!(authority_key_to_base58(&raw), encoded);
    assert_eq!(authority_key_from_base58(encoded), Some(raw));
    // One changed character breaks the checksum.
    let corrupted = encoded.replacen('9', "8", 1);
    assert_eq!(authority_key_from_base58(&corrupted), None);
    assert_eq!(base58_decode("0OIl"), None);
    assert_eq!(base58_encode(&[0, 0, 1]), "112");
}

#[test]
fn header_merkle_and_target_arithmetic_match_bitcoin() {
    // Genesis block: the header layout (version LE, prev hash raw, merkle root raw, time LE,
    // nbits LE, nonce LE) must hash to the known block hash.
    let merkle = raw_hash("4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b");
    let header = block_header(1, &[0; 32], &merkle, 1231006505, 0x1d00ffff, 2083236893);
    let hash = sha256d(&header);
    assert_eq!(
        hash,
        raw_hash("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
    );
    // A one-transaction block's merkle root is the coinbase txid; an empty path leaves it so.
    assert_eq!(merkle_root(b"tx", &[]), sha256d(b"tx"));
    let leaf = sha256d(b"other");
    let mut pair = sha256d(b"tx").to_vec();
    pair.extend_from_slice(&leaf);
    assert_eq!(merkle_root(b"tx", &[leaf]), sha256d(&pair));
    // Difficulty 1 is 0xffff·2^208, little-endian; the genesis hash meets it.
    let diff1 = difficulty_to_target(1.0);
    let mut expect = [0u8; 32];
    expect[26] = 0xff;
    expect[27] = 0xff;
    assert_eq!(diff1, expect);
    assert!(le256_cmp(&hash, &diff1).is_le());
    // Difficulty 1/16 is sixteen times that target.
    let mut expect16 = [0u8; 32];
    expect16[26] = 0xf0;
    expect16[27] = 0xff;
    expect16[28] = 0x0f;
    assert_eq!(difficulty_to_target(1.0 / 16.0), expect16);
}

#[test]
fn sri_client_mines_a_share_the_pool_accepts() {
    // No follow-up job during the test, however slow the machine: it counts the jobs sent.
    let pool = Sv2Pool::start(Sv2PoolConfig {
        job_interval_ms: 3_600_000,
        ..Default::default()
    });
    let mut client = Sv2TestClient::connect(pool.addr(), pool.authority_pubkey())
        .unwrap_or_else(|e| panic!("connect: {e}"));
    assert_eq!(client.setup_flags, 0);
    assert_eq!(client.extranonce_prefix.len(), 4);
    assert_eq!(client.extranonce_size, 8);
    assert_eq!(client.target, pool.target());
    assert_eq!(client.target, difficulty_to_target(0.0001));
    assert_eq!(client.prev_hashes_received, 1);
    let job = client.job().expect("active job").clone();
    assert_eq!(job.version, 0x2000_0000);
    assert!(job.version_rolling_allowed);
    assert!(job.min_ntime.is_none(), "first job is a future job");
    assert_eq!(client.nbits, 0x1d00ffff);

    assert!(client.mine_and_submit().unwrap(), "share rejected");
    let st = pool.stats();
    assert_eq!(st.accepted, 1);
    assert_eq!(st.rejected_total(), 0);
    assert_eq!(st.connections, 1);
    assert_eq!(st.open, 1);
    assert_eq!(st.handshakes_ok, 1);
    assert_eq!(st.setup_connections, 1);
    assert_eq!(st.channels_opened, 1);
    assert_eq!(st.jobs_sent, 1);
    assert_eq!(st.last_nominal_hashrate, 1.0e6);
    assert_eq!(st.extranonce_lens_seen, [8].into_iter().collect());

    drop(client);
    wait_for(5, "connection closed", || pool.stats().open == 0);
}

#[test]
fn a_share_with_a_wrong_nonce_is_rejected_as_difficulty_too_low() {
    let pool = Sv2Pool::start(Sv2PoolConfig::default());
    let mut client = Sv2TestClient::connect(pool.addr(), pool.authority_pubkey()).unwrap();
    let mut share = client.find_share(7, 50_000_000).expect("share");
    // Move to a nonce whose hash misses the target (almost every other nonce does).
    loop {
        share.nonce = share.nonce.wrapping_add(1);
        if !client.meets_target(&share) {
            break;
        }
    }
    let reply = client.submit(&share).unwrap();
    assert_eq!(
        reply,
        ShareReply::Rejected {
            sequence_number: 1,
            error_code: "difficulty-too-low".into()
        }
    );
    let st = pool.stats();
    assert_eq!(st.accepted, 0);
    assert_eq!(st.rejected("difficulty-too-low"), 1);
}

#[test]
fn invalid_job_duplicate_and_stale_shares_are_rejected_with_spec_codes() {
    let pool = Sv2Pool::start(Sv2PoolConfig {
        job_interval_ms: 0,
        ..Default::default()
    });
    let mut client = Sv2TestClient::connect(pool.addr(), pool.authority_pubkey()).unwrap();
    let share = client.find_share(1, 50_000_000).expect("share");
    assert!(matches!(
        client.submit(&share).unwrap(),
        ShareReply::Accepted {
            last_sequence_number: 1,
            new_submits_accepted_count: 1,
            new_shares_sum: 1
        }
    ));
    let dup = client.submit(&share).unwrap();
    assert!(
        matches!(dup, ShareReply::Rejected { ref error_code, .. } if error_code == "duplicate-share")
    );
    let unknown_job = Sv2Share {
        job_id: 9999,
        ..share.clone()
    };
    let r = client.submit(&unknown_job).unwrap();
    assert!(
        matches!(r, ShareReply::Rejected { ref error_code, .. } if error_code == "invalid-job-id")
    );
    let short = Sv2Share {
        extranonce: vec![0; 3],
        ..share.clone()
    };
    let r = client.submit(&short).unwrap();
    assert!(
        matches!(r, ShareReply::Rejected { ref error_code, .. } if error_code == "bad-extranonce-size")
    );

    // A new block: the old job goes stale, and the client gets a new prevhash and job.
    pool.new_block();
    let old = share.clone();
    let until = Instant::now() + Duration::from_secs(120);
    while client.prev_hashes_received < 2 && Instant::now() < until {
        client.poll_for(Duration::from_millis(100)).unwrap();
    }
    assert_eq!(client.prev_hashes_received, 2);
    assert_ne!(client.active_job, Some(old.job_id));
    let r = client.submit(&old).unwrap();
    assert!(
        matches!(r, ShareReply::Rejected { ref error_code, .. } if error_code == "stale-share")
    );
    assert!(
        client.mine_and_submit().unwrap(),
        "share on the new prevhash"
    );

    let st = pool.stats();
    assert_eq!(st.accepted, 2);
    assert_eq!(st.rejected("duplicate-share"), 1);
    assert_eq!(st.rejected("invalid-job-id"), 1);
    assert_eq!(st.rejected("bad-extranonce-size"), 1);
    assert_eq!(st.rejected("stale-share"), 1);
    assert_eq!(st.prev_hashes_sent, 2);
    assert_eq!(st.extranonce_lens_seen, [3, 8].into_iter().collect());
}

#[test]
fn follow_up_jobs_update_close_and_unknown_messages() {
    let pool = Sv2Pool::start(Sv2PoolConfig {
        job_interval_ms: 100,
        ..Default::default()
    });
    let mut client = Sv2TestClient::connect(pool.addr(), pool.authority_pubkey()).unwrap();
    let first = client.active_job.unwrap();
    let until = Instant::now() + Duration::from_secs(120);
    while client.jobs_received < 3 && Instant::now() < until {
        client.poll_for(Duration::from_millis(100)).unwrap();
    }
    assert!(client.jobs_received >= 3, "follow-up jobs arrive");
    let job = client.job().unwrap().clone();
    assert_ne!(job.job_id, first);
    assert!(job.min_ntime.is_some(), "follow-up jobs are active at once");
    assert!(
        client.mine_and_submit().unwrap(),
        "share on a follow-up job"
    );

    // UpdateChannel with a smaller maximum target: recorded, and the pool lowers the target.
    let mut smaller = pool.target();
    smaller[29] >>= 1;
    client.update_channel(2.5e6, smaller).unwrap();
    client.send_raw(0x7e).unwrap();
    wait_for(5, "update + unknown counted", || {
        let st = pool.stats();
        st.update_channels == 1 && st.unknown_messages == 1
    });
    assert_eq!(pool.stats().last_nominal_hashrate, 2.5e6);
    let until = Instant::now() + Duration::from_secs(120);
    while client.target != smaller && Instant::now() < until {
        client.poll_for(Duration::from_millis(100)).unwrap();
    }
    assert_eq!(client.target, smaller, "SetTarget follows UpdateChannel");

    client.close_channel().unwrap();
    wait_for(5, "close counted", || pool.stats().close_channels == 1);
    let jobs = pool.stats().jobs_sent;
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(pool.stats().jobs_sent, jobs, "no jobs for a closed channel");
}

#[test]
fn every_channel_gets_its_own_extranonce_prefix() {
    let pool = Sv2Pool::start(Sv2PoolConfig::default());
    let a = Sv2TestClient::connect(pool.addr(), pool.authority_pubkey()).unwrap();
    let b = Sv2TestClient::connect(pool.addr(), pool.authority_pubkey()).unwrap();
    assert_ne!(a.extranonce_prefix, b.extranonce_prefix);
    assert_eq!(pool.stats().open, 2);
}

#[test]
fn a_certificate_signed_by_another_key_fails_the_sri_handshake() {
    let pool = Sv2Pool::start(Sv2PoolConfig {
        sign_with_wrong_authority: true,
        ..Default::default()
    });
    let err = match Sv2TestClient::connect(pool.addr(), pool.authority_pubkey()) {
        Ok(_) => panic!("handshake must fail"),
        Err(e) => e,
    };
    assert!(err.is_invalid_certificate(), "{err}");
    // The window itself was fine: only the signature is wrong.
    let (from, until) = err.invalid_certificate().unwrap();
    assert!(from <= unix_now() && unix_now() <= until);
    wait_for(5, "connection closed", || pool.stats().open == 0);
    let st = pool.stats();
    assert_eq!(st.connections, 1);
    assert_eq!(st.handshakes_ok, 0);
    assert_eq!(st.setup_connections, 0);
}

#[test]
fn an_expired_certificate_is_refused_by_the_sri_initiator() {
    // SRI's initiator checks the window (noise_sv2 SignatureNoiseMessage::verify_with_now, with
    // 10 s of leeway), so a certificate that expired an hour ago must be refused.
    let now = unix_now();
    let pool = Sv2Pool::start(Sv2PoolConfig {
        cert_valid_from: now - 7200,
        cert_not_valid_after: now - 3600,
        ..Default::default()
    });
    let err = match Sv2TestClient::connect(pool.addr(), pool.authority_pubkey()) {
        Ok(_) => panic!("handshake must fail"),
        Err(e) => e,
    };
    assert_eq!(
        err.invalid_certificate(),
        Some((now - 7200, now - 3600)),
        "{err}"
    );
    wait_for(5, "connection closed", || pool.stats().open == 0);
    assert_eq!(pool.stats().handshakes_ok, 0);
}

#[test]
fn set_down_closes_connections_and_refuses_new_ones() {
    let pool = Sv2Pool::start(Sv2PoolConfig::default());
    let mut client = Sv2TestClient::connect(pool.addr(), pool.authority_pubkey()).unwrap();
    pool.set_down(true);
    assert_eq!(pool.stats().open, 0);
    // The open connection is gone…
    let err = client
        .poll_for(Duration::from_secs(2))
        .expect_err("connection closed by the pool");
    assert!(matches!(err, Sv2ClientError::Io(_)), "{err}");
    // …and new ones are refused.
    assert!(Sv2TestClient::connect(pool.addr(), pool.authority_pubkey()).is_err());
    assert_eq!(pool.stats().connections, 1);

    pool.set_down(false);
    let mut again = Sv2TestClient::connect(pool.addr(), pool.authority_pubkey()).unwrap();
    assert!(again.mine_and_submit().unwrap());
    assert_eq!(pool.stats().connections, 2);
}
