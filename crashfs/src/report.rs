//! The summary of a check, as text for people and JSON for programs.

use crate::check::{Failure, Verdict};
use crate::plan::Plan;
use crate::trace::{Op, Trace};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Per model: the distinct states it allows that were judged, and how many failed
/// (a state two models allow is judged once and counted in both rows).
#[derive(Debug, Default, Serialize)]
pub struct ModelRow {
    pub model: String,
    pub states: usize,
    pub failures: usize,
}

/// The result of `crashfs check`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub trace: String,
    pub command: Vec<String>,
    pub oracle: String,
    pub ops: usize,
    pub writes: usize,
    pub name_ops: usize,
    pub syncs: usize,
    pub prints: usize,
    pub crash_points: usize,
    pub candidates: usize,
    pub duplicates: usize,
    pub capped: usize,
    pub states: usize,
    pub models: Vec<ModelRow>,
    pub failures: usize,
    pub failures_by_kind: BTreeMap<String, usize>,
    pub failure_list: Vec<Failure>,
    pub seconds: f64,
}

impl Report {
    pub fn new(
        trace_path: &str,
        trace: &Trace,
        oracle: &str,
        plan: &Plan,
        verdicts: &[Verdict],
        seconds: f64,
    ) -> Report {
        let count = |f: fn(&Op) -> bool| trace.ops.iter().filter(|t| f(&t.op)).count();
        let mut models: BTreeMap<&str, ModelRow> = BTreeMap::new();
        let mut by_kind = BTreeMap::new();
        let mut list = Vec::new();
        for (allowed, v) in plan.models.iter().zip(verdicts) {
            for m in allowed {
                let row = models.entry(m.name()).or_insert_with(|| ModelRow {
                    model: m.name().into(),
                    ..Default::default()
                });
                row.states += 1;
                row.failures += usize::from(matches!(v, Verdict::Fail(_)));
            }
            if let Verdict::Fail(f) = v {
                *by_kind.entry(f.kind.clone()).or_insert(0) += 1;
                let mut f = (**f).clone();
                f.models = allowed.iter().map(|m| m.name().to_string()).collect();
                list.push(f);
            }
        }
        Report {
            trace: trace_path.to_string(),
            command: trace.command.clone(),
            oracle: oracle.to_string(),
            ops: trace.ops.len(),
            writes: count(|o| matches!(o, Op::Write { .. } | Op::SetLen { .. })),
            name_ops: count(Op::is_name_op),
            syncs: count(Op::is_barrier),
            prints: count(|o| matches!(o, Op::Print { .. })),
            crash_points: plan.crash_points,
            candidates: plan.candidates,
            duplicates: plan.duplicates,
            capped: plan.capped,
            states: plan.states.len(),
            models: models.into_values().collect(),
            failures: list.len(),
            failures_by_kind: by_kind,
            failure_list: list,
            seconds,
        }
    }

    /// The human summary; at most `show` failures in full.
    pub fn text(&self, show: usize) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "crashfs check of {} ({})",
            self.trace,
            self.command.join(" ")
        );
        let _ = writeln!(s, "oracle: {}", self.oracle);
        let _ = writeln!(
            s,
            "ops: {} ({} writes/length changes, {} name ops, {} syncs, {} prints); crash points: {}",
            self.ops, self.writes, self.name_ops, self.syncs, self.prints, self.crash_points
        );
        let _ = writeln!(
            s,
            "states: {} judged of {} the models allow ({} duplicates of a judged state, {} left out by --max-states)",
            self.states, self.candidates, self.duplicates, self.capped
        );
        let _ = writeln!(s, "{:<14} {:>8} {:>9}", "model", "states", "failures");
        for m in &self.models {
            let _ = writeln!(s, "{:<14} {:>8} {:>9}", m.model, m.states, m.failures);
        }
        if self.failures == 0 {
            let _ = writeln!(s, "no failures ({:.1} s)", self.seconds);
            return s;
        }
        let kinds: Vec<String> = self
            .failures_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            s,
            "FAILURES: {} ({}) in {:.1} s",
            self.failures,
            kinds.join(", "),
            self.seconds
        );
        for (n, f) in self.failure_list.iter().take(show).enumerate() {
            let _ = writeln!(
                s,
                "\nfailure {}: [{}] crash after {} ops, {} state: {}",
                n + 1,
                f.models.join(", "),
                f.crash_point,
                f.choice,
                f.message
            );
            if !f.dropped.is_empty() {
                let _ = writeln!(
                    s,
                    "  lost: {}",
                    f.dropped
                        .iter()
                        .map(|i| format!("#{i}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            for (i, kept) in &f.torn {
                let _ = writeln!(s, "  torn: #{i}, sectors kept {kept:?}");
            }
            let _ = writeln!(s, "  ops before the crash:");
            for o in &f.ops_before {
                let _ = writeln!(s, "    {o}");
            }
            if let Some(k) = &f.kept {
                let _ = writeln!(s, "  kept: {k} (see REPRODUCE there)");
            }
        }
        if self.failure_list.len() > show {
            let _ = writeln!(
                s,
                "\n… and {} more (--json lists them all)",
                self.failure_list.len() - show
            );
        }
        s
    }
}
