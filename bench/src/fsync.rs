//! Workload 1: the raw fsync limit of the bench directory's disk. A commit that must be
//! durable on return needs at least one `sync_data`, so syncs per second bound every
//! engine's single-client durable commits per second (group commit can beat it only by
//! acknowledging several commits with one sync). `runner` runs it before every row, so
//! the table's figure is a median over the whole run and its slowest and fastest probes
//! show how much the disk's rate moved meanwhile (on a shared machine, a lot).

use crate::common::{rate, timed_loop, Ctx, Result, Sizes};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

const FILE_LEN: u64 = 1 << 20;
const BLOCK: usize = 4096;

/// Syncs per second: 4 KiB written at rotating offsets of a preallocated, synced 1 MiB
/// file, then `sync_data`, repeated (overwrites only, so no metadata changes to sync).
pub fn syncs_per_second(dir: &Path, sizes: &Sizes) -> Result<f64> {
    let path = dir.join("fsync-probe.bin");
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .ctx(format_args!("creating {}", path.display()))?;
    f.write_all_at(&vec![0u8; FILE_LEN as usize], 0)
        .ctx("preallocating the fsync probe")?;
    f.sync_all().ctx("syncing the preallocated fsync probe")?;
    let block = [0x5au8; BLOCK];
    let blocks = FILE_LEN / BLOCK as u64;
    let (n, d) = timed_loop(
        sizes.fsync_count,
        Duration::from_secs_f64(sizes.fsync_seconds),
        |i| {
            f.write_all_at(&block, (i % blocks) * BLOCK as u64)
                .ctx("writing the fsync probe")?;
            f.sync_data().ctx("sync_data of the fsync probe")
        },
    )?;
    drop(f);
    std::fs::remove_file(&path).ctx("removing the fsync probe")?;
    Ok(rate(n, d))
}
