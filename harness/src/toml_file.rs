//! Reading the harness's TOML files (targets, cases, baselines) with errors that name the file
//! and the line.

use crate::file_error::FileError;
use serde::de::DeserializeOwned;

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parses `text`; an error reads `ORIGIN: line N: message`, the message naming the field.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, FileError> {
    toml::from_str(text).map_err(|e| FileError::Invalid {
        origin: origin.to_owned(),
        line: e.span().map(|s| line_of(text, s.start)),
        field: None,
        message: e.message().to_owned(),
    })
}
