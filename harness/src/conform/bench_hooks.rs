//! A real bench's hooks: the commands a targets file gives to power-cycle the meter (a lab
//! supply, a smart plug) and to put it back in its factory state before each case. Without them
//! the cases that need a reboot or a fresh meter are skipped, with that reason.

use super::engine::{Bench, BenchError};
use crate::target::{BenchHooks, Endpoint, MeterTarget};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest a hook may run before it is killed and counted as failed.
const HOOK_LIMIT: Duration = Duration::from_secs(300);

/// A bench whose power and reset are shell commands (`sh -c`), with `METER_NAME` and
/// `METER_ADDRESS` in their environment.
pub struct CommandBench {
    hooks: BenchHooks,
    name: String,
    address: Endpoint,
}

impl CommandBench {
    /// The bench of `target`'s hooks.
    pub fn new(target: &MeterTarget) -> Self {
        CommandBench {
            hooks: target.bench.clone(),
            name: target.main.name.clone(),
            address: target.main.address.clone(),
        }
    }

    fn run(&self, what: &str, command: &str) -> Result<(), BenchError> {
        let failed = |why: String| BenchError(format!("{what} hook `{command}`: {why}"));
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("METER_NAME", &self.name)
            .env("METER_ADDRESS", self.address.to_string())
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| failed(e.to_string()))?;
        let started = Instant::now();
        loop {
            match child.try_wait().map_err(|e| failed(e.to_string()))? {
                Some(status) if status.success() => return Ok(()),
                Some(status) => return Err(failed(format!("ended with {status}"))),
                None if started.elapsed() > HOOK_LIMIT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(failed(format!("still running after {HOOK_LIMIT:?}")));
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Bench for CommandBench {
    fn resets(&self) -> bool {
        self.hooks.reset.is_some()
    }

    fn fresh(&mut self) -> Result<Option<SocketAddr>, BenchError> {
        if let Some(reset) = &self.hooks.reset {
            self.run("reset", reset)?;
        }
        Ok(None)
    }

    fn power_cycle(&mut self) -> Result<(), BenchError> {
        match &self.hooks.power_cycle {
            Some(command) => self.run("power_cycle", command),
            None => Err(BenchError("this target has no power_cycle hook".into())),
        }
    }

    fn can_power_cycle(&self) -> bool {
        self.hooks.power_cycle.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Target, Transport};

    fn bench(power_cycle: Option<&str>) -> CommandBench {
        let mut target = MeterTarget::bare(Target::new(
            "127.0.0.1:4059".parse::<SocketAddr>().unwrap(),
            Transport::Wrapper,
        ));
        target.bench.power_cycle = power_cycle.map(str::to_string);
        CommandBench::new(&target)
    }

    #[test]
    fn a_hook_runs_with_the_meter_in_its_environment_and_its_failure_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("cycled");
        let command = format!("echo \"$METER_ADDRESS\" > '{}'", marker.display());
        let mut b = bench(Some(&command));
        assert!(b.can_power_cycle() && !b.resets());
        b.power_cycle().unwrap();
        assert_eq!(
            std::fs::read_to_string(&marker).unwrap(),
            "127.0.0.1:4059\n"
        );
        let e = bench(Some("exit 3")).power_cycle().unwrap_err();
        assert!(e.0.contains("power_cycle hook `exit 3`: ended with"), "{e}");
        assert!(bench(None).power_cycle().is_err());
    }
}
