//! `meterfleet ports`: the serial ports this machine has, for `--target serial://...` and
//! `optical://...` and for `emulate --serial`.

use std::process::ExitCode;
use tokio_serial::SerialPortType;

/// Arguments of `meterfleet ports`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  meterfleet ports\n  meterfleet ports --json")]
pub struct PortsArgs {
    /// One JSON object per port on standard output instead of a table.
    #[arg(long)]
    json: bool,
}

/// One port as listed.
#[derive(Debug, serde::Serialize)]
struct Port {
    path: String,
    kind: &'static str,
    description: String,
}

fn port(info: tokio_serial::SerialPortInfo) -> Port {
    let (kind, description) = match info.port_type {
        SerialPortType::UsbPort(usb) => {
            let names: Vec<String> = [usb.manufacturer, usb.product, usb.serial_number]
                .into_iter()
                .flatten()
                .collect();
            (
                "usb",
                format!("{:04x}:{:04x} {}", usb.vid, usb.pid, names.join(" ")),
            )
        }
        SerialPortType::PciPort => ("pci", String::new()),
        SerialPortType::BluetoothPort => ("bluetooth", String::new()),
        SerialPortType::Unknown => ("unknown", String::new()),
    };
    Port {
        path: info.port_name,
        kind,
        description: description.trim().to_owned(),
    }
}

/// The ports (the kernel's /sys/class/tty devices backed by hardware; pseudo-terminals are not
/// listed). An empty list where the machine has no /sys/class/tty (some containers).
fn list() -> Result<Vec<Port>, String> {
    if !std::path::Path::new("/sys/class/tty").is_dir() {
        return Ok(Vec::new());
    }
    let mut ports: Vec<Port> = tokio_serial::available_ports()
        .map_err(|e| format!("listing serial ports: {e}"))?
        .into_iter()
        .map(port)
        .collect();
    ports.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(ports)
}

/// Prints the ports.
pub fn run(args: PortsArgs) -> ExitCode {
    let ports = match list() {
        Ok(ports) => ports,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        for p in &ports {
            println!("{}", serde_json::to_string(p).expect("a port serializes"));
        }
    } else if ports.is_empty() {
        println!("no serial ports found");
    } else {
        for p in &ports {
            println!("{:<24} {:<9} {}", p.path, p.kind, p.description);
        }
    }
    ExitCode::SUCCESS
}
