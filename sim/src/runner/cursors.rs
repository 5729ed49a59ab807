//! Generation 18: held cursors. A handle an earlier step positioned on key 0 (a Get
//! Equal, or a move) keeps its position across the steps that follow — other
//! clients' and handles' inserts, updates and deletes, transactions, flushes — and a
//! `Cursor` step moves it with Get Next / Get Previous. Every answer is checked
//! against the position as the engine documents it (`engine/src/engine/reads.rs`),
//! which `engine/tests/model_cursors.rs` models with serials: a position is an index
//! entry, the key value then the record's serial, and a move returns the first entry
//! after it (before it) in the client's view.
//!
//! This mirrors that model rather than sharing it: the simulator does not know the
//! engine's serials, only record images. On key 0 (the id, unique, not modifiable) the
//! entry's key is the id, so the serial matters only when the record the cursor sits
//! on was deleted and another record with the same id inserted: the new one's serial
//! is larger, so Get Next returns it and Get Previous passes it by. The model knows
//! every update's old and new image (an update keeps the serial), so each image has a
//! root — the image its record was inserted with — and a record at the cursor's id
//! with another root than the cursor's is a newer one. Serials are reused only after an
//! abort (the counter rolls back), and only the aborting client can have seen those
//! records: its held cursors are dropped at Abort, as model_cursors marks them
//! doubtful. Inventory items are never deleted, so theirs is always the same record.
//!
//! A held cursor is dropped whenever its handle is used by any other step (the step
//! may reposition it; `pick` drops it and a Get Equal sets it again), when its file is
//! reopened, and at every crash (handles are reopened).

use super::world::World;
use crate::model::{Record, Records};
use crate::workload;
use engine::{GetOp, Status};
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where a handle is, as the model sees it: on (or, after a delete, just past) the
/// record with `id` that was inserted as `root`.
#[derive(Clone, Debug)]
pub(super) struct Held {
    id: u32,
    /// The image the cursor's record was inserted with (its serial's first image).
    root: Vec<u8>,
    /// The client's view when the cursor last landed or moved: a move after it
    /// changed is a move across changes (counted).
    seen: Arc<Records>,
}

/// Per (file, image) the image its record was inserted with, for every image an update
/// made (an inserted image is its own root).
pub(super) type Roots = BTreeMap<(usize, Vec<u8>), Vec<u8>>;

/// Held cursors by (file, client).
pub(super) type HeldCursors = BTreeMap<(usize, usize), Held>;

/// The root of `image` in file `f`.
fn root_of(roots: &Roots, f: usize, image: &[u8]) -> Vec<u8> {
    roots
        .get(&(f, image.to_vec()))
        .cloned()
        .unwrap_or_else(|| image.to_vec())
}

/// The answer of Get Next (`forward`) or Get Previous on key 0 from `held`, in file
/// `f`'s `view`.
fn expected(
    view: &Records,
    roots: &Roots,
    f: usize,
    held: &Held,
    forward: bool,
) -> Result<Vec<u8>, Status> {
    let same = |r: &Record| workload::is_item(held.id) || root_of(roots, f, r) == held.root;
    let hit = if forward {
        match view.get(&held.id) {
            // A newer record with the same id: its entry (larger serial) comes next.
            Some(r) if !same(r) => Some(r),
            _ => view.range(held.id.saturating_add(1)..).next().map(|x| x.1),
        }
    } else {
        view.range(..held.id).next_back().map(|x| x.1)
    };
    hit.map(|r| r.to_vec()).ok_or(Status::EndOfFile)
}

impl World {
    /// A Get by client `k` on file `f` landed on `record` (key 0): the handle is held
    /// there.
    ///
    /// `seen` is client `k`'s view of `f` the step took, the model unchanged since
    /// (taking it again would rebuild a view with an open transaction's changes).
    pub(super) fn land(&mut self, f: usize, k: usize, record: &[u8], seen: Arc<Records>) {
        let root = root_of(&self.model.roots, f, record);
        self.model.held.insert(
            (f, k),
            Held {
                id: workload::id_of(record),
                root,
                seen,
            },
        );
    }

    /// An acknowledged update of the record `old` (as the updating client saw it) to
    /// `new` in file `f`: the same record (serial), so the same root.
    pub(super) fn updated_record(&mut self, f: usize, old: &[u8], new: &[u8]) {
        let root = root_of(&self.model.roots, f, old);
        self.model.roots.insert((f, new.to_vec()), root);
    }

    /// Client `k` aborted: the serials its transaction used may be handed out again,
    /// so its cursors' entries are in doubt (model_cursors' `doubtful`).
    pub(super) fn drop_cursors_of(&mut self, k: usize) {
        self.model.held.retain(|&(_, hk), _| hk != k);
    }

    /// File `f`'s handles were closed.
    pub(super) fn drop_cursors_on(&mut self, f: usize) {
        self.model.held.retain(|&(hf, _), _| hf != f);
    }

    /// Step `Cursor`: move a held cursor one to three times with Get Next / Get
    /// Previous, each answer checked; with none held (or none whose client can act),
    /// position one with a Get Equal for a later step to move.
    pub(super) fn cursor(&mut self) -> Result<(), String> {
        let ready: Vec<(usize, usize)> = self
            .model
            .held
            .keys()
            .copied()
            .filter(|&(_, k)| self.model.clients.awaiting[k].is_none())
            .collect();
        if ready.is_empty() {
            let (k, f, h) = self.pick();
            let view = self.model.view(k, f);
            let id = self.existing_id(&view);
            let want = view
                .get(&id)
                .map(|r| r.to_vec())
                .ok_or(Status::KeyValueNotFound);
            let got = self
                .rig
                .engine_mut()?
                .get(h, GetOp::Equal, 0, &id.to_le_bytes());
            if let (true, Ok(r)) = (self.expect("cursor: get equal", &got, want)?, &got) {
                self.land(f, k, r, view);
            }
            return Ok(());
        }
        let (f, k) = ready[self.sched.rng.random_range(0..ready.len())];
        self.cause.file = Some(f);
        let h = self.rig.handles[f][k];
        for _ in 0..self.sched.rng.random_range(1..=3) {
            let forward = self.sched.rng.random_bool(0.5);
            let Some(held) = self.model.held.get(&(f, k)) else {
                return Ok(());
            };
            let view = self.model.view(k, f);
            let want = expected(&view, &self.model.roots, f, held, forward);
            let across = !Arc::ptr_eq(&held.seen, &view) && *held.seen != *view;
            let op = if forward {
                GetOp::Next
            } else {
                GetOp::Previous
            };
            let got = self.rig.engine_mut()?.get(h, op, 0, &[]);
            let what = format!(
                "held cursor (file {f}, client {k}, on id {}): {}",
                held.id,
                if forward { "get next" } else { "get previous" }
            );
            let ok = self.expect(&what, &got, want.clone())?;
            self.tally.cursor_moves += 1;
            self.tally.cursor_moves_across_changes += u64::from(across);
            match (&got, ok) {
                (Ok(r), true) => self.land(f, k, r, view),
                // End of file: the position stays where it was.
                (Err(e), false) if e.status == Status::EndOfFile => {
                    if let Some(held) = self.model.held.get_mut(&(f, k)) {
                        held.seen = view;
                    }
                }
                // A fault status (excused): where the handle is now is unknown.
                _ => {
                    self.model.held.remove(&(f, k));
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
