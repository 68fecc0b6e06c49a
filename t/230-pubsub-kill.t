# The subscriber links are killed (CLIENT KILL TYPE pubsub) while events
# keep being published: every client still receives every event of its
# account, in order, exactly once (backfilled from the stream), and is
# told about the broker going down and up.  Redis port 6403.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::Stream;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

Devmon::Stream::setup(port => 6403);

# status, python client, [alert|crit]
plan tests => repeat_each() * (3 * blocks());

Devmon::Stream::defaults(python_timeout => 60, http_extra => <<'_EOH_');
    devmon_redis_reconnect 50ms 500ms;
_EOH_

run_tests();

__DATA__

=== TEST 1: pub/sub links killed three times during publishing: nothing lost
--- python
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    accounts = ["k1", "k2"]
    clients = []
    for a in accounts:
        for k in range(3):
            clients.append((a, Collector(await connect(a), "%s/%d" % (a, k))))
    for _, c in clients:
        await c.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")

    kills = 0
    for rnd in range(80):
        for a in accounts:
            await asyncio.to_thread(publish, a,
                                    [event("d%d" % i, t=rnd * 10 + i)
                                     for i in range(4)])
        if rnd in (15, 40, 60):
            killed = redis("CLIENT", "KILL", "TYPE", "pubsub")
            check(killed >= 1, "killed the subscriber links: %r" % killed)
            kills += 1
        await asyncio.sleep(0.01)
    check(kills == 3, "three kills")

    for a, c in clients:
        want = stream_ids(a)
        check(len(want) == 320, "%s: 320 in the stream" % a)
        await c.wait_events(320, 20)
    await asyncio.sleep(0.3)

    for a, c in clients:
        want = stream_ids(a)
        check(c.ids == want, "%s: %d events (%d distinct), want %d in order"
              % (c.name, len(c.ids), len(set(c.ids)), len(want)))
        t = c.types()
        check("reset" not in t, "%s: no reset needed: %r" % (c.name, t))
        check({"type": "broker", "state": "down"} in c.control
              and {"type": "broker", "state": "up"} in c.control,
              "%s: told about the broker: %r" % (c.name, t))
        await c.close()
    print("ok")

run(main())
--- python_out
ok
