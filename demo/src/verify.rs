//! `keel-demo --verify DIR`: is a copy of the demo's two files (a backup) consistent,
//! as of one instant?
//!
//! A backup taken without continuous operations can hold `accounts.btr` from one
//! moment and `ledger.btr` from another, or a half-copied file; one taken between
//! `butil -startbu` and `-endbu` must not. The checks, in order, each naming the first
//! problem it finds:
//! 1. each file passes the engine's structure check (`butil -check`'s);
//! 2. the balances add up to N × the starting balance (money is neither made nor lost);
//! 3. replaying the ledger in entry-id order from the opening balances gives, at each
//!    entry, exactly the balances it records (no entry lost, duplicated or altered);
//! 4. each account's balance is the one recorded in the newest ledger entry touching it
//!    (its opening balance if none does): the two files are of the same instant.
//!
//! The copies are opened read-only, with no transaction log, so checking changes
//! nothing, and a copy is judged by exactly the bytes it holds.

use crate::records::{data_files, Account, Entry};
use crate::DemoError;
use engine::file::check::check_file;
use engine::host::StdClock;
use engine::vfs::StdVfs;
use engine::{Config, Engine, GetOp, Handle, OpenMode, Status};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// What a consistent copy holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifySummary {
    pub accounts: u32,
    pub start_balance: i64,
    pub total: i128,
    pub entries: u64,
    /// Id of the newest ledger entry (0: none).
    pub last_entry: u64,
    /// Accounts some ledger entry touches.
    pub touched: usize,
}

/// Check the copies in `dir`. `DemoError::Inconsistent` names the first
/// inconsistency; `DemoError::Failed` means the files could not be read at all.
pub fn verify(dir: &Path) -> Result<VerifySummary, DemoError> {
    if !dir.is_dir() {
        return Err(DemoError::Failed(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let files = data_files(dir);
    for f in &files {
        let report = check_file(&StdVfs, f)
            .map_err(|e| DemoError::Failed(format!("cannot check {}: {e}", f.display())))?;
        if let Some(first) = report.problems.first() {
            return Err(DemoError::Inconsistent(format!(
                "{}: the structure check found {} problem(s); first: {first}",
                f.display(),
                report.problems.len()
            )));
        }
    }
    // No log: a read-only open of a copy must neither roll it forward nor touch a log.
    let mut engine = Engine::new(
        Arc::new(StdVfs),
        Arc::new(StdClock::new()),
        Config::default(),
    );
    let [accounts_path, ledger_path] = &files;
    let accounts = read_all(&mut engine, accounts_path, |r| {
        Account::decode(r).map(|a| (a.id, a))
    })?;
    let entries = read_all(&mut engine, ledger_path, |r| {
        Entry::decode(r).map(|e| (e.id, e))
    })?;
    check(&accounts, &entries)
}

/// Every record of `path` by key 0, decoded; a record `decode` rejects is an
/// inconsistency (a file with some other layout in the demo's place).
fn read_all<K: Ord, T>(
    engine: &mut Engine,
    path: &Path,
    decode: impl Fn(&[u8]) -> Option<(K, T)>,
) -> Result<BTreeMap<K, T>, DemoError> {
    let failed = |e: engine::Error| DemoError::Failed(format!("reading {}: {e}", path.display()));
    let h = engine.open(path, OpenMode::ReadOnly).map_err(failed)?;
    let walked = walk(engine, h, path, decode);
    let closed = engine.close(h).map_err(failed);
    let records = walked?;
    closed?;
    Ok(records)
}

fn walk<K: Ord, T>(
    engine: &mut Engine,
    h: Handle,
    path: &Path,
    decode: impl Fn(&[u8]) -> Option<(K, T)>,
) -> Result<BTreeMap<K, T>, DemoError> {
    let mut records = BTreeMap::new();
    let mut op = GetOp::First;
    loop {
        let r = match engine.get(h, op, 0, &[]) {
            Ok(r) => r,
            Err(e) if e.status == Status::EndOfFile => return Ok(records),
            Err(e) => {
                return Err(DemoError::Failed(format!(
                    "reading {}: {e}",
                    path.display()
                )))
            }
        };
        let Some((k, t)) = decode(&r) else {
            return Err(DemoError::Inconsistent(format!(
                "{}: a record of {} bytes is not the demo's layout",
                path.display(),
                r.len()
            )));
        };
        records.insert(k, t);
        op = GetOp::Next;
    }
}

/// Checks 2–4 of the module doc on records already read.
pub fn check(
    accounts: &BTreeMap<u32, Account>,
    entries: &BTreeMap<u64, Entry>,
) -> Result<VerifySummary, DemoError> {
    let bad = |m: String| Err(DemoError::Inconsistent(m));
    let Some(first) = accounts.values().next() else {
        return bad("accounts.btr holds no account".into());
    };
    let start = first.opening;
    let n = u32::try_from(accounts.len())
        .map_err(|_| DemoError::Inconsistent("too many accounts".into()))?;
    for (i, a) in accounts.values().enumerate() {
        if u64::from(a.id) != i as u64 {
            return bad(format!(
                "accounts.btr: account ids are not 0..{n}: account {i} is missing"
            ));
        }
        if a.opening != start {
            return bad(format!(
                "account {}: opening balance {} differs from account 0's {start}",
                a.id, a.opening
            ));
        }
    }
    // 2. Conservation (i128: no sum of i64s overflows it).
    let total: i128 = accounts.values().map(|a| i128::from(a.balance)).sum();
    let expected = i128::from(n) * i128::from(start);
    if total != expected {
        return bad(format!(
            "the balances add up to {total}, not {n} × {start} = {expected} (off by {})",
            total - expected
        ));
    }
    // 3. Replay the ledger from the opening balances.
    let mut running: BTreeMap<u32, i64> = accounts.keys().map(|&id| (id, start)).collect();
    let mut touched = BTreeSet::new();
    for e in entries.values() {
        if e.from == e.to || e.amount < 0 {
            return bad(format!(
                "ledger entry {}: moves {} from account {} to account {}",
                e.id, e.amount, e.from, e.to
            ));
        }
        let (Some(&payer), Some(&payee)) = (running.get(&e.from), running.get(&e.to)) else {
            return bad(format!(
                "ledger entry {}: names account {} or {}, not in accounts.btr",
                e.id, e.from, e.to
            ));
        };
        let (want_from, want_to) = (payer.checked_sub(e.amount), payee.checked_add(e.amount));
        if want_from != Some(e.from_balance) || want_to != Some(e.to_balance) {
            return bad(format!(
                "ledger entry {}: records balances {} (account {}) and {} (account {}) after \
                 moving {}, but the entries before it leave {payer} and {payee}",
                e.id, e.from_balance, e.from, e.to_balance, e.to, e.amount
            ));
        }
        running.insert(e.from, e.from_balance);
        running.insert(e.to, e.to_balance);
        touched.extend([e.from, e.to]);
    }
    // 4. The newest entry touching each account (its opening balance if none does)
    //    against accounts.btr: after the replay, `running` holds exactly that.
    for a in accounts.values() {
        let newest = running.get(&a.id).copied().unwrap_or(start);
        if newest != a.balance {
            let source = match entries
                .values()
                .rev()
                .find(|e| e.from == a.id || e.to == a.id)
            {
                Some(e) => format!("the newest ledger entry touching it ({})", e.id),
                None => "its opening balance (no ledger entry touches it)".to_string(),
            };
            return bad(format!(
                "account {}: balance {} in accounts.btr, but {source} says {newest}",
                a.id, a.balance
            ));
        }
    }
    Ok(VerifySummary {
        accounts: n,
        start_balance: start,
        total,
        entries: entries.len() as u64,
        last_entry: entries.keys().next_back().copied().unwrap_or(0),
        touched: touched.len(),
    })
}
