//! The search after a damaged frame: is the damage a crash's torn tail, or damage to
//! frames that had been synced?
//!
//! When a run of frames stops at offset `X` where frame `L` belonged, the rest of the
//! file is searched, at every [`FRAME_ALIGN`]-byte offset (so it finds frames whatever the
//! damage did to lengths), for a well-formed frame with a good checksum whose watermark
//! exceeds `L`. Such a frame was written after frame `L` had been synced — a crash cannot
//! have lost `L` — so the caller must report the file as damaged (status 2), never as
//! ending at `X`. A frame that is merely *later* proves nothing: unsynced writes may reach
//! the disk in any order and torn at sectors, so a hole followed by valid frames written
//! after the last sync is an ordinary crash outcome; their watermark is then ≤ `L`.
//!
//! The search is linear in the bytes searched: candidates are filtered in O(1) per offset
//! (the format's cheap fields, a watermark above `L`, a sequence number no further past `L`
//! than the bytes since `X` can hold frames, a plausible length), runs of zeros are jumped
//! where the source can see them, and the checksum bytes hashed are capped at
//! [`SEARCH_BUDGET_FACTOR`] times the bytes searched. A file that exhausts the cap (only
//! crafted or badly damaged data can) cannot be proven to end cleanly: the caller reports
//! it as an error too.

use super::frame::{checked_len, checksum_ok, Layout, FRAME_ALIGN};
use crate::status::Result;
use crate::vfs::VfsFile;

/// The proof search hashes at most this many times the bytes it searches: enough for
/// every genuine frame there several times over, and linear however the damage looks.
pub const SEARCH_BUDGET_FACTOR: u64 = 4;

/// Bytes a [`Window`] reads at a time (more only if one frame is longer).
pub const WINDOW_LEN: usize = 1 << 20;

/// Where the bytes being scanned come from: a slice in memory, or a file read through a
/// bounded [`Window`]. Offsets are the source's own. (No `is_empty`: no scan asks, and
/// an unused one was a mutant no test could catch.)
#[allow(clippy::len_without_is_empty)]
pub trait Source {
    /// Bytes in the source.
    fn len(&self) -> u64;
    /// The bytes at `at`: `want` of them, or fewer only where the source ends.
    fn get(&mut self, at: u64, want: usize) -> Result<&[u8]>;
    /// Given that an all-zero frame header starts at `at`: the offset of the first
    /// non-zero [`FRAME_ALIGN`]-byte word from `at`, `Some(None)` if only zeros follow,
    /// or `None` if the source cannot tell without more I/O (then the search steps on).
    fn next_nonzero(&mut self, _at: u64) -> Option<Option<u64>> {
        None
    }
}

impl Source for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn get(&mut self, at: u64, want: usize) -> Result<&[u8]> {
        let from = (at as usize).min(<[u8]>::len(self));
        let to = from.saturating_add(want).min(<[u8]>::len(self));
        Ok(&self[from..to])
    }

    fn next_nonzero(&mut self, at: u64) -> Option<Option<u64>> {
        let rest = <[u8]>::get(self, at as usize..).unwrap_or_default();
        // Whole words only (a partial word at the end holds no frame).
        let words = &rest[..rest.len() / FRAME_ALIGN * FRAME_ALIGN];
        let word = first_nonzero(words).map(|i| i / FRAME_ALIGN);
        Some(word.map(|i| at + (i * FRAME_ALIGN) as u64))
    }
}

/// The index of the first non-zero byte of `bytes`. Every open of a log runs over its
/// preallocated zeros this way, so a block is tested eight bytes at a time (its words
/// ORed together) before one is searched byte by byte.
fn first_nonzero(bytes: &[u8]) -> Option<usize> {
    const BLOCK: usize = 64;
    let word = |w: &[u8]| {
        let mut x = [0u8; 8];
        x.copy_from_slice(w);
        u64::from_ne_bytes(x)
    };
    let mut blocks = bytes.chunks_exact(BLOCK);
    let mut at = 0;
    for block in &mut blocks {
        if block.chunks_exact(8).fold(0, |acc, w| acc | word(w)) != 0 {
            return block.iter().position(|&b| b != 0).map(|i| at + i);
        }
        at += BLOCK;
    }
    blocks
        .remainder()
        .iter()
        .position(|&b| b != 0)
        .map(|i| at + i)
}

/// A window onto a file: serves slices of up to one frame, reading a chunk at a time,
/// so a scan's memory does not grow with the file.
pub struct Window<'a> {
    file: &'a dyn VfsFile,
    file_len: u64,
    start: u64,
    buf: Vec<u8>,
    /// Turns an I/O error into the format's error (which names the file).
    io_error: &'a dyn Fn(&std::io::Error) -> crate::status::Error,
}

impl<'a> Window<'a> {
    /// A window onto `file`, `file_len` bytes long.
    pub fn new(
        file: &'a dyn VfsFile,
        file_len: u64,
        io_error: &'a dyn Fn(&std::io::Error) -> crate::status::Error,
    ) -> Window<'a> {
        Window {
            file,
            file_len,
            start: 0,
            buf: Vec::new(),
            io_error,
        }
    }
}

impl Source for Window<'_> {
    fn len(&self) -> u64 {
        self.file_len
    }

    fn get(&mut self, at: u64, want: usize) -> Result<&[u8]> {
        let avail = self.file_len.saturating_sub(at);
        let need = (want as u64).min(avail) as usize;
        let end = self.start + self.buf.len() as u64;
        if at < self.start || at + need as u64 > end {
            // Bounded by the window length, or one frame.
            let n = (WINDOW_LEN.max(want) as u64).min(avail) as usize;
            if let Err(e) = self.file.read_exact_into(&mut self.buf, n, at) {
                // Nothing half-read may pass for the window's old bytes.
                self.buf.clear();
                return Err((self.io_error)(&e));
            }
            self.start = at;
        }
        let from = (at - self.start) as usize;
        Ok(&self.buf[from..from + need])
    }
}

/// What the search after a damaged frame found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// No frame proves the damaged frame had been synced.
    Nothing,
    /// The frame at `offset`, sequence `seq`, was written after every frame below
    /// `watermark` (> the damaged one) had been synced.
    Proof {
        offset: u64,
        seq: u64,
        watermark: u64,
    },
    /// The hashing budget ran out at this offset before the search finished.
    Exhausted { offset: u64 },
}

/// Search `src` from `from` (where frame `expected` belonged but was not found) to its
/// end for a frame proving that frame `expected` had been synced (module doc). Returns
/// what it found and how many bytes it hashed.
pub fn search_for_proof<L: Layout, S: Source + ?Sized>(
    layout: &L,
    src: &mut S,
    from: u64,
    expected: u64,
) -> Result<(Search, u64)> {
    let len = src.len();
    let header_len = L::HEADER_LEN as u64;
    let budget = len
        .saturating_sub(from)
        .saturating_mul(SEARCH_BUDGET_FACTOR);
    let mut hashed = 0u64;
    let mut y = from;
    // The candidate's frame header, copied out of the source: only a candidate that
    // passes the cheap filters is read whole. Reading a longest frame at every offset
    // would make a window over a file refill at nearly every step once frames may be
    // as long as the window (the archival log's are), turning the search quadratic.
    let mut h = vec![0u8; L::HEADER_LEN];
    while y + header_len <= len {
        let here = y;
        y += FRAME_ALIGN as u64;
        h.copy_from_slice(&src.get(here, L::HEADER_LEN)?[..L::HEADER_LEN]);
        if h.iter().all(|&b| b == 0) {
            // No frame header is all zeros (kind 0 is never written): where the source
            // can see the run, jump to the last aligned start whose header reaches the
            // next non-zero word.
            match src.next_nonzero(here) {
                None => {}
                Some(None) => break,
                Some(Some(z)) => {
                    y = y.max((z + FRAME_ALIGN as u64).saturating_sub(header_len));
                }
            }
            continue;
        }
        let Some((seq, watermark)) = layout.watermark(&h) else {
            continue;
        };
        debug_assert!(watermark <= seq, "a watermark is never past its own frame");
        if watermark <= expected {
            continue;
        }
        // Frames expected..seq-1 must fit between `from` and here, each at least a
        // bare header long; a frame further ahead is not of this file's history.
        let room = (here - from) / header_len;
        if seq.saturating_sub(expected) > room {
            continue;
        }
        let avail = usize::try_from(len - here).unwrap_or(usize::MAX);
        let Some(flen) = checked_len(layout, layout.payload_len(&h), avail) else {
            continue;
        };
        if hashed + flen as u64 > budget {
            return Ok((Search::Exhausted { offset: here }, hashed));
        }
        hashed += flen as u64;
        if checksum_ok(layout.seed(), src.get(here, flen)?) {
            return Ok((
                Search::Proof {
                    offset: here,
                    seq,
                    watermark,
                },
                hashed,
            ));
        }
    }
    Ok((Search::Nothing, hashed))
}

#[cfg(test)]
mod tests {
    use super::super::frame::tests::{toy_frame, Toy};
    use super::*;

    /// Frames 1..=n, each with watermark gap `gap`, back to back.
    fn run(n: u64, gap: u8) -> Vec<u8> {
        (1..=n)
            .flat_map(|s| toy_frame(5, s, gap, b"12345678"))
            .collect()
    }

    #[test]
    fn the_next_non_zero_word_is_found_wherever_it_is() {
        // Against the definition: the first whole FRAME_ALIGN-byte word from `at` with
        // a non-zero byte; a non-zero byte in a partial last word is not a word.
        fn naive(bytes: &[u8], at: u64) -> Option<u64> {
            bytes[at as usize..]
                .chunks_exact(FRAME_ALIGN)
                .position(|w| w.iter().any(|&b| b != 0))
                .map(|i| at + (i * FRAME_ALIGN) as u64)
        }
        for len in [0usize, 7, 8, 63, 64, 65, 130, 300] {
            let zeros = vec![0u8; len];
            for at in (0..=len as u64).step_by(8) {
                assert_eq!((&zeros[..]).next_nonzero(at), Some(None));
            }
            for hot in 0..len {
                for v in [1u8, 0x80] {
                    let mut b = vec![0u8; len];
                    b[hot] = v;
                    for at in (0..=len as u64).step_by(8) {
                        let got = (&b[..]).next_nonzero(at);
                        assert_eq!(got, Some(naive(&b, at)), "len {len} hot {hot} at {at}");
                    }
                }
            }
        }
        assert_eq!(first_nonzero(&[0, 0, 3, 0, 4]), Some(2));
        assert_eq!(first_nonzero(&[]), None);
    }

    #[test]
    fn a_later_synced_frame_is_proof_a_later_unsynced_one_is_not() {
        let toy = Toy { seed: 5 };
        // Frame 3 (offset 48) damaged; frames 4.. were written after 1..3 were synced
        // (gap 0: watermark = own sequence).
        let mut bytes = run(6, 0);
        bytes[50] ^= 1;
        let found = search_for_proof(&toy, &mut &bytes[..], 48, 3).unwrap().0;
        assert_eq!(
            found,
            Search::Proof {
                offset: 72,
                seq: 4,
                watermark: 4
            }
        );
        // The same frames written before 3 was synced (gap 3: watermark = seq − 3 ≤ 3).
        let mut bytes = run(6, 3);
        bytes[50] ^= 1;
        assert_eq!(
            search_for_proof(&toy, &mut &bytes[..], 48, 3).unwrap().0,
            Search::Nothing
        );
    }

    #[test]
    fn zero_runs_are_jumped_and_a_proof_after_them_is_found() {
        let toy = Toy { seed: 5 };
        let mut bytes = vec![0u8; 4096];
        let proof = toy_frame(5, 2, 0, b"abcdefgh");
        bytes[2048..2048 + proof.len()].copy_from_slice(&proof);
        assert_eq!(
            search_for_proof(&toy, &mut &bytes[..], 0, 1).unwrap().0,
            Search::Proof {
                offset: 2048,
                seq: 2,
                watermark: 2
            }
        );
        // Too far ahead in sequence for the bytes between: not of this history.
        let far = toy_frame(5, 1000, 0, b"abcdefgh");
        bytes[2048..2048 + far.len()].copy_from_slice(&far);
        assert_eq!(
            search_for_proof(&toy, &mut &bytes[..], 0, 1).unwrap().0,
            Search::Nothing
        );
    }

    /// A source that counts the bytes it hands out.
    struct Counting<'a> {
        bytes: &'a [u8],
        served: u64,
    }

    impl Source for Counting<'_> {
        fn len(&self) -> u64 {
            self.bytes.len() as u64
        }
        fn get(&mut self, at: u64, want: usize) -> Result<&[u8]> {
            let got = (&mut self.bytes).get(at, want)?;
            self.served += got.len() as u64;
            Ok(got)
        }
    }

    /// The toy layout with frames up to a mebibyte long.
    struct LongToy;

    impl Layout for LongToy {
        const HEADER_LEN: usize = 16;
        const TOO_LONG: &'static str = "too long";
        fn max_payload(&self) -> usize {
            1 << 20
        }
        fn payload_len(&self, h: &[u8]) -> u32 {
            u32::from(h[5])
        }
        fn seed(&self) -> u32 {
            5
        }
        fn watermark(&self, h: &[u8]) -> Option<(u64, u64)> {
            Toy { seed: 5 }.watermark(h)
        }
    }

    #[test]
    fn the_search_reads_headers_not_longest_frames() {
        // Non-zero bytes that are no candidate (kind 0): every offset is looked at, and
        // only its header should be read, however long a frame may be.
        let bytes = [0u8, 0, 0, 0, 0, 9, 9, 9].repeat(1 << 15);
        let mut src = Counting {
            bytes: &bytes,
            served: 0,
        };
        let found = search_for_proof(&LongToy, &mut src, 0, 1).unwrap().0;
        assert_eq!(found, Search::Nothing);
        let offsets = (bytes.len() / FRAME_ALIGN) as u64;
        assert!(
            src.served <= offsets * LongToy::HEADER_LEN as u64,
            "served {} bytes for {offsets} offsets",
            src.served
        );
    }

    #[test]
    fn the_budget_bounds_the_hashing() {
        let toy = Toy { seed: 5 };
        // Every aligned offset looks like a candidate with a 64-byte payload and a bad
        // checksum: hashing each would be quadratic-ish; the budget stops it.
        let mut bytes = Vec::new();
        for _ in 0..512 {
            let mut f = vec![0u8; 8];
            f[4] = 1;
            f[5] = 64;
            bytes.extend_from_slice(&f);
            bytes.extend_from_slice(&2u64.to_le_bytes());
        }
        let n = bytes.len() as u64;
        match search_for_proof(&toy, &mut &bytes[..], 0, 1).unwrap() {
            (Search::Exhausted { .. }, hashed) => assert!(hashed <= SEARCH_BUDGET_FACTOR * n),
            other => panic!("{other:?}"),
        }
    }

    /// The zero-run jump skips only all-zero headers: a proof whose header has no
    /// zero byte is still examined (with the test inverted, such a header was taken for
    /// a zero run and the proof missed — the damage then read as a torn tail). Byte 7
    /// of a toy header, which `Toy` ignores and `toy_frame` leaves zero, is set.
    #[test]
    fn a_proof_whose_header_has_no_zero_byte_is_found() {
        // Sequence and watermark gap (1: written after frame seq - 1 was synced) with
        // no zero byte; the damaged frame is seq - 2.
        let seq = 0x0101_0101_0101_0103u64;
        let proof = (0u8..=255)
            .map(|v| {
                let mut f = toy_frame(5, seq, 1, &[v | 1; 8]);
                f[7] = 0xEE;
                super::super::frame::seal_frame(5, &mut f);
                f
            })
            .find(|f| f[..Toy::HEADER_LEN].iter().all(|&b| b != 0))
            .expect("some payload seals to a header without zeros");
        // Room for the damaged frame and the next (the headers read there are no
        // candidates: kind 0, or a sequence far past the damaged frame), then the proof.
        let mut bytes = vec![0x11u8; 32];
        bytes[4] = 0;
        bytes[20] = 0;
        bytes.extend_from_slice(&proof);
        assert_eq!(
            search_for_proof(&Toy { seed: 5 }, &mut &bytes[..], 0, seq - 2)
                .unwrap()
                .0,
            Search::Proof {
                offset: 32,
                seq,
                watermark: seq - 1
            }
        );
    }

    /// A file that counts its reads.
    struct CountedFile {
        inner: Box<dyn VfsFile>,
        reads: std::sync::atomic::AtomicU64,
    }

    impl VfsFile for CountedFile {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
            self.reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.read_at(buf, offset)
        }
        fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
            self.inner.write_at(buf, offset)
        }
        fn sync(&self) -> std::io::Result<()> {
            self.inner.sync()
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.inner.set_len(len)
        }
        fn len(&self) -> std::io::Result<u64> {
            self.inner.len()
        }
        fn try_lock_exclusive(&self) -> std::io::Result<()> {
            self.inner.try_lock_exclusive()
        }
    }

    /// A window serves exactly the slice's bytes for any gets — forward, backward,
    /// across and at its edges, past the file's end — and reads the file again only for
    /// bytes it does not hold.
    #[test]
    fn a_window_serves_the_files_bytes_and_rereads_only_what_it_lacks() {
        use crate::vfs::testing::{Rng, TestVfs};
        use crate::vfs::{OpenMode, Vfs};
        let len = 2 * WINDOW_LEN + 12_345;
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4093) as u8).collect();
        let vfs = TestVfs::new();
        vfs.put("/f", bytes.clone());
        let file = CountedFile {
            inner: vfs
                .open(std::path::Path::new("/f"), OpenMode::ReadOnly)
                .unwrap(),
            reads: 0.into(),
        };
        let reads = || file.reads.load(std::sync::atomic::Ordering::Relaxed);
        let io_error = |e: &std::io::Error| {
            crate::status::Error::new(crate::status::Status::IoError, e.to_string())
        };
        let mut w = Window::new(&file, len as u64, &io_error);
        let mut rng = Rng::new(9);
        for _ in 0..2000 {
            let at = rng.below(len as u64 + 64);
            let want = rng.below(3 * WINDOW_LEN as u64 / 2) as usize;
            let want = if rng.below(2) == 0 { want % 64 } else { want };
            let got = w.get(at, want).unwrap().to_vec();
            assert_eq!(
                got,
                &bytes[(at as usize).min(len)..(at as usize + want).min(len)],
                "get({at}, {want})"
            );
        }
        // Within what the window holds — its first byte, its last — nothing is read.
        w.get(1000, 64).unwrap();
        let before = reads();
        for (at, want) in [(1000, 64), (1000, 1), (1000 + WINDOW_LEN as u64 - 64, 64)] {
            w.get(at, want).unwrap();
            assert_eq!(reads(), before, "get({at}, {want}) from the window");
        }
        // A byte past it, or before it: read again.
        w.get(1000 + WINDOW_LEN as u64 - 64, 65).unwrap();
        assert!(reads() > before, "past the window");
        let before = reads();
        w.get(999, 1).unwrap();
        assert!(reads() > before, "before the window");
    }
}
