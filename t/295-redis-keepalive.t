# A half-open subscriber link: Redis is stopped (SIGSTOP), so the socket
# stays open and silent.  The worker's keepalive probe on the subscriber
# gets no confirmation within devmon_redis_command_timeout: the link is
# dropped, clients are told "broker down"; reconnects to the stopped
# server do not count as up (the server must answer PING); after SIGCONT
# clients are told "up" and get what was published meanwhile, once, in
# order.  Redis port 6411.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::Stream;

repeat_each(1);
no_shuffle();
master_on();
workers(1);

Devmon::Stream::setup(port => 6411);

# status, python client, [alert|crit], error_log
plan tests => repeat_each() * (4 * blocks());

Devmon::Stream::defaults(python_timeout => 60, http_extra => <<'_EOH_');
    devmon_redis_keepalive 300ms;
    devmon_redis_command_timeout 700ms;
    devmon_redis_connect_timeout 700ms;
    devmon_redis_reconnect 50ms 300ms;
_EOH_

run_tests();

__DATA__

=== TEST 1: a stopped Redis is noticed by the keepalive; recovery backfills
--- python
import signal
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    info = redis("INFO", "server")
    pid = int(re.search(r"process_id:(\d+)", info).group(1))

    ids = publish("ka", [event("a", t=1)])
    c = Collector(await connect("ka"), "C")
    await c.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")

    # probes every 300 ms on a healthy link: no flapping
    await asyncio.sleep(1.5)
    check(c.types() == ["hello", "snapshot"], "quiet: %r" % c.types())

    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        await c.wait_for(lambda c: "broker" in c.types(), timeout=8,
                         what="broker down")
        took = time.time() - t0
        check(c.control[-1] == {"type": "broker", "state": "down"},
              "down: %r" % c.control[-1])
        check(took < 6, "noticed in %.1fs" % took)

        # reconnects reach the kernel's backlog, not Redis: still down
        await asyncio.sleep(2)
        check(c.types().count("broker") == 1, "no 'up' while stopped: %r"
              % c.types())
    finally:
        os.kill(pid, signal.SIGCONT)

    missed = publish("ka", [event("a", t=2), event("a", t=3)])
    await c.wait_for(lambda c: {"type": "broker", "state": "up"}
                     in c.control, timeout=15, what="broker up")
    await c.wait_for(lambda c: missed[-1][0] in c.ids, what="backfill")
    check(c.ids == [i for i, _ in missed], "each once, in order: %r"
          % c.ids)
    check("reset" not in c.types(), "no reset: %r" % c.types())

    live = publish("ka", [event("a", t=4)])
    await c.wait_for(lambda c: live[0][0] in c.ids, what="live")
    await c.close()
    print("ok")

import re
run(main())
--- python_out
ok
--- error_log
devmon redis subscriber: command timed out
