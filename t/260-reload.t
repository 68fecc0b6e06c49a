# nginx -s reload (SIGHUP) while events are published: clients of the old
# workers get "bye" and 1001, reconnect with since=epoch:id to the new
# workers and resume with nothing lost and nothing twice.  Redis port 6406.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::Stream;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

Devmon::Stream::setup(port => 6406);

# status, python client, [alert|crit]
plan tests => repeat_each() * (3 * blocks());

Devmon::Stream::defaults(python_timeout => 60);

run_tests();

__DATA__

=== TEST 1: two reloads during publishing: every client resumes, none loses any
--- python
import signal
from devmon_stream import *

class Resumer:
    """A client as the dashboard is one: on 1001 it reconnects with since."""

    def __init__(self, account, name):
        self.account = account
        self.name = name
        self.ids = []
        self.epoch = None
        self.closes = []
        self.types = []
        self.stop = False
        self.task = asyncio.ensure_future(self.run())

    async def run(self):
        since = None
        while not self.stop:
            try:
                ws = await connect(self.account, since=since)
            except websockets.InvalidStatusCode as e:
                # an old worker that is leaving, or a new one starting
                check(e.status_code == 503, "%s: %r" % (self.name, e))
                await asyncio.sleep(0.05)
                continue
            try:
                async for raw in ws:
                    m = json.loads(raw)
                    if "type" in m:
                        self.types.append(m["type"])
                        if m["type"] == "hello":
                            self.epoch = m["epoch"]
                        if m["type"] == "snapshot":
                            self.last = m["id"]
                        continue
                    self.ids.append(m["id"])
            except websockets.ConnectionClosed:
                pass
            self.closes.append(ws.close_code)
            if ws.close_code != 1001:
                return
            since = "%s:%s" % (self.epoch, self.ids[-1] if self.ids
                                                else self.last)

async def main():
    redis("FLUSHALL")
    publish("r1", [event("x", t=0)])
    publish("r2", [event("x", t=0)])
    master = int(open(os.environ["DEVMON_NGINX_PID"]).read())
    clients = [Resumer(a, "%s/%d" % (a, i)) for a in ("r1", "r2")
               for i in range(4)]
    await asyncio.sleep(0.5)

    for rnd in range(120):
        for a in ("r1", "r2"):
            await asyncio.to_thread(publish, a, [event("d%d" % i, t=rnd)
                                                 for i in range(3)])
        if rnd in (30, 80):
            os.kill(master, signal.SIGHUP)
        await asyncio.sleep(0.01)

    for c in clients:
        want = stream_ids(c.account)[1:]
        deadline = time.time() + 20
        while len(c.ids) < len(want) and time.time() < deadline:
            await asyncio.sleep(0.05)

    await asyncio.sleep(0.3)
    for c in clients:
        want = stream_ids(c.account)[1:]
        check(len(want) == 360, "%s: 360 published" % c.name)
        check(c.ids == want, "%s: got %d (%d distinct), want %d in order; "
              "closes %r, messages %r" % (c.name, len(c.ids),
              len(set(c.ids)), len(want), c.closes, c.types))
        check(c.closes.count(1001) >= 2, "%s: 1001 on both reloads: %r"
              % (c.name, c.closes))
        check(c.types.count("bye") >= 2, "%s: bye before 1001: %r"
              % (c.name, c.types))
        check("reset" not in c.types, "%s: resumed, never reset: %r"
              % (c.name, c.types))
        c.stop = True
    print("ok")

run(main())
--- python_out
ok
