//! Fuzz targets on stable Rust (proptest): each takes a seed from the corpus
//! (tests/data/rfc4475 for messages, tests/data/fuzz for bodies and header
//! values), mutates it (flipped, inserted, deleted, duplicated bytes, tokens
//! that parsers trip on) and feeds it to one part of the engine, which must
//! neither panic nor break its own rules. Under `cargo test` each runs a few
//! hundred cases; `scripts/fuzz.sh` runs them for a given time with
//! `FUZZ_CASES` large and reports executions. A failure is saved by
//! proptest in tests/fuzz.proptest-regressions and replayed on every run
//! from then on (the regression test).

mod sim;

use proptest::prelude::*;
use siaga112::core::Input;
use siaga112::sip::{self, framing, ConnId, Peer, Transport};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Mutations of valid messages are rarely rejected by the strategy.
        max_global_rejects: cases.saturating_mul(4),
        ..ProptestConfig::default()
    }
}

fn load(dir: &str, ext: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// SIP messages: the torture messages and the ones the simulator sends.
fn messages() -> Arc<Vec<Vec<u8>>> {
    static M: OnceLock<Arc<Vec<Vec<u8>>>> = OnceLock::new();
    M.get_or_init(|| {
        let mut m = load("tests/data/rfc4475", "dat");
        m.push(sim::trunk_invite().into_bytes());
        Arc::new(m)
    })
    .clone()
}

fn seeds(prefix: &str) -> Arc<Vec<Vec<u8>>> {
    let all = load("tests/data/fuzz", "txt");
    let names: Vec<_> = {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
        let mut n: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".txt"))
            .collect();
        n.sort();
        n
    };
    Arc::new(
        names
            .iter()
            .zip(all)
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(_, d)| d)
            .collect(),
    )
}

/// What parsers trip on: separators, escapes, folding, huge and negative
/// numbers, NUL and non-UTF-8 bytes, header lines that change framing.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\r\n ",
    b"\r\n\r\n",
    b" ",
    b"\t",
    b";",
    b",",
    b"\"",
    b"\\",
    b"<",
    b">",
    b":",
    b"=",
    b"/",
    b"@",
    b"%",
    b"%00",
    b"\0",
    b"\xff\xfe",
    b"\xe2\x80",
    b"0",
    b"-1",
    b"4294967296",
    b"99999999999999999999",
    b"Content-Length: 4294967295\r\n",
    b"Content-Length: 0\r\n",
    b"l: 10\r\n",
    b"Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKfz\r\n",
    b"CSeq: 1 ACK\r\n",
    b"To: <sip:a@b>;tag=x\r\n",
    b"Contact: *\r\n",
    b"Require: foo\r\n",
    b"Authorization: Digest username=\"op1\", nonce=\"1.2\", response=\"\"\r\n",
    b"sip:",
    b"SIP/2.0 200 OK\r\n",
    b"ACK sip:a@b SIP/2.0\r\n",
    b"nc=ffffffff",
    b"qop=auth",
    b"algorithm=SHA-256",
    b"m=audio 0 RTP/AVP\r\n",
    b"a=rtpmap:96 \r\n",
    b"c=IN IP6 ::1\r\n",
    b"--b1\r\n",
    b"--b1--",
    b"Content-Type: multipart/mixed;boundary=b1\r\n",
    b"<?xml",
    b"&amp;",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, usize),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
    Bytes(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Flip(p, b)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(p, t)| Mutation::Insert(p, t)),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Mutation::Delete(p, n)),
        (any::<usize>(), 1usize..256).prop_map(|(p, n)| Mutation::Duplicate(p, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(p, b)| Mutation::Bytes(p, b)),
    ]
}

fn apply(seed: &[u8], ms: &[Mutation]) -> Vec<u8> {
    let mut d = seed.to_vec();
    for m in ms {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match m {
            Mutation::Flip(p, b) if !d.is_empty() => {
                let i = p % d.len();
                d[i] = *b;
            }
            Mutation::Flip(..) => {}
            Mutation::Insert(p, t) => {
                let i = at(*p, d.len());
                d.splice(i..i, TOKENS[*t].iter().copied());
            }
            Mutation::Delete(p, n) => {
                let i = at(*p, d.len());
                let end = (i + n).min(d.len());
                d.drain(i..end);
            }
            Mutation::Duplicate(p, n) => {
                let i = at(*p, d.len());
                let end = (i + n).min(d.len());
                let part = d[i..end].to_vec();
                d.splice(end..end, part);
            }
            Mutation::Truncate(p) => {
                let i = at(*p, d.len());
                d.truncate(i);
            }
            Mutation::Bytes(p, b) => {
                let i = at(*p, d.len());
                d.splice(i..i, b.iter().copied());
            }
        }
    }
    d
}

fn mutated(corpus: Arc<Vec<Vec<u8>>>) -> impl Strategy<Value = Vec<u8>> {
    let n = corpus.len();
    (0..n, prop::collection::vec(mutation(), 0..8)).prop_map(move |(i, ms)| apply(&corpus[i], &ms))
}

static EXECUTIONS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

fn count(target: usize) {
    let n = EXECUTIONS[target].fetch_add(1, Ordering::Relaxed) + 1;
    let cfg = cases(0).cases as u64;
    if cfg > 0 && n == cfg {
        // The line scripts/fuzz.sh adds up.
        println!("fuzz-executions target={} n={n}", NAMES[target]);
    }
}

const NAMES: [&str; 6] = ["parse", "framing", "digest", "sdp", "multipart", "core"];

proptest! {
    #![proptest_config(cases(300))]

    /// The parser and the checks before it, the byte scans, the quick
    /// response head and the answerability of whatever parsed.
    #[test]
    fn fuzz_parse(data in mutated(messages()), tcp in any::<bool>()) {
        count(0);
        let t = if tcp { Transport::Tcp } else { Transport::Udp };
        let _ = sip::scan::scan(&data);
        let _ = sip::response_head(&data, t, 65_535);
        if let Some(end) = sip::scan::find_head_end(&data) {
            let _ = sip::scan::content_length(&data[..end]);
        }
        if let Ok(msg) = sip::parse(&data, t, 65_535) {
            // What parsed has the headers the engine relies on.
            let headers = match &msg {
                sip::rsip::SipMessage::Request(r) => &r.headers,
                sip::rsip::SipMessage::Response(r) => &r.headers,
            };
            let via = sip::header(headers, "Via");
            prop_assert!(via.is_some());
            let _ = via.and_then(sip::top_via);
        }
    }

    /// The TCP framer over a stream of mutated messages cut at random
    /// places: every frame within the limit, no panic, no endless loop.
    #[test]
    fn fuzz_framing(
        parts in prop::collection::vec(mutated(messages()), 1..4),
        cuts in prop::collection::vec(1usize..512, 1..16),
    ) {
        count(1);
        let stream: Vec<u8> = parts.concat();
        let max = 16_384;
        let mut f = framing::Framer::new(max);
        let (mut pos, mut cut) = (0, 0);
        let mut frames = 0;
        while pos < stream.len() {
            let n = cuts[cut % cuts.len()].min(stream.len() - pos);
            cut += 1;
            f.push(&stream[pos..pos + n]);
            pos += n;
            loop {
                match f.next_frame() {
                    Ok(Some(framing::Frame::Message(m))) => {
                        prop_assert!(m.len() <= max + 4 + max, "frame of {}", m.len());
                        frames += 1;
                    }
                    Ok(Some(framing::Frame::Ping)) => frames += 1,
                    Ok(None) => break,
                    Err(_) => break,
                }
                prop_assert!(frames <= stream.len() + 1, "more frames than bytes");
            }
        }
    }

    /// Digest credentials: parsing and the response computed from them.
    #[test]
    fn fuzz_digest(data in mutated(seeds("auth"))) {
        count(2);
        let text = String::from_utf8_lossy(&data);
        if let Ok(a) = sip::digest::parse_authorization(&text) {
            let _ = sip::digest::expected_response(&a, "secret1", "REGISTER");
        }
        let mint = sip::digest::NonceMint::new(7);
        let _ = mint.check(&text, 1_000, 300_000);
    }

    /// SDP: parsing, what the engine reads of an offer, the relay rewrite.
    #[test]
    fn fuzz_sdp(data in mutated(seeds("sdp"))) {
        count(3);
        if let Ok(sdp) = sip::sdp::parse(&data) {
            if let Some((_, m)) = sdp.audio() {
                let _ = m.codecs();
                let _ = sdp.remote(m);
            }
        }
        let _ = sip::sdp::rewrite(&data, "127.0.0.1".parse().unwrap(), 40_000);
    }

    /// Multipart bodies with their SDP and PIDF-LO parts.
    #[test]
    fn fuzz_multipart(data in mutated(seeds("multipart")), nested in any::<bool>()) {
        count(4);
        let ct = if nested {
            "multipart/mixed; boundary=\"b1\""
        } else {
            "multipart/mixed;boundary=b1"
        };
        let body = sip::body::parse(ct, &data);
        let _ = sip::body::find_sdp(&body);
        for part in body.iter() {
            let bytes = part.bytes(&data);
            let _ = sip::body::parse_pidf_lo(bytes);
        }
        let _ = sip::body::parse_pidf_lo(&data);
    }

    /// The whole core (transaction layer, registrar, B2BUA, rejections):
    /// a few mutated messages over UDP and TCP with time passing between.
    #[test]
    fn fuzz_core(
        msgs in prop::collection::vec((mutated(messages()), any::<bool>(), 0u64..40_000), 1..6),
    ) {
        count(5);
        let mut s = sim::Sim::new();
        let from = "127.0.0.1:5090".parse().unwrap();
        for (data, tcp, wait_ms) in msgs {
            let peer = if tcp { Peer::tcp(from, Some(ConnId(1))) } else { Peer::udp(from) };
            let now = s.now;
            s.core.handle_input(now, Input::Receive { peer, data: &data });
            s.advance(Duration::from_millis(wait_ms));
        }
        s.advance(Duration::from_secs(60));
    }
}
