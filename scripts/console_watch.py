#!/usr/bin/env python3
"""Keeps a real browser on the console while a load test runs: Debian's
Chromium through chromedriver (W3C WebDriver, stdlib only) signs in as a
supervisor and shows the wallboard, which subscribes to the engine's event
stream and renders every change. Runs until SIGTERM or SIGINT, then prints
one line of what the page saw and stops chromedriver.

Usage: python3 scripts/console_watch.py URL USER PASSWORD
Binds nothing but chromedriver on a free loopback port.
"""

import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read()
    v = json.loads(raw).get("value") if raw else None
    if isinstance(v, dict) and "error" in v:
        raise RuntimeError(f"{v['error']}: {v.get('message', '')[:200]}")
    return v


def main():
    url, user, password = sys.argv[1:4]
    port = free_port()
    driver = subprocess.Popen(["chromedriver", f"--port={port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--window-size=1600,900",
                     f"--user-data-dir={tempfile.mkdtemp(prefix='siaga112-watch-')}"]}}}}
        sid = call("POST", base + "/session", caps)["sessionId"]
        s = f"{base}/session/{sid}"

        def js(script, *args):
            return call("POST", s + "/execute/sync", {"script": script, "args": list(args)})

        call("POST", s + "/url", {"url": url})
        for _ in range(100):
            if js("return document.querySelector('#login-form')?.dataset.ready === 'true'"):
                break
            time.sleep(0.05)
        js("document.querySelector('#login-user').value = arguments[0];"
           "document.querySelector('#login-password').value = arguments[1];"
           "document.querySelector('#login-submit').click();", user, password)
        for _ in range(200):
            if js("return location.pathname.endsWith('wallboard.html') && "
                  "document.querySelector('#conn-status')?.dataset.state === 'live'"):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the wallboard did not go live")
        # Count what the page renders: mutations of the live call list.
        js("window.__rows = 0; new MutationObserver(m => { window.__rows += m.length; })"
           ".observe(document.querySelector('#live-calls'), {childList: true, subtree: true});")
        print("watching", flush=True)
        while not stop["now"]:
            time.sleep(0.2)
        seen = js("return [window.__rows, document.querySelector('#fig-offered')?.textContent.trim(),"
                  " document.querySelector('#conn-status')?.dataset.state]")
        print(f"wallboard: {seen[0]} changes to the live call list, figures '{seen[1]}', stream {seen[2]}",
              flush=True)
        call("DELETE", s)
    finally:
        driver.terminate()
        try:
            driver.wait(5)
        except subprocess.TimeoutExpired:
            driver.kill()


if __name__ == "__main__":
    main()
