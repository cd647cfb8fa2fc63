//! `meterfleet emulate`: one emulated meter on a TCP or UDP port, or meters on a serial line
//! (directly, or behind an optical port in mode E), or a scenario's fleet, until interrupted.

use dlms::Transport;
use emulator::meter::{Meter, MeterConfig};
use emulator::net::host::{MeterHost, LOGICAL_DEVICE, PHYSICAL_ADDRESS};
use emulator::net::serve::serve;
use emulator::net::store::DirStore;
use emulator::profile::MeterProfile;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `meterfleet emulate`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct EmulateArgs {
    /// Where to listen (one meter; a scenario names its own addresses).
    #[arg(long, default_value = "127.0.0.1:4059", conflicts_with_all = ["scenario", "serial"])]
    listen: SocketAddr,
    /// The framing: wrapper (IEC 62056-4-7) or hdlc (IEC 62056-46) (one meter; a scenario
    /// names its own; a serial line carries HDLC).
    #[arg(long, default_value_t = Transport::Wrapper, conflicts_with_all = ["scenario", "serial"])]
    transport: Transport,
    /// A meter profile (TOML); the default is the strict reading of the Blue Book (one meter; a
    /// scenario gives each population its profile).
    #[arg(long, conflicts_with = "scenario")]
    profile: Option<PathBuf>,
    /// The public key (PEM) images must be signed with.
    #[arg(long)]
    trust_key: Option<PathBuf>,
    /// Keep the meter's non-volatile state here, so it survives restarts (with --scenario,
    /// each meter in a folder of its own named after it).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Run a whole fleet from a scenario (a file, or a built-in name such as `default`)
    /// instead of one meter: every meter on its own loopback address (needs --trust-key).
    #[arg(long, requires = "trust_key")]
    scenario: Option<PathBuf>,
    /// With --scenario: how the meters are reached, instead of the scenario's `addressing`:
    /// own-address (loopback only), gateway or port-range (one address, a port per meter).
    #[arg(long, requires = "scenario")]
    addressing: Option<emulator::scenario::Addressing>,
    /// With --scenario: listen on this address instead of the scenario's `first_address`
    /// (port-range and gateway addressing; `0.0.0.0` for every interface).
    #[arg(long, requires = "scenario")]
    bind: Option<std::net::Ipv4Addr>,
    /// With --scenario: the host name or address written into the targets file, where head-ends
    /// on other hosts reach the meters.
    #[arg(long, requires = "scenario")]
    advertise: Option<String>,
    /// With --scenario: where to write the targets file (`upgrade` and `conform` --target).
    #[arg(long, default_value = "targets.toml", requires = "scenario")]
    targets_out: PathBuf,
    /// With --scenario: the control endpoint (/metrics, /meters, /meters/NAME, POST
    /// /meters/NAME/reboot).
    #[arg(long, default_value = "127.0.0.1:9059", requires = "scenario")]
    control: SocketAddr,
    /// With --scenario: the bearer token every change through the control endpoint must carry
    /// (at least 16 characters); required when the endpoint is not on loopback.
    #[arg(
        long,
        requires = "scenario",
        env = "METERFLEET_CONTROL_TOKEN",
        hide_env_values = true
    )]
    control_token: Option<String>,
    /// Write the judge's verdict on the head-end to this file (JSON, schema meterfleet-judge/1),
    /// with JUnit (.xml) and HTML (.html) beside it, kept up to date every second while the
    /// meter or fleet runs.
    #[arg(long, value_name = "FILE")]
    judge: Option<PathBuf>,
    /// With --scenario: append every meter's events to this file as JSON lines.
    #[arg(long, requires = "scenario")]
    events: Option<PathBuf>,
    /// Serve on this serial port (a tty) instead of a socket: HDLC at --baud, 8N1.
    #[arg(long, value_name = "TTY", conflicts_with = "scenario")]
    serial: Option<String>,
    /// With --serial: the meter is behind an optical port: every session opens with the sign-on
    /// into protocol mode E (IEC 62056-21: 300 Bd 7E1, then HDLC at --baud, 8N1).
    #[arg(long, requires = "serial")]
    optical: bool,
    /// With --serial: HDLC's rate; with --optical, the rate the meter proposes (300 to 19200).
    #[arg(long, requires = "serial", default_value_t = 9600)]
    baud: u32,
    /// With --serial: this many meters on the line (an RS-485 multidrop line), at HDLC physical
    /// addresses 16, 17, ...; one meter answers at 17.
    #[arg(long, requires = "serial", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=100))]
    meters: u16,
    /// With --optical: the device address the meter answers in a sign-on request (`/?ADDRESS!`);
    /// a request without one is always answered.
    #[arg(long, requires = "optical", default_value = "00000001")]
    device_address: String,
    /// With --scenario: run only this shard's meters (a contiguous slice by index; each meter
    /// keeps its address, port and faults), and list only them in the targets file.
    #[command(flatten)]
    shard: crate::shard::ShardArgs,
}

const EXAMPLES: &str = "Examples:
  meterfleet emulate --listen 127.0.0.1:4059 --trust-key vendor.pub
  meterfleet emulate --listen 127.0.0.1:4061 --transport hdlc --profile quirky.toml --state-dir meter/
  meterfleet emulate --serial /dev/ttyUSB0 --baud 9600 --meters 3 --trust-key vendor.pub
  meterfleet emulate --serial /dev/ttyUSB1 --optical --baud 19200 --trust-key vendor.pub
  meterfleet emulate --scenario default --trust-key vendor.pub --targets-out fleet.toml
  meterfleet emulate --scenario default --trust-key vendor.pub --addressing port-range --bind 0.0.0.0 --advertise 192.0.2.7 --control-token \"$TOKEN\"
  meterfleet emulate --scenario 10k --trust-key vendor.pub --addressing port-range --shard-index 2 --shard-count 4 --targets-out shard-2.toml";

/// Runs the meter; fails with a message naming the file or address that is wrong.
pub fn run(args: EmulateArgs) -> ExitCode {
    match start(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn start(args: EmulateArgs) -> Result<(), String> {
    if let Some(path) = &args.scenario {
        return start_fleet(path, &args);
    }
    if args.shard.shard_count.is_some() {
        return Err("--shard-count shards a scenario's fleet: it needs --scenario".into());
    }
    if args.serial.is_some() {
        return start_serial(&args);
    }
    let host = meter_host(&args, args.state_dir.as_deref())?;
    let transport = args.transport;
    // One meter: its connections are served on one thread.
    let runtime = crate::process::runtime_for(1)?;
    runtime.block_on(async move {
        let listening = |e: std::io::Error| format!("listening on {}: {e}", args.listen);
        let socket = match transport {
            Transport::Udp => Socket::Udp(
                tokio::net::UdpSocket::bind(args.listen)
                    .await
                    .map_err(listening)?,
            ),
            _ => Socket::Tcp(
                tokio::net::TcpListener::bind(args.listen)
                    .await
                    .map_err(listening)?,
            ),
        };
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        let addressing = match transport {
            Transport::Wrapper => format!("wrapper, server wPort {LOGICAL_DEVICE}"),
            Transport::Udp => format!("wrapper over UDP, server wPort {LOGICAL_DEVICE}"),
            Transport::Hdlc => format!(
                "HDLC, server address {LOGICAL_DEVICE}/{PHYSICAL_ADDRESS} (or {LOGICAL_DEVICE} alone)"
            ),
        };
        println!("meter listening on {local} ({addressing}); clients 16 (no authentication), 1 (LLS), 48 (HLS-GMAC)");
        if !local.ip().is_loopback() {
            println!("warning: {local} is reachable from other hosts, not only from this one");
        }
        if args.trust_key.is_none() {
            println!("note: no --trust-key, so signed images cannot be verified");
        }
        if let Some(path) = args.judge.clone() {
            let host = host.clone();
            let name = local.to_string();
            tokio::spawn(keep_written(path, move || {
                let judge = host.with_meter(|m| m.judge().cloned()).unwrap_or_default();
                emulator::judge::Report::of([(name.as_str(), &judge)])
            }));
        }
        let served = async move {
            match socket {
                Socket::Tcp(listener) => serve(listener, host, transport).await,
                Socket::Udp(socket) => emulator::net::udp::serve_udp(socket, host).await,
            }
        };
        tokio::select! {
            r = served => r.map_err(|e| e.to_string()),
            _ = tokio::signal::ctrl_c() => {
                println!("interrupted");
                Ok(())
            }
        }
    })
}

/// A meter of the profile and trust key `args` give, its state kept in `state_dir`.
fn meter_host(
    args: &EmulateArgs,
    state_dir: Option<&std::path::Path>,
) -> Result<std::sync::Arc<MeterHost>, String> {
    let profile = match &args.profile {
        Some(path) => MeterProfile::load(path).map_err(|e| e.to_string())?,
        None => MeterProfile::default(),
    };
    let trusted_key = args
        .trust_key
        .as_deref()
        .map(crate::image_cmd::load_verifying_key)
        .transpose()?;
    let store = state_dir.map(DirStore::open).transpose()?;
    let state = store.as_ref().map(DirStore::load).transpose()?.flatten();
    let config = MeterConfig {
        profile,
        trusted_key,
        judge: true,
        ..MeterConfig::default()
    };
    let mut meter = match state {
        Some(state) => Meter::with_state(config, state),
        None => Meter::new(config),
    };
    if let Some(store) = &store {
        meter.set_journal(Box::new(store.journal()?));
    }
    Ok(MeterHost::new(meter, store))
}

/// Serves meters on a serial line until interrupted: one, or `--meters` at their own physical
/// addresses (each keeping its state in a folder of --state-dir named after its address).
fn start_serial(args: &EmulateArgs) -> Result<(), String> {
    use emulator::net::host::GATEWAY_FIRST_PHYSICAL;
    let path = args.serial.clone().expect("called with --serial");
    let physical: Vec<u16> = match args.meters {
        1 => vec![PHYSICAL_ADDRESS],
        n => (0..n).map(|i| GATEWAY_FIRST_PHYSICAL + i).collect(),
    };
    let hosts = physical
        .iter()
        .map(|p| {
            let dir = args.state_dir.as_ref().map(|d| match args.meters {
                1 => d.clone(),
                _ => d.join(p.to_string()),
            });
            meter_host(args, dir.as_deref())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let config = emulator::net::serial::SerialConfig {
        path: path.clone(),
        baud: args.baud,
        optical: args.optical,
        device_address: args.device_address.clone(),
        identification: "meterfleet".into(),
    };
    // One line carries one conversation at a time.
    let runtime = crate::process::runtime_for(1)?;
    runtime.block_on(async move {
        if let Some(judge) = args.judge.clone() {
            let named: Vec<(String, std::sync::Arc<MeterHost>)> = physical
                .iter()
                .map(|p| format!("{path}/{p}"))
                .zip(hosts.iter().cloned())
                .collect();
            tokio::spawn(keep_written(judge, move || {
                let judges: Vec<(String, emulator::judge::Judge)> = named
                    .iter()
                    .map(|(name, host)| {
                        (name.clone(), host.with_meter(|m| m.judge().cloned()).unwrap_or_default())
                    })
                    .collect();
                emulator::judge::Report::of(judges.iter().map(|(n, j)| (n.as_str(), j)))
            }));
        }
        let addresses = match physical.as_slice() {
            [one] => format!("server address {LOGICAL_DEVICE}/{one}"),
            many => format!(
                "{} meters at physical addresses {} to {} (logical device {LOGICAL_DEVICE})",
                many.len(),
                many[0],
                many[many.len() - 1]
            ),
        };
        let line = if args.optical {
            format!(
                "optical port: sign-on at 300 Bd 7E1 (device address {}), mode E at {} Bd 8N1",
                args.device_address, args.baud
            )
        } else {
            format!("HDLC at {} Bd 8N1", args.baud)
        };
        println!("meter on serial port {path} ({line}; {addresses}); clients 16 (no authentication), 1 (LLS), 48 (HLS-GMAC)");
        if args.trust_key.is_none() {
            println!("note: no --trust-key, so signed images cannot be verified");
        }
        tokio::select! {
            r = emulator::net::serial::serve_serial(config, hosts) => r.map_err(|e| e.to_string()),
            _ = tokio::signal::ctrl_c() => {
                println!("interrupted");
                Ok(())
            }
        }
    })
}

/// Where a lone meter listens: a TCP listener (wrapper, HDLC) or a UDP socket.
enum Socket {
    Tcp(tokio::net::TcpListener),
    Udp(tokio::net::UdpSocket),
}

impl Socket {
    fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self {
            Socket::Tcp(l) => l.local_addr(),
            Socket::Udp(s) => s.local_addr(),
        }
    }
}

/// Runs every meter of a scenario until interrupted.
fn start_fleet(path: &std::path::Path, args: &EmulateArgs) -> Result<(), String> {
    let scenario = emulator::scenario::Scenario::find(path)
        .and_then(|s| s.with_reach(args.addressing, args.bind, args.advertise.clone()))
        .map_err(|e| e.to_string())?;
    let trusted =
        crate::image_cmd::load_verifying_key(args.trust_key.as_deref().expect("clap requires it"))?;
    // Doomed meters trust a key nobody has.
    let stranger = *p256::ecdsa::SigningKey::random(&mut rand_core::OsRng).verifying_key();
    let shard = args.shard.resolve()?;
    let plans = match shard {
        Some(shard) => shard.take(scenario.meters()),
        None => scenario.meters(),
    };
    let count = plans.len();
    if count == 0 {
        return Err(format!(
            "{} of scenario {} has no meters",
            shard.map_or("this".to_string(), |s| s.to_string()),
            scenario.name
        ));
    }
    let mut needed = emulator::fleet::files_needed(count, false);
    if args.state_dir.is_some() {
        // Each kept meter holds its folder's lock and its block journal open.
        needed.required += 2 * count as u64;
        needed.wanted += 2 * count as u64;
    }
    emulator::fleet::ensure_open_files(needed)?;
    let runtime = crate::process::runtime()?;
    runtime.block_on(async {
        let fleet = std::sync::Arc::new(
            emulator::fleet::start_kept(
                &scenario,
                plans,
                trusted,
                stranger,
                args.state_dir.as_deref(),
            )
            .await?,
        );
        let control = tokio::net::TcpListener::bind(args.control)
            .await
            .map_err(|e| format!("control endpoint {}: {e}", args.control))?;
        // The address bound (a port 0 asked for is chosen now), as the Host check needs it.
        let control_address = control.local_addr().map_err(|e| e.to_string())?;
        let guard = emulator::control::Guard::new(control_address, args.control_token.clone())
            .map_err(|e| e.to_string())?;
        if !args.control.ip().is_loopback() {
            println!(
                "warning: the control endpoint {} is reachable from other hosts; every change needs its token",
                args.control
            );
        }
        tokio::spawn(emulator::control::serve(control, fleet.clone(), guard));
        if let Some(path) = args.events.clone() {
            tokio::spawn(emulator::fleet::write_events(fleet.clone(), path));
        }
        if let Some(path) = args.judge.clone() {
            let fleet = fleet.clone();
            tokio::spawn(keep_written(path, move || fleet.judge_report()));
        }
        crate::process::write(&args.targets_out, &fleet.targets_toml_with(statement_line))?;
        let first = &fleet.meters[0].plan;
        let last = &fleet.meters[count - 1].plan;
        use emulator::scenario::Addressing;
        let place = match (scenario.addressing, scenario.transport) {
            (Addressing::OwnAddress, Transport::Udp) => format!(
                "listening on {} to {} (wrapper over UDP, server wPort {})",
                first.address, last.address, first.wport
            ),
            (Addressing::Gateway, Transport::Udp) => format!(
                "behind the gateway {} (wrapper over UDP, server wPorts {} to {})",
                first.address, first.wport, last.wport
            ),
            (Addressing::OwnAddress, Transport::Wrapper) => format!(
                "listening on {} to {} (wrapper, server wPort {})",
                first.address, last.address, first.wport
            ),
            (Addressing::OwnAddress, Transport::Hdlc) => format!(
                "listening on {} to {} (HDLC, logical device {}, physical address {})",
                first.address, last.address, LOGICAL_DEVICE, first.physical_address
            ),
            (Addressing::Gateway, Transport::Wrapper) => format!(
                "behind the gateway {} (wrapper, server wPorts {} to {})",
                first.address, first.wport, last.wport
            ),
            (Addressing::Gateway, Transport::Hdlc) => format!(
                "behind the gateway {} (HDLC, logical device {}, physical addresses {} to {})",
                first.address, LOGICAL_DEVICE, first.physical_address, last.physical_address
            ),
            (Addressing::PortRange, transport) => format!(
                "listening on {} ports {} to {} ({transport})",
                first.address.ip(),
                first.address.port(),
                last.address.port()
            ),
        };
        if !first.address.ip().is_loopback() {
            println!(
                "warning: the meters listen on {}, reachable from other hosts; head-ends reach them at {}",
                first.address.ip(),
                first.advertised
            );
        }
        let of_shard = shard.map_or(String::new(), |s| format!(" ({s})"));
        println!(
            "{count} meters of scenario {}{of_shard} (seed {}) {place}, {} doomed; targets written to {}; control on http://{}",
            scenario.name,
            scenario.seed,
            fleet.doomed(),
            args.targets_out.display(),
            control_address
        );
        tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
        println!("interrupted");
        Ok(())
    })
}

/// Writes the judge's report to `path` (JSON, with JUnit and HTML beside it) now and again every
/// second it changes, until the task is dropped; a write that fails is logged and tried again.
async fn keep_written(path: PathBuf, report: impl Fn() -> emulator::judge::Report) {
    let mut last = None;
    loop {
        let now = report();
        if last.as_ref() != Some(&now) {
            match crate::judge_report::write(&path, &now) {
                Ok(()) => last = Some(now),
                Err(e) => tracing::warn!("the judge's report: {e}"),
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// What the vendor of an emulated meter with `profile` declares, as a targets file's
/// `statement` line, so that `conform --target` judges the options it observes.
fn statement_line(profile: &emulator::profile::MeterProfile) -> Option<String> {
    let fields = lab::conform_bench::statement_of(profile).fields();
    let pairs: Vec<String> = fields.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    Some(format!("statement = {{ {} }}", pairs.join(", ")))
}
