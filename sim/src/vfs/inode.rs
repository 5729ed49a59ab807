//! One simulated file's contents: a *durable* image (what a power loss cannot take),
//! a *volatile* image (what reads see) and, between them, the ordered list of unsynced
//! operations (writes and length changes).
//!
//! Invariant (checked by [`Inode::is_consistent`] in tests and debug assertions):
//! replaying the pending operations, in order, onto the *clean* image gives the
//! volatile image. The clean image is what the page cache holds as clean: normally the
//! durable image itself, but after [`Inode::forget_dirty`] (a failed sync under the
//! Linux policy, which marks dirty pages clean without writing them) the durable image
//! with the forgotten operations applied — readable, never durable, gone at the next
//! power loss. Every mutation here keeps the invariant: writes and length changes apply
//! to the volatile image and are queued; `sync` and writeback apply pending operations
//! to the durable and the clean image alike (forgotten ones stay forgotten);
//! `forget_dirty` makes the volatile image the clean one; `drop_dirty` and a power loss
//! revert to the durable image; corruption edits the durable image (and the clean one
//! wherever it is not holding forgotten bytes) and replays.
//!
//! Bounded: at most [`PENDING_OPS_LIMIT`] operations and [`PENDING_BYTES_LIMIT`] bytes
//! stay pending; past that the oldest are written back (made durable) the way an OS
//! flushes dirty pages on its own. Offsets and lengths are checked by the caller against
//! the file-size limit before they reach this module.

use super::image::Image;
use std::collections::VecDeque;

/// The unit a disk writes atomically; torn writes tear only at these boundaries.
pub const SECTOR: usize = 512;
/// Most unsynced operations one file keeps before the oldest is written back.
pub const PENDING_OPS_LIMIT: usize = 4096;
/// Most unsynced write bytes one file keeps before the oldest writes are written back.
pub const PENDING_BYTES_LIMIT: usize = 32 << 20;

/// An unsynced operation on a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PendingOp {
    Write { offset: usize, data: Vec<u8> },
    SetLen(usize),
}

impl PendingOp {
    fn bytes(&self) -> usize {
        match self {
            PendingOp::Write { data, .. } => data.len(),
            PendingOp::SetLen(_) => 0,
        }
    }

    /// Apply to an image.
    pub(super) fn apply(&self, image: &mut Image) {
        match self {
            PendingOp::Write { offset, data } => image.write(*offset, data),
            PendingOp::SetLen(len) => image.resize(*len),
        }
    }
}

/// One file's durable and volatile contents.
#[derive(Debug, Default)]
pub(super) struct Inode {
    durable: Image,
    /// The clean image when it is not the durable one: the durable image plus writes a
    /// failed sync forgot (Linux policy). `None` (the usual case): clean = durable.
    forgotten: Option<Image>,
    /// The volatile image; `None` while it is the clean image byte for byte (a file
    /// just installed durably or reset by a power loss, before its next write), so
    /// installing, copying or resetting a file never copies it.
    volatile: Option<Image>,
    pending: VecDeque<PendingOp>,
    pending_bytes: usize,
    /// A lying-disk fault (misdirected write, latent corruption) touched this file.
    pub damaged: bool,
    /// The handle holding the advisory exclusive lock, if any.
    pub locked_by: Option<u64>,
    /// Bad sectors (indices of 512-byte sectors) that fail every read touching them
    /// until written (`FaultConfig::sticky_bad_sectors`). Kept across crashes.
    bad_sectors: std::collections::BTreeSet<usize>,
}

impl Inode {
    /// A file whose durable and volatile images are both `bytes`.
    pub fn with_durable(bytes: Image) -> Inode {
        Inode {
            durable: bytes,
            ..Inode::default()
        }
    }

    pub fn len(&self) -> usize {
        self.volatile().len()
    }

    pub fn volatile(&self) -> &Image {
        self.volatile.as_ref().unwrap_or(self.clean())
    }

    /// The volatile image to change, made a copy of the clean one first (chunks
    /// shared) if it was the clean one.
    fn volatile_mut(&mut self) -> &mut Image {
        let clean = self.forgotten.as_ref().unwrap_or(&self.durable);
        self.volatile.get_or_insert_with(|| clean.clone())
    }

    pub fn durable(&self) -> &Image {
        &self.durable
    }

    pub fn pending(&self) -> &VecDeque<PendingOp> {
        &self.pending
    }

    /// Whether reads may show bytes a failed sync forgot: readable now, lost at the
    /// next power loss (the clean image is not the durable one).
    pub fn has_forgotten(&self) -> bool {
        self.forgotten.is_some()
    }

    /// Whether a failed sync forgot writes that changed the file's first `below` bytes:
    /// reads there show what the next power loss takes.
    pub fn forgot_below(&self, below: usize) -> bool {
        let Some(clean) = &self.forgotten else {
            return false;
        };
        let (mut a, mut b) = (vec![0u8; below], vec![0u8; below]);
        let (n, m) = (clean.read(0, &mut a), self.durable.read(0, &mut b));
        n != m || a[..n] != b[..m]
    }

    /// The image under the pending operations: the durable one unless a failed sync
    /// forgot writes.
    fn clean(&self) -> &Image {
        self.forgotten.as_ref().unwrap_or(&self.durable)
    }

    /// Apply a pending operation that leaves the queue to the durable image, and to
    /// the clean image too when it is a separate one.
    fn apply_below(&mut self, op: &PendingOp) {
        op.apply(&mut self.durable);
        if let Some(clean) = &mut self.forgotten {
            op.apply(clean);
        }
    }

    /// Mark sector `sector` bad (see `bad_sectors`).
    pub fn mark_bad(&mut self, sector: usize) {
        self.bad_sectors.insert(sector);
    }

    /// The first bad sector a read of `len` bytes at `offset` touches, if any.
    pub fn bad_sector_in(&self, offset: usize, len: usize) -> Option<usize> {
        if len == 0 {
            return None;
        }
        let (first, last) = (offset / SECTOR, offset.saturating_add(len - 1) / SECTOR);
        self.bad_sectors.range(first..=last).next().copied()
    }

    /// Copy volatile bytes at `offset` into `buf`; how many (short only at the end).
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> usize {
        self.volatile().read(offset, buf)
    }

    /// Write into the volatile image and queue the write. Returns how many old pending
    /// operations the bounded queue wrote back.
    pub fn write(&mut self, offset: usize, data: &[u8]) -> u64 {
        if data.is_empty() {
            return 0;
        }
        if !self.bad_sectors.is_empty() {
            let (first, last) = (offset / SECTOR, (offset + data.len() - 1) / SECTOR);
            self.bad_sectors.retain(|s| *s < first || *s > last);
        }
        self.volatile_mut().write(offset, data);
        self.push(PendingOp::Write {
            offset,
            data: data.to_vec(),
        })
    }

    /// Change the volatile length and queue the change. Returns writebacks, as `write`.
    pub fn set_len(&mut self, len: usize) -> u64 {
        self.bad_sectors.retain(|s| s * SECTOR < len);
        self.volatile_mut().resize(len);
        self.push(PendingOp::SetLen(len))
    }

    fn push(&mut self, op: PendingOp) -> u64 {
        self.pending_bytes += op.bytes();
        self.pending.push_back(op);
        let mut written_back = 0;
        while self.pending.len() > PENDING_OPS_LIMIT || self.pending_bytes > PENDING_BYTES_LIMIT {
            let Some(old) = self.pending.pop_front() else {
                break;
            };
            self.pending_bytes -= old.bytes();
            self.apply_below(&old);
            written_back += 1;
        }
        written_back
    }

    /// Make every pending operation durable. Returns how many there were. Writes a
    /// failed sync forgot stay forgotten: only what is pending reaches the disk.
    pub fn sync(&mut self) -> usize {
        let n = self.pending.len();
        if n > 0 && self.forgotten.is_none() && self.pending_bytes >= self.len() {
            // The volatile image is the durable one with the pending operations
            // applied, and they write at least the file's size: it becomes the durable
            // image as it is (and the volatile one shares it until the next change).
            if let Some(volatile) = self.volatile.take() {
                self.durable = volatile;
            }
            self.clear_pending();
        } else if n > 0 {
            // The volatile image is the clean one with the pending operations applied
            // in order, so applying them to it is the same as copying — and costs the
            // bytes written, not the file's size.
            let mut pending = std::mem::take(&mut self.pending);
            for op in &pending {
                self.apply_below(op);
            }
            // Keep the queue's buffer for the next writes.
            pending.clear();
            self.pending = pending;
            self.clear_pending();
            if self.forgotten.as_ref() == Some(&self.durable) {
                // Later writes covered every forgotten byte.
                self.forgotten = None;
            }
            debug_assert_eq!(self.clean().len(), self.volatile().len());
        }
        n
    }

    /// Discard every pending operation: reads see the durable image again (what a
    /// failed fsync leaves once the kernel has dropped the dirty pages — and with them
    /// any it had forgotten). Returns how many were discarded.
    pub fn drop_dirty(&mut self) -> usize {
        let n = self.pending.len();
        if n > 0 {
            self.volatile = None;
            self.forgotten = None;
            self.clear_pending();
        }
        n
    }

    /// Forget every pending operation without making it durable (Linux after a failed
    /// fsync: the dirty pages are marked clean, not written). Reads still see them; a
    /// later `sync` has nothing of them to write; a power loss loses them. Returns how
    /// many were forgotten.
    pub fn forget_dirty(&mut self) -> usize {
        let n = self.pending.len();
        if n > 0 {
            // The volatile image becomes the clean one; it then shares it.
            let volatile = match self.volatile.take() {
                Some(v) => v,
                None => self.clean().clone(),
            };
            self.forgotten = Some(volatile);
            self.clear_pending();
        }
        n
    }

    /// After a power loss: `durable` is what reached the disk; nothing is pending and
    /// nothing forgotten.
    pub fn reset_to(&mut self, durable: Image) {
        self.volatile = None;
        self.durable = durable;
        self.forgotten = None;
        self.clear_pending();
    }

    /// After a power loss that found nothing pending: the durable image is what
    /// reached the disk (`reset_to` of a copy of it, without the copy).
    pub fn revert_to_durable(&mut self) {
        self.volatile = None;
        self.forgotten = None;
        self.clear_pending();
    }

    fn clear_pending(&mut self) {
        self.pending.clear();
        self.pending_bytes = 0;
    }

    /// XOR durable bytes (`(offset, mask)`, offsets inside the durable image; others
    /// ignored) and replay the pending operations so the volatile image shows the
    /// damage wherever no unsynced write covers it — and no forgotten one: where the
    /// clean image holds a forgotten byte (it differs from the durable one), the cache
    /// keeps showing it.
    pub fn corrupt_durable(&mut self, edits: &[(usize, u8)]) {
        for &(offset, mask) in edits {
            let Some(b) = self.durable.get(offset) else {
                continue;
            };
            if let Some(clean) = self.forgotten.as_mut() {
                if clean.get(offset) == Some(b) {
                    clean.xor(offset, mask);
                }
            }
            self.durable.xor(offset, mask);
        }
        // With nothing pending the volatile image is the clean one, damage and all.
        self.volatile = if self.pending.is_empty() {
            None
        } else {
            Some(self.replay())
        };
    }

    /// The clean image with every pending operation applied.
    fn replay(&self) -> Image {
        let mut image = self.clean().clone();
        for op in &self.pending {
            op.apply(&mut image);
        }
        image
    }

    /// The module invariant: volatile = clean + pending, and the byte count agrees.
    pub fn is_consistent(&self) -> bool {
        let bytes: usize = self.pending.iter().map(PendingOp::bytes).sum();
        bytes == self.pending_bytes && self.replay() == *self.volatile()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_volatile_until_sync() {
        let mut f = Inode::default();
        f.write(3, b"abc");
        assert_eq!(f.volatile().to_vec(), b"\0\0\0abc");
        assert_eq!(f.durable().to_vec(), b"");
        assert_eq!(f.pending().len(), 1);
        assert!(f.is_consistent());
        assert_eq!(f.sync(), 1);
        assert_eq!(f.durable().to_vec(), b"\0\0\0abc");
        assert!(f.pending().is_empty());
        assert!(f.is_consistent());
    }

    #[test]
    fn empty_write_queues_nothing() {
        let mut f = Inode::default();
        f.write(100, b"");
        assert_eq!(f.len(), 0);
        assert!(f.pending().is_empty());
    }

    #[test]
    fn drop_dirty_reverts_to_durable() {
        let mut f = Inode::with_durable(b"old!".to_vec().into());
        f.write(0, b"NEW");
        f.set_len(2);
        assert_eq!(f.volatile().to_vec(), b"NE");
        assert_eq!(f.drop_dirty(), 2);
        assert_eq!(f.volatile().to_vec(), b"old!");
        assert!(f.is_consistent());
    }

    #[test]
    fn forget_dirty_keeps_reads_but_not_durability() {
        let mut f = Inode::with_durable(b"old!".to_vec().into());
        f.write(0, b"NEW");
        f.write(6, b"xy");
        assert_eq!(f.forget_dirty(), 2);
        assert!(f.has_forgotten());
        assert!(f.pending().is_empty());
        assert_eq!(f.volatile().to_vec(), b"NEW!\0\0xy");
        assert_eq!(f.durable().to_vec(), b"old!");
        assert!(f.is_consistent());
        // A later write is pending on top of the forgotten ones; syncing it makes only
        // it durable.
        f.write(1, b"e");
        assert_eq!(f.sync(), 1);
        assert_eq!(f.volatile().to_vec(), b"NeW!\0\0xy");
        assert_eq!(f.durable().to_vec(), b"oed!");
        assert!(f.has_forgotten());
        assert!(f.is_consistent());
        // Nothing pending: syncing writes nothing.
        assert_eq!(f.sync(), 0);
        assert_eq!(f.durable().to_vec(), b"oed!");
        // Writes covering every forgotten byte end the difference.
        f.write(0, b"NEW!\0\0xy");
        f.sync();
        assert!(!f.has_forgotten());
        assert!(f.is_consistent());
    }

    #[test]
    fn writeback_and_drop_dirty_after_forgetting() {
        let mut f = Inode::with_durable(vec![0u8; 4].into());
        f.write(0, &[1]);
        f.forget_dirty();
        // Writeback past the bound applies the oldest pending write below, forgotten
        // bytes stay forgotten.
        let mut written_back = 0;
        for i in 0..PENDING_OPS_LIMIT + 1 {
            written_back += f.write(2, &[i as u8]);
        }
        assert_eq!(written_back, 1);
        assert_eq!(f.durable().to_vec(), &[0, 0, 0, 0]);
        assert!(f.is_consistent());
        // Dropping dirty data reverts to the durable image, forgotten bytes too.
        f.drop_dirty();
        assert_eq!(f.volatile().to_vec(), &[0, 0, 0, 0]);
        assert!(!f.has_forgotten());
        assert!(f.is_consistent());
    }

    #[test]
    fn corruption_hides_behind_forgotten_bytes() {
        let mut f = Inode::with_durable(vec![0u8; 4].into());
        f.write(0, &[1, 1]);
        f.forget_dirty();
        f.corrupt_durable(&[(1, 0xF0), (3, 0x0F)]);
        assert_eq!(f.durable().to_vec(), &[0, 0xF0, 0, 0x0F]);
        assert_eq!(f.volatile().to_vec(), &[1, 1, 0, 0x0F]);
        assert!(f.is_consistent());
    }

    #[test]
    fn the_volatile_image_shares_the_clean_one_until_a_change() {
        let mut f = Inode::with_durable(b"abcd".to_vec().into());
        assert!(f.volatile.is_none());
        assert_eq!(f.volatile().to_vec(), b"abcd");
        f.write(1, b"X");
        assert_eq!(
            (f.volatile().to_vec(), f.durable().to_vec()),
            (b"aXcd".to_vec(), b"abcd".to_vec())
        );
        assert!(f.is_consistent());
        // A failed Linux sync: the written image becomes the clean one, shared.
        f.forget_dirty();
        assert!(f.volatile.is_none());
        assert_eq!(
            (f.volatile().to_vec(), f.durable().to_vec()),
            (b"aXcd".to_vec(), b"abcd".to_vec())
        );
        f.set_len(2);
        assert_eq!(f.volatile().to_vec(), b"aX");
        assert!(f.is_consistent());
        // Dropping the dirty data, and a reset, share the durable image again.
        f.drop_dirty();
        assert_eq!(f.volatile().to_vec(), b"abcd");
        f.write(0, b"zz");
        f.reset_to(b"new".to_vec().into());
        assert!(f.volatile.is_none());
        assert_eq!(f.volatile().to_vec(), b"new");
        let mut buf = [0u8; 8];
        assert_eq!(f.read(1, &mut buf), 2);
        assert_eq!(&buf[..2], b"ew");
        f.corrupt_durable(&[(0, 0x20)]);
        assert_eq!(f.volatile().to_vec(), b"New");
        assert!(f.is_consistent());
    }

    #[test]
    fn a_sync_rewriting_the_whole_file_hands_over_the_volatile_image() {
        let mut f = Inode::with_durable(vec![1u8; 8].into());
        f.write(0, &[2u8; 6]);
        f.write(4, &[3u8; 4]);
        assert_eq!(f.sync(), 2);
        assert!(f.volatile.is_none());
        assert_eq!(f.durable().to_vec(), &[2, 2, 2, 2, 3, 3, 3, 3]);
        assert_eq!(f.volatile(), f.durable());
        // A small write after it copies the image again, and applies as usual.
        f.write(7, &[9]);
        assert_eq!(f.sync(), 1);
        assert_eq!(f.durable().to_vec(), &[2, 2, 2, 2, 3, 3, 3, 9]);
        assert!(f.is_consistent());
        // Forgotten writes are never handed over: only what is pending reaches the disk.
        f.write(0, &[5u8; 8]);
        f.forget_dirty();
        f.write(0, &[6u8; 8]);
        assert_eq!(f.sync(), 1);
        assert_eq!(f.durable().to_vec(), &[6u8; 8]);
        assert!(f.is_consistent());
    }

    #[test]
    fn read_is_short_only_at_end() {
        let f = Inode::with_durable(b"hello".to_vec().into());
        let mut buf = [0u8; 4];
        assert_eq!(f.read(0, &mut buf), 4);
        assert_eq!(f.read(3, &mut buf), 2);
        assert_eq!(&buf[..2], b"lo");
        assert_eq!(f.read(5, &mut buf), 0);
        assert_eq!(f.read(usize::MAX, &mut buf), 0);
    }

    #[test]
    fn corruption_shows_through_where_no_pending_write_covers_it() {
        let mut f = Inode::with_durable(vec![0u8; 8].into());
        f.write(0, &[1, 1, 1, 1]);
        f.corrupt_durable(&[(1, 0xFF), (6, 0x0F), (100, 0xFF)]);
        assert_eq!(f.durable().to_vec(), &[0, 0xFF, 0, 0, 0, 0, 0x0F, 0]);
        assert_eq!(f.volatile().to_vec(), &[1, 1, 1, 1, 0, 0, 0x0F, 0]);
        assert!(f.is_consistent());
    }

    #[test]
    fn pending_queue_is_bounded_by_writeback() {
        let mut f = Inode::default();
        let mut written_back = 0;
        for i in 0..PENDING_OPS_LIMIT + 10 {
            written_back += f.write(i, &[i as u8]);
        }
        assert_eq!(written_back, 10);
        assert_eq!(f.pending().len(), PENDING_OPS_LIMIT);
        assert_eq!(f.durable().len(), 10);
        assert!(f.is_consistent());

        let mut g = Inode::default();
        let big = vec![7u8; PENDING_BYTES_LIMIT / 2 + 1];
        assert_eq!(g.write(0, &big), 0);
        assert_eq!(g.write(0, &big), 1);
        assert_eq!(g.durable().len(), big.len());
        assert!(g.is_consistent());
    }
}
