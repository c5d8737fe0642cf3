//! G.711 (µ-law and A-law) and the level of a packet.
//!
//! The companding itself comes from `audio-codec-algorithms`: a small
//! `no_std`, dependency-free crate that forbids panics and unsafe code,
//! decodes through the 256-entry tables generated with the ITU-T G.191
//! tools, and tests its encoders against G.191 reference output for all
//! 65,536 inputs. (The other G.711 crate found, `ezk-g711`, pulls in a whole
//! media framework.) What is ours is the thin [`Law`] wrapper and the level
//! arithmetic, tested here against the standard's known values.

use audio_codec_algorithms::{decode_alaw, decode_ulaw, encode_alaw, encode_ulaw};

/// Which G.711 companding law.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Law {
    /// µ-law (PCMU, payload type 0).
    Mu,
    /// A-law (PCMA, payload type 8), the law of Indonesian trunks.
    A,
}

impl Law {
    #[inline]
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Law::Mu => decode_ulaw(code),
            Law::A => decode_alaw(code),
        }
    }

    #[inline]
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mu => encode_ulaw(sample),
            Law::A => encode_alaw(sample),
        }
    }

    /// The code of (near) zero signal: what silence is made of.
    pub fn silence(self) -> u8 {
        match self {
            Law::Mu => 0xFF,
            Law::A => 0xD5,
        }
    }
}

/// Mean of the squared decoded samples of a G.711 payload (0 for none).
#[inline]
pub(crate) fn mean_square(law: Law, payload: &[u8]) -> f64 {
    if payload.is_empty() {
        return 0.0;
    }
    let mut sum: u64 = 0;
    match law {
        Law::Mu => {
            for &b in payload {
                let s = i64::from(decode_ulaw(b));
                sum += (s * s) as u64;
            }
        }
        Law::A => {
            for &b in payload {
                let s = i64::from(decode_alaw(b));
                sum += (s * s) as u64;
            }
        }
    }
    sum as f64 / payload.len() as f64
}

/// The mean square that a level of `dbov` (20 log10(rms / 32768)) is.
pub(crate) fn mean_square_of_dbov(dbov: f32) -> f64 {
    let full = 32768.0f64 * 32768.0;
    full * 10f64.powf(f64::from(dbov) / 10.0)
}

/// The level of a mean square, in dBov (-inf for digital silence).
#[cfg(test)]
pub(crate) fn dbov(mean_square: f64) -> f64 {
    10.0 * (mean_square / (32768.0 * 32768.0)).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(Law::Mu.decode(0xFF), 0);
        assert_eq!(Law::Mu.decode(0x7F), 0);
        assert_eq!(Law::Mu.decode(0x00), -32124);
        assert_eq!(Law::Mu.decode(0x80), 32124);
        assert_eq!(Law::A.decode(0xD5), 8);
        assert_eq!(Law::A.decode(0x55), -8);
        assert_eq!(Law::A.decode(0xAA), 32256);
        assert_eq!(Law::A.decode(0x2A), -32256);
        assert_eq!(Law::Mu.encode(0), 0xFF);
        assert_eq!(Law::A.encode(0), 0xD5);
        assert_eq!(Law::Mu.decode(Law::Mu.silence()), 0);
        assert_eq!(Law::A.decode(Law::A.silence()), 8);
    }

    #[test]
    fn every_code_round_trips() {
        for law in [Law::Mu, Law::A] {
            for code in 0..=255u8 {
                let s = law.decode(code);
                let back = law.encode(s);
                // µ-law has two codes for zero (0x7F and 0xFF); all others are exact.
                assert_eq!(law.decode(back), s, "{law:?} {code:#x}");
            }
        }
    }

    #[test]
    fn encoding_is_monotonic() {
        for law in [Law::Mu, Law::A] {
            let mut last = i16::MIN;
            for s in (i16::MIN..=i16::MAX).step_by(7) {
                let d = law.decode(law.encode(s));
                assert!(d >= last, "{law:?} {s}");
                last = d;
            }
        }
    }

    #[test]
    fn levels() {
        // A full-scale square wave is 0 dBov; digital silence is far below.
        let square = [0x80u8, 0x00].repeat(80);
        let db = dbov(mean_square(Law::Mu, &square));
        assert!((db - 20.0 * (32124.0f64 / 32768.0).log10()).abs() < 1e-9);
        assert_eq!(mean_square(Law::Mu, &[0xFF; 160]), 0.0);
        assert_eq!(mean_square(Law::A, &[]), 0.0);
        // -50 dBov is an rms of about 103.6.
        let t = mean_square_of_dbov(-50.0).sqrt();
        assert!((t - 103.6).abs() < 0.1, "{t}");
        // A-law's idle code (+-8) is far below it.
        assert!(mean_square(Law::A, &[0xD5; 160]) < mean_square_of_dbov(-50.0));
    }
}
