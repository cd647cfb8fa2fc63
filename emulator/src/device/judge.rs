//! The judge: what a meter sees a head-end do, held against the head-end rules of
//! `judge/rules.toml` (each with its requirement, source and level). Sans-IO: the meter tells it
//! each image transfer request before handling it, and each association that ends or is
//! refused; it keeps, per rule, how often the head-end broke it and the first occurrences.

use bitvec::order::Msb0;
use bitvec::slice::BitSlice;
use dlms::cosem::image_transfer::ImageTransferStatus;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::OnceLock;

/// The rules' ids, each the name of a detector below.
pub mod rule {
    /// A block of the wrong length.
    pub const BLOCK_SIZE: &str = "block-size";
    /// A block number at or past the block count.
    pub const BLOCK_PAST_COUNT: &str = "block-past-count";
    /// A last block whose length makes an image of another size than initiated.
    pub const IMAGE_SIZE_MISMATCH: &str = "image-size-mismatch";
    /// A block with no transfer initiated.
    pub const BLOCK_WITHOUT_TRANSFER: &str = "block-without-transfer";
    /// A block after a successful verification.
    pub const BLOCK_AFTER_VERIFY: &str = "block-after-verify";
    /// Verify with blocks missing and completeness never checked.
    pub const VERIFY_WITHOUT_BITMAP: &str = "verify-without-bitmap";
    /// The same image initiated again on a new connection instead of resumed.
    pub const REINITIATE_INSTEAD_OF_RESUME: &str = "reinitiate-instead-of-resume";
    /// Verify while a verification runs.
    pub const VERIFY_WHILE_VERIFYING: &str = "verify-while-verifying";
    /// More than [`super::MAX_STATUS_READS_PER_SECOND`] status reads in a second.
    pub const STATUS_POLLED_TOO_FAST: &str = "status-polled-too-fast";
    /// An image not verified activated on a meter that does not verify implicitly.
    pub const ACTIVATE_WITHOUT_VERIFY: &str = "activate-without-verify";
    /// A verified image activated without reading attribute 7.
    pub const ACTIVATE_WITHOUT_INFO: &str = "activate-without-info";
    /// Attempts at a meter that refuses them, without backing off.
    pub const RECONNECT_STORM: &str = "reconnect-storm";
    /// A connection closed with its association open.
    pub const ASSOCIATION_NOT_RELEASED: &str = "association-not-released";
    /// An association over the meter's limit.
    pub const TOO_MANY_ASSOCIATIONS: &str = "too-many-associations";
    /// A plain request in a ciphered association.
    pub const UNCIPHERED_REQUEST: &str = "unciphered-request";
    /// A confirmed request under the invoke-id of one still unanswered.
    pub const INVOKE_ID_REUSED: &str = "invoke-id-reused";

    /// Every rule the judge detects, in catalogue order.
    pub const ALL: [&str; 16] = [
        BLOCK_SIZE,
        BLOCK_PAST_COUNT,
        IMAGE_SIZE_MISMATCH,
        BLOCK_WITHOUT_TRANSFER,
        BLOCK_AFTER_VERIFY,
        VERIFY_WITHOUT_BITMAP,
        REINITIATE_INSTEAD_OF_RESUME,
        VERIFY_WHILE_VERIFYING,
        STATUS_POLLED_TOO_FAST,
        ACTIVATE_WITHOUT_VERIFY,
        ACTIVATE_WITHOUT_INFO,
        RECONNECT_STORM,
        ASSOCIATION_NOT_RELEASED,
        TOO_MANY_ASSOCIATIONS,
        UNCIPHERED_REQUEST,
        INVOKE_ID_REUSED,
    ];
}

/// The most image_transfer_status reads a second the `status-polled-too-fast` rule allows.
pub const MAX_STATUS_READS_PER_SECOND: usize = 10;
/// The most attempts (connections or requests) into a reboot within [`STORM_WINDOW_MS`] the
/// `reconnect-storm` rule allows: a backoff from 100 ms doubling makes 5 in its first two
/// seconds, a fixed retry every 250 ms makes 8.
pub const STORM_ATTEMPTS: usize = 5;
/// The window of the `reconnect-storm` rule, in milliseconds.
pub const STORM_WINDOW_MS: u64 = 2_000;
/// The occurrences of a rule a meter keeps (the first ones).
const KEPT: usize = 3;

/// How much a head-end rule weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleLevel {
    /// The standard mandates it.
    Must,
    /// The standard recommends it, or the field's manuals describe it.
    Should,
}

/// A head-end rule as the catalogue writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Its id (`block-size`).
    pub id: String,
    /// What it checks, in a line.
    pub title: String,
    /// How much it weighs.
    pub level: RuleLevel,
    /// The requirement.
    pub requirement: String,
    /// Where it comes from.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    rule: Vec<Rule>,
}

/// The catalogue of head-end rules, built into the binary.
pub fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        toml::from_str::<RulesFile>(include_str!("../../../judge/rules.toml"))
            .expect("the built-in rules parse (a unit test checks them)")
            .rule
    })
}

/// One time the head-end broke a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occurrence {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What the head-end did, and why it breaks the rule.
    pub what: String,
}

/// How often a meter saw a rule broken, and the first times.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// How many times.
    pub count: u64,
    /// The first ones.
    pub first: Vec<Occurrence>,
}

/// What the meter saw the head-end ask of the image transfer object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen<'a> {
    /// A GET of an attribute.
    Get(i8),
    /// image_transfer_initiate.
    Initiate {
        /// The identifier.
        identifier: &'a [u8],
        /// The image size.
        size: u32,
    },
    /// image_block_transfer.
    Block {
        /// The block number.
        number: u32,
        /// The block's length.
        len: usize,
    },
    /// image_verify.
    Verify,
    /// image_activate.
    Activate,
}

/// The transfer as the meter holds it when a request comes.
#[derive(Debug, Clone, Copy)]
pub struct TransferView<'a> {
    /// image_transfer_status.
    pub status: ImageTransferStatus,
    /// image_block_size, as the meter offers it.
    pub block_size: u32,
    /// The transfer's image identifier and size.
    pub identifier: &'a [u8],
    /// The transfer's image size.
    pub size: u32,
    /// Blocks the transfer has.
    pub block_count: u32,
    /// The blocks received, a bit each: counted only where a rule needs the count, not for
    /// every block (a count is as long as the image).
    pub received: &'a BitSlice<u8, Msb0>,
    /// Whether image_activate verifies an image not yet verified (the standard says it does;
    /// a meter with the `no-implicit-verify` quirk does not).
    pub verifies_implicitly: bool,
}

impl TransferView<'_> {
    /// How many blocks were received.
    fn received_count(&self) -> u32 {
        self.received.count_ones() as u32
    }
}

/// One meter's judge.
#[derive(Debug, Clone)]
pub struct Judge {
    /// How much faster than real time the meter's world runs: the windows shrink by it.
    time_scale: f64,
    findings: BTreeMap<&'static str, Finding>,
    /// The completeness was read since the last block.
    completeness_read: bool,
    /// Attribute 7 was read since the last successful verification.
    info_read: bool,
    status_reads: VecDeque<u64>,
    /// Refused attempts within the last [`STORM_WINDOW_MS`] (since the last reboot ended).
    refused_attempts: VecDeque<u64>,
    /// The connection of the last initiate or block.
    transfer_connection: Option<u64>,
}

impl Default for Judge {
    /// A judge in real time.
    fn default() -> Self {
        Judge::scaled(1.0)
    }
}

impl Judge {
    /// A judge for a meter whose world runs `time_scale` times faster than real time (a
    /// scenario's `time_scale`): a second of its rules is a second divided by it.
    pub fn scaled(time_scale: f64) -> Self {
        Judge {
            time_scale: if time_scale > 0.0 { time_scale } else { 1.0 },
            findings: BTreeMap::new(),
            completeness_read: false,
            info_read: false,
            status_reads: VecDeque::new(),
            refused_attempts: VecDeque::new(),
            transfer_connection: None,
        }
    }

    /// `ms` of the rules' time in the meter's world.
    fn window(&self, ms: u64) -> u64 {
        (ms as f64 / self.time_scale).round() as u64
    }

    /// Records that `rule` was broken at `now_ms`, and how.
    fn broke(&mut self, rule: &'static str, now_ms: u64, what: String) {
        let finding = self.findings.entry(rule).or_default();
        finding.count += 1;
        if finding.first.len() < KEPT {
            finding.first.push(Occurrence {
                at_ms: now_ms,
                what,
            });
        }
    }

    /// A request to the image transfer object on `connection`, before the meter handles it.
    pub fn observe(&mut self, now_ms: u64, connection: u64, seen: Seen<'_>, t: &TransferView<'_>) {
        use ImageTransferStatus as S;
        match seen {
            Seen::Get(3 | 4) => self.completeness_read = true,
            Seen::Get(7) => self.info_read = true,
            Seen::Get(6) => {
                let second = self.window(1000);
                self.status_reads.push_back(now_ms);
                while self
                    .status_reads
                    .front()
                    .is_some_and(|t| now_ms.saturating_sub(*t) >= second)
                {
                    self.status_reads.pop_front();
                }
                if self.status_reads.len() > MAX_STATUS_READS_PER_SECOND {
                    self.status_reads.clear();
                    self.broke(
                        rule::STATUS_POLLED_TOO_FAST,
                        now_ms,
                        format!("more than {MAX_STATUS_READS_PER_SECOND} reads of image_transfer_status within a second"),
                    );
                }
            }
            Seen::Get(_) => {}
            Seen::Initiate { identifier, size } => {
                let same = identifier == t.identifier && size == t.size;
                let cut_off = self.transfer_connection.is_some_and(|c| c != connection);
                if same && cut_off && t.status == S::Initiated && t.received.any() {
                    self.broke(
                        rule::REINITIATE_INSTEAD_OF_RESUME,
                        now_ms,
                        format!(
                            "initiate of {} ({size} bytes) again on a new connection, with {} of {} blocks already held",
                            String::from_utf8_lossy(identifier),
                            t.received_count(),
                            t.block_count
                        ),
                    );
                }
                self.transfer_connection = Some(connection);
                self.completeness_read = false;
                self.info_read = false;
            }
            Seen::Block { number, len } => self.block(now_ms, connection, number, len, t),
            Seen::Verify => {
                if t.status == S::VerificationInitiated {
                    self.broke(
                        rule::VERIFY_WHILE_VERIFYING,
                        now_ms,
                        "image_verify while status is 2 (verification initiated)".into(),
                    );
                } else if t.status == S::Initiated
                    && !self.completeness_read
                    && t.received_count() < t.block_count
                {
                    self.broke(
                        rule::VERIFY_WITHOUT_BITMAP,
                        now_ms,
                        format!(
                            "image_verify with {} of {} blocks missing, attributes 3 and 4 not read since the last block",
                            t.block_count - t.received_count(),
                            t.block_count
                        ),
                    );
                }
                self.info_read = false;
            }
            Seen::Activate => {
                if t.status == S::Initiated && !t.verifies_implicitly {
                    self.broke(
                        rule::ACTIVATE_WITHOUT_VERIFY,
                        now_ms,
                        "image_activate of an image never verified, on a meter that does not verify implicitly".into(),
                    );
                }
                if t.status == S::VerificationSuccessful && !self.info_read {
                    self.broke(
                        rule::ACTIVATE_WITHOUT_INFO,
                        now_ms,
                        "image_activate of a verified image, image_to_activate_info not read since the verification".into(),
                    );
                }
            }
        }
    }

    fn block(
        &mut self,
        now_ms: u64,
        connection: u64,
        number: u32,
        len: usize,
        t: &TransferView<'_>,
    ) {
        use ImageTransferStatus as S;
        self.transfer_connection = Some(connection);
        self.completeness_read = false;
        if t.status == S::NotInitiated {
            self.broke(
                rule::BLOCK_WITHOUT_TRANSFER,
                now_ms,
                format!("block {number} with no transfer initiated (status 0)"),
            );
            return;
        }
        if t.status == S::VerificationSuccessful {
            self.broke(
                rule::BLOCK_AFTER_VERIFY,
                now_ms,
                format!("block {number} after the image verified (status 3)"),
            );
        }
        if number >= t.block_count {
            self.broke(
                rule::BLOCK_PAST_COUNT,
                now_ms,
                format!("block {number} of an image of {} blocks", t.block_count),
            );
            return;
        }
        let block = t.block_size as usize;
        let last = number + 1 == t.block_count;
        let wrong = if last { len > block } else { len != block };
        let rest = (t.size as usize).saturating_sub(number as usize * block);
        if last && !wrong && len != rest && len != block {
            // Neither the bytes left of the image initiated nor a block padded to full size.
            self.broke(
                rule::IMAGE_SIZE_MISMATCH,
                now_ms,
                format!(
                    "last block {number} of {len} bytes; the {} bytes initiated leave {rest}",
                    t.size
                ),
            );
        }
        if wrong {
            self.broke(
                rule::BLOCK_SIZE,
                now_ms,
                format!(
                    "block {number} of {len} bytes; image_block_size is {block}{}",
                    if last { " (the last block)" } else { "" }
                ),
            );
        }
    }

    /// A connection or a request the meter refused: it reboots, every connection it serves is
    /// taken, or its link refused the connection.
    pub fn attempt_refused(&mut self, now_ms: u64) {
        let window = self.window(STORM_WINDOW_MS);
        let recent = &mut self.refused_attempts;
        recent.push_back(now_ms);
        while recent
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= window)
        {
            recent.pop_front();
        }
        if recent.len() > STORM_ATTEMPTS {
            recent.clear();
            self.broke(
                rule::RECONNECT_STORM,
                now_ms,
                format!(
                    "more than {STORM_ATTEMPTS} attempts within {} s, each refused (the meter rebooting or its connections taken)",
                    STORM_WINDOW_MS / 1000
                ),
            );
        }
    }

    /// The meter is back from a reboot.
    pub fn back_online(&mut self) {
        self.refused_attempts.clear();
    }

    /// A connection closed with its association still open.
    pub fn not_released(&mut self, now_ms: u64, client_sap: u16) {
        self.broke(
            rule::ASSOCIATION_NOT_RELEASED,
            now_ms,
            format!("client {client_sap}'s connection closed without RLRQ"),
        );
    }

    /// An AARQ refused for the client's association limit.
    pub fn over_the_limit(&mut self, now_ms: u64, client_sap: u16, limit: u16) {
        self.broke(
            rule::TOO_MANY_ASSOCIATIONS,
            now_ms,
            format!("client {client_sap} asked for an association beyond its {limit}"),
        );
    }

    /// A plain service request in a ciphered association.
    pub fn unciphered(&mut self, now_ms: u64, client_sap: u16) {
        self.broke(
            rule::UNCIPHERED_REQUEST,
            now_ms,
            format!("client {client_sap} sent a plain request in its ciphered association"),
        );
    }

    /// A confirmed request under invoke-id `id`, sent while a request with the same id was
    /// still unanswered on the connection.
    pub fn invoke_id_reused(&mut self, now_ms: u64, client_sap: u16, id: u8) {
        self.broke(
            rule::INVOKE_ID_REUSED,
            now_ms,
            format!("client {client_sap} sent invoke-id {id} again before the reply to the first"),
        );
    }

    /// What the meter saw broken, by rule.
    pub fn findings(&self) -> &BTreeMap<&'static str, Finding> {
        &self.findings
    }
}

/// One rule's verdict over a fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleVerdict {
    /// The rule.
    #[serde(flatten)]
    pub rule: Rule,
    /// `pass`, or `fail` (a must broken) or `non-strict` (a should broken).
    pub verdict: String,
    /// How many times, over the fleet.
    pub count: u64,
    /// The meters that saw it, by name.
    pub meters: Vec<String>,
    /// The first occurrences, with their meter.
    pub first: Vec<(String, Occurrence)>,
}

/// The judge's report on the head-end that talked to a fleet (schema `meterfleet-judge/1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// `meterfleet-judge/1`.
    pub schema: String,
    /// How many meters watched.
    pub meters: usize,
    /// Every rule, in catalogue order.
    pub rules: Vec<RuleVerdict>,
}

/// The JSON report's schema name.
pub const SCHEMA: &str = "meterfleet-judge/1";

impl Report {
    /// The report over meters `(name, judge)`.
    pub fn of<'a>(meters: impl IntoIterator<Item = (&'a str, &'a Judge)>) -> Self {
        let mut rules: Vec<RuleVerdict> = rules()
            .iter()
            .map(|r| RuleVerdict {
                rule: r.clone(),
                verdict: "pass".into(),
                count: 0,
                meters: Vec::new(),
                first: Vec::new(),
            })
            .collect();
        let mut watched = 0;
        for (name, judge) in meters {
            watched += 1;
            for (id, finding) in judge.findings() {
                let Some(v) = rules.iter_mut().find(|v| v.rule.id == *id) else {
                    continue;
                };
                v.count += finding.count;
                v.meters.push(name.to_string());
                for o in &finding.first {
                    if v.first.len() < KEPT {
                        v.first.push((name.to_string(), o.clone()));
                    }
                }
                v.verdict = match v.rule.level {
                    RuleLevel::Must => "fail",
                    RuleLevel::Should => "non-strict",
                }
                .into();
            }
        }
        Report {
            schema: SCHEMA.into(),
            meters: watched,
            rules,
        }
    }

    /// The reports of several shards of one fleet as one: per rule the counts added, the
    /// meters and first occurrences listed, the worst verdict kept.
    pub fn merge(reports: Vec<Report>) -> Result<Report, String> {
        let mut reports = reports.into_iter();
        let mut merged = reports.next().ok_or("no reports to merge")?;
        for r in reports {
            if r.schema != merged.schema {
                return Err(format!("a judge report of schema {:?}", r.schema));
            }
            merged.meters += r.meters;
            for v in r.rules {
                let Some(into) = merged.rules.iter_mut().find(|m| m.rule.id == v.rule.id) else {
                    merged.rules.push(v);
                    continue;
                };
                into.count += v.count;
                into.meters.extend(v.meters);
                let room = KEPT.saturating_sub(into.first.len());
                into.first.extend(v.first.into_iter().take(room));
                if into.verdict == "pass" {
                    into.verdict = v.verdict;
                }
            }
        }
        Ok(merged)
    }

    /// The rules broken, by id.
    pub fn broken(&self) -> Vec<&str> {
        self.rules
            .iter()
            .filter(|r| r.count > 0)
            .map(|r| r.rule.id.as_str())
            .collect()
    }

    /// One line per rule broken (or that none was), for a console.
    pub fn render(&self) -> String {
        let broken: Vec<&RuleVerdict> = self.rules.iter().filter(|r| r.count > 0).collect();
        if broken.is_empty() {
            return format!(
                "judge: the head-end broke none of the {} rules on {} meters\n",
                self.rules.len(),
                self.meters
            );
        }
        let mut out = format!(
            "judge: the head-end broke {} of the {} rules on {} meters\n",
            broken.len(),
            self.rules.len(),
            self.meters
        );
        for r in broken {
            let example = r.first.first().map_or(String::new(), |(m, o)| {
                format!("; first on {m}: {}", o.what)
            });
            out.push_str(&format!(
                "  {:<30} {:<10} {} times on {} meters{example}\n",
                r.rule.id,
                r.verdict,
                r.count,
                r.meters.len()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_reports_merge_rule_by_rule() {
        let clean = Report::of(std::iter::empty::<(&str, &Judge)>());
        let mut broken = clean.clone();
        broken.meters = 2;
        broken.rules[0].count = 3;
        broken.rules[0].verdict = "fail".into();
        broken.rules[0].meters = vec!["m-9".into()];
        let merged = Report::merge(vec![clean.clone(), broken]).unwrap();
        assert_eq!(merged.meters, 2);
        assert_eq!(merged.rules[0].count, 3);
        assert_eq!(merged.rules[0].verdict, "fail");
        assert_eq!(merged.rules[0].meters, ["m-9"]);
        assert_eq!(merged.rules.len(), clean.rules.len());
    }

    fn view(status: ImageTransferStatus, received: u32) -> TransferView<'static> {
        // The first `received` of the 5 blocks.
        static HELD: [u8; 6] = [0x00, 0x80, 0xC0, 0xE0, 0xF0, 0xF8];
        TransferView {
            status,
            block_size: 200,
            identifier: b"APP-2",
            size: 1000,
            block_count: 5,
            received: &BitSlice::from_element(&HELD[received as usize])[..5],
            verifies_implicitly: true,
        }
    }

    #[test]
    fn the_catalogue_and_the_detectors_name_the_same_rules() {
        let ids: Vec<&str> = rules().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, rule::ALL);
    }

    #[test]
    fn a_careful_transfer_breaks_nothing() {
        use ImageTransferStatus as S;
        let mut j = Judge::default();
        let init = Seen::Initiate {
            identifier: b"APP-2",
            size: 1000,
        };
        j.observe(0, 1, init, &view(S::NotInitiated, 0));
        for n in 0..5 {
            let block = Seen::Block {
                number: n,
                len: 200,
            };
            j.observe(n as u64, 1, block, &view(S::Initiated, n));
        }
        // A last block padded to the full size is as legitimate as the bytes left.
        let padded = Seen::Block {
            number: 4,
            len: 200,
        };
        j.observe(9, 1, padded, &view(S::Initiated, 5));
        j.observe(10, 1, Seen::Get(4), &view(S::Initiated, 5));
        j.observe(11, 1, Seen::Verify, &view(S::Initiated, 5));
        j.observe(12, 1, Seen::Get(7), &view(S::VerificationSuccessful, 5));
        j.observe(13, 1, Seen::Activate, &view(S::VerificationSuccessful, 5));
        assert!(j.findings().is_empty(), "{:?}", j.findings());
    }

    #[test]
    fn a_scenario_that_runs_faster_than_real_time_shrinks_the_windows() {
        use ImageTransferStatus as S;
        let mut j = Judge::scaled(10.0);
        // Twelve reads 90 ms apart: a second of real time, over ten of the meter's world.
        for t in 0..12 {
            j.observe(t * 90, 1, Seen::Get(6), &view(S::VerificationInitiated, 5));
        }
        assert!(j.findings().is_empty(), "{:?}", j.findings());
        // Twelve within 100 ms: a second of the meter's world.
        for t in 0..12 {
            j.observe(
                5_000 + t * 8,
                1,
                Seen::Get(6),
                &view(S::VerificationInitiated, 5),
            );
        }
        assert_eq!(j.findings()[rule::STATUS_POLLED_TOO_FAST].count, 1);
    }

    #[test]
    fn each_bad_habit_breaks_its_rule() {
        use ImageTransferStatus as S;
        let mut j = Judge::default();
        j.observe(
            0,
            1,
            Seen::Block {
                number: 0,
                len: 200,
            },
            &view(S::NotInitiated, 0),
        );
        j.observe(
            1,
            1,
            Seen::Block {
                number: 1,
                len: 100,
            },
            &view(S::Initiated, 0),
        );
        j.observe(
            2,
            1,
            Seen::Block {
                number: 9,
                len: 200,
            },
            &view(S::Initiated, 0),
        );
        j.observe(3, 1, Seen::Verify, &view(S::Initiated, 2));
        let init = Seen::Initiate {
            identifier: b"APP-2",
            size: 1000,
        };
        j.observe(4, 2, init, &view(S::Initiated, 2));
        for t in 0..12 {
            j.observe(100 + t, 2, Seen::Get(6), &view(S::VerificationInitiated, 5));
        }
        j.observe(
            150,
            2,
            Seen::Block {
                number: 4,
                len: 150,
            },
            &view(S::Initiated, 4),
        );
        let stubborn = TransferView {
            verifies_implicitly: false,
            ..view(S::Initiated, 5)
        };
        j.observe(160, 2, Seen::Activate, &stubborn);
        j.invoke_id_reused(170, 1, 3);
        j.observe(200, 2, Seen::Verify, &view(S::VerificationInitiated, 5));
        j.observe(300, 2, Seen::Activate, &view(S::VerificationSuccessful, 5));
        // A backoff from 100 ms, doubling, then a fixed retry every 250 ms.
        for t in [400, 500, 700, 1100, 1900, 3500] {
            j.attempt_refused(t);
        }
        assert!(
            j.findings().get(rule::RECONNECT_STORM).is_none(),
            "backing off"
        );
        j.back_online();
        for t in 0..8 {
            j.attempt_refused(5000 + 250 * t);
        }
        let broken: Vec<&str> = j.findings().keys().copied().collect();
        assert_eq!(
            broken,
            [
                rule::ACTIVATE_WITHOUT_INFO,
                rule::ACTIVATE_WITHOUT_VERIFY,
                rule::BLOCK_PAST_COUNT,
                rule::BLOCK_SIZE,
                rule::BLOCK_WITHOUT_TRANSFER,
                rule::IMAGE_SIZE_MISMATCH,
                rule::INVOKE_ID_REUSED,
                rule::RECONNECT_STORM,
                rule::REINITIATE_INSTEAD_OF_RESUME,
                rule::STATUS_POLLED_TOO_FAST,
                rule::VERIFY_WHILE_VERIFYING,
                rule::VERIFY_WITHOUT_BITMAP,
            ]
        );
        let report = Report::of([("m-1", &j)]);
        let size = report
            .rules
            .iter()
            .find(|r| r.rule.id == rule::BLOCK_SIZE)
            .unwrap();
        assert_eq!(size.verdict, "fail");
        assert_eq!(size.meters, ["m-1"]);
        assert!(size.first[0].1.what.contains("block 1 of 100 bytes"));
    }
}
