use super::*;
use crate::sip::rsip::SipMessage;
use std::net::SocketAddr;

const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:5060"]
realm = "siaga112"
digest_algorithms = ["SHA-256", "MD5"]
nonce_ttl_s = 30
min_expires_s = 60
max_expires_s = 3600
default_expires_s = 600
keepalive_s = 0

[[seat]]
user = "op1"
password = "secret1"
"#;

fn registrar(now: Instant) -> Registrar {
    Registrar::new(&Config::parse(CONFIG).unwrap(), now, 7)
}

fn src() -> Peer {
    Peer::udp("127.0.0.1:5071".parse::<SocketAddr>().unwrap())
}

fn register(extra: &str, cseq: u32) -> Request {
    let raw = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK{cseq}\r\n\
         From: <sip:op1@127.0.0.1>;tag=1\r\nTo: <sip:op1@127.0.0.1>\r\nCall-ID: reg-1\r\n\
         CSeq: {cseq} REGISTER\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    match SipMessage::try_from(raw.as_str()).unwrap() {
        SipMessage::Request(r) => r,
        _ => unreachable!(),
    }
}

/// The nonce of the challenge for `alg` in a 401.
fn nonce_of(reply: &Reply, alg: &str) -> String {
    let v = reply
        .headers
        .iter()
        .find(|(n, v)| *n == "WWW-Authenticate" && v.contains(&format!("algorithm={alg}")))
        .map(|(_, v)| v.clone())
        .unwrap();
    let start = v.find("nonce=\"").unwrap() + 7;
    v[start..].split('"').next().unwrap().to_string()
}

fn authorization(user: &str, password: &str, nonce: &str, alg: DigestAlgorithm) -> String {
    // A client's own cnonce per use: the same nonce, nc and cnonce twice
    // is a replay.
    static USES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let cnonce = format!(
        "c0ffee{}",
        USES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let cnonce = cnonce.as_str();
    let a = digest::DigestAuth {
        username: user,
        realm: "siaga112",
        nonce,
        uri: "sip:127.0.0.1",
        response: "",
        algorithm: alg,
        qop_auth: Some(("00000001", cnonce)),
    };
    let resp = digest::expected_response(&a, password, "REGISTER");
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"siaga112\", nonce=\"{nonce}\", \
         uri=\"sip:127.0.0.1\", response=\"{resp}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"{cnonce}\"\r\n",
        alg.name()
    )
}

fn authed(r: &mut Registrar, now: Instant, extra: &str, cseq: u32, alg: DigestAlgorithm) -> Reply {
    let challenge = r.handle_register(now, &register(extra, cseq), src());
    assert_eq!(challenge.status, 401);
    let nonce = nonce_of(&challenge, alg.name());
    let auth = authorization("op1", "secret1", &nonce, alg);
    r.handle_register(now, &register(&format!("{auth}{extra}"), cseq + 1), src())
}

#[test]
fn challenge_offers_each_algorithm_in_order() {
    let now = Instant::now();
    let mut r = registrar(now);
    let c = r.handle_register(
        now,
        &register("Contact: <sip:op1@127.0.0.1:5071>\r\n", 1),
        src(),
    );
    assert_eq!(c.status, 401);
    let algs: Vec<_> = c
        .headers
        .iter()
        .map(|(_, v)| v.contains("SHA-256"))
        .collect();
    assert_eq!(algs, vec![true, false]);
    assert!(c.headers[0].1.contains("qop=\"auth\""));
}

#[test]
fn register_with_sha256_and_md5_then_expire() {
    for alg in [DigestAlgorithm::Sha256, DigestAlgorithm::Md5] {
        let now = Instant::now();
        let mut r = registrar(now);
        let ok = authed(
            &mut r,
            now,
            "Contact: <sip:op1@127.0.0.1:5071>\r\nExpires: 120\r\n",
            1,
            alg,
        );
        assert_eq!(ok.status, 200, "{alg:?}");
        assert_eq!(
            ok.headers,
            vec![(
                "Contact",
                "<sip:op1@127.0.0.1:5071>;expires=120".to_string()
            )]
        );
        assert_eq!(
            r.poll_event(),
            Some(SeatEvent::Registered { user: "op1".into() })
        );
        assert!(r.is_registered("op1"));
        assert!(r.registered_from(src().addr.ip()));
        assert!(!r.registered_from("127.0.0.2".parse().unwrap()));
        assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(120)));
        r.handle_timeout(now + Duration::from_secs(119));
        assert!(r.is_registered("op1"));
        r.handle_timeout(now + Duration::from_secs(120));
        assert!(!r.is_registered("op1"));
        assert!(
            !r.registered_from(src().addr.ip()),
            "the index forgets expired bindings"
        );
        assert_eq!(
            r.poll_event(),
            Some(SeatEvent::Unregistered { user: "op1".into() })
        );
    }
}

#[test]
fn wrong_password_and_unknown_user_are_forbidden() {
    let now = Instant::now();
    let mut r = registrar(now);
    let c = r.handle_register(now, &register("", 1), src());
    let nonce = nonce_of(&c, "MD5");
    let bad = authorization("op1", "nope", &nonce, DigestAlgorithm::Md5);
    assert_eq!(
        r.handle_register(now, &register(&bad, 2), src()).status,
        403
    );
    let who = authorization("op9", "secret1", &nonce, DigestAlgorithm::Md5);
    assert_eq!(
        r.handle_register(now, &register(&who, 3), src()).status,
        403
    );
    assert!(r.poll_event().is_none());
}

#[test]
fn another_seats_aor_is_forbidden() {
    let now = Instant::now();
    let mut r = registrar(now);
    let c = r.handle_register(now, &register("", 1), src());
    let auth = authorization("op1", "secret1", &nonce_of(&c, "MD5"), DigestAlgorithm::Md5);
    let req = register(&auth, 2)
        .to_string()
        .replace("To: <sip:op1@", "To: <sip:op2@");
    let SipMessage::Request(req) = SipMessage::try_from(req.as_str()).unwrap() else {
        panic!()
    };
    assert_eq!(r.handle_register(now, &req, src()).status, 403);
}

#[test]
fn old_nonces_are_stale_and_forged_ones_rechallenged() {
    let now = Instant::now();
    let mut r = registrar(now);
    let c = r.handle_register(now, &register("", 1), src());
    let nonce = nonce_of(&c, "MD5");
    let later = now + Duration::from_secs(31);
    let auth = authorization("op1", "secret1", &nonce, DigestAlgorithm::Md5);
    let stale = r.handle_register(later, &register(&auth, 2), src());
    assert_eq!(stale.status, 401);
    assert!(stale.headers.iter().all(|(_, v)| v.ends_with("stale=true")));
    let forged = authorization("op1", "secret1", "1.abcdef", DigestAlgorithm::Md5);
    let f = r.handle_register(now, &register(&forged, 3), src());
    assert_eq!(f.status, 401);
    assert!(f.headers.iter().all(|(_, v)| !v.contains("stale")));
}

#[test]
fn too_brief_is_423_with_min_expires() {
    let now = Instant::now();
    let mut r = registrar(now);
    let reply = authed(
        &mut r,
        now,
        "Contact: <sip:op1@127.0.0.1:5071>;expires=30\r\n",
        1,
        DigestAlgorithm::Md5,
    );
    assert_eq!(reply.status, 423);
    assert_eq!(reply.headers, vec![("Min-Expires", "60".to_string())]);
    assert!(!r.is_registered("op1"));
}

#[test]
fn expires_zero_removes_and_query_lists() {
    let now = Instant::now();
    let mut r = registrar(now);
    let contact = "Contact: <sip:op1@127.0.0.1:5071>\r\n";
    assert_eq!(
        authed(&mut r, now, contact, 1, DigestAlgorithm::Md5).status,
        200
    );
    let second = "Contact: <sip:op1@127.0.0.1:5099>;expires=300\r\n";
    assert_eq!(
        authed(&mut r, now, second, 3, DigestAlgorithm::Md5).status,
        200
    );
    assert_eq!(r.bindings("op1").len(), 2);
    // Refreshing keeps the seat registered without a second event.
    assert_eq!(
        r.poll_event(),
        Some(SeatEvent::Registered { user: "op1".into() })
    );
    assert_eq!(
        authed(&mut r, now, contact, 5, DigestAlgorithm::Md5).status,
        200
    );
    assert_eq!(r.poll_event(), None);
    // A query (no Contact) lists both.
    let q = authed(
        &mut r,
        now + Duration::from_secs(10),
        "",
        7,
        DigestAlgorithm::Md5,
    );
    assert_eq!(q.status, 200);
    let listed: Vec<_> = q.headers.iter().map(|(_, v)| v.as_str()).collect();
    assert!(
        listed.contains(&"<sip:op1@127.0.0.1:5099>;expires=290"),
        "{listed:?}"
    );
    assert_eq!(listed.len(), 2);
    // Expires: 0 on one, then Contact: * for the rest.
    let remove = "Contact: <sip:op1@127.0.0.1:5099>\r\nExpires: 0\r\n";
    assert_eq!(
        authed(&mut r, now, remove, 9, DigestAlgorithm::Md5).status,
        200
    );
    assert_eq!(r.bindings("op1").len(), 1);
    assert!(
        r.registered_from(src().addr.ip()),
        "one binding from there left"
    );
    assert_eq!(
        authed(&mut r, now, "Contact: *\r\n", 11, DigestAlgorithm::Md5).status,
        400
    );
    let star = "Contact: *\r\nExpires: 0\r\n";
    assert_eq!(
        authed(&mut r, now, star, 13, DigestAlgorithm::Md5).status,
        200
    );
    assert!(!r.is_registered("op1"));
    assert!(!r.registered_from(src().addr.ip()));
    assert_eq!(
        r.poll_event(),
        Some(SeatEvent::Unregistered { user: "op1".into() })
    );
}

#[test]
fn out_of_order_register_is_refused() {
    let now = Instant::now();
    let mut r = registrar(now);
    let contact = "Contact: <sip:op1@127.0.0.1:5071>\r\n";
    assert_eq!(
        authed(&mut r, now, contact, 10, DigestAlgorithm::Md5).status,
        200
    );
    assert_eq!(
        authed(&mut r, now, contact, 4, DigestAlgorithm::Md5).status,
        500
    );
}

#[test]
fn long_expiry_is_capped() {
    let now = Instant::now();
    let mut r = registrar(now);
    let ok = authed(
        &mut r,
        now,
        "Contact: <sip:op1@h>\r\nExpires: 99999\r\n",
        1,
        DigestAlgorithm::Md5,
    );
    assert_eq!(ok.headers[0].1, "<sip:op1@h>;expires=3600");
}
