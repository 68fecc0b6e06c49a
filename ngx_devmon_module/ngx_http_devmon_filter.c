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


/* NGX_OK: the change may be applied; NGX_DECLINED: refused */

ngx_int_t
ngx_http_devmon_filter_check(ngx_http_devmon_filter_t *f, json_t *list,
    ngx_uint_t add)
{
    size_t   i, n, len;
    json_t  *item;

    n = json_array_size(list);

    for (i = 0; i < n; i++) {
        item = json_array_get(list, i);
        len = json_is_string(item) ? json_string_length(item) : 0;

        if (len == 0 || len > 255) {
            return NGX_DECLINED;
        }

        if (len == 1 && json_string_value(item)[0] == '*') {
            /* "*": every one, or none */
            return NGX_OK;
        }
    }

    if (!add && !f->some) {
        return NGX_DECLINED;
    }

    if (add && f->nelts + n > NGX_HTTP_DEVMON_FILTER_MAX) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Applies a change that ngx_http_devmon_filter_check() allowed.  The new
 * set is built in one allocation (the elements, then their names) and
 * replaces the old one: NGX_ERROR (no memory) leaves the old one intact.
 */

ngx_int_t
ngx_http_devmon_filter_update(ngx_http_devmon_filter_t *f, json_t *list,
    ngx_uint_t add, ngx_log_t *log)
{
    u_char                        *name, *p;
    size_t                         i, n, len, size, cap;
    json_t                        *item;
    ngx_uint_t                     at, hash;
    ngx_http_devmon_filter_t       nf;
    ngx_http_devmon_filter_elt_t  *elts;

    n = json_array_size(list);

    for (i = 0; i < n; i++) {
        item = json_array_get(list, i);

        if (json_string_length(item) == 1
            && json_string_value(item)[0] == '*')
        {
            ngx_http_devmon_filter_free(f);
            f->some = add ? 0 : 1;
            return NGX_OK;
        }
    }

    if (add && !f->some) {
        /* the first list narrows "everything" to itself */
        ngx_http_devmon_filter_free(f);
    }

    cap = f->nelts + (add ? n : 0);
    size = cap * sizeof(ngx_http_devmon_filter_elt_t);

    for (i = 0; i < f->nelts; i++) {
        size += f->elts[i].name.len;
    }

    for (i = 0; add && i < n; i++) {
        size += json_string_length(json_array_get(list, i));
    }

    elts = ngx_alloc(size ? size : 1, log);
    if (elts == NULL) {
        return NGX_ERROR;
    }

    p = (u_char *) (elts + cap);

    for (i = 0; i < f->nelts; i++) {
        elts[i].hash = f->elts[i].hash;
        elts[i].name.len = f->elts[i].name.len;
        elts[i].name.data = p;
        p = ngx_cpymem(p, f->elts[i].name.data, f->elts[i].name.len);
    }

    nf.elts = elts;
    nf.nelts = f->nelts;
    nf.some = 1;

    for (i = 0; i < n; i++) {
        item = json_array_get(list, i);
        name = (u_char *) json_string_value(item);
        len = json_string_length(item);
        hash = ngx_hash_key(name, len);

        if (ngx_http_devmon_filter_find(&nf, hash, name, len, &at) == NGX_OK) {

            if (!add) {
                ngx_memmove(&elts[at], &elts[at + 1],
                            (nf.nelts - at - 1)
                            * sizeof(ngx_http_devmon_filter_elt_t));
                nf.nelts--;
            }

            continue;
        }

        if (!add) {
            continue;
        }

        ngx_memmove(&elts[at + 1], &elts[at],
                    (nf.nelts - at) * sizeof(ngx_http_devmon_filter_elt_t));

        elts[at].hash = hash;
        elts[at].name.len = len;
        elts[at].name.data = p;
        p = ngx_cpymem(p, name, len);

        nf.nelts++;
    }

    ngx_http_devmon_filter_free(f);

    *f = nf;

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
    /* the names live in the same block */

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
