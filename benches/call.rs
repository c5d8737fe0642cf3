//! A whole call through the pure core, timed inside the core only: seat
//! registered, trunk INVITE, seat 180 + 200, ACKs, 300 ms of talk (timers
//! fire), trunk BYE, seat 200. No sockets, no case-log disk: this is the
//! engine's own CPU per call without the kernel's. Baseline in the same run:
//! parsing the trunk's INVITE alone, so the figure reads as a ratio.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use siaga112::sip::{self, Peer, Transport};
use std::time::Duration;

#[path = "../tests/sim/mod.rs"]
mod sim;

fn whole_call(c: &mut Criterion) {
    let mut g = c.benchmark_group("call");
    g.bench_function("whole call through the core", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                // A fresh core every 5,000 calls: 300 ms of talk each, and
                // the seat's registration lasts an hour of simulated time.
                let mut s = sim::Sim::new();
                sim::register(&mut s);
                s.core_time = Duration::ZERO;
                for n in 0..left.min(5000) {
                    sim::one_call(&mut s, n as u32);
                }
                left -= left.min(5000);
                total += s.core_time;
            }
            total
        })
    });
    let invite = sim::trunk_invite();
    let _ = Peer::udp(sim::TRUNK.parse().unwrap());
    g.bench_function("baseline: parse the trunk INVITE", |b| {
        b.iter(|| sip::parse(black_box(invite.as_bytes()), Transport::Udp, 65535))
    });
    g.finish();
}

criterion_group!(benches, whole_call);
criterion_main!(benches);
