//! The implementation statement: what a meter's vendor declares about the options the standard
//! leaves open, in the spirit of the PICS and PIXIT of ISO/IEC 9646 and the IDIS
//! test-requirements form. The cases follow it where it speaks; a case that observes a declared
//! option fails when the meter contradicts its own statement, and records an undeclared one.

use std::collections::BTreeMap;
use toml::Value;

/// What kind of value an option takes, and which values are legitimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// true or false.
    Bool,
    /// A number; if the list is not empty, one of these.
    Num(&'static [i64]),
    /// A word; one of these.
    Word(&'static [&'static str]),
    /// A list of words, each one of these.
    Words(&'static [&'static str]),
}

/// One option a statement may declare.
#[derive(Debug, Clone, Copy)]
pub struct OptionDef {
    /// The key in the targets file's `statement` table, and what a case's `declares` names.
    pub name: &'static str,
    /// Its values.
    pub kind: Kind,
    /// What it declares, in a line.
    pub doc: &'static str,
}

/// The optional services a meter may agree in the association's conformance block, by the
/// names case files use: those the harness proposes, so that a run can observe each (it does
/// not speak general-block-transfer).
pub const SERVICES: &[&str] = &[
    "block-transfer-with-get",
    "block-transfer-with-set",
    "block-transfer-with-action",
    "multiple-references",
    "selective-access",
];

/// The options the cases judge. (`image_identifier`, `pad_last_block` and `locked_parts` steer
/// the cases instead: see [`Statement`].)
pub const OPTIONS: &[OptionDef] = &[
    OptionDef {
        name: "status_after_activation",
        kind: Kind::Num(&[0, 6]),
        doc: "image_transfer_status once the new image runs: 6 (activation successful) or 0",
    },
    OptionDef {
        name: "failed_activation_status",
        kind: Kind::Num(&[4, 7]),
        doc: "image_transfer_status after an activation whose implicit verification fails",
    },
    OptionDef {
        name: "activation_reboots",
        kind: Kind::Bool,
        doc: "whether activation restarts the meter (drops the connection)",
    },
    OptionDef {
        name: "block_size_writable",
        kind: Kind::Bool,
        doc: "whether image_block_size (attribute 2) accepts a SET",
    },
    OptionDef {
        name: "enabled_by_default",
        kind: Kind::Bool,
        doc: "image_transfer_enabled (attribute 5) out of the box",
    },
    OptionDef {
        name: "identifier_checked",
        kind: Kind::Bool,
        doc: "whether verification refuses an image whose identifier does not match its content",
    },
    OptionDef {
        name: "verification",
        kind: Kind::Word(&["synchronous", "asynchronous"]),
        doc: "whether image_verify answers when done, or temporary-failure while status is 2",
    },
    OptionDef {
        name: "reinitiate",
        kind: Kind::Word(&["resume", "reset"]),
        doc: "a second initiate of the same image keeps the blocks received (resume) or not",
    },
    OptionDef {
        name: "public_can_read_transfer",
        kind: Kind::Bool,
        doc: "whether the public client may read the image transfer object",
    },
    OptionDef {
        name: "public_can_upgrade",
        kind: Kind::Bool,
        doc: "whether the public client may initiate, transfer and activate an image",
    },
    OptionDef {
        name: "info_before_verify",
        kind: Kind::Word(&["empty-array", "refused"]),
        doc: "image_to_activate_info (attribute 7) before a verification: empty or refused",
    },
    OptionDef {
        name: "event_ready_for_activation",
        kind: Kind::Num(&[]),
        doc: "the code the last event code object (0-0:96.11.0.255) shows after a successful verification",
    },
    OptionDef {
        name: "largest_image",
        kind: Kind::Num(&[]),
        doc: "the largest image size in bytes the meter accepts at initiate",
    },
    OptionDef {
        name: "services",
        kind: Kind::Words(SERVICES),
        doc: "the optional services the meter agrees when they are proposed",
    },
];

/// The definition of an option by name.
pub fn option(name: &str) -> Option<&'static OptionDef> {
    OPTIONS.iter().find(|o| o.name == name)
}

impl Kind {
    /// Checks a value; the error says what would do.
    pub fn check(self, value: &Value) -> Result<(), String> {
        match (self, value) {
            (Kind::Bool, Value::Boolean(_)) => Ok(()),
            (Kind::Num(allowed), Value::Integer(n))
                if allowed.is_empty() || allowed.contains(n) =>
            {
                Ok(())
            }
            (Kind::Word(allowed), Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
            (Kind::Words(allowed), Value::Array(items))
                if items
                    .iter()
                    .all(|i| i.as_str().is_some_and(|s| allowed.contains(&s))) =>
            {
                Ok(())
            }
            _ => Err(format!("expected {}", self.describe())),
        }
    }

    fn describe(self) -> String {
        match self {
            Kind::Bool => "true or false".into(),
            Kind::Num([]) => "a number".into(),
            Kind::Num(allowed) => format!(
                "one of {}",
                allowed
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Kind::Word(allowed) => format!("one of \"{}\"", allowed.join("\", \"")),
            Kind::Words(allowed) => format!("a list of \"{}\"", allowed.join("\", \"")),
        }
    }
}

/// Puts a value in the form comparisons use: lists sorted, without repeats.
pub fn normalise(value: Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut words: Vec<String> = items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect();
            words.sort();
            words.dedup();
            Value::Array(words.into_iter().map(Value::String).collect())
        }
        other => other,
    }
}

/// A meter's implementation statement. The cases follow it where it speaks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Statement {
    /// The identifier the meter requires in image_transfer_initiate, sent for every image the
    /// cases transfer (some vendors accept only their own name).
    pub image_identifier: Option<Vec<u8>>,
    /// The meter wants the last block zero-padded to the block size (vendor-dependent): the
    /// cases pad it.
    pub pad_last_block: bool,
    /// The firmware parts the meter refuses to upgrade (the metrology part 0, where a
    /// WELMEC-style separation locks it).
    pub locked_parts: Vec<u8>,
    /// The declared options of [`OPTIONS`], by name, normalised.
    pub options: BTreeMap<String, Value>,
}

impl Statement {
    /// The declared value of an option, if the statement declares it.
    pub fn declared(&self, name: &str) -> Option<&Value> {
        self.options.get(name)
    }

    /// Every declared field as the targets file writes it (for reports and `--statement-out`).
    pub fn fields(&self) -> BTreeMap<String, Value> {
        let mut fields = self.options.clone();
        if let Some(id) = &self.image_identifier {
            fields.insert(
                "image_identifier".into(),
                Value::String(String::from_utf8_lossy(id).into_owned()),
            );
        }
        if self.pad_last_block {
            fields.insert("pad_last_block".into(), Value::Boolean(true));
        }
        if !self.locked_parts.is_empty() {
            let parts = self.locked_parts.iter().map(|p| Value::Integer(*p as i64));
            fields.insert("locked_parts".into(), Value::Array(parts.collect()));
        }
        fields
    }
}

/// One option a run observed, and the case that observed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The option.
    pub option: String,
    /// What the meter did, as the option's value.
    pub value: Value,
    /// The case.
    pub case: String,
}

/// Writes what a run observed as a statement a vendor can start from: every observed option
/// (with the case that observed it, and any case that saw otherwise), then the declared fields
/// no case observed. A TOML `[statement]` table, to be put under a meter in a targets file.
pub fn render(title: &str, declared: &Statement, observed: &[Observation]) -> String {
    let mut out = format!(
        "# {title}\n# What the run observed, as an implementation statement: review each line before\n# declaring it, and put the table under the meter in its targets file\n# ([meter.statement] or [defaults.statement]).\n[statement]\n"
    );
    let mut seen: BTreeMap<&str, Vec<&Observation>> = BTreeMap::new();
    for o in observed {
        seen.entry(o.option.as_str()).or_default().push(o);
    }
    for (option, list) in &seen {
        let first = list[0];
        let others: Vec<String> = list
            .iter()
            .filter(|o| o.value != first.value)
            .map(|o| format!("{} saw {}", o.case, o.value))
            .collect();
        let mut by: Vec<&str> = list
            .iter()
            .filter(|o| o.value == first.value)
            .map(|o| o.case.as_str())
            .collect();
        by.dedup();
        let comment = if others.is_empty() {
            format!("observed by {}", by.join(", "))
        } else {
            format!(
                "observed by {}; but {} (check before declaring)",
                by.join(", "),
                others.join(", ")
            )
        };
        out.push_str(&format!("{option} = {}  # {comment}\n", first.value));
    }
    for (field, value) in declared.fields() {
        if !seen.contains_key(field.as_str()) {
            out.push_str(&format!("{field} = {value}  # declared, not observed\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_accept_only_legitimate_values() {
        let status = option("status_after_activation").unwrap().kind;
        assert!(status.check(&Value::Integer(6)).is_ok());
        assert!(status.check(&Value::Integer(0)).is_ok());
        assert_eq!(
            status.check(&Value::Integer(3)),
            Err("expected one of 0, 6".into())
        );
        let services = option("services").unwrap().kind;
        let list = Value::Array(vec![Value::String("block-transfer-with-action".into())]);
        assert!(services.check(&list).is_ok());
        assert!(services
            .check(&Value::Array(vec![Value::String("gbt".into())]))
            .is_err());
        assert!(option("largest_image")
            .unwrap()
            .kind
            .check(&Value::Integer(123_456))
            .is_ok());
    }

    #[test]
    fn lists_compare_as_sets() {
        let a = normalise(Value::Array(vec![
            Value::String("b".into()),
            Value::String("a".into()),
            Value::String("b".into()),
        ]));
        let b = normalise(Value::Array(vec![
            Value::String("a".into()),
            Value::String("b".into()),
        ]));
        assert_eq!(a, b);
    }

    #[test]
    fn the_observed_statement_names_its_cases_and_conflicts() {
        let declared = Statement {
            locked_parts: vec![0],
            ..Statement::default()
        };
        let seen = |option: &str, value: Value, case: &str| Observation {
            option: option.into(),
            value,
            case: case.into(),
        };
        let text = render(
            "meter-1",
            &declared,
            &[
                seen("status_after_activation", Value::Integer(6), "a"),
                seen("status_after_activation", Value::Integer(0), "b"),
                seen("block_size_writable", Value::Boolean(false), "c"),
            ],
        );
        assert!(text.contains("block_size_writable = false  # observed by c\n"));
        assert!(text.contains("status_after_activation = 6  # observed by a; but b saw 0"));
        assert!(text.contains("locked_parts = [0]  # declared, not observed\n"));
        let table: toml::Table = text.parse().expect("valid TOML");
        assert!(table["statement"].get("status_after_activation").is_some());
    }
}
