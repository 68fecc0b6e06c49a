#!/usr/bin/python3
"""flapper.py: an HTTP target for the demo and tests that changes over time.

It answers 200 ("up"), answers 500 ("500"), or stops listening ("closed"),
following a repeating schedule, so that the dashboard has something to
show going down and coming back.  Responses take a few milliseconds with
an occasional slow one, so the probe chart has points to colour.

    flapper.py [--host 127.0.0.1] --port 8083
               [--schedule up:40,500:15,closed:15]
               [--control FILE] [--delay-ms 4]

A control FILE, when it exists, overrides the schedule with its content
(one of up, 500, closed; "up:MS" also fixes the response delay), so a test
decides exactly when the target fails and how slow it is.
Standard library only; loopback only.
"""

import argparse
import http.server
import random
import signal
import socketserver
import sys
import threading
import time

STATES = ("up", "500", "closed")


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "flapper/1"

    def do_GET(self):
        state = self.server.flapper.state()
        delay = self.server.flapper.delay()

        if delay > 0:
            time.sleep(delay)

        code = 200 if state == "up" else 500
        body = b"demo target: ok\n" if code == 200 else b"demo failure\n"

        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, fmt, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Flapper:
    def __init__(self, args):
        self.host = args.host
        self.port = args.port
        self.control = args.control
        self.delay_ms = args.delay_ms
        self.schedule = []
        self.period = 0.0
        self.start = time.monotonic()
        self.server = None
        self.thread = None

        for part in args.schedule.split(","):
            name, _, secs = part.partition(":")
            if name not in STATES or float(secs) <= 0:
                sys.exit("flapper: bad schedule entry %r" % part)
            self.schedule.append((name, float(secs)))
            self.period += float(secs)

    def controlled(self):
        if not self.control:
            return None, None

        try:
            with open(self.control) as f:
                s, _, ms = f.read().strip().partition(":")
        except OSError:
            return None, None

        if s not in STATES:
            return None, None

        try:
            return s, (float(ms) / 1000.0 if ms else None)
        except ValueError:
            return s, None

    def state(self):
        s, _ = self.controlled()

        if s is not None:
            return s

        t = (time.monotonic() - self.start) % self.period

        for name, secs in self.schedule:
            if t < secs:
                return name
            t -= secs

        return "up"

    def delay(self):
        _, fixed = self.controlled()

        if fixed is not None:
            return fixed

        base = self.delay_ms / 1000.0
        d = base * random.uniform(0.6, 1.4)

        # about one request in twelve is slow: amber and red points
        if random.random() < 1 / 12.0:
            d = base * random.choice((2.5, 4.0))

        return d

    def listen(self):
        if self.server is not None:
            return

        deadline = time.monotonic() + 5

        while True:
            try:
                self.server = Server((self.host, self.port), Handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

        self.server.flapper = self
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        if self.server is None:
            return

        self.server.shutdown()
        self.server.server_close()
        self.server = None

    def run(self):
        while True:
            if self.state() == "closed":
                self.close()
            else:
                self.listen()
            time.sleep(0.1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--schedule", default="up:40,500:15,closed:15")
    p.add_argument("--control", default=None)
    p.add_argument("--delay-ms", type=float, default=4.0)
    args = p.parse_args()

    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))

    flapper = Flapper(args)

    try:
        flapper.run()
    except KeyboardInterrupt:
        pass
    finally:
        flapper.close()


if __name__ == "__main__":
    main()
