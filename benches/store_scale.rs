//! The query store at the scale of a large centre: a generated year of DKI
//! Jakarta's volume (650,000 calls, about 3 M records, ending today) as a
//! journal, loaded into the store; then the console's queries timed (a
//! day's cases, a caller's history, a month's report), the year's report
//! checked against a direct count of the generated records, and the real
//! engine started on that journal and store (time to "running").
//!
//! `cargo bench --bench store_scale -- [--calls N] [--keep DIR]`
//! (scripts/store-scale.sh runs the full year in release).

use siaga112::caselog::store::{day_range, CaseSearch, Reader, Store};
use siaga112::caselog::{format_time, Brief, CaseId, EndReason, Kind, Record, TicketStatus};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// xorshift64*: reproducible without a crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const CLASSES: [(&str, f64); 6] = [
    ("prank", 0.40),
    ("silent", 0.25),
    ("accidental", 0.10),
    ("information", 0.10),
    ("complaint", 0.03),
    ("emergency", 0.12),
];
const CATEGORIES: [(&str, &str); 6] = [
    ("kebakaran", "damkar"),
    ("kecelakaan", "dinkes"),
    ("medis", "dinkes"),
    ("kriminal", "polres"),
    ("banjir", "bpbd"),
    ("pohon-tumbang", "bpbd"),
];
/// Calls per hour of the day (relative), a centre's usual curve.
const HOURLY: [f64; 24] = [
    0.3, 0.2, 0.2, 0.2, 0.3, 0.5, 0.8, 1.0, 1.2, 1.3, 1.3, 1.3, 1.2, 1.2, 1.3, 1.4, 1.5, 1.6, 1.6,
    1.5, 1.3, 1.0, 0.7, 0.5,
];

#[derive(Default)]
struct Truth {
    records: u64,
    offered: u64,
    answered: u64,
    abandoned: u64,
    by_class: BTreeMap<String, u64>,
    tickets: u64,
    callers: Vec<String>,
}

fn write_year(path: &Path, calls: u64, end_ms: u64) -> std::io::Result<Truth> {
    let mut rng = Rng(0x5EED_0112);
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut t = Truth::default();
    let put = |w: &mut BufWriter<std::fs::File>, t: &mut Truth, r: Record| -> std::io::Result<()> {
        serde_json::to_writer(&mut *w, &r).map_err(std::io::Error::other)?;
        w.write_all(b"\n")?;
        t.records += 1;
        Ok(())
    };
    let days = 365u64;
    let start_ms = end_ms - days * 86_400_000;
    put(
        &mut w,
        &mut t,
        Record {
            time_ms: start_ms,
            case: None,
            kind: Kind::Boot { boot: 1 },
        },
    )?;
    // 200,000 callers; a few call again and again (the pranksters).
    let callers: Vec<String> = (0..200_000)
        .map(|i| format!("+62812{:07}", i * 37 % 10_000_000))
        .collect();
    let total_weight: f64 = HOURLY.iter().sum();
    let per_day = calls as f64 / days as f64;
    let mut seq = 0u64;
    let mut day_calls = Vec::new();
    for d in 0..days {
        let base = start_ms + d * 86_400_000;
        day_calls.clear();
        for (h, wgt) in HOURLY.iter().enumerate() {
            let n = (per_day * wgt / total_weight).round() as u64;
            for _ in 0..n {
                day_calls.push(base + h as u64 * 3_600_000 + rng.below(3_600_000));
            }
        }
        day_calls.sort_unstable();
        for &at in &day_calls {
            if t.offered >= calls {
                break;
            }
            seq += 1;
            let case = CaseId::new(1, seq);
            let c = Some(case.clone());
            let caller = if rng.unit() < 0.3 {
                callers[rng.below(200) as usize].clone()
            } else {
                callers[rng.below(callers.len() as u64) as usize].clone()
            };
            t.offered += 1;
            put(
                &mut w,
                &mut t,
                Record {
                    time_ms: at,
                    case: c.clone(),
                    kind: Kind::Opened {
                        caller: format!("sip:{caller}@telco.example"),
                        called: "112".into(),
                        service: "112".into(),
                        trunk: "telco-a".into(),
                        from_seat: None,
                    },
                },
            )?;
            let wait = 2_000 + rng.below(18_000);
            let seat = format!("op{}", 1 + rng.below(40));
            if rng.unit() < 0.15 {
                t.abandoned += 1;
                put(
                    &mut w,
                    &mut t,
                    Record {
                        time_ms: at + wait,
                        case: c,
                        kind: Kind::Ended {
                            reason: EndReason::Abandoned,
                            wait_ms: wait,
                            talk_ms: 0,
                            seat: None,
                            queue: Some("emergency".into()),
                        },
                    },
                )?;
                continue;
            }
            t.answered += 1;
            let ans = at + wait;
            put(
                &mut w,
                &mut t,
                Record {
                    time_ms: ans,
                    case: c.clone(),
                    kind: Kind::Answered { seat: seat.clone() },
                },
            )?;
            let mut u = rng.unit();
            let class = CLASSES
                .iter()
                .find(|(_, p)| {
                    u -= p;
                    u < 0.0
                })
                .map_or("emergency", |(c, _)| c);
            *t.by_class.entry(class.to_string()).or_default() += 1;
            let (category, agency) = if class == "emergency" {
                let (c, a) = CATEGORIES[rng.below(CATEGORIES.len() as u64) as usize];
                (Some(c.to_string()), Some(a))
            } else {
                (None, None)
            };
            let talk = 20_000 + rng.below(160_000);
            put(
                &mut w,
                &mut t,
                Record {
                    time_ms: ans + 15_000,
                    case: c.clone(),
                    kind: Kind::Classified {
                        class: class.into(),
                        category: category.clone(),
                        by: seat.clone(),
                    },
                },
            )?;
            if let Some(agency) = agency {
                put(
                    &mut w,
                    &mut t,
                    Record {
                        time_ms: ans + 25_000,
                        case: c.clone(),
                        kind: Kind::Located {
                            address: Some(format!("Jl. Sudirman {}", rng.below(300))),
                            lat: Some(-6.2),
                            lon: Some(106.8),
                            source: "operator".into(),
                            by: Some(seat.clone()),
                            detail: None,
                        },
                    },
                )?;
                put(
                    &mut w,
                    &mut t,
                    Record {
                        time_ms: ans + 30_000,
                        case: c.clone(),
                        kind: Kind::Note {
                            text: "Asap dari lantai 3, dua orang terjebak".into(),
                            by: seat.clone(),
                        },
                    },
                )?;
                t.tickets += 1;
                let sent = ans + 30_000 + rng.below(60_000);
                for (i, st) in [
                    TicketStatus::Sent,
                    TicketStatus::Acknowledged,
                    TicketStatus::OnScene,
                    TicketStatus::Closed,
                ]
                .into_iter()
                .enumerate()
                {
                    put(
                        &mut w,
                        &mut t,
                        Record {
                            time_ms: sent + i as u64 * 300_000,
                            case: c.clone(),
                            kind: Kind::Ticket {
                                agency: agency.into(),
                                status: st,
                                by: if i == 0 { seat.clone() } else { agency.into() },
                                note: None,
                                brief: (i == 0).then(|| {
                                    Box::new(Brief {
                                        class: Some("emergency".into()),
                                        category: category.clone(),
                                        ..Brief::default()
                                    })
                                }),
                            },
                        },
                    )?;
                }
            }
            put(
                &mut w,
                &mut t,
                Record {
                    time_ms: ans + talk,
                    case: c.clone(),
                    kind: Kind::Ended {
                        reason: EndReason::Completed,
                        wait_ms: wait,
                        talk_ms: talk,
                        seat: Some(seat),
                        queue: Some("emergency".into()),
                    },
                },
            )?;
            if agency.is_some() {
                put(
                    &mut w,
                    &mut t,
                    Record {
                        time_ms: ans + 30_000 + 1_000_000,
                        case: c,
                        kind: Kind::Closed {},
                    },
                )?;
            }
        }
    }
    w.flush()?;
    t.callers = callers;
    Ok(t)
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

fn timed<T>(n: usize, mut f: impl FnMut(usize) -> T) -> (f64, f64) {
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        std::hint::black_box(f(i));
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    (pct(&mut ms, 0.5), pct(&mut ms, 0.99))
}

fn dir_size(p: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|s| {
            let mut x = p.as_os_str().to_owned();
            x.push(s);
            std::fs::metadata(x).ok().map(|m| m.len())
        })
        .sum()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    // `cargo bench` (all benches) runs a small year, the script the full
    // one; `cargo test --all-targets` (no `--bench`) a smoke run.
    let bench = args.iter().any(|a| a == "--bench");
    let calls: u64 = arg("--calls")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { 50_000 } else { 20_000 });
    let tmp = tempfile::tempdir().unwrap();
    let dir = arg("--keep").map_or_else(|| tmp.path().to_path_buf(), Into::into);
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("cases.jsonl");
    let store_path = dir.join("cases.sqlite");
    let _ = std::fs::remove_file(&store_path);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // The year ends an hour ago: today's cases are in it.
    let end = now - 3_600_000;

    let t = Instant::now();
    let truth = write_year(&journal, calls, end).unwrap();
    let jbytes = std::fs::metadata(&journal).unwrap().len();
    println!(
        "generated {} calls, {} records, journal {} MB in {:.1} s",
        truth.offered,
        truth.records,
        jbytes >> 20,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let mut store = Store::open(&store_path).unwrap();
    let c = store.catch_up(&journal).unwrap();
    let s = t.elapsed().as_secs_f64();
    println!(
        "ingest: {} records in {s:.1} s = {:.0} records/s (target > 50,000); store {} MB",
        c.records,
        c.records as f64 / s,
        dir_size(&store_path) >> 20
    );
    drop(store);

    let r = Reader::open(&store_path).unwrap();
    let off = 7;
    let today = format_time(now + off as u64 * 3_600_000)[..10].to_string();
    let mut rng = Rng(7);
    let (p50, p99) = timed(300, |_| {
        let back = rng.below(365) * 86_400_000;
        let d = format_time(now - back + off as u64 * 3_600_000)[..10].to_string();
        let (from_ms, to_ms) = day_range(&d, &d, off).unwrap();
        r.search(&CaseSearch {
            from_ms,
            to_ms,
            limit: 50,
            ..CaseSearch::default()
        })
        .unwrap()
    });
    println!("a day's cases (first 50): p50 {p50:.2} ms, p99 {p99:.2} ms (target p99 < 10 ms)");
    let (from_ms, to_ms) = day_range(&today, &today, off).unwrap();
    let (p50, p99) = timed(300, |_| {
        r.search(&CaseSearch {
            from_ms,
            to_ms,
            class: Some("emergency".into()),
            limit: 50,
            ..CaseSearch::default()
        })
        .unwrap()
    });
    println!("today's emergencies: p50 {p50:.2} ms, p99 {p99:.2} ms");
    let (p50, p99) = timed(1000, |i| {
        // Half the look-ups are of frequent callers (hundreds of cases).
        let n = if i % 2 == 0 {
            rng.below(200)
        } else {
            rng.below(200_000)
        } as usize;
        r.history(&truth.callers[n], 20).unwrap()
    });
    println!("a caller's history (20 newest + prank count): p50 {p50:.2} ms, p99 {p99:.2} ms (target p99 < 10 ms)");
    let (p50, p99) = timed(24, |i| {
        let back = (i as u64 % 11 + 1) * 30 * 86_400_000;
        let a = format_time(now - back)[..10].to_string();
        let b = format_time(now - back + 29 * 86_400_000)[..10].to_string();
        let (f, t) = day_range(&a, &b, off).unwrap();
        r.report(f, t, off).unwrap()
    });
    println!("a month's report: p50 {p50:.1} ms, p99 {p99:.1} ms (target < 200 ms)");

    // The year's report against the direct count.
    let first = format_time(end - 365 * 86_400_000 + off as u64 * 3_600_000)[..10].to_string();
    let t = Instant::now();
    let (f, to) = day_range(&first, &today, off).unwrap();
    let year = r.report(f, to, off).unwrap();
    println!(
        "the year's report: {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let ok = year.totals.offered == truth.offered
        && year.totals.answered == truth.answered
        && year.totals.abandoned == truth.abandoned
        && year.totals.by_class == truth.by_class
        && year.dispatch.tickets == truth.tickets;
    println!(
        "report vs direct count: offered {} / {}, answered {} / {}, abandoned {} / {}, tickets {} / {}, classes {}: {}",
        year.totals.offered,
        truth.offered,
        year.totals.answered,
        truth.answered,
        year.totals.abandoned,
        truth.abandoned,
        year.dispatch.tickets,
        truth.tickets,
        if year.totals.by_class == truth.by_class { "equal" } else { "DIFFER" },
        if ok { "MATCH" } else { "MISMATCH" }
    );
    drop(r);

    // The engine on that history: start to "running".
    let port = {
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        u.local_addr().unwrap().port()
    };
    let cfg = dir.join("siaga112.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:{port}\"]\nrealm = \"siaga112\"\n[caselog]\npath = \"{}\"\n[store]\npath = \"{}\"\n[recording]\ndir = \"{}\"\n[[trunk]]\nname = \"telco-a\"\npeers = [\"127.0.0.1/32\"]\n[[route]]\nmatch = [\"112\"]\nqueue = \"emergency\"\n[[queue]]\nname = \"emergency\"\n[[seat]]\nuser = \"op1\"\npassword = \"secret1\"\nqueues = [\"emergency\"]\n",
            journal.display(),
            store_path.display(),
            dir.join("rec").display()
        ),
    )
    .unwrap();
    for run in 0..2 {
        let t = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_siaga112"))
            .args(["run", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut state = String::new();
        let mut started = None;
        for l in lines.by_ref() {
            let Ok(l) = l else { break };
            if l.contains("state from the store") {
                state = l.clone();
            }
            if l.contains("siaga112 is running") {
                started = Some(t.elapsed());
                break;
            }
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait_timeout_or_kill(Duration::from_secs(10));
        match started {
            Some(d) => println!(
                "engine start-up with the year ({}): {:.0} ms (target < 1 s); {}",
                if run == 0 { "first" } else { "again" },
                d.as_secs_f64() * 1000.0,
                state
                    .split("state from the store")
                    .nth(1)
                    .unwrap_or("")
                    .trim()
            ),
            None => println!("engine did not start"),
        }
    }
    if !ok {
        std::process::exit(1);
    }
}

trait WaitTimeout {
    fn wait_timeout_or_kill(&mut self, d: Duration) -> std::io::Result<()>;
}
impl WaitTimeout for std::process::Child {
    fn wait_timeout_or_kill(&mut self, d: Duration) -> std::io::Result<()> {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill()?;
        self.wait().map(|_| ())
    }
}
