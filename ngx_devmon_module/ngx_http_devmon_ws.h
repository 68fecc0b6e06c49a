/* WebSocket server inside nginx: handshake, frames, send queue, shutdown. */

/*
 * Copyright (C) devmon authors
 */


#ifndef _NGX_HTTP_DEVMON_WS_H_INCLUDED_
#define _NGX_HTTP_DEVMON_WS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_devmon_module.h"
#include "ngx_devmon_ws_codec.h"


/*
 * Protocol behaviour (what clients, tests and the README rely on)
 *
 * Before anything else the token is taken out of the request (see
 * ngx_http_devmon_auth.h), so no answer below logs it; a subrequest
 * (SSI include...) is refused with 403 and an [error].
 *
 * Handshake, checked in this order; every refusal has the body
 * {"error":"<code>","message":"<text>"} with
 * "Content-Type: application/json":
 *
 *   no "Upgrade: websocket", or "Connection" without the "upgrade" token
 *   (a plain GET, any method)      426 upgrade_required, with headers
 *                                      "Upgrade: websocket" and
 *                                      "Sec-WebSocket-Version: 13"
 *   method other than GET          400 bad_method
 *   HTTP version other than 1.1    400 bad_http_version
 *   Sec-WebSocket-Version not 13, missing or repeated
 *                                  426 bad_version, same two headers
 *   Sec-WebSocket-Key missing, repeated, or not base64 of 16 bytes
 *                                  400 bad_key
 *   Origin present and not in devmon_allow_origin (compared without
 *   regard to case; a request without Origin is not from a browser and
 *   is not checked), or repeated   403 origin_not_allowed
 *   Sec-WebSocket-Protocol offered without "devmon.v1"
 *                                  400 bad_subprotocol
 *   the worker is shutting down    503 shutting_down, "Retry-After: 1"
 *   (later concerns: 401, 429, 503 at the handshake HOOK)
 *
 * Header names and the Connection / Upgrade tokens match without regard
 * to case; a header repeated is read as one comma-separated list.
 *
 * Success: 101 with "Sec-WebSocket-Protocol: devmon.v1" if the client
 * offered it, none if it offered no subprotocol.
 *
 * Frames: RFC 6455 with no extension.  Failing the connection sends a
 * close frame and closes TCP as soon as it is written:
 *   1002 unmasked client frame, RSV bit, unknown opcode, fragmented or
 *        > 125-byte control frame, bad continuation, non-minimal length,
 *        bad close payload (1 byte, invalid code);
 *   1007 text (or close reason) that is not UTF-8, checked as it arrives;
 *   1009 a message above devmon_max_message_size.
 * A binary message (devmon speaks JSON text only) is answered with a
 * close 1003 and, like every close the server starts, the client then has
 * devmon_close_timeout to answer with its close before TCP is closed.
 * A ping is answered with a pong of the same payload (only the latest if
 * several are pending).  A client close is echoed with its code (empty
 * if it had none), then TCP is closed.
 * Every devmon_ping_interval the server pings; no pong within
 * devmon_ping_timeout closes TCP without a close frame (the peer is taken
 * for dead: clients see 1006).
 *
 * Text messages are JSON objects with a string "type":
 *   {"type":"ping","id":X}     -> {"type":"pong","id":X} (X any JSON value,
 *                                 re-encoded compactly; no id, no id back)
 *   not JSON / not an object / no string "type"
 *                              -> {"type":"error","error":"bad_message",...}
 *   unknown type               -> {"type":"error","error":"unknown_type",...}
 * The connection stays open after an error message.
 *
 * Close codes sent: the client's own code echoed (1000...), 1001 going
 * away on reload/shutdown (nginx -s reload / quit: at once, not after
 * worker_shutdown_timeout), preceded by
 * {"type":"bye","reason":"shutdown","resume":true} and with events not yet
 * written dropped (the client resumes from its last one); 1002,
 * 1003, 1007, 1009 as above; 4008 when the send queue overflows
 * (devmon_send_queue frames or devmon_send_queue_bytes bytes waiting
 * while the socket accepts nothing more; one frame above the byte limit
 * passes through an empty queue); other
 * concerns use ngx_http_devmon_ws_close() with 4001, 4003, 1008, 1011...
 */


#define NGX_HTTP_DEVMON_WS_CLOSE_SLOW  4008


/*
 * A pre-encoded server frame (header and payload in one block), shared
 * by reference: fan-out encodes an event once and queues the same frame
 * on every client.  It is malloc()ed, not taken from a request pool, so
 * that it may outlive any one connection; the worker is single-threaded,
 * the count needs no atomics.
 */
typedef struct ngx_http_devmon_frame_s  ngx_http_devmon_frame_t;

/* the frame's owner learns when its last byte first went to a socket */
typedef void (*ngx_http_devmon_frame_sent_pt)(ngx_http_devmon_frame_t *f);

struct ngx_http_devmon_frame_s {
    ngx_uint_t                   refs;
    u_char                      *data;      /* header then payload */
    size_t                       len;       /* header + payload */
    u_char                      *payload;
    unsigned                     opcode:4;
    unsigned                     embedded:1; /* inside a ws, never freed */

    /* called once, then cleared (streams: publish-to-send latency) */
    ngx_http_devmon_frame_sent_pt  sent;
    void                        *sent_data;
    uint64_t                     sent_stamp;
};


typedef struct ngx_http_devmon_ws_s  ngx_http_devmon_ws_t;

/*
 * One per WebSocket connection, in a pool of its own (ws->pool) that
 * also holds the other concerns' state and cleanups.  Until the 101 is
 * written, ws is the request ctx of ngx_http_devmon_module and the
 * request pool destroys ws->pool if the handshake fails; then the request
 * is released (logged with status 101 and freed, header buffers freed as
 * on a keepalive connection), c->data is ws, ws->request is NULL, and
 * nothing may look at the request any more.  Closing destroys ws->pool,
 * then the connection.  All functions below are for event handlers of the
 * worker (never another thread).
 */
struct ngx_http_devmon_ws_s {
    ngx_http_request_t          *request;    /* until released */
    ngx_connection_t            *connection;
    ngx_pool_t                  *pool;       /* freed when TCP closes */
    ngx_http_devmon_ws_conf_t   *conf;

    /* slots for the other concerns; they own what they point to */
    void                        *session;    /* auth (issue 3) */
    void                        *client;     /* streams (issue 4) */

    /*
     * The reader keeps a partial frame header and control payload itself;
     * reads go to a buffer on the stack (ngx_http_devmon_ws_read_handler),
     * so an idle connection holds no read buffer.
     */
    ngx_devmon_ws_reader_t       reader;

    /* text message reassembly, grown up to max_message */
    u_char                      *msg;
    size_t                       msg_len;
    size_t                       msg_size;

    /* send queue: a ring of frame references */
    ngx_http_devmon_frame_t    **out;
    ngx_uint_t                   out_head;
    ngx_uint_t                   out_n;
    ngx_uint_t                   out_size;
    size_t                       out_bytes;
    size_t                       out_sent;   /* of the head frame */

    ngx_event_t                  timer;      /* ping, pong wait, close */

    /* control frames answer from here, so they allocate nothing */
    ngx_http_devmon_frame_t      pong;
    ngx_http_devmon_frame_t      ping;
    ngx_http_devmon_frame_t      close;
    u_char                       pong_buf[2 + NGX_DEVMON_WS_MAX_CONTROL];
    u_char                       ping_buf[2];
    u_char                       close_buf[2 + NGX_DEVMON_WS_MAX_CONTROL];

    unsigned                     awaiting_pong:1;
    unsigned                     close_sent:1;
    unsigned                     close_received:1;
    unsigned                     failed:1;      /* no more reading */
    unsigned                     aborted:1;     /* out of memory */
};


ngx_int_t ngx_http_devmon_ws_handler(ngx_http_request_t *r);

/*
 * Request headers named name (any case), one after the other: zero "it",
 * then call until NULL.  The one walk of r->headers_in.headers for the
 * handshake checks and for the token (ngx_http_devmon_auth.c).
 */
typedef struct {
    ngx_list_part_t             *part;
    ngx_uint_t                   i;
} ngx_http_devmon_header_iter_t;

ngx_table_elt_t *ngx_http_devmon_header_next(ngx_http_request_t *r,
    const char *name, ngx_http_devmon_header_iter_t *it);

/*
 * Answers a refused handshake (or any devmon HTTP error) with status,
 * the JSON body {"error":error,"message":message} and at most one extra
 * header (name NULL: none); returns what the content handler returns.
 */
ngx_int_t ngx_http_devmon_reject(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *message, const char *header,
    const char *value);

/*
 * Frames.  _frame_create() encodes opcode and a copy of payload (if
 * payload is NULL, f->payload is left for the caller to fill) and returns
 * a frame holding one reference, or NULL.
 */
ngx_http_devmon_frame_t *ngx_http_devmon_frame_create(ngx_log_t *log,
    ngx_uint_t opcode, u_char *payload, size_t len);
void ngx_http_devmon_frame_retain(ngx_http_devmon_frame_t *f);
void ngx_http_devmon_frame_release(ngx_http_devmon_frame_t *f);

/*
 * Queues f on ws (taking a reference of its own: the caller still holds
 * and must release its reference).  NGX_OK: queued; NGX_DECLINED: not
 * queued, because the queue is full (the client is then closed with 4008)
 * or the connection is closing.  May write, never frees: the write
 * normally runs from a posted event, so that fan-out loops may call it for
 * many clients and every one's frames leave in one writev; only a queue
 * that is full while the socket is writable is flushed at once, before
 * the limit is judged.  A write error there only marks ws for the write
 * handler to finish, so ws stays valid for the caller.
 */
ngx_int_t ngx_http_devmon_ws_send(ngx_http_devmon_ws_t *ws,
    ngx_http_devmon_frame_t *f);

/* text helpers over _frame_create() + _ws_send() */
ngx_int_t ngx_http_devmon_ws_send_text(ngx_http_devmon_ws_t *ws,
    u_char *text, size_t len);
ngx_int_t ngx_http_devmon_ws_send_error(ngx_http_devmon_ws_t *ws,
    const char *error, const char *message);

/*
 * Starts the close handshake with code and reason (NULL allowed); later
 * calls do nothing.  Like _send(), it is safe from any context: the
 * connection ends later, from its own events.
 */
void ngx_http_devmon_ws_close(ngx_http_devmon_ws_t *ws, ngx_uint_t code,
    const char *reason);

/*
 * Dispatcher of client messages other than "ping", called with the
 * message's "type" and its parsed JSON object (borrowed).  Issue 3 adds
 * "auth", issue 4 "subscribe" / "unsubscribe" here.  NGX_OK: handled;
 * NGX_DECLINED: unknown type (an error message is answered); NGX_ERROR:
 * the handler has closed the connection.
 */
ngx_int_t ngx_http_devmon_ws_on_message(ngx_http_devmon_ws_t *ws,
    ngx_str_t *type, json_t *json);

/*
 * Hooks for the other concerns (search for "HOOK" in the .c):
 *  - handshake: after the protocol checks, before the 101, a call that may
 *    still refuse with ngx_http_devmon_reject() (token 401, cap 429,
 *    broker 503);
 *  - opened: after the 101 is sent, where hello / snapshot start;
 *  - closed: state lives in ws->pool, with a cleanup added there by
 *    ngx_pool_cleanup_add(ws->pool, 0); it runs when the connection ends
 *    (or when the handshake is refused after the hook allocated it), in
 *    the reverse order of adding, while ws is still valid.  The request
 *    is gone by then: keep what is needed (zone, conf) in the state.
 */


#endif /* _NGX_HTTP_DEVMON_WS_H_INCLUDED_ */
