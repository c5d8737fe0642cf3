//! `[security]`: rate limits and bans.

use super::raw::RawSecurity;
use super::{invalid, ConfigError, IpNet, SecurityConfig};
use std::time::Duration;

pub(super) fn validate(raw: RawSecurity) -> Result<SecurityConfig, ConfigError> {
    let rate = |key: &str, v: u32| {
        if v > 1_000_000 {
            Err(invalid(
                format!("security.{key}"),
                "must be at most 1000000 a second",
            ))
        } else {
            Ok(v)
        }
    };
    if raw.ban_after == 0 {
        return Err(invalid(
            "security.ban_after",
            "must be at least 1 failed attempt",
        ));
    }
    if raw.ban_s == 0 || raw.ban_max_s < raw.ban_s {
        return Err(invalid(
            "security.ban_s",
            "must be at least 1 second and not above security.ban_max_s",
        ));
    }
    let mut allow = Vec::new();
    for a in &raw.allow {
        allow.push(IpNet::parse(a).ok_or_else(|| {
            invalid(
                "security.allow",
                format!("{a:?} is not an address or address/prefix"),
            )
        })?);
    }
    if raw.connections_per_source == 0 {
        return Err(invalid(
            "security.connections_per_source",
            "must be at least 1",
        ));
    }
    if raw.first_message_s == 0 {
        return Err(invalid(
            "security.first_message_s",
            "must be at least 1 second",
        ));
    }
    Ok(SecurityConfig {
        register_rate: rate("register_rate", raw.register_rate)?,
        invite_rate: rate("invite_rate", raw.invite_rate)?,
        options_rate: rate("options_rate", raw.options_rate)?,
        other_rate: rate("other_rate", raw.other_rate)?,
        trusted_rate: rate("trusted_rate", raw.trusted_rate)?,
        ban_after: raw.ban_after,
        ban: Duration::from_secs(raw.ban_s),
        ban_max: Duration::from_secs(raw.ban_max_s),
        allow,
        connections_per_source: raw.connections_per_source,
        first_message: Duration::from_secs(raw.first_message_s),
    })
}
