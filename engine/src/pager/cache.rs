//! The clean-page cache: verified images of committed logical pages, at most
//! `capacity` of them. What goes in is the pager's business (only images verified
//! against their referrer, and a commit removes every page it changes); this module
//! only bounds the count and chooses what to drop.
//!
//! Eviction is CLOCK (second chance): a hit sets the slot's reference bit; when a new
//! page needs room, the hand sweeps the slots, clearing set bits, and replaces the
//! first slot whose bit is clear. Why CLOCK rather than the earlier "clear everything
//! when full" or an LRU list:
//! - a file larger than the cache (1 M records of the bench at 64 MiB) no longer
//!   loses the index's root and interior pages — read on every descent, so their bits
//!   are set — each time the cache fills; clearing whole made every point read after
//!   a clear miss on them again;
//! - a hit costs one hash lookup and one store, where an LRU relinks a list node on
//!   every hit; eviction is amortised O(1) (one sweep clears every bit, so a victim is
//!   found within `len + 1` steps);
//! - a page inserted with its bit clear goes at the hand's next pass unless it is read
//!   again, so one pass of a scan larger than the cache does not push out pages that
//!   are read again and again;
//! - it is deterministic: which page goes is a function of the sequence of calls
//!   alone (no clock, no randomness), as the simulator requires.
//!
//! Page numbers are hashed with foldhash's fixed-seed hasher (a multiply and a fold,
//! where SipHash ran about 20 instructions a lookup); a fixed seed keeps the map's
//! layout, and so the engine, deterministic. Page numbers come from the file, so a
//! crafted file could choose colliding ones: that costs lookups time, never a wrong
//! answer.

use crate::page::PageBuf;
use foldhash::fast::FixedState;
use std::collections::HashMap;

/// One cached page.
struct Slot {
    logical: u32,
    /// Read since the hand last passed (CLOCK's second chance).
    referenced: bool,
    buf: PageBuf,
}

/// Verified committed page images by logical page number, bounded, CLOCK-evicted.
pub(super) struct CleanCache {
    /// Logical page → its slot in `slots`.
    index: HashMap<u32, u32, FixedState>,
    slots: Vec<Slot>,
    /// The CLOCK hand: the next slot considered for eviction.
    hand: usize,
    capacity: usize,
    /// The buffer of the last evicted image no one else held, for the next miss to
    /// read into (see [`take_spare`](Self::take_spare)).
    spare: Option<Vec<u8>>,
}

impl CleanCache {
    /// An empty cache of at most `capacity` pages (at least one).
    pub(super) fn new(capacity: usize) -> Self {
        CleanCache {
            index: HashMap::with_hasher(FixedState::default()),
            slots: Vec::new(),
            hand: 0,
            spare: None,
            // Slots are numbered by u32 in the index.
            capacity: capacity.clamp(1, u32::MAX as usize),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The cached image of `logical`, marked as read (kept at the hand's next pass).
    pub(super) fn get(&mut self, logical: &u32) -> Option<&PageBuf> {
        let i = *self.index.get(logical)? as usize;
        let slot = &mut self.slots[i];
        debug_assert_eq!(slot.logical, *logical, "cache index points at another page");
        slot.referenced = true;
        Some(&slot.buf)
    }

    /// Cache `buf` as `logical`'s image (replacing any earlier one), evicting a page
    /// if the cache is full.
    pub(super) fn insert(&mut self, logical: u32, buf: PageBuf) {
        if let Some(&i) = self.index.get(&logical) {
            self.slots[i as usize].buf = buf;
            return;
        }
        let slot = Slot {
            logical,
            referenced: false,
            buf,
        };
        if self.slots.len() < self.capacity {
            self.index.insert(logical, self.slots.len() as u32);
            self.slots.push(slot);
        } else {
            let victim = self.victim();
            let old = std::mem::replace(&mut self.slots[victim], slot);
            self.index.remove(&old.logical);
            // Unshared (no cursor keeps it): its allocation serves the next miss.
            if let Ok(buf) = PageBuf::try_unwrap(old.buf) {
                self.spare = Some(buf);
            }
            self.index.insert(logical, victim as u32);
            self.hand = (victim + 1) % self.slots.len();
        }
        debug_assert!(self.slots.len() <= self.capacity);
        debug_assert_eq!(self.index.len(), self.slots.len());
    }

    /// The slot to replace: the first from the hand whose reference bit is clear,
    /// clearing the set bits passed over.
    fn victim(&mut self) -> usize {
        let n = self.slots.len();
        debug_assert!(n > 0);
        for _ in 0..n {
            let slot = &mut self.slots[self.hand];
            if !slot.referenced {
                return self.hand;
            }
            slot.referenced = false;
            self.hand = (self.hand + 1) % n;
        }
        // A whole sweep found every bit set and cleared them all: the hand is back
        // where it started, on a slot whose bit is now clear.
        debug_assert!(!self.slots[self.hand].referenced);
        self.hand
    }

    /// An allocation for the next page read from the file: the last evicted image's
    /// buffer if no one else held it, else a new empty one. Its contents are stale
    /// bytes of another page: the reader must overwrite all of them (see
    /// `Pager::read_physical_into`).
    pub(super) fn take_spare(&mut self) -> Vec<u8> {
        self.spare.take().unwrap_or_default()
    }

    /// Keep `buf` (a page-long buffer whose contents are never used) for the next
    /// miss to read into, as if an evicted image's.
    pub(super) fn give_spare(&mut self, buf: Vec<u8>) {
        self.spare = Some(buf);
    }

    /// Drop `logical`'s image, if cached.
    pub(super) fn remove(&mut self, logical: &u32) -> Option<PageBuf> {
        let i = self.index.remove(logical)? as usize;
        let slot = self.slots.swap_remove(i);
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.logical, i as u32);
        }
        if self.hand >= self.slots.len() {
            self.hand = 0;
        }
        debug_assert_eq!(self.index.len(), self.slots.len());
        Some(slot.buf)
    }

    /// Drop every image. Part of the cache's map-like interface (get, insert,
    /// remove, clear) that the pager's readers of logical pages rely on; no caller
    /// needs it today but the tests.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.hand = 0;
        self.spare = None;
    }

    /// Whether the bookkeeping holds: within capacity, and every slot indexed at its
    /// own position (for tests).
    #[cfg(test)]
    pub(super) fn check(&self) -> Result<(), String> {
        if self.slots.len() > self.capacity || self.index.len() != self.slots.len() {
            return Err(format!(
                "{} slots, {} index entries, capacity {}",
                self.slots.len(),
                self.index.len(),
                self.capacity
            ));
        }
        for (i, s) in self.slots.iter().enumerate() {
            if self.index.get(&s.logical) != Some(&(i as u32)) {
                return Err(format!("slot {i} (page {}) not indexed", s.logical));
            }
        }
        Ok(())
    }
}
