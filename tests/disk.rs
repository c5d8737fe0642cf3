//! A full disk under the case log, against the real binary: the journal
//! lives on a small tmpfs the test mounts and fills. Calls go on with 0
//! failed, the alarm is raised (log and /metrics), the records are kept in
//! memory and all written when space returns; with a buffer too small for
//! the outage, the records that could not be kept are named in a `lost`
//! record as soon as writing works again, and counted in /metrics.
//!
//! Needs to mount a tmpfs (root, as on the CI machine); elsewhere it says
//! so and does nothing.

mod common;
use common::console::*;
use common::*;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    /// Fills what is left with one file.
    fn fill(&self) -> PathBuf {
        let p = self.0.join("filler");
        let mut f = std::fs::File::create(&p).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        let df = Command::new("df").arg(&self.0).output().unwrap();
        eprintln!(
            "filled {} bytes: {}",
            std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0),
            String::from_utf8_lossy(&df.stdout)
        );
        p
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn metric(port: u16, name: &str) -> Option<f64> {
    let m = Api::new(port).get("/metrics");
    m.text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

fn journal(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// An engine whose journal is on a fresh tmpfs (None: cannot mount).
fn engine_on_tmpfs(buffer_records: u64) -> Option<(Engine, u16, Tmpfs, PathBuf)> {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("disk"), "512k") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return None;
    };
    let cases = fs.0.join("cases.jsonl");
    let port = free_port();
    let rest = format!(
        "[store]\npath = \"{}\"\n{}",
        dir.path().join("cases.sqlite").display(),
        console_config(port, dir.path(), "")
    );
    let caselog = format!("buffer_records = {buffer_records}\n",);
    let e = Engine::start_with(dir, "retry_s = 30", &caselog, &rest);
    // The engine writes where the test config says; point it at the tmpfs.
    Some((e, port, fs, cases))
}

/// Calls, answered by op1, until `until` says enough (at least `min`, at
/// most 40: the journal's last page has a few KB of room before the full
/// disk refuses a write). Every one must go through. Returns how many.
fn calls_until(e: &Engine, seat_port: u16, min: u32, until: impl Fn() -> bool) -> u32 {
    let mut n = 0;
    while n < min || (!until() && n < 40) {
        let seat = Seat::start(e, "seat_answer.xml", seat_port, 1, &["-d", "50"]);
        let r = sipp(
            e,
            "trunk_call.xml",
            &["-s", "112", "-m", "1", "-d", "50"],
            Duration::from_secs(20),
        );
        assert!(
            r.ok,
            "every call goes on while the disk is full: {}",
            r.output
        );
        assert!(seat.finish(Duration::from_secs(10)));
        n += 1;
    }
    n
}

#[test]
fn a_full_disk_raises_the_alarm_loses_no_call_and_writes_everything_when_space_returns() {
    let Some((mut e, port, fs, cases)) = engine_on_tmpfs(100_000) else {
        return;
    };
    relocate(&mut e, &cases);
    let p = free_port();
    register_seat(&e, "op1", p);
    let filler = fs.fill();
    let alarm = || metric(port, "siaga112_caselog_alarm") == Some(1.0);
    let made = calls_until(&e, p, 2, alarm);
    // Two more calls while it is raised.
    let made = made + calls_until(&e, p, 2, || true);
    assert!(
        alarm(),
        "the alarm is raised in /metrics after {made} calls"
    );
    assert!(metric(port, "siaga112_caselog_buffered").unwrap() > 0.0);
    assert!(e.log().contains("ALARM: case log cannot write"));
    let stuck = journal(&cases).len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        journal(&cases).len(),
        stuck,
        "nothing more reaches the full disk"
    );
    // Space returns.
    std::fs::remove_file(filler).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let j = journal(&cases);
        if j.iter().filter(|r| r["event"] == "ended").count() == made as usize {
            break;
        }
        assert!(Instant::now() < end, "the kept records are written");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(e.wait_log("case log writing again", Duration::from_secs(3)));
    assert_eq!(metric(port, "siaga112_caselog_alarm"), Some(0.0));
    assert_eq!(metric(port, "siaga112_caselog_lost_total"), Some(0.0));
    let j = journal(&cases);
    for kind in ["opened", "queued", "offered", "answered", "ended"] {
        assert_eq!(
            j.iter().filter(|r| r["event"] == kind).count(),
            made as usize,
            "{kind}: every call's"
        );
    }
    assert!(!j.iter().any(|r| r["event"] == "lost"));
}

#[test]
fn a_buffer_too_small_for_the_outage_names_every_record_it_lost() {
    let Some((mut e, port, fs, cases)) = engine_on_tmpfs(5) else {
        return;
    };
    relocate(&mut e, &cases);
    let p = free_port();
    register_seat(&e, "op1", p);
    let filler = fs.fill();
    let lost_any = || metric(port, "siaga112_caselog_lost_total").is_some_and(|l| l > 0.0);
    let made = calls_until(&e, p, 2, lost_any);
    let end = Instant::now() + Duration::from_secs(5);
    let lost = loop {
        if let Some(l) = metric(port, "siaga112_caselog_lost_total").filter(|l| *l > 0.0) {
            break l;
        }
        assert!(Instant::now() < end, "records lost are counted");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(e.log().contains("ALARM: case log buffer full"));
    std::fs::remove_file(filler).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    let rec = loop {
        if let Some(r) = journal(&cases).into_iter().find(|r| r["event"] == "lost") {
            break r;
        }
        assert!(Instant::now() < end, "a lost record once writing works");
        std::thread::sleep(Duration::from_millis(100));
    };
    let lost_now = metric(port, "siaga112_caselog_lost_total").unwrap();
    assert!(lost_now >= lost);
    let named = rec["records"].as_array().unwrap();
    assert_eq!(rec["count"].as_f64(), Some(lost_now), "{rec}");
    assert_eq!(named.len() as f64, lost_now);
    assert!(named
        .iter()
        .all(|n| n["event"].is_string() && n["time"].is_string()));
    // Every record is either in the journal or named as lost: nothing
    // silently missing. Each call's 5 case records, counted.
    let j = journal(&cases);
    let written = j
        .iter()
        .filter(|r| r["case"].is_string() && r["event"] != "lost")
        .count();
    let lost_case = named.iter().filter(|n| n["case"].is_string()).count();
    let ended = j.iter().filter(|r| r["event"] == "ended").count()
        + named.iter().filter(|n| n["event"] == "ended").count();
    assert_eq!(ended, made as usize, "every call's end written or named");
    assert!(
        written + lost_case >= 5 * made as usize,
        "{written} written + {lost_case} lost"
    );
}

/// Points the running engine's journal at the tmpfs: restart it with the
/// config's `[caselog] path` changed.
fn relocate(e: &mut Engine, to: &Path) {
    let cfg = std::fs::read_to_string(&e.config).unwrap();
    let old = e.cases_path();
    let cfg = cfg.replacen(
        &format!("path = \"{}\"", old.display()),
        &format!("path = \"{}\"", to.display()),
        1,
    );
    std::fs::write(&e.config, cfg).unwrap();
    e.kill_and_restart();
}
