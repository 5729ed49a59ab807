//! The results of a run: the comparison rows (one figure measured in each engine), the
//! single figures beside them (raw fsync, commits per sync, simulator rates), the
//! printed table, and the JSON file.
//!
//! # JSON layout (`--json FILE`)
//!
//! ```text
//! {
//!   "sizes":   { "load_records": 1000000, "runs": 3, "cache_bytes": 67108864, ... },
//!   "filesystem": { "fstype": "ext4", "magic": "0xef53", "in_memory": false, ... },
//!   "figures": {                                        // medians, all positive
//!     "commit1.keel": 512.3,  "commit1.sqlite": 498.1,  "commit1.redb": 301.0,
//!     "commit1.keel_over_sqlite": 1.03, "commit1.keel_over_redb": 1.70,
//!     "fsync.syncs_per_second": 530.2, "sim.seeds_per_second": 14.1, ...
//!   },
//!   "units":   { "commit1": "commits/s", "fsync.syncs_per_second": "syncs/s", ... },
//!   "counts":  { "sim.failures": 0, "commit8.sqlite.busy_retries": 0, ... },
//!   "peak_rss_kib": { "commit1.keel": 9120, ... },      // VmHWM of the row's children
//!   "ru_maxrss_kib": { "commit1.keel": 9300, ... },     // wait4's cross-check
//!   "runs":    { "commit1.keel": [510.2, 498.0, 515.9], ... }, // every run, in order
//!   "fsync_probes": [530.2, 512.8, ...],                // syncs/s before each row
//!   "load":    { "before": "01:02 up ... load average: ...", "after": "..." },
//!   "notes":   [ "..." ],                               // what is not like-for-like
//!   "total_seconds": 191.4
//! }
//! ```
//!
//! A `Same` figure (a variant row reusing another row's measurement of an engine) is
//! the median of that row's runs; it has no `runs` entry of its own.
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
    /// Peak RSS (KiB) of each engine's child processes for this row, the largest over
    /// the runs (Keel, SQLite, redb).
    pub peak_kib: [Option<u64>; 3],
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
    /// Every run's figure per `row.engine`.
    pub runs: BTreeMap<String, Vec<f64>>,
    /// Medians of the children's further figures (`row.engine.what`).
    pub extras: BTreeMap<String, f64>,
    /// `wait4`'s `ru_maxrss` per `row.engine` (largest over the runs), KiB.
    pub ru_maxrss_kib: BTreeMap<String, u64>,
    /// The fsync probe's syncs/s, once before every row.
    pub probes: Vec<f64>,
    /// The file system the scratch directory is on.
    pub fs: Option<crate::fs_kind::FsKind>,
    /// `uptime` before and after the measurements.
    pub load_before: String,
    pub load_after: String,
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
            runs: BTreeMap::new(),
            extras: BTreeMap::new(),
            ru_maxrss_kib: BTreeMap::new(),
            probes: Vec::new(),
            fs: None,
            load_before: String::new(),
            load_after: String::new(),
        }
    }

    /// The lines above the table: what every figure was measured on and how.
    fn header(&self) -> String {
        let mut out = String::new();
        match &self.fs {
            Some(f) => out.push_str(&format!(
                "file system: {} ({}, statfs f_type {}) on {}{}\n",
                f.fstype,
                f.device,
                f.magic,
                f.mount_point,
                if f.in_memory {
                    "  WARNING: memory-backed, syncs cost nothing; durable figures are CPU only"
                } else {
                    ""
                }
            )),
            None => out.push_str("file system: unknown\n"),
        }
        out.push_str(&format!(
            "cache: {} MiB in every engine (SQLite cache_size, redb set_cache_size, Keel \
             clean_cache_pages); medians of {} run(s), engine order rotated per run; \
             SQLite syncs with fdatasync\n",
            self.sizes.cache_bytes >> 20,
            self.sizes.runs
        ));
        out.push_str(&format!(
            "Keel's file: 4 KiB pages, compact index leaves, {}-byte slot serials\n",
            self.sizes.serial_bytes
        ));
        if !self.load_before.is_empty() {
            out.push_str(&format!("load before: {}\n", self.load_before));
        }
        out.push('\n');
        out
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
            "peak RSS MiB K/S/r".into(),
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
            let rss = r
                .peak_kib
                .iter()
                .map(|p| p.map_or("-".to_string(), |k| format!("{:.0}", k as f64 / 1024.0)))
                .collect::<Vec<_>>()
                .join("/");
            lines.push([
                label,
                num(Some(r.keel)),
                num(r.sqlite),
                num(r.redb),
                ratio(r.over_sqlite()),
                ratio(r.over_redb()),
                rss,
            ]);
        }
        let mut widths = [0usize; 7];
        for l in &lines {
            for (w, c) in widths.iter_mut().zip(l) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = self.header();
        for (i, l) in lines.iter().enumerate() {
            out.push_str(&format!("{:<w$}", l[0], w = widths[0]));
            for (c, w) in l[1..].iter().zip(&widths[1..]) {
                out.push_str(&format!("  {c:>w$}"));
            }
            out.push('\n');
            if i == 0 {
                out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 12));
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
        if !self.load_after.is_empty() {
            out.push_str(&format!("load after: {}\n", self.load_after));
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
        let mut peaks = Map::new();
        for r in &self.rows {
            for (e, p) in ["keel", "sqlite", "redb"].iter().zip(r.peak_kib) {
                if let Some(p) = p {
                    peaks.insert(format!("{}.{e}", r.key), json!(p));
                }
            }
        }
        for s in &self.singles {
            figures.insert(s.key.clone(), json!(s.value));
            units.insert(s.key.clone(), json!(s.unit));
        }
        json!({
            "sizes": self.sizes,
            "filesystem": self.fs,
            "figures": figures,
            "units": units,
            "counts": self.counts,
            "peak_rss_kib": peaks,
            "ru_maxrss_kib": self.ru_maxrss_kib,
            "runs": self.runs,
            "fsync_probes": self.probes,
            "load": { "before": self.load_before, "after": self.load_after },
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
