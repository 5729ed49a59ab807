//! Files for the `butil` tests: descriptions, generated records and sequential files,
//! the demo database, and the page-level surgery the damage tests do.

use super::butil::ok;
use engine::file::key;
use engine::formats::{parse_description, write_end, write_record};
use engine::FileSpec;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

pub fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpora/demodata")
        .join(name)
}

pub fn seq_bytes(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        write_record(&mut out, r);
    }
    write_end(&mut out);
    out
}

/// Records in the order of key `k` (ties by their original order, as duplicates are
/// ordered by insertion).
pub fn in_key_order(spec: &FileSpec, k: usize, records: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let ks = &spec.keys[k];
    let mut v: Vec<(Vec<u8>, usize)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (key::normalize(ks, &key::raw_key(ks, r)), i))
        .collect();
    v.sort();
    v.into_iter().map(|(_, i)| records[i].clone()).collect()
}

pub fn spec_of(desc: &Path) -> FileSpec {
    parse_description(&std::fs::read(desc).unwrap()).unwrap()
}

/// A description file with one unique unsigned key and one string key with duplicates.
pub fn write_desc(path: &Path, record: u16, page: u32) {
    let text = format!(
        "record={record} page={page} key=2\n\
         position=1 length=4 duplicates=n modifiable=n type=unsigned segment=n\n\
         position=5 length=8 duplicates=y modifiable=y type=string segment=n\n"
    );
    std::fs::write(path, text).unwrap();
}

/// `n` records of `len` bytes for [`write_desc`]'s layout, ids in a scrambled order.
pub fn gen_records(n: u32, len: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let id = (u64::from(i) * 7919 % u64::from(n)) as u32;
            let mut r = vec![b' '; len];
            r[..4].copy_from_slice(&id.to_le_bytes());
            r[4..12].copy_from_slice(format!("grp{:05}", id % 97).as_bytes());
            let tail = format!("{id:>10}");
            let end = len.min(12 + tail.len());
            r[12..end].copy_from_slice(&tail.as_bytes()[..end - 12]);
            r
        })
        .collect()
}

pub fn page_of(file: &Path) -> usize {
    let out = ok(&[OsStr::new("-stat"), file.as_os_str()]);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("# page size: "))
        .unwrap();
    line.trim_end_matches(" bytes").parse().unwrap()
}

/// The physical page numbers of the live data pages (the newest copy of each logical
/// page, when that copy is a data page), with the used-slot count of each.
pub fn live_data_pages(bytes: &[u8], ps: usize) -> Vec<(usize, usize)> {
    use std::collections::BTreeMap;
    let mut newest: BTreeMap<u32, (u64, usize, u8)> = BTreeMap::new();
    for (p, b) in bytes.chunks_exact(ps).enumerate().skip(2) {
        let stored = u32::from_le_bytes(b[0..4].try_into().unwrap());
        let (ty, logical) = (b[4], u32::from_le_bytes(b[12..16].try_into().unwrap()));
        let seq = u64::from_le_bytes(b[16..24].try_into().unwrap());
        if stored == crc32c(&b[4..]) && (3..=5).contains(&ty) {
            let e = newest.entry(logical).or_insert((seq, p, ty));
            if seq >= e.0 {
                *e = (seq, p, ty);
            }
        }
    }
    newest
        .values()
        .filter(|e| e.2 == 3)
        .map(|&(_, p, _)| {
            let used = u16::from_le_bytes([bytes[p * ps + 36], bytes[p * ps + 37]]);
            (p, usize::from(used))
        })
        .collect()
}

/// CRC-32C (Castagnoli), bitwise: the page checksum, without a dependency.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x5a;
    std::fs::write(path, b).unwrap();
}

/// Build a data file from a description and a sequential file in `dir`.
pub fn build(dir: &Path, name: &str, desc: &Path, seq: &Path) -> PathBuf {
    let file = dir.join(format!("{name}.btr"));
    ok(&[OsStr::new("-create"), file.as_os_str(), desc.as_os_str()]);
    ok(&[OsStr::new("-load"), seq.as_os_str(), file.as_os_str()]);
    file
}
