//! proptest strategies shared by the crate's round-trip tests.

use crate::axdr::{BitString, CompactArray, Data, Date, DateTime, Time, TypeDescription};
use proptest::collection::vec;
use proptest::prelude::*;
use std::borrow::Cow;

/// Arbitrary bytes up to `max` long.
pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn owned(max: usize) -> impl Strategy<Value = Cow<'static, [u8]>> {
    bytes(max).prop_map(Cow::Owned)
}

fn date() -> impl Strategy<Value = Date> {
    (any::<u16>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(year, month, day, dow)| Date {
        year,
        month,
        day,
        day_of_week: dow,
    })
}

fn time() -> impl Strategy<Value = Time> {
    any::<[u8; 4]>().prop_map(|[hour, minute, second, hundredths]| Time {
        hour,
        minute,
        second,
        hundredths,
    })
}

fn bit_string() -> impl Strategy<Value = BitString<'static>> {
    vec(any::<bool>(), 0..80).prop_map(BitString::from_bools)
}

fn compact_array() -> impl Strategy<Value = CompactArray<'static>> {
    vec((any::<u16>(), bytes(8)), 0..5).prop_map(|items| {
        let td = TypeDescription::Structure(vec![
            TypeDescription::Simple(crate::axdr::tag::LONG_UNSIGNED),
            TypeDescription::Simple(crate::axdr::tag::OCTET_STRING),
        ]);
        let elems: Vec<Data> = items
            .into_iter()
            .map(|(n, b)| Data::Structure(vec![Data::LongUnsigned(n), Data::OctetString(b.into())]))
            .collect();
        CompactArray::from_elements(td, &elems).expect("elements match the description")
    })
}

/// Any simple (non-nested) A-XDR value with finite floats.
pub fn simple_data() -> impl Strategy<Value = Data<'static>> {
    prop_oneof![
        Just(Data::Null),
        any::<bool>().prop_map(Data::Boolean),
        bit_string().prop_map(Data::BitString),
        any::<i32>().prop_map(Data::DoubleLong),
        any::<u32>().prop_map(Data::DoubleLongUnsigned),
        owned(300).prop_map(Data::OctetString),
        owned(20).prop_map(Data::VisibleString),
        owned(20).prop_map(Data::Utf8String),
        any::<u8>().prop_map(Data::Bcd),
        any::<i8>().prop_map(Data::Integer),
        any::<i16>().prop_map(Data::Long),
        any::<u8>().prop_map(Data::Unsigned),
        any::<u16>().prop_map(Data::LongUnsigned),
        compact_array().prop_map(Data::CompactArray),
        any::<i64>().prop_map(Data::Long64),
        any::<u64>().prop_map(Data::Long64Unsigned),
        any::<u8>().prop_map(Data::Enum),
        (-1.0e30f32..1.0e30).prop_map(Data::Float32),
        (-1.0e300f64..1.0e300).prop_map(Data::Float64),
        (date(), time(), any::<i16>(), any::<u8>()).prop_map(|(date, time, deviation, cs)| {
            Data::DateTime(DateTime {
                date,
                time,
                deviation,
                clock_status: cs,
            })
        }),
        date().prop_map(Data::Date),
        time().prop_map(Data::Time),
    ]
}

/// Any A-XDR value, nested up to a few levels.
pub fn data() -> impl Strategy<Value = Data<'static>> {
    simple_data().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Data::Array),
            vec(inner, 0..8).prop_map(Data::Structure),
        ]
    })
}
