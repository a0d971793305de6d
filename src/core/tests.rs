//! The core driven in virtual time: events in, actions out, no sockets and no sleeping.

use super::*;
use crate::work::job::PoolJobId;
use std::net::SocketAddr;

struct World {
    core: Core,
    now: u64,
}

fn template(id: &str, prev: u8, clean: bool) -> JobTemplate {
    JobTemplate {
        id: PoolJobId::Text(heapless::String::try_from(id).unwrap()),
        prevhash: [prev; 32],
        coinb1: vec![1, 2, 3, 4].into(),
        coinb2: vec![5, 6].into(),
        branches: heapless::Vec::new(),
        version: 0x2000_0000,
        nbits: 0x1d00_ffff,
        ntime: 0x6500_0000,
        clean,
    }
}

impl World {
    fn new(json: &str) -> World {
        let cfg = crate::ops::config::parse(json.as_bytes()).unwrap();
        World {
            core: Core::new(cfg, 0),
            now: 0,
        }
    }

    fn one_pool() -> World {
        World::new(
            r#"{"pools":[{"url":"stratum+tcp://127.0.0.1:1","user":"u"}],
                "miners":{"start_difficulty":1e-10,"min_difficulty":1e-10}}"#,
        )
    }

    fn drain(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.core.poll_action()).collect()
    }

    fn pool(&mut self, idx: usize, ev: Upstream<'_>) {
        self.core.handle_pool(idx, ev, self.now);
    }

    /// Pool `idx` connects, subscribes with (`e1`, `e2`), authorizes and sends job `j1`.
    fn pool_up(&mut self, idx: usize, e1: &[u8], e2: usize) {
        self.pool(idx, Upstream::Connecting);
        self.pool(idx, Upstream::Connected { encrypted: false });
        self.pool(idx, Upstream::VersionMask(Some(0x1fff_e000)));
        self.pool(
            idx,
            Upstream::Extranonce {
                prefix: e1,
                e2_size: e2,
            },
        );
        self.pool(idx, Upstream::Authorized);
        self.pool(idx, Upstream::Target(Difficulty::parse("1e-10").unwrap()));
        self.pool(idx, Upstream::Job(Box::new(template("j1", 1, true))));
    }

    fn miner_ev(&mut self, id: MinerId, ev: Downstream<'_>) {
        self.core.handle_miner(id, ev, self.now);
    }

    /// A miner that subscribes and authorizes.
    fn miner(&mut self, addr: &str) -> MinerId {
        let a: SocketAddr = addr.parse().unwrap();
        let id = self.core.miner_connected(a, self.now).unwrap();
        self.miner_ev(
            id,
            Downstream::Subscribe {
                req: "1",
                agent: None,
            },
        );
        self.miner_ev(
            id,
            Downstream::Authorize {
                req: "2",
                user: "w",
            },
        );
        id
    }

    fn tick_to(&mut self, t: u64) {
        while self.now < t {
            self.now = (self.now + 1000).min(t);
            self.core.tick(self.now);
        }
    }
}

/// Jobs (our id, job, extranonce2 size) sent to `miner` in `actions`.
fn notifies(actions: &[Action], miner: MinerId) -> Vec<(u32, Rc<Job>, usize)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Miner(
                m,
                ToMiner::Notify {
                    id, job, e2_size, ..
                },
            ) if *m == miner => Some((*id, job.clone(), *e2_size)),
            _ => None,
        })
        .collect()
}

fn every_job_fits(actions: &[Action]) -> bool {
    actions.iter().all(|a| match a {
        Action::Miner(_, ToMiner::Notify { job, e2_size, .. }) => job.fits(*e2_size),
        _ => true,
    })
}

#[test]
fn test_working_miner_without_pool_gets_keepalive_after_55s() {
    let mut w = World::one_pool();
    let id = w.miner("127.0.0.1:9");
    w.tick_to(5_000);
    w.drain();
    w.tick_to(5_000 + KEEPALIVE_MS);
    let sent = w.drain();
    assert!(
        sent.iter()
            .any(|a| matches!(a, Action::Miner(m, ToMiner::SetDifficulty(_)) if *m == id)),
        "keepalive sent"
    );
    w.tick_to(6_000 + KEEPALIVE_MS);
    assert!(
        w.drain().iter().all(|a| !matches!(a, Action::Miner(..))),
        "not again at once"
    );
}

#[test]
fn test_subscribed_miner_silent_for_idle_timeout_is_closed() {
    let mut w = World::one_pool();
    let id = w.miner("127.0.0.1:9");
    w.tick_to(599_000);
    w.miner_ev(id, Downstream::Received { bytes: 10 });
    w.tick_to(1_198_000);
    assert!(!w
        .drain()
        .iter()
        .any(|a| matches!(a, Action::Miner(m, ToMiner::Close) if *m == id)));
    w.tick_to(1_201_000);
    assert!(w
        .drain()
        .iter()
        .any(|a| matches!(a, Action::Miner(m, ToMiner::Close) if *m == id)));
}

#[test]
fn test_full_table_refuses_and_counts() {
    let mut w = World::new(
        r#"{"pools":[{"url":"stratum+tcp://127.0.0.1:1","user":"u"}],"miners":{"max":2}}"#,
    );
    let a: SocketAddr = "127.0.0.1:9".parse().unwrap();
    assert!(w.core.miner_connected(a, 0).is_ok());
    assert!(w.core.miner_connected(a, 0).is_ok());
    assert_eq!(w.core.miner_connected(a, 0), Err(Refused::TableFull));
    assert_eq!(w.core.refused(), 1);
}

#[test]
fn test_one_address_past_its_limit_is_refused_others_admitted() {
    let mut w = World::new(
        r#"{"pools":[{"url":"stratum+tcp://127.0.0.1:1","user":"u"}],"miners":{"max":8,"max_per_address":2}}"#,
    );
    let a: SocketAddr = "192.168.1.20:4000".parse().unwrap();
    let b: SocketAddr = "192.168.1.21:4000".parse().unwrap();
    assert!(w.core.miner_connected(a, 0).is_ok());
    assert!(w.core.miner_connected(a, 0).is_ok());
    assert_eq!(
        w.core.miner_connected(a, 0),
        Err(Refused::TooManyFromAddress)
    );
    assert!(
        w.core.miner_connected(b, 0).is_ok(),
        "another address still gets in"
    );
    assert_eq!(w.core.refused(), 1);
}

#[test]
fn test_tags_are_unique_and_not_reused_at_once() {
    let mut w = World::one_pool();
    let a: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let id1 = w.core.miner_connected(a, 0).unwrap();
    let t1 = w.core.miners()[0].tag;
    w.miner_ev(id1, Downstream::Gone { why: "test" });
    w.core.miner_connected(a, 0).unwrap();
    assert_ne!(
        w.core.miners()[0].tag,
        t1,
        "a freed tag is not handed out again at once"
    );
}

#[test]
fn test_connected_subscribe_before_any_pool_is_answered_when_the_pool_reports_its_size() {
    let mut w = World::one_pool();
    let id = w.miner("127.0.0.1:9");
    let early = w.drain();
    assert!(
        !early.iter().any(|a| matches!(
            a,
            Action::Miner(
                _,
                ToMiner::Reply {
                    answer: Answer::Subscribe { .. },
                    ..
                }
            )
        )),
        "subscribe waits for a pool"
    );
    w.pool_up(0, &[0xaa, 0xbb], 8);
    let later = w.drain();
    let sub = later.iter().find_map(|a| match a {
        Action::Miner(
            m,
            ToMiner::Reply {
                answer: Answer::Subscribe { e2_size, .. },
                ..
            },
        ) if *m == id => Some(*e2_size),
        _ => None,
    });
    assert_eq!(sub, Some(4), "sized for the pool's extranonce2 of 8");
    assert_eq!(notifies(&later, id).len(), 1, "and given the pool's job");
}

#[test]
fn test_connected_subscribe_with_no_pool_is_answered_after_the_wait() {
    let mut w = World::one_pool();
    let id = w.miner("127.0.0.1:9");
    w.tick_to(POOL_WAIT_MS - 1000);
    assert!(w.drain().is_empty() || w.core.miners()[0].deferred.len() == 1);
    w.tick_to(POOL_WAIT_MS + 1000);
    let a = w.drain();
    assert!(a.iter().any(|a| matches!(a, Action::Miner(m, ToMiner::Reply { answer: Answer::Subscribe { e2_size: 4, .. }, .. }) if *m == id)));
}

/// The crash of issue 13: a pool raises its extranonce2 size with `mining.set_extranonce`; a
/// miner that arrives afterwards is sized for the new size and must never get the pool's old
/// job (its padding would underflow). It waits for the pool's next job, which fits.
#[test]
fn test_live_pool_extranonce_grows_new_miner_never_gets_the_old_job() {
    let mut w = World::one_pool();
    w.pool_up(0, &[0xaa], 4); // miners get extranonce2 size 2
    let first = w.miner("127.0.0.1:9");
    let a = w.drain();
    assert_eq!(notifies(&a, first)[0].2, 2);
    w.pool(
        0,
        Upstream::Extranonce {
            prefix: &[0xcc],
            e2_size: 8,
        },
    );
    let second = w.miner("127.0.0.2:9");
    w.tick_to(10_000);
    w.pool(0, Upstream::Job(Box::new(template("j2", 1, false))));
    w.tick_to(20_000);
    let a = w.drain();
    assert!(every_job_fits(&a), "a job that does not fit was handed out");
    let got = notifies(&a, second);
    assert!(!got.is_empty(), "the new miner gets the pool's next job");
    assert!(got
        .iter()
        .all(|(_, j, e2)| *e2 == 4 && j.origin.extranonce2_size == 8));
    assert_eq!(
        w.core
            .miners()
            .iter()
            .find(|m| m.id == second)
            .unwrap()
            .e2_size,
        4
    );
    // The first miner (size 2) fits the new space too.
    assert!(notifies(&a, first)
        .iter()
        .all(|(_, j, _)| j.origin.extranonce2_size == 8));
}

#[test]
fn test_live_pool_extranonce_changes_old_jobs_shares_are_stale() {
    let mut w = World::one_pool();
    w.pool_up(0, &[0xaa], 8);
    let id = w.miner("127.0.0.1:9");
    let a = w.drain();
    let (job_id, _, _) = notifies(&a, id)[0].clone();
    w.pool(
        0,
        Upstream::Extranonce {
            prefix: &[0xcc],
            e2_size: 8,
        },
    );
    let share = MinerShare {
        job: Some(job_id),
        extranonce2: Some(&[0, 0, 0, 1]),
        ntime: 0x6500_0000,
        nonce: 7,
        version_bits: None,
        #[cfg(feature = "sim")]
        sim_hash: None,
    };
    w.miner_ev(id, Downstream::Submit { req: "9", share });
    let a = w.drain();
    assert!(a.iter().any(|a| matches!(
        a,
        Action::Miner(
            _,
            ToMiner::Reply {
                answer: Answer::Refused(Refusal::Stale),
                ..
            }
        )
    )));
    assert!(!a
        .iter()
        .any(|a| matches!(a, Action::Pool(_, ToPool::Submit(_)))));
}

#[test]
fn test_live_pool_share_forwarded_then_books_balance_through_verdicts_and_loss() {
    let mut w = World::one_pool();
    w.pool_up(0, &[0xaa], 8);
    let id = w.miner("127.0.0.1:9");
    let (job_id, _, _) = notifies(&w.drain(), id)[0].clone();
    let mut ids = Vec::new();
    for n in 0..5u32 {
        let e2 = n.to_be_bytes();
        let share = MinerShare {
            job: Some(job_id),
            extranonce2: Some(&e2),
            ntime: 0x6500_0000,
            nonce: n,
            version_bits: None,
            #[cfg(feature = "sim")]
            sim_hash: None,
        };
        w.miner_ev(id, Downstream::Submit { req: "9", share });
        for a in w.drain() {
            if let Action::Pool(0, ToPool::Submit(s)) = a {
                assert_eq!(s.extranonce2.len(), 8);
                ids.push(s.id);
            }
        }
    }
    assert_eq!(ids.len(), 5, "every share met the tiny pool target");
    w.pool(
        0,
        Upstream::Verdict {
            id: ids[0],
            accepted: true,
            reason: "",
        },
    );
    w.pool(
        0,
        Upstream::Verdict {
            id: ids[1],
            accepted: false,
            reason: "low",
        },
    );
    w.pool(
        0,
        Upstream::Verdict {
            id: ids[1],
            accepted: true,
            reason: "",
        },
    ); // again: ignored
    w.pool(
        0,
        Upstream::Verdict {
            id: 99_999,
            accepted: true,
            reason: "",
        },
    ); // never sent
    w.pool(
        0,
        Upstream::Lost {
            why: "gone",
            retry_after_ms: None,
        },
    );
    let p = &w.core.pools()[0];
    let s = &p.shares;
    assert_eq!((s.forwarded, s.accepted, s.rejected, s.lost), (5, 1, 1, 3));
    assert_eq!(p.unknown_answers, 2);
    let m = &w.core.miners()[0].shares;
    assert_eq!((m.forwarded, m.accepted, m.rejected, m.lost), (5, 1, 1, 3));
}

#[test]
fn test_live_pool_lost_miners_fail_over_to_the_next_by_priority() {
    let mut w = World::new(
        r#"{"pools":[{"name":"a","url":"stratum+tcp://127.0.0.1:1","user":"u","priority":1},
                     {"name":"b","url":"stratum+tcp://127.0.0.1:2","user":"u","priority":2}]}"#,
    );
    w.pool_up(0, &[0xaa], 8);
    w.pool_up(1, &[0xbb], 8);
    let id = w.miner("127.0.0.1:9");
    assert_eq!(notifies(&w.drain(), id)[0].1.origin.pool, 0);
    w.pool(
        0,
        Upstream::Lost {
            why: "gone",
            retry_after_ms: Some(5_000),
        },
    );
    let a = w.drain();
    assert_eq!(notifies(&a, id).last().unwrap().1.origin.pool, 1);
    assert_eq!(w.core.pool_retry_at(0), Some(5_000));
}

#[test]
fn test_live_pool_silent_past_job_timeout_is_closed_with_its_reason() {
    let mut w = World::one_pool();
    w.pool_up(0, &[0xaa], 8);
    w.drain();
    w.tick_to(181_000);
    assert!(w
        .drain()
        .iter()
        .any(|a| matches!(a, Action::Pool(0, ToPool::Close))));
    w.pool(
        0,
        Upstream::Lost {
            why: "closed by the proxy",
            retry_after_ms: None,
        },
    );
    assert_eq!(
        w.core.pools()[0].last_error.as_str(),
        "no new job for 180 s"
    );
}

#[test]
fn test_pool_with_unusable_extranonce_is_closed_and_never_takes_miners() {
    let mut w = World::one_pool();
    w.pool(0, Upstream::Connecting);
    w.pool(0, Upstream::Connected { encrypted: false });
    w.pool(
        0,
        Upstream::Extranonce {
            prefix: &[1],
            e2_size: 3,
        },
    );
    assert!(w
        .drain()
        .iter()
        .any(|a| matches!(a, Action::Pool(0, ToPool::Close))));
    w.pool(
        0,
        Upstream::Extranonce {
            prefix: &[1],
            e2_size: usize::MAX,
        },
    );
    w.pool(0, Upstream::Job(Box::new(template("j", 1, true))));
    assert!(
        w.core.pools()[0].job.is_none(),
        "no job without a usable extranonce"
    );
}

/// (job serial, copy) of every notify to `miner`.
fn work_given(actions: &[Action], miner: MinerId) -> Vec<(u64, u32)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Miner(m, ToMiner::Notify { job, variant, .. }) if *m == miner => {
                Some((job.origin.serial, variant.0))
            }
            _ => None,
        })
        .collect()
}

fn share<'a>(job: u32, e2: &'a [u8], ntime: u32, nonce: u32) -> MinerShare<'a> {
    MinerShare {
        job: Some(job),
        extranonce2: Some(e2),
        ntime,
        nonce,
        version_bits: None,
        #[cfg(feature = "sim")]
        sim_hash: None,
    }
}

#[test]
fn test_working_miner_retargets_keepalives_and_moves_back_always_get_new_work() {
    for pool_e2 in [8, 6] {
        // 8: two padding bytes to vary; 6 (miner 4 bytes): none, the ntime moves instead.
        let mut w = World::new(
            r#"{"pools":[{"name":"a","url":"stratum+tcp://127.0.0.1:1","user":"u","weight":50},
                         {"name":"b","url":"stratum+tcp://127.0.0.1:2","user":"u","weight":50}],
                "miners":{"start_difficulty":1e-10,"min_difficulty":1e-10,"max_difficulty":1},
                "split":{"min_dwell_secs":5,"hysteresis_secs":1},
                "failover":{"job_timeout_secs":3600}}"#,
        );
        w.pool_up(0, &[0xaa], pool_e2);
        w.pool_up(1, &[0xbb], pool_e2);
        let id = w.miner("127.0.0.1:9");
        let mut all = w.drain();
        let mut nonce = 0;
        // Almost an hour with a share every few seconds (vardiff retargets up), no new pool jobs
        // (keepalives re-send the same pool jobs), and a 50/50 split moving the miner back
        // and forth between the two pools' unchanged jobs.
        for t in (1_000..3_500_000u64).step_by(1_000) {
            w.now = t;
            if t % 4_000 == 0 {
                let sent = notifies(&all, id);
                let (job_id, job, _) = sent.last().unwrap().clone();
                nonce += 1;
                let e2 = [0, 0, 0, nonce as u8];
                w.miner_ev(id, Downstream::Received { bytes: 100 });
                w.miner_ev(
                    id,
                    Downstream::Submit {
                        req: "7",
                        share: share(job_id, &e2, job.ntime + 5, nonce),
                    },
                );
            }
            w.core.tick(t);
            all.extend(w.drain());
        }
        let given = work_given(&all, id);
        let distinct: std::collections::HashSet<_> = given.iter().collect();
        assert!(given.len() > 40, "{} notifies", given.len());
        assert_eq!(
            distinct.len(),
            given.len(),
            "some work was handed out twice (pool e2 {pool_e2})"
        );
        assert!(given.iter().any(|(_, v)| *v > 0), "copies were needed");
        assert!(every_job_fits(&all));
        assert_eq!(w.core.miners()[0].shares.duplicate, 0);
    }
}

#[test]
fn test_live_pool_flooding_jobs_reaches_each_miner_at_most_once_a_second_with_the_latest() {
    let mut w = World::one_pool();
    w.pool_up(0, &[0xaa], 8);
    let id = w.miner("127.0.0.1:9");
    w.drain();
    w.now = 2_000;
    for n in 0..500 {
        w.now += 2; // 500 jobs in one second
        w.pool(
            0,
            Upstream::Job(Box::new(template(&format!("f{n}"), 1, false))),
        );
    }
    let burst = w.drain();
    assert!(
        notifies(&burst, id).len() <= 1,
        "{} notifies in the burst",
        notifies(&burst, id).len()
    );
    w.now += 1_000;
    w.core.tick(w.now);
    let after = w.drain();
    let last = notifies(&after, id);
    assert_eq!(last.len(), 1);
    assert_eq!(
        last[0].1.id,
        PoolJobId::Text(heapless::String::try_from("f499").unwrap()),
        "the latest job"
    );
    assert!(w.core.pools()[0].last_error.contains("jobs a second"));
}

#[test]
fn test_live_pool_absurd_difficulty_keeps_miners_at_the_floor_and_says_so_once() {
    let mut w = World::new(
        r#"{"pools":[{"url":"stratum+tcp://127.0.0.1:1","user":"u"}],
            "miners":{"start_difficulty":1,"min_difficulty":0.001}}"#,
    );
    w.pool_up(0, &[0xaa], 8); // pool_up asks 1e-10, below the floor of 0.001
    let id = w.miner("127.0.0.1:9");
    let a = w.drain();
    let floor = Difficulty::parse("0.0625").unwrap(); // vardiff 1 / 16
    let d = a.iter().find_map(|a| match a {
        Action::Miner(m, ToMiner::SetDifficulty(d)) if *m == id => Some(*d),
        _ => None,
    });
    assert_eq!(d, Some(floor));
    assert!(w.core.pools()[0]
        .last_error
        .contains("below miners.min_difficulty"));
    let err = w.core.pools()[0].last_error.clone();
    w.pool(0, Upstream::Target(Difficulty(1)));
    assert_eq!(w.core.pools()[0].last_error, err, "said once");
}

#[test]
fn test_working_miner_ntime_before_the_job_or_hours_ahead_is_refused() {
    let mut w = World::one_pool();
    w.pool_up(0, &[0xaa], 8);
    let id = w.miner("127.0.0.1:9");
    let (job_id, job, _) = notifies(&w.drain(), id)[0].clone();
    for (ntime, ok) in [
        (job.ntime - 1, false),
        (job.ntime + 7_200, false),
        (job.ntime + 60, true),
    ] {
        w.miner_ev(
            id,
            Downstream::Submit {
                req: "5",
                share: share(job_id, &[0, 0, 0, 9], ntime, ntime),
            },
        );
        let refused = w.drain().iter().any(|a| {
            matches!(
                a,
                Action::Miner(
                    _,
                    ToMiner::Reply {
                        answer: Answer::Refused(Refusal::NtimeOutOfRange),
                        ..
                    }
                )
            )
        });
        assert_eq!(refused, !ok, "ntime {ntime}");
    }
}

/// Log lines at info and above written by this thread (a capture logger, installed once).
mod capture {
    use std::cell::RefCell;

    thread_local! {
        static LINES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= log::Level::Info
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                LINES.with(|l| l.borrow_mut().push(format!("{} {}", r.level(), r.args())));
            }
        }
        fn flush(&self) {}
    }

    static CAPTURE: Capture = Capture;

    pub fn start() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let _ = log::set_logger(&CAPTURE);
            log::set_max_level(log::LevelFilter::Info);
        });
        LINES.with(|l| l.borrow_mut().clear());
    }

    pub fn lines() -> Vec<String> {
        LINES.with(|l| l.borrow().clone())
    }
}

#[test]
fn test_down_pool_failing_all_day_fits_a_few_hundred_log_lines() {
    capture::start();
    let mut w = World::one_pool();
    w.pool_up(0, &[0xaa], 8);
    let _m = w.miner("127.0.0.1:9");
    w.pool(
        0,
        Upstream::Lost {
            why: "connection reset",
            retry_after_ms: None,
        },
    );
    let day = 24 * 3_600_000;
    let mut attempts = 0;
    while w.now < day {
        let at = w.core.pool_retry_at(0).unwrap();
        w.tick_to(at);
        w.pool(0, Upstream::Connecting);
        w.now += 10_000;
        w.pool(
            0,
            Upstream::Lost {
                why: "cannot connect: connection refused",
                retry_after_ms: None,
            },
        );
        attempts += 1;
    }
    let lines = capture::lines();
    assert!(attempts > 1_000, "{attempts} attempts");
    assert!(
        lines.len() < 300,
        "{} lines for {attempts} attempts: {:?}",
        lines.len(),
        &lines[..20.min(lines.len())]
    );
    assert!(
        lines.iter().any(|l| l.contains("still down")),
        "{:?}",
        &lines[..10.min(lines.len())]
    );
}

#[test]
fn test_connected_declared_hashrate_sets_starting_difficulty_and_estimate() {
    let mut w = World::new(
        r#"{"pools":[{"url":"stratum+tcp://127.0.0.1:1","user":"u"}],
            "miners":{"start_difficulty":0.001,"min_difficulty":1e-6,"max_difficulty":1e9,"shares_per_min":6}}"#,
    );
    w.pool_up(0, &[1, 2, 3, 4], 8);
    w.pool(0, Upstream::Target(Difficulty::parse("1000000").unwrap()));
    w.pool(0, Upstream::Job(Box::new(template("j2", 2, true))));
    w.drain();
    let a: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let id = w.core.miner_connected(a, w.now).unwrap();
    // 1 TH/s at 6 shares a minute: 1e12 · 60 / (6 · 2^32) ≈ 2328.3.
    w.miner_ev(id, Downstream::Hashrate(1_000_000_000_000));
    w.miner_ev(
        id,
        Downstream::Subscribe {
            req: "1",
            agent: None,
        },
    );
    w.miner_ev(
        id,
        Downstream::Authorize {
            req: "2",
            user: "w",
        },
    );
    let sent = w.drain();
    let d = sent
        .iter()
        .find_map(|a| match a {
            Action::Miner(m, ToMiner::SetDifficulty(d)) if *m == id => Some(*d),
            _ => None,
        })
        .expect("a difficulty before the first job");
    assert_eq!(d.whole(), 2328, "{d}");
    w.tick_to(w.now + 1_000);
    let m = w.core.miners().iter().find(|m| m.id == id).unwrap();
    assert_eq!(
        m.hashrate, 1_000_000_000_000,
        "declared until shares measure it"
    );
}

#[test]
fn test_live_pool_without_version_rolling_miner_asking_for_it_mines_without() {
    let mut w = World::one_pool();
    w.pool(0, Upstream::Connecting);
    w.pool(0, Upstream::Connected { encrypted: false });
    w.pool(0, Upstream::VersionMask(None));
    w.pool(
        0,
        Upstream::Extranonce {
            prefix: &[1, 2, 3, 4],
            e2_size: 8,
        },
    );
    w.pool(0, Upstream::Authorized);
    w.pool(0, Upstream::Job(Box::new(template("j1", 1, true))));
    w.drain();
    let a: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let id = w.core.miner_connected(a, w.now).unwrap();
    w.miner_ev(
        id,
        Downstream::Configure {
            req: "0",
            version_rolling: true,
            mask: WANTED_VERSION_MASK,
        },
    );
    w.miner_ev(
        id,
        Downstream::Subscribe {
            req: "1",
            agent: None,
        },
    );
    w.miner_ev(
        id,
        Downstream::Authorize {
            req: "2",
            user: "w",
        },
    );
    let sent = w.drain();
    assert!(sent.iter().any(|a| matches!(
        a,
        Action::Miner(m, ToMiner::Reply { answer: Answer::Configure(None), .. }) if *m == id
    )));
    assert_eq!(notifies(&sent, id).len(), 1, "the miner gets work");
}

#[test]
fn test_miners_connect_and_leave_log_lines_read_plainly() {
    capture::start();
    let mut w = World::one_pool();
    w.pool_up(0, &[1, 2, 3, 4], 8);
    let a: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let rolling = w.core.miner_connected(a, w.now).unwrap();
    w.miner_ev(
        rolling,
        Downstream::Configure {
            req: "0",
            version_rolling: true,
            mask: WANTED_VERSION_MASK,
        },
    );
    w.miner_ev(
        rolling,
        Downstream::Subscribe {
            req: "1",
            agent: None,
        },
    );
    w.miner_ev(
        rolling,
        Downstream::Authorize {
            req: "2",
            user: "w",
        },
    );
    let plain = w.miner("127.0.0.2:9");
    w.miner_ev(plain, Downstream::Gone { why: "closed" });
    let lines = capture::lines();
    let has = |s: &str| lines.iter().any(|l| l.contains(s));
    for expected in [
        "version rolling mask 1fffe000",
        ", 1 miner now)",
        "2 miners now",
        "version mask 1fffe000)",
        "no version rolling)",
        "(1 miner left)",
    ] {
        assert!(has(expected), "{expected:?} not in {lines:#?}");
    }
    for debug_text in ["Some(", "None", "1 miners"] {
        assert!(!has(debug_text), "{debug_text:?} in {lines:#?}");
    }
}

/// `n` distinct shares from miner `id` on job `job`; the ids the pool was sent.
fn submit_shares(w: &mut World, id: MinerId, job: u32, from: u32, n: u32) -> Vec<u64> {
    let mut sent = Vec::new();
    for k in from..from + n {
        let e2 = k.to_be_bytes();
        w.miner_ev(
            id,
            Downstream::Submit {
                req: "9",
                share: share(job, &e2, 0x6500_0000, k),
            },
        );
        for a in w.drain() {
            if let Action::Pool(0, ToPool::Submit(s)) = a {
                sent.push(s.id);
            }
        }
    }
    sent
}

#[test]
fn test_live_pool_congested_holds_its_miners_until_it_answers_none_lost() {
    use super::pool::{ANSWER_TIMEOUT_MS, CONGESTED, UNCONGESTED};
    let mut w = World::one_pool();
    w.pool_up(0, &[0xaa], 8);
    let id = w.miner("127.0.0.1:9");
    let (job, _, _) = notifies(&w.drain(), id)[0].clone();
    // Up to the mark the miner is read; at it, held back.
    let ids = submit_shares(&mut w, id, job, 0, CONGESTED as u32 - 1);
    assert_eq!(
        ids.len(),
        CONGESTED - 1,
        "every share met the tiny pool target"
    );
    assert!(w.core.may_read(id));
    let releases = w.core.releases();
    let ids = [ids, submit_shares(&mut w, id, job, 100_000, 1)].concat();
    assert!(!w.core.may_read(id), "{CONGESTED} shares await answers");
    // Answers bring it down; below the low mark the miner is read again.
    let answered = CONGESTED - UNCONGESTED;
    for &sid in &ids[..answered - 1] {
        let v = Upstream::Verdict {
            id: sid,
            accepted: true,
            reason: "",
        };
        w.pool(0, v);
    }
    assert!(!w.core.may_read(id), "hysteresis: not yet");
    w.pool(
        0,
        Upstream::Verdict {
            id: ids[answered - 1],
            accepted: true,
            reason: "",
        },
    );
    assert!(w.core.may_read(id));
    assert_ne!(
        w.core.releases(),
        releases,
        "the runtime is told to wake held miners"
    );
    let p = &w.core.pools()[0];
    assert_eq!((p.shares.accepted, p.shares.lost), (answered as u64, 0));

    // A pool that stays connected but stops answering: its shares are lost after the answer
    // timeout, and its miners are read again.
    submit_shares(&mut w, id, job, 200_000, (CONGESTED - UNCONGESTED) as u32);
    assert!(!w.core.may_read(id));
    let t0 = w.now;
    for step in 1..=ANSWER_TIMEOUT_MS / 10_000 {
        // Jobs keep coming, so the pool is not closed for silence.
        let j = Box::new(template(&format!("k{step}"), 1, false));
        w.pool(0, Upstream::Job(j));
        w.tick_to(t0 + step * 10_000);
    }
    assert!(w.core.may_read(id));
    let p = &w.core.pools()[0];
    let s = &p.shares;
    assert_eq!(s.lost, CONGESTED as u64, "every unanswered share, once");
    assert_eq!(
        s.forwarded,
        s.accepted + s.rejected + s.lost + p.inflight_count() as u64
    );
    assert_eq!(w.core.miners()[0].shares.lost, CONGESTED as u64);
}

#[test]
fn test_live_pool_congested_miner_it_holds_back_is_not_closed_as_idle() {
    use super::pool::CONGESTED;
    let mut w = World::new(
        r#"{"pools":[{"url":"stratum+tcp://127.0.0.1:1","user":"u"}],
            "miners":{"start_difficulty":1e-10,"min_difficulty":1e-10,"idle_timeout_secs":30}}"#,
    );
    w.pool_up(0, &[0xaa], 8);
    let id = w.miner("127.0.0.1:9");
    let (job, _, _) = notifies(&w.drain(), id)[0].clone();
    submit_shares(&mut w, id, job, 0, CONGESTED as u32);
    assert!(!w.core.may_read(id));
    w.drain();
    // 50 s of silence from the miner: it is silent because hashmux is not reading it.
    for step in 1..=5u64 {
        let j = Box::new(template(&format!("k{step}"), 1, false));
        w.pool(0, Upstream::Job(j));
        w.tick_to(step * 10_000);
    }
    let closed = w
        .drain()
        .iter()
        .any(|a| matches!(a, Action::Miner(m, ToMiner::Close) if *m == id));
    assert!(!closed, "a held-back miner is not idle");
    assert_eq!(w.core.miners().len(), 1);
}
