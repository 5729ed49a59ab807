//! Campaigns at scale: the result of a campaign does not depend on how many threads
//! ran it, shards merged equal one unsharded run, and a merge refuses what does not
//! belong together. Small on purpose (60 seeds): the long runs are `sim run`'s.

use sim::campaign::merge::{merge, Input};
use sim::campaign::parallel::{run_campaign, Campaign};
use sim::campaign::result::{parse_result, ResultFile};
use sim::campaign::text::summary_text;
use sim::runner::Options;
use std::sync::atomic::AtomicBool;

const SEEDS: u64 = 60;

fn campaign(shard: (u64, u64)) -> Campaign {
    Campaign {
        start: 7,
        count: SEEDS,
        shard,
        opts: Options::default(),
    }
}

fn run(shard: (u64, u64), jobs: usize) -> ResultFile {
    run_campaign(&campaign(shard), jobs, &AtomicBool::new(false), |_| {})
}

/// The result without what may differ between equal runs: timing and thread count.
fn untimed(r: &ResultFile) -> ResultFile {
    let mut r = r.clone();
    r.summary.seconds = 0.0;
    r.summary.seeds_per_second = 0.0;
    r.jobs = 0;
    r
}

fn text_untimed(r: &ResultFile) -> String {
    summary_text(&r.summary)
        .lines()
        .filter(|l| !l.starts_with("time "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn inputs<'a>(rs: &'a [(String, ResultFile)]) -> Vec<Input<'a>> {
    rs.iter()
        .map(|(name, result)| Input { name, result })
        .collect()
}

#[test]
fn jobs_do_not_change_the_result_and_shards_merge_to_it() {
    let one = run((1, 1), 1);
    let two = run((1, 1), 2);
    assert_eq!(one.summary.seeds, SEEDS);
    assert!(!one.interrupted && !two.interrupted);
    assert_eq!(untimed(&one), untimed(&two), "--jobs 1 and --jobs 2 differ");
    assert_eq!(text_untimed(&one), text_untimed(&two));
    let rows: Vec<u64> = one.per_seed.iter().map(|r| r.seed).collect();
    assert_eq!(
        rows,
        (7..7 + SEEDS).collect::<Vec<_>>(),
        "rows in seed order"
    );
    assert!(one
        .per_seed
        .iter()
        .any(|r| r.crashes > 0 && r.faults_injected > 0));

    // Three shards, through their JSON (what a scheduler's jobs leave behind), given in
    // any order.
    let shards: Vec<(String, ResultFile)> = [3, 1, 2]
        .iter()
        .map(|&k| {
            let json = run((k, 3), 2).to_json();
            let text = format!("some summary text\nseeds 20\n{json}\n");
            (
                format!("shard-{k}.json"),
                parse_result(&text).expect("reads back"),
            )
        })
        .collect();
    let merged = merge(&inputs(&shards)).expect("three shards of one campaign merge");
    assert_eq!(
        untimed(&merged),
        untimed(&one),
        "merged shards != unsharded run"
    );
    assert_eq!(text_untimed(&merged), text_untimed(&one));
    let total: f64 = shards.iter().map(|(_, r)| r.summary.seconds).sum();
    assert!(
        (merged.summary.seconds - total).abs() < 1e-9,
        "seconds are summed"
    );

    // Overlap, gap, and files from another build or generation are refused.
    let mut twice = shards.clone();
    twice.push(("again.json".into(), shards[0].1.clone()));
    let e = merge(&inputs(&twice)).expect_err("overlap");
    assert!(e.contains("overlap") && e.contains("3/3"), "{e}");
    let e = merge(&inputs(&shards[..2])).expect_err("gap");
    assert!(e.contains("gap") && e.contains("2/3"), "{e}");
    let mut other = shards.clone();
    other[1].1.commit = "0123abc".into();
    let e = merge(&inputs(&other)).expect_err("commit");
    assert!(e.contains("engine commit"), "{e}");
    let mut other = shards.clone();
    other[2].1.workload -= 1;
    let e = merge(&inputs(&other)).expect_err("generation");
    assert!(e.contains("workload generation"), "{e}");
    let mut cut = shards.clone();
    cut[0].1.interrupted = true;
    let e = merge(&inputs(&cut)).expect_err("interrupted");
    assert!(e.contains("interrupted"), "{e}");
    let mut rows = shards.clone();
    rows[0].1.per_seed.pop();
    rows[0].1.summary.seeds -= 1;
    let e = merge(&inputs(&rows)).expect_err("rows");
    assert!(e.contains("per-seed rows"), "{e}");
}

#[test]
fn a_stop_before_the_start_runs_nothing_and_says_so() {
    let r = run_campaign(&campaign((1, 1)), 2, &AtomicBool::new(true), |_| {});
    assert_eq!(r.summary.seeds, 0);
    assert!(r.interrupted);
}

#[test]
fn malformed_result_files_are_errors_not_panics() {
    for text in [
        "",
        "seeds 3\n",
        "{}",
        "[1,2]",
        r#"{"format":"keel-sim-result/0"}"#,
        r#"{"format":"keel-sim-result/1","commit":"x"}"#,
    ] {
        assert!(parse_result(text).is_err(), "{text:?} accepted");
    }
    let mut r = run((1, 30), 1);
    r.seed_set.shard = (31, 30);
    assert!(parse_result(&r.to_json()).is_err(), "shard 31/30 accepted");
    r.seed_set.shard = (1, 30);
    r.summary.seeds += 1;
    assert!(parse_result(&r.to_json()).is_err(), "row count not checked");
}

/// Ctrl-C: the run stops taking seeds, prints the summary of those that finished,
/// says it was interrupted, and exits 130; its result file says so too.
#[test]
fn ctrl_c_prints_what_finished_and_exits_non_zero() {
    use std::process::{Command, Stdio};
    let child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", "--seeds", "1000000", "--jobs", "2", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sim starts");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let out = child.wait_with_output().expect("sim ends");
    assert_eq!(
        out.status.code(),
        Some(130),
        "exit status of an interrupted run"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("INTERRUPTED: "), "{text}");
    assert!(
        text.contains("failures           0"),
        "the summary is printed"
    );
    let r = parse_result(&text).expect("a result file");
    assert!(r.interrupted);
    // Under a loaded machine maybe no seed finished yet; that is still a summary.
    assert!(r.summary.seeds < 1_000_000);
    assert_eq!(r.per_seed.len() as u64, r.summary.seeds);
}
