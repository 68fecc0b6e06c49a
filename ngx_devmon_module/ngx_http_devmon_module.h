/* Configuration shared by every part of ngx_http_devmon_module. */

/*
 * Copyright (C) devmon authors
 */


#ifndef _NGX_HTTP_DEVMON_MODULE_H_INCLUDED_
#define _NGX_HTTP_DEVMON_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_DEVMON_VERSION      "0.1.0"

#define NGX_HTTP_DEVMON_SUBPROTOCOL  "devmon.v1"


/* what a location serves */
#define NGX_HTTP_DEVMON_NONE         0
#define NGX_HTTP_DEVMON_WS           1
#define NGX_HTTP_DEVMON_SNAPSHOT     2
#define NGX_HTTP_DEVMON_STATUS       3


typedef struct {
    ngx_array_t                 *origins;      /* of ngx_str_t; NULL: any */
    size_t                       max_message;
    size_t                       max_frame;
    ngx_msec_t                   ping_interval;
    ngx_msec_t                   ping_timeout;
    ngx_msec_t                   close_timeout;
    ngx_uint_t                   queue_frames;
    size_t                       queue_bytes;
} ngx_http_devmon_ws_conf_t;


typedef struct {
    ngx_uint_t                   serve;        /* NGX_HTTP_DEVMON_* */
    ngx_http_devmon_ws_conf_t    ws;
} ngx_http_devmon_loc_conf_t;


typedef struct {
    ngx_uint_t                   unused;
} ngx_http_devmon_main_conf_t;


extern ngx_module_t  ngx_http_devmon_module;


#endif /* _NGX_HTTP_DEVMON_MODULE_H_INCLUDED_ */
