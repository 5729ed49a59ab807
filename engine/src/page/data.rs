//! Data pages: fixed-length record slots. Each slot holds an 8-byte serial (the
//! record's insertion number, which orders duplicates) and the record bytes; a bitmap
//! says which slots are used. Data pages with a free slot form a singly linked list
//! from the FCR's `free_data_head` through `next_free`; a page is on the list exactly
//! when it is not full.

use super::bytes::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};
use super::HEADER_LEN;

const NEXT_FREE_AT: usize = HEADER_LEN;
pub(crate) const USED_AT: usize = HEADER_LEN + 4;
const BITMAP_AT: usize = HEADER_LEN + 8;
/// Per-slot overhead: the serial.
pub const SLOT_OVERHEAD: usize = 8;

/// Slot geometry for one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub page_size: usize,
    pub record_length: usize,
    pub slots: usize,
    slots_at: usize,
}

impl Layout {
    /// Geometry for a page and record size; `None` if not even one record fits.
    pub fn new(page_size: usize, record_length: usize) -> Option<Layout> {
        let slot = record_length + SLOT_OVERHEAD;
        let room = page_size.checked_sub(BITMAP_AT)?;
        // n slots need ceil(n/8) bitmap bytes + n*slot bytes.
        let mut n = room * 8 / (8 * slot + 1);
        while n > 0 && n.div_ceil(8) + n * slot > room {
            n -= 1;
        }
        (n > 0).then(|| Layout {
            page_size,
            record_length,
            slots: n,
            slots_at: BITMAP_AT + n.div_ceil(8),
        })
    }

    fn slot_at(&self, slot: usize) -> usize {
        self.slots_at + slot * (self.record_length + SLOT_OVERHEAD)
    }

    pub fn next_free(&self, p: &[u8]) -> u32 {
        get_u32(p, NEXT_FREE_AT)
    }
    pub fn set_next_free(&self, p: &mut [u8], next: u32) {
        put_u32(p, NEXT_FREE_AT, next)
    }
    /// Used-slot count as stored (checked against the bitmap by `-check`).
    pub fn used(&self, p: &[u8]) -> usize {
        get_u16(p, USED_AT) as usize
    }
    pub fn is_used(&self, p: &[u8], slot: usize) -> bool {
        slot < self.slots && p[BITMAP_AT + slot / 8] & (1 << (slot % 8)) != 0
    }
    /// The used slots in order: the bitmap read a byte at a time, each set bit found
    /// by its position (`is_used` over every slot tests a bit per slot, free or not).
    pub fn used_slots<'a>(&self, p: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
        let slots = self.slots;
        p[BITMAP_AT..BITMAP_AT + slots.div_ceil(8)]
            .iter()
            .enumerate()
            .flat_map(|(i, &byte)| {
                let mut bits = byte;
                std::iter::from_fn(move || {
                    let b = bits.trailing_zeros();
                    bits &= bits.wrapping_sub(1);
                    (b < 8).then(|| i * 8 + b as usize)
                })
            })
            // Bits past the last slot (in the bitmap's last byte) are no slot's.
            .take_while(move |&s| s < slots)
    }
    /// Count of set bits in the bitmap.
    pub fn bitmap_count(&self, p: &[u8]) -> usize {
        (0..self.slots).filter(|&s| self.is_used(p, s)).count()
    }
    pub fn first_free(&self, p: &[u8]) -> Option<usize> {
        (0..self.slots).find(|&s| !self.is_used(p, s))
    }
    pub fn serial(&self, p: &[u8], slot: usize) -> u64 {
        get_u64(p, self.slot_at(slot))
    }
    pub fn record<'a>(&self, p: &'a [u8], slot: usize) -> &'a [u8] {
        let at = self.slot_at(slot) + SLOT_OVERHEAD;
        &p[at..at + self.record_length]
    }
    /// Fill a free slot.
    pub fn put(&self, p: &mut [u8], slot: usize, serial: u64, record: &[u8]) {
        debug_assert!(!self.is_used(p, slot));
        debug_assert_eq!(record.len(), self.record_length);
        let at = self.slot_at(slot);
        put_u64(p, at, serial);
        p[at + SLOT_OVERHEAD..at + SLOT_OVERHEAD + self.record_length].copy_from_slice(record);
        p[BITMAP_AT + slot / 8] |= 1 << (slot % 8);
        let used = self.used(p) + 1;
        put_u16(p, USED_AT, used as u16);
    }
    /// Overwrite a used slot's record (serial kept).
    pub fn replace(&self, p: &mut [u8], slot: usize, record: &[u8]) {
        debug_assert!(self.is_used(p, slot));
        let at = self.slot_at(slot) + SLOT_OVERHEAD;
        p[at..at + self.record_length].copy_from_slice(record);
    }
    /// Free a used slot (its bytes are zeroed: deleted data does not linger).
    pub fn clear(&self, p: &mut [u8], slot: usize) {
        debug_assert!(self.is_used(p, slot));
        let at = self.slot_at(slot);
        p[at..at + SLOT_OVERHEAD + self.record_length].fill(0);
        p[BITMAP_AT + slot / 8] &= !(1 << (slot % 8));
        let used = self.used(p).saturating_sub(1);
        put_u16(p, USED_AT, used as u16);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_fits_the_page_for_every_size() {
        for ps in crate::page::spec::PAGE_SIZES {
            for rl in [1usize, 7, 100, 400, 1000, 4000] {
                if let Some(l) = Layout::new(ps as usize, rl) {
                    assert!(l.slot_at(l.slots) <= ps as usize);
                    assert!(Layout::new(ps as usize, rl).is_some());
                } else {
                    assert!(BITMAP_AT + 1 + rl + SLOT_OVERHEAD > ps as usize);
                }
            }
        }
    }

    #[test]
    fn put_clear_and_counts() {
        let l = Layout::new(512, 10).unwrap();
        let mut p = super::super::blank(512, super::super::PageType::Data);
        for s in 0..l.slots {
            assert_eq!(l.first_free(&p), Some(s));
            l.put(&mut p, s, s as u64 + 100, &[s as u8; 10]);
        }
        assert_eq!(l.first_free(&p), None);
        assert_eq!(l.used(&p), l.slots);
        l.clear(&mut p, 3);
        assert_eq!(l.first_free(&p), Some(3));
        assert_eq!(l.bitmap_count(&p), l.slots - 1);
        let listed: Vec<usize> = l.used_slots(&p).collect();
        let tested: Vec<usize> = (0..l.slots).filter(|&s| l.is_used(&p, s)).collect();
        assert_eq!(listed, tested);
        assert_eq!(listed.len(), l.slots - 1);
        // Damage: bits set past the last slot are no slot's.
        assert_ne!(l.slots % 8, 0);
        p[BITMAP_AT + l.slots / 8] = 0xff;
        assert_eq!(l.used_slots(&p).last(), Some(l.slots - 1));
        assert_eq!(l.used_slots(&p).count(), l.bitmap_count(&p));
        assert_eq!(l.record(&p, 4), &[4u8; 10]);
        assert_eq!(l.serial(&p, 4), 104);
    }
}
