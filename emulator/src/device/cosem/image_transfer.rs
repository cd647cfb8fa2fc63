//! Image transfer (IC 18) 0-0:44.0.0.255: attributes 1-7 and methods 1-4 (IEC 62056-6-2
//! clause 4.4.6), over the state machine of `crate::transfer`.

use super::{logical_name, Env, MethodOutcome, Object, NO_SUCH_INDEX};
use crate::profile::{Quirk, Variant};
use dlms::apdu::DataAccessResult as R;
use dlms::axdr::{BitString, EncodedData};
use dlms::cosem::image_transfer::{
    attribute as a, is_trigger_parameter, method as m, read_block_parameters,
    read_initiate_parameters, ImageToActivateInfo, ImageTransferStatus,
};
use dlms::Data;

/// GET of an image transfer attribute.
pub fn get(env: &Env<'_>, object: &Object, attr: i8) -> Result<Data<'static>, R> {
    let t = &env.state.transfer;
    let quirk = |q| env.profile.has(q);
    Ok(match attr {
        a::LOGICAL_NAME => logical_name(&object.ln),
        a::IMAGE_BLOCK_SIZE => Data::DoubleLongUnsigned(env.profile.image_block_size),
        a::TRANSFERRED_BLOCKS_STATUS => {
            let mut bytes = t.received.as_raw_slice().to_vec();
            if quirk(Quirk::ReversedBitOrder) {
                bytes.iter_mut().for_each(|b| *b = b.reverse_bits());
            }
            let len = if quirk(Quirk::BitStringLengthInBytes) {
                bytes.len() * 8
            } else {
                t.received.len()
            };
            Data::BitString(
                BitString::from_bytes(len, bytes).expect("a bit vector's raw bytes fit its length"),
            )
        }
        a::FIRST_NOT_TRANSFERRED_BLOCK_NUMBER if quirk(Quirk::FirstNotTransferredIsLastPlusOne) => {
            Data::DoubleLongUnsigned(t.last_block.map_or(0, |n| n + 1))
        }
        a::FIRST_NOT_TRANSFERRED_BLOCK_NUMBER => {
            Data::DoubleLongUnsigned(t.first_not_transferred())
        }
        a::IMAGE_TRANSFER_ENABLED => Data::Boolean(t.enabled),
        a::IMAGE_TRANSFER_STATUS
            if t.status_hidden_until_ms
                .is_some_and(|until| env.meter_time_ms() < until) =>
        {
            ImageTransferStatus::NotInitiated.to_data()
        }
        a::IMAGE_TRANSFER_STATUS => t.status.to_data(),
        a::IMAGE_TO_ACTIVATE_INFO
            if env.profile.varies(Variant::HardwareFaultForEmptyInfo)
                && (t.to_activate.is_none()
                    || t.status != ImageTransferStatus::VerificationSuccessful) =>
        {
            return Err(R::HARDWARE_FAULT)
        }
        a::IMAGE_TO_ACTIVATE_INFO => Data::Array(
            t.to_activate
                .iter()
                .filter(|_| t.status == ImageTransferStatus::VerificationSuccessful)
                .map(|i| {
                    ImageToActivateInfo {
                        size: i.size,
                        identification: i.identification.clone(),
                        signature: i.signature.clone(),
                    }
                    .to_data()
                })
                .collect(),
        ),
        _ => return Err(NO_SUCH_INDEX),
    })
}

/// SET: only image_transfer_enabled (attribute 5) is writable.
pub fn set(env: &mut Env<'_>, attr: i8, value: &Data<'_>) -> R {
    match (attr, value) {
        (a::IMAGE_TRANSFER_ENABLED, Data::Boolean(b)) => {
            env.state.transfer.enabled = *b;
            R::SUCCESS
        }
        (a::IMAGE_TRANSFER_ENABLED, _) => R::TYPE_UNMATCHED,
        (1..=a::COUNT, _) => R::READ_WRITE_DENIED,
        _ => NO_SUCH_INDEX,
    }
}

/// ACTION on image transfer: methods 1 to 4.
pub fn action(env: &mut Env<'_>, method: i8, params: Option<&EncodedData<'_>>) -> MethodOutcome {
    let result = match method {
        m::IMAGE_TRANSFER_INITIATE => {
            let Some(p) = params.map(EncodedData::decode) else {
                return MethodOutcome::result(R::TYPE_UNMATCHED);
            };
            match read_initiate_parameters(&p) {
                Some((id, size)) => env.with_transfer(|t, c| t.initiate(c, id, size)),
                None => R::TYPE_UNMATCHED,
            }
        }
        m::IMAGE_BLOCK_TRANSFER => match params.and_then(read_block_parameters) {
            Some((number, value)) => env.with_transfer(|t, c| t.block(c, number, value)),
            None => R::TYPE_UNMATCHED,
        },
        m::IMAGE_VERIFY => {
            if !is_trigger_parameter(params) {
                return MethodOutcome::result(R::TYPE_UNMATCHED);
            }
            env.with_transfer(|t, c| t.verify(c))
        }
        m::IMAGE_ACTIVATE => {
            if !is_trigger_parameter(params) {
                return MethodOutcome::result(R::TYPE_UNMATCHED);
            }
            let (result, activation) = env.with_transfer(|t, c| t.activate(c));
            return MethodOutcome {
                result,
                data: None,
                activation,
            };
        }
        _ => NO_SUCH_INDEX,
    };
    MethodOutcome::result(result)
}
