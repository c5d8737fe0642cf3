//! The thread that keeps the store up with the journal: woken by each
//! commit (and every half second anyway), it reads the new complete lines
//! and folds them in. Never on the SIP path; a failing store is logged
//! (one line a second at most) and retried, it never stops the engine.

use super::Store;
use crate::caselog::JournalHandle;
use crate::ratelimit::RateLimit;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Wakes the feeder at least this often.
const EVERY: Duration = Duration::from_millis(500);
/// And at most this often: under load the journal commits every few
/// milliseconds, and a catch-up per commit costs its fixed part (a read of
/// the file's end, a transaction, the offset) hundreds of times a second
/// for a store that searches and reports read (the live screens come from
/// events, not from here).
const GAP: Duration = Duration::from_millis(100);

/// The running feeder.
pub struct Feeder {
    wake: SyncSender<bool>,
    thread: Option<JoinHandle<()>>,
    /// Bytes of the journal in the store so far.
    pub offset: Arc<AtomicU64>,
}

impl Feeder {
    /// Feeds `store` from the journal at `path`, woken by `journal`'s commits.
    pub fn spawn(
        mut store: Store,
        path: PathBuf,
        journal: &JournalHandle,
    ) -> std::io::Result<Feeder> {
        let (wake, rx) = mpsc::sync_channel::<bool>(1);
        let w = wake.clone();
        journal.observe_commits(Box::new(move |_, _| {
            // Full means a wake-up is already pending: enough.
            let _ = w.try_send(false);
        }));
        let offset = Arc::new(AtomicU64::new(store.offset().unwrap_or(0)));
        let off = offset.clone();
        let thread = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                let errors = RateLimit::new();
                loop {
                    let stop = match rx.recv_timeout(EVERY) {
                        Ok(stop) => stop,
                        Err(RecvTimeoutError::Timeout) => false,
                        Err(RecvTimeoutError::Disconnected) => true,
                    };
                    match store.catch_up(&path) {
                        Ok(c) => {
                            if c.bad_lines > 0 {
                                tracing::warn!(lines = c.bad_lines, "store: journal lines that do not parse were skipped");
                            }
                            off.store(store.offset().unwrap_or(0), Ordering::Relaxed);
                        }
                        Err(e) => {
                            if let Some(suppressed) = errors.check() {
                                tracing::error!(error = %e, suppressed, "store: cannot catch up with the journal (retrying)");
                            }
                        }
                    }
                    if stop {
                        return;
                    }
                    // Commits meanwhile leave their wake-up pending: the next
                    // catch-up takes them all.
                    std::thread::sleep(GAP);
                }
            })?;
        Ok(Feeder {
            wake,
            thread: Some(thread),
            offset,
        })
    }

    /// One last catch-up, then the thread ends.
    pub fn stop(&mut self) {
        let _ = self.wake.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop();
    }
}
