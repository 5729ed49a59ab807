//! Archival logging: `blog.cfg` and archival logs (their entries and whole files).

use std::path::Path;

use engine::archival::config::{BlogConfig, MAX_LINE_CHARS};
use engine::archival::format::{
    decode_changes, decode_raw, encode_frame, payload_len, ArchivalHeader, ArchivalLayout, Entry,
    FrameFields,
};
use engine::archival::{dump, read_log};
use engine::vfs::MemVfs;

/// `BlogConfig::parse`; a parsed configuration must write out (when its entries fit
/// lines) to text that parses to the same configuration, and look up every entry.
pub fn archival_config(data: &[u8]) {
    let Ok(config) = BlogConfig::parse(data) else {
        return;
    };
    for (d, l) in config.entries() {
        assert_eq!(
            config.log_for(d),
            Some(l),
            "blog.cfg lookup of {}",
            d.display()
        );
    }
    let text = config.to_text();
    if text.lines().all(|l| l.chars().count() <= MAX_LINE_CHARS) {
        let again = BlogConfig::parse(text.as_bytes());
        assert_eq!(
            again.as_ref().ok(),
            Some(&config),
            "blog.cfg to_text→parse round trip:\n{text}"
        );
    }
}

/// The header the archival log seeds' bodies were written under (`fuzz_corpus`'s
/// `regenerate_seeds` writes them with it), so the fuzzer reaches frames without
/// having to forge a header checksum.
pub fn archival_fuzz_header() -> ArchivalHeader {
    ArchivalHeader {
        data_name: "fuzz.btr".into(),
        base_fcr_seq: 0,
        log_id: 0,
    }
}

/// The bytes as an archival log's pieces: a header (`ArchivalHeader::decode`, which
/// must re-encode to the same header); a frame payload (`decode_changes`, whose
/// changes must re-encode to a frame that decodes to them); a whole log (`read_log`
/// and `dump`: every entry it accepts must re-encode to itself); and the frames of a
/// log written under [`archival_fuzz_header`].
pub fn archival_log(data: &[u8]) {
    if let Ok(h) = ArchivalHeader::decode(data) {
        let again = ArchivalHeader::decode(&h.encode());
        assert_eq!(
            again.ok(),
            Some(h),
            "archival header encode→decode round trip"
        );
    }
    let layout = ArchivalLayout::of(&archival_fuzz_header());
    let round_trip = |want: &Entry| {
        if payload_len(&want.changes).is_none() {
            return;
        }
        let mut frame = Vec::new();
        let fields = FrameFields {
            log_seq: want.log_seq,
            fcr_seq: want.fcr_seq,
            applied_lsn: want.applied_lsn,
            sync_gap: 0,
        };
        encode_frame(&layout, fields, &want.changes, &mut frame);
        let back = decode_raw(&layout, &frame).map(|r| r.check());
        match back {
            Ok(Ok(e)) => assert!(e == *want, "archival frame encode→decode round trip"),
            other => panic!("an encoded archival frame does not decode: {other:?}"),
        }
    };
    if let Ok(changes) = decode_changes(data) {
        round_trip(&Entry {
            log_seq: 1,
            fcr_seq: 1,
            applied_lsn: 0,
            changes,
        });
    }
    let path = Path::new("/l/f.log");
    let whole = MemVfs::new();
    whole.insert(path, data.to_vec());
    let mut body = archival_fuzz_header().encode().to_vec();
    body.extend_from_slice(data);
    let framed = MemVfs::new();
    framed.insert(path, body);
    for vfs in [&whole, &framed] {
        if let Ok((scan, entries)) = read_log(vfs, path) {
            assert_eq!(entries.len() as u64, scan.entries);
            assert!(scan.valid_len <= scan.file_len);
            for e in &entries {
                round_trip(e);
            }
            let mut text = Vec::new();
            assert!(dump(vfs, path, &mut text).is_ok(), "dump of a readable log");
        }
    }
}
