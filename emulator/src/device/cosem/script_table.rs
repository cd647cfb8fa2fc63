//! Script table (IC 9) 0-0:10.0.107.255: the image activation script. Script 1 invokes
//! image_activate (method 4 of 0-0:44.0.0.255) with integer(0); its exact contents in IDIS
//! meters are UNCONFIRMED (docs/protocol.md#idis-upgrade-objects).

use super::{logical_name, Env, MethodOutcome, Object, NO_SUCH_INDEX};
use dlms::apdu::DataAccessResult as R;
use dlms::axdr::EncodedData;
use dlms::cosem::image_transfer;
use dlms::Data;

/// GET of a script table attribute.
pub fn get(object: &Object, attr: i8) -> Result<Data<'static>, R> {
    Ok(match attr {
        1 => logical_name(&object.ln),
        2 => Data::Array(vec![Data::Structure(vec![
            Data::LongUnsigned(1),
            Data::Array(vec![Data::Structure(vec![
                Data::Enum(2),
                Data::LongUnsigned(image_transfer::CLASS_ID),
                logical_name(&image_transfer::LOGICAL_NAME),
                Data::Integer(image_transfer::method::IMAGE_ACTIVATE),
                image_transfer::trigger_parameter(),
            ])]),
        ])]),
        _ => return Err(NO_SUCH_INDEX),
    })
}

/// Method 1, execute(script identifier): script 1 activates the image.
pub fn action(env: &mut Env<'_>, method: i8, params: Option<&EncodedData<'_>>) -> MethodOutcome {
    if method != 1 {
        return MethodOutcome::result(NO_SUCH_INDEX);
    }
    match params.map(EncodedData::decode) {
        Some(Data::LongUnsigned(1)) => {
            let (result, activation) = env.with_transfer(|t, c| t.activate(c));
            MethodOutcome {
                result,
                data: None,
                activation,
            }
        }
        Some(Data::LongUnsigned(_)) => MethodOutcome::result(R::OTHER_REASON),
        _ => MethodOutcome::result(R::TYPE_UNMATCHED),
    }
}
