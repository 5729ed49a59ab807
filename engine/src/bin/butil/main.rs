//! `butil`: Keel's maintenance utility, after Btrieve's BUTIL. This file is argument
//! parsing and dispatch only; each command lives in `commands/`, all printing in
//! `report.rs`, and the work itself in the engine library.
//!
//! Commands are spelled as in Btrieve, which on Linux uses `-` for its `/` options:
//! `butil -stat FILE`. Before clap parses, a first argument of one dash and a word
//! (`-stat`, `-STAT`) is rewritten to the subcommand name (`stat`), so `butil stat FILE`
//! works too; command words are case-insensitive. A file name that starts with `-` goes
//! after `--`.
//!
//! A file another process's engine holds (status 85) is worked on through that
//! engine's admin endpoint, if it has one (`remote.rs`): `-stat`, `-check`,
//! `-startbu`, `-endbu` print what the holding engine answers, which is what butil
//! would have printed. `--direct` (anywhere on the line) turns that off.
//!
//! Exit codes: 0 success; on failure the Btrieve status number (1 if it is 0 or above
//! 255), after `butil: status N (meaning): context` and `what to do: advice` on stderr;
//! 64 (EX_USAGE) for a usage error — not 2, which is status 2, an I/O error.

mod commands;
mod remote;
mod report;

use clap::{Parser, Subcommand};
use engine::FileFormat;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "butil",
    version,
    about = "Keel's maintenance utility (Btrieve BUTIL commands)",
    after_help = "Commands are written as in Btrieve, with one leading dash (`butil -stat FILE`); \
                  `butil stat FILE` works too, in any letter case.\n\
                  Exit status: 0 on success; the Btrieve status number on failure (1 if it is \
                  above 255); 64 for a usage error.\n\
                  Transaction log: KEEL_LOG_MODE=off|logging|durability (default off) and \
                  KEEL_LOG_DIR (default keel-log) set the log every command uses.\n\
                  Archival logging: KEEL_BLOG_ROOT names the root whose blog/blog.cfg lists \
                  the archived files (unset: off); with it set, data file paths are made \
                  absolute before they are looked up there.",
    subcommand_value_name = "COMMAND",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Never ask the engine holding a file (its admin endpoint) to run the command:
    /// open the file here, and get status 85 if another process holds it.
    #[arg(long, global = true)]
    direct: bool,
}

#[derive(Subcommand, Debug, Clone)]
enum Command {
    /// Create FILE, empty, with the definition in the description file DESCFILE.
    Create { file: PathBuf, descfile: PathBuf },
    /// Print FILE's definition (as a description file) and statistics.
    Stat { file: PathBuf },
    /// Insert every record of the unformatted sequential file SEQFILE into FILE.
    Load { seqfile: PathBuf, file: PathBuf },
    /// Write every record of FILE to SEQFILE in the order of key KEYNUM (default 0).
    Save {
        file: PathBuf,
        seqfile: PathBuf,
        /// `N` (then KEYNUM): save in the order of a key of FILE.
        #[arg(value_name = "N", value_parser = parse_n, requires = "keynum")]
        n: Option<char>,
        /// The key whose order the records are saved in.
        #[arg(value_name = "KEYNUM")]
        keynum: Option<usize>,
    },
    /// Insert every record of SRC into the existing file DST (same record length).
    Copy { src: PathBuf, dst: PathBuf },
    /// Create DST, empty, with SRC's definition.
    Clone { dst: PathBuf, src: PathBuf },
    /// Create OUT (which must not exist) with FILE's definition in format 6 (shadow
    /// paging) or 5 (legacy pre-imaging), and copy every record of FILE into it.
    Convert {
        file: PathBuf,
        out: PathBuf,
        /// The format of OUT: 6 (shadow paging) or 5 (legacy, pre-imaging to OUT.PRE).
        #[arg(long = "to", value_name = "6|5", value_parser = parse_format, required = true)]
        to: FileFormat,
    },
    /// Check FILE's structure: every page, key and record.
    Check { file: PathBuf },
    /// Write every readable record of a damaged FILE to SEQFILE, skipping bad pages.
    Recover { file: PathBuf, seqfile: PathBuf },
    /// Put FILE, or every file of @LISTFILE, into continuous operations (online backup),
    /// all or nothing: the data files are frozen and changes go to NAME.^^^ deltas.
    Startbu {
        #[arg(value_name = "FILE|@LISTFILE")]
        target: String,
    },
    /// End continuous operations: roll each delta into its file and remove it.
    /// `-endbu -A [DIR...]` ends every file with a delta in DIR (default: here).
    Endbu {
        #[arg(value_name = "FILE|@LISTFILE|-A", allow_hyphen_values = true)]
        target: String,
        /// With -A: the directories to look in.
        dirs: Vec<PathBuf>,
    },
    /// Remove the deltas: each file goes back to its startbu instant.
    Killbu {
        #[arg(value_name = "FILE|@LISTFILE")]
        target: String,
    },
    /// Copy the backup BACKUP over the data file FILE (its delta must be gone).
    Restore { backup: PathBuf, file: PathBuf },
    /// Roll every file the transaction log in LOGDIR names forward, then recycle the
    /// segments no file needs (LOGDIR defaults to KEEL_LOG_DIR).
    Recoverlog { logdir: Option<PathBuf> },
    /// Roll a restored backup of FILE (every file of @LISTFILE, every archived file in
    /// DIR) forward from its archival log: only frames newer than the file, in order; a
    /// missing sequence stops it. Running it again finishes or repeats harmlessly.
    Rollfwd {
        #[arg(value_name = "FILE|@LISTFILE|DIR")]
        target: String,
        /// The archival log to read (one FILE only; default: the one blog.cfg names).
        #[arg(short = 'L', value_name = "LOG")]
        log: Option<PathBuf>,
        /// Stop after the frame with this FCR sequence (point-in-time recovery).
        #[arg(long = "to", value_name = "SEQ")]
        to: Option<u64>,
        /// Write the log's frames as text to OUT.
        #[arg(long = "dump", value_name = "OUT")]
        dump: Option<PathBuf>,
        /// Only write the dump (with --dump); no data file is changed.
        #[arg(long = "dump-only", requires = "dump")]
        dump_only: bool,
    },
}

/// Btrieve spelling: `-stat` → `stat`, any letter case → lower case. Only the first
/// argument (the command word) is touched; `-h`, `-V` and `--…` are left to clap.
fn btrieve_spelling(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    // `butil --direct -stat FILE`: the command word comes after the flag.
    let at = if args.get(1).is_some_and(|a| a == "--direct") {
        2
    } else {
        1
    };
    if let Some(word) = args.get_mut(at) {
        let text = word.to_str().unwrap_or_default();
        let bare = text.strip_prefix('-').unwrap_or(text);
        let is_word = bare.len() >= 2 && bare.bytes().all(|b| b.is_ascii_alphabetic());
        if is_word && !text.starts_with("--") {
            *word = OsString::from(bare.to_ascii_lowercase());
        }
    }
    args
}

/// The `N` of `-save FILE SEQFILE N KEYNUM` (Btrieve's `Y INDEXFILE` is not supported).
fn parse_n(word: &str) -> Result<char, String> {
    match word {
        "N" | "n" => Ok('N'),
        "Y" | "y" => Err(
            "`Y INDEXFILE` (save in the order of an external index) is not \
                          supported; use `N KEYNUM`"
                .into(),
        ),
        _ => Err("expected `N` followed by a key number".into()),
    }
}

/// The `6|5` of `-convert --to`: a file format by its version number.
fn parse_format(word: &str) -> Result<FileFormat, String> {
    word.parse::<u64>()
        .ok()
        .and_then(FileFormat::from_version)
        .ok_or_else(|| {
            "expected 6 (shadow paging) or 5 (legacy pre-imaging), the file format of OUT".into()
        })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(btrieve_spelling(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => return report::usage(&e),
    };
    let mut out = report::Report::default();
    let command = cli.command.clone();
    let result = match cli.command {
        Command::Create { file, descfile } => commands::create::run(&file, &descfile, &mut out),
        Command::Stat { file } => commands::stat::run(&file, &mut out),
        Command::Load { seqfile, file } => commands::load::run(&seqfile, &file, &mut out),
        Command::Save {
            file,
            seqfile,
            keynum,
            ..
        } => commands::save::run(&file, &seqfile, keynum.unwrap_or(0), &mut out),
        Command::Copy { src, dst } => commands::copy::run(&src, &dst, &mut out),
        Command::Clone { dst, src } => commands::clone::run(&dst, &src, &mut out),
        Command::Convert { file, out: dst, to } => {
            commands::convert::run(&file, &dst, to, &mut out)
        }
        Command::Check { file } => commands::check::run(&file, &mut out),
        Command::Recover { file, seqfile } => commands::recover::run(&file, &seqfile, &mut out),
        Command::Recoverlog { logdir } => commands::recoverlog::run(logdir, &mut out),
        Command::Startbu { target } => commands::backup::startbu(&target, &mut out),
        Command::Endbu { target, dirs } => commands::backup::endbu(&target, &dirs, &mut out),
        Command::Killbu { target } => commands::backup::killbu(&target, &mut out),
        Command::Restore { backup, file } => commands::backup::restore(&backup, &file, &mut out),
        Command::Rollfwd {
            target,
            log,
            to,
            dump,
            dump_only,
        } => commands::rollfwd::run(
            &commands::rollfwd::Args {
                target,
                log,
                to,
                dump,
                dump_only,
            },
            &mut out,
        ),
    };
    if let Err(e) = &result {
        if e.status == engine::Status::FileInUse && !cli.direct {
            if let Some(reply) = through_endpoint(&command) {
                return report::reply(&reply);
            }
        }
    }
    report::print(&out);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report::failure(&e),
    }
}

/// The command run by the engine holding its file (status 85 here), if the command is
/// one the admin endpoint serves and that engine answers. `None`: report as before.
fn through_endpoint(command: &Command) -> Option<engine::admin::Reply> {
    use engine::admin::text::Named;
    use engine::admin::Request;
    let shown = |files: Vec<Named>| files.into_iter().map(|f| f.shown).collect::<Vec<_>>();
    match command {
        Command::Stat { file } => remote::ask(std::slice::from_ref(file), |mut p| Request::Stat {
            path: p.remove(0),
        }),
        Command::Check { file } => remote::ask(std::slice::from_ref(file), |mut p| {
            Request::Check { path: p.remove(0) }
        }),
        Command::Startbu { target } => {
            let files = commands::backup::startbu_targets(target).ok()?;
            remote::ask(&shown(files), |paths| Request::StartBackup { paths })
        }
        Command::Endbu { target, dirs } => {
            let e = commands::engine().ok()?;
            let files = commands::backup::endbu_targets(&e, target, dirs).ok()?;
            drop(e);
            remote::ask(&shown(files), |paths| Request::EndBackup {
                paths: Some(paths),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spelled(args: &[&str]) -> Vec<String> {
        btrieve_spelling(args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn btrieve_spelling_rewrites_only_the_command_word() {
        assert_eq!(spelled(&["butil", "-stat", "-x"]), ["butil", "stat", "-x"]);
        assert_eq!(spelled(&["butil", "-STAT", "f"]), ["butil", "stat", "f"]);
        assert_eq!(
            spelled(&["butil", "Load", "a", "b"]),
            ["butil", "load", "a", "b"]
        );
        assert_eq!(spelled(&["butil", "-h"]), ["butil", "-h"]);
        assert_eq!(spelled(&["butil", "--help"]), ["butil", "--help"]);
        assert_eq!(spelled(&["butil", "-s2"]), ["butil", "-s2"]);
        assert_eq!(spelled(&["butil"]), ["butil"]);
        assert_eq!(
            spelled(&["butil", "--direct", "-STAT", "f"]),
            ["butil", "--direct", "stat", "f"]
        );
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn convert_target_format() {
        let to = |args: &[&str]| match Cli::try_parse_from(args) {
            Ok(Cli {
                command: Command::Convert { to, .. },
                ..
            }) => Ok(to),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.kind()),
        };
        assert_eq!(
            to(&["butil", "convert", "f", "o", "--to", "5"]),
            Ok(FileFormat::V5)
        );
        assert_eq!(
            to(&["butil", "convert", "f", "o", "--to=6"]),
            Ok(FileFormat::V6)
        );
        assert_eq!(
            to(&["butil", "convert", "--to", "6", "f", "o"]),
            Ok(FileFormat::V6)
        );
        assert!(to(&["butil", "convert", "f", "o"]).is_err());
        assert!(to(&["butil", "convert", "f", "o", "--to", "7"]).is_err());
        assert!(to(&["butil", "convert", "f", "o", "--to", "v5"]).is_err());
        assert!(to(&["butil", "convert", "f", "o", "--to"]).is_err());
    }

    #[test]
    fn save_order() {
        let key = |args: &[&str]| match Cli::try_parse_from(args) {
            Ok(Cli {
                command: Command::Save { keynum, .. },
                ..
            }) => Ok(keynum),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.kind()),
        };
        assert_eq!(key(&["butil", "save", "f", "s"]), Ok(None));
        assert_eq!(key(&["butil", "save", "f", "s", "n", "2"]), Ok(Some(2)));
        assert!(key(&["butil", "save", "f", "s", "N"]).is_err());
        assert!(key(&["butil", "save", "f", "s", "N", "x"]).is_err());
        assert!(key(&["butil", "save", "f", "s", "Y", "idx"]).is_err());
        assert!(key(&["butil", "save", "f", "s", "K", "1"]).is_err());
    }
}
