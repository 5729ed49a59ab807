//! The reads: Get (5–13) on a key and Step (physical order), each in two forms — one
//! that fills a caller's buffer (`get_into`, `step_into`: no allocation per call once
//! the buffer has grown to a record) and a thin wrapper returning a fresh `Vec`.
//!
//! A cursor keeps what its last read found ([`Kept`]): the leaf its logical position
//! is in and the data page of its record, shared images (reference counts, not
//! copies), each with the pager's [`ReadToken`] it was read at. Get Next / Previous
//! step within the kept leaf and Step Next / Previous within the kept data page
//! instead of descending from the root or asking the pager for each page, and a record
//! on the kept data page is served from it. What is kept is used only when the
//! pager's token now is the one it was read at — same change epoch (nothing a read
//! could return changed: no page written, allocated or freed, no undo, abort, commit,
//! freeze or roll-in) and same view (the before-transaction view another client
//! reads through is a different file) — and only when the position is still the
//! entry the kept leaf says; otherwise the read seeks from the root as it always did.
//! Leaves have no sibling links: off either end of the kept leaf a Get Next / Previous
//! seeks (one descent per leaf of entries). In debug builds each answer served from
//! what was kept is compared with the answer a fresh read gives.
//!
//! Positioning rules are those of `cursor.rs`: a read that fails leaves the position
//! as it was.

use super::cursor::Position;
use super::{Engine, Handle};
use crate::btree::{LeafHit, Seek};
use crate::file::datafile::{serial_of, DataFile};
use crate::file::key;
use crate::file::ops::{GetOp, StepOp};
use crate::file::records;
use crate::mutant::Mutant;
use crate::page::node::RecAddr;
use crate::page::PageBuf;
use crate::pager::ReadToken;
use crate::status::{fail, Result, Status};
use std::borrow::Cow;

/// What a cursor kept from its last read, to continue from there (see the module
/// doc). Each image is paired with the token it was read at.
#[derive(Default)]
pub(super) struct Kept {
    /// The leaf holding the logical position's entry, of key `.1`.
    leaf: Option<(ReadToken, usize, LeafHit)>,
    /// The data page (logical number `.1`) of the last record read.
    data: Option<(ReadToken, u32, PageBuf)>,
    /// Scratch for a search target (normalized key value + serial fill).
    target: Vec<u8>,
}

/// Whether an image read at `kept` may be served now, at `now`.
/// `stale`: the known-bad engine that never invalidates.
fn still_valid(kept: ReadToken, now: Option<ReadToken>, stale: bool) -> bool {
    stale || now == Some(kept)
}

/// Where a Get's entry is: in a leaf just read (none: no entry that way), or in
/// the cursor's kept leaf, stepped in place.
enum Hit {
    Fresh(Option<LeafHit>),
    Kept,
}

/// Put the position on `entry` of `key` (reusing the position's entry buffer).
fn set_logical(pos: &mut Position, key: usize, entry: &[u8], addr: RecAddr) {
    if let Position::Logical {
        key: k,
        entry: e,
        addr: a,
        on_record,
    } = pos
    {
        *k = key;
        e.clear();
        e.extend_from_slice(entry);
        *a = addr;
        *on_record = true;
        return;
    }
    *pos = Position::Logical {
        key,
        entry: entry.to_vec(),
        addr,
        on_record: true,
    };
}

impl Engine {
    /// Whether answers served from what a cursor kept are checked against fresh
    /// reads: debug builds of a correct engine (a known-bad one is judged by the
    /// simulator's oracle alone).
    fn cross_check_kept(&self) -> bool {
        #[cfg(feature = "mutants")]
        let mutant = self.config.mutant.is_some();
        #[cfg(not(feature = "mutants"))]
        let mutant = false;
        cfg!(debug_assertions) && !mutant
    }

    /// A Get operation (5–13) on key `key_num`; `key` is the key value for the
    /// operations that take one (at least the key's length). Returns the record.
    pub fn get(&mut self, h: Handle, op: GetOp, key_num: usize, key: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.get_into(h, op, key_num, key, &mut out)?;
        Ok(out)
    }

    /// [`get`](Self::get), putting the record in `out` (its old contents replaced; left
    /// as it was if the Get fails).
    pub fn get_into(
        &mut self,
        h: Handle,
        op: GetOp,
        key_num: usize,
        key: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let wrap = op == GetOp::Next && self.mutant(Mutant::ScanExtraRecord);
        let stale = self.mutant(Mutant::CursorCacheStale);
        let cross_check = self.cross_check_kept();
        let (c, f) = self.parts(h)?;
        let nkeys = f.df.spec().keys.len();
        if key_num >= nkeys {
            return fail(
                Status::InvalidKeyNumber,
                format!(
                    "key {key_num} does not exist; the file has keys 0..{}",
                    nkeys - 1
                ),
            );
        }
        let token = f.df.pager.read_token();
        let df = &mut f.df;
        // The search target for the operations that take a key value: its normalized
        // value, then the serial filled with `fill` (0: before every duplicate, 0xff:
        // after).
        let mut bound = |fill: u8| -> Result<()> {
            let ks = &df.spec().keys[key_num];
            let kl = ks.length();
            if key.len() < kl {
                return fail(
                    Status::KeyBufferTooShort,
                    format!(
                        "key {key_num} is {kl} bytes; the key buffer has {}",
                        key.len()
                    ),
                );
            }
            c.kept.target.clear();
            key::normalize_into(ks, &key[..kl], &mut c.kept.target);
            c.kept.target.extend_from_slice(&[fill; key::SERIAL_LEN]);
            Ok(())
        };
        let found = match op {
            GetOp::Equal => {
                bound(0)?;
                let t = &c.kept.target;
                match df.seek_leaf(key_num, t, Seek::GreaterOrEqual)? {
                    Some(hit) if key::key_part(hit.entry()) == key::key_part(t) => {
                        Hit::Fresh(Some(hit))
                    }
                    _ => {
                        return fail(
                            Status::KeyValueNotFound,
                            format!("no record has that key {key_num} value"),
                        )
                    }
                }
            }
            GetOp::Greater => {
                bound(0xff)?;
                Hit::Fresh(df.seek_leaf(key_num, &c.kept.target, Seek::Greater)?)
            }
            GetOp::GreaterOrEqual => {
                bound(0)?;
                Hit::Fresh(df.seek_leaf(key_num, &c.kept.target, Seek::GreaterOrEqual)?)
            }
            GetOp::Less => {
                bound(0)?;
                Hit::Fresh(df.seek_leaf(key_num, &c.kept.target, Seek::Less)?)
            }
            GetOp::LessOrEqual => {
                bound(0xff)?;
                Hit::Fresh(df.seek_leaf(key_num, &c.kept.target, Seek::LessOrEqual)?)
            }
            GetOp::First => Hit::Fresh(df.first_leaf(key_num)?),
            GetOp::Last => Hit::Fresh(df.last_leaf(key_num)?),
            GetOp::Next | GetOp::Previous => {
                let entry = match &c.pos {
                    Position::Logical { key: k, entry, .. } if *k == key_num => entry,
                    Position::Logical { key: k, .. } => {
                        return fail(
                            Status::DifferentKeyNumber,
                            format!("the position is on key {k}, not key {key_num}"),
                        )
                    }
                    _ => {
                        return fail(
                            Status::InvalidPositioning,
                            "Get Next/Previous needs a position set by a Get on this key",
                        )
                    }
                };
                let forward = op == GetOp::Next;
                let how = if forward { Seek::Greater } else { Seek::Less };
                // The kept leaf, if nothing changed since it was read and the position
                // is still its entry: the neighbour in the same leaf. Serials are unique
                // in a file, so while nothing changed (same token) the entry of key
                // `key_num` with the position's serial is the position's entry: one
                // word comparison rather than the whole entry's.
                // Stepped where it is kept: a scan moves no cursor state per record.
                let kept = c.kept.leaf.as_ref().is_some_and(|(t, k, leaf)| {
                    still_valid(*t, token, stale)
                        && *k == key_num
                        && serial_of(leaf.entry()) == serial_of(entry)
                });
                let stepped = kept
                    && c.kept
                        .leaf
                        .as_mut()
                        .is_some_and(|(_, _, leaf)| leaf.step(forward));
                if stepped {
                    if cross_check {
                        let fresh = df.seek_leaf(key_num, entry, how)?;
                        debug_assert_eq!(
                            fresh.as_ref().map(|x| (x.entry(), x.addr())),
                            c.kept.leaf.as_ref().map(|(_, _, l)| (l.entry(), l.addr())),
                            "kept leaf disagrees with a fresh seek"
                        );
                    }
                    Hit::Kept
                } else {
                    Hit::Fresh(df.seek_leaf(key_num, entry, how)?)
                }
            }
        };
        let found = match found {
            // Wrong: past the last record, Get Next starts over at the first.
            Hit::Fresh(None) if wrap => Hit::Fresh(df.first_leaf(key_num)?),
            found => found,
        };
        // The hit, kept for the next Get Next / Previous when the pager gives a token
        // (a leaf just read replaces the one kept).
        let fresh;
        let hit = match found {
            Hit::Fresh(None) => {
                return fail(
                    Status::EndOfFile,
                    format!("no record in that direction on key {key_num}"),
                )
            }
            Hit::Fresh(Some(hit)) => match token {
                Some(t) => &c.kept.leaf.insert((t, key_num, hit)).2,
                None => {
                    c.kept.leaf = None;
                    fresh = hit;
                    &fresh
                }
            },
            Hit::Kept => match &c.kept.leaf {
                Some((_, _, hit)) => hit,
                None => return fail(Status::IoError, "the cursor lost its kept leaf"),
            },
        };
        let (entry, addr) = (hit.entry(), hit.addr());
        let page =
            Self::kept_data_page(&mut c.kept.data, df, token, addr.page, stale, cross_check)?;
        let (_, record) = records::record_in(&df.layout, &page, addr)?;
        if !key::entry_matches(&df.spec().keys[key_num], record, serial_of(entry), entry) {
            return fail(
                Status::IoError,
                format!("index entry of key {key_num} does not match its record (damaged index)"),
            );
        }
        out.clear();
        out.extend_from_slice(record);
        c.key = key_num;
        set_logical(&mut c.pos, key_num, entry, addr);
        match (token, &mut c.kept.leaf) {
            // The known-bad engine `cursor-cache-never-invalidated` keeps a leaf when
            // no token vouches for it: it now dates from this read.
            (Some(t), Some((kept_at, _, _))) => *kept_at = t,
            (None, kept) => *kept = None,
            (Some(_), None) => {}
        }
        Ok(())
    }

    /// The image of data page `page`: the one `kept` holds, if it is that page and
    /// still valid at `token`, else read (and kept). Borrowed from `kept` when it can
    /// be: a scan reads every record of a page through it, and a clone per record
    /// cost two atomic count updates.
    fn kept_data_page<'k>(
        kept: &'k mut Option<(ReadToken, u32, PageBuf)>,
        df: &mut DataFile,
        token: Option<ReadToken>,
        page: u32,
        stale: bool,
        cross_check: bool,
    ) -> Result<Cow<'k, PageBuf>> {
        let entry = match kept.take() {
            Some(k) if k.1 == page && still_valid(k.0, token, stale) => {
                if cross_check {
                    let fresh = df.data_page(page)?;
                    debug_assert!(
                        fresh[..] == k.2[..],
                        "kept data page {page} disagrees with a fresh read"
                    );
                }
                k
            }
            _ => {
                let buf = df.data_page(page)?;
                match token {
                    Some(t) => (t, page, buf),
                    None => return Ok(Cow::Owned(buf)),
                }
            }
        };
        Ok(Cow::Borrowed(&kept.insert(entry).2))
    }

    /// A Step operation (physical order). Returns the record.
    pub fn step(&mut self, h: Handle, op: StepOp) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.step_into(h, op, &mut out)?;
        Ok(out)
    }

    /// [`step`](Self::step), putting the record in `out` (its old contents replaced;
    /// left as it was if the Step fails).
    pub fn step_into(&mut self, h: Handle, op: StepOp, out: &mut Vec<u8>) -> Result<()> {
        let stale = self.mutant(Mutant::CursorCacheStale);
        let cross_check = self.cross_check_kept();
        let (c, f) = self.parts(h)?;
        let token = f.df.pager.read_token();
        let df = &mut f.df;
        let here = match &c.pos {
            Position::Logical { addr, .. } | Position::Physical { addr, .. } => Some(*addr),
            Position::None => None,
        };
        let on = match &c.pos {
            Position::Logical { on_record, .. } | Position::Physical { on_record, .. } => {
                *on_record
            }
            Position::None => false,
        };
        let found = match op {
            StepOp::First => df.next_physical(RecAddr { page: 1, slot: 0 })?,
            StepOp::Last => df.prev_physical(RecAddr {
                page: u32::MAX,
                slot: u16::MAX,
            })?,
            StepOp::Next | StepOp::Previous => {
                let Some(a) = here else {
                    return fail(
                        Status::InvalidPositioning,
                        "Step Next/Previous needs a current position",
                    );
                };
                let forward = op == StepOp::Next;
                // After a delete the slot is empty, so Next starts at it; else after it.
                let start = if on {
                    a.slot as usize + 1
                } else {
                    a.slot as usize
                };
                // The kept image of the position's data page, if still valid: the next
                // record may be on it.
                let near = match &c.kept.data {
                    Some((t, p, buf)) if *p == a.page && still_valid(*t, token, stale) => {
                        let slot = if forward {
                            records::used_slot_in(&df.layout, buf, start..df.layout.slots)
                        } else {
                            records::used_slot_in(&df.layout, buf, (0..a.slot as usize).rev())
                        };
                        Some(slot.map(|s| RecAddr {
                            page: a.page,
                            slot: s as u16,
                        }))
                    }
                    _ => None,
                };
                match near {
                    Some(on_page) => {
                        let found = match on_page {
                            Some(addr) => Some(addr),
                            // Nothing further on this page: start at the next one.
                            None => Self::step_past_page(df, a.page, forward)?,
                        };
                        if cross_check {
                            let fresh = Self::step_from(df, a, start, forward)?;
                            debug_assert_eq!(
                                fresh, found,
                                "kept data page disagrees with a fresh step"
                            );
                        }
                        found
                    }
                    None => Self::step_from(df, a, start, forward)?,
                }
            }
        };
        let Some(addr) = found else {
            return fail(
                Status::EndOfFile,
                "no record in that direction (physical order)",
            );
        };
        let page =
            Self::kept_data_page(&mut c.kept.data, df, token, addr.page, stale, cross_check)?;
        let (serial, record) = records::record_in(&df.layout, &page, addr)?;
        out.clear();
        out.extend_from_slice(record);
        c.pos = Position::Physical {
            addr,
            serial,
            on_record: true,
        };
        Ok(())
    }

    /// The first record in physical order on the pages after (`forward`) or before
    /// data page `page`.
    fn step_past_page(df: &mut DataFile, page: u32, forward: bool) -> Result<Option<RecAddr>> {
        if forward {
            df.next_physical(RecAddr {
                page: page + 1,
                slot: 0,
            })
        } else if page > 1 {
            df.prev_physical(RecAddr {
                page: page - 1,
                slot: u16::MAX,
            })
        } else {
            Ok(None)
        }
    }

    /// The next (`forward`) or previous record in physical order from position `a`,
    /// read through the pager; forward starts at slot `start` of `a`'s page.
    fn step_from(
        df: &mut DataFile,
        a: RecAddr,
        start: usize,
        forward: bool,
    ) -> Result<Option<RecAddr>> {
        if forward {
            let from = if start >= df.slots_per_page() {
                RecAddr {
                    page: a.page + 1,
                    slot: 0,
                }
            } else {
                RecAddr {
                    page: a.page,
                    slot: start as u16,
                }
            };
            df.next_physical(from)
        } else if a.slot > 0 {
            df.prev_physical(RecAddr {
                page: a.page,
                slot: a.slot - 1,
            })
        } else if a.page > 1 {
            df.prev_physical(RecAddr {
                page: a.page - 1,
                slot: u16::MAX,
            })
        } else {
            Ok(None)
        }
    }
}
