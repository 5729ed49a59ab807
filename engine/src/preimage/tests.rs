use super::format;
use super::*;
use crate::vfs::testing::{Rng, TestVfs};

const PS: u32 = 512;

fn data() -> &'static Path {
    Path::new("/d/INVOICE.HDR")
}

fn ours(vfs: &TestVfs) -> PreImageFile {
    match PreImageFile::find(vfs, data(), false).unwrap() {
        Found::Ours(p) => p,
        _ => panic!("not ours"),
    }
}

fn images(n: u8) -> Vec<(u32, Vec<u8>)> {
    (0..n)
        .map(|i| (u32::from(i) + 2, vec![i; PS as usize]))
        .collect()
}

#[test]
fn an_armed_set_is_read_back_whole_and_a_void_one_never() {
    let vfs = TestVfs::new();
    assert!(matches!(
        PreImageFile::find(&vfs, data(), false).unwrap(),
        Found::Absent
    ));
    let mut p = PreImageFile::create(&vfs, data(), PS, 1).unwrap();
    assert_eq!(p.armed_set(false).unwrap(), None);
    p.arm(2, &images(3), 4096, true).unwrap();
    let again = ours(&vfs);
    assert_eq!(again.armed_set(false).unwrap(), Some((images(3), 4096)));
    p.void().unwrap();
    let again = ours(&vfs);
    assert_eq!(again.armed_set(false).unwrap(), None);
    // The known-bad engine `apply-stale-preimage` would find the void set.
    assert_eq!(again.armed_set(true).unwrap(), Some((images(3), 4096)));
}

#[test]
fn a_torn_header_rewrite_falls_back_to_the_state_before_it() {
    let vfs = TestVfs::new();
    let mut p = PreImageFile::create(&vfs, data(), PS, 1).unwrap();
    p.arm(2, &images(2), 2048, true).unwrap();
    // The void header's write is lost to a crash that leaves garbage in its slot.
    p.void().unwrap();
    let slot = (p.current.hseq % format::SLOTS) as usize * HEADER_LEN;
    let mut b = vfs.contents(path_for(data())).unwrap();
    b[slot..slot + HEADER_LEN].fill(0xC3);
    vfs.put(path_for(data()), b);
    assert_eq!(
        ours(&vfs).armed_set(false).unwrap(),
        Some((images(2), 2048)),
        "the armed state is the newest valid one"
    );
}

#[test]
fn a_damaged_frame_of_an_armed_set_is_an_error_not_a_shorter_set() {
    let vfs = TestVfs::new();
    let mut p = PreImageFile::create(&vfs, data(), PS, 1).unwrap();
    p.arm(2, &images(3), 2048, true).unwrap();
    let mut b = vfs.contents(path_for(data())).unwrap();
    let at = format::frame_offset(PS, 1) as usize + 40;
    b[at] ^= 0xFF;
    vfs.put(path_for(data()), b.clone());
    let err = ours(&vfs).armed_set(false).unwrap_err();
    assert_eq!(err.status, Status::IoError);
    assert!(err.to_string().contains("pre-image 1 of 3"), "{err}");
    b.truncate(format::frame_offset(PS, 2) as usize);
    vfs.put(path_for(data()), b);
    assert!(ours(&vfs).armed_set(false).is_err());
}

#[test]
fn another_files_pre_and_a_foreign_file_are_told_apart() {
    let vfs = TestVfs::new();
    PreImageFile::create(&vfs, data(), PS, 1).unwrap();
    match PreImageFile::find(&vfs, Path::new("/d/INVOICE.DET"), false).unwrap() {
        Found::OtherOwner(o) => assert_eq!(o, "INVOICE.HDR"),
        _ => panic!("expected another owner"),
    }
    vfs.put(path_for(data()), b"not a pre-image file".repeat(100));
    assert!(matches!(
        PreImageFile::find(&vfs, data(), false).unwrap(),
        Found::Unreadable(_)
    ));
    // Even a short one: nothing half-made is ever at NAME.PRE.
    vfs.put(path_for(data()), vec![0; 100]);
    assert!(matches!(
        PreImageFile::find(&vfs, data(), false).unwrap(),
        Found::Unreadable(_)
    ));
}

#[test]
fn restore_puts_every_original_back_and_cuts_the_appended_pages() {
    let vfs = TestVfs::new();
    let f = vfs.open(data(), OpenMode::Truncate).unwrap();
    f.write_at(&vec![9u8; 8 * PS as usize], 0).unwrap();
    let set = images(3);
    restore(f.as_ref(), data(), PS, &set, 5 * u64::from(PS)).unwrap();
    let b = vfs.contents(data()).unwrap();
    assert_eq!(b.len(), 5 * PS as usize);
    for (p, img) in &set {
        let at = *p as usize * PS as usize;
        assert_eq!(&b[at..at + PS as usize], &img[..]);
    }
    assert!(b[..2 * PS as usize].iter().all(|&x| x == 9));
    // A power loss after a restore that synced keeps it.
    vfs.power_loss(&mut Rng::new(1));
    assert_eq!(vfs.contents(data()).unwrap(), b);
}

/// Rewrite the newest header of the `.PRE` at `data()` as `state` (a damaged but
/// sealed header, as a bit flip the checksum misses or a bug would leave).
fn put_header(vfs: &TestVfs, state: format::PreState) {
    let hseq = ours(vfs).current.hseq + 1;
    let slot = format::Slot {
        hseq,
        page_size: PS,
        owner: "INVOICE.HDR".into(),
        state,
    };
    let mut b = vfs.contents(path_for(data())).unwrap();
    let at = (hseq % format::SLOTS) as usize * HEADER_LEN;
    b[at..at + HEADER_LEN].copy_from_slice(&slot.encode());
    vfs.put(path_for(data()), b);
}

#[test]
fn a_huge_frame_count_in_a_short_file_stops_at_the_first_missing_frame() {
    let vfs = TestVfs::new();
    let mut p = PreImageFile::create(&vfs, data(), PS, 1).unwrap();
    p.arm(2, &images(2), 8 * u64::from(PS), true).unwrap();
    // A count of 2^32-1 over a file of as many pages: consistent, but only two frames
    // exist. The read must end at frame 2 (no loop over the count, nothing sized by it).
    put_header(
        &vfs,
        format::PreState::Armed {
            generation: 2,
            count: u32::MAX,
            orig_len: u64::from(u32::MAX) * u64::from(PS),
        },
    );
    let err = ours(&vfs).armed_set(false).unwrap_err();
    assert_eq!(err.status, Status::IoError);
    assert!(
        err.to_string()
            .contains("pre-image 2 of 4294967295 is missing"),
        "{err}"
    );
}

#[test]
fn an_armed_header_inconsistent_with_its_frames_is_refused_before_any_restore() {
    let vfs = TestVfs::new();
    let mut p = PreImageFile::create(&vfs, data(), PS, 1).unwrap();
    // Frames for pages 2 and 3, armed for a file of 8 pages: fine.
    p.arm(2, &images(2), 8 * u64::from(PS), true).unwrap();
    assert!(ours(&vfs).armed_set(false).unwrap().is_some());
    for (count, orig_len, why) in [
        // More originals than the file had pages.
        (2, u64::from(PS), "damaged (2 pre-images"),
        // Not a whole number of pages.
        (2, 8 * u64::from(PS) + 1, "damaged (2 pre-images"),
        // Page 3's original, but the file had only 3 pages (0-2).
        (2, 3 * u64::from(PS), "restores page 3 of a file of 3 pages"),
    ] {
        put_header(
            &vfs,
            format::PreState::Armed {
                generation: 2,
                count,
                orig_len,
            },
        );
        let err = ours(&vfs).armed_set(false).unwrap_err();
        assert_eq!(err.status, Status::IoError);
        assert!(err.to_string().contains(why), "{why}: {err}");
    }
}

#[test]
fn a_header_in_the_wrong_slot_is_damage_not_the_newest_state() {
    let vfs = TestVfs::new();
    let mut p = PreImageFile::create(&vfs, data(), PS, 1).unwrap();
    p.arm(2, &images(2), 2048, true).unwrap();
    p.void().unwrap();
    // A misdirected write puts a newer "void" header (of the armed slot's parity) into
    // the void slot: both slots now claim one parity. Only the one in its own slot
    // counts, and the newest valid state stays the void one, read from its slot.
    let b = vfs.contents(path_for(data())).unwrap();
    let armed_slot = ((p.current.hseq + 1) % format::SLOTS) as usize;
    let void_slot = 1 - armed_slot;
    let mut forged = p.current.clone();
    forged.hseq += 1; // the armed slot's parity, written into the void slot
    forged.state = format::PreState::Armed {
        generation: 2,
        count: 2,
        orig_len: 2048,
    };
    let mut bad = b.clone();
    bad[void_slot * HEADER_LEN..(void_slot + 1) * HEADER_LEN].copy_from_slice(&forged.encode());
    vfs.put(path_for(data()), bad);
    // The void slot now holds a header of the wrong parity: ignored; the armed slot's
    // older header is the newest valid state.
    let found = ours(&vfs);
    assert_eq!(found.current.hseq, p.current.hseq - 1);
    assert!(found.is_armed());
}
