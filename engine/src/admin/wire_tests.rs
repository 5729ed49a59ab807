use super::*;

fn all_requests() -> Vec<Request> {
    let p = |s: &str| PathBuf::from(s);
    vec![
        Request::Stat {
            path: p("/data/a.btr"),
        },
        Request::Check {
            path: p("relative/ü.btr"),
        },
        Request::StartBackup {
            paths: vec![p("/data/a.btr"), p("/data/b c.btr")],
        },
        Request::EndBackup {
            paths: Some(vec![p("/data/a.btr")]),
        },
        Request::EndBackup { paths: None },
        Request::KillBackup {
            paths: vec![p("/x"), p("/y"), p("/z")],
        },
        Request::Flush,
    ]
}

#[test]
fn every_request_kind_round_trips() {
    for req in all_requests() {
        let bytes = encode_request(&req).expect("encodable");
        assert_eq!(decode_request(&bytes), Ok(req.clone()), "{req:?}");
    }
}

#[test]
fn replies_round_trip() {
    let reply = Reply {
        status: 85,
        exit_code: 85,
        stdout: "line\n".into(),
        stderr: "butil: x\nwhat to do: y\n".into(),
    };
    assert_eq!(decode_reply(&encode_reply(&reply)), Ok(reply));
    let ok = Reply {
        status: 0,
        exit_code: 0,
        stdout: String::new(),
        stderr: String::new(),
    };
    assert_eq!(decode_reply(&encode_reply(&ok)), Ok(ok));
}

#[test]
fn an_overlong_reply_is_cut_at_a_line() {
    let line = "x".repeat(99) + "\n";
    let reply = Reply {
        status: 2,
        exit_code: 2,
        stdout: line.repeat(MAX_REPLY_FRAME / 100 + 10),
        stderr: "e\n".into(),
    };
    let bytes = encode_reply(&reply);
    assert!(bytes.len() <= MAX_REPLY_FRAME);
    let back = decode_reply(&bytes).unwrap();
    assert!(back
        .stdout
        .ends_with("(output cut: too long for the admin endpoint's reply)\n"));
    assert_eq!(back.stderr, "e\n");
}

fn stat_frame() -> Vec<u8> {
    encode_request(&Request::Stat {
        path: PathBuf::from("/a"),
    })
    .unwrap()
}

/// A frame with `kind` and a raw payload.
fn raw(kind: u8, payload: &[u8]) -> Vec<u8> {
    frame(kind, payload)
}

#[test]
fn every_decode_error_class() {
    let good = stat_frame();
    // Truncated: short header, short payload, and every prefix of a good frame.
    for n in 0..good.len() {
        assert!(
            matches!(
                decode_request(&good[..n]),
                Err(DecodeError::Truncated { .. })
            ),
            "prefix {n}"
        );
    }
    // Wrong magic, version, reserved byte, unknown kind.
    let mut b = good.clone();
    b[0] = b'X';
    assert_eq!(decode_request(&b), Err(DecodeError::BadMagic));
    let mut b = good.clone();
    b[4] = 2;
    assert_eq!(decode_request(&b), Err(DecodeError::BadVersion(2)));
    let mut b = good.clone();
    b[7] = 1;
    assert_eq!(decode_request(&b), Err(DecodeError::Reserved(1)));
    let mut b = good.clone();
    b[6] = 99;
    assert_eq!(decode_request(&b), Err(DecodeError::UnknownKind(99)));
    assert_eq!(
        decode_request(&raw(KIND_REPLY, &[])),
        Err(DecodeError::UnknownKind(KIND_REPLY))
    );
    // Oversized: the header announces more than the limit (nothing read past it),
    // and a buffer longer than the limit.
    let mut b = good.clone();
    b[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        decode_request(&b),
        Err(DecodeError::TooLarge { .. })
    ));
    let big = vec![0u8; MAX_FRAME + 1];
    assert!(matches!(
        decode_request(&big),
        Err(DecodeError::TooLarge { .. })
    ));
    // Trailing bytes after the frame, and inside the payload after its last field.
    let mut b = good.clone();
    b.push(0);
    assert_eq!(decode_request(&b), Err(DecodeError::TrailingBytes(1)));
    assert_eq!(
        decode_request(&raw(KIND_FLUSH, &[0])),
        Err(DecodeError::TrailingBytes(1))
    );
    let mut p = 1u32.to_le_bytes().to_vec();
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(b"ab");
    assert_eq!(
        decode_request(&raw(KIND_STAT, &p)),
        Err(DecodeError::TrailingBytes(1))
    );
    // Bad UTF-8, an empty path, a NUL.
    for bad in [&b"\xff\xfe"[..], b"", b"a\0b"] {
        let mut p = 1u32.to_le_bytes().to_vec();
        p.extend_from_slice(&(bad.len() as u32).to_le_bytes());
        p.extend_from_slice(bad);
        assert_eq!(
            decode_request(&raw(KIND_CHECK, &p)),
            Err(DecodeError::BadText),
            "{bad:?}"
        );
    }
    // Counts: none for Stat, two for Stat, none for startbu, a huge count that the
    // payload cannot hold (refused before allocating).
    for (kind, count) in [
        (KIND_STAT, 0u32),
        (KIND_START_BACKUP, 0),
        (KIND_KILL_BACKUP, u32::MAX),
    ] {
        let mut p = count.to_le_bytes().to_vec();
        p.extend_from_slice(&[1, 0, 0, 0, b'a']);
        assert_eq!(
            decode_request(&raw(kind, &p)),
            Err(DecodeError::BadCount(count))
        );
    }
    let two = encode_request(&Request::StartBackup {
        paths: vec![PathBuf::from("/a"), PathBuf::from("/b")],
    })
    .unwrap();
    let mut b = two.clone();
    b[6] = KIND_STAT;
    assert_eq!(decode_request(&b), Err(DecodeError::BadCount(2)));
    // A path length beyond the payload.
    let mut p = 1u32.to_le_bytes().to_vec();
    p.extend_from_slice(&u32::MAX.to_le_bytes());
    p.extend_from_slice(&[b'a'; 8]);
    assert!(matches!(
        decode_request(&raw(KIND_STAT, &p)),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn unsendable_requests_are_not_encoded() {
    assert_eq!(
        encode_request(&Request::StartBackup { paths: vec![] }),
        None
    );
    assert_eq!(
        encode_request(&Request::Stat {
            path: PathBuf::from("")
        }),
        None
    );
    let long = PathBuf::from("a".repeat(MAX_FRAME));
    assert_eq!(encode_request(&Request::Check { path: long }), None);
}

#[test]
fn every_error_says_what_is_wrong() {
    for e in [
        DecodeError::Truncated { needed: 12, got: 3 },
        DecodeError::TooLarge { len: 1, max: 0 },
        DecodeError::BadMagic,
        DecodeError::BadVersion(9),
        DecodeError::UnknownKind(9),
        DecodeError::Reserved(1),
        DecodeError::BadText,
        DecodeError::BadCount(0),
        DecodeError::TrailingBytes(3),
    ] {
        assert!(!e.to_string().is_empty());
    }
}
