//! What a step observed, and the comparison with what the case expects.

use super::case_transfer::Transfer;
use super::step::{conformance_bit, reply_pattern, Action, Expect};
use super::value::{bits_text, show, Vars};
use dlms::conformance::Conformance;
use dlms::Data;

/// What a step saw the meter do.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The result name (`success`, `other-reason`, `no-reply`, `exception`, …).
    pub result: Option<String>,
    /// More about the result (which block, the exception).
    pub detail: Option<String>,
    /// A value read.
    pub value: Option<Data<'static>>,
    /// image_transfer_status at the end of the step.
    pub status: Option<u8>,
    /// `accepted` or `rejected`.
    pub association: Option<String>,
    /// The conformance proposed and the conformance agreed.
    pub conformance: Option<(Conformance, Conformance)>,
    /// A raw reply APDU.
    pub reply: Option<Vec<u8>>,
    /// A frame probe's outcome: `reply`, `silence` or `closed`.
    pub frame: Option<&'static str>,
    /// The connection failed where the case did not allow it.
    pub link_failure: Option<String>,
    /// An activation: whether the meter dropped the connection (restarted) on the way.
    pub rebooted: Option<bool>,
}

impl Observed {
    /// An observation of just a result.
    pub fn result(name: impl Into<String>) -> Self {
        Observed {
            result: Some(name.into()),
            ..Observed::default()
        }
    }

    /// One line for reports.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(a) = &self.association {
            parts.push(format!("association {a}"));
        }
        if let Some(r) = &self.result {
            parts.push(match &self.detail {
                Some(d) => format!("{r} ({d})"),
                None => r.clone(),
            });
        } else if let Some(d) = &self.detail {
            parts.push(d.clone());
        }
        if let Some(v) = &self.value {
            parts.push(show(v));
        }
        if let Some(s) = self.status {
            parts.push(format!("image_transfer_status {s}"));
        }
        if let Some(r) = &self.reply {
            parts.push(format!("reply {}", hex(r)));
        }
        if let Some(f) = self.frame {
            parts.push(f.to_string());
        }
        if parts.is_empty() {
            "done".into()
        } else {
            parts.join(", ")
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a step's expectation does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The meter did something else.
    Deviation {
        /// What the case expected.
        expected: String,
        /// What the meter did.
        observed: String,
    },
    /// The run broke (no reply where one was due, a variable the case never set).
    Error(String),
}

fn deviation(expected: impl Into<String>, observed: impl Into<String>) -> Mismatch {
    Mismatch::Deviation {
        expected: expected.into(),
        observed: observed.into(),
    }
}

fn list(names: &[String]) -> String {
    names.join(" or ")
}

/// Compares an observation with the step's expectation (any one of its alternatives, when it
/// has them); what the expectation that held `means`, if it says.
pub(crate) fn check<'e>(
    expect: &'e Expect,
    action: &Action,
    observed: &Observed,
    vars: &Vars,
    transfer: Option<&Transfer>,
) -> Result<Option<&'e toml::Value>, Mismatch> {
    let Some(alternatives) = &expect.any_of else {
        return check_one(expect, action, observed, vars, transfer).map(|()| expect.means.as_ref());
    };
    let mut wanted = Vec::new();
    let mut error = None;
    for alternative in alternatives {
        match check_one(alternative, action, observed, vars, transfer) {
            Ok(()) => return Ok(alternative.means.as_ref()),
            Err(Mismatch::Deviation { expected, .. }) => wanted.push(expected),
            Err(e) => error = error.or(Some(e)),
        }
    }
    // The run broke where no alternative allowed it: that, not a deviation.
    Err(error.unwrap_or_else(|| deviation(wanted.join("; or "), observed.summary())))
}

fn check_one(
    expect: &Expect,
    action: &Action,
    observed: &Observed,
    vars: &Vars,
    transfer: Option<&Transfer>,
) -> Result<(), Mismatch> {
    let default_success = matches!(
        action,
        Action::Initiate(_) | Action::Send { .. } | Action::FillGaps | Action::Get(_)
    );
    if let Some(failure) = &observed.link_failure {
        let allowed = expect
            .result
            .as_ref()
            .is_some_and(|r| r.to_vec().iter().any(|n| n == "no-reply"));
        if !allowed {
            return Err(Mismatch::Error(format!("no reply: {failure}")));
        }
    }
    let seen = observed.summary();
    if let Some(got) = &observed.result {
        if !expect.accepts(got, default_success) {
            let wanted = match (&expect.result, &expect.not_result) {
                (Some(r), _) => format!("result {}", list(&r.to_vec())),
                (None, Some(not)) => format!("any result but {}", list(&not.to_vec())),
                (None, None) => "result success".to_string(),
            };
            return Err(deviation(wanted, seen));
        }
    } else if let Some(wanted) = &expect.result {
        return Err(deviation(
            format!("result {}", list(&wanted.to_vec())),
            seen,
        ));
    }
    check_value(expect, observed, vars, transfer, &seen)?;
    if let Some(status) = &expect.status {
        let want = status.to_vec();
        if !observed.status.is_some_and(|s| want.contains(&s)) {
            let want: Vec<String> = want.iter().map(u8::to_string).collect();
            return Err(deviation(
                format!("image_transfer_status {}", list(&want)),
                seen,
            ));
        }
    }
    let association = match (&expect.association, action) {
        (Some(a), _) => Some(a.as_str()),
        (None, Action::Connect(_) | Action::Reconnect(_) | Action::PowerCycle(_)) => {
            Some("accepted")
        }
        _ => None,
    };
    if let Some(want) = association {
        if observed.association.as_deref() != Some(want) {
            return Err(deviation(format!("association {want}"), seen));
        }
    }
    if let Some(names) = &expect.conformance {
        let (proposed, agreed) = observed
            .conformance
            .ok_or_else(|| deviation("an association", seen.clone()))?;
        let extra = agreed.difference(proposed);
        if !extra.is_empty() {
            return Err(deviation(
                "conformance within what the client proposed",
                format!("also {extra:?}"),
            ));
        }
        for name in names {
            let bit = conformance_bit(name).map_err(Mismatch::Error)?;
            if !agreed.contains(bit) {
                return Err(deviation(
                    format!("conformance {name} agreed"),
                    format!("agreed {agreed:?}"),
                ));
            }
        }
    }
    if let Some(replies) = &expect.reply {
        check_reply(&replies.to_vec(), observed, &seen)?;
    }
    Ok(())
}

/// Whether a value holds against a limit.
type Holds = fn(i64, i64) -> bool;

fn check_value(
    expect: &Expect,
    observed: &Observed,
    vars: &Vars,
    transfer: Option<&Transfer>,
    seen: &str,
) -> Result<(), Mismatch> {
    let wants_value = expect.value.is_some()
        || expect.type_name.is_some()
        || expect.bits.is_some()
        || expect.min.is_some()
        || expect.max.is_some();
    if !wants_value {
        return Ok(());
    }
    let Some(value) = &observed.value else {
        let want = expect
            .value
            .as_ref()
            .map(|v| v.describe(vars))
            .or_else(|| expect.type_name.clone())
            .unwrap_or_else(|| "a value".into());
        return Err(deviation(want, seen));
    };
    if let Some(spec) = &expect.value {
        if !spec.matches(value, vars).map_err(Mismatch::Error)? {
            return Err(deviation(spec.describe(vars), show(value)));
        }
    }
    if let Some(t) = &expect.type_name {
        if value.type_name() != t {
            return Err(deviation(format!("a {t}"), show(value)));
        }
    }
    if let Some(bits) = &expect.bits {
        let want = expected_bits(bits, transfer).map_err(Mismatch::Error)?;
        let got = match value {
            Data::BitString(b) => bits_text(b),
            other => return Err(deviation(format!("bit-string {want}"), show(other))),
        };
        if got != want {
            return Err(deviation(
                format!("bit-string {want}"),
                format!("bit-string {got}"),
            ));
        }
    }
    let bounds: [(_, _, Holds); 2] = [
        (&expect.min, "at least", |v, limit| v >= limit),
        (&expect.max, "at most", |v, limit| v <= limit),
    ];
    for (bound, word, holds) in bounds {
        let Some(bound) = bound else { continue };
        let limit = bound.eval(vars).map_err(Mismatch::Error)?;
        if !value.as_u64().is_some_and(|v| holds(v as i64, limit)) {
            return Err(deviation(format!("{word} {limit}"), show(value)));
        }
    }
    Ok(())
}

fn expected_bits(spec: &str, transfer: Option<&Transfer>) -> Result<String, String> {
    let bitmap = |f: &dyn Fn(u32) -> bool| -> Result<String, String> {
        let t =
            transfer.ok_or("bits = \"sent\", \"all\" or \"none\" need an initiate step first")?;
        Ok((0..t.block_count)
            .map(|i| if f(i) { '1' } else { '0' })
            .collect())
    };
    match spec {
        "sent" => {
            let sent = &transfer
                .ok_or("bits = \"sent\" needs an initiate step first")?
                .sent;
            bitmap(&|i| sent.contains(&i))
        }
        "all" => bitmap(&|_| true),
        "none" => bitmap(&|_| false),
        literal => Ok(literal.to_string()),
    }
}

fn check_reply(patterns: &[String], observed: &Observed, seen: &str) -> Result<(), Mismatch> {
    if let Some(kind) = observed.frame {
        if patterns.iter().any(|p| p == kind) {
            return Ok(());
        }
        return Err(deviation(list(patterns), kind));
    }
    let Some(reply) = &observed.reply else {
        return Err(deviation(format!("a reply {}", list(patterns)), seen));
    };
    for p in patterns {
        let (bytes, tail) = reply_pattern(p).map_err(Mismatch::Error)?;
        let length_ok = if tail {
            reply.len() >= bytes.len()
        } else {
            reply.len() == bytes.len()
        };
        let bytes_ok = bytes
            .iter()
            .zip(reply)
            .all(|(want, got)| want.is_none_or(|w| w == *got));
        if length_ok && bytes_ok {
            return Ok(());
        }
    }
    Err(deviation(format!("a reply {}", list(patterns)), hex(reply)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::step::{OneOrMany, Poll};
    use crate::conform::value::ValueSpec;
    use dlms::axdr::BitString;
    use std::collections::BTreeSet;
    use std::sync::Arc;

    fn transfer(sent: &[u32]) -> Transfer {
        Transfer {
            image: Arc::new(vec![0; 900]),
            block_size: 200,
            block_count: 5,
            sent: sent.iter().copied().collect::<BTreeSet<_>>(),
        }
    }

    fn get() -> Action {
        Action::Get(
            crate::conform::object_ref::ObjectRef::parse("image_transferred_blocks_status")
                .unwrap(),
        )
    }

    #[test]
    fn bits_sent_compares_with_the_blocks_the_case_sent() {
        let expect = Expect {
            bits: Some("sent".into()),
            ..Expect::default()
        };
        let mut observed = Observed::result("success");
        observed.value = Some(Data::BitString(BitString::from_bools([
            true, false, true, false, false,
        ])));
        let t = transfer(&[0, 2]);
        assert_eq!(
            check(&expect, &get(), &observed, &Vars::new(), Some(&t)),
            Ok(None)
        );
        // LSB-first order, as the reversed-bit-order quirk sends it: a deviation.
        observed.value = Some(Data::BitString(BitString::from_bools([
            false, false, false, false, false,
        ])));
        let e = check(&expect, &get(), &observed, &Vars::new(), Some(&t)).unwrap_err();
        assert_eq!(
            e,
            Mismatch::Deviation {
                expected: "bit-string 10100".into(),
                observed: "bit-string 00000".into()
            }
        );
    }

    #[test]
    fn any_of_holds_when_one_alternative_does_and_says_what_it_means() {
        let empty = Expect {
            value: Some(ValueSpec::Array(vec![])),
            means: Some(toml::Value::String("empty-array".into())),
            ..Expect::default()
        };
        let refused = Expect {
            result: Some(OneOrMany::One("hardware-fault".into())),
            means: Some(toml::Value::String("refused".into())),
            ..Expect::default()
        };
        let expect = Expect {
            any_of: Some(vec![empty, refused]),
            ..Expect::default()
        };
        let mut read = Observed::result("success");
        read.value = Some(Data::Array(vec![]));
        let vars = Vars::new();
        let means = |m: &str| Ok(Some(toml::Value::String(m.into())));
        let held = check(&expect, &get(), &read, &vars, None).map(|m| m.cloned());
        assert_eq!(held, means("empty-array"));
        let fault = Observed::result("hardware-fault");
        let held = check(&expect, &get(), &fault, &vars, None).map(|m| m.cloned());
        assert_eq!(held, means("refused"));
        let other = Observed::result("other-reason");
        assert_eq!(
            check(&expect, &get(), &other, &vars, None),
            Err(Mismatch::Deviation {
                expected: "result success; or result hardware-fault".into(),
                observed: "other-reason".into()
            })
        );
    }

    #[test]
    fn helpers_expect_success_unless_told_otherwise() {
        let action = Action::Initiate(Default::default());
        let nothing = Expect::default();
        let e = check(
            &nothing,
            &action,
            &Observed::result("other-reason"),
            &Vars::new(),
            None,
        );
        assert!(matches!(e, Err(Mismatch::Deviation { .. })));
        let verify = Action::Verify(Poll::default());
        assert_eq!(
            check(
                &Expect::default(),
                &verify,
                &Observed::result("other-reason"),
                &Vars::new(),
                None
            ),
            Ok(None)
        );
    }

    #[test]
    fn silence_is_an_error_unless_expected() {
        let mut observed = Observed::result("no-reply");
        observed.link_failure = Some("no reply within 5s".into());
        let expect = Expect {
            value: Some(ValueSpec::Any("*".into())),
            ..Expect::default()
        };
        assert!(matches!(
            check(&expect, &get(), &observed, &Vars::new(), None),
            Err(Mismatch::Error(_))
        ));
    }

    #[test]
    fn reply_patterns_match_with_wildcards_and_tails() {
        let observed = Observed {
            reply: Some(vec![0xC7, 0x01, 0xC1, 0x00, 0x00]),
            ..Observed::default()
        };
        let ok = |p: &str| {
            let expect = Expect {
                reply: Some(OneOrMany::One(p.into())),
                ..Expect::default()
            };
            check(&expect, &Action::Raw(vec![]), &observed, &Vars::new(), None).is_ok()
        };
        assert!(ok("C7 01 .. 00 00"));
        assert!(ok("C7 *"));
        assert!(!ok("C7 01 .. 00"));
        assert!(!ok("D8 *"));
    }
}
