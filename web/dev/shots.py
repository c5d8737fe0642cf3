#!/usr/bin/env python3
"""Screenshots of every console page at 1280x800 and 1920x1080, in Indonesian
and English, against a running mock (or engine), plus automatic checks of
what a person would see: horizontal scrolling, text cut by its box, and the
words undefined / NaN / null / [object on screen.

Usage: python3 web/dev/shots.py BASE_URL OUT_DIR [page ...]
  BASE_URL  e.g. http://127.0.0.1:8113 (a mock: sessions via ?mock_login=)
  page      names from PAGES below (default: all)
Needs chromedriver (starts it on a free loopback port and stops it by pid).
"""

import os
import subprocess
import sys
import time
import base64

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webdriver_test import Browser, free_port, http  # noqa: E402

PAGES = {
    "wallboard": ("wallboard.html", "sup"),
    "reports": ("reports.html", "sup"),
    "reports-month": ("reports.html?from=MONTH_FROM&to=MONTH_TO", "sup"),
    "search": ("search.html", "sup"),
    "search-case": ("search.html?case=CASE", "sup"),
    "search-op": ("search.html", "op1"),
    "agency": ("agency.html", "damkar"),
    "agency-sup": ("agency.html?agency=damkar", "sup"),
    "operator": ("operator.html", "op1"),
    # an NG112 call and a text call on op1 (made with the mock's /dev/restart and /dev/call)
    "operator-ng112": ("operator.html", "op1", "ng112"),
    "operator-text": ("operator.html", "op1", "text"),
    "search-case-ng112": ("search.html?case=CALLER:+6281277788899", "sup"),
    "search-case-text": ("search.html?case=CALLER:+6285299911100", "sup"),
}

CHECK = r"""
const out = [];
const de = document.documentElement;
if (de.scrollWidth > de.clientWidth + 1) out.push('page scrolls sideways: ' + de.scrollWidth + ' > ' + de.clientWidth);
const txt = document.body.innerText;
for (const w of ['undefined', 'NaN', '[object', 'null']) if (new RegExp('\\b' + w.replace('[', '\\[') + '\\b').test(txt)) out.push('text contains ' + w);
for (const m of txt.match(/\b[a-z]+(\.[a-z_0-9-]+)+\b/g) || []) if (/^(report|search|case|ticket|fig|nav|class|error|agency|callback|dispatch)\./.test(m)) out.push('raw i18n key? ' + m);
for (const el of document.querySelectorAll('body *')) {
  if (el.closest('[hidden], .visually-hidden') || el.offsetParent === null) continue;
  if (el.getBoundingClientRect().width <= 1) continue;
  const cs = getComputedStyle(el);
  if (['SVG','svg','OPTION','SELECT','INPUT','TEXTAREA','HTML','BODY','TBODY','THEAD','TABLE'].includes(el.tagName)) continue;
  if (el.closest('.table-scroll, .scroll')) continue;
  const hasText = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!hasText) continue;
  if (el.scrollWidth > el.clientWidth + 1 && cs.overflowX !== 'visible')
    out.push('cut: <' + el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' class="' + el.className + '"> ' + JSON.stringify(el.textContent.trim().slice(0, 60)));
}
return out;
"""


def main():
    base, outdir = sys.argv[1].rstrip("/"), sys.argv[2]
    names = sys.argv[3:] or list(PAGES)
    os.makedirs(outdir, exist_ok=True)
    port = free_port()
    drv = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    problems = 0
    try:
        time.sleep(1.0)
        b = Browser(port, 1280, 800)
        case_id = None
        for name in names:
            path, user, *prep = PAGES[name]
            prep = prep[0] if prep else None
            if "CALLER:" in path:
                # the mock's seeded case of that caller (the oldest one)
                number = path.split("CALLER:")[1]
                b.get(f"{base}/search.html?mock_login=sup")
                time.sleep(1.5)
                found = b.js_async("fetch('api/cases?caller=' + encodeURIComponent(arguments[0]) + '&limit=50').then(r => r.json())"
                                   ".then(j => arguments[1](j.cases.map(c => c.case).sort()[0] || null), () => arguments[1](null))", number)
                path = path.split("CALLER:")[0] + (found or "none")
            if "MONTH_FROM" in path:
                import datetime
                last = datetime.date.today().replace(day=1) - datetime.timedelta(days=1)
                path = path.replace("MONTH_FROM", last.replace(day=1).isoformat()).replace("MONTH_TO", last.isoformat())
            if "CASE" in path:
                if case_id is None:
                    b.get(f"{base}/search.html?mock_login=sup")
                    time.sleep(1.5)
                    # a dispatched emergency: one with tickets, notes and a location to look at
                    found = b.js_async("fetch('api/cases?agency=dinkes&limit=1').then(r => r.json()).then(j => arguments[0](j.cases[0] ? j.cases[0].case : null), () => arguments[0](null))")
                    case_id = found
                path = path.replace("CASE", case_id or "none")
            for w, hgt in ((1280, 800), (1920, 1080)):
                b.viewport(w, hgt)
                for lang in ("id", "en"):
                    sep = "&" if "?" in path else "?"
                    b.get(f"{base}/{path}{sep}mock_login={user}")
                    b.js("localStorage.setItem('siaga112.lang', arguments[0]);", lang)
                    b.get(f"{base}/{path}{sep}mock_login={user}")
                    time.sleep(2.5)
                    # The mock's own calls may take the seat first: try again until ours is on screen.
                    for _ in range(4 if prep else 0):
                        http("POST", f"{base}/dev/restart", {})
                        time.sleep(2.5)
                        made = http("POST", f"{base}/dev/call", {"kind": prep})["case"]
                        time.sleep(4.0)
                        if b.text("#case-id") == made:
                            break
                    if prep == "text":
                        b.click("#btn-accept-text")
                        time.sleep(0.5)
                        b.type("#chat-input", "112, kami membaca pesan Anda. Di mana lokasinya?" if lang == "id" else "112, we read you. Where are you?")
                        b.cmd("POST", f"/element/{b.find('#chat-input')}/value", {"text": "\ue007"})
                        time.sleep(5.0)
                    shot = os.path.join(outdir, f"{name}-{w}-{lang}.png")
                    with open(shot, "wb") as f:
                        f.write(base64.b64decode(b.cmd("GET", "/screenshot")))
                    full_h = b.js("return document.documentElement.scrollHeight")
                    if full_h > hgt + 4:
                        b.viewport(w, min(full_h, 6000))
                        time.sleep(0.8)
                        with open(os.path.join(outdir, f"{name}-{w}-{lang}-full.png"), "wb") as f:
                            f.write(base64.b64decode(b.cmd("GET", "/screenshot")))
                        b.viewport(w, hgt)
                    issues = b.js(CHECK)
                    logs = b.cmd("POST", "/se/log", {"type": "browser"}) or []
                    errs = [l["message"] for l in logs if l.get("level") == "SEVERE"]
                    for i in issues + errs:
                        problems += 1
                        print(f"{name} {w} {lang}: {i}")
                    print(f"{shot} (page height {full_h})")
        b.cmd("DELETE", "", None)
    finally:
        drv.terminate()
        drv.wait()
    print(f"{problems} problem(s)")


if __name__ == "__main__":
    main()
