use super::*;
use crate::config::Config;
use std::net::IpAddr;
use std::time::{Duration, Instant};

fn cfg(extra: &str) -> Config {
    Config::parse(&format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\nrealm = \"r\"\n[security]\n{extra}\n"
    ))
    .unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn a_source_gets_its_burst_then_its_rate_on_the_driven_clock() {
    let c = cfg("register_rate = 10");
    let t0 = Instant::now();
    let mut l = RateLimits::new(&c.security, t0);
    let a = ip("192.0.2.1");
    let allowed = (0..100)
        .filter(|_| l.allow(t0, a, Class::Register, false))
        .count();
    assert_eq!(allowed, 20, "a burst of twice the rate, at one instant");
    // Another source has its own bucket; another class too.
    assert!(l.allow(t0, ip("192.0.2.2"), Class::Register, false));
    assert!(l.allow(t0, a, Class::Invite, false));
    // One second later: ten more.
    let t1 = t0 + Duration::from_secs(1);
    let allowed = (0..100)
        .filter(|_| l.allow(t1, a, Class::Register, false))
        .count();
    assert_eq!(allowed, 10);
}

#[test]
fn trusted_sources_are_limited_only_for_register_and_options_and_apart() {
    let c = cfg("register_rate = 1\ninvite_rate = 1\ntrusted_rate = 5");
    let t0 = Instant::now();
    let mut l = RateLimits::new(&c.security, t0);
    let trunk = ip("127.0.0.1");
    assert_eq!(
        (0..1000)
            .filter(|_| l.allow(t0, trunk, Class::Invite, true))
            .count(),
        1000,
        "a trunk's INVITEs are never limited"
    );
    assert_eq!(
        (0..100)
            .filter(|_| l.allow(t0, trunk, Class::Other, true))
            .count(),
        100
    );
    assert_eq!(
        (0..100)
            .filter(|_| l.allow(t0, trunk, Class::Register, true))
            .count(),
        10
    );
    // The same address as a stranger has its own, smaller bucket.
    assert_eq!(
        (0..100)
            .filter(|_| l.allow(t0, trunk, Class::Register, false))
            .count(),
        2
    );
}

#[test]
fn a_rate_of_zero_is_no_limit_and_idle_sources_are_forgotten() {
    let c = cfg("options_rate = 0");
    let t0 = Instant::now();
    let mut l = RateLimits::new(&c.security, t0);
    assert!((0..10_000).all(|_| l.allow(t0, ip("192.0.2.9"), Class::Options, false)));
    for i in 0..200u8 {
        l.allow(t0, ip(&format!("198.51.100.{i}")), Class::Register, false);
    }
    assert!(l.tracked() >= 200);
    l.housekeep(t0 + Duration::from_secs(60));
    assert_eq!(l.tracked(), 0, "full buckets are dropped");
}

#[test]
fn ten_failures_ban_a_source_and_bans_back_off() {
    let c = cfg("ban_after = 10\nban_s = 600\nban_max_s = 2000");
    let t0 = Instant::now();
    let mut b = Bans::new(&c.security, t0);
    let a = ip("192.0.2.7");
    for i in 0..9 {
        assert!(b
            .failure(t0 + Duration::from_secs(i), a, false, "op1")
            .is_empty());
    }
    assert!(!b.source_banned(t0 + Duration::from_secs(9), a));
    let t = t0 + Duration::from_secs(9);
    let imposed = b.failure(t, a, false, "op1");
    assert!(imposed.contains(&BanKind::Source) && imposed.contains(&BanKind::User));
    assert!(b.source_banned(t, a) && b.user_banned(t, "op1"));
    assert!(b.source_banned(t + Duration::from_secs(599), a));
    assert!(!b.source_banned(t + Duration::from_secs(601), a));
    let list = b.list(t);
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].failures, 10);
    // The second ban is twice as long, the third capped at ban_max_s.
    let t = t + Duration::from_secs(700);
    for i in 0..10 {
        b.failure(t + Duration::from_secs(i), a, false, "x");
    }
    let t = t + Duration::from_secs(9);
    assert!(b.source_banned(t + Duration::from_secs(1199), a));
    assert!(!b.source_banned(t + Duration::from_secs(1201), a));
    let t = t + Duration::from_secs(1300);
    for i in 0..10 {
        b.failure(t + Duration::from_secs(i), a, false, "y");
    }
    let t = t + Duration::from_secs(9);
    assert!(b.source_banned(t + Duration::from_secs(1999), a));
    assert!(!b.source_banned(t + Duration::from_secs(2001), a));
}

#[test]
fn trusted_sources_are_never_banned_and_slow_failures_are_forgotten() {
    let c = cfg("ban_after = 3\nban_s = 60");
    let t0 = Instant::now();
    let mut b = Bans::new(&c.security, t0);
    let proxy = ip("10.0.0.1");
    for i in 0..3 {
        b.failure(t0 + Duration::from_secs(i), proxy, true, &format!("u{i}"));
    }
    assert!(!b.source_banned(t0 + Duration::from_secs(3), proxy));
    // Failures more than ban_s apart never add up.
    let a = ip("192.0.2.8");
    for i in 0..10 {
        assert!(b
            .failure(t0 + Duration::from_secs(61 * i), a, false, "op2")
            .is_empty());
    }
    // A success forgets the user's failures.
    b.failure(t0, ip("192.0.2.9"), false, "op3");
    b.failure(t0, ip("192.0.2.10"), false, "op3");
    b.success("op3");
    assert!(b.failure(t0, ip("192.0.2.11"), false, "op3").is_empty());
}

#[test]
fn unknown_users_are_banned_like_known_ones_and_names_are_made_safe() {
    assert_eq!(bans::log_safe("op1"), "op1");
    assert_eq!(
        bans::log_safe("x source=1.2.3.4\nfoo"),
        "x?source?1.2.3.4?foo"
    );
    assert_eq!(bans::log_safe(""), "-");
    assert_eq!(bans::log_safe(&"a".repeat(100)).len(), 64);
    let c = cfg("ban_after = 2");
    let t0 = Instant::now();
    let mut b = Bans::new(&c.security, t0);
    let a = ip("192.0.2.1");
    b.failure(t0, a, true, "nobody");
    assert_eq!(b.failure(t0, a, true, "nobody"), vec![BanKind::User]);
    assert!(b.user_banned(t0, "nobody"));
}

#[test]
fn the_tables_stay_bounded() {
    let c = cfg("ban_after = 1000");
    let t0 = Instant::now();
    let mut b = Bans::new(&c.security, t0);
    for i in 0..20_000u32 {
        let a = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
        b.failure(t0, a, false, &format!("user{i}"));
    }
    assert!(b.list(t0).is_empty());
    b.housekeep(t0 + Duration::from_secs(3600));
    assert_eq!(b.in_force(t0), (0, 0));
}
