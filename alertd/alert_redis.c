/* alert_redis: the stream consumer and the alert state kept in Redis */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis_link.h"
#include "alert_redis.h"
#include "alert_outbox.h"


#define ALERT_BACKOFF_MIN   0.2
#define ALERT_BACKOFF_MAX   5.0
#define ALERT_BLOCK_MS      "5000"
#define ALERT_REPLY_TIMEOUT 10.0        /* the reader adds its BLOCK time */


typedef enum {
    AR_DOWN = 0,
    AR_LOADING,
    AR_RUNNING
} alert_redis_phase_e;


typedef struct {
    struct event_base      *base;
    const alert_conf_t     *conf;
    alert_acct_t           *accts;
    int                     naccts;
    redis_link_t           *cmd;        /* state, outbox, acks */
    redis_link_t           *rd;         /* XREADGROUP ... BLOCK only */
    int                     phase;
    int                     loading;    /* load replies still to come */
    int                     history;    /* reading our pending entries */
    int                     behind;     /* the last read was not the end */
    int                     gen;        /* session: stale replies ignored */
    unsigned                nogroup:1;  /* the stream was made anew */
} alert_redis_t;


static void alert_redis_on_up(redis_link_t *l, void *data);
static void alert_redis_on_down(redis_link_t *l, const char *why,
    void *data);
static void alert_redis_end(const char *why, int log);
static void alert_redis_load(void);
static void alert_redis_on_load(redisAsyncContext *ac, void *r, void *data);
static void alert_redis_read(void);
static void alert_redis_on_read(redisAsyncContext *ac, void *r, void *data);
static void alert_redis_on_exec(redisAsyncContext *ac, void *r, void *data);
static void alert_redis_save_acct(alert_acct_t *a, alert_args_t *acks,
    int *open);


static alert_redis_t  ar;


typedef enum {
    AL_GROUP = 0,
    AL_DEV,
    AL_REGION,
    AL_PENDING,
    AL_OUTBOX,
    AL_FORGOTTEN
} alert_load_e;


typedef struct {
    alert_acct_t           *acct;
    int                     what;
    int                     gen;
} alert_load_t;


void
alert_args_add(alert_args_t *a, const char *s)
{
    char    **v;
    size_t   *len;

    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        v = realloc(a->v, a->cap * sizeof(char *));
        len = realloc(a->len, a->cap * sizeof(size_t));

        if (v != NULL) {
            a->v = v;
        }

        if (len != NULL) {
            a->len = len;
        }

        if (v == NULL || len == NULL) {
            a->cap = a->n;
            return;
        }
    }

    a->v[a->n] = strdup(s);
    if (a->v[a->n] == NULL) {
        return;
    }

    a->len[a->n] = strlen(s);
    a->n++;
}


void
alert_args_addf(alert_args_t *a, const char *fmt, ...)
{
    char     buf[512];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);

    alert_args_add(a, buf);
}


void
alert_args_free(alert_args_t *a)
{
    int  i;

    for (i = 0; i < a->n; i++) {
        free(a->v[i]);
    }

    free(a->v);
    free(a->len);
    memset(a, 0, sizeof(alert_args_t));
}


int
alert_redis_init(struct event_base *base, const alert_conf_t *conf,
    alert_acct_t *accts, int naccts)
{
    redis_link_conf_t  lc;

    memset(&ar, 0, sizeof(ar));

    ar.base = base;
    ar.conf = conf;
    ar.accts = accts;
    ar.naccts = naccts;

    memset(&lc, 0, sizeof(lc));
    lc.name = "redis";
    lc.host = conf->redis.host;
    lc.port = conf->redis.port;
    lc.socket = conf->redis.socket;
    lc.password = conf->redis.password;
    lc.db = conf->redis.db;
    lc.connect_timeout = conf->redis.connect_timeout;
    lc.reply_timeout = ALERT_REPLY_TIMEOUT;
    lc.backoff_min = ALERT_BACKOFF_MIN;
    lc.backoff_max = ALERT_BACKOFF_MAX;

    ar.cmd = redis_link_new(base, &lc, alert_redis_on_up,
                            alert_redis_on_down, NULL);

    /* the reader's XREADGROUP may rightly wait out its BLOCK time */
    lc.name = "redis reader";
    lc.reply_timeout = ALERT_REPLY_TIMEOUT + atoi(ALERT_BLOCK_MS) / 1000.0;

    ar.rd = redis_link_new(base, &lc, alert_redis_on_up,
                           alert_redis_on_down, NULL);

    if (ar.cmd == NULL || ar.rd == NULL) {
        return -1;
    }

    redis_link_start(ar.cmd);
    redis_link_start(ar.rd);

    return 0;
}


int
alert_redis_gen(void)
{
    return ar.gen;
}


int
alert_redis_running(void)
{
    return ar.phase == AR_RUNNING;
}


/* sends one command on the command connection; -1 when it is not up */

int
alert_redis_send(redisCallbackFn *cb, void *data, alert_args_t *args)
{
    if (ar.phase < AR_LOADING) {
        return -1;
    }

    return redis_link_command(ar.cmd, cb, data, args->n,
                              (const char **) args->v, args->len);
}


/* a session starts once both links are up, AUTH and SELECT done */

static void
alert_redis_on_up(redis_link_t *l, void *data)
{
    if (ar.phase != AR_DOWN || !redis_link_is_up(ar.cmd)
        || !redis_link_is_up(ar.rd))
    {
        return;
    }

    log_info("redis: watching %d accounts", ar.naccts);

    alert_redis_load();
}


static void
alert_redis_on_down(redis_link_t *l, const char *why, void *data)
{
    /* the link logged why already */
    alert_redis_end(why, 0);
}


/*
 * Any failure of either connection ends the session: memory is dropped
 * and everything is read back from Redis on the next one.  Entries not
 * acknowledged are delivered again, and the state they were applied to is
 * the one saved with the last acknowledgement, so each entry takes effect
 * exactly once.
 */

void
alert_redis_lost(const char *why)
{
    alert_redis_end(why, 1);
}


static void
alert_redis_end(const char *why, int log)
{
    int  i;

    if (ar.phase == AR_DOWN) {
        return;
    }

    ar.phase = AR_DOWN;
    ar.gen++;

    if (log) {
        log_error("redis: %s; alerts wait, reconnecting",
                  why ? why : "lost");
    }

    /* both go: the reader's blocked read belongs to the old session */
    redis_link_drop(ar.cmd, why);
    redis_link_drop(ar.rd, why);

    for (i = 0; i < ar.naccts; i++) {
        alert_acct_reset(&ar.accts[i]);
    }

    alert_outbox_reset();
}


static void
alert_redis_load_cmd(alert_acct_t *a, int what, alert_args_t *args)
{
    alert_load_t  *l;

    l = malloc(sizeof(alert_load_t));
    if (l == NULL) {
        alert_args_free(args);
        return;
    }

    l->acct = a;
    l->what = what;
    l->gen = ar.gen;

    if (alert_redis_send(alert_redis_on_load, l, args) == 0) {
        ar.loading++;
    } else {
        free(l);
    }

    alert_args_free(args);
}


static void
alert_redis_load(void)
{
    int            i;
    alert_acct_t  *a;
    alert_args_t   args;

    ar.phase = AR_LOADING;
    ar.loading = 0;

    for (i = 0; i < ar.naccts; i++) {
        a = &ar.accts[i];

        /* messages delivered while Redis was away leave the outbox first */
        memset(&args, 0, sizeof(args));
        alert_outbox_forgotten(a->id, &args);
        if (args.n) {
            alert_redis_load_cmd(a, AL_FORGOTTEN, &args);
        }

        memset(&args, 0, sizeof(args));
        alert_args_add(&args, "XGROUP");
        alert_args_add(&args, "CREATE");
        alert_args_addf(&args, "devmon:{%s}:ev", a->id);
        alert_args_add(&args, ar.conf->group);

        /* a first start begins at now; a stream made anew is read from
         * its start, or what was published in between is never seen */
        alert_args_add(&args, ar.nogroup ? "0" : "$");
        alert_args_add(&args, "MKSTREAM");
        alert_redis_load_cmd(a, AL_GROUP, &args);

        alert_args_add(&args, "HGETALL");
        alert_args_addf(&args, "devmon:{%s}:alert:dev", a->id);
        alert_redis_load_cmd(a, AL_DEV, &args);

        alert_args_add(&args, "HGETALL");
        alert_args_addf(&args, "devmon:{%s}:alert:region", a->id);
        alert_redis_load_cmd(a, AL_REGION, &args);

        alert_args_add(&args, "LRANGE");
        alert_args_addf(&args, "devmon:{%s}:alert:pending", a->id);
        alert_args_add(&args, "0");
        alert_args_add(&args, "-1");
        alert_redis_load_cmd(a, AL_PENDING, &args);

        alert_args_add(&args, "HGETALL");
        alert_args_addf(&args, "devmon:{%s}:alert:outbox", a->id);
        alert_redis_load_cmd(a, AL_OUTBOX, &args);
    }
}


static void
alert_redis_on_load(redisAsyncContext *ac, void *r, void *data)
{
    size_t         i;
    redisReply    *reply;
    alert_note_t   n;
    alert_load_t  *l;
    alert_acct_t  *a;

    reply = r;
    l = data;
    a = l->acct;

    if (reply == NULL || l->gen != ar.gen) {
        free(l);
        return;
    }

    ar.loading--;

    if (reply->type == REDIS_REPLY_ERROR) {
        if (l->what != AL_GROUP || strncmp(reply->str, "BUSYGROUP", 9) != 0)
        {
            log_error("redis: loading \"%s\": %s", a->id, reply->str);
            free(l);
            alert_redis_lost("load failed");
            return;
        }

    } else if (reply->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < reply->elements; i++) {
            switch (l->what) {

            case AL_DEV:
                if (i % 2 == 1) {
                    alert_dev_decode(a, reply->element[i]->str);
                }
                break;

            case AL_REGION:
                if (i % 2 == 1) {
                    alert_region_decode(a, reply->element[i]->str);
                }
                break;

            case AL_PENDING:
                if (alert_note_decode(reply->element[i]->str, &n) == 0) {
                    alert_note_push(a, &n);
                }
                a->nsaved = a->npending;
                break;

            case AL_OUTBOX:
                if (i % 2 == 1) {
                    alert_outbox_load(a->id, reply->element[i - 1]->str,
                                      reply->element[i]->str);
                }
                break;
            }
        }
    }

    free(l);

    if (ar.loading > 0) {
        return;
    }

    ar.phase = AR_RUNNING;
    ar.history = 1;
    ar.behind = 1;
    ar.nogroup = 0;

    log_info("redis: alert state loaded; reading the streams");

    alert_redis_read();
}


static void
alert_redis_read(void)
{
    int           i;
    alert_args_t  args;

    if (ar.phase != AR_RUNNING) {
        return;
    }

    memset(&args, 0, sizeof(args));

    alert_args_add(&args, "XREADGROUP");
    alert_args_add(&args, "GROUP");
    alert_args_add(&args, ar.conf->group);
    alert_args_add(&args, ar.conf->consumer);
    alert_args_add(&args, "COUNT");
    alert_args_addf(&args, "%d", ar.conf->batch);

    /* our own unacknowledged entries first (a restart), then new ones */
    if (!ar.history) {
        alert_args_add(&args, "BLOCK");
        alert_args_add(&args, ALERT_BLOCK_MS);
    }

    alert_args_add(&args, "STREAMS");

    for (i = 0; i < ar.naccts; i++) {
        alert_args_addf(&args, "devmon:{%s}:ev", ar.accts[i].id);
    }

    for (i = 0; i < ar.naccts; i++) {
        alert_args_add(&args, ar.history ? "0" : ">");
    }

    if (redis_link_command(ar.rd, alert_redis_on_read,
                           (void *) (intptr_t) ar.gen, args.n,
                           (const char **) args.v, args.len)
        != 0)
    {
        alert_redis_lost("cannot send XREADGROUP");
    }

    alert_args_free(&args);
}


static alert_acct_t *
alert_redis_acct(const char *key)
{
    int     i;
    size_t  n;

    for (i = 0; i < ar.naccts; i++) {
        n = strlen(ar.accts[i].id);

        if (strncmp(key, "devmon:{", 8) == 0
            && strncmp(key + 8, ar.accts[i].id, n) == 0
            && strcmp(key + 8 + n, "}:ev") == 0)
        {
            return &ar.accts[i];
        }
    }

    return NULL;
}


static void
alert_redis_on_read(redisAsyncContext *ac, void *r, void *data)
{
    int             i, total, open;
    size_t          s, e, f;
    json_t         *root;
    redisReply     *reply, *stream, *entry, *fields;
    alert_acct_t   *a;
    alert_args_t   *acks, *ack;
    alert_event_t   ev;

    reply = r;

    if (reply == NULL || (intptr_t) data != ar.gen) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        if (strncmp(reply->str, "NOGROUP", 7) == 0
            || strncmp(reply->str, "UNBLOCKED", 9) == 0)
        {
            /* the stream was lost and made anew: load creates the group */
            log_warn("redis: %s; creating the consumer group again, "
                     "from the stream's first entry", reply->str);
            ar.nogroup = 1;
        } else {
            log_error("redis: XREADGROUP: %s", reply->str);
        }

        alert_redis_lost("read failed");
        return;
    }

    total = 0;

    acks = calloc(ar.naccts, sizeof(alert_args_t));
    if (acks == NULL) {
        alert_redis_lost("out of memory");
        return;
    }

    for (s = 0; reply->type == REDIS_REPLY_ARRAY && s < reply->elements;
         s++)
    {
        stream = reply->element[s];

        if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2) {
            continue;
        }

        a = alert_redis_acct(stream->element[0]->str);
        if (a == NULL) {
            continue;
        }

        ack = &acks[a - ar.accts];

        for (e = 0; e < stream->element[1]->elements; e++) {
            entry = stream->element[1]->element[e];
            total++;

            if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2) {
                continue;
            }

            if (ack->n == 0) {
                alert_args_add(ack, "XACK");
                alert_args_addf(ack, "devmon:{%s}:ev", a->id);
                alert_args_add(ack, ar.conf->group);
            }

            alert_args_add(ack, entry->element[0]->str);

            fields = entry->element[1];

            /* a trimmed entry comes back without fields: just acked */
            if (fields->type != REDIS_REPLY_ARRAY) {
                continue;
            }

            for (f = 0; f + 1 < fields->elements; f += 2) {
                if (strcmp(fields->element[f]->str, "e") != 0) {
                    continue;
                }

                if (alert_event_parse(entry->element[0]->str,
                                      fields->element[f + 1]->str, &ev,
                                      &root) > 0)
                {
                    alert_state_event(a, &ev);
                    json_decref(root);
                }
            }
        }
    }

    /* the state the entries led to and their acknowledgement: one
     * transaction, so a crash leaves either both or neither */
    open = 0;

    for (i = 0; i < ar.naccts; i++) {
        alert_redis_save_acct(&ar.accts[i], &acks[i], &open);
        alert_args_free(&acks[i]);
    }

    free(acks);

    if (ar.history && total == 0) {
        ar.history = 0;
    }

    /* a full batch: more is waiting, and its times are in the past */
    ar.behind = ar.history || total >= ar.conf->batch;

    /* reading our own entries again must wait for their XACK, or the
     * same ones come back; new entries ('>') never do */
    if (open) {
        redis_link_commandf(ar.cmd, alert_redis_on_exec,
                            (void *) (intptr_t) (ar.gen * 2 + ar.history),
                            "EXEC");
    }

    if (!open || !ar.history) {
        alert_redis_read();
    }
}


static void
alert_redis_cmd(alert_args_t *args, int *open)
{
    if (!*open) {
        redis_link_commandf(ar.cmd, NULL, NULL, "MULTI");
        *open = 1;
    }

    redis_link_command(ar.cmd, NULL, NULL, args->n,
                       (const char **) args->v, args->len);
    alert_args_free(args);
}


/* queues into the open transaction what changed in the account */

static void
alert_redis_save_acct(alert_acct_t *a, alert_args_t *acks, int *open)
{
    int            i;
    char          *s;
    alert_dev_t   *d;
    alert_args_t   args;

    memset(&args, 0, sizeof(args));

    for (d = a->devs; d; d = d->lnext) {
        if (!d->dirty || (s = alert_dev_encode(d)) == NULL) {
            continue;
        }

        if (args.n == 0) {
            alert_args_add(&args, "HSET");
            alert_args_addf(&args, "devmon:{%s}:alert:dev", a->id);
        }

        alert_args_addf(&args, "%s|%s", d->device, d->region);
        alert_args_add(&args, s);
        free(s);
        d->dirty = 0;
    }

    if (args.n) {
        alert_redis_cmd(&args, open);
    }

    for (i = 0; i < a->nregions; i++) {
        if (!a->regions[i].dirty
            || (s = alert_region_encode(&a->regions[i])) == NULL)
        {
            continue;
        }

        if (args.n == 0) {
            alert_args_add(&args, "HSET");
            alert_args_addf(&args, "devmon:{%s}:alert:region", a->id);
        }

        alert_args_add(&args, a->regions[i].name);
        alert_args_add(&args, s);
        free(s);
        a->regions[i].dirty = 0;
    }

    if (args.n) {
        alert_redis_cmd(&args, open);
    }

    /* during a fan-out the notes it took are still in Redis: only
     * appends are safe, the fan-out rewrites the list when it is done */
    if (a->pending_rewrite && !a->flushing) {
        alert_args_add(&args, "DEL");
        alert_args_addf(&args, "devmon:{%s}:alert:pending", a->id);
        alert_redis_cmd(&args, open);
        a->nsaved = 0;
        a->pending_rewrite = 0;
    }

    if (!a->pending_rewrite && a->nsaved < a->npending) {
        alert_args_add(&args, "RPUSH");
        alert_args_addf(&args, "devmon:{%s}:alert:pending", a->id);

        for (i = a->nsaved; i < a->npending; i++) {
            s = alert_note_encode(&a->pending[i]);
            if (s != NULL) {
                alert_args_add(&args, s);
                free(s);
            }
        }

        a->nsaved = a->npending;
        alert_redis_cmd(&args, open);
    }

    if (acks != NULL && acks->n > 3) {
        alert_redis_cmd(acks, open);
    }
}


/* adds an account's changes to a transaction the caller opened */

void
alert_redis_save_queue(alert_acct_t *a, int *open)
{
    alert_redis_save_acct(a, NULL, open);
}


void
alert_redis_save(alert_acct_t *a)
{
    int  open;

    if (ar.phase != AR_RUNNING) {
        return;
    }

    open = 0;
    alert_redis_save_acct(a, NULL, &open);

    if (open) {
        redis_link_commandf(ar.cmd, alert_redis_on_exec,
                            (void *) (intptr_t) (ar.gen * 2), "EXEC");
    }
}


static void
alert_redis_on_exec(redisAsyncContext *ac, void *r, void *data)
{
    size_t       i;
    redisReply  *reply;

    reply = r;

    if (reply == NULL || (intptr_t) data / 2 != ar.gen) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        log_error("redis: saving alert state: %s", reply->str);
        alert_redis_lost("save failed");
        return;
    }

    for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
         i++)
    {
        if (reply->element[i]->type == REDIS_REPLY_ERROR) {
            log_error("redis: saving alert state: %s",
                      reply->element[i]->str);
            alert_redis_lost("save failed");
            return;
        }
    }

    if ((intptr_t) data % 2) {
        alert_redis_read();
    }
}


void
alert_redis_tick(int64_t now)
{
    int            i;
    alert_acct_t  *a;

    if (ar.phase != AR_RUNNING) {
        return;
    }

    for (i = 0; i < ar.naccts; i++) {
        a = &ar.accts[i];

        /* while catching up, "now" is ahead of the entries still unread:
         * a hold or cooldown would end before the events that end it */
        if (!ar.behind) {
            alert_state_tick(a, now);
            alert_redis_save(a);
        }

        if (a->window_due != 0 && a->window_due <= now && !a->flushing
            && a->npending > 0)
        {
            alert_outbox_flush(a);
        }
    }
}


void
alert_redis_fini(void)
{
    ar.phase = AR_DOWN;
    ar.gen++;

    redis_link_free(ar.cmd);
    redis_link_free(ar.rd);

    memset(&ar, 0, sizeof(ar));
}
