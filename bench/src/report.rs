//! The results of a run: the comparison rows (one figure measured in each engine), the
//! single figures beside them (raw fsync, commits per sync, simulator rates), the
//! printed table, and the JSON file.
//!
//! # JSON layout (`--json FILE`)
//!
//! ```text
//! {
//!   "sizes":   { "load_records": 1000000, ... },        // the workload sizes run
//!   "figures": {                                        // every figure, all positive
//!     "commit1.keel": 512.3,  "commit1.sqlite": 498.1,  "commit1.redb": 301.0,
//!     "commit1.keel_over_sqlite": 1.03, "commit1.keel_over_redb": 1.70,
//!     "fsync.syncs_per_second": 530.2, "sim.seeds_per_second": 14.1, ...
//!   },
//!   "units":   { "commit1": "commits/s", "fsync.syncs_per_second": "syncs/s", ... },
//!   "counts":  { "sim.failures": 0, ... },
//!   "notes":   [ "..." ],                               // what is not like-for-like
//!   "total_seconds": 191.4
//! }
//! ```
//!
//! A comparison row `KEY` gives `KEY.keel`, `KEY.sqlite`, `KEY.redb` and the ratios
//! `KEY.keel_over_sqlite`, `KEY.keel_over_redb` (a Keel-only row gives `KEY.keel`).
//! Ratios are Keel's figure over the other's: above 1 means Keel is faster for rates
//! and larger for sizes (rows whose `better` is "lower").

use crate::common::Sizes;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Which direction of a figure is good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// One figure measured in each engine.
#[derive(Clone, Debug)]
pub struct Row {
    /// JSON key prefix, e.g. `commit1`.
    pub key: &'static str,
    /// What the table shows.
    pub label: String,
    pub unit: &'static str,
    pub keel: f64,
    pub sqlite: Option<f64>,
    pub redb: Option<f64>,
    pub better: Better,
    /// Printed after the row when the comparison is not like-for-like.
    pub note: Option<&'static str>,
}

impl Row {
    pub fn over_sqlite(&self) -> Option<f64> {
        self.sqlite.map(|s| self.keel / s)
    }
    pub fn over_redb(&self) -> Option<f64> {
        self.redb.map(|r| self.keel / r)
    }
}

/// A figure with no counterpart in the other engines.
#[derive(Clone, Debug)]
pub struct Single {
    pub key: String,
    pub label: String,
    pub unit: &'static str,
    pub value: f64,
}

/// Everything a run measured.
#[derive(Debug)]
pub struct Results {
    pub sizes: Sizes,
    pub rows: Vec<Row>,
    pub singles: Vec<Single>,
    /// Counters that may legitimately be zero (so not figures).
    pub counts: BTreeMap<String, u64>,
    pub notes: Vec<String>,
    pub total_seconds: f64,
}

impl Results {
    pub fn new(sizes: Sizes) -> Results {
        Results {
            sizes,
            rows: Vec::new(),
            singles: Vec::new(),
            counts: BTreeMap::new(),
            notes: Vec::new(),
            total_seconds: 0.0,
        }
    }

    pub fn single(&mut self, key: &str, label: &str, unit: &'static str, value: f64) {
        self.singles.push(Single {
            key: key.to_string(),
            label: label.to_string(),
            unit,
            value,
        });
    }

    /// The table printed on stdout.
    pub fn table(&self) -> String {
        let mut lines = vec![[
            "figure".to_string(),
            "Keel".into(),
            "SQLite".into(),
            "redb".into(),
            "Keel/SQLite".into(),
            "Keel/redb".into(),
        ]];
        let mut notes = Vec::new();
        for r in &self.rows {
            let mut label = format!("{} ({})", r.label, display_unit(r.unit));
            if r.better == Better::Lower {
                label.push_str(", lower is better");
            }
            if let Some(n) = r.note {
                notes.push(n);
                label.push_str(&format!(" [{}]", notes.len()));
            }
            let num = |v: Option<f64>| v.map_or("-".to_string(), |v| fmt_value(v, r.unit));
            let ratio = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}x"));
            lines.push([
                label,
                num(Some(r.keel)),
                num(r.sqlite),
                num(r.redb),
                ratio(r.over_sqlite()),
                ratio(r.over_redb()),
            ]);
        }
        let mut widths = [0usize; 6];
        for l in &lines {
            for (w, c) in widths.iter_mut().zip(l) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        for (i, l) in lines.iter().enumerate() {
            out.push_str(&format!("{:<w$}", l[0], w = widths[0]));
            for (c, w) in l[1..].iter().zip(&widths[1..]) {
                out.push_str(&format!("  {c:>w$}"));
            }
            out.push('\n');
            if i == 0 {
                out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 10));
                out.push('\n');
            }
        }
        for (i, n) in notes.iter().enumerate() {
            out.push_str(&format!("[{}] {n}\n", i + 1));
        }
        out.push('\n');
        let w = self
            .singles
            .iter()
            .map(|s| s.label.len())
            .max()
            .unwrap_or(0);
        for s in &self.singles {
            out.push_str(&format!(
                "{:<w$}  {} {}\n",
                s.label,
                fmt_value(s.value, s.unit),
                display_unit(s.unit)
            ));
        }
        for (k, v) in &self.counts {
            out.push_str(&format!("{k}: {v}\n"));
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }

    /// The JSON document described in the module documentation.
    pub fn json(&self) -> Value {
        let mut figures = Map::new();
        let mut units = Map::new();
        for r in &self.rows {
            let mut put = |suffix: &str, v: Option<f64>| {
                if let Some(v) = v {
                    figures.insert(format!("{}.{suffix}", r.key), json!(v));
                }
            };
            put("keel", Some(r.keel));
            put("sqlite", r.sqlite);
            put("redb", r.redb);
            put("keel_over_sqlite", r.over_sqlite());
            put("keel_over_redb", r.over_redb());
            units.insert(r.key.to_string(), json!(r.unit));
        }
        for s in &self.singles {
            figures.insert(s.key.clone(), json!(s.value));
            units.insert(s.key.clone(), json!(s.unit));
        }
        json!({
            "sizes": self.sizes,
            "figures": figures,
            "units": units,
            "counts": self.counts,
            "notes": self.notes,
            "total_seconds": self.total_seconds,
        })
    }
}

fn display_unit(unit: &str) -> &str {
    if unit == "bytes" {
        "MiB"
    } else {
        unit
    }
}

/// A figure as the table shows it: bytes in MiB, large rates without decimals.
pub fn fmt_value(v: f64, unit: &str) -> String {
    if unit == "bytes" {
        return format!("{:.1}", v / (1024.0 * 1024.0));
    }
    if v >= 100.0 {
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        out
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers() {
        assert_eq!(fmt_value(1234567.4, "records/s"), "1,234,567");
        assert_eq!(fmt_value(12.345, "x"), "12.35");
        assert_eq!(fmt_value(2.0 * 1024.0 * 1024.0, "bytes"), "2.0");
    }
}
