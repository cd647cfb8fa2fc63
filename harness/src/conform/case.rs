//! Conformance cases as data: the TOML model, its validation (errors name the file, line and
//! field), and the catalogue of a `cases/` folder. The format is documented in
//! `cases/README.md`.

use super::step::{validate_step, Step, StepSpec};
use crate::target::{MeterTarget, Transport};
use crate::toml_file::line_of;
use serde::Deserialize;
use sha2::Digest;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// How much a case's requirement weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// A "shall": breaking it is a fail.
    Must,
    /// A "should" or field practice: breaking it is non-strict.
    Should,
    /// Behaviour the standard leaves open: recorded, never judged.
    Info,
}

/// How far a case changes the meter, in increasing order. Against a meter that is not emulated
/// only the tiers the run allows are run (`conform --allow TIER`, read always).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// Reads only (GET, associations, frames).
    Read,
    /// Writes configuration (SET, other methods), which the teardown restores.
    Write,
    /// Runs the image transfer up to verification (initiate, blocks, verify): the running
    /// firmware is untouched, but the transfer state changes.
    Transfer,
    /// Activates an image: the running firmware changes.
    Activate,
}

impl Tier {
    /// Every tier, in increasing order.
    pub const ALL: [Tier; 4] = [Tier::Read, Tier::Write, Tier::Transfer, Tier::Activate];

    /// The tier of a name.
    pub fn from_name(name: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The name in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Read => "read",
            Tier::Write => "write",
            Tier::Transfer => "transfer",
            Tier::Activate => "activate",
        }
    }
}

/// What a case needs from the target; a case whose needs are not met is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// The target speaks the wrapper.
    Wrapper,
    /// The target speaks HDLC.
    Hdlc,
    /// The target speaks the wrapper over UDP.
    Udp,
    /// An LLS client and its password are known.
    Lls,
    /// An HLS-GMAC client and the keys are known.
    Hls,
    /// An image the meter accepts and activates.
    ValidImage,
    /// A validly built image with a bad signature.
    BadSignatureImage,
    /// A validly signed image for a firmware part other than the target part.
    WrongPartImage,
    /// A validly signed image for the metrology part (b = 0).
    MetrologyImage,
    /// The statement declares the metrology part (0) locked against upgrades.
    MetrologyLocked,
    /// The statement declares the largest image the meter accepts (`$largest_image`).
    LargestImage,
    /// The meter can be power-cycled by the bench.
    PowerCycle,
    /// Every case starts on a meter in its factory state (an emulated bench).
    FreshMeter,
    /// The targets file says how group requests reach the meter (`group`).
    Group,
    /// The targets file names the meter's IP multicast group (`multicast`).
    Multicast,
    /// The targets file says the meter takes multicast only, never broadcast.
    MulticastOnly,
}

/// What a meter offers the catalogue (the bench adds power-cycle and fresh meters).
pub fn capabilities(target: &MeterTarget) -> BTreeSet<Capability> {
    let mut caps = BTreeSet::new();
    caps.insert(match target.main.transport {
        Transport::Wrapper => Capability::Wrapper,
        Transport::Hdlc => Capability::Hdlc,
        Transport::Udp => Capability::Udp,
    });
    let images = &target.images;
    let offered = [
        (&images.valid, Capability::ValidImage),
        (&images.bad_signature, Capability::BadSignatureImage),
        (&images.wrong_part, Capability::WrongPartImage),
        (&images.metrology, Capability::MetrologyImage),
    ];
    caps.extend(offered.iter().filter(|(i, _)| i.is_some()).map(|(_, c)| *c));
    if target.lls.is_some() {
        caps.insert(Capability::Lls);
    }
    if target.statement.locked_parts.contains(&0) {
        caps.insert(Capability::MetrologyLocked);
    }
    if target.statement.declared("largest_image").is_some() {
        caps.insert(Capability::LargestImage);
    }
    if target.hls.is_some() {
        caps.insert(Capability::Hls);
    }
    if let Some(group) = target.main.group {
        caps.insert(Capability::Group);
        if group.multicast_only {
            caps.insert(Capability::MulticastOnly);
        }
    }
    if target.main.multicast.is_some() {
        caps.insert(Capability::Multicast);
    }
    caps
}

impl Capability {
    /// The name case files use.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Wrapper => "wrapper",
            Capability::Hdlc => "hdlc",
            Capability::Udp => "udp",
            Capability::Lls => "lls",
            Capability::Hls => "hls",
            Capability::ValidImage => "valid-image",
            Capability::BadSignatureImage => "bad-signature-image",
            Capability::WrongPartImage => "wrong-part-image",
            Capability::MetrologyImage => "metrology-image",
            Capability::MetrologyLocked => "metrology-locked",
            Capability::LargestImage => "largest-image",
            Capability::PowerCycle => "power-cycle",
            Capability::FreshMeter => "fresh-meter",
            Capability::Group => "group",
            Capability::Multicast => "multicast",
            Capability::MulticastOnly => "multicast-only",
        }
    }
}

/// A case file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    id: String,
    title: String,
    level: Level,
    requirement: String,
    source: String,
    #[serde(default)]
    needs: BTreeSet<Capability>,
    #[serde(default)]
    detects: Vec<String>,
    steps: Vec<Spanned<StepSpec>>,
}

/// A validated case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The unique id, e.g. `it-attr4-first-gap`.
    pub id: String,
    /// What it checks, in a line.
    pub title: String,
    /// The folder it is in under the catalogue root.
    pub subject: String,
    /// The file.
    pub file: PathBuf,
    /// The requirement, quoted.
    pub requirement: String,
    /// Where the requirement comes from.
    pub source: String,
    /// How much it weighs.
    pub level: Level,
    /// What it needs from the target.
    pub needs: BTreeSet<Capability>,
    /// How far it changes the meter (from its steps).
    pub tier: Tier,
    /// The emulator's quirks (by name) this case is designed to catch: the detection matrix
    /// checks that it does.
    pub detects: Vec<String>,
    /// SHA-256 of the case file's text: which version of the case ran.
    pub digest: [u8; 32],
    /// The steps.
    pub steps: Vec<Step>,
}

/// A case file that cannot be used: the message names the file, line and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CaseError(pub String);

impl Case {
    /// Parses a case; `file` names it in errors and `subject` is its folder.
    pub fn parse(text: &str, file: &Path, subject: &str) -> Result<Case, CaseError> {
        let origin = file.display();
        let raw: CaseFile = crate::toml_file::parse(text, &origin.to_string())
            .map_err(|e| CaseError(e.to_string()))?;
        let kebab = |name: &str| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if !kebab(&raw.id) {
            return Err(CaseError(format!(
                "{origin}: field id: `{}` must be lowercase letters, digits and dashes",
                raw.id
            )));
        }
        if let Some(bad) = raw.detects.iter().find(|d| !kebab(d)) {
            return Err(CaseError(format!(
                "{origin}: field detects: `{bad}` is not a quirk name (lowercase letters, digits and dashes)"
            )));
        }
        if raw.steps.is_empty() {
            return Err(CaseError(format!(
                "{origin}: field steps: a case needs steps"
            )));
        }
        let steps = raw
            .steps
            .into_iter()
            .enumerate()
            .map(|(i, spanned)| {
                let line = line_of(text, spanned.span().start);
                validate_step(spanned.into_inner(), line)
                    .map_err(|e| CaseError(format!("{origin}: line {line}: field steps[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Case {
            id: raw.id,
            title: raw.title,
            subject: subject.to_string(),
            file: file.to_path_buf(),
            requirement: raw.requirement,
            source: raw.source,
            level: raw.level,
            needs: raw.needs,
            tier: steps
                .iter()
                .map(|s| s.action.tier())
                .max()
                .unwrap_or(Tier::Read),
            detects: raw.detects,
            digest: sha2::Sha256::digest(text.as_bytes()).into(),
            steps,
        })
    }
}

/// The catalogue shipped inside the binary: the repository's `cases/` folder as it was built.
static EMBEDDED: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../cases");

/// A case file of a catalogue: its path (under the catalogue's root) and its text.
struct CatalogueFile {
    relative: PathBuf,
    text: String,
}

/// The cases of a catalogue folder, sorted by subject and file; ids must be unique.
/// `baselines/` and `reports/` folders and README files are not cases.
pub fn load_catalogue(root: &Path) -> Result<Vec<Case>, CaseError> {
    let mut paths = Vec::new();
    collect_files(root, &mut paths).map_err(|e| CaseError(format!("{}: {e}", root.display())))?;
    let files = paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| CaseError(format!("{}: {e}", path.display())))?;
            let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            Ok(CatalogueFile { relative, text })
        })
        .collect::<Result<Vec<_>, CaseError>>()?;
    catalogue(root, files)
}

/// The catalogue built into the binary, the same cases as the repository's `cases/` folder;
/// their files are named `cases/...` in reports.
pub fn embedded_catalogue() -> Result<Vec<Case>, CaseError> {
    let mut files = Vec::new();
    collect_embedded(&EMBEDDED, &mut files);
    catalogue(Path::new("cases"), files)
}

/// Parses, sorts and checks the files of one catalogue.
fn catalogue(root: &Path, mut files: Vec<CatalogueFile>) -> Result<Vec<Case>, CaseError> {
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    let mut cases: Vec<Case> = Vec::new();
    for file in files {
        let mut parts = file.relative.components();
        let first = parts.next();
        let subject = match (first, parts.next()) {
            (Some(folder), Some(_)) => folder.as_os_str().to_string_lossy().into_owned(),
            _ => "general".to_string(),
        };
        let path = root.join(&file.relative);
        let case = Case::parse(&file.text, &path, &subject)?;
        if let Some(other) = cases.iter().find(|c| c.id == case.id) {
            return Err(CaseError(format!(
                "{}: field id: `{}` is also the id of {}",
                path.display(),
                case.id,
                other.file.display()
            )));
        }
        cases.push(case);
    }
    if cases.is_empty() {
        return Err(CaseError(format!("{}: no case files", root.display())));
    }
    Ok(cases)
}

/// Whether a folder of a catalogue holds cases (reports and baselines do not).
fn holds_cases(name: &str) -> bool {
    name != "baselines" && name != "reports"
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if holds_cases(name) {
                collect_files(&path, out)?;
            }
        } else if name.ends_with(".toml") {
            out.push(path);
        }
    }
    Ok(())
}

fn collect_embedded(dir: &include_dir::Dir<'static>, out: &mut Vec<CatalogueFile>) {
    for entry in dir.entries() {
        let path = entry.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        match entry {
            include_dir::DirEntry::Dir(sub) if holds_cases(name) => collect_embedded(sub, out),
            include_dir::DirEntry::File(file) if name.ends_with(".toml") => {
                out.push(CatalogueFile {
                    relative: path.to_path_buf(),
                    text: String::from_utf8_lossy(file.contents()).into_owned(),
                })
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "it-example"
title = "An example"
level = "must"
requirement = "quoted text"
source = "docs/protocol.md#ic-18-attributes"

[[steps]]
initiate = {}

[[steps]]
send = [0, 2]

[[steps]]
get = "image_transferred_blocks_status"
expect = { bits = "sent" }
"#;

    fn parse(text: &str) -> Result<Case, CaseError> {
        Case::parse(text, Path::new("cases/image/x.toml"), "image")
    }

    #[test]
    fn a_good_case_parses_with_lines() {
        let case = parse(GOOD).unwrap();
        assert_eq!(case.steps.len(), 3);
        assert_eq!(case.steps[2].line, 14);
        assert!(matches!(
            case.steps[1].action,
            crate::conform::step::Action::Send { .. }
        ));
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let two = GOOD.replace("send = [0, 2]", "send = [0, 2]\nget = \"image_block_size\"");
        let e = parse(&two).unwrap_err().0;
        assert!(
            e.starts_with("cases/image/x.toml: line 11: field steps[1]: 2 actions"),
            "{e}"
        );
        let typo = GOOD.replace("bits = \"sent\"", "bitz = \"sent\"");
        let e = parse(&typo).unwrap_err().0;
        assert!(
            e.contains("line 16") && e.contains("unknown field `bitz`"),
            "{e}"
        );
        let level = GOOD.replace("\"must\"", "\"may\"");
        let e = parse(&level).unwrap_err().0;
        assert!(e.contains("line 4") && e.contains("unknown variant"), "{e}");
        let bad_ref = GOOD.replace("image_transferred_blocks_status", "18/0-0:44.0.0/3");
        let e = parse(&bad_ref).unwrap_err().0;
        assert!(e.contains("field steps[2]: get:"), "{e}");
        let huge = GOOD.replace("initiate = {}", "initiate = { blocks = 4000000000 }");
        let e = parse(&huge).unwrap_err().0;
        assert!(e.contains("initiate.blocks: 1 to 100000"), "{e}");
        let wrong_check = GOOD.replace("bits = \"sent\"", "association = \"accepted\"");
        let e = parse(&wrong_check).unwrap_err().0;
        assert!(e.contains("expect.association: a get step"), "{e}");
    }

    #[test]
    fn unconfirmed_is_for_actions_with_a_value() {
        let block = "action = \"image_block_transfer\"\nunconfirmed = true\nvalue = { structure = [{ u32 = 0 }, { filler = \"$block_size\" }] }";
        let good = GOOD.replace("send = [0, 2]", block);
        assert!(matches!(
            parse(&good).unwrap().steps[1].action,
            crate::conform::step::Action::Invoke(_, Some(_), true)
        ));
        let no_value = GOOD.replace(
            "send = [0, 2]",
            "action = \"image_verify\"\nunconfirmed = true",
        );
        let e = parse(&no_value).unwrap_err().0;
        assert!(
            e.contains("field steps[1]: unconfirmed: an unconfirmed action needs a `value`"),
            "{e}"
        );
        let on_get = GOOD.replace(
            "send = [0, 2]",
            "get = \"image_block_size\"\nunconfirmed = true",
        );
        let e = parse(&on_get).unwrap_err().0;
        assert!(e.contains("unconfirmed: only with action"), "{e}");
    }
}
