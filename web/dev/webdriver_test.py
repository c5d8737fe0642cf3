#!/usr/bin/env python3
"""Drives Debian's Chromium through chromedriver (W3C WebDriver, stdlib only)
against the mock server: logs in as each role, exercises the operator screen
and the wallboard, checks the elements the integration tests rely on, and
saves screenshots.

Usage: python3 web/dev/webdriver_test.py [--shots DIR] [--keep]
Starts its own mock server and chromedriver on free loopback ports and stops
both (by pid) at the end.
"""

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return json.loads(raw)
        except ValueError:
            raise RuntimeError(f"{method} {url}: HTTP {e.code} {raw[:200]!r}")
    return json.loads(raw) if raw else None


class WebDriverError(Exception):
    pass


class Browser:
    def __init__(self, port, width=1920, height=1080):
        self.base = f"http://127.0.0.1:{port}"
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run",
                         "--hide-scrollbars", f"--window-size={width},{height}",
                         f"--user-data-dir={tempfile.mkdtemp(prefix='siaga112-wd-')}"],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}}
        v = self.cmd("POST", "/session", caps, session=False)
        self.sid = v["sessionId"]
        self.viewport(width, height)

    def viewport(self, w, h):
        """Sizes the window so that the page itself (the viewport) is w x h."""
        self.cmd("POST", "/window/rect", {"width": w, "height": h})
        iw, ih = self.js("return [window.innerWidth, window.innerHeight]")
        if (iw, ih) != (w, h):
            self.cmd("POST", "/window/rect", {"width": 2 * w - iw, "height": 2 * h - ih})

    def cmd(self, method, path, body=None, session=True):
        url = self.base + (f"/session/{self.sid}" if session else "") + path
        if body is None and method == "POST":
            body = {}
        r = http(method, url, body)
        v = r.get("value") if isinstance(r, dict) else None
        if isinstance(v, dict) and "error" in v:
            raise WebDriverError(f"{v['error']}: {v.get('message', '')[:300]}")
        return v

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def js_async(self, script, *args):
        return self.cmd("POST", "/execute/async", {"script": script, "args": list(args)})

    def find(self, css):
        v = self.cmd("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(v.values()))

    def click(self, css):
        self.cmd("POST", f"/element/{self.find(css)}/click")

    def type(self, css, text, clear=True):
        el = self.find(css)
        if clear:
            self.cmd("POST", f"/element/{el}/clear")
        self.cmd("POST", f"/element/{el}/value", {"text": text})

    def text(self, css):
        return self.js("const e=document.querySelector(arguments[0]); return e ? e.textContent : null;", css)

    def attr(self, css, name):
        return self.js("const e=document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;", css, name)

    def visible(self, css):
        return self.js("const e=document.querySelector(arguments[0]); return !!(e && e.offsetParent !== null && !e.closest('[hidden]'));", css)

    def select(self, css, value):
        self.js("const e=document.querySelector(arguments[0]); e.value=arguments[1]; e.dispatchEvent(new Event('change', {bubbles:true}));", css, value)

    def url(self):
        return self.cmd("GET", "/url")

    def size(self, w, h):
        self.cmd("POST", "/window/rect", {"width": w, "height": h})

    def shot(self, path):
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        return path

    def logs(self):
        try:
            return self.cmd("POST", "/se/log", {"type": "browser"}) or []
        except Exception:
            return []

    def wait(self, what, fn, timeout=10.0, every=0.05):
        t0 = time.time()
        last = None
        while time.time() - t0 < timeout:
            try:
                last = fn()
                if last:
                    return time.time() - t0
            except WebDriverError as e:
                last = e
            time.sleep(every)
        raise AssertionError(f"timed out waiting for {what} (last: {last!r})")

    def quit(self):
        try:
            self.cmd("DELETE", "")
        except Exception:
            pass


class Run:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print(f"  ok   {name}")
        else:
            self.failed.append(name)
            print(f"  FAIL {name} {detail}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shots", default=os.path.join(HERE, "screenshots"))
    ap.add_argument("--keep", action="store_true", help="leave the mock server running at the end")
    args = ap.parse_args()
    os.makedirs(args.shots, exist_ok=True)

    mport, dport = free_port(), free_port()

    def start_mock():
        return subprocess.Popen([sys.executable, os.path.join(HERE, "mock_server.py"), str(mport),
                                 "--first", "100000", "--interval", "100000", "--info-interval", "0", "--talk", "6", "--wrap", "30",
                                 "--text-idle", "40", "--text-reply", "2"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    mock = start_mock()
    driver = subprocess.Popen(["/usr/bin/chromedriver", f"--port={dport}", "--allowed-ips=127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{mport}"
    run = Run()
    b = None
    try:
        for _ in range(100):
            try:
                http("GET", f"http://127.0.0.1:{dport}/status", timeout=1)
                http("GET", f"{base}/api/me", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        b = Browser(dport)
        shot = lambda name: b.shot(os.path.join(args.shots, name))

        print("login page")
        b.get(base + "/")
        b.js("localStorage.clear();")
        b.get(base + "/")
        b.wait("login form", lambda: b.text("#login-submit"))
        run.check("default language is Indonesian", b.text("#login-submit") == "Masuk" and b.attr("html", "lang") == "id")
        for css in ("#login-user", "#login-password", "#login-submit", "#lang-switch"):
            run.check(f"{css} present", b.js("return !!document.querySelector(arguments[0])", css))
        shot("login-id.png")
        b.type("#login-user", "op1")
        b.type("#login-password", "wrong")
        b.click("#login-submit")
        b.wait("401 message", lambda: b.visible("#login-error"))
        run.check("401 shows wrong credentials", "salah" in b.text("#login-error"), b.text("#login-error"))
        shot("login-error-401.png")
        b.type("#login-user", "toomany")
        b.type("#login-password", "x")
        b.click("#login-submit")
        b.wait("429 message", lambda: "Terlalu banyak" in (b.text("#login-error") or ""))
        run.check("429 shows too many attempts", "30 detik" in b.text("#login-error"), b.text("#login-error"))
        b.select("#lang-switch", "en")
        b.wait("English", lambda: b.text("#login-submit") == "Sign in")
        run.check("English switch re-words the error", "Too many" in b.text("#login-error"), b.text("#login-error"))
        shot("login-en-429.png")
        b.get(base + "/")
        b.wait("login form", lambda: b.text("#login-submit"))
        run.check("language remembered over a reload", b.text("#login-submit") == "Sign in")
        b.select("#lang-switch", "id")
        b.wait("Indonesian", lambda: b.text("#login-submit") == "Masuk")

        print("operator")
        b.type("#login-user", "op1")
        b.type("#login-password", "secret1")
        b.click("#login-submit")
        b.wait("operator page", lambda: b.url().endswith("/operator.html"))
        b.wait("seat state", lambda: b.text("#seat-state") == "Tersedia")
        run.check("seat op1 available", b.attr("#seat-state", "data-phase") == "available")
        run.check("btn-available disabled while available", b.js("return document.getElementById('btn-available').disabled"))
        run.check("pause reasons from config", b.js("return [...document.querySelectorAll('#pause-reason option')].map(o=>o.value).join(',')") == "break,meal,training,meeting")
        run.check("class buttons from config", b.js("return document.querySelectorAll('#class-buttons button[id^=class-]').length") == 7)
        run.check("category labels in Indonesian", "Pohon tumbang" in b.text("#category"))
        shot("operator-idle.png")

        b.click("#btn-pause")
        b.wait("paused", lambda: b.attr("#seat-state", "data-phase") == "paused")
        run.check("pause -> Istirahat", b.text("#seat-state") == "Istirahat" and "Rehat" in b.text("#seat-reason"), b.text("#seat-reason"))
        b.click("#btn-logout")
        b.wait("logged out", lambda: b.attr("#seat-state", "data-phase") == "logged-out")
        run.check("logout -> Keluar", b.text("#seat-state") == "Keluar")
        b.click("#btn-available")
        b.wait("available", lambda: b.attr("#seat-state", "data-phase") == "available")
        run.check("available again", b.text("#seat-state") == "Tersedia")
        # a 409: pausing is refused while the call rings (mock rule); seen below.

        t0 = time.time()
        http("POST", base + "/dev/call", {"caller": "sip:+6281234567890@trunk.telco-a.example;user=phone"})
        b.wait("case pops up", lambda: b.attr("#case-panel", "data-state") == "ringing", timeout=3, every=0.02)
        popped = time.time() - t0
        run.check(f"case popped up within a second ({popped:.2f} s)", popped < 1.0)
        run.check("caller number stripped", b.text("#case-caller") == "+6281234567890", b.text("#case-caller"))
        b.wait("history", lambda: b.attr("#case-history", "data-pranks") not in (None, "0"))
        run.check("prank history highlighted", b.js("return document.querySelector('.history').classList.contains('has-pranks')"))
        run.check("prank count shown", "3 panggilan iseng" in b.text("#case-pranks"), b.text("#case-pranks"))
        run.check("wait time runs while ringing", b.attr("#case-wait", "data-timer-from") is not None and not b.attr("#case-wait", "data-timer-to"))
        b.click("#btn-pause")
        b.wait("409 shown", lambda: "status saat ini" in (b.text("#seat-status") or ""))
        run.check("409 message while ringing", "ringing" in b.text("#seat-status"), b.text("#seat-status"))
        shot("operator-ringing.png")

        b.wait("answered", lambda: b.attr("#case-panel", "data-state") == "answered", timeout=6)
        run.check("wait time frozen at answer", b.attr("#case-wait", "data-timer-to") is not None)
        run.check("call timer running", b.attr("#case-timer", "data-timer-from") is not None and not b.attr("#case-timer", "data-timer-to"))
        b.select("#category", "kebakaran")
        b.wait("pick class hint", lambda: "kelas" in (b.text("#case-status") or ""))
        b.click("#class-emergency")
        b.wait("classified", lambda: b.attr("#class-emergency", "aria-pressed") == "true")
        run.check("classify with the category picked first", b.text("#case-status") == "Klasifikasi tersimpan." and b.js("return document.getElementById('category').value") == "kebakaran")
        b.type("#note-text", "Asap tebal dari ruko lantai 2, <b>tidak</b> ada korban")
        b.click("#note-add")
        b.wait("note listed", lambda: "Asap tebal" in (b.text("#notes") or ""))
        run.check("note text escaped", b.js("return document.querySelector('#notes b') === null"))
        run.check("note author shown", "op1" in b.text("#notes"))
        b.type("#loc-address", "Jl. Asia Afrika No. 8, Bandung")
        b.type("#loc-lat", "95")
        b.type("#loc-lon", "107.6")
        b.click("#loc-save")
        b.wait("lat error", lambda: b.attr("#loc-lat", "aria-invalid") == "true")
        run.check("latitude out of range refused", "Lintang" in b.text("#case-status"))
        b.type("#loc-lat", "-6,9218")
        b.click("#loc-save")
        b.wait("location saved", lambda: b.text("#case-status") == "Lokasi tersimpan.")
        run.check("location shown with coordinates", "-6.921800" in b.text("#case-location") and "OpenStreetMap" in b.text("#case-location"))
        b.click("#btn-ready")
        # the button is also disabled while the request is under way: wait for the answer (the badge)
        b.wait("ready", lambda: b.js("return document.getElementById('btn-ready').disabled && !document.getElementById('case-ready-badge').hidden"))
        run.check("ready for dispatch", not b.js("return document.getElementById('case-ready-badge').hidden"))
        shot("operator-answered.png")
        b.viewport(1280, 800)
        time.sleep(0.3)
        shot("operator-answered-1280.png")
        b.viewport(1920, 1080)

        b.wait("call ended", lambda: b.attr("#case-panel", "data-state") == "ended", timeout=10)
        run.check("last call kept on screen", b.text("#case-caller") == "+6281234567890" and "Panggilan terakhir" in b.text("#case-phase"))
        b.wait("seat wrap-up", lambda: b.attr("#seat-state", "data-phase") == "wrap-up")
        run.check("call timer frozen after end", b.attr("#case-timer", "data-timer-to") is not None)
        b.type("#note-text", "Diteruskan ke Damkar")
        b.click("#note-add")
        b.wait("note in wrap-up", lambda: "Damkar" in (b.text("#notes") or ""))
        run.check("a note during wrap-up", b.text("#case-status") == "Catatan ditambahkan.")
        shot("operator-wrapup.png")
        b.get(base + "/operator.html")
        b.wait("restored after reload", lambda: b.attr("#case-panel", "data-state") == "ended")
        run.check("last call restored after a reload", b.text("#case-caller") == "+6281234567890" and len(b.js("return document.querySelectorAll('#notes li')")) == 2)

        b.select("#lang-switch", "en")
        b.wait("English", lambda: b.text("#seat-state") == "Wrap-up")
        run.check("English: class label", b.text("#class-emergency").endswith("Emergency"))
        run.check("English: category label", "Fallen tree" in b.text("#category"))
        shot("operator-wrapup-en.png")
        b.select("#lang-switch", "id")
        b.wait("Indonesian", lambda: b.text("#seat-state") == "Penyelesaian")

        # An engine restart (ends the wrap-up and drops the stream), then a call that rings
        # here and goes elsewhere (ring timeout).
        http("POST", base + "/dev/restart")
        b.wait("reconnected", lambda: b.attr("#conn-status", "data-state") == "live", timeout=10)
        b.wait("available after restart", lambda: b.attr("#seat-state", "data-phase") == "available", timeout=10)
        run.check("after engine restart: state refetched", b.attr("#seat-state", "data-phase") == "available")
        http("POST", base + "/dev/call", {"caller": "tel:+6287700011122", "noanswer": True})
        b.wait("ringing", lambda: b.attr("#case-panel", "data-state") == "ringing", timeout=3)
        b.wait("left", lambda: b.attr("#case-panel", "data-state") == "ended", timeout=12)
        run.check("unanswered call marked as not answered here", "Tidak dijawab" in b.text("#case-phase"), b.text("#case-phase"))
        run.check("its caller stays visible for a call back", b.text("#case-caller") == "+6287700011122")

        # The engine process goes away: actions say so, the page says it reconnects; when it
        # is back (sessions survive: they are signed), the state is fetched again.
        mock.terminate()
        mock.wait(5)
        b.wait("reconnecting", lambda: b.attr("#conn-status", "data-state") == "reconnecting", timeout=5)
        b.click("#btn-pause")
        b.wait("network error", lambda: "Tidak dapat terhubung" in (b.text("#seat-status") or ""), timeout=5)
        run.check("network error shown on an action", True)
        b.wait("banner", lambda: b.visible("#conn-banner"), timeout=5)
        run.check("a banner says the screen may be stale", "terputus" in b.text("#conn-banner"))
        shot("operator-disconnected.png")
        mock = start_mock()
        b.wait("live again", lambda: b.attr("#conn-status", "data-state") == "live", timeout=20)
        b.wait("seat refetched", lambda: b.attr("#seat-state", "data-phase") == "available", timeout=5)
        run.check("after the engine process restarted: reconnected and refetched", not b.visible("#conn-banner"))

        # 401: the session cookie is gone -> back to the login page on the next action.
        b.cmd("DELETE", "/cookie")
        b.click("#btn-logout")
        b.wait("back to login", lambda: b.url().rstrip("/") == base)
        run.check("401 goes back to login", True)

        print("roles")
        b.type("#login-user", "op2")
        b.type("#login-password", "secret2")
        b.click("#login-submit")
        b.wait("operator page", lambda: b.url().endswith("/operator.html"))
        b.get(base + "/wallboard.html")
        b.wait("operator sent back", lambda: b.url().endswith("/operator.html"))
        run.check("an operator opening the wallboard lands on its own screen", True)
        b.get(base + "/operator.html?seat=op1")
        b.wait("own seat", lambda: b.text("#seat-name") == "op2")
        run.check("an operator cannot open another seat", b.text("#seat-name") == "op2")
        b.click("#session-logout")
        b.wait("login", lambda: b.url().rstrip("/") == base)

        print("wallboard")
        b.type("#login-user", "sup")
        b.type("#login-password", "sup")
        b.click("#login-submit")
        b.wait("wallboard", lambda: b.url().endswith("/wallboard.html"))
        b.get(base + "/operator.html")
        b.wait("seat picker", lambda: b.visible("#seat-picker"))
        run.check("supervisor without a seat gets the seat picker", b.js("return document.querySelectorAll('#seat-picker-list a').length") == 3)
        b.click("[data-testid=pick-op3]")
        b.wait("seat op3", lambda: b.text("#seat-state") == "Istirahat")
        run.check("supervisor views seat op3", b.text("#seat-name") == "op3" and "Makan" in b.text("#seat-reason"))
        b.click("#nav-wallboard")
        b.wait("wallboard", lambda: b.url().endswith("/wallboard.html"))
        b.wait("seats", lambda: b.js("return !!document.getElementById('seat-op1')"))
        http("POST", base + "/dev/restart")
        b.wait("live again", lambda: b.attr("#conn-status", "data-state") == "live" and b.attr("#seat-op2", "data-phase") == "available", timeout=10)
        http("POST", base + "/dev/call", {"queue": "info", "caller": "sip:+6281311112222@x"})
        time.sleep(0.8)
        http("POST", base + "/dev/call", {"caller": "sip:+6285711122233@x"})
        http("POST", base + "/dev/call", {"caller": "sip:+6281234567890@x"})
        http("POST", base + "/dev/call", {"caller": "sip:+6289900001111@x"})
        http("POST", base + "/dev/call", {"caller": "sip:+6289900002222@x"})
        b.wait("queue info waiting", lambda: b.text("#queue-info .waiting") == "1", timeout=2)
        b.wait("seat op1 ringing", lambda: b.attr("#seat-op1", "data-phase") == "ringing", timeout=2)
        b.wait("emergency queue", lambda: b.text("#queue-emergency .waiting") == "2", timeout=2)
        run.check("live calls listed", b.js("return document.querySelectorAll('#live-calls tr').length") == 5)
        run.check("longest wait ticks", b.attr("#queue-info .longest", "data-timer-from") is not None)
        b.wait("answered on wallboard", lambda: b.attr("#seat-op2", "data-phase") == "on-call", timeout=6)
        time.sleep(2.2)
        run.check("figures: 15 s against target", b.attr("#fig-within-15", "data-met") in ("true", "false"))
        run.check("figures: 20 s against target", b.attr("#fig-within-20", "data-met") in ("true", "false"))
        for css in ("#fig-abandoned .fig-value", "#fig-false .fig-value", "#fig-within-15 .fig-value"):
            run.check(f"{css} shows a value", "%" in (b.text(css) or ""), b.text(css))
        shot("wallboard-1920.png")
        b.viewport(1280, 800)
        time.sleep(0.6)
        shot("wallboard-1280.png")
        b.viewport(1920, 1080)
        b.get(base + "/wallboard.html")
        b.wait("after reload", lambda: b.js("return document.querySelectorAll('#live-calls tr').length") >= 1)
        st = b.js_async("fetch('api/state').then(r => r.json()).then(arguments[0])")
        shown = b.js("return Object.fromEntries([...document.querySelectorAll('#seats [data-phase]')].map(e => [e.id, e.dataset.phase]))")
        run.check("wallboard after a reload matches the state", shown == {f"seat-{x['seat']}": x["phase"] for x in st["seats"]}, f"{shown} {st['seats']}")
        run.check("live calls after a reload match the state", b.js("return document.querySelectorAll('#live-calls tr').length") == len(st["calls"]))
        http("POST", base + "/dev/restart")
        b.wait("reconnecting", lambda: b.attr("#conn-status", "data-state") != "live", timeout=5, every=0.02)
        b.wait("live again", lambda: b.attr("#conn-status", "data-state") == "live", timeout=10)
        b.wait("calls gone after restart", lambda: b.js("return document.querySelectorAll('#live-calls tr').length") == 0, timeout=5)
        run.check("wallboard refetched the state after a restart", b.text("#queue-emergency .waiting") == "0")

        b.select("#lang-switch", "en")
        b.wait("English", lambda: b.text("#wb-calls-h") == "Live calls")
        run.check("wallboard in English", b.text("#seat-op1 .seat-phase") == "Available")
        b.select("#lang-switch", "id")
        b.click("#session-logout")
        b.wait("login", lambda: b.url().rstrip("/") == base)

        print("agency")
        b.type("#login-user", "damkar")
        b.type("#login-password", "damkar")
        b.click("#login-submit")
        b.wait("agency page", lambda: b.url().endswith("/agency.html"))
        b.wait("agency name", lambda: "Pemadam" in (b.text("#agency-name") or ""))
        run.check("agency placeholder with the agency's name", True)
        shot("agency.png")
        b.click("#session-logout")
        b.wait("login", lambda: b.url().rstrip("/") == base)

        print("case search and reports")
        logs_before = b.logs()
        b.type("#login-user", "sup")
        b.type("#login-password", "sup")
        b.click("#login-submit")
        b.wait("wallboard", lambda: b.url().endswith("/wallboard.html"))
        b.get(base + "/search.html")
        b.wait("search results", lambda: b.js("return document.querySelectorAll('#results tr[data-case]').length") > 0)
        run.check("search: newest first, a page of 50 with more", b.js("return document.querySelectorAll('#results tr').length") == 50
                  and b.visible("#results-more"))
        b.click("#results-more")
        b.wait("second page", lambda: b.js("return document.querySelectorAll('#results tr').length") == 100)
        run.check("search: the next page appended", True)
        b.select("#s-agency", "damkar")
        b.click("#search-run")
        b.wait("agency filter", lambda: "agency=damkar" in b.js("return location.search"))
        b.wait("agency rows", lambda: b.js("return document.querySelectorAll('#results tr[data-case]').length") > 0)
        run.check("search by agency: every row has a damkar ticket",
                  b.js("return [...document.querySelectorAll('#results tr')].every(tr => tr.querySelector('.chip-agency') && [...tr.querySelectorAll('.chip-agency')].some(c => c.textContent === 'damkar'))"))
        b.js("document.querySelector('#results a.case-link').click()")
        b.wait("case opened", lambda: b.js("return document.querySelectorAll('#detail-tickets li').length") > 0)
        run.check("case: tickets with their steps and history", b.js("return !!document.querySelector('#detail-tickets .stepper') && !!document.querySelector('#detail-tickets .ticket-history li')"))
        run.check("case: the case-log records", b.js("return document.querySelectorAll('#detail-records li').length") >= 3)
        run.check("case: in the address", "case=" in b.js("return location.search"))
        run.check("case: focus moved to it", b.js("return document.activeElement.id") == "case-detail")
        b.wait("caller history", lambda: b.js("return !!document.querySelector('#detail-history-search')"))
        run.check("case: no undefined/NaN", not any(w in (b.text("#case-detail") or "") for w in ("undefined", "NaN", "null")))
        b.type("#s-case", "0001-999999")
        b.click("#search-run")
        b.wait("404 shown", lambda: b.attr("#detail-status", "data-kind") == "error")
        run.check("case id unknown: the 404 and the server's reason shown", "no such case" in (b.text("#detail-status") or ""), b.text("#detail-status"))
        b.type("#s-case", "")
        b.js("document.getElementById('s-from').value = '2020-01-01'")
        b.click("#search-run")
        b.wait("400 shown", lambda: b.attr("#search-status", "data-kind") == "error")
        run.check("too long a range: the 400 and the server's reason shown", "366" in (b.text("#search-status") or ""), b.text("#search-status"))
        b.get(base + "/reports.html")
        b.wait("report", lambda: b.attr("#report-status", "data-kind") == "ok")
        b.click("[data-range=last-month]")
        b.wait("last month", lambda: "from=" in b.js("return location.search") and b.attr("#report-status", "data-kind") == "ok"
               and b.js("return document.querySelectorAll('#chart-days rect[data-series]').length") > 50)
        run.check("report: figures shown", all(b.text(f"{c} .fig-value") not in (None, "", "—") for c in ("#rep-offered", "#rep-within-15", "#rep-dispatch-60")))
        run.check("report: charts drawn", all(b.js(f"return !!document.querySelector('{c} svg')") for c in ("#chart-days", "#chart-answer", "#chart-hours", "#chart-category", "#chart-dispatch")))
        href = b.attr("#export-csv", "href") or ""
        run.check("report: CSV export link for the range", href.startswith("api/export?from=") and href.endswith("format=csv"), href)
        run.check("report: no undefined/NaN", not any(w in (b.js("return document.body.innerText") or "") for w in ("undefined", "NaN")))
        b.js("document.getElementById('export-csv').setAttribute('href', 'api/export?from=2020-01-01&to=2026-01-01&format=csv')")
        b.click("#export-csv")
        b.wait("export refused", lambda: b.attr("#report-status", "data-kind") == "error")
        run.check("report: a refused export says why (400 and the server's reason)", "366" in (b.text("#report-status") or ""), b.text("#report-status"))
        b.click("#session-logout")
        b.wait("login", lambda: b.url().rstrip("/") == base)

        print("NG112 call on the operator screen")
        http("POST", base + "/dev/restart", {})
        b.get(base + "/operator.html?mock_login=op1")
        b.js("localStorage.setItem('siaga112.lang', 'id');")
        b.get(base + "/operator.html?mock_login=op1")
        b.wait("seat available", lambda: b.attr("#seat-state", "data-phase") == "available", timeout=8)
        ng = http("POST", base + "/dev/call", {"kind": "ng112"})["case"]
        b.wait("NG112 case pops up", lambda: b.text("#case-id") == ng, timeout=3)
        b.wait("NG112 answered", lambda: b.attr("#case-panel", "data-state") == "answered", timeout=6)
        run.check("NG112: priority badge for Resource-Priority", b.visible("#case-priority-badge") and "esnet.1" in b.text("#case-priority-badge"), b.text("#case-priority-badge"))
        net = b.text("#case-network-location") or ""
        run.check("NG112: network location with address, coordinates and OSM link", "Thamrin" in net and "-6.193125" in net
                  and b.js("return !!document.querySelector('#case-network-location a[href^=\"https://www.openstreetmap.org/\"]')"), net)
        run.check("NG112: uncertainty, method and time", "±35 m" in net and "GPS" in net and "diukur" in net, net)
        run.check("NG112: the operator's location says it is the network's", "jaringan" in (b.text("#case-location") or ""), b.text("#case-location"))
        run.check("NG112: languages as an interpreter hint", "Bahasa: id" in (b.text("#case-languages") or "") and "jv" in b.text("#case-languages")
                  and "juru bahasa" in b.text("#case-languages"), b.text("#case-languages"))
        ids = b.text("#case-ng-ids") or ""
        run.check("NG112: emergency call and incident ids", "urn:emergency:uid:callid:" in ids and "urn:emergency:uid:incidentid:" in ids, ids)
        run.check("NG112: ids can be selected whole", b.js("return getComputedStyle(document.querySelector('#case-ng-ids code')).userSelect") == "all")
        run.check("NG112: what could not be read, as a warning", b.visible("#case-unread") and "tidak terbaca" in b.text("#case-unread"), b.text("#case-unread"))
        b.type("#loc-address", "x")
        b.type("#loc-lat", "")
        b.click("#loc-use-network")
        run.check("NG112: 'use the network's location' fills the form",
                  "Thamrin" in b.js("return document.getElementById('loc-address').value")
                  and b.js("return document.getElementById('loc-lat').value") == "-6.193125"
                  and b.js("return document.getElementById('loc-lon').value") == "106.822305")
        run.check("NG112: nothing saved before the operator saves", b.js("return !!document.getElementById('case-loc-same')"))
        b.type("#loc-address", "Menara BCA lantai 3, Jl. M.H. Thamrin No. 1")
        b.click("#loc-save")
        b.wait("location saved", lambda: b.text("#case-status") == "Lokasi tersimpan.")
        run.check("NG112: the operator's location beside the network's, which stays",
                  "Menara BCA" in (b.text("#case-location") or "") and "±35 m" in (b.text("#case-network-location") or ""))
        shot("operator-ng112-id.png")
        b.select("#lang-switch", "en")
        b.wait("English", lambda: "Languages" in (b.text("#case-languages") or ""))
        run.check("NG112 in English", "interpreter" in b.text("#case-languages") and "measured" in b.text("#case-network-location")
                  and "could not be read" in b.text("#case-unread") and "PRIORITY" in b.text("#case-priority-badge"))
        shot("operator-ng112-en.png")
        b.select("#lang-switch", "id")
        run.check("NG112: no undefined/NaN on the case", not any(w in (b.text("#case-panel") or "") for w in ("undefined", "NaN", "null")))

        http("POST", base + "/dev/restart", {})
        b.wait("seat available", lambda: b.attr("#seat-state", "data-phase") == "available", timeout=8)
        ref = http("POST", base + "/dev/call", {"kind": "ng112-ref"})["case"]
        b.wait("reference case", lambda: b.text("#case-id") == ref, timeout=3)
        b.wait("reference shown", lambda: "referensi" in (b.text("#case-network-location") or ""), timeout=3)
        run.check("NG112: location by reference (not fetched)", "tidak diambil" in b.text("#case-network-location")
                  and "https://lis.telco-b.example/loc/7f3a" in b.text("#case-network-location"), b.text("#case-network-location"))
        run.check("NG112: no priority badge without Resource-Priority", not b.visible("#case-priority-badge"))
        run.check("NG112: no 'use the network's location' for a reference only", not b.visible("#loc-use-network"))
        run.check("NG112: Indonesian alone needs no interpreter", "juru bahasa" not in (b.text("#case-languages") or "x"))
        run.check("voice call: no accept button and no chat", not b.visible("#btn-accept-text") and not b.visible("#chat-panel"))

        print("text call (text-to-112)")
        http("POST", base + "/dev/restart", {})
        b.wait("seat available", lambda: b.attr("#seat-state", "data-phase") == "available", timeout=8)
        tx = http("POST", base + "/dev/call", {"kind": "text"})["case"]
        b.wait("text case offered", lambda: b.text("#case-id") == tx and b.attr("#case-panel", "data-state") == "ringing", timeout=3)
        run.check("text: the chat panel with the caller's first message", b.visible("#chat-panel")
                  and b.js("return document.querySelectorAll('#chat-messages li[data-from=caller]').length") == 1, b.text("#chat-messages"))
        run.check("text: accept button shown while offered", b.visible("#btn-accept-text"))
        run.check("text: cannot write before accepting", b.js("return document.getElementById('chat-input').disabled && document.getElementById('chat-send').disabled"))
        run.check("text: TEXT badge on the case", b.visible("#case-channel-badge"))
        shot("operator-text-offered.png")
        time.sleep(3.5)
        run.check("text: not answered by itself (a voice call would be)", b.attr("#case-panel", "data-state") == "ringing")
        b.click("#btn-accept-text")
        b.wait("accepted", lambda: b.attr("#case-panel", "data-state") == "answered", timeout=3)
        run.check("text: accept hides the button and focuses the input", not b.visible("#btn-accept-text")
                  and b.js("return document.activeElement.id") == "chat-input")
        b.type("#chat-input", "112, kami membaca pesan Anda.")
        b.cmd("POST", f"/element/{b.find('#chat-input')}/value", {"text": "\ue008\ue007"})  # Shift+Enter: a new line
        b.cmd("POST", f"/element/{b.find('#chat-input')}/value", {"text": "Di mana lokasinya?"})
        run.check("text: Shift+Enter makes a new line, no send", "\n" in b.js("return document.getElementById('chat-input').value")
                  and b.js("return document.querySelectorAll('#chat-messages li[data-from=operator]').length") == 0)
        b.cmd("POST", f"/element/{b.find('#chat-input')}/value", {"text": "\ue007"})  # Enter: send
        b.wait("operator message listed", lambda: b.js("return document.querySelectorAll('#chat-messages li[data-from=operator]').length") == 1, timeout=3)
        run.check("text: Enter sent it, input cleared", b.js("return document.getElementById('chat-input').value") == ""
                  and "Di mana lokasinya?" in b.text("#chat-messages li[data-from=operator]"))
        b.wait("caller reply", lambda: b.js("return document.querySelectorAll('#chat-messages li[data-from=caller]').length") == 2, timeout=8)
        run.check("text: the caller's reply arrives live", "Cihampelas" in b.text("#chat-messages"))
        run.check("text: caller message announced (aria-live)", "Cihampelas" in (b.text("#chat-live") or "") and b.attr("#chat-live", "aria-live") == "polite")
        run.check("text: the list is kept at the bottom", b.js("const l=document.getElementById('chat-messages'); return l.scrollHeight - l.scrollTop - l.clientHeight < 24"))
        run.check("text: messages added, not redrawn", b.js("return document.querySelector('#chat-messages li').dataset.mark = 'kept'") == "kept")
        b.type("#chat-input", "Siapa yang pingsan?")
        b.click("#chat-send")
        b.wait("second reply", lambda: b.js("return document.querySelectorAll('#chat-messages li[data-from=caller]').length") == 3, timeout=8)
        run.check("text: earlier items stay (incremental render)", b.attr("#chat-messages li", "data-mark") == "kept")
        b.js("document.getElementById('chat-messages').style.maxHeight='6rem';")
        b.type("#chat-input", "Ambulans kami kirim.")
        b.click("#chat-send")
        b.wait("sent", lambda: b.js("return document.querySelectorAll('#chat-messages li[data-from=operator]').length") == 3, timeout=3)
        run.check("text: one's own message scrolls to the bottom", b.js("const l=document.getElementById('chat-messages'); return l.scrollHeight - l.scrollTop - l.clientHeight < 24"))
        b.js("const l=document.getElementById('chat-messages'); l.scrollTop = 0; l.dispatchEvent(new Event('scroll'));")
        b.wait("third reply", lambda: b.js("return document.querySelectorAll('#chat-messages li[data-from=caller]').length") == 4, timeout=8)
        run.check("text: scrolled up, the view stays and a 'new message' button shows", b.visible("#chat-jump")
                  and b.js("return document.getElementById('chat-messages').scrollTop") < 40)
        b.click("#chat-jump")
        run.check("text: the button jumps to the newest", not b.visible("#chat-jump"))
        b.js("document.getElementById('chat-messages').style.maxHeight='';")
        b.type("#chat-input", "   ")
        b.click("#chat-send")
        run.check("text: an empty message is refused", "Tulis pesan" in (b.text("#chat-status") or ""), b.text("#chat-status"))
        b.js("const i=document.getElementById('chat-input'); i.removeAttribute('maxlength'); i.value='x'.repeat(1001);")
        b.click("#chat-send")
        b.wait("400 shown", lambda: "1001" in (b.text("#chat-status") or ""), timeout=3)
        run.check("text: too long: the 400 with the server's reason", "1000" in b.text("#chat-status"), b.text("#chat-status"))
        b.js("document.getElementById('chat-input').setAttribute('maxlength', '1000');")
        b.type("#chat-input", "")
        b.click("#class-emergency")
        b.wait("classified", lambda: b.attr("#class-emergency", "aria-pressed") == "true")
        run.check("text: classification works on a text case", True)
        b.type("#note-text", "Tuna rungu, lewat pesan teks")
        b.click("#note-add")
        b.wait("note", lambda: "Tuna rungu" in (b.text("#notes") or ""))
        run.check("text: notes work on a text case", True)
        shot("operator-text-open.png")
        b.select("#lang-switch", "en")
        b.wait("English chat", lambda: b.text("#chat-send") == "Send")
        run.check("text in English", "Caller" in b.text("#chat-messages") and b.text("#chat-end") == "End conversation")
        shot("operator-text-open-en.png")
        b.select("#lang-switch", "id")
        b.wait("Indonesian chat", lambda: b.text("#chat-send") == "Kirim")
        b.click("#chat-end")
        run.check("text: ending asks once more", b.text("#chat-end") == "Klik lagi untuk mengakhiri" and b.attr("#case-panel", "data-state") == "answered")
        b.click("#chat-end")
        b.wait("ended", lambda: b.attr("#case-panel", "data-state") == "ended", timeout=3)
        run.check("text: ended: the input is closed", b.attr("#chat-panel", "data-state") == "ended"
                  and b.js("return document.getElementById('chat-input').disabled"))
        b.js("for (const id of ['chat-input','chat-send']) document.getElementById(id).disabled = false;")
        b.type("#chat-input", "Halo?")
        b.click("#chat-send")
        b.wait("409 shown", lambda: "selesai" in (b.text("#chat-status") or ""), timeout=3)
        run.check("text: after the end a message gets the 409 with the server's reason", "conversation is over" in b.text("#chat-status"), b.text("#chat-status"))
        shot("operator-text-ended.png")

        print("text call ends by itself; the wallboard marks text calls")
        http("POST", base + "/dev/restart", {})
        b.wait("seat available", lambda: b.attr("#seat-state", "data-phase") == "available", timeout=8)
        tx2 = http("POST", base + "/dev/call", {"kind": "text"})["case"]
        b.wait("second text case", lambda: b.text("#case-id") == tx2, timeout=3)
        b.click("#btn-accept-text")
        b.wait("accepted", lambda: b.attr("#case-panel", "data-state") == "answered", timeout=3)
        accepted = time.time()
        b.get(base + "/wallboard.html?mock_login=sup")
        b.wait("live text call", lambda: b.js("return !!document.querySelector('#live-calls tr[data-channel=text]')"), timeout=5)
        run.check("wallboard: a text call is marked as text", "TEKS" in (b.text("#live-calls tr[data-channel=text]") or ""), b.text("#live-calls tr[data-channel=text]"))
        http("POST", base + "/dev/call", {"kind": "ng112"})
        b.wait("live NG112 call", lambda: "esnet.1" in (b.text("#live-calls") or ""), timeout=5)
        run.check("wallboard: an NG112 call with Resource-Priority shows it", True)
        shot("wallboard-text-ng112.png")

        print("NG112 and text cases in the search page's case view")
        b.get(base + "/search.html?mock_login=sup")
        b.wait("search", lambda: b.js("return document.querySelectorAll('#results tr').length") > 0, timeout=8)
        found = b.js_async("fetch('api/cases?caller=%2B6281277788899&limit=5').then(r => r.json()).then(j => arguments[0](j.cases.map(c => c.case)))")
        b.get(base + f"/search.html?case={min(found)}")  # the seeded one: history comes first
        b.wait("NG112 case", lambda: b.visible("#detail-network-location"), timeout=8)
        run.check("case view: network location with uncertainty", "±35 m" in b.text("#detail-network-location") and "OpenStreetMap" in b.text("#detail-network-location"))
        run.check("case view: the operator's location as well", "Menara BCA" in (b.text("#case-detail") or ""))
        run.check("case view: languages, priority, ids, unread", "jv" in (b.text("#detail-languages") or "") and "esnet.1" in (b.text("#detail-priority-badge") or "")
                  and "incidentid" in (b.text("#detail-ng-ids") or "") and "tidak terbaca" in (b.text("#detail-unread") or ""))
        shot("search-case-ng112.png")
        found = b.js_async("fetch('api/cases?caller=%2B6285299911100&limit=5').then(r => r.json()).then(j => arguments[0](j.cases.map(c => c.case)))")
        b.get(base + f"/search.html?case={min(found)}")
        b.wait("text case", lambda: b.visible("#detail-chat"), timeout=8)
        run.check("case view: the text conversation", b.js("return document.querySelectorAll('#detail-chat li[data-from=caller]').length") == 4
                  and b.js("return document.querySelectorAll('#detail-chat li[data-from=operator]').length") == 3)
        run.check("case view: no undefined/NaN", not any(w in (b.text("#case-detail") or "") for w in ("undefined", "NaN", "null")))
        shot("search-case-text.png")

        b.get(base + "/operator.html?mock_login=op1")
        b.wait("the idle text case back on screen", lambda: b.text("#case-id") == tx2, timeout=5)
        b.wait("the conversation ends by itself", lambda: b.attr("#case-panel", "data-state") == "ended", timeout=60)
        run.check(f"text: ended by itself after idle time ({time.time() - accepted:.0f} s), reason completed",
                  b.attr("#chat-panel", "data-state") == "ended" and "Selesai" in (b.text("#case-phase") or ""), b.text("#case-phase"))
        run.check("text: the transcript stays for wrap-up", b.js("return document.querySelectorAll('#chat-messages li[data-from]').length") >= 1)

        # the 404 and 400 above were asked for
        logs_search = [e for e in b.logs() if not (e.get("source") == "network" and (
            ("0001-999999" in e.get("message", "") and "status of 404" in e.get("message", ""))
            or (("api/cases?" in e.get("message", "") or "api/export?" in e.get("message", "")) and "status of 400" in e.get("message", ""))
            or ("/text" in e.get("message", "") and "status of 400" in e.get("message", ""))))]

        # Refused requests (401 before login, the 409, 429 and the engine down, provoked above) are logged by
        # Chromium as network errors; anything else severe is a bug.
        # A 404 on api/cases/ID too: after the mock process is started again (above) it does not know the live
        # cases the first one made, and the operator page, restoring its last case, drops the one it asks for
        # (the engine keeps its cases in the case log, so there it is found).
        expected = ("status of 401", "status of 409", "status of 403", "status of 429", "ERR_CONNECTION_REFUSED")
        errs = [e for e in logs_before + logs_search + b.logs() if e.get("level") == "SEVERE"
                and not (e.get("source") == "network" and any(x in e.get("message", "") for x in expected))
                and not (e.get("source") == "network" and "/api/cases/" in e.get("message", "") and "status of 404" in e.get("message", ""))]
        run.check("no severe console errors", not errs, json.dumps(errs)[:800])
    except Exception as e:
        run.failed.append(f"exception: {e}")
        print(f"  FAIL exception: {e}")
        if b:
            try:
                b.shot(os.path.join(tempfile.gettempdir(), "siaga112-failure.png"))
                print("  (screenshot of the failure in /tmp/siaga112-failure.png)")
            except Exception:
                pass
    finally:
        if b:
            b.quit()
        driver.terminate()
        driver.wait(5)
        if args.keep:
            print(f"mock server left running on {base} (pid {mock.pid})")
        else:
            mock.terminate()
            mock.wait(5)
    print(f"{run.passed} passed, {len(run.failed)} failed")
    sys.exit(1 if run.failed else 0)


if __name__ == "__main__":
    main()
