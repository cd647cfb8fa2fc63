//! The blocks a fleet in another process has stored and the requests its meters were sent,
//! read from its control endpoint's `/metrics` while a campaign runs, with the CPU time of the
//! fleet's process and of this one (the harness): the campaign's block rate over time as the
//! meters saw it, from which the bench takes the middle half of the transfer, away from its
//! start and its tail, what each side spent on a block there, in CPU and in requests, and how
//! many requests a connection carried.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The counter `emulate`'s `/metrics` gives the blocks the meters stored under.
const BLOCKS_STORED: &str = "meterfleet_blocks_received_total";
/// The counter of every request the meters were sent (blocks and the rest).
const REQUESTS: &str = "meterfleet_requests_total";
/// The counter of the connections that reached a meter.
const CONNECTIONS: &str = "meterfleet_connections_total";

/// The fleet's control address, from the line `emulate --scenario` prints once it serves
/// (`... control on http://ADDRESS`).
pub(crate) fn control_address(first_line: &str) -> Option<SocketAddr> {
    first_line
        .rsplit_once("control on http://")?
        .1
        .trim()
        .parse()
        .ok()
}

/// What the fleet whose control endpoint is `control` has counted so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Blocks stored.
    pub blocks: u64,
    /// Requests the meters were sent.
    pub requests: u64,
    /// Connections that reached a meter.
    pub connections: u64,
}

/// The fleet's counts so far, from its `/metrics`.
pub(crate) async fn counts(control: SocketAddr) -> Result<Counts, String> {
    let mut stream = tokio::net::TcpStream::connect(control)
        .await
        .map_err(|e| format!("the fleet's control endpoint {control}: {e}"))?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: fleet\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .await
        .map_err(|e| e.to_string())?;
    let counter = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .ok_or_else(|| format!("the fleet's /metrics has no {name}"))
    };
    Ok(Counts {
        blocks: counter(BLOCKS_STORED)?,
        requests: counter(REQUESTS)?,
        connections: counter(CONNECTIONS)?,
    })
}

/// One reading.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// When the counter was read.
    at: Instant,
    /// The blocks the fleet had stored.
    blocks: u64,
    /// The requests its meters had been sent.
    requests: u64,
    /// The connections that had reached its meters.
    connections: u64,
    /// The fleet process's CPU time so far.
    fleet_cpu: Duration,
    /// This process's CPU time so far.
    harness_cpu: Duration,
}

/// The counter, and both processes' CPU time, read every `every` until `stop` fires, then
/// once more.
pub(crate) async fn sample(
    control: SocketAddr,
    fleet_pid: u32,
    every: Duration,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Samples {
    let read = || async {
        let Counts {
            blocks,
            requests,
            connections,
        } = counts(control).await.ok()?;
        Some(Sample {
            at: Instant::now(),
            blocks,
            requests,
            connections,
            fleet_cpu: crate::ceiling::cpu_time(fleet_pid),
            harness_cpu: crate::ceiling::cpu_time(std::process::id()),
        })
    };
    let mut samples = Samples::default();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
        samples.0.extend(read().await);
    }
    samples.0.extend(read().await);
    samples
}

/// The readings, in time order.
#[derive(Debug, Default)]
pub(crate) struct Samples(Vec<Sample>);

/// The campaign over the middle half of its blocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MiddleHalf {
    /// Blocks stored per second.
    pub per_second: f64,
    /// The fleet process's CPU time per block, in microseconds.
    pub fleet_cpu_us: f64,
    /// The harness's (this process's) CPU time per block, in microseconds.
    pub harness_cpu_us: f64,
    /// Requests per block stored (the blocks and every other request, each a round trip).
    pub requests_per_block: f64,
    /// Requests per connection opened there; none when no connection was opened.
    pub requests_per_connection: Option<f64>,
}

impl Samples {
    /// The rate between the moments the fleet had stored a quarter and three quarters of all
    /// it stored (each moment interpolated between the readings around it), and the CPU time
    /// and the requests per block and per connection from the last reading before a quarter
    /// to the first that shows three quarters.
    pub(crate) fn middle_half(&self) -> Option<MiddleHalf> {
        let total = self.0.last()?.blocks as f64;
        let (quarter, from) = self.crossing(total / 4.0)?;
        let (three_quarters, to) = self.crossing(total * 3.0 / 4.0)?;
        let seconds = three_quarters.duration_since(quarter).as_secs_f64();
        // From the last reading before a quarter: never the same reading as the one that
        // shows three quarters, however few readings a short campaign gave.
        let (from, to) = (self.0[from.saturating_sub(1)], self.0[to]);
        if to.blocks <= from.blocks {
            return None;
        }
        let blocks = (to.blocks - from.blocks) as f64;
        let requests = to.requests.saturating_sub(from.requests) as f64;
        let connections = to.connections.saturating_sub(from.connections);
        let per_block = |cpu: Duration| cpu.as_secs_f64() * 1e6 / blocks;
        (seconds > 0.0).then(|| MiddleHalf {
            per_second: total / 2.0 / seconds,
            fleet_cpu_us: per_block(to.fleet_cpu.saturating_sub(from.fleet_cpu)),
            harness_cpu_us: per_block(to.harness_cpu.saturating_sub(from.harness_cpu)),
            requests_per_block: requests / blocks,
            requests_per_connection: (connections > 0).then(|| requests / connections as f64),
        })
    }

    /// When the count reached `count`, and the first reading that shows it.
    fn crossing(&self, count: f64) -> Option<(Instant, usize)> {
        let after = self.0.iter().position(|s| s.blocks as f64 >= count)?;
        let s1 = self.0[after];
        let Some(s0) = after.checked_sub(1).map(|i| self.0[i]) else {
            return Some((s1.at, after));
        };
        let fraction = (count - s0.blocks as f64) / (s1.blocks - s0.blocks) as f64;
        Some((s0.at + s1.at.duration_since(s0.at).mul_f64(fraction), after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_address_is_read_from_the_fleets_line() {
        let line = "1000 meters of scenario bench (seed 1) listening on 127.2.0.1:4059 to \
                    127.2.3.232:4059 (wrapper, server wPort 1), 0 doomed; targets written to \
                    t.toml; control on http://127.0.0.1:40123\n";
        assert_eq!(
            control_address(line),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        assert_eq!(control_address("no control here"), None);
    }

    #[test]
    fn the_middle_half_leaves_out_a_slow_start_and_a_slow_tail() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let sample = |ms: u64, blocks: u64, cpu_ms: u64| Sample {
            at: at(ms),
            blocks,
            // A block, and one other request for every ten blocks; a connection every 100.
            requests: blocks + blocks / 10,
            connections: blocks / 100,
            fleet_cpu: Duration::from_millis(cpu_ms),
            harness_cpu: Duration::from_millis(cpu_ms / 2),
        };
        // 100 blocks in the first second, 800 in the next two, 100 in the last four.
        let samples = Samples(vec![
            sample(0, 0, 0),
            sample(1000, 100, 100),
            sample(2000, 500, 300),
            sample(3000, 900, 500),
            sample(7000, 1000, 900),
        ]);
        // A quarter (250) at 1.375 s, three quarters (750) at 2.625 s: 500 blocks in 1.25 s;
        // the readings around them (100 and 900 blocks) 400 ms of fleet CPU apart.
        let middle = samples.middle_half().unwrap();
        assert!((middle.per_second - 400.0).abs() < 1e-6, "{middle:?}");
        assert!((middle.fleet_cpu_us - 500.0).abs() < 1e-6, "{middle:?}");
        assert!((middle.harness_cpu_us - 250.0).abs() < 1e-6, "{middle:?}");
        assert!((middle.requests_per_block - 1.1).abs() < 1e-6, "{middle:?}");
        // 880 requests over 8 connections.
        assert_eq!(middle.requests_per_connection, Some(110.0));
    }

    #[test]
    fn no_blocks_or_one_reading_gives_no_rate() {
        assert_eq!(Samples::default().middle_half(), None);
        let one = Samples(vec![Sample {
            at: Instant::now(),
            blocks: 10,
            requests: 12,
            connections: 1,
            fleet_cpu: Duration::ZERO,
            harness_cpu: Duration::ZERO,
        }]);
        assert_eq!(one.middle_half(), None);
    }

    #[test]
    fn a_campaign_between_two_readings_still_gives_its_cost_per_block() {
        let t0 = Instant::now();
        let sample = |ms: u64, blocks: u64, requests: u64, cpu_ms: u64| Sample {
            at: t0 + Duration::from_millis(ms),
            blocks,
            requests,
            // Every connection opened before the first reading.
            connections: 5,
            fleet_cpu: Duration::from_millis(cpu_ms),
            harness_cpu: Duration::from_millis(cpu_ms),
        };
        let samples = Samples(vec![sample(0, 0, 0, 0), sample(100, 340, 700, 34)]);
        let middle = samples.middle_half().unwrap();
        assert!((middle.fleet_cpu_us - 100.0).abs() < 1e-6, "{middle:?}");
        assert!(
            (middle.requests_per_block - 700.0 / 340.0).abs() < 1e-6,
            "{middle:?}"
        );
        assert_eq!(middle.requests_per_connection, None, "no connection opened");
    }
}
