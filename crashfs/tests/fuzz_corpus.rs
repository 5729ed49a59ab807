//! Replays crashfs's fuzz corpora (`corpora/fuzz/crashfs_*`) on stable, so every seed
//! keeps exercising the parser and recorder, and a crash the fuzzer finds stays fixed.

use std::path::{Path, PathBuf};

fn files(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpora/fuzz")
        .join(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "{target} has no corpus file");
    v
}

#[test]
fn every_corpus_file_replays_cleanly() {
    for f in files("crashfs_strace") {
        eprintln!("fuzz_corpus: {}", f.display());
        crashfs::fuzz::strace_log(&std::fs::read(&f).expect("read"));
    }
    for f in files("crashfs_trace") {
        eprintln!("fuzz_corpus: {}", f.display());
        crashfs::fuzz::trace_file(&std::fs::read(&f).expect("read"));
    }
}

/// The strace seeds are real logs: the recorder turns them into ops (not all errors).
#[test]
fn the_strace_seeds_record_file_operations() {
    use crashfs::record::Recorder;
    use crashfs::strace::LineParser;
    let f = files("crashfs_strace")
        .into_iter()
        .find(|p| p.ends_with("shell-rename-unlink.txt"))
        .expect("seed");
    let text = std::fs::read_to_string(f).expect("read");
    let mut rec = Recorder::new("/d".into(), &Default::default(), "/".into());
    let mut p = LineParser::default();
    for line in text.lines() {
        if let Some(c) = p.feed(line).expect("strace's own lines parse") {
            rec.handle(&c, &p).expect("a real log records");
        }
    }
    let ops = rec.into_ops();
    assert!(
        ops.iter()
            .any(|t| matches!(t.op, crashfs::trace::Op::Rename { .. })),
        "{ops:?}"
    );
}
