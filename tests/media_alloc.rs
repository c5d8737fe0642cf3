//! The media relay's hot path allocates nothing: a counting global
//! allocator (its own test binary, so no other test shares it) watches
//! `Media::handle_packet` relay RTP, RTCP, digits, renumbered payload types
//! and recorded audio both ways, and sees zero allocations.

use siaga112::media::{
    Codec, CodecKind, Direction, Forward, LegSetup, Media, MediaCommand, MediaConfig, MediaOutput,
    Prompts, Side, SockId,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is passed straight to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

fn codec(pt: u8, kind: CodecKind) -> Codec {
    Codec {
        pt,
        kind,
        clock: 8000,
        channels: 1,
    }
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, pt];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

#[test]
fn the_relay_path_does_not_allocate() {
    let t0 = Instant::now();
    let mut m = Media::new(MediaConfig::default(), Arc::new(Prompts::new()));
    let caller: SocketAddr = "127.0.0.11:40000".parse().unwrap();
    let seat: SocketAddr = "127.0.0.20:42000".parse().unwrap();
    for (side, port, remote, te) in [
        (Side::Caller, 20000, caller, 101),
        (Side::Seat, 20002, seat, 96),
    ] {
        let leg = LegSetup {
            local_port: port,
            remote: Some(remote),
            codecs: vec![
                codec(8, CodecKind::Pcma),
                codec(te, CodecKind::TelephoneEvent),
            ],
            direction: Direction::SendRecv,
        };
        m.handle_command(
            t0,
            MediaCommand::OpenLeg {
                session: 1,
                side,
                leg,
            },
        );
    }
    m.handle_command(t0, MediaCommand::Bridge { session: 1 });
    m.handle_command(
        t0,
        MediaCommand::Record {
            session: 1,
            path: "/tmp/x.wav".into(),
        },
    );
    let mut socks = vec![];
    while let Some(o) = m.poll_output() {
        if let MediaOutput::Bind { sock, port } = o {
            socks.push((port, sock));
        }
    }
    let sock = |p| socks.iter().find(|s| s.0 == p).map(|s| s.1).unwrap();
    let (c_rtp, c_rtcp, s_rtp) = (sock(20000), sock(20001), sock(20002));

    let mut audio = rtp(8, 0, 0, 0x1111, &[0x55; 160]);
    let mut event = rtp(101, 0, 0, 0x1111, &[5, 10, 0, 160]);
    let mut back = rtp(8, 0, 0, 0x2222, &[0xD5; 160]);
    let mut rr = vec![0x80, 201, 0, 1, 0, 0, 0x11, 0x11];
    let mut garbage = vec![0x80; 40];
    let mut hijack = rtp(8, 1, 0, 0x6666, &[0; 160]);
    let stranger: SocketAddr = "127.0.0.66:1".parse().unwrap();
    // The first packets latch the legs; counting starts after them.
    let mut step = |m: &mut Media, i: u32| {
        let now = t0 + Duration::from_millis(u64::from(i) * 20);
        let seq = i as u16;
        let ts = i * 160;
        for buf in [&mut audio, &mut event, &mut back] {
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            buf[4..8].copy_from_slice(&ts.to_be_bytes());
        }
        let mut relayed = 0;
        for (s, from, buf) in [
            (c_rtp, caller, &mut audio),
            (c_rtp, caller, &mut event),
            (s_rtp, seat, &mut back),
            (c_rtcp, caller, &mut rr),
        ] {
            if let Forward::To { .. } = m.handle_packet(now, s, from, buf) {
                relayed += 1;
            }
        }
        event[1] = 101;
        m.handle_packet(now, c_rtp, stranger, &mut hijack);
        m.handle_packet(now, c_rtp, caller, &mut garbage);
        m.handle_packet(now, SockId(77), caller, &mut garbage);
        // The shell drains the outputs after each batch (digits here).
        let mut digits = 0;
        while let Some(o) = m.poll_output() {
            digits += u32::from(matches!(o, MediaOutput::Event(_)));
        }
        (relayed, digits)
    };
    for i in 0..10 {
        step(&mut m, i);
    }

    let before = allocs();
    let (mut relayed, mut digits) = (0, 0);
    for i in 10..5010 {
        let (r, d) = step(&mut m, i);
        relayed += r;
        digits += d;
    }
    let after = allocs();
    assert_eq!(after - before, 0, "allocations on the relay path");
    // The counter does count.
    std::hint::black_box(vec![0u8; 16]);
    assert_eq!(allocs(), after + 1);
    assert_eq!(relayed, 4 * 5000);
    // The digits were read on the way (each packet is a new event here).
    assert_eq!(digits, 5000);
    let s = m.stats();
    assert_eq!(s.relayed, 4 * 5010);
    assert_eq!(
        (s.dropped_wrong_source, s.dropped_unknown_socket),
        (5010, 5010)
    );
}
