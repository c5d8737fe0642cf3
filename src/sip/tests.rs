use super::*;
use proptest::prelude::*;
use rsip::Request;

const INVITE: &str = "INVITE sip:112@127.0.0.1:5060 SIP/2.0\r\n\
v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKtrunk1, SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKx\r\n\
Via: SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKy\r\n\
f: \"Caller\" <sip:+62811111@telco.example>;tag=abc\r\n\
t: <sip:112@siaga112>\r\n\
i: call-1@telco\r\n\
CSeq: 7 INVITE\r\n\
m: <sip:+62811111@10.0.0.1:5060>\r\n\
Subject: a folded\r\n  header value\r\n\
c: application/sdp\r\n\
l: 8\r\n\r\nv=0\r\no=x";

fn req(text: &str) -> Request {
    match parse(text.as_bytes(), Transport::Udp, 65536) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn rejected(text: &[u8], transport: Transport) -> Rejection {
    parse(text, transport, 65536).unwrap_err()
}

fn status_of(r: Rejection) -> u16 {
    match r {
        Rejection::Respond { status, .. } => status,
        Rejection::Drop(why) => panic!("dropped: {why}"),
    }
}

#[test]
fn compact_forms_multiple_vias_folding_and_ipv6() {
    let r = req(INVITE);
    assert_eq!(header(&r.headers, "Call-ID"), Some("call-1@telco"));
    assert_eq!(header(&r.headers, "From").and_then(tag_of), Some("abc"));
    let vias: Vec<_> = r
        .headers
        .iter()
        .filter(|h| matches!(h, Header::Via(_)))
        .collect();
    assert_eq!(vias.len(), 2);
    let top = top_via(header(&r.headers, "Via").unwrap()).unwrap();
    assert_eq!(top.branch, Some("z9hG4bKtrunk1"));
    assert_eq!(top.sent_by, "10.0.0.1:5060");
    assert_eq!(header(&r.headers, "Subject"), Some("a folded header value"));
    assert_eq!(r.body, b"v=0\r\no=x");
    let v6 = top_via("SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKy").unwrap();
    assert_eq!(v6.host(), "2001:db8::1");
    assert_eq!(v6.port(), 5070);
    assert_eq!(top_via("SIP/2.0/UDP host").unwrap().port(), 5060);
}

#[test]
fn udp_body_without_content_length_is_kept() {
    let text = INVITE.replace("l: 8\r\n", "");
    let r = req(&text);
    assert_eq!(r.body, b"v=0\r\no=x");
}

#[test]
fn tcp_body_without_content_length_is_refused() {
    let text = INVITE.replace("l: 8\r\n", "");
    assert_eq!(status_of(rejected(text.as_bytes(), Transport::Tcp)), 400);
}

#[test]
fn bad_content_lengths_get_400() {
    for bad in [
        "l: x\r\n",
        "l: -1\r\n",
        "l: 999\r\n",
        "l: 8\r\nContent-Length: 7\r\n",
    ] {
        let text = INVITE.replace("l: 8\r\n", bad);
        let r = rejected(text.as_bytes(), Transport::Udp);
        let Rejection::Respond { status, reason, .. } = r else {
            panic!("{bad}")
        };
        assert_eq!(status, 400, "{bad}");
        assert!(reason.contains("Content-Length"), "{bad}: {reason}");
    }
}

#[test]
fn missing_mandatory_headers_get_400_naming_them() {
    for (name, line) in [
        ("Call-ID", "i: call-1@telco\r\n"),
        ("CSeq", "CSeq: 7 INVITE\r\n"),
        (
            "From",
            "f: \"Caller\" <sip:+62811111@telco.example>;tag=abc\r\n",
        ),
        ("To", "t: <sip:112@siaga112>\r\n"),
    ] {
        let text = INVITE.replace(line, "");
        let Rejection::Respond { status, reason, .. } = rejected(text.as_bytes(), Transport::Udp)
        else {
            panic!("{name}")
        };
        assert_eq!(status, 400);
        assert!(reason.contains(name), "{name}: {reason}");
    }
    let no_via = INVITE
        .replace("v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKtrunk1, SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKx\r\n", "")
        .replace("Via: SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKy\r\n", "");
    assert!(matches!(
        rejected(no_via.as_bytes(), Transport::Udp),
        Rejection::Drop(_)
    ));
    let bad_cseq = INVITE.replace("CSeq: 7 INVITE", "CSeq: 7 BYE");
    assert_eq!(
        status_of(rejected(bad_cseq.as_bytes(), Transport::Udp)),
        400
    );
    let bad_cseq = INVITE.replace("CSeq: 7 INVITE", "CSeq: seven INVITE");
    assert_eq!(
        status_of(rejected(bad_cseq.as_bytes(), Transport::Udp)),
        400
    );
}

#[test]
fn truncated_messages_are_refused_without_panic() {
    for cut in 0..INVITE.len() {
        let _ = parse(&INVITE.as_bytes()[..cut], Transport::Udp, 65536);
        let _ = parse(&INVITE.as_bytes()[..cut], Transport::Tcp, 65536);
    }
    // Cut in the head: no blank line, answered 400 when there is a Via.
    let r = rejected(&INVITE.as_bytes()[..200], Transport::Udp);
    assert_eq!(status_of(r), 400);
}

#[test]
fn oversized_messages_get_513() {
    let mut big = INVITE.replace("l: 8", "l: 70008").into_bytes();
    big.extend(std::iter::repeat_n(b'x', 70_000));
    assert_eq!(status_of(rejected(&big, Transport::Udp)), 513);
}

#[test]
fn unknown_methods_get_405_with_allow() {
    let text = INVITE.replace("INVITE", "FROBNICATE");
    match rejected(text.as_bytes(), Transport::Udp) {
        Rejection::Respond { status, extra, .. } => {
            assert_eq!(status, 405);
            assert_eq!(extra, vec![("Allow", ALLOW.to_string())]);
        }
        r => panic!("{r:?}"),
    }
}

#[test]
fn binary_garbage_is_dropped_or_refused() {
    let junk: &[&[u8]] = &[
        b"",
        b"\0\0\0\0",
        b"\r\n\r\n",
        &[0xff; 100],
        b"SIP/2.0 200\r\n\r\n",
    ];
    for j in junk {
        let _ = parse(j, Transport::Udp, 65536);
    }
}

#[test]
fn via_is_stamped_with_received_and_rport() {
    let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
    let v = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP x;branch=z9hG4bK2";
    let s = stamp_via(v, src).unwrap();
    assert_eq!(
        s,
        "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=192.0.2.7;rport=40000, SIP/2.0/UDP x;branch=z9hG4bK2"
    );
    let same: SocketAddr = "10.0.0.1:5060".parse().unwrap();
    assert_eq!(
        stamp_via("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1", same),
        None
    );
    let other_port: SocketAddr = "10.0.0.1:7000".parse().unwrap();
    let p = response_peer(
        "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1",
        Peer::udp(other_port),
    );
    assert_eq!(
        p.addr,
        "10.0.0.1:5060".parse().unwrap(),
        "no rport: the sent-by port"
    );
    let with_rport = stamp_via(
        "SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK1",
        other_port,
    )
    .unwrap();
    let p = response_peer(&with_rport, Peer::udp(other_port));
    assert_eq!(p.addr, other_port, "rport: the source port");
}

#[test]
fn responses_echo_the_request() {
    let r = req(INVITE);
    let echo = Echo::from_request(&r);
    let data = ResponseWriter::new(&echo, 486, "Busy Here", Some("tt"))
        .header("Server", "x")
        .finish(None);
    let text = std::str::from_utf8(&data).unwrap();
    assert!(text.starts_with("SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKtrunk1, SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKx\r\nVia: SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKy\r\n"));
    assert!(text.contains("To: <sip:112@siaga112>;tag=tt\r\n"));
    assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
    // The response parses with the same parser.
    assert!(matches!(
        parse(&data, Transport::Udp, 65536),
        Ok(SipMessage::Response(_))
    ));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse(&data, Transport::Udp, 65536);
        let _ = parse(&data, Transport::Tcp, 65536);
        let _ = scan::scan(&data);
    }

    #[test]
    fn mutated_invites_never_panic(pos in 0usize..400, byte in any::<u8>(), cut in 0usize..420) {
        let mut data = INVITE.as_bytes().to_vec();
        if pos < data.len() { data[pos] = byte; }
        data.truncate(cut.min(data.len()));
        let _ = parse(&data, Transport::Udp, 65536);
    }
}

#[test]
fn service_urns_are_request_targets() {
    for (uri, want) in [
        ("urn:service:sos", "urn:service:sos"),
        ("urn:service:sos.fire", "urn:service:sos.fire"),
        (
            "sip:urn:service:sos.police@127.0.0.1:5060",
            "urn:service:sos.police",
        ),
        ("sip:112@10.0.0.1;user=phone", "112"),
        ("tel:112", "112"),
    ] {
        let u = rsip::Uri::try_from(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_eq!(request_target(&u), want, "{uri} parsed as {u:?}");
    }
}

proptest! {
    #[test]
    fn header_helpers_never_panic(v in "\\PC{0,80}", port in 1u16..65535) {
        let src = SocketAddr::from(([192, 0, 2, 1], port));
        let _ = stamp_via(&v, src);
        let _ = top_via(&v).map(|t| (t.port(), t.host().len()));
        let _ = response_peer(&v, Peer::udp(src));
        let _ = tag_of(&v);
        let _ = parse_cseq(&v);
        // Multi-byte characters next to trailing space in the first entry.
        let tricky = format!("SIP/2.0/UDP h\u{e9}st;branch=z9hG4bK\u{e9}\u{e9} {v}, SIP/2.0/UDP x");
        let _ = stamp_via(&tricky, src);
    }
}

#[test]
fn stamp_via_keeps_a_trailing_space_entry_intact() {
    let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
    let v = "SIP/2.0/UDP h\u{e9}st;branch=z9hG4bK\u{e9}\u{e9} , SIP/2.0/UDP x";
    assert_eq!(
        stamp_via(v, src).unwrap(),
        "SIP/2.0/UDP h\u{e9}st;branch=z9hG4bK\u{e9}\u{e9};received=192.0.2.7, SIP/2.0/UDP x"
    );
}

#[test]
fn the_cseq_method_must_be_the_request_method_as_spelled() {
    let ok = INVITE.to_string();
    assert!(parse(ok.as_bytes(), Transport::Udp, 65535).is_ok());
    for bad in ["CSeq: 7 invite", "CSeq: 7 BYE"] {
        let text = INVITE.replace("CSeq: 7 INVITE", bad);
        assert_ne!(text, INVITE, "the fixture has the CSeq this test edits");
        let Rejection::Respond { status, reason, .. } = rejected(text.as_bytes(), Transport::Udp)
        else {
            panic!("{bad}: expected a response");
        };
        assert_eq!(
            (status, reason.as_str()),
            (400, "CSeq Method Does Not Match Request"),
            "{bad}"
        );
    }
}

#[test]
fn cancel_and_failure_ack_come_from_the_invite_as_sent() {
    let invite = b"INVITE sip:op1@10.0.0.7:5062 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKleg1;rport\r\n\
        Max-Forwards: 70\r\nRoute: <sip:p1.example;lr>\r\nRoute: <sip:p2.example;lr>\r\n\
        From: <sip:+62811@telco>;tag=ours\r\nTo: <sip:op1@10.0.0.7:5062>\r\n\
        Call-ID: leg1@siaga112\r\nCSeq: 7 INVITE\r\nContent-Type: application/sdp\r\n\
        Content-Length: 4\r\n\r\nv=0\n";
    let cancel = String::from_utf8(write::cancel_for(invite).unwrap().to_vec()).unwrap();
    assert_eq!(
        cancel,
        "CANCEL sip:op1@10.0.0.7:5062 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKleg1;rport\r\n\
         Route: <sip:p1.example;lr>\r\nRoute: <sip:p2.example;lr>\r\n\
         From: <sip:+62811@telco>;tag=ours\r\nCall-ID: leg1@siaga112\r\n\
         To: <sip:op1@10.0.0.7:5062>\r\nCSeq: 7 CANCEL\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let ack = write::ack_for_failure(invite, "<sip:op1@10.0.0.7:5062>;tag=busy").unwrap();
    let ack = String::from_utf8(ack.to_vec()).unwrap();
    assert!(
        ack.starts_with("ACK sip:op1@10.0.0.7:5062 SIP/2.0\r\n"),
        "{ack}"
    );
    assert!(
        ack.contains("To: <sip:op1@10.0.0.7:5062>;tag=busy\r\nCSeq: 7 ACK\r\n"),
        "{ack}"
    );
    for m in [&cancel, &ack] {
        assert!(
            parse(m.as_bytes(), Transport::Udp, 65535).is_ok(),
            "parses: {m}"
        );
    }
    assert!(write::cancel_for(b"").is_none());
}

#[test]
fn top_via_and_params_by_byte_scans() {
    let v = top_via(
        " SIP/2.0/UDP  10.0.0.1:5070 ;Branch=z9hG4bKa ; rport ;x=1 , SIP/2.0/TCP h;branch=z9hG4bKb",
    )
    .unwrap();
    assert_eq!(
        (v.transport, v.sent_by, v.branch, v.has_rport),
        ("UDP", "10.0.0.1:5070", Some("z9hG4bKa"), true)
    );
    assert_eq!((v.host(), v.port()), ("10.0.0.1", 5070));
    let v = top_via("SIP/2.0/TCP\t[::1]:5061;branch=;branch=z9hG4bKlater").unwrap();
    assert_eq!((v.transport, v.host(), v.port()), ("TCP", "::1", 5061));
    assert_eq!(v.branch, None, "the first branch counts, and it is empty");
    assert!(!v.has_rport);
    let v = top_via("SIP/2.0/UDP h").unwrap();
    assert_eq!((v.sent_by, v.branch, v.params), ("h", None, ""));
    assert!(top_via("SIP/2.0/UDP").is_none(), "no sent-by");
    assert_eq!(tag_of("\"A;b\" <sip:a@b;tag=no>;x ; TAG = t1 "), Some("t1"));
    assert_eq!(tag_of("sip:a@b;tag=t2;y=1"), Some("t2"));
    assert_eq!(tag_of("<sip:a@b>"), None);
    assert_eq!(param_of(";lr;maddr=x", "lr"), Some(""));
    assert_eq!(param_of("", "lr"), None);
}

#[test]
fn a_request_with_an_unusable_top_via_gets_400() {
    let req = |via: &str| {
        format!(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: {via}\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\n\
             Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    for good in [
        "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKa;rport",
        "SIP/2.0/TCP host.example;branch=z9hG4bKa",
        "sip/2.0/udp [2001:db8::1]:5060;branch=z9hG4bKa",
        "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bKa",
    ] {
        assert!(
            parse(req(good).as_bytes(), Transport::Udp, 65535).is_ok(),
            "{good}"
        );
    }
    for bad in [
        "SIP/2.0/UDP 10.0.0.1:99999;branch=z9hG4bKa",
        "SIP/2.0/UDP 10.0.0.1:x;branch=z9hG4bKa",
        "SIP/2.0/UDP :5060;branch=z9hG4bKa",
        "HTTP/1.1/UDP 10.0.0.1;branch=z9hG4bKa",
        "SIP/2.0/ 10.0.0.1;branch=z9hG4bKa",
    ] {
        match parse(req(bad).as_bytes(), Transport::Udp, 65535) {
            Err(Rejection::Respond {
                status: 400,
                reason,
                ..
            }) => {
                assert_eq!(reason, "Bad Via Header", "{bad}")
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn stamp_via_compares_addresses_and_survives_unicode_space() {
    let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
    assert_eq!(
        stamp_via("SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKa", src),
        None
    );
    assert_eq!(
        stamp_via("SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKa;rport", src).unwrap(),
        "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKa;received=192.0.2.7;rport=40000"
    );
    let v6: SocketAddr = "[2001:db8::1]:5070".parse().unwrap();
    assert_eq!(
        stamp_via("SIP/2.0/UDP [2001:db8:0::1]:5070;branch=z9hG4bKa", v6),
        None
    );
    // A no-break space at the end of the first entry is not LWS: kept, no panic.
    let nbsp = "SIP/2.0/UDP host;branch=z9hG4bKa\u{a0}, SIP/2.0/UDP x";
    assert_eq!(
        stamp_via(nbsp, src).unwrap(),
        "SIP/2.0/UDP host;branch=z9hG4bKa\u{a0};received=192.0.2.7, SIP/2.0/UDP x"
    );
}

#[test]
fn response_head_reads_status_branch_and_cseq_or_gives_way_to_the_full_parse() {
    let resp = |first: &str, rest: &str| {
        format!(
            "{first}\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport\r\n\
             v: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKother\r\nFrom: <sip:a@b>;tag=1\r\n\
             To: <sip:c@d>;tag=2\r\nCall-ID: x\r\n{rest}Content-Length: 0\r\n\r\n"
        )
    };
    let ringing = resp("SIP/2.0 180 Ringing", "CSeq: 1 INVITE\r\n");
    assert_eq!(
        response_head(ringing.as_bytes(), Transport::Udp, 65535),
        Some(ResponseHead {
            status: 180,
            branch: "z9hG4bKabc",
            method: "INVITE"
        })
    );
    let ok = resp("SIP/2.0 200 OK", "cseq:  2 BYE \r\n");
    assert_eq!(
        response_head(ok.as_bytes(), Transport::Udp, 65535)
            .unwrap()
            .method,
        "BYE"
    );
    for odd in [
        resp("INVITE sip:a@b SIP/2.0", "CSeq: 1 INVITE\r\n"),
        resp("SIP/2.0 18 Ringing", "CSeq: 1 INVITE\r\n"),
        resp("SIP/2.0 999 What", "CSeq: 1 INVITE\r\n"),
        resp("SIP/2.0 180 Ringing", ""),
        resp(
            "SIP/2.0 180 Ringing",
            "CSeq: 1 INVITE\r\nCSeq: 2 INVITE\r\n",
        ),
        resp("SIP/2.0 180 Ringing", "CSeq: 1 INVITE\r\n folded\r\n"),
        resp("SIP/2.0 180 Ringing", "CSeq: 1 INVITE\r\nno colon here\r\n"),
        resp("SIP/2.0 180 Ringing", "CSeq: 1 INVITE\r\n").replace("branch=z9hG4bKabc;", ""),
        resp("SIP/2.0 180 Ringing", "CSeq: 1 INVITE\r\n")
            .replace("Content-Length: 0", "Content-Length: 9"),
    ] {
        assert_eq!(
            response_head(odd.as_bytes(), Transport::Udp, 65535),
            None,
            "{odd}"
        );
    }
    assert_eq!(
        response_head(ringing.as_bytes(), Transport::Udp, 100),
        None,
        "too large"
    );
    assert_eq!(
        response_head(b"SIP/2.0 180 \xff\r\n\r\n", Transport::Udp, 65535),
        None
    );
}

proptest! {
    #[test]
    fn response_head_never_panics_and_agrees_with_the_full_parse(
        status in 100u16..700, branch in "z9hG4bK[a-z0-9]{1,12}", method in "INVITE|BYE|CANCEL|INFO",
        value in "[a-zA-Z0-9 ;=.<>@:]{0,40}", junk in "\\PC{0,80}",
    ) {
        let text = format!(
            "SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP h;branch={branch}\r\nFrom: <sip:a@b>;tag=1\r\n\
             To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 5 {method}\r\nX-Extra: {value}\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = response_head(junk.as_bytes(), Transport::Udp, 65535);
        let _ = response_head(format!("SIP/2.0 200 OK\r\n{junk}\r\n\r\n").as_bytes(), Transport::Udp, 65535);
        let h = response_head(text.as_bytes(), Transport::Udp, 65535);
        prop_assert!(h.is_some(), "a plain response is read by the scan");
        if let Some(h) = h {
            let Ok(SipMessage::Response(r)) = parse(text.as_bytes(), Transport::Udp, 65535) else {
                return Err(TestCaseError::fail("the scan read what the full parse refuses"));
            };
            prop_assert_eq!(h.status, r.status_code.code());
            prop_assert_eq!(h.branch, top_via(header(&r.headers, "Via").unwrap()).unwrap().branch.unwrap());
            prop_assert_eq!(h.method, parse_cseq(header(&r.headers, "CSeq").unwrap()).unwrap().1);
        }
    }
}

#[test]
fn sips_and_transport_tls_resolve_to_tls() {
    use super::{resolve, ConnId, Peer, Transport};
    let udp = Peer::udp("127.0.0.1:5090".parse().unwrap());
    let p = resolve("sips:op1@127.0.0.1", udp);
    assert_eq!(
        (p.transport, p.addr.port(), p.conn),
        (Transport::Tls, 5061, None)
    );
    let p = resolve("sip:op1@127.0.0.1:5070;transport=TLS", udp);
    assert_eq!((p.transport, p.addr.port()), (Transport::Tls, 5070));
    // The connection a TLS peer has to that address is reused, a TCP one is not.
    let conn = Peer::tls("127.0.0.1:5070".parse().unwrap(), Some(ConnId(7)));
    assert_eq!(
        resolve("sips:op1@127.0.0.1:5070", conn).conn,
        Some(ConnId(7))
    );
    let tcp = Peer::tcp("127.0.0.1:5070".parse().unwrap(), Some(ConnId(8)));
    let p = resolve("sips:op1@127.0.0.1:5070", tcp);
    assert_eq!((p.transport, p.conn), (Transport::Tls, None));
    assert_eq!(resolve("sip:op1@127.0.0.1:5070;transport=tcp", tcp), tcp);
    assert_eq!(resolve("sip:op1@127.0.0.1:5070", tcp), tcp);
}
