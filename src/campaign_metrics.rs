//! `upgrade --metrics ADDR`: the campaign's progress as a live Prometheus endpoint, for the
//! dashboards operators watch a long campaign on.

use harness::campaign::Progress;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The campaign's counters, updated as each meter's attempt ends.
#[derive(Debug, Default)]
pub struct CampaignMetrics {
    pass: AtomicU64,
    total: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    upgraded: AtomicU64,
    blocks_sent: AtomicU64,
}

impl CampaignMetrics {
    /// Takes in one attempt's end.
    pub fn update(&self, p: &Progress) {
        let pass = p.pass as u64;
        if self.pass.fetch_max(pass, Ordering::Relaxed) < pass {
            // A new pass counts its meters again.
            self.done.store(0, Ordering::Relaxed);
            self.failed.store(0, Ordering::Relaxed);
        }
        self.total.store(p.total as u64, Ordering::Relaxed);
        self.done.fetch_max(p.done as u64, Ordering::Relaxed);
        self.failed.fetch_max(p.failed as u64, Ordering::Relaxed);
        self.upgraded
            .fetch_add(u64::from(p.upgraded), Ordering::Relaxed);
        self.blocks_sent
            .fetch_add(u64::from(p.blocks_sent), Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn exposition(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        for (name, kind, help, value) in [
            (
                "meterfleet_campaign_pass",
                "gauge",
                "The pass under way.",
                get(&self.pass),
            ),
            (
                "meterfleet_campaign_meters",
                "gauge",
                "Meters in the pass under way.",
                get(&self.total),
            ),
            (
                "meterfleet_campaign_meters_done",
                "gauge",
                "Meters whose attempt in the pass under way ended.",
                get(&self.done),
            ),
            (
                "meterfleet_campaign_meters_failed",
                "gauge",
                "Meters whose attempt in the pass under way failed.",
                get(&self.failed),
            ),
            (
                "meterfleet_campaign_meters_upgraded_total",
                "counter",
                "Meters confirmed on the new firmware.",
                get(&self.upgraded),
            ),
            (
                "meterfleet_campaign_blocks_sent_total",
                "counter",
                "Image block transfers sent, resends included.",
                get(&self.blocks_sent),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}

/// Serves `metrics` at `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<CampaignMetrics>) {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    metrics.exposition(),
                )
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!("the campaign's metrics endpoint stopped: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(pass: u32, done: usize, failed: usize, upgraded: bool) -> Progress {
        Progress {
            pass,
            done,
            total: 4,
            failed,
            blocks_sent: 10,
            upgraded,
        }
    }

    #[test]
    fn the_counters_follow_the_passes() {
        let m = CampaignMetrics::default();
        m.update(&ended(1, 1, 0, true));
        m.update(&ended(1, 2, 1, false));
        let text = m.exposition();
        assert!(
            text.contains("meterfleet_campaign_meters_done 2\n"),
            "{text}"
        );
        assert!(
            text.contains("meterfleet_campaign_meters_failed 1\n"),
            "{text}"
        );
        assert!(
            text.contains("meterfleet_campaign_blocks_sent_total 20\n"),
            "{text}"
        );
        m.update(&ended(2, 3, 0, true));
        let text = m.exposition();
        assert!(text.contains("meterfleet_campaign_pass 2\n"), "{text}");
        assert!(
            text.contains("meterfleet_campaign_meters_failed 0\n"),
            "{text}"
        );
        assert!(
            text.contains("meterfleet_campaign_meters_upgraded_total 2\n"),
            "{text}"
        );
    }
}
