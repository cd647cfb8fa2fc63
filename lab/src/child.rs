//! The processes the benches start (a fleet, a meter, the ceiling's server): each prints one
//! line once it serves, which the bench waits for.

use tokio::io::AsyncBufReadExt;

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
