//! A fleet's control endpoint (HTTP, loopback by default) and its Prometheus metrics.
//!
//! - `GET /metrics`: Prometheus text exposition, low-cardinality labels only (never a meter);
//! - `GET /meters`: every meter with its status and firmware;
//! - `GET /meters/{name}`: one meter's full state, its bitmap, faults and counters;
//! - `POST /meters/{name}/reboot`: power-cycles a meter now;
//! - `POST /meters/{name}/faults`: injects faults now, a JSON object with `meter` (the fields of
//!   a scenario meter's faults; request numbers count from now) and `link` (link faults, which
//!   replace the meter's);
//! - `PUT /meters/{name}/profile`: replaces the meter's profile with the TOML body;
//! - `GET /judge`: the judge's verdict on the head-ends so far (schema `meterfleet-judge/1`).
//!
//! The exposition is written by hand: every value is computed from the meters' state at scrape
//! time, and the text format is four kinds of line, so a metrics library would add nothing.
//!
//! A request that changes something (POST, PUT) is accepted only with a JSON or TOML content
//! type and no foreign Origin, so that no page in a browser can send it across sites; then
//! either with `Authorization: Bearer TOKEN`, when the endpoint has a token (it must, on any
//! address but loopback), or, without one, with a Host header naming the endpoint, so that a
//! page cannot reach it through DNS rebinding either.

use crate::fleet::{Fleet, FleetMeter};
use crate::net::host::now_ms;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::fmt::Write;
use std::sync::Arc;

/// Who may change the fleet through the endpoint.
#[derive(Debug, Clone)]
pub struct Guard {
    /// The names a request's Host header may give when there is no token: the endpoint's
    /// address, and `localhost:PORT` on loopback.
    hosts: Vec<String>,
    /// The bearer token every changing request must carry, if any.
    token: Option<String>,
}

/// Why an endpoint cannot be served as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("control endpoint {address}: {reason}")]
pub struct GuardError {
    /// The address asked for.
    pub address: std::net::SocketAddr,
    /// What is missing.
    pub reason: String,
}

impl Guard {
    /// The guard of an endpoint on `address`: loopback may go without a token, any other
    /// address needs one (at least 16 characters).
    pub fn new(address: std::net::SocketAddr, token: Option<String>) -> Result<Self, GuardError> {
        let fail = |reason: &str| GuardError {
            address,
            reason: reason.into(),
        };
        match &token {
            Some(t) if t.len() < 16 => return Err(fail("the token needs at least 16 characters")),
            None if !address.ip().is_loopback() => {
                return Err(fail(
                    "an endpoint beyond loopback changes meters for anyone who reaches it: give it a token (--control-token)",
                ))
            }
            _ => {}
        }
        let mut hosts = vec![address.to_string()];
        if address.ip().is_loopback() {
            hosts.push(format!("localhost:{}", address.port()));
        }
        Ok(Guard { hosts, token })
    }

    /// Whether a changing request may go on; the refusal if not.
    fn admit(&self, headers: &axum::http::HeaderMap) -> Result<(), (StatusCode, &'static str)> {
        use axum::http::header;
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let host = text(header::HOST).unwrap_or("");
        // With a token, the token guards (head-ends name the endpoint as they reach it: an
        // address, a DNS name, a Kubernetes service); without, the Host must be the endpoint.
        if self.token.is_none() && !self.hosts.iter().any(|h| h == host) {
            return Err((
                StatusCode::FORBIDDEN,
                "the Host header does not name this endpoint\n",
            ));
        }
        if let Some(origin) = text(header::ORIGIN) {
            if origin.strip_prefix("http://") != Some(host) {
                return Err((StatusCode::FORBIDDEN, "a request from another origin\n"));
            }
        }
        let kind = text(header::CONTENT_TYPE).unwrap_or("");
        let media = kind.split(';').next().unwrap_or("").trim();
        if !["application/json", "application/toml"].contains(&media) {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a change needs Content-Type application/json or application/toml\n",
            ));
        }
        if let Some(token) = &self.token {
            let given = text(header::AUTHORIZATION).and_then(|a| a.strip_prefix("Bearer "));
            if given != Some(token.as_str()) {
                return Err((
                    StatusCode::UNAUTHORIZED,
                    "a change needs the endpoint's bearer token\n",
                ));
            }
        }
        Ok(())
    }
}

/// Lets reads through; a changing request only if the guard admits it.
async fn guarded(
    State(guard): State<Arc<Guard>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let changes = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if changes {
        if let Err(refusal) = guard.admit(request.headers()) {
            tracing::warn!(method = %request.method(), uri = %request.uri(), "control endpoint refused a change: {}", refusal.1.trim());
            return refusal.into_response();
        }
    }
    next.run(request).await
}

/// Serves the control endpoint for `fleet` on `listener` until the task is dropped; changes
/// pass `guard`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    fleet: Arc<Fleet>,
    guard: Guard,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/meters", get(list))
        .route("/meters/{name}", get(show))
        .route("/meters/{name}/reboot", post(reboot))
        .route("/meters/{name}/faults", post(inject))
        .route("/meters/{name}/profile", put(profile))
        .route("/judge", get(judge))
        .with_state(fleet)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(guard),
            guarded,
        ));
    axum::serve(listener, app).await
}

fn find<'a>(fleet: &'a Fleet, name: &str) -> Option<&'a FleetMeter> {
    fleet.meters.iter().find(|m| m.plan.name == name)
}

fn not_found(name: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("no meter named {name}\n")).into_response()
}

fn summary(m: &FleetMeter) -> Value {
    m.host.with_meter(|meter| {
        let s = meter.state();
        json!({
            "name": m.plan.name,
            "address": m.plan.address.to_string(),
            "status": s.transfer.status.value(),
            "offline": meter.is_offline(),
            "firmware": s.parts.iter().map(|p| json!({"part": p.part, "identifier": String::from_utf8_lossy(&p.active.identifier)})).collect::<Vec<_>>(),
        })
    })
}

async fn judge(State(fleet): State<Arc<Fleet>>) -> Json<crate::judge::Report> {
    Json(fleet.judge_report())
}

async fn list(State(fleet): State<Arc<Fleet>>) -> Json<Value> {
    Json(Value::Array(fleet.meters.iter().map(summary).collect()))
}

async fn show(State(fleet): State<Arc<Fleet>>, Path(name): Path<String>) -> Response {
    let Some(m) = find(&fleet, &name) else {
        return not_found(&name);
    };
    let detail = m.host.with_meter(|meter| {
        let s = meter.state();
        json!({
            "name": m.plan.name,
            "address": m.plan.address.to_string(),
            "doomed": m.plan.doomed(),
            "planned_faults": m.plan.faults,
            "pending_faults": meter.pending_faults(),
            "activation_fails": m.plan.activation_fails,
            "link_faults_injected": m.host.link_fault_stats(),
            "profile": meter.profile(),
            "bitmap": s.transfer.received.iter().map(|b| if *b { '1' } else { '0' }).collect::<String>(),
            "first_not_transferred": s.transfer.first_not_transferred(),
            "offline": meter.is_offline(),
            "stats": meter.stats(),
            "state": s,
        })
    });
    Json(detail).into_response()
}

/// Faults to inject now.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Injection {
    meter: crate::faults::Faults,
    link: Option<crate::net::link_faults::LinkFaults>,
}

async fn inject(
    State(fleet): State<Arc<Fleet>>,
    Path(name): Path<String>,
    body: String,
) -> Response {
    let Some(m) = find(&fleet, &name) else {
        return not_found(&name);
    };
    let injection: Injection = match serde_json::from_str(&body) {
        Ok(i) => i,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("faults: {e}\n")).into_response(),
    };
    m.host
        .with_meter(|meter| meter.inject_faults(injection.meter));
    if let Some(link) = injection.link {
        m.host.set_link_faults(link);
    }
    let pending = m.host.with_meter(|meter| json!(meter.pending_faults()));
    (StatusCode::ACCEPTED, Json(pending)).into_response()
}

async fn profile(
    State(fleet): State<Arc<Fleet>>,
    Path(name): Path<String>,
    body: String,
) -> Response {
    let Some(m) = find(&fleet, &name) else {
        return not_found(&name);
    };
    match crate::profile::MeterProfile::from_toml(&body, "profile") {
        Ok(p) => {
            let weakened = p.weaknesses();
            if !weakened.is_empty() {
                tracing::warn!(meter = %name, "a profile that weakens security: {}", weakened.join("; "));
            }
            m.host.with_meter(|meter| meter.set_profile(p));
            (StatusCode::OK, format!("{name}: profile replaced\n")).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

async fn reboot(State(fleet): State<Arc<Fleet>>, Path(name): Path<String>) -> Response {
    let Some(m) = find(&fleet, &name) else {
        return not_found(&name);
    };
    let offline = m.host.with_meter(|meter| {
        let offline = meter.profile().reboot_ms;
        meter.reboot(now_ms(), offline);
        offline
    });
    (
        StatusCode::ACCEPTED,
        format!("{name} rebooting for {offline} ms\n"),
    )
        .into_response()
}

/// The Prometheus exposition of the fleet's state.
pub fn exposition(fleet: &Fleet) -> String {
    let mut by_status = [0u64; 8];
    let (mut offline, mut blocks, mut reboots, mut ok, mut failed) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut lost, mut cuts, mut power) = (0u64, 0u64, 0u64);
    let (mut busy, mut dropped, mut full) = (0u64, 0u64, 0u64);
    let (mut initiates, mut repeated, mut requests) = (0u64, 0u64, 0u64);
    let mut connections = 0u64;
    let (mut group, mut group_discarded, mut group_replays) = (0u64, 0u64, 0u64);
    let mut link = crate::net::link_faults::LinkFaultStats::default();
    let mut broken = [0u64; crate::judge::rule::ALL.len()];
    for m in &fleet.meters {
        m.host.with_meter(|meter| {
            for (id, finding) in meter.judge().map(|j| j.findings()).into_iter().flatten() {
                if let Some(i) = crate::judge::rule::ALL.iter().position(|r| r == id) {
                    broken[i] += finding.count;
                }
            }
            by_status[meter.state().transfer.status.value() as usize] += 1;
            offline += u64::from(meter.is_offline());
            let s = meter.stats();
            blocks += s.blocks_received;
            requests += s.requests;
            reboots += s.reboots;
            ok += s.activations_succeeded;
            failed += s.activations_failed;
            lost += s.lost_blocks;
            cuts += s.connection_cuts;
            power += s.power_cuts;
            busy += s.busy_replies;
            dropped += s.dropped_replies;
            full += s.storage_full;
            initiates += s.initiates;
            repeated += s.blocks_repeated;
            group += s.group_requests;
            group_discarded += s.group_discarded;
            group_replays += s.group_replays;
        });
        connections += m.host.connections_opened();
        let l = m.host.link_fault_stats();
        link.lost += l.lost;
        link.duplicated += l.duplicated;
        link.corrupted += l.corrupted;
        link.reordered += l.reordered;
        link.refused += l.refused;
        link.half_open += l.half_open;
        link.group_lost += l.group_lost;
    }
    let mut out = String::new();
    let status: Vec<(String, u64)> = by_status
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("{{status=\"{i}\"}}"), *n))
        .collect();
    family(
        &mut out,
        "meterfleet_meters",
        "gauge",
        "Meters by image_transfer_status.",
        &status,
    );
    family(
        &mut out,
        "meterfleet_meters_offline",
        "gauge",
        "Meters rebooting now.",
        &[("", offline)],
    );
    family(
        &mut out,
        "meterfleet_requests_total",
        "counter",
        "Requests (APDUs) the meters were sent over their own addresses, answered or not.",
        &[("", requests)],
    );
    family(
        &mut out,
        "meterfleet_connections_total",
        "counter",
        "Connections that reached a meter, each counted at its first request.",
        &[("", connections)],
    );
    family(
        &mut out,
        "meterfleet_blocks_received_total",
        "counter",
        "Image blocks stored by the meters.",
        &[("", blocks)],
    );
    family(
        &mut out,
        "meterfleet_blocks_repeated_total",
        "counter",
        "Image blocks received again that the meters already held.",
        &[("", repeated)],
    );
    family(
        &mut out,
        "meterfleet_initiates_total",
        "counter",
        "Transfers initiated.",
        &[("", initiates)],
    );
    family(
        &mut out,
        "meterfleet_group_requests_total",
        "counter",
        "Group-addressed requests that reached a meter (broadcast or multicast), by what the meter made of them.",
        &[
            ("{outcome=\"carried_out\"}", group - group_discarded - group_replays),
            ("{outcome=\"discarded\"}", group_discarded),
            ("{outcome=\"replay_refused\"}", group_replays),
        ],
    );
    family(
        &mut out,
        "meterfleet_reboots_total",
        "counter",
        "Meter reboots, activations included.",
        &[("", reboots)],
    );
    family(
        &mut out,
        "meterfleet_activations_total",
        "counter",
        "Activations by result.",
        &[
            ("{result=\"succeeded\"}", ok),
            ("{result=\"failed\"}", failed),
        ],
    );
    family(
        &mut out,
        "meterfleet_faults_injected_total",
        "counter",
        "Faults injected, by kind.",
        &[
            ("{kind=\"lost_block\"}", lost),
            ("{kind=\"connection_cut\"}", cuts),
            ("{kind=\"power_cut\"}", power),
            ("{kind=\"busy_reply\"}", busy),
            ("{kind=\"dropped_reply\"}", dropped),
            ("{kind=\"storage_full\"}", full),
            ("{kind=\"frame_lost\"}", link.lost),
            ("{kind=\"frame_duplicated\"}", link.duplicated),
            ("{kind=\"frame_corrupted\"}", link.corrupted),
            ("{kind=\"frame_reordered\"}", link.reordered),
            ("{kind=\"connection_refused\"}", link.refused),
            ("{kind=\"connection_half_open\"}", link.half_open),
            ("{kind=\"group_frame_lost\"}", link.group_lost),
        ],
    );
    let judged: Vec<(String, u64)> = crate::judge::rule::ALL
        .iter()
        .zip(broken)
        .map(|(rule, n)| (format!("{{rule=\"{rule}\"}}"), n))
        .collect();
    family(
        &mut out,
        "meterfleet_judge_findings_total",
        "counter",
        "Times the head-ends broke each rule of the judge, over the fleet.",
        &judged,
    );
    out
}

/// Appends one metric family to `out`: its HELP and TYPE lines, then a sample per label set.
fn family<L: std::fmt::Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: &[(L, u64)],
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

async fn metrics(State(fleet): State<Arc<Fleet>>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        exposition(&fleet),
    )
}
