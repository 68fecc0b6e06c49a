"""Helpers for the live stream suites (t/2xx-*.t), run by /usr/bin/python3.

Real parts only: a tiny RESP client for the test's redis-server, events
published the way probed publishes them (probed/devmon-publish when it is
built, else EVAL of probed/publish.lua), and WebSocket clients
(python3-websockets) against the nginx under test.

Environment (set by the .t file and Devmon::Util):
  DEVMON_ROOT            the repository
  TEST_NGINX_REDIS_PORT  the redis-server of the suite
  DEVMON_WS_URL          ws://127.0.0.1:PORT/ws
  DEVMON_JWT_SECRET      the HS256 secret nginx verifies tokens with
"""

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import os
import socket
import subprocess
import time
import urllib.parse

import websockets

ROOT = os.environ.get("DEVMON_ROOT",
                      os.path.dirname(os.path.dirname(
                          os.path.dirname(os.path.abspath(__file__)))))
REDIS_PORT = int(os.environ.get("TEST_NGINX_REDIS_PORT", "0"))
# a suite may point the helpers at a unix socket, a password, a database
REDIS_SOCKET = os.environ.get("DEVMON_REDIS_SOCKET")
REDIS_PASSWORD = os.environ.get("DEVMON_REDIS_PASSWORD")
REDIS_DB = int(os.environ.get("DEVMON_REDIS_DB", "0"))
WS_URL = os.environ.get("DEVMON_WS_URL", "")
HTTP_BASE = WS_URL.replace("ws://", "http://").rsplit("/", 1)[0]
PUBLISHER = os.path.join(ROOT, "probed", "devmon-publish")
LUA = os.path.join(ROOT, "probed", "publish.lua")
TIMEOUT = 5


class RedisError(Exception):
    pass


def _read_reply(f):
    line = f.readline()
    if not line:
        raise RedisError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode()
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_read_reply(f) for _ in range(n)]
    raise RedisError("bad reply %r" % line)


def _command(*args):
    req = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        req += b"$%d\r\n%s\r\n" % (len(a), a)
    return req


def _open(port=None):
    """A connection to the suite's redis-server, authenticated and on its
    database: (socket, reader)."""
    if REDIS_SOCKET and not port:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(TIMEOUT)
        s.connect(REDIS_SOCKET)
    else:
        s = socket.create_connection(("127.0.0.1", port or REDIS_PORT),
                                     timeout=TIMEOUT)
    f = s.makefile("rb")
    try:
        if REDIS_PASSWORD:
            s.sendall(_command("AUTH", REDIS_PASSWORD))
            _read_reply(f)
        if REDIS_DB:
            s.sendall(_command("SELECT", REDIS_DB))
            _read_reply(f)
    except BaseException:
        s.close()
        raise
    return s, f


def redis(*args, port=None):
    """One command to the suite's redis-server; the reply, decoded."""
    s, f = _open(port)
    try:
        s.sendall(_command(*args))
        return _read_reply(f)
    finally:
        s.close()


def event(dev, region="fra", kind="icmp", t=None, st="up", rt=1.8):
    """(state field, event JSON without id), as probed writes them: "t"
    only when given (probed adds it to late events only)."""
    body = ('{"d":"%s","r":"%s","k":"%s",%s"st":"%s","rt":%s,"pl":0}'
            % (dev, region, kind, '"t":%d,' % t if t is not None else "",
               st, rt))
    return ("%s|%s|%s" % (dev, region, kind), body)


def publish(account, events, maxlen=100000):
    """Publish [(field, json)] in order; returns [(id, epoch)]."""
    if os.access(PUBLISHER, os.X_OK):
        lines = "".join("%s %s %s\n" % (account, f or "-", e)
                        for f, e in events)
        where = (["-s", REDIS_SOCKET] if REDIS_SOCKET
                 else ["-p", str(REDIS_PORT)])
        if REDIS_PASSWORD:
            where += ["-a", REDIS_PASSWORD]
        if REDIS_DB:
            where += ["-n", str(REDIS_DB)]
        out = subprocess.run([PUBLISHER] + where + ["-w", str(maxlen)],
                             input=lines.encode(), capture_output=True,
                             timeout=30)
        if out.returncode != 0:
            raise RedisError("devmon-publish: " + out.stderr.decode())
        ids = [tuple(l.split()) for l in out.stdout.decode().splitlines()
               if l.strip()]
        if len(ids) != len(events):
            raise RedisError("devmon-publish printed %d ids for %d events"
                             % (len(ids), len(events)))
        return ids

    script = open(LUA).read()
    keys = ["devmon:{%s}:%s" % (account, k)
            for k in ("ev", "state", "live", "epoch")]
    return [tuple(redis("EVAL", script, 4, *keys, f, e, maxlen))
            for f, e in events]


def pipeline(cmds):
    """Commands in one write on one connection, so that redis-server runs
    them in one pass and its pub/sub messages leave together; the replies."""
    s, f = _open()
    try:
        s.sendall(b"".join(_command(*c) for c in cmds))
        return [_read_reply(f) for _ in cmds]
    finally:
        s.close()


def publish_cmd(account, ev, maxlen=100000):
    """The EVALSHA that publishes (field, json) as probed does, for
    pipeline(); the script is loaded on first use."""
    global _sha
    if _sha is None:
        _sha = redis("SCRIPT", "LOAD", open(LUA).read())
    keys = ["devmon:{%s}:%s" % (account, k)
            for k in ("ev", "state", "live", "epoch")]
    return ("EVALSHA", _sha, 4, *keys, ev[0] or "", ev[1], maxlen)


_sha = None


def stream_ids(account):
    """Every id in the account's stream, oldest first."""
    return [e[0] for e in redis("XRANGE", "devmon:{%s}:ev" % account,
                                "-", "+")]


def with_id(id_, body):
    """The event as clients get it: the id spliced in first."""
    return '{"id":"%s",%s' % (id_, body[1:])


def id_key(id_):
    ms, seq = id_.split("-")
    return (int(ms), int(seq))


_users = itertools.count(1)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def token(account, user=None, ttl=600):
    """An HS256 token for account; every call is another user unless one
    is given, so per-user caps never limit a suite."""
    user = user or "u%d-%d" % (os.getpid(), next(_users))
    head = _b64(b'{"alg":"HS256","typ":"JWT"}')
    claims = _b64(json.dumps({"sub": user, "acct": account,
                              "exp": int(time.time()) + ttl}).encode())
    signed = head + b"." + claims
    sig = hmac.new(os.environ["DEVMON_JWT_SECRET"].encode(), signed,
                   hashlib.sha256).digest()
    return (signed + b"." + _b64(sig)).decode()


def auth(account):
    return {"Authorization": "Bearer " + token(account)}


def ws_url(since=None, path=""):
    q = {}
    if since is not None:
        q["since"] = since
    return WS_URL + path + ("?" + urllib.parse.urlencode(q) if q else "")


async def connect(account=None, since=None, headers=None, path="",
                  **kw):
    """A client of account (with a token of its own) or, without account,
    with the given headers only."""
    h = dict(headers or {})
    if account is not None:
        h.update(auth(account))
    return await websockets.connect(ws_url(since, path),
                                    subprotocols=["devmon.v1"],
                                    extra_headers=h,
                                    open_timeout=TIMEOUT, close_timeout=2,
                                    max_size=kw.get("max_size",
                                                    16 * 1024 * 1024),
                                    max_queue=kw.get("max_queue", 32))


async def recv(ws, timeout=TIMEOUT):
    """The next message as (raw text, parsed JSON)."""
    raw = await asyncio.wait_for(ws.recv(), timeout)
    return raw, json.loads(raw)


async def sync(ws, timeout=TIMEOUT):
    """Reads hello, then optional reset, then snapshot or replayed events
    up to the first non-control message; returns (hello, reset, snapshot)
    and leaves the websocket positioned after the snapshot (or after the
    hello when the client resumed)."""
    _, hello = await recv(ws, timeout)
    assert hello.get("type") == "hello", "first message is not hello: %r" % (
        hello,)
    return hello


class Collector:
    """Reads a websocket in the background: events (raw, by id) and
    control messages, with the resume point of what arrived."""

    def __init__(self, ws, name=""):
        self.ws = ws
        self.name = name
        self.events = []        # raw texts of events, in order
        self.ids = []
        self.control = []       # parsed control messages, in order
        self.epoch = None
        self.last = None
        self.close_code = None
        self.task = asyncio.ensure_future(self._run())

    async def _run(self):
        try:
            async for raw in self.ws:
                m = json.loads(raw)
                if "type" in m:
                    self.control.append(m)
                    if m["type"] in ("hello", "snapshot", "reset", "epoch"):
                        self.epoch = m.get("epoch", self.epoch)
                    if m["type"] == "snapshot":
                        self.last = m["id"]
                    continue
                self.events.append(raw)
                self.ids.append(m["id"])
                self.last = m["id"]
        except websockets.ConnectionClosed:
            pass
        self.close_code = self.ws.close_code

    def types(self):
        return [m["type"] for m in self.control]

    def since(self):
        return "%s:%s" % (self.epoch or "", self.last or "0-0")

    async def wait_for(self, pred, timeout=TIMEOUT, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred(self):
                return
            if self.task.done():
                break
            await asyncio.sleep(0.01)
        if not pred(self):
            raise AssertionError("%s: timed out waiting for %s; control=%r "
                                 "events=%d close=%r" % (
                                     self.name, what, self.types(),
                                     len(self.events), self.close_code))

    async def wait_events(self, n, timeout=TIMEOUT):
        await self.wait_for(lambda c: len(c.events) >= n, timeout,
                            "%d events" % n)

    async def close(self):
        await self.ws.close()
        await asyncio.wait_for(self.task, TIMEOUT)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def run(coro):
    """Runs the test coroutine; any failure exits non-zero with a reason."""
    try:
        asyncio.run(coro)
    except AssertionError as e:
        print("FAIL:", e)
        raise SystemExit(1)
