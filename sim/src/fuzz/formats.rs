//! butil's interchange formats: description, sequential and list files.

use engine::formats::description::{parse_description, write_description};
use engine::formats::listfile::parse_list;
use engine::formats::sequential::SeqReader;

/// `parse_description`; a parsed spec must write out to a description that parses
/// to the same spec.
pub fn description(data: &[u8]) {
    if let Ok(spec) = parse_description(data) {
        let text = write_description(&spec);
        let again = parse_description(text.as_bytes());
        assert_eq!(
            again.as_ref().ok(),
            Some(&spec),
            "description write→parse round trip:\n{text}"
        );
    }
}

/// Every record of a sequential file. Each record is a slice of the input and each
/// consumes at least one byte, so the walk is bounded by the input length; the
/// assertions check exactly that.
pub fn sequential(data: &[u8]) {
    let mut r = SeqReader::new(data);
    for rec in r.by_ref() {
        let Ok(rec) = rec else { break };
        assert!(rec.len() <= data.len());
    }
    assert!(r.offset() <= data.len(), "SeqReader offset past the input");
    assert!(r.next().is_none(), "SeqReader yielded after its end");
}

/// `parse_list`; its documented guarantee is output no larger than the input.
pub fn list_file(data: &[u8]) {
    if let Ok(paths) = parse_list(data) {
        let total: usize = paths.iter().map(String::len).sum();
        assert!(
            total <= data.len(),
            "list file output larger than its input"
        );
    }
}
