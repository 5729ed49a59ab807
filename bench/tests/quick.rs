//! Runs the benchmark binary in `--quick` mode into a temporary directory and checks
//! only its outputs' shape: exit status 0, a JSON document whose every figure is a
//! positive number, an SVG file. No timing is asserted (machines differ).

use std::process::Command;

#[test]
fn quick_run_writes_json_and_svg() {
    let tmp = tempfile::tempdir().expect("creating a temporary directory");
    let json = tmp.path().join("r.json");
    let svg = tmp.path().join("r.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_bench"))
        .arg("--quick")
        // Two runs: a row's second run must cope with the first one's files.
        .arg("--runs")
        .arg("2")
        .arg("--json")
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .arg("--dir")
        .arg(tmp.path())
        .output()
        .expect("running the bench binary");
    assert!(
        out.status.success(),
        "bench --quick failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let text = std::fs::read_to_string(&json).expect("reading the JSON output");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("the JSON output parses");
    let figures = doc["figures"]
        .as_object()
        .expect("the JSON has a \"figures\" object");
    for key in [
        "fsync.syncs_per_second",
        "commit1.keel",
        "commit1.sqlite",
        "commit1.redb",
        "commit1_logging.keel",
        "commit1_flush_v5.keel",
        "commit1_flush_v6.keel",
        "keel.commit1_flush.v5_over_v6",
        "keel.commit1_flush_v5.syncs_per_commit",
        "commit8.keel",
        "commit8.sqlite",
        "commit8.redb",
        "commit8_mutex.sqlite",
        "commit8_mutex.keel_over_sqlite",
        "commit8_per_sync.keel",
        "commit1_logging.sqlite",
        "commit1_logging.redb",
        "load_ascending_delete.sqlite",
        "load_random_delete.keel_over_sqlite",
        "keel.commit8.commits_per_sync",
        "load_ascending.keel_over_sqlite",
        "load_random.keel_over_redb",
        "point_reads.keel",
        "scan.redb",
        "size_ascending.sqlite",
        "sim.seeds_per_second",
        "sim.crashes_per_second",
    ] {
        assert!(figures.contains_key(key), "figure {key} is missing");
    }
    for (key, v) in figures {
        let v = v
            .as_f64()
            .unwrap_or_else(|| panic!("{key} is not a number"));
        assert!(v.is_finite() && v > 0.0, "{key} = {v} is not positive");
    }

    // Peak RSS per engine per row, and what the figures were measured on.
    let peaks = doc["peak_rss_kib"]
        .as_object()
        .expect("the JSON has a \"peak_rss_kib\" object");
    for key in [
        "commit1.keel",
        "commit1.sqlite",
        "commit1.redb",
        "scan.redb",
    ] {
        let kib = peaks.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
        assert!(kib > 0, "peak RSS {key} is missing or zero");
    }
    assert!(
        doc["filesystem"]["fstype"].is_string(),
        "the JSON does not record the file system"
    );
    assert!(doc["runs"]["commit1.keel"].is_array(), "every run is kept");

    let chart = std::fs::read_to_string(&svg).expect("reading the SVG output");
    let head = chart.trim_start();
    assert!(
        head.starts_with("<svg") || head.starts_with("<?xml"),
        "the chart does not start like an SVG: {:?}",
        &head[..head.len().min(40)]
    );
}
