//! The scan against damage: torn tails at every byte, holes, stale and foreign frames,
//! damaged frames a later one vouches for, header damage, rotten images.

use super::*;

#[test]
fn torn_tail_at_every_byte_of_the_last_transaction_is_ignored() {
    let txns = history(PS, 5);
    let vfs = TestVfs::new();
    let ends = build(&vfs, PS, &txns);
    let full = vfs.contents(dpath()).unwrap();
    let (prev, last) = (ends[4] as usize, ends[5] as usize);
    assert_eq!(full.len(), last);
    for cut in prev..last {
        // Cut short, zero-filled, and overwritten with junk from `cut` on: each is a
        // crash outcome of the unacknowledged last transaction.
        let mut zeroed = full.clone();
        zeroed[cut..].fill(0);
        let mut junk = full.clone();
        junk[cut..].fill(0xA5);
        for (what, bytes) in [
            ("cut", full[..cut].to_vec()),
            ("zeroed", zeroed),
            ("junk", junk),
        ] {
            if bytes == full {
                continue; // zeroing the commit frame's zero padding changes nothing
            }
            let m = with_bytes(bytes);
            let s = scan_mem(&m).unwrap_or_else(|e| panic!("{what} at {cut}: {e}"));
            assert_scan_is(&m, &s, &txns[..4]);
            assert_eq!(s.valid_len, prev as u64, "{what} at {cut}");
            assert_eq!(
                s.next_seq,
                1 + txns[..4]
                    .iter()
                    .map(|t| t.pages.len() as u64 + 1)
                    .sum::<u64>()
            );
            let torn = what != "cut" || cut > prev;
            assert_eq!(s.end == End::Torn, torn, "{what} at {cut}");
        }
    }
}

#[test]
fn a_hole_before_the_last_commit_frame_is_a_crash_not_damage() {
    // The last transaction's commit frame reached the disk but one of its earlier
    // frames did not: the writer had not synced it, so it was never acknowledged.
    let txns = history(PS, 4);
    let vfs = TestVfs::new();
    let ends = build(&vfs, PS, &txns);
    let full = vfs.contents(dpath()).unwrap();
    let first = ends[3] as usize; // first frame of transaction 4
    for hole in [first, first + 200, first + frame_len(PS as usize)] {
        let mut b = full.clone();
        let end = (hole + 512).min(ends[4] as usize - 8);
        b[hole..end].fill(0);
        let m = with_bytes(b);
        let s = scan_mem(&m).unwrap();
        assert_scan_is(&m, &s, &txns[..3]);
        assert_eq!(s.end, End::Torn);
    }
}

/// The bytes of transaction `txns.last()` as the writer lays it out after `txns[..n-1]`.
fn tail_bytes(txns: &[Txn]) -> Vec<u8> {
    let m = TestVfs::new();
    let ends = build(&m, PS, txns);
    m.contents(dpath()).unwrap()[ends[txns.len() - 1] as usize..].to_vec()
}

#[test]
fn reopen_truncates_the_tail_durably_so_abandoned_frames_never_return() {
    // A crash while transaction 4 was being written kept its second frame and its
    // commit but lost its first frame. The reopened writer must remove those leftovers
    // durably: a transaction 4' of the same shape puts its frames exactly where they
    // are, so if a second crash lost 4''s second frame, the old one would show through
    // with the right number, index and checksum, and 4 and 4' would commit mixed.
    let txns = history(PS, 3);
    let mut t4 = txns.clone();
    t4.push(Txn::new(PS, 4, &[7, 8], &[]));
    let t4b = Txn::new(PS, 40, &[11, 12], &[]);
    for seed in 0..16 {
        let vfs = TestVfs::new();
        let ends = build(&vfs, PS, &txns);
        let lost = ends[3] as usize;
        let mut b = vfs.contents(dpath()).unwrap();
        b.extend_from_slice(&tail_bytes(&t4));
        b[lost..lost + FRAME_HEADER_LEN].fill(0);
        vfs.put(dpath(), b);
        let s = scan_delta(&vfs, &dpath()).unwrap();
        assert_scan_is(&vfs, &s, &txns);
        assert_eq!(
            (s.end, &s.stop, s.stop_offset),
            (End::Torn, &Stop::Zeros, lost as u64)
        );
        let mut w = DeltaWriter::open(&vfs, &dpath(), &s).unwrap();
        // The truncation is synced: a power loss now cannot bring the old tail back.
        vfs.power_loss(&mut Rng::new(seed));
        assert_eq!(vfs.contents(dpath()).unwrap().len(), lost, "seed {seed}");
        append(&mut w, &t4b).unwrap();
        let mut want = txns.clone();
        want.push(t4b.clone());
        let s = scan_delta(&vfs, &dpath()).unwrap();
        assert_scan_is(&vfs, &s, &want);
        assert_eq!(s.end, End::Clean);
    }
    // What the truncation prevents: 4''s first frame, then 4's second frame and commit.
    let vfs = TestVfs::new();
    let ends = build(&vfs, PS, &txns);
    let mut b = vfs.contents(dpath()).unwrap();
    let mut t4b_all = txns.clone();
    t4b_all.push(t4b.clone());
    let new = tail_bytes(&t4b_all);
    let old = tail_bytes(&t4);
    let first = frame_len(PS as usize);
    b.extend_from_slice(&new[..first]);
    b.extend_from_slice(&old[first..]);
    let mixed = with_bytes(b);
    let s = scan_mem(&mixed).unwrap();
    assert_eq!(
        s.commits, 4,
        "a mixture of 4 and 4' passes every frame check"
    );
    assert_eq!(s.state.as_ref(), Some(&t4[3].state));
    assert!(s.valid_len > ends[3]);
}

#[test]
fn open_refuses_a_stale_scan() {
    let vfs = TestVfs::new();
    let txns = history(PS, 2);
    build(&vfs, PS, &txns[..1]);
    let old = scan_mem(&vfs).unwrap();
    let mut w = DeltaWriter::open(&vfs, &dpath(), &old).unwrap();
    append(&mut w, &txns[1]).unwrap();
    drop(w);
    let e = DeltaWriter::open(&vfs, &dpath(), &old).unwrap_err();
    assert_eq!(e.status, Status::IoError);
    assert!(e.context.contains("scan it again"), "{e}");
    assert_scan_is(&vfs, &scan_mem(&vfs).unwrap(), &txns);
    // A header that changed (ending) since the scan: also stale.
    let fresh = scan_mem(&vfs).unwrap();
    let mut w = DeltaWriter::open(&vfs, &dpath(), &fresh).unwrap();
    w.set_ending().unwrap();
    let e = DeltaWriter::open(&vfs, &dpath(), &fresh).unwrap_err();
    assert!(e.context.contains("header differs"), "{e}");
}

#[test]
fn a_damaged_frame_before_a_later_transaction_is_an_error_naming_its_offset() {
    let txns = history(PS, 4);
    let vfs = TestVfs::new();
    let ends = build(&vfs, PS, &txns);
    let full = vfs.contents(dpath()).unwrap();
    // Frame offsets of transaction 2.
    let mut offsets = Vec::new();
    let mut at = ends[1] as usize;
    while at < ends[2] as usize {
        offsets.push(at);
        at += frame_len(get_u32(&full, at + 20) as usize);
    }
    assert_eq!(at, ends[2] as usize);
    assert_eq!(offsets.len(), txns[1].pages.len() + 1);
    for i in ends[1] as usize..ends[2] as usize {
        let frame_at = *offsets.iter().rev().find(|&&o| o <= i).unwrap();
        let mut b = full.clone();
        b[i] ^= 0x20;
        let e = scan_mem(&with_bytes(b)).unwrap_err();
        assert_eq!(e.status, Status::IoError, "flip at {i}");
        assert!(
            e.context.contains(&format!("frame at offset {frame_at} ")),
            "flip at {i}: {e}"
        );
        assert!(e.context.contains("a later transaction exists"), "{e}");
        assert!(e.context.contains("past frame"), "{e}");
    }
    // The same damage in the last transaction: a torn end, since nothing vouches.
    let mut b = full.clone();
    b[ends[3] as usize + 40] ^= 0x20;
    let m = with_bytes(b);
    assert_scan_is(&m, &scan_mem(&m).unwrap(), &txns[..3]);
}

#[test]
fn page_frames_of_an_unfinished_transaction_vouch_for_the_one_before() {
    // Transaction 3 was acknowledged; 4's page frames reached the disk but its commit
    // did not. Damage inside 3 is then provably not a crash's.
    let txns = history(PS, 4);
    assert!(!txns[3].pages.is_empty());
    let vfs = TestVfs::new();
    let ends = build(&vfs, PS, &txns);
    let mut b = vfs.contents(dpath()).unwrap();
    let commit4 =
        ends[4] as usize - frame_len(super::frame::commit_payload_len(txns[3].state.roots.len()));
    b.truncate(commit4);
    let m = with_bytes(b.clone());
    assert_scan_is(&m, &scan_mem(&m).unwrap(), &txns[..3]);
    b[ends[2] as usize + 10] ^= 1;
    let e = scan_mem(&with_bytes(b)).unwrap_err();
    assert!(e.context.contains(&format!("offset {} ", ends[2])), "{e}");
}

/// Re-seal the frame at `at` after `edit`, with the delta's seed.
fn reseal(b: &mut [u8], at: usize, edit: impl FnOnce(&mut [u8])) {
    let h = DeltaHeader::decode(b).unwrap();
    let len = frame_len(get_u32(b, at + 20) as usize);
    edit(&mut b[at..at + len]);
    let crc = crc32c::crc32c_append(h.frame_seed(), &b[at + 4..at + len]);
    put_u32(b, at, crc);
}

#[test]
fn a_checked_frame_with_wrong_fields_is_damage_even_at_the_end() {
    let txns = history(PS, 3);
    let vfs = TestVfs::new();
    let ends = build(&vfs, PS, &txns);
    let full = vfs.contents(dpath()).unwrap();
    let commit_len = |t: &Txn| frame_len(super::frame::commit_payload_len(t.state.roots.len()));
    let c3 = ends[3] as usize - commit_len(&txns[2]);
    let first3 = ends[2] as usize;
    type Edit = Box<dyn Fn(&mut [u8])>;
    let cases: Vec<(usize, Edit, &str)> = vec![
        (
            c3,
            Box::new(|f| put_u32(f, 24, 9)),
            "the commit counts 9 page and freed frames but",
        ),
        (
            first3,
            Box::new(|f| put_u32(f, 24, 1)),
            "it says it is frame 1 of its transaction but it is frame 0",
        ),
        (first3, Box::new(|f| f[4] = 9), "unknown frame kind 9"),
        (
            c3,
            Box::new(|f| put_u32(f, 32 + 8, 2)),
            "past the last logical page",
        ),
    ];
    for (at, edit, want) in cases {
        let mut b = full.clone();
        reseal(&mut b, at, edit);
        let e = scan_mem(&with_bytes(b)).unwrap_err();
        assert_eq!(e.status, Status::IoError);
        assert!(e.context.contains(want), "wanted {want:?}: {e}");
        assert!(e.context.contains(&format!("offset {at} ")), "{e}");
    }
    // A transaction naming a page past its own commit's logical page count.
    let mut b = full.clone();
    reseal(&mut b, c3, |f| put_u32(f, 32 + 8, 4));
    // Transaction 3 frees pages 4 and 6; with 4 logical pages (0..3) both are past.
    assert_eq!(txns[2].pages, [(4, None), (6, None)]);
    let e = scan_mem(&with_bytes(b)).unwrap_err();
    assert!(
        e.context
            .contains("changes logical page 4 but its commit says the file has 4"),
        "{e}"
    );
}

#[test]
fn frames_of_another_delta_never_continue_this_one() {
    // Delta B (another startbu) has one more transaction than A, of the same shapes,
    // so its last transaction's frames carry exactly the sequence numbers A expects
    // next. Its bytes left behind A's end (reused blocks after a crash) are ignored.
    let txns = history(PS, 3);
    let a = TestVfs::new();
    let a_ends = build(&a, PS, &txns[..2]);
    let b = TestVfs::new();
    let mut w = DeltaWriter::create(&b, &dpath(), PS, FCR_SEQ, SET + 1).unwrap();
    for t in &txns {
        append(&mut w, t).unwrap();
    }
    let mut bytes = a.contents(dpath()).unwrap();
    let b_bytes = b.contents(dpath()).unwrap();
    bytes.extend_from_slice(&b_bytes[a_ends[2] as usize..]);
    let m = with_bytes(bytes);
    let s = scan_mem(&m).unwrap();
    assert_scan_is(&m, &s, &txns[..2]);
    assert_eq!(s.stop, Stop::BadChecksum);
}

#[test]
fn frames_with_earlier_sequence_numbers_end_the_delta() {
    // A whole earlier transaction of this very delta (same seed, consistent indexes)
    // found again after the end — a misdirected or replayed write — is not a new one.
    let txns = history(PS, 3);
    let vfs = TestVfs::new();
    let ends = build(&vfs, PS, &txns);
    let mut b = vfs.contents(dpath()).unwrap();
    let again = b[ends[1] as usize..ends[2] as usize].to_vec();
    b.extend_from_slice(&again);
    let m = with_bytes(b);
    let s = scan_mem(&m).unwrap();
    assert_scan_is(&m, &s, &txns);
    let first_of_2 = txns[0].pages.len() as u64 + 2;
    assert_eq!(
        (s.stop, s.stop_offset, s.end),
        (Stop::Stale { seq: first_of_2 }, ends[3], End::Torn)
    );
}

#[test]
fn header_damage_is_an_error_and_an_interrupted_creation_is_recognised() {
    let txns = history(PS, 2);
    let vfs = TestVfs::new();
    build(&vfs, PS, &txns);
    let full = vfs.contents(dpath()).unwrap();
    for i in 0..DELTA_HEADER_LEN {
        let mut b = full.clone();
        b[i] ^= 0x01;
        let m = with_bytes(b);
        let e = scan_mem(&m).unwrap_err();
        assert_eq!(e.status, Status::IoError, "flip at {i}");
        assert!(e.context.contains("delta file /db/INVOICE.^^^"), "{e}");
        assert!(e.context.contains("checksum"), "{e}");
        // Frames follow the header: never called an interrupted creation, whose advice
        // (remove the delta) would throw the committed frames away.
        assert!(!e.context.contains("startbu was interrupted"), "{e}");
        assert_eq!(probe_delta(&m, &dpath()).unwrap(), DeltaProbe::Present);
    }
    // Other files, other versions.
    let mut b = full.clone();
    b[4..12].copy_from_slice(b"KEELDAT1");
    let crc = crc32c::crc32c(&b[4..512]);
    put_u32(&mut b, 0, crc);
    let e = scan_mem(&with_bytes(b)).unwrap_err();
    assert!(e.context.contains("not a Keel delta file"), "{e}");
    // A creation cut short: nothing but a torn header, or not even that.
    for len in [0usize, 100, 512] {
        let mut b = full[..len].to_vec();
        if len == 512 {
            b[300] ^= 1;
        }
        let m = with_bytes(b);
        assert_eq!(probe_delta(&m, &dpath()).unwrap(), DeltaProbe::Interrupted);
        let e = scan_mem(&m).unwrap_err();
        assert_eq!(e.status, Status::IoError);
        assert!(e.context.contains("startbu was interrupted"), "{e}");
    }
    let e = scan_mem(&TestVfs::new()).unwrap_err();
    assert_eq!(e.status, Status::FileNotFound);
    assert_eq!(
        probe_delta(&TestVfs::new(), &dpath()).unwrap(),
        DeltaProbe::Absent
    );
}

#[test]
fn rotten_images_are_reported_when_read() {
    let txns = history(PS, 3);
    let vfs = TestVfs::new();
    build(&vfs, PS, &txns);
    let s = scan_mem(&vfs).unwrap();
    let PageImage::Image(at) = s.pages[&3] else {
        panic!("page 3 has an image")
    };
    let mut b = vfs.contents(dpath()).unwrap();
    b[at.offset as usize + 100] ^= 4;
    vfs.put(dpath(), b);
    let file = vfs.open(&dpath(), OpenMode::ReadOnly).unwrap();
    let mut buf = vec![0u8; PS as usize];
    let e = read_image(file.as_ref(), &dpath(), &s.header, 3, at, &mut buf).unwrap_err();
    assert_eq!(e.status, Status::IoError);
    assert!(e.context.contains("fails its checksum"), "{e}");
    // Wrong page, wrong sequence, wrong buffer.
    let PageImage::Image(at5) = s.pages[&5] else {
        panic!("page 5 has an image")
    };
    let e = read_image(file.as_ref(), &dpath(), &s.header, 6, at5, &mut buf).unwrap_err();
    assert!(e.context.contains("not logical page 6"), "{e}");
    let stale = ImageRef {
        seq: at5.seq + 1,
        ..at5
    };
    assert!(read_image(file.as_ref(), &dpath(), &s.header, 5, stale, &mut buf).is_err());
    let e = read_image(file.as_ref(), &dpath(), &s.header, 5, at5, &mut buf[..10]).unwrap_err();
    assert_eq!(e.status, Status::InvalidOperation);
    // Sealed over a page's bytes but not a page frame — another kind, or a page frame
    // of another length: no writer makes one, and its checksum holds, so the fields
    // must decide (with either check alone, one of the two was served as the page).
    for (kind, len) in [
        (FrameKind::Commit as u8, PS),
        (FrameKind::Page as u8, PS - 8),
    ] {
        let mut b = vfs.contents(dpath()).unwrap();
        let from = at5.offset as usize;
        let f = &mut b[from..from + FRAME_HEADER_LEN + PS as usize];
        f[4] = kind;
        f[20..24].copy_from_slice(&len.to_le_bytes());
        crate::appendfile::frame::seal_frame(s.header.frame_seed(), f);
        vfs.put(dpath(), b);
        let file = vfs.open(&dpath(), OpenMode::ReadOnly).unwrap();
        let e = read_image(file.as_ref(), &dpath(), &s.header, 5, at5, &mut buf).unwrap_err();
        assert!(
            e.context.contains("not a page frame"),
            "kind {kind} length {len}: {e}"
        );
    }
}
