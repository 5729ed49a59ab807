//! Keel's crash scenarios: what each sets up, the shell command that is recorded, and
//! what the oracle may accept after a crash at any point of it.
//!
//! A scenario is a list of butil steps run with cwd = the scenario directory, every
//! path relative (the crash states are materialised in other directories), each step
//! followed by `echo 'ack N'` once butil has exited 0. The records are those of
//! [`crate::records`]: the scenario's loads insert serials 1, 2, … in order, so after
//! step `k` the file holds exactly the first `records_after(k)` records.

use crate::butil::Butil;
use crate::records::{description, sequential_file};
use std::fs;
use std::path::Path;

/// Records per `-load` (one sequential file each), and in the file setup makes.
pub const LOAD_RECORDS: u32 = 20;
/// Records per `-load` in Durability mode: each insert is a logged, synced
/// transaction (two ops, a crash point each), and every state crashfs plans there
/// carries the 16 MiB log segment, so fewer inserts keep the check affordable.
pub const DURABILITY_LOAD_RECORDS: u32 = 8;

/// The scenarios, in the order a campaign runs them.
pub const ALL: [Scenario; 5] = [
    Scenario::Loads,
    Scenario::Contops,
    Scenario::Durability,
    Scenario::Legacy,
    Scenario::Archival,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// `-create` then six `-load`s, log mode off.
    Loads,
    /// A file with records; `-startbu`; three `-load`s into the delta; `-endbu`.
    Contops,
    /// `-create` then three `-load`s of 8 records in KEEL_LOG_MODE=durability, log in `log/`.
    Durability,
    /// A `version=5` (pre-imaging) file: `-create` then four `-load`s.
    Legacy,
    /// An archived file (KEEL_BLOG_ROOT=., `blog/blog.cfg`) with a backup taken in
    /// setup; three `-load`s. The oracle also restores the backup and rolls it forward.
    Archival,
}

/// One recorded butil command and the record count once it has succeeded.
#[derive(Clone, Debug)]
pub struct Step {
    /// butil's arguments (no shell quoting needed: fixed, plain words).
    pub args: Vec<String>,
    /// Records in the file once this step has been acknowledged.
    pub records_after: u32,
    /// Whether a crash during the step leaves the file before or after it, never in
    /// between. See [`Scenario::loads_are_atomic`] for why a step is or is not.
    pub atomic: bool,
}

/// Everything the recorder, the setup and the oracle need to know about a scenario.
#[derive(Clone, Debug)]
pub struct Spec {
    pub scenario: Scenario,
    /// The data file, relative to the scenario directory.
    pub file: &'static str,
    /// Environment of every butil run (recorded, setup and oracle); every other
    /// KEEL_* setting is removed.
    pub env: Vec<(&'static str, &'static str)>,
    /// Records the file holds before the recorded command (made by setup).
    pub initial_records: u32,
    /// Records per recorded `-load`.
    pub load_records: u32,
    /// Whether the recorded command's first step creates the file.
    pub creates_file: bool,
    pub steps: Vec<Step>,
    /// The backup setup took (archival only), relative to the scenario directory.
    pub backup: Option<&'static str>,
}

/// The settings butil reads from the environment; the scenario sets each it uses and
/// removes the others, so the caller's environment never changes a run.
pub const KEEL_VARS: [&str; 3] = ["KEEL_LOG_MODE", "KEEL_LOG_DIR", "KEEL_BLOG_ROOT"];

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Loads => "loads",
            Scenario::Contops => "contops",
            Scenario::Durability => "durability",
            Scenario::Legacy => "legacy",
            Scenario::Archival => "archival",
        }
    }

    /// Whether a `-load` is all or nothing after a crash. `-load` runs with
    /// `engine::bulk::bulk_config`: up to 1,000,000 operations per system transaction
    /// and no time limit, so a load of 20 records (a handful of the 8,192 dirty pages
    /// that would force an early commit) is one system transaction — atomic in log
    /// mode off, in a delta (contops) and in the legacy format (the FCR written last
    /// is its commit point). In a log mode it need not be: the load's inserts are
    /// logged a batch (`engine::engine::BATCH_RECORDS` records at first) to a transaction, each synced
    /// in Durability mode before the next, and `-recoverlog` replays them, so any
    /// prefix of whole batches of the load in flight may survive the crash (a load
    /// of 20 records is one batch, but the check allows any prefix).
    fn loads_are_atomic(self) -> bool {
        self != Scenario::Durability
    }

    /// Random crash states per crash point and model a campaign asks for unless told
    /// (`crashfs check --random`; its own default is 4). The small-file scenarios get
    /// many, for a fuller sample of which pending writes reached the disk; Durability
    /// keeps crashfs's default, as each state there costs copies of 16 MiB of log.
    pub fn default_random(self) -> u64 {
        match self {
            Scenario::Durability => 4,
            _ => 32,
        }
    }

    /// The environment of every butil run in this scenario.
    fn env(self) -> Vec<(&'static str, &'static str)> {
        match self {
            // A relative log directory: the log names files by the paths the commands
            // gave (relative ones here), and lives inside the scenario directory, so a
            // state materialised elsewhere carries its log along.
            Scenario::Durability => vec![("KEEL_LOG_MODE", "durability"), ("KEEL_LOG_DIR", "log")],
            // butil makes the root absolute from its cwd when it starts, and the
            // archival log header names the data file by its last component only, so
            // nothing absolute is written into the directory (checked by the tests:
            // the oracle runs in another directory).
            Scenario::Archival => vec![("KEEL_LOG_MODE", "off"), ("KEEL_BLOG_ROOT", ".")],
            _ => vec![("KEEL_LOG_MODE", "off")],
        }
    }

    /// The scenario's full description.
    pub fn spec(self) -> Spec {
        let n = LOAD_RECORDS;
        let (file, initial, creates, loads, per_load, backup) = match self {
            Scenario::Loads => ("data.btr", 0, true, 6, n, None),
            Scenario::Contops => ("data.btr", n, false, 3, n, None),
            Scenario::Durability => ("data.btr", 0, true, 3, DURABILITY_LOAD_RECORDS, None),
            Scenario::Legacy => ("data.btr", 0, true, 4, n, None),
            Scenario::Archival => ("db/data.btr", n, false, 3, n, Some("backup.btr")),
        };
        let atomic = self.loads_are_atomic();
        let mut steps = Vec::new();
        let mut records = initial;
        let plain = |args: &[&str], records| Step {
            args: args.iter().map(|s| s.to_string()).collect(),
            records_after: records,
            atomic: true,
        };
        if creates {
            steps.push(plain(&["-create", file, "data.des"], 0));
        }
        if self == Scenario::Contops {
            steps.push(plain(&["-startbu", file], records));
        }
        for i in 1..=loads {
            records += per_load;
            steps.push(Step {
                args: vec!["-load".into(), format!("l{i}.seq"), file.into()],
                records_after: records,
                atomic,
            });
        }
        if self == Scenario::Contops {
            steps.push(plain(&["-endbu", file], records));
        }
        Spec {
            scenario: self,
            file,
            env: self.env(),
            initial_records: initial,
            load_records: per_load,
            creates_file: creates,
            steps,
            backup,
        }
    }
}

impl Spec {
    /// The shell script to record, run by `sh` with cwd = the scenario directory:
    /// each step's butil (its report to stderr, so stdout holds only the acks), then
    /// its ack. `set -e`: a failing step stops the script before its ack.
    pub fn script(&self, butil: &Path) -> String {
        self.script_with(butil, AckOrder::AfterStep)
    }

    /// [`Spec::script`], or with every ack printed before its step
    /// ([`AckOrder::BeforeStep`]): a deliberately broken program that acknowledges
    /// what is not yet durable, which a working checker must catch.
    pub fn script_with(&self, butil: &Path, order: AckOrder) -> String {
        let mut s = format!("set -e\nB={}\n", shell_quote(&butil.display().to_string()));
        s.push_str(&format!("unset {}\n", KEEL_VARS.join(" ")));
        for (k, v) in &self.env {
            s.push_str(&format!("export {k}={v}\n"));
        }
        for (i, step) in self.steps.iter().enumerate() {
            let run = format!("\"$B\" {} >&2\n", step.args.join(" "));
            let ack = format!("echo 'ack {}'\n", i + 1);
            match order {
                AckOrder::AfterStep => s.push_str(&(run + &ack)),
                AckOrder::BeforeStep => s.push_str(&(ack + &run)),
            }
        }
        s
    }

    /// Make the scenario directory `dir` (which must be empty or absent): the inputs
    /// of every step and, where the scenario starts from an existing file, that file,
    /// made with `butil`.
    pub fn setup(&self, dir: &Path, butil: &Butil) -> Result<(), String> {
        let io =
            |what: &str, e: std::io::Error| format!("setup {}: {what}: {e}", self.scenario.name());
        fs::create_dir_all(dir).map_err(|e| io("creating the directory", e))?;
        let version = (self.scenario == Scenario::Legacy).then_some(5);
        fs::write(dir.join("data.des"), description(version)).map_err(|e| io("data.des", e))?;
        // l0.seq: the records setup loads; l1.seq…: one per recorded load.
        let loads = self.steps.iter().filter(|s| s.args[0] == "-load").count() as u32;
        let first_loaded = self.initial_records + 1;
        if self.initial_records > 0 {
            let seq = sequential_file(1, self.initial_records);
            fs::write(dir.join("l0.seq"), seq).map_err(|e| io("l0.seq", e))?;
        }
        for i in 0..loads {
            let seq = sequential_file(first_loaded + i * self.load_records, self.load_records);
            let name = format!("l{}.seq", i + 1);
            fs::write(dir.join(&name), seq).map_err(|e| io(&name, e))?;
        }
        if self.scenario == Scenario::Archival {
            fs::create_dir_all(dir.join("blog")).map_err(|e| io("blog/", e))?;
            fs::create_dir_all(dir.join("db")).map_err(|e| io("db/", e))?;
            fs::write(dir.join("blog/blog.cfg"), format!("/{}\n", self.file))
                .map_err(|e| io("blog/blog.cfg", e))?;
        }
        if self.scenario == Scenario::Durability {
            // The log's 16 MiB segment is made (zero-filled) here, not in the trace:
            // recording 16 MiB of zeros would dwarf the loads being checked.
            butil.run(dir, &["-recoverlog"])?;
        }
        if !self.creates_file {
            butil.run(dir, &["-create", self.file, "data.des"])?;
            butil.run(dir, &["-load", "l0.seq", self.file])?;
        }
        if let Some(backup) = self.backup {
            // The nightly backup: a plain copy of the closed file.
            fs::copy(dir.join(self.file), dir.join(backup)).map_err(|e| io("backup", e))?;
        }
        Ok(())
    }
}

/// Where a script prints each step's ack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckOrder {
    /// Once butil has exited 0: the real scenarios.
    AfterStep,
    /// Before butil runs: the broken calibration (`campaign --ack-before-step`).
    BeforeStep,
}

/// `s` as one single-quoted shell word.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
