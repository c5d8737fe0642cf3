//! Tests of the body module: multipart bodies, PIDF-LO, and the small
//! parsers (Geolocation headers, DTMF).

mod misc;
mod multipart;
mod pidf;

/// A sample under `tests/data/pidf/`.
fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/pidf/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

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
