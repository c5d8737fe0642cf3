//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760):
//! MD5 and SHA-256, `qop=auth`, and stateless nonces that expire.
//!
//! The fork's `Authorization` type re-formats the `uri` parameter and keeps
//! `nc` in a byte, so we verify from the raw parameters instead.

use crate::config::DigestAlgorithm;
use md5::Md5;
use rsipstack::sip::typed::tokenizers::AuthTokenizer;
use sha2::{Digest, Sha256};

/// The parameters of a `Digest` Authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestAuth<'a> {
    pub username: &'a str,
    pub realm: &'a str,
    pub nonce: &'a str,
    pub uri: &'a str,
    pub response: &'a str,
    pub algorithm: DigestAlgorithm,
    /// `Some((nc, cnonce))` when `qop=auth`.
    pub qop_auth: Option<(&'a str, &'a str)>,
}

/// Parses an Authorization value; the error says what is wrong.
pub fn parse_authorization(value: &str) -> Result<DigestAuth<'_>, &'static str> {
    let tok = AuthTokenizer::parse(value).map_err(|_| "malformed Authorization")?;
    if !tok.scheme.eq_ignore_ascii_case("Digest") {
        return Err("only Digest authentication is supported");
    }
    let get = |name: &str| {
        tok.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let need = |name: &'static str| get(name).ok_or(name);
    let algorithm = match get("algorithm") {
        None => DigestAlgorithm::Md5,
        Some(a) => DigestAlgorithm::parse(a).ok_or("unsupported digest algorithm")?,
    };
    let qop_auth = match get("qop") {
        None => None,
        Some(q) if q.eq_ignore_ascii_case("auth") => {
            let nc = get("nc").ok_or("qop=auth without nc")?;
            if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err("bad nc");
            }
            Some((nc, get("cnonce").ok_or("qop=auth without cnonce")?))
        }
        Some(_) => return Err("unsupported qop"),
    };
    Ok(DigestAuth {
        username: need("username").map_err(|_| "Authorization without username")?,
        realm: need("realm").map_err(|_| "Authorization without realm")?,
        nonce: need("nonce").map_err(|_| "Authorization without nonce")?,
        uri: need("uri").map_err(|_| "Authorization without uri")?,
        response: need("response").map_err(|_| "Authorization without response")?,
        algorithm,
        qop_auth,
    })
}

fn hex_hash(alg: DigestAlgorithm, parts: &[&str]) -> String {
    fn run<D: Digest>(parts: &[&str]) -> String {
        let mut h = D::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                h.update(b":");
            }
            h.update(p.as_bytes());
        }
        hex(&h.finalize())
    }
    match alg {
        DigestAlgorithm::Md5 => run::<Md5>(parts),
        DigestAlgorithm::Sha256 => run::<Sha256>(parts),
    }
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// The `response` a client with this password must have sent.
pub fn expected_response(auth: &DigestAuth<'_>, password: &str, method: &str) -> String {
    let alg = auth.algorithm;
    let ha1 = hex_hash(alg, &[auth.username, auth.realm, password]);
    let ha2 = hex_hash(alg, &[method, auth.uri]);
    match auth.qop_auth {
        Some((nc, cnonce)) => hex_hash(alg, &[&ha1, auth.nonce, nc, cnonce, "auth", &ha2]),
        None => hex_hash(alg, &[&ha1, auth.nonce, &ha2]),
    }
}

/// Compares in time independent of where the strings differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y.to_ascii_lowercase()))
            == 0
}

/// A `WWW-Authenticate` value.
pub fn challenge(realm: &str, nonce: &str, alg: DigestAlgorithm, stale: bool) -> String {
    format!(
        "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{}",
        alg.name(),
        if stale { ", stale=true" } else { "" }
    )
}

/// Mints and checks nonces without keeping them: a nonce is its issue time
/// and a keyed hash of it, so any nonce we did not issue is refused and an
/// old one is answered with `stale=true`.
#[derive(Debug, Clone)]
pub struct NonceMint {
    secret: String,
}

/// What a presented nonce is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    Fresh,
    Stale,
    Forged,
}

impl NonceMint {
    pub fn new(secret: u128) -> NonceMint {
        NonceMint {
            secret: format!("{secret:032x}"),
        }
    }

    fn mac(&self, issued: &str) -> String {
        let mut s = hex_hash(DigestAlgorithm::Sha256, &[&self.secret, issued]);
        s.truncate(24);
        s
    }

    /// A nonce issued at `issued_ms` (milliseconds on the core's clock).
    pub fn mint(&self, issued_ms: u64) -> String {
        let issued = format!("{issued_ms:x}");
        let mac = self.mac(&issued);
        format!("{issued}.{mac}")
    }

    pub fn check(&self, nonce: &str, now_ms: u64, ttl_ms: u64) -> NonceCheck {
        let Some((issued, mac)) = nonce.split_once('.') else {
            return NonceCheck::Forged;
        };
        if !constant_time_eq(mac, &self.mac(issued)) {
            return NonceCheck::Forged;
        }
        match u64::from_str_radix(issued, 16) {
            Ok(t) if t <= now_ms && now_ms - t <= ttl_ms => NonceCheck::Fresh,
            Ok(_) => NonceCheck::Stale,
            Err(_) => NonceCheck::Forged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_md5_qop_auth() {
        // RFC 2617 §3.5 (HTTP, but the same arithmetic).
        let a = DigestAuth {
            username: "Mufasa",
            realm: "testrealm@host.com",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            uri: "/dir/index.html",
            response: "6629fae49393a05397450978507c4ef1",
            algorithm: DigestAlgorithm::Md5,
            qop_auth: Some(("00000001", "0a4f113b")),
        };
        assert_eq!(expected_response(&a, "Circle Of Life", "GET"), a.response);
    }

    #[test]
    fn rfc7616_example_sha256() {
        // RFC 7616 §3.9.1.
        let a = DigestAuth {
            username: "Mufasa",
            realm: "http-auth@example.org",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            uri: "/dir/index.html",
            response: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            algorithm: DigestAlgorithm::Sha256,
            qop_auth: Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        };
        assert_eq!(expected_response(&a, "Circle of Life", "GET"), a.response);
    }

    #[test]
    fn parses_a_softphone_header() {
        let v = r#"Digest username="op1",realm="siaga112",nonce="1a.ff",uri="sip:127.0.0.1:5060",response="abc",algorithm=MD5,cnonce="xyz",qop=auth,nc=00000001"#;
        let a = parse_authorization(v).unwrap();
        assert_eq!(a.username, "op1");
        assert_eq!(a.uri, "sip:127.0.0.1:5060");
        assert_eq!(a.qop_auth, Some(("00000001", "xyz")));
        assert!(parse_authorization("Basic abc").is_err());
        assert!(parse_authorization(r#"Digest username="x""#).is_err());
        assert!(parse_authorization("").is_err());
    }

    #[test]
    fn nonces_expire_and_cannot_be_forged() {
        let m = NonceMint::new(42);
        let n = m.mint(1_000);
        assert_eq!(m.check(&n, 1_500, 1_000), NonceCheck::Fresh);
        assert_eq!(m.check(&n, 2_001, 1_000), NonceCheck::Stale);
        assert_eq!(
            NonceMint::new(43).check(&n, 1_500, 1_000),
            NonceCheck::Forged
        );
        assert_eq!(
            m.check("3e8.000000000000000000000000", 1_500, 1_000),
            NonceCheck::Forged
        );
        assert_eq!(m.check("garbage", 1_500, 1_000), NonceCheck::Forged);
    }
}
