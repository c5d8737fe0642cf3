//! SIPVicious' `svcrack` (Debian's sipvicious, loopback only) guessing a
//! seat's password against the real binary: without a ban it finds the
//! password; with `[security] ban_after = 10` the source is banned after
//! ten failures, the password is not found, and the guesses the engine
//! checks (failed digest attempts in `/metrics`) stay at a few a minute.
//! Both runs report guesses per minute.

mod common;
use common::console::*;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// An engine whose trunk is not on 127.0.0.1 (svcrack's address is a
/// stranger's), with /metrics on the console port and `security` lines.
fn engine(security: &str) -> (Engine, u16) {
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let rest = console_config(http, dir.path(), "")
        .replace("peers = [\"127.0.0.1/32\"]", "peers = [\"127.0.0.2/32\"]")
        + &format!("\n[security]\n{security}\n");
    (Engine::start_in(dir, "", &rest), http)
}

fn metric(http: u16, name: &str) -> f64 {
    let page = Api::new(http).get("/metrics").text;
    page.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A dictionary: `n` wrong passwords with the right one at `at`.
fn dictionary(dir: &std::path::Path, n: usize, at: usize) -> std::path::PathBuf {
    let mut words: Vec<String> = (0..n).map(|i| format!("guess{i:04}")).collect();
    words.insert(at, "secret1".into());
    let p = dir.join("dict.txt");
    std::fs::write(&p, words.join("\n") + "\n").unwrap();
    p
}

/// One svcrack run for op1; true when it printed the password.
fn svcrack(e: &Engine, dict: &std::path::Path, max_s: u32) -> (bool, String) {
    let out = Command::new("timeout")
        .arg(format!("{}", max_s + 30))
        .arg("svcrack")
        .args(["-u", "op1", "-d"])
        .arg(dict)
        .args(["-b", "127.0.0.1", "-x", "127.0.0.1", "-p"])
        .arg(e.port.to_string())
        .args(["--maximumtime", &max_s.to_string(), "127.0.0.1"])
        .output()
        .expect("run svcrack");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (text.contains("secret1"), text)
}

#[test]
fn svcrack_finds_nothing_once_banned_and_slows_to_a_few_guesses_a_minute() {
    require("svcrack");
    let tmp = tempfile::tempdir().unwrap();
    // As before [security]: no ban (a threshold never reached), no limit.
    let (open, http) = engine("ban_after = 1000000\nregister_rate = 0");
    let dict = dictionary(tmp.path(), 300, 150);
    let started = Instant::now();
    let (found, out) = svcrack(&open, &dict, 5);
    let secs = started.elapsed().as_secs_f64();
    let failures = metric(http, "siaga112_security_auth_failures_total");
    let page = Api::new(http).get("/metrics").text;
    let sec: Vec<&str> = page
        .lines()
        .filter(|l| l.contains("security") && !l.starts_with('#'))
        .collect();
    assert!(
        found,
        "without a ban svcrack finds the password:\n{out}\n{sec:#?}\n{}",
        open.log()
    );
    let before = failures / secs * 60.0;
    println!("no ban: {failures} failed guesses in {secs:.1} s = {before:.0}/min, password found");
    drop(open);

    // The defaults: REGISTER at 20/s per source, a ban after ten failures
    // for 600 s.
    let (e, http) = engine("ban_after = 10\nban_s = 600");
    let started = Instant::now();
    let mut runs = 0;
    while started.elapsed() < Duration::from_secs(60) {
        let (found, out) = svcrack(&e, &dict, 5);
        assert!(
            !found,
            "the ban let svcrack find the password:\n{out}\n{}",
            e.log()
        );
        runs += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let failures = metric(http, "siaga112_security_auth_failures_total");
    let drops = metric(http, "siaga112_security_banned_drops_total");
    let after = failures / secs * 60.0;
    println!(
        "ban_after 10: {failures} failed guesses in {secs:.1} s ({runs} svcrack runs) = {after:.1}/min; {drops} messages dropped while banned"
    );
    assert!(failures <= 12.0, "guesses checked: {failures}");
    assert!(drops > 0.0);
    assert!(
        e.log()
            .contains("security: ban source=127.0.0.1 user=op1 failures=10 for=600s"),
        "a fail2ban-readable line:\n{}",
        e.log()
    );
    // The seat itself still registers from elsewhere? Not from the banned
    // address: that is the point. And the trunk's calls are untouched (the
    // trunk is on 127.0.0.2, never banned; see tests/guessing.rs).
}
