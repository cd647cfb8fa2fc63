//! `meterfleet bench emulator`: the emulator's own capacity, the figure a head-end team needs.
//! A fleet runs in a `meterfleet emulate --scenario` process; a load generator that does no
//! protocol work (frames built once before the clock starts, replies counted by their wrapper
//! length and never decoded) associates on every connection, initiates a transfer, then sends
//! block transfers round and round the image for the measured time. The figures: blocks per
//! second, and the emulator process's CPU time per block (from /proc), beside the ceiling of the
//! same shape measured in the same run.

use crate::ceiling::{self, Ceiling, Shape};
use dlms::apdu::InvokeIdAndPriority;
use dlms::association::{ClientAuthentication, ClientSettings};
use dlms::cosem::image_transfer::{self as it, method};
use dlms::wrapper::{wrap, HEADER_LEN};
use dlms::Codec;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Capacity {
    /// Meters in the fleet.
    pub meters: usize,
    /// Connections the load generator kept busy.
    pub connections: usize,
    /// Block transfers answered per second.
    pub blocks_per_second: f64,
    /// The emulator process's CPU time (user + system) per block, in microseconds.
    pub cpu_us_per_block: f64,
    /// Cores the emulator used on average.
    pub cores: f64,
    /// The ceiling of the same shape.
    pub ceiling: Ceiling,
}

/// The frames one connection sends: its AARQ (management client 1, LLS), the initiate, and one
/// block transfer per block of the image.
struct Frames {
    aarq: Vec<u8>,
    initiate: Vec<u8>,
    blocks: Vec<Vec<u8>>,
}

fn frames(image: &[u8], version: &[u8]) -> Frames {
    let settings = ClientSettings {
        authentication: ClientAuthentication::Lls {
            password: b"12345678".to_vec(),
        },
        ..ClientSettings::default()
    };
    let action = |id: i8, parameters: dlms::Data<'_>| {
        let apdu = it::action_request(InvokeIdAndPriority(0xC1), id, Some(&parameters)).to_bytes();
        wrap(1, 1, &apdu).expect("fits")
    };
    Frames {
        aarq: wrap(1, 1, &settings.aarq().to_bytes()).expect("fits"),
        initiate: action(
            method::IMAGE_TRANSFER_INITIATE,
            it::initiate_parameters(version, image.len() as u32),
        ),
        blocks: image
            .chunks(crate::meter_bench::BLOCK_SIZE)
            .enumerate()
            .map(|(n, block)| {
                action(
                    method::IMAGE_BLOCK_TRANSFER,
                    it::block_parameters(n as u32, block),
                )
            })
            .collect(),
    }
}

/// Reads one reply frame (its wrapper header tells its length); what follows it stays in `buf`.
async fn reply(stream: &mut TcpStream, buf: &mut Vec<u8>, chunk: &mut [u8]) -> std::io::Result<()> {
    loop {
        if buf.len() >= HEADER_LEN {
            let len = HEADER_LEN + usize::from(u16::from_be_bytes([buf[6], buf[7]]));
            if buf.len() >= len {
                buf.drain(..len);
                return Ok(());
            }
        }
        match stream.read(chunk).await? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// One connection: associate and initiate (before `start`), then blocks until `deadline`.
async fn load(
    address: SocketAddr,
    frames: std::sync::Arc<Frames>,
    start: tokio::time::Instant,
    deadline: tokio::time::Instant,
) -> Result<u64, String> {
    let failed = |e: std::io::Error| format!("load on {address}: {e}");
    let mut stream = TcpStream::connect(address).await.map_err(failed)?;
    stream.set_nodelay(true).map_err(failed)?;
    let (mut buf, mut chunk) = (Vec::new(), vec![0u8; 4096]);
    for frame in [&frames.aarq, &frames.initiate] {
        stream.write_all(frame).await.map_err(failed)?;
        reply(&mut stream, &mut buf, &mut chunk)
            .await
            .map_err(failed)?;
    }
    tokio::time::sleep_until(start).await;
    let mut sent = 0u64;
    for frame in frames.blocks.iter().cycle() {
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        stream.write_all(frame).await.map_err(failed)?;
        reply(&mut stream, &mut buf, &mut chunk)
            .await
            .map_err(failed)?;
        sent += 1;
    }
    Ok(sent)
}

/// Measures a fleet of `meters` driven over `connections` connections (one meter each) for
/// `duration`, then the ceiling of the same shape.
pub async fn measure(
    executable: &Path,
    meters: u32,
    connections: usize,
    duration: Duration,
) -> Result<Capacity, String> {
    let dir =
        std::env::temp_dir().join(format!("meterfleet-bench-emulator-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = run(&dir, executable, meters, connections, duration).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(
    dir: &Path,
    executable: &Path,
    meters: u32,
    connections: usize,
    duration: Duration,
) -> Result<Capacity, String> {
    let connections = connections.clamp(1, meters as usize);
    let needed = connections as u64 + 64;
    emulator::fleet::ensure_open_files(emulator::fleet::FilesNeeded {
        required: needed,
        wanted: needed,
        per_connection: 1,
    })?;
    let key = crate::keys::bench_key();
    let public = dir.join("vendor.pub");
    crate::keys::write_public(&key, &public)?;
    let image_kib = 64;
    let scenario = dir.join("fleet.toml");
    std::fs::write(
        &scenario,
        crate::fleet_bench::scenario_text(meters, image_kib, "127.121.0.1"),
    )
    .map_err(|e| e.to_string())?;
    let targets = dir.join("targets.toml");
    let mut child = crate::child::spawn_fleet(
        executable,
        &scenario,
        &public,
        &targets,
        std::process::Stdio::null(),
    )?;
    let pid = child.id().ok_or("the fleet process has no id")?;
    let line = crate::child::first_line(&mut child).await?;
    if line.is_empty() {
        return Err("the fleet process did not start".into());
    }
    let addresses: Vec<SocketAddr> = harness::target::file::load(&targets)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|m| m.main.address.ip())
        .collect();
    let payload = vec![0x5A; image_kib as usize * 1024];
    let image = dlms::image::build(&key, 1, b"BENCH-2", &payload).expect("valid parameters");
    let frames = std::sync::Arc::new(frames(&image, b"BENCH-2"));
    // Every connection associates and initiates first; the clock starts together.
    let start = tokio::time::Instant::now()
        + Duration::from_secs(2)
        + Duration::from_millis(connections as u64);
    let deadline = start + duration;
    let tasks: Vec<_> = addresses
        .iter()
        .step_by((addresses.len() / connections).max(1))
        .take(connections)
        .map(|a| tokio::spawn(load(*a, frames.clone(), start, deadline)))
        .collect();
    tokio::time::sleep_until(start).await;
    let (cpu_before, started) = (crate::ceiling::cpu_time(pid), Instant::now());
    let mut blocks = 0u64;
    for task in tasks {
        blocks += task.await.map_err(|e| e.to_string())??;
    }
    let (cpu, elapsed) = (
        crate::ceiling::cpu_time(pid) - cpu_before,
        started.elapsed(),
    );
    let _ = child.kill().await;
    let (request, reply) = crate::meter_bench::block_frames();
    let ceiling = ceiling::measure(
        executable,
        Shape {
            listeners: meters as usize,
            connections,
            request: request.len(),
            reply: reply.len(),
            burst: None,
            round_trips_per_connection: None,
        },
        duration,
    )
    .await?;
    Ok(Capacity {
        meters: meters as usize,
        connections,
        blocks_per_second: blocks as f64 / elapsed.as_secs_f64().max(1e-9),
        cpu_us_per_block: cpu.as_secs_f64() * 1e6 / blocks.max(1) as f64,
        cores: cpu.as_secs_f64() / elapsed.as_secs_f64().max(1e-9),
        ceiling,
    })
}
