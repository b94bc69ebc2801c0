//! Shared glue: an `Endpoint` as a `netsim::Node`.
#![allow(dead_code)]

use l2tpv3::{Config, Endpoint, Event};
use netsim::{Node, Transmit};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Instant;

/// One LCCE on port 0 of a netsim node; the peer address is the port number.
pub struct Lcce {
    pub ep: Endpoint<usize, StdRng>,
    pub events: Vec<(Instant, Event<usize>)>,
    pub sent: Vec<(Instant, Vec<u8>)>,
    pub data: Vec<(u32, Vec<u8>)>,
    last: Option<Instant>,
}

impl Lcce {
    pub fn new(config: Config, seed: u64) -> Self {
        Lcce {
            ep: Endpoint::new(config, StdRng::seed_from_u64(seed)),
            events: Vec::new(),
            sent: Vec::new(),
            data: Vec::new(),
            last: None,
        }
    }

    fn drain(&mut self, now: Instant) {
        self.last = Some(now);
        while let Some(e) = self.ep.poll_event() {
            self.events.push((now, e));
        }
    }

    pub fn sessions_up(&self) -> usize {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::SessionUp { .. }))
            .count()
    }

    pub fn connection_up(&self) -> Option<u32> {
        self.events.iter().find_map(|(_, e)| match e {
            Event::ConnectionUp { ccid, .. } => Some(*ccid),
            _ => None,
        })
    }

    pub fn down(&self) -> Vec<(Instant, Event<usize>)> {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::ConnectionDown { .. }))
            .cloned()
            .collect()
    }
}

impl Node for Lcce {
    fn handle_datagram(&mut self, now: Instant, port: usize, payload: Vec<u8>) {
        if let Some(d) = self.ep.handle_datagram(now, port, &payload) {
            self.data.push((d.session_id, d.payload.to_vec()));
        }
        self.drain(now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.ep.handle_timeout(now);
        self.drain(now);
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        // Commands issued through `node_mut` leave events behind too.
        self.drain(now);
        let t = self.ep.poll_transmit()?;
        let (port, payload) = (t.destination, t.contents);
        self.sent.push((now, payload.clone()));
        Some(Transmit { port, payload })
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.ep.poll_timeout()
    }
}
