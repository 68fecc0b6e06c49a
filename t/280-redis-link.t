# The worker's Redis links: a unix socket with AUTH and SELECT; a wrong
# password (503, logged); a command that gets no answer (CLIENT PAUSE:
# the link is dropped after devmon_redis_command_timeout and comes back);
# a server that never answers the handshake (devmon_redis_connect_timeout).
# Redis on port 6408 and on a unix socket; a silent listener on 6409.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::Stream;
use IO::Socket::INET;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

Devmon::Stream::setup(port => 6408);

my $unix = start_redis(unix => 1);
redis_cmd($unix, 'CONFIG', 'SET', 'requirepass', 'sekret-pw');
$ENV{DEVMON_UNIX} = $unix->{socket};

# accepts connections (the kernel does) and never answers
our $Silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                    LocalPort => 6409, Listen => 128,
                                    ReuseAddr => 1)
    or die "listen 6409: $!";

# status, python client, [alert|crit]; one error_log or no_error_log
# line in each block
plan tests => repeat_each() * (4 * blocks());

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $block->http_config . <<'_EOC_');
    devmon_jwt_key hs256 $TEST_NGINX_DEVMON_KEYS/hs256.key;
    devmon_user_limit 0;
_EOC_

    $block->set_value('config', <<'_EOC_')
    location = /ws {
        devmon_ws;
    }

    location = /snapshot {
        devmon_snapshot;
    }
_EOC_
        unless defined $block->config;

    $block->set_value('python_timeout', 30)
        unless defined $block->python_timeout;
});

run_tests();

__DATA__

=== TEST 1: unix socket, AUTH and SELECT: the stream of database 3
--- http_config
    devmon_redis unix:$TEST_NGINX_REDIS_SOCKET;
    devmon_redis_password sekret-pw;
    devmon_redis_db 3;
--- python
import os
os.environ["DEVMON_REDIS_SOCKET"] = os.environ["DEVMON_UNIX"]
os.environ["DEVMON_REDIS_PASSWORD"] = "sekret-pw"
os.environ["DEVMON_REDIS_DB"] = "3"
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    publish("u", [event("a", t=1)])
    c = Collector(await connect("u"), "unix")
    await c.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")
    check(len(c.control[1]["state"]) == 1, "snapshot from db 3")
    ids = publish("u", [event("b", t=2)])
    await c.wait_events(1)
    check(c.ids == [ids[0][0]], "live from db 3")
    check(redis("DBSIZE") > 0, "db 3 holds it")
    await c.close()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]



=== TEST 2: a wrong password: handshakes get 503, the reason is logged
--- http_config
    devmon_redis unix:$TEST_NGINX_REDIS_SOCKET;
    devmon_redis_password wrong-pw;
--- python
from devmon_stream import *

async def main():
    await asyncio.sleep(0.3)
    for i in range(4):
        try:
            ws = await connect("u")
            check(False, "connected without Redis")
        except websockets.InvalidStatusCode as e:
            check(e.status_code == 503, "503: %r" % e)
    print("ok")

run(main())
--- python_out
ok
--- error_log
AUTH failed



=== TEST 3: no reply within devmon_redis_command_timeout: 503, then recovery
--- http_config
    devmon_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    devmon_redis_command_timeout 300ms;
    devmon_redis_reconnect 50ms 200ms;
--- python
import http.client
from devmon_stream import *

def get(path):
    host, port = HTTP_BASE.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.request("GET", path, headers=auth("p"))
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, body

async def main():
    redis("FLUSHALL")
    publish("p", [event("a", t=1)])
    check(get("/snapshot")[0] == 200, "before the pause")

    redis("CLIENT", "PAUSE", 2000, "ALL")
    t0 = time.time()
    status, body = get("/snapshot")
    took = time.time() - t0
    check(status == 503, "paused: %s %s" % (status, body))
    check(0.25 < took < 1.5, "failed after the timeout: %.2fs" % took)

    await asyncio.sleep(2.2 - (time.time() - t0))
    for _ in range(50):
        status, body = get("/snapshot")
        if status == 200:
            break
        await asyncio.sleep(0.1)
    check(status == 200 and '"d":"a"' in body, "after: %s %s"
          % (status, body))
    print("ok")

run(main())
--- python_out
ok
--- error_log
command timed out



=== TEST 4: a server that never answers AUTH: connect timeout, 503
--- http_config
    devmon_redis 127.0.0.1:6409;
    devmon_redis_password x;
    devmon_redis_connect_timeout 300ms;
--- python
from devmon_stream import *

async def main():
    await asyncio.sleep(0.6)
    for i in range(4):
        try:
            await connect("s")
            check(False, "connected without Redis")
        except websockets.InvalidStatusCode as e:
            check(e.status_code == 503, "503: %r" % e)
    print("ok")

run(main())
--- python_out
ok
--- error_log
connect timed out
