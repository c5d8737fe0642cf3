//! Who may sign in to the console: every seat's operator with the seat's
//! SIP user and password, and the `[[user]]` supervisors and agency staff
//! with an argon2 hash of theirs.

use crate::config::{Config, UserRole};
use crate::operator::{Actor, Role};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::collections::HashMap;
use subtle::ConstantTimeEq;

enum Secret {
    /// A seat's SIP password (the digest needs it in clear anyway).
    Plain(String),
    /// An argon2 PHC string.
    Hash(String),
}

struct Entry {
    role: Role,
    secret: Secret,
}

/// The users, from the config.
pub struct Directory {
    users: HashMap<String, Entry>,
    /// Checked for an unknown user, so that a wrong name takes as long as a
    /// wrong password of a `[[user]]`.
    /// A hash to check unknown users against (same time as a wrong
    /// password), made on first use: argon2 at start-up would delay the
    /// engine taking calls.
    dummy: std::sync::OnceLock<String>,
}

impl Directory {
    pub fn new(cfg: &Config) -> Directory {
        let mut users = HashMap::new();
        for s in &cfg.seats {
            users.insert(
                s.user.clone(),
                Entry {
                    role: Role::Operator {
                        seat: s.user.clone(),
                    },
                    secret: Secret::Plain(s.password.clone()),
                },
            );
        }
        for u in &cfg.users {
            let role = match u.role {
                UserRole::Supervisor => Role::Supervisor,
                UserRole::Agency => Role::Agency {
                    agency: u.agency.clone().unwrap_or_default(),
                },
            };
            users.insert(
                u.name.clone(),
                Entry {
                    role,
                    secret: Secret::Hash(u.password_hash.clone()),
                },
            );
        }
        Directory {
            users,
            dummy: std::sync::OnceLock::new(),
        }
    }

    /// The user's role now (None: no such user any more).
    pub fn role(&self, user: &str) -> Option<Role> {
        self.users.get(user).map(|e| e.role.clone())
    }

    /// The actor, if `password` is the user's. Slow for `[[user]]` entries
    /// (argon2): call it off the event loop.
    pub fn check(&self, user: &str, password: &str) -> Option<Actor> {
        let Some(e) = self.users.get(user) else {
            let dummy = self
                .dummy
                .get_or_init(|| hash_password("not a password of anyone").unwrap_or_default());
            let _ = verify_hash(dummy, password);
            return None;
        };
        let ok = match &e.secret {
            Secret::Plain(p) => bool::from(p.as_bytes().ct_eq(password.as_bytes())),
            Secret::Hash(h) => verify_hash(h, password),
        };
        ok.then(|| Actor {
            user: user.to_string(),
            role: e.role.clone(),
        })
    }
}

fn verify_hash(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// An argon2id PHC string for `password` (`siaga112 hash-password`).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = super::session::random::<16>().map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_sign_in_with_their_sip_password_and_users_with_their_hash() {
        let hash = hash_password("s3cret!").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let cfg = Config::parse(&format!(
            r#"
[sip]
listen = ["udp:127.0.0.1:5060"]
realm = "siaga112"
[[trunk]]
name = "t"
peers = ["127.0.0.1/32"]
[[route]]
match = ["112"]
queue = "emergency"
[[queue]]
name = "emergency"
[[seat]]
user = "op1"
password = "secret1"
queues = ["emergency"]
[[user]]
name = "sup"
role = "supervisor"
password_hash = "{hash}"
[[agency]]
id = "damkar"
name = "Dinas Pemadam Kebakaran"
categories = ["kebakaran"]
[[user]]
name = "damkar"
role = "agency"
agency = "damkar"
password_hash = "{hash}"
"#
        ))
        .unwrap();
        let d = Directory::new(&cfg);
        assert_eq!(
            d.check("op1", "secret1").map(|a| a.role),
            Some(Role::Operator { seat: "op1".into() })
        );
        assert!(d.check("op1", "secret2").is_none());
        assert_eq!(
            d.check("sup", "s3cret!").map(|a| a.role),
            Some(Role::Supervisor)
        );
        assert!(d.check("sup", "s3cret").is_none());
        assert_eq!(
            d.role("damkar"),
            Some(Role::Agency {
                agency: "damkar".into()
            })
        );
        assert!(d.check("nobody", "s3cret!").is_none());
    }
}
