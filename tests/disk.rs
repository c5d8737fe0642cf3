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
    let (e, port) = engine_in(dir, buffer_records);
    Some((e, port, fs, cases))
}

/// The engine with the console, its store beside it in `dir` and
/// `buffer_records`; the tests then point its journal at the small disk
/// ([`relocate`]).
fn engine_in(dir: tempfile::TempDir, buffer_records: u64) -> (Engine, u16) {
    let port = free_port();
    let rest = format!(
        "[store]\npath = \"{}\"\n{}",
        dir.path().join("cases.sqlite").display(),
        console_config(port, dir.path(), "")
    );
    let caselog = format!("buffer_records = {buffer_records}\n");
    (
        Engine::start_with(dir, "retry_s = 30", &caselog, &rest),
        port,
    )
}

/// Waits until the journal holds `made` calls' ends.
fn wait_written(cases: &Path, made: usize, within: Duration) {
    let end = Instant::now() + within;
    while journal(cases)
        .iter()
        .filter(|r| r["event"] == "ended")
        .count()
        < made
    {
        assert!(Instant::now() < end, "the kept records are written");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every call's five records are in the journal, and no `lost` record.
fn assert_every_call_written(cases: &Path, made: usize) {
    let j = journal(cases);
    for kind in ["opened", "queued", "offered", "answered", "ended"] {
        assert_eq!(
            j.iter().filter(|r| r["event"] == kind).count(),
            made,
            "{kind}: every call's"
        );
    }
    assert!(!j.iter().any(|r| r["event"] == "lost"));
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
    wait_written(&cases, made as usize, Duration::from_secs(5));
    assert!(e.wait_log("case log writing again", Duration::from_secs(3)));
    assert_eq!(metric(port, "siaga112_caselog_alarm"), Some(0.0));
    assert_eq!(metric(port, "siaga112_caselog_lost_total"), Some(0.0));
    assert_every_call_written(&cases, made as usize);
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

/// An ext4 filesystem in a file, loop-mounted: one that can be frozen
/// (`fsfreeze`), which makes every write and sync on it wait, as a stalled
/// disk does.
struct Ext4(PathBuf);

impl Ext4 {
    fn mount(dir: &Path) -> Option<Ext4> {
        let img = dir.join("disk.img");
        let at = dir.join("ext4");
        std::fs::create_dir_all(&at).unwrap();
        let made = std::fs::File::create(&img)
            .and_then(|f| f.set_len(32 << 20))
            .is_ok()
            && Command::new("mkfs.ext4")
                .args(["-q", "-F"])
                .arg(&img)
                .status()
                .is_ok_and(|s| s.success());
        let ok = made
            && Command::new("mount")
                .args(["-o", "loop"])
                .arg(&img)
                .arg(&at)
                .status()
                .is_ok_and(|s| s.success());
        ok.then_some(Ext4(at))
    }

    /// Freezes it until the guard is dropped (or thawed).
    fn freeze(&self) -> Frozen {
        let ok = Command::new("fsfreeze")
            .arg("--freeze")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "fsfreeze --freeze {}", self.0.display());
        Frozen(Some(self.0.clone()))
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = Command::new("fsfreeze")
            .arg("--unfreeze")
            .arg(&self.0)
            .status();
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A frozen filesystem; thawed when dropped, so that a failing test never
/// leaves the engine stuck in a write it cannot be killed out of.
struct Frozen(Option<PathBuf>);

impl Frozen {
    fn thaw(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = Command::new("fsfreeze").arg("--unfreeze").arg(&p).status();
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        self.thaw();
    }
}

/// An engine whose journal is on a fresh loop-mounted ext4 (None: cannot).
fn engine_on_ext4(buffer_records: u64) -> Option<(Engine, u16, Ext4, PathBuf)> {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Ext4::mount(dir.path()) else {
        eprintln!("SKIPPED: cannot loop-mount an ext4 image here (needs root)");
        return None;
    };
    let cases = fs.0.join("cases.jsonl");
    let (e, port) = engine_in(dir, buffer_records);
    Some((e, port, fs, cases))
}

/// Calls for at least `at_least` (each answered by op1); returns how many.
fn calls_for(e: &Engine, seat_port: u16, at_least: Duration) -> u32 {
    let end = Instant::now() + at_least;
    let mut n = 0;
    while n == 0 || Instant::now() < end {
        n += calls_until(e, seat_port, 1, || true);
    }
    n
}

#[test]
fn a_stalled_disk_raises_the_alarm_loses_no_call_and_writes_everything_when_it_answers() {
    let Some((mut e, port, fs, cases)) = engine_on_ext4(100_000) else {
        return;
    };
    relocate(&mut e, &cases);
    let p = free_port();
    register_seat(&e, "op1", p);
    let before = calls_until(&e, p, 1, || true);
    let mut frozen = fs.freeze();
    // Longer than the stall alarm's 2 s; every call goes through meanwhile.
    let during = calls_for(&e, p, Duration::from_secs(4));
    assert!(
        e.wait_log("ALARM: case log disk stalled", Duration::from_secs(3)),
        "{}",
        e.log()
    );
    assert_eq!(metric(port, "siaga112_caselog_alarm"), Some(1.0));
    assert!(metric(port, "siaga112_caselog_buffered").unwrap() > 0.0);
    frozen.thaw();
    let made = (before + during) as usize;
    wait_written(&cases, made, Duration::from_secs(10));
    assert!(e.wait_log(
        "case log disk responding again after a stall",
        Duration::from_secs(3)
    ));
    let end = Instant::now() + Duration::from_secs(3);
    while metric(port, "siaga112_caselog_alarm") != Some(0.0) {
        assert!(Instant::now() < end, "the alarm ends");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(metric(port, "siaga112_caselog_lost_total"), Some(0.0));
    assert_every_call_written(&cases, made);
}

#[test]
fn a_stall_longer_than_the_buffer_names_every_record_it_lost() {
    let Some((mut e, port, fs, cases)) = engine_on_ext4(5) else {
        return;
    };
    relocate(&mut e, &cases);
    let p = free_port();
    register_seat(&e, "op1", p);
    let mut frozen = fs.freeze();
    let made = calls_for(&e, p, Duration::from_secs(5)) as usize;
    let end = Instant::now() + Duration::from_secs(5);
    while metric(port, "siaga112_caselog_lost_total").unwrap_or(0.0) == 0.0 {
        assert!(Instant::now() < end, "records lost are counted");
        made_one_more(&e, p);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(e
        .log()
        .contains("ALARM: case log buffer full while the disk stalls"));
    frozen.thaw();
    let end = Instant::now() + Duration::from_secs(10);
    let rec = loop {
        if let Some(r) = journal(&cases).into_iter().find(|r| r["event"] == "lost") {
            break r;
        }
        assert!(Instant::now() < end, "a lost record once the disk answers");
        std::thread::sleep(Duration::from_millis(100));
    };
    let lost = metric(port, "siaga112_caselog_lost_total").unwrap();
    let named = rec["records"].as_array().unwrap();
    let log: String = e
        .log()
        .lines()
        .filter(|l| l.contains("ALARM") || l.contains("case log") || l.contains("lost"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(rec["count"].as_f64(), Some(lost), "{log}");
    assert_eq!(named.len() as f64, lost);
    let j = journal(&cases);
    let ended = j.iter().filter(|r| r["event"] == "ended").count()
        + named.iter().filter(|n| n["event"] == "ended").count();
    assert!(
        ended >= made,
        "every call's end written or named: {ended} of {made}"
    );
}

fn made_one_more(e: &Engine, p: u16) {
    calls_until(e, p, 1, || true);
}
