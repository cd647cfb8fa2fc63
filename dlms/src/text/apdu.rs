//! The readable form of APDUs.

use super::data::{octets, write_data};
use super::Lines;
use crate::acse::{
    Aare, Aarq, InitiateRequest, InitiateResponse, RequestUserInformation, ResponseUserInformation,
    SourceDiagnostic,
};
use crate::apdu::{
    ActionOutcome, ActionRequest, ActionResponse, AttributeDescriptor, AttributeWithSelection,
    ConfirmedServiceError, DataAccessResult, DataBlockSa, ExceptionResponse, GetDataResult,
    GetRequest, GetResponse, InvokeIdAndPriority, MethodDescriptor, SetRequest, SetResponse,
};
use crate::axdr::EncodedData;
use crate::cosem::{image_transfer, object_name, ObisCode};
use crate::Apdu;

/// The readable form of `apdu`: a first line naming the service and its invoke-id, then its
/// fields indented.
pub fn apdu(apdu: &Apdu<'_>) -> String {
    let mut out = Lines::new();
    match apdu {
        Apdu::Aarq(a) => aarq(&mut out, a),
        Apdu::Aare(a) => aare(&mut out, a),
        Apdu::Rlrq(r) => {
            out.line("release-request (RLRQ)");
            out.nested(|out| {
                if let Some(reason) = r.reason {
                    out.line(format!("reason {reason}"));
                }
                if let Some(info) = &r.user_information {
                    request_information(out, info);
                }
            });
        }
        Apdu::Rlre(r) => {
            out.line("release-response (RLRE)");
            out.nested(|out| {
                if let Some(reason) = r.reason {
                    out.line(format!("reason {reason}"));
                }
                if let Some(info) = &r.user_information {
                    response_information(out, info);
                }
            });
        }
        Apdu::GetRequest(r) => get_request(&mut out, r),
        Apdu::GetResponse(r) => get_response(&mut out, r),
        Apdu::SetRequest(r) => set_request(&mut out, r),
        Apdu::SetResponse(r) => set_response(&mut out, r),
        Apdu::ActionRequest(r) => action_request(&mut out, r),
        Apdu::ActionResponse(r) => action_response(&mut out, r),
        Apdu::EventNotification(n) => {
            out.line("event-notification-request");
            out.nested(|out| {
                out.line(format!("attribute {}", attribute(&n.attribute)));
                encoded(out, "value: ", &n.value);
            });
        }
        Apdu::DataNotification(n) => {
            out.line(format!(
                "data-notification, long-invoke-id {}",
                n.long_invoke_id
            ));
            out.nested(|out| encoded(out, "body: ", &n.body));
        }
        Apdu::ExceptionResponse(e) => exception(&mut out, e),
        Apdu::ConfirmedServiceError(e) => confirmed_service_error(&mut out, e),
        Apdu::GeneralBlockTransfer(g) => out.line(format!(
            "general-block-transfer, block {} (acknowledging {}), control 0x{:02X}, {} bytes",
            g.block_number,
            g.block_number_ack,
            g.block_control,
            g.block_data.len()
        )),
        Apdu::Ciphered(c) => out.line(format!(
            "ciphered APDU, tag 0x{:02X}, security control 0x{:02X}, invocation counter {}, {} bytes",
            c.tag,
            c.security_control,
            c.invocation_counter,
            c.payload.len()
        )),
        Apdu::GeneralCiphering(c) => out.line(format!(
            "general-{}-ciphering, system title {}, security control 0x{:02X}, invocation counter {}, {} bytes",
            if c.dedicated { "ded" } else { "glo" },
            octets(&c.system_title),
            c.security_control,
            c.invocation_counter,
            c.payload.len()
        )),
    }
    out.text
}

/// "invoke-id 1 (confirmed, high priority)".
fn invoke(iip: InvokeIdAndPriority) -> String {
    format!(
        "invoke-id {} ({}, {} priority)",
        iip.id(),
        if iip.confirmed() {
            "confirmed"
        } else {
            "unconfirmed"
        },
        if iip.high_priority() {
            "high"
        } else {
            "normal"
        }
    )
}

/// The object a descriptor names: its logical name, its name when well known, its class.
fn object(class_id: u16, instance: &ObisCode) -> String {
    match object_name(instance) {
        Some(name) => format!("{instance} {name} (class {class_id})"),
        None => format!("{instance} (class {class_id})"),
    }
}

fn is_image_transfer(class_id: u16, instance: &ObisCode) -> bool {
    class_id == image_transfer::CLASS_ID && *instance == image_transfer::LOGICAL_NAME
}

/// "0-0:44.0.0.255 image transfer (class 18) attribute 6 image_transfer_status".
fn attribute(d: &AttributeDescriptor) -> String {
    let name = is_image_transfer(d.class_id, &d.instance)
        .then(|| image_transfer::attribute_name(d.attribute_id))
        .flatten();
    let mut text = format!(
        "{} attribute {}",
        object(d.class_id, &d.instance),
        d.attribute_id
    );
    if let Some(name) = name {
        text.push(' ');
        text.push_str(name);
    }
    text
}

/// "0-0:44.0.0.255 image transfer (class 18) method 1 image_transfer_initiate".
fn method(d: &MethodDescriptor) -> String {
    let name = is_image_transfer(d.class_id, &d.instance)
        .then(|| image_transfer::method_name(d.method_id))
        .flatten();
    let mut text = format!("{} method {}", object(d.class_id, &d.instance), d.method_id);
    if let Some(name) = name {
        text.push(' ');
        text.push_str(name);
    }
    text
}

fn selected(out: &mut Lines, a: &AttributeWithSelection<'_>) {
    out.line(format!("attribute {}", attribute(&a.attribute)));
    if let Some(access) = &a.access {
        out.nested(|out| {
            encoded(
                out,
                &format!("selective access {}: ", access.selector),
                &access.parameters,
            )
        });
    }
}

fn encoded(out: &mut Lines, label: &str, value: &EncodedData<'_>) {
    write_data(out, label, &value.decode());
}

fn result(r: DataAccessResult) -> String {
    format!("result {r}")
}

fn data_result(out: &mut Lines, r: &GetDataResult<'_>) {
    match r {
        GetDataResult::Data(value) => encoded(out, "data: ", value),
        GetDataResult::Error(e) => out.line(result(*e)),
    }
}

fn block(out: &mut Lines, b: &DataBlockSa<'_>) {
    out.line(format!(
        "block {}{}, {} bytes",
        b.block_number,
        if b.last_block { " (last)" } else { "" },
        b.raw_data.len()
    ));
}

fn get_request(out: &mut Lines, r: &GetRequest<'_>) {
    match r {
        GetRequest::Normal { iip, attribute } => {
            out.line(format!("get-request normal, {}", invoke(*iip)));
            out.nested(|out| selected(out, attribute));
        }
        GetRequest::Next { iip, block_number } => out.line(format!(
            "get-request next, {}, after block {block_number}",
            invoke(*iip)
        )),
        GetRequest::WithList { iip, attributes } => {
            out.line(format!("get-request with-list, {}", invoke(*iip)));
            out.nested(|out| attributes.iter().for_each(|a| selected(out, a)));
        }
    }
}

fn get_response(out: &mut Lines, r: &GetResponse<'_>) {
    match r {
        GetResponse::Normal { iip, result } => {
            out.line(format!("get-response normal, {}", invoke(*iip)));
            out.nested(|out| data_result(out, result));
        }
        GetResponse::WithDatablock { iip, block } => {
            out.line(format!("get-response with-datablock, {}", invoke(*iip)));
            out.nested(|out| match &block.result {
                Ok(raw) => out.line(format!(
                    "block {}{}, {} bytes",
                    block.block_number,
                    if block.last_block { " (last)" } else { "" },
                    raw.len()
                )),
                Err(e) => out.line(format!("block {}: {}", block.block_number, result(*e))),
            });
        }
        GetResponse::WithList { iip, results } => {
            out.line(format!("get-response with-list, {}", invoke(*iip)));
            out.nested(|out| results.iter().for_each(|r| data_result(out, r)));
        }
    }
}

fn set_request(out: &mut Lines, r: &SetRequest<'_>) {
    match r {
        SetRequest::Normal {
            iip,
            attribute,
            value,
        } => {
            out.line(format!("set-request normal, {}", invoke(*iip)));
            out.nested(|out| {
                selected(out, attribute);
                encoded(out, "value: ", value);
            });
        }
        SetRequest::WithFirstDatablock {
            iip,
            attribute,
            block: b,
        } => {
            out.line(format!(
                "set-request with-first-datablock, {}",
                invoke(*iip)
            ));
            out.nested(|out| {
                selected(out, attribute);
                block(out, b);
            });
        }
        SetRequest::WithDatablock { iip, block: b } => {
            out.line(format!("set-request with-datablock, {}", invoke(*iip)));
            out.nested(|out| block(out, b));
        }
        SetRequest::WithList {
            iip,
            attributes,
            values,
        } => {
            out.line(format!("set-request with-list, {}", invoke(*iip)));
            out.nested(|out| {
                for (a, v) in attributes.iter().zip(values) {
                    selected(out, a);
                    out.nested(|out| encoded(out, "value: ", v));
                }
            });
        }
        SetRequest::WithListAndFirstDatablock {
            iip,
            attributes,
            block: b,
        } => {
            out.line(format!(
                "set-request with-list-and-first-datablock, {}",
                invoke(*iip)
            ));
            out.nested(|out| {
                attributes.iter().for_each(|a| selected(out, a));
                block(out, b);
            });
        }
    }
}

fn set_response(out: &mut Lines, r: &SetResponse) {
    match r {
        SetResponse::Normal { iip, result: r } => {
            out.line(format!("set-response normal, {}", invoke(*iip)));
            out.nested(|out| out.line(result(*r)));
        }
        SetResponse::Datablock { iip, block_number } => out.line(format!(
            "set-response datablock, {}, block {block_number} taken",
            invoke(*iip)
        )),
        SetResponse::LastDatablock {
            iip,
            result: r,
            block_number,
        } => {
            out.line(format!(
                "set-response last-datablock, {}, block {block_number}",
                invoke(*iip)
            ));
            out.nested(|out| out.line(result(*r)));
        }
        SetResponse::LastDatablockWithList {
            iip,
            results,
            block_number,
        } => {
            out.line(format!(
                "set-response last-datablock-with-list, {}, block {block_number}",
                invoke(*iip)
            ));
            out.nested(|out| results.iter().for_each(|r| out.line(result(*r))));
        }
        SetResponse::WithList { iip, results } => {
            out.line(format!("set-response with-list, {}", invoke(*iip)));
            out.nested(|out| results.iter().for_each(|r| out.line(result(*r))));
        }
    }
}

fn action_request(out: &mut Lines, r: &ActionRequest<'_>) {
    match r {
        ActionRequest::Normal {
            iip,
            method: m,
            parameters,
        } => {
            out.line(format!("action-request normal, {}", invoke(*iip)));
            out.nested(|out| {
                out.line(format!("method {}", method(m)));
                match parameters {
                    Some(p) => encoded(out, "parameters: ", p),
                    None => out.line("no parameters"),
                }
            });
        }
        ActionRequest::NextPblock { iip, block_number } => out.line(format!(
            "action-request next-pblock, {}, after block {block_number}",
            invoke(*iip)
        )),
        ActionRequest::WithList {
            iip,
            methods,
            parameters,
        } => {
            out.line(format!("action-request with-list, {}", invoke(*iip)));
            out.nested(|out| {
                for (m, p) in methods.iter().zip(parameters) {
                    out.line(format!("method {}", method(m)));
                    out.nested(|out| encoded(out, "parameters: ", p));
                }
            });
        }
        ActionRequest::WithFirstPblock {
            iip,
            method: m,
            block: b,
        } => {
            out.line(format!(
                "action-request with-first-pblock, {}",
                invoke(*iip)
            ));
            out.nested(|out| {
                out.line(format!("method {}", method(m)));
                block(out, b);
            });
        }
        ActionRequest::WithListAndFirstPblock {
            iip,
            methods,
            block: b,
        } => {
            out.line(format!(
                "action-request with-list-and-first-pblock, {}",
                invoke(*iip)
            ));
            out.nested(|out| {
                methods
                    .iter()
                    .for_each(|m| out.line(format!("method {}", method(m))));
                block(out, b);
            });
        }
        ActionRequest::WithPblock { iip, block: b } => {
            out.line(format!("action-request with-pblock, {}", invoke(*iip)));
            out.nested(|out| block(out, b));
        }
    }
}

fn action_outcome(out: &mut Lines, o: &ActionOutcome<'_>) {
    out.line(result(o.result));
    if let Some(r) = &o.return_parameters {
        out.nested(|out| data_result(out, r));
    }
}

fn action_response(out: &mut Lines, r: &ActionResponse<'_>) {
    match r {
        ActionResponse::Normal { iip, outcome } => {
            out.line(format!("action-response normal, {}", invoke(*iip)));
            out.nested(|out| action_outcome(out, outcome));
        }
        ActionResponse::WithPblock { iip, block: b } => {
            out.line(format!("action-response with-pblock, {}", invoke(*iip)));
            out.nested(|out| block(out, b));
        }
        ActionResponse::WithList { iip, outcomes } => {
            out.line(format!("action-response with-list, {}", invoke(*iip)));
            out.nested(|out| outcomes.iter().for_each(|o| action_outcome(out, o)));
        }
        ActionResponse::NextPblock { iip, block_number } => out.line(format!(
            "action-response next-pblock, {}, after block {block_number}",
            invoke(*iip)
        )),
    }
}

fn exception(out: &mut Lines, e: &ExceptionResponse) {
    out.line(format!(
        "exception-response: state-error {}, service-error {}",
        kebab(&format!("{:?}", e.state_error)),
        kebab(&format!("{:?}", e.service_error))
    ));
}

fn confirmed_service_error(out: &mut Lines, e: &ConfirmedServiceError) {
    out.line(format!(
        "confirmed-service-error: service {}, error class {}, value {}",
        e.service, e.class, e.value
    ));
}

/// `ServiceNotAllowed` as the standard writes it, `service-not-allowed`; a value in brackets
/// is kept (`InvocationCounterError(5)` reads `invocation-counter-error(5)`).
fn kebab(debug: &str) -> String {
    let mut text = String::with_capacity(debug.len() + 4);
    let mut in_value = false;
    for (i, c) in debug.chars().enumerate() {
        in_value |= c == '(';
        if c.is_ascii_uppercase() && !in_value {
            if i > 0 {
                text.push('-');
            }
            text.push(c.to_ascii_lowercase());
        } else {
            text.push(c);
        }
    }
    text
}

/// The application context name of an AARQ or AARE.
fn context(n: u8) -> String {
    match n {
        1 => "logical-name referencing (1)".into(),
        2 => "short-name referencing (2)".into(),
        3 => "logical-name referencing with ciphering (3)".into(),
        4 => "short-name referencing with ciphering (4)".into(),
        n => format!("unknown ({n})"),
    }
}

/// The authentication mechanism name.
fn mechanism(n: u8) -> String {
    match n {
        0 => "lowest level (0)".into(),
        1 => "low level, LLS (1)".into(),
        2 => "high level, HLS (2)".into(),
        5 => "high level GMAC, HLS-GMAC (5)".into(),
        n => format!("mechanism {n}"),
    }
}

/// The fields AARQ and AARE share; `side` is "calling" or "responding".
fn acse_fields(
    out: &mut Lines,
    side: &str,
    context_name: u8,
    title: &Option<Vec<u8>>,
    mechanism_name: Option<u8>,
    authentication: &Option<Vec<u8>>,
) {
    out.line(format!("application context {}", context(context_name)));
    if let Some(title) = title {
        out.line(format!("{side} AP title {}", octets(title)));
    }
    if let Some(m) = mechanism_name {
        out.line(format!("authentication {}", mechanism(m)));
    }
    if let Some(value) = authentication {
        out.line(format!("{side} authentication value {}", octets(value)));
    }
}

fn aarq(out: &mut Lines, a: &Aarq) {
    out.line("association-request (AARQ)");
    out.nested(|out| {
        acse_fields(
            out,
            "calling",
            a.application_context,
            &a.calling_ap_title,
            a.mechanism,
            &a.calling_authentication_value,
        );
        if let Some(info) = &a.user_information {
            request_information(out, info);
        }
    });
}

fn aare(out: &mut Lines, a: &Aare) {
    out.line(format!("association-response (AARE): {}", a.result));
    out.nested(|out| {
        if !matches!(
            a.diagnostic,
            SourceDiagnostic::User(0) | SourceDiagnostic::Provider(0)
        ) {
            out.line(format!("diagnostic {}", a.diagnostic));
        }
        acse_fields(
            out,
            "responding",
            a.application_context,
            &a.responding_ap_title,
            a.mechanism,
            &a.responding_authentication_value,
        );
        if let Some(info) = &a.user_information {
            response_information(out, info);
        }
    });
}

fn request_information(out: &mut Lines, info: &RequestUserInformation) {
    match info {
        RequestUserInformation::Initiate(i) => initiate_request(out, i),
        RequestUserInformation::Ciphered(c) => out.line(format!(
            "glo-initiate-request, ciphered, invocation counter {}",
            c.invocation_counter
        )),
    }
}

fn response_information(out: &mut Lines, info: &ResponseUserInformation) {
    match info {
        ResponseUserInformation::Initiate(i) => initiate_response(out, i),
        ResponseUserInformation::Error(e) => confirmed_service_error(out, e),
        ResponseUserInformation::Ciphered(c) => out.line(format!(
            "glo-initiate-response, ciphered, invocation counter {}",
            c.invocation_counter
        )),
    }
}

fn initiate_request(out: &mut Lines, i: &InitiateRequest) {
    out.line("initiate-request");
    out.nested(|out| {
        out.line(format!("DLMS version {}", i.proposed_dlms_version));
        out.line(format!(
            "conformance {}",
            conformance(i.proposed_conformance)
        ));
        out.line(format!(
            "client max receive PDU size {}",
            i.client_max_receive_pdu_size
        ));
        if let Some(key) = &i.dedicated_key {
            out.line(format!("dedicated key ({} bytes)", key.len()));
        }
    });
}

fn initiate_response(out: &mut Lines, i: &InitiateResponse) {
    out.line("initiate-response");
    out.nested(|out| {
        out.line(format!("DLMS version {}", i.negotiated_dlms_version));
        out.line(format!(
            "conformance {}",
            conformance(i.negotiated_conformance)
        ));
        out.line(format!(
            "server max receive PDU size {}",
            i.server_max_receive_pdu_size
        ));
    });
}

/// The conformance bits set, by the standard's names.
fn conformance(c: crate::conformance::Conformance) -> String {
    let names: Vec<String> = c
        .iter_names()
        .map(|(name, _)| name.to_ascii_lowercase().replace('_', "-"))
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Codec;

    fn decoded(bytes: &[u8]) -> String {
        apdu(&Apdu::decode(bytes).expect("a valid APDU"))
    }

    #[test]
    fn a_get_of_the_transfer_status_names_object_and_attribute() {
        let text = decoded(&[0xC0, 1, 0xC1, 0, 18, 0, 0, 44, 0, 0, 255, 6, 0]);
        assert_eq!(
            text,
            "get-request normal, invoke-id 1 (confirmed, high priority)\n  \
             attribute 0-0:44.0.0.255 image transfer (class 18) attribute 6 image_transfer_status"
        );
    }

    #[test]
    fn an_initiate_shows_its_parameters_as_a_tree() {
        let request = image_transfer::action_request(
            InvokeIdAndPriority(0xC1),
            image_transfer::method::IMAGE_TRANSFER_INITIATE,
            Some(&image_transfer::initiate_parameters(b"FW-2", 300)),
        );
        let text = decoded(&request.to_bytes());
        assert!(
            text.contains(
                "method 0-0:44.0.0.255 image transfer (class 18) method 1 image_transfer_initiate"
            ),
            "{text}"
        );
        assert!(
            text.contains("    octet-string[4] 46 57 2D 32 \"FW-2\""),
            "{text}"
        );
    }

    #[test]
    fn results_and_errors_read_by_name() {
        let text = decoded(&[0xC7, 1, 0xC1, 2, 0]);
        assert!(text.ends_with("result temporary-failure (2)"), "{text}");
        let text = decoded(&[0xD8, 1, 1]);
        assert_eq!(
            text,
            "exception-response: state-error service-not-allowed, service-error operation-not-possible"
        );
    }

    #[test]
    fn kebab_keeps_a_bracketed_value() {
        assert_eq!(
            kebab("InvocationCounterError(5)"),
            "invocation-counter-error(5)"
        );
    }
}
