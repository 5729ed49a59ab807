//! The campaign report without a browser (the browser test is `tests/browser/run.sh`).
//!
//! Its own test binary on purpose: the report captures a shrunk seed's trace with a
//! scoped `tracing` subscriber, and `tracing` caches each call site's interest
//! process-wide. A campaign running on another test thread of the same process can
//! register a call site while the capture is being set up and cache "nobody listens"
//! for it, and the captured trace then lacks those lines. Alone in its process, the
//! capture runs after the campaign's threads have been joined, with nothing else
//! running.

use sim::campaign::parallel::{run_campaign, Campaign};
use sim::runner::Options;
use std::sync::atomic::AtomicBool;

/// The report without a browser (the browser test is `tests/browser/run.sh`): inputs
/// told apart by shape, a failing campaign's replay command and shrunk trace on the
/// page, every chart present, nothing to fetch.
#[test]
fn the_report_is_one_self_contained_page() {
    use sim::report::{build, html::page, load, Loaded, TraceBudget};
    let bad = Campaign {
        start: 0,
        count: 2,
        shard: (1, 1),
        opts: Options {
            mutant: engine::mutant::Mutant::from_name("overwrite-in-place"),
            ..Options::default()
        },
    };
    let failing = run_campaign(&bad, 2, &AtomicBool::new(false), |_| {});
    let f = failing
        .summary
        .failures
        .first()
        .expect("overwrite-in-place fails seed 0");
    let replay = f.replay.clone();
    let mutants = r#"[{"mutant":"overwrite-in-place","caught":true,"first_failing_seed":0,
        "seeds_needed":1,"message":"m"},{"mutant":"x","caught":false,
        "first_failing_seed":null,"seeds_needed":8,"message":null}]"#;
    let inputs = vec![
        (
            "bad".to_string(),
            load(&failing.to_json()).expect("a result"),
        ),
        (
            "mutants".to_string(),
            load(mutants).expect("a mutant table"),
        ),
    ];
    assert!(matches!(inputs[1].1, Loaded::Mutants(ref m) if m.len() == 2));
    assert!(load("[1, 2]").is_err() && load("{\"a\": 1}").is_err() && load("").is_err());
    let budget = TraceBudget {
        failures: 1,
        runs_per_failure: 20,
    };
    let report = build(inputs, budget).expect("report");
    assert_eq!(report.campaigns[0].traces.len(), 1, "one shrunk trace");
    let html = page(&report);
    assert!(html.contains(&replay.replace('"', "&quot;")));
    for id in ["faults-0", "per-seed-0", "mutants-chart", "mutant-table"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "no {id}");
    }
    assert!(html.contains("DEBUG sim::vfs"), "the shrunk trace is shown");
    for outside in ["<script", "src=\"http", "href=\"http", "@import", "url("] {
        assert!(
            !html.contains(outside),
            "the page refers outside: {outside}"
        );
    }
}
