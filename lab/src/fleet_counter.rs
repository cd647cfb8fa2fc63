//! The blocks a fleet in another process has stored, read from its control endpoint's
//! `/metrics` while a campaign runs: the campaign's block rate over time as the meters saw it,
//! from which the bench takes the middle half of the transfer, away from its start and its
//! tail.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The counter `emulate`'s `/metrics` gives the blocks the meters stored under.
const BLOCKS_STORED: &str = "meterfleet_blocks_received_total";

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

/// The blocks stored so far by the fleet whose control endpoint is `control`.
pub(crate) async fn blocks_stored(control: SocketAddr) -> Result<u64, String> {
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
    text.lines()
        .find_map(|line| line.strip_prefix(BLOCKS_STORED)?.trim().parse().ok())
        .ok_or_else(|| format!("the fleet's /metrics has no {BLOCKS_STORED}"))
}

/// The counter read every `every` until `stop` fires, then once more.
pub(crate) async fn sample(
    control: SocketAddr,
    every: Duration,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Samples {
    let mut samples = Samples::default();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
        if let Ok(count) = blocks_stored(control).await {
            samples.0.push((Instant::now(), count));
        }
    }
    if let Ok(count) = blocks_stored(control).await {
        samples.0.push((Instant::now(), count));
    }
    samples
}

/// The counter's readings, in time order.
#[derive(Debug, Default)]
pub(crate) struct Samples(Vec<(Instant, u64)>);

impl Samples {
    /// Blocks per second between the moments the fleet had stored a quarter and three
    /// quarters of all it stored (each moment interpolated between the readings around it).
    pub(crate) fn middle_half_rate(&self) -> Option<f64> {
        let total = self.0.last()?.1 as f64;
        let quarter = self.crossing(total / 4.0)?;
        let three_quarters = self.crossing(total * 3.0 / 4.0)?;
        let seconds = three_quarters.duration_since(quarter).as_secs_f64();
        (seconds > 0.0).then(|| total / 2.0 / seconds)
    }

    /// When the count reached `count`.
    fn crossing(&self, count: f64) -> Option<Instant> {
        let after = self.0.iter().position(|&(_, c)| c as f64 >= count)?;
        let (t1, c1) = self.0[after];
        let Some(&(t0, c0)) = after.checked_sub(1).and_then(|i| self.0.get(i)) else {
            return Some(t1);
        };
        let fraction = (count - c0 as f64) / (c1 - c0) as f64;
        Some(t0 + t1.duration_since(t0).mul_f64(fraction))
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
        // 100 blocks in the first second, 800 in the next two, 100 in the last four.
        let samples = Samples(vec![
            (at(0), 0),
            (at(1000), 100),
            (at(2000), 500),
            (at(3000), 900),
            (at(7000), 1000),
        ]);
        // A quarter (250) at 1.375 s, three quarters (750) at 2.625 s: 500 blocks in 1.25 s.
        let rate = samples.middle_half_rate().unwrap();
        assert!((rate - 400.0).abs() < 1e-6, "{rate}");
    }

    #[test]
    fn no_blocks_or_one_reading_gives_no_rate() {
        assert_eq!(Samples::default().middle_half_rate(), None);
        let one = Samples(vec![(Instant::now(), 10)]);
        assert_eq!(one.middle_half_rate(), None);
    }
}
