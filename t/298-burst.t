# Events that arrive together: redis-server runs a pipeline of publishes in
# one pass, so a worker reads many pub/sub messages in one read and its
# clients get several frames per write.  Order, filters, accounts, a first
# epoch or a new history inside the burst, a resume and a new account's
# subscribe while it goes on: what every client gets must be exactly what
# one-by-one publishing would give.  Redis port 6414, two workers.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::Stream;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

Devmon::Stream::setup(port => 6414);

# status, python client, [error], [alert|crit]
plan tests => repeat_each() * (4 * blocks());

Devmon::Stream::defaults(python_timeout => 60, http_extra => <<'_EOH_');
    devmon_replay_max 2000;
_EOH_

run_tests();

__DATA__

=== TEST 1: a burst over three accounts: each client gets its account's events, in order, filtered
--- python
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    # acme and beta have a history; gamma's first event is inside the burst
    publish("acme", [event("dev-0")])
    publish("beta", [event("dev-0")])

    async def client(account, name):
        c = Collector(await connect(account), name)
        await c.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")
        return c

    acme = [await client("acme", "acme%d" % i) for i in range(3)]
    beta = [await client("beta", "beta%d" % i) for i in range(2)]
    gamma = await client("gamma", "gamma")

    # one of acme's clients wants dev-1 only
    await acme[2].ws.send(json.dumps({"type": "subscribe",
                                      "devices": ["dev-1"]}))
    await acme[2].wait_for(lambda c: "subscribed" in c.types(),
                           what="filter acknowledged")

    cmds, sent = [], []
    for i in range(900):
        account = ("acme", "beta", "gamma")[i % 3]
        ev = event("dev-%d" % (i % 5), t=i)
        cmds.append(publish_cmd(account, ev))
        sent.append((account, ev))
    replies = pipeline(cmds)
    for r in replies:
        check(isinstance(r, list) and len(r) == 2, "published: %r" % (r,))

    want = {}
    for (account, (field, body)), (id_, epoch) in zip(sent, replies):
        want.setdefault(account, []).append((field, with_id(id_, body)))

    def events(account, dev=None):
        return [raw for field, raw in want[account]
                if dev is None or field.startswith(dev + "|")]

    for c in acme[:2] + beta + [gamma]:
        await c.wait_events(300, 20)
    await acme[2].wait_events(len(events("acme", "dev-1")), 20)
    await asyncio.sleep(0.3)

    for c in acme[:2]:
        check(c.events == events("acme"), "%s: not acme's 300 in order"
              % c.name)
    check(acme[2].events == events("acme", "dev-1"),
          "filtered client: %d events, want dev-1's %d"
          % (len(acme[2].events), len(events("acme", "dev-1"))))
    for c in beta:
        check(c.events == events("beta"), "%s: not beta's 300 in order"
              % c.name)
    check(gamma.events == events("gamma"), "gamma: not its 300 in order")

    # gamma's history began in the burst: its epoch came before its events
    check(gamma.types() == ["hello", "snapshot", "epoch"],
          "gamma control %r" % gamma.types())
    check(gamma.epoch == replies[2][1], "gamma epoch %r, published %r"
          % (gamma.epoch, replies[2][1]))
    for c in acme + beta:
        check("epoch" not in c.types() and "reset" not in c.types(),
              "%s: nothing but events: %r" % (c.name, c.types()))
        await c.close()
    await gamma.close()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]



=== TEST 2: a new history inside the burst: the old events, then reset and snapshot, then the new
--- python
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    publish("acme", [event("a")])
    c = Collector(await connect("acme"), "live")
    await c.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")

    old = [event("a", t=i) for i in range(100)]
    new = [event("b", t=i) for i in range(100)]
    cmds = ([publish_cmd("acme", e) for e in old]
            + [("DEL", "devmon:{acme}:ev", "devmon:{acme}:state")]
            + [publish_cmd("acme", e) for e in new])
    replies = pipeline(cmds)
    old_ids = replies[:100]
    new_ids = replies[101:]
    check(old_ids[0][1] != new_ids[0][1], "two histories")

    await c.wait_for(lambda c: c.types().count("snapshot") == 2,
                     what="the new history's snapshot")
    await c.wait_for(lambda c: c.last == new_ids[-1][0], what="the last")

    # the old history up to its last event, then the reset
    n = len(old)
    check(c.events[:n] == [with_id(i, e[1]) for (i, _), e in
                           zip(old_ids, old)],
          "the old history's events, in order, before the reset")
    check(c.types()[-2:] == ["reset", "snapshot"], "%r" % c.types())
    check(c.control[-2]["reason"] == "epoch", "reason %r" % c.control[-2])

    # the new history: the snapshot's point, then exactly what follows it
    snap = c.control[-1]
    check(snap["epoch"] == new_ids[0][1], "snapshot of the new history")
    after = [i for i, _ in new_ids]
    check(snap["id"] in after, "snapshot point %r is a new id" % snap["id"])
    rest = after[after.index(snap["id"]) + 1:]
    check(c.ids[n:] == rest, "after the snapshot: %d live, want %d in order"
          % (len(c.ids) - n, len(rest)))
    await c.close()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]



=== TEST 3: resume and a new account's subscribe while bursts go on: no gap, no duplicate
--- python
from devmon_stream import *
import threading

async def main():
    redis("FLUSHALL")
    first = publish("acme", [event("a", t=i) for i in range(100)])
    epoch = first[0][1]

    stop = threading.Event()
    def bursts():
        k = 0
        while not stop.is_set() and k < 40:
            pipeline([publish_cmd("acme", event("d%d" % (i % 3), t=i))
                      for i in range(50)])
            k += 1
            time.sleep(0.02)
    t = threading.Thread(target=bursts)
    t.start()
    try:
        await asyncio.sleep(0.1)
        c = Collector(await connect("acme", since="%s:%s"
                                    % (epoch, first[49][0])), "resumed")
        d = Collector(await connect("delta"), "delta")
        await d.wait_for(lambda d: "snapshot" in d.types(), what="snapshot")
        await asyncio.sleep(0.2)
        mine = publish("delta", [event("x")])
    finally:
        stop.set()
        await asyncio.get_running_loop().run_in_executor(None, t.join)

    ids = stream_ids("acme")
    await c.wait_for(lambda c: c.last == ids[-1], timeout=20,
                     what="the last published")
    check(c.types() == ["hello"], "a plain resume: %r" % c.types())
    want = ids[ids.index(first[49][0]) + 1:]
    check(c.ids == want, "resumed: %d events, want the %d after the point"
          % (len(c.ids), len(want)))
    await d.wait_for(lambda d: d.ids == [mine[0][0]], what="delta's event")
    await c.close()
    await d.close()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]
