//! The `group_block` step: one image block as a group request (to all stations, or to the
//! meter's multicast group), unconfirmed and under the broadcast key set the targets file
//! gives, with the broadcast invocation counter the case asks for; a meter answers none.

use super::check::Observed;
use super::engine::{Run, Stop};
use super::step::{GroupAddressing, GroupBlock, GroupCounter};
use super::value::Var;
use crate::campaign::group_link::{GroupRoute, GroupSender};
use dlms::apdu::{ActionRequest, InvokeIdAndPriority};
use dlms::axdr::EncodedData;
use dlms::cosem::image_transfer::{self as it, method as m};
use dlms::cosem::{class, BROADCAST_INVOCATION_COUNTER};
use dlms::security::{protect_group, Keys};
use dlms::Codec;
use std::time::Duration;

/// How long the group link is watched for the reply that should not come.
const UNASKED_REPLY_WAIT: Duration = Duration::from_millis(1000);
/// The same for an emulated meter, which answers in microseconds when it answers at all.
const UNASKED_REPLY_WAIT_EMULATED: Duration = Duration::from_millis(200);

impl Run<'_> {
    /// Sends block `g.block` to the meter as a group request: observed as `no-reply` when
    /// nothing comes back on the group link or the case's association within a second.
    pub(crate) async fn group_block(&mut self, g: &GroupBlock) -> Result<Observed, Stop> {
        let main = self.target.main.clone();
        let Some(member) = main.address.ip() else {
            return Err(Stop::Skip(
                "group requests go over IP, and the meter is on a serial line".into(),
            ));
        };
        let access = main
            .group
            .ok_or_else(|| Stop::Skip("the targets file gives no group table".into()))?;
        let route = match g.addressing {
            GroupAddressing::Broadcast => GroupRoute::AllStations(member, main.transport),
            GroupAddressing::Multicast => {
                GroupRoute::Multicast(main.multicast.ok_or_else(|| {
                    Stop::Skip("the targets file names no multicast group for the meter".into())
                })?)
            }
        };
        if g.counter == GroupCounter::Same && access.keys.is_none() {
            return Err(Stop::Skip(
                "the meter takes group requests plain: there is no broadcast counter to replay"
                    .into(),
            ));
        }
        let counter = self.group_counter(g.counter).await?;
        let block = self.group_block_bytes(g.block)?;
        let params = it::block_parameters(g.block, &block);
        let plain = ActionRequest::Normal {
            iip: InvokeIdAndPriority::new(1, false, true),
            method: it::method(m::IMAGE_BLOCK_TRANSFER),
            parameters: Some(EncodedData::new(&params)),
        }
        .to_bytes();
        let apdu = match access.keys {
            Some(k) => {
                let keys = Keys {
                    encryption: k.broadcast,
                    authentication: k.authentication,
                };
                protect_group(&keys, &k.system_title, counter, &plain)
                    .map_err(|e| Stop::Error(format!("protecting the group block: {e}")))?
            }
            None => plain,
        };
        self.note(format!(
            "group block {} to {route}, broadcast invocation counter {counter}",
            g.block
        ));
        let mut sender = GroupSender::open(route, member, access.client)
            .await
            .map_err(|e| Stop::Error(format!("opening {route}: {e}")))?;
        sender
            .send(&apdu)
            .await
            .map_err(|e| Stop::Error(format!("sending to {route}: {e}")))?;
        let wait = if self.target.emulated {
            UNASKED_REPLY_WAIT_EMULATED
        } else {
            UNASKED_REPLY_WAIT
        };
        let on_group_link = sender.reply_within(wait).await;
        let on_association = match self.session.as_mut() {
            Some(s) => s.unasked_reply(Duration::ZERO).await.ok().flatten(),
            None => None,
        };
        Ok(match on_group_link.or(on_association) {
            None => Observed::result("no-reply"),
            Some(reply) => Observed {
                result: Some("reply".into()),
                reply: Some(reply),
                ..Observed::default()
            },
        })
    }

    /// The counter for the next group block: above every counter this case used or read
    /// (the meter's own, read once from its broadcast invocation counter object), or the
    /// last one again.
    async fn group_counter(&mut self, which: GroupCounter) -> Result<u32, Stop> {
        let last = match self.vars.get("group_counter") {
            Some(Var::Num(n)) => *n as u32,
            _ => {
                let session = self.session().await?;
                match session
                    .get(class::DATA, BROADCAST_INVOCATION_COUNTER, 2)
                    .await
                {
                    Ok(Ok(d)) => d.as_u64().unwrap_or(0) as u32,
                    _ => 0,
                }
            }
        };
        let counter = match which {
            GroupCounter::Next => last.saturating_add(1),
            GroupCounter::Same => last.max(1),
        };
        self.set_var("group_counter", Var::Num(counter.into()));
        Ok(counter)
    }

    /// Block `n` of the case's image, or a block of zeros of `$block_size` when no transfer
    /// was initiated.
    fn group_block_bytes(&self, n: u32) -> Result<Vec<u8>, Stop> {
        if let Some(t) = &self.transfer {
            let bs = t.block_size as usize;
            let start = n as usize * bs;
            return Ok(match t.image.get(start..) {
                Some(rest) if n < t.block_count => rest[..rest.len().min(bs)].to_vec(),
                _ => vec![0; bs],
            });
        }
        match self.vars.get("block_size") {
            Some(Var::Num(bs)) if *bs > 0 && *bs <= crate::transfer::MAX_BLOCK_SIZE => {
                Ok(vec![0; *bs as usize])
            }
            _ => Err(Stop::Error(
                "group_block needs the block size: an initiate, or a get of image_block_size with capture = \"block_size\"".into(),
            )),
        }
    }
}
