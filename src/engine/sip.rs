//! The SIP sockets: UDP bound with large buffers and kernel arrival
//! stamps, read and written in batches by the run loop; TCP and TLS
//! connections with their own tasks and framing, feeding the run loop's
//! channel.

use super::udp::{self, SendQueue, Sent};
use super::SocketEvent;
use crate::config::{Config, ListenTransport};
use crate::sip::framing::{Frame, FrameError, Framer};
use crate::sip::{ConnId, Peer, Transport};
use bytes::Bytes;
use dashmap::DashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_rustls::rustls;

/// The TCP and TLS connections of the engine, shared by the connection
/// tasks and the run loop (the one map the shell truly shares).
pub(super) struct Connections {
    writers: DashMap<ConnId, mpsc::UnboundedSender<Bytes>>,
    by_addr: DashMap<(Transport, SocketAddr), ConnId>,
    next: AtomicU64,
    /// For TLS connections the engine opens itself (None: it opens none).
    tls_client: Option<Arc<rustls::ClientConfig>>,
    /// Connections accepted per source address, and in all.
    per_source: DashMap<IpAddr, u32>,
    total: AtomicU64,
    cfg: Arc<Config>,
    refused_log: crate::ratelimit::RateLimit,
}

/// Accepted connections at once, from everyone (a file descriptor each).
const MAX_CONNECTIONS: u64 = 10_000;

/// An accepted connection's place in the per-source count; given back
/// when the connection ends (dropped).
pub(super) struct Slot {
    conns: Arc<Connections>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.conns.per_source.remove_if_mut(&self.ip, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
        self.conns.total.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connections {
    pub(super) fn new(
        cfg: Arc<Config>,
        tls_client: Option<Arc<rustls::ClientConfig>>,
    ) -> Connections {
        Connections {
            writers: DashMap::new(),
            by_addr: DashMap::new(),
            next: AtomicU64::new(0),
            tls_client,
            per_source: DashMap::new(),
            total: AtomicU64::new(0),
            cfg,
            refused_log: crate::ratelimit::RateLimit::new(),
        }
    }

    /// A place for a connection accepted from `addr`, or None (closed at
    /// once, logged at most once a second): over `[security]
    /// connections_per_source` for that address (trunks, proxies and
    /// `allow` addresses have none), or over [`MAX_CONNECTIONS`].
    fn slot(self: &Arc<Self>, addr: SocketAddr) -> Option<Slot> {
        let ip = addr.ip();
        let max = if self.cfg.is_trusted(ip) {
            u32::MAX
        } else {
            self.cfg.security.connections_per_source
        };
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        let mut n = self.per_source.entry(ip).or_insert(0);
        if *n >= max || total > MAX_CONNECTIONS {
            drop(n);
            self.per_source.remove_if(&ip, |_, n| *n == 0);
            self.total.fetch_sub(1, Ordering::Relaxed);
            if let Some(suppressed) = self.refused_log.check() {
                tracing::warn!(
                    target: "siaga112::security",
                    "security: connection refused source={ip} why={} suppressed={suppressed}",
                    if total > MAX_CONNECTIONS { "total" } else { "per-source" }
                );
            }
            return None;
        }
        *n += 1;
        Some(Slot {
            conns: self.clone(),
            ip,
        })
    }
    fn add(&self, peer: Peer, tx: mpsc::UnboundedSender<Bytes>) -> ConnId {
        let id = ConnId(self.next.fetch_add(1, Ordering::Relaxed) + 1);
        self.writers.insert(id, tx);
        self.by_addr.insert((peer.transport, peer.addr), id);
        id
    }
    fn remove(&self, id: ConnId, peer: Peer) {
        self.writers.remove(&id);
        self.by_addr
            .remove_if(&(peer.transport, peer.addr), |_, v| *v == id);
    }
}

/// The sockets the engine listens on, bound before the run loop starts so
/// that a test can learn the real ports.
pub struct Bound {
    pub(super) udp: Vec<Arc<UdpSocket>>,
    pub(super) tcp: Vec<TcpListener>,
    pub(super) tls: Vec<TcpListener>,
    /// `[tls]`'s certificate, read once (a `tls:` listener needs it).
    pub(super) tls_server: Option<Arc<rustls::ServerConfig>>,
    pub(super) tls_client: Option<Arc<rustls::ClientConfig>>,
}

impl Bound {
    pub async fn bind(cfg: &Config) -> std::io::Result<Bound> {
        let mut b = Bound {
            udp: Vec::new(),
            tcp: Vec::new(),
            tls: Vec::new(),
            tls_server: None,
            tls_client: None,
        };
        for l in &cfg.sip.listen {
            match l.transport {
                ListenTransport::Udp => b.udp.push(Arc::new(bind_udp(l.addr)?)),
                ListenTransport::Tcp => b.tcp.push(TcpListener::bind(l.addr).await?),
                ListenTransport::Tls => b.tls.push(TcpListener::bind(l.addr).await?),
            }
        }
        if let Some(t) = &cfg.tls {
            if !b.tls.is_empty() {
                b.tls_server = Some(super::tls::server_config(t, &[])?);
            }
            b.tls_client = super::tls::client_config(t)?;
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
        for s in &self.tls {
            if let Ok(a) = s.local_addr() {
                v.push((Transport::Tls, a));
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

/// Sends the outbox, a batch per system call; waits while the socket
/// buffer is full. Addresses that cannot be reached land in `failed`.
pub(super) async fn flush(sock: &UdpSocket, outbox: &mut SendQueue, failed: &mut Vec<SocketAddr>) {
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
pub(super) fn readable(
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

/// Sends over the peer's connection (TCP or TLS), opening one when there
/// is none (RFC 3261 §18.2.2; over TLS only with `[tls] ca` to check the
/// peer's certificate against).
pub(super) fn transmit_stream(
    conns: &Arc<Connections>,
    ev_tx: &mpsc::Sender<SocketEvent>,
    peer: Peer,
    data: Bytes,
    max: usize,
) {
    let id = peer
        .conn
        .filter(|id| conns.writers.contains_key(id))
        .or_else(|| {
            conns
                .by_addr
                .get(&(peer.transport, peer.addr))
                .map(|e| *e.value())
        });
    if let Some(id) = id {
        if let Some(w) = conns.writers.get(&id) {
            if w.send(data.clone()).is_ok() {
                return;
            }
        }
    }
    let (ev_tx, conns) = (ev_tx.clone(), conns.clone());
    tokio::spawn(async move {
        let opened = match connect(&conns, peer).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(to = %peer.addr, transport = peer.transport.via_name(), error = %e, "connect failed");
                let _ = ev_tx.send(SocketEvent::TransportError(peer.addr)).await;
                return;
            }
        };
        let (w_tx, w_rx) = mpsc::unbounded_channel();
        let _ = w_tx.send(data);
        let peer = Peer {
            conn: Some(conns.add(peer, w_tx)),
            ..peer
        };
        match opened {
            Opened::Tcp(s) => connection(s, peer, w_rx, ev_tx, conns, max, None).await,
            Opened::Tls(s) => connection(*s, peer, w_rx, ev_tx, conns, max, None).await,
        }
    });
}

enum Opened {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

async fn connect(conns: &Connections, peer: Peer) -> std::io::Result<Opened> {
    if peer.transport != Transport::Tls {
        let s = TcpStream::connect(peer.addr).await?;
        let _ = s.set_nodelay(true);
        return Ok(Opened::Tcp(s));
    }
    let Some(client) = conns.tls_client.clone() else {
        return Err(std::io::Error::other(
            "no [tls] ca to check the peer's certificate against",
        ));
    };
    let s = TcpStream::connect(peer.addr).await?;
    let _ = s.set_nodelay(true);
    let name = rustls::pki_types::ServerName::IpAddress(peer.addr.ip().into());
    let tls = tokio_rustls::TlsConnector::from(client);
    match tokio::time::timeout(super::tls::HANDSHAKE, tls.connect(name, s)).await {
        Ok(Ok(s)) => Ok(Opened::Tls(Box::new(s))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

pub(super) async fn tcp_acceptor(
    listener: TcpListener,
    ev_tx: mpsc::Sender<SocketEvent>,
    conns: Arc<Connections>,
    max: usize,
) {
    let accept_log = crate::ratelimit::RateLimit::new();
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let Some(slot) = conns.slot(addr) else {
                    continue;
                };
                let deadline = tokio::time::Instant::now() + conns.cfg.security.first_message;
                let _ = stream.set_nodelay(true);
                let (w_tx, w_rx) = mpsc::unbounded_channel();
                let peer = Peer::tcp(addr, None);
                let peer = Peer::tcp(addr, Some(conns.add(peer, w_tx)));
                tokio::spawn(connection(
                    stream,
                    peer,
                    w_rx,
                    ev_tx.clone(),
                    conns.clone(),
                    max,
                    Some((slot, deadline)),
                ));
            }
            Err(e) => {
                // Out of file descriptors, say: once a second at most.
                if let Some(suppressed) = accept_log.check() {
                    tracing::warn!(error = %e, suppressed, "TCP accept failed");
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Handshakes at once per TLS listener (and at most
/// [`super::tls::HANDSHAKES_PER_SOURCE`] from one address): more are
/// closed unanswered, so that a flood of half-open handshakes costs bounded
/// memory and CPU and cannot keep seats out.
const MAX_HANDSHAKES: usize = 256;

pub(super) async fn tls_acceptor(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    ev_tx: mpsc::Sender<SocketEvent>,
    conns: Arc<Connections>,
    max: usize,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let gate = super::tls::Gate::new(MAX_HANDSHAKES);
    let mut refused = 0u64;
    let accept_log = crate::ratelimit::RateLimit::new();
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                if let Some(suppressed) = accept_log.check() {
                    tracing::warn!(error = %e, suppressed, "TLS accept failed");
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = conns.slot(addr) else {
            continue;
        };
        // Trunks, proxies and `allow` addresses (seats behind one NAT
        // reconnecting at once) are not held to the per-address share.
        let pass = match gate.enter(addr.ip(), conns.cfg.is_trusted(addr.ip())) {
            Ok(p) => p,
            Err(why) => {
                refused += 1;
                if refused.is_power_of_two() {
                    tracing::warn!(%addr, refused, "too many TLS handshakes {}: connection closed", why.as_str());
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (acceptor, ev_tx, conns) = (acceptor.clone(), ev_tx.clone(), conns.clone());
        // The handshake counts towards the first message's time.
        let deadline = tokio::time::Instant::now() + conns.cfg.security.first_message;
        tokio::spawn(async move {
            let shook = super::tls::handshake(&acceptor, stream, deadline, addr).await;
            drop(pass);
            let Some(stream) = shook else { return };
            let (w_tx, w_rx) = mpsc::unbounded_channel();
            let peer = Peer::tls(addr, None);
            let peer = Peer::tls(addr, Some(conns.add(peer, w_tx)));
            connection(
                stream,
                peer,
                w_rx,
                ev_tx,
                conns,
                max,
                Some((slot, deadline)),
            )
            .await;
        });
    }
}

/// One connection's framing, reading and writing, until either side ends.
/// An accepted one (`accepted`: its place and deadline) that has not sent
/// a whole message by the deadline (`[security] first_message` after its
/// acceptance) is closed.
async fn connection<S>(
    stream: S,
    peer: Peer,
    mut w_rx: mpsc::UnboundedReceiver<Bytes>,
    ev_tx: mpsc::Sender<SocketEvent>,
    conns: Arc<Connections>,
    max: usize,
    accepted: Option<(Slot, tokio::time::Instant)>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (slot, mut silent_until) = match accepted {
        Some((s, d)) => (Some(s), Some(d)),
        None => (None, None),
    };
    let Some(id) = peer.conn else {
        return;
    };
    let (mut rd, mut wr) = tokio::io::split(stream);
    let writer = tokio::spawn(async move {
        while let Some(data) = w_rx.recv().await {
            if wr.write_all(&data).await.is_err() || wr.flush().await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut framer = Framer::new(max);
    'read: loop {
        let read = rd.read_buf(framer.buffer_mut());
        let got = match silent_until {
            Some(deadline) => match tokio::time::timeout_at(deadline, read).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::debug!(from = %peer.addr, "connection closed: no SIP message in time");
                    break;
                }
            },
            None => read.await,
        };
        match got {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(data))) => {
                    silent_until = None;
                    let at = Instant::now();
                    if ev_tx
                        .send(SocketEvent::Message { peer, data, at })
                        .await
                        .is_err()
                    {
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
                        .send(SocketEvent::BadFrame {
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
    conns.remove(id, peer);
    writer.abort();
    drop(slot);
}
