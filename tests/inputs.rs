//! What a call brings, when it is bad: the core on a simulated network
//! (tests/net) takes INVITEs whose location is in an unknown format,
//! names a body part that is not there, or whose multipart body is
//! garbled; every one is queued and answered as a call, and the case says
//! what could not be read. A location by reference is kept as one.

mod net;
use net::*;
use siaga112::caselog::Kind;
use std::time::Duration;

const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:5060"]
realm = "siaga112"
keepalive_s = 0
retry_s = 30

[media]
enabled = false

[[trunk]]
name = "telco-a"
peers = ["127.0.0.1/32"]

[[route]]
match = ["112"]
queue = "emergency"

[[queue]]
name = "emergency"

"#;

/// Four seats, each answering after 100 ms.
fn net() -> Net {
    let mut cfg = CONFIG.to_string();
    for i in 1..=4 {
        cfg.push_str(&format!(
            "\n[[seat]]\nuser = \"op{i}\"\npassword = \"secret{i}\"\nqueues = [\"emergency\"]\n"
        ));
    }
    let mut n = Net::new(&cfg);
    for i in 1..=4u16 {
        let p = n.phone(
            &format!("op{i}"),
            &format!("secret{i}"),
            5070 + i,
            Answer::After(Duration::from_millis(100)),
        );
        assert_eq!(n.register(p, 3600), 200);
    }
    n
}

fn multipart(parts: &[(&str, &str, &str)]) -> String {
    let mut b = String::new();
    for (ct, cid, body) in parts {
        b.push_str("--B\r\nContent-Type: ");
        b.push_str(ct);
        b.push_str("\r\n");
        if !cid.is_empty() {
            b.push_str(&format!("Content-ID: <{cid}>\r\n"));
        }
        b.push_str("\r\n");
        b.push_str(body);
        b.push_str("\r\n");
    }
    b.push_str("--B--\r\n");
    b
}

fn unknown_format() -> &'static str {
    r#"<?xml version="1.0"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" entity="pres:x@y">
 <tuple id="t"><status><gp:geopriv><gp:location-info>
   <w3w:words xmlns:w3w="https://what3words.example">index.home.raft</w3w:words>
 </gp:location-info></gp:geopriv></status></tuple>
</presence>"#
}

fn info_of(n: &Net, case: &str) -> Option<Kind> {
    n.records
        .iter()
        .find(|r| {
            r.case.as_ref().is_some_and(|c| c.as_str() == case)
                && matches!(r.kind, Kind::CallInfo(_))
        })
        .map(|r| r.kind.clone())
}

fn unread(n: &Net, case: &str) -> Vec<String> {
    match info_of(n, case) {
        Some(Kind::CallInfo(info)) => info.unread,
        _ => Vec::new(),
    }
}

#[test]
fn bad_locations_never_fail_the_call_and_the_case_says_why() {
    let mut n = net();
    // 1: an unknown location format.
    let body = multipart(&[
        ("application/sdp", "", SDP),
        ("application/pidf+xml", "loc1@x", unknown_format()),
    ]);
    n.call_body(
        1,
        "112",
        "Geolocation: <cid:loc1@x>\r\n",
        "multipart/mixed;boundary=B",
        &body,
    );
    // 2: Geolocation names a part that is not there.
    let body = multipart(&[("application/sdp", "", SDP)]);
    n.call_body(
        2,
        "112",
        "Geolocation: <cid:gone@x>\r\n",
        "multipart/mixed;boundary=B",
        &body,
    );
    // 3: a garbled multipart: the boundary is not the one declared.
    let body = multipart(&[("application/sdp", "", SDP)]);
    n.call_body(3, "112", "", "multipart/mixed;boundary=NOPE", &body);
    // 4: a location by reference.
    n.call_with(
        4,
        "112",
        "Geolocation: <https://lis.example/loc/77>, <sip:loc@lis.example>\r\n",
    );
    n.advance(Duration::from_secs(5));
    for call in 1..=4 {
        let case = format!("0001-00000{call}");
        let kinds = n.kinds_of(&case);
        assert!(kinds.contains(&"queued"), "call {call} queued: {kinds:?}");
        assert!(
            kinds.contains(&"answered"),
            "call {call} answered: {kinds:?}"
        );
    }
    let u1 = unread(&n, "0001-000001");
    assert!(
        u1.iter().any(|u| u.contains("no location")),
        "unknown format: {u1:?}"
    );
    let u2 = unread(&n, "0001-000002");
    assert!(
        u2.iter()
            .any(|u| u.contains("cid:gone@x") && u.contains("not in the body")),
        "{u2:?}"
    );
    let u3 = unread(&n, "0001-000003");
    assert!(!u3.is_empty(), "the garbled body is noted");
    let refs: Vec<String> = n
        .records
        .iter()
        .filter(|r| r.case.as_ref().is_some_and(|c| c.as_str() == "0001-000004"))
        .filter_map(|r| match &r.kind {
            Kind::Located { source, detail, .. } if source == "reference" => {
                detail.as_ref().and_then(|d| d.reference.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(refs, ["https://lis.example/loc/77", "sip:loc@lis.example"]);
    // Nothing about a plain call.
    assert!(info_of(&n, "0001-000004").is_none());
}
