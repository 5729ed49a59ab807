//! The scenarios' records and butil's unformatted sequential files.
//!
//! Every record is a pure function of its serial (1, 2, …), so an oracle that knows
//! only how many records a file holds knows exactly which bytes it must hold: the first
//! `m` records of the insert sequence, in key 0 order (key 0 is the serial, so key
//! order is insertion order).

/// Bytes per record (`record=` in the description files).
pub const RECORD_LEN: usize = 32;

/// The description file of every scenario's data file: key 0 the serial (unsigned,
/// unique), key 1 a group name with duplicates so a load also changes a second tree.
/// 512-byte pages make a load of a few dozen records span several data and index pages.
/// `version` is `Some(5)` for a legacy (pre-imaging) file.
pub fn description(version: Option<u8>) -> String {
    let version = version.map(|v| format!(" version={v}")).unwrap_or_default();
    format!(
        "# crashfs-keel scenario file: 32-byte records\n\
         record={RECORD_LEN} page=512 key=2 variable=n replace=n{version}\n\
         # key 0: serial, unique\n\
         position=1 length=4 duplicates=n modifiable=n type=unsigned descending=n segment=n\n\
         # key 1: group, duplicates\n\
         position=5 length=8 duplicates=y modifiable=y type=string descending=n segment=n\n"
    )
}

/// Record number `serial`: the serial (u32 little-endian), a group name and a payload,
/// all derived from the serial.
pub fn record(serial: u32) -> Vec<u8> {
    let mut r = Vec::with_capacity(RECORD_LEN);
    r.extend_from_slice(&serial.to_le_bytes());
    r.extend_from_slice(format!("grp{:05}", serial % 5).as_bytes());
    let mix = u64::from(serial).wrapping_mul(2_654_435_761) % 1_000_000_000;
    r.extend_from_slice(format!("rec-{:06}-{mix:09}", serial % 1_000_000).as_bytes());
    debug_assert_eq!(r.len(), RECORD_LEN);
    r
}

/// A sequential file (butil `-load` input) holding the records `first..first + count`.
pub fn sequential_file(first: u32, count: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for serial in first..first + count {
        let r = record(serial);
        out.extend_from_slice(format!("{},", r.len()).as_bytes());
        out.extend_from_slice(&r);
        out.extend_from_slice(b"\r\n");
    }
    out.push(0x1a);
    out
}

/// The records of a sequential file (butil `-save` output), or why it is malformed.
/// Format: `LENGTH "," DATA CR LF` repeated, optionally one Ctrl-Z as the last byte.
pub fn parse_sequential(input: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut records = Vec::new();
    let mut rest = input;
    loop {
        match rest {
            [] | [0x1a] => return Ok(records),
            _ => {}
        }
        let at = input.len() - rest.len();
        let comma = rest
            .iter()
            .position(|&b| b == b',')
            .ok_or_else(|| format!("no comma after the length at byte {at}"))?;
        let len: usize = std::str::from_utf8(&rest[..comma])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad record length at byte {at}"))?;
        let body = &rest[comma + 1..];
        if body.len() < len + 2 || &body[len..len + 2] != b"\r\n" {
            return Err(format!("record at byte {at} is not {len} bytes then CR LF"));
        }
        records.push(body[..len].to_vec());
        rest = &body[len + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_the_record_length_and_round_trip() {
        for s in [1, 9, 99_999, 1_000_001] {
            assert_eq!(record(s).len(), RECORD_LEN);
        }
        let parsed = parse_sequential(&sequential_file(3, 4)).unwrap();
        assert_eq!(parsed, (3..7).map(record).collect::<Vec<_>>());
        assert!(parse_sequential(b"3,ab\r\n").is_err());
        assert_eq!(parse_sequential(b"\x1a").unwrap(), Vec::<Vec<u8>>::new());
    }
}
