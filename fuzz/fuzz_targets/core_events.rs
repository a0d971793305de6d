//! The core as a state machine: the input is a script of upstream events (any extranonce
//! sizes and prefixes, extranonce changes, jobs of any size, targets from 2^-32 to 2^32,
//! verdicts for known and unknown ids, disconnects), downstream events (any configure,
//! subscribe, authorize, submit fields; up to 256 miners), control calls and ticks.
//!
//! After every step: no panic; every job handed to a miner fits that miner's extranonce and
//! renders; every share sent to a pool carries exactly that pool job's extranonce2 size; per
//! pool forwarded = accepted + rejected + lost + in flight; the tables stay within their caps;
//! every action renders to a bounded number of bytes; nothing is left in the action queue.
#![no_main]

use hashmux::core::{Action, Core, Downstream, MinerId, MinerShare, ToMiner, ToPool, Upstream};
use hashmux::work::job::{JobTemplate, PoolJobId};
use hashmux::work::Difficulty;
use hashmux::{MAX_MINERS, MAX_POOLS};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

/// Bytes one action may render to: a notify carries two coinbase parts of ≤ 64 bytes here
/// and ≤ 32 branches; anything else is a short line or frame.
const MAX_ACTION_BYTES: usize = 8 * 1024;
const CONFIG: &[u8] = br#"{"pools":[
  {"name":"a","url":"stratum+tcp://127.0.0.1:1","user":"u","weight":70,"priority":1},
  {"name":"b","url":"stratum+tcp://127.0.0.1:2","user":"u","weight":30,"priority":2},
  {"name":"c","url":"stratum+tcp://127.0.0.1:3","user":"u","weight":0,"priority":3}],
 "miners":{"max":256,"max_per_address":256,"start_difficulty":1e-9,"min_difficulty":1e-9},
 "split":{"min_dwell_secs":1,"hysteresis_secs":1}}"#;

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

#[derive(Default)]
struct Seen {
    /// Miners alive, and the job ids each was sent (latest last).
    miners: Vec<(MinerId, Vec<u32>)>,
    /// Per miner, every (job serial, copy) it was given: each notify must be new work.
    work: std::collections::HashMap<MinerId, std::collections::HashSet<(u64, u32)>>,
    /// Share ids sent to each pool.
    submits: [Vec<u64>; MAX_POOLS],
}

fn template(b: &mut Bytes<'_>) -> Option<JobTemplate> {
    let flags = b.u8()?;
    let id = b.u32()?;
    let c1 = b.u8()? as usize % 65;
    let c2 = b.u8()? as usize % 65;
    let nb = (b.u8()? % 4) as usize;
    let mut branches = heapless::Vec::new();
    for i in 0..nb {
        let _ = branches.push([i as u8; 32]);
    }
    Some(JobTemplate {
        id: if flags & 1 == 0 {
            PoolJobId::Number(id)
        } else {
            PoolJobId::Text(heapless::String::try_from(format!("{id:x}").as_str()).unwrap())
        },
        prevhash: [flags >> 4; 32],
        coinb1: vec![0x11; c1].into(),
        coinb2: vec![0x22; c2].into(),
        branches,
        version: 0x2000_0000,
        nbits: 0x1d00_ffff,
        ntime: 0x6500_0000,
        clean: flags & 2 != 0,
    })
}

fn step(core: &mut Core, seen: &mut Seen, b: &mut Bytes<'_>, now: &mut u64) -> Option<()> {
    let op = b.u8()?;
    let p = (b.u8()? as usize) % MAX_POOLS;
    // The low five bits pick the event, the high three are its flags.
    match (op & 0x1f) % 22 {
        0 => core.handle_pool(p, Upstream::Connecting, *now),
        1 => core.handle_pool(
            p,
            Upstream::Connected {
                encrypted: op & 0x80 != 0,
            },
            *now,
        ),
        2 | 3 => {
            let len = b.u8()? as usize % 40;
            let e2 = match b.u8()? {
                250 => usize::MAX,
                251 => 1 << 40,
                n => n as usize % 40,
            };
            let prefix = b.take(len).to_vec();
            core.handle_pool(
                p,
                Upstream::Extranonce {
                    prefix: &prefix,
                    e2_size: e2,
                },
                *now,
            );
        }
        4 => core.handle_pool(p, Upstream::Authorized, *now),
        5 => {
            let m = b.u32()?;
            core.handle_pool(p, Upstream::VersionMask((m != 0).then_some(m)), *now)
        }
        6 => {
            // 2^-32 … 2^32 in steps of powers of two, plus raw values.
            let e = b.u8()?;
            let d = if e < 64 {
                Difficulty(1u64 << e)
            } else {
                Difficulty(b.u32()? as u64 * e as u64)
            };
            core.handle_pool(p, Upstream::Target(d), *now)
        }
        7 | 8 | 9 => {
            let t = template(b)?;
            core.handle_pool(p, Upstream::Job(Box::new(t)), *now)
        }
        10 => core.handle_pool(p, Upstream::BlockWithoutJob, *now),
        11 => {
            let pick = b.u8()? as usize;
            let id = match seen.submits[p].get(pick) {
                Some(id) => *id,
                None => b.u32()? as u64,
            };
            let accepted = op & 0x40 != 0;
            core.handle_pool(
                p,
                Upstream::Verdict {
                    id,
                    accepted,
                    reason: "fuzz",
                },
                *now,
            )
        }
        12 => {
            let first = b.u32()? as u64;
            let last = first + b.u8()? as u64;
            core.handle_pool(p, Upstream::AcceptedRange { first, last }, *now)
        }
        13 => {
            let retry = (op & 0x40 != 0).then_some(b.u8()? as u64 * 100);
            core.handle_pool(
                p,
                Upstream::Lost {
                    why: "fuzz",
                    retry_after_ms: retry,
                },
                *now,
            )
        }
        14 => {
            let n = b.u8()? as usize + 1;
            for k in 0..n.min(8) {
                let addr = SocketAddr::from(([127, 0, 0, (p * 8 + k) as u8], 4000));
                if let Ok(id) = core.miner_connected(addr, *now) {
                    seen.miners.push((id, Vec::new()));
                }
            }
        }
        15..=19 => {
            let Some(&(id, ref jobs)) =
                seen.miners.get(b.u8()? as usize % seen.miners.len().max(1))
            else {
                return Some(());
            };
            let ev_kind = (op & 0x1f) % 22;
            match ev_kind {
                15 => {
                    let mask = b.u32()?;
                    core.handle_miner(
                        id,
                        Downstream::Configure {
                            req: "1",
                            version_rolling: op & 0x40 != 0,
                            mask,
                        },
                        *now,
                    )
                }
                16 => core.handle_miner(
                    id,
                    Downstream::Subscribe {
                        req: "2",
                        agent: Some("fuzz"),
                    },
                    *now,
                ),
                17 => core.handle_miner(
                    id,
                    Downstream::Authorize {
                        req: "3",
                        user: "w",
                    },
                    *now,
                ),
                18 => {
                    let job = match jobs.len() {
                        0 => Some(b.u32()?),
                        n => Some(jobs[b.u8()? as usize % n]),
                    };
                    let e2len = b.u8()? as usize % 9;
                    let e2 = b.take(e2len).to_vec();
                    let nonce = b.u32()?;
                    let vb = b.u32()?;
                    let share = MinerShare {
                        job: if op & 0x40 != 0 { None } else { job },
                        extranonce2: (op & 0x20 == 0).then_some(&e2[..]),
                        ntime: 0x6500_0000,
                        nonce,
                        version_bits: (op & 0x80 != 0).then_some(vb),
                    };
                    core.handle_miner(id, Downstream::Submit { req: "4", share }, *now)
                }
                _ => {
                    if op & 0x40 != 0 {
                        core.handle_miner(id, Downstream::Gone { why: "fuzz" }, *now);
                        seen.miners.retain(|(m, _)| *m != id);
                        seen.work.remove(&id);
                    } else {
                        core.handle_miner(
                            id,
                            Downstream::Malformed {
                                submit: op & 0x20 != 0,
                            },
                            *now,
                        );
                    }
                }
            }
        }
        20 => {
            *now += b.u8()? as u64 * 1000 + 1;
            core.tick(*now);
        }
        _ => {
            let w = b.u8()? as u32 * 50;
            let _ = core.set_weights(&[("a", w), ("b", 10_000 - w.min(10_000))], *now);
            let _ = core.set_enabled("c", op & 0x40 != 0, *now);
            let _ = core.set_enabled("nope", true, *now);
        }
    }
    Some(())
}

fn check(core: &mut Core, seen: &mut Seen) {
    let mut buf = Vec::new();
    while let Some(a) = core.poll_action() {
        buf.clear();
        match &a {
            Action::Miner(id, msg) => {
                let m = core.miners().iter().find(|m| m.id == *id);
                if let ToMiner::Notify {
                    id: job_id,
                    job,
                    e2_size,
                    variant,
                    ..
                } = msg
                {
                    assert!(job.fits(*e2_size), "a job that does not fit was handed out");
                    assert!(job.notify_body(*e2_size, *variant).is_some());
                    let fresh = seen
                        .work
                        .entry(*id)
                        .or_default()
                        .insert((job.origin.serial, variant.0));
                    assert!(fresh, "miner {id} was given work it had before");
                    let m = m.expect("a notify for a miner that is gone");
                    assert_eq!(m.e2_size, *e2_size);
                    if let Some((_, jobs)) = seen.miners.iter_mut().find(|(x, _)| x == id) {
                        jobs.push(*job_id);
                        if jobs.len() > 16 {
                            jobs.remove(0);
                        }
                    }
                }
                hashmux::downstream::sv1::write(&mut buf, msg);
            }
            Action::Pool(idx, msg) => {
                if let ToPool::Submit(s) = msg {
                    assert_eq!(s.job.origin.pool, *idx);
                    assert_eq!(s.extranonce2.len(), s.job.origin.extranonce2_size);
                    seen.submits[*idx].push(s.id);
                    if seen.submits[*idx].len() > 64 {
                        seen.submits[*idx].remove(0);
                    }
                    hashmux::upstream::sv1::write_submit(&mut buf, "u", s);
                }
                hashmux::upstream::sv2::write(&mut buf, 7, msg);
            }
            Action::SaveStats => {}
        }
        assert!(
            buf.len() <= MAX_ACTION_BYTES,
            "an action rendered to {} bytes",
            buf.len()
        );
    }
    assert_eq!(core.pending_actions(), 0);
    assert_eq!(core.pools().len(), MAX_POOLS);
    assert!(core.miners().len() <= MAX_MINERS);
    for p in core.pools() {
        let s = &p.shares;
        assert_eq!(
            s.forwarded,
            s.accepted + s.rejected + s.lost + p.inflight_count() as u64,
            "pool {} books do not balance",
            p.idx
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let cfg = hashmux::ops::config::parse(CONFIG).expect("the fuzz config is valid");
    let mut core = Core::new(cfg, 0);
    let mut seen = Seen::default();
    let mut b = Bytes(data);
    let mut now = 0u64;
    while step(&mut core, &mut seen, &mut b, &mut now).is_some() {
        check(&mut core, &mut seen);
    }
    check(&mut core, &mut seen);
});
