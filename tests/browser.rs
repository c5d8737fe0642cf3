//! The console in a real browser: Debian's Chromium driven over WebDriver
//! (chromedriver) against the real engine, with a SIPp trunk and a SIPp
//! seat. An operator signs in, pauses, a call waits (the supervisor's
//! wallboard shows it), the operator becomes available, the call is put
//! through and answered, the case pops up, the operator classifies it,
//! adds a note and a location and marks it ready; the records are in the
//! case log; the wallboard shows the answered call, the seats and the
//! figures. Screenshots of every screen go to
//! `target/tmp/browser/` (CARGO_TARGET_TMPDIR).

mod common;
use common::console::*;
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        require("chromedriver");
        require("chromium");
        let port = free_port();
        let child = Command::new("timeout")
            .args(["300", "chromedriver", &format!("--port={port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

async fn browser(d: &Driver, profile: &std::path::Path, w: u32, h: u32) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--lang=id",
                format!("--window-size={w},{h}"),
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", d.port))
        .await
        .expect("a Chromium session")
}

/// One browser test at a time: each starts an engine, ChromeDriver and up
/// to four Chromiums, and on a 2-core machine several at once starve the
/// pages past their waits.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn shot(c: &Client, name: &str) {
    js(c, "window.scrollTo(0, 0);", vec![]).await;
    let png = c.screenshot().await.expect("screenshot");
    let path = out_dir().join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

async fn js(c: &Client, script: &str, args: Vec<Value>) -> Value {
    c.execute(script, args).await.unwrap_or(Value::Null)
}

async fn attr(c: &Client, css: &str, name: &str) -> Option<String> {
    js(
        c,
        "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;",
        vec![json!(css), json!(name)],
    )
    .await
    .as_str()
    .map(String::from)
}

async fn text(c: &Client, css: &str) -> String {
    js(
        c,
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
        vec![json!(css)],
    )
    .await
    .as_str()
    .unwrap_or("")
    .to_string()
}

/// Polls `cond` (a JS expression) every 20 ms until true; the instant it was.
async fn wait(c: &Client, what: &str, cond: &str, within: Duration) -> SystemTime {
    let end = Instant::now() + within;
    let script = format!("return !!({cond});");
    loop {
        if js(c, &script, vec![]).await == Value::Bool(true) {
            return SystemTime::now();
        }
        if Instant::now() > end {
            let body = text(c, "body").await;
            panic!("browser: {what} did not happen within {within:?}\npage text: {body}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn typed(c: &Client, css: &str, s: &str) {
    let el = c.find(Locator::Css(css)).await.unwrap();
    el.clear().await.unwrap();
    el.send_keys(s).await.unwrap();
}

async fn sign_in(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/")).await.unwrap();
    // The page is shown and its form takes a sign-in (before that, the
    // fields are hidden and a click would submit the form natively).
    wait(
        c,
        "the login page",
        "document.querySelector('#login-form')?.dataset.ready === 'true' && !document.body.classList.contains('loading')",
        Duration::from_secs(5),
    )
    .await;
    typed(c, "#login-user", user).await;
    typed(c, "#login-password", password).await;
    click(c, "#login-submit").await;
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The unix ms of the first record `event` of `case`.
fn record_ms(e: &Engine, case: &str, event: &str) -> u64 {
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(r) = records(e)
            .into_iter()
            .find(|r| r["case"] == case && r["event"] == event)
        {
            let t = r["time"].as_str().unwrap();
            return siaga112::caselog::parse_time(t).unwrap();
        }
        assert!(Instant::now() < end, "no {event} record for {case}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_operator_works_a_call_in_the_browser_while_the_wallboard_watches() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (e, port) = console_engine("wrapup_s = 20");
    let base = format!("http://127.0.0.1:{port}");
    let seat_port = free_port();
    register_seat(&e, "op1", seat_port);
    let driver = Driver::start();
    let profiles = tempfile::tempdir().unwrap();
    let op = browser(&driver, &profiles.path().join("op"), 1280, 900).await;
    let wb = browser(&driver, &profiles.path().join("wb"), 1600, 900).await;

    // The operator signs in and lands on the seat's screen.
    sign_in(&op, &base, "op1", "secret1").await;
    wait(
        &op,
        "the operator page",
        "location.pathname.endsWith('operator.html')",
        Duration::from_secs(5),
    )
    .await;
    wait(
        &op,
        "op1 available",
        "document.querySelector('#seat-state')?.dataset.phase === 'available'",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(text(&op, "#seat-name").await.trim(), "op1");
    shot(&op, "operator-idle.png").await;

    // The supervisor's wallboard.
    sign_in(&wb, &base, "sup", SUP_PASSWORD).await;
    wait(
        &wb,
        "the wallboard",
        "location.pathname.endsWith('wallboard.html')",
        Duration::from_secs(5),
    )
    .await;
    wait(
        &wb,
        "op1 on the wallboard",
        "document.querySelector('#seat-op1')?.dataset.phase === 'available'",
        Duration::from_secs(5),
    )
    .await;

    // The operator pauses; a call comes in and waits.
    js(&op, "const s = document.querySelector('#pause-reason'); s.value = 'meal'; s.dispatchEvent(new Event('change', {bubbles: true}));", vec![]).await;
    click(&op, "#btn-pause").await;
    wait(
        &op,
        "op1 paused",
        "document.querySelector('#seat-state').dataset.phase === 'paused'",
        Duration::from_secs(3),
    )
    .await;
    let seat = Seat::start(&e, "seat_answer.xml", seat_port, 1, &["-d", "1500"]);
    let target = e.target();
    let trunk = std::thread::spawn(move || {
        sipp_to(
            &target,
            "trunk_call.xml",
            &["-s", "112", "-m", "1", "-d", "12000"],
            Duration::from_secs(30),
        )
    });
    wait(
        &wb,
        "the waiting call",
        "document.querySelector('#queue-emergency')?.dataset.waiting === '1'",
        Duration::from_secs(5),
    )
    .await;
    wait(
        &wb,
        "its row",
        "document.querySelector('#live-calls tr[data-status=waiting]')",
        Duration::from_secs(2),
    )
    .await;
    wait(
        &wb,
        "op1 paused on the wallboard",
        "document.querySelector('#seat-op1').dataset.phase === 'paused'",
        Duration::from_secs(2),
    )
    .await;
    let case = attr(&wb, "#live-calls tr[data-status=waiting]", "data-case")
        .await
        .expect("the case id");
    tokio::time::sleep(Duration::from_millis(1200)).await; // the longest wait ticks
    shot(&wb, "wallboard-waiting.png").await;

    // Available again: the call is put through; it pops up while ringing
    // and is answered after 1.5 s.
    click(&op, "#btn-available").await;
    let rang = wait(
        &op,
        "the case ringing",
        "document.querySelector('#case-panel').dataset.state === 'ringing'",
        Duration::from_secs(3),
    )
    .await;
    let offered = record_ms(&e, &case, "offered");
    assert_eq!(text(&op, "#case-id").await.trim(), case);
    shot(&op, "operator-ringing.png").await;
    let up = wait(
        &op,
        "the case answered",
        "document.querySelector('#case-panel').dataset.state === 'answered'",
        Duration::from_secs(5),
    )
    .await;
    let answered = record_ms(&e, &case, "answered");
    let ring_ms = ms(rang).saturating_sub(offered);
    let answer_ms = ms(up).saturating_sub(answered);
    eprintln!("on screen after the offer: {ring_ms} ms; after the answer: {answer_ms} ms");
    assert!(
        ring_ms < 1000 && answer_ms < 1000,
        "the case is on screen within 1 s ({ring_ms}, {answer_ms} ms)"
    );
    assert!(
        text(&op, "#case-caller").await.contains("+62811000"),
        "{}",
        text(&op, "#case-caller").await
    );
    assert_eq!(
        attr(&op, "#case-timer", "data-timer-to").await,
        None,
        "the call timer runs"
    );

    // Classify (category, then class), a note, a location, ready.
    js(&op, "const s = document.querySelector('#category'); s.value = 'kebakaran'; s.dispatchEvent(new Event('change', {bubbles: true}));", vec![]).await;
    click(&op, "#class-emergency").await;
    wait(
        &op,
        "classified",
        "document.querySelector('#class-emergency').getAttribute('aria-pressed') === 'true'",
        Duration::from_secs(3),
    )
    .await;
    typed(
        &op,
        "#note-text",
        "Asap tebal dari ruko lantai 2, <b>tidak</b> ada korban",
    )
    .await;
    click(&op, "#note-add").await;
    wait(
        &op,
        "the note",
        "document.querySelector('#notes').textContent.includes('Asap tebal')",
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(
        js(
            &op,
            "return document.querySelector('#notes b') === null;",
            vec![]
        )
        .await,
        json!(true),
        "the note is text, not HTML"
    );
    typed(&op, "#loc-address", "Jl. Asia Afrika No. 8, Bandung").await;
    typed(&op, "#loc-lat", "-6.9218").await;
    typed(&op, "#loc-lon", "107.6061").await;
    click(&op, "#loc-save").await;
    wait(
        &op,
        "the location",
        "document.querySelector('#case-location').textContent.includes('Asia Afrika')",
        Duration::from_secs(3),
    )
    .await;
    click(&op, "#btn-ready").await;
    wait(&op, "ready", "document.querySelector('#btn-ready').disabled && !document.querySelector('#case-ready-badge').hidden", Duration::from_secs(3)).await;
    shot(&op, "operator-answered.png").await;

    // The wallboard: the answered call and the seat on it.
    wait(&wb, "the answered call", &format!("document.querySelector('#live-calls tr[data-case=\"{case}\"]')?.dataset.status === 'on-call'"), Duration::from_secs(3)).await;
    wait(
        &wb,
        "op1 on call",
        "document.querySelector('#seat-op1').dataset.phase === 'on-call'",
        Duration::from_secs(2),
    )
    .await;
    wait(
        &wb,
        "no one waiting",
        "document.querySelector('#queue-emergency').dataset.waiting === '0'",
        Duration::from_secs(2),
    )
    .await;
    shot(&wb, "wallboard-answered.png").await;

    // Every action is in the case log, by op1.
    let recs: Vec<Value> = records(&e)
        .into_iter()
        .filter(|r| r["case"] == case.as_str())
        .collect();
    let one = |k: &str| {
        recs.iter()
            .find(|r| r["event"] == k)
            .cloned()
            .unwrap_or_else(|| panic!("no {k}: {recs:?}"))
    };
    assert_eq!(
        (
            one("classified")["class"].as_str(),
            one("classified")["category"].as_str()
        ),
        (Some("emergency"), Some("kebakaran"))
    );
    assert_eq!(one("classified")["by"], "op1");
    assert_eq!(
        one("note")["text"],
        "Asap tebal dari ruko lantai 2, <b>tidak</b> ada korban"
    );
    assert_eq!(one("located")["address"], "Jl. Asia Afrika No. 8, Bandung");
    assert_eq!(one("located")["lat"], -6.9218);
    assert_eq!(one("ready")["by"], "op1");

    // The caller hangs up: the operator keeps the case in wrap-up; the
    // wallboard counts it.
    let t = trunk.join().unwrap();
    assert!(t.ok, "trunk: {}", t.output);
    assert!(seat.finish(Duration::from_secs(10)));
    wait(
        &op,
        "ended",
        "document.querySelector('#case-panel').dataset.state === 'ended'",
        Duration::from_secs(3),
    )
    .await;
    wait(
        &op,
        "wrap-up",
        "document.querySelector('#seat-state').dataset.phase === 'wrap-up'",
        Duration::from_secs(5),
    )
    .await;
    shot(&op, "operator-wrapup.png").await;
    wait(
        &wb,
        "figures",
        "document.querySelector('#fig-answered')?.textContent.includes('1')",
        Duration::from_secs(3),
    )
    .await;
    wait(
        &wb,
        "the call gone from the live list",
        &format!("!document.querySelector('#live-calls tr[data-case=\"{case}\"]')"),
        Duration::from_secs(2),
    )
    .await;
    wait(
        &wb,
        "the class counted",
        "document.querySelector('#fig-class-emergency')",
        Duration::from_secs(3),
    )
    .await;
    shot(&wb, "wallboard-figures.png").await;

    // A reload brings the same wallboard back.
    wb.refresh().await.unwrap();
    wait(&wb, "after a reload", "document.querySelector('#seat-op1')?.dataset.phase === 'wrap-up' && document.querySelector('#fig-class-emergency')", Duration::from_secs(5)).await;

    // English, chosen on the page.
    js(&op, "const s = document.querySelector('#lang-switch'); s.value = 'en'; s.dispatchEvent(new Event('change', {bubbles: true}));", vec![]).await;
    wait(
        &op,
        "English",
        "document.documentElement.lang === 'en'",
        Duration::from_secs(2),
    )
    .await;
    shot(&op, "operator-wrapup-en.png").await;

    let errors = js(&op, "return (window.__errors || []).length;", vec![]).await;
    assert!(errors == json!(0) || errors == Value::Null);
    op.close().await.unwrap();
    wb.close().await.unwrap();
    assert!(!e.log().contains("panicked"));
}

#[tokio::test(flavor = "current_thread")]
async fn the_fire_brigade_works_its_ticket_in_the_browser() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (e, port) = console_engine("");
    let base = format!("http://127.0.0.1:{port}");
    let seat_port = free_port();
    register_seat(&e, "op1", seat_port);
    let driver = Driver::start();
    let profiles = tempfile::tempdir().unwrap();
    let op = browser(&driver, &profiles.path().join("op"), 1280, 900).await;
    let fire = browser(&driver, &profiles.path().join("damkar"), 1280, 800).await;
    let flood = browser(&driver, &profiles.path().join("bpbd"), 1280, 800).await;
    let wb = browser(&driver, &profiles.path().join("wb"), 1600, 900).await;

    for (c, user, page) in [
        (&fire, "damkar", "agency.html"),
        (&flood, "bpbd", "agency.html"),
    ] {
        sign_in(c, &base, user, AGENCY_PASSWORD).await;
        wait(
            c,
            "the agency page",
            &format!(
                "location.pathname.endsWith('{page}') && document.querySelector('#agency-tickets')"
            ),
            Duration::from_secs(5),
        )
        .await;
    }
    sign_in(&wb, &base, "sup", SUP_PASSWORD).await;
    wait(
        &wb,
        "the wallboard",
        "location.pathname.endsWith('wallboard.html') && document.querySelector('#dispatch-rows')",
        Duration::from_secs(5),
    )
    .await;
    sign_in(&op, &base, "op1", "secret1").await;
    wait(
        &op,
        "op1 available",
        "document.querySelector('#seat-state')?.dataset.phase === 'available'",
        Duration::from_secs(5),
    )
    .await;

    // A call, answered and classified kebakaran.
    let seat = Seat::start(&e, "seat_answer.xml", seat_port, 1, &["-d", "300"]);
    let target = e.target();
    let trunk = std::thread::spawn(move || {
        sipp_to(
            &target,
            "trunk_call.xml",
            &["-s", "112", "-m", "1", "-d", "4000"],
            Duration::from_secs(30),
        )
    });
    wait(
        &op,
        "the case answered",
        "document.querySelector('#case-panel').dataset.state === 'answered'",
        Duration::from_secs(5),
    )
    .await;
    let case = text(&op, "#case-id").await.trim().to_string();
    js(&op, "const s = document.querySelector('#category'); s.value = 'kebakaran'; s.dispatchEvent(new Event('change', {bubbles: true}));", vec![]).await;
    click(&op, "#class-emergency").await;
    wait(
        &op,
        "classified",
        "document.querySelector('#class-emergency').getAttribute('aria-pressed') === 'true'",
        Duration::from_secs(3),
    )
    .await;
    typed(&op, "#loc-address", "Jl. Braga No. 10, Bandung").await;
    click(&op, "#loc-save").await;
    wait(
        &op,
        "the location",
        "document.querySelector('#case-location').textContent.includes('Braga')",
        Duration::from_secs(3),
    )
    .await;

    // Dispatch: the fire brigade is suggested for kebakaran; then BPBD.
    wait(
        &op,
        "the dispatch panel",
        "document.querySelector('[data-testid=dispatch-damkar]')?.dataset.suggested !== undefined",
        Duration::from_secs(3),
    )
    .await;
    typed(&op, "#dispatch-note", "Asap tebal dari ruko").await;
    click(&op, "[data-testid=dispatch-damkar]").await;
    wait(&fire, "damkar's ticket", "document.querySelector('#agency-tickets article.ticket-card[data-status=sent]') && document.querySelector('#agency-tickets').textContent.includes('Braga')", Duration::from_secs(3)).await;
    click(&op, "[data-testid=dispatch-bpbd]").await;
    wait(
        &flood,
        "bpbd's ticket",
        "document.querySelector('#agency-tickets article.ticket-card[data-status=sent]')",
        Duration::from_secs(3),
    )
    .await;
    wait(&wb, "two open tickets", "document.querySelector('tr[data-testid=dispatch-damkar]')?.dataset.open === '1' && document.querySelector('tr[data-testid=dispatch-bpbd]')?.dataset.open === '1'", Duration::from_secs(3)).await;
    shot(&op, "operator-dispatched.png").await;
    shot(&fire, "agency-new-ticket.png").await;
    shot(&wb, "wallboard-dispatch.png").await;
    // Each agency sees only its own.
    let cards = js(&fire, "return [...document.querySelectorAll('#agency-tickets article.ticket-card')].map(a => a.dataset.ticket);", vec![]).await;
    assert_eq!(
        cards,
        json!([format!("{case}/damkar")]),
        "damkar sees only its ticket"
    );
    assert!(
        attr(&fire, "#agency-alert", "hidden").await.is_none(),
        "the alert shows while it is not acknowledged"
    );

    // The fire brigade acknowledges, is on scene, closes.
    let card = format!("#ticket-{case}-damkar");
    for (action, status) in [
        ("acknowledge", "acknowledged"),
        ("on-scene", "on-scene"),
        ("close", "closed"),
    ] {
        if action == "close" {
            typed(
                &fire,
                &format!("{card} .tc-note-input"),
                "Api padam pukul 21.40",
            )
            .await;
        }
        click(&fire, &format!("{card} .tc-buttons [data-action={action}]")).await;
        wait(
            &fire,
            status,
            &format!("(() => {{ const c = document.querySelector('{card}'); return c ? c.dataset.status === '{status}' : document.querySelector('#agency-closed')?.textContent.includes('{case}'); }})()"),
            Duration::from_secs(3),
        )
        .await;
        if action == "acknowledge" {
            shot(&fire, "agency-acknowledged.png").await;
        }
    }
    wait(
        &wb,
        "damkar closed on the wallboard",
        "document.querySelector('tr[data-testid=dispatch-damkar]')?.dataset.open === '0'",
        Duration::from_secs(3),
    )
    .await;
    shot(&fire, "agency-closed.png").await;
    shot(&wb, "wallboard-dispatch-times.png").await;
    let mean = text(&wb, "#fig-mean-dispatch").await;
    assert!(
        mean.chars().any(|c| c.is_ascii_digit()),
        "the mean answer-to-dispatch time shows: {mean:?}"
    );

    // BPBD is cancelled by the operator; the call ends: the case closes.
    let t = trunk.join().unwrap();
    assert!(t.ok, "trunk: {}", t.output);
    assert!(seat.finish(Duration::from_secs(10)));
    let r = Api::signed_in(port, "op1", "secret1").post(
        &format!("/api/tickets/{case}/bpbd/cancel"),
        Some(json!({"note": "tidak perlu"})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    wait(
        &flood,
        "bpbd's ticket gone",
        "!document.querySelector('#agency-tickets article.ticket-card[data-status=sent]')",
        Duration::from_secs(3),
    )
    .await;

    // The case log and the store agree.
    let end = std::time::Instant::now() + Duration::from_secs(5);
    let steps = loop {
        let steps: Vec<(String, String, String)> = records(&e)
            .into_iter()
            .filter(|r| {
                r["case"] == case.as_str() && (r["event"] == "ticket" || r["event"] == "closed")
            })
            .map(|r| {
                (
                    r["agency"].as_str().unwrap_or("").to_string(),
                    r["status"].as_str().unwrap_or("closed").to_string(),
                    r["by"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        if steps.len() >= 7 || std::time::Instant::now() > end {
            break steps;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        steps,
        [
            s("damkar", "sent", "op1"),
            s("bpbd", "sent", "op1"),
            s("damkar", "acknowledged", "damkar"),
            s("damkar", "on-scene", "damkar"),
            s("damkar", "closed", "damkar"),
            s("bpbd", "cancelled", "op1"),
            s("", "closed", ""),
        ]
    );
    let sup = Api::signed_in(port, "sup", SUP_PASSWORD);
    let stored = sup.get("/api/tickets?status=all");
    let mut from_store: Vec<(String, String)> = stored.body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["agency"].as_str().unwrap().to_string(),
                t["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    from_store.sort();
    assert_eq!(
        from_store,
        [
            ("bpbd".to_string(), "cancelled".to_string()),
            ("damkar".to_string(), "closed".to_string())
        ],
        "{}",
        stored.text
    );
    let errors = js(&fire, "return (window.__errors || []).length;", vec![]).await;
    assert!(errors == json!(0) || errors == Value::Null);
    for c in [op, fire, flood, wb] {
        c.close().await.unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_text_call_is_answered_from_the_console_in_the_browser() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (e, port) = console_engine("");
    let base = format!("http://127.0.0.1:{port}");
    register_seat(&e, "op1", free_port());
    let driver = Driver::start();
    let profiles = tempfile::tempdir().unwrap();
    let op = browser(&driver, &profiles.path().join("op"), 1280, 900).await;
    sign_in(&op, &base, "op1", "secret1").await;
    wait(
        &op,
        "op1 available",
        "document.querySelector('#seat-state')?.dataset.phase === 'available'",
        Duration::from_secs(5),
    )
    .await;

    // A caller who cannot speak writes to 112.
    let mut gw = common::text::Gateway::new(&e);
    assert_eq!(
        gw.send(
            "112",
            "text/plain;charset=UTF-8",
            "Tolong, ada pencuri di rumah. Saya tidak bisa bicara."
        ),
        200
    );
    wait(&op, "the text call offered", "document.querySelector('#chat-panel')?.dataset.state === 'ringing' && document.querySelector('#btn-accept-text')", Duration::from_secs(5)).await;
    assert!(text(&op, "#chat-messages").await.contains("pencuri"));
    shot(&op, "text-offered.png").await;
    click(&op, "#btn-accept-text").await;
    wait(
        &op,
        "taken",
        "document.querySelector('#chat-panel').dataset.state === 'open'",
        Duration::from_secs(3),
    )
    .await;
    typed(&op, "#chat-input", "Kami dari 112. Di mana alamat Anda?").await;
    click(&op, "#chat-send").await;
    let got = gw
        .wait_text(Duration::from_secs(5))
        .expect("the operator's answer reaches the caller");
    assert!(got.contains("Di mana alamat Anda"), "{got}");
    assert_eq!(gw.send("112", "text/plain", "Jl. Kenanga 5, Bandung"), 200);
    wait(&op, "the caller's answer", "document.querySelectorAll('#chat-messages li[data-from=caller]').length === 2 && document.querySelector('#chat-messages').textContent.includes('Kenanga')", Duration::from_secs(5)).await;
    shot(&op, "text-conversation.png").await;
    // The operator ends it (the button asks twice).
    click(&op, "#chat-end").await;
    click(&op, "#chat-end").await;
    wait(
        &op,
        "ended",
        "document.querySelector('#chat-panel').dataset.state === 'ended'",
        Duration::from_secs(5),
    )
    .await;
    shot(&op, "text-ended.png").await;
    let recs: Vec<Value> = records(&e)
        .into_iter()
        .filter(|r| r["event"] == "text")
        .collect();
    let froms: Vec<&str> = recs.iter().map(|r| r["from"].as_str().unwrap()).collect();
    assert_eq!(froms, ["caller", "operator", "caller"]);
    assert_eq!(recs[1]["by"], "op1");
    let errors = js(&op, "return (window.__errors || []).length;", vec![]).await;
    assert!(errors == json!(0) || errors == Value::Null);
    op.close().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn an_ng112_call_shows_its_location_priority_and_languages() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let rest = format!(
        "[acd]\nresource_priority = {{ \"esnet.1\" = 10 }}\n{}",
        console_config(port, dir.path(), "")
    );
    let e = Engine::start_in(dir, "retry_s = 30", &rest);
    let base = format!("http://127.0.0.1:{port}");
    let seat_port = free_port();
    register_seat(&e, "op1", seat_port);
    let driver = Driver::start();
    let profiles = tempfile::tempdir().unwrap();
    let op = browser(&driver, &profiles.path().join("op"), 1280, 900).await;
    sign_in(&op, &base, "op1", "secret1").await;
    wait(
        &op,
        "op1 available",
        "document.querySelector('#seat-state')?.dataset.phase === 'available'",
        Duration::from_secs(5),
    )
    .await;
    let seat = Seat::start(&e, "seat_answer.xml", seat_port, 1, &["-d", "200"]);
    let target = e.target();
    let trunk = std::thread::spawn(move || {
        sipp_to(
            &target,
            "trunk_ng112.xml",
            &["-s", "112", "-m", "1", "-d", "6000"],
            Duration::from_secs(30),
        )
    });
    wait(
        &op,
        "the case answered",
        "document.querySelector('#case-panel').dataset.state === 'answered'",
        Duration::from_secs(5),
    )
    .await;
    wait(
        &op,
        "the network's location",
        "document.querySelector('#case-network-location')?.textContent.includes('35')",
        Duration::from_secs(3),
    )
    .await;
    let loc = text(&op, "#case-network-location").await;
    assert!(loc.contains("Thamrin") && loc.contains("GPS"), "{loc}");
    assert!(text(&op, "#case-priority-badge").await.contains("esnet.1"));
    assert!(text(&op, "#case-languages").await.contains("jv"));
    assert!(text(&op, "#case-ng-ids").await.contains("c0ffee"));
    shot(&op, "operator-ng112.png").await;
    // The operator takes the network's location into the form and saves it.
    click(&op, "#loc-use-network").await;
    click(&op, "#loc-save").await;
    wait(
        &op,
        "saved",
        "document.querySelector('#case-location').textContent.includes('Thamrin')",
        Duration::from_secs(3),
    )
    .await;
    let t = trunk.join().unwrap();
    assert!(t.ok, "{}", t.output);
    assert!(seat.finish(Duration::from_secs(10)));
    let located: Vec<Value> = records(&e)
        .into_iter()
        .filter(|r| r["event"] == "located")
        .collect();
    assert_eq!(located[0]["source"], "pidf");
    assert_eq!(located.last().unwrap()["source"], "operator");
    assert_eq!(located.last().unwrap()["lat"], -6.2088);
    op.close().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn the_supervisor_sees_a_password_guessing_ban_and_lifts_it() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let rest = format!(
        "{}\n[security]\nban_after = 3\n",
        console_config(port, dir.path(), "")
    );
    let e = Engine::start_in(dir, "retry_s = 30", &rest);
    let base = format!("http://127.0.0.1:{port}");
    let driver = Driver::start();
    let profiles = tempfile::tempdir().unwrap();
    let sup = browser(&driver, &profiles.path().join("sup"), 1600, 900).await;
    sign_in(&sup, &base, "sup", SUP_PASSWORD).await;
    wait(
        &sup,
        "the wallboard",
        "document.querySelector('#wallboard') && !document.body.classList.contains('loading')",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        js(
            &sup,
            "return document.querySelector('#bans').hidden;",
            vec![]
        )
        .await,
        json!(true),
        "no ban yet, no panel"
    );

    // op2's desk phone has an old password: three failures ban the name.
    let r = sipp(
        &e,
        "register_wrong_password.xml",
        &["-s", "op2", "-au", "op2", "-ap", "old-password", "-m", "3"],
        Duration::from_secs(15),
    );
    assert!(r.ok, "{}", r.output);
    assert!(e.wait_log("security: ban-user user=op2", Duration::from_secs(3)));
    wait(
        &sup,
        "the ban on the wallboard",
        "!document.querySelector('#bans').hidden && document.querySelector('#ban-rows tr[data-kind=user][data-key=op2]')",
        Duration::from_secs(5),
    )
    .await;
    let row = text(&sup, "#ban-rows tr[data-kind=user]").await;
    assert!(row.contains("op2") && row.contains('3'), "{row}");
    shot(&sup, "wallboard-ban.png").await;
    // While banned, even the right password is refused.
    let refused = sipp(
        &e,
        "register.xml",
        &["-s", "op2", "-au", "op2", "-ap", "secret2", "-m", "1"],
        Duration::from_secs(15),
    );
    assert!(!refused.ok, "a banned user is refused: {}", refused.output);

    click(&sup, "[data-testid='lift-user-op2']").await;
    wait(
        &sup,
        "the ban lifted",
        "document.querySelector('#bans').hidden",
        Duration::from_secs(5),
    )
    .await;
    assert!(e.wait_log("security: unban user=op2 by=sup", Duration::from_secs(3)));
    // The phone with the fixed password registers now.
    register_seat(&e, "op2", free_port());
    let errors = js(&sup, "return (window.__errors || []).length;", vec![]).await;
    assert!(errors == json!(0) || errors == Value::Null);
    sup.close().await.unwrap();
}
