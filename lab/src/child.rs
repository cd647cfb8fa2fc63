//! The processes the benches start (a fleet, a meter, the ceiling's server): each prints one
//! line once it serves, which the bench waits for.

use std::path::Path;
use std::process::Stdio;
use tokio::io::AsyncBufReadExt;

/// `meterfleet emulate --scenario SCENARIO --trust-key PUBLIC --targets-out TARGETS`, its
/// control endpoint on a free loopback port (its first line names it), standard output piped
/// and standard error to `stderr`; killed when dropped.
pub(crate) fn spawn_fleet(
    executable: &Path,
    scenario: &Path,
    public: &Path,
    targets: &Path,
    stderr: Stdio,
) -> Result<tokio::process::Child, String> {
    tokio::process::Command::new(executable)
        .args(["emulate", "--scenario"])
        .arg(scenario)
        .arg("--trust-key")
        .arg(public)
        .arg("--targets-out")
        .arg(targets)
        .args(["--control", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting the fleet: {e}"))
}

/// The first line `child` prints on its piped standard output (empty if it ended first).
pub(crate) async fn first_line(child: &mut tokio::process::Child) -> Result<String, String> {
    let stdout = child
        .stdout
        .take()
        .ok_or("the child's standard output is not piped")?;
    let mut line = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .map_err(|e| e.to_string())?;
    Ok(line)
}
