//! Issue 17 end to end: the media plane with real peers. A SIPp trunk plays
//! G.711 RTP from a pcap, seats are baresip (its 440 Hz tone source) or
//! SIPp with their media going to a listener of the test; the engine
//! relays, records, announces, hears digits and silence, and hangs up dead
//! calls.

mod common;
use common::rtp::*;
use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn config(media_extra: &str) -> String {
    format!(
        r#"{}{media_extra}
[[trunk]]
name = "telco-a"
peers = ["127.0.0.1/32"]

[[route]]
match = ["112"]
queue = "emergency"

[[queue]]
name = "emergency"
ring_timeout_s = 15
max_wait_s = 120
{SEATS}"#,
        media_ports()
    )
}

/// The media port range the engine was given.
fn range_of(e: &Engine) -> (u16, u16) {
    let text = std::fs::read_to_string(&e.config).unwrap();
    let line = text.lines().find(|l| l.starts_with("ports = ")).unwrap();
    let v = line.split('"').nth(1).unwrap();
    let (a, b) = v.split_once('-').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

/// Writes `packets` as a pcap and `template` with its path into the engine's
/// folder; returns the scenario's path.
fn scenario(e: &Engine, template: &str, packets: &[(Duration, Vec<u8>)]) -> PathBuf {
    let pcap = e.dir.path().join(format!("{template}.pcap"));
    write_pcap(&pcap, packets);
    let text = std::fs::read_to_string(sipp_dir().join(template))
        .unwrap()
        .replace("@PCAP@", &pcap.display().to_string());
    let path = e.dir.path().join(template);
    std::fs::write(&path, text).unwrap();
    path
}

/// A SIPp trunk running `scenario` with its media port; its log file.
fn trunk(
    e: &Engine,
    scenario: &std::path::Path,
    rtp_port: Option<u16>,
    extra: &[&str],
) -> (SippRun, String) {
    let mp = free_port().to_string();
    let rtp = rtp_port.map_or(mp.clone(), |p| p.to_string());
    let log = e.dir.path().join(format!("trunk-{mp}.log"));
    let mut args = vec![
        "-s",
        "112",
        "-m",
        "1",
        "-mp",
        &mp,
        "-key",
        "rtp_port",
        &rtp,
        "-trace_logs",
    ];
    let logs = log.display().to_string();
    args.extend(["-log_file", &logs]);
    args.extend_from_slice(extra);
    let r = sipp_to(
        &e.target(),
        &scenario.display().to_string(),
        &args,
        Duration::from_secs(30),
    );
    (r, std::fs::read_to_string(&log).unwrap_or_default())
}

fn wait_for(e: &Engine, what: impl Fn(&[Value]) -> bool, secs: u64) -> Vec<Value> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = records(e);
        if what(&r) || Instant::now() > end {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn port_logged(log: &str, tag: &str) -> u16 {
    log.split(tag)
        .nth(1)
        .and_then(|r| r.split("PORT ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no {tag} port in the SIPp log:\n{log}"))
}

#[test]
fn the_media_passes_through_the_relay_and_the_recording_holds_both_voices() {
    require("baresip");
    let e = Engine::start("", &config(""));
    let dir = baresip_dir(&e, "op1", "secret1", "");
    let mut phone = Command::new("timeout")
        .args(["40", "baresip", "-f"])
        .arg(&dir)
        .args(["-t", "20"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip");
    assert!(
        e.wait_log("seat registered seat=op1", Duration::from_secs(8)),
        "{}",
        e.log()
    );
    // The caller says 1,000 Hz for 4 s; baresip's tone source says 440 Hz.
    let s = scenario(&e, "trunk_media.xml", &tone(1000.0, 4.0, 0x1111, 0));
    let (r, log) = trunk(&e, &s, None, &["-d", "5000"]);
    stop(&mut phone);
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    // The SDP the trunk got names the engine's relay, not baresip.
    let (lo, hi) = range_of(&e);
    let port = port_logged(&log, "ANSWER");
    assert!(
        (lo..=hi).contains(&port),
        "answer port {port} not in {lo}-{hi}"
    );
    let recs = wait_for(&e, |r| r.iter().any(|v| v["event"] == "recorded"), 10);
    let rec = recs
        .iter()
        .find(|v| v["event"] == "recorded")
        .unwrap_or_else(|| panic!("no recording: {recs:#?}\n{}", e.log()));
    let path = PathBuf::from(rec["path"].as_str().unwrap());
    assert_eq!(rec["sha256"].as_str().unwrap().len(), 64);
    let (left, right, spec) = wav_channels(&path);
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    assert!(rec["duration_ms"].as_u64().unwrap() >= 3000, "{rec}");
    // The middle two seconds: the caller's tone left, the seat's right.
    let mid = |v: &[i16]| v[v.len() / 4..v.len() * 3 / 4].to_vec();
    let (l, rr) = (mid(&left), mid(&right));
    assert!(
        dominant(&l, 1000.0) > 20.0,
        "left is the caller's 1 kHz: {}",
        dominant(&l, 1000.0)
    );
    assert!(
        dominant(&rr, 440.0) > 20.0,
        "right is the seat's 440 Hz: {}",
        dominant(&rr, 440.0)
    );
    assert!(
        dominant(&l, 440.0) < 1.0 && dominant(&rr, 1000.0) < 1.0,
        "no cross-talk"
    );
}

#[test]
fn a_waiting_caller_gets_183_and_the_prompt_paced_at_20_ms() {
    let e = Engine::start("", &config(""));
    let l = Listener::new();
    let s = scenario(&e, "trunk_prompt.xml", &[]);
    let (r, log) = trunk(&e, &s, Some(l.port), &["-d", "3000"]);
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    let (lo, hi) = range_of(&e);
    assert!(
        (lo..=hi).contains(&port_logged(&log, "EARLY")),
        "183 names the relay"
    );
    let got = l.packets();
    assert!(
        got.len() >= 120,
        "about 150 packets in 3 s, got {}",
        got.len()
    );
    let (_, from, first) = &got[0];
    assert!(
        (lo..=hi).contains(&from.port()),
        "from the relay's port: {from}"
    );
    assert_eq!(first[1] & 0x7f, PCMA, "in the caller's codec");
    let spans: Vec<f64> = got
        .windows(2)
        .map(|w| w[1].0.duration_since(w[0].0).as_secs_f64() * 1000.0)
        .collect();
    let mean = spans.iter().sum::<f64>() / spans.len() as f64;
    assert!(
        (19.0..21.0).contains(&mean),
        "paced every 20 ms: mean {mean:.2} ms"
    );
    // The prompt is speech, not silence.
    let loud = got
        .iter()
        .filter(|(_, _, p)| p[12..].iter().any(|b| *b != 0xd5 && *b != 0x55))
        .count();
    assert!(
        loud > got.len() / 2,
        "{loud} of {} packets carry sound",
        got.len()
    );
    let r = records(&e);
    assert!(r
        .iter()
        .any(|v| v["event"] == "ended" && v["reason"] == "abandoned"));
}

/// A SIPp seat answering with its media to `listener`.
fn media_seat(e: &Engine, user: &str, l: &Listener) -> Seat {
    let port = free_port();
    register_seat(e, user, port);
    let rtp = l.port.to_string();
    Seat::start(e, "seat_media.xml", port, 1, &["-key", "rtp_port", &rtp])
}

#[test]
fn a_digit_from_the_caller_reaches_the_seat_and_the_case() {
    let e = Engine::start("", &config(""));
    let l = Listener::new();
    let seat = media_seat(&e, "op1", &l);
    let mut packets = tone(1000.0, 1.0, 0x2222, 0);
    packets.extend(digit(5, Duration::from_millis(1000), 50, 50 * 160, 0x2222));
    let s = scenario(&e, "trunk_media.xml", &packets);
    let (r, _) = trunk(&e, &s, None, &["-d", "2500"]);
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    assert!(seat.finish(Duration::from_secs(10)), "seat\n{}", e.log());
    let events: Vec<_> = l
        .packets()
        .into_iter()
        .filter(|(_, _, p)| p.len() >= 16 && p[1] & 0x7f == TELEPHONE_EVENT)
        .collect();
    assert_eq!(
        events.len(),
        6,
        "the six event packets are relayed to the seat"
    );
    assert_eq!(events[0].2[12], 5, "event 5");
    let recs = wait_for(&e, |r| r.iter().any(|v| v["event"] == "digit"), 5);
    let d: Vec<_> = recs.iter().filter(|v| v["event"] == "digit").collect();
    assert_eq!(d.len(), 1, "one digit, not six: {d:?}");
    assert_eq!(
        (d[0]["side"].as_str(), d[0]["digit"].as_str()),
        (Some("caller"), Some("5"))
    );
}

#[test]
fn a_silent_caller_is_suggested_silent() {
    let e = Engine::start("", &config("silent_after_s = 2\n"));
    let l = Listener::new();
    let seat = media_seat(&e, "op1", &l);
    let s = scenario(&e, "trunk_media.xml", &tone(0.0, 4.0, 0x3333, 0));
    let (r, _) = trunk(&e, &s, None, &["-d", "4000"]);
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    assert!(seat.finish(Duration::from_secs(10)));
    let recs = wait_for(&e, |r| r.iter().any(|v| v["event"] == "suggested"), 5);
    assert!(
        recs.iter()
            .any(|v| v["event"] == "suggested" && v["mark"] == "silent"),
        "{recs:#?}"
    );
    assert!(
        !recs
            .iter()
            .any(|v| v["event"] == "ended" && v["reason"] != "completed"),
        "never hung up for it"
    );
    // A caller who speaks is not.
    let e2 = Engine::start("", &config("silent_after_s = 2\n"));
    let l2 = Listener::new();
    let seat2 = media_seat(&e2, "op1", &l2);
    let s2 = scenario(&e2, "trunk_media.xml", &tone(700.0, 4.0, 0x3334, 0));
    let (r2, _) = trunk(&e2, &s2, None, &["-d", "4000"]);
    assert!(r2.ok);
    assert!(seat2.finish(Duration::from_secs(10)));
    wait_for(&e2, |r| r.iter().any(|v| v["event"] == "ended"), 5);
    assert!(!records(&e2).iter().any(|v| v["event"] == "suggested"));
}

#[test]
fn a_call_whose_media_stops_is_hung_up_on_both_sides() {
    let e = Engine::start("", &config("timeout_s = 2\n"));
    let l = Listener::new();
    let seat = media_seat(&e, "op1", &l);
    let s = scenario(&e, "trunk_media_timeout.xml", &tone(1000.0, 1.0, 0x4444, 0));
    let (r, _) = trunk(&e, &s, None, &[]);
    assert!(
        r.ok,
        "the trunk got the engine's BYE: {}\n{}",
        r.output,
        e.log()
    );
    assert!(
        seat.finish(Duration::from_secs(10)),
        "so did the seat\n{}",
        e.log()
    );
    let recs = wait_for(&e, |r| r.iter().any(|v| v["event"] == "ended"), 5);
    let end = recs.iter().find(|v| v["event"] == "ended").unwrap();
    assert_eq!(end["reason"], "media-timeout", "{end}");
}

#[test]
fn hold_and_back_keeps_the_media_flowing() {
    let e = Engine::start("", &config(""));
    let l = Listener::new();
    let seat = media_seat(&e, "op1", &l);
    let s = scenario(&e, "trunk_media_hold.xml", &tone(1000.0, 6.0, 0x5555, 0));
    let started = Instant::now();
    let (r, log) = trunk(&e, &s, None, &[]);
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    assert!(seat.finish(Duration::from_secs(10)), "seat\n{}", e.log());
    // The hold's answer, relayed from the seat, names our relay too.
    let (lo, hi) = range_of(&e);
    assert!(
        (lo..=hi).contains(&port_logged(&log, "HOLD ANSWER")),
        "{log}"
    );
    let got = l.packets();
    // Audio kept reaching the seat after the call came back from hold
    // (the second re-INVITE is at about 3 s).
    let late = got
        .iter()
        .filter(|(t, _, _)| t.duration_since(started) > Duration::from_millis(4000))
        .count();
    assert!(
        late > 40,
        "{late} packets reached the seat after the hold ended"
    );
    let seat_log = e.log();
    assert!(!seat_log.contains("media: cannot bind"), "{seat_log}");
}
