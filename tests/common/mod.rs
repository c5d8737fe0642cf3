//! Starting the real `siaga112` binary on free loopback ports, and running
//! real peers (SIPp, baresip) against it. Every run is bounded in time.
#![allow(dead_code)]

pub mod console;
pub mod rtp;
pub mod text;

use serde_json::Value;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port free for both UDP and TCP right now.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// A `[media]` section with a relay port range of its own for one test
/// engine (tests run engines side by side; the shipped range would clash):
/// 64 ports from a free ephemeral one, whose pair is checked free now.
pub fn media_ports() -> String {
    for _ in 0..100 {
        let p = free_port() & !1;
        if !(1024..=65000).contains(&p) {
            continue;
        }
        let free = (p..p + 64)
            .step_by(16)
            .all(|q| UdpSocket::bind(("127.0.0.1", q)).is_ok());
        if free {
            return format!("[media]\nports = \"{}-{}\"\n", p, p + 63);
        }
    }
    String::new()
}

/// Fails the test with a clear message when a peer tool is missing.
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed: run scripts/test.sh, which installs it"
    );
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sipp_dir() -> PathBuf {
    repo().join("scripts/sipp")
}

/// A running engine; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Engine {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    log: PathBuf,
}

pub const SEATS: &str = r#"
[[seat]]
user = "op1"
password = "secret1"
queues = ["emergency"]

[[seat]]
user = "op2"
password = "secret2"
queues = ["emergency"]

[[seat]]
user = "op3"
password = "secret3"
queues = ["emergency"]
"#;

impl Engine {
    /// Starts the engine with `[sip]` on a free port plus `rest` (seats,
    /// trunks, queues...). `sip_extra` lines go inside `[sip]`.
    pub fn start(sip_extra: &str, rest: &str) -> Engine {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, sip_extra, rest)
    }

    pub fn start_in(dir: tempfile::TempDir, sip_extra: &str, rest: &str) -> Engine {
        Engine::start_with(dir, sip_extra, "", rest)
    }

    /// With more `[caselog]` keys too.
    pub fn start_with(
        dir: tempfile::TempDir,
        sip_extra: &str,
        caselog_extra: &str,
        rest: &str,
    ) -> Engine {
        Engine::start_listening(dir, "", sip_extra, caselog_extra, rest)
    }

    /// [`Engine::start_with`] with more `[sip] listen` entries (`, "udp:[::1]:{port}"`
    /// with `{port}` the engine's port).
    pub fn start_listening(
        dir: tempfile::TempDir,
        listen_extra: &str,
        sip_extra: &str,
        caselog_extra: &str,
        rest: &str,
    ) -> Engine {
        let port = free_port();
        let config = dir.path().join("siaga112.toml");
        let listen_extra = listen_extra.replace("{port}", &port.to_string());
        let text = format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:{port}\", \"tcp:127.0.0.1:{port}\"{listen_extra}]\nrealm = \"siaga112\"\n{sip_extra}\n\
             [caselog]\npath = \"{}\"\n{caselog_extra}\n[recording]\ndir = \"{}\"\n{media}{rest}",
            dir.path().join("cases.jsonl").display(),
            dir.path().join("recordings").display(),
            media = if rest.contains("[media]") { String::new() } else { media_ports() },
        );
        std::fs::write(&config, text).unwrap();
        let log = dir.path().join("engine.log");
        let mut e = Engine {
            child: None,
            port,
            dir,
            config,
            log,
        };
        e.spawn();
        e
    }

    fn spawn(&mut self) {
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_siaga112"))
            .args(["run", "--config"])
            .arg(&self.config)
            .env(
                "RUST_LOG",
                std::env::var("SIAGA_TEST_LOG")
                    .unwrap_or_else(|_| "info,siaga112::caselog=debug,siaga112::call=debug".into()),
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("start siaga112");
        self.child = Some(child);
        assert!(
            self.wait_log("siaga112 is running", Duration::from_secs(10)),
            "engine did not start:\n{}",
            self.log()
        );
    }

    /// Stops the engine hard (SIGKILL) and starts it again on the same port.
    pub fn kill_and_restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::write(&self.log, "");
        self.spawn();
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The engine's process id (for its CPU time in /proc).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// SIGTERM and wait for a clean exit; returns the exit status success.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(st)) = c.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    pub fn cases_path(&self) -> PathBuf {
        self.dir.path().join("cases.jsonl")
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The outcome of one SIPp run.
pub struct SippRun {
    pub ok: bool,
    pub output: String,
}

/// Runs SIPp against the engine with a scenario from `scripts/sipp/` and
/// common safety flags; bounded by `timeout` (and an outer `timeout(1)`).
pub fn sipp(engine: &Engine, scenario: &str, args: &[&str], timeout: Duration) -> SippRun {
    sipp_to(&engine.target(), scenario, args, timeout)
}

/// [`sipp`] against any target (a proxy in front of the engine).
pub fn sipp_to(target: &str, scenario: &str, args: &[&str], timeout: Duration) -> SippRun {
    sipp_from(target, free_port(), scenario, args, timeout)
}

/// [`sipp_to`] sending from a given local port (to share a seat's address
/// and port, say).
pub fn sipp_from(
    target: &str,
    port: u16,
    scenario: &str,
    args: &[&str],
    timeout: Duration,
) -> SippRun {
    require("sipp");
    let port = port.to_string();
    let secs = timeout.as_secs().max(2);
    let scen = if scenario.ends_with(".xml") {
        sipp_dir().join(scenario).display().to_string()
    } else {
        scenario.to_string()
    };
    let mut cmd = Command::new("timeout");
    cmd.arg(format!("{}", secs + 5)).arg("sipp").arg(target);
    if scenario.ends_with(".xml") {
        cmd.args(["-sf", &scen]);
    } else {
        cmd.args(["-sn", &scen]);
    }
    cmd.args(["-i", "127.0.0.1", "-p", &port, "-nostdin", "-timeout_error"])
        .args(["-timeout", &format!("{secs}s"), "-recv_timeout", "10000"])
        .args(["-buff_size", "4194304", "-trace_err", "-error_file"])
        .arg(Path::new("/dev/stderr"))
        .args(args)
        .stdin(Stdio::null());
    let out = cmd.output().expect("run sipp");
    SippRun {
        ok: out.status.success(),
        output: format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Sends one UDP datagram to the engine from a fresh socket and returns the
/// socket for reading answers.
pub fn udp_send(engine: &Engine, data: &[u8]) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.send_to(data, engine.addr()).unwrap();
    s
}

pub fn udp_recv(s: &UdpSocket) -> Option<String> {
    let mut buf = vec![0u8; 70000];
    match s.recv_from(&mut buf) {
        Ok((n, _)) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Err(_) => None,
    }
}

/// Reads everything that arrives within `wait`.
pub fn udp_recv_all(s: &UdpSocket, wait: Duration) -> Vec<String> {
    s.set_read_timeout(Some(wait)).unwrap();
    std::iter::from_fn(|| udp_recv(s)).collect()
}

/// A header value from a message's text (its head only, not the body).
pub fn header_of<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The most records an engine's log (at debug for the case log) said were
/// durable: the largest `durable=` of its `committed` lines.
pub fn reported_durable(log: &str) -> Option<u64> {
    log.lines()
        .filter(|l| l.contains("committed"))
        .filter_map(|l| {
            l.split("durable=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .max()
}

/// A `200 OK` to the request `req` (as a UA answers a NOTIFY or MESSAGE).
pub fn ok_to(req: &str) -> String {
    let mut ok = String::from("SIP/2.0 200 OK\r\n");
    for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
        ok.push_str(&format!("{h}: {}\r\n", header_of(req, h).unwrap_or("")));
    }
    ok.push_str("Content-Length: 0\r\n\r\n");
    ok
}

/// Runs baresip on the config directory `dir` for `seconds` (`-t`), its
/// output kept for the test to show (bounded by `timeout` in any case).
pub fn spawn_baresip(dir: &Path, seconds: u32) -> Child {
    Command::new("timeout")
        .args(["30", "baresip", "-f"])
        .arg(dir)
        .args(["-t", &seconds.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("baresip")
}

/// Writes a baresip config directory for `user` registering at the engine.
pub fn baresip_dir(engine: &Engine, user: &str, password: &str, extra_accounts: &str) -> PathBuf {
    baresip_dir_at(engine, engine.port, user, password, extra_accounts)
}

/// [`baresip_dir`] registering at `port` on loopback (the engine, or a
/// proxy in front of it).
pub fn baresip_dir_at(
    engine: &Engine,
    registrar_port: u16,
    user: &str,
    password: &str,
    extra_accounts: &str,
) -> PathBuf {
    let d = engine.dir.path().join(format!("baresip-{user}"));
    std::fs::create_dir_all(&d).unwrap();
    let port = free_port();
    std::fs::write(
        d.join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{port}\nmodule_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule ausine.so\nmodule aufile.so\nmodule_app account.so\n\
             audio_player aufile,/dev/null\naudio_source ausine,440\naudio_alert aufile,/dev/null\n\
             ausrc_srate 48000\nauplay_srate 48000\nausrc_channels 2\nauplay_channels 2\n\
             sip_trans_def udp\n"
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("accounts"),
        format!(
            "<sip:{user}@127.0.0.1:{registrar_port}>;auth_pass={password};answermode=auto;regint=60{extra_accounts}\n"
        ),
    )
    .unwrap();
    d
}

/// Registers `user` with SIPp from `port`, so the engine rings that port.
pub fn register_seat(e: &Engine, user: &str, port: u16) {
    register_seat_at(e, &e.target(), user, port)
}

/// Registers `user` (password `secretN` for `opN`) with SIPp from `port`
/// at `target` (the engine, or a proxy in front of it).
pub fn register_seat_at(e: &Engine, target: &str, user: &str, port: u16) {
    let pw = format!("secret{}", &user[2..]);
    let out = Command::new("timeout")
        .args(["15", "sipp", target, "-sf"])
        .arg(sipp_dir().join("register.xml"))
        .args([
            "-s",
            user,
            "-au",
            user,
            "-ap",
            &pw,
            "-m",
            "1",
            "-i",
            "127.0.0.1",
        ])
        .args([
            "-p",
            &port.to_string(),
            "-nostdin",
            "-timeout",
            "10s",
            "-timeout_error",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("sipp");
    assert!(
        out.status.success(),
        "{user} did not register: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(e.wait_log(
        &format!("seat registered seat={user}"),
        Duration::from_secs(3)
    ));
}

/// A SIPp seat softphone running `scenario` on `port` in the background.
pub struct Seat {
    pub child: Child,
}

impl Seat {
    pub fn start(e: &Engine, scenario: &str, port: u16, calls: u32, extra: &[&str]) -> Seat {
        Seat::start_at(&e.target(), scenario, port, calls, extra)
    }

    /// A seat registered at `target` (its requests go there); it answers
    /// OPTIONS keep-alives (`-aa`) as any softphone does.
    pub fn start_at(target: &str, scenario: &str, port: u16, calls: u32, extra: &[&str]) -> Seat {
        require("sipp");
        let child = Command::new("timeout")
            .args(["40", "sipp", target, "-sf"])
            .arg(sipp_dir().join(scenario))
            .args([
                "-m",
                &calls.to_string(),
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .args([
                "-nostdin",
                "-timeout",
                "30s",
                "-timeout_error",
                "-buff_size",
                "4194304",
                "-aa",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sipp seat");
        std::thread::sleep(Duration::from_millis(200));
        Seat { child }
    }

    /// Waits for the seat's calls to finish; true when all succeeded.
    pub fn finish(mut self, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        stop(&mut self.child);
        false
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Asks a peer started under `timeout(1)` to stop (SIGTERM, passed on to
/// the peer); the caller then waits for it.
pub fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// Stops a peer started under `timeout(1)`: SIGTERM, which `timeout` passes
/// on to the peer (a SIGKILL would kill only `timeout` and leave the peer
/// running), then SIGKILL if it lingers.
pub fn stop(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The journal's records, in order (torn or partial lines are a failure).
pub fn records(e: &Engine) -> Vec<Value> {
    let text = std::fs::read_to_string(e.cases_path()).unwrap_or_default();
    text.lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|err| panic!("bad journal line {l:?}: {err}"))
        })
        .collect()
}

/// Waits until the case log has an `ended` event for `n` cases.
pub fn wait_ended(e: &Engine, n: usize) -> Vec<Value> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let r = records(e);
        if r.iter().filter(|v| v["event"] == "ended").count() >= n || Instant::now() > end {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The events of the single case in the log: (event, record).
pub fn one_case(r: &[Value]) -> Vec<(String, Value)> {
    let ids: std::collections::BTreeSet<_> = r.iter().filter_map(|v| v["case"].as_str()).collect();
    assert_eq!(ids.len(), 1, "expected one case: {r:#?}");
    r.iter()
        .filter(|v| v["case"].is_string())
        .map(|v| (v["event"].as_str().unwrap().to_string(), v.clone()))
        .collect()
}

/// The kinds of a case's records, without `recorded` (written when the
/// recorder has closed the file, a moment after `ended`; the media tests
/// check recordings themselves).
pub fn names(ev: &[(String, Value)]) -> Vec<&str> {
    ev.iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| *n != "recorded")
        .collect()
}

pub fn ended(ev: &[(String, Value)]) -> &Value {
    &ev.iter()
        .find(|(n, _)| n == "ended")
        .expect("an ended event")
        .1
}

/// Debian's Kamailio as the edge proxy in front of an engine, with
/// `config/kamailio/edge.cfg`, on a free loopback port. It runs as a daemon
/// (its own session: on exit Kamailio signals its whole process group) and
/// is stopped by the pid it wrote when dropped.
pub struct Kamailio {
    pid_file: PathBuf,
    pub port: u16,
    log: PathBuf,
}

impl Kamailio {
    pub fn start(engine: &Engine) -> Kamailio {
        require("kamailio");
        let port = free_port();
        let log = engine.dir.path().join("kamailio.log");
        let pid_file = engine.dir.path().join("kamailio.pid");
        let logf = std::fs::File::create(&log).unwrap();
        let status = Command::new("kamailio")
            .arg("-f")
            .arg(repo().join("config/kamailio/edge.cfg"))
            .args(["-E", "-m", "64", "-M", "8"])
            .arg("-P")
            .arg(&pid_file)
            .arg("-w")
            .arg(engine.dir.path())
            .arg("-Y")
            .arg(engine.dir.path())
            .args(["-l", &format!("udp:127.0.0.1:{port}")])
            .arg("-A")
            .arg(format!("ENGINE_URI=\"sip:127.0.0.1:{}\"", engine.port))
            .args(["-A", "ENGINE_IP=\"127.0.0.1\""])
            .arg("-A")
            .arg(format!("ENGINE_PORT={}", engine.port))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logf)
            .status()
            .expect("start kamailio");
        let k = Kamailio {
            pid_file,
            port,
            log,
        };
        assert!(status.success(), "kamailio did not start:\n{}", k.log());
        // An OPTIONS relayed to the engine and answered is the proof it
        // works: ask until it is.
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let me = s.local_addr().unwrap();
        for i in 0..30 {
            let ping = format!(
                "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKkamup{i}\r\n\
                 From: <sip:t@{me}>;tag=k\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: kamup{i}\r\n\
                 CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            );
            let _ = s.send_to(ping.as_bytes(), ("127.0.0.1", port));
            if udp_recv(&s).is_some() {
                return k;
            }
        }
        panic!("kamailio does not relay:\n{}", k.log());
    }

    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> Option<String> {
        let pid = std::fs::read_to_string(&self.pid_file).ok()?;
        let pid = pid.trim();
        (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then(|| pid.to_string())
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let Some(pid) = self.pid() else { return };
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    }
}

/// Whether the server closed `s` within `within` (a read returns 0 or fails
/// for a reset), as opposed to leaving it open.
pub fn closed_within(s: &mut std::net::TcpStream, within: Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}
