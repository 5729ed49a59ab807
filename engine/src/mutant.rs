//! Known-bad engines: deliberate bugs the simulator must catch, compiled only with
//! the `mutants` feature and inert unless one is selected in [`crate::Config`].
//! Each names the rule of DESIGN.md it breaks.

/// One deliberate bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mutant {
    /// Commit skips the sync between the shadow pages and the FCR write.
    SkipSyncBeforeFcr,
    /// Commit writes (and syncs) the FCR before the shadow pages.
    FcrBeforeShadowPages,
    /// A changed page is written over its own physical page instead of a shadow.
    OverwriteInPlace,
    /// Pages freed by a system transaction are reused within it, before its FCR is
    /// durable.
    ReuseFreedEarly,
    /// Reads skip checksum and header verification.
    SkipChecksum,
}

impl Mutant {
    pub const ALL: [Mutant; 5] = [
        Mutant::SkipSyncBeforeFcr,
        Mutant::FcrBeforeShadowPages,
        Mutant::OverwriteInPlace,
        Mutant::ReuseFreedEarly,
        Mutant::SkipChecksum,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mutant::SkipSyncBeforeFcr => "skip-sync-before-fcr",
            Mutant::FcrBeforeShadowPages => "fcr-before-shadow-pages",
            Mutant::OverwriteInPlace => "overwrite-in-place",
            Mutant::ReuseFreedEarly => "reuse-freed-early",
            Mutant::SkipChecksum => "skip-checksum",
        }
    }

    pub fn from_name(s: &str) -> Option<Mutant> {
        Mutant::ALL.into_iter().find(|m| m.name() == s)
    }
}
