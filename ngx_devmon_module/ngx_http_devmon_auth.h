/* Bearer tokens in nginx: directives, handshake check, renewal, user cap. */

/*
 * Copyright (C) devmon authors
 */


#ifndef _NGX_HTTP_DEVMON_AUTH_H_INCLUDED_
#define _NGX_HTTP_DEVMON_AUTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_devmon_module.h"
#include "ngx_http_devmon_ws.h"
#include "ngx_devmon_jwt.h"
#include "ngx_http_devmon_zone.h"


/*
 * Behaviour (what clients, tests and the README rely on)
 *
 * A location authenticates when it has at least one key (devmon_jwt_key
 * or devmon_jwt_jwks, inherited as a whole like other array directives).
 * A devmon_ws or devmon_snapshot location without keys stops startup
 * with [emerg] naming the location; only devmon_status may have none.
 *
 * Token sources, first found wins: "Authorization: Bearer <jwt>", then
 * an element "bearer.<jwt>" of Sec-WebSocket-Protocol, then (only with
 * devmon_token_arg on) the "access_token" argument.  In every location
 * that serves devmon, the REWRITE phase handler copies the token into the
 * request pool and overwrites every token (every bearer.* element, every
 * access_token argument, used or not) with '*' in the request's own
 * buffers: the Authorization value, the subprotocol list, r->args, the
 * request line and the unparsed URI.  So whoever refuses the request
 * afterwards (limit_req 429/503, allow/deny 403, a location "return", the
 * handshake's own 400/403/426, 401, 429, 503) and the log lines of a 101
 * ("request: ..." context, access log $request, $args, $http_*) no
 * longer carry it.  What happens before the location is known cannot be
 * covered: a request nginx refuses while reading it (400, 414, 494) and
 * the server-level rewrite phase ("return" in server{}) log the request
 * line as sent; and nginx's own debug log prints request headers before
 * any module runs: never use "error_log ... debug" with real tokens.
 *
 * Refusals, before the upgrade, body {"error":"<reason>","message":...}:
 *   401 + WWW-Authenticate: Bearer realm="devmon"            no token
 *   401 + WWW-Authenticate: Bearer realm="devmon", error="invalid_token",
 *         error_description="<reason>"                       bad token
 *   429 user_limit + Retry-After   the user (account and sub) already has
 *                                  devmon_user_limit connections
 *   503 zone_full + Retry-After    the shared zone has no room left
 *
 * During the connection:
 *   devmon_token_expiring_notice before exp: {"type":"token_expiring",
 *   "exp":N}; at exp (+ leeway) without renewal: close 4001.
 *   {"type":"auth","token":"<jwt>"}: a valid token for the same account
 *   and user extends the session: {"type":"auth","ok":true,"exp":N}.  A
 *   valid token for another account or user: close 4003.  An invalid
 *   token: {"type":"auth","ok":false,"error":"<reason>"}, the session
 *   keeps its current expiry; after NGX_HTTP_DEVMON_AUTH_MAX_FAILS such
 *   answers in a row the connection is closed with 1008.
 */

#define NGX_HTTP_DEVMON_AUTH_RETRY_AFTER  "10"
#define NGX_HTTP_DEVMON_AUTH_MAX_FAILS    5

#define NGX_HTTP_DEVMON_CLOSE_EXPIRED     4001
#define NGX_HTTP_DEVMON_CLOSE_FORBIDDEN   4003
#define NGX_HTTP_DEVMON_CLOSE_POLICY      1008


/* where the token came from */
#define NGX_HTTP_DEVMON_TOKEN_NONE        0
#define NGX_HTTP_DEVMON_TOKEN_HEADER      1
#define NGX_HTTP_DEVMON_TOKEN_SUBPROTOCOL 2
#define NGX_HTTP_DEVMON_TOKEN_ARG         3


typedef struct {
    ngx_devmon_jwt_result_t       jwt;        /* reason, account, user, exp */
    ngx_uint_t                    source;     /* NGX_HTTP_DEVMON_TOKEN_* */
    ngx_uint_t                    status;     /* 0 when authorized */
    u_char                        challenge[160];  /* WWW-Authenticate */
} ngx_http_devmon_auth_result_t;


/* per WebSocket connection, in ws->session; lives in ws->pool */
typedef struct {
    ngx_http_devmon_ws_t         *ws;
    ngx_http_devmon_zone_t       *zone;       /* NULL: no devmon_zone */
    ngx_http_devmon_auth_conf_t  *conf;
    ngx_str_t                     account;    /* null-terminated */
    ngx_str_t                     user;       /* null-terminated */
    ngx_str_t                     key;        /* "account user" in the zone */
    time_t                        exp;
    ngx_event_t                   timer;      /* notice, then expiry */
    ngx_uint_t                    fails;      /* failed renewals in a row */
    unsigned                      counted:1;  /* holds a user slot */
    unsigned                      noticed:1;
    unsigned                      closing:1;
} ngx_http_devmon_session_t;


/* registers the REWRITE phase handler that takes the token */
ngx_int_t ngx_http_devmon_auth_postconfiguration(ngx_conf_t *cf);

/*
 * Takes the token out of the request (see above); idempotent.  Called
 * first by every devmon content handler too, before any answer.
 */
ngx_int_t ngx_http_devmon_auth_take(ngx_http_request_t *r);

/* directive setters (the command table is in ngx_http_devmon_module.c) */
char *ngx_http_devmon_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_devmon_jwt_jwks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_devmon_jwt_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_devmon_jwt_audience(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

void ngx_http_devmon_auth_create_conf(ngx_http_devmon_auth_conf_t *conf);
char *ngx_http_devmon_auth_merge_conf(ngx_conf_t *cf,
    ngx_http_devmon_loc_conf_t *prev, ngx_http_devmon_loc_conf_t *conf);

/*
 * Handshake hook, before the 101.  NGX_OK: go on (ws->session is set when
 * the location authenticates, and the user's slot is held until the
 * request ends); NGX_DECLINED: refused and answered, the handler returns
 * *rc; NGX_ERROR: internal error, *rc is 500.
 */
ngx_int_t ngx_http_devmon_auth_handshake(ngx_http_request_t *r,
    ngx_http_devmon_ws_t *ws, ngx_int_t *rc);

/* opened hook, after the 101: starts the expiry timer */
void ngx_http_devmon_auth_opened(ngx_http_devmon_ws_t *ws);

/* {"type":"auth",...}; returns like ngx_http_devmon_ws_on_message() */
ngx_int_t ngx_http_devmon_auth_on_message(ngx_http_devmon_ws_t *ws,
    json_t *json);

/*
 * For plain HTTP requests (devmon_snapshot): NGX_OK when authorized or
 * when the location does not authenticate (res->jwt.account is then
 * empty); otherwise the HTTP status, with res->challenge and
 * res->jwt.reason set for ngx_http_devmon_auth_reject().  No user slot is
 * taken.
 */
ngx_int_t ngx_http_devmon_auth_request(ngx_http_request_t *r,
    ngx_http_devmon_auth_result_t *res);
ngx_int_t ngx_http_devmon_auth_reject(ngx_http_request_t *r,
    ngx_http_devmon_auth_result_t *res);

/* the session's account, or NULL when the location does not authenticate */
ngx_str_t *ngx_http_devmon_auth_account(ngx_http_devmon_ws_t *ws);


#endif /* _NGX_HTTP_DEVMON_AUTH_H_INCLUDED_ */
