//! The RTP relay against rtpengine, same generator, same run: N concurrent
//! G.711 calls (20 ms packets both ways) through the relay and back, and
//! for each relay the CPU per relayed packet, packets lost, the added
//! jitter (p50/p99 of each packet's transit time above its stream's
//! fastest) and RSS per active call.
//!
//!   cargo bench --bench rtp_relay                       # N = 100, 500, 1000
//!   CALLS=500 SECS=20 RECORD=1 cargo bench --bench rtp_relay
//!   RELAYS=ours cargo bench --bench rtp_relay           # skip rtpengine
//!
//! Ours runs in this process on its own thread (the engine's media shell,
//! `engine::media`), its CPU read from that thread's clock; rtpengine
//! (Debian's `rtpengine-daemon`, userspace forwarding, installed by
//! `scripts/rtpbench.sh` when missing) runs as a daemon driven over its ng
//! control protocol, its CPU read from /proc. The generator uses two
//! sockets (caller side, seat side) and sendmmsg/recvmmsg, its calls
//! spread evenly over each 20 ms.

use siaga112::engine::media::MediaHandle;
use siaga112::engine::recorder;
use siaga112::engine::udp::{self, SendQueue, Sent};
use siaga112::media::{
    Codec, CodecKind, Direction, LegSetup, MediaCommand, MediaConfig, Prompts, Side,
};
use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PAYLOAD: usize = 160;
const PACKET: usize = 12 + PAYLOAD;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// What one direction of one call saw.
#[derive(Default, Clone)]
struct Stream {
    received: u64,
    min_transit_ns: u64,
    max_seq: u16,
}

/// The receiving side: per (source port) stream stats and all transit times.
struct Receiver {
    streams: Mutex<HashMap<u16, Stream>>,
    transits: Mutex<Vec<(u16, u64)>>,
    stop: AtomicBool,
}

fn now_ns(_epoch: Instant) -> u64 {
    // Wall clock: the receiver reads each datagram's kernel arrival stamp
    // (SO_TIMESTAMPNS), which is wall clock too, so the receiving thread's
    // own scheduling does not count as the relay's jitter.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Both sockets on one thread: poll, recvmmsg batches, kernel arrival stamps.
fn receive_both(a: UdpSocket, b: UdpSocket, ra: Arc<Receiver>, rb: Arc<Receiver>) {
    for s in [&a, &b] {
        s.set_nonblocking(true).unwrap();
        udp::enable_timestamps(s.as_raw_fd()).unwrap();
    }
    let mut batch = udp::RecvBatch::new(2048);
    let mut local: [Vec<(u16, u64)>; 2] =
        [Vec::with_capacity(1 << 20), Vec::with_capacity(1 << 20)];
    let mut streams: [HashMap<u16, Stream>; 2] = [HashMap::new(), HashMap::new()];
    let mut fds = [
        libc::pollfd {
            fd: a.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    while !ra.stop.load(Ordering::Relaxed) {
        // SAFETY: two valid pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, 100) };
        if r <= 0 {
            continue;
        }
        for k in 0..2 {
            if fds[k].revents & libc::POLLIN == 0 {
                continue;
            }
            while let Ok(n) = batch.recv(fds[k].fd) {
                for i in 0..n {
                    let arrived = batch
                        .arrived(i)
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_nanos() as u64);
                    let Some((Some(from), buf)) = batch.get(i) else {
                        continue;
                    };
                    if buf.len() < 20 {
                        continue;
                    }
                    let sent = u64::from_le_bytes(buf[12..20].try_into().unwrap());
                    let transit = arrived
                        .unwrap_or_else(|| now_ns(Instant::now()))
                        .saturating_sub(sent);
                    let seq = u16::from_be_bytes([buf[2], buf[3]]);
                    let s = streams[k].entry(from.port()).or_insert(Stream {
                        min_transit_ns: u64::MAX,
                        ..Stream::default()
                    });
                    s.received += 1;
                    s.min_transit_ns = s.min_transit_ns.min(transit);
                    s.max_seq = s.max_seq.max(seq);
                    local[k].push((from.port(), transit));
                }
                if n < udp::BATCH {
                    break;
                }
            }
        }
    }
    let [sa, sb] = streams;
    let [la, lb] = local;
    ra.streams.lock().unwrap().extend(sa);
    ra.transits.lock().unwrap().extend(la);
    rb.streams.lock().unwrap().extend(sb);
    rb.transits.lock().unwrap().extend(lb);
}

/// One relay under test: for call i, where the caller side sends (and the
/// seat side receives from) and where the seat side sends.
struct Setup {
    to_caller_side: Vec<SocketAddr>,
    to_seat_side: Vec<SocketAddr>,
}

#[derive(Debug)]
struct Result_ {
    relay: &'static str,
    calls: usize,
    sent: u64,
    received: u64,
    cpu_ns: u64,
    p50_us: f64,
    p99_us: f64,
    rss_kb_per_call: f64,
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn proc_cpu_ns(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    let hz = 100; // USER_HZ on Linux
    ticks * 1_000_000_000 / hz
}

/// Drives `setup` for `secs`: returns (sent, received, transit percentiles).
fn drive(a: &UdpSocket, b: &UdpSocket, setup: &Setup, secs: u64) -> (u64, u64, f64, f64, u64) {
    let epoch = Instant::now();
    let ra = Arc::new(Receiver {
        streams: Mutex::new(HashMap::new()),
        transits: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
    });
    let rb = Arc::new(Receiver {
        streams: Mutex::new(HashMap::new()),
        transits: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
    });
    let receiver = {
        let (sa, sb) = (a.try_clone().unwrap(), b.try_clone().unwrap());
        let (r1, r2) = (ra.clone(), rb.clone());
        std::thread::spawn(move || receive_both(sa, sb, r1, r2))
    };
    let n = setup.to_caller_side.len();
    let mut pkt = [0u8; PACKET];
    pkt[0] = 0x80;
    pkt[1] = 0; // PCMU
    let sent = AtomicU64::new(0);
    let (mut qa, mut qb) = (SendQueue::default(), SendQueue::default());
    let slots = 20u64; // 1 ms slots per 20 ms packet interval
    for slot in 0..secs * 1000 {
        let tick = slot / slots;
        let at = epoch + Duration::from_millis(slot);
        let wait = at.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        // The calls whose turn in the 20 ms falls in this slot.
        let k = slot % slots;
        let (lo, hi) = (
            k as usize * n / slots as usize,
            (k as usize + 1) * n / slots as usize,
        );
        let seq = (tick & 0xffff) as u16;
        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
        pkt[4..8].copy_from_slice(&((tick * 160) as u32).to_be_bytes());
        for i in lo..hi {
            for (dir, q, to) in [
                (0u32, &mut qa, setup.to_caller_side[i]),
                (1, &mut qb, setup.to_seat_side[i]),
            ] {
                pkt[8..12].copy_from_slice(&(((i as u32) << 1) | dir).to_be_bytes());
                pkt[12..20].copy_from_slice(&now_ns(epoch).to_le_bytes());
                q.push(to, bytes::Bytes::copy_from_slice(&pkt));
            }
        }
        for (q, sock) in [(&mut qa, a), (&mut qb, b)] {
            while !q.is_empty() {
                match q.send(sock.as_raw_fd()) {
                    Sent::Some(c) => {
                        sent.fetch_add(c as u64, Ordering::Relaxed);
                    }
                    Sent::WouldBlock => std::thread::sleep(Duration::from_micros(50)),
                    Sent::Failed(..) => {}
                }
            }
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    ra.stop.store(true, Ordering::Relaxed);
    rb.stop.store(true, Ordering::Relaxed);
    receiver.join().unwrap();
    let mut added: Vec<u64> = Vec::new();
    let mut received = 0;
    for r in [&ra, &rb] {
        let streams = r.streams.lock().unwrap();
        received += streams.values().map(|s| s.received).sum::<u64>();
        for (port, t) in r.transits.lock().unwrap().iter() {
            if let Some(s) = streams.get(port) {
                added.push(t - s.min_transit_ns);
            }
        }
    }
    added.sort_unstable();
    let q = |p: f64| {
        if added.is_empty() {
            return f64::NAN;
        }
        added[((added.len() - 1) as f64 * p) as usize] as f64 / 1000.0
    };
    (
        sent.load(Ordering::Relaxed),
        received,
        q(0.5),
        q(0.99),
        now_ns(epoch),
    )
}

/// Pins the calling thread (and the threads it starts later) to one CPU:
/// the relay under test on CPU 0, the generator on CPU 1, so that neither
/// one's scheduling shows up as the other's jitter. (Both relays get the
/// same: rtpengine runs under `taskset -c 0`.)
fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t with one bit set, for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// A generator socket with a receive buffer that rides out a descheduled
/// receiver (SO_RCVBUFFORCE as root; else what the kernel allows).
fn gen_socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let size: libc::c_int = 16 << 20;
    // SAFETY: a valid socket and an int option.
    unsafe {
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    s
}

fn pcmu() -> Vec<Codec> {
    vec![Codec {
        pt: 0,
        kind: CodecKind::Pcmu,
        clock: 8000,
        channels: 1,
    }]
}

fn ours(n: usize, secs: u64, record: bool) -> Result_ {
    let a = gen_socket();
    let b = gen_socket();
    pin(0);
    let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (rec, rec_thread) = recorder::spawn(|_| {}).unwrap();
    let pid = std::process::id();
    let rss0 = rss_kb(pid);
    let mut m = MediaHandle::spawn(
        MediaConfig::default(),
        "127.0.0.1".parse().unwrap(),
        Arc::new(Prompts::new()),
        |_| {},
        record.then_some(rec),
    )
    .unwrap();
    let mut setup = Setup {
        to_caller_side: Vec::new(),
        to_seat_side: Vec::new(),
    };
    for i in 0..n {
        let (cp, sp) = (30000 + 4 * i as u16, 30002 + 4 * i as u16);
        let leg = |port, remote| LegSetup {
            local_port: port,
            remote: Some(remote),
            codecs: pcmu(),
            direction: Direction::SendRecv,
        };
        let s = i as u64;
        m.send(MediaCommand::OpenLeg {
            session: s,
            side: Side::Caller,
            leg: leg(cp, aa),
        });
        m.send(MediaCommand::OpenLeg {
            session: s,
            side: Side::Seat,
            leg: leg(sp, ba),
        });
        m.send(MediaCommand::Bridge { session: s });
        if record {
            m.send(MediaCommand::Record {
                session: s,
                path: dir.path().join(format!("{i}.wav")),
            });
        }
        setup
            .to_caller_side
            .push(SocketAddr::from(([127, 0, 0, 1], cp)));
        setup
            .to_seat_side
            .push(SocketAddr::from(([127, 0, 0, 1], sp)));
    }
    pin(1);
    std::thread::sleep(Duration::from_millis(500));
    let cpu0 = cpu_of(&m);
    let (sent, received, p50, p99, _) = drive(&a, &b, &setup, secs);
    let cpu1 = cpu_of(&m);
    let rss1 = rss_kb(pid);
    for i in 0..n {
        m.send(MediaCommand::Close { session: i as u64 });
    }
    std::thread::sleep(Duration::from_millis(300));
    m.stop();
    drop(m);
    let _ = rec_thread.join();
    Result_ {
        relay: if record {
            "siaga112 (recording)"
        } else {
            "siaga112"
        },
        calls: n,
        sent,
        received,
        cpu_ns: cpu1 - cpu0,
        p50_us: p50,
        p99_us: p99,
        rss_kb_per_call: rss1.saturating_sub(rss0) as f64 / n as f64,
    }
}

fn cpu_of(m: &MediaHandle) -> u64 {
    // The thread publishes every 250 ms.
    std::thread::sleep(Duration::from_millis(300));
    m.shared().cpu_ns.load(Ordering::Relaxed)
}

/// No relay at all: each generator socket sends straight to the other, the
/// baseline of the generator's and the machine's own jitter.
fn direct(n: usize, secs: u64) -> Result_ {
    pin(1);
    let a = gen_socket();
    let b = gen_socket();
    let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let setup = Setup {
        to_caller_side: vec![ba; n],
        to_seat_side: vec![aa; n],
    };
    let (sent, received, p50, p99, _) = drive(&a, &b, &setup, secs);
    Result_ {
        relay: "none (generator to itself)",
        calls: n,
        sent,
        received,
        cpu_ns: 0,
        p50_us: p50,
        p99_us: p99,
        rss_kb_per_call: 0.0,
    }
}

// ---------------------------------------------------------------- rtpengine

fn bencode_str(s: &str) -> String {
    format!("{}:{s}", s.len())
}

struct Ng {
    sock: UdpSocket,
    to: SocketAddr,
    seq: u64,
}

impl Ng {
    fn call(&mut self, dict: &[(&str, &str)]) -> String {
        self.seq += 1;
        let mut body = String::from("d");
        for (k, v) in dict {
            body.push_str(&bencode_str(k));
            body.push_str(&bencode_str(v));
        }
        body.push('e');
        let msg = format!("c{} {body}", self.seq);
        self.sock.send_to(msg.as_bytes(), self.to).unwrap();
        let mut buf = vec![0u8; 65536];
        let (n, _) = self.sock.recv_from(&mut buf).expect("rtpengine answers");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// The m=audio port of the SDP inside an ng reply.
fn port_in(reply: &str) -> u16 {
    reply
        .split("m=audio ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {reply}"))
}

fn rtpengine(n: usize, secs: u64) -> Option<Result_> {
    if Command::new("sh")
        .args(["-c", "command -v rtpengine"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        eprintln!("rtpengine is not installed (scripts/rtpbench.sh installs it): skipped");
        return None;
    }
    let ng_port = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut child: Child = Command::new("taskset")
        .args([
            "-c",
            "0",
            "rtpengine",
            "--interface=127.0.0.1",
            &format!("--listen-ng=127.0.0.1:{ng_port}"),
            "--port-min=40000",
            "--port-max=49999",
            "--table=-1",
            "--foreground",
            "--log-stderr",
            "--log-level=3",
            "--num-threads=1",
        ])
        .arg(format!("--pidfile={}", dir.path().join("pid").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let ctl = UdpSocket::bind("127.0.0.1:0").unwrap();
    ctl.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut ng = Ng {
        sock: ctl,
        to: SocketAddr::from(([127, 0, 0, 1], ng_port)),
        seq: 0,
    };
    let mut up = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        ng.sock.send_to(b"p1 d7:command4:pinge", ng.to).ok();
        let mut buf = [0u8; 256];
        if ng.sock.recv_from(&mut buf).is_ok() {
            up = true;
            break;
        }
    }
    if !up {
        let _ = child.kill();
        eprintln!("rtpengine did not answer ping: skipped");
        return None;
    }
    pin(1);
    let a = gen_socket();
    let b = gen_socket();
    let (ap, bp) = (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    );
    let pid = child.id();
    let rss0 = rss_kb(pid);
    let sdp = |port: u16| {
        format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")
    };
    let mut setup = Setup {
        to_caller_side: Vec::new(),
        to_seat_side: Vec::new(),
    };
    for i in 0..n {
        let cid = format!("bench-{i}");
        let offer = ng.call(&[
            ("command", "offer"),
            ("call-id", &cid),
            ("from-tag", "a"),
            ("sdp", &sdp(ap)),
        ]);
        let seat_side = port_in(&offer);
        let answer = ng.call(&[
            ("command", "answer"),
            ("call-id", &cid),
            ("from-tag", "a"),
            ("to-tag", "b"),
            ("sdp", &sdp(bp)),
        ]);
        let caller_side = port_in(&answer);
        setup
            .to_caller_side
            .push(SocketAddr::from(([127, 0, 0, 1], caller_side)));
        setup
            .to_seat_side
            .push(SocketAddr::from(([127, 0, 0, 1], seat_side)));
    }
    std::thread::sleep(Duration::from_millis(500));
    let cpu0 = proc_cpu_ns(pid);
    let (sent, received, p50, p99, _) = drive(&a, &b, &setup, secs);
    let cpu1 = proc_cpu_ns(pid);
    let rss1 = rss_kb(pid);
    let _ = child.kill();
    let _ = child.wait();
    Some(Result_ {
        relay: "rtpengine (userspace)",
        calls: n,
        sent,
        received,
        cpu_ns: cpu1.saturating_sub(cpu0),
        p50_us: p50,
        p99_us: p99,
        rss_kb_per_call: rss1.saturating_sub(rss0) as f64 / n as f64,
    })
}

fn main() {
    // `cargo test` runs benches as tests too: stay quick there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("rtp_relay: run with `cargo bench --bench rtp_relay`");
        return;
    }
    let calls: Vec<usize> = env("CALLS", "100,500,1000")
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let secs: u64 = env("SECS", "15").parse().unwrap_or(15);
    let relays = env("RELAYS", "ours,rtpengine,direct");
    let record = env("RECORD", "both");
    let mut rows = Vec::new();
    for &n in &calls {
        if relays.contains("ours") {
            if record != "1" {
                rows.push(ours(n, secs, false));
            }
            if record != "0" {
                rows.push(ours(n, secs, true));
            }
        }
        if relays.contains("rtpengine") {
            rows.extend(rtpengine(n, secs));
        }
        if relays.contains("direct") {
            rows.push(direct(n, secs));
        }
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\n| relay | calls | packets sent | lost | lost % | CPU per relayed packet | added jitter p50 | p99 | RSS per call |\n|---|---|---|---|---|---|---|---|---|"
    );
    for r in &rows {
        let lost = r.sent.saturating_sub(r.received);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.4} | {:.2} µs | {:.0} µs | {:.0} µs | {:.1} KiB |",
            r.relay,
            r.calls,
            r.sent,
            lost,
            100.0 * lost as f64 / r.sent.max(1) as f64,
            r.cpu_ns as f64 / r.received.max(1) as f64 / 1000.0,
            r.p50_us,
            r.p99_us,
            r.rss_kb_per_call
        );
    }
}
