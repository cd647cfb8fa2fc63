//! Fuzz entry point for the meter's request handling, called by the cargo-fuzz target
//! `meter_requests` and replayed on stable by the corpus test. It panics only if an invariant
//! fails.

use crate::meter::{Meter, MeterConfig};
use arbitrary::{Arbitrary, Unstructured};
use dlms::apdu::{Apdu, AttributeWithSelection, GetRequest, InvokeIdAndPriority, SetRequest};
use dlms::axdr::EncodedData;
use dlms::cosem::image_transfer::{self, attribute, method};
use dlms::{Codec, Data};

/// The names of the targets, as the corpus folders are named.
pub const TARGETS: [&str; 1] = ["meter_requests"];

/// Runs the named target on `input`; false for an unknown name.
pub fn run(target: &str, input: &[u8]) -> bool {
    match target {
        "meter_requests" => meter_requests(input),
        _ => return false,
    }
    true
}

#[derive(Debug, Arbitrary)]
enum Request {
    /// Any bytes as an APDU.
    Raw(Vec<u8>),
    /// A well-formed initiate of `size` bytes.
    Initiate(u16),
    /// A well-formed block.
    Block(u8, Vec<u8>),
    /// Verify or activate.
    Method(u8),
    /// Time passes.
    Elapse(u16),
    /// A power cycle.
    Reboot,
    /// Association from a client SAP.
    Associate(u8),
    /// A GET of an image transfer attribute (0 and 8 are not attributes).
    Get(u8),
    /// A GET-next of a long reply's block.
    GetNext(u32),
    /// A SET of image_transfer_enabled.
    SetEnabled(bool),
    /// A release of the association.
    Release,
    /// Any bytes as a group request, broadcast or multicast.
    Group(bool, Vec<u8>),
    /// A well-formed group block under the broadcast keys, at a counter.
    GroupBlock(u8, Vec<u8>, u8),
}

/// A block as a group sends it: unconfirmed, under the meter's default broadcast key set.
fn group_block(n: u8, value: &[u8], counter: u8) -> Vec<u8> {
    let keys = crate::meter::MeterKeys::default();
    let broadcast = dlms::security::Keys {
        encryption: keys.broadcast_key,
        authentication: keys.keys.authentication,
    };
    let mut request = action(
        method::IMAGE_BLOCK_TRANSFER,
        image_transfer::block_parameters(u32::from(n), value),
    );
    request[2] = InvokeIdAndPriority::new(1, false, true).0;
    dlms::security::protect_group(&broadcast, b"FUZZHEAD", u32::from(counter), &request)
        .expect("an ACTION request protects")
}

fn get(attribute_id: u8) -> Vec<u8> {
    Apdu::GetRequest(GetRequest::Normal {
        iip: InvokeIdAndPriority(0xC1),
        attribute: AttributeWithSelection::plain(image_transfer::attribute(
            (attribute_id % 9) as i8,
        )),
    })
    .to_bytes()
}

fn get_next(block_number: u32) -> Vec<u8> {
    Apdu::GetRequest(GetRequest::Next {
        iip: InvokeIdAndPriority(0xC1),
        block_number,
    })
    .to_bytes()
}

fn set_enabled(enabled: bool) -> Vec<u8> {
    Apdu::SetRequest(SetRequest::Normal {
        iip: InvokeIdAndPriority(0xC1),
        attribute: AttributeWithSelection::plain(image_transfer::attribute(
            attribute::IMAGE_TRANSFER_ENABLED,
        )),
        value: EncodedData::new(&Data::Boolean(enabled)),
    })
    .to_bytes()
}

fn action(method_id: i8, parameters: Data<'_>) -> Vec<u8> {
    image_transfer::action_request(InvokeIdAndPriority(0xC1), method_id, Some(&parameters))
        .to_bytes()
}

/// Feeds a meter arbitrary request sequences, unicast and group-addressed (with well-formed
/// ones mixed in so the fuzzer gets past association and into the transfer): no panic, every
/// reply decodes, and the transfer state stays consistent.
pub fn meter_requests(input: &[u8]) {
    let mut u = Unstructured::new(input);
    let mut meter = Meter::new(MeterConfig {
        profile: crate::profile::MeterProfile {
            verify_ms: 50,
            activation_reboot_ms: 20,
            accept_opaque_images: true,
            ..Default::default()
        },
        ..MeterConfig::default()
    });
    let aarq = dlms::association::ClientSettings::default()
        .aarq()
        .to_bytes();
    let mut now = 1_790_000_000_000u64;
    let mut sap = 16;
    // Requests come on up to four connections, each with its own association.
    let mut connection = 0;
    meter.handle_apdu(now, connection, sap, &aarq);
    for _ in 0..200 {
        let Ok(request) = Request::arbitrary(&mut u) else {
            break;
        };
        let bytes = match request {
            Request::Raw(b) => b,
            Request::Initiate(size) => action(
                method::IMAGE_TRANSFER_INITIATE,
                image_transfer::initiate_parameters(b"fuzz", size as u32),
            ),
            Request::Block(n, value) => action(
                method::IMAGE_BLOCK_TRANSFER,
                image_transfer::block_parameters(n as u32, &value),
            ),
            Request::Method(m) => action(
                method::IMAGE_VERIFY + (m % 2) as i8,
                image_transfer::trigger_parameter(),
            ),
            Request::Elapse(ms) => {
                now += ms as u64;
                meter.handle_timeout(now);
                continue;
            }
            Request::Reboot => {
                meter.reboot(now, 10);
                continue;
            }
            Request::Associate(s) => {
                sap = u16::from(s);
                connection = u64::from(s % 4);
                aarq.clone()
            }
            Request::Get(a) => get(a),
            Request::GetNext(n) => get_next(n),
            Request::SetEnabled(e) => set_enabled(e),
            Request::Release => Apdu::Rlrq(dlms::association::release_request()).to_bytes(),
            Request::Group(broadcast, b) => {
                let address = if broadcast {
                    crate::meter::GroupAddress::Broadcast
                } else {
                    crate::meter::GroupAddress::Multicast
                };
                meter.handle_group(now, address, 102, &b);
                continue;
            }
            Request::GroupBlock(n, value, counter) => {
                let bytes = group_block(n, &value, counter);
                meter.handle_group(now, crate::meter::GroupAddress::Multicast, 102, &bytes);
                continue;
            }
        };
        if let Some(reply) = meter.handle_apdu(now, connection, sap, &bytes) {
            Apdu::decode(&reply).expect("every reply decodes");
        }
        while meter.poll_event().is_some() {}
        let t = &meter.state().transfer;
        assert_eq!(
            t.received.len() as u32,
            t.block_count(),
            "bitmap length is the block count"
        );
        assert!(t.first_not_transferred() <= t.block_count());
        assert_eq!(t.data.len(), t.size as usize);
    }
}
