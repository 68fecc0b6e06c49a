/* Unit tests of event parsing (ngx_devmon_event.c), TAP output. */

/*
 * Copyright (C) devmon authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_devmon_event.h"


#define S(s)  (const unsigned char *) (s), sizeof(s) - 1


static int  test_n;
static int  test_failed;


static void
ok(int cond, const char *name)
{
    test_n++;

    if (!cond) {
        test_failed++;
    }

    printf("%sok %d - %s\n", cond ? "" : "not ", test_n, name);
}


static int
field_is(const unsigned char *p, size_t len, const char *want)
{
    return p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
}


static void
test_ids(void)
{
    ngx_devmon_id_t  a, b;
    unsigned char    buf[NGX_DEVMON_ID_LEN + 1];
    size_t           n;

    ok(ngx_devmon_id_parse(S("1732270000123-0"), &a) == 0
       && a.ms == 1732270000123ULL && a.seq == 0, "id parses");

    ok(ngx_devmon_id_parse(S("18446744073709551615-18446744073709551615"),
                           &a) == 0
       && a.ms == 18446744073709551615ULL, "largest id parses");

    ok(ngx_devmon_id_parse(S("18446744073709551616-0"), &a) != 0,
       "overflowing ms is refused");
    ok(ngx_devmon_id_parse(S("1732270000123"), &a) != 0, "no seq: refused");
    ok(ngx_devmon_id_parse(S("-1"), &a) != 0, "no ms: refused");
    ok(ngx_devmon_id_parse(S("1-"), &a) != 0, "empty seq: refused");
    ok(ngx_devmon_id_parse(S("1-2-3"), &a) != 0, "two dashes: refused");
    ok(ngx_devmon_id_parse(S("1x-2"), &a) != 0, "non-digit: refused");
    ok(ngx_devmon_id_parse(S("+1-2"), &a) != 0, "sign: refused");

    /* as numbers: "9-0" < "10-0", which a string comparison gets wrong */
    (void) ngx_devmon_id_parse(S("9-0"), &a);
    (void) ngx_devmon_id_parse(S("10-0"), &b);
    ok(ngx_devmon_id_cmp(&a, &b) < 0 && ngx_devmon_id_cmp(&b, &a) > 0,
       "ids compare as numbers");

    (void) ngx_devmon_id_parse(S("10-9"), &a);
    (void) ngx_devmon_id_parse(S("10-10"), &b);
    ok(ngx_devmon_id_cmp(&a, &b) < 0, "seq compares as a number");
    ok(ngx_devmon_id_cmp(&b, &b) == 0, "equal ids");

    a.ms = 1732270000123ULL;
    a.seq = 42;
    n = ngx_devmon_id_print(buf, &a);
    ok(n == 16 && memcmp(buf, "1732270000123-42", 16) == 0, "id prints");
}


static void
test_events(void)
{
    ngx_devmon_event_t  ev;

    ok(ngx_devmon_event_parse(S("{\"id\":\"5-1\",\"d\":\"core-sw1\","
                                "\"r\":\"fra\",\"k\":\"icmp\","
                                "\"t\":1732270000123,\"st\":\"up\"}"), &ev)
       == 0, "event parses");
    ok(ev.id.ms == 5 && ev.id.seq == 1, "id found");
    ok(field_is(ev.device, ev.device_len, "core-sw1"), "device found");
    ok(field_is(ev.region, ev.region_len, "fra"), "region found");
    ok(ev.t == 1732270000123ULL, "t found");

    /* nested values and look-alike keys inside them are skipped */
    ok(ngx_devmon_event_parse(S("{ \"x\" : {\"d\":\"no\",\"a\":[1,{\"r\":"
                                "\"no\"}]}, \"s\":\"}\\\"d\\\":\", "
                                "\"d\" : \"yes\" ,\"r\":\"ams\"}"), &ev)
       == 0, "nested event parses");
    ok(field_is(ev.device, ev.device_len, "yes"), "top-level device only");
    ok(field_is(ev.region, ev.region_len, "ams"), "top-level region only");
    ok(ev.id.ms == 0 && ev.t == 0, "absent id and t are zero");

    ok(ngx_devmon_event_parse(S("{\"d\":\"a\\\"b\"}"), &ev) == 0
       && field_is(ev.device, ev.device_len, "a\\\"b"),
       "escaped quote stays raw");

    ok(ngx_devmon_event_parse(S("{}"), &ev) == 0, "empty object parses");
    ok(ngx_devmon_event_parse(S("{\"d\":\"a\""), &ev) != 0, "truncated");
    ok(ngx_devmon_event_parse(S("{\"d\":\"a}"), &ev) != 0,
       "unterminated string");
    ok(ngx_devmon_event_parse(S("[1]"), &ev) != 0, "not an object");
    ok(ngx_devmon_event_parse(S("{\"d\" \"a\"}"), &ev) != 0, "no colon");
    ok(ngx_devmon_event_parse(S("{\"d\":\"a\" \"r\":1}"), &ev) != 0,
       "no comma");
    ok(ngx_devmon_event_parse(S("{\"x\":{\"a\":1}"), &ev) != 0,
       "unclosed object");
    ok(ngx_devmon_event_parse(S("{\"id\":\"x-1\"}"), &ev) != 0, "bad id");
    ok(ngx_devmon_event_parse(S(""), &ev) != 0, "empty input");
}


static void
test_live(void)
{
    ngx_devmon_event_t  ev;

    ok(ngx_devmon_event_parse_live(S("1732270000123456 {\"id\":\"7-0\","
                                     "\"d\":\"a\"}"), &ev) == 0,
       "live message parses");
    ok(field_is(ev.epoch, ev.epoch_len, "1732270000123456"), "epoch");
    ok(ev.json_len == 20 && ev.json[0] == '{', "json is the rest");
    ok(ev.id.ms == 7, "id from the event");

    /* a publisher's own "id" after the stream id must not replace it */
    ok(ngx_devmon_event_parse_live(S("1 {\"id\":\"7-0\",\"d\":\"a\","
                                     "\"id\":\"99999999999999-0\"}"), &ev)
       == 0 && ev.id.ms == 7 && ev.id.seq == 0,
       "the first id wins");
    ok(ngx_devmon_event_parse_live(S("1 {\"id\":5,\"id\":\"7-0\"}"), &ev)
       != 0, "a first id that is not a string is not replaced either");

    ok(ngx_devmon_event_parse_live(S("{\"id\":\"7-0\"}"), &ev) != 0,
       "no epoch: refused");
    ok(ngx_devmon_event_parse_live(S(" {\"id\":\"7-0\"}"), &ev) != 0,
       "empty epoch: refused");
    ok(ngx_devmon_event_parse_live(S("1 {\"d\":\"a\"}"), &ev) != 0,
       "event without id: refused");
    ok(ngx_devmon_event_parse_live(S("123456789012345678901234567890123 "
                                     "{\"id\":\"7-0\"}"), &ev) != 0,
       "overlong epoch: refused");
}


static void
test_since(void)
{
    size_t                len;
    ngx_devmon_id_t       id;
    const unsigned char  *epoch;

    ok(ngx_devmon_since_parse(S("1732270000123456:1732270000123-5"), &epoch,
                              &len, &id) == 0
       && field_is(epoch, len, "1732270000123456") && id.seq == 5,
       "since parses");
    ok(ngx_devmon_since_parse(S(":0-0"), &epoch, &len, &id) == 0 && len == 0,
       "empty epoch is allowed (no history yet)");
    ok(ngx_devmon_since_parse(S("123"), &epoch, &len, &id) != 0,
       "no colon: refused");
    ok(ngx_devmon_since_parse(S("1:2"), &epoch, &len, &id) != 0,
       "bad id: refused");
}


int
main(void)
{
    test_ids();
    test_events();
    test_live();
    test_since();

    printf("1..%d\n", test_n);

    return test_failed ? 1 : 0;
}
