//! Association LN (IC 15, version 1) 0-0:40.0.0.255: the object list with this client's access
//! rights, the partners, the negotiated context. Method 1 (reply_to_HLS_authentication) is run
//! by the meter, which holds the association.

use super::{logical_name, Object, NO_SUCH_INDEX};
use crate::access::{attribute_mode, method_allowed};
use crate::profile::Rights;
use dlms::apdu::DataAccessResult as R;
use dlms::axdr::BitString;
use dlms::conformance::Conformance;
use dlms::Data;

/// What the current association looks like from inside the meter.
#[derive(Debug, Clone, Copy)]
pub struct AssociationView {
    /// The client SAP.
    pub client_sap: u16,
    /// The server SAP (logical device).
    pub server_sap: u16,
    /// The client's rights.
    pub rights: Rights,
    /// The negotiated conformance.
    pub conformance: Conformance,
    /// The client's max receive PDU size.
    pub client_max_pdu: u16,
    /// The meter's max receive PDU size.
    pub server_max_pdu: u16,
    /// The application context name's last arc.
    pub context: u8,
    /// The authentication mechanism's last arc.
    pub mechanism: u8,
    /// True once the client has authenticated (after HLS pass 3 with HLS).
    pub authenticated: bool,
}

fn oid_structure(last_two: [u8; 2]) -> Data<'static> {
    // {joint-iso-ctt(2), country(16), country-name(756), identified-organization(5),
    //  DLMS-UA(8), application-context(1) or authentication-mechanism-name(2), id}
    Data::Structure(vec![
        Data::Unsigned(2),
        Data::Unsigned(16),
        Data::LongUnsigned(756),
        Data::Unsigned(5),
        Data::Unsigned(8),
        Data::Unsigned(last_two[0]),
        Data::Unsigned(last_two[1]),
    ])
}

fn object_list(view: &AssociationView, objects: &[Object]) -> Data<'static> {
    Data::Array(
        objects
            .iter()
            .map(|o| {
                let attributes = (1..=o.attributes)
                    .map(|a| {
                        Data::Structure(vec![
                            Data::Integer(a),
                            Data::Enum(attribute_mode(view.rights, o, a)),
                            Data::Null,
                        ])
                    })
                    .collect();
                let methods = (1..=o.methods)
                    .map(|m| {
                        Data::Structure(vec![
                            Data::Integer(m),
                            Data::Enum(u8::from(method_allowed(view.rights, o, m))),
                        ])
                    })
                    .collect();
                Data::Structure(vec![
                    Data::LongUnsigned(o.class_id),
                    Data::Unsigned(o.version),
                    Data::OctetString(o.ln.0.to_vec().into()),
                    Data::Structure(vec![Data::Array(attributes), Data::Array(methods)]),
                ])
            })
            .collect(),
    )
}

/// GET of an Association LN attribute.
pub fn get(
    view: &AssociationView,
    objects: &[Object],
    object: &Object,
    attr: i8,
) -> Result<Data<'static>, R> {
    Ok(match attr {
        1 => logical_name(&object.ln),
        2 => object_list(view, objects),
        3 => Data::Structure(vec![
            Data::Integer(view.client_sap as i8),
            Data::LongUnsigned(view.server_sap),
        ]),
        4 => oid_structure([1, view.context]),
        5 => Data::Structure(vec![
            Data::BitString(BitString::from_bools(
                (0..24).map(|i| view.conformance.bits() & (1 << (23 - i)) != 0),
            )),
            Data::LongUnsigned(view.client_max_pdu),
            Data::LongUnsigned(view.server_max_pdu),
            Data::Unsigned(6),
            Data::Integer(0),
            Data::OctetString(Vec::new().into()),
        ]),
        6 => oid_structure([2, view.mechanism]),
        7 => return Err(R::READ_WRITE_DENIED),
        8 => Data::Enum(if view.authenticated { 2 } else { 1 }),
        _ => return Err(NO_SUCH_INDEX),
    })
}
