//! Password guessing against the core on simulated time: the same answer
//! for an unknown user and a wrong password, bans with back-off after
//! `ban_after` failures from a source or for a user, nonce counts against
//! replayed credentials, and per-source rate limits that never touch a
//! trunk's emergency calls.

mod sim;
use sim::*;
use std::time::Duration;

/// The trunk sends from 127.0.0.2; the attackers from 192.0.2.x.
const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:5060"]
realm = "siaga112"
keepalive_s = 0

[[trunk]]
name = "telco-a"
peers = ["127.0.0.2/32"]

[[route]]
match = ["112"]
queue = "emergency"

[[queue]]
name = "emergency"

[[seat]]
user = "op1"
password = "secret1"
queues = ["emergency"]

[security]
ban_after = 10
ban_s = 60
ban_max_s = 3600
register_rate = 20
"#;

/// One REGISTER for `user` from `from`, answered with `password` to a
/// fresh challenge; returns the final answer (None: dropped).
fn attempt(sim: &mut Sim, n: u32, user: &str, password: &str, from: &str) -> Option<String> {
    let reg = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKg{n}x{cseq}\r\n\
             From: <sip:{user}@127.0.0.1>;tag=g{n}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: guess-{n}\r\n\
             CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{from}>\r\nExpires: 60\r\n{auth}Content-Length: 0\r\n\r\n"
        )
    };
    // Nonces are minted per millisecond: a client with a fixed cnonce
    // needs a new one for each attempt (or it replays its own).
    sim.advance(Duration::from_millis(1));
    sim.send(from, &reg(1, ""));
    let challenge = sim.take(from).pop()?;
    let nonce = nonce_in(header(&challenge, "WWW-Authenticate"));
    let auth = credentials(
        "Authorization",
        user,
        password,
        &nonce,
        "REGISTER",
        "sip:127.0.0.1",
    );
    sim.send(from, &reg(2, &auth));
    sim.take(from).pop()
}

/// The first line and the headers that are the same for every answer.
fn shape(answer: &str) -> Vec<String> {
    answer
        .lines()
        .filter(|l| {
            !l.starts_with("To:")
                && !l.starts_with("Via:")
                && !l.starts_with("Call-ID:")
                && !l.starts_with("From:")
                && !l.starts_with("CSeq:")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn unknown_user_and_wrong_password_get_the_same_answer() {
    let mut sim = Sim::with_config(CONFIG);
    let a = attempt(&mut sim, 1, "op1", "wrong", "192.0.2.1:5060").unwrap();
    let b = attempt(&mut sim, 2, "nosuchuser", "wrong", "192.0.2.1:5060").unwrap();
    assert!(a.starts_with("SIP/2.0 403"), "{a}");
    assert_eq!(shape(&a), shape(&b));
}

#[test]
fn a_guesser_is_banned_after_ten_failures_and_slows_to_a_few_guesses_a_minute() {
    let mut sim = Sim::with_config(CONFIG);
    let from = "192.0.2.7:5060";
    // 10 guesses a second (the rate limit lets them through) for 30 minutes.
    let mut checked_per_minute = vec![0u32; 30];
    let mut n = 0;
    for answered in checked_per_minute.iter_mut() {
        for _ in 0..600 {
            n += 1;
            if let Some(a) = attempt(&mut sim, n, "op1", &format!("guess{n}"), from) {
                assert!(a.starts_with("SIP/2.0 403"), "{a}");
                *answered += 1;
            }
            sim.advance(Duration::from_millis(100));
        }
    }
    // Before the ban: every guess answered; the 10th bans for 60 s, the next
    // for 120 s, 240 s, 480 s... (the user is banned alike).
    assert_eq!(checked_per_minute[0], 10, "{checked_per_minute:?}");
    let after: u32 = checked_per_minute[1..].iter().sum();
    assert!(
        after <= 29 * 5,
        "at most a few guesses a minute after the ban: {checked_per_minute:?}"
    );
    let (c, in_force) = sim.core.security();
    assert!(c.bans_source >= 4 && c.banned_drops > 0, "{c:?}");
    // Still banned: a message its TCP stream could not frame gets no 400.
    let head = b"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.7:5060;branch=z9hG4bKtoolong\r\n\
From: <sip:op1@127.0.0.1>;tag=1\r\nTo: <sip:op1@127.0.0.1>\r\nCall-ID: big\r\nCSeq: 1 REGISTER\r\n\r\n";
    let peer = siaga112::sip::Peer::tcp(from.parse().unwrap(), Some(siaga112::sip::ConnId(9)));
    let now = sim.now;
    sim.core.handle_input(
        now,
        siaga112::core::Input::Refuse {
            peer,
            head,
            status: 513,
            reason: "Message Too Large",
        },
    );
    sim.advance(Duration::ZERO);
    assert!(sim.take(from).is_empty(), "a banned source got an answer");
    assert_eq!(in_force.0, 1);
    println!(
        "guesses answered per minute: {checked_per_minute:?} ({} in 30 min)",
        after + 10
    );
}

#[test]
fn guessing_from_many_sources_bans_the_user_but_not_the_seat_where_it_is_registered() {
    let mut sim = Sim::with_config(CONFIG);
    let seat = "198.51.100.9:5070";
    let ok = attempt(&mut sim, 1, "op1", "secret1", seat).unwrap();
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    for i in 0..10u32 {
        let from = format!("192.0.2.{}:5060", 10 + i);
        let a = attempt(&mut sim, 100 + i, "op1", "wrong", &from).unwrap();
        assert!(a.starts_with("SIP/2.0 403"), "{a}");
    }
    // op1 is banned now: even its right password from elsewhere gets 403...
    let a = attempt(&mut sim, 200, "op1", "secret1", "192.0.2.99:5060").unwrap();
    assert!(a.starts_with("SIP/2.0 403"), "{a}");
    // ...while the seat refreshes its registration from where it is.
    let a = attempt(&mut sim, 201, "op1", "secret1", seat).unwrap();
    assert!(a.starts_with("SIP/2.0 200"), "{a}");
    assert_eq!(sim.core.security().1, (0, 1));
    // After the ban, the right password works from anywhere again.
    sim.advance(Duration::from_secs(61));
    let a = attempt(&mut sim, 202, "op1", "secret1", "192.0.2.99:5060").unwrap();
    assert!(a.starts_with("SIP/2.0 200"), "{a}");
}

#[test]
fn a_captured_authorization_cannot_be_replayed() {
    let mut sim = Sim::with_config(CONFIG);
    let from = "198.51.100.9:5070";
    let reg = |branch: &str, auth: &str| {
        format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK{branch}\r\n\
             From: <sip:op1@127.0.0.1>;tag=r\r\nTo: <sip:op1@127.0.0.1>\r\nCall-ID: replay\r\n\
             CSeq: 2 REGISTER\r\nContact: <sip:op1@{from}>\r\nExpires: 60\r\n{auth}Content-Length: 0\r\n\r\n"
        )
    };
    sim.send(from, &reg("r1", ""));
    let nonce = nonce_in(header(&sim.take(from).pop().unwrap(), "WWW-Authenticate"));
    let auth = credentials(
        "Authorization",
        "op1",
        "secret1",
        &nonce,
        "REGISTER",
        "sip:127.0.0.1",
    );
    sim.send(from, &reg("r2", &auth));
    assert!(sim.take(from).pop().unwrap().starts_with("SIP/2.0 200"));
    // The same credentials in a new transaction (an eavesdropper's copy).
    sim.send(
        "192.0.2.66:5060",
        &reg("r3", &auth).replace(from, "192.0.2.66:5060"),
    );
    let replay = sim.take("192.0.2.66:5060").pop().unwrap();
    assert!(replay.starts_with("SIP/2.0 401"), "{replay}");
    assert_eq!(sim.core.security().0.replays, 1);
}

#[test]
fn a_register_flood_is_limited_per_source_while_trunk_calls_go_on() {
    let mut sim = Sim::with_config(CONFIG);
    let from = "192.0.2.8:5060";
    let mut answered = 0;
    for i in 0..1000 {
        let msg = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKf{i}\r\n\
             From: <sip:x@127.0.0.1>;tag=f\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: flood-{i}\r\n\
             CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
        );
        sim.send(from, &msg);
        answered += sim.take(from).len();
    }
    assert_eq!(answered, 40, "a burst of twice register_rate");
    assert_eq!(sim.core.security().0.limited[0], 960);
    // A trunk's INVITEs are never limited: 1000 in the same instant, all taken.
    let trunk = "127.0.0.2:5080";
    let mut tried = 0;
    for i in 0..1000 {
        let inv = trunk_invite()
            .replace(TRUNK, trunk)
            .replace("z9hG4bKinv1", &format!("z9hG4bKinv{i}"))
            .replace("call1", &format!("call{i}"));
        sim.send(trunk, &inv);
        tried += usize::from(sim.take(trunk).iter().any(|m| m.starts_with("SIP/2.0 1")));
    }
    assert_eq!(tried, 1000, "every trunk INVITE answered");
    assert_eq!(sim.core.security().0.limited[1], 0);
}

/// Bans from many sources in one second are told to the screens once, the
/// rest a second later (listing up to 110,000 bans for each new one would
/// hold up the core); the list holds at most 200 and says how many in all.
#[test]
fn a_burst_of_bans_is_told_to_the_screens_once_a_second() {
    let mut sim = Sim::with_config(&CONFIG.replace("ban_after = 10", "ban_after = 1"));
    let bans_told = |sim: &Sim| -> Vec<(usize, usize)> {
        sim.events
            .iter()
            .filter_map(|e| match e {
                siaga112::operator::Event::Bans(b) => Some((b.bans.len(), b.total)),
                _ => None,
            })
            .collect()
    };
    // 300 sources, one wrong password each, within a few hundred ms.
    for n in 0..300u32 {
        let from = format!("[2001:db8::{:x}]:5070", n + 1);
        attempt(&mut sim, n, "op1", "wrong", &from);
    }
    let told = bans_told(&sim);
    assert_eq!(told.len(), 1, "one list at once: {told:?}");
    sim.advance(Duration::from_millis(1100));
    let told = bans_told(&sim);
    assert_eq!(told.len(), 2, "and one a second later: {told:?}");
    let (shown, total) = told[1];
    assert_eq!(shown, 200, "at most 200 listed");
    // 300 sources and the user op1 itself.
    assert_eq!(total, 301);
}
