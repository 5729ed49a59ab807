//! `blog.cfg`: which data files are archived, and the archival log of each.
//!
//! The file lives at `<root>/blog/blog.cfg` ([`config_path`]), under a root the
//! operator chooses, as Btrieve's `\BLOG\BLOG.CFG` lives on the drive whose files it
//! names. Its absence means no file is archived ([`BlogConfig::load`] returns an empty
//! configuration).
//!
//! # Format
//! - Entries `\path\data` or `\path\data=\path\log`; `/` and `\` are both separators.
//!   Several entries may share a line, separated by white space; an entry has no
//!   spaces, so a path with a space cannot be configured.
//! - A line holds at most [`MAX_LINE_CHARS`] characters (its line end not counted).
//! - `#` starts a comment that runs to the end of the line (so a path cannot hold `#`).
//! - Lines end with LF or CR LF; a UTF-8 byte-order mark at the start and one Ctrl-Z
//!   (0x1A) at the very end are ignored, as DOS editors write them.
//! - Paths name files *from the root*, as Btrieve's name files from the drive: every
//!   path starts with a separator, and `\db\a.btr` in `<root>/blog/blog.cfg` is
//!   `<root>/db/a.btr` ([`BlogConfig::under`]). So a configuration keeps meaning the
//!   same files when the whole tree is restored under another root — and a path without
//!   the leading separator is refused rather than guessed at (it is also what a space
//!   inside a path leaves behind: `\db\my file.btr` splits into `\db\my` and
//!   `file.btr`).
//! - The log: by default the data file's name with its extension replaced by `.log`,
//!   beside it (`\db\a.btr` → `\db\a.log`); a log target ending in a separator is a
//!   directory, holding the data file's stem + `.log` (`\db\a.btr=\logs\` →
//!   `\logs\a.log`); a log name without an extension gets `.log` (`=\logs\a` →
//!   `\logs\a.log`).
//! - Paths are compared after normalising `\` to `/`, dropping empty and `.`
//!   components; names are case-sensitive (Keel runs where file names are).
//!
//! # Errors
//! Every refusal names the line and column (1-based, in characters) and what to do.
//! Statuses, by what is wrong:
//! - **62, incorrect descriptor** — the file describes archival logging wrongly: a line
//!   over 256 characters; an entry with a space (a `=` with white space or nothing on
//!   one side: `a.btr= b.log`, `a.btr = b.log`); an entry with two `=`; a data file
//!   configured twice; one log for two data files; a log that is a configured data
//!   file; text that is not UTF-8; a file over [`MAX_CONFIG_BYTES`].
//! - **11, invalid file name** — one path is unusable: empty (`=\log`), not from the
//!   root (no leading separator, or a drive letter), naming a directory
//!   (ending in a separator) as a data file, holding `..` or a control character.
//! - Reading the file: the I/O error's own status (2, or 46 when access is denied).
//!
//! # Guarantees
//! [`BlogConfig::parse`] is a pure function of the bytes, and never panics.

use crate::status::{Error, Result, Status};
use crate::vfs::{read_exact_at, OpenMode, Vfs};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// The directory under the root that holds the configuration.
pub const CONFIG_DIR: &str = "blog";
/// The configuration's file name (lower case).
pub const CONFIG_NAME: &str = "blog.cfg";
/// The most characters a line may hold, its line end not counted.
pub const MAX_LINE_CHARS: usize = 256;
/// The largest configuration read: far more than any real one (4096 full lines), and
/// small enough that reading it whole is harmless.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// The extension of a log name that does not give one.
pub const LOG_EXTENSION: &str = "log";

/// Where the configuration of the root `root` is: `<root>/blog/blog.cfg`.
pub fn config_path(root: &Path) -> PathBuf {
    root.join(CONFIG_DIR).join(CONFIG_NAME)
}

/// What is wrong with a `blog.cfg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The bytes from here are not UTF-8.
    NotUtf8,
    /// The line holds this many characters.
    LineTooLong { chars: usize },
    /// A `=` with nothing (white space, or the line's end) after it.
    DanglingEquals { entry: String },
    /// A `=` alone between white space.
    LoneEquals,
    /// An entry with more than one `=`.
    TwoEquals { entry: String },
    /// An entry starting with `=`: no data file.
    EmptyData { entry: String },
    /// A path without a leading separator (a relative path, or a drive letter).
    NotFromRoot { path: String },
    /// A data path that names a directory (ends in a separator, or is the root).
    NoFileName { path: String },
    /// A path with a `..` component.
    ParentDir { path: String },
    /// A path with a control character.
    ControlChar { path: String },
    /// A data file configured again; the first entry is at `first`.
    DuplicateData {
        data: PathBuf,
        first: (usize, usize),
    },
    /// A log already configured for another data file.
    SharedLog {
        log: PathBuf,
        other: PathBuf,
        first: (usize, usize),
    },
    /// A log that is a configured data file (possibly its own).
    LogIsData { log: PathBuf, at: (usize, usize) },
    /// The file is this many bytes long.
    TooLarge { len: u64 },
}

/// A refused `blog.cfg`: where (1-based line and column, in characters) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub column: usize,
    pub kind: ConfigErrorKind,
}

impl ConfigErrorKind {
    /// The Btrieve status this is reported with (module doc).
    pub fn status(&self) -> Status {
        use ConfigErrorKind::*;
        match self {
            EmptyData { .. }
            | NotFromRoot { .. }
            | NoFileName { .. }
            | ParentDir { .. }
            | ControlChar { .. } => Status::InvalidFileName,
            NotUtf8
            | LineTooLong { .. }
            | DanglingEquals { .. }
            | LoneEquals
            | TwoEquals { .. }
            | DuplicateData { .. }
            | SharedLog { .. }
            | LogIsData { .. }
            | TooLarge { .. } => Status::IncorrectDescriptor,
        }
    }
}

impl ConfigError {
    pub fn status(&self) -> Status {
        self.kind.status()
    }

    /// The engine's error for this refusal of the configuration at `path`.
    pub fn to_error(&self, path: &Path) -> Error {
        Error::new(self.status(), format!("{}: {self}", path.display()))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConfigErrorKind::*;
        write!(f, "line {}, column {}: ", self.line, self.column)?;
        let fix = "write entries as \\path\\data or \\path\\data=\\path\\log";
        match &self.kind {
            NotUtf8 => write!(f, "the text is not UTF-8; save the file as UTF-8"),
            LineTooLong { chars } => write!(
                f,
                "the line holds {chars} characters, more than {MAX_LINE_CHARS}; put its \
                 entries on several lines"
            ),
            DanglingEquals { entry } => write!(
                f,
                "`{entry}` ends in `=`: an entry has no spaces; {fix}, with nothing \
                 between the paths and `=`"
            ),
            LoneEquals => write!(
                f,
                "a `=` stands between spaces: an entry has no spaces; {fix}, with nothing \
                 between the paths and `=`"
            ),
            TwoEquals { entry } => {
                write!(f, "`{entry}` holds more than one `=`; {fix}")
            }
            EmptyData { entry } => write!(
                f,
                "`{entry}` names no data file before `=` (an entry has no spaces); {fix}"
            ),
            NotFromRoot { path } => write!(
                f,
                "`{path}` does not start with `\\` or `/`: paths name files from the root, \
                 without a drive letter (a space inside a path also leaves such a piece: \
                 entries have no spaces); {fix}"
            ),
            NoFileName { path } => write!(
                f,
                "`{path}` names a directory, not a data file; name the file (only a log \
                 target may end in a separator)"
            ),
            ParentDir { path } => write!(
                f,
                "`{path}` holds a `..` component; name the file from the root without `..`"
            ),
            ControlChar { path } => write!(
                f,
                "`{}` holds a control character; name the file without one",
                path.escape_debug()
            ),
            DuplicateData { data, first } => write!(
                f,
                "data file {} is configured twice (first at line {}, column {}); keep one \
                 entry",
                data.display(),
                first.0,
                first.1
            ),
            SharedLog { log, other, first } => write!(
                f,
                "log {} is already the log of data file {} (line {}, column {}); two data \
                 files cannot share a log — give this one another log with `=`",
                log.display(),
                other.display(),
                first.0,
                first.1
            ),
            LogIsData { log, at } => write!(
                f,
                "log {} is a data file configured at line {}, column {}; a log cannot be a \
                 data file — give the entry another log with `=`",
                log.display(),
                at.0,
                at.1
            ),
            TooLarge { len } => write!(
                f,
                "the file is {len} bytes, more than the {MAX_CONFIG_BYTES} a blog.cfg may \
                 hold; is it the right file?"
            ),
        }
    }
}

/// Which data files are archived, and each one's log: data path → log path, ordered by
/// data path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlogConfig {
    logs: BTreeMap<PathBuf, PathBuf>,
}

impl BlogConfig {
    /// Parse the text of a `blog.cfg`. Paths come back from the root as written,
    /// normalised (`/`-separated, starting with `/`); [`BlogConfig::under`] places them
    /// under a root.
    pub fn parse(text: &[u8]) -> std::result::Result<BlogConfig, ConfigError> {
        let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        let text = text.strip_suffix(b"\x1A").unwrap_or(text);
        let text = match std::str::from_utf8(text) {
            Ok(t) => t,
            Err(e) => {
                let (line, column) = position(&text[..e.valid_up_to()]);
                return Err(ConfigError {
                    line,
                    column,
                    kind: ConfigErrorKind::NotUtf8,
                });
            }
        };
        let mut p = Parser::default();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let chars = raw.chars().count();
            if chars > MAX_LINE_CHARS {
                return Err(ConfigError {
                    line,
                    column: MAX_LINE_CHARS + 1,
                    kind: ConfigErrorKind::LineTooLong { chars },
                });
            }
            let code = raw.split('#').next().unwrap_or("");
            for (column, token) in tokens(code) {
                p.entry(token, line, column)?;
            }
        }
        Ok(BlogConfig { logs: p.logs })
    }

    /// Read `<root>/blog/blog.cfg` ([`config_path`]) through `vfs` and place its paths
    /// under `root`. A missing file is an empty configuration (no file is archived).
    pub fn load(vfs: &dyn Vfs, root: &Path) -> Result<BlogConfig> {
        let path = config_path(root);
        let io = |e: &std::io::Error| Error::io(e, format!("reading {}", path.display()));
        let file = match vfs.open(&path, OpenMode::ReadOnly) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BlogConfig::default()),
            Err(e) => return Err(io(&e)),
        };
        let len = file.len().map_err(|e| io(&e))?;
        if len > MAX_CONFIG_BYTES {
            let e = ConfigError {
                line: 1,
                column: 1,
                kind: ConfigErrorKind::TooLarge { len },
            };
            return Err(e.to_error(&path));
        }
        let mut text = vec![0u8; len as usize];
        read_exact_at(file.as_ref(), &mut text, 0).map_err(|e| io(&e))?;
        let config = BlogConfig::parse(&text).map_err(|e| e.to_error(&path))?;
        Ok(config.under(root))
    }

    /// The configuration with every path placed under `root` (`/db/a.btr` →
    /// `<root>/db/a.btr`): the root plays the drive's part (module doc).
    pub fn under(&self, root: &Path) -> BlogConfig {
        let place = |p: &Path| lexical(&root.join(p.strip_prefix("/").unwrap_or(p)));
        BlogConfig {
            logs: self
                .logs
                .iter()
                .map(|(d, l)| (place(d), place(l)))
                .collect(),
        }
    }

    /// The log of data file `data`, if it is archived. `data` is compared after
    /// dropping `.` components and repeated separators; it is not resolved against
    /// the filesystem (`..` and links are compared as written).
    pub fn log_for(&self, data: &Path) -> Option<&Path> {
        self.logs.get(&lexical(data)).map(PathBuf::as_path)
    }

    /// Every (data file, log), ordered by data path.
    pub fn entries(&self) -> impl Iterator<Item = (&Path, &Path)> {
        self.logs.iter().map(|(d, l)| (d.as_path(), l.as_path()))
    }

    /// How many data files are archived.
    pub fn len(&self) -> usize {
        self.logs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.logs.is_empty()
    }

    /// The configuration as `blog.cfg` text, one `data=log` entry a line, which
    /// [`BlogConfig::parse`] reads back to this configuration — when every path is from
    /// the root (as parse returns them) and each entry fits a line.
    pub fn to_text(&self) -> String {
        self.logs
            .iter()
            .map(|(d, l)| format!("{}={}\n", d.display(), l.display()))
            .collect()
    }
}

/// The 1-based line and column (in characters) just after `before`.
fn position(before: &[u8]) -> (usize, usize) {
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    // `before` is the valid UTF-8 prefix, so its last line is valid too.
    let column = 1 + std::str::from_utf8(&before[line_start..]).map_or(0, |s| s.chars().count());
    (line, column)
}

/// The white-space-separated tokens of `code` with their 1-based columns.
fn tokens(code: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut column = 0usize;
    let mut start: Option<(usize, usize)> = None; // (byte offset, column)
    let mut out = Vec::new();
    for (at, c) in code.char_indices() {
        column += 1;
        match (c.is_whitespace(), start) {
            (false, None) => start = Some((at, column)),
            (true, Some((from, col))) => {
                out.push((col, &code[from..at]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some((from, col)) = start {
        out.push((col, &code[from..]));
    }
    out.into_iter()
}

/// The path without `.` components or repeated separators (no filesystem access).
fn lexical(p: &Path) -> PathBuf {
    p.components().filter(|c| *c != Component::CurDir).collect()
}

/// A normalised path from the root: its components, and whether it was written
/// ending in a separator.
struct Written {
    parts: Vec<String>,
    dir: bool,
}

impl Written {
    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/{}", self.parts.join("/")))
    }
}

fn is_separator(c: char) -> bool {
    c == '/' || c == '\\'
}

/// The name `name` with `.log` in place of its extension, if it has one (a leading
/// dot does not start an extension).
fn stem_log(name: &str) -> String {
    let stem = Path::new(name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(name);
    format!("{stem}.{LOG_EXTENSION}")
}

/// `name`, with `.log` added if it has no extension.
fn with_log_extension(name: &str) -> String {
    match Path::new(name).extension() {
        Some(e) if !e.is_empty() => name.to_string(),
        // `x.` has an empty extension: complete it rather than write `x..log`.
        Some(_) => format!("{name}{LOG_EXTENSION}"),
        None => format!("{name}.{LOG_EXTENSION}"),
    }
}

#[derive(Default)]
struct Parser {
    logs: BTreeMap<PathBuf, PathBuf>,
    /// Where each data file was configured.
    data_at: BTreeMap<PathBuf, (usize, usize)>,
    /// Each log, the data file it belongs to, and where.
    log_of: BTreeMap<PathBuf, (PathBuf, (usize, usize))>,
}

impl Parser {
    fn entry(
        &mut self,
        token: &str,
        line: usize,
        column: usize,
    ) -> std::result::Result<(), ConfigError> {
        let err = |kind| ConfigError { line, column, kind };
        let (data, target) = match token.split_once('=') {
            None => (token, None),
            Some(("", "")) => return Err(err(ConfigErrorKind::LoneEquals)),
            Some(("", _)) => {
                return Err(err(ConfigErrorKind::EmptyData {
                    entry: token.into(),
                }))
            }
            Some((_, "")) => {
                return Err(err(ConfigErrorKind::DanglingEquals {
                    entry: token.into(),
                }))
            }
            Some((_, t)) if t.contains('=') => {
                return Err(err(ConfigErrorKind::TwoEquals {
                    entry: token.into(),
                }))
            }
            Some((d, t)) => (d, Some(t)),
        };
        let written = parse_path(data).map_err(err)?;
        let Some(name) = written.parts.last().filter(|_| !written.dir).cloned() else {
            return Err(err(ConfigErrorKind::NoFileName { path: data.into() }));
        };
        let log = match target {
            None => {
                let mut parts = written.parts.clone();
                parts.pop();
                parts.push(stem_log(&name));
                Written { parts, dir: false }
            }
            Some(t) => {
                let mut log = parse_path(t).map_err(err)?;
                match log.parts.last_mut() {
                    Some(last) if !log.dir => *last = with_log_extension(last),
                    // A directory (or the root): the data file's stem + `.log` in it.
                    _ => log.parts.push(stem_log(&name)),
                }
                log
            }
        };
        let (data, log) = (written.path(), log.path());
        if let Some(&first) = self.data_at.get(&data) {
            return Err(err(ConfigErrorKind::DuplicateData { data, first }));
        }
        if let Some((other, first)) = self.log_of.get(&log) {
            return Err(err(ConfigErrorKind::SharedLog {
                log,
                other: other.clone(),
                first: *first,
            }));
        }
        // A log that is a data file: this entry's own, or one configured before...
        if log == data {
            return Err(err(ConfigErrorKind::LogIsData {
                log,
                at: (line, column),
            }));
        }
        if let Some(&at) = self.data_at.get(&log) {
            return Err(err(ConfigErrorKind::LogIsData { log, at }));
        }
        // ...or this data file is a log configured before.
        if let Some((_, at)) = self.log_of.get(&data) {
            return Err(err(ConfigErrorKind::LogIsData { log: data, at: *at }));
        }
        self.data_at.insert(data.clone(), (line, column));
        self.log_of
            .insert(log.clone(), (data.clone(), (line, column)));
        self.logs.insert(data, log);
        Ok(())
    }
}

/// Check and normalise one path of an entry (module doc).
fn parse_path(p: &str) -> std::result::Result<Written, ConfigErrorKind> {
    if !p.starts_with(is_separator) {
        return Err(ConfigErrorKind::NotFromRoot { path: p.into() });
    }
    if p.chars().any(char::is_control) {
        return Err(ConfigErrorKind::ControlChar { path: p.into() });
    }
    let mut parts = Vec::new();
    for part in p.split(is_separator) {
        match part {
            "" | "." => {}
            ".." => return Err(ConfigErrorKind::ParentDir { path: p.into() }),
            name => parts.push(name.to_string()),
        }
    }
    Ok(Written {
        parts,
        dir: p.ends_with(is_separator) || p.ends_with("\\.") || p.ends_with("/."),
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
