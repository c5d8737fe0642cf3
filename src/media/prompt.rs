//! Announcements: the prompt set, and the player that paces one session's
//! playback.
//!
//! [`Prompts`] is built once by the shell (which reads the WAV files) and
//! shared read-only through an `Arc`. Each prompt is stored encoded in both
//! G.711 laws, padded with silence to whole 20 ms frames, so playing is a
//! copy of 160 bytes: nothing is encoded per packet, and the law is chosen
//! per call (the trunk's negotiated codec). Prompts can be given as 8 kHz
//! 16-bit linear PCM ([`Prompts::add_pcm`]) or as G.711 bytes
//! ([`Prompts::add_g711`], transcoded once to the other law).
//!
//! The [`Player`] schedules packet *k* at `start + k * 20 ms`, computed from
//! the start time, never from the previous send, so late wake-ups do not
//! accumulate into drift.

use super::g711::Law;
use std::time::{Duration, Instant};

/// Samples per packet (20 ms at 8 kHz).
pub(crate) const FRAME: usize = 160;
/// The packet interval.
pub(crate) const PTIME: Duration = Duration::from_millis(20);

/// A prompt, by its index in [`Prompts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PromptId(pub u32);

#[derive(Clone, Debug)]
struct Prompt {
    name: String,
    mu: Vec<u8>,
    a: Vec<u8>,
}

/// The named prompt audio of the centre.
#[derive(Clone, Debug, Default)]
pub struct Prompts {
    items: Vec<Prompt>,
}

impl Prompts {
    pub fn new() -> Prompts {
        Prompts::default()
    }

    /// A set of one prompt (its id is `PromptId(0)`).
    pub fn from_pcm(name: &str, pcm: Vec<i16>) -> Prompts {
        let mut p = Prompts::new();
        p.add_pcm(name, &pcm);
        p
    }

    /// Adds (or replaces, by name) a prompt of 8 kHz mono linear PCM.
    pub fn add_pcm(&mut self, name: &str, pcm: &[i16]) -> PromptId {
        let mu = encode_padded(Law::Mu, pcm);
        let a = encode_padded(Law::A, pcm);
        self.insert(name, mu, a)
    }

    /// Adds (or replaces, by name) a prompt of G.711 bytes in `law`.
    pub fn add_g711(&mut self, name: &str, law: Law, bytes: &[u8]) -> PromptId {
        let other = match law {
            Law::Mu => Law::A,
            Law::A => Law::Mu,
        };
        let mut same = bytes.to_vec();
        pad(&mut same, law);
        let pcm: Vec<i16> = bytes.iter().map(|&b| law.decode(b)).collect();
        let converted = encode_padded(other, &pcm);
        match law {
            Law::Mu => self.insert(name, same, converted),
            Law::A => self.insert(name, converted, same),
        }
    }

    fn insert(&mut self, name: &str, mu: Vec<u8>, a: Vec<u8>) -> PromptId {
        let p = Prompt {
            name: name.to_string(),
            mu,
            a,
        };
        if let Some(id) = self.id(name) {
            self.items[id.0 as usize] = p;
            return id;
        }
        self.items.push(p);
        PromptId((self.items.len() - 1) as u32)
    }

    pub fn id(&self, name: &str) -> Option<PromptId> {
        let i = self.items.iter().position(|p| p.name == name)?;
        Some(PromptId(i as u32))
    }

    pub fn name(&self, id: PromptId) -> Option<&str> {
        Some(self.items.get(id.0 as usize)?.name.as_str())
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// 20 ms frames in a prompt (0 for an unknown id).
    pub(crate) fn frames(&self, id: PromptId) -> usize {
        self.items
            .get(id.0 as usize)
            .map_or(0, |p| p.mu.len() / FRAME)
    }

    /// Frame `i` of a prompt, in `law`.
    pub(crate) fn frame(&self, id: PromptId, law: Law, i: usize) -> Option<&[u8]> {
        let p = self.items.get(id.0 as usize)?;
        let bytes = match law {
            Law::Mu => &p.mu,
            Law::A => &p.a,
        };
        bytes.get(i * FRAME..(i + 1) * FRAME)
    }
}

fn encode_padded(law: Law, pcm: &[i16]) -> Vec<u8> {
    let mut v: Vec<u8> = pcm.iter().map(|&s| law.encode(s)).collect();
    pad(&mut v, law);
    v
}

fn pad(v: &mut Vec<u8>, law: Law) {
    let whole = v.len().div_ceil(FRAME) * FRAME;
    v.resize(whole, law.silence());
}

/// One session's playback: the list, then the loop.
#[derive(Clone, Debug)]
pub(crate) struct Player {
    /// Timer generation (a stopped or replaced player's ticks are stale).
    pub gen: u64,
    queue: Vec<PromptId>,
    /// Index into `queue`; `queue.len()` once the list is done.
    item: usize,
    /// Next frame within the current prompt.
    frame: usize,
    then: Option<PromptId>,
    start: Instant,
    /// Slot of the next packet: it is due at `start + slot * PTIME`.
    pub slot: u64,
    /// The next packet sent carries the marker bit (the first one sent).
    pub marker: bool,
}

impl Player {
    pub fn new(gen: u64, queue: Vec<PromptId>, then: Option<PromptId>, start: Instant) -> Player {
        Player {
            gen,
            queue,
            item: 0,
            frame: 0,
            then,
            start,
            slot: 0,
            marker: true,
        }
    }

    /// When the next packet is due.
    pub fn due(&self) -> Instant {
        // Saturates after ~2.7 years of 20 ms slots, far beyond any call.
        let slot = u32::try_from(self.slot).unwrap_or(u32::MAX);
        self.start + PTIME * slot
    }

    /// Slots due by `now` that were not taken yet.
    pub fn due_count(&self, now: Instant) -> u64 {
        if now < self.start {
            return 0;
        }
        let elapsed = now.duration_since(self.start).as_nanos();
        let last = elapsed / PTIME.as_nanos();
        (last as u64 + 1).saturating_sub(self.slot)
    }

    /// Takes the next slot's audio: a prompt frame, or `None` for silence.
    pub fn next_frame<'p>(&mut self, prompts: &'p Prompts, law: Law) -> Option<&'p [u8]> {
        self.slot += 1;
        while let Some(&id) = self.queue.get(self.item) {
            if self.frame < prompts.frames(id) {
                self.frame += 1;
                return prompts.frame(id, law, self.frame - 1);
            }
            self.item += 1;
            self.frame = 0;
        }
        let id = self.then?;
        let n = prompts.frames(id);
        if n == 0 {
            return None;
        }
        if self.frame >= n {
            self.frame = 0;
        }
        self.frame += 1;
        prompts.frame(id, law, self.frame - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_padded_and_in_both_laws() {
        let mut p = Prompts::new();
        let a = p.add_pcm("a", &[1000; 200]);
        assert_eq!(p.frames(a), 2);
        let f1 = p.frame(a, Law::A, 1).unwrap();
        assert_eq!(f1[39], Law::A.encode(1000));
        assert_eq!(f1[40], Law::A.silence());
        assert_eq!(p.frame(a, Law::Mu, 0).unwrap()[0], Law::Mu.encode(1000));
        assert!(p.frame(a, Law::Mu, 2).is_none());
        let b = p.add_g711("b", Law::Mu, &[0x80; 160]);
        assert_eq!(p.frame(b, Law::Mu, 0).unwrap(), &[0x80; 160][..]);
        assert_eq!(p.frame(b, Law::A, 0).unwrap()[0], Law::A.encode(32124));
        assert_eq!(p.id("b"), Some(b));
        assert_eq!(p.name(a), Some("a"));
        // Same name: replaced in place.
        assert_eq!(p.add_pcm("a", &[]), a);
        assert_eq!(p.frames(a), 0);
        assert_eq!(p.len(), 2);
        assert_eq!(
            Prompts::from_pcm("x", vec![0; 10]).id("x"),
            Some(PromptId(0))
        );
    }

    #[test]
    fn list_then_loop() {
        let mut p = Prompts::new();
        let a = p.add_pcm("a", &[100; 320]);
        let b = p.add_pcm("b", &[200; 160]);
        let c = p.add_pcm("c", &[300; 160]);
        let empty = p.add_pcm("empty", &[]);
        let t = Instant::now();
        let mut pl = Player::new(1, vec![a, empty, PromptId(99), b], Some(c), t);
        let seq: Vec<u8> = (0..6)
            .map(|_| pl.next_frame(&p, Law::Mu).unwrap()[0])
            .collect();
        let e = |s| Law::Mu.encode(s);
        assert_eq!(seq, vec![e(100), e(100), e(200), e(300), e(300), e(300)]);
        assert_eq!(pl.due(), t + PTIME * 6);
        assert_eq!(pl.due_count(t + PTIME * 6), 1);
        assert_eq!(pl.due_count(t + PTIME * 8 - Duration::from_nanos(1)), 2);
        assert_eq!(pl.due_count(t), 0);
        let mut silent = Player::new(2, vec![b], None, t);
        assert!(silent.next_frame(&p, Law::A).is_some());
        assert!(silent.next_frame(&p, Law::A).is_none());
        let mut loop_empty = Player::new(3, vec![], Some(empty), t);
        assert!(loop_empty.next_frame(&p, Law::A).is_none());
    }
}
