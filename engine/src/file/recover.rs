//! Salvage every readable record of a damaged data file (`butil -recover`).
//!
//! Two ways in, tried in order:
//!
//! 1. **Opened**: if the file opens normally (a live control record and a verified page
//!    allocation table), walk its logical pages in order and take the records of every
//!    data page that reads back verified. A page that does not is skipped and named;
//!    the walk goes on. Index pages are not needed: records live only on data pages.
//! 2. **Scanned**: if the file does not open (both control records or a PAT page
//!    damaged), read every physical page, keep those whose checksum holds and whose
//!    header says data (or index) page, and take for each logical page the copy written
//!    by the highest system-transaction sequence — the newest image of that page, so a
//!    record deleted or changed by a later commit does not come back. Page size and
//!    record length come from a control record slot that still decodes: one whose
//!    checksum holds if there is one, else one whose fields still decode although its
//!    checksum fails. If neither slot decodes, the geometry is unknown and recovery
//!    fails with status 2 (the slots still carry the file's magic) or 30 (they do not:
//!    not a data file).
//!
//! Caveats of a scan, reported in [`Recovery::notes`]: if the newest copy of a page is
//! damaged, an older intact copy (stale data) is used instead; a system transaction
//! whose control record never reached the disk may contribute its pages.
//!
//! Guarantees: a pure function of the bytes behind a [`Vfs`] — it only reads (and takes
//! the advisory lock, so a file some process has open is status 85); no panic on any
//! bytes (a property test flips and cuts files at random); memory is a small page cache
//! plus the records found plus, when scanning, one small entry per logical page seen.
//! Skipped pages are named; in an opened file an unreadable page may have been an index
//! page, whose loss costs no records. Errors: 12 (missing), 46, 85, 30, 2.

use super::datafile::DataFile;
use super::spec::{FileSpec, PAGE_SIZES};
use crate::page::bytes::{get_u32, get_u64};
use crate::page::data::Layout;
use crate::page::fcr::Fcr;
use crate::page::{self, PageType, FORMAT_VERSION};
use crate::pager::{PagerConfig, FCR_SLOTS};
use crate::status::{fail, Error, Result, Status};
use crate::vfs::{self, OpenMode, Vfs, VfsFile};
use std::collections::BTreeMap;
use std::path::Path;

/// Verified pages cached while walking an opened file (each page is read once).
const OPENED_CACHE_PAGES: usize = 64;

/// How the records were found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// The file opened normally; its data pages were walked by logical page.
    Opened,
    /// The file did not open; every physical page was scanned. `geometry_from` says
    /// which control record slot gave the page size and record length.
    Scanned { geometry_from: String },
}

/// A page that could not be read and was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedPage {
    /// Logical page number when [`Method::Opened`], physical when [`Method::Scanned`].
    pub page: u32,
    pub why: String,
}

/// What [`recover`] salvaged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    pub method: Method,
    /// The file's definition as its (live or best surviving) control record gives it.
    pub spec: FileSpec,
    /// Every readable record, in logical page then slot order.
    pub records: Vec<Vec<u8>>,
    /// Data pages whose records were taken.
    pub data_pages: usize,
    /// Pages skipped because they could not be read or failed verification.
    pub skipped: Vec<SkippedPage>,
    /// Anything else the operator should know, one line each.
    pub notes: Vec<String>,
}

/// Salvage the readable records of the data file at `path` (see the module docs).
pub fn recover(vfs: &dyn Vfs, path: &Path) -> Result<Recovery> {
    let cfg = PagerConfig::plain(OPENED_CACHE_PAGES);
    match DataFile::open(vfs, path, true, cfg) {
        Ok(mut df) => Ok(walk_opened(&mut df)),
        Err(e)
            if matches!(
                e.status,
                Status::FileNotFound
                    | Status::AccessDenied
                    | Status::FileInUse
                    | Status::InvalidFileName
            ) =>
        {
            Err(e)
        }
        Err(e) => {
            let mut r = scan(vfs, path)?;
            r.notes.insert(
                0,
                format!("the file does not open normally ({e}); scanned every physical page"),
            );
            Ok(r)
        }
    }
}

fn walk_opened(df: &mut DataFile) -> Recovery {
    let layout = df.layout;
    let mut r = Recovery {
        method: Method::Opened,
        spec: df.spec().clone(),
        records: Vec::new(),
        data_pages: 0,
        skipped: Vec::new(),
        notes: Vec::new(),
    };
    for l in df.pager.logical_in_use() {
        let page = match df.pager.page_type(l) {
            Ok(Some(PageType::Data)) => df.pager.read(l, &[PageType::Data]),
            Ok(_) => continue,
            Err(e) => Err(e),
        };
        match page {
            Ok(p) => {
                r.data_pages += 1;
                take_records(&layout, &p, &mut r.records);
            }
            Err(e) => r.skipped.push(SkippedPage {
                page: l,
                why: e.context,
            }),
        }
    }
    let expected = df.pager.state().record_count;
    if r.records.len() as u64 != expected {
        r.notes.push(format!(
            "the control record counts {expected} records; {} were readable",
            r.records.len()
        ));
    }
    r
}

fn take_records(layout: &Layout, p: &[u8], out: &mut Vec<Vec<u8>>) {
    for s in 0..layout.slots {
        if layout.is_used(p, s) {
            out.push(layout.record(p, s).to_vec());
        }
    }
}

/// Where the newest intact copy of a logical page lives.
#[derive(Clone, Copy)]
struct PageCopy {
    seq: u64,
    physical: u32,
    page_type: PageType,
}

fn scan(vfs: &dyn Vfs, path: &Path) -> Result<Recovery> {
    let file = vfs
        .open(path, OpenMode::ReadOnly)
        .map_err(|e| Error::io(&e, format_args!("opening {}", path.display())))?;
    file.try_lock_exclusive()
        .map_err(|e| Error::io(&e, format_args!("locking {}", path.display())))?;
    let len = file
        .len()
        .map_err(|e| Error::io(&e, format_args!("reading {}", path.display())))?;
    let (fcr, geometry_from) = geometry(file.as_ref(), path, len)?;
    let spec = fcr.spec;
    let ps = spec.page_size as usize;
    let Some(layout) = Layout::of(&spec) else {
        return fail(
            Status::IoError,
            format!(
                "{}: the control record's {}-byte records do not fit its {ps}-byte pages",
                path.display(),
                spec.record_length
            ),
        );
    };
    let mut r = Recovery {
        method: Method::Scanned { geometry_from },
        spec,
        records: Vec::new(),
        data_pages: 0,
        skipped: Vec::new(),
        notes: Vec::new(),
    };
    let pages = len / ps as u64;
    if len % ps as u64 != 0 {
        r.notes.push(format!(
            "the file ends with a partial page ({} bytes past physical page {}): ignored",
            len % ps as u64,
            pages.saturating_sub(1)
        ));
    }
    let pages = u32::try_from(pages).unwrap_or(u32::MAX);

    // Pass 1: the newest intact copy of every logical page, and what damaged pages claim.
    let mut newest: BTreeMap<u32, PageCopy> = BTreeMap::new();
    let mut damaged_claims: BTreeMap<u32, u64> = BTreeMap::new();
    let mut buf = vec![0u8; ps];
    for p in FCR_SLOTS..pages {
        if let Err(e) = vfs::read_exact_at(file.as_ref(), &mut buf, u64::from(p) * ps as u64) {
            r.skipped.push(SkippedPage {
                page: p,
                why: format!("read failed: {e}"),
            });
            continue;
        }
        if !page::checksum_ok(&buf) {
            r.skipped.push(SkippedPage {
                page: p,
                why: "fails its checksum (torn or corrupted)".into(),
            });
            if page::type_of(&buf) == Some(PageType::Data) {
                // The header may itself be damaged; it is only a hint for the notes.
                let (logical, seq) = (get_u32(&buf, 12), get_u64(&buf, 16));
                let e = damaged_claims.entry(logical).or_insert(seq);
                *e = (*e).max(seq);
            }
            continue;
        }
        let Some(h) = page::header(&buf) else {
            r.skipped.push(SkippedPage {
                page: p,
                why: "has an unknown page type".into(),
            });
            continue;
        };
        if buf[5] != FORMAT_VERSION {
            r.skipped.push(SkippedPage {
                page: p,
                why: format!("has format version {}", buf[5]),
            });
            continue;
        }
        // FCR and PAT pages number themselves differently; only tree and data pages
        // share the logical page space.
        if !matches!(
            h.page_type,
            PageType::Data | PageType::Leaf | PageType::Internal
        ) || h.logical == 0
        {
            continue;
        }
        let newer = newest.get(&h.logical).is_none_or(|c| h.seq > c.seq);
        if newer {
            newest.insert(
                h.logical,
                PageCopy {
                    seq: h.seq,
                    physical: p,
                    page_type: h.page_type,
                },
            );
        }
    }

    // Pass 2: the records of each logical page whose newest copy is a data page.
    for (&logical, c) in &newest {
        if c.page_type != PageType::Data {
            continue;
        }
        if let Some(&claimed) = damaged_claims.get(&logical) {
            if claimed > c.seq {
                r.notes.push(format!(
                    "logical page {logical}: a damaged copy claims sequence {claimed}; used \
                     the intact copy of sequence {} (physical page {}), which may be stale",
                    c.seq, c.physical
                ));
            }
        }
        let off = u64::from(c.physical) * ps as u64;
        if let Err(e) = vfs::read_exact_at(file.as_ref(), &mut buf, off) {
            r.skipped.push(SkippedPage {
                page: c.physical,
                why: format!("read failed on the second pass: {e}"),
            });
            continue;
        }
        if !page::checksum_ok(&buf) {
            r.skipped.push(SkippedPage {
                page: c.physical,
                why: "changed between passes and now fails its checksum".into(),
            });
            continue;
        }
        if layout.used(&buf) != layout.bitmap_count(&buf) {
            r.notes.push(format!(
                "logical page {logical} (physical {}): used count {} but {} slots marked; \
                 the record length may be wrong",
                c.physical,
                layout.used(&buf),
                layout.bitmap_count(&buf)
            ));
        }
        r.data_pages += 1;
        take_records(&layout, &buf, &mut r.records);
    }
    if let Some(&max) = newest.values().map(|c| c.seq).max().as_ref() {
        if max > fcr.seq {
            r.notes.push(format!(
                "pages of sequence {max} are newer than the control record used \
                 (sequence {}): the last system transaction may not have committed",
                fcr.seq
            ));
        }
    }
    Ok(r)
}

/// The control record that gives the page size and record length, and which slot it
/// came from. A slot with a valid checksum wins; then one that merely decodes.
fn geometry(file: &dyn VfsFile, path: &Path, len: u64) -> Result<(Fcr, String)> {
    let mut trusted: Option<(Fcr, u32)> = None;
    let mut decoded: Option<(Fcr, u32)> = None;
    let mut magic = false;
    for &ps in &PAGE_SIZES {
        let mut b = vec![0u8; ps as usize];
        for slot in 0..FCR_SLOTS {
            let off = u64::from(slot) * u64::from(ps);
            if off + u64::from(ps) > len || vfs::read_exact_at(file, &mut b, off).is_err() {
                continue;
            }
            magic |= Fcr::bears_marks(&b, slot);
            let Ok(f) = Fcr::decode(&b) else { continue };
            if Layout::with_serial(
                ps as usize,
                usize::from(f.spec.record_length),
                usize::from(f.spec.slot_serial_bytes),
            )
            .is_none()
            {
                continue;
            }
            let intact = page::checksum_ok(&b)
                && page::header(&b)
                    .is_some_and(|h| h.page_type == PageType::Fcr && h.physical == slot);
            let best = if intact { &mut trusted } else { &mut decoded };
            if best.as_ref().is_none_or(|(b, _)| f.seq > b.seq) {
                *best = Some((f, slot));
            }
        }
    }
    if let Some((f, slot)) = trusted {
        return Ok((f, format!("control record slot {slot} (intact)")));
    }
    if let Some((f, slot)) = decoded {
        return Ok((
            f,
            format!("control record slot {slot} (fails its checksum; its fields still decode)"),
        ));
    }
    // A slot shorter than the smallest page may still show the magic.
    let mut head = [0u8; 40];
    if vfs::read_exact_at(file, &mut head, 0).is_ok() && Fcr::bears_marks(&head, 0) {
        magic = true;
    }
    if magic {
        fail(
            Status::IoError,
            format!(
                "{}: both control records are damaged beyond decoding, so the page size and \
                 record length are unknown; nothing can be recovered from this file alone",
                path.display()
            ),
        )
    } else {
        fail(
            Status::NotABtrieveFile,
            format!(
                "{}: not a Keel data file ({len} bytes, no control record in either slot)",
                path.display()
            ),
        )
    }
}

#[cfg(test)]
#[path = "recover_tests.rs"]
mod tests;
