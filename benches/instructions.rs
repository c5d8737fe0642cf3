//! Work per call in instructions, not seconds: `scripts/callgrind.sh` runs
//! this under callgrind, counting only inside the core's entry points, so
//! the figure repeats exactly for the same code whatever else the machine
//! is doing (a shared VM moves wall-clock figures by 10-20 %).
//!
//! `CALLS` whole calls through the pure core (the `call` bench's call:
//! register once, INVITE, 180, 200, ACKs, 300 ms of timers, BYE), then
//! `PARSES` parses of the trunk's INVITE, the baseline of the same run.
//! Run natively it prints wall time per call and per parse.

use siaga112::sip::{self, Transport};
use std::hint::black_box;
use std::time::Instant;

#[path = "../tests/sim/mod.rs"]
mod sim;

fn count(var: &str, default: u32) -> u32 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` whole calls through a fresh core.
#[inline(never)]
fn calls(n: u32) {
    let mut s = sim::Sim::new();
    sim::register(&mut s);
    for i in 0..n {
        sim::one_call(&mut s, i);
    }
    if n > 0 {
        println!("calls: {n}, core time {:?} per call", s.core_time / n);
    }
}

/// `n` parses of a typical trunk INVITE (the same run's baseline).
#[inline(never)]
fn parse_invites(n: u32) {
    let invite = sim::trunk_invite();
    let started = Instant::now();
    for _ in 0..n {
        let _ = black_box(sip::parse(
            black_box(invite.as_bytes()),
            Transport::Udp,
            65535,
        ));
    }
    if n > 0 {
        println!("parses: {n}, {:?} per parse", started.elapsed() / n);
    }
}

fn main() {
    calls(count("CALLS", 200));
    parse_invites(count("PARSES", 1000));
}
