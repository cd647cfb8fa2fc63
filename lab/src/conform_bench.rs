//! Emulated meters for `meterfleet conform`: a bench that gives every case a new meter on a
//! loopback port and can power-cycle it, the signed test images, and the profiles of the
//! detection matrix (the conforming one, its variants, and one per quirk).

use dlms::image::{self, Corruption};
use dlms::Transport;
use emulator::device::events::EventCode;
use emulator::meter::{Meter, MeterConfig, MeterKeys};
use emulator::net::host::{now_ms, MeterHost};
use emulator::net::serve::serve;
use emulator::profile::{
    GroupAddressing, GroupProfile, GroupSecurity, MeterProfile, Quirk, Reinitiate, Rights, Variant,
};
use harness::conform::matrix::Expectation;
use harness::conform::{Bench, BenchError};
use harness::target::Target;
use harness::target::{
    BenchHooks, HlsClient, Images, LlsClient, MeterTarget, Statement, TestImage,
};
use p256::ecdsa::SigningKey;
use std::net::SocketAddr;
use std::sync::Arc;

/// A bench of emulated meters: each case gets a new meter with the same configuration.
pub struct EmulatedBench {
    config: MeterConfig,
    transport: Transport,
    host: Option<Arc<MeterHost>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl EmulatedBench {
    /// A bench of meters built from `config`, served over `transport`.
    pub fn new(config: MeterConfig, transport: Transport) -> Self {
        EmulatedBench {
            config,
            transport,
            host: None,
            server: None,
        }
    }
}

impl Drop for EmulatedBench {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

impl Bench for EmulatedBench {
    fn resets(&self) -> bool {
        true
    }

    fn fresh(&mut self) -> Result<Option<SocketAddr>, BenchError> {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(|l| Ok((l.local_addr()?, tokio::net::TcpListener::from_std(l)?)))
            .map_err(|e| BenchError(format!("listening on 127.0.0.1: {e}")))?;
        let (address, listener) = listener;
        let host = MeterHost::new(Meter::new(self.config.clone()), None);
        let transport = self.transport;
        let served = host.clone();
        self.server = Some(tokio::spawn(async move {
            if let Err(e) = serve(listener, served, transport).await {
                tracing::warn!("emulated meter stopped: {e}");
            }
        }));
        self.host = Some(host);
        Ok(Some(address))
    }

    fn power_cycle(&mut self) -> Result<(), BenchError> {
        let host = self
            .host
            .as_ref()
            .ok_or_else(|| BenchError("no meter yet".into()))?;
        host.with_meter(|m| {
            let offline = m.profile().reboot_ms;
            m.reboot(now_ms(), offline);
        });
        Ok(())
    }

    fn can_power_cycle(&self) -> bool {
        true
    }
}

/// The key the test images are signed with (fixed, so reports replay).
fn signing_key() -> SigningKey {
    SigningKey::from_slice(&[0x42; 32]).expect("a valid P-256 scalar")
}

fn test_image(part: u8, identifier: &str, payload_len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..payload_len).map(|i| (i * 7 % 251) as u8).collect();
    image::build(&signing_key(), part, identifier.as_bytes(), &payload).expect("a short identifier")
}

fn entry(bytes: Vec<u8>, identifier: &str) -> TestImage {
    TestImage {
        bytes: Arc::new(bytes),
        identifier: identifier.as_bytes().to_vec(),
        version: identifier.as_bytes().to_vec(),
    }
}

/// Signed images for part 1: a valid one, one with a bad signature, one for a part the meter
/// does not have (7), one for the metrology part.
pub fn test_images() -> Images {
    let valid = test_image(1, "APP-2.0.0", 3000);
    let bad = image::corrupt(&valid, Corruption::BadSignature, None).expect("an image");
    Images {
        valid: Some(entry(valid, "APP-2.0.0")),
        bad_signature: Some(entry(bad, "APP-2.0.0")),
        wrong_part: Some(entry(test_image(7, "X7-2.0.0", 1000), "X7-2.0.0")),
        metrology: Some(entry(test_image(0, "MET-2.0.0", 1000), "MET-2.0.0")),
    }
}

/// The meter configuration of the matrix: a profile with short reboots, trusting the test key.
pub fn meter_config(profile: MeterProfile) -> MeterConfig {
    MeterConfig {
        profile,
        trusted_key: Some(*signing_key().verifying_key()),
        ..MeterConfig::default()
    }
}

/// The conforming profile with reboots short enough for a quick run.
pub fn conforming_profile() -> MeterProfile {
    MeterProfile {
        activation_reboot_ms: 300,
        reboot_ms: 300,
        ..MeterProfile::default()
    }
}

/// One row of the detection matrix.
pub struct MatrixRow {
    /// The profile's name: `conforming (wrapper)`, `variant: …`, a quirk's name.
    pub name: String,
    /// The meter.
    pub profile: MeterProfile,
    /// Over which transport.
    pub transport: Transport,
    /// What the catalogue must make of it.
    pub expectation: Expectation,
}

/// A change to a profile.
type ProfileChange = dyn Fn(&mut MeterProfile);

/// The variants the matrix requires the catalogue to find clean: every legitimate choice the
/// emulator can make, each alone on the conforming profile.
fn variants(base: &MeterProfile) -> Vec<(String, MeterProfile)> {
    let with = |change: &ProfileChange| {
        let mut profile = base.clone();
        change(&mut profile);
        profile
    };
    let mut rows: Vec<(String, MeterProfile)> = Variant::ALL
        .into_iter()
        .map(|v| {
            let profile = with(&move |p| {
                p.variants = [v].into();
                if v == Variant::HardwareFaultWhileVerifying {
                    // The variant shows only while a verification runs.
                    p.verify_ms = 1500;
                }
            });
            (v.name(), profile)
        })
        .collect();
    let options: [(&str, &ProfileChange); 15] = [
        ("group requests multicast only", &|p| {
            p.group.addressing = GroupAddressing::MulticastOnly
        }),
        ("group requests plain", &|p| {
            p.group.security = GroupSecurity::None
        }),
        ("no group requests", &|p| {
            p.group.addressing = GroupAddressing::None
        }),
        ("status 0 after activation", &|p| {
            p.status_after_activation = 0
        }),
        ("asynchronous verification", &|p| p.verify_ms = 1500),
        ("re-initiate resumes", &|p| {
            p.reinitiate = Reinitiate::ResumeIfSame
        }),
        ("metrology upgradable", &|p| p.metrology_upgradable = true),
        ("vendor identifier required", &|p| {
            p.required_identifier = Some("VENDOR-APP-2.0.0".into())
        }),
        ("public client may upgrade", &|p| {
            for c in p.clients.iter_mut().filter(|c| c.sap == 16) {
                c.rights = Rights::ReadAndUpgrade;
            }
        }),
        ("activation without reboot", &|p| {
            p.activation_without_reboot = vec![1]
        }),
        ("activation answers, then reboots", &|p| {
            p.activation_drop_delay_ms = 500
        }),
        ("padded last block refused", &|p| {
            p.accept_padded_last_block = false
        }),
        ("disabled transfer answers temporary-failure", &|p| {
            p.disabled_result = 2
        }),
        ("verify and activate need enabled", &|p| {
            p.verify_activate_need_enabled = true
        }),
        ("no ACTION block transfer", &|p| {
            p.action_block_transfer = false
        }),
    ];
    rows.extend(
        options
            .into_iter()
            .map(|(name, change)| (name.to_string(), with(change))),
    );
    rows
}

/// The conforming profile over both transports and every variant, which must come out clean,
/// then one profile per quirk, which its designated cases must catch.
pub fn matrix_rows() -> Vec<MatrixRow> {
    let base = conforming_profile();
    let mut rows: Vec<MatrixRow> = [Transport::Wrapper, Transport::Hdlc]
        .into_iter()
        .map(|transport| MatrixRow {
            name: format!("conforming ({transport})"),
            profile: base.clone(),
            transport,
            expectation: Expectation::Clean,
        })
        .collect();
    rows.extend(
        variants(&base)
            .into_iter()
            .map(|(name, profile)| MatrixRow {
                name: format!("variant: {name}"),
                profile,
                transport: Transport::Wrapper,
                expectation: Expectation::Clean,
            }),
    );
    rows.extend(Quirk::ALL.into_iter().map(|quirk| MatrixRow {
        name: quirk.name(),
        profile: MeterProfile {
            quirks: [quirk].into(),
            // The quirk shows only on a meter that declares it takes multicast only.
            group: match quirk {
                Quirk::BroadcastWhenMulticastOnly => GroupProfile {
                    addressing: GroupAddressing::MulticastOnly,
                    ..base.group
                },
                _ => base.group,
            },
            ..base.clone()
        },
        transport: Transport::Wrapper,
        expectation: Expectation::Caught(quirk.name()),
    }));
    rows
}

/// What the vendor of an emulated meter with `profile` declares: every option of the
/// implementation statement the profile decides, as a vendor who knows the meter would.
pub fn statement_of(profile: &MeterProfile) -> Statement {
    use toml::Value;
    let public = profile
        .clients
        .iter()
        .find(|c| c.sap == harness::target::PUBLIC_CLIENT);
    let word = |w: &str| Value::String(w.to_string());
    let options = [
        (
            "status_after_activation",
            Value::Integer(profile.status_after_activation.into()),
        ),
        // A failed implicit verification leaves status 4; activation itself never fails.
        ("failed_activation_status", Value::Integer(4)),
        (
            "activation_reboots",
            Value::Boolean(!profile.activation_without_reboot.contains(&1)),
        ),
        ("block_size_writable", Value::Boolean(false)),
        (
            "enabled_by_default",
            Value::Boolean(!profile.varies(Variant::TransferDisabledAtStart)),
        ),
        (
            "identifier_checked",
            Value::Boolean(profile.varies(Variant::CorruptIdentifierFailsVerification)),
        ),
        (
            "verification",
            word(match profile.verify_ms {
                0 => "synchronous",
                _ => "asynchronous",
            }),
        ),
        (
            "reinitiate",
            word(match profile.reinitiate {
                Reinitiate::Reset => "reset",
                Reinitiate::ResumeIfSame => "resume",
            }),
        ),
        ("public_can_read_transfer", Value::Boolean(public.is_some())),
        (
            "public_can_upgrade",
            Value::Boolean(public.is_some_and(|c| c.rights != Rights::ReadOnly)),
        ),
        (
            "info_before_verify",
            word(match profile.varies(Variant::HardwareFaultForEmptyInfo) {
                true => "refused",
                false => "empty-array",
            }),
        ),
        (
            "event_ready_for_activation",
            Value::Integer(EventCode::FirmwareReadyForActivation as i64),
        ),
        (
            "largest_image",
            Value::Integer(profile.max_image_size.into()),
        ),
        (
            "services",
            Value::Array(
                harness::target::statement::SERVICES
                    .iter()
                    .filter(|s| {
                        profile.action_block_transfer || **s != "block-transfer-with-action"
                    })
                    .map(|s| word(s))
                    .collect(),
            ),
        ),
    ];
    Statement {
        image_identifier: profile.required_identifier.clone().map(String::into_bytes),
        pad_last_block: profile.varies(Variant::PaddedLastBlockRequired),
        locked_parts: if profile.metrology_upgradable {
            Vec::new()
        } else {
            vec![0]
        },
        options: options
            .into_iter()
            .map(|(k, v)| (k.to_string(), harness::target::statement::normalise(v)))
            .collect(),
    }
}

/// The target for an emulated meter of the matrix: management client 1 with LLS, the HLS
/// client 48, the test images. Its address is set by the bench for each case.
pub fn emulated_target(name: &str, transport: Transport) -> MeterTarget {
    let mut main = Target::parse("127.0.0.1:4059", transport).expect("a literal address");
    main.name = name.to_string();
    // An emulated meter answers in microseconds: a request that gets no reply in 2 s has none.
    main.request_timeout = std::time::Duration::from_secs(2);
    main.client_sap = 1;
    main.auth = harness::target::Auth::Lls(b"12345678".to_vec());
    MeterTarget {
        main,
        lls: Some(LlsClient {
            sap: 1,
            password: b"12345678".to_vec(),
        }),
        hls: Some(HlsClient {
            sap: 48,
            keys: MeterKeys::default().keys,
            system_title: *b"MFHARNES",
        }),
        part: Some(1),
        images: test_images(),
        emulated: true,
        baseline: None,
        statement: Statement::default(),
        bench: BenchHooks::default(),
        labels: Default::default(),
    }
}
