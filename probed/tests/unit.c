/* unit: TAP tests of the pure logic (config, state, backlog, sched, events) */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probed.h"
#include "conf.h"
#include "state.h"
#include "backlog.h"
#include "result.h"
#include "sched.h"
#include "probe.h"
#include "publish.h"


static int  unit_n;
static int  unit_failed;


static void
ok(int cond, const char *name)
{
    unit_n++;

    if (!cond) {
        unit_failed++;
    }

    printf("%sok %d - %s\n", cond ? "" : "not ", unit_n, name);
}


/* sched.c calls this when a check is due; nothing runs here */

void
probe_run(probe_t *p)
{
}


static void test_conf_limits(void);


static void
test_conf(void)
{
    char         err[CONF_ERRLEN];
    conf_t      *c;
    const char  *good =
        "{\"region\":\"fra\",\"defaults\":{\"interval\":10,\"count\":5},\n"
        "\"accounts\":[{\"id\":\"a\",\"devices\":[{\"id\":\"d\","
        "\"address\":\"192.0.2.1\",\"checks\":[{\"kind\":\"icmp\"},"
        "{\"kind\":\"snmp\"},{\"kind\":\"http\",\"timeout\":3}]}]}]}";

    c = conf_parse(good, "x.json", NULL, err);
    ok(c != NULL, "conf: valid text parses");

    if (c != NULL) {
        ok(c->accounts[0].devices[0].checks[0].count == 5,
           "conf: a check inherits defaults");
        ok(c->accounts[0].devices[0].checks[0].interval == 10,
           "conf: interval inherited");
        ok(c->accounts[0].devices[0].checks[2].timeout == 3,
           "conf: a check overrides defaults");
        ok(c->accounts[0].devices[0].checks[1].port == 161,
           "conf: snmp port defaults to 161");
        ok(strcmp(c->accounts[0].devices[0].checks[2].url,
                  "http://192.0.2.1/") == 0, "conf: http url from address");
        ok(c->redis.port == 6379 && c->redis.backlog == 10000,
           "conf: redis table defaults");
        conf_free(c);
    }

    c = conf_parse("{\"region\":\"fra\",\n\"accounts\":[{\"id\":\"a\",\n"
                   "\"devices\":[{\"id\":\"d\",\"address\":\"x\",\n"
                   "\"checks\":[{\"kind\":\"tcp\",\n\"port\":70000}]}]}]}",
                   "y.json", NULL, err);
    ok(c == NULL && strstr(err, "y.json:5: accounts[0].devices[0].checks[0]"
                                ".port: 70000 is out of range") != NULL,
       "conf: range error with line and path");

    c = conf_parse("{\"region\":\"f r\",\"accounts\":[]}", "z", NULL, err);
    ok(c == NULL && strstr(err, "region") != NULL,
       "conf: identifiers are checked");

    c = conf_parse("{\"accounts\":[]}", "z", "ams", err);
    ok(c != NULL && strcmp(c->region, "ams") == 0,
       "conf: region override");
    conf_free(c);

    c = conf_parse("{\"region\":\"r\",\"defaults\":{\"kind\":\"icmp\"},"
                   "\"accounts\":[]}", "z", NULL, err);
    ok(c == NULL && strstr(err, "not allowed in \"defaults\"") != NULL,
       "conf: kind is not a default");

    test_conf_limits();
}


/* a device with one check: the JSON text of that check is spliced in */

static conf_t *
conf_one(const char *top, const char *address, const char *check, char *err)
{
    char  text[4096];

    snprintf(text, sizeof(text),
             "{\"region\":\"r\"%s%s,\"accounts\":[{\"id\":\"a\",\"devices\":"
             "[{\"id\":\"d\",\"address\":\"%s\",\"checks\":[%s]}]}]}",
             top[0] ? "," : "", top, address, check);

    return conf_parse(text, "l.json", NULL, err);
}


static void
test_conf_limits(void)
{
    int          i, n;
    char         err[CONF_ERRLEN], name[300], list[1024];
    conf_t      *c;
    const char  *icmp = "{\"kind\":\"icmp\"}";

    c = conf_one("\"redis\":{\"host\":\"redis.example\"}", "127.0.0.1", icmp,
                 err);
    ok(c == NULL && strstr(err, "redis.host: \"redis.example\" is not an IP")
                    != NULL, "conf: redis.host must be an address");

    c = conf_one("\"redis\":{\"host\":\"::1\"}", "127.0.0.1", icmp, err);
    ok(c != NULL, "conf: redis.host may be IPv6");
    conf_free(c);

    c = conf_one("\"redis\":{\"host\":\"r.example\",\"socket\":\"/run/r\"}",
                 "127.0.0.1", icmp, err);
    ok(c != NULL, "conf: redis.host is not used with redis.socket");
    conf_free(c);

    c = conf_one("\"region_check\":[\"127.0.0.1:80\",\"[::1]:443\"]",
                 "127.0.0.1", icmp, err);
    ok(c != NULL && c->nregion_check == 2, "conf: region_check host:port");
    conf_free(c);

    c = conf_one("\"region_check\":[\"127.0.0.1:80\",\"gw.example:80\"]",
                 "127.0.0.1", icmp, err);
    ok(c == NULL && strstr(err, "region_check[1]: \"gw.example:80\" is not "
                                "a numeric host:port") != NULL,
       "conf: region_check names are refused");

    c = conf_one("\"region_check\":[\"127.0.0.1\"]", "127.0.0.1", icmp, err);
    ok(c == NULL && strstr(err, "region_check[0]") != NULL,
       "conf: region_check needs a port");

    memset(name, 'a', 254);
    name[254] = '\0';
    c = conf_one("", name, icmp, err);
    ok(c == NULL && strstr(err, "address: longer than 253") != NULL,
       "conf: address longer than 253 characters is refused");

    name[253] = '\0';
    c = conf_one("", name, icmp, err);
    ok(c != NULL, "conf: a 253 character address is fine");
    conf_free(c);

    n = snprintf(list, sizeof(list), "{\"kind\":\"snmp\",\"interfaces\":[");
    for (i = 0; i < 33; i++) {
        n += snprintf(list + n, sizeof(list) - n, "%s\"if%d\"",
                      i ? "," : "", i);
    }
    snprintf(list + n, sizeof(list) - n, "]}");
    c = conf_one("", "127.0.0.1", list, err);
    ok(c == NULL && strstr(err, "interfaces: 33 interfaces: at most 32")
                    != NULL, "conf: more than 32 interfaces are refused");

    c = conf_one("", "127.0.0.1",
                 "{\"kind\":\"icmp\",\"count\":5,\"timeout\":2,"
                 "\"interval\":10}", err);
    ok(c == NULL && strstr(err, "count * timeout (5 x 2 s) must be shorter "
                                "than interval (10 s)") != NULL,
       "conf: an ICMP run as long as its interval is refused");

    c = conf_one("\"defaults\":{\"interval\":2,\"timeout\":1}",
                 "127.0.0.1", "{\"kind\":\"snmp\",\"retries\":1}", err);
    ok(c == NULL && strstr(err, "checks[0]: timeout * (retries + 1)") != NULL,
       "conf: an SNMP run as long as its interval is refused (defaults)");

    c = conf_one("", "127.0.0.1",
                 "{\"kind\":\"snmp\",\"retries\":1,\"timeout\":0.9,"
                 "\"interval\":2}", err);
    ok(c != NULL, "conf: an SNMP run shorter than its interval is fine");
    conf_free(c);
}


static void
test_state(void)
{
    int              i, changed;
    state_check_t    c;
    state_dev_t      d;

    memset(&c, 0, sizeof(c));

    ok(state_check_feed(&c, ST_UP, 3, 2) == 1 && c.st == ST_UP,
       "state: first result sets the state");
    ok(state_check_feed(&c, ST_DOWN, 3, 2) == 0
       && state_check_feed(&c, ST_DOWN, 3, 2) == 0 && c.st == ST_UP,
       "state: two failures are not enough");
    ok(state_check_feed(&c, ST_DOWN, 3, 2) == 1 && c.st == ST_DOWN,
       "state: the third failure goes down");
    ok(state_check_feed(&c, ST_UP, 3, 2) == 0 && c.st == ST_DOWN,
       "state: one success does not come back");
    ok(state_check_feed(&c, ST_UP, 3, 2) == 1 && c.st == ST_UP,
       "state: the second success comes back");
    state_check_feed(&c, ST_DOWN, 3, 2);
    state_check_feed(&c, ST_UP, 3, 2);
    state_check_feed(&c, ST_DOWN, 3, 2);
    ok(c.st == ST_UP, "state: alternating results do not flip");
    ok(state_check_feed(&c, ST_UNKNOWN, 3, 2) == 0 && c.st == ST_UP,
       "state: unknown results are ignored");

    /* from up, down and degraded alternate: never up, so it must move */
    memset(&c, 0, sizeof(c));
    state_check_feed(&c, ST_UP, 3, 2);
    changed = 0;

    for (i = 0; i < 6 && c.st == ST_UP; i++) {
        changed |= state_check_feed(&c, i % 2 ? ST_DEGRADED : ST_DOWN, 3, 2);
    }

    ok(changed && c.st == ST_DEGRADED && i == 2,
       "state: down/degraded/down leaves up for the best of the run");

    for (i = 0; i < 3; i++) {
        state_check_feed(&c, ST_DOWN, 3, 2);
    }

    ok(c.st == ST_DOWN, "state: then down_after downs go down");

    changed = 0;
    for (i = 0; i < 2; i++) {
        changed |= state_check_feed(&c, i % 2 ? ST_DEGRADED : ST_UP, 3, 2);
    }

    ok(changed && c.st == ST_UP,
       "state: up/degraded after down leaves down for up");

    memset(&c, 0, sizeof(c));
    state_check_feed(&c, ST_UP, 3, 2);
    state_check_feed(&c, ST_DOWN, 3, 2);
    state_check_feed(&c, ST_DOWN, 3, 2);
    state_check_feed(&c, ST_UP, 3, 2);
    state_check_feed(&c, ST_DOWN, 3, 2);
    state_check_feed(&c, ST_DOWN, 3, 2);
    ok(c.st == ST_UP, "state: a result equal to the state resets the run");

    memset(&d, 0, sizeof(d));
    changed = 0;

    for (i = 0; i < 10; i++) {
        changed |= state_dev_update(&d, i % 2 ? ST_DOWN : ST_UP,
                                    1000 + i * 1000, 5, 600);
    }

    ok((changed & STATE_FLAP_START) && d.flapping,
       "state: frequent changes start flapping");
    ok(state_dev_update(&d, d.st, 1000 + 3600 * 1000, 5, 600)
       & STATE_FLAP_END, "state: an hour of calm ends flapping");
}


typedef struct {
    backlog_item_t  link;
    int             n;
} item_t;


static void
test_backlog(void)
{
    int              i, order;
    item_t           it[10];
    backlog_t        q, inflight;
    backlog_item_t  *v;

    backlog_init(&q, 4);

    for (i = 0; i < 6; i++) {
        memset(&it[i], 0, sizeof(item_t));
        it[i].n = i;
        it[i].link.prio = (i == 0 || i == 2);
        backlog_push(&q, &it[i].link);
    }

    v = backlog_victim(&q);
    ok(v == &it[1].link, "backlog: the oldest plain result goes first");
    v = backlog_victim(&q);
    ok(v == &it[3].link, "backlog: then the next plain one, not a state");
    ok(backlog_victim(&q) == NULL, "backlog: within bounds again");

    backlog_init(&inflight, 100);
    backlog_push(&inflight, backlog_pop(&q));
    backlog_push(&inflight, backlog_pop(&q));
    backlog_splice_head(&q, &inflight);

    order = 1;
    for (i = 0; (v = backlog_pop(&q)) != NULL; i++) {
        static const int  want[] = { 0, 2, 4, 5 };
        if (((item_t *) v)->n != want[i]) {
            order = 0;
        }
    }

    ok(order && i == 4, "backlog: in-flight items go back in order");

    backlog_init(&q, 2);
    for (i = 0; i < 3; i++) {
        memset(&it[i], 0, sizeof(item_t));
        it[i].n = i;
        it[i].link.prio = 1;
        backlog_push(&q, &it[i].link);
    }

    ok(backlog_victim(&q) == &it[0].link && q.dropped_prio == 1,
       "backlog: only states left: the oldest state goes");
}


static void
test_sched(void)
{
    int      i, distinct;
    int64_t  iv, p, prev;

    iv = 30 * 1000000LL;
    distinct = 1;
    prev = -1;

    for (i = 0; i < 1000; i++) {
        p = sched_phase(i, 1000, iv);
        if (p <= prev || p >= iv) {
            distinct = 0;
        }
        prev = p;
    }

    ok(distinct, "sched: 1000 phases are distinct and inside the interval");
    ok(sched_phase(500, 1000, iv) == iv / 2, "sched: evenly spread");
    ok(sched_next_due(100, 0, 30, 50) == 130,
       "sched: next due keeps the phase");
    ok(sched_next_due(10, 0, 30, 50) == 30, "sched: a future phase as is");
    ok(sched_next_due(130, 0, 30, 50) == 130, "sched: exactly due now");
}


static void
test_result(void)
{
    char      buf[1024], json[256];
    size_t    n, len;
    result_t  r;

    result_init(&r, KIND_ICMP);
    r.st = ST_UP;
    r.t = 1732270000123LL;
    r.rt = 1.8;
    r.pl = 0;

    n = result_encode(&r, "core-sw1", "fra", buf, sizeof(buf));
    ok(strcmp(buf, "{\"d\":\"core-sw1\",\"r\":\"fra\",\"k\":\"icmp\","
                   "\"st\":\"up\",\"rt\":1.8}") == 0,
       "event: compact ICMP encoding, no \"t\"");

    /*
     * The wire budget: a realistic ICMP result with jitter, as a client
     * gets it (publish.lua puts "id" first; a 13-digit ms id), in a
     * WebSocket frame with its 2-byte header.
     */

    r.rt = 23.4;
    r.jt = 1.2;
    n = result_encode(&r, "core-sw1", "fra", buf, sizeof(buf));
    len = strlen("\"id\":\"1795393528897-0\",") + n + 2;
    ok(strstr(buf, "\"rt\":23.4,\"jt\":1.2}") != NULL && len < 100,
       "event: an ICMP event with jitter is under 100 bytes framed");
    printf("# framed ICMP event with jitter: %zu bytes\n", len);

    r.rt = 0.004;
    r.jt = 0.004;
    result_encode(&r, "core-sw1", "fra", buf, sizeof(buf));
    ok(strstr(buf, "\"rt\":0.01}") != NULL,
       "event: loopback rt below 0.005 ms is 0.01, jitter that rounds to 0 "
       "left out");

    r.pl = 33.3;
    r.jt = 0.4;
    r.st = ST_DEGRADED;
    r.er = "loss";
    result_encode(&r, "a\"b", "fra", buf, sizeof(buf));
    ok(strstr(buf, "\"d\":\"a\\\"b\"") != NULL, "event: strings escaped");
    ok(strstr(buf, "\"pl\":33,\"jt\":0.4") != NULL
       && strstr(buf, "\"er\":\"loss\"}") != NULL,
       "event: loss, jitter and reason");

    json_put_ms(buf, sizeof(buf), 123.456);
    ok(strcmp(buf, "123") == 0, "event: ms over 100 without decimals");
    json_put_ms(buf, sizeof(buf), 0.049);
    ok(strcmp(buf, "0.05") == 0, "event: sub-ms with two decimals");
    json_put_ms(buf, sizeof(buf), 0);
    ok(strcmp(buf, "0") == 0, "event: exactly 0 ms stays 0");

    /* a late event: "t" goes in first, the rest is kept byte for byte */
    strcpy(json, "{\"d\":\"x\",\"st\":\"up\"}");
    len = publish_stamp(json, strlen(json), 1732270000123LL);
    ok(len == strlen(json)
       && strcmp(json, "{\"t\":1732270000123,\"d\":\"x\",\"st\":\"up\"}")
          == 0,
       "publish: a late event gets \"t\" as its first member");

    strcpy(json, "{}");
    len = publish_stamp(json, 2, 5);
    ok(len == 7 && strcmp(json, "{\"t\":5}") == 0,
       "publish: \"t\" in an empty object");
}


int
main(void)
{
    test_conf();
    test_state();
    test_backlog();
    test_sched();
    test_result();

    printf("1..%d\n", unit_n);

    return unit_failed ? 1 : 0;
}
