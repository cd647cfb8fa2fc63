//! Meter profiles: every behaviour the Blue Book leaves open is a named option here, never a
//! hard-coded choice. The default is the strict reading of docs/protocol.md#the-transfer-process.
//!
//! Profiles are TOML; unknown keys are errors, and errors name the file, line and field.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// What initiate does when called again with the identifier and size of the transfer in
/// progress (docs/protocol.md#server-rules-at-the-edges; the Blue Book wording quoted by SPODES says reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reinitiate {
    /// Reset the whole transfer.
    Reset,
    /// Keep the blocks received if identifier and size are unchanged and status is 1..3.
    ResumeIfSame,
}

/// What an AARQ over one of the meter's association limits gets (the standard bounds the
/// associations a server holds but leaves the answer to the rest to the vendor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExcessAssociation {
    /// An AARE rejected (transient, no reason given).
    #[default]
    Reject,
    /// The connection is reset (behind a gateway: the meter drops its link and answers
    /// nothing).
    Reset,
    /// The AARQ is held until an association ends, then served; after the inactivity
    /// time-out it is rejected.
    Wait,
}

/// Named vendor deviations from the Blue Book (docs/protocol.md#vendor-deviations). Each is a deliberate
/// non-conformance that the harness must detect; what the standard leaves open is a [`Variant`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Quirk {
    /// Attribute 3 with each byte's bits LSB-first (OSGP-SIM, docs/protocol.md#vendor-deviations).
    ReversedBitOrder,
    /// Attribute 3's length is the byte count times 8 (OSGP-SIM, docs/protocol.md#vendor-deviations).
    BitStringLengthInBytes,
    /// Attribute 4 is the last block received plus one, not the first gap (GX-IT, GX-C; item 10).
    FirstNotTransferredIsLastPlusOne,
    /// Blocks past the end are acknowledged (and dropped) instead of refused (GX-C; docs/protocol.md#server-rules-at-the-edges).
    NoRangeCheck,
    /// Verification succeeds with blocks missing.
    VerifyIgnoresMissingBlocks,
    /// The image's signature is not checked (CRC and structure still are).
    NoSignatureCheck,
    /// A reboot forgets every received block (the transfer must start again).
    ForgetsBlocksOnReboot,
    /// Boolean TRUE is accepted only as 0xFF; 0x01 is refused (CONNEXO, item 4).
    TrueOnlyAsFf,
    /// Activation reboots without replying (GX-WEB, item 2).
    ActivationWithoutReply,
    /// After initiate, attribute 6 still reads 0 for a while (OSGP-ADP, item 12).
    StatusStaysZeroAfterInitiate,
    /// Blocks are accepted without checking image_transfer_enabled or the status (GX-IT, item 15).
    NoEnabledOrStatusChecks,
    /// A refused GET, SET or ACTION is answered under invoke-id 1 whatever the request's
    /// (gurux-dlms 1.0.203 answers a refused SET so; cases/reports/gurux-meter).
    InvokeIdNotEchoed,
    /// An HLS association is served before the client has answered the challenge
    /// (reply_to_HLS_authentication): anyone who can send an AARQ gets the client's rights.
    ServesBeforeAuthentication,
    /// image_activate of an image not yet verified answers other-reason instead of verifying
    /// it as part of the activation.
    NoImplicitVerify,
    /// Group requests under the broadcast key set are taken whatever their invocation counter:
    /// a recorded group APDU is carried out again.
    GroupReplayAccepted,
    /// A meter whose group addressing is multicast only takes broadcast requests too.
    BroadcastWhenMulticastOnly,
}

impl Quirk {
    /// Every quirk, in declaration order.
    pub const ALL: [Quirk; 16] = [
        Quirk::ReversedBitOrder,
        Quirk::BitStringLengthInBytes,
        Quirk::FirstNotTransferredIsLastPlusOne,
        Quirk::NoRangeCheck,
        Quirk::VerifyIgnoresMissingBlocks,
        Quirk::NoSignatureCheck,
        Quirk::ForgetsBlocksOnReboot,
        Quirk::TrueOnlyAsFf,
        Quirk::ActivationWithoutReply,
        Quirk::StatusStaysZeroAfterInitiate,
        Quirk::NoEnabledOrStatusChecks,
        Quirk::InvokeIdNotEchoed,
        Quirk::ServesBeforeAuthentication,
        Quirk::NoImplicitVerify,
        Quirk::GroupReplayAccepted,
        Quirk::BroadcastWhenMulticastOnly,
    ];

    /// The name profile files use (`reversed-bit-order`).
    pub fn name(self) -> String {
        kebab(&format!("{self:?}"))
    }
}

/// Behaviours the standard leaves to the vendor and that field meters show
/// (docs/protocol.md#vendor-deviations): each is legitimate, so the conformance catalogue
/// must not fail a meter for it, and the detection matrix checks that it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Attribute 7 answers hardware-fault, not an empty array, when there is nothing to
    /// activate (GX-CPP-PR9).
    HardwareFaultForEmptyInfo,
    /// image_transfer_enabled is FALSE until a client writes it TRUE (OSGP-ADP, CONNEXO): the
    /// factory default is not specified.
    TransferDisabledAtStart,
    /// Verify while a verification runs answers hardware-fault, not temporary-failure: the
    /// result code is not pinned.
    HardwareFaultWhileVerifying,
    /// The identifier takes part in verification: one ending in ".corrupt" fails (the OSGP
    /// simulator's test hook); whether the identifier is checked is the vendor's choice.
    CorruptIdentifierFailsVerification,
    /// The last block must be zero-padded to the block size (CONNEXO: "dependent from vendor to
    /// vendor").
    PaddedLastBlockRequired,
}

impl Variant {
    /// Every variant, in declaration order.
    pub const ALL: [Variant; 5] = [
        Variant::HardwareFaultForEmptyInfo,
        Variant::TransferDisabledAtStart,
        Variant::HardwareFaultWhileVerifying,
        Variant::CorruptIdentifierFailsVerification,
        Variant::PaddedLastBlockRequired,
    ];

    /// The name profile files use (`transfer-disabled-at-start`).
    pub fn name(self) -> String {
        kebab(&format!("{self:?}"))
    }
}

/// `CamelCase` as `camel-case`.
fn kebab(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// What a client at an address may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rights {
    /// GET only.
    ReadOnly,
    /// GET everything; SET and ACTION only on the image transfer process (IC 18 and the
    /// activation scheduler), so that a bench head-end without keys can upgrade.
    ReadAndUpgrade,
    /// Everything.
    Full,
}

/// How a client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    /// No authentication.
    None,
    /// LLS with the client's `password`.
    Lls,
    /// HLS-GMAC with security suite 0 ciphering, with the meter's keys.
    HlsGmac,
}

/// One client address the meter accepts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientProfile {
    /// The client SAP.
    pub sap: u16,
    /// How it authenticates.
    pub authentication: ClientAuth,
    /// The LLS password (never shown by the control endpoint).
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// What it may do.
    pub rights: Rights,
}

/// Which group-addressed requests a meter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupAddressing {
    /// Broadcast (all-station addresses) and multicast (a group the meter joined).
    #[default]
    BroadcastAndMulticast,
    /// Multicast only: broadcast requests are discarded, as the MCS301 manual says of firmware
    /// upgrades ("only unicast and multicast").
    MulticastOnly,
    /// No group requests at all.
    None,
}

/// How group requests must be protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupSecurity {
    /// General-glo-ciphering under the broadcast key set, each counter above the last one
    /// accepted.
    #[default]
    BroadcastKey,
    /// Plain APDUs are taken too (a weakness).
    None,
}

/// How a meter serves group-addressed requests: in a pre-established association, unconfirmed
/// services only, never answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupProfile {
    /// The client SAP group requests come from: the pre-established association's client (102
    /// by default; no public text fixes it). It is not a client an AARQ can associate as.
    pub client: u16,
    /// Which group addressing the meter takes.
    pub addressing: GroupAddressing,
    /// How group requests must be protected.
    pub security: GroupSecurity,
    /// What group requests may do.
    pub rights: Rights,
}

impl Default for GroupProfile {
    fn default() -> Self {
        GroupProfile {
            client: 102,
            addressing: GroupAddressing::default(),
            security: GroupSecurity::default(),
            rights: Rights::ReadAndUpgrade,
        }
    }
}

/// A meter's behaviour.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeterProfile {
    /// image_block_size (attribute 2), in bytes; at most max_pdu_size.
    pub image_block_size: u32,
    /// The largest APDU the meter accepts (server-max-receive-pdu-size).
    pub max_pdu_size: u16,
    /// The largest image initiate accepts; larger is "storage full" (other-reason).
    pub max_image_size: u32,
    /// Initiate with the same identifier and size: reset or resume.
    pub reinitiate: Reinitiate,
    /// The result code for initiate and block transfer while image_transfer_enabled is FALSE
    /// (250 other-reason by default; 3 read-write-denied and 2 temporary-failure are seen too).
    pub disabled_result: u8,
    /// Whether verify and activate also need image_transfer_enabled (UNCONFIRMED, docs/protocol.md#open-questions).
    pub verify_activate_need_enabled: bool,
    /// Whether a last block padded to the full block size is accepted (and truncated).
    pub accept_padded_last_block: bool,
    /// Whether the meter offers block-transfer-with-action (an optional service): without it,
    /// a request longer than the PDU cannot be sent in pblocks.
    pub action_block_transfer: bool,
    /// How long verification runs; 0 verifies synchronously, more answers temporary-failure
    /// and keeps status 2 until done.
    pub verify_ms: u64,
    /// How long the meter is unreachable while it reboots into a new image.
    pub activation_reboot_ms: u64,
    /// How long after answering image_activate the meter goes down to reboot (it keeps
    /// answering meanwhile).
    pub activation_drop_delay_ms: u64,
    /// The firmware parts that switch to a new image without a reboot: the meter keeps every
    /// connection and association and answers on.
    pub activation_without_reboot: Vec<u8>,
    /// How long an ordinary reboot keeps the meter unreachable.
    pub reboot_ms: u64,
    /// How long a connection may stay silent before the meter closes it. IEC 62056-46 gives
    /// HDLC an inactivity time-out of 120 s by default; the wrapper has none of its own, and
    /// the same is used.
    pub inactivity_timeout_ms: u64,
    /// How many connections the meter serves at once; more are closed as they arrive.
    pub max_connections: u16,
    /// How many associations the meter holds at once over all clients, each on its own
    /// connection; 0 is no limit but `max_connections`.
    pub max_associations: u16,
    /// How many associations one client SAP may hold at once; 0 is no limit but the others.
    pub max_associations_per_client: u16,
    /// What an AARQ over either limit gets.
    pub excess_association: ExcessAssociation,
    /// image_transfer_status after the reboot into a new image: 6 (activation successful) or
    /// 0 (not initiated), as some deployments do.
    pub status_after_activation: u8,
    /// Accept images that are not MFIM containers (opaque test images): verification only
    /// checks completeness, and the image activates on `default_part`.
    pub accept_opaque_images: bool,
    /// The firmware part an opaque image upgrades.
    pub default_part: u8,
    /// Whether the metrology part (b = 0) may be upgraded at all.
    pub metrology_upgradable: bool,
    /// The image identifier the meter insists on, if any (GX-WEB: "Some meters expect the image
    /// identifier to be the exact name the meter manufacturer has given"); others are refused.
    pub required_identifier: Option<String>,
    /// Vendor deviations, by name.
    pub quirks: std::collections::BTreeSet<Quirk>,
    /// Legitimate vendor choices the options above do not cover, by name.
    pub variants: std::collections::BTreeSet<Variant>,
    /// The clients the meter accepts.
    pub clients: Vec<ClientProfile>,
    /// How the meter serves group-addressed requests.
    pub group: GroupProfile,
}

impl Default for MeterProfile {
    fn default() -> Self {
        MeterProfile {
            image_block_size: 200,
            max_pdu_size: 1024,
            max_image_size: 16 * 1024 * 1024,
            reinitiate: Reinitiate::Reset,
            disabled_result: 250,
            verify_activate_need_enabled: false,
            accept_padded_last_block: true,
            action_block_transfer: true,
            verify_ms: 0,
            activation_reboot_ms: 2_000,
            activation_drop_delay_ms: 0,
            activation_without_reboot: Vec::new(),
            reboot_ms: 2_000,
            inactivity_timeout_ms: 120_000,
            max_connections: 16,
            max_associations: 0,
            max_associations_per_client: 0,
            excess_association: ExcessAssociation::Reject,
            status_after_activation: 6,
            accept_opaque_images: false,
            default_part: 1,
            metrology_upgradable: false,
            required_identifier: None,
            quirks: std::collections::BTreeSet::new(),
            variants: std::collections::BTreeSet::new(),
            clients: vec![
                ClientProfile {
                    sap: 16,
                    authentication: ClientAuth::None,
                    password: None,
                    rights: Rights::ReadOnly,
                },
                ClientProfile {
                    sap: 1,
                    authentication: ClientAuth::Lls,
                    password: Some("12345678".into()),
                    rights: Rights::Full,
                },
                ClientProfile {
                    sap: 48,
                    authentication: ClientAuth::HlsGmac,
                    password: None,
                    rights: Rights::Full,
                },
            ],
            group: GroupProfile::default(),
        }
    }
}

/// A profile file that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ProfileError {
    /// The file.
    pub path: String,
    /// What is wrong, with line and field where known.
    pub message: String,
}

/// The smallest max_pdu_size a profile may give: room for an AARE with its InitiateResponse.
pub const MIN_PDU_SIZE: u16 = 64;
/// The largest image an emulated meter holds (it keeps the image in memory), in bytes.
pub const MAX_IMAGE_SIZE: u32 = 64 * 1024 * 1024;

impl MeterProfile {
    /// What in this profile lets an image in that a deployed meter would refuse: opaque
    /// images, an unchecked signature, an unauthenticated client that may upgrade, a meter
    /// that serves before authentication.
    pub fn weaknesses(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.accept_opaque_images {
            out.push("opaque images are accepted".to_string());
        }
        for quirk in [Quirk::NoSignatureCheck, Quirk::ServesBeforeAuthentication] {
            if self.has(quirk) {
                out.push(format!("quirk {}", quirk.name()));
            }
        }
        for c in &self.clients {
            if c.authentication == ClientAuth::None && c.rights != Rights::ReadOnly {
                out.push(format!(
                    "client {} may change the meter without authentication",
                    c.sap
                ));
            }
        }
        let g = &self.group;
        if g.addressing != GroupAddressing::None
            && g.security == GroupSecurity::None
            && g.rights != Rights::ReadOnly
        {
            out.push("group requests may change the meter unprotected".to_string());
        }
        out
    }

    /// Parses a profile from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ProfileError> {
        let err = |message: String| ProfileError {
            path: origin.to_string(),
            message,
        };
        let profile: MeterProfile =
            toml::from_str(text).map_err(|e| err(crate::toml_error(text, &e)))?;
        profile.validate().map_err(err)?;
        Ok(profile)
    }

    /// Reads a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Checks the options against each other and against the limits the emulator keeps:
    /// an error names the field.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.max_pdu_size < MIN_PDU_SIZE {
            return Err(format!(
                "field max_pdu_size: {} is below {MIN_PDU_SIZE}, the room an AARE with its InitiateResponse needs",
                self.max_pdu_size
            ));
        }
        if self.max_image_size > MAX_IMAGE_SIZE {
            return Err(format!(
                "field max_image_size: {} is above {MAX_IMAGE_SIZE}, the most an emulated meter holds",
                self.max_image_size
            ));
        }
        if self.max_connections == 0 {
            return Err("field max_connections: at least 1".into());
        }
        if self.inactivity_timeout_ms == 0 {
            return Err("field inactivity_timeout_ms: must be above 0".into());
        }
        if self.clients.is_empty() {
            return Err("field clients: a meter needs at least one client".into());
        }
        for (i, c) in self.clients.iter().enumerate() {
            if self.clients[..i].iter().any(|other| other.sap == c.sap) {
                return Err(format!("field clients[{i}].sap: {} is given twice", c.sap));
            }
        }
        if self.image_block_size == 0 {
            return Err("field image_block_size: must be at least 1".into());
        }
        // The Blue Book note quoted in OSGP-275: the block size shall not exceed the
        // ServerMaxReceivePduSize. A block that fits but not with its ~25 bytes of ACTION header
        // must come in ACTION pblocks, which the meter accepts.
        if self.image_block_size > self.max_pdu_size as u32 {
            return Err(format!(
                "field image_block_size: {} exceeds max_pdu_size {}",
                self.image_block_size, self.max_pdu_size
            ));
        }
        if ![6, 0].contains(&self.status_after_activation) {
            return Err("field status_after_activation: must be 6 or 0".into());
        }
        for (i, c) in self.clients.iter().enumerate() {
            if (c.authentication == ClientAuth::Lls) != c.password.is_some() {
                return Err(format!(
                    "field clients[{i}].password: required with authentication = \"lls\" and only then"
                ));
            }
        }
        if self.group.addressing != GroupAddressing::None
            && self.client(self.group.client).is_some()
        {
            return Err(format!(
                "field group.client: {} is also an associating client; the group's client is pre-established",
                self.group.client
            ));
        }
        if self.default_part > 2 {
            return Err("field default_part: this meter has parts 0, 1 and 2".into());
        }
        Ok(())
    }

    /// True if the meter has quirk `q`.
    pub fn has(&self, q: Quirk) -> bool {
        self.quirks.contains(&q)
    }

    /// True if the meter makes the legitimate choice `v`.
    pub fn varies(&self, v: Variant) -> bool {
        self.variants.contains(&v)
    }

    /// The profile of a client SAP, if the meter accepts it.
    pub fn client(&self, sap: u16) -> Option<&ClientProfile> {
        self.clients.iter().find(|c| c.sap == sap)
    }

    /// The client a head-end upgrades the meter as: the first LLS client that may change it
    /// (the management client 1 by default).
    pub fn management_client(&self) -> Option<&ClientProfile> {
        self.clients
            .iter()
            .find(|c| c.authentication == ClientAuth::Lls && c.rights != Rights::ReadOnly)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_strict_default() {
        assert_eq!(
            MeterProfile::from_toml("", "p.toml").unwrap(),
            MeterProfile::default()
        );
    }

    #[test]
    fn options_parse() {
        let p = MeterProfile::from_toml(
            "reinitiate = \"resume-if-same\"\nverify_ms = 5000\n[[clients]]\nsap = 16\nauthentication = \"none\"\nrights = \"read-only\"\n",
            "p.toml",
        )
        .unwrap();
        assert_eq!(p.reinitiate, Reinitiate::ResumeIfSame);
        assert_eq!(p.verify_ms, 5000);
        assert_eq!(p.client(16).unwrap().rights, Rights::ReadOnly);
        assert!(p.client(1).is_none());
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e = MeterProfile::from_toml("verify_ms = 1\nimage_blok_size = 3\n", "meters/a.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("meters/a.toml: line 2"), "{e}");
        assert!(e.contains("image_blok_size"), "{e}");
        let e = MeterProfile::from_toml("image_block_size = 4000\n", "b.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("field image_block_size"), "{e}");
    }

    #[test]
    fn limits_and_contradictions_are_refused_with_their_field() {
        for (text, field) in [
            ("max_pdu_size = 1\nimage_block_size = 1\n", "field max_pdu_size"),
            ("max_image_size = 4294967295\n", "field max_image_size"),
            ("clients = []\n", "field clients"),
            ("[group]\nclient = 16\n", "field group.client"),
            ("[group]\naddressing = \"sometimes\"\n", "line 2: unknown variant `sometimes`"),
            (
                "[[clients]]\nsap = 16\nauthentication = \"none\"\nrights = \"full\"\n[[clients]]\nsap = 16\nauthentication = \"none\"\nrights = \"full\"\n",
                "field clients[1].sap: 16 is given twice",
            ),
            ("image_block_size = 0\n", "field image_block_size"),
        ] {
            let e = MeterProfile::from_toml(text, "p.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{text}: {e}");
        }
    }
}
