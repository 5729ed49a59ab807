//! Tests of the archival log's bytes: header and frame round trips, and every
//! decode refusal.

use super::*;

fn header() -> ArchivalHeader {
    ArchivalHeader::for_data_file(Path::new("/db/INVOICE.btr"), 41, 0xA1).unwrap()
}

fn changes() -> Vec<Change> {
    vec![
        Change::Insert {
            serial: 1,
            record: vec![7; 20],
        },
        Change::Update {
            serial: 1,
            old: vec![7; 20],
            new: vec![8; 20],
        },
        Change::Delete {
            serial: 9,
            old: vec![3; 5],
        },
    ]
}

fn fields(e: &Entry) -> FrameFields {
    FrameFields {
        log_seq: e.log_seq,
        fcr_seq: e.fcr_seq,
        applied_lsn: e.applied_lsn,
        sync_gap: 0,
    }
}

fn resealed(layout: &ArchivalLayout, mut f: Vec<u8>, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edit(&mut f);
    seal_frame(layout.seed, &mut f);
    f
}

#[test]
fn header_round_trips_and_refuses_what_no_writer_writes() {
    let h = header();
    assert_eq!(h.data_name, "INVOICE.btr");
    let b = h.encode();
    assert_eq!(ArchivalHeader::decode(&b), Ok(h.clone()));
    let reseal = |edit: &dyn Fn(&mut [u8; 512])| {
        let mut b = h.encode();
        edit(&mut b);
        let crc = crc32c::crc32c(&b[4..]);
        put_u32(&mut b, 0, crc);
        ArchivalHeader::decode(&b)
    };
    for (edit, want) in [
        (
            &(|b: &mut [u8; 512]| put_u16(b, 32, 0)) as &dyn Fn(&mut [u8; 512]),
            "0 bytes",
        ),
        (&|b: &mut [u8; 512]| put_u16(b, 32, 256), "256 bytes"),
        (&|b: &mut [u8; 512]| put_u16(b, 32, u16::MAX), "65535 bytes"),
        (&|b: &mut [u8; 512]| b[NAME_AT] = 0xff, "not UTF-8"),
        (&|b: &mut [u8; 512]| b[NAME_AT] = b'/', "holds `/`"),
        (&|b: &mut [u8; 512]| b[35] = 1, "reserved"),
        (&|b: &mut [u8; 512]| b[511] = 1, "reserved"),
    ] {
        match reseal(edit) {
            Err(HeaderError::Invalid(why)) => assert!(why.contains(want), "{why}"),
            other => panic!("{want}: {other:?}"),
        }
    }
    // A delta's header is another kind of file.
    let mut other = h.encode();
    other[4..12].copy_from_slice(b"KEELDLTA");
    let crc = crc32c::crc32c(&other[4..]);
    put_u32(&mut other, 0, crc);
    assert!(matches!(
        ArchivalHeader::decode(&other),
        Err(HeaderError::BadMagic { .. })
    ));
    let e = header_error(&HeaderError::BadChecksum, Path::new("/l/a.log"));
    assert_eq!(e.status, Status::IoError);
    assert!(
        e.context.starts_with("archival log /l/a.log: "),
        "{}",
        e.context
    );
}

#[test]
fn a_data_file_needs_a_usable_name() {
    for p in ["/", "/db/..", ""] {
        let e = ArchivalHeader::for_data_file(Path::new(p), 1, 1).unwrap_err();
        assert_eq!(e.status, Status::InvalidFileName, "{p:?}");
    }
    let long = format!("/db/{}", "x".repeat(256));
    let e = ArchivalHeader::for_data_file(Path::new(&long), 1, 1).unwrap_err();
    assert_eq!(e.status, Status::InvalidFileName);
    let ok = format!("/db/{}", "é".repeat(127));
    let h = ArchivalHeader::for_data_file(Path::new(&ok), 1, 1).unwrap();
    assert_eq!(ArchivalHeader::decode(&h.encode()), Ok(h.clone()));
    assert!(h.check_data_file(Path::new(&ok)).is_ok());
    let e = h.check_data_file(Path::new("/db/other.btr")).unwrap_err();
    assert_eq!(e.status, Status::IoError);
}

#[test]
fn seeds_differ_for_every_identity() {
    let h = header();
    let s = h.frame_seed();
    for other in [
        ArchivalHeader {
            base_fcr_seq: 42,
            ..h.clone()
        },
        ArchivalHeader {
            log_id: 0xA2,
            ..h.clone()
        },
        ArchivalHeader {
            data_name: "INVOICE.btx".into(),
            ..h.clone()
        },
    ] {
        assert_ne!(other.frame_seed(), s, "{other:?}");
    }
}

#[test]
fn frames_round_trip_with_and_without_changes() {
    let layout = ArchivalLayout::of(&header());
    for changes in [vec![], changes()] {
        let e = Entry {
            log_seq: 3,
            fcr_seq: 50,
            applied_lsn: 977,
            changes,
        };
        let mut out = vec![0xEE; 8]; // frames append after what is there
        encode_frame(&layout, fields(&e), &e.changes, &mut out);
        let f = &out[8..];
        assert_eq!(f.len() % 8, 0);
        assert_eq!(f.len(), frame_len(payload_len(&e.changes).unwrap()));
        let raw = decode_raw(&layout, f).unwrap();
        assert_eq!(raw.encoded_len(), f.len());
        assert_eq!(raw.check(), Ok(e));
        assert_eq!(layout.watermark(f), Some((3, 3)));
    }
}

#[test]
fn decode_classifies_crash_damage_and_never_trusts_a_length() {
    let h = header();
    let layout = ArchivalLayout::of(&h);
    let e = Entry {
        log_seq: 1,
        fcr_seq: 42,
        applied_lsn: 0,
        changes: changes(),
    };
    let mut good = Vec::new();
    encode_frame(&layout, fields(&e), &e.changes, &mut good);
    assert_eq!(decode_raw(&layout, &[]), Err(Stop::EndOfData));
    assert_eq!(decode_raw(&layout, &[0; 100]), Err(Stop::Zeros));
    for cut in 1..good.len() {
        assert_eq!(
            decode_raw(&layout, &good[..cut]),
            Err(Stop::Incomplete),
            "{cut}"
        );
    }
    for i in 0..good.len() {
        let mut q = good.clone();
        q[i] ^= 0x20;
        assert!(decode_raw(&layout, &q).is_err(), "flip at {i}");
    }
    let other = ArchivalLayout::of(&ArchivalHeader { log_id: 1, ..h });
    assert_eq!(decode_raw(&other, &good), Err(Stop::BadChecksum));
    let mut huge = good.clone();
    put_u32(&mut huge, 24, u32::MAX);
    assert!(matches!(
        decode_raw(&layout, &huge),
        Err(Stop::Malformed(_))
    ));
}

#[test]
fn field_checks_refuse_what_no_writer_writes() {
    let layout = ArchivalLayout::of(&header());
    let mut good = Vec::new();
    let e = Entry {
        log_seq: 2,
        fcr_seq: 42,
        applied_lsn: 5,
        changes: changes(),
    };
    encode_frame(&layout, fields(&e), &e.changes, &mut good);
    let p = FRAME_HEADER_LEN;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            resealed(&layout, good.clone(), |f| f[4] = 2),
            "unknown frame kind 2",
        ),
        (resealed(&layout, good.clone(), |f| f[6] = 1), "reserved"),
        (
            resealed(&layout, good.clone(), |f| put_u64(f, 8, 0)),
            "number 0",
        ),
        (
            resealed(&layout, good.clone(), |f| put_u64(f, 16, 0)),
            "FCR sequence number 0",
        ),
        (
            resealed(&layout, good.clone(), |f| put_u32(f, 28, 2)),
            "below frame 1",
        ),
        (
            resealed(&layout, good.clone(), |f| put_u32(f, p, 100)),
            "cannot hold",
        ),
        (
            resealed(&layout, good.clone(), |f| put_u32(f, p, 4)),
            "change 3 is missing",
        ),
        (
            resealed(&layout, good.clone(), |f| put_u32(f, p, 2)),
            "follow the last change",
        ),
        (
            resealed(&layout, good.clone(), |f| f[p + 4] = 9),
            "unknown kind 9",
        ),
        (
            resealed(&layout, good.clone(), |f| put_u32(f, p + 4 + 9, 1000)),
            "truncated",
        ),
    ];
    for (bytes, want) in cases {
        let raw = decode_raw(&layout, &bytes).expect("resealed frames check out");
        let why = raw.check().unwrap_err();
        assert!(why.contains(want), "wanted {want:?}, got {why:?}");
    }
    // The watermark filter refuses the same headers the checks do.
    let bad_kind = resealed(&layout, good.clone(), |f| f[4] = 2);
    assert_eq!(layout.watermark(&bad_kind), None);
    let gap = resealed(&layout, good.clone(), |f| put_u32(f, 28, 2));
    assert_eq!(layout.watermark(&gap), None);
    let gap1 = resealed(&layout, good, |f| put_u32(f, 28, 1));
    assert_eq!(layout.watermark(&gap1), Some((2, 1)));
}

#[test]
fn oversized_payloads_are_refused_up_front() {
    assert_eq!(payload_len(&[]), Some(4));
    let big = Change::Insert {
        serial: 1,
        record: vec![0; MAX_PAYLOAD],
    };
    assert_eq!(payload_len(&[big]), None);
}
