//! What the console and the reports ask the store: read-only, on a
//! connection of their own (SQLite's WAL lets them read while the feeder
//! writes).

use super::{sql, StoreError};
use crate::caselog::record::{Brief, CaseId, TicketStatus};
use rusqlite::{params_from_iter, Connection, OpenFlags, OptionalExtension, Row};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One case as the store holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CaseRow {
    pub case: String,
    pub opened_ms: Option<u64>,
    pub caller: String,
    pub number: String,
    pub called: Option<String>,
    pub service: Option<String>,
    pub trunk: Option<String>,
    pub from_seat: Option<String>,
    pub queue: Option<String>,
    pub priority: Option<i64>,
    pub offers: u32,
    pub seat: Option<String>,
    pub answered_ms: Option<u64>,
    pub ended_ms: Option<u64>,
    pub reason: Option<String>,
    pub wait_ms: Option<u64>,
    pub talk_ms: Option<u64>,
    pub overflowed_to: Option<String>,
    pub class: Option<String>,
    pub category: Option<String>,
    pub marks: Vec<String>,
    pub ready: bool,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub loc_source: Option<String>,
    pub recording: Option<String>,
    pub recording_sha256: Option<String>,
    pub closed_ms: Option<u64>,
    pub callback_due: bool,
    pub callback_attempts: u32,
    pub notes: String,
}

const CASE_COLUMNS: &str =
    "id, opened_ms, caller, number, called, service, trunk, from_seat, queue,
  priority, offers, seat, answered_ms, ended_ms, reason, wait_ms, talk_ms, overflowed_to, class,
  category, marks, ready, address, lat, lon, loc_source, recording, recording_sha256, closed_ms,
  callback_due, callback_attempts, notes";

fn ms(v: Option<i64>) -> Option<u64> {
    v.map(|x| x.max(0) as u64)
}

fn case_row(r: &Row<'_>) -> rusqlite::Result<CaseRow> {
    let marks: String = r.get(20)?;
    Ok(CaseRow {
        case: r.get(0)?,
        opened_ms: ms(r.get(1)?),
        caller: r.get(2)?,
        number: r.get(3)?,
        called: r.get(4)?,
        service: r.get(5)?,
        trunk: r.get(6)?,
        from_seat: r.get(7)?,
        queue: r.get(8)?,
        priority: r.get(9)?,
        offers: r.get(10)?,
        seat: r.get(11)?,
        answered_ms: ms(r.get(12)?),
        ended_ms: ms(r.get(13)?),
        reason: r.get(14)?,
        wait_ms: ms(r.get(15)?),
        talk_ms: ms(r.get(16)?),
        overflowed_to: r.get(17)?,
        class: r.get(18)?,
        category: r.get(19)?,
        marks: marks
            .split(',')
            .filter(|m| !m.is_empty())
            .map(String::from)
            .collect(),
        ready: r.get(21)?,
        address: r.get(22)?,
        lat: r.get(23)?,
        lon: r.get(24)?,
        loc_source: r.get(25)?,
        recording: r.get(26)?,
        recording_sha256: r.get(27)?,
        closed_ms: ms(r.get(28)?),
        callback_due: r.get(29)?,
        callback_attempts: r.get(30)?,
        notes: r.get(31)?,
    })
}

/// A ticket as the store holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketRow {
    pub ticket: String,
    pub case: String,
    pub agency: String,
    pub status: TicketStatus,
    pub sent_ms: Option<u64>,
    pub acknowledged_ms: Option<u64>,
    pub on_scene_ms: Option<u64>,
    pub closed_ms: Option<u64>,
    pub cancelled_ms: Option<u64>,
    pub history: Vec<Value>,
    pub brief: Option<Brief>,
}

const TICKET_COLUMNS: &str =
    "c.id, t.agency, t.status, t.sent_ms, t.acknowledged_ms, t.on_scene_ms,
  t.closed_ms, t.cancelled_ms, t.history, t.brief";

fn ticket_row(r: &Row<'_>) -> rusqlite::Result<TicketRow> {
    let case: String = r.get(0)?;
    let agency: String = r.get(1)?;
    let status: String = r.get(2)?;
    let history: String = r.get(8)?;
    let brief: Option<String> = r.get(9)?;
    Ok(TicketRow {
        ticket: format!("{case}/{agency}"),
        status: serde_json::from_value(Value::String(status)).unwrap_or(TicketStatus::Sent),
        case,
        agency,
        sent_ms: ms(r.get(3)?),
        acknowledged_ms: ms(r.get(4)?),
        on_scene_ms: ms(r.get(5)?),
        closed_ms: ms(r.get(6)?),
        cancelled_ms: ms(r.get(7)?),
        history: history
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
        brief: brief.and_then(|b| serde_json::from_str(&b).ok()),
    })
}

/// A search over cases (all filters optional but the time range).
#[derive(Debug, Clone, Default)]
pub struct CaseSearch {
    pub from_ms: u64,
    pub to_ms: u64,
    pub number: Option<String>,
    pub class: Option<String>,
    pub category: Option<String>,
    pub agency: Option<String>,
    /// In the notes or the address.
    pub text: Option<String>,
    /// Only cases this seat was offered, answered or placed.
    pub seat: Option<String>,
    /// Cases opened before this one (paging on), newest first.
    pub before: Option<(u64, String)>,
    pub limit: usize,
}

/// Figures of a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReportTotals {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub by_class: BTreeMap<String, u64>,
    pub unclassified: u64,
    pub within_10s: Option<f64>,
    pub within_15s: Option<f64>,
    pub within_20s: Option<f64>,
    pub mean_answer_s: Option<f64>,
    pub abandoned_share: Option<f64>,
    pub false_share: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReportDay {
    pub date: String,
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub by_class: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReportAgency {
    pub tickets: u64,
    pub closed: u64,
    pub cancelled: u64,
    pub mean_answer_to_dispatch_s: Option<f64>,
    pub p90_answer_to_dispatch_s: Option<f64>,
    pub mean_to_acknowledge_s: Option<f64>,
    pub mean_to_on_scene_s: Option<f64>,
    pub within_60s: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReportDispatch {
    pub tickets: u64,
    pub within_60s: Option<f64>,
    pub mean_answer_to_dispatch_s: Option<f64>,
    pub by_agency: BTreeMap<String, ReportAgency>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bucket {
    /// Upper bound in seconds (None: the rest).
    pub le_s: Option<u64>,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HourCount {
    pub hour: u32,
    pub offered: u64,
}

/// A period's report (`siaga112 report`, the console's reports page).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub totals: ReportTotals,
    pub days: Vec<ReportDay>,
    pub answer_times: Vec<Bucket>,
    pub by_category: BTreeMap<String, u64>,
    pub dispatch: ReportDispatch,
    pub hours: Vec<HourCount>,
}

/// Classes that are no real call for help.
const FALSE_CLASSES: &[&str] = &["prank", "silent", "accidental"];
/// Answer-time buckets (seconds).
const ANSWER_BUCKETS: [u64; 7] = [5, 10, 15, 20, 30, 60, 120];

/// A read-only connection.
pub struct Reader {
    path: PathBuf,
    conn: Connection,
}

fn share(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    Some(v[i])
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql(path))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql(path))?;
        Ok(Reader {
            path: path.to_path_buf(),
            conn,
        })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        sql(&self.path)
    }

    /// How far into the journal the store has read.
    pub fn offset(&self) -> Result<u64, StoreError> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'offset'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.err())?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    pub fn case(&self, id: &str) -> Result<Option<CaseRow>, StoreError> {
        self.conn
            .prepare_cached(&format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = ?1"))
            .and_then(|mut s| s.query_row([id], case_row).optional())
            .map_err(self.err())
    }

    /// Where the case's records are in the journal, in order.
    pub fn spans(&self, id: &str) -> Result<Vec<(u64, u32)>, StoreError> {
        let mut s = self
            .conn
            .prepare_cached(
                "SELECT s.offset, s.len FROM spans s JOIN cases c ON c.rid = s.rid
                 WHERE c.id = ?1 ORDER BY s.offset",
            )
            .map_err(self.err())?;
        let rows = s
            .query_map([id], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// A caller's cases, newest first, and how many were pranks.
    pub fn history(&self, number: &str, limit: usize) -> Result<(Vec<CaseRow>, u64), StoreError> {
        let mut s = self
            .conn
            .prepare_cached(&format!(
                "SELECT {CASE_COLUMNS} FROM cases WHERE number = ?1
                 ORDER BY opened_ms DESC LIMIT ?2"
            ))
            .map_err(self.err())?;
        let rows = s
            .query_map(rusqlite::params![number, limit as i64], case_row)
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        let pranks: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM cases WHERE number = ?1
                 AND (class = 'prank' OR instr(marks, 'prank') > 0)",
            )
            .and_then(|mut s| s.query_row([number], |r| r.get(0)))
            .map_err(self.err())?;
        Ok((rows, pranks as u64))
    }

    /// Cases by time range and filters, newest first; and whether there are
    /// more.
    pub fn search(&self, q: &CaseSearch) -> Result<(Vec<CaseRow>, bool), StoreError> {
        let mut sql =
            format!("SELECT {CASE_COLUMNS} FROM cases WHERE opened_ms >= ?1 AND opened_ms < ?2");
        let mut args: Vec<rusqlite::types::Value> =
            vec![(q.from_ms as i64).into(), (q.to_ms as i64).into()];
        let mut push = |v: rusqlite::types::Value| {
            args.push(v);
            args.len()
        };
        if let Some(v) = &q.number {
            sql.push_str(&format!(" AND number = ?{}", push(v.clone().into())));
        }
        if let Some(v) = &q.class {
            sql.push_str(&format!(" AND class = ?{}", push(v.clone().into())));
        }
        if let Some(v) = &q.category {
            sql.push_str(&format!(" AND category = ?{}", push(v.clone().into())));
        }
        if let Some(v) = &q.agency {
            let n = push(v.clone().into());
            sql.push_str(&format!(
                " AND rid IN (SELECT rid FROM tickets WHERE agency = ?{n})"
            ));
        }
        if let Some(t) = &q.text {
            let like = format!(
                "%{}%",
                t.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            let n = push(like.into());
            sql.push_str(&format!(
                " AND (notes LIKE ?{n} ESCAPE '\\' OR address LIKE ?{n} ESCAPE '\\')"
            ));
        }
        if let Some(v) = &q.seat {
            let n = push(v.clone().into());
            sql.push_str(&format!(" AND (seat = ?{n} OR from_seat = ?{n})"));
        }
        if let Some((t, id)) = &q.before {
            args.push((*t as i64).into());
            let a = args.len();
            args.push(id.clone().into());
            let b = args.len();
            sql.push_str(&format!(
                " AND (opened_ms < ?{a} OR (opened_ms = ?{a} AND id < ?{b}))"
            ));
        }
        let limit = q.limit.max(1);
        sql.push_str(&format!(
            " ORDER BY opened_ms DESC, id DESC LIMIT {}",
            limit + 1
        ));
        let mut s = self.conn.prepare(&sql).map_err(self.err())?;
        let mut rows = s
            .query_map(params_from_iter(args), case_row)
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows, more))
    }

    /// Tickets: of one agency or all; only open ones, or those sent in a
    /// time range; newest first.
    pub fn tickets(
        &self,
        agency: Option<&str>,
        open_only: bool,
        range: Option<(u64, u64)>,
    ) -> Result<Vec<TicketRow>, StoreError> {
        let mut sql =
            format!("SELECT {TICKET_COLUMNS} FROM tickets t JOIN cases c ON c.rid = t.rid WHERE 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(a) = agency {
            args.push(a.to_string().into());
            sql.push_str(&format!(" AND t.agency = ?{}", args.len()));
        }
        if open_only {
            sql.push_str(" AND t.status IN ('sent', 'acknowledged', 'on-scene')");
        }
        if let Some((from, to)) = range {
            args.push((from as i64).into());
            args.push((to as i64).into());
            sql.push_str(&format!(
                " AND t.sent_ms >= ?{} AND t.sent_ms < ?{}",
                args.len() - 1,
                args.len()
            ));
        }
        sql.push_str(" ORDER BY t.sent_ms DESC LIMIT 1000");
        let mut s = self.conn.prepare(&sql).map_err(self.err())?;
        let rows = s
            .query_map(params_from_iter(args), ticket_row)
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// The tickets of one case.
    pub fn tickets_of(&self, case: &str) -> Result<Vec<TicketRow>, StoreError> {
        let mut s = self
            .conn
            .prepare_cached(&format!(
                "SELECT {TICKET_COLUMNS} FROM tickets t JOIN cases c ON c.rid = t.rid
                 WHERE c.id = ?1 ORDER BY t.sent_ms"
            ))
            .map_err(self.err())?;
        let rows = s
            .query_map([case], ticket_row)
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// Tickets not final, for the core at start.
    pub fn open_tickets(&self) -> Result<Vec<(CaseId, String, TicketStatus)>, StoreError> {
        // Every ticket of a case that has an open one (the core closes the
        // case when the last is done).
        let mut s = self
            .conn
            .prepare(
                "SELECT c.id, t.agency, t.status FROM tickets t JOIN cases c ON c.rid = t.rid
                 WHERE t.rid IN (SELECT rid FROM tickets WHERE status IN ('sent', 'acknowledged', 'on-scene'))",
            )
            .map_err(self.err())?;
        let rows = s
            .query_map([], |r| {
                let status: String = r.get(2)?;
                Ok((
                    CaseId::from(r.get::<_, String>(0)?.as_str()),
                    r.get::<_, String>(1)?,
                    serde_json::from_value(Value::String(status)).unwrap_or(TicketStatus::Sent),
                ))
            })
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// Emergency calls lost (abandoned, or classed dropped) and not yet
    /// called back, oldest first.
    pub fn callbacks(&self, limit: usize) -> Result<Vec<CaseRow>, StoreError> {
        let mut s = self
            .conn
            .prepare_cached(&format!(
                "SELECT {CASE_COLUMNS} FROM cases WHERE callback_due = 1 ORDER BY opened_ms LIMIT ?1"
            ))
            .map_err(self.err())?;
        let rows = s
            .query_map([limit as i64], case_row)
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// The recordings named for cases opened since `since_ms`.
    pub fn recordings_since(
        &self,
        since_ms: u64,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT recording FROM cases WHERE opened_ms >= ?1 AND recording IS NOT NULL")
            .map_err(self.err())?;
        let rows = st
            .query_map([since_ms as i64], |r| r.get::<_, String>(0))
            .map_err(self.err())?
            .collect::<Result<std::collections::HashSet<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// Prank marks since `since_ms`: (caller, when).
    pub fn prank_marks(&self, since_ms: u64) -> Result<Vec<(String, u64)>, StoreError> {
        let mut s = self
            .conn
            .prepare("SELECT caller, at_ms FROM pranks WHERE at_ms >= ?1")
            .map_err(self.err())?;
        let rows = s
            .query_map([since_ms as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// The journal spans the console's view starts from: every record of
    /// the cases opened since `since_ms`, of cases with an open ticket, and
    /// of cases opened since `callbacks_since_ms` waiting for a call-back;
    /// in journal order.
    pub fn seed_spans(
        &self,
        since_ms: u64,
        callbacks_since_ms: u64,
    ) -> Result<Vec<(u64, u32)>, StoreError> {
        let mut s = self
            .conn
            .prepare(
                "SELECT s.offset, s.len FROM spans s WHERE s.rid IN (
                   SELECT rid FROM cases WHERE opened_ms >= ?1
                   UNION SELECT rid FROM tickets WHERE status IN ('sent', 'acknowledged', 'on-scene')
                   UNION SELECT rid FROM cases WHERE callback_due = 1 AND opened_ms >= ?2)
                 ORDER BY s.offset",
            )
            .map_err(self.err())?;
        let rows = s
            .query_map([since_ms as i64, callbacks_since_ms as i64], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
            })
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// The report of cases opened in [from_ms, to_ms); days and hours in
    /// the centre's time zone (`utc_offset_h`).
    pub fn report(
        &self,
        from_ms: u64,
        to_ms: u64,
        utc_offset_h: i64,
    ) -> Result<Report, StoreError> {
        let off = utc_offset_h * 3_600_000;
        let day = |ms: i64| {
            crate::caselog::format_time((ms + off).max(0) as u64)
                .get(..10)
                .unwrap_or("")
                .to_string()
        };
        let mut r = Report {
            from: day(from_ms as i64),
            to: day(to_ms as i64 - 1),
            ..Report::default()
        };
        let range = [from_ms as i64, to_ms as i64];
        // One pass over the period's cases.
        let mut s = self
            .conn
            .prepare(
                "SELECT opened_ms, answered_ms, reason, wait_ms, class, category FROM cases
                 WHERE opened_ms >= ?1 AND opened_ms < ?2",
            )
            .map_err(self.err())?;
        let mut rows = s.query(range).map_err(self.err())?;
        let mut days: BTreeMap<String, ReportDay> = BTreeMap::new();
        let mut hours = [0u64; 24];
        let mut within = [0u64; 3];
        let mut answer_ms_sum = 0u64;
        let mut buckets = [0u64; ANSWER_BUCKETS.len() + 1];
        let t = &mut r.totals;
        while let Some(row) = rows.next().map_err(self.err())? {
            let opened: i64 = row.get(0).map_err(self.err())?;
            let answered: Option<i64> = row.get(1).map_err(self.err())?;
            let reason: Option<String> = row.get(2).map_err(self.err())?;
            let wait: Option<i64> = row.get(3).map_err(self.err())?;
            let class: Option<String> = row.get(4).map_err(self.err())?;
            let category: Option<String> = row.get(5).map_err(self.err())?;
            let d = days.entry(day(opened)).or_insert_with_key(|k| ReportDay {
                date: k.clone(),
                ..ReportDay::default()
            });
            t.offered += 1;
            d.offered += 1;
            let hour = (((opened + off).rem_euclid(86_400_000)) / 3_600_000) as usize;
            hours[hour.min(23)] += 1;
            let abandoned = reason.as_deref() == Some("abandoned") && answered.is_none();
            if let Some(_a) = answered {
                t.answered += 1;
                d.answered += 1;
                let w = wait.unwrap_or(0).max(0) as u64;
                answer_ms_sum += w;
                for (k, limit) in [10_000, 15_000, 20_000].into_iter().enumerate() {
                    if w <= limit {
                        within[k] += 1;
                    }
                }
                let b = ANSWER_BUCKETS
                    .iter()
                    .position(|le| w <= le * 1000)
                    .unwrap_or(ANSWER_BUCKETS.len());
                buckets[b] += 1;
            } else if abandoned {
                t.abandoned += 1;
                d.abandoned += 1;
            }
            match &class {
                Some(c) => {
                    *t.by_class.entry(c.clone()).or_default() += 1;
                    *d.by_class.entry(c.clone()).or_default() += 1;
                }
                None => t.unclassified += 1,
            }
            if class.as_deref() == Some("emergency") {
                *r.by_category
                    .entry(category.unwrap_or_else(|| "-".into()))
                    .or_default() += 1;
            }
        }
        let judged = t.answered + t.abandoned;
        t.within_10s = share(within[0], judged);
        t.within_15s = share(within[1], judged);
        t.within_20s = share(within[2], judged);
        t.mean_answer_s = share(answer_ms_sum, t.answered).map(|x| x / 1000.0);
        t.abandoned_share = share(t.abandoned, judged);
        let false_calls: u64 = FALSE_CLASSES
            .iter()
            .map(|c| t.by_class.get(*c).copied().unwrap_or(0))
            .sum();
        t.false_share = share(false_calls, t.offered);
        r.days = days.into_values().collect();
        r.hours = hours
            .iter()
            .enumerate()
            .map(|(h, n)| HourCount {
                hour: h as u32,
                offered: *n,
            })
            .collect();
        r.answer_times = ANSWER_BUCKETS
            .iter()
            .map(|le| Some(*le))
            .chain([None])
            .zip(buckets)
            .map(|(le_s, count)| Bucket { le_s, count })
            .collect();
        r.dispatch = self.dispatch_report(from_ms, to_ms)?;
        Ok(r)
    }

    fn dispatch_report(&self, from_ms: u64, to_ms: u64) -> Result<ReportDispatch, StoreError> {
        let mut s = self
            .conn
            .prepare(
                "SELECT t.agency, t.status, t.sent_ms, t.acknowledged_ms, t.on_scene_ms, c.answered_ms
                 FROM tickets t JOIN cases c ON c.rid = t.rid
                 WHERE c.opened_ms >= ?1 AND c.opened_ms < ?2",
            )
            .map_err(self.err())?;
        let mut rows = s
            .query([from_ms as i64, to_ms as i64])
            .map_err(self.err())?;
        #[derive(Default)]
        struct Acc {
            tickets: u64,
            closed: u64,
            cancelled: u64,
            dispatch: Vec<f64>,
            ack: Vec<f64>,
            scene: Vec<f64>,
        }
        let mut by: BTreeMap<String, Acc> = BTreeMap::new();
        let mut all: Vec<f64> = Vec::new();
        while let Some(row) = rows.next().map_err(self.err())? {
            let agency: String = row.get(0).map_err(self.err())?;
            let status: String = row.get(1).map_err(self.err())?;
            let sent: Option<i64> = row.get(2).map_err(self.err())?;
            let ack: Option<i64> = row.get(3).map_err(self.err())?;
            let scene: Option<i64> = row.get(4).map_err(self.err())?;
            let answered: Option<i64> = row.get(5).map_err(self.err())?;
            let a = by.entry(agency).or_default();
            a.tickets += 1;
            a.closed += u64::from(status == "closed");
            a.cancelled += u64::from(status == "cancelled");
            let secs = |x: i64, y: i64| (x - y).max(0) as f64 / 1000.0;
            if let (Some(s), Some(ans)) = (sent, answered) {
                a.dispatch.push(secs(s, ans));
                all.push(secs(s, ans));
            }
            if let (Some(k), Some(s)) = (ack, sent) {
                a.ack.push(secs(k, s));
            }
            if let (Some(o), Some(s)) = (scene, sent) {
                a.scene.push(secs(o, s));
            }
        }
        let in_60 = |v: &[f64]| {
            share(
                v.iter().filter(|x| **x <= 60.0).count() as u64,
                v.len() as u64,
            )
        };
        let mut out = ReportDispatch {
            tickets: by.values().map(|a| a.tickets).sum(),
            within_60s: in_60(&all),
            mean_answer_to_dispatch_s: mean(&all),
            by_agency: BTreeMap::new(),
        };
        for (k, mut a) in by {
            out.by_agency.insert(
                k,
                ReportAgency {
                    tickets: a.tickets,
                    closed: a.closed,
                    cancelled: a.cancelled,
                    mean_answer_to_dispatch_s: mean(&a.dispatch),
                    within_60s: in_60(&a.dispatch),
                    p90_answer_to_dispatch_s: quantile(&mut a.dispatch, 0.9),
                    mean_to_acknowledge_s: mean(&a.ack),
                    mean_to_on_scene_s: mean(&a.scene),
                },
            );
        }
        Ok(out)
    }
}
