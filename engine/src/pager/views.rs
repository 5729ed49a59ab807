//! Read-only views of a pager for the structure check (`file::check`): the durable
//! mapping and PAT tree, a fresh walk of the PAT on disk to compare with them, and the
//! pages nothing references.

use super::pat::{PatTree, PhysicalSet};
use super::{Pager, FCR_SLOTS};
use crate::page::pat::PagePtr;

impl Pager {
    /// Every mapped logical page of the durable mapping, in order.
    pub(crate) fn mapping(&self) -> impl Iterator<Item = (u32, PagePtr)> + '_ {
        self.pat.mapped()
    }
    /// Every PAT page of the durable tree: (level, index) and where it lives.
    pub(crate) fn pat_pages(&self) -> impl Iterator<Item = ((u8, u32), PagePtr)> + '_ {
        self.pat.pages()
    }
    /// The durable PAT's depth.
    pub(crate) fn pat_depth(&self) -> u8 {
        self.durable.pat_depth
    }
    /// Walk the durable PAT tree on disk again from the FCR — every page read and
    /// verified against its referrer, each reachable once, no physical page referenced
    /// twice, no entry outside the file — and compare it with the mapping in memory.
    /// What is wrong, if anything.
    pub(crate) fn audit_pat(&mut self) -> Option<String> {
        let fcr = self.durable.clone();
        let path = self.path.clone();
        let mut referenced = PhysicalSet::new(self.phys_pages);
        for p in 0..FCR_SLOTS {
            referenced.insert(p);
        }
        let mut read = |physical: u32, buf: &mut Vec<u8>| {
            *buf = self.read_physical_into(physical, std::mem::take(buf))?;
            Ok(())
        };
        match PatTree::load(&fcr, &path, &mut referenced, &mut read, &mut Vec::new()) {
            Err(e) => Some(e.to_string()),
            Ok(on_disk) => self.pat.differs_from(&on_disk),
        }
    }
    /// Every physical page nothing references: the free list, and the free pages held
    /// back from the coming commit (`reuse.rs`).
    pub(crate) fn free_physical(&self) -> impl Iterator<Item = u32> + '_ {
        self.free_phys.iter().chain(&self.reuse.held).copied()
    }
}
