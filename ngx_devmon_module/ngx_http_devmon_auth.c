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


/* the token taken out of the request by ngx_http_devmon_auth_take() */
typedef struct {
    ngx_str_t                     token;      /* copy in r->pool */
    ngx_uint_t                    source;     /* NGX_HTTP_DEVMON_TOKEN_* */
} ngx_http_devmon_token_t;


static ngx_devmon_jwt_keys_t *ngx_http_devmon_auth_keys(ngx_conf_t *cf,
    ngx_http_devmon_auth_conf_t *acf);
static void ngx_http_devmon_auth_keys_cleanup(void *data);
static void ngx_http_devmon_auth_check(ngx_http_request_t *r,
    ngx_http_devmon_auth_conf_t *acf, ngx_http_devmon_auth_result_t *res);
static ngx_int_t ngx_http_devmon_auth_phase_handler(ngx_http_request_t *r);
static ngx_http_devmon_token_t *ngx_http_devmon_auth_taken(
    ngx_http_request_t *r);
static void ngx_http_devmon_auth_token_cleanup(void *data);
static ngx_int_t ngx_http_devmon_auth_bearer(ngx_str_t *value,
    ngx_str_t *token);
static void ngx_http_devmon_auth_subprotocols(ngx_http_request_t *r,
    ngx_str_t *token);
static void ngx_http_devmon_auth_redact_args(ngx_str_t *s, ngx_str_t *arg);
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

_Static_assert(sizeof(ngx_http_devmon_auth_messages) / sizeof(char *)
               == NGX_DEVMON_JWT_NREASONS,
               "a message for each ngx_devmon_jwt_reason_e");


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
    char                          err[NGX_HTTP_DEVMON_AUTH_ERRLEN];
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

    if (ngx_devmon_jwt_keys_check(acf->keys, err, sizeof(err)) != 0) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "keys of location \"%V\": %s", &clcf->name, err);
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

    s = ngx_pcalloc(ws->pool, sizeof(ngx_http_devmon_session_t));
    if (s == NULL) {
        goto failed;
    }

    s->account.len = ngx_strlen(res.jwt.account);
    s->user.len = ngx_strlen(res.jwt.user);

    /* "account user\0": account\0 and user\0 point inside it */
    p = ngx_pnalloc(ws->pool, 2 * (s->account.len + s->user.len + 2));
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

    s->ws = ws;
    s->conf = acf;
    s->exp = (time_t) res.jwt.exp;

    s->timer.handler = ngx_http_devmon_auth_timer_handler;
    s->timer.data = s;
    s->timer.log = r->connection->log;
    s->timer.cancelable = 1;       /* must not hold up a graceful exit */

    cln = ngx_pool_cleanup_add(ws->pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    cln->handler = ngx_http_devmon_auth_session_cleanup;
    cln->data = s;

    zone = ngx_http_devmon_zone_get(r);
    s->zone = zone;

    if (zone) {
        n = ngx_http_devmon_user_acquire(zone, &s->key, acf->user_limit);

        if (n == NGX_BUSY) {
            ngx_http_devmon_stat_add(zone, NGX_HTTP_DEVMON_STAT_USER_LIMIT);

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "devmon: user \"%V\" of account \"%V\" is at its "
                          "limit of %ui connections", &s->user, &s->account,
                          acf->user_limit);

            *rc = ngx_http_devmon_reject(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                         "user_limit",
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

    /* never NULL: the merge refuses a devmon_ws location without keys */
    s = ws->session;

    if (s->closing) {
        return NGX_OK;
    }

    zone = s->zone;

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

    ngx_memzero(res, sizeof(ngx_http_devmon_auth_result_t));

    /* first: the caller may refuse the request before it looks at res */
    if (ngx_http_devmon_auth_take(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_devmon_module);

    if (dlcf->auth.keys == NULL) {
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
 * Validates the token taken by ngx_http_devmon_auth_take(); counts the
 * verdict.  The token text is never logged: only the verdict and where
 * it came from.
 */

static void
ngx_http_devmon_auth_check(ngx_http_request_t *r,
    ngx_http_devmon_auth_conf_t *acf, ngx_http_devmon_auth_result_t *res)
{
    ngx_str_t                 none = ngx_null_string;
    ngx_str_t                *token;
    ngx_http_devmon_zone_t   *zone;
    ngx_http_devmon_token_t  *t;

    static const char  *sources[] = {
        "none", "Authorization header", "subprotocol", "access_token"
    };

    ngx_memzero(res, sizeof(ngx_http_devmon_auth_result_t));

    /* taken by the REWRITE phase handler, or by the content handler */
    t = ngx_http_devmon_auth_taken(r);
    token = t ? &t->token : &none;
    res->source = t ? t->source : NGX_HTTP_DEVMON_TOKEN_NONE;

    ngx_devmon_jwt_verify(&acf->policy, (char *) token->data, token->len,
                          (long long) ngx_time(), &res->jwt);

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


ngx_int_t
ngx_http_devmon_auth_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    /*
     * REWRITE: the first phase that knows the location, before
     * limit_req (PREACCESS), allow/deny and auth_request (ACCESS), whose
     * refusals are logged too.  Handlers of a phase run last-registered
     * first, so this also runs before a location's "return".
     */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_devmon_auth_phase_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_devmon_auth_phase_handler(ngx_http_request_t *r)
{
    ngx_http_devmon_loc_conf_t  *dlcf;

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_devmon_module);

    if (dlcf->serve != NGX_HTTP_DEVMON_NONE
        && ngx_http_devmon_auth_take(r) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/*
 * Copies the token into the request pool and blanks it, and every other
 * token, in the request's own buffers.  The source wins in this order:
 * Authorization, Sec-WebSocket-Protocol, then access_token if allowed.
 * Idempotent: what is blanked would read as a token of '*' the second
 * time, so the first taking is kept, and found again, as a pool cleanup.
 */

ngx_int_t
ngx_http_devmon_auth_take(ngx_http_request_t *r)
{
    ngx_str_t                    t, arg;
    ngx_table_elt_t             *h;
    ngx_pool_cleanup_t          *cln;
    ngx_http_devmon_token_t     *tk;
    ngx_http_devmon_loc_conf_t  *dlcf;

    if (ngx_http_devmon_auth_taken(r)) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_devmon_token_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    tk = cln->data;
    ngx_str_null(&tk->token);
    tk->source = NGX_HTTP_DEVMON_TOKEN_NONE;

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_devmon_module);

    ngx_str_null(&t);
    h = r->headers_in.authorization;

    if (h && ngx_http_devmon_auth_bearer(&h->value, &t) == NGX_OK) {
        tk->source = NGX_HTTP_DEVMON_TOKEN_HEADER;

    } else {
        ngx_http_devmon_auth_subprotocols(r, &t);

        if (t.len) {
            tk->source = NGX_HTTP_DEVMON_TOKEN_SUBPROTOCOL;

        } else if (dlcf->auth.token_arg
                   && ngx_http_arg(r, (u_char *) "access_token",
                                   sizeof("access_token") - 1, &arg)
                      == NGX_OK
                   && arg.len)
        {
            t = arg;
            tk->source = NGX_HTTP_DEVMON_TOKEN_ARG;
        }
    }

    if (t.len) {
        tk->token.data = ngx_pnalloc(r->pool, t.len);
        if (tk->token.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(tk->token.data, t.data, t.len);
        tk->token.len = t.len;
    }

    /* every copy in the request, used or not, the chosen one included */

    if (tk->source == NGX_HTTP_DEVMON_TOKEN_HEADER) {
        ngx_http_devmon_auth_redact(&t);
    }

    ngx_str_null(&t);
    ngx_http_devmon_auth_subprotocols(r, &t);

    arg.data = (u_char *) "access_token=";
    arg.len = sizeof("access_token=") - 1;

    /* one buffer for HTTP/1, but HTTP/2 builds the request line apart */
    ngx_http_devmon_auth_redact_args(&r->args, &arg);
    ngx_http_devmon_auth_redact_args(&r->request_line, &arg);
    ngx_http_devmon_auth_redact_args(&r->unparsed_uri, &arg);

    cln->handler = ngx_http_devmon_auth_token_cleanup;

    return NGX_OK;
}


static ngx_http_devmon_token_t *
ngx_http_devmon_auth_taken(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_devmon_auth_token_cleanup) {
            return cln->data;
        }
    }

    return NULL;
}


/* the copy does not outlive the request in freed pool memory either */

static void
ngx_http_devmon_auth_token_cleanup(void *data)
{
    ngx_http_devmon_token_t  *tk = data;

    if (tk->token.len) {
        ngx_explicit_memzero(tk->token.data, tk->token.len);
    }
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


/*
 * Walks the "bearer.<token>" elements of every Sec-WebSocket-Protocol
 * header: with token empty, the first one is returned there (nothing is
 * changed); otherwise each one is blanked.
 */

static void
ngx_http_devmon_auth_subprotocols(ngx_http_request_t *r, ngx_str_t *token)
{
    size_t                          len;
    ngx_uint_t                      find;
    ngx_str_t                       t;
    const uint8_t                  *pos, *el;
    ngx_table_elt_t                *h;
    ngx_http_devmon_header_iter_t   it;

    find = (token->len == 0);
    ngx_memzero(&it, sizeof(ngx_http_devmon_header_iter_t));

    while ((h = ngx_http_devmon_header_next(r, "Sec-WebSocket-Protocol",
                                            &it)))
    {
        pos = h->value.data;

        while (ngx_devmon_ws_token_next(&pos, h->value.data + h->value.len,
                                        &el, &len))
        {
            if (len <= sizeof("bearer.") - 1
                || ngx_strncmp(el, "bearer.", sizeof("bearer.") - 1) != 0)
            {
                continue;
            }

            t.data = (u_char *) el + sizeof("bearer.") - 1;
            t.len = len - (sizeof("bearer.") - 1);

            if (find) {
                *token = t;
                return;
            }

            ngx_http_devmon_auth_redact(&t);
        }
    }
}


/*
 * Blanks the value of every "access_token=" argument in s: r->args, or
 * the request line or URI, where an argument follows '?' or '&'.
 */

static void
ngx_http_devmon_auth_redact_args(ngx_str_t *s, ngx_str_t *arg)
{
    u_char     *p, *last;
    ngx_str_t   v;

    if (s->len == 0 || s->data == NULL) {
        return;
    }

    last = s->data + s->len;

    for (p = s->data; p + arg->len <= last; p++) {

        if ((p != s->data && p[-1] != '?' && p[-1] != '&')
            || ngx_strncmp(p, arg->data, arg->len) != 0)
        {
            continue;
        }

        v.data = p + arg->len;

        for (p = v.data; p < last && *p != '&' && *p != ' ' && *p != '#';
             p++)
        {
            /* void */
        }

        v.len = p - v.data;
        ngx_http_devmon_auth_redact(&v);

        if (p == last) {
            break;
        }
    }
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
        zone = s->zone;

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
        ngx_http_devmon_stat_add(s->zone,
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

