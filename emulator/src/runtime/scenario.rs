//! Fleet scenarios: populations of meters with their profile, link, and a fault mix from which
//! each meter's faults are drawn by a generator seeded from the fleet seed and the meter's
//! index, so the same scenario and seed replay the same faults.
//!
//! Scenarios are TOML; unknown keys are errors naming the file, line and field.

use crate::faults::{BusySpell, Faults};
use crate::net::host::{gateway_wport, GATEWAY_FIRST_PHYSICAL, LOGICAL_DEVICE, PHYSICAL_ADDRESS};
use crate::net::link_faults::LinkFaults;
use crate::profile::{MeterProfile, MAX_IMAGE_SIZE};
use dlms::Transport;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

/// A whole fleet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The scenario's name.
    pub name: String,
    /// The fleet seed: every meter's faults derive from it and the meter's index.
    pub seed: u64,
    /// Emulated delays (latency, verification, reboots) are divided by this factor.
    #[serde(default = "one")]
    pub time_scale: f64,
    /// The address the fleet listens on: the first meter's, meters taking consecutive
    /// addresses from it (own-address mode, 127.0.0.0/8 only), or every meter's (port-range
    /// and gateway modes, any local address, `0.0.0.0` for all).
    #[serde(default = "first_address")]
    pub first_address: Ipv4Addr,
    /// The host name or address written into the targets file, where head-ends on other
    /// hosts reach the fleet (a pod's or a host's address); by default the listening address.
    #[serde(default)]
    pub advertise: Option<String>,
    /// The TCP port every meter listens on.
    #[serde(default = "port")]
    pub port: u16,
    /// Every meter on its own address, or all behind one gateway port.
    #[serde(default)]
    pub addressing: Addressing,
    /// Whether every meter judges the head-end by the rules of `judge/rules.toml` (default
    /// true; false only to measure what the judge costs).
    #[serde(default = "yes")]
    pub judge: bool,
    /// How the meters frame their APDUs: "wrapper" (the default) or "hdlc".
    #[serde(default)]
    pub transport: Transport,
    /// The image a campaign sends (the demo builds and signs it).
    pub image: ImageSpec,
    /// The vendor's other firmware releases for the fleet, which a campaign plan's steps
    /// send (the demo builds and signs each, with its prerequisites).
    #[serde(default)]
    pub release: Vec<Release>,
    /// The populations.
    pub population: Vec<Population>,
    /// How the demo's campaign delivers the image to the fleet.
    #[serde(default)]
    pub campaign: CampaignSpec,
}

/// How a scenario's demo campaign delivers its blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// Every meter its own blocks, confirmed.
    #[default]
    Unicast,
    /// Each block once to every group (the populations' multicast groups, or all stations
    /// behind the gateway), unicast rounds repairing what the group path lost.
    Group,
}

/// The demo campaign of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CampaignSpec {
    /// Unicast or group delivery.
    pub delivery: Delivery,
    /// Group cycles at most.
    pub cycles: u32,
    /// Blocks pushed between unicast repair rounds (0: after each cycle only).
    pub repair_every: u32,
    /// Milliseconds between two group transmissions.
    pub interval_ms: u64,
    /// A block this many meters or more lack goes to the group again.
    pub regroup_at: u32,
}

impl Default for CampaignSpec {
    fn default() -> Self {
        CampaignSpec {
            delivery: Delivery::Unicast,
            cycles: 2,
            repair_every: 100,
            interval_ms: 2,
            regroup_at: 2,
        }
    }
}

/// A firmware release of the fleet's vendor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The firmware part.
    pub part: u8,
    /// The version identifier.
    pub version: String,
    /// The payload size in bytes.
    pub size: u32,
    /// The least version each part must run for the image to verify, by part number.
    #[serde(default)]
    pub requires: BTreeMap<String, String>,
}

/// How the fleet's meters are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Addressing {
    /// Each meter on its own loopback address and the port, like a GPRS meter with its own IP.
    #[default]
    OwnAddress,
    /// Every meter behind `first_address:port`, like a data concentrator: each at its own
    /// wrapper destination wPort (the meter's index + 1, stepping over the all-station 127), or
    /// over HDLC at its own physical
    /// address (0x10 + the meter's index).
    Gateway,
    /// Every meter on `first_address` at its own port, `port` + the meter's index: what one
    /// container or pod offers a head-end on another host.
    PortRange,
}

impl std::str::FromStr for Addressing {
    type Err = String;

    /// The names scenario files use: `own-address`, `gateway`, `port-range`.
    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "own-address" => Ok(Addressing::OwnAddress),
            "gateway" => Ok(Addressing::Gateway),
            "port-range" => Ok(Addressing::PortRange),
            other => Err(format!(
                "`{other}` is not an addressing: own-address, gateway or port-range"
            )),
        }
    }
}

/// The most meters behind one gateway (their wPorts, 1 to 16,001 without 127, stay clear of
/// the broadcast addresses; their HDLC physical addresses stay below the all-station 0x3FFF).
pub const GATEWAY_MAX_METERS: u32 = 16_000;

fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn first_address() -> Ipv4Addr {
    Ipv4Addr::new(127, 1, 0, 1)
}
fn port() -> u16 {
    4059
}

/// The image a campaign sends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// The firmware part.
    pub part: u8,
    /// The version identifier.
    pub version: String,
    /// The payload size in bytes.
    pub size: u32,
}

/// Latency and bandwidth of a communication technology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    /// Loopback speed.
    Lan,
    /// GPRS: about 300 ms round trip, 40 kbit/s.
    Gprs,
    /// Narrowband PLC: about 600 ms, 2.4 kbit/s.
    Plc,
    /// RF mesh: about 150 ms, 20 kbit/s.
    Rf,
}

impl LinkKind {
    /// One-way latency in milliseconds and bandwidth in bits per second (0 = unlimited).
    pub fn shape(self) -> (u64, u64) {
        match self {
            LinkKind::Lan => (0, 0),
            LinkKind::Gprs => (150, 40_000),
            LinkKind::Plc => (300, 2_400),
            LinkKind::Rf => (75, 20_000),
        }
    }
}

/// The probabilities of each fault, per meter (or per block for `lose_block`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultMix {
    /// Per block: the meter acknowledges it without storing it.
    pub lose_block: f64,
    /// Per meter: power cut at a random block during the transfer.
    pub power_cut: f64,
    /// Per meter: the connection is cut at a random request.
    pub cut_connection: f64,
    /// Per meter: activation reboots without replying.
    pub silent_activation: f64,
    /// Per meter: the first activation fails (power loss) and rolls back.
    pub activation_fails: f64,
    /// Per meter: the meter trusts another vendor's key, so the image never verifies. Such
    /// meters are doomed: no head-end can upgrade them.
    pub untrusted_key: f64,
    /// Verification time in milliseconds, drawn uniformly from this range.
    pub verify_ms: Option<[u64; 2]>,
    /// Per meter: a power cut at a random request, whatever the meter is doing.
    pub reboot_random: f64,
    /// Per meter: one request is carried out but its reply is lost.
    pub drop_reply: f64,
    /// Per meter: for 3 to 20 requests the meter answers temporary-failure or hardware-fault
    /// without doing anything.
    pub busy: f64,
    /// Per meter: the first initiate finds the storage full (other-reason).
    pub storage_full: f64,
    /// Clock drift in seconds, drawn uniformly from this range.
    pub clock_drift_s: Option<[i64; 2]>,
    /// Per frame the meter sends: lost.
    pub frame_loss: f64,
    /// Per frame the meter sends: sent twice.
    pub frame_duplicate: f64,
    /// Per frame the meter sends: one byte flipped.
    pub frame_corrupt: f64,
    /// Per frame the meter sends: held back behind the next.
    pub frame_reorder: f64,
    /// Per meter: the first 1 to 3 connections are refused.
    pub refused_connections: f64,
    /// Per meter: one connection goes half-open at a random request.
    pub half_open: f64,
    /// Per group frame (multicast or broadcast) reaching a meter: lost on the group path.
    pub group_loss: f64,
}

/// A group of meters alike.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Population {
    /// The population's name (meter names derive from it).
    pub name: String,
    /// How many meters.
    pub count: u32,
    /// The link technology.
    #[serde(default = "lan")]
    pub link: LinkKind,
    /// The meter profile.
    #[serde(default)]
    pub profile: MeterProfile,
    /// The fault mix.
    #[serde(default)]
    pub faults: FaultMix,
    /// The versions its firmware parts run at the start, by part number (`1 = "APP-1.2.0"`);
    /// parts not named run the factory versions (MET-1.0.0, APP-1.0.0, COM-1.0.0).
    #[serde(default)]
    pub firmware: BTreeMap<String, String>,
    /// Labels its meters carry in the targets file (`model = "E350"`), beside `population`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The share of its meters not in a normal state: their error register (0-0:97.97.0.255)
    /// shows an error, and a campaign's pre-scan leaves them out.
    #[serde(default)]
    pub abnormal: f64,
    /// The IP multicast group its meters join (on the fleet's address, at the fleet's port):
    /// datagrams sent there reach every meter of the group (wrapper framing).
    #[serde(default)]
    pub multicast: Option<Ipv4Addr>,
}

fn lan() -> LinkKind {
    LinkKind::Lan
}

/// One meter of a scenario, with its drawn faults.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterPlan {
    /// The meter's index in the fleet.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Where it listens.
    pub address: std::net::SocketAddr,
    /// Where a head-end reaches it (`HOST:PORT`, the scenario's `advertise` host).
    pub advertised: String,
    /// Its profile (time-scaled).
    pub profile: MeterProfile,
    /// Its faults.
    pub faults: Faults,
    /// The first activation fails and rolls back.
    pub activation_fails: bool,
    /// It trusts another vendor's key: doomed.
    pub untrusted_key: bool,
    /// The meter's logical device: the wrapper destination wPort it answers.
    pub wport: u16,
    /// The meter's HDLC lower (physical) address.
    pub physical_address: u16,
    /// Link faults.
    pub link_faults: LinkFaults,
    /// One-way latency (ms, time-scaled) and bandwidth (bit/s, time-scaled).
    pub link: (u64, u64),
    /// The versions its parts run at the start, where the population says.
    pub firmware: Vec<(u8, String)>,
    /// Its labels: the population's, `population` itself, and behind a gateway `gateway`
    /// (the gateway's address).
    pub labels: BTreeMap<String, String>,
    /// Its error register at the start: 0, or [`ABNORMAL_ERROR`] for a meter not in a normal
    /// state.
    pub error_register: u32,
    /// The IP multicast group it joins (at the fleet's port), if any.
    pub multicast: Option<std::net::SocketAddrV4>,
}

/// The error register of a meter a scenario starts not in a normal state: bit 8, which IDIS
/// and DSMR give to a detected tamper (the terminal cover opened).
pub const ABNORMAL_ERROR: u32 = 1 << 8;

impl MeterPlan {
    /// True if no head-end can upgrade this meter.
    pub fn doomed(&self) -> bool {
        self.untrusted_key
    }
}

/// A scenario file that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ScenarioError {
    /// The file.
    pub origin: String,
    /// What is wrong, with line and field where known.
    pub message: String,
}

/// The scenarios shipped inside the binary: the repository's `scenarios/` folder.
static SHIPPED: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../scenarios");

/// The most blocks a scenario's image may have for any population's block size: each meter
/// draws its lost blocks one by one.
pub const MAX_BLOCKS: u32 = 1 << 20;

impl Scenario {
    /// Parses scenario TOML; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let err = |message: String| ScenarioError {
            origin: origin.to_string(),
            message,
        };
        let scenario: Scenario =
            toml::from_str(text).map_err(|e| err(crate::toml_error(text, &e)))?;
        scenario.validate().map_err(err)?;
        Ok(scenario)
    }

    /// The scenario addressed as `addressing`, listening on `bind` and advertising
    /// `advertise` instead of its own, as `emulate --addressing --bind --advertise` ask;
    /// checked again as a whole.
    pub fn with_reach(
        mut self,
        addressing: Option<Addressing>,
        bind: Option<Ipv4Addr>,
        advertise: Option<String>,
    ) -> Result<Self, ScenarioError> {
        if let Some(addressing) = addressing {
            self.addressing = addressing;
        }
        if let Some(bind) = bind {
            self.first_address = bind;
        }
        if advertise.is_some() {
            self.advertise = advertise;
        }
        self.validate().map_err(|message| ScenarioError {
            origin: format!("scenario {} with --bind/--advertise", self.name),
            message,
        })?;
        Ok(self)
    }

    /// Reads a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            origin: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The text of a scenario shipped inside the binary, by name (`gprs-lossy`,
    /// `gprs-lossy.toml` or `scenarios/gprs-lossy.toml`), and the origin errors name.
    fn shipped_text(name: &str) -> Option<(&'static str, String)> {
        let file = Path::new(name).file_name()?.to_str()?;
        let file = if file.ends_with(".toml") {
            file.to_owned()
        } else {
            format!("{file}.toml")
        };
        let text = SHIPPED.get_file(&file)?.contents_utf8()?;
        Some((text, format!("scenarios/{file} (built in)")))
    }

    /// A scenario shipped inside the binary, by name.
    pub fn shipped(name: &str) -> Option<Result<Self, ScenarioError>> {
        Self::shipped_text(name).map(|(text, origin)| Self::from_toml(text, &origin))
    }

    /// The names of the shipped scenarios.
    pub fn shipped_names() -> Vec<&'static str> {
        let mut names: Vec<&str> = SHIPPED
            .files()
            .filter_map(|f| f.path().to_str()?.strip_suffix(".toml"))
            .collect();
        names.sort_unstable();
        names
    }

    /// The text of the scenario `arg` names, and its origin: the file if there is one, else
    /// the shipped scenario of that name.
    pub fn find_text(arg: &Path) -> Result<(String, String), ScenarioError> {
        let origin = arg.display().to_string();
        if arg.exists() {
            let text = std::fs::read_to_string(arg).map_err(|e| ScenarioError {
                origin: origin.clone(),
                message: e.to_string(),
            })?;
            return Ok((text, origin));
        }
        arg.to_str()
            .and_then(Self::shipped_text)
            .map(|(text, origin)| (text.to_owned(), origin))
            .ok_or_else(|| ScenarioError {
                origin,
                message: format!(
                    "no such file, nor a built-in scenario (built in: {})",
                    Self::shipped_names().join(", ")
                ),
            })
    }

    /// A scenario file if `arg` names one, else the shipped scenario of that name: so that
    /// `--scenario scenarios/10k.toml` works inside the repository and from any folder.
    pub fn find(arg: &Path) -> Result<Self, ScenarioError> {
        let (text, origin) = Self::find_text(arg)?;
        Self::from_toml(&text, &origin)
    }

    fn validate(&self) -> Result<(), String> {
        if self.time_scale.is_nan() || self.time_scale <= 0.0 {
            return Err("field time_scale: must be above 0".into());
        }
        let total: u64 = self.population.iter().map(|p| p.count as u64).sum();
        if total == 0 {
            return Err("field population: no meters".into());
        }
        if self.addressing == Addressing::OwnAddress && self.first_address.octets()[0] != 127 {
            return Err("field first_address: one address per meter takes them from 127.0.0.0/8; to be reached from other hosts use addressing = \"port-range\" or \"gateway\"".into());
        }
        if self.first_address.is_unspecified() && self.advertise.is_none() {
            return Err("field advertise: listening on 0.0.0.0, the targets file needs the address head-ends reach the fleet at".into());
        }
        if self.addressing == Addressing::PortRange && u64::from(self.port) + total - 1 > 65_535 {
            return Err(format!(
                "field port: {total} meters from port {} go past 65535",
                self.port
            ));
        }
        if self.addressing == Addressing::OwnAddress
            && u32::from(self.first_address) as u64 + total
                > u32::from(Ipv4Addr::new(127, 255, 255, 254)) as u64
        {
            return Err(format!(
                "field population: {total} meters do not fit 127.0.0.0/8 from {}",
                self.first_address
            ));
        }
        if self.addressing == Addressing::Gateway && self.meter_count() > GATEWAY_MAX_METERS {
            return Err(format!(
                "field addressing: a gateway serves at most {GATEWAY_MAX_METERS} meters, the populations have {}",
                self.meter_count()
            ));
        }
        if !(1..=MAX_IMAGE_SIZE).contains(&self.image.size) {
            return Err(format!(
                "field image.size: {} bytes; 1 to {MAX_IMAGE_SIZE}",
                self.image.size
            ));
        }
        for (i, r) in self.release.iter().enumerate() {
            let part_ok = |p: &str| p.parse::<u8>().is_ok_and(|n| n <= dlms::image::MAX_PART);
            let named = |v: &str| !v.is_empty() && v.len() <= dlms::image::MAX_IDENTIFIER_LEN;
            if !part_ok(&r.part.to_string()) || !named(&r.version) {
                return Err(format!(
                    "field release[{i}]: a part 0..=9 and a version of 1 to 64 bytes"
                ));
            }
            if !(1..=MAX_IMAGE_SIZE).contains(&r.size) {
                return Err(format!(
                    "field release[{i}].size: 1 to {MAX_IMAGE_SIZE} bytes"
                ));
            }
            let bad = r.requires.iter().find(|(p, v)| !part_ok(p) || !named(v));
            if let Some((part, _)) = bad {
                return Err(format!(
                    "field release[{i}].requires.{part}: a part 0..=9 and a version of 1 to 64 bytes"
                ));
            }
            if r.requires.len() > dlms::image::MAX_PREREQUISITES {
                return Err(format!(
                    "field release[{i}].requires: at most {} prerequisites",
                    dlms::image::MAX_PREREQUISITES
                ));
            }
        }
        for (i, p) in self.population.iter().enumerate() {
            if let Some(group) = p.multicast {
                if !group.is_multicast() {
                    return Err(format!(
                        "field population[{i}].multicast: {group} is not an IPv4 multicast address (224.0.0.0/4)"
                    ));
                }
                if self.transport == Transport::Hdlc {
                    return Err(format!(
                        "field population[{i}].multicast: multicast datagrams carry the wrapper; the fleet's transport is hdlc"
                    ));
                }
            }
            if !(0.0..=1.0).contains(&p.faults.group_loss) {
                return Err(format!(
                    "field population[{i}].faults.group_loss: a probability from 0 to 1"
                ));
            }
            for (part, version) in &p.firmware {
                let known = part.parse::<u8>().is_ok_and(|n| n <= 2);
                if !known || version.is_empty() || version.len() > 64 {
                    return Err(format!(
                        "field population[{i}].firmware.{part}: firmware parts are 0, 1 and 2, versions 1 to 64 bytes"
                    ));
                }
            }
            let bare = |k: &String| {
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            };
            if let Some(key) = p.labels.keys().find(|k| !bare(k) || *k == "population") {
                return Err(format!(
                    "field population[{i}].labels.{key}: a label is letters, digits, - and _, and `population` is the population's name"
                ));
            }
            p.profile
                .validate()
                .map_err(|e| e.replace("field ", &format!("field population[{i}].profile.")))?;
            let blocks = self.image.size.div_ceil(p.profile.image_block_size);
            if blocks > MAX_BLOCKS {
                return Err(format!(
                    "field population[{i}].profile.image_block_size: {} bytes make {blocks} blocks of the {}-byte image; at most {MAX_BLOCKS}",
                    p.profile.image_block_size, self.image.size
                ));
            }
            if !(0.0..=1.0).contains(&p.abnormal) {
                return Err(format!("field population[{i}].abnormal: a share, 0 to 1"));
            }
            let f = &p.faults;
            for (name, v) in [
                ("lose_block", f.lose_block),
                ("power_cut", f.power_cut),
                ("cut_connection", f.cut_connection),
                ("silent_activation", f.silent_activation),
                ("activation_fails", f.activation_fails),
                ("untrusted_key", f.untrusted_key),
                ("reboot_random", f.reboot_random),
                ("drop_reply", f.drop_reply),
                ("busy", f.busy),
                ("storage_full", f.storage_full),
                ("frame_loss", f.frame_loss),
                ("frame_duplicate", f.frame_duplicate),
                ("frame_corrupt", f.frame_corrupt),
                ("frame_reorder", f.frame_reorder),
                ("refused_connections", f.refused_connections),
                ("half_open", f.half_open),
            ] {
                if !(0.0..=1.0).contains(&v) {
                    return Err(format!(
                        "field population[{i}].faults.{name}: a probability, 0 to 1"
                    ));
                }
            }
            let per_frame = f.frame_loss + f.frame_duplicate + f.frame_corrupt + f.frame_reorder;
            if per_frame > 1.0 {
                return Err(format!(
                    "field population[{i}].faults.frame_loss: frame_loss, frame_duplicate, frame_corrupt and frame_reorder add up to more than 1"
                ));
            }
        }
        Ok(())
    }

    /// The number of meters.
    pub fn meter_count(&self) -> u32 {
        self.population.iter().map(|p| p.count).sum()
    }

    /// Every meter with its drawn faults, in fleet order. The same scenario gives the same plans.
    pub fn meters(&self) -> Vec<MeterPlan> {
        let mut out = Vec::with_capacity(self.meter_count() as usize);
        let base = u32::from(self.first_address);
        let scale = |ms: u64| (ms as f64 / self.time_scale).round() as u64;
        let mut index = 0u32;
        for p in &self.population {
            for i in 0..p.count {
                // One generator per meter: seeded from the fleet seed and the meter's index, so a
                // meter's faults do not depend on any other meter (or on a shard's other meters).
                let mut rng = ChaCha8Rng::seed_from_u64(
                    self.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                let f = &p.faults;
                let mut profile = p.profile.clone();
                profile.activation_reboot_ms = scale(profile.activation_reboot_ms);
                profile.reboot_ms = scale(profile.reboot_ms);
                if let Some([lo, hi]) = f.verify_ms {
                    profile.verify_ms = scale(rng.gen_range(lo..=hi.max(lo)));
                } else {
                    profile.verify_ms = scale(profile.verify_ms);
                }
                let blocks = self.image.size.div_ceil(profile.image_block_size) + 1;
                let mut faults = Faults::default();
                for n in 0..blocks {
                    if rng.gen_bool(f.lose_block) {
                        faults.lose_blocks.insert(n);
                    }
                }
                if rng.gen_bool(f.power_cut) {
                    faults.reboot_at_block = Some(rng.gen_range(0..blocks));
                }
                if rng.gen_bool(f.cut_connection) {
                    faults.cut_connection_at_request = Some(rng.gen_range(5..blocks + 10));
                }
                faults.silent_activation = rng.gen_bool(f.silent_activation);
                let activation_fails = rng.gen_bool(f.activation_fails);
                let untrusted_key = rng.gen_bool(f.untrusted_key);
                // Later additions draw after the earlier ones, so older plans stay as they were.
                let requests = blocks + 20;
                if rng.gen_bool(f.reboot_random) {
                    faults.reboot_at_request = Some(rng.gen_range(1..requests));
                }
                if rng.gen_bool(f.drop_reply) {
                    faults.drop_reply_at_request = Some(rng.gen_range(1..requests));
                }
                if rng.gen_bool(f.busy) {
                    faults.busy = Some(BusySpell {
                        from_request: rng.gen_range(1..requests),
                        requests: rng.gen_range(3..=20),
                        result: if rng.gen_bool(0.5) { 2 } else { 1 },
                    });
                }
                faults.storage_full_initiates = rng.gen_bool(f.storage_full) as u32;
                if let Some([lo, hi]) = f.clock_drift_s {
                    faults.clock_drift_ms = rng.gen_range(lo..=hi.max(lo)) * 1000;
                }
                let link_faults = LinkFaults {
                    loss: f.frame_loss,
                    duplicate: f.frame_duplicate,
                    corrupt: f.frame_corrupt,
                    reorder: f.frame_reorder,
                    refuse_connections: if rng.gen_bool(f.refused_connections) {
                        rng.gen_range(1..=3)
                    } else {
                        0
                    },
                    half_open_at_request: rng
                        .gen_bool(f.half_open)
                        .then(|| rng.gen_range(1..requests)),
                    group_loss: f.group_loss,
                    seed: rng.gen(),
                };
                // Drawn last, so that the draws above stay what they were.
                let error_register = if rng.gen_bool(p.abnormal) {
                    ABNORMAL_ERROR
                } else {
                    0
                };
                let (latency, bandwidth) = p.link.shape();
                let (ip, port, wport, physical_address) = match self.addressing {
                    Addressing::OwnAddress => (
                        Ipv4Addr::from(base + index),
                        self.port,
                        LOGICAL_DEVICE,
                        PHYSICAL_ADDRESS,
                    ),
                    Addressing::Gateway => (
                        self.first_address,
                        self.port,
                        gateway_wport(index as u16),
                        GATEWAY_FIRST_PHYSICAL + index as u16,
                    ),
                    Addressing::PortRange => (
                        self.first_address,
                        self.port + index as u16,
                        LOGICAL_DEVICE,
                        PHYSICAL_ADDRESS,
                    ),
                };
                let address = std::net::SocketAddr::from((ip, port));
                let advertised = match &self.advertise {
                    Some(host) if host.contains(':') => format!("[{host}]:{port}"),
                    Some(host) => format!("{host}:{port}"),
                    None => address.to_string(),
                };
                out.push(MeterPlan {
                    index,
                    name: format!("{}-{:05}", p.name, i + 1),
                    address,
                    advertised,
                    profile,
                    faults,
                    activation_fails,
                    untrusted_key,
                    wport,
                    physical_address,
                    link_faults,
                    link: (scale(latency), (bandwidth as f64 * self.time_scale) as u64),
                    firmware: p
                        .firmware
                        .iter()
                        .filter_map(|(part, v)| Some((part.parse().ok()?, v.clone())))
                        .collect(),
                    labels: p
                        .labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .chain([("population".to_string(), p.name.clone())])
                        .chain(
                            (self.addressing == Addressing::Gateway)
                                .then(|| ("gateway".to_string(), address.to_string())),
                        )
                        .collect(),
                    error_register,
                    multicast: p
                        .multicast
                        .map(|group| std::net::SocketAddrV4::new(group, self.port)),
                });
                index += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
name = "small"
seed = 7
time_scale = 10.0

[image]
part = 1
version = "APP-2.0.0"
size = 20000

[[population]]
name = "home"
count = 50
link = "gprs"
faults = { lose_block = 0.05, power_cut = 0.2, untrusted_key = 0.1, verify_ms = [0, 3000] }
"#;

    #[test]
    fn the_same_seed_draws_the_same_faults_and_another_seed_others() {
        let a = Scenario::from_toml(SMALL, "s.toml").unwrap().meters();
        let b = Scenario::from_toml(SMALL, "s.toml").unwrap().meters();
        assert_eq!(a, b);
        let c = Scenario::from_toml(&SMALL.replace("seed = 7", "seed = 8"), "s.toml")
            .unwrap()
            .meters();
        assert_ne!(a, c);
        assert!(a.iter().any(|m| !m.faults.lose_blocks.is_empty()));
        assert!(a.iter().any(|m| m.faults.reboot_at_block.is_some()));
        assert_eq!(a[0].address, "127.1.0.1:4059".parse().unwrap());
        assert_eq!(a[49].address, "127.1.0.50:4059".parse().unwrap());
        assert_eq!(
            a[3].link,
            (15, 400_000),
            "GPRS latency and bandwidth, time-scaled by 10"
        );
    }

    #[test]
    fn population_profiles_and_image_sizes_are_checked_before_any_meter_is_drawn() {
        let with_profile = |profile: &str| {
            SMALL.replace(
                "link = \"gprs\"",
                &format!("link = \"gprs\"\nprofile = {{ {profile} }}"),
            )
        };
        for (text, field) in [
            (
                with_profile("image_block_size = 0"),
                "field population[0].profile.image_block_size",
            ),
            (
                with_profile("image_block_size = 5000, max_pdu_size = 100"),
                "field population[0].profile.image_block_size: 5000 exceeds max_pdu_size 100",
            ),
            (
                SMALL.replace("size = 20000", "size = 4294967295"),
                "field image.size",
            ),
            (
                with_profile("image_block_size = 1")
                    .replace("size = 20000", &format!("size = {MAX_IMAGE_SIZE}")),
                "at most 1048576",
            ),
        ] {
            let e = Scenario::from_toml(&text, "s.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn populations_start_on_their_versions_with_their_labels() {
        let text = SMALL.replace(
            "link = \"gprs\"",
            "link = \"gprs\"\nfirmware = { 1 = \"APP-1.4.0\" }\nlabels = { model = \"E350\" }",
        );
        let meters = Scenario::from_toml(&text, "s.toml").unwrap().meters();
        assert_eq!(meters[0].firmware, [(1, "APP-1.4.0".to_string())]);
        assert_eq!(meters[0].labels["model"], "E350");
        assert_eq!(meters[0].labels["population"], "home");
        assert!(!meters[0].labels.contains_key("gateway"));
        let behind = Scenario::from_toml(
            &text.replace(
                "time_scale = 10.0",
                "time_scale = 10.0\naddressing = \"gateway\"",
            ),
            "s.toml",
        )
        .unwrap()
        .meters();
        assert_eq!(behind[7].labels["gateway"], "127.1.0.1:4059");
        for (bad, field) in [
            ("firmware = { 5 = \"X\" }", "field population[0].firmware.5"),
            (
                "labels = { population = \"x\" }",
                "field population[0].labels.population",
            ),
            (
                "labels = { \"a b\" = \"x\" }",
                "field population[0].labels.a b",
            ),
        ] {
            let text = SMALL.replace("link = \"gprs\"", &format!("link = \"gprs\"\n{bad}"));
            let e = Scenario::from_toml(&text, "s.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        let e = Scenario::from_toml(
            &SMALL.replace("count = 50", "count = 50\ncolour = 1"),
            "f.toml",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("f.toml: line"), "{e}");
        assert!(e.to_string().contains("colour"), "{e}");
        let e = Scenario::from_toml(
            &SMALL.replace("lose_block = 0.05", "lose_block = 5.0"),
            "f.toml",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("field population[0].faults.lose_block"),
            "{e}"
        );
        let e = Scenario::from_toml(
            &SMALL.replace(
                "time_scale = 10.0",
                "time_scale = 10.0\nfirst_address = \"10.0.0.1\"",
            ),
            "f.toml",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("field first_address: one address per meter"),
            "{e}"
        );
        let e = Scenario::from_toml(
            &SMALL.replace(
                "time_scale = 10.0",
                "time_scale = 10.0\nfirst_address = \"0.0.0.0\"\naddressing = \"port-range\"",
            ),
            "f.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("field advertise"), "{e}");
    }

    #[test]
    fn a_port_range_fleet_listens_on_one_address_and_advertises_another() {
        let scenario = Scenario::from_toml(
            &SMALL.replace(
                "time_scale = 10.0",
                "time_scale = 10.0\nfirst_address = \"0.0.0.0\"\naddressing = \"port-range\"\nport = 40000\nadvertise = \"meters.example\"",
            ),
            "f.toml",
        )
        .unwrap();
        let plans = scenario.meters();
        assert_eq!(plans[0].address.to_string(), "0.0.0.0:40000");
        assert_eq!(plans[2].address.to_string(), "0.0.0.0:40002");
        assert_eq!(plans[2].advertised, "meters.example:40002");
        let moved = scenario
            .with_reach(None, Some("10.1.2.3".parse().unwrap()), None)
            .unwrap();
        assert_eq!("port-range".parse(), Ok(Addressing::PortRange));
        assert_eq!(moved.meters()[1].address.to_string(), "10.1.2.3:40001");
        let full = Scenario::from_toml(
            &SMALL.replace(
                "time_scale = 10.0",
                "time_scale = 10.0\naddressing = \"port-range\"\nport = 65500",
            ),
            "f.toml",
        )
        .unwrap_err();
        assert!(full.to_string().contains("field port"), "{full}");
    }
}

#[cfg(test)]
mod shipped {
    use super::*;

    /// Every scenario under `scenarios/` parses.
    #[test]
    fn shipped_scenarios_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(s.meter_count() > 0);
            n += 1;
        }
        assert!(n >= 5);
        assert_eq!(Scenario::shipped_names().len(), n);
    }

    /// The built-in scenarios are found by name, file name or repository path.
    #[test]
    fn shipped_scenarios_are_found_by_any_of_their_names() {
        for name in ["gprs-lossy", "gprs-lossy.toml", "scenarios/gprs-lossy.toml"] {
            let s = Scenario::shipped(name).unwrap().unwrap();
            assert_eq!(s.name, "gprs-lossy");
        }
        assert!(Scenario::shipped("nowhere").is_none());
        let e = Scenario::find(Path::new("/nonexistent/nowhere.toml")).unwrap_err();
        assert!(
            e.to_string().contains("built in: 10k, clean, default"),
            "{e}"
        );
    }
}
