//! The engine's tunables and modes: [`Config`] (bundling limits, cache sizes, the
//! transaction log's place and mode, archival logging's root), [`LogMode`] and a
//! handle's [`OpenMode`].
//!
//! Plain data, chosen when the engine is created and never changed by it: the engine
//! reads its `Config` but does not write it, so a run is determined by the config it
//! was given (and its `Vfs` and `Clock`). [`Config::default`] is what butil and the
//! benchmark start from.

use std::path::PathBuf;
use std::time::Duration;

/// Engine tunables.
#[derive(Clone, Debug)]
pub struct Config {
    /// Committed operations bundled into one system transaction at most.
    pub operation_bundle_limit: u64,
    /// Longest an operation waits before its system transaction starts.
    pub initiation_time_limit: Duration,
    /// Changed pages (over all files) that force a system transaction.
    pub max_dirty_pages: usize,
    /// Verified committed pages cached per file; beyond it the cache evicts by CLOCK
    /// (`pager/cache.rs`), keeping pages read again and again such as the index root.
    pub clean_cache_pages: usize,
    /// Transaction log mode.
    pub log_mode: LogMode,
    /// The Transaction Log Directory (segments `00000001.LOG` …).
    pub log_dir: PathBuf,
    /// Size of a log segment in bytes.
    pub log_segment_size: u64,
    /// Written into new log segments; a log written by another engine id is refused.
    pub engine_id: u64,
    /// Archival logging: the root whose `blog/blog.cfg` names the archived data files
    /// and their logs (`archival::config`). `None`: no file is archived. The engine
    /// reads `blog.cfg` through its `Vfs` each time it loads a file for writing, so an
    /// edited configuration counts from a file's next open; hosts choose the root
    /// (butil from `KEEL_BLOG_ROOT`), the engine never reads the environment.
    pub blog_root: Option<PathBuf>,
    /// The admin endpoint's socket: where the host (`host::admin::AdminServer`) listens
    /// so that `butil` in another process can have this engine run `-stat`, `-check`,
    /// `-startbu`, `-endbu` on the files it holds locked (issue 17). `None`: the
    /// default, `host::admin::default_socket()` (`engine-<pid>.sock` in the per-user
    /// runtime directory) — the endpoint is on by default for a host that serves it
    /// (`AdminServer::from_config`, then `serve_pending` between operations); a host
    /// that wants none does not bind. The engine itself never reads it — serving is the host's, which also
    /// registers each file the engine holds for writing in the per-user runtime
    /// directory (`$XDG_RUNTIME_DIR/keel`, else `/tmp/keel-<uid>`) so butil can find it.
    pub admin_socket: Option<PathBuf>,
    /// Group commit's bounded delay, like PostgreSQL's `commit_delay`: the longest a
    /// client about to lead a Durability-mode log sync in
    /// [`SharedEngine`](crate::shared::SharedEngine) holds it back while other clients
    /// are on their way to append their Ends, so that one sync covers them too. It
    /// ends early once every such client has appended. Zero (the default) starts each
    /// sync at once, so a lone client's latency is unchanged. Only the thread adapter
    /// reads it: the single-threaded engine core never waits.
    pub commit_delay: Duration,
    /// A deliberate bug to run with (simulator only).
    #[cfg(feature = "mutants")]
    pub mutant: Option<crate::mutant::Mutant>,
}

/// How the transaction log is used (chosen when the engine is created).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogMode {
    /// No log: each file is atomic on its own (system transactions); a crash may
    /// leave a multi-file transaction in some of its files.
    #[default]
    Off,
    /// Every change is logged; End returns once the records are handed to the log
    /// writer. A crash may lose the latest acknowledged transactions, never part of
    /// one, and what survives is a prefix of the acknowledged order.
    Logging,
    /// As Logging, but End (and a single operation) returns only once the log is
    /// synced: every acknowledged change survives.
    Durability,
}

impl LogMode {
    pub fn name(self) -> &'static str {
        match self {
            LogMode::Off => "off",
            LogMode::Logging => "logging",
            LogMode::Durability => "durability",
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            operation_bundle_limit: 1000,
            initiation_time_limit: Duration::from_millis(1000),
            max_dirty_pages: 8192,
            clean_cache_pages: 16384,
            log_mode: LogMode::Off,
            log_dir: PathBuf::from("keel-log"),
            log_segment_size: 16 << 20,
            engine_id: 0x4b45_454c,
            blog_root: None,
            admin_socket: None,
            commit_delay: Duration::ZERO,
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }
}

/// How a handle opens a file (Btrieve open modes normal, read-only, exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    Normal,
    ReadOnly,
    Exclusive,
}
