//! A fleet's control endpoint (HTTP, loopback by default) and its Prometheus metrics.
//!
//! - `GET /metrics`: Prometheus text exposition, low-cardinality labels only (never a meter);
//! - `GET /meters`: every meter with its status and firmware;
//! - `GET /meters/{name}`: one meter's full state, its bitmap, faults and counters;
//! - `POST /meters/{name}/reboot`: power-cycles a meter now.
//!
//! The exposition is written by hand: every value is computed from the meters' state at scrape
//! time, and the text format is four kinds of line, so a metrics library would add nothing.

use crate::fleet::{Fleet, FleetMeter};
use crate::net::serve::now_ms;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::fmt::Write;
use std::sync::Arc;

/// Serves the control endpoint for `fleet` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, fleet: Arc<Fleet>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/meters", get(list))
        .route("/meters/{name}", get(show))
        .route("/meters/{name}/reboot", post(reboot))
        .with_state(fleet);
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
            "status": s.transfer.status as u8,
            "offline": meter.is_offline(),
            "firmware": s.parts.iter().map(|p| json!({"part": p.part, "identifier": String::from_utf8_lossy(&p.active.identifier)})).collect::<Vec<_>>(),
        })
    })
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
            "faults": {
                "lose_blocks": m.plan.faults.lose_blocks,
                "reboot_at_block": m.plan.faults.reboot_at_block,
                "cut_connection_at_request": m.plan.faults.cut_connection_at_request,
                "silent_activation": m.plan.faults.silent_activation,
                "activation_fails": m.plan.activation_fails,
            },
            "bitmap": s.transfer.received.iter().map(|b| if *b { '1' } else { '0' }).collect::<String>(),
            "first_not_transferred": s.transfer.first_not_transferred(),
            "offline": meter.is_offline(),
            "stats": meter.stats(),
            "state": s,
        })
    });
    Json(detail).into_response()
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
    for m in &fleet.meters {
        m.host.with_meter(|meter| {
            by_status[(meter.state().transfer.status as usize).min(7)] += 1;
            offline += u64::from(meter.is_offline());
            let s = meter.stats();
            blocks += s.blocks_received;
            reboots += s.reboots;
            ok += s.activations_succeeded;
            failed += s.activations_failed;
            lost += s.lost_blocks;
            cuts += s.connection_cuts;
            power += s.power_cuts;
        });
    }
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let status: Vec<(String, u64)> = by_status
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("{{status=\"{i}\"}}"), *n))
        .collect();
    let status: Vec<(&str, u64)> = status.iter().map(|(l, n)| (l.as_str(), *n)).collect();
    family(
        "meterfleet_meters",
        "gauge",
        "Meters by image_transfer_status.",
        &status,
    );
    family(
        "meterfleet_meters_offline",
        "gauge",
        "Meters rebooting now.",
        &[("", offline)],
    );
    family(
        "meterfleet_blocks_received_total",
        "counter",
        "Image blocks stored by the meters.",
        &[("", blocks)],
    );
    family(
        "meterfleet_reboots_total",
        "counter",
        "Meter reboots, activations included.",
        &[("", reboots)],
    );
    family(
        "meterfleet_activations_total",
        "counter",
        "Activations by result.",
        &[
            ("{result=\"succeeded\"}", ok),
            ("{result=\"failed\"}", failed),
        ],
    );
    family(
        "meterfleet_faults_injected_total",
        "counter",
        "Faults injected, by kind.",
        &[
            ("{kind=\"lost_block\"}", lost),
            ("{kind=\"connection_cut\"}", cuts),
            ("{kind=\"power_cut\"}", power),
        ],
    );
    out
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
