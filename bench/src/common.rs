//! What every workload shares: the record layout, the key orders, the sizes of a run,
//! and errors with context.
//!
//! The record is the same bytes in every engine: 100 bytes, the first 8 the id as a
//! little-endian `u64` (Keel's `Unsigned` key type is little-endian), the other 92 a
//! payload derived from the id. Keel stores all 100 bytes as its fixed-length record
//! with the key inside it; SQLite stores the id as `INTEGER PRIMARY KEY` (the rowid)
//! and the 92-byte payload as a blob; redb stores `u64 -> 92-byte value`. So each
//! engine is given the same 8-byte key and the same 92 payload bytes.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::time::{Duration, Instant};

/// Record length in Keel (key + payload).
pub const RECORD_LEN: usize = 100;
/// Key length (an unsigned 64-bit id).
pub const KEY_LEN: usize = 8;
/// Payload bytes stored beside the key (SQLite blob, redb value).
pub const PAYLOAD_LEN: usize = RECORD_LEN - KEY_LEN;
/// Seed of every random choice (key orders, lookups), so runs are comparable.
pub const SEED: u64 = 0x6b65_656c_6265_6e63;

/// A benchmark failure: what was being done and why it failed. The benchmark stops on
/// the first one (a half-measured table would mislead).
#[derive(Debug)]
pub struct BenchError(pub String);

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}

pub type Result<T> = std::result::Result<T, BenchError>;

/// Attach what was being done to any displayable error.
pub trait Ctx<T> {
    fn ctx(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: fmt::Display> Ctx<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| BenchError(format!("{what}: {e}")))
    }
}

/// The 92 payload bytes of record `id`: cheap, deterministic, not all zero (so no
/// engine gains from compressible pages — none of the three compresses anyway).
pub fn payload(id: u64) -> [u8; PAYLOAD_LEN] {
    let mut out = [0u8; PAYLOAD_LEN];
    let mut x = id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xd1b5_4a32_d192_ed03;
    for chunk in out.chunks_mut(8) {
        x ^= x >> 31;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 29;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    out
}

/// The whole 100-byte record of `id` as Keel stores it: key, then payload.
pub fn record(id: u64) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    r[..KEY_LEN].copy_from_slice(&id.to_le_bytes());
    r[KEY_LEN..].copy_from_slice(&payload(id));
    r
}

/// The order records are inserted in for a load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Ids 0..n ascending (a load of sorted data).
    Ascending,
    /// Ids 0..n in one seeded random permutation, the same for every engine.
    Random,
}

impl Order {
    pub fn name(self) -> &'static str {
        match self {
            Order::Ascending => "ascending",
            Order::Random => "random",
        }
    }

    /// The ids 0..n in this order.
    pub fn ids(self, n: u64) -> Vec<u64> {
        let mut ids: Vec<u64> = (0..n).collect();
        if self == Order::Random {
            ids.shuffle(&mut ChaCha8Rng::seed_from_u64(SEED));
        }
        ids
    }
}

/// `count` ids drawn uniformly from 0..n (with repeats), the same for every engine.
pub fn lookup_ids(n: u64, count: usize) -> Vec<u64> {
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ 1);
    (0..count).map(|_| rng.random_range(0..n)).collect()
}

/// How big each workload is. `--quick` divides the defaults by 50–100. Passed to every
/// child process (`child`) as JSON, so parent and children agree on it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Sizes {
    /// Runs of every row (the table shows the median); engines are rotated between runs.
    pub runs: usize,
    /// Page cache given to every engine, bytes: SQLite `cache_size`, redb
    /// `Builder::set_cache_size`, Keel `clean_cache_pages` (of 4 KiB pages).
    pub cache_bytes: u64,
    /// Untimed commits every engine makes before a timed commit run (first-open and
    /// file-growth effects out of the timing; SQLite's WAL is warmed further, see
    /// `sqlite::warm_wal`).
    pub warm_commits: u64,
    /// Raw fsync loop: at most this many syncs…
    pub fsync_count: u64,
    /// …or this long, whichever comes first.
    pub fsync_seconds: f64,
    /// Single-client commits: at most this many…
    pub commit_count: u64,
    /// …or this long, whichever comes first.
    pub commit_seconds: f64,
    /// Concurrent clients.
    pub clients: u64,
    /// Commits per concurrent client (a deadline below stops a slow engine earlier).
    pub commits_per_client: u64,
    /// Deadline of the concurrent-commit run per engine.
    pub concurrent_seconds: f64,
    /// Records in a bulk load (and in the database the reads run over).
    pub load_records: u64,
    /// Random point lookups.
    pub lookups: usize,
    /// Keel's roll-in row: the delta's size before `endbu`, MiB.
    pub delta_mib: u64,
    /// Simulator campaign: seeds…
    pub sim_seeds: u64,
    /// …of this many workload steps each.
    pub sim_steps: usize,
    /// Keel's data-page slot serials, bytes (`serialbytes=`; 8 is the layout of files
    /// made before narrower serials).
    pub serial_bytes: u8,
}

impl Sizes {
    pub fn default_run() -> Sizes {
        Sizes {
            runs: 3,
            cache_bytes: 64 << 20,
            warm_commits: 20,
            fsync_count: 1000,
            fsync_seconds: 1.0,
            // A fast disk cache syncs in ~150 µs: 2,000 commits took under half a
            // second, too short a window on a shared machine.
            commit_count: 10_000,
            commit_seconds: 5.0,
            clients: 8,
            commits_per_client: 2000,
            concurrent_seconds: 10.0,
            load_records: 1_000_000,
            lookups: 200_000,
            delta_mib: 64,
            sim_seeds: 200,
            sim_steps: 1000,
            serial_bytes: 3,
        }
    }

    pub fn quick() -> Sizes {
        Sizes {
            runs: 1,
            cache_bytes: 64 << 20,
            warm_commits: 2,
            fsync_count: 40,
            fsync_seconds: 0.2,
            commit_count: 40,
            commit_seconds: 0.5,
            clients: 8,
            commits_per_client: 10,
            concurrent_seconds: 1.0,
            load_records: 20_000,
            lookups: 4_000,
            delta_mib: 4,
            sim_seeds: 10,
            sim_steps: 1000,
            serial_bytes: 3,
        }
    }
}

/// Run `step(i)` for i = 0, 1, … until `count` steps are done or `limit` has passed;
/// returns (steps done, elapsed). The clock is read after each step.
pub fn timed_loop(
    count: u64,
    limit: Duration,
    mut step: impl FnMut(u64) -> Result<()>,
) -> Result<(u64, Duration)> {
    let start = Instant::now();
    let mut done = 0;
    while done < count {
        step(done)?;
        done += 1;
        if start.elapsed() >= limit {
            break;
        }
    }
    Ok((done, start.elapsed()))
}

/// Fail unless `got` is exactly the 100-byte record of `id` (every engine checks the
/// same bytes: Keel the whole record, SQLite and redb the key they return and the
/// 92-byte value; see [`check_value`]).
pub fn check_record(got: &[u8], id: u64, who: &str) -> Result<()> {
    // The message is built only on failure: a `format!` per record would cost every
    // engine's read rows an allocation and dilute the ratios.
    if got == &record(id)[..] {
        return Ok(());
    }
    Err(BenchError(format!(
        "{who}: record {id} has the wrong bytes"
    )))
}

/// Fail unless `key` is `id` and `value` is exactly `payload(id)`.
pub fn check_value(key: u64, id: u64, value: &[u8], who: &str) -> Result<()> {
    if key == id && value == &payload(id)[..] {
        return Ok(());
    }
    Err(BenchError(format!(
        "{who}: record {id} has the wrong key or value bytes"
    )))
}

/// The middle of `values` (mean of the two middles for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Fail with `what` unless `ok` (the benchmark checks what it reads).
pub fn check(ok: bool, what: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(BenchError(what.to_string()))
    }
}

/// Per-second rate of `n` events over `d`.
pub fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_layout() {
        let r = record(0x0102_0304_0506_0708);
        assert_eq!(&r[..KEY_LEN], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&r[KEY_LEN..], &payload(0x0102_0304_0506_0708));
        assert_ne!(payload(1), payload(2));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn checks_bytes() {
        assert!(check_record(&record(7), 7, "t").is_ok());
        assert!(check_record(&record(8), 7, "t").is_err());
        assert!(check_value(7, 7, &payload(7), "t").is_ok());
        assert!(check_value(7, 7, &payload(8), "t").is_err());
    }

    #[test]
    fn orders_are_permutations() {
        let mut r = Order::Random.ids(1000);
        assert_ne!(r, Order::Ascending.ids(1000));
        r.sort_unstable();
        assert_eq!(r, Order::Ascending.ids(1000));
    }
}
