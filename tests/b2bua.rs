//! The B2BUA's call paths on the pure core with simulated peers (a trunk,
//! softphones that answer, ring out, refuse or are gone) on one simulated
//! clock: fast and deterministic. The SIPp tests stay as the end-to-end
//! layer; these pin every path down exactly.

mod net;

use net::*;
use siaga112::caselog::{EndReason, Kind};
use siaga112::operator::{Actor, Command, CommandError, Done, SeatPhase};
use std::time::Duration;

const S: fn(u64) -> Duration = Duration::from_secs;

fn config(queue_extra: &str, seats: &[&str]) -> String {
    let mut c = format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:5060"]
realm = "siaga112"
keepalive_s = 0
retry_s = 30
no_response_ms = 2000

[[trunk]]
name = "telco-a"
peers = ["127.0.0.1/32"]

[[route]]
match = ["112", "urn:service:sos", "urn:service:sos.*"]
queue = "emergency"

[[route]]
match = ["110"]
queue = "backup"

[[queue]]
name = "emergency"
ring_timeout_s = 5
max_wait_s = 60
{queue_extra}

[[queue]]
name = "backup"
ring_timeout_s = 5
max_wait_s = 60
"#
    );
    for (i, s) in seats.iter().enumerate() {
        c.push_str(&format!(
            "\n[[seat]]\nuser = \"op{}\"\npassword = \"secret{}\"\nqueues = [{s}]\n",
            i + 1,
            i + 1
        ));
    }
    c
}

/// A net with `answers.len()` seats of the emergency queue, registered.
fn net(queue_extra: &str, answers: &[Answer]) -> Net {
    let seats: Vec<&str> = answers.iter().map(|_| "\"emergency\"").collect();
    let mut n = Net::new(&config(queue_extra, &seats));
    for (i, a) in answers.iter().enumerate() {
        let p = n.phone(
            &format!("op{}", i + 1),
            &format!("secret{}", i + 1),
            5071 + i as u16,
            *a,
        );
        assert_eq!(n.register(p, 3600), 200);
        n.advance(Duration::from_millis(10));
    }
    n
}

const CASE1: &str = "0001-000001";
const CASE2: &str = "0001-000002";

fn ended(n: &Net, case: &str) -> (EndReason, Option<String>, u64, u64) {
    match n.ended(case) {
        Some(Kind::Ended {
            reason,
            seat,
            wait_ms,
            talk_ms,
            ..
        }) => (*reason, seat.clone(), *wait_ms, *talk_ms),
        other => panic!("{case} has no end: {other:?}\n{:?}", n.case_kinds()),
    }
}

#[test]
fn answered_then_the_caller_hangs_up() {
    let mut n = net("", &[Answer::After(S(2))]);
    n.call(1, "112");
    assert_eq!(n.trunk[&1].statuses, [180], "180 at once, no 100");
    n.advance(S(2));
    assert!(n.trunk[&1].answered);
    assert!(
        n.phones[0].calls.values().next().unwrap().acked,
        "the seat's 200 is ACKed"
    );
    n.advance(S(10));
    n.trunk_hangs_up(1);
    assert!(
        n.phones[0].calls.values().all(|c| c.ended),
        "the seat gets the BYE"
    );
    assert_eq!(
        n.kinds_of(CASE1),
        ["opened", "queued", "offered", "answered", "ended"]
    );
    let (reason, seat, wait, talk) = ended(&n, CASE1);
    assert_eq!(
        (reason, seat.as_deref()),
        (EndReason::Completed, Some("op1"))
    );
    assert_eq!((wait, talk), (2000, 10_000));
}

#[test]
fn answered_then_the_seat_hangs_up() {
    let mut n = net("", &[Answer::After(S(1))]);
    n.call(1, "112");
    n.advance(S(5));
    n.phone_hangs_up(0);
    assert!(n.trunk[&1].ended, "the trunk gets the BYE");
    assert!(n.trunk_inbox.iter().any(|m| m.starts_with("BYE ")));
    let (reason, seat, _, talk) = ended(&n, CASE1);
    assert_eq!(
        (reason, seat.as_deref(), talk),
        (EndReason::Completed, Some("op1"), 4000)
    );
}

#[test]
fn abandoned_while_queued_and_while_ringing() {
    let mut n = Net::new(&config("", &["\"emergency\""]));
    n.call(1, "112");
    n.advance(S(3));
    n.trunk_hangs_up(1);
    assert_eq!(
        n.trunk[&1].statuses,
        [180, 487],
        "CANCEL answers the INVITE 487"
    );
    assert_eq!(ended(&n, CASE1).0, EndReason::Abandoned);
    assert_eq!(ended(&n, CASE1).2, 3000, "waited 3 s");
    // Ringing: the seat's INVITE is cancelled.
    let p = n.phone("op1", "secret1", 5071, Answer::Never);
    assert_eq!(n.register(p, 3600), 200);
    n.call(2, "112");
    assert_eq!(n.phones[0].calls.len(), 1, "the seat rings");
    n.trunk_hangs_up(2);
    assert!(
        n.phones[0].calls.values().all(|c| c.cancelled),
        "its INVITE is cancelled"
    );
    assert_eq!(ended(&n, CASE2).0, EndReason::Abandoned);
    assert_eq!(ended(&n, CASE2).1, None, "nobody answered");
}

#[test]
fn a_seat_that_rings_out_loses_the_call_to_the_next_and_is_paused() {
    let mut n = net("", &[Answer::Never, Answer::After(S(1))]);
    n.call(1, "112");
    assert_eq!(n.phones[0].calls.len(), 1, "op1 (idle longest) rings first");
    n.advance(S(5));
    assert!(
        n.phones[0].calls.values().all(|c| c.cancelled),
        "CANCEL after the ring timeout"
    );
    assert_eq!(n.phones[1].calls.len(), 1, "then op2");
    n.advance(S(1));
    assert!(n.trunk[&1].answered);
    assert_eq!(
        n.kinds_of(CASE1),
        ["opened", "queued", "offered", "offered", "answered"]
    );
    assert_eq!(
        n.seat_records("op1").last().unwrap(),
        &("paused".to_string(), Some("no-answer".to_string())),
        "max_no_answer = 1: paused no-answer (one spelling)"
    );
}

#[test]
fn a_busy_seat_is_skipped_and_stays_available() {
    let mut n = net("", &[Answer::Busy, Answer::After(S(1))]);
    n.call(1, "112");
    assert_eq!(n.phones[0].calls.len(), 1);
    assert_eq!(n.phones[1].calls.len(), 1, "at once to the next seat");
    n.advance(S(2));
    assert!(n.trunk[&1].answered);
    let (_, seat, _, _) = {
        n.trunk_hangs_up(1);
        ended(&n, CASE1)
    };
    assert_eq!(seat.as_deref(), Some("op2"));
    let (seats, _) = n.core.snapshot();
    assert_eq!(seats[0].phase, SeatPhase::Available, "busy is not a pause");
    // op1 is not offered the same call again for retry_s, but a new one it is.
    n.call(2, "112");
    assert_eq!(n.phones[0].calls.len(), 2);
}

#[test]
fn an_unreachable_seat_is_out_of_rotation_until_it_registers_again() {
    let mut n = net("", &[Answer::Dead, Answer::After(S(1))]);
    n.call(1, "112");
    n.advance(S(3));
    assert!(
        n.trunk[&1].answered,
        "after no_response the next seat took it"
    );
    assert_eq!(
        n.seat_records("op1").last().unwrap(),
        &("paused".to_string(), Some("unreachable".to_string()))
    );
    n.trunk_hangs_up(1);
    n.phones[0].answer = Answer::After(S(1));
    // A refresh of the registration it still has does not bring it back...
    assert_eq!(n.register(0, 3600), 200);
    n.call(2, "112");
    assert_eq!(
        (n.phones[0].calls.len(), n.phones[1].calls.len()),
        (0, 2),
        "call 2 went to op2 (op1, when dead, recorded nothing)"
    );
    n.advance(S(2));
    n.trunk_hangs_up(2);
    // ...a new registration does (its softphone restarted).
    assert_eq!(n.register(0, 0), 200);
    assert_eq!(n.register(0, 3600), 200);
    n.call(3, "112");
    assert_eq!(n.phones[0].calls.len(), 1, "op1 takes call 3");
}

#[test]
fn no_seat_logged_in_overflows_to_another_centre_at_once() {
    let cfg = config("overflow = \"sip:112@127.0.0.1:5099\"", &["\"emergency\""]);
    let mut n = Net::new(&cfg);
    n.call(1, "112");
    let (to, inv) = n.elsewhere.first().expect("the overflow target is called");
    assert_eq!(to.port(), 5099);
    assert!(inv.starts_with("INVITE sip:112@127.0.0.1:5099 "));
    assert_eq!(n.kinds_of(CASE1), ["opened", "queued", "overflowed"]);
}

#[test]
fn max_wait_overflows_to_another_queue_keeping_the_place_in_time() {
    let cfg = config("overflow = \"backup\"", &["\"emergency\"", "\"backup\""]);
    let mut n = Net::new(&cfg);
    let p1 = n.phone("op1", "secret1", 5071, Answer::Never);
    let p2 = n.phone("op2", "secret2", 5072, Answer::After(S(1)));
    n.register(p1, 3600);
    n.register(p2, 3600);
    n.call(1, "112");
    n.advance(S(4));
    assert!(!n.trunk[&1].answered);
    // Ring timeout 5 s: op1 misses, is paused; nobody else serves emergency.
    n.advance(S(56));
    // max_wait 60 s: to the backup queue, op2 answers.
    n.advance(S(2));
    assert!(n.trunk[&1].answered, "{:?}", n.case_kinds());
    let kinds = n.kinds_of(CASE1);
    assert!(
        kinds.starts_with(&["opened", "queued", "offered"]),
        "{kinds:?}"
    );
    assert!(
        kinds.ends_with(&["overflowed", "queued", "offered", "answered"]),
        "{kinds:?}"
    );
    n.trunk_hangs_up(1);
    assert_eq!(ended(&n, CASE1).1.as_deref(), Some("op2"));
}

#[test]
fn a_reinvite_passes_through_and_crossing_ones_get_491() {
    let mut n = net("", &[Answer::After(S(1))]);
    n.call(1, "112");
    n.advance(S(1));
    n.trunk_reinvites(1);
    let re = n.phones[0]
        .inbox
        .iter()
        .filter(|m| m.starts_with("INVITE "))
        .count();
    assert_eq!(re, 2, "the re-INVITE reached the seat");
    assert!(
        n.trunk_inbox
            .iter()
            .any(|m| m.starts_with("SIP/2.0 200") && m.contains("CSeq: 2 INVITE")),
        "and its 200 came back"
    );
    // Glare: the seat does not answer this one at once...
    n.phones[0].answer = Answer::Dead;
    n.trunk_reinvites(1);
    n.phones[0].answer = Answer::After(S(1));
    n.trunk_reinvites(1);
    assert!(
        n.trunk_inbox
            .iter()
            .any(|m| m.starts_with("SIP/2.0 491") && m.contains("CSeq: 4 INVITE")),
        "a re-INVITE while one is pending: 491"
    );
}

#[test]
fn ring_all_rings_every_free_seat_and_cancels_the_rest() {
    let mut n = net(
        "strategy = \"ring-all\"",
        &[Answer::Never, Answer::After(S(1)), Answer::Never],
    );
    n.call(1, "112");
    assert!(
        n.phones.iter().all(|p| p.calls.len() == 1),
        "all three ring"
    );
    n.advance(S(1));
    assert!(n.trunk[&1].answered);
    assert!(n.phones[0].calls.values().all(|c| c.cancelled));
    assert!(n.phones[2].calls.values().all(|c| c.cancelled));
    let (seats, _) = n.core.snapshot();
    let phases: Vec<_> = seats.iter().map(|s| s.phase).collect();
    assert_eq!(
        phases,
        [
            SeatPhase::Available,
            SeatPhase::OnCall,
            SeatPhase::Available
        ]
    );
}

#[test]
fn feature_codes_are_commands_with_who_may_issue_them() {
    // op2 turns calls down, so op1 takes the one call of the test.
    let mut n = net("wrapup_s = 30", &[Answer::After(S(1)), Answer::Busy]);
    assert_eq!(n.dial(0, "*41", None), 200, "pause");
    let (seats, _) = n.core.snapshot();
    assert_eq!(
        (seats[0].phase, seats[0].reason.as_deref()),
        (SeatPhase::Paused, Some("break"))
    );
    assert_eq!(
        n.dial(0, "*41", Some("wrong")),
        403,
        "wrong password: refused"
    );
    assert_eq!(n.dial(0, "*99", None), 404, "no such code");
    assert_eq!(n.dial(0, "*51", None), 409, "no call to mark yet");
    assert_eq!(n.dial(0, "*42", None), 200, "unpause");
    // A call, then the mark (in wrap-up).
    n.call(1, "112");
    n.advance(S(2));
    n.trunk_hangs_up(1);
    assert_eq!(n.dial(0, "*51", None), 200, "mark the last call prank");
    assert!(n
        .records
        .iter()
        .any(|r| r.case.as_ref().is_some_and(|c| c.as_str() == CASE1)
            && matches!(&r.kind, Kind::Outcome { mark, .. } if mark == "prank")));
    // The same commands from the console.
    let err = n.command(
        1,
        Actor::operator("op1"),
        Command::Pause {
            seat: "op2".into(),
            reason: "meal".into(),
        },
    );
    assert_eq!(
        err,
        Err(CommandError::NotAllowed),
        "an operator acts on its own seat only"
    );
    let ok = n.command(
        2,
        Actor::supervisor("sup"),
        Command::Pause {
            seat: "op2".into(),
            reason: "meal".into(),
        },
    );
    assert!(
        matches!(ok, Ok(Done::Seat(s)) if s.phase == SeatPhase::Paused && s.reason.as_deref() == Some("meal"))
    );
    let err = n.command(
        3,
        Actor::supervisor("sup"),
        Command::Pause {
            seat: "nobody".into(),
            reason: "meal".into(),
        },
    );
    assert_eq!(err, Err(CommandError::UnknownSeat));
    let err = n.command(
        4,
        Actor::operator("op2"),
        Command::Mark {
            seat: "op2".into(),
            case: None,
            mark: "prank".into(),
        },
    );
    assert_eq!(err, Err(CommandError::UnknownCase), "op2 handled no call");
}

#[test]
fn a_prank_caller_is_queued_behind_a_later_normal_caller() {
    let cfg = config("", &["\"emergency\""])
        .replace("[[trunk]]", "[acd]\nprank_threshold = 1\n\n[[trunk]]");
    let mut n = Net::new(&cfg);
    let p = n.phone("op1", "secret1", 5071, Answer::After(S(1)));
    n.register(p, 3600);
    n.call(1, "112");
    n.advance(S(1));
    n.trunk_hangs_up(1);
    assert_eq!(n.dial(0, "*51", None), 200, "call 1 was a prank");
    assert_eq!(n.dial(0, "*41", None), 200, "pause to let calls queue");
    // The same caller (+62811) again, then someone else (+62812).
    n.call_as(2, "112", "+62811");
    n.call_as(3, "112", "+62812");
    assert_eq!(n.dial(0, "*42", None), 200);
    n.advance(S(1));
    // op1 took the normal caller first.
    let answered: Vec<_> = n
        .records
        .iter()
        .filter(|r| matches!(r.kind, Kind::Answered { .. }))
        .filter_map(|r| r.case.as_ref().map(|c| c.as_str().to_string()))
        .collect();
    assert_eq!(answered.len(), 2, "{:?}", n.case_kinds());
    assert_eq!(
        answered[1], "0001-000003",
        "the third case (+62812) before the second"
    );
}

#[test]
fn a_thousand_calls_in_a_row_leave_nothing_behind() {
    let mut n = net("", &[Answer::After(Duration::from_millis(100))]);
    for i in 0..1000 {
        n.call(i, "112");
        n.advance(Duration::from_millis(200));
        n.trunk_hangs_up(i);
    }
    n.advance(S(200));
    let sizes = n.core.sizes();
    assert_eq!(sizes.calls, [0; 9]);
    assert_eq!(sizes.transactions, (0, 0));
    let ends = n
        .records
        .iter()
        .filter(|r| {
            matches!(
                r.kind,
                Kind::Ended {
                    reason: EndReason::Completed,
                    ..
                }
            )
        })
        .count();
    assert_eq!(ends, 1000);
}

#[test]
fn a_sip_info_key_press_is_recorded_and_relayed() {
    let mut n = net("", &[Answer::After(S(1))]);
    n.call(1, "112");
    n.advance(S(1));
    let c = n.trunk[&1].clone();
    let body = "Signal=7\r\nDuration=160\r\n";
    let info = format!(
        "INFO sip:siaga112@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKinfo1\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 INFO\r\nContent-Type: application/dtmf-relay\r\n\
         Content-Length: {}\r\n\r\n{body}",
        c.from,
        c.to.clone().unwrap(),
        c.call_id,
        body.len()
    );
    n.send(TRUNK.parse().unwrap(), &info);
    assert!(
        n.phones[0]
            .inbox
            .iter()
            .any(|m| m.starts_with("INFO ") && m.contains("Signal=7")),
        "relayed to the seat"
    );
    assert!(n
        .trunk_inbox
        .iter()
        .any(|m| m.starts_with("SIP/2.0 200") && m.contains("CSeq: 2 INFO")));
    assert!(n.records.iter().any(|r| matches!(
        &r.kind,
        Kind::Digit { side, digit, duration_ms: 160 } if side == "caller" && digit == "7"
    )));
}

#[test]
fn an_operator_classifies_notes_locates_and_readies_its_own_call_only() {
    let mut n = net("wrapup_s = 30", &[Answer::After(S(1)), Answer::Busy]);
    n.call(1, "112");
    n.advance(S(2));
    let case = siaga112::caselog::CaseId::from(CASE1);
    let op1 = || Actor::operator("op1");
    // Ready needs a class first.
    assert_eq!(
        n.command(1, op1(), Command::Ready { case: case.clone() }),
        Err(CommandError::WrongState("unclassified".into()))
    );
    let classify = |class: &str, category: Option<&str>| Command::Classify {
        case: case.clone(),
        class: class.into(),
        category: category.map(Into::into),
    };
    assert!(matches!(
        n.command(2, op1(), classify("emergency", Some("nope"))),
        Err(CommandError::Invalid(_))
    ));
    assert!(matches!(
        n.command(3, op1(), classify("urgent", None)),
        Err(CommandError::Invalid(_))
    ));
    assert_eq!(
        n.command(4, Actor::operator("op2"), classify("prank", None)),
        Err(CommandError::UnknownCase),
        "op2 never had this call"
    );
    assert_eq!(
        n.command(5, op1(), classify("emergency", Some("kebakaran"))),
        Ok(Done::Case { case: case.clone() })
    );
    let note = Command::Note {
        case: case.clone(),
        text: "  smoke from the roof, 3rd floor  ".into(),
    };
    assert!(n.command(6, op1(), note).is_ok());
    let bad = Command::Locate {
        case: case.clone(),
        address: None,
        lat: Some(-6.2),
        lon: None,
    };
    assert!(matches!(
        n.command(7, op1(), bad),
        Err(CommandError::Invalid(_))
    ));
    let at = Command::Locate {
        case: case.clone(),
        address: Some("Jl. Merdeka 5".into()),
        lat: Some(-6.2),
        lon: Some(106.8),
    };
    assert!(n.command(8, op1(), at).is_ok());
    // After the caller hangs up, in wrap-up, the case is still the seat's.
    n.trunk_hangs_up(1);
    assert!(n
        .command(9, op1(), Command::Ready { case: case.clone() })
        .is_ok());
    // A supervisor may act on any case.
    assert!(n
        .command(
            10,
            Actor::supervisor("sup"),
            Command::Note {
                case: case.clone(),
                text: "checked".into()
            }
        )
        .is_ok());
    let kinds = n.kinds_of(CASE1);
    assert_eq!(
        kinds,
        [
            "opened",
            "queued",
            "offered",
            "answered",
            "classified",
            "note",
            "located",
            "ended",
            "ready",
            "note"
        ]
    );
    let of_case: Vec<&Kind> = n
        .records
        .iter()
        .filter(|r| r.case.as_ref().is_some_and(|c| c.as_str() == CASE1))
        .map(|r| &r.kind)
        .collect();
    assert!(of_case.contains(&&Kind::Classified {
        class: "emergency".into(),
        category: Some("kebakaran".into()),
        by: "op1".into()
    }));
    assert!(of_case.contains(&&Kind::Note {
        text: "smoke from the roof, 3rd floor".into(),
        by: "op1".into()
    }));
    assert!(of_case.contains(&&Kind::Located {
        address: Some("Jl. Merdeka 5".into()),
        lat: Some(-6.2),
        lon: Some(106.8),
        source: "operator".into(),
        by: Some("op1".into()),
        detail: None,
    }));
    assert!(of_case.contains(&&Kind::Note {
        text: "checked".into(),
        by: "sup".into()
    }));
}

#[test]
fn a_case_is_handed_to_agencies_whose_steps_close_it() {
    use siaga112::caselog::{Brief, CaseId, TicketStatus};
    let agencies =
        "\n[[agency]]\nid = \"damkar\"\nname = \"Damkar\"\ncategories = [\"kebakaran\"]\n\
                    [[agency]]\nid = \"bpbd\"\nname = \"BPBD\"\n";
    let mut n = Net::new(&(config("wrapup_s = 30", &["\"emergency\""]) + agencies));
    let p = n.phone("op1", "secret1", 5071, Answer::After(S(1)));
    assert_eq!(n.register(p, 3600), 200);
    n.call(1, "112");
    n.advance(S(2));
    let case = CaseId::from(CASE1);
    let op1 = || Actor::operator("op1");
    let damkar = Actor {
        user: "damkar1".into(),
        role: siaga112::operator::Role::Agency {
            agency: "damkar".into(),
        },
    };
    let dispatch = |agency: &str| Command::Dispatch {
        case: case.clone(),
        agency: agency.into(),
        note: Some("lantai 2".into()),
        brief: Brief::default(),
    };
    let step = |agency: &str, status| Command::TicketStep {
        case: case.clone(),
        agency: agency.into(),
        status,
        note: None,
    };
    assert_eq!(
        n.command(1, op1(), dispatch("pln")),
        Err(CommandError::UnknownTicket),
        "no such agency"
    );
    assert_eq!(
        n.command(2, op1(), dispatch("damkar")),
        Ok(Done::Ticket {
            case: case.clone(),
            agency: "damkar".into(),
            status: TicketStatus::Sent
        })
    );
    assert_eq!(
        n.command(3, op1(), dispatch("damkar")),
        Err(CommandError::WrongState("sent".into())),
        "one open ticket per agency"
    );
    assert!(n.command(4, op1(), dispatch("bpbd")).is_ok());
    // Who moves a ticket on: its agency (or a supervisor), not another.
    assert_eq!(
        n.command(5, op1(), step("damkar", TicketStatus::Acknowledged)),
        Err(CommandError::NotAllowed)
    );
    assert_eq!(
        n.command(6, damkar.clone(), step("bpbd", TicketStatus::Acknowledged)),
        Err(CommandError::NotAllowed)
    );
    assert!(n
        .command(7, damkar.clone(), step("damkar", TicketStatus::OnScene))
        .is_ok());
    assert_eq!(
        n.command(
            8,
            damkar.clone(),
            step("damkar", TicketStatus::Acknowledged)
        ),
        Err(CommandError::WrongState("on-scene".into())),
        "steps only go forward"
    );
    assert!(n
        .command(9, damkar.clone(), step("damkar", TicketStatus::Closed))
        .is_ok());
    assert_eq!(
        n.command(10, damkar.clone(), step("damkar", TicketStatus::Cancelled)),
        Err(CommandError::WrongState("closed".into()))
    );
    // The call ends; the bpbd ticket is still open: not closed yet.
    n.trunk_hangs_up(1);
    assert!(!n.kinds_of(CASE1).contains(&"closed"));
    // The operator cancels its own case's ticket: now the case is closed.
    assert!(n
        .command(11, op1(), step("bpbd", TicketStatus::Cancelled))
        .is_ok());
    let kinds = n.kinds_of(CASE1);
    assert_eq!(kinds.last(), Some(&"closed"), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "ticket").count(), 5);
    let sent: Vec<&Kind> = n
        .records
        .iter()
        .filter(|r| r.case.as_ref() == Some(&case))
        .map(|r| &r.kind)
        .filter(|k| {
            matches!(
                k,
                Kind::Ticket {
                    status: TicketStatus::Sent,
                    ..
                }
            )
        })
        .collect();
    match sent[0] {
        Kind::Ticket {
            by, brief, note, ..
        } => {
            assert_eq!(by, "op1");
            assert_eq!(note.as_deref(), Some("lantai 2"));
            assert!(
                brief.as_ref().unwrap().caller.contains("+62"),
                "the caller to call back: {brief:?}"
            );
        }
        _ => unreachable!(),
    }
    // A call-back attempt is a record too; agencies may not make one.
    let cb = Command::Callback {
        case: case.clone(),
        outcome: "no-answer".into(),
        note: None,
    };
    assert!(n.command(12, op1(), cb.clone()).is_ok());
    assert_eq!(n.command(13, damkar, cb), Err(CommandError::NotAllowed));
    assert_eq!(n.kinds_of(CASE1).last(), Some(&"callback"));
}
