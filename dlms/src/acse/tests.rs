use super::*;
use crate::apdu::{Apdu, ConfirmedServiceError};
use crate::codec::Codec;
use crate::conformance::Conformance;

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// docs/protocol.md#test-vectors V1: u9n `tests/test_asce/test_aarq.py`, "Example encodings from DLMS Green
/// Book v10: page 444".
#[test]
fn aarq_green_book_v1() {
    let wire = hex("60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0");
    let aarq = Aarq {
        application_context: context::LN,
        calling_ap_title: None,
        sender_acse_requirements: false,
        mechanism: None,
        calling_authentication_value: None,
        user_information: Some(RequestUserInformation::Initiate(InitiateRequest {
            proposed_conformance: Conformance::from_bits_retain(0x7E1F),
            client_max_receive_pdu_size: 1200,
            ..InitiateRequest::default()
        })),
    };
    assert_eq!(aarq.to_bytes(), wire);
    assert_eq!(Apdu::decode(&wire).unwrap(), Apdu::Aarq(aarq));
}

/// docs/protocol.md#test-vectors V2: u9n `tests/test_asce/test_aare.py`.
#[test]
fn aare_accepted_v2() {
    let wire = hex("61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 00 BE 10 04 0E 08 00 06 5F 1F 04 00 00 50 1F 01 F4 00 07");
    let aare = Aare {
        application_context: context::LN,
        result: AssociationResult::Accepted,
        diagnostic: SourceDiagnostic::User(user_diagnostic::NULL),
        responding_ap_title: None,
        responder_acse_requirements: false,
        mechanism: None,
        responding_authentication_value: None,
        user_information: Some(ResponseUserInformation::Initiate(InitiateResponse {
            negotiated_quality_of_service: None,
            negotiated_dlms_version: 6,
            negotiated_conformance: Conformance::from_bits_retain(0x501F),
            server_max_receive_pdu_size: 500,
            vaa_name: VAA_NAME_LN,
        })),
    };
    assert_eq!(aare.to_bytes(), wire);
    assert_eq!(Aare::decode(&wire).unwrap(), aare);
}

/// docs/protocol.md#test-vectors V2, HLS variant: diagnostic 14, mechanism 5, StoC (u9n `test_aare.py`).
#[test]
fn aare_hls_gmac_v2() {
    let wire = hex("6142A109060760857405080101A203020100A305A10302010E88020780890760857405080205AA0A8008503677524A323146BE10040E0800065F1F040000501F01F40007");
    let aare = Aare::decode(&wire).unwrap();
    assert_eq!(
        aare.diagnostic,
        SourceDiagnostic::User(user_diagnostic::AUTHENTICATION_REQUIRED)
    );
    assert_eq!(aare.mechanism, Some(mechanism::HIGH_GMAC));
    assert!(aare.responder_acse_requirements);
    assert_eq!(
        aare.responding_authentication_value.as_deref(),
        Some(&b"P6wRJ21F"[..])
    );
    assert_eq!(aare.to_bytes(), wire);
}

/// docs/protocol.md#association: InitiateError in a rejected AARE, `BE 06 04 04 0E 01 06 01`
/// (u9n `test_aare.py`): dlms-version-too-low.
#[test]
fn aare_user_information_with_initiate_error() {
    let aare = Aare {
        application_context: context::LN,
        result: AssociationResult::RejectedPermanent,
        diagnostic: SourceDiagnostic::User(user_diagnostic::NO_REASON_GIVEN),
        responding_ap_title: None,
        responder_acse_requirements: false,
        mechanism: None,
        responding_authentication_value: None,
        user_information: Some(ResponseUserInformation::Error(
            ConfirmedServiceError::initiate(ConfirmedServiceError::DLMS_VERSION_TOO_LOW),
        )),
    };
    let wire = aare.to_bytes();
    assert!(wire.ends_with(&hex("BE 06 04 04 0E 01 06 01")));
    assert_eq!(Aare::decode(&wire).unwrap(), aare);
}

/// docs/protocol.md#test-vectors V6: the glo-initiateRequest of u9n `test_aarq.py` "ciphered_low_security2".
#[test]
fn aarq_with_glo_initiate_request_v6() {
    let glo = hex("21 30 30 01234567 801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB204D39EE6FDB8E356855");
    let mut body = hex("A1 09 06 07 60 85 74 05 08 01 03 A6 0A 04 08 4D 4D 4D 00 00 BC 61 4E");
    body.extend([0xBE, (glo.len() + 2) as u8, 0x04, glo.len() as u8]);
    body.extend(&glo);
    let mut wire = vec![0x60, body.len() as u8];
    wire.extend(body);
    let aarq = Aarq::decode(&wire).unwrap();
    assert_eq!(aarq.application_context, context::LN_CIPHERED);
    assert_eq!(
        aarq.calling_ap_title.as_deref(),
        Some(&hex("4D4D4D0000BC614E")[..])
    );
    let Some(RequestUserInformation::Ciphered(c)) = &aarq.user_information else {
        panic!()
    };
    assert_eq!(
        (c.tag, c.security_control, c.invocation_counter),
        (0x21, 0x30, 0x0123_4567)
    );
    assert_eq!(aarq.to_bytes(), wire);
}

/// docs/protocol.md#association: RLRQ `62 03 80 01 00` and RLRE `63 03 80 01 00` (reason normal).
#[test]
fn release_vectors() {
    let rlrq = Rlrq {
        reason: Some(0),
        user_information: None,
    };
    assert_eq!(rlrq.to_bytes(), hex("62 03 80 01 00"));
    assert_eq!(Rlrq::decode(&hex("62 03 80 01 00")).unwrap(), rlrq);
    let rlre = Rlre {
        reason: Some(0),
        user_information: None,
    };
    assert_eq!(rlre.to_bytes(), hex("63 03 80 01 00"));
    assert_eq!(
        Rlre::decode(&hex("63 00")).unwrap(),
        Rlre {
            reason: None,
            user_information: None
        }
    );
}

#[test]
fn aarq_without_context_is_rejected() {
    let err = Aarq::decode(&hex("60 03 80 01 00")).unwrap_err();
    assert_eq!(
        err.kind,
        crate::ErrorKind::InvalidValue("missing required ACSE field")
    );
}

#[test]
fn aarq_with_long_form_length_round_trips() {
    let aarq = Aarq {
        application_context: context::LN,
        calling_ap_title: Some(vec![0x11; 8]),
        sender_acse_requirements: true,
        mechanism: Some(mechanism::LOW),
        calling_authentication_value: Some(vec![0x41; 120]),
        user_information: None,
    };
    let wire = aarq.to_bytes();
    assert_eq!(wire[1], 0x81, "a body over 127 bytes needs the long form");
    assert_eq!(Aarq::decode(&wire).unwrap(), aarq);
}
