//! The console API (`/api/...`), the pages and `/metrics`. Every answer
//! that is not a success is a 4xx/5xx with a JSON body
//! `{"error": code, "message": text}`; nothing a client sends can panic
//! the server.

use super::feed::{queue_out, seat_json, seat_out, with_seq};
use super::session::{cookie_value, Ticket, COOKIE};
use super::{sse, wall_ms, web, AppState, CommandMsg, Viewer};
use crate::caselog::CaseId;
use crate::operator::{Actor, Command, CommandError, Done, Role, CLASSES};
use crate::view::{caller_number, CaseView, View};
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use governor::clock::{Clock, DefaultClock};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

type St = State<Arc<AppState>>;

/// Largest request body (JSON) taken.
const MAX_BODY: usize = 16 * 1024;
/// How long a command may take in the core before the request gives up.
const COMMAND_WAIT: Duration = Duration::from_secs(5);

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

// ---------------------------------------------------------------- errors

/// An error answer: status, short code, and words for a person.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    state: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            state: None,
        }
    }
    fn unauthenticated(m: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", m)
    }
    fn forbidden(m: &str) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", m)
    }
    fn not_found(m: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", m)
    }
    fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m)
    }
    fn unavailable(m: &str) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code, "message": self.message });
        if let Some(s) = &self.state {
            body["state"] = json!(s);
        }
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> ApiError {
        let m = e.to_string();
        match e {
            CommandError::UnknownSeat | CommandError::UnknownCase | CommandError::UnknownTicket => {
                ApiError::not_found(&m)
            }
            CommandError::NotAllowed => ApiError::forbidden(&m),
            CommandError::Invalid(_) => ApiError::bad_request(m),
            CommandError::WrongState(s) => ApiError {
                state: Some(s),
                ..ApiError::new(StatusCode::CONFLICT, "conflict", m)
            },
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> ApiError {
        ApiError::bad_request(e.body_text())
    }
}

// ---------------------------------------------------------------- extractors

/// A JSON request body: `application/json`, at most [`MAX_BODY`] bytes,
/// the fields the endpoint knows and no others.
pub(crate) struct JsonBody<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media",
                "send JSON (Content-Type: application/json)",
            ));
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("a request body is at most {MAX_BODY} bytes"),
                )
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))
    }
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub actor: Actor,
    pub ticket: Ticket,
}

impl Session {
    fn viewer(&self) -> Viewer {
        match &self.actor.role {
            Role::Supervisor => Viewer::Supervisor,
            Role::Operator { seat } => Viewer::Operator(seat.clone()),
            Role::Agency { .. } => Viewer::Agency,
        }
    }

    fn staff(&self) -> Result<(), ApiError> {
        match self.actor.role {
            Role::Agency { .. } => Err(ApiError::forbidden(
                "agency users see their agency's tickets only",
            )),
            _ => Ok(()),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|h| cookie_value(h, COOKIE))
            .ok_or_else(|| ApiError::unauthenticated("sign in first"))?;
        let ticket = state
            .keys
            .verify(value)
            .ok_or_else(|| ApiError::unauthenticated("the session is not valid; sign in again"))?;
        if ticket.expires_ms <= wall_ms() {
            return Err(ApiError::unauthenticated(
                "the session has expired; sign in again",
            ));
        }
        if state
            .revoked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&ticket.nonce)
        {
            return Err(ApiError::unauthenticated("signed out; sign in again"));
        }
        let role = state
            .users
            .role(&ticket.user)
            .ok_or_else(|| ApiError::unauthenticated("no such user any more"))?;
        Ok(Session {
            actor: Actor {
                user: ticket.user.clone(),
                role,
            },
            ticket,
        })
    }
}

/// A signed-in user making a change: the request carries the session's
/// CSRF token in `X-CSRF-Token`.
pub(crate) struct Acting(Session);

impl FromRequestParts<Arc<AppState>> for Acting {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let s = Session::from_request_parts(parts, state).await?;
        let token = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !state.keys.csrf_ok(&s.ticket.nonce, token) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "missing or wrong X-CSRF-Token (from /api/me)",
            ));
        }
        Ok(Acting(s))
    }
}

fn read_view(state: &AppState) -> std::sync::RwLockReadGuard<'_, View> {
    state.view.read().unwrap_or_else(PoisonError::into_inner)
}

/// A case id from a path: the engine's ids are short and plain.
fn case_id(raw: &str) -> Result<CaseId, ApiError> {
    if raw.is_empty()
        || raw.len() > 64
        || !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::not_found("no such case"));
    }
    Ok(CaseId::from(raw))
}

// ---------------------------------------------------------------- router

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let mut api = Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/config", get(config))
        .route("/api/state", get(state_all))
        .route("/api/events", get(events))
        .route("/api/cases/{case}", get(case_detail))
        .route("/api/cases/{case}/{action}", post(case_action))
        .route("/api/callers/{caller}/history", get(history))
        .route("/api/seats/{seat}/{action}", post(seat_action))
        .route("/api/{*rest}", axum::routing::any(api_not_found));
    if state.metrics_here {
        api = api.route("/metrics", get(metrics));
    }
    api.fallback(pages)
        .method_not_allowed_fallback(not_allowed)
        .layer(axum::middleware::map_response(common_headers))
        .with_state(state)
}

/// `/metrics` alone, on a socket of its own.
pub(crate) fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(api_not_found)
        .with_state(state)
}

async fn common_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

async fn api_not_found(uri: Uri) -> ApiError {
    ApiError::not_found(&format!("no such endpoint: {}", uri.path()))
}

async fn not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

async fn pages(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return not_allowed(method, uri).await.into_response();
    }
    match web::file(uri.path(), &headers) {
        Some(r) => r,
        None => ApiError::not_found("no such page").into_response(),
    }
}

async fn metrics(State(state): St) -> Response {
    let text = {
        let v = read_view(&state);
        state.metrics.render(&v, &state.stats)
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

// ---------------------------------------------------------------- session

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    user: String,
    password: String,
}

fn me_json(state: &AppState, s: &Session) -> Value {
    let (seat, agency) = match &s.actor.role {
        Role::Operator { seat } => (Some(seat.clone()), None),
        Role::Agency { agency } => (None, Some(agency.clone())),
        Role::Supervisor => (None, None),
    };
    let role = match s.actor.role {
        Role::Operator { .. } => "operator",
        Role::Supervisor => "supervisor",
        Role::Agency { .. } => "agency",
    };
    json!({
        "user": s.actor.user,
        "role": role,
        "seat": seat,
        "agency": agency,
        "csrf": state.keys.csrf(&s.ticket.nonce),
        "expires_ms": s.ticket.expires_ms,
    })
}

fn limited(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError {
        retry_after: Some(secs.max(1)),
        ..ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many",
            format!("too many sign-in attempts; try again in {} s", secs.max(1)),
        )
    }
}

async fn login(
    State(state): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(body): JsonBody<Login>,
) -> Result<Response, ApiError> {
    if body.user.is_empty() || body.user.len() > 64 || body.password.len() > 256 {
        return Err(ApiError::bad_request(
            "a user of 1-64 and a password of at most 256 bytes",
        ));
    }
    let clock = DefaultClock::default();
    let check = state
        .login_by_addr
        .check_key(&peer.ip())
        .and_then(|()| state.login_by_user.check_key(&body.user));
    if let Err(not_until) = check {
        state
            .metrics
            .console_logins
            .get_or_create(&vec![("result", "limited".to_string())])
            .inc();
        tracing::warn!(user = %body.user, peer = %peer, "console sign-in refused: too many attempts");
        return Err(limited(not_until.wait_time_from(clock.now())));
    }
    let st = state.clone();
    let (user, password) = (body.user.clone(), body.password);
    let actor = tokio::task::spawn_blocking(move || st.users.check(&user, &password))
        .await
        .map_err(|_| ApiError::unavailable("the sign-in check failed"))?;
    let result = if actor.is_some() { "ok" } else { "refused" };
    state
        .metrics
        .console_logins
        .get_or_create(&vec![("result", result.to_string())])
        .inc();
    let Some(actor) = actor else {
        tracing::warn!(user = %body.user, peer = %peer, "console sign-in refused: wrong user or password");
        return Err(ApiError::unauthenticated("wrong user or password"));
    };
    let hours = state.cfg.http.session_hours;
    let ticket = Ticket {
        user: actor.user.clone(),
        expires_ms: wall_ms() + hours * 3_600_000,
        nonce: super::session::nonce()
            .map_err(|_| ApiError::unavailable("no randomness for a session"))?,
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        state.keys.issue(&ticket),
        hours * 3600
    );
    tracing::info!(user = %actor.user, peer = %peer, "console sign-in");
    let s = Session { actor, ticket };
    let mut res = axum::Json(me_json(&state, &s)).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

async fn logout(State(state): St, Acting(s): Acting) -> Response {
    state
        .revoked
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(s.ticket.nonce.clone(), s.ticket.expires_ms);
    tracing::info!(user = %s.actor.user, "console sign-out");
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("siaga112_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    res
}

async fn me(State(state): St, s: Session) -> axum::Json<Value> {
    axum::Json(me_json(&state, &s))
}

// ---------------------------------------------------------------- reading

async fn config(State(state): St, _s: Session) -> axum::Json<Value> {
    let c = &state.cfg;
    let mut agencies: Vec<Value> = Vec::new();
    for u in &c.users {
        if let Some(a) = &u.agency {
            if !agencies.iter().any(|x| x["id"] == json!(a)) {
                agencies.push(json!({ "id": a, "name": a }));
            }
        }
    }
    axum::Json(json!({
        "classes": CLASSES,
        "categories": c.categories.iter().map(|k| json!({
            "id": k.id, "id_label": k.id_label, "en_label": k.en_label,
        })).collect::<Vec<_>>(),
        "pause_reasons": c.http.pause_reasons,
        "queues": c.queues.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(),
        "seats": c.seats.iter().map(|s| s.user.as_str()).collect::<Vec<_>>(),
        "agencies": agencies,
        "lang": c.http.lang,
        "targets": { "answer_15s": 0.9, "answer_20s": 0.95 },
    }))
}

/// Whether the signed-in user may see case `c`.
fn may_see(s: &Session, c: &CaseView) -> bool {
    match &s.actor.role {
        Role::Supervisor => true,
        Role::Operator { seat } => c.concerns(seat),
        Role::Agency { .. } => false,
    }
}

async fn state_all(State(state): St, s: Session) -> Result<axum::Json<Value>, ApiError> {
    s.staff()?;
    let v = read_view(&state);
    let seats: Vec<_> = v.seats.keys().filter_map(|k| seat_out(&v, k)).collect();
    let queues: Vec<_> = v.queues.keys().filter_map(|k| queue_out(&v, k)).collect();
    let calls: Vec<&CaseView> = v.calls.values().filter(|c| may_see(&s, c)).collect();
    Ok(axum::Json(json!({
        "now_ms": wall_ms(),
        "seq": v.seq,
        "seats": seats,
        "queues": queues,
        "calls": calls,
        "figures": &v.figures,
    })))
}

async fn events(State(state): St, s: Session) -> Result<Response, ApiError> {
    s.staff()?;
    Ok(sse::stream(state.clone(), s.viewer()).into_response())
}

/// The case for `s`: 404 unknown, 403 another seat's.
fn visible_case(v: &View, s: &Session, id: &CaseId) -> Result<Value, ApiError> {
    s.staff()?;
    let c = v
        .case(id)
        .ok_or_else(|| ApiError::not_found("no such case"))?;
    if !may_see(s, c) {
        return Err(ApiError::forbidden("this case was not at your seat"));
    }
    let mut j = with_seq(c, v.seq);
    j["live"] = json!(v.calls.contains_key(id));
    j["records"] = c
        .records
        .iter()
        .filter_map(|r| serde_json::to_value(&**r).ok())
        .collect::<Vec<_>>()
        .into();
    Ok(j)
}

async fn case_detail(
    State(state): St,
    s: Session,
    path: Result<Path<String>, PathRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    let Path(raw) = path?;
    let id = case_id(&raw)?;
    let v = read_view(&state);
    visible_case(&v, &s, &id).map(axum::Json)
}

async fn history(
    State(state): St,
    s: Session,
    path: Result<Path<String>, PathRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    s.staff()?;
    let Path(raw) = path?;
    if raw.is_empty() || raw.len() > 256 {
        return Err(ApiError::bad_request("a caller's number or URI"));
    }
    let number = caller_number(raw.trim()).to_string();
    let v = read_view(&state);
    let (cases, pranks) = v.history(&number);
    Ok(axum::Json(json!({
        "caller": number,
        "cases": cases,
        "pranks": pranks,
    })))
}

// ---------------------------------------------------------------- acting

/// Sends a command to the core and waits for its answer.
async fn command(state: &AppState, by: &Actor, cmd: Command) -> Result<Done, ApiError> {
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
            Err(ApiError::unavailable("the engine did not answer in time"))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    reason: String,
}

async fn seat_action(
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
struct ClassifyBody {
    class: String,
    #[serde(default)]
    category: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationBody {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkBody {
    mark: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

async fn case_action(
    State(state): St,
    Acting(s): Acting,
    path: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Result<axum::Json<Value>, ApiError> {
    let Path((raw, action)) = path?;
    let id = case_id(&raw)?;
    // 404 for a case nobody has, 403 for another seat's, before the body.
    let seat_of_case = {
        let v = read_view(&state);
        visible_case(&v, &s, &id)?;
        v.case(&id).and_then(|c| c.seat.clone())
    };
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
            if req.headers().contains_key(header::CONTENT_TYPE) {
                JsonBody::<Empty>::from_request(req, &()).await?;
            }
            Command::Ready { case: id.clone() }
        }
        "mark" => {
            let JsonBody(b) = JsonBody::<MarkBody>::from_request(req, &()).await?;
            let seat = match &s.actor.role {
                Role::Operator { seat } => seat.clone(),
                _ => seat_of_case.ok_or_else(|| {
                    ApiError::new(StatusCode::CONFLICT, "conflict", "no seat had this call")
                })?,
            };
            Command::Mark {
                seat,
                case: Some(id.clone()),
                mark: b.mark,
            }
        }
        _ => return Err(ApiError::not_found("no such case action")),
    };
    command(&state, &s.actor, cmd).await?;
    let v = read_view(&state);
    visible_case(&v, &s, &id).map(axum::Json)
}
