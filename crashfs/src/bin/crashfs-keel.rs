//! Placeholder: filled in by the scenario work.
fn main() {}
