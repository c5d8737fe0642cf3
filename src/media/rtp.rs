//! RTP and RTCP framing: validation of what arrives, the header of what we
//! generate, and sequence-number bookkeeping.
//!
//! RTP goes through `rtp-rs`'s `RtpReader` (zero copy: it borrows the
//! datagram and checks version, CSRC count, extension and padding lengths
//! against the buffer before any field is read). We copy out the few fields
//! the relay needs so that the borrow ends and the caller may rewrite the
//! payload type byte in place.

use rtp_rs::RtpReader;

/// The fields of a valid RTP header, and where its payload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rtp {
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    /// Payload bytes: `buf[start..end]` (padding excluded).
    pub start: usize,
    pub end: usize,
}

/// A valid RTP packet (version 2; CSRCs, extension and padding within the
/// packet), or `None`.
#[inline]
pub(crate) fn parse_rtp(buf: &[u8]) -> Option<Rtp> {
    let r = RtpReader::new(buf).ok()?;
    let start = r.payload_offset();
    let end = start + r.payload().len();
    Some(Rtp {
        pt: r.payload_type(),
        marker: r.mark(),
        seq: r.sequence_number().into(),
        ts: r.timestamp(),
        ssrc: r.ssrc(),
        start,
        end,
    })
}

/// A valid RTCP packet (RFC 3550 6.1): every packet of the compound is
/// version 2 and its length fits; the first is SR, RR, SDES, BYE or APP
/// (200..=204), later ones may also be feedback or XR (205..=207). Returns
/// the first packet's sender SSRC.
#[inline]
pub(crate) fn parse_rtcp(buf: &[u8]) -> Option<u32> {
    if buf.len() < 8 {
        return None;
    }
    let mut off = 0;
    while off < buf.len() {
        let rest = &buf[off..];
        if rest.len() < 4 || rest[0] >> 6 != 2 {
            return None;
        }
        let pt = rest[1];
        let allowed = if off == 0 { 200..=204 } else { 200..=207 };
        if !allowed.contains(&pt) {
            return None;
        }
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        if len > rest.len() {
            return None;
        }
        off += len;
    }
    Some(u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]))
}

/// The 12-byte header of a packet we generate (no CSRC, no extension).
pub(crate) fn header(marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0] = 0x80;
    h[1] = (u8::from(marker) << 7) | (pt & 0x7F);
    h[2..4].copy_from_slice(&seq.to_be_bytes());
    h[4..8].copy_from_slice(&ts.to_be_bytes());
    h[8..12].copy_from_slice(&ssrc.to_be_bytes());
    h
}

/// `new` is ahead of `old` by 1..=window (mod 2^16).
#[inline]
pub(crate) fn seq_ahead(new: u16, old: u16, window: u16) -> bool {
    let d = new.wrapping_sub(old);
    d >= 1 && d <= window
}

/// Beyond this jump (either way) a stream is taken to have restarted.
const MAX_JUMP: i32 = 3000;

/// Loss accounting for one RTP stream (RFC 3550 A.3, simplified): the
/// extended highest sequence number seen, the first one, and the count.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SeqTrack {
    started: bool,
    base: i64,
    max: i64,
    received: u64,
    /// Loss of earlier streams (SSRC changes, restarts).
    lost_before: u64,
}

impl SeqTrack {
    #[inline]
    pub fn update(&mut self, seq: u16) {
        if !self.started {
            self.start(seq);
            return;
        }
        let d = i32::from(seq.wrapping_sub(self.max as u16) as i16);
        if !(-MAX_JUMP..=MAX_JUMP).contains(&d) {
            self.lost_before += self.current_lost();
            self.start(seq);
            return;
        }
        if d > 0 {
            self.max += i64::from(d);
        }
        self.received += 1;
    }

    /// A new stream (new SSRC): keep what the old one lost.
    pub fn restart(&mut self) {
        self.lost_before += self.current_lost();
        self.started = false;
    }

    fn start(&mut self, seq: u16) {
        self.started = true;
        self.base = i64::from(seq);
        self.max = i64::from(seq);
        self.received = 1;
    }

    fn current_lost(&self) -> u64 {
        if !self.started {
            return 0;
        }
        let expected = (self.max - self.base + 1) as u64;
        expected.saturating_sub(self.received)
    }

    pub fn lost(&self) -> u64 {
        self.lost_before + self.current_lost()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(first: u8, pt: u8, extra: &[u8]) -> Vec<u8> {
        let mut v = vec![first, pt, 0x12, 0x34, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef];
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn rtp_fields() {
        let v = pkt(0x80, 0x80 | 8, &[1, 2, 3]);
        let r = parse_rtp(&v).unwrap();
        assert_eq!(
            (r.pt, r.marker, r.seq, r.ts, r.ssrc),
            (8, true, 0x1234, 160, 0xdeadbeef)
        );
        assert_eq!((r.start, r.end), (12, 15));
        assert_eq!(header(true, 8, 0x1234, 160, 0xdeadbeef), v[..12]);
    }

    #[test]
    fn rtp_rejects() {
        assert!(parse_rtp(&[]).is_none());
        assert!(parse_rtp(&pkt(0x80, 0, &[])[..11]).is_none());
        // Version 1 and 3.
        assert!(parse_rtp(&pkt(0x40, 0, &[0; 4])).is_none());
        assert!(parse_rtp(&pkt(0xC0, 0, &[0; 4])).is_none());
        // Two CSRCs announced, one present.
        assert!(parse_rtp(&pkt(0x82, 0, &[0; 4])).is_none());
        assert_eq!(parse_rtp(&pkt(0x82, 0, &[0; 8])).unwrap().start, 20);
        // An extension of 2 words announced, 1 present.
        assert!(parse_rtp(&pkt(0x90, 0, &[0xbe, 0xde, 0, 2, 0, 0, 0, 0])).is_none());
        let ok = parse_rtp(&pkt(0x90, 0, &[0xbe, 0xde, 0, 1, 0, 0, 0, 0, 7])).unwrap();
        assert_eq!((ok.start, ok.end), (20, 21));
        // Padding: length 0, and longer than the packet.
        assert!(parse_rtp(&pkt(0xA0, 0, &[1, 2, 0])).is_none());
        assert!(parse_rtp(&pkt(0xA0, 0, &[1, 2, 9])).is_none());
        let p = parse_rtp(&pkt(0xA0, 0, &[1, 2, 2])).unwrap();
        assert_eq!((p.start, p.end), (12, 13));
        // Padding flag with nothing after the header.
        assert!(parse_rtp(&pkt(0xA0, 0, &[])).is_none());
    }

    #[test]
    fn rtcp() {
        let rr = [0x80u8, 201, 0, 1, 0, 0, 0, 42];
        assert_eq!(parse_rtcp(&rr), Some(42));
        let mut compound = rr.to_vec();
        compound.extend_from_slice(&[0x81, 202, 0, 2, 0, 0, 0, 42, 1, 3, b'a', 0]);
        assert_eq!(parse_rtcp(&compound), Some(42));
        // Truncated second packet.
        assert!(parse_rtcp(&compound[..compound.len() - 1]).is_none());
        // Wrong type first, wrong version, too short, length past the end.
        assert!(parse_rtcp(&[0x80, 205, 0, 1, 0, 0, 0, 1]).is_none());
        assert!(parse_rtcp(&[0x80, 0, 0, 1, 0, 0, 0, 1]).is_none());
        assert!(parse_rtcp(&[0x40, 200, 0, 1, 0, 0, 0, 1]).is_none());
        assert!(parse_rtcp(&[0x80, 200, 0, 1]).is_none());
        assert!(parse_rtcp(&[0x80, 200, 0, 2, 0, 0, 0, 1]).is_none());
        // Trailing bytes that are not a packet.
        assert!(parse_rtcp(&[0x80, 200, 0, 1, 0, 0, 0, 1, 0x80]).is_none());
    }

    #[test]
    fn seq_window() {
        assert!(seq_ahead(1, 0, 10));
        assert!(seq_ahead(3, 65534, 10));
        assert!(!seq_ahead(0, 0, 10));
        assert!(!seq_ahead(11, 0, 10));
        assert!(!seq_ahead(65535, 0, 10));
    }

    #[test]
    fn loss() {
        let mut t = SeqTrack::default();
        for s in [65530u16, 65531, 65533, 65534, 2, 1, 3] {
            t.update(s);
        }
        // 65530..=3 is 10 numbers, 7 arrived (65532, 65535, 0 missing).
        assert_eq!(t.lost(), 3);
        t.update(3); // a duplicate counts as received (RFC 3550 A.3)
        assert_eq!(t.lost(), 2);
        t.restart();
        t.update(100);
        t.update(105);
        assert_eq!(t.lost(), 2 + 4);
        // A jump far ahead: a restarted stream.
        t.update(30000);
        t.update(30001);
        assert_eq!(t.lost(), 6);
    }
}
