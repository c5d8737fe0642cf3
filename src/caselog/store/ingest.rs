//! One journal record folded into the store's tables: the case's row, where
//! the record is in the journal, its tickets, the caller's pranks.

use crate::caselog::record::{number_key, EndReason, Kind, Record, TicketStatus, CALLBACK_DONE};
use rusqlite::{params, Connection, OptionalExtension};

fn rid(c: &Connection, id: &str) -> rusqlite::Result<i64> {
    if let Some(r) = c
        .prepare_cached("SELECT rid FROM cases WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
    {
        return Ok(r);
    }
    // A record of a case whose `opened` is not (yet) seen: still a row.
    c.prepare_cached("INSERT INTO cases(id) VALUES (?1)")?
        .execute([id])?;
    Ok(c.last_insert_rowid())
}

pub(super) fn record(c: &Connection, at: u64, len: u32, r: &Record) -> rusqlite::Result<()> {
    let Some(case) = &r.case else {
        return Ok(());
    };
    let t = r.time_ms as i64;
    let id = case.as_str();
    if let Kind::Opened {
        caller,
        called,
        service,
        trunk,
        from_seat,
    } = &r.kind
    {
        c.prepare_cached(
            "INSERT INTO cases(id, opened_ms, caller, number, called, service, trunk, from_seat)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(id) DO UPDATE SET opened_ms = excluded.opened_ms, caller = excluded.caller,
               number = excluded.number, called = excluded.called, service = excluded.service,
               trunk = excluded.trunk, from_seat = excluded.from_seat",
        )?
        .execute(params![
            id,
            t,
            caller,
            number_key(caller),
            called,
            service,
            trunk,
            from_seat
        ])?;
    }
    let rid = rid(c, id)?;
    c.prepare_cached("INSERT OR IGNORE INTO spans(rid, offset, len) VALUES (?1, ?2, ?3)")?
        .execute(params![rid, at as i64, len])?;
    let update = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<()> {
        c.prepare_cached(sql)?.execute(p)?;
        Ok(())
    };
    match &r.kind {
        Kind::Queued { queue, priority } => update(
            "UPDATE cases SET queue = ?2, priority = ?3 WHERE rid = ?1",
            &[&rid, queue, priority],
        )?,
        Kind::Offered { seat } => update(
            "UPDATE cases SET offers = offers + 1,
               seat = CASE WHEN answered_ms IS NULL THEN ?2 ELSE seat END WHERE rid = ?1",
            &[&rid, seat],
        )?,
        Kind::Answered { seat } => update(
            "UPDATE cases SET answered_ms = ?2, seat = ?3 WHERE rid = ?1",
            &[&rid, &t, seat],
        )?,
        Kind::Overflowed { target } => update(
            "UPDATE cases SET overflowed_to = ?2 WHERE rid = ?1",
            &[&rid, target],
        )?,
        Kind::Ended {
            reason,
            wait_ms,
            talk_ms,
            seat,
            queue,
        } => {
            let due = i64::from(*reason == EndReason::Abandoned);
            update(
                "UPDATE cases SET ended_ms = ?2, reason = ?3, wait_ms = ?4, talk_ms = ?5,
                   seat = COALESCE(seat, ?6), queue = COALESCE(?7, queue),
                   callback_due = CASE WHEN callback_done_ms IS NULL AND ?8 = 1 THEN 1 ELSE callback_due END
                 WHERE rid = ?1",
                &[
                    &rid,
                    &t,
                    &reason.as_str(),
                    &(*wait_ms as i64),
                    &(*talk_ms as i64),
                    seat,
                    queue,
                    &due,
                ],
            )?
        }
        Kind::Outcome { mark, .. } => {
            update(
                "UPDATE cases SET marks = CASE WHEN marks = '' THEN ?2 ELSE marks || ',' || ?2 END
                 WHERE rid = ?1",
                &[&rid, mark],
            )?;
            if mark == "prank" {
                prank(c, rid, t)?;
            }
        }
        Kind::Classified {
            class, category, ..
        } => {
            update(
                "UPDATE cases SET class = ?2, category = ?3,
                   callback_due = CASE WHEN ?2 = 'dropped' AND callback_done_ms IS NULL THEN 1 ELSE callback_due END
                 WHERE rid = ?1",
                &[&rid, class, category],
            )?;
            if class == "prank" {
                prank(c, rid, t)?;
            }
        }
        Kind::Note { text, by } => update(
            "UPDATE cases SET notes = CASE WHEN notes = '' THEN ?2 ELSE notes || char(10) || ?2 END
             WHERE rid = ?1",
            &[&rid, &format!("{by}: {text}")],
        )?,
        // Text messages are searched like notes.
        Kind::Text { from, by, text } => update(
            "UPDATE cases SET notes = CASE WHEN notes = '' THEN ?2 ELSE notes || char(10) || ?2 END
             WHERE rid = ?1",
            &[
                &rid,
                &format!("[text] {}: {text}", by.as_deref().unwrap_or(from)),
            ],
        )?,
        Kind::Located {
            address,
            lat,
            lon,
            source,
            ..
        } => update(
            "UPDATE cases SET address = ?2, lat = ?3, lon = ?4, loc_source = ?5 WHERE rid = ?1",
            &[&rid, address, lat, lon, source],
        )?,
        Kind::Ready { .. } => update("UPDATE cases SET ready = 1 WHERE rid = ?1", &[&rid])?,
        Kind::Recorded { path, sha256, .. } => update(
            "UPDATE cases SET recording = ?2, recording_sha256 = ?3 WHERE rid = ?1",
            &[&rid, path, sha256],
        )?,
        Kind::RecordingFailed { why } => update(
            "UPDATE cases SET recording = ?2 WHERE rid = ?1",
            &[&rid, &format!("failed: {why}")],
        )?,
        Kind::Ticket {
            agency,
            status,
            by,
            note,
            brief,
        } => {
            let step = serde_json::json!({
                "status": status.as_str(), "at_ms": t, "by": by, "note": note,
            })
            .to_string()
                + "\n";
            if *status == TicketStatus::Sent {
                let brief = brief.as_ref().and_then(|b| serde_json::to_string(b).ok());
                c.prepare_cached(
                    "INSERT INTO tickets(rid, agency, status, sent_ms, history, brief)
                     VALUES (?1, ?2, 'sent', ?3, ?4, ?5)
                     ON CONFLICT(rid, agency) DO UPDATE SET status = 'sent', sent_ms = excluded.sent_ms,
                       acknowledged_ms = NULL, on_scene_ms = NULL, closed_ms = NULL, cancelled_ms = NULL,
                       history = history || excluded.history, brief = excluded.brief",
                )?
                .execute(params![rid, agency, t, step, brief])?;
            } else {
                let column = match status {
                    TicketStatus::Acknowledged => "acknowledged_ms",
                    TicketStatus::OnScene => "on_scene_ms",
                    TicketStatus::Closed => "closed_ms",
                    _ => "cancelled_ms",
                };
                let sql = format!(
                    "UPDATE tickets SET status = ?3, {column} = ?4, history = history || ?5
                     WHERE rid = ?1 AND agency = ?2"
                );
                c.prepare_cached(&sql)?
                    .execute(params![rid, agency, status.as_str(), t, step])?;
            }
        }
        Kind::Closed {} => update(
            "UPDATE cases SET closed_ms = ?2 WHERE rid = ?1",
            &[&rid, &t],
        )?,
        Kind::Callback { outcome, .. } => {
            let done = CALLBACK_DONE.contains(&outcome.as_str());
            update(
                "UPDATE cases SET callback_attempts = callback_attempts + 1,
                   callback_due = CASE WHEN ?2 THEN 0 ELSE callback_due END,
                   callback_done_ms = CASE WHEN ?2 THEN ?3 ELSE callback_done_ms END
                 WHERE rid = ?1",
                &[&rid, &done, &t],
            )?
        }
        Kind::Opened { .. }
        | Kind::CallInfo(_)
        | Kind::Lost { .. }
        | Kind::Suggested { .. }
        | Kind::Digit { .. }
        | Kind::Media { .. }
        | Kind::Boot { .. }
        | Kind::Seat { .. }
        | Kind::Unknown => {}
    }
    Ok(())
}

fn prank(c: &Connection, rid: i64, t: i64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO pranks(number, caller, at_ms) SELECT number, caller, ?2 FROM cases WHERE rid = ?1",
    )?
    .execute(params![rid, t])?;
    Ok(())
}
