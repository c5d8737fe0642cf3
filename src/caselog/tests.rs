use super::*;

fn rec(ms: u64, case: Option<&str>, event: Event) -> Record {
    Record {
        time_ms: ms,
        case: case.map(|c| CaseId(c.to_string())),
        event,
    }
}

fn lifecycle(id: &str) -> Vec<Record> {
    vec![
        rec(
            1_000,
            Some(id),
            Event::Opened {
                caller: "sip:+62811@t".into(),
                called: "112".into(),
                service: "sos".into(),
                trunk: "telco-a".into(),
            },
        ),
        rec(
            1_001,
            Some(id),
            Event::Queued {
                queue: "emergency".into(),
                priority: 0,
            },
        ),
        rec(1_002, Some(id), Event::Offered { seat: "op1".into() }),
        rec(3_002, Some(id), Event::Offered { seat: "op2".into() }),
        rec(3_500, Some(id), Event::Answered { seat: "op2".into() }),
        rec(
            9_500,
            Some(id),
            Event::Ended {
                reason: EndReason::Completed,
                wait_ms: 2_500,
                talk_ms: 6_000,
                seat: Some("op2".into()),
                queue: Some("emergency".into()),
            },
        ),
    ]
}

#[test]
fn the_line_format_is_pinned() {
    let r = rec(
        1_795_392_000_123,
        Some("0001-000001"),
        Event::Opened {
            caller: "+62811".into(),
            called: "112".into(),
            service: "sos".into(),
            trunk: "telco-a".into(),
        },
    );
    assert_eq!(
        r.to_line(),
        r#"{"time":"2026-11-23T00:00:00.123Z","case":"0001-000001","event":"opened","caller":"+62811","called":"112","service":"sos","trunk":"telco-a"}"#
    );
    assert_eq!(Record::from_line(&r.to_line()), Some(r));
    // Unknown fields are tolerated (a newer writer).
    let newer = r#"{"time":"2026-11-22T21:20:00.123Z","case":"0001-000001","event":"offered","seat":"op1","extra":1}"#;
    assert!(Record::from_line(newer).is_some());
}

#[test]
fn round_trip_and_boots_increment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/cases.jsonl");
    let mut ids = std::collections::HashSet::new();
    for boot in 1..=3u32 {
        let (h, rec) = Journal::open(&path, Duration::from_millis(2)).unwrap();
        assert_eq!(rec.boot, boot);
        let mut alloc = CaseIds::new(rec.boot);
        for _ in 0..5 {
            let id = alloc.next();
            assert!(ids.insert(id.clone()), "{id} repeated");
            for r in lifecycle(&id.0) {
                h.append(r);
            }
        }
        h.close();
        assert_eq!(h.durable(), 30);
    }
    let rec = read_journal(&path).unwrap();
    assert_eq!(rec.boot, 4);
    assert_eq!(rec.bad_lines, 0);
    assert_eq!(rec.records.len(), 3 * 31);
    let cases = fold(rec.records);
    assert_eq!(cases.len(), 15);
    assert_eq!(cases[0].id, "0001-000001");
    assert_eq!(cases[14].id, "0003-000005");
}

#[test]
fn a_torn_tail_is_set_aside_never_merged() {
    for torn in [&b"{\"time\":\"2026-11-22T21:20:00.123Z\",\"case\":\"x\",\"ev"[..], br#"{"time":"2026-11-22T21:20:00.123Z","case":"0001-000009","event":"offered","seat":"op1"}"#] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.jsonl");
        let mut text = String::new();
        for r in lifecycle("0001-000001") {
            text.push_str(&r.to_line());
            text.push('\n');
        }
        let mut data = text.into_bytes();
        data.extend_from_slice(torn);
        std::fs::write(&path, &data).unwrap();
        let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
        assert_eq!(rec.torn_bytes, torn.len());
        assert_eq!(rec.records.len(), 6);
        h.append(rec_after());
        h.close();
        let side = std::fs::read(dir.path().join("cases.jsonl.torn")).unwrap();
        assert!(side.windows(torn.len()).any(|w| w == torn), "torn bytes kept aside");
        let back = read_journal(&path).unwrap();
        assert_eq!(back.torn_bytes, 0);
        assert_eq!(back.bad_lines, 0);
        assert_eq!(back.records.len(), 6 + 1 + 1, "the 6, the boot, the new one");
        assert!(!back.records.iter().any(|r| r.case.as_ref().is_some_and(|c| c.0 == "0001-000009")));
    }
}

fn rec_after() -> Record {
    rec(
        20_000,
        Some("0002-000001"),
        Event::Queued {
            queue: "q".into(),
            priority: 1,
        },
    )
}

#[test]
fn a_bad_line_in_the_middle_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cases.jsonl");
    let l = lifecycle("0001-000001");
    let text = format!("{}\nnot json\n{}\n", l[0].to_line(), l[1].to_line());
    std::fs::write(&path, text).unwrap();
    let rec = read_journal(&path).unwrap();
    assert_eq!(rec.bad_lines, 1);
    assert_eq!(rec.records.len(), 2);
}

#[test]
fn fold_gives_one_row_per_case() {
    let mut all = lifecycle("a");
    all.push(rec(
        2_000,
        Some("b"),
        Event::Opened {
            caller: "c".into(),
            called: "112".into(),
            service: "sos".into(),
            trunk: "t".into(),
        },
    ));
    all.push(rec(
        2_500,
        Some("b"),
        Event::Ended {
            reason: EndReason::Abandoned,
            wait_ms: 500,
            talk_ms: 0,
            seat: None,
            queue: None,
        },
    ));
    all.push(rec(
        2_600,
        Some("ghost"),
        Event::Outcome {
            mark: "prank".into(),
        },
    ));
    let cases = fold(all);
    assert_eq!(cases.len(), 3);
    let a = &cases[0];
    assert_eq!(
        (a.offers, a.seat.as_deref(), a.reason),
        (2, Some("op2"), Some(EndReason::Completed))
    );
    assert_eq!((a.wait_ms, a.talk_ms), (2_500, 6_000));
    assert_eq!(cases[1].reason, Some(EndReason::Abandoned));
    assert_eq!(cases[2].marks, vec!["prank".to_string()]);
}

#[test]
fn group_commit_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (h, _) = Journal::open(&dir.path().join("c.jsonl"), Duration::from_millis(5)).unwrap();
    for i in 0..10_000u64 {
        h.append(rec(i, Some("x"), Event::Offered { seat: "op1".into() }));
    }
    h.close();
    let s = h.commit_stats();
    assert_eq!(h.durable(), 10_000);
    assert_eq!(s.records, 10_000);
    assert!(s.batches < 10_000 / 2, "{s:?}");
}

proptest::proptest! {
    #[test]
    fn any_cut_recovers_exactly_the_complete_lines(n in 1usize..12, cut_frac in 0.0f64..1.0) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let recs: Vec<Record> = (0..n as u64).map(|i| rec(1000 + i, Some("0001-000001"), Event::Offered { seat: format!("op{i}") })).collect();
        let mut data = Vec::new();
        for r in &recs { data.extend_from_slice(r.to_line().as_bytes()); data.push(b'\n'); }
        let cut = ((data.len() as f64) * cut_frac) as usize;
        data.truncate(cut);
        std::fs::write(&path, &data).unwrap();
        let complete = data.iter().filter(|b| **b == b'\n').count();
        let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
        h.close();
        proptest::prop_assert_eq!(rec.records.len(), complete);
        proptest::prop_assert_eq!(&rec.records[..], &recs[..complete]);
    }
}
