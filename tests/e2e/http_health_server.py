#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# e2e helper: an HTTP server whose /healthz answers 200 "ok", or 503 "unhealthy" while a control
# file exists — the backend keeps accepting TCP and serving /id, which a TCP check cannot tell apart
# from healthy. GET /id answers the backend's name.
# Usage: http_health_server.py PORT NAME CONTROL_FILE
import http.server
import os
import socket
import sys

PORT, NAME, CONTROL = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            # Re-read on every request: the test flips health with `touch` / `rm`.
            code, body = (503, b"unhealthy\n") if os.path.exists(CONTROL) else (200, b"ok\n")
        elif self.path == "/id":
            code, body = 200, (NAME + "\n").encode()
        else:
            code, body = 404, b"not found\n"
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass  # one line per health check would drown the logs


class DualStackServer(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


DualStackServer(("::", PORT), Handler).serve_forever()
