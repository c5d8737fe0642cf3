//! SIP parse of a typical trunk INVITE, and transaction matching with
//! 10,000 live transactions.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use siaga112::sip::rsip::{Request, Response, SipMessage};
use siaga112::sip::{self, Peer, Transport};
use siaga112::transaction::{TimerConfig, Transactions};
use std::time::Instant;

pub const TRUNK_INVITE: &str = "INVITE sip:112@10.20.0.5:5060;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.10.1.20:5060;branch=z9hG4bK-524287-1---7c1e3f5a8d2b;rport\r\n\
Max-Forwards: 69\r\n\
Contact: <sip:+6281234567890@10.10.1.20:5060;transport=udp>\r\n\
To: <sip:112@10.20.0.5;user=phone>\r\n\
From: \"+6281234567890\" <sip:+6281234567890@10.10.1.20;user=phone>;tag=7c1e3f5a\r\n\
Call-ID: 5a8d2b7c1e3f@10.10.1.20\r\n\
CSeq: 1 INVITE\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE\r\n\
Supported: timer, replaces\r\n\
P-Asserted-Identity: <sip:+6281234567890@telco.example;user=phone>\r\n\
Session-Expires: 1800\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 232\r\n\r\n\
v=0\r\n\
o=- 3918309273 3918309273 IN IP4 10.10.1.30\r\n\
s=-\r\n\
c=IN IP4 10.10.1.30\r\n\
t=0 0\r\n\
m=audio 31000 RTP/AVP 8 0 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

fn request(i: usize) -> Request {
    let raw = format!(
        "OPTIONS sip:112@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{i}\r\n\
         From: <sip:a@x>;tag=f{i}\r\nTo: <sip:b@x>\r\nCall-ID: c{i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    match SipMessage::try_from(raw.as_str()).unwrap() {
        SipMessage::Request(r) => r,
        _ => unreachable!(),
    }
}

fn response(i: usize) -> Response {
    let raw = format!(
        "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKc{i}\r\n\
         From: <sip:a@x>;tag=f{i}\r\nTo: <sip:b@x>;tag=t\r\nCall-ID: c{i}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    );
    match SipMessage::try_from(raw.as_str()).unwrap() {
        SipMessage::Response(r) => r,
        _ => unreachable!(),
    }
}

fn bench_parse(c: &mut Criterion) {
    let data = TRUNK_INVITE.as_bytes();
    assert!(sip::parse(data, Transport::Udp, 65536).is_ok());
    c.bench_function(
        "parse trunk INVITE (rsipstack fork, with our checks)",
        |b| b.iter(|| sip::parse(black_box(data), Transport::Udp, 65536)),
    );
    c.bench_function("parse trunk INVITE (rsipstack fork alone, baseline)", |b| {
        b.iter(|| sip::rsip::parser::parse_message(black_box(data)))
    });
}

fn bench_match(c: &mut Criterion) {
    let now = Instant::now();
    let peer = Peer::udp("127.0.0.1:5070".parse().unwrap());
    let mut t = Transactions::new(TimerConfig::default());
    for i in 0..10_000 {
        t.on_request(now, &request(i), peer);
    }
    for i in 0..10_000 {
        let inv = format!(
            "INVITE sip:op@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKc{i}\r\n\
             From: <sip:a@x>;tag=f{i}\r\nTo: <sip:b@x>\r\nCall-ID: c{i}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        let SipMessage::Request(r) = SipMessage::try_from(inv.as_str()).unwrap() else {
            unreachable!()
        };
        t.send_request(now, r, peer);
    }
    while t.poll_event().is_some() {}
    assert_eq!(t.len(), (10_000, 10_000));
    let retrans = request(4242);
    c.bench_function(
        "match a request retransmission among 10k server transactions",
        |b| {
            b.iter(|| {
                let m = t.on_request(now, black_box(&retrans), peer);
                while t.poll_event().is_some() {}
                m
            })
        },
    );
    let resp = response(4242);
    c.bench_function("match a response among 10k client transactions", |b| {
        b.iter(|| t.on_response(now, black_box(&resp)))
    });
}

criterion_group!(benches, bench_parse, bench_match);
criterion_main!(benches);
