//! Reading a journal back: complete lines parsed, a torn last line set
//! aside (never merged), bad lines counted and left, and the next boot
//! number found even in damaged lines.

use super::record::{format_time, now_unix_ms, CaseId, Kind, Record};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Bad lines logged one by one on recovery; the rest only in the summary.
const BAD_LINES_LOGGED: usize = 10;

// ---------------------------------------------------------------- errors

/// Errors of the case log.
#[derive(Debug, thiserror::Error)]
pub enum CaseLogError {
    #[error("case log {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("case log {} is in use by another process", path.display())]
    Locked { path: PathBuf },
    #[error("case log {}: boot numbers are exhausted", path.display())]
    BootsExhausted { path: PathBuf },
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CaseLogError + '_ {
    move |source| CaseLogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

// ---------------------------------------------------------------- recovery

/// What reading a journal found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    /// From [`Journal::open`]: this run's boot number. From [`read_journal`]:
    /// the number the next run would get. Either way, one more than the
    /// highest boot number seen in the file (boot lines and case ids).
    pub boot: u32,
    /// Every good record, in file order, from [`read_journal`].
    /// [`Journal::open`] reads only the end of the file and leaves this
    /// empty: what earlier runs wrote is the store's to serve.
    pub records: Vec<Record>,
    /// Bytes of a torn last line (no `'\n'`): never parsed. [`Journal::open`]
    /// moves them to `<path>.torn`; [`read_journal`] only counts them.
    pub torn_bytes: usize,
    /// Complete lines that did not parse: skipped, left in the file. Blank
    /// lines are skipped without being counted. ([`read_journal`] only.)
    pub bad_lines: usize,
}

/// How much of the end of the file is read at a time by [`tail_scan`].
const TAIL_CHUNK: u64 = 64 * 1024;

/// The end of a journal, read backwards: the torn last line (bytes after
/// the last `'\n'`), where the complete lines end, and the boot number of
/// the last line that names one (the torn tail's too). Reads a few KiB of
/// a journal of any size.
pub(super) fn tail_scan(path: &Path, file: &File) -> Result<Scan, CaseLogError> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata().map_err(io_err(path))?.len();
    // `buf` holds the file's bytes [start, len).
    let mut buf: Vec<u8> = Vec::new();
    let mut start = len;
    let grow = |buf: &mut Vec<u8>, start: &mut u64| -> Result<bool, CaseLogError> {
        if *start == 0 {
            return Ok(false);
        }
        let from = start.saturating_sub(TAIL_CHUNK);
        let mut chunk = vec![0u8; (*start - from) as usize];
        file.read_exact_at(&mut chunk, from).map_err(io_err(path))?;
        chunk.extend_from_slice(buf);
        *buf = chunk;
        *start = from;
        Ok(true)
    };
    // The last newline.
    let complete_len = loop {
        if let Some(i) = buf.iter().rposition(|b| *b == b'\n') {
            break start + i as u64 + 1;
        }
        if !grow(&mut buf, &mut start)? {
            break 0;
        }
    };
    let torn = buf[(complete_len - start) as usize..].to_vec();
    let mut max_boot = boot_hint(&torn);
    // Lines backwards from the last complete one, to the first that names
    // a boot (a case id or a boot line).
    let mut end = (complete_len - start) as usize; // exclusive, at a '\n' + 1
    while end > 0 || start > 0 {
        let upto = end.saturating_sub(1); // drop the '\n'
        if let Some(i) = buf[..upto].iter().rposition(|b| *b == b'\n') {
            let hint = boot_hint(&buf[i + 1..upto]);
            if hint > 0 {
                max_boot = max_boot.max(hint);
                break;
            }
            end = i + 1;
            continue;
        }
        let before = buf.len();
        if !grow(&mut buf, &mut start)? {
            // The first line of the file.
            max_boot = max_boot.max(boot_hint(&buf[..upto]));
            break;
        }
        end += buf.len() - before;
    }
    let mut s = Scan {
        recovery: Recovery {
            torn_bytes: torn.len(),
            ..Recovery::default()
        },
        max_boot,
        complete_len,
        torn,
    };
    s.recovery.boot = s.next_boot().unwrap_or(u32::MAX);
    Ok(s)
}

/// The highest boot number anything in the file mentions (a byte scan, no
/// parsing): for a journal without its `.boot` file.
pub(super) fn hint_scan(path: &Path, file: &File) -> Result<u32, CaseLogError> {
    use std::io::Seek;
    let mut f = file;
    f.seek(std::io::SeekFrom::Start(0)).map_err(io_err(path))?;
    let mut reader = BufReader::with_capacity(1 << 20, f);
    let mut buf = Vec::new();
    let mut best = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io_err(path))? == 0 {
            return Ok(best);
        }
        best = best.max(boot_hint(&buf));
    }
}

pub(super) struct Scan {
    pub(super) recovery: Recovery,
    /// Highest boot number seen anywhere, torn tail and bad lines included.
    pub(super) max_boot: u32,
    /// Length of the file up to the end of its last complete line.
    pub(super) complete_len: u64,
    pub(super) torn: Vec<u8>,
}

impl Scan {
    pub(super) fn next_boot(&self) -> Option<u32> {
        self.max_boot.checked_add(1)
    }
}

pub(super) fn scan(path: &Path, file: &File) -> Result<Scan, CaseLogError> {
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut s = Scan {
        recovery: Recovery::default(),
        max_boot: 0,
        complete_len: 0,
        torn: Vec::new(),
    };
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') {
            // A torn write: never parsed, never merged.
            s.max_boot = s.max_boot.max(boot_hint(&buf));
            s.recovery.torn_bytes = buf.len();
            s.torn = std::mem::take(&mut buf);
            break;
        }
        line_no += 1;
        let offset = s.complete_len;
        s.complete_len += n as u64;
        let line = &buf[..buf.len() - 1];
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => {
                if let Kind::Boot { boot } = r.kind {
                    s.max_boot = s.max_boot.max(boot);
                }
                if let Some(b) = r.case.as_ref().and_then(CaseId::boot) {
                    s.max_boot = s.max_boot.max(b);
                }
                s.recovery.records.push(r);
            }
            Err(e) => {
                s.recovery.bad_lines += 1;
                s.max_boot = s.max_boot.max(boot_hint(line));
                if s.recovery.bad_lines <= BAD_LINES_LOGGED {
                    tracing::warn!(
                        path = %path.display(), line = line_no, offset, error = %e,
                        "case log: a line that does not parse was skipped"
                    );
                }
            }
        }
    }
    s.recovery.boot = s.next_boot().unwrap_or(u32::MAX);
    Ok(s)
}

/// The highest boot number a damaged line seems to mention (`"boot":N` or
/// `"case":"N-`), so a corrupt boot line cannot make ids repeat.
pub(super) fn boot_hint(line: &[u8]) -> u32 {
    fn digits(s: &[u8]) -> (u32, usize) {
        let len = s.iter().take_while(|b| b.is_ascii_digit()).count();
        let v = std::str::from_utf8(&s[..len])
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        (v, len)
    }
    let mut best = 0;
    for (key, needs_dash) in [(&b"\"boot\":"[..], false), (&b"\"case\":\""[..], true)] {
        let mut rest = line;
        while let Some(at) = rest.windows(key.len()).position(|w| w == key) {
            rest = &rest[at + key.len()..];
            let skip = rest.iter().take_while(|b| **b == b' ').count();
            let (v, len) = digits(&rest[skip..]);
            if len > 0 && (!needs_dash || rest.get(skip + len) == Some(&b'-')) {
                best = best.max(v);
            }
        }
    }
    best
}

/// Reads the journal at `path` without changing it (a missing file reads as
/// empty). A torn last line is counted, never parsed.
pub fn read_journal(path: &Path) -> Result<Recovery, CaseLogError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Recovery {
                boot: 1,
                ..Recovery::default()
            })
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    Ok(scan(path, &file)?.recovery)
}

pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

pub(super) fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "case log: cannot sync the directory");
    }
}

/// Appends the torn bytes to `<path>.torn` (with a header line), synced.
pub(super) fn set_aside(path: &Path, offset: u64, torn: &[u8]) -> Result<(), CaseLogError> {
    let side = sibling(path, ".torn");
    let mut out = Vec::with_capacity(torn.len() + 128);
    out.extend_from_slice(
        format!(
            "# {} torn tail of {}: {} bytes at offset {}\n",
            format_time(now_unix_ms()),
            path.display(),
            torn.len(),
            offset
        )
        .as_bytes(),
    );
    out.extend_from_slice(torn);
    out.push(b'\n');
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&side)
        .map_err(io_err(&side))?;
    f.write_all(&out).map_err(io_err(&side))?;
    f.sync_all().map_err(io_err(&side))?;
    sync_dir(&side);
    Ok(())
}
