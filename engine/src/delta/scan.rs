//! Reading a delta: where its committed part ends, the latest committed image of each
//! logical page, and the file state of the last commit (rules in the [module
//! doc](super)).
//!
//! The scan streams the file through a bounded window instead of reading it whole: a
//! delta grows with every transaction of a long backup. What it keeps is one entry per
//! logical page the delta names (where its latest committed image is, or that it was
//! freed), so memory grows with the pages the backup changed, not with the delta's
//! length — and no frame may name a page past what a file can address
//! ([`logical_page_bound`](super::logical_page_bound)). Images are read on demand
//! with [`read_image`], which checks the frame again (it may have rotted since the
//! scan).

use super::frame::{
    decode_raw, frame_len, peek, DeltaLayout, FrameBody, FrameKind, Stop, FRAME_HEADER_LEN,
};
use super::header::{header_error, DeltaHeader, HeaderError, DELTA, DELTA_HEADER_LEN};
pub use crate::appendfile::End;
use crate::appendfile::{search_for_proof, Search, Source, Window};
use crate::page::bytes::get_u32;
use crate::page::fcr::FileState;
use crate::status::{Error, Result, Status};
use crate::vfs::{read_exact_at, OpenMode, Vfs, VfsFile};
use std::collections::BTreeMap;
use std::path::Path;

/// Where a committed page image lives in the delta.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// File offset of the page frame (its header; the image follows it).
    pub offset: u64,
    /// The frame's sequence number, checked again when the image is read.
    pub seq: u64,
}

/// The latest committed version of one logical page in the delta.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageImage {
    /// The page's image is in the frame at this place.
    Image(ImageRef),
    /// The page was freed (by the last committed transaction that touched it).
    Freed,
}

/// What [`scan_delta`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeltaScan {
    pub header: DeltaHeader,
    /// The latest committed version of every logical page a committed transaction
    /// wrote or freed.
    pub pages: BTreeMap<u32, PageImage>,
    /// The file state of the last commit; `None` if nothing was committed (then the
    /// frozen data file's own state holds).
    pub state: Option<FileState>,
    /// Committed transactions.
    pub commits: u64,
    /// File offset just after the last commit frame (the header length if none): where
    /// the writer continues.
    pub valid_len: u64,
    /// Sequence number of the frame after the last commit frame.
    pub next_seq: u64,
    /// The file's length when scanned.
    pub file_len: u64,
    /// `Torn` if any bytes follow the last commit frame (an incomplete transaction, a
    /// torn frame, or space a crash left): they are ignored, and the writer truncates
    /// them.
    pub end: End,
    /// Why the frames stopped, and at which offset (≥ `valid_len`: frames of an
    /// incomplete transaction may lie between).
    pub stop: Stop,
    pub stop_offset: u64,
}

/// What lies at a data file's delta path, before anything is scanned: `Absent` (the
/// file is not in continuous operations), `Interrupted` (startbu never returned for it;
/// it may be removed) or `Present` ([`scan_delta`] it).
pub type DeltaProbe = crate::appendfile::Probe;

fn io_error(e: &std::io::Error, what: &str, path: &Path) -> Error {
    DELTA.io_error(e, what, path)
}

/// Read and decode the header sector; also returns the file's length.
fn read_header(file: &dyn VfsFile, path: &Path) -> Result<(Result<DeltaHeader, HeaderError>, u64)> {
    let file_len = file.len().map_err(|e| io_error(&e, "reading", path))?;
    let mut head = vec![0u8; file_len.min(DELTA_HEADER_LEN as u64) as usize];
    read_exact_at(file, &mut head, 0).map_err(|e| io_error(&e, "reading", path))?;
    Ok((DeltaHeader::decode(&head), file_len))
}

/// Whether `path` holds a delta, a delta whose creation was interrupted, or nothing.
pub fn probe_delta(vfs: &dyn Vfs, path: &Path) -> Result<DeltaProbe> {
    if !vfs
        .exists(path)
        .map_err(|e| io_error(&e, "looking for", path))?
    {
        return Ok(DeltaProbe::Absent);
    }
    let file = vfs
        .open(path, OpenMode::ReadOnly)
        .map_err(|e| io_error(&e, "opening", path))?;
    let (header, file_len) = read_header(file.as_ref(), path)?;
    Ok(DeltaProbe::of(&header, file_len))
}

/// Scan the delta at `path`: validate its header, then read frames while each is
/// complete, checks out and carries the next sequence number, grouping them into
/// transactions. Returns the committed part; frames after the last commit frame are
/// ignored. Errors (status 2 unless the `Vfs` failed otherwise; a missing file is 12):
/// a damaged header; a frame with the expected sequence number and a good checksum
/// whose fields no writer produces (including a commit whose count of page and freed
/// frames does not match the frames before it); or a damaged frame that a later frame
/// proves had been synced. Each names the file, the offset and what to do.
pub fn scan_delta(vfs: &dyn Vfs, path: &Path) -> Result<DeltaScan> {
    scan_delta_as(vfs, path, true)
}

/// [`scan_delta`], with the search for a proof after a damaged frame only if `prove`
/// (`false` is the `delta-damage-as-torn-tail` known-bad engine: proven damage then
/// reads as a torn tail).
pub fn scan_delta_as(vfs: &dyn Vfs, path: &Path, prove: bool) -> Result<DeltaScan> {
    let file = vfs
        .open(path, OpenMode::ReadOnly)
        .map_err(|e| io_error(&e, "opening", path))?;
    let (header, file_len) = read_header(file.as_ref(), path)?;
    let header = match header {
        Ok(h) => h,
        Err(h) if h.is_torn() && file_len <= DELTA_HEADER_LEN as u64 => {
            return Err(Error::new(
                Status::IoError,
                format!(
                    "delta file {}: {h}, and nothing follows it: startbu was interrupted \
                     while creating it, so no change was ever written to it; remove it \
                     (the data file holds everything) and run startbu again",
                    path.display()
                ),
            ))
        }
        Err(h) => return Err(header_error(&h, path)),
    };
    let ps = header.page_size;
    let layout = DeltaLayout::of(&header);
    let seed = layout.seed;
    let max_frame = frame_len(ps as usize);
    let corrupt = |at: u64, seq: u64, why: String| {
        Error::new(
            Status::IoError,
            format!(
                "delta file {}: the frame at offset {at} (sequence {seq}) is damaged: {why}; \
                 the delta cannot be trusted — restore the data file and its delta from \
                 backup, or remove the delta to return the data file to the startbu instant",
                path.display()
            ),
        )
    };
    let read_error = |e: &std::io::Error| io_error(e, "reading", path);
    let mut w = Window::new(file.as_ref(), file_len, &read_error);
    let mut pages = BTreeMap::new();
    let mut pending: BTreeMap<u32, PageImage> = BTreeMap::new();
    let mut state = None;
    let mut commits = 0u64;
    let mut pos = DELTA_HEADER_LEN as u64;
    let mut valid_len = pos;
    let mut next_seq = 1u64;
    // Sequence number of the first frame after the last commit.
    let mut txn_start = 1u64;
    let stop = loop {
        let bytes = w.get(pos, max_frame)?;
        let raw = match decode_raw(bytes, seed, ps) {
            Ok(raw) => raw,
            Err(stop) => break stop,
        };
        if raw.seq != next_seq {
            break Stop::Stale { seq: raw.seq };
        }
        // From here the frame is certainly the one this delta's writer wrote at this
        // offset (sequence and seeded checksum match): anything wrong in it is damage
        // or a bug, never a crash's torn end.
        let len = raw.encoded_len() as u64;
        let frame = raw.check(ps).map_err(|why| corrupt(pos, next_seq, why))?;
        let index = next_seq - txn_start;
        if u64::from(frame.txn_index) != index {
            let why = match frame.body {
                FrameBody::Commit(_) => format!(
                    "the commit counts {} page and freed frames but {index} precede it since \
                     the previous commit",
                    frame.txn_index
                ),
                _ => format!(
                    "it says it is frame {} of its transaction but it is frame {index}",
                    frame.txn_index
                ),
            };
            return Err(corrupt(pos, next_seq, why));
        }
        match frame.body {
            FrameBody::Page(_) | FrameBody::Freed => {
                let image = match frame.body {
                    FrameBody::Page(_) => PageImage::Image(ImageRef {
                        offset: pos,
                        seq: next_seq,
                    }),
                    _ => PageImage::Freed,
                };
                if pending.insert(frame.logical, image).is_some() {
                    return Err(corrupt(
                        pos,
                        next_seq,
                        format!(
                            "logical page {} appears twice in one transaction",
                            frame.logical
                        ),
                    ));
                }
            }
            FrameBody::Commit(st) => {
                if let Some((&l, _)) = pending.range(st.logical_pages..).next() {
                    return Err(corrupt(
                        pos,
                        next_seq,
                        format!(
                            "the transaction changes logical page {l} but its commit says the \
                             file has {} logical pages",
                            st.logical_pages
                        ),
                    ));
                }
                pages.append(&mut pending);
                state = Some(st);
                commits += 1;
                valid_len = pos + len;
                txn_start = next_seq + 1;
            }
        }
        pos += len;
        next_seq += 1;
    };
    let at_stop = pos;
    if stop != Stop::EndOfData && prove {
        let committed = txn_start - 1;
        let tail = |found: String| {
            format!(
                "delta file {}: the frame at offset {at_stop} (sequence {next_seq}) is damaged \
                 ({stop}) but {found}; the delta cannot be trusted past frame {committed} \
                 (commit {commits}) — restore the data file and its delta from backup, or \
                 remove the delta to return the data file to the startbu instant",
                path.display()
            )
        };
        match search_for_proof(&layout, &mut w, at_stop, next_seq)?.0 {
            Search::Nothing => {}
            Search::Proof {
                offset,
                seq,
                watermark: first,
            } => {
                return Err(Error::new(
                    Status::IoError,
                    tail(format!(
                        "a later transaction exists (frame {seq} at offset {offset} was written \
                         after every frame below {first} was synced)"
                    )),
                ))
            }
            Search::Exhausted { offset } => {
                return Err(Error::new(
                    Status::IoError,
                    tail(format!(
                        "the rest of the file could not be checked for later transactions (too \
                         many frame-like fragments from offset {offset})"
                    )),
                ))
            }
        }
    }
    Ok(DeltaScan {
        header,
        pages,
        state,
        commits,
        valid_len,
        next_seq: txn_start,
        file_len,
        end: if file_len > valid_len {
            End::Torn
        } else {
            End::Clean
        },
        stop,
        stop_offset: at_stop,
    })
}

/// Read the committed image of logical page `logical` at `at` from the delta `file`
/// (at `path`, for messages) into `buf`, which must be exactly one page long. The frame
/// is checked again — checksum, kind, sequence number, logical page, length — so an
/// image that rotted after the scan is reported (status 2), never served; `buf` is
/// then unspecified.
pub fn read_image(
    file: &dyn VfsFile,
    path: &Path,
    header: &DeltaHeader,
    logical: u32,
    at: ImageRef,
    buf: &mut [u8],
) -> Result<()> {
    if buf.len() != header.page_size as usize {
        return Err(Error::new(
            Status::InvalidOperation,
            format!(
                "reading a page of delta file {} into a {}-byte buffer; its pages are {} bytes",
                path.display(),
                buf.len(),
                header.page_size
            ),
        ));
    }
    let mut head = [0u8; FRAME_HEADER_LEN];
    let read = |b: &mut [u8], off: u64| {
        read_exact_at(file, b, off).map_err(|e| io_error(&e, "reading", path))
    };
    read(&mut head, at.offset)?;
    read(buf, at.offset + FRAME_HEADER_LEN as u64)?;
    let p = peek(&head);
    let crc = crc32c::crc32c_append(crc32c::crc32c_append(header.frame_seed(), &head[4..]), buf);
    let why = if get_u32(&head, 0) != crc {
        Some("it fails its checksum".to_string())
    } else if p.kind != FrameKind::Page as u8 || p.payload_len != header.page_size {
        Some("it is not a page frame".to_string())
    } else if p.seq != at.seq || get_u32(&head, 16) != logical {
        Some(format!(
            "it holds logical page {} of frame {}, not logical page {logical} of frame {}",
            get_u32(&head, 16),
            p.seq,
            at.seq
        ))
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(Error::new(
            Status::IoError,
            format!(
                "delta file {}: the image of logical page {logical} at offset {} failed \
                 verification ({why}); the delta was damaged after it was written — restore \
                 the data file and its delta from backup, or remove the delta to return the \
                 data file to the startbu instant",
                path.display(),
                at.offset
            ),
        )),
    }
}
