/* Device and region filters of a client: sorted sets, set by messages. */

/*
 * Copyright (C) devmon authors
 */


#ifndef _NGX_HTTP_DEVMON_FILTER_H_INCLUDED_
#define _NGX_HTTP_DEVMON_FILTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>


#define NGX_HTTP_DEVMON_FILTER_MAX    1024


typedef struct {
    ngx_uint_t                       hash;
    ngx_str_t                        name;
} ngx_http_devmon_filter_elt_t;


/* a device or region set, sorted by hash then name */
typedef struct {
    ngx_http_devmon_filter_elt_t    *elts;
    ngx_uint_t                       nelts;
    unsigned                         some:1;       /* 0: everything */
} ngx_http_devmon_filter_t;


ngx_uint_t ngx_http_devmon_filter_match(ngx_http_devmon_filter_t *f,
    ngx_uint_t hash, ngx_str_t *name);

/*
 * Whether adding (add) or removing the strings of a JSON array is valid
 * ("*" alone means all): NGX_OK or NGX_DECLINED.  Then update applies it:
 * NGX_OK, or NGX_ERROR (no memory; unchanged).
 */
ngx_int_t ngx_http_devmon_filter_check(ngx_http_devmon_filter_t *f,
    json_t *list, ngx_uint_t add);
ngx_int_t ngx_http_devmon_filter_update(ngx_http_devmon_filter_t *f,
    json_t *list, ngx_uint_t add, ngx_log_t *log);
void ngx_http_devmon_filter_free(ngx_http_devmon_filter_t *f);

/* "*" or the array of names, for the "subscribed" answer */
json_t *ngx_http_devmon_filter_json(ngx_http_devmon_filter_t *f);


#endif /* _NGX_HTTP_DEVMON_FILTER_H_INCLUDED_ */
