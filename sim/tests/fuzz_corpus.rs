//! Replays every fuzz corpus file (`corpora/fuzz/<target>/*`) through its target on
//! stable Rust, so a crash the fuzzer once found stays fixed and every seed keeps
//! exercising the code it was made for. Regenerate the seeds with
//! `cargo test -p sim --test fuzz_corpus -- --ignored regenerate_seeds`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::archival::ArchivalWriter;
use engine::clock::ManualClock;
use engine::delta::delta_path;
use engine::file::change::Change;
use engine::file::spec::{KeySpec, KeyType, Segment};
use engine::formats::{parse_description, write_description, write_end, write_record};
use engine::page::{self, PageType};
use engine::txlog::read_log;
use engine::vfs::testing::TestVfs;
use engine::{Client, Config, Engine, FileSpec, LogMode, OpenMode};

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/fuzz")
}

#[test]
fn every_corpus_file_replays_cleanly() {
    let root = corpus_root();
    for &(name, target) in sim::fuzz::targets() {
        let dir = root.join(name);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus directory {}: {e}", dir.display()))
            .map(|e| e.expect("corpus dir entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(
            !files.is_empty(),
            "target {name} has no corpus file in {}",
            dir.display()
        );
        for f in files {
            let data = fs::read(&f).expect("read corpus file");
            // Name the file before running it: a panic's message then says which.
            eprintln!("fuzz_corpus: {name} {}", f.display());
            target(&data);
        }
    }
}

// ----- seed generation ---------------------------------------------------------------

const DATA: &str = "/data/person.btr";
const PAGE_SIZE: usize = 512;
const RECORD_LEN: u16 = 24;

/// A file with two keys: a unique 4-byte id and a duplicate-allowing 8-byte name, so
/// its pages include leaves of two entry lengths.
fn spec() -> FileSpec {
    let seg = |offset, length, key_type| Segment {
        offset,
        length,
        key_type,
        descending: false,
    };
    FileSpec {
        record_length: RECORD_LEN,
        page_size: PAGE_SIZE as u32,
        keys: vec![
            KeySpec {
                segments: vec![seg(0, 4, KeyType::Unsigned)],
                duplicates: false,
                modifiable: false,
            },
            KeySpec {
                segments: vec![seg(4, 8, KeyType::String)],
                duplicates: true,
                modifiable: true,
            },
        ],
        format: engine::FileFormat::V6,
        compact_leaves: false,
        slot_serial_bytes: 8,
    }
}

fn record(i: u32) -> Vec<u8> {
    let mut r = vec![0u8; RECORD_LEN as usize];
    r[..4].copy_from_slice(&i.to_le_bytes());
    let name = format!("name{:04}", i % 37);
    r[4..12].copy_from_slice(name.as_bytes());
    r
}

fn engine(vfs: &TestVfs, log_mode: LogMode) -> Engine {
    let config = Config {
        log_mode,
        log_dir: PathBuf::from("/log"),
        log_segment_size: 64 << 10,
        ..Config::default()
    };
    Engine::new(Arc::new(vfs.clone()), Arc::new(ManualClock::new()), config)
}

/// Create the data file and insert `n` records (enough for internal nodes).
fn fill(eng: &mut Engine, n: u32) {
    fill_with(eng, n, engine::FileFormat::V6)
}

/// [`fill`] in a given file format.
fn fill_with(eng: &mut Engine, n: u32, format: engine::FileFormat) {
    let path = Path::new(DATA);
    eng.create(path, &FileSpec { format, ..spec() })
        .expect("create");
    let h = eng.open(path, OpenMode::Normal).expect("open");
    for i in 0..n {
        eng.insert(h, &record(i)).expect("insert");
    }
    eng.close(h).expect("close");
    eng.flush().expect("flush");
}

struct Out(PathBuf);

impl Out {
    fn put(&self, target: &str, name: &str, data: &[u8]) {
        let dir = self.0.join(target);
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join(name), data).expect("write seed");
    }
}

#[test]
#[ignore = "writes corpora/fuzz/; run by hand to regenerate the seeds"]
fn regenerate_seeds() {
    let out = Out(corpus_root());

    // A data file, whole and torn, and its pages by type.
    let vfs = TestVfs::new();
    let mut eng = engine(&vfs, LogMode::Off);
    fill(&mut eng, 120);
    drop(eng);
    let file = vfs.contents(Path::new(DATA)).expect("data file");
    out.put("data_file", "whole.btr", &file);
    out.put("data_file", "torn.btr", &file[..file.len() - PAGE_SIZE / 2]);
    out.put("data_file", "fcr-only.btr", &file[..2 * PAGE_SIZE]);
    let mut seen = std::collections::HashMap::<&str, usize>::new();
    for (i, p) in file.chunks(PAGE_SIZE).enumerate() {
        let target = match page::type_of(p) {
            Some(PageType::Fcr) => "fcr",
            Some(PageType::Pat | PageType::PatInterior) => "pat_page",
            Some(PageType::Data) => "data_page",
            Some(PageType::Leaf | PageType::Internal) => "index_page",
            None => continue,
        };
        let k = seen.entry(target).or_default();
        // A few of each kind is plenty.
        if *k < 3 {
            *k += 1;
            out.put(target, &format!("page-{i}"), p);
        }
    }

    // The same file in the legacy (5.x) format, whole and torn, and its pages: the
    // page and file targets then start from pages overwritten in place too.
    let vfs = TestVfs::new();
    let mut eng = engine(&vfs, LogMode::Off);
    fill_with(&mut eng, 120, engine::FileFormat::V5);
    drop(eng);
    let file = vfs.contents(Path::new(DATA)).expect("legacy data file");
    out.put("data_file", "legacy-whole.btr", &file);
    out.put(
        "data_file",
        "legacy-torn.btr",
        &file[..file.len() - PAGE_SIZE / 2],
    );
    let mut seen = std::collections::HashMap::<&str, usize>::new();
    for (i, p) in file.chunks(PAGE_SIZE).enumerate() {
        let target = match page::type_of(p) {
            Some(PageType::Fcr) => "fcr",
            Some(PageType::Pat | PageType::PatInterior) => "pat_page",
            Some(PageType::Data) => "data_page",
            Some(PageType::Leaf | PageType::Internal) => "index_page",
            None => continue,
        };
        let k = seen.entry(target).or_default();
        if *k < 2 {
            *k += 1;
            out.put(target, &format!("legacy-page-{i}"), p);
        }
    }

    // The file with compact index leaves, whole, and its index pages: the page and
    // file targets then start from leaves whose columns share parts.
    let vfs = TestVfs::new();
    let mut eng = engine(&vfs, LogMode::Off);
    let path = Path::new(DATA);
    eng.create(
        path,
        &FileSpec {
            compact_leaves: true,
            slot_serial_bytes: 8,
            ..spec()
        },
    )
    .expect("create");
    let h = eng.open(path, OpenMode::Normal).expect("open");
    for i in 0..120 {
        eng.insert(h, &record(i)).expect("insert");
    }
    eng.close(h).expect("close");
    eng.flush().expect("flush");
    drop(eng);
    let file = vfs.contents(path).expect("compact data file");
    out.put("data_file", "compact-whole.btr", &file);
    for (i, p) in file.chunks(PAGE_SIZE).enumerate() {
        if page::type_of(p) == Some(PageType::Leaf) {
            out.put("index_page", &format!("compact-page-{i}"), p);
        }
    }

    // A file of 3-byte slot serials whose first pages kept old records while later
    // inserts came: data pages with a base, offsets from it, and freed slots.
    let vfs = TestVfs::new();
    let mut eng = engine(&vfs, LogMode::Off);
    eng.create(
        path,
        &FileSpec {
            slot_serial_bytes: 3,
            ..spec()
        },
    )
    .expect("create");
    let h = eng.open(path, OpenMode::Normal).expect("open");
    for i in 0..120 {
        eng.insert(h, &record(i)).expect("insert");
    }
    for i in (0..120u32).filter(|i| i % 3 != 0) {
        eng.get(h, engine::GetOp::Equal, 0, &i.to_le_bytes())
            .expect("get");
        eng.delete(h).expect("delete");
    }
    for i in 200..260 {
        eng.insert(h, &record(i)).expect("insert");
    }
    eng.close(h).expect("close");
    eng.flush().expect("flush");
    drop(eng);
    let file = vfs.contents(path).expect("narrow-serial data file");
    out.put("data_file", "narrow-serial-whole.btr", &file);
    for (i, p) in file.chunks(PAGE_SIZE).enumerate().take(6) {
        if page::type_of(p) == Some(PageType::Data) {
            out.put("data_page", &format!("narrow-serial-page-{i}"), p);
        }
    }

    // Pre-image files of the preimage target's legacy file: void (after a committed
    // transaction), armed with the originals of its first pages, that armed file torn
    // inside its last frame, and with its newest header torn (the void one before it
    // is the state).
    let vfs = TestVfs::new();
    let data_path = Path::new(sim::fuzz::PREIMAGE_DATA);
    let data = sim::fuzz::legacy_data();
    vfs.put(data_path, data.to_vec());
    let mut e = engine(&vfs, LogMode::Off);
    let h = e.open(data_path, OpenMode::Normal).expect("open legacy");
    e.insert(h, &[0xEE; 16]).expect("insert");
    e.close(h).expect("close");
    e.flush().expect("flush");
    drop(e);
    let pre_path = engine::preimage::path_for(data_path);
    let void = vfs.contents(&pre_path).expect("the .PRE exists");
    out.put("preimage", "void.PRE", &void);
    let data = vfs.contents(data_path).expect("legacy data");
    let ps = sim::fuzz::legacy_spec().page_size as usize;
    let originals: Vec<(u32, Vec<u8>)> = (0..3u32)
        .map(|p| (p, data[p as usize * ps..(p as usize + 1) * ps].to_vec()))
        .collect();
    let mut pre = match engine::preimage::PreImageFile::find(&vfs, data_path, false) {
        Ok(engine::preimage::Found::Ours(pre)) => pre,
        _ => panic!("the legacy file has its own .PRE"),
    };
    pre.arm(1000, &originals, data.len() as u64, true)
        .expect("arm");
    drop(pre);
    let armed = vfs.contents(&pre_path).expect("armed .PRE");
    let frames_end =
        engine::preimage::format::frame_offset(ps as u32, originals.len() as u32) as usize;
    out.put(
        "preimage",
        "armed.PRE",
        &armed[..frames_end.min(armed.len())],
    );
    out.put("preimage", "torn-frame.PRE", &armed[..frames_end - ps / 2]);
    let mut torn_header = armed[..frames_end.min(armed.len())].to_vec();
    // The armed header went to the slot the void one did not occupy: find it by
    // which slot decodes as armed, and tear it.
    let hl = engine::appendfile::HEADER_LEN;
    let armed_slot = (0..2)
        .find(|&i| {
            matches!(
                engine::preimage::format::decode_slot(&torn_header[i * hl..(i + 1) * hl]),
                Ok(engine::preimage::format::Slot {
                    state: engine::preimage::format::PreState::Armed { .. },
                    ..
                })
            )
        })
        .expect("an armed slot");
    torn_header[armed_slot * hl + hl / 2..(armed_slot + 1) * hl].fill(0xC3);
    out.put("preimage", "torn-header.PRE", &torn_header);
    // Each seed reads as its name says: the armed set whole, the torn frame refused,
    // the torn header falling back to the void state.
    let armed_set = |pre: &[u8]| {
        let vfs = TestVfs::new();
        vfs.put(&pre_path, pre.to_vec());
        match engine::preimage::PreImageFile::find(&vfs, data_path, true) {
            Ok(engine::preimage::Found::Ours(p)) => {
                p.armed_set(false).map(|s| s.map(|s| s.0.len()))
            }
            _ => panic!("a seed's header is not the legacy file's"),
        }
    };
    assert_eq!(armed_set(&armed[..frames_end]).ok(), Some(Some(3)));
    assert!(armed_set(&armed[..frames_end - ps / 2]).is_err());
    assert_eq!(armed_set(&torn_header).ok(), Some(None));
    assert_eq!(armed_set(&void).ok(), Some(None));

    // A log written in Durability mode: one transaction per few inserts.
    let vfs = TestVfs::new();
    let mut eng = engine(&vfs, LogMode::Durability);
    let path = Path::new(DATA);
    eng.create(path, &spec()).expect("create");
    let h = eng.open(path, OpenMode::Normal).expect("open");
    let c = Client::DEFAULT;
    for t in 0..4u32 {
        eng.begin_transaction(c).expect("begin");
        for i in 0..3 {
            eng.insert(h, &record(t * 3 + i)).expect("insert");
        }
        eng.end_transaction(c).expect("end");
    }
    let seg = vfs
        .contents(Path::new("/log/00000001.LOG"))
        .expect("log segment");
    let scan = read_log(&vfs, Path::new("/log")).expect("read_log");
    drop(eng);
    // The segment is preallocated: keep only its used part, then tear the last record.
    let used = scan.segments[0].valid_len as usize;
    out.put("log_segment", "whole.LOG", &seg[..used]);
    out.put("log_segment", "torn.LOG", &seg[..used - 5]);
    for (i, r) in scan.records.iter().take(4).enumerate() {
        let mut e = vec![r.kind.get()];
        e.extend_from_slice(&r.payload);
        out.put("log_entry", &format!("entry-{i}"), &e);
    }

    // A delta: start a backup, then change the file.
    let vfs = TestVfs::new();
    let mut eng = engine(&vfs, LogMode::Off);
    fill(&mut eng, 20);
    eng.start_backup(&[PathBuf::from(DATA)]).expect("startbu");
    let h = eng.open(path, OpenMode::Normal).expect("open");
    for i in 100..110 {
        eng.insert(h, &record(i)).expect("insert");
    }
    eng.close(h).expect("close");
    eng.flush().expect("flush");
    let delta = vfs
        .contents(delta_path(path).expect("delta path"))
        .expect("delta file");
    drop(eng);
    out.put("delta_file", "whole.^^^", &delta);
    out.put(
        "delta_file",
        "partial-frame.^^^",
        &delta[..delta.len() - 100],
    );
    out.put(
        "delta_file",
        "header-only.^^^",
        &delta[..delta.len().min(64)],
    );

    // Archival logging: blog.cfg files, good and with each refused entry, and an
    // archival log written under the fuzz header — whole, torn, header only, and its
    // frames alone (the target reads them after that header) and one frame's payload.
    let long_line = format!("/db/{}.btr\n", "x".repeat(260));
    for (name, text) in [
        (
            "plain.cfg",
            "\\db\\invoice.btr\n\\db\\person.btr=\\logs\\\n",
        ),
        (
            "mixed.cfg",
            "\u{feff}# archived files\r\n/db/a.btr\t/db/b.btr=/logs/b   # two\r\n\
             /db/c=/logs/c.arc #c\n\u{1a}",
        ),
        ("long-line.cfg", long_line.as_str()),
        ("space.cfg", "/db/a.btr= /logs/a.log\n"),
        ("duplicate.cfg", "\\db\\a.btr\n/db//a.btr=/other/\n"),
        ("shared-log.cfg", "/db/INVOICE.HDR /db/INVOICE.DET\n"),
        ("relative.cfg", "db/a.btr C:\\db\\b.btr\n"),
    ] {
        out.put("archival_config", name, text.as_bytes());
    }
    let vfs = TestVfs::new();
    let alog = Path::new("/logs/fuzz.log");
    let mut w = ArchivalWriter::create(&vfs, alog, sim::fuzz::archival_fuzz_header())
        .expect("create archival log");
    for v in 1..=4u64 {
        let changes: Vec<Change> = (0..v)
            .map(|i| match (v + i) % 3 {
                0 => Change::Insert {
                    serial: v * 10 + i,
                    record: record((v * 10 + i) as u32),
                },
                1 => Change::Update {
                    serial: i,
                    old: record(i as u32),
                    new: record(i as u32 + 100),
                },
                _ => Change::Delete {
                    serial: i,
                    old: record(i as u32),
                },
            })
            .collect();
        w.append(v, v * 2, &changes).expect("append");
    }
    w.append(5, 10, &[]).expect("append");
    drop(w);
    let log = vfs.contents(alog).expect("archival log");
    let (_, entries) = engine::archival::read_log(&vfs, alog).expect("read archival log");
    assert_eq!(entries.len(), 5);
    out.put("archival_log", "whole.log", &log);
    out.put("archival_log", "torn.log", &log[..log.len() - 20]);
    out.put("archival_log", "header-only.log", &log[..512]);
    out.put("archival_log", "frames.bin", &log[512..]);
    let first_payload_len = u32::from_le_bytes(log[512 + 24..512 + 28].try_into().unwrap());
    let payload_at = 512 + engine::archival::format::FRAME_HEADER_LEN;
    out.put(
        "archival_log",
        "payload.bin",
        &log[payload_at..payload_at + first_payload_len as usize],
    );

    // Formats: the demo descriptions and sequential files, and their round trips.
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/demodata");
    for name in ["course", "enrollment", "person"] {
        let des = fs::read(demo.join(format!("{name}.des"))).expect("demo .des");
        out.put("description", &format!("{name}.des"), &des);
        let seq = fs::read(demo.join(format!("{name}.seq"))).expect("demo .seq");
        out.put(
            "sequential",
            &format!("{name}.seq"),
            &seq[..seq.len().min(1024)],
        );
    }
    let des = write_description(&spec());
    assert_eq!(parse_description(des.as_bytes()).ok(), Some(spec()));
    out.put("description", "written.des", des.as_bytes());
    let mut seq = Vec::new();
    for i in 0..5 {
        write_record(&mut seq, &record(i));
    }
    write_end(&mut seq);
    out.put("sequential", "written.seq", &seq);
    out.put("list_file", "plain.lst", b"/data/a.btr\n/data/b.btr\n");
    out.put(
        "list_file",
        "crlf-bom-eof.lst",
        b"\xEF\xBB\xBFa.btr\r\n\r\nb c.btr\r\n\x1A",
    );
    out.put("list_file", "wildcard.lst", b"/data/*.btr\n");

    // Admin requests: one of each kind (naming the file the target's engine holds,
    // so they execute), and malformed frames.
    {
        use engine::admin::{encode_request, Request};
        let held = PathBuf::from(sim::fuzz::ADMIN_FUZZ_FILE);
        let requests = [
            ("stat", Request::Stat { path: held.clone() }),
            ("check", Request::Check { path: held.clone() }),
            (
                "startbu",
                Request::StartBackup {
                    paths: vec![held.clone()],
                },
            ),
            (
                "startbu-missing",
                Request::StartBackup {
                    paths: vec![held.clone(), PathBuf::from("/fuzz/missing.btr")],
                },
            ),
            (
                "endbu",
                Request::EndBackup {
                    paths: Some(vec![held.clone()]),
                },
            ),
            ("endbu-all", Request::EndBackup { paths: None }),
            (
                "killbu",
                Request::KillBackup {
                    paths: vec![held.clone()],
                },
            ),
            ("flush", Request::Flush),
        ];
        for (name, req) in &requests {
            let bytes = encode_request(req).expect("encodable seed");
            out.put("admin_request", &format!("{name}.kadm"), &bytes);
        }
        let stat = encode_request(&requests[0].1).expect("encodable seed");
        out.put(
            "admin_request",
            "bad-truncated.kadm",
            &stat[..stat.len() - 3],
        );
        let mut bad = stat.clone();
        bad[4] = 9;
        out.put("admin_request", "bad-version.kadm", &bad);
        let mut bad = stat.clone();
        bad[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        out.put("admin_request", "bad-length.kadm", &bad);
        let mut bad = stat.clone();
        let n = bad.len();
        bad[n - 1] = 0xff;
        out.put("admin_request", "bad-utf8.kadm", &bad);
        let mut bad = stat;
        bad.push(0);
        out.put("admin_request", "bad-trailing.kadm", &bad);
    }

    // Workloads: plans (any bytes decode to one). Random blobs, each the first whose
    // plan exercises what its name says, so the fuzzer starts from every feature.
    use sim::plan::{Plan, PlanLogMode};
    use sim::workload::Step;
    let crash = |p: &Plan| p.has(Step::CrashNow) || p.has(Step::CrashInCommit);
    type Wants<'a> = &'a dyn Fn(&Plan) -> bool;
    let wanted: [(&str, Wants); 4] = [
        ("backup-cycle-crash", &|p| {
            p.setup.files() >= 2
                && p.has(Step::StartBackup)
                && p.has(Step::CopyBackup)
                && p.has(Step::EndBackup)
                && crash(p)
        }),
        ("durability-transfers-crash-in-commit", &|p| {
            p.setup.log_mode == PlanLogMode::Durability
                && p.setup.files() >= 2
                && p.has(Step::Transfer)
                && p.has(Step::CrashInCommit)
        }),
        ("logging-transactions-crash", &|p| {
            p.setup.log_mode == PlanLogMode::Logging
                && p.has(Step::Begin)
                && p.has(Step::End)
                && p.has(Step::Abort)
                && p.has(Step::CrashNow)
        }),
        ("off-lying-disk", &|p| {
            p.setup.log_mode == PlanLogMode::Off && p.setup.faults().has_lying() && crash(p)
        }),
    ];
    let mut next = 0u64;
    for (name, wants) in wanted {
        // Each seed is its own blob: search on from the last one taken.
        let (i, blob) = (next..)
            .map(|i| {
                use rand::{RngCore, SeedableRng};
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(i);
                let mut b = vec![0u8; 600];
                rng.fill_bytes(&mut b);
                (i, b)
            })
            .find(|(_, b)| wants(&Plan::from_bytes(b)))
            .expect("some blob matches");
        next = i + 1;
        out.put("workload", name, &blob);
    }
}
