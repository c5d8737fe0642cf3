//! Starting the real `siaga112` binary on free loopback ports, and running
//! real peers (SIPp, baresip) against it. Every run is bounded in time.
#![allow(dead_code)]

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
        let port = free_port();
        let config = dir.path().join("siaga112.toml");
        let text = format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:{port}\", \"tcp:127.0.0.1:{port}\"]\nrealm = \"siaga112\"\n{sip_extra}\n\
             [caselog]\npath = \"{}\"\n{rest}",
            dir.path().join("cases.jsonl").display()
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
    require("sipp");
    let port = free_port().to_string();
    let secs = timeout.as_secs().max(2);
    let scen = if scenario.ends_with(".xml") {
        sipp_dir().join(scenario).display().to_string()
    } else {
        scenario.to_string()
    };
    let mut cmd = Command::new("timeout");
    cmd.arg(format!("{}", secs + 5))
        .arg("sipp")
        .arg(engine.target());
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

/// A header value from a message's text.
pub fn header_of<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Writes a baresip config directory for `user` registering at the engine.
pub fn baresip_dir(engine: &Engine, user: &str, password: &str, extra_accounts: &str) -> PathBuf {
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
            "<sip:{user}@127.0.0.1:{}>;auth_pass={password};answermode=auto;regint=60{extra_accounts}\n",
            engine.port
        ),
    )
    .unwrap();
    d
}
