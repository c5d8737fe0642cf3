//! Cutting a TCP byte stream into SIP messages by Content-Length
//! (RFC 3261 §18.3), with keep-alive CRLFs (RFC 5626 §3.5.1) skipped.

use super::scan;
use bytes::{Buf, Bytes, BytesMut};

/// What the framer found in the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One whole message.
    Message(Bytes),
    /// A `CRLFCRLF` keep-alive ping: answer with a `CRLF` pong.
    Ping,
}

/// Why the stream cannot be framed any further; the connection is closed
/// after answering from `head` where it can be.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The head or the declared body passes the limit (answer 513).
    TooLarge { head: Bytes },
    /// The Content-Length is not a number (answer 400).
    BadLength { head: Bytes, why: &'static str },
}

/// A stream buffer that yields whole messages.
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    max: usize,
}

impl Framer {
    pub fn new(max: usize) -> Framer {
        Framer {
            buf: BytesMut::with_capacity(8192),
            max,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Room to read into, for callers that read straight into the buffer.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// The next frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        // Keep-alives and stray line ends between messages.
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.advance(4);
            return Ok(Some(Frame::Ping));
        }
        while self.buf.starts_with(b"\r\n")
            && self.buf.len() >= 4
            && !self.buf.starts_with(b"\r\n\r\n")
        {
            self.buf.advance(2);
        }
        if self.buf.starts_with(b"\r\n") && self.buf.len() < 4 {
            return Ok(None);
        }
        let Some(head_end) = scan::find_head_end(&self.buf) else {
            if self.buf.len() > self.max {
                let head = self.buf.split().freeze();
                return Err(FrameError::TooLarge { head });
            }
            return Ok(None);
        };
        let cl = match scan::content_length(&self.buf[..head_end]) {
            Ok(cl) => cl.unwrap_or(0),
            Err(why) => {
                let head = self.buf.split_to(head_end + 4).freeze();
                self.buf.clear();
                return Err(FrameError::BadLength { head, why });
            }
        };
        let total = head_end + 4 + cl;
        if total > self.max {
            let head = self.buf.split_to(head_end + 4).freeze();
            self.buf.clear();
            return Err(FrameError::TooLarge { head });
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        Ok(Some(Frame::Message(self.buf.split_to(total).freeze())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 4\r\n\r\nbody";

    #[test]
    fn frames_split_anywhere() {
        let mut stream = Vec::new();
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(MSG);
        for cut in 0..stream.len() {
            let mut f = Framer::new(65536);
            let mut got = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                f.push(part);
                while let Some(fr) = f.next_frame().unwrap() {
                    got.push(fr);
                }
            }
            assert_eq!(
                got,
                vec![
                    Frame::Ping,
                    Frame::Message(Bytes::from_static(MSG)),
                    Frame::Message(Bytes::from_static(MSG))
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn compact_content_length_frames() {
        let mut f = Framer::new(65536);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nl: 2\r\n\r\nhiXX");
        assert_eq!(
            f.next_frame().unwrap(),
            Some(Frame::Message(Bytes::from_static(
                b"OPTIONS sip:a@b SIP/2.0\r\nl: 2\r\n\r\nhi"
            )))
        );
        assert_eq!(f.next_frame().unwrap(), None);
    }

    #[test]
    fn oversize_and_bad_lengths_are_errors() {
        let mut f = Framer::new(1024);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n");
        assert!(matches!(f.next_frame(), Err(FrameError::TooLarge { .. })));
        let mut f = Framer::new(1024);
        f.push(&[b'A'; 2000]);
        assert!(matches!(f.next_frame(), Err(FrameError::TooLarge { .. })));
        let mut f = Framer::new(1024);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n");
        assert!(matches!(f.next_frame(), Err(FrameError::BadLength { .. })));
    }
}
