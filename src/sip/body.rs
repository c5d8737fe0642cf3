//! Message bodies, and where the caller is: multipart bodies (RFC 2046 as SIP
//! uses them, RFC 5621), the `Geolocation` header (RFC 6442), PIDF-LO
//! location objects (RFC 4119, RFC 5491, RFC 5139) and SIP INFO DTMF bodies.
//!
//! Everything here is a pure function over bytes and text: no I/O, no clock,
//! no state, and no panic on any input (proptests feed arbitrary bytes and
//! content types to every entry point).
//!
//! # Choices
//!
//! - **Tolerant, and honest about it.** A trunk that garbles one part of a
//!   body must not cost the call its SDP, and a PSAP would rather see half
//!   an address than none. So [`parse`] and [`parse_pidf_lo`] return what
//!   they could read plus a list of short `problems` (for the case log and
//!   the operator's screen); only a PIDF-LO with no location at all is an
//!   error.
//! - **Byte ranges, not copies.** A [`Part`] records where its content lies
//!   in the original body, so the engine can cut a part exactly and
//!   [`replace_part`] can rewrite the SDP while relaying every other byte
//!   (the PIDF-LO, its Content-ID, the boundaries) untouched.
//! - **Our own multipart scanner.** SIP bodies are small (64 KiB at most),
//!   binary and must be cut by byte offset; general MIME crates are made
//!   for e-mail (whole messages, transfer decoding, copies). The
//!   scanner is a linear `memchr::memmem` search for `LF--boundary` with the
//!   RFC 2046 rules for what ends a delimiter line; it accepts bare LF line
//!   ends and a missing close delimiter, and nests up to [`MAX_DEPTH`] deep.
//! - **`roxmltree` for XML.** Read-only, no `unsafe`, namespace aware, and it
//!   refuses any document with a DTD (so no entity expansion, no external
//!   entities), which is what a parser of caller-supplied XML must do. We
//!   also cap the node count. Elements are matched by namespace and local
//!   name; a known shape or `civicAddress` in an unexpected namespace is read
//!   anyway, with a problem noted.
//! - **Simple geometry.** Centres, radii and areas are for a map pin and an
//!   "within about N m" on the operator's screen, computed on a local flat
//!   projection around the shape (good to well under a metre for the few
//!   kilometres a location shape spans), not geodesy.
//!
//! Submodules: [`multipart`], [`geo`] (the headers), [`pidf`], [`shape`],
//! [`civic`], [`dtmf`].

pub mod civic;
pub mod dtmf;
pub mod geo;
pub mod multipart;
pub mod pidf;
pub mod shape;

pub use civic::Civic;
pub use dtmf::parse_dtmf_relay;
pub use geo::{parse_geolocation, parse_geolocation_routing, GeoRef, GeoRouting};
pub use multipart::{find_sdp, parse, replace_part, split_content_type, Body, Part, MAX_DEPTH};
pub use pidf::{parse_pidf_lo, Location};
pub use shape::{Position, Shape};

/// At most this many problems are listed for one body or location object;
/// a last line says that more were left out.
pub const MAX_PROBLEMS: usize = 32;

/// Adds a problem, unless the list is full.
fn note(problems: &mut Vec<String>, problem: String) {
    match problems.len() {
        n if n < MAX_PROBLEMS => problems.push(problem),
        MAX_PROBLEMS => problems.push("more problems not listed".to_string()),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
