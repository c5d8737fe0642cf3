//! The media plane: a sans-I/O RTP relay with latching, prompts, RFC 4733
//! digits, silence detection and recording.
//!
//! [`Media`] is the engine's second state machine (the first is the core).
//! It never touches a socket, a thread or a clock: the shell (on its own
//! thread, with its own UDP sockets and `recvmmsg`/`sendmmsg` batching) feeds
//! it [`MediaCommand`]s from the core, datagrams through
//! [`Media::handle_packet`] and the time through [`Media::handle_timeout`],
//! and carries out what [`Media::poll_output`] returns. Every test runs on
//! simulated time, so a 60 s recording or a 2 h hold timeout takes
//! milliseconds to test.
//!
//! # The hot path
//!
//! [`Media::handle_packet`] is what runs per datagram, and it is built to
//! cost about what rtpengine's userspace relay costs:
//! - **O(1), no hashing of addresses.** A [`SockId`] is an index into a
//!   `Vec` of socket owners, which names a slot in a `Vec` of sessions; the
//!   leg is `legs[side]`. The payload type is looked up in a 128-entry table
//!   per leg, and so is the payload type it becomes on the other leg.
//! - **No allocation.** The datagram is inspected and, when the two legs
//!   number the same codec differently, its payload type byte is rewritten in
//!   place; the shell sends the same buffer. Events (a digit, a latch) go
//!   into a queue reserved up front; recording decodes straight into a ring
//!   buffer owned by the session. A test counts allocations on the relay
//!   loop and requires zero.
//! - **No locks, no panics.** The machine is owned by one thread. Every
//!   index into packet bytes is checked; a proptest feeds arbitrary bytes.
//!
//! RTP headers are read with `rtp-rs`'s `RtpReader`: it borrows the buffer
//! (zero copy, zero allocation), checks version 2, the CSRC list, the
//! header extension and the padding length against the packet length before
//! any field is read, and it is already the project's RTP crate. We read the
//! fields we need into a small `Copy` struct, drop the borrow, and then may
//! rewrite the payload type byte ourselves (the reader is read-only). RTCP
//! validation (version, packet type, the compound walk) is a dozen lines of
//! our own (`rtp.rs`), since `rtp-rs` does not cover RTCP.
//!
//! # Latching (symmetric RTP)
//!
//! The RTPproxy rule: until a leg has latched, packets to it go to the
//! address from its SDP; the first valid RTP packet it sends latches the leg
//! to its source, whatever the SDP said (NATs rewrite addresses). RTCP
//! latches on its own socket the same way. Once latched, packets from other
//! sources are dropped and counted, except a valid packet that carries the
//! latched SSRC with a sequence number just ahead of the last one seen (a NAT
//! rebinding mid-call): that re-latches. A flood from elsewhere with another
//! SSRC therefore never steals a call (off-path, an attacker would have to
//! guess a 32-bit SSRC and a sequence window). A new SSRC from the latched
//! source is a new stream (a re-INVITE, a transfer at the far end) and is
//! accepted.
//!
//! # Timers
//!
//! One binary heap of deadlines (prompt ticks, leg timeouts, the silence
//! deadline, recorder flushes), each tagged with a generation number so that
//! a stopped prompt or a replaced leg leaves only a harmless stale entry.
//! Leg timeouts are lazy: the hot path only stores the arrival time of the
//! last valid RTP packet; when the deadline entry fires and the leg was
//! active since, the entry is pushed again for the new deadline. So
//! [`Media::poll_timeout`] is O(1) and no packet touches the heap.
//!
//! # The shell's side of the contract
//!
//! - Bind every [`MediaOutput::Bind`] (RTP on an even port, RTCP on the odd
//!   one above it: separate [`SockId`]s) before feeding packets for it, and
//!   feed no packet for a socket after carrying out its
//!   [`MediaOutput::Unbind`] (socket ids are reused, oldest freed first,
//!   once more than 256 are free).
//! - Call [`Media::handle_timeout`] at (or after) [`Media::poll_timeout`];
//!   prompt pacing is computed from the start time, so a late wake-up does
//!   not drift the stream (a backlog of up to three packets is sent at once,
//!   beyond that slots are skipped).
//! - [`MediaOutput::Recorder`] messages go to the recorder thread in order.
//!
//! # Ports
//!
//! [`PortPool`] hands out RTP/RTCP port pairs. It is pure, and owned by the
//! core (on the SIP thread), which writes the port into its SDP before it
//! sends [`MediaCommand::OpenLeg`]: the media machine binds what it is told.

mod dtmf;
mod g711;
mod machine;
mod ports;
mod prompt;
mod record;
mod relay;
mod rtp;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_play;
#[cfg(test)]
mod tests_record;
#[cfg(test)]
mod tests_robust;

pub use g711::Law;
pub use machine::Media;
pub use ports::PortPool;
pub use prompt::{PromptId, Prompts};
pub use record::RecorderMsg;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One per call, chosen by the core.
pub type SessionId = u64;

/// The two legs of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The trunk leg (the person who called 112).
    Caller,
    /// The seat leg (or an agency or overflow leg).
    Seat,
}

impl Side {
    pub(crate) fn index(self) -> usize {
        match self {
            Side::Caller => 0,
            Side::Seat => 1,
        }
    }
}

/// A socket, as the machine numbers them. The shell keeps a table from this
/// index to its real socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SockId(pub u32);

/// Limits and thresholds, fixed for the machine's life.
#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// No valid RTP from a leg for this long: [`MediaEvent::Timeout`].
    pub timeout: Duration,
    /// The same while the leg is on hold (direction other than SendRecv).
    pub hold_timeout: Duration,
    /// After the bridge, a caller below the threshold this long:
    /// [`MediaEvent::Silent`].
    pub silent_after: Duration,
    /// Per-packet RMS level (dBov: 20 log10(rms / 32768), so a full-scale
    /// sine is about -3 dBov) at or below which a caller packet is silence.
    pub silence_threshold_dbov: f32,
    /// Longer datagrams are dropped (counted as oversized).
    pub max_packet: usize,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            timeout: Duration::from_secs(30),
            hold_timeout: Duration::from_secs(2 * 3600),
            silent_after: Duration::from_secs(20),
            silence_threshold_dbov: -50.0,
            max_packet: 1500,
        }
    }
}

/// One negotiated payload type of a leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Codec {
    /// The RTP payload type number (0..=127; others are ignored).
    pub pt: u8,
    pub kind: CodecKind,
    /// The RTP clock rate (8000 for G.711; telephone-event has its own).
    pub clock: u32,
    pub channels: u8,
}

/// What the machine can do with a payload type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CodecKind {
    /// G.711 µ-law: decoded for silence detection and recording.
    Pcmu,
    /// G.711 A-law: decoded for silence detection and recording.
    Pcma,
    /// RFC 4733 events: digits reported, packets relayed.
    TelephoneEvent,
    /// Relayed, not decodable. Two legs' `Other` codecs are taken for the
    /// same codec only with the same payload type, clock and channels (there
    /// is no encoding name to compare), so they are never renumbered.
    Other,
}

/// The direction attribute of *our* SDP for a leg: what the relay may do
/// toward that leg. (A far end that holds us offers `sendonly`; our answer,
/// and so this value, is `RecvOnly`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    SendRecv,
    /// We send, the leg does not (we hold it).
    SendOnly,
    /// The leg sends, we may not (it holds us).
    RecvOnly,
    /// Held both ways.
    Inactive,
}

/// One leg, as the offer/answer negotiated it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegSetup {
    /// Our RTP port (even); RTCP is `local_port + 1`.
    pub local_port: u16,
    /// The far end's RTP address from its SDP. `None` or port 0: unknown
    /// until the leg latches.
    pub remote: Option<SocketAddr>,
    /// The negotiated payload types; the first G.711 one carries prompts.
    pub codecs: Vec<Codec>,
    /// Anything but SendRecv is hold: the leg's timeout is `hold_timeout`.
    pub direction: Direction,
}

/// From the core.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaCommand {
    /// Create (or replace) one leg of a session: the shell must bind
    /// `local_port` and `local_port + 1` (Bind outputs). Replacing a leg on
    /// the same port keeps its sockets; the latch and the stream state start
    /// afresh, the counters carry on.
    OpenLeg {
        session: SessionId,
        side: Side,
        leg: LegSetup,
    },
    /// Offer/answer changed (re-INVITE: hold, codec change, new remote
    /// address). Keeps the latch unless the remote address changed (to a
    /// known, different one), and restarts the leg's timeout from now (a new
    /// offer/answer is a sign of life). A different `local_port` rebinds.
    /// Acts as `OpenLeg` for a leg that is not open.
    UpdateLeg {
        session: SessionId,
        side: Side,
        leg: LegSetup,
    },
    /// Play prompts to the caller (early media while queued), each once, then
    /// `then` in a loop (`None`: encoded silence, which keeps the trunk's RTP
    /// timers and NAT bindings alive). Packets are paced every 20 ms with the
    /// session's own SSRC, sequence number and timestamp, in the caller leg's
    /// first negotiated G.711 codec (prompts are encoded to both laws when
    /// [`Prompts`] is built). While a prompt plays, the seat's packets are
    /// not relayed to the caller. Replaces a prompt already playing. Nothing
    /// is sent while the caller leg's direction is RecvOnly or Inactive
    /// (the prompt's clock runs on). The relay itself ignores directions: it
    /// forwards what each side chooses to send.
    Play {
        session: SessionId,
        prompts: Vec<PromptId>,
        then: Option<PromptId>,
    },
    StopPlay {
        session: SessionId,
    },
    /// Relay RTP and RTCP both ways between the Caller and Seat legs (stops
    /// any prompt). Starts the silence watch.
    Bridge {
        session: SessionId,
    },
    /// Record both directions (caller left, seat right). A second Record
    /// finishes the first recording and starts a new one.
    Record {
        session: SessionId,
        path: PathBuf,
    },
    /// The call ended: close both legs (Unbind outputs), finish the
    /// recording, report the counters ([`MediaEvent::Stats`]).
    Close {
        session: SessionId,
    },
}

/// To the core.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaEvent {
    /// An RFC 4733 digit, reported once per event (dedupe by SSRC and RTP
    /// timestamp), normally at its end packet; `duration_ms` is computed with
    /// the event's own clock rate. An event whose end packets were all lost
    /// is reported when the next event starts, when the leg sends other
    /// packets 500 ms after the event's last one, or at Close.
    Digit {
        session: SessionId,
        side: Side,
        digit: char,
        duration_ms: u32,
    },
    /// The caller stayed at or below the silence threshold for
    /// `silent_after` since the bridge (a hint for the operator, never a
    /// hang-up). Once per session. Only audio counts (digits do not); a
    /// caller without a G.711 codec is never reported silent.
    Silent { session: SessionId },
    /// No valid RTP from this leg for `timeout` (`hold_timeout` on hold)
    /// since it opened, its last update or its last valid RTP. Once per leg
    /// (until the next OpenLeg/UpdateLeg of it).
    Timeout { session: SessionId, side: Side },
    /// The leg's RTP latched (or re-latched) to this source. RTCP latches
    /// silently.
    Latched {
        session: SessionId,
        side: Side,
        from: SocketAddr,
    },
    /// At Close: per-leg counters.
    Stats {
        session: SessionId,
        caller: LegStats,
        seat: LegStats,
    },
    /// From the recorder thread (never the machine): the session's
    /// recording is closed, synced and hashed.
    Recorded {
        session: SessionId,
        path: PathBuf,
        duration_ms: u64,
        codec: String,
        sha256: String,
        bytes: u64,
    },
    /// From the recorder thread: the recording could not be written.
    RecordingFailed { session: SessionId, why: String },
}

/// What the shell does next.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaOutput {
    /// Bind a UDP socket on this port (the shell chooses the address).
    /// RTP and RTCP are separate sockets: RTCP's port is the odd one.
    Bind {
        sock: SockId,
        port: u16,
    },
    Unbind {
        sock: SockId,
    },
    /// A generated packet (prompts); relayed packets go through [`Forward`].
    Transmit {
        sock: SockId,
        to: SocketAddr,
        data: bytes::Bytes,
    },
    Event(MediaEvent),
    /// For the recorder thread.
    Recorder(RecorderMsg),
}

/// What to do with the datagram just given to [`Media::handle_packet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forward {
    Drop,
    /// Send the (possibly rewritten) buffer from `sock` to `to`.
    To {
        sock: SockId,
        to: SocketAddr,
    },
}

/// Counters of one leg, reported at Close.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LegStats {
    /// Valid packets accepted from the leg (RTP and RTCP).
    pub received: u64,
    /// Of `received`, RTCP packets.
    pub rtcp_received: u64,
    /// Accepted packets relayed to the other leg.
    pub relayed: u64,
    /// Accepted packets not relayed because the session was not bridged
    /// (or a prompt owned the caller's side): read, not dropped.
    pub consumed: u64,
    pub dropped_wrong_source: u64,
    /// Not RTP/RTCP: version, lengths, truncation, RTCP packet type.
    pub dropped_bad_header: u64,
    pub dropped_oversized: u64,
    pub dropped_unknown_pt: u64,
    /// Bridged, but the other leg has neither a latched source nor an SDP
    /// address (or is not open).
    pub dropped_no_destination: u64,
    /// RTP packets missing by sequence number (RFC 3550 A.3: expected minus
    /// received, per stream, summed over the leg's streams).
    pub lost: u64,
    /// Times the RTP latched or re-latched.
    pub latches: u64,
}

/// Machine-wide counters for /metrics ([`Media::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MediaCounters {
    pub received: u64,
    pub rtcp_received: u64,
    pub relayed: u64,
    pub consumed: u64,
    pub dropped_wrong_source: u64,
    pub dropped_bad_header: u64,
    pub dropped_oversized: u64,
    pub dropped_unknown_pt: u64,
    pub dropped_no_destination: u64,
    /// A datagram on a socket id the machine does not know (or no longer).
    pub dropped_unknown_socket: u64,
    /// Prompt (or prompt silence) packets generated.
    pub prompt_packets: u64,
    pub digits: u64,
    pub latches: u64,
    pub timeouts: u64,
    pub sessions_open: u64,
    pub legs_open: u64,
}
