//! The File Control Record: the root of a data file. Two slots (physical pages 0 and
//! 1); a commit writes the new FCR into the slot not holding the current one, with
//! `seq + 1`, and the valid slot with the highest sequence wins on open. Writing the
//! FCR *is* the commit of a system transaction.
//!
//! The FCR holds the file's definition (record length, keys), its counters, the root
//! of every key's B+tree, the head of the data-page free-slot list, the depth of the
//! PAT tree and where each of its top-level pages lives (with the sequence that wrote
//! it). Files made before the PAT was a tree hold 0 in the depth byte and read as
//! depth 1 — the layout they have.

use super::bytes::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};
use super::pat::{self, PagePtr};
use super::{PageType, HEADER_LEN};
use crate::page::spec::{FileFormat, FileSpec, KeySpec, KeyType, Segment, PAGE_SIZES};
use crate::status::{fail, Result, Status};

/// Identifies a Keel data file.
pub const MAGIC: &[u8; 8] = b"KEELDAT1";
/// The format byte: 0 for the 6.x format (files made before the legacy format existed
/// hold 0 there), 5 for the legacy pre-imaging format.
const FORMAT_AT: usize = 88;
/// The PAT depth byte (0 in files made before the tree: read as 1).
const DEPTH_AT: usize = 89;
/// Flags of the file's layout: bit 0, `compact_leaves`; bit 1, narrow slot serials (0
/// in files made before them).
const FLAGS_AT: usize = 90;
const FLAG_COMPACT_LEAVES: u8 = 1;
/// Set exactly when slot serials are narrower than 8 bytes (byte 91 non-zero): an
/// engine made before narrow serials refuses unknown flags, so it refuses such a file
/// instead of reading its data pages with the wide layout.
const FLAG_NARROW_SERIALS: u8 = 2;
/// Bytes of a data-page slot's serial, 1 to 7; 0 for 8 (files made before narrower
/// serials hold 0 there).
const SERIAL_BYTES_AT: usize = 91;
/// Where the fixed fields end and the key table starts.
const KEYS_AT: usize = 96;
const KEY_LEN: usize = 8;
const SEG_LEN: usize = 8;

/// The mutable state of a file that lives in its FCR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileState {
    /// Records in the file.
    pub record_count: u64,
    /// Logical pages 1..logical_pages may be mapped (0 is never used).
    pub logical_pages: u32,
    /// First data page with a free slot (0: none).
    pub free_data_head: u32,
    /// Serial number the next inserted record gets (orders duplicates).
    pub next_serial: u64,
    /// Transaction-log position applied to this file (for roll-forward).
    pub applied_lsn: u64,
    /// Root logical page of each key's B+tree (0: empty).
    pub roots: Vec<u32>,
}

/// A decoded File Control Record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fcr {
    /// Sequence of the system transaction this FCR commits.
    pub seq: u64,
    pub spec: FileSpec,
    pub state: FileState,
    /// Levels of the PAT tree (1: the FCR points at leaf PAT pages).
    pub pat_depth: u8,
    /// Physical location of each top-level PAT page (`NONE`: an empty subtree).
    pub pat: Vec<PagePtr>,
}

/// How many PAT page pointers fit in the FCR of a file with this spec.
pub fn pat_capacity(spec: &FileSpec) -> usize {
    let nseg: usize = spec.keys.iter().map(|k| k.segments.len()).sum();
    let used = KEYS_AT + spec.keys.len() * KEY_LEN + nseg * SEG_LEN;
    (spec.page_size as usize).saturating_sub(used) / pat::ENTRY_LEN
}

/// Most logical pages a file with this spec can address: the PAT tree at its deepest,
/// within [`pat::LOGICAL_PAGE_LIMIT`] (which every valid spec reaches).
pub fn max_logical_pages(spec: &FileSpec) -> u64 {
    let per = pat::entries_per_page(spec.page_size as usize);
    pat::capacity(pat_capacity(spec), per, pat::MAX_DEPTH).min(pat::LOGICAL_PAGE_LIMIT)
}

impl Fcr {
    /// Encode into a page buffer (unsealed: the pager seals it with its slot number).
    pub fn encode(&self) -> Vec<u8> {
        let ps = self.spec.page_size as usize;
        let mut b = super::blank(ps, PageType::Fcr);
        b[32..40].copy_from_slice(MAGIC);
        put_u32(&mut b, 40, self.spec.page_size);
        put_u16(&mut b, 44, self.spec.record_length);
        put_u16(&mut b, 46, self.spec.keys.len() as u16);
        let nseg: usize = self.spec.keys.iter().map(|k| k.segments.len()).sum();
        put_u16(&mut b, 48, nseg as u16);
        put_u16(&mut b, 50, self.pat.len() as u16);
        put_u32(&mut b, 52, self.state.logical_pages);
        put_u64(&mut b, 56, self.state.record_count);
        put_u32(&mut b, 64, self.state.free_data_head);
        put_u64(&mut b, 72, self.state.next_serial);
        put_u64(&mut b, 80, self.state.applied_lsn);
        b[FORMAT_AT] = format_code(self.spec.format);
        debug_assert!((1..=pat::MAX_DEPTH).contains(&self.pat_depth));
        b[DEPTH_AT] = self.pat_depth;
        b[FLAGS_AT] = if self.spec.compact_leaves {
            FLAG_COMPACT_LEAVES
        } else {
            0
        } | if self.spec.slot_serial_bytes < 8 {
            FLAG_NARROW_SERIALS
        } else {
            0
        };
        b[SERIAL_BYTES_AT] = match self.spec.slot_serial_bytes {
            8 => 0,
            n => n,
        };
        let mut at = KEYS_AT;
        for (k, key) in self.spec.keys.iter().enumerate() {
            put_u32(&mut b, at, self.state.roots[k]);
            b[at + 4] = u8::from(key.duplicates) | (u8::from(key.modifiable) << 1);
            b[at + 5] = key.segments.len() as u8;
            at += KEY_LEN;
        }
        for seg in self.spec.keys.iter().flat_map(|k| &k.segments) {
            put_u16(&mut b, at, seg.offset);
            put_u16(&mut b, at + 2, seg.length);
            b[at + 4] = seg.key_type.code();
            b[at + 5] = u8::from(seg.descending);
            at += SEG_LEN;
        }
        for p in &self.pat {
            put_u32(&mut b, at, p.physical);
            put_u64(&mut b, at + 4, p.seq);
            at += pat::ENTRY_LEN;
        }
        debug_assert!(at <= ps, "FCR overflows its page");
        b
    }

    /// Does this buffer start like an FCR (magic present)? Used to tell "not a data
    /// file" (30) from "a data file whose control records are damaged" (2).
    pub fn has_magic(buf: &[u8]) -> bool {
        buf.len() >= 40 && &buf[32..40] == MAGIC
    }

    /// Whether `buf` (at least the common header and the magic) bears a Keel control
    /// record's marks for `slot`: the magic, or a page header naming an FCR at that
    /// physical page and slot in this format. Either alone suffices: rot of the magic
    /// bytes (sim seed 1193942: both slots' magic hit by latent corruption) leaves the
    /// header, so the file is still known for a damaged Keel file (status 2, `butil
    /// -recover`), not another kind of file (status 30).
    pub fn bears_marks(buf: &[u8], slot: u32) -> bool {
        Fcr::has_magic(buf)
            || (buf.len() >= HEADER_LEN
                && buf[5] == super::FORMAT_VERSION
                && super::header(buf).is_some_and(|h| {
                    h.page_type == PageType::Fcr && h.physical == slot && h.logical == slot
                }))
    }

    /// Decode a page whose checksum and header were already verified.
    pub fn decode(b: &[u8]) -> Result<Fcr> {
        let bad = |why: &str| fail(Status::IoError, format!("file control record: {why}"));
        if !Fcr::has_magic(b) {
            return fail(
                Status::NotABtrieveFile,
                "no Keel file control record (bad magic)",
            );
        }
        // The magic fits in 40 bytes; the size field after it may not (a truncated
        // page 0 of a file that is not a whole page long).
        if b.len() < 44 {
            return bad("page shorter than its header");
        }
        let page_size = get_u32(b, 40);
        if !PAGE_SIZES.contains(&page_size) || page_size as usize != b.len() {
            return bad("page size field does not match the page");
        }
        let record_length = get_u16(b, 44);
        let nkeys = get_u16(b, 46) as usize;
        let nseg = get_u16(b, 48) as usize;
        let npat = get_u16(b, 50) as usize;
        let end = KEYS_AT + nkeys * KEY_LEN + nseg * SEG_LEN + npat * pat::ENTRY_LEN;
        if end > b.len() {
            return bad("key, segment and PAT tables overflow the page");
        }
        let mut roots = Vec::with_capacity(nkeys);
        let mut keys = Vec::with_capacity(nkeys);
        let mut seg_counts = Vec::with_capacity(nkeys);
        let mut at = KEYS_AT;
        for _ in 0..nkeys {
            roots.push(get_u32(b, at));
            let flags = b[at + 4];
            seg_counts.push(b[at + 5] as usize);
            keys.push(KeySpec {
                segments: Vec::new(),
                duplicates: flags & 1 != 0,
                modifiable: flags & 2 != 0,
            });
            at += KEY_LEN;
        }
        if seg_counts.iter().sum::<usize>() != nseg {
            return bad("segment count does not match the keys");
        }
        for (key, &n) in keys.iter_mut().zip(&seg_counts) {
            // Bounded: the counts sum to `nseg`, whose table fits the page.
            key.segments.reserve_exact(n);
            for _ in 0..n {
                let Some(key_type) = KeyType::from_code(b[at + 4]) else {
                    return bad("unknown key type");
                };
                key.segments.push(Segment {
                    offset: get_u16(b, at),
                    length: get_u16(b, at + 2),
                    key_type,
                    descending: b[at + 5] & 1 != 0,
                });
                at += SEG_LEN;
            }
        }
        let mut pat_ptrs = Vec::with_capacity(npat);
        for _ in 0..npat {
            pat_ptrs.push(PagePtr {
                physical: get_u32(b, at),
                seq: get_u64(b, at + 4),
            });
            at += pat::ENTRY_LEN;
        }
        let format = match b[FORMAT_AT] {
            0 => FileFormat::V6,
            5 => FileFormat::V5,
            other => return bad(&format!("unknown file format code {other}")),
        };
        let flags = b[FLAGS_AT];
        if flags & !(FLAG_COMPACT_LEAVES | FLAG_NARROW_SERIALS) != 0 {
            return bad(&format!("unknown layout flags {flags:#04x}"));
        }
        let serial_bytes = match b[SERIAL_BYTES_AT] {
            0 => 8,
            n @ 1..=7 => n,
            n => {
                return bad(&format!(
                    "slot serials of {n} bytes (the format has 1 to 8)"
                ))
            }
        };
        if (flags & FLAG_NARROW_SERIALS != 0) != (serial_bytes < 8) {
            return bad(&format!(
                "layout flags {flags:#04x} disagree with slot serials of {serial_bytes} bytes"
            ));
        }
        let spec = FileSpec {
            record_length,
            page_size,
            keys,
            format,
            compact_leaves: flags & FLAG_COMPACT_LEAVES != 0,
            slot_serial_bytes: serial_bytes,
        };
        spec.validate()
            .map_err(|e| e.during("file control record holds an invalid definition"))?;
        let state = FileState {
            record_count: get_u64(b, 56),
            logical_pages: get_u32(b, 52),
            free_data_head: get_u32(b, 64),
            next_serial: get_u64(b, 72),
            applied_lsn: get_u64(b, 80),
            roots,
        };
        let per = pat::entries_per_page(page_size as usize);
        let pat_depth = b[DEPTH_AT].max(1);
        if pat_depth > pat::MAX_DEPTH {
            return bad(&format!(
                "PAT depth {pat_depth} is more than {}",
                pat::MAX_DEPTH
            ));
        }
        let logical = u64::from(state.logical_pages);
        if logical == 0
            || logical > pat::capacity(npat, per, pat_depth)
            || logical > pat::LOGICAL_PAGE_LIMIT
        {
            return bad("logical page count does not fit the PAT");
        }
        if state.roots.iter().any(|&r| r >= state.logical_pages)
            || state.free_data_head >= state.logical_pages
        {
            return bad("a root or list head points past the last logical page");
        }
        Ok(Fcr {
            seq: get_u64(b, 16),
            spec,
            state,
            pat_depth,
            pat: pat_ptrs,
        })
    }
}

fn format_code(f: FileFormat) -> u8 {
    match f {
        FileFormat::V6 => 0,
        FileFormat::V5 => 5,
    }
}

/// Header length is shared with every other page.
const _: () = assert!(HEADER_LEN <= KEYS_AT);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::testing::TestVfs;
    use std::path::Path;

    /// Slot 0 of a file `pager::create` makes with this layout.
    fn created(compact_leaves: bool) -> Vec<u8> {
        created_with(compact_leaves, 8)
    }

    fn created_with(compact_leaves: bool, slot_serial_bytes: u8) -> Vec<u8> {
        let vfs = TestVfs::new();
        let path = Path::new("/f.btr");
        let spec = FileSpec {
            compact_leaves,
            slot_serial_bytes,
            ..FileSpec::unique_u32_key(16, 512)
        };
        crate::pager::create(&vfs, path, &spec).expect("create");
        vfs.contents(path).expect("file")[..512].to_vec()
    }

    /// The layout flag reads back as written, a file made before it (byte 90 zero)
    /// reads as plain leaves, and a flag this version does not know is damage.
    #[test]
    fn compact_leaves_flag_round_trips_and_unknown_flags_are_refused() {
        for compact in [false, true] {
            let b = created(compact);
            assert_eq!(b[FLAGS_AT], u8::from(compact));
            let back = Fcr::decode(&b).expect("decode");
            assert_eq!(back.spec.compact_leaves, compact);
            assert_eq!(
                Fcr::decode(&back.encode()).expect("again"),
                Fcr { seq: 0, ..back }
            );
        }
        let mut b = created(true);
        b[FLAGS_AT] = 0x04;
        let e = Fcr::decode(&b).expect_err("unknown flag");
        assert_eq!(e.status, Status::IoError);
        assert!(e.to_string().contains("unknown layout flags"), "{e}");
    }

    /// Slot serial widths read back as written; 8 is stored as 0, so a file made
    /// before the field reads as 8-byte serials; a width the format has not is damage.
    #[test]
    fn slot_serial_width_round_trips_and_a_bad_one_is_refused() {
        for n in 1..=8u8 {
            let b = created_with(false, n);
            assert_eq!(b[SERIAL_BYTES_AT], n % 8);
            assert_eq!(b[FLAGS_AT] & FLAG_NARROW_SERIALS != 0, n < 8);
            assert_eq!(Fcr::decode(&b).expect("decode").spec.slot_serial_bytes, n);
        }
        // The flag and the width must agree, both ways: an engine that knows neither
        // refuses the flag, and one that knows both does not guess.
        let mut b = created_with(false, 3);
        b[FLAGS_AT] &= !FLAG_NARROW_SERIALS;
        let e = Fcr::decode(&b).expect_err("width without flag");
        assert!(e.to_string().contains("disagree"), "{e}");
        let mut b = created(false);
        b[FLAGS_AT] |= FLAG_NARROW_SERIALS;
        let e = Fcr::decode(&b).expect_err("flag without width");
        assert!(e.to_string().contains("disagree"), "{e}");
        let mut b = created(false);
        b[SERIAL_BYTES_AT] = 9;
        let e = Fcr::decode(&b).expect_err("width 9");
        assert_eq!(e.status, Status::IoError);
        assert!(e.to_string().contains("slot serials of 9 bytes"), "{e}");
    }
}
