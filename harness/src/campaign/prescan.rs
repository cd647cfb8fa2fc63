//! The pre-scan before a campaign sends any block: every target's active firmware identifiers
//! (each firmware part it has), its error register and image transfer state, read over one
//! association. A meter is in a normal state when its error register (where it has one)
//! shows no error and no activation is under way. What a
//! campaign expects is the reachable meters in a normal state that need the image: meters
//! already on the target version are skipped and counted, and unreachable meters are reported
//! apart, as the Landis+Gyr guide counts only endpoints in normal status.

use crate::session::Session;
use crate::target::Target;
use crate::transfer::Plan;
use dlms::cosem::image_transfer::{self as it, ImageTransferStatus as S};
use dlms::cosem::{active_firmware_identifier, class, ERROR_REGISTER};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The firmware parts read: metrology, application, communication module (1-b:0.2.0.255).
pub const PARTS: [u8; 3] = [0, 1, 2];

/// What the pre-scan found on one meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MeterScan {
    /// The meter.
    pub meter: String,
    /// Active firmware identifier per part, for the parts it has.
    pub versions: BTreeMap<u8, String>,
    /// image_transfer_status, where readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_status: Option<u8>,
    /// The error register (0-0:97.97.0.255), where the meter has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_register: Option<u64>,
    /// What the campaign does with it.
    pub verdict: Verdict,
}

/// Whether a meter is in the campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "reason")]
pub enum Verdict {
    /// Reachable, in a normal state, and not on the target version: expected.
    Needs,
    /// Its part already runs the target version: skipped.
    OnTarget,
    /// Not reachable: reported apart, not expected.
    Unreachable(String),
    /// Reachable but not in a state to take a transfer: reported apart, not expected.
    NotNormal(String),
}

/// The pre-scan of a campaign.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Prescan {
    /// Targets scanned.
    pub targets: usize,
    /// Meters expected (they need the image).
    pub expected: usize,
    /// Meters already on the target version.
    pub on_target: usize,
    /// Meters not reachable.
    pub unreachable: usize,
    /// Meters reachable but not in a normal state.
    pub not_normal: usize,
    /// Every meter, in target order.
    pub meters: Vec<MeterScan>,
}

impl Prescan {
    /// The indices of the targets the campaign expects.
    pub fn expected_indices(&self) -> Vec<usize> {
        self.meters
            .iter()
            .enumerate()
            .filter(|(_, m)| m.verdict == Verdict::Needs)
            .map(|(i, _)| i)
            .collect()
    }

    /// A line for the console.
    pub fn render(&self) -> String {
        format!(
            "pre-scan of {} meters: {} expected, {} already on the target version, {} unreachable, {} not in a normal state\n",
            self.targets, self.expected, self.on_target, self.unreachable, self.not_normal
        )
    }
}

/// Scans `targets` for `plan`, `concurrency` at a time.
pub async fn scan(targets: &[Target], plan: &Arc<Plan>, concurrency: usize) -> Prescan {
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    let tasks: Vec<_> = targets
        .iter()
        .map(|target| {
            let (target, plan, semaphore) = (target.clone(), plan.clone(), semaphore.clone());
            tokio::spawn(async move {
                let _place = semaphore.acquire_owned().await.expect("semaphore open");
                scan_one(&target, &plan).await
            })
        })
        .collect();
    let mut meters = Vec::with_capacity(tasks.len());
    for task in tasks {
        meters.push(task.await.expect("scan task"));
    }
    let count = |f: fn(&Verdict) -> bool| meters.iter().filter(|m| f(&m.verdict)).count();
    Prescan {
        targets: meters.len(),
        expected: count(|v| *v == Verdict::Needs),
        on_target: count(|v| *v == Verdict::OnTarget),
        unreachable: count(|v| matches!(v, Verdict::Unreachable(_))),
        not_normal: count(|v| matches!(v, Verdict::NotNormal(_))),
        meters,
    }
}

async fn scan_one(target: &Target, plan: &Plan) -> MeterScan {
    let mut scan = MeterScan {
        meter: target.name.clone(),
        versions: BTreeMap::new(),
        transfer_status: None,
        error_register: None,
        verdict: Verdict::Needs,
    };
    if let Err(why) = read_retrying(target, plan, &mut scan).await {
        scan.verdict = Verdict::Unreachable(why);
        return scan;
    }
    let on_target = scan
        .versions
        .get(&plan.part)
        .is_some_and(|v| v.as_bytes() == plan.expected_version);
    let status = scan.transfer_status.and_then(S::from_u8);
    scan.verdict = match (status, scan.error_register) {
        _ if on_target => Verdict::OnTarget,
        (_, Some(e)) if e != 0 => Verdict::NotNormal(format!(
            "the error register (0-0:97.97.0.255) shows {e:#010X}"
        )),
        (Some(S::ActivationInitiated), _) => {
            Verdict::NotNormal("an activation is under way (image_transfer_status 5)".into())
        }
        _ => Verdict::Needs,
    };
    scan
}

/// Reads the meter into `scan`, connecting again with a backoff from 100 ms after a lost
/// connection until the target's connect deadline: a meter is unreachable only when it stays
/// so (or refuses the association, which no retry changes); why, if it is.
async fn read_retrying(target: &Target, plan: &Plan, scan: &mut MeterScan) -> Result<(), String> {
    let limit = target.deadlines.connect.unwrap_or(plan.connect_deadline);
    let deadline = tokio::time::Instant::now() + limit;
    let mut backoff = std::time::Duration::from_millis(100);
    loop {
        let why = match tokio::time::timeout_at(deadline, Session::open(target, false)).await {
            Ok(Ok(mut session)) => {
                let read = read(&mut session, scan).await;
                session.close().await;
                match read {
                    Ok(()) => return Ok(()),
                    Err(e) => format!("lost while reading: {e}"),
                }
            }
            Ok(Err(e @ crate::session::SessionError::Association(_))) => return Err(e.to_string()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no association within {:.1} s", limit.as_secs_f64()),
        };
        if tokio::time::Instant::now() + backoff >= deadline {
            return Err(why);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
    }
}

/// Reads the identifiers and the transfer status into `scan`; an object the meter lacks is
/// left out.
async fn read(
    session: &mut Session,
    scan: &mut MeterScan,
) -> Result<(), crate::session::SessionError> {
    for part in PARTS {
        if let Ok(value) = session
            .get(class::DATA, active_firmware_identifier(part), 2)
            .await?
        {
            if let Some(bytes) = value.as_bytes() {
                scan.versions
                    .insert(part, String::from_utf8_lossy(bytes).into_owned());
            }
        }
    }
    if let Ok(value) = session.get(class::DATA, ERROR_REGISTER, 2).await? {
        scan.error_register = value.as_u64();
    }
    let status = session
        .get(
            it::CLASS_ID,
            it::LOGICAL_NAME,
            it::attribute::IMAGE_TRANSFER_STATUS,
        )
        .await?;
    scan.transfer_status = status.ok().and_then(|v| S::from_data(&v)).map(S::value);
    Ok(())
}
