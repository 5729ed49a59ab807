//! The layering of the engine's source tree, checked: every `crate::X` path in a
//! module's code (comments and doc links aside) names a module of a *lower* layer, or
//! the module itself. Arrows point down only — `butil` → engine → file → btree → pager
//! → page → vfs — so a reader knows the layering from the tree, and an import that runs
//! back up fails CI instead of slowly becoming architecture.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Each top-level module of `engine/src` and its layer, bottom first. A module may use
/// any module of a lower layer.
const LAYERS: &[(&str, u32)] = &[
    // Foundations every layer may use.
    ("status", 0),
    ("mutant", 0),
    ("clock", 0),
    // The filesystem seam.
    ("vfs", 1),
    // Page layouts, checksums, the file specification.
    ("page", 2),
    // Checksummed framed append-only files (under the log and the delta).
    ("appendfile", 3),
    // The delta file's format (the pager reads and writes deltas).
    ("delta", 4),
    // The legacy format's pre-image file (the pager arms, voids and restores it).
    ("preimage", 4),
    // Shadow paging and system transactions.
    ("pager", 5),
    ("btree", 6),
    // Records, keys, Btrieve operations; the redo vocabulary (`file::change`).
    ("file", 7),
    // The transaction log (stores `file::change`s).
    ("txlog", 8),
    // Archival logging: blog.cfg and the per-file archival log (stores `file::change`s).
    ("archival", 8),
    // Continuous-operations policy (startbu's check, killbu).
    ("contops", 8),
    // butil's interchange formats (description, sequential, list files).
    ("formats", 8),
    // Handles, cursors, transactions, bundling, backup, logging.
    ("engine", 9),
    // Jobs over an engine.
    ("bulk", 10),
    // The admin endpoint: requests, wire format, execution in the holding engine.
    ("admin", 10),
    // The OS side of hosts: the real clock, the thread adapter with group commit
    // (`host::shared`, re-exported as `shared`), the admin socket and its registry.
    ("host", 11),
];

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, l)| l)
}

/// The top-level module a source file belongs to (`None` for `lib.rs` and `bin/`).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    match first.as_str() {
        "lib.rs" | "bin" => None,
        f => Some(f.trim_end_matches(".rs").to_string()),
    }
}

/// The module a crate-root re-export (`lib.rs`'s `pub use`) stands for.
fn root_item_module(item: &str) -> Option<&'static str> {
    match item {
        "Engine" | "Config" | "Client" | "Handle" | "LogMode" | "OpenMode" | "FileStat"
        | "CommitCounters" => Some("engine"),
        "FileSpec" | "GetOp" | "KeySpec" | "KeyType" | "OpCode" | "Segment" | "StepOp" => {
            Some("file")
        }
        "Error" | "Result" | "Status" => Some("status"),
        _ => None,
    }
}

/// The module one path segment after `crate::` names: a module itself, or the module
/// behind a root re-export.
fn named_module(segment: &str) -> Option<String> {
    let first = segment.chars().next()?;
    if first.is_ascii_lowercase() {
        Some(segment.to_string())
    } else {
        Some(root_item_module(segment).unwrap_or("?root").to_string())
    }
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// `crate::X` names in the non-test code of `text`, with `//` comments (doc comments
/// included) removed first; `crate::{a::.., B}` counts each item. Scanning stops at a
/// `#[cfg(test)]` module: tests may build fixtures with any layer.
fn crate_uses(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        if line.trim() == "#[cfg(test)]"
            && lines[n + 1..]
                .iter()
                .find(|l| !l.trim().is_empty() && !l.trim().starts_with("#["))
                .is_some_and(|l| l.trim_start().starts_with("mod "))
        {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    if let Some(m) = named_module(&ident(item.trim())) {
                        out.push((n + 1, m));
                    }
                }
            } else if let Some(m) = named_module(&ident(after)) {
                out.push((n + 1, m));
            }
            rest = after;
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in fs::read_dir(dir).expect("engine/src is readable") {
        let p = e.expect("a directory entry").path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

#[test]
fn imports_point_down_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut seen_modules = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        let Some(module) = module_of(rel) else {
            continue;
        };
        if rel.to_string_lossy().ends_with("tests.rs") {
            continue; // a test module's file (fixtures may use any layer)
        }
        let Some(own) = layer(&module) else {
            violations.push(format!(
                "{}: module `{module}` has no layer in LAYERS (add it where it belongs)",
                rel.display()
            ));
            continue;
        };
        *seen_modules.entry(module.clone()).or_insert(0) += 1;
        let text = fs::read_to_string(f).expect("a source file is UTF-8");
        for (line, used) in crate_uses(&text) {
            if used == module {
                continue;
            }
            match layer(&used) {
                Some(l) if l < own => {}
                Some(l) => violations.push(format!(
                    "{}:{line}: `{module}` (layer {own}) uses `crate::{used}` (layer {l}): \
                     an import that runs up or sideways",
                    rel.display()
                )),
                None => violations.push(format!(
                    "{}:{line}: `crate::{used}` is not a module with a layer",
                    rel.display()
                )),
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    // The check saw the tree: every layered module has at least one file.
    for (m, _) in LAYERS {
        assert!(
            seen_modules.contains_key(*m),
            "no source file for module `{m}`"
        );
    }
}

#[test]
fn the_checker_sees_an_upward_import() {
    let uses = crate_uses(
        "use crate::engine::Engine; // crate::file in a comment\n\
         use crate::{pager::Pager, Config};\n\
         #[cfg(test)]\nmod tests {\n    use crate::bulk;\n}\n",
    );
    let names: Vec<&str> = uses.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(names, ["engine", "pager", "engine"]);
    assert!(layer("engine") > layer("pager"));
}
