/* Device and region filters of a client: sorted sets, set by messages. */

/*
 * Copyright (C) devmon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_devmon_filter.h"


static ngx_int_t ngx_http_devmon_filter_find(ngx_http_devmon_filter_t *f,
    ngx_uint_t hash, u_char *name, size_t len, ngx_uint_t *at);


/* an empty name (no "d" or no "r" in the event) passes any filter */

ngx_uint_t
ngx_http_devmon_filter_match(ngx_http_devmon_filter_t *f, ngx_uint_t hash,
    ngx_str_t *name)
{
    ngx_uint_t  at;

    if (!f->some || name->len == 0) {
        return 1;
    }

    return ngx_http_devmon_filter_find(f, hash, name->data, name->len, &at)
           == NGX_OK;
}


/*
 * NGX_OK: applied; NGX_DECLINED: not a valid change (nothing changed
 * partly: the list is checked first); NGX_ERROR: no memory.
 */

ngx_int_t
ngx_http_devmon_filter_update(ngx_http_devmon_filter_t *f, json_t *list,
    ngx_uint_t add, ngx_log_t *log)
{
    u_char                        *name;
    size_t                         i, n, len;
    json_t                        *item;
    ngx_uint_t                     at, hash, all;
    ngx_http_devmon_filter_elt_t  *elts;

    n = json_array_size(list);
    all = 0;

    for (i = 0; i < n; i++) {
        item = json_array_get(list, i);

        if (!json_is_string(item) || json_string_length(item) == 0
            || json_string_length(item) > 255)
        {
            return NGX_DECLINED;
        }

        if (json_string_length(item) == 1
            && json_string_value(item)[0] == '*')
        {
            all = 1;
        }
    }

    if (all) {
        /* "*": subscribe to every one, or unsubscribe from every one */
        ngx_http_devmon_filter_free(f);
        f->some = add ? 0 : 1;
        return NGX_OK;
    }

    if (!add && !f->some) {
        return NGX_DECLINED;
    }

    if (add && f->nelts + n > NGX_HTTP_DEVMON_FILTER_MAX) {
        return NGX_DECLINED;
    }

    if (add && !f->some) {
        ngx_http_devmon_filter_free(f);
        f->some = 1;
    }

    for (i = 0; i < n; i++) {
        item = json_array_get(list, i);
        name = (u_char *) json_string_value(item);
        len = json_string_length(item);
        hash = ngx_hash_key(name, len);

        if (ngx_http_devmon_filter_find(f, hash, name, len, &at) == NGX_OK) {

            if (!add) {
                ngx_free(f->elts[at].name.data);
                ngx_memmove(&f->elts[at], &f->elts[at + 1],
                            (f->nelts - at - 1)
                            * sizeof(ngx_http_devmon_filter_elt_t));
                f->nelts--;
            }

            continue;
        }

        if (!add) {
            continue;
        }

        elts = ngx_alloc((f->nelts + 1) * sizeof(ngx_http_devmon_filter_elt_t),
                         log);
        if (elts == NULL) {
            return NGX_ERROR;
        }

        if (f->nelts) {
            ngx_memcpy(elts, f->elts,
                       at * sizeof(ngx_http_devmon_filter_elt_t));
            ngx_memcpy(&elts[at + 1], &f->elts[at],
                       (f->nelts - at) * sizeof(ngx_http_devmon_filter_elt_t));
            ngx_free(f->elts);
        }

        elts[at].hash = hash;
        elts[at].name.len = len;
        elts[at].name.data = ngx_alloc(len, log);

        f->elts = elts;
        f->nelts++;

        if (elts[at].name.data == NULL) {
            f->nelts--;
            ngx_memmove(&elts[at], &elts[at + 1],
                        (f->nelts - at) * sizeof(ngx_http_devmon_filter_elt_t));
            return NGX_ERROR;
        }

        ngx_memcpy(elts[at].name.data, name, len);
    }

    return NGX_OK;
}


/* binary search; *at is where the name is or would go */

static ngx_int_t
ngx_http_devmon_filter_find(ngx_http_devmon_filter_t *f, ngx_uint_t hash,
    u_char *name, size_t len, ngx_uint_t *at)
{
    ngx_int_t                      c;
    ngx_uint_t                     lo, hi, mid;
    ngx_http_devmon_filter_elt_t  *e;

    lo = 0;
    hi = f->nelts;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        e = &f->elts[mid];

        if (e->hash != hash) {
            c = e->hash < hash ? -1 : 1;

        } else if (e->name.len != len) {
            c = e->name.len < len ? -1 : 1;

        } else {
            c = ngx_memcmp(e->name.data, name, len);
        }

        if (c == 0) {
            *at = mid;
            return NGX_OK;
        }

        if (c < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    *at = lo;

    return NGX_DECLINED;
}


void
ngx_http_devmon_filter_free(ngx_http_devmon_filter_t *f)
{
    ngx_uint_t  i;

    for (i = 0; i < f->nelts; i++) {
        ngx_free(f->elts[i].name.data);
    }

    if (f->elts) {
        ngx_free(f->elts);
    }

    f->elts = NULL;
    f->nelts = 0;
    f->some = 0;
}


json_t *
ngx_http_devmon_filter_json(ngx_http_devmon_filter_t *f)
{
    json_t      *a;
    ngx_uint_t   i;

    if (!f->some) {
        return json_string("*");
    }

    a = json_array();
    if (a == NULL) {
        return NULL;
    }

    for (i = 0; i < f->nelts; i++) {
        json_array_append_new(a,
            json_stringn((char *) f->elts[i].name.data, f->elts[i].name.len));
    }

    return a;
}
