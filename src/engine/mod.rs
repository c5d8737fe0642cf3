//! The tokio shell: sockets, framing, the clock and the run loop around the
//! sans-I/O [`Core`]. It feeds the core only through
//! [`Core::handle_input`] and carries out only what
//! [`Core::poll_output`] says. No protocol decisions are made here.

pub mod http;
pub mod media;
pub mod prompts;
pub mod recorder;
mod sip;
pub mod tls;
pub mod udp;

pub use sip::Bound;

use crate::caselog::JournalHandle;
use crate::config::Config;
use crate::core::{Core, Input, Output};
use crate::operator::{CallPhase, CallStatus, Event};
use crate::sip::{Peer, Transport};
use bytes::Bytes;
use sip::{flush, readable, tcp_acceptor, tls_acceptor, transmit_stream, Connections};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::Interest;
use tokio::sync::mpsc;
use udp::{RecvBatch, SendQueue, BATCH};

/// Something that happened on a socket task, for the run loop.
#[derive(Debug)]
pub(crate) enum SocketEvent {
    /// `at`: when the socket task read it (the core's `now` for it).
    Message {
        peer: Peer,
        data: Bytes,
        at: Instant,
    },
    BadFrame {
        peer: Peer,
        head: Bytes,
        status: u16,
        reason: &'static str,
    },
    TransportError(SocketAddr),
}

/// The core's counters, published by the run loop for `/metrics`.
#[derive(Debug, Default)]
pub struct EngineStats {
    pub received: AtomicU64,
    pub sent: AtomicU64,
    pub rejected: AtomicU64,
    pub dropped: AtomicU64,
    pub retransmissions_absorbed: AtomicU64,
    pub security: crate::security::SecurityStats,
}

impl EngineStats {
    fn publish(&self, c: crate::core::Counters) {
        self.received.store(c.received, Ordering::Relaxed);
        self.sent.store(c.sent, Ordering::Relaxed);
        self.rejected.store(c.rejected, Ordering::Relaxed);
        self.dropped.store(c.dropped, Ordering::Relaxed);
        self.retransmissions_absorbed
            .store(c.retransmissions_absorbed, Ordering::Relaxed);
    }
}

/// The console's side of the run loop: events gathered and sent as one
/// batch at most every [`FEED_WINDOW`] (a busy engine wakes the console's
/// thread 50 times a second, not once per message); an answer to a
/// command goes at once, after the events before it.
struct ConsoleFeed {
    tx: mpsc::UnboundedSender<http::Feed>,
    batch: Vec<Event>,
    /// When the batch must go.
    due: Option<Instant>,
}

/// How long events may wait for the console: far under what a person sees.
const FEED_WINDOW: std::time::Duration = std::time::Duration::from_millis(20);
/// A batch this long goes at once.
const FEED_MAX: usize = 4096;

impl ConsoleFeed {
    fn push(&mut self, e: Event) {
        if self.batch.is_empty() {
            self.due = Some(Instant::now() + FEED_WINDOW);
        }
        self.batch.push(e);
        if self.batch.len() >= FEED_MAX {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.due = None;
        if !self.batch.is_empty() {
            let events = std::mem::replace(&mut self.batch, Vec::with_capacity(256));
            // The console thread gone: the engine goes on without it.
            let _ = self.tx.send(http::Feed::Events(events));
        }
    }

    /// Sends the batch if its time has come.
    fn flush_due(&mut self, now: Instant) {
        if self.due.is_some_and(|d| d <= now) {
            self.flush();
        }
    }
}

/// Datagrams to send, one queue per address family, each sent from the
/// first socket of that family (an engine listening on 127.0.0.1 and ::1
/// answers an IPv6 peer from its IPv6 socket).
struct Outboxes {
    v4: SendQueue,
    v6: SendQueue,
    /// Index in the UDP sockets of the first IPv4 and IPv6 one.
    sock4: Option<usize>,
    sock6: Option<usize>,
}

impl Outboxes {
    fn new(udp: &[Arc<tokio::net::UdpSocket>]) -> Outboxes {
        let family = |v6: bool| {
            udp.iter()
                .position(|s| s.local_addr().is_ok_and(|a| a.is_ipv6() == v6))
        };
        Outboxes {
            v4: SendQueue::default(),
            v6: SendQueue::default(),
            sock4: family(false),
            sock6: family(true),
        }
    }

    fn push(&mut self, to: SocketAddr, data: bytes::Bytes) {
        if to.is_ipv6() {
            self.v6.push(to, data)
        } else {
            self.v4.push(to, data)
        }
    }

    async fn flush(&mut self, udp: &[Arc<tokio::net::UdpSocket>], failed: &mut Vec<SocketAddr>) {
        for (q, sock) in [(&mut self.v4, self.sock4), (&mut self.v6, self.sock6)] {
            match sock.and_then(|i| udp.get(i)) {
                Some(s) => flush(s, q, failed).await,
                None => {
                    // No socket of that family: those peers cannot be reached.
                    failed.extend(q.drain_addrs());
                }
            }
        }
    }
}

/// What the run loop hands the outputs to.
struct Sinks<'a> {
    outbox: &'a mut Outboxes,
    journal: &'a JournalHandle,
    conns: &'a Arc<Connections>,
    ev_tx: &'a mpsc::Sender<SocketEvent>,
    max: usize,
    offers: &'a mut OfferLatency,
    media: Option<&'a media::MediaHandle>,
    console: Option<&'a mut ConsoleFeed>,
}

/// The media and recorder threads, when the relay is on; recordings a
/// crash left half-written are repaired and reported first.
#[allow(clippy::type_complexity)]
fn start_media(
    cfg: &Config,
    prompts: &Arc<crate::media::Prompts>,
    tx: &mpsc::UnboundedSender<crate::media::MediaEvent>,
    journal: &JournalHandle,
    recordings: Option<&std::collections::HashSet<String>>,
) -> std::io::Result<(
    Option<media::MediaHandle>,
    Option<std::thread::JoinHandle<()>>,
)> {
    if !cfg.media.enabled {
        return Ok((None, None));
    }
    // A recording a crash left open is in a folder of the last days (one
    // a day: older ones are not opened at every start).
    let day = std::time::Duration::from_secs(24 * 3600);
    let now = std::time::SystemTime::now();
    let repaired = recorder::repair_since(&cfg.recording.dir, now - 7 * day);
    // Whole recordings of the last day that the case log does not name
    // (only when the store is caught up, so it knows every `recorded`).
    let unnamed = match recordings {
        Some(named) => recorder::unnamed(&cfg.recording.dir, named, &repaired, now - day),
        None => Vec::new(),
    };
    for (r, how) in repaired
        .into_iter()
        .map(|r| (r, "a recording cut by a crash was repaired"))
        .chain(unnamed.into_iter().map(|r| {
            (
                r,
                "a recording the case log did not name (the engine stopped before saying so) is named now",
            )
        }))
    {
        let case = r
            .path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(crate::caselog::CaseId::from);
        tracing::warn!(path = %r.path.display(), "{how}");
        journal.append(crate::caselog::Record::now(
            case,
            crate::caselog::Kind::Recorded {
                path: r.path.display().to_string(),
                duration_ms: r.duration_ms,
                codec: "G.711".into(),
                sha256: r.sha256,
                bytes: r.bytes,
                recovered: true,
            },
        ));
    }
    let rec_tx = tx.clone();
    let (recorder, thread) = recorder::spawn(move |e| {
        let _ = rec_tx.send(e);
    })?;
    let m = &cfg.media;
    let mcfg = crate::media::MediaConfig {
        timeout: m.timeout,
        hold_timeout: m.hold_timeout,
        silent_after: m.silent_after,
        silence_threshold_dbov: m.silence_threshold_dbov,
        max_packet: 1500,
    };
    let ev_tx = tx.clone();
    let handle = media::MediaHandle::spawn(
        mcfg,
        m.bind,
        prompts.clone(),
        move |e| {
            let _ = ev_tx.send(e);
        },
        Some(recorder),
    )?;
    tracing::info!(ports = ?m.ports, advertise = %m.advertise, "media relay running");
    Ok((Some(handle), Some(thread)))
}

/// What the engine starts from besides its config: this run's boot number
/// and what the store knows of earlier runs.
#[derive(Debug, Default)]
pub struct Startup {
    pub boot: u32,
    /// Prank marks within the prank window: (caller, unix ms).
    pub pranks: Vec<(String, u64)>,
    /// The tickets of cases not closed yet.
    pub tickets: Vec<(crate::caselog::CaseId, String, crate::caselog::TicketStatus)>,
    /// The records the console's view is folded from at start: today's
    /// cases, cases with open tickets, lost calls not yet called back.
    pub seed: Vec<crate::caselog::Record>,
    /// The store, for the console's queries (None: none could be opened).
    pub store: Option<std::path::PathBuf>,
    /// The recordings the case log names for cases of the last day (None:
    /// the store is not caught up, so it cannot tell).
    pub recordings: Option<std::collections::HashSet<String>>,
}

/// Runs the engine until `shutdown` resolves.
pub async fn run(
    cfg: Arc<Config>,
    bound: Bound,
    journal: JournalHandle,
    startup: Startup,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let max = cfg.sip.max_message_bytes;
    let (ev_tx, mut ev_rx) = mpsc::channel::<SocketEvent>(16384);
    let conns = Arc::new(Connections::new(cfg.clone(), bound.tls_client.clone()));

    for listener in bound.tcp {
        tokio::spawn(tcp_acceptor(listener, ev_tx.clone(), conns.clone(), max));
    }
    if let Some(config) = &bound.tls_server {
        for listener in bound.tls {
            tokio::spawn(tls_acceptor(
                listener,
                config.clone(),
                ev_tx.clone(),
                conns.clone(),
                max,
            ));
        }
    }
    // UDP is read and written here, in batches, not by tasks: see `udp`.
    let udp = bound.udp;
    // One byte more than the limit tells an oversized datagram from a full one.
    let mut inbox = RecvBatch::new(65536.max(max + 1));
    let mut outbox = Outboxes::new(&udp);
    let mut next_socket = 0usize;

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ u64::from(std::process::id());
    let prompts = Arc::new(prompts::load(&cfg.prompts.dir, &cfg.prompts.language));
    let (media_tx, mut media_rx) = mpsc::unbounded_channel::<crate::media::MediaEvent>();
    let (mut media, recorder_thread) = start_media(
        &cfg,
        &prompts,
        &media_tx,
        &journal,
        startup.recordings.as_ref(),
    )?;
    let stats = Arc::new(EngineStats::default());
    let mut console = http::start(
        cfg.clone(),
        &startup.seed,
        startup.store.clone(),
        &journal,
        stats.clone(),
    )?;
    let mut feed = console.as_ref().map(|c| ConsoleFeed {
        tx: c.feed.clone(),
        batch: Vec::with_capacity(256),
        due: None,
    });
    let mut commands = console
        .as_mut()
        .map(|c| std::mem::replace(&mut c.commands, mpsc::channel(1).1));
    // The core's wall clock and its monotonic one, read at the same moment
    // (the records' times are taken from them).
    let (started, wall_ms) = (Instant::now(), http::wall_ms());
    let mut core = Core::with_prompts(cfg.clone(), started, wall_ms, startup.boot, seed, prompts);
    core.load_pranks(startup.pranks);
    core.load_tickets(startup.tickets);
    drop(startup.seed);
    let mut offers = OfferLatency::new()?;
    let mut failed: Vec<SocketAddr> = Vec::new();
    let epoch = Instant::now();
    let sleep = tokio::time::sleep(std::time::Duration::from_secs(3600));
    tokio::pin!(sleep);
    tokio::pin!(shutdown);
    tracing::info!(listen = ?cfg.sip.listen, seats = cfg.seats.len(), "siaga112 is running");
    macro_rules! sinks {
        () => {
            Sinks {
                outbox: &mut outbox,
                journal: &journal,
                conns: &conns,
                ev_tx: &ev_tx,
                max,
                offers: &mut offers,
                media: media.as_ref(),
                console: feed.as_mut(),
            }
        };
    }
    loop {
        let deadline = drain(&mut core, &mut sinks!());
        stats.publish(core.counters());
        let (sc, in_force) = core.security();
        stats.security.publish(sc, in_force, core.security_rates());
        if let Some(f) = feed.as_mut() {
            f.flush_due(Instant::now());
        }
        outbox.flush(&udp, &mut failed).await;
        let sent = Instant::now();
        offers.sent(sent);
        if !failed.is_empty() {
            for addr in failed.drain(..) {
                core.handle_input(sent, Input::TransportError { addr });
            }
            continue;
        }
        let deadline = tokio::time::Instant::from_std(on_grid(epoch, deadline));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        tokio::select! {
            i = readable(&udp, next_socket) => {
                next_socket = i + 1;
                let sock = &udp[i];
                let mut got = 0;
                let read = sock.try_io(Interest::READABLE, || {
                    got = inbox.recv(sock.as_raw_fd())?;
                    if got < BATCH {
                        // A short batch: the queue is empty. Dropping the
                        // readiness here saves a read that would only say
                        // EAGAIN; the next datagram is a new edge.
                        Err(std::io::ErrorKind::WouldBlock.into())
                    } else {
                        Ok(())
                    }
                });
                if let Err(e) = read {
                    if e.kind() != std::io::ErrorKind::WouldBlock {
                        // ICMP errors surface here on some systems; keep serving.
                        tracing::debug!(error = %e, "UDP receive error");
                    }
                }
                let now = Instant::now();
                let wall = std::time::SystemTime::now();
                for j in 0..got {
                    let Some((Some(from), data)) = inbox.get(j) else { continue };
                    // When it reached the socket, on our clock: the time it
                    // waited there is latency we add too.
                    let waited = inbox
                        .arrived(j)
                        .and_then(|t| wall.duration_since(t).ok())
                        .unwrap_or_default();
                    let arrived = now.checked_sub(waited).unwrap_or(now);
                    offers.receive(&mut core, now, arrived, Peer::udp(from), data);
                    // Each input's outputs in order, before the next input.
                    drain(&mut core, &mut sinks!());
                    if offers.waiting() && j + 1 < got {
                        // A call is being offered to a seat: its INVITE
                        // leaves now, not after the rest of the batch.
                        outbox.flush(&udp, &mut failed).await;
                        offers.sent(Instant::now());
                    }
                }
            }
            ev = ev_rx.recv() => {
                let now = Instant::now();
                match ev {
                    Some(SocketEvent::Message { peer, data, at }) => {
                        let at = at.min(now);
                        offers.receive(&mut core, at, at, peer, &data);
                    }
                    Some(SocketEvent::BadFrame { peer, head, status, reason }) => {
                        core.handle_input(now, Input::Refuse { peer, head: &head, status, reason })
                    }
                    Some(SocketEvent::TransportError(addr)) => {
                        core.handle_input(now, Input::TransportError { addr })
                    }
                    None => break,
                }
            }
            Some(ev) = media_rx.recv() => core.handle_input(Instant::now(), Input::Media(ev)),
            Some(c) = next_command(&mut commands) => core.handle_input(
                Instant::now(),
                Input::Command { id: c.id, by: c.by, command: c.command },
            ),
            _ = &mut sleep => core.handle_input(Instant::now(), Input::Timeout),
            _ = &mut shutdown => break,
        }
    }
    // The media thread stops; the recorder closes what is open and reports
    // it, so every finished recording is in the case log before it closes.
    if let Some(m) = media.as_mut() {
        m.stop();
    }
    drop(media.take());
    if let Some(t) = recorder_thread {
        let _ = t.join();
    }
    drop(media_tx);
    while let Ok(ev) = media_rx.try_recv() {
        core.handle_input(Instant::now(), Input::Media(ev));
    }
    core.handle_input(Instant::now(), Input::Stop);
    drain(&mut core, &mut sinks!());
    if let Some(f) = feed.as_mut() {
        f.flush();
    }
    drop(feed);
    if let Some(c) = console.as_mut() {
        c.stop();
    }
    journal.close();
    let cs = journal.commit_stats();
    tracing::info!(
        durable = journal.durable(),
        batches = cs.batches,
        commit_p50_us = cs.p50_us,
        commit_p99_us = cs.p99_us,
        commit_max_us = cs.max_us,
        "case log closed"
    );
    offers.log();
    let c = core.counters();
    tracing::info!(
        received = c.received,
        sent = c.sent,
        rejected = c.rejected,
        dropped = c.dropped,
        retransmissions_absorbed = c.retransmissions_absorbed,
        "siaga112 stopped"
    );
    Ok(())
}

/// The console's next command (never, without a console).
async fn next_command(
    rx: &mut Option<mpsc::Receiver<http::CommandMsg>>,
) -> Option<http::CommandMsg> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// The engine's latency figures for trunk INVITEs routed straight to a
/// seat: arrival at the socket -> the seat's INVITE sent (µs), and the
/// core's time for the INVITE (ns: parse, transaction, B2BUA, ACD).
struct OfferLatency {
    /// Arrivals of those INVITEs whose seat INVITE waits in the outbox.
    waiting: Vec<Instant>,
    /// The input being drained: when it arrived, and the core's time for it.
    current: Option<(Instant, u64)>,
    invite_to_seat: hdrhistogram::Histogram<u64>,
    routing: hdrhistogram::Histogram<u64>,
}

impl OfferLatency {
    fn new() -> std::io::Result<OfferLatency> {
        let hist = |high| {
            hdrhistogram::Histogram::<u64>::new_with_bounds(1, high, 3)
                .map_err(|e| std::io::Error::other(e.to_string()))
        };
        Ok(OfferLatency {
            waiting: Vec::new(),
            current: None,
            invite_to_seat: hist(60_000_000)?,
            routing: hist(60_000_000_000)?,
        })
    }

    /// One message into the core at `now`; `arrived` is when it reached
    /// our socket.
    fn receive(
        &mut self,
        core: &mut Core,
        now: Instant,
        arrived: Instant,
        peer: Peer,
        data: &[u8],
    ) {
        let started = Instant::now();
        core.handle_input(now, Input::Receive { peer, data });
        let ns = (started.elapsed().as_nanos() as u64).max(1);
        self.current = Some((arrived, ns));
    }

    /// The core said a call was offered at once, in the input just handled.
    fn offered_at_once(&mut self) {
        if let Some((arrived, ns)) = self.current {
            self.waiting.push(arrived);
            let _ = self.routing.record(ns);
        }
    }

    /// A seat INVITE waits in the outbox.
    fn waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// The two histograms, at shutdown.
    fn log(&self) {
        let (h, r) = (&self.invite_to_seat, &self.routing);
        if h.is_empty() {
            return;
        }
        tracing::info!(
            calls = h.len(),
            p50_us = h.value_at_quantile(0.5),
            p99_us = h.value_at_quantile(0.99),
            max_us = h.max(),
            "trunk INVITE to seat INVITE (seats free)"
        );
        tracing::info!(
            calls = r.len(),
            p50_ns = r.value_at_quantile(0.5),
            p99_ns = r.value_at_quantile(0.99),
            max_ns = r.max(),
            "core time of a trunk INVITE routed to a seat"
        );
    }

    /// The outbox went out at `sent`.
    fn sent(&mut self, sent: Instant) {
        for arrived in self.waiting.drain(..) {
            let us = sent.saturating_duration_since(arrived).as_micros() as u64;
            let _ = self.invite_to_seat.record(us.max(1));
        }
    }
}

/// Timers fire on a 10 ms grid: no SIP or ACD timer needs finer than that
/// (T1 is 500 ms), and the many per-transaction clean-up timers of a busy
/// engine then share wake-ups instead of each costing one.
const TIMER_GRID: std::time::Duration = std::time::Duration::from_millis(10);

/// `at` rounded up to the next multiple of [`TIMER_GRID`] after `epoch`.
fn on_grid(epoch: Instant, at: Instant) -> Instant {
    let grid = TIMER_GRID.as_nanos();
    let since = at.saturating_duration_since(epoch).as_nanos();
    let up = since.div_ceil(grid) * grid;
    epoch + std::time::Duration::from_nanos(u64::try_from(up).unwrap_or(u64::MAX))
}

/// Carries out what the core has to do until it only waits: UDP datagrams
/// go to the outbox, TCP messages to their connection, records to the case
/// log. Returns when the core next wants the clock.
fn drain(core: &mut Core, s: &mut Sinks<'_>) -> Instant {
    let at = loop {
        match core.poll_output() {
            Output::Transmit { peer, data } => match peer.transport {
                Transport::Udp => s.outbox.push(peer.addr, data),
                Transport::Tcp | Transport::Tls => {
                    transmit_stream(s.conns, s.ev_tx, peer, data, s.max)
                }
            },
            Output::Record(r) => s.journal.append(r),
            Output::Event(e) => {
                if let Event::Call(CallStatus {
                    phase: CallPhase::Offered { at_once: true },
                    ..
                }) = e
                {
                    s.offers.offered_at_once();
                }
                if let Some(c) = s.console.as_deref_mut() {
                    c.push(e);
                }
            }
            Output::Media(cmd) => {
                if let Some(m) = s.media {
                    m.send(cmd);
                }
            }
            Output::Reply { id, result } => {
                if let Some(c) = s.console.as_deref_mut() {
                    c.flush();
                    let _ = c.tx.send(http::Feed::Reply {
                        id,
                        result,
                        after: s.journal.appended(),
                    });
                }
            }
            Output::Timeout(at) => break at,
        }
    };
    s.offers.current = None;
    match s.console.as_deref() {
        Some(ConsoleFeed { due: Some(d), .. }) => at.min(*d),
        _ => at,
    }
}
