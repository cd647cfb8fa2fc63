use super::*;
use dlms::apdu::{AttributeDescriptor, ObisCode};
use dlms::association::{ClientAssociation, ClientAuthentication, ClientSettings};
use dlms::cosem::image_transfer::{
    self as it, ImageTransferStatus, LOGICAL_NAME as IMAGE_TRANSFER,
};
use dlms::cosem::{ACTIVATION_SCHEDULER, ASSOCIATION_LN, CLOCK, EVENT_LOG};
use p256::ecdsa::SigningKey;

const T0: u64 = 1_790_000_000_000;

fn vendor_key() -> SigningKey {
    SigningKey::from_slice(&[0x33; 32]).unwrap()
}

/// The profile of the bench: the default, but the public client may run the image transfer
/// (read-and-upgrade), so that the tests upgrade without credentials.
fn bench_profile() -> MeterProfile {
    let mut profile = MeterProfile::default();
    for c in profile.clients.iter_mut().filter(|c| c.sap == 16) {
        c.rights = Rights::ReadAndUpgrade;
    }
    profile
}

fn config() -> MeterConfig {
    MeterConfig {
        trusted_key: Some(*vendor_key().verifying_key()),
        profile: bench_profile(),
        ..MeterConfig::default()
    }
}

/// The bytes of an ACTION-Request-Normal on method `method_id` of image transfer.
fn image_request(method_id: i8, params: Data<'_>) -> Vec<u8> {
    it::action_request(InvokeIdAndPriority(0xC1), method_id, Some(&params)).to_bytes()
}

/// A head-end talking straight to a meter, APDU by APDU.
struct Bench {
    meter: Meter,
    now: u64,
    /// The connection the requests come on.
    connection: ConnectionId,
    sap: u16,
    settings: ClientSettings,
    client: Option<ClientAssociation>,
}

impl Bench {
    fn new(meter: Meter, sap: u16, authentication: ClientAuthentication) -> Self {
        let ciphering = matches!(authentication, ClientAuthentication::HlsGmac { .. }).then(|| {
            let keys = MeterKeys::default();
            Ciphering {
                keys: keys.keys,
                system_title: *b"HEADEND1",
                security_control: SecurityControl::AUTHENTICATED_ENCRYPTED,
                invocation_counter: 1,
            }
        });
        Bench {
            meter,
            now: T0,
            connection: 0,
            sap,
            settings: ClientSettings {
                authentication,
                ciphering,
                ..ClientSettings::default()
            },
            client: None,
        }
    }

    fn public(meter: Meter) -> Self {
        let mut b = Self::new(meter, 16, ClientAuthentication::None);
        b.associate().unwrap();
        b
    }

    fn raw(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        self.meter
            .handle_apdu(self.now, self.connection, self.sap, request)
    }

    fn associate(&mut self) -> Result<(), dlms::association::AssociationError> {
        let reply = self.raw(&self.settings.aarq().to_bytes()).unwrap();
        let aare = Aare::decode(&reply).unwrap();
        let mut client = self.settings.check_aare(&aare)?;
        if let ClientAuthentication::HlsGmac { ctos } = self.settings.authentication.clone() {
            let f_stoc = client.hls_reply()?;
            self.client = Some(client);
            let outcome = self.action(
                15,
                ASSOCIATION_LN,
                1,
                Some(Data::OctetString(f_stoc.into())),
            );
            let Some(GetDataResult::Data(f_ctos)) = outcome.return_parameters else {
                panic!("no f(CtoS): {outcome:?}")
            };
            let f_ctos = f_ctos.decode().as_bytes().unwrap().to_vec();
            self.client
                .as_mut()
                .unwrap()
                .check_hls_result(&ctos, &f_ctos)?;
        } else {
            self.client = Some(client);
        }
        Ok(())
    }

    /// Sends a service APDU (ciphered if the association is) and returns the plain reply.
    fn service(&mut self, plain: Vec<u8>) -> Vec<u8> {
        let cipher = self.client.as_mut().and_then(|c| c.cipher.as_mut());
        let Some(cipher) = cipher else {
            return self.raw(&plain).expect("a reply");
        };
        let wire = cipher.protect_apdu(&plain).unwrap();
        let reply = self
            .meter
            .handle_apdu(self.now, self.connection, self.sap, &wire)
            .expect("a reply");
        let cipher = self.client.as_mut().unwrap().cipher.as_mut().unwrap();
        match Apdu::decode(&reply).unwrap() {
            Apdu::Ciphered(c) => cipher.unprotect_apdu(&c).unwrap(),
            other => panic!("plain reply to a ciphered request: {other:?}"),
        }
    }

    fn get(&mut self, class_id: u16, ln: ObisCode, attribute_id: i8) -> Result<Data<'static>, R> {
        let req = GetRequest::Normal {
            iip: InvokeIdAndPriority(0xC1),
            attribute: AttributeWithSelection::plain(AttributeDescriptor {
                class_id,
                instance: ln,
                attribute_id,
            }),
        };
        let reply = self.service(req.to_bytes());
        match GetResponse::decode(&reply).unwrap() {
            GetResponse::Normal {
                result: GetDataResult::Data(d),
                ..
            } => Ok(d.decode().into_owned()),
            GetResponse::Normal {
                result: GetDataResult::Error(e),
                ..
            } => Err(e),
            GetResponse::WithDatablock { .. } => self.rest_of_blocks(reply),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn rest_of_blocks(&mut self, first: Vec<u8>) -> Result<Data<'static>, R> {
        let mut data = Vec::new();
        let mut reply = first;
        loop {
            let GetResponse::WithDatablock { block, .. } = GetResponse::decode(&reply).unwrap()
            else {
                panic!("not a datablock")
            };
            data.extend_from_slice(&block.result?);
            if block.last_block {
                return Ok(Data::decode(&data).unwrap().into_owned());
            }
            let next = GetRequest::Next {
                iip: InvokeIdAndPriority(0xC1),
                block_number: block.block_number,
            };
            reply = self.service(next.to_bytes());
        }
    }

    fn set(&mut self, class_id: u16, ln: ObisCode, attribute_id: i8, value: Data<'_>) -> R {
        let req = SetRequest::Normal {
            iip: InvokeIdAndPriority(0xC1),
            attribute: AttributeWithSelection::plain(AttributeDescriptor {
                class_id,
                instance: ln,
                attribute_id,
            }),
            value: EncodedData::new(&value),
        };
        let SetResponse::Normal { result, .. } =
            SetResponse::decode(&self.service(req.to_bytes())).unwrap()
        else {
            panic!()
        };
        result
    }

    fn action(
        &mut self,
        class_id: u16,
        ln: ObisCode,
        method_id: i8,
        params: Option<Data<'_>>,
    ) -> ActionOutcome<'static> {
        let req = ActionRequest::Normal {
            iip: InvokeIdAndPriority(0xC1),
            method: MethodDescriptor {
                class_id,
                instance: ln,
                method_id,
            },
            parameters: params.as_ref().map(EncodedData::new),
        };
        let reply = self.service(req.to_bytes());
        let ActionResponse::Normal { outcome, .. } = ActionResponse::decode(&reply).unwrap() else {
            panic!()
        };
        ActionOutcome {
            result: outcome.result,
            return_parameters: outcome.return_parameters.map(|r| match r {
                GetDataResult::Data(d) => GetDataResult::Data(d.into_owned()),
                GetDataResult::Error(e) => GetDataResult::Error(e),
            }),
        }
    }

    fn image_action(&mut self, method: i8, params: Data<'_>) -> R {
        self.action(18, IMAGE_TRANSFER, method, Some(params)).result
    }

    fn initiate(&mut self, id: &[u8], size: usize) -> R {
        self.image_action(
            1,
            Data::Structure(vec![
                Data::octets(id),
                Data::DoubleLongUnsigned(size as u32),
            ]),
        )
    }

    fn block(&mut self, n: u32, bytes: &[u8]) -> R {
        self.image_action(
            2,
            Data::Structure(vec![Data::DoubleLongUnsigned(n), Data::octets(bytes)]),
        )
    }

    fn send_image(&mut self, image: &[u8], skip: &[u32]) {
        for (n, chunk) in image.chunks(200).enumerate() {
            if !skip.contains(&(n as u32)) {
                assert_eq!(self.block(n as u32, chunk), R::SUCCESS, "block {n}");
            }
        }
    }

    /// Lets the meter finish rebooting.
    fn wait_until_online(&mut self) {
        let until = self.meter.poll_timeout().expect("a reboot in progress");
        self.now = until;
        self.meter.handle_timeout(self.now);
        assert!(!self.meter.is_offline());
    }
}

fn signed_image(part: u8, version: &str, len: usize) -> Vec<u8> {
    dlms::image::build(&vendor_key(), part, version.as_bytes(), &vec![0x4D; len]).unwrap()
}

#[test]
fn attributes_have_the_blue_book_types_before_initiate() {
    let mut b = Bench::public(Meter::new(config()));
    assert_eq!(
        b.get(18, IMAGE_TRANSFER, 1),
        Ok(Data::OctetString(IMAGE_TRANSFER.0.to_vec().into()))
    );
    assert_eq!(
        b.get(18, IMAGE_TRANSFER, 2),
        Ok(Data::DoubleLongUnsigned(200))
    );
    assert_eq!(
        b.get(18, IMAGE_TRANSFER, 3),
        Ok(Data::BitString(dlms::axdr::BitString::zeros(0)))
    );
    assert_eq!(
        b.get(18, IMAGE_TRANSFER, 4),
        Ok(Data::DoubleLongUnsigned(0))
    );
    assert_eq!(b.get(18, IMAGE_TRANSFER, 5), Ok(Data::Boolean(true)));
    assert_eq!(b.get(18, IMAGE_TRANSFER, 6), Ok(Data::Enum(0)));
    assert_eq!(b.get(18, IMAGE_TRANSFER, 7), Ok(Data::Array(vec![])));
}

#[test]
fn bad_references_get_the_prescribed_results() {
    let mut b = Bench::public(Meter::new(config()));
    assert_eq!(
        b.get(18, ObisCode::new(0, 0, 44, 0, 9, 255), 2),
        Err(R::OBJECT_UNDEFINED)
    );
    assert_eq!(
        b.get(1, IMAGE_TRANSFER, 2),
        Err(R::OBJECT_CLASS_INCONSISTENT)
    );
    assert_eq!(b.get(18, IMAGE_TRANSFER, 8), Err(R::READ_WRITE_DENIED));
    assert_eq!(
        b.set(18, IMAGE_TRANSFER, 5, Data::Unsigned(1)),
        R::TYPE_UNMATCHED
    );
    assert_eq!(b.image_action(1, Data::Integer(0)), R::TYPE_UNMATCHED);
    assert_eq!(
        b.action(18, IMAGE_TRANSFER, 5, None).result,
        R::READ_WRITE_DENIED
    );
}

#[test]
fn the_default_public_client_only_reads() {
    let mut b = Bench::public(Meter::new(MeterConfig {
        profile: MeterProfile::default(),
        ..config()
    }));
    assert_eq!(
        b.get(18, IMAGE_TRANSFER, 2),
        Ok(Data::DoubleLongUnsigned(200))
    );
    assert_eq!(
        b.set(18, IMAGE_TRANSFER, 5, Data::Boolean(true)),
        R::READ_WRITE_DENIED
    );
    assert_eq!(b.initiate(b"EVIL-1", 100), R::READ_WRITE_DENIED);
    assert!(MeterProfile::default().weaknesses().is_empty());
    assert_eq!(
        bench_profile().weaknesses(),
        ["client 16 may change the meter without authentication"]
    );
}

#[test]
fn a_read_and_upgrade_client_may_upgrade_but_not_set_the_clock() {
    let mut b = Bench::public(Meter::new(config()));
    let now = Data::OctetString(
        dlms::axdr::DateTime::from_unix_utc(T0 / 1000)
            .to_bytes()
            .to_vec()
            .into(),
    );
    assert_eq!(b.set(8, CLOCK, 2, now), R::READ_WRITE_DENIED);
    assert_eq!(
        b.set(18, IMAGE_TRANSFER, 5, Data::Boolean(false)),
        R::SUCCESS
    );
    assert_eq!(
        b.initiate(b"x", 100),
        R::OTHER_REASON,
        "disabled: other-reason by default"
    );
}

#[test]
fn each_connection_has_its_own_association_and_loses_only_its_own() {
    let now = || {
        Data::OctetString(
            dlms::axdr::DateTime::from_unix_utc(T0 / 1000)
                .to_bytes()
                .to_vec()
                .into(),
        )
    };
    let mut public = Bench::public(Meter::new(config()));
    let mut lls = Bench::new(
        Meter::new(config()),
        1,
        ClientAuthentication::Lls {
            password: b"12345678".to_vec(),
        },
    );
    lls.connection = 1;
    // Both benches talk to the one meter, in turn.
    let turn = |a: &mut Bench, b: &mut Bench| std::mem::swap(&mut a.meter, &mut b.meter);
    turn(&mut public, &mut lls);
    lls.associate().unwrap();
    assert_eq!(lls.set(8, CLOCK, 2, now()), R::SUCCESS);
    assert_eq!(lls.meter.associations(), 2);
    turn(&mut public, &mut lls);
    assert_eq!(
        public.set(8, CLOCK, 2, now()),
        R::READ_WRITE_DENIED,
        "the management client's association on another connection lends the public one nothing"
    );
    turn(&mut public, &mut lls);
    let release = Apdu::Rlrq(dlms::association::release_request()).to_bytes();
    assert!(lls.raw(&release).is_some());
    turn(&mut public, &mut lls);
    assert_eq!(
        public.get(18, IMAGE_TRANSFER, 2),
        Ok(Data::DoubleLongUnsigned(200)),
        "releasing one connection's association leaves the other's"
    );
    public.meter.disconnect(0, T0);
    assert_eq!(public.meter.associations(), 0);
}

#[test]
fn a_client_over_its_association_limit_is_rejected_until_one_ends() {
    let profile = MeterProfile {
        max_associations_per_client: 1,
        ..bench_profile()
    };
    let mut first = Bench::public(Meter::new(MeterConfig {
        profile,
        ..config()
    }));
    let mut second = Bench::new(Meter::new(config()), 16, ClientAuthentication::None);
    second.connection = 1;
    std::mem::swap(&mut first.meter, &mut second.meter);
    let aare = Aare::decode(&second.raw(&second.settings.aarq().to_bytes()).unwrap()).unwrap();
    assert_eq!(aare.result, AssociationResult::RejectedTransient);
    second.meter.disconnect(0, T0);
    assert!(
        second.associate().is_ok(),
        "the first connection's association ended"
    );
}

#[test]
fn an_aarq_over_the_meters_limit_is_reset_or_held_as_the_profile_says() {
    use crate::meter::Admission;
    use crate::profile::ExcessAssociation;
    let aarq = ClientSettings::default().aarq().to_bytes();
    for (excess, expected) in [
        (ExcessAssociation::Reject, Admission::Serve),
        (ExcessAssociation::Reset, Admission::Reset),
        (ExcessAssociation::Wait, Admission::Wait),
    ] {
        let profile = MeterProfile {
            max_associations: 1,
            excess_association: excess,
            ..bench_profile()
        };
        let mut b = Bench::public(Meter::new(MeterConfig {
            profile,
            judge: true,
            ..config()
        }));
        // Connection 0 holds the one association; an AARQ on it again replaces its own.
        assert_eq!(b.meter.admit(T0, 0, 16, &aarq), Admission::Serve);
        assert_eq!(b.meter.admit(T0, 1, 16, &aarq), expected, "{excess:?}");
        assert_eq!(
            b.meter.admit(T0, 1, 16, &[0xC0]),
            Admission::Serve,
            "not an AARQ"
        );
        assert!(
            !b.meter.association_free(1, 1),
            "the limit is over all clients"
        );
        let reply = b.meter.handle_apdu(T0, 1, 16, &aarq).unwrap();
        assert_eq!(
            Aare::decode(&reply).unwrap().result,
            AssociationResult::RejectedTransient
        );
        let judged =
            b.meter.judge().unwrap().findings()[crate::judge::rule::TOO_MANY_ASSOCIATIONS].count;
        assert_eq!(judged, 1, "{excess:?}: judged once, when it arrived");
        b.meter.disconnect(0, T0);
        assert!(b.meter.association_free(1, 16));
    }
}

/// A bench meter with `profile` that has received, verified and been asked to activate a
/// signed APP-3.0.0 for part 1; the activation's result.
fn activated(profile: MeterProfile) -> (Bench, R) {
    let mut b = Bench::public(Meter::new(MeterConfig {
        profile,
        ..config()
    }));
    let image = signed_image(1, "APP-3.0.0", 900);
    assert_eq!(b.initiate(b"APP-3.0.0", image.len()), R::SUCCESS);
    b.send_image(&image, &[]);
    assert_eq!(b.image_action(3, Data::Integer(0)), R::SUCCESS);
    let result = b.image_action(4, Data::Integer(0));
    (b, result)
}

#[test]
fn a_part_that_activates_without_reboot_switches_and_keeps_the_association() {
    let (mut b, result) = activated(MeterProfile {
        activation_without_reboot: vec![1],
        ..bench_profile()
    });
    assert_eq!(result, R::SUCCESS);
    assert!(!b.meter.is_offline());
    assert_eq!(
        b.meter.poll_event(),
        None,
        "no reboot, no connection dropped"
    );
    assert_eq!(
        b.get(18, IMAGE_TRANSFER, 6),
        Ok(Data::Enum(
            ImageTransferStatus::ActivationSuccessful.value()
        )),
        "read on the same association"
    );
    let firmware = b.get(1, dlms::cosem::active_firmware_identifier(1), 2);
    assert_eq!(firmware, Ok(Data::octets(b"APP-3.0.0")));
}

#[test]
fn an_activation_may_answer_and_reboot_a_while_later() {
    let (mut b, result) = activated(MeterProfile {
        activation_drop_delay_ms: 700,
        ..bench_profile()
    });
    assert_eq!(result, R::SUCCESS);
    assert!(!b.meter.is_offline(), "still answering during the delay");
    assert_eq!(
        b.get(18, IMAGE_TRANSFER, 6),
        Ok(Data::Enum(ImageTransferStatus::ActivationInitiated.value()))
    );
    assert_eq!(b.meter.poll_timeout(), Some(b.now + 700));
    b.meter.handle_timeout(b.now + 700);
    assert!(b.meter.is_offline(), "down to reboot after the delay");
    b.now += 700;
    b.wait_until_online();
    let mut b = Bench::public(b.meter);
    let firmware = b.get(1, dlms::cosem::active_firmware_identifier(1), 2);
    assert_eq!(firmware, Ok(Data::octets(b"APP-3.0.0")));
}

#[test]
fn full_upgrade_reboots_into_the_new_firmware_and_keeps_the_old() {
    let mut b = Bench::public(Meter::new(config()));
    let image = signed_image(1, "APP-2.0.0", 3000);
    assert_eq!(b.initiate(b"APP-2.0.0", image.len()), R::SUCCESS);
    b.send_image(&image, &[2, 7]);
    assert_eq!(
        b.get(18, IMAGE_TRANSFER, 4),
        Ok(Data::DoubleLongUnsigned(2))
    );
    let Ok(Data::BitString(bits)) = b.get(18, IMAGE_TRANSFER, 3) else {
        panic!()
    };
    assert_eq!(bits.len(), image.len().div_ceil(200));
    assert_eq!(
        (bits.get(0), bits.get(2), bits.get(7)),
        (Some(true), Some(false), Some(false))
    );
    b.send_image(
        &image,
        &(0..100).filter(|n| ![2, 7].contains(n)).collect::<Vec<_>>(),
    );
    assert_eq!(b.image_action(3, Data::Integer(0)), R::SUCCESS);
    let Ok(Data::Array(info)) = b.get(18, IMAGE_TRANSFER, 7) else {
        panic!()
    };
    assert_eq!(
        info[0].as_elements().unwrap()[..2],
        [
            Data::DoubleLongUnsigned(image.len() as u32),
            Data::octets(b"APP-2.0.0")
        ]
    );
    assert_eq!(b.image_action(4, Data::Integer(0)), R::SUCCESS);
    assert!(b.meter.is_offline(), "activation reboots the meter");
    assert_eq!(
        b.meter.poll_event(),
        Some(MeterEvent::Offline {
            until_ms: b.now + 2000
        })
    );
    assert_eq!(
        b.raw(&b.settings.aarq().to_bytes()),
        None,
        "no answer while rebooting"
    );
    b.wait_until_online();
    let mut b = Bench::public(b.meter);
    assert_eq!(
        b.get(1, ObisCode::new(1, 1, 0, 2, 0, 255), 2),
        Ok(Data::octets(b"APP-2.0.0"))
    );
    assert_eq!(
        b.get(18, IMAGE_TRANSFER, 6),
        Ok(Data::Enum(ImageTransferStatus::ActivationSuccessful as u8))
    );
    assert_eq!(
        b.meter.state().parts[1]
            .previous
            .as_ref()
            .unwrap()
            .identifier,
        b"APP-1.0.0"
    );
    let Ok(Data::Array(log)) = b.get(7, EVENT_LOG, 2) else {
        panic!()
    };
    let codes: Vec<_> = log
        .iter()
        .map(|e| e.as_elements().unwrap()[1].clone())
        .collect();
    let expected = [
        EventCode::TransferInitiated,
        EventCode::FirmwareReadyForActivation,
        EventCode::ActivationSucceeded,
        EventCode::Reboot,
    ];
    assert_eq!(codes, expected.map(|c| Data::LongUnsigned(c as u16)));
}

#[test]
fn a_reboot_mid_transfer_keeps_every_acknowledged_block() {
    let mut b = Bench::public(Meter::new(config()));
    let image = signed_image(2, "COM-2.0.0", 2000);
    b.initiate(b"COM-2.0.0", image.len());
    b.send_image(&image[..1000], &[]);
    b.meter.reboot(b.now, 500);
    b.wait_until_online();
    let mut b = Bench::public(b.meter);
    assert_eq!(b.get(18, IMAGE_TRANSFER, 6), Ok(Data::Enum(1)));
    assert_eq!(
        b.get(18, IMAGE_TRANSFER, 4),
        Ok(Data::DoubleLongUnsigned(5))
    );
}

/// An ACTION-Request-Normal on image_block_transfer with the service-class bit clear.
fn unconfirmed_block(n: u32, bytes: &[u8]) -> Vec<u8> {
    let mut request = image_request(
        2,
        Data::Structure(vec![Data::DoubleLongUnsigned(n), Data::octets(bytes)]),
    );
    request[2] = InvokeIdAndPriority::new(3, false, true).0;
    request
}

#[test]
fn unconfirmed_blocks_are_stored_without_a_reply() {
    let mut b = Bench::public(Meter::new(config()));
    b.initiate(b"COM-2.0.0", 1000);
    assert_eq!(b.raw(&unconfirmed_block(0, &[7; 200])), None);
    assert_eq!(b.raw(&unconfirmed_block(2, &[7; 200])), None);
    let Ok(Data::BitString(bits)) = b.get(18, IMAGE_TRANSFER, 3) else {
        panic!("no bit-string")
    };
    assert_eq!(
        (0..5).map(|i| bits.get(i)).collect::<Vec<_>>(),
        [true, false, true, false, false].map(Some)
    );
    // A refused unconfirmed block (out of range) is as silent as an accepted one.
    assert_eq!(b.raw(&unconfirmed_block(9, &[7; 200])), None);
    // The same request confirmed is answered.
    assert_eq!(b.block(1, &[7; 200]), R::SUCCESS);
}

#[test]
fn persisted_state_restores_a_meter() {
    let mut b = Bench::public(Meter::new(config()));
    b.initiate(b"COM-2.0.0", 1000);
    b.block(0, &[7; 200]);
    let state = b.meter.state().clone();
    let json = serde_json::to_string(&state).unwrap();
    let mut restored: MeterState = serde_json::from_str(&json).unwrap();
    restored.transfer.data = state.transfer.data.clone();
    let mut b = Bench::public(Meter::with_state(config(), restored));
    assert_eq!(
        b.get(18, IMAGE_TRANSFER, 4),
        Ok(Data::DoubleLongUnsigned(1))
    );
}

#[test]
fn the_object_list_goes_out_in_blocks_to_a_small_client() {
    let mut b = Bench::new(Meter::new(config()), 16, ClientAuthentication::None);
    b.settings.max_receive_pdu_size = 128;
    b.associate().unwrap();
    let Ok(Data::Array(list)) = b.get(15, ASSOCIATION_LN, 2) else {
        panic!()
    };
    assert_eq!(list.len(), crate::cosem::catalogue().len());
    let first = list[0].as_elements().unwrap();
    assert_eq!(first[0], Data::LongUnsigned(15));
}

#[test]
fn requests_longer_than_the_pdu_size_are_refused() {
    let mut b = Bench::public(Meter::new(config()));
    b.initiate(b"x", 4000);
    let params = Data::Structure(vec![Data::DoubleLongUnsigned(0), Data::octets(&[0; 1500])]);
    let req = image_request(2, params);
    let reply = b.raw(&req).unwrap();
    assert_eq!(
        ExceptionResponse::decode(&reply).unwrap().service_error,
        ServiceError::PduTooLong
    );
}

#[test]
fn lls_needs_the_right_password() {
    let mut b = Bench::new(
        Meter::new(config()),
        1,
        ClientAuthentication::Lls {
            password: b"wrong".to_vec(),
        },
    );
    assert!(b.associate().is_err());
    let mut b = Bench::new(
        Meter::new(config()),
        1,
        ClientAuthentication::Lls {
            password: b"12345678".to_vec(),
        },
    );
    b.associate().unwrap();
    let now = Data::OctetString(
        dlms::axdr::DateTime::from_unix_utc(T0 / 1000 + 3600)
            .to_bytes()
            .to_vec()
            .into(),
    );
    assert_eq!(
        b.set(8, CLOCK, 2, now),
        R::SUCCESS,
        "management client may set the clock"
    );
}

#[test]
fn hls_gmac_client_works_ciphered_and_is_refused_before_pass_three() {
    let mut b = Bench::new(
        Meter::new(config()),
        48,
        ClientAuthentication::HlsGmac {
            ctos: b"0123456789ABCDEF".to_vec(),
        },
    );
    b.associate().unwrap();
    assert_eq!(
        b.get(18, IMAGE_TRANSFER, 2),
        Ok(Data::DoubleLongUnsigned(200))
    );
    let mut early = Bench::new(
        Meter::new(config()),
        48,
        ClientAuthentication::HlsGmac {
            ctos: b"0123456789ABCDEF".to_vec(),
        },
    );
    let reply = early.raw(&early.settings.aarq().to_bytes()).unwrap();
    early.client = Some(
        early
            .settings
            .check_aare(&Aare::decode(&reply).unwrap())
            .unwrap(),
    );
    assert_eq!(early.get(18, IMAGE_TRANSFER, 2), Err(R::READ_WRITE_DENIED));
}

#[test]
fn pblocks_carry_a_block_too_big_for_one_apdu() {
    let mut b = Bench::public(Meter::new(config()));
    let image = signed_image(1, "APP-3.0.0", 300);
    b.initiate(b"APP-3.0.0", image.len());
    let params = EncodedData::new(&Data::Structure(vec![
        Data::DoubleLongUnsigned(0),
        Data::octets(&image[..200]),
    ]));
    let bytes = params.as_bytes();
    let method = it::method(it::method::IMAGE_BLOCK_TRANSFER);
    let iip = InvokeIdAndPriority(0xC1);
    let first = ActionRequest::WithFirstPblock {
        iip,
        method,
        block: DataBlockSa {
            last_block: false,
            block_number: 1,
            raw_data: bytes[..100].into(),
        },
    };
    let reply = b.service(first.to_bytes());
    assert_eq!(
        ActionResponse::decode(&reply).unwrap(),
        ActionResponse::NextPblock {
            iip,
            block_number: 1
        }
    );
    let last = ActionRequest::WithPblock {
        iip,
        block: DataBlockSa {
            last_block: true,
            block_number: 2,
            raw_data: bytes[100..].into(),
        },
    };
    let reply = b.service(last.to_bytes());
    let ActionResponse::Normal { outcome, .. } = ActionResponse::decode(&reply).unwrap() else {
        panic!()
    };
    assert_eq!(outcome.result, R::SUCCESS);
    assert_eq!(
        b.get(18, IMAGE_TRANSFER, 4),
        Ok(Data::DoubleLongUnsigned(1))
    );
}

#[test]
fn scheduled_activation_runs_at_its_time() {
    let mut b = Bench::public(Meter::new(config()));
    let image = signed_image(1, "APP-4.0.0", 500);
    b.initiate(b"APP-4.0.0", image.len());
    b.send_image(&image, &[]);
    assert_eq!(b.image_action(3, Data::Integer(0)), R::SUCCESS);
    let at = dlms::axdr::DateTime::from_unix_utc(T0 / 1000 + 600);
    let mut time = Vec::new();
    at.time.encode(&mut time);
    let mut date = Vec::new();
    at.date.encode(&mut date);
    let entry = Data::Array(vec![Data::Structure(vec![
        Data::OctetString(time.into()),
        Data::OctetString(date.into()),
    ])]);
    assert_eq!(b.set(22, ACTIVATION_SCHEDULER, 4, entry), R::SUCCESS);
    assert_eq!(b.meter.poll_timeout(), Some(T0 + 600_000));
    b.now = T0 + 600_000;
    b.meter.handle_timeout(b.now);
    assert!(b.meter.is_offline());
    b.wait_until_online();
    assert_eq!(b.meter.state().parts[1].active.identifier, b"APP-4.0.0");
}

#[test]
fn power_loss_during_activation_rolls_back() {
    let mut b = Bench::public(Meter::new(config()));
    let image = signed_image(1, "APP-5.0.0", 500);
    b.initiate(b"APP-5.0.0", image.len());
    b.send_image(&image, &[]);
    b.meter.state_mut().fail_next_activation = Some("power loss during activation".into());
    assert_eq!(b.image_action(4, Data::Integer(0)), R::SUCCESS);
    b.wait_until_online();
    let mut b = Bench::public(b.meter);
    assert_eq!(b.get(18, IMAGE_TRANSFER, 6), Ok(Data::Enum(7)));
    assert_eq!(
        b.get(1, ObisCode::new(1, 1, 0, 2, 0, 255), 2),
        Ok(Data::octets(b"APP-1.0.0"))
    );
}

#[test]
fn a_restart_in_the_middle_of_an_activation_comes_up_rolled_back_not_stuck() {
    let mut b = Bench::public(Meter::new(config()));
    let image = signed_image(1, "APP-6.0.0", 500);
    b.initiate(b"APP-6.0.0", image.len());
    b.send_image(&image, &[]);
    assert_eq!(b.image_action(4, Data::Integer(0)), R::SUCCESS);
    assert!(b.meter.is_offline(), "rebooting into the new image");
    // The process is killed now: what is on disk is the state at status 5.
    let persisted = b.meter.state().clone();
    assert_eq!(
        persisted.transfer.status,
        ImageTransferStatus::ActivationInitiated
    );
    let mut restarted = Meter::with_state(config(), persisted);
    assert_eq!(
        restarted.poll_timeout(),
        Some(0),
        "it finishes coming up at once"
    );
    restarted.handle_timeout(b.now);
    let mut b = Bench::public(restarted);
    assert_eq!(b.get(18, IMAGE_TRANSFER, 6), Ok(Data::Enum(7)));
    assert_eq!(
        b.get(1, ObisCode::new(1, 1, 0, 2, 0, 255), 2),
        Ok(Data::octets(b"APP-1.0.0")),
        "the old firmware runs"
    );
    let Ok(Data::Array(log)) = b.get(7, EVENT_LOG, 2) else {
        panic!("event log")
    };
    let details: Vec<String> = log
        .iter()
        .filter_map(|e| e.as_elements()?.get(2)?.as_bytes())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("power lost during activation; running version kept")),
        "{details:?}"
    );
}

/// A journal that takes `room` blocks, then fails as a full disk does.
#[derive(Debug)]
struct FillingJournal {
    room: usize,
    stored: std::sync::Arc<std::sync::Mutex<Vec<u32>>>,
}

impl crate::journal::BlockJournal for FillingJournal {
    fn append(&mut self, _generation: u64, number: u32, _bytes: &[u8]) -> Result<(), String> {
        let mut stored = self.stored.lock().unwrap();
        if stored.len() == self.room {
            return Err("No space left on device".into());
        }
        stored.push(number);
        Ok(())
    }
}

#[test]
fn a_block_that_cannot_be_stored_is_refused_and_stays_missing() {
    let stored = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut meter = Meter::new(config());
    meter.set_journal(Box::new(FillingJournal {
        room: 2,
        stored: stored.clone(),
    }));
    let mut b = Bench::public(meter);
    let image = signed_image(1, "APP-7.0.0", 1000);
    b.initiate(b"APP-7.0.0", image.len());
    let chunks: Vec<&[u8]> = image.chunks(200).collect();
    assert_eq!(b.block(0, chunks[0]), R::SUCCESS);
    assert_eq!(b.block(1, chunks[1]), R::SUCCESS);
    assert_eq!(
        b.block(2, chunks[2]),
        R::HARDWARE_FAULT,
        "not stored, not acknowledged"
    );
    assert_eq!(*stored.lock().unwrap(), vec![0, 1]);
    let Ok(Data::BitString(bits)) = b.get(18, IMAGE_TRANSFER, 3) else {
        panic!("attribute 3")
    };
    assert_eq!(
        bits.iter().take(3).collect::<Vec<_>>(),
        vec![true, true, false]
    );
    assert_eq!(
        b.get(18, IMAGE_TRANSFER, 4),
        Ok(Data::DoubleLongUnsigned(2))
    );
}

#[test]
fn requests_without_association_get_an_exception() {
    let mut meter = Meter::new(config());
    let get = GetRequest::Normal {
        iip: InvokeIdAndPriority(0xC1),
        attribute: AttributeWithSelection::plain(AttributeDescriptor {
            class_id: 18,
            instance: IMAGE_TRANSFER,
            attribute_id: 2,
        }),
    };
    let reply = meter.handle_apdu(T0, 0, 16, &get.to_bytes()).unwrap();
    assert!(matches!(
        Apdu::decode(&reply).unwrap(),
        Apdu::ExceptionResponse(_)
    ));
    let malformed = meter
        .handle_apdu(T0, 0, 16, &[0xC3, 0x01, 0xC1, 0x00])
        .unwrap();
    assert_eq!(
        ExceptionResponse::decode(&malformed).unwrap().service_error,
        ServiceError::OtherReason
    );
    let reply = meter.handle_apdu(T0, 0, 16, &[0x99, 0x00]).unwrap();
    assert_eq!(
        Apdu::decode(&reply).unwrap(),
        Apdu::ExceptionResponse(ExceptionResponse {
            state_error: StateError::ServiceUnknown,
            service_error: ServiceError::ServiceNotSupported
        })
    );
}

mod model {
    //! A model-based test: random request sequences against a plain model of the strict
    //! profile, checking the invariants of docs/protocol.md#the-transfer-process after every step.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Initiate { image: usize },
        Block { n: u32, padded: bool },
        Verify,
        Activate,
        Reboot,
        SetEnabled(bool),
        Disconnect,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => (0usize..2).prop_map(|image| Op::Initiate { image }),
            8 => (0u32..9, any::<bool>()).prop_map(|(n, padded)| Op::Block { n, padded }),
            2 => Just(Op::Verify),
            1 => Just(Op::Activate),
            1 => Just(Op::Reboot),
            1 => any::<bool>().prop_map(Op::SetEnabled),
            1 => Just(Op::Disconnect),
        ]
    }

    /// What the strict reading says the meter holds.
    #[derive(Debug, Default)]
    struct Model {
        enabled: bool,
        status: u8,
        image: Option<usize>,
        bits: Vec<bool>,
    }

    /// Legal image_transfer_status transitions (docs/protocol.md#status-transitions), including staying put.
    fn legal(from: u8, to: u8) -> bool {
        from == to
            || to == 1
            || matches!(
                (from, to),
                (1, 3) | (1, 4) | (4, 3) | (1, 5) | (3, 5) | (5, 6) | (5, 7)
            )
    }

    fn images() -> [Vec<u8>; 2] {
        [
            signed_image(1, "APP-9.0.0", 1000),
            image::corrupt(
                &signed_image(1, "APP-9.9.9", 1000),
                image::Corruption::BadSignature,
                None,
            )
            .unwrap(),
        ]
    }

    use dlms::image;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn the_meter_follows_the_model(ops in proptest::collection::vec(op(), 1..60)) {
            let images = images();
            let mut b = Bench::public(Meter::new(config()));
            let mut m = Model { enabled: true, ..Model::default() };
            for op in ops {
                if b.meter.is_offline() {
                    b.wait_until_online();
                    b = Bench::public(b.meter);
                }
                let mut before = m.status;
                match op {
                    Op::Initiate { image } => {
                        let r = b.initiate(if image == 0 { b"good" } else { b"bad" }, images[image].len());
                        if m.enabled {
                            prop_assert_eq!(r, R::SUCCESS);
                            m = Model { enabled: true, status: 1, image: Some(image), bits: vec![false; images[image].len().div_ceil(200)] };
                        } else {
                            prop_assert_eq!(r, R::OTHER_REASON);
                        }
                    }
                    Op::Block { n, padded } => {
                        let bytes = m.image.map(|i| images[i].clone()).unwrap_or_default();
                        let start = (n as usize * 200).min(bytes.len());
                        let mut chunk = bytes[start..(start + 200).min(bytes.len())].to_vec();
                        if padded && !chunk.is_empty() {
                            chunk.resize(200, 0);
                        }
                        let r = b.block(n, &chunk);
                        let ok = m.enabled && m.status == 1 && (n as usize) < m.bits.len();
                        prop_assert_eq!(r, if ok { R::SUCCESS } else { R::OTHER_REASON }, "block {}", n);
                        if ok {
                            m.bits[n as usize] = true;
                        }
                    }
                    Op::Verify => {
                        let r = b.image_action(3, Data::Integer(0));
                        match m.status {
                            1 | 4 => {
                                let good = m.bits.iter().all(|x| *x) && m.image == Some(0);
                                prop_assert_eq!(r, if good { R::SUCCESS } else { R::OTHER_REASON });
                                m.status = if good { 3 } else { 4 };
                            }
                            3 => prop_assert_eq!(r, R::SUCCESS),
                            _ => prop_assert_eq!(r, R::OTHER_REASON),
                        }
                    }
                    Op::Activate => {
                        let r = b.image_action(4, Data::Integer(0));
                        let complete_and_good = m.bits.iter().all(|x| *x) && m.image == Some(0);
                        match m.status {
                            3 => {
                                prop_assert_eq!(r, R::SUCCESS);
                                m.status = 5;
                            }
                            1 if complete_and_good => {
                                prop_assert_eq!(r, R::SUCCESS);
                                m.status = 5;
                            }
                            1 => {
                                prop_assert_eq!(r, R::OTHER_REASON);
                                m.status = 4;
                            }
                            _ => prop_assert_eq!(r, R::OTHER_REASON),
                        }
                        if m.status == 5 {
                            // Verification (implicit from status 1) and activation both happen
                            // in this one step: each leg of 1 -> 5 -> 6 must be legal.
                            prop_assert!(legal(before, 5), "illegal model transition {} -> 5", before);
                            before = 5;
                            prop_assert_eq!(&b.meter.state().transfer.data.to_vec(), &images[0], "activated image is the one sent");
                            b.wait_until_online();
                            b = Bench::public(b.meter);
                            m.status = 6;
                            prop_assert_eq!(&b.meter.state().parts[1].active.identifier, b"APP-9.0.0");
                        }
                    }
                    Op::Reboot => {
                        b.meter.reboot(b.now, 100);
                        b.wait_until_online();
                        b = Bench::public(b.meter);
                    }
                    Op::SetEnabled(on) => {
                        prop_assert_eq!(b.set(18, IMAGE_TRANSFER, 5, Data::Boolean(on)), R::SUCCESS);
                        m.enabled = on;
                    }
                    Op::Disconnect => {
                        b.meter.disconnect(b.connection, b.now);
                        b = Bench::public(b.meter);
                    }
                }
                prop_assert!(legal(before, m.status), "illegal model transition {} -> {}", before, m.status);
                // Attributes 3, 4 and 6 equal the model: nothing acknowledged is ever lost.
                let Ok(Data::BitString(bits)) = b.get(18, IMAGE_TRANSFER, 3) else { panic!("attribute 3") };
                prop_assert_eq!(bits.iter().collect::<Vec<_>>(), m.bits.clone());
                let first_gap = m.bits.iter().position(|x| !x).unwrap_or(m.bits.len()) as u32;
                prop_assert_eq!(b.get(18, IMAGE_TRANSFER, 4), Ok(Data::DoubleLongUnsigned(first_gap)));
                prop_assert_eq!(b.get(18, IMAGE_TRANSFER, 6), Ok(Data::Enum(m.status)));
            }
        }
    }
}

mod faults {
    use super::*;
    use crate::faults::Faults;

    fn meter(faults: Faults) -> Meter {
        Meter::new(MeterConfig { faults, ..config() })
    }

    #[test]
    fn a_lost_block_is_acknowledged_but_missing_until_sent_again() {
        let mut b = Bench::public(meter(Faults {
            lose_blocks: [1].into(),
            ..Faults::default()
        }));
        b.initiate(b"x", 600);
        for n in 0..3 {
            assert_eq!(b.block(n, &[n as u8; 200]), R::SUCCESS);
        }
        assert_eq!(
            b.get(18, IMAGE_TRANSFER, 4),
            Ok(Data::DoubleLongUnsigned(1))
        );
        assert_eq!(b.block(1, &[1; 200]), R::SUCCESS);
        assert_eq!(
            b.get(18, IMAGE_TRANSFER, 4),
            Ok(Data::DoubleLongUnsigned(3))
        );
    }

    #[test]
    fn a_power_cut_at_a_block_gives_no_reply_and_keeps_earlier_blocks() {
        let mut b = Bench::public(meter(Faults {
            reboot_at_block: Some(2),
            ..Faults::default()
        }));
        b.initiate(b"x", 600);
        b.block(0, &[0; 200]);
        b.block(1, &[1; 200]);
        let req = image_request(
            2,
            Data::Structure(vec![Data::DoubleLongUnsigned(2), Data::octets(&[2; 200])]),
        );
        assert_eq!(b.raw(&req), None);
        assert!(b.meter.is_offline());
        b.wait_until_online();
        let mut b = Bench::public(b.meter);
        assert_eq!(
            b.get(18, IMAGE_TRANSFER, 4),
            Ok(Data::DoubleLongUnsigned(2))
        );
    }

    #[test]
    fn silent_activation_reboots_without_a_reply() {
        let mut b = Bench::public(meter(Faults {
            silent_activation: true,
            ..Faults::default()
        }));
        let image = signed_image(1, "APP-6.0.0", 300);
        b.initiate(b"x", image.len());
        b.send_image(&image, &[]);
        let activate = image_request(4, Data::Integer(0));
        assert_eq!(b.raw(&activate), None);
        b.wait_until_online();
        assert_eq!(b.meter.state().parts[1].active.identifier, b"APP-6.0.0");
    }

    #[test]
    fn a_cut_connection_drops_the_association() {
        let mut b = Bench::public(meter(Faults {
            cut_connection_at_request: Some(3),
            ..Faults::default()
        }));
        assert!(b.get(18, IMAGE_TRANSFER, 2).is_ok());
        let get = GetRequest::Normal {
            iip: InvokeIdAndPriority(0xC1),
            attribute: AttributeWithSelection::plain(AttributeDescriptor {
                class_id: 18,
                instance: IMAGE_TRANSFER,
                attribute_id: 2,
            }),
        };
        assert_eq!(b.raw(&get.to_bytes()), None);
        assert_eq!(b.meter.poll_event(), Some(MeterEvent::CutConnections));
        let reply = b.raw(&get.to_bytes()).unwrap();
        assert!(
            matches!(Apdu::decode(&reply).unwrap(), Apdu::ExceptionResponse(_)),
            "no association any more"
        );
    }
}

mod service_faults {
    //! The service and meter-life faults of scenarios, each seen on the wire.
    use super::*;
    use crate::faults::{BusySpell, Faults};

    fn bench(faults: Faults) -> Bench {
        Bench::public(Meter::new(MeterConfig { faults, ..config() }))
    }

    fn get_request() -> Vec<u8> {
        GetRequest::Normal {
            iip: InvokeIdAndPriority(0xC1),
            attribute: AttributeWithSelection::plain(AttributeDescriptor {
                class_id: 18,
                instance: IMAGE_TRANSFER,
                attribute_id: 2,
            }),
        }
        .to_bytes()
    }

    #[test]
    fn a_reboot_at_a_random_request_gives_no_reply_and_takes_the_meter_offline() {
        // Request 1 is the AARQ.
        let mut b = bench(Faults {
            reboot_at_request: Some(3),
            ..Faults::default()
        });
        assert!(b.get(18, IMAGE_TRANSFER, 2).is_ok());
        assert_eq!(b.raw(&get_request()), None);
        assert!(b.meter.is_offline());
        assert_eq!(b.meter.stats().power_cuts, 1);
        b.wait_until_online();
        b.associate().unwrap();
        assert!(b.get(18, IMAGE_TRANSFER, 2).is_ok(), "once only");
    }

    #[test]
    fn a_dropped_reply_still_carries_the_request_out() {
        let mut b = bench(Faults {
            drop_reply_at_request: Some(2),
            ..Faults::default()
        });
        let initiate = image_request(
            1,
            Data::Structure(vec![Data::octets(b"APP-2"), Data::DoubleLongUnsigned(1000)]),
        );
        assert_eq!(b.raw(&initiate), None, "the reply is lost");
        assert_eq!(
            b.get(18, IMAGE_TRANSFER, 6),
            Ok(Data::Enum(1)),
            "but the transfer was initiated"
        );
        assert_eq!(b.meter.stats().dropped_replies, 1);
    }

    #[test]
    fn a_busy_meter_answers_its_result_for_a_while_without_doing_anything() {
        let mut b = bench(Faults {
            busy: Some(BusySpell {
                from_request: 2,
                requests: 3,
                result: 2,
            }),
            ..Faults::default()
        });
        for _ in 0..3 {
            assert_eq!(b.get(18, IMAGE_TRANSFER, 2), Err(R::TEMPORARY_FAILURE));
        }
        assert_eq!(
            b.get(18, IMAGE_TRANSFER, 2),
            Ok(Data::DoubleLongUnsigned(200))
        );
        assert_eq!(b.meter.stats().busy_replies, 3);
    }

    #[test]
    fn a_busy_meter_refuses_ciphered_requests_too() {
        let faults = Faults {
            busy: Some(BusySpell {
                from_request: 3,
                requests: 2,
                result: 2,
            }),
            ..Faults::default()
        };
        let mut b = Bench::new(
            Meter::new(MeterConfig { faults, ..config() }),
            48,
            ClientAuthentication::HlsGmac {
                ctos: b"0123456789ABCDEF".to_vec(),
            },
        );
        // Requests 1 and 2: the AARQ and reply_to_HLS_authentication.
        b.associate().unwrap();
        for _ in 0..2 {
            assert_eq!(b.get(18, IMAGE_TRANSFER, 2), Err(R::TEMPORARY_FAILURE));
        }
        assert_eq!(
            b.get(18, IMAGE_TRANSFER, 2),
            Ok(Data::DoubleLongUnsigned(200))
        );
        assert_eq!(b.meter.stats().busy_replies, 2);
    }

    #[test]
    fn a_busy_meter_drops_an_unconfirmed_block_silently() {
        let mut b = bench(Faults {
            busy: Some(BusySpell {
                from_request: 3,
                requests: 1,
                result: 2,
            }),
            ..Faults::default()
        });
        b.initiate(b"APP-2", 1000);
        assert_eq!(b.raw(&unconfirmed_block(0, &[1; 200])), None);
        assert_eq!(b.meter.stats().busy_replies, 1);
        assert_eq!(
            b.get(18, IMAGE_TRANSFER, 4),
            Ok(Data::DoubleLongUnsigned(0)),
            "the block was not taken"
        );
    }

    #[test]
    fn storage_full_refuses_the_first_initiate_only() {
        let mut b = bench(Faults {
            storage_full_initiates: 1,
            ..Faults::default()
        });
        assert_eq!(b.initiate(b"APP-2", 1000), R::OTHER_REASON);
        assert_eq!(b.get(18, IMAGE_TRANSFER, 6), Ok(Data::Enum(0)));
        assert_eq!(b.initiate(b"APP-2", 1000), R::SUCCESS);
    }

    #[test]
    fn a_drifting_clock_does_not_stretch_a_verification() {
        let mut b = Bench::public(Meter::new(MeterConfig {
            faults: Faults {
                clock_drift_ms: 3_600_000,
                ..Faults::default()
            },
            profile: MeterProfile {
                verify_ms: 500,
                ..bench_profile()
            },
            ..config()
        }));
        let image = signed_image(1, "APP-2.0.0", 600);
        assert_eq!(b.initiate(b"APP-2.0.0", image.len()), R::SUCCESS);
        b.send_image(&image, &[]);
        assert_eq!(b.image_action(3, Data::Integer(0)), R::TEMPORARY_FAILURE);
        assert_eq!(b.meter.poll_timeout(), Some(b.now + 500), "in real time");
        b.now += 500;
        b.meter.handle_timeout(b.now);
        assert_eq!(b.get(18, IMAGE_TRANSFER, 6), Ok(Data::Enum(3)));
    }

    #[test]
    fn clock_drift_shows_in_the_clock_attribute() {
        let read = |drift_ms| {
            let mut b = bench(Faults {
                clock_drift_ms: drift_ms,
                ..Faults::default()
            });
            match b.get(8, ObisCode::new(0, 0, 1, 0, 0, 255), 2) {
                Ok(Data::OctetString(bytes)) => bytes.to_vec(),
                other => panic!("clock time: {other:?}"),
            }
        };
        assert_ne!(
            read(0),
            read(3_600_000),
            "an hour of drift changes the time read"
        );
    }
}

mod quirks {
    //! Every quirk and every variant is observable on the wire: the same exchange gives a
    //! different answer from a meter with it than from a strict one.
    use super::*;
    use crate::profile::{Quirk, Variant};

    /// A quirk or a variant.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Choice {
        Q(Quirk),
        V(Variant),
    }

    impl Choice {
        fn every() -> Vec<Choice> {
            let quirks = Quirk::ALL.map(Choice::Q);
            quirks
                .into_iter()
                .chain(Variant::ALL.map(Choice::V))
                .collect()
        }

        /// The default profile with this choice.
        fn profile(self) -> MeterProfile {
            let mut profile = bench_profile();
            match self {
                Choice::Q(q) => profile.quirks = [q].into(),
                Choice::V(v) => profile.variants = [v].into(),
            }
            profile
        }
    }

    /// Block `n` of zeros as a group request under the default broadcast keys, at counter `ic`.
    fn group_block(n: u32, ic: u32) -> Vec<u8> {
        let keys = MeterKeys::default();
        let broadcast = Keys {
            encryption: keys.broadcast_key,
            authentication: keys.keys.authentication,
        };
        dlms::security::protect_group(
            &broadcast,
            b"HEADEND1",
            ic,
            &unconfirmed_block(n, &[0; 200]),
        )
        .unwrap()
    }

    /// The exchange that shows `choice`, run on a meter with `profile`; what the client saw.
    fn observe(choice: Choice, mut profile: MeterProfile) -> String {
        if choice == Choice::V(Variant::HardwareFaultWhileVerifying) {
            profile.verify_ms = 1000;
        }
        if choice == Choice::Q(Quirk::BroadcastWhenMulticastOnly) {
            profile.group.addressing = crate::profile::GroupAddressing::MulticastOnly;
        }
        let kept = profile.clone();
        let mut b = Bench::public(Meter::new(MeterConfig {
            profile,
            ..config()
        }));
        let image = signed_image(1, "APP-7.0.0", 900);
        let seen = match choice {
            Choice::Q(Quirk::ReversedBitOrder | Quirk::BitStringLengthInBytes) => {
                b.initiate(b"x", 1000);
                b.block(0, &[0; 200]);
                format!("{:?}", b.get(18, IMAGE_TRANSFER, 3))
            }
            Choice::Q(Quirk::FirstNotTransferredIsLastPlusOne) => {
                b.initiate(b"x", 1000);
                b.block(0, &[0; 200]);
                b.block(3, &[0; 200]);
                format!("{:?}", b.get(18, IMAGE_TRANSFER, 4))
            }
            Choice::Q(Quirk::NoRangeCheck) => {
                b.initiate(b"x", 1000);
                format!("{:?}", b.block(99, &[0; 200]))
            }
            Choice::Q(Quirk::VerifyIgnoresMissingBlocks) => {
                b.initiate(b"x", 1000);
                b.block(0, &[0; 200]);
                format!("{:?}", b.image_action(3, Data::Integer(0)))
            }
            Choice::Q(Quirk::NoSignatureCheck) => {
                let bad = dlms::image::corrupt(&image, dlms::image::Corruption::BadSignature, None)
                    .unwrap();
                b.initiate(b"x", bad.len());
                b.send_image(&bad, &[]);
                format!("{:?}", b.image_action(3, Data::Integer(0)))
            }
            Choice::Q(Quirk::ForgetsBlocksOnReboot) => {
                b.initiate(b"x", 1000);
                b.block(0, &[0; 200]);
                b.meter.reboot(b.now, 10);
                b.wait_until_online();
                let mut b = Bench::public(b.meter);
                format!("{:?}", b.get(18, IMAGE_TRANSFER, 4))
            }
            Choice::Q(Quirk::GroupReplayAccepted) => {
                b.initiate(b"x", 1000);
                let first =
                    b.meter
                        .handle_group(b.now, GroupAddress::Multicast, 102, &group_block(0, 5));
                let again =
                    b.meter
                        .handle_group(b.now, GroupAddress::Multicast, 102, &group_block(1, 5));
                format!("{first:?} {again:?}")
            }
            Choice::Q(Quirk::BroadcastWhenMulticastOnly) => {
                b.initiate(b"x", 1000);
                let seen =
                    b.meter
                        .handle_group(b.now, GroupAddress::Broadcast, 102, &group_block(0, 1));
                format!("{seen:?}")
            }
            Choice::V(Variant::HardwareFaultForEmptyInfo) => {
                format!("{:?}", b.get(18, IMAGE_TRANSFER, 7))
            }
            Choice::Q(Quirk::TrueOnlyAsFf) => {
                format!("{:?}", b.set(18, IMAGE_TRANSFER, 5, Data::Boolean(true)))
            }
            Choice::V(Variant::TransferDisabledAtStart) => {
                format!("{:?}", b.get(18, IMAGE_TRANSFER, 5))
            }
            Choice::Q(Quirk::ActivationWithoutReply) => {
                b.initiate(b"x", image.len());
                b.send_image(&image, &[]);
                let activate = image_request(4, Data::Integer(0));
                format!("{:?}", b.raw(&activate))
            }
            Choice::Q(Quirk::StatusStaysZeroAfterInitiate) => {
                b.initiate(b"x", 1000);
                format!("{:?}", b.get(18, IMAGE_TRANSFER, 6))
            }
            Choice::V(Variant::CorruptIdentifierFailsVerification) => {
                b.initiate(b"APP-7.0.0.corrupt", image.len());
                b.send_image(&image, &[]);
                format!("{:?}", b.image_action(3, Data::Integer(0)))
            }
            Choice::Q(Quirk::NoEnabledOrStatusChecks) => {
                b.initiate(b"x", 1000);
                b.set(18, IMAGE_TRANSFER, 5, Data::Boolean(false));
                format!("{:?}", b.block(0, &[0; 200]))
            }
            Choice::Q(Quirk::InvokeIdNotEchoed) => {
                let second = GetRequest::Normal {
                    iip: InvokeIdAndPriority(0xC5),
                    attribute: AttributeWithSelection::plain(it::attribute(9)),
                };
                format!("{:?}", b.raw(&Apdu::GetRequest(second).to_bytes()))
            }
            Choice::Q(Quirk::ServesBeforeAuthentication) => {
                let mut early = Bench::new(
                    Meter::new(MeterConfig {
                        profile: kept,
                        ..config()
                    }),
                    48,
                    ClientAuthentication::HlsGmac {
                        ctos: b"0123456789ABCDEF".to_vec(),
                    },
                );
                let reply = early.raw(&early.settings.aarq().to_bytes()).unwrap();
                let aare = Aare::decode(&reply).unwrap();
                early.client = Some(early.settings.check_aare(&aare).unwrap());
                format!("{:?}", early.get(18, IMAGE_TRANSFER, 2))
            }
            Choice::V(Variant::HardwareFaultWhileVerifying) => {
                b.initiate(b"x", image.len());
                b.send_image(&image, &[]);
                b.image_action(3, Data::Integer(0));
                format!("{:?}", b.image_action(3, Data::Integer(0)))
            }
            Choice::Q(Quirk::NoImplicitVerify) => {
                b.initiate(b"x", image.len());
                b.send_image(&image, &[]);
                format!("{:?}", b.image_action(4, Data::Integer(0)))
            }
            Choice::V(Variant::PaddedLastBlockRequired) => {
                b.initiate(b"x", 900);
                format!("{:?}", b.block(4, &[0; 100]))
            }
        };
        seen
    }

    #[test]
    fn every_quirk_and_variant_is_observable_on_the_wire() {
        for choice in Choice::every() {
            let strict = observe(choice, bench_profile());
            let chosen = observe(choice, choice.profile());
            assert_ne!(strict, chosen, "{choice:?} is not visible");
        }
    }

    #[test]
    fn a_required_identifier_refuses_others() {
        let profile = MeterProfile {
            required_identifier: Some("VENDOR-FW-7".into()),
            ..bench_profile()
        };
        let mut b = Bench::public(Meter::new(MeterConfig {
            profile,
            ..config()
        }));
        assert_eq!(b.initiate(b"anything", 1000), R::OTHER_REASON);
        assert_eq!(b.initiate(b"VENDOR-FW-7", 1000), R::SUCCESS);
    }
}

mod group_requests {
    use super::*;
    use crate::profile::{GroupAddressing, GroupSecurity};
    use dlms::cosem::BROADCAST_INVOCATION_COUNTER;

    fn broadcast_keys() -> Keys {
        let keys = MeterKeys::default();
        Keys {
            encryption: keys.broadcast_key,
            authentication: keys.keys.authentication,
        }
    }

    /// Block `n` as a head-end sends it to a group: unconfirmed, under the broadcast key.
    fn group_block(n: u32, ic: u32) -> Vec<u8> {
        dlms::security::protect_group(
            &broadcast_keys(),
            b"HEADEND1",
            ic,
            &unconfirmed_block(n, &[7; 200]),
        )
        .unwrap()
    }

    fn send(b: &mut Bench, address: GroupAddress, request: &[u8]) -> GroupOutcome {
        b.meter.handle_group(b.now, address, 102, request)
    }

    fn bits(b: &mut Bench) -> Vec<bool> {
        let Ok(Data::BitString(bits)) = b.get(18, IMAGE_TRANSFER, 3) else {
            panic!("no bit-string")
        };
        (0..5).map(|i| bits.get(i).unwrap_or(false)).collect()
    }

    #[test]
    fn a_meter_not_initiated_discards_group_blocks_and_an_initiated_one_keeps_them() {
        let mut b = Bench::public(Meter::new(config()));
        let before = b.meter.state().transfer.clone();
        assert_eq!(
            send(&mut b, GroupAddress::Multicast, &group_block(0, 1)),
            GroupOutcome::Refused
        );
        assert_eq!(b.meter.state().transfer, before);
        b.initiate(b"COM-2.0.0", 1000);
        assert_eq!(
            send(&mut b, GroupAddress::Broadcast, &group_block(1, 2)),
            GroupOutcome::Applied
        );
        assert_eq!(
            send(&mut b, GroupAddress::Multicast, &group_block(3, 3)),
            GroupOutcome::Applied
        );
        assert_eq!(bits(&mut b), [false, true, false, true, false]);
        assert_eq!(b.meter.stats().group_requests, 3);
    }

    #[test]
    fn a_replayed_broadcast_counter_is_refused_and_the_counter_is_readable() {
        let mut b = Bench::public(Meter::new(config()));
        b.initiate(b"COM-2.0.0", 1000);
        assert_eq!(
            b.get(1, BROADCAST_INVOCATION_COUNTER, 2),
            Ok(Data::DoubleLongUnsigned(0))
        );
        let block = group_block(0, 41);
        assert_eq!(
            send(&mut b, GroupAddress::Multicast, &block),
            GroupOutcome::Applied
        );
        let replay = GroupOutcome::Discarded(GroupDiscard::Replay);
        assert_eq!(send(&mut b, GroupAddress::Multicast, &block), replay);
        assert_eq!(
            send(&mut b, GroupAddress::Multicast, &group_block(1, 40)),
            replay
        );
        assert_eq!(bits(&mut b), [true, false, false, false, false]);
        assert_eq!(
            b.get(1, BROADCAST_INVOCATION_COUNTER, 2),
            Ok(Data::DoubleLongUnsigned(41))
        );
        assert_eq!(b.meter.stats().group_replays, 2);
        // The counter survives a reboot: the state keeps it.
        let state = b.meter.state().clone();
        let mut b = Bench::public(Meter::with_state(config(), state));
        assert_eq!(send(&mut b, GroupAddress::Multicast, &block), replay);
    }

    #[test]
    fn a_multicast_only_meter_refuses_broadcast() {
        let mut config = config();
        config.profile.group.addressing = GroupAddressing::MulticastOnly;
        let mut b = Bench::public(Meter::new(config));
        b.initiate(b"COM-2.0.0", 1000);
        assert_eq!(
            send(&mut b, GroupAddress::Broadcast, &group_block(0, 1)),
            GroupOutcome::Discarded(GroupDiscard::Addressing)
        );
        assert_eq!(
            send(&mut b, GroupAddress::Multicast, &group_block(0, 2)),
            GroupOutcome::Applied
        );
    }

    #[test]
    fn only_protected_unconfirmed_requests_of_the_group_client_are_served() {
        let mut b = Bench::public(Meter::new(config()));
        b.initiate(b"COM-2.0.0", 1000);
        let plain = unconfirmed_block(0, &[7; 200]);
        assert_eq!(
            send(&mut b, GroupAddress::Multicast, &plain),
            GroupOutcome::Discarded(GroupDiscard::Unprotected)
        );
        let confirmed = dlms::security::protect_group(
            &broadcast_keys(),
            b"HEADEND1",
            5,
            &image_request(
                2,
                Data::Structure(vec![Data::DoubleLongUnsigned(0), Data::octets(&[7; 200])]),
            ),
        )
        .unwrap();
        assert_eq!(
            send(&mut b, GroupAddress::Multicast, &confirmed),
            GroupOutcome::Discarded(GroupDiscard::Service)
        );
        assert_eq!(
            b.meter
                .handle_group(b.now, GroupAddress::Multicast, 16, &group_block(0, 6)),
            GroupOutcome::Discarded(GroupDiscard::Client)
        );
        let mut forged = group_block(0, 7);
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(
            send(&mut b, GroupAddress::Multicast, &forged),
            GroupOutcome::Discarded(GroupDiscard::Deciphering)
        );
        assert_eq!(bits(&mut b), [false; 5]);
        // Without the broadcast key requirement, a plain request is served.
        let mut config = config();
        config.profile.group.security = GroupSecurity::None;
        let mut b = Bench::public(Meter::new(config));
        b.initiate(b"COM-2.0.0", 1000);
        assert_eq!(
            send(&mut b, GroupAddress::Broadcast, &plain),
            GroupOutcome::Applied
        );
    }

    #[test]
    fn the_group_client_cannot_associate() {
        let mut b = Bench::new(Meter::new(config()), 102, ClientAuthentication::None);
        assert!(b.associate().is_err());
    }
}
