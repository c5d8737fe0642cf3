//! What the screens read: the configuration, the live state and its
//! events, cases, histories, tickets, searches, reports.

use super::*;

// ---------------------------------------------------------------- reading

pub(super) async fn config(State(state): St, _s: Session) -> axum::Json<Value> {
    let c = &state.cfg;
    axum::Json(json!({
        "classes": CLASSES,
        "categories": c.categories.iter().map(|k| json!({
            "id": k.id, "id_label": k.id_label, "en_label": k.en_label,
        })).collect::<Vec<_>>(),
        "pause_reasons": c.http.pause_reasons,
        "queues": c.queues.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(),
        "seats": c.seats.iter().map(|s| s.user.as_str()).collect::<Vec<_>>(),
        "agencies": c.agencies.iter().map(|a| json!({
            "id": a.id, "name": a.name, "categories": a.categories, "number": a.number,
        })).collect::<Vec<_>>(),
        "ticket_statuses": ["sent", "acknowledged", "on-scene", "closed", "cancelled"],
        "callback_outcomes": CALLBACK_OUTCOMES,
        "lang": c.http.lang,
        "targets": { "answer_15s": 0.9, "answer_20s": 0.95, "dispatch_60s": 0.9 },
    }))
}

/// Whether the signed-in user may see case `c`.
pub(super) fn may_see(s: &Session, c: &CaseView) -> bool {
    match &s.actor.role {
        Role::Supervisor => true,
        // Any operator may call back a caller who got no answer.
        Role::Operator { seat } => c.concerns(seat) || c.callback.is_some(),
        Role::Agency { .. } => false,
    }
}

/// Whether the signed-in user may see ticket `t` (whose case `c` is, if
/// the view still has it).
pub(super) fn may_see_ticket(s: &Session, agency: &str, c: Option<&CaseView>) -> bool {
    match &s.actor.role {
        Role::Supervisor => true,
        Role::Agency { agency: mine } => mine == agency,
        Role::Operator { seat } => c.is_some_and(|c| c.concerns(seat)),
    }
}

pub(super) async fn state_all(State(state): St, s: Session) -> Result<axum::Json<Value>, ApiError> {
    let v = read_view(&state);
    if let Role::Agency { .. } = s.actor.role {
        // Agency staff: their open tickets only; no seats, calls or figures.
        let tickets: Vec<_> = v
            .open_tickets()
            .filter(|t| may_see_ticket(&s, &t.agency, None))
            .collect();
        return Ok(axum::Json(json!({
            "now_ms": wall_ms(),
            "seq": v.seq,
            "seats": [], "queues": [], "calls": [],
            "tickets": tickets,
            "figures": null,
        })));
    }
    let seats: Vec<_> = v.seats.keys().filter_map(|k| seat_out(&v, k)).collect();
    let queues: Vec<_> = v.queues.keys().filter_map(|k| queue_out(&v, k)).collect();
    let calls: Vec<&CaseView> = v.calls.values().filter(|c| may_see(&s, c)).collect();
    let tickets: Vec<_> = v
        .open_tickets()
        .filter(|t| may_see_ticket(&s, &t.agency, v.case(&CaseId::from(t.case.as_str()))))
        .collect();
    Ok(axum::Json(json!({
        "now_ms": wall_ms(),
        "seq": v.seq,
        "seats": seats,
        "queues": queues,
        "calls": calls,
        "tickets": tickets,
        "callbacks": v.callbacks_due.len(),
        "figures": &v.figures,
        "bans": if matches!(s.actor.role, Role::Supervisor) { bans_in_force(&v) } else { Vec::new() },
        "bans_total": if matches!(s.actor.role, Role::Supervisor) { v.bans.total } else { 0 },
    })))
}

pub(super) async fn events(State(state): St, s: Session) -> Result<Response, ApiError> {
    Ok(sse::stream(state.clone(), s.viewer()).into_response())
}

/// A case's JSON: the view's object, `live`, and its records.
fn case_json(c: &CaseView, seq: u64, live: bool) -> Value {
    let mut j = with_seq(c, seq);
    j["live"] = json!(live);
    j["records"] = c
        .records
        .iter()
        .filter_map(|r| serde_json::to_value(&**r).ok())
        .collect::<Vec<_>>()
        .into();
    j
}

/// A case of an earlier day, folded from its records (read back from the
/// journal where the store says they are) as the view folds live ones.
pub(super) async fn stored_case(
    state: &AppState,
    id: &CaseId,
) -> Result<Option<CaseView>, ApiError> {
    let Some(pool) = &state.store else {
        return Ok(None);
    };
    let key = id.as_str().to_string();
    let records = store::query(pool, move |r, journal| {
        let spans = r.spans(&key)?;
        Ok(read_spans(journal, &spans).unwrap_or_default())
    })
    .await
    .map_err(|_| ApiError::unavailable("the case store is not available"))?;
    if records.is_empty() {
        return Ok(None);
    }
    let mut v = View::with_offset(state.cfg.http.utc_offset_h);
    for r in records {
        v.record(&Arc::new(r));
    }
    Ok(v.calls.remove(id).or_else(|| v.ended.remove(id)))
}

/// The case for `s` (the view's, else the store's): 404 unknown, 403
/// another seat's.
pub(super) async fn visible_case(
    state: &AppState,
    s: &Session,
    id: &CaseId,
) -> Result<Value, ApiError> {
    s.staff()?;
    let found = {
        let v = read_view(state);
        v.case(id)
            .map(|c| (may_see(s, c), case_json(c, v.seq, v.calls.contains_key(id))))
    };
    let (ok, j) = match found {
        Some(x) => x,
        None => {
            let c = stored_case(state, id)
                .await?
                .ok_or_else(|| ApiError::not_found("no such case"))?;
            (may_see(s, &c), case_json(&c, 0, false))
        }
    };
    if !ok {
        return Err(ApiError::forbidden("this case was not at your seat"));
    }
    Ok(j)
}

pub(super) async fn case_detail(
    State(state): St,
    s: Session,
    path: Result<Path<String>, PathRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    let Path(raw) = path?;
    let id = case_id(&raw)?;
    visible_case(&state, &s, &id).await.map(axum::Json)
}

fn no_store() -> ApiError {
    ApiError::unavailable("the case store is not available")
}

pub(super) async fn history(
    State(state): St,
    s: Session,
    path: Result<Path<String>, PathRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    s.staff()?;
    let Path(raw) = path?;
    if raw.is_empty() || raw.len() > 256 {
        return Err(ApiError::bad_request("a caller's number or URI"));
    }
    let number = crate::caselog::number_key(raw.trim());
    let pool = state.store.as_ref().ok_or_else(no_store)?;
    let n = number.clone();
    let (rows, pranks) = store::query(pool, move |r, _| r.history(&n, 20))
        .await
        .map_err(|_| no_store())?;
    let cases: Vec<Value> = rows
        .iter()
        .map(|c| {
            json!({
                "case": c.case, "opened_ms": c.opened_ms, "class": c.class,
                "category": c.category, "reason": c.reason, "marks": c.marks,
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "caller": number,
        "cases": cases,
        "pranks": pranks,
    })))
}

/// A date (`YYYY-MM-DD`, the centre's day) as unix ms of its midnight.
/// `from`/`to` (inclusive days) as a [from, to) range in ms; today when
/// absent; at most 366 days.
pub(super) fn range(state: &AppState, q: &HashMap<String, String>) -> Result<(u64, u64), ApiError> {
    let today = {
        let v = read_view(state);
        v.figures.date.clone()
    };
    let day = |k: &str| q.get(k).map_or(today.as_str(), String::as_str).to_string();
    crate::caselog::store::day_range(&day("from"), &day("to"), state.cfg.http.utc_offset_h)
        .map_err(ApiError::bad_request)
}

/// `GET /api/bans` (supervisors): the password-guessing bans in force.
pub(super) async fn bans(State(state): St, s: Session) -> Result<axum::Json<Value>, ApiError> {
    supervisor(&s)?;
    Ok(axum::Json(
        json!({ "now_ms": wall_ms(), "bans": bans_in_force(&read_view(&state)) }),
    ))
}

/// The bans the view holds that have not ended yet.
fn bans_in_force(v: &View) -> Vec<&crate::operator::Ban> {
    let now = wall_ms();
    v.bans.bans.iter().filter(|b| b.until_ms > now).collect()
}

fn supervisor(s: &Session) -> Result<(), ApiError> {
    match s.actor.role {
        Role::Supervisor => Ok(()),
        _ => Err(ApiError::forbidden("for supervisors")),
    }
}

pub(super) async fn tickets(
    State(state): St,
    s: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, ApiError> {
    let agency = match &s.actor.role {
        Role::Agency { agency } => Some(agency.clone()),
        _ => q.get("agency").cloned().filter(|a| !a.is_empty()),
    };
    let all = match q.get("status").map(String::as_str) {
        None | Some("open") => false,
        Some("all") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "status {other:?}: open or all"
            )))
        }
    };
    if !all {
        let v = read_view(&state);
        let list: Vec<Value> = v
            .open_tickets()
            .rev()
            .filter(|t| agency.as_deref().is_none_or(|a| a == t.agency))
            .filter(|t| may_see_ticket(&s, &t.agency, v.case(&CaseId::from(t.case.as_str()))))
            .filter_map(|t| serde_json::to_value(t).ok())
            .collect();
        return Ok(axum::Json(json!({ "tickets": list })));
    }
    let (from, to) = range(&state, &q)?;
    let pool = state.store.as_ref().ok_or_else(no_store)?;
    let seat = match &s.actor.role {
        Role::Operator { seat } => Some(seat.clone()),
        _ => None,
    };
    let rows = store::query(pool, move |r, _| {
        let rows = r.tickets(agency.as_deref(), false, Some((from, to)))?;
        let Some(seat) = seat else { return Ok(rows) };
        // An operator: the tickets of cases its seat had.
        let mut mine = Vec::new();
        for t in rows {
            if r.case(&t.case)?.is_some_and(|c| {
                c.seat.as_deref() == Some(&seat) || c.from_seat.as_deref() == Some(&seat)
            }) {
                mine.push(t);
            }
        }
        Ok(mine)
    })
    .await
    .map_err(|_| no_store())?;
    Ok(axum::Json(json!({ "tickets": rows })))
}

pub(super) async fn callbacks(State(state): St, s: Session) -> Result<axum::Json<Value>, ApiError> {
    s.staff()?;
    let (mut list, missing) = {
        let v = read_view(&state);
        let mut list = Vec::new();
        let mut missing = Vec::new();
        for id in &v.callbacks_due {
            match v.case(id) {
                Some(c) => list.push(json!({
                    "case": c.case, "caller": c.caller, "opened_ms": c.opened_ms,
                    "ended_ms": c.ended_ms, "reason": c.reason, "queue": c.queue,
                    "class": c.class,
                    "attempts": c.callback.as_ref().map(|b| b.attempts.clone()).unwrap_or_default(),
                })),
                None => missing.push(id.as_str().to_string()),
            }
        }
        (list, missing)
    };
    if let (Some(pool), false) = (&state.store, missing.is_empty()) {
        let rows = store::query(pool, move |r, _| {
            let mut out = Vec::new();
            for id in &missing {
                if let Some(c) = r.case(id)? {
                    out.push(c);
                }
            }
            Ok(out)
        })
        .await
        .unwrap_or_default();
        for c in rows {
            list.push(json!({
                "case": c.case, "caller": c.caller, "opened_ms": c.opened_ms,
                "ended_ms": c.ended_ms, "reason": c.reason, "queue": c.queue,
                "class": c.class, "attempts": [],
            }));
        }
    }
    list.sort_by_key(|c| c["opened_ms"].as_u64().unwrap_or(0));
    Ok(axum::Json(json!({ "callbacks": list })))
}

/// The search's filters from the query string.
fn search_of(
    state: &AppState,
    s: &Session,
    q: &HashMap<String, String>,
) -> Result<CaseSearch, ApiError> {
    let (from_ms, to_ms) = range(state, q)?;
    let text = |k: &str| {
        q.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let limit = match q.get("limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::bad_request("limit is 1 to 500"))?,
        None => 50,
    };
    if text("text").is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::bad_request(
            "a search text is at most 200 characters",
        ));
    }
    Ok(CaseSearch {
        from_ms,
        to_ms,
        number: text("caller").map(|c| crate::caselog::number_key(&c)),
        class: text("class"),
        category: text("category"),
        agency: text("agency"),
        text: text("text"),
        seat: match &s.actor.role {
            Role::Operator { seat } => Some(seat.clone()),
            _ => None,
        },
        before: None,
        limit,
    })
}

fn summary(c: &CaseRow, tickets: &[TicketRow]) -> Value {
    json!({
        "case": c.case, "opened_ms": c.opened_ms, "caller": c.caller, "service": c.service,
        "queue": c.queue, "seat": c.seat, "class": c.class, "category": c.category,
        "reason": c.reason, "wait_ms": c.wait_ms, "talk_ms": c.talk_ms, "ready": c.ready,
        "closed_ms": c.closed_ms, "address": c.address,
        "tickets": tickets.iter().map(|t| json!({"agency": t.agency, "status": t.status})).collect::<Vec<_>>(),
    })
}

pub(super) async fn search(
    State(state): St,
    s: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, ApiError> {
    s.staff()?;
    let mut search = search_of(&state, &s, &q)?;
    let pool = state.store.as_ref().ok_or_else(no_store)?;
    let before = q.get("before").cloned();
    let rows = store::query(pool, move |r, _| {
        if let Some(b) = before {
            if let Some(c) = r.case(&b)? {
                search.before = Some((c.opened_ms.unwrap_or(0), c.case));
            }
        }
        let (rows, more) = r.search(&search)?;
        let mut out = Vec::with_capacity(rows.len());
        for c in &rows {
            out.push(summary(c, &r.tickets_of(&c.case)?));
        }
        Ok((out, more))
    })
    .await
    .map_err(|_| no_store())?;
    Ok(axum::Json(json!({ "cases": rows.0, "more": rows.1 })))
}

pub(super) async fn report(
    State(state): St,
    s: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Report>, ApiError> {
    supervisor(&s)?;
    let (from, to) = range(&state, &q)?;
    let off = state.cfg.http.utc_offset_h;
    let pool = state.store.as_ref().ok_or_else(no_store)?;
    let rep = store::query(pool, move |r, _| r.report(from, to, off))
        .await
        .map_err(|_| no_store())?;
    Ok(axum::Json(rep))
}

pub(super) async fn export(
    State(state): St,
    s: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    supervisor(&s)?;
    let csv = match q.get("format").map(String::as_str) {
        None | Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format {other:?}: csv or json"
            )))
        }
    };
    let mut search = search_of(&state, &s, &q)?;
    search.limit = EXPORT_MAX;
    let (from, to) = (
        q.get("from").cloned().unwrap_or_default(),
        q.get("to").cloned().unwrap_or_default(),
    );
    let pool = state.store.as_ref().ok_or_else(no_store)?;
    // `check=1`: only whether this export would be given (the reports page
    // asks before the browser downloads, so that an error is said, not
    // saved as the file), without building it.
    if q.get("check").is_some_and(|v| v == "1") {
        return Ok(axum::http::StatusCode::NO_CONTENT.into_response());
    }
    let rows = store::query(pool, move |r, _| r.search(&search))
        .await
        .map_err(|_| no_store())?
        .0;
    let name = format!("siaga112-cases-{from}-{to}");
    let (body, ct, ext) = if csv {
        (
            crate::caselog::store::cases_csv(&rows)
                .map_err(|e| ApiError::unavailable(&e.to_string()))?,
            "text/csv; charset=utf-8",
            "csv",
        )
    } else {
        (
            serde_json::to_vec(&rows).unwrap_or_default(),
            "application/json",
            "json",
        )
    };
    let mut res = (StatusCode::OK, [(header::CONTENT_TYPE, ct)], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.{ext}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// Cases in one export at most.
const EXPORT_MAX: usize = 200_000;
