//! Image transfer, interface class 18 (IEC 62056-6-2 clause 4.4.6; Blue Book 4.4.6): its
//! logical name, attributes, methods, status values, and the builders and parsers of its method
//! parameters and attribute values.

use super::{class, ObisCode};
use crate::apdu::{ActionRequest, AttributeDescriptor, InvokeIdAndPriority, MethodDescriptor};
use crate::axdr::{tag, EncodedData};
use crate::Data;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The interface class id.
pub const CLASS_ID: u16 = class::IMAGE_TRANSFER;
/// The class version this vocabulary describes.
pub const VERSION: u8 = 0;
/// The logical name of the one image transfer object, 0-0:44.0.0.255.
pub const LOGICAL_NAME: ObisCode = ObisCode::new(0, 0, 44, 0, 0, 255);

/// Attribute ids.
pub mod attribute {
    /// logical_name (1).
    pub const LOGICAL_NAME: i8 = 1;
    /// image_block_size (2): the block size the meter takes, double-long-unsigned.
    pub const IMAGE_BLOCK_SIZE: i8 = 2;
    /// image_transferred_blocks_status (3): a bit-string, block 0 first.
    pub const TRANSFERRED_BLOCKS_STATUS: i8 = 3;
    /// image_first_not_transferred_block_number (4).
    pub const FIRST_NOT_TRANSFERRED_BLOCK_NUMBER: i8 = 4;
    /// image_transfer_enabled (5): boolean.
    pub const IMAGE_TRANSFER_ENABLED: i8 = 5;
    /// image_transfer_status (6): enum, see [`ImageTransferStatus`](super::ImageTransferStatus).
    pub const IMAGE_TRANSFER_STATUS: i8 = 6;
    /// image_to_activate_info (7): array of {size, identification, signature}.
    pub const IMAGE_TO_ACTIVATE_INFO: i8 = 7;
    /// How many attributes the class has.
    pub const COUNT: i8 = 7;
}

/// Method ids.
pub mod method {
    /// image_transfer_initiate (1): {identifier, size}.
    pub const IMAGE_TRANSFER_INITIATE: i8 = 1;
    /// image_block_transfer (2): {block number, block value}.
    pub const IMAGE_BLOCK_TRANSFER: i8 = 2;
    /// image_verify (3): integer(0).
    pub const IMAGE_VERIFY: i8 = 3;
    /// image_activate (4): integer(0).
    pub const IMAGE_ACTIVATE: i8 = 4;
    /// How many methods the class has.
    pub const COUNT: i8 = 4;
}

/// The standard's name of an attribute, if the class has it.
pub fn attribute_name(id: i8) -> Option<&'static str> {
    Some(match id {
        1 => "logical_name",
        2 => "image_block_size",
        3 => "image_transferred_blocks_status",
        4 => "image_first_not_transferred_block_number",
        5 => "image_transfer_enabled",
        6 => "image_transfer_status",
        7 => "image_to_activate_info",
        _ => return None,
    })
}

/// The standard's name of a method, if the class has it.
pub fn method_name(id: i8) -> Option<&'static str> {
    Some(match id {
        1 => "image_transfer_initiate",
        2 => "image_block_transfer",
        3 => "image_verify",
        4 => "image_activate",
        _ => return None,
    })
}

/// The descriptor of attribute `id` of the image transfer object.
pub const fn attribute(id: i8) -> AttributeDescriptor {
    AttributeDescriptor {
        class_id: CLASS_ID,
        instance: LOGICAL_NAME,
        attribute_id: id,
    }
}

/// The descriptor of method `id` of the image transfer object.
pub const fn method(id: i8) -> MethodDescriptor {
    MethodDescriptor {
        class_id: CLASS_ID,
        instance: LOGICAL_NAME,
        method_id: id,
    }
}

/// image_transfer_status, attribute 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum ImageTransferStatus {
    /// (0) Image transfer not initiated.
    NotInitiated = 0,
    /// (1) Image transfer initiated.
    Initiated = 1,
    /// (2) Image verification initiated.
    VerificationInitiated = 2,
    /// (3) Image verification successful.
    VerificationSuccessful = 3,
    /// (4) Image verification failed.
    VerificationFailed = 4,
    /// (5) Image activation initiated.
    ActivationInitiated = 5,
    /// (6) Image activation successful.
    ActivationSuccessful = 6,
    /// (7) Image activation failed.
    ActivationFailed = 7,
}

impl ImageTransferStatus {
    /// Every status, in numeric order.
    pub const ALL: [Self; 8] = [
        Self::NotInitiated,
        Self::Initiated,
        Self::VerificationInitiated,
        Self::VerificationSuccessful,
        Self::VerificationFailed,
        Self::ActivationInitiated,
        Self::ActivationSuccessful,
        Self::ActivationFailed,
    ];

    /// The status of enum value `n`, if it is one.
    pub fn from_u8(n: u8) -> Option<Self> {
        Self::ALL.get(n as usize).copied()
    }

    /// The status an attribute 6 value holds, if it is an enum of a known value.
    pub fn from_data(value: &Data<'_>) -> Option<Self> {
        match value {
            Data::Enum(n) => Self::from_u8(*n),
            _ => None,
        }
    }

    /// The enum value.
    pub const fn value(self) -> u8 {
        self as u8
    }

    /// The standard's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NotInitiated => "image transfer not initiated",
            Self::Initiated => "image transfer initiated",
            Self::VerificationInitiated => "image verification initiated",
            Self::VerificationSuccessful => "image verification successful",
            Self::VerificationFailed => "image verification failed",
            Self::ActivationInitiated => "image activation initiated",
            Self::ActivationSuccessful => "image activation successful",
            Self::ActivationFailed => "image activation failed",
        }
    }

    /// The attribute 6 value.
    pub const fn to_data(self) -> Data<'static> {
        Data::Enum(self as u8)
    }
}

impl fmt::Display for ImageTransferStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.value())
    }
}

/// The parameter of image_transfer_initiate: `structure { identifier, size }`.
pub fn initiate_parameters(identifier: &[u8], size: u32) -> Data<'_> {
    Data::Structure(vec![
        Data::octets(identifier),
        Data::DoubleLongUnsigned(size),
    ])
}

/// The identifier and size of an image_transfer_initiate parameter, if it has that shape.
pub fn read_initiate_parameters<'d>(params: &'d Data<'_>) -> Option<(&'d [u8], u32)> {
    match params.as_elements()? {
        [Data::OctetString(id), Data::DoubleLongUnsigned(size)] => Some((id, *size)),
        _ => None,
    }
}

/// The parameter of image_block_transfer: `structure { block number, block value }`.
pub fn block_parameters(number: u32, value: &[u8]) -> Data<'_> {
    Data::Structure(vec![Data::DoubleLongUnsigned(number), Data::octets(value)])
}

/// Reads an image_block_transfer parameter without building anything: the block stays in the
/// request buffer. None if it is not `structure { double-long-unsigned, octet-string }`.
pub fn read_block_parameters<'p>(params: &'p EncodedData<'_>) -> Option<(u32, &'p [u8])> {
    let mut r = params.structure(2)?;
    (r.u8().ok()? == tag::DOUBLE_LONG_UNSIGNED).then_some(())?;
    let number = r.u32().ok()?;
    (r.u8().ok()? == tag::OCTET_STRING).then_some(())?;
    let value = r.length_prefixed().ok()?;
    r.is_empty().then_some((number, value))
}

/// The parameter image_verify and image_activate take: integer(0).
pub const fn trigger_parameter() -> Data<'static> {
    Data::Integer(0)
}

/// Whether a verify or activate parameter is acceptable: integer(0) as the Blue Book gives it,
/// or none at all, as some clients send (Gurux's client, for one).
pub fn is_trigger_parameter(params: Option<&EncodedData<'_>>) -> bool {
    params.is_none_or(|p| p.tag() == tag::INTEGER)
}

/// A confirmed ACTION-Request-Normal of `method_id` on the image transfer object.
pub fn action_request(
    iip: InvokeIdAndPriority,
    method_id: i8,
    params: Option<&Data<'_>>,
) -> ActionRequest<'static> {
    ActionRequest::Normal {
        iip,
        method: method(method_id),
        parameters: params.map(EncodedData::new),
    }
}

/// One entry of image_to_activate_info (attribute 7).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageToActivateInfo {
    /// image_to_activate_size.
    pub size: u32,
    /// image_to_activate_identification.
    pub identification: Vec<u8>,
    /// image_to_activate_signature.
    pub signature: Vec<u8>,
}

impl ImageToActivateInfo {
    /// The entry as `structure { size, identification, signature }`.
    pub fn to_data(&self) -> Data<'static> {
        Data::Structure(vec![
            Data::DoubleLongUnsigned(self.size),
            Data::OctetString(self.identification.clone().into()),
            Data::OctetString(self.signature.clone().into()),
        ])
    }

    /// Reads one entry; the signature may be absent or of another type in some meters' replies,
    /// and is then empty.
    pub fn from_data(entry: &Data<'_>) -> Option<Self> {
        match entry.as_elements()? {
            [size, id, rest @ ..] => Some(ImageToActivateInfo {
                size: u32::try_from(size.as_u64()?).ok()?,
                identification: id.as_bytes()?.to_vec(),
                signature: rest
                    .first()
                    .and_then(Data::as_bytes)
                    .unwrap_or_default()
                    .to_vec(),
            }),
            _ => None,
        }
    }

    /// Every entry of an attribute 7 value; None if it is not an array of entries.
    pub fn list_from_data(value: &Data<'_>) -> Option<Vec<Self>> {
        match value {
            Data::Array(entries) => entries.iter().map(Self::from_data).collect(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Codec;

    #[test]
    fn status_numbers_and_names_follow_the_blue_book() {
        for (n, s) in ImageTransferStatus::ALL.iter().enumerate() {
            assert_eq!(s.value() as usize, n);
            assert_eq!(ImageTransferStatus::from_u8(n as u8), Some(*s));
        }
        assert_eq!(ImageTransferStatus::from_u8(8), None);
        assert_eq!(
            ImageTransferStatus::VerificationSuccessful.to_string(),
            "image verification successful (3)"
        );
        assert_eq!(
            ImageTransferStatus::from_data(&Data::Enum(6)),
            Some(ImageTransferStatus::ActivationSuccessful)
        );
        assert_eq!(ImageTransferStatus::from_data(&Data::Unsigned(6)), None);
    }

    #[test]
    fn block_parameters_round_trip_without_copying() {
        let built = EncodedData::new(&block_parameters(7, b"abc"));
        assert_eq!(read_block_parameters(&built), Some((7, &b"abc"[..])));
        let wrong = EncodedData::new(&initiate_parameters(b"id", 3));
        assert_eq!(read_block_parameters(&wrong), None);
    }

    #[test]
    fn initiate_parameters_round_trip() {
        let p = initiate_parameters(b"FW-2", 4096);
        assert_eq!(read_initiate_parameters(&p), Some((&b"FW-2"[..], 4096)));
        assert_eq!(read_initiate_parameters(&Data::Integer(0)), None);
    }

    #[test]
    fn trigger_parameter_is_integer_zero_or_absent() {
        let zero = EncodedData::new(&trigger_parameter());
        assert!(is_trigger_parameter(Some(&zero)));
        assert!(is_trigger_parameter(None));
        assert!(!is_trigger_parameter(Some(&EncodedData::new(
            &Data::Boolean(true)
        ))));
    }

    #[test]
    fn action_request_names_the_image_transfer_object() {
        let bytes = action_request(
            InvokeIdAndPriority(0xC1),
            method::IMAGE_VERIFY,
            Some(&trigger_parameter()),
        )
        .to_bytes();
        // ACTION-Request-Normal, iip, class 18, 0-0:44.0.0.255, method 3, integer(0).
        assert_eq!(
            bytes,
            [0xC3, 1, 0xC1, 0, 18, 0, 0, 44, 0, 0, 255, 3, 1, 0x0F, 0]
        );
    }

    #[test]
    fn image_to_activate_info_round_trips() {
        let entry = ImageToActivateInfo {
            size: 100,
            identification: b"APP-2".to_vec(),
            signature: vec![1, 2],
        };
        let list = Data::Array(vec![entry.to_data()]);
        assert_eq!(
            ImageToActivateInfo::list_from_data(&list),
            Some(vec![entry])
        );
        assert_eq!(
            ImageToActivateInfo::list_from_data(&Data::Array(vec![])),
            Some(vec![])
        );
        assert_eq!(ImageToActivateInfo::list_from_data(&Data::Enum(0)), None);
    }
}
