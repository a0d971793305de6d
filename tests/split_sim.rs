//! The weighted split as the product wires it (vardiff, hashrate estimates, failover masking,
//! placement, PID, scheduler), in the virtual-time driver of the real core `sim::splitsim`:
//! accepted-work split per window, payback after an outage, rejecting pools, switching rate,
//! determinism. Product defaults throughout (balanced preset, 180 s dwell, vardiff at 20
//! shares/min up to 4096), pools at difficulty 16384. About a second per simulated day in a
//! debug build; the 5-seed figures are in `benches/split.rs`.
#![cfg(feature = "sim")]

use hashmux::sim::splitsim::{
    config_json, max_switches_per_hour, run, split_error, split_over, targets, worst_window_error,
    MinerSpec, Mode, Rng, SimPoolSpec, SimResult, SimSpec,
};
use hashmux::work::Difficulty;

const TH: u64 = 1_000_000_000_000;
const HOUR: usize = 60;

fn pools(weights: &[u32]) -> Vec<SimPoolSpec> {
    weights.iter().map(|&w| SimPoolSpec::weighted(w)).collect()
}

/// Worst error over 6 h windows, slid by 1 h, starting at `start_h`.
fn worst_6h(r: &SimResult, start_h: usize, s: &SimSpec) -> f64 {
    worst_window_error(r, 6 * HOUR, HOUR, start_h * HOUR, &targets(&s.pools))
}

fn open(s: &SimSpec) -> SimSpec {
    SimSpec {
        mode: Mode::OpenLoop,
        ..s.clone()
    }
}

#[test]
fn test_poisson_has_mean_and_variance_lambda() {
    let mut rng = Rng::new(1);
    for lambda in [0.3, 1.4, 40.0] {
        let n = 100_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.poisson(lambda) as f64).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            (mean / lambda - 1.0).abs() < 0.02,
            "λ {lambda}: mean {mean}"
        );
        assert!(
            (var / lambda - 1.0).abs() < 0.05,
            "λ {lambda}: variance {var}"
        );
    }
}

/// A simulated hash below a local target meets a 4× harder target a quarter of the time.
#[test]
fn test_sim_hash_meets_its_target_and_a_harder_one_in_proportion() {
    let mut rng = Rng::new(2);
    let local = Difficulty(4096 << 32).target();
    let pool = Difficulty(16384 << 32).target();
    let n = 40_000;
    let mut hits = 0;
    for _ in 0..n {
        let h = rng.below(&local);
        assert!(local.is_met_by(&h));
        hits += pool.is_met_by(&h) as u32;
    }
    let p = hits as f64 / n as f64;
    assert!((p - 0.25).abs() < 0.01, "{p}");
}

/// Open loop is the same core with zero gains, which the config accepts.
#[test]
fn test_open_and_closed_loop_configs_are_accepted() {
    let mut s = SimSpec::new(&[TH], pools(&[70, 30]), 1);
    s.split.min_dwell_secs = Some(60);
    s.miner = MinerSpec {
        max_difficulty: Some(1024.0),
        ..MinerSpec::default()
    };
    let c = hashmux::ops::config::parse(config_json(&s).as_bytes()).unwrap();
    assert_eq!((c.split.gains.kp, c.split.min_dwell_secs), (500, 60));
    assert_eq!(c.miners.max_difficulty, Difficulty(1024 << 32));
    let c = hashmux::ops::config::parse(config_json(&open(&s)).as_bytes()).unwrap();
    assert_eq!(
        (c.split.gains.kp, c.split.gains.ki, c.split.gains.kd),
        (0, 0, 0)
    );
}

/// One pool, one 6 TH/s miner for an hour: the work the core credits is the miner's
/// hashrate, the pool sees D_local/D_pool of the shares, nothing is refused, lost or switched.
#[test]
fn test_one_pool_credits_the_miners_work() {
    let r = run(&SimSpec::new(&[6 * TH], pools(&[1]), 1));
    assert_eq!(
        (r.switches[0], r.refused, r.lost, r.miner_closes),
        (0, 0, 0, 0)
    );
    let expected = 6e12 * 3600.0;
    let work: i64 = r.accepted[0].iter().sum();
    assert!(
        (work as f64 / expected - 1.0).abs() < 0.06,
        "{work} vs {expected}"
    );
    let pool: i64 = r.pool_accepted[0].iter().sum();
    assert!(
        (pool as f64 / expected - 1.0).abs() < 0.2,
        "{pool} vs {expected}"
    );
}

#[test]
fn test_one_miner_70_30_every_6h_window_within_1pp() {
    let s = SimSpec::new(&[6 * TH], pools(&[70, 30]), 25);
    let r = run(&s);
    let worst = worst_6h(&r, 1, &s);
    eprintln!(
        "one miner: worst 6 h {worst:.2} pp, switches {:?}",
        r.switches
    );
    assert!(worst < 1.0, "worst 6 h window off by {worst:.2} pp");
}

#[test]
fn test_three_miners_50_30_20_every_6h_window_within_1pp() {
    let s = SimSpec::new(&[6 * TH, 4 * TH, TH], pools(&[50, 30, 20]), 25);
    let r = run(&s);
    let worst = worst_6h(&r, 1, &s);
    eprintln!(
        "three miners: worst 6 h {worst:.2} pp, switches {:?}",
        r.switches
    );
    assert!(worst < 1.0, "worst 6 h window off by {worst:.2} pp");
}

/// B (30 %) is down from hour 2 to hour 3. The split over the first 24 h — outage included —
/// is back within 1 pp of 70/30 (the missed hour is paid back), and while paying back A keeps
/// ≥ 50 % of every 1 h window (slid by 1 min). Open loop leaves B short: nominally 1.25 pp,
/// measured 0.6–0.9 pp over seeds 1–8, because the scheduler already gives a lone miner's
/// short visits to B ≈ 0.45 pp more than 30 % (README, "Split accuracy").
#[test]
fn test_outage_of_30_pool_debt_paid_back_without_starving_a() {
    let mut p = pools(&[70, 30]);
    p[1].outages = vec![(2 * 3600, 3 * 3600)];
    let s = SimSpec::new(&[6 * TH], p, 25);
    let r = run(&s);
    let t = targets(&s.pools);
    let day = split_error(&split_over(&r, 0, 24 * HOUR), &t);
    let lowest_a = (3 * HOUR..=24 * HOUR)
        .map(|m| split_over(&r, m, m + HOUR)[0])
        .fold(1.0, f64::min);
    let open_b = split_over(&run(&open(&s)), 0, 24 * HOUR)[1];
    eprintln!("outage: 24 h {day:.2} pp (open B {open_b:.4}), A at least {lowest_a:.3}");
    assert!(day < 1.0, "24 h split off by {day:.2} pp");
    assert!(
        lowest_a >= 0.5,
        "A got {:.1} % in some hour",
        lowest_a * 100.0
    );
    assert_eq!(r.lost, 0, "miners leave a lost pool at once");
    assert!(
        open_b < 0.295,
        "outage should leave open loop's B > 0.5 pp short: {open_b:.4}"
    );
}

/// B (30 %) rejects 10 % of shares: the split of *accepted* work still converges (open loop
/// lands ≈ 2.2 pp short: 27/97).
#[test]
fn test_rejecting_pool_accepted_split_converges_within_1pp() {
    let mut p = pools(&[70, 30]);
    p[1].reject_ppm = 100_000;
    let s = SimSpec::new(&[6 * TH], p, 26);
    let worst = worst_6h(&run(&s), 2, &s);
    let open_worst = worst_6h(&run(&open(&s)), 2, &s);
    eprintln!("rejecting: worst 6 h {worst:.2} pp (open {open_worst:.2})");
    assert!(worst < 1.0, "worst 6 h window off by {worst:.2} pp");
    assert!(open_worst > 1.0, "open loop should miss");
}

/// Bound: no miner switches more than 20 times an hour on average (one every 3 minutes: each
/// visit shows a pool on/off hashrate). Checked over 8 h (first hour included) for one miner,
/// 3 miners 50/30/20 and 10 miners of 1..10 TH/s at 70/30; 24 h figures are in the bench.
#[test]
fn test_switches_per_miner_stay_at_most_20_per_hour() {
    let fleet: Vec<u64> = (1..=10).map(|k| k * TH).collect();
    for (miners, weights) in [
        (&[6 * TH][..], &[70, 30][..]),
        (&[6 * TH, 4 * TH, TH][..], &[50, 30, 20][..]),
        (&fleet[..], &[70, 30][..]),
    ] {
        let r = run(&SimSpec::new(miners, pools(weights), 8));
        let rate = max_switches_per_hour(&r);
        eprintln!(
            "{} miners: {rate:.1} switches/h {:?}",
            miners.len(),
            r.switches
        );
        assert!(
            rate <= 20.0,
            "{} miners: {rate:.1} switches/h ({:?})",
            miners.len(),
            r.switches
        );
    }
}

#[test]
fn test_same_seed_gives_identical_results() {
    let mut p = pools(&[50, 30, 20]);
    p[1].outages = vec![(3600, 5400)];
    p[2].reject_ppm = 50_000;
    let s = SimSpec::new(&[6 * TH, 4 * TH, TH], p, 3);
    let a = run(&s);
    assert_eq!(a, run(&s));
    let other = run(&SimSpec { seed: 8, ..s });
    assert_ne!(
        a.accepted, other.accepted,
        "a different seed, different luck"
    );
}
