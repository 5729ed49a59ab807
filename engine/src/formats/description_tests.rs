//! Tests of description files: the grammar's acceptances and every error class,
//! round trips of `write_description`, and a token-soup proptest.

use super::*;
use crate::file::spec::PAGE_SIZES;
use proptest::prelude::*;

fn seg(offset: u16, length: u16, key_type: KeyType, descending: bool) -> Segment {
    Segment {
        offset,
        length,
        key_type,
        descending,
    }
}

fn key(duplicates: bool, modifiable: bool, segments: Vec<Segment>) -> KeySpec {
    KeySpec {
        segments,
        duplicates,
        modifiable,
    }
}

fn err(input: &str) -> Error {
    match parse_description(input.as_bytes()) {
        Ok(spec) => panic!("expected an error for {input:?}, got {spec:?}"),
        Err(e) => e,
    }
}

/// A status-62 error whose message names `line` and contains every `needle`.
fn descriptor_err(input: &str, line: usize, needles: &[&str]) {
    let e = err(input);
    assert_eq!(e.status, Status::IncorrectDescriptor, "{e}");
    assert!(
        e.context.contains(&format!("line {line}:")),
        "no line {line} in: {e}"
    );
    for n in needles {
        assert!(e.context.contains(n), "{n:?} not in: {e}");
    }
}

const ONE_KEY: &str = "position=1 length=4 duplicates=n modifiable=n type=unsigned segment=n";

#[test]
fn demo_person() {
    let spec = parse_description(include_bytes!("../../../corpora/demodata/person.des"))
        .expect("person.des parses");
    let s = KeyType::String;
    assert_eq!(
        spec,
        FileSpec {
            record_length: 100,
            page_size: 4096,
            keys: vec![
                key(false, false, vec![seg(0, 4, KeyType::Unsigned, false)]),
                key(true, true, vec![seg(4, 20, s, false)]),
                key(
                    true,
                    true,
                    vec![seg(40, 20, s, false), seg(4, 20, s, false)]
                ),
            ],
            format: FileFormat::V6,
            compact_leaves: false,
            slot_serial_bytes: 8,
        }
    );
}

#[test]
fn demo_course() {
    let spec = parse_description(include_bytes!("../../../corpora/demodata/course.des"))
        .expect("course.des parses");
    let s = KeyType::String;
    assert_eq!(
        spec,
        FileSpec {
            record_length: 62,
            page_size: 1024,
            keys: vec![
                key(false, false, vec![seg(0, 8, s, false)]),
                key(true, true, vec![seg(44, 16, s, false)]),
            ],
            format: FileFormat::V6,
            compact_leaves: false,
            slot_serial_bytes: 8,
        }
    );
}

#[test]
fn demo_enrollment() {
    let spec = parse_description(include_bytes!("../../../corpora/demodata/enrollment.des"))
        .expect("enrollment.des parses");
    let s = KeyType::String;
    assert_eq!(
        spec,
        FileSpec {
            record_length: 22,
            page_size: 512,
            keys: vec![
                key(
                    false,
                    false,
                    vec![seg(0, 4, KeyType::Unsigned, false), seg(4, 8, s, false)]
                ),
                key(true, false, vec![seg(4, 8, s, false)]),
                key(true, true, vec![seg(20, 2, KeyType::Integer, true)]),
            ],
            format: FileFormat::V6,
            compact_leaves: false,
            slot_serial_bytes: 8,
        }
    );
}

#[test]
fn defaults_and_spellings() {
    let spec = parse_description(format!("record=10 key=1\n{ONE_KEY}").as_bytes()).unwrap();
    assert_eq!(spec.page_size, DEFAULT_PAGE_SIZE);
    assert_eq!(
        spec.keys,
        vec![key(false, false, vec![seg(0, 4, KeyType::Unsigned, false)])]
    );

    // Btrieve's two-word spelling, upper case, CR LF, comments, BOM and Ctrl-Z.
    let text = "\u{FEFF}; people\r\nRECORD=10 Key=1 Page=512 VARIABLE=N replace=n \
                truncate=n compress=n\r\n# the key\r\nposition=3 length=2 \
                duplicates=Y modifiable=y type=UNSIGNED Binary descending=y \
                alternate=n nullkey=n segment=n ; done\r\n\u{1A}";
    let spec = parse_description(text.as_bytes()).unwrap();
    assert_eq!(
        spec,
        FileSpec {
            record_length: 10,
            page_size: 512,
            keys: vec![key(true, true, vec![seg(2, 2, KeyType::Unsigned, true)])],
            format: FileFormat::V6,
            compact_leaves: false,
            slot_serial_bytes: 8,
        }
    );
}

#[test]
fn continuation_segments_may_omit_or_repeat_flags() {
    let text = "record=20 key=1\n\
                position=1 length=4 duplicates=y modifiable=n type=string segment=y\n\
                position=5 length=4 type=integer segment=y\n\
                position=9 length=4 duplicates=y modifiable=n type=string segment=n";
    let spec = parse_description(text.as_bytes()).unwrap();
    assert_eq!(spec.keys.len(), 1);
    assert_eq!(spec.keys[0].segments.len(), 3);
    assert!(spec.keys[0].duplicates && !spec.keys[0].modifiable);
}

#[test]
fn syntax_errors_name_line_token_and_expectation() {
    descriptor_err("record=10 key=1\nbogus=1", 2, &["`bogus=1`", "record="]);
    descriptor_err(
        "record=10\nkey=1\n\nrecord = 10",
        4,
        &["`record`", "no spaces"],
    );
    descriptor_err("record=10 =5", 1, &["`=5`", "field name"]);
    descriptor_err("record=10 page=", 1, &["`page=`", "value"]);
    descriptor_err("record=ten key=1", 1, &["`record=ten`", "record length"]);
    descriptor_err("record=65536 key=1", 1, &["`record=65536`", "0 to 65535"]);
    descriptor_err("record=10 page=99999999999", 1, &["page size"]);
    descriptor_err("record=10 page=+4096", 1, &["page size"]);
    descriptor_err("record=10 key=-1", 1, &["number of keys"]);
    descriptor_err(
        "record=10 key=1 variable=y",
        1,
        &["variable=n", "not supported"],
    );
    descriptor_err("record=10 key=1 replace=y", 1, &["replace=n"]);
    descriptor_err("record=10 key=1 compress=maybe", 1, &["compress=n"]);
    descriptor_err("record=10 key=1 record=10", 1, &["only once", "line 1"]);
    descriptor_err("record=10\nkey=1 length=4", 2, &["`length=4`", "position="]);
    descriptor_err(
        &format!("record=10 key=1\n{ONE_KEY}\npage=512"),
        3,
        &["`page=512`", "before the first position="],
    );
    descriptor_err(
        "record=10 key=1\nposition=0 length=1",
        2,
        &["`position=0`", "1-based"],
    );
    descriptor_err(
        "record=10 key=1\nposition=1 length=1 type=blob",
        2,
        &["`type=blob`", "string, integer or unsigned"],
    );
    descriptor_err(
        "record=10 key=1\nposition=1 length=1 type=string binary",
        2,
        &["`binary`", "name=value"],
    );
    descriptor_err(
        "record=10 key=1\nposition=1 length=1\nduplicates=x",
        3,
        &["`duplicates=x`", "duplicates=y or duplicates=n"],
    );
    descriptor_err(
        "record=10 key=1\nposition=1 length=1 nullkey=y",
        2,
        &["nullkey=n", "not supported"],
    );
    descriptor_err(
        "record=10 key=1\nposition=1 length=1\nlength=2",
        3,
        &["`length=2`", "only once per segment", "line 2"],
    );
    // A Btrieve type Keel does not have.
    descriptor_err(
        "record=10 key=1 position=1 length=1 type=zstring",
        1,
        &["`type=zstring`"],
    );
    // Comments must start a token: `#` inside a value is a bad value.
    descriptor_err("record=10#x key=1", 1, &["`record=10#x`"]);
    // Non-UTF-8 and long tokens are shown escaped and cut short.
    let e = err("record=10 key=1 \u{FF}\u{FE}=1");
    assert!(e.context.contains("\\xc3\\xbf"), "{e}");
    let long = format!("record={}", "9".repeat(1000));
    let e = err(&long);
    assert!(e.context.contains("...") && e.context.len() < 300, "{e}");
}

#[test]
fn missing_fields() {
    descriptor_err("", 1, &["missing `record=`"]);
    descriptor_err("key=1\n\n", 3, &["missing `record=`"]);
    descriptor_err("record=10\n\nposition=1", 3, &["missing `key=`"]);
    descriptor_err(
        "record=10 key=1\nposition=1 type=string segment=n",
        2,
        &["length="],
    );
    descriptor_err(
        "record=10 key=1\nposition=1 length=1 segment=n",
        2,
        &["type="],
    );
    descriptor_err(
        "record=10 key=1\nposition=1 length=1 type=string",
        2,
        &["segment="],
    );
    descriptor_err(
        "record=10 key=1\nposition=1 length=1 type=string segment=n modifiable=n",
        2,
        &["key 0 segment 0", "duplicates="],
    );
    descriptor_err(
        "record=10 key=1\nposition=1 length=1 type=string segment=n duplicates=n",
        2,
        &["modifiable="],
    );
}

#[test]
fn key_structure_errors() {
    // segment=y on the last segment.
    descriptor_err(
        "record=10 key=1\n\
         position=1 length=1 duplicates=n modifiable=n type=string segment=y",
        2,
        &["key 0", "segment=y", "segment=n"],
    );
    // Continuation segment disagrees with the first.
    descriptor_err(
        "record=10 key=1\n\
         position=1 length=1 duplicates=n modifiable=n type=string segment=y\n\
         position=2 length=1 duplicates=y type=string segment=n",
        3,
        &["key 0 segment 1", "duplicates=y", "line 2", "duplicates=n"],
    );
    descriptor_err(
        "record=10 key=1\n\
         position=1 length=1 duplicates=n modifiable=n type=string segment=y\n\
         position=2 length=1 modifiable=y type=string segment=n",
        3,
        &["modifiable=y", "must agree"],
    );
    // key= disagrees with the keys defined; a huge count allocates nothing.
    descriptor_err(
        &format!("record=10\nkey=2\n{ONE_KEY}"),
        2,
        &["`key=2`", "1 key(s)"],
    );
    descriptor_err("record=10 key=18446744073709551615", 1, &["0 key(s)"]);
    descriptor_err(
        &format!("record=10 key=0\n{ONE_KEY}"),
        1,
        &["`key=0`", "define 1 key(s)"],
    );
}

#[test]
fn semantic_errors_keep_validate_status() {
    let status = |text: &str| parse_description(text.as_bytes()).unwrap_err().status;
    assert_eq!(
        status(&format!("record=10 key=1 page=1000\n{ONE_KEY}")),
        Status::PageSizeError
    );
    assert_eq!(
        status(&format!("record=0 key=1\n{ONE_KEY}")),
        Status::InvalidRecordLength
    );
    let e = err(&format!("record=3 key=1\n\n{ONE_KEY}"));
    assert_eq!(e.status, Status::InvalidKeyPosition);
    assert!(
        e.context
            .starts_with("description (key 0 on line 3): key 0 segment 0"),
        "{e}"
    );
    assert_eq!(
        status(
            "record=10 key=1 position=1 length=3 duplicates=n modifiable=n type=integer \
             segment=n"
        ),
        Status::InvalidKeyLength
    );
    assert_eq!(
        status(
            "record=10 key=1 position=1 length=0 duplicates=n modifiable=n type=string \
             segment=n"
        ),
        Status::InvalidKeyLength
    );
    assert_eq!(status("record=10 key=0"), Status::InvalidNumberOfKeys);
    let many = format!("record=10 key=25\n{}", format!("{ONE_KEY}\n").repeat(25));
    assert_eq!(status(&many), Status::InvalidNumberOfKeys);
}

#[test]
fn version_selects_the_file_format() {
    let format = |file_part: &str| {
        parse_description(format!("{file_part}\n{ONE_KEY}").as_bytes()).map(|spec| spec.format)
    };
    assert_eq!(format("record=10 key=1"), Ok(FileFormat::V6));
    assert_eq!(format("record=10 key=1 version=6"), Ok(FileFormat::V6));
    assert_eq!(format("record=10 key=1 version=5"), Ok(FileFormat::V5));
    assert_eq!(format("VERSION=5 record=10 key=1"), Ok(FileFormat::V5));
    assert_eq!(format("record=10 version=05 key=1"), Ok(FileFormat::V5));
}

#[test]
fn version_errors_name_line_and_token() {
    for bad in ["4", "7", "0", "6.0", "v5", "x", "99999999999999999999999"] {
        descriptor_err(
            &format!("record=10 key=1\nversion={bad}\n{ONE_KEY}"),
            2,
            &[&format!("`version={bad}`"), "version=6", "version=5"],
        );
    }
    descriptor_err(
        &format!("record=10 key=1 version=5\nversion=5\n{ONE_KEY}"),
        2,
        &["`version=5`", "only once", "line 1"],
    );
    descriptor_err(
        &format!("record=10 key=1 version=6 version=5\n{ONE_KEY}"),
        1,
        &["only once"],
    );
    descriptor_err(
        &format!("record=10 key=1\n{ONE_KEY}\nversion=5"),
        3,
        &["`version=5`", "before the first position="],
    );
    descriptor_err("record=10 key=1 bogus=1", 1, &["version="]);
}

#[test]
fn writer_gives_version_only_for_5x() {
    let mut spec = parse_description(format!("record=10 key=1\n{ONE_KEY}").as_bytes()).unwrap();
    let v6 = write_description(&spec);
    assert!(!v6.contains("version="), "{v6}");
    spec.format = FileFormat::V5;
    let v5 = write_description(&spec);
    assert!(v5.contains("record=10 page=4096 key=1 version=5\n"), "{v5}");
    assert_eq!(parse_description(v5.as_bytes()), Ok(spec));
}

#[test]
fn writer_output_reads_back_and_is_readable() {
    let spec =
        parse_description(include_bytes!("../../../corpora/demodata/enrollment.des")).unwrap();
    let text = write_description(&spec);
    assert_eq!(
        text,
        "# Keel description file (butil -create); positions are 1-based\n\
         record=22 page=512 key=3\n\
         # key 0\n\
         position=1 length=4 duplicates=n modifiable=n type=unsigned descending=n segment=y\n\
         position=5 length=8 duplicates=n modifiable=n type=string descending=n segment=n\n\
         # key 1\n\
         position=5 length=8 duplicates=y modifiable=n type=string descending=n segment=n\n\
         # key 2\n\
         position=21 length=2 duplicates=y modifiable=y type=integer descending=y segment=n\n"
    );
    assert_eq!(parse_description(text.as_bytes()).unwrap(), spec);
}

/// A segment that fits a record of `record_length` bytes, at most 60 bytes long so a
/// key of up to four segments stays within the 255-byte key limit.
fn arb_segment(record_length: u16) -> impl Strategy<Value = Segment> {
    let ints: Vec<u16> = [1u16, 2, 4, 8]
        .into_iter()
        .filter(|&l| l <= record_length)
        .collect();
    let max_string = record_length.min(60);
    let typed = prop_oneof![
        (1..=max_string).prop_map(|l| (KeyType::String, l)),
        (proptest::sample::select(ints.clone()), any::<bool>()).prop_map(|(l, signed)| {
            (
                if signed {
                    KeyType::Integer
                } else {
                    KeyType::Unsigned
                },
                l,
            )
        }),
    ];
    (typed, any::<bool>()).prop_flat_map(move |((key_type, length), descending)| {
        (0..=record_length - length).prop_map(move |offset| Segment {
            offset,
            length,
            key_type,
            descending,
        })
    })
}

fn arb_spec() -> impl Strategy<Value = FileSpec> {
    (
        prop_oneof![1u16..=300, 1u16..=u16::MAX],
        proptest::sample::select(PAGE_SIZES.to_vec()),
        proptest::sample::select(vec![FileFormat::V6, FileFormat::V5]),
        any::<bool>(),
        1u8..=8,
    )
        .prop_flat_map(
            |(record_length, page_size, format, compact_leaves, slot_serial_bytes)| {
                let key = (
                    proptest::collection::vec(arb_segment(record_length), 1..=4),
                    any::<bool>(),
                    any::<bool>(),
                )
                    .prop_map(|(segments, duplicates, modifiable)| KeySpec {
                        segments,
                        duplicates,
                        modifiable,
                    });
                proptest::collection::vec(key, 1..=MAX_KEYS).prop_map(move |keys| FileSpec {
                    record_length,
                    page_size,
                    keys,
                    format,
                    compact_leaves,
                    slot_serial_bytes,
                })
            },
        )
}

/// Tokens that are mostly valid, to reach deep parser states.
fn arb_token() -> impl Strategy<Value = String> {
    let names = proptest::sample::select(vec![
        "record",
        "page",
        "key",
        "version",
        "serialbytes",
        "variable",
        "replace",
        "position",
        "length",
        "type",
        "segment",
        "duplicates",
        "modifiable",
        "descending",
        "alternate",
        "nullkey",
        "x",
    ]);
    let values = prop_oneof![
        proptest::sample::select(vec![
            "y",
            "n",
            "string",
            "integer",
            "unsigned",
            "0",
            "1",
            "4",
            "5",
            "6",
            "8",
            "512",
            "4096",
            "65535",
            "65536",
            "99999999999999999999999",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,6}",
    ];
    prop_oneof![
        8 => (names, values).prop_map(|(n, v)| format!("{n}={v}")),
        1 => proptest::sample::select(vec!["binary", "#c\n", ";\n", "\n", "\r\n", "="])
            .prop_map(str::to_string),
    ]
}

proptest! {
    #[test]
    fn round_trip(spec in arb_spec()) {
        prop_assert_eq!(spec.validate(), Ok(()));
        let text = write_description(&spec);
        prop_assert_eq!(parse_description(text.as_bytes()), Ok(spec));
    }

    #[test]
    fn any_bytes_give_spec_or_error(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(spec) = parse_description(&input) {
            prop_assert_eq!(spec.validate(), Ok(()));
        }
    }

    #[test]
    fn token_soup_gives_spec_or_error(tokens in proptest::collection::vec(arb_token(), 0..40)) {
        let text = tokens.join(" ");
        match parse_description(text.as_bytes()) {
            Ok(spec) => {
                prop_assert_eq!(spec.validate(), Ok(()));
                // What parses writes back to an equal spec.
                let again = parse_description(write_description(&spec).as_bytes());
                prop_assert_eq!(again, Ok(spec));
            }
            Err(e) => prop_assert!(e.context.contains("line") || e.status != Status::IncorrectDescriptor),
        }
    }
}
