# Resume with since=epoch:id: exactly the events missed, in order, without
# duplicates; a reset and a fresh snapshot when the point is outside the
# window, the stream is gone, the epoch changed, the gap is larger than
# devmon_replay_max, or the point is unreadable.  Redis port 6401.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::Stream;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

Devmon::Stream::setup(port => 6401);

# status, python client, [error], [alert|crit]
plan tests => repeat_each() * (4 * blocks());

Devmon::Stream::defaults(python_timeout => 30, http_extra => <<'_EOH_');
    devmon_replay_max 50;
_EOH_

run_tests();

__DATA__

=== TEST 1: disconnect, N published, reconnect with since: exactly those N
--- python
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    publish("acme", [event("a", t=1)])
    c = Collector(await connect("acme"), "first")
    await c.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")
    ids = publish("acme", [event("a", t=i) for i in range(10)])
    await c.wait_events(10)
    await c.close()
    since = c.since()
    check(c.last == ids[-1][0], "resume point is the last event")

    for attempt in range(4):
        # several rounds: either worker, nothing depends on which
        evs = [event("d%d" % (i % 3), t=100 + i) for i in range(37)]
        missed = publish("acme", evs)
        want = [with_id(i, e) for (i, _), (_, e) in zip(missed, evs)]

        r = Collector(await connect("acme", since=since),
                      "resumed %d" % attempt)
        await r.wait_events(37)
        live = publish("acme", [event("after", t=999)])
        await r.wait_events(38)
        check(r.types() == ["hello"], "only hello, no reset or snapshot: %r"
              % r.types())
        check(r.events[:37] == want, "the missed events, in order")
        check(r.ids[37] == live[0][0], "then live")
        await asyncio.sleep(0.2)
        check(len(r.events) == 38, "no duplicates: %d" % len(r.events))
        await r.close()
        since = r.since()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]



=== TEST 2: resume point trimmed out of the window: reset, then a snapshot
--- python
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    ids = publish("acme", [event("a", t=i) for i in range(30)])
    epoch = ids[0][1]
    redis("XTRIM", "devmon:{acme}:ev", "MAXLEN", 10)

    c = Collector(await connect("acme", since="%s:%s" % (epoch, ids[5][0])),
                  "trimmed")
    await c.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")
    check(c.types() == ["hello", "reset", "snapshot"], "%r" % c.types())
    check(c.control[1]["reason"] == "window", "reason %r" % c.control[1])
    check(c.control[2]["id"] == ids[-1][0], "snapshot at the newest id")
    check(c.events == [], "no replay")

    # inside the window (the oldest entry kept is the point): replay
    r = Collector(await connect("acme", since="%s:%s" % (epoch, ids[20][0])),
                  "kept")
    await r.wait_events(9)
    check(r.types() == ["hello"] and r.ids == [i for i, _ in ids[21:]],
          "replay from inside the window: %r" % r.types())
    await c.close()
    await r.close()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]



=== TEST 3: stream deleted: reset; its recreation (new epoch) resets live clients
--- python
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    ids = publish("acme", [event("a", t=i) for i in range(5)])
    epoch = ids[0][1]
    live = Collector(await connect("acme"), "live")
    await live.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")

    redis("DEL", "devmon:{acme}:ev", "devmon:{acme}:state")

    c = Collector(await connect("acme", since="%s:%s" % (epoch, ids[-1][0])),
                  "gone")
    await c.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")
    check(c.types() == ["hello", "reset", "snapshot"], "%r" % c.types())
    check(c.control[1]["reason"] == "gone", "reason %r" % c.control[1])

    # the next publish starts a new history: every client is told
    new = publish("acme", [event("b", t=1)])
    check(new[0][1] != epoch, "a new epoch")
    for x in (live, c):
        await x.wait_for(lambda x: x.types().count("snapshot") == 2,
                         what="second snapshot")
        check(x.types()[-2:] == ["reset", "snapshot"], "%s: %r"
              % (x.name, x.types()))
        check(x.control[-2]["reason"] == "epoch", "epoch reason")
        snap = x.control[-1]
        check(snap["epoch"] == new[0][1] and snap["id"] == new[0][0],
              "snapshot of the new history: %r" % snap)
        check(any(s["id"] == new[0][0] for s in snap["state"]),
              "with the new event")
    more = publish("acme", [event("b", t=2)])
    for x in (live, c):
        await x.wait_for(lambda x: more[0][0] in x.ids, what="live again")
        check(new[0][0] not in x.ids, "the first event came in the snapshot")
    await live.close()
    await c.close()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]



=== TEST 4: more than devmon_replay_max missed, another epoch, bad or future since
--- python
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    ids = publish("acme", [event("a", t=i) for i in range(120)])
    epoch = ids[0][1]

    cases = [("%s:%s" % (epoch, ids[10][0]), "too_far"),
             ("%s:%s" % (epoch, ids[69][0]), None),
             ("1:%s" % ids[100][0], "epoch"),
             ("garbage", "invalid_since"),
             # beyond the newest event: live would skip what comes next
             ("%s:%d-0" % (epoch, id_key(ids[-1][0])[0] + 60000),
              "invalid_since"),
             ("%s:%d-%d" % (epoch, id_key(ids[-1][0])[0],
                            id_key(ids[-1][0])[1] + 1), "invalid_since"),
             ("%s:%s" % (epoch, "12x-3"), "invalid_since")]

    for since, reason in cases:
        c = Collector(await connect("acme", since=since), since)
        if reason is None:
            await c.wait_events(50)
            check(c.types() == ["hello"], "exactly 50 replayed: %r"
                  % c.types())
            check(c.ids == [i for i, _ in ids[70:]], "the right 50")
        else:
            await c.wait_for(lambda c: "snapshot" in c.types(),
                             what="snapshot")
            check(c.types() == ["hello", "reset", "snapshot"],
                  "%s: %r" % (since, c.types()))
            check(c.control[1]["reason"] == reason,
                  "%s: reason %r" % (since, c.control[1]))
            check(c.control[1]["epoch"] == epoch, "reset names the epoch")
        await c.close()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]
