//! Parsers and writers for butil's text and interchange formats (description files,
//! sequential files, list files). Pure functions over bytes, so they can be fuzzed.
