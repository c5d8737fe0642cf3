//! The call's side of the media plane: which relay ports a call uses, the
//! SDP we answer and offer with, and the commands for the media machine
//! (which runs on its own thread and tells us back what it saw).
//!
//! A call's media is relayed when its offer has an audio stream and a port
//! pair is free. An emergency call is never refused for its SDP: an offer
//! we cannot read, or no free ports, and the call is bridged without the
//! relay as before, and the case says so.

use super::table::Call;
use super::B2bua;
use crate::acd::CallId;
use crate::caselog::{CaseId, EndReason, Kind};
use crate::media::{
    Codec, CodecKind, Direction, LegSetup, MediaCommand, MediaEvent, PortPool, Prompts, Side,
};
use crate::sip::header;
use crate::sip::rsip::Response;
use crate::sip::sdp::{self, Dir, RtpMap};
use crate::transaction::Transactions;
use foldhash::{HashMap, HashMapExt};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the core knows of the relay.
pub struct MediaPlane {
    pub ports: PortPool,
    pub advertise: IpAddr,
    pub prompts: Arc<Prompts>,
    pub recording_dir: PathBuf,
    /// Recordings being finished: the session's case, until the recorder
    /// says it is written (or after an hour, forgotten).
    pub recordings: HashMap<CallId, (CaseId, Instant)>,
    /// One alarm line a minute at most when ports run out.
    pub last_alarm: Option<Instant>,
}

impl MediaPlane {
    pub fn new(cfg: &crate::config::Config, prompts: Arc<Prompts>) -> Option<MediaPlane> {
        let m = &cfg.media;
        m.enabled.then(|| MediaPlane {
            ports: PortPool::new(m.ports.0, m.ports.1),
            advertise: m.advertise,
            prompts,
            recording_dir: cfg.recording.dir.clone(),
            recordings: HashMap::new(),
            last_alarm: None,
        })
    }
}

/// What to do with a relayed message's body.
pub enum Relayed {
    /// Not a relayed call, or no SDP in it: as it came.
    AsIs,
    /// The body naming our relay.
    Body(Vec<u8>),
    /// Its SDP cannot be read or has nothing we can relay.
    Unusable,
}

/// A relayed call's media.
#[derive(Debug, Clone)]
pub struct CallMedia {
    pub caller_port: u16,
    /// The seat side's port pair, once a seat (or the overflow) is offered.
    pub seat_port: Option<u16>,
    /// The caller leg's codecs, numbered as the trunk numbers them.
    pub codecs: Vec<RtpMap>,
    /// Our SDP answer to the trunk (sent with the 183, the 200, or both).
    pub answer: String,
    /// Prompts can be played (the caller has a G.711 codec).
    pub g711: bool,
}

/// The media machine's codec for an SDP one.
fn codec(r: &RtpMap) -> Codec {
    let kind = if r.is("PCMU") {
        CodecKind::Pcmu
    } else if r.is("PCMA") {
        CodecKind::Pcma
    } else if r.is("telephone-event") {
        CodecKind::TelephoneEvent
    } else {
        CodecKind::Other
    };
    Codec {
        pt: r.pt,
        kind,
        clock: r.clock,
        channels: r.channels,
    }
}

fn direction(d: Dir) -> Direction {
    match d {
        Dir::SendRecv => Direction::SendRecv,
        Dir::SendOnly => Direction::SendOnly,
        Dir::RecvOnly => Direction::RecvOnly,
        Dir::Inactive => Direction::Inactive,
    }
}

/// The codecs we answer with: the first G.711 of the offer (else its first
/// codec, relayed as it is), plus its telephone-event.
fn choose(offered: &[RtpMap]) -> Vec<RtpMap> {
    let audio = offered
        .iter()
        .find(|c| c.is("PCMA") || c.is("PCMU"))
        .or_else(|| offered.iter().find(|c| !c.is("telephone-event")));
    let te = offered
        .iter()
        .find(|c| c.is("telephone-event") && c.clock == 8000)
        .or_else(|| offered.iter().find(|c| c.is("telephone-event")));
    audio.into_iter().chain(te).cloned().collect()
}

/// The SDP of a message: its body when it is `application/sdp`, or the SDP
/// part of a multipart body.
pub fn sdp_of<'a>(headers: &'a crate::sip::rsip::Headers, body: &'a [u8]) -> Option<&'a [u8]> {
    let ct = header(headers, "Content-Type")?;
    if body.is_empty() {
        return None;
    }
    let parsed = crate::sip::body::parse(ct, body);
    let part = crate::sip::body::find_sdp(&parsed)?;
    body.get(part.range.clone())
}

impl B2bua {
    /// A new call's media: parse the trunk's offer, take a port pair, open
    /// the caller leg. None (with a record saying why) when not relayed.
    pub(super) fn open_call_media(
        &mut self,
        now: Instant,
        id: CallId,
        case: &CaseId,
        offer: Option<&[u8]>,
    ) -> Option<CallMedia> {
        let plane = self.media.as_mut()?;
        let parsed = match offer.map(sdp::parse) {
            None => Err("the call has no SDP offer".to_string()),
            Some(Err(e)) => Err(format!("the SDP offer cannot be read ({e})")),
            Some(Ok(s)) if s.audio().is_none() => Err("the offer has no audio stream".into()),
            Some(Ok(s)) => Ok(s),
        };
        let sdp = match parsed {
            Ok(s) => s,
            Err(why) => {
                let note = format!("not relayed: {why}; bridged end to end");
                tracing::info!(case = %case, %note, "media");
                self.record(now, Some(case.clone()), Kind::Media { note });
                return None;
            }
        };
        let Some(port) = plane.ports.alloc() else {
            if plane
                .last_alarm
                .is_none_or(|t| now.saturating_duration_since(t) > Duration::from_secs(60))
            {
                plane.last_alarm = Some(now);
                tracing::error!(case = %case, "ALARM: out of media relay ports; calls bridged without the relay");
            }
            let note = "not relayed: out of relay ports; bridged end to end".to_string();
            self.record(now, Some(case.clone()), Kind::Media { note });
            return None;
        };
        let (_, audio) = sdp.audio()?;
        let codecs = choose(&audio.codecs());
        let g711 = codecs.iter().any(|c| c.is("PCMA") || c.is("PCMU"));
        let answer = sdp::answer(&sdp, plane.advertise, port, &codecs, id);
        let leg = LegSetup {
            local_port: port,
            remote: sdp.remote(audio),
            codecs: codecs.iter().map(codec).collect(),
            direction: direction(audio.direction.answer()),
        };
        if !g711 {
            let note = format!(
                "relayed, not recorded: the caller's codec {} cannot be decoded",
                codecs.first().map_or("?", |c| c.name.as_str())
            );
            self.record(now, Some(case.clone()), Kind::Media { note });
        }
        self.media_out(MediaCommand::OpenLeg {
            session: id,
            side: Side::Caller,
            leg,
        });
        Some(CallMedia {
            caller_port: port,
            seat_port: None,
            codecs,
            answer,
            g711,
        })
    }

    pub(super) fn media_out(&mut self, cmd: MediaCommand) {
        self.out.push_back(super::CallOutput::Media(cmd));
    }

    /// The prompts a waiting caller of `call` can hear: its queue's that
    /// were loaded, when its media is relayed in G.711.
    pub(super) fn prompts_of(&self, id: CallId) -> Vec<crate::media::PromptId> {
        let (Some(c), Some(plane)) = (self.calls.get(id), self.media.as_ref()) else {
            return Vec::new();
        };
        if !c.media.as_ref().is_some_and(|m| m.g711) {
            return Vec::new();
        }
        let names = &self.cfg.queues[c.queue].announce;
        names.iter().filter_map(|n| plane.prompts.id(n)).collect()
    }

    /// Plays the queue's prompts to the caller (the last one repeats).
    pub(super) fn announce(&mut self, id: CallId) {
        let ids = self.prompts_of(id);
        if let Some((then, first)) = ids.split_last() {
            self.media_out(MediaCommand::Play {
                session: id,
                prompts: first.to_vec(),
                then: Some(*then),
            });
        }
    }

    /// The body of an outbound leg's INVITE: our offer when relayed (the
    /// seat side's ports opened on first use), else the trunk's body.
    pub(super) fn leg_offer(&mut self, id: CallId) -> Option<(String, Vec<u8>)> {
        let plane = self.media.as_mut()?;
        let c = self.calls.get_mut(id)?;
        let m = c.media.as_mut()?;
        let port = match m.seat_port {
            Some(p) => p,
            None => {
                let p = plane.ports.alloc()?;
                m.seat_port = Some(p);
                let leg = LegSetup {
                    local_port: p,
                    remote: None,
                    codecs: m.codecs.iter().map(codec).collect(),
                    direction: Direction::SendRecv,
                };
                self.out
                    .push_back(super::CallOutput::Media(MediaCommand::OpenLeg {
                        session: id,
                        side: Side::Seat,
                        leg,
                    }));
                p
            }
        };
        let body = sdp::offer(plane.advertise, port, &m.codecs, Dir::SendRecv, id, 1);
        Some(("application/sdp".into(), body.into_bytes()))
    }

    /// A seat (or the overflow) answered a relayed call: learn its side,
    /// bridge, record. Returns our answer for the trunk's 200.
    pub(super) fn media_answered(
        &mut self,
        now: Instant,
        id: CallId,
        resp: &Response,
    ) -> Option<String> {
        let c = self.calls.get(id)?;
        let m = c.media.clone()?;
        let record = self.cfg.queues[c.queue].record;
        let case = c.case.clone();
        let port = m.seat_port?;
        let answer = sdp_of(&resp.headers, &resp.body).and_then(|b| sdp::parse(b).ok());
        let (remote, codecs, dir) = match answer.as_ref().and_then(|s| Some((s, s.audio()?.1))) {
            Some((s, a)) => (s.remote(a), a.codecs(), a.direction),
            None => (None, m.codecs.clone(), Dir::SendRecv),
        };
        self.media_out(MediaCommand::UpdateLeg {
            session: id,
            side: Side::Seat,
            leg: LegSetup {
                local_port: port,
                remote,
                codecs: codecs.iter().map(codec).collect(),
                direction: direction(dir.answer()),
            },
        });
        self.media_out(MediaCommand::Bridge { session: id });
        if record && m.g711 {
            let day = crate::caselog::format_time(self.wall_ms(now));
            if let Some(plane) = self.media.as_mut() {
                let path = plane
                    .recording_dir
                    .join(day.get(..10).unwrap_or("unknown"))
                    .join(format!("{}.wav", case.as_str()));
                plane.recordings.insert(id, (case, now));
                self.media_out(MediaCommand::Record { session: id, path });
            }
        }
        Some(m.answer)
    }

    /// A relayed request's or answer's SDP, made to name our relay toward
    /// the leg it goes to; the sending side's leg learns the new offer or
    /// answer. `to_trunk`: the message goes to the trunk.
    pub(super) fn media_relay_body(
        &mut self,
        id: CallId,
        to_trunk: bool,
        headers: &crate::sip::rsip::Headers,
        body: &[u8],
    ) -> Relayed {
        let Some(plane) = self.media.as_ref() else {
            return Relayed::AsIs;
        };
        let advertise = plane.advertise;
        let Some(c): Option<&Call> = self.calls.get(id) else {
            return Relayed::AsIs;
        };
        let Some(m) = c.media.as_ref() else {
            return Relayed::AsIs;
        };
        let Some(sdp_bytes) = sdp_of(headers, body) else {
            return Relayed::AsIs;
        };
        let ports = if to_trunk {
            m.seat_port.map(|p| (m.caller_port, Side::Seat, p))
        } else {
            m.seat_port.map(|p| (p, Side::Caller, m.caller_port))
        };
        let Some((out_port, from_side, from_port)) = ports else {
            return Relayed::AsIs;
        };
        let parsed = match sdp::parse(sdp_bytes) {
            Ok(p) if p.audio().is_some() => p,
            _ => return Relayed::Unusable,
        };
        let Some((_, audio)) = parsed.audio() else {
            return Relayed::Unusable;
        };
        let leg = LegSetup {
            local_port: from_port,
            remote: parsed.remote(audio),
            codecs: audio.codecs().iter().map(codec).collect(),
            direction: direction(audio.direction.answer()),
        };
        let Ok(rewritten) = sdp::rewrite(sdp_bytes, advertise, out_port) else {
            return Relayed::Unusable;
        };
        self.media_out(MediaCommand::UpdateLeg {
            session: id,
            side: from_side,
            leg,
        });
        // A multipart body: only its SDP part changes.
        let ct = header(headers, "Content-Type").unwrap_or("");
        let whole = crate::sip::body::parse(ct, body);
        Relayed::Body(match crate::sip::body::find_sdp(&whole) {
            Some(part) if part.range.len() != body.len() => {
                crate::sip::body::replace_part(body, part, rewritten.as_bytes())
            }
            _ => rewritten.into_bytes(),
        })
    }

    /// The call ended: the media legs close, their ports are free.
    pub(super) fn close_media(&mut self, id: CallId, m: Option<CallMedia>) {
        let Some(m) = m else { return };
        self.media_out(MediaCommand::Close { session: id });
        if let Some(plane) = self.media.as_mut() {
            plane.ports.free(m.caller_port);
            if let Some(p) = m.seat_port {
                plane.ports.free(p);
            }
        }
    }

    /// What the media machine (or the recorder) saw.
    pub fn on_media_event(&mut self, now: Instant, txs: &mut Transactions, ev: MediaEvent) {
        match ev {
            MediaEvent::Digit {
                session,
                side,
                digit,
                duration_ms,
            } => {
                let Some(c) = self.calls.get(session) else {
                    return;
                };
                let case = c.case.clone();
                tracing::info!(case = %case, side = side_name(side), %digit, "digit");
                self.record(
                    now,
                    Some(case),
                    Kind::Digit {
                        side: side_name(side).into(),
                        digit: digit.to_string(),
                        duration_ms,
                    },
                );
            }
            MediaEvent::Silent { session } => {
                let Some(c) = self.calls.get(session) else {
                    return;
                };
                let case = c.case.clone();
                tracing::info!(case = %case, "caller silent since the answer: suggested silent");
                self.record(
                    now,
                    Some(case),
                    Kind::Suggested {
                        mark: "silent".into(),
                    },
                );
            }
            MediaEvent::Timeout { session, side } => {
                let Some(c) = self.calls.get(session) else {
                    return;
                };
                tracing::warn!(case = %c.case, side = side_name(side), "no RTP: a dead call, hung up");
                self.hang_up_both(now, txs, session, EndReason::MediaTimeout);
            }
            MediaEvent::Latched {
                session,
                side,
                from,
            } => {
                tracing::debug!(session, side = side_name(side), %from, "media latched");
            }
            MediaEvent::Stats {
                session,
                caller,
                seat,
            } => {
                tracing::debug!(session, ?caller, ?seat, "media counters at close");
            }
            MediaEvent::Recorded {
                session,
                path,
                duration_ms,
                codec,
                sha256,
                bytes,
            } => {
                let case = self
                    .media
                    .as_mut()
                    .and_then(|p| p.recordings.remove(&session));
                let Some((case, _)) = case else { return };
                self.record(
                    now,
                    Some(case),
                    Kind::Recorded {
                        path: path.display().to_string(),
                        duration_ms,
                        codec,
                        sha256,
                        bytes,
                        recovered: false,
                    },
                );
            }
            MediaEvent::RecordingFailed { session, why } => {
                let case = self
                    .media
                    .as_mut()
                    .and_then(|p| p.recordings.remove(&session));
                let Some((case, _)) = case else { return };
                tracing::error!(case = %case, %why, "ALARM: recording failed; the call goes on");
                self.record(now, Some(case), Kind::RecordingFailed { why });
            }
        }
    }

    /// Forgets recordings the recorder never reported (it died).
    pub(super) fn sweep_recordings(&mut self, now: Instant) {
        if let Some(p) = self.media.as_mut() {
            p.recordings.retain(|_, (_, since)| {
                now.saturating_duration_since(*since) < Duration::from_secs(3600)
            });
        }
    }
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Caller => "caller",
        Side::Seat => "seat",
    }
}
