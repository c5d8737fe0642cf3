use super::super::*;
use super::{crlf, sample};
use proptest::prelude::*;

fn cut<'a>(body: &'a [u8], p: &Part) -> &'a str {
    std::str::from_utf8(p.bytes(body)).unwrap()
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

fn two_parts(sep: &str) -> Vec<u8> {
    let text = format!(
        "--unique-boundary-1{sep}Content-Type: application/sdp{sep}{sep}{SDP}{sep}\
         --unique-boundary-1{sep}Content-Type: application/pidf+xml{sep}\
         Content-ID: <target123@atlanta.example.com>{sep}\
         Content-Disposition: render;handling=optional{sep}{sep}<presence/>{sep}\
         --unique-boundary-1--{sep}"
    );
    text.into_bytes()
}

#[test]
fn a_plain_body_is_one_part() {
    let b = parse("Application/SDP ; charset=\"utf-8\"", SDP.as_bytes());
    assert_eq!(b.problems, Vec::<String>::new());
    assert_eq!(b.parts.len(), 1);
    let p = &b.parts[0];
    assert_eq!(p.content_type, "application/sdp");
    assert_eq!(p.param("CHARSET"), Some("utf-8"));
    assert_eq!(p.range, 0..SDP.len());
    assert!(find_sdp(&b).is_some());
}

#[test]
fn no_body_no_parts_and_untyped_body_is_text() {
    assert_eq!(parse("", b""), Body::default());
    let b = parse(" ", b"hello");
    assert_eq!(b.parts[0].content_type, "text/plain");
    assert_eq!(b.problems.len(), 1);
    let b = parse("garbage", b"x");
    assert_eq!(b.parts[0].content_type, "garbage");
    assert!(
        b.problems[0].contains("not type/subtype"),
        "{:?}",
        b.problems
    );
}

#[test]
fn sdp_and_pidf_with_crlf_and_with_bare_lf() {
    for sep in ["\r\n", "\n"] {
        let body = two_parts(sep);
        let b = parse("multipart/mixed;boundary=unique-boundary-1", &body);
        assert_eq!(b.problems, Vec::<String>::new(), "{sep:?}");
        assert_eq!(b.parts.len(), 2);
        let sdp = find_sdp(&b).unwrap();
        // The line end before the delimiter is the delimiter's.
        assert_eq!(cut(&body, sdp), format!("{SDP}"), "{sep:?}");
        let pidf = &b.parts[1];
        assert_eq!(pidf.content_type, "application/pidf+xml");
        assert_eq!(
            pidf.content_id.as_deref(),
            Some("target123@atlanta.example.com")
        );
        assert_eq!(pidf.disposition.as_deref(), Some("render"));
        assert_eq!(
            pidf.header("content-disposition"),
            Some("render;handling=optional")
        );
        assert_eq!(cut(&body, pidf), "<presence/>");
        assert_eq!(
            b.by_content_id("<TARGET123@atlanta.example.com>")
                .unwrap()
                .range,
            pidf.range
        );
    }
}

/// RFC 2046 §5.1.1's example: quoted boundary with a space, preamble and
/// epilogue, a part with no headers that does not end with a line break.
#[test]
fn rfc2046_simple_boundary() {
    let text = "This is the preamble.  It is to be ignored, though it\n\
is a handy place for composition agents to include an\n\
explanatory note to non-MIME conformant readers.\n\
\n\
--simple boundary\n\
\n\
This is implicitly typed plain US-ASCII text.\n\
It does NOT end with a linebreak.\n\
--simple boundary\n\
Content-type: text/plain; charset=us-ascii\n\
\n\
This is explicitly typed plain US-ASCII text.\n\
It DOES end with a linebreak.\n\
\n\
--simple boundary--\n\
\n\
This is the epilogue.  It is also to be ignored.\n";
    let body = crlf(text.as_bytes());
    let b = parse("multipart/mixed; boundary=\"simple boundary\"", &body);
    assert_eq!(b.problems, Vec::<String>::new());
    assert_eq!(b.parts.len(), 2);
    assert_eq!(b.parts[0].content_type, "text/plain");
    assert!(b.parts[0].headers.is_empty());
    assert_eq!(
        cut(&body, &b.parts[0]),
        "This is implicitly typed plain US-ASCII text.\r\nIt does NOT end with a linebreak."
    );
    assert_eq!(b.parts[1].param("charset"), Some("us-ascii"));
    assert_eq!(
        cut(&body, &b.parts[1]),
        "This is explicitly typed plain US-ASCII text.\r\nIt DOES end with a linebreak.\r\n"
    );
}

#[test]
fn boundary_with_special_characters_and_padding() {
    let boundary = "'()+_,-./:=? x;y";
    let body = format!(
        "--{boundary}  \r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n\
         --{boundary}x\r\nnot a delimiter: the boundary goes on\r\n\
         --{boundary}--\t\r\n"
    );
    let ct = format!(
        "multipart/mixed; boundary=\"{}\"",
        boundary.replace('"', "\\\"")
    );
    let b = parse(&ct, body.as_bytes());
    assert_eq!(b.problems, Vec::<String>::new());
    assert_eq!(b.parts.len(), 1);
    let part = cut(body.as_bytes(), &b.parts[0]);
    assert!(part.starts_with(SDP), "{part:?}");
    assert!(part.ends_with("the boundary goes on"), "{part:?}");
}

#[test]
fn a_missing_close_delimiter_keeps_the_last_part() {
    let body = format!("--b\r\nContent-Type: application/sdp\r\n\r\n{SDP}");
    let b = parse("multipart/mixed; boundary=b", body.as_bytes());
    assert_eq!(cut(body.as_bytes(), find_sdp(&b).unwrap()), SDP);
    assert_eq!(b.problems.len(), 1);
    assert!(b.problems[0].contains("no closing boundary"));
}

#[test]
fn a_boundary_that_never_occurs_gives_one_opaque_part() {
    let b = parse("multipart/mixed; boundary=zzz", SDP.as_bytes());
    assert_eq!(b.parts.len(), 1);
    assert_eq!(b.parts[0].content_type, "multipart/mixed");
    assert_eq!(b.parts[0].range, 0..SDP.len());
    assert!(b.problems[0].contains("never occurs"), "{:?}", b.problems);
    assert!(find_sdp(&b).is_none());
    for ct in ["multipart/mixed", "multipart/mixed; boundary=\"\""] {
        let b = parse(ct, SDP.as_bytes());
        assert_eq!(b.parts.len(), 1);
        assert_eq!(b.problems.len(), 1, "{ct}");
    }
}

#[test]
fn empty_parts_and_no_parts() {
    let body = b"--b\r\n--b\r\n\r\n\r\n--b--";
    let b = parse("multipart/mixed; boundary=b", body);
    assert_eq!(b.parts.len(), 2);
    assert!(b.parts.iter().all(|p| p.range.is_empty()));
    let b = parse("multipart/mixed; boundary=b", b"preamble\r\n--b--\r\n");
    assert!(b.parts.is_empty());
    assert_eq!(
        b.problems,
        vec!["the multipart body has no parts".to_string()]
    );
}

#[test]
fn nested_mixed_and_alternative() {
    let inner = format!(
        "--alt\r\nContent-Type: text/plain\r\n\r\nno SDP here\r\n\
         --alt\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--alt--"
    );
    let body = format!(
        "--outer\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n{inner}\r\n\
         --outer\r\nContent-Type: application/pidf+xml\r\nContent-ID: <loc@x>\r\n\r\n<x/>\r\n\
         --outer--\r\n"
    );
    let b = parse("multipart/mixed; boundary=outer", body.as_bytes());
    assert_eq!(b.problems, Vec::<String>::new());
    assert_eq!(b.parts.len(), 2);
    assert_eq!(b.parts[0].children.len(), 2);
    assert_eq!(cut(body.as_bytes(), &b.parts[0]), inner);
    let sdp = find_sdp(&b).unwrap();
    assert_eq!(cut(body.as_bytes(), sdp), SDP);
    let order: Vec<&str> = b.iter().map(|p| p.content_type.as_str()).collect();
    assert_eq!(
        order,
        [
            "multipart/alternative",
            "text/plain",
            "application/sdp",
            "application/pidf+xml"
        ]
    );
    let new = replace_part(body.as_bytes(), sdp, b"v=0\r\n");
    let again = parse("multipart/mixed; boundary=outer", &new);
    assert_eq!(find_sdp(&again).unwrap().bytes(&new), b"v=0\r\n");
    assert_eq!(again.by_content_id("loc@x").unwrap().bytes(&new), b"<x/>");
}

#[test]
fn nesting_deeper_than_the_limit_is_left_opaque() {
    let mut body = format!("--b0\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--b0--");
    for i in 1..20 {
        body = format!(
            "--b{i}\r\nContent-Type: multipart/mixed; boundary=b{}\r\n\r\n{body}\r\n--b{i}--",
            i - 1
        );
    }
    let b = parse("multipart/mixed; boundary=b19", body.as_bytes());
    assert!(find_sdp(&b).is_none());
    assert_eq!(b.problems.len(), 1, "{:?}", b.problems);
    assert!(b.problems[0].contains("nested deeper"));
    let depth = std::iter::successors(b.parts.first(), |p| p.children.first()).count();
    assert_eq!(depth, MAX_DEPTH);
}

#[test]
fn a_garbled_part_does_not_cost_the_others() {
    let body = format!(
        "--b\r\nContent-Type: application/sdp\r\n{SDP}\r\n\
         --b\r\n\u{1}\u{2}garbage without headers\r\n\
         --b\r\nContent-Type: text/plain\r\n folded: on\r\n\tsecond line\r\n\r\nok\r\n\
         --b\r\nContent-Transfer-Encoding: base64\r\nContent-Type: application/pidf+xml\r\n\r\nPHgvPg==\r\n\
         --b--"
    );
    let b = parse("multipart/mixed; boundary=b", body.as_bytes());
    assert_eq!(b.parts.len(), 4);
    // No empty line after the headers: the content starts at the SDP.
    assert_eq!(cut(body.as_bytes(), find_sdp(&b).unwrap()), SDP);
    assert_eq!(
        cut(body.as_bytes(), &b.parts[1]),
        "\u{1}\u{2}garbage without headers"
    );
    assert_eq!(
        b.parts[2].header("content-type"),
        Some("text/plain folded: on second line")
    );
    assert_eq!(cut(body.as_bytes(), &b.parts[2]), "ok");
    assert_eq!(b.problems.len(), 3, "{:?}", b.problems);
    assert!(b.problems[0].starts_with("part 1:"));
    assert!(b.problems[1].starts_with("part 2:"));
    assert!(b.problems[2].contains("base64"));
}

#[test]
fn digest_parts_default_to_messages() {
    let body = b"--d\r\n\r\nINVITE sip:x SIP/2.0\r\n\r\n--d--";
    let b = parse("multipart/digest; boundary=d", body);
    assert_eq!(b.parts[0].content_type, "message/rfc822");
}

#[test]
fn a_body_near_the_message_limit() {
    let filler = "x".repeat(60 * 1024);
    let body = format!(
        "--b\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\n{filler}\r\n--b--\r\n"
    );
    assert!(body.len() > 60 * 1024 && body.len() < 64 * 1024);
    let b = parse("multipart/mixed; boundary=b", body.as_bytes());
    assert_eq!(b.problems, Vec::<String>::new());
    assert_eq!(b.parts[1].range.len(), filler.len());
    let same = replace_part(body.as_bytes(), find_sdp(&b).unwrap(), SDP.as_bytes());
    assert_eq!(same, body.as_bytes());
}

#[test]
fn many_problems_are_capped() {
    let body = "--b\r\nnot a header\r\n".repeat(200);
    let b = parse("multipart/mixed; boundary=b", body.as_bytes());
    assert_eq!(b.parts.len(), 200);
    assert_eq!(b.problems.len(), MAX_PROBLEMS + 1);
}

#[test]
fn replace_part_clamps_a_foreign_range() {
    let part = Part {
        range: 5..100,
        ..Part::default()
    };
    assert_eq!(replace_part(b"0123456789", &part, b"x"), b"01234x");
    let part = Part {
        range: 50..100,
        ..Part::default()
    };
    assert_eq!(replace_part(b"0123", &part, b"x"), b"0123x");
}

/// RFC 6442 §3.2's INVITE body: the RFC prints an empty line after each
/// boundary line, which read strictly would make its headers content.
#[test]
fn rfc6442_example_body() {
    let body = crlf(&sample("rfc6442-3.2-invite-body.txt"));
    let b = parse("multipart/mixed; boundary=boundary1", &body);
    assert_eq!(b.parts.len(), 2);
    assert_eq!(b.problems.len(), 2, "{:?}", b.problems);
    assert!(b.problems[0].contains("empty line before its headers"));
    assert_eq!(cut(&body, find_sdp(&b).unwrap()), "...SDP goes here\r\n");
    let refs = parse_geolocation("<cid:target123@atlanta.example.com>");
    let GeoRef::Cid(cid) = &refs[0] else {
        panic!("{refs:?}")
    };
    let part = b.by_content_id(cid).unwrap();
    assert_eq!(part.content_type, "application/pidf+xml");
    let loc = parse_pidf_lo(part.bytes(&body)).unwrap();
    assert_eq!(
        loc.shapes,
        [Shape::Point(Position::new(32.86726, -97.16054))]
    );
    assert_eq!(loc.method.as_deref(), Some("802.11"));
    assert_eq!(loc.device_id.as_deref(), Some("mac:1234567890ab"));
    assert_eq!(loc.timestamp.as_deref(), Some("2010-11-04T20:57:29Z"));
    assert_eq!(
        loc.entity.as_deref(),
        Some("pres:alice@atlanta.example.com")
    );
    assert_eq!(loc.retransmission_allowed, Some(false));
    assert_eq!(
        loc.retention_expiry.as_deref(),
        Some("2010-11-14T20:00:00Z")
    );
    assert_eq!(loc.problems, Vec::<String>::new());
    assert_eq!(parse_geolocation_routing("no"), GeoRouting::No);
}

/// Every part lies inside the body, and children inside their parent.
fn check_ranges(parts: &[Part], within: std::ops::Range<usize>) {
    for p in parts {
        assert!(p.range.start <= p.range.end, "{p:?}");
        assert!(within.start <= p.range.start && p.range.end <= within.end);
        check_ranges(&p.children, p.range.clone());
    }
}

/// Bodies made of the pieces that matter to the scanner.
fn scanner_food() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"--b".to_vec()),
        Just(b"--b--".to_vec()),
        Just(b"--c".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b" ".to_vec()),
        Just(b"Content-Type: multipart/mixed; boundary=c".to_vec()),
        Just(b"Content-Type: application/sdp".to_vec()),
        Just(b"Content-ID: <a@b>".to_vec()),
        Just(b"x: y".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        ct in ".{0,80}",
        body in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let b = parse(&ct, &body);
        check_ranges(&b.parts, 0..body.len());
        if let Some(p) = find_sdp(&b) {
            prop_assert_eq!(replace_part(&body, p, p.bytes(&body)), body.clone());
        }
    }

    #[test]
    fn scanner_food_never_panics(body in scanner_food(), ct_pick in 0usize..4) {
        let ct = ["multipart/mixed; boundary=b", "multipart/related;boundary=\"b\"",
                  "multipart/digest; boundary=b", "multipart/mixed; boundary=c"][ct_pick];
        let b = parse(ct, &body);
        check_ranges(&b.parts, 0..body.len());
        prop_assert!(b.problems.len() <= MAX_PROBLEMS + 1);
        for p in b.iter() {
            prop_assert_eq!(replace_part(&body, p, p.bytes(&body)), body.clone());
        }
    }
}

/// A generated part: its headers and content.
type GenPart = (Vec<(String, String)>, Vec<u8>);

#[derive(Clone, Debug)]
struct Gen {
    boundary: String,
    sep: &'static str,
    preamble: String,
    epilogue: String,
    /// (headers, content) of each part; the SDP is part `sdp`.
    parts: Vec<GenPart>,
    sdp: usize,
    /// Put the SDP inside a nested multipart/alternative.
    nested: bool,
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..120),
        "[ -~\r\n]{0,120}".prop_map(String::into_bytes),
    ]
}

fn generated() -> impl Strategy<Value = Gen> {
    let headers = prop_oneof![
        Just(vec![]),
        Just(vec![("Content-Type".to_string(), "text/plain".to_string())]),
        Just(vec![
            (
                "Content-Type".to_string(),
                "application/pidf+xml".to_string()
            ),
            ("Content-ID".to_string(), "<loc@example.id>".to_string()),
        ]),
    ];
    (
        "[A-Za-z0-9'()+_,./:=? -]{0,30}[A-Za-z0-9]",
        prop_oneof![Just("\r\n"), Just("\n")],
        "[ -~]{0,40}",
        "[ -~\r\n]{0,40}",
        proptest::collection::vec((headers, content()), 0..5),
        content(),
        any::<proptest::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(
            |(boundary, sep, preamble, epilogue, mut parts, sdp_content, at, nested)| {
                let sdp = at.index(parts.len() + 1);
                let h = vec![("Content-Type".to_string(), "application/sdp".to_string())];
                parts.insert(sdp, (h, sdp_content));
                Gen {
                    boundary,
                    sep,
                    preamble,
                    epilogue,
                    parts,
                    sdp,
                    nested,
                }
            },
        )
}

fn write_multipart(
    boundary: &str,
    sep: &str,
    preamble: &str,
    parts: &[GenPart],
    epilogue: &str,
) -> Vec<u8> {
    let mut out = Vec::new();
    if !preamble.is_empty() {
        out.extend_from_slice(preamble.as_bytes());
        out.extend_from_slice(sep.as_bytes());
    }
    for (headers, content) in parts {
        out.extend_from_slice(format!("--{boundary}{sep}").as_bytes());
        for (k, v) in headers {
            out.extend_from_slice(format!("{k}: {v}{sep}").as_bytes());
        }
        out.extend_from_slice(sep.as_bytes());
        out.extend_from_slice(content);
        out.extend_from_slice(sep.as_bytes());
    }
    out.extend_from_slice(format!("--{boundary}--{sep}{epilogue}").as_bytes());
    out
}

/// Could this text be mistaken for a delimiter of `boundary`, or lose a
/// byte to one (a CR before a bare-LF delimiter)?
fn clashes(text: &[u8], boundary: &str, sep: &str) -> bool {
    let mut marked = b"\n--".to_vec();
    marked.extend_from_slice(boundary.as_bytes());
    let mut with_lf = b"\n".to_vec();
    with_lf.extend_from_slice(text);
    let looks_headed = {
        let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
        first.len() >= 8 && first[..8].eq_ignore_ascii_case(b"content-")
    };
    memchr::memmem::find(&with_lf, &marked).is_some()
        || (sep == "\n" && text.ends_with(b"\r"))
        || looks_headed
}

impl Gen {
    fn write(&self) -> Option<Vec<u8>> {
        let mut parts = self.parts.clone();
        let inner_boundary = format!("alt.{}", self.boundary.len());
        if self.nested {
            let (h, c) = parts[self.sdp].clone();
            let inner = write_multipart(&inner_boundary, self.sep, "", &[(h, c)], "");
            // Our writer ends with the close delimiter's line end, which is
            // then the nested part's own last byte.
            let ct = format!("multipart/alternative; boundary=\"{inner_boundary}\"");
            parts[self.sdp] = (vec![("Content-Type".to_string(), ct)], inner);
        }
        let all = [self.preamble.as_bytes(), self.epilogue.as_bytes()];
        let texts = parts.iter().map(|(_, c)| c.as_slice()).chain(all);
        for t in texts.chain([self.parts[self.sdp].1.as_slice()]) {
            if clashes(t, &self.boundary, self.sep) || clashes(t, &inner_boundary, self.sep) {
                return None;
            }
        }
        Some(write_multipart(
            &self.boundary,
            self.sep,
            &self.preamble,
            &parts,
            &self.epilogue,
        ))
    }
}

proptest! {
    #[test]
    fn generated_multiparts_cut_and_rebuild_exactly(g in generated(), new in content()) {
        let Some(body) = g.write() else { return Ok(()) };
        let ct = format!("multipart/mixed; boundary=\"{}\"", g.boundary);
        let b = parse(&ct, &body);
        prop_assert_eq!(&b.problems, &Vec::<String>::new());
        prop_assert_eq!(b.parts.len(), g.parts.len());
        for (i, (_, content)) in g.parts.iter().enumerate() {
            if i != g.sdp || !g.nested {
                prop_assert_eq!(b.parts[i].bytes(&body), content.as_slice());
            }
        }
        let sdp = find_sdp(&b).expect("the SDP part");
        prop_assert_eq!(sdp.bytes(&body), g.parts[g.sdp].1.as_slice());
        prop_assert_eq!(replace_part(&body, sdp, sdp.bytes(&body)), body.clone());
        if clashes(&new, &g.boundary, g.sep) || clashes(&new, &format!("alt.{}", g.boundary.len()), g.sep) {
            return Ok(());
        }
        let rewritten = replace_part(&body, sdp, &new);
        let again = parse(&ct, &rewritten);
        prop_assert_eq!(find_sdp(&again).unwrap().bytes(&rewritten), new.as_slice());
        for (i, (_, content)) in g.parts.iter().enumerate() {
            if i != g.sdp {
                prop_assert_eq!(again.parts[i].bytes(&rewritten), content.as_slice());
            }
        }
    }
}
