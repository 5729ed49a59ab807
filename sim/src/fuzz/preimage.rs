//! Pre-image files (`NAME.PRE`) of legacy-format data files: the bytes a crash may
//! leave behind and an open must read before it trusts the data file.

use std::path::Path;
use std::sync::Arc;

use engine::appendfile::HEADER_LEN;
use engine::clock::ManualClock;
use engine::preimage::format::{self, PreState, Slot};
use engine::preimage::{path_for, Found, PreImageFile};
use engine::vfs::MemVfs;
use engine::{Config, Engine, FileFormat, FileSpec, OpenMode};

/// The data file whose `.PRE` the input is (its owner name is `F.BTR`).
pub const DATA: &str = "/d/F.BTR";

/// The legacy data file each input is opened against: made once by the engine, a few
/// records in 512-byte pages (the page size the seeds' headers name). Deterministic,
/// so a crash reproduces from the input alone.
pub fn legacy_data() -> &'static [u8] {
    static FILE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let vfs = MemVfs::new();
        let mut eng = engine(vfs.clone());
        let path = Path::new(DATA);
        eng.create(path, &legacy_spec())
            .expect("creating the fuzz legacy file");
        let h = eng.open(path, OpenMode::Normal).expect("opening it");
        for i in 0..40u32 {
            let mut r = [0u8; 16];
            r[..4].copy_from_slice(&i.to_le_bytes());
            eng.insert(h, &r).expect("inserting");
        }
        eng.close(h).expect("closing");
        eng.flush().expect("flushing");
        drop(eng);
        vfs.contents(path).expect("the file exists")
    })
}

/// The fuzz legacy file's layout: 16-byte records, one unique 4-byte key.
pub fn legacy_spec() -> FileSpec {
    FileSpec {
        format: FileFormat::V5,
        compact_leaves: false,
        slot_serial_bytes: 8,
        ..FileSpec::unique_u32_key(16, 512)
    }
}

fn engine(vfs: MemVfs) -> Engine {
    Engine::new(
        Arc::new(vfs),
        Arc::new(ManualClock::new()),
        Config::default(),
    )
}

/// The bytes as a whole `.PRE` file. Three readings that must agree:
/// 1. each header slot through `decode_slot` (a decoded slot re-encodes to itself),
///    the newest valid one chosen as the engine does, then `decode_frame` on the
///    frames it names that the input holds;
/// 2. `PreImageFile::find` + `armed_set` over a `MemVfs` holding the bytes at
///    [`DATA`]'s `.PRE`, read-only and writable: it must pick the same header, and a
///    set it returns must be whole and within the file it claims;
/// 3. `Engine::open` of [`legacy_data`] at [`DATA`] beside it, which restores an armed
///    set (or refuses the file).
pub fn preimage(data: &[u8]) {
    read_all_ways(data);
    // Checksums guard every field, so mutated bytes almost never get past them; the
    // same input again with its headers and named frames resealed reaches the checks
    // behind them (field ranges, owner, frame places, set against file).
    let sealed = resealed(data);
    if sealed != data {
        read_all_ways(&sealed);
    }
}

/// `data` with both header slots and every frame the newest resealed header names
/// (that the input holds) given correct checksums, magic and version.
fn resealed(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    for i in 0..format::SLOTS as usize {
        let at = i * HEADER_LEN;
        if let Some(sector) = out.get_mut(at..at + HEADER_LEN) {
            let mut s = [0u8; HEADER_LEN];
            s.copy_from_slice(sector);
            // The envelope (checksum, magic, version) is `seal`'s to write.
            s[..16].fill(0);
            format::PRE.seal(&mut s);
            sector.copy_from_slice(&s);
        }
    }
    if let Some(s) = newest_slot(&out) {
        let (PreState::Armed { count, .. } | PreState::Void { count, .. }) = s.state;
        let len = format::frame_bytes(s.page_size);
        for i in 0..count {
            let at = format::frame_offset(s.page_size, i);
            let Some(frame) = usize::try_from(at)
                .ok()
                .and_then(|at| out.get_mut(at..at.checked_add(len as usize)?))
            else {
                break;
            };
            engine::appendfile::seal_frame(0, frame);
        }
    }
    out
}

/// The three readings of the module's target over one input.
fn read_all_ways(data: &[u8]) {
    let best = newest_slot(data);
    if let Some(s) = &best {
        frames_directly(data, s);
    }

    let vfs = MemVfs::new();
    let data_path = Path::new(DATA);
    vfs.insert(path_for(data_path), data.to_vec());
    for read_only in [true, false] {
        match PreImageFile::find(&vfs, data_path, read_only) {
            Ok(Found::Ours(p)) => {
                let s = best
                    .as_ref()
                    .expect("find chose a header decode_slot refused");
                assert_eq!(s.owner, "F.BTR");
                assert_eq!(p.page_size(), s.page_size);
                assert_eq!(p.is_armed(), matches!(s.state, PreState::Armed { .. }));
                for even_if_void in [false, true] {
                    if let Ok(Some((set, orig_len))) = p.armed_set(even_if_void) {
                        check_set(s, &set, orig_len);
                    }
                }
            }
            Ok(Found::OtherOwner(o)) => {
                let s = best
                    .as_ref()
                    .expect("find chose a header decode_slot refused");
                assert_eq!(o, s.owner);
                assert_ne!(o, "F.BTR");
            }
            Ok(Found::Unreadable(_)) => {
                assert!(best.is_none(), "find refused a header decode_slot took");
            }
            Ok(Found::Absent) => panic!("find missed a file that exists"),
            Err(_) => {}
        }
    }

    vfs.insert(DATA, legacy_data().to_vec());
    let mut eng = engine(vfs);
    if let Ok(h) = eng.open(data_path, OpenMode::Normal) {
        let _ = eng.stat(h);
        let _ = eng.close(h);
    }
}

/// The valid header slot with the highest sequence number, as `find` chooses it.
fn newest_slot(data: &[u8]) -> Option<Slot> {
    let mut best: Option<Slot> = None;
    for i in 0..format::SLOTS as usize {
        let at = i * HEADER_LEN;
        let buf = data.get(at..).unwrap_or(&[]);
        let Ok(s) = format::decode_slot(&buf[..buf.len().min(HEADER_LEN)]) else {
            continue;
        };
        let again = format::decode_slot(&s.encode());
        assert_eq!(
            again.as_ref().ok(),
            Some(&s),
            "slot encode→decode round trip"
        );
        // A slot holding a header of the other parity is damage, as `find` rules (so
        // two valid slots never tie).
        if s.hseq % format::SLOTS != i as u64 {
            continue;
        }
        if best.as_ref().is_none_or(|b| s.hseq > b.hseq) {
            best = Some(s);
        }
    }
    best
}

/// `decode_frame` on every frame slot `s` names that lies within the input (the
/// count is read from the input, so the loop ends at the input's end, not at it).
fn frames_directly(data: &[u8], s: &Slot) {
    let (PreState::Armed {
        generation, count, ..
    }
    | PreState::Void {
        generation, count, ..
    }) = s.state;
    for i in 0..count {
        let at = format::frame_offset(s.page_size, i);
        let Some(buf) = usize::try_from(at).ok().and_then(|at| data.get(at..)) else {
            break;
        };
        match format::decode_frame(buf, s.page_size, generation, i) {
            Ok((_, image)) => assert_eq!(image.len(), s.page_size as usize),
            Err(_) => break,
        }
    }
}

/// A set `armed_set` returned: one whole page image per frame the header names, each
/// restoring a page inside the file's length before the transaction.
fn check_set(s: &Slot, set: &[(u32, Vec<u8>)], orig_len: u64) {
    let (PreState::Armed { count, .. } | PreState::Void { count, .. }) = s.state;
    assert_eq!(set.len() as u64, u64::from(count), "a set is whole");
    let ps = u64::from(s.page_size);
    for (physical, image) in set {
        assert_eq!(image.len() as u64, ps);
        assert!(
            (u64::from(*physical) + 1) * ps <= orig_len,
            "restores past the file"
        );
    }
}
