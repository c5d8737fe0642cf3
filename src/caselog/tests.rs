use super::journal::*;
use super::record::*;
use super::recovery::*;
use super::*;
use proptest::prelude::*;
use std::time::{Duration, Instant};

const T0: u64 = 1_795_341_600_123; // 2026-11-22T10:00:00.123Z

fn rec(ms: u64, case: Option<&str>, kind: Kind) -> Record {
    Record {
        time_ms: ms,
        case: case.map(CaseId::from),
        kind,
    }
}

fn opened(ms: u64, id: &str) -> Record {
    rec(
        ms,
        Some(id),
        Kind::Opened {
            caller: "sip:+62811@telco".into(),
            called: "112".into(),
            service: "sos".into(),
            trunk: "telco-a".into(),
            from_seat: None,
        },
    )
}

fn lifecycle(id: &str) -> Vec<Record> {
    vec![
        opened(T0, id),
        rec(
            T0 + 1,
            Some(id),
            Kind::Queued {
                queue: "emergency".into(),
                priority: 2,
            },
        ),
        rec(T0 + 2, Some(id), Kind::Offered { seat: "op1".into() }),
        rec(T0 + 2_002, Some(id), Kind::Offered { seat: "op2".into() }),
        rec(T0 + 2_500, Some(id), Kind::Answered { seat: "op2".into() }),
        rec(
            T0 + 8_500,
            Some(id),
            Kind::Ended {
                reason: EndReason::Completed,
                wait_ms: 2_500,
                talk_ms: 6_000,
                seat: Some("op2".into()),
                queue: Some("emergency".into()),
            },
        ),
    ]
}

fn lines(recs: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in recs {
        out.extend_from_slice(r.to_line().as_bytes());
        out.push(b'\n');
    }
    out
}

#[test]
fn the_line_format_is_pinned() {
    let r = rec(
        T0,
        Some("0001-000001"),
        Kind::Opened {
            caller: "+62811".into(),
            called: "112".into(),
            service: "sos".into(),
            trunk: "telco-a".into(),
            from_seat: None,
        },
    );
    let line = r#"{"time":"2026-11-22T10:00:00.123Z","case":"0001-000001","event":"opened","caller":"+62811","called":"112","service":"sos","trunk":"telco-a"}"#;
    assert_eq!(r.to_line(), line);
    assert_eq!(Record::from_line(line), Some(r));
    assert_eq!(
        rec(T0, None, Kind::Boot { boot: 7 }).to_line(),
        r#"{"time":"2026-11-22T10:00:00.123Z","event":"boot","boot":7}"#
    );
    let ended = rec(
        T0,
        Some("0001-000001"),
        Kind::Ended {
            reason: EndReason::Abandoned,
            wait_ms: 5,
            talk_ms: 0,
            seat: None,
            queue: Some("q".into()),
        },
    );
    assert_eq!(
        ended.to_line(),
        r#"{"time":"2026-11-22T10:00:00.123Z","case":"0001-000001","event":"ended","reason":"abandoned","wait_ms":5,"talk_ms":0,"seat":null,"queue":"q"}"#
    );
}

#[test]
fn every_event_round_trips_and_reading_is_forward_compatible() {
    let mut all = lifecycle("0001-000001");
    all.push(rec(T0, None, Kind::Boot { boot: 3 }));
    all.push(rec(
        T0,
        Some("x"),
        Kind::Overflowed {
            target: "pst".into(),
        },
    ));
    all.push(rec(
        T0,
        Some("x"),
        Kind::Outcome {
            mark: "prank".into(),
            by: None,
        },
    ));
    all.push(rec(
        T0,
        None,
        Kind::Seat {
            seat: "op1".into(),
            state: "paused".into(),
            reason: Some("break \"lunch\"\n".into()),
        },
    ));
    for r in &all {
        assert_eq!(Record::from_line(&r.to_line()).as_ref(), Some(r));
    }
    // A newer writer: unknown fields, an unknown event, another offset.
    let newer = r#"{"time":"2026-11-22T10:00:00.123Z","case":"0001-000001","event":"offered","seat":"op1","extra":{"a":1}}"#;
    assert_eq!(
        Record::from_line(newer),
        Some(rec(
            T0,
            Some("0001-000001"),
            Kind::Offered { seat: "op1".into() }
        ))
    );
    let unknown = r#"{"time":"2026-11-22T10:00:00.123Z","case":"0001-000001","event":"transferred","to":"x"}"#;
    assert_eq!(
        Record::from_line(unknown).map(|r| r.kind),
        Some(Kind::Unknown)
    );
    let offset = r#"{"time":"2026-11-22T17:00:00.123456+07:00","event":"boot","boot":1}"#;
    assert_eq!(Record::from_line(offset).map(|r| r.time_ms), Some(T0));
    // Missing optional fields read as None.
    let terse =
        r#"{"time":"2026-11-22T10:00:00.123Z","event":"seat","seat":"op1","state":"ready"}"#;
    assert!(Record::from_line(terse).is_some());
    for bad in [
        r#"{"time":"yesterday","event":"boot","boot":1}"#,
        r#"{"time":"1969-12-31T23:59:59.999Z","event":"boot","boot":1}"#,
        r#"{"case":"x","event":"boot","boot":1}"#,
        r#"{"time":"2026-11-22T10:00:00.123Z","event":"queued","queue":"q"}"#,
    ] {
        assert_eq!(Record::from_line(bad), None, "{bad}");
    }
    assert_eq!(format_time(u64::MAX), "9999-12-31T23:59:59.999Z");
    assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
}

#[test]
fn case_ids_have_the_boot_and_a_sequence() {
    let mut ids = CaseIds::new(7);
    assert_eq!(ids.next().to_string(), "0007-000001");
    let id = ids.next();
    assert_eq!(id.as_str(), "0007-000002");
    assert_eq!(id.boot(), Some(7));
    assert_eq!(format!("[{id:<12}]"), "[0007-000002 ]");
    assert_eq!(
        serde_json::to_string(&id).ok().as_deref(),
        Some("\"0007-000002\"")
    );
    assert_eq!(CaseId::from("ghost").boot(), None);
    assert_eq!(CaseId::from("-1").boot(), None);
}

#[test]
fn round_trip_and_boots_increment_and_ids_never_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("var/sub/cases.jsonl");
    let mut seen = std::collections::HashSet::new();
    let mut written = Vec::new();
    for boot in 1..=3u32 {
        let before = read_journal(&path).unwrap();
        assert_eq!(before.records, written, "what earlier runs wrote is there");
        let (h, rec) = Journal::open(&path, Duration::from_millis(1)).unwrap();
        assert_eq!(rec.boot, boot);
        assert!(
            rec.records.is_empty(),
            "open reads only the end of the file"
        );
        let mut ids = CaseIds::new(rec.boot);
        let boot_line = read_journal(&path).unwrap().records.pop().unwrap();
        assert_eq!(boot_line.kind, Kind::Boot { boot });
        assert_eq!(boot_line.case, None);
        written.push(boot_line);
        for _ in 0..5 {
            let id = ids.next();
            assert!(seen.insert(id.clone()), "{id} repeated");
            for r in lifecycle(id.as_str()) {
                h.append(r.clone());
                written.push(r);
            }
        }
        h.close();
        assert_eq!(h.durable(), 30);
        assert_eq!(h.lost(), 0);
        h.close(); // twice is harmless
    }
    let back = read_journal(&path).unwrap();
    assert_eq!(back.boot, 4);
    assert_eq!((back.bad_lines, back.torn_bytes), (0, 0));
    assert_eq!(back.records, written);
    let boots: Vec<_> = back
        .records
        .iter()
        .filter_map(|r| match r.kind {
            Kind::Boot { boot } => Some(boot),
            _ => None,
        })
        .collect();
    assert_eq!(boots, [1, 2, 3]);
    let cases = fold(back.records);
    assert_eq!(cases.len(), 15);
    assert_eq!(cases[0].id, "0001-000001");
    assert_eq!(cases[14].id, "0003-000005");
}

#[test]
fn a_torn_tail_is_set_aside_never_merged() {
    let good = lifecycle("0001-000001");
    let valid_json = br#"{"time":"2026-11-22T10:00:09.000Z","case":"0001-000009","event":"offered","seat":"op1"}"#;
    let invalid_json = br#"{"time":"2026-11-22T10:00:09.000Z","case":"0001-0000"#;
    for torn in [&valid_json[..], &invalid_json[..]] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.jsonl");
        let mut data = lines(&good);
        let complete = data.len();
        data.extend_from_slice(torn);
        std::fs::write(&path, &data).unwrap();

        let seen = read_journal(&path).unwrap();
        assert_eq!((seen.torn_bytes, seen.records.len()), (torn.len(), 6));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            data,
            "read_journal changes nothing"
        );

        let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
        assert_eq!(rec.torn_bytes, torn.len());
        assert_eq!(rec.boot, 2, "past boot 1 of the complete lines");
        let side = std::fs::read(sibling(&path, ".torn")).unwrap();
        assert!(side.starts_with(b"# "), "a header line says when");
        assert!(
            side.windows(torn.len()).any(|w| w == torn),
            "torn bytes kept"
        );
        let after = std::fs::read(&path).unwrap();
        assert_eq!(&after[..complete], &data[..complete]);
        assert!(
            after[complete..].starts_with(br#"{"time""#),
            "boot on a fresh line"
        );

        let next = opened(T0 + 20_000, "0002-000001");
        h.append(next.clone());
        h.close();
        let back = read_journal(&path).unwrap();
        assert_eq!((back.torn_bytes, back.bad_lines), (0, 0));
        assert_eq!(
            back.records.len(),
            6 + 1 + 1,
            "the 6, the boot, the new one"
        );
        assert_eq!(back.records.last(), Some(&next));
        assert!(!back
            .records
            .iter()
            .any(|r| r.case.as_ref().is_some_and(|c| c.as_str() == "0001-000009")));
    }
}

#[test]
fn a_bad_line_in_the_middle_is_counted_skipped_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cases.jsonl");
    let l = lifecycle("0001-000001");
    let text = format!(
        "{}\nnot json\n\n{}\n\u{0}\u{0}\n{}\n",
        l[0].to_line(),
        l[1].to_line(),
        l[2].to_line()
    );
    std::fs::write(&path, &text).unwrap();
    let rec = read_journal(&path).unwrap();
    assert_eq!(rec.bad_lines, 2, "blank lines are not counted");
    assert_eq!(rec.records, l[..3]);
    let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
    h.close();
    assert_eq!((rec.boot, rec.torn_bytes), (2, 0));
    assert_eq!(read_journal(&path).unwrap().records[..3], l[..3]);
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(after.starts_with(&text), "bad lines are left in place");
}

#[test]
fn a_damaged_boot_line_cannot_make_ids_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cases.jsonl");
    // Boot 5's line is damaged; so is a case line of boot 6; and a torn
    // tail mentions boot 8. The next boot must be past all of them.
    let text = concat!(
        "{\"time\":\"2026-11-22T10:00:00.123Z\",\"event\":\"boot\",\"boot\":4}\n",
        "{\"time\":\"2026-11-22T10:00:00.1\u{1}\",\"event\":\"boot\",\"boot\": 5}\n",
        "{\"time\":\"bad\",\"case\":\"0006-000001\",\"event\":\"offered\",\"seat\":\"a\"}\n",
        "{\"time\":\"2026-11-22T10:00:00.123Z\",\"case\":\"0008-0000",
    );
    std::fs::write(&path, text).unwrap();
    assert_eq!(read_journal(&path).unwrap().boot, 9);
    let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
    h.close();
    assert_eq!(rec.boot, 9);
    assert_eq!(
        std::fs::read_to_string(sibling(&path, ".boot")).unwrap(),
        "9\n"
    );
    let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
    h.close();
    assert_eq!(rec.boot, 10);
    assert_eq!(boot_hint(br#""boot":12,"case":"0042-1","case":"77x""#), 42);
}

#[test]
fn a_journal_in_use_cannot_be_opened_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cases.jsonl");
    let (h, _) = Journal::open(&path, Duration::ZERO).unwrap();
    assert!(matches!(
        Journal::open(&path, Duration::ZERO),
        Err(CaseLogError::Locked { .. })
    ));
    h.close();
    let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
    h.close();
    assert_eq!(rec.boot, 2);
}

#[test]
fn fold_a_full_lifecycle() {
    let cases = fold(lifecycle("0001-000001"));
    assert_eq!(cases.len(), 1);
    let c = &cases[0];
    assert_eq!(
        c,
        &Case {
            id: "0001-000001".into(),
            opened: Some("2026-11-22T10:00:00.123Z".into()),
            caller: "sip:+62811@telco".into(),
            called: "112".into(),
            service: "sos".into(),
            trunk: "telco-a".into(),
            from_seat: None,
            queue: Some("emergency".into()),
            priority: 2,
            offers: 2,
            seat: Some("op2".into()),
            answered: Some("2026-11-22T10:00:02.623Z".into()),
            overflowed_to: None,
            ended: Some("2026-11-22T10:00:08.623Z".into()),
            reason: Some(EndReason::Completed),
            wait_ms: 2_500,
            talk_ms: 6_000,
            marks: vec![],
            ..Case::default()
        }
    );
}

#[test]
fn fold_abandoned_ordering_and_unknown_cases() {
    let mut all = vec![opened(T0, "b")];
    all.extend(lifecycle("a"));
    all.push(rec(T0 + 1, Some("b"), Kind::Offered { seat: "op3".into() }));
    all.push(rec(T0 + 2, None, Kind::Boot { boot: 2 }));
    all.push(rec(
        T0 + 3,
        None,
        Kind::Seat {
            seat: "op3".into(),
            state: "ready".into(),
            reason: None,
        },
    ));
    all.push(rec(
        T0 + 4,
        Some("b"),
        Kind::Ended {
            reason: EndReason::Abandoned,
            wait_ms: 4,
            talk_ms: 0,
            seat: None,
            queue: None,
        },
    ));
    all.push(rec(
        T0 + 5,
        Some("ghost"),
        Kind::Outcome {
            mark: "prank".into(),
            by: None,
        },
    ));
    all.push(rec(
        T0 + 6,
        Some("c"),
        Kind::Overflowed {
            target: "pst".into(),
        },
    ));
    all.push(opened(T0 + 7, "d"));
    all.push(rec(
        T0 + 8,
        Some("ghost"),
        Kind::Outcome {
            mark: "silent".into(),
            by: None,
        },
    ));
    let cases = fold(all);
    let ids: Vec<_> = cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["b", "a", "ghost", "c", "d"], "newest last");
    let b = &cases[0];
    assert_eq!(b.reason, Some(EndReason::Abandoned));
    assert_eq!(
        (b.offers, b.seat.as_deref(), b.answered.as_deref()),
        (1, Some("op3"), None)
    );
    assert_eq!(b.wait_ms, 4);
    let ghost = &cases[2];
    assert_eq!(ghost.opened, None);
    assert_eq!(ghost.marks, ["prank", "silent"]);
    assert_eq!(cases[3].overflowed_to.as_deref(), Some("pst"));
    assert_eq!(cases[4].reason, None, "still open");
}

#[test]
fn durable_reaches_n_and_group_commit_batches() {
    fn cheap_shared<T: Clone + Send + Sync>() {}
    cheap_shared::<JournalHandle>();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let (h, _) = Journal::open(&path, Duration::from_millis(5)).unwrap();
    let n = 10_000u64;
    for i in 0..n {
        h.append(rec(
            T0 + i,
            Some("0001-000001"),
            Kind::Offered { seat: "op1".into() },
        ));
    }
    h.close();
    let s = h.commit_stats();
    assert_eq!(h.durable(), n);
    assert_eq!(s.records, n);
    assert!(s.batches >= 3 && s.batches < n / 10, "{s:?}");
    assert!(
        s.p50_us > 0 && s.p50_us <= s.p99_us && s.p99_us <= s.max_us,
        "{s:?}"
    );
    assert_eq!(read_journal(&path).unwrap().records.len() as u64, n + 1);
}

#[test]
fn a_zero_window_commits_each_batch_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let (h, _) = Journal::open(&path, Duration::ZERO).unwrap();
    for i in 0..5 {
        h.append(opened(T0 + i, &format!("0001-00000{i}")));
        let t = Instant::now();
        while h.durable() <= i && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(h.durable(), i + 1, "durable without closing");
    }
    h.close();
    assert_eq!(h.commit_stats().batches, 5);
}

#[test]
fn appends_after_close_are_counted_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (h, _) = Journal::open(&dir.path().join("c.jsonl"), Duration::ZERO).unwrap();
    let other = h.clone();
    h.append(opened(T0, "a"));
    h.close();
    other.append(opened(T0, "b"));
    other.append(opened(T0, "c"));
    assert_eq!((h.durable(), h.lost()), (1, 2));
}

#[test]
fn dropping_every_handle_lets_the_writer_finish() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let (h, _) = Journal::open(&path, Duration::from_millis(20)).unwrap();
    let h2 = h.clone();
    let t = std::thread::spawn(move || {
        for i in 0..100 {
            h2.append(opened(T0 + i, "x"));
        }
    });
    t.join().unwrap();
    for i in 0..100 {
        h.append(opened(T0 + i, "y"));
    }
    drop(h);
    let start = Instant::now();
    loop {
        let n = read_journal(&path).unwrap().records.len();
        if n == 201 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "only {n} written"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // The writer exits and releases the lock.
    let start = Instant::now();
    let h = loop {
        match Journal::open(&path, Duration::ZERO) {
            Ok((h, _)) => break h,
            Err(CaseLogError::Locked { .. }) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("{e}"),
        }
    };
    h.close();
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9+@.:-]{0,12}",
        any::<String>(),
        Just("\"boot\":\n{}".to_string())
    ]
}

fn event() -> impl Strategy<Value = Kind> {
    let reason = prop_oneof![
        Just(EndReason::Completed),
        Just(EndReason::Abandoned),
        Just(EndReason::Overflowed),
        Just(EndReason::Failed),
    ];
    prop_oneof![
        (0u32..1000).prop_map(|boot| Kind::Boot { boot }),
        (text(), text(), text(), text(), proptest::option::of(text())).prop_map(
            |(caller, called, service, trunk, from_seat)| {
                Kind::Opened {
                    caller,
                    called,
                    service,
                    trunk,
                    from_seat,
                }
            }
        ),
        (text(), any::<i32>()).prop_map(|(queue, priority)| Kind::Queued { queue, priority }),
        text().prop_map(|seat| Kind::Offered { seat }),
        text().prop_map(|seat| Kind::Answered { seat }),
        text().prop_map(|target| Kind::Overflowed { target }),
        (
            reason,
            any::<u64>(),
            any::<u64>(),
            proptest::option::of(text()),
            proptest::option::of(text())
        )
            .prop_map(|(reason, wait_ms, talk_ms, seat, queue)| Kind::Ended {
                reason,
                wait_ms,
                talk_ms,
                seat,
                queue,
            }),
        (text(), proptest::option::of(text())).prop_map(|(mark, by)| Kind::Outcome { mark, by }),
        (text(), proptest::option::of(text()), text()).prop_map(|(class, category, by)| {
            Kind::Classified {
                class,
                category,
                by,
            }
        }),
        (text(), text()).prop_map(|(text, by)| Kind::Note { text, by }),
        (
            proptest::option::of(text()),
            proptest::option::of(-92_160i32..92_160),
            proptest::option::of(-184_320i32..184_320),
            text(),
            text(),
            proptest::option::of((
                proptest::option::of(text()),
                proptest::option::of(0i32..100_000),
                proptest::collection::btree_map(text(), text(), 0..4),
                proptest::collection::vec(text(), 0..3),
            )),
        )
            .prop_map(|(address, lat, lon, source, by, detail)| Kind::Located {
                by: Some(by),
                address,
                // Binary fractions: exact in JSON both ways.
                lat: lat.map(|v| f64::from(v) / 1024.0),
                lon: lon.map(|v| f64::from(v) / 1024.0),
                source,
                detail: detail.map(|(method, r, civic, problems)| {
                    Box::new(crate::caselog::LocationDetail {
                        method,
                        radius_m: r.map(|v| f64::from(v) / 4.0),
                        civic,
                        problems,
                        ..Default::default()
                    })
                }),
            }),
        text().prop_map(|by| Kind::Ready { by }),
        (text(), text(), proptest::option::of(text())).prop_map(|(seat, state, reason)| {
            Kind::Seat {
                seat,
                state,
                reason,
            }
        }),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    let case = proptest::option::of(prop_oneof![
        (0u32..100, 1u64..2_000_000).prop_map(|(b, s)| CaseId::new(b, s)),
        "[a-z]{1,8}".prop_map(|s| CaseId::from(s.as_str())),
    ]);
    (0u64..=MAX_TIME_MS, case, event()).prop_map(|(time_ms, case, kind)| Record {
        time_ms,
        case,
        kind,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_cut_recovers_exactly_the_complete_lines(
        recs in proptest::collection::vec(record(), 0..20),
        cut_frac in 0.0f64..=1.0,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let data = lines(&recs);
        let cut = ((data.len() as f64) * cut_frac) as usize;
        let data = &data[..cut.min(data.len())];
        std::fs::write(&path, data).unwrap();
        let complete = data.iter().filter(|b| **b == b'\n').count();
        let complete_len = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);

        let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
        h.close();
        prop_assert_eq!(rec.torn_bytes, data.len() - complete_len);
        let max_boot = recs[..complete]
            .iter()
            .flat_map(|r| {
                let b = match r.kind { Kind::Boot { boot } => boot, _ => 0 };
                [b, r.case.as_ref().and_then(CaseId::boot).unwrap_or(0)]
            })
            .max()
            .unwrap_or(0);
        prop_assert!(rec.boot > max_boot);
        prop_assert_eq!(sibling(&path, ".torn").exists(), rec.torn_bytes > 0);

        let after = std::fs::read(&path).unwrap();
        prop_assert_eq!(&after[..complete_len], &data[..complete_len]);
        let back = read_journal(&path).unwrap();
        prop_assert_eq!((back.torn_bytes, back.bad_lines), (0, 0));
        prop_assert_eq!(&back.records[..complete], &recs[..complete]);
        prop_assert_eq!(&back.records[complete].kind, &Kind::Boot { boot: rec.boot });
    }
}

#[test]
fn an_old_journal_s_noanswer_reads_as_no_answer() {
    let old = r#"{"time":"2026-11-22T10:00:00.123Z","event":"seat","seat":"op1","state":"paused","reason":"noanswer"}"#;
    let r = Record::from_line(old).unwrap();
    assert_eq!(
        r.kind,
        Kind::Seat {
            seat: "op1".into(),
            state: "paused".into(),
            reason: Some("no-answer".into())
        }
    );
    let none =
        r#"{"time":"2026-11-22T10:00:00.123Z","event":"seat","seat":"op1","state":"available"}"#;
    assert!(matches!(
        Record::from_line(none).unwrap().kind,
        Kind::Seat { reason: None, .. }
    ));
}

#[test]
fn open_reads_only_the_end_and_the_boot_file_keeps_ids_unique() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cases.jsonl");
    // Boot 7 wrote a case, then a later run's boot line was lost from the
    // end (say, a restore): the .boot file still says 9.
    let text = concat!(
        "{\"time\":\"2026-11-22T10:00:00.123Z\",\"event\":\"boot\",\"boot\":7}\n",
        "{\"time\":\"2026-11-22T10:00:01.000Z\",\"case\":\"0007-000001\",\"event\":\"offered\",\"seat\":\"a\"}\n",
        "{\"time\":\"2026-11-22T10:00:02.000Z\",\"event\":\"seat\",\"seat\":\"a\",\"state\":\"available\"}\n",
    );
    std::fs::write(&path, text).unwrap();
    let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
    h.close();
    assert_eq!(rec.boot, 8, "the last line naming a boot is a case of 7");
    std::fs::write(sibling(&path, ".boot"), "9\n").unwrap();
    let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
    h.close();
    assert_eq!(rec.boot, 10);
    // Without the .boot file, a byte scan of the whole file finds the most.
    std::fs::remove_file(sibling(&path, ".boot")).unwrap();
    let mut data = std::fs::read(&path).unwrap();
    data.extend_from_slice(b"{\"time\":\"2026-11-22T10:00:03.000Z\",\"case\":\"0003-000001\",\"event\":\"offered\",\"seat\":\"a\"}\n");
    std::fs::write(&path, data).unwrap();
    let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
    h.close();
    assert_eq!(rec.boot, 11, "the boot line of 10 is in the file");
    // A long last line (over the read chunk) is found whole.
    let long = format!(
        "{{\"time\":\"2026-11-22T10:00:04.000Z\",\"case\":\"0042-000001\",\"event\":\"note\",\"text\":\"{}\",\"by\":\"x\"}}\n",
        "x".repeat(200_000)
    );
    std::fs::remove_file(sibling(&path, ".boot")).unwrap();
    let mut data = std::fs::read(&path).unwrap();
    data.extend_from_slice(long.as_bytes());
    data.extend_from_slice(&long.as_bytes()[..150_000]);
    std::fs::write(&path, data).unwrap();
    let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
    h.close();
    assert_eq!((rec.boot, rec.torn_bytes), (43, 150_000));
}

#[test]
fn caller_numbers_are_searched_in_one_form() {
    use crate::caselog::number_key;
    for n in [
        "sip:+628123456789@telco",
        "<sip:08123456789@10.0.0.1;user=phone>",
        "0812-3456-789",
        "628123456789",
        "0062 812 3456 789",
        "tel:+628123456789",
    ] {
        assert_eq!(number_key(n), "+628123456789", "{n}");
    }
    assert_eq!(number_key("sip:112@c"), "112");
    assert_eq!(number_key("sip:anonymous@anonymous.invalid"), "anonymous");
    assert_eq!(number_key("+1 (555) 010-9999"), "+15550109999");
}
