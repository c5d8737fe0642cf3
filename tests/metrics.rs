//! `/metrics` as a monitoring host sees it: Debian's Prometheus server
//! scrapes the engine's metrics socket and a query returns the calls made.

mod common;
use common::console::*;
use common::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Prometheus {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        require("prometheus");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: siaga112\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let child = Command::new("timeout")
            .arg("120")
            .arg("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    /// The value of an instant query with one result, if it has one.
    fn query(&self, q: &str) -> Option<f64> {
        let url = format!(
            "http://127.0.0.1:{}/api/v1/query?query={}",
            self.port,
            q.replace('{', "%7B")
                .replace('}', "%7D")
                .replace('"', "%22")
                .replace(' ', "%20")
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(3)))
            .build()
            .into();
        let text = agent
            .get(&url)
            .call()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    fn wait_for(&self, q: &str, want: f64, within: Duration) -> Option<f64> {
        let end = Instant::now() + within;
        let mut last = None;
        while Instant::now() < end {
            last = self.query(q);
            if last == Some(want) {
                return last;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        last
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

#[test]
fn prometheus_scrapes_the_metrics_socket_and_counts_the_calls() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let metrics = free_port();
    let rest = console_config(http, dir.path(), "").replacen(
        "[http]\n",
        &format!("[http]\nmetrics_listen = \"127.0.0.1:{metrics}\"\n"),
        1,
    );
    let e = Engine::start_in(dir, "retry_s = 30", &rest);
    // Only the metrics socket serves /metrics when it has its own.
    assert_eq!(Api::new(http).get("/metrics").status, 404);
    // The view hears of the queues with the console feed's first batch,
    // a few milliseconds after "running": wait for it.
    let end = Instant::now() + Duration::from_secs(3);
    let page = loop {
        let page = Api::new(metrics).get("/metrics");
        if page.text.contains("# TYPE siaga112_calls_waiting gauge") || Instant::now() > end {
            break page;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains("# TYPE siaga112_calls_waiting gauge"),
        "{}",
        page.text
    );
    assert!(page
        .text
        .contains("siaga112_security_rate_limited_total{class=\"register\"} 0"));
    assert_eq!(
        Api::new(metrics).get("/api/state").status,
        404,
        "nothing else there"
    );

    let p = free_port();
    register_seat(&e, "op1", p);
    let seat = Seat::start(&e, "seat_answer.xml", p, 2, &["-d", "200"]);
    for _ in 0..2 {
        let r = sipp(
            &e,
            "trunk_call.xml",
            &["-s", "112", "-m", "1", "-d", "300"],
            Duration::from_secs(20),
        );
        assert!(r.ok, "{}", r.output);
    }
    assert!(seat.finish(Duration::from_secs(10)));
    wait_ended(&e, 2);

    let prom = Prometheus::start(&format!("127.0.0.1:{metrics}"));
    let calls = prom.wait_for("sum(siaga112_calls_total)", 2.0, Duration::from_secs(40));
    assert_eq!(calls, Some(2.0), "Prometheus counted the calls");
    let completed = prom.query(r#"siaga112_calls_total{queue="emergency",outcome="completed"}"#);
    assert_eq!(completed, Some(2.0));
    assert_eq!(
        prom.query(r#"siaga112_seats{state="available"}"#),
        Some(1.0)
    );
    assert_eq!(
        prom.query(r#"siaga112_seats{state="logged-out"}"#),
        Some(2.0)
    );
    assert_eq!(prom.query("siaga112_answer_wait_seconds_count"), Some(2.0));
    let received = prom.query("siaga112_sip_received_total").unwrap_or(0.0);
    assert!(received >= 8.0, "SIP received: {received}");
    let commits = prom
        .query("siaga112_caselog_commit_seconds_count")
        .unwrap_or(0.0);
    assert!(commits >= 1.0, "case-log commits: {commits}");
}
