//! The console API (`/api/...`), the pages and `/metrics`. Every answer
//! that is not a success is a 4xx/5xx with a JSON body
//! `{"error": code, "message": text}`; nothing a client sends can panic
//! the server.

mod act;
mod login;
mod read;

use super::feed::{queue_out, seat_json, seat_out, with_seq};
use super::session::{cookie_value, Ticket, COOKIE};
use super::store;
use super::{sse, wall_ms, web, AppState, CommandMsg, Viewer};
use crate::caselog::store::{read_spans, CaseRow, CaseSearch, Report, TicketRow};
use crate::caselog::{Brief, BriefNote, CaseId, TicketStatus};
use crate::operator::{Actor, Command, CommandError, Done, Role, CALLBACK_OUTCOMES, CLASSES};
use crate::view::{CaseView, View};
use act::*;
use axum::extract::rejection::PathRejection;
use axum::extract::Query;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use governor::clock::{Clock, DefaultClock};
use login::*;
use read::*;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
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
            CommandError::UnknownSeat
            | CommandError::UnknownCase
            | CommandError::UnknownTicket
            | CommandError::UnknownBan => ApiError::not_found(&m),
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
            Role::Agency { agency } => Viewer::Agency(agency.clone()),
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
        .route("/api/cases", get(search))
        .route("/api/tickets", get(tickets))
        .route("/api/tickets/{case}/{agency}/{action}", post(ticket_action))
        .route("/api/callbacks", get(callbacks))
        .route("/api/report", get(report))
        .route("/api/export", get(export))
        .route("/api/seats/{seat}/{action}", post(seat_action))
        .route("/api/service", post(service))
        .route("/api/bans", get(bans))
        .route("/api/bans/lift", post(lift_ban))
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
        state.metrics.render(&v, &state.stats, &state.journal)
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
