//! A campaign's progress on standard error: an indicatif bar on a terminal (meters done, rate,
//! ETA, failures, the pass), a plain line every few seconds otherwise (a CI log, a file).

use harness::campaign::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How often the plain line is written when standard error is not a terminal.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Where the campaign stands, as the display last heard.
#[derive(Default)]
struct Seen {
    pass: AtomicU32,
    done: AtomicUsize,
    total: AtomicUsize,
    failed: AtomicUsize,
    finished: AtomicBool,
}

impl Seen {
    /// Takes a report in; `done` never goes back within a pass.
    fn update(&self, p: Progress) {
        if self.pass.swap(p.pass, Ordering::Relaxed) != p.pass {
            self.done.store(p.done, Ordering::Relaxed);
            self.failed.store(p.failed, Ordering::Relaxed);
        }
        self.total.store(p.total, Ordering::Relaxed);
        self.done.fetch_max(p.done, Ordering::Relaxed);
        self.failed.fetch_max(p.failed, Ordering::Relaxed);
    }

    fn line(&self, started: Instant) -> String {
        let done = self.done.load(Ordering::Relaxed);
        let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
        format!(
            "pass {}: {done}/{} meters done, {} failed in this pass, {rate:.1} meters/s",
            self.pass.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// The display of one campaign; dropping it ends the display.
pub struct CampaignProgress {
    seen: Arc<Seen>,
    /// On a terminal: the bar, drawn from the first report on.
    bar: Option<Arc<OnceLock<ProgressBar>>>,
    heartbeat: Option<std::thread::JoinHandle<()>>,
}

/// The bar: meters done of all, rate, ETA, then the pass and the failures.
fn new_bar() -> ProgressBar {
    ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} meters, {per_sec}, ETA {eta} {msg}")
            .expect("a valid template"),
    )
}

impl CampaignProgress {
    /// A bar on a terminal, a heartbeat line elsewhere.
    pub fn start() -> Self {
        let seen = Arc::new(Seen::default());
        if std::io::stderr().is_terminal() {
            return CampaignProgress {
                seen,
                bar: Some(Arc::new(OnceLock::new())),
                heartbeat: None,
            };
        }
        let watched = seen.clone();
        let started = Instant::now();
        let heartbeat = std::thread::spawn(move || {
            let mut last = Instant::now();
            while !watched.finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if last.elapsed() >= HEARTBEAT && watched.total.load(Ordering::Relaxed) > 0 {
                    last = Instant::now();
                    eprintln!("progress: {}", watched.line(started));
                }
            }
        });
        CampaignProgress {
            seen,
            bar: None,
            heartbeat: Some(heartbeat),
        }
    }

    /// The callback a campaign reports to.
    pub fn callback(&self) -> impl Fn(Progress) + Send + Sync + 'static {
        let seen = self.seen.clone();
        let bar = self.bar.clone();
        move |p| {
            seen.update(p);
            if let Some(bar) = bar.as_ref().map(|b| b.get_or_init(new_bar)) {
                bar.set_length(p.total as u64);
                bar.set_position(seen.done.load(Ordering::Relaxed) as u64);
                bar.set_message(format!(
                    "(pass {}, {} failed)",
                    p.pass,
                    seen.failed.load(Ordering::Relaxed)
                ));
            }
        }
    }
}

impl Drop for CampaignProgress {
    fn drop(&mut self) {
        self.seen.finished.store(true, Ordering::Relaxed);
        if let Some(bar) = self.bar.take().and_then(|b| b.get().cloned()) {
            bar.finish_and_clear();
        }
        if let Some(heartbeat) = self.heartbeat.take() {
            let _ = heartbeat.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_never_go_back_within_a_pass_and_restart_with_the_next() {
        let seen = Seen::default();
        let at = |pass, done, failed| Progress {
            pass,
            done,
            total: 10,
            failed,
            blocks_sent: 0,
            upgraded: false,
        };
        seen.update(at(1, 5, 1));
        seen.update(at(1, 4, 0));
        assert_eq!(seen.done.load(Ordering::Relaxed), 5);
        assert_eq!(seen.failed.load(Ordering::Relaxed), 1);
        seen.update(at(2, 8, 0));
        assert_eq!(seen.done.load(Ordering::Relaxed), 8);
        assert_eq!(seen.failed.load(Ordering::Relaxed), 0);
        assert!(seen
            .line(Instant::now())
            .starts_with("pass 2: 8/10 meters done, 0 failed"));
    }
}
