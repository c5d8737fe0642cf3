//! The view folded from the core's events equals the core's own state
//! after any sequence of calls, answers, hang-ups, registrations, feature
//! codes, console commands and time passing (proptest on the pure core).

mod net;

use net::*;
use proptest::prelude::*;
use siaga112::operator::{Actor, Command};
use siaga112::view::View;
use std::time::Duration;

const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:5060"]
realm = "siaga112"
keepalive_s = 0
retry_s = 3
no_response_ms = 1500

[[trunk]]
name = "telco-a"
peers = ["127.0.0.1/32"]

[[route]]
match = ["112"]
queue = "emergency"

[[route]]
match = ["113"]
queue = "info"

[[queue]]
name = "emergency"
ring_timeout_s = 4
max_wait_s = 20
overflow = "info"
wrapup_s = 2

[[queue]]
name = "info"
ring_timeout_s = 4
max_wait_s = 30

[[seat]]
user = "op1"
password = "secret1"
queues = ["emergency", "info"]

[[seat]]
user = "op2"
password = "secret2"
queues = ["emergency"]

[[seat]]
user = "op3"
password = "secret3"
queues = ["info"]
"#;

#[derive(Debug, Clone)]
enum Op {
    Register(usize),
    Unregister(usize),
    Call(bool),
    TrunkHangsUp(u8),
    SeatHangsUp(usize),
    Behaviour(usize, u8),
    Code(usize, u8),
    Console(usize, u8),
    Wait(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize).prop_map(Op::Register),
        (0..3usize).prop_map(Op::Unregister),
        any::<bool>().prop_map(Op::Call),
        any::<u8>().prop_map(Op::TrunkHangsUp),
        (0..3usize).prop_map(Op::SeatHangsUp),
        (0..3usize, 0..4u8).prop_map(|(s, b)| Op::Behaviour(s, b)),
        (0..3usize, 0..4u8).prop_map(|(s, c)| Op::Code(s, c)),
        (0..3usize, 0..3u8).prop_map(|(s, c)| Op::Console(s, c)),
        (1..8000u16).prop_map(Op::Wait),
    ]
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut n = Net::new(CONFIG);
    for i in 0..3 {
        n.phone(
            &format!("op{}", i + 1),
            &format!("secret{}", i + 1),
            5071 + i as u16,
            Answer::After(Duration::from_millis(700)),
        );
    }
    let mut calls = 0u32;
    for (k, op) in ops.iter().enumerate() {
        match *op {
            Op::Register(i) => {
                n.register(i, 3600);
            }
            Op::Unregister(i) => {
                n.register(i, 0);
            }
            Op::Call(info) => {
                calls += 1;
                n.call(calls, if info { "113" } else { "112" });
            }
            Op::TrunkHangsUp(x) => {
                if calls > 0 {
                    let c = 1 + u32::from(x) % calls;
                    if !n.trunk[&c].ended {
                        n.trunk_hangs_up(c);
                    }
                }
            }
            Op::SeatHangsUp(i) => {
                if n.phones[i].calls.values().any(|c| c.answered && !c.ended) {
                    n.phone_hangs_up(i);
                }
            }
            Op::Behaviour(i, b) => {
                n.phones[i].answer = match b {
                    0 => Answer::After(Duration::from_millis(700)),
                    1 => Answer::Never,
                    2 => Answer::Busy,
                    _ => Answer::Dead,
                }
            }
            Op::Code(i, c) => {
                if n.phones[i].answer != Answer::Dead {
                    n.dial(i, ["*41", "*42", "*43", "*51"][usize::from(c)], None);
                }
            }
            Op::Console(i, c) => {
                let seat = format!("op{}", i + 1);
                let cmd = match c {
                    0 => Command::Pause {
                        seat,
                        reason: "meal".into(),
                    },
                    1 => Command::Unpause { seat },
                    _ => Command::LogOut { seat },
                };
                let _refused_or_done = n.command(k as u64, Actor::supervisor("sup"), cmd);
            }
            Op::Wait(ms) => n.advance(Duration::from_millis(u64::from(ms))),
        }
        let mut view = View::new();
        for e in &n.events {
            view.apply(e);
        }
        let (seats, queues) = n.core.snapshot();
        for s in &seats {
            prop_assert_eq!(view.seats.get(&s.seat), Some(s), "after {:?}", op);
        }
        for q in &queues {
            prop_assert_eq!(view.queues.get(&q.queue), Some(q), "after {:?}", op);
        }
        let live: usize = queues.iter().map(|q| q.waiting as usize).sum();
        let waiting_in_view = view.calls.values().filter(|c| !c.answered).count();
        prop_assert_eq!(waiting_in_view, live, "unanswered calls after {:?}", op);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn the_view_folded_from_events_is_the_core_s_state(ops in proptest::collection::vec(op(), 1..60)) {
        run(&ops)?;
    }
}
