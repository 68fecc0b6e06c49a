# An account's first publish: clients that connected while it had no
# history (hello and snapshot with epoch "") are sent
# {"type":"epoch","epoch":E} before its first event, so they can resume in
# that history (since=E:ID replays exactly what they missed, no reset).
# Once an account has an epoch, no such message; an empty-epoch since is
# still a reset.  Redis port 6412.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::Stream;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

Devmon::Stream::setup(port => 6412);

# status, python client, [error], [alert|crit]
plan tests => repeat_each() * (4 * blocks());

Devmon::Stream::defaults(python_timeout => 30);

run_tests();

__DATA__

=== TEST 1: first publish: epoch, then the event; resume in it replays exactly the missed ones
--- python
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    ws = await connect("fresh")
    _, hello = await recv(ws)
    check(hello["type"] == "hello" and hello["epoch"] == "",
          "hello of an account without history: %r" % hello)
    _, snap = await recv(ws)
    check(snap["type"] == "snapshot" and snap["epoch"] == ""
          and snap["id"] == "0-0", "empty snapshot: %r" % snap)

    first = publish("fresh", [event("sw1")])
    (id1, epoch), = first
    raw, m = await recv(ws)
    check(m == {"type": "epoch", "epoch": epoch},
          "the epoch comes first: %r" % raw)
    raw, m = await recv(ws)
    check(m.get("id") == id1, "then the first event: %r" % raw)
    await ws.close()

    # away: 3 published; the resume point is in the epoch just learnt
    missed = publish("fresh", [event("sw%d" % i) for i in range(2, 5)])
    r = Collector(await connect("fresh", since="%s:%s" % (epoch, id1)),
                  "resumed")
    await r.wait_events(3)
    await asyncio.sleep(0.3)
    check(r.types() == ["hello"], "hello only, no reset: %r" % r.types())
    check(r.control[0]["epoch"] == epoch, "hello names the epoch")
    check(r.ids == [i for i, _ in missed], "exactly the 3 missed: %r"
          % r.ids)
    await r.close()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]



=== TEST 2: every waiting client (both workers) gets one epoch message; later ones none
--- python
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    cs = [Collector(await connect("fresh"), "c%d" % i) for i in range(6)]
    for c in cs:
        await c.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")

    (id1, epoch), = publish("fresh", [event("sw1")])
    for c in cs:
        await c.wait_events(1)
        check(c.types() == ["hello", "snapshot", "epoch"],
              "%s: %r" % (c.name, c.types()))
        check(c.epoch == epoch and c.ids == [id1], "%s: epoch %r, ids %r"
              % (c.name, c.epoch, c.ids))

    ids = publish("fresh", [event("sw2")])
    for c in cs:
        await c.wait_events(2)
    await asyncio.sleep(0.2)
    for c in cs:
        check(c.types().count("epoch") == 1, "%s: one epoch message: %r"
              % (c.name, c.types()))

    # an account with a history: the epoch is in hello, no epoch message
    late = Collector(await connect("fresh"), "late")
    await late.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")
    publish("fresh", [event("sw3")])
    await late.wait_events(1)
    await asyncio.sleep(0.2)
    check(late.types() == ["hello", "snapshot"], "late: %r" % late.types())
    check(late.control[0]["epoch"] == epoch, "late: hello has the epoch")
    for c in cs + [late]:
        await c.close()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]



=== TEST 3: a since with an empty epoch is still a reset and a snapshot
--- python
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    ids = publish("fresh", [event("sw%d" % i) for i in range(3)])
    c = Collector(await connect("fresh", since=":%s" % ids[0][0]), "empty")
    await c.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")
    check(c.types() == ["hello", "reset", "snapshot"], "%r" % c.types())
    check(c.control[1]["reason"] == "epoch", "reason %r" % c.control[1])
    check(c.epoch == ids[0][1] and c.events == [], "the snapshot's epoch")
    await c.close()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]
