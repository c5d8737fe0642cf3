//! `GET /api/events`: the live stream. `hello` first (the browser then
//! fetches `/api/state`), then every seat, queue, call and figures change
//! the viewer may see; `hello` again if it fell too far behind; a `ping`
//! every 15 s so a browser can tell a dead connection from a quiet one.

use super::{AppState, Msg, Viewer};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::json;
use std::convert::Infallible;
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};

/// Counts the open streams for `/metrics`.
struct Open(Arc<AppState>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.metrics.console_sessions.dec();
    }
}

struct Sub {
    rx: broadcast::Receiver<Arc<Msg>>,
    who: Viewer,
    hello: bool,
    open: Open,
}

fn hello(state: &AppState) -> SseEvent {
    let seq = state
        .view
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .seq;
    SseEvent::default()
        .event("hello")
        .retry(Duration::from_secs(2))
        .data(json!({ "now_ms": super::wall_ms(), "seq": seq }).to_string())
}

pub(crate) fn stream(
    state: Arc<AppState>,
    who: Viewer,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    state.metrics.console_sessions.inc();
    let sub = Sub {
        rx: state.bus.subscribe(),
        who,
        hello: true,
        open: Open(state),
    };
    let s = futures_util::stream::unfold(sub, |mut sub| async move {
        if sub.hello {
            sub.hello = false;
            let e = hello(&sub.open.0);
            return Some((Ok(e), sub));
        }
        loop {
            match sub.rx.recv().await {
                Ok(m) if sub.who.sees(&m.audience) => {
                    let e = SseEvent::default().event(m.event).data(&m.data);
                    return Some((Ok(e), sub));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "a console stream fell behind: hello again");
                    let e = hello(&sub.open.0);
                    return Some((Ok(e), sub));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(s).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .event(SseEvent::default().event("ping").data("{}")),
    )
}
