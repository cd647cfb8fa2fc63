//! Group-addressed requests: one request reaches many meters at once (broadcast to every
//! station, or multicast to a group the meter joined). A meter serves them in a pre-established
//! association of the profile's group client, takes only unconfirmed SET and ACTION, never
//! answers, and with the broadcast key set refuses every invocation counter not above the last
//! one it accepted. Image blocks reach only a transfer initiated for them: a meter not
//! initiated discards them silently (the Blue Book's image transfer step 3, quoted in
//! docs/protocol.md#the-transfer-process).

use super::{unconfirmed, Meter, SUPPORTED_CONFORMANCE};
use crate::profile::{GroupAddressing, GroupSecurity, Quirk};
use crate::session::Session;
use dlms::apdu::Apdu;
use dlms::association::{Association, Negotiated};
use dlms::security::{open_group, Keys, ReplayGuard};
use dlms::Codec;

/// How a group request reached the meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupAddress {
    /// To every station: the wrapper's all-station wPort 127, HDLC's all-station address.
    Broadcast,
    /// To a group the meter joined: an IP multicast group.
    Multicast,
}

/// What became of a group request (the meter answers none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupOutcome {
    /// Carried out and accepted (a block stored, a method invoked, a value written).
    Applied,
    /// Carried out and refused by its object: a block before initiate, discarded silently.
    Refused,
    /// Not carried out.
    Discarded(GroupDiscard),
}

/// Why a group request was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupDiscard {
    /// The meter is rebooting.
    Offline,
    /// The meter takes no group requests of this addressing (a multicast-only meter and a
    /// broadcast, or a meter that takes none).
    Addressing,
    /// Not from the group's pre-established client.
    Client,
    /// Plain, where the broadcast key set is required.
    Unprotected,
    /// The protection did not check (wrong key, tampered, another key set).
    Deciphering,
    /// The broadcast invocation counter is not above the last one accepted: a replay.
    Replay,
    /// Not an unconfirmed SET or ACTION: nothing else may go to a group.
    Service,
}

impl Meter {
    /// Takes a group-addressed request from `client_sap`: carried out or discarded, never
    /// answered.
    pub fn handle_group(
        &mut self,
        now_ms: u64,
        address: GroupAddress,
        client_sap: u16,
        request: &[u8],
    ) -> GroupOutcome {
        let outcome = self.group_request(now_ms, address, client_sap, request);
        self.stats.group_requests += 1;
        match outcome {
            GroupOutcome::Discarded(GroupDiscard::Replay) => self.stats.group_replays += 1,
            GroupOutcome::Discarded(_) => self.stats.group_discarded += 1,
            GroupOutcome::Applied | GroupOutcome::Refused => {}
        }
        outcome
    }

    fn group_request(
        &mut self,
        now_ms: u64,
        address: GroupAddress,
        client_sap: u16,
        request: &[u8],
    ) -> GroupOutcome {
        use GroupDiscard as D;
        let group = self.config.profile.group;
        if self.offline_until_ms.is_some() {
            return GroupOutcome::Discarded(D::Offline);
        }
        let addressed = match group.addressing {
            GroupAddressing::BroadcastAndMulticast => true,
            GroupAddressing::MulticastOnly => {
                address == GroupAddress::Multicast
                    || self.config.profile.has(Quirk::BroadcastWhenMulticastOnly)
            }
            GroupAddressing::None => false,
        };
        if !addressed {
            return GroupOutcome::Discarded(D::Addressing);
        }
        if client_sap != group.client {
            return GroupOutcome::Discarded(D::Client);
        }
        if request.len() > usize::from(self.config.profile.max_pdu_size) {
            return GroupOutcome::Discarded(D::Service);
        }
        let plain = match Apdu::decode(request) {
            Ok(Apdu::GeneralCiphering(g)) => {
                let keys = Keys {
                    encryption: self.config.keys.broadcast_key,
                    authentication: self.config.keys.keys.authentication,
                };
                let opened = match &self.config.group_cipher {
                    Some(shared) => shared.open(&keys, request, &g),
                    None => open_group(&keys, &g),
                };
                let Ok(plain) = opened else {
                    return GroupOutcome::Discarded(D::Deciphering);
                };
                // The tag checked: only now may the counter move.
                let mut guard = ReplayGuard::after(self.state.broadcast_invocation_counter);
                let replayed = guard.accept(g.invocation_counter).is_err();
                if replayed && !self.config.profile.has(Quirk::GroupReplayAccepted) {
                    return GroupOutcome::Discarded(D::Replay);
                }
                self.state.broadcast_invocation_counter = guard.last();
                self.dirty = true;
                plain
            }
            Ok(_) if group.security == GroupSecurity::BroadcastKey => {
                return GroupOutcome::Discarded(D::Unprotected)
            }
            Ok(_) => request.to_vec(),
            Err(_) => return GroupOutcome::Discarded(D::Service),
        };
        let apdu = match Apdu::decode(&plain) {
            Ok(a @ (Apdu::SetRequest(_) | Apdu::ActionRequest(_))) if unconfirmed(&a) => a,
            _ => return GroupOutcome::Discarded(D::Service),
        };
        // The group's own association, and no judge: what a group request does to a meter
        // not initiated is the standard's silent discard, not a head-end's mistake.
        let unicast = (self.session.take(), self.judge.take());
        self.session = Some(Box::new(self.group_session()));
        let reply = self.carry_out(now_ms, apdu);
        self.session = unicast.0;
        self.judge = unicast.1;
        if std::mem::take(&mut self.activation_due) {
            self.begin_activation(now_ms);
        }
        if super::refused(&reply) {
            GroupOutcome::Refused
        } else {
            GroupOutcome::Applied
        }
    }

    /// The pre-established association group requests are served in.
    fn group_session(&self) -> Session {
        let group = self.config.profile.group;
        let pdu = self.config.profile.max_pdu_size;
        Session {
            client_sap: group.client,
            rights: group.rights,
            association: Association::pre_established(
                group.client,
                Negotiated {
                    conformance: SUPPORTED_CONFORMANCE,
                    client_max_receive_pdu_size: pdu,
                    server_max_receive_pdu_size: pdu,
                    dlms_version: 6,
                },
            ),
            context: dlms::acse::context::LN,
            mechanism: 0,
            outgoing: None,
            incoming: None,
            unanswered: 0,
        }
    }
}
