//! A step that `declares` a statement option: what the meter showed of it, and whether that
//! contradicts what the statement declares.

use super::check::Observed;
use crate::target::statement::{self, Kind, Statement};
use toml::Value;

/// What a step showed of an option: the `means` of the expectation that held, else what the
/// observation itself says (a status for a number, a boolean read, the optional services
/// agreed, whether activation dropped the connection).
pub(crate) fn shown(option: &str, means: Option<&Value>, observed: &Observed) -> Option<Value> {
    if let Some(m) = means {
        return Some(statement::normalise(m.clone()));
    }
    let def = statement::option(option)?;
    match def.kind {
        _ if option == "activation_reboots" => observed.rebooted.map(Value::Boolean),
        Kind::Num(_) => observed
            .status
            .map(u64::from)
            .or_else(|| observed.value.as_ref().and_then(|v| v.as_u64()))
            .and_then(|n| i64::try_from(n).ok())
            .map(Value::Integer),
        Kind::Bool => match observed.value {
            Some(dlms::Data::Boolean(b)) => Some(Value::Boolean(b)),
            _ => None,
        },
        Kind::Words(_) => observed.conformance.map(|(_, agreed)| {
            let names = statement::SERVICES.iter().filter(|name| {
                super::step::conformance_bit(name).is_ok_and(|bit| agreed.contains(bit))
            });
            statement::normalise(Value::Array(
                names.map(|n| Value::String(n.to_string())).collect(),
            ))
        }),
        Kind::Word(_) => None,
    }
}

/// The statement's declared value, when the meter showed another.
pub(crate) fn contradiction<'s>(
    statement: &'s Statement,
    option: &str,
    shown: &Value,
) -> Option<&'s Value> {
    statement.declared(option).filter(|d| *d != shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dlms::conformance::Conformance;

    #[test]
    fn numbers_come_from_the_status_and_services_from_the_agreement() {
        let observed = Observed {
            status: Some(6),
            ..Observed::default()
        };
        assert_eq!(
            shown("status_after_activation", None, &observed),
            Some(Value::Integer(6))
        );
        let agreed = Conformance::GET | Conformance::BLOCK_TRANSFER_WITH_GET;
        let observed = Observed {
            conformance: Some((agreed, agreed)),
            ..Observed::default()
        };
        assert_eq!(
            shown("services", None, &observed),
            Some(Value::Array(vec![Value::String(
                "block-transfer-with-get".into()
            )]))
        );
        let means = Value::String("asynchronous".into());
        assert_eq!(
            shown("verification", Some(&means), &Observed::default()),
            Some(means)
        );
        assert_eq!(shown("verification", None, &Observed::default()), None);
    }

    #[test]
    fn only_a_declared_other_value_contradicts() {
        let mut statement = Statement::default();
        assert_eq!(
            contradiction(&statement, "block_size_writable", &Value::Boolean(true)),
            None
        );
        statement
            .options
            .insert("block_size_writable".into(), Value::Boolean(false));
        assert_eq!(
            contradiction(&statement, "block_size_writable", &Value::Boolean(true)),
            Some(&Value::Boolean(false))
        );
        assert_eq!(
            contradiction(&statement, "block_size_writable", &Value::Boolean(false)),
            None
        );
    }
}
