//! The query store: a SQLite projection of the journal, for what the
//! console and the reports ask (a caller's history, a day's cases, open
//! tickets, a month's figures) without reading the journal or holding every
//! case in memory.
//!
//! The journal stays the record. The store is fed only from the journal
//! file itself, its complete lines, in order, from the byte offset it has
//! reached (kept in the store, in the same transaction as the data): so
//! after a crash it simply reads on, it never holds a record the journal
//! does not, and deleting it loses nothing (`siaga112 store rebuild`, or
//! the next start, makes it again). Each case keeps where its records are
//! in the journal (offset and length), so a case's full detail is read
//! from the journal itself.

mod feeder;
mod ingest;
mod query;
mod render;

pub use feeder::Feeder;
pub use query::{
    CaseRow, CaseSearch, Reader, Report, ReportAgency, ReportDay, ReportTotals, TicketRow,
};

use super::record::Record;
use rusqlite::{params, Connection, OptionalExtension};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Records per transaction while catching up.
const BATCH: usize = 20_000;
/// The schema this version writes; a store of another is rebuilt.
const SCHEMA: &str = "2";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {}: {source}", path.display())]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("store {}: reading the journal {}: {source}", path.display(), journal.display())]
    Journal {
        path: PathBuf,
        journal: PathBuf,
        source: std::io::Error,
    },
}

/// What a catch-up did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CatchUp {
    pub records: u64,
    pub bytes: u64,
    pub bad_lines: u64,
    /// The store did not match the journal (another journal, or one cut
    /// shorter) and was emptied first.
    pub rebuilt: bool,
}

/// The store's writer: one per store, on the thread that feeds it.
pub struct Store {
    path: PathBuf,
    conn: Connection,
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    }
}

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cases(
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  opened_ms INTEGER, caller TEXT NOT NULL DEFAULT '', number TEXT NOT NULL DEFAULT '',
  called TEXT, service TEXT, trunk TEXT, from_seat TEXT,
  queue TEXT, priority INTEGER, offers INTEGER NOT NULL DEFAULT 0, seat TEXT,
  answered_ms INTEGER, ended_ms INTEGER, reason TEXT, wait_ms INTEGER, talk_ms INTEGER,
  overflowed_to TEXT, class TEXT, category TEXT, marks TEXT NOT NULL DEFAULT '',
  ready INTEGER NOT NULL DEFAULT 0, address TEXT, lat REAL, lon REAL, loc_source TEXT,
  recording TEXT, recording_sha256 TEXT, closed_ms INTEGER,
  callback_due INTEGER NOT NULL DEFAULT 0, callback_attempts INTEGER NOT NULL DEFAULT 0,
  callback_done_ms INTEGER, notes TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS cases_opened ON cases(opened_ms);
CREATE INDEX IF NOT EXISTS cases_number ON cases(number, opened_ms);
CREATE INDEX IF NOT EXISTS cases_class ON cases(class, opened_ms);
CREATE INDEX IF NOT EXISTS cases_category ON cases(category, opened_ms);
CREATE INDEX IF NOT EXISTS cases_due ON cases(callback_due) WHERE callback_due = 1;
CREATE INDEX IF NOT EXISTS cases_prank ON cases(number)
  WHERE class = 'prank' OR instr(marks, 'prank') > 0;
CREATE TABLE IF NOT EXISTS spans(rid INTEGER NOT NULL, offset INTEGER NOT NULL, len INTEGER NOT NULL,
  PRIMARY KEY(rid, offset)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tickets(rid INTEGER NOT NULL, agency TEXT NOT NULL, status TEXT NOT NULL,
  sent_ms INTEGER, acknowledged_ms INTEGER, on_scene_ms INTEGER, closed_ms INTEGER, cancelled_ms INTEGER,
  history TEXT NOT NULL DEFAULT '', brief TEXT, PRIMARY KEY(rid, agency));
CREATE INDEX IF NOT EXISTS tickets_agency ON tickets(agency, sent_ms);
CREATE INDEX IF NOT EXISTS tickets_sent ON tickets(sent_ms);
CREATE INDEX IF NOT EXISTS tickets_open ON tickets(status) WHERE status IN ('sent', 'acknowledged', 'on-scene');
CREATE TABLE IF NOT EXISTS pranks(number TEXT NOT NULL, caller TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS pranks_at ON pranks(at_ms);
";

fn pragmas(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

impl Store {
    /// Opens (creating) the store at `path`. A store of another schema is
    /// emptied (it is rebuilt from the journal by the next catch-up).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(sql(path))?;
        pragmas(&conn).map_err(sql(path))?;
        conn.execute_batch(TABLES).map_err(sql(path))?;
        let mut s = Store {
            path: path.to_path_buf(),
            conn,
        };
        if s.meta("schema")?.as_deref().is_some_and(|v| v != SCHEMA) {
            tracing::warn!(path = %path.display(), "store of another version: rebuilt from the journal");
            s.clear()?;
        }
        s.set_meta("schema", SCHEMA)?;
        Ok(s)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(sql(&self.path))
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(sql(&self.path))
    }

    /// How far into the journal the store has read (bytes).
    pub fn offset(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta("offset")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Empties every table (before a rebuild).
    pub fn clear(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch(
                "DELETE FROM cases; DELETE FROM spans; DELETE FROM tickets; DELETE FROM pranks;
                 DELETE FROM meta;",
            )
            .map_err(sql(&self.path))?;
        self.set_meta("schema", SCHEMA)
    }

    /// Reads the journal's complete lines from where the store stopped and
    /// folds them in, [`BATCH`] records per transaction (each with the new
    /// offset). A journal that is not the one the store was made from (its
    /// first line differs, or it is shorter than the offset) makes the
    /// store start again from the beginning.
    pub fn catch_up(&mut self, journal: &Path) -> Result<CatchUp, StoreError> {
        let me = self.path.clone();
        let jerr = |source| StoreError::Journal {
            path: me.clone(),
            journal: journal.to_path_buf(),
            source,
        };
        let mut file = match File::open(journal) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CatchUp::default()),
            Err(e) => return Err(jerr(e)),
        };
        let len = file.metadata().map_err(jerr)?.len();
        let head = first_line(&mut file).map_err(jerr)?;
        let mut out = CatchUp::default();
        let mut offset = self.offset()?;
        let known = self.meta("journal_head")?;
        if offset > len || known.as_deref().is_some_and(|h| h != head) {
            tracing::warn!(store = %self.path.display(), journal = %journal.display(),
                "the store does not match the journal: rebuilding it");
            self.clear()?;
            offset = 0;
            out.rebuilt = true;
        }
        if offset >= len {
            return Ok(out);
        }
        file.seek(SeekFrom::Start(offset)).map_err(jerr)?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::with_capacity(4096);
        let mut batch: Vec<(u64, u32, Record)> = Vec::with_capacity(BATCH);
        let mut pos = offset;
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(jerr)?;
            if n == 0 || line.last() != Some(&b'\n') {
                // The end, or a line still being written: next time.
                break;
            }
            let at = pos;
            pos += n as u64;
            let text = &line[..n - 1];
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Record>(text) {
                Ok(r) => batch.push((at, (n - 1) as u32, r)),
                Err(_) => out.bad_lines += 1,
            }
            if batch.len() >= BATCH {
                out.records += batch.len() as u64;
                self.commit(&batch, pos, &head)?;
                batch.clear();
            }
        }
        out.records += batch.len() as u64;
        self.commit(&batch, pos, &head)?;
        out.bytes = pos - offset;
        Ok(out)
    }

    fn commit(
        &mut self,
        batch: &[(u64, u32, Record)],
        offset: u64,
        head: &str,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(sql(&path))?;
        for (at, len, r) in batch {
            ingest::record(&tx, *at, *len, r).map_err(sql(&path))?;
        }
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('offset', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [offset.to_string()],
        )
        .map_err(sql(&path))?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('journal_head', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [head],
        )
        .map_err(sql(&path))?;
        tx.commit().map_err(sql(&path))
    }

    /// Deletes the store at `path` and makes it again from `journal`.
    pub fn rebuild(path: &Path, journal: &Path) -> Result<(Store, CatchUp), StoreError> {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
        let mut s = Store::open(path)?;
        let c = s.catch_up(journal)?;
        Ok((s, c))
    }

    /// A reader on the same store.
    pub fn reader(&self) -> Result<Reader, StoreError> {
        Reader::open(&self.path)
    }
}

/// The journal's first line (its boot 1 line): which journal this is.
fn first_line(file: &mut File) -> std::io::Result<String> {
    let mut buf = vec![0u8; 512];
    file.seek(SeekFrom::Start(0))?;
    let n = file.read(&mut buf)?;
    let end = buf[..n].iter().position(|b| *b == b'\n').unwrap_or(n);
    Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// Cases as CSV (one row each, for a spreadsheet).
pub fn cases_csv(rows: &[CaseRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "case",
        "opened",
        "caller",
        "number",
        "called",
        "service",
        "trunk",
        "queue",
        "seat",
        "answered",
        "ended",
        "reason",
        "wait_s",
        "talk_s",
        "class",
        "category",
        "marks",
        "ready",
        "address",
        "lat",
        "lon",
        "closed",
        "callback_due",
        "notes",
    ])?;
    let t = |ms: Option<u64>| ms.map(crate::caselog::format_time).unwrap_or_default();
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let secs = |ms: Option<u64>| {
        ms.map(|m| format!("{:.1}", m as f64 / 1000.0))
            .unwrap_or_default()
    };
    for c in rows {
        w.write_record([
            c.case.clone(),
            t(c.opened_ms),
            c.caller.clone(),
            c.number.clone(),
            s(&c.called),
            s(&c.service),
            s(&c.trunk),
            s(&c.queue),
            s(&c.seat),
            t(c.answered_ms),
            t(c.ended_ms),
            s(&c.reason),
            secs(c.wait_ms),
            secs(c.talk_ms),
            s(&c.class),
            s(&c.category),
            c.marks.join(","),
            c.ready.to_string(),
            s(&c.address),
            c.lat.map(|x| x.to_string()).unwrap_or_default(),
            c.lon.map(|x| x.to_string()).unwrap_or_default(),
            t(c.closed_ms),
            c.callback_due.to_string(),
            c.notes.clone(),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// Reads the journal lines at `spans` (offset, length) from `journal`.
pub fn read_spans(journal: &Path, spans: &[(u64, u32)]) -> std::io::Result<Vec<Record>> {
    use std::os::unix::fs::FileExt;
    let file = File::open(journal)?;
    let mut out = Vec::with_capacity(spans.len());
    let mut buf = Vec::new();
    for &(at, len) in spans {
        buf.resize(len as usize, 0);
        file.read_exact_at(&mut buf, at)?;
        if let Ok(r) = serde_json::from_slice::<Record>(&buf) {
            out.push(r);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

/// The start (ms since the epoch) of day `date` (`YYYY-MM-DD`) in the
/// centre's time zone.
pub fn day_start_ms(date: &str, utc_offset_h: i64) -> Result<u64, String> {
    let d = time::Date::parse(
        date,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| format!("{date:?} is not a date (YYYY-MM-DD)"))?;
    let utc = d.midnight().assume_utc().unix_timestamp() * 1000;
    Ok((utc - utc_offset_h * 3_600_000).max(0) as u64)
}

/// Days `from` to `to` (both included) as a [from, to) range in ms; at
/// most 366 days.
pub fn day_range(from: &str, to: &str, utc_offset_h: i64) -> Result<(u64, u64), String> {
    let start = day_start_ms(from, utc_offset_h)?;
    let end = day_start_ms(to, utc_offset_h)? + 86_400_000;
    if end <= start {
        return Err("`to` is before `from`".into());
    }
    if end - start > 366 * 86_400_000 {
        return Err("a range is at most 366 days".into());
    }
    Ok((start, end))
}
