/* result: one probe result and its compact JSON event encoding */

#include <stdio.h>
#include <string.h>
#include <math.h>

#include "probed.h"
#include "result.h"


#define PUT(...)                                                              \
    do {                                                                      \
        n += snprintf(buf + n, n < size ? size - n : 0, __VA_ARGS__);         \
    } while (0)

#define PUT_STR(s)                                                            \
    do {                                                                      \
        n += json_put_string(buf + n, n < size ? size - n : 0, s);            \
    } while (0)

#define PUT_MS(v)                                                             \
    do {                                                                      \
        n += json_put_ms(buf + n, n < size ? size - n : 0, v);                \
    } while (0)


void
result_init(result_t *r, int kind)
{
    memset(r, 0, sizeof(*r));

    r->kind = kind;
    r->st = ST_UNKNOWN;
    r->rt = RESULT_NONE;
    r->pl = RESULT_NONE;
    r->jt = RESULT_NONE;
    r->dn = RESULT_NONE;
    r->cn = RESULT_NONE;
    r->tl = RESULT_NONE;
    r->ft = RESULT_NONE;
    r->ut = -1;
}


/* appends a JSON string literal; returns the length it needs */

size_t
json_put_string(char *buf, size_t size, const char *s)
{
    size_t          n;
    unsigned char   c;

    n = 0;

    PUT("\"");

    for ( /* void */ ; *s; s++) {
        c = (unsigned char) *s;

        if (c == '"' || c == '\\') {
            PUT("\\%c", c);

        } else if (c < 0x20) {
            PUT("\\u%04x", c);

        } else {
            PUT("%c", c);
        }
    }

    PUT("\"");

    return n;
}


/*
 * Milliseconds with as few characters as the precision deserves: two
 * decimals below 1 ms, one below 100 ms, none above; no trailing zeros.
 * A measured time never reads as 0: below 0.005 ms (loopback) it is
 * written 0.01, the finest step the format has.
 */

size_t
json_put_ms(char *buf, size_t size, double v)
{
    int     len;
    char    tmp[32];

    if (v < 0 || !isfinite(v)) {
        v = 0;

    } else if (v > 0 && v < 0.005) {
        v = 0.01;
    }

    len = snprintf(tmp, sizeof(tmp), v < 1 ? "%.2f" : v < 100 ? "%.1f"
                                                               : "%.0f", v);

    if (strchr(tmp, '.') != NULL) {
        while (tmp[len - 1] == '0') {
            tmp[--len] = '\0';
        }
        if (tmp[len - 1] == '.') {
            tmp[--len] = '\0';
        }
    }

    return snprintf(buf, size, "%s", tmp);
}


/*
 * {"d":..,"r":..,"k":..,"st":..,...}: members that carry nothing (zero
 * loss, jitter under 0.005 ms, absent phases) are left out to keep events
 * small; a reader takes a missing "pl" or "jt" as 0.  No "t": an event's
 * time is its stream id's, unless publish_send() adds "t" to a late one.
 */

size_t
result_encode(const result_t *r, const char *device, const char *region,
    char *buf, size_t size)
{
    size_t  n;

    n = 0;

    PUT("{\"d\":");
    PUT_STR(device);
    PUT(",\"r\":");
    PUT_STR(region);
    PUT(",\"k\":\"%s\",\"st\":\"%s\"", probe_kind_names[r->kind],
        probe_st_names[r->st]);

    if (r->rt >= 0) {
        PUT(",\"rt\":");
        PUT_MS(r->rt);
    }

    if (r->pl > 0) {
        PUT(",\"pl\":%.0f", r->pl);
    }

    if (r->jt >= 0.005) {
        PUT(",\"jt\":");
        PUT_MS(r->jt);
    }

    if (r->sc) {
        PUT(",\"sc\":%d", r->sc);
    }

    if (r->dn >= 0) {
        PUT(",\"dn\":");
        PUT_MS(r->dn);
    }

    if (r->cn >= 0) {
        PUT(",\"cn\":");
        PUT_MS(r->cn);
    }

    if (r->tl >= 0) {
        PUT(",\"tl\":");
        PUT_MS(r->tl);
    }

    if (r->ft >= 0) {
        PUT(",\"ft\":");
        PUT_MS(r->ft);
    }

    if (r->has_cx) {
        PUT(",\"cx\":%d", r->cx);
    }

    if (r->ut >= 0) {
        PUT(",\"ut\":%lld", (long long) r->ut);
    }

    if (r->rb) {
        PUT(",\"rb\":1");
    }

    if (r->extra[0]) {
        PUT(",%s", r->extra);
    }

    if (r->er != NULL) {
        PUT(",\"er\":\"%s\"", r->er);
    }

    PUT("}");

    return n;
}


size_t
result_encode_state(const result_state_t *s, char *buf, size_t size)
{
    size_t  n;

    n = 0;

    PUT("{\"type\":\"state\",\"d\":");
    PUT_STR(s->device);
    PUT(",\"r\":");
    PUT_STR(s->region);
    PUT(",\"st\":\"%s\",\"was\":\"%s\"", probe_st_names[s->st],
        probe_st_names[s->was]);

    if (s->er != NULL) {
        PUT(",\"er\":\"%s\"", s->er);
    }

    if (s->flapping) {
        PUT(",\"fl\":1");
    }

    PUT("}");

    return n;
}


size_t
result_encode_heartbeat(const char *region, int64_t interval_ms, int ok,
    char *buf, size_t size)
{
    size_t  n;

    n = 0;

    PUT("{\"type\":\"region\",\"r\":");
    PUT_STR(region);
    PUT(",\"iv\":%lld", (long long) interval_ms);

    /* the region's own check (region_check); -1: none configured */
    if (ok >= 0) {
        PUT(",\"ok\":%s", ok ? "true" : "false");
    }

    PUT("}");

    return n;
}
