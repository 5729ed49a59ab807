//! The recorder: strace's calls in, logical [`Op`]s out.
//!
//! It keeps what the kernel keeps: per-process descriptor tables (shared
//! by threads, copied by fork), open file descriptions with their offsets and
//! O_APPEND (shared by dup and fork), each process's working directory, and the
//! directory's current contents (an [`FsState`] replayed as ops are made), so a
//! write through any descriptor lands on the right file at the right offset.

use crate::fsstate::FsState;
use crate::strace::{decode_quoted, fd_arg, int_arg, Call, FdArg, LineParser, Ret};
use crate::trace::{Ino, Op, Snapshot, TraceOp, MAX_FILE};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// What an open file description refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// A regular file inside the recorded directory.
    File(Ino),
    /// A directory inside it (`""` is the directory itself).
    Dir(String),
    /// Anything outside it.
    Outside,
    /// A descriptor the first process inherited (0, 1, 2…): fd 1 is the command's
    /// standard output, whose writes are its acknowledgements.
    Inherited(i64),
}

#[derive(Clone, Debug)]
struct Ofd {
    target: Target,
    /// The absolute path it was opened by (for fchdir and relative lookups).
    path: Option<PathBuf>,
    offset: u64,
    append: bool,
}

#[derive(Clone, Debug)]
struct Proc {
    table: usize,
    cwd: PathBuf,
}

/// Builds the op list from calls.
pub struct Recorder {
    dir: PathBuf,
    state: FsState,
    next_ino: Ino,
    pub(super) ops: Vec<TraceOp>,
    ofds: Vec<Ofd>,
    tables: Vec<HashMap<i64, usize>>,
    procs: HashMap<u32, Proc>,
    start_cwd: PathBuf,
}

impl Recorder {
    /// A recorder for `dir` (canonical) starting from `snapshot`.
    pub fn new(dir: PathBuf, snapshot: &Snapshot, start_cwd: PathBuf) -> Recorder {
        let next_ino = snapshot.files.iter().map(|f| f.ino).max().unwrap_or(0) + 1;
        Recorder {
            dir,
            state: FsState::from_snapshot(snapshot),
            next_ino,
            ops: Vec::new(),
            ofds: Vec::new(),
            tables: Vec::new(),
            procs: HashMap::new(),
            start_cwd,
        }
    }

    /// The ops so far.
    pub fn into_ops(self) -> Vec<TraceOp> {
        self.ops
    }

    /// Makes sure `pid` has a descriptor table. A process first seen before its
    /// parent's clone returned is the child of the clone still unfinished.
    fn proc_for(&mut self, pid: u32, parser: &LineParser) -> Proc {
        if let Some(p) = self.procs.get(&pid) {
            return p.clone();
        }
        let parent = parser
            .unfinished()
            .filter(|(p, head)| *p != pid && is_clone(head))
            .map(|(p, head)| (p, head.contains("CLONE_FILES")))
            .min();
        let proc = match parent {
            Some((ppid, shared)) if self.procs.contains_key(&ppid) => self.child_of(ppid, shared),
            _ => {
                self.tables.push(HashMap::new());
                Proc {
                    table: self.tables.len() - 1,
                    cwd: self.start_cwd.clone(),
                }
            }
        };
        self.procs.insert(pid, proc.clone());
        proc
    }

    fn child_of(&mut self, ppid: u32, shared_files: bool) -> Proc {
        let parent = self.procs[&ppid].clone();
        if shared_files {
            return parent;
        }
        let copy = self.tables[parent.table].clone();
        self.tables.push(copy);
        Proc {
            table: self.tables.len() - 1,
            cwd: parent.cwd,
        }
    }

    /// The open file description behind `fd`, made on first use for inherited ones.
    fn ofd(&mut self, proc: &Proc, fd: i64) -> usize {
        if let Some(&i) = self.tables[proc.table].get(&fd) {
            return i;
        }
        self.ofds.push(Ofd {
            target: Target::Inherited(fd),
            path: None,
            offset: 0,
            append: false,
        });
        let i = self.ofds.len() - 1;
        self.tables[proc.table].insert(fd, i);
        i
    }

    fn rel(&self, abs: &Path) -> Result<Option<String>, String> {
        let Ok(rest) = abs.strip_prefix(&self.dir) else {
            return Ok(None);
        };
        let s = rest
            .to_str()
            .ok_or_else(|| format!("{} is not UTF-8; crashfs needs UTF-8 names", abs.display()))?;
        Ok(Some(s.to_string()))
    }

    fn push(&mut self, op: Op, call: &Call, what: String) {
        self.state.apply(&op, None);
        self.ops.push(TraceOp {
            op,
            pid: call.pid,
            call: what,
        });
    }

    /// Resolves a path argument against a directory descriptor or the working directory.
    fn resolve(
        &mut self,
        proc: &Proc,
        dirfd: Option<&FdArg>,
        raw: &str,
    ) -> Result<PathBuf, String> {
        let bytes = quoted(raw)?;
        let p = PathBuf::from(std::ffi::OsString::from(
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
        if p.is_absolute() {
            return Ok(normalise(&p));
        }
        let base = match dirfd {
            Some(FdArg { path: Some(b), .. }) => {
                PathBuf::from(String::from_utf8_lossy(b).into_owned())
            }
            Some(FdArg { fd: Some(fd), .. }) => {
                let i = self.ofd(proc, *fd);
                self.ofds[i]
                    .path
                    .clone()
                    .unwrap_or_else(|| proc.cwd.clone())
            }
            _ => proc.cwd.clone(),
        };
        Ok(normalise(&base.join(p)))
    }

    /// Handles one finished call.
    pub fn handle(&mut self, call: &Call, parser: &LineParser) -> Result<(), String> {
        let proc = self.proc_for(call.pid, parser);
        let Ret::Ok(ret, ref ret_path) = call.ret else {
            return Ok(());
        };
        let a = &call.args;
        let arg = |i: usize| {
            a.get(i)
                .map(String::as_str)
                .ok_or_else(|| format!("{} has too few arguments", call.name))
        };
        let fd = |i: usize| -> Result<i64, String> {
            fd_arg(arg(i)?)
                .and_then(|f| f.fd)
                .ok_or_else(|| format!("{}: cannot read descriptor {:?}", call.name, a.get(i)))
        };
        match call.name.as_str() {
            "open" | "creat" | "openat" | "openat2" => {
                let (dirfd, path_i, flags) = match call.name.as_str() {
                    "open" => (None, 0, arg(1)?.to_string()),
                    "creat" => (None, 0, "O_CREAT|O_WRONLY|O_TRUNC".to_string()),
                    _ => (fd_arg(arg(0)?), 1, arg(2)?.to_string()),
                };
                let abs = match ret_path {
                    Some(b) => PathBuf::from(String::from_utf8_lossy(b).into_owned()),
                    None => self.resolve(&proc, dirfd.as_ref(), arg(path_i)?)?,
                };
                self.open(call, &proc, ret, abs, &flags)?;
            }
            "close" => {
                self.tables[proc.table].remove(&fd(0)?);
            }
            "close_range" if !arg(2)?.contains("CLOSE_RANGE_CLOEXEC") => {
                let (lo, hi) = (
                    int_arg(arg(0)?).unwrap_or(0),
                    int_arg(arg(1)?).unwrap_or(i64::MAX),
                );
                self.tables[proc.table].retain(|fd, _| *fd < lo || *fd > hi);
            }
            "dup" | "dup2" | "dup3" => {
                let i = self.ofd(&proc, fd(0)?);
                self.tables[proc.table].insert(ret, i);
            }
            "fcntl" => {
                let cmd = arg(1)?;
                if cmd.starts_with("F_DUPFD") {
                    let i = self.ofd(&proc, fd(0)?);
                    self.tables[proc.table].insert(ret, i);
                } else if cmd == "F_SETFL" {
                    let i = self.ofd(&proc, fd(0)?);
                    self.ofds[i].append = arg(2)?.contains("O_APPEND");
                }
            }
            "lseek" => {
                let i = self.ofd(&proc, fd(0)?);
                self.ofds[i].offset = ret as u64;
            }
            "read" | "readv" => {
                let i = self.ofd(&proc, fd(0)?);
                self.ofds[i].offset = self.ofds[i].offset.saturating_add(ret as u64);
            }
            "write" | "writev" | "pwrite64" | "pwritev" | "pwritev2" => {
                self.write(call, &proc, ret as usize)?
            }
            "ftruncate" => {
                let i = self.ofd(&proc, fd(0)?);
                if let Target::File(ino) = self.ofds[i].target {
                    let len = int_arg(arg(1)?).ok_or("ftruncate: cannot read the length")? as u64;
                    within_model(len)?;
                    self.push(
                        Op::SetLen { ino, len },
                        call,
                        format!("ftruncate(fd {}, {len})", fd(0)?),
                    );
                }
            }
            "truncate" => {
                let abs = self.resolve(&proc, None, arg(0)?)?;
                if let Some(r) = self.rel(&abs)? {
                    let ino = self
                        .state
                        .file(&r)
                        .ok_or_else(|| format!("truncate of {r}, which the trace does not know"))?;
                    let len = int_arg(arg(1)?).ok_or("truncate: cannot read the length")? as u64;
                    within_model(len)?;
                    self.push(
                        Op::SetLen { ino, len },
                        call,
                        format!("truncate({r}, {len})"),
                    );
                }
            }
            "fallocate" => {
                let i = self.ofd(&proc, fd(0)?);
                if let Target::File(ino) = self.ofds[i].target {
                    let mode = arg(1)?;
                    let end = int_arg(arg(2)?)
                        .unwrap_or(0)
                        .saturating_add(int_arg(arg(3)?).unwrap_or(0));
                    within_model(end.max(0) as u64)?;
                    if mode == "0" {
                        if end as u64 > self.state.len(ino) {
                            self.push(
                                Op::SetLen {
                                    ino,
                                    len: end as u64,
                                },
                                call,
                                format!("fallocate(fd {}, 0, ..{end})", fd(0)?),
                            );
                        }
                    } else if mode != "FALLOC_FL_KEEP_SIZE" {
                        return Err(format!("fallocate mode {mode} is not modelled"));
                    }
                }
            }
            "fsync" | "fdatasync" => {
                let i = self.ofd(&proc, fd(0)?);
                let what = format!("{}(fd {})", call.name, fd(0)?);
                match self.ofds[i].target.clone() {
                    Target::File(ino) => self.push(Op::FileSync { ino }, call, what),
                    Target::Dir(path) => self.push(Op::DirSync { path }, call, what),
                    _ => {}
                }
            }
            "sync" | "syncfs" => self.push(Op::SyncAll, call, format!("{}()", call.name)),
            "rename" | "renameat" | "renameat2" => {
                let (from, to) = if call.name == "rename" {
                    (
                        self.resolve(&proc, None, arg(0)?)?,
                        self.resolve(&proc, None, arg(1)?)?,
                    )
                } else {
                    let (d0, d1) = (fd_arg(arg(0)?), fd_arg(arg(2)?));
                    (
                        self.resolve(&proc, d0.as_ref(), arg(1)?)?,
                        self.resolve(&proc, d1.as_ref(), arg(3)?)?,
                    )
                };
                if call.name == "renameat2" && arg(4)?.contains("RENAME_EXCHANGE") {
                    return Err("renameat2(RENAME_EXCHANGE) is not modelled".into());
                }
                self.rename(call, &from, &to)?;
            }
            "unlink" | "unlinkat" | "rmdir" => {
                let (abs, dir) = match call.name.as_str() {
                    "unlinkat" => {
                        let d = fd_arg(arg(0)?);
                        (
                            self.resolve(&proc, d.as_ref(), arg(1)?)?,
                            arg(2)?.contains("AT_REMOVEDIR"),
                        )
                    }
                    "rmdir" => (self.resolve(&proc, None, arg(0)?)?, true),
                    _ => (self.resolve(&proc, None, arg(0)?)?, false),
                };
                if let Some(r) = self.rel(&abs)? {
                    if dir {
                        self.push(Op::Rmdir { path: r.clone() }, call, format!("rmdir({r})"));
                    } else {
                        let ino = self.state.file(&r).ok_or_else(|| {
                            format!("unlink of {r}, which the trace does not know")
                        })?;
                        self.push(
                            Op::Unlink {
                                path: r.clone(),
                                ino,
                            },
                            call,
                            format!("unlink({r})"),
                        );
                    }
                }
            }
            "mkdir" | "mkdirat" => {
                let abs = if call.name == "mkdir" {
                    self.resolve(&proc, None, arg(0)?)?
                } else {
                    let d = fd_arg(arg(0)?);
                    self.resolve(&proc, d.as_ref(), arg(1)?)?
                };
                if let Some(r) = self.rel(&abs)? {
                    self.push(Op::Mkdir { path: r.clone() }, call, format!("mkdir({r})"));
                }
            }
            "link" | "linkat" | "symlink" | "symlinkat" => {
                for (i, s) in a.iter().enumerate() {
                    if s.starts_with('"') {
                        let d = if i > 0 { fd_arg(&a[i - 1]) } else { None };
                        let abs = self.resolve(&proc, d.as_ref(), s)?;
                        if self.rel(&abs)?.is_some() {
                            return Err(format!(
                                "{} inside the directory is not modelled (hard and symbolic links)",
                                call.name
                            ));
                        }
                    }
                }
            }
            "mmap" => {
                let shared_write = arg(2)?.contains("PROT_WRITE") && arg(3)?.contains("MAP_SHARED");
                if let Some(f) = fd_arg(arg(4)?).and_then(|f| f.fd).filter(|fd| *fd >= 0) {
                    let i = self.ofd(&proc, f);
                    if shared_write && matches!(self.ofds[i].target, Target::File(_)) {
                        return Err("a shared writable mmap of a file in the directory: writes through memory are not modelled".into());
                    }
                }
            }
            "copy_file_range" | "sendfile" | "splice" => {
                let out_i = if call.name == "sendfile" { 0 } else { 2 };
                let i = self.ofd(&proc, fd(out_i)?);
                if matches!(self.ofds[i].target, Target::File(_)) {
                    return Err(format!(
                        "{} into a file in the directory is not modelled",
                        call.name
                    ));
                }
            }
            "chdir" => {
                let abs = self.resolve(&proc, None, arg(0)?)?;
                self.set_cwd(call.pid, abs);
            }
            "fchdir" => {
                let i = self.ofd(&proc, fd(0)?);
                if let Some(p) = self.ofds[i].path.clone() {
                    self.set_cwd(call.pid, p);
                }
            }
            "clone" | "clone3" | "fork" | "vfork" => {
                let child = ret as u32;
                if !self.procs.contains_key(&child) {
                    let shared = a.iter().any(|s| s.contains("CLONE_FILES"));
                    let p = self.child_of(call.pid, shared);
                    self.procs.insert(child, p);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn set_cwd(&mut self, pid: u32, cwd: PathBuf) {
        if let Some(p) = self.procs.get_mut(&pid) {
            p.cwd = cwd;
        }
    }

    fn open(
        &mut self,
        call: &Call,
        proc: &Proc,
        fd: i64,
        abs: PathBuf,
        flags: &str,
    ) -> Result<(), String> {
        let append = flags.contains("O_APPEND");
        let target = match self.rel(&abs)? {
            None => Target::Outside,
            Some(r) if self.state.is_dir(&r) => Target::Dir(r),
            Some(r) => match self.state.file(&r) {
                Some(ino) => {
                    if flags.contains("O_TRUNC") && self.state.len(ino) > 0 {
                        self.push(Op::SetLen { ino, len: 0 }, call, format!("open({r}, O_TRUNC)"));
                    }
                    Target::File(ino)
                }
                None if flags.contains("O_CREAT") => {
                    let ino = self.next_ino;
                    self.next_ino += 1;
                    self.push(Op::Create { path: r.clone(), ino }, call, format!("open({r}, O_CREAT)"));
                    Target::File(ino)
                }
                None => return Err(format!("{r} was opened but the trace never made it (was it made outside the traced calls?)")),
            },
        };
        self.ofds.push(Ofd {
            target,
            path: Some(abs),
            offset: 0,
            append,
        });
        let i = self.ofds.len() - 1;
        self.tables[proc.table].insert(fd, i);
        Ok(())
    }

    fn write(&mut self, call: &Call, proc: &Proc, n: usize) -> Result<(), String> {
        let a = &call.args;
        let fd = a
            .first()
            .and_then(|s| fd_arg(s))
            .and_then(|f| f.fd)
            .ok_or("write: cannot read the descriptor")?;
        let vectored = call.name.contains('v');
        let mut data = if vectored {
            iov_bytes(a.get(1).map_or("", String::as_str))?
        } else {
            quoted(a.get(1).map_or("", String::as_str))?
        };
        if data.len() < n {
            return Err(format!(
                "{}: strace showed {} of {n} bytes written",
                call.name,
                data.len()
            ));
        }
        data.truncate(n);
        let positional = call.name.starts_with('p');
        let explicit = if positional {
            // pwrite64(fd, buf, count, offset), pwritev{,2}(fd, iov, count, offset[, flags]).
            let off = a
                .get(3)
                .and_then(|s| int_arg(s))
                .ok_or_else(|| format!("{}: cannot read the offset", call.name))?;
            (off >= 0).then_some(off as u64)
        } else {
            None
        };
        let i = self.ofd(proc, fd);
        match self.ofds[i].target.clone() {
            Target::File(ino) => {
                let offset = match explicit {
                    Some(o) => o,
                    None if self.ofds[i].append => self.state.len(ino),
                    None => self.ofds[i].offset,
                };
                within_model(offset.saturating_add(n as u64))?;
                if explicit.is_none() {
                    self.ofds[i].offset = offset + n as u64;
                }
                let what = format!("{}(fd {fd}, {n} bytes @ {offset})", call.name);
                self.push(Op::Write { ino, offset, data }, call, what);
            }
            Target::Inherited(1) => self.push(
                Op::Print { text: data },
                call,
                format!("{}(stdout, {n} bytes)", call.name),
            ),
            Target::Dir(_) => return Err("a write to a directory descriptor".into()),
            _ => {}
        }
        Ok(())
    }

    fn rename(&mut self, call: &Call, from: &Path, to: &Path) -> Result<(), String> {
        match (self.rel(from)?, self.rel(to)?) {
            (None, None) => Ok(()),
            (None, Some(t)) => Err(format!(
                "a file renamed into the directory from outside it ({t}) is not modelled"
            )),
            (Some(f), t) => {
                if self.state.is_dir(&f) {
                    return Err(format!("renaming the directory {f} is not modelled"));
                }
                let ino = self
                    .state
                    .file(&f)
                    .ok_or_else(|| format!("rename of {f}, which the trace does not know"))?;
                match t {
                    Some(t) => self.push(
                        Op::Rename {
                            from: f.clone(),
                            to: t.clone(),
                            ino,
                        },
                        call,
                        format!("rename({f}, {t})"),
                    ),
                    None => self.push(
                        Op::Unlink {
                            path: f.clone(),
                            ino,
                        },
                        call,
                        format!("rename({f}, outside)"),
                    ),
                }
                Ok(())
            }
        }
    }

    /// The state after every op: what the directory should hold now.
    pub fn state(&self) -> &FsState {
        &self.state
    }
}

fn within_model(end: u64) -> Result<(), String> {
    if end > MAX_FILE {
        return Err(format!("a file would reach {end} bytes; crashfs keeps files in memory and models at most {MAX_FILE}"));
    }
    Ok(())
}

fn is_clone(head: &str) -> bool {
    ["clone(", "clone3(", "fork(", "vfork("]
        .iter()
        .any(|c| head.starts_with(c))
}

fn quoted(raw: &str) -> Result<Vec<u8>, String> {
    let body = raw
        .trim()
        .strip_prefix('"')
        .ok_or_else(|| format!("expected a string, found {raw:?}"))?;
    decode_quoted(body, '"')
}

/// The bytes of an iovec array `[{iov_base="…", iov_len=N}, …]`, in order.
fn iov_bytes(raw: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(i) = rest.find("iov_base=\"") {
        let body = &rest[i + "iov_base=\"".len()..];
        out.extend(decode_quoted(body, '"')?);
        rest = &body[1..];
        let Some(close) = rest.find("iov_len=") else {
            break;
        };
        rest = &rest[close..];
    }
    Ok(out)
}

/// Lexically removes `.` and `..`.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}
