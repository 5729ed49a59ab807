//! The engine's transaction log: appends each ended transaction's changes and its
//! commit record, syncs on demand (Durability mode at End, Logging mode at the log
//! writer step, both before any system transaction writes data pages — the
//! write-ahead rule), and finds the committed transactions a file still needs when it
//! is opened (roll-forward).
//!
//! It knows, per file path, the commit LSN of the last transaction that changed the
//! file, so an open can tell cheaply whether the file is behind the log; only then is
//! the log read back from disk to collect the transactions to replay.

use super::entry::{Change, Entry};
use super::frame::RecordKind;
use super::group_sync::PendingSync;
use super::reader::{visit_log_into, LogScan, ReadBugs};
use super::writer::LogWriter;
use crate::status::{Error, Result, Status};
use crate::vfs::{create_dir_durable, Vfs};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A committed transaction's changes to one file, for roll-forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redo {
    /// LSN of the transaction's commit record (the file's applied LSN after it).
    pub commit_lsn: u64,
    pub changes: Vec<Change>,
}

/// The open transaction log.
pub struct TxLog {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    writer: LogWriter,
    /// Commit LSN of the last transaction that changed each file.
    last_commit: BTreeMap<PathBuf, u64>,
    /// The committed transactions of the last read of the log, while nothing has been
    /// appended since: recovery opens many files, and each would otherwise reread the
    /// whole log. `(keep_incomplete, transactions)`.
    scanned: Option<(bool, Vec<Committed>)>,
    /// Known-bad engines only: how every read of the log is wrong.
    read_bugs: ReadBugs,
}

/// The log's known-bad engine switches (all off on a correct engine).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KnownBad {
    /// `eio-reads-as-end-of-log`: a segment that cannot be read ends the log (kept for
    /// every read of the log).
    pub eio_is_end: bool,
    /// `log-damage-as-torn-tail`: a damaged record ends the log, proof or not.
    pub damage_is_end: bool,
    /// `rewrite-in-place`: the writer's open rewrites the last segment in place.
    pub rewrite_in_place: bool,
    /// `log-dir-not-synced`: the directory is created without syncing its parent.
    pub dir_parent_unsynced: bool,
}

/// A committed transaction: its commit LSN and its changes, each with its file (one
/// shared copy of each path the log names: see [`Paths`]).
type Committed = (u64, Vec<(Arc<Path>, Change)>);

/// `path`'s last commit is now `lsn`. Looks the path up before inserting: a log names
/// few files, each in many transactions, so cloning the path for every change (what a
/// plain insert needs) is almost always wasted.
fn note_commit(last_commit: &mut BTreeMap<PathBuf, u64>, path: &Path, lsn: u64) {
    match last_commit.get_mut(path) {
        Some(at) => *at = lsn,
        None => {
            last_commit.insert(path.to_path_buf(), lsn);
        }
    }
}

/// [`note_commit`] for every file a transaction of commit `lsn` changed. A
/// transaction's changes mostly come in runs on one file: a change naming the file
/// the one before it named (byte for byte, so the same key) is skipped, sparing a
/// component-wise path comparison per level of the map.
fn note_commits<'a>(
    last_commit: &mut BTreeMap<PathBuf, u64>,
    paths: impl Iterator<Item = &'a PathBuf>,
    lsn: u64,
) {
    let mut prev: Option<&PathBuf> = None;
    for path in paths {
        if prev.is_some_and(|q| q.as_os_str() == path.as_os_str()) {
            continue;
        }
        note_commit(last_commit, path, lsn);
        prev = Some(path);
    }
}

/// Read the log in `dir`: the scan (its `records` empty), and its committed
/// transactions in commit order: `(commit LSN, changes)`.
/// Changes with no commit after them (the tail a crash cut short) are dropped —
/// unless `keep_incomplete` (a known-bad engine for the simulator) keeps them.
///
/// Recycling removes whole segments, so the log may begin inside a transaction
/// (its id, the LSN of its first record, is below the log's first LSN). No file
/// needs such a transaction — recycling keeps everything from the first change any
/// file still needs — so its remaining records are skipped.
fn read_committed(
    vfs: &dyn Vfs,
    dir: &Path,
    bugs: ReadBugs,
    keep_incomplete: bool,
    body: &mut Vec<u8>,
) -> Result<(LogScan, Vec<Committed>)> {
    // Each record is decoded straight from the segment bytes as the scan visits it,
    // rather than copied into the scan first and decoded from there.
    let mut txns = Committer::new(keep_incomplete);
    let scan = visit_log_into(
        vfs,
        dir,
        bugs,
        &mut |f| {
            txns.take(f.lsn, f.kind, f.payload);
            Ok(())
        },
        body,
    )?;
    Ok((scan, txns.finish()?))
}

/// One shared copy of each path the changes of a read of the log name, by its bytes.
/// A log names few files, each in many changes: a path per change meant an allocation,
/// a copy and a UTF-8 check for every change read back.
#[derive(Default)]
struct Paths {
    /// The path met last (a transaction's changes mostly come in runs on one file).
    last: Option<Arc<Path>>,
    all: BTreeMap<Box<[u8]>, Arc<Path>>,
}

impl Paths {
    /// The path spelled `raw`, or `None` if it is not UTF-8.
    fn get(&mut self, raw: &[u8]) -> Option<Arc<Path>> {
        if let Some(p) = self.last.as_ref().filter(|p| bytes(p) == raw) {
            return Some(p.clone());
        }
        let p = match self.all.get(raw) {
            Some(p) => p.clone(),
            None => {
                let p: Arc<Path> = Arc::from(Path::new(std::str::from_utf8(raw).ok()?));
                self.all.insert(raw.into(), p.clone());
                p
            }
        };
        self.last = Some(p.clone());
        Some(p)
    }
}

fn bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_encoded_bytes()
}

/// The committed transactions of a scan, gathered a record at a time (see
/// [`read_committed`]).
struct Committer {
    keep_incomplete: bool,
    out: Vec<Committed>,
    /// The transaction whose changes are being gathered: its id (not yet a commit
    /// LSN) and its changes so far.
    open: Option<Committed>,
    paths: Paths,
    /// LSNs of the scan's first and last records.
    first_lsn: Option<u64>,
    last_lsn: Option<u64>,
    /// The first record that does not fit: the error of the whole read, unless the
    /// scan itself fails (a scan error is reported first, as when the records were
    /// decoded only after the scan). Nothing is taken after it.
    error: Option<Error>,
}

impl Committer {
    fn new(keep_incomplete: bool) -> Committer {
        Committer {
            keep_incomplete,
            out: Vec::new(),
            open: None,
            paths: Paths::default(),
            first_lsn: None,
            last_lsn: None,
            error: None,
        }
    }

    /// The next record of the scan, in LSN order.
    fn take(&mut self, lsn: u64, kind: RecordKind, payload: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let first_lsn = *self.first_lsn.get_or_insert(lsn);
        self.last_lsn = Some(lsn);
        if let Err(e) = self.take_entry(first_lsn, lsn, kind, payload) {
            self.error = Some(e);
        }
    }

    fn take_entry(
        &mut self,
        first_lsn: u64,
        lsn: u64,
        kind: RecordKind,
        payload: &[u8],
    ) -> Result<()> {
        let entry = Entry::decode_with(lsn, kind, payload, |raw| self.paths.get(raw))?;
        let txn = match &entry {
            Entry::Change { txn, .. } | Entry::Commit { txn, .. } => *txn,
        };
        if txn < first_lsn {
            return Ok(());
        }
        match entry {
            Entry::Change { txn, path, change } => match &mut self.open {
                Some((t, list)) if *t == txn => list.push((path, change)),
                _ => self.open = Some((txn, vec![(path, change)])),
            },
            Entry::Commit { txn, changes } => {
                let list = match self.open.take() {
                    Some((t, list)) if t == txn => list,
                    None if changes == 0 => Vec::new(),
                    _ => {
                        return Err(Error::new(
                            Status::IoError,
                            format!(
                                "transaction log LSN {lsn}: commit of transaction {txn} does \
                                 not follow its changes; the log is damaged"
                            ),
                        ))
                    }
                };
                if list.len() != changes as usize {
                    return Err(Error::new(
                        Status::IoError,
                        format!(
                            "transaction log LSN {lsn}: transaction {txn} commits {changes} \
                             changes but {} precede it; the log is damaged",
                            list.len()
                        ),
                    ));
                }
                self.out.push((lsn, list));
            }
        }
        Ok(())
    }

    /// The committed transactions in commit order (and, with `keep_incomplete`, the
    /// unfinished tail as if committed at the last record).
    fn finish(mut self) -> Result<Vec<Committed>> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.keep_incomplete {
            if let (Some((_, list)), Some(last)) = (self.open, self.last_lsn) {
                self.out.push((last, list));
            }
        }
        Ok(self.out)
    }
}

/// The commit LSN of the last transaction that changed each file the committed
/// transactions `txns` (in commit order) name. Each change's path is looked up by its
/// bytes first — a log names few files, in many changes, and comparing paths
/// component by component for every change was most of the cost — and each distinct
/// spelling goes into the map once: a path spelled two ways is one key, keeping the
/// spelling met first and the later commit, as a lookup per change would.
fn last_commits(txns: &[Committed]) -> BTreeMap<PathBuf, u64> {
    let mut index: BTreeMap<&[u8], usize> = BTreeMap::new();
    let mut spellings: Vec<(&Path, u64)> = Vec::new();
    for (lsn, changes) in txns {
        for (path, _) in changes {
            match index.entry(path.as_os_str().as_encoded_bytes()) {
                std::collections::btree_map::Entry::Occupied(e) => spellings[*e.get()].1 = *lsn,
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(spellings.len());
                    spellings.push((&**path, *lsn));
                }
            }
        }
    }
    debug_assert!(txns.windows(2).all(|w| w[0].0 < w[1].0));
    let mut last_commit = BTreeMap::new();
    for (path, lsn) in spellings {
        // Commit LSNs grow in commit order: the later commit is the greater LSN.
        match last_commit.get_mut(path) {
            Some(at) => *at = lsn.max(*at),
            None => {
                last_commit.insert(path.to_path_buf(), lsn);
            }
        }
    }
    last_commit
}

impl TxLog {
    /// Open (or create) the log in `dir`: make sure the directory exists *durably*
    /// (created if missing, its parent synced — a directory a power loss can take would
    /// take every segment with it, and every acknowledged transaction in them), read
    /// it, drop an incomplete tail, and position the writer after the last valid
    /// record.
    pub fn open(vfs: Arc<dyn Vfs>, dir: &Path, engine_id: u64, segment_size: u64) -> Result<TxLog> {
        TxLog::open_as(vfs, dir, engine_id, segment_size, KnownBad::default())
    }

    /// [`TxLog::open`] as a known-bad engine would (every switch off on a correct one).
    pub fn open_as(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        engine_id: u64,
        segment_size: u64,
        bad: KnownBad,
    ) -> Result<TxLog> {
        let read_bugs = ReadBugs {
            eio_is_end: bad.eio_is_end,
            damage_is_end: bad.damage_is_end,
        };
        let created = if bad.dir_parent_unsynced {
            vfs.create_dir_all(dir)
        } else {
            create_dir_durable(vfs.as_ref(), dir)
        };
        created.map_err(|e| {
            Error::io(
                &e,
                format_args!("creating transaction log directory {}", dir.display()),
            )
        })?;
        // The scan's segment buffer is the writer's buffer for copying the last
        // segment: one allocation for both.
        let mut body = Vec::new();
        let (scan, txns) = read_committed(vfs.as_ref(), dir, read_bugs, false, &mut body)?;
        let last_commit = last_commits(&txns);
        let id = scan.engine_id.unwrap_or(engine_id);
        let writer = LogWriter::open_as(
            vfs.clone(),
            dir,
            id,
            segment_size,
            &scan,
            bad.rewrite_in_place,
            body,
        )?;
        // The writer continues exactly at the scan's end (it truncated any torn tail
        // and synced), so this read serves roll-forward until something is appended.
        Ok(TxLog {
            vfs,
            dir: dir.to_path_buf(),
            writer,
            last_commit,
            scanned: Some((false, txns)),
            read_bugs,
        })
    }

    /// Every file the log names.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.last_commit.keys().cloned().collect()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Append a transaction: its changes, then its commit record. Returns the commit
    /// LSN. Nothing is written to disk yet.
    pub fn append(&mut self, changes: &[(PathBuf, Change)]) -> Result<u64> {
        self.scanned = None;
        let txn = self.writer.next_lsn();
        for (path, change) in changes {
            let (k, payload) = Entry::Change {
                txn,
                path: path.clone(),
                change: change.clone(),
            }
            .encode();
            self.writer.append(k, &payload)?;
        }
        let (k, payload) = Entry::Commit {
            txn,
            changes: changes.len() as u32,
        }
        .encode();
        let lsn = self.writer.append(k, &payload)?;
        note_commits(&mut self.last_commit, changes.iter().map(|(p, _)| p), lsn);
        Ok(lsn)
    }

    /// Write out and sync everything appended; returns the durable LSN (every record
    /// below it is durable).
    pub fn sync(&mut self) -> Result<u64> {
        if self.writer.durable_lsn() >= self.writer.next_lsn() {
            return Ok(self.writer.durable_lsn());
        }
        self.writer.sync()
    }

    /// Begin a sync the caller may run without the log (see
    /// [`LogWriter::begin_sync`]); `None` if everything appended is durable.
    pub fn begin_sync(&mut self) -> Result<Option<PendingSync>> {
        if self.writer.durable_lsn() >= self.writer.next_lsn() {
            return Ok(None);
        }
        self.writer.begin_sync()
    }

    /// Record what a sync from [`begin_sync`](Self::begin_sync) made durable.
    pub fn finish_sync(
        &mut self,
        pending: &PendingSync,
        result: std::io::Result<()>,
    ) -> Result<u64> {
        self.writer.finish_sync(pending, result)
    }

    /// Records appended but not yet durable?
    pub fn has_unsynced(&self) -> bool {
        self.writer.durable_lsn() < self.writer.next_lsn()
    }

    /// Every record below this LSN is durable.
    pub fn durable_lsn(&self) -> u64 {
        self.writer.durable_lsn()
    }

    pub fn next_lsn(&self) -> u64 {
        self.writer.next_lsn()
    }

    /// Remove the segments no file needs: a file whose last logged change is beyond
    /// its durable applied LSN `a` needs everything from `a + 1` (a file this engine
    /// has not seen counts as 0: its needs are unknown until it is opened).
    /// `ignore_needs` is a known-bad engine's switch. Returns the segments removed.
    pub fn recycle(
        &mut self,
        durable_applied: &BTreeMap<PathBuf, u64>,
        ignore_needs: bool,
    ) -> Result<usize> {
        let mut keep = self.writer.next_lsn();
        if !ignore_needs {
            for (path, &last) in &self.last_commit {
                let applied = durable_applied.get(path).copied().unwrap_or(0);
                if last > applied {
                    keep = keep.min(applied + 1);
                }
            }
        }
        Ok(self.writer.recycle(keep)?.len())
    }

    /// The committed transactions that changed `path` after `applied`, in order, with
    /// their changes to that file. Syncs the log first: roll-forward must only build
    /// on durable records. (`keep_incomplete` is a known-bad engine's switch.)
    pub fn redo_for(
        &mut self,
        path: &Path,
        applied: u64,
        keep_incomplete: bool,
    ) -> Result<Vec<Redo>> {
        if applied >= self.writer.next_lsn() {
            return Err(Error::new(
                Status::IoError,
                format!(
                    "{} has applied transaction-log LSN {applied}, beyond the end of the log \
                     in {} (next LSN {}): the log directory was replaced or lost; point the \
                     engine at the file's own log, or restore the file",
                    path.display(),
                    self.dir.display(),
                    self.writer.next_lsn()
                ),
            ));
        }
        if !keep_incomplete && self.last_commit.get(path).is_none_or(|&l| l <= applied) {
            return Ok(Vec::new());
        }
        if self
            .scanned
            .as_ref()
            .is_none_or(|(k, _)| *k != keep_incomplete)
        {
            self.sync()?;
            let (_, txns) = read_committed(
                self.vfs.as_ref(),
                &self.dir,
                self.read_bugs,
                keep_incomplete,
                &mut Vec::new(),
            )?;
            self.scanned = Some((keep_incomplete, txns));
        }
        let txns = self.scanned.as_ref().map_or(&[][..], |(_, t)| t.as_slice());
        Ok(txns
            .iter()
            .filter(|(lsn, _)| *lsn > applied)
            .filter_map(|(commit_lsn, changes)| {
                let mine: Vec<Change> = changes
                    .iter()
                    .filter(|(p, _)| **p == *path)
                    .map(|(_, c)| c.clone())
                    .collect();
                (!mine.is_empty()).then_some(Redo {
                    commit_lsn: *commit_lsn,
                    changes: mine,
                })
            })
            .collect())
    }
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
