/* hiredis async connections driven by nginx events, with timeouts. */

/*
 * Copyright (C) devmon authors
 */


#ifndef _NGX_HTTP_DEVMON_REDIS_H_INCLUDED_
#define _NGX_HTTP_DEVMON_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_DEVMON_REDIS_DOWN        0
#define NGX_HTTP_DEVMON_REDIS_CONNECTING  1
#define NGX_HTTP_DEVMON_REDIS_HANDSHAKE   2    /* AUTH, SELECT */
#define NGX_HTTP_DEVMON_REDIS_UP          3

/*
 * The subscriber's liveness probe.  hiredis 0.14 drops the answer to a
 * PING sent in subscribed mode (it looks the "pong" up as a pattern), so
 * the probe is a SUBSCRIBE of this channel, confirmed like any other;
 * nothing is published to it.
 */
#define NGX_HTTP_DEVMON_REDIS_KEEPALIVE   "devmon:keepalive"


typedef struct ngx_http_devmon_redis_s      ngx_http_devmon_redis_t;
typedef struct ngx_http_devmon_redis_cmd_s  ngx_http_devmon_redis_cmd_t;

/* reply is NULL when the command failed: link lost or timed out */
typedef void (*ngx_http_devmon_redis_reply_pt)(ngx_http_devmon_redis_t *rds,
    redisReply *reply, void *data);

/* called outside hiredis, after the link came up or went down */
typedef void (*ngx_http_devmon_redis_state_pt)(ngx_http_devmon_redis_t *rds);


/* one command of a transaction */
typedef struct {
    int                              argc;
    const char                      *argv[6];
    size_t                           argvlen[6];
} ngx_http_devmon_redis_argv_t;


typedef struct {
    ngx_str_t                        host;         /* null-terminated */
    in_port_t                        port;
    ngx_str_t                        path;         /* unix socket or empty */
    ngx_str_t                        password;
    ngx_int_t                        db;
    ngx_msec_t                       connect_timeout;
    ngx_msec_t                       command_timeout;
    ngx_msec_t                       reconnect_min;
    ngx_msec_t                       reconnect_max;
    ngx_msec_t                       keepalive;    /* subscriber probe */
} ngx_http_devmon_redis_conf_t;


struct ngx_http_devmon_redis_cmd_s {
    ngx_queue_t                      queue;
    ngx_msec_t                       deadline;
    ngx_http_devmon_redis_t         *rds;
    ngx_http_devmon_redis_reply_pt   handler;      /* NULL: cancelled */
    void                            *data;
};


struct ngx_http_devmon_redis_s {
    redisAsyncContext               *ac;
    ngx_connection_t                *conn;
    ngx_http_devmon_redis_conf_t    *conf;
    ngx_log_t                       *log;
    const char                      *name;

    ngx_event_t                      timer;        /* connect or command */
    ngx_event_t                      retry;        /* reconnect backoff */
    ngx_event_t                      notify;       /* state change, posted */
    ngx_event_t                      keepalive;    /* subscriber probe */

    ngx_queue_t                      pending;      /* commands, oldest first */
    ngx_queue_t                      free;
    ngx_uint_t                       subs;         /* (un)subscribes due */
    ngx_msec_t                       sub_deadline;

    ngx_uint_t                       state;
    ngx_uint_t                       notified;     /* last state told */
    ngx_msec_t                       backoff;

    /* no link since the last failure: new clients are turned away */
    unsigned                         unreachable:1;
    unsigned                         exiting:1;
    /* a transaction was cut short: no more commands, dropped at once */
    unsigned                         broken:1;

    ngx_http_devmon_redis_state_pt   on_state;
    ngx_http_devmon_redis_reply_pt   on_message;   /* pub/sub replies */
    void                            *data;
};


ngx_int_t ngx_http_devmon_redis_init(ngx_http_devmon_redis_t *rds,
    ngx_http_devmon_redis_conf_t *conf, const char *name, ngx_log_t *log);
void ngx_http_devmon_redis_connect(ngx_http_devmon_redis_t *rds);
void ngx_http_devmon_redis_close(ngx_http_devmon_redis_t *rds);

ngx_http_devmon_redis_cmd_t *ngx_http_devmon_redis_command(
    ngx_http_devmon_redis_t *rds, ngx_http_devmon_redis_reply_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen);
void ngx_http_devmon_redis_cancel(ngx_http_devmon_redis_cmd_t *cmd);
ngx_http_devmon_redis_cmd_t *ngx_http_devmon_redis_multi(
    ngx_http_devmon_redis_t *rds, ngx_http_devmon_redis_reply_pt handler,
    void *data, ngx_http_devmon_redis_argv_t *cmds, ngx_uint_t n);

ngx_int_t ngx_http_devmon_redis_subscribe(ngx_http_devmon_redis_t *rds,
    ngx_str_t *channel, ngx_uint_t subscribe);

char *ngx_http_devmon_redis_parse_address(ngx_conf_t *cf,
    ngx_http_devmon_redis_conf_t *conf, ngx_str_t *value);
char *ngx_http_devmon_redis_address(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_devmon_redis_reconnect(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_DEVMON_REDIS_H_INCLUDED_ */
