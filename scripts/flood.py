#!/usr/bin/env python3
"""A stranger's SIP flood on loopback: unauthenticated REGISTER and INVITE in
turn, paced at --rate requests/s for --seconds, from one UDP socket on
127.0.0.1. Reads whatever comes back (so the socket buffer never fills) and
prints one line: requests sent, rate achieved, answers received.

  scripts/flood.py --target 127.0.0.1:5060 --rate 10000 --seconds 10
"""

import argparse
import socket
import sys
import time


def request(n, port):
    if n % 2 == 0:
        method, uri = "REGISTER", "sip:127.0.0.1"
    else:
        method, uri = "INVITE", "sip:112@127.0.0.1"
    return (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKfl{n};rport\r\n"
        f"From: <sip:x@127.0.0.1>;tag=f{n}\r\nTo: <sip:op1@127.0.0.1>\r\n"
        f"Call-ID: flood-{n}\r\nCSeq: 1 {method}\r\n"
        f"Contact: <sip:x@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--rate", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    if not host.startswith("127."):
        sys.exit("the flood stays on 127.0.0.1")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    me = s.getsockname()[1]
    dest = (host, int(port))
    sent = answers = 0
    start = time.monotonic()
    end = start + a.seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = int((now - start) * a.rate)
        while sent < due:
            try:
                s.sendto(request(sent, me), dest)
            except BlockingIOError:
                break
            except OSError:
                pass
            sent += 1
        while True:
            try:
                s.recv(65536)
                answers += 1
            except (BlockingIOError, OSError):
                break
        time.sleep(0.0005)
    took = time.monotonic() - start
    print(f"flood: {sent} requests in {took:.1f} s ({sent / took:.0f}/s), {answers} answers")


if __name__ == "__main__":
    main()
