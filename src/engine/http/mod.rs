//! The console and `/metrics`: an HTTP server on a thread and runtime of its
//! own, which never touches the core. People's commands go to the run loop
//! as [`CommandMsg`]s (becoming `Input::Command`); the core's events and its
//! answers come back as one ordered [`Feed`], folded into a [`View`] here and
//! fanned out to the browsers over Server-Sent Events. Because an answer
//! comes down the same feed after the events it caused, an HTTP reply
//! always shows the change it made.
//!
//! The thread runs at a lower priority than the SIP loop: a busy console
//! slows the console, not the calls.

mod api;
mod feed;
mod https;
mod metrics;
mod security_metrics;
pub mod session;
mod sse;
mod store;
pub mod users;
mod web;

use super::EngineStats;
use crate::caselog::{JournalHandle, Record};
use crate::config::Config;
use crate::operator::{Actor, Command, CommandError, Done, Event};
use crate::view::View;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use tokio::sync::{broadcast, mpsc, oneshot};

/// A person's command for the core.
#[derive(Debug)]
pub struct CommandMsg {
    pub id: u64,
    pub by: Actor,
    pub command: Command,
}

/// What the run loop tells the console, in the core's order.
#[derive(Debug)]
pub enum Feed {
    Events(Vec<Event>),
    /// A command's answer, given to its request once the journal has made
    /// durable the first `after` records (all the command wrote): an action
    /// the console was told is done survives a crash.
    Reply {
        id: u64,
        result: Result<Done, CommandError>,
        after: u64,
    },
}

/// Commands waiting in the run loop's channel at most; more get 503.
const COMMAND_QUEUE: usize = 256;
/// SSE messages a slow browser may fall behind by before it is told to
/// fetch the state again.
const BUS: usize = 4096;

/// Who is watching an event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Viewer {
    Supervisor,
    Operator(String),
    Agency(String),
}

/// Who an SSE message is for.
#[derive(Debug, Clone)]
pub(crate) enum Audience {
    /// Operators and supervisors (seats, queues, figures, call-backs).
    Staff,
    /// Supervisors only (bans).
    Supervisors,
    /// Supervisors, and the operators of these seats (a call's events).
    Seats(Vec<Arc<str>>),
    /// A ticket: its agency's users, supervisors, and the operators of
    /// these seats (those that had the case).
    Ticket {
        agency: String,
        seats: Vec<Arc<str>>,
    },
}

impl Viewer {
    pub(crate) fn sees(&self, a: &Audience) -> bool {
        match (self, a) {
            (Viewer::Supervisor, _) => true,
            (Viewer::Agency(mine), Audience::Ticket { agency, .. }) => mine == agency,
            (Viewer::Agency(_), _) | (Viewer::Operator(_), Audience::Supervisors) => false,
            (Viewer::Operator(_), Audience::Staff) => true,
            (Viewer::Operator(seat), Audience::Seats(s) | Audience::Ticket { seats: s, .. }) => {
                s.iter().any(|x| **x == **seat)
            }
        }
    }
}

/// One Server-Sent Event, serialised once for every browser.
#[derive(Debug)]
pub(crate) struct Msg {
    pub event: &'static str,
    pub data: String,
    pub audience: Audience,
}

/// What the handlers share.
pub(crate) struct AppState {
    pub cfg: Arc<Config>,
    pub view: RwLock<View>,
    pub bus: broadcast::Sender<Arc<Msg>>,
    pub commands: mpsc::Sender<CommandMsg>,
    pub pending: Mutex<HashMap<u64, oneshot::Sender<Result<Done, CommandError>>>>,
    pub next_id: AtomicU64,
    pub keys: session::Keys,
    pub users: users::Directory,
    pub login_by_user: DefaultKeyedRateLimiter<String>,
    pub login_by_addr: DefaultKeyedRateLimiter<std::net::IpAddr>,
    /// Sessions signed out before they expired: nonce -> expiry (ms).
    pub revoked: Mutex<HashMap<String, u64>>,
    pub metrics: metrics::Metrics,
    pub stats: Arc<EngineStats>,
    pub figures_dirty: AtomicBool,
    /// /metrics is served on the console's socket (no metrics_listen).
    pub metrics_here: bool,
    /// The query store (histories, searches, reports, tickets of earlier days).
    pub store: Option<Arc<store::StorePool>>,
    /// How far the journal is durable (answers wait for it).
    pub journal: crate::caselog::JournalHandle,
    /// Woken at each journal commit.
    pub committed: tokio::sync::Notify,
}

/// The running console, as the run loop holds it.
pub struct HttpHandle {
    pub feed: mpsc::UnboundedSender<Feed>,
    pub commands: mpsc::Receiver<CommandMsg>,
    /// Where the console listens.
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HttpHandle {
    /// Stops the server and waits for its thread.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("console thread panicked");
            }
        }
    }
}

impl Drop for HttpHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr).map_err(|e| {
        std::io::Error::new(e.kind(), format!("console: cannot listen on {addr}: {e}"))
    })?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Lowers the calling thread's priority (the SIP loop comes first).
fn lower_priority() {
    // SAFETY: setpriority on this thread's id, no memory passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, 5);
    }
}

/// Starts the console if `[http]` asks for one: binds its sockets (an
/// error here stops the engine from starting), folds the journal's last
/// days into the view, and runs the server on its own thread.
pub fn start(
    cfg: Arc<Config>,
    seed: &[Record],
    store: Option<std::path::PathBuf>,
    journal: &JournalHandle,
    stats: Arc<EngineStats>,
) -> std::io::Result<Option<HttpHandle>> {
    let Some(listen) = cfg.http.listen else {
        return Ok(None);
    };
    let listener = bind(listen)?;
    let addr = listener.local_addr()?;
    let tls = match (&cfg.tls, cfg.http.https) {
        (Some(t), true) => Some(super::tls::server_config(t, &[b"http/1.1"])?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let metrics_listener = cfg.http.metrics_listen.map(bind).transpose()?;
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => Some(addr),
    };
    let keys = session::Keys::load_or_create(&cfg.http.session_key).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "console: session key {}: {e}",
                cfg.http.session_key.display()
            ),
        )
    })?;

    let mut view = View::with_offset(cfg.http.utc_offset_h);
    for r in seed {
        view.record(&Arc::new(r.clone()));
    }
    view.tick(wall_ms());

    let journal_path = cfg.caselog.path.clone();
    let (feed_tx, feed_rx) = mpsc::unbounded_channel();
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
    let (bus, _) = broadcast::channel(BUS);
    let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
    let metrics = metrics::Metrics::with_queues(cfg.queues.iter().map(|q| q.name.as_str()));
    let state = Arc::new(AppState {
        users: users::Directory::new(&cfg),
        metrics_here: cfg.http.metrics_listen.is_none(),
        cfg,
        view: RwLock::new(view),
        bus,
        commands: cmd_tx,
        pending: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        keys,
        login_by_user: RateLimiter::keyed(per_minute(5)),
        login_by_addr: RateLimiter::keyed(per_minute(30)),
        revoked: Mutex::new(HashMap::new()),
        metrics,
        journal: journal.clone(),
        committed: tokio::sync::Notify::new(),
        stats,
        figures_dirty: AtomicBool::new(false),
        store: store.map(|p| Arc::new(store::StorePool::new(p, journal_path))),
    });
    {
        let s = state.clone();
        let observer: crate::caselog::CommitObserver = Box::new(move |n, took| {
            s.metrics.caselog_records.inc_by(n);
            s.metrics.caselog_commit.observe(took.as_secs_f64());
            s.committed.notify_one();
        });
        journal.observe_commits(observer);
    }
    let (stop_tx, stop_rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("console".into())
        .spawn(move || serve(state, listener, tls, metrics_listener, feed_rx, stop_rx))?;
    tracing::info!(url = %format!("{scheme}://{addr}/"), "console");
    if let Some(m) = metrics_addr.filter(|m| *m != addr) {
        tracing::info!(url = %format!("http://{m}/metrics"), "metrics");
    }
    Ok(Some(HttpHandle {
        feed: feed_tx,
        commands: cmd_rx,
        addr,
        metrics_addr,
        stop: Some(stop_tx),
        thread: Some(thread),
    }))
}

fn serve(
    state: Arc<AppState>,
    listener: std::net::TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    metrics_listener: Option<std::net::TcpListener>,
    feed: mpsc::UnboundedReceiver<Feed>,
    stop: oneshot::Receiver<()>,
) {
    lower_priority();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_start(lower_priority)
        .max_blocking_threads(4)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "console: cannot start its runtime");
            return;
        }
    };
    rt.block_on(async move {
        let main = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "console: cannot use its socket");
                return;
            }
        };
        tokio::spawn(feed::run(state.clone(), feed));
        tokio::spawn(feed::ticker(state.clone()));
        if let Some(l) = metrics_listener.and_then(|l| tokio::net::TcpListener::from_std(l).ok()) {
            let app = api::metrics_router(state.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::error!(error = %e, "metrics server stopped");
                }
            });
        }
        let app = api::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let served = async move {
            match tls {
                Some(config) => {
                    use axum::serve::ListenerExt;
                    let l = https::TlsListener::new(main, config)?;
                    axum::serve(l.tap_io(|_| ()), app).await
                }
                None => axum::serve(main, app).await,
            }
        };
        tokio::select! {
            r = served => {
                if let Err(e) = r {
                    tracing::error!(error = %e, "console server stopped");
                }
            }
            _ = stop => {}
        }
    });
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
}
