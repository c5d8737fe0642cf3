//! A text gateway for the tests (the telco's SMS/text-to-112 side): a UDP
//! socket at the trunk's address that sends SIP MESSAGEs and answers the
//! engine's.

use super::{header_of, ok_to, Engine};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

pub struct Gateway {
    sock: UdpSocket,
    engine: String,
    n: u32,
    /// MESSAGEs the engine sent us: their bodies.
    pub got: Vec<String>,
}

impl Gateway {
    pub fn new(e: &Engine) -> Gateway {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Gateway {
            sock,
            engine: e.target(),
            n: 0,
            got: Vec::new(),
        }
    }

    /// Sends a MESSAGE and returns the status of its answer.
    pub fn send(&mut self, target: &str, content_type: &str, text: &str) -> u16 {
        self.n += 1;
        let me = self.sock.local_addr().unwrap();
        let msg = format!(
            "MESSAGE sip:{target}@{e} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-gw-{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+628199000111@{me}>;tag=gw{n}\r\nTo: <sip:{target}@{e}>\r\n\
             Call-ID: gw-{n}@sms.test\r\nCSeq: 1 MESSAGE\r\nContent-Type: {content_type}\r\n\
             Content-Length: {len}\r\n\r\n{text}",
            e = self.engine,
            n = self.n,
            len = text.len(),
        );
        self.sock.send_to(msg.as_bytes(), &self.engine).unwrap();
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            if let Some(status) = self.pump_one() {
                return status;
            }
        }
        0
    }

    /// Reads one message: a response's status, or a MESSAGE answered 200.
    pub fn pump_one(&mut self) -> Option<u16> {
        let mut buf = [0u8; 65536];
        let Ok((n, from)) = self.sock.recv_from(&mut buf) else {
            return None;
        };
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if let Some(s) = msg.strip_prefix("SIP/2.0 ") {
            return s.get(..3).and_then(|c| c.parse().ok());
        }
        if msg.starts_with("MESSAGE ") {
            self.sock.send_to(ok_to(&msg).as_bytes(), from).unwrap();
            assert!(header_of(&msg, "Content-Type")
                .unwrap()
                .starts_with("text/plain"));
            self.got
                .push(msg.split("\r\n\r\n").nth(1).unwrap_or("").to_string());
        }
        None
    }

    pub fn wait_text(&mut self, within: Duration) -> Option<String> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if !self.got.is_empty() {
                return Some(self.got.remove(0));
            }
            self.pump_one();
        }
        None
    }
}
