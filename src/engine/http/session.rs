//! Signed session cookies and the CSRF token that goes with each session.
//!
//! A session is a cookie the engine signed (HMAC-SHA256 with a key kept in
//! a file, so sessions survive a restart): the user, when it expires, and a
//! random nonce. Nothing is stored per session but the nonces of sessions
//! signed out early. The CSRF token is a second MAC over the nonce: the
//! same for the whole session (a second tab keeps working), unknown to any
//! other site, and never in a cookie.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{self, Read, Write};
use std::path::Path;
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE: &str = "siaga112_session";

/// The signing key.
#[derive(Clone)]
pub struct Keys {
    key: [u8; 32],
}

/// What a valid cookie says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub user: String,
    pub expires_ms: u64,
    pub nonce: String,
}

/// `N` random bytes from the operating system.
pub fn random<const N: usize>() -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(b)
}

/// A new nonce for a session (128 bits, URL-safe).
pub fn nonce() -> io::Result<String> {
    Ok(B64.encode(random::<16>()?))
}

impl Keys {
    pub fn from_bytes(key: [u8; 32]) -> Keys {
        Keys { key }
    }

    /// The key in `path`, made (32 random bytes, mode 0600) if there is
    /// none yet.
    pub fn load_or_create(path: &Path) -> io::Result<Keys> {
        match std::fs::File::open(path) {
            Ok(mut f) => {
                let mut buf = Vec::new();
                f.read_to_end(&mut buf)?;
                let key: [u8; 32] =
                    buf.get(..32)
                        .and_then(|k| k.try_into().ok())
                        .ok_or_else(|| {
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("{}: a session key is 32 bytes", path.display()),
                            )
                        })?;
                Ok(Keys { key })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let key = random::<32>()?;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(path)?;
                f.write_all(&key)?;
                f.sync_all()?;
                Ok(Keys { key })
            }
            Err(e) => Err(e),
        }
    }

    fn mac(&self, parts: &[&str]) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key");
        for p in parts {
            m.update(p.as_bytes());
            m.update(b"|");
        }
        m
    }

    /// The cookie value for a session.
    pub fn issue(&self, t: &Ticket) -> String {
        let user = B64.encode(t.user.as_bytes());
        let expires = t.expires_ms.to_string();
        let tag = self
            .mac(&["s1", &user, &expires, &t.nonce])
            .finalize()
            .into_bytes();
        format!("{user}.{expires}.{}.{}", t.nonce, B64.encode(tag))
    }

    /// What a cookie value says, if this key signed it (expiry not checked).
    pub fn verify(&self, cookie: &str) -> Option<Ticket> {
        if cookie.len() > 512 {
            return None;
        }
        let mut it = cookie.split('.');
        let (user, expires, nonce, tag) = (it.next()?, it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        let tag = B64.decode(tag).ok()?;
        self.mac(&["s1", user, expires, nonce])
            .verify_slice(&tag)
            .ok()?;
        Some(Ticket {
            user: String::from_utf8(B64.decode(user).ok()?).ok()?,
            expires_ms: expires.parse().ok()?,
            nonce: nonce.to_string(),
        })
    }

    /// The session's CSRF token.
    pub fn csrf(&self, nonce: &str) -> String {
        let tag = self.mac(&["csrf", nonce]).finalize().into_bytes();
        B64.encode(&tag[..24])
    }

    /// Whether `token` is the session's CSRF token (in constant time).
    pub fn csrf_ok(&self, nonce: &str, token: &str) -> bool {
        let Ok(got) = B64.decode(token) else {
            return false;
        };
        let tag = self.mac(&["csrf", nonce]).finalize().into_bytes();
        got.len() == 24 && bool::from(got.ct_eq(&tag[..24]))
    }
}

/// The value of cookie `name` in a `Cookie:` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_verifies_only_with_its_key_and_unchanged() {
        let k = Keys::from_bytes([7; 32]);
        let t = Ticket {
            user: "op1".into(),
            expires_ms: 1_800_000_000_000,
            nonce: nonce().unwrap(),
        };
        let c = k.issue(&t);
        assert_eq!(k.verify(&c), Some(t.clone()));
        assert_eq!(Keys::from_bytes([8; 32]).verify(&c), None);
        let forged = c.replacen(&B64.encode("op1"), &B64.encode("sup"), 1);
        assert_eq!(k.verify(&forged), None);
        let longer = c.replacen("1800000000000", "1900000000000", 1);
        assert_eq!(k.verify(&longer), None);
        for bad in ["", "a.b.c", "a.b.c.d.e", &"x".repeat(600)] {
            assert_eq!(k.verify(bad), None);
        }
        let csrf = k.csrf(&t.nonce);
        assert!(k.csrf_ok(&t.nonce, &csrf));
        assert!(!k.csrf_ok("other", &csrf));
        assert!(!k.csrf_ok(&t.nonce, "not-base64!"));
    }

    #[test]
    fn the_key_file_is_made_once_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("keys/session.key");
        let a = Keys::load_or_create(&p).unwrap();
        let b = Keys::load_or_create(&p).unwrap();
        assert_eq!(a.key, b.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&p, b"short").unwrap();
        assert!(Keys::load_or_create(&p).is_err());
    }

    #[test]
    fn cookies_are_found_by_name() {
        let h = "a=1; siaga112_session=xyz; b=2";
        assert_eq!(cookie_value(h, COOKIE), Some("xyz"));
        assert_eq!(cookie_value("siaga112_sessionx=1", COOKIE), None);
    }
}
