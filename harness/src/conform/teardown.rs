//! Known state: what a case changed on the meter is put back after it, whatever its verdict.
//!
//! Every SET a case makes (its own, or the engine's, such as enabling the transfer before an
//! initiate) first reads the attribute; once the SET succeeds, the value read is kept. After the
//! case's last step, or after the deviation or error that ended it, the teardown associates
//! anew as the target's main client and writes the values back, last change first. A clock is
//! put back where it would be now. What cannot be put back is said in the case's result.

use super::engine::Run;
use super::object_ref::ObjectRef;
use dlms::axdr::DateTime;
use dlms::cosem::class;
use dlms::Data;
use std::time::Instant;

/// An attribute a case wrote, what it held before (`None`: it could not be read), and whether
/// a SET of it succeeded.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub object: ObjectRef,
    pub before: Option<Data<'static>>,
    pub at: Instant,
    pub made: bool,
}

/// The value to write back: the one read, or for a clock's time the one read plus the time
/// since, so that the clock is not set back.
fn restored(change: &Change) -> Option<Data<'static>> {
    let before = change.before.clone()?;
    let is_clock_time = change.object.class_id == class::CLOCK && change.object.index == 2;
    let now = before
        .as_bytes()
        .and_then(|b| DateTime::from_bytes(b).ok())
        .and_then(|t| t.plus_seconds(change.at.elapsed().as_secs()));
    match (is_clock_time, now) {
        (true, Some(now)) => Some(Data::octets(&now.to_bytes()).into_owned()),
        _ => Some(before),
    }
}

impl Run<'_> {
    /// Notes the value of `object` before the case's first SET of it.
    pub(crate) async fn remember_before_set(&mut self, object: &ObjectRef) {
        if self.changes.iter().any(|c| c.object == *object) {
            return;
        }
        let read = self.get(object).await.ok().and_then(|o| o.value);
        self.changes.push(Change {
            object: *object,
            before: read,
            at: Instant::now(),
            made: false,
        });
    }

    /// Marks `object` as changed: a SET of it succeeded.
    pub(crate) fn set_made(&mut self, object: &ObjectRef) {
        if let Some(change) = self.changes.iter_mut().find(|c| c.object == *object) {
            change.made = true;
        }
    }

    /// Writes back what the case changed, as the main client on a new association; one line
    /// per attribute saying what was done.
    pub(crate) async fn teardown(&mut self) -> Vec<String> {
        let changes: Vec<Change> = std::mem::take(&mut self.changes)
            .into_iter()
            .filter(|c| c.made)
            .collect();
        if changes.is_empty() {
            return Vec::new();
        }
        self.release().await;
        let part = self.target.part.unwrap_or(1);
        let mut lines = Vec::new();
        for change in changes.iter().rev() {
            let instance = change.object.instance(part);
            let what = format!(
                "{}/{}/{}",
                change.object.class_id, instance, change.object.index
            );
            let Some(value) = restored(change) else {
                lines.push(format!(
                    "could not restore {what}: its value before the case was unreadable"
                ));
                continue;
            };
            let result = match self.session().await {
                Ok(session) => session
                    .set(
                        change.object.class_id,
                        instance,
                        change.object.index,
                        &value,
                    )
                    .await
                    .map(|dar| dar.name().to_string())
                    .unwrap_or_else(|e| e.to_string()),
                Err(_) => "no association".to_string(),
            };
            let shown = super::value::show(&value);
            lines.push(if result == "success" {
                format!("restored {what} to {shown}")
            } else {
                format!("could not restore {what} to {shown}: {result}")
            });
        }
        self.release().await;
        lines
    }
}
