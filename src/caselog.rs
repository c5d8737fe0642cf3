//! Case records (interim types; the journal lands with the case-log module).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(pub String);

impl std::fmt::Display for CaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub struct CaseIds {
    boot: u32,
    seq: u64,
}

impl CaseIds {
    pub fn new(boot: u32) -> CaseIds {
        CaseIds { boot, seq: 0 }
    }
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> CaseId {
        self.seq += 1;
        CaseId(format!("{:04}-{:06}", self.boot, self.seq))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Completed,
    Abandoned,
    Overflowed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Boot {
        boot: u32,
    },
    Opened {
        caller: String,
        called: String,
        service: String,
        trunk: String,
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
    Outcome {
        mark: String,
    },
    Seat {
        seat: String,
        state: String,
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub time_ms: u64,
    pub case: Option<CaseId>,
    pub event: Event,
}

// ---------------------------------------------------------------- journal lines

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One journal line as written: time, case, and the event's fields.
#[derive(Serialize, Deserialize)]
struct Line {
    time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    case: Option<CaseId>,
    #[serde(flatten)]
    event: Event,
}

const TIME_FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// Unix milliseconds as RFC 3339 UTC with milliseconds.
pub fn format_time(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(TIME_FORMAT).unwrap_or_default()
}

fn parse_time(s: &str) -> Option<u64> {
    let t = time::PrimitiveDateTime::parse(s, TIME_FORMAT)
        .ok()?
        .assume_utc();
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

impl Record {
    /// The journal line, without the newline.
    pub fn to_line(&self) -> String {
        let line = Line {
            time: format_time(self.time_ms),
            case: self.case.clone(),
            event: self.event.clone(),
        };
        serde_json::to_string(&line).unwrap_or_default()
    }

    pub fn from_line(s: &str) -> Option<Record> {
        let line: Line = serde_json::from_str(s).ok()?;
        Some(Record {
            time_ms: parse_time(&line.time)?,
            case: line.case,
            event: line.event,
        })
    }
}

// ---------------------------------------------------------------- recovery

/// What reading a journal found.
#[derive(Debug, Default)]
pub struct Recovery {
    /// The boot number of this run (one more than any before).
    pub boot: u32,
    /// Every good record, in order (this run's boot line not included).
    pub records: Vec<Record>,
    /// Bytes of a torn last line, set aside in `<path>.torn`.
    pub torn_bytes: usize,
    /// Complete lines that did not parse (left in place, skipped).
    pub bad_lines: usize,
}

/// Errors of the case log.
#[derive(Debug, thiserror::Error)]
pub enum CaseLogError {
    #[error("case log {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CaseLogError + '_ {
    move |source| CaseLogError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads a journal without changing it. A last line without its newline
/// is torn: counted, never parsed or merged.
pub fn read_journal(path: &Path) -> Result<Recovery, CaseLogError> {
    let mut data = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut data).map_err(io_err(path))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path)(e)),
    }
    let complete = data
        .iter()
        .rposition(|b| *b == b'\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    let mut rec = Recovery {
        torn_bytes: data.len() - complete,
        ..Recovery::default()
    };
    let mut max_boot = 0;
    for line in data[..complete].split(|b| *b == b'\n') {
        if line.is_empty() {
            continue;
        }
        match std::str::from_utf8(line).ok().and_then(Record::from_line) {
            Some(r) => {
                if let Event::Boot { boot } = r.event {
                    max_boot = max_boot.max(boot);
                }
                rec.records.push(r);
            }
            None => rec.bad_lines += 1,
        }
    }
    rec.boot = max_boot + 1;
    Ok(rec)
}

// ---------------------------------------------------------------- writer

enum Msg {
    Record(Record),
    Close(mpsc::Sender<()>),
}

/// Commit figures, for the shutdown summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitStats {
    pub batches: u64,
    pub records: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// Appends records to the journal from any thread, never blocking.
#[derive(Clone)]
pub struct JournalHandle {
    tx: mpsc::Sender<Msg>,
    durable: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
    stats: Arc<Mutex<(u64, u64, hdrhistogram::Histogram<u64>)>>,
}

/// The case log's journal.
pub struct Journal;

impl Journal {
    /// Recovers the journal at `path` (setting a torn tail aside), writes
    /// and syncs this run's boot line, and starts the writer thread.
    pub fn open(
        path: &Path,
        commit_window: Duration,
    ) -> Result<(JournalHandle, Recovery), CaseLogError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(path))?;
        }
        let rec = read_journal(path)?;
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io_err(path))?;
        if rec.torn_bytes > 0 {
            set_aside_torn(path, &mut file, rec.torn_bytes)?;
            tracing::warn!(path = %path.display(), bytes = rec.torn_bytes, "case log: torn last line set aside in .torn");
        }
        if rec.bad_lines > 0 {
            tracing::warn!(path = %path.display(), lines = rec.bad_lines, "case log: lines that do not parse were skipped");
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let boot = Record {
            time_ms: now_ms,
            case: None,
            event: Event::Boot { boot: rec.boot },
        };
        file.write_all(format!("{}\n", boot.to_line()).as_bytes())
            .map_err(io_err(path))?;
        file.sync_all().map_err(io_err(path))?;
        let (tx, rx) = mpsc::channel();
        let handle = JournalHandle {
            tx,
            durable: Arc::new(AtomicU64::new(0)),
            lost: Arc::new(AtomicU64::new(0)),
            stats: Arc::new(Mutex::new((
                0,
                0,
                hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 2).map_err(|e| {
                    CaseLogError::Io {
                        path: path.display().to_string(),
                        source: std::io::Error::other(e.to_string()),
                    }
                })?,
            ))),
        };
        let writer = Writer {
            path: path.to_path_buf(),
            file,
            rx,
            window: commit_window,
            durable: handle.durable.clone(),
            stats: handle.stats.clone(),
            last_error_log: None,
        };
        std::thread::Builder::new()
            .name("caselog".into())
            .spawn(move || writer.run())
            .map_err(io_err(path))?;
        Ok((handle, rec))
    }
}

fn set_aside_torn(path: &Path, file: &mut File, torn: usize) -> Result<(), CaseLogError> {
    let len = file.metadata().map_err(io_err(path))?.len();
    let keep = len.saturating_sub(torn as u64);
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(keep)).map_err(io_err(path))?;
    file.read_to_end(&mut tail).map_err(io_err(path))?;
    let mut side = PathBuf::from(path);
    side.as_mut_os_string().push(".torn");
    let mut t = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&side)
        .map_err(io_err(&side))?;
    let head = format!(
        "# torn tail of {} set aside at {}\n",
        path.display(),
        format_time(now_unix_ms())
    );
    t.write_all(head.as_bytes()).map_err(io_err(&side))?;
    t.write_all(&tail).map_err(io_err(&side))?;
    t.write_all(b"\n").map_err(io_err(&side))?;
    t.sync_all().map_err(io_err(&side))?;
    file.set_len(keep).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))?;
    Ok(())
}

fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl JournalHandle {
    /// Queues a record for the journal; never blocks, never fails loudly.
    pub fn append(&self, r: Record) {
        if self.tx.send(Msg::Record(r)).is_err() {
            let n = self.lost.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() {
                tracing::error!(lost = n + 1, "case log writer is gone: records lost");
            }
        }
    }

    /// Records made durable (written and synced) so far.
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    pub fn commit_stats(&self) -> CommitStats {
        let Ok(s) = self.stats.lock() else {
            return CommitStats::default();
        };
        CommitStats {
            batches: s.0,
            records: s.1,
            p50_us: s.2.value_at_quantile(0.5),
            p99_us: s.2.value_at_quantile(0.99),
            max_us: s.2.max(),
        }
    }

    /// Writes and syncs everything queued, then stops the writer.
    pub fn close(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tx.send(Msg::Close(done_tx)).is_ok() {
            let _ = done_rx.recv_timeout(Duration::from_secs(30));
        }
    }
}

struct Writer {
    path: PathBuf,
    file: File,
    rx: mpsc::Receiver<Msg>,
    window: Duration,
    durable: Arc<AtomicU64>,
    stats: Arc<Mutex<(u64, u64, hdrhistogram::Histogram<u64>)>>,
    last_error_log: Option<Instant>,
}

impl Writer {
    fn run(mut self) {
        let mut pending: Vec<u8> = Vec::with_capacity(1 << 16);
        let mut count = 0u64;
        let mut last_case = String::new();
        loop {
            let mut closing = None;
            let first = if count == 0 {
                self.rx.recv().ok()
            } else {
                self.rx.try_recv().ok()
            };
            let mut next = first;
            let mut taken = 0;
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Record(r) => {
                        if let Some(c) = &r.case {
                            last_case.clear();
                            last_case.push_str(&c.0);
                        }
                        pending.extend_from_slice(r.to_line().as_bytes());
                        pending.push(b'\n');
                        count += 1;
                        taken += 1;
                    }
                    Msg::Close(done) => closing = Some(done),
                }
                if closing.is_some() || taken >= 4096 {
                    break;
                }
                next = self.rx.try_recv().ok();
            }
            if count == 0 && closing.is_none() && taken == 0 {
                // The channel is closed and nothing is left.
                if first_is_disconnected(&self.rx) {
                    return;
                }
                continue;
            }
            let started = Instant::now();
            if count > 0 {
                match self
                    .file
                    .write_all(&pending)
                    .and_then(|_| self.file.sync_data())
                {
                    Ok(()) => {
                        let total = self.durable.fetch_add(count, Ordering::AcqRel) + count;
                        tracing::debug!(target: "siaga112::caselog", durable = total, last_case = %last_case, "committed");
                        if let Ok(mut s) = self.stats.lock() {
                            s.0 += 1;
                            s.1 += count;
                            let _ = s.2.record(started.elapsed().as_micros().max(1) as u64);
                        }
                        pending.clear();
                        count = 0;
                    }
                    Err(e) => {
                        // Keep the records; try again next round.
                        let now = Instant::now();
                        if self
                            .last_error_log
                            .is_none_or(|t| now - t > Duration::from_secs(1))
                        {
                            self.last_error_log = Some(now);
                            tracing::error!(path = %self.path.display(), error = %e, waiting = count, "case log write failed; retrying");
                        }
                        // A partial write may have left a torn line: the
                        // retry writes whole lines after it, recovery skips it.
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
            if let Some(done) = closing {
                if count == 0 {
                    let _ = done.send(());
                    return;
                }
            }
            let spent = started.elapsed();
            if spent < self.window {
                std::thread::sleep(self.window - spent);
            }
        }
    }
}

fn first_is_disconnected(rx: &mpsc::Receiver<Msg>) -> bool {
    matches!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected))
}

// ---------------------------------------------------------------- folding

/// One case, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Case {
    pub id: String,
    pub opened: Option<String>,
    pub caller: String,
    pub called: String,
    pub service: String,
    pub trunk: String,
    pub queue: Option<String>,
    pub priority: i32,
    pub offers: u32,
    pub seat: Option<String>,
    pub answered: Option<String>,
    pub overflowed_to: Option<String>,
    pub ended: Option<String>,
    pub reason: Option<EndReason>,
    pub wait_ms: u64,
    pub talk_ms: u64,
    pub marks: Vec<String>,
}

/// Folds events into cases, in the order the cases were opened (newest last).
pub fn fold(records: impl IntoIterator<Item = Record>) -> Vec<Case> {
    let mut order: Vec<String> = Vec::new();
    let mut cases: std::collections::HashMap<String, Case> = std::collections::HashMap::new();
    for r in records {
        let Some(id) = r.case else { continue };
        let c = cases.entry(id.0.clone()).or_insert_with(|| {
            order.push(id.0.clone());
            Case {
                id: id.0.clone(),
                ..Case::default()
            }
        });
        let at = Some(format_time(r.time_ms));
        match r.event {
            Event::Opened {
                caller,
                called,
                service,
                trunk,
            } => {
                c.opened = at;
                (c.caller, c.called, c.service, c.trunk) = (caller, called, service, trunk);
            }
            Event::Queued { queue, priority } => {
                c.queue = Some(queue);
                c.priority = priority;
            }
            Event::Offered { seat } => {
                c.offers += 1;
                c.seat = Some(seat);
            }
            Event::Answered { seat } => {
                c.answered = at;
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
                c.ended = at;
                c.reason = Some(reason);
                (c.wait_ms, c.talk_ms) = (wait_ms, talk_ms);
                if seat.is_some() {
                    c.seat = seat;
                }
                if queue.is_some() {
                    c.queue = queue;
                }
            }
            Event::Outcome { mark } => c.marks.push(mark),
            Event::Boot { .. } | Event::Seat { .. } => {}
        }
    }
    order
        .into_iter()
        .filter_map(|id| cases.remove(&id))
        .collect()
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

#[cfg(test)]
mod tests;
