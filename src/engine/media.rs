//! The media thread: the shell around the sans-I/O [`Media`] machine. It
//! owns every RTP/RTCP socket, waits on them with epoll (mio, edge
//! triggered), reads with `recvmmsg`, lets the machine decide for each
//! datagram, and sends the same buffers on with `sendmmsg` from the other
//! leg's socket. No lock and no allocation per packet; the SIP thread only
//! exchanges commands and events with it.

use super::recorder::RecorderHandle;
use super::udp::{RecvBatch, BATCH};
use crate::media::{
    Forward, Media, MediaCommand, MediaConfig, MediaCounters, MediaEvent, MediaOutput, Prompts,
    SockId,
};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The waker's token: above every socket id.
const WAKE: Token = Token(usize::MAX);

/// Commands in, from the SIP thread.
enum Ctl {
    Cmd(MediaCommand),
    Stop,
}

/// The SIP thread's end of the media thread.
pub struct MediaHandle {
    tx: mpsc::Sender<Ctl>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

/// What the media thread publishes for /metrics and benchmarks.
#[derive(Default)]
pub struct Shared {
    pub counters: Mutex<MediaCounters>,
    /// CPU time of the media thread, in nanoseconds (CLOCK_THREAD_CPUTIME_ID).
    pub cpu_ns: std::sync::atomic::AtomicU64,
    pub bind_failures: std::sync::atomic::AtomicU64,
    pub send_dropped: std::sync::atomic::AtomicU64,
    running: AtomicBool,
}

impl MediaHandle {
    /// Starts the media thread: sockets bind to `bind`; events go to `events`.
    pub fn spawn(
        cfg: MediaConfig,
        bind: IpAddr,
        prompts: Arc<Prompts>,
        events: impl Fn(MediaEvent) + Send + 'static,
        recorder: Option<RecorderHandle>,
    ) -> std::io::Result<MediaHandle> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        shared.running.store(true, Ordering::Relaxed);
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("media".into())
                .spawn(move || {
                    let machine = Media::new(cfg, prompts);
                    let mut shell = Shell {
                        poll,
                        machine,
                        sockets: Vec::new(),
                        bind,
                        batch: RecvBatch::new(2048),
                        picks: Vec::with_capacity(BATCH),
                        events: Box::new(events),
                        recorder,
                        shared,
                        rx,
                    };
                    shell.run();
                })?
        };
        Ok(MediaHandle {
            tx,
            waker,
            thread: Some(thread),
            shared,
        })
    }

    /// Hands a command to the media thread (never blocks).
    pub fn send(&self, cmd: MediaCommand) {
        if self.tx.send(Ctl::Cmd(cmd)).is_ok() {
            let _ = self.waker.wake();
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops the thread and waits for it (its sockets close).
    pub fn stop(&mut self) {
        let _ = self.tx.send(Ctl::Stop);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MediaHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Shell {
    poll: Poll,
    machine: Media,
    /// By socket id.
    sockets: Vec<Option<UdpSocket>>,
    bind: IpAddr,
    batch: RecvBatch,
    /// (datagram, out socket, destination) of the batch being relayed.
    picks: Vec<(usize, SockId, SocketAddr)>,
    events: Box<dyn Fn(MediaEvent) + Send>,
    recorder: Option<RecorderHandle>,
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Ctl>,
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

impl Shell {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        let mut published = Instant::now();
        loop {
            let now = Instant::now();
            let timeout = self
                .machine
                .poll_timeout()
                .map(|at| at.saturating_duration_since(now))
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1));
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "media poll failed");
                }
            }
            for ev in events.iter() {
                if ev.token() == WAKE {
                    continue;
                }
                self.read(SockId(ev.token().0 as u32));
            }
            if !self.commands() {
                break;
            }
            let now = Instant::now();
            self.machine.handle_timeout(now);
            self.outputs();
            if now.saturating_duration_since(published) >= Duration::from_millis(250) {
                published = now;
                self.publish();
            }
        }
        self.publish();
        self.shared.running.store(false, Ordering::Relaxed);
    }

    fn publish(&self) {
        *self
            .shared
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = self.machine.stats();
        self.shared.cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
    }

    /// Takes every queued command; false when told to stop.
    fn commands(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(Ctl::Cmd(cmd)) => {
                    self.machine.handle_command(Instant::now(), cmd);
                    self.outputs();
                }
                Ok(Ctl::Stop) | Err(mpsc::TryRecvError::Disconnected) => return false,
                Err(mpsc::TryRecvError::Empty) => return true,
            }
        }
    }

    /// Everything a socket has (edge triggered: until a short batch).
    fn read(&mut self, sock: SockId) {
        loop {
            let Some(Some(s)) = self.sockets.get(sock.0 as usize) else {
                return;
            };
            let fd = s.as_raw_fd();
            let n = match self.batch.recv(fd) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return, // an ICMP error surfacing: the next read goes on
            };
            let now = Instant::now();
            self.picks.clear();
            for i in 0..n {
                let Some((Some(from), buf)) = self.batch.get_mut(i) else {
                    continue;
                };
                if let Forward::To { sock: out, to } =
                    self.machine.handle_packet(now, sock, from, buf)
                {
                    self.picks.push((i, out, to));
                }
            }
            self.send_picks();
            self.outputs();
            if n < BATCH {
                return;
            }
        }
    }

    /// Sends the batch's relayed datagrams, grouped by outgoing socket.
    fn send_picks(&mut self) {
        let mut start = 0;
        let mut run: [(usize, SocketAddr); BATCH] =
            [(0, SocketAddr::from(([0, 0, 0, 0], 0))); BATCH];
        while start < self.picks.len() {
            let out = self.picks[start].1;
            let mut k = 0;
            let mut end = start;
            while end < self.picks.len() && self.picks[end].1 == out {
                run[k] = (self.picks[end].0, self.picks[end].2);
                k += 1;
                end += 1;
            }
            if let Some(Some(s)) = self.sockets.get(out.0 as usize) {
                let sent = self.batch.forward(s.as_raw_fd(), &run[..k]).unwrap_or(0);
                if sent < k {
                    self.shared
                        .send_dropped
                        .fetch_add((k - sent) as u64, Ordering::Relaxed);
                }
            }
            start = end;
        }
    }

    fn outputs(&mut self) {
        while let Some(o) = self.machine.poll_output() {
            match o {
                MediaOutput::Bind { sock, port } => self.bind(sock, port),
                MediaOutput::Unbind { sock } => {
                    if let Some(slot) = self.sockets.get_mut(sock.0 as usize) {
                        if let Some(s) = slot.take() {
                            let _ = self
                                .poll
                                .registry()
                                .deregister(&mut SourceFd(&s.as_raw_fd()));
                        }
                    }
                }
                MediaOutput::Transmit { sock, to, data } => {
                    if let Some(Some(s)) = self.sockets.get(sock.0 as usize) {
                        let _ = s.send_to(&data, to);
                    }
                }
                MediaOutput::Event(e) => (self.events)(e),
                MediaOutput::Recorder(m) => {
                    if let Some(r) = &self.recorder {
                        r.send(m);
                    }
                }
            }
        }
    }

    fn bind(&mut self, sock: SockId, port: u16) {
        let i = sock.0 as usize;
        if self.sockets.len() <= i {
            self.sockets.resize_with(i + 1, || None);
        }
        match UdpSocket::bind(SocketAddr::new(self.bind, port)).and_then(|s| {
            s.set_nonblocking(true)?;
            self.poll.registry().register(
                &mut SourceFd(&s.as_raw_fd()),
                Token(i),
                Interest::READABLE,
            )?;
            Ok(s)
        }) {
            Ok(s) => self.sockets[i] = Some(s),
            Err(e) => {
                self.shared.bind_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(port, error = %e, "media: cannot bind a relay port");
            }
        }
    }
}
