//! Stratum V2 miners through hashmux, on the wire: SRI-based test miners (standard and extended
//! channels, real sha256d) against hashmux's SV2 listener, on SV1 and SV2 (SRI-based) pools.

mod common;
#[path = "common/sv2miner.rs"]
#[allow(dead_code)]
mod sv2miner;
#[path = "common/sv2pool.rs"]
#[allow(dead_code)]
mod sv2pool;
#[path = "common/sv2util.rs"]
#[allow(dead_code)]
mod sv2util;

use common::wait_for;
use hashmux::sim::pool::{SimPool, SimPoolConfig};
use std::net::SocketAddr;
use sv2miner::{ChannelKind, Sv2Miner, Sv2MinerConfig};
use sv2pool::{Sv2Pool, Sv2PoolConfig};

fn sim_pool(name: &str) -> SimPool {
    SimPool::start(SimPoolConfig {
        name: name.into(),
        difficulty: 0.0002,
        job_interval_ms: 2_000,
        block_interval_ms: 60_000,
        ..SimPoolConfig::default()
    })
    .unwrap()
}

/// A proxy with an SV2 listener; pools are (name, url, priority).
fn proxy(pools: &[(&str, String, u32)]) -> hashmux::runtime::Handle {
    let best = pools.iter().map(|p| p.2).min().unwrap_or(0);
    let pools: Vec<String> = pools
        .iter()
        .map(|(n, url, p)| {
            format!(
                r#"{{"name":"{n}","url":"{url}","user":"acct.{n}","weight":{},"priority":{p}}}"#,
                u32::from(*p == best)
            )
        })
        .collect();
    let json = format!(
        r#"{{"listen":"127.0.0.1:0","http":"127.0.0.1:0","listen_sv2":"127.0.0.1:0","pools":[{}],
            "miners":{{"max":16,"shares_per_min":60,"min_difficulty":0.000001,"start_difficulty":0.00002,"max_difficulty":1}},
            "failover":{{"job_timeout_secs":60,"backoff_min_ms":200,"backoff_max_ms":1000}}}}"#,
        pools.join(",")
    );
    let cfg = hashmux::ops::config::parse(json.as_bytes()).expect("test config parses");
    hashmux::runtime::spawn(cfg).unwrap()
}

fn sv1_url(p: &SimPool) -> String {
    format!("stratum+tcp://{}", p.addr())
}

fn sv2_url(p: &Sv2Pool) -> String {
    format!(
        "stratum2+tcp://{}/{}",
        p.addr(),
        p.authority_pubkey_base58()
    )
}

fn miner(proxy: &hashmux::runtime::Handle, channel: ChannelKind, user: &str) -> Sv2Miner {
    let addr: SocketAddr = proxy.sv2_addr.expect("SV2 listener");
    let key = proxy.sv2_authority.expect("authority key");
    Sv2Miner::start(Sv2MinerConfig {
        channel,
        user: user.into(),
        ..Sv2MinerConfig::new(addr, key)
    })
}

fn extended() -> ChannelKind {
    ChannelKind::Extended {
        min_extranonce_size: 2,
    }
}

#[test]
fn test_sv2_miners_standard_and_extended_mine_on_an_sv1_pool() {
    let pool = sim_pool("a");
    let proxy = proxy(&[("a", sv1_url(&pool), 1)]);
    let std_m = miner(&proxy, ChannelKind::Standard, "bitaxe.std");
    let ext_m = miner(&proxy, extended(), "rig.ext");
    wait_for(60, "both SV2 miners' shares accepted", || {
        let (s, e) = (std_m.stats(), ext_m.stats());
        (s.accepted >= 3 && e.accepted >= 3).then_some(())
    });
    wait_for(60, "the SV1 pool accepted their shares", || {
        (pool.stats().accepted >= 2).then_some(())
    });
    let (s, e) = (std_m.stats(), ext_m.stats());
    assert_eq!((s.rejected, e.rejected), (0, 0), "{s:?}\n{e:?}");
    assert_eq!(pool.stats().rejected, 0);
    let snap = proxy.snapshot().unwrap();
    assert_eq!(snap.miners.len(), 2);
    assert!(snap.miners.iter().all(|m| m.protocol == "sv2"));
    let sv2 = snap.sv2.clone().expect("the listener is shown");
    assert_eq!(sv2.listen, proxy.sv2_addr.unwrap().to_string());
    assert!(snap.to_json().contains(&sv2.authority_key));
    // Standard: the whole extranonce is fixed by hashmux; extended: the tag, 2+ bytes to roll.
    assert_eq!(s.extranonce_size, 0);
    assert_eq!(e.extranonce_prefix.len(), 2);
    assert!(e.extranonce_size >= 2);
    assert_ne!(
        s.extranonce_prefix[..2],
        e.extranonce_prefix[..],
        "own tags"
    );
}

#[test]
fn test_sv2_miners_shares_reach_an_sv2_pool() {
    let pool = Sv2Pool::start(Sv2PoolConfig {
        job_interval_ms: 2_000,
        ..Sv2PoolConfig::default()
    });
    let proxy = proxy(&[("v2", sv2_url(&pool), 1)]);
    let std_m = miner(&proxy, ChannelKind::Standard, "bitaxe.std");
    let ext_m = miner(&proxy, extended(), "rig.ext");
    wait_for(60, "the SRI pool accepted shares from both", || {
        let (s, e) = (std_m.stats(), ext_m.stats());
        (pool.stats().accepted >= 2 && s.accepted >= 2 && e.accepted >= 2).then_some(())
    });
    assert_eq!(pool.stats().rejected_total(), 0, "{:?}", pool.stats());
    assert_eq!((std_m.stats().rejected, ext_m.stats().rejected), (0, 0));
}

#[test]
fn test_sv2_miners_fail_over_and_back_without_reconnecting() {
    let a = sim_pool("a");
    let b = sim_pool("b");
    let proxy = proxy(&[("a", sv1_url(&a), 1), ("b", sv1_url(&b), 2)]);
    let ms = [
        miner(&proxy, ChannelKind::Standard, "std"),
        miner(&proxy, extended(), "ext"),
    ];
    let on = |name: &'static str| {
        let proxy = &proxy;
        move || {
            let s = proxy.snapshot()?;
            (s.miners.len() == 2 && s.miners.iter().all(|m| m.pool.as_deref() == Some(name)))
                .then_some(())
        }
    };
    wait_for(30, "miners on a", on("a"));
    wait_for(60, "a accepts", || (a.stats().accepted >= 2).then_some(()));
    a.set_down(true);
    wait_for(30, "miners on b", on("b"));
    let b0 = b.stats().accepted;
    let acc: Vec<u64> = ms.iter().map(|m| m.stats().accepted).collect();
    wait_for(60, "b accepts the SV2 miners' shares", || {
        let more = ms.iter().zip(&acc).all(|(m, a0)| m.stats().accepted > *a0);
        (b.stats().accepted > b0 && more).then_some(())
    });
    a.set_down(false);
    wait_for(60, "miners back on a", on("a"));
    let a0 = a.stats().accepted;
    wait_for(60, "a accepts again", || {
        (a.stats().accepted > a0).then_some(())
    });
    for m in &ms {
        let s = m.stats();
        assert_eq!(s.connects, 1, "moved without a reconnect: {s:?}");
        assert!(
            s.prev_hashes >= 3,
            "each move is a new tip for the miner: {s:?}"
        );
        assert_eq!(s.rejected, 0, "{s:?}");
    }
}

#[test]
fn test_sv2_miner_with_the_wrong_authority_key_refuses_hashmux() {
    let pool = sim_pool("a");
    let proxy = proxy(&[("a", sv1_url(&pool), 1)]);
    let mut wrong = proxy.sv2_authority.unwrap();
    wrong[5] ^= 1;
    let m = Sv2Miner::start(Sv2MinerConfig {
        reconnect_delay: None,
        ..Sv2MinerConfig::new(proxy.sv2_addr.unwrap(), wrong)
    });
    wait_for(30, "the miner refused the certificate", || {
        (m.stats().handshake_failed >= 1).then_some(())
    });
    wait_for(30, "hashmux let the connection go", || {
        (proxy.snapshot()?.miners.is_empty()).then_some(())
    });
    let s = m.stop();
    assert_eq!(
        (s.setup_ok, s.submitted, s.channel_opened),
        (0, 0, 0),
        "{s:?}"
    );
}

#[test]
fn test_mixed_sv1_and_sv2_miners_split_70_30_over_sv1_and_sv2_pools() {
    use hashmux::sim::miner::{MinerFlavour, SimMiner};
    let v1 = sim_pool("v1");
    let v2 = Sv2Pool::start(Sv2PoolConfig {
        job_interval_ms: 2_000,
        ..Sv2PoolConfig::default()
    });
    let json = format!(
        r#"{{"listen":"127.0.0.1:0","http":"","listen_sv2":"127.0.0.1:0","pools":[
            {{"name":"v1","url":"{}","user":"acct.v1","weight":70}},
            {{"name":"v2","url":"{}","user":"acct.v2","weight":30}}],
            "miners":{{"shares_per_min":120,"min_difficulty":0.000001,"start_difficulty":0.00002}},
            "failover":{{"job_timeout_secs":20,"backoff_min_ms":200,"backoff_max_ms":1000}},
            "split":{{"interval_secs":1,"window_intervals":30,"min_dwell_secs":2,"hysteresis_secs":3}}}}"#,
        sv1_url(&v1),
        sv2_url(&v2)
    );
    let proxy =
        hashmux::runtime::spawn(hashmux::ops::config::parse(json.as_bytes()).unwrap()).unwrap();
    let sv1_miners = SimMiner::fleet(
        proxy.stratum_addr,
        2,
        &[MinerFlavour::Nano3s, MinerFlavour::Cgminer],
        150_000,
    );
    let sv2_miners: Vec<Sv2Miner> = [ChannelKind::Standard, extended()]
        .into_iter()
        .enumerate()
        .map(|(i, channel)| {
            Sv2Miner::start(Sv2MinerConfig {
                channel,
                user: format!("sv2rig{i}"),
                max_hashrate: Some(150_000.0),
                // Declared as it hashes: hashmux starts its difficulty and estimate from this.
                nominal_hashrate: 150_000.0,
                ..Sv2MinerConfig::new(proxy.sv2_addr.unwrap(), proxy.sv2_authority.unwrap())
            })
        })
        .collect();
    wait_for(60, "both pools get work from both kinds of miner", || {
        let s = proxy.snapshot()?;
        let sv2_valid = s
            .miners
            .iter()
            .filter(|m| m.protocol == "sv2")
            .all(|m| m.shares.valid > 2);
        (s.miners.len() == 4
            && sv2_valid
            && s.pools[0].shares.valid > 5
            && s.pools[1].shares.valid > 5)
            .then_some(())
    });
    let (wa, wb) = common::split_over(&proxy, 40, 300);
    let share_v1 = wa * 1000 / (wa + wb);
    eprintln!("SV1 pool's share of accepted work over 40 s: {share_v1} per mille (target 700)");
    if !(600..=800).contains(&share_v1) {
        eprintln!("{}", proxy.snapshot().unwrap().to_json());
    }
    assert!(
        (600..=800).contains(&share_v1),
        "v1 got {share_v1}‰ of the work over 40 s (target 700‰)"
    );
    wait_for(60, "both pools accepted shares", || {
        (v1.stats().accepted > 0 && v2.stats().accepted > 0).then_some(())
    });
    assert_eq!(v1.stats().rejected, 0);
    assert_eq!(v2.stats().rejected_total(), 0, "{:?}", v2.stats());
    for m in &sv2_miners {
        let s = m.stats();
        assert_eq!((s.connects, s.rejected), (1, 0), "{s:?}");
    }
    drop(sv1_miners);
}
