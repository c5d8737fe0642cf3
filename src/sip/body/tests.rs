//! Tests of the body module: multipart bodies, PIDF-LO, and the small
//! parsers (Geolocation headers, DTMF).

mod misc;
mod multipart;

/// LF line ends to CRLF (the samples are kept with LF).
fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 16);
    for &b in text {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}
