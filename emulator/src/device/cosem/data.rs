//! Data (IC 1): the active firmware identifier and signature of each part, the last event, the
//! error register and the broadcast invocation counter.

use super::{logical_name, Env, Kind, Object, NO_SUCH_INDEX};
use dlms::apdu::DataAccessResult;
use dlms::Data;

/// GET of a Data object's attribute.
pub fn get(env: &Env<'_>, object: &Object, attr: i8) -> Result<Data<'static>, DataAccessResult> {
    match attr {
        1 => Ok(logical_name(&object.ln)),
        2 => {
            let bytes = match object.kind {
                Kind::FirmwareIdentifier(b) => env
                    .state
                    .parts
                    .iter()
                    .find(|p| p.part == b)
                    .map(|p| p.active.identifier.clone()),
                Kind::FirmwareSignature(b) => env
                    .state
                    .parts
                    .iter()
                    .find(|p| p.part == b)
                    .map(|p| p.active.signature.clone()),
                Kind::ErrorRegister => {
                    return Ok(Data::DoubleLongUnsigned(env.state.error_register))
                }
                Kind::BroadcastInvocationCounter => {
                    return Ok(Data::DoubleLongUnsigned(
                        env.state.broadcast_invocation_counter.unwrap_or(0),
                    ))
                }
                Kind::LastEventCode => {
                    return Ok(Data::LongUnsigned(
                        env.state.log.entries.last().map_or(0, |e| e.code as u16),
                    ))
                }
                Kind::LastEventDetail => env
                    .state
                    .log
                    .entries
                    .last()
                    .map(|e| e.detail.clone().into_bytes()),
                _ => None,
            };
            Ok(Data::OctetString(bytes.unwrap_or_default().into()))
        }
        _ => Err(NO_SUCH_INDEX),
    }
}
