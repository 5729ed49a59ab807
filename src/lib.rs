//! The root package exists only to hold cross-crate tests in `tests/`.
