//! `SimFile`: an open handle on a `SimVfs` inode, the engine's `VfsFile`.
//!
//! A handle refers to its inode, not its path: a rename keeps it working, and a remove
//! keeps the inode alive for it. Every call is one I/O step of the owning `SimVfs`. After
//! a crash (power loss or process crash) the handle is dead: every call fails, and
//! dropping it does nothing. Dropping a live handle releases its lock.

use super::state::HandleInfo;
use super::SimVfs;
use engine::vfs::VfsFile;
use std::io;

pub(super) struct SimFile {
    pub vfs: SimVfs,
    pub info: HandleInfo,
}

impl VfsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.vfs.lock().read_at(&self.info, buf, offset)
    }
    /// The same `read_at` calls as the default, each appending its bytes to `buf`
    /// rather than reading over a zero-filled one.
    fn read_exact_into(&self, buf: &mut Vec<u8>, len: usize, offset: u64) -> io::Result<()> {
        buf.clear();
        while buf.len() < len {
            let done = buf.len();
            let n =
                self.vfs
                    .lock()
                    .read_append(&self.info, buf, len - done, offset + done as u64)?;
            if n == 0 {
                return Err(engine::vfs::short_read(done, len, offset));
            }
        }
        Ok(())
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.vfs.lock().write_at(&self.info, buf, offset)
    }
    fn read_durable_at(&self, buf: &mut [u8], offset: u64) -> io::Result<Option<usize>> {
        self.vfs
            .lock()
            .read_durable_at(&self.info, buf, offset)
            .map(Some)
    }
    fn sync(&self) -> io::Result<()> {
        self.vfs.lock().sync(&self.info)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.vfs.lock().set_len(&self.info, len)
    }
    fn len(&self) -> io::Result<u64> {
        self.vfs.lock().len(&self.info)
    }
    fn try_lock_exclusive(&self) -> io::Result<()> {
        self.vfs.lock().try_lock(&self.info)
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        self.vfs.lock().close(&self.info);
    }
}
