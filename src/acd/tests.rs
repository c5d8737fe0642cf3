use super::*;
use proptest::prelude::{any, prop_oneof, proptest, Just, ProptestConfig};
use proptest::strategy::Strategy as PStrategy;
use std::collections::HashSet;

const S: Duration = Duration::from_secs(1);

fn acd(strategy: Strategy, seats: usize, queues: usize, max_no_answer: u32) -> (Acd, Instant) {
    let t0 = Instant::now();
    let q = (0..queues)
        .map(|i| QueueSetup {
            name: format!("q{i}"),
            aging_step: Duration::from_secs(60),
            strategy,
            max_no_answer,
        })
        .collect();
    let s = (0..seats)
        .map(|i| SeatSetup {
            name: format!("s{i}"),
            // Seat i serves every queue, its own (i % queues) first, level i % 3.
            queues: (0..queues)
                .map(|k| ((i + k) % queues, (i % 3) as u32))
                .collect(),
        })
        .collect();
    (Acd::new(t0, q, s, Duration::from_secs(5)), t0)
}

fn offers(a: &mut Acd) -> Vec<(CallId, SeatId)> {
    std::iter::from_fn(|| a.poll_offer())
        .map(|o| (o.call, o.seat))
        .collect()
}

#[test]
fn longest_idle_seat_gets_the_call() {
    let (mut a, t0) = acd(Strategy::LongestIdle, 3, 1, 1);
    a.seat_login(2, t0);
    a.seat_login(0, t0 + S);
    a.seat_login(1, t0 + 2 * S);
    a.enqueue(7, 0, 0, t0 + 3 * S);
    assert_eq!(offers(&mut a), vec![(7, 2)]);
    assert_eq!(*a.seat_state(2), SeatState::Ringing(7));
}

#[test]
fn higher_priority_waits_first_fifo_within() {
    let (mut a, t0) = acd(Strategy::LongestIdle, 1, 1, 1);
    a.enqueue(1, 0, 0, t0);
    a.enqueue(2, 0, 5, t0 + S);
    a.enqueue(3, 0, 0, t0 + 2 * S);
    a.enqueue(4, 0, 5, t0 + 3 * S);
    assert_eq!(a.waiting_calls(0).collect::<Vec<_>>(), vec![2, 4, 1, 3]);
    a.seat_login(0, t0 + 4 * S);
    assert_eq!(offers(&mut a), vec![(2, 0)]);
}

#[test]
fn priority_ages_so_nothing_starves() {
    let (mut a, t0) = acd(Strategy::LongestIdle, 1, 1, 1);
    // One level is 60 s: a call waiting 61 s beats a call one level up.
    a.enqueue(1, 0, 0, t0);
    a.enqueue(2, 0, 1, t0 + Duration::from_secs(61));
    assert_eq!(a.waiting_calls(0).collect::<Vec<_>>(), vec![1, 2]);
}

#[test]
fn no_answer_pauses_after_max_in_a_row() {
    let (mut a, t0) = acd(Strategy::LongestIdle, 2, 1, 2);
    a.seat_login(0, t0);
    a.seat_login(1, t0 + S);
    a.enqueue(1, 0, 0, t0 + 2 * S);
    assert_eq!(offers(&mut a), vec![(1, 0)]);
    // First miss: seat 0 stays in rotation (not for this call), call goes to 1.
    assert_eq!(
        a.offer_failed(1, 0, OfferFailure::NoAnswer, t0 + 3 * S),
        SeatState::Available
    );
    assert_eq!(offers(&mut a), vec![(1, 1)]);
    a.answered(1, 1);
    a.enqueue(2, 0, 0, t0 + 4 * S);
    assert_eq!(offers(&mut a), vec![(2, 0)]);
    // Second miss in a row: paused.
    assert_eq!(
        a.offer_failed(2, 0, OfferFailure::NoAnswer, t0 + 5 * S),
        SeatState::Paused("no-answer".into())
    );
    assert!(offers(&mut a).is_empty());
    assert!(a.is_queued(2));
    assert!(a.unpause(0, t0 + 6 * S));
    assert_eq!(offers(&mut a), vec![(2, 0)]);
}

#[test]
fn wrapup_delays_the_next_offer() {
    let (mut a, t0) = acd(Strategy::LongestIdle, 1, 1, 1);
    a.seat_login(0, t0);
    a.enqueue(1, 0, 0, t0);
    offers(&mut a);
    a.answered(1, 0);
    a.enqueue(2, 0, 0, t0 + S);
    a.call_ended(0, S, Duration::from_secs(10), t0 + 2 * S);
    assert!(offers(&mut a).is_empty());
    assert_eq!(a.poll_timeout(), Some(t0 + 12 * S));
    a.handle_timeout(t0 + 11 * S);
    assert!(offers(&mut a).is_empty());
    a.handle_timeout(t0 + 12 * S);
    assert_eq!(offers(&mut a), vec![(2, 0)]);
}

#[test]
fn rejected_seat_is_not_reoffered_the_same_call_until_retry() {
    let (mut a, t0) = acd(Strategy::LongestIdle, 1, 1, 1);
    a.seat_login(0, t0);
    a.enqueue(1, 0, 0, t0);
    offers(&mut a);
    a.offer_failed(1, 0, OfferFailure::Rejected, t0 + S);
    assert!(offers(&mut a).is_empty(), "not the same call again at once");
    assert_eq!(*a.seat_state(0), SeatState::Available);
    // Another call may go to it meanwhile.
    a.enqueue(2, 0, 0, t0 + 2 * S);
    assert_eq!(offers(&mut a), vec![(2, 0)]);
    a.offer_failed(2, 0, OfferFailure::Withdrawn, t0 + 3 * S);
    a.handle_timeout(t0 + 6 * S);
    assert_eq!(offers(&mut a), vec![(1, 0)]);
}

#[test]
fn logout_during_a_call_takes_effect_after_it() {
    let (mut a, t0) = acd(Strategy::LongestIdle, 1, 1, 1);
    a.seat_login(0, t0);
    a.enqueue(1, 0, 0, t0);
    offers(&mut a);
    a.answered(1, 0);
    a.seat_logout(0);
    assert_eq!(
        *a.seat_state(0),
        SeatState::OnCall(1),
        "the call is not cut"
    );
    a.call_ended(0, S, Duration::ZERO, t0 + S);
    assert_eq!(*a.seat_state(0), SeatState::LoggedOut);
    assert_eq!(a.logged_in(0), 0);
}

#[test]
fn seats_serve_their_first_queue_first() {
    // Seat 0 serves q0 then q1; a q1 call waits while a q0 call waits too.
    let (mut a, t0) = acd(Strategy::LongestIdle, 1, 2, 1);
    a.enqueue(1, 1, 0, t0);
    a.enqueue(2, 0, 0, t0 + S);
    a.seat_login(0, t0 + 2 * S);
    assert_eq!(offers(&mut a), vec![(2, 0)]);
}

#[test]
fn widening_lets_another_queues_seats_take_the_call() {
    let t0 = Instant::now();
    let q = |n: &str| QueueSetup {
        name: n.into(),
        aging_step: Duration::from_secs(60),
        strategy: Strategy::LongestIdle,
        max_no_answer: 1,
    };
    let mut a = Acd::new(
        t0,
        vec![q("sos"), q("info")],
        vec![SeatSetup {
            name: "info-seat".into(),
            queues: vec![(1, 1)],
        }],
        Duration::from_secs(5),
    );
    a.seat_login(0, t0);
    a.enqueue(1, 0, 0, t0);
    assert!(offers(&mut a).is_empty());
    a.widen(1, 1);
    assert_eq!(offers(&mut a), vec![(1, 0)]);
}

#[test]
fn strategies_pick_the_seat_they_promise() {
    // fewest-calls: seat 1 has taken none.
    let (mut a, t0) = acd(Strategy::FewestCalls, 2, 1, 1);
    a.seat_login(0, t0);
    a.enqueue(1, 0, 0, t0);
    offers(&mut a);
    a.answered(1, 0);
    a.call_ended(0, S, Duration::ZERO, t0 + S);
    a.seat_login(1, t0 + 2 * S);
    a.enqueue(2, 0, 0, t0 + 3 * S);
    assert_eq!(offers(&mut a), vec![(2, 1)], "longest idle would pick 0");

    // skill-level: seat levels are i % 3 -> seat 0 level 0, seat 1 level 1.
    let (mut a, t0) = acd(Strategy::SkillLevel, 2, 1, 1);
    a.seat_login(1, t0);
    a.seat_login(0, t0 + S);
    a.enqueue(1, 0, 0, t0 + 2 * S);
    assert_eq!(offers(&mut a), vec![(1, 0)]);

    // round-robin: the seat offered least recently.
    let (mut a, t0) = acd(Strategy::RoundRobin, 3, 1, 1);
    for s in 0..3 {
        a.seat_login(s, t0);
    }
    let mut got = Vec::new();
    for c in 1..=6u64 {
        a.enqueue(c, 0, 0, t0 + S * c as u32);
        let (call, seat) = offers(&mut a)[0];
        got.push(seat);
        a.offer_failed(call, seat, OfferFailure::Withdrawn, t0);
        a.remove_call(call, t0);
    }
    assert_eq!(got[..3].iter().collect::<HashSet<_>>().len(), 3, "{got:?}");
    assert_eq!(got[..3], got[3..]);

    // least-talk-time: seat 0 talked longer.
    let (mut a, t0) = acd(Strategy::LeastTalkTime, 2, 1, 1);
    a.seat_login(0, t0);
    a.enqueue(1, 0, 0, t0);
    offers(&mut a);
    a.answered(1, 0);
    a.call_ended(0, 100 * S, Duration::ZERO, t0 + S);
    a.seat_login(1, t0 + 50 * S);
    a.enqueue(2, 0, 0, t0 + 60 * S);
    assert_eq!(offers(&mut a), vec![(2, 1)]);
}

#[test]
fn ring_all_rings_every_free_seat_and_the_first_answer_wins() {
    let (mut a, t0) = acd(Strategy::RingAll, 3, 1, 1);
    for s in 0..3 {
        a.seat_login(s, t0);
    }
    a.enqueue(1, 0, 0, t0 + S);
    let o = offers(&mut a);
    assert_eq!(o.len(), 3, "{o:?}");
    // One seat declines: the others keep ringing, the call is not requeued.
    a.offer_failed(1, 0, OfferFailure::Rejected, t0 + 2 * S);
    assert!(!a.is_queued(1));
    assert_eq!(*a.seat_state(0), SeatState::Available);
    a.answered(1, 2);
    a.offer_failed(1, 1, OfferFailure::Withdrawn, t0 + 3 * S);
    assert_eq!(*a.seat_state(1), SeatState::Available);
    assert_eq!(*a.seat_state(2), SeatState::OnCall(1));
    assert!(offers(&mut a).is_empty());
}

// ---------------------------------------------------------------- properties

#[derive(Debug, Clone)]
enum Op {
    Login(usize),
    Logout(usize),
    Enqueue(usize, i32),
    Answer(usize),
    Fail(usize, u8),
    End(usize, bool),
    Pause(usize),
    Unpause(usize),
    Abandon(usize),
    Tick(u8),
}

fn op() -> impl PStrategy<Value = Op> {
    prop_oneof![
        (0..6usize).prop_map(Op::Login),
        (0..6usize).prop_map(Op::Logout),
        ((0..3usize), (-2..3i32)).prop_map(|(q, p)| Op::Enqueue(q, p)),
        (0..6usize).prop_map(Op::Answer),
        ((0..6usize), (0..4u8)).prop_map(|(s, w)| Op::Fail(s, w)),
        ((0..6usize), any::<bool>()).prop_map(|(s, w)| Op::End(s, w)),
        (0..6usize).prop_map(Op::Pause),
        (0..6usize).prop_map(Op::Unpause),
        (0..40usize).prop_map(Op::Abandon),
        (0..20u8).prop_map(Op::Tick),
    ]
}

fn strategy() -> impl PStrategy<Value = super::Strategy> {
    prop_oneof![
        Just(super::Strategy::LongestIdle),
        Just(super::Strategy::RoundRobin),
        Just(super::Strategy::FewestCalls),
        Just(super::Strategy::LeastTalkTime),
        Just(super::Strategy::Random),
        Just(super::Strategy::SkillLevel),
        Just(super::Strategy::RingAll),
    ]
}

/// Checks every invariant against the ACD's state.
fn check(a: &Acd, live: &HashSet<CallId>, answered: &HashSet<CallId>) {
    // A seat never holds two calls (its state names one); a call is talked
    // on by one seat at most, and rings one seat unless its queue rings all.
    let mut held = HashSet::new();
    for s in 0..a.seat_count() {
        if let SeatState::OnCall(c) = a.seat_state(s) {
            assert!(held.insert(*c), "call {c} on two seats");
        }
    }
    for s in 0..a.seat_count() {
        if let SeatState::Ringing(c) = a.seat_state(s) {
            let ring_all = a
                .calls
                .get(c)
                .is_some_and(|w| a.queues[w.queues[0]].strategy == super::Strategy::RingAll);
            assert!(
                !held.contains(c),
                "call {c} rings a seat while another talks on it"
            );
            if !ring_all {
                assert!(held.insert(*c), "call {c} rings two seats");
            }
        }
    }
    // No call lost or duplicated: every live call is waiting or ringing, once.
    for c in live {
        let waiting: usize = (0..a.queues.len())
            .map(|q| a.queues[q].waiting.iter().filter(|k| k.2 == *c).count())
            .sum();
        let ringing = (0..a.seat_count())
            .filter(|s| *a.seat_state(*s) == SeatState::Ringing(*c))
            .count();
        let home_waiting = a.calls.get(c).map(|w| w.queues.len()).unwrap_or(0);
        assert!(
            (waiting == home_waiting && waiting > 0 && ringing == 0)
                || (waiting == 0 && ringing >= 1)
                || a.calls.get(c).is_some_and(|w| !w.queued),
            "call {c}: waiting {waiting}, ringing {ringing}"
        );
        assert!(a.calls.contains_key(c), "call {c} lost");
    }
    for c in answered {
        assert!(!a.calls.contains_key(c));
    }
    // The invariant: no available seat that a waiting call may take.
    for (qi, q) in a.queues.iter().enumerate() {
        for (_, seat) in &q.available {
            assert_eq!(*a.seat_state(*seat), SeatState::Available);
            for k in &q.waiting {
                let w = &a.calls[&k.2];
                assert!(
                    w.skip.iter().any(|s| s.0 == *seat),
                    "queue {qi}: call {} waits while seat {seat} is available",
                    k.2
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_event_sequences_keep_the_invariants(strat in strategy(), ops in proptest::collection::vec(op(), 1..120)) {
        let (mut a, t0) = acd(strat, 6, 3, 2);
        let mut now = t0;
        let mut next_call = 0u64;
        let mut live: HashSet<CallId> = HashSet::new();
        let mut answered: HashSet<CallId> = HashSet::new();
        for op in ops {
            // Calls already waiting before this step (a call requeued later in
            // the same step may legitimately stand ahead of an earlier offer).
            let before: HashSet<CallId> = a.calls.iter().filter(|(_, w)| w.queued).map(|(c, _)| *c).collect();
            // And the seats each call excluded before this step: a tick
            // may end a seat's wrap-up (it takes a call at once) before it
            // ends a later retry window, as real time would.
            let skipped_before: HashSet<(CallId, SeatId)> = a
                .calls
                .iter()
                .flat_map(|(c, w)| w.skip.iter().map(move |s| (*c, s.0)))
                .collect();
            match op {
                Op::Login(s) => a.seat_login(s, now),
                Op::Logout(s) => a.seat_logout(s),
                Op::Enqueue(q, p) => {
                    next_call += 1;
                    a.enqueue(next_call, q, p, now);
                    live.insert(next_call);
                }
                Op::Answer(s) => if let SeatState::Ringing(c) = a.seat_state(s).clone() {
                    a.answered(c, s);
                    live.remove(&c);
                    answered.insert(c);
                    // As the B2BUA does: the other ringing seats are withdrawn.
                    for o in 0..a.seat_count() {
                        if *a.seat_state(o) == SeatState::Ringing(c) {
                            a.offer_failed(c, o, OfferFailure::Withdrawn, now);
                        }
                    }
                },
                Op::Fail(s, w) => if let SeatState::Ringing(c) = a.seat_state(s).clone() {
                    let why = [OfferFailure::NoAnswer, OfferFailure::Rejected, OfferFailure::Unreachable, OfferFailure::Withdrawn][w as usize];
                    a.offer_failed(c, s, why, now);
                    if why == OfferFailure::Withdrawn {
                        // The B2BUA moves a withdrawn call on; here it comes back.
                        a.requeue(c);
                    }
                },
                Op::End(s, wrap) => if let SeatState::OnCall(_) = a.seat_state(s) {
                    a.call_ended(s, S, if wrap { 3 * S } else { Duration::ZERO }, now);
                },
                Op::Pause(s) => { a.pause(s, "break"); }
                Op::Unpause(s) => { a.unpause(s, now); }
                Op::Abandon(i) => {
                    if let Some(c) = live.iter().copied().nth(i % live.len().max(1)) {
                        a.remove_call(c, now);
                        live.remove(&c);
                    }
                }
                Op::Tick(n) => {
                    now += Duration::from_millis(500) * u32::from(n);
                    a.handle_timeout(now);
                }
            }
            // Every offer obeys priority: no call the seat may take waits
            // ahead of the offered one (in a queue the seat prefers, or
            // earlier in the same queue); and the strategy: no eligible
            // available seat stood ahead of the chosen one.
            while let Some(o) = a.poll_offer() {
                let w = a.calls[&o.call].clone();
                let seat_qs: Vec<QueueId> = a.seats[o.seat].queues.iter().map(|x| x.0).collect();
                for q in seat_qs {
                    let from_here = w.queues.contains(&q);
                    for k in &a.queues[q].waiting {
                        if from_here && k.0 > w.key.0 || from_here && k.0 == w.key.0 && k.1 > w.key.1 || !before.contains(&k.2) {
                            continue;
                        }
                        let other = &a.calls[&k.2];
                        assert!(
                            other.skip.iter().any(|s| s.0 == o.seat)
                                || skipped_before.contains(&(k.2, o.seat)),
                            "seat {} got call {} while call {} waits ahead in queue {q}", o.seat, o.call, k.2
                        );
                    }
                    if from_here {
                        break;
                    }
                }
            }
            check(&a, &live, &answered);
        }
    }
}
