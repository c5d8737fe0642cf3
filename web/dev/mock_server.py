#!/usr/bin/env python3
"""A mock of the siaga112 console API (v1 and the v2 additions), for working
on web/ without the engine.

Python 3.11 standard library only. Serves web/ and implements the contract of
the console API (login, CSRF, config, state, cases, caller history, seat and
case actions, Server-Sent Events; v2: dispatch to agencies, tickets,
callbacks, case search, reports, export) over fake data:

  users      sup/sup (supervisor), op1/secret1 .. op3/secret3 (operators,
             seats op1..op3), damkar/damkar and bpbd/bpbd (agency users);
             user "toomany" always gets 429 (to see that message)
  history    --history-days (45) days of generated cases before now (about
             220 a day, most of them pranks, as in a real 112 centre), with
             tickets to the agencies, callbacks, notes and locations: the
             reports, the search, today's figures and the callback list are
             computed from it
  calls      an emergency call arrives every --interval s (15), is offered
             to the first available seat (op1 first), answered after
             --answer s (3), talks --talk s (8), then the seat wraps up for
             --wrap s (5). An info-queue call every --info-interval s waits
             (op3, the only info seat, starts paused) and is abandoned after
             30 s.
  agencies   tickets to agencies without a mock user (polres, dinkes,
             satpolpp, dishub) move on by themselves (acknowledged, on
             scene, closed) at --agency-pace (1 = real time, 0 = never);
             damkar and bpbd wait for their users (or a supervisor)

Mock-only conveniences (never in the real engine):
  GET <page>?mock_login=USER   sets the session cookie for USER and redirects
  POST /dev/restart            drops every event stream and all live calls,
                               as an engine restart would (sessions survive:
                               they are signed, not stored)
  POST /dev/call               makes a call arrive now (JSON body optional:
                               {"queue": "info", "caller": "sip:+62...@x",
                               "noanswer": true, "hangup": 1.5}: noanswer: the
                               first seat offered lets it ring until
                               --ring-timeout, then it goes elsewhere; hangup:
                               the caller hangs up after that many seconds if
                               not answered by then: an abandoned call, on the
                               callback list when it is an emergency call)
  POST /dev/ticket             an operator's dispatch happens now: {"agency":
                               "damkar", "case": optional (else a new ended
                               emergency case is made for it), "note":
                               optional, "by": "op1"} -> the ticket

Usage: python3 web/dev/mock_server.py PORT [--interval 15] [--seed 112]
Binds 127.0.0.1 only.
"""

import argparse
import base64
import csv
import hashlib
import hmac
import io
import json
import math
import os
import queue
import random
import re
import sys
import threading
import time
import urllib.parse
from datetime import date, datetime, timedelta, timezone
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
    "bpbd": {"password": "bpbd", "role": "agency", "seat": None, "agency": "bpbd"},
}

AGENCIES = [
    {"id": "damkar", "name": "Dinas Pemadam Kebakaran", "categories": ["kebakaran", "pohon-tumbang", "hewan-liar"], "number": "113"},
    {"id": "polres", "name": "Polrestabes Bandung", "categories": ["kriminal", "kdrt", "kecelakaan"], "number": "110"},
    {"id": "dinkes", "name": "Dinas Kesehatan (PSC 119)", "categories": ["ambulans", "medis", "kecelakaan"], "number": "119"},
    {"id": "bpbd", "name": "Badan Penanggulangan Bencana Daerah", "categories": ["bencana", "banjir", "pohon-tumbang"], "number": None},
    {"id": "satpolpp", "name": "Satuan Polisi Pamong Praja", "categories": ["ketertiban"], "number": None},
    {"id": "dishub", "name": "Dinas Perhubungan", "categories": ["lalu-lintas"], "number": None},
]
AGENCY_IDS = [a["id"] for a in AGENCIES]
USER_AGENCIES = {u["agency"] for u in USERS.values() if u["agency"]}

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
        {"id": "ketertiban", "id_label": "Gangguan ketertiban", "en_label": "Public disorder"},
        {"id": "lalu-lintas", "id_label": "Gangguan lalu lintas", "en_label": "Traffic disruption"},
    ],
    "pause_reasons": ["break", "meal", "training", "meeting"],
    "queues": ["emergency", "info"],
    "seats": ["op1", "op2", "op3"],
    "agencies": AGENCIES,
    "ticket_statuses": ["sent", "acknowledged", "on-scene", "closed", "cancelled"],
    "callback_outcomes": ["reached", "no-answer", "busy", "wrong-number", "handled"],
    "lang": "id",
    "targets": {"answer_10s": 0.9, "answer_15s": 0.9, "answer_20s": 0.95, "dispatch_60s": 0.9},
}
CATEGORY_IDS = [c["id"] for c in CONFIG["categories"]]

SEAT_QUEUES = {"op1": ["emergency"], "op2": ["emergency"], "op3": ["emergency", "info"]}
FALSE_CLASSES = ("prank", "silent", "accidental")
STEP = {"sent": 0, "acknowledged": 1, "on-scene": 2, "closed": 3, "cancelled": 3}
ACTIONS = {"acknowledge": "acknowledged", "on-scene": "on-scene", "close": "closed", "cancel": "cancelled"}
FINAL = ("closed", "cancelled")
BUCKETS = [5, 10, 15, 20, 30, 60, 120, None]

CALLERS = [
    ("sip:+6281234567890@trunk.telco-a.example;user=phone", None),
    ("tel:+6285711122233", {"address": "Jl. Merdeka No. 5, Sumur Bandung, Kota Bandung", "lat": -6.9147, "lon": 107.6098, "source": "pidf"}),
    ("sip:+6287812345678@trunk.telco-a.example", None),
    ("sip:+622150001234@trunk.telco-a.example", {"address": "Jl. Jend. Sudirman Kav. 52, Jakarta Selatan", "lat": -6.2250, "lon": 106.8090, "source": "pidf"}),
    ("sip:+6281398765432@trunk.telco-a.example", None),
    ("sip:anonymous@anonymous.invalid", None),
]
# An NG112 call: PIDF-LO location by value (GPS, 35 m), civic address, Resource-Priority, ids, languages.
NG112_CALLER = "sip:+6281277788899@ims.telco-b.example;user=phone"
NG112_DETAIL = {
    "shape": "circle", "radius_m": 35.0, "method": "GPS", "timestamp": None, "provided_by": "telco-b.example",
    "civic": {"country": "ID", "A1": "DKI Jakarta", "A2": "Jakarta Pusat", "A3": "Menteng", "RD": "Jalan M.H. Thamrin", "HNO": "10"},
    "reference": None, "problems": [],
}
NG112_INFO = {
    "resource_priority": "esnet.1",
    "emergency_call_id": "urn:emergency:uid:callid:a1b2c3d4e5f6:bcf.telco-b.example",
    "incident_id": "urn:emergency:uid:incidentid:9f8e7d6c5b4a:bcf.telco-b.example",
    "languages": ["id", "jv"],
    "history": ["<sip:112@bcf.telco-b.example>;index=1", "<sip:112@esrp.siaga112.example>;index=1.1"],
    "unread": ["a second PIDF-LO body (geopriv) had no usable location"],
}
# A text call (SIP MESSAGE to 112): what the caller writes, one line after each operator message.
TEXT_CALLER = "sip:+6285299911100@ims.telco-a.example"
TEXT_SCRIPT = [
    "Tolong, ada orang pingsan di depan rumah saya. Saya tidak bisa bicara (tuna rungu).",
    "Di Jl. Cihampelas No. 160, Bandung. Depan toko roti.",
    "Laki-laki, sekitar 60 tahun. Masih bernapas tapi tidak sadar.",
    "Baik, saya tunggu. Terima kasih.",
]

SPECIAL_NUMBERS = {"+6281234567890", "+6285711122233", "+6287812345678", "+622150001234", "+6281398765432"}

ADDRESSES = [
    ("Jl. Braga No. 10, Sumur Bandung", -6.9175, 107.6094),
    ("Jl. Asia Afrika No. 8, Sumur Bandung", -6.9218, 107.6072),
    ("Jl. Ir. H. Juanda No. 120, Coblong", -6.8860, 107.6135),
    ("Jl. Soekarno-Hatta No. 590, Bandung Kidul", -6.9445, 107.6340),
    ("Jl. Dr. Djundjunan No. 21, Sukajadi", -6.8946, 107.5897),
    ("Jl. Cihampelas No. 160, Coblong", -6.8935, 107.6045),
    ("Jl. Buah Batu No. 88, Lengkong", -6.9345, 107.6255),
    ("Jl. Kiaracondong No. 45, Batununggal", -6.9240, 107.6450),
    ("Jl. Dr. Setiabudi No. 200, Sukasari", -6.8725, 107.5960),
    ("Pasar Baru, Jl. Otto Iskandardinata, Sumur Bandung", -6.9170, 107.6030),
    ("Jl. Jend. Ahmad Yani No. 300, Cicadas", -6.9120, 107.6450),
    ("Jl. Kopo No. 150, Bojongloa Kaler", -6.9400, 107.5850),
    ("Terminal Leuwipanjang, Bojongloa Kidul", -6.9465, 107.5960),
    ("Jl. Pasteur, depan RS Hasan Sadikin", -6.8966, 107.5985),
]

NOTES = {
    "kebakaran": ["Api terlihat dari atap rumah, asap hitam tebal", "Kebakaran di dapur rumah makan, penghuni sudah keluar",
                  "Korsleting listrik di ruko lantai 2, asap keluar dari jendela", "Gudang kayu terbakar, api membesar"],
    "kriminal": ["Penelepon melihat pencurian motor di parkiran", "Dugaan perampokan di minimarket, pelaku 2 orang",
                 "Perkelahian antar kelompok pemuda, ada yang membawa senjata tajam"],
    "kecelakaan": ["Tabrakan motor dan mobil, satu korban luka di kaki", "Motor terjatuh, pengendara tidak sadarkan diri",
                   "Truk terguling, jalan tertutup sebagian"],
    "ambulans": ["Ibu hamil akan melahirkan, butuh ambulans", "Lansia jatuh di kamar mandi, tidak bisa bangun"],
    "medis": ["Sesak napas, riwayat asma", "Nyeri dada sejak 30 menit, usia 58 tahun", "Anak kejang, demam tinggi"],
    "bencana": ["Longsor kecil menutup jalan kampung", "Angin kencang merusak atap beberapa rumah warga"],
    "kdrt": ["Penelepon dipukul suami, sekarang di rumah tetangga", "Terdengar teriakan minta tolong dari rumah sebelah"],
    "pohon-tumbang": ["Pohon tumbang menutup jalan, tidak ada korban", "Pohon tumbang menimpa mobil yang parkir"],
    "hewan-liar": ["Ular kobra masuk ke dalam rumah", "Sarang tawon besar di teras rumah"],
    "banjir": ["Air masuk rumah setinggi 50 cm", "Banjir di underpass, kendaraan terjebak"],
    "ketertiban": ["Keributan di tempat hiburan malam", "Pedagang menutup badan jalan, warga resah"],
    "lalu-lintas": ["Lampu lalu lintas mati di perempatan", "Kemacetan panjang karena bus mogok"],
}
TICKET_NOTES = {
    "acknowledged": ["Unit berangkat", "Diterima, unit menuju lokasi", None, None],
    "on-scene": ["Unit tiba di lokasi", None, None],
    "closed": ["Selesai ditangani", "Korban dibawa ke RS", "Situasi aman", None],
    "cancelled": ["Ditangani unit lain", "Penelepon membatalkan"],
}
# minutes from acknowledged to on scene (median) per agency
ON_SCENE_MIN = {"damkar": 9, "polres": 12, "dinkes": 13, "bpbd": 25, "satpolpp": 18, "dishub": 20}

CLASS_WEIGHTS = [("prank", 42), ("silent", 12), ("accidental", 8), ("information", 13), ("complaint", 5), ("emergency", 17), ("dropped", 3)]
CATEGORY_WEIGHTS = [("kecelakaan", 20), ("medis", 18), ("kebakaran", 10), ("kriminal", 14), ("ambulans", 10), ("kdrt", 5),
                    ("pohon-tumbang", 6), ("banjir", 6), ("bencana", 3), ("hewan-liar", 4), ("ketertiban", 3), ("lalu-lintas", 2)]
HOUR_WEIGHTS = [3, 2, 1.5, 1, 1, 1.5, 3, 5, 7, 8, 8, 8, 7, 8, 9, 9, 8, 8, 9, 9, 8, 7, 5, 4]
TALK_S = {"prank": (10, 40), "silent": (15, 30), "accidental": (5, 15), "information": (60, 180), "complaint": (90, 300),
          "emergency": (90, 360), "dropped": (3, 10), None: (20, 60)}


def now_ms():
    return int(time.time() * 1000)


def day_of(ms):
    """The centre's date of a time (the mock: the machine's local time zone)."""
    return time.strftime("%Y-%m-%d", time.localtime(ms / 1000))


def day_start(d):
    """Unix ms of 00:00 local on date d (a date or 'YYYY-MM-DD')."""
    if isinstance(d, str):
        d = date.fromisoformat(d)
    return int(time.mktime((d.year, d.month, d.day, 0, 0, 0, 0, 0, -1)) * 1000)


def iso(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


def weighted(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.uniform(0, total)
    for k, w in pairs:
        x -= w
        if x <= 0:
            return k
    return pairs[-1][0]


def mean(xs):
    return round(sum(xs) / len(xs), 1) if xs else None


def p90(xs):
    if not xs:
        return None
    s = sorted(xs)
    return round(s[max(0, math.ceil(0.9 * len(s)) - 1)], 1)


def share(n, d):
    return round(n / d, 4) if d else None


class ApiError(Exception):
    def __init__(self, status, code, message, state=None):
        super().__init__(message)
        self.status, self.code, self.message, self.state = status, code, message, state


def parse_date(qs, name, default):
    v = (qs.get(name) or [None])[0]
    if not v:
        return default
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name}: a date YYYY-MM-DD")


def date_range(qs, default_from, default_to, max_days=366):
    d0 = parse_date(qs, "from", default_from)
    d1 = parse_date(qs, "to", default_to)
    if d1 < d0:
        raise ApiError(400, "bad_request", "to is before from")
    if (d1 - d0).days >= max_days:
        raise ApiError(400, "bad_request", f"at most {max_days} days")
    return d0, d1


class World:
    """The fake engine: seats, queues, calls, cases, tickets, figures, and subscribers."""

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
        self.cases = {}  # every case (live or ended), folded; ids in time order
        self.tickets = {}  # the latest ticket of each (case, agency), by ticket id
        self.counter = 0
        self.seq = 0
        self.subscribers = []  # [queue.Queue, user]
        self.timers = []  # [(at_s, seq, fn)]
        self.timer_seq = 0
        self.figures_dirty = True
        self.callbacks_dirty = False
        self.login_failures = {}
        self.boot = 0
        self._seed_history(t)

    # ------------------------------------------------------------ seeds

    def _new_case_id(self):
        self.counter += 1
        return f"0001-{self.counter:06d}"

    def _blank_case(self, cid, caller, queue_name, opened):
        return {
            "case": cid, "caller": caller, "called": "112" if queue_name == "emergency" else "1500112",
            "service": "112" if queue_name == "emergency" else "info", "queue": queue_name, "priority": 0,
            "from_seat": None, "opened_ms": opened, "answered_ms": None, "ended_ms": None, "reason": None,
            "seat": None, "wait_ms": None, "talk_ms": None, "class": None, "category": None, "notes": [],
            "location": None, "marks": [], "recording": None, "ready": False, "handled_by": [],
            "tickets": [], "closed_ms": None, "callback": None,
            "network_location": None, "info": None, "channel": "voice", "text": None,
            "records": [{"time": iso(opened), "event": "opened", "caller": caller, "service": "112" if queue_name == "emergency" else "info"}],
        }

    def _seed_history(self, t):
        """The fixed cases of v1 (a prank caller...) and --history-days of generated ones, in time order."""
        rng = random.Random(self.args.seed * 7 + 1)
        specs = []
        fixed = [
            ("sip:+6281234567890@trunk.telco-a.example", "prank", 86400_000 * 9),
            ("sip:+6281234567890@trunk.telco-a.example", "prank", 86400_000 * 5),
            ("sip:+6281234567890@trunk.telco-a.example", "silent", 86400_000 * 3),
            ("sip:+6281234567890@trunk.telco-a.example", "prank", 3600_000 * 20),
            ("tel:+6285711122233", "emergency", 86400_000 * 40),
            ("sip:+622150001234@trunk.telco-a.example", "information", 86400_000 * 2),
            (NG112_CALLER, "emergency", 3600_000 * 3, "ng112"),
            (TEXT_CALLER, "emergency", 3600_000 * 2, "text"),
        ]
        for caller, cls, ago, *kind in fixed:
            specs.append((t - ago, {"caller": caller, "class": cls, "fixed": True, "kind": kind[0] if kind else None}))

        numbers = [f"+628{rng.choice([11, 12, 13, 21, 22, 52, 53, 57, 58, 77, 78, 81, 82, 95, 96])}{rng.randrange(10**7, 10**8)}"
                   for _ in range(2500)]
        pranksters = numbers[:60]
        today = date.fromtimestamp(t / 1000)
        for back in range(self.args.history_days, -1, -1):
            d = today - timedelta(days=back)
            start = day_start(d)
            end = min(day_start(d + timedelta(days=1)), t - 90_000)
            if end <= start:
                continue
            n = int(rng.gauss(220, 25) * (1.12 if d.weekday() >= 5 else 1.0))
            hours = [(h, w) for h, w in enumerate(HOUR_WEIGHTS) if start + h * 3600_000 < end]
            if back == 0:
                n = max(40, int(n * sum(w for _, w in hours) / sum(HOUR_WEIGHTS)))
            for _ in range(n):
                h = weighted(rng, hours)
                lo = start + h * 3600_000
                opened = int(rng.uniform(lo, min(lo + 3600_000, end)))
                specs.append((opened, {"rng": True}))
        specs.sort(key=lambda x: x[0])
        abandoned = []
        for opened, spec in specs:
            cid = self._new_case_id()
            if spec.get("fixed"):
                self._fixed_case(cid, opened, spec)
            else:
                c = self._generated_case(rng, cid, opened, numbers, pranksters, t)
                if c["reason"] == "abandoned" and c["queue"] == "emergency":
                    abandoned.append(c)
        # the last three abandoned emergency calls of the last hours still wait for a call back
        # (one of them was tried once: no answer)
        for i, c in enumerate(abandoned[-3:]):
            if t - c["ended_ms"] > 6 * 3600_000:
                continue
            c["records"] = [r for r in c["records"] if r["event"] != "callback"]
            c["callback"] = {"due": True, "attempts": []}
            at = c["ended_ms"] + 120_000
            if i == 1 and at < t - 10_000:
                c["callback"]["attempts"].append({"at_ms": at, "by": "op2", "outcome": "no-answer", "note": None})
                c["records"].append({"time": iso(at), "event": "callback", "outcome": "no-answer", "by": "op2"})

    def _fixed_case(self, cid, opened, spec):
        c = self._blank_case(cid, spec["caller"], "emergency", opened)
        c.update({"answered_ms": opened + 4000, "ended_ms": opened + 64000, "reason": "completed", "seat": "op2",
                  "wait_ms": 4000, "talk_ms": 60000, "class": spec["class"], "handled_by": ["op2"],
                  "closed_ms": opened + 64000})
        c["records"] += [{"time": iso(opened + 4000), "event": "answered", "seat": "op2"},
                         {"time": iso(opened + 30000), "event": "classified", "class": spec["class"], "by": "op2"},
                         {"time": iso(opened + 64000), "event": "ended", "reason": "completed", "wait_ms": 4000, "talk_ms": 60000, "seat": "op2"}]
        if spec.get("kind") == "ng112":
            self.ng112(c, opened, False)
            c["category"] = "kebakaran"
            c["location"] = {"address": "Jl. M.H. Thamrin No. 10 (Menara BCA, lantai 3)", "lat": -6.193125, "lon": 106.822305, "source": "operator"}
        elif spec.get("kind") == "text":
            c["channel"] = "text"
            c["category"] = "medis" if "medis" in CATEGORY_IDS else None
            msgs = []
            for i, line in enumerate(TEXT_SCRIPT):
                msgs.append({"from": "caller", "by": None, "at_ms": opened + 2000 + i * 14000, "text": line})
                if i < len(TEXT_SCRIPT) - 1:
                    msgs.append({"from": "operator", "by": "op2", "at_ms": opened + 8000 + i * 14000,
                                 "text": ["112, kami membaca pesan Anda. Di mana lokasinya?", "Siapa yang pingsan? Apakah masih bernapas?",
                                          "Ambulans kami kirim. Tetap di tempat dan kabari kami jika ada perubahan."][i]})
            c["text"] = {"open": False, "messages": msgs}
            c["records"] += [dict({"time": iso(m["at_ms"]), "event": "text"}, **{k: v for k, v in m.items() if k != "at_ms" and v})
                             for m in msgs]
        c["records"].sort(key=lambda r: r["time"])
        self.cases[cid] = c

    def _generated_case(self, rng, cid, opened, numbers, pranksters, now):
        queue_name = "info" if rng.random() < 0.08 else "emergency"
        cls = "information" if queue_name == "info" else weighted(rng, CLASS_WEIGHTS)
        number = rng.choice(pranksters) if cls == "prank" and rng.random() < 0.6 else rng.choice(numbers)
        c = self._blank_case(cid, f"sip:{number}@trunk.telco-a.example", queue_name, opened)
        self.cases[cid] = c
        seat = "op3" if queue_name == "info" else rng.choice(["op1", "op1", "op2", "op2", "op3"])
        rec = c["records"]
        if rng.random() < 0.04:  # abandoned while queued
            wait = rng.uniform(4000, 40000)
            end = int(opened + wait)
            c.update({"ended_ms": end, "reason": "abandoned", "wait_ms": int(wait), "talk_ms": 0, "closed_ms": end})
            rec.append({"time": iso(end), "event": "ended", "reason": "abandoned", "wait_ms": int(wait), "talk_ms": 0, "queue": queue_name})
            rec.append({"time": iso(end), "event": "closed"})
            if queue_name == "emergency":
                at = end + int(rng.uniform(60_000, 600_000))
                if at >= now:
                    c["callback"] = {"due": True, "attempts": []}
                else:
                    outcome = rng.choice(["reached", "reached", "handled", "wrong-number"])
                    by = rng.choice(["op1", "op2"])
                    c["callback"] = {"due": False, "attempts": [{"at_ms": at, "by": by, "outcome": outcome, "note": None}]}
                    rec.append({"time": iso(at), "event": "callback", "outcome": outcome, "by": by})
            return c
        r = rng.random()
        wait_s = max(1.0, rng.gauss(4.5, 2)) if r < 0.8 else rng.uniform(8, 18) if r < 0.95 else rng.uniform(18, 45) if r < 0.99 else rng.uniform(45, 150)
        answered = int(opened + wait_s * 1000)
        if rng.random() < 0.01:
            cls = None  # the operator never classified it
        lo, hi = TALK_S[cls]
        talk = int(rng.uniform(lo, hi) * 1000)
        end = answered + talk
        c.update({"answered_ms": answered, "ended_ms": end, "reason": "completed", "seat": seat, "wait_ms": answered - opened,
                  "talk_ms": talk, "class": cls, "handled_by": [seat]})
        rec += [{"time": iso(opened + 200), "event": "offered", "seat": seat}, {"time": iso(answered), "event": "answered", "seat": seat}]
        last = end
        if cls:
            cat = weighted(rng, CATEGORY_WEIGHTS) if cls == "emergency" else None
            c["category"] = cat
            rec.append({"time": iso(answered + 12000), "event": "classified", "class": cls, "category": cat, "by": seat})
        if cls == "emergency":
            addr, lat, lon = rng.choice(ADDRESSES)
            if rng.random() < 0.8:
                c["location"] = {"address": addr, "lat": round(lat + rng.uniform(-.004, .004), 6), "lon": round(lon + rng.uniform(-.004, .004), 6),
                                 "source": "pidf" if rng.random() < 0.3 else "operator"}
                rec.append({"time": iso(answered + 15000), "event": "located", "address": addr, "lat": c["location"]["lat"],
                            "lon": c["location"]["lon"], "source": c["location"]["source"], "by": seat})
            for i, text in enumerate(rng.sample(NOTES[cat], k=min(len(NOTES[cat]), rng.choice([1, 1, 2])))):
                at = answered + 18000 + i * 9000
                c["notes"].append({"by": seat, "at_ms": at, "text": text})
                rec.append({"time": iso(at), "event": "note", "text": text, "by": seat})
            c["ready"] = True
            rec.append({"time": iso(answered + 30000), "event": "ready", "by": seat})
            if rng.random() < 0.9:
                agencies = [a["id"] for a in AGENCIES if cat in a["categories"]]
                chosen = [agencies[0]] + ([agencies[1]] if len(agencies) > 1 and rng.random() < 0.25 else [])
                sent = answered + int(math.exp(rng.gauss(math.log(35), 0.45)) * 1000)
                for k, ag in enumerate(chosen):
                    tk = self._make_ticket(c, ag, sent + k * int(rng.uniform(15000, 60000)), seat, rng.choice(NOTES[cat]) if rng.random() < 0.3 else None)
                    last = max(last, self._seed_ticket_life(rng, tk, now))
        elif cls in ("information", "complaint") and rng.random() < 0.3:
            text = "Informasi diberikan" if cls == "information" else "Pengaduan dicatat, diteruskan ke dinas terkait"
            c["notes"].append({"by": seat, "at_ms": answered + 20000, "text": text})
            rec.append({"time": iso(answered + 20000), "event": "note", "text": text, "by": seat})
        rec.append({"time": iso(end), "event": "ended", "reason": "completed", "wait_ms": c["wait_ms"], "talk_ms": talk, "seat": seat})
        rec.sort(key=lambda x: x["time"])
        if all(tk["status"] in FINAL for tk in c["tickets"]):
            c["closed_ms"] = last
            rec.append({"time": iso(last), "event": "closed"})
        return c

    def _seed_ticket_life(self, rng, tk, now):
        """Steps of a generated ticket: those already past are in its history, later ones are scheduled
        (agencies without a user) or wait for the agency's user. Returns when it became final (or 0)."""
        ag = tk["agency"]
        t_ack = tk["sent_ms"] + int(math.exp(rng.gauss(math.log(40), 0.5)) * 1000)
        t_scene = t_ack + int(math.exp(rng.gauss(math.log(ON_SCENE_MIN[ag] * 60), 0.35)) * 1000)
        t_close = t_scene + int(rng.uniform(20, 110) * 60_000)
        steps = [("acknowledged", t_ack), ("on-scene", t_scene), ("closed", t_close)]
        if rng.random() < 0.03:
            steps = [("acknowledged", t_ack), ("cancelled", t_ack + int(rng.uniform(60, 600) * 1000))]
        done = 0
        for status, at in steps:
            if at <= now:
                self._ticket_step(tk, status, at, ag if ag in USER_AGENCIES else f"{ag}-piket", rng.choice(TICKET_NOTES[status]), publish=False)
                done = at if status in FINAL else done
            elif ag not in USER_AGENCIES and self.args.agency_pace > 0:
                self._schedule_auto(tk, status, (at - now) / 1000 * self.args.agency_pace)
                break
            else:
                break
        return done

    # ------------------------------------------------------------ events

    def publish(self, event, data, seat=None, to=None):
        """seat: when the event concerns one seat's call (operators see only their own).
        to: who gets it (a test on the user); else staff only (agency users get only what `to` lets through).
        Returns the data with its seq."""
        self.seq += 1
        data = dict(data, seq=self.seq)
        payload = json.dumps(data, ensure_ascii=False)
        for q, user in list(self.subscribers):
            u = USERS[user]
            if to is not None:
                if not to(user):
                    continue
            elif u["role"] == "agency":
                continue
            elif seat is not None and u["role"] == "operator" and u["seat"] != seat:
                continue
            q.put((event, payload))
        return data

    def seat_changed(self, seat):
        self.seats[seat] = self.publish("seat", self.seats[seat])

    def queue_obj(self, name):
        ids = self.waiting[name]
        oldest = min((self.calls[c]["opened_ms"] for c in ids), default=None)
        return {"queue": name, "waiting": len(ids), "oldest_ms": oldest}

    def queue_changed(self, name):
        self.publish("queue", self.queue_obj(name))

    def call_obj(self, case_id):
        c = self.cases[case_id]
        keys = ("case", "caller", "called", "service", "queue", "priority", "from_seat", "opened_ms",
                "answered_ms", "seat", "marks", "class", "category", "notes", "location", "ready", "closed_ms", "callback",
                "network_location", "info", "channel", "text")
        o = {k: c[k] for k in keys}
        o["answered"] = c["answered_ms"] is not None
        o["tickets"] = [dict(tk) for tk in c["tickets"]]
        o["seq"] = self.seq
        return o

    def case_obj(self, case_id):
        c = dict(self.cases[case_id])
        for k in ("handled_by", "skip", "noanswer", "hangup", "script", "idle_at"):
            c.pop(k, None)
        c["tickets"] = [dict(tk) for tk in c["tickets"]]
        c["live"] = case_id in self.calls
        c["seq"] = self.seq
        return c

    def call_changed(self, case_id):
        c = self.calls.get(case_id)
        if c is not None:
            obj = self.call_obj(case_id)
            self.calls[case_id] = self.publish("call", obj, seat=obj["seat"] or "")

    def sees_case(self, user, c):
        u = USERS[user]
        return u["role"] == "supervisor" or (u["role"] == "operator" and u["seat"] in c["handled_by"])

    def today_cases(self):
        start = day_start(date.today())
        # ids are in time order: walk back from the newest
        out = []
        for cid in reversed(list(self.cases)):
            c = self.cases[cid]
            if c["opened_ms"] < start:
                break
            out.append(c)
        return out

    def figures(self):
        cases = self.today_cases()
        return dict(self.totals(cases), date=day_of(now_ms()), **self.dispatch_figures(cases))

    def totals(self, cases):
        answered = [c for c in cases if c["answered_ms"] is not None]
        abandoned = sum(1 for c in cases if c["reason"] == "abandoned")
        denom = len(answered) + abandoned
        waits = [(c["answered_ms"] - c["opened_ms"]) / 1000 for c in answered]
        by_class = {k: 0 for k in CONFIG["classes"]}
        for c in cases:
            if c["class"]:
                by_class[c["class"]] = by_class.get(c["class"], 0) + 1
        classified = sum(by_class.values())
        unclassified = sum(1 for c in answered if not c["class"])

        def within(n):
            return share(sum(1 for w in waits if w <= n), denom)

        return {
            "offered": len(cases), "answered": len(answered), "abandoned": abandoned, "by_class": by_class,
            "within_10s": within(10), "within_15s": within(15), "within_20s": within(20),
            "mean_answer_s": mean(waits), "abandoned_share": share(abandoned, denom),
            "false_share": share(sum(by_class.get(k, 0) for k in FALSE_CLASSES), classified),
            "unclassified": unclassified,
        }

    def first_dispatch_s(self, c):
        """Answer to the first ticket, in seconds (NFPA 1225: per emergency, its first dispatch)."""
        if not c["tickets"] or c["answered_ms"] is None:
            return None
        return (min(tk["sent_ms"] for tk in c["tickets"]) - c["answered_ms"]) / 1000

    def dispatch_figures(self, cases):
        firsts = [x for x in (self.first_dispatch_s(c) for c in cases) if x is not None]
        start = day_start(date.today())
        by_agency = {}
        for ag in AGENCY_IDS:
            open_ = [tk for tk in self.tickets.values() if tk["agency"] == ag and tk["status"] not in FINAL]
            unack = [tk["sent_ms"] for tk in open_ if tk["status"] == "sent"]
            today = [tk for c in cases for tk in c["tickets"] if tk["agency"] == ag and tk["sent_ms"] >= start]
            by_agency[ag] = {"open": len(open_), "oldest_unacknowledged_ms": min(unack) if unack else None,
                             "sent": len(today), "closed": sum(1 for tk in today if tk["status"] in FINAL)}
        return {"dispatched": len(firsts), "dispatch_within_60s": share(sum(1 for x in firsts if x <= 60), len(firsts)),
                "mean_answer_to_dispatch_s": mean(firsts), "by_agency": by_agency}

    def open_tickets_for(self, user):
        u = USERS[user]
        out = []
        for tk in self.tickets.values():
            if tk["status"] in FINAL:
                continue
            if u["role"] == "agency" and tk["agency"] != u["agency"]:
                continue
            if u["role"] == "operator" and u["seat"] not in self.cases[tk["case"]]["handled_by"]:
                continue
            out.append(tk)
        out.sort(key=lambda tk: tk["sent_ms"], reverse=True)
        return out

    def callback_list(self):
        out = [c for c in self.cases.values() if c["callback"] and c["callback"]["due"]]
        out.sort(key=lambda c: c["ended_ms"] or c["opened_ms"])
        return [{"case": c["case"], "caller": c["caller"], "opened_ms": c["opened_ms"], "ended_ms": c["ended_ms"],
                 "reason": c["reason"], "queue": c["queue"], "attempts": c["callback"]["attempts"]} for c in out]

    def state_for(self, user):
        u = USERS[user]
        base = {"now_ms": now_ms(), "seq": self.seq, "tickets": self.open_tickets_for(user)}
        if u["role"] == "agency":
            return dict(base, seats=[], queues=[], calls=[], figures=None)
        calls = list(self.calls.values())
        if u["role"] == "operator":
            calls = [c for c in calls if c["seat"] == u["seat"]]
        return dict(base, seats=[self.seats[s] for s in CONFIG["seats"]], queues=[self.queue_obj(q) for q in CONFIG["queues"]],
                    calls=calls, figures=self.figures(), callbacks=len(self.callback_list()))

    # ------------------------------------------------------------ timers

    def after(self, seconds, fn):
        self.timer_seq += 1
        self.timers.append((time.time() + seconds, self.timer_seq, fn))

    def run(self):
        next_emergency = time.time() + self.args.first
        next_info = time.time() + self.args.first + 16
        next_text = time.time() + self.args.first + 8
        self.emergencies = 0
        last_figures = 0.0
        while True:
            time.sleep(0.1)
            with self.lock:
                t = time.time()
                if t >= next_emergency:
                    next_emergency = t + self.args.interval
                    self.emergencies += 1
                    every = self.args.ng112_every
                    self.arrive("emergency", kind="ng112" if every > 0 and self.emergencies % every == 0 else None)
                if self.args.text_interval > 0 and t >= next_text:
                    next_text = t + self.args.text_interval
                    self.arrive("emergency", kind="text")
                if self.args.info_interval > 0 and t >= next_info:
                    next_info = t + self.args.info_interval
                    self.arrive("info")
                due = sorted(x for x in self.timers if x[0] <= t)
                self.timers = [x for x in self.timers if x[0] > t]
                for _, _, fn in due:
                    fn()
                if self.callbacks_dirty:
                    self.callbacks_dirty = False
                    self.publish("callbacks", {"count": len(self.callback_list())}, to=lambda u: USERS[u]["role"] != "agency")
                if self.figures_dirty and t - last_figures >= 1.0:
                    self.figures_dirty = False
                    last_figures = t
                    self.publish("figures", self.figures())

    # ------------------------------------------------------------ the call flow

    def arrive(self, queue_name, caller=None, noanswer=False, hangup=None, kind=None):
        t = now_ms()
        cid = self._new_case_id()
        if kind in ("ng112", "ng112-ref", "text") and caller is None:
            caller, loc = (TEXT_CALLER if kind == "text" else NG112_CALLER), None
        elif caller is None:
            caller, loc = self.rng.choice(CALLERS)
        else:
            loc = None
        c = self._blank_case(cid, caller, queue_name, t)
        c["location"] = dict(loc) if loc else None
        if kind in ("ng112", "ng112-ref"):
            self.ng112(c, t, kind == "ng112-ref")
        elif kind == "text":
            c["channel"] = "text"
            c["script"] = list(TEXT_SCRIPT)
            c["text"] = {"open": True, "messages": [{"from": "caller", "by": None, "at_ms": t, "text": c["script"].pop(0)}]}
            c["records"].append({"time": iso(t), "event": "text", "from": "caller", "text": c["text"]["messages"][0]["text"]})
        self.cases[cid] = c
        if noanswer:
            c["noanswer"] = True
        if hangup is not None:
            c["hangup"] = True
            boot = self.boot
            self.after(hangup, lambda: boot == self.boot and self.abandon(cid, force=True))
        self.calls[cid] = self.call_obj(cid)
        self.waiting[queue_name].append(cid)
        self.figures_dirty = True
        self.calls[cid] = self.publish("call", self.calls[cid], seat="")
        self.queue_changed(queue_name)
        if queue_name == "info":
            self.after(30, lambda: self.abandon(cid))
        self.dispatch()
        return cid

    def ng112(self, c, t, by_reference):
        """The network's location and the call's NG112 information, as the engine folds them from the INVITE."""
        detail = dict(NG112_DETAIL, timestamp=iso(t - 20_000))
        if by_reference:
            detail = {"reference": "https://lis.telco-b.example/loc/7f3a", "problems": []}
            loc = {"address": None, "lat": None, "lon": None, "source": "reference", "detail": detail}
            info = dict(NG112_INFO, resource_priority=None, languages=["id"], unread=[])
        else:
            loc = {"address": "Jalan M.H. Thamrin 10, Menteng, Jakarta Pusat, DKI Jakarta", "lat": -6.193125, "lon": 106.822305,
                   "source": "pidf", "detail": detail}
            info = dict(NG112_INFO)
            c["priority"] = 1
        c["network_location"] = loc
        c["location"] = json.loads(json.dumps(loc)) if not by_reference else None
        c["info"] = info
        c["records"].append({"time": iso(t), "event": "call-info", **{k: v for k, v in info.items() if v}})
        if not by_reference:
            c["records"].append({"time": iso(t), "event": "located", "address": loc["address"], "lat": loc["lat"], "lon": loc["lon"],
                                 "source": "pidf", "radius_m": detail["radius_m"], "method": detail["method"]})

    # ------------------------------------------------------------ text calls

    def text_touch(self, cid):
        """A message went either way: the conversation ends by itself after --text-idle s without one."""
        c = self.cases[cid]
        c["idle_at"] = time.time() + self.args.text_idle
        boot = self.boot
        def idle():
            if boot == self.boot and cid in self.calls and time.time() >= c.get("idle_at", 0) - 0.05:
                self.end_text(cid, "idle")
        self.after(self.args.text_idle, idle)

    def text_case(self, user, cid):
        self.may_touch_case(user, cid)
        c = self.cases[cid]
        if c.get("channel") != "text":
            raise ApiError(409, "conflict", "not a text call", state="voice")
        return c

    def accept_text(self, user, cid):
        c = self.text_case(user, cid)
        if cid not in self.calls or not c["text"]["open"]:
            raise ApiError(409, "conflict", "the conversation is over", state="ended")
        if c["answered_ms"] is not None:
            raise ApiError(409, "conflict", "already accepted", state="on-call")
        u = USERS[user]
        if u["role"] == "operator" and c["seat"] != u["seat"]:
            raise ApiError(409, "conflict", "not offered to your seat", state="offered")
        self.answer(cid)
        return self.calls[cid]

    def send_text(self, user, cid, body):
        c = self.text_case(user, cid)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "bad_request", "a message is 1 to 1000 characters (it was empty)")
        if len(text) > 1000:
            raise ApiError(400, "bad_request", f"a message is 1 to 1000 characters (it was {len(text)})")
        if cid not in self.calls or not c["text"]["open"]:
            raise ApiError(409, "conflict", "the conversation is over", state="ended")
        if c["answered_ms"] is None:
            raise ApiError(409, "conflict", "accept the text call first", state="ringing")
        t = now_ms()
        by = USERS[user].get("seat") or user
        c["text"]["messages"].append({"from": "operator", "by": by, "at_ms": t, "text": text})
        c["records"].append({"time": iso(t), "event": "text", "from": "operator", "by": by, "text": text})
        self.text_touch(cid)
        if c["script"]:
            line = c["script"].pop(0)
            boot = self.boot
            self.after(self.args.text_reply, lambda: boot == self.boot and self.caller_text(cid, line))
        self.call_changed(cid)
        return self.calls[cid]

    def caller_text(self, cid, line):
        c = self.cases.get(cid)
        if cid not in self.calls or not c["text"]["open"]:
            return
        t = now_ms()
        c["text"]["messages"].append({"from": "caller", "by": None, "at_ms": t, "text": line})
        c["records"].append({"time": iso(t), "event": "text", "from": "caller", "text": line})
        self.text_touch(cid)
        self.call_changed(cid)

    def end_text(self, cid, why):
        c = self.cases[cid]
        c["text"]["open"] = False
        c["records"].append({"time": iso(now_ms()), "event": "text-ended", "why": why})
        self.end(cid, "completed")

    def end_text_action(self, user, cid):
        c = self.text_case(user, cid)
        if cid not in self.calls or not c["text"]["open"]:
            raise ApiError(409, "conflict", "the conversation is over", state="ended")
        self.end_text(cid, "operator")
        return self.case_obj(cid)

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
        c["records"].append({"time": iso(now_ms()), "event": "offered", "seat": seat})
        self.set_seat(seat, "ringing", case=cid)
        self.call_changed(cid)
        boot = self.boot
        if c.get("channel") == "text":
            pass  # rings until the operator accepts it
        elif c.pop("noanswer", False):
            self.after(self.args.ring_timeout, lambda: boot == self.boot and self.ring_timeout(cid, seat))
        elif not c.get("hangup"):
            self.after(self.args.answer, lambda: boot == self.boot and self.answer(cid))

    def ring_timeout(self, cid, seat):
        """The seat did not answer in time: the call goes back to the front of its queue, for another seat."""
        c = self.cases.get(cid)
        if cid not in self.calls or c["answered_ms"] is not None or c["seat"] != seat:
            return
        c["seat"] = None
        c.setdefault("skip", []).append(seat)
        c["records"].append({"time": iso(now_ms()), "event": "not-answered", "seat": seat})
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
        c["records"].append({"time": iso(t), "event": "answered", "seat": c["seat"]})
        self.figures_dirty = True
        self.set_seat(c["seat"], "on-call", case=cid)
        self.call_changed(cid)
        boot = self.boot
        if c.get("channel") == "text":
            self.text_touch(cid)
            return
        self.after(self.args.talk, lambda: boot == self.boot and self.end(cid, "completed"))
        if self.args.auto_dispatch and c["queue"] == "emergency":
            self.after(min(4, self.args.talk / 2), lambda: boot == self.boot and self.auto_work(cid))

    def auto_work(self, cid):
        """--auto-dispatch: the mock's operator classifies an emergency and sends it to the suggested agency."""
        c = self.cases[cid]
        if c["class"]:
            return
        cat = weighted(self.rng, CATEGORY_WEIGHTS)
        user = c["seat"] or "op1"
        self.case_action("sup", cid, "classify", {"class": "emergency", "category": cat}, by=user)
        self.case_action("sup", cid, "note", {"text": self.rng.choice(NOTES[cat])}, by=user)
        ag = next(a["id"] for a in AGENCIES if cat in a["categories"])
        self.dispatch_ticket("sup", cid, {"agency": ag}, by=user)

    def end(self, cid, reason):
        if cid not in self.calls:
            return
        c = self.cases[cid]
        t = now_ms()
        c["ended_ms"] = t
        c["reason"] = reason
        if c.get("text"):
            c["text"]["open"] = False
        c["talk_ms"] = t - c["answered_ms"] if c["answered_ms"] else 0
        if c["wait_ms"] is None:
            c["wait_ms"] = t - c["opened_ms"]
        c["records"].append({"time": iso(t), "event": "ended", "reason": reason, "wait_ms": c["wait_ms"], "talk_ms": c["talk_ms"],
                             "seat": c["seat"], "queue": c["queue"]})
        del self.calls[cid]
        seat = c["seat"]
        self.publish("call-ended", {"case": cid, "reason": reason, "ended_ms": t, "seat": seat}, seat=seat or "")
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
        if reason == "abandoned" and c["service"] == "112" and not c["callback"]:
            c["callback"] = {"due": True, "attempts": []}
            self.callbacks_dirty = True
        self.figures_dirty = True
        self.maybe_close(c)
        self.dispatch()

    def abandon(self, cid, force=False):
        c = self.cases.get(cid)
        if cid in self.calls and c["answered_ms"] is None and (force or c["seat"] is None):
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
            if c.get("text"):
                c["text"]["open"] = False
            del self.calls[cid]
        for q in self.waiting.values():
            q.clear()
        self.timers = []
        for s in CONFIG["seats"]:
            if self.seats[s]["phase"] in ("ringing", "on-call", "wrap-up"):
                self.seats[s] = {"seat": s, "phase": "available", "reason": None, "case": None, "since_ms": now_ms()}
        # agencies that move on by themselves keep doing so
        for tk in self.tickets.values():
            if tk["status"] not in FINAL and tk["agency"] not in USER_AGENCIES:
                self._schedule_next(tk)
        for q, _ in list(self.subscribers):
            q.put(None)

    # ------------------------------------------------------------ tickets

    def _make_ticket(self, c, agency, sent, by, note):
        loc = c["location"] or {}
        tk = {
            "ticket": f"{c['case']}/{agency}", "case": c["case"], "agency": agency, "status": "sent",
            "sent_ms": sent, "acknowledged_ms": None, "on_scene_ms": None, "closed_ms": None, "cancelled_ms": None,
            "history": [{"status": "sent", "at_ms": sent, "by": by, "note": note}],
            "brief": {"class": c["class"], "category": c["category"], "caller": c["caller"],
                      "address": loc.get("address") or None, "lat": loc.get("lat"), "lon": loc.get("lon"),
                      "notes": [dict(n) for n in c["notes"]], "opened_ms": c["opened_ms"], "answered_ms": c["answered_ms"]},
            "seq": 0,
        }
        c["tickets"].append(tk)
        self.tickets[tk["ticket"]] = tk
        c["records"].append({"time": iso(sent), "event": "ticket", "agency": agency, "status": "sent", "by": by, "note": note})
        return tk

    def _ticket_step(self, tk, status, at, by, note, publish=True):
        tk["status"] = status
        tk[{"acknowledged": "acknowledged_ms", "on-scene": "on_scene_ms", "closed": "closed_ms", "cancelled": "cancelled_ms"}[status]] = at
        tk["history"].append({"status": status, "at_ms": at, "by": by, "note": note})
        c = self.cases[tk["case"]]
        c["records"].append({"time": iso(at), "event": "ticket", "agency": tk["agency"], "status": status, "by": by, "note": note})
        if publish:
            self.ticket_changed(tk)
            self.maybe_close(c)

    def ticket_audience(self, tk):
        c = self.cases[tk["case"]]

        def to(user):
            u = USERS[user]
            return (u["role"] == "supervisor" or (u["role"] == "agency" and u["agency"] == tk["agency"])
                    or (u["role"] == "operator" and u["seat"] in c["handled_by"]))
        return to

    def ticket_changed(self, tk):
        data = self.publish("ticket", tk, to=self.ticket_audience(tk))
        tk["seq"] = data["seq"]
        self.figures_dirty = True
        if tk["case"] in self.calls:
            self.call_changed(tk["case"])

    def maybe_close(self, c):
        """A case is closed once its call has ended and every ticket is final."""
        if c["closed_ms"] or c["ended_ms"] is None or c["case"] in self.calls:
            return
        if any(tk["status"] not in FINAL for tk in c["tickets"]):
            return
        t = now_ms()
        c["closed_ms"] = t
        c["records"].append({"time": iso(t), "event": "closed"})
        self.publish("case-closed", {"case": c["case"], "closed_ms": t},
                     to=lambda u: self.sees_case(u, c))

    def _schedule_auto(self, tk, status, seconds):
        boot = self.boot

        def step():
            if boot != self.boot or tk["status"] in FINAL or self.tickets.get(tk["ticket"]) is not tk:
                return
            if STEP[status] <= STEP[tk["status"]]:
                return
            self._ticket_step(tk, status, now_ms(), f"{tk['agency']}-piket", self.rng.choice(TICKET_NOTES[status]))
            self._schedule_next(tk)
        self.after(max(0.5, seconds), step)

    def _schedule_next(self, tk):
        """The next step of a ticket of an agency that moves on by itself."""
        if self.args.agency_pace <= 0 or tk["agency"] in USER_AGENCIES or tk["status"] in FINAL:
            return
        rng = self.rng
        if tk["status"] == "sent":
            self._schedule_auto(tk, "acknowledged", math.exp(rng.gauss(math.log(40), 0.5)) * self.args.agency_pace)
        elif tk["status"] == "acknowledged":
            self._schedule_auto(tk, "on-scene", ON_SCENE_MIN[tk["agency"]] * 60 * rng.uniform(.6, 1.4) * self.args.agency_pace)
        elif tk["status"] == "on-scene":
            self._schedule_auto(tk, "closed", rng.uniform(20, 110) * 60 * self.args.agency_pace)

    def dispatch_ticket(self, user, cid, body, by=None):
        if cid not in self.cases:
            raise ApiError(404, "not_found", "no such case")
        self.may_touch_case(user, cid)
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "a JSON object is expected")
        agency = body.get("agency")
        if agency not in AGENCY_IDS:
            raise ApiError(404, "not_found", "no such agency")
        note = body.get("note")
        if note is not None and (not isinstance(note, str) or len(note) > 500):
            raise ApiError(400, "bad_request", "a note is at most 500 characters")
        note = note.strip() if note and note.strip() else None
        c = self.cases[cid]
        cur = self.tickets.get(f"{cid}/{agency}")
        if cur and cur["status"] not in FINAL:
            raise ApiError(409, "conflict", f"{agency} already has a ticket for this case", state=cur["status"])
        tk = self._make_ticket(c, agency, now_ms(), by or user, note)
        c["closed_ms"] = None
        self.ticket_changed(tk)
        self._schedule_next(tk)
        return tk

    def ticket_action(self, user, cid, agency, action, body):
        u = USERS[user]
        tk = self.tickets.get(f"{cid}/{agency}")
        if tk is None:
            raise ApiError(404, "not_found", "no such ticket")
        if not (u["role"] == "supervisor" or (u["role"] == "agency" and u["agency"] == agency)):
            raise ApiError(403, "forbidden", "only the agency's users and supervisors")
        if action not in ACTIONS:
            raise ApiError(404, "not_found", "no such action")
        note = body.get("note") if isinstance(body, dict) else None
        if note is not None and (not isinstance(note, str) or len(note) > 500):
            raise ApiError(400, "bad_request", "a note is at most 500 characters")
        note = note.strip() if note and note.strip() else None
        status = ACTIONS[action]
        if tk["status"] in FINAL:
            raise ApiError(409, "conflict", f"the ticket is {tk['status']}", state=tk["status"])
        if status not in FINAL and STEP[status] <= STEP[tk["status"]]:
            raise ApiError(409, "conflict", f"the ticket is already {tk['status']}", state=tk["status"])
        self._ticket_step(tk, status, now_ms(), user, note)
        return tk

    def tickets_query(self, user, qs):
        u = USERS[user]
        status = (qs.get("status") or ["open"])[0]
        if status not in ("open", "all"):
            raise ApiError(400, "bad_request", "status: open or all")
        agency = (qs.get("agency") or [None])[0]
        if u["role"] == "agency":
            agency = u["agency"]
        if status == "open":
            out = [tk for tk in self.open_tickets_for(user) if not agency or tk["agency"] == agency]
        else:
            today = date.today()
            d0, d1 = date_range(qs, today, today)
            lo, hi = day_start(d0), day_start(d1 + timedelta(days=1))
            out = []
            for c in self.cases.values():
                if u["role"] == "operator" and u["seat"] not in c["handled_by"]:
                    continue
                for tk in c["tickets"]:
                    if lo <= tk["sent_ms"] < hi and (not agency or tk["agency"] == agency):
                        out.append(tk)
            out.sort(key=lambda tk: tk["sent_ms"], reverse=True)
        return {"tickets": out}

    # ------------------------------------------------------------ callbacks

    def callback_action(self, user, cid, body):
        u = USERS[user]
        if u["role"] not in ("operator", "supervisor"):
            raise ApiError(403, "forbidden", "operators and supervisors only")
        if cid not in self.cases:
            raise ApiError(404, "not_found", "no such case")
        c = self.cases[cid]
        outcome = body.get("outcome") if isinstance(body, dict) else None
        if outcome not in CONFIG["callback_outcomes"]:
            raise ApiError(400, "bad_request", "unknown outcome")
        note = body.get("note")
        if note is not None and (not isinstance(note, str) or len(note) > 500):
            raise ApiError(400, "bad_request", "a note is at most 500 characters")
        note = note.strip() if note and note.strip() else None
        if not c["callback"] or not c["callback"]["due"]:
            raise ApiError(409, "conflict", "this case is not on the callback list", state="not-due")
        t = now_ms()
        c["callback"]["attempts"].append({"at_ms": t, "by": user, "outcome": outcome, "note": note})
        c["callback"]["due"] = outcome in ("no-answer", "busy")
        c["records"].append({"time": iso(t), "event": "callback", "outcome": outcome, "by": user, "note": note})
        if u["seat"] and u["seat"] not in c["handled_by"]:
            c["handled_by"].append(u["seat"])  # the mock's answer to an open question: who calls back may work the case
        self.callbacks_dirty = True
        return self.case_obj(cid)

    # ------------------------------------------------------------ search, report, export

    def summary(self, c):
        return {k: c[k] for k in ("case", "opened_ms", "caller", "service", "queue", "seat", "class", "category", "reason",
                                  "wait_ms", "talk_ms", "ready", "closed_ms")} | {
            "tickets": [{"agency": tk["agency"], "status": tk["status"]} for tk in c["tickets"]]}

    def search(self, user, qs):
        u = USERS[user]
        if u["role"] == "agency":
            raise ApiError(403, "forbidden", "not allowed")
        today = date.today()
        d0, d1 = date_range(qs, today - timedelta(days=30), today)
        lo, hi = day_start(d0), day_start(d1 + timedelta(days=1))
        arg = lambda k: ((qs.get(k) or [""])[0]).strip()
        caller, cls, cat, agency, text, before = arg("caller"), arg("class"), arg("category"), arg("agency"), arg("text").lower(), arg("before")
        try:
            limit = min(200, max(1, int(arg("limit") or 50)))
        except ValueError:
            raise ApiError(400, "bad_request", "limit: a number")
        if before and before not in self.cases:
            raise ApiError(400, "bad_request", "before: an unknown case")
        digits = re.sub(r"[^0-9]", "", strip_uri(caller)) if caller else ""
        out, more = [], False
        ids = list(self.cases)
        end = ids.index(before) if before else len(ids)
        for cid in reversed(ids[:end]):
            c = self.cases[cid]
            if c["opened_ms"] >= hi:
                continue
            if c["opened_ms"] < lo:
                break
            if u["role"] == "operator" and u["seat"] not in c["handled_by"]:
                continue
            if caller and digits not in re.sub(r"[^0-9]", "", strip_uri(c["caller"])):
                continue
            if cls and (c["class"] or "none") != cls:
                continue
            if cat and c["category"] != cat:
                continue
            if agency and not any(tk["agency"] == agency for tk in c["tickets"]):
                continue
            if text:
                hay = [n["text"] for n in c["notes"]] + [((c["location"] or {}).get("address") or "")]
                hay += [h["note"] or "" for tk in c["tickets"] for h in tk["history"]]
                if not any(text in s.lower() for s in hay):
                    continue
            if len(out) == limit:
                more = True
                break
            out.append(self.summary(c))
        return {"cases": out, "more": more}

    def range_cases(self, d0, d1):
        lo, hi = day_start(d0), day_start(d1 + timedelta(days=1))
        return [c for c in self.cases.values() if lo <= c["opened_ms"] < hi]

    def report(self, qs):
        today = date.today()
        d0, d1 = date_range(qs, today.replace(day=1), today)
        cases = self.range_cases(d0, d1)
        days = {}
        d = d0
        while d <= d1:
            days[d.isoformat()] = []
            d += timedelta(days=1)
        hours = [0] * 24
        for c in cases:
            days[day_of(c["opened_ms"])].append(c)
            hours[time.localtime(c["opened_ms"] / 1000).tm_hour] += 1
        day_rows = []
        for k, cs in days.items():
            tot = self.totals(cs)
            day_rows.append({"date": k, "offered": tot["offered"], "answered": tot["answered"], "abandoned": tot["abandoned"],
                             "by_class": tot["by_class"], "unclassified": tot["unclassified"]})
        counts = [0] * len(BUCKETS)
        for c in cases:
            if c["answered_ms"] is None:
                continue
            w = (c["answered_ms"] - c["opened_ms"]) / 1000
            counts[next(i for i, b in enumerate(BUCKETS) if b is None or w <= b)] += 1
        by_category = {k: 0 for k in CATEGORY_IDS}
        for c in cases:
            if c["class"] == "emergency" and c["category"]:
                by_category[c["category"]] = by_category.get(c["category"], 0) + 1
        firsts = [x for x in (self.first_dispatch_s(c) for c in cases) if x is not None]
        by_agency = {}
        all_tickets = [(c, tk) for c in cases for tk in c["tickets"]]
        for ag in AGENCY_IDS:
            tks = [(c, tk) for c, tk in all_tickets if tk["agency"] == ag]
            a2d = [(tk["sent_ms"] - c["answered_ms"]) / 1000 for c, tk in tks if c["answered_ms"]]
            ack = [(tk["acknowledged_ms"] - tk["sent_ms"]) / 1000 for _, tk in tks if tk["acknowledged_ms"]]
            scene = [(tk["on_scene_ms"] - tk["sent_ms"]) / 1000 for _, tk in tks if tk["on_scene_ms"]]
            by_agency[ag] = {"tickets": len(tks), "closed": sum(1 for _, tk in tks if tk["status"] == "closed"),
                             "cancelled": sum(1 for _, tk in tks if tk["status"] == "cancelled"),
                             "mean_answer_to_dispatch_s": mean(a2d), "p90_answer_to_dispatch_s": p90(a2d),
                             "mean_to_acknowledge_s": mean(ack), "mean_to_on_scene_s": mean(scene),
                             "within_60s": share(sum(1 for x in a2d if x <= 60), len(a2d))}
        return {
            "from": d0.isoformat(), "to": d1.isoformat(), "totals": self.totals(cases), "days": day_rows,
            "answer_times": [{"le_s": b, "count": n} for b, n in zip(BUCKETS, counts)],
            "by_category": by_category,
            "dispatch": {"tickets": len(all_tickets), "within_60s": share(sum(1 for x in firsts if x <= 60), len(firsts)),
                         "mean_answer_to_dispatch_s": mean(firsts), "by_agency": by_agency},
            "hours": [{"hour": h, "offered": n} for h, n in enumerate(hours)],
        }

    def export(self, qs):
        today = date.today()
        d0, d1 = date_range(qs, today.replace(day=1), today)
        fmt = (qs.get("format") or ["csv"])[0]
        if fmt not in ("csv", "json"):
            raise ApiError(400, "bad_request", "format: csv or json")
        cases = self.range_cases(d0, d1)
        name = f"siaga112-cases-{d0.isoformat()}-{d1.isoformat()}.{fmt}"
        if fmt == "json":
            rows = [dict(self.summary(c), caller_number=strip_uri(c["caller"]), ended_ms=c["ended_ms"], answered_ms=c["answered_ms"],
                         location=c["location"], notes=c["notes"], callback=c["callback"],
                         tickets=[{k: v for k, v in tk.items() if k != "brief"} for tk in c["tickets"]]) for c in cases]
            body = json.dumps({"from": d0.isoformat(), "to": d1.isoformat(), "cases": rows}, ensure_ascii=False).encode()
            return name, "application/json; charset=utf-8", body
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["case", "opened", "caller", "service", "queue", "seat", "class", "category", "reason", "wait_s", "talk_s",
                    "ready", "closed", "address", "lat", "lon", "tickets", "notes"])
        for c in cases:
            loc = c["location"] or {}
            w.writerow([c["case"], iso(c["opened_ms"]), strip_uri(c["caller"]), c["service"], c["queue"], c["seat"] or "",
                        c["class"] or "", c["category"] or "", c["reason"] or "",
                        "" if c["wait_ms"] is None else round(c["wait_ms"] / 1000, 1),
                        "" if c["talk_ms"] is None else round(c["talk_ms"] / 1000, 1),
                        "yes" if c["ready"] else "no", iso(c["closed_ms"]) if c["closed_ms"] else "",
                        loc.get("address") or "", loc.get("lat") if loc.get("lat") is not None else "",
                        loc.get("lon") if loc.get("lon") is not None else "",
                        ";".join(f"{tk['agency']}:{tk['status']}" for tk in c["tickets"]),
                        " | ".join(n["text"] for n in c["notes"])])
        return name, "text/csv; charset=utf-8", out.getvalue().encode()

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
        if self.sees_case(user, self.cases[cid]):
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
                raise ApiError(409, "conflict", f"not possible while {s['phase']}", state=s["phase"])
            self.set_seat(seat, "paused", reason=reason)
        elif action == "unpause":
            if s["phase"] in ("available", "ringing", "on-call"):
                raise ApiError(409, "conflict", f"not possible while {s['phase']}", state=s["phase"])
            self.set_seat(seat, "available")
            self.dispatch()
        elif action == "logout":
            if s["phase"] in ("ringing", "on-call", "logged-out"):
                raise ApiError(409, "conflict", f"not possible while {s['phase']}", state=s["phase"])
            self.set_seat(seat, "logged-out")
        else:
            raise ApiError(404, "not_found", "no such action")
        return self.seats[seat]

    def case_action(self, user, cid, action, body, by=None):
        self.may_touch_case(user, cid)
        by = by or user
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "a JSON object is expected")
        c = self.cases[cid]
        t = now_ms()
        if action == "classify":
            cls = body.get("class")
            cat = body.get("category")
            if cls not in CONFIG["classes"]:
                raise ApiError(400, "bad_request", "unknown class")
            if cat is not None and cat not in CATEGORY_IDS:
                raise ApiError(400, "bad_request", "unknown category")
            c["class"] = cls
            c["category"] = cat
            self.figures_dirty = True
            c["records"].append({"time": iso(t), "event": "classified", "class": cls, "category": cat, "by": by})
            if cls == "dropped" and c["service"] == "112" and not c["callback"]:
                c["callback"] = {"due": True, "attempts": []}
                self.callbacks_dirty = True
        elif action == "note":
            text = body.get("text")
            if not isinstance(text, str) or not (1 <= len(text) <= 2000) or not text.strip():
                raise ApiError(400, "bad_request", "a note is 1 to 2000 characters")
            c["notes"].append({"by": by, "at_ms": t, "text": text})
            c["records"].append({"time": iso(t), "event": "note", "text": text, "by": by})
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
            c["records"].append({"time": iso(t), "event": "located", "address": addr or None, "lat": lat, "lon": lon,
                                 "source": "operator", "by": by})
        elif action == "ready":
            if not c["class"]:
                raise ApiError(409, "conflict", "classify the case first", state="unclassified")
            c["ready"] = True
            c["records"].append({"time": iso(t), "event": "ready", "by": by})
        elif action == "mark":
            mark = body.get("mark")
            if not isinstance(mark, str) or not re.fullmatch(r"[a-z0-9-]{1,32}", mark):
                raise ApiError(400, "bad_request", "a mark is 1-32 of a-z, 0-9 and -")
            c["marks"].append(mark)
            c["records"].append({"time": iso(t), "event": "outcome", "mark": mark, "by": by})
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

    def dev_ticket(self, body):
        agency = body.get("agency", "damkar")
        if agency not in AGENCY_IDS:
            raise ApiError(404, "not_found", "no such agency")
        by = body.get("by", "op1")
        cid = body.get("case")
        if not cid:
            t = now_ms()
            cid = self._new_case_id()
            cat = next(a["categories"][0] for a in AGENCIES if a["id"] == agency)
            number = f"+62812{self.rng.randrange(10**7, 10**8)}"
            c = self._blank_case(cid, f"sip:{number}@trunk.telco-a.example", "emergency", t - 45_000)
            addr, lat, lon = self.rng.choice(ADDRESSES)
            seat = by if by in self.seats else "op1"
            c.update({"answered_ms": t - 40_000, "ended_ms": t - 5_000, "reason": "completed", "seat": seat, "wait_ms": 5_000,
                      "talk_ms": 35_000, "class": "emergency", "category": cat, "ready": True, "handled_by": [seat],
                      "location": {"address": addr, "lat": lat, "lon": lon, "source": "operator"},
                      "notes": [{"by": seat, "at_ms": t - 25_000, "text": self.rng.choice(NOTES[cat])}]})
            c["records"] += [{"time": iso(t - 40_000), "event": "answered", "seat": seat},
                             {"time": iso(t - 30_000), "event": "classified", "class": "emergency", "category": cat, "by": seat},
                             {"time": iso(t - 5_000), "event": "ended", "reason": "completed", "wait_ms": 5000, "talk_ms": 35000, "seat": seat}]
            self.cases[cid] = c
            self.figures_dirty = True
        return self.dispatch_ticket("sup", cid, {"agency": agency, "note": body.get("note")}, by=by)


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
        obj = {"error": e.code, "message": e.message}
        if e.state is not None:
            obj["state"] = e.state
        self.send_json(e.status, obj, headers)

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

    def need_role(self, user, *roles):
        if USERS[user]["role"] not in roles:
            raise ApiError(403, "forbidden", "not allowed")

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
        role = USERS[user]["role"]
        with w.lock:
            if path == "/api/config":
                return self.send_json(200, CONFIG)
            if path == "/api/state":
                return self.send_json(200, w.state_for(user))
            if path == "/api/tickets":
                return self.send_json(200, w.tickets_query(user, qs))
            if path == "/api/callbacks":
                self.need_role(user, "operator", "supervisor")
                return self.send_json(200, {"callbacks": w.callback_list()})
            if path == "/api/cases":
                return self.send_json(200, w.search(user, qs))
            if path == "/api/report":
                self.need_role(user, "supervisor")
                return self.send_json(200, w.report(qs))
            if path == "/api/export":
                self.need_role(user, "supervisor")
                name, ctype, body = w.export(qs)
                if qs.get("check", [""])[0] == "1":
                    # As the engine: would it be given? (Nothing sent.)
                    self.send_response(204)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Disposition", f'attachment; filename="{name}"')
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)
                return
            m = re.fullmatch(r"/api/cases/([^/]+)", path)
            if m:
                cid = urllib.parse.unquote(m.group(1))
                w.may_touch_case(user, cid)
                return self.send_json(200, w.case_obj(cid))
            m = re.fullmatch(r"/api/callers/([^/]+)/history", path)
            if m:
                if role == "agency":
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
                    self.write_event("ping", json.dumps({"now_ms": now_ms()}))
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
                hangup = b.get("hangup")
                with w.lock:
                    cid = w.arrive(b.get("queue", "emergency"), b.get("caller"), bool(b.get("noanswer")),
                                   float(hangup) if hangup is not None else None, b.get("kind"))
                return self.send_json(200, {"case": cid})
            if path == "/dev/ticket":
                b = self.body()
                with w.lock:
                    return self.send_json(200, w.dev_ticket(b))
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
                m = re.fullmatch(r"/api/cases/([^/]+)/(accept|text|end-text)", path)
                if m:
                    cid = urllib.parse.unquote(m.group(1))
                    if m.group(2) == "accept":
                        return self.send_json(200, w.accept_text(user, cid))
                    if m.group(2) == "text":
                        return self.send_json(200, w.send_text(user, cid, body))
                    return self.send_json(200, w.end_text_action(user, cid))
                m = re.fullmatch(r"/api/cases/([^/]+)/dispatch", path)
                if m:
                    return self.send_json(200, w.dispatch_ticket(user, urllib.parse.unquote(m.group(1)), body))
                m = re.fullmatch(r"/api/cases/([^/]+)/callback", path)
                if m:
                    return self.send_json(200, w.callback_action(user, urllib.parse.unquote(m.group(1)), body))
                m = re.fullmatch(r"/api/tickets/([^/]+)/([^/]+)/([a-z-]+)", path)
                if m:
                    return self.send_json(200, w.ticket_action(user, urllib.parse.unquote(m.group(1)),
                                                               urllib.parse.unquote(m.group(2)), m.group(3), body))
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
    ap.add_argument("--history-days", type=int, default=45, help="days of generated history before today")
    ap.add_argument("--agency-pace", type=float, default=1.0,
                    help="agencies without a mock user move their tickets on at this pace (1 = real time, 0.1 = ten times faster, 0 = never)")
    ap.add_argument("--auto-dispatch", action="store_true",
                    help="the mock's operator classifies each emergency call and sends it to the suggested agency")
    ap.add_argument("--ng112-every", type=int, default=3, help="every Nth generated emergency call is an NG112 call (0: none)")
    ap.add_argument("--text-interval", type=float, default=0, help="seconds between text calls (SIP MESSAGE; 0: none, POST /dev/call {\"kind\": \"text\"})")
    ap.add_argument("--text-idle", type=float, default=120, help="seconds without a message before a text conversation ends")
    ap.add_argument("--text-reply", type=float, default=4, help="seconds before the mock caller answers the operator")
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
    print(f"mock siaga112 console API on http://127.0.0.1:{args.port}/ (web: {WEB}; {len(world.cases)} cases of history)", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
