/* WebSocket server inside nginx: handshake, frames, send queue, shutdown. */

/*
 * Copyright (C) devmon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_devmon_module.h"
#include "ngx_http_devmon_ws.h"
#include "ngx_http_devmon_auth.h"
#include "ngx_http_devmon_stream.h"


#define NGX_HTTP_DEVMON_WS_READ_SIZE    4096  /* on the stack */
#define NGX_HTTP_DEVMON_WS_READS        16    /* per event, then yield */
#define NGX_HTTP_DEVMON_WS_WRITE_LINKS  64    /* frames per writev */
#define NGX_HTTP_DEVMON_WS_QUEUE_INIT   16

/*
 * ws->pool: one block for ws, its send ring, the auth session and the
 * stream client with their cleanups (1.6 KB with short account and user
 * names; the rest leaves room for long ones).
 */
#define NGX_HTTP_DEVMON_WS_POOL_SIZE    2048

/* nginx has no name, nor a reason phrase, for it */
#define NGX_HTTP_DEVMON_UPGRADE_REQUIRED  426


static ngx_int_t ngx_http_devmon_ws_check(ngx_http_request_t *r,
    ngx_http_devmon_ws_conf_t *wcf, ngx_uint_t *protocol, ngx_int_t *rc);
static ngx_uint_t ngx_http_devmon_ws_header(ngx_http_request_t *r,
    const char *name, ngx_table_elt_t **first);
static ngx_uint_t ngx_http_devmon_ws_header_token(ngx_http_request_t *r,
    const char *name, const char *token);
static ngx_int_t ngx_http_devmon_ws_origin_allowed(ngx_array_t *origins,
    ngx_str_t *origin);
static ngx_int_t ngx_http_devmon_ws_add_header(ngx_http_request_t *r,
    const char *name, u_char *value, size_t len);
static size_t ngx_http_devmon_ws_error_json(u_char *p, const char *head,
    const char *error, const char *message, const char *tail);
static ngx_int_t ngx_http_devmon_ws_handshake_hook(ngx_http_request_t *r,
    ngx_http_devmon_ws_t *ws, ngx_int_t *rc);
static ngx_int_t ngx_http_devmon_ws_open(ngx_http_request_t *r,
    ngx_http_devmon_ws_t *ws, ngx_uint_t protocol);
static void ngx_http_devmon_ws_opened(ngx_http_devmon_ws_t *ws);
static void ngx_http_devmon_ws_request_cleanup(void *data);
static void ngx_http_devmon_ws_upgraded_handler(ngx_event_t *ev);
static void ngx_http_devmon_ws_release(ngx_http_devmon_ws_t *ws);

static void ngx_http_devmon_ws_read_handler(ngx_event_t *rev);
static void ngx_http_devmon_ws_process(ngx_http_devmon_ws_t *ws, u_char *p,
    size_t n);
static void ngx_http_devmon_ws_data(ngx_http_devmon_ws_t *ws,
    ngx_devmon_ws_chunk_t *ch);
static void ngx_http_devmon_ws_control(ngx_http_devmon_ws_t *ws,
    ngx_devmon_ws_chunk_t *ch);
static void ngx_http_devmon_ws_message(ngx_http_devmon_ws_t *ws, u_char *p,
    size_t len);
static void ngx_http_devmon_ws_app_ping(ngx_http_devmon_ws_t *ws,
    json_t *json);
static void ngx_http_devmon_ws_pong(ngx_http_devmon_ws_t *ws, u_char *p,
    size_t len);
static void ngx_http_devmon_ws_fail(ngx_http_devmon_ws_t *ws,
    ngx_uint_t code);
static void ngx_http_devmon_ws_shutdown(ngx_http_devmon_ws_t *ws);

static void ngx_http_devmon_ws_write_handler(ngx_event_t *wev);
static ngx_int_t ngx_http_devmon_ws_write(ngx_http_devmon_ws_t *ws);
static ngx_int_t ngx_http_devmon_ws_writev(ngx_http_devmon_ws_t *ws);
#if (NGX_SSL)
static ngx_int_t ngx_http_devmon_ws_send_chain(ngx_http_devmon_ws_t *ws);
#endif
static void ngx_http_devmon_ws_sent(ngx_http_devmon_ws_t *ws, size_t sent);
static ngx_int_t ngx_http_devmon_ws_push(ngx_http_devmon_ws_t *ws,
    ngx_http_devmon_frame_t *f);
static void ngx_http_devmon_ws_drop_unsent(ngx_http_devmon_ws_t *ws);
static void ngx_http_devmon_ws_close_frame(ngx_http_devmon_ws_t *ws,
    ngx_uint_t code, const char *reason, ngx_uint_t drop);
static void ngx_http_devmon_ws_abort(ngx_http_devmon_ws_t *ws);
static void ngx_http_devmon_ws_post_write(ngx_http_devmon_ws_t *ws);

static void ngx_http_devmon_ws_timer_handler(ngx_event_t *ev);
static void ngx_http_devmon_ws_finalize(ngx_http_devmon_ws_t *ws);
static void ngx_http_devmon_ws_cleanup(void *data);


static const u_char  ngx_http_devmon_ws_bye[] =
    "{\"type\":\"bye\",\"reason\":\"shutdown\",\"resume\":true}";


ngx_int_t
ngx_http_devmon_ws_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_uint_t                   protocol;
    ngx_pool_t                  *pool;
    ngx_pool_cleanup_t          *cln;
    ngx_http_devmon_ws_t        *ws;
    ngx_http_devmon_loc_conf_t  *dlcf;

    /*
     * Before any answer: every refusal below is logged with the request
     * line and headers, which must no longer hold the token.  The REWRITE
     * phase handler has normally done it already; taking is idempotent.
     */

    if (ngx_http_devmon_auth_take(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r != r->main) {
        /* a subrequest cannot own the connection */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "devmon ws: refusing a subrequest");
        return NGX_HTTP_FORBIDDEN;
    }

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_devmon_module);

    if (ngx_http_devmon_ws_check(r, &dlcf->ws, &protocol, &rc) != NGX_OK) {
        return rc;
    }

    if (ngx_exiting || ngx_terminate) {
        /* this worker is leaving: the new ones take the client */
        return ngx_http_devmon_reject(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "shutting_down",
                                      "the server is restarting, retry",
                                      "Retry-After", "1");
    }

    /*
     * The connection's state outlives the request, which is released once
     * the 101 is written: it goes in a pool of its own, destroyed with the
     * request only if the handshake goes no further.
     */

    pool = ngx_create_pool(NGX_HTTP_DEVMON_WS_POOL_SIZE, r->connection->log);
    if (pool == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ws = ngx_pcalloc(pool, sizeof(ngx_http_devmon_ws_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (ws == NULL || cln == NULL) {
        ngx_destroy_pool(pool);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ws->request = r;
    ws->connection = r->connection;
    ws->pool = pool;
    ws->conf = &dlcf->ws;

    cln->handler = ngx_http_devmon_ws_request_cleanup;
    cln->data = ws;

    ngx_http_set_ctx(r, ws, ngx_http_devmon_module);

    if (ngx_http_devmon_ws_handshake_hook(r, ws, &rc) != NGX_OK) {
        return rc;
    }

    return ngx_http_devmon_ws_open(r, ws, protocol);
}


static ngx_int_t
ngx_http_devmon_ws_check(ngx_http_request_t *r,
    ngx_http_devmon_ws_conf_t *wcf, ngx_uint_t *protocol, ngx_int_t *rc)
{
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    /*
     * RFC 7230 6.7: an Upgrade not named in Connection is to be ignored,
     * so either missing makes this a plain request.
     */

    if (!ngx_http_devmon_ws_header_token(r, "Upgrade", "websocket")
        || !ngx_http_devmon_ws_header_token(r, "Connection", "upgrade"))
    {
        *rc = ngx_http_devmon_reject(r, NGX_HTTP_DEVMON_UPGRADE_REQUIRED,
                  "upgrade_required",
                  "this location serves WebSocket only "
                  "(Upgrade: websocket, Connection: Upgrade)",
                  "Sec-WebSocket-Version", "13");
        return NGX_DECLINED;
    }

    if (r->method != NGX_HTTP_GET) {
        *rc = ngx_http_devmon_reject(r, NGX_HTTP_BAD_REQUEST, "bad_method",
                  "the WebSocket handshake must use GET", NULL, NULL);
        return NGX_DECLINED;
    }

    if (r->http_version != NGX_HTTP_VERSION_11) {
        *rc = ngx_http_devmon_reject(r, NGX_HTTP_BAD_REQUEST,
                  "bad_http_version",
                  "the WebSocket handshake must use HTTP/1.1", NULL, NULL);
        return NGX_DECLINED;
    }

    n = ngx_http_devmon_ws_header(r, "Sec-WebSocket-Version", &h);

    if (n != 1 || h->value.len != 2
        || ngx_strncmp(h->value.data, "13", 2) != 0)
    {
        *rc = ngx_http_devmon_reject(r, NGX_HTTP_DEVMON_UPGRADE_REQUIRED,
                  "bad_version", "only Sec-WebSocket-Version 13 is supported",
                  "Sec-WebSocket-Version", "13");
        return NGX_DECLINED;
    }

    n = ngx_http_devmon_ws_header(r, "Sec-WebSocket-Key", &h);

    if (n != 1 || !ngx_devmon_ws_key_valid(h->value.data, h->value.len)) {
        *rc = ngx_http_devmon_reject(r, NGX_HTTP_BAD_REQUEST, "bad_key",
                  "Sec-WebSocket-Key must be the base64 of 16 bytes, once",
                  NULL, NULL);
        return NGX_DECLINED;
    }

    /*
     * Only browsers send Origin, and only browsers can be lured into a
     * cross-site connection, so a request without one is not checked.
     */

    if (wcf->origins) {
        n = ngx_http_devmon_ws_header(r, "Origin", &h);

        if (n > 1
            || (n == 1
                && !ngx_http_devmon_ws_origin_allowed(wcf->origins,
                                                      &h->value)))
        {
            *rc = ngx_http_devmon_reject(r, NGX_HTTP_FORBIDDEN,
                      "origin_not_allowed",
                      "this Origin may not open the WebSocket", NULL, NULL);
            return NGX_DECLINED;
        }
    }

    *protocol = ngx_http_devmon_ws_header_token(r, "Sec-WebSocket-Protocol",
                                                NGX_HTTP_DEVMON_SUBPROTOCOL);

    if (!*protocol
        && ngx_http_devmon_ws_header(r, "Sec-WebSocket-Protocol", &h))
    {
        /* answering without one would make the client fail anyway */
        *rc = ngx_http_devmon_reject(r, NGX_HTTP_BAD_REQUEST,
                  "bad_subprotocol",
                  "Sec-WebSocket-Protocol must include devmon.v1",
                  NULL, NULL);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_table_elt_t *
ngx_http_devmon_header_next(ngx_http_request_t *r, const char *name,
    ngx_http_devmon_header_iter_t *it)
{
    size_t            len;
    ngx_table_elt_t  *h;

    if (it->part == NULL) {
        it->part = &r->headers_in.headers.part;
        it->i = 0;
    }

    len = ngx_strlen(name);

    for ( ;; ) {

        if (it->i >= it->part->nelts) {
            if (it->part->next == NULL) {
                return NULL;
            }

            it->part = it->part->next;
            it->i = 0;
            continue;
        }

        h = (ngx_table_elt_t *) it->part->elts + it->i++;

        if (h->key.len == len
            && ngx_strncasecmp(h->key.data, (u_char *) name, len) == 0)
        {
            return h;
        }
    }
}


/* how many times the header is present, and the first one */

static ngx_uint_t
ngx_http_devmon_ws_header(ngx_http_request_t *r, const char *name,
    ngx_table_elt_t **first)
{
    ngx_uint_t                      n;
    ngx_http_devmon_header_iter_t   it;

    ngx_memzero(&it, sizeof(ngx_http_devmon_header_iter_t));

    *first = ngx_http_devmon_header_next(r, name, &it);

    if (*first == NULL) {
        return 0;
    }

    n = 1;

    while (ngx_http_devmon_header_next(r, name, &it)) {
        n++;
    }

    return n;
}


/* a header may be repeated: its lists are joined, as RFC 7230 3.2.2 says */

static ngx_uint_t
ngx_http_devmon_ws_header_token(ngx_http_request_t *r, const char *name,
    const char *token)
{
    ngx_table_elt_t                *h;
    ngx_http_devmon_header_iter_t   it;

    ngx_memzero(&it, sizeof(ngx_http_devmon_header_iter_t));

    while ((h = ngx_http_devmon_header_next(r, name, &it))) {
        if (ngx_devmon_ws_token_find(h->value.data, h->value.len, token)) {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_devmon_ws_origin_allowed(ngx_array_t *origins, ngx_str_t *origin)
{
    ngx_str_t   *o;
    ngx_uint_t   i;

    o = origins->elts;

    for (i = 0; i < origins->nelts; i++) {
        if (o[i].len == origin->len
            && ngx_strncasecmp(o[i].data, origin->data, origin->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


ngx_int_t
ngx_http_devmon_reject(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *message, const char *header,
    const char *value)
{
    size_t      len;
    ngx_int_t   rc;
    ngx_buf_t  *b;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    len = ngx_http_devmon_ws_error_json(NULL, "{", error, message, "}\n");

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last += ngx_http_devmon_ws_error_json(b->last, "{", error, message,
                                             "}\n");

    if (status == NGX_HTTP_DEVMON_UPGRADE_REQUIRED
        && ngx_http_devmon_ws_add_header(r, "Upgrade", (u_char *) "websocket",
                                         sizeof("websocket") - 1)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (header
        && ngx_http_devmon_ws_add_header(r, header, (u_char *) value,
                                         ngx_strlen(value))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status == NGX_HTTP_DEVMON_UPGRADE_REQUIRED) {
        ngx_str_set(&r->headers_out.status_line, "426 Upgrade Required");
    }

    return ngx_http_devmon_send_buf(r, status, "application/json", b);
}


static ngx_int_t
ngx_http_devmon_ws_add_header(ngx_http_request_t *r, const char *name,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}


/*
 * head "error":"<error>","message":"<message>" tail, JSON-escaped: the
 * body of a refusal and of an error message.  p NULL: only the length.
 */

static size_t
ngx_http_devmon_ws_error_json(u_char *p, const char *head, const char *error,
    const char *message, const char *tail)
{
    size_t   hlen, elen, mlen, tlen;
    u_char  *start;

    hlen = ngx_strlen(head);
    elen = ngx_strlen(error);
    mlen = ngx_strlen(message);
    tlen = ngx_strlen(tail);

    if (p == NULL) {
        return hlen + sizeof("\"error\":\"\",\"message\":\"\"") - 1
               + elen + ngx_escape_json(NULL, (u_char *) error, elen)
               + mlen + ngx_escape_json(NULL, (u_char *) message, mlen)
               + tlen;
    }

    start = p;

    p = ngx_cpymem(p, head, hlen);
    p = ngx_cpymem(p, "\"error\":\"", sizeof("\"error\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, (u_char *) error, elen);
    p = ngx_cpymem(p, "\",\"message\":\"", sizeof("\",\"message\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, (u_char *) message, mlen);
    *p++ = '"';
    p = ngx_cpymem(p, tail, tlen);

    return p - start;
}


static ngx_int_t
ngx_http_devmon_ws_handshake_hook(ngx_http_request_t *r,
    ngx_http_devmon_ws_t *ws, ngx_int_t *rc)
{
    /*
     * HOOK handshake: the protocol checks have passed and nothing is sent
     * yet.  A later check (token: 401, connection cap: 429, broker: 503)
     * refuses with
     *
     *     *rc = ngx_http_devmon_reject(r, status, "code", "message",
     *                                  "Header", "value");
     *     return NGX_DECLINED;
     *
     * and may keep what it found in ws->session / ws->client.
     */

    if (ngx_http_devmon_auth_handshake(r, ws, rc) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ngx_http_devmon_stream_handshake(r, rc) != NGX_OK) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_devmon_ws_open(ngx_http_request_t *r, ngx_http_devmon_ws_t *ws,
    ngx_uint_t protocol)
{
    u_char                    *accept;
    ngx_int_t                  rc;
    ngx_table_elt_t           *key;
    ngx_connection_t          *c;
    ngx_pool_cleanup_t        *cln;
    ngx_http_core_loc_conf_t  *clcf;

    c = r->connection;

    /*
     * Every allocation of the connection's life happens here, or grows;
     * read buffers and write links are on the stack of the handlers, so
     * an idle connection costs only ws->pool (and the connection's own).
     */

    ws->out_size = ngx_min(NGX_HTTP_DEVMON_WS_QUEUE_INIT,
                           ws->conf->queue_frames + 2);
    ws->out = ngx_palloc(ws->pool,
                         ws->out_size * sizeof(ngx_http_devmon_frame_t *));

    accept = ngx_pnalloc(r->pool, NGX_DEVMON_WS_ACCEPT_LEN);

    cln = ngx_pool_cleanup_add(ws->pool, 0);

    if (ws->out == NULL || accept == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_devmon_ws_cleanup;
    cln->data = ws;

    /*
     * Frames are small and written as they come: with Nagle's algorithm
     * one would wait for the ACK of the previous one, which the client's
     * delayed ACK holds back for up to 40 ms.  nginx sets TCP_NODELAY on
     * keepalive and upgraded proxy connections, not on one a module takes
     * over, so it is done here, as the tcp_nodelay directive asks.
     */

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->tcp_nodelay && ngx_tcp_nodelay(c) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ws->pong.data = ws->pong_buf;
    ws->pong.embedded = 1;
    ws->ping.data = ws->ping_buf;
    ws->ping.embedded = 1;
    ws->close.data = ws->close_buf;
    ws->close.embedded = 1;

    ws->reader.max_message = ws->conf->max_message;

    (void) ngx_http_devmon_ws_header(r, "Sec-WebSocket-Key", &key);
    ngx_devmon_ws_accept(key->value.data, key->value.len, accept);

    if (ngx_http_devmon_ws_add_header(r, "Upgrade", (u_char *) "websocket",
                                      sizeof("websocket") - 1)
        != NGX_OK
        || ngx_http_devmon_ws_add_header(r, "Sec-WebSocket-Accept", accept,
                                         NGX_DEVMON_WS_ACCEPT_LEN)
           != NGX_OK
        || (protocol
            && ngx_http_devmon_ws_add_header(r, "Sec-WebSocket-Protocol",
                   (u_char *) NGX_HTTP_DEVMON_SUBPROTOCOL,
                   sizeof(NGX_HTTP_DEVMON_SUBPROTOCOL) - 1)
               != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the header filter writes "Connection: upgrade" for a 101 */
    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    ngx_str_set(&r->headers_out.status_line, "101 Switching Protocols");
    r->headers_out.content_length_n = -1;
    r->header_only = 1;
    r->keepalive = 0;
    r->lingering_close = 0;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    /*
     * From here on the connection is ours: the count keeps the request
     * until ngx_http_devmon_ws_release() frees it, once the 101 is out.
     */

    r->main->count++;

    c->read->handler = ngx_http_devmon_ws_upgraded_handler;
    c->write->handler = ngx_http_devmon_ws_upgraded_handler;
    c->log->action = "serving devmon WebSocket";

    /* idle: ngx_close_idle_connections() tells us of a graceful exit */
    c->idle = 1;

    ws->timer.handler = ngx_http_devmon_ws_timer_handler;
    ws->timer.data = ws;
    ws->timer.log = c->log;

    if (ws->conf->ping_interval) {
        ngx_add_timer(&ws->timer, ws->conf->ping_interval);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "devmon ws: open, subprotocol:%ui", protocol);

    ngx_http_devmon_ws_opened(ws);

    /*
     * The first read and write run from posted events, never from inside
     * this handler: the request must not be freed under our caller.
     */

    ngx_post_event(c->read, &ngx_posted_events);
    ngx_http_devmon_ws_post_write(ws);

    return NGX_DONE;
}


static void
ngx_http_devmon_ws_opened(ngx_http_devmon_ws_t *ws)
{
    /*
     * HOOK opened: the 101 is on its way and frames may be queued with
     * ngx_http_devmon_ws_send() (hello, snapshot: issue 4).  A concern
     * that keeps state allocates it from ws->pool and adds its cleanup
     * there: ngx_pool_cleanup_add(ws->pool, 0).
     */

    ngx_http_devmon_auth_opened(ws);

    (void) ngx_http_devmon_stream_open(ws, ngx_http_devmon_auth_account(ws));
}


ngx_int_t
ngx_http_devmon_ws_on_message(ngx_http_devmon_ws_t *ws, ngx_str_t *type,
    json_t *json)
{
    /*
     * Client messages by type; "ping" never gets here.  Issue 3 adds
     * "auth", issue 4 "subscribe" and "unsubscribe":
     *
     *     if (type->len == 4 && ngx_strncmp(type->data, "auth", 4) == 0) {
     *         return ngx_http_devmon_auth_message(ws, json);
     *     }
     */

    if (type->len == 4 && ngx_strncmp(type->data, "auth", 4) == 0) {
        return ngx_http_devmon_auth_on_message(ws, json);
    }

    if ((type->len == 9 && ngx_strncmp(type->data, "subscribe", 9) == 0)
        || (type->len == 11
            && ngx_strncmp(type->data, "unsubscribe", 11) == 0))
    {
        return ngx_http_devmon_stream_on_message(ws, type, json);
    }

    return NGX_DECLINED;
}


static void
ngx_http_devmon_ws_read_handler(ngx_event_t *rev)
{
    ssize_t                n;
    ngx_uint_t             reads;
    ngx_connection_t      *c;
    ngx_http_devmon_ws_t  *ws;
    u_char                 buf[NGX_HTTP_DEVMON_WS_READ_SIZE];

    c = rev->data;
    ws = c->data;

    if (c->close) {
        /* graceful shutdown or reload: ngx_close_idle_connections() */
        c->close = 0;
        ngx_http_devmon_ws_shutdown(ws);

        /*
         * Called from outside the event loop's processing, where
         * ngx_posted_events would wait for the next wakeup: the "next"
         * queue makes the loop come back at once.
         */

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        ngx_post_event(c->write, &ngx_posted_next_events);
    }

    for (reads = 0; !ws->failed && !ws->close_received; reads++) {

        if (reads == NGX_HTTP_DEVMON_WS_READS) {
            /* let other connections run; the rest is read next turn */
            ngx_post_event(rev, &ngx_posted_events);
            return;
        }

        /*
         * The reader keeps what it needs across reads (a partial frame
         * header, a control payload), a message in pieces is copied to
         * ws->msg: nothing points into buf once it is processed.
         */

        n = c->recv(c, buf, NGX_HTTP_DEVMON_WS_READ_SIZE);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "devmon ws: client closed the connection%s",
                          ws->close_sent ? " during the close handshake"
                                         : " without a close frame");
            ngx_http_devmon_ws_finalize(ws);
            return;
        }

        ngx_http_devmon_ws_process(ws, buf, n);
    }

    if (ws->failed || ws->close_received) {
        /*
         * Nothing more is read; the write side finishes the connection.
         * A level-triggered method (poll, select) would report the unread
         * bytes again and again: stop watching.
         */

        if ((ngx_event_flags & NGX_USE_LEVEL_EVENT) && rev->active
            && ngx_del_event(rev, NGX_READ_EVENT, 0) != NGX_OK)
        {
            ngx_http_devmon_ws_finalize(ws);
        }

        return;
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_devmon_ws_finalize(ws);
    }
}


static void
ngx_http_devmon_ws_process(ngx_http_devmon_ws_t *ws, u_char *p, size_t n)
{
    int                    rc;
    size_t                 used;
    ngx_devmon_ws_chunk_t  ch;

    while (n && !ws->failed && !ws->close_received) {

        rc = ngx_devmon_ws_read(&ws->reader, p, n, &used, &ch);

        p += used;
        n -= used;

        switch (rc) {

        case NGX_DEVMON_WS_AGAIN:
            return;

        case NGX_DEVMON_WS_DATA:
            ngx_http_devmon_ws_data(ws, &ch);
            break;

        case NGX_DEVMON_WS_CONTROL:
            ngx_http_devmon_ws_control(ws, &ch);
            break;

        default:
            ngx_http_devmon_ws_fail(ws, rc);
            return;
        }
    }
}


static void
ngx_http_devmon_ws_data(ngx_http_devmon_ws_t *ws, ngx_devmon_ws_chunk_t *ch)
{
    size_t   size;
    u_char  *msg;

    if (ws->close_sent) {
        /* closing: data is read only to reach the peer's close frame */
        return;
    }

    if (ch->opcode == NGX_DEVMON_WS_OP_BINARY) {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "devmon ws: client sent a binary message");
        ngx_http_devmon_ws_close(ws, NGX_DEVMON_WS_CLOSE_UNSUPPORTED,
                                 "binary messages are not supported");
        return;
    }

    if (ch->first && ch->last) {
        /* the whole message is in the read buffer: no copy */
        ngx_http_devmon_ws_message(ws, ch->data, ch->len);
        return;
    }

    if (ch->first) {
        ws->msg_len = 0;
    }

    if (ws->msg_len + ch->len > ws->msg_size) {

        /* the reader caps a message at max_message, so this is bounded */
        size = ngx_max(ws->msg_size * 2, ws->msg_len + ch->len);
        size = ngx_max(size, 1024);
        size = ngx_min(size, ws->conf->max_message);

        msg = ngx_palloc(ws->pool, size);
        if (msg == NULL) {
            ngx_http_devmon_ws_fail(ws, NGX_DEVMON_WS_CLOSE_INTERNAL);
            return;
        }

        if (ws->msg_len) {
            ngx_memcpy(msg, ws->msg, ws->msg_len);
        }

        if (ws->msg) {
            ngx_pfree(ws->pool, ws->msg);
        }

        ws->msg = msg;
        ws->msg_size = size;
    }

    if (ch->len) {
        ngx_memcpy(ws->msg + ws->msg_len, ch->data, ch->len);
        ws->msg_len += ch->len;
    }

    if (ch->last) {
        ngx_http_devmon_ws_message(ws, ws->msg, ws->msg_len);
        ws->msg_len = 0;
    }
}


static void
ngx_http_devmon_ws_message(ngx_http_devmon_ws_t *ws, u_char *p, size_t len)
{
    json_t        *json, *type;
    ngx_str_t      t;
    json_error_t   err;

    json = json_loadb((const char *) p, len, 0, &err);

    if (json == NULL || !json_is_object(json)) {
        (void) ngx_http_devmon_ws_send_error(ws, "bad_message",
                   "a message is a JSON object with a string \"type\"");
        goto done;
    }

    type = json_object_get(json, "type");

    if (!json_is_string(type)) {
        (void) ngx_http_devmon_ws_send_error(ws, "bad_message",
                   "a message is a JSON object with a string \"type\"");
        goto done;
    }

    t.data = (u_char *) json_string_value(type);
    t.len = json_string_length(type);

    if (t.len == 4 && ngx_strncmp(t.data, "ping", 4) == 0) {
        ngx_http_devmon_ws_app_ping(ws, json);
        goto done;
    }

    if (ngx_http_devmon_ws_on_message(ws, &t, json) == NGX_DECLINED) {
        (void) ngx_http_devmon_ws_send_error(ws, "unknown_type",
                                             "unknown message type");
    }

done:

    if (json) {
        json_decref(json);
    }
}


static void
ngx_http_devmon_ws_app_ping(ngx_http_devmon_ws_t *ws, json_t *json)
{
    char    *s;
    json_t  *reply, *id;

    reply = json_object();
    if (reply == NULL) {
        return;
    }

    id = json_object_get(json, "id");

    if (json_object_set_new(reply, "type", json_string("pong")) != 0
        || (id && json_object_set(reply, "id", id) != 0))
    {
        json_decref(reply);
        return;
    }

    s = json_dumps(reply, JSON_COMPACT|JSON_PRESERVE_ORDER);
    json_decref(reply);

    if (s == NULL) {
        return;
    }

    (void) ngx_http_devmon_ws_send_text(ws, (u_char *) s, ngx_strlen(s));

    free(s);
}


static void
ngx_http_devmon_ws_control(ngx_http_devmon_ws_t *ws,
    ngx_devmon_ws_chunk_t *ch)
{
    size_t          rlen;
    unsigned        code;
    const uint8_t  *reason;

    switch (ch->opcode) {

    case NGX_DEVMON_WS_OP_PING:
        if (!ws->close_sent) {
            ngx_http_devmon_ws_pong(ws, ch->data, ch->len);
        }
        return;

    case NGX_DEVMON_WS_OP_PONG:
        /* unsolicited pongs are allowed: any pong proves liveness */
        if (ws->awaiting_pong && !ws->close_sent) {
            ws->awaiting_pong = 0;
            ngx_add_timer(&ws->timer, ws->conf->ping_interval);
        }
        return;

    default: /* NGX_DEVMON_WS_OP_CLOSE, already validated by the reader */
        (void) ngx_devmon_ws_parse_close(ch->data, ch->len, &code, &reason,
                                         &rlen);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                       "devmon ws: close %ui from client", code);

        ws->close_received = 1;

        /* echo the code; the reason is not echoed, it was the peer's */
        ngx_http_devmon_ws_close_frame(ws, code, NULL, 0);
        ngx_http_devmon_ws_post_write(ws);
        return;
    }
}


static void
ngx_http_devmon_ws_pong(ngx_http_devmon_ws_t *ws, u_char *p, size_t len)
{
    size_t                    old;
    ngx_http_devmon_frame_t  *f;

    f = &ws->pong;

    if (f->refs && f == ws->out[ws->out_head] && ws->out_sent) {

        /* the last pong is half written: this one needs a frame of its own */
        f = ngx_http_devmon_frame_create(ws->connection->log,
                                         NGX_DEVMON_WS_OP_PONG, p, len);
        if (f == NULL) {
            ngx_http_devmon_ws_abort(ws);
            return;
        }

        (void) ngx_http_devmon_ws_send(ws, f);
        ngx_http_devmon_frame_release(f);
        return;
    }

    /*
     * RFC 6455 5.5.3: only the latest of several pending pings needs an
     * answer, so a queued, unsent pong is simply rewritten.
     */

    old = f->len;
    f->len = ngx_devmon_ws_encode_header(f->data, NGX_DEVMON_WS_OP_PONG, len);
    f->payload = f->data + f->len;
    f->opcode = NGX_DEVMON_WS_OP_PONG;

    if (len) {
        ngx_memcpy(f->payload, p, len);
    }

    f->len += len;

    if (f->refs) {
        ws->out_bytes = ws->out_bytes - old + f->len;
        return;
    }

    if (ngx_http_devmon_ws_push(ws, f) == NGX_OK) {
        ngx_http_devmon_ws_post_write(ws);
    }
}


static void
ngx_http_devmon_ws_fail(ngx_http_devmon_ws_t *ws, ngx_uint_t code)
{
    const char  *reason;

    switch (code) {

    case NGX_DEVMON_WS_CLOSE_BAD_DATA:
        reason = "invalid UTF-8";
        break;

    case NGX_DEVMON_WS_CLOSE_TOO_BIG:
        reason = "message too big";
        break;

    case NGX_DEVMON_WS_CLOSE_INTERNAL:
        reason = "internal error";
        break;

    default:
        reason = "protocol error";
    }

    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "devmon ws: failing the connection with %ui: %s",
                  code, reason);

    /*
     * The rest of the stream cannot be trusted: stop reading it.  What was
     * already answered still goes out, before the close frame.
     */
    ws->failed = 1;

    ngx_http_devmon_ws_close_frame(ws, code, reason, 0);
    ngx_http_devmon_ws_post_write(ws);
}


static void
ngx_http_devmon_ws_shutdown(ngx_http_devmon_ws_t *ws)
{
    ngx_http_devmon_frame_t  *f;

    if (ws->close_sent) {
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "devmon ws: worker exiting, closing with 1001");

    /* the client resumes from its last event: unsent ones are not lost */
    ngx_http_devmon_ws_drop_unsent(ws);

    f = ngx_http_devmon_frame_create(ws->connection->log,
                                     NGX_DEVMON_WS_OP_TEXT,
                                     (u_char *) ngx_http_devmon_ws_bye,
                                     sizeof(ngx_http_devmon_ws_bye) - 1);
    if (f) {
        (void) ngx_http_devmon_ws_push(ws, f);
        ngx_http_devmon_frame_release(f);
    }

    ngx_http_devmon_ws_close(ws, NGX_DEVMON_WS_CLOSE_GOING_AWAY,
                             "server shutting down");
}


ngx_http_devmon_frame_t *
ngx_http_devmon_frame_create(ngx_log_t *log, ngx_uint_t opcode,
    u_char *payload, size_t len)
{
    size_t                    hlen;
    ngx_http_devmon_frame_t  *f;

    hlen = ngx_devmon_ws_header_size(len);

    f = ngx_alloc(sizeof(ngx_http_devmon_frame_t) + hlen + len, log);
    if (f == NULL) {
        return NULL;
    }

    f->refs = 1;
    f->data = (u_char *) (f + 1);
    f->len = hlen + len;
    f->payload = f->data + hlen;
    f->opcode = opcode;
    f->embedded = 0;
    f->sent = NULL;

    (void) ngx_devmon_ws_encode_header(f->data, opcode, len);

    if (payload && len) {
        ngx_memcpy(f->payload, payload, len);
    }

    return f;
}


void
ngx_http_devmon_frame_retain(ngx_http_devmon_frame_t *f)
{
    f->refs++;
}


void
ngx_http_devmon_frame_release(ngx_http_devmon_frame_t *f)
{
    if (--f->refs == 0 && !f->embedded) {
        ngx_free(f);
    }
}


ngx_int_t
ngx_http_devmon_ws_send(ngx_http_devmon_ws_t *ws, ngx_http_devmon_frame_t *f)
{
    if (ws->close_sent) {
        return NGX_DECLINED;
    }

    /*
     * A frame larger than the byte limit still goes out through an empty
     * queue: a big snapshot must not condemn every client.
     */

    if ((ws->out_n >= ws->conf->queue_frames
         || (ws->out_n && ws->out_bytes + f->len > ws->conf->queue_bytes))
        && ws->connection->write->ready)
    {
        /*
         * Full only because the posted write has not run yet (a burst in
         * one turn of the loop): a client is slow only when its socket
         * is.  Errors are left for the write handler to finish.
         */

        if (ngx_http_devmon_ws_write(ws) == NGX_ERROR) {
            ws->aborted = 1;
            ws->failed = 1;
            ws->close_sent = 1;
            ngx_http_devmon_ws_post_write(ws);
            return NGX_DECLINED;
        }
    }

    if (ws->out_n >= ws->conf->queue_frames
        || (ws->out_n && ws->out_bytes + f->len > ws->conf->queue_bytes))
    {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "devmon ws: client too slow, send queue full "
                      "(%ui frames, %uz bytes), closing with 4008",
                      ws->out_n, ws->out_bytes);

        ngx_http_devmon_ws_close_frame(ws, NGX_HTTP_DEVMON_WS_CLOSE_SLOW,
                                       "send queue overflow", 1);
        ngx_http_devmon_ws_post_write(ws);
        return NGX_DECLINED;
    }

    if (ngx_http_devmon_ws_push(ws, f) != NGX_OK) {
        return NGX_DECLINED;
    }

    ngx_http_devmon_ws_post_write(ws);

    return NGX_OK;
}


ngx_int_t
ngx_http_devmon_ws_send_text(ngx_http_devmon_ws_t *ws, u_char *text,
    size_t len)
{
    ngx_int_t                 rc;
    ngx_http_devmon_frame_t  *f;

    f = ngx_http_devmon_frame_create(ws->connection->log,
                                     NGX_DEVMON_WS_OP_TEXT, text, len);
    if (f == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_devmon_ws_send(ws, f);
    ngx_http_devmon_frame_release(f);

    return rc;
}


ngx_int_t
ngx_http_devmon_ws_send_error(ngx_http_devmon_ws_t *ws, const char *error,
    const char *message)
{
    size_t                    len;
    ngx_int_t                 rc;
    ngx_http_devmon_frame_t  *f;

    len = ngx_http_devmon_ws_error_json(NULL, "{\"type\":\"error\",", error,
                                        message, "}");

    f = ngx_http_devmon_frame_create(ws->connection->log,
                                     NGX_DEVMON_WS_OP_TEXT, NULL, len);
    if (f == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_http_devmon_ws_error_json(f->payload, "{\"type\":\"error\",",
                                         error, message, "}");

    rc = ngx_http_devmon_ws_send(ws, f);
    ngx_http_devmon_frame_release(f);

    return rc;
}


void
ngx_http_devmon_ws_close(ngx_http_devmon_ws_t *ws, ngx_uint_t code,
    const char *reason)
{
    ngx_http_devmon_ws_close_frame(ws, code, reason, 0);
    ngx_http_devmon_ws_post_write(ws);
}


static void
ngx_http_devmon_ws_close_frame(ngx_http_devmon_ws_t *ws, ngx_uint_t code,
    const char *reason, ngx_uint_t drop)
{
    size_t                    len;
    ngx_http_devmon_frame_t  *f;

    if (ws->close_sent) {
        return;
    }

    if (drop) {
        ngx_http_devmon_ws_drop_unsent(ws);
    }

    f = &ws->close;

    /* a control payload is at most 125 bytes: the header is 2 */
    len = ngx_devmon_ws_close_payload(ws->close_buf + 2, code,
                                      (const uint8_t *) reason,
                                      reason ? ngx_strlen(reason) : 0);

    f->len = ngx_devmon_ws_encode_header(f->data, NGX_DEVMON_WS_OP_CLOSE, len)
             + len;
    f->payload = f->data + 2;
    f->opcode = NGX_DEVMON_WS_OP_CLOSE;

    if (ngx_http_devmon_ws_push(ws, f) != NGX_OK) {
        ngx_http_devmon_ws_abort(ws);
        return;
    }

    ws->close_sent = 1;
    ws->awaiting_pong = 0;

    /* no longer idle: a graceful exit must not start this over */
    ws->connection->idle = 0;

    ngx_add_timer(&ws->timer, ws->conf->close_timeout);
}


static ngx_int_t
ngx_http_devmon_ws_push(ngx_http_devmon_ws_t *ws, ngx_http_devmon_frame_t *f)
{
    ngx_uint_t                 i, size;
    ngx_http_devmon_frame_t  **out;

    if (ws->out_n == ws->out_size) {

        /* grows by doubling: the queue limit bounds it */
        size = ws->out_size * 2;

        out = ngx_palloc(ws->pool,
                         size * sizeof(ngx_http_devmon_frame_t *));
        if (out == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < ws->out_n; i++) {
            out[i] = ws->out[(ws->out_head + i) % ws->out_size];
        }

        ngx_pfree(ws->pool, ws->out);

        ws->out = out;
        ws->out_size = size;
        ws->out_head = 0;
    }

    ws->out[(ws->out_head + ws->out_n) % ws->out_size] = f;
    ws->out_n++;
    ws->out_bytes += f->len;
    f->refs++;

    return NGX_OK;
}


static void
ngx_http_devmon_ws_drop_unsent(ngx_http_devmon_ws_t *ws)
{
    ngx_uint_t                 keep, i;
    ngx_http_devmon_frame_t   *f;

    /* a frame that is partly written must be finished first */
    keep = (ws->out_n && ws->out_sent) ? 1 : 0;

    for (i = keep; i < ws->out_n; i++) {
        f = ws->out[(ws->out_head + i) % ws->out_size];
        ws->out_bytes -= f->len;
        ngx_http_devmon_frame_release(f);
    }

    ws->out_n = keep;
}


static void
ngx_http_devmon_ws_abort(ngx_http_devmon_ws_t *ws)
{
    ngx_log_error(NGX_LOG_ERR, ws->connection->log, 0,
                  "devmon ws: out of memory, closing the connection");

    ws->aborted = 1;
    ws->failed = 1;
    ws->close_sent = 1;

    ngx_post_event(ws->connection->write, &ngx_posted_events);
}


static void
ngx_http_devmon_ws_post_write(ngx_http_devmon_ws_t *ws)
{
    ngx_event_t  *wev;

    /*
     * Writes are deferred to the posted event so that all frames queued
     * in this turn of the event loop leave in one writev.
     */

    wev = ws->connection->write;

    if (!wev->posted) {
        ngx_post_event(wev, &ngx_posted_events);
    }
}


static void
ngx_http_devmon_ws_write_handler(ngx_event_t *wev)
{
    ngx_connection_t      *c;
    ngx_http_devmon_ws_t  *ws;

    c = wev->data;
    ws = c->data;

    if (ws->aborted) {
        ngx_http_devmon_ws_finalize(ws);
        return;
    }

    if (ngx_http_devmon_ws_write(ws) == NGX_ERROR) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "devmon ws: write to client failed");
        ngx_http_devmon_ws_finalize(ws);
        return;
    }

    if (ws->out_n == 0
        && !(c->buffered & NGX_LOWLEVEL_BUFFERED)
        && ws->close_sent && (ws->close_received || ws->failed))
    {
        /* RFC 6455 7.1.1: the server closes TCP first */
        ngx_http_devmon_ws_finalize(ws);
        return;
    }

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_http_devmon_ws_finalize(ws);
    }
}


static ngx_int_t
ngx_http_devmon_ws_write(ngx_http_devmon_ws_t *ws)
{
#if (NGX_SSL)
    if (ws->connection->ssl) {
        return ngx_http_devmon_ws_send_chain(ws);
    }
#endif

    return ngx_http_devmon_ws_writev(ws);
}


/*
 * A plain socket: the queued frames go straight from the ring to one
 * writev, without the ngx_chain_t links and the generic send_chain
 * (which would rebuild this very iovec from them).  At fan-out this runs
 * once per client per turn of the loop.
 */

static ngx_int_t
ngx_http_devmon_ws_writev(ngx_http_devmon_ws_t *ws)
{
    size_t                    size;
    ssize_t                   n;
    ngx_uint_t                i, count;
    ngx_iovec_t               vec;
    ngx_connection_t         *c;
    ngx_http_devmon_frame_t  *f;
    struct iovec              iovs[NGX_HTTP_DEVMON_WS_WRITE_LINKS];

    c = ws->connection;

    vec.iovs = iovs;
    vec.nalloc = NGX_HTTP_DEVMON_WS_WRITE_LINKS;

    while (c->write->ready && ws->out_n) {

        count = ngx_min(ws->out_n, NGX_HTTP_DEVMON_WS_WRITE_LINKS);
        size = 0;

        for (i = 0; i < count; i++) {
            f = ws->out[(ws->out_head + i) % ws->out_size];

            iovs[i].iov_base = f->data + (i == 0 ? ws->out_sent : 0);
            iovs[i].iov_len = f->len - (i == 0 ? ws->out_sent : 0);
            size += iovs[i].iov_len;
        }

        vec.count = count;
        vec.size = size;

        n = ngx_writev(c, &vec);

        if (n == NGX_ERROR) {
            c->error = 1;
            return NGX_ERROR;
        }

        if (n == NGX_AGAIN) {
            c->write->ready = 0;
            break;
        }

        c->sent += n;

        ngx_http_devmon_ws_sent(ws, n);

        if ((size_t) n < size) {
            /* the socket is full: wait for the write event */
            c->write->ready = 0;
            break;
        }
    }

    return NGX_OK;
}


#if (NGX_SSL)

/* TLS: through the connection's send_chain, links on the stack */

static ngx_int_t
ngx_http_devmon_ws_send_chain(ngx_http_devmon_ws_t *ws)
{
    size_t                    size;
    ngx_buf_t                *b;
    ngx_uint_t                i, n;
    ngx_chain_t              *cl;
    ngx_connection_t         *c;
    ngx_http_devmon_frame_t  *f;
    ngx_chain_t               chain[NGX_HTTP_DEVMON_WS_WRITE_LINKS];
    ngx_buf_t                 bufs[NGX_HTTP_DEVMON_WS_WRITE_LINKS];

    c = ws->connection;

    while (c->write->ready
           && (ws->out_n || (c->buffered & NGX_LOWLEVEL_BUFFERED)))
    {
        n = ngx_min(ws->out_n, NGX_HTTP_DEVMON_WS_WRITE_LINKS);
        size = 0;

        for (i = 0; i < n; i++) {
            f = ws->out[(ws->out_head + i) % ws->out_size];
            b = &bufs[i];

            ngx_memzero(b, sizeof(ngx_buf_t));
            b->pos = f->data + (i == 0 ? ws->out_sent : 0);
            b->last = f->data + f->len;
            b->start = b->pos;
            b->end = b->last;
            b->memory = 1;
            size += b->last - b->pos;

            chain[i].buf = b;
            chain[i].next = (i + 1 < n) ? &chain[i + 1] : NULL;
        }

        if (n) {
            /* TLS buffers small writes unless told to flush */
            bufs[n - 1].flush = 1;
        }

        cl = c->send_chain(c, n ? chain : NULL, 0);

        if (cl == NGX_CHAIN_ERROR) {
            c->error = 1;
            return NGX_ERROR;
        }

        /* the send functions advance each buffer's pos past what went out */

        for (i = 0; i < n; i++) {
            size -= bufs[i].last - bufs[i].pos;
        }

        ngx_http_devmon_ws_sent(ws, size);

        if (cl || (n == 0 && (c->buffered & NGX_LOWLEVEL_BUFFERED))) {
            /* the socket is full: wait for the write event */
            break;
        }
    }

    return NGX_OK;
}

#endif


/* sent bytes left the queue: whole frames are released */

static void
ngx_http_devmon_ws_sent(ngx_http_devmon_ws_t *ws, size_t sent)
{
    size_t                    left;
    ngx_http_devmon_frame_t  *f;

    while (sent && ws->out_n) {
        f = ws->out[ws->out_head];
        left = f->len - ws->out_sent;

        if (sent < left) {
            ws->out_sent += sent;
            return;
        }

        sent -= left;

        ws->out_head = (ws->out_head + 1) % ws->out_size;
        ws->out_n--;
        ws->out_bytes -= f->len;
        ws->out_sent = 0;

        if (f->sent) {
            f->sent(f);
            f->sent = NULL;
        }

        ngx_http_devmon_frame_release(f);
    }
}


static void
ngx_http_devmon_ws_timer_handler(ngx_event_t *ev)
{
    ngx_http_devmon_ws_t     *ws;
    ngx_http_devmon_frame_t  *f;

    ws = ev->data;

    if (ws->close_sent) {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "devmon ws: no close from client within %M ms",
                      ws->conf->close_timeout);
        ngx_http_devmon_ws_finalize(ws);
        return;
    }

    if (ws->awaiting_pong) {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "devmon ws: no pong from client within %M ms, "
                      "closing", ws->conf->ping_timeout);
        ngx_http_devmon_ws_finalize(ws);
        return;
    }

    f = &ws->ping;

    if (f->refs == 0) {
        f->len = ngx_devmon_ws_encode_header(f->data, NGX_DEVMON_WS_OP_PING,
                                             0);
        f->payload = f->data + f->len;
        f->opcode = NGX_DEVMON_WS_OP_PING;

        if (ngx_http_devmon_ws_push(ws, f) != NGX_OK) {
            ngx_http_devmon_ws_abort(ws);
            return;
        }

        ngx_http_devmon_ws_post_write(ws);
    }

    ws->awaiting_pong = 1;
    ngx_add_timer(ev, ws->conf->ping_timeout);
}


static void
ngx_http_devmon_ws_finalize(ngx_http_devmon_ws_t *ws)
{
    ngx_connection_t  *c;

    /*
     * Only called at the end of an event handler of this connection:
     * ws->pool, ws included, is freed here, then the connection.  Before
     * the release the count taken in _open() is the request's last one,
     * so finalizing it does both (see _request_cleanup()).
     */

    c = ws->connection;
    c->idle = 0;

    if (ws->request) {
        ngx_http_finalize_request(ws->request, NGX_DONE);
        return;
    }

    ngx_destroy_pool(ws->pool);
    ngx_http_close_connection(c);
}


/* the request goes before the 101 is out: the connection's state too */

static void
ngx_http_devmon_ws_request_cleanup(void *data)
{
    ngx_http_devmon_ws_t  *ws = data;

    if (ws->request) {
        ngx_destroy_pool(ws->pool);
    }
}


/*
 * Read and write handler from the 101 until the request is released:
 * c->data is still the request.  The 101 may not have fitted in the
 * socket at once; the rest is written here.  A read event only waits (its
 * readiness is kept, or reported again), and so does a graceful exit's
 * c->close, which the read handler finds after the release.
 */

static void
ngx_http_devmon_ws_upgraded_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_http_devmon_ws_t  *ws;

    c = ev->data;
    r = c->data;
    ws = ngx_http_get_module_ctx(r, ngx_http_devmon_module);

    if (r->out) {
        if (ngx_http_write_filter(r, NULL) == NGX_ERROR) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "devmon ws: write to client failed");
            ngx_http_devmon_ws_finalize(ws);
            return;
        }

        if (r->out) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_http_devmon_ws_finalize(ws);
            }

            return;
        }
    }

    ngx_http_devmon_ws_release(ws);

    c->read->handler = ngx_http_devmon_ws_read_handler;
    c->write->handler = ngx_http_devmon_ws_write_handler;

    /*
     * This event is handled now (a graceful exit's call comes from outside
     * the posted events), the other one right after it.
     */

    if (ev->write) {
        if (!c->read->posted) {
            ngx_post_event(c->read, &ngx_posted_events);
        }

    } else {
        ngx_http_devmon_ws_post_write(ws);
    }

    ev->handler(ev);
}


/*
 * The 101 is written: the request has nothing left to do and would hold
 * its pool (two 4 KB blocks) and header buffers for the connection's
 * life.  It is logged now, with status 101 (so the access log line comes
 * at the upgrade, not at the close), and freed; the header buffers go
 * the way ngx_http_set_keepalive() frees them on an idle connection.
 */

static void
ngx_http_devmon_ws_release(ngx_http_devmon_ws_t *ws)
{
    ngx_buf_t              *b;
    ngx_chain_t            *cl, *ln;
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_connection_t  *hc;

    r = ws->request;
    c = ws->connection;
    hc = r->http_connection;

    /* frames the client sent right behind its handshake */

    b = r->header_in;

    if (b->pos < b->last) {
        ngx_http_devmon_ws_process(ws, b->pos, b->last - b->pos);
        b->pos = b->last;
    }

    /* from here the request pool's cleanup leaves ws->pool alone */
    ws->request = NULL;

    r->main->count = 0;
    ngx_http_free_request(r, 0);

    c->data = ws;
    c->destroyed = 0;
    c->log->action = "serving devmon WebSocket";

    b = c->buffer;

    if (b && b->start && ngx_pfree(c->pool, b->start) == NGX_OK) {
        b->start = NULL;
        b->pos = NULL;
        b->last = NULL;
        b->end = NULL;
    }

    for (cl = hc->free; cl; /* void */) {
        ln = cl;
        cl = cl->next;
        ngx_pfree(c->pool, ln->buf->start);
        ngx_free_chain(c->pool, ln);
    }

    hc->free = NULL;

    for (cl = hc->busy; cl; /* void */) {
        ln = cl;
        cl = cl->next;
        ngx_pfree(c->pool, ln->buf->start);
        ngx_free_chain(c->pool, ln);
    }

    hc->busy = NULL;
    hc->nbusy = 0;
}


static void
ngx_http_devmon_ws_cleanup(void *data)
{
    ngx_http_devmon_ws_t  *ws = data;

    ngx_uint_t  i;

    if (ws->timer.timer_set) {
        ngx_del_timer(&ws->timer);
    }

    for (i = 0; i < ws->out_n; i++) {
        ngx_http_devmon_frame_release(ws->out[(ws->out_head + i)
                                              % ws->out_size]);
    }

    ws->out_n = 0;
}
