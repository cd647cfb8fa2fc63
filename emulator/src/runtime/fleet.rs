//! A fleet of emulated meters in one process: every meter of a scenario on its own loopback
//! address, like a GPRS meter with its own IP, with the faults the scenario drew for it.

use crate::meter::{Meter, MeterConfig};
use crate::net::caps::ConnectionCap;
use crate::net::host::{LinkShape, MeterHost, LOGICAL_DEVICE, PHYSICAL_ADDRESS};
use crate::net::serve::{serve_gateway, serve_in_fleet};
use crate::net::store::DirStore;
use crate::net::udp::{multicast_socket, serve_multicast, serve_udp, serve_udp_gateway};
use crate::scenario::{Addressing, MeterPlan, Scenario};
use dlms::Transport;
use p256::ecdsa::VerifyingKey;
use std::sync::Arc;

/// One running meter of a fleet.
pub struct FleetMeter {
    /// What the scenario planned for it.
    pub plan: MeterPlan,
    /// The running meter.
    pub host: Arc<MeterHost>,
}

/// A running fleet.
pub struct Fleet {
    /// The meters, in scenario order.
    pub meters: Vec<FleetMeter>,
    /// How they frame their APDUs.
    pub transport: Transport,
    /// The vendor key images must be signed with (doomed meters trust another).
    pub trusted: VerifyingKey,
    /// The listeners' tasks, stopped when the fleet is dropped.
    servers: Vec<tokio::task::AbortHandle>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
    }
}

/// The open files a fleet's process needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilesNeeded {
    /// To start: a listener per meter, and a margin.
    pub required: u64,
    /// To also hold a connection to every meter at once (a campaign's meters receiving blocks
    /// and those waiting for verification or their reboot), with the client end of each when
    /// the campaign runs in the same process.
    pub wanted: u64,
    /// Files per connection: 1, or 2 with the campaign in the same process.
    pub per_connection: u64,
}

/// The open files a fleet of `meters` needs.
pub fn files_needed(meters: usize, campaign_in_process: bool) -> FilesNeeded {
    let meters = meters as u64;
    let per_connection = if campaign_in_process { 2 } else { 1 };
    FilesNeeded {
        required: meters + 256,
        wanted: meters + per_connection * meters + 256,
        per_connection,
    }
}

/// Raises the open-file limit towards what is wanted, or says what to do when the hard limit
/// is below what is required. Between the two the fleet starts and warns how many connections
/// it can hold at once; a meter whose accept fails for want of files keeps listening.
pub fn ensure_open_files(needed: FilesNeeded) -> Result<u64, String> {
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map_err(|e| format!("reading the open-file limit: {e}"))?;
    let limit = if soft >= needed.wanted {
        soft
    } else {
        rlimit::increase_nofile_limit(needed.wanted).unwrap_or(soft)
    };
    if limit < needed.required {
        return Err(limit_message(needed.wanted, limit, hard));
    }
    if limit < needed.wanted {
        tracing::warn!(
            "{}; until then the fleet holds about {} connections at once",
            limit_message(needed.wanted, limit, hard),
            (limit - needed.required) / needed.per_connection.max(1)
        );
    }
    Ok(limit)
}

/// The message when the open-file limit is too low.
pub fn limit_message(needed: u64, soft: u64, hard: u64) -> String {
    format!(
        "the fleet needs {needed} open files but the limit is {soft} (hard limit {hard}); \
         raise it with `ulimit -n {needed}` before starting, and if the hard limit is lower, \
         raise that in /etc/security/limits.conf or the container's settings (--ulimit nofile={needed})"
    )
}

/// The connections a fleet of `meters` serves at once: what the open-file limit leaves beside
/// its listeners and the margin of [`files_needed`]. No cap if the limit cannot be read.
pub fn connection_cap(meters: usize) -> usize {
    let listeners = files_needed(meters, false).required;
    rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(usize::MAX, |(soft, _)| {
        usize::try_from(soft.saturating_sub(listeners)).unwrap_or(usize::MAX)
    })
}

/// Starts every meter of `scenario` (wrapper on its own address); `trusted` signs the images the
/// meters accept, `stranger` is the key doomed meters trust instead.
pub async fn start(
    scenario: &Scenario,
    trusted: VerifyingKey,
    stranger: VerifyingKey,
) -> Result<Fleet, String> {
    start_meters(scenario, scenario.meters(), trusted, stranger).await
}

/// Starts the meters `plans` of `scenario` (a shard's slice of [`Scenario::meters`]), as
/// [`start`] does every meter.
pub async fn start_meters(
    scenario: &Scenario,
    plans: Vec<MeterPlan>,
    trusted: VerifyingKey,
    stranger: VerifyingKey,
) -> Result<Fleet, String> {
    start_kept(scenario, plans, trusted, stranger, None).await
}

/// [`start_meters`], each meter keeping its non-volatile state (transfer, blocks, firmware,
/// counters) in its own folder of `state_dir` (named after it) when given: a fleet started
/// again over the same folder comes back with every block its meters had stored.
pub async fn start_kept(
    scenario: &Scenario,
    plans: Vec<MeterPlan>,
    trusted: VerifyingKey,
    stranger: VerifyingKey,
    state_dir: Option<&std::path::Path>,
) -> Result<Fleet, String> {
    let mut meters = Vec::with_capacity(plans.len());
    let mut servers = Vec::new();
    let store = crate::blocks::BlockStore::new();
    let group_cipher = Arc::new(crate::group_cipher::GroupDecipherCache::default());
    let cap = ConnectionCap::new(connection_cap(plans.len()));
    for plan in plans {
        let config = MeterConfig {
            profile: plan.profile.clone(),
            faults: plan.faults.clone(),
            block_store: Some(store.clone()),
            group_cipher: Some(group_cipher.clone()),
            judge: scenario.judge,
            time_scale: Some(scenario.time_scale),
            trusted_key: Some(if plan.untrusted_key {
                stranger
            } else {
                trusted
            }),
            ..MeterConfig::default()
        };
        let kept = state_dir
            .map(|dir| DirStore::open(&dir.join(&plan.name)))
            .transpose()?;
        let stored = kept.as_ref().map(DirStore::load).transpose()?.flatten();
        let mut meter = match stored {
            Some(state) => Meter::with_state(config, state),
            None => {
                let mut meter = Meter::new(config);
                meter.state_mut().error_register = plan.error_register;
                for (part, version) in &plan.firmware {
                    let parts = &mut meter.state_mut().parts;
                    if let Some(p) = parts.iter_mut().find(|p| p.part == *part) {
                        p.active.identifier = version.clone().into_bytes();
                    }
                }
                if plan.activation_fails {
                    meter.state_mut().fail_next_activation =
                        Some("power loss during activation".into());
                }
                meter.take_dirty();
                if let Some(store) = &kept {
                    store
                        .save(meter.state())
                        .map_err(|e| format!("{}: {e}", plan.name))?;
                }
                meter
            }
        };
        if let Some(store) = &kept {
            meter.set_journal(Box::new(store.journal()?));
        }
        let (latency_ms, bits_per_second) = plan.link;
        let host = MeterHost::with_link(
            meter,
            kept,
            LinkShape {
                latency_ms,
                bits_per_second,
            },
        );
        host.set_link_faults(plan.link_faults.clone());
        let bound = |e: std::io::Error| format!("{} ({}): {e}", plan.address, plan.name);
        match (scenario.addressing, scenario.transport) {
            (Addressing::Gateway, _) => {}
            (_, Transport::Udp) => {
                let socket = tokio::net::UdpSocket::bind(plan.address)
                    .await
                    .map_err(bound)?;
                servers.push(tokio::spawn(serve_udp(socket, host.clone())).abort_handle());
            }
            (_, transport) => {
                let listener = tokio::net::TcpListener::bind(plan.address)
                    .await
                    .map_err(bound)?;
                let served = serve_in_fleet(listener, host.clone(), transport, cap.clone());
                servers.push(tokio::spawn(served).abort_handle());
            }
        }
        meters.push(FleetMeter { plan, host });
    }
    if scenario.addressing == Addressing::Gateway {
        let address = std::net::SocketAddr::from((scenario.first_address, scenario.port));
        let bound = |e: std::io::Error| format!("{address} (the gateway): {e}");
        let hosts = Arc::new(meters.iter().map(|m| m.host.clone()).collect());
        let gateway = if scenario.transport == Transport::Udp {
            let socket = tokio::net::UdpSocket::bind(address).await.map_err(bound)?;
            tokio::spawn(serve_udp_gateway(socket, hosts))
        } else {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(bound)?;
            tokio::spawn(serve_gateway(listener, hosts, scenario.transport, cap))
        };
        servers.push(gateway.abort_handle());
    }
    for (address, members) in multicast_groups(&meters) {
        let socket = multicast_socket(address, scenario.first_address).map_err(|e| {
            format!(
                "joining multicast group {address} on {}: {e}",
                scenario.first_address
            )
        })?;
        servers.push(tokio::spawn(serve_multicast(socket, Arc::new(members))).abort_handle());
    }
    Ok(Fleet {
        meters,
        transport: scenario.transport,
        trusted,
        servers,
    })
}

/// The `group` table of a meter that takes group requests: its pre-established client, its
/// addressing, and the fleet's broadcast key set when it requires one.
pub fn group_line(group: &crate::profile::GroupProfile) -> Option<String> {
    use crate::profile::{GroupAddressing, GroupSecurity};
    let addressing = match group.addressing {
        GroupAddressing::None => return None,
        GroupAddressing::BroadcastAndMulticast => "broadcast-and-multicast",
        GroupAddressing::MulticastOnly => "multicast-only",
    };
    let keys = match group.security {
        GroupSecurity::BroadcastKey => {
            let k = crate::meter::MeterKeys::default();
            format!(
                ", broadcast_key = \"{}\", authentication_key = \"{}\"",
                hex(&k.broadcast_key),
                hex(&k.keys.authentication)
            )
        }
        GroupSecurity::None => String::new(),
    };
    Some(format!(
        "group = {{ client = {}, addressing = \"{addressing}\"{keys} }}\n",
        group.client
    ))
}

/// The meters of each multicast group the populations join.
fn multicast_groups(
    meters: &[FleetMeter],
) -> std::collections::BTreeMap<std::net::SocketAddrV4, Vec<Arc<MeterHost>>> {
    let mut groups = std::collections::BTreeMap::<_, Vec<_>>::new();
    for m in meters {
        if let Some(group) = m.plan.multicast {
            groups.entry(group).or_default().push(m.host.clone());
        }
    }
    groups
}

impl Fleet {
    /// A targets file (for `meterfleet upgrade --targets`) naming every meter.
    pub fn targets_toml(&self) -> String {
        self.targets_toml_with(|_| None)
    }

    /// The targets file, each meter's table ending with the line `extra` gives for its profile
    /// (the vendor's implementation statement, for `conform`).
    pub fn targets_toml_with(
        &self,
        extra: impl Fn(&crate::profile::MeterProfile) -> Option<String>,
    ) -> String {
        let transport = self.transport.name();
        let key = hex(&self.trusted.to_encoded_point(false).to_bytes());
        let mut out = format!("# Written by meterfleet emulate: the targets file `upgrade` and `conform` read (--target).\n# Images must be signed (ECDSA P-256) with the vendor key whose public key, SEC1 uncompressed, is\n# {key}\n[defaults]\ntransport = \"{transport}\"\n");
        for m in &self.meters {
            out.push_str(&format!(
                "\n[[meter]]\nname = \"{}\"\naddress = \"{}\"\n",
                m.plan.name, m.plan.advertised
            ));
            if let Some(group) = m.plan.multicast {
                out.push_str(&format!("multicast = \"{group}\"\n"));
            }
            match self.transport {
                Transport::Wrapper | Transport::Udp if m.plan.wport != LOGICAL_DEVICE => {
                    out.push_str(&format!("server_wport = {}\n", m.plan.wport));
                }
                Transport::Hdlc if m.plan.physical_address != PHYSICAL_ADDRESS => {
                    out.push_str(&format!("server_physical = {}\n", m.plan.physical_address));
                }
                _ => {}
            }
            // The client that may upgrade it: the public client only reads.
            if let Some(c) = m.plan.profile.management_client() {
                out.push_str(&format!(
                    "client = \"lls\"\nlls = {{ client = {}, password = \"{}\" }}\n",
                    c.sap,
                    c.password.as_deref().unwrap_or_default()
                ));
            }
            // And the HLS-GMAC client, with the fleet's keys (the head-end's own system title
            // is its choice; this one names meterfleet's).
            let hls = m.plan.profile.clients.iter().find(|c| {
                c.authentication == crate::profile::ClientAuth::HlsGmac
                    && c.rights != crate::profile::Rights::ReadOnly
            });
            if let Some(c) = hls {
                let keys = crate::meter::MeterKeys::default().keys;
                out.push_str(&format!(
                    "hls = {{ client = {}, system_title = \"{}\", encryption_key = \"{}\", authentication_key = \"{}\" }}\n",
                    c.sap,
                    hex(b"MFHEADEN"),
                    hex(&keys.encryption),
                    hex(&keys.authentication)
                ));
            }
            if let Some(line) = group_line(&m.plan.profile.group) {
                out.push_str(&line);
            }
            let labels: Vec<String> = m
                .plan
                .labels
                .iter()
                .map(|(k, v)| format!("{k} = {}", toml::Value::String(v.clone())))
                .collect();
            out.push_str(&format!("labels = {{ {} }}\n", labels.join(", ")));
            if let Some(line) = extra(&m.plan.profile) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }

    /// The judge's verdict on the head-ends that talked to the fleet, over every meter.
    pub fn judge_report(&self) -> crate::judge::Report {
        let judged: Vec<(String, crate::judge::Judge)> = self
            .meters
            .iter()
            .filter_map(|m| {
                let judge = m.host.with_meter(|meter| meter.judge().cloned())?;
                Some((m.plan.name.clone(), judge))
            })
            .collect();
        crate::judge::Report::of(judged.iter().map(|(n, j)| (n.as_str(), j)))
    }

    /// How many meters no head-end can upgrade.
    pub fn doomed(&self) -> usize {
        self.meters.iter().filter(|m| m.plan.doomed()).count()
    }
}

/// Appends every meter's new event-log entries to `path` as JSON lines, once a second, until
/// the task is dropped: `{"meter": ..., "time_ms": ..., "code": ..., "detail": ...}`.
pub async fn write_events(fleet: Arc<Fleet>, path: std::path::PathBuf) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let mut seen = vec![0usize; fleet.meters.len()];
    loop {
        for (i, m) in fleet.meters.iter().enumerate() {
            let lines: Vec<String> = m.host.with_meter(|meter| {
                let entries = &meter.state().log.entries;
                // The log is bounded: if it wrapped, start from its oldest entry.
                let from = seen[i].min(entries.len());
                seen[i] = entries.len();
                entries[from..]
                    .iter()
                    .map(|e| serde_json::json!({"meter": m.plan.name, "time_ms": e.time_ms, "code": e.code, "detail": e.detail}).to_string())
                    .collect()
            });
            for line in lines {
                writeln!(file, "{line}")?;
            }
        }
        file.flush()?;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Bytes in upper-case hex, as targets files write keys.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_message_says_what_to_do() {
        let m = limit_message(20_256, 1024, 4096);
        assert!(m.contains("20256 open files"), "{m}");
        assert!(m.contains("ulimit -n 20256"), "{m}");
        assert!(m.contains("hard limit 4096"), "{m}");
    }

    #[test]
    fn a_fleet_within_the_limit_needs_nothing_raised() {
        assert!(ensure_open_files(files_needed(4, true)).is_ok());
    }

    #[test]
    fn a_fleet_beyond_the_hard_limit_does_not_start() {
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        let needed = files_needed(hard.min(1 << 32) as usize, false);
        let message = ensure_open_files(needed).unwrap_err();
        assert!(message.contains("ulimit -n"), "{message}");
    }

    #[test]
    fn a_connection_to_every_meter_is_wanted_but_not_required() {
        assert_eq!(
            files_needed(10_000, false),
            FilesNeeded {
                required: 10_256,
                wanted: 20_256,
                per_connection: 1
            }
        );
        assert_eq!(files_needed(1_000, true).wanted, 3_256);
    }
}
