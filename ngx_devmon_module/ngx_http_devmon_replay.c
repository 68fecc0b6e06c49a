/* Snapshot and replay from Redis: resume, reset, backfill, devmon_snapshot. */

/*
 * Copyright (C) devmon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_devmon_module.h"
#include "ngx_http_devmon_stream.h"
#include "ngx_http_devmon_replay.h"
#include "ngx_http_devmon_auth.h"


/* "devmon:{" account "}:devices" */
#define NGX_HTTP_DEVMON_KEY_LEN  (NGX_HTTP_DEVMON_ACCOUNT_MAX + 20)


typedef struct {
    ngx_http_request_t              *request;
    ngx_http_devmon_redis_cmd_t     *query;
} ngx_http_devmon_snapshot_ctx_t;


static ngx_http_devmon_redis_cmd_t *ngx_http_devmon_replay_range(
    ngx_http_devmon_redis_t *rds, ngx_str_t *account, ngx_devmon_id_t *from,
    ngx_uint_t max, ngx_http_devmon_redis_reply_pt handler, void *data);
static ngx_http_devmon_redis_cmd_t *ngx_http_devmon_replay_snapshot(
    ngx_http_devmon_redis_t *rds, ngx_str_t *account,
    ngx_http_devmon_redis_reply_pt handler, void *data);
static void ngx_http_devmon_replay_key(ngx_http_devmon_redis_argv_t *cmd,
    char *verb, u_char *buf, ngx_str_t *account, char *suffix);
static void ngx_http_devmon_replay_edge(ngx_http_devmon_redis_argv_t *cmd,
    ngx_uint_t newest, u_char *buf, ngx_str_t *account);
static void ngx_http_devmon_replay_range_done(ngx_http_devmon_redis_t *rds,
    redisReply *reply, void *data);
static void ngx_http_devmon_replay_snapshot_done(
    ngx_http_devmon_redis_t *rds, redisReply *reply, void *data);
static void ngx_http_devmon_replay_backfill_done(
    ngx_http_devmon_redis_t *rds, redisReply *reply, void *data);
static ngx_uint_t ngx_http_devmon_replay_check(redisReply *reply,
    u_char *epoch, size_t epoch_len, ngx_devmon_id_t *from, ngx_uint_t max);
static ngx_int_t ngx_http_devmon_replay_entry_id(redisReply *entries,
    ngx_devmon_id_t *id);
static ngx_int_t ngx_http_devmon_replay_hello(ngx_http_devmon_client_t *cl,
    redisReply *epoch);
static size_t ngx_http_devmon_replay_epoch(u_char *dst, redisReply *epoch);
static void ngx_http_devmon_replay_flush(ngx_http_devmon_client_t *cl);
static void ngx_http_devmon_replay_failed(ngx_http_devmon_client_t *cl,
    redisReply *reply);
static ngx_int_t ngx_http_devmon_replay_reset(ngx_http_devmon_client_t *cl,
    redisReply *epoch);
static ngx_http_devmon_event_t *ngx_http_devmon_replay_entry(ngx_log_t *log,
    redisReply *entry);
static ngx_int_t ngx_http_devmon_replay_snapshot_valid(redisReply *reply);
static size_t ngx_http_devmon_replay_snapshot_size(redisReply *reply);
static void ngx_http_devmon_replay_snapshot_last(redisReply *reply,
    ngx_devmon_id_t *last);
static u_char *ngx_http_devmon_replay_snapshot_write(u_char *p,
    u_char *end, redisReply *reply, ngx_devmon_id_t *last);
static ngx_int_t ngx_http_devmon_snapshot_handler(ngx_http_request_t *r);
static void ngx_http_devmon_snapshot_done(ngx_http_devmon_redis_t *rds,
    redisReply *reply, void *data);
static void ngx_http_devmon_snapshot_cleanup(void *data);


static const char  *ngx_http_devmon_reset_names[] = {
    "", "epoch", "window", "gone", "too_far", "invalid_since"
};


/* a client's first (or renewed) sync: resume from its point, or snapshot */

void
ngx_http_devmon_replay_start(ngx_http_devmon_client_t *cl)
{
    ngx_http_devmon_worker_t     *w;
    ngx_http_devmon_redis_cmd_t  *cmd;

    w = cl->worker;

    if (cl->have_point) {
        cmd = ngx_http_devmon_replay_range(&w->cmd, &cl->account->sn.str,
                                           &cl->last, w->conf->replay_max,
                                           ngx_http_devmon_replay_range_done,
                                           cl);

    } else {
        cmd = ngx_http_devmon_replay_snapshot(&w->cmd, &cl->account->sn.str,
                                        ngx_http_devmon_replay_snapshot_done,
                                        cl);
    }

    if (cmd == NULL) {
        /* the command link is going down: it kicks us when it is back */
        cl->state = NGX_HTTP_DEVMON_CLIENT_WAIT;
        return;
    }

    cl->query = cmd;
    cl->state = NGX_HTTP_DEVMON_CLIENT_QUERY;
}


/* the client's resume point is lost: reset, then a fresh snapshot */

void
ngx_http_devmon_replay_restart(ngx_http_devmon_client_t *cl,
    ngx_uint_t reason)
{
    if (cl->closed) {
        return;
    }

    ngx_http_devmon_stream_wait(cl);

    cl->reset = reason;
    cl->have_point = 0;

    ngx_http_devmon_stream_kick_client(cl);
}


/*
 * After the subscriber link came back: one XRANGE per account from the
 * oldest point its live clients have, fanned out like live events, then
 * what pub/sub delivered meanwhile.
 */

void
ngx_http_devmon_replay_backfill(ngx_http_devmon_account_t *acc)
{
    ngx_uint_t                    i, found;
    ngx_queue_t                  *q, *next;
    ngx_devmon_id_t               from;
    ngx_http_devmon_client_t     *cl;
    ngx_http_devmon_redis_cmd_t  *cmd;

    found = 0;
    from.ms = 0;
    from.seq = 0;

    for (q = ngx_queue_head(&acc->clients);
         q != ngx_queue_sentinel(&acc->clients);
         q = ngx_queue_next(q))
    {
        cl = ngx_queue_data(q, ngx_http_devmon_client_t, queue);

        if (cl->state != NGX_HTTP_DEVMON_CLIENT_LIVE || cl->closed) {
            continue;
        }

        if (!found || ngx_devmon_id_cmp(&cl->last, &from) < 0) {
            from = cl->last;
            found = 1;
        }
    }

    if (!found) {
        /* nobody is live: the others sync by themselves */
        acc->backfill = 0;

        if (acc->overflow) {
            /* what queries in flight needed was let go: they start over */
            acc->overflow = 0;

            for (q = ngx_queue_head(&acc->clients);
                 q != ngx_queue_sentinel(&acc->clients);
                 q = next)
            {
                next = ngx_queue_next(q);
                cl = ngx_queue_data(q, ngx_http_devmon_client_t, queue);

                if (cl->state == NGX_HTTP_DEVMON_CLIENT_QUERY) {
                    ngx_http_devmon_replay_restart(cl,
                                                NGX_HTTP_DEVMON_RESET_TOO_FAR);
                }
            }
        }

        for (i = 0; i < acc->held.nelts; i++) {
            ngx_http_devmon_stream_deliver(acc, acc->held.elts[i]);
        }

        ngx_http_devmon_evbuf_clear(&acc->held);
        return;
    }

    cmd = ngx_http_devmon_replay_range(&acc->worker->cmd, &acc->sn.str,
                                       &from, acc->worker->conf->replay_max,
                                       ngx_http_devmon_replay_backfill_done,
                                       acc);
    if (cmd == NULL) {
        return;
    }

    acc->query = cmd;
    acc->from = from;
}


/*
 * GET epoch; XRANGE ev - + COUNT 1 (the oldest entry: is "from" still in
 * the window?); XRANGE ev (from + COUNT max+1 (more than max: too far);
 * XREVRANGE ev + - COUNT 1 (the newest: "from" must not be beyond it).
 */

static ngx_http_devmon_redis_cmd_t *
ngx_http_devmon_replay_range(ngx_http_devmon_redis_t *rds, ngx_str_t *account,
    ngx_devmon_id_t *from, ngx_uint_t max,
    ngx_http_devmon_redis_reply_pt handler, void *data)
{
    u_char                        ev[NGX_HTTP_DEVMON_KEY_LEN];
    u_char                        epoch[NGX_HTTP_DEVMON_KEY_LEN];
    u_char                        start[NGX_DEVMON_ID_LEN + 2];
    u_char                        count[NGX_INT_T_LEN];
    ngx_http_devmon_redis_argv_t  cmds[4];

    ngx_http_devmon_replay_key(&cmds[0], "GET", epoch, account, "epoch");
    ngx_http_devmon_replay_edge(&cmds[1], 0, ev, account);

    /* "(" makes the start exclusive (Redis 6.2) */
    start[0] = '(';

    cmds[2] = cmds[1];
    cmds[2].argv[2] = (char *) start;
    cmds[2].argvlen[2] = 1 + ngx_devmon_id_print(start + 1, from);
    cmds[2].argv[5] = (char *) count;
    cmds[2].argvlen[5] = ngx_sprintf(count, "%ui", max + 1) - count;

    ngx_http_devmon_replay_edge(&cmds[3], 1, ev, account);

    return ngx_http_devmon_redis_multi(rds, handler, data, cmds, 4);
}


/* GET epoch; HGETALL devices; HGETALL state; XREVRANGE ev + - COUNT 1 */

static ngx_http_devmon_redis_cmd_t *
ngx_http_devmon_replay_snapshot(ngx_http_devmon_redis_t *rds,
    ngx_str_t *account, ngx_http_devmon_redis_reply_pt handler, void *data)
{
    u_char                        ev[NGX_HTTP_DEVMON_KEY_LEN];
    u_char                        epoch[NGX_HTTP_DEVMON_KEY_LEN];
    u_char                        devices[NGX_HTTP_DEVMON_KEY_LEN];
    u_char                        state[NGX_HTTP_DEVMON_KEY_LEN];
    ngx_http_devmon_redis_argv_t  cmds[4];

    ngx_http_devmon_replay_key(&cmds[0], "GET", epoch, account, "epoch");
    ngx_http_devmon_replay_key(&cmds[1], "HGETALL", devices, account,
                               "devices");
    ngx_http_devmon_replay_key(&cmds[2], "HGETALL", state, account, "state");
    ngx_http_devmon_replay_edge(&cmds[3], 1, ev, account);

    return ngx_http_devmon_redis_multi(rds, handler, data, cmds, 4);
}


/* "VERB devmon:{A}:suffix", the key printed into buf */

static void
ngx_http_devmon_replay_key(ngx_http_devmon_redis_argv_t *cmd, char *verb,
    u_char *buf, ngx_str_t *account, char *suffix)
{
    cmd->argc = 2;
    cmd->argv[0] = verb;
    cmd->argvlen[0] = ngx_strlen(verb);
    cmd->argv[1] = (char *) buf;
    cmd->argvlen[1] = ngx_sprintf(buf, "devmon:{%V}:%s", account, suffix)
                      - buf;
}


/*
 * XRANGE ev - + COUNT 1 (the oldest entry) or, with "newest",
 * XREVRANGE ev + - COUNT 1; the stream key printed into buf.
 */

static void
ngx_http_devmon_replay_edge(ngx_http_devmon_redis_argv_t *cmd,
    ngx_uint_t newest, u_char *buf, ngx_str_t *account)
{
    ngx_http_devmon_replay_key(cmd, newest ? "XREVRANGE" : "XRANGE", buf,
                               account, "ev");

    cmd->argc = 6;
    cmd->argv[2] = newest ? "+" : "-";
    cmd->argvlen[2] = 1;
    cmd->argv[3] = newest ? "-" : "+";
    cmd->argvlen[3] = 1;
    cmd->argv[4] = "COUNT";
    cmd->argvlen[4] = 5;
    cmd->argv[5] = "1";
    cmd->argvlen[5] = 1;
}


/*
 * Why the entries after "from" cannot be replayed, if they cannot:
 * reply is EXEC's [epoch, oldest entry, entries after from, newest entry].
 */

static ngx_uint_t
ngx_http_devmon_replay_check(redisReply *reply, u_char *epoch,
    size_t epoch_len, ngx_devmon_id_t *from, ngx_uint_t max)
{
    redisReply       *e, *entries;
    ngx_devmon_id_t   oldest, newest;

    e = reply->element[0];
    entries = reply->element[2];

    if (e->type != REDIS_REPLY_STRING || (size_t) e->len != epoch_len
        || ngx_memcmp(e->str, epoch, epoch_len) != 0)
    {
        return NGX_HTTP_DEVMON_RESET_EPOCH;
    }

    if (entries->type != REDIS_REPLY_ARRAY
        || ngx_http_devmon_replay_entry_id(reply->element[1], &oldest)
           != NGX_OK
        || ngx_http_devmon_replay_entry_id(reply->element[3], &newest)
           != NGX_OK)
    {
        return NGX_HTTP_DEVMON_RESET_GONE;
    }

    /*
     * Trimming removes the oldest entries: if the oldest one left is
     * after "from", entries between them may be gone.
     */

    if (ngx_devmon_id_cmp(&oldest, from) > 0) {
        return NGX_HTTP_DEVMON_RESET_WINDOW;
    }

    /* a point this history has not reached would hide what comes next */

    if (ngx_devmon_id_cmp(from, &newest) > 0) {
        return NGX_HTTP_DEVMON_RESET_INVALID;
    }

    if (entries->elements > max) {
        return NGX_HTTP_DEVMON_RESET_TOO_FAR;
    }

    return NGX_HTTP_DEVMON_RESET_NONE;
}


/* the id of the one entry XRANGE/XREVRANGE ... COUNT 1 answered */

static ngx_int_t
ngx_http_devmon_replay_entry_id(redisReply *entries, ngx_devmon_id_t *id)
{
    redisReply  *e;

    if (entries->type != REDIS_REPLY_ARRAY || entries->elements == 0
        || entries->element[0]->type != REDIS_REPLY_ARRAY
        || entries->element[0]->elements < 1)
    {
        return NGX_ERROR;
    }

    e = entries->element[0]->element[0];

    if (e->type != REDIS_REPLY_STRING
        || ngx_devmon_id_parse((u_char *) e->str, e->len, id) != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* hello once, with the epoch of the reply (none if there is no history) */

static ngx_int_t
ngx_http_devmon_replay_hello(ngx_http_devmon_client_t *cl, redisReply *epoch)
{
    if (cl->hello_sent) {
        return NGX_OK;
    }

    if (epoch->type != REDIS_REPLY_STRING) {
        return ngx_http_devmon_stream_hello(cl, NULL, 0);
    }

    return ngx_http_devmon_stream_hello(cl, (u_char *) epoch->str,
                                        epoch->len);
}


/* copies the reply's epoch if it is one; its length, 0 if not */

static size_t
ngx_http_devmon_replay_epoch(u_char *dst, redisReply *epoch)
{
    if (epoch == NULL || epoch->type != REDIS_REPLY_STRING
        || (size_t) epoch->len > NGX_DEVMON_EPOCH_LEN)
    {
        return 0;
    }

    ngx_memcpy(dst, epoch->str, epoch->len);

    return epoch->len;
}


static void
ngx_http_devmon_replay_range_done(ngx_http_devmon_redis_t *rds,
    redisReply *reply, void *data)
{
    ngx_http_devmon_client_t *cl = data;

    size_t                    i;
    ngx_uint_t                reason;
    redisReply               *entries;
    ngx_http_devmon_event_t  *ev;

    cl->query = NULL;

    if (reply == NULL) {
        ngx_http_devmon_stream_wait(cl);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        ngx_http_devmon_replay_failed(cl, reply);
        return;
    }

    if (ngx_http_devmon_replay_hello(cl, reply->element[0]) != NGX_OK) {
        return;
    }

    reason = ngx_http_devmon_replay_check(reply, cl->epoch, cl->epoch_len,
                                          &cl->last,
                                          cl->worker->conf->replay_max);

    if (reason != NGX_HTTP_DEVMON_RESET_NONE) {
        cl->reset = reason;
        cl->have_point = 0;
        ngx_http_devmon_replay_start(cl);
        return;
    }

    entries = reply->element[2];

    for (i = 0; i < entries->elements; i++) {
        ev = ngx_http_devmon_replay_entry(cl->worker->log,
                                          entries->element[i]);
        if (ev == NULL) {
            continue;
        }

        ngx_http_devmon_stream_send(cl, ev);
        ngx_http_devmon_event_release(ev);

        ngx_http_devmon_stats_inc(cl->worker->stats, replayed, 1);
    }

    ngx_http_devmon_replay_flush(cl);
}


static void
ngx_http_devmon_replay_snapshot_done(ngx_http_devmon_redis_t *rds,
    redisReply *reply, void *data)
{
    ngx_http_devmon_client_t *cl = data;

    u_char                    *p;
    size_t                     size;
    redisReply                *epoch;
    ngx_devmon_id_t            last;
    ngx_http_devmon_frame_t   *f;
    ngx_http_devmon_account_t *acc;

    cl->query = NULL;

    if (reply == NULL) {
        ngx_http_devmon_stream_wait(cl);
        return;
    }

    if (ngx_http_devmon_replay_snapshot_valid(reply) != NGX_OK) {
        ngx_http_devmon_replay_failed(cl, reply);
        return;
    }

    epoch = reply->element[0];

    if (ngx_http_devmon_replay_hello(cl, epoch) != NGX_OK) {
        return;
    }

    if (cl->reset && ngx_http_devmon_replay_reset(cl, epoch) != NGX_OK) {
        return;
    }

    size = ngx_http_devmon_replay_snapshot_size(reply);

    f = ngx_http_devmon_frame_create(cl->worker->log, NGX_DEVMON_WS_OP_TEXT,
                                     NULL, size);
    if (f == NULL) {
        ngx_http_devmon_stream_fail(cl, NGX_DEVMON_WS_CLOSE_INTERNAL, NULL);
        return;
    }

    p = ngx_http_devmon_replay_snapshot_write(f->payload, f->payload + size,
                                              reply, &last);
    if (p == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cl->worker->log, 0,
                      "devmon: snapshot of account \"%V\" outgrew its "
                      "size", &cl->account->sn.str);
        ngx_http_devmon_frame_release(f);
        ngx_http_devmon_stream_fail(cl, NGX_DEVMON_WS_CLOSE_INTERNAL, NULL);
        return;
    }

    ngx_http_devmon_stream_frame_fit(f, p - f->payload);

    (void) ngx_http_devmon_stream_frame(cl, f);

    ngx_http_devmon_frame_release(f);

    if (cl->closed) {
        return;
    }

    /* the snapshot is the client's new resume point */

    cl->epoch_len = ngx_http_devmon_replay_epoch(cl->epoch, epoch);

    cl->last = last;
    cl->have_point = 1;

    acc = cl->account;

    if (acc->epoch_len == 0 && cl->epoch_len) {
        /* clients live on the empty history learn it has a name now */
        ngx_memcpy(acc->epoch, cl->epoch, cl->epoch_len);
        acc->epoch_len = cl->epoch_len;

        ngx_http_devmon_stream_epoch(acc, NULL);

    } else if (cl->epoch_len == 0 && acc->epoch_len) {
        /* the history began after this snapshot: all of it comes live */
        ngx_http_devmon_stream_epoch(acc, cl);
    }

    ngx_http_devmon_replay_flush(cl);
}


/* what pub/sub delivered while the query ran, then live */

static void
ngx_http_devmon_replay_flush(ngx_http_devmon_client_t *cl)
{
    ngx_uint_t  i;

    for (i = 0; i < cl->held.nelts; i++) {
        ngx_http_devmon_stream_send(cl, cl->held.elts[i]);
    }

    ngx_http_devmon_evbuf_clear(&cl->held);

    if (!cl->closed) {
        cl->state = NGX_HTTP_DEVMON_CLIENT_LIVE;
    }
}


static void
ngx_http_devmon_replay_failed(ngx_http_devmon_client_t *cl, redisReply *reply)
{
    ngx_log_error(NGX_LOG_ERR, cl->worker->log, 0,
                  "devmon: snapshot or replay of account \"%V\" failed: %*s",
                  &cl->account->sn.str,
                  reply->type == REDIS_REPLY_ERROR ? (size_t) reply->len
                                                   : sizeof("bad reply") - 1,
                  reply->type == REDIS_REPLY_ERROR ? reply->str
                                                   : "bad reply");

    (void) ngx_http_devmon_ws_send_error(cl->ws, "broker_error",
                                         "the broker refused a query");

    ngx_http_devmon_stream_fail(cl, NGX_DEVMON_WS_CLOSE_INTERNAL,
                                "broker error");
}


static ngx_int_t
ngx_http_devmon_replay_reset(ngx_http_devmon_client_t *cl, redisReply *epoch)
{
    u_char     *p;
    size_t      len;
    ngx_int_t   rc;
    u_char      value[NGX_DEVMON_EPOCH_LEN];
    u_char      text[sizeof("{\"type\":\"reset\",\"epoch\":\"\","
                            "\"reason\":\"invalid_since\"}")
                     + NGX_DEVMON_EPOCH_LEN * 6];

    len = ngx_http_devmon_replay_epoch(value, epoch);

    p = ngx_cpymem(text, "{\"type\":\"reset\",\"epoch\":\"",
                   sizeof("{\"type\":\"reset\",\"epoch\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, value, len);
    p = ngx_slprintf(p, text + sizeof(text), "\",\"reason\":\"%s\"}",
                     ngx_http_devmon_reset_names[cl->reset]);

    cl->reset = NGX_HTTP_DEVMON_RESET_NONE;

    ngx_http_devmon_stats_inc(cl->worker->stats, resets, 1);

    rc = ngx_http_devmon_stream_text(cl, text, p - text);

    return rc == NGX_OK ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_devmon_replay_backfill_done(ngx_http_devmon_redis_t *rds,
    redisReply *reply, void *data)
{
    ngx_http_devmon_account_t *acc = data;

    size_t                     i;
    ngx_uint_t                 reason;
    redisReply                *epoch, *entries;
    ngx_queue_t               *q, *next;
    ngx_http_devmon_event_t   *ev;
    ngx_http_devmon_client_t  *cl;

    acc->query = NULL;

    if (reply == NULL) {
        /* the command link went down; it kicks the account when back */
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        ngx_log_error(NGX_LOG_ERR, acc->worker->log, 0,
                      "devmon: backfill of account \"%V\" failed: %*s",
                      &acc->sn.str,
                      reply->type == REDIS_REPLY_ERROR ? (size_t) reply->len
                                                       : 0,
                      reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        reason = NGX_HTTP_DEVMON_RESET_GONE;
        epoch = NULL;

    } else {
        epoch = reply->element[0];

        if (acc->epoch_len == 0) {
            acc->epoch_len = ngx_http_devmon_replay_epoch(acc->epoch, epoch);
        }

        reason = ngx_http_devmon_replay_check(reply, acc->epoch,
                                              acc->epoch_len, &acc->from,
                                              acc->worker->conf->replay_max);

        if (reason == NGX_HTTP_DEVMON_RESET_NONE && acc->overflow) {
            reason = NGX_HTTP_DEVMON_RESET_TOO_FAR;
        }
    }

    if (reason != NGX_HTTP_DEVMON_RESET_NONE) {

        /* the gap cannot be filled: live clients are told and start over */

        /* 0 with no history yet: the next publish names it */
        acc->epoch_len = ngx_http_devmon_replay_epoch(acc->epoch, epoch);

        acc->last.ms = 0;
        acc->last.seq = 0;
        acc->backfill = 0;
        acc->overflow = 0;
        ngx_http_devmon_evbuf_clear(&acc->held);

        for (q = ngx_queue_head(&acc->clients);
             q != ngx_queue_sentinel(&acc->clients);
             q = next)
        {
            next = ngx_queue_next(q);
            cl = ngx_queue_data(q, ngx_http_devmon_client_t, queue);

            /* a query in flight counted on the events let go, too */
            if (cl->state != NGX_HTTP_DEVMON_CLIENT_WAIT) {
                ngx_http_devmon_replay_restart(cl, reason);
            }
        }

        return;
    }

    entries = reply->element[2];

    acc->backfill = 0;

    /* a first history that began while the link was down */
    ngx_http_devmon_stream_epoch(acc, NULL);

    for (i = 0; i < entries->elements; i++) {
        ev = ngx_http_devmon_replay_entry(acc->worker->log,
                                          entries->element[i]);
        if (ev == NULL) {
            continue;
        }

        ngx_http_devmon_stream_deliver(acc, ev);
        ngx_http_devmon_event_release(ev);

        ngx_http_devmon_stats_inc(acc->worker->stats, replayed, 1);
    }

    for (i = 0; i < acc->held.nelts; i++) {
        ngx_http_devmon_stream_deliver(acc, acc->held.elts[i]);
    }

    ngx_http_devmon_evbuf_clear(&acc->held);
}


/* a stream entry [id, [field, value, ...]] as an event with its id */

static ngx_http_devmon_event_t *
ngx_http_devmon_replay_entry(ngx_log_t *log, redisReply *entry)
{
    size_t       i;
    redisReply  *id, *fields, *f, *v;

    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) {
        return NULL;
    }

    id = entry->element[0];
    fields = entry->element[1];

    if (id->type != REDIS_REPLY_STRING || fields->type != REDIS_REPLY_ARRAY) {
        return NULL;
    }

    for (i = 0; i + 1 < fields->elements; i += 2) {
        f = fields->element[i];
        v = fields->element[i + 1];

        if (f->type == REDIS_REPLY_STRING && f->len == 1 && f->str[0] == 'e'
            && v->type == REDIS_REPLY_STRING)
        {
            return ngx_http_devmon_event_create(log, (u_char *) id->str,
                                                id->len, (u_char *) v->str,
                                                v->len);
        }
    }

    return NULL;
}


/* EXEC's [epoch, devices hash, state hash, newest entry] */

static ngx_int_t
ngx_http_devmon_replay_snapshot_valid(redisReply *reply)
{
    ngx_uint_t  i;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        return NGX_ERROR;
    }

    for (i = 1; i < 4; i++) {
        if (reply->element[i]->type != REDIS_REPLY_ARRAY) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * {"type":"snapshot","epoch":E,"id":L,"devices":[...],"state":[...]}
 * with the catalogue and state values inserted as stored; a value that
 * is not an object is left out so that the message stays JSON.
 */

static size_t
ngx_http_devmon_replay_snapshot_size(redisReply *reply)
{
    size_t           size, i, k, n;
    u_char           id[NGX_DEVMON_ID_LEN + 1];
    redisReply      *e, *v;
    ngx_devmon_id_t  last;

    /* an upper bound: the writer's length is what is sent */

    e = reply->element[0];

    ngx_http_devmon_replay_snapshot_last(reply, &last);

    size = sizeof("{\"type\":\"snapshot\",\"epoch\":\"\",\"id\":\"\","
                  "\"devices\":[],\"state\":[]}") - 1
           + ngx_devmon_id_print(id, &last);

    if (e->type == REDIS_REPLY_STRING) {
        size += e->len + ngx_escape_json(NULL, (u_char *) e->str, e->len);
    }

    for (k = 1; k <= 2; k++) {
        n = 0;

        for (i = 1; i < reply->element[k]->elements; i += 2) {
            v = reply->element[k]->element[i];

            if (v->type == REDIS_REPLY_STRING && v->len && v->str[0] == '{') {
                size += v->len;
                n++;
            }
        }

        if (n > 1) {
            size += n - 1;
        }
    }

    return size;
}


/* the newest stream id: where the snapshot stands in the history */

static void
ngx_http_devmon_replay_snapshot_last(redisReply *reply, ngx_devmon_id_t *last)
{
    redisReply  *newest, *e;

    last->ms = 0;
    last->seq = 0;

    newest = reply->element[3];

    if (newest->elements == 1
        && newest->element[0]->type == REDIS_REPLY_ARRAY
        && newest->element[0]->elements >= 1
        && newest->element[0]->element[0]->type == REDIS_REPLY_STRING)
    {
        e = newest->element[0]->element[0];

        if (ngx_devmon_id_parse((u_char *) e->str, e->len, last) != 0) {
            last->ms = 0;
            last->seq = 0;
        }
    }
}


/*
 * Writes the snapshot into [p, end): the end of what it wrote, or NULL
 * if it would not fit (ngx_http_devmon_replay_snapshot_size() is wrong).
 */

static u_char *
ngx_http_devmon_replay_snapshot_write(u_char *p, u_char *end,
    redisReply *reply, ngx_devmon_id_t *last)
{
    size_t       i, k, n;
    u_char      *start;
    redisReply  *e, *v;
    u_char       id[NGX_DEVMON_ID_LEN + 1];

    ngx_http_devmon_replay_snapshot_last(reply, last);

    e = reply->element[0];

    n = ngx_devmon_id_print(id, last);

    if ((size_t) (end - p)
        < sizeof("{\"type\":\"snapshot\",\"epoch\":\"\",\"id\":\"\"") - 1
          + n + (e->type == REDIS_REPLY_STRING
                 ? e->len + ngx_escape_json(NULL, (u_char *) e->str, e->len)
                 : 0))
    {
        return NULL;
    }

    p = ngx_cpymem(p, "{\"type\":\"snapshot\",\"epoch\":\"",
                   sizeof("{\"type\":\"snapshot\",\"epoch\":\"") - 1);

    if (e->type == REDIS_REPLY_STRING) {
        p = (u_char *) ngx_escape_json(p, (u_char *) e->str, e->len);
    }

    p = ngx_cpymem(p, "\",\"id\":\"", sizeof("\",\"id\":\"") - 1);
    p = ngx_cpymem(p, id, n);

    for (k = 1; k <= 2; k++) {

        if (k == 1) {
            if ((size_t) (end - p) < sizeof("\",\"devices\":[") - 1) {
                return NULL;
            }

            p = ngx_cpymem(p, "\",\"devices\":[",
                           sizeof("\",\"devices\":[") - 1);

        } else {
            if ((size_t) (end - p) < sizeof("],\"state\":[") - 1) {
                return NULL;
            }

            p = ngx_cpymem(p, "],\"state\":[", sizeof("],\"state\":[") - 1);
        }

        start = p;

        for (i = 1; i < reply->element[k]->elements; i += 2) {
            v = reply->element[k]->element[i];

            if (v->type != REDIS_REPLY_STRING || v->len == 0
                || v->str[0] != '{')
            {
                continue;
            }

            if ((size_t) (end - p) < (size_t) v->len + 1) {
                return NULL;
            }

            if (p != start) {
                *p++ = ',';
            }

            p = ngx_cpymem(p, v->str, v->len);
        }
    }

    if (end - p < 2) {
        return NULL;
    }

    *p++ = ']';
    *p++ = '}';

    return p;
}


/* devmon_snapshot: the same snapshot over plain HTTP */

char *
ngx_http_devmon_snapshot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_devmon_loc_conf_t *dlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (dlcf->serve != NGX_HTTP_DEVMON_NONE) {
        return "is duplicate, or the location already serves devmon";
    }

    dlcf->serve = NGX_HTTP_DEVMON_SNAPSHOT;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_devmon_snapshot_handler;

    /* devmon_redis is required, checked after the http block */

    if (ngx_http_devmon_stream_require(cf, &cmd->name) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_devmon_snapshot_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_str_t                        account;
    ngx_pool_cleanup_t              *cln;
    ngx_http_devmon_worker_t        *w;
    ngx_http_devmon_auth_result_t    res;
    ngx_http_devmon_snapshot_ctx_t  *ctx;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&res, sizeof(ngx_http_devmon_auth_result_t));

    rc = ngx_http_devmon_auth_request(r, &res);
    if (rc != NGX_OK) {
        return ngx_http_devmon_auth_reject(r, &res);
    }

    account.data = (u_char *) res.jwt.account;
    account.len = ngx_strlen(res.jwt.account);

    if (account.len) {
        /* res lives on this stack frame */
        account.data = ngx_pstrdup(r->pool, &account);
        if (account.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_devmon_stream_account(r, &account);

    if (rc == NGX_DECLINED) {
        return ngx_http_devmon_reject(r, NGX_HTTP_BAD_REQUEST, "no_account",
                                      "no valid account for this request",
                                      NULL, NULL);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w = ngx_http_devmon_stream_worker(r);
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (w->cmd.state != NGX_HTTP_DEVMON_REDIS_UP) {
        return ngx_http_devmon_stream_unavailable(r);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_devmon_snapshot_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;

    ctx->query = ngx_http_devmon_replay_snapshot(&w->cmd, &account,
                                                 ngx_http_devmon_snapshot_done,
                                                 ctx);
    if (ctx->query == NULL) {
        return ngx_http_devmon_stream_unavailable(r);
    }

    cln->handler = ngx_http_devmon_snapshot_cleanup;
    cln->data = ctx;

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_devmon_snapshot_done(ngx_http_devmon_redis_t *rds,
    redisReply *reply, void *data)
{
    ngx_http_devmon_snapshot_ctx_t *ctx = data;

    size_t               size;
    ngx_int_t            rc;
    ngx_buf_t           *b;
    ngx_devmon_id_t      last;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ctx->query = NULL;

    if (reply == NULL) {
        rc = ngx_http_devmon_stream_unavailable(r);
        goto done;
    }

    if (ngx_http_devmon_replay_snapshot_valid(reply) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "devmon: snapshot query failed: %*s",
                      reply->type == REDIS_REPLY_ERROR ? (size_t) reply->len
                                                       : 0,
                      reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        rc = NGX_HTTP_BAD_GATEWAY;
        goto done;
    }

    size = ngx_http_devmon_replay_snapshot_size(reply);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    b->last = ngx_http_devmon_replay_snapshot_write(b->pos, b->end, reply,
                                                    &last);
    if (b->last == NULL) {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "devmon: snapshot outgrew its size");
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    rc = ngx_http_devmon_send_buf(r, NGX_HTTP_OK, "application/json", b);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_devmon_snapshot_cleanup(void *data)
{
    ngx_http_devmon_snapshot_ctx_t *ctx = data;

    if (ctx->query) {
        ngx_http_devmon_redis_cancel(ctx->query);
        ctx->query = NULL;
    }
}
