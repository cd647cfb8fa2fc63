//! How a command ends, and the runtime the commands that do network work run on.

use std::process::ExitCode;

/// The exit status of a command that succeeded (0), found something wrong (1) or could not run
/// (2, with the error on standard error).
pub fn exit_status(result: Result<bool, String>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// A multi-threaded tokio runtime for the commands that do network work.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))
}

/// The runtime for work over `connections` connections at once: one thread for one (the task
/// and the I/O driver on the same thread, so that no request costs a wakeup across threads),
/// the multi-threaded runtime for more.
pub fn runtime_for(connections: usize) -> Result<tokio::runtime::Runtime, String> {
    if connections > 1 {
        return runtime();
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))
}

/// Writes a report file, naming it in the error.
pub fn write(path: &std::path::Path, text: &str) -> Result<(), String> {
    write_bytes(path, text.as_bytes())
}

/// Writes `bytes` to `path` (making its folder if need be), naming the file in the error.
pub fn write_bytes(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("writing {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    std::fs::write(path, bytes).map_err(failed)
}
