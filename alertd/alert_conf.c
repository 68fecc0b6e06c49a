/* alert_conf: alertd's JSON configuration, parsed from a table of keys */

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <math.h>
#include <arpa/inet.h>
#include <jansson.h>

#include "alert_conf.h"


typedef enum {
    AC_STR = 0,
    AC_INT,
    AC_NUM,
    AC_BOOL,
    AC_ENUM,
    AC_STRS,
    AC_SUB
} alert_conf_type_e;


typedef struct alert_conf_key_s  alert_conf_key_t;

struct alert_conf_key_s {
    const char                 *name;
    int                         type;
    double                      min;
    double                      max;
    const char                 *def;        /* default, as text */
    size_t                      off;
    size_t                      noff;       /* AC_STRS: offset of count */
    const char *const          *enums;
    const alert_conf_key_t     *sub;        /* AC_SUB: its keys */
    const char                 *doc;
};


typedef struct {
    alert_conf_t               *conf;
    const char                 *text;
    const char                 *file;
    const char                 *pos;        /* where the section starts */
    char                       *err;
} alert_conf_ctx_t;


static int alert_conf_error(alert_conf_ctx_t *ctx, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void alert_conf_defaults(alert_conf_ctx_t *ctx,
    const alert_conf_key_t *keys, void *base);
static int alert_conf_apply(alert_conf_ctx_t *ctx, json_t *obj,
    const alert_conf_key_t *keys, void *base);
static int alert_conf_set(alert_conf_ctx_t *ctx, json_t *v,
    const alert_conf_key_t *k, void *base);
static int alert_conf_enum(const char *const *enums, const char *s);
static int alert_conf_check(alert_conf_ctx_t *ctx);


static const char  *alert_conf_log_levels[] = {
    "error", "warn", "info", "debug", NULL
};
static const char  *alert_conf_tls[] = { "off", "try", "require", NULL };


#define OFF(type, field)    offsetof(type, field)
#define END                 { NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL, NULL }


static const alert_conf_key_t  alert_conf_redis_keys[] = {
    { "host", AC_STR, 0, 0, "127.0.0.1", OFF(alert_conf_redis_t, host), 0,
      NULL, NULL, "Redis host: a numeric IPv4 or IPv6 address" },
    { "port", AC_INT, 1, 65535, "6379", OFF(alert_conf_redis_t, port), 0,
      NULL, NULL, "Redis port" },
    { "socket", AC_STR, 0, 0, "", OFF(alert_conf_redis_t, socket), 0, NULL,
      NULL, "unix socket path; used instead of host/port when set" },
    { "password", AC_STR, 0, 0, "", OFF(alert_conf_redis_t, password), 0,
      NULL, NULL, "AUTH password" },
    { "db", AC_INT, 0, 10000, "0", OFF(alert_conf_redis_t, db), 0, NULL,
      NULL, "database number (SELECT)" },
    { "connect_timeout", AC_NUM, 0.1, 60, "2",
      OFF(alert_conf_redis_t, connect_timeout), 0, NULL, NULL,
      "seconds before a connect attempt is abandoned" },
    END
};


static const alert_conf_key_t  alert_conf_smtp_keys[] = {
    { "url", AC_STR, 0, 0, "", OFF(alert_conf_smtp_t, url), 0, NULL, NULL,
      "smtp://host:port (STARTTLS) or smtps://host:port; empty: no email" },
    { "from", AC_STR, 0, 0, "devmon@localhost", OFF(alert_conf_smtp_t, from),
      0, NULL, NULL, "envelope and header sender" },
    { "user", AC_STR, 0, 0, "", OFF(alert_conf_smtp_t, user), 0, NULL, NULL,
      "AUTH user (empty: no authentication)" },
    { "password", AC_STR, 0, 0, "", OFF(alert_conf_smtp_t, password), 0,
      NULL, NULL, "AUTH password" },
    { "starttls", AC_ENUM, 0, 0, "try", OFF(alert_conf_smtp_t, starttls), 0,
      alert_conf_tls, NULL, "smtp://: off, try or require STARTTLS" },
    { "verify_tls", AC_BOOL, 0, 0, "true",
      OFF(alert_conf_smtp_t, verify_tls), 0, NULL, NULL,
      "verify the server certificate and name" },
    { "ca_file", AC_STR, 0, 0, "", OFF(alert_conf_smtp_t, ca_file), 0, NULL,
      NULL, "CA bundle to verify against" },
    { "timeout", AC_NUM, 1, 600, "30", OFF(alert_conf_smtp_t, timeout), 0,
      NULL, NULL, "seconds one delivery attempt may take" },
    END
};


static const alert_conf_key_t  alert_conf_webhook_keys[] = {
    { "timeout", AC_NUM, 1, 600, "10", OFF(alert_conf_webhook_t, timeout),
      0, NULL, NULL, "seconds one POST may take" },
    { "verify_tls", AC_BOOL, 0, 0, "true",
      OFF(alert_conf_webhook_t, verify_tls), 0, NULL, NULL,
      "verify https:// certificates" },
    { "ca_file", AC_STR, 0, 0, "", OFF(alert_conf_webhook_t, ca_file), 0,
      NULL, NULL, "CA bundle to verify against" },
    END
};


static const alert_conf_key_t  alert_conf_retry_keys[] = {
    { "min", AC_NUM, 0.1, 3600, "5", OFF(alert_conf_retry_t, min), 0, NULL,
      NULL, "seconds before the first retry (doubles each time)" },
    { "max", AC_NUM, 0.1, 86400, "600", OFF(alert_conf_retry_t, max), 0,
      NULL, NULL, "longest wait between two attempts" },
    { "give_up", AC_NUM, 1, 2592000, "86400", OFF(alert_conf_retry_t, give_up),
      0, NULL, NULL, "seconds after which an undelivered message is dropped" },
    END
};


static const alert_conf_key_t  alert_conf_root_keys[] = {
    { "log_level", AC_ENUM, 0, 0, "info", OFF(alert_conf_t, log_level), 0,
      alert_conf_log_levels, NULL, "error, warn, info or debug" },
    { "accounts", AC_STRS, 0, 0, NULL, OFF(alert_conf_t, accounts),
      OFF(alert_conf_t, naccounts), NULL, NULL,
      "accounts whose streams devmon:{A}:ev are watched (required)" },
    { "group", AC_STR, 0, 0, "alertd", OFF(alert_conf_t, group), 0, NULL,
      NULL, "consumer group on each account stream" },
    { "consumer", AC_STR, 0, 0, "alertd", OFF(alert_conf_t, consumer), 0,
      NULL, NULL, "consumer name in the group (one alertd: keep it)" },
    { "cooldown", AC_NUM, 0, 604800, "900", OFF(alert_conf_t, cooldown), 0,
      NULL, NULL, "seconds after an offline alert without another one" },
    { "recovery_hold", AC_NUM, 0, 86400, "60",
      OFF(alert_conf_t, recovery_hold), 0, NULL, NULL,
      "seconds a device must stay up before its recovery is sent" },
    { "storm_window", AC_NUM, 0, 3600, "10", OFF(alert_conf_t, storm_window),
      0, NULL, NULL, "seconds notifications wait to be counted for a storm" },
    { "storm_threshold", AC_INT, 2, 1000000, "5",
      OFF(alert_conf_t, storm_threshold), 0, NULL, NULL,
      "notifications in one window that make a digest" },
    { "tick", AC_NUM, 0.05, 60, "1", OFF(alert_conf_t, tick), 0, NULL, NULL,
      "seconds between deadline checks (cooldowns, holds, retries)" },
    { "batch", AC_INT, 1, 100000, "500", OFF(alert_conf_t, batch), 0, NULL,
      NULL, "stream entries read at once" },
    { "subject_prefix", AC_STR, 0, 0, "[devmon]",
      OFF(alert_conf_t, subject_prefix), 0, NULL, NULL,
      "start of every email subject" },
    { "redis", AC_SUB, 0, 0, "", OFF(alert_conf_t, redis), 0, NULL,
      alert_conf_redis_keys, "Redis connection" },
    { "smtp", AC_SUB, 0, 0, "", OFF(alert_conf_t, smtp), 0, NULL,
      alert_conf_smtp_keys, "email channel" },
    { "webhook", AC_SUB, 0, 0, "", OFF(alert_conf_t, webhook), 0, NULL,
      alert_conf_webhook_keys, "webhook channel" },
    { "retry", AC_SUB, 0, 0, "", OFF(alert_conf_t, retry), 0, NULL,
      alert_conf_retry_keys, "delivery retries" },
    END
};


alert_conf_t *
alert_conf_load(const char *file, char *err)
{
    FILE              *f;
    long               size;
    char              *text;
    json_t            *root;
    alert_conf_t      *conf;
    json_error_t       jerr;
    alert_conf_ctx_t   ctx;

    f = fopen(file, "r");
    if (f == NULL) {
        snprintf(err, ALERT_CONF_ERRLEN, "%s: %s", file, strerror(errno));
        return NULL;
    }

    text = NULL;

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0
        || (text = malloc(size + 1)) == NULL
        || fread(text, 1, size, f) != (size_t) size)
    {
        snprintf(err, ALERT_CONF_ERRLEN, "%s: cannot read the file", file);
        free(text);
        fclose(f);
        return NULL;
    }

    text[size] = '\0';
    fclose(f);

    root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, ALERT_CONF_ERRLEN, "%s:%d: %s", file, jerr.line,
                 jerr.text);
        free(text);
        return NULL;
    }

    conf = calloc(1, sizeof(alert_conf_t));
    if (conf == NULL) {
        snprintf(err, ALERT_CONF_ERRLEN, "out of memory");
        goto failed;
    }

    ctx.conf = conf;
    ctx.text = text;
    ctx.file = file;
    ctx.pos = text;
    ctx.err = err;

    conf->file = pool_strdup(&conf->pool, file);

    alert_conf_defaults(&ctx, alert_conf_root_keys, conf);

    if (alert_conf_apply(&ctx, root, alert_conf_root_keys, conf) != 0) {
        goto failed;
    }

    if (conf->naccounts == 0) {
        alert_conf_error(&ctx, NULL, "\"accounts\" must list at least one "
                         "account");
        goto failed;
    }

    if (alert_conf_check(&ctx) != 0) {
        goto failed;
    }

    json_decref(root);
    free(text);

    return conf;

failed:

    json_decref(root);
    free(text);
    alert_conf_free(conf);

    return NULL;
}


void
alert_conf_free(alert_conf_t *conf)
{
    if (conf != NULL) {
        pool_free(&conf->pool);
        free(conf);
    }
}


/*
 * jansson keeps no positions for values: the line reported is the one of
 * the first "key" after the start of the section being parsed, which is
 * the key itself in any sane file.
 */

static int
alert_conf_error(alert_conf_ctx_t *ctx, const char *key, const char *fmt,
    ...)
{
    int          line;
    char         msg[256], quoted[160];
    va_list      ap;
    const char  *at, *p;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    at = ctx->pos;

    if (key != NULL) {
        snprintf(quoted, sizeof(quoted), "\"%s\"", key);
        p = strstr(ctx->pos, quoted);
        at = p ? p : at;
    }

    line = 1;

    for (p = ctx->text; p < at; p++) {
        line += (*p == '\n');
    }

    snprintf(ctx->err, ALERT_CONF_ERRLEN, "%s:%d: %s%s%s", ctx->file, line,
             key ? key : "", key ? ": " : "", msg);

    return -1;
}


static void
alert_conf_defaults(alert_conf_ctx_t *ctx, const alert_conf_key_t *keys,
    void *base)
{
    char                    *p;
    const alert_conf_key_t  *k;

    for (k = keys; k->name != NULL; k++) {
        p = (char *) base + k->off;

        if (k->type == AC_SUB) {
            alert_conf_defaults(ctx, k->sub, p);
            continue;
        }

        if (k->def == NULL) {
            continue;
        }

        switch (k->type) {

        case AC_STR:
            *(char **) p = pool_strdup(&ctx->conf->pool, k->def);
            break;

        case AC_INT:
            *(int *) p = atoi(k->def);
            break;

        case AC_NUM:
            *(double *) p = strtod(k->def, NULL);
            break;

        case AC_BOOL:
            *(int *) p = strcmp(k->def, "true") == 0;
            break;

        case AC_ENUM:
            *(int *) p = alert_conf_enum(k->enums, k->def);
            break;

        default:
            break;
        }
    }
}


static int
alert_conf_apply(alert_conf_ctx_t *ctx, json_t *obj,
    const alert_conf_key_t *keys, void *base)
{
    int                      rc;
    json_t                  *v;
    const char              *name, *saved, *p;
    char                     quoted[160];
    const alert_conf_key_t  *k;

    if (!json_is_object(obj)) {
        return alert_conf_error(ctx, NULL, "must be an object");
    }

    json_object_foreach(obj, name, v) {
        for (k = keys; k->name != NULL; k++) {
            if (strcmp(k->name, name) == 0) {
                break;
            }
        }

        if (k->name == NULL) {
            return alert_conf_error(ctx, name, "unknown key");
        }

        if (k->type != AC_SUB) {
            rc = alert_conf_set(ctx, v, k, base);

        } else {
            saved = ctx->pos;
            snprintf(quoted, sizeof(quoted), "\"%s\"", name);
            p = strstr(ctx->pos, quoted);
            ctx->pos = p ? p : ctx->pos;

            rc = alert_conf_apply(ctx, v, k->sub, (char *) base + k->off);

            ctx->pos = saved;
        }

        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


static int
alert_conf_set(alert_conf_ctx_t *ctx, json_t *v, const alert_conf_key_t *k,
    void *base)
{
    int      i, n;
    char    *p, **strs;
    double   d;
    json_t  *e;

    p = (char *) base + k->off;

    switch (k->type) {

    case AC_STR:
        if (!json_is_string(v)) {
            return alert_conf_error(ctx, k->name, "must be a string");
        }

        *(char **) p = pool_strdup(&ctx->conf->pool, json_string_value(v));
        return 0;

    case AC_INT:
    case AC_NUM:
        if (!json_is_number(v)) {
            return alert_conf_error(ctx, k->name, "must be a number");
        }

        d = json_number_value(v);

        if (k->type == AC_INT && d != floor(d)) {
            return alert_conf_error(ctx, k->name, "must be an integer");
        }

        if (d < k->min || d > k->max) {
            return alert_conf_error(ctx, k->name, "%g is out of range %g..%g",
                                    d, k->min, k->max);
        }

        if (k->type == AC_INT) {
            *(int *) p = (int) d;
        } else {
            *(double *) p = d;
        }

        return 0;

    case AC_BOOL:
        if (!json_is_boolean(v)) {
            return alert_conf_error(ctx, k->name, "must be true or false");
        }

        *(int *) p = json_is_true(v);
        return 0;

    case AC_ENUM:
        if (!json_is_string(v)
            || (i = alert_conf_enum(k->enums, json_string_value(v))) < 0)
        {
            return alert_conf_error(ctx, k->name, "must be one of the "
                                    "documented names");
        }

        *(int *) p = i;
        return 0;

    default: /* AC_STRS */
        if (!json_is_array(v)) {
            return alert_conf_error(ctx, k->name, "must be a list of "
                                    "strings");
        }

        n = json_array_size(v);
        strs = pool_calloc(&ctx->conf->pool, (n + 1) * sizeof(char *));
        if (strs == NULL) {
            return alert_conf_error(ctx, k->name, "out of memory");
        }

        json_array_foreach(v, i, e) {
            if (!json_is_string(e) || json_string_length(e) == 0
                || json_string_length(e) >= 100
                || strpbrk(json_string_value(e), "{}| \t\r\n") != NULL)
            {
                return alert_conf_error(ctx, k->name, "item %d: use 1-99 "
                                        "characters, no braces, bars or "
                                        "spaces", i);
            }

            strs[i] = pool_strdup(&ctx->conf->pool, json_string_value(e));
        }

        *(char ***) p = strs;
        *(int *) ((char *) base + k->noff) = n;
        return 0;
    }
}


/* what the table cannot say: values that reach a header or a resolver */

static int
alert_conf_check(alert_conf_ctx_t *ctx)
{
    unsigned char   buf[16];
    const char     *s;
    alert_conf_t   *c;

    c = ctx->conf;

    /* hiredis 0.14 resolves a name with a blocking getaddrinfo() */
    if (c->redis.socket[0] == '\0'
        && inet_pton(AF_INET, c->redis.host, buf) != 1
        && inet_pton(AF_INET6, c->redis.host, buf) != 1)
    {
        return alert_conf_error(ctx, "host", "\"%s\" is not a numeric IPv4 "
                                "or IPv6 address", c->redis.host);
    }

    /* From: and MAIL FROM: a line break would add headers or commands */
    for (s = c->smtp.from; *s; s++) {
        if ((unsigned char) *s < 0x21 || *s == '<' || *s == '>'
            || *s == 0x7f)
        {
            return alert_conf_error(ctx, "from", "must be a plain address: "
                                    "no spaces, control characters or "
                                    "angle brackets");
        }
    }

    if (strchr(c->smtp.from, '@') == NULL) {
        return alert_conf_error(ctx, "from", "must be an address "
                                "(user@domain)");
    }

    return 0;
}


static int
alert_conf_enum(const char *const *enums, const char *s)
{
    int  i;

    for (i = 0; enums[i] != NULL; i++) {
        if (strcasecmp(enums[i], s) == 0) {
            return i;
        }
    }

    return -1;
}


static void
alert_conf_keys_table(FILE *out, const char *prefix,
    const alert_conf_key_t *keys)
{
    char                     name[128];
    const alert_conf_key_t  *k;

    for (k = keys; k->name != NULL; k++) {
        snprintf(name, sizeof(name), "%s%s", prefix, k->name);

        if (k->type == AC_SUB) {
            snprintf(name, sizeof(name), "%s%s.", prefix, k->name);
            alert_conf_keys_table(out, name, k->sub);
            continue;
        }

        fprintf(out, "| `%s` | %s | %s |\n", name,
                k->def == NULL ? "(required)" : k->def[0] ? k->def : "\"\"",
                k->doc);
    }
}


void
alert_conf_keys_markdown(FILE *out)
{
    fprintf(out, "| key | default | meaning |\n|---|---|---|\n");
    alert_conf_keys_table(out, "", alert_conf_root_keys);
}
