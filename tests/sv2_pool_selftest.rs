//! Self-tests of the test-only SV2 pool (`tests/common/sv2pool.rs`) and the SRI-based test
//! clients (`sv2client.rs`, `sv2miner.rs`): SRI client and miner against the SRI-based pool, end
//! to end over loopback, plus the spec's base58check vector and known-answer tests that anchor
//! the shared share arithmetic to real Bitcoin blocks.

#[path = "common/sv2client.rs"]
#[allow(dead_code)]
mod sv2client;
#[path = "common/sv2miner.rs"]
#[allow(dead_code)]
mod sv2miner;
#[path = "common/sv2pool.rs"]
#[allow(dead_code)]
mod sv2pool;
#[path = "common/sv2util.rs"]
#[allow(dead_code)]
mod sv2util;

use binary_sv2::{GetSize, Seq0255, Serialize, Str0255, Sv2Option, B032, B064K, U256};
use common_messages_sv2::{
    Protocol, SetupConnection, SetupConnectionSuccess, MESSAGE_TYPE_SETUP_CONNECTION,
    MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS,
};
use mining_sv2::{
    NewExtendedMiningJob, NewMiningJob, OpenExtendedMiningChannelSuccess,
    OpenStandardMiningChannelSuccess, SetExtranoncePrefix, SetNewPrevHash,
    MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH, MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB,
    MESSAGE_TYPE_NEW_MINING_JOB, MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL,
    MESSAGE_TYPE_SET_EXTRANONCE_PREFIX,
};
use std::time::{Duration, Instant};
use sv2client::*;
use sv2miner::{Applied, ChannelKind, ChannelState, ShareReply, Sv2Miner, Sv2MinerConfig};
use sv2pool::*;
use sv2util::*;

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

// ---------------------------------------------------------------------------------------------
// The SRI-based test miner (tests/common/sv2miner.rs).

/// An SRI message as the miner's channel receives it (channel message, extension 0).
fn frame<T: Serialize + GetSize>(msg: T, msg_type: u8) -> Frame {
    Frame {
        msg_type,
        ext_type: 0,
        channel_msg: true,
        payload: binary_sv2::to_bytes(msg).expect("serialize"),
    }
}

fn prev_hash_msg(job_id: u32, prev_hash: [u8; 32], ntime: u32, nbits: u32) -> Frame {
    let m = SetNewPrevHash {
        channel_id: 7,
        job_id,
        prev_hash: U256::from(&prev_hash),
        min_ntime: ntime,
        nbits,
    };
    frame(m, MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH)
}

#[test]
fn the_midstate_hasher_matches_sha256d() {
    let mut h = [0u8; 80];
    for n in [0u32, 1, 0xdead_beef] {
        h[3] = n as u8;
        h[76..].copy_from_slice(&n.to_le_bytes());
        let mut hasher = HeaderHasher::new(&h);
        let tail: [u8; 16] = h[64..].try_into().unwrap();
        // Twice: the reused buffers start empty again.
        assert_eq!(hasher.hash(&tail), sha256d(&h));
        assert_eq!(hasher.hash(&tail), sha256d(&h));
    }
}

#[test]
fn nbits_targets_and_their_ordering_are_256_bit_little_endian() {
    assert_eq!(nbits_to_target(0x1d00_ffff), difficulty_to_target(1.0));
    // Block 125552's nbits: mantissa 0x44b9f2 at bytes 23..26.
    let t = nbits_to_target(0x1a44_b9f2);
    let mut expect = [0u8; 32];
    expect[23..26].copy_from_slice(&[0xf2, 0xb9, 0x44]);
    assert_eq!(t, expect);
    assert_eq!(nbits_to_target(0x0180_0000), [0; 32], "negative mantissa");
    // The most significant byte is the last one.
    let mut low = [0xff; 32];
    low[31] = 0;
    let mut high = [0u8; 32];
    high[31] = 1;
    assert!(le256_cmp(&low, &high).is_lt());
    assert!(le256_cmp(&high, &low).is_gt());
    // One more in the lowest byte of an equal value is greater.
    let mut a = t;
    a[0] = 1;
    assert!(le256_cmp(&t, &a).is_lt());
}

#[test]
fn standard_channel_header_matches_block_125552() {
    // Block 125552: the header the standard channel builds from NewMiningJob (version, merkle
    // root) and SetNewPrevHash (prev hash, time, bits) must hash to the block's hash.
    let prev = raw_hash("00000000000008a3a41b85b8b29ad444def299fee21793cd8b9e567eab02cd81");
    let root = raw_hash("2b12fcf1b09288fcaff797d71e950e71ae42b91e8bdb2304758dfcffc2b620e3");
    let block = raw_hash("00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d");
    let (time, nbits, nonce) = (1_305_998_791, 0x1a44_b9f2, 2_504_433_986u32);
    let mut ch = ChannelState::standard(&OpenStandardMiningChannelSuccess {
        request_id: 1,
        channel_id: 7,
        target: U256::from(&[0xff; 32]),
        extranonce_prefix: B032::try_from(&[1u8, 2, 3, 4][..]).unwrap(),
        group_channel_id: 0,
    });
    let job = |job_id: u32, min_ntime: Option<u32>| NewMiningJob {
        channel_id: 7,
        job_id,
        min_ntime: Sv2Option::new(min_ntime),
        version: 1,
        merkle_root: U256::from(&root),
    };
    // A future job waits for its prevhash.
    let mut f = frame(job(1, None), MESSAGE_TYPE_NEW_MINING_JOB);
    assert_eq!(ch.apply(&mut f).unwrap(), Applied::Job { future: true });
    assert!(ch.job().is_none());
    let mut f = prev_hash_msg(1, prev, time, nbits);
    assert_eq!(
        ch.apply(&mut f).unwrap(),
        Applied::PrevHash { activated: true }
    );
    let active = ch.job().expect("activated").clone();
    assert_eq!(ch.ntime_for(&active), time);
    let header = ch.header(&active, &[], active.version, time, nonce);
    assert_eq!(sha256d(&header), block);

    // Mining around the real nonce against the block's own target finds exactly it.
    let target = nbits_to_target(nbits);
    let mut h = ch.header(&active, &[], active.version, time, 0);
    let from = nonce as u64 - 3000;
    let (found, tried) = search_nonces(&mut h, from, 6000, &target);
    assert_eq!(found, Some((nonce, block)));
    assert_eq!(tried, 3001);

    // A job with min_ntime is active at once, with nTime = max(job, prevhash).
    let mut f = frame(job(2, Some(time + 5)), MESSAGE_TYPE_NEW_MINING_JOB);
    assert_eq!(ch.apply(&mut f).unwrap(), Applied::Job { future: false });
    assert_eq!(ch.active_job, Some(2));
    assert_eq!(ch.ntime_for(ch.job().unwrap()), time + 5);
    let mut f = frame(job(3, Some(time - 5)), MESSAGE_TYPE_NEW_MINING_JOB);
    ch.apply(&mut f).unwrap();
    assert_eq!(ch.ntime_for(ch.job().unwrap()), time);
    // Another channel's job, and an extended job on a standard channel, are not taken.
    let mut other = job(4, Some(time));
    other.channel_id = 8;
    let mut f = frame(other, MESSAGE_TYPE_NEW_MINING_JOB);
    assert_eq!(ch.apply(&mut f).unwrap(), Applied::Foreign);
    let mut f = frame(job(5, None), MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB);
    assert_eq!(ch.apply(&mut f).unwrap(), Applied::Unexpected);
    assert_eq!(ch.active_job, Some(3));
    // A prevhash for a job never seen drops every job.
    let mut f = prev_hash_msg(99, prev, time, nbits);
    assert_eq!(
        ch.apply(&mut f).unwrap(),
        Applied::PrevHash { activated: false }
    );
    assert!(ch.job().is_none() && ch.jobs.is_empty());
}

/// Bitcoin's genesis coinbase transaction (204 bytes).
const GENESIS_COINBASE: &str = concat!(
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ff",
    "ff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e2062",
    "72696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a0100",
    "0000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef",
    "38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000"
);

#[test]
fn extended_channel_coinbase_matches_the_genesis_block() {
    // The genesis coinbase cut as an extended job: prefix ‖ extranonce_prefix (4) ‖ miner
    // extranonce (8) ‖ suffix. Its txid is the block's merkle root; the header hashes to the
    // genesis hash.
    let cb = hex(GENESIS_COINBASE);
    assert_eq!(cb.len(), 204);
    let (prefix, en_prefix, en, suffix) = (&cb[..50], &cb[50..54], &cb[54..62], &cb[62..]);
    let genesis = raw_hash("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
    let root = raw_hash("4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b");
    let mut ch = ChannelState::extended(&OpenExtendedMiningChannelSuccess {
        request_id: 1,
        channel_id: 7,
        target: U256::from(&[0xff; 32]),
        extranonce_size: 8,
        extranonce_prefix: B032::try_from(en_prefix).unwrap(),
        group_channel_id: 0,
    });
    let job = |job_id: u32, min_ntime: Option<u32>| NewExtendedMiningJob {
        channel_id: 7,
        job_id,
        min_ntime: Sv2Option::new(min_ntime),
        version: 1,
        version_rolling_allowed: false,
        merkle_path: Seq0255::new(Vec::new()).unwrap(),
        coinbase_tx_prefix: B064K::try_from(prefix).unwrap(),
        coinbase_tx_suffix: B064K::try_from(suffix).unwrap(),
    };
    let mut f = frame(job(5, None), MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB);
    assert_eq!(ch.apply(&mut f).unwrap(), Applied::Job { future: true });
    let mut f = prev_hash_msg(5, [0; 32], 1_231_006_505, 0x1d00_ffff);
    ch.apply(&mut f).unwrap();
    let j5 = ch.job().expect("active").clone();
    assert_eq!(j5.coinbase(en).unwrap(), cb);
    assert_eq!(j5.merkle_root(en), root);
    let header = ch.header(&j5, en, 1, ch.ntime_for(&j5), 2_083_236_893);
    assert_eq!(sha256d(&header), genesis);

    // SetExtranoncePrefix applies to the jobs received after it; job 5 keeps its prefix.
    let new_prefix = [0xaa; 4];
    let m = SetExtranoncePrefix {
        channel_id: 7,
        extranonce_prefix: B032::try_from(&new_prefix[..]).unwrap(),
    };
    let mut f = frame(m, MESSAGE_TYPE_SET_EXTRANONCE_PREFIX);
    assert_eq!(ch.apply(&mut f).unwrap(), Applied::ExtranoncePrefix);
    assert_eq!(ch.extranonce_prefix, new_prefix);
    assert_eq!(ch.extranonce_prefix_changes, 1);
    assert_eq!(ch.jobs[&5].merkle_root(en), root);
    let mut f = frame(
        job(6, Some(1_231_006_505)),
        MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB,
    );
    ch.apply(&mut f).unwrap();
    let j6 = ch.job().expect("active at once").clone();
    assert_eq!(j6.job_id, 6);
    let mut expect = prefix.to_vec();
    expect.extend_from_slice(&new_prefix);
    expect.extend_from_slice(en);
    expect.extend_from_slice(suffix);
    assert_eq!(j6.coinbase(en).unwrap(), expect);
    assert_eq!(j6.merkle_root(en), sha256d(&expect));

    // The merkle fold against block 170 (coinbase + the first bitcoin payment).
    let cb170 = raw_hash("b1fea52486ce0c62bb442b530a3f0132b826c74e473d1f2c220bfa78111c5082");
    let tx170 = raw_hash("f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16");
    let mut pair = cb170.to_vec();
    pair.extend_from_slice(&tx170);
    assert_eq!(
        sha256d(&pair),
        raw_hash("7dac2c5666815c17a3b36427de37bb9d2e2c5ccec3f8633eb91a4205cb4c10ff")
    );
}

/// Share difficulty for pools the miner mines on: about 43k hashes a share.
const MINER_DIFFICULTY: f64 = 0.00001;

fn miner_cfg(pool: &Sv2Pool) -> Sv2MinerConfig {
    Sv2MinerConfig {
        user: "selftest.miner".into(),
        nominal_hashrate: 2.0e6,
        // A few shares a second at MINER_DIFFICULTY, without taking a whole core.
        max_hashrate: Some(2.0e5),
        reconnect_delay: Some(Duration::from_millis(100)),
        ..Sv2MinerConfig::new(pool.addr(), pool.authority_pubkey())
    }
}

#[test]
fn sv2_miner_mines_on_an_extended_channel_through_prefix_changes_and_blocks() {
    let pool = Sv2Pool::start(Sv2PoolConfig {
        job_interval_ms: 300,
        target_difficulty: MINER_DIFFICULTY,
        ..Default::default()
    });
    let miner = Sv2Miner::start(Sv2MinerConfig {
        channel: ChannelKind::Extended {
            min_extranonce_size: 4,
        },
        ..miner_cfg(&pool)
    });
    wait_for(10, "3 shares accepted", || miner.stats().accepted >= 3);
    let st = miner.stats();
    assert_eq!(
        (
            st.connects,
            st.handshakes_ok,
            st.setup_ok,
            st.channel_opened
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(st.handshake_failed, 0);
    assert!(st.connected);
    assert_eq!(st.channel_id, Some(1));
    assert_eq!(st.setup_success_flags, 0);
    assert_eq!(st.extranonce_size, 8);
    assert_eq!(st.extranonce_prefix.len(), 4);
    assert_eq!(st.target, pool.target());
    assert!(st.future_jobs >= 1 && st.jobs >= st.future_jobs);
    assert_eq!(st.prev_hashes, 1);
    assert_eq!((st.rejected, st.version_rolled), (0, 0));
    assert_eq!(st.unexpected_messages, 0);
    let ps = pool.stats();
    assert_eq!(ps.last_nominal_hashrate, 2.0e6);
    assert_eq!(ps.extranonce_lens_seen, [8].into_iter().collect());
    assert_eq!(ps.rejected_total(), 0);

    // A new extranonce prefix: later jobs use it, and the pool checks their shares with it.
    let before = miner.stats();
    pool.change_extranonce_prefixes();
    wait_for(10, "shares on the new prefix", || {
        let s = miner.stats();
        s.extranonce_prefix_changes == 1 && s.accepted >= before.accepted + 3
    });
    assert_ne!(miner.stats().extranonce_prefix, before.extranonce_prefix);
    assert_eq!(pool.stats().extranonce_prefixes_sent, 1);
    assert_eq!(miner.stats().rejected, 0);
    assert_eq!(pool.stats().rejected_total(), 0);

    // A new block: shares in flight for the old prevhash may come back stale, nothing else.
    let before = miner.stats();
    pool.new_block();
    wait_for(10, "shares on the new prevhash", || {
        let s = miner.stats();
        s.prev_hashes == 2 && s.accepted >= before.accepted + 3
    });
    let st = miner.stop();
    wait_for(5, "connection closed", || pool.stats().open == 0);
    let ps = pool.stats();
    assert_eq!(st.rejected, st.rejected("stale-share"), "{st:?}");
    assert_eq!(ps.rejected_total(), ps.rejected("stale-share"), "{ps:?}");
    // The pool answered every share the miner sent (the last answers may not have been read).
    assert_eq!(ps.accepted + ps.rejected_total(), st.submitted);
    assert!(st.accepted <= ps.accepted);
    assert!(st.hashes > 0);
}

#[test]
fn sv2_miner_rolls_version_bits_only_when_asked() {
    let pool = Sv2Pool::start(Sv2PoolConfig {
        job_interval_ms: 200,
        target_difficulty: MINER_DIFFICULTY,
        ..Default::default()
    });
    let miner = Sv2Miner::start(Sv2MinerConfig {
        setup_flags: REQUIRES_VERSION_ROLLING,
        ..miner_cfg(&pool)
    });
    wait_for(10, "3 shares accepted", || miner.stats().accepted >= 3);
    let st = miner.stop();
    assert!(st.version_rolled > 0, "{st:?}");
    assert_eq!(st.rejected, 0);
    assert_eq!(pool.stats().rejected_total(), 0);
}

#[test]
fn sv2_miner_counts_refused_certificates_and_sends_nothing_after_them() {
    let pool = Sv2Pool::start(Sv2PoolConfig {
        sign_with_wrong_authority: true,
        ..Default::default()
    });
    let miner = Sv2Miner::start(Sv2MinerConfig {
        reconnect_delay: None,
        ..miner_cfg(&pool)
    });
    wait_for(10, "the miner gives up", || !miner.is_running());
    let st = miner.stats();
    assert_eq!(
        (st.connects, st.handshake_failed, st.handshakes_ok),
        (1, 1, 0)
    );
    assert_eq!((st.setup_ok, st.channel_opened, st.submitted), (0, 0, 0));
    assert!(
        st.last_error.as_deref().unwrap().contains("handshake"),
        "{st:?}"
    );
    wait_for(5, "connection closed", || pool.stats().open == 0);
    let ps = pool.stats();
    assert_eq!(ps.connections, 1);
    assert_eq!(ps.handshakes_ok, 0, "no frame after the handshake");
    assert_eq!((ps.setup_connections, ps.unknown_messages), (0, 0));

    // An expired certificate (SRI's window check), retried: every attempt fails the same way.
    let now = unix_now();
    let expired = Sv2Pool::start(Sv2PoolConfig {
        cert_valid_from: now - 7200,
        cert_not_valid_after: now - 3600,
        ..Default::default()
    });
    let miner = Sv2Miner::start(miner_cfg(&expired));
    wait_for(10, "two refused handshakes", || {
        miner.stats().handshake_failed >= 2
    });
    let st = miner.stop();
    assert_eq!(st.handshakes_ok + st.setup_ok, 0);
    assert_eq!(expired.stats().handshakes_ok, 0);
}

#[test]
fn sv2_miner_reconnects_when_the_pool_comes_back() {
    let pool = Sv2Pool::start(Sv2PoolConfig {
        job_interval_ms: 3_600_000,
        target_difficulty: MINER_DIFFICULTY,
        ..Default::default()
    });
    let miner = Sv2Miner::start(miner_cfg(&pool));
    wait_for(10, "a share accepted", || miner.stats().accepted >= 1);
    pool.set_down(true);
    wait_for(10, "disconnected", || {
        let s = miner.stats();
        !s.connected && s.disconnects >= 1
    });
    let accepted = miner.stats().accepted;
    pool.set_down(false);
    wait_for(10, "back and mining", || {
        let s = miner.stats();
        s.connected && s.channel_opened == 2 && s.accepted > accepted
    });
    let st = miner.stop();
    assert!(st.connects >= 2);
    assert_eq!(st.handshake_failed, 0);
    assert_eq!(pool.stats().rejected_total(), 0);
}

#[test]
fn raw_client_sends_arbitrary_frames_and_reads_the_answers() {
    let pool = Sv2Pool::start(Sv2PoolConfig::default());
    let mut raw = Sv2RawClient::connect(pool.addr(), Some(pool.authority_pubkey())).unwrap();
    // A type nobody knows, with the channel bit; then a frame of another extension.
    raw.send_frame(0x7e, true, &[1, 2, 3]).unwrap();
    raw.send_frame_ext(0x0001, 0x00, false, &[]).unwrap();
    let setup = SetupConnection {
        protocol: Protocol::MiningProtocol,
        min_version: 2,
        max_version: 2,
        flags: 0,
        endpoint_host: Str0255::try_from("127.0.0.1").unwrap(),
        endpoint_port: pool.addr().port(),
        vendor: Str0255::try_from("raw").unwrap(),
        hardware_version: Str0255::try_from("").unwrap(),
        firmware: Str0255::try_from("").unwrap(),
        device_id: Str0255::try_from("").unwrap(),
    };
    raw.send(setup, MESSAGE_TYPE_SETUP_CONNECTION, false)
        .unwrap();
    let mut f = raw
        .recv_type(
            MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS,
            Duration::from_secs(10),
        )
        .unwrap()
        .expect("SetupConnection.Success");
    assert!(!f.channel_msg);
    let m: SetupConnectionSuccess = f.decode().unwrap();
    assert_eq!(m.used_version, 2);
    // A channel open cut short does not decode.
    raw.send_frame(MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL, false, &[1, 0, 0])
        .unwrap();
    wait_for(5, "three unknown messages", || {
        pool.stats().unknown_messages == 3
    });
    assert_eq!(pool.stats().channels_opened, 0);
    // Garbage where ciphertext belongs: the pool drops the connection.
    raw.send_bytes(&[0u8; 64]).unwrap();
    assert!(raw.closed_within(Duration::from_secs(10)));
    wait_for(5, "connection closed", || pool.stats().open == 0);
}
