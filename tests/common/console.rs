//! The console from a test's side: an engine with `[http]` on a free port,
//! a small JSON client that keeps a session cookie and CSRF token, and an
//! SSE reader on a thread.

use super::*;
use serde_json::{json, Value};
use std::io::BufRead;
use std::sync::mpsc;

pub const SUP_PASSWORD: &str = "wallboard-112";
pub const AGENCY_PASSWORD: &str = "damkar-112";

/// Queues, routes, seats and console users for the console tests.
pub fn console_config(http_port: u16, dir: &Path, queue_extra: &str) -> String {
    let sup = siaga112::engine::http::users::hash_password(SUP_PASSWORD).unwrap();
    let agency = siaga112::engine::http::users::hash_password(AGENCY_PASSWORD).unwrap();
    format!(
        r#"
[http]
listen = "127.0.0.1:{http_port}"
session_key = "{key}"

[[user]]
name = "sup"
role = "supervisor"
password_hash = "{sup}"

[[user]]
name = "damkar"
role = "agency"
agency = "damkar"
password_hash = "{agency}"

[[user]]
name = "bpbd"
role = "agency"
agency = "bpbd"
password_hash = "{agency}"

[[agency]]
id = "damkar"
name = "Dinas Pemadam Kebakaran"
categories = ["kebakaran", "pohon-tumbang", "hewan-liar"]

[[agency]]
id = "bpbd"
name = "Badan Penanggulangan Bencana Daerah"
categories = ["bencana", "banjir", "pohon-tumbang"]

[[agency]]
id = "dinkes"
name = "Dinas Kesehatan (ambulans)"
categories = ["ambulans", "medis", "kecelakaan"]

[[trunk]]
name = "telco-a"
peers = ["127.0.0.1/32"]

[[route]]
match = ["112", "urn:service:sos", "urn:service:sos.*"]
queue = "emergency"

[[queue]]
name = "emergency"
ring_timeout_s = 15
max_wait_s = 120
{queue_extra}
{SEATS}"#,
        key = dir.join("session.key").display(),
    )
}

/// An engine with the console on.
pub fn console_engine(queue_extra: &str) -> (Engine, u16) {
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let rest = console_config(http, dir.path(), queue_extra);
    (Engine::start_in(dir, "retry_s = 30", &rest), http)
}

/// An answer: status, headers, body as JSON (Null if none or not JSON).
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A browser-like client: one session.
pub struct Api {
    pub base: String,
    agent: ureq::Agent,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Api {
    pub fn new(port: u16) -> Api {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Api {
            base: format!("http://127.0.0.1:{port}"),
            agent,
            cookie: None,
            csrf: None,
        }
    }

    fn reply(res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut res = res.expect("the console answers");
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        let mut r = self.agent.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        Self::reply(r.call())
    }

    /// A POST with the session's CSRF token and `body` as JSON.
    pub fn post(&self, path: &str, body: Option<Value>) -> Reply {
        self.post_raw(
            path,
            body.map(|b| b.to_string()),
            "application/json",
            self.csrf.as_deref(),
        )
    }

    pub fn post_raw(
        &self,
        path: &str,
        body: Option<String>,
        content_type: &str,
        csrf: Option<&str>,
    ) -> Reply {
        let mut r = self.agent.post(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        if let Some(t) = csrf {
            r = r.header("x-csrf-token", t);
        }
        match body {
            Some(b) => Self::reply(r.header("content-type", content_type).send(b)),
            None => Self::reply(r.send_empty()),
        }
    }

    /// Signs in; keeps the cookie and token. Returns the answer.
    pub fn login(&mut self, user: &str, password: &str) -> Reply {
        let r = self.post_raw(
            "/api/login",
            Some(json!({"user": user, "password": password}).to_string()),
            "application/json",
            None,
        );
        if r.status == 200 {
            let set = r.header("set-cookie").expect("a session cookie");
            self.cookie = Some(set.split(';').next().unwrap().to_string());
            self.csrf = r.body["csrf"].as_str().map(String::from);
        }
        r
    }

    pub fn signed_in(port: u16, user: &str, password: &str) -> Api {
        let mut a = Api::new(port);
        let r = a.login(user, password);
        assert_eq!(r.status, 200, "{user} signs in: {}", r.text);
        a
    }

    /// Reads `/api/events` on a thread: (event, data) pairs.
    pub fn events(&self) -> Events {
        let (tx, rx) = mpsc::channel();
        let url = format!("{}/api/events", self.base);
        let cookie = self.cookie.clone();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        std::thread::spawn(move || {
            let mut r = agent.get(url);
            if let Some(c) = &cookie {
                r = r.header("cookie", c);
            }
            let Ok(res) = r.call() else { return };
            if res.status() != 200 {
                let _ = tx.send(("status".into(), json!(res.status().as_u16())));
                return;
            }
            let reader = std::io::BufReader::new(res.into_body().into_reader());
            let mut event = String::new();
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    let v = serde_json::from_str(d).unwrap_or(Value::Null);
                    if tx.send((std::mem::take(&mut event), v)).is_err() {
                        return;
                    }
                }
            }
        });
        Events {
            rx,
            seen: Vec::new(),
        }
    }
}

/// Events from one stream.
pub struct Events {
    rx: mpsc::Receiver<(String, Value)>,
    /// Every event so far.
    pub seen: Vec<(String, Value)>,
}

impl Events {
    /// Waits up to `within` for an event `name` whose data passes `pred`.
    pub fn wait(
        &mut self,
        name: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        if let Some((_, v)) = self.seen.iter().find(|(n, v)| n == name && pred(v)) {
            return Some(v.clone());
        }
        let end = Instant::now() + within;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok((n, v)) => {
                    self.seen.push((n.clone(), v.clone()));
                    if n == name && pred(&v) {
                        return Some(v);
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }

    /// Takes what has arrived by now.
    pub fn drain(&mut self) -> &[(String, Value)] {
        while let Ok(e) = self.rx.try_recv() {
            self.seen.push(e);
        }
        &self.seen
    }
}
