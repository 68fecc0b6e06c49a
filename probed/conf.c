/* conf: the daemon's JSON configuration, parsed from a table of keys */

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <jansson.h>
#include <event2/util.h>

#include "conf.h"


#define CONF_MAXDEPTH   8
#define CONF_MAXADDR    253     /* the longest DNS name */
#define CONF_MAXIF      32      /* interfaces per SNMP check */


typedef enum {
    CT_STR = 0,
    CT_INT,
    CT_NUM,
    CT_BOOL,
    CT_ENUM,
    CT_STRS,
    CT_INTS,
    CT_SUB
} conf_type_e;

#define CF_REQUIRED     0x01    /* no default: the key must be given */
#define CF_NODEF        0x02    /* a check key not allowed in "defaults" */
#define CF_ID           0x04    /* identifier characters only */


typedef struct conf_ctx_s  conf_ctx_t;
typedef struct conf_key_s  conf_key_t;

typedef int (*conf_sub_pt)(conf_ctx_t *ctx, json_t *v, void *base);

struct conf_key_s {
    const char          *name;
    int                  type;
    unsigned             kinds;     /* check keys: kinds it applies to */
    double               min;
    double               max;
    const char          *def;       /* default, as text */
    size_t               off;
    size_t               noff;      /* arrays: offset of the count */
    const char *const   *enums;
    conf_sub_pt          sub;
    unsigned             flags;
    const char          *doc;
};


typedef struct {
    const char          *key;
    int                  index;
} conf_path_t;


struct conf_ctx_s {
    conf_t              *conf;
    const char          *text;
    const char          *file;
    char                *err;
    conf_path_t          path[CONF_MAXDEPTH];
    int                  depth;
    json_t              *defaults_json;
};


static int conf_error(conf_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int conf_locate(const char *text, conf_path_t *path, int depth);
static void conf_push_key(conf_ctx_t *ctx, const char *key);
static void conf_push_index(conf_ctx_t *ctx, int index);
static void conf_pop(conf_ctx_t *ctx);
static int conf_init_section(conf_ctx_t *ctx, const conf_key_t *keys,
    void *base);
static int conf_apply(conf_ctx_t *ctx, json_t *obj, const conf_key_t *keys,
    void *base, int kind);
static int conf_set_value(conf_ctx_t *ctx, json_t *v, const conf_key_t *k,
    void *base);
static int conf_valid_id(const char *s);
static int conf_valid_oid(const char *s);
static int conf_sub_redis(conf_ctx_t *ctx, json_t *v, void *base);
static int conf_sub_defaults(conf_ctx_t *ctx, json_t *v, void *base);
static int conf_sub_accounts(conf_ctx_t *ctx, json_t *v, void *base);
static int conf_sub_devices(conf_ctx_t *ctx, json_t *v, void *base);
static int conf_sub_checks(conf_ctx_t *ctx, json_t *v, void *base);
static int conf_check_finish(conf_ctx_t *ctx, conf_check_t *cc,
    conf_device_t *dev);
static int conf_finish(conf_ctx_t *ctx);


const char  *probe_kind_names[KIND_N] = { "icmp", "snmp", "http", "tcp" };
const char  *probe_st_names[4] = DEVMON_ST_NAMES;

static const char  *conf_log_levels[] = {
    "error", "warn", "info", "debug", NULL
};
static const char  *conf_snmp_versions[] = { "2c", "3", NULL };
static const char  *conf_kinds[] = { "icmp", "snmp", "http", "tcp", NULL };
const char  *conf_auth_protos[] = {
    "MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512", NULL
};
const char  *conf_priv_protos[] = { "DES", "AES", NULL };


#define OFF(type, field)    offsetof(type, field)
#define SNMP                KIND_BIT(KIND_SNMP)
#define HTTP                KIND_BIT(KIND_HTTP)
#define ICMP                KIND_BIT(KIND_ICMP)
#define TCP                 KIND_BIT(KIND_TCP)


static const conf_key_t  conf_root_keys[] = {
    { "region", CT_STR, 0, 0, 0, "", OFF(conf_t, region), 0, NULL, NULL,
      CF_ID, "region this daemon probes from (or `--region`)" },
    { "log_level", CT_ENUM, 0, 0, 0, "info", OFF(conf_t, log_level), 0,
      conf_log_levels, NULL, 0, "error, warn, info or debug" },
    { "icmp_threads", CT_INT, 0, 1, 16, "2", OFF(conf_t, icmp_threads), 0,
      NULL, NULL, 0, "threads running liboping batches" },
    { "icmp_batch", CT_INT, 0, 1, 256, "64", OFF(conf_t, icmp_batch), 0,
      NULL, NULL, 0, "most hosts in one liboping batch" },
    { "icmp_batch_wait", CT_NUM, 0, 0, 1, "0.02",
      OFF(conf_t, icmp_batch_wait), 0, NULL, NULL, 0,
      "seconds a due ICMP check may wait to share a batch" },
    { "region_check", CT_STRS, 0, 0, 0, "", OFF(conf_t, region_check),
      OFF(conf_t, nregion_check), NULL, NULL, 0,
      "numeric host:port targets (`192.0.2.1:443`, `[2001:db8::1]:443`); "
      "the heartbeat's \"ok\" says one answers" },
    { "redis", CT_SUB, 0, 0, 0, "", OFF(conf_t, redis), 0, NULL,
      conf_sub_redis, 0, "Redis connection (table below)" },
    { "defaults", CT_SUB, 0, 0, 0, "", OFF(conf_t, defaults), 0, NULL,
      conf_sub_defaults, 0, "any check key: the default for every check" },
    { "accounts", CT_SUB, 0, 0, 0, NULL, 0, 0, NULL, conf_sub_accounts,
      CF_REQUIRED, "list of accounts" },
    { NULL, 0, 0, 0, 0, NULL, 0, 0, NULL, NULL, 0, NULL }
};


static const conf_key_t  conf_redis_keys[] = {
    { "host", CT_STR, 0, 0, 0, "127.0.0.1", OFF(conf_redis_t, host), 0,
      NULL, NULL, 0, "Redis IPv4 or IPv6 address (not a name: connecting "
      "must not block on a lookup)" },
    { "port", CT_INT, 0, 1, 65535, "6379", OFF(conf_redis_t, port), 0,
      NULL, NULL, 0, "Redis port" },
    { "socket", CT_STR, 0, 0, 0, "", OFF(conf_redis_t, socket), 0, NULL,
      NULL, 0, "unix socket path; used instead of host/port when set" },
    { "password", CT_STR, 0, 0, 0, "", OFF(conf_redis_t, password), 0,
      NULL, NULL, 0, "AUTH password" },
    { "db", CT_INT, 0, 0, 10000, "0", OFF(conf_redis_t, db), 0, NULL, NULL,
      0, "database number (SELECT)" },
    { "maxlen", CT_INT, 0, 1, 100000000, "10000",
      OFF(conf_redis_t, maxlen), 0, NULL, NULL, 0,
      "replay window: entries kept per account stream" },
    { "backlog", CT_INT, 0, 1, 10000000, "10000",
      OFF(conf_redis_t, backlog), 0, NULL, NULL, 0,
      "results kept while Redis is away" },
    { "connect_timeout", CT_NUM, 0, 0.1, 60, "2",
      OFF(conf_redis_t, connect_timeout), 0, NULL, NULL, 0,
      "seconds before a connect attempt is abandoned" },
    { NULL, 0, 0, 0, 0, NULL, 0, 0, NULL, NULL, 0, NULL }
};


static const conf_key_t  conf_account_keys[] = {
    { "id", CT_STR, 0, 0, 0, NULL, OFF(conf_account_t, id), 0, NULL, NULL,
      CF_REQUIRED | CF_ID, "account id (Redis keys devmon:{id}:...)" },
    { "devices", CT_SUB, 0, 0, 0, NULL, 0, 0, NULL, conf_sub_devices,
      CF_REQUIRED, "list of devices" },
    { NULL, 0, 0, 0, 0, NULL, 0, 0, NULL, NULL, 0, NULL }
};


static const conf_key_t  conf_device_keys[] = {
    { "id", CT_STR, 0, 0, 0, NULL, OFF(conf_device_t, id), 0, NULL, NULL,
      CF_REQUIRED | CF_ID, "device id, unique in the account (\"d\")" },
    { "name", CT_STR, 0, 0, 0, "", OFF(conf_device_t, name), 0, NULL, NULL,
      0, "display name (default: the id)" },
    { "address", CT_STR, 0, 0, 0, NULL, OFF(conf_device_t, address), 0,
      NULL, NULL, CF_REQUIRED, "IP address or host name (at most 253 "
      "characters)" },
    { "regions", CT_STRS, 0, 0, 0, "", OFF(conf_device_t, regions),
      OFF(conf_device_t, nregions), NULL, NULL, 0,
      "regions that check it (empty: every region)" },
    { "checks", CT_SUB, 0, 0, 0, NULL, 0, 0, NULL, conf_sub_checks,
      CF_REQUIRED, "list of checks (one per kind)" },
    { NULL, 0, 0, 0, 0, NULL, 0, 0, NULL, NULL, 0, NULL }
};


static const conf_key_t  conf_check_keys[] = {
    { "kind", CT_ENUM, KIND_ALL, 0, 0, NULL, OFF(conf_check_t, kind), 0,
      conf_kinds, NULL, CF_REQUIRED | CF_NODEF,
      "icmp, snmp, http or tcp" },
    { "interval", CT_NUM, KIND_ALL, 0.5, 86400, "30",
      OFF(conf_check_t, interval), 0, NULL, NULL, 0,
      "seconds between runs" },
    { "timeout", CT_NUM, KIND_ALL, 0.01, 60, "1",
      OFF(conf_check_t, timeout), 0, NULL, NULL, 0,
      "seconds (ICMP: per echo; SNMP: per try)" },
    { "down_after", CT_INT, KIND_ALL, 1, 100, "3",
      OFF(conf_check_t, down_after), 0, NULL, NULL, 0,
      "consecutive failures before the check counts as down" },
    { "up_after", CT_INT, KIND_ALL, 1, 100, "2",
      OFF(conf_check_t, up_after), 0, NULL, NULL, 0,
      "consecutive results to leave down or switch up/degraded" },
    { "degraded_rtt", CT_NUM, KIND_ALL, 0, 600000, "500",
      OFF(conf_check_t, degraded_rtt), 0, NULL, NULL, 0,
      "ms; a slower answer is degraded (0: off)" },
    { "degraded_loss", CT_NUM, ICMP, 0, 100, "20",
      OFF(conf_check_t, degraded_loss), 0, NULL, NULL, 0,
      "percent loss from which ICMP is degraded (0: off)" },
    { "down_loss", CT_NUM, ICMP, 1, 100, "100",
      OFF(conf_check_t, down_loss), 0, NULL, NULL, 0,
      "percent loss from which ICMP is down" },
    { "flap_threshold", CT_NUM, KIND_ALL, 1, 1000, "5",
      OFF(conf_check_t, flap_threshold), 0, NULL, NULL, 0,
      "flap score (decayed state changes) that means flapping" },
    { "flap_halflife", CT_NUM, KIND_ALL, 1, 86400, "600",
      OFF(conf_check_t, flap_halflife), 0, NULL, NULL, 0,
      "seconds for the flap score to halve" },
    { "count", CT_INT, ICMP, 1, 100, "3", OFF(conf_check_t, count), 0,
      NULL, NULL, 0, "echo requests per check" },
    { "port", CT_INT, TCP | SNMP, 0, 65535, "0", OFF(conf_check_t, port),
      0, NULL, NULL, 0, "TCP port (required for tcp); SNMP port (161)" },
    { "url", CT_STR, HTTP, 0, 0, "", OFF(conf_check_t, url), 0, NULL, NULL,
      0, "URL; default http://ADDRESS/" },
    { "expect", CT_INTS, HTTP, 100, 599, "", OFF(conf_check_t, expect),
      OFF(conf_check_t, nexpect), NULL, NULL, 0,
      "accepted status codes (default: 200-399)" },
    { "keyword", CT_STR, HTTP, 0, 0, "", OFF(conf_check_t, keyword), 0,
      NULL, NULL, 0, "text the body must contain" },
    { "verify_tls", CT_BOOL, HTTP, 0, 0, "true",
      OFF(conf_check_t, verify_tls), 0, NULL, NULL, 0,
      "verify the certificate chain and host name" },
    { "ca_file", CT_STR, HTTP, 0, 0, "", OFF(conf_check_t, ca_file), 0,
      NULL, NULL, 0, "CA bundle to verify against" },
    { "cert_warn_days", CT_INT, HTTP, 0, 3650, "14",
      OFF(conf_check_t, cert_warn_days), 0, NULL, NULL, 0,
      "degraded when the certificate expires sooner" },
    { "version", CT_ENUM, SNMP, 0, 0, "2c", OFF(conf_check_t, snmp_version),
      0, conf_snmp_versions, NULL, 0, "SNMP version: 2c or 3" },
    { "community", CT_STR, SNMP, 0, 0, "public",
      OFF(conf_check_t, community), 0, NULL, NULL, 0, "v2c community" },
    { "user", CT_STR, SNMP, 0, 0, "", OFF(conf_check_t, user), 0, NULL,
      NULL, 0, "v3 USM user (required for v3)" },
    { "auth_proto", CT_ENUM, SNMP, 0, 0, "SHA",
      OFF(conf_check_t, auth_proto), 0, conf_auth_protos, NULL, 0,
      "v3 authentication protocol" },
    { "auth_pass", CT_STR, SNMP, 0, 0, "", OFF(conf_check_t, auth_pass), 0,
      NULL, NULL, 0, "v3 authentication passphrase (empty: noAuth)" },
    { "priv_proto", CT_ENUM, SNMP, 0, 0, "AES",
      OFF(conf_check_t, priv_proto), 0, conf_priv_protos, NULL, 0,
      "v3 privacy protocol" },
    { "priv_pass", CT_STR, SNMP, 0, 0, "", OFF(conf_check_t, priv_pass), 0,
      NULL, NULL, 0, "v3 privacy passphrase (empty: noPriv)" },
    { "retries", CT_INT, SNMP, 0, 5, "1", OFF(conf_check_t, retries), 0,
      NULL, NULL, 0, "SNMP retries after the first try" },
    { "oids", CT_STRS, SNMP, 0, 0, "", OFF(conf_check_t, oids),
      OFF(conf_check_t, noids), NULL, NULL, 0,
      "extra numeric OIDs to GET (values in \"o\")" },
    { "interfaces", CT_STRS, SNMP, 0, 0, "", OFF(conf_check_t, interfaces),
      OFF(conf_check_t, ninterfaces), NULL, NULL, 0,
      "interface names (ifDescr, at most 32) whose ifOperStatus must be "
      "up" },
    { NULL, 0, 0, 0, 0, NULL, 0, 0, NULL, NULL, 0, NULL }
};


conf_t *
conf_load(const char *file, const char *region, char *err)
{
    FILE    *f;
    char    *text;
    long     size;
    conf_t  *conf;

    f = fopen(file, "r");
    if (f == NULL) {
        snprintf(err, CONF_ERRLEN, "%s: %s", file, strerror(errno));
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        snprintf(err, CONF_ERRLEN, "%s: cannot size the file", file);
        fclose(f);
        return NULL;
    }

    text = malloc(size + 1);
    if (text == NULL || fread(text, 1, size, f) != (size_t) size) {
        snprintf(err, CONF_ERRLEN, "%s: read failed", file);
        free(text);
        fclose(f);
        return NULL;
    }

    text[size] = '\0';
    fclose(f);

    conf = conf_parse(text, file, region, err);

    free(text);

    return conf;
}


conf_t *
conf_parse(const char *text, const char *file, const char *region, char *err)
{
    json_t        *root;
    conf_t        *conf;
    conf_ctx_t     ctx;
    json_error_t   jerr;

    root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, CONF_ERRLEN, "%s:%d: %s", file, jerr.line, jerr.text);
        return NULL;
    }

    conf = calloc(1, sizeof(conf_t));
    if (conf == NULL) {
        snprintf(err, CONF_ERRLEN, "out of memory");
        json_decref(root);
        return NULL;
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.conf = conf;
    ctx.text = text;
    ctx.file = file;
    ctx.err = err;

    conf->file = pool_strdup(&conf->pool, file);

    if (!json_is_object(root)) {
        conf_error(&ctx, "the configuration must be a JSON object");
        goto failed;
    }

    /* sections start from the table defaults even when absent */
    conf_init_section(&ctx, conf_redis_keys, &conf->redis);
    conf_init_section(&ctx, conf_check_keys, &conf->defaults);

    if (conf_init_section(&ctx, conf_root_keys, conf) != 0
        || conf_apply(&ctx, root, conf_root_keys, conf, -1) != 0)
    {
        goto failed;
    }

    if (region != NULL) {
        if (!conf_valid_id(region)) {
            snprintf(err, CONF_ERRLEN, "--region \"%s\": only letters, "
                     "digits and . _ - are allowed", region);
            goto failed;
        }

        conf->region = pool_strdup(&conf->pool, region);
    }

    if (conf->region == NULL || conf->region[0] == '\0') {
        conf_error(&ctx, "\"region\" is missing (set it or use --region)");
        goto failed;
    }

    if (conf_finish(&ctx) != 0) {
        goto failed;
    }

    json_decref(root);
    return conf;

failed:

    json_decref(root);
    conf_free(conf);
    return NULL;
}


void
conf_free(conf_t *conf)
{
    if (conf != NULL) {
        pool_free(&conf->pool);
        free(conf);
    }
}


int
conf_device_in_region(const conf_device_t *dev, const char *region)
{
    int  i;

    if (dev->nregions == 0) {
        return 1;
    }

    for (i = 0; i < dev->nregions; i++) {
        if (strcmp(dev->regions[i], region) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
conf_error(conf_ctx_t *ctx, const char *fmt, ...)
{
    int      i, n, line;
    char     path[256];
    char     msg[256];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    n = 0;
    path[0] = '\0';

    for (i = 0; i < ctx->depth && n < (int) sizeof(path) - 1; i++) {
        if (ctx->path[i].key != NULL) {
            n += snprintf(path + n, sizeof(path) - n, "%s%s",
                          i ? "." : "", ctx->path[i].key);
        } else {
            n += snprintf(path + n, sizeof(path) - n, "[%d]",
                          ctx->path[i].index);
        }
    }

    line = conf_locate(ctx->text, ctx->path, ctx->depth);

    if (ctx->depth) {
        snprintf(ctx->err, CONF_ERRLEN, "%s:%d: %s: %s", ctx->file, line,
                 path, msg);
    } else {
        snprintf(ctx->err, CONF_ERRLEN, "%s:%d: %s", ctx->file, line, msg);
    }

    return -1;
}


/*
 * jansson keeps no positions for values, so errors found after parsing are
 * located by walking the text along the JSON path.  The text is known to be
 * valid JSON here, which keeps the scanner small.
 */

static const char *
conf_skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        p++;
    }

    return p;
}


static const char *
conf_skip_string(const char *p)
{
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) {
            p++;
        }
    }

    return *p ? p + 1 : p;
}


static const char *
conf_skip_value(const char *p)
{
    int  level;

    p = conf_skip_ws(p);

    if (*p == '"') {
        return conf_skip_string(p);
    }

    if (*p != '{' && *p != '[') {
        while (*p && strchr(",]} \t\r\n", *p) == NULL) {
            p++;
        }
        return p;
    }

    level = 0;

    while (*p) {
        if (*p == '"') {
            p = conf_skip_string(p);
            continue;
        }

        if (*p == '{' || *p == '[') {
            level++;

        } else if (*p == '}' || *p == ']') {
            if (--level == 0) {
                return p + 1;
            }
        }

        p++;
    }

    return p;
}


static int
conf_locate(const char *text, conf_path_t *path, int depth)
{
    int          i, n, line, found;
    size_t       klen;
    const char  *p, *q, *best;

    p = conf_skip_ws(text);
    best = p;

    for (i = 0; i < depth; i++) {
        found = 0;

        if (path[i].key != NULL && *p == '{') {
            klen = strlen(path[i].key);
            p = conf_skip_ws(p + 1);

            while (*p == '"') {
                q = conf_skip_string(p);
                if ((size_t) (q - p - 2) == klen
                    && strncmp(p + 1, path[i].key, klen) == 0)
                {
                    best = p;
                    p = conf_skip_ws(conf_skip_ws(q) + 1);
                    found = 1;
                    break;
                }

                p = conf_skip_ws(conf_skip_value(conf_skip_ws(q) + 1));
                p = conf_skip_ws(*p == ',' ? p + 1 : p);
            }

        } else if (path[i].key == NULL && *p == '[') {
            p = conf_skip_ws(p + 1);

            for (n = 0; *p && *p != ']'; n++) {
                if (n == path[i].index) {
                    best = p;
                    found = 1;
                    break;
                }

                p = conf_skip_ws(conf_skip_value(p));
                p = conf_skip_ws(*p == ',' ? p + 1 : p);
            }
        }

        if (!found) {
            break;
        }
    }

    line = 1;

    for (p = text; p < best; p++) {
        if (*p == '\n') {
            line++;
        }
    }

    return line;
}


static void
conf_push_key(conf_ctx_t *ctx, const char *key)
{
    if (ctx->depth < CONF_MAXDEPTH) {
        ctx->path[ctx->depth].key = key;
        ctx->path[ctx->depth].index = 0;
    }

    ctx->depth++;
}


static void
conf_push_index(conf_ctx_t *ctx, int index)
{
    if (ctx->depth < CONF_MAXDEPTH) {
        ctx->path[ctx->depth].key = NULL;
        ctx->path[ctx->depth].index = index;
    }

    ctx->depth++;
}


static void
conf_pop(conf_ctx_t *ctx)
{
    ctx->depth--;
}


static int
conf_enum_index(const char *const *enums, const char *s)
{
    int  i;

    for (i = 0; enums[i] != NULL; i++) {
        if (strcasecmp(enums[i], s) == 0) {
            return i;
        }
    }

    return -1;
}


static int
conf_init_section(conf_ctx_t *ctx, const conf_key_t *keys, void *base)
{
    char               *p;
    const conf_key_t   *k;

    for (k = keys; k->name != NULL; k++) {
        p = (char *) base + k->off;

        if (k->def == NULL || k->type == CT_SUB) {
            continue;
        }

        switch (k->type) {

        case CT_STR:
            *(char **) p = pool_strdup(&ctx->conf->pool, k->def);
            break;

        case CT_INT:
            *(int *) p = atoi(k->def);
            break;

        case CT_NUM:
            *(double *) p = strtod(k->def, NULL);
            break;

        case CT_BOOL:
            *(int *) p = strcmp(k->def, "true") == 0;
            break;

        case CT_ENUM:
            *(int *) p = conf_enum_index(k->enums, k->def);
            break;

        default:
            /* arrays start empty */
            break;
        }
    }

    return 0;
}


static const conf_key_t *
conf_find_key(const conf_key_t *keys, const char *name)
{
    const conf_key_t  *k;

    for (k = keys; k->name != NULL; k++) {
        if (strcmp(k->name, name) == 0) {
            return k;
        }
    }

    return NULL;
}


/*
 * Applies the keys present in obj to base.  kind >= 0 parses one check of
 * that kind, -2 parses "defaults" (check keys, any kind), -1 anything else.
 */

static int
conf_apply(conf_ctx_t *ctx, json_t *obj, const conf_key_t *keys, void *base,
    int kind)
{
    int                 rc;
    json_t             *v;
    const char         *name;
    const conf_key_t   *k;

    if (!json_is_object(obj)) {
        return conf_error(ctx, "must be an object");
    }

    json_object_foreach(obj, name, v) {
        k = conf_find_key(keys, name);

        conf_push_key(ctx, name);

        if (k == NULL) {
            rc = conf_error(ctx, "unknown key");
            conf_pop(ctx);
            return rc;
        }

        if (kind == -2 && (k->flags & CF_NODEF)) {
            rc = conf_error(ctx, "not allowed in \"defaults\"");
            conf_pop(ctx);
            return rc;
        }

        if (kind >= 0 && !(k->kinds & KIND_BIT(kind))) {
            rc = conf_error(ctx, "does not apply to %s checks",
                            probe_kind_names[kind]);
            conf_pop(ctx);
            return rc;
        }

        conf_pop(ctx);
    }

    for (k = keys; k->name != NULL; k++) {
        v = json_object_get(obj, k->name);

        if (v == NULL) {
            if ((k->flags & CF_REQUIRED) && kind != -2) {
                return conf_error(ctx, "\"%s\" is missing", k->name);
            }

            continue;
        }

        conf_push_key(ctx, k->name);

        if (k->type == CT_SUB) {
            rc = k->sub(ctx, v, (char *) base + k->off);

        } else {
            rc = conf_set_value(ctx, v, k, base);
        }

        conf_pop(ctx);

        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


static int
conf_set_value(conf_ctx_t *ctx, json_t *v, const conf_key_t *k, void *base)
{
    int          i, n, *ints;
    char        *p, **strs, list[128];
    double       d;
    json_t      *e;
    const char  *s;

    p = (char *) base + k->off;

    switch (k->type) {

    case CT_STR:
        if (!json_is_string(v)) {
            return conf_error(ctx, "must be a string");
        }

        s = json_string_value(v);

        if ((k->flags & CF_ID) && !conf_valid_id(s)) {
            return conf_error(ctx, "\"%s\": use 1-64 letters, digits and "
                              ". _ : - only", s);
        }

        *(char **) p = pool_strdup(&ctx->conf->pool, s);
        return 0;

    case CT_INT:
    case CT_NUM:
        if (!json_is_number(v)) {
            return conf_error(ctx, "must be a number");
        }

        d = json_number_value(v);

        if (k->type == CT_INT && d != floor(d)) {
            return conf_error(ctx, "must be an integer");
        }

        if (d < k->min || d > k->max) {
            return conf_error(ctx, "%g is out of range %g..%g", d, k->min,
                              k->max);
        }

        if (k->type == CT_INT) {
            *(int *) p = (int) d;
        } else {
            *(double *) p = d;
        }

        return 0;

    case CT_BOOL:
        if (!json_is_boolean(v)) {
            return conf_error(ctx, "must be true or false");
        }

        *(int *) p = json_is_true(v);
        return 0;

    case CT_ENUM:
        if (!json_is_string(v)
            || (i = conf_enum_index(k->enums, json_string_value(v))) < 0)
        {
            n = 0;
            list[0] = '\0';
            for (i = 0; k->enums[i] != NULL; i++) {
                n += snprintf(list + n, sizeof(list) - n, "%s%s",
                              i ? ", " : "", k->enums[i]);
            }

            return conf_error(ctx, "must be one of: %s", list);
        }

        *(int *) p = i;
        return 0;

    case CT_STRS:
    case CT_INTS:
        if (!json_is_array(v)) {
            return conf_error(ctx, "must be an array");
        }

        n = json_array_size(v);

        if (k->type == CT_STRS) {
            strs = pool_calloc(&ctx->conf->pool, (n + 1) * sizeof(char *));
            ints = NULL;
        } else {
            ints = pool_calloc(&ctx->conf->pool, (n + 1) * sizeof(int));
            strs = NULL;
        }

        json_array_foreach(v, i, e) {
            conf_push_index(ctx, i);

            if (k->type == CT_STRS) {
                if (!json_is_string(e)) {
                    return conf_error(ctx, "must be a string");
                }
                strs[i] = pool_strdup(&ctx->conf->pool, json_string_value(e));

            } else {
                if (!json_is_integer(e)
                    || json_integer_value(e) < k->min
                    || json_integer_value(e) > k->max)
                {
                    return conf_error(ctx, "must be an integer in %g..%g",
                                      k->min, k->max);
                }
                ints[i] = (int) json_integer_value(e);
            }

            conf_pop(ctx);
        }

        if (k->type == CT_STRS) {
            *(char ***) p = strs;
        } else {
            *(int **) p = ints;
        }

        *(int *) ((char *) base + k->noff) = n;
        return 0;
    }

    return conf_error(ctx, "internal: bad key type");
}


static int
conf_valid_id(const char *s)
{
    size_t  n;

    n = strlen(s);

    if (n == 0 || n > 64) {
        return 0;
    }

    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._:-") == n;
}


static int
conf_valid_oid(const char *s)
{
    int  digits;

    if (*s == '.') {
        s++;
    }

    digits = 0;

    for ( /* void */ ; *s; s++) {
        if (*s >= '0' && *s <= '9') {
            digits++;

        } else if (*s == '.' && digits) {
            digits = 0;

        } else {
            return 0;
        }
    }

    return digits > 0;
}


static int
conf_sub_redis(conf_ctx_t *ctx, json_t *v, void *base)
{
    return conf_apply(ctx, v, conf_redis_keys, base, -1);
}


static int
conf_sub_defaults(conf_ctx_t *ctx, json_t *v, void *base)
{
    ctx->defaults_json = v;

    return conf_apply(ctx, v, conf_check_keys, base, -2);
}


static int
conf_sub_accounts(conf_ctx_t *ctx, json_t *v, void *base)
{
    int              i, j;
    json_t          *e;
    conf_t          *conf;
    conf_account_t  *a;

    (void) base;
    conf = ctx->conf;

    if (!json_is_array(v)) {
        return conf_error(ctx, "must be an array");
    }

    conf->naccounts = json_array_size(v);
    conf->accounts = pool_calloc(&conf->pool,
                                 (conf->naccounts + 1) * sizeof(*a));

    json_array_foreach(v, i, e) {
        a = &conf->accounts[i];
        conf_push_index(ctx, i);

        if (conf_apply(ctx, e, conf_account_keys, a, -1) != 0) {
            return -1;
        }

        for (j = 0; j < i; j++) {
            if (strcmp(conf->accounts[j].id, a->id) == 0) {
                conf_push_key(ctx, "id");
                return conf_error(ctx, "duplicate account \"%s\"", a->id);
            }
        }

        conf_pop(ctx);
    }

    return 0;
}


static int
conf_sub_devices(conf_ctx_t *ctx, json_t *v, void *base)
{
    int               i, j;
    char             *s, *d;
    json_t           *e;
    conf_t           *conf;
    conf_device_t    *dev;
    conf_account_t   *a;

    conf = ctx->conf;
    a = base;

    if (!json_is_array(v)) {
        return conf_error(ctx, "must be an array");
    }

    /* "devices" is the slot after "id" in the table, so a->id is set */
    a->ndevices = json_array_size(v);
    a->devices = pool_calloc(&conf->pool, (a->ndevices + 1) * sizeof(*dev));

    json_array_foreach(v, i, e) {
        dev = &a->devices[i];
        conf_push_index(ctx, i);

        dev->line = conf_locate(ctx->text, ctx->path, ctx->depth);

        conf_init_section(ctx, conf_device_keys, dev);

        if (conf_apply(ctx, e, conf_device_keys, dev, -1) != 0) {
            return -1;
        }

        if (dev->name[0] == '\0') {
            dev->name = dev->id;
        }

        if (dev->address[0] == '\0') {
            conf_push_key(ctx, "address");
            return conf_error(ctx, "must not be empty");
        }

        if (strlen(dev->address) > CONF_MAXADDR) {
            conf_push_key(ctx, "address");
            return conf_error(ctx, "longer than %d characters",
                              CONF_MAXADDR);
        }

        for (j = 0; j < dev->nregions; j++) {
            if (!conf_valid_id(dev->regions[j])) {
                conf_push_key(ctx, "regions");
                conf_push_index(ctx, j);
                return conf_error(ctx, "\"%s\" is not a region name",
                                  dev->regions[j]);
            }
        }

        for (j = 0; j < i; j++) {
            if (strcmp(a->devices[j].id, dev->id) == 0) {
                conf_push_key(ctx, "id");
                return conf_error(ctx, "duplicate device \"%s\"", dev->id);
            }
        }

        /* the reload diff: a device is unchanged when its own text and
         * the defaults it inherits are */
        s = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
        d = ctx->defaults_json
            ? json_dumps(ctx->defaults_json, JSON_COMPACT | JSON_SORT_KEYS)
            : NULL;

        if (s != NULL) {
            dev->signature = pool_calloc(&conf->pool,
                                         strlen(s) + (d ? strlen(d) : 0) + 2);
            if (dev->signature != NULL) {
                sprintf(dev->signature, "%s|%s", s, d ? d : "");
            }
        }

        free(s);
        free(d);

        conf_pop(ctx);
    }

    return 0;
}


static int
conf_sub_checks(conf_ctx_t *ctx, json_t *v, void *base)
{
    int             i, j, kind;
    json_t         *e, *kv;
    conf_device_t  *dev;
    conf_check_t   *cc;

    dev = base;

    if (!json_is_array(v)) {
        return conf_error(ctx, "must be an array");
    }

    dev->nchecks = json_array_size(v);
    dev->checks = pool_calloc(&ctx->conf->pool,
                              (dev->nchecks + 1) * sizeof(*cc));

    json_array_foreach(v, i, e) {
        cc = &dev->checks[i];
        conf_push_index(ctx, i);

        *cc = ctx->conf->defaults;

        /* the kind decides which keys are allowed, so it is read first */
        kv = json_object_get(e, "kind");
        kind = json_is_string(kv)
               ? conf_enum_index(conf_kinds, json_string_value(kv))
               : -1;

        if (!json_is_object(e)) {
            return conf_error(ctx, "must be an object");
        }

        if (kind < 0) {
            conf_push_key(ctx, "kind");
            return conf_error(ctx, kv ? "must be one of: icmp, snmp, http, "
                                        "tcp"
                                      : "is missing");
        }

        if (conf_apply(ctx, e, conf_check_keys, cc, kind) != 0) {
            return -1;
        }

        for (j = 0; j < i; j++) {
            if (dev->checks[j].kind == cc->kind) {
                conf_push_key(ctx, "kind");
                return conf_error(ctx, "a second %s check on one device",
                                  probe_kind_names[cc->kind]);
            }
        }

        if (conf_check_finish(ctx, cc, dev) != 0) {
            return -1;
        }

        conf_pop(ctx);
    }

    return 0;
}


static int
conf_check_finish(conf_ctx_t *ctx, conf_check_t *cc, conf_device_t *dev)
{
    int     i;
    char   *url;
    size_t  n;

    switch (cc->kind) {

    case KIND_ICMP:
        /* a run longer than the interval would overrun for ever */
        if (cc->count * cc->timeout >= cc->interval) {
            return conf_error(ctx, "count * timeout (%d x %g s) must be "
                              "shorter than interval (%g s)", cc->count,
                              cc->timeout, cc->interval);
        }
        break;

    case KIND_TCP:
        if (cc->port == 0) {
            conf_push_key(ctx, "port");
            return conf_error(ctx, "a tcp check needs a port");
        }
        break;

    case KIND_HTTP:
        if (cc->url[0] == '\0') {
            n = strlen(dev->address) + 16;
            url = pool_calloc(&ctx->conf->pool, n);
            snprintf(url, n, strchr(dev->address, ':') ? "http://[%s]/"
                                                       : "http://%s/",
                     dev->address);
            cc->url = url;

        } else if (strncmp(cc->url, "http://", 7) != 0
                   && strncmp(cc->url, "https://", 8) != 0)
        {
            conf_push_key(ctx, "url");
            return conf_error(ctx, "must start with http:// or https://");
        }
        break;

    case KIND_SNMP:
        if (cc->port == 0) {
            cc->port = 161;
        }

        if (cc->snmp_version == SNMP_V3 && cc->user[0] == '\0') {
            conf_push_key(ctx, "user");
            return conf_error(ctx, "SNMPv3 needs a user");
        }

        if (cc->auth_pass[0] && strlen(cc->auth_pass) < 8) {
            conf_push_key(ctx, "auth_pass");
            return conf_error(ctx, "must be at least 8 characters");
        }

        if (cc->priv_pass[0]
            && (cc->auth_pass[0] == '\0' || strlen(cc->priv_pass) < 8))
        {
            conf_push_key(ctx, "priv_pass");
            return conf_error(ctx, "needs auth_pass and 8 characters or more");
        }

        if (cc->timeout * (cc->retries + 1) >= cc->interval) {
            return conf_error(ctx, "timeout * (retries + 1) (%g s x %d) "
                              "must be shorter than interval (%g s)",
                              cc->timeout, cc->retries + 1, cc->interval);
        }

        if (cc->ninterfaces > CONF_MAXIF) {
            conf_push_key(ctx, "interfaces");
            return conf_error(ctx, "%d interfaces: at most %d",
                              cc->ninterfaces, CONF_MAXIF);
        }

        for (i = 0; i < cc->noids; i++) {
            if (!conf_valid_oid(cc->oids[i])) {
                conf_push_key(ctx, "oids");
                conf_push_index(ctx, i);
                return conf_error(ctx, "\"%s\" is not a numeric OID",
                                  cc->oids[i]);
            }
        }
        break;

    default:
        break;
    }

    return 0;
}


/* checks across sections, once everything is parsed */

static int
conf_finish(conf_ctx_t *ctx)
{
    int                      i, len;
    conf_t                  *conf;
    unsigned char            addr[sizeof(struct in6_addr)];
    struct sockaddr_storage  ss;

    conf = ctx->conf;

    for (i = 0; i < conf->nregion_check; i++) {
        len = sizeof(ss);

        if (evutil_parse_sockaddr_port(conf->region_check[i],
                                       (struct sockaddr *) &ss, &len) != 0
            || strchr(conf->region_check[i], ':') == NULL
            || (ss.ss_family == AF_INET
                && ((struct sockaddr_in *) &ss)->sin_port == 0)
            || (ss.ss_family == AF_INET6
                && ((struct sockaddr_in6 *) &ss)->sin6_port == 0))
        {
            conf_push_key(ctx, "region_check");
            conf_push_index(ctx, i);
            return conf_error(ctx, "\"%s\" is not a numeric host:port "
                              "(192.0.2.1:443 or [2001:db8::1]:443)",
                              conf->region_check[i]);
        }
    }

    /*
     * hiredis resolves a host name with a blocking getaddrinfo() inside
     * redisAsyncConnect(), which would stall the loop (and every check)
     * while DNS is slow: only addresses are accepted.
     */
    if (conf->redis.socket[0] == '\0'
        && inet_pton(AF_INET, conf->redis.host, addr) != 1
        && inet_pton(AF_INET6, conf->redis.host, addr) != 1)
    {
        conf_push_key(ctx, "redis");
        conf_push_key(ctx, "host");
        return conf_error(ctx, "\"%s\" is not an IP address (names are not "
                          "resolved: they would block probed; use the "
                          "address or redis.socket)", conf->redis.host);
    }

    return 0;
}


static void
conf_keys_table(FILE *out, const char *title, const conf_key_t *keys)
{
    int                 i, kinds;
    const conf_key_t   *k;
    static const char  *types[] = {
        "string", "integer", "number", "boolean", "enum", "string list",
        "integer list", "object"
    };

    fprintf(out, "\n%s\n\n| key | type | default | range | applies to "
            "| meaning |\n|---|---|---|---|---|---|\n", title);

    for (k = keys; k->name != NULL; k++) {
        fprintf(out, "| `%s` | %s | ", k->name,
                k->type == CT_SUB && k->off == 0 ? "list" : types[k->type]);

        if (k->def == NULL) {
            fprintf(out, "required");
        } else if (k->def[0] == '\0') {
            fprintf(out, "%s", k->type == CT_STR ? "\"\"" : "-");
        } else {
            fprintf(out, "`%s`", k->def);
        }

        fprintf(out, " | ");

        if (k->type == CT_INT || k->type == CT_NUM || k->type == CT_INTS) {
            fprintf(out, "%g..%g", k->min, k->max);
        } else if (k->type == CT_ENUM) {
            for (i = 0; k->enums[i] != NULL; i++) {
                fprintf(out, "%s%s", i ? ", " : "", k->enums[i]);
            }
        }

        fprintf(out, " | ");

        kinds = k->kinds;
        if (kinds == KIND_ALL || kinds == 0) {
            fprintf(out, "%s", kinds ? "all" : "");
        } else {
            for (i = 0; i < KIND_N; i++) {
                if (kinds & KIND_BIT(i)) {
                    fprintf(out, "%s", probe_kind_names[i]);
                    kinds &= ~KIND_BIT(i);
                    fprintf(out, "%s", kinds ? ", " : "");
                }
            }
        }

        fprintf(out, " | %s |\n", k->doc);
    }
}


void
conf_keys_markdown(FILE *out)
{
    conf_keys_table(out, "Top level", conf_root_keys);
    conf_keys_table(out, "`redis`", conf_redis_keys);
    conf_keys_table(out, "`accounts[]`", conf_account_keys);
    conf_keys_table(out, "`accounts[].devices[]`", conf_device_keys);
    conf_keys_table(out, "`defaults` and `accounts[].devices[].checks[]` "
                    "(a check inherits every key it does not set from "
                    "`defaults`)", conf_check_keys);
}
