//! Building a [`World`] from a seed or a plan: the seed's swarm of faults (from
//! generation 9 with its sync-failure policy, from generation 10 with the torn-garbage,
//! sticky-bad-sector and namespace-ENOSPC options, from generation 11 with the
//! size-without-data option — each of which a plan leaves to its seed), its
//! log mode and segment size, the engine's tunables, the page size and number of
//! files, and the operation mix — drawn from the setup streams in a fixed order, so that a plan
//! (which names all of these) keeps every later stream where the seed would have it.
//! The files are created, and from generation 5 stocked with the inventory, with
//! faults paused: a run starts from a sound database the model knows exactly. From
//! generation 9 directories are objects: the data and backup directories exist
//! durably from the start (the operator's), the log directory is the engine's to
//! create and make durable.

use super::aims::Aims;
use super::archival::{ArchivalModel, BLOG_ROOT};
use super::cause::Causes;
use super::clients::Clients;
use super::schedule::{stream_seed, Schedule};
use super::world::{Model, Rig, Tally, World};
use super::Options;
use crate::model::{FileModel, Journal, Records};
use crate::vfs::{Fault, FaultConfig, SimVfs, SyncFailure};
use crate::workload;
use engine::clock::ManualClock;
use engine::{Config, LogMode, OpenMode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::time::Duration;

/// Where the data files live (the operator's directory).
pub(super) const DATA_DIR: &str = "/data";
/// Where backup copies go (the operator's directory).
pub(super) const BACKUP_DIR: &str = "/backup";
/// The transaction log directory (the engine creates it).
const LOG_DIR: &str = "/log";

/// The per-seed disk behaviours of workload generations 10 and 11 (each off before
/// its generation).
#[derive(Clone, Copy, Debug, Default)]
struct DiskOptions {
    torn_garbage: bool,
    sticky_bad_sectors: bool,
    namespace_enospc: bool,
    /// Generation 11, from a stream of its own (so generation 10's draws stay put).
    size_without_data: bool,
    /// Generation 13 (no draw): torn garbage spares no sector.
    garbage_even_if_unchanged: bool,
}

impl DiskOptions {
    fn draw(seed: u64, workload: u32) -> DiskOptions {
        if workload < 10 {
            return DiskOptions::default();
        }
        let mut s = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 4));
        let mut s11 = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 5));
        DiskOptions {
            torn_garbage: s.random_bool(0.5),
            sticky_bad_sectors: s.random_bool(0.5),
            namespace_enospc: s.random_bool(0.5),
            size_without_data: workload >= 11 && s11.random_bool(0.5),
            garbage_even_if_unchanged: workload >= 13,
        }
    }

    fn apply(self, faults: &mut FaultConfig) {
        faults.torn_garbage = self.torn_garbage;
        faults.sticky_bad_sectors = self.sticky_bad_sectors;
        faults.namespace_enospc = self.namespace_enospc;
        faults.size_without_data = self.size_without_data;
        faults.garbage_even_if_unchanged = self.garbage_even_if_unchanged;
    }
}

/// Generation 15: which files are in the legacy (5.x) format, pre-imaged to
/// `NAME.PRE` — in about a third of the seeds (setup stream 8), file 0 and each other
/// file with even odds.
fn legacy_files(seed: u64, workload: u32, nfiles: usize) -> Vec<bool> {
    if workload < 15 {
        return vec![false; nfiles];
    }
    let mut s = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 8));
    if !s.random_bool(0.35) {
        return vec![false; nfiles];
    }
    (0..nfiles).map(|f| f == 0 || s.random_bool(0.5)).collect()
}

/// Generation 21: which files are made with `compact_leaves` (index leaves keep
/// each column's shared part once, and split where both halves fit rather than in
/// half): each file with even odds (setup stream 10).
fn compact_files(seed: u64, workload: u32, nfiles: usize) -> Vec<bool> {
    if workload < 21 {
        return vec![false; nfiles];
    }
    let mut s = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 10));
    (0..nfiles).map(|_| s.random_bool(0.5)).collect()
}

/// Generation 22: each file's slot serial width (setup stream 11): 8 bytes in half the
/// files, one byte in a quarter (a page then takes a record only within 256 insertions
/// of its oldest live one, so list heads are blocked and passed over within a seed),
/// 2 to 4 bytes in the rest.
fn serial_widths(seed: u64, workload: u32, nfiles: usize) -> Vec<u8> {
    if workload < 22 {
        return vec![8; nfiles];
    }
    let mut s = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 11));
    (0..nfiles)
        .map(|_| match s.random_range(0..8) {
            0..4 => 8,
            4 | 5 => 1,
            _ => s.random_range(2..=4),
        })
        .collect()
}

impl World {
    /// The world seed `seed` starts from (or, with `opts.plan`, the plan's setup,
    /// after the same draws).
    pub(super) fn new(seed: u64, opts: &Options) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 0));
        // Choices added by later workload generations come from their own streams.
        let mut ext = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 1));
        let mut log_stream = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 2));
        let mut faults = FaultConfig::swarm(&mut rng);
        // Generation 9: what a failed sync does to dirty data (Linux: forgets it), drawn
        // from a stream of its own so every earlier draw stays where it was.
        let sync_failure = if opts.workload >= 9 {
            let mut s = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 3));
            SyncFailure::swarm(&mut s)
        } else {
            SyncFailure::KeepPending
        };
        faults.sync_failure = sync_failure;
        // Generation 10: more Linux disk behaviours, each on for about half the seeds,
        // drawn (all of them, always in this order) from a stream of their own.
        let disk_options = DiskOptions::draw(seed, opts.workload);
        disk_options.apply(&mut faults);
        let seed_vfs = rng.random();
        let (log_mode, segment_size) = workload::log_mode(&mut log_stream, opts.workload);
        if log_mode != LogMode::Off {
            // Lying-disk detection of data files and deltas is exercised by the Off
            // seeds; with a log, a damaged data file would be rebuilt from the log,
            // which the model does not follow. From generation 12 a fifth of the log
            // seeds get latent corruption of the log itself, judged against the
            // journal (`dated_damage`); drawn from a stream of its own.
            faults = faults.without_lying();
            if opts.workload >= 12 {
                let mut s = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 6));
                if s.random_bool(0.2) {
                    let rates = [0.00005, 0.0001, 0.0002];
                    faults.latent_corruption = Fault::on(rates[s.random_range(0..rates.len())]);
                    faults.lying_only_under = Some(PathBuf::from(LOG_DIR));
                }
            }
        } else if opts.workload >= 3 {
            // Off seeds are a third of the campaign now: make latent corruption more
            // common among them so detection stays well exercised (generation 5 more
            // so: its inventory keeps more pages hot in the cache).
            let (p, rates) = if opts.workload >= 7 {
                (0.9, [0.002, 0.004, 0.008])
            } else if opts.workload >= 6 {
                (0.7, [0.001, 0.002, 0.004])
            } else if opts.workload >= 5 {
                (0.5, [0.0005, 0.001, 0.002])
            } else {
                (0.3, [0.0002, 0.0005, 0.001])
            };
            if log_stream.random_bool(p) {
                faults.latent_corruption =
                    Fault::on(rates[log_stream.random_range(0..rates.len())]);
            }
        }
        let mut config = Config {
            operation_bundle_limit: rng.random_range(1..60),
            initiation_time_limit: Duration::from_millis(rng.random_range(1..200)),
            max_dirty_pages: rng.random_range(8..400),
            clean_cache_pages: rng.random_range(4..256),
            log_mode,
            log_dir: PathBuf::from(LOG_DIR),
            log_segment_size: segment_size,
            mutant: opts.mutant,
            ..Config::default()
        };
        let mut page_size = [512, 1024, 4096][rng.random_range(0..3)];
        let mut nfiles = rng.random_range(1..=3);
        let mut log_mode = log_mode;
        if let Some(plan) = &opts.plan {
            // The plan names the setup; the draws above only kept the streams aligned.
            let s = &plan.setup;
            faults = FaultConfig {
                sync_failure,
                ..s.faults()
            };
            disk_options.apply(&mut faults);
            log_mode = s.log_mode();
            config.log_mode = log_mode;
            config.log_segment_size = s.segment_size();
            config.operation_bundle_limit = s.bundle_limit();
            config.initiation_time_limit = Duration::from_millis(s.initiation_ms());
            config.max_dirty_pages = s.max_dirty_pages();
            config.clean_cache_pages = s.clean_cache_pages();
            page_size = s.page_size();
            nfiles = s.files();
        }
        // Generation 14: archival logging for about a third of the seeds (setup stream
        // 7). Lying faults are off in those seeds: a damaged data file replaced by an
        // empty one, or a damaged log, is a restore the model does not follow.
        let arch = ArchivalModel::draw(seed, opts.workload, nfiles);
        if arch.is_some() {
            faults = faults.without_lying();
            config.blog_root = Some(PathBuf::from(BLOG_ROOT));
        }
        let legacy = legacy_files(seed, opts.workload, nfiles);
        let compact = compact_files(seed, opts.workload, nfiles);
        let serial_bytes = serial_widths(seed, opts.workload, nfiles);
        let vfs = SimVfs::new(seed_vfs, faults);
        if opts.workload >= 9 {
            // Generation 9: directories are objects. The operator's layout — the data
            // and backup directories — exists durably before the run; the log
            // directory is the engine's to create (on first use of the log) and to
            // make durable.
            let layout = vfs
                .set_dirs_are_objects(true)
                .and_then(|()| vfs.create_dir_durable(DATA_DIR))
                .and_then(|()| vfs.create_dir_durable(BACKUP_DIR));
            if let Err(e) = layout {
                panic!("creating the directory layout: {e}");
            }
        }
        let files: Vec<FileModel> = (0..nfiles)
            .map(|i| FileModel::new(PathBuf::from(format!("{DATA_DIR}/f{i}.btr"))))
            .collect();
        // Generation 18: its step weights and the bulk-load batch size, from a stream of
        // their own.
        let mut g18 = ChaCha8Rng::seed_from_u64(stream_seed(seed, u64::MAX, 9));
        let weights = workload::weights(&mut rng, &mut ext, &mut g18, opts.workload);
        let bulk_batch = g18.random_range(1..=16);
        let mut w = World {
            log_mode,
            workload: opts.workload,
            sched: Schedule::new(seed, opts, rng, weights),
            rig: Rig {
                vfs,
                clock: ManualClock::new(),
                config,
                spec: workload::spec(page_size),
                legacy,
                compact,
                serial_bytes,
                engine: None,
                handles: Vec::new(),
            },
            model: Model {
                files,
                clients: Clients::new(),
                journal: Journal::default(),
                multi: Vec::new(),
                backup: None,
                item_totals: Vec::new(),
                held: Default::default(),
                roots: Default::default(),
                crashed_load: None,
            },
            tally: Tally::new(),
            cause: Causes::default(),
            aims: Aims::default(),
            damage: Default::default(),
            arch,
            bulk_batch,
        };
        // blog.cfg comes first: the files' first writable open starts their logs.
        w.write_blog_cfg();
        w.create_files();
        w.copy_before_archived();
        w
    }

    /// Create the files fault-free; from generation 5 (two files or more) stock each
    /// with `ITEM_START` of every item, in the engine and in the model.
    fn create_files(&mut self) {
        let stocked = self.workload >= 5 && self.model.files.len() >= 2;
        self.rig.vfs.with_faults_paused(|| {
            let mut e = self.rig.new_engine();
            for (i, f) in self.model.files.iter().enumerate() {
                if let Err(err) = e.create(&f.path, &self.rig.spec_of(i)) {
                    panic!("creating {}: {err}", f.path.display());
                }
                if stocked {
                    // Every location starts with ITEM_START of each item.
                    let stock = (|| {
                        let h = e.open(&f.path, OpenMode::Normal)?;
                        for i in 0..workload::ITEMS {
                            e.insert(h, &workload::item_record(i, workload::ITEM_START))?;
                        }
                        e.close(h)
                    })();
                    if let Err(err) = stock {
                        panic!("stocking {}: {err}", f.path.display());
                    }
                }
            }
        });
        if stocked {
            let m = &mut self.model;
            for f in &mut m.files {
                for i in 0..workload::ITEMS {
                    f.put(
                        workload::item_id(i),
                        workload::item_record(i, workload::ITEM_START).into(),
                    );
                }
                let stock = Records::clone(&f.live);
                f.recovered(stock);
            }
            m.journal.base = m.files.iter().map(|f| Records::clone(&f.live)).collect();
            m.item_totals =
                vec![workload::ITEM_START * m.files.len() as u32; workload::ITEMS as usize];
        }
    }
}
