//! What the benchmarks share: the requests of an image transfer, as a head-end sends them.

use dlms::apdu::{ActionRequest, InvokeIdAndPriority, MethodDescriptor, ObisCode};
use dlms::axdr::EncodedData;
use dlms::{Codec, Data};

/// The bytes of an ACTION-Request-Normal on method `method_id` of image transfer 0-0:44.0.0.255.
pub fn image_request(method_id: i8, params: &Data<'_>) -> Vec<u8> {
    ActionRequest::Normal {
        iip: InvokeIdAndPriority(0xC1),
        method: MethodDescriptor {
            class_id: 18,
            instance: ObisCode::new(0, 0, 44, 0, 0, 255),
            method_id,
        },
        parameters: Some(EncodedData::new(params)),
    }
    .to_bytes()
}

/// image_block_transfer of block `n` carrying `payload`.
pub fn block_request(n: u32, payload: &[u8]) -> Vec<u8> {
    image_request(
        2,
        &Data::Structure(vec![Data::DoubleLongUnsigned(n), Data::octets(payload)]),
    )
}
