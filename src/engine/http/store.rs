//! The console's reads of the query store: read-only connections kept in a
//! small pool, used off the event loop (SQLite blocks).

use crate::caselog::store::{Reader, StoreError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Connections kept open at most.
const IDLE: usize = 4;

pub(crate) struct StorePool {
    path: PathBuf,
    /// The journal, for a case's records.
    pub journal: PathBuf,
    idle: Mutex<Vec<Reader>>,
}

impl StorePool {
    pub(crate) fn new(path: PathBuf, journal: PathBuf) -> StorePool {
        StorePool {
            path,
            journal,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn take(&self) -> Result<Reader, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(r) => Ok(r),
            None => Reader::open(&self.path),
        }
    }

    fn give(&self, r: Reader) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE {
            idle.push(r);
        }
    }
}

/// Runs `f` on a store connection on the blocking pool.
pub(crate) async fn query<T, F>(pool: &Arc<StorePool>, f: F) -> Result<T, String>
where
    F: FnOnce(&Reader, &Path) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    let p = pool.clone();
    let out = tokio::task::spawn_blocking(move || {
        let r = p.take()?;
        let out = f(&r, &p.journal);
        if out.is_ok() {
            p.give(r);
        }
        out
    })
    .await;
    match out {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "console: store query failed");
            Err(e.to_string())
        }
        Err(_) => Err("the store query did not finish".into()),
    }
}
