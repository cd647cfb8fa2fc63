//! Event-Notification-Request and Data-Notification: unsolicited pushes from a meter.

use super::common::AttributeDescriptor;
use crate::axdr::EncodedData;
use crate::codec::{put_length_prefixed, Codec, DecodeError, Reader};
use std::borrow::Cow;

/// Event-Notification-Request (tag 0xC2): an attribute's value with an optional time.
#[derive(Debug, Clone, PartialEq)]
pub struct EventNotification<'a> {
    /// The time of the event (a 12-byte date-time), if sent.
    pub time: Option<Cow<'a, [u8]>>,
    /// The attribute reported.
    pub attribute: AttributeDescriptor,
    /// Its value.
    pub value: EncodedData<'a>,
}

impl<'a> Codec<'a> for EventNotification<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(super::tag::EVENT_NOTIFICATION_REQUEST);
        match &self.time {
            None => out.push(0),
            Some(t) => {
                out.push(1);
                put_length_prefixed(out, t);
            }
        }
        self.attribute.encode(out);
        self.value.encode(out);
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        super::expect_tag(r, super::tag::EVENT_NOTIFICATION_REQUEST)?;
        let time = if r.optional()? {
            Some(Cow::Borrowed(r.length_prefixed()?))
        } else {
            None
        };
        Ok(EventNotification {
            time,
            attribute: AttributeDescriptor::read(r)?,
            value: EncodedData::read(r)?,
        })
    }
}

/// Data-Notification (tag 0x0F): a pushed value with a long invoke-id.
#[derive(Debug, Clone, PartialEq)]
pub struct DataNotification<'a> {
    /// Long-Invoke-Id-And-Priority.
    pub long_invoke_id: u32,
    /// The date-time (empty when absent, else 12 bytes).
    pub date_time: Cow<'a, [u8]>,
    /// The notification body.
    pub body: EncodedData<'a>,
}

impl<'a> Codec<'a> for DataNotification<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(super::tag::DATA_NOTIFICATION);
        out.extend_from_slice(&self.long_invoke_id.to_be_bytes());
        put_length_prefixed(out, &self.date_time);
        self.body.encode(out);
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        super::expect_tag(r, super::tag::DATA_NOTIFICATION)?;
        Ok(DataNotification {
            long_invoke_id: r.u32()?,
            date_time: Cow::Borrowed(r.length_prefixed()?),
            body: EncodedData::read(r)?,
        })
    }
}
