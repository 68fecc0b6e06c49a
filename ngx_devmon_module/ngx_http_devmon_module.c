/* ngx_http_devmon_module: directives, configuration and init hooks only. */

/*
 * Copyright (C) devmon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_devmon_module.h"
#include "ngx_http_devmon_ws.h"
#include "ngx_http_devmon_auth.h"
#include "ngx_http_devmon_zone.h"
#include "ngx_http_devmon_stream.h"
#include "ngx_http_devmon_replay.h"
#include "ngx_http_devmon_stats.h"


static ngx_int_t ngx_http_devmon_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_devmon_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_devmon_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_devmon_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_devmon_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_devmon_ws(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_devmon_allow_origin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_devmon_init_process(ngx_cycle_t *cycle);
static void ngx_http_devmon_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_devmon_queue_bounds = {
    ngx_conf_check_num_bounds, 2, 65536
};

static ngx_conf_num_bounds_t  ngx_http_devmon_replay_bounds = {
    ngx_conf_check_num_bounds, 1, 65536
};

static ngx_conf_num_bounds_t  ngx_http_devmon_db_bounds = {
    ngx_conf_check_num_bounds, 0, 65535
};


static ngx_command_t  ngx_http_devmon_commands[] = {

    { ngx_string("devmon_ws"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_devmon_ws,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("devmon_allow_origin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_devmon_allow_origin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("devmon_max_message_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_devmon_loc_conf_t, ws.max_message),
      NULL },

    { ngx_string("devmon_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_devmon_loc_conf_t, ws.ping_interval),
      NULL },

    { ngx_string("devmon_ping_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_devmon_loc_conf_t, ws.ping_timeout),
      NULL },

    { ngx_string("devmon_close_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_devmon_loc_conf_t, ws.close_timeout),
      NULL },

    { ngx_string("devmon_send_queue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_devmon_loc_conf_t, ws.queue_frames),
      &ngx_http_devmon_queue_bounds },

    { ngx_string("devmon_send_queue_bytes"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_devmon_loc_conf_t, ws.queue_bytes),
      NULL },

    /* auth (ngx_http_devmon_auth.c, ngx_http_devmon_zone.c) */

    { ngx_string("devmon_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_devmon_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("devmon_jwt_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE23,
      ngx_http_devmon_jwt_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("devmon_jwt_jwks"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_devmon_jwt_jwks,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("devmon_jwt_algorithms"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_devmon_jwt_algorithms,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("devmon_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_devmon_loc_conf_t, auth.issuer),
      NULL },

    { ngx_string("devmon_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_devmon_jwt_audience,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("devmon_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_devmon_loc_conf_t, auth.leeway),
      NULL },

    { ngx_string("devmon_jwt_account_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_devmon_loc_conf_t, auth.account_claim),
      NULL },

    { ngx_string("devmon_jwt_user_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_devmon_loc_conf_t, auth.user_claim),
      NULL },

    { ngx_string("devmon_token_arg"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_devmon_loc_conf_t, auth.token_arg),
      NULL },

    { ngx_string("devmon_token_expiring_notice"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_devmon_loc_conf_t, auth.expiring_notice),
      NULL },

    { ngx_string("devmon_user_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_devmon_loc_conf_t, auth.user_limit),
      NULL },

    /* streams (ngx_http_devmon_stream.c, _replay.c, _stats.c, _redis.c) */

    { ngx_string("devmon_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_devmon_redis_address,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("devmon_redis_password"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_devmon_main_conf_t, stream.redis.password),
      NULL },

    { ngx_string("devmon_redis_db"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_devmon_main_conf_t, stream.redis.db),
      &ngx_http_devmon_db_bounds },

    { ngx_string("devmon_redis_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_devmon_main_conf_t, stream.redis.connect_timeout),
      NULL },

    { ngx_string("devmon_redis_command_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_devmon_main_conf_t, stream.redis.command_timeout),
      NULL },

    { ngx_string("devmon_redis_reconnect"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_devmon_redis_reconnect,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("devmon_redis_keepalive"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_devmon_main_conf_t, stream.redis.keepalive),
      NULL },

    { ngx_string("devmon_unsubscribe_linger"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_devmon_main_conf_t, stream.linger),
      NULL },

    { ngx_string("devmon_replay_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_devmon_main_conf_t, stream.replay_max),
      &ngx_http_devmon_replay_bounds },

    { ngx_string("devmon_snapshot"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_devmon_snapshot,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("devmon_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_devmon_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_devmon_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_devmon_postconfiguration,     /* postconfiguration */

    ngx_http_devmon_create_main_conf,      /* create main configuration */
    ngx_http_devmon_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_devmon_create_loc_conf,       /* create location configuration */
    ngx_http_devmon_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_devmon_module = {
    NGX_MODULE_V1,
    &ngx_http_devmon_module_ctx,           /* module context */
    ngx_http_devmon_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_devmon_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_devmon_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_devmon_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_devmon_main_conf_t  *dmcf;

    dmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_devmon_main_conf_t));
    if (dmcf == NULL) {
        return NULL;
    }

    ngx_http_devmon_stream_create_conf(&dmcf->stream);

    return dmcf;
}


static char *
ngx_http_devmon_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_devmon_main_conf_t *dmcf = conf;

    return ngx_http_devmon_stream_init_conf(cf, &dmcf->stream);
}


static ngx_int_t
ngx_http_devmon_postconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_devmon_auth_postconfiguration(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_devmon_stream_postconfiguration(cf);
}


static void *
ngx_http_devmon_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_devmon_loc_conf_t  *dlcf;

    dlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_devmon_loc_conf_t));
    if (dlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     dlcf->serve = NGX_HTTP_DEVMON_NONE;
     */

    dlcf->ws.origins = NGX_CONF_UNSET_PTR;
    dlcf->ws.max_message = NGX_CONF_UNSET_SIZE;
    dlcf->ws.ping_interval = NGX_CONF_UNSET_MSEC;
    dlcf->ws.ping_timeout = NGX_CONF_UNSET_MSEC;
    dlcf->ws.close_timeout = NGX_CONF_UNSET_MSEC;
    dlcf->ws.queue_frames = NGX_CONF_UNSET_UINT;
    dlcf->ws.queue_bytes = NGX_CONF_UNSET_SIZE;

    ngx_http_devmon_auth_create_conf(&dlcf->auth);

    return dlcf;
}


static char *
ngx_http_devmon_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_devmon_loc_conf_t *prev = parent;
    ngx_http_devmon_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->ws.origins, prev->ws.origins, NULL);
    ngx_conf_merge_size_value(conf->ws.max_message, prev->ws.max_message,
                              64 * 1024);
    ngx_conf_merge_msec_value(conf->ws.ping_interval, prev->ws.ping_interval,
                              30000);
    ngx_conf_merge_msec_value(conf->ws.ping_timeout, prev->ws.ping_timeout,
                              10000);
    ngx_conf_merge_msec_value(conf->ws.close_timeout, prev->ws.close_timeout,
                              5000);
    ngx_conf_merge_uint_value(conf->ws.queue_frames, prev->ws.queue_frames,
                              1024);
    ngx_conf_merge_size_value(conf->ws.queue_bytes, prev->ws.queue_bytes,
                              1024 * 1024);

    if (conf->ws.max_message < 125) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"devmon_max_message_size\" must be at least 125");
        return NGX_CONF_ERROR;
    }

    if (conf->ws.ping_interval && conf->ws.ping_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"devmon_ping_timeout\" must not be 0 while "
                           "\"devmon_ping_interval\" is set");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_devmon_auth_merge_conf(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_devmon_ws(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_devmon_loc_conf_t *dlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (dlcf->serve != NGX_HTTP_DEVMON_NONE) {
        return "is duplicate, or the location already serves devmon";
    }

    dlcf->serve = NGX_HTTP_DEVMON_WS;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_devmon_ws_handler;

    /* devmon_redis is required, checked after the http block */

    if (ngx_http_devmon_stream_require(cf, &cmd->name) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_devmon_allow_origin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_devmon_loc_conf_t *dlcf = conf;

    ngx_str_t   *value, *origin;
    ngx_uint_t   i;

    if (dlcf->ws.origins != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    dlcf->ws.origins = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                        sizeof(ngx_str_t));
    if (dlcf->ws.origins == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 1 && value[i].data[0] == '*') {
            if (cf->args->nelts != 2) {
                return "\"*\" cannot be combined with other origins";
            }

            /* any origin: same as not setting the directive */
            dlcf->ws.origins = NULL;
            return NGX_CONF_OK;
        }

        if (ngx_strncmp(value[i].data, "http://", 7) != 0
            && ngx_strncmp(value[i].data, "https://", 8) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid origin \"%V\": must start with "
                               "\"http://\" or \"https://\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        origin = ngx_array_push(dlcf->ws.origins);
        if (origin == NULL) {
            return NGX_CONF_ERROR;
        }

        *origin = value[i];
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_devmon_init_process(ngx_cycle_t *cycle)
{
    if (ngx_http_devmon_zone_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_devmon_stream_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_devmon_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_devmon_stream_exit_process(cycle);
    ngx_http_devmon_zone_exit_process(cycle);
}


/* a whole response from one buffer: status, type, length, header, body */

ngx_int_t
ngx_http_devmon_send_buf(ngx_http_request_t *r, ngx_uint_t status,
    char *type, ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
