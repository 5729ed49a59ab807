//! Reading `strace -f -y -xx` output: one [`Call`] per finished system call, with
//! calls that another process interrupted (`<unfinished ...>` … `<... resumed>`)
//! stitched back together.

mod args;

pub use args::{decode_quoted, fd_arg, int_arg, split_args, FdArg};
use std::collections::HashMap;

/// How the recorder runs strace: follow forks, decorate descriptors with their
/// paths (`-y`), print every string byte in hex (`-xx`) so data and names round-trip
/// exactly, and never abbreviate a buffer (`-s`, checked when parsing).
pub const STRACE_FLAGS: &[&str] = &[
    "-f",
    "-qq",
    "-y",
    "-xx",
    "-s",
    "16777216",
    "-e",
    "signal=none",
    "-e",
    "raw=read,readv",
];

/// The system calls that can change a directory's contents or a descriptor's
/// meaning. Reads are traced (raw, without their buffers) only because `read`
/// moves a file offset.
pub const TRACED_CALLS: &str =
    "open,openat,openat2,creat,close,close_range,dup,dup2,dup3,fcntl,lseek,read,readv,\
write,pwrite64,writev,pwritev,pwritev2,ftruncate,truncate,fallocate,fsync,fdatasync,sync,syncfs,\
rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,rmdir,link,linkat,symlink,symlinkat,\
clone,clone3,fork,vfork,mmap,copy_file_range,sendfile,splice,chdir,fchdir";

/// A system call's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ret {
    /// A value, with the path strace decorated it with (`3</x/y>`).
    Ok(i64, Option<Vec<u8>>),
    /// The call failed (`-1 ENOENT ...`): it changed nothing.
    Err,
    /// `?`: the process went away before the call returned.
    Unknown,
}

/// One finished system call.
#[derive(Clone, Debug)]
pub struct Call {
    pub pid: u32,
    pub name: String,
    pub args: Vec<String>,
    pub ret: Ret,
}

/// Turns lines into calls, keeping unfinished calls per process.
#[derive(Default)]
pub struct LineParser {
    pending: HashMap<u32, String>,
}

const UNFINISHED: &str = " <unfinished ...>";

impl LineParser {
    /// Parses one line; `Ok(None)` for lines that are not a finished call
    /// (signals, exits, the first half of an interrupted call).
    pub fn feed(&mut self, line: &str) -> Result<Option<Call>, String> {
        let line = line.trim_end();
        let (pid, rest) = split_pid(line)?;
        let rest = rest.trim_start();
        if rest.starts_with("+++") || rest.starts_with("---") || rest.is_empty() {
            return Ok(None);
        }
        let full = if let Some(after) = rest.strip_prefix("<... ") {
            let Some(i) = after.find(" resumed>") else {
                return Err(format!("cannot read strace line {line:?}"));
            };
            let Some(head) = self.pending.remove(&pid) else {
                // The first half was before tracing began (or outside the calls traced).
                return Ok(None);
            };
            format!("{head}{}", &after[i + " resumed>".len()..])
        } else {
            rest.to_string()
        };
        if let Some(head) = full.strip_suffix(UNFINISHED) {
            self.pending.insert(pid, head.to_string());
            return Ok(None);
        }
        parse_call(pid, &full).map(Some)
    }

    /// The calls some process began and never finished (its first half), by pid.
    pub fn unfinished(&self) -> impl Iterator<Item = (u32, &str)> {
        self.pending.iter().map(|(p, s)| (*p, s.as_str()))
    }
}

fn split_pid(line: &str) -> Result<(u32, &str), String> {
    let end = line
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(line.len());
    let pid = line[..end]
        .parse()
        .map_err(|_| format!("strace line without a pid: {line:?}"))?;
    Ok((pid, &line[end..]))
}

fn parse_call(pid: u32, text: &str) -> Result<Call, String> {
    let open = text
        .find('(')
        .ok_or_else(|| format!("cannot read strace line {text:?}"))?;
    let name = text[..open].to_string();
    let eq = text
        .rfind(" = ")
        .filter(|&eq| eq > open)
        .ok_or_else(|| format!("strace line without a result: {text:?}"))?;
    let inner = text[open + 1..eq].trim_end();
    let inner = inner
        .strip_suffix(')')
        .ok_or_else(|| format!("cannot read the arguments of {text:?}"))?;
    let args = split_args(inner);
    let ret = parse_ret(text[eq + 3..].trim());
    Ok(Call {
        pid,
        name,
        args,
        ret,
    })
}

fn parse_ret(s: &str) -> Ret {
    if s.starts_with('?') {
        return Ret::Unknown;
    }
    if s.starts_with('-') {
        return Ret::Err;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric()))
        .unwrap_or(s.len());
    let value = if let Some(h) = s[..end].strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else {
        s[..end].parse().ok()
    };
    let Some(value) = value else {
        return Ret::Unknown;
    };
    let deco = s[end..]
        .strip_prefix('<')
        .and_then(|d| decode_quoted(d, '>').ok());
    Ret::Ok(value, deco)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stitches_an_interrupted_call_and_reads_its_decorated_result() {
        let mut p = LineParser::default();
        assert!(p.feed("8093  vfork( <unfinished ...>").unwrap().is_none());
        assert!(p.feed("8094  +++ exited with 0 +++").unwrap().is_none());
        let c = p
            .feed("8093  <... vfork resumed>)              = 8094")
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.pid, c.name.as_str(), c.ret.clone()),
            (8093, "vfork", Ret::Ok(8094, None))
        );
        let c = p
            .feed(r#"7 openat(AT_FDCWD<\x2f\x74>, "\x61", O_WRONLY|O_CREAT, 0666) = 3<\x2f\x74\x2f\x61>"#)
            .unwrap()
            .unwrap();
        assert_eq!(c.args.len(), 4);
        assert_eq!(c.ret, Ret::Ok(3, Some(b"/t/a".to_vec())));
        let c = p.feed(
            r#"7 openat(AT_FDCWD<\x2f>, "\x62", O_RDONLY) = -1 ENOENT (No such file or directory)"#,
        );
        assert_eq!(c.unwrap().unwrap().ret, Ret::Err);
    }
}
