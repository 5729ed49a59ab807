//! B+tree node pages. Every entry of one key's tree has the same length: the key's
//! normalized bytes followed by the record's 8-byte serial, which makes entries
//! unique even for duplicate keys. Leaves map entries to record addresses; internal
//! nodes hold a leftmost child and (separator, child) pairs where the child holds
//! entries `>=` its separator.

use super::bytes::{get_u16, get_u32, put_u16, put_u32};
use super::{PageType, HEADER_LEN};
use crate::status::{fail, Result, Status};

const COUNT_AT: usize = HEADER_LEN;
const KEYLEN_AT: usize = HEADER_LEN + 2;
const LEFTMOST_AT: usize = HEADER_LEN + 4;
const ENTRIES_AT: usize = HEADER_LEN + 8;
/// Leaf value: record address (u32 logical page + u16 slot).
const LEAF_VALUE_LEN: usize = 6;
/// Internal value: child logical page.
const CHILD_LEN: usize = 4;
/// Fewest entries a node must hold for splits to work.
pub const MIN_FANOUT: usize = 4;

/// Where a record lives: data page and slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecAddr {
    pub page: u32,
    pub slot: u16,
}

/// A decoded node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub leaf: bool,
    /// Internal nodes only: child for entries below the first separator.
    pub leftmost: u32,
    pub keys: Vec<Vec<u8>>,
    /// Leaves: `RecAddr` packed as `page << 16 | slot`; internal: child page.
    pub vals: Vec<u64>,
}

impl RecAddr {
    pub fn pack(self) -> u64 {
        (u64::from(self.page) << 16) | u64::from(self.slot)
    }
    pub fn unpack(v: u64) -> RecAddr {
        RecAddr {
            page: (v >> 16) as u32,
            slot: v as u16,
        }
    }
}

/// Most entries a node holds.
pub fn capacity(page_size: usize, entry_len: usize, leaf: bool) -> usize {
    let v = if leaf { LEAF_VALUE_LEN } else { CHILD_LEN };
    page_size.saturating_sub(ENTRIES_AT) / (entry_len + v)
}

impl Node {
    pub fn new_leaf() -> Node {
        Node {
            leaf: true,
            leftmost: 0,
            keys: Vec::new(),
            vals: Vec::new(),
        }
    }

    /// Child pages of an internal node, in key order.
    pub fn children(&self) -> Vec<u32> {
        let mut c = vec![self.leftmost];
        c.extend(self.vals.iter().map(|&v| v as u32));
        c
    }

    /// Encode into an unsealed page buffer.
    pub fn encode(&self, page_size: usize, entry_len: usize) -> Vec<u8> {
        let ty = if self.leaf {
            PageType::Leaf
        } else {
            PageType::Internal
        };
        let mut b = super::blank(page_size, ty);
        debug_assert!(self.keys.len() <= capacity(page_size, entry_len, self.leaf));
        debug_assert_eq!(self.keys.len(), self.vals.len());
        put_u16(&mut b, COUNT_AT, self.keys.len() as u16);
        put_u16(&mut b, KEYLEN_AT, entry_len as u16);
        put_u32(&mut b, LEFTMOST_AT, self.leftmost);
        let mut at = ENTRIES_AT;
        for (k, &v) in self.keys.iter().zip(&self.vals) {
            debug_assert_eq!(k.len(), entry_len);
            b[at..at + entry_len].copy_from_slice(k);
            at += entry_len;
            if self.leaf {
                let a = RecAddr::unpack(v);
                put_u32(&mut b, at, a.page);
                put_u16(&mut b, at + 4, a.slot);
                at += LEAF_VALUE_LEN;
            } else {
                put_u32(&mut b, at, v as u32);
                at += CHILD_LEN;
            }
        }
        b
    }

    /// Decode a verified node page of a tree whose entries are `entry_len` bytes.
    pub fn decode(b: &[u8], entry_len: usize) -> Result<Node> {
        let leaf = match super::type_of(b) {
            Some(PageType::Leaf) => true,
            Some(PageType::Internal) => false,
            _ => return fail(Status::IoError, "index page has the wrong page type"),
        };
        let n = get_u16(b, COUNT_AT) as usize;
        if get_u16(b, KEYLEN_AT) as usize != entry_len {
            return fail(
                Status::IoError,
                "index page belongs to a key of another length",
            );
        }
        if n > capacity(b.len(), entry_len, leaf) {
            return fail(
                Status::IoError,
                "index page entry count exceeds its capacity",
            );
        }
        let mut node = Node {
            leaf,
            leftmost: get_u32(b, LEFTMOST_AT),
            keys: Vec::with_capacity(n),
            vals: Vec::with_capacity(n),
        };
        let mut at = ENTRIES_AT;
        for _ in 0..n {
            node.keys.push(b[at..at + entry_len].to_vec());
            at += entry_len;
            if leaf {
                node.vals.push(
                    RecAddr {
                        page: get_u32(b, at),
                        slot: get_u16(b, at + 4),
                    }
                    .pack(),
                );
                at += LEAF_VALUE_LEN;
            } else {
                node.vals.push(u64::from(get_u32(b, at)));
                at += CHILD_LEN;
            }
        }
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let e = 12;
        let mut n = Node::new_leaf();
        for i in 0..capacity(512, e, true) {
            n.keys.push(vec![i as u8; e]);
            n.vals.push(
                RecAddr {
                    page: i as u32 + 1,
                    slot: 3,
                }
                .pack(),
            );
        }
        let b = n.encode(512, e);
        assert_eq!(Node::decode(&b, e).unwrap(), n);
        let m = Node {
            leaf: false,
            leftmost: 9,
            keys: vec![vec![1; e]],
            vals: vec![10],
        };
        assert_eq!(Node::decode(&m.encode(1024, e), e).unwrap(), m);
        assert_eq!(m.children(), vec![9, 10]);
    }
}
