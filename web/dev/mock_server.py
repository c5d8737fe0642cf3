#!/usr/bin/env python3
"""A mock of the siaga112 console API, for working on web/ without the engine.

Python 3.11 standard library only. Serves web/ and implements the contract of
the console API (login, CSRF, config, state, cases, caller history, seat and
case actions, Server-Sent Events) over fake data:

  users      sup/sup (supervisor), op1/secret1 .. op3/secret3 (operators,
             seats op1..op3), damkar/damkar (agency); user "toomany" always
             gets 429 (to see that message)
  calls      an emergency call arrives every --interval s (15), is offered
             to the first available seat (op1 first), answered after
             --answer s (3), talks --talk s (8), then the seat wraps up for
             --wrap s (5). An info-queue call every --info-interval s waits
             (op3, the only info seat, starts paused) and is abandoned after
             30 s.

Mock-only conveniences (never in the real engine):
  GET <page>?mock_login=USER   sets the session cookie for USER and redirects
  POST /dev/restart            drops every event stream and all live calls,
                               as an engine restart would (sessions survive:
                               they are signed, not stored)
  POST /dev/call               makes a call arrive now (JSON body optional:
                               {"queue": "info", "caller": "sip:+62...@x",
                               "noanswer": true}: the first seat offered lets it
                               ring until --ring-timeout, then it goes elsewhere)

Usage: python3 web/dev/mock_server.py PORT [--interval 15] [--seed 1]
Binds 127.0.0.1 only.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import queue
import random
import re
import sys
import threading
import time
import urllib.parse
from http import cookies
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WEB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = b"siaga112-mock-only"
COOKIE = "siaga112_session"

USERS = {
    "sup": {"password": "sup", "role": "supervisor", "seat": None, "agency": None},
    "op1": {"password": "secret1", "role": "operator", "seat": "op1", "agency": None},
    "op2": {"password": "secret2", "role": "operator", "seat": "op2", "agency": None},
    "op3": {"password": "secret3", "role": "operator", "seat": "op3", "agency": None},
    "damkar": {"password": "damkar", "role": "agency", "seat": None, "agency": "damkar"},
}

CONFIG = {
    "classes": ["emergency", "information", "complaint", "prank", "silent", "accidental", "dropped"],
    "categories": [
        {"id": "kebakaran", "id_label": "Kebakaran", "en_label": "Fire"},
        {"id": "kriminal", "id_label": "Kriminal", "en_label": "Crime"},
        {"id": "kecelakaan", "id_label": "Kecelakaan", "en_label": "Traffic accident"},
        {"id": "ambulans", "id_label": "Ambulans", "en_label": "Ambulance"},
        {"id": "medis", "id_label": "Medis", "en_label": "Medical"},
        {"id": "bencana", "id_label": "Bencana", "en_label": "Disaster"},
        {"id": "kdrt", "id_label": "KDRT", "en_label": "Domestic violence"},
        {"id": "pohon-tumbang", "id_label": "Pohon tumbang", "en_label": "Fallen tree"},
        {"id": "hewan-liar", "id_label": "Hewan liar", "en_label": "Wild animal"},
        {"id": "banjir", "id_label": "Banjir", "en_label": "Flood"},
    ],
    "pause_reasons": ["break", "meal", "training", "meeting"],
    "queues": ["emergency", "info"],
    "seats": ["op1", "op2", "op3"],
    "agencies": [
        {"id": "damkar", "name": "Dinas Pemadam Kebakaran"},
        {"id": "polres", "name": "Kepolisian Resor"},
        {"id": "dinkes", "name": "Dinas Kesehatan"},
        {"id": "bpbd", "name": "Badan Penanggulangan Bencana Daerah"},
    ],
    "lang": "id",
    "targets": {"answer_10s": 0.9, "answer_15s": 0.9, "answer_20s": 0.95},
}

SEAT_QUEUES = {"op1": ["emergency"], "op2": ["emergency"], "op3": ["emergency", "info"]}
FALSE_CLASSES = ("prank", "silent", "accidental")

CALLERS = [
    ("sip:+6281234567890@trunk.telco-a.example;user=phone", None),
    ("tel:+6285711122233", {"address": "Jl. Merdeka No. 5, Sumur Bandung, Kota Bandung", "lat": -6.9147, "lon": 107.6098, "source": "pidf"}),
    ("sip:+6287812345678@trunk.telco-a.example", None),
    ("sip:+622150001234@trunk.telco-a.example", {"address": "Jl. Jend. Sudirman Kav. 52, Jakarta Selatan", "lat": -6.2250, "lon": 106.8090, "source": "pidf"}),
    ("sip:+6281398765432@trunk.telco-a.example", None),
    ("sip:anonymous@anonymous.invalid", None),
]


def now_ms():
    return int(time.time() * 1000)


def strip_uri(uri):
    s = uri or ""
    m = re.search(r"<([^>]*)>", s)
    if m:
        s = m.group(1)
    s = re.sub(r"^(sips?|tel):", "", s, flags=re.I)
    s = s.split("@", 1)[0].split(";", 1)[0]
    return urllib.parse.unquote(s)


def sign(text):
    return hmac.new(SECRET, text.encode(), hashlib.sha256).hexdigest()


def session_cookie(user):
    u = base64.urlsafe_b64encode(user.encode()).decode().rstrip("=")
    return f"{u}.{sign('session:' + user)[:40]}"


def session_user(value):
    try:
        u, mac = value.split(".", 1)
        user = base64.urlsafe_b64decode(u + "=" * (-len(u) % 4)).decode()
    except Exception:
        return None
    if user in USERS and hmac.compare_digest(mac, sign("session:" + user)[:40]):
        return user
    return None


def csrf_for(user):
    return sign("csrf:" + user)[:32]


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class World:
    """The fake engine: seats, queues, calls, cases, figures, and subscribers."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.rng = random.Random(args.seed)
        t = now_ms()
        self.seats = {
            "op1": {"seat": "op1", "phase": "available", "reason": None, "case": None, "since_ms": t - 42_000},
            "op2": {"seat": "op2", "phase": "available", "reason": None, "case": None, "since_ms": t - 300_000},
            "op3": {"seat": "op3", "phase": "paused", "reason": "meal", "case": None, "since_ms": t - 610_000},
        }
        self.waiting = {"emergency": [], "info": []}  # case ids in arrival order
        self.calls = {}  # live calls by case
        self.cases = {}  # every case (live or ended), folded
        self.counter = 0
        self.subscribers = []  # [queue.Queue, user]
        self.timers = []  # [(at_s, seq, fn)]
        self.timer_seq = 0
        self.figures_dirty = True
        self.login_failures = {}
        self.boot = 0
        self._seed_history(t)
        self._seed_figures()

    # ------------------------------------------------------------ seeds

    def _new_case_id(self):
        self.counter += 1
        return f"0001-{self.counter:06d}"

    def _seed_history(self, t):
        old = [
            ("sip:+6281234567890@trunk.telco-a.example", "prank", 86400_000 * 9),
            ("sip:+6281234567890@trunk.telco-a.example", "prank", 86400_000 * 5),
            ("sip:+6281234567890@trunk.telco-a.example", "silent", 86400_000 * 3),
            ("sip:+6281234567890@trunk.telco-a.example", "prank", 3600_000 * 20),
            ("tel:+6285711122233", "emergency", 86400_000 * 40),
            ("sip:+622150001234@trunk.telco-a.example", "information", 86400_000 * 2),
        ]
        for caller, cls, ago in old:
            cid = self._new_case_id()
            opened = t - ago
            self.cases[cid] = {
                "case": cid, "caller": caller, "called": "112", "service": "112", "queue": "emergency",
                "opened_ms": opened, "answered_ms": opened + 4000, "ended_ms": opened + 64000,
                "reason": "completed", "seat": "op2", "wait_ms": 4000, "talk_ms": 60000,
                "class": cls, "category": None, "notes": [], "location": None, "marks": [],
                "recording": None, "ready": False, "handled_by": ["op2"], "priority": 0, "from_seat": None,
                "records": [{"time": opened, "event": "opened"}],
            }

    def _seed_figures(self):
        rng = self.rng
        self.answer_waits = [max(0.5, rng.gauss(5.0, 3.2)) for _ in range(96)]
        self.abandoned_count = 4
        self.offered_count = len(self.answer_waits) + self.abandoned_count
        self.class_counts = {"emergency": 12, "information": 9, "complaint": 4, "prank": 51, "silent": 13,
                             "accidental": 6, "dropped": 1}

    # ------------------------------------------------------------ events

    def publish(self, event, data, seat=None):
        """seat: when the event concerns one seat's call (operators see only their own)."""
        payload = json.dumps(data, ensure_ascii=False)
        for q, user in list(self.subscribers):
            u = USERS[user]
            if seat is not None and u["role"] == "operator" and u["seat"] != seat:
                continue
            if event in ("call", "call-ended") and u["role"] == "agency":
                continue
            q.put((event, payload))

    def seat_changed(self, seat):
        self.publish("seat", self.seats[seat])

    def queue_obj(self, name):
        ids = self.waiting[name]
        oldest = min((self.calls[c]["opened_ms"] for c in ids), default=None)
        return {"queue": name, "waiting": len(ids), "oldest_ms": oldest}

    def queue_changed(self, name):
        self.publish("queue", self.queue_obj(name))

    def call_obj(self, case_id):
        c = self.cases[case_id]
        keys = ("case", "caller", "called", "service", "queue", "priority", "from_seat", "opened_ms",
                "answered_ms", "seat", "marks", "class", "category", "notes", "location", "ready")
        o = {k: c[k] for k in keys}
        o["answered"] = c["answered_ms"] is not None
        return o

    def case_obj(self, case_id):
        c = dict(self.cases[case_id])
        for k in ("handled_by", "skip", "noanswer"):
            c.pop(k, None)
        return c

    def call_changed(self, case_id):
        c = self.calls.get(case_id)
        if c is not None:
            obj = self.call_obj(case_id)
            self.calls[case_id] = obj
            self.publish("call", obj, seat=obj["seat"] or "")

    def figures(self):
        answered = len(self.answer_waits)
        denom = answered + self.abandoned_count
        by_class = dict(self.class_counts)
        classified = sum(by_class.values())

        def within(n):
            return round(sum(1 for w in self.answer_waits if w <= n) / denom, 4) if denom else None

        return {
            "date": time.strftime("%Y-%m-%d"),
            "offered": self.offered_count,
            "answered": answered,
            "abandoned": self.abandoned_count,
            "by_class": by_class,
            "within_10s": within(10),
            "within_15s": within(15),
            "within_20s": within(20),
            "mean_answer_s": round(sum(self.answer_waits) / answered, 1) if answered else None,
            "abandoned_share": round(self.abandoned_count / denom, 4) if denom else None,
            "false_share": round(sum(by_class.get(k, 0) for k in FALSE_CLASSES) / classified, 4) if classified else None,
        }

    def state_for(self, user):
        u = USERS[user]
        calls = list(self.calls.values())
        if u["role"] == "operator":
            calls = [c for c in calls if c["seat"] == u["seat"]]
        elif u["role"] == "agency":
            calls = []
        return {
            "now_ms": now_ms(),
            "seats": [self.seats[s] for s in CONFIG["seats"]],
            "queues": [self.queue_obj(q) for q in CONFIG["queues"]],
            "calls": calls,
            "figures": self.figures(),
        }

    # ------------------------------------------------------------ timers

    def after(self, seconds, fn):
        self.timer_seq += 1
        self.timers.append((time.time() + seconds, self.timer_seq, fn))

    def run(self):
        next_emergency = time.time() + self.args.first
        next_info = time.time() + self.args.first + 16
        last_figures = 0.0
        while True:
            time.sleep(0.1)
            with self.lock:
                t = time.time()
                if t >= next_emergency:
                    next_emergency = t + self.args.interval
                    self.arrive("emergency")
                if self.args.info_interval > 0 and t >= next_info:
                    next_info = t + self.args.info_interval
                    self.arrive("info")
                due = sorted(x for x in self.timers if x[0] <= t)
                self.timers = [x for x in self.timers if x[0] > t]
                for _, _, fn in due:
                    fn()
                if self.figures_dirty and t - last_figures >= 1.0:
                    self.figures_dirty = False
                    last_figures = t
                    self.publish("figures", self.figures())

    # ------------------------------------------------------------ the call flow

    def arrive(self, queue_name, caller=None, noanswer=False):
        t = now_ms()
        cid = self._new_case_id()
        if caller is None:
            caller, loc = self.rng.choice(CALLERS)
        else:
            loc = None
        service = "112" if queue_name == "emergency" else "info"
        self.cases[cid] = {
            "case": cid, "caller": caller, "called": "112" if queue_name == "emergency" else "1500112",
            "service": service, "queue": queue_name, "priority": 0, "from_seat": None,
            "opened_ms": t, "answered_ms": None, "ended_ms": None, "reason": None, "seat": None,
            "wait_ms": None, "talk_ms": None, "class": None, "category": None, "notes": [],
            "location": dict(loc) if loc else None, "marks": [], "recording": None, "ready": False,
            "handled_by": [], "records": [{"time": t, "event": "opened"}],
        }
        if noanswer:
            self.cases[cid]["noanswer"] = True
        self.calls[cid] = self.call_obj(cid)
        self.waiting[queue_name].append(cid)
        self.offered_count += 1
        self.figures_dirty = True
        self.publish("call", self.calls[cid], seat="")
        self.queue_changed(queue_name)
        if queue_name == "info":
            self.after(30, lambda: self.abandon(cid))
        self.dispatch()
        return cid

    def dispatch(self):
        for qname in CONFIG["queues"]:
            for cid in list(self.waiting[qname]):
                skip = self.cases[cid].get("skip", ())
                seat = next((s for s in CONFIG["seats"]
                             if self.seats[s]["phase"] == "available" and qname in SEAT_QUEUES[s] and s not in skip), None)
                if seat is None:
                    continue
                self.waiting[qname].remove(cid)
                self.offer(cid, seat)
                self.queue_changed(qname)

    def set_seat(self, seat, phase, reason=None, case=None):
        self.seats[seat] = {"seat": seat, "phase": phase, "reason": reason, "case": case, "since_ms": now_ms()}
        self.seat_changed(seat)

    def offer(self, cid, seat):
        c = self.cases[cid]
        c["seat"] = seat
        if seat not in c["handled_by"]:
            c["handled_by"].append(seat)
        c["records"].append({"time": now_ms(), "event": "offered", "seat": seat})
        self.set_seat(seat, "ringing", case=cid)
        self.call_changed(cid)
        boot = self.boot
        if c.pop("noanswer", False):
            self.after(self.args.ring_timeout, lambda: boot == self.boot and self.ring_timeout(cid, seat))
        else:
            self.after(self.args.answer, lambda: boot == self.boot and self.answer(cid))

    def ring_timeout(self, cid, seat):
        """The seat did not answer in time: the call goes back to the front of its queue, for another seat."""
        c = self.cases.get(cid)
        if cid not in self.calls or c["answered_ms"] is not None or c["seat"] != seat:
            return
        c["seat"] = None
        c.setdefault("skip", []).append(seat)
        c["records"].append({"time": now_ms(), "event": "not-answered", "seat": seat})
        self.waiting[c["queue"]].insert(0, cid)
        self.set_seat(seat, "available")
        self.call_changed(cid)
        self.queue_changed(c["queue"])
        self.dispatch()

    def answer(self, cid):
        if cid not in self.calls:
            return
        c = self.cases[cid]
        t = now_ms()
        c["answered_ms"] = t
        c["wait_ms"] = t - c["opened_ms"]
        c["records"].append({"time": t, "event": "answered", "seat": c["seat"]})
        self.answer_waits.append(c["wait_ms"] / 1000)
        self.figures_dirty = True
        self.set_seat(c["seat"], "on-call", case=cid)
        self.call_changed(cid)
        boot = self.boot
        self.after(self.args.talk, lambda: boot == self.boot and self.end(cid, "completed"))

    def end(self, cid, reason):
        if cid not in self.calls:
            return
        c = self.cases[cid]
        t = now_ms()
        c["ended_ms"] = t
        c["reason"] = reason
        if c["answered_ms"]:
            c["talk_ms"] = t - c["answered_ms"]
        c["records"].append({"time": t, "event": "ended", "reason": reason})
        del self.calls[cid]
        seat = c["seat"]
        self.publish("call-ended", {"case": cid, "reason": reason}, seat=seat or "")
        for qname, ids in self.waiting.items():
            if cid in ids:
                ids.remove(cid)
                self.queue_changed(qname)
        if seat and self.seats[seat]["case"] == cid and self.seats[seat]["phase"] in ("ringing", "on-call"):
            if c["answered_ms"]:
                self.set_seat(seat, "wrap-up", case=cid)
                boot = self.boot
                self.after(self.args.wrap, lambda: boot == self.boot and self.wrap_done(seat, cid))
            else:
                self.set_seat(seat, "available")
        self.figures_dirty = True
        self.dispatch()

    def abandon(self, cid):
        if cid in self.calls and self.cases[cid]["answered_ms"] is None and self.cases[cid]["seat"] is None:
            self.abandoned_count += 1
            self.end(cid, "abandoned")

    def wrap_done(self, seat, cid):
        s = self.seats[seat]
        if s["phase"] == "wrap-up" and s["case"] == cid:
            self.set_seat(seat, "available")
            self.dispatch()

    def restart(self):
        """As if the engine restarted: live calls are gone, streams drop."""
        self.boot += 1
        for cid in list(self.calls):
            c = self.cases[cid]
            c["ended_ms"] = now_ms()
            c["reason"] = "failed"
            del self.calls[cid]
        for q in self.waiting.values():
            q.clear()
        self.timers = []
        for s in CONFIG["seats"]:
            if self.seats[s]["phase"] in ("ringing", "on-call", "wrap-up"):
                self.seats[s] = {"seat": s, "phase": "available", "reason": None, "case": None, "since_ms": now_ms()}
        for q, _ in list(self.subscribers):
            q.put(None)

    # ------------------------------------------------------------ actions

    def may_act_on_seat(self, user, seat):
        u = USERS[user]
        if seat not in self.seats:
            raise ApiError(404, "not_found", "no such seat")
        if u["role"] == "supervisor" or (u["role"] == "operator" and u["seat"] == seat):
            return
        raise ApiError(403, "forbidden", "not allowed")

    def may_touch_case(self, user, cid):
        if cid not in self.cases:
            raise ApiError(404, "not_found", "no such case")
        u = USERS[user]
        if u["role"] == "supervisor":
            return
        if u["role"] == "operator" and u["seat"] in self.cases[cid]["handled_by"]:
            return
        raise ApiError(403, "forbidden", "not allowed")

    def seat_action(self, user, seat, action, body):
        self.may_act_on_seat(user, seat)
        s = self.seats[seat]
        if action == "pause":
            reason = body.get("reason") if isinstance(body, dict) else None
            if reason not in CONFIG["pause_reasons"]:
                raise ApiError(400, "bad_request", "unknown pause reason")
            if s["phase"] in ("ringing", "on-call", "logged-out"):
                raise ApiError(409, "conflict", f"not possible while {s['phase']}")
            self.set_seat(seat, "paused", reason=reason)
        elif action == "unpause":
            if s["phase"] in ("available", "ringing", "on-call"):
                raise ApiError(409, "conflict", f"not possible while {s['phase']}")
            self.set_seat(seat, "available")
            self.dispatch()
        elif action == "logout":
            if s["phase"] in ("ringing", "on-call", "logged-out"):
                raise ApiError(409, "conflict", f"not possible while {s['phase']}")
            self.set_seat(seat, "logged-out")
        else:
            raise ApiError(404, "not_found", "no such action")
        return self.seats[seat]

    def case_action(self, user, cid, action, body):
        self.may_touch_case(user, cid)
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "a JSON object is expected")
        c = self.cases[cid]
        t = now_ms()
        if action == "classify":
            cls = body.get("class")
            cat = body.get("category")
            if cls not in CONFIG["classes"]:
                raise ApiError(400, "bad_request", "unknown class")
            if cat is not None and cat not in [x["id"] for x in CONFIG["categories"]]:
                raise ApiError(400, "bad_request", "unknown category")
            if c["class"]:
                self.class_counts[c["class"]] = max(0, self.class_counts.get(c["class"], 0) - 1)
            c["class"] = cls
            c["category"] = cat
            self.class_counts[cls] = self.class_counts.get(cls, 0) + 1
            self.figures_dirty = True
            c["records"].append({"time": t, "event": "classified", "class": cls, "category": cat, "by": user})
        elif action == "note":
            text = body.get("text")
            if not isinstance(text, str) or not (1 <= len(text) <= 2000) or not text.strip():
                raise ApiError(400, "bad_request", "a note is 1 to 2000 characters")
            c["notes"].append({"by": user, "at_ms": t, "text": text})
            c["records"].append({"time": t, "event": "note", "by": user})
        elif action == "location":
            addr = body.get("address", "")
            lat, lon = body.get("lat"), body.get("lon")
            if not isinstance(addr, str) or len(addr) > 500:
                raise ApiError(400, "bad_request", "address: a string of at most 500 characters")
            for v, lim, name in ((lat, 90, "lat"), (lon, 180, "lon")):
                if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not -lim <= v <= lim):
                    raise ApiError(400, "bad_request", f"{name} out of range")
            if (lat is None) != (lon is None):
                raise ApiError(400, "bad_request", "lat and lon go together")
            if not addr and lat is None:
                raise ApiError(400, "bad_request", "an address or coordinates")
            c["location"] = {"address": addr, "lat": lat, "lon": lon, "source": "operator"}
            c["records"].append({"time": t, "event": "located", "by": user})
        elif action == "ready":
            if not c["class"]:
                raise ApiError(409, "conflict", "classify the case first")
            c["ready"] = True
            c["records"].append({"time": t, "event": "ready", "by": user})
        elif action == "mark":
            mark = body.get("mark")
            if not isinstance(mark, str) or not re.fullmatch(r"[a-z0-9-]{1,32}", mark):
                raise ApiError(400, "bad_request", "a mark is 1-32 of a-z, 0-9 and -")
            c["marks"].append(mark)
        else:
            raise ApiError(404, "not_found", "no such action")
        if cid in self.calls:
            self.call_changed(cid)
            return self.calls[cid]
        return self.case_obj(cid)

    def history(self, number):
        cases = [c for c in self.cases.values() if strip_uri(c["caller"]) == number]
        cases.sort(key=lambda c: c["opened_ms"], reverse=True)
        return {
            "caller": number,
            "cases": [{"case": c["case"], "opened_ms": c["opened_ms"], "class": c["class"], "reason": c["reason"]}
                      for c in cases[:20]],
            "pranks": sum(1 for c in cases if c["class"] == "prank"),
        }


MIME = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".json": "application/json; charset=utf-8",
    ".png": "image/png", ".svg": "image/svg+xml", ".ico": "image/x-icon", ".md": "text/plain; charset=utf-8",
}


class Handler(BaseHTTPRequestHandler):
    server_version = "siaga112-mock"
    world: World = None

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

    # ------------------------------------------------------------ helpers

    def send_json(self, status, obj, headers=None):
        body = b"" if obj is None else json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def send_error_json(self, e):
        headers = {"Retry-After": "30"} if e.status == 429 else None
        self.send_json(e.status, {"error": e.code, "message": e.message}, headers)

    def user(self):
        c = cookies.SimpleCookie(self.headers.get("Cookie", ""))
        if COOKIE in c:
            return session_user(c[COOKIE].value)
        return None

    def need_user(self):
        u = self.user()
        if not u:
            raise ApiError(401, "unauthenticated", "sign in first")
        return u

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 16384:
            raise ApiError(413, "too_large", "body too large")
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return {}
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/json":
            raise ApiError(415, "unsupported_media", "JSON only")
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "bad_request", "malformed JSON")

    def me_obj(self, user):
        u = USERS[user]
        return {"user": user, "role": u["role"], "seat": u["seat"], "agency": u["agency"], "csrf": csrf_for(user)}

    # ------------------------------------------------------------ GET

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        try:
            if path.startswith("/api/"):
                return self.api_get(path, urllib.parse.parse_qs(url.query))
            if self.server.delay:
                time.sleep(self.server.delay)
            return self.static(url)
        except ApiError as e:
            self.send_error_json(e)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def api_get(self, path, qs):
        w = self.world
        if path == "/api/me":
            return self.send_json(200, self.me_obj(self.need_user()))
        if path == "/api/events":
            return self.events(self.need_user())
        user = self.need_user()
        with w.lock:
            if path == "/api/config":
                return self.send_json(200, CONFIG)
            if path == "/api/state":
                return self.send_json(200, w.state_for(user))
            m = re.fullmatch(r"/api/cases/([^/]+)", path)
            if m:
                cid = urllib.parse.unquote(m.group(1))
                w.may_touch_case(user, cid)
                return self.send_json(200, w.case_obj(cid))
            m = re.fullmatch(r"/api/callers/([^/]+)/history", path)
            if m:
                if USERS[user]["role"] == "agency":
                    raise ApiError(403, "forbidden", "not allowed")
                return self.send_json(200, w.history(strip_uri(urllib.parse.unquote(m.group(1)))))
        raise ApiError(404, "not_found", "no such endpoint")

    def static(self, url):
        qs = urllib.parse.parse_qs(url.query)
        if "mock_login" in qs:
            user = qs["mock_login"][0]
            if user not in USERS:
                raise ApiError(404, "not_found", "no such mock user")
            rest = urllib.parse.urlencode([(k, v) for k, vs in qs.items() if k != "mock_login" for v in vs])
            self.send_response(302)
            self.send_header("Set-Cookie", f"{COOKIE}={session_cookie(user)}; HttpOnly; SameSite=Strict; Path=/")
            self.send_header("Location", url.path + ("?" + rest if rest else ""))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        rel = urllib.parse.unquote(url.path).lstrip("/") or "index.html"
        full = os.path.realpath(os.path.join(WEB, rel))
        hidden = rel.startswith("dev/") and not rel.startswith("dev/screenshots/")
        if not full.startswith(WEB + os.sep) or not os.path.isfile(full) or hidden:
            raise ApiError(404, "not_found", "no such file")
        with open(full, "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", MIME.get(os.path.splitext(full)[1], "application/octet-stream"))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                         "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
        self.end_headers()
        self.wfile.write(data)

    def events(self, user):
        w = self.world
        q = queue.Queue()
        with w.lock:
            w.subscribers.append((q, user))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()
        try:
            self.wfile.write(b"retry: 2000\n\n")
            self.write_event("hello", json.dumps({"now_ms": now_ms()}))
            while True:
                try:
                    item = q.get(timeout=15)
                except queue.Empty:
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
                    continue
                if item is None:
                    break
                self.write_event(*item)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            with w.lock:
                w.subscribers = [s for s in w.subscribers if s[0] is not q]
            self.close_connection = True

    def write_event(self, event, payload):
        self.wfile.write(f"event: {event}\ndata: {payload}\n\n".encode())
        self.wfile.flush()

    # ------------------------------------------------------------ POST

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        w = self.world
        try:
            if path == "/dev/restart":
                with w.lock:
                    w.restart()
                return self.send_json(204, None)
            if path == "/dev/call":
                b = self.body()
                with w.lock:
                    cid = w.arrive(b.get("queue", "emergency"), b.get("caller"), bool(b.get("noanswer")))
                return self.send_json(200, {"case": cid})
            if path == "/api/login":
                return self.login()
            user = self.need_user()
            if self.headers.get("X-CSRF-Token") != csrf_for(user):
                raise ApiError(403, "csrf", "missing or wrong CSRF token")
            if path == "/api/logout":
                self.send_response(204)
                self.send_header("Set-Cookie", f"{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = self.body()
            if self.server.delay:
                time.sleep(self.server.delay)
            with w.lock:
                m = re.fullmatch(r"/api/seats/([^/]+)/(pause|unpause|logout)", path)
                if m:
                    return self.send_json(200, w.seat_action(user, urllib.parse.unquote(m.group(1)), m.group(2), body))
                m = re.fullmatch(r"/api/cases/([^/]+)/(classify|note|location|ready|mark)", path)
                if m:
                    return self.send_json(200, w.case_action(user, urllib.parse.unquote(m.group(1)), m.group(2), body))
            raise ApiError(404, "not_found", "no such endpoint")
        except ApiError as e:
            self.send_error_json(e)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def login(self):
        b = self.body()
        user, pw = b.get("user"), b.get("password")
        w = self.world
        if user == "toomany":
            raise ApiError(429, "too_many", "too many attempts")
        with w.lock:
            t = time.time()
            fails = [x for x in w.login_failures.get(user, []) if t - x < 60]
            w.login_failures[user] = fails
            if len(fails) >= 5:
                raise ApiError(429, "too_many", "too many attempts")
            u = USERS.get(user)
            if not u or not isinstance(pw, str) or not hmac.compare_digest(pw, u["password"]):
                fails.append(t)
                raise ApiError(401, "unauthenticated", "wrong user or password")
            w.login_failures.pop(user, None)
        self.send_json(200, self.me_obj(user),
                       {"Set-Cookie": f"{COOKIE}={session_cookie(user)}; HttpOnly; SameSite=Strict; Path=/"})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("port", type=int)
    ap.add_argument("--first", type=float, default=4, help="seconds before the first call")
    ap.add_argument("--interval", type=float, default=15, help="seconds between emergency calls")
    ap.add_argument("--info-interval", type=float, default=45, help="seconds between info-queue calls (0: none)")
    ap.add_argument("--answer", type=float, default=3, help="seconds a seat rings before it answers")
    ap.add_argument("--ring-timeout", type=float, default=6, help="seconds before an unanswered offer goes elsewhere")
    ap.add_argument("--talk", type=float, default=8, help="seconds of talk")
    ap.add_argument("--wrap", type=float, default=5, help="seconds of wrap-up")
    ap.add_argument("--delay", type=float, default=0, help="extra seconds before each answer (slow network)")
    ap.add_argument("--seed", type=int, default=112)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    world = World(args)
    Handler.world = world
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.verbose = args.verbose
    srv.delay = args.delay
    threading.Thread(target=world.run, daemon=True).start()
    print(f"mock siaga112 console API on http://127.0.0.1:{args.port}/ (web: {WEB})", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
