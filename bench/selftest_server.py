#!/usr/bin/python3
# Test-only WebSocket server for checking wsload itself (not the product).
#
# Checks HS256 tokens like the module would, sends a hello with an epoch,
# generates events per account carrying id/ax/sq/pt, replays from since=,
# and can drop every client at once (close 1001) to exercise resume.
# Loopback only.  Usage:
#   selftest_server.py PORT SECRET_FILE ACCOUNTS RATE [DROP_AT_S] [DOWN_S]

import asyncio
import base64
import collections
import hashlib
import hmac
import http
import json
import sys
import time
import urllib.parse

import websockets

PORT = int(sys.argv[1])
SECRET = open(sys.argv[2], 'rb').read().rstrip(b'\r\n')
ACCOUNTS = int(sys.argv[3])
RATE = float(sys.argv[4])
DROP_AT = float(sys.argv[5]) if len(sys.argv) > 5 else 0
DOWN = float(sys.argv[6]) if len(sys.argv) > 6 else 0

EPOCH = '1700000000000001'
clients = collections.defaultdict(set)
history = collections.defaultdict(lambda: collections.deque(maxlen=100000))
seq = collections.Counter()
down_until = 0.0


def b64d(s):
    return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))


def check_token(tok):
    try:
        h, p, s = tok.split('.')
        mac = hmac.new(SECRET, (h + '.' + p).encode(), hashlib.sha256)
        if not hmac.compare_digest(b64d(s), mac.digest()):
            return None
        claims = json.loads(b64d(p))
        if claims.get('exp', 0) < time.time():
            return None
        return claims
    except Exception:
        return None


def token_of(path, headers):
    auth = headers.get('Authorization', '')
    if auth.startswith('Bearer '):
        return auth[7:]
    for proto in headers.get('Sec-WebSocket-Protocol', '').split(','):
        proto = proto.strip()
        if proto.startswith('bearer.'):
            return proto[7:]
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    return q.get('access_token', [None])[0]


async def process_request(path, headers):
    if time.time() < down_until:
        return (http.HTTPStatus(503), [('Retry-After', '1')], b'down\n')
    if check_token(token_of(path, headers) or '') is None:
        return (http.HTTPStatus(401),
                [('WWW-Authenticate', 'Bearer error="invalid_token"')],
                b'no\n')
    return None


async def handler(ws, path):
    claims = check_token(token_of(path, ws.request_headers))
    acct = claims['acct']
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    since = q.get('since', [None])[0]
    # hello, replay and registration happen without yielding, so no live
    # event can fall between the replay and going live
    websockets.broadcast([ws], json.dumps({'type': 'hello', 'epoch': EPOCH},
                                         separators=(',', ':')))
    if since:
        ep, _, last = since.partition(':')
        if ep != EPOCH:
            websockets.broadcast([ws], '{"type":"reset"}')
        else:
            last = tuple(map(int, last.split('-')))
            for ev_id, body in list(history[acct]):
                if ev_id > last:
                    websockets.broadcast([ws], body)
    clients[acct].add(ws)
    try:
        async for _ in ws:
            pass
    finally:
        clients[acct].discard(ws)


async def generator():
    n = 0
    t0 = time.monotonic()
    while True:
        due = int((time.monotonic() - t0) * RATE)
        while n < due:
            a = n % ACCOUNTS
            acct = 'b%d' % a
            seq[acct] += 1
            now_us = int(time.time() * 1e6)
            ev_id = (now_us // 1000, n)
            body = ('{"id":"%d-%d","d":"dev1","r":"fra","k":"icmp","t":%d,'
                    '"st":"up","rt":1.8,"pl":0,"ax":%d,"sq":%d,"pt":%d}'
                    % (ev_id[0], ev_id[1], now_us // 1000, a, seq[acct],
                       now_us))
            history[acct].append((ev_id, body))
            websockets.broadcast(clients[acct], body)
            n += 1
        await asyncio.sleep(0.001)


async def dropper():
    global down_until
    if not DROP_AT:
        return
    await asyncio.sleep(DROP_AT)
    down_until = time.time() + DOWN
    for conns in list(clients.values()):
        for ws in list(conns):
            asyncio.ensure_future(ws.close(1001, 'going away'))
    print('selftest_server: dropped everyone', file=sys.stderr, flush=True)


async def main():
    async with websockets.serve(handler, '127.0.0.1', PORT,
                                process_request=process_request,
                                subprotocols=['devmon.v1'],
                                ping_interval=None, max_queue=None):
        await asyncio.gather(generator(), dropper(), asyncio.Future())


asyncio.run(main())
