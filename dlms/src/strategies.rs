//! proptest strategies shared by the crate's round-trip tests.

use crate::axdr::{
    BitString, CompactArray, Data, Date, DateTime, EncodedData, Time, TypeDescription,
};
use proptest::collection::vec;
use proptest::prelude::*;
use std::borrow::Cow;

/// Arbitrary bytes up to `max` long.
pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn owned(max: usize) -> impl Strategy<Value = Cow<'static, [u8]>> {
    bytes(max).prop_map(Cow::Owned)
}

fn date() -> impl Strategy<Value = Date> {
    (any::<u16>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(year, month, day, dow)| Date {
        year,
        month,
        day,
        day_of_week: dow,
    })
}

fn time() -> impl Strategy<Value = Time> {
    any::<[u8; 4]>().prop_map(|[hour, minute, second, hundredths]| Time {
        hour,
        minute,
        second,
        hundredths,
    })
}

fn bit_string() -> impl Strategy<Value = BitString<'static>> {
    vec(any::<bool>(), 0..80).prop_map(BitString::from_bools)
}

fn compact_array() -> impl Strategy<Value = CompactArray<'static>> {
    vec((any::<u16>(), bytes(8)), 0..5).prop_map(|items| {
        let td = TypeDescription::Structure(vec![
            TypeDescription::Simple(crate::axdr::tag::LONG_UNSIGNED),
            TypeDescription::Simple(crate::axdr::tag::OCTET_STRING),
        ]);
        let elems: Vec<Data> = items
            .into_iter()
            .map(|(n, b)| Data::Structure(vec![Data::LongUnsigned(n), Data::OctetString(b.into())]))
            .collect();
        CompactArray::from_elements(td, &elems).expect("elements match the description")
    })
}

/// Any simple (non-nested) A-XDR value with finite floats.
pub fn simple_data() -> impl Strategy<Value = Data<'static>> {
    prop_oneof![
        Just(Data::Null),
        any::<bool>().prop_map(Data::Boolean),
        bit_string().prop_map(Data::BitString),
        any::<i32>().prop_map(Data::DoubleLong),
        any::<u32>().prop_map(Data::DoubleLongUnsigned),
        owned(300).prop_map(Data::OctetString),
        owned(20).prop_map(Data::VisibleString),
        owned(20).prop_map(Data::Utf8String),
        any::<u8>().prop_map(Data::Bcd),
        any::<i8>().prop_map(Data::Integer),
        any::<i16>().prop_map(Data::Long),
        any::<u8>().prop_map(Data::Unsigned),
        any::<u16>().prop_map(Data::LongUnsigned),
        compact_array().prop_map(Data::CompactArray),
        any::<i64>().prop_map(Data::Long64),
        any::<u64>().prop_map(Data::Long64Unsigned),
        any::<u8>().prop_map(Data::Enum),
        (-1.0e30f32..1.0e30).prop_map(Data::Float32),
        (-1.0e300f64..1.0e300).prop_map(Data::Float64),
        (date(), time(), any::<i16>(), any::<u8>()).prop_map(|(date, time, deviation, cs)| {
            Data::DateTime(DateTime {
                date,
                time,
                deviation,
                clock_status: cs,
            })
        }),
        date().prop_map(Data::Date),
        time().prop_map(Data::Time),
    ]
}

/// Any A-XDR value, nested up to a few levels.
pub fn data() -> impl Strategy<Value = Data<'static>> {
    simple_data().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Data::Array),
            vec(inner, 0..8).prop_map(Data::Structure),
        ]
    })
}

use crate::acse::{
    Aare, Aarq, AssociationResult, InitiateRequest, InitiateResponse, RequestUserInformation,
    ResponseUserInformation, Rlre, Rlrq, SourceDiagnostic,
};
use crate::apdu::{
    ActionOutcome, ActionRequest, ActionResponse, Apdu, AttributeDescriptor,
    AttributeWithSelection, CipheredApdu, ConfirmedServiceError, DataAccessResult, DataBlockG,
    DataBlockSa, DataNotification, EventNotification, ExceptionResponse, GeneralBlockTransfer,
    GeneralCiphering, GetDataResult, GetRequest, GetResponse, InvokeIdAndPriority,
    MethodDescriptor, ObisCode, SelectiveAccess, ServiceError, SetRequest, SetResponse, StateError,
    CIPHERED_TAGS,
};
use crate::conformance::Conformance;

fn iip() -> impl Strategy<Value = InvokeIdAndPriority> {
    any::<u8>().prop_map(InvokeIdAndPriority)
}

fn dar() -> impl Strategy<Value = DataAccessResult> {
    any::<u8>().prop_map(DataAccessResult)
}

fn attribute() -> impl Strategy<Value = AttributeDescriptor> {
    (any::<u16>(), any::<[u8; 6]>(), any::<i8>()).prop_map(|(class_id, ln, attribute_id)| {
        AttributeDescriptor {
            class_id,
            instance: ObisCode(ln),
            attribute_id,
        }
    })
}

fn method() -> impl Strategy<Value = MethodDescriptor> {
    (any::<u16>(), any::<[u8; 6]>(), any::<i8>()).prop_map(|(class_id, ln, method_id)| {
        MethodDescriptor {
            class_id,
            instance: ObisCode(ln),
            method_id,
        }
    })
}

fn with_selection() -> impl Strategy<Value = AttributeWithSelection<'static>> {
    (
        attribute(),
        proptest::option::of((any::<u8>(), simple_encoded())),
    )
        .prop_map(|(a, sel)| AttributeWithSelection {
            attribute: a,
            access: sel.map(|(selector, parameters)| SelectiveAccess {
                selector,
                parameters,
            }),
        })
}

fn get_data_result() -> impl Strategy<Value = GetDataResult<'static>> {
    prop_oneof![
        encoded().prop_map(GetDataResult::Data),
        dar().prop_map(GetDataResult::Error)
    ]
}

fn block_sa() -> impl Strategy<Value = DataBlockSa<'static>> {
    (any::<bool>(), any::<u32>(), owned(300)).prop_map(|(last_block, block_number, raw_data)| {
        DataBlockSa {
            last_block,
            block_number,
            raw_data,
        }
    })
}

fn get_request() -> impl Strategy<Value = GetRequest<'static>> {
    prop_oneof![
        (iip(), with_selection())
            .prop_map(|(iip, attribute)| GetRequest::Normal { iip, attribute }),
        (iip(), any::<u32>())
            .prop_map(|(iip, block_number)| GetRequest::Next { iip, block_number }),
        (iip(), vec(with_selection(), 0..4))
            .prop_map(|(iip, attributes)| GetRequest::WithList { iip, attributes }),
    ]
}

fn get_response() -> impl Strategy<Value = GetResponse<'static>> {
    let block = (
        any::<bool>(),
        any::<u32>(),
        prop_oneof![owned(300).prop_map(Ok), dar().prop_map(Err)],
    )
        .prop_map(|(last_block, block_number, result)| DataBlockG {
            last_block,
            block_number,
            result,
        });
    prop_oneof![
        (iip(), get_data_result()).prop_map(|(iip, result)| GetResponse::Normal { iip, result }),
        (iip(), block).prop_map(|(iip, block)| GetResponse::WithDatablock { iip, block }),
        (iip(), vec(get_data_result(), 0..4))
            .prop_map(|(iip, results)| GetResponse::WithList { iip, results }),
    ]
}

fn set_request() -> impl Strategy<Value = SetRequest<'static>> {
    prop_oneof![
        (iip(), with_selection(), encoded()).prop_map(|(iip, attribute, value)| {
            SetRequest::Normal {
                iip,
                attribute,
                value,
            }
        }),
        (iip(), with_selection(), block_sa()).prop_map(|(iip, attribute, block)| {
            SetRequest::WithFirstDatablock {
                iip,
                attribute,
                block,
            }
        }),
        (iip(), block_sa()).prop_map(|(iip, block)| SetRequest::WithDatablock { iip, block }),
        (iip(), vec(with_selection(), 0..3), vec(encoded(), 0..3)).prop_map(
            |(iip, attributes, values)| SetRequest::WithList {
                iip,
                attributes,
                values
            }
        ),
        (iip(), vec(with_selection(), 0..3), block_sa()).prop_map(|(iip, attributes, block)| {
            SetRequest::WithListAndFirstDatablock {
                iip,
                attributes,
                block,
            }
        }),
    ]
}

fn set_response() -> impl Strategy<Value = SetResponse> {
    prop_oneof![
        (iip(), dar()).prop_map(|(iip, result)| SetResponse::Normal { iip, result }),
        (iip(), any::<u32>())
            .prop_map(|(iip, block_number)| SetResponse::Datablock { iip, block_number }),
        (iip(), dar(), any::<u32>()).prop_map(|(iip, result, block_number)| {
            SetResponse::LastDatablock {
                iip,
                result,
                block_number,
            }
        }),
        (iip(), vec(dar(), 0..4), any::<u32>()).prop_map(|(iip, results, block_number)| {
            SetResponse::LastDatablockWithList {
                iip,
                results,
                block_number,
            }
        }),
        (iip(), vec(dar(), 0..4)).prop_map(|(iip, results)| SetResponse::WithList { iip, results }),
    ]
}

fn action_request() -> impl Strategy<Value = ActionRequest<'static>> {
    prop_oneof![
        (iip(), method(), proptest::option::of(encoded())).prop_map(|(iip, method, parameters)| {
            ActionRequest::Normal {
                iip,
                method,
                parameters,
            }
        }),
        (iip(), any::<u32>())
            .prop_map(|(iip, block_number)| ActionRequest::NextPblock { iip, block_number }),
        (iip(), vec(method(), 0..3), vec(encoded(), 0..3)).prop_map(
            |(iip, methods, parameters)| {
                ActionRequest::WithList {
                    iip,
                    methods,
                    parameters,
                }
            }
        ),
        (iip(), method(), block_sa())
            .prop_map(|(iip, method, block)| ActionRequest::WithFirstPblock { iip, method, block }),
        (iip(), vec(method(), 0..3), block_sa()).prop_map(|(iip, methods, block)| {
            ActionRequest::WithListAndFirstPblock {
                iip,
                methods,
                block,
            }
        }),
        (iip(), block_sa()).prop_map(|(iip, block)| ActionRequest::WithPblock { iip, block }),
    ]
}

fn action_outcome() -> impl Strategy<Value = ActionOutcome<'static>> {
    (dar(), proptest::option::of(get_data_result())).prop_map(|(result, return_parameters)| {
        ActionOutcome {
            result,
            return_parameters,
        }
    })
}

fn action_response() -> impl Strategy<Value = ActionResponse<'static>> {
    prop_oneof![
        (iip(), action_outcome())
            .prop_map(|(iip, outcome)| ActionResponse::Normal { iip, outcome }),
        (iip(), block_sa()).prop_map(|(iip, block)| ActionResponse::WithPblock { iip, block }),
        (iip(), vec(action_outcome(), 0..4))
            .prop_map(|(iip, outcomes)| ActionResponse::WithList { iip, outcomes }),
        (iip(), any::<u32>())
            .prop_map(|(iip, block_number)| ActionResponse::NextPblock { iip, block_number }),
    ]
}

fn exception() -> impl Strategy<Value = ExceptionResponse> {
    let state = prop_oneof![
        Just(StateError::ServiceNotAllowed),
        Just(StateError::ServiceUnknown)
    ];
    let service = prop_oneof![
        Just(ServiceError::OperationNotPossible),
        Just(ServiceError::ServiceNotSupported),
        Just(ServiceError::OtherReason),
        Just(ServiceError::PduTooLong),
        Just(ServiceError::DecipheringError),
        any::<u32>().prop_map(ServiceError::InvocationCounterError),
    ];
    (state, service).prop_map(|(state_error, service_error)| ExceptionResponse {
        state_error,
        service_error,
    })
}

fn ciphered() -> impl Strategy<Value = CipheredApdu<'static>> {
    (
        proptest::sample::select(CIPHERED_TAGS.to_vec()),
        any::<u8>(),
        any::<u32>(),
        owned(64),
    )
        .prop_map(
            |(tag, security_control, invocation_counter, payload)| CipheredApdu {
                tag,
                security_control,
                invocation_counter,
                payload,
            },
        )
}

fn conformance() -> impl Strategy<Value = Conformance> {
    (0u32..0x100_0000).prop_map(Conformance::from_bits_retain)
}

fn initiate_request() -> impl Strategy<Value = InitiateRequest> {
    (
        proptest::option::of(bytes(17)),
        any::<bool>(),
        proptest::option::of(any::<i8>()),
        any::<u8>(),
        conformance(),
        any::<u16>(),
    )
        .prop_map(
            |(dedicated_key, response_allowed, qos, version, conf, pdu)| InitiateRequest {
                dedicated_key,
                response_allowed,
                proposed_quality_of_service: qos,
                proposed_dlms_version: version,
                proposed_conformance: conf,
                client_max_receive_pdu_size: pdu,
            },
        )
}

fn initiate_response() -> impl Strategy<Value = InitiateResponse> {
    (
        proptest::option::of(any::<i8>()),
        any::<u8>(),
        conformance(),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(|(qos, version, conf, pdu, vaa)| InitiateResponse {
            negotiated_quality_of_service: qos,
            negotiated_dlms_version: version,
            negotiated_conformance: conf,
            server_max_receive_pdu_size: pdu,
            vaa_name: vaa,
        })
}

fn request_info() -> impl Strategy<Value = RequestUserInformation> {
    let glo = ciphered().prop_map(|mut c| {
        c.tag = 0x21;
        RequestUserInformation::Ciphered(c)
    });
    prop_oneof![
        initiate_request().prop_map(RequestUserInformation::Initiate),
        glo
    ]
}

fn response_info() -> impl Strategy<Value = ResponseUserInformation> {
    let glo = ciphered().prop_map(|mut c| {
        c.tag = 0x28;
        ResponseUserInformation::Ciphered(c)
    });
    let error = (any::<u8>(), 0u8..=10, any::<u8>()).prop_map(|(service, class, value)| {
        ResponseUserInformation::Error(ConfirmedServiceError {
            service,
            class,
            value,
        })
    });
    prop_oneof![
        initiate_response().prop_map(ResponseUserInformation::Initiate),
        error,
        glo
    ]
}

/// Any AARQ.
pub fn aarq() -> impl Strategy<Value = Aarq> {
    (
        any::<u8>(),
        proptest::option::of(bytes(9)),
        any::<bool>(),
        proptest::option::of(any::<u8>()),
        proptest::option::of(bytes(40)),
        proptest::option::of(request_info()),
    )
        .prop_map(|(ctx, title, req, mech, auth, info)| Aarq {
            application_context: ctx,
            calling_ap_title: title,
            sender_acse_requirements: req,
            mechanism: mech,
            calling_authentication_value: auth,
            user_information: info,
        })
}

/// Any AARE.
pub fn aare() -> impl Strategy<Value = Aare> {
    let result = prop_oneof![
        Just(AssociationResult::Accepted),
        Just(AssociationResult::RejectedPermanent),
        Just(AssociationResult::RejectedTransient),
    ];
    let diag = prop_oneof![
        any::<u8>().prop_map(SourceDiagnostic::User),
        any::<u8>().prop_map(SourceDiagnostic::Provider)
    ];
    (
        (any::<u8>(), result, diag),
        proptest::option::of(bytes(9)),
        any::<bool>(),
        proptest::option::of(any::<u8>()),
        proptest::option::of(bytes(40)),
        proptest::option::of(response_info()),
    )
        .prop_map(
            |((ctx, result, diagnostic), title, req, mech, auth, info)| Aare {
                application_context: ctx,
                result,
                diagnostic,
                responding_ap_title: title,
                responder_acse_requirements: req,
                mechanism: mech,
                responding_authentication_value: auth,
                user_information: info,
            },
        )
}

/// Any APDU this crate encodes.
pub fn apdu() -> impl Strategy<Value = Apdu<'static>> {
    prop_oneof![
        aarq().prop_map(Apdu::Aarq),
        aare().prop_map(Apdu::Aare),
        (
            proptest::option::of(any::<u8>()),
            proptest::option::of(request_info())
        )
            .prop_map(|(reason, user_information)| Apdu::Rlrq(Rlrq {
                reason,
                user_information
            })),
        (
            proptest::option::of(any::<u8>()),
            proptest::option::of(response_info())
        )
            .prop_map(|(reason, user_information)| Apdu::Rlre(Rlre {
                reason,
                user_information
            })),
        get_request().prop_map(Apdu::GetRequest),
        get_response().prop_map(Apdu::GetResponse),
        set_request().prop_map(Apdu::SetRequest),
        set_response().prop_map(Apdu::SetResponse),
        action_request().prop_map(Apdu::ActionRequest),
        action_response().prop_map(Apdu::ActionResponse),
        (proptest::option::of(owned(12)), attribute(), encoded()).prop_map(
            |(time, attribute, value)| {
                Apdu::EventNotification(EventNotification {
                    time,
                    attribute,
                    value,
                })
            }
        ),
        (any::<u32>(), owned(12), encoded()).prop_map(|(long_invoke_id, date_time, body)| {
            Apdu::DataNotification(DataNotification {
                long_invoke_id,
                date_time,
                body,
            })
        }),
        exception().prop_map(Apdu::ExceptionResponse),
        (any::<u8>(), 0u8..=10, any::<u8>()).prop_map(|(service, class, value)| {
            Apdu::ConfirmedServiceError(ConfirmedServiceError {
                service,
                class,
                value,
            })
        }),
        (any::<u8>(), any::<u16>(), any::<u16>(), owned(300)).prop_map(|(c, n, a, d)| {
            Apdu::GeneralBlockTransfer(GeneralBlockTransfer {
                block_control: c,
                block_number: n,
                block_number_ack: a,
                block_data: d,
            })
        }),
        ciphered().prop_map(Apdu::Ciphered),
        (
            any::<bool>(),
            owned(8),
            any::<u8>(),
            any::<u32>(),
            owned(64)
        )
            .prop_map(|(dedicated, st, sc, ic, payload)| Apdu::GeneralCiphering(
                GeneralCiphering {
                    dedicated,
                    system_title: st,
                    security_control: sc,
                    invocation_counter: ic,
                    payload,
                }
            )),
    ]
}

fn encoded() -> impl Strategy<Value = EncodedData<'static>> {
    data().prop_map(EncodedData::from)
}

fn simple_encoded() -> impl Strategy<Value = EncodedData<'static>> {
    simple_data().prop_map(EncodedData::from)
}
