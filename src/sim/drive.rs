//! The simulated world around the real [`Core`]: a trunk that places the
//! scenario's calls and hangs up (or gives up waiting), softphones that
//! register with digest auth, ring and answer, a supervisor who logs seats
//! in and out by the shifts, operators who mark pranks, all on one
//! simulated clock. Every message goes through the core as SIP text, so the
//! engine's own routing, ACD, timers and records decide; what it records
//! is what gets measured.

use super::dist::Stream;
use super::scenario::{
    seat_name, seat_password, Scenario, ScenarioError, ENGINE_ADDR, SEAT_PORT, TRUNK_ADDR,
};
use crate::caselog::{EndReason, Kind, Record};
use crate::core::{Core, Input, Output};
use crate::operator::{Actor, CallPhase, Command, Event, SeatPhase};
use crate::sip::Peer;
use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const NS: u64 = 1_000_000_000;
const HOUR_NS: u64 = 3600 * NS;
/// Queue-length bins over the day: 5 minutes each.
pub const QUEUE_BIN_S: u64 = 300;
pub const QUEUE_BINS: usize = (24 * 3600 / QUEUE_BIN_S) as usize;
/// How long after the last arrival the run may go on for calls to end.
const DRAIN_NS: u64 = 7 * 24 * HOUR_NS;
/// 2024-01-01T00:00:00+07:00 (WIB): hour 0 of the simulation.
const WALL_EPOCH_MS: u64 = 1_704_042_000_000;
const SDP: &str = "v=0\r\no=sim 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n";

/// One call of the scenario, drawn before the run (the same for every
/// config under the same seed: common random numbers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// Nanoseconds from hour 0.
    pub t: u64,
    pub class: u16,
    /// The caller in its class's pool (`u64::MAX`: a caller never seen before).
    pub caller: u64,
    /// Seconds the operator spends on it once answered.
    pub handle_s: f64,
    /// Seconds the caller waits before hanging up (infinite: never).
    pub patience_s: f64,
    /// The operator marks it (the class's `mark`) once it is over.
    pub mark: bool,
}

/// Replayed callers (`sim.replay`): one number per caller of the log,
/// whatever the class of each call.
pub const REPLAY_CALLER: u64 = 1 << 62;
/// The random streams that draw what a replayed log does not say.
const REPLAY_STREAM: u64 = 1 << 32;

/// Draws the scenario's calls: Poisson within each hour at that hour's
/// rate, one random stream per class; plus the calls of `sim.replay`.
pub fn arrivals(s: &Scenario) -> Vec<Arrival> {
    let mut replay_rng: std::collections::HashMap<u16, Stream> = Default::default();
    let end = (s.hours * HOUR_NS as f64) as u64;
    let hours = s.hours.ceil() as u64;
    let mut all = Vec::new();
    for (ci, c) in s.classes.iter().enumerate() {
        let mut rng = Stream::new(s.seed, ci as u64);
        let zipf = (c.caller_skew > 0.0).then(|| {
            let mut acc = 0.0;
            let cdf: Vec<f64> = (0..c.callers)
                .map(|k| {
                    acc += 1.0 / ((k + 1) as f64).powf(c.caller_skew);
                    acc
                })
                .collect();
            let total = acc;
            cdf.into_iter().map(|x| x / total).collect::<Vec<f64>>()
        });
        for h in 0..hours {
            let day = (h / 24) as usize;
            let factor = if s.day_factor.is_empty() {
                1.0
            } else {
                s.day_factor[day % 7]
            };
            let rate = c.per_hour[(h % 24) as usize] * factor;
            if rate <= 0.0 {
                continue;
            }
            let (start, stop) = (h * HOUR_NS, ((h + 1) * HOUR_NS).min(end));
            let mean_gap = 3600.0 / rate;
            let mut t = start as f64 / NS as f64;
            loop {
                t += rng.exponential(mean_gap);
                let at = (t * NS as f64) as u64;
                if at >= stop {
                    break;
                }
                let handle_s = c.handle.sample(&mut rng);
                let patience_s = c.patience.sample(&mut rng);
                let caller = match (&zipf, c.callers) {
                    (_, 0) => u64::MAX,
                    (Some(cdf), _) => {
                        let u = rng.uniform();
                        cdf.partition_point(|x| *x < u).min(cdf.len() - 1) as u64
                    }
                    (None, n) => rng.below(n),
                };
                let mark = c.mark.is_some() && rng.uniform() < c.mark_share;
                all.push(Arrival {
                    t: at.max(1),
                    class: ci as u16,
                    caller,
                    handle_s,
                    patience_s,
                    mark,
                });
            }
        }
    }
    for r in &s.replay {
        let c = &s.classes[r.class as usize];
        let rng = replay_rng
            .entry(r.class)
            .or_insert_with(|| Stream::new(s.seed, REPLAY_STREAM + u64::from(r.class)));
        let handle_s = r.handle_s.unwrap_or_else(|| c.handle.sample(rng));
        let patience_s = r.patience_s.unwrap_or_else(|| c.patience.sample(rng));
        all.push(Arrival {
            t: r.t_ns,
            class: r.class,
            caller: REPLAY_CALLER | r.caller,
            handle_s,
            patience_s,
            mark: r.marked,
        });
    }
    all.sort_by(|a, b| a.t.cmp(&b.t).then(a.class.cmp(&b.class)));
    all
}

/// How a call ended, as the engine recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Still going when the run stopped.
    Open,
    /// Answered by a seat after `wait_ms` (from the `ended` record).
    Answered,
    Abandoned,
    Overflowed,
    Failed,
}

/// One call's result.
#[derive(Debug, Clone, Copy)]
pub struct CallResult {
    pub outcome: Outcome,
    /// Arrival to answer (answered), to hanging up (abandoned), to the
    /// overflow: the `ended` record's `wait_ms`.
    pub wait_ms: u64,
    /// Queued behind others or for want of a free seat (not offered in
    /// the very input that brought it).
    pub waited: bool,
    /// Queued at the prank priority: the engine knew the caller for
    /// recent pranks (prank-aware queueing on only).
    pub deprioritized: bool,
}

/// Time each seat spent, by hour of the day (nanoseconds).
#[derive(Debug, Clone, Default)]
pub struct SeatTime {
    /// Logged in (any state but logged out).
    pub logged: [u64; 24],
    pub paused: [u64; 24],
    /// Ringing, on a call or in wrap-up.
    pub busy: [u64; 24],
}

/// Everything a run leaves for the report.
#[derive(Debug, Clone)]
pub struct Run {
    pub arrivals: Vec<Arrival>,
    pub results: Vec<CallResult>,
    pub seats: u32,
    pub seat_time: SeatTime,
    /// Time-weighted waiting calls per 5-minute bin of the day (call-ns),
    /// the most waiting at once, and the ns observed per bin.
    pub queue_area: Vec<f64>,
    pub queue_max: Vec<u32>,
    pub queue_seen: Vec<u64>,
    /// Simulated time at the end (ns).
    pub end_ns: u64,
    pub warmup_ns: u64,
    pub messages: u64,
    pub command_errors: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// The shifts or pauses change.
    Roster,
    SeatAnswers {
        seat: u32,
        gen: u32,
    },
    Hangup(u32),
    Abandon(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    On,
    Off,
    Paused,
}

struct SeatDialog {
    call_id: Box<str>,
    invite: Bytes,
    gen: u32,
    answered: bool,
}

struct Phone {
    addr: SocketAddr,
    name: String,
    contact: String,
    dialogs: Vec<SeatDialog>,
    gen: u32,
    want: Want,
    pause_reason: String,
    phase: SeatPhase,
    since: u64,
    reg_seq: u32,
}

#[derive(Default, Clone)]
struct CallRt {
    case_seq: u64,
    to: Option<Box<str>>,
    answered: bool,
    done: bool,
    offered: bool,
    seat: Option<u32>,
}

/// The simulated world.
struct World<'a> {
    s: &'a Scenario,
    core: Core,
    t0: Instant,
    now: u64,
    deadline: u64,
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    arrivals: Vec<Arrival>,
    calls: Vec<CallRt>,
    results: Vec<CallResult>,
    /// Case sequence number -> call index + 1 (0: not ours).
    case_to_call: Vec<u32>,
    /// The call whose INVITE is being handed to the core now.
    opening: Option<u32>,
    phones: Vec<Phone>,
    /// Dialogs of whoever answers at addresses nobody simulates (an
    /// overflow centre): answered at once.
    elsewhere: Vec<(Box<str>, Bytes)>,
    wire: VecDeque<(SocketAddr, Bytes)>,
    commands: VecDeque<(String, Command, bool)>,
    live: u64,
    trunk: SocketAddr,
    delay_ns: u64,
    seat_time: SeatTime,
    queue_waiting: u32,
    queue_since: u64,
    queue_area: Vec<f64>,
    queue_max: Vec<u32>,
    queue_seen: Vec<u64>,
    warmup_ns: u64,
    messages: u64,
    command_errors: u64,
    buf: String,
    cmd_id: u64,
    /// `SIAGA112_SIM_TRACE` set: every message delivered goes to stderr.
    trace: bool,
    /// The priority known pranksters are queued at (prank-aware on).
    prank_priority: Option<i32>,
}

/// The value of header `name` in SIP text (the first one; the core writes
/// full names).
fn header<'m>(msg: &'m str, name: &str) -> Option<&'m str> {
    for line in msg.split("\r\n").skip(1) {
        if line.is_empty() {
            return None;
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.len() == name.len() && n.eq_ignore_ascii_case(name) {
                return Some(v.trim());
            }
        }
    }
    None
}

fn status_of(msg: &str) -> Option<u16> {
    msg.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

fn cseq_method(msg: &str) -> &str {
    header(msg, "CSeq")
        .and_then(|c| c.split_whitespace().nth(1))
        .unwrap_or("")
}

fn has_tag(v: &str) -> bool {
    v.contains(";tag=")
}

/// The case id's sequence number (`0001-000123` -> 123).
fn case_seq(id: &str) -> Option<u64> {
    id.rsplit_once('-')?.1.parse().ok()
}

/// A response to `req` as a softphone writes it.
fn respond(
    out: &mut String,
    req: &str,
    status: &str,
    tag: Option<&str>,
    contact: &str,
    body: &str,
) {
    out.clear();
    out.push_str("SIP/2.0 ");
    out.push_str(status);
    out.push_str("\r\n");
    for line in req.split("\r\n").skip(1) {
        if line.is_empty() {
            break;
        }
        let name = line.split(':').next().unwrap_or("");
        if name.eq_ignore_ascii_case("Via")
            || name.eq_ignore_ascii_case("From")
            || name.eq_ignore_ascii_case("Call-ID")
            || name.eq_ignore_ascii_case("CSeq")
            || name.eq_ignore_ascii_case("Record-Route")
        {
            out.push_str(line);
            out.push_str("\r\n");
        } else if name.eq_ignore_ascii_case("To") {
            out.push_str(line);
            if let Some(t) = tag.filter(|_| !has_tag(line)) {
                out.push_str(";tag=");
                out.push_str(t);
            }
            out.push_str("\r\n");
        }
    }
    let _ = write!(out, "Contact: <{contact}>\r\n");
    if !body.is_empty() {
        out.push_str("Content-Type: application/sdp\r\n");
    }
    let _ = write!(out, "Content-Length: {}\r\n\r\n{body}", body.len());
}

impl<'a> World<'a> {
    fn instant(&self, ns: u64) -> Instant {
        self.t0 + Duration::from_nanos(ns)
    }

    fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    fn send(&mut self, from: SocketAddr, data: &[u8]) {
        self.messages += 1;
        let now = self.instant(self.now);
        self.core.handle_input(
            now,
            Input::Receive {
                peer: Peer::udp(from),
                data,
            },
        );
    }

    fn send_buf(&mut self, from: SocketAddr) {
        let data = std::mem::take(&mut self.buf);
        self.send(from, data.as_bytes());
        self.buf = data;
    }

    /// Drains the core: delivers every message, applies queued commands,
    /// until nothing moves; notes the core's next deadline.
    fn pump(&mut self) {
        loop {
            loop {
                match self.core.poll_output() {
                    Output::Transmit { peer, data } => self.wire.push_back((peer.addr, data)),
                    Output::Record(r) => self.on_record(&r),
                    Output::Event(e) => self.on_event(e),
                    Output::Media(_) => {}
                    Output::Reply { result, .. } => {
                        if result.is_err() {
                            self.command_errors += 1;
                        }
                    }
                    Output::Timeout(at) => {
                        self.deadline = at.saturating_duration_since(self.t0).as_nanos() as u64;
                        break;
                    }
                }
            }
            if let Some((user, command, supervisor)) = self.commands.pop_front() {
                let by = if supervisor {
                    Actor::supervisor("sim")
                } else {
                    Actor::operator(&user)
                };
                self.cmd_id += 1;
                let now = self.instant(self.now);
                self.core.handle_input(
                    now,
                    Input::Command {
                        id: self.cmd_id,
                        by,
                        command,
                    },
                );
                continue;
            }
            let Some((to, data)) = self.wire.pop_front() else {
                return;
            };
            self.deliver(to, &data);
        }
    }

    fn deliver(&mut self, to: SocketAddr, data: &Bytes) {
        let Ok(msg) = std::str::from_utf8(data) else {
            return;
        };
        if self.trace {
            eprintln!("--- {} to {to}\n{msg}", self.now);
        }
        if to == self.trunk {
            return self.trunk_receives(msg);
        }
        let port = to.port();
        if to.ip() == std::net::Ipv4Addr::LOCALHOST && port >= SEAT_PORT {
            let i = (port - SEAT_PORT) as usize;
            if i < self.phones.len() {
                return self.phone_receives(i, msg, data);
            }
        }
        self.elsewhere_receives(to, msg, data);
    }

    // ------------------------------------------------------------ records

    fn call_of_case(&self, case: Option<&crate::caselog::CaseId>) -> Option<usize> {
        let seq = case_seq(case?.as_str())? as usize;
        let i = *self.case_to_call.get(seq)?;
        (i > 0).then(|| (i - 1) as usize)
    }

    fn on_record(&mut self, r: &Arc<Record>) {
        match &r.kind {
            Kind::Opened { .. } => {
                let (Some(i), Some(seq)) = (
                    self.opening.take(),
                    r.case.as_ref().and_then(|c| case_seq(c.as_str())),
                ) else {
                    return;
                };
                let seq = seq as usize;
                if self.case_to_call.len() <= seq {
                    self.case_to_call.resize(seq + 1, 0);
                }
                self.case_to_call[seq] = i + 1;
                self.calls[i as usize].case_seq = seq as u64;
            }
            Kind::Queued { priority, .. } => {
                if let (Some(p), Some(i)) =
                    (self.prank_priority, self.call_of_case(r.case.as_ref()))
                {
                    if *priority <= p {
                        self.results[i].deprioritized = true;
                    }
                }
            }
            Kind::Answered { seat } => {
                if let Some(i) = self.call_of_case(r.case.as_ref()) {
                    self.calls[i].seat = seat
                        .strip_prefix('s')
                        .and_then(|n| n.parse::<u32>().ok())
                        .map(|n| n - 1);
                }
            }
            Kind::Ended {
                reason, wait_ms, ..
            } => {
                let Some(i) = self.call_of_case(r.case.as_ref()) else {
                    return;
                };
                let seat = self.calls[i].seat;
                let outcome = match reason {
                    EndReason::Completed | EndReason::MediaTimeout if seat.is_some() => {
                        Outcome::Answered
                    }
                    EndReason::Abandoned => Outcome::Abandoned,
                    EndReason::Overflowed => Outcome::Overflowed,
                    _ if seat.is_some() => Outcome::Answered,
                    _ => Outcome::Failed,
                };
                let offered = self.calls[i].offered;
                let res = &mut self.results[i];
                if !offered {
                    // Gone (abandoned, overflowed) without ever being offered.
                    res.waited = true;
                }
                res.outcome = outcome;
                res.wait_ms = *wait_ms;
                self.live -= 1;
                let a = self.arrivals[i];
                if let (true, Some(seat), Some(case)) = (a.mark, seat, r.case.clone()) {
                    if let Some(mark) = self.s.classes[a.class as usize].mark.clone() {
                        let name = self.phones[seat as usize].name.clone();
                        self.commands.push_back((
                            name.clone(),
                            Command::Mark {
                                seat: name,
                                case: Some(case),
                                mark,
                            },
                            false,
                        ));
                    }
                }
            }
            _ => {}
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Call(c) => {
                if let CallPhase::Offered { at_once } = c.phase {
                    if let Some(i) = self.call_of_case(Some(&c.case)) {
                        if !self.calls[i].offered {
                            self.calls[i].offered = true;
                            self.results[i].waited = !at_once;
                        }
                    }
                }
            }
            Event::Seat(st) => {
                let Some(i) = st
                    .seat
                    .strip_prefix('s')
                    .and_then(|n| n.parse::<usize>().ok())
                    .map(|n| n - 1)
                    .filter(|i| *i < self.phones.len())
                else {
                    return;
                };
                self.seat_phase(i, st.phase);
            }
            Event::Queue(q) => {
                // One queue in most scenarios; several add up.
                let _ = q.queue;
                self.queue_change(q.waiting);
            }
            Event::Case(_) | Event::Bans(_) => {}
        }
    }

    /// Adds `[from, to)` to per-hour-of-day bins, from the warm-up on.
    fn add_hours(bins: &mut [u64; 24], from: u64, to: u64, warm: u64) {
        let mut a = from.max(warm);
        while a < to {
            let h = (a / HOUR_NS) % 24;
            let b = ((a / HOUR_NS) + 1) * HOUR_NS;
            let b = b.min(to);
            bins[h as usize] += b - a;
            a = b;
        }
    }

    fn seat_phase(&mut self, i: usize, phase: SeatPhase) {
        let (old, since) = (self.phones[i].phase, self.phones[i].since);
        let now = self.now;
        if old != SeatPhase::LoggedOut {
            Self::add_hours(&mut self.seat_time.logged, since, now, self.warmup_ns);
        }
        match old {
            SeatPhase::Paused => {
                Self::add_hours(&mut self.seat_time.paused, since, now, self.warmup_ns)
            }
            SeatPhase::Ringing | SeatPhase::OnCall | SeatPhase::WrapUp => {
                Self::add_hours(&mut self.seat_time.busy, since, now, self.warmup_ns)
            }
            _ => {}
        }
        self.phones[i].phase = phase;
        self.phones[i].since = now;
        // What the roster wants, once the seat's call allows it.
        let name = self.phones[i].name.clone();
        match (self.phones[i].want, phase) {
            (Want::On, SeatPhase::LoggedOut) => {
                self.commands
                    .push_back((name.clone(), Command::Unpause { seat: name }, true));
            }
            (Want::Paused, SeatPhase::Available | SeatPhase::WrapUp) => {
                let reason = self.phones[i].pause_reason.clone();
                self.commands.push_back((
                    name.clone(),
                    Command::Pause { seat: name, reason },
                    true,
                ));
            }
            (Want::Paused, SeatPhase::LoggedOut) => {
                self.commands
                    .push_back((name.clone(), Command::Unpause { seat: name }, true));
            }
            _ => {}
        }
    }

    fn queue_change(&mut self, waiting: u32) {
        let (from, to) = (self.queue_since.max(self.warmup_ns), self.now);
        let mut a = from;
        let bin_ns = QUEUE_BIN_S * NS;
        let day = 24 * HOUR_NS;
        while a < to {
            let b = ((a / bin_ns) + 1) * bin_ns;
            let b = b.min(to);
            let bin = ((a % day) / bin_ns) as usize;
            self.queue_area[bin] += self.queue_waiting as f64 * (b - a) as f64;
            self.queue_seen[bin] += b - a;
            self.queue_max[bin] = self.queue_max[bin].max(self.queue_waiting);
            a = b;
        }
        if self.now >= self.warmup_ns {
            let bin = ((self.now % day) / bin_ns) as usize;
            self.queue_max[bin] = self.queue_max[bin].max(waiting);
        }
        self.queue_waiting = waiting;
        self.queue_since = self.now;
    }

    // ------------------------------------------------------------ roster

    /// Logs seats in and out and pauses them as the shifts say for now.
    fn roster(&mut self) {
        let h = (self.now % (24 * HOUR_NS)) as f64 / HOUR_NS as f64;
        let on = self.s.seats_at(h) as usize;
        let (paused, reason) = self.s.paused_at(h);
        let paused = (paused as usize).min(on);
        let reason = reason.to_string();
        for i in 0..self.phones.len() {
            let want = if i >= on {
                Want::Off
            } else if i >= on - paused {
                Want::Paused
            } else {
                Want::On
            };
            let p = &mut self.phones[i];
            if p.want == want && (want != Want::Paused || p.pause_reason == reason) {
                continue;
            }
            p.want = want;
            p.pause_reason = reason.clone();
            let name = p.name.clone();
            let phase = p.phase;
            match want {
                Want::Off => {
                    self.commands
                        .push_back((name.clone(), Command::LogOut { seat: name }, true))
                }
                Want::On => {
                    if matches!(phase, SeatPhase::LoggedOut | SeatPhase::Paused) {
                        self.commands.push_back((
                            name.clone(),
                            Command::Unpause { seat: name },
                            true,
                        ));
                    }
                }
                Want::Paused => match phase {
                    SeatPhase::Available | SeatPhase::WrapUp | SeatPhase::Paused => {
                        self.commands.push_back((
                            name.clone(),
                            Command::Pause {
                                seat: name,
                                reason: reason.clone(),
                            },
                            true,
                        ))
                    }
                    SeatPhase::LoggedOut => self.commands.push_back((
                        name.clone(),
                        Command::Unpause { seat: name },
                        true,
                    )),
                    // Ringing or talking: paused when the call is over.
                    _ => {}
                },
            }
        }
        // The next change of the roster.
        let day = self.now / (24 * HOUR_NS);
        let next = self
            .s
            .breakpoints()
            .into_iter()
            .map(|b| day * 24 * HOUR_NS + (b * HOUR_NS as f64).round() as u64)
            .find(|t| *t > self.now)
            .unwrap_or((day + 1) * 24 * HOUR_NS);
        self.schedule(next, Ev::Roster);
    }

    // ------------------------------------------------------------ trunk

    fn caller_uri(&self, i: usize) -> String {
        let a = &self.arrivals[i];
        if a.caller == u64::MAX {
            format!("+629{i:010}")
        } else if a.caller & REPLAY_CALLER != 0 {
            format!("+627{:010}", a.caller & !REPLAY_CALLER)
        } else {
            format!("+628{:02}{:08}", a.class, a.caller)
        }
    }

    fn request_uri(dial: &str) -> String {
        if dial.starts_with("urn:") {
            dial.to_string()
        } else {
            format!("sip:{dial}@{ENGINE_ADDR}")
        }
    }

    fn arrive(&mut self, i: usize) {
        let a = self.arrivals[i];
        let dial = &self.s.classes[a.class as usize].dial;
        let ruri = Self::request_uri(dial);
        let caller = self.caller_uri(i);
        self.buf.clear();
        let _ = write!(
            self.buf,
            "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK_ADDR};branch=z9hG4bKi{i}\r\nMax-Forwards: 70\r\n\
             From: <sip:{caller}@{TRUNK_ADDR}>;tag=f{i}\r\nTo: <{ruri}>\r\nCall-ID: c{i}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:trunk@{TRUNK_ADDR}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
            SDP.len()
        );
        self.live += 1;
        self.opening = Some(i as u32);
        let trunk = self.trunk;
        self.send_buf(trunk);
        // Its `opened` record names its case.
        self.pump();
        self.opening = None;
        if a.patience_s.is_finite() {
            let at = self.now + (a.patience_s * NS as f64) as u64;
            self.schedule(at, Ev::Abandon(i as u32));
        }
    }

    fn abandon(&mut self, i: usize) {
        let c = &self.calls[i];
        if c.answered || c.done {
            return;
        }
        let a = self.arrivals[i];
        let ruri = Self::request_uri(&self.s.classes[a.class as usize].dial);
        let caller = self.caller_uri(i);
        self.buf.clear();
        let _ = write!(
            self.buf,
            "CANCEL {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK_ADDR};branch=z9hG4bKi{i}\r\nMax-Forwards: 70\r\n\
             From: <sip:{caller}@{TRUNK_ADDR}>;tag=f{i}\r\nTo: <{ruri}>\r\nCall-ID: c{i}\r\nCSeq: 1 CANCEL\r\n\
             Content-Length: 0\r\n\r\n"
        );
        let trunk = self.trunk;
        self.send_buf(trunk);
    }

    fn hangup(&mut self, i: usize) {
        let c = &self.calls[i];
        if !c.answered || c.done {
            return;
        }
        let to = c.to.clone().unwrap_or_default();
        let caller = self.caller_uri(i);
        self.buf.clear();
        let _ = write!(
            self.buf,
            "BYE sip:siaga112@{ENGINE_ADDR} SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK_ADDR};branch=z9hG4bKb{i}\r\nMax-Forwards: 70\r\n\
             From: <sip:{caller}@{TRUNK_ADDR}>;tag=f{i}\r\nTo: {to}\r\nCall-ID: c{i}\r\nCSeq: 2 BYE\r\n\
             Content-Length: 0\r\n\r\n"
        );
        self.calls[i].done = true;
        self.calls[i].to = None;
        let trunk = self.trunk;
        self.send_buf(trunk);
    }

    fn trunk_receives(&mut self, msg: &str) {
        let Some(i) = header(msg, "Call-ID")
            .and_then(|c| c.strip_prefix('c'))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|i| *i < self.calls.len())
        else {
            return;
        };
        let contact = format!("sip:trunk@{TRUNK_ADDR}");
        if let Some(code) = status_of(msg) {
            if cseq_method(msg) != "INVITE" || code < 200 {
                return;
            }
            let to = header(msg, "To").unwrap_or("").to_string();
            let caller = self.caller_uri(i);
            self.buf.clear();
            if code < 300 {
                let _ = write!(
                    self.buf,
                    "ACK sip:siaga112@{ENGINE_ADDR} SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK_ADDR};branch=z9hG4bKa{i}\r\nMax-Forwards: 70\r\n\
                     From: <sip:{caller}@{TRUNK_ADDR}>;tag=f{i}\r\nTo: {to}\r\nCall-ID: c{i}\r\nCSeq: 1 ACK\r\n\
                     Content-Length: 0\r\n\r\n"
                );
                let first = !self.calls[i].answered && !self.calls[i].done;
                if first {
                    self.calls[i].answered = true;
                    self.calls[i].to = Some(to.into());
                }
                let trunk = self.trunk;
                self.send_buf(trunk);
                if first {
                    let at = self.now + (self.arrivals[i].handle_s * NS as f64) as u64;
                    self.schedule(at, Ev::Hangup(i as u32));
                }
            } else {
                let a = self.arrivals[i];
                let ruri = Self::request_uri(&self.s.classes[a.class as usize].dial);
                let _ = write!(
                    self.buf,
                    "ACK {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK_ADDR};branch=z9hG4bKi{i}\r\nMax-Forwards: 70\r\n\
                     From: <sip:{caller}@{TRUNK_ADDR}>;tag=f{i}\r\nTo: {to}\r\nCall-ID: c{i}\r\nCSeq: 1 ACK\r\n\
                     Content-Length: 0\r\n\r\n"
                );
                self.calls[i].done = true;
                let trunk = self.trunk;
                self.send_buf(trunk);
            }
            return;
        }
        if msg.starts_with("ACK ") {
            return;
        }
        if msg.starts_with("BYE ") {
            self.calls[i].done = true;
            self.calls[i].to = None;
        }
        let mut out = std::mem::take(&mut self.buf);
        respond(&mut out, msg, "200 OK", None, &contact, "");
        let trunk = self.trunk;
        self.send(trunk, out.as_bytes());
        self.buf = out;
    }

    // ------------------------------------------------------------ seats

    fn register(&mut self, i: usize, auth: Option<&str>) {
        let p = &mut self.phones[i];
        p.reg_seq += 1;
        let (user, addr, seq, contact) = (p.name.clone(), p.addr, p.reg_seq, p.contact.clone());
        let auth = auth.unwrap_or("");
        self.buf.clear();
        let _ = write!(
            self.buf,
            "REGISTER sip:{ENGINE_ADDR} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKr{user}x{seq}\r\nMax-Forwards: 70\r\n\
             From: <sip:{user}@{ENGINE_ADDR}>;tag=r{user}\r\nTo: <sip:{user}@{ENGINE_ADDR}>\r\nCall-ID: reg-{user}\r\n\
             CSeq: {seq} REGISTER\r\nContact: <{contact}>\r\nExpires: 31622400\r\n{auth}Content-Length: 0\r\n\r\n"
        );
        self.send_buf(addr);
    }

    fn answer_seat(&mut self, i: usize, gen: u32) {
        let p = &mut self.phones[i];
        let Some(d) = p.dialogs.iter_mut().find(|d| d.gen == gen && !d.answered) else {
            return;
        };
        d.answered = true;
        let invite = d.invite.clone();
        let (addr, contact) = (p.addr, p.contact.clone());
        let tag = format!("t{gen}");
        let Ok(req) = std::str::from_utf8(&invite) else {
            return;
        };
        let mut out = std::mem::take(&mut self.buf);
        respond(&mut out, req, "200 OK", Some(&tag), &contact, SDP);
        self.send(addr, out.as_bytes());
        self.buf = out;
    }

    fn phone_receives(&mut self, i: usize, msg: &str, data: &Bytes) {
        let (addr, contact) = (self.phones[i].addr, self.phones[i].contact.clone());
        if let Some(code) = status_of(msg) {
            if code == 401 && cseq_method(msg) == "REGISTER" {
                let Some(nonce) = header(msg, "WWW-Authenticate")
                    .and_then(|c| c.split("nonce=\"").nth(1))
                    .and_then(|r| r.split('"').next())
                else {
                    return;
                };
                let user = self.phones[i].name.clone();
                let uri = format!("sip:{ENGINE_ADDR}");
                let a = crate::sip::digest::DigestAuth {
                    username: &user,
                    realm: "siaga112",
                    nonce,
                    uri: &uri,
                    response: "",
                    algorithm: crate::config::DigestAlgorithm::Md5,
                    qop_auth: Some(("00000001", "sim")),
                };
                let resp = crate::sip::digest::expected_response(&a, &seat_password(i), "REGISTER");
                let auth = format!(
                    "Authorization: Digest username=\"{user}\", realm=\"siaga112\", nonce=\"{nonce}\", uri=\"{uri}\", \
                     response=\"{resp}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"sim\"\r\n"
                );
                self.register(i, Some(&auth));
            }
            return;
        }
        let call_id = header(msg, "Call-ID").unwrap_or("");
        let method = msg.split(' ').next().unwrap_or("");
        let mut out = std::mem::take(&mut self.buf);
        match method {
            "INVITE" if !header(msg, "To").is_some_and(has_tag) => {
                let p = &mut self.phones[i];
                p.gen += 1;
                let gen = p.gen;
                p.dialogs.push(SeatDialog {
                    call_id: call_id.into(),
                    invite: data.clone(),
                    gen,
                    answered: false,
                });
                if self.delay_ns == 0 {
                    self.buf = out;
                    return self.answer_seat(i, gen);
                }
                respond(
                    &mut out,
                    msg,
                    "180 Ringing",
                    Some(&format!("t{gen}")),
                    &contact,
                    "",
                );
                self.send(addr, out.as_bytes());
                let at = self.now + self.delay_ns;
                self.schedule(
                    at,
                    Ev::SeatAnswers {
                        seat: i as u32,
                        gen,
                    },
                );
            }
            "ACK" => {
                // The ACK of our 487: that dialog is over.
                let p = &mut self.phones[i];
                p.dialogs.retain(|d| &*d.call_id != call_id || d.answered);
            }
            "CANCEL" => {
                respond(&mut out, msg, "200 OK", None, &contact, "");
                self.send(addr, out.as_bytes());
                let p = &mut self.phones[i];
                if let Some(k) = p
                    .dialogs
                    .iter()
                    .position(|d| &*d.call_id == call_id && !d.answered)
                {
                    let d = p.dialogs.remove(k);
                    if let Ok(inv) = std::str::from_utf8(&d.invite) {
                        respond(
                            &mut out,
                            inv,
                            "487 Request Terminated",
                            Some(&format!("t{}", d.gen)),
                            &contact,
                            "",
                        );
                        self.send(addr, out.as_bytes());
                    }
                }
            }
            "BYE" => {
                respond(&mut out, msg, "200 OK", None, &contact, "");
                self.send(addr, out.as_bytes());
                self.phones[i].dialogs.retain(|d| &*d.call_id != call_id);
            }
            _ => {
                // A re-INVITE, OPTIONS, INFO...: 200.
                let body = if method == "INVITE" { SDP } else { "" };
                respond(&mut out, msg, "200 OK", None, &contact, body);
                self.send(addr, out.as_bytes());
            }
        }
        self.buf = out;
    }

    /// Whoever answers at an address nobody simulates (an overflow
    /// centre): takes every call at once.
    fn elsewhere_receives(&mut self, from: SocketAddr, msg: &str, data: &Bytes) {
        if status_of(msg).is_some() {
            return;
        }
        let call_id = header(msg, "Call-ID").unwrap_or("").to_string();
        let contact = format!("sip:other@{from}");
        let method = msg.split(' ').next().unwrap_or("");
        let mut out = std::mem::take(&mut self.buf);
        match method {
            "INVITE" if !header(msg, "To").is_some_and(has_tag) => {
                respond(&mut out, msg, "200 OK", Some("elsewhere"), &contact, SDP);
                self.send(from, out.as_bytes());
                self.elsewhere.push((call_id.into(), data.clone()));
            }
            "ACK" => {}
            "CANCEL" => {
                respond(&mut out, msg, "200 OK", None, &contact, "");
                self.send(from, out.as_bytes());
            }
            _ => {
                if method == "BYE" {
                    self.elsewhere.retain(|(c, _)| **c != *call_id);
                }
                respond(&mut out, msg, "200 OK", None, &contact, "");
                self.send(from, out.as_bytes());
            }
        }
        self.buf = out;
    }
}

/// Runs a scenario on the real core: all its calls, until the last one
/// is over.
pub fn run(s: &Scenario) -> Result<Run, ScenarioError> {
    run_with(s, arrivals(s))
}

/// [`run`] with calls drawn before (the same calls for several configs).
pub fn run_with(s: &Scenario, arrivals: Vec<Arrival>) -> Result<Run, ScenarioError> {
    let seats = s.max_seats();
    let cfg = Arc::new(s.engine_config(seats)?);
    let prank_priority = s.prank_aware.then_some(cfg.acd.prank_priority);
    let t0 = Instant::now();
    let core = Core::new(cfg, t0, WALL_EPOCH_MS, 1, s.seed ^ 0x5111_a6a1);
    let n = arrivals.len();
    let trunk: SocketAddr = TRUNK_ADDR
        .parse()
        .map_err(|_| ScenarioError::Syntax("bad trunk address".into()))?;
    let phones = (0..seats as usize)
        .map(|i| {
            let addr = SocketAddr::from(([127, 0, 0, 1], SEAT_PORT + i as u16));
            let name = seat_name(i);
            Phone {
                contact: format!("sip:{name}@{addr}"),
                name,
                addr,
                dialogs: Vec::new(),
                gen: 0,
                want: Want::On,
                pause_reason: String::new(),
                phase: SeatPhase::LoggedOut,
                since: 0,
                reg_seq: 0,
            }
        })
        .collect();
    let mut w = World {
        s,
        core,
        t0,
        now: 0,
        deadline: 0,
        heap: BinaryHeap::new(),
        seq: 0,
        calls: vec![CallRt::default(); n],
        results: vec![
            CallResult {
                outcome: Outcome::Open,
                wait_ms: 0,
                waited: false,
                deprioritized: false,
            };
            n
        ],
        arrivals,
        case_to_call: Vec::with_capacity(n + 1),
        opening: None,
        phones,
        elsewhere: Vec::new(),
        wire: VecDeque::new(),
        commands: VecDeque::new(),
        live: 0,
        trunk,
        delay_ns: (s.answer_delay_s * NS as f64) as u64,
        seat_time: SeatTime::default(),
        queue_waiting: 0,
        queue_since: 0,
        queue_area: vec![0.0; QUEUE_BINS],
        queue_max: vec![0; QUEUE_BINS],
        queue_seen: vec![0; QUEUE_BINS],
        warmup_ns: (s.warmup_h * HOUR_NS as f64) as u64,
        messages: 0,
        command_errors: 0,
        buf: String::with_capacity(1024),
        cmd_id: 0,
        trace: std::env::var_os("SIAGA112_SIM_TRACE").is_some(),
        prank_priority,
    };
    w.pump();
    // Every seat registers at hour 0 (for the whole run), then the roster
    // logs out those off shift.
    for i in 0..seats as usize {
        w.register(i, None);
        w.pump();
    }
    w.roster();
    w.pump();
    let limit = (s.hours * HOUR_NS as f64) as u64 + DRAIN_NS;
    let mut next_arrival = 0usize;
    let mut stuck = 0u32;
    loop {
        if next_arrival == n && w.live == 0 {
            break;
        }
        let arr = w.arrivals.get(next_arrival).map_or(u64::MAX, |a| a.t);
        let ev = w.heap.peek().map_or(u64::MAX, |e| e.0 .0);
        let mine = arr.min(ev);
        if w.deadline <= mine {
            if w.deadline > limit {
                break;
            }
            if w.deadline <= w.now {
                stuck += 1;
                if stuck > 10_000 {
                    return Err(ScenarioError::Invalid {
                        key: "engine".into(),
                        why: "the core keeps asking for the same instant; stopped".into(),
                    });
                }
            } else {
                stuck = 0;
            }
            w.now = w.now.max(w.deadline);
            let now = w.instant(w.now);
            w.core.handle_input(now, Input::Timeout);
            w.pump();
            continue;
        }
        if mine > limit {
            break;
        }
        w.now = mine;
        if arr <= ev {
            let i = next_arrival;
            next_arrival += 1;
            w.arrive(i);
        } else {
            let Reverse((_, _, e)) = w.heap.pop().expect("an event");
            match e {
                Ev::Roster => w.roster(),
                Ev::SeatAnswers { seat, gen } => w.answer_seat(seat as usize, gen),
                Ev::Hangup(i) => w.hangup(i as usize),
                Ev::Abandon(i) => w.abandon(i as usize),
            }
        }
        w.pump();
    }
    // Close the seats' and the queue's time at the end.
    for i in 0..w.phones.len() {
        let phase = w.phones[i].phase;
        let want = w.phones[i].want;
        w.phones[i].want = Want::Off;
        w.seat_phase(i, phase);
        w.phones[i].want = want;
    }
    w.commands.clear();
    let waiting = w.queue_waiting;
    w.queue_change(waiting);
    Ok(Run {
        arrivals: w.arrivals,
        results: w.results,
        seats,
        seat_time: w.seat_time,
        queue_area: w.queue_area,
        queue_max: w.queue_max,
        queue_seen: w.queue_seen,
        end_ns: w.now,
        warmup_ns: w.warmup_ns,
        messages: w.messages,
        command_errors: w.command_errors,
    })
}
