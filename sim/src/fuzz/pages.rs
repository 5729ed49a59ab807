//! Page decoders: FCR, PAT, data and index pages. Inputs are shaped into whole pages
//! (see [`super::as_page`]); everything read from their contents is untrusted.

use engine::page::data::Layout;
use engine::page::fcr::Fcr;
use engine::page::node::Node;
use engine::page::{self, pat};

use super::{as_page, page_size_for};

/// `Fcr::decode` of the raw bytes (it must reject any length itself); a decoded FCR
/// must re-encode (and seal) to bytes that decode to the same FCR.
pub fn fcr(data: &[u8]) {
    // The raw input first: Fcr::decode checks the page size against the buffer.
    for buf in [data.to_vec(), as_page(data, page_size_for(data))] {
        let _ = page::header(&buf);
        let _ = page::checksum_ok(&buf);
        if let Ok(f) = Fcr::decode(&buf) {
            // `encode` leaves the header to the pager, whose seal carries the seq.
            let mut enc = f.encode();
            page::seal(&mut enc, 0, 0, f.seq);
            let again = Fcr::decode(&enc);
            assert_eq!(
                again.as_ref().ok(),
                Some(&f),
                "FCR encode→decode round trip"
            );
        }
    }
}

/// `pat::decode` of a page; decoding must yield exactly one entry per slot and
/// re-encoding the entries must decode to the same entries.
pub fn pat_page(data: &[u8]) {
    let buf = as_page(data, page_size_for(data));
    let entries = pat::decode(&buf);
    assert_eq!(entries.len(), pat::entries_per_page(buf.len()));
    let mut again = buf.clone();
    pat::encode(&mut again, &entries);
    assert_eq!(pat::decode(&again), entries, "PAT encode→decode round trip");
}

/// Record lengths tried against every data page: the smallest, a typical one, and
/// odd sizes that leave a partial bitmap byte.
const RECORD_LENGTHS: [usize; 4] = [1, 13, 100, 500];

/// A data page read through `Layout` for a few page sizes, record lengths and slot
/// serial widths: the stored used count, the bitmap, and every used slot's serial and
/// record; with narrow serials, a put of the serial after the page's highest (whose
/// base may move) either is refused with the page untouched or leaves every other
/// used slot's serial as it was.
pub fn data_page(data: &[u8]) {
    for page_size in [512usize, 4096, page_size_for(data)] {
        let p = as_page(data, page_size);
        for (rl, width) in RECORD_LENGTHS
            .into_iter()
            .flat_map(|rl| [8usize, 3, 1].map(|w| (rl, w)))
        {
            let Some(layout) = Layout::with_serial(page_size, rl, width) else {
                continue;
            };
            if let Some(free) = layout.first_free(&p) {
                let mut q = p.clone();
                let used: Vec<usize> = layout.used_slots(&p).collect();
                let serials: Vec<u64> = used.iter().map(|&s| layout.serial(&p, s)).collect();
                let serial = serials.iter().max().map_or(1, |m| m.wrapping_add(1));
                if layout.put(&mut q, free, serial, &vec![7; rl]) {
                    assert_eq!(layout.serial(&q, free), serial);
                    for (&s, &was) in used.iter().zip(&serials) {
                        assert_eq!(layout.serial(&q, s), was, "slot {s} after a put");
                    }
                } else {
                    assert_eq!(q, p, "a refused put changed the page");
                }
            }
            let _ = layout.used(&p);
            let _ = layout.next_free(&p);
            let used = layout.bitmap_count(&p);
            assert!(used <= layout.slots);
            if let Some(free) = layout.first_free(&p) {
                assert!(!layout.is_used(&p, free));
            }
            for slot in (0..layout.slots).filter(|&s| layout.is_used(&p, s)) {
                let _ = layout.serial(&p, slot);
                assert_eq!(layout.record(&p, slot).len(), rl);
            }
            // A slot past the end is never used (and must not index out of bounds).
            assert!(!layout.is_used(&p, layout.slots));
        }
    }
}

/// Entry lengths tried: the shortest key, an 8-byte key, and a long one.
const ENTRY_LENGTHS: [usize; 3] = [1, 8, 64];

/// `Node::decode` of a page with a few entry lengths (plus the length the page itself
/// claims, so the decoder gets past its key-length check); a decoded node must
/// re-encode to a page that decodes to the same node.
pub fn index_page(data: &[u8]) {
    let page_size = page_size_for(data);
    let buf = as_page(data, page_size);
    // The key length the page claims (a u16 right after the entry count, which
    // follows the common header), capped so a garbage claim stays cheap.
    let at = page::HEADER_LEN + 2;
    let claimed = usize::from(u16::from_le_bytes([buf[at], buf[at + 1]])).clamp(1, 1024);
    for entry_len in ENTRY_LENGTHS.into_iter().chain([claimed]) {
        if let Ok(node) = Node::decode(&buf, entry_len) {
            // Both leaf layouts, where the node fits them: a leaf with shared parts
            // always fits with its longest ones (they are no shorter than the page's).
            // Compacting is for leaves whose entries are distinct (every tree's): rows
            // of no width hold one entry at most.
            let distinct = node.keys.windows(2).all(|w| w[0] != w[1]);
            for compact in [false, true] {
                if compact && !distinct {
                    continue;
                }
                if node.encoded_len(entry_len, compact) > page_size {
                    assert!(!compact, "a decoded leaf that does not fit compacted");
                    continue;
                }
                let again = Node::decode(&node.encode(page_size, entry_len, compact), entry_len);
                assert_eq!(
                    again.as_ref().ok(),
                    Some(&node),
                    "node encode→decode round trip (compact: {compact})"
                );
            }
        }
    }
}
