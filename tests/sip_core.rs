//! Issue 2 end to end: the real binary against SIPp, baresip and raw sockets.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn engine() -> Engine {
    Engine::start("", &seats_and_queue())
}

/// The seats of `common::SEATS` serve this queue.
fn seats_and_queue() -> String {
    format!("[[queue]]\nname = \"emergency\"\n{SEATS}")
}

#[test]
fn sipp_seat_registers_with_digest_over_udp_and_tcp() {
    let e = engine();
    let r = sipp(
        &e,
        "register.xml",
        &["-s", "op1", "-au", "op1", "-ap", "secret1", "-m", "1"],
        Duration::from_secs(10),
    );
    assert!(r.ok, "UDP register failed:\n{}\n{}", r.output, e.log());
    assert!(
        e.wait_log("seat registered seat=op1", Duration::from_secs(2)),
        "{}",
        e.log()
    );
    let r = sipp(
        &e,
        "register.xml",
        &[
            "-t", "t1", "-s", "op2", "-au", "op2", "-ap", "secret2", "-m", "1",
        ],
        Duration::from_secs(10),
    );
    assert!(r.ok, "TCP register failed:\n{}\n{}", r.output, e.log());
    assert!(
        e.wait_log("seat registered seat=op2", Duration::from_secs(2)),
        "{}",
        e.log()
    );
}

#[test]
fn sipp_wrong_password_is_forbidden() {
    let e = engine();
    let r = sipp(
        &e,
        "register_wrong_password.xml",
        &["-s", "op1", "-au", "op1", "-ap", "wrong", "-m", "1"],
        Duration::from_secs(10),
    );
    assert!(r.ok, "{}\n{}", r.output, e.log());
    // And the scenario that expects 200 fails with that password.
    let r = sipp(
        &e,
        "register.xml",
        &["-s", "op1", "-au", "op1", "-ap", "wrong", "-m", "1"],
        Duration::from_secs(5),
    );
    assert!(!r.ok, "a wrong password registered");
    assert!(!e.log().contains("seat registered"));
}

#[test]
fn sipp_options_over_udp_and_tcp() {
    let e = engine();
    for t in ["u1", "t1"] {
        let r = sipp(
            &e,
            "options.xml",
            &["-t", t, "-m", "5"],
            Duration::from_secs(10),
        );
        assert!(r.ok, "OPTIONS over {t}:\n{}\n{}", r.output, e.log());
    }
}

fn register_text(port: u16, branch: &str) -> String {
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n\
         From: <sip:op1@127.0.0.1>;tag=r1\r\nTo: <sip:op1@127.0.0.1>\r\nCall-ID: retrans-1\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:op1@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn a_retransmitted_register_is_answered_once() {
    let e = engine();
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let port = s.local_addr().unwrap().port();
    let msg = register_text(port, "z9hG4bKretrans1");
    s.send_to(msg.as_bytes(), e.addr()).unwrap();
    let first = udp_recv(&s).expect("a 401");
    s.send_to(msg.as_bytes(), e.addr()).unwrap();
    let second = udp_recv(&s).expect("the 401 again");
    assert!(first.starts_with("SIP/2.0 401"), "{first}");
    // The same bytes: same To tag and nonce, so the TU saw it only once.
    assert_eq!(first, second);
    // A new branch is a new request: a new tag and nonce.
    s.send_to(register_text(port, "z9hG4bKretrans2").as_bytes(), e.addr())
        .unwrap();
    let third = udp_recv(&s).unwrap();
    assert_ne!(header_of(&third, "To"), header_of(&first, "To"));
    assert!(
        udp_recv_all(&s, Duration::from_millis(300)).is_empty(),
        "no extra answers"
    );
}

#[test]
fn baresip_registers_as_a_seat() {
    require("baresip");
    let e = engine();
    let dir = baresip_dir(&e, "op2", "secret2", "");
    let out = std::process::Command::new("timeout")
        .args(["20", "baresip", "-f"])
        .arg(&dir)
        .args(["-t", "4"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run baresip");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("200 OK"),
        "baresip did not register:\n{text}\n{}",
        e.log()
    );
    assert!(
        e.wait_log("seat registered seat=op2", Duration::from_secs(2)),
        "{}",
        e.log()
    );
}

#[test]
fn sha256_digest_registers_end_to_end() {
    use sha2::{Digest, Sha256};
    fn h(s: &str) -> String {
        Sha256::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
    let e = Engine::start("digest_algorithms = [\"SHA-256\"]", &seats_and_queue());
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let port = s.local_addr().unwrap().port();
    s.send_to(register_text(port, "z9hG4bKsha1").as_bytes(), e.addr())
        .unwrap();
    let challenge = udp_recv(&s).unwrap();
    let www = header_of(&challenge, "WWW-Authenticate").unwrap();
    assert!(www.contains("algorithm=SHA-256"), "{www}");
    let nonce = www
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let ha1 = h("op1:siaga112:secret1");
    let ha2 = h("REGISTER:sip:127.0.0.1");
    let resp = h(&format!("{ha1}:{nonce}:00000001:abcd:auth:{ha2}"));
    let msg = register_text(port, "z9hG4bKsha2").replace("CSeq: 1", "CSeq: 2").replace(
        "Max-Forwards",
        &format!("Authorization: Digest username=\"op1\", realm=\"siaga112\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", response=\"{resp}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"abcd\"\r\nMax-Forwards"),
    );
    s.send_to(msg.as_bytes(), e.addr()).unwrap();
    let ok = udp_recv(&s).unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK"), "{ok}");
}

fn ask(e: &Engine, text: &str) -> Option<String> {
    let s = udp_send(e, text.as_bytes());
    udp_recv(&s)
}

const OPTIONS: &str = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKmal;rport\r\n\
From: <sip:t@x>;tag=1\r\nTo: <sip:s@x>\r\nCall-ID: mal-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

#[test]
fn malformed_input_gets_the_right_answer_or_a_drop() {
    let e = engine();
    // Missing Call-ID / CSeq: 400 naming it.
    let r = ask(&e, &OPTIONS.replace("Call-ID: mal-1\r\n", "")).unwrap();
    assert!(r.starts_with("SIP/2.0 400 Missing Call-ID Header"), "{r}");
    let r = ask(
        &e,
        &OPTIONS
            .replace("CSeq: 1 OPTIONS\r\n", "")
            .replace("z9hG4bKmal", "z9hG4bKmal2"),
    )
    .unwrap();
    assert!(r.starts_with("SIP/2.0 400 Missing CSeq Header"), "{r}");
    // Bad Content-Length.
    let r = ask(
        &e,
        &OPTIONS
            .replace("Content-Length: 0", "Content-Length: 50")
            .replace("mal-1", "mal-3"),
    )
    .unwrap();
    assert!(
        r.starts_with("SIP/2.0 400 Content-Length Larger Than Body"),
        "{r}"
    );
    let r = ask(
        &e,
        &OPTIONS
            .replace("Content-Length: 0", "Content-Length: zz")
            .replace("mal-1", "mal-4"),
    )
    .unwrap();
    assert!(r.starts_with("SIP/2.0 400 Bad Content-Length"), "{r}");
    // Truncated in the head.
    let r = ask(
        &e,
        &OPTIONS[..OPTIONS.find("To:").unwrap()].replace("mal;", "mal5;"),
    )
    .unwrap();
    assert!(r.starts_with("SIP/2.0 400"), "{r}");
    // No Via: nothing can be answered; binary garbage: dropped.
    let s = udp_send(
        &e,
        OPTIONS
            .replace(
                "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKmal;rport\r\n",
                "",
            )
            .as_bytes(),
    );
    assert!(udp_recv_all(&s, Duration::from_millis(300)).is_empty());
    let s = udp_send(&e, &[0u8, 1, 2, 0xff, 0xfe, 13, 10, 13, 10]);
    assert!(udp_recv_all(&s, Duration::from_millis(300)).is_empty());
    // Unknown method: 405 with Allow.
    let r = ask(
        &e,
        &OPTIONS.replace("OPTIONS", "FROB").replace("mal-1", "mal-6"),
    )
    .unwrap();
    assert!(r.starts_with("SIP/2.0 405"), "{r}");
    assert!(header_of(&r, "Allow").unwrap().contains("REGISTER"));
    // A method we do not serve: 405 too.
    let r = ask(
        &e,
        &OPTIONS
            .replace("OPTIONS", "PUBLISH")
            .replace("mal-1", "mal-7"),
    )
    .unwrap();
    assert!(r.starts_with("SIP/2.0 405"), "{r}");
    // BYE for no dialog: 481.
    let r = ask(
        &e,
        &OPTIONS.replace("OPTIONS", "BYE").replace("mal-1", "mal-8"),
    )
    .unwrap();
    assert!(r.starts_with("SIP/2.0 481"), "{r}");
    // Oversized over TCP: 513, then the connection closes.
    let mut big = OPTIONS
        .replace("Content-Length: 0", "Content-Length: 70000")
        .replace("mal-1", "mal-9")
        .into_bytes();
    big.extend(std::iter::repeat_n(b'x', 70000));
    let mut t = TcpStream::connect(e.addr()).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = t.write_all(&big);
    let mut got = String::new();
    let _ = t.read_to_string(&mut got);
    assert!(got.starts_with("SIP/2.0 513"), "{got}");
    // Still alive and well.
    let r = ask(
        &e,
        &OPTIONS
            .replace("mal-1", "mal-10")
            .replace("z9hG4bKmal", "z9hG4bKok"),
    )
    .unwrap();
    assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
    assert!(e.log().contains("dropped a malformed message"));
    assert!(!e.log().contains("panicked"));
}

#[test]
fn check_config_names_the_bad_key() {
    let bin = env!("CARGO_BIN_EXE_siaga112");
    let ok = std::process::Command::new(bin)
        .args(["check-config", "--config"])
        .arg(repo().join("config/siaga112.toml"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\nrealm = \"x\"\nmin_expires_s = 0\n",
    )
    .unwrap();
    let out = std::process::Command::new(bin)
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sip.min_expires_s"));
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut e = engine();
    assert!(e.stop(), "{}", e.log());
    assert!(e.log().contains("siaga112 stopped"));
}
