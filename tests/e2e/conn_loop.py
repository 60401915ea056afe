#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# e2e helper: opens a new TCP connection every INTERVAL_MS for DURATION_MS (each in its own thread,
# on a fixed schedule, so a slow or failing connection never delays the next), sends
# "GET /id HTTP/1.0" and records one line per connection: "<start unix ms> <backend name>" or
# "<start unix ms> FAIL <error>". One process instead of a curl per connection keeps the 20 ms
# pace on a loaded 2-CPU machine.
# Usage: conn_loop.py HOST PORT INTERVAL_MS DURATION_MS OUT
import socket
import sys
import threading
import time

host, port = sys.argv[1], int(sys.argv[2])
interval, duration, out_path = int(sys.argv[3]) / 1000, int(sys.argv[4]) / 1000, sys.argv[5]
lines = []
lock = threading.Lock()


def probe():
    start_ms = int(time.time() * 1000)
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.sendall(b"GET /id HTTP/1.0\r\nHost: xlb\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b" ", 2)[1] if head.startswith(b"HTTP/") else b"?"
        name = body.decode(errors="replace").strip()
        result = name if status == b"200" and name else f"FAIL status {status.decode()}"
    except OSError as e:
        result = f"FAIL {e.__class__.__name__}: {e}"
    with lock:
        lines.append(f"{start_ms} {result}")


threads = []
t0 = time.monotonic()
n = int(duration / interval)
for i in range(n):
    delay = t0 + i * interval - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    t = threading.Thread(target=probe, daemon=True)
    t.start()
    threads.append(t)
for t in threads:
    t.join(timeout=5)
with open(out_path, "w") as f:
    f.write("\n".join(sorted(lines)) + "\n")
