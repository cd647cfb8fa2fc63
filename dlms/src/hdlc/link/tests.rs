use super::*;
use proptest::prelude::*;

/// A client and a server on an in-memory wire with virtual time.
struct Wire {
    client: HdlcLink,
    server: HdlcLink,
    now: Instant,
    client_events: Vec<LinkEvent>,
    server_events: Vec<LinkEvent>,
    frames_sent: usize,
}

fn params(max_info: u16, window: u8) -> HdlcParameters {
    HdlcParameters {
        max_info_tx: max_info,
        max_info_rx: max_info,
        window_tx: window,
        window_rx: window,
    }
}

impl Wire {
    fn new(client: HdlcParameters, server: HdlcParameters) -> Self {
        Self::with_retries(client, server, 3)
    }

    fn with_retries(client: HdlcParameters, server: HdlcParameters, max_retries: u32) -> Self {
        let addr = HdlcAddress::server(1, 17);
        let client_config = LinkConfig {
            max_retries,
            ..LinkConfig::client(16, addr, client)
        };
        Wire {
            client: HdlcLink::new(Role::Client, client_config),
            server: HdlcLink::new(Role::Server, LinkConfig::server(addr, server)),
            now: Instant::now(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            frames_sent: 0,
        }
    }

    /// Moves frames both ways until quiet, advancing time to the next timer when idle; `lose`
    /// decides, frame by frame, whether the wire drops it. The server echoes each APDU back
    /// when `echo` is set. Bounded: stops after `max_steps` frames.
    fn run(&mut self, lose: &mut dyn FnMut() -> bool, echo: bool, max_steps: usize) {
        for _ in 0..max_steps {
            let mut moved = false;
            while let Some(f) = self.client.poll_transmit(self.now) {
                moved = true;
                self.frames_sent += 1;
                if !lose() {
                    self.server.handle_input(self.now, &f);
                }
            }
            while let Some(e) = self.server.poll_event() {
                if let (true, LinkEvent::Apdu(a)) = (echo, &e) {
                    self.server.send_apdu(a).unwrap();
                }
                self.server_events.push(e);
            }
            while let Some(f) = self.server.poll_transmit(self.now) {
                moved = true;
                self.frames_sent += 1;
                if !lose() {
                    self.client.handle_input(self.now, &f);
                }
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            if !moved {
                match self.client.poll_timeout() {
                    Some(t) => {
                        self.now = self.now.max(t);
                        self.client.handle_timeout(self.now);
                    }
                    None => return,
                }
            }
        }
    }

    fn connect(&mut self) {
        self.client.connect(self.now);
        self.run(&mut || false, false, 100);
        assert!(self.client.is_connected() && self.server.is_connected());
    }

    fn apdus(events: &[LinkEvent]) -> Vec<Vec<u8>> {
        events
            .iter()
            .filter_map(|e| match e {
                LinkEvent::Apdu(a) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn connect_negotiates_the_smaller_parameters() {
    let mut w = Wire::new(params(512, 3), params(256, 7));
    w.connect();
    assert_eq!(w.client.parameters(), params(256, 3));
    assert_eq!(w.server.parameters(), params(256, 3));
    assert!(matches!(w.client_events[0], LinkEvent::Connected(_)));
}

#[test]
fn first_frames_match_the_u9n_vectors() {
    // docs/protocol.md#test-vectors V5: client 16 -> server (1, 17), SNRM then I(AARQ) with N(S)=0 N(R)=0 P.
    let mut w = Wire::new(HdlcParameters::default(), HdlcParameters::default());
    w.client.connect(w.now);
    let snrm = w.client.poll_transmit(w.now).unwrap();
    assert_eq!(
        &snrm[3..7],
        &[0x02, 0x23, 0x21, 0x93],
        "addresses and SNRM with P"
    );
    let repr = FrameRepr::parse(&snrm).unwrap();
    assert_eq!(
        HdlcParameters::parse(repr.info).unwrap(),
        HdlcParameters::default()
    );
    w.server.handle_input(w.now, &snrm);
    let ua = w.server.poll_transmit(w.now).unwrap();
    w.client.handle_input(w.now, &ua);
    let aarq =
        hex::decode("601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFF").unwrap();
    w.client.send_apdu(&aarq).unwrap();
    let frame = w.client.poll_transmit(w.now).unwrap();
    let expected = hex::decode("7EA02C0223211 0AF9FE6E600601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFFC5E47E".replace(' ', "")).unwrap();
    assert_eq!(frame, expected);
}

#[test]
fn large_apdus_are_segmented_both_ways() {
    for window in 1..=7 {
        let mut w = Wire::new(params(128, window), params(128, window));
        w.connect();
        let apdu: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        w.client.send_apdu(&apdu).unwrap();
        w.run(&mut || false, true, 1000);
        assert_eq!(
            Wire::apdus(&w.server_events),
            vec![apdu.clone()],
            "window {window}"
        );
        assert_eq!(Wire::apdus(&w.client_events), vec![apdu], "window {window}");
    }
}

#[test]
fn an_apdu_over_the_limit_is_reported_not_kept_and_the_link_goes_on() {
    let mut w = Wire::new(params(128, 1), params(128, 1));
    w.server = HdlcLink::new(
        Role::Server,
        LinkConfig {
            max_apdu: 300,
            ..LinkConfig::server(HdlcAddress::server(1, 17), params(128, 1))
        },
    );
    w.connect();
    w.client.send_apdu(&[0x5A; 301]).unwrap();
    w.client.send_apdu(&[0xA5; 300]).unwrap();
    w.run(&mut || false, false, 1000);
    let received: Vec<_> = w.server_events[1..].to_vec();
    assert_eq!(
        received,
        vec![
            LinkEvent::ApduTooLong { length: 304 },
            LinkEvent::Apdu(vec![0xA5; 300])
        ]
    );
    assert!(w.server.rx.capacity() <= 303 + 128);
}

#[test]
fn lost_frames_are_resent_after_the_timeout() {
    let mut w = Wire::new(params(64, 2), params(64, 2));
    w.connect();
    let apdu = vec![0x5A; 300];
    w.client.send_apdu(&apdu).unwrap();
    let mut n = 0;
    w.run(
        &mut || {
            n += 1;
            n % 4 == 2
        },
        true,
        2000,
    );
    assert_eq!(Wire::apdus(&w.server_events), vec![apdu.clone()]);
    assert_eq!(Wire::apdus(&w.client_events), vec![apdu]);
}

#[test]
fn silent_peer_ends_the_link_after_the_retries() {
    let mut w = Wire::new(HdlcParameters::default(), HdlcParameters::default());
    w.connect();
    w.client.send_apdu(b"hello").unwrap();
    w.run(&mut || true, false, 100);
    assert_eq!(
        w.client_events.last(),
        Some(&LinkEvent::Disconnected(DisconnectReason::NoResponse))
    );
    assert!(!w.client.is_connected());
}

#[test]
fn disc_is_answered_with_ua_and_both_ends_go_down() {
    let mut w = Wire::new(HdlcParameters::default(), HdlcParameters::default());
    w.connect();
    w.client.disconnect(w.now);
    w.run(&mut || false, false, 10);
    assert_eq!(
        w.client_events.last(),
        Some(&LinkEvent::Disconnected(DisconnectReason::Local))
    );
    assert_eq!(
        w.server_events.last(),
        Some(&LinkEvent::Disconnected(DisconnectReason::Peer))
    );
}

#[test]
fn frames_to_a_disconnected_server_get_dm() {
    let addr = HdlcAddress::server(1, 17);
    let mut server = HdlcLink::new(
        Role::Server,
        LinkConfig::server(addr, HdlcParameters::default()),
    );
    let now = Instant::now();
    let rr = FrameRepr {
        segmented: false,
        destination: addr,
        source: HdlcAddress::client(16),
        control: Control::Rr { nr: 0, pf: true },
        info: &[],
    };
    server.handle_input(now, &rr.to_bytes());
    // The peer is not known until SNRM, so the DM goes nowhere; learn it with a DISC instead.
    assert_eq!(server.poll_transmit(now), None);
    let disc = FrameRepr {
        control: Control::Disc { pf: true },
        ..rr.clone()
    };
    let mut server = HdlcLink::new(
        Role::Server,
        LinkConfig {
            peer: Some(HdlcAddress::client(16)),
            ..LinkConfig::server(addr, HdlcParameters::default())
        },
    );
    server.handle_input(now, &disc.to_bytes());
    let dm = server.poll_transmit(now).unwrap();
    assert_eq!(
        FrameRepr::parse(&dm).unwrap().control,
        Control::Dm { pf: true }
    );
}

#[test]
fn impossible_nr_gets_frmr_and_the_client_goes_down() {
    let mut w = Wire::new(HdlcParameters::default(), HdlcParameters::default());
    w.connect();
    let bad = FrameRepr {
        segmented: false,
        destination: HdlcAddress::server(1, 17),
        source: HdlcAddress::client(16),
        control: Control::Rr { nr: 5, pf: true },
        info: &[],
    };
    w.server.handle_input(w.now, &bad.to_bytes());
    let frmr = w.server.poll_transmit(w.now).unwrap();
    assert_eq!(
        FrameRepr::parse(&frmr).unwrap().control,
        Control::Frmr { pf: true }
    );
    w.client.handle_input(w.now, &frmr);
    assert_eq!(
        w.client.poll_event(),
        Some(LinkEvent::Disconnected(DisconnectReason::FrameReject))
    );
}

#[test]
fn frames_for_another_address_and_bad_fcs_are_ignored() {
    let mut w = Wire::new(HdlcParameters::default(), HdlcParameters::default());
    w.connect();
    let other = FrameRepr {
        segmented: false,
        destination: HdlcAddress::server(1, 99),
        source: HdlcAddress::client(16),
        control: Control::Snrm { pf: true },
        info: &[],
    };
    w.server.handle_input(w.now, &other.to_bytes());
    assert_eq!(w.server.poll_transmit(w.now), None);
    let mut corrupt = FrameRepr {
        destination: HdlcAddress::server(1, 17),
        ..other
    }
    .to_bytes();
    let n = corrupt.len();
    corrupt[n - 2] ^= 0x55;
    w.server.handle_input(w.now, &corrupt);
    assert_eq!(w.server.poll_transmit(w.now), None);
    assert_eq!(w.server.bad_frames(), 1);
    assert!(w.server.is_connected());
}

#[test]
fn server_drops_the_link_after_inactivity() {
    let mut w = Wire::new(HdlcParameters::default(), HdlcParameters::default());
    w.connect();
    let t = w.server.poll_timeout().unwrap();
    w.server.handle_timeout(t);
    assert_eq!(
        w.server.poll_event(),
        Some(LinkEvent::Disconnected(DisconnectReason::Inactivity))
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Whatever the sizes, windows and losses, every APDU arrives once, whole and in order.
    /// Each timeout needs at least one loss, so a retry budget above the loss budget never runs
    /// out.
    #[test]
    fn apdus_arrive_in_order_despite_loss(
        sizes in proptest::collection::vec(0usize..700, 1..4),
        window_c in 1u8..=7, window_s in 1u8..=7, info in 32u16..300,
        losses in proptest::collection::vec(any::<bool>(), 0..40),
    ) {
        let mut w = Wire::with_retries(params(info, window_c), params(info, window_s), 50);
        w.connect();
        let apdus: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, n)| vec![i as u8; *n]).collect();
        let mut loss = losses.into_iter();
        for a in &apdus {
            w.client.send_apdu(a).unwrap();
            w.run(&mut || loss.next().unwrap_or(false), true, 5000);
        }
        prop_assert_eq!(Wire::apdus(&w.server_events), apdus.clone());
        prop_assert_eq!(Wire::apdus(&w.client_events), apdus);
    }
}

#[test]
fn server_answers_a_one_byte_logical_address_from_that_address() {
    let addr = HdlcAddress::server(1, 17);
    let mut server = HdlcLink::new(
        Role::Server,
        LinkConfig::server(addr, HdlcParameters::default()),
    );
    let now = Instant::now();
    let snrm = FrameRepr {
        segmented: false,
        destination: HdlcAddress {
            upper: 1,
            lower: None,
            width: 1,
        },
        source: HdlcAddress::client(16),
        control: Control::Snrm { pf: true },
        info: &[],
    };
    server.handle_input(now, &snrm.to_bytes());
    let ua = server.poll_transmit(now).unwrap();
    let ua = FrameRepr::parse(&ua).unwrap();
    assert_eq!(ua.control, Control::Ua { pf: true });
    assert_eq!(
        ua.source,
        HdlcAddress {
            upper: 1,
            lower: None,
            width: 1
        }
    );
}
