//! Media for the end-to-end tests: G.711 tones and RFC 4733 digits as RTP
//! packets, pcap files SIPp plays (`play_pcap_audio`), a UDP listener that
//! collects what the relay sends, and a Goertzel filter to tell which tone
//! a recording holds.

use siaga112::media::Law;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

pub const PCMA: u8 = 8;
pub const TELEPHONE_EVENT: u8 = 101;

/// One RTP packet.
pub fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// A tone (`freq` Hz, or silence for 0) as 20 ms A-law packets from
/// `start` (in packets); (time offset, packet).
pub fn tone(freq: f64, secs: f64, ssrc: u32, start: u32) -> Vec<(Duration, Vec<u8>)> {
    let n = (secs * 50.0) as u32;
    (0..n)
        .map(|k| {
            let i = start + k;
            let payload: Vec<u8> = (0..160)
                .map(|s| {
                    let t = f64::from(i * 160 + s) / 8000.0;
                    let v = if freq > 0.0 {
                        (8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
                    } else {
                        0
                    };
                    Law::A.encode(v)
                })
                .collect();
            let p = rtp(PCMA, k == 0, i as u16, i * 160, ssrc, &payload);
            (Duration::from_millis(u64::from(k) * 20), p)
        })
        .collect()
}

/// An RFC 4733 event: three packets while the key is down, three end
/// packets (the same timestamp), at `at`; `seq` is the first sequence.
pub fn digit(event: u8, at: Duration, seq: u16, ts: u32, ssrc: u32) -> Vec<(Duration, Vec<u8>)> {
    let mut out = Vec::new();
    for k in 0..6u16 {
        let end = k >= 3;
        let duration = (u16::min(k, 3) + 1) * 160;
        let payload = [
            event,
            if end { 0x80 | 10 } else { 10 },
            (duration >> 8) as u8,
            duration as u8,
        ];
        let p = rtp(TELEPHONE_EVENT, k == 0, seq + k, ts, ssrc, &payload);
        out.push((at + Duration::from_millis(u64::from(k.min(3)) * 20), p));
    }
    out
}

/// Writes a pcap (Ethernet, IPv4, UDP) of `packets` for SIPp to play: it
/// sends each payload to the call's media address at its time offset.
pub fn write_pcap(path: &Path, packets: &[(Duration, Vec<u8>)]) {
    let mut f = std::fs::File::create(path).unwrap();
    // Global header: magic, v2.4, tz 0, sigfigs 0, snaplen, Ethernet.
    f.write_all(&0xa1b2_c3d4u32.to_le_bytes()).unwrap();
    f.write_all(&2u16.to_le_bytes()).unwrap();
    f.write_all(&4u16.to_le_bytes()).unwrap();
    f.write_all(&[0u8; 8]).unwrap();
    f.write_all(&65535u32.to_le_bytes()).unwrap();
    f.write_all(&1u32.to_le_bytes()).unwrap();
    let mut sorted: Vec<&(Duration, Vec<u8>)> = packets.iter().collect();
    sorted.sort_by_key(|p| p.0);
    for (at, payload) in sorted {
        let udp_len = 8 + payload.len();
        let ip_len = 20 + udp_len;
        let mut frame = Vec::with_capacity(14 + ip_len);
        frame.extend_from_slice(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00]);
        let mut ip = vec![
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ];
        ip.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&6002u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(payload);
        let us = at.as_micros() as u64;
        f.write_all(&((us / 1_000_000) as u32 + 1_700_000_000).to_le_bytes())
            .unwrap();
        f.write_all(&((us % 1_000_000) as u32).to_le_bytes())
            .unwrap();
        f.write_all(&(frame.len() as u32).to_le_bytes()).unwrap();
        f.write_all(&(frame.len() as u32).to_le_bytes()).unwrap();
        f.write_all(&frame).unwrap();
    }
}

fn checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What a [`Listener`] got: (arrival, source, bytes).
pub type Got = Vec<(Instant, SocketAddr, Vec<u8>)>;

/// A UDP socket that collects every datagram it gets (with arrival time and
/// source) on a thread, until dropped.
pub struct Listener {
    pub port: u16,
    got: std::sync::Arc<std::sync::Mutex<Got>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Listener {
    pub fn new() -> Listener {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let port = s.local_addr().unwrap().port();
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (g, st) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !st.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    g.lock()
                        .unwrap()
                        .push((Instant::now(), from, buf[..n].to_vec()));
                }
            }
        });
        Listener { port, got, stop }
    }

    pub fn packets(&self) -> Got {
        self.got.lock().unwrap().clone()
    }
}

impl Default for Listener {
    fn default() -> Self {
        Listener::new()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The power of `freq` in `samples` (Goertzel).
pub fn goertzel(samples: &[i16], freq: f64, rate: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

/// Whether `freq` stands out of `samples`: its power over the strongest of
/// a few other frequencies.
pub fn dominant(samples: &[i16], freq: f64) -> f64 {
    let p = goertzel(samples, freq, 8000.0);
    let others = [250.0, 600.0, 440.0, 1000.0, 1500.0, 2200.0]
        .into_iter()
        .filter(|f| (f - freq).abs() > 50.0)
        .map(|f| goertzel(samples, f, 8000.0))
        .fold(1.0f64, f64::max);
    p / others
}

/// A stereo 16-bit WAV's channels.
pub fn wav_channels(path: &Path) -> (Vec<i16>, Vec<i16>, hound::WavSpec) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let s: Vec<i16> = r.samples::<i16>().map(|x| x.unwrap()).collect();
    let left = s.iter().step_by(2).copied().collect();
    let right = s.iter().skip(1).step_by(2).copied().collect();
    (left, right, spec)
}
