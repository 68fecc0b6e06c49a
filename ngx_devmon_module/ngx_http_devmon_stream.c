/* Live account streams: per-worker subscriptions, clients and fan-out. */

/*
 * Copyright (C) devmon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_devmon_module.h"
#include "ngx_http_devmon_stream.h"
#include "ngx_http_devmon_replay.h"
#include "ngx_http_devmon_stats.h"
#include "ngx_http_devmon_filter.h"


static void ngx_http_devmon_stream_start(ngx_http_devmon_worker_t *w);
static void ngx_http_devmon_stream_link_state(ngx_http_devmon_redis_t *rds);
static void ngx_http_devmon_stream_broker(ngx_http_devmon_worker_t *w);
static void ngx_http_devmon_stream_sub_lost(ngx_http_devmon_worker_t *w);
static void ngx_http_devmon_stream_message(ngx_http_devmon_redis_t *rds,
    redisReply *reply, void *data);
static void ngx_http_devmon_stream_publish(ngx_http_devmon_account_t *acc,
    u_char *p, size_t len);
static void ngx_http_devmon_stream_frame_sent(ngx_http_devmon_frame_t *f);

static ngx_http_devmon_account_t *ngx_http_devmon_account_find(
    ngx_http_devmon_worker_t *w, ngx_str_t *name);
static ngx_http_devmon_account_t *ngx_http_devmon_account_get(
    ngx_http_devmon_worker_t *w, ngx_str_t *name);
static ngx_http_devmon_account_t *ngx_http_devmon_account_next(
    ngx_http_devmon_worker_t *w, ngx_http_devmon_account_t *acc);
static void ngx_http_devmon_account_subscribe(ngx_http_devmon_account_t *acc);
static void ngx_http_devmon_account_idle(ngx_http_devmon_account_t *acc);
static void ngx_http_devmon_account_linger(ngx_event_t *ev);
static void ngx_http_devmon_account_free(ngx_http_devmon_account_t *acc);

static void ngx_http_devmon_client_cleanup(void *data);
static ngx_int_t ngx_http_devmon_client_filter(ngx_http_devmon_client_t *cl,
    json_t *json, ngx_uint_t add);


/* configuration */

void
ngx_http_devmon_stream_create_conf(ngx_http_devmon_stream_conf_t *scf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     scf->redis.host = { 0, NULL };
     *     scf->redis.path = { 0, NULL };
     *     scf->redis.password = { 0, NULL };
     *     scf->enabled = 0;
     *     scf->required_by = { 0, NULL };
     *     scf->worker = NULL;
     */

    scf->redis.db = NGX_CONF_UNSET;
    scf->redis.connect_timeout = NGX_CONF_UNSET_MSEC;
    scf->redis.command_timeout = NGX_CONF_UNSET_MSEC;
    scf->redis.reconnect_min = NGX_CONF_UNSET_MSEC;
    scf->redis.reconnect_max = NGX_CONF_UNSET_MSEC;
    scf->redis.keepalive = NGX_CONF_UNSET_MSEC;
    scf->linger = NGX_CONF_UNSET_MSEC;
    scf->replay_max = NGX_CONF_UNSET_UINT;
}


char *
ngx_http_devmon_stream_init_conf(ngx_conf_t *cf,
    ngx_http_devmon_stream_conf_t *scf)
{
    ngx_conf_init_value(scf->redis.db, 0);
    ngx_conf_init_msec_value(scf->redis.connect_timeout, 2000);
    ngx_conf_init_msec_value(scf->redis.command_timeout, 5000);
    ngx_conf_init_msec_value(scf->redis.reconnect_min, 100);
    ngx_conf_init_msec_value(scf->redis.reconnect_max, 5000);
    ngx_conf_init_msec_value(scf->redis.keepalive, 10000);
    ngx_conf_init_msec_value(scf->linger, 2000);
    ngx_conf_init_uint_value(scf->replay_max, 512);

    if (scf->redis.reconnect_max < scf->redis.reconnect_min) {
        scf->redis.reconnect_max = scf->redis.reconnect_min;
    }

    return NGX_CONF_OK;
}


/*
 * devmon_ws and devmon_snapshot serve an account's stream: they remember
 * where they are, so that a missing devmon_redis is reported there.
 */

ngx_int_t
ngx_http_devmon_stream_require(ngx_conf_t *cf, ngx_str_t *directive)
{
    size_t                        size;
    ngx_http_devmon_main_conf_t  *dmcf;

    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_devmon_module);

    if (dmcf->stream.required_by.data) {
        return NGX_OK;
    }

    size = sizeof("\"\" in :") - 1 + directive->len
           + cf->conf_file->file.name.len + NGX_INT_T_LEN;

    dmcf->stream.required_by.data = ngx_pnalloc(cf->pool, size);
    if (dmcf->stream.required_by.data == NULL) {
        return NGX_ERROR;
    }

    dmcf->stream.required_by.len =
        ngx_snprintf(dmcf->stream.required_by.data, size, "\"%V\" in %V:%ui",
                     directive, &cf->conf_file->file.name,
                     cf->conf_file->line)
        - dmcf->stream.required_by.data;

    return NGX_OK;
}


/* after the http block: a stream location without Redis cannot work */

ngx_int_t
ngx_http_devmon_stream_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_devmon_main_conf_t  *dmcf;

    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_devmon_module);

    if (dmcf->stream.required_by.data && !dmcf->stream.enabled) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%V needs \"devmon_redis\" in the http block",
                      &dmcf->stream.required_by);
        return NGX_ERROR;
    }

    return ngx_http_devmon_stats_postconfiguration(cf);
}


/* worker life */

ngx_int_t
ngx_http_devmon_stream_init_process(ngx_cycle_t *cycle)
{
    ngx_http_devmon_worker_t     *w;
    ngx_http_devmon_main_conf_t  *dmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    dmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_devmon_module);
    if (dmcf == NULL) {
        return NGX_OK;
    }

    w = ngx_pcalloc(cycle->pool, sizeof(ngx_http_devmon_worker_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->conf = &dmcf->stream;
    w->log = cycle->log;

    w->stats = ngx_http_devmon_stats_attach(cycle);
    if (w->stats == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&w->accounts, &w->sentinel, ngx_str_rbtree_insert_value);

    ngx_http_devmon_redis_init(&w->sub, &dmcf->stream.redis, "subscriber",
                               cycle->log);
    ngx_http_devmon_redis_init(&w->cmd, &dmcf->stream.redis, "command",
                               cycle->log);

    w->sub.on_state = ngx_http_devmon_stream_link_state;
    w->sub.on_message = ngx_http_devmon_stream_message;
    w->sub.data = w;
    w->cmd.on_state = ngx_http_devmon_stream_link_state;
    w->cmd.data = w;

    dmcf->stream.worker = w;

    if (dmcf->stream.enabled) {
        ngx_http_devmon_stream_start(w);
    }

    return NGX_OK;
}


void
ngx_http_devmon_stream_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_devmon_worker_t     *w;
    ngx_http_devmon_account_t    *acc, *next;
    ngx_http_devmon_main_conf_t  *dmcf;

    dmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_devmon_module);
    if (dmcf == NULL || dmcf->stream.worker == NULL) {
        return;
    }

    w = dmcf->stream.worker;

    /* take this worker's share out of the gauges */

    ngx_http_devmon_stats_detach(w->stats);

    for (acc = ngx_http_devmon_account_next(w, NULL); acc != NULL; acc = next)
    {
        next = ngx_http_devmon_account_next(w, acc);

        /*
         * Clients still open at a fast shutdown: their cleanups, if they
         * ever run, see that the worker let go and touch no account.
         */
        ngx_http_devmon_account_free(acc);
    }

    ngx_http_devmon_redis_close(&w->sub);
    ngx_http_devmon_redis_close(&w->cmd);

    dmcf->stream.worker = NULL;
}


static void
ngx_http_devmon_stream_start(ngx_http_devmon_worker_t *w)
{
    if (w->started) {
        return;
    }

    w->started = 1;

    ngx_http_devmon_redis_connect(&w->sub);
    ngx_http_devmon_redis_connect(&w->cmd);
}


ngx_http_devmon_worker_t *
ngx_http_devmon_stream_worker(ngx_http_request_t *r)
{
    ngx_http_devmon_main_conf_t  *dmcf;

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_devmon_module);

    return dmcf->stream.worker;
}


/* links */

static void
ngx_http_devmon_stream_link_state(ngx_http_devmon_redis_t *rds)
{
    ngx_http_devmon_worker_t *w = rds->data;

    ngx_uint_t                  link, up;
    ngx_http_devmon_account_t  *acc, *next;

    link = (rds == &w->sub) ? NGX_HTTP_DEVMON_LINK_SUB
                            : NGX_HTTP_DEVMON_LINK_CMD;
    up = (rds->state == NGX_HTTP_DEVMON_REDIS_UP);

    if (up) {
        ngx_http_devmon_gauge_add(w->stats, links_up[link], 1);

        if (link == NGX_HTTP_DEVMON_LINK_SUB ? w->sub_was_up
                                             : w->cmd_was_up)
        {
            ngx_http_devmon_stats_inc(w->stats, reconnects[link], 1);
        }

        if (link == NGX_HTTP_DEVMON_LINK_SUB) {
            w->sub_was_up = 1;

        } else {
            w->cmd_was_up = 1;
        }

    } else {
        ngx_http_devmon_gauge_add(w->stats, links_up[link], -1);
    }

    if (link == NGX_HTTP_DEVMON_LINK_SUB) {

        if (!up) {
            ngx_http_devmon_stream_sub_lost(w);

        } else {
            for (acc = ngx_http_devmon_account_next(w, NULL);
                 acc != NULL;
                 acc = next)
            {
                next = ngx_http_devmon_account_next(w, acc);

                if (acc->nclients) {
                    ngx_http_devmon_account_subscribe(acc);

                } else {
                    ngx_http_devmon_account_free(acc);
                }
            }
        }

    } else if (up) {
        for (acc = ngx_http_devmon_account_next(w, NULL);
             acc != NULL;
             acc = ngx_http_devmon_account_next(w, acc))
        {
            ngx_http_devmon_stream_kick(acc);
        }
    }

    ngx_http_devmon_stream_broker(w);
}


/*
 * The subscriber link is gone: nothing published from now on reaches
 * this worker until it is back.  Clients that are live keep their
 * resume point and get a backfill later; the others start over.
 */

static void
ngx_http_devmon_stream_sub_lost(ngx_http_devmon_worker_t *w)
{
    ngx_queue_t                *q;
    ngx_http_devmon_client_t   *cl;
    ngx_http_devmon_account_t  *acc, *next;

    for (acc = ngx_http_devmon_account_next(w, NULL); acc != NULL; acc = next)
    {
        next = ngx_http_devmon_account_next(w, acc);

        if (acc->sub == NGX_HTTP_DEVMON_SUB_ACTIVE
            || acc->sub == NGX_HTTP_DEVMON_SUB_LEAVING)
        {
            w->subscribed--;
            ngx_http_devmon_gauge_add(w->stats, accounts, -1);
        }

        acc->sub = NGX_HTTP_DEVMON_SUB_NONE;

        if (acc->query) {
            ngx_http_devmon_redis_cancel(acc->query);
            acc->query = NULL;
        }

        ngx_http_devmon_evbuf_clear(&acc->held);
        acc->overflow = 0;

        if (acc->nclients == 0) {
            ngx_http_devmon_account_free(acc);
            continue;
        }

        for (q = ngx_queue_head(&acc->clients);
             q != ngx_queue_sentinel(&acc->clients);
             q = ngx_queue_next(q))
        {
            cl = ngx_queue_data(q, ngx_http_devmon_client_t, queue);

            if (cl->state == NGX_HTTP_DEVMON_CLIENT_LIVE) {
                acc->backfill = 1;
                continue;
            }

            ngx_http_devmon_stream_wait(cl);
        }
    }
}


/* tells clients when the worker's broker links went down or came back */

static void
ngx_http_devmon_stream_broker(ngx_http_devmon_worker_t *w)
{
    u_char                     *text;
    size_t                      len;
    ngx_uint_t                  up;
    ngx_queue_t                *q;
    ngx_http_devmon_frame_t    *f;
    ngx_http_devmon_client_t   *cl;
    ngx_http_devmon_account_t  *acc;

    up = w->sub.notified && w->cmd.notified;

    if (up == w->broker_up) {
        return;
    }

    w->broker_up = up;

    if (up) {
        ngx_log_error(NGX_LOG_NOTICE, w->log, 0, "devmon: broker up");

    } else {
        ngx_log_error(NGX_LOG_WARN, w->log, 0, "devmon: broker down");
    }

    /* one frame for every client of the worker */

    text = up ? (u_char *) "{\"type\":\"broker\",\"state\":\"up\"}"
              : (u_char *) "{\"type\":\"broker\",\"state\":\"down\"}";
    len = ngx_strlen(text);

    f = ngx_http_devmon_frame_create(w->log, NGX_DEVMON_WS_OP_TEXT, text,
                                     len);
    if (f == NULL) {
        return;
    }

    for (acc = ngx_http_devmon_account_next(w, NULL);
         acc != NULL;
         acc = ngx_http_devmon_account_next(w, acc))
    {
        for (q = ngx_queue_head(&acc->clients);
             q != ngx_queue_sentinel(&acc->clients);
             q = ngx_queue_next(q))
        {
            cl = ngx_queue_data(q, ngx_http_devmon_client_t, queue);

            if (cl->hello_sent && !cl->closed) {
                (void) ngx_http_devmon_stream_frame(cl, f);
            }
        }
    }

    ngx_http_devmon_frame_release(f);
}


/* handshake gate: while Redis is unreachable new clients come back later */

ngx_int_t
ngx_http_devmon_stream_handshake(ngx_http_request_t *r, ngx_int_t *rc)
{
    ngx_http_devmon_worker_t  *w;

    w = ngx_http_devmon_stream_worker(r);

    if (w == NULL) {
        /* not a worker process */
        return NGX_OK;
    }

    if (w->sub.unreachable || w->cmd.unreachable) {
        *rc = ngx_http_devmon_stream_unavailable(r);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_devmon_stream_unavailable(ngx_http_request_t *r)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* jittered, so that turned-away clients do not return all at once */
    *ngx_sprintf(p, "%ui", 1 + (ngx_uint_t) ngx_random() % 5) = '\0';

    return ngx_http_devmon_reject(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "broker_unavailable",
                                  "the message broker is unreachable",
                                  "Retry-After", (const char *) p);
}


/*
 * The account whose stream a request may see: the token's (the auth
 * module requires keys wherever devmon serves an account).
 */

ngx_int_t
ngx_http_devmon_stream_account(ngx_http_request_t *r, ngx_str_t *account)
{
    u_char  *p;

    if (account->len == 0 || account->len > NGX_HTTP_DEVMON_ACCOUNT_MAX) {
        return NGX_DECLINED;
    }

    /* it becomes a Redis hash tag: braces would move it to another slot */

    for (p = account->data; p < account->data + account->len; p++) {
        if (*p <= ' ' || *p == '{' || *p == '}' || *p == 0x7f) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* the ws layer's "opened" point: the 101 is out */

ngx_int_t
ngx_http_devmon_stream_open(ngx_http_devmon_ws_t *ws, ngx_str_t *account)
{
    u_char                     *dst, *src;
    size_t                      epoch_len;
    ngx_str_t                   name, since;
    const u_char               *epoch;
    ngx_pool_cleanup_t         *cln;
    ngx_http_request_t         *r;
    ngx_http_devmon_client_t   *cl;
    ngx_http_devmon_worker_t   *w;
    ngx_http_devmon_account_t  *acc;
    u_char                      buf[NGX_DEVMON_EPOCH_LEN
                                    + NGX_DEVMON_ID_LEN + 2];

    r = ws->request;

    w = ngx_http_devmon_stream_worker(r);
    if (w == NULL) {
        return NGX_OK;
    }

    name.len = 0;
    name.data = NULL;

    if (account) {
        name = *account;
    }

    switch (ngx_http_devmon_stream_account(r, &name)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_http_devmon_ws_close(ws, NGX_DEVMON_WS_CLOSE_POLICY,
                                 "no valid account");
        return NGX_ERROR;

    default:
        goto failed;
    }

    /* in ws->pool: the request is released once the 101 is out */

    cl = ngx_pcalloc(ws->pool, sizeof(ngx_http_devmon_client_t));
    if (cl == NULL) {
        goto failed;
    }

    cln = ngx_pool_cleanup_add(ws->pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    acc = ngx_http_devmon_account_get(w, &name);
    if (acc == NULL) {
        goto failed;
    }

    cl->ws = ws;
    cl->worker = w;
    cl->account = acc;
    cl->state = NGX_HTTP_DEVMON_CLIENT_WAIT;
    cl->session = ++w->sessions;

    cln->handler = ngx_http_devmon_client_cleanup;
    cln->data = cl;

    ngx_queue_insert_tail(&acc->clients, &cl->queue);
    acc->nclients++;

    if (acc->linger.timer_set) {
        ngx_del_timer(&acc->linger);
    }

    ws->client = cl;

    ngx_http_devmon_gauge_add(w->stats, connections, 1);
    ngx_http_devmon_stats_handshake(w->stats, NGX_HTTP_SWITCHING_PROTOCOLS);

    /* since=epoch:id, the last event the client has */

    if (ngx_http_arg(r, (u_char *) "since", 5, &since) == NGX_OK) {

        if (since.len < sizeof(buf)) {
            dst = buf;
            src = since.data;
            ngx_unescape_uri(&dst, &src, since.len, 0);
            since.len = dst - buf;
            since.data = buf;
        }

        if (since.data == buf
            && ngx_devmon_since_parse(buf, since.len, &epoch, &epoch_len,
                                      &cl->last)
               == 0)
        {
            ngx_memcpy(cl->epoch, epoch, epoch_len);
            cl->epoch_len = epoch_len;
            cl->have_point = 1;

        } else {
            /* told, not silently ignored: the client gets a reset */
            cl->reset = NGX_HTTP_DEVMON_RESET_INVALID;
        }
    }

    if (acc->sub == NGX_HTTP_DEVMON_SUB_NONE) {
        ngx_http_devmon_account_subscribe(acc);
    }

    ngx_http_devmon_stream_kick_client(cl);

    return NGX_OK;

failed:

    ngx_http_devmon_ws_close(ws, NGX_DEVMON_WS_CLOSE_INTERNAL, NULL);

    return NGX_ERROR;
}


static void
ngx_http_devmon_client_cleanup(void *data)
{
    ngx_http_devmon_client_t *cl = data;

    ngx_http_devmon_account_t  *acc;

    cl->closed = 1;

    ngx_http_devmon_stream_wait(cl);
    ngx_http_devmon_filter_free(&cl->devices);
    ngx_http_devmon_filter_free(&cl->regions);

    acc = cl->account;

    if (acc == NULL || cl->worker->conf->worker != cl->worker) {
        /* the worker is exiting and has let go of its accounts */
        return;
    }

    ngx_queue_remove(&cl->queue);
    cl->account = NULL;

    ngx_http_devmon_gauge_add(cl->worker->stats, connections, -1);

    if (--acc->nclients == 0) {
        ngx_http_devmon_account_idle(acc);
    }
}


/* starts a waiting client's snapshot or replay if the broker allows */

void
ngx_http_devmon_stream_kick_client(ngx_http_devmon_client_t *cl)
{
    if (!cl->closed
        && cl->state == NGX_HTTP_DEVMON_CLIENT_WAIT
        && cl->account->sub == NGX_HTTP_DEVMON_SUB_ACTIVE
        && cl->worker->cmd.state == NGX_HTTP_DEVMON_REDIS_UP)
    {
        ngx_http_devmon_replay_start(cl);
    }
}


void
ngx_http_devmon_stream_kick(ngx_http_devmon_account_t *acc)
{
    ngx_queue_t               *q, *next;
    ngx_http_devmon_client_t  *cl;

    if (acc->sub != NGX_HTTP_DEVMON_SUB_ACTIVE
        || acc->worker->cmd.state != NGX_HTTP_DEVMON_REDIS_UP)
    {
        return;
    }

    if (acc->backfill && acc->query == NULL) {
        ngx_http_devmon_replay_backfill(acc);
    }

    for (q = ngx_queue_head(&acc->clients);
         q != ngx_queue_sentinel(&acc->clients);
         q = next)
    {
        next = ngx_queue_next(q);
        cl = ngx_queue_data(q, ngx_http_devmon_client_t, queue);

        ngx_http_devmon_stream_kick_client(cl);
    }
}


/* accounts */

static ngx_http_devmon_account_t *
ngx_http_devmon_account_find(ngx_http_devmon_worker_t *w, ngx_str_t *name)
{
    ngx_str_node_t  *sn;

    sn = ngx_str_rbtree_lookup(&w->accounts, name,
                               ngx_crc32_short(name->data, name->len));

    return (ngx_http_devmon_account_t *) sn;
}


static ngx_http_devmon_account_t *
ngx_http_devmon_account_get(ngx_http_devmon_worker_t *w, ngx_str_t *name)
{
    u_char                     *p;
    size_t                      size;
    ngx_http_devmon_account_t  *acc;

    acc = ngx_http_devmon_account_find(w, name);
    if (acc) {
        return acc;
    }

    /*
     * The account, its name and its channel name (which holds the name
     * again, with its terminating zero) in one block.
     */

    size = sizeof(ngx_http_devmon_account_t) + 2 * name->len
           + sizeof("devmon:{}:live");

    acc = ngx_alloc(size, w->log);
    if (acc == NULL) {
        return NULL;
    }

    ngx_memzero(acc, sizeof(ngx_http_devmon_account_t));

    p = (u_char *) (acc + 1);

    acc->sn.str.data = p;
    acc->sn.str.len = name->len;
    p = ngx_cpymem(p, name->data, name->len);

    acc->channel.data = p;
    p = ngx_sprintf(p, "devmon:{%V}:live", name);
    acc->channel.len = p - acc->channel.data;
    *p = '\0';

    acc->sn.node.key = ngx_crc32_short(name->data, name->len);
    acc->worker = w;
    ngx_queue_init(&acc->clients);

    acc->linger.handler = ngx_http_devmon_account_linger;
    acc->linger.data = acc;
    acc->linger.log = w->log;
    acc->linger.cancelable = 1;

    ngx_rbtree_insert(&w->accounts, &acc->sn.node);

    return acc;
}


static ngx_http_devmon_account_t *
ngx_http_devmon_account_next(ngx_http_devmon_worker_t *w,
    ngx_http_devmon_account_t *acc)
{
    ngx_rbtree_node_t  *node;

    if (w->accounts.root == &w->sentinel) {
        return NULL;
    }

    if (acc == NULL) {
        node = ngx_rbtree_min(w->accounts.root, &w->sentinel);

    } else {
        node = ngx_rbtree_next(&w->accounts, &acc->sn.node);
    }

    return (ngx_http_devmon_account_t *) node;
}


static void
ngx_http_devmon_account_subscribe(ngx_http_devmon_account_t *acc)
{
    if (acc->sub != NGX_HTTP_DEVMON_SUB_NONE) {
        return;
    }

    if (ngx_http_devmon_redis_subscribe(&acc->worker->sub, &acc->channel, 1)
        == NGX_OK)
    {
        acc->sub = NGX_HTTP_DEVMON_SUB_PENDING;
    }

    /* otherwise the link is down: it subscribes when it is back */
}


/* the last client left */

static void
ngx_http_devmon_account_idle(ngx_http_devmon_account_t *acc)
{
    switch (acc->sub) {

    case NGX_HTTP_DEVMON_SUB_ACTIVE:
        /* a short linger spares an UNSUBSCRIBE/SUBSCRIBE per reconnect */
        ngx_add_timer(&acc->linger, acc->worker->conf->linger
                                    ? acc->worker->conf->linger : 1);
        break;

    case NGX_HTTP_DEVMON_SUB_NONE:
        ngx_http_devmon_account_free(acc);
        break;

    default:
        /* the pending (un)subscribe's confirmation decides */
        break;
    }
}


static void
ngx_http_devmon_account_linger(ngx_event_t *ev)
{
    ngx_http_devmon_account_t *acc = ev->data;

    ngx_http_devmon_worker_t  *w;

    w = acc->worker;

    if (acc->nclients || acc->sub != NGX_HTTP_DEVMON_SUB_ACTIVE) {
        return;
    }

    if (acc->query) {
        ngx_http_devmon_redis_cancel(acc->query);
        acc->query = NULL;
    }

    ngx_http_devmon_evbuf_clear(&acc->held);
    acc->backfill = 0;

    if (ngx_http_devmon_redis_subscribe(&w->sub, &acc->channel, 0)
        == NGX_OK)
    {
        acc->sub = NGX_HTTP_DEVMON_SUB_LEAVING;
        return;
    }

    acc->sub = NGX_HTTP_DEVMON_SUB_NONE;
    w->subscribed--;
    ngx_http_devmon_gauge_add(w->stats, accounts, -1);

    ngx_http_devmon_account_free(acc);
}


static void
ngx_http_devmon_account_free(ngx_http_devmon_account_t *acc)
{
    if (acc->linger.timer_set) {
        ngx_del_timer(&acc->linger);
    }

    if (acc->query) {
        ngx_http_devmon_redis_cancel(acc->query);
    }

    ngx_http_devmon_evbuf_clear(&acc->held);

    ngx_rbtree_delete(&acc->worker->accounts, &acc->sn.node);

    ngx_free(acc);
}


/* pub/sub: confirmations and messages of every channel */

static void
ngx_http_devmon_stream_message(ngx_http_devmon_redis_t *rds,
    redisReply *reply, void *data)
{
    ngx_http_devmon_worker_t *w = data;

    ngx_str_t                   name;
    redisReply                 *kind, *chan;
    ngx_http_devmon_account_t  *acc;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) {
        return;
    }

    kind = reply->element[0];
    chan = reply->element[1];

    if (kind->type != REDIS_REPLY_STRING || chan->type != REDIS_REPLY_STRING
        || chan->len < sizeof("devmon:{}:live") - 1
        || ngx_strncmp(chan->str, "devmon:{", 8) != 0)
    {
        return;
    }

    name.data = (u_char *) chan->str + 8;
    name.len = chan->len - (sizeof("devmon:{}:live") - 1);

    acc = ngx_http_devmon_account_find(w, &name);
    if (acc == NULL) {
        return;
    }

    if (kind->len == 7 && ngx_strncmp(kind->str, "message", 7) == 0) {

        if (acc->sub == NGX_HTTP_DEVMON_SUB_ACTIVE
            && reply->element[2]->type == REDIS_REPLY_STRING)
        {
            ngx_http_devmon_stream_publish(acc,
                                           (u_char *) reply->element[2]->str,
                                           reply->element[2]->len);
        }

        return;
    }

    if (kind->len == 9 && ngx_strncmp(kind->str, "subscribe", 9) == 0) {

        if (acc->sub != NGX_HTTP_DEVMON_SUB_PENDING) {
            return;
        }

        acc->sub = NGX_HTTP_DEVMON_SUB_ACTIVE;
        w->subscribed++;
        ngx_http_devmon_gauge_add(w->stats, accounts, 1);

        if (acc->nclients == 0) {
            ngx_http_devmon_account_idle(acc);

        } else {
            /* only now may snapshots be taken: nothing can slip between */
            ngx_http_devmon_stream_kick(acc);
        }

        return;
    }

    if (kind->len == 11 && ngx_strncmp(kind->str, "unsubscribe", 11) == 0) {

        if (acc->sub != NGX_HTTP_DEVMON_SUB_LEAVING) {
            return;
        }

        acc->sub = NGX_HTTP_DEVMON_SUB_NONE;
        w->subscribed--;
        ngx_http_devmon_gauge_add(w->stats, accounts, -1);

        if (acc->nclients) {
            /* clients came back during the unsubscribe */
            ngx_http_devmon_account_subscribe(acc);

        } else {
            ngx_http_devmon_account_free(acc);
        }
    }
}


/* one published event: parsed once, one frame for every client */

static void
ngx_http_devmon_stream_publish(ngx_http_devmon_account_t *acc, u_char *p,
    size_t len)
{
    ngx_queue_t                *q, *next;
    ngx_devmon_event_t          pe;
    ngx_http_devmon_event_t    *ev;
    ngx_http_devmon_worker_t   *w;
    ngx_http_devmon_client_t   *cl;

    w = acc->worker;

    if (ngx_devmon_event_parse_live(p, len, &pe) != 0) {
        if (!acc->warned) {
            acc->warned = 1;
            ngx_log_error(NGX_LOG_WARN, w->log, 0,
                          "devmon: ignored a message on \"%V\" that is not "
                          "\"<epoch> <event with id>\"", &acc->channel);
        }

        return;
    }

    ngx_http_devmon_stats_inc(w->stats, events, 1);

    if (acc->epoch_len
        && (acc->epoch_len != pe.epoch_len
            || ngx_memcmp(acc->epoch, pe.epoch, pe.epoch_len) != 0))
    {
        /* another history of the stream: every client starts over */

        ngx_memcpy(acc->epoch, pe.epoch, pe.epoch_len);
        acc->epoch_len = pe.epoch_len;
        acc->last.ms = 0;
        acc->last.seq = 0;

        if (acc->query) {
            ngx_http_devmon_redis_cancel(acc->query);
            acc->query = NULL;
        }

        ngx_http_devmon_evbuf_clear(&acc->held);
        acc->backfill = 0;
        acc->overflow = 0;

        for (q = ngx_queue_head(&acc->clients);
             q != ngx_queue_sentinel(&acc->clients);
             q = next)
        {
            next = ngx_queue_next(q);
            cl = ngx_queue_data(q, ngx_http_devmon_client_t, queue);

            ngx_http_devmon_replay_restart(cl, NGX_HTTP_DEVMON_RESET_EPOCH);
        }

        return;
    }

    if (acc->epoch_len == 0) {
        /* the account's first history: its epoch goes before its event */
        ngx_memcpy(acc->epoch, pe.epoch, pe.epoch_len);
        acc->epoch_len = pe.epoch_len;

        ngx_http_devmon_stream_epoch(acc, NULL);
    }

    ev = ngx_http_devmon_event_create(w->log, NULL, 0, pe.json, pe.json_len);
    if (ev == NULL) {
        return;
    }

    /*
     * Latency is taken when the frame's last byte first reaches a client
     * socket of this worker (one sample per event and worker).
     */

    ev->frame->sent = ngx_http_devmon_stream_frame_sent;
    ev->frame->sent_data = w->stats;
    ev->frame->sent_stamp = ev->published;

    if (acc->backfill) {
        /*
         * The replay from the stream goes first.  More held back than a
         * replay may bring cannot be resumed anyway: the backfill ends in
         * a reset and a snapshot, so nothing more is kept.
         */

        if (!acc->overflow
            && (acc->held.nelts >= w->conf->replay_max
                || ngx_http_devmon_evbuf_push(&acc->held, ev, w->log)
                   != NGX_OK))
        {
            acc->overflow = 1;
            ngx_http_devmon_evbuf_clear(&acc->held);
        }

    } else {
        ngx_http_devmon_stream_deliver(acc, ev);
    }

    ngx_http_devmon_event_release(ev);
}


/*
 * A snapshot taken before the account's stream existed has an empty epoch.
 * The history that starts after it is wholly delivered live, so such
 * clients follow it from its first event: they are told its epoch before
 * that event, in {"type":"epoch","epoch":"E"} (one frame for all of them),
 * and can resume in it.  only: that client alone (its snapshot just came),
 * else every live client still on the empty epoch.
 */

void
ngx_http_devmon_stream_epoch(ngx_http_devmon_account_t *acc,
    ngx_http_devmon_client_t *only)
{
    u_char                    *p;
    ngx_queue_t               *q;
    ngx_http_devmon_frame_t   *f;
    ngx_http_devmon_client_t  *cl;
    u_char                     text[sizeof("{\"type\":\"epoch\","
                                           "\"epoch\":\"\"}")
                                    + NGX_DEVMON_EPOCH_LEN * 6];

    if (acc->epoch_len == 0) {
        return;
    }

    f = NULL;

    for (q = ngx_queue_head(&acc->clients);
         q != ngx_queue_sentinel(&acc->clients);
         q = ngx_queue_next(q))
    {
        cl = ngx_queue_data(q, ngx_http_devmon_client_t, queue);

        if ((only ? cl != only : cl->state != NGX_HTTP_DEVMON_CLIENT_LIVE)
            || cl->closed || !cl->have_point || cl->epoch_len)
        {
            continue;
        }

        if (f == NULL) {
            p = ngx_cpymem(text, "{\"type\":\"epoch\",\"epoch\":\"",
                           sizeof("{\"type\":\"epoch\",\"epoch\":\"") - 1);
            p = (u_char *) ngx_escape_json(p, acc->epoch, acc->epoch_len);
            p = ngx_cpymem(p, "\"}", 2);

            f = ngx_http_devmon_frame_create(acc->worker->log,
                                             NGX_DEVMON_WS_OP_TEXT, text,
                                             p - text);
            if (f == NULL) {
                /* untold, they stay on the empty epoch: a resume resets */
                return;
            }
        }

        ngx_memcpy(cl->epoch, acc->epoch, acc->epoch_len);
        cl->epoch_len = acc->epoch_len;

        (void) ngx_http_devmon_stream_frame(cl, f);
    }

    if (f) {
        ngx_http_devmon_frame_release(f);
    }
}


static void
ngx_http_devmon_stream_frame_sent(ngx_http_devmon_frame_t *f)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    ngx_http_devmon_stats_latency(f->sent_data,
        (ngx_msec_int_t) ((uint64_t) tp->sec * 1000 + tp->msec
                          - f->sent_stamp));
}


void
ngx_http_devmon_stream_deliver(ngx_http_devmon_account_t *acc,
    ngx_http_devmon_event_t *ev)
{
    ngx_queue_t               *q;
    ngx_http_devmon_client_t  *cl;

    if (ngx_devmon_id_cmp(&ev->id, &acc->last) <= 0) {
        return;
    }

    acc->last = ev->id;

    for (q = ngx_queue_head(&acc->clients);
         q != ngx_queue_sentinel(&acc->clients);
         q = ngx_queue_next(q))
    {
        cl = ngx_queue_data(q, ngx_http_devmon_client_t, queue);

        if (cl->closed) {
            continue;
        }

        switch (cl->state) {

        case NGX_HTTP_DEVMON_CLIENT_LIVE:
            ngx_http_devmon_stream_send(cl, ev);
            break;

        case NGX_HTTP_DEVMON_CLIENT_QUERY:
            if (cl->held.nelts < cl->ws->conf->queue_frames) {
                if (ngx_http_devmon_evbuf_push(&cl->held, ev,
                                               acc->worker->log)
                    != NGX_OK)
                {
                    /* a gap would follow: better a resume elsewhere */
                    ngx_http_devmon_stream_fail(cl,
                                                NGX_DEVMON_WS_CLOSE_INTERNAL,
                                                NULL);
                }

                break;
            }

            ngx_http_devmon_stats_inc(acc->worker->stats, slow_closes, 1);
            ngx_http_devmon_stream_fail(cl, NGX_HTTP_DEVMON_WS_CLOSE_SLOW,
                                        "too slow");
            break;

        default:
            /* waiting: its snapshot or replay will cover this event */
            break;
        }
    }
}


void
ngx_http_devmon_stream_send(ngx_http_devmon_client_t *cl,
    ngx_http_devmon_event_t *ev)
{
    if (cl->closed || ngx_devmon_id_cmp(&ev->id, &cl->last) <= 0) {
        return;
    }

    cl->last = ev->id;

    /*
     * Events without a device (region heartbeats) pass device filters,
     * and events without a region pass region filters.
     */

    if (!ngx_http_devmon_filter_match(&cl->devices, ev->device_hash,
                                      &ev->device)
        || !ngx_http_devmon_filter_match(&cl->regions, ev->region_hash,
                                         &ev->region))
    {
        return;
    }

    (void) ngx_http_devmon_stream_frame(cl, ev->frame);
}


/* a frame to one client, counted; a refusal means the client is closing */

ngx_int_t
ngx_http_devmon_stream_frame(ngx_http_devmon_client_t *cl,
    ngx_http_devmon_frame_t *f)
{
    ngx_uint_t                closing;
    ngx_http_devmon_stats_t  *st;

    st = cl->worker->stats;
    closing = cl->ws->close_sent;

    if (ngx_http_devmon_ws_send(cl->ws, f) == NGX_OK) {
        ngx_http_devmon_stats_inc(st, frames, 1);
        ngx_http_devmon_stats_inc(st, bytes, f->len);
        return NGX_OK;
    }

    if (!closing) {
        /* the ws layer closes with 4008 */
        ngx_http_devmon_stats_inc(st, slow_closes, 1);
    }

    cl->closed = 1;

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_devmon_stream_text(ngx_http_devmon_client_t *cl, u_char *text,
    size_t len)
{
    ngx_int_t                 rc;
    ngx_http_devmon_frame_t  *f;

    if (cl->closed) {
        return NGX_DECLINED;
    }

    f = ngx_http_devmon_frame_create(cl->worker->log, NGX_DEVMON_WS_OP_TEXT,
                                     text, len);
    if (f == NULL) {
        ngx_http_devmon_stream_fail(cl, NGX_DEVMON_WS_CLOSE_INTERNAL, NULL);
        return NGX_ERROR;
    }

    rc = ngx_http_devmon_stream_frame(cl, f);

    ngx_http_devmon_frame_release(f);

    return rc;
}


/* the client's query and the live events held for it go: it waits again */

void
ngx_http_devmon_stream_wait(ngx_http_devmon_client_t *cl)
{
    if (cl->query) {
        ngx_http_devmon_redis_cancel(cl->query);
        cl->query = NULL;
    }

    ngx_http_devmon_evbuf_clear(&cl->held);

    cl->state = NGX_HTTP_DEVMON_CLIENT_WAIT;
}


/* ends a client from inside the stream code: no more output, no queries */

void
ngx_http_devmon_stream_fail(ngx_http_devmon_client_t *cl, ngx_uint_t code,
    const char *reason)
{
    ngx_http_devmon_stream_wait(cl);
    cl->closed = 1;

    ngx_http_devmon_ws_close(cl->ws, code, reason);
}


ngx_int_t
ngx_http_devmon_stream_hello(ngx_http_devmon_client_t *cl, u_char *epoch,
    size_t len)
{
    u_char                      *p, *text, *last;
    size_t                       size;
    ngx_int_t                    rc;
    ngx_http_devmon_ws_conf_t   *wcf;

    wcf = cl->ws->conf;

    /* an upper bound: what is written, and never more, is sent */

    size = sizeof("{\"type\":\"hello\",\"session\":\"-\",\"epoch\":\"\","
                  "\"limits\":{\"queue_frames\":,\"queue_bytes\":,"
                  "\"max_message\":,\"replay_max\":,\"ping_interval\":}}")
           + NGX_INT_T_LEN * 7 + ngx_escape_json(NULL, epoch, len) + len;

    text = ngx_alloc(size, cl->worker->log);
    if (text == NULL) {
        ngx_http_devmon_stream_fail(cl, NGX_DEVMON_WS_CLOSE_INTERNAL, NULL);
        return NGX_ERROR;
    }

    last = text + size;

    p = ngx_slprintf(text, last,
                     "{\"type\":\"hello\",\"session\":\"%P-%ui\","
                     "\"epoch\":\"", ngx_pid, cl->session);
    p = (u_char *) ngx_escape_json(p, epoch, len);
    p = ngx_slprintf(p, last, "\",\"limits\":{\"queue_frames\":%ui,"
                     "\"queue_bytes\":%uz,\"max_message\":%uz,"
                     "\"replay_max\":%ui,\"ping_interval\":%M}}",
                     wcf->queue_frames, wcf->queue_bytes, wcf->max_message,
                     cl->worker->conf->replay_max, wcf->ping_interval);

    cl->hello_sent = 1;

    rc = ngx_http_devmon_stream_text(cl, text, p - text);

    ngx_free(text);

    return rc;
}


/* client messages: "subscribe" / "unsubscribe" set the filters */

ngx_int_t
ngx_http_devmon_stream_on_message(ngx_http_devmon_ws_t *ws, ngx_str_t *type,
    json_t *json)
{
    ngx_uint_t                 add;
    ngx_http_devmon_client_t  *cl;

    if (type->len == 9 && ngx_strncmp(type->data, "subscribe", 9) == 0) {
        add = 1;

    } else if (type->len == 11
               && ngx_strncmp(type->data, "unsubscribe", 11) == 0)
    {
        add = 0;

    } else {
        return NGX_DECLINED;
    }

    cl = ws->client;

    if (cl == NULL) {
        /* streams are off here: an unknown message type */
        return NGX_DECLINED;
    }

    if (cl->closed) {
        return NGX_OK;
    }

    return ngx_http_devmon_client_filter(cl, json, add);
}


static ngx_int_t
ngx_http_devmon_client_filter(ngx_http_devmon_client_t *cl, json_t *json,
    ngx_uint_t add)
{
    char    *text;
    json_t  *devices, *regions, *ack;

    devices = json_object_get(json, "devices");
    regions = json_object_get(json, "regions");

    if ((devices && !json_is_array(devices))
        || (regions && !json_is_array(regions)))
    {
        (void) ngx_http_devmon_ws_send_error(cl->ws, "bad_message",
                   "\"devices\" and \"regions\" must be arrays of strings");
        return NGX_OK;
    }

    if (!add && devices == NULL && regions == NULL) {
        /* a bare "unsubscribe" drops every filter: everything again */
        ngx_http_devmon_filter_free(&cl->devices);
        ngx_http_devmon_filter_free(&cl->regions);

    } else {
        /* both lists are checked before either is applied */

        if ((devices
             && ngx_http_devmon_filter_check(&cl->devices, devices, add)
                != NGX_OK)
            || (regions
                && ngx_http_devmon_filter_check(&cl->regions, regions, add)
                   != NGX_OK))
        {
            (void) ngx_http_devmon_ws_send_error(cl->ws, "bad_filter",
                       "filters are arrays of at most 1024 non-empty "
                       "strings; \"*\" alone means every one, and "
                       "unsubscribing needs a list subscribed first");
            return NGX_OK;
        }

        if ((devices
             && ngx_http_devmon_filter_update(&cl->devices, devices, add,
                                              cl->worker->log)
                != NGX_OK)
            || (regions
                && ngx_http_devmon_filter_update(&cl->regions, regions, add,
                                                 cl->worker->log)
                   != NGX_OK))
        {
            ngx_http_devmon_stream_fail(cl, NGX_DEVMON_WS_CLOSE_INTERNAL,
                                        NULL);
            return NGX_ERROR;
        }
    }

    /* the answer tells the client from when on its filter applies */

    ack = json_pack("{s:s, s:o, s:o}", "type", "subscribed",
                    "devices", ngx_http_devmon_filter_json(&cl->devices),
                    "regions", ngx_http_devmon_filter_json(&cl->regions));
    if (ack == NULL) {
        return NGX_OK;
    }

    text = json_dumps(ack, JSON_COMPACT);
    json_decref(ack);

    if (text == NULL) {
        return NGX_OK;
    }

    (void) ngx_http_devmon_stream_text(cl, (u_char *) text, ngx_strlen(text));

    free(text);

    return NGX_OK;
}


/*
 * A frame made with ngx_http_devmon_frame_create(log, op, NULL, size)
 * and written in place: size was an upper bound, len is what the writer
 * wrote and what the header announces.  The header is encoded again right
 * before the payload; a shorter payload never needs a longer header.
 */

void
ngx_http_devmon_stream_frame_fit(ngx_http_devmon_frame_t *f, size_t len)
{
    size_t  hlen;

    hlen = ngx_devmon_ws_header_size(len);

    f->data = f->payload - hlen;
    (void) ngx_devmon_ws_encode_header(f->data, f->opcode, len);
    f->len = hlen + len;
}


/* events */

ngx_http_devmon_event_t *
ngx_http_devmon_event_create(ngx_log_t *log, const u_char *id, size_t id_len,
    const u_char *json, size_t len)
{
    u_char                   *p;
    size_t                    size;
    const u_char             *rest, *end;
    ngx_devmon_event_t        pe;
    ngx_http_devmon_frame_t  *f;
    ngx_http_devmon_event_t  *ev;

    if (len < 2 || json[0] != '{') {
        return NULL;
    }

    /*
     * A stream entry holds the event without its id: the id is spliced
     * in first.  size is an upper bound; the frame gets what was written.
     */

    size = len;

    if (id) {
        size += sizeof("\"id\":\"\",") - 1 + id_len;
    }

    f = ngx_http_devmon_frame_create(log, NGX_DEVMON_WS_OP_TEXT,
                                     id ? NULL : (u_char *) json, size);
    if (f == NULL) {
        return NULL;
    }

    if (id) {
        end = json + len;

        for (rest = json + 1;
             rest < end
             && (*rest == ' ' || *rest == '\t' || *rest == '\r'
                 || *rest == '\n');
             rest++)
        {
            /* void */
        }

        p = f->payload;
        p = ngx_cpymem(p, "{\"id\":\"", sizeof("{\"id\":\"") - 1);
        p = ngx_cpymem(p, id, id_len);
        *p++ = '"';

        if (rest < end && *rest != '}') {
            /* members follow; none in "{}" */
            *p++ = ',';
        }

        p = ngx_cpymem(p, rest, end - rest);

        size = p - f->payload;
        ngx_http_devmon_stream_frame_fit(f, size);
    }

    if (ngx_devmon_event_parse(f->payload, size, &pe) != 0) {
        ngx_http_devmon_frame_release(f);
        return NULL;
    }

    ev = ngx_alloc(sizeof(ngx_http_devmon_event_t), log);
    if (ev == NULL) {
        ngx_http_devmon_frame_release(f);
        return NULL;
    }

    ev->refs = 1;
    ev->frame = f;
    ev->id.ms = pe.id.ms;
    ev->id.seq = pe.id.seq;
    /* the publish time: "t" may be older (a result that waited) */
    ev->published = pe.id.ms;
    ev->device.data = (u_char *) pe.device;
    ev->device.len = pe.device ? pe.device_len : 0;
    ev->region.data = (u_char *) pe.region;
    ev->region.len = pe.region ? pe.region_len : 0;
    ev->device_hash = ngx_hash_key(ev->device.data, ev->device.len);
    ev->region_hash = ngx_hash_key(ev->region.data, ev->region.len);

    return ev;
}


void
ngx_http_devmon_event_release(ngx_http_devmon_event_t *ev)
{
    if (--ev->refs == 0) {
        ngx_http_devmon_frame_release(ev->frame);
        ngx_free(ev);
    }
}


ngx_int_t
ngx_http_devmon_evbuf_push(ngx_http_devmon_evbuf_t *b,
    ngx_http_devmon_event_t *ev, ngx_log_t *log)
{
    ngx_uint_t                 n;
    ngx_http_devmon_event_t  **elts;

    if (b->nelts == b->nalloc) {
        n = b->nalloc ? b->nalloc * 2 : 16;

        elts = ngx_alloc(n * sizeof(ngx_http_devmon_event_t *), log);
        if (elts == NULL) {
            return NGX_ERROR;
        }

        if (b->elts) {
            ngx_memcpy(elts, b->elts,
                       b->nelts * sizeof(ngx_http_devmon_event_t *));
            ngx_free(b->elts);
        }

        b->elts = elts;
        b->nalloc = n;
    }

    ev->refs++;
    b->elts[b->nelts++] = ev;

    return NGX_OK;
}


void
ngx_http_devmon_evbuf_clear(ngx_http_devmon_evbuf_t *b)
{
    ngx_uint_t  i;

    for (i = 0; i < b->nelts; i++) {
        ngx_http_devmon_event_release(b->elts[i]);
    }

    if (b->elts) {
        ngx_free(b->elts);
    }

    b->elts = NULL;
    b->nelts = 0;
    b->nalloc = 0;
}
