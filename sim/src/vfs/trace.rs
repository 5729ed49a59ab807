//! The I/O trace: a `tracing` event for every I/O call (debug) and every fault (info),
//! target `sim::vfs`, and a running 64-bit hash (FNV-style, a word at a time) over a
//! canonical encoding of the same events, so two runs of one seed can prove they did
//! exactly the same I/O.
//!
//! The encoding is fixed-width little-endian integers and length-prefixed byte strings,
//! so no two different event sequences share an encoding; it never depends on map
//! iteration order, addresses or time.

use super::faults::FaultKind;
use std::io;
use std::path::{Path, PathBuf};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Every kind of call the trace records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Open,
    Remove,
    Rename,
    Exists,
    ListDir,
    SyncDir,
    Read,
    Write,
    Sync,
    SetLen,
    Len,
    Lock,
    /// Simulator helpers (not I/O steps, but they change state, so they are hashed).
    WriteDurable,
    Copy,
    PowerLoss,
    ProcessCrash,
    /// `create_dir_all` (an I/O step only with directories as objects).
    CreateDirAll,
    /// The simulator's helper that makes a directory durable at once.
    DirDurable,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Open => "open",
            Op::Remove => "remove",
            Op::Rename => "rename",
            Op::Exists => "exists",
            Op::ListDir => "list_dir",
            Op::SyncDir => "sync_dir",
            Op::Read => "read",
            Op::Write => "write",
            Op::Sync => "sync",
            Op::SetLen => "set_len",
            Op::Len => "len",
            Op::Lock => "lock",
            Op::WriteDurable => "write_file_durable",
            Op::Copy => "copy_file",
            Op::PowerLoss => "power_loss",
            Op::ProcessCrash => "process_crash",
            Op::CreateDirAll => "create_dir_all",
            Op::DirDurable => "create_dir_durable",
        }
    }
}

/// Something the trace records about a fault beyond its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FaultEvent {
    Kind(FaultKind),
    /// An armed crash point fired.
    CrashPoint,
    /// An aimed I/O error fired.
    Aimed,
    /// Directories (and the names under them) a power loss took with their creation.
    LostDirs,
    /// A failed sync forgot the file's pending writes (`SyncFailure::Linux`).
    SyncForgot,
    /// A read touched a sticky bad sector.
    StickyRead,
    /// Disk full on a create, rename or sync (`FaultConfig::namespace_enospc`).
    NamespaceFull,
}

impl FaultEvent {
    /// Whether an operation can observe the fault: an error it returns (I/O error, disk
    /// full, a failed or dropping sync, an armed crash or aimed error) or damage it may
    /// read (misdirected write, latent corruption). What a power loss did is seen only
    /// as an older state, never as an error.
    fn observable(self) -> bool {
        !matches!(
            self,
            FaultEvent::LostDirs
                | FaultEvent::Kind(
                    FaultKind::LostUnsyncedWrite
                        | FaultKind::TornWrite
                        | FaultKind::ReorderedWrites
                        | FaultKind::LostDirOp
                )
        )
    }

    fn name(self) -> &'static str {
        match self {
            FaultEvent::Kind(k) => k.name(),
            FaultEvent::CrashPoint => "crash_point",
            FaultEvent::Aimed => "aimed_error",
            FaultEvent::LostDirs => "lost_dirs",
            FaultEvent::SyncForgot => "sync_failed_linux",
            FaultEvent::StickyRead => "sticky_read_error",
            FaultEvent::NamespaceFull => "disk_full_namespace",
        }
    }

    fn code(self) -> u8 {
        match self {
            FaultEvent::Kind(k) => k as u8,
            FaultEvent::CrashPoint => 0xFF,
            FaultEvent::Aimed => 0xFD,
            FaultEvent::LostDirs => 0xFE,
            FaultEvent::SyncForgot => 0xFC,
            FaultEvent::StickyRead => 0xFB,
            FaultEvent::NamespaceFull => 0xFA,
        }
    }
}

/// The running hash.
#[derive(Clone, Debug)]
pub(super) struct Trace {
    hash: u64,
    /// The path of every fault an operation can observe (an error it returns, or damage
    /// it reads), in order: fault attribution asks which paths were hit since a mark.
    observable: Vec<PathBuf>,
}

impl Default for Trace {
    fn default() -> Trace {
        Trace {
            hash: FNV_OFFSET,
            observable: Vec::new(),
        }
    }
}

impl Trace {
    pub fn value(&self) -> u64 {
        self.hash
    }

    /// Fold bytes in a word at a time (the last word zero-padded: callers that mix
    /// lengths prefix them, as `blob` does).
    fn bytes(&mut self, bytes: &[u8]) {
        // Whole words straight from the slice; only the tail goes through a padded copy.
        let mut words = bytes.chunks_exact(8);
        for chunk in &mut words {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.u64(u64::from_le_bytes(word));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            let mut word = [0u8; 8];
            word[..tail.len()].copy_from_slice(tail);
            self.u64(u64::from_le_bytes(word));
        }
    }

    /// Fold one word: an FNV-style multiply, then a rotation so the next multiply
    /// carries this word's high bits into the low ones (a byte at a time was a few
    /// percent of a campaign). Each step is a bijection of the hash for a given word,
    /// so two different words never fold to the same hash from the same state.
    fn u64(&mut self, v: u64) {
        self.hash = (self.hash ^ v).wrapping_mul(FNV_PRIME).rotate_left(23);
    }

    fn blob(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.bytes(bytes);
    }

    fn path(&mut self, path: &Path) {
        self.blob(path.as_os_str().as_encoded_bytes());
    }

    /// A call: step (0 for helpers that are not steps), op, path, offset, length.
    pub fn call(&mut self, step: u64, op: Op, path: &Path, offset: u64, len: u64) {
        tracing::debug!(
            target: "sim::vfs",
            step, op = op.name(), path = %path.display(), offset, len
        );
        self.bytes(b"C");
        self.u64(step);
        self.bytes(&[op as u8]);
        self.path(path);
        self.u64(offset);
        self.u64(len);
    }

    /// A second path (rename's target, copy's destination).
    pub fn path2(&mut self, path: &Path) {
        self.bytes(b"P");
        self.path(path);
    }

    /// The data a write carries.
    pub fn data(&mut self, data: &[u8]) {
        self.bytes(b"D");
        // Written data is most of the bytes a run traces: fold it through a hardware
        // CRC first (byte-at-a-time FNV over every page written was a tenth of a
        // campaign's time). A determinism check still sees any change in it.
        self.u64(data.len() as u64);
        self.u64(u64::from(crc32c::crc32c(data)));
    }

    /// A call's outcome.
    pub fn outcome<T>(&mut self, result: &io::Result<T>) {
        self.bytes(b"R");
        self.bytes(&[outcome_code(result)]);
    }

    /// A fault: its kind, the file, and two kind-specific numbers (offsets, counts).
    /// Observable faults so far.
    pub fn observable_count(&self) -> usize {
        self.observable.len()
    }

    /// The paths of the observable faults from the `from`-th on.
    pub fn observable_since(&self, from: usize) -> &[PathBuf] {
        self.observable.get(from..).unwrap_or_default()
    }

    pub fn fault(&mut self, event: FaultEvent, path: &Path, a: u64, b: u64) {
        if event.observable() {
            self.observable.push(path.to_path_buf());
        }
        tracing::info!(
            target: "sim::vfs",
            fault = event.name(), path = %path.display(), a, b
        );
        self.bytes(b"F");
        self.bytes(&[event.code()]);
        self.path(path);
        self.u64(a);
        self.u64(b);
    }
}

fn outcome_code<T>(result: &io::Result<T>) -> u8 {
    use io::ErrorKind::*;
    match result {
        Ok(_) => 0,
        Err(e) => match e.kind() {
            NotFound => 1,
            AlreadyExists => 2,
            PermissionDenied => 3,
            WouldBlock => 4,
            StorageFull => 5,
            FileTooLarge => 6,
            InvalidInput => 7,
            _ => 8,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_separates_every_bit_and_every_byte() {
        use std::collections::BTreeSet;
        let start = Trace::default();
        // Every single-bit change of a word, and of each byte of a path-sized string,
        // changes the hash (the fold is a bijection per word).
        let mut seen = BTreeSet::new();
        for bit in 0..64 {
            let mut t = start.clone();
            t.u64(0x0123_4567_89ab_cdef ^ (1 << bit));
            assert!(seen.insert(t.value()), "bit {bit} collided");
        }
        let text = b"/data/files/person.btr";
        let mut whole = start.clone();
        whole.bytes(text);
        for i in 0..text.len() {
            let mut other = *text;
            other[i] ^= 0x20;
            let mut t = start.clone();
            t.bytes(&other);
            assert_ne!(t.value(), whole.value(), "byte {i}");
        }
        // Order matters: two words folded in the other order give another hash.
        let (mut ab, mut ba) = (start.clone(), start.clone());
        ab.u64(1);
        ab.u64(2);
        ba.u64(2);
        ba.u64(1);
        assert_ne!(ab.value(), ba.value());
    }

    #[test]
    fn encoding_separates_fields() {
        let mut a = Trace::default();
        a.call(1, Op::Write, Path::new("ab"), 0, 0);
        let mut b = Trace::default();
        b.call(1, Op::Write, Path::new("a"), 0, 0);
        assert_ne!(a.value(), b.value());
        let mut c = Trace::default();
        c.call(1, Op::Write, Path::new("ab"), 0, 0);
        assert_eq!(a.value(), c.value());
        c.outcome::<()>(&Err(io::Error::other("x")));
        a.outcome::<()>(&Ok(()));
        assert_ne!(a.value(), c.value());
    }
}
