//! Record storage on data pages: allocate a slot, read, replace and free records,
//! keeping the free-slot page list (FCR `free_data_head` → `next_free` …) exact: a
//! data page is on the list if and only if it has a free slot.

use crate::page::data::Layout;
use crate::page::node::RecAddr;
use crate::page::{self, PageBuf, PageType};
use crate::pager::Pager;
use crate::status::{fail, Result, Status};

const DATA: &[PageType] = &[PageType::Data];

/// Store a new record; returns its address. The free list's head page is changed
/// in place when it is already dirty (`Pager::update`): consecutive inserts fill it
/// without a copy each.
///
/// With narrow slot serials the head page may be unable to take `serial` (its live
/// records are too far from it): see [`head_for`].
pub fn insert(pager: &mut Pager, layout: &Layout, serial: u64, record: &[u8]) -> Result<RecAddr> {
    let mut head = head_for(pager, layout, serial)?;
    if head == 0 {
        head = new_head(pager, layout)?;
    }
    // (slot, the page's next free page if it is now full and leaves the list); `None`
    // if the page has no room (the operation fails and its undo restores the page).
    let put = pager.update(head, DATA, |p| {
        let slot = layout.first_free(p)?;
        if !layout.put(p, slot, serial, record) {
            return None;
        }
        let unlinked = layout.first_free(p).is_none().then(|| {
            let next = layout.next_free(p);
            layout.set_next_free(p, 0);
            next
        });
        Some((slot, unlinked))
    })?;
    let Some((slot, unlinked)) = put else {
        return fail(
            Status::IoError,
            format!(
                "data page {head} is on the free list but full (or cannot take serial {serial})"
            ),
        );
    };
    if let Some(next) = unlinked {
        pager.state_mut().free_data_head = next;
    }
    Ok(RecAddr {
        page: head,
        slot: slot as u16,
    })
}

/// How many blocked pages one insert moves back along the free list before it puts a
/// new page in front instead.
const ROTATIONS: usize = 4;

/// The free list's head page for a record with `serial`, or 0 if the list is empty or
/// its head cannot take it (the caller then puts a new page in front: [`new_head`]).
///
/// With narrow slot serials a page takes a record only while its live records are
/// close enough to `serial`; serials only grow, so a page that cannot take one will
/// take no later one until its old records go. Left at the head, it would hide every
/// page behind it (each insert meeting it would make a new page). So a blocked head
/// swaps places with the page after it — up to [`ROTATIONS`] times, each two page
/// writes — and sinks down the list, where the pages it hid come to the front. The
/// list's membership does not change: every page on it has a free slot.
fn head_for(pager: &mut Pager, layout: &Layout, serial: u64) -> Result<u32> {
    let mut head = pager.state().free_data_head;
    if !layout.narrow() {
        return Ok(head);
    }
    for round in 0..=ROTATIONS {
        if head == 0 {
            return Ok(0);
        }
        let p = pager.read(head, DATA)?;
        if layout.takes(&p, serial) {
            return Ok(head);
        }
        let next = layout.next_free(&p);
        if next == 0 || round == ROTATIONS {
            return Ok(0);
        }
        let after = layout.next_free(&pager.read(next, DATA)?);
        if after == head || next == head {
            return fail(
                Status::IoError,
                format!("the free data-page list loops at page {head}; run butil -check"),
            );
        }
        // head → next → after   becomes   next → head → after
        pager.update(head, DATA, |b| {
            layout.set_next_free(b, after);
            Some(())
        })?;
        pager.update(next, DATA, |b| {
            layout.set_next_free(b, head);
            Some(())
        })?;
        pager.state_mut().free_data_head = next;
        head = next;
    }
    Ok(0)
}

/// A new data page at the head of the free list, in front of whatever the list holds.
fn new_head(pager: &mut Pager, layout: &Layout) -> Result<u32> {
    let mut p = page::blank(layout.page_size, PageType::Data);
    layout.set_next_free(&mut p, pager.state().free_data_head);
    let head = pager.alloc(p)?;
    pager.state_mut().free_data_head = head;
    Ok(head)
}

/// Store `records` (serials `first_serial`, `first_serial + 1`, …) in the slots that
/// many [`insert`]s would fill — the free-list pages' free slots first, lowest slot
/// first, in list order, then new pages — but each page is copied, filled and written
/// once, not once per record (a bulk load's data pages). Returns their addresses, in
/// order.
pub fn insert_batch<R: AsRef<[u8]>>(
    pager: &mut Pager,
    layout: &Layout,
    first_serial: u64,
    records: &[R],
) -> Result<Vec<RecAddr>> {
    let mut out = Vec::with_capacity(records.len());
    let mut next = records.iter().zip(first_serial..).peekable();
    let mut slots = Vec::with_capacity(layout.slots);
    while next.peek().is_some() {
        let first = next.peek().map_or(0, |&(_, serial)| serial);
        let head = head_for(pager, layout, first)?;
        let mut p = if head == 0 {
            // A new page, in front of the list's head if the head could not take the
            // serials, as `insert` does.
            let mut blank = page::blank(layout.page_size, PageType::Data);
            layout.set_next_free(&mut blank, pager.state().free_data_head);
            blank
        } else {
            std::sync::Arc::unwrap_or_clone(pager.read(head, DATA)?)
        };
        slots.clear();
        let mut from = 0;
        while let Some((record, serial)) = next.peek() {
            let Some(free) = (from..layout.slots).find(|&s| !layout.is_used(&p, s)) else {
                break;
            };
            if !layout.put(&mut p, free, *serial, record.as_ref()) {
                break;
            }
            slots.push(free as u16);
            from = free + 1;
            next.next();
        }
        if slots.is_empty() {
            return fail(
                Status::IoError,
                format!("data page {head} is on the free list but full"),
            );
        }
        let full = layout.first_free(&p).is_none();
        let blocked = next.peek().is_some_and(|&(_, s)| !layout.takes(&p, s));
        let next_free = layout.next_free(&p);
        if full {
            layout.set_next_free(&mut p, 0);
        }
        let page_no = if head == 0 {
            pager.alloc(p)?
        } else {
            pager.write(head, p);
            head
        };
        if full {
            pager.state_mut().free_data_head = next_free;
        } else if head == 0 {
            // A new page with room left heads the list (in front of a page that could
            // not take its serials, if any), as `insert` links it before filling it.
            pager.state_mut().free_data_head = page_no;
        }
        debug_assert!(
            full || blocked || next.peek().is_none(),
            "stopped on a page with room"
        );
        out.extend(slots.iter().map(|&slot| RecAddr {
            page: page_no,
            slot,
        }));
    }
    debug_assert_eq!(out.len(), records.len());
    Ok(out)
}

/// Read a record: (serial, bytes). A free slot or non-data page is status 2.
pub fn read(pager: &mut Pager, layout: &Layout, at: RecAddr) -> Result<(u64, Vec<u8>)> {
    let p = data_page(pager, at.page)?;
    let (serial, rec) = record_in(layout, &p, at)?;
    Ok((serial, rec.to_vec()))
}

/// A data page's shared image (a reader keeps it to serve the next record on the
/// same page without asking the pager again).
pub fn data_page(pager: &mut Pager, page: u32) -> Result<PageBuf> {
    pager.read(page, DATA)
}

/// The record at `at` in its data page's image `p` (as [`data_page`] read it):
/// (serial, bytes), borrowed from the image. A free or out-of-range slot is status 2.
pub fn record_in<'a>(layout: &Layout, p: &'a [u8], at: RecAddr) -> Result<(u64, &'a [u8])> {
    let slot = at.slot as usize;
    if !layout.is_used(p, slot) {
        return fail(
            Status::IoError,
            format!(
                "index points to free slot {} of data page {}",
                at.slot, at.page
            ),
        );
    }
    Ok((layout.serial(p, slot), layout.record(p, slot)))
}

/// The first used slot of image `p` in `slots` order (`None`: none in that range).
pub fn used_slot_in(
    layout: &Layout,
    p: &[u8],
    mut slots: impl Iterator<Item = usize>,
) -> Option<usize> {
    slots.find(|&s| layout.is_used(p, s))
}

/// Is there a live record at `at` with this serial? (Used to detect that another
/// client changed the record under a position.)
pub fn is_live(pager: &mut Pager, layout: &Layout, at: RecAddr, serial: u64) -> Result<bool> {
    if at.page == 0 || at.page >= pager.state().logical_pages {
        return Ok(false);
    }
    if pager.page_type(at.page)? != Some(PageType::Data) {
        return Ok(false);
    }
    let p = pager.read(at.page, DATA)?;
    let slot = at.slot as usize;
    Ok(layout.is_used(&p, slot) && layout.serial(&p, slot) == serial)
}

/// Overwrite a record in place (the page itself is shadowed at commit).
pub fn replace(pager: &mut Pager, layout: &Layout, at: RecAddr, record: &[u8]) -> Result<()> {
    pager.update(at.page, DATA, |p| {
        layout.replace(p, at.slot as usize, record)
    })
}

/// Free a record's slot.
pub fn remove(pager: &mut Pager, layout: &Layout, at: RecAddr) -> Result<()> {
    let head = pager.state().free_data_head;
    let was_full = pager.update(at.page, DATA, |p| {
        let was_full = layout.first_free(p).is_none();
        layout.clear(p, at.slot as usize);
        if was_full {
            // Back on the free list, at its head.
            layout.set_next_free(p, head);
        }
        was_full
    })?;
    if was_full {
        pager.state_mut().free_data_head = at.page;
    }
    Ok(())
}

/// The next used slot at or after `from` in physical order (`None`: end of file).
pub fn next_physical(pager: &mut Pager, layout: &Layout, from: RecAddr) -> Result<Option<RecAddr>> {
    let mut page_no = from.page.max(1);
    let mut slot = if from.page == 0 {
        0
    } else {
        from.slot as usize
    };
    while page_no < pager.state().logical_pages {
        if pager.page_type(page_no)? == Some(PageType::Data) {
            let p = pager.read(page_no, DATA)?;
            if let Some(s) = (slot..layout.slots).find(|&s| layout.is_used(&p, s)) {
                return Ok(Some(RecAddr {
                    page: page_no,
                    slot: s as u16,
                }));
            }
        }
        page_no += 1;
        slot = 0;
    }
    Ok(None)
}

/// The last used slot at or before `from` in physical order.
pub fn prev_physical(pager: &mut Pager, layout: &Layout, from: RecAddr) -> Result<Option<RecAddr>> {
    let mut page_no = from.page.min(pager.state().logical_pages.saturating_sub(1));
    let mut slot = if page_no == from.page {
        Some(from.slot as usize)
    } else {
        None
    };
    while page_no >= 1 {
        if pager.page_type(page_no)? == Some(PageType::Data) {
            let p = pager.read(page_no, DATA)?;
            let top = slot.unwrap_or(layout.slots - 1).min(layout.slots - 1);
            if let Some(s) = (0..=top).rev().find(|&s| layout.is_used(&p, s)) {
                return Ok(Some(RecAddr {
                    page: page_no,
                    slot: s as u16,
                }));
            }
        }
        page_no -= 1;
        slot = None;
    }
    Ok(None)
}
