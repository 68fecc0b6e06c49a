# Many accounts on two workers: random publishes across accounts, and each
# client receives exactly its own account's events (compared with the
# account's stream), never another's.  Redis port 6402.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::Stream;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

Devmon::Stream::setup(port => 6402);

# status, python client, [error], [alert|crit]
plan tests => repeat_each() * (4 * blocks());

Devmon::Stream::defaults(python_timeout => 60);

run_tests();

__DATA__

=== TEST 1: 25 accounts, 3 clients each, 1500 random events: each its own
--- python
import random
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    rnd = random.Random(4)
    accounts = ["t%02d" % i for i in range(25)]
    clients = {}
    for a in accounts:
        clients[a] = []
        for k in range(3):
            c = Collector(await connect(a), "%s/%d" % (a, k))
            clients[a].append(c)
    for a in accounts:
        for c in clients[a]:
            await c.wait_for(lambda c: "snapshot" in c.types(),
                             what="snapshot")

    per = {a: [] for a in accounts}
    for batch in range(15):
        for i in range(100):
            a = rnd.choice(accounts)
            per[a].append(event("dev-%s-%d" % (a, rnd.randrange(5)),
                                rnd.choice(["fra", "ams"])))
        # publish this batch account by account, in interleaved chunks
        for a in accounts:
            pending = per[a][len(stream_ids(a)):]
            if pending:
                publish(a, pending)

    for a in accounts:
        want = stream_ids(a)
        check(len(want) == len(per[a]), "%s: all published" % a)
        for c in clients[a]:
            await c.wait_events(len(want), 20)
    await asyncio.sleep(0.3)

    total = 0
    for a in accounts:
        want = stream_ids(a)
        for c in clients[a]:
            check(c.ids == want, "%s: %d events, stream has %d"
                  % (c.name, len(c.ids), len(want)))
            for raw in c.events:
                check('"d":"dev-%s-' % a in raw, "%s got %s" % (c.name, raw))
            total += len(c.ids)
            await c.close()
    check(total == 3 * 1500, "total %d" % total)
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]
