//! The case log: the centre's legal record.
//!
//! An append-only JSON Lines journal, one [`Record`] per line:
//!
//! ```text
//! {"time":"2026-11-22T10:00:00.123Z","case":"0001-000001","event":"opened","caller":"+62811","called":"112","service":"sos","trunk":"telco-a"}
//! ```
//!
//! - Writes go through one dedicated writer thread (std, no tokio) fed by an
//!   unbounded channel: [`JournalHandle::append`] never blocks the SIP path.
//!   The writer group-commits: one `write` and one `fdatasync` per batch, at
//!   most one `fdatasync` per commit window. [`JournalHandle::durable`] counts
//!   the appended records that are written and synced.
//! - On start ([`Journal::open`]) the file is recovered: complete lines that
//!   do not parse are counted and skipped (left in place); a last line without
//!   its `'\n'` is a torn write, never parsed or merged: its bytes are copied
//!   to `<path>.torn` and the journal is cut back to the last complete line.
//!   Then a `boot` line numbering this run is appended and synced, so case ids
//!   (`BOOT-SEQ`, see [`CaseIds`]) never repeat across restarts.
//! - [`read_journal`] reads without changing anything; [`fold`] turns records
//!   into one [`Case`] per case id.

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Most records the writer takes off the channel for one batch.
const BATCH_MAX: usize = 4096;
/// Pause after a failed write or sync before trying again.
const RETRY_AFTER: Duration = Duration::from_millis(100);
/// Once closing (or every handle is gone), how long the writer keeps retrying
/// a failing disk before it gives up and counts what is left as lost.
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);
/// Bad lines logged one by one on recovery; the rest only in the summary.
const BAD_LINES_LOGGED: usize = 10;

// ---------------------------------------------------------------- case ids

/// A case id, `BOOT-SEQ` (`0007-000123`). Serialized as a plain string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(pub String);

impl CaseId {
    /// The id of case `seq` of boot `boot`: `{boot:04}-{seq:06}`.
    pub fn new(boot: u32, seq: u64) -> CaseId {
        CaseId(format!("{boot:04}-{seq:06}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The boot number in front of the `-`, if the id has that shape.
    pub fn boot(&self) -> Option<u32> {
        let (boot, _) = self.0.split_once('-')?;
        if boot.is_empty() || !boot.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        boot.parse().ok()
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// Hands out the case ids of one run: the boot number recovered by
/// [`Journal::open`], and a sequence starting at 1.
#[derive(Debug, Clone)]
pub struct CaseIds {
    boot: u32,
    seq: u64,
}

impl CaseIds {
    pub fn new(boot: u32) -> CaseIds {
        CaseIds { boot, seq: 0 }
    }

    pub fn boot(&self) -> u32 {
        self.boot
    }

    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> CaseId {
        self.seq += 1;
        CaseId::new(self.boot, self.seq)
    }
}

// ---------------------------------------------------------------- records

/// Why a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Completed,
    Abandoned,
    Overflowed,
    Failed,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Completed => "completed",
            EndReason::Abandoned => "abandoned",
            EndReason::Overflowed => "overflowed",
            EndReason::Failed => "failed",
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What happened. Serialized flat into the line, tagged by `"event"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A run started (written by [`Journal::open`]; no case).
    Boot {
        boot: u32,
    },
    Opened {
        caller: String,
        called: String,
        service: String,
        /// The trunk or edge proxy it came through ("" for a seat's call).
        trunk: String,
        /// The seat that placed the call (an operator's test or real call),
        /// authenticated by its credentials.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_seat: Option<String>,
    },
    Queued {
        queue: String,
        priority: i32,
    },
    Offered {
        seat: String,
    },
    Answered {
        seat: String,
    },
    Overflowed {
        target: String,
    },
    Ended {
        reason: EndReason,
        wait_ms: u64,
        talk_ms: u64,
        seat: Option<String>,
        queue: Option<String>,
    },
    /// A seat marks a case ("prank", "silent", ...).
    Outcome {
        mark: String,
    },
    /// A seat's state changed (no case).
    Seat {
        seat: String,
        state: String,
        reason: Option<String>,
    },
    /// An event kind this version does not know (written by a newer one).
    /// Read only: its fields are dropped; never append it.
    #[serde(other)]
    Unknown,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Unix milliseconds; on disk the string `"time"`, RFC 3339 UTC with
    /// milliseconds (`2026-11-22T10:00:00.123Z`).
    #[serde(rename = "time", with = "time_ms")]
    pub time_ms: u64,
    /// None for boot and seat events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<CaseId>,
    #[serde(flatten)]
    pub event: Event,
}

impl Record {
    /// A record stamped with the wall clock now.
    pub fn now(case: Option<CaseId>, event: Event) -> Record {
        Record {
            time_ms: now_unix_ms(),
            case,
            event,
        }
    }

    /// The journal line, without its newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses one journal line (without its newline).
    pub fn from_line(s: &str) -> Option<Record> {
        serde_json::from_str(s).ok()
    }
}

/// The latest instant the line format can hold: 9999-12-31T23:59:59.999Z.
const MAX_TIME_MS: u64 = 253_402_300_799_999;

const TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// Unix milliseconds as RFC 3339 UTC with milliseconds. Times past the year
/// 9999 are clamped to its last millisecond.
pub fn format_time(ms: u64) -> String {
    let ns = i128::from(ms.min(MAX_TIME_MS)) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(ns)
        .ok()
        .and_then(|t| t.format(TIME_FORMAT).ok())
        .unwrap_or_default()
}

/// Parses the journal's time format, or any RFC 3339 time (another offset,
/// other sub-second digits), to Unix milliseconds. None before 1970.
pub fn parse_time(s: &str) -> Option<u64> {
    let t = match time::PrimitiveDateTime::parse(s, TIME_FORMAT) {
        Ok(t) => t.assume_utc(),
        Err(_) => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?
        }
    };
    u64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

mod time_ms {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_time(&s).ok_or_else(|| D::Error::custom(format!("bad time {s:?}")))
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CaseLogError + '_ {
    move |source| CaseLogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

// ---------------------------------------------------------------- recovery

/// What reading a journal found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// From [`Journal::open`]: this run's boot number. From [`read_journal`]:
    /// the number the next run would get. Either way, one more than the
    /// highest boot number seen in the file (boot lines and case ids).
    pub boot: u32,
    /// Every good record, in file order. From [`Journal::open`]: what was in
    /// the file before this run; this run's boot line is NOT included.
    pub records: Vec<Record>,
    /// Bytes of a torn last line (no `'\n'`): never parsed. [`Journal::open`]
    /// moves them to `<path>.torn`; [`read_journal`] only counts them.
    pub torn_bytes: usize,
    /// Complete lines that did not parse: skipped, left in the file. Blank
    /// lines are skipped without being counted.
    pub bad_lines: usize,
}

struct Scan {
    recovery: Recovery,
    /// Highest boot number seen anywhere, torn tail and bad lines included.
    max_boot: u32,
    /// Length of the file up to the end of its last complete line.
    complete_len: u64,
    torn: Vec<u8>,
}

impl Scan {
    fn next_boot(&self) -> Option<u32> {
        self.max_boot.checked_add(1)
    }
}

fn scan(path: &Path, file: &File) -> Result<Scan, CaseLogError> {
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
                if let Event::Boot { boot } = r.event {
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
fn boot_hint(line: &[u8]) -> u32 {
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

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "case log: cannot sync the directory");
    }
}

/// Appends the torn bytes to `<path>.torn` (with a header line), synced.
fn set_aside(path: &Path, offset: u64, torn: &[u8]) -> Result<(), CaseLogError> {
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

// ---------------------------------------------------------------- journal

/// The durable case journal. See [`Journal::open`].
pub struct Journal;

impl Journal {
    /// Opens (creating it and its directories if needed) and recovers the
    /// journal at `path`: a torn last line is moved to `<path>.torn` and cut
    /// off, bad lines are counted and left. Then this run's `boot` line is
    /// written and synced before returning, and the writer thread starts.
    ///
    /// The file is locked while the writer runs: a second open of the same
    /// journal fails with [`CaseLogError::Locked`] until the first handle is
    /// closed. `commit_window` is the least time between two syncs (zero:
    /// sync every batch as soon as it is written).
    pub fn open(
        path: &Path,
        commit_window: Duration,
    ) -> Result<(JournalHandle, Recovery), CaseLogError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(path))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io_err(path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(CaseLogError::Locked {
                    path: path.to_path_buf(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "case log: cannot lock the journal; going on unlocked");
            }
        }
        let mut scan = scan(path, &file)?;
        if !scan.torn.is_empty() {
            set_aside(path, scan.complete_len, &scan.torn)?;
            file.set_len(scan.complete_len).map_err(io_err(path))?;
            file.sync_all().map_err(io_err(path))?;
            tracing::warn!(
                path = %path.display(), bytes = scan.torn.len(), offset = scan.complete_len,
                "case log: a torn last line was set aside in .torn"
            );
            scan.torn = Vec::new();
        }
        if scan.recovery.bad_lines > 0 {
            tracing::warn!(
                path = %path.display(), lines = scan.recovery.bad_lines,
                "case log: lines that do not parse were skipped (left in the file)"
            );
        }
        let boot = scan
            .next_boot()
            .ok_or_else(|| CaseLogError::BootsExhausted {
                path: path.to_path_buf(),
            })?;
        let mut line = Record::now(None, Event::Boot { boot })
            .to_line()
            .into_bytes();
        line.push(b'\n');
        file.write_all(&line).map_err(io_err(path))?;
        file.sync_all().map_err(io_err(path))?;
        sync_dir(path);

        let hist = hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
            .map_err(|e| io_err(path)(std::io::Error::other(e.to_string())))?;
        let shared = Arc::new(Shared {
            durable: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            lost_log: RateLimit::new(),
            stats: Mutex::new(Stats {
                batches: 0,
                records: 0,
                hist,
            }),
            thread: Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel();
        let writer = Writer::new(
            path.to_path_buf(),
            file,
            scan.complete_len + line.len() as u64,
            rx,
            commit_window,
            shared.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("caselog".into())
            .spawn(move || writer.run())
            .map_err(io_err(path))?;
        *shared.thread.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread);
        scan.recovery.boot = boot;
        Ok((JournalHandle { tx, shared }, scan.recovery))
    }
}

/// Commit figures (write + sync of each batch), for the shutdown summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    pub batches: u64,
    pub records: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

struct Stats {
    batches: u64,
    records: u64,
    hist: hdrhistogram::Histogram<u64>,
}

struct Shared {
    durable: AtomicU64,
    lost: AtomicU64,
    lost_log: RateLimit,
    stats: Mutex<Stats>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

enum Msg {
    Record(Record),
    Close(mpsc::Sender<()>),
}

/// Appends records to the journal from any thread, never blocking.
#[derive(Clone)]
pub struct JournalHandle {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
}

impl fmt::Debug for JournalHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JournalHandle")
            .field("durable", &self.durable())
            .field("lost", &self.lost())
            .finish()
    }
}

impl JournalHandle {
    /// Queues a record for the writer. Never blocks, never panics: if the
    /// writer is gone the record is counted in [`JournalHandle::lost`] and
    /// logged (at most one line a second).
    pub fn append(&self, rec: Record) {
        if let Err(mpsc::SendError(msg)) = self.tx.send(Msg::Record(rec)) {
            let lost = self.shared.lost.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(suppressed) = self.shared.lost_log.check() {
                let case = match &msg {
                    Msg::Record(r) => r.case.as_ref().map_or("-", CaseId::as_str),
                    Msg::Close(_) => "-",
                };
                tracing::error!(
                    lost,
                    suppressed,
                    case,
                    "case log writer is gone: record lost"
                );
            }
        }
    }

    /// Appended records written and synced so far (the boot line not counted).
    pub fn durable(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// Records that will never be written: appended after the writer stopped,
    /// or given up on after the disk kept failing at shutdown.
    pub fn lost(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }

    pub fn commit_stats(&self) -> CommitStats {
        let s = self
            .shared
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        CommitStats {
            batches: s.batches,
            records: s.records,
            p50_us: s.hist.value_at_quantile(0.5),
            p99_us: s.hist.value_at_quantile(0.99),
            max_us: s.hist.max(),
        }
    }

    /// Writes and syncs everything appended before this call, then stops the
    /// writer and waits for it to exit (releasing the file lock). If the disk
    /// keeps failing, the writer gives up after 10 s and counts the rest as
    /// lost. Appends after this are lost. Closing twice is harmless.
    pub fn close(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tx.send(Msg::Close(done_tx)).is_ok() {
            // Err only if the writer is already gone.
            let _ = done_rx.recv();
        }
        let thread = self
            .shared
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = thread {
            if t.join().is_err() {
                tracing::error!("case log writer thread panicked");
            }
        }
    }
}

/// At most one log line a second, counting what it held back.
struct RateLimit {
    epoch: Instant,
    /// Milliseconds since `epoch` + 1 of the last line; 0 = never.
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimit {
    fn new() -> RateLimit {
        RateLimit {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(lines held back since the last one)` if a line may go out now.
    fn check(&self) -> Option<u64> {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
        let last = self.last_ms.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= 1000)
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

// ---------------------------------------------------------------- writer

struct Writer {
    path: PathBuf,
    file: File,
    /// File length after the last successful commit, if known.
    good_len: Option<u64>,
    rx: mpsc::Receiver<Msg>,
    window: Duration,
    shared: Arc<Shared>,
    /// Serialized lines not yet durable, and how many records they hold.
    pending: Vec<u8>,
    pending_count: u64,
    pending_last_case: Option<CaseId>,
    /// Last case id made durable, for the commit log line.
    last_case: Option<CaseId>,
    errors: RateLimit,
    failing_since: Option<Instant>,
    stopping: bool,
    disconnected: bool,
    closers: Vec<mpsc::Sender<()>>,
}

impl Writer {
    fn new(
        path: PathBuf,
        file: File,
        len: u64,
        rx: mpsc::Receiver<Msg>,
        window: Duration,
        shared: Arc<Shared>,
    ) -> Writer {
        Writer {
            path,
            file,
            good_len: Some(len),
            rx,
            window,
            shared,
            pending: Vec::with_capacity(1 << 16),
            pending_count: 0,
            pending_last_case: None,
            last_case: None,
            errors: RateLimit::new(),
            failing_since: None,
            stopping: false,
            disconnected: false,
            closers: Vec::new(),
        }
    }

    fn run(mut self) {
        loop {
            let drained = self.gather();
            let synced_at = if self.pending_count > 0 {
                self.commit()
            } else {
                None
            };
            let ending = self.stopping || self.disconnected;
            if ending && drained && self.pending_count == 0 {
                break;
            }
            if self.pending_count > 0 && synced_at.is_none() {
                // The commit failed: the records stay pending.
                if ending
                    && self
                        .failing_since
                        .is_some_and(|t| t.elapsed() >= GIVE_UP_AFTER)
                {
                    self.give_up();
                    break;
                }
                std::thread::sleep(RETRY_AFTER.max(self.window));
                continue;
            }
            if let Some(at) = synced_at.filter(|_| !ending) {
                let spent = at.elapsed();
                if spent < self.window {
                    std::thread::sleep(self.window - spent);
                }
            }
        }
        for c in self.closers.drain(..) {
            let _ = c.send(());
        }
    }

    /// Takes what is queued: blocks for the first message if nothing is
    /// pending, then up to a batch without blocking. True if the channel was
    /// found empty (or closed) before the batch filled up.
    fn gather(&mut self) -> bool {
        let mut taken = 0;
        if self.pending_count == 0 && !self.stopping && !self.disconnected {
            match self.rx.recv() {
                Ok(m) => {
                    self.take(m);
                    taken += 1;
                }
                Err(_) => {
                    self.disconnected = true;
                    return true;
                }
            }
        }
        while taken < BATCH_MAX {
            match self.rx.try_recv() {
                Ok(m) => {
                    self.take(m);
                    taken += 1;
                }
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.disconnected = true;
                    return true;
                }
            }
        }
        false
    }

    fn take(&mut self, msg: Msg) {
        match msg {
            Msg::Record(r) => {
                let start = self.pending.len();
                match serde_json::to_writer(&mut self.pending, &r) {
                    Ok(()) => {
                        self.pending.push(b'\n');
                        self.pending_count += 1;
                        if r.case.is_some() {
                            self.pending_last_case = r.case;
                        }
                    }
                    Err(e) => {
                        self.pending.truncate(start);
                        self.shared.lost.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %e, case = ?r.case, "case log: record cannot be serialized: lost");
                    }
                }
            }
            Msg::Close(done) => {
                self.stopping = true;
                self.closers.push(done);
            }
        }
    }

    /// One write and one sync of everything pending. Returns when the sync
    /// began, or None if the commit failed (the records stay pending).
    fn commit(&mut self) -> Option<Instant> {
        let started = Instant::now();
        let mut synced_at = None;
        let result = self.file.write_all(&self.pending).and_then(|()| {
            synced_at = Some(Instant::now());
            self.file.sync_data()
        });
        match result {
            Ok(()) => {
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                let written = self.pending.len() as u64;
                self.good_len = match self.good_len {
                    Some(len) => Some(len + written),
                    None => self.file.metadata().ok().map(|m| m.len()),
                };
                let n = self.pending_count;
                let total = self.shared.durable.fetch_add(n, Ordering::AcqRel) + n;
                if let Some(c) = self.pending_last_case.take() {
                    self.last_case = Some(c);
                }
                {
                    let mut s = self
                        .shared
                        .stats
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    s.batches += 1;
                    s.records += n;
                    s.hist.saturating_record(us.max(1));
                }
                tracing::debug!(
                    target: "siaga112::caselog",
                    durable = total,
                    last_case = %self.last_case.as_ref().map_or("-", CaseId::as_str),
                    "committed"
                );
                self.pending.clear();
                self.pending_count = 0;
                self.failing_since = None;
                synced_at.or(Some(started))
            }
            Err(e) => {
                self.failing_since.get_or_insert(started);
                if let Some(suppressed) = self.errors.check() {
                    tracing::error!(
                        path = %self.path.display(), error = %e, waiting = self.pending_count,
                        suppressed, "case log write failed; the records are kept and retried"
                    );
                }
                self.undo_partial_write();
                None
            }
        }
    }

    /// After a failed commit, cuts whatever part of the batch reached the
    /// file, so the retry neither duplicates lines nor glues its first line
    /// to a fragment. If the cut is impossible, the retry starts with a
    /// newline: the fragment becomes a bad line of its own.
    fn undo_partial_write(&mut self) {
        if let Some(len) = self.good_len {
            if self.file.set_len(len).is_ok() {
                return;
            }
            self.good_len = None;
        }
        if self.pending.first() != Some(&b'\n') {
            self.pending.insert(0, b'\n');
        }
    }

    fn give_up(&mut self) {
        let n = self.pending_count;
        self.shared.lost.fetch_add(n, Ordering::Relaxed);
        tracing::error!(
            path = %self.path.display(), lost = n,
            "case log: the disk kept failing at shutdown; records lost"
        );
        self.pending.clear();
        self.pending_count = 0;
    }
}

// ---------------------------------------------------------------- folding

/// One case, folded from its events. Times are in the journal's format.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub opened: Option<String>,
    pub caller: String,
    pub called: String,
    pub service: String,
    pub trunk: String,
    /// The seat that placed the call, if a seat did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_seat: Option<String>,
    /// The last queue (the one it ended in, if the end says).
    pub queue: Option<String>,
    pub priority: i32,
    /// Times the case was offered to a seat.
    pub offers: u32,
    /// The seat that answered, else the last one offered.
    pub seat: Option<String>,
    pub answered: Option<String>,
    pub overflowed_to: Option<String>,
    pub ended: Option<String>,
    /// None while the case is open.
    pub reason: Option<EndReason>,
    pub wait_ms: u64,
    pub talk_ms: u64,
    /// Outcome marks, in order ("prank", "silent", ...).
    pub marks: Vec<String>,
}

/// Folds records into one [`Case`] per case id, in the order the cases first
/// appear in the journal (opened), newest last. Records without a case (boot,
/// seat) are ignored; events of a case never opened still make a row.
pub fn fold(records: impl IntoIterator<Item = Record>) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    let mut index: HashMap<CaseId, usize> = HashMap::new();
    for r in records {
        let Some(id) = r.case else { continue };
        let i = match index.get(&id) {
            Some(&i) => i,
            None => {
                cases.push(Case {
                    id: id.0.clone(),
                    ..Case::default()
                });
                index.insert(id, cases.len() - 1);
                cases.len() - 1
            }
        };
        let c = &mut cases[i];
        match r.event {
            Event::Opened {
                caller,
                called,
                service,
                trunk,
                from_seat,
            } => {
                c.opened = Some(format_time(r.time_ms));
                (c.caller, c.called, c.service, c.trunk) = (caller, called, service, trunk);
                c.from_seat = from_seat;
            }
            Event::Queued { queue, priority } => {
                c.queue = Some(queue);
                c.priority = priority;
            }
            Event::Offered { seat } => {
                c.offers += 1;
                if c.answered.is_none() {
                    c.seat = Some(seat);
                }
            }
            Event::Answered { seat } => {
                c.answered = Some(format_time(r.time_ms));
                c.seat = Some(seat);
            }
            Event::Overflowed { target } => c.overflowed_to = Some(target),
            Event::Ended {
                reason,
                wait_ms,
                talk_ms,
                seat,
                queue,
            } => {
                c.ended = Some(format_time(r.time_ms));
                c.reason = Some(reason);
                (c.wait_ms, c.talk_ms) = (wait_ms, talk_ms);
                if c.seat.is_none() {
                    c.seat = seat;
                }
                if queue.is_some() {
                    c.queue = queue;
                }
            }
            Event::Outcome { mark } => c.marks.push(mark),
            Event::Boot { .. } | Event::Seat { .. } | Event::Unknown => {}
        }
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: u64 = 1_795_341_600_123; // 2026-11-22T10:00:00.123Z

    fn rec(ms: u64, case: Option<&str>, event: Event) -> Record {
        Record {
            time_ms: ms,
            case: case.map(|c| CaseId(c.to_string())),
            event,
        }
    }

    fn opened(ms: u64, id: &str) -> Record {
        rec(
            ms,
            Some(id),
            Event::Opened {
                caller: "sip:+62811@telco".into(),
                called: "112".into(),
                service: "sos".into(),
                trunk: "telco-a".into(),
                from_seat: None,
            },
        )
    }

    fn lifecycle(id: &str) -> Vec<Record> {
        vec![
            opened(T0, id),
            rec(
                T0 + 1,
                Some(id),
                Event::Queued {
                    queue: "emergency".into(),
                    priority: 2,
                },
            ),
            rec(T0 + 2, Some(id), Event::Offered { seat: "op1".into() }),
            rec(T0 + 2_002, Some(id), Event::Offered { seat: "op2".into() }),
            rec(T0 + 2_500, Some(id), Event::Answered { seat: "op2".into() }),
            rec(
                T0 + 8_500,
                Some(id),
                Event::Ended {
                    reason: EndReason::Completed,
                    wait_ms: 2_500,
                    talk_ms: 6_000,
                    seat: Some("op2".into()),
                    queue: Some("emergency".into()),
                },
            ),
        ]
    }

    fn lines(recs: &[Record]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in recs {
            out.extend_from_slice(r.to_line().as_bytes());
            out.push(b'\n');
        }
        out
    }

    #[test]
    fn the_line_format_is_pinned() {
        let r = rec(
            T0,
            Some("0001-000001"),
            Event::Opened {
                caller: "+62811".into(),
                called: "112".into(),
                service: "sos".into(),
                trunk: "telco-a".into(),
                from_seat: None,
            },
        );
        let line = r#"{"time":"2026-11-22T10:00:00.123Z","case":"0001-000001","event":"opened","caller":"+62811","called":"112","service":"sos","trunk":"telco-a"}"#;
        assert_eq!(r.to_line(), line);
        assert_eq!(Record::from_line(line), Some(r));
        assert_eq!(
            rec(T0, None, Event::Boot { boot: 7 }).to_line(),
            r#"{"time":"2026-11-22T10:00:00.123Z","event":"boot","boot":7}"#
        );
        let ended = rec(
            T0,
            Some("0001-000001"),
            Event::Ended {
                reason: EndReason::Abandoned,
                wait_ms: 5,
                talk_ms: 0,
                seat: None,
                queue: Some("q".into()),
            },
        );
        assert_eq!(
            ended.to_line(),
            r#"{"time":"2026-11-22T10:00:00.123Z","case":"0001-000001","event":"ended","reason":"abandoned","wait_ms":5,"talk_ms":0,"seat":null,"queue":"q"}"#
        );
    }

    #[test]
    fn every_event_round_trips_and_reading_is_forward_compatible() {
        let mut all = lifecycle("0001-000001");
        all.push(rec(T0, None, Event::Boot { boot: 3 }));
        all.push(rec(
            T0,
            Some("x"),
            Event::Overflowed {
                target: "pst".into(),
            },
        ));
        all.push(rec(
            T0,
            Some("x"),
            Event::Outcome {
                mark: "prank".into(),
            },
        ));
        all.push(rec(
            T0,
            None,
            Event::Seat {
                seat: "op1".into(),
                state: "paused".into(),
                reason: Some("break \"lunch\"\n".into()),
            },
        ));
        for r in &all {
            assert_eq!(Record::from_line(&r.to_line()).as_ref(), Some(r));
        }
        // A newer writer: unknown fields, an unknown event, another offset.
        let newer = r#"{"time":"2026-11-22T10:00:00.123Z","case":"0001-000001","event":"offered","seat":"op1","extra":{"a":1}}"#;
        assert_eq!(
            Record::from_line(newer),
            Some(rec(
                T0,
                Some("0001-000001"),
                Event::Offered { seat: "op1".into() }
            ))
        );
        let unknown = r#"{"time":"2026-11-22T10:00:00.123Z","case":"0001-000001","event":"transferred","to":"x"}"#;
        assert_eq!(
            Record::from_line(unknown).map(|r| r.event),
            Some(Event::Unknown)
        );
        let offset = r#"{"time":"2026-11-22T17:00:00.123456+07:00","event":"boot","boot":1}"#;
        assert_eq!(Record::from_line(offset).map(|r| r.time_ms), Some(T0));
        // Missing optional fields read as None.
        let terse =
            r#"{"time":"2026-11-22T10:00:00.123Z","event":"seat","seat":"op1","state":"ready"}"#;
        assert!(Record::from_line(terse).is_some());
        for bad in [
            r#"{"time":"yesterday","event":"boot","boot":1}"#,
            r#"{"time":"1969-12-31T23:59:59.999Z","event":"boot","boot":1}"#,
            r#"{"case":"x","event":"boot","boot":1}"#,
            r#"{"time":"2026-11-22T10:00:00.123Z","event":"queued","queue":"q"}"#,
        ] {
            assert_eq!(Record::from_line(bad), None, "{bad}");
        }
        assert_eq!(format_time(u64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn case_ids_have_the_boot_and_a_sequence() {
        let mut ids = CaseIds::new(7);
        assert_eq!(ids.next().to_string(), "0007-000001");
        let id = ids.next();
        assert_eq!(id.as_str(), "0007-000002");
        assert_eq!(id.boot(), Some(7));
        assert_eq!(format!("[{id:<12}]"), "[0007-000002 ]");
        assert_eq!(
            serde_json::to_string(&id).ok().as_deref(),
            Some("\"0007-000002\"")
        );
        assert_eq!(CaseId("ghost".into()).boot(), None);
        assert_eq!(CaseId("-1".into()).boot(), None);
    }

    #[test]
    fn round_trip_and_boots_increment_and_ids_never_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("var/sub/cases.jsonl");
        let mut seen = std::collections::HashSet::new();
        let mut written = Vec::new();
        for boot in 1..=3u32 {
            let (h, rec) = Journal::open(&path, Duration::from_millis(1)).unwrap();
            assert_eq!(rec.boot, boot);
            assert_eq!(rec.records, written, "open returns what earlier runs wrote");
            let mut ids = CaseIds::new(rec.boot);
            let boot_line = read_journal(&path).unwrap().records.pop().unwrap();
            assert_eq!(boot_line.event, Event::Boot { boot });
            assert_eq!(boot_line.case, None);
            written.push(boot_line);
            for _ in 0..5 {
                let id = ids.next();
                assert!(seen.insert(id.clone()), "{id} repeated");
                for r in lifecycle(id.as_str()) {
                    h.append(r.clone());
                    written.push(r);
                }
            }
            h.close();
            assert_eq!(h.durable(), 30);
            assert_eq!(h.lost(), 0);
            h.close(); // twice is harmless
        }
        let back = read_journal(&path).unwrap();
        assert_eq!(back.boot, 4);
        assert_eq!((back.bad_lines, back.torn_bytes), (0, 0));
        assert_eq!(back.records, written);
        let boots: Vec<_> = back
            .records
            .iter()
            .filter_map(|r| match r.event {
                Event::Boot { boot } => Some(boot),
                _ => None,
            })
            .collect();
        assert_eq!(boots, [1, 2, 3]);
        let cases = fold(back.records);
        assert_eq!(cases.len(), 15);
        assert_eq!(cases[0].id, "0001-000001");
        assert_eq!(cases[14].id, "0003-000005");
    }

    #[test]
    fn a_torn_tail_is_set_aside_never_merged() {
        let good = lifecycle("0001-000001");
        let valid_json = br#"{"time":"2026-11-22T10:00:09.000Z","case":"0001-000009","event":"offered","seat":"op1"}"#;
        let invalid_json = br#"{"time":"2026-11-22T10:00:09.000Z","case":"0001-0000"#;
        for torn in [&valid_json[..], &invalid_json[..]] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("cases.jsonl");
            let mut data = lines(&good);
            let complete = data.len();
            data.extend_from_slice(torn);
            std::fs::write(&path, &data).unwrap();

            let seen = read_journal(&path).unwrap();
            assert_eq!((seen.torn_bytes, seen.records.len()), (torn.len(), 6));
            assert_eq!(
                std::fs::read(&path).unwrap(),
                data,
                "read_journal changes nothing"
            );

            let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
            assert_eq!(rec.torn_bytes, torn.len());
            assert_eq!(rec.bad_lines, 0);
            assert_eq!(rec.records, good, "the torn line is not parsed");
            let side = std::fs::read(sibling(&path, ".torn")).unwrap();
            assert!(side.starts_with(b"# "), "a header line says when");
            assert!(
                side.windows(torn.len()).any(|w| w == torn),
                "torn bytes kept"
            );
            let after = std::fs::read(&path).unwrap();
            assert_eq!(&after[..complete], &data[..complete]);
            assert!(
                after[complete..].starts_with(br#"{"time""#),
                "boot on a fresh line"
            );

            let next = opened(T0 + 20_000, "0002-000001");
            h.append(next.clone());
            h.close();
            let back = read_journal(&path).unwrap();
            assert_eq!((back.torn_bytes, back.bad_lines), (0, 0));
            assert_eq!(
                back.records.len(),
                6 + 1 + 1,
                "the 6, the boot, the new one"
            );
            assert_eq!(back.records.last(), Some(&next));
            assert!(!back
                .records
                .iter()
                .any(|r| r.case.as_ref().is_some_and(|c| c.0 == "0001-000009")));
        }
    }

    #[test]
    fn a_bad_line_in_the_middle_is_counted_skipped_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.jsonl");
        let l = lifecycle("0001-000001");
        let text = format!(
            "{}\nnot json\n\n{}\n\u{0}\u{0}\n{}\n",
            l[0].to_line(),
            l[1].to_line(),
            l[2].to_line()
        );
        std::fs::write(&path, &text).unwrap();
        let rec = read_journal(&path).unwrap();
        assert_eq!(rec.bad_lines, 2, "blank lines are not counted");
        assert_eq!(rec.records, l[..3]);
        let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
        h.close();
        assert_eq!((rec.bad_lines, rec.torn_bytes), (2, 0));
        assert_eq!(rec.records, l[..3]);
        let after = std::fs::read_to_string(&path).unwrap();
        assert!(after.starts_with(&text), "bad lines are left in place");
    }

    #[test]
    fn a_damaged_boot_line_cannot_make_ids_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.jsonl");
        // Boot 5's line is damaged; so is a case line of boot 6; and a torn
        // tail mentions boot 8. The next boot must be past all of them.
        let text = concat!(
            "{\"time\":\"2026-11-22T10:00:00.123Z\",\"event\":\"boot\",\"boot\":4}\n",
            "{\"time\":\"2026-11-22T10:00:00.1\u{1}\",\"event\":\"boot\",\"boot\": 5}\n",
            "{\"time\":\"bad\",\"case\":\"0006-000001\",\"event\":\"offered\",\"seat\":\"a\"}\n",
            "{\"time\":\"2026-11-22T10:00:00.123Z\",\"case\":\"0008-0000",
        );
        std::fs::write(&path, text).unwrap();
        assert_eq!(read_journal(&path).unwrap().boot, 9);
        let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
        h.close();
        assert_eq!((rec.boot, rec.bad_lines, rec.records.len()), (9, 2, 1));
        let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
        h.close();
        assert_eq!(rec.boot, 10);
        assert_eq!(boot_hint(br#""boot":12,"case":"0042-1","case":"77x""#), 42);
    }

    #[test]
    fn a_journal_in_use_cannot_be_opened_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.jsonl");
        let (h, _) = Journal::open(&path, Duration::ZERO).unwrap();
        assert!(matches!(
            Journal::open(&path, Duration::ZERO),
            Err(CaseLogError::Locked { .. })
        ));
        h.close();
        let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
        h.close();
        assert_eq!(rec.boot, 2);
    }

    #[test]
    fn fold_a_full_lifecycle() {
        let cases = fold(lifecycle("0001-000001"));
        assert_eq!(cases.len(), 1);
        let c = &cases[0];
        assert_eq!(
            c,
            &Case {
                id: "0001-000001".into(),
                opened: Some("2026-11-22T10:00:00.123Z".into()),
                caller: "sip:+62811@telco".into(),
                called: "112".into(),
                service: "sos".into(),
                trunk: "telco-a".into(),
                from_seat: None,
                queue: Some("emergency".into()),
                priority: 2,
                offers: 2,
                seat: Some("op2".into()),
                answered: Some("2026-11-22T10:00:02.623Z".into()),
                overflowed_to: None,
                ended: Some("2026-11-22T10:00:08.623Z".into()),
                reason: Some(EndReason::Completed),
                wait_ms: 2_500,
                talk_ms: 6_000,
                marks: vec![],
            }
        );
    }

    #[test]
    fn fold_abandoned_ordering_and_unknown_cases() {
        let mut all = vec![opened(T0, "b")];
        all.extend(lifecycle("a"));
        all.push(rec(
            T0 + 1,
            Some("b"),
            Event::Offered { seat: "op3".into() },
        ));
        all.push(rec(T0 + 2, None, Event::Boot { boot: 2 }));
        all.push(rec(
            T0 + 3,
            None,
            Event::Seat {
                seat: "op3".into(),
                state: "ready".into(),
                reason: None,
            },
        ));
        all.push(rec(
            T0 + 4,
            Some("b"),
            Event::Ended {
                reason: EndReason::Abandoned,
                wait_ms: 4,
                talk_ms: 0,
                seat: None,
                queue: None,
            },
        ));
        all.push(rec(
            T0 + 5,
            Some("ghost"),
            Event::Outcome {
                mark: "prank".into(),
            },
        ));
        all.push(rec(
            T0 + 6,
            Some("c"),
            Event::Overflowed {
                target: "pst".into(),
            },
        ));
        all.push(opened(T0 + 7, "d"));
        all.push(rec(
            T0 + 8,
            Some("ghost"),
            Event::Outcome {
                mark: "silent".into(),
            },
        ));
        let cases = fold(all);
        let ids: Vec<_> = cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["b", "a", "ghost", "c", "d"], "newest last");
        let b = &cases[0];
        assert_eq!(b.reason, Some(EndReason::Abandoned));
        assert_eq!(
            (b.offers, b.seat.as_deref(), b.answered.as_deref()),
            (1, Some("op3"), None)
        );
        assert_eq!(b.wait_ms, 4);
        let ghost = &cases[2];
        assert_eq!(ghost.opened, None);
        assert_eq!(ghost.marks, ["prank", "silent"]);
        assert_eq!(cases[3].overflowed_to.as_deref(), Some("pst"));
        assert_eq!(cases[4].reason, None, "still open");
    }

    #[test]
    fn durable_reaches_n_and_group_commit_batches() {
        fn cheap_shared<T: Clone + Send + Sync>() {}
        cheap_shared::<JournalHandle>();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let (h, _) = Journal::open(&path, Duration::from_millis(5)).unwrap();
        let n = 10_000u64;
        for i in 0..n {
            h.append(rec(
                T0 + i,
                Some("0001-000001"),
                Event::Offered { seat: "op1".into() },
            ));
        }
        h.close();
        let s = h.commit_stats();
        assert_eq!(h.durable(), n);
        assert_eq!(s.records, n);
        assert!(s.batches >= 3 && s.batches < n / 10, "{s:?}");
        assert!(
            s.p50_us > 0 && s.p50_us <= s.p99_us && s.p99_us <= s.max_us,
            "{s:?}"
        );
        assert_eq!(read_journal(&path).unwrap().records.len() as u64, n + 1);
    }

    #[test]
    fn a_zero_window_commits_each_batch_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let (h, _) = Journal::open(&path, Duration::ZERO).unwrap();
        for i in 0..5 {
            h.append(opened(T0 + i, &format!("0001-00000{i}")));
            let t = Instant::now();
            while h.durable() <= i && t.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(h.durable(), i + 1, "durable without closing");
        }
        h.close();
        assert_eq!(h.commit_stats().batches, 5);
    }

    #[test]
    fn appends_after_close_are_counted_lost() {
        let dir = tempfile::tempdir().unwrap();
        let (h, _) = Journal::open(&dir.path().join("c.jsonl"), Duration::ZERO).unwrap();
        let other = h.clone();
        h.append(opened(T0, "a"));
        h.close();
        other.append(opened(T0, "b"));
        other.append(opened(T0, "c"));
        assert_eq!((h.durable(), h.lost()), (1, 2));
    }

    #[test]
    fn dropping_every_handle_lets_the_writer_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let (h, _) = Journal::open(&path, Duration::from_millis(20)).unwrap();
        let h2 = h.clone();
        let t = std::thread::spawn(move || {
            for i in 0..100 {
                h2.append(opened(T0 + i, "x"));
            }
        });
        t.join().unwrap();
        for i in 0..100 {
            h.append(opened(T0 + i, "y"));
        }
        drop(h);
        let start = Instant::now();
        loop {
            let n = read_journal(&path).unwrap().records.len();
            if n == 201 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "only {n} written"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // The writer exits and releases the lock.
        let start = Instant::now();
        let h = loop {
            match Journal::open(&path, Duration::ZERO) {
                Ok((h, _)) => break h,
                Err(CaseLogError::Locked { .. }) if start.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("{e}"),
            }
        };
        h.close();
    }

    #[test]
    fn a_failed_commit_keeps_the_records_and_retries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(&path, lines(&[opened(T0, "a")])).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        let read_only = File::open(&path).unwrap();
        let (h, _) = Journal::open(&dir.path().join("other.jsonl"), Duration::ZERO).unwrap();
        let (_tx, rx) = mpsc::channel();
        let mut w = Writer::new(
            path.clone(),
            read_only,
            len,
            rx,
            Duration::ZERO,
            h.shared.clone(),
        );
        w.take(Msg::Record(opened(T0 + 1, "b")));
        w.take(Msg::Record(opened(T0 + 2, "c")));
        assert_eq!(w.commit(), None, "writing to a read-only file fails");
        assert_eq!((w.pending_count, h.durable()), (2, 0));
        assert!(w.failing_since.is_some());
        w.take(Msg::Record(opened(T0 + 3, "d")));
        // The disk is back.
        w.file = OpenOptions::new().append(true).open(&path).unwrap();
        assert!(w.commit().is_some());
        assert_eq!((w.pending_count, h.durable()), (0, 3));
        assert_eq!(w.good_len, Some(std::fs::metadata(&path).unwrap().len()));
        let ids: Vec<_> = read_journal(&path)
            .unwrap()
            .records
            .into_iter()
            .filter_map(|r| r.case)
            .map(|c| c.0)
            .collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        h.close();
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9+@.:-]{0,12}",
            any::<String>(),
            Just("\"boot\":\n{}".to_string())
        ]
    }

    fn event() -> impl Strategy<Value = Event> {
        let reason = prop_oneof![
            Just(EndReason::Completed),
            Just(EndReason::Abandoned),
            Just(EndReason::Overflowed),
            Just(EndReason::Failed),
        ];
        prop_oneof![
            (0u32..1000).prop_map(|boot| Event::Boot { boot }),
            (text(), text(), text(), text(), proptest::option::of(text())).prop_map(
                |(caller, called, service, trunk, from_seat)| {
                    Event::Opened {
                        caller,
                        called,
                        service,
                        trunk,
                        from_seat,
                    }
                }
            ),
            (text(), any::<i32>()).prop_map(|(queue, priority)| Event::Queued { queue, priority }),
            text().prop_map(|seat| Event::Offered { seat }),
            text().prop_map(|seat| Event::Answered { seat }),
            text().prop_map(|target| Event::Overflowed { target }),
            (
                reason,
                any::<u64>(),
                any::<u64>(),
                proptest::option::of(text()),
                proptest::option::of(text())
            )
                .prop_map(|(reason, wait_ms, talk_ms, seat, queue)| Event::Ended {
                    reason,
                    wait_ms,
                    talk_ms,
                    seat,
                    queue,
                }),
            text().prop_map(|mark| Event::Outcome { mark }),
            (text(), text(), proptest::option::of(text())).prop_map(|(seat, state, reason)| {
                Event::Seat {
                    seat,
                    state,
                    reason,
                }
            }),
        ]
    }

    fn record() -> impl Strategy<Value = Record> {
        let case = proptest::option::of(prop_oneof![
            (0u32..100, 1u64..2_000_000).prop_map(|(b, s)| CaseId::new(b, s)),
            "[a-z]{1,8}".prop_map(CaseId),
        ]);
        (0u64..=MAX_TIME_MS, case, event()).prop_map(|(time_ms, case, event)| Record {
            time_ms,
            case,
            event,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn any_cut_recovers_exactly_the_complete_lines(
            recs in proptest::collection::vec(record(), 0..20),
            cut_frac in 0.0f64..=1.0,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("c.jsonl");
            let data = lines(&recs);
            let cut = ((data.len() as f64) * cut_frac) as usize;
            let data = &data[..cut.min(data.len())];
            std::fs::write(&path, data).unwrap();
            let complete = data.iter().filter(|b| **b == b'\n').count();
            let complete_len = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);

            let (h, rec) = Journal::open(&path, Duration::ZERO).unwrap();
            h.close();
            prop_assert_eq!(&rec.records[..], &recs[..complete]);
            prop_assert_eq!(rec.torn_bytes, data.len() - complete_len);
            prop_assert_eq!(rec.bad_lines, 0);
            let max_boot = recs[..complete]
                .iter()
                .flat_map(|r| {
                    let b = match r.event { Event::Boot { boot } => boot, _ => 0 };
                    [b, r.case.as_ref().and_then(CaseId::boot).unwrap_or(0)]
                })
                .max()
                .unwrap_or(0);
            prop_assert!(rec.boot > max_boot);
            prop_assert_eq!(sibling(&path, ".torn").exists(), rec.torn_bytes > 0);

            let after = std::fs::read(&path).unwrap();
            prop_assert_eq!(&after[..complete_len], &data[..complete_len]);
            let back = read_journal(&path).unwrap();
            prop_assert_eq!((back.torn_bytes, back.bad_lines), (0, 0));
            prop_assert_eq!(&back.records[..complete], &recs[..complete]);
            prop_assert_eq!(&back.records[complete].event, &Event::Boot { boot: rec.boot });
        }
    }
}
