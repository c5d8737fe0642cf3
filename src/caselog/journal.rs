//! The journal writer: one thread, group commit, durable counts, and the
//! open that recovers the file and numbers this run.

use super::record::{CaseId, Kind, LostRecord, Record};
use super::recovery::{
    hint_scan, io_err, set_aside, sibling, sync_dir, tail_scan, CaseLogError, Recovery,
};
use crate::ratelimit::RateLimit;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most records the writer takes off the channel for one batch.
const BATCH_MAX: usize = 4096;
/// Pause after a failed write or sync before trying again.
const RETRY_AFTER: Duration = Duration::from_millis(100);
/// Once closing (or every handle is gone), how long the writer keeps retrying
/// a failing disk before it gives up and counts what is left as lost.
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);
/// Records kept in memory while the disk cannot be written, by default
/// (about 30 MB at the usual ~300 bytes a record): beyond, each record is
/// lost, named in a `lost` record once the disk takes writes again.
pub const DEFAULT_BUFFER_RECORDS: u64 = 100_000;
/// The names of lost records kept for that `lost` record at most.
const LOST_NAMED_MAX: usize = 100_000;
/// A write or sync that has not returned in this long is a stalled disk:
/// the alarm is raised while it lasts.
pub const STALL_AFTER: Duration = Duration::from_secs(2);
/// How often the watchdog looks at the writer.
const WATCH_EVERY: Duration = Duration::from_millis(200);

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
        Journal::open_with(path, commit_window, DEFAULT_BUFFER_RECORDS)
    }

    /// [`Journal::open`] keeping at most `buffer_records` unwritten records
    /// while the disk fails.
    pub fn open_with(
        path: &Path,
        commit_window: Duration,
        buffer_records: u64,
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
        // Only the end of the file is read: a journal of a year opens as fast
        // as an empty one. The highest boot number ever given out is kept
        // beside it (`.boot`); without that file, one byte scan finds it.
        let mut scan = tail_scan(path, &file)?;
        let sidecar = read_boot_file(path);
        let known = match sidecar {
            Some(b) => b,
            None => hint_scan(path, &file)?,
        };
        scan.max_boot = scan.max_boot.max(known);
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
        let boot = scan
            .next_boot()
            .ok_or_else(|| CaseLogError::BootsExhausted {
                path: path.to_path_buf(),
            })?;
        let mut line = Record::now(None, Kind::Boot { boot })
            .to_line()
            .into_bytes();
        line.push(b'\n');
        file.write_all(&line).map_err(io_err(path))?;
        file.sync_all().map_err(io_err(path))?;
        write_boot_file(path, boot)?;
        sync_dir(path);

        let hist = hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
            .map_err(|e| io_err(path)(std::io::Error::other(e.to_string())))?;
        let shared = Arc::new(Shared {
            durable: AtomicU64::new(0),
            appended: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            lost_log: RateLimit::new(),
            failing: std::sync::atomic::AtomicBool::new(false),
            buffered: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            commit_since: AtomicU64::new(0),
            epoch: Instant::now(),
            stalled: std::sync::atomic::AtomicBool::new(false),
            done: std::sync::atomic::AtomicBool::new(false),
            refused: Mutex::new((0, Vec::new())),
            buffer_max: buffer_records.max(1),
            stats: Mutex::new(Stats {
                batches: 0,
                records: 0,
                hist,
            }),
            thread: Mutex::new(None),
            observers: Mutex::new(Vec::new()),
        });
        let (tx, rx) = mpsc::channel();
        let writer = Writer::new(
            path.to_path_buf(),
            file,
            scan.complete_len + line.len() as u64,
            rx,
            commit_window,
            shared.clone(),
            buffer_records.max(1),
        );
        let thread = std::thread::Builder::new()
            .name("caselog".into())
            .spawn(move || writer.run())
            .map_err(io_err(path))?;
        *shared.thread.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread);
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("caselog-watch".into())
            .spawn(move || watch(weak))
            .map_err(io_err(path))?;
        scan.recovery.boot = boot;
        Ok((JournalHandle { tx, shared }, scan.recovery))
    }
}

/// The boot number in `<journal>.boot`, if the file is there and says one.
fn read_boot_file(path: &Path) -> Option<u32> {
    std::fs::read_to_string(sibling(path, ".boot"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Writes `<journal>.boot` (a new file renamed over the old, synced).
fn write_boot_file(path: &Path, boot: u32) -> Result<(), CaseLogError> {
    let side = sibling(path, ".boot");
    let tmp = sibling(path, ".boot.new");
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(format!("{boot}\n").as_bytes())
        .map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &side).map_err(io_err(&side))?;
    Ok(())
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
    /// Records handed to [`JournalHandle::append`] (and accepted).
    appended: AtomicU64,
    lost: AtomicU64,
    lost_log: RateLimit,
    /// The last commit failed (the alarm).
    failing: std::sync::atomic::AtomicBool,
    /// Records waiting to be written.
    buffered: AtomicU64,
    /// Appended records done with: on disk, or given up on and named in a
    /// `lost` record (the `lost` record itself is not one of them).
    settled: AtomicU64,
    /// When the commit under way began (ms since `epoch`, plus one); 0:
    /// none under way.
    commit_since: AtomicU64,
    epoch: Instant,
    /// A write or sync has not returned for [`STALL_AFTER`] (the alarm).
    stalled: std::sync::atomic::AtomicBool,
    /// The writer has ended (the watchdog ends too).
    done: std::sync::atomic::AtomicBool,
    /// Records refused by `append` because the buffer was full while the
    /// disk stalled: named here for the writer's `lost` record.
    refused: Mutex<(u64, Vec<LostRecord>)>,
    buffer_max: u64,
    stats: Mutex<Stats>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Told of each commit (records, write + sync time): the metrics'
    /// histogram, the store's feeder.
    observers: Mutex<Vec<CommitObserver>>,
}

/// Called on the writer thread with each batch's records and commit time.
pub type CommitObserver = Box<dyn Fn(u64, Duration) + Send + Sync>;

enum Msg {
    Record(Arc<Record>),
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
    pub fn append(&self, rec: impl Into<Arc<Record>>) {
        let rec = rec.into();
        if self.shared.stalled.load(Ordering::Relaxed)
            && self.outstanding() >= self.shared.buffer_max
        {
            return self.refuse(&rec);
        }
        if let Err(mpsc::SendError(msg)) = self.tx.send(Msg::Record(rec)) {
            self.lost_one(msg);
        } else {
            self.shared.appended.fetch_add(1, Ordering::Release);
        }
    }

    /// Records appended and not yet settled (in memory).
    fn outstanding(&self) -> u64 {
        self.appended().saturating_sub(self.settled())
    }

    /// Appended records done with: written and synced, or lost and named
    /// in a `lost` record. Once this reaches [`JournalHandle::appended`]
    /// as of some moment, nothing appended before it waits any more.
    pub fn settled(&self) -> u64 {
        self.shared.settled.load(Ordering::Acquire)
    }

    /// The disk has stalled with the buffer full: this record cannot be
    /// kept. Counted, named in the writer's next `lost` record, logged.
    fn refuse(&self, rec: &Record) {
        self.shared.lost.fetch_add(1, Ordering::Relaxed);
        let n = {
            let mut r = self
                .shared
                .refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            r.0 += 1;
            if r.1.len() < LOST_NAMED_MAX {
                r.1.push(LostRecord::of(rec));
            }
            r.0
        };
        if let Some(suppressed) = self.shared.lost_log.check() {
            tracing::error!(
                case = rec.case.as_ref().map_or("-", CaseId::as_str),
                lost = n,
                suppressed,
                "ALARM: case log buffer full while the disk stalls: record lost (listed in a lost record when writing works again)"
            );
        }
    }

    fn lost_one(&self, msg: Msg) {
        {
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

    /// Records appended so far: once [`JournalHandle::durable`] reaches
    /// this number, everything appended before now is on disk.
    pub fn appended(&self) -> u64 {
        self.shared.appended.load(Ordering::Acquire)
    }

    /// Appended records written and synced so far (the boot line not counted).
    pub fn durable(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// The disk cannot be written right now (it fails, or a write has
    /// not returned for [`STALL_AFTER`]): records are kept in memory.
    pub fn failing(&self) -> bool {
        self.shared.failing.load(Ordering::Relaxed) || self.shared.stalled.load(Ordering::Relaxed)
    }

    /// A write or sync has not returned for [`STALL_AFTER`].
    pub fn stalled(&self) -> bool {
        self.shared.stalled.load(Ordering::Relaxed)
    }

    /// Records kept in memory, not yet on disk.
    pub fn buffered(&self) -> u64 {
        self.shared.buffered.load(Ordering::Relaxed)
    }

    /// Records that will never be written: appended after the writer stopped,
    /// or given up on after the disk kept failing at shutdown.
    pub fn lost(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }

    /// Has `f` told of every commit from now on, on the writer's thread
    /// (keep it short: a counter, a wake-up).
    pub fn observe_commits(&self, f: CommitObserver) {
        self.shared
            .observers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(f);
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

// ---------------------------------------------------------------- watchdog

/// Raises the alarm when a write or sync of the writer's has not returned
/// for [`STALL_AFTER`] (a stalled disk: the writer itself is stuck and
/// cannot say so), and keeps the buffered count current meanwhile. Ends
/// with the writer.
fn watch(shared: std::sync::Weak<Shared>) {
    loop {
        std::thread::sleep(WATCH_EVERY);
        let Some(s) = shared.upgrade() else { return };
        if s.done.load(Ordering::Acquire) {
            return;
        }
        let since = s.commit_since.load(Ordering::Acquire);
        if since == 0 {
            // The writer clears the flag as its write returns; this clears
            // one the watchdog set just after.
            s.stalled.store(false, Ordering::Release);
            continue;
        }
        let now = Instant::now()
            .saturating_duration_since(s.epoch)
            .as_millis() as u64
            + 1;
        let outstanding = s
            .appended
            .load(Ordering::Acquire)
            .saturating_sub(s.settled.load(Ordering::Acquire));
        if Duration::from_millis(now.saturating_sub(since)) < STALL_AFTER {
            continue;
        }
        s.buffered.store(outstanding, Ordering::Relaxed);
        if !s.stalled.swap(true, Ordering::AcqRel) {
            if s.commit_since.load(Ordering::Acquire) != since {
                // The write returned meanwhile: no stall to tell of.
                s.stalled.store(false, Ordering::Release);
                continue;
            }
            tracing::error!(
                waiting = outstanding,
                buffer = s.buffer_max,
                "ALARM: case log disk stalled: a write has not returned for {} s; calls go on, records are kept in memory and written when the disk answers",
                STALL_AFTER.as_secs()
            );
        }
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
    /// Of them, appended ones (not the writer's own `lost` record).
    pending_appended: u64,
    pending_last_case: Option<CaseId>,
    /// Last case id made durable, for the commit log line.
    last_case: Option<CaseId>,
    errors: RateLimit,
    failing_since: Option<Instant>,
    /// Records kept at most while the disk fails.
    buffer_max: u64,
    /// Records dropped because the buffer was full, named (and how many in
    /// all): a `lost` record says so once writing works again.
    lost_named: Vec<LostRecord>,
    lost_count: u64,
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
        buffer_max: u64,
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
            pending_appended: 0,
            pending_last_case: None,
            last_case: None,
            errors: RateLimit::new(),
            failing_since: None,
            buffer_max,
            lost_named: Vec::new(),
            lost_count: 0,
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
        self.shared.done.store(true, Ordering::Release);
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
            Msg::Record(r)
                if self.failing_since.is_some() && self.pending_count >= self.buffer_max =>
            {
                // The disk has failed for a while and the buffer is full:
                // this record cannot be kept. Never silently. (While the
                // disk works, a batch is never cut short.)
                self.shared.lost.fetch_add(1, Ordering::Relaxed);
                self.shared.settled.fetch_add(1, Ordering::AcqRel);
                self.lost_count += 1;
                let named = LostRecord::of(&r);
                let event = named.event.clone();
                if self.lost_named.len() < LOST_NAMED_MAX {
                    self.lost_named.push(named);
                }
                if let Some(suppressed) = self.shared.lost_log.check() {
                    tracing::error!(
                        case = r.case.as_ref().map_or("-", CaseId::as_str), %event,
                        buffered = self.pending_count, lost = self.lost_count, suppressed,
                        "ALARM: case log buffer full while the disk fails: record lost (listed in a lost record when writing works again)"
                    );
                }
            }
            Msg::Record(r) => {
                let start = self.pending.len();
                match serde_json::to_writer(&mut self.pending, &*r) {
                    Ok(()) => {
                        self.pending.push(b'\n');
                        self.pending_count += 1;
                        self.pending_appended += 1;
                        if r.case.is_some() {
                            self.pending_last_case.clone_from(&r.case);
                        }
                    }
                    Err(e) => {
                        self.pending.truncate(start);
                        self.shared.lost.fetch_add(1, Ordering::Relaxed);
                        self.shared.settled.fetch_add(1, Ordering::AcqRel);
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
        let since = started
            .saturating_duration_since(self.shared.epoch)
            .as_millis() as u64
            + 1;
        self.shared.commit_since.store(since, Ordering::Release);
        let mut synced_at = None;
        let result = self.file.write_all(&self.pending).and_then(|()| {
            synced_at = Some(Instant::now());
            self.file.sync_data()
        });
        // The flag first, then the mark: the watchdog clears a flag it
        // finds without a mark, so a recovery is told exactly once.
        let was_stalled = self.shared.stalled.swap(false, Ordering::AcqRel);
        self.shared.commit_since.store(0, Ordering::Release);
        if was_stalled {
            tracing::warn!(
                path = %self.path.display(), took_s = started.elapsed().as_secs(),
                ok = result.is_ok(), "case log disk responding again after a stall"
            );
        }
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
                self.shared
                    .settled
                    .fetch_add(std::mem::take(&mut self.pending_appended), Ordering::AcqRel);
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
                for f in self
                    .shared
                    .observers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                {
                    f(n, Duration::from_micros(us));
                }
                tracing::debug!(
                    target: "siaga112::caselog",
                    durable = total,
                    last_case = %self.last_case.as_ref().map_or("-", CaseId::as_str),
                    "committed"
                );
                self.pending.clear();
                self.pending_count = 0;
                self.shared.buffered.store(0, Ordering::Relaxed);
                if let Some(since) = self.failing_since.take() {
                    self.shared.failing.store(false, Ordering::Relaxed);
                    tracing::warn!(
                        path = %self.path.display(), after_s = since.elapsed().as_secs(), written = n,
                        lost = self.lost_count, "case log writing again: the kept records are on disk"
                    );
                }
                {
                    let mut r = self
                        .shared
                        .refused
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    self.lost_count += std::mem::take(&mut r.0);
                    let named = std::mem::take(&mut r.1);
                    let room = LOST_NAMED_MAX.saturating_sub(self.lost_named.len());
                    self.lost_named.extend(named.into_iter().take(room));
                }
                if self.lost_count > 0 {
                    let rec = Record::now(
                        None,
                        Kind::Lost {
                            count: std::mem::take(&mut self.lost_count),
                            records: std::mem::take(&mut self.lost_named),
                        },
                    );
                    if serde_json::to_writer(&mut self.pending, &rec).is_ok() {
                        self.pending.push(b'\n');
                        self.pending_count += 1;
                    }
                }
                synced_at.or(Some(started))
            }
            Err(e) => {
                if self.failing_since.is_none() {
                    self.failing_since = Some(started);
                    self.shared.failing.store(true, Ordering::Relaxed);
                    tracing::error!(
                        path = %self.path.display(), error = %e, waiting = self.pending_count,
                        buffer = self.buffer_max,
                        "ALARM: case log cannot write; calls go on, records are kept in memory and written when the disk works again"
                    );
                } else if let Some(suppressed) = self.errors.check() {
                    tracing::error!(
                        path = %self.path.display(), error = %e, waiting = self.pending_count,
                        suppressed, "case log write failed; the records are kept and retried"
                    );
                }
                self.shared
                    .buffered
                    .store(self.pending_count, Ordering::Relaxed);
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
        self.shared
            .settled
            .fetch_add(std::mem::take(&mut self.pending_appended), Ordering::AcqRel);
    }
}

#[cfg(test)]
mod writer_tests {
    use super::super::recovery::read_journal;
    use super::*;

    fn opened(ms: u64, id: &str) -> Record {
        Record {
            time_ms: ms,
            case: Some(CaseId::from(id)),
            kind: Kind::Opened {
                caller: "sip:+62811@telco".into(),
                called: "112".into(),
                service: "sos".into(),
                trunk: "telco-a".into(),
                from_seat: None,
            },
        }
    }

    const T0: u64 = 1_795_341_600_123;

    #[test]
    fn a_failed_commit_keeps_the_records_and_retries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(&path, format!("{}\n", opened(T0, "a").to_line())).unwrap();
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
            DEFAULT_BUFFER_RECORDS,
        );
        w.take(Msg::Record(Arc::new(opened(T0 + 1, "b"))));
        w.take(Msg::Record(Arc::new(opened(T0 + 2, "c"))));
        assert_eq!(w.commit(), None, "writing to a read-only file fails");
        assert_eq!((w.pending_count, h.durable()), (2, 0));
        assert!(w.failing_since.is_some());
        w.take(Msg::Record(Arc::new(opened(T0 + 3, "d"))));
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
            .map(|c| c.as_str().to_string())
            .collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        h.close();
    }
}
