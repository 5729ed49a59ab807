//! A simulated file's bytes as copy-on-write chunks.
//!
//! An inode holds up to three images of one file (durable, clean, volatile) that mostly
//! agree, and a power loss starts from a copy of the durable one. As plain `Vec<u8>`s
//! every such copy cost the file's whole size — the first write after a sync copied the
//! file to separate the volatile image from the durable one, and an appending file
//! reallocated as it grew — and in the simulator that copying was the largest single
//! cost (a log segment is up to 256 KiB; each recovery copies it). Here an image is a
//! list of shared [`CHUNK`]-byte chunks: copying an image copies the list, and a write
//! copies only the chunks it changes that another image still shares. Chunks of zeros
//! (preallocated segment space, the gap an extending write leaves) share one static
//! chunk.
//!
//! Invariant (checked by [`Image::is_well_formed`] in debug builds): there are exactly
//! `len.div_ceil(CHUNK)` chunks, each `CHUNK` bytes long, and the bytes of the last chunk
//! past `len` are zero — so growing an image shows zeros without writing any.

use std::sync::{Arc, LazyLock};

/// Bytes per chunk: a page of the host's page cache, and a multiple of the sector.
pub const CHUNK: usize = 4096;

/// The one all-zero chunk every image shares for its zero-filled chunks.
static ZERO: LazyLock<Arc<[u8]>> = LazyLock::new(|| Arc::from(vec![0u8; CHUNK]));

/// A file's bytes (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct Image {
    len: usize,
    chunks: Vec<Arc<[u8]>>,
}

impl Image {
    pub fn from_slice(bytes: &[u8]) -> Image {
        let mut image = Image::default();
        image.write(0, bytes);
        image
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes as one vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for chunk in &self.chunks {
            let n = (self.len - out.len()).min(CHUNK);
            out.extend_from_slice(&chunk[..n]);
        }
        out
    }

    /// Copy the bytes at `offset` into `buf`; how many (short only at the end).
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let n = buf.len().min(self.len - offset);
        let mut done = 0;
        while done < n {
            let at = offset + done;
            let (index, within) = (at / CHUNK, at % CHUNK);
            let take = (n - done).min(CHUNK - within);
            buf[done..done + take].copy_from_slice(&self.chunks[index][within..within + take]);
            done += take;
        }
        n
    }

    /// Append up to `len` bytes at `offset` to `out`; how many (short only at the end).
    /// No zero-filled buffer to read over first.
    pub fn append_to(&self, offset: usize, len: usize, out: &mut Vec<u8>) -> usize {
        if offset >= self.len {
            return 0;
        }
        let n = len.min(self.len - offset);
        out.reserve(n);
        let mut done = 0;
        while done < n {
            let at = offset + done;
            let (index, within) = (at / CHUNK, at % CHUNK);
            let take = (n - done).min(CHUNK - within);
            out.extend_from_slice(&self.chunks[index][within..within + take]);
            done += take;
        }
        n
    }

    /// The byte at `offset`, if the image holds one.
    pub fn get(&self, offset: usize) -> Option<u8> {
        (offset < self.len).then(|| self.chunks[offset / CHUNK][offset % CHUNK])
    }

    /// XOR the byte at `offset` (which the image holds) with `mask`.
    pub fn xor(&mut self, offset: usize, mask: u8) {
        debug_assert!(offset < self.len);
        Arc::make_mut(&mut self.chunks[offset / CHUNK])[offset % CHUNK] ^= mask;
    }

    /// Whether the image holds exactly `data` at `offset`.
    pub fn holds(&self, offset: usize, data: &[u8]) -> bool {
        if offset.saturating_add(data.len()) > self.len {
            return false;
        }
        let mut done = 0;
        while done < data.len() {
            let at = offset + done;
            let (index, within) = (at / CHUNK, at % CHUNK);
            let take = (data.len() - done).min(CHUNK - within);
            if self.chunks[index][within..within + take] != data[done..done + take] {
                return false;
            }
            done += take;
        }
        true
    }

    /// Each `size`-byte piece of the image in order (the last one short), `size`
    /// dividing [`CHUNK`]: e.g. its sectors.
    pub fn pieces(&self, size: usize) -> impl Iterator<Item = &[u8]> {
        debug_assert!(size > 0 && CHUNK.is_multiple_of(size));
        let len = self.len;
        self.chunks.iter().enumerate().flat_map(move |(i, chunk)| {
            let n = (len - i * CHUNK).min(CHUNK);
            chunk[..n].chunks(size)
        })
    }

    /// Write `data` at `offset`, zero-filling any gap and extending as needed.
    pub fn write(&mut self, offset: usize, data: &[u8]) {
        if offset > self.len {
            self.resize(offset);
        }
        let mut done = 0;
        while done < data.len() {
            let at = offset + done;
            let (index, within) = (at / CHUNK, at % CHUNK);
            let take = (data.len() - done).min(CHUNK - within);
            let piece = &data[done..done + take];
            if index == self.chunks.len() {
                self.chunks.push(new_chunk(within, piece));
            } else if within == 0 && take == CHUNK {
                // A whole chunk replaced: a fresh one rather than a copy of the old.
                self.chunks[index] = new_chunk(0, piece);
            } else {
                Arc::make_mut(&mut self.chunks[index])[within..within + take]
                    .copy_from_slice(piece);
            }
            done += take;
        }
        self.len = self.len.max(offset + data.len());
        debug_assert!(self.is_well_formed());
    }

    /// Cut or extend (with zeros) to `len` bytes.
    pub fn resize(&mut self, len: usize) {
        if len < self.len {
            self.chunks.truncate(len.div_ceil(CHUNK));
            let within = len % CHUNK;
            if let Some(last) = self.chunks.last_mut().filter(|_| within != 0) {
                if last[within..].iter().any(|&b| b != 0) {
                    Arc::make_mut(last)[within..].fill(0);
                }
            }
        } else {
            // The last chunk's tail is already zero (the invariant).
            self.chunks.resize(len.div_ceil(CHUNK), ZERO.clone());
        }
        self.len = len;
        debug_assert!(self.is_well_formed());
    }

    /// The module invariant.
    pub fn is_well_formed(&self) -> bool {
        let tail = self.len % CHUNK;
        self.chunks.len() == self.len.div_ceil(CHUNK)
            && self.chunks.iter().all(|c| c.len() == CHUNK)
            && (tail == 0
                || self
                    .chunks
                    .last()
                    .is_some_and(|c| c[tail..].iter().all(|&b| b == 0)))
    }
}

/// A chunk holding `piece` at `within`, zeros elsewhere: the shared zero chunk if
/// `piece` is all zeros.
fn new_chunk(within: usize, piece: &[u8]) -> Arc<[u8]> {
    // A comparison with the zero chunk (memcmp, a few bytes an instruction) rather
    // than a byte loop: preallocated log segments are copied a chunk of zeros at a time.
    if *piece == ZERO[..piece.len()] {
        return ZERO.clone();
    }
    if within == 0 && piece.len() == CHUNK {
        return Arc::from(piece);
    }
    let mut bytes = vec![0u8; CHUNK];
    bytes[within..within + piece.len()].copy_from_slice(piece);
    Arc::from(bytes)
}

impl PartialEq for Image {
    fn eq(&self, other: &Image) -> bool {
        self.len == other.len
            && self
                .chunks
                .iter()
                .zip(&other.chunks)
                .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
    }
}

impl Eq for Image {}

impl From<Vec<u8>> for Image {
    fn from(bytes: Vec<u8>) -> Image {
        Image::from_slice(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Write(usize, Vec<u8>),
        Resize(usize),
        Xor(usize, u8),
        Fork,
    }

    fn op() -> impl Strategy<Value = Op> {
        let at = 0..3 * CHUNK + 100;
        prop_oneof![
            (
                at.clone(),
                prop::collection::vec(prop_oneof![Just(0u8), any::<u8>()], 0..2 * CHUNK + 10)
            )
                .prop_map(|(o, d)| Op::Write(o, d)),
            at.clone().prop_map(Op::Resize),
            (at, 1..=u8::MAX).prop_map(|(o, m)| Op::Xor(o, m)),
            Just(Op::Fork),
        ]
    }

    proptest! {
        /// An image behaves as a `Vec<u8>` under writes, length changes and XORs, and a
        /// copy taken at any point keeps its bytes whatever happens to the original
        /// (the copy-on-write sharing is invisible).
        #[test]
        fn behaves_as_a_vec(ops in prop::collection::vec(op(), 1..40)) {
            let mut image = Image::default();
            let mut model: Vec<u8> = Vec::new();
            let mut forks: Vec<(Image, Vec<u8>)> = Vec::new();
            for op in ops {
                match op {
                    Op::Write(offset, data) => {
                        image.write(offset, &data);
                        if model.len() < offset + data.len() {
                            model.resize(offset + data.len(), 0);
                        }
                        model[offset..offset + data.len()].copy_from_slice(&data);
                        if data.is_empty() && model.len() < offset {
                            model.resize(offset, 0);
                        }
                    }
                    Op::Resize(len) => {
                        image.resize(len);
                        model.resize(len, 0);
                    }
                    Op::Xor(offset, mask) => {
                        if offset < model.len() {
                            image.xor(offset, mask);
                            model[offset] ^= mask;
                        }
                    }
                    Op::Fork => forks.push((image.clone(), model.clone())),
                }
                prop_assert!(image.is_well_formed());
                prop_assert_eq!(image.to_vec(), model.clone());
            }
            for (fork, bytes) in &forks {
                prop_assert_eq!(&fork.to_vec(), bytes);
                prop_assert_eq!(fork == &image, bytes == &model);
            }
            let mut buf = vec![0u8; CHUNK + 7];
            for offset in [0, 1, CHUNK - 3, CHUNK, 2 * CHUNK + 5, model.len()] {
                let n = image.read(offset, &mut buf);
                let want = model.get(offset..).unwrap_or(&[]);
                let want = &want[..want.len().min(buf.len())];
                prop_assert_eq!(&buf[..n], want);
                let mut appended = vec![7u8, 7];
                prop_assert_eq!(image.append_to(offset, buf.len(), &mut appended), n);
                prop_assert_eq!(&appended[2..], want);
                prop_assert_eq!(image.get(offset), model.get(offset).copied());
                // As `slice.get(offset..offset + n) == Some(data)`: never past the end.
                prop_assert_eq!(image.holds(offset, want), offset <= model.len());
            }
            let sectors: Vec<&[u8]> = image.pieces(512).collect();
            let want: Vec<&[u8]> = model.chunks(512).collect();
            prop_assert_eq!(sectors, want);
        }
    }

    #[test]
    fn holds_is_false_past_the_end_and_on_a_difference() {
        let image = Image::from_slice(b"abcdef");
        assert!(image.holds(2, b"cd"));
        assert!(!image.holds(2, b"cx"));
        assert!(!image.holds(5, b"fg"));
        assert!(image.holds(6, b""));
    }

    #[test]
    fn zero_chunks_are_shared_and_copied_on_write() {
        let mut image = Image::default();
        image.resize(3 * CHUNK);
        assert!(image.chunks.iter().all(|c| Arc::ptr_eq(c, &ZERO)));
        image.write(CHUNK + 1, b"x");
        assert!(!Arc::ptr_eq(&image.chunks[1], &ZERO));
        assert!(ZERO.iter().all(|&b| b == 0));
        assert_eq!(image.get(CHUNK + 1), Some(b'x'));
    }
}
