//! The loopback ceiling: bare tokio round trips shaped like meterfleet's block path (a wrapped
//! block ACTION out, its wrapped reply back; or unconfirmed blocks in bursts, one write each),
//! with no protocol work on either side, in two processes as meterfleet's own figures are
//! measured. A rate on a shared machine means something only beside the ceiling measured in the
//! same run, so every bench prints its figure as a ratio to this one.

use dlms::wrapper::{wrap, HEADER_LEN};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The first address the ceiling's listeners take (each on its own loopback address, as a
/// fleet's meters do), away from the fleets of the other benches.
pub const FIRST_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 120, 0, 1);
/// Their port.
pub const PORT: u16 = 4059;
/// The destination wPort of a request the server answers; frames to [`UNANSWERED_WPORT`] are
/// read and counted but not answered (unconfirmed blocks).
pub const ANSWERED_WPORT: u16 = 1;
/// See [`ANSWERED_WPORT`].
pub const UNANSWERED_WPORT: u16 = 2;

/// What is measured: how many connections to how many listeners, the frame sizes, whether
/// requests go out in unanswered bursts, and how often a connection is closed and another opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Shape {
    /// Listeners in the server process.
    pub listeners: usize,
    /// Client connections, spread over the listeners.
    pub connections: usize,
    /// Bytes of one request frame, wrapper header included.
    pub request: usize,
    /// Bytes of one reply frame, wrapper header included.
    pub reply: usize,
    /// Requests per write, none answered (a closing request is), instead of round trips.
    pub burst: Option<usize>,
    /// Round trips a connection makes before it is closed and the next listener in turn is
    /// connected to, as a campaign's meters are (none: each connection lasts the whole run).
    pub round_trips_per_connection: Option<u64>,
}

/// A ceiling measured.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Ceiling {
    /// What was measured.
    pub shape: Shape,
    /// Requests handled per second by the server (round trips, or frames of the bursts).
    pub per_second: f64,
    /// The server process's CPU time (user + system) per request, in microseconds.
    pub server_cpu_us: f64,
    /// The client's (this process's) CPU time per request, in microseconds.
    pub client_cpu_us: f64,
}

impl std::fmt::Display for Ceiling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.shape;
        let how = match s.burst {
            Some(n) => format!("unanswered {}-byte frames, {n} per write", s.request),
            None => format!("round trips of {} bytes out, {} back", s.request, s.reply),
        };
        let churn = match s.round_trips_per_connection {
            Some(n) => format!(", each closed and another opened after {n} round trips"),
            None => String::new(),
        };
        write!(
            f,
            "{:.0}/s, {:.1} us of server and {:.1} us of client CPU each ({how}; {} connection{} \
             to {} listener{}{churn})",
            self.per_second,
            self.server_cpu_us,
            self.client_cpu_us,
            s.connections,
            if s.connections == 1 { "" } else { "s" },
            s.listeners,
            if s.listeners == 1 { "" } else { "s" },
        )
    }
}

/// A frame of `len` bytes (at least the header) to `destination`.
fn frame(len: usize, destination: u16) -> Vec<u8> {
    wrap(16, destination, &vec![0x5A; len.saturating_sub(HEADER_LEN)]).expect("fits the wrapper")
}

/// The server, in its own process: `listeners` listeners from [`FIRST_ADDRESS`], each
/// connection reading whole wrapper frames and answering those to [`ANSWERED_WPORT`] with a
/// `reply`-byte frame. Prints one line once every listener is bound, then serves until killed.
pub async fn serve(listeners: usize, reply: usize) -> Result<(), String> {
    // A listener each, and room for a connection to each.
    emulator::fleet::ensure_open_files(emulator::fleet::FilesNeeded {
        required: listeners as u64 + 64,
        wanted: 2 * listeners as u64 + 64,
        per_connection: 1,
    })?;
    let reply = std::sync::Arc::new(frame(reply, 16));
    let mut bound = Vec::with_capacity(listeners);
    for i in 0..listeners {
        let address = SocketAddr::from((address(i), PORT));
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| format!("ceiling listener {address}: {e}"))?;
        bound.push(listener);
    }
    println!("ceiling listening on {listeners} addresses from {FIRST_ADDRESS}:{PORT}");
    let mut tasks = Vec::with_capacity(listeners);
    for listener in bound {
        let reply = reply.clone();
        tasks.push(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(answer(stream, reply.clone()));
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

/// The address of listener `i`.
fn address(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(FIRST_ADDRESS) + i as u32)
}

/// Reads whole frames (as many as each read brings) and answers those that ask for it, the
/// replies to one read in one write, until the peer closes.
async fn answer(mut stream: TcpStream, reply: std::sync::Arc<Vec<u8>>) {
    let mut buf = vec![0u8; 1 << 17];
    let (mut start, mut end) = (0, 0);
    let mut out = Vec::new();
    loop {
        if end == buf.len() {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        match stream.read(&mut buf[end..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => end += n,
        }
        while end - start >= HEADER_LEN {
            let header = &buf[start..start + HEADER_LEN];
            let destination = u16::from_be_bytes([header[4], header[5]]);
            let len = HEADER_LEN + usize::from(u16::from_be_bytes([header[6], header[7]]));
            if end - start < len {
                break;
            }
            start += len;
            if destination == ANSWERED_WPORT {
                out.extend_from_slice(&reply);
            }
        }
        if start == end {
            (start, end) = (0, 0);
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}

/// CPU time (user + system) of process `pid` so far.
pub fn cpu_time(pid: u32) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The fields after the command name in parentheses; utime and stime are 14 and 15.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // The kernel's USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Measures `shape` for `duration` against a server in a child process of `executable` (a
/// `meterfleet` that has `bench ceiling-serve`).
pub async fn measure(
    executable: &Path,
    shape: Shape,
    duration: Duration,
) -> Result<Ceiling, String> {
    let needed = shape.connections as u64 + 64;
    emulator::fleet::ensure_open_files(emulator::fleet::FilesNeeded {
        required: needed,
        wanted: needed,
        per_connection: 1,
    })?;
    let mut child = tokio::process::Command::new(executable)
        .args(["bench", "ceiling-serve", "--listeners"])
        .arg(shape.listeners.to_string())
        .arg("--reply-bytes")
        .arg(shape.reply.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting the ceiling's server: {e}"))?;
    let line = crate::child::first_line(&mut child).await?;
    if line.is_empty() {
        return Err("the ceiling's server did not start".into());
    }
    let mut streams = Vec::with_capacity(shape.connections);
    for i in 0..shape.connections {
        streams.push((i, connect(i, shape.listeners).await?));
    }
    let pid = child.id().ok_or("the ceiling's server has no process id")?;
    let own = std::process::id();
    let (cpu_before, own_before, started) = (cpu_time(pid), cpu_time(own), Instant::now());
    let deadline = tokio::time::Instant::now() + duration;
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|(i, stream)| tokio::spawn(drive(stream, i, shape, deadline)))
        .collect();
    let mut requests = 0u64;
    for task in tasks {
        requests += task.await.map_err(|e| e.to_string())??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu, own_cpu) = (cpu_time(pid) - cpu_before, cpu_time(own) - own_before);
    let _ = child.kill().await;
    let per_request = |cpu: Duration| cpu.as_secs_f64() * 1e6 / requests.max(1) as f64;
    Ok(Ceiling {
        shape,
        per_second: requests as f64 / elapsed.max(1e-9),
        server_cpu_us: per_request(cpu),
        client_cpu_us: per_request(own_cpu),
    })
}

/// A connection to listener `i` (of `listeners`, in turn), with Nagle's algorithm off.
async fn connect(i: usize, listeners: usize) -> Result<TcpStream, String> {
    let address = SocketAddr::from((address(i % listeners.max(1)), PORT));
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connecting to the ceiling's server at {address}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Connection `i`'s requests until `deadline`: round trips (on a new connection to the next
/// listener in turn every [`Shape::round_trips_per_connection`]), or bursts closed by one
/// answered request (so that every frame counted was read by the server).
async fn drive(
    mut stream: TcpStream,
    mut i: usize,
    shape: Shape,
    deadline: tokio::time::Instant,
) -> Result<u64, String> {
    let failed = |e: std::io::Error| format!("ceiling connection: {e}");
    let answered = frame(shape.request, ANSWERED_WPORT);
    let reply = shape.reply.max(HEADER_LEN);
    // Read into more room than a reply needs: a read that does not fill the buffer tells
    // tokio the socket is drained, so that the next read waits for readiness instead of
    // trying first (one system call fewer per round trip, as meterfleet's own reads do).
    let mut buf = vec![0u8; 4096];
    let mut count = 0u64;
    match shape.burst {
        None => {
            while tokio::time::Instant::now() < deadline {
                stream.write_all(&answered).await.map_err(failed)?;
                read_reply(&mut stream, &mut buf, reply)
                    .await
                    .map_err(failed)?;
                count += 1;
                if shape
                    .round_trips_per_connection
                    .is_some_and(|n| count.is_multiple_of(n.max(1)))
                {
                    // Closed by this side, as a head-end closes after releasing.
                    drop(stream);
                    i += shape.connections;
                    stream = connect(i, shape.listeners).await?;
                }
            }
        }
        Some(n) => {
            let burst = frame(shape.request, UNANSWERED_WPORT).repeat(n.max(1));
            while tokio::time::Instant::now() < deadline {
                stream.write_all(&burst).await.map_err(failed)?;
                count += n.max(1) as u64;
            }
            stream.write_all(&answered).await.map_err(failed)?;
            read_reply(&mut stream, &mut buf, reply)
                .await
                .map_err(failed)?;
        }
    }
    Ok(count)
}

/// Reads one `len`-byte reply.
async fn read_reply(stream: &mut TcpStream, buf: &mut [u8], len: usize) -> std::io::Result<()> {
    let mut got = 0;
    while got < len {
        match stream.read(buf).await? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => got += n,
        }
    }
    Ok(())
}
