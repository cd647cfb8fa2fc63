use super::*;
use crate::strategies::data;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// docs/protocol.md#ic-18-attributes, attribute 7 wire example: the expected GET response value in
/// Gurux.DLMS.Conformance.Test `Development/Tests/LN/ImageUpdate.xml`.
#[test]
fn image_to_activate_info_from_gurux_conformance_test() {
    let bytes =
        hex("01 01 02 03 06 00 00 04 00 09 0E 47 75 72 75 78 20 46 57 20 31 2E 32 2E 33 09 00");
    let value = Data::decode(&bytes).unwrap();
    assert_eq!(
        value,
        Data::Array(vec![Data::Structure(vec![
            Data::DoubleLongUnsigned(1024),
            Data::octets(b"Gurux FW 1.2.3"),
            Data::octets(b""),
        ])])
    );
    assert_eq!(value.to_bytes(), bytes);
}

/// docs/protocol.md#test-vectors V7, computed with the Gurux `SetBitString` algorithm.
#[test]
fn bit_string_vectors_v7() {
    let six = Data::BitString(BitString::from_bools([
        true, true, true, false, false, false,
    ]));
    assert_eq!(six.to_bytes(), hex("04 06 E0"));
    let mut ten = BitString::zeros(10);
    ten.set(0, true);
    ten.set(9, true);
    assert_eq!(Data::BitString(ten).to_bytes(), hex("04 0A 80 40"));
    assert_eq!(
        Data::BitString(BitString::zeros(0)).to_bytes(),
        hex("04 00")
    );
}

/// docs/protocol.md#test-vectors V3 values (U9N-parsed GET responses): 200, TRUE, enum 3.
#[test]
fn simple_values_v3() {
    assert_eq!(
        Data::decode(&hex("06 00 00 00 C8")).unwrap(),
        Data::DoubleLongUnsigned(200)
    );
    assert_eq!(Data::decode(&hex("03 01")).unwrap(), Data::Boolean(true));
    assert_eq!(Data::decode(&hex("03 FF")).unwrap(), Data::Boolean(true));
    assert_eq!(Data::decode(&hex("16 03")).unwrap(), Data::Enum(3));
}

#[test]
fn octet_string_is_borrowed_from_the_input() {
    let bytes = hex("09 03 AA BB CC");
    let Data::OctetString(Cow::Borrowed(b)) = Data::decode(&bytes).unwrap() else {
        panic!("octet-string was copied")
    };
    assert_eq!(b.as_ptr(), bytes[2..].as_ptr());
}

#[test]
fn long_octet_string_uses_long_form_length() {
    let payload = vec![0x5A; 300];
    let bytes = Data::octets(&payload).to_bytes();
    assert_eq!(&bytes[..4], &[0x09, 0x82, 0x01, 0x2C]);
    assert_eq!(bytes.len(), Data::octets(&payload).encoded_len());
}

#[test]
fn errors_name_the_offset() {
    let err = Data::decode(&hex("02 02 11 01 FF")).unwrap_err();
    assert_eq!(
        err,
        DecodeError {
            kind: ErrorKind::UnknownTag(0xFF),
            offset: 4
        }
    );
    let err = Data::decode(&hex("11 01 00")).unwrap_err();
    assert_eq!(
        err,
        DecodeError {
            kind: ErrorKind::TrailingBytes,
            offset: 2
        }
    );
    let err = Data::decode(&hex("09 05 00")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::MissingBytes);
}

#[test]
fn nesting_beyond_the_limit_is_rejected() {
    let mut bytes = Vec::new();
    for _ in 0..=MAX_DEPTH {
        bytes.extend_from_slice(&[0x01, 0x01]);
    }
    bytes.push(0x00);
    assert_eq!(Data::decode(&bytes).unwrap_err().kind, ErrorKind::TooDeep);
}

#[test]
fn huge_declared_count_does_not_allocate() {
    let err = Data::decode(&hex("01 84 FF FF FF FF 00")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadLength);
    let err = Data::decode(&hex("04 84 FF FF FF FF 00")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::MissingBytes);
}

proptest! {
    #[test]
    fn data_round_trips(value in data()) {
        let bytes = value.to_bytes();
        prop_assert_eq!(bytes.len(), value.encoded_len());
        prop_assert_eq!(Data::decode(&bytes).unwrap(), value);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(value) = Data::decode(&bytes) {
            // Compared as bytes: a decoded float may be NaN, which is not equal to itself.
            let again = value.to_bytes();
            prop_assert_eq!(Data::decode(&again).unwrap().to_bytes(), again);
        }
    }
}
