//! `cargo bench --bench split`: how well the weighted split holds its weights, closed loop
//! (the balanced preset) against open loop (PID gains zero: fixed weight targets, no
//! payback), as the product wires it: the real core driven in virtual time by
//! `sim::splitsim` (vardiff, hashrate estimates, failover masking, placement, PID, scheduler).
//!
//! Every row is 25 simulated hours with the product defaults: Nano-class miners, vardiff at 20
//! shares/min up to difficulty 4096, 180 s minimum dwell; pools at the difficulty in the `pool
//! d` column; the 30 % pool (B) optionally down from hour 2 to hour 3. Columns, each the
//! median over 5 fixed seeds:
//! - worst 6 h: largest error (percentage points of accepted work as the core credits it, any
//!   pool) over 6 h windows from hour 1, slid by 1 h (windows holding the outage included);
//! - 24 h: error of the split over hours [0, 24); `pool cr.`: the same for the work the
//!   pools credited (pool-difficulty shares accepted), closed loop;
//! - sw/h: switches per miner per hour, mean over miners (busiest miner in brackets).
//!
//! Then, for one 6 TH/s miner at 70/30 with the defaults, how soon the split is on target;
//! and the accuracy/switching trade-off of the dwell and of the vardiff rate, for that miner
//! and for the fleet of ten. Nothing is asserted (the thresholds are in tests/split_sim.rs).

use hashmux::sim::splitsim::{
    max_switches_per_hour, mean_switches_per_hour, run, split_error, split_of, split_over,
    stays_within_from, targets, trailing_errors, worst_window_error, Mode, SimPoolSpec, SimResult,
    SimSpec,
};
use std::time::Instant;

const TH: u64 = 1_000_000_000_000;
const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];
const HOURS: u64 = 25;

struct Row {
    name: String,
    miners: Vec<u64>,
    weights: &'static [u32],
    pool_d: f64,
    outage: bool,
    reject_ppm: u32,
}

fn spec(row: &Row, seed: u64, mode: Mode) -> SimSpec {
    let mut pools: Vec<SimPoolSpec> = row
        .weights
        .iter()
        .map(|&w| SimPoolSpec {
            difficulty: row.pool_d,
            ..SimPoolSpec::weighted(w)
        })
        .collect();
    if row.outage {
        pools[1].outages = vec![(2 * 3600, 3 * 3600)];
    }
    pools[1].reject_ppm = row.reject_ppm;
    SimSpec {
        seed,
        mode,
        ..SimSpec::new(&row.miners, pools, HOURS)
    }
}

/// Worst 6 h, 24 h, 24 h pool-credited, mean and max switches per miner-hour.
fn figures(r: &SimResult, s: &SimSpec) -> [f64; 5] {
    let t = targets(&s.pools);
    [
        worst_window_error(r, 360, 60, 60, &t),
        split_error(&split_over(r, 0, 24 * 60), &t),
        split_error(&split_of(&r.pool_accepted, 0, 24 * 60), &t),
        mean_switches_per_hour(r),
        max_switches_per_hour(r),
    ]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn medians<const N: usize>(runs: &[[f64; N]]) -> [f64; N] {
    std::array::from_fn(|k| median(runs.iter().map(|f| f[k]).collect()))
}

fn row_medians(row: &Row, mode: Mode) -> [f64; 5] {
    let runs: Vec<[f64; 5]> = SEEDS
        .iter()
        .map(|&seed| {
            let s = spec(row, seed, mode);
            figures(&run(&s), &s)
        })
        .collect();
    medians(&runs)
}

fn main_table(rows: &[Row]) {
    println!(
        "\n{:<38} {:>6} {:>15} {:>15} {:>7} {:>25}",
        "", "", "worst 6 h (pp)", "24 h (pp)", "24 h", "sw/miner/h mean (max)"
    );
    println!(
        "{:<38} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>12} {:>12}",
        "case", "pool d", "closed", "open", "closed", "open", "pool cr", "closed", "open"
    );
    for row in rows {
        let c = row_medians(row, Mode::ClosedLoop);
        let o = row_medians(row, Mode::OpenLoop);
        println!(
            "{:<38} {:>6} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>5.1} ({:>4.1}) {:>5.1} ({:>4.1})",
            row.name, row.pool_d, c[0], o[0], c[1], o[1], c[2], c[3], c[4], o[3], o[4]
        );
    }
}

fn minutes(m: Option<usize>) -> String {
    m.map_or(format!("never in {HOURS} h"), |m| m.to_string())
}

/// Longest run of consecutive minutes with an error within `tol`.
fn longest_within(e: &[f64], tol: f64) -> usize {
    let (mut best, mut run) = (0, 0);
    for &x in e {
        run = if x <= tol { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// How soon one 6 TH/s miner at 70/30 is on target, per seed: the trailing 1 h window (first
/// minute within 1 pp, share of minutes within after hour 1, longest stretch within) and the
/// split since the start (minute from which it stays within 1 pp).
fn settling() {
    let row = one_miner(16384.0, false, 0);
    println!("\none 6 TH/s miner, 70/30, defaults: reaching the target (minutes of virtual time)");
    println!(
        "{:>5} {:>16} {:>18} {:>18} {:>20} {:>13}",
        "seed",
        "1 h ≤ 1 pp first",
        "1 h ≤ 1 pp, h 1+",
        "longest 1 h ≤ 1",
        "total stays ≤ 1 pp",
        "sw in hour 1"
    );
    for &seed in &SEEDS {
        let s = spec(&row, seed, Mode::ClosedLoop);
        let r = run(&s);
        let t = targets(&s.pools);
        let hour = trailing_errors(&r, 60, &t);
        let total = trailing_errors(&r, usize::MAX, &t);
        let within =
            hour[60..].iter().filter(|&&e| e <= 1.0).count() as f64 / (hour.len() - 60) as f64;
        println!(
            "{seed:>5} {:>16} {:>17.0}% {:>18} {:>20} {:>13}",
            minutes(hour.iter().position(|&e| e <= 1.0).map(|i| i + 1)),
            within * 100.0,
            longest_within(&hour[60..], 1.0),
            minutes(stays_within_from(&total, 1.0)),
            r.first_hour_switches[0]
        );
    }
}

/// Accuracy against switching: dwell and vardiff rate, for one 6 TH/s miner and the fleet of
/// ten at 70/30, closed loop.
fn trade_off() {
    println!("\ndwell and vardiff rate, 70/30, closed loop (medians over seeds)");
    println!(
        "{:<44} {:>10} {:>7} {:>8} {:>14} {:>14}",
        "settings", "worst 6 h", "24 h", "1 h p90", "sw/h mean(max)", "B visit (min)"
    );
    let one = one_miner(16384.0, false, 0);
    let fleet = Row {
        miners: (1..=10).map(|k| k * TH).collect(),
        ..one_miner(16384.0, false, 0)
    };
    for (label, row, dwell, spm) in [
        ("1 miner, dwell 60 s", &one, Some(60), None),
        ("1 miner, dwell 180 s (default)", &one, None, None),
        ("1 miner, dwell 600 s", &one, Some(600), None),
        ("1 miner, dwell 180 s, 80 shares/min", &one, None, Some(80)),
        ("10 miners 1..10 TH/s, dwell 60 s", &fleet, Some(60), None),
        (
            "10 miners 1..10 TH/s, dwell 180 s (default)",
            &fleet,
            None,
            None,
        ),
    ] {
        let runs: Vec<[f64; 6]> = SEEDS
            .iter()
            .map(|&seed| {
                let mut s = spec(row, seed, Mode::ClosedLoop);
                s.split.min_dwell_secs = dwell;
                s.miner.shares_per_min = spm;
                s.miner.max_difficulty = spm.map(|_| 1024.0);
                let r = run(&s);
                let t = targets(&s.pools);
                let mut hour = trailing_errors(&r, 60, &t)[60..].to_vec();
                hour.sort_by(f64::total_cmp);
                let f = figures(&r, &s);
                // One miner: visits to B are half its switches; B gets 30 % of the time.
                let visit = HOURS as f64 * 60.0 * 0.3 / (r.switches[0] as f64 / 2.0).max(1.0);
                [f[0], f[1], hour[hour.len() * 9 / 10], f[3], f[4], visit]
            })
            .collect();
        let m = medians(&runs);
        let visit = if row.miners.len() == 1 {
            format!("{:.1}", m[5])
        } else {
            "-".into()
        };
        println!(
            "{label:<44} {:>10.2} {:>7.2} {:>8.2} {:>6.1} ({:>4.1}) {visit:>14}",
            m[0], m[1], m[2], m[3], m[4]
        );
    }
}

fn one_miner(pool_d: f64, outage: bool, reject_ppm: u32) -> Row {
    Row {
        name: String::new(),
        miners: vec![6 * TH],
        weights: &[70, 30],
        pool_d,
        outage,
        reject_ppm,
    }
}

fn main() {
    let fleet: Vec<u64> = (1..=10).map(|k| k * TH).collect();
    let three = vec![6 * TH, 4 * TH, TH];
    let mut rows = Vec::new();
    let mut add = |name: &str, miners: &[u64], weights: &'static [u32], pool_d, outage, rej| {
        rows.push(Row {
            name: name.to_string(),
            miners: miners.to_vec(),
            weights,
            pool_d,
            outage,
            reject_ppm: rej,
        })
    };
    add(
        "1 miner 6 TH/s, 70/30",
        &[6 * TH],
        &[70, 30],
        16384.0,
        false,
        0,
    );
    add("same, B down 1 h", &[6 * TH], &[70, 30], 16384.0, true, 0);
    add(
        "3 miners 6/4/1, 70/30",
        &three,
        &[70, 30],
        16384.0,
        false,
        0,
    );
    add("same, B down 1 h", &three, &[70, 30], 16384.0, true, 0);
    add(
        "3 miners 6/4/1, 50/30/20",
        &three,
        &[50, 30, 20],
        16384.0,
        false,
        0,
    );
    add(
        "10 miners 1..10 TH/s, 70/30",
        &fleet,
        &[70, 30],
        16384.0,
        false,
        0,
    );
    add("same, B down 1 h", &fleet, &[70, 30], 16384.0, true, 0);
    add(
        "1 miner 6 TH/s, 70/30, B rejects 10 %",
        &[6 * TH],
        &[70, 30],
        16384.0,
        false,
        100_000,
    );
    add(
        "1 miner 6 TH/s, 70/30",
        &[6 * TH],
        &[70, 30],
        1024.0,
        false,
        0,
    );
    add(
        "1 miner 6 TH/s, 70/30",
        &[6 * TH],
        &[70, 30],
        65536.0,
        false,
        0,
    );
    println!(
        "hashmux split bench: the real core in virtual time, {HOURS} h per run, product defaults, medians over seeds {SEEDS:?}"
    );
    let start = Instant::now();
    main_table(&rows);
    settling();
    trade_off();
    println!("\nall runs in {:.1} s", start.elapsed().as_secs_f64());
}
