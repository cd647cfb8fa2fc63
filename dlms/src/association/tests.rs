use super::*;
use crate::acse::{user_diagnostic, AssociationResult, SourceDiagnostic};
use crate::apdu::ConfirmedServiceError;
use crate::codec::Codec;
use crate::conformance::Conformance;
use crate::security::{Keys, ReplayGuard, SecurityControl};

fn keys() -> Keys {
    Keys {
        encryption: [0x11; 16],
        authentication: [0x22; 16],
    }
}

fn policy() -> ServerPolicy {
    ServerPolicy {
        supported_conformance: Conformance::from_bits_retain(0x00_501F),
        max_receive_pdu_size: 1024,
        min_client_pdu_size: 64,
        ciphering: Some(Ciphering {
            keys: keys(),
            system_title: *b"MTR00001",
            security_control: SecurityControl::AUTHENTICATED_ENCRYPTED,
            invocation_counter: 100,
        }),
    }
}

fn public() -> Account {
    Account {
        client_sap: 16,
        authentication: ServerAuthentication::None,
        ciphered: false,
    }
}

fn management() -> Account {
    Account {
        client_sap: 1,
        authentication: ServerAuthentication::Lls {
            password: b"12345678".to_vec(),
        },
        ciphered: false,
    }
}

fn hls() -> Account {
    Account {
        client_sap: 48,
        authentication: ServerAuthentication::HlsGmac,
        ciphered: true,
    }
}

fn associate(
    settings: &ClientSettings,
    account: &Account,
) -> (Accepted, Result<ClientAssociation, AssociationError>) {
    let aarq = settings.aarq();
    // The AARQ survives the wire.
    let aarq = crate::acse::Aarq::decode(&aarq.to_bytes()).unwrap();
    let accepted = policy().accept(account, &aarq, b"StoC1234", ReplayGuard::default());
    let aare = crate::acse::Aare::decode(&accepted.aare.to_bytes()).unwrap();
    let client = settings.check_aare(&aare);
    (accepted, client)
}

fn rejection(settings: &ClientSettings, account: &Account) -> AssociationError {
    let (accepted, client) = associate(settings, account);
    assert!(accepted.association.is_none());
    client.unwrap_err()
}

#[test]
fn public_client_gets_the_and_of_conformance_and_both_pdu_sizes() {
    let settings = ClientSettings {
        max_receive_pdu_size: 500,
        ..ClientSettings::default()
    };
    let (accepted, client) = associate(&settings, &public());
    let server = accepted.association.unwrap();
    let client = client.unwrap();
    let expected = settings.proposed_conformance & Conformance::from_bits_retain(0x00_501F);
    assert_eq!(server.negotiated.conformance, expected);
    assert_eq!(client.negotiated.conformance, expected);
    assert_eq!(server.negotiated.client_max_receive_pdu_size, 500);
    assert_eq!(client.negotiated.server_max_receive_pdu_size, 1024);
    assert!(server.authenticated);
}

#[test]
fn lls_with_the_right_password_is_accepted() {
    let settings = ClientSettings {
        authentication: ClientAuthentication::Lls {
            password: b"12345678".to_vec(),
        },
        ..ClientSettings::default()
    };
    let (accepted, client) = associate(&settings, &management());
    assert!(accepted.association.is_some());
    assert!(client.is_ok());
}

#[test]
fn lls_with_a_wrong_password_is_authentication_failure() {
    let settings = ClientSettings {
        authentication: ClientAuthentication::Lls {
            password: b"wrong!!!".to_vec(),
        },
        ..ClientSettings::default()
    };
    let AssociationError::Rejected {
        result, diagnostic, ..
    } = rejection(&settings, &management())
    else {
        panic!()
    };
    assert_eq!(result, AssociationResult::RejectedPermanent);
    assert_eq!(
        diagnostic,
        SourceDiagnostic::User(user_diagnostic::AUTHENTICATION_FAILURE)
    );
}

#[test]
fn lls_without_a_mechanism_is_mechanism_name_required() {
    let AssociationError::Rejected { diagnostic, .. } =
        rejection(&ClientSettings::default(), &management())
    else {
        panic!()
    };
    assert_eq!(
        diagnostic,
        SourceDiagnostic::User(user_diagnostic::MECHANISM_NAME_REQUIRED)
    );
}

#[test]
fn unsupported_mechanism_is_not_recognised() {
    let settings = ClientSettings {
        authentication: ClientAuthentication::Lls {
            password: b"x".to_vec(),
        },
        ..ClientSettings::default()
    };
    let AssociationError::Rejected { diagnostic, .. } = rejection(&settings, &public()) else {
        panic!()
    };
    assert_eq!(
        diagnostic,
        SourceDiagnostic::User(user_diagnostic::MECHANISM_NAME_NOT_RECOGNISED)
    );
}

#[test]
fn unknown_context_is_not_supported() {
    let mut aarq = ClientSettings::default().aarq();
    aarq.application_context = 7;
    let accepted = policy().accept(&public(), &aarq, b"StoC1234", ReplayGuard::default());
    assert_eq!(
        accepted.aare.diagnostic,
        SourceDiagnostic::User(user_diagnostic::APPLICATION_CONTEXT_NAME_NOT_SUPPORTED)
    );
}

#[test]
fn old_dlms_version_and_tiny_pdu_get_initiate_errors() {
    let cases = [
        (
            ClientSettings {
                dlms_version: 5,
                ..ClientSettings::default()
            },
            ConfirmedServiceError::DLMS_VERSION_TOO_LOW,
        ),
        (
            ClientSettings {
                max_receive_pdu_size: 11,
                ..ClientSettings::default()
            },
            ConfirmedServiceError::PDU_SIZE_TOO_SHORT,
        ),
        (
            ClientSettings {
                proposed_conformance: Conformance::WRITE,
                ..ClientSettings::default()
            },
            ConfirmedServiceError::INCOMPATIBLE_CONFORMANCE,
        ),
    ];
    for (settings, reason) in cases {
        let AssociationError::Rejected { initiate_error, .. } = rejection(&settings, &public())
        else {
            panic!()
        };
        assert_eq!(
            initiate_error,
            Some(ConfirmedServiceError::initiate(reason))
        );
    }
}

fn hls_settings() -> ClientSettings {
    ClientSettings {
        authentication: ClientAuthentication::HlsGmac {
            ctos: b"CtoS5678".to_vec(),
        },
        ciphering: Some(Ciphering {
            keys: keys(),
            system_title: *b"CLI00001",
            security_control: SecurityControl::AUTHENTICATED_ENCRYPTED,
            invocation_counter: 1,
        }),
        ..ClientSettings::default()
    }
}

#[test]
fn hls_gmac_four_passes_with_ciphered_initiate() {
    let settings = hls_settings();
    let (accepted, client) = associate(&settings, &hls());
    assert_eq!(
        accepted.aare.diagnostic,
        SourceDiagnostic::User(user_diagnostic::AUTHENTICATION_REQUIRED)
    );
    let mut server = accepted.association.unwrap();
    let mut client = client.unwrap();
    assert!(
        !server.authenticated,
        "nothing but pass 3 is allowed before HLS completes"
    );
    let f_stoc = client.hls_reply().unwrap();
    let f_ctos = server.reply_to_hls(&f_stoc).unwrap();
    assert!(server.authenticated);
    client.check_hls_result(b"CtoS5678", &f_ctos).unwrap();
    // Ciphered traffic flows both ways after the handshake.
    let mut c = client.cipher.unwrap();
    let mut s = server.cipher.unwrap();
    let wire = c
        .protect_apdu(&[0xC0, 0x01, 0xC1, 0, 1, 0, 0, 1, 0, 0, 255, 2, 0])
        .unwrap();
    let crate::apdu::Apdu::Ciphered(apdu) = crate::apdu::Apdu::decode(&wire).unwrap() else {
        panic!()
    };
    assert_eq!(s.unprotect_apdu(&apdu).unwrap()[0], 0xC0);
}

#[test]
fn hls_with_a_wrong_f_stoc_fails() {
    let (accepted, client) = associate(&hls_settings(), &hls());
    let mut server = accepted.association.unwrap();
    let mut f = client.unwrap().hls_reply().unwrap();
    f[10] ^= 1;
    assert!(server.reply_to_hls(&f).is_err());
    assert!(!server.authenticated);
}

#[test]
fn replayed_glo_initiate_is_refused() {
    let settings = hls_settings();
    let aarq = settings.aarq();
    let replay = ReplayGuard::after(Some(1));
    let accepted = policy().accept(&hls(), &aarq, b"StoC1234", replay);
    assert!(accepted.association.is_none());
}

#[test]
fn hls_client_on_a_plain_context_is_refused() {
    let mut settings = hls_settings();
    settings.ciphering = None;
    let AssociationError::Rejected { diagnostic, .. } = rejection(&settings, &hls()) else {
        panic!()
    };
    assert_eq!(
        diagnostic,
        SourceDiagnostic::User(user_diagnostic::APPLICATION_CONTEXT_NAME_NOT_SUPPORTED)
    );
}

#[test]
fn release_vectors() {
    assert_eq!(release_request().to_bytes(), [0x62, 0x03, 0x80, 0x01, 0x00]);
    assert_eq!(
        release_response().to_bytes(),
        [0x63, 0x03, 0x80, 0x01, 0x00]
    );
}
