//! The flags that name meters, the same in every command: `--target` and the flags that
//! override what a targets file says.

use harness::target::{file, resolve, MeterTarget, Overrides, Transport};
use std::path::PathBuf;
use std::time::Duration;

/// Which meters, and how to reach them.
#[derive(Debug, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct TargetArgs {
    /// The meter or meters: a targets file (TOML: [defaults] and [[meter]] tables),
    /// tcp://HOST:PORT (the wrapper), hdlc+tcp://HOST:PORT[/PHYSICAL], serial://TTY?baud=N[&server=PHYSICAL]
    /// (HDLC on a serial line) or optical://TTY (the optical probe, IEC 62056-21 mode E).
    #[arg(long, visible_alias = "targets", value_name = "FILE|URL")]
    pub target: Option<String>,
    /// The framing, overriding the file's: wrapper or hdlc.
    #[arg(long)]
    pub transport: Option<Transport>,
    /// The client SAP to associate as (16 public, 1 management), overriding the file's.
    #[arg(long, value_name = "SAP")]
    pub client: Option<u16>,
    /// Associate with LLS and this password (as client 1 unless --client or the file says).
    #[arg(long, conflicts_with = "hls_keys")]
    pub password: Option<String>,
    /// Associate with HLS-GMAC: a TOML file with system_title, encryption_key and
    /// authentication_key in hex, and optionally client = SAP.
    #[arg(long, value_name = "FILE")]
    pub hls_keys: Option<PathBuf>,
    /// Seconds one request may wait for its reply.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub timeout: Option<Duration>,
    #[command(flatten)]
    #[serde(default)]
    pub shard: crate::shard::ShardArgs,
}

impl TargetArgs {
    /// The flags given, by name (for modes where none has a meaning).
    pub fn given(&self) -> Vec<&'static str> {
        [
            (self.target.is_some(), "--target"),
            (self.transport.is_some(), "--transport"),
            (self.client.is_some(), "--client"),
            (self.password.is_some(), "--password"),
            (self.hls_keys.is_some(), "--hls-keys"),
            (self.timeout.is_some(), "--timeout"),
            (self.shard.shard_index.is_some(), "--shard-index"),
            (self.shard.shard_count.is_some(), "--shard-count"),
        ]
        .into_iter()
        .filter_map(|(given, flag)| given.then_some(flag))
        .collect()
    }

    /// The meters `--target` names (this shard's, when sharded), with the flags applied to each.
    pub fn meters(&self) -> Result<Vec<MeterTarget>, String> {
        let spec = self.target.as_deref().ok_or(
            "--target is required: a targets file, tcp://HOST:PORT, hdlc+tcp://HOST:PORT, serial://TTY or optical://TTY",
        )?;
        let mut meters = resolve(spec).map_err(|e| e.to_string())?;
        if let Some(shard) = self.shard.resolve()? {
            meters = shard.take(meters);
            if meters.is_empty() {
                return Err(format!("{shard} of {spec} has no meters"));
            }
            tracing::info!("{shard}: {} meters", meters.len());
        }
        let overrides = self.overrides()?;
        for meter in &mut meters {
            overrides.apply(meter).map_err(|e| e.to_string())?;
        }
        Ok(meters)
    }

    fn overrides(&self) -> Result<Overrides, String> {
        let hls = match &self.hls_keys {
            Some(path) => Some(file::load_hls_keys(path).map_err(|e| e.to_string())?),
            None => None,
        };
        Ok(Overrides {
            transport: self.transport,
            client_sap: self.client,
            password: self.password.clone(),
            hls,
            request_timeout: self.timeout,
        })
    }
}

/// A number of seconds on the command line: above 0 and at most a day.
pub fn seconds(text: &str) -> Result<Duration, String> {
    let limit = Duration::from_secs(24 * 3600);
    text.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| !d.is_zero() && *d <= limit)
        .ok_or_else(|| {
            format!(
                "`{text}` is not a number of seconds above 0 and at most {}",
                limit.as_secs()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_bounded_and_never_panic() {
        assert_eq!(seconds("2.5"), Ok(Duration::from_millis(2500)));
        for bad in ["nan", "inf", "-1", "0", "1e30", "x", "86401"] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
    }
}
