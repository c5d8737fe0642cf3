//! The recorder thread: writes each call's recording (a stereo WAV, caller
//! left, seat right, 16-bit at 8 kHz) off the relay path, keeps its header
//! right every second so a crash leaves a playable file, and at the end
//! closes, syncs and hashes it (SHA-256) and says so to the core. A write
//! that fails (disk full) ends that recording, never the call.
//!
//! At start, [`repair`] fixes the header of every WAV a crash left open
//! (its sizes say less than the file holds) and reports it.

use crate::media::{MediaEvent, RecorderMsg, SessionId};
use foldhash::{HashMap, HashMapExt};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Frames between header updates (one second at 8 kHz).
const FLUSH_FRAMES: u64 = 8000;

/// The media thread's end of the recorder.
#[derive(Clone)]
pub struct RecorderHandle {
    tx: mpsc::Sender<RecorderMsg>,
}

impl RecorderHandle {
    pub fn send(&self, m: RecorderMsg) {
        let _ = self.tx.send(m);
    }
}

struct Open {
    wav: hound::WavWriter<BufWriter<File>>,
    path: PathBuf,
    frames: u64,
    since_flush: u64,
    codec: String,
}

/// Starts the recorder thread; `events` carries its results to the core.
pub fn spawn(
    events: impl Fn(MediaEvent) + Send + 'static,
) -> std::io::Result<(RecorderHandle, JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel::<RecorderMsg>();
    let t = std::thread::Builder::new()
        .name("recorder".into())
        .spawn(move || {
            // Behind the relay for the CPU: a recording may lag, a packet may not.
            // SAFETY: plain syscalls on this thread's own id (Linux nice is per thread).
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, tid, 10);
            }
            let mut open: HashMap<SessionId, Open> = HashMap::new();
            while let Ok(m) = rx.recv() {
                match m {
                    RecorderMsg::Start {
                        session,
                        path,
                        sample_rate,
                        codec_note,
                    } => match create(&path, sample_rate) {
                        Ok(wav) => {
                            open.insert(
                                session,
                                Open {
                                    wav,
                                    path,
                                    frames: 0,
                                    since_flush: 0,
                                    codec: codec_note.unwrap_or_else(|| "G.711".into()),
                                },
                            );
                        }
                        Err(e) => events(failed(session, &path, e)),
                    },
                    RecorderMsg::Audio { session, frames } => {
                        let Some(o) = open.get_mut(&session) else {
                            continue;
                        };
                        if let Err(e) = write(o, &frames) {
                            let o = open.remove(&session).expect("present");
                            events(failed(session, &o.path, e));
                        }
                    }
                    RecorderMsg::Finish { session } => {
                        let Some(o) = open.remove(&session) else {
                            continue;
                        };
                        events(finish(session, o));
                    }
                }
            }
            // The machine is gone (shutdown): close what is open.
            for (session, o) in open.drain() {
                events(finish(session, o));
            }
        })?;
    Ok((RecorderHandle { tx }, t))
}

fn create(path: &Path, rate: u32) -> Result<hound::WavWriter<BufWriter<File>>, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let file = File::create(path).map_err(|e| e.to_string())?;
    hound::WavWriter::new(BufWriter::new(file), spec).map_err(|e| e.to_string())
}

fn write(o: &mut Open, frames: &[[i16; 2]]) -> Result<(), String> {
    // hound's 16-bit writer fills a buffer directly (no call per sample).
    let mut w = o.wav.get_i16_writer(frames.len() as u32 * 2);
    for [l, r] in frames {
        w.write_sample(*l);
        w.write_sample(*r);
    }
    w.flush().map_err(|e| e.to_string())?;
    o.frames += frames.len() as u64;
    o.since_flush += frames.len() as u64;
    if o.since_flush >= FLUSH_FRAMES {
        o.since_flush = 0;
        // Header sizes updated: a crash after this leaves a valid file.
        o.wav.flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn failed(session: SessionId, path: &Path, why: impl ToString) -> MediaEvent {
    let why = format!("{}: {}", path.display(), why.to_string());
    MediaEvent::RecordingFailed { session, why }
}

fn finish(session: SessionId, o: Open) -> MediaEvent {
    let (path, frames, codec) = (o.path, o.frames, o.codec);
    if let Err(e) = o.wav.finalize() {
        return failed(session, &path, e);
    }
    match sync_and_hash(&path) {
        Ok((sha256, bytes)) => MediaEvent::Recorded {
            session,
            path,
            duration_ms: frames / 8,
            codec,
            sha256,
            bytes,
        },
        Err(e) => failed(session, &path, e),
    }
}

/// fsync (through a fresh descriptor: it syncs the file, whoever wrote it)
/// and the SHA-256 of what is on disk.
pub fn sync_and_hash(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    f.sync_all()?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        h.update(&buf[..n]);
    }
    let sha = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((sha, bytes))
}

/// A recording a crash left behind and [`repair`] fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    pub path: PathBuf,
    pub duration_ms: u64,
    pub sha256: String,
    pub bytes: u64,
}

/// Every `.wav` under `dir`, in folders changed since `since`: a day's
/// folder changes as each recording is made in it, so a year of older
/// folders is not opened at every start.
fn wav_files(dir: &Path, since: std::time::SystemTime) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                let fresh = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| m >= since);
                if fresh {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "wav") {
                out.push(p);
            }
        }
    }
    out
}

/// Fixes every WAV under `dir` whose header says less than the file holds
/// (the recorder was killed between header updates): the RIFF and data
/// sizes are set to what is there, cut to whole frames. Returns the files
/// it fixed (their name is `<case>.wav`, so the case can be told).
pub fn repair(dir: &Path) -> Vec<Repaired> {
    repair_since(dir, std::time::UNIX_EPOCH)
}

/// [`repair`] in the folders changed since `since` only.
pub fn repair_since(dir: &Path, since: std::time::SystemTime) -> Vec<Repaired> {
    let mut out = Vec::new();
    for p in wav_files(dir, since) {
        match repair_one(&p) {
            Ok(Some(r)) => out.push(r),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "recording cannot be checked")
            }
        }
    }
    out
}

/// Whole recordings under `dir`, changed since `since`, that no record
/// names (`named`: the paths the case log gives) and [`repair`] did not
/// report either: the engine stopped between closing one and recording
/// that it had. Hashed, for a `recorded` record of their own.
pub fn unnamed(
    dir: &Path,
    named: &std::collections::HashSet<String>,
    repaired: &[Repaired],
    since: std::time::SystemTime,
) -> Vec<Repaired> {
    let mut out = Vec::new();
    for p in wav_files(dir, since) {
        let text = p.display().to_string();
        if named.contains(&text) || repaired.iter().any(|r| r.path == p) {
            continue;
        }
        let fresh = std::fs::metadata(&p)
            .and_then(|m| m.modified())
            .is_ok_and(|m| m >= since);
        if !fresh {
            continue;
        }
        // A file killed before its header was written is named too (0 ms):
        // every file the recorder made is accounted for.
        let found = (|| -> std::io::Result<Repaired> {
            let mut head = [0u8; 44];
            let whole = File::open(&p)?.read_exact(&mut head).is_ok();
            let duration_ms = match header(&head).filter(|_| whole) {
                Some((frame, rate, data)) => data / frame * 1000 / rate.max(1),
                None => 0,
            };
            let (sha256, bytes) = sync_and_hash(&p)?;
            Ok(Repaired {
                path: p.clone(),
                duration_ms,
                sha256,
                bytes,
            })
        })();
        match found {
            Ok(r) => out.push(r),
            Err(e) => tracing::warn!(path = %p.display(), error = %e, "recording cannot be read"),
        }
    }
    out
}

/// The frame size, rate and data size of the canonical 44-byte header
/// hound writes (None: not one).
fn header(head: &[u8; 44]) -> Option<(u64, u64, u64)> {
    if &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" || &head[36..40] != b"data" {
        return None;
    }
    let channels = u64::from(u16::from_le_bytes([head[22], head[23]]));
    let bits = u64::from(u16::from_le_bytes([head[34], head[35]]));
    let rate = u64::from(u32::from_le_bytes([head[24], head[25], head[26], head[27]]));
    let data = u64::from(u32::from_le_bytes([head[40], head[41], head[42], head[43]]));
    Some(((channels * bits / 8).max(1), rate, data))
}

/// The canonical 44-byte header hound writes: RIFF size at 4, data size at 40.
fn repair_one(p: &Path) -> std::io::Result<Option<Repaired>> {
    let mut f = OpenOptions::new().read(true).write(true).open(p)?;
    let len = f.metadata()?.len();
    let mut head = [0u8; 44];
    if len < 44 || f.read_exact(&mut head).is_err() {
        return Ok(None);
    }
    let Some((frame, rate, data_said)) = header(&head) else {
        return Ok(None);
    };
    let data_has = (len - 44) / frame * frame;
    if data_said >= data_has {
        return Ok(None);
    }
    let data = u32::try_from(data_has).unwrap_or(u32::MAX);
    f.seek(SeekFrom::Start(4))?;
    f.write_all(&(data.saturating_add(36)).to_le_bytes())?;
    f.seek(SeekFrom::Start(40))?;
    f.write_all(&data.to_le_bytes())?;
    f.set_len(44 + u64::from(data))?;
    drop(f);
    let (sha256, bytes) = sync_and_hash(p)?;
    Ok(Some(Repaired {
        path: p.to_path_buf(),
        duration_ms: u64::from(data) / frame * 1000 / rate.max(1),
        sha256,
        bytes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_mid_call_leaves_a_file_that_repair_makes_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d/0001-000001.wav");
        let mut w = create(&path, 8000).unwrap();
        for i in 0..8000 {
            w.write_sample((i % 100) as i16).unwrap();
            w.write_sample(0i16).unwrap();
        }
        w.finalize().unwrap();
        // The crash: 12,000 more frames reached the file after the last
        // header update.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&vec![7u8; 12_000 * 4]).unwrap();
        drop(f);
        let fixed = repair(dir.path());
        assert_eq!(fixed.len(), 1);
        assert_eq!(fixed[0].duration_ms, 2500, "20,000 frames at 8 kHz");
        let r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.duration(), 20_000);
        assert!(repair(dir.path()).is_empty(), "nothing left to fix");
    }

    #[test]
    fn recordings_no_record_names_are_found_even_empty_ones() {
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("d/0001-000003.wav");
        let mut w = create(&whole, 8000).unwrap();
        for _ in 0..4000 {
            w.write_sample(1i16).unwrap();
            w.write_sample(0i16).unwrap();
        }
        w.finalize().unwrap();
        let named = dir.path().join("d/0001-000004.wav");
        std::fs::copy(&whole, &named).unwrap();
        // Killed before the header reached the file.
        let empty = dir.path().join("d/0001-000005.wav");
        File::create(&empty).unwrap();
        let known = std::collections::HashSet::from([named.display().to_string()]);
        let since = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        let mut found = unnamed(dir.path(), &known, &[], since);
        found.sort_by(|a, b| a.path.cmp(&b.path));
        let got: Vec<_> = found
            .iter()
            .map(|r| (&r.path, r.duration_ms, r.bytes))
            .collect();
        assert_eq!(got, [(&whole, 500, 44 + 16_000), (&empty, 0, 0)]);
        assert!(found.iter().all(|r| r.sha256.len() == 64));
        // Older than `since`: left alone.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        assert!(unnamed(dir.path(), &known, &[], later).is_empty());
    }

    #[test]
    fn a_finished_recording_is_reported_with_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = mpsc::channel();
        let (h, t) = spawn(move |e| {
            let _ = tx.send(e);
        })
        .unwrap();
        let path = dir.path().join("x/0001-000002.wav");
        h.send(RecorderMsg::Start {
            session: 7,
            path: path.clone(),
            sample_rate: 8000,
            codec_note: None,
        });
        h.send(RecorderMsg::Audio {
            session: 7,
            frames: vec![[1000, -1000]; 16_000],
        });
        h.send(RecorderMsg::Finish { session: 7 });
        drop(h);
        t.join().unwrap();
        match rx.recv().unwrap() {
            MediaEvent::Recorded {
                session,
                duration_ms,
                sha256,
                bytes,
                ..
            } => {
                assert_eq!((session, duration_ms, bytes), (7, 2000, 44 + 16_000 * 4));
                assert_eq!(sha256, sync_and_hash(&path).unwrap().0);
            }
            other => panic!("{other:?}"),
        }
        // A path that cannot be created: a failure event, not a panic.
        let (tx, rx) = mpsc::channel();
        let (h, t) = spawn(move |e| {
            let _ = tx.send(e);
        })
        .unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        h.send(RecorderMsg::Start {
            session: 8,
            path: blocker.join("sub/y.wav"),
            sample_rate: 8000,
            codec_note: None,
        });
        drop(h);
        t.join().unwrap();
        assert!(matches!(
            rx.recv().unwrap(),
            MediaEvent::RecordingFailed { session: 8, .. }
        ));
    }
}
