//! How each step runs: associations, GET, SET, ACTION, raw APDUs and frame probes. The
//! image transfer helpers are in `transfer_steps`.

use super::check::Observed;
use super::engine::{Run, Stop};
use super::object_ref::ObjectRef;
use super::probe;
use super::step::{Action, ClientKind, Connect, Poll, Step};
use super::value::Var;
use crate::session::{AarqChanges, Session, SessionError};
use crate::target::{Auth, ClientKind as Client, Target};
use dlms::apdu::{ActionResponse, GetDataResult, MethodDescriptor};
use dlms::association::ClientSettings;
use dlms::{Codec, Data};

/// How long an unconfirmed request is watched for the reply that should not come.
const UNASKED_REPLY_WAIT: Duration = Duration::from_millis(1000);
use std::time::{Duration, Instant};

/// What a failed request shows: no reply, an exception, an undecodable reply.
pub(crate) fn from_error(e: SessionError) -> Observed {
    match e {
        SessionError::Link(l) => Observed {
            result: Some("no-reply".into()),
            link_failure: Some(l.to_string()),
            ..Observed::default()
        },
        SessionError::Exception(x) => Observed {
            result: Some("exception".into()),
            detail: Some(format!("{x:?}")),
            ..Observed::default()
        },
        SessionError::BadReply(m) => Observed {
            result: Some("bad-reply".into()),
            detail: Some(m),
            ..Observed::default()
        },
        e @ SessionError::TooLong { .. } => Observed {
            result: Some("not-sent".into()),
            detail: Some(e.to_string()),
            ..Observed::default()
        },
        SessionError::Association(a) => Observed {
            association: Some("rejected".into()),
            detail: Some(a.to_string()),
            ..Observed::default()
        },
    }
}

impl Run<'_> {
    /// Runs one step.
    pub(crate) async fn execute(&mut self, step: &Step) -> Result<Observed, Stop> {
        match &step.action {
            Action::Connect(c) => self.connect(c).await,
            Action::Release => {
                self.release().await;
                Ok(Observed::default())
            }
            Action::Reconnect(p) => Ok(self.reconnect(p).await),
            Action::PowerCycle(p) => {
                self.release().await;
                self.bench
                    .power_cycle()
                    .map_err(|e| Stop::Error(e.to_string()))?;
                self.note("bench: power cycle".into());
                Ok(self.reconnect(p).await)
            }
            Action::Get(r) => self.get(r).await,
            Action::Var(name) => match self.vars.get(name) {
                Some(Var::Num(n)) => Ok(Observed {
                    value: Some(Data::Long64Unsigned(*n)),
                    ..Observed::default()
                }),
                Some(Var::Bytes(b)) => Ok(Observed {
                    value: Some(Data::OctetString(b.clone().into())),
                    ..Observed::default()
                }),
                None => Err(Stop::Error(format!("${name} is not set at this step"))),
            },
            Action::Require(r) => {
                let observed = self.get(r).await?;
                match observed.result.as_deref() {
                    Some("success") => Ok(observed),
                    _ => Err(Stop::Skip(format!(
                        "the meter has no readable {}/{}/{} ({})",
                        r.class_id,
                        r.instance(self.target.part.unwrap_or(1)),
                        r.index,
                        observed.summary()
                    ))),
                }
            }
            Action::Set(r, v) => {
                let value = v.build(&self.vars).map_err(Stop::Error)?;
                self.set(r, &value).await
            }
            Action::Invoke(r, v, unconfirmed) => {
                let params = v
                    .as_ref()
                    .map(|v| v.build(&self.vars))
                    .transpose()
                    .map_err(Stop::Error)?;
                match params {
                    Some(p) if *unconfirmed => self.invoke_unconfirmed(r, p).await,
                    _ => self.invoke(r, params).await,
                }
            }
            Action::Initiate(i) => self.initiate(i).await,
            Action::Send { blocks, pad_last } => {
                let numbers = self.block_numbers(blocks)?;
                self.send(&numbers, *pad_last, &step.expect).await
            }
            Action::FillGaps => self.fill_gaps().await,
            Action::Verify(p) => self.verify(p).await,
            Action::Activate(p) => self.activate(p).await,
            Action::ScheduleActivation(in_s) => self.schedule_activation(*in_s).await,
            Action::WaitStatus(w) => self.wait_status(w).await,
            Action::GroupBlock(g) => self.group_block(g).await,
            Action::WaitMs(ms) => {
                tokio::time::sleep(Duration::from_millis(*ms)).await;
                Ok(Observed::default())
            }
            Action::Raw(apdu) => {
                let session = self.session().await?;
                match session.raw(apdu).await {
                    Ok(reply) => Ok(Observed {
                        reply: Some(reply),
                        ..Observed::default()
                    }),
                    Err(e) => Ok(self.failed(e)),
                }
            }
            Action::WrapperFrame(w) => {
                let outcome = probe::wrapper_frame(&self.target.main, w).await;
                Ok(self.probed(format!("wrapper frame probe {w:?}"), outcome))
            }
            Action::HdlcFrame(h) => {
                let outcome = probe::hdlc_frame(&self.target.main, h).await;
                Ok(self.probed(format!("HDLC SNRM probe {h:?}"), outcome))
            }
        }
    }

    /// Notes a frame probe in the exchange and makes its observation.
    fn probed(&mut self, what: String, outcome: &'static str) -> Observed {
        self.note(format!("{what}: {outcome}"));
        Observed {
            frame: Some(outcome),
            ..Observed::default()
        }
    }

    /// The open session, associating as the main client if there is none.
    pub(crate) async fn session(&mut self) -> Result<&mut Session, Stop> {
        if self.session.is_none() {
            let target = self.target.main.clone();
            let opened =
                Session::open_with(&target, &AarqChanges::default(), true, &mut self.trace).await;
            self.session =
                Some(opened.map_err(|e| Stop::Error(format!("associating with the meter: {e}")))?);
        }
        Ok(self.session.as_mut().expect("just opened"))
    }

    /// Releases the association and closes the connection.
    pub(crate) async fn release(&mut self) {
        self.collect_trace();
        if let Some(session) = self.session.take() {
            session.close().await;
        }
    }

    /// Drops a session whose connection failed, keeping its trace.
    pub(crate) fn drop_session(&mut self) {
        self.collect_trace();
        if self.session.take().is_some() {
            self.connections_lost += 1;
        }
    }

    fn client_target(&self, c: &Connect) -> Result<Target, Stop> {
        let (kind, name) = match c.client {
            ClientKind::Main => (None, ""),
            ClientKind::Public => (Some(Client::Public), "public"),
            ClientKind::Lls => (Some(Client::Lls), "lls"),
            ClientKind::Hls => (Some(Client::Hls), "hls"),
        };
        let mut target = match kind {
            None => self.target.main.clone(),
            Some(kind) => self.target.client(kind).ok_or_else(|| {
                Stop::Error(format!(
                    "the case connects as {name}: add needs = [\"{name}\"]"
                ))
            })?,
        };
        if let Some(pw) = &c.password {
            target.auth = Auth::Lls(pw.clone().into_bytes());
        }
        if let Some(w) = c.hdlc_window {
            target.hdlc_parameters.window_tx = w;
            target.hdlc_parameters.window_rx = w;
        }
        if let Some(m) = c.hdlc_max_info {
            target.hdlc_parameters.max_info_tx = m;
            target.hdlc_parameters.max_info_rx = m;
        }
        Ok(target)
    }

    async fn connect(&mut self, c: &Connect) -> Result<Observed, Stop> {
        self.release().await;
        let target = self.client_target(c)?;
        let changes = AarqChanges {
            application_context: c.context,
            mechanism: c.mechanism,
            max_receive_pdu_size: c.max_pdu,
            skip_hls_reply: !c.authenticate,
        };
        match Session::open_with(&target, &changes, true, &mut self.trace).await {
            Ok(session) => {
                let agreed = session.negotiated();
                let limit = session.request_limit();
                if let Some(link) = session.hdlc_parameters() {
                    // What the meter may send: its frames before our acknowledgement, and their
                    // longest information field.
                    self.set_var("hdlc_window", super::value::Var::Num(link.window_rx.into()));
                    self.set_var(
                        "hdlc_max_info",
                        super::value::Var::Num(link.max_info_rx.into()),
                    );
                }
                self.session = Some(session);
                self.set_var(
                    "server_max_pdu",
                    super::value::Var::Num(agreed.server_max_receive_pdu_size as u64),
                );
                self.set_var("request_limit", super::value::Var::Num(limit as u64));
                let in_blocks = agreed
                    .conformance
                    .contains(dlms::conformance::Conformance::BLOCK_TRANSFER_WITH_ACTION);
                self.set_var("action_blocks", super::value::Var::Num(in_blocks.into()));
                Ok(Observed {
                    association: Some("accepted".into()),
                    conformance: Some((
                        ClientSettings::default().proposed_conformance,
                        agreed.conformance,
                    )),
                    detail: Some(format!(
                        "server max PDU {}",
                        agreed.server_max_receive_pdu_size
                    )),
                    ..Observed::default()
                })
            }
            Err(SessionError::Link(crate::connection::LinkFailure::Io(e))) => {
                Err(Stop::Error(format!("connecting: {e}")))
            }
            Err(SessionError::Link(l)) => Ok(Observed {
                association: Some("none".into()),
                detail: Some(format!("no AARE: {l}")),
                ..Observed::default()
            }),
            Err(e) => Ok(from_error(e)),
        }
    }

    /// How long to wait for the meter to come back: the step's limit, else the target's
    /// reconnect deadline (an activation may take minutes), else 60 s.
    pub(crate) fn reconnect_within(&self, p: &Poll) -> Duration {
        p.within_s
            .map(Duration::from_secs)
            .or(self.target.main.deadlines.reconnect)
            .unwrap_or(super::transfer_steps::DEFAULT_WITHIN)
    }

    /// Associates again as the main client, retrying while the meter is away.
    pub(crate) async fn reconnect(&mut self, p: &Poll) -> Observed {
        self.release().await;
        let within = self.reconnect_within(p);
        let deadline = Instant::now() + within;
        loop {
            let target = self.target.main.clone();
            match Session::open_with(&target, &AarqChanges::default(), true, &mut Vec::new()).await
            {
                Ok(session) => {
                    self.session = Some(session);
                    return Observed {
                        association: Some("accepted".into()),
                        ..Observed::default()
                    };
                }
                Err(e) if Instant::now() >= deadline => {
                    return Observed {
                        association: Some("none".into()),
                        detail: Some(format!("not back within {within:?}: {e}")),
                        ..Observed::default()
                    };
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(p.poll_ms)).await;
        }
    }

    pub(crate) async fn get(&mut self, r: &ObjectRef) -> Result<Observed, Stop> {
        let instance = r.instance(self.target.part.unwrap_or(1));
        let session = self.session().await?;
        Ok(match session.get(r.class_id, instance, r.index).await {
            Ok(Ok(value)) => Observed {
                result: Some("success".into()),
                value: Some(value),
                ..Observed::default()
            },
            Ok(Err(dar)) => Observed::result(dar.name()),
            Err(e) => self.failed(e),
        })
    }

    /// What a failed request shows; a broken connection also ends the session, so that the
    /// next step associates anew.
    fn failed(&mut self, e: SessionError) -> Observed {
        let stray = self.session.as_mut().and_then(Session::take_stray_reply);
        if matches!(e, SessionError::Link(_)) {
            self.drop_session();
        }
        match (stray, &e) {
            // The meter did answer, under another invoke-id: its deviation, not a lost link.
            (Some(reply), SessionError::Link(_)) => Observed {
                result: Some("wrong-invoke-id".into()),
                detail: Some(match dlms::Apdu::decode(&reply) {
                    Ok(apdu) => format!("the only reply: {}", dlms::text::apdu(&apdu)),
                    Err(_) => "the only reply does not decode".into(),
                }),
                reply: Some(reply),
                ..Observed::default()
            },
            _ => from_error(e),
        }
    }

    /// A SET; what the attribute held before is kept for the teardown.
    pub(crate) async fn set(&mut self, r: &ObjectRef, value: &Data<'_>) -> Result<Observed, Stop> {
        self.remember_before_set(r).await;
        let instance = r.instance(self.target.part.unwrap_or(1));
        let session = self.session().await?;
        let observed = match session.set(r.class_id, instance, r.index, value).await {
            Ok(dar) => Observed::result(dar.name()),
            Err(e) => self.failed(e),
        };
        if observed.result.as_deref() == Some("success") {
            self.set_made(r);
        }
        Ok(observed)
    }

    fn method(&self, r: &ObjectRef) -> MethodDescriptor {
        MethodDescriptor {
            class_id: r.class_id,
            instance: r.instance(self.target.part.unwrap_or(1)),
            method_id: r.index,
        }
    }

    /// An unconfirmed ACTION: observed as `no-reply` when nothing comes back within
    /// [`UNASKED_REPLY_WAIT`], else as the result the meter answered.
    async fn invoke_unconfirmed(
        &mut self,
        r: &ObjectRef,
        params: Data<'_>,
    ) -> Result<Observed, Stop> {
        let method = self.method(r);
        let session = self.session().await?;
        if let Err(e) = session.actions_unconfirmed(method, &[params]).await {
            return Ok(self.failed(e));
        }
        Ok(match session.unasked_reply(UNASKED_REPLY_WAIT).await {
            Ok(None) => Observed::result("no-reply"),
            Ok(Some(reply)) => Observed {
                result: Some(match ActionResponse::decode(&reply) {
                    Ok(ActionResponse::Normal { outcome, .. }) => outcome.result.name().into(),
                    _ => "reply".into(),
                }),
                reply: Some(reply),
                ..Observed::default()
            },
            Err(e) => self.failed(e),
        })
    }

    pub(crate) async fn invoke(
        &mut self,
        r: &ObjectRef,
        params: Option<Data<'_>>,
    ) -> Result<Observed, Stop> {
        let method = self.method(r);
        let session = self.session().await?;
        Ok(match session.action(method, params).await {
            Ok(outcome) => Observed {
                result: Some(outcome.result.name().into()),
                value: match outcome.return_parameters {
                    Some(GetDataResult::Data(d)) => Some(d.decode().into_owned()),
                    _ => None,
                },
                ..Observed::default()
            },
            Err(e) => self.failed(e),
        })
    }
}
