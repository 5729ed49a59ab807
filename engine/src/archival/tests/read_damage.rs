//! Reading an archival log against damage: torn tails at every byte, damage a later
//! frame vouches for, frames with wrong fields or of another log, bad headers.

use super::*;

#[test]
fn a_torn_tail_at_every_byte_of_the_last_frame_ends_the_log_cleanly() {
    let vfs = TestVfs::new();
    let ends = build(&vfs, 4);
    let full = vfs.contents(lpath()).unwrap();
    for cut in ends[3] + 1..ends[4] {
        let s = assert_log_is(&with_bytes(full[..cut as usize].to_vec()), &[1, 2, 3]);
        assert_eq!((s.end, s.valid_len), (End::Torn, ends[3]), "cut {cut}");
    }
    // Every damaged byte of the last frame too: nothing after it vouches for it.
    for at in ends[3]..ends[4] {
        let mut b = full.clone();
        b[at as usize] ^= 0x40;
        let s = assert_log_is(&with_bytes(b), &[1, 2, 3]);
        assert_eq!(s.end, End::Torn, "flip at {at}");
    }
    // Zeros where a crash left an extending write's size but not its data.
    let mut b = full[..ends[3] as usize].to_vec();
    b.resize(ends[4] as usize, 0);
    let s = assert_log_is(&with_bytes(b), &[1, 2, 3]);
    assert_eq!((s.end, s.stop.clone()), (End::Torn, Stop::Zeros));
}

#[test]
fn damage_before_a_later_frame_is_an_error_naming_its_offset() {
    let vfs = TestVfs::new();
    let ends = build(&vfs, 5);
    let full = vfs.contents(lpath()).unwrap();
    for frame in 1..5usize {
        for at in [ends[frame - 1] + 1, (ends[frame - 1] + ends[frame]) / 2] {
            let mut b = full.clone();
            b[at as usize] ^= 0x08;
            let e = scan_log(&with_bytes(b), &lpath()).unwrap_err();
            assert_eq!(e.status, Status::IoError);
            assert!(
                e.context.contains(&format!(
                    "the frame at offset {} (sequence {frame})",
                    ends[frame - 1]
                )) && e.context.contains("a later frame exists"),
                "{e}"
            );
        }
    }
    // A hole (a frame zeroed) before frames that exist is damage too.
    let mut b = full.clone();
    b[ends[1] as usize..ends[2] as usize].fill(0);
    let e = scan_log(&with_bytes(b), &lpath()).unwrap_err();
    assert!(e.context.contains("a later frame exists"), "{e}");
}

#[test]
fn a_checked_frame_with_wrong_fields_is_damage_even_at_the_end() {
    let vfs = TestVfs::new();
    let ends = build(&vfs, 3);
    let full = vfs.contents(lpath()).unwrap();
    let layout = ArchivalLayout::of(&header());
    let reseal = |edit: &dyn Fn(&mut [u8])| {
        let mut b = full.clone();
        let f = &mut b[ends[2] as usize..ends[3] as usize];
        edit(f);
        seal_frame(layout.seed, f);
        scan_log(&with_bytes(b), &lpath()).unwrap_err()
    };
    for (edit, want) in [
        (&(|f: &mut [u8]| f[5] = 1) as &dyn Fn(&mut [u8]), "reserved"),
        (&|f: &mut [u8]| put_u64(f, 16, BASE), "the log began after"),
        (
            &|f: &mut [u8]| put_u64(f, 16, BASE + 1),
            "before the previous frame's",
        ),
        (
            &|f: &mut [u8]| f[FRAME_HEADER_LEN] = f[FRAME_HEADER_LEN].wrapping_add(1),
            "change",
        ),
    ] {
        let e = reseal(edit);
        assert_eq!(e.status, Status::IoError);
        assert!(
            e.context
                .contains(&format!("frame at offset {} (sequence 3)", ends[2]))
                && e.context.contains(want),
            "{want}: {e}"
        );
    }
}

#[test]
fn frames_of_another_log_never_continue_this_one() {
    // An earlier log at the same path (another id) left its frames on the disk.
    let vfs = TestVfs::new();
    build(&vfs, 3);
    let old = vfs.contents(lpath()).unwrap();
    let other = ArchivalHeader {
        log_id: LOG_ID + 1,
        ..header()
    };
    let mut b = other.encode().to_vec();
    b.extend_from_slice(&old[ARCHIVAL_HEADER_LEN..]);
    let s = scan_log(&with_bytes(b), &lpath()).unwrap();
    assert_eq!((s.entries, s.end), (0, End::Torn));
    assert_eq!(s.stop, Stop::BadChecksum);
}

#[test]
fn foreign_torn_and_interrupted_headers_are_refused_plainly() {
    // Not an archival log at all: another Keel file, a text file.
    let mut delta = crate::delta::DeltaHeader {
        state: crate::delta::DeltaState::Active,
        page_size: 512,
        fcr_seq: 1,
        set_id: 1,
    }
    .encode()
    .to_vec();
    delta.extend_from_slice(&[0; 64]);
    let e = scan_log(&with_bytes(delta), &lpath()).unwrap_err();
    assert_eq!(e.status, Status::IoError);
    assert!(
        e.context.contains("not a Keel archival log (bad magic)"),
        "{e}"
    );
    let e = scan_log(&with_bytes(b"/db/a.btr\n".repeat(100)), &lpath()).unwrap_err();
    assert!(e.context.contains("fails its checksum"), "{e}");
    // A creation a crash interrupted: empty, or a torn header and nothing after it.
    for bytes in [vec![], vec![0u8; 512], header().encode()[..300].to_vec()] {
        let vfs = with_bytes(bytes);
        assert_eq!(probe_log(&vfs, &lpath()).unwrap(), LogProbe::Interrupted);
        let e = scan_log(&vfs, &lpath()).unwrap_err();
        assert!(e.context.contains("its creation was interrupted"), "{e}");
    }
    // A torn header with frames after it is damage.
    let vfs = TestVfs::new();
    build(&vfs, 2);
    let mut b = vfs.contents(lpath()).unwrap();
    b[100] ^= 1;
    let vfs = with_bytes(b);
    assert_eq!(probe_log(&vfs, &lpath()).unwrap(), LogProbe::Present);
    let e = scan_log(&vfs, &lpath()).unwrap_err();
    assert!(e.context.contains("the header fails its checksum"), "{e}");
    // Never the interrupted creation's advice (remove it): that would throw the
    // frames away.
    assert!(!e.context.contains("interrupted"), "{e}");
}
