#!/usr/bin/env python3
"""A faulty S3 endpoint for tests: an HTTP proxy in front of the S3 test server (moto) that
answers a share of requests with a fault instead of forwarding them.

    s3-fault-proxy.py --upstream http://127.0.0.1:9000 [--rate 0.1] [--faults 503,500,reset,stall]
                      [--stall 2.0] [--seed 1] [--port 0] [--log FILE] [--strip-conditions]

Faults, picked at random among --faults for each faulty request:
  503    503 SlowDown with S3's XML error body
  500    500 InternalError with S3's XML error body
  reset  the connection is closed with a TCP reset, nothing answered
  stall  the request waits --stall seconds, then is forwarded

The bound address (http://127.0.0.1:PORT) is the first line on stdout. Every request and fault
is counted. --strip-conditions removes If-Match / If-None-Match from every request forwarded,
as an S3-compatible server that ignores conditional writes would. GET /_proxy/stats returns the counts as JSON. --log appends one line per forwarded
request: its end time (seconds since the epoch), method, path and status. Python's standard
library only.
"""

import argparse
import http.client
import json
import random
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERRORS = {
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
}

# Hop-by-hop headers are not forwarded.
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--faults", default="503,500,reset,stall")
    ap.add_argument("--stall", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--strip-conditions", action="store_true")
    args = ap.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    for f in faults:
        if f not in ("503", "500", "reset", "stall"):
            sys.exit(f"unknown fault {f!r}: use 503, 500, reset or stall")
    if not 0.0 <= args.rate <= 1.0:
        sys.exit(f"--rate {args.rate} is not between 0 and 1")
    up = urllib.parse.urlsplit(args.upstream)
    rng = random.Random(args.seed)
    lock = threading.Lock()
    stats = {"requests": 0, "forwarded": 0, "503": 0, "500": 0, "reset": 0, "stall": 0}

    def pick():
        with lock:
            stats["requests"] += 1
            if faults and rng.random() < args.rate:
                f = rng.choice(faults)
                stats[f] += 1
                return f
            return None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def handle_any(self):
            if self.path == "/_proxy/stats":
                with lock:
                    data = json.dumps(stats).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            body = self.body()
            fault = pick()
            if fault in ERRORS:
                status, code, msg = ERRORS[fault]
                xml = (
                    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
                    "<Message>%s</Message><RequestId>proxy</RequestId></Error>" % (code, msg)
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(xml)))
                self.end_headers()
                self.wfile.write(xml)
                return
            if fault == "reset":
                # SO_LINGER 0: close() sends a RST instead of a FIN.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()
                return
            if fault == "stall":
                time.sleep(args.stall)
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            if args.strip_conditions:
                headers = {
                    k: v
                    for k, v in headers.items()
                    if k.lower() not in ("if-match", "if-none-match")
                }
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            with lock:
                stats["forwarded"] += 1
                if args.log:
                    with open(args.log, "a") as f:
                        f.write("%.6f %s %s %d\n" % (time.time(), self.command, self.path, resp.status))
            self.send_response(resp.status)
            head = self.command == "HEAD"
            for k, v in resp.getheaders():
                # A HEAD's Content-Length is the object's size: kept as the server sent it.
                if k.lower() not in HOP and (head or k.lower() != "content-length"):
                    self.send_header(k, v)
            if not head:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
