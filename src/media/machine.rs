//! The machine's state, its commands and its timers. The per-packet path is
//! in `relay.rs`.

use super::dtmf::Detector;
use super::g711::{self, Law};
use super::prompt::{Player, Prompts, FRAME};
use super::record::{Recorder, RecorderMsg, FLUSH_EVERY, RATE};
use super::rtp::{self, SeqTrack};
use super::{
    Codec, CodecKind, Direction, LegSetup, LegStats, MediaCommand, MediaConfig, MediaCounters,
    MediaEvent, MediaOutput, SessionId, Side, SockId,
};
use foldhash::{HashMap, HashMapExt};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// "No codec" in a leg's payload type table.
pub(crate) const NO_PT: u8 = u8::MAX;
/// Prompt packets sent at once after a late wake-up; older slots are skipped.
const MAX_BURST: u64 = 3;
/// A freed socket id is reused only once this many are free: a datagram
/// the shell read before an Unbind can never reach another call's leg.
const REUSE_AFTER: usize = 256;

/// Who owns a socket id.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SockOwner {
    pub slot: u32,
    pub side: Side,
    pub rtcp: bool,
}

/// The RTP latch of a leg.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Latch {
    pub addr: Option<SocketAddr>,
    pub ssrc: u32,
    /// Highest sequence number seen from the latched stream.
    pub seq: u16,
}

#[derive(Debug)]
pub(crate) struct Leg {
    /// Timer generation: bumped when the leg is replaced or updated.
    pub gen: u64,
    pub local_port: u16,
    pub rtp_sock: SockId,
    pub rtcp_sock: Option<SockId>,
    pub sdp_remote: Option<SocketAddr>,
    pub codecs: Vec<Codec>,
    /// Payload type -> index into `codecs` (or [`NO_PT`]).
    pub pt_index: [u8; 128],
    /// Payload type -> the payload type the other leg uses for that codec.
    pub relay_pt: [u8; 128],
    pub direction: Direction,
    pub rtp: Latch,
    pub rtcp_addr: Option<SocketAddr>,
    /// Last valid RTP (or the open/update time).
    pub last_rtp: Instant,
    pub timed_out: bool,
    pub seq: SeqTrack,
    pub dtmf: Detector,
    pub stats: LegStats,
}

impl Leg {
    fn new(gen: u64, setup: LegSetup, socks: (SockId, Option<SockId>), now: Instant) -> Leg {
        let mut leg = Leg {
            gen,
            local_port: setup.local_port,
            rtp_sock: socks.0,
            rtcp_sock: socks.1,
            sdp_remote: known(setup.remote),
            codecs: Vec::new(),
            pt_index: [NO_PT; 128],
            relay_pt: [0; 128],
            direction: setup.direction,
            rtp: Latch::default(),
            rtcp_addr: None,
            last_rtp: now,
            timed_out: false,
            seq: SeqTrack::default(),
            dtmf: Detector::default(),
            stats: LegStats::default(),
        };
        leg.set_codecs(setup.codecs);
        leg
    }

    fn set_codecs(&mut self, codecs: Vec<Codec>) {
        self.pt_index = [NO_PT; 128];
        for (i, c) in codecs.iter().enumerate().take(usize::from(NO_PT)) {
            if let Some(slot) = self.pt_index.get_mut(usize::from(c.pt)) {
                if *slot == NO_PT {
                    *slot = i as u8;
                }
            }
        }
        self.codecs = codecs;
        for (pt, out) in self.relay_pt.iter_mut().enumerate() {
            *out = pt as u8;
        }
    }

    /// The first G.711 codec: what prompts are sent in.
    fn g711(&self) -> Option<(u8, Law)> {
        self.codecs.iter().find_map(|c| match c.kind {
            CodecKind::Pcmu if c.pt < 128 => Some((c.pt, Law::Mu)),
            CodecKind::Pcma if c.pt < 128 => Some((c.pt, Law::A)),
            _ => None,
        })
    }

    fn limit(&self, cfg: &MediaConfig) -> std::time::Duration {
        if self.direction == Direction::SendRecv {
            cfg.timeout
        } else {
            cfg.hold_timeout
        }
    }

    /// Where RTP for this leg goes: its latched source, else its SDP.
    #[inline]
    pub fn rtp_dest(&self) -> Option<SocketAddr> {
        self.rtp.addr.or(self.sdp_remote)
    }

    /// Where RTCP for this leg goes: its RTCP source, else the RTP
    /// destination's port + 1.
    #[inline]
    pub fn rtcp_dest(&self) -> Option<SocketAddr> {
        if self.rtcp_addr.is_some() {
            return self.rtcp_addr;
        }
        let mut a = self.rtp_dest()?;
        a.set_port(a.port().checked_add(1)?);
        Some(a)
    }

    fn lost(&self) -> u64 {
        self.seq.lost()
    }
}

/// An address with port 0 is no address.
fn known(a: Option<SocketAddr>) -> Option<SocketAddr> {
    a.filter(|a| a.port() != 0)
}

/// Each of `a`'s payload types becomes the number `b` uses for the same
/// codec (same kind, clock and channels; `Other` only with the same number).
fn map_pts(a: &mut Leg, b: &Leg) {
    for (pt, out) in a.relay_pt.iter_mut().enumerate() {
        *out = pt as u8;
    }
    for c in &a.codecs {
        let Some(out) = a.relay_pt.get_mut(usize::from(c.pt)) else {
            continue;
        };
        let same = |d: &&Codec| {
            d.kind == c.kind
                && d.clock == c.clock
                && d.channels == c.channels
                && d.pt < 128
                && (c.kind != CodecKind::Other || d.pt == c.pt)
        };
        if b.codecs.iter().any(|d| d.pt == c.pt && same(&d)) {
            continue;
        }
        if let Some(d) = b.codecs.iter().find(same) {
            *out = d.pt;
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Silence {
    /// Not bridged yet.
    Off,
    /// Bridged; no loud caller packet yet. The timer carries `gen`.
    Watching { gen: u64 },
    /// Reported, or the caller spoke.
    Done,
}

/// The session's own stream, for generated packets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OwnStream {
    ssrc: u32,
    seq: u16,
    ts: u32,
}

#[derive(Debug)]
pub(crate) struct Session {
    pub id: SessionId,
    pub legs: [Option<Leg>; 2],
    pub bridged: bool,
    pub player: Option<Player>,
    pub own: OwnStream,
    pub silence: Silence,
    pub recorder: Option<Recorder>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Leg(u8),
    Play,
    Silence,
    Record,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    at: Instant,
    slot: u32,
    gen: u64,
    kind: TimerKind,
}

/// The media machine. See the module docs.
pub struct Media {
    pub(crate) cfg: MediaConfig,
    pub(crate) prompts: Arc<Prompts>,
    pub(crate) sessions: Vec<Option<Session>>,
    free_slots: Vec<u32>,
    by_id: HashMap<SessionId, u32>,
    pub(crate) socks: Vec<Option<SockOwner>>,
    free_socks: VecDeque<u32>,
    timers: BinaryHeap<Reverse<Timer>>,
    pub(crate) out: VecDeque<MediaOutput>,
    pub(crate) counters: MediaCounters,
    /// The mean square above which a caller packet is not silence.
    pub(crate) loud: f64,
    next_gen: u64,
}

/// splitmix64: SSRCs and initial numbers that differ per session, with no
/// clock and no global randomness (tests stay deterministic).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Media {
    pub fn new(cfg: MediaConfig, prompts: Arc<Prompts>) -> Media {
        let loud = g711::mean_square_of_dbov(cfg.silence_threshold_dbov);
        Media {
            cfg,
            prompts,
            sessions: Vec::new(),
            free_slots: Vec::new(),
            by_id: HashMap::new(),
            socks: Vec::new(),
            free_socks: VecDeque::new(),
            timers: BinaryHeap::new(),
            out: VecDeque::with_capacity(1024),
            counters: MediaCounters::default(),
            loud,
            next_gen: 1,
        }
    }

    /// Machine-wide counters (for /metrics).
    pub fn stats(&self) -> MediaCounters {
        let mut c = self.counters;
        c.sessions_open = self.by_id.len() as u64;
        c.legs_open = self
            .sessions
            .iter()
            .flatten()
            .map(|s| s.legs.iter().flatten().count() as u64)
            .sum();
        c
    }

    pub fn poll_output(&mut self) -> Option<MediaOutput> {
        self.out.pop_front()
    }

    /// The earliest deadline (possibly of a timer that turns out stale: a
    /// wake-up then does nothing).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|t| t.0.at)
    }

    fn gen(&mut self) -> u64 {
        self.next_gen += 1;
        self.next_gen
    }

    /// Arms a timer; `None` (a deadline past what `Instant` can hold, from
    /// an absurd configured duration) is never.
    fn arm(&mut self, at: Option<Instant>, slot: u32, gen: u64, kind: TimerKind) {
        let Some(at) = at else { return };
        self.timers.push(Reverse(Timer {
            at,
            slot,
            gen,
            kind,
        }));
    }

    pub(crate) fn event(&mut self, e: MediaEvent) {
        self.out.push_back(MediaOutput::Event(e));
    }

    fn alloc_sock(&mut self, owner: SockOwner, port: u16) -> SockId {
        let reuse = if self.free_socks.len() > REUSE_AFTER {
            self.free_socks.pop_front()
        } else {
            None
        };
        let id = match reuse {
            Some(i) => {
                self.socks[i as usize] = Some(owner);
                i
            }
            None => {
                self.socks.push(Some(owner));
                (self.socks.len() - 1) as u32
            }
        };
        let sock = SockId(id);
        self.out.push_back(MediaOutput::Bind { sock, port });
        sock
    }

    fn free_sock(&mut self, sock: SockId) {
        if let Some(s) = self.socks.get_mut(sock.0 as usize) {
            if s.take().is_some() {
                self.free_socks.push_back(sock.0);
                self.out.push_back(MediaOutput::Unbind { sock });
            }
        }
    }

    fn bind_pair(&mut self, slot: u32, side: Side, port: u16) -> (SockId, Option<SockId>) {
        let own = |rtcp| SockOwner { slot, side, rtcp };
        let rtp = self.alloc_sock(own(false), port);
        let rtcp = port.checked_add(1).map(|p| self.alloc_sock(own(true), p));
        (rtp, rtcp)
    }

    fn unbind_leg(&mut self, leg: &Leg) {
        self.free_sock(leg.rtp_sock);
        if let Some(s) = leg.rtcp_sock {
            self.free_sock(s);
        }
    }

    fn session_mut(&mut self, slot: u32) -> Option<&mut Session> {
        self.sessions.get_mut(slot as usize)?.as_mut()
    }

    fn new_session(&mut self, id: SessionId) -> u32 {
        let seed = mix(id ^ mix(self.next_gen));
        let s = Session {
            id,
            legs: [None, None],
            bridged: false,
            player: None,
            own: OwnStream {
                ssrc: seed as u32,
                seq: (seed >> 32) as u16,
                ts: mix(seed) as u32,
            },
            silence: Silence::Off,
            recorder: None,
        };
        let slot = match self.free_slots.pop() {
            Some(i) => {
                self.sessions[i as usize] = Some(s);
                i
            }
            None => {
                self.sessions.push(Some(s));
                (self.sessions.len() - 1) as u32
            }
        };
        self.by_id.insert(id, slot);
        slot
    }

    pub fn handle_command(&mut self, now: Instant, cmd: MediaCommand) {
        match cmd {
            MediaCommand::OpenLeg { session, side, leg } => self.open_leg(now, session, side, leg),
            MediaCommand::UpdateLeg { session, side, leg } => {
                self.update_leg(now, session, side, leg)
            }
            MediaCommand::Play {
                session,
                prompts,
                then,
            } => {
                let Some(&slot) = self.by_id.get(&session) else {
                    return;
                };
                let gen = self.gen();
                if let Some(s) = self.session_mut(slot) {
                    s.player = Some(Player::new(gen, prompts, then, now));
                    self.arm(Some(now), slot, gen, TimerKind::Play);
                }
            }
            MediaCommand::StopPlay { session } => {
                if let Some(s) = self
                    .by_id
                    .get(&session)
                    .copied()
                    .and_then(|i| self.session_mut(i))
                {
                    s.player = None;
                }
            }
            MediaCommand::Bridge { session } => self.bridge(now, session),
            MediaCommand::Record { session, path } => self.record(now, session, path),
            MediaCommand::Close { session } => self.close(now, session),
        }
    }

    fn open_leg(&mut self, now: Instant, session: SessionId, side: Side, setup: LegSetup) {
        let slot = match self.by_id.get(&session) {
            Some(&s) => s,
            None => self.new_session(session),
        };
        let gen = self.gen();
        let Some(old) = self
            .session_mut(slot)
            .and_then(|s| s.legs[side.index()].take())
        else {
            let socks = self.bind_pair(slot, side, setup.local_port);
            self.install(now, slot, side, Leg::new(gen, setup, socks, now));
            return;
        };
        let socks = if old.local_port == setup.local_port {
            (old.rtp_sock, old.rtcp_sock)
        } else {
            self.unbind_leg(&old);
            self.bind_pair(slot, side, setup.local_port)
        };
        let mut leg = Leg::new(gen, setup, socks, now);
        // The counters are the call's, whichever leg carried it.
        leg.stats = old.stats;
        leg.stats.lost += old.lost();
        self.install(now, slot, side, leg);
    }

    /// Puts a leg in place, arms its timeout and renumbers both legs.
    fn install(&mut self, now: Instant, slot: u32, side: Side, leg: Leg) {
        let at = now.checked_add(leg.limit(&self.cfg));
        let gen = leg.gen;
        let Some(s) = self.session_mut(slot) else {
            return;
        };
        s.legs[side.index()] = Some(leg);
        remap(s);
        self.arm(at, slot, gen, TimerKind::Leg(side.index() as u8));
    }

    fn update_leg(&mut self, now: Instant, session: SessionId, side: Side, setup: LegSetup) {
        let Some(&slot) = self.by_id.get(&session) else {
            return self.open_leg(now, session, side, setup);
        };
        let same_port = self
            .session_mut(slot)
            .and_then(|s| s.legs[side.index()].as_ref())
            .is_some_and(|l| l.local_port == setup.local_port);
        if !same_port {
            // Not open, or moved to another port: a new leg.
            return self.open_leg(now, session, side, setup);
        }
        let gen = self.gen();
        let cfg = self.cfg.clone();
        let Some(leg) = self
            .session_mut(slot)
            .and_then(|s| s.legs[side.index()].as_mut())
        else {
            return;
        };
        let remote = known(setup.remote);
        if remote.is_some() && remote != leg.sdp_remote {
            leg.sdp_remote = remote;
            leg.rtp = Latch::default();
            leg.rtcp_addr = None;
            leg.seq.restart();
        }
        leg.set_codecs(setup.codecs);
        leg.direction = setup.direction;
        leg.gen = gen;
        leg.last_rtp = now;
        leg.timed_out = false;
        let at = now.checked_add(leg.limit(&cfg));
        if let Some(s) = self.session_mut(slot) {
            remap(s);
        }
        self.arm(at, slot, gen, TimerKind::Leg(side.index() as u8));
    }

    fn bridge(&mut self, now: Instant, session: SessionId) {
        let Some(&slot) = self.by_id.get(&session) else {
            return;
        };
        let gen = self.gen();
        let at = now.checked_add(self.cfg.silent_after);
        let Some(s) = self.session_mut(slot) else {
            return;
        };
        s.bridged = true;
        s.player = None;
        for leg in s.legs.iter_mut().flatten() {
            leg.last_rtp = leg.last_rtp.max(now);
        }
        let caller_decodable = s.legs[0].as_ref().is_some_and(|l| l.g711().is_some());
        if s.silence == Silence::Off && caller_decodable {
            s.silence = Silence::Watching { gen };
            self.arm(at, slot, gen, TimerKind::Silence);
        }
    }

    fn record(&mut self, now: Instant, session: SessionId, path: PathBuf) {
        let Some(&slot) = self.by_id.get(&session) else {
            return;
        };
        let gen = self.gen();
        let Some(s) = self.session_mut(slot) else {
            return;
        };
        let mut msgs = Vec::new();
        if let Some(mut old) = s.recorder.take() {
            msgs.extend(old.finish(now).map(MediaOutput::Recorder));
            msgs.push(MediaOutput::Recorder(RecorderMsg::Finish { session }));
        }
        let mut notes = Vec::new();
        let mut decodable = 0;
        for (side, name) in [(0, "caller"), (1, "seat")] {
            match &s.legs[side] {
                Some(l) if l.g711().is_some() => decodable += 1,
                Some(l) => notes.push(format!(
                    "{name}: no G.711 among the negotiated codecs ({}): its channel is silence",
                    describe(&l.codecs)
                )),
                None => notes.push(format!("{name}: leg not open at the start")),
            }
        }
        let codec_note = (!notes.is_empty()).then(|| notes.join("; "));
        s.recorder = Some(Recorder::new(gen, session, now, decodable > 0));
        msgs.push(MediaOutput::Recorder(RecorderMsg::Start {
            session,
            path,
            sample_rate: RATE,
            codec_note,
        }));
        self.out.extend(msgs);
        // Sessions' flushes are spread over the interval (by session id),
        // so that calls recorded together do not all decode at one tick.
        let spread = FLUSH_EVERY.as_millis() as u64;
        let offset = std::time::Duration::from_millis(session.wrapping_mul(37) % spread);
        self.arm(
            now.checked_add(FLUSH_EVERY + offset),
            slot,
            gen,
            TimerKind::Record,
        );
    }

    fn close(&mut self, now: Instant, session: SessionId) {
        let Some(slot) = self.by_id.remove(&session) else {
            return;
        };
        let Some(mut s) = self.sessions.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        self.free_slots.push(slot);
        for side in [Side::Caller, Side::Seat] {
            if let Some(d) = s.legs[side.index()].as_mut().and_then(|l| l.dtmf.finish()) {
                self.digit(session, side, d);
            }
        }
        if let Some(mut r) = s.recorder.take() {
            if let Some(m) = r.finish(now) {
                self.out.push_back(MediaOutput::Recorder(m));
            }
            self.out
                .push_back(MediaOutput::Recorder(RecorderMsg::Finish { session }));
        }
        let mut stats = [LegStats::default(); 2];
        for (i, leg) in s.legs.iter().enumerate() {
            if let Some(l) = leg {
                self.unbind_leg(l);
                stats[i] = l.stats;
                stats[i].lost += l.lost();
            }
        }
        self.event(MediaEvent::Stats {
            session,
            caller: stats[0],
            seat: stats[1],
        });
    }

    pub(crate) fn digit(&mut self, session: SessionId, side: Side, (digit, ms): (char, u32)) {
        self.counters.digits += 1;
        self.event(MediaEvent::Digit {
            session,
            side,
            digit,
            duration_ms: ms,
        });
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse(t)) = self.timers.peek() {
            if t.at > now {
                break;
            }
            self.timers.pop();
            self.fire(now, t);
        }
    }

    fn fire(&mut self, now: Instant, t: Timer) {
        let cfg_timeout = (self.cfg.timeout, self.cfg.hold_timeout);
        let Some(s) = self.session_mut(t.slot) else {
            return;
        };
        let id = s.id;
        let bridged = s.bridged;
        match t.kind {
            TimerKind::Leg(i) => {
                let Some(leg) = s.legs.get_mut(usize::from(i)).and_then(Option::as_mut) else {
                    return;
                };
                if leg.gen != t.gen || leg.timed_out {
                    return;
                }
                if !bridged {
                    // A caller waiting in the queue may send nothing until
                    // a seat answers: the timeout counts from the bridge.
                    let again = now.checked_add(cfg_timeout.0);
                    self.arm(again, t.slot, t.gen, t.kind);
                    return;
                }
                let limit = if leg.direction == Direction::SendRecv {
                    cfg_timeout.0
                } else {
                    cfg_timeout.1
                };
                let Some(deadline) = leg.last_rtp.checked_add(limit) else {
                    return;
                };
                if deadline <= now {
                    leg.timed_out = true;
                    let side = if i == 0 { Side::Caller } else { Side::Seat };
                    self.counters.timeouts += 1;
                    self.event(MediaEvent::Timeout { session: id, side });
                } else {
                    self.arm(Some(deadline), t.slot, t.gen, t.kind);
                }
            }
            TimerKind::Silence => {
                if s.silence == (Silence::Watching { gen: t.gen }) {
                    s.silence = Silence::Done;
                    self.event(MediaEvent::Silent { session: id });
                }
            }
            TimerKind::Record => {
                let Some(r) = s.recorder.as_mut().filter(|r| r.gen == t.gen) else {
                    return;
                };
                if let Some(m) = r.tick(now) {
                    self.out.push_back(MediaOutput::Recorder(m));
                }
                self.arm(t.at.checked_add(FLUSH_EVERY), t.slot, t.gen, t.kind);
            }
            TimerKind::Play => {
                if s.player.as_ref().is_some_and(|p| p.gen == t.gen) {
                    self.play(now, t.slot);
                }
            }
        }
    }

    /// Sends the prompt packets due by `now` and arms the next tick.
    fn play(&mut self, now: Instant, slot: u32) {
        let prompts = Arc::clone(&self.prompts);
        let Some(s) = self
            .sessions
            .get_mut(slot as usize)
            .and_then(Option::as_mut)
        else {
            return;
        };
        let Some(p) = s.player.as_mut() else {
            return;
        };
        // Nothing is sent to a caller whose SDP says we may not send to it
        // (it holds us); the slots still pass, so the prompt stays on time.
        let caller = s.legs[0]
            .as_ref()
            .filter(|l| matches!(l.direction, Direction::SendRecv | Direction::SendOnly));
        let target = caller.and_then(|l| Some((l.rtp_sock, l.rtp_dest()?, l.g711()?)));
        let law = target.map_or(Law::A, |t| t.2 .1);
        let due = p.due_count(now);
        let skip = due.saturating_sub(MAX_BURST);
        for _ in 0..skip {
            p.next_frame(&prompts, law);
            s.own.ts = s.own.ts.wrapping_add(FRAME as u32);
        }
        for _ in skip..due {
            let frame = p.next_frame(&prompts, law);
            if let Some((sock, to, (pt, law))) = target {
                let mut data = Vec::with_capacity(12 + FRAME);
                let marker = std::mem::take(&mut p.marker);
                data.extend_from_slice(&rtp::header(marker, pt, s.own.seq, s.own.ts, s.own.ssrc));
                match frame {
                    Some(f) => data.extend_from_slice(f),
                    None => data.resize(12 + FRAME, law.silence()),
                }
                self.out.push_back(MediaOutput::Transmit {
                    sock,
                    to,
                    data: data.into(),
                });
                self.counters.prompt_packets += 1;
                s.own.seq = s.own.seq.wrapping_add(1);
            }
            s.own.ts = s.own.ts.wrapping_add(FRAME as u32);
        }
        let (at, gen) = (p.due(), p.gen);
        self.arm(Some(at), slot, gen, TimerKind::Play);
    }
}

/// Renumbering tables of both legs, from each other's codecs.
fn remap(s: &mut Session) {
    let [a, b] = &mut s.legs;
    if let (Some(a), Some(b)) = (a.as_mut(), b.as_mut()) {
        map_pts(a, b);
        map_pts(b, a);
    }
}

fn describe(codecs: &[Codec]) -> String {
    let v: Vec<String> = codecs
        .iter()
        .map(|c| format!("pt {} {:?}/{}", c.pt, c.kind, c.clock))
        .collect();
    v.join(", ")
}
