/* Event parsing without nginx: stream ids, live messages, resume points. */

/*
 * Copyright (C) devmon authors
 */


#include <stdio.h>
#include <string.h>

#include "ngx_devmon_event.h"


static const unsigned char *ngx_devmon_json_ws(const unsigned char *p,
    const unsigned char *end);
static const unsigned char *ngx_devmon_json_string(const unsigned char *p,
    const unsigned char *end);
static const unsigned char *ngx_devmon_json_value(const unsigned char *p,
    const unsigned char *end);
static int ngx_devmon_u64(const unsigned char *p, const unsigned char *end,
    uint64_t *v);


int
ngx_devmon_id_parse(const unsigned char *p, size_t len, ngx_devmon_id_t *id)
{
    const unsigned char  *end, *dash;

    end = p + len;

    dash = memchr(p, '-', len);
    if (dash == NULL) {
        return -1;
    }

    if (ngx_devmon_u64(p, dash, &id->ms) != 0
        || ngx_devmon_u64(dash + 1, end, &id->seq) != 0)
    {
        return -1;
    }

    return 0;
}


int
ngx_devmon_id_cmp(const ngx_devmon_id_t *a, const ngx_devmon_id_t *b)
{
    if (a->ms != b->ms) {
        return a->ms < b->ms ? -1 : 1;
    }

    if (a->seq != b->seq) {
        return a->seq < b->seq ? -1 : 1;
    }

    return 0;
}


size_t
ngx_devmon_id_print(unsigned char *buf, const ngx_devmon_id_t *id)
{
    int  n;

    n = snprintf((char *) buf, NGX_DEVMON_ID_LEN + 1, "%llu-%llu",
                 (unsigned long long) id->ms, (unsigned long long) id->seq);

    return n < 0 ? 0 : (size_t) n;
}


/*
 * "<epoch> <event-json-with-id>", what publish.lua publishes; the event
 * must carry its id, which is the client's resume point.
 */

int
ngx_devmon_event_parse_live(const unsigned char *p, size_t len,
    ngx_devmon_event_t *ev)
{
    const unsigned char  *sp;

    sp = memchr(p, ' ', len);
    if (sp == NULL || sp == p || (size_t) (sp - p) > NGX_DEVMON_EPOCH_LEN) {
        return -1;
    }

    if (ngx_devmon_event_parse(sp + 1, len - (sp + 1 - p), ev) != 0) {
        return -1;
    }

    if (ev->id.ms == 0 && ev->id.seq == 0) {
        return -1;
    }

    ev->epoch = p;
    ev->epoch_len = sp - p;

    return 0;
}


/*
 * One pass over the top level of a JSON object, picking "id", "d", "r"
 * and "t"; nested values are skipped, nothing is copied or unescaped.
 * Only the first "id" counts: the module and publish.lua put the stream
 * id first, and a publisher's own "id" further on must not replace it.
 */

int
ngx_devmon_event_parse(const unsigned char *p, size_t len,
    ngx_devmon_event_t *ev)
{
    int                   have_id;
    size_t                klen;
    const unsigned char  *end, *key, *v, *vend;

    memset(ev, 0, sizeof(ngx_devmon_event_t));

    end = p + len;

    ev->json = p;
    ev->json_len = len;

    have_id = 0;

    p = ngx_devmon_json_ws(p, end);
    if (p == end || *p != '{') {
        return -1;
    }

    p = ngx_devmon_json_ws(p + 1, end);
    if (p < end && *p == '}') {
        return 0;
    }

    for ( ;; ) {
        if (p == end || *p != '"') {
            return -1;
        }

        key = p + 1;
        p = ngx_devmon_json_string(p, end);
        if (p == NULL) {
            return -1;
        }

        klen = p - 1 - key;

        p = ngx_devmon_json_ws(p, end);
        if (p == end || *p != ':') {
            return -1;
        }

        v = ngx_devmon_json_ws(p + 1, end);
        vend = ngx_devmon_json_value(v, end);
        if (vend == NULL) {
            return -1;
        }

        if (klen == 1 && *v == '"') {

            if (key[0] == 'd') {
                ev->device = v + 1;
                ev->device_len = vend - v - 2;

            } else if (key[0] == 'r') {
                ev->region = v + 1;
                ev->region_len = vend - v - 2;
            }

        } else if (klen == 1 && key[0] == 't' && *v >= '0' && *v <= '9') {
            for (ev->t = 0; v < vend && *v >= '0' && *v <= '9'; v++) {
                ev->t = ev->t * 10 + (*v - '0');
            }

        } else if (klen == 2 && key[0] == 'i' && key[1] == 'd' && !have_id) {
            have_id = 1;

            if (*v == '"'
                && ngx_devmon_id_parse(v + 1, vend - v - 2, &ev->id) != 0)
            {
                return -1;
            }
        }

        p = ngx_devmon_json_ws(vend, end);
        if (p == end) {
            return -1;
        }

        if (*p == '}') {
            return 0;
        }

        if (*p != ',') {
            return -1;
        }

        p = ngx_devmon_json_ws(p + 1, end);
    }
}


/* "since=epoch:id" */

int
ngx_devmon_since_parse(const unsigned char *p, size_t len,
    const unsigned char **epoch, size_t *epoch_len, ngx_devmon_id_t *id)
{
    const unsigned char  *colon;

    colon = memchr(p, ':', len);
    if (colon == NULL || (size_t) (colon - p) > NGX_DEVMON_EPOCH_LEN) {
        return -1;
    }

    *epoch = p;
    *epoch_len = colon - p;

    return ngx_devmon_id_parse(colon + 1, len - (colon + 1 - p), id);
}


static const unsigned char *
ngx_devmon_json_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end
           && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    {
        p++;
    }

    return p;
}


/* p points at the opening quote; returns the byte after the closing one */

static const unsigned char *
ngx_devmon_json_string(const unsigned char *p, const unsigned char *end)
{
    for (p++; p < end; p++) {

        if (*p == '\\') {
            p++;
            continue;
        }

        if (*p == '"') {
            return p + 1;
        }
    }

    return NULL;
}


static const unsigned char *
ngx_devmon_json_value(const unsigned char *p, const unsigned char *end)
{
    size_t  depth;

    if (p == end) {
        return NULL;
    }

    if (*p == '"') {
        return ngx_devmon_json_string(p, end);
    }

    if (*p != '{' && *p != '[') {

        while (p < end && *p != ',' && *p != '}' && *p != ']'
               && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
        {
            p++;
        }

        return p;
    }

    /* a nested object or array: only its end matters */

    depth = 0;

    while (p < end) {

        switch (*p) {

        case '"':
            p = ngx_devmon_json_string(p, end);
            if (p == NULL) {
                return NULL;
            }

            continue;

        case '{':
        case '[':
            depth++;
            break;

        case '}':
        case ']':
            if (--depth == 0) {
                return p + 1;
            }

            break;
        }

        p++;
    }

    return NULL;
}


static int
ngx_devmon_u64(const unsigned char *p, const unsigned char *end, uint64_t *v)
{
    uint64_t  n;

    if (p == end || end - p > 20) {
        return -1;
    }

    for (n = 0; p < end; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }

        if (n > (UINT64_MAX - (*p - '0')) / 10) {
            return -1;
        }

        n = n * 10 + (*p - '0');
    }

    *v = n;

    return 0;
}
