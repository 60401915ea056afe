#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# e2e helper (test-restart.sh): holds N long-lived TCP connections to the backends' echo server
# (:9100 greets with its name, then echoes lines) and sends one line on each every INTERVAL_MS until
# the file STOP exists; every echo must come back within STALL_MS. Once all are greeted, STATUS gets
# one "<local port> <backend>" line per connection and then "ready". At the end OUT gets one line
# per connection, "<index> <backend> <lines echoed> <local port> OK" or "... FAIL <reason>", then
# "# max echo latency <ms> ms". Exit 0 only when every connection stayed healthy.
# Usage: hold_clients.py HOST PORT N INTERVAL_MS STALL_MS STATUS STOP OUT
import os
import selectors
import socket
import sys
import time

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
interval, stall = int(sys.argv[4]) / 1000, int(sys.argv[5]) / 1000
status_path, stop_path, out_path = sys.argv[6], sys.argv[7], sys.argv[8]


class Conn:
    def __init__(self, i):
        self.i, self.buf, self.backend, self.echoed, self.error = i, b"", None, 0, None
        self.sock = socket.create_connection((host, port), timeout=5)
        self.port = self.sock.getsockname()[1]
        self.pending = None  # (line, sent at) awaiting its echo
        self.seq = 0

    def lines(self):
        while b"\n" in self.buf:
            line, _, self.buf = self.buf.partition(b"\n")
            yield line.decode(errors="replace")


max_rtt = 0.0
conns = []
for i in range(n):
    conns.append(Conn(i))
sel = selectors.DefaultSelector()
for c in conns:
    c.sock.setblocking(False)
    sel.register(c.sock, selectors.EVENT_READ, c)


def fail(c, why):
    if c.error is None:
        c.error = why
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass


def pump(timeout):
    for key, _ in sel.select(timeout):
        c = key.data
        try:
            data = c.sock.recv(4096)
        except OSError as e:
            fail(c, f"recv: {e}")
            continue
        if not data:
            fail(c, "closed by peer")
            continue
        c.buf += data
        for line in c.lines():
            if c.backend is None:
                c.backend = line
            elif c.pending and line == c.pending[0]:
                global max_rtt
                max_rtt = max(max_rtt, time.monotonic() - c.pending[1])
                c.echoed += 1
                c.pending = None
            else:
                fail(c, f"unexpected line {line!r}")


# Greetings first: every connection knows its backend before the test goes on.
deadline = time.monotonic() + 10
while any(c.backend is None and c.error is None for c in conns) and time.monotonic() < deadline:
    pump(0.1)
for c in conns:
    if c.backend is None:
        fail(c, "no greeting within 10 s")
with open(status_path + ".tmp", "w") as f:
    for c in conns:
        f.write(f"{c.port} {c.backend}\n")
    f.write("ready\n")
os.rename(status_path + ".tmp", status_path)

next_send = time.monotonic()
while not os.path.exists(stop_path):
    now = time.monotonic()
    if now >= next_send:
        next_send += interval
        for c in conns:
            if c.error is not None:
                continue
            if c.pending:
                if now - c.pending[1] > stall:
                    fail(c, f"stall: no echo of {c.pending[0]!r} for {int(stall * 1000)} ms")
                continue
            c.seq += 1
            line = f"c{c.i}-{c.seq}"
            try:
                c.sock.sendall(line.encode() + b"\n")
            except BlockingIOError:
                fail(c, "send buffer full")
                continue
            except OSError as e:
                fail(c, f"send: {e}")
                continue
            c.pending = (line, now)
    pump(max(0.0, min(0.05, next_send - time.monotonic())))

# Drain the last echoes.
deadline = time.monotonic() + stall
while any(c.pending and c.error is None for c in conns) and time.monotonic() < deadline:
    pump(0.05)
ok = True
with open(out_path, "w") as f:
    for c in conns:
        if c.error is None and c.pending:
            fail(c, f"stall: no echo of {c.pending[0]!r} at the end")
        if c.error is None and c.echoed == 0:
            fail(c, "no line echoed")
        ok = ok and c.error is None
        state = "OK" if c.error is None else f"FAIL {c.error}"
        f.write(f"{c.i} {c.backend} {c.echoed} {c.port} {state}\n")
    f.write(f"# max echo latency {int(max_rtt * 1000)} ms\n")
for c in conns:
    c.sock.close()
sys.exit(0 if ok else 1)
