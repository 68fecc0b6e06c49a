/* Live account streams: per-worker subscriptions, clients and fan-out. */

/*
 * Copyright (C) devmon authors
 */


#ifndef _NGX_HTTP_DEVMON_STREAM_H_INCLUDED_
#define _NGX_HTTP_DEVMON_STREAM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_devmon_module.h"
#include "ngx_http_devmon_redis.h"
#include "ngx_http_devmon_ws.h"
#include "ngx_http_devmon_stats.h"
#include "ngx_http_devmon_filter.h"
#include "ngx_devmon_event.h"


#define NGX_HTTP_DEVMON_ACCOUNT_MAX   128

/* account subscription */
#define NGX_HTTP_DEVMON_SUB_NONE      0
#define NGX_HTTP_DEVMON_SUB_PENDING   1
#define NGX_HTTP_DEVMON_SUB_ACTIVE    2
#define NGX_HTTP_DEVMON_SUB_LEAVING   3

/* client */
#define NGX_HTTP_DEVMON_CLIENT_WAIT   0    /* for the broker */
#define NGX_HTTP_DEVMON_CLIENT_QUERY  1    /* snapshot or replay running */
#define NGX_HTTP_DEVMON_CLIENT_LIVE   2


/*
 * One event as the fan-out sees it: the shared frame plus what filtering
 * and ordering need, parsed once.  device and region point into the
 * frame's payload.
 */
typedef struct {
    ngx_uint_t                       refs;
    ngx_http_devmon_frame_t         *frame;
    ngx_devmon_id_t                  id;
    uint64_t                         published;    /* ms: the id's */
    ngx_str_t                        device;
    ngx_str_t                        region;
    ngx_uint_t                       device_hash;
    ngx_uint_t                       region_hash;
} ngx_http_devmon_event_t;


/* events held back while a snapshot or replay is in flight */
typedef struct {
    ngx_http_devmon_event_t        **elts;
    ngx_uint_t                       nelts;
    ngx_uint_t                       nalloc;
} ngx_http_devmon_evbuf_t;


typedef struct ngx_http_devmon_account_s  ngx_http_devmon_account_t;
typedef struct ngx_http_devmon_client_s   ngx_http_devmon_client_t;


struct ngx_http_devmon_worker_s {
    ngx_http_devmon_stream_conf_t   *conf;
    ngx_log_t                       *log;
    ngx_http_devmon_stats_t         *stats;

    ngx_http_devmon_redis_t          sub;
    ngx_http_devmon_redis_t          cmd;

    ngx_rbtree_t                     accounts;
    ngx_rbtree_node_t                sentinel;
    ngx_uint_t                       subscribed;

    ngx_uint_t                       sessions;
    unsigned                         started:1;
    unsigned                         broker_up:1;  /* as clients were told */
    unsigned                         sub_was_up:1;
    unsigned                         cmd_was_up:1;
};


struct ngx_http_devmon_account_s {
    ngx_str_node_t                   sn;           /* key: account id */
    ngx_http_devmon_worker_t        *worker;
    ngx_str_t                        channel;      /* devmon:{A}:live */

    ngx_queue_t                      clients;
    ngx_uint_t                       nclients;

    ngx_uint_t                       sub;          /* NGX_HTTP_DEVMON_SUB_* */
    ngx_event_t                      linger;

    u_char                           epoch[NGX_DEVMON_EPOCH_LEN];
    size_t                           epoch_len;    /* 0: not known yet */
    ngx_devmon_id_t                  last;         /* last id fanned out */

    /* after the link came back: replay from the stream, hold live */
    ngx_http_devmon_redis_cmd_t     *query;
    ngx_devmon_id_t                  from;
    ngx_http_devmon_evbuf_t          held;
    unsigned                         backfill:1;
    unsigned                         overflow:1;   /* held overran */
    unsigned                         warned:1;
};


struct ngx_http_devmon_client_s {
    ngx_queue_t                      queue;        /* in account->clients */
    ngx_http_devmon_ws_t            *ws;
    ngx_http_devmon_account_t       *account;
    ngx_http_devmon_worker_t        *worker;

    ngx_uint_t                       state;        /* ..._CLIENT_* */
    ngx_http_devmon_redis_cmd_t     *query;
    ngx_http_devmon_evbuf_t          held;

    /* resume point: everything up to last has been handed to the client */
    u_char                           epoch[NGX_DEVMON_EPOCH_LEN];
    size_t                           epoch_len;
    ngx_devmon_id_t                  last;

    ngx_http_devmon_filter_t         devices;
    ngx_http_devmon_filter_t         regions;

    ngx_uint_t                       session;
    ngx_uint_t                       reset;        /* reason, next snapshot */
    unsigned                         have_point:1; /* epoch and last valid */
    unsigned                         hello_sent:1;
    unsigned                         closed:1;
};


void ngx_http_devmon_stream_create_conf(ngx_http_devmon_stream_conf_t *scf);
char *ngx_http_devmon_stream_init_conf(ngx_conf_t *cf,
    ngx_http_devmon_stream_conf_t *scf);
ngx_int_t ngx_http_devmon_stream_require(ngx_conf_t *cf,
    ngx_str_t *directive);
ngx_int_t ngx_http_devmon_stream_postconfiguration(ngx_conf_t *cf);
ngx_int_t ngx_http_devmon_stream_init_process(ngx_cycle_t *cycle);
void ngx_http_devmon_stream_exit_process(ngx_cycle_t *cycle);

/* ws hooks: handshake gate (503), opened, client messages */
ngx_int_t ngx_http_devmon_stream_handshake(ngx_http_request_t *r,
    ngx_int_t *rc);
ngx_int_t ngx_http_devmon_stream_open(ngx_http_devmon_ws_t *ws,
    ngx_str_t *account);
ngx_int_t ngx_http_devmon_stream_on_message(ngx_http_devmon_ws_t *ws,
    ngx_str_t *type, json_t *json);

ngx_http_devmon_worker_t *ngx_http_devmon_stream_worker(
    ngx_http_request_t *r);
ngx_int_t ngx_http_devmon_stream_unavailable(ngx_http_request_t *r);
ngx_int_t ngx_http_devmon_stream_hello(ngx_http_devmon_client_t *cl,
    u_char *epoch, size_t len);

void ngx_http_devmon_stream_epoch(ngx_http_devmon_account_t *acc,
    ngx_http_devmon_client_t *only);
void ngx_http_devmon_stream_deliver(ngx_http_devmon_account_t *acc,
    ngx_http_devmon_event_t *ev);
void ngx_http_devmon_stream_send(ngx_http_devmon_client_t *cl,
    ngx_http_devmon_event_t *ev);
ngx_int_t ngx_http_devmon_stream_frame(ngx_http_devmon_client_t *cl,
    ngx_http_devmon_frame_t *f);
void ngx_http_devmon_stream_kick(ngx_http_devmon_account_t *acc);
void ngx_http_devmon_stream_kick_client(ngx_http_devmon_client_t *cl);
ngx_int_t ngx_http_devmon_stream_text(ngx_http_devmon_client_t *cl,
    u_char *text, size_t len);
void ngx_http_devmon_stream_wait(ngx_http_devmon_client_t *cl);
void ngx_http_devmon_stream_fail(ngx_http_devmon_client_t *cl,
    ngx_uint_t code, const char *reason);
ngx_int_t ngx_http_devmon_stream_account(ngx_http_request_t *r,
    ngx_str_t *account);

void ngx_http_devmon_stream_frame_fit(ngx_http_devmon_frame_t *f,
    size_t len);
ngx_http_devmon_event_t *ngx_http_devmon_event_create(ngx_log_t *log,
    const u_char *id, size_t id_len, const u_char *json, size_t len);
void ngx_http_devmon_event_release(ngx_http_devmon_event_t *ev);
ngx_int_t ngx_http_devmon_evbuf_push(ngx_http_devmon_evbuf_t *b,
    ngx_http_devmon_event_t *ev, ngx_log_t *log);
void ngx_http_devmon_evbuf_clear(ngx_http_devmon_evbuf_t *b);


#endif /* _NGX_HTTP_DEVMON_STREAM_H_INCLUDED_ */
