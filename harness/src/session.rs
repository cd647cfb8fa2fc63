//! A DLMS client session: association (none, LLS, HLS-GMAC with suite 0 ciphering) and GET, SET
//! and ACTION, following GET datablocks and sending ACTION pblocks when the parameters do not
//! fit the meter's PDU size. Every APDU exchanged can be kept in a trace.

use crate::connection::{Connection, LinkFailure};
use crate::target::{Auth, Target};
use dlms::acse::Aare;
use dlms::apdu::{
    ActionOutcome, ActionRequest, ActionResponse, Apdu, AttributeDescriptor,
    AttributeWithSelection, DataAccessResult, DataBlockSa, ExceptionResponse, GetDataResult,
    GetRequest, GetResponse, InvokeIdAndPriority, MethodDescriptor, ObisCode, SetRequest,
    SetResponse,
};
use dlms::association::{
    AssociationError, Ciphering, ClientAssociation, ClientAuthentication, ClientSettings,
};
use dlms::axdr::EncodedData;
use dlms::cosem::{class, ASSOCIATION_LN};
use dlms::security::SecurityControl;
use dlms::{Codec, Data};
use std::borrow::Cow;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why a request failed (as opposed to the meter answering it with an error result).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SessionError {
    /// The connection failed.
    #[error(transparent)]
    Link(#[from] LinkFailure),
    /// The association was refused.
    #[error("association: {0}")]
    Association(#[from] AssociationError),
    /// The meter answered with an exception-response.
    #[error("{}", exception_text(.0))]
    Exception(ExceptionResponse),
    /// The reply could not be decoded, or is not a reply to the request.
    #[error("bad reply: {0}")]
    BadReply(String),
    /// A request that must go in one APDU is longer than the meter accepts; nothing was sent.
    #[error(
        "a request of {len} bytes does not fit the {limit} bytes the meter takes{why}: not sent"
    )]
    TooLong {
        /// The request's length.
        len: usize,
        /// The longest request the meter takes ([`Session::request_limit`]).
        limit: usize,
        /// What else stands in the way, if anything (`, and it did not agree …`).
        why: &'static str,
    },
}

impl SessionError {
    /// True when the peer answered, but not as a DLMS/COSEM server over this transport does:
    /// bytes that are not a frame, a reply that is not an AARE, an AARE that lacks what every
    /// AARE has. Waiting does not help; a silent or rebooting meter is not this.
    pub fn is_protocol_mismatch(&self) -> bool {
        matches!(
            self,
            SessionError::BadReply(_)
                | SessionError::Association(AssociationError::Malformed(_))
                | SessionError::Link(LinkFailure::Framing(_))
        )
    }
}

/// Which way an APDU went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Client to meter.
    Request,
    /// Meter to client.
    Reply,
    /// Not an APDU: what the harness did around the exchange (a frame probe, a power cycle).
    Note,
}

/// One APDU exchanged, for reports.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TraceEntry {
    /// Milliseconds since the session started.
    pub at_ms: u64,
    /// Which way.
    pub direction: Direction,
    /// The APDU in hex (plain text of ciphered APDUs).
    pub hex: String,
    /// The APDU decoded.
    pub decoded: String,
}

/// Deliberate changes to the AARQ, for conformance probes; the default changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AarqChanges {
    /// The application context name id to propose instead.
    pub application_context: Option<u8>,
    /// The mechanism name id to propose instead.
    pub mechanism: Option<u8>,
    /// The client-max-receive-pdu-size to propose instead.
    pub max_receive_pdu_size: Option<u16>,
    /// HLS: stop after the AARE, before reply_to_HLS_authentication, leaving the association
    /// unauthenticated (to check what the meter serves before authentication completes).
    pub skip_hls_reply: bool,
}

/// An associated session with one meter.
pub struct Session {
    conn: Connection,
    /// `None` only until the AARE is in.
    association: Option<ClientAssociation>,
    timeout: Duration,
    invoke_id: u8,
    started: Instant,
    trace: Option<Vec<TraceEntry>>,
    /// The last reply that answered no request in flight (another invoke-id or service), if
    /// the last request then got none of its own.
    stray: Option<Vec<u8>>,
}

/// The most trace entries a session keeps.
const TRACE_LIMIT: usize = 10_000;

fn settings_for(auth: &Auth) -> ClientSettings {
    match auth {
        Auth::None => ClientSettings::default(),
        Auth::Lls(password) => ClientSettings {
            authentication: ClientAuthentication::Lls {
                password: password.clone(),
            },
            ..ClientSettings::default()
        },
        Auth::HlsGmac { keys, system_title } => {
            // A fresh challenge per association; not secret, but never repeated.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            ClientSettings {
                authentication: ClientAuthentication::HlsGmac {
                    ctos: nanos.to_be_bytes().to_vec(),
                },
                ciphering: Some(Ciphering {
                    keys: keys.clone(),
                    system_title: *system_title,
                    security_control: SecurityControl::AUTHENTICATED_ENCRYPTED,
                    invocation_counter: crate::invocation_counters::first(system_title),
                }),
                ..ClientSettings::default()
            }
        }
    }
}

impl Session {
    /// Connects and associates; `trace` keeps every APDU.
    pub async fn open(target: &Target, trace: bool) -> Result<Self, SessionError> {
        Self::open_with(target, &AarqChanges::default(), trace, &mut Vec::new()).await
    }

    /// Connects and associates with an AARQ changed on purpose (conformance probes). When the
    /// association fails and `trace` is on, the APDUs exchanged are appended to `failed_trace`.
    pub async fn open_with(
        target: &Target,
        changes: &AarqChanges,
        trace: bool,
        failed_trace: &mut Vec<TraceEntry>,
    ) -> Result<Self, SessionError> {
        let timeout = target.request_timeout;
        let conn = Connection::open(target, timeout).await?;
        let mut session = Session {
            conn,
            association: None,
            timeout,
            invoke_id: 0,
            stray: None,
            started: Instant::now(),
            trace: trace.then(Vec::new),
        };
        let mut settings = settings_for(&target.auth);
        if let Some(size) = changes.max_receive_pdu_size {
            settings.max_receive_pdu_size = size;
        }
        match session.associate(&settings, changes).await {
            Ok(()) => Ok(session),
            Err(e) => {
                failed_trace.append(&mut session.take_trace());
                session.conn.close().await;
                Err(e)
            }
        }
    }

    async fn associate(
        &mut self,
        settings: &ClientSettings,
        changes: &AarqChanges,
    ) -> Result<(), SessionError> {
        let mut aarq = settings.aarq();
        if let Some(context) = changes.application_context {
            aarq.application_context = context;
        }
        if let Some(mechanism) = changes.mechanism {
            aarq.mechanism = Some(mechanism);
            aarq.sender_acse_requirements = true;
        }
        let reply = self.exchange_plain(&aarq.to_bytes()).await?;
        let aare =
            Aare::decode(&reply).map_err(|e| SessionError::BadReply(format!("AARE: {e}")))?;
        let mut association = settings.check_aare(&aare)?;
        if let Some(cipher) = &association.cipher {
            crate::invocation_counters::used(&cipher.own_title, cipher.next_invocation_counter);
        }
        let f_stoc = match &settings.authentication {
            ClientAuthentication::HlsGmac { .. } => Some(association.hls_reply()?),
            _ => None,
        };
        self.association = Some(association);
        if let (ClientAuthentication::HlsGmac { ctos }, Some(f_stoc), false) =
            (&settings.authentication, f_stoc, changes.skip_hls_reply)
        {
            // reply_to_HLS_authentication, method 1 of the current association.
            let method = MethodDescriptor {
                class_id: class::ASSOCIATION_LN,
                instance: ASSOCIATION_LN,
                method_id: 1,
            };
            let outcome = self
                .action(method, Some(Data::OctetString(f_stoc.into())))
                .await?;
            let f_ctos = match outcome.return_parameters {
                Some(GetDataResult::Data(d)) if outcome.result == DataAccessResult::SUCCESS => {
                    d.decode().as_bytes().map(<[u8]>::to_vec)
                }
                _ => None,
            };
            let f_ctos = f_ctos.ok_or_else(|| {
                SessionError::BadReply(format!("reply_to_HLS_authentication: {}", outcome.result))
            })?;
            self.association_mut().check_hls_result(ctos, &f_ctos)?;
        }
        Ok(())
    }

    /// Over HDLC, the link parameters agreed, as this client sees them.
    pub fn hdlc_parameters(&self) -> Option<dlms::hdlc::HdlcParameters> {
        self.conn.hdlc_parameters()
    }

    /// The negotiated context.
    pub fn negotiated(&self) -> dlms::association::Negotiated {
        self.association
            .as_ref()
            .expect("associated in open")
            .negotiated
    }

    fn association_mut(&mut self) -> &mut ClientAssociation {
        self.association.as_mut().expect("associated in open")
    }

    /// The trace so far, if kept.
    pub fn take_trace(&mut self) -> Vec<TraceEntry> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn record(&mut self, direction: Direction, apdu: &[u8]) {
        if let Some(trace) = &mut self.trace {
            if trace.len() < TRACE_LIMIT {
                let decoded = match Apdu::decode(apdu) {
                    Ok(a) => dlms::text::apdu(&a),
                    Err(e) => format!("undecodable: {e}"),
                };
                trace.push(TraceEntry {
                    at_ms: self.started.elapsed().as_millis() as u64,
                    direction,
                    hex: apdu.iter().map(|b| format!("{b:02X}")).collect(),
                    decoded,
                });
            }
        }
    }

    async fn exchange_plain(&mut self, request: &[u8]) -> Result<Vec<u8>, SessionError> {
        self.record(Direction::Request, request);
        let reply = self.conn.exchange(request, self.timeout).await?;
        self.record(Direction::Reply, &reply);
        Ok(reply)
    }

    /// Sends a service APDU (ciphered in a ciphered association) and returns the plain reply.
    async fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, SessionError> {
        let reply = self.raw(request).await?;
        check_exception(reply)
    }

    /// Sends an APDU as it is (ciphered in a ciphered association) and returns the plain
    /// reply as it is, exception-responses included. A reply to an earlier request (one the
    /// link duplicated or delayed, with another invoke-id) is recorded and skipped.
    pub async fn raw(&mut self, request: &[u8]) -> Result<Vec<u8>, SessionError> {
        self.record(Direction::Request, request);
        match self.association.as_mut().and_then(|a| a.cipher.as_mut()) {
            Some(cipher) => {
                let wire = cipher
                    .protect_apdu(request)
                    .map_err(|e| SessionError::BadReply(e.to_string()))?;
                crate::invocation_counters::used(&cipher.own_title, cipher.next_invocation_counter);
                self.conn.send(&wire).await?;
            }
            None => self.conn.send(request).await?,
        }
        let deadline = Instant::now() + self.timeout;
        self.stray = None;
        let mut stray = None;
        loop {
            let reply = match self.conn.receive_until(deadline, self.timeout).await {
                Ok(reply) => reply,
                Err(e) => {
                    self.stray = stray;
                    return Err(e.into());
                }
            };
            let Some(plain) = self.plain_reply(reply)? else {
                continue;
            };
            if !answers(request, &plain) {
                stray = Some(plain);
                continue;
            }
            return Ok(plain);
        }
    }

    /// The reply that came for no request in flight when the last request got no reply of its
    /// own: a meter answering under the wrong invoke-id shows here (a head-end skips such a
    /// reply; a conformance case reports it).
    pub fn take_stray_reply(&mut self) -> Option<Vec<u8>> {
        self.stray.take()
    }

    /// A reply deciphered (in a ciphered association) and recorded; `None` for a copy of a
    /// reply already taken, which fails the replay check.
    fn plain_reply(&mut self, reply: Vec<u8>) -> Result<Option<Vec<u8>>, SessionError> {
        let plain = match self.association.as_mut().and_then(|a| a.cipher.as_mut()) {
            Some(cipher) => match Apdu::decode(&reply) {
                Ok(Apdu::Ciphered(c)) => cipher.unprotect_apdu(&c),
                Ok(Apdu::GeneralCiphering(g)) => cipher.unprotect_general(&g),
                _ => Ok(reply),
            },
            None => Ok(reply),
        };
        match plain {
            Ok(p) => {
                self.record(Direction::Reply, &p);
                Ok(Some(p))
            }
            Err(dlms::security::SecurityError::Replay { .. }) => Ok(None),
            Err(e) => Err(SessionError::BadReply(format!(
                "deciphering the reply: {e}"
            ))),
        }
    }

    /// Waits up to `wait` for an APDU the meter sends unasked, as a reply to an unconfirmed
    /// request would be: `None` when nothing comes.
    pub async fn unasked_reply(&mut self, wait: Duration) -> Result<Option<Vec<u8>>, SessionError> {
        let deadline = Instant::now() + wait;
        loop {
            match self.conn.receive_until(deadline, wait).await {
                Ok(reply) => {
                    if let Some(plain) = self.plain_reply(reply)? {
                        return Ok(Some(plain));
                    }
                }
                Err(LinkFailure::Timeout(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn next_iip(&mut self) -> InvokeIdAndPriority {
        self.next_invoke(true)
    }

    fn next_invoke(&mut self, confirmed: bool) -> InvokeIdAndPriority {
        self.invoke_id = (self.invoke_id + 1) % 16;
        InvokeIdAndPriority::new(self.invoke_id, confirmed, true)
    }

    /// True when [`Self::actions_unconfirmed`] sends its requests at once, in one write (over
    /// the wrapper; an HDLC link holds them until the session next waits for a reply).
    pub fn can_burst(&self) -> bool {
        self.conn.can_burst()
    }

    /// Invokes `method` once per parameter as unconfirmed ACTIONs (service-class bit clear,
    /// docs/protocol.md#xdlms-apdus), as a multicast image transfer sends its blocks: over the wrapper
    /// all in one write; over HDLC handed to the link, which sends them the next time the
    /// session waits for a reply. The meter answers none of them: what landed is for the
    /// caller to read back. Each request must fit the meter's PDU size (no pblocks without
    /// replies).
    pub async fn actions_unconfirmed(
        &mut self,
        method: MethodDescriptor,
        parameters: &[Data<'_>],
    ) -> Result<(), SessionError> {
        let limit = self.request_limit();
        let mut wire = Vec::with_capacity(parameters.len());
        for p in parameters {
            let request = ActionRequest::Normal {
                iip: self.next_invoke(false),
                method,
                parameters: Some(EncodedData::new(p)),
            }
            .to_bytes();
            if request.len() > limit {
                return Err(SessionError::TooLong {
                    len: request.len(),
                    limit,
                    why: " (an unconfirmed request cannot go in blocks)",
                });
            }
            self.record(Direction::Request, &request);
            wire.push(
                match self.association.as_mut().and_then(|a| a.cipher.as_mut()) {
                    Some(cipher) => {
                        let wire = cipher
                            .protect_apdu(&request)
                            .map_err(|e| SessionError::BadReply(e.to_string()))?;
                        crate::invocation_counters::used(
                            &cipher.own_title,
                            cipher.next_invocation_counter,
                        );
                        wire
                    }
                    None => request,
                },
            );
        }
        if self.conn.can_burst() {
            self.conn.send_burst(&wire).await?;
        } else {
            for apdu in &wire {
                self.conn.send(apdu).await?;
            }
        }
        Ok(())
    }

    /// GET of one attribute: the value, or the meter's data-access-result.
    pub async fn get(
        &mut self,
        class_id: u16,
        instance: ObisCode,
        attribute_id: i8,
    ) -> Result<Result<Data<'static>, DataAccessResult>, SessionError> {
        let iip = self.next_iip();
        let request = GetRequest::Normal {
            iip,
            attribute: AttributeWithSelection::plain(AttributeDescriptor {
                class_id,
                instance,
                attribute_id,
            }),
        };
        let mut reply = self.exchange(&request.to_bytes()).await?;
        let mut data = Vec::new();
        loop {
            let response = GetResponse::decode(&reply)
                .map_err(|e| SessionError::BadReply(format!("GET-Response: {e}")))?;
            match response {
                GetResponse::Normal { result, .. } => {
                    return Ok(match result {
                        GetDataResult::Data(d) => Ok(d.decode().into_owned()),
                        GetDataResult::Error(e) => Err(e),
                    })
                }
                GetResponse::WithDatablock { block, .. } => {
                    let bytes = match block.result {
                        Ok(b) => b,
                        Err(e) => return Ok(Err(e)),
                    };
                    data.extend_from_slice(&bytes);
                    if block.last_block {
                        let value = Data::decode(&data)
                            .map_err(|e| SessionError::BadReply(format!("GET datablocks: {e}")))?;
                        return Ok(Ok(value.into_owned()));
                    }
                    let next = GetRequest::Next {
                        iip,
                        block_number: block.block_number,
                    };
                    reply = self.exchange(&next.to_bytes()).await?;
                }
                GetResponse::WithList { .. } => {
                    return Err(SessionError::BadReply(
                        "GET-Response-With-List to a GET".into(),
                    ))
                }
            }
        }
    }

    /// SET of one attribute: the meter's data-access-result.
    pub async fn set(
        &mut self,
        class_id: u16,
        instance: ObisCode,
        attribute_id: i8,
        value: &Data<'_>,
    ) -> Result<DataAccessResult, SessionError> {
        let request = SetRequest::Normal {
            iip: self.next_iip(),
            attribute: AttributeWithSelection::plain(AttributeDescriptor {
                class_id,
                instance,
                attribute_id,
            }),
            value: EncodedData::new(value),
        };
        let reply = self.exchange(&request.to_bytes()).await?;
        match SetResponse::decode(&reply) {
            Ok(SetResponse::Normal { result, .. }) => Ok(result),
            Ok(other) => Err(SessionError::BadReply(format!("unexpected {other:?}"))),
            Err(e) => Err(SessionError::BadReply(format!("SET-Response: {e}"))),
        }
    }

    /// The longest plain request the meter takes: its PDU size, less what ciphering adds
    /// ([`dlms::security::CipherContext::PROTECT_OVERHEAD`]) in a ciphered association.
    pub fn request_limit(&self) -> usize {
        let pdu = usize::from(self.negotiated().server_max_receive_pdu_size);
        let ciphered = self
            .association
            .as_ref()
            .is_some_and(|a| a.cipher.is_some());
        if ciphered {
            pdu.saturating_sub(dlms::security::CipherContext::PROTECT_OVERHEAD)
        } else {
            pdu
        }
    }

    /// ACTION: the outcome. Parameters that do not fit the meter's PDU size (with ciphering,
    /// what is left of it) go as pblocks.
    pub async fn action(
        &mut self,
        method: MethodDescriptor,
        parameters: Option<Data<'_>>,
    ) -> Result<ActionOutcome<'static>, SessionError> {
        self.action_encoded(method, parameters.as_ref().map(EncodedData::new))
            .await
    }

    /// [`Self::action`] with the parameters already encoded (a block sent again is not
    /// encoded again).
    pub async fn action_encoded(
        &mut self,
        method: MethodDescriptor,
        parameters: Option<EncodedData<'_>>,
    ) -> Result<ActionOutcome<'static>, SessionError> {
        let iip = self.next_iip();
        let request = ActionRequest::Normal {
            iip,
            method,
            parameters: parameters.as_ref().map(EncodedData::borrowed),
        }
        .to_bytes();
        let limit = self.request_limit();
        let in_blocks = self
            .negotiated()
            .conformance
            .contains(dlms::conformance::Conformance::BLOCK_TRANSFER_WITH_ACTION);
        let reply = match parameters {
            Some(_) if request.len() > limit && !in_blocks => {
                return Err(SessionError::TooLong {
                    len: request.len(),
                    limit,
                    why: ", and it did not agree block-transfer-with-action",
                })
            }
            Some(p) if request.len() > limit => {
                self.action_in_pblocks(iip, method, p.as_bytes(), limit)
                    .await?
            }
            _ => self.exchange(&request).await?,
        };
        match ActionResponse::decode(&reply) {
            Ok(ActionResponse::Normal { outcome, .. }) => Ok(ActionOutcome {
                result: outcome.result,
                return_parameters: outcome.return_parameters.map(|r| match r {
                    GetDataResult::Data(d) => GetDataResult::Data(d.into_owned()),
                    GetDataResult::Error(e) => GetDataResult::Error(e),
                }),
            }),
            Ok(other) => Err(SessionError::BadReply(format!("unexpected {other:?}"))),
            Err(e) => Err(SessionError::BadReply(format!("ACTION-Response: {e}"))),
        }
    }

    async fn action_in_pblocks(
        &mut self,
        iip: InvokeIdAndPriority,
        method: MethodDescriptor,
        encoded: &[u8],
        limit: usize,
    ) -> Result<Vec<u8>, SessionError> {
        // C3 04 iip, descriptor (9), last, number (4), length (up to 3): 20 bytes of header.
        let chunk = limit.saturating_sub(20).max(1);
        let blocks: Vec<&[u8]> = encoded.chunks(chunk).collect();
        let mut reply = Vec::new();
        for (i, bytes) in blocks.iter().enumerate() {
            let block = DataBlockSa {
                last_block: i + 1 == blocks.len(),
                block_number: i as u32 + 1,
                raw_data: Cow::Borrowed(bytes),
            };
            let request = if i == 0 {
                ActionRequest::WithFirstPblock { iip, method, block }
            } else {
                ActionRequest::WithPblock { iip, block }
            };
            reply = self.exchange(&request.to_bytes()).await?;
            if i + 1 < blocks.len() {
                match ActionResponse::decode(&reply) {
                    Ok(ActionResponse::NextPblock { block_number, .. })
                        if block_number == i as u32 + 1 => {}
                    _ => return Ok(reply),
                }
            }
        }
        Ok(reply)
    }

    /// Releases the association (RLRQ, best effort) and closes the connection.
    pub async fn close(mut self) {
        let rlrq = dlms::association::release_request().to_bytes();
        let _ = tokio::time::timeout(Duration::from_millis(500), self.exchange_plain(&rlrq)).await;
        self.conn.close().await;
    }
}

/// Whether `reply` can be the reply to `request`: a GET, SET or ACTION response must carry the
/// request's invoke-id (byte 2 of both, low four bits).
fn answers(request: &[u8], reply: &[u8]) -> bool {
    use dlms::apdu::tag;
    let pairs = [
        (tag::GET_REQUEST, tag::GET_RESPONSE),
        (tag::SET_REQUEST, tag::SET_RESPONSE),
        (tag::ACTION_REQUEST, tag::ACTION_RESPONSE),
    ];
    let service = |apdu: &[u8]| apdu.first().copied();
    let kind_matches = pairs
        .iter()
        .any(|&(q, r)| service(request) == Some(q) && service(reply) == Some(r));
    if !kind_matches {
        // Exceptions, service errors and other replies carry no invoke-id to compare.
        let stale_kind = pairs.iter().any(|&(_, r)| service(reply) == Some(r));
        return !stale_kind;
    }
    match (request.get(2), reply.get(2)) {
        (Some(q), Some(r)) => q & 0x0F == r & 0x0F,
        _ => true,
    }
}

fn check_exception(reply: Vec<u8>) -> Result<Vec<u8>, SessionError> {
    if reply.first() == Some(&dlms::apdu::tag::EXCEPTION_RESPONSE) {
        if let Ok(e) = ExceptionResponse::decode(&reply) {
            return Err(SessionError::Exception(e));
        }
    }
    Ok(reply)
}

/// An exception-response as reports show it.
fn exception_text(e: &ExceptionResponse) -> String {
    dlms::text::apdu(&dlms::Apdu::ExceptionResponse(*e))
}
