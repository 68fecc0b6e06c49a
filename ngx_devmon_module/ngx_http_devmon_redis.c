/* hiredis async connections driven by nginx events, with timeouts. */

/*
 * Copyright (C) devmon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_devmon_module.h"
#include "ngx_http_devmon_redis.h"


static ngx_int_t ngx_http_devmon_redis_usable(ngx_http_devmon_redis_t *rds);
static ngx_http_devmon_redis_cmd_t *ngx_http_devmon_redis_alloc(
    ngx_http_devmon_redis_t *rds, ngx_http_devmon_redis_reply_pt handler,
    void *data);
static ngx_http_devmon_redis_cmd_t *ngx_http_devmon_redis_queue(
    ngx_http_devmon_redis_t *rds, ngx_http_devmon_redis_reply_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen);
static ngx_int_t ngx_http_devmon_redis_send(ngx_http_devmon_redis_t *rds,
    ngx_http_devmon_redis_cmd_t *cmd, int argc, const char **argv,
    const size_t *argvlen);
static void ngx_http_devmon_redis_drop(ngx_http_devmon_redis_t *rds);
static void ngx_http_devmon_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_devmon_redis_sub_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_devmon_redis_handshake(ngx_http_devmon_redis_t *rds,
    redisReply *reply, void *data);
static void ngx_http_devmon_redis_up(ngx_http_devmon_redis_t *rds);
static void ngx_http_devmon_redis_arm(ngx_http_devmon_redis_t *rds);
static void ngx_http_devmon_redis_retry(ngx_http_devmon_redis_t *rds);
static void ngx_http_devmon_redis_notify(ngx_http_devmon_redis_t *rds);
static ngx_uint_t ngx_http_devmon_redis_level(ngx_http_devmon_redis_t *rds);

static void ngx_http_devmon_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_devmon_redis_on_disconnect(const redisAsyncContext *ac,
    int status);

static void ngx_http_devmon_redis_add_read(void *privdata);
static void ngx_http_devmon_redis_del_read(void *privdata);
static void ngx_http_devmon_redis_add_write(void *privdata);
static void ngx_http_devmon_redis_del_write(void *privdata);
static void ngx_http_devmon_redis_cleanup(void *privdata);

static void ngx_http_devmon_redis_read_handler(ngx_event_t *rev);
static void ngx_http_devmon_redis_write_handler(ngx_event_t *wev);
static void ngx_http_devmon_redis_timer_handler(ngx_event_t *ev);
static void ngx_http_devmon_redis_retry_handler(ngx_event_t *ev);
static void ngx_http_devmon_redis_notify_handler(ngx_event_t *ev);
static void ngx_http_devmon_redis_keepalive_handler(ngx_event_t *ev);


ngx_int_t
ngx_http_devmon_redis_init(ngx_http_devmon_redis_t *rds,
    ngx_http_devmon_redis_conf_t *conf, const char *name, ngx_log_t *log)
{
    ngx_memzero(rds, sizeof(ngx_http_devmon_redis_t));

    rds->conf = conf;
    rds->name = name;
    rds->log = log;

    ngx_queue_init(&rds->pending);
    ngx_queue_init(&rds->free);

    /* cancelable: a Redis timer never keeps an exiting worker alive */

    rds->timer.handler = ngx_http_devmon_redis_timer_handler;
    rds->timer.data = rds;
    rds->timer.log = log;
    rds->timer.cancelable = 1;

    rds->retry.handler = ngx_http_devmon_redis_retry_handler;
    rds->retry.data = rds;
    rds->retry.log = log;
    rds->retry.cancelable = 1;

    rds->notify.handler = ngx_http_devmon_redis_notify_handler;
    rds->notify.data = rds;
    rds->notify.log = log;

    rds->keepalive.handler = ngx_http_devmon_redis_keepalive_handler;
    rds->keepalive.data = rds;
    rds->keepalive.log = log;
    rds->keepalive.cancelable = 1;

    return NGX_OK;
}


void
ngx_http_devmon_redis_connect(ngx_http_devmon_redis_t *rds)
{
    redisAsyncContext  *ac;
    ngx_connection_t   *c;

    if (rds->exiting || rds->ac != NULL) {
        return;
    }

    if (rds->conf->path.len) {
        ac = redisAsyncConnectUnix((char *) rds->conf->path.data);

    } else {
        ac = redisAsyncConnect((char *) rds->conf->host.data,
                               rds->conf->port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, rds->log, 0,
                      "devmon redis %s: out of memory", rds->name);
        goto failed;
    }

    if (ac->err) {
        ngx_log_error(ngx_http_devmon_redis_level(rds),
                      rds->log, 0, "devmon redis %s: connect failed: %s",
                      rds->name, ac->errstr);
        redisAsyncFree(ac);
        goto failed;
    }

    c = ngx_get_connection(ac->c.fd, rds->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        goto failed;
    }

    c->data = rds;
    c->log = rds->log;
    c->read->log = rds->log;
    c->write->log = rds->log;
    c->read->handler = ngx_http_devmon_redis_read_handler;
    c->write->handler = ngx_http_devmon_redis_write_handler;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    rds->ac = ac;
    rds->conn = c;
    rds->state = NGX_HTTP_DEVMON_REDIS_CONNECTING;

    ac->data = rds;
    ac->ev.data = rds;
    ac->ev.addRead = ngx_http_devmon_redis_add_read;
    ac->ev.delRead = ngx_http_devmon_redis_del_read;
    ac->ev.addWrite = ngx_http_devmon_redis_add_write;
    ac->ev.delWrite = ngx_http_devmon_redis_del_write;
    ac->ev.cleanup = ngx_http_devmon_redis_cleanup;

    redisAsyncSetConnectCallback(ac, ngx_http_devmon_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_devmon_redis_on_disconnect);

    /* one deadline covers connect, AUTH and SELECT */
    ngx_add_timer(&rds->timer, rds->conf->connect_timeout);

    /* hiredis learns that connect(2) finished from the first write event */
    ngx_http_devmon_redis_add_write(rds);

    return;

failed:

    rds->unreachable = 1;
    ngx_http_devmon_redis_retry(rds);
}


/* worker exit: no callbacks, no reconnects */

void
ngx_http_devmon_redis_close(ngx_http_devmon_redis_t *rds)
{
    ngx_queue_t                  *q;
    ngx_http_devmon_redis_cmd_t  *cmd;

    rds->exiting = 1;
    rds->on_state = NULL;
    rds->on_message = NULL;

    if (rds->timer.timer_set) {
        ngx_del_timer(&rds->timer);
    }

    if (rds->retry.timer_set) {
        ngx_del_timer(&rds->retry);
    }

    if (rds->keepalive.timer_set) {
        ngx_del_timer(&rds->keepalive);
    }

    if (rds->notify.posted) {
        ngx_delete_posted_event(&rds->notify);
    }

    for (q = ngx_queue_head(&rds->pending);
         q != ngx_queue_sentinel(&rds->pending);
         q = ngx_queue_next(q))
    {
        cmd = ngx_queue_data(q, ngx_http_devmon_redis_cmd_t, queue);
        cmd->handler = NULL;
    }

    if (rds->ac != NULL) {
        rds->ac->onDisconnect = NULL;
        redisAsyncFree(rds->ac);
    }

    while (!ngx_queue_empty(&rds->free)) {
        q = ngx_queue_head(&rds->free);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_http_devmon_redis_cmd_t, queue));
    }
}


ngx_http_devmon_redis_cmd_t *
ngx_http_devmon_redis_command(ngx_http_devmon_redis_t *rds,
    ngx_http_devmon_redis_reply_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    if (ngx_http_devmon_redis_usable(rds) != NGX_OK) {
        return NULL;
    }

    return ngx_http_devmon_redis_queue(rds, handler, data, argc, argv,
                                       argvlen);
}


/* the owner of data goes away before the reply: the reply is dropped */

void
ngx_http_devmon_redis_cancel(ngx_http_devmon_redis_cmd_t *cmd)
{
    cmd->handler = NULL;
    cmd->data = NULL;
}


/*
 * MULTI, the commands, EXEC; the handler gets EXEC's reply.  The command
 * record is taken before anything is sent.  Should a later command still
 * fail (hiredis out of memory), the transaction stays open on the server
 * and would swallow the next client's commands, so the link is dropped.
 */

ngx_http_devmon_redis_cmd_t *
ngx_http_devmon_redis_multi(ngx_http_devmon_redis_t *rds,
    ngx_http_devmon_redis_reply_pt handler, void *data,
    ngx_http_devmon_redis_argv_t *cmds, ngx_uint_t n)
{
    ngx_uint_t                    i;
    const char                   *multi = "MULTI", *exec = "EXEC";
    size_t                        multi_len = 5, exec_len = 4;
    ngx_http_devmon_redis_cmd_t  *cmd;

    if (ngx_http_devmon_redis_usable(rds) != NGX_OK) {
        return NULL;
    }

    cmd = ngx_http_devmon_redis_alloc(rds, handler, data);
    if (cmd == NULL) {
        return NULL;
    }

    if (redisAsyncCommandArgv(rds->ac, NULL, NULL, 1, &multi, &multi_len)
        != REDIS_OK)
    {
        ngx_queue_insert_head(&rds->free, &cmd->queue);
        return NULL;
    }

    for (i = 0; i < n; i++) {
        if (redisAsyncCommandArgv(rds->ac, NULL, NULL, cmds[i].argc,
                                  cmds[i].argv, cmds[i].argvlen)
            != REDIS_OK)
        {
            goto broken;
        }
    }

    if (ngx_http_devmon_redis_send(rds, cmd, 1, &exec, &exec_len) != NGX_OK) {
        /* send() took the record back */
        ngx_http_devmon_redis_drop(rds);
        return NULL;
    }

    return cmd;

broken:

    ngx_queue_insert_head(&rds->free, &cmd->queue);
    ngx_http_devmon_redis_drop(rds);

    return NULL;
}


ngx_int_t
ngx_http_devmon_redis_subscribe(ngx_http_devmon_redis_t *rds,
    ngx_str_t *channel, ngx_uint_t subscribe)
{
    const char  *argv[2];
    size_t       argvlen[2];

    if (ngx_http_devmon_redis_usable(rds) != NGX_OK) {
        return NGX_ERROR;
    }

    argv[0] = subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE";
    argvlen[0] = subscribe ? sizeof("SUBSCRIBE") - 1
                           : sizeof("UNSUBSCRIBE") - 1;
    argv[1] = (const char *) channel->data;
    argvlen[1] = channel->len;

    /*
     * every channel's confirmation and messages come to one callback;
     * hiredis keeps it per channel and calls it with NULL on teardown
     */

    if (redisAsyncCommandArgv(rds->ac, ngx_http_devmon_redis_sub_reply, rds,
                              2, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    if (rds->subs++ == 0) {
        rds->sub_deadline = ngx_current_msec + rds->conf->command_timeout;
    }

    ngx_http_devmon_redis_arm(rds);

    return NGX_OK;
}


/* up, not being torn down, not in a cut-short transaction */

static ngx_int_t
ngx_http_devmon_redis_usable(ngx_http_devmon_redis_t *rds)
{
    if (rds->state != NGX_HTTP_DEVMON_REDIS_UP || rds->broken
        || rds->ac == NULL
        || (rds->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_http_devmon_redis_cmd_t *
ngx_http_devmon_redis_alloc(ngx_http_devmon_redis_t *rds,
    ngx_http_devmon_redis_reply_pt handler, void *data)
{
    ngx_queue_t                  *q;
    ngx_http_devmon_redis_cmd_t  *cmd;

    if (!ngx_queue_empty(&rds->free)) {
        q = ngx_queue_head(&rds->free);
        ngx_queue_remove(q);
        cmd = ngx_queue_data(q, ngx_http_devmon_redis_cmd_t, queue);

    } else {
        cmd = ngx_alloc(sizeof(ngx_http_devmon_redis_cmd_t), rds->log);
        if (cmd == NULL) {
            return NULL;
        }
    }

    cmd->rds = rds;
    cmd->handler = handler;
    cmd->data = data;

    return cmd;
}


static ngx_http_devmon_redis_cmd_t *
ngx_http_devmon_redis_queue(ngx_http_devmon_redis_t *rds,
    ngx_http_devmon_redis_reply_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_http_devmon_redis_cmd_t  *cmd;

    if (rds->ac == NULL
        || (rds->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
    {
        return NULL;
    }

    cmd = ngx_http_devmon_redis_alloc(rds, handler, data);
    if (cmd == NULL) {
        return NULL;
    }

    if (ngx_http_devmon_redis_send(rds, cmd, argc, argv, argvlen) != NGX_OK) {
        return NULL;
    }

    return cmd;
}


/* on failure the record goes back to the free list */

static ngx_int_t
ngx_http_devmon_redis_send(ngx_http_devmon_redis_t *rds,
    ngx_http_devmon_redis_cmd_t *cmd, int argc, const char **argv,
    const size_t *argvlen)
{
    cmd->deadline = ngx_current_msec + rds->conf->command_timeout;

    if (redisAsyncCommandArgv(rds->ac, ngx_http_devmon_redis_reply, cmd,
                              argc, argv, argvlen)
        != REDIS_OK)
    {
        ngx_queue_insert_head(&rds->free, &cmd->queue);
        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&rds->pending, &cmd->queue);

    ngx_http_devmon_redis_arm(rds);

    return NGX_OK;
}


/*
 * Drops the link from the timer, outside the caller's stack (which may be
 * a hiredis callback or a client's handler); nothing is sent meanwhile.
 */

static void
ngx_http_devmon_redis_drop(ngx_http_devmon_redis_t *rds)
{
    ngx_log_error(NGX_LOG_ERR, rds->log, 0,
                  "devmon redis %s: a transaction could not be sent, "
                  "reconnecting", rds->name);

    rds->broken = 1;

    if (rds->timer.timer_set) {
        ngx_del_timer(&rds->timer);
    }

    ngx_add_timer(&rds->timer, 1);
}


static void
ngx_http_devmon_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_devmon_redis_cmd_t *cmd = privdata;

    void                            *data;
    ngx_http_devmon_redis_t         *rds;
    ngx_http_devmon_redis_reply_pt   handler;

    rds = cmd->rds;
    handler = cmd->handler;
    data = cmd->data;

    ngx_queue_remove(&cmd->queue);
    ngx_queue_insert_head(&rds->free, &cmd->queue);

    if (handler) {
        handler(rds, r, data);
    }
}


static void
ngx_http_devmon_redis_sub_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_http_devmon_redis_t *rds = privdata;

    redisReply  *reply, *kind;

    reply = r;

    if (reply == NULL || rds->exiting) {
        /* teardown: the state callback tells the owner */
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3) {
        kind = reply->element[0];

        if (kind->type == REDIS_REPLY_STRING
            && ((kind->len == 9 && ngx_strncmp(kind->str, "subscribe", 9)
                                   == 0)
                || (kind->len == 11
                    && ngx_strncmp(kind->str, "unsubscribe", 11) == 0))
            && rds->subs > 0)
        {
            rds->subs--;
            rds->sub_deadline = ngx_current_msec
                                + rds->conf->command_timeout;
        }
    }

    if (rds->on_message) {
        rds->on_message(rds, reply, rds->data);
    }
}


static void
ngx_http_devmon_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_devmon_redis_t *rds = ac->data;

    int          on;
    const char  *argv[2];
    size_t       argvlen[2];
    u_char       db[NGX_INT_T_LEN];

    if (status != REDIS_OK) {
        /* hiredis frees the context next; the cleanup hook retries */
        ngx_log_error(ngx_http_devmon_redis_level(rds),
                      rds->log, 0, "devmon redis %s: connect failed: %s",
                      rds->name, ac->errstr);
        return;
    }

    rds->state = NGX_HTTP_DEVMON_REDIS_HANDSHAKE;

    if (rds->conf->path.len == 0) {
        /* a dead peer of an idle subscriber is noticed only this way */
        on = 1;
        (void) setsockopt(ac->c.fd, SOL_SOCKET, SO_KEEPALIVE, &on,
                          sizeof(int));
    }

    if (rds->conf->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) rds->conf->password.data;
        argvlen[1] = rds->conf->password.len;

        if (ngx_http_devmon_redis_queue(rds, ngx_http_devmon_redis_handshake,
                                        "AUTH", 2, argv, argvlen)
            == NULL)
        {
            goto failed;
        }
    }

    if (rds->conf->db > 0) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%i", rds->conf->db) - db;

        if (ngx_http_devmon_redis_queue(rds, ngx_http_devmon_redis_handshake,
                                        "SELECT", 2, argv, argvlen)
            == NULL)
        {
            goto failed;
        }
    }

    /*
     * A connect(2) that succeeded proves nothing: a stopped or wedged
     * server still completes the TCP handshake.  The link is up when the
     * server has answered.
     */

    argv[0] = "PING";
    argvlen[0] = 4;

    if (ngx_http_devmon_redis_queue(rds, ngx_http_devmon_redis_handshake,
                                    "PING", 1, argv, argvlen)
        == NULL)
    {
        goto failed;
    }

    return;

failed:

    /*
     * hiredis still uses the context after this callback returns, so it
     * is not freed here: the connect deadline tears it down
     */

    ngx_log_error(NGX_LOG_ERR, rds->log, 0,
                  "devmon redis %s: could not send the handshake", rds->name);
}


static void
ngx_http_devmon_redis_handshake(ngx_http_devmon_redis_t *rds,
    redisReply *reply, void *data)
{
    if (reply == NULL || rds->ac == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, rds->log, 0,
                      "devmon redis %s: %s failed: %*s", rds->name,
                      (char *) data, (size_t) reply->len, reply->str);

        /* inside a callback: hiredis frees after it returns */
        redisAsyncFree(rds->ac);
        return;
    }

    if (ngx_queue_empty(&rds->pending)) {
        ngx_http_devmon_redis_up(rds);
    }
}


static void
ngx_http_devmon_redis_up(ngx_http_devmon_redis_t *rds)
{
    if (rds->timer.timer_set) {
        ngx_del_timer(&rds->timer);
    }

    if (rds->unreachable) {
        ngx_log_error(NGX_LOG_NOTICE, rds->log, 0,
                      "devmon redis %s: connected", rds->name);
    }

    rds->state = NGX_HTTP_DEVMON_REDIS_UP;
    rds->unreachable = 0;
    rds->backoff = 0;

    if (rds->on_message && rds->conf->keepalive) {
        ngx_add_timer(&rds->keepalive, rds->conf->keepalive);
    }

    ngx_http_devmon_redis_notify(rds);
}


static void
ngx_http_devmon_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_devmon_redis_t *rds = ac->data;

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, rds->log, 0,
                      "devmon redis %s: link lost: %s", rds->name,
                      ac->errstr);
    }
}


/*
 * One timer per link.  Commands are answered in order and share one
 * timeout, so the oldest pending command has the nearest deadline.
 */

static void
ngx_http_devmon_redis_arm(ngx_http_devmon_redis_t *rds)
{
    ngx_msec_t                    deadline;
    ngx_msec_int_t                left;
    ngx_http_devmon_redis_cmd_t  *cmd;

    if (rds->timer.timer_set || rds->state != NGX_HTTP_DEVMON_REDIS_UP
        || rds->broken)
    {
        return;
    }

    if (!ngx_queue_empty(&rds->pending)) {
        cmd = ngx_queue_data(ngx_queue_head(&rds->pending),
                             ngx_http_devmon_redis_cmd_t, queue);
        deadline = cmd->deadline;

        if (rds->subs
            && (ngx_msec_int_t) (rds->sub_deadline - deadline) < 0)
        {
            deadline = rds->sub_deadline;
        }

    } else if (rds->subs) {
        deadline = rds->sub_deadline;

    } else {
        return;
    }

    left = (ngx_msec_int_t) (deadline - ngx_current_msec);

    ngx_add_timer(&rds->timer, left > 0 ? (ngx_msec_t) left : 1);
}


static void
ngx_http_devmon_redis_timer_handler(ngx_event_t *ev)
{
    ngx_http_devmon_redis_t *rds = ev->data;

    ngx_http_devmon_redis_cmd_t  *cmd;

    if (rds->ac == NULL) {
        return;
    }

    if (rds->broken) {
        /* fails every pending command with a NULL reply, then cleanup */
        rds->ac->onDisconnect = NULL;
        redisAsyncFree(rds->ac);
        return;
    }

    if (rds->state == NGX_HTTP_DEVMON_REDIS_UP) {

        if (!ngx_queue_empty(&rds->pending)) {
            cmd = ngx_queue_data(ngx_queue_head(&rds->pending),
                                 ngx_http_devmon_redis_cmd_t, queue);

            if ((ngx_msec_int_t) (cmd->deadline - ngx_current_msec) <= 0) {
                goto timedout;
            }
        }

        if (rds->subs
            && (ngx_msec_int_t) (rds->sub_deadline - ngx_current_msec) <= 0)
        {
            goto timedout;
        }

        ngx_http_devmon_redis_arm(rds);
        return;
    }

    ngx_log_error(ngx_http_devmon_redis_level(rds), rds->log,
                  NGX_ETIMEDOUT, "devmon redis %s: connect timed out",
                  rds->name);

    rds->ac->onDisconnect = NULL;
    redisAsyncFree(rds->ac);
    return;

timedout:

    ngx_log_error(NGX_LOG_ERR, rds->log, NGX_ETIMEDOUT,
                  "devmon redis %s: command timed out, reconnecting",
                  rds->name);

    /* fails every pending command with a NULL reply, then cleanup */
    rds->ac->onDisconnect = NULL;
    redisAsyncFree(rds->ac);
}


static void
ngx_http_devmon_redis_retry(ngx_http_devmon_redis_t *rds)
{
    ngx_msec_t  delay;

    if (rds->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    /* exponential backoff with jitter, so workers do not reconnect at once */

    if (rds->backoff == 0) {
        rds->backoff = rds->conf->reconnect_min;

    } else {
        rds->backoff *= 2;
    }

    if (rds->backoff > rds->conf->reconnect_max) {
        rds->backoff = rds->conf->reconnect_max;
    }

    delay = rds->backoff / 2 + (ngx_msec_t) ngx_random()
                               % (rds->backoff / 2 + 1);

    ngx_add_timer(&rds->retry, delay ? delay : 1);
}


static void
ngx_http_devmon_redis_retry_handler(ngx_event_t *ev)
{
    ngx_http_devmon_redis_t *rds = ev->data;

    ngx_http_devmon_redis_connect(rds);
}


/* a failure is an error once; retries while still down are informational */

static ngx_uint_t
ngx_http_devmon_redis_level(ngx_http_devmon_redis_t *rds)
{
    return rds->unreachable ? NGX_LOG_INFO : NGX_LOG_ERR;
}


static void
ngx_http_devmon_redis_notify(ngx_http_devmon_redis_t *rds)
{
    /* posted: the owner runs outside hiredis' call stack */

    if (!rds->notify.posted && !rds->exiting) {
        ngx_post_event(&rds->notify, &ngx_posted_events);
    }
}


static void
ngx_http_devmon_redis_notify_handler(ngx_event_t *ev)
{
    ngx_http_devmon_redis_t *rds = ev->data;

    ngx_uint_t  up;

    up = (rds->state == NGX_HTTP_DEVMON_REDIS_UP);

    if (up == rds->notified) {
        return;
    }

    rds->notified = up;

    if (rds->on_state) {
        rds->on_state(rds);
    }
}


/*
 * An idle subscriber hears nothing from a server that is gone without a
 * FIN or RST (a host or a NAT gone, a stopped server), and TCP keepalive
 * takes hours.  A probe whose confirmation is missed past the command
 * timeout takes the link for dead, like any command.
 */

static void
ngx_http_devmon_redis_keepalive_handler(ngx_event_t *ev)
{
    ngx_http_devmon_redis_t *rds = ev->data;

    ngx_str_t  channel = ngx_string(NGX_HTTP_DEVMON_REDIS_KEEPALIVE);

    if (rds->state != NGX_HTTP_DEVMON_REDIS_UP || rds->exiting) {
        return;
    }

    /* a confirmation still due has a deadline running already */

    if (rds->subs == 0) {
        (void) ngx_http_devmon_redis_subscribe(rds, &channel, 1);
    }

    ngx_add_timer(&rds->keepalive, rds->conf->keepalive);
}


/* event hooks: hiredis may call them repeatedly, so each is idempotent */

static void
ngx_http_devmon_redis_add_read(void *privdata)
{
    ngx_http_devmon_redis_t *rds = privdata;

    ngx_connection_t  *c;

    c = rds->conn;

    /* level-triggered: hiredis reads one buffer per call, not to EAGAIN */

    if (c != NULL && !c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, rds->log, 0,
                          "devmon redis %s: could not add read event",
                          rds->name);
        }
    }
}


static void
ngx_http_devmon_redis_del_read(void *privdata)
{
    ngx_http_devmon_redis_t *rds = privdata;

    ngx_connection_t  *c;

    c = rds->conn;

    if (c != NULL && c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_devmon_redis_add_write(void *privdata)
{
    ngx_http_devmon_redis_t *rds = privdata;

    ngx_connection_t  *c;

    c = rds->conn;

    if (c != NULL && !c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, rds->log, 0,
                          "devmon redis %s: could not add write event",
                          rds->name);
        }
    }
}


static void
ngx_http_devmon_redis_del_write(void *privdata)
{
    ngx_http_devmon_redis_t *rds = privdata;

    ngx_connection_t  *c;

    c = rds->conn;

    if (c != NULL && c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


/*
 * hiredis is tearing the context down (error, timeout, or free) and will
 * close the socket itself: give the connection back without closing it.
 * Pending callbacks have already run with NULL replies.
 */

static void
ngx_http_devmon_redis_cleanup(void *privdata)
{
    ngx_http_devmon_redis_t *rds = privdata;

    ngx_connection_t  *c;

    c = rds->conn;

    if (c == NULL) {
        return;
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    /* as ngx_close_connection() does: the socket is hiredis' to close */
    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    rds->conn = NULL;
    rds->ac->ev.data = NULL;
    rds->ac->ev.cleanup = NULL;
    rds->ac = NULL;
    rds->state = NGX_HTTP_DEVMON_REDIS_DOWN;
    rds->subs = 0;
    rds->unreachable = 1;
    rds->broken = 0;

    if (rds->timer.timer_set) {
        ngx_del_timer(&rds->timer);
    }

    if (rds->keepalive.timer_set) {
        ngx_del_timer(&rds->keepalive);
    }

    if (rds->exiting) {
        return;
    }

    ngx_http_devmon_redis_notify(rds);
    ngx_http_devmon_redis_retry(rds);
}


static void
ngx_http_devmon_redis_read_handler(ngx_event_t *rev)
{
    ngx_connection_t         *c;
    ngx_http_devmon_redis_t  *rds;

    c = rev->data;
    rds = c->data;

    /* the connection may be freed inside; it is not touched afterwards */

    if (rds->ac != NULL) {
        redisAsyncHandleRead(rds->ac);
    }
}


static void
ngx_http_devmon_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t         *c;
    ngx_http_devmon_redis_t  *rds;

    c = wev->data;
    rds = c->data;

    if (rds->ac != NULL) {
        redisAsyncHandleWrite(rds->ac);
    }
}


char *
ngx_http_devmon_redis_parse_address(ngx_conf_t *cf,
    ngx_http_devmon_redis_conf_t *conf, ngx_str_t *value)
{
    u_char     *p;
    ngx_url_t   u;
    u_char      text[NGX_SOCKADDR_STRLEN];

    if (value->len > 5 && ngx_strncmp(value->data, "unix:", 5) == 0) {
        conf->path.len = value->len - 5;
        conf->path.data = ngx_pnalloc(cf->pool, conf->path.len + 1);
        if (conf->path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        p = ngx_cpymem(conf->path.data, value->data + 5, conf->path.len);
        *p = '\0';

        return NGX_CONF_OK;
    }

    /*
     * resolved now: hiredis would call the blocking getaddrinfo() on
     * every reconnect inside the event loop
     */

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *value;
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in devmon redis address \"%V\"",
                               u.err, value);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "devmon redis address \"%V\" has no address",
                           value);
        return NGX_CONF_ERROR;
    }

    conf->port = u.port;
    conf->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                   text, NGX_SOCKADDR_STRLEN, 0);

    conf->host.data = ngx_pnalloc(cf->pool, conf->host.len + 1);
    if (conf->host.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(conf->host.data, text, conf->host.len);
    *p = '\0';

    return NGX_CONF_OK;
}


char *
ngx_http_devmon_redis_address(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_devmon_main_conf_t *dmcf = conf;

    ngx_str_t  *value;

    if (dmcf->stream.redis.host.data || dmcf->stream.redis.path.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    dmcf->stream.enabled = 1;

    return ngx_http_devmon_redis_parse_address(cf, &dmcf->stream.redis,
                                               &value[1]);
}


/* devmon_redis_reconnect min [max] */

char *
ngx_http_devmon_redis_reconnect(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_devmon_main_conf_t *dmcf = conf;

    ngx_str_t   *value;
    ngx_msec_t   min, max;

    if (dmcf->stream.redis.reconnect_min != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    min = ngx_parse_time(&value[1], 0);
    if (min == (ngx_msec_t) NGX_ERROR || min == 0) {
        return "has an invalid minimum delay";
    }

    max = min;

    if (cf->args->nelts == 3) {
        max = ngx_parse_time(&value[2], 0);
        if (max == (ngx_msec_t) NGX_ERROR || max < min) {
            return "has an invalid maximum delay (at least the minimum)";
        }
    }

    dmcf->stream.redis.reconnect_min = min;
    dmcf->stream.redis.reconnect_max = max;

    return NGX_CONF_OK;
}
