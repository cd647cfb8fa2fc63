//! `meterfleet upgrade`: upgrade one meter, or run a campaign over a targets file.

use harness::campaign::{self, CampaignSettings};
use harness::target::{Auth, Target, Transport};
use harness::transfer::{Activation, BlockService, Driver, Outcome, Plan};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `meterfleet upgrade`.
#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    /// One meter: tcp://HOST:PORT.
    #[arg(long, conflicts_with = "targets", required_unless_present = "targets")]
    target: Option<String>,
    /// A campaign: a targets file (TOML), as `meterfleet emulate --scenario` writes.
    #[arg(long)]
    targets: Option<PathBuf>,
    /// The framing: wrapper or hdlc.
    #[arg(long, value_enum, default_value_t = TransportArg::Wrapper)]
    transport: TransportArg,
    /// The client SAP: 16 public, 1 management (LLS), 48 HLS-GMAC.
    #[arg(long, default_value_t = 16)]
    client: u16,
    /// The LLS password.
    #[arg(long, conflicts_with = "keys")]
    password: Option<String>,
    /// HLS-GMAC keys (TOML: system_title, encryption_key, authentication_key, in hex).
    #[arg(long)]
    keys: Option<PathBuf>,
    /// The image file.
    #[arg(long)]
    image: PathBuf,
    /// The image identifier for initiate (default: the version in an MFIM image's header, else
    /// the file name).
    #[arg(long)]
    identifier: Option<String>,
    /// The version the part must report afterwards (default: the identifier).
    #[arg(long)]
    version: Option<String>,
    /// The firmware part b (default: the part in an MFIM image's header, else 1).
    #[arg(long)]
    part: Option<u8>,
    /// When to activate: now, at=UNIX_SECONDS, or no.
    #[arg(long, default_value = "now")]
    activate: String,
    /// Zero-pad the last block to the block size.
    #[arg(long)]
    pad_last_block: bool,
    /// Send the blocks as unconfirmed ACTIONs, N per write, and read the bit-string after
    /// each pass to find what landed, as a multicast transfer does (wrapper only; a meter that
    /// takes none of them gets the rest confirmed). Without it every block is confirmed.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    unconfirmed_blocks: Option<u32>,
    /// Keep every APDU exchanged (hex and decoded) in the JSON report.
    #[arg(long)]
    trace: bool,
    /// Seconds one request may wait for its reply.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Seconds a meter may stay unreachable (reboots, cuts) before it counts as failed.
    #[arg(long, default_value_t = 120.0)]
    reconnect_deadline: f64,
    /// Meters receiving blocks at once (campaigns); a meter gives its place up once every
    /// block is in.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Passes over the meters still failing (campaigns).
    #[arg(long, default_value_t = 3)]
    passes: u32,
    /// Write the report here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The framing on the wire.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum TransportArg {
    /// IEC 62056-4-7 wrapper.
    Wrapper,
    /// HDLC.
    Hdlc,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    system_title: String,
    encryption_key: String,
    authentication_key: String,
}

fn hex_array<const N: usize>(
    s: &str,
    what: &str,
    path: &std::path::Path,
) -> Result<[u8; N], String> {
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    bytes.and_then(|b| b.try_into().ok()).ok_or_else(|| {
        format!(
            "{}: field {what}: expected {N} bytes in hex",
            path.display()
        )
    })
}

fn load_keys(path: &std::path::Path) -> Result<Auth, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let k: KeysFile =
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
    Ok(Auth::HlsGmac {
        keys: dlms::security::Keys {
            encryption: hex_array(&k.encryption_key, "encryption_key", path)?,
            authentication: hex_array(&k.authentication_key, "authentication_key", path)?,
        },
        system_title: hex_array(&k.system_title, "system_title", path)?,
    })
}

fn plan(args: &UpgradeArgs) -> Result<Plan, String> {
    let image = std::fs::read(&args.image).map_err(|e| format!("{}: {e}", args.image.display()))?;
    let header = dlms::image::parse(&image).ok();
    let identifier = match (&args.identifier, &header) {
        (Some(id), _) => id.clone().into_bytes(),
        (None, Some(h)) => h.identifier.to_vec(),
        (None, None) => args
            .image
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned().into_bytes())
            .unwrap_or_default(),
    };
    let part = args.part.or(header.as_ref().map(|h| h.part)).unwrap_or(1);
    let expected_version = args
        .version
        .clone()
        .map(String::into_bytes)
        .unwrap_or_else(|| {
            header
                .as_ref()
                .map_or(identifier.clone(), |h| h.identifier.to_vec())
        });
    let activation = match args.activate.as_str() {
        "now" => Activation::Now,
        "no" => Activation::No,
        other => match other.strip_prefix("at=").and_then(|t| t.parse().ok()) {
            Some(secs) => Activation::At(secs),
            None => {
                return Err(format!(
                    "--activate {other}: expected now, no or at=UNIX_SECONDS"
                ))
            }
        },
    };
    Ok(Plan {
        expected_version,
        part,
        activation,
        pad_last_block: args.pad_last_block,
        block_service: args
            .unconfirmed_blocks
            .map_or(BlockService::Confirmed, |burst| BlockService::Unconfirmed {
                burst,
            }),
        trace: args.trace,
        reconnect_deadline: Duration::from_secs_f64(args.reconnect_deadline),
        ..Plan::new(image, &identifier)
    })
}

fn auth(args: &UpgradeArgs) -> Result<Auth, String> {
    match (&args.password, &args.keys) {
        (Some(pw), _) => Ok(Auth::Lls(pw.clone().into_bytes())),
        (None, Some(path)) => load_keys(path),
        (None, None) => Ok(Auth::None),
    }
}

fn write_json(path: &Option<PathBuf>, value: &impl serde::Serialize) -> Result<(), String> {
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(value).expect("reports serialize");
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Runs the upgrade; the exit status is 0 only if every meter reached the new firmware (or,
/// with --activate no or at=, was verified and left ready).
pub fn run(args: UpgradeArgs) -> ExitCode {
    crate::cli::exit_status(execute(args))
}

fn execute(args: UpgradeArgs) -> Result<bool, String> {
    let plan = plan(&args)?;
    let auth = auth(&args)?;
    let transport = match args.transport {
        TransportArg::Wrapper => Transport::Wrapper,
        TransportArg::Hdlc => Transport::Hdlc,
    };
    let targets: Vec<Target> = match (&args.target, &args.targets) {
        (Some(url), _) => vec![Target::parse(url, transport)?],
        (None, Some(path)) => harness::targets_file::load(path)?,
        (None, None) => unreachable!("clap requires one"),
    };
    let targets: Vec<Target> = targets
        .into_iter()
        .map(|mut t| {
            if args.target.is_some() {
                t.client_sap = args.client;
                t.auth = auth.clone();
            }
            t.request_timeout = Duration::from_secs_f64(args.timeout);
            t
        })
        .collect();
    let runtime = crate::cli::runtime()?;
    if args.target.is_some() {
        let report = runtime.block_on(Driver::new(&targets[0], &plan).run());
        for e in &report.events {
            println!(
                "{:>8.3} s  {:<13} {}",
                e.at_ms as f64 / 1000.0,
                format!("{:?}", e.step),
                e.message
            );
        }
        println!(
            "{}: {}",
            report.meter,
            match &report.outcome {
                Outcome::Upgraded { evidence } => format!("upgraded ({evidence:?})"),
                Outcome::ReadyForActivation => "verified, ready for activation".into(),
                Outcome::Failed { step, reason } => format!("FAILED at {step:?}: {reason}"),
            }
        );
        write_json(&args.json, &report)?;
        return Ok(!matches!(report.outcome, Outcome::Failed { .. }));
    }
    let settings = CampaignSettings {
        concurrency: args.concurrency,
        passes: args.passes,
    };
    let report = runtime.block_on(campaign::run(
        targets,
        Arc::new(plan),
        &settings,
        crate::progress::bar(),
        |_, _| {},
    ));
    print!("{}", report.summary.render());
    write_json(&args.json, &report)?;
    Ok(report.summary.failed == 0)
}
