/* Bearer tokens in nginx: directives, handshake check, renewal, user cap. */

/*
 * Copyright (C) devmon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_devmon_module.h"
#include "ngx_http_devmon_auth.h"
#include "ngx_http_devmon_ws.h"
#include "ngx_http_devmon_zone.h"


#define NGX_HTTP_DEVMON_AUTH_ERRLEN  512


static ngx_devmon_jwt_keys_t *ngx_http_devmon_auth_keys(ngx_conf_t *cf,
    ngx_http_devmon_auth_conf_t *acf);
static void ngx_http_devmon_auth_keys_cleanup(void *data);
static void ngx_http_devmon_auth_check(ngx_http_request_t *r,
    ngx_http_devmon_auth_conf_t *acf, ngx_http_devmon_auth_result_t *res);
static ngx_uint_t ngx_http_devmon_auth_token(ngx_http_request_t *r,
    ngx_http_devmon_auth_conf_t *acf, ngx_str_t *token);
static ngx_int_t ngx_http_devmon_auth_bearer(ngx_str_t *value,
    ngx_str_t *token);
static ngx_int_t ngx_http_devmon_auth_subprotocol(ngx_str_t *value,
    ngx_str_t *token);
static void ngx_http_devmon_auth_redact(ngx_str_t *token);
static void ngx_http_devmon_auth_session_cleanup(void *data);
static void ngx_http_devmon_auth_arm(ngx_http_devmon_session_t *s);
static void ngx_http_devmon_auth_timer_handler(ngx_event_t *ev);


static const char  *ngx_http_devmon_auth_messages[] = {
    "token accepted",
    "no bearer token",
    "token too large",
    "token is not a well-formed JWT",
    "token algorithm not accepted",
    "token key id unknown",
    "token signature invalid",
    "token expired",
    "token not yet valid",
    "token issued in the future",
    "token issuer not accepted",
    "token audience not accepted",
    "token has no account",
    "token has no user"
};


/* devmon_jwt_key hs256|hs384|hs512|rsa|ec FILE [kid=ID] */

char *
ngx_http_devmon_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_devmon_loc_conf_t *dlcf = conf;

    int                     rc, i;
    char                    err[NGX_HTTP_DEVMON_AUTH_ERRLEN];
    u_char                 *kid;
    ngx_str_t              *value, path;
    ngx_int_t               alg;
    ngx_devmon_jwt_keys_t  *keys;

    value = cf->args->elts;
    kid = NULL;

    if (cf->args->nelts == 4) {
        if (ngx_strncmp(value[3].data, "kid=", 4) != 0 || value[3].len == 4) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"kid=ID\"", &value[3]);
            return NGX_CONF_ERROR;
        }

        kid = value[3].data + 4;
    }

    path = value[2];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    keys = ngx_http_devmon_auth_keys(cf, &dlcf->auth);
    if (keys == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(value[1].data, "rsa") == 0
        || ngx_strcmp(value[1].data, "ec") == 0)
    {
        rc = ngx_devmon_jwt_keys_add_pem_file(keys, (char *) path.data,
                                              (char *) kid, err,
                                              sizeof(err));

    } else {
        alg = -1;

        for (i = NGX_DEVMON_JWT_HS256; i <= NGX_DEVMON_JWT_HS512; i++) {
            if (value[1].len == 5
                && ngx_strncasecmp(value[1].data,
                                   (u_char *) ngx_devmon_jwt_alg_name(i), 5)
                   == 0)
            {
                alg = i;
            }
        }

        if (alg < 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid key type \"%V\", expected hs256, "
                               "hs384, hs512, rsa or ec", &value[1]);
            return NGX_CONF_ERROR;
        }

        rc = ngx_devmon_jwt_keys_add_secret_file(keys,
                                                 (ngx_devmon_jwt_alg_e) alg,
                                                 (char *) path.data,
                                                 (char *) kid, err,
                                                 sizeof(err));
    }

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "devmon_jwt_key \"%V\": %s", &path, err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_devmon_jwt_jwks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_devmon_loc_conf_t *dlcf = conf;

    char                    err[NGX_HTTP_DEVMON_AUTH_ERRLEN];
    ngx_str_t              *value, path;
    ngx_devmon_jwt_keys_t  *keys;

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    keys = ngx_http_devmon_auth_keys(cf, &dlcf->auth);
    if (keys == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_devmon_jwt_keys_add_jwks_file(keys, (char *) path.data, err,
                                          sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "devmon_jwt_jwks \"%V\": %s", &path, err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_devmon_jwt_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_devmon_loc_conf_t *dlcf = conf;

    int          alg;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (dlcf->auth.algorithms != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    dlcf->auth.algorithms = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        alg = ngx_devmon_jwt_alg_parse((char *) value[i].data, value[i].len);

        if (alg < 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown or unsupported JWT algorithm \"%V\" "
                               "(HS256/384/512, RS256/384/512, "
                               "ES256/384/512)", &value[i]);
            return NGX_CONF_ERROR;
        }

        dlcf->auth.algorithms |= NGX_DEVMON_JWT_ALG_BIT(alg);
    }

    return NGX_CONF_OK;
}


char *
ngx_http_devmon_jwt_audience(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_devmon_loc_conf_t *dlcf = conf;

    char        **aud;
    ngx_str_t    *value;
    ngx_uint_t    i;

    if (dlcf->auth.audiences != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    dlcf->auth.audiences = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                            sizeof(char *));
    if (dlcf->auth.audiences == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 0) {
            return "has an empty audience";
        }

        aud = ngx_array_push(dlcf->auth.audiences);
        if (aud == NULL) {
            return NGX_CONF_ERROR;
        }

        /* arguments of the configuration are null-terminated */
        *aud = (char *) value[i].data;
    }

    return NGX_CONF_OK;
}


void
ngx_http_devmon_auth_create_conf(ngx_http_devmon_auth_conf_t *conf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     conf->issuer = { 0, NULL };
     *     conf->account_claim = { 0, NULL };
     *     conf->user_claim = { 0, NULL };
     *     conf->policy = { 0 };
     */

    conf->keys = NGX_CONF_UNSET_PTR;
    conf->algorithms = NGX_CONF_UNSET_UINT;
    conf->audiences = NGX_CONF_UNSET_PTR;
    conf->leeway = NGX_CONF_UNSET;
    conf->token_arg = NGX_CONF_UNSET;
    conf->expiring_notice = NGX_CONF_UNSET;
    conf->user_limit = NGX_CONF_UNSET_UINT;
}


char *
ngx_http_devmon_auth_merge_conf(ngx_conf_t *cf,
    ngx_http_devmon_loc_conf_t *prev, ngx_http_devmon_loc_conf_t *conf)
{
    unsigned                      have;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_devmon_auth_conf_t  *acf, *pacf;

    acf = &conf->auth;
    pacf = &prev->auth;

    ngx_conf_merge_ptr_value(acf->keys, pacf->keys, NULL);
    ngx_conf_merge_uint_value(acf->algorithms, pacf->algorithms, 0);
    ngx_conf_merge_str_value(acf->issuer, pacf->issuer, "");
    ngx_conf_merge_ptr_value(acf->audiences, pacf->audiences, NULL);
    ngx_conf_merge_value(acf->leeway, pacf->leeway, 0);
    ngx_conf_merge_str_value(acf->account_claim, pacf->account_claim,
                             "acct");
    ngx_conf_merge_str_value(acf->user_claim, pacf->user_claim, "sub");
    ngx_conf_merge_value(acf->token_arg, pacf->token_arg, 0);
    ngx_conf_merge_value(acf->expiring_notice, pacf->expiring_notice, 60);
    ngx_conf_merge_uint_value(acf->user_limit, pacf->user_limit, 10);

    if (conf->serve == NGX_HTTP_DEVMON_NONE) {
        return NGX_CONF_OK;
    }

    if (ngx_http_devmon_zone_ensure(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (acf->keys == NULL) {
        if (conf->serve == NGX_HTTP_DEVMON_STATUS) {
            return NGX_CONF_OK;
        }

        /*
         * Serving an account's data to whoever asks is a hole, not a
         * default.  The merge runs after the whole file is parsed, so
         * the location's name says where, not cf's current line.
         */

        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%s\" in location \"%V\" needs \"devmon_jwt_key\" "
                      "or \"devmon_jwt_jwks\" (in the location or above it)",
                      conf->serve == NGX_HTTP_DEVMON_WS
                      ? "devmon_ws" : "devmon_snapshot",
                      &clcf->name);
        return NGX_CONF_ERROR;
    }

    have = ngx_devmon_jwt_keys_algorithms(acf->keys);

    if (acf->algorithms && (acf->algorithms & have) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no key for any of the \"devmon_jwt_algorithms\"");
        return NGX_CONF_ERROR;
    }

    acf->policy.keys = acf->keys;
    acf->policy.algorithms = (unsigned) acf->algorithms;
    acf->policy.issuer = acf->issuer.len ? (char *) acf->issuer.data : NULL;
    acf->policy.leeway = (long) acf->leeway;
    acf->policy.account_claim = (char *) acf->account_claim.data;
    acf->policy.user_claim = (char *) acf->user_claim.data;
    acf->policy.max_len = NGX_DEVMON_JWT_MAX_LEN;

    if (acf->audiences) {
        acf->policy.audiences = acf->audiences->elts;
        acf->policy.naudiences = acf->audiences->nelts;
    }

    return NGX_CONF_OK;
}


/* the key set of this level, made on its first key */

static ngx_devmon_jwt_keys_t *
ngx_http_devmon_auth_keys(ngx_conf_t *cf, ngx_http_devmon_auth_conf_t *acf)
{
    ngx_pool_cleanup_t  *cln;

    if (acf->keys != NGX_CONF_UNSET_PTR) {
        return acf->keys;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    acf->keys = ngx_devmon_jwt_keys_create();
    if (acf->keys == NULL) {
        return NULL;
    }

    /* freed with the cycle's pool, on reload or exit */
    cln->handler = ngx_http_devmon_auth_keys_cleanup;
    cln->data = acf->keys;

    return acf->keys;
}


static void
ngx_http_devmon_auth_keys_cleanup(void *data)
{
    ngx_devmon_jwt_keys_free(data);
}


ngx_int_t
ngx_http_devmon_auth_handshake(ngx_http_request_t *r,
    ngx_http_devmon_ws_t *ws, ngx_int_t *rc)
{
    u_char                         *p;
    ngx_int_t                       n;
    ngx_pool_cleanup_t             *cln;
    ngx_http_devmon_zone_t         *zone;
    ngx_http_devmon_session_t      *s;
    ngx_http_devmon_loc_conf_t     *dlcf;
    ngx_http_devmon_auth_conf_t    *acf;
    ngx_http_devmon_auth_result_t   res;

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_devmon_module);
    acf = &dlcf->auth;

    if (acf->keys == NULL) {
        return NGX_OK;
    }

    ngx_http_devmon_auth_check(r, acf, &res);

    if (res.status) {
        *rc = ngx_http_devmon_auth_reject(r, &res);
        return NGX_DECLINED;
    }

    s = ngx_pcalloc(r->pool, sizeof(ngx_http_devmon_session_t));
    if (s == NULL) {
        goto failed;
    }

    s->account.len = ngx_strlen(res.jwt.account);
    s->user.len = ngx_strlen(res.jwt.user);

    /* "account user\0": account\0 and user\0 point inside it */
    p = ngx_pnalloc(r->pool, 2 * (s->account.len + s->user.len + 2));
    if (p == NULL) {
        goto failed;
    }

    s->key.data = p;
    s->key.len = s->account.len + 1 + s->user.len;
    p = ngx_sprintf(p, "%s %s%Z", res.jwt.account, res.jwt.user);

    s->account.data = p;
    p = ngx_cpymem(p, res.jwt.account, s->account.len + 1);
    s->user.data = p;
    ngx_memcpy(p, res.jwt.user, s->user.len + 1);

    s->request = r;
    s->ws = ws;
    s->conf = acf;
    s->exp = (time_t) res.jwt.exp;

    s->timer.handler = ngx_http_devmon_auth_timer_handler;
    s->timer.data = s;
    s->timer.log = r->connection->log;
    s->timer.cancelable = 1;       /* must not hold up a graceful exit */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    cln->handler = ngx_http_devmon_auth_session_cleanup;
    cln->data = s;

    zone = ngx_http_devmon_zone_get(r);

    if (zone) {
        n = ngx_http_devmon_user_acquire(zone, &s->key, acf->user_limit);

        if (n == NGX_BUSY) {
            ngx_http_devmon_stat_add(zone, NGX_HTTP_DEVMON_STAT_USER_LIMIT);

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "devmon: user \"%V\" of account \"%V\" is at its "
                          "limit of %ui connections", &s->user, &s->account,
                          acf->user_limit);

            *rc = ngx_http_devmon_reject(r, 429, "user_limit",
                                         "too many connections for this "
                                         "user", "Retry-After",
                                         NGX_HTTP_DEVMON_AUTH_RETRY_AFTER);
            return NGX_DECLINED;
        }

        if (n == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "devmon: shared zone is full, connection "
                          "refused; enlarge \"devmon_zone\"");

            *rc = ngx_http_devmon_reject(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "zone_full", "server overloaded",
                                         "Retry-After",
                                         NGX_HTTP_DEVMON_AUTH_RETRY_AFTER);
            return NGX_DECLINED;
        }

        s->counted = 1;
    }

    ws->session = s;

    return NGX_OK;

failed:

    *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    return NGX_ERROR;
}


void
ngx_http_devmon_auth_opened(ngx_http_devmon_ws_t *ws)
{
    ngx_http_devmon_session_t  *s;

    s = ws->session;

    if (s) {
        ngx_http_devmon_auth_arm(s);
    }
}


ngx_str_t *
ngx_http_devmon_auth_account(ngx_http_devmon_ws_t *ws)
{
    ngx_http_devmon_session_t  *s;

    s = ws->session;

    return s ? &s->account : NULL;
}


ngx_int_t
ngx_http_devmon_auth_on_message(ngx_http_devmon_ws_t *ws, json_t *json)
{
    u_char                      buf[128], *last;
    json_t                     *v;
    const char                 *token;
    ngx_http_devmon_zone_t     *zone;
    ngx_devmon_jwt_result_t     res;
    ngx_http_devmon_session_t  *s;

    s = ws->session;

    if (s == NULL) {
        last = ngx_sprintf(buf, "{\"type\":\"auth\",\"ok\":false,"
                           "\"error\":\"not_enabled\"}");
        (void) ngx_http_devmon_ws_send_text(ws, buf, last - buf);
        return NGX_OK;
    }

    if (s->closing) {
        return NGX_OK;
    }

    zone = ngx_http_devmon_zone_get(s->request);

    v = json_object_get(json, "token");
    token = json_is_string(v) ? json_string_value(v) : NULL;

    ngx_devmon_jwt_verify(&s->conf->policy, token,
                          token ? json_string_length(v) : 0,
                          (long long) ngx_time(), &res);

    if (res.reason != NGX_DEVMON_JWT_OK) {
        ngx_http_devmon_stat_add(zone, NGX_HTTP_DEVMON_STAT_RENEW_FAILED);

        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "devmon: renewal token refused: %s",
                      ngx_devmon_jwt_reason_name(res.reason));

        if (++s->fails >= NGX_HTTP_DEVMON_AUTH_MAX_FAILS) {
            s->closing = 1;
            ngx_http_devmon_ws_close(ws, NGX_HTTP_DEVMON_CLOSE_POLICY,
                                     "too many invalid tokens");
            return NGX_ERROR;
        }

        last = ngx_sprintf(buf, "{\"type\":\"auth\",\"ok\":false,"
                           "\"error\":\"%s\"}",
                           ngx_devmon_jwt_reason_name(res.reason));
        (void) ngx_http_devmon_ws_send_text(ws, buf, last - buf);
        return NGX_OK;
    }

    if (ngx_strcmp(res.account, s->account.data) != 0
        || ngx_strcmp(res.user, s->user.data) != 0)
    {
        ngx_http_devmon_stat_add(zone, NGX_HTTP_DEVMON_STAT_CLOSED_OTHER);

        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "devmon: renewal token of user \"%V\" account \"%V\" "
                      "names another user or account, closing",
                      &s->user, &s->account);

        s->closing = 1;
        ngx_http_devmon_ws_close(ws, NGX_HTTP_DEVMON_CLOSE_FORBIDDEN,
                                 "token for another account or user");
        return NGX_ERROR;
    }

    ngx_http_devmon_stat_add(zone, NGX_HTTP_DEVMON_STAT_RENEWED);

    s->fails = 0;
    s->exp = (time_t) res.exp;
    s->noticed = 0;

    ngx_http_devmon_auth_arm(s);

    last = ngx_sprintf(buf, "{\"type\":\"auth\",\"ok\":true,\"exp\":%T}",
                       s->exp);
    (void) ngx_http_devmon_ws_send_text(ws, buf, last - buf);

    return NGX_OK;
}


ngx_int_t
ngx_http_devmon_auth_request(ngx_http_request_t *r,
    ngx_http_devmon_auth_result_t *res)
{
    ngx_http_devmon_loc_conf_t  *dlcf;

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_devmon_module);

    if (dlcf->auth.keys == NULL) {
        ngx_memzero(res, sizeof(ngx_http_devmon_auth_result_t));
        return NGX_OK;
    }

    ngx_http_devmon_auth_check(r, &dlcf->auth, res);

    return res->status ? (ngx_int_t) res->status : NGX_OK;
}


ngx_int_t
ngx_http_devmon_auth_reject(ngx_http_request_t *r,
    ngx_http_devmon_auth_result_t *res)
{
    return ngx_http_devmon_reject(r, res->status,
                                  ngx_devmon_jwt_reason_name(res->jwt.reason),
                                  ngx_http_devmon_auth_messages[
                                      res->jwt.reason],
                                  "WWW-Authenticate",
                                  (char *) res->challenge);
}


/*
 * Finds, validates and then blanks the token; counts the verdict.  The
 * token text is never logged: only the verdict and where it came from.
 */

static void
ngx_http_devmon_auth_check(ngx_http_request_t *r,
    ngx_http_devmon_auth_conf_t *acf, ngx_http_devmon_auth_result_t *res)
{
    ngx_str_t                token;
    ngx_http_devmon_zone_t  *zone;

    static const char  *sources[] = {
        "none", "Authorization header", "subprotocol", "access_token"
    };

    ngx_memzero(res, sizeof(ngx_http_devmon_auth_result_t));

    res->source = ngx_http_devmon_auth_token(r, acf, &token);

    ngx_devmon_jwt_verify(&acf->policy, (char *) token.data, token.len,
                          (long long) ngx_time(), &res->jwt);

    /* validated: no later log line or variable may show it */
    ngx_http_devmon_auth_redact(&token);

    zone = ngx_http_devmon_zone_get(r);
    ngx_http_devmon_stat_add(zone, res->jwt.reason);

    if (res->jwt.reason == NGX_DEVMON_JWT_OK) {
        return;
    }

    res->status = NGX_HTTP_UNAUTHORIZED;

    if (res->jwt.reason == NGX_DEVMON_JWT_MISSING) {
        /* RFC 6750 3.1: no error code when no credentials were sent */
        ngx_sprintf(res->challenge, "Bearer realm=\"devmon\"%Z");

    } else {
        ngx_sprintf(res->challenge, "Bearer realm=\"devmon\", "
                    "error=\"invalid_token\", error_description=\"%s\"%Z",
                    ngx_devmon_jwt_reason_name(res->jwt.reason));
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "devmon: bearer token refused (%s): %s",
                  sources[res->source],
                  ngx_devmon_jwt_reason_name(res->jwt.reason));
}


/*
 * Finds the token: Authorization, then Sec-WebSocket-Protocol, then
 * access_token if allowed.  token points into the request's buffers.
 * Tokens in the other places are blanked too, used or not.
 */

static ngx_uint_t
ngx_http_devmon_auth_token(ngx_http_request_t *r,
    ngx_http_devmon_auth_conf_t *acf, ngx_str_t *token)
{
    ngx_str_t         t, arg;
    ngx_uint_t        i, source;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ngx_str_null(token);
    source = NGX_HTTP_DEVMON_TOKEN_NONE;

    h = r->headers_in.authorization;

    if (h && ngx_http_devmon_auth_bearer(&h->value, &t) == NGX_OK) {
        *token = t;
        source = NGX_HTTP_DEVMON_TOKEN_HEADER;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != sizeof("Sec-WebSocket-Protocol") - 1
            || ngx_strncasecmp(h[i].key.data,
                               (u_char *) "Sec-WebSocket-Protocol",
                               h[i].key.len) != 0)
        {
            continue;
        }

        if (ngx_http_devmon_auth_subprotocol(&h[i].value, &t) != NGX_OK) {
            continue;
        }

        if (source == NGX_HTTP_DEVMON_TOKEN_NONE) {
            *token = t;
            source = NGX_HTTP_DEVMON_TOKEN_SUBPROTOCOL;

        } else {
            ngx_http_devmon_auth_redact(&t);
        }
    }

    if (ngx_http_arg(r, (u_char *) "access_token", 12, &arg) == NGX_OK
        && arg.len)
    {
        if (acf->token_arg && source == NGX_HTTP_DEVMON_TOKEN_NONE) {
            *token = arg;
            source = NGX_HTTP_DEVMON_TOKEN_ARG;

        } else {
            /* not used, but not left in the request line either */
            ngx_http_devmon_auth_redact(&arg);
        }
    }

    return source;
}


/* "Bearer <token>" (RFC 6750 2.1; the scheme is case-insensitive) */

static ngx_int_t
ngx_http_devmon_auth_bearer(ngx_str_t *value, ngx_str_t *token)
{
    u_char  *p, *last;

    if (value->len < 6
        || ngx_strncasecmp(value->data, (u_char *) "Bearer", 6) != 0
        || (value->len > 6 && value->data[6] != ' '))
    {
        return NGX_DECLINED;
    }

    p = value->data + 6;
    last = value->data + value->len;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && last[-1] == ' ') {
        last--;
    }

    token->data = p;
    token->len = last - p;

    return NGX_OK;
}


/* the first "bearer.<token>" element of a Sec-WebSocket-Protocol list */

static ngx_int_t
ngx_http_devmon_auth_subprotocol(ngx_str_t *value, ngx_str_t *token)
{
    u_char  *p, *last, *start, *end;

    p = value->data;
    last = value->data + value->len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        end = p;

        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        if (end - start > 7 && ngx_strncmp(start, "bearer.", 7) == 0) {
            token->data = start + 7;
            token->len = end - start - 7;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * The request line, header values and r->args all point into the
 * client's header buffers: overwriting the token there also removes it
 * from $request, $args, $http_authorization and the "request:" context
 * of error log lines.
 */

static void
ngx_http_devmon_auth_redact(ngx_str_t *token)
{
    if (token->len) {
        ngx_memset(token->data, '*', token->len);
    }
}


static void
ngx_http_devmon_auth_session_cleanup(void *data)
{
    ngx_http_devmon_session_t  *s = data;

    ngx_http_devmon_zone_t  *zone;

    if (s->timer.timer_set) {
        ngx_del_timer(&s->timer);
    }

    if (s->counted) {
        zone = ngx_http_devmon_zone_get(s->request);

        if (zone) {
            ngx_http_devmon_user_release(zone, &s->key);
        }

        s->counted = 0;
    }
}


/* next wake-up: the notice (exp - notice), then the end (exp + leeway) */

static void
ngx_http_devmon_auth_arm(ngx_http_devmon_session_t *s)
{
    time_t           at;
    ngx_time_t      *tp;
    ngx_msec_int_t   delay;

    if (!s->noticed && s->conf->expiring_notice) {
        at = s->exp - s->conf->expiring_notice;

    } else {
        at = s->exp + s->conf->leeway;
    }

    tp = ngx_timeofday();
    delay = (ngx_msec_int_t) (at - tp->sec) * 1000 - (ngx_msec_int_t) tp->msec;

    if (delay < 0) {
        delay = 0;
    }

    ngx_add_timer(&s->timer, (ngx_msec_t) delay);
}


static void
ngx_http_devmon_auth_timer_handler(ngx_event_t *ev)
{
    u_char                      buf[96], *last;
    time_t                      now;
    ngx_http_devmon_session_t  *s;

    s = ev->data;

    if (s->closing) {
        return;
    }

    now = ngx_time();

    if (now >= s->exp + s->conf->leeway) {
        ngx_http_devmon_stat_add(ngx_http_devmon_zone_get(s->request),
                                 NGX_HTTP_DEVMON_STAT_CLOSED_EXPIRED);

        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "devmon: token of user \"%V\" account \"%V\" expired, "
                      "closing", &s->user, &s->account);

        s->closing = 1;
        ngx_http_devmon_ws_close(s->ws, NGX_HTTP_DEVMON_CLOSE_EXPIRED,
                                 "token expired");
        return;
    }

    if (!s->noticed && s->conf->expiring_notice
        && now >= s->exp - s->conf->expiring_notice)
    {
        s->noticed = 1;

        last = ngx_sprintf(buf, "{\"type\":\"token_expiring\",\"exp\":%T}",
                           s->exp);
        (void) ngx_http_devmon_ws_send_text(s->ws, buf, last - buf);
    }

    ngx_http_devmon_auth_arm(s);
}

