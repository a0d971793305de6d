//! `cargo bench --bench split`: how well the weighted split holds its weights, closed loop
//! (PID + scheduler) against open loop (scheduler on fixed weight targets), in the
//! virtual-clock harness `sim::splitsim`.
//!
//! Each row is 25 simulated hours at local difficulty 1024, optionally with the 30 % pool (B)
//! down from hour 2 to hour 3. Columns, each the median over 5 fixed seeds:
//! - worst 6 h: largest error (percentage points, any pool) over 6 h windows from hour 1,
//!   slid by 1 h (windows holding the outage included);
//! - 24 h: error of the split over hours [0, 24);
//! - sw/h: switches per miner per hour, mean over miners (busiest miner in brackets).
//!
//! Two tables: the defaults (which the tests use), and the same with a 60 s minimum dwell
//! to show the accuracy/switching trade-off. Nothing is asserted.

use hashmux::sim::splitsim::{
    max_switches_per_hour, mean_switches_per_hour, run, split_error, split_over, targets,
    worst_window_error, Mode, SimPoolSpec, SimResult, SimSpec,
};
use hashmux::core::split::pid::PidSettings;
use hashmux::core::split::scheduler::SchedSettings;
use std::time::Instant;

const TH: u64 = 1_000_000_000_000;
const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];

struct Row {
    name: &'static str,
    miners: Vec<u64>,
    weights: &'static [u32],
    outage: bool,
}

/// Figures of one run: worst 6 h error, 24 h error, mean and max switches per miner-hour.
fn figures(r: &SimResult, s: &SimSpec) -> [f64; 4] {
    let t = targets(&s.pools);
    [
        worst_window_error(r, 360, 60, 60, &t),
        split_error(&split_over(r, 0, 24 * 60), &t),
        mean_switches_per_hour(r),
        max_switches_per_hour(r),
    ]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Medians over the seeds of each figure.
fn medians(row: &Row, mode: Mode, sched: SchedSettings) -> [f64; 4] {
    let runs: Vec<[f64; 4]> = SEEDS
        .iter()
        .map(|&seed| {
            let mut pools: Vec<SimPoolSpec> = row
                .weights
                .iter()
                .map(|&w| SimPoolSpec {
                    weight: w,
                    difficulty: 16384.0,
                    ..SimPoolSpec::default()
                })
                .collect();
            if row.outage {
                pools[1].outages = vec![(2 * 3600, 3 * 3600)];
            }
            let spec = SimSpec {
                miners: row.miners.clone(),
                pools,
                local_difficulty: 1024.0,
                hours: 25,
                seed,
                mode,
                sched,
            };
            figures(&run(&spec), &spec)
        })
        .collect();
    std::array::from_fn(|k| median(runs.iter().map(|f| f[k]).collect()))
}

fn table(title: &str, rows: &[Row], pid: PidSettings, sched: SchedSettings) {
    println!("\n{title}");
    println!(
        "{:<34} {:>17} {:>17} {:>27}",
        "", "worst 6 h (pp)", "24 h (pp)", "sw/miner/h mean (max)"
    );
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>8} {:>13} {:>13}",
        "case", "closed", "open", "closed", "open", "closed", "open"
    );
    for row in rows {
        let c = medians(row, Mode::ClosedLoop(pid), sched);
        let o = medians(row, Mode::OpenLoop, sched);
        let label = format!(
            "{} {}{}",
            row.name,
            row.weights
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
                .join("/"),
            if row.outage { " B out 1h" } else { "" }
        );
        println!(
            "{label:<34} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6.1} ({:>4.1}) {:>6.1} ({:>4.1})",
            c[0], o[0], c[1], o[1], c[2], c[3], o[2], o[3]
        );
    }
}

fn main() {
    let cases: [(&str, Vec<u64>, &[u32]); 4] = [
        ("1 miner 6", vec![6 * TH], &[70, 30]),
        ("3 miners 6/4/1", vec![6 * TH, 4 * TH, TH], &[70, 30]),
        ("3 miners 6/4/1", vec![6 * TH, 4 * TH, TH], &[50, 30, 20]),
        (
            "10 miners 1..10",
            (1..=10).map(|k| k * TH).collect(),
            &[70, 30],
        ),
    ];
    let rows: Vec<Row> = cases
        .iter()
        .flat_map(|(name, miners, weights)| {
            [false, true].map(|outage| Row {
                name,
                miners: miners.clone(),
                weights,
                outage,
            })
        })
        .collect();
    println!(
        "hashmux split bench: 25 h virtual, local difficulty 1024, medians over seeds {SEEDS:?}"
    );
    let start = Instant::now();
    table(
        "stock defaults (PidSettings::default(), SchedSettings::default())",
        &rows,
        PidSettings::default(),
        SchedSettings::default(),
    );
    table(
        "60 s dwell instead of 180 s (more accurate, more switches)",
        &rows,
        PidSettings::default(),
        SchedSettings {
            min_dwell_ms: 60_000,
            ..SchedSettings::default()
        },
    );
    println!(
        "\n{} runs of 25 h in {:.1} s",
        rows.len() * 2 * 2 * SEEDS.len(),
        start.elapsed().as_secs_f64()
    );
}
