//! Emulated meters for `meterfleet conform`: a bench that gives every case a new meter on a
//! loopback port and can power-cycle it, the signed test images, and the profiles of the
//! detection matrix (the conforming one, and one per quirk).

use dlms::image::{self, Corruption};
use dlms::Transport;
use emulator::meter::{Meter, MeterConfig, MeterKeys};
use emulator::net::host::{now_ms, MeterHost};
use emulator::net::serve::serve;
use emulator::profile::{MeterProfile, Quirk};
use harness::conform::{Bench, BenchError};
use harness::target::Target;
use harness::target::{HlsClient, Images, LlsClient, MeterTarget, TestImage};
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
    /// The profile's name: `conforming (wrapper)`, a quirk's name, …
    pub name: String,
    /// The meter.
    pub profile: MeterProfile,
    /// Over which transport.
    pub transport: Transport,
    /// Whether the harness must find nothing (the conforming rows) or something.
    pub conforming: bool,
}

/// The conforming profile over both transports, then one profile per quirk and one that
/// insists on its vendor's identifier.
pub fn matrix_rows() -> Vec<MatrixRow> {
    let base = conforming_profile();
    let mut rows = vec![
        MatrixRow {
            name: "conforming (wrapper)".into(),
            profile: base.clone(),
            transport: Transport::Wrapper,
            conforming: true,
        },
        MatrixRow {
            name: "conforming (hdlc)".into(),
            profile: base.clone(),
            transport: Transport::Hdlc,
            conforming: true,
        },
    ];
    for quirk in Quirk::ALL {
        let mut profile = MeterProfile {
            quirks: [quirk].into(),
            ..base.clone()
        };
        if quirk == Quirk::HardwareFaultWhileVerifying {
            // The quirk shows only while a verification runs.
            profile.verify_ms = 1500;
        }
        rows.push(MatrixRow {
            name: quirk.name(),
            profile,
            transport: Transport::Wrapper,
            conforming: false,
        });
    }
    rows.push(MatrixRow {
        name: "required-identifier".into(),
        profile: MeterProfile {
            required_identifier: Some("VENDOR-APP-2.0.0".into()),
            ..base
        },
        transport: Transport::Wrapper,
        conforming: false,
    });
    rows
}

/// The target for an emulated meter of the matrix: management client 1 with LLS, the HLS
/// client 48, the test images. Its address is set by the bench for each case.
pub fn emulated_target(name: &str, transport: Transport) -> MeterTarget {
    let mut main = Target::parse("127.0.0.1:4059", transport).expect("a literal address");
    main.name = name.to_string();
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
    }
}
