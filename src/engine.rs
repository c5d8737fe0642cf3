//! The tokio shell: sockets, framing, the clock and the run loop around the
//! sans-I/O [`Core`]. No protocol decisions are made here.

use crate::caselog::JournalHandle;
use crate::config::{Config, ListenTransport};
use crate::core::{Core, Output};
use crate::sip::framing::{Frame, FrameError, Framer};
use crate::sip::{ConnId, Peer, Transport};
use bytes::Bytes;
use dashmap::DashMap;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use udp::{RecvBatch, SendQueue, Sent, BATCH};

mod udp;

/// Something that happened on a socket, for the core.
#[derive(Debug)]
enum Event {
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

/// The TCP connections of the engine, shared by the connection tasks and
/// the run loop (the one map the shell truly shares).
#[derive(Default)]
struct Connections {
    writers: DashMap<ConnId, mpsc::UnboundedSender<Bytes>>,
    by_addr: DashMap<SocketAddr, ConnId>,
    next: AtomicU64,
}

impl Connections {
    fn add(&self, addr: SocketAddr, tx: mpsc::UnboundedSender<Bytes>) -> ConnId {
        let id = ConnId(self.next.fetch_add(1, Ordering::Relaxed) + 1);
        self.writers.insert(id, tx);
        self.by_addr.insert(addr, id);
        id
    }
    fn remove(&self, id: ConnId, addr: SocketAddr) {
        self.writers.remove(&id);
        self.by_addr.remove_if(&addr, |_, v| *v == id);
    }
}

/// The sockets the engine listens on, bound before the run loop starts so
/// that a test can learn the real ports.
pub struct Bound {
    udp: Vec<Arc<UdpSocket>>,
    tcp: Vec<TcpListener>,
}

impl Bound {
    pub async fn bind(cfg: &Config) -> std::io::Result<Bound> {
        let mut b = Bound {
            udp: Vec::new(),
            tcp: Vec::new(),
        };
        for l in &cfg.sip.listen {
            match l.transport {
                ListenTransport::Udp => b.udp.push(Arc::new(bind_udp(l.addr)?)),
                ListenTransport::Tcp => b.tcp.push(TcpListener::bind(l.addr).await?),
            }
        }
        Ok(b)
    }

    pub fn local_addrs(&self) -> Vec<(Transport, SocketAddr)> {
        let mut v = Vec::new();
        for s in &self.udp {
            if let Ok(a) = s.local_addr() {
                v.push((Transport::Udp, a));
            }
        }
        for s in &self.tcp {
            if let Ok(a) = s.local_addr() {
                v.push((Transport::Tcp, a));
            }
        }
        v
    }
}

/// Socket buffers asked for on UDP (the kernel caps them at
/// `net.core.rmem_max` / `wmem_max`): Linux's default 208 KiB is a few
/// milliseconds of a busy trunk, and a datagram that does not fit is lost
/// until the peer retransmits, 500 ms later.
const UDP_BUFFER_BYTES: usize = 4 << 20;

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = s.set_recv_buffer_size(UDP_BUFFER_BYTES) {
        tracing::warn!(%addr, error = %e, "cannot raise the UDP receive buffer");
    }
    if let Err(e) = s.set_send_buffer_size(UDP_BUFFER_BYTES) {
        tracing::warn!(%addr, error = %e, "cannot raise the UDP send buffer");
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    if let Err(e) = udp::enable_timestamps(s.as_raw_fd()) {
        tracing::warn!(%addr, error = %e, "no kernel arrival times: INVITE-to-seat latency leaves out socket queueing");
    }
    tracing::debug!(
        %addr,
        recv_buffer = s.recv_buffer_size().unwrap_or(0),
        send_buffer = s.send_buffer_size().unwrap_or(0),
        "UDP socket buffers"
    );
    UdpSocket::from_std(s.into())
}

/// Runs the engine until `shutdown` resolves.
pub async fn run(
    cfg: Arc<Config>,
    bound: Bound,
    journal: JournalHandle,
    recovery: crate::caselog::Recovery,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let max = cfg.sip.max_message_bytes;
    let (ev_tx, mut ev_rx) = mpsc::channel::<Event>(16384);
    let conns = Arc::new(Connections::default());

    for listener in bound.tcp {
        tokio::spawn(tcp_acceptor(listener, ev_tx.clone(), conns.clone(), max));
    }
    // UDP is read and written here, in batches, not by tasks: see `udp`.
    let udp = bound.udp;
    // One byte more than the limit tells an oversized datagram from a full one.
    let mut inbox = RecvBatch::new(65536.max(max + 1));
    let mut outbox = SendQueue::default();
    let mut next_socket = 0usize;

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ u64::from(std::process::id());
    let wall_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut core = Core::new(cfg.clone(), Instant::now(), wall_ms, recovery.boot, seed);
    core.load_history(&recovery.records);
    drop(recovery);
    let mut offers = OfferLatency::new()?;
    let mut failed: Vec<SocketAddr> = Vec::new();
    let epoch = Instant::now();
    let sleep = tokio::time::sleep(std::time::Duration::from_secs(3600));
    tokio::pin!(sleep);
    tokio::pin!(shutdown);
    tracing::info!(listen = ?cfg.sip.listen, seats = cfg.seats.len(), "siaga112 is running");
    loop {
        let deadline = drain(&mut core, &mut outbox, &journal, &conns, &ev_tx, max);
        if let Some(sock) = udp.first() {
            flush(sock, &mut outbox, &mut failed).await;
        } else {
            outbox.clear();
        }
        let sent = Instant::now();
        offers.sent(sent);
        if !failed.is_empty() {
            for addr in failed.drain(..) {
                core.handle_transport_error(sent, addr);
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
                    drain(&mut core, &mut outbox, &journal, &conns, &ev_tx, max);
                    if offers.waiting() && j + 1 < got {
                        // A call is being offered to a seat: its INVITE
                        // leaves now, not after the rest of the batch.
                        flush(&udp[0], &mut outbox, &mut failed).await;
                        offers.sent(Instant::now());
                    }
                }
            }
            ev = ev_rx.recv() => {
                let now = Instant::now();
                match ev {
                    Some(Event::Message { peer, data, at }) => {
                        let at = at.min(now);
                        offers.receive(&mut core, at, at, peer, &data);
                    }
                    Some(Event::BadFrame { peer, head, status, reason }) => {
                        core.handle_rejected_frame(now, peer, &head, status, reason)
                    }
                    Some(Event::TransportError(addr)) => core.handle_transport_error(now, addr),
                    None => break,
                }
            }
            _ = &mut sleep => core.handle_timeout(Instant::now()),
            _ = &mut shutdown => break,
        }
    }
    core.finish(Instant::now());
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
    let c = &core.counters;
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

/// The engine's latency figures for trunk INVITEs routed straight to a
/// seat: arrival at the socket -> the seat's INVITE sent (µs), and the
/// core's time for the INVITE (ns: parse, transaction, B2BUA, ACD).
struct OfferLatency {
    /// Arrivals of those INVITEs whose seat INVITE waits in the outbox.
    waiting: Vec<Instant>,
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
        core.handle_receive(now, peer, data);
        let ns = (started.elapsed().as_nanos() as u64).max(1);
        for _ in 0..core.take_offered_at_once() {
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
fn drain(
    core: &mut Core,
    outbox: &mut SendQueue,
    journal: &JournalHandle,
    conns: &Arc<Connections>,
    ev_tx: &mpsc::Sender<Event>,
    max: usize,
) -> Instant {
    loop {
        match core.poll_output() {
            Output::Transmit { peer, data } => match peer.transport {
                Transport::Udp => outbox.push(peer.addr, data),
                Transport::Tcp => transmit_tcp(conns, ev_tx, peer, data, max),
            },
            Output::Record(r) => journal.append(r),
            Output::Timeout(at) => return at,
        }
    }
}

/// Sends the outbox, a batch per system call; waits while the socket
/// buffer is full. Addresses that cannot be reached land in `failed`.
async fn flush(sock: &UdpSocket, outbox: &mut SendQueue, failed: &mut Vec<SocketAddr>) {
    while !outbox.is_empty() {
        let sent = sock.try_io(Interest::WRITABLE, || match outbox.send(sock.as_raw_fd()) {
            Sent::WouldBlock => Err(std::io::ErrorKind::WouldBlock.into()),
            other => Ok(other),
        });
        match sent {
            Ok(Sent::Failed(to, e)) => {
                tracing::debug!(%to, error = %e, "UDP send failed");
                failed.push(to);
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Err(e) = sock.writable().await {
                    tracing::warn!(error = %e, "UDP socket failed: datagrams dropped");
                    outbox.clear();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "UDP send failed: datagrams dropped");
                outbox.clear();
            }
        }
    }
}

/// The index of a UDP socket with datagrams waiting, trying `from` first so
/// that a busy socket cannot starve the others.
fn readable(
    socks: &[Arc<UdpSocket>],
    from: usize,
) -> impl std::future::Future<Output = usize> + '_ {
    std::future::poll_fn(move |cx| {
        let n = socks.len();
        for k in 0..n {
            let i = (from + k) % n;
            if socks[i].poll_recv_ready(cx).is_ready() {
                return std::task::Poll::Ready(i);
            }
        }
        std::task::Poll::Pending
    })
}

fn transmit_tcp(
    conns: &Arc<Connections>,
    ev_tx: &mpsc::Sender<Event>,
    peer: Peer,
    data: Bytes,
    max: usize,
) {
    let id = peer
        .conn
        .filter(|id| conns.writers.contains_key(id))
        .or_else(|| conns.by_addr.get(&peer.addr).map(|e| *e.value()));
    if let Some(id) = id {
        if let Some(w) = conns.writers.get(&id) {
            if w.send(data.clone()).is_ok() {
                return;
            }
        }
    }
    // No live connection: open one (RFC 3261 §18.2.2).
    let (ev_tx, conns) = (ev_tx.clone(), conns.clone());
    tokio::spawn(async move {
        match TcpStream::connect(peer.addr).await {
            Ok(stream) => {
                let (w_tx, w_rx) = mpsc::unbounded_channel();
                let _ = w_tx.send(data);
                let id = conns.add(peer.addr, w_tx);
                tcp_connection(stream, peer.addr, id, w_rx, ev_tx, conns, max).await;
            }
            Err(e) => {
                tracing::debug!(to = %peer.addr, error = %e, "TCP connect failed");
                let _ = ev_tx.send(Event::TransportError(peer.addr)).await;
            }
        }
    });
}

async fn tcp_acceptor(
    listener: TcpListener,
    ev_tx: mpsc::Sender<Event>,
    conns: Arc<Connections>,
    max: usize,
) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let _ = stream.set_nodelay(true);
                let (w_tx, w_rx) = mpsc::unbounded_channel();
                let id = conns.add(addr, w_tx);
                tokio::spawn(tcp_connection(
                    stream,
                    addr,
                    id,
                    w_rx,
                    ev_tx.clone(),
                    conns.clone(),
                    max,
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn tcp_connection(
    stream: TcpStream,
    addr: SocketAddr,
    id: ConnId,
    mut w_rx: mpsc::UnboundedReceiver<Bytes>,
    ev_tx: mpsc::Sender<Event>,
    conns: Arc<Connections>,
    max: usize,
) {
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        while let Some(data) = w_rx.recv().await {
            if wr.write_all(&data).await.is_err() {
                break;
            }
        }
    });
    let peer = Peer::tcp(addr, Some(id));
    let mut framer = Framer::new(max);
    'read: loop {
        match rd.read_buf(framer.buffer_mut()).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(data))) => {
                    let at = Instant::now();
                    if ev_tx.send(Event::Message { peer, data, at }).await.is_err() {
                        break 'read;
                    }
                }
                Ok(Some(Frame::Ping)) => {
                    if let Some(w) = conns.writers.get(&id) {
                        let _ = w.send(Bytes::from_static(b"\r\n"));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let (head, status, reason) = match e {
                        FrameError::TooLarge { head } => (head, 513, "Message Too Large"),
                        FrameError::BadLength { head, why } => (head, 400, why),
                    };
                    let _ = ev_tx
                        .send(Event::BadFrame {
                            peer,
                            head,
                            status,
                            reason,
                        })
                        .await;
                    // The stream has lost its framing: let the answer go, then close.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    break 'read;
                }
            }
        }
    }
    conns.remove(id, addr);
    writer.abort();
}
