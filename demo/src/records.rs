//! The demo's two files and their fixed-length records: `accounts.btr` (one record per
//! account) and `ledger.btr` (one entry per transfer).
//!
//! Both layouts are little-endian and fixed, like every Btrieve record: the engine
//! sees bytes and keys, so encoding lives here, in one place, and both the running
//! application and `--verify` (and the tests that tamper with a copy) decode the same
//! way. Decoding takes bytes read from a file, which may be damaged or foreign, so it
//! returns `None` on a wrong length instead of panicking.

use engine::{FileFormat, FileSpec, KeySpec, KeyType, Segment};
use std::path::{Path, PathBuf};

/// File name of the accounts file inside the demo directory.
pub const ACCOUNTS_FILE: &str = "accounts.btr";
/// File name of the ledger file inside the demo directory.
pub const LEDGER_FILE: &str = "ledger.btr";
/// File name of the list file (`butil -startbu @DIR/files.lst`).
pub const LIST_FILE: &str = "files.lst";
/// The transaction log directory inside the demo directory.
pub const LOG_DIR: &str = "log";

/// Page size of both files: small records, so the common 4 KiB page.
const PAGE_SIZE: u32 = 4096;

/// An account: `id` (key 0, unique), its `balance`, and the `opening` balance it was
/// created with. Keeping the opening balance in the record makes a copy
/// self-describing: `--verify` needs no out-of-band N or starting balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: u32,
    pub balance: i64,
    pub opening: i64,
}

impl Account {
    /// Record length: id 4, balance 8, opening 8, then padding so a record is not
    /// trivially small (the engine packs several per page either way).
    pub const LEN: usize = 32;

    pub fn encode(&self) -> Vec<u8> {
        let mut r = vec![0u8; Self::LEN];
        r[0..4].copy_from_slice(&self.id.to_le_bytes());
        r[4..12].copy_from_slice(&self.balance.to_le_bytes());
        r[12..20].copy_from_slice(&self.opening.to_le_bytes());
        r
    }

    /// `None` if `r` is not an account record's length.
    pub fn decode(r: &[u8]) -> Option<Account> {
        if r.len() != Self::LEN {
            return None;
        }
        Some(Account {
            id: u32::from_le_bytes(r.get(0..4)?.try_into().ok()?),
            balance: i64::from_le_bytes(r.get(4..12)?.try_into().ok()?),
            opening: i64::from_le_bytes(r.get(12..20)?.try_into().ok()?),
        })
    }

    /// The file: key 0 is the account id (unsigned, unique, not modifiable: an
    /// account never changes identity).
    pub fn spec() -> FileSpec {
        unique_key_spec(Self::LEN, 4)
    }
}

/// A ledger entry: transfer `id` (key 0, unique, increasing), `amount` moved from
/// account `from` to account `to`, and both accounts' balances after it. Recording the
/// resulting balances is what lets `--verify` tie the ledger to `accounts.btr` at one
/// instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: u64,
    pub from: u32,
    pub to: u32,
    pub amount: i64,
    pub from_balance: i64,
    pub to_balance: i64,
}

impl Entry {
    /// Record length: id 8, from 4, to 4, amount 8, two balances 8 each, padding.
    pub const LEN: usize = 48;

    pub fn encode(&self) -> Vec<u8> {
        let mut r = vec![0u8; Self::LEN];
        r[0..8].copy_from_slice(&self.id.to_le_bytes());
        r[8..12].copy_from_slice(&self.from.to_le_bytes());
        r[12..16].copy_from_slice(&self.to.to_le_bytes());
        r[16..24].copy_from_slice(&self.amount.to_le_bytes());
        r[24..32].copy_from_slice(&self.from_balance.to_le_bytes());
        r[32..40].copy_from_slice(&self.to_balance.to_le_bytes());
        r
    }

    /// `None` if `r` is not a ledger entry's length.
    pub fn decode(r: &[u8]) -> Option<Entry> {
        if r.len() != Self::LEN {
            return None;
        }
        Some(Entry {
            id: u64::from_le_bytes(r.get(0..8)?.try_into().ok()?),
            from: u32::from_le_bytes(r.get(8..12)?.try_into().ok()?),
            to: u32::from_le_bytes(r.get(12..16)?.try_into().ok()?),
            amount: i64::from_le_bytes(r.get(16..24)?.try_into().ok()?),
            from_balance: i64::from_le_bytes(r.get(24..32)?.try_into().ok()?),
            to_balance: i64::from_le_bytes(r.get(32..40)?.try_into().ok()?),
        })
    }

    /// The file: key 0 is the entry id (unsigned, unique), so walking key 0 visits
    /// transfers in the order they were made.
    pub fn spec() -> FileSpec {
        unique_key_spec(Self::LEN, 8)
    }
}

/// A file of `record_length`-byte records with one key: an unsigned id of `key_len`
/// bytes at offset 0, unique and not modifiable.
fn unique_key_spec(record_length: usize, key_len: u16) -> FileSpec {
    FileSpec {
        // Both lengths are the constants above, far below u16::MAX.
        record_length: record_length as u16,
        page_size: PAGE_SIZE,
        keys: vec![KeySpec {
            segments: vec![Segment {
                offset: 0,
                length: key_len,
                key_type: KeyType::Unsigned,
                descending: false,
            }],
            duplicates: false,
            modifiable: false,
        }],
        format: FileFormat::V6,
        compact_leaves: false,
        slot_serial_bytes: 8,
    }
}

/// The two data files of a demo directory, accounts first.
pub fn data_files(dir: &Path) -> [PathBuf; 2] {
    [dir.join(ACCOUNTS_FILE), dir.join(LEDGER_FILE)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_wrong_lengths() {
        let a = Account {
            id: 7,
            balance: -3,
            opening: 1000,
        };
        assert_eq!(Account::decode(&a.encode()), Some(a));
        let e = Entry {
            id: u64::MAX,
            from: 1,
            to: 2,
            amount: 99,
            from_balance: 901,
            to_balance: 1099,
        };
        assert_eq!(Entry::decode(&e.encode()), Some(e));
        assert_eq!(Account::decode(&[0; 31]), None);
        assert_eq!(Entry::decode(&a.encode()), None);
        Account::spec().validate().expect("accounts spec");
        Entry::spec().validate().expect("ledger spec");
    }
}
