//! SIGKILL at random moments under load (calls, registrations, console
//! actions), then a restart, again and again on the same journal. After
//! each: the journal parses (a torn last line set aside, never merged),
//! every record the engine had reported durable is there, every console
//! action it answered 200 is there, no case id repeats, and the engine
//! answers again soon after it starts.
//!
//! `cargo test --test crash` runs 3 trials; `scripts/crash-trials.sh`
//! runs 100 (`CRASH_TRIALS`) and prints the figures.

mod common;
use common::console::*;
use common::*;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Time until the engine answers an OPTIONS.
fn answers_within(e: &Engine, limit: Duration) -> Option<Duration> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let me = s.local_addr().unwrap();
    let t = Instant::now();
    let mut n = 0;
    while t.elapsed() < limit {
        n += 1;
        let msg = format!(
            "OPTIONS sip:ping@{e} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-crash-{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:probe@{me}>;tag=p{n}\r\nTo: <sip:ping@{e}>\r\n\
             Call-ID: crash-probe-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            e = e.target()
        );
        let _ = s.send_to(msg.as_bytes(), e.target());
        let mut buf = [0u8; 4096];
        if let Ok((len, _)) = s.recv_from(&mut buf) {
            if buf[..len].starts_with(b"SIP/2.0 200") {
                return Some(t.elapsed());
            }
        }
    }
    None
}

struct Figures {
    trials: u32,
    records_lost: u64,
    acks_lost: u64,
    acked: u64,
    durable: u64,
    restart_ms: Vec<u64>,
    torn: u32,
    /// Recordings the journal names, each checked (file there, size and SHA-256 right).
    recordings: usize,
    /// Of them, repaired or named at a restart after a kill.
    recovered: usize,
    /// WAV files in the recordings folder no `recorded` record names (after
    /// the restart, which names those the kill left unnamed).
    unnamed: usize,
}

fn trials(n: u32, seed: u64) -> Figures {
    let (mut e, port) = console_engine("");
    let mut rng = seed;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut f = Figures {
        trials: n,
        records_lost: 0,
        acks_lost: 0,
        acked: 0,
        durable: 0,
        restart_ms: Vec::new(),
        torn: 0,
        recordings: 0,
        recovered: 0,
        unnamed: 0,
    };
    for trial in 0..n {
        let p = free_port();
        register_seat(&e, "op1", p);
        let seat = Seat::start(&e, "seat_answer.xml", p, 1000, &["-d", "100"]);
        let ms = 300 + next() % 1700;
        let target = e.target();
        let calls = std::thread::spawn(move || {
            // Enough calls for the trial; SIPp gives up soon after the kill.
            let m = (40 * (ms / 1000 + 1)).to_string();
            sipp_to(
                &target,
                "trunk_call.xml",
                &["-s", "112", "-m", &m, "-r", "40", "-d", "150"],
                Duration::from_secs(ms / 1000 + 2),
            )
        });
        // A supervisor pauses and unpauses op2 as fast as the console takes
        // it: each 200 is a seat record the engine said is on disk.
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let actions = {
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || {
                // The console goes away with the engine mid-request: the
                // client's panic ("the console answers") ends this thread.
                let sup = Api::signed_in(port, "sup", SUP_PASSWORD);
                // op2 starts logged out: unpausing logs it in.
                let mut paused = true;
                while !stop.load(Ordering::Relaxed) {
                    let r = if paused {
                        sup.post("/api/seats/op2/unpause", None)
                    } else {
                        sup.post("/api/seats/op2/pause", Some(json!({"reason": "meal"})))
                    };
                    if r.status == 200 {
                        acked.fetch_add(1, Ordering::Relaxed);
                        paused = !paused;
                    } else if r.status == 0 {
                        break;
                    }
                }
            })
        };
        // Register op3 again, too.
        std::thread::sleep(Duration::from_millis(ms / 2));
        register_seat(&e, "op3", free_port());
        std::thread::sleep(Duration::from_millis(ms / 2));
        // SIGKILL: nothing is flushed.
        let journal_before = std::fs::metadata(e.cases_path())
            .map(|m| m.len())
            .unwrap_or(0);
        e.kill();
        let log = e.log();
        stop.store(true, Ordering::Relaxed);
        let _ = actions.join();
        let acked = acked.load(Ordering::Relaxed);
        drop(seat);
        let _ = calls.join();
        let durable = reported_durable(&log).unwrap_or(0);

        // Restart on the same journal.
        let t = Instant::now();
        e.kill_and_restart();
        let up = answers_within(&e, Duration::from_secs(5));
        let restart = t.elapsed();
        assert!(up.is_some(), "trial {trial}: the engine answers again");
        f.restart_ms.push(restart.as_millis() as u64);
        if e.log().contains("torn last line") {
            f.torn += 1;
        }
        assert!(journal_before > 0);

        // The journal parses, line by line.
        let text = std::fs::read_to_string(e.cases_path()).unwrap();
        let recs: Vec<Value> = text
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|err| panic!("trial {trial}: {l:?}: {err}"))
            })
            .collect();
        // This trial's run: the records between the last two boot lines.
        let boots: Vec<usize> = recs
            .iter()
            .enumerate()
            .filter(|(_, r)| r["event"] == "boot")
            .map(|(i, _)| i)
            .collect();
        let run = &recs[boots[boots.len() - 2] + 1..boots[boots.len() - 1]];
        let written = run.len() as u64;
        f.records_lost += durable.saturating_sub(written);
        let seat_recs = run
            .iter()
            .filter(|r| r["event"] == "seat" && r["seat"] == "op2")
            .count() as u64;
        f.acks_lost += acked.saturating_sub(seat_recs);
        f.acked += acked;
        f.durable += durable;
        // No case id given twice, over every run so far.
        let mut ids = HashSet::new();
        for r in recs.iter().filter(|r| r["event"] == "opened") {
            let id = r["case"].as_str().unwrap();
            assert!(
                ids.insert(id.to_string()),
                "trial {trial}: case {id} opened twice"
            );
        }
        // Every recording the journal names is on disk, whole: the size and
        // hash it gives (a kill mid-call leaves a file the restart repairs).
        let named: Vec<&Value> = recs.iter().filter(|r| r["event"] == "recorded").collect();
        let mut paths = HashSet::new();
        for r in &named {
            let path = r["path"].as_str().unwrap();
            let data = std::fs::read(path)
                .unwrap_or_else(|err| panic!("trial {trial}: recording {path}: {err}"));
            assert_eq!(
                data.len() as u64,
                r["bytes"].as_u64().unwrap(),
                "trial {trial}: {path}"
            );
            let sha = sha256_hex(&data);
            assert_eq!(sha, r["sha256"].as_str().unwrap(), "trial {trial}: {path}");
            paths.insert(std::path::PathBuf::from(path));
        }
        f.recordings = named.len();
        f.recovered = named.iter().filter(|r| r["recovered"] == true).count();
        let left: Vec<_> = wavs(&e.dir.path().join("recordings"))
            .into_iter()
            .filter(|p| !paths.contains(p))
            .collect();
        if !left.is_empty() {
            eprintln!("trial {trial}: recordings no record names: {left:?}");
        }
        f.unnamed = left.len();
        eprintln!(
            "trial {trial}: killed after {ms} ms; durable {durable}, written {written}; console acks {acked}, op2 records {seat_recs}; up again in {} ms",
            restart.as_millis()
        );
    }
    f
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every `.wav` under `dir`.
fn wavs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(wavs(&p));
        } else if p.extension().is_some_and(|x| x == "wav") {
            out.push(p);
        }
    }
    out
}

#[test]
fn sigkill_under_load_loses_nothing_acknowledged() {
    let n: u32 = std::env::var("CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let f = trials(n, 0x5151_0112_u64 ^ u64::from(std::process::id()));
    let mut r = f.restart_ms.clone();
    r.sort_unstable();
    println!(
        "crash trials: {} trials; records reported durable {} (lost {}); console actions acknowledged {} (lost {}); torn last lines set aside {}; restart to answering p50 {} ms, max {} ms; recordings named {} (of them named or repaired at a restart after a kill: {}), each checked whole; WAV files no record names {}",
        f.trials,
        f.durable,
        f.records_lost,
        f.acked,
        f.acks_lost,
        f.torn,
        r[r.len() / 2],
        r[r.len() - 1],
        f.recordings,
        f.recovered,
        f.unnamed
    );
    assert_eq!(
        f.records_lost, 0,
        "records the engine had said were durable"
    );
    assert_eq!(f.acks_lost, 0, "console actions answered 200");
    assert_eq!(
        f.unnamed, 0,
        "every recording on disk is named by a recorded record after the restart"
    );
}
