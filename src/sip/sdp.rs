//! SDP (RFC 8866) as a media relay needs it: read an offer or answer (its
//! audio stream's address, port, payload types, direction), write our own
//! answers and offers naming our relay, and rewrite a far end's SDP so it
//! names our address and port, keeping every other line as it came.
//!
//! Our own code rather than a crate: we need a byte-faithful rewrite of a
//! few lines (`c=`, the audio `m=` port, `a=rtcp`) more than a model of
//! the whole grammar, and a tolerant reader (telcos' SDP is often odd).
//! Only one audio stream is relayed; other streams (video, text, a second
//! audio) are declined with port 0, as RFC 3264 §6 allows.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// One `a=rtpmap` (or a static payload type's implied one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub pt: u8,
    /// Encoding name as given (`PCMU`, `telephone-event`...).
    pub name: String,
    pub clock: u32,
    pub channels: u8,
}

impl RtpMap {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// A stream's direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Dir {
    /// What an answer says to an offer with this direction.
    pub fn answer(self) -> Dir {
        match self {
            Dir::SendOnly => Dir::RecvOnly,
            Dir::RecvOnly => Dir::SendOnly,
            d => d,
        }
    }

    fn attr(self) -> &'static str {
        match self {
            Dir::SendRecv => "sendrecv",
            Dir::SendOnly => "sendonly",
            Dir::RecvOnly => "recvonly",
            Dir::Inactive => "inactive",
        }
    }
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: String,
    pub port: u16,
    pub proto: String,
    /// The format list as given (payload type numbers for RTP).
    pub fmts: Vec<String>,
    /// This section's `c=` address, if it has one.
    pub conn: Option<IpAddr>,
    pub rtpmaps: Vec<RtpMap>,
    pub direction: Dir,
    /// `a=lang` values (an interpreter hint).
    pub langs: Vec<String>,
}

impl Media {
    /// The payload types of the format list with what they are, static
    /// ones (0 PCMU, 8 PCMA, 9 G722, 18 G729, 3 GSM) implied if not mapped.
    pub fn codecs(&self) -> Vec<RtpMap> {
        self.fmts
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter(|pt| *pt < 128)
            .map(|pt| {
                self.rtpmaps
                    .iter()
                    .find(|m| m.pt == pt)
                    .cloned()
                    .unwrap_or_else(|| static_pt(pt))
            })
            .collect()
    }
}

fn static_pt(pt: u8) -> RtpMap {
    let (name, clock) = match pt {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        18 => ("G729", 8000),
        _ => ("unknown", 8000),
    };
    RtpMap {
        pt,
        name: name.into(),
        clock,
        channels: 1,
    }
}

/// A parsed SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// The session-level `c=` address.
    pub conn: Option<IpAddr>,
    pub media: Vec<Media>,
    /// Session-level direction (the default for streams without one).
    pub direction: Dir,
}

impl Sdp {
    /// The first audio stream that is not declined, and its index.
    pub fn audio(&self) -> Option<(usize, &Media)> {
        self.media
            .iter()
            .enumerate()
            .find(|(_, m)| m.kind == "audio" && m.port != 0)
    }

    /// Where a stream's RTP goes: its own `c=` or the session's, and its
    /// port (None when the address is unknown, 0.0.0.0 or the port is 0).
    pub fn remote(&self, m: &Media) -> Option<SocketAddr> {
        let ip = m.conn.or(self.conn)?;
        (!ip.is_unspecified() && m.port != 0).then(|| SocketAddr::new(ip, m.port))
    }
}

fn parse_dir(v: &str) -> Option<Dir> {
    Some(match v {
        "sendrecv" => Dir::SendRecv,
        "sendonly" => Dir::SendOnly,
        "recvonly" => Dir::RecvOnly,
        "inactive" => Dir::Inactive,
        _ => return None,
    })
}

/// `c=IN IP4 1.2.3.4` (a multicast TTL suffix is cut).
fn parse_conn(v: &str) -> Option<IpAddr> {
    let mut it = v.split_whitespace();
    let (net, _family, addr) = (it.next()?, it.next()?, it.next()?);
    if net != "IN" {
        return None;
    }
    addr.split('/').next()?.parse().ok()
}

/// Reads an SDP body. Tolerant: unknown lines are kept out of the model,
/// but a body without `v=` or with a malformed `m=` line is refused.
pub fn parse(body: &[u8]) -> Result<Sdp, String> {
    let text = std::str::from_utf8(body).map_err(|_| "SDP is not UTF-8".to_string())?;
    let mut sdp = Sdp {
        conn: None,
        media: Vec::new(),
        direction: Dir::SendRecv,
    };
    let mut seen_v = false;
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        let Some((k, v)) = line.split_once('=') else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(format!("SDP line without '=': {:.40}", line));
        };
        let v = v.trim();
        match (k, sdp.media.last_mut()) {
            ("v", _) => seen_v = true,
            ("c", None) => sdp.conn = parse_conn(v),
            ("c", Some(m)) => m.conn = parse_conn(v),
            ("m", _) => {
                let mut it = v.split_whitespace();
                let kind = it.next().ok_or("m= without a media type")?.to_string();
                let port = it
                    .next()
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or_else(|| format!("m={kind} without a valid port"))?;
                let proto = it.next().ok_or("m= without a protocol")?.to_string();
                sdp.media.push(Media {
                    kind,
                    port,
                    proto,
                    fmts: it.map(str::to_string).collect(),
                    conn: None,
                    rtpmaps: Vec::new(),
                    direction: sdp.direction,
                    langs: Vec::new(),
                });
            }
            ("a", m) => {
                let (name, value) = v.split_once(':').unwrap_or((v, ""));
                match (name, m) {
                    (d, None) if parse_dir(d).is_some() => {
                        sdp.direction = parse_dir(d).unwrap_or(Dir::SendRecv)
                    }
                    (d, Some(m)) if parse_dir(d).is_some() => {
                        m.direction = parse_dir(d).unwrap_or(Dir::SendRecv)
                    }
                    ("rtpmap", Some(m)) => {
                        if let Some(r) = parse_rtpmap(value) {
                            m.rtpmaps.push(r);
                        }
                    }
                    ("lang", Some(m)) => m.langs.push(value.trim().to_string()),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if !seen_v {
        return Err("SDP without v=".into());
    }
    Ok(sdp)
}

/// `96 telephone-event/8000` or `0 PCMU/8000/1`.
fn parse_rtpmap(v: &str) -> Option<RtpMap> {
    let (pt, rest) = v.trim().split_once(' ')?;
    let pt: u8 = pt.parse().ok().filter(|p| *p < 128)?;
    let mut it = rest.trim().split('/');
    let name = it.next()?.to_string();
    let clock = it.next()?.parse().ok()?;
    let channels = it.next().and_then(|c| c.parse().ok()).unwrap_or(1);
    Some(RtpMap {
        pt,
        name,
        clock,
        channels,
    })
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    }
}

fn head(out: &mut String, ip: IpAddr, sess_id: u64, version: u64) {
    let f = family(ip);
    let _ = write!(
        out,
        "v=0\r\no=siaga112 {sess_id} {version} IN {f} {ip}\r\ns=siaga112\r\nc=IN {f} {ip}\r\nt=0 0\r\n"
    );
}

fn audio_lines(out: &mut String, port: u16, proto: &str, codecs: &[RtpMap], dir: Dir) {
    let _ = write!(out, "m=audio {port} {proto}");
    for c in codecs {
        let _ = write!(out, " {}", c.pt);
    }
    out.push_str("\r\n");
    for c in codecs {
        let _ = write!(out, "a=rtpmap:{} {}/{}", c.pt, c.name, c.clock);
        if c.channels > 1 {
            let _ = write!(out, "/{}", c.channels);
        }
        out.push_str("\r\n");
        if c.is("telephone-event") {
            let _ = write!(out, "a=fmtp:{} 0-16\r\n", c.pt);
        }
    }
    let _ = write!(out, "a=rtcp:{}\r\na={}\r\n", port + 1, dir.attr());
}

/// Our answer to `offer`: its streams in order (RFC 3264 §6), the first
/// audio one on our address and port with `codecs` (chosen from the
/// offer's, its numbers kept), every other stream declined (port 0).
pub fn answer(offer: &Sdp, ip: IpAddr, port: u16, codecs: &[RtpMap], sess_id: u64) -> String {
    let mut out = String::with_capacity(300);
    head(&mut out, ip, sess_id, 1);
    let audio = offer.audio().map(|(i, _)| i);
    for (i, m) in offer.media.iter().enumerate() {
        if Some(i) == audio {
            audio_lines(&mut out, port, &m.proto, codecs, m.direction.answer());
        } else {
            let _ = write!(out, "m={} 0 {}", m.kind, m.proto);
            for f in m.fmts.iter().take(1) {
                let _ = write!(out, " {f}");
            }
            out.push_str("\r\n");
        }
    }
    out
}

/// Our offer: one audio stream on our address and port with `codecs`.
pub fn offer(
    ip: IpAddr,
    port: u16,
    codecs: &[RtpMap],
    dir: Dir,
    sess_id: u64,
    version: u64,
) -> String {
    let mut out = String::with_capacity(300);
    head(&mut out, ip, sess_id, version);
    audio_lines(&mut out, port, "RTP/AVP", codecs, dir);
    out
}

/// A far end's SDP made to name our relay: every `c=` gets our address,
/// the first audio stream our port (`a=rtcp` our port + 1), other streams
/// port 0; every other line is kept as it came.
pub fn rewrite(body: &[u8], ip: IpAddr, port: u16) -> Result<String, String> {
    let sdp = parse(body)?;
    let text = std::str::from_utf8(body).map_err(|_| "SDP is not UTF-8".to_string())?;
    let audio = sdp.audio().map(|(i, _)| i);
    let f = family(ip);
    let mut out = String::with_capacity(text.len() + 32);
    let mut index: Option<usize> = None;
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        if let Some(v) = line.strip_prefix("m=") {
            index = Some(index.map_or(0, |i| i + 1));
            let mut parts: Vec<&str> = v.split_whitespace().collect();
            let p = if index == audio {
                port.to_string()
            } else {
                "0".into()
            };
            if parts.len() >= 2 {
                parts[1] = &p;
            }
            let _ = write!(out, "m={}\r\n", parts.join(" "));
            continue;
        }
        let ours = index.is_none() || index == audio;
        if line.starts_with("c=") && ours {
            let _ = write!(out, "c=IN {f} {ip}\r\n");
        } else if line.starts_with("a=rtcp:") && index == audio {
            let _ = write!(out, "a=rtcp:{}\r\n", port + 1);
        } else if line.starts_with("o=") {
            // Keep the far end's session id and version, our address.
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.len() >= 6 {
                let _ = write!(
                    out,
                    "{} {} {} IN {f} {ip}\r\n",
                    parts[0], parts[1], parts[2]
                );
            } else {
                let _ = write!(out, "{line}\r\n");
            }
        } else {
            let _ = write!(out, "{line}\r\n");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OFFER: &str =
        "v=0\r\no=trunk 536 2353 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n\
m=video 5000 RTP/AVP 96\r\nc=IN IP4 10.1.1.2\r\na=rtpmap:96 H264/90000\r\n";

    #[test]
    fn an_offer_reads_as_its_audio_stream() {
        let s = parse(OFFER.as_bytes()).unwrap();
        let (i, a) = s.audio().unwrap();
        assert_eq!(i, 0);
        assert_eq!(s.remote(a), Some("10.1.1.1:4000".parse().unwrap()));
        let c = a.codecs();
        assert_eq!(c.iter().map(|c| c.pt).collect::<Vec<_>>(), [8, 0, 101]);
        assert!(c[2].is("telephone-event"));
        assert_eq!(s.media[1].conn, Some("10.1.1.2".parse().unwrap()));
        // Static payload types without rtpmap are known.
        let bare = parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 9 RTP/AVP 0 18\r\n").unwrap();
        let c = bare.audio().unwrap().1.codecs();
        assert!(c[0].is("PCMU") && c[1].is("G729"));
        assert!(parse(b"hello").is_err());
        assert!(parse(b"v=0\r\nm=audio x RTP/AVP 0\r\n").is_err());
    }

    #[test]
    fn our_answer_keeps_the_streams_in_order_and_declines_video() {
        let s = parse(OFFER.as_bytes()).unwrap();
        let chosen: Vec<RtpMap> = s
            .audio()
            .unwrap()
            .1
            .codecs()
            .into_iter()
            .filter(|c| c.pt != 0)
            .collect();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = answer(&s, ip, 20000, &chosen, 42);
        let back = parse(a.as_bytes()).unwrap();
        assert_eq!(back.media.len(), 2);
        assert_eq!(
            back.remote(&back.media[0]),
            Some("127.0.0.1:20000".parse().unwrap())
        );
        assert_eq!(back.media[1].port, 0, "video declined");
        assert_eq!(
            back.media[0]
                .codecs()
                .iter()
                .map(|c| c.pt)
                .collect::<Vec<_>>(),
            [8, 101]
        );
        assert!(a.contains("a=rtcp:20001\r\n"));
        // A hold offer (sendonly) is answered recvonly.
        let hold = OFFER.replace("a=sendrecv", "a=sendonly");
        let s = parse(hold.as_bytes()).unwrap();
        assert!(answer(&s, ip, 20000, &chosen, 42).contains("a=recvonly"));
    }

    #[test]
    fn a_rewrite_names_the_relay_and_keeps_the_rest() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let r = rewrite(OFFER.as_bytes(), ip, 20002).unwrap();
        assert!(r.contains("m=audio 20002 RTP/AVP 8 0 101\r\n"));
        assert!(r.contains("m=video 0 RTP/AVP 96\r\n"));
        assert!(r.contains("c=IN IP4 127.0.0.1\r\n"));
        assert!(
            r.contains("c=IN IP4 10.1.1.2\r\n"),
            "the declined stream's c= stays"
        );
        assert!(r.contains("o=trunk 536 2353 IN IP4 127.0.0.1\r\n"));
        assert!(r.contains("a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"));
        assert!(!r.contains("10.1.1.1"));
    }

    proptest! {
        #[test]
        fn no_input_makes_it_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&body);
            let _ = rewrite(&body, "127.0.0.1".parse().unwrap(), 20000);
        }

        #[test]
        fn sdp_like_text_never_panics(lines in proptest::collection::vec("[vcmoa]=[ -~]{0,40}", 0..20)) {
            let body = lines.join("\r\n");
            if let Ok(s) = parse(body.as_bytes()) {
                let _ = answer(&s, "::1".parse().unwrap(), 30000, &[], 1);
            }
            let _ = rewrite(body.as_bytes(), "127.0.0.1".parse().unwrap(), 20000);
        }
    }
}
