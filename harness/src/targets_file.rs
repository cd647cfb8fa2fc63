//! Targets files: the meters of a campaign, in TOML.
//!
//! ```toml
//! [defaults]               # every field optional
//! transport = "wrapper"    # or "hdlc"
//! client = 16              # client SAP
//! password = "12345678"    # LLS password (client 1)
//! request_timeout_ms = 5000
//!
//! [[meter]]
//! name = "meter-0001"      # optional; the address by default
//! address = "127.0.0.1:4059"
//! server_wport = 2        # optional: the meter's wrapper wPort behind a gateway (1)
//! server_physical = 18    # optional: its HDLC lower (physical) address behind a gateway (17)
//! # transport, client, password, server_wport and server_physical may be set per meter too
//! ```

use crate::target::{Auth, Target, Transport};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    transport: Option<Transport>,
    client: Option<u16>,
    password: Option<String>,
    request_timeout_ms: Option<u64>,
    server_wport: Option<u16>,
    server_physical: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeterEntry {
    name: Option<String>,
    address: String,
    #[serde(flatten)]
    common: Common,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: Common,
    #[serde(default)]
    meter: Vec<MeterEntry>,
}

/// Parses a targets file's text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Target>, String> {
    let file: File = crate::toml_file::parse(text, origin)?;
    if file.meter.is_empty() {
        return Err(format!("{origin}: no [[meter]] entries"));
    }
    file.meter
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let field = |f: &str| format!("{origin}: meter[{i}].{f}");
            let transport = m
                .common
                .transport
                .or(file.defaults.transport)
                .unwrap_or(Transport::Wrapper);
            let mut target = Target::parse(&m.address, transport)
                .map_err(|e| format!("{}: {e}", field("address")))?;
            if let Some(name) = m.name {
                target.name = name;
            }
            target.client_sap = m.common.client.or(file.defaults.client).unwrap_or(16);
            if let Some(w) = m.common.server_wport.or(file.defaults.server_wport) {
                target.server_wport = w;
            }
            if let Some(p) = m.common.server_physical.or(file.defaults.server_physical) {
                if !(0x10..=0x3FFD).contains(&p) {
                    return Err(format!(
                        "{}: {p} is not a physical device address (16..=16381)",
                        field("server_physical")
                    ));
                }
                target.server_hdlc = dlms::hdlc::HdlcAddress::server(target.server_hdlc.upper, p);
            }
            if let Some(pw) = m.common.password.or_else(|| file.defaults.password.clone()) {
                target.auth = Auth::Lls(pw.into_bytes());
            }
            if let Some(ms) = m
                .common
                .request_timeout_ms
                .or(file.defaults.request_timeout_ms)
            {
                target.request_timeout = Duration::from_millis(ms);
            }
            Ok(target)
        })
        .collect()
}

/// Reads a targets file.
pub fn load(path: &Path) -> Result<Vec<Target>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_meters_override_them() {
        let targets = parse(
            "[defaults]\ntransport = \"hdlc\"\nclient = 1\npassword = \"pw\"\n\n[[meter]]\naddress = \"127.0.0.1:4059\"\n\n[[meter]]\nname = \"b\"\naddress = \"127.0.0.2:4059\"\ntransport = \"wrapper\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(
            (targets[0].transport, targets[0].client_sap),
            (Transport::Hdlc, 1)
        );
        assert_eq!(targets[0].name, "127.0.0.1:4059");
        assert_eq!(
            (targets[1].name.as_str(), targets[1].transport),
            ("b", Transport::Wrapper)
        );
    }

    #[test]
    fn a_meter_behind_an_hdlc_gateway_has_its_physical_address() {
        let targets = parse(
            "[defaults]\ntransport = \"hdlc\"\n\n[[meter]]\naddress = \"127.0.0.1:4059\"\nserver_physical = 300\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            targets[0].server_hdlc,
            dlms::hdlc::HdlcAddress::server(1, 300)
        );
        let e = parse(
            "[[meter]]\naddress = \"127.0.0.1:4059\"\nserver_physical = 3\n",
            "t.toml",
        )
        .unwrap_err();
        assert!(e.contains("meter[0].server_physical"), "{e}");
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        let e = parse(
            "[[meter]]\naddress = \"127.0.0.1:4059\"\nclinet = 3\n",
            "t.toml",
        )
        .unwrap_err();
        assert!(e.starts_with("t.toml: line"), "{e}");
        assert!(e.contains("clinet"), "{e}");
        let e = parse("[[meter]]\naddress = \"localhost\"\n", "t.toml").unwrap_err();
        assert!(e.starts_with("t.toml: meter[0].address"), "{e}");
    }
}
