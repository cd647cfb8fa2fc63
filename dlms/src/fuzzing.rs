//! Fuzz entry points, one per decoder and state machine. The cargo-fuzz targets under `fuzz/`
//! call these, and a stable test replays the committed corpus through them, so CI exercises
//! every target without a nightly toolchain. Each function panics only if an invariant fails.

use crate::acse::{Aare, Aarq};
use crate::apdu::Apdu;
use crate::association::{Account, ServerAuthentication, ServerPolicy};
use crate::axdr::Data;
use crate::codec::Codec;
use crate::hdlc::{
    Control, FrameRepr, HdlcAddress, HdlcLink, HdlcParameters, LinkConfig, LinkEvent, Role,
};
use crate::security::{CipherContext, Keys, ReplayGuard, SecurityControl};
use crate::wrapper::{WrapperDecoder, HEADER_LEN};
use arbitrary::{Arbitrary, Unstructured};
use std::time::{Duration, Instant};

/// The names of the targets, as the corpus folders are named.
pub const TARGETS: [&str; 9] = [
    "data",
    "apdu",
    "acse",
    "wrapper_stream",
    "hdlc_frame",
    "hdlc_link",
    "ciphered_apdu",
    "image",
    "mode_e",
];

/// Runs the named target on `input`; false for an unknown name.
pub fn run(target: &str, input: &[u8]) -> bool {
    match target {
        "data" => data(input),
        "apdu" => apdu(input),
        "acse" => acse(input),
        "wrapper_stream" => wrapper_stream(input),
        "hdlc_frame" => hdlc_frame(input),
        "hdlc_link" => hdlc_link(input),
        "ciphered_apdu" => ciphered_apdu(input),
        "image" => image(input),
        "mode_e" => mode_e(input),
        _ => return false,
    }
    true
}

/// The MFIM image container (what an emulated meter verifies from the blocks a head-end
/// sent): parsing never panics, and what parses builds again into an image that parses to the
/// same part, identifier, prerequisites and payload.
pub fn image(input: &[u8]) {
    let Ok(info) = crate::image::parse(input) else {
        return;
    };
    assert!(info.prerequisites.len() <= crate::image::MAX_PREREQUISITES);
    let key = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).expect("a valid scalar");
    let rebuilt = crate::image::build_with_prerequisites(
        &key,
        info.part,
        info.identifier,
        &info.prerequisites,
        info.payload,
    )
    .expect("what parsed is in range");
    let again = crate::image::verify(&rebuilt, key.verifying_key()).expect("rebuilt verifies");
    assert_eq!(
        (
            again.part,
            again.identifier,
            &again.prerequisites,
            again.payload
        ),
        (
            info.part,
            info.identifier,
            &info.prerequisites,
            info.payload
        )
    );
}

/// The optical port's sign-on messages (IEC 62056-21): parsing never panics, what parses
/// encodes and parses again to the same message, and the line reader never holds more than one
/// message's worth beyond what it was given.
pub fn mode_e(input: &[u8]) {
    use crate::mode_e::{Identification, LineReader, OptionSelect, SignOn, MAX_MESSAGE};
    let mut reader = LineReader::new();
    for chunk in input.chunks(7) {
        reader.push(chunk);
        while let Some(line) = reader.next_line() {
            let Ok(line) = line else { continue };
            let end: Vec<u8> = line.iter().rev().take(2).map(|b| b & 0x7F).collect();
            assert!(line.len() <= MAX_MESSAGE && end == b"\n\r");
            if let Ok(m) = SignOn::parse(&line) {
                assert_eq!(SignOn::parse(&m.encode()), Ok(m));
            }
            if let Ok(m) = Identification::parse(&line) {
                assert_eq!(Identification::parse(&m.encode()), Ok(m));
            }
            if let Ok(m) = OptionSelect::parse(&line) {
                assert_eq!(OptionSelect::parse(&m.encode()), Ok(m));
            }
        }
    }
    assert!(reader.take_rest().len() < MAX_MESSAGE + 7);
}

/// A-XDR: decoding never panics, and what decodes re-encodes to a stable form.
pub fn data(input: &[u8]) {
    if let Ok(value) = Data::decode(input) {
        let bytes = value.to_bytes();
        assert_eq!(bytes.len(), value.encoded_len());
        let again = Data::decode(&bytes).expect("re-encoded data decodes");
        assert_eq!(again.to_bytes(), bytes);
    }
}

/// Any APDU: decoding never panics, and what decodes re-encodes to a stable form.
pub fn apdu(input: &[u8]) {
    if let Ok(apdu) = Apdu::decode(input) {
        let bytes = apdu.to_bytes();
        let again = Apdu::decode(&bytes).expect("re-encoded APDU decodes");
        assert_eq!(again.to_bytes(), bytes);
    }
}

/// AARQ and AARE, and a server answering the AARQ: never a panic, always an AARE that decodes.
pub fn acse(input: &[u8]) {
    if let Ok(aare) = Aare::decode(input) {
        assert_eq!(
            Aare::decode(&aare.to_bytes()).expect("re-encoded AARE"),
            aare
        );
    }
    if let Ok(aarq) = Aarq::decode(input) {
        assert_eq!(
            Aarq::decode(&aarq.to_bytes()).expect("re-encoded AARQ"),
            aarq
        );
        let policy = ServerPolicy {
            supported_conformance: crate::conformance::Conformance::all(),
            max_receive_pdu_size: 1024,
            min_client_pdu_size: 64,
            ciphering: Some(crate::association::Ciphering {
                keys: keys(),
                system_title: *b"FUZZMTR1",
                security_control: SecurityControl::AUTHENTICATED_ENCRYPTED,
                invocation_counter: 1,
            }),
        };
        for (sap, authentication, ciphered) in [
            (16, ServerAuthentication::None, false),
            (
                1,
                ServerAuthentication::Lls {
                    password: b"12345678".to_vec(),
                },
                false,
            ),
            (48, ServerAuthentication::HlsGmac, true),
        ] {
            let account = Account {
                client_sap: sap,
                authentication,
                ciphered,
            };
            let accepted = policy.accept(&account, &aarq, b"01234567", ReplayGuard::default());
            Aare::decode(&accepted.aare.to_bytes()).expect("our AARE decodes");
        }
    }
}

/// The wrapper stream: the input is cut into reads at points its first bytes choose.
pub fn wrapper_stream(input: &[u8]) {
    let (cuts, stream) = input.split_at(input.len().min(4));
    let mut dec = WrapperDecoder::new(1024);
    let mut at = 0usize;
    for c in cuts.iter().map(|c| *c as usize).chain([usize::MAX]) {
        let end = at.saturating_add(c).min(stream.len());
        dec.push(&stream[at..end]);
        at = end;
        assert!(dec.buffered() <= HEADER_LEN + 1024 + c.min(stream.len()));
        loop {
            match dec.next_frame() {
                Ok(Some(frame)) => assert!(frame.apdu.len() <= 1024),
                Ok(None) => break,
                Err(e) if e.ends_stream() => return,
                Err(_) => {}
            }
        }
    }
}

/// One HDLC frame: parsing never panics, and what parses re-emits byte for byte.
pub fn hdlc_frame(input: &[u8]) {
    if let Ok(repr) = FrameRepr::parse(input) {
        assert_eq!(repr.to_bytes(), input);
    }
    // A UI frame to all stations gives its sender and APDU, which a UI frame re-emits.
    if let Some((source, apdu)) = crate::hdlc::all_station_apdu(input) {
        let again = crate::hdlc::ui_frame(HdlcAddress::all_stations(1), source, apdu)
            .expect("an APDU that came in one frame fits one");
        assert_eq!(crate::hdlc::all_station_apdu(&again), Some((source, apdu)));
    }
}

/// What the link fuzzer sends: frames of any kind, time passing, APDUs from the user.
#[derive(Debug, Arbitrary)]
enum LinkInput {
    Frame {
        to_server: bool,
        segmented: bool,
        control: u8,
        info: Vec<u8>,
    },
    Raw(Vec<u8>),
    Elapse(u16),
    ClientSends(u16),
    ServerSends(u16),
    Connect,
    Disconnect,
}

/// A client and a server link fed arbitrary frame sequences, interleaved with their own
/// traffic: never a panic, every frame either emits parses with good checksums, and no APDU
/// longer than the server takes in is delivered.
pub fn hdlc_link(input: &[u8]) {
    let mut u = Unstructured::new(input);
    let server_addr = HdlcAddress::server(1, 17);
    let small = HdlcParameters {
        max_info_tx: 64,
        max_info_rx: 64,
        window_tx: 3,
        window_rx: 3,
    };
    let mut client = HdlcLink::new(Role::Client, LinkConfig::client(16, server_addr, small));
    let server_config = LinkConfig {
        max_apdu: 300,
        ..LinkConfig::server(server_addr, small)
    };
    let mut server = HdlcLink::new(Role::Server, server_config);
    let mut now = Instant::now();
    for _ in 0..64 {
        let Ok(op) = LinkInput::arbitrary(&mut u) else {
            break;
        };
        match op {
            LinkInput::Frame {
                to_server,
                segmented,
                control,
                info,
            } => {
                let Some(control) = Control::from_byte(control) else {
                    continue;
                };
                let (destination, source) = if to_server {
                    (server_addr, HdlcAddress::client(16))
                } else {
                    (HdlcAddress::client(16), server_addr)
                };
                let info = &info[..info.len().min(200)];
                let frame = FrameRepr {
                    segmented,
                    destination,
                    source,
                    control,
                    info,
                }
                .to_bytes();
                if to_server {
                    server.handle_input(now, &frame);
                } else {
                    client.handle_input(now, &frame);
                }
            }
            LinkInput::Raw(bytes) => server.handle_input(now, &bytes),
            LinkInput::Elapse(ms) => {
                now += Duration::from_millis(ms as u64 * 10);
                client.handle_timeout(now);
                server.handle_timeout(now);
            }
            LinkInput::ClientSends(n) => {
                let _ = client.send_apdu(&vec![0xC0; n as usize % 600]);
            }
            LinkInput::ServerSends(n) => {
                let _ = server.send_apdu(&vec![0xC4; n as usize % 600]);
            }
            LinkInput::Connect => client.connect(now),
            LinkInput::Disconnect => client.disconnect(now),
        }
        for _ in 0..32 {
            let mut moved = false;
            while let Some(f) = client.poll_transmit(now) {
                FrameRepr::parse(&f).expect("client frames are valid");
                server.handle_input(now, &f);
                moved = true;
            }
            while let Some(f) = server.poll_transmit(now) {
                FrameRepr::parse(&f).expect("server frames are valid");
                client.handle_input(now, &f);
                moved = true;
            }
            while let Some(e) = server.poll_event() {
                if let LinkEvent::Apdu(a) = e {
                    assert!(a.len() <= 300, "no APDU over the server's max_apdu");
                }
            }
            while client.poll_event().is_some() {}
            if !moved {
                break;
            }
        }
    }
}

fn keys() -> Keys {
    Keys {
        encryption: [0x0F; 16],
        authentication: [0xD0; 16],
    }
}

/// Ciphered APDUs: unprotecting arbitrary envelopes never panics, and protecting the input as
/// plaintext round-trips.
pub fn ciphered_apdu(input: &[u8]) {
    let mut ctx = CipherContext {
        keys: keys(),
        dedicated_key: Some([0x44; 16]),
        own_title: *b"FUZZCLNT",
        peer_title: *b"FUZZCLNT",
        security_control: SecurityControl::AUTHENTICATED_ENCRYPTED,
        next_invocation_counter: 1,
        replay_guard: ReplayGuard::default(),
    };
    match Apdu::decode(input) {
        Ok(Apdu::Ciphered(c)) => {
            let _ = ctx.unprotect_apdu(&c);
        }
        Ok(Apdu::GeneralCiphering(g)) => {
            let _ = ctx.unprotect_general(&g);
            let _ = crate::security::unprotect_group(&keys(), &g, &mut ReplayGuard::default());
        }
        _ => {}
    }
    let group = crate::security::protect_group(&keys(), b"FUZZHEAD", 7, input)
        .expect("group protection takes any plaintext");
    let Ok(Apdu::GeneralCiphering(g)) = Apdu::decode(&group) else {
        panic!("our group APDU does not decode")
    };
    assert_eq!(
        crate::security::unprotect_group(&keys(), &g, &mut ReplayGuard::default()).expect("ours"),
        input
    );
    let mut plain = vec![0xC0];
    plain.extend_from_slice(input);
    ctx.replay_guard = ReplayGuard::default();
    let wire = ctx
        .protect_apdu(&plain)
        .expect("get-request has a ded- form");
    let Ok(Apdu::Ciphered(c)) = Apdu::decode(&wire) else {
        panic!("our ciphered APDU does not decode")
    };
    assert_eq!(ctx.unprotect_apdu(&c).expect("our own APDU"), plain);
}
