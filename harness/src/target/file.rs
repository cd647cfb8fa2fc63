//! Targets files: the one TOML format every command reads, `[defaults]` and one `[[meter]]`
//! table per meter (a one-meter file is the same format). `meterfleet emulate --scenario`
//! writes it; `upgrade` and `conform` read it.
//!
//! ```toml
//! [defaults]                       # every field optional; a meter's own fields win
//! transport = "wrapper"            # or "hdlc"
//! server_wport = 1                 # the wrapper wPort of the meter's logical device
//! server_logical = 1               # HDLC upper (logical device) address
//! server_physical = 17             # HDLC lower (physical) address, 16..=16381
//! client = "hls"                   # the client commands associate as: public, lls or hls
//!                                  # (default: the strongest whose credentials are given)
//! public_client = 16               # the public client's SAP
//! request_timeout_ms = 5000
//! connect_deadline_s = 15          # the first connection; also reconnect_deadline_s (after a
//! verify_deadline_s = 120          # reboot or a cut) and verify_deadline_s (default: the plan's)
//! part = 1                         # the firmware part the images upgrade
//! emulated = false                 # true: conform runs cases of every tier without --allow
//! baseline = "baseline.toml"       # known deviations, relative to this file
//! power_cycle = "./plug.sh cycle"  # conform's bench hooks (sh -c, with METER_NAME and
//! reset = "./bench.sh factory"     # METER_ADDRESS): power-cycle, factory state per case
//! lls = { client = 1, password = "12345678" }
//! hls = { client = 48, system_title = "4D4D4D0000000001", encryption_key = "000102030405060708090A0B0C0D0E0F", authentication_key = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF" }
//!
//! [defaults.images.valid]          # also bad_signature, wrong_part, metrology
//! file = "app-2.0.0.img"           # relative to this file
//! identifier = "APP-2.0.0"         # sent in image_transfer_initiate
//! version = "APP-2.0.0"            # the active firmware identifier once activated
//!
//! [defaults.statement]             # what the vendor declares (see docs/conformance.md)
//! image_identifier = "VENDOR-APP"  # the identifier the meter requires at initiate
//! pad_last_block = false           # true: the last block is zero-padded to the block size
//! locked_parts = [0]               # firmware parts the meter refuses to upgrade
//! status_after_activation = 6      # and the judged options of `statement::OPTIONS`
//!
//! [[meter]]
//! name = "meter-0001"              # optional; the address by default
//! address = "127.0.0.1:4059"       # HOST:PORT, tcp://HOST:PORT, udp://HOST:PORT,
//!                                  # hdlc+tcp://HOST:PORT[/PHYSICAL], serial://TTY?baud=N
//!                                  # or optical://TTY (see `super::url`)
//! labels = { model = "E350", gateway = "dc-07" }  # what a campaign plan's cohorts select by
//! multicast = "239.255.0.1:4059"   # the IP multicast group the meter joined (group delivery)
//! group = { client = 102, addressing = "multicast-only", broadcast_key = "B0B1…BF", authentication_key = "D0D1…DF" }
//!                                  # group requests: the pre-established client, broadcast or
//!                                  # multicast only, the broadcast key set (absent: plain)
//! ```

use super::{
    statement, url, BenchHooks, ClientKind, Deadlines, GroupAccess, GroupKeys, HlsClient, HlsKeys,
    Images, LlsClient, MeterTarget, Statement, TargetError, TestImage, Transport,
};
use crate::file_error::FileError;
use dlms::hdlc::HdlcAddress;
use dlms::security::Keys;
use dlms::text::parse_hex_array;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

/// One meter's fields, or the defaults every meter starts from.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Option<String>,
    address: Option<Spanned<String>>,
    transport: Option<Transport>,
    server_wport: Option<u16>,
    server_logical: Option<Spanned<u16>>,
    server_physical: Option<Spanned<u16>>,
    client: Option<Spanned<toml::Value>>,
    public_client: Option<u16>,
    request_timeout_ms: Option<u64>,
    connect_deadline_s: Option<f64>,
    reconnect_deadline_s: Option<f64>,
    verify_deadline_s: Option<f64>,
    part: Option<u8>,
    emulated: Option<bool>,
    baseline: Option<String>,
    lls: Option<LlsSpec>,
    hls: Option<Spanned<HlsSpec>>,
    #[serde(default)]
    images: ImagesSpec,
    statement: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    power_cycle: Option<String>,
    reset: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    multicast: Option<Spanned<String>>,
    group: Option<Spanned<GroupSpec>>,
}

/// A meter's `group` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSpec {
    client: Option<u16>,
    addressing: Option<String>,
    broadcast_key: Option<String>,
    authentication_key: Option<String>,
    system_title: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: Entry,
    #[serde(default)]
    meter: Vec<Spanned<Entry>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LlsSpec {
    client: u16,
    password: String,
}

/// An HLS-GMAC client's keys, as a targets file's `hls` table or an `--hls-keys` file holds
/// them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HlsSpec {
    client: Option<u16>,
    system_title: String,
    encryption_key: String,
    authentication_key: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImagesSpec {
    valid: Option<Spanned<ImageSpec>>,
    bad_signature: Option<Spanned<ImageSpec>>,
    wrong_part: Option<Spanned<ImageSpec>>,
    metrology: Option<Spanned<ImageSpec>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageSpec {
    file: String,
    identifier: String,
    version: Option<String>,
}

/// Where errors point: the file, its text, and the folder relative paths start from.
struct Source<'a> {
    origin: &'a str,
    text: &'a str,
    dir: &'a Path,
}

impl Source<'_> {
    fn error(
        &self,
        at: Option<std::ops::Range<usize>>,
        field: &str,
        message: String,
    ) -> TargetError {
        TargetError::File(FileError::Invalid {
            origin: self.origin.to_owned(),
            line: at.map(|span| crate::toml_file::line_of(self.text, span.start)),
            field: Some(field.to_owned()),
            message,
        })
    }
}

/// Reads a targets file.
pub fn load(path: &Path) -> Result<Vec<MeterTarget>, TargetError> {
    let text = FileError::read(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse(&text, &path.display().to_string(), dir)
}

/// Parses a targets file's text; `origin` names it in errors, files are relative to `dir`.
pub fn parse(text: &str, origin: &str, dir: &Path) -> Result<Vec<MeterTarget>, TargetError> {
    let file: File = crate::toml_file::parse(text, origin)?;
    let source = Source { origin, text, dir };
    if let Some(address) = &file.defaults.address {
        return Err(source.error(
            Some(address.span()),
            "defaults.address",
            "each meter has its own address: give it in its [[meter]] table".into(),
        ));
    }
    if file.meter.is_empty() {
        return Err(TargetError::File(FileError::Invalid {
            origin: origin.to_owned(),
            line: None,
            field: None,
            message: "no [[meter]] tables: a targets file names at least one meter".into(),
        }));
    }
    let mut images = HashMap::new();
    file.meter
        .iter()
        .enumerate()
        .map(|(i, entry)| meter(&source, &file.defaults, entry, i, &mut images))
        .collect()
}

/// Reads an HLS keys file (`--hls-keys`): system_title, encryption_key, authentication_key in
/// hex, and optionally the client's SAP.
pub fn load_hls_keys(path: &Path) -> Result<HlsKeys, TargetError> {
    let origin = path.display().to_string();
    let text = FileError::read(path)?;
    let spec: Spanned<HlsSpec> = crate::toml_file::parse(&text, &origin)?;
    let source = Source {
        origin: &origin,
        text: &text,
        dir: Path::new("."),
    };
    let (keys, system_title) = hls_keys(&source, &spec, "")?;
    Ok(HlsKeys {
        client: spec.get_ref().client,
        keys,
        system_title,
    })
}

fn meter(
    source: &Source<'_>,
    defaults: &Entry,
    entry: &Spanned<Entry>,
    i: usize,
    images: &mut HashMap<PathBuf, Arc<Vec<u8>>>,
) -> Result<MeterTarget, TargetError> {
    let field = |name: &str| format!("meter[{i}].{name}");
    let m = entry.get_ref();
    let Some(address) = &m.address else {
        return Err(source.error(
            Some(entry.span()),
            &field("address"),
            "missing: every meter needs its address".into(),
        ));
    };
    let mut main = url::parse(address.get_ref())
        .map_err(|e| source.error(Some(address.span()), &field("address"), e.to_string()))?;
    let written = ["hdlc+tcp://", "udp://", "serial://", "optical://"]
        .into_iter()
        .find(|scheme| address.get_ref().starts_with(scheme));
    if let Some(t) = m.transport.or(defaults.transport) {
        if let Some(scheme) = written.filter(|_| t != main.transport) {
            return Err(source.error(
                Some(address.span()),
                &field("transport"),
                format!("`{t}` contradicts the address's {scheme}"),
            ));
        }
        main.transport = t;
    }
    if let Some(name) = &m.name {
        main.name = name.clone();
    }
    if let Some(w) = m.server_wport.or(defaults.server_wport) {
        main.server_wport = w;
    }
    if let Some(spec) = m.group.as_ref().or(defaults.group.as_ref()) {
        main.group = Some(group_access(source, spec, &field("group"))?);
    }
    if let Some(group) = m.multicast.as_ref().or(defaults.multicast.as_ref()) {
        let parsed = group
            .get_ref()
            .parse::<std::net::SocketAddrV4>()
            .ok()
            .filter(|a| a.ip().is_multicast());
        main.multicast = Some(parsed.ok_or_else(|| {
            source.error(
                Some(group.span()),
                &field("multicast"),
                format!(
                    "`{}` is not an IPv4 multicast group and port (224.0.0.0/4)",
                    group.get_ref()
                ),
            )
        })?);
    }
    let address = |own: &Option<Spanned<u16>>,
                   common: &Option<Spanned<u16>>,
                   name: &str,
                   range: std::ops::RangeInclusive<u16>,
                   what: &str|
     -> Result<Option<u16>, TargetError> {
        let Some(value) = own.as_ref().or(common.as_ref()) else {
            return Ok(None);
        };
        let v = *value.get_ref();
        if !range.contains(&v) {
            return Err(source.error(
                Some(value.span()),
                &field(name),
                format!(
                    "{v} is not a {what} address ({}..={})",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(Some(v))
    };
    let logical = address(
        &m.server_logical,
        &defaults.server_logical,
        "server_logical",
        1..=0x3FFD,
        "logical device",
    )?;
    let physical = address(
        &m.server_physical,
        &defaults.server_physical,
        "server_physical",
        0x10..=0x3FFD,
        "physical device",
    )?;
    main.server_hdlc = HdlcAddress::server(
        logical.unwrap_or(main.server_hdlc.upper),
        physical.unwrap_or(main.server_hdlc.lower.unwrap_or(17)),
    );
    if let Some(ms) = m.request_timeout_ms.or(defaults.request_timeout_ms) {
        main.request_timeout = Duration::from_millis(ms);
    }
    let seconds = |own: Option<f64>, common: Option<f64>, name: &str| {
        own.or(common)
            .map(|s| {
                Duration::try_from_secs_f64(s).map_err(|_| {
                    source.error(
                        Some(entry.span()),
                        &field(name),
                        format!("{s} is not a number of seconds"),
                    )
                })
            })
            .transpose()
    };
    main.deadlines = Deadlines {
        connect: seconds(
            m.connect_deadline_s,
            defaults.connect_deadline_s,
            "connect_deadline_s",
        )?,
        reconnect: seconds(
            m.reconnect_deadline_s,
            defaults.reconnect_deadline_s,
            "reconnect_deadline_s",
        )?,
        verify: seconds(
            m.verify_deadline_s,
            defaults.verify_deadline_s,
            "verify_deadline_s",
        )?,
    };
    let mut target = MeterTarget::bare(main);
    target.lls = m
        .lls
        .clone()
        .or_else(|| defaults.lls.clone())
        .map(|l| LlsClient {
            sap: l.client,
            password: l.password.into_bytes(),
        });
    target.hls = match (&m.hls, &defaults.hls) {
        (Some(h), _) => Some(hls_client(source, h, &field("hls"))?),
        (None, Some(h)) => Some(hls_client(source, h, "defaults.hls")?),
        (None, None) => None,
    };
    let public_sap = m.public_client.or(defaults.public_client);
    let client = m.client.as_ref().or(defaults.client.as_ref());
    let kind = match client {
        Some(c) => client_kind(c.get_ref()).ok_or_else(|| {
            source.error(
                Some(c.span()),
                &field("client"),
                format!(
                    "{} is not public, lls or hls (a client's SAP goes in public_client, lls.client or hls.client)",
                    c.get_ref()
                ),
            )
        })?,
        None => target.strongest_client(),
    };
    let mut main = target.client(kind).ok_or_else(|| {
        let table = if kind == ClientKind::Lls {
            "lls"
        } else {
            "hls"
        };
        source.error(
            client.map(Spanned::span),
            &field("client"),
            format!("\"{table}\" needs an {table} table (in the meter or in [defaults])"),
        )
    })?;
    if let (ClientKind::Public, Some(sap)) = (kind, public_sap) {
        main.client_sap = sap;
    }
    target.main = main;
    target.part = m.part.or(defaults.part);
    target.emulated = m.emulated.or(defaults.emulated).unwrap_or(false);
    target.baseline = m
        .baseline
        .as_ref()
        .or(defaults.baseline.as_ref())
        .map(|b| source.dir.join(b));
    let mut image = |name: &str,
                     own: &Option<Spanned<ImageSpec>>,
                     common: &Option<Spanned<ImageSpec>>| {
        own.as_ref()
            .or(common.as_ref())
            .map(|spec| test_image(source, spec, &field(&format!("images.{name}.file")), images))
            .transpose()
    };
    target.images = Images {
        valid: image("valid", &m.images.valid, &defaults.images.valid)?,
        bad_signature: image(
            "bad_signature",
            &m.images.bad_signature,
            &defaults.images.bad_signature,
        )?,
        wrong_part: image(
            "wrong_part",
            &m.images.wrong_part,
            &defaults.images.wrong_part,
        )?,
        metrology: image("metrology", &m.images.metrology, &defaults.images.metrology)?,
    };
    target.bench = BenchHooks {
        power_cycle: m
            .power_cycle
            .clone()
            .or_else(|| defaults.power_cycle.clone()),
        reset: m.reset.clone().or_else(|| defaults.reset.clone()),
    };
    // The meter's labels over the defaults', key by key.
    target.labels = defaults.labels.clone().unwrap_or_default();
    target.labels.extend(m.labels.clone().unwrap_or_default());
    if let Some(statement) = m.statement.as_ref().or(defaults.statement.as_ref()) {
        let at = if m.statement.is_some() {
            field("statement")
        } else {
            "defaults.statement".to_string()
        };
        target.statement = statement_of(source, statement.get_ref(), &at)?;
    }
    Ok(target)
}

/// A `statement` table: the three fields that steer the cases, and the declared options of
/// [`statement::OPTIONS`], each checked against its kind.
fn statement_of(
    source: &Source,
    table: &BTreeMap<String, Spanned<toml::Value>>,
    at: &str,
) -> Result<Statement, TargetError> {
    let mut statement = Statement::default();
    for (key, value) in table {
        let field = format!("{at}.{key}");
        let wrong = |message: String| source.error(Some(value.span()), &field, message);
        match (key.as_str(), value.get_ref()) {
            ("image_identifier", toml::Value::String(s)) => {
                statement.image_identifier = Some(s.clone().into_bytes())
            }
            ("pad_last_block", toml::Value::Boolean(b)) => statement.pad_last_block = *b,
            ("locked_parts", toml::Value::Array(parts)) => {
                statement.locked_parts = parts
                    .iter()
                    .map(|p| p.as_integer().and_then(|n| u8::try_from(n).ok()))
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(|| wrong("expected a list of part numbers (0..=255)".into()))?
            }
            ("image_identifier", _) => return Err(wrong("expected a string".into())),
            ("pad_last_block", _) => return Err(wrong("expected true or false".into())),
            ("locked_parts", _) => return Err(wrong("expected a list of part numbers".into())),
            (name, v) => {
                let def = statement::option(name).ok_or_else(|| {
                    let known: Vec<&str> = statement::OPTIONS.iter().map(|o| o.name).collect();
                    wrong(format!(
                        "not a statement field; known: image_identifier, pad_last_block, locked_parts, {}",
                        known.join(", ")
                    ))
                })?;
                def.kind.check(v).map_err(wrong)?;
                statement
                    .options
                    .insert(name.to_string(), statement::normalise(v.clone()));
            }
        }
    }
    Ok(statement)
}

/// The client a `client` field names.
fn client_kind(value: &toml::Value) -> Option<ClientKind> {
    match value.as_str()? {
        "public" => Some(ClientKind::Public),
        "lls" => Some(ClientKind::Lls),
        "hls" => Some(ClientKind::Hls),
        _ => None,
    }
}

/// The HLS client of a targets file's `hls` table, which must give its SAP.
fn hls_client(
    source: &Source<'_>,
    spec: &Spanned<HlsSpec>,
    field: &str,
) -> Result<HlsClient, TargetError> {
    let (keys, system_title) = hls_keys(source, spec, field)?;
    let sap = spec.get_ref().client.ok_or_else(|| {
        source.error(
            Some(spec.span()),
            &format!("{field}.client"),
            "missing: the HLS client's SAP".into(),
        )
    })?;
    Ok(HlsClient {
        sap,
        keys,
        system_title,
    })
}

/// The keys and system title of an `hls` table or keys file; `field` prefixes field names.
fn hls_keys(
    source: &Source<'_>,
    spec: &Spanned<HlsSpec>,
    field: &str,
) -> Result<(Keys, [u8; 8]), TargetError> {
    let h = spec.get_ref();
    let name = |f: &str| {
        if field.is_empty() {
            f.to_owned()
        } else {
            format!("{field}.{f}")
        }
    };
    let at = || Some(spec.span());
    let key = |f: &str, text: &str| -> Result<[u8; 16], TargetError> {
        parse_hex_array(text).map_err(|e| source.error(at(), &name(f), e.to_string()))
    };
    let keys = Keys {
        encryption: key("encryption_key", &h.encryption_key)?,
        authentication: key("authentication_key", &h.authentication_key)?,
    };
    let system_title = parse_hex_array(&h.system_title)
        .map_err(|e| source.error(at(), &name("system_title"), e.to_string()))?;
    Ok((keys, system_title))
}

/// A `group` table: client 102 and broadcast and multicast unless it says otherwise; keys
/// only when both are given.
fn group_access(
    source: &Source<'_>,
    spec: &Spanned<GroupSpec>,
    field: &str,
) -> Result<GroupAccess, TargetError> {
    let g = spec.get_ref();
    let at = || Some(spec.span());
    let multicast_only = match g.addressing.as_deref() {
        None | Some("broadcast-and-multicast") => false,
        Some("multicast-only") => true,
        Some(other) => {
            return Err(source.error(
                at(),
                &format!("{field}.addressing"),
                format!("{other:?}: \"broadcast-and-multicast\" or \"multicast-only\""),
            ))
        }
    };
    let hex16 = |f: &str, text: &str| -> Result<[u8; 16], TargetError> {
        parse_hex_array(text)
            .map_err(|e| source.error(at(), &format!("{field}.{f}"), e.to_string()))
    };
    let keys = match (&g.broadcast_key, &g.authentication_key) {
        (None, None) => None,
        (Some(b), Some(a)) => Some(GroupKeys {
            broadcast: hex16("broadcast_key", b)?,
            authentication: hex16("authentication_key", a)?,
            system_title: match &g.system_title {
                Some(t) => parse_hex_array(t).map_err(|e| {
                    source.error(at(), &format!("{field}.system_title"), e.to_string())
                })?,
                None => GroupKeys::default().system_title,
            },
        }),
        _ => {
            return Err(source.error(
                at(),
                field,
                "broadcast_key and authentication_key go together".into(),
            ))
        }
    };
    Ok(GroupAccess {
        client: g.client.unwrap_or(102),
        keys,
        multicast_only,
    })
}

fn test_image(
    source: &Source<'_>,
    spec: &Spanned<ImageSpec>,
    field: &str,
    loaded: &mut HashMap<PathBuf, Arc<Vec<u8>>>,
) -> Result<TestImage, TargetError> {
    let s = spec.get_ref();
    let path = source.dir.join(&s.file);
    let bytes = match loaded.get(&path) {
        Some(bytes) => bytes.clone(),
        None => {
            let bytes = std::fs::read(&path).map(Arc::new).map_err(|e| {
                source.error(Some(spec.span()), field, format!("{}: {e}", path.display()))
            })?;
            loaded.insert(path, bytes.clone());
            bytes
        }
    };
    Ok(TestImage {
        bytes,
        version: s
            .version
            .clone()
            .unwrap_or_else(|| s.identifier.clone())
            .into_bytes(),
        identifier: s.identifier.clone().into_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Auth;

    fn parsed(text: &str) -> Result<Vec<MeterTarget>, TargetError> {
        parse(text, "t.toml", Path::new("."))
    }

    #[test]
    fn defaults_apply_and_meters_override_them() {
        let targets = parsed(
            "[defaults]\ntransport = \"hdlc\"\nlls = { client = 1, password = \"pw\" }\n\n[[meter]]\naddress = \"127.0.0.1:4059\"\n\n[[meter]]\nname = \"b\"\naddress = \"127.0.0.2:4059\"\ntransport = \"wrapper\"\nclient = \"public\"\npublic_client = 17\n",
        )
        .unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(
            (targets[0].main.transport, targets[0].main.client_sap),
            (Transport::Hdlc, 1)
        );
        assert!(matches!(&targets[0].main.auth, Auth::Lls(p) if p == b"pw"));
        assert_eq!(targets[0].main.name, "127.0.0.1:4059");
        assert_eq!(
            (
                targets[1].main.name.as_str(),
                targets[1].main.transport,
                targets[1].main.client_sap
            ),
            ("b", Transport::Wrapper, 17)
        );
        assert!(matches!(targets[1].main.auth, Auth::None));
        assert!(
            targets[1].lls.is_some(),
            "the defaults' LLS client is known"
        );
    }

    #[test]
    fn deadlines_are_per_meter_where_given() {
        let targets = parsed(
            "[defaults]\nverify_deadline_s = 600\n[[meter]]\naddress = \"127.0.0.1:4059\"\nreconnect_deadline_s = 2.5\n[[meter]]\naddress = \"127.0.0.2:4059\"\n",
        )
        .unwrap();
        assert_eq!(
            targets[0].main.deadlines,
            Deadlines {
                connect: None,
                reconnect: Some(Duration::from_millis(2500)),
                verify: Some(Duration::from_secs(600)),
            }
        );
        assert_eq!(targets[1].main.deadlines.reconnect, None);
        let e = parsed("[[meter]]\naddress = \"127.0.0.1:4059\"\nverify_deadline_s = -1\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("field meter[0].verify_deadline_s: -1 is not a number of seconds"),
            "{e}"
        );
    }

    #[test]
    fn a_meter_behind_an_hdlc_gateway_has_its_physical_address() {
        let targets = parsed(
            "[defaults]\ntransport = \"hdlc\"\n\n[[meter]]\naddress = \"127.0.0.1:4059\"\nserver_physical = 300\n",
        )
        .unwrap();
        assert_eq!(targets[0].main.server_hdlc, HdlcAddress::server(1, 300));
        let urls = parsed("[[meter]]\naddress = \"hdlc+tcp://127.0.0.1:4059/2/300\"\n").unwrap();
        assert_eq!(urls[0].main.transport, Transport::Hdlc);
        assert_eq!(urls[0].main.server_hdlc, HdlcAddress::server(2, 300));
        let e = parsed("[[meter]]\naddress = \"127.0.0.1:4059\"\nserver_physical = 3\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "t.toml: line 3: field meter[0].server_physical: 3 is not a physical device address (16..=16381)"
        );
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        let e = parsed("[[meter]]\naddress = \"127.0.0.1:4059\"\nclinet = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.toml: line 3"), "{e}");
        assert!(e.contains("clinet"), "{e}");
        let e = parsed("[[meter]]\naddress = \"localhost\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.toml: line 2: field meter[0].address: `localhost` is not"),
            "{e}"
        );
        let e = parsed("[[meter]]\naddress = \"127.0.0.1:4059\"\nclient = \"lls\"\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "t.toml: line 3: field meter[0].client: \"lls\" needs an lls table (in the meter or in [defaults])"
        );
        let e = parsed(
            "[defaults]\naddress = \"127.0.0.1:4059\"\n[[meter]]\naddress = \"127.0.0.1:4059\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("field defaults.address"), "{e}");
        let e = parsed("[defaults]\nclient = 16\n[[meter]]\naddress = \"127.0.0.1:4059\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.toml: line 2: field meter[0].client: 16 is not public, lls or hls"),
            "{e}"
        );
        assert!(parsed("[defaults]\n")
            .unwrap_err()
            .to_string()
            .contains("no [[meter]]"));
    }

    #[test]
    fn a_statement_declares_options_of_their_kind() {
        let text = "[defaults.statement]\nstatus_after_activation = 0\nservices = [\"block-transfer-with-set\"]\nlocked_parts = [0]\n[[meter]]\naddress = \"127.0.0.1:4059\"\n";
        let t = &parsed(text).unwrap()[0];
        assert_eq!(t.statement.locked_parts, vec![0]);
        assert_eq!(
            t.statement.declared("status_after_activation"),
            Some(&toml::Value::Integer(0))
        );
        let e = parsed("[[meter]]\naddress = \"127.0.0.1:4059\"\n[meter.statement]\nverification = \"quick\"\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "t.toml: line 4: field meter[0].statement.verification: expected one of \"synchronous\", \"asynchronous\""
        );
        let e = parsed("[[meter]]\naddress = \"127.0.0.1:4059\"\n[meter.statement]\nstatus_after_activaton = 6\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "line 4: field meter[0].statement.status_after_activaton: not a statement field"
            ),
            "{e}"
        );
    }

    #[test]
    fn each_meter_may_carry_its_own_hls_keys() {
        let text = "[defaults]\nclient = \"hls\"\n\n[[meter]]\naddress = \"127.0.0.1:4059\"\nhls = { client = 48, system_title = \"4D4D4D0000000001\", encryption_key = \"000102030405060708090A0B0C0D0E0F\", authentication_key = \"D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF\" }\n\n[[meter]]\naddress = \"127.0.0.2:4059\"\nhls = { client = 49, system_title = \"4D4D4D0000000002\", encryption_key = \"101112131415161718191A1B1C1D1E1F\", authentication_key = \"D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF\" }\n";
        let targets = parsed(text).unwrap();
        let keys: Vec<(u16, [u8; 8], u8)> = targets
            .iter()
            .map(|t| match &t.main.auth {
                Auth::HlsGmac { keys, system_title } => {
                    (t.main.client_sap, *system_title, keys.encryption[0])
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            keys,
            vec![
                (48, *b"MMM\0\0\0\0\x01", 0x00),
                (49, *b"MMM\0\0\0\0\x02", 0x10)
            ]
        );
        let e = parsed("[[meter]]\naddress = \"127.0.0.1:4059\"\nhls = { client = 48, system_title = \"4D\", encryption_key = \"00\", authentication_key = \"00\" }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("field meter[0].hls.encryption_key"), "{e}");
    }

    #[test]
    fn images_are_read_relative_to_the_file_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.img"), b"image").unwrap();
        let text = "[defaults.images.valid]\nfile = \"a.img\"\nidentifier = \"A-1\"\n\n[[meter]]\naddress = \"127.0.0.1:4059\"\n\n[[meter]]\naddress = \"127.0.0.2:4059\"\n";
        let targets = parse(text, "t.toml", dir.path()).unwrap();
        let a = targets[0].images.valid.as_ref().unwrap();
        let b = targets[1].images.valid.as_ref().unwrap();
        assert!(Arc::ptr_eq(&a.bytes, &b.bytes));
        assert_eq!(
            (a.identifier.as_slice(), a.version.as_slice()),
            (&b"A-1"[..], &b"A-1"[..])
        );
        let e = parse(
            "[[meter]]\naddress = \"127.0.0.1:4059\"\n[meter.images.valid]\nfile = \"missing.img\"\nidentifier = \"x\"\n",
            "t.toml",
            dir.path(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("field meter[0].images.valid.file"), "{e}");
    }
}
