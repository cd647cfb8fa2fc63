//! A campaign plan, as operators write one (TOML): the images, the cohorts of meters selected
//! by label and running version, the steps in their order with version gates and activation
//! policies, the waves (a canary first, halt thresholds between waves) and the passes.
//!
//! ```toml
//! passes = 3                        # per wave, over the meters a retry may fix
//! remainder = 10                    # once a pass leaves no more meters than this, the next
//!                                   # passes go point-to-point, confirmed
//!
//! [[image]]
//! name = "app-1.5"
//! file = "app-1.5.img"        # relative to the plan; part, identifier and version from
//!                             # its MFIM header unless given (part, identifier, version)
//!
//! [[cohort]]
//! name = "e350-on-1.x"
//! labels = { model = "E350" }       # every label must match the targets file's
//! versions = { 1 = "APP-1.*" }      # the running version per part (a trailing * is a prefix)
//!
//! [[step]]
//! name = "application through 1.5"
//! image = "app-1.5"
//! cohorts = ["e350-on-1.x"]         # default: every meter
//! gate = { 2 = "COM-1.1.0" }        # the least versions a meter must run to take the step
//! activation = "now"                # "now", "no" (verified, left for a later step with
//!                                   # the same image) or "at 2026-12-01T02:00:00Z"
//! delivery = "group"                # "unicast" (confirmed) or "group": each block once to
//!                                   # the meters' multicast group or their gateway's stations
//! group = { cycles = 2, repair_every = 100, interval_ms = 2, regroup_at = 2 }
//!
//! [waves]
//! canary = "10%"                    # the first wave of each step: a count or a share
//! size = 500                        # the waves after it (default: all the rest at once)
//! halt = { failure_percent = 20.0, verification_failures = 1, unreachable_percent = 50.0 }
//! ```

use super::group::GroupDelivery;
use crate::file_error::FileError;
use crate::toml_file::line_of;
use crate::transfer::{Activation, BlockService, ImageNaming, Plan};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    image: Vec<ImageSpec>,
    #[serde(default)]
    cohort: Vec<CohortSpec>,
    step: Vec<StepSpec>,
    #[serde(default)]
    waves: WavesSpec,
    passes: Option<u32>,
    remainder: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageSpec {
    name: String,
    file: Spanned<String>,
    part: Option<u8>,
    identifier: Option<String>,
    version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CohortSpec {
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    versions: BTreeMap<Spanned<String>, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    name: Option<String>,
    image: Spanned<String>,
    #[serde(default)]
    cohorts: Vec<Spanned<String>>,
    #[serde(default)]
    gate: BTreeMap<Spanned<String>, String>,
    activation: Option<Spanned<String>>,
    delivery: Option<Spanned<String>>,
    group: Option<GroupSpec>,
}

/// A step's group delivery settings; what is not given keeps [`GroupDelivery`]'s default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSpec {
    cycles: Option<u32>,
    repair_every: Option<u32>,
    interval_ms: Option<u64>,
    regroup_at: Option<u32>,
    plain: Option<bool>,
}

impl GroupSpec {
    fn delivery(&self) -> GroupDelivery {
        let d = GroupDelivery::default();
        GroupDelivery {
            cycles: self.cycles.unwrap_or(d.cycles).max(1),
            repair_every: self.repair_every.unwrap_or(d.repair_every),
            interval: self
                .interval_ms
                .map_or(d.interval, std::time::Duration::from_millis),
            regroup_at: self.regroup_at.unwrap_or(d.regroup_at).max(1),
            keys: if self.plain == Some(true) {
                None
            } else {
                d.keys
            },
            ..d
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WavesSpec {
    canary: Option<Spanned<toml::Value>>,
    size: Option<usize>,
    #[serde(default)]
    halt: Halt,
}

/// When a campaign stops before its next wave: any threshold crossed by the wave just run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Halt {
    /// More than this share of the wave's meters failed, in percent.
    pub failure_percent: Option<f64>,
    /// At least this many of the wave's meters rejected the image at verification.
    pub verification_failures: Option<usize>,
    /// More than this share of the step's meters was unreachable at its pre-scan, in percent.
    pub unreachable_percent: Option<f64>,
}

/// How many meters a canary wave takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Canary {
    /// This many.
    Count(usize),
    /// This share of the step's expected meters, in percent (at least one meter).
    Percent(f64),
}

impl Canary {
    /// The canary wave's size among `expected` meters.
    pub fn of(self, expected: usize) -> usize {
        let n = match self {
            Canary::Count(n) => n,
            Canary::Percent(p) => (expected as f64 * p / 100.0).ceil() as usize,
        };
        n.clamp(1, expected.max(1)).min(expected)
    }
}

/// The meters a step applies to: every label matching, and each named part's running version
/// matching (exactly, or by prefix with a trailing `*`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cohort {
    /// Its name.
    pub name: String,
    /// Labels that must match.
    pub labels: BTreeMap<String, String>,
    /// Running versions by part.
    pub versions: BTreeMap<u8, String>,
}

impl Cohort {
    /// Whether a meter's `labels` match the cohort's (its running versions aside).
    pub fn labelled(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    /// Whether a meter with `labels`, running `versions`, is in the cohort.
    pub fn selects(
        &self,
        labels: &BTreeMap<String, String>,
        versions: &BTreeMap<u8, String>,
    ) -> bool {
        let labelled = self.labelled(labels);
        let running = self.versions.iter().all(|(part, pattern)| {
            versions
                .get(part)
                .is_some_and(|v| match pattern.strip_suffix('*') {
                    Some(prefix) => v.starts_with(prefix),
                    None => v == pattern,
                })
        });
        labelled && running
    }
}

/// One step of a plan: an image for the meters of its cohorts that pass its gate.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its name.
    pub name: String,
    /// The name of the image, as the plan gives it.
    pub image_name: String,
    /// What the driver sends and expects.
    pub plan: Arc<Plan>,
    /// The cohorts it applies to (any of them); empty is every meter.
    pub cohorts: Vec<Cohort>,
    /// The least version each named part must run to take the step.
    pub gate: BTreeMap<u8, String>,
}

impl Step {
    /// Whether a meter running `versions` passes the gate; if not, why.
    pub fn gate_refuses(&self, versions: &BTreeMap<u8, String>) -> Option<String> {
        self.gate.iter().find_map(|(part, least)| {
            let running = versions.get(part);
            let met = running.is_some_and(|v| {
                dlms::image::version_cmp(v.as_bytes(), least.as_bytes()) != std::cmp::Ordering::Less
            });
            (!met).then(|| {
                format!(
                    "part {part} runs {}, the step needs at least {least}",
                    running.map_or("nothing", String::as_str)
                )
            })
        })
    }
}

/// A campaign plan, read and checked.
#[derive(Debug, Clone)]
pub struct CampaignPlan {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The first wave of each step.
    pub canary: Option<Canary>,
    /// The size of the waves after the canary; none is the rest at once.
    pub wave_size: Option<usize>,
    /// When to stop before the next wave.
    pub halt: Halt,
    /// Passes per wave.
    pub passes: u32,
    /// Once a pass leaves no more than this many meters of a wave, the next passes send
    /// their blocks point-to-point, confirmed (with an unconfirmed block service).
    pub remainder: usize,
}

impl CampaignPlan {
    /// Reads the plan at `path`; `base` makes the driver plan of each image (deadlines,
    /// block service) before the image and its activation are set.
    pub fn load(path: &Path, base: &Plan) -> Result<Self, FileError> {
        let text = FileError::read(path)?;
        let origin = path.display().to_string();
        let file: PlanFile = crate::toml_file::parse(&text, &origin)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let error = |span: Option<std::ops::Range<usize>>, field: String, message: String| {
            FileError::Invalid {
                origin: origin.clone(),
                line: span.map(|s| line_of(&text, s.start)),
                field: Some(field),
                message,
            }
        };
        let mut images = BTreeMap::new();
        for (i, spec) in file.image.iter().enumerate() {
            let at = dir.join(spec.file.get_ref());
            let bytes = std::fs::read(&at).map_err(|e| {
                error(
                    Some(spec.file.span()),
                    format!("image[{i}].file"),
                    format!("{}: {e}", at.display()),
                )
            })?;
            let naming = ImageNaming {
                identifier: spec.identifier.clone().map(String::into_bytes),
                version: spec.version.clone().map(String::into_bytes),
                part: spec.part,
                fallback: spec.name.clone().into_bytes(),
            };
            if images.insert(spec.name.clone(), (bytes, naming)).is_some() {
                return Err(error(
                    Some(spec.file.span()),
                    format!("image[{i}].name"),
                    format!("a second image named {:?}", spec.name),
                ));
            }
        }
        let part_of = |key: &Spanned<String>, field: String| {
            key.get_ref()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= dlms::image::MAX_PART)
                .ok_or_else(|| {
                    error(
                        Some(key.span()),
                        field,
                        format!(
                            "{:?} is not a firmware part (0..={})",
                            key.get_ref(),
                            dlms::image::MAX_PART
                        ),
                    )
                })
        };
        let mut cohorts = BTreeMap::new();
        for (i, c) in file.cohort.iter().enumerate() {
            let mut versions = BTreeMap::new();
            for (part, pattern) in &c.versions {
                versions.insert(
                    part_of(part, format!("cohort[{i}].versions"))?,
                    pattern.clone(),
                );
            }
            let cohort = Cohort {
                name: c.name.clone(),
                labels: c.labels.clone(),
                versions,
            };
            cohorts.insert(c.name.clone(), cohort);
        }
        let mut steps = Vec::new();
        for (i, s) in file.step.iter().enumerate() {
            let (bytes, naming) = images.get(s.image.get_ref()).ok_or_else(|| {
                error(
                    Some(s.image.span()),
                    format!("step[{i}].image"),
                    format!("no [[image]] is named {:?}", s.image.get_ref()),
                )
            })?;
            let mut chosen = Vec::new();
            for (j, name) in s.cohorts.iter().enumerate() {
                let cohort = cohorts.get(name.get_ref()).ok_or_else(|| {
                    error(
                        Some(name.span()),
                        format!("step[{i}].cohorts[{j}]"),
                        format!("no [[cohort]] is named {:?}", name.get_ref()),
                    )
                })?;
                chosen.push(cohort.clone());
            }
            let mut gate = BTreeMap::new();
            for (part, least) in &s.gate {
                gate.insert(part_of(part, format!("step[{i}].gate"))?, least.clone());
            }
            let activation = match &s.activation {
                None => Activation::Now,
                Some(a) => activation(a.get_ref()).ok_or_else(|| {
                    error(
                        Some(a.span()),
                        format!("step[{i}].activation"),
                        format!(
                            "{:?}: \"now\", \"no\" or \"at\" and an RFC 3339 UTC time (at 2026-12-01T02:00:00Z)",
                            a.get_ref()
                        ),
                    )
                })?,
            };
            let block_service = match s.delivery.as_ref().map(|d| d.get_ref().as_str()) {
                None if s.group.is_none() => base.block_service,
                None | Some("group") => BlockService::Group(
                    s.group
                        .as_ref()
                        .map_or_else(GroupDelivery::default, GroupSpec::delivery),
                ),
                Some("unicast") => BlockService::Confirmed,
                Some(other) => {
                    let span = s.delivery.as_ref().map(Spanned::span);
                    return Err(error(
                        span,
                        format!("step[{i}].delivery"),
                        format!("{other:?}: \"unicast\" or \"group\""),
                    ));
                }
            };
            let image = Plan::for_image(bytes.clone(), naming.clone());
            let plan = Plan {
                block_service,
                image: image.image,
                identifier: image.identifier,
                expected_version: image.expected_version,
                part: image.part,
                activation,
                ..base.clone()
            };
            steps.push(Step {
                name: s.name.clone().unwrap_or_else(|| format!("step {}", i + 1)),
                image_name: s.image.get_ref().clone(),
                plan: Arc::new(plan),
                cohorts: chosen,
                gate,
            });
        }
        if steps.is_empty() {
            return Err(error(None, "step".into(), "a plan needs a step".into()));
        }
        let canary = match &file.waves.canary {
            None => None,
            Some(v) => Some(canary(v.get_ref()).ok_or_else(|| {
                error(
                    Some(v.span()),
                    "waves.canary".into(),
                    "a count of meters (5) or a share (\"10%\")".into(),
                )
            })?),
        };
        Ok(CampaignPlan {
            steps,
            canary,
            wave_size: file.waves.size.filter(|n| *n > 0),
            halt: file.waves.halt,
            passes: file.passes.unwrap_or(3).max(1),
            remainder: file.remainder.unwrap_or(0),
        })
    }
}

/// `now`, `no` or `at RFC3339`.
fn activation(text: &str) -> Option<Activation> {
    match text {
        "now" => Some(Activation::Now),
        "no" => Some(Activation::No),
        _ => {
            let at = text.strip_prefix("at ")?.trim();
            crate::rfc3339::parse(at).map(Activation::At)
        }
    }
}

/// A count (`5`) or a share (`"10%"`) of meters.
fn canary(value: &toml::Value) -> Option<Canary> {
    match value {
        toml::Value::Integer(n) if *n > 0 => Some(Canary::Count(*n as usize)),
        toml::Value::String(s) => {
            let p: f64 = s.strip_suffix('%')?.trim().parse().ok()?;
            (p > 0.0 && p <= 100.0).then_some(Canary::Percent(p))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, plan: &str) -> std::path::PathBuf {
        let key = p256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap();
        for (name, part, version) in [("app.img", 1, "APP-2.0.0"), ("com.img", 2, "COM-1.1.0")] {
            let image = dlms::image::build(&key, part, version.as_bytes(), &[1; 50]).unwrap();
            std::fs::write(dir.join(name), image).unwrap();
        }
        let path = dir.join("plan.toml");
        std::fs::write(&path, plan).unwrap();
        path
    }

    const PLAN: &str = r#"
[[image]]
name = "com"
file = "com.img"

[[image]]
name = "app"
file = "app.img"

[[cohort]]
name = "e350"
labels = { model = "E350" }
versions = { 1 = "APP-1.*" }

[[step]]
name = "communication first"
image = "com"

[[step]]
image = "app"
cohorts = ["e350"]
gate = { 2 = "COM-1.1.0" }
activation = "at 2026-12-01T02:00:00Z"

[waves]
canary = "10%"
halt = { failure_percent = 20.0 }
"#;

    #[test]
    fn a_plan_reads_its_images_cohorts_steps_and_waves() {
        let dir = tempfile::tempdir().unwrap();
        let plan = CampaignPlan::load(&write(dir.path(), PLAN), &Plan::new(vec![], b"x")).unwrap();
        assert_eq!(plan.steps.len(), 2);
        let (com, app) = (&plan.steps[0], &plan.steps[1]);
        assert_eq!(
            (com.plan.part, &com.plan.expected_version[..]),
            (2, &b"COM-1.1.0"[..])
        );
        assert_eq!(app.name, "step 2");
        assert!(matches!(app.plan.activation, Activation::At(t) if t == 1_796_090_400));
        assert_eq!(plan.canary.unwrap().of(55), 6);
        assert_eq!(plan.canary.unwrap().of(3), 1);
        assert_eq!(plan.halt.failure_percent, Some(20.0));
        assert_eq!(plan.passes, 3);
        let e350 = &app.cohorts[0];
        let labels = BTreeMap::from([("model".to_string(), "E350".to_string())]);
        let on = |v: &str| BTreeMap::from([(1u8, v.to_string())]);
        assert!(e350.selects(&labels, &on("APP-1.4.0")));
        assert!(!e350.selects(&labels, &on("APP-2.0.0")));
        assert!(!e350.selects(&BTreeMap::new(), &on("APP-1.4.0")));
        let com_at = |v: &str| BTreeMap::from([(2u8, v.to_string())]);
        assert_eq!(app.gate_refuses(&com_at("COM-1.1.0")), None);
        assert_eq!(
            app.gate_refuses(&com_at("COM-1.0.9")).unwrap(),
            "part 2 runs COM-1.0.9, the step needs at least COM-1.1.0"
        );
    }

    #[test]
    fn a_step_delivers_to_groups_when_it_says() {
        let dir = tempfile::tempdir().unwrap();
        let text = PLAN.replace(
            "name = \"communication first\"",
            "delivery = \"group\"\ngroup = { cycles = 3, interval_ms = 10 }",
        );
        let plan = CampaignPlan::load(&write(dir.path(), &text), &Plan::new(vec![], b"x")).unwrap();
        let BlockService::Group(group) = plan.steps[0].plan.block_service else {
            panic!("not a group step: {:?}", plan.steps[0].plan.block_service)
        };
        assert_eq!(
            (group.cycles, group.interval, group.repair_every),
            (3, std::time::Duration::from_millis(10), 100)
        );
        assert_eq!(plan.steps[1].plan.block_service, BlockService::Confirmed);
    }

    #[test]
    fn mistakes_name_the_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        for (change, expected) in [
            (
                ("image = \"app\"", "image = \"ap\""),
                "line 20: field step[1].image",
            ),
            (
                ("cohorts = [\"e350\"]", "cohorts = [\"x\"]"),
                "line 21: field step[1].cohorts[0]",
            ),
            (
                ("canary = \"10%\"", "canary = \"ten\""),
                "line 26: field waves.canary",
            ),
            (
                ("activation = \"at", "activation = \"later"),
                "line 23: field step[1].activation",
            ),
            (
                ("gate = { 2 =", "gate = { 12 ="),
                "line 22: field step[1].gate",
            ),
            (
                ("file = \"app.img\"", "file = \"none.img\""),
                "line 8: field image[1].file",
            ),
            (("[waves]", "[waves]\ncolour = 1"), "unknown field `colour`"),
            (
                ("name = \"communication first\"", "delivery = \"radio\""),
                "line 16: field step[0].delivery",
            ),
        ] {
            let text = PLAN.replace(change.0, change.1);
            let e = CampaignPlan::load(&write(dir.path(), &text), &Plan::new(vec![], b"x"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(expected), "{e} lacks {expected}");
            assert!(e.contains("plan.toml"), "{e}");
        }
    }
}
