# devmon_status gauges after a worker dies without cleaning up: each
# worker keeps its gauges in a slot of the zone keyed by its pid, and the
# page sums only the slots of live pids, so the share of a SIGKILLed
# worker (its connections, Redis links, accounts) drops out at once and
# its respawned successor is counted once.  Redis port 6413.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::Stream;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

Devmon::Stream::setup(port => 6413);

# status, python client, 2 error_log, 3 no_error_log lines
plan tests => repeat_each() * (7 * blocks());

Devmon::Stream::defaults(python_timeout => 60, config => <<'_EOC_');
    location = /ws {
        devmon_ws;
    }

    location = /status {
        devmon_status;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: a SIGKILLed worker's connections and links leave the gauges
--- python
import http.client, os, re, signal, subprocess
from devmon_stream import *

HOST, PORT = HTTP_BASE.split("//")[1].split(":")
MASTER = int(open(os.environ["DEVMON_NGINX_PID"]).read())

def metrics():
    c = http.client.HTTPConnection(HOST, int(PORT), timeout=5)
    c.request("GET", "/status")
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    check(r.status == 200, "status page %s" % r.status)
    m = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        k, v = line.rsplit(" ", 1)
        m[k] = float(v)
    return m, text

def workers():
    out = subprocess.run(["pgrep", "-P", str(MASTER)], capture_output=True,
                         text=True).stdout
    return sorted(int(p) for p in out.split())

def holders():
    """client port -> pid of the worker holding its connection"""
    out = subprocess.run(["ss", "-Htnp", "state", "established",
                          "( sport = :%s )" % PORT], capture_output=True,
                         text=True, check=True).stdout
    return dict((int(c), int(p)) for c, p in
                re.findall(r":(\d+)\s+users:.*?pid=(\d+)", out))

async def settle(pred, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m, text = metrics()
        if pred(m):
            return m, text
        await asyncio.sleep(0.1)
    raise AssertionError("timed out waiting for %s:\n%s" % (what, text))

LINK = 'devmon_redis_link_up{link="%s"}'

async def main():
    redis("FLUSHALL")
    publish("acme", [event("a", t=1)])
    old = workers()
    check(len(old) == 2, "two workers of %d: %r" % (MASTER, old))

    clients = []
    for i in range(3):
        c = Collector(await connect("acme"), "c%d" % i)
        await c.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")
        clients.append(c)

    m, text = await settle(lambda m: m[LINK % "subscriber"] == 2
                           and m[LINK % "command"] == 2, "links up")
    check(m["devmon_workers"] == 2, "2 workers: %s" % text)
    check(m["devmon_connections"] == 3, "3 open: %s" % text)

    # kill the worker holding the most clients: its gauges never go down
    held = holders()
    pids = [held.get(c.ws.local_address[1]) for c in clients]
    check(set(pids) <= set(old),
          "client sockets held by the workers %r: %r %r" % (old, pids, held))
    victim = max(old, key=pids.count)
    os.kill(victim, signal.SIGKILL)

    for _ in range(100):
        now = workers()
        if len(now) == 2 and victim not in now:
            break
        await asyncio.sleep(0.1)
    check(len(now) == 2 and victim not in now, "respawned: %r" % now)

    gone = [c for c, p in zip(clients, pids) if p == victim]
    alive = [c for c, p in zip(clients, pids) if p != victim]
    check(len(gone) >= 1, "at least one client was on the killed worker")
    for c in gone:
        await c.wait_for(lambda c: c.task.done(), what="connection lost")
    check(not any(c.task.done() for c in alive), "the others stay open")

    m, text = await settle(lambda m: m[LINK % "subscriber"] == 2
                           and m[LINK % "command"] == 2,
                           "links of the respawned worker")
    check(m["devmon_workers"] == 2, "2 workers again: %s" % text)
    check(m["devmon_connections"] == len(alive),
          "%d still connected: %s" % (len(alive), text))
    check(m["devmon_subscribed_accounts"] == (1 if alive else 0),
          "acme only where clients remain: %s" % text)

    # the survivors are really served
    publish("acme", [event("a", t=2)])
    for c in alive:
        await c.wait_events(1)
    for c in alive:
        await c.close()

    m, text = await settle(lambda m: m["devmon_connections"] == 0,
                           "all closed")
    check(m["devmon_workers"] == 2, "still 2 workers: %s" % text)
    print("ok")

run(main())
--- python_out
ok
--- error_log
[alert]
exited on signal 9
--- no_error_log
[crit]
[emerg]
metrics slots are held



=== TEST 2: slots of dead workers are reused, so the gauges never run out
--- python
import http.client, os, signal, subprocess
from devmon_stream import *

HOST, PORT = HTTP_BASE.split("//")[1].split(":")
MASTER = int(open(os.environ["DEVMON_NGINX_PID"]).read())

def metrics():
    c = http.client.HTTPConnection(HOST, int(PORT), timeout=5)
    c.request("GET", "/status")
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    check(r.status == 200, "status page %s" % r.status)
    return dict(l.rsplit(" ", 1) for l in text.splitlines()
                if l and not l.startswith("#")), text

def workers():
    out = subprocess.run(["pgrep", "-P", str(MASTER)], capture_output=True,
                         text=True).stdout
    return sorted(int(p) for p in out.split())

async def main():
    # 2 workers get 8 slots: 6 rounds leave 12 dead pids behind
    for rnd in range(6):
        old = workers()
        check(len(old) == 2, "round %d: two workers: %r" % (rnd, old))
        for p in old:
            os.kill(p, signal.SIGKILL)
        for _ in range(100):
            now = workers()
            if len(now) == 2 and not set(now) & set(old):
                break
            await asyncio.sleep(0.1)
        check(len(now) == 2 and not set(now) & set(old),
              "round %d: respawned: %r" % (rnd, now))

        # the respawned ones claim their slots as they start
        for _ in range(50):
            m, text = metrics()
            if m["devmon_workers"] == "2":
                break
            await asyncio.sleep(0.1)
        check(m["devmon_workers"] == "2", "round %d: 2 workers: %s"
              % (rnd, text))

    ws = await connect("acme")
    hello = await sync(ws)
    m, text = metrics()
    check(m["devmon_connections"] == "1", "a new client counted: %s" % text)
    await ws.close()
    print("ok")

run(main())
--- python_out
ok
--- error_log
[alert]
exited on signal 9
--- no_error_log
[crit]
[emerg]
metrics slots are held
