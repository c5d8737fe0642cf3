//! The ACD hot path: enqueue, route (a seat for a new call, a call for a
//! freed seat) and remove, at 10 / 100 / 1,000 seats and 100 / 1,000 /
//! 10,000 waiting calls across 4 priorities.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use siaga112::acd::{Acd, QueueSetup, SeatSetup, Strategy};
use std::time::{Duration, Instant};

fn build(seats: usize, strategy: Strategy) -> (Acd, Instant) {
    let t0 = Instant::now();
    let queues = vec![
        QueueSetup {
            name: "sos".into(),
            aging_step: Duration::from_secs(60),
            strategy,
            max_no_answer: 1,
        },
        QueueSetup {
            name: "info".into(),
            aging_step: Duration::from_secs(60),
            strategy,
            max_no_answer: 1,
        },
    ];
    let seats = (0..seats)
        .map(|i| SeatSetup {
            name: format!("s{i}"),
            queues: vec![(0, (i % 4) as u32), (1, 1)],
        })
        .collect();
    (Acd::new(t0, queues, seats, Duration::from_secs(5)), t0)
}

/// All seats busy on calls, `waiting` calls queued across 4 priorities.
fn busy(seats: usize, waiting: usize, strategy: Strategy) -> (Acd, Instant, u64) {
    let (mut a, t0) = build(seats, strategy);
    let mut call = 0u64;
    for s in 0..seats {
        a.seat_login(s, t0 + Duration::from_millis(s as u64));
        call += 1;
        a.enqueue(call, 0, 0, t0);
        let o = a.poll_offer().expect("offer");
        a.answered(o.call, o.seat);
    }
    for i in 0..waiting {
        call += 1;
        a.enqueue(
            call,
            0,
            (i % 4) as i32,
            t0 + Duration::from_millis(i as u64),
        );
    }
    (a, t0, call)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("acd");
    g.sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for &seats in &[10usize, 100, 1000] {
        for &waiting in &[100usize, 1000, 10_000] {
            let id = format!("{seats} seats/{waiting} waiting");
            // A freed seat picks the head call (the routing decision), which
            // it answers; a new call joins the queue to keep the size.
            let (mut a, t0, mut call) = busy(seats, waiting, Strategy::LongestIdle);
            let mut seat = 0usize;
            let mut now = t0 + Duration::from_secs(1);
            g.bench_function(BenchmarkId::new("seat freed: pick a call", &id), |b| {
                b.iter(|| {
                    now += Duration::from_micros(1);
                    a.call_ended(seat, Duration::from_secs(1), Duration::ZERO, now);
                    let o = a.poll_offer().expect("an offer");
                    a.answered(o.call, o.seat);
                    call += 1;
                    a.enqueue(black_box(call), 0, (call % 4) as i32, now);
                    seat = (seat + 1) % seats;
                })
            });
            // Enqueue behind `waiting` calls and abandon again (insert + remove).
            let (mut a, t0, mut call) = busy(seats, waiting, Strategy::LongestIdle);
            g.bench_function(BenchmarkId::new("enqueue + abandon", &id), |b| {
                b.iter(|| {
                    call += 1;
                    a.enqueue(black_box(call), 0, (call % 4) as i32, t0);
                    a.remove_call(call, t0);
                })
            });
        }
        // A new call with free seats picks one (the other routing decision).
        for strategy in [
            Strategy::LongestIdle,
            Strategy::SkillLevel,
            Strategy::FewestCalls,
        ] {
            let (mut a, t0) = build(seats, strategy);
            for s in 0..seats {
                a.seat_login(s, t0 + Duration::from_millis(s as u64));
            }
            let mut call = 0u64;
            let mut now = t0 + Duration::from_secs(1);
            g.bench_function(
                BenchmarkId::new(
                    format!("new call: pick a seat ({strategy:?})"),
                    format!("{seats} seats"),
                ),
                |b| {
                    b.iter(|| {
                        call += 1;
                        now += Duration::from_micros(1);
                        a.enqueue(black_box(call), 0, 0, now);
                        let o = a.poll_offer().expect("an offer");
                        a.answered(o.call, o.seat);
                        a.call_ended(o.seat, Duration::from_secs(1), Duration::ZERO, now);
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
