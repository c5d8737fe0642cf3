//! Issue 15, item 4: SIP over TLS (RFC 3261 §26.2) and the console on
//! HTTPS, with a self-signed certificate the test makes. A seat registers
//! over TLS (our own client, and baresip) and is rung over its TLS
//! connection with a SIPS Request-URI and our SIPS Contact; the console
//! answers only TLS and marks its cookie Secure.

mod common;
use common::*;
use siaga112::sip::digest::{expected_response, DigestAuth};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_rustls::rustls;

/// A certificate for 127.0.0.1 and its key, as PEM files in `dir`.
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    let (cert, key) = (dir.join("siaga112.crt"), dir.join("siaga112.key"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// A client trusting only `ca` (the engine's own self-signed certificate).
fn client(ca: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn connect(config: &Arc<rustls::ClientConfig>, port: u16, name: &str) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    let name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    let conn =
        rustls::ClientConnection::new(config.clone(), name).map_err(std::io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    // Drive the handshake now, so a bad certificate fails here.
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// Reads one SIP message (head and Content-Length body) off the stream.
fn read_message(s: &mut impl Read, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = header_of(&head, "Content-Length")
                .or_else(|| header_of(&head, "l"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let msg = String::from_utf8_lossy(&buf[..end + 4 + len]).to_string();
                buf.drain(..end + 4 + len);
                return Some(msg);
            }
        }
        let mut chunk = [0u8; 8192];
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn first_line(msg: &str) -> &str {
    msg.lines().next().unwrap_or("")
}

const ROUTING: &str = r#"
[[trunk]]
name = "telco-a"
peers = ["127.0.0.1/32"]

[[route]]
match = ["112"]
queue = "emergency"

[[queue]]
name = "emergency"
strategy = "longest-idle"
ring_timeout_s = 10
max_wait_s = 60
"#;

/// An engine with a `tls:` listener on its own port; returns it and that port.
fn tls_engine(rest: &str) -> (Engine, u16, std::path::PathBuf) {
    tls_engine_with("keepalive_s = 0", "", rest)
}

/// [`tls_engine`] with the trunk on 127.0.0.2, so that 127.0.0.1 is a
/// stranger (no trunk, proxy or `allow` address).
fn tls_engine_for_strangers() -> (Engine, u16, std::path::PathBuf) {
    tls_engine_with("keepalive_s = 0", "", "#trunk-elsewhere")
}

fn tls_engine_with(
    sip_extra: &str,
    tls_extra: &str,
    rest: &str,
) -> (Engine, u16, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let tls_port = free_port();
    let routing = if rest.contains("#trunk-elsewhere") {
        ROUTING.replace("127.0.0.1/32", "127.0.0.2/32")
    } else {
        ROUTING.to_string()
    };
    let rest = format!(
        "{routing}{SEATS}\n[tls]\ncertificate = \"{}\"\nkey = \"{}\"\n{}\n{rest}",
        cert.display(),
        key.display(),
        tls_extra.replace("{cert}", &cert.display().to_string())
    );
    let e = Engine::start_listening(
        dir,
        &format!(", \"tls:127.0.0.1:{tls_port}\""),
        sip_extra,
        "",
        &rest,
    );
    (e, tls_port, cert)
}

fn register(s: &mut Tls, tls_port: u16, local: &str, cseq: u32, auth: &str) {
    register_contact(s, tls_port, local, local, cseq, auth)
}

fn register_contact(
    s: &mut impl Write,
    tls_port: u16,
    local: &str,
    contact: &str,
    cseq: u32,
    auth: &str,
) {
    let msg = format!(
        "REGISTER sips:127.0.0.1:{tls_port} SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bKtls{cseq}\r\n\
         Max-Forwards: 70\r\nFrom: <sips:op1@127.0.0.1>;tag=t1\r\nTo: <sips:op1@127.0.0.1>\r\n\
         Call-ID: tls-reg-1\r\nCSeq: {cseq} REGISTER\r\nContact: <sips:op1@{contact}>\r\nExpires: 120\r\n\
         {auth}Content-Length: 0\r\n\r\n"
    );
    s.write_all(msg.as_bytes()).unwrap();
    s.flush().unwrap();
}

/// The digest answer to a challenge (MD5, qop=auth).
fn authorization(challenge: &str, uri: &str) -> String {
    let www = header_of(challenge, "WWW-Authenticate").expect("a challenge");
    let nonce = www
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("nonce");
    let md5 = www.contains("MD5") || !www.contains("algorithm=");
    let algorithm = if md5 {
        siaga112::config::DigestAlgorithm::Md5
    } else {
        siaga112::config::DigestAlgorithm::Sha256
    };
    let a = DigestAuth {
        username: "op1",
        realm: "siaga112",
        nonce,
        uri,
        response: "",
        algorithm,
        qop_auth: Some(("00000001", "tlscnonce")),
    };
    let resp = expected_response(&a, "secret1", "REGISTER");
    format!(
        "Authorization: Digest username=\"op1\", realm=\"siaga112\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{resp}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"tlscnonce\"\r\n",
        if md5 { "MD5" } else { "SHA-256" }
    )
}

/// A response to `req` from the seat.
fn answer(req: &str, status: &str, contact: &str, body: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for l in req.split("\r\n\r\n").next().unwrap().lines().skip(1) {
        let name = l.split(':').next().unwrap_or("").trim();
        if ["Via", "From", "Call-ID", "CSeq", "Record-Route"]
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
        {
            out.push_str(l);
            out.push_str("\r\n");
        } else if name.eq_ignore_ascii_case("To") {
            out.push_str(l);
            if !l.contains("tag=") && !status.starts_with("100") {
                out.push_str(";tag=seattls");
            }
            out.push_str("\r\n");
        }
    }
    if !contact.is_empty() {
        out.push_str(&format!("Contact: {contact}\r\n"));
    }
    if body.is_empty() {
        out.push_str("Content-Length: 0\r\n\r\n");
    } else {
        out.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    }
    out
}

#[test]
fn a_seat_on_tls_registers_and_is_rung_over_its_connection() {
    let (e, tls_port, cert) = tls_engine("");
    let config = client(&cert);

    // Not TLS at all, and a handshake naming another host: refused, and
    // the engine goes on.
    let mut raw = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    raw.write_all(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n\r\n")
        .unwrap();
    let mut junk = Vec::new();
    let _ = raw.read_to_end(&mut junk);
    assert!(
        !String::from_utf8_lossy(&junk).contains("SIP/2.0"),
        "plain SIP on the TLS port must get no SIP answer: {junk:?}"
    );
    let wrong = connect(&config, tls_port, "example.com");
    assert!(
        wrong.is_err(),
        "the certificate is for 127.0.0.1, not example.com"
    );

    let mut s = connect(&config, tls_port, "127.0.0.1").expect("TLS handshake");
    let local = s.sock.local_addr().unwrap().to_string();
    let mut buf = Vec::new();
    register(&mut s, tls_port, &local, 1, "");
    let challenge = read_message(&mut s, &mut buf).expect("an answer over TLS");
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    assert!(
        header_of(&challenge, "Via")
            .unwrap()
            .starts_with("SIP/2.0/TLS"),
        "{challenge}"
    );
    let auth = authorization(&challenge, &format!("sips:127.0.0.1:{tls_port}"));
    register(&mut s, tls_port, &local, 2, &auth);
    let ok = read_message(&mut s, &mut buf).expect("200 over TLS");
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}\n{}", e.log());
    assert!(e.wait_log(
        "seat registered seat=op1 transport=TLS",
        Duration::from_secs(3)
    ));

    // A trunk calls over UDP; the seat is rung over its TLS connection.
    let target = e.target();
    let trunk = std::thread::spawn(move || {
        sipp_to(
            &target,
            "trunk_call.xml",
            &["-s", "112", "-m", "1", "-d", "800"],
            Duration::from_secs(20),
        )
    });
    let invite = read_message(&mut s, &mut buf).expect("INVITE over TLS");
    assert!(
        first_line(&invite).starts_with("INVITE sips:op1@"),
        "the Request-URI is the seat's SIPS Contact: {invite}"
    );
    assert!(
        header_of(&invite, "Via")
            .unwrap()
            .starts_with(&format!("SIP/2.0/TLS 127.0.0.1:{tls_port}")),
        "{invite}"
    );
    assert_eq!(
        header_of(&invite, "Contact").unwrap(),
        format!("<sips:siaga112@127.0.0.1:{tls_port}>"),
        "{invite}"
    );
    let sdp = "v=0\r\no=seat 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4010 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";
    let contact = format!("<sips:op1@{local}>");
    s.write_all(answer(&invite, "180 Ringing", &contact, "").as_bytes())
        .unwrap();
    s.write_all(answer(&invite, "200 OK", &contact, sdp).as_bytes())
        .unwrap();
    s.flush().unwrap();
    // ACK, then the caller's hang-up relayed as BYE, both over TLS.
    let mut seen = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        let Some(m) = read_message(&mut s, &mut buf) else {
            break;
        };
        let line = first_line(&m).to_string();
        if line.starts_with("BYE ") {
            s.write_all(answer(&m, "200 OK", "", "").as_bytes())
                .unwrap();
            s.flush().unwrap();
            seen.push(line);
            break;
        }
        seen.push(line);
    }
    let r = trunk.join().unwrap();
    assert!(r.ok, "{}\n{}", r.output, e.log());
    assert!(
        seen.iter().any(|l| l.starts_with("ACK sips:op1@")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|l| l.starts_with("BYE sips:op1@")),
        "{seen:?}"
    );
    let ev = one_case(&wait_ended(&e, 1));
    assert_eq!(
        names(&ev),
        ["opened", "queued", "offered", "answered", "ended"]
    );
    assert_eq!(ended(&ev)["seat"], "op1");
    assert_eq!(ended(&ev)["reason"], "completed");
}

#[test]
fn baresip_registers_over_tls_and_answers_a_call() {
    require("baresip");
    let (e, tls_port, cert) = tls_engine("");
    let dir = baresip_dir(&e, "op3", "secret3", "");
    // The account over TLS, checking the engine's certificate.
    std::fs::write(
        dir.join("accounts"),
        format!(
            "<sip:op3@127.0.0.1:{tls_port};transport=tls>;auth_pass=secret3;answermode=auto;regint=60\n"
        ),
    )
    .unwrap();
    let mut config = std::fs::read_to_string(dir.join("config")).unwrap();
    config = config.replace("sip_trans_def udp\n", "sip_trans_def tls\n");
    config.push_str(&format!("sip_cafile {}\n", cert.display()));
    std::fs::write(dir.join("config"), config).unwrap();
    let phone = spawn_baresip(&dir, 8);
    let registered = e.wait_log("seat registered seat=op3", Duration::from_secs(10));
    if !registered {
        terminate(&phone);
        let out = phone.wait_with_output().unwrap();
        panic!(
            "baresip did not register over TLS:\n{}\nbaresip: {}{}",
            e.log(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let r = sipp(
        &e,
        "trunk_call.xml",
        &["-s", "112", "-m", "1", "-d", "1500"],
        Duration::from_secs(20),
    );
    terminate(&phone);
    let out = phone.wait_with_output().unwrap();
    assert!(
        r.ok,
        "trunk: {}\n{}\nbaresip: {}",
        r.output,
        e.log(),
        String::from_utf8_lossy(&out.stdout)
    );
    let ev = one_case(&wait_ended(&e, 1));
    assert_eq!(
        names(&ev),
        ["opened", "queued", "offered", "answered", "ended"]
    );
    assert_eq!(ended(&ev)["seat"], "op3");
    assert!(
        e.log().contains("seat registered seat=op3 transport=TLS"),
        "baresip registered over TLS: {}",
        e.log()
    );
}

/// One HTTP/1.1 exchange over TLS: (status line and headers, body).
fn https(config: &Arc<rustls::ClientConfig>, port: u16, request: &str) -> (String, String) {
    let mut s = connect(config, port, "127.0.0.1").expect("HTTPS handshake");
    s.write_all(request.as_bytes()).unwrap();
    s.flush().unwrap();
    let mut out = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_string(), body.to_string())
}

#[test]
fn the_console_is_served_on_https_only() {
    let http_port = free_port();
    let (e, _tls_port, cert) = tls_engine(&format!(
        "\n[http]\nlisten = \"127.0.0.1:{http_port}\"\nhttps = true\n"
    ));
    assert!(
        e.wait_log(
            &format!("https://127.0.0.1:{http_port}/"),
            Duration::from_secs(3)
        ),
        "{}",
        e.log()
    );
    let config = client(&cert);
    let (head, body) = https(
        &config,
        http_port,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains("<html") || body.contains("<!doctype") || body.contains("<!DOCTYPE"));

    let login = r#"{"user":"op1","password":"secret1"}"#;
    let (head, _) = https(
        &config,
        http_port,
        &format!(
            "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{login}",
            login.len()
        ),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let cookie = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a session cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");

    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let mut plain = TcpStream::connect(("127.0.0.1", http_port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut junk = Vec::new();
    let _ = plain.read_to_end(&mut junk);
    assert!(
        !String::from_utf8_lossy(&junk).contains("HTTP/1.1 200"),
        "{junk:?}"
    );
    // And the console still serves after it.
    let (head, _) = https(
        &config,
        http_port,
        "GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}

#[test]
fn a_tls_listener_without_a_certificate_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("siaga112.toml");
    let port = free_port();
    std::fs::write(
        &cfg,
        format!(
            "[sip]\nlisten = [\"tls:127.0.0.1:{port}\"]\nrealm = \"siaga112\"\n[caselog]\npath = \"{}\"\n",
            dir.path().join("c.jsonl").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_siaga112"))
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("sip.listen") && text.contains("[tls]"),
        "{text}"
    );

    // A certificate file that is not PEM: the engine does not start, and says why.
    let bad = dir.path().join("bad.crt");
    std::fs::write(&bad, "not a certificate").unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[sip]\nlisten = [\"tls:127.0.0.1:{port}\"]\nrealm = \"siaga112\"\n[caselog]\npath = \"{}\"\n\
             [recording]\ndir = \"{}\"\n[tls]\ncertificate = \"{}\"\nkey = \"{}\"\n",
            dir.path().join("c.jsonl").display(),
            dir.path().join("rec").display(),
            bad.display(),
            bad.display()
        ),
    )
    .unwrap();
    let out = Command::new("timeout")
        .args(["10", env!("CARGO_BIN_EXE_siaga112"), "run", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("tls.certificate"), "{text}");
}

/// A seat whose Contact is its own TLS listener (`nat = "never"`): the
/// engine opens the connection itself, checking the seat's certificate
/// against `[tls] ca`.
#[test]
fn the_engine_opens_a_tls_connection_to_a_seat_it_can_verify() {
    let (e, tls_port, cert) =
        tls_engine_with("keepalive_s = 0\nnat = \"never\"", "ca = \"{cert}\"", "");
    // The seat listens for TLS with the same certificate (it is for 127.0.0.1).
    let key = cert.with_extension("key");
    let server = {
        use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(&cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(&key).unwrap();
        Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
        )
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let seat_addr = listener.local_addr().unwrap().to_string();

    let config = client(&cert);
    let mut s = connect(&config, tls_port, "127.0.0.1").expect("TLS handshake");
    let local = s.sock.local_addr().unwrap().to_string();
    let mut buf = Vec::new();
    register_contact(&mut s, tls_port, &local, &seat_addr, 1, "");
    let challenge = read_message(&mut s, &mut buf).expect("401");
    let auth = authorization(&challenge, &format!("sips:127.0.0.1:{tls_port}"));
    register_contact(&mut s, tls_port, &local, &seat_addr, 2, &auth);
    let ok = read_message(&mut s, &mut buf).expect("200");
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}\n{}", e.log());
    // The REGISTER's connection closes; the engine must reach the Contact.
    drop(s);

    let target = e.target();
    let trunk = std::thread::spawn(move || {
        sipp_to(
            &target,
            "trunk_call.xml",
            &["-s", "112", "-m", "1", "-d", "500"],
            Duration::from_secs(20),
        )
    });
    listener.set_nonblocking(false).unwrap();
    let (tcp, _) = listener.accept().expect("the engine connects to the seat");
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let conn = rustls::ServerConnection::new(server).unwrap();
    let mut seat = rustls::StreamOwned::new(conn, tcp);
    let mut buf = Vec::new();
    let invite =
        read_message(&mut seat, &mut buf).expect("INVITE over the engine's TLS connection");
    assert!(
        first_line(&invite).starts_with(&format!("INVITE sips:op1@{seat_addr}")),
        "{invite}"
    );
    let sdp = "v=0\r\no=seat 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4012 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";
    let contact = format!("<sips:op1@{seat_addr}>");
    seat.write_all(answer(&invite, "200 OK", &contact, sdp).as_bytes())
        .unwrap();
    seat.flush().unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        let Some(m) = read_message(&mut seat, &mut buf) else {
            break;
        };
        if first_line(&m).starts_with("BYE ") {
            seat.write_all(answer(&m, "200 OK", "", "").as_bytes())
                .unwrap();
            seat.flush().unwrap();
            break;
        }
    }
    let r = trunk.join().unwrap();
    assert!(r.ok, "{}\n{}", r.output, e.log());
    let ev = one_case(&wait_ended(&e, 1));
    assert_eq!(ended(&ev)["seat"], "op1");
    assert_eq!(ended(&ev)["reason"], "completed");
}

/// A renewed certificate (the files replaced) is served at the next
/// handshake without a restart; a renewal that does not load keeps the
/// old one and says so.
#[test]
fn a_renewed_certificate_is_taken_without_a_restart() {
    let (e, tls_port, cert) = tls_engine("");
    let key = cert.with_extension("key");
    let first = client(&cert);
    connect(&first, tls_port, "127.0.0.1").expect("the first certificate");

    // Renewal: a new key and certificate, each moved into place whole.
    let renewed = e.dir.path().join("renewed");
    std::fs::create_dir_all(&renewed).unwrap();
    let (new_cert, new_key) = certificate(&renewed);
    let tmp = e.dir.path().join("swap.tmp");
    std::fs::copy(&new_key, &tmp).unwrap();
    std::fs::rename(&tmp, &key).unwrap();
    std::fs::copy(&new_cert, &tmp).unwrap();
    std::fs::rename(&tmp, &cert).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let second = client(&new_cert);
    let s = connect(&second, tls_port, "127.0.0.1");
    assert!(
        s.is_ok(),
        "the renewed certificate: {:?}\n{}",
        s.err(),
        e.log()
    );
    assert!(
        connect(&first, tls_port, "127.0.0.1").is_err(),
        "the old one is no longer served"
    );
    assert!(e.log().contains("TLS certificate reloaded"), "{}", e.log());

    // A broken renewal: the certificate that works stays.
    std::fs::write(&tmp, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    std::fs::rename(&tmp, &cert).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        connect(&second, tls_port, "127.0.0.1").is_ok(),
        "{}",
        e.log()
    );
    assert!(
        e.wait_log(
            "do not load: the old certificate is kept",
            Duration::from_secs(2)
        ),
        "{}",
        e.log()
    );
    // SIP over it still works: an OPTIONS answered over TLS.
    let mut s = connect(&second, tls_port, "127.0.0.1").unwrap();
    let local = s.sock.local_addr().unwrap();
    s.write_all(
        format!(
            "OPTIONS sips:127.0.0.1:{tls_port} SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bKren1\r\n\
             Max-Forwards: 70\r\nFrom: <sips:probe@127.0.0.1>;tag=r1\r\nTo: <sips:127.0.0.1>\r\n\
             Call-ID: renew-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    s.flush().unwrap();
    let mut buf = Vec::new();
    let ok = read_message(&mut s, &mut buf).expect("an answer");
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
}

/// Half-open handshakes: one stranger gets at most 16 at once on a TLS
/// listener (the 17th is closed at once); a real handshake works again as
/// soon as they are gone. (A trunk's address is not held to this.)
#[test]
fn one_address_cannot_hold_every_handshake() {
    let (e, tls_port, cert) = tls_engine_for_strangers();
    let config = client(&cert);
    let stalled: Vec<TcpStream> = (0..16)
        .map(|_| TcpStream::connect(("127.0.0.1", tls_port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
    let t = Instant::now();
    assert!(
        closed_within(&mut extra, Duration::from_secs(2))
            && t.elapsed() < Duration::from_millis(1500),
        "the 17th is closed at once"
    );
    assert!(
        e.wait_log(
            "too many TLS handshakes from one address",
            Duration::from_secs(2)
        ),
        "{}",
        e.log()
    );
    drop(stalled);
    std::thread::sleep(Duration::from_millis(300));
    connect(&config, tls_port, "127.0.0.1").expect("a handshake once the stalled ones are gone");
}

/// A trunk's (or `allow`) address is not held to the per-address share:
/// seats behind one NAT reconnecting at once all get their handshake.
#[test]
fn a_trusted_address_gets_every_handshake_it_asks_for() {
    let (_e, tls_port, cert) = tls_engine("");
    let config = client(&cert);
    let _stalled: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(("127.0.0.1", tls_port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    connect(&config, tls_port, "127.0.0.1").expect("the 21st from a trusted address");
}
