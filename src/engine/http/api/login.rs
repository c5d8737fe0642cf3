//! Signing in and out.

use super::*;

// ---------------------------------------------------------------- session

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Login {
    user: String,
    password: String,
}

pub(super) fn me_json(state: &AppState, s: &Session) -> Value {
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

pub(super) fn limited(wait: Duration) -> ApiError {
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

pub(super) async fn login(
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
        nonce: crate::engine::http::session::nonce()
            .map_err(|_| ApiError::unavailable("no randomness for a session"))?,
    };
    // Over HTTPS the cookie is never sent in the clear (Secure).
    let secure = if state.cfg.http.https { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
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

pub(super) async fn logout(State(state): St, Acting(s): Acting) -> Response {
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

pub(super) async fn me(State(state): St, s: Session) -> axum::Json<Value> {
    axum::Json(me_json(&state, &s))
}
