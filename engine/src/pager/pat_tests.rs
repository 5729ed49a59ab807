//! Tests of the PAT tree.
