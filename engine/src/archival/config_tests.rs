//! Tests of `blog.cfg` parsing: every rule and every refusal (its status, line and
//! column), loading through a `Vfs`, and properties over generated configurations.

use super::*;
use crate::vfs::testing::TestVfs;
use proptest::prelude::*;

fn parse(text: &str) -> std::result::Result<BlogConfig, ConfigError> {
    BlogConfig::parse(text.as_bytes())
}

/// The configuration's entries as strings.
fn pairs(text: &str) -> Vec<(String, String)> {
    let c = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    c.entries()
        .map(|(d, l)| (d.display().to_string(), l.display().to_string()))
        .collect()
}

fn one(text: &str) -> String {
    let p = pairs(text);
    assert_eq!(p.len(), 1, "{text:?}");
    p[0].1.clone()
}

/// The refusal of `text`: its status, line and column; the message must name them.
fn refused(text: &str) -> (Status, usize, usize, ConfigErrorKind) {
    let e = parse(text).expect_err(text);
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("line {}, column {}: ", e.line, e.column)),
        "{msg}"
    );
    (e.status(), e.line, e.column, e.kind)
}

#[test]
fn the_default_log_is_the_stem_with_log_beside_the_data_file() {
    assert_eq!(one("\\db\\a.btr"), "/db/a.log");
    assert_eq!(one("/db/a.btr"), "/db/a.log");
    assert_eq!(one("/db/a"), "/db/a.log");
    assert_eq!(one("/db/a.b.btr"), "/db/a.b.log");
    assert_eq!(one("/db/.hidden"), "/db/.hidden.log");
    assert_eq!(one("/a.btr"), "/a.log");
}

#[test]
fn a_log_target_ending_in_a_separator_is_a_directory() {
    assert_eq!(one("\\db\\a.btr=\\logs\\"), "/logs/a.log");
    assert_eq!(one("/db/a.btr=/logs/"), "/logs/a.log");
    assert_eq!(one("/db/a.btr=/logs/."), "/logs/a.log");
    assert_eq!(one("/db/a.btr=/"), "/a.log");
    assert_eq!(one("/db/a.btr=\\"), "/a.log");
}

#[test]
fn a_log_name_without_an_extension_gets_log() {
    assert_eq!(one("/db/a.btr=/logs/x"), "/logs/x.log");
    assert_eq!(one("/db/a.btr=/logs/x."), "/logs/x.log");
    assert_eq!(one("/db/a.btr=/logs/x.arc"), "/logs/x.arc");
    assert_eq!(one("/db/a.btr=/logs/.x"), "/logs/.x.log");
}

#[test]
fn separators_are_normalised() {
    assert_eq!(
        pairs("\\db\\\\sub/.\\a.btr=/l//\\b"),
        [("/db/sub/a.btr".into(), "/l/b.log".into())]
    );
}

#[test]
fn entries_share_lines_comments_and_line_ends_are_ignored() {
    let text = "\u{feff}# archived files\r\n\
                /db/a.btr\t/db/b.btr=/logs/   # two on a line\r\n\
                \n   \t\n\
                /db/c.btr#comment right after\n\
                #/db/d.btr commented out\n\u{1a}";
    assert_eq!(
        pairs(text),
        [
            ("/db/a.btr".into(), "/db/a.log".into()),
            ("/db/b.btr".into(), "/logs/b.log".into()),
            ("/db/c.btr".into(), "/db/c.log".into()),
        ]
    );
    assert!(parse("").unwrap().is_empty());
    assert!(parse("# nothing\n\n").unwrap().is_empty());
}

#[test]
fn a_line_holds_at_most_256_characters() {
    let entry = format!("/{}", "x".repeat(250)); // 251 characters
    let ok = format!("{entry} #{}", "c".repeat(3)); // 256
    assert_eq!(ok.chars().count(), 256);
    assert_eq!(pairs(&format!("{ok}\r\n")).len(), 1);
    // Characters, not bytes: 256 two-byte characters fit.
    let wide = format!("/{}", "é".repeat(255));
    assert_eq!(pairs(&wide).len(), 1);
    let long = format!("# fine\n{ok}c");
    assert_eq!(
        refused(&long),
        (
            Status::IncorrectDescriptor,
            2,
            257,
            ConfigErrorKind::LineTooLong { chars: 257 }
        )
    );
    // A comment counts: it is part of the line.
    let (status, line, column, _) = refused(&format!("#{}", "c".repeat(256)));
    assert_eq!(
        (status, line, column),
        (Status::IncorrectDescriptor, 1, 257)
    );
}

#[test]
fn an_entry_with_a_space_is_refused() {
    let (s, l, c, k) = refused("/db/x.btr\n/db/a.btr= /logs/a.log");
    assert_eq!((s, l, c), (Status::IncorrectDescriptor, 2, 1));
    assert!(matches!(k, ConfigErrorKind::DanglingEquals { .. }));
    let (s, l, c, k) = refused("/db/a.btr = /logs/a.log");
    assert_eq!(
        (s, l, c, k),
        (
            Status::IncorrectDescriptor,
            1,
            11,
            ConfigErrorKind::LoneEquals
        )
    );
    let (s, l, c, k) = refused("/db/a.btr =/logs/a.log");
    assert_eq!((s, l, c), (Status::InvalidFileName, 1, 11));
    assert!(matches!(k, ConfigErrorKind::EmptyData { .. }));
    // A space inside a path leaves a piece that is not from the root.
    let (s, l, c, k) = refused("  /db/my file.btr");
    assert_eq!((s, l, c), (Status::InvalidFileName, 1, 10));
    assert_eq!(
        k,
        ConfigErrorKind::NotFromRoot {
            path: "file.btr".into()
        }
    );
    let msg = parse("/db/a.btr= /l").unwrap_err().to_string();
    assert!(msg.contains("an entry has no spaces"), "{msg}");
}

#[test]
fn an_empty_data_path_is_refused() {
    let (s, l, c, k) = refused("=/logs/a.log");
    assert_eq!((s, l, c), (Status::InvalidFileName, 1, 1));
    assert!(matches!(k, ConfigErrorKind::EmptyData { .. }));
    for text in ["/", "\\", "/db/", "/db/.", "/db\\"] {
        let (s, _, _, k) = refused(text);
        assert_eq!(s, Status::InvalidFileName, "{text}");
        assert!(matches!(k, ConfigErrorKind::NoFileName { .. }), "{text}");
    }
}

#[test]
fn unusable_paths_are_invalid_file_names() {
    for (text, column) in [
        ("db/a.btr", 1),
        ("C:\\db\\a.btr", 1),
        ("/db/a.btr=logs/a.log", 1),
        ("/x /db/../a.btr", 4),
        ("/db/a.btr=/logs/../a", 1),
        ("/db/a\u{0}.btr", 1),
        ("/db/a\u{7f}.btr", 1),
    ] {
        let (s, l, c, _) = refused(text);
        assert_eq!((s, l, c), (Status::InvalidFileName, 1, column), "{text:?}");
    }
}

#[test]
fn two_equals_signs_are_refused() {
    let (s, _, _, k) = refused("/db/a.btr=/l/a=/l/b");
    assert_eq!(s, Status::IncorrectDescriptor);
    assert!(matches!(k, ConfigErrorKind::TwoEquals { .. }));
}

#[test]
fn a_data_file_configured_twice_is_refused_after_normalising_separators() {
    let (s, l, c, k) = refused("\\db\\a.btr\n  /db//a.btr=/other/");
    assert_eq!((s, l, c), (Status::IncorrectDescriptor, 2, 3));
    assert_eq!(
        k,
        ConfigErrorKind::DuplicateData {
            data: "/db/a.btr".into(),
            first: (1, 1)
        }
    );
    let msg = parse("/a.btr /a.btr").unwrap_err().to_string();
    assert_eq!(
        msg,
        "line 1, column 8: data file /a.btr is configured twice (first at line 1, column 1); \
         keep one entry"
    );
}

#[test]
fn one_log_for_two_data_files_is_refused() {
    // Explicitly...
    let (s, l, c, k) = refused("/a/x.btr=/l/x.log\n/b/x.btr=/l/");
    assert_eq!((s, l, c), (Status::IncorrectDescriptor, 2, 1));
    assert_eq!(
        k,
        ConfigErrorKind::SharedLog {
            log: "/l/x.log".into(),
            other: "/a/x.btr".into(),
            first: (1, 1)
        }
    );
    // ...and by default: INVOICE.HDR and INVOICE.DET would both write INVOICE.log.
    let (s, l, c, _) = refused("/db/INVOICE.HDR /db/INVOICE.DET");
    assert_eq!((s, l, c), (Status::IncorrectDescriptor, 1, 17));
    assert_eq!(
        pairs("/db/INVOICE.HDR /db/INVOICE.DET=/db/INVOICE-DET").len(),
        2
    );
}

#[test]
fn a_log_that_is_a_data_file_is_refused() {
    // Its own: the default log of a `.log` data file.
    let (s, l, c, k) = refused("/db/a.log");
    assert_eq!((s, l, c), (Status::IncorrectDescriptor, 1, 1));
    assert_eq!(
        k,
        ConfigErrorKind::LogIsData {
            log: "/db/a.log".into(),
            at: (1, 1)
        }
    );
    // Another's, in either order.
    let (_, l, c, k) = refused("/db/a.btr\n/db/a.log=/l/");
    assert_eq!((l, c), (2, 1));
    assert_eq!(
        k,
        ConfigErrorKind::LogIsData {
            log: "/db/a.log".into(),
            at: (1, 1)
        }
    );
    let (_, l, c, k) = refused("/db/a.log=/l/ /x.btr=/db/a.log");
    assert_eq!((l, c), (1, 15));
    assert_eq!(
        k,
        ConfigErrorKind::LogIsData {
            log: "/db/a.log".into(),
            at: (1, 1)
        }
    );
}

#[test]
fn text_that_is_not_utf8_is_refused_where_it_goes_wrong() {
    let e = BlogConfig::parse(b"/a.btr\n/b\xffc.btr").unwrap_err();
    assert_eq!(
        (e.status(), e.line, e.column, e.kind),
        (Status::IncorrectDescriptor, 2, 3, ConfigErrorKind::NotUtf8)
    );
    let e = BlogConfig::parse("/é\u{1}".as_bytes()).unwrap_err();
    assert_eq!((e.line, e.column), (1, 1), "a control character in a path");
    let e = BlogConfig::parse(b"/\xc3").unwrap_err();
    assert_eq!((e.line, e.column), (1, 2));
}

#[test]
fn lookups_place_paths_under_the_root_and_ignore_dot_components() {
    let c = parse("/db/a.btr /db/b.btr=/logs/").unwrap();
    assert_eq!(
        c.log_for(Path::new("/db/a.btr")),
        Some(Path::new("/db/a.log"))
    );
    assert_eq!(
        c.log_for(Path::new("/db/./a.btr")),
        Some(Path::new("/db/a.log"))
    );
    assert_eq!(
        c.log_for(Path::new("/db//b.btr")),
        Some(Path::new("/logs/b.log"))
    );
    assert_eq!(c.log_for(Path::new("/db/c.btr")), None);
    assert_eq!(
        c.log_for(Path::new("/db/A.btr")),
        None,
        "names are case-sensitive"
    );
    let r = c.under(Path::new("/srv/keel/"));
    assert_eq!(
        r.log_for(Path::new("/srv/keel/db/a.btr")),
        Some(Path::new("/srv/keel/db/a.log"))
    );
    assert_eq!(
        r.log_for(Path::new("/srv/keel/./db/b.btr")),
        Some(Path::new("/srv/keel/logs/b.log"))
    );
    assert_eq!(r.log_for(Path::new("/db/a.btr")), None);
    assert_eq!(r.len(), 2);
}

#[test]
fn load_reads_through_the_vfs_and_an_absent_file_archives_nothing() {
    let vfs = TestVfs::new();
    let root = Path::new("/srv");
    assert_eq!(config_path(root), Path::new("/srv/blog/blog.cfg"));
    assert!(BlogConfig::load(&vfs, root).unwrap().is_empty());
    vfs.put("/srv/blog/blog.cfg", b"\\db\\a.btr=\\logs\\\n".to_vec());
    let c = BlogConfig::load(&vfs, root).unwrap();
    assert_eq!(
        c.log_for(Path::new("/srv/db/a.btr")),
        Some(Path::new("/srv/logs/a.log"))
    );
    vfs.put("/srv/blog/blog.cfg", b"/a.btr\n/a.btr\n".to_vec());
    let e = BlogConfig::load(&vfs, root).unwrap_err();
    assert_eq!(e.status, Status::IncorrectDescriptor);
    assert!(
        e.context
            .starts_with("/srv/blog/blog.cfg: line 2, column 1: "),
        "{}",
        e.context
    );
    vfs.put(
        "/srv/blog/blog.cfg",
        vec![b'#'; MAX_CONFIG_BYTES as usize + 1],
    );
    let e = BlogConfig::load(&vfs, root).unwrap_err();
    assert_eq!(e.status, Status::IncorrectDescriptor);
    assert!(e.context.contains("more than the"), "{}", e.context);
}

#[test]
fn to_text_reads_back() {
    let c = parse("\\db\\a.btr /db/b=/l/ /db/c.x=/l/c").unwrap();
    assert_eq!(
        c.to_text(),
        "/db/a.btr=/db/a.log\n/db/b=/l/b.log\n/db/c.x=/l/c.log\n"
    );
    assert_eq!(parse(&c.to_text()).unwrap(), c);
}

// ----- properties ----------------------------------------------------------------

/// What an entry's log is written as.
#[derive(Clone, Debug)]
enum Target {
    Default,
    /// A directory (written with a trailing separator).
    Dir(Vec<String>),
    /// A file name, with or without an extension.
    File(Vec<String>, Option<&'static str>),
}

#[derive(Clone, Debug)]
struct Gen {
    dirs: Vec<String>,
    ext: Option<&'static str>,
    target: Target,
}

fn dirs() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-z0-9_]{1,6}", 0..3)
}

fn gen() -> impl Strategy<Value = Gen> {
    let ext = prop_oneof![Just(None), Just(Some("btr")), Just(Some("DAT"))];
    let target = prop_oneof![
        Just(Target::Default),
        dirs().prop_map(Target::Dir),
        (
            dirs(),
            prop_oneof![Just(None), Just(Some("arc")), Just(Some("log"))]
        )
            .prop_map(|(d, e)| Target::File(d, e)),
    ];
    (dirs(), ext, target).prop_map(|(dirs, ext, target)| Gen { dirs, ext, target })
}

/// Entry `i` as text (with separator choices from `seps`) and the (data, log) it
/// must parse to. Stems are unique per entry (`f<i>`, `l<i>`), so no two entries
/// collide and no log is a data file.
fn render(i: usize, g: &Gen, seps: &[bool]) -> (String, (String, String)) {
    let sep = |k: usize| if seps[k % seps.len()] { '\\' } else { '/' };
    let write = |parts: &[String], off: usize| -> String {
        parts
            .iter()
            .enumerate()
            .map(|(k, p)| format!("{}{p}", sep(k + off)))
            .collect()
    };
    let name = match g.ext {
        Some(e) => format!("f{i}.{e}"),
        None => format!("f{i}"),
    };
    let mut data_parts = g.dirs.clone();
    data_parts.push(name);
    let data = format!("/{}", data_parts.join("/"));
    let in_dir = |d: &[String], file: String| {
        let mut v = d.to_vec();
        v.push(file);
        format!("/{}", v.join("/"))
    };
    let (target, log) = match &g.target {
        Target::Default => (String::new(), in_dir(&g.dirs, format!("f{i}.log"))),
        Target::Dir(d) => (
            format!("={}{}", write(d, 3), sep(7)),
            in_dir(d, format!("f{i}.log")),
        ),
        Target::File(d, e) => {
            let file = match e {
                Some(e) => format!("l{i}.{e}"),
                None => format!("l{i}"),
            };
            let mut parts = d.clone();
            parts.push(file);
            let log_name = match e {
                Some(e) => format!("l{i}.{e}"),
                None => format!("l{i}.log"),
            };
            (format!("={}", write(&parts, 5)), in_dir(d, log_name))
        }
    };
    (format!("{}{target}", write(&data_parts, 0)), (data, log))
}

proptest! {
    #[test]
    fn generated_configurations_parse_to_their_model_and_round_trip(
        gens in proptest::collection::vec(gen(), 0..30),
        seps in proptest::collection::vec(any::<bool>(), 1..8),
        layout in proptest::collection::vec(0u8..4, 30),
    ) {
        let mut text = String::new();
        let mut line = String::new();
        let mut want = BTreeMap::new();
        for (i, g) in gens.iter().enumerate() {
            let (entry, (data, log)) = render(i, g, &seps);
            want.insert(PathBuf::from(data), PathBuf::from(log));
            // Lay entries out on shared lines, with tabs and comments, never past 256.
            let gap = match layout[i] { 0 => " ", 1 => "\t", 2 => "  \t ", _ => " " };
            if line.chars().count() + gap.len() + entry.len() + 10 > MAX_LINE_CHARS {
                text.push_str(&line);
                text.push_str(if layout[i] % 2 == 0 { "\n" } else { " # more\r\n" });
                line.clear();
            }
            line.push_str(gap);
            line.push_str(&entry);
        }
        text.push_str(&line);
        let c = parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(&c.logs, &want);
        prop_assert_eq!(parse(&c.to_text()).ok(), Some(c));
    }

    #[test]
    fn parse_never_panics_and_errors_point_into_the_text(
        text in proptest::collection::vec(
            prop_oneof![
                Just(b'/'), Just(b'\\'), Just(b'='), Just(b'#'), Just(b' '), Just(b'\t'),
                Just(b'\n'), Just(b'\r'), Just(b'.'), Just(b'a'), Just(b'b'), Just(0xff),
                Just(0xc3), Just(0xa9), Just(0), any::<u8>(),
            ],
            0..600,
        )
    ) {
        match BlogConfig::parse(&text) {
            Ok(c) => {
                let back = c.to_text();
                if back.lines().all(|l| l.chars().count() <= MAX_LINE_CHARS) {
                    prop_assert_eq!(parse(&back).ok(), Some(c));
                }
            }
            Err(e) => {
                let lines = 1 + text.iter().filter(|&&b| b == b'\n').count();
                prop_assert!(e.line >= 1 && e.line <= lines, "{e}");
                prop_assert!(e.column >= 1 && e.column <= MAX_LINE_CHARS + 1, "{e}");
            }
        }
    }

    #[test]
    fn parse_never_panics_on_any_string(text in "\\PC{0,300}") {
        let _ = parse(&text);
    }
}
