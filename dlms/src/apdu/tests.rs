use super::*;
use crate::axdr::Data;
use crate::strategies::apdu;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

use crate::cosem::image_transfer::LOGICAL_NAME as IMAGE_TRANSFER;

fn image_method(method_id: i8) -> MethodDescriptor {
    MethodDescriptor {
        class_id: 18,
        instance: IMAGE_TRANSFER,
        method_id,
    }
}

/// docs/protocol.md#test-vectors V3: GET image_block_size, encoded with u9n `GetRequestNormal`.
#[test]
fn get_request_normal_v3() {
    let bytes = hex("C0 01 C1 00 12 00 00 2C 00 00 FF 02 00");
    let req = GetRequest::Normal {
        iip: InvokeIdAndPriority(0xC1),
        attribute: AttributeWithSelection::plain(AttributeDescriptor {
            class_id: 18,
            instance: IMAGE_TRANSFER,
            attribute_id: 2,
        }),
    };
    assert_eq!(req.to_bytes(), bytes);
    assert_eq!(Apdu::decode(&bytes).unwrap(), Apdu::GetRequest(req));
}

/// docs/protocol.md#test-vectors V3: GET responses parsed by u9n (values from Gurux.DLMS.Conformance.Test).
#[test]
fn get_response_normal_v3() {
    let cases = [
        (
            "C4 01 C1 00 06 00 00 00 C8",
            GetDataResult::Data(Data::DoubleLongUnsigned(200).into()),
        ),
        (
            "C4 01 C1 00 03 01",
            GetDataResult::Data(Data::Boolean(true).into()),
        ),
        (
            "C4 01 C1 00 16 03",
            GetDataResult::Data(Data::Enum(3).into()),
        ),
        (
            "C4 01 C1 01 01",
            GetDataResult::Error(DataAccessResult::HARDWARE_FAULT),
        ),
    ];
    for (wire, result) in cases {
        let resp = GetResponse::Normal {
            iip: InvokeIdAndPriority(0xC1),
            result,
        };
        assert_eq!(resp.to_bytes(), hex(wire), "{wire}");
        assert_eq!(GetResponse::decode(&hex(wire)).unwrap(), resp);
    }
}

/// docs/protocol.md#xdlms-apdus: GET-Response-With-Datablock header from a u9n vector.
#[test]
fn get_response_with_datablock_header() {
    let mut bytes = hex("C4 02 C1 00 00000001 00 82 04 9E");
    bytes.extend(std::iter::repeat_n(0xAB, 0x049E));
    let GetResponse::WithDatablock { block, .. } = GetResponse::decode(&bytes).unwrap() else {
        panic!("not a datablock")
    };
    assert!(!block.last_block);
    assert_eq!(block.block_number, 1);
    assert_eq!(block.result.unwrap().len(), 0x049E);
}

/// docs/protocol.md#test-vectors V4: ACTION on IC 18, encoded with u9n `ActionRequestNormal`.
#[test]
fn image_transfer_actions_v4() {
    let initiate = ActionRequest::Normal {
        iip: InvokeIdAndPriority(0xC1),
        method: image_method(1),
        parameters: Some(
            Data::Structure(vec![
                Data::octets(b"Gurux FW 1.2.3"),
                Data::DoubleLongUnsigned(1024),
            ])
            .into(),
        ),
    };
    assert_eq!(
        initiate.to_bytes(),
        hex("C3 01 C1 00 12 00 00 2C 00 00 FF 01 01 02 02 09 0E 47 75 72 75 78 20 46 57 20 31 2E 32 2E 33 06 00 00 04 00")
    );
    let block: Vec<u8> = (0u8..16).collect();
    let transfer = ActionRequest::Normal {
        iip: InvokeIdAndPriority(0xC1),
        method: image_method(2),
        parameters: Some(
            Data::Structure(vec![Data::DoubleLongUnsigned(0), Data::octets(&block)]).into(),
        ),
    };
    let wire = hex("C3 01 C1 00 12 00 00 2C 00 00 FF 02 01 02 02 06 00 00 00 00 09 10 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F");
    assert_eq!(transfer.to_bytes(), wire);
    assert_eq!(ActionRequest::decode(&wire).unwrap(), transfer);
    let verify = ActionRequest::Normal {
        iip: InvokeIdAndPriority(0xC1),
        method: image_method(3),
        parameters: Some(Data::Integer(0).into()),
    };
    assert_eq!(
        verify.to_bytes(),
        hex("C3 01 C1 00 12 00 00 2C 00 00 FF 03 01 0F 00")
    );
    for (wire, result) in [
        ("C7 01 C1 02 00", DataAccessResult::TEMPORARY_FAILURE),
        ("C7 01 C1 00 00", DataAccessResult::SUCCESS),
    ] {
        let resp = ActionResponse::Normal {
            iip: InvokeIdAndPriority(0xC1),
            outcome: ActionOutcome::bare(result),
        };
        assert_eq!(resp.to_bytes(), hex(wire));
        assert_eq!(ActionResponse::decode(&hex(wire)).unwrap(), resp);
    }
}

/// docs/protocol.md#ic-18-methods: ACTION-Response return forms, u9n `test_action.py` vectors.
#[test]
fn action_response_return_forms_u9n() {
    let wire = hex("C7 01 C0 00 01 01 FA");
    let resp = ActionResponse::decode(&wire).unwrap();
    let ActionResponse::Normal { outcome, .. } = resp else {
        panic!()
    };
    assert_eq!(
        outcome.return_parameters,
        Some(GetDataResult::Error(DataAccessResult::OTHER_REASON))
    );
}

#[test]
fn action_response_without_the_return_parameters_flag_is_read_as_absent() {
    let wire = hex("C7 01 C1 01");
    let ActionResponse::Normal { outcome, .. } = ActionResponse::decode(&wire).unwrap() else {
        panic!()
    };
    assert_eq!(
        outcome,
        ActionOutcome::bare(DataAccessResult::HARDWARE_FAULT)
    );
}

/// docs/protocol.md#test-vectors V4: HLS pass 3 and 4 on Association LN (u9n `test_action.py`).
#[test]
fn hls_reply_to_authentication_vectors() {
    let req = hex("C3 01 C0 00 0F 00 00 28 00 00 FF 01 01 09 11 10 00 00 1A 90 E6 D2 22 1F A2 FD 85 EE D6 1A CC 22");
    let ActionRequest::Normal {
        method, parameters, ..
    } = ActionRequest::decode(&req).unwrap()
    else {
        panic!()
    };
    assert_eq!((method.class_id, method.method_id), (15, 1));
    assert_eq!(method.instance, ObisCode::new(0, 0, 40, 0, 0, 255));
    assert_eq!(parameters.unwrap().decode().as_bytes().unwrap().len(), 17);
    let resp = hex("C7 01 C0 00 01 00 09 11 10 00 00 1A FD E8 85 7B 72 8A 34 99 10 6A A6 65 D1");
    let decoded = ActionResponse::decode(&resp).unwrap();
    assert_eq!(decoded.to_bytes(), resp);
}

/// docs/protocol.md#test-vectors V6: the glo-get-request envelope (u9n `tests/test_security.py`).
#[test]
fn glo_get_request_envelope_v6() {
    let wire = hex("C8 1E 30 01 23 45 67 41 13 12 FF 93 5A 47 56 68 27 C4 67 BC 7D 82 5C 3B E4 A7 7C 3F CC 05 6B 6B");
    let Apdu::Ciphered(c) = Apdu::decode(&wire).unwrap() else {
        panic!()
    };
    assert_eq!(
        (c.tag, c.security_control, c.invocation_counter),
        (0xC8, 0x30, 0x0123_4567)
    );
    assert_eq!(c.payload.len(), 13 + 12);
    assert_eq!(c.to_bytes(), wire);
}

#[test]
fn exception_response_with_invocation_counter() {
    let e = ExceptionResponse {
        state_error: StateError::ServiceNotAllowed,
        service_error: ServiceError::InvocationCounterError(7),
    };
    assert_eq!(e.to_bytes(), hex("D8 01 06 00 00 00 07"));
    assert_eq!(ExceptionResponse::decode(&e.to_bytes()).unwrap(), e);
}

#[test]
fn unknown_choice_is_reported_at_its_offset() {
    let err = Apdu::decode(&hex("C0 09 C1")).unwrap_err();
    assert_eq!(
        err,
        crate::DecodeError {
            kind: crate::ErrorKind::UnknownTag(9),
            offset: 1
        }
    );
    let err = Apdu::decode(&hex("99")).unwrap_err();
    assert_eq!(err.kind, crate::ErrorKind::UnknownTag(0x99));
}

#[test]
fn image_block_payload_is_borrowed() {
    let wire = hex("C3 01 C1 00 12 00 00 2C 00 00 FF 02 01 02 02 06 00 00 00 00 09 10 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F");
    let ActionRequest::Normal {
        parameters: Some(params),
        ..
    } = ActionRequest::decode(&wire).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        params.as_bytes().as_ptr(),
        wire[13..].as_ptr(),
        "parameters borrowed"
    );
    let Data::Structure(items) = params.decode() else {
        panic!()
    };
    let Data::OctetString(std::borrow::Cow::Borrowed(b)) = &items[1] else {
        panic!("payload copied")
    };
    assert_eq!(b.as_ptr(), wire[22..].as_ptr());
}

proptest! {
    #[test]
    fn every_apdu_round_trips(apdu in apdu()) {
        let bytes = apdu.to_bytes();
        prop_assert_eq!(Apdu::decode(&bytes).unwrap(), apdu);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(apdu) = Apdu::decode(&bytes) {
            let again = apdu.to_bytes();
            prop_assert_eq!(Apdu::decode(&again).unwrap().to_bytes(), again);
        }
    }

    #[test]
    fn decoding_mutated_apdus_never_panics(apdu in apdu(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut bytes = apdu.to_bytes();
        for (i, v) in flips {
            let i = i.index(bytes.len());
            bytes[i] = v;
        }
        let _ = Apdu::decode(&bytes);
    }
}

#[test]
fn an_action_request_normal_says_its_size_exactly() {
    let block = crate::cosem::image_transfer::block_parameters(7, &[0xA5; 1024]);
    let with = ActionRequest::Normal {
        iip: InvokeIdAndPriority(0xC1),
        method: image_method(2),
        parameters: Some(crate::axdr::EncodedData::new(&block)),
    };
    assert_eq!(with.size_hint(), with.to_bytes().len());
    let without = ActionRequest::Normal {
        iip: InvokeIdAndPriority(0xC1),
        method: image_method(4),
        parameters: None,
    };
    assert_eq!(without.size_hint(), without.to_bytes().len());
}
