//! Why a file the harness reads (a targets file, a case, a baseline, an earlier report) could
//! not be used, naming the file and, where known, the line and the field.

/// A file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// It could not be read.
    #[error("{origin}: {message}")]
    Unreadable {
        /// The file.
        origin: String,
        /// What the system said.
        message: String,
    },
    /// Its content is wrong.
    #[error("{origin}: {}{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default(), field.as_ref().map(|f| format!("field {f}: ")).unwrap_or_default())]
    Invalid {
        /// The file.
        origin: String,
        /// The line, where known.
        line: Option<usize>,
        /// The field, where known.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
}

impl FileError {
    /// Reads a file whole, naming it in the error.
    pub fn read(path: &std::path::Path) -> Result<String, FileError> {
        std::fs::read_to_string(path).map_err(|e| FileError::Unreadable {
            origin: path.display().to_string(),
            message: e.to_string(),
        })
    }
}
