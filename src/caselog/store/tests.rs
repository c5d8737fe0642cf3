use super::*;
use crate::caselog::record::{Brief, CaseId, EndReason, Kind, Record, TicketStatus};
use std::io::Write;

const T0: u64 = 1_796_083_200_000; // 2026-12-01 00:00 UTC

fn rec(at_s: u64, case: &str, kind: Kind) -> Record {
    Record {
        time_ms: T0 + at_s * 1000,
        case: Some(CaseId::from(case)),
        kind,
    }
}

fn call(case: &str, caller: &str, at_s: u64, wait_s: u64, answered: bool) -> Vec<Record> {
    let mut v = vec![
        rec(
            at_s,
            case,
            Kind::Opened {
                caller: format!("sip:{caller}@telco"),
                called: "112".into(),
                service: "112".into(),
                trunk: "telco".into(),
                from_seat: None,
            },
        ),
        rec(
            at_s,
            case,
            Kind::Queued {
                queue: "emergency".into(),
                priority: 0,
            },
        ),
    ];
    if answered {
        v.push(rec(
            at_s + wait_s,
            case,
            Kind::Answered { seat: "op1".into() },
        ));
    }
    v.push(rec(
        at_s + wait_s + 60,
        case,
        Kind::Ended {
            reason: if answered {
                EndReason::Completed
            } else {
                EndReason::Abandoned
            },
            wait_ms: wait_s * 1000,
            talk_ms: 60_000,
            seat: answered.then(|| "op1".into()),
            queue: Some("emergency".into()),
        },
    ));
    v
}

fn write(path: &Path, recs: &[Record]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for r in recs {
        writeln!(f, "{}", r.to_line()).unwrap();
    }
}

fn journal() -> Vec<Record> {
    let mut all = vec![Record {
        time_ms: T0,
        case: None,
        kind: Kind::Boot { boot: 1 },
    }];
    all.extend(call("0001-000001", "+62811", 10, 5, true));
    all.extend(call("0001-000002", "+62812", 100, 30, false));
    all.extend(call("0001-000003", "+62811", 200, 12, true));
    all.push(rec(
        300,
        "0001-000001",
        Kind::Classified {
            class: "emergency".into(),
            category: Some("kebakaran".into()),
            by: "op1".into(),
        },
    ));
    all.push(rec(
        301,
        "0001-000001",
        Kind::Note {
            text: "asap dari ruko".into(),
            by: "op1".into(),
        },
    ));
    all.push(rec(
        302,
        "0001-000001",
        Kind::Located {
            address: Some("Jl. Braga 10".into()),
            lat: Some(-6.9),
            lon: Some(107.6),
            source: "operator".into(),
            by: Some("op1".into()),
            detail: None,
        },
    ));
    all.push(rec(
        303,
        "0001-000003",
        Kind::Classified {
            class: "prank".into(),
            category: None,
            by: "op1".into(),
        },
    ));
    for (at, status) in [
        (310, TicketStatus::Sent),
        (340, TicketStatus::Acknowledged),
        (900, TicketStatus::OnScene),
    ] {
        all.push(rec(
            at,
            "0001-000001",
            Kind::Ticket {
                agency: "damkar".into(),
                status,
                by: if status == TicketStatus::Sent {
                    "op1".into()
                } else {
                    "damkar1".into()
                },
                note: None,
                brief: (status == TicketStatus::Sent).then(|| {
                    Box::new(Brief {
                        caller: "sip:+62811@telco".into(),
                        category: Some("kebakaran".into()),
                        ..Brief::default()
                    })
                }),
            },
        ));
    }
    all
}

#[test]
fn the_store_answers_from_the_journal_and_a_rebuild_gives_the_same() {
    let d = tempfile::tempdir().unwrap();
    let j = d.path().join("cases.jsonl");
    let all = journal();
    write(&j, &all);
    let p = d.path().join("cases.sqlite");
    let mut s = Store::open(&p).unwrap();
    let c = s.catch_up(&j).unwrap();
    assert_eq!(
        (c.records, c.bad_lines, c.rebuilt),
        (all.len() as u64, 0, false)
    );
    assert_eq!(s.offset().unwrap(), std::fs::metadata(&j).unwrap().len());
    let r = s.reader().unwrap();
    let one = r.case("0001-000001").unwrap().unwrap();
    assert_eq!(one.class.as_deref(), Some("emergency"));
    assert_eq!(one.category.as_deref(), Some("kebakaran"));
    assert_eq!(one.number, "+62811");
    assert_eq!(one.wait_ms, Some(5000));
    assert_eq!(one.address.as_deref(), Some("Jl. Braga 10"));
    assert_eq!(one.notes, "op1: asap dari ruko");
    // The case's records, read back from the journal by their spans.
    let spans = r.spans("0001-000001").unwrap();
    let back = read_spans(&j, &spans).unwrap();
    let mine: Vec<&Record> = all
        .iter()
        .filter(|x| x.case.as_ref().is_some_and(|c| c.as_str() == "0001-000001"))
        .collect();
    assert_eq!(back.iter().collect::<Vec<_>>(), mine);
    // History, pranks, tickets, call-backs.
    let (h, pranks) = r.history("+62811", 20).unwrap();
    let ids: Vec<&str> = h.iter().map(|c| c.case.as_str()).collect();
    assert_eq!((ids, pranks), (vec!["0001-000003", "0001-000001"], 1));
    assert_eq!(
        r.prank_marks(T0).unwrap(),
        [("sip:+62811@telco".to_string(), T0 + 303_000)]
    );
    let t = r.tickets(Some("damkar"), true, None).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].status, TicketStatus::OnScene);
    assert_eq!(t[0].history.len(), 3);
    assert_eq!(t[0].acknowledged_ms, Some(T0 + 340_000));
    assert_eq!(
        t[0].brief.as_ref().unwrap().category.as_deref(),
        Some("kebakaran")
    );
    assert!(r.tickets(Some("bpbd"), true, None).unwrap().is_empty());
    assert_eq!(
        r.open_tickets().unwrap(),
        [(
            CaseId::from("0001-000001"),
            "damkar".to_string(),
            TicketStatus::OnScene
        )]
    );
    let cb: Vec<String> = r
        .callbacks(10)
        .unwrap()
        .into_iter()
        .map(|c| c.case)
        .collect();
    assert_eq!(
        cb,
        ["0001-000002"],
        "the abandoned call waits for a call-back"
    );
    // Search.
    let q = |f: &dyn Fn(&mut CaseSearch)| {
        let mut s = CaseSearch {
            from_ms: T0,
            to_ms: T0 + 86_400_000,
            limit: 10,
            ..CaseSearch::default()
        };
        f(&mut s);
        r.search(&s)
            .unwrap()
            .0
            .into_iter()
            .map(|c| c.case)
            .collect::<Vec<_>>()
    };
    assert_eq!(q(&|_| {}), ["0001-000003", "0001-000002", "0001-000001"]);
    assert_eq!(q(&|s| s.text = Some("ruko".into())), ["0001-000001"]);
    assert_eq!(
        q(&|s| s.text = Some("braga".into())),
        ["0001-000001"],
        "case-insensitive"
    );
    assert_eq!(q(&|s| s.text = Some("100%".into())), Vec::<String>::new());
    assert_eq!(q(&|s| s.agency = Some("damkar".into())), ["0001-000001"]);
    assert_eq!(q(&|s| s.class = Some("prank".into())), ["0001-000003"]);
    let (page, more) = r
        .search(&CaseSearch {
            from_ms: T0,
            to_ms: T0 + 86_400_000,
            limit: 2,
            ..CaseSearch::default()
        })
        .unwrap();
    assert!(more);
    let last = page.last().unwrap();
    let rest = q(&|s| s.before = Some((last.opened_ms.unwrap(), last.case.clone())));
    assert_eq!(rest, ["0001-000001"]);
    // The report.
    let rep = r.report(T0, T0 + 86_400_000, 0).unwrap();
    assert_eq!(
        (
            rep.totals.offered,
            rep.totals.answered,
            rep.totals.abandoned
        ),
        (3, 2, 1)
    );
    assert_eq!(rep.totals.within_10s, Some(1.0 / 3.0));
    assert_eq!(rep.totals.within_15s, Some(2.0 / 3.0));
    assert_eq!(rep.totals.by_class.get("prank"), Some(&1));
    assert_eq!(rep.totals.unclassified, 1);
    assert_eq!(rep.by_category.get("kebakaran"), Some(&1));
    let dk = &rep.dispatch.by_agency["damkar"];
    assert_eq!(dk.tickets, 1);
    assert_eq!(dk.mean_answer_to_dispatch_s, Some(295.0));
    assert_eq!(dk.mean_to_acknowledge_s, Some(30.0));
    assert_eq!(rep.hours[0].offered, 3);

    // Deleted and rebuilt: the same answers.
    drop(r);
    drop(s);
    let (s2, c2) = Store::rebuild(&p, &j).unwrap();
    assert_eq!(c2.records, all.len() as u64);
    let r2 = s2.reader().unwrap();
    assert_eq!(r2.report(T0, T0 + 86_400_000, 0).unwrap(), rep);
    assert_eq!(r2.case("0001-000001").unwrap().unwrap(), one);
}

#[test]
fn it_reads_on_from_where_it_stopped_and_never_a_torn_line() {
    let d = tempfile::tempdir().unwrap();
    let j = d.path().join("cases.jsonl");
    let all = journal();
    let (first, second) = all.split_at(5);
    write(&j, first);
    let mut s = Store::open(&d.path().join("s.sqlite")).unwrap();
    assert_eq!(s.catch_up(&j).unwrap().records, 5);
    // Half a line: not taken until it is whole.
    let line = second[0].to_line();
    let mut f = std::fs::OpenOptions::new().append(true).open(&j).unwrap();
    f.write_all(&line.as_bytes()[..10]).unwrap();
    assert_eq!(s.catch_up(&j).unwrap().records, 0);
    f.write_all(&line.as_bytes()[10..]).unwrap();
    f.write_all(b"\nnot json\n").unwrap();
    drop(f);
    write(&j, &second[1..]);
    let c = s.catch_up(&j).unwrap();
    assert_eq!((c.records, c.bad_lines), (second.len() as u64, 1));
    assert_eq!(s.catch_up(&j).unwrap(), CatchUp::default(), "nothing new");
    // Another journal in its place: the store starts again.
    std::fs::remove_file(&j).unwrap();
    write(
        &j,
        &[Record {
            time_ms: T0 + 5,
            case: None,
            kind: Kind::Boot { boot: 1 },
        }],
    );
    write(&j, &call("0002-000001", "+62899", 5, 1, true));
    let c = s.catch_up(&j).unwrap();
    assert!(c.rebuilt);
    let r = s.reader().unwrap();
    assert!(r.case("0001-000001").unwrap().is_none());
    assert!(r.case("0002-000001").unwrap().is_some());
}
