//! What people do: seat and case commands, dispatch, ticket steps,
//! call-backs; each one a command to the core, answered after the events
//! it caused.

use super::*;

// ---------------------------------------------------------------- acting

/// Sends a command to the core and waits for its answer.
pub(super) async fn command(state: &AppState, by: &Actor, cmd: Command) -> Result<Done, ApiError> {
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = tokio::sync::oneshot::channel();
    state
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, tx);
    let forget = || {
        state
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    };
    let msg = CommandMsg {
        id,
        by: by.clone(),
        command: cmd,
    };
    if let Err(e) = state.commands.try_send(msg) {
        forget();
        return Err(match e {
            tokio::sync::mpsc::error::TrySendError::Full(_) => {
                ApiError::unavailable("the engine is busy; try again")
            }
            tokio::sync::mpsc::error::TrySendError::Closed(_) => {
                ApiError::unavailable("the engine is stopping")
            }
        });
    }
    let label = |r: &str| {
        state
            .metrics
            .console_commands
            .get_or_create(&vec![("result", r.to_string())])
            .inc();
    };
    match tokio::time::timeout(COMMAND_WAIT, rx).await {
        Ok(Ok(Ok(done))) => {
            label("ok");
            Ok(done)
        }
        Ok(Ok(Err(e))) => {
            let e = ApiError::from(e);
            label(e.code);
            Err(e)
        }
        Ok(Err(_)) => {
            label("unavailable");
            Err(ApiError::unavailable("the engine is stopping"))
        }
        Err(_) => {
            forget();
            label("unavailable");
            if state.journal.failing() {
                // Refusals are answered at once: a wait this long is an
                // action done in the engine whose record is not on disk.
                return Err(ApiError::unavailable(
                    "the case log's disk is not writing: the action is taken and kept in memory, \
                     and recorded when the disk works again (see the screen before repeating it)",
                ));
            }
            Err(ApiError::unavailable("the engine did not answer in time"))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PauseBody {
    reason: String,
}

pub(super) async fn seat_action(
    State(state): St,
    Acting(s): Acting,
    path: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Result<axum::Json<Value>, ApiError> {
    let Path((seat, action)) = path?;
    s.staff()?;
    if state.cfg.seats.iter().all(|x| x.user != seat) {
        return Err(ApiError::not_found("no such seat"));
    }
    if let Role::Operator { seat: own } = &s.actor.role {
        if *own != seat {
            return Err(ApiError::forbidden("an operator acts on its own seat only"));
        }
    }
    let cmd = match action.as_str() {
        "pause" => {
            let JsonBody(b) = JsonBody::<PauseBody>::from_request(req, &()).await?;
            Command::Pause {
                seat: seat.clone(),
                reason: b.reason,
            }
        }
        "unpause" => Command::Unpause { seat: seat.clone() },
        "logout" => Command::LogOut { seat: seat.clone() },
        _ => return Err(ApiError::not_found("no such seat action")),
    };
    command(&state, &s.actor, cmd).await?;
    let v = read_view(&state);
    seat_json(&v, &seat)
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("no such seat"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClassifyBody {
    class: String,
    #[serde(default)]
    category: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoteBody {
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LocationBody {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MarkBody {
    mark: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Empty {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DispatchBody {
    agency: String,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct StepBody {
    #[serde(default)]
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CallbackBody {
    outcome: String,
    #[serde(default)]
    note: Option<String>,
}

/// What the centre knows of a case, for a ticket.
fn brief_of(c: &CaseView) -> Brief {
    Brief {
        class: c.class.clone(),
        category: c.category.clone(),
        caller: c.caller.clone(),
        address: c.location.as_ref().and_then(|l| l.address.clone()),
        lat: c.location.as_ref().and_then(|l| l.lat),
        lon: c.location.as_ref().and_then(|l| l.lon),
        notes: c
            .notes
            .iter()
            .map(|n| BriefNote {
                by: n.by.clone(),
                at_ms: n.at_ms,
                text: n.text.clone(),
            })
            .collect(),
        opened_ms: c.opened_ms,
        answered_ms: c.answered_ms,
    }
}

/// The case from the view, else the store (a case of an earlier day).
async fn any_case(state: &AppState, id: &CaseId) -> Result<Option<CaseView>, ApiError> {
    let live = read_view(state).case(id).cloned();
    match live {
        Some(c) => Ok(Some(c)),
        None => stored_case(state, id).await,
    }
}

/// A body that may be absent (`{}` or nothing).
async fn optional_body<T: DeserializeOwned + Default>(req: Request) -> Result<T, ApiError> {
    if req.headers().contains_key(header::CONTENT_TYPE) {
        let JsonBody(b) = JsonBody::<T>::from_request(req, &()).await?;
        Ok(b)
    } else {
        Ok(T::default())
    }
}

pub(super) async fn case_action(
    State(state): St,
    Acting(s): Acting,
    path: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Result<axum::Json<Value>, ApiError> {
    let Path((raw, action)) = path?;
    let id = case_id(&raw)?;
    // 404 for a case nobody has, 403 for another seat's, before the body.
    visible_case(&state, &s, &id).await?;
    let case = any_case(&state, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such case"))?;
    let cmd = match action.as_str() {
        "classify" => {
            let JsonBody(b) = JsonBody::<ClassifyBody>::from_request(req, &()).await?;
            Command::Classify {
                case: id.clone(),
                class: b.class,
                category: b.category.filter(|c| !c.is_empty()),
            }
        }
        "note" => {
            let JsonBody(b) = JsonBody::<NoteBody>::from_request(req, &()).await?;
            Command::Note {
                case: id.clone(),
                text: b.text,
            }
        }
        "location" => {
            let JsonBody(b) = JsonBody::<LocationBody>::from_request(req, &()).await?;
            Command::Locate {
                case: id.clone(),
                address: b.address,
                lat: b.lat,
                lon: b.lon,
            }
        }
        "ready" => {
            let Empty {} = optional_body(req).await?;
            Command::Ready { case: id.clone() }
        }
        "mark" => {
            let JsonBody(b) = JsonBody::<MarkBody>::from_request(req, &()).await?;
            let seat = match &s.actor.role {
                Role::Operator { seat } => seat.clone(),
                _ => case.seat.clone().ok_or_else(|| {
                    ApiError::new(StatusCode::CONFLICT, "conflict", "no seat had this call")
                })?,
            };
            Command::Mark {
                seat,
                case: Some(id.clone()),
                mark: b.mark,
            }
        }
        "dispatch" => {
            let JsonBody(b) = JsonBody::<DispatchBody>::from_request(req, &()).await?;
            if !state.cfg.agencies.iter().any(|a| a.id == b.agency) {
                return Err(ApiError::not_found("no such agency"));
            }
            let agency = b.agency.clone();
            let cmd = Command::Dispatch {
                case: id.clone(),
                agency: b.agency,
                note: b.note,
                brief: brief_of(&case),
            };
            command(&state, &s.actor, cmd).await?;
            return ticket_json(&state, &id, &agency);
        }
        "accept" => {
            let Empty {} = optional_body(req).await?;
            Command::AcceptText { case: id.clone() }
        }
        "text" => {
            let JsonBody(b) = JsonBody::<NoteBody>::from_request(req, &()).await?;
            Command::SendText {
                case: id.clone(),
                text: b.text,
            }
        }
        "end-text" => {
            let Empty {} = optional_body(req).await?;
            Command::EndText { case: id.clone() }
        }
        "callback" => {
            let JsonBody(b) = JsonBody::<CallbackBody>::from_request(req, &()).await?;
            Command::Callback {
                case: id.clone(),
                outcome: b.outcome,
                note: b.note,
            }
        }
        _ => return Err(ApiError::not_found("no such case action")),
    };
    command(&state, &s.actor, cmd).await?;
    visible_case(&state, &s, &id).await.map(axum::Json)
}

/// A ticket as the view has it now.
fn ticket_json(
    state: &AppState,
    case: &CaseId,
    agency: &str,
) -> Result<axum::Json<Value>, ApiError> {
    let v = read_view(state);
    v.tickets
        .get(&(case.clone(), agency.to_string()))
        .and_then(|t| serde_json::to_value(t).ok())
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("no such ticket"))
}

pub(super) async fn ticket_action(
    State(state): St,
    Acting(s): Acting,
    path: Result<Path<(String, String, String)>, PathRejection>,
    req: Request,
) -> Result<axum::Json<Value>, ApiError> {
    let Path((raw, agency, action)) = path?;
    let id = case_id(&raw)?;
    let status = TicketStatus::from_action(&action).ok_or_else(|| {
        ApiError::not_found("no such ticket action (acknowledge, on-scene, close, cancel)")
    })?;
    if let Role::Agency { agency: mine } = &s.actor.role {
        if *mine != agency {
            return Err(ApiError::forbidden("another agency's ticket"));
        }
    }
    let b: StepBody = optional_body(req).await?;
    let cmd = Command::TicketStep {
        case: id.clone(),
        agency: agency.clone(),
        status,
        note: b.note,
    };
    command(&state, &s.actor, cmd).await?;
    ticket_json(&state, &id, &agency)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServiceBody {
    major_incident: bool,
}

/// `POST /api/service {"major_incident": true}`: the supervisor declares a
/// major incident (the network's emergency-ServiceState follows).
pub(super) async fn service(
    State(state): St,
    Acting(s): Acting,
    req: Request,
) -> Result<axum::Json<Value>, ApiError> {
    let JsonBody(b) = JsonBody::<ServiceBody>::from_request(req, &()).await?;
    let cmd = Command::MajorIncident {
        on: b.major_incident,
    };
    command(&state, &s.actor, cmd).await?;
    Ok(axum::Json(json!({ "major_incident": b.major_incident })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LiftBody {
    kind: String,
    key: String,
}

/// `POST /api/bans/lift {"kind": "source"|"user", "key": "..."}`: the
/// supervisor ends a password-guessing ban (404 when none is in force).
pub(super) async fn lift_ban(
    State(state): St,
    Acting(s): Acting,
    req: Request,
) -> Result<axum::Json<Value>, ApiError> {
    let JsonBody(b) = JsonBody::<LiftBody>::from_request(req, &()).await?;
    let kind = match b.kind.as_str() {
        "source" => crate::security::BanKind::Source,
        "user" => crate::security::BanKind::User,
        _ => return Err(ApiError::bad_request("kind is \"source\" or \"user\"")),
    };
    if b.key.is_empty() || b.key.len() > 128 {
        return Err(ApiError::bad_request("key is 1 to 128 characters"));
    }
    let cmd = Command::LiftBan {
        kind,
        key: b.key.clone(),
    };
    command(&state, &s.actor, cmd).await?;
    Ok(axum::Json(
        json!({ "lifted": { "kind": b.kind, "key": b.key } }),
    ))
}
