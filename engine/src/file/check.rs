//! The structure check behind `butil -check` and the simulator's invariant 1: walk
//! every page, key and record of a data file and report every inconsistency found,
//! rather than stopping at the first.
//!
//! Verified: the whole PAT tree, read again from disk and checked page by page against
//! its referrers (every PAT page reachable once, each entry inside the file) and
//! against the mapping the pager holds; the FCR slots, PAT pages and every mapped page
//! partition the physical pages with the free set (nothing referenced twice, nothing
//! both used and free);
//! every mapped page reads back verified and is reachable exactly once (from an index
//! or as a data page); each B+tree has uniform depth, strictly ordered keys within
//! their separators' bounds, and entries that match their records exactly; unique
//! keys hold no duplicates; the free-slot list is exactly the non-full data pages;
//! record counts agree everywhere.

use super::datafile::DataFile;
use super::key;
use crate::btree::MAX_DEPTH;
use crate::page::node::{cmp_entries, NodeView, RecAddr, MAX_ENTRY_LEN};
use crate::page::{PageBuf, PageType};
use crate::pager::PagerConfig;
use crate::status::Result;
use crate::vfs::Vfs;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What a check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub records: u64,
    pub physical_pages: u32,
    pub logical_pages: u32,
    pub data_pages: usize,
    pub index_pages: usize,
    pub free_physical_pages: usize,
    /// PAT pages (every level) and the PAT tree's depth.
    pub pat_pages: usize,
    pub pat_depth: u8,
    /// Everything wrong, one line each. Empty: the file is sound.
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Open `path` read-only and check it. An error means it could not even be opened.
pub fn check_file(vfs: &dyn Vfs, path: &Path) -> Result<CheckReport> {
    let cfg = PagerConfig::plain(4096);
    let mut df = DataFile::open(vfs, path, true, cfg)?;
    // A file in continuous operations is checked as its users see it: through its
    // delta (the data file itself is the frozen startbu instant).
    df.pager.attach_delta(vfs)?;
    Ok(check(&mut df))
}

/// Check an open data file.
pub fn check(df: &mut DataFile) -> CheckReport {
    let mut r = CheckReport {
        physical_pages: df.pager.physical_pages(),
        logical_pages: df.pager.state().logical_pages,
        free_physical_pages: df.pager.free_physical().count(),
        ..Default::default()
    };
    // Physical partition.
    let mut used = PhysicalUse::new(r.physical_pages);
    for p in 0..crate::pager::FCR_SLOTS {
        used.insert(p);
    }
    // The description of a reference is only formatted when it is a problem: this
    // check runs after every recovery of every simulated seed.
    let mut note_phys = |p: u32, what: &dyn Fn() -> String, r: &mut CheckReport| {
        if !used.insert(p) {
            r.problems
                .push(format!("physical page {p} referenced twice ({})", what()));
        }
    };
    r.pat_depth = df.pager.pat_depth();
    for ((level, i), ptr) in df.pager.pat_pages() {
        r.pat_pages += 1;
        note_phys(
            ptr.physical,
            &|| format!("PAT page {i} of level {level}"),
            &mut r,
        );
    }
    // `for_each`, not `for`: the mapping is a filter over every PAT entry, which runs
    // as one tight loop per PAT leaf this way, not a call per entry.
    df.pager.mapping().for_each(|(l, ptr)| {
        note_phys(ptr.physical, &|| format!("logical page {l}"), &mut r);
    });
    if let Some(why) = df.pager.audit_pat() {
        r.problems.push(format!("PAT tree: {why}"));
    }
    let mut free = 0;
    for p in df.pager.free_physical() {
        free += 1;
        if used.contains(p) {
            r.problems
                .push(format!("physical page {p} is both in use and free"));
        }
    }
    let all = used.len() + free;
    if all != r.physical_pages as usize {
        r.problems.push(format!(
            "{} pages in use + {free} free != {} physical pages",
            used.len(),
            r.physical_pages
        ));
    }

    // Index trees.
    // Index pages reached so far, and from which key.
    let mut reached: BTreeMap<u32, usize> = BTreeMap::new();
    let mut entries: Vec<Leaves> = Vec::new();
    for k in 0..df.trees.len() {
        let mut out = Vec::new();
        let root = df.pager.state().roots[k];
        if root != 0 {
            let mut leaf_depth = None;
            walk(
                df,
                k,
                root,
                None,
                None,
                0,
                &mut leaf_depth,
                &mut out,
                &mut reached,
                &mut r,
            );
        }
        entries.push(out);
    }
    r.index_pages = reached.len();

    // Data pages and records.
    let layout = df.layout;
    // Every record's serial by address, and the data pages that hold them (shared
    // images, not copies of each record): both in address order, as the pages are
    // visited in logical order and slots in slot order.
    // The pages in use, not every logical page number: a sparse file's holes are free.
    let in_use = df.pager.logical_in_use();
    // Room for the records the control record counts, or as many as the pages in use
    // can hold if it says more (a damaged count): one allocation, not a doubling.
    let room = usize::try_from(df.pager.state().record_count).unwrap_or(usize::MAX);
    let mut records: Vec<(RecAddr, u64)> =
        Vec::with_capacity(room.min(in_use.len() * layout.slots));
    let mut data_pages = DataPages::new(layout.slots);
    let mut non_full: BTreeSet<u32> = BTreeSet::new();
    for l in in_use {
        let ty = match df.pager.page_type(l) {
            Ok(t) => t,
            Err(e) => {
                r.problems.push(format!("logical page {l}: {e}"));
                continue;
            }
        };
        match ty {
            None => {}
            Some(PageType::Data) => {
                r.data_pages += 1;
                if reached.contains_key(&l) {
                    r.problems
                        .push(format!("data page {l} is also reachable from an index"));
                }
                let p = match df.pager.read(l, &[PageType::Data]) {
                    Ok(p) => p,
                    Err(e) => {
                        r.problems.push(format!("data page {l}: {e}"));
                        continue;
                    }
                };
                let record_at = data_pages.push(l, p.clone());
                let first = records.len();
                for s in layout.used_slots(&p) {
                    let addr = RecAddr {
                        page: l,
                        slot: s as u16,
                    };
                    record_at[s] = records.len();
                    records.push((addr, layout.serial(&p, s)));
                }
                // The bitmap's count (`layout.bitmap_count`), from the pass above.
                let n = records.len() - first;
                if n != layout.used(&p) {
                    r.problems.push(format!(
                        "data page {l}: used count {} but {n} slots in use",
                        layout.used(&p)
                    ));
                }
                if n < layout.slots {
                    non_full.insert(l);
                }
            }
            Some(t) if !reached.contains_key(&l) => {
                r.problems
                    .push(format!("{t:?} page {l} is not reachable from any index"));
            }
            Some(_) => {}
        }
    }
    r.records = records.len() as u64;
    // The fields used below, not a copy of the whole state (its roots are a vector).
    let state = df.pager.state();
    let (record_count, next_serial) = (state.record_count, state.next_serial);
    let free_data_head = state.free_data_head;
    if record_count != r.records {
        r.problems.push(format!(
            "control record says {} records; data pages hold {}",
            record_count, r.records
        ));
    }
    debug_assert!(records.windows(2).all(|w| w[0].0 < w[1].0));
    data_pages.index();
    // Serials used twice, each reported at its address, in address order.
    let mut serials = Serials::new(next_serial, records.len());
    for (addr, serial) in &records {
        if !serials.insert(*serial) {
            r.problems
                .push(format!("serial {serial} used twice (at {addr:?})"));
        }
        if *serial >= next_serial {
            r.problems.push(format!(
                "record {addr:?} has serial {serial} >= next serial {next_serial}"
            ));
        }
    }

    // Free-slot list.
    let mut on_list = BTreeSet::new();
    let mut at = free_data_head;
    while at != 0 {
        if !on_list.insert(at) || on_list.len() > r.logical_pages as usize {
            r.problems
                .push(format!("free-slot list loops at page {at}"));
            break;
        }
        match df.pager.read(at, &[PageType::Data]) {
            Ok(p) => at = layout.next_free(&p),
            Err(e) => {
                r.problems
                    .push(format!("free-slot list reaches page {at}: {e}"));
                break;
            }
        }
    }
    if on_list != non_full {
        let missing: Vec<_> = non_full.difference(&on_list).collect();
        let extra: Vec<_> = on_list.difference(&non_full).collect();
        r.problems.push(format!(
            "free-slot list disagrees with the data pages: not listed {missing:?}, listed but full {extra:?}"
        ));
    }

    // Every index holds exactly every record once, with the right entry.
    for (k, ks) in df.spec().keys.iter().enumerate() {
        let entry_len = df.trees[k].entry_len;
        let count: usize = entries[k].iter().map(|(_, n)| n).sum();
        if count as u64 != r.records {
            r.problems.push(format!(
                "key {k} has {count} entries for {} records",
                r.records
            ));
        }
        // Which records this key has pointed to, by their index in `records`.
        let mut seen = vec![false; records.len()];
        // The entry before (empty before the first).
        let mut prev: Vec<u8> = Vec::with_capacity(entry_len);
        // Every entry in key order, read in place: leaf by leaf, row by row.
        for (b, n) in &entries[k] {
            NodeView::kept_leaf(b, entry_len, *n).for_each_entry(|entry, addr| {
                // `cmp_entries` is `<[u8]>::cmp` without a call to `memcmp` per entry.
                let same_key = !prev.is_empty()
                    && cmp_entries(key::key_part(&prev), key::key_part(entry)).is_eq();
                if !ks.duplicates && same_key {
                    r.problems
                        .push(format!("key {k} is unique but holds a duplicate value"));
                }
                prev.clear();
                prev.extend_from_slice(entry);
                let slot = usize::from(addr.slot);
                match data_pages.find(addr) {
                    None => r
                        .problems
                        .push(format!("key {k} points to {addr:?}, which holds no record")),
                    Some((i, page)) => {
                        debug_assert_eq!(records[i].0, addr);
                        let serial = records[i].1;
                        let rec = layout.record(page, slot);
                        // `entry_matches` compares the entry's serial suffix with `serial`
                        // too (`serial_of(entry) == serial`).
                        if !key::entry_matches(ks, rec, serial, entry) {
                            r.problems.push(format!(
                                "key {k} entry for {addr:?} does not match the record"
                            ));
                        }
                        if std::mem::replace(&mut seen[i], true) {
                            r.problems.push(format!("key {k} points to {addr:?} twice"));
                        }
                    }
                }
            });
        }
    }
    r
}

/// The serials `check` has seen: a bit per serial below the file's next serial (every
/// sound record's) when there are not many more of those than records — one pass,
/// where a sort of every serial cost more — and a set for the rest.
struct Serials {
    bits: Vec<u64>,
    rest: BTreeSet<u64>,
}

impl Serials {
    fn new(next_serial: u64, records: usize) -> Serials {
        let words = next_serial.div_ceil(64);
        let words = if words <= records as u64 + 64 {
            words
        } else {
            0
        };
        Serials {
            bits: vec![0; words as usize],
            rest: BTreeSet::new(),
        }
    }

    /// Add `s`; false if it was there already.
    fn insert(&mut self, s: u64) -> bool {
        match usize::try_from(s / 64)
            .ok()
            .and_then(|w| self.bits.get_mut(w))
        {
            Some(word) => {
                let bit = 1u64 << (s % 64);
                let fresh = *word & bit == 0;
                *word |= bit;
                fresh
            }
            None => self.rest.insert(s),
        }
    }
}

/// A free slot in `check`'s map from slots to records.
const NO_RECORD: usize = usize::MAX;

/// The data pages in logical order (shared images, not copies of each record) and,
/// a run of `slots` per page, where each slot's record is in `check`'s `records`
/// (`NO_RECORD`: the slot is free): a key entry finds its record with one lookup of
/// its page and one index, not a search of every record.
struct DataPages {
    slots: usize,
    pages: Vec<(u32, PageBuf)>,
    record_at: Vec<usize>,
    /// Each page's place in `pages` by logical page number (`NOT_DATA`: none), built
    /// by [`index`](Self::index) when the data pages are dense enough for it to take
    /// no more memory than `record_at` — every file but a sparse one, whose pages sit
    /// far apart; empty: `find` searches `pages` instead. One load per key entry, where
    /// the search cost a few dozen instructions.
    table: Vec<u32>,
}

/// A page number that is not a data page, in [`DataPages::table`].
const NOT_DATA: u32 = u32::MAX;

impl DataPages {
    fn new(slots: usize) -> DataPages {
        DataPages {
            slots,
            pages: Vec::new(),
            record_at: Vec::new(),
            table: Vec::new(),
        }
    }

    /// Add data page `l` (above every page added before it): its slots' run of
    /// `record_at`, all free, for the caller to fill.
    fn push(&mut self, l: u32, p: PageBuf) -> &mut [usize] {
        debug_assert!(self.pages.last().is_none_or(|&(last, _)| last < l));
        self.pages.push((l, p));
        let run = self.record_at.len();
        self.record_at.resize(run + self.slots, NO_RECORD);
        &mut self.record_at[run..]
    }

    /// Build the lookup table, once every page is in (see `table`).
    fn index(&mut self) {
        let Some(&(last, _)) = self.pages.last() else {
            return;
        };
        // Four bytes an entry against `record_at`'s eight: at most twice its length
        // (and a kilobyte however few the slots) costs no more memory than it does.
        if last as usize >= 2 * self.record_at.len() + 256 {
            return;
        }
        self.table = vec![NOT_DATA; last as usize + 1];
        for (i, &(l, _)) in self.pages.iter().enumerate() {
            self.table[l as usize] = i as u32;
        }
    }

    /// The index in `records` of the record at `addr` and its page's image, if a
    /// record is there.
    fn find(&self, addr: RecAddr) -> Option<(usize, &PageBuf)> {
        let slot = usize::from(addr.slot);
        let p = if self.table.is_empty() {
            self.pages
                .binary_search_by_key(&addr.page, |(l, _)| *l)
                .ok()?
        } else {
            match self.table.get(addr.page as usize) {
                Some(&i) if i != NOT_DATA => i as usize,
                _ => return None,
            }
        };
        if slot >= self.slots {
            return None;
        }
        let i = self.record_at[p * self.slots + slot];
        (i != NO_RECORD).then(|| (i, &self.pages[p].1))
    }
}

/// A key's leaves in key order, each with its entry count: the entries are read in
/// place (no copy per entry), once the walk has verified each leaf's header.
type Leaves = Vec<(PageBuf, usize)>;

#[allow(clippy::too_many_arguments)]
fn walk(
    df: &mut DataFile,
    k: usize,
    page: u32,
    lo: Option<&[u8]>,
    hi: Option<&[u8]>,
    depth: usize,
    leaf_depth: &mut Option<usize>,
    out: &mut Leaves,
    reached: &mut BTreeMap<u32, usize>,
    r: &mut CheckReport,
) {
    if depth > MAX_DEPTH {
        r.problems
            .push(format!("key {k}: tree deeper than {MAX_DEPTH} (cycle?)"));
        return;
    }
    if let Some(prev) = reached.insert(page, k) {
        r.problems.push(format!(
            "index page {page} reached twice (key {prev} and key {k})"
        ));
        return;
    }
    let entry_len = df.trees[k].entry_len;
    let buf = match df.pager.read(page, &[PageType::Leaf, PageType::Internal]) {
        Ok(b) => b,
        Err(e) => {
            r.problems.push(format!("key {k} page {page}: {e}"));
            return;
        }
    };
    let node = match NodeView::new(&buf, entry_len) {
        Ok(n) => n,
        Err(e) => {
            r.problems.push(format!("key {k} page {page}: {e}"));
            return;
        }
    };
    let n = node.len();
    let mut a = [0; MAX_ENTRY_LEN];
    if !node.strictly_increasing() {
        r.problems
            .push(format!("key {k} page {page}: entries out of order"));
    }
    if let (false, Some(lo)) = (node.is_empty(), lo) {
        if cmp_entries(node.entry(0, &mut a), lo).is_lt() {
            r.problems
                .push(format!("key {k} page {page}: entry below its separator"));
        }
    }
    if let (false, Some(hi)) = (node.is_empty(), hi) {
        if cmp_entries(node.entry(n - 1, &mut a), hi).is_ge() {
            r.problems.push(format!(
                "key {k} page {page}: entry at or above the next separator"
            ));
        }
    }
    if node.leaf {
        if node.is_empty() {
            r.problems.push(format!("key {k} page {page}: empty leaf"));
        }
        match leaf_depth {
            Some(d) if *d != depth => r
                .problems
                .push(format!("key {k}: leaves at depths {d} and {depth}")),
            _ => *leaf_depth = Some(depth),
        }
        out.push((buf.clone(), n));
        return;
    }
    for c in 0..=n {
        let clo = if c == 0 { lo } else { Some(node.key(c - 1)) };
        let chi = if c < n { Some(node.key(c)) } else { hi };
        walk(
            df,
            k,
            node.child(c),
            clo,
            chi,
            depth + 1,
            leaf_depth,
            out,
            reached,
            r,
        );
    }
}

/// The physical pages a check has seen referenced: a bit per page of the file, and
/// the (damaged) references beyond its end, which count as used so the partition
/// check reports them.
struct PhysicalUse {
    bits: Vec<bool>,
    beyond: BTreeSet<u32>,
    count: usize,
}

impl PhysicalUse {
    fn new(pages: u32) -> PhysicalUse {
        PhysicalUse {
            bits: vec![false; pages as usize],
            beyond: BTreeSet::new(),
            count: 0,
        }
    }

    /// Mark `p` used; false if it already was.
    fn insert(&mut self, p: u32) -> bool {
        let fresh = match self.bits.get_mut(p as usize) {
            Some(b) => !std::mem::replace(b, true),
            None => self.beyond.insert(p),
        };
        self.count += usize::from(fresh);
        fresh
    }

    fn contains(&self, p: u32) -> bool {
        match self.bits.get(p as usize) {
            Some(&b) => b,
            None => self.beyond.contains(&p),
        }
    }

    fn len(&self) -> usize {
        self.count
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
