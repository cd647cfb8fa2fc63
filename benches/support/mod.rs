//! What the benchmarks share: the requests of an image transfer, as a head-end sends them.

use dlms::apdu::InvokeIdAndPriority;
use dlms::cosem::image_transfer::{self as it, method};
use dlms::{Codec, Data};

/// The bytes of a confirmed ACTION-Request-Normal on method `method_id` of image transfer.
pub fn image_request(method_id: i8, params: &Data<'_>) -> Vec<u8> {
    it::action_request(InvokeIdAndPriority(0xC1), method_id, Some(params)).to_bytes()
}

/// image_block_transfer of block `n` carrying `payload`.
pub fn block_request(n: u32, payload: &[u8]) -> Vec<u8> {
    image_request(
        method::IMAGE_BLOCK_TRANSFER,
        &it::block_parameters(n, payload),
    )
}
