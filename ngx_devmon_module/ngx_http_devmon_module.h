/* Configuration shared by every part of ngx_http_devmon_module. */

/*
 * Copyright (C) devmon authors
 */


#ifndef _NGX_HTTP_DEVMON_MODULE_H_INCLUDED_
#define _NGX_HTTP_DEVMON_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_devmon_jwt.h"
#include "ngx_http_devmon_redis.h"


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
    ngx_msec_t                   ping_interval;
    ngx_msec_t                   ping_timeout;
    ngx_msec_t                   close_timeout;
    ngx_uint_t                   queue_frames;
    size_t                       queue_bytes;
} ngx_http_devmon_ws_conf_t;


/* bearer tokens and the per-user cap (ngx_http_devmon_auth.c) */
typedef struct {
    ngx_devmon_jwt_keys_t       *keys;         /* NULL: no authentication */
    ngx_uint_t                   algorithms;   /* NGX_DEVMON_JWT_ALG_BIT()s */
    ngx_str_t                    issuer;
    ngx_array_t                 *audiences;    /* of char * */
    time_t                       leeway;
    ngx_str_t                    account_claim;
    ngx_str_t                    user_claim;
    ngx_flag_t                   token_arg;
    time_t                       expiring_notice;
    ngx_uint_t                   user_limit;   /* 0: no limit */
    ngx_devmon_jwt_policy_t      policy;       /* built by the merge */
} ngx_http_devmon_auth_conf_t;


/* Redis links and live streams (ngx_http_devmon_stream.c) */
typedef struct ngx_http_devmon_worker_s  ngx_http_devmon_worker_t;

typedef struct {
    ngx_http_devmon_redis_conf_t  redis;
    ngx_flag_t                   enabled;      /* connect at worker start */
    ngx_str_t                    required_by;  /* a location needing it */
    ngx_msec_t                   linger;
    ngx_uint_t                   replay_max;
    ngx_http_devmon_worker_t    *worker;       /* this worker's state */
} ngx_http_devmon_stream_conf_t;


typedef struct {
    ngx_uint_t                   serve;        /* NGX_HTTP_DEVMON_* */
    ngx_http_devmon_ws_conf_t    ws;
    ngx_http_devmon_auth_conf_t  auth;
} ngx_http_devmon_loc_conf_t;


typedef struct {
    ngx_shm_zone_t              *zone;         /* devmon_zone */
    ngx_http_devmon_stream_conf_t  stream;
} ngx_http_devmon_main_conf_t;


ngx_int_t ngx_http_devmon_send_buf(ngx_http_request_t *r, ngx_uint_t status,
    char *type, ngx_buf_t *b);


extern ngx_module_t  ngx_http_devmon_module;


#endif /* _NGX_HTTP_DEVMON_MODULE_H_INCLUDED_ */
