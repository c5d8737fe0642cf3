//! Loading the announcements once at start: every `<name>.wav` under
//! `[prompts] dir/<language>/`, 8 kHz mono G.711 (µ-law or A-law) or
//! 16-bit PCM. A file in another format is skipped with a warning naming
//! it (an operator-recorded file must be converted, e.g. with sox).
//!
//! hound reads PCM WAV but not G.711 WAV (format tags 6 and 7), the format
//! the shipped prompts are in; the RIFF chunks are simple enough to walk
//! here.

use crate::media::{Law, Prompts};
use std::path::Path;

/// The prompts of `dir/language`; missing files or folder: none (callers
/// then wait without announcements; a warning says so).
pub fn load(dir: &Path, language: &str) -> Prompts {
    let mut p = Prompts::new();
    let folder = dir.join(language);
    let Ok(rd) = std::fs::read_dir(&folder) else {
        tracing::warn!(dir = %folder.display(), "no prompts folder: callers wait without announcements");
        return p;
    };
    let mut files: Vec<_> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    files.sort();
    for f in files {
        let Some(name) = f.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        match std::fs::read(&f)
            .map_err(|e| e.to_string())
            .and_then(|b| parse(&b))
        {
            Ok(Audio::G711(law, bytes)) => {
                p.add_g711(name, law, &bytes);
            }
            Ok(Audio::Pcm(samples)) => {
                p.add_pcm(name, &samples);
            }
            Err(why) => tracing::warn!(file = %f.display(), %why, "prompt skipped"),
        }
    }
    tracing::info!(dir = %folder.display(), prompts = p.len(), "prompts loaded");
    p
}

#[derive(Debug, PartialEq)]
pub enum Audio {
    G711(Law, Vec<u8>),
    Pcm(Vec<i16>),
}

/// The audio of an 8 kHz mono WAV file.
pub fn parse(b: &[u8]) -> Result<Audio, String> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err("not a WAV file".into());
    }
    let (mut fmt, mut data) = (None, None);
    let mut at = 12;
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let len = u32::from_le_bytes([b[at + 4], b[at + 5], b[at + 6], b[at + 7]]) as usize;
        let body = at + 8;
        let end = body.saturating_add(len).min(b.len());
        match id {
            b"fmt " => fmt = Some(&b[body..end]),
            b"data" => data = Some(&b[body..end]),
            _ => {}
        }
        at = end + (len & 1);
    }
    let fmt = fmt.filter(|f| f.len() >= 16).ok_or("no fmt chunk")?;
    let data = data.ok_or("no data chunk")?;
    let tag = u16::from_le_bytes([fmt[0], fmt[1]]);
    let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
    let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
    let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
    if channels != 1 || rate != 8000 {
        return Err(format!(
            "{channels} channels at {rate} Hz; prompts are 8 kHz mono"
        ));
    }
    match (tag, bits) {
        (7, 8) => Ok(Audio::G711(Law::Mu, data.to_vec())),
        (6, 8) => Ok(Audio::G711(Law::A, data.to_vec())),
        (1, 16) => Ok(Audio::Pcm(
            data.chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect(),
        )),
        _ => Err(format!(
            "format {tag} with {bits} bits; use G.711 or 16-bit PCM"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(tag: u16, bits: u16, rate: u32, data: &[u8]) -> Vec<u8> {
        let mut v = b"RIFF".to_vec();
        v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        v.extend_from_slice(&(rate * u32::from(bits) / 8).to_le_bytes());
        v.extend_from_slice(&(bits / 8).to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
        v.extend_from_slice(b"LIST\x03\x00\x00\x00abc\x00"); // an odd chunk, padded
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn g711_and_pcm_prompts_read_and_others_are_refused() {
        assert_eq!(
            parse(&wav(7, 8, 8000, &[0xff, 0x7f])).unwrap(),
            Audio::G711(Law::Mu, vec![0xff, 0x7f])
        );
        assert_eq!(
            parse(&wav(6, 8, 8000, &[0xd5])).unwrap(),
            Audio::G711(Law::A, vec![0xd5])
        );
        assert_eq!(
            parse(&wav(1, 16, 8000, &[1, 0, 0xff, 0xff])).unwrap(),
            Audio::Pcm(vec![1, -1])
        );
        assert!(parse(&wav(1, 16, 44100, &[0, 0])).is_err());
        assert!(parse(&wav(3, 32, 8000, &[0; 4])).is_err());
        assert!(parse(b"RIFF\x00\x00\x00\x00WAVE").is_err());
        assert!(parse(b"garbage").is_err());
    }

    #[test]
    fn the_shipped_prompts_load_in_both_languages() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/prompts");
        for lang in ["id", "en"] {
            let p = load(&dir, lang);
            for name in ["welcome", "hold"] {
                assert!(p.id(name).is_some(), "{lang}/{name}.wav");
            }
        }
    }
}
