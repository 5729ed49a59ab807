//! Data pages: fixed-length record slots. Each slot holds the record's serial (its
//! insertion number, which orders duplicates) and the record bytes; a bitmap says
//! which slots are used. Data pages with a free slot form a singly linked list from
//! the FCR's `free_data_head` through `next_free`; a page is on the list exactly when
//! it is not full.
//!
//! A slot's serial takes 8 bytes, or — in a file made with narrower slot serials
//! ([`FileSpec::slot_serial_bytes`](crate::page::spec::FileSpec::slot_serial_bytes)) —
//! `w` bytes counted from a base serial the page keeps once (8 bytes after its used
//! count; the bitmap follows). A page then holds only serials less than `2^(8w)` apart
//! (and at most `2^(8w)` slots): [`Layout::put`] moves the base to the lowest of the
//! live serials and the new one when the new one does not fit the old base, and
//! refuses one the page's live records are too far from (the insert goes to another
//! page).

use super::bytes::{get_u16, get_u32, get_u64, get_uint, put_u16, put_u32, put_u64, put_uint};
use super::HEADER_LEN;

const NEXT_FREE_AT: usize = HEADER_LEN;
pub(crate) const USED_AT: usize = HEADER_LEN + 4;
/// Where the bitmap starts on a page of 8-byte serials, and where the base serial is
/// on one of narrower serials (its bitmap follows the base).
const BITMAP_AT: usize = HEADER_LEN + 8;
/// The widest slot serial: a serial whole, no base.
pub const WIDE_SERIAL: usize = 8;

/// Slot geometry for one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub page_size: usize,
    pub record_length: usize,
    pub slots: usize,
    /// Bytes of each slot's serial (1..=8; below 8, an offset from the page's base).
    pub serial_bytes: usize,
    bitmap_at: usize,
    slots_at: usize,
    /// The known-bad `narrow-serial-wraps`: a page takes any serial, its offset cut to
    /// the slot's width.
    #[cfg(feature = "mutants")]
    pub wraps: bool,
}

impl Layout {
    /// Geometry for a page and record size with 8-byte slot serials; `None` if not
    /// even one record fits.
    pub fn new(page_size: usize, record_length: usize) -> Option<Layout> {
        Layout::with_serial(page_size, record_length, WIDE_SERIAL)
    }

    /// The geometry of `spec`'s data pages.
    pub fn of(spec: &crate::page::spec::FileSpec) -> Option<Layout> {
        Layout::with_serial(
            spec.page_size as usize,
            spec.record_length as usize,
            usize::from(spec.slot_serial_bytes),
        )
    }

    /// Geometry with `serial_bytes`-byte slot serials (1..=8; `None` outside that, or if
    /// not even one record fits).
    pub fn with_serial(
        page_size: usize,
        record_length: usize,
        serial_bytes: usize,
    ) -> Option<Layout> {
        if !(1..=WIDE_SERIAL).contains(&serial_bytes) {
            return None;
        }
        let bitmap_at = if serial_bytes == WIDE_SERIAL {
            BITMAP_AT
        } else {
            BITMAP_AT + 8
        };
        let slot = record_length + serial_bytes;
        let room = page_size.checked_sub(bitmap_at)?;
        // n slots need ceil(n/8) bitmap bytes + n*slot bytes.
        let mut n = room * 8 / (8 * slot + 1);
        while n > 0 && n.div_ceil(8) + n * slot > room {
            n -= 1;
        }
        if serial_bytes < WIDE_SERIAL {
            // A page holds serials less than 2^(8w) apart: more slots than that could
            // never all be used.
            n = n.min(1 << (8 * serial_bytes));
        }
        (n > 0).then(|| Layout {
            page_size,
            record_length,
            slots: n,
            serial_bytes,
            bitmap_at,
            slots_at: bitmap_at + n.div_ceil(8),
            #[cfg(feature = "mutants")]
            wraps: false,
        })
    }

    fn slot_at(&self, slot: usize) -> usize {
        self.slots_at + slot * (self.record_length + self.serial_bytes)
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
        slot < self.slots && p[self.bitmap_at + slot / 8] & (1 << (slot % 8)) != 0
    }
    /// The used slots in order: the bitmap read a byte at a time, each set bit found
    /// by its position (`is_used` over every slot tests a bit per slot, free or not).
    pub fn used_slots<'a>(&self, p: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
        let slots = self.slots;
        p[self.bitmap_at..self.bitmap_at + slots.div_ceil(8)]
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
        let at = self.slot_at(slot);
        if !self.narrow() {
            return get_u64(p, at);
        }
        self.base(p).wrapping_add(self.offset_at(p, at))
    }
    pub fn record<'a>(&self, p: &'a [u8], slot: usize) -> &'a [u8] {
        let at = self.slot_at(slot) + self.serial_bytes;
        &p[at..at + self.record_length]
    }

    /// The base serial of a page of narrow serials.
    fn base(&self, p: &[u8]) -> u64 {
        get_u64(p, BITMAP_AT)
    }

    /// The narrow serial stored at `at`.
    fn offset_at(&self, p: &[u8], at: usize) -> u64 {
        get_uint(p, at, self.serial_bytes)
    }

    fn put_offset(&self, p: &mut [u8], at: usize, offset: u64) {
        debug_assert!(self.spans(offset));
        put_uint(p, at, self.serial_bytes, offset);
    }

    /// Whether slot serials are offsets from a page base (narrower than 8 bytes).
    pub fn narrow(&self) -> bool {
        self.serial_bytes < WIDE_SERIAL
    }

    /// Whether a serial `span` above another fits a slot's serial.
    fn spans(&self, span: u64) -> bool {
        !self.narrow() || span >> (8 * self.serial_bytes) == 0
    }

    /// The base page `p` needs to hold `serial` besides its live records: `Some(its
    /// base)` when the base need not move, else `Some(the lowest of the live serials
    /// and serial)` — below the old base for an older serial, above it once the page's
    /// oldest records are gone — or `None` when they are too far apart.
    fn base_for(&self, p: &[u8], serial: u64) -> Option<u64> {
        let base = self.base(p);
        if serial >= base && self.spans(serial - base) {
            return Some(base);
        }
        let (lo, hi) = self
            .used_slots(p)
            .map(|s| self.serial(p, s))
            .fold((serial, serial), |(lo, hi), x| (lo.min(x), hi.max(x)));
        self.spans(hi - lo).then_some(lo)
    }

    /// Whether page `p` can take a record with `serial` (always, with 8-byte serials;
    /// with narrow ones, while its live records and `serial` fit one base).
    pub fn takes(&self, p: &[u8], serial: u64) -> bool {
        #[cfg(feature = "mutants")]
        if self.wraps {
            return true;
        }
        !self.narrow() || self.base_for(p, serial).is_some()
    }

    /// Fill a free slot; `false` (the page untouched) if the page cannot take `serial`
    /// ([`Layout::takes`]). A narrow page whose base moves has every live slot's serial
    /// rewritten from the new base.
    #[must_use]
    pub fn put(&self, p: &mut [u8], slot: usize, serial: u64, record: &[u8]) -> bool {
        debug_assert!(!self.is_used(p, slot));
        debug_assert_eq!(record.len(), self.record_length);
        let at = self.slot_at(slot);
        #[cfg(feature = "mutants")]
        let wraps = self.wraps && self.used(p) > 0 && self.narrow();
        #[cfg(not(feature = "mutants"))]
        let wraps = false;
        if !self.narrow() {
            put_u64(p, at, serial);
        } else if wraps {
            let mask = (1u64 << (8 * self.serial_bytes)) - 1;
            self.put_offset(p, at, serial.wrapping_sub(self.base(p)) & mask);
        } else {
            let Some(base) = self.base_for(p, serial) else {
                return false;
            };
            let old = self.base(p);
            if base != old {
                let used: Vec<usize> = self.used_slots(p).collect();
                for s in used {
                    let x = self.slot_at(s);
                    let offset = old.wrapping_add(self.offset_at(p, x)) - base;
                    self.put_offset(p, x, offset);
                }
                put_u64(p, BITMAP_AT, base);
            }
            self.put_offset(p, at, serial - base);
        }
        let rec = at + self.serial_bytes;
        p[rec..rec + self.record_length].copy_from_slice(record);
        p[self.bitmap_at + slot / 8] |= 1 << (slot % 8);
        let used = self.used(p) + 1;
        put_u16(p, USED_AT, used as u16);
        true
    }
    /// Overwrite a used slot's record (serial kept).
    pub fn replace(&self, p: &mut [u8], slot: usize, record: &[u8]) {
        debug_assert!(self.is_used(p, slot));
        let at = self.slot_at(slot) + self.serial_bytes;
        p[at..at + self.record_length].copy_from_slice(record);
    }
    /// Free a used slot (its bytes are zeroed: deleted data does not linger).
    pub fn clear(&self, p: &mut [u8], slot: usize) {
        debug_assert!(self.is_used(p, slot));
        let at = self.slot_at(slot);
        p[at..at + self.serial_bytes + self.record_length].fill(0);
        p[self.bitmap_at + slot / 8] &= !(1 << (slot % 8));
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
                    assert!(BITMAP_AT + 1 + rl + WIDE_SERIAL > ps as usize);
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
            assert!(l.put(&mut p, s, s as u64 + 100, &[s as u8; 10]));
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
        p[l.bitmap_at + l.slots / 8] = 0xff;
        assert_eq!(l.used_slots(&p).last(), Some(l.slots - 1));
        assert_eq!(l.used_slots(&p).count(), l.bitmap_count(&p));
        assert_eq!(l.record(&p, 4), &[4u8; 10]);
        assert_eq!(l.serial(&p, 4), 104);
    }

    #[test]
    fn narrow_serials_cost_a_base_and_save_bytes_per_slot() {
        let wide = Layout::new(4096, 100).unwrap();
        let narrow = Layout::with_serial(4096, 100, 3).unwrap();
        assert_eq!((wide.slots, narrow.slots), (37, 39));
        // One-byte serials: never more slots than 256 serials in a row can fill.
        assert_eq!(Layout::with_serial(4096, 4, 1).unwrap().slots, 256);
        assert!(Layout::with_serial(4096, 4, 2).unwrap().slots > 256);
        assert!(narrow.slot_at(narrow.slots) <= 4096);
        assert!(Layout::with_serial(4096, 100, 0).is_none());
        assert!(Layout::with_serial(4096, 100, 9).is_none());
        // A record that does not fit one slot has no layout, at any width.
        for w in 1..=8 {
            let bitmap_at = if w == 8 { BITMAP_AT } else { BITMAP_AT + 8 };
            let largest = 512 - bitmap_at - 1 - w;
            assert_eq!(
                Layout::with_serial(512, largest, w).map(|l| l.slots),
                Some(1)
            );
            assert!(Layout::with_serial(512, largest + 1, w).is_none());
        }
    }

    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Clone, Debug)]
    enum Op {
        /// Put the next serial plus a jump (0 for the usual next one).
        Put(u64),
        Clear(usize),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        proptest::collection::vec(
            prop_oneof![
                3 => prop_oneof![Just(0u64), 0u64..300, 0u64..70_000].prop_map(Op::Put),
                1 => any::<usize>().prop_map(Op::Clear),
            ],
            1..120,
        )
    }

    proptest! {
        /// Against a model of slot → serial: every used slot reads back its serial and
        /// record, whatever bases the page moved through, and a put is refused exactly
        /// when the live serials and the new one span `2^(8w)` or more (the page is
        /// then untouched).
        #[test]
        fn narrow_serials_read_back_and_refuse_only_what_does_not_fit(
            w in 1usize..=8,
            start in prop_oneof![Just(0u64), any::<u64>().prop_map(|x| x >> 2)],
            ops in ops(),
        ) {
            let l = Layout::with_serial(512, 6, w).unwrap();
            let mut p = super::super::blank(512, super::super::PageType::Data);
            let mut model: BTreeMap<usize, u64> = BTreeMap::new();
            let mut next = start;
            for op in ops {
                match op {
                    Op::Put(jump) => {
                        next += jump;
                        let serial = next;
                        next += 1;
                        let Some(slot) = l.first_free(&p) else { continue };
                        let lo = model.values().copied().fold(serial, u64::min);
                        let hi = model.values().copied().fold(serial, u64::max);
                        let fits = w == 8 || (hi - lo) >> (8 * w) == 0;
                        prop_assert_eq!(l.takes(&p, serial), fits);
                        let before = p.clone();
                        let rec = [serial as u8; 6];
                        prop_assert_eq!(l.put(&mut p, slot, serial, &rec), fits);
                        if fits {
                            model.insert(slot, serial);
                        } else {
                            prop_assert_eq!(&p, &before);
                        }
                    }
                    Op::Clear(i) => {
                        if model.is_empty() { continue; }
                        let slot = *model.keys().nth(i % model.len()).unwrap();
                        l.clear(&mut p, slot);
                        model.remove(&slot);
                    }
                }
                prop_assert_eq!(l.used_slots(&p).collect::<Vec<_>>(), model.keys().copied().collect::<Vec<_>>());
                prop_assert_eq!(l.used(&p), model.len());
                for (&slot, &serial) in &model {
                    prop_assert_eq!(l.serial(&p, slot), serial);
                    prop_assert_eq!(l.record(&p, slot), &[serial as u8; 6]);
                }
            }
        }
    }
}
