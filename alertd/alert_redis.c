/* alert_redis: the stream consumer and the alert state kept in Redis */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libevent.h>

#include "log.h"
#include "alert_redis.h"
#include "alert_outbox.h"


#define ALERT_BACKOFF_MIN   0.2
#define ALERT_BACKOFF_MAX   5.0
#define ALERT_BLOCK_MS      "5000"


typedef enum {
    AR_DOWN = 0,
    AR_CONNECTING,
    AR_LOADING,
    AR_RUNNING
} alert_redis_phase_e;


typedef struct {
    struct event_base      *base;
    const alert_conf_t     *conf;
    alert_acct_t           *accts;
    int                     naccts;
    redisAsyncContext      *cmd;        /* state, outbox, acks */
    redisAsyncContext      *rd;         /* XREADGROUP ... BLOCK only */
    int                     phase;
    int                     connected;  /* contexts up, of 2 */
    int                     loading;    /* load replies still to come */
    int                     history;    /* reading our pending entries */
    int                     gen;        /* session: stale replies ignored */
    double                  backoff;
    struct event           *retry_ev;
    struct event           *connect_ev;
    unsigned                logged_down:1;
} alert_redis_t;


static void alert_redis_connect(void);
static void alert_redis_on_connect(const redisAsyncContext *ac, int status);
static void alert_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void alert_redis_setup(redisAsyncContext *ac);
static void alert_redis_load(void);
static void alert_redis_on_load(redisAsyncContext *ac, void *r, void *data);
static void alert_redis_read(void);
static void alert_redis_on_read(redisAsyncContext *ac, void *r, void *data);
static void alert_redis_on_exec(redisAsyncContext *ac, void *r, void *data);
static void alert_redis_on_setup(redisAsyncContext *ac, void *r,
    void *data);
static void alert_redis_save_acct(alert_acct_t *a, alert_args_t *acks,
    int *open);
static void alert_redis_retry_handler(evutil_socket_t fd, short what,
    void *arg);
static void alert_redis_timeout_handler(evutil_socket_t fd, short what,
    void *arg);


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
    memset(&ar, 0, sizeof(ar));

    ar.base = base;
    ar.conf = conf;
    ar.accts = accts;
    ar.naccts = naccts;

    ar.retry_ev = evtimer_new(base, alert_redis_retry_handler, NULL);
    ar.connect_ev = evtimer_new(base, alert_redis_timeout_handler, NULL);
    if (ar.retry_ev == NULL || ar.connect_ev == NULL) {
        return -1;
    }

    alert_redis_connect();

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
    int  rc;

    if (ar.cmd == NULL || ar.phase < AR_LOADING) {
        return -1;
    }

    rc = redisAsyncCommandArgv(ar.cmd, cb, data, args->n,
                               (const char **) args->v, args->len);

    return rc == REDIS_OK ? 0 : -1;
}


static redisAsyncContext *
alert_redis_new_context(void)
{
    redisAsyncContext  *ac;

    if (ar.conf->redis.socket[0]) {
        ac = redisAsyncConnectUnix(ar.conf->redis.socket);
    } else {
        ac = redisAsyncConnect(ar.conf->redis.host, ar.conf->redis.port);
    }

    if (ac == NULL) {
        return NULL;
    }

    if (ac->err) {
        log_error("redis: %s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }

    redisLibeventAttach(ac, ar.base);
    redisAsyncSetConnectCallback(ac, alert_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, alert_redis_on_disconnect);

    return ac;
}


static void
alert_redis_connect(void)
{
    double          t;
    struct timeval  tv;

    ar.gen++;
    ar.connected = 0;
    ar.phase = AR_CONNECTING;

    ar.cmd = alert_redis_new_context();
    ar.rd = ar.cmd ? alert_redis_new_context() : NULL;

    if (ar.rd == NULL) {
        alert_redis_lost("cannot create a connection");
        return;
    }

    t = ar.conf->redis.connect_timeout;
    tv.tv_sec = (long) t;
    tv.tv_usec = (long) ((t - tv.tv_sec) * 1e6);
    evtimer_add(ar.connect_ev, &tv);
}


static void
alert_redis_on_connect(const redisAsyncContext *ac, int status)
{
    if (ac != ar.cmd && ac != ar.rd) {
        return;
    }

    if (status != REDIS_OK) {
        /* hiredis frees a context whose connect failed */
        if (ac == ar.cmd) {
            ar.cmd = NULL;
        } else {
            ar.rd = NULL;
        }

        alert_redis_lost(ac->errstr);
        return;
    }

    alert_redis_setup((redisAsyncContext *) ac);

    if (++ar.connected < 2) {
        return;
    }

    evtimer_del(ar.connect_ev);

    ar.backoff = 0;

    log_info("redis: connected to %s%s%d, watching %d accounts",
             ar.conf->redis.socket[0] ? ar.conf->redis.socket
                                      : ar.conf->redis.host,
             ar.conf->redis.socket[0] ? "" : ":",
             ar.conf->redis.socket[0] ? 0 : ar.conf->redis.port, ar.naccts);

    ar.logged_down = 0;

    alert_redis_load();
}


static void
alert_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    if (ac == ar.cmd) {
        ar.cmd = NULL;

    } else if (ac == ar.rd) {
        ar.rd = NULL;

    } else {
        return;
    }

    /* hiredis frees the context after this callback */
    alert_redis_lost(status == REDIS_OK ? "closed" : ac->errstr);
}


static void
alert_redis_setup(redisAsyncContext *ac)
{
    char         db[16];
    const char  *argv[2];

    /* pipelined before everything else: Redis runs them first */
    if (ar.conf->redis.password[0]) {
        argv[0] = "AUTH";
        argv[1] = ar.conf->redis.password;
        redisAsyncCommandArgv(ac, alert_redis_on_setup, (void *) "AUTH", 2,
                              argv, NULL);
    }

    if (ar.conf->redis.db) {
        snprintf(db, sizeof(db), "%d", ar.conf->redis.db);
        argv[0] = "SELECT";
        argv[1] = db;
        redisAsyncCommandArgv(ac, alert_redis_on_setup, (void *) "SELECT", 2,
                              argv, NULL);
    }
}


static void
alert_redis_on_setup(redisAsyncContext *ac, void *r, void *data)
{
    redisReply  *reply;

    reply = r;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR
        && (ac == ar.cmd || ac == ar.rd))
    {
        log_error("redis: %s failed: %s", (char *) data, reply->str);
        alert_redis_lost("setup failed");
    }
}


static void
alert_redis_schedule_retry(void)
{
    double          d;
    struct timeval  tv;

    ar.backoff = ar.backoff == 0 ? ALERT_BACKOFF_MIN : ar.backoff * 2;
    if (ar.backoff > ALERT_BACKOFF_MAX) {
        ar.backoff = ALERT_BACKOFF_MAX;
    }

    d = ar.backoff * (0.8 + 0.4 * (random() / (double) RAND_MAX));

    tv.tv_sec = (long) d;
    tv.tv_usec = (long) ((d - tv.tv_sec) * 1e6);

    evtimer_add(ar.retry_ev, &tv);
}


static void
alert_redis_drop(redisAsyncContext *ac)
{
    if (ac == NULL) {
        return;
    }

    /* callbacks see a context that is no longer ours and do nothing */
    if (ac->c.flags & REDIS_IN_CALLBACK) {
        redisAsyncDisconnect(ac);
    } else {
        redisAsyncFree(ac);
    }
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
    int                 i;
    redisAsyncContext  *cmd, *rd;

    if (ar.phase == AR_DOWN) {
        return;
    }

    evtimer_del(ar.connect_ev);

    cmd = ar.cmd;
    rd = ar.rd;
    ar.cmd = NULL;
    ar.rd = NULL;
    ar.phase = AR_DOWN;
    ar.gen++;

    if (!ar.logged_down) {
        log_error("redis: %s; alerts wait, retrying", why ? why : "lost");
        ar.logged_down = 1;
    }

    alert_redis_drop(cmd);
    alert_redis_drop(rd);

    for (i = 0; i < ar.naccts; i++) {
        alert_acct_reset(&ar.accts[i]);
    }

    alert_outbox_reset();

    alert_redis_schedule_retry();
}


static void
alert_redis_retry_handler(evutil_socket_t fd, short what, void *arg)
{
    alert_redis_connect();
}


static void
alert_redis_timeout_handler(evutil_socket_t fd, short what, void *arg)
{
    alert_redis_lost("connect timeout");
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
        alert_args_add(&args, "$");
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

    log_info("redis: alert state loaded; reading the streams");

    alert_redis_read();
}


static void
alert_redis_read(void)
{
    int           i;
    alert_args_t  args;

    if (ar.rd == NULL || ar.phase != AR_RUNNING) {
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

    redisAsyncCommandArgv(ar.rd, alert_redis_on_read,
                          (void *) (intptr_t) ar.gen, args.n,
                          (const char **) args.v, args.len);

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

    if (reply == NULL || ac != ar.rd || (intptr_t) data != ar.gen) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        if (strncmp(reply->str, "NOGROUP", 7) == 0) {
            /* the stream was lost and made anew: load creates the group */
            log_warn("redis: %s; creating the consumer group again",
                     reply->str);
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

                if (alert_event_parse(fields->element[f + 1]->str, &ev,
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

    /* reading our own entries again must wait for their XACK, or the
     * same ones come back; new entries ('>') never do */
    if (open) {
        redisAsyncCommand(ar.cmd, alert_redis_on_exec,
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
        redisAsyncCommand(ar.cmd, NULL, NULL, "MULTI");
        *open = 1;
    }

    redisAsyncCommandArgv(ar.cmd, NULL, NULL, args->n,
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
        redisAsyncCommand(ar.cmd, alert_redis_on_exec,
                          (void *) (intptr_t) (ar.gen * 2), "EXEC");
    }
}


static void
alert_redis_on_exec(redisAsyncContext *ac, void *r, void *data)
{
    size_t       i;
    redisReply  *reply;

    reply = r;

    if (reply == NULL || ac != ar.cmd || (intptr_t) data / 2 != ar.gen) {
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

        alert_state_tick(a, now);
        alert_redis_save(a);

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
    redisAsyncContext  *cmd, *rd;

    cmd = ar.cmd;
    rd = ar.rd;
    ar.cmd = NULL;
    ar.rd = NULL;
    ar.phase = AR_DOWN;
    ar.gen++;

    if (cmd != NULL) {
        redisAsyncFree(cmd);
    }

    if (rd != NULL) {
        redisAsyncFree(rd);
    }

    if (ar.retry_ev != NULL) {
        event_free(ar.retry_ev);
        event_free(ar.connect_ev);
    }

    memset(&ar, 0, sizeof(ar));
}
