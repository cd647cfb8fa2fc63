//! Image transfer (IC 18) 0-0:44.0.0.255: attributes 1-7 and methods 1-4 (protocol-notes §1,
//! §2), over the state machine of `crate::transfer`.

use super::{logical_name, Env, MethodOutcome, Object, NO_SUCH_INDEX};
use crate::profile::Quirk;
use dlms::apdu::DataAccessResult as R;
use dlms::axdr::{tag, BitString, EncodedData};
use dlms::Data;

/// GET of an image transfer attribute.
pub fn get(env: &Env<'_>, object: &Object, attr: i8) -> Result<Data<'static>, R> {
    let t = &env.state.transfer;
    let quirk = |q| env.profile.has(q);
    Ok(match attr {
        1 => logical_name(&object.ln),
        2 => Data::DoubleLongUnsigned(env.profile.image_block_size),
        3 => {
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
        4 if quirk(Quirk::FirstNotTransferredIsLastPlusOne) => {
            Data::DoubleLongUnsigned(t.last_block.map_or(0, |n| n + 1))
        }
        4 => Data::DoubleLongUnsigned(t.first_not_transferred()),
        5 => Data::Boolean(t.enabled),
        6 if t
            .status_hidden_until_ms
            .is_some_and(|until| env.meter_time_ms() < until) =>
        {
            Data::Enum(0)
        }
        6 => Data::Enum(t.status as u8),
        7 if quirk(Quirk::HardwareFaultForEmptyInfo)
            && (t.to_activate.is_none()
                || t.status != crate::transfer::Status::VerificationSuccessful) =>
        {
            return Err(R::HARDWARE_FAULT)
        }
        7 => Data::Array(
            t.to_activate
                .iter()
                .filter(|_| t.status == crate::transfer::Status::VerificationSuccessful)
                .map(|i| {
                    Data::Structure(vec![
                        Data::DoubleLongUnsigned(i.size),
                        Data::OctetString(i.identification.clone().into()),
                        Data::OctetString(i.signature.clone().into()),
                    ])
                })
                .collect(),
        ),
        _ => return Err(NO_SUCH_INDEX),
    })
}

/// SET: only image_transfer_enabled (attribute 5) is writable.
pub fn set(env: &mut Env<'_>, attr: i8, value: &Data<'_>) -> R {
    match (attr, value) {
        (5, Data::Boolean(b)) => {
            env.state.transfer.enabled = *b;
            R::SUCCESS
        }
        (5, _) => R::TYPE_UNMATCHED,
        (1..=7, _) => R::READ_WRITE_DENIED,
        _ => NO_SUCH_INDEX,
    }
}

/// Reads image_block_transfer's parameters, `structure { double-long-unsigned, octet-string }`,
/// without building anything: the block stays in the request buffer.
pub fn block_parameters<'p>(params: &'p EncodedData<'_>) -> Option<(u32, &'p [u8])> {
    let mut r = params.structure(2)?;
    (r.u8().ok()? == tag::DOUBLE_LONG_UNSIGNED).then_some(())?;
    let number = r.u32().ok()?;
    (r.u8().ok()? == tag::OCTET_STRING).then_some(())?;
    let value = r.length_prefixed().ok()?;
    r.is_empty().then_some((number, value))
}

/// ACTION on image transfer: methods 1 to 4.
pub fn action(env: &mut Env<'_>, method: i8, params: Option<&EncodedData<'_>>) -> MethodOutcome {
    let result = match method {
        1 => {
            let Some(p) = params.map(EncodedData::decode) else {
                return MethodOutcome::result(R::TYPE_UNMATCHED);
            };
            match p.as_elements() {
                Some([Data::OctetString(id), Data::DoubleLongUnsigned(size)]) => {
                    env.with_transfer(|t, c| t.initiate(c, id, *size))
                }
                _ => R::TYPE_UNMATCHED,
            }
        }
        2 => match params.and_then(block_parameters) {
            Some((number, value)) => env.with_transfer(|t, c| t.block(c, number, value)),
            None => R::TYPE_UNMATCHED,
        },
        3 => {
            if !takes_integer(params) {
                return MethodOutcome::result(R::TYPE_UNMATCHED);
            }
            env.with_transfer(|t, c| t.verify(c))
        }
        4 => {
            if !takes_integer(params) {
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

/// Methods 3 and 4 take `integer(0)` (GX-CT); an absent parameter is accepted too (GX-C).
fn takes_integer(params: Option<&EncodedData<'_>>) -> bool {
    params.is_none_or(|p| p.tag() == tag::INTEGER)
}
