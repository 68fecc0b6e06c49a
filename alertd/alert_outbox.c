/* alert_outbox: fan-out of notes to users and delivery with retries */

#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "log.h"
#include "alert_redis.h"
#include "alert_send.h"
#include "alert_outbox.h"


#define ALERT_MAXSENDING    32
#define ALERT_MAXUSERS      10000


/* one fan-out: the notes of a window, the catalogue, the users */
typedef struct {
    alert_acct_t           *acct;
    int                     gen;
    alert_note_t           *notes;
    alert_devinfo_t        *info;
    int                     n;
    alert_user_t           *users;
    int                     nusers;
    int                     outstanding;    /* replies still to come */
    unsigned                failed:1;
    alert_msg_t            *msgs;           /* built, not yet saved */
} alert_flush_t;


/* ids delivered while Redis was away: deleted from the outbox on return */
typedef struct alert_gone_s  alert_gone_t;

struct alert_gone_s {
    alert_gone_t           *next;
    char                    account[ALERT_IDLEN];
    char                    id[64];
};


typedef struct {
    const alert_conf_t     *conf;
    alert_msg_t            *msgs;
    size_t                  n;
    alert_gone_t           *gone;
    uint64_t                seq;
} alert_outbox_t;


static void alert_outbox_on_devices(redisAsyncContext *ac, void *r,
    void *data);
static void alert_outbox_on_users(redisAsyncContext *ac, void *r,
    void *data);
static void alert_outbox_on_user(redisAsyncContext *ac, void *r, void *data);
static void alert_outbox_build(alert_flush_t *fl);
static void alert_outbox_on_saved(redisAsyncContext *ac, void *r,
    void *data);
static int alert_outbox_reply_done(alert_flush_t *fl, redisReply *reply);
static void alert_outbox_flush_free(alert_flush_t *fl);
static void alert_outbox_add(alert_msg_t *m);
static void alert_outbox_remove(alert_msg_t *m);
static void alert_outbox_done(alert_msg_t *m, const char *err,
    int permanent);
static void alert_outbox_persist(alert_msg_t *m);
static void alert_outbox_delete(alert_msg_t *m);


static alert_outbox_t  ob;


/* the flush state of each user reply: the flush and the user index */
typedef struct {
    alert_flush_t          *fl;
    int                     i;
} alert_user_req_t;


int
alert_outbox_init(struct event_base *base, const alert_conf_t *conf)
{
    memset(&ob, 0, sizeof(ob));

    ob.conf = conf;

    if (alert_send_init(base, alert_outbox_done) != 0) {
        return -1;
    }

    alert_send_reconfigure(conf);

    return 0;
}


void
alert_outbox_reconfigure(const alert_conf_t *conf)
{
    ob.conf = conf;
    alert_send_reconfigure(conf);
}


size_t
alert_outbox_size(void)
{
    return ob.n;
}


/*
 * Starts the fan-out of an account's pending notes: the catalogue for the
 * names and addresses, then the users and their preferences, read now so a
 * change made in Redis applies to the next alert.  The notes stay in Redis
 * until the messages made from them are saved in the same transaction.
 */

void
alert_outbox_flush(alert_acct_t *a)
{
    int             i;
    alert_args_t    args;
    alert_flush_t  *fl;

    fl = calloc(1, sizeof(alert_flush_t));
    if (fl == NULL) {
        return;
    }

    fl->acct = a;
    fl->gen = alert_redis_gen();
    fl->n = a->npending;
    fl->notes = malloc(fl->n * sizeof(alert_note_t));
    fl->info = calloc(fl->n, sizeof(alert_devinfo_t));

    if (fl->notes == NULL || fl->info == NULL) {
        alert_outbox_flush_free(fl);
        return;
    }

    memcpy(fl->notes, a->pending, fl->n * sizeof(alert_note_t));

    memset(&args, 0, sizeof(args));
    alert_args_add(&args, "HMGET");
    alert_args_addf(&args, "devmon:{%s}:devices", a->id);

    for (i = 0; i < fl->n; i++) {
        alert_args_add(&args, fl->notes[i].device[0] ? fl->notes[i].device
                                                     : "-");
    }

    if (alert_redis_send(alert_outbox_on_devices, fl, &args) != 0) {
        alert_args_free(&args);
        alert_outbox_flush_free(fl);
        return;
    }

    fl->outstanding++;
    alert_args_free(&args);

    alert_args_add(&args, "SMEMBERS");
    alert_args_addf(&args, "devmon:{%s}:users", a->id);

    if (alert_redis_send(alert_outbox_on_users, fl, &args) == 0) {
        fl->outstanding++;
    }

    alert_args_free(&args);

    /* the notes leave memory now; later ones gather for the next window */
    a->npending = 0;
    a->nsaved = 0;
    a->window_due = 0;
    a->flushing = 1;
}


/* counts a reply in; 0 when the flush can go on with it */

static int
alert_outbox_reply_done(alert_flush_t *fl, redisReply *reply)
{
    fl->outstanding--;

    if (reply == NULL || fl->gen != alert_redis_gen()) {
        fl->failed = 1;
    }

    if (fl->failed) {
        if (fl->outstanding == 0) {
            alert_outbox_flush_free(fl);
        }

        return -1;
    }

    return 0;
}


static void
alert_outbox_on_devices(redisAsyncContext *ac, void *r, void *data)
{
    int             i;
    json_t         *o;
    const char     *name, *addr;
    redisReply     *reply;
    alert_flush_t  *fl;

    reply = r;
    fl = data;

    if (alert_outbox_reply_done(fl, reply) != 0) {
        return;
    }

    for (i = 0; reply->type == REDIS_REPLY_ARRAY
                && i < (int) reply->elements && i < fl->n; i++)
    {
        snprintf(fl->info[i].name, sizeof(fl->info[i].name), "%s",
                 fl->notes[i].device);

        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }

        o = json_loads(reply->element[i]->str, 0, NULL);
        if (o == NULL) {
            continue;
        }

        name = json_string_value(json_object_get(o, "n"));
        addr = json_string_value(json_object_get(o, "a"));

        if (name != NULL && name[0]) {
            snprintf(fl->info[i].name, sizeof(fl->info[i].name), "%s",
                     name);
        }

        if (addr != NULL) {
            snprintf(fl->info[i].address, sizeof(fl->info[i].address),
                     "%s", addr);
        }

        json_decref(o);
    }
}


static void
alert_outbox_on_users(redisAsyncContext *ac, void *r, void *data)
{
    int                i;
    redisReply        *reply;
    alert_args_t       args;
    alert_flush_t     *fl;
    alert_user_req_t  *req;

    reply = r;
    fl = data;

    if (alert_outbox_reply_done(fl, reply) != 0) {
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0) {
        fl->nusers = reply->elements < ALERT_MAXUSERS ? reply->elements
                                                      : ALERT_MAXUSERS;
        fl->users = calloc(fl->nusers, sizeof(alert_user_t));
        if (fl->users == NULL) {
            fl->nusers = 0;
        }
    }

    memset(&args, 0, sizeof(args));

    for (i = 0; i < fl->nusers; i++) {
        alert_user_init(&fl->users[i], reply->element[i]->str);

        req = malloc(sizeof(alert_user_req_t));
        if (req == NULL) {
            fl->users[i].enabled = 0;
            continue;
        }

        req->fl = fl;
        req->i = i;

        alert_args_add(&args, "HGETALL");
        alert_args_addf(&args, "devmon:{%s}:user:%s", fl->acct->id,
                        fl->users[i].id);

        if (alert_redis_send(alert_outbox_on_user, req, &args) == 0) {
            fl->outstanding++;
        } else {
            free(req);
            fl->failed = 1;
        }

        alert_args_free(&args);
    }

    if (fl->outstanding == 0) {
        if (fl->failed) {
            alert_outbox_flush_free(fl);
        } else {
            alert_outbox_build(fl);
        }
    }
}


static void
alert_outbox_on_user(redisAsyncContext *ac, void *r, void *data)
{
    size_t             k;
    redisReply        *reply;
    alert_user_t      *u;
    alert_flush_t     *fl;
    alert_user_req_t  *req;

    reply = r;
    req = data;
    fl = req->fl;
    u = &fl->users[req->i];
    free(req);

    if (alert_outbox_reply_done(fl, reply) != 0) {
        return;
    }

    for (k = 0; reply->type == REDIS_REPLY_ARRAY && k + 1 < reply->elements;
         k += 2)
    {
        /* the value is not logged: it may be hostile or hold a secret */
        if (alert_user_set(u, reply->element[k]->str,
                           reply->element[k + 1]->str) != 0)
        {
            log_warn("%s: user \"%s\": invalid \"%.32s\" preference "
                     "ignored", fl->acct->id, u->id,
                     reply->element[k]->str);
        }
    }

    if (fl->outstanding == 0) {
        alert_outbox_build(fl);
    }
}


static void
alert_outbox_msg(alert_flush_t *fl, const alert_user_t *u, int channel,
    const alert_note_t *notes, const alert_devinfo_t *info, int n,
    int digest)
{
    char          id[64];
    alert_msg_t  *m;

    snprintf(id, sizeof(id), "%lld.%llu", (long long) devmon_now_ms(),
             (unsigned long long) ++ob.seq);

    m = alert_render(fl->acct->id, u, channel, notes, info, n, digest,
                     ob.conf->smtp.from, ob.conf->subject_prefix, id);
    if (m == NULL) {
        log_error("%s: out of memory rendering an alert", fl->acct->id);
        return;
    }

    m->next = fl->msgs;
    fl->msgs = m;
}


/*
 * Makes the messages: in a storm (storm_threshold notes or more in the
 * window) each user gets one digest per channel of what they want to
 * hear; otherwise one message per note.  Then saves them with the note
 * list that remains, in one transaction.
 */

static void
alert_outbox_build(alert_flush_t *fl)
{
    int              i, j, c, k, digest, open;
    char            *s;
    alert_msg_t     *m;
    alert_args_t     args;
    alert_acct_t    *a;
    alert_user_t    *u;
    alert_note_t    *mine;
    alert_devinfo_t *info;
    static const int channels[2] = { ALERT_CH_EMAIL, ALERT_CH_WEBHOOK };

    a = fl->acct;
    digest = fl->n >= ob.conf->storm_threshold;

    mine = malloc(fl->n * sizeof(alert_note_t));
    info = malloc(fl->n * sizeof(alert_devinfo_t));

    for (i = 0; mine != NULL && info != NULL && i < fl->nusers; i++) {
        u = &fl->users[i];
        k = 0;

        for (j = 0; j < fl->n; j++) {
            if (alert_user_wants(u, &fl->notes[j])) {
                mine[k] = fl->notes[j];
                info[k] = fl->info[j];
                k++;
            }
        }

        for (c = 0; k > 0 && c < 2; c++) {
            if (!(u->channels & channels[c])
                || (channels[c] == ALERT_CH_EMAIL && u->email[0] == '\0')
                || (channels[c] == ALERT_CH_WEBHOOK
                    && u->webhook[0] == '\0'))
            {
                continue;
            }

            if (digest) {
                alert_outbox_msg(fl, u, channels[c], mine, info, k, 1);
                continue;
            }

            for (j = 0; j < k; j++) {
                alert_outbox_msg(fl, u, channels[c], &mine[j], &info[j], 1,
                                 0);
            }
        }
    }

    free(mine);
    free(info);

    for (i = 0; i < fl->n; i++) {
        log_info("%s: %s %s%s%s%s -> %s", a->id,
                 alert_kind_names[fl->notes[i].kind], fl->notes[i].device,
                 fl->notes[i].device[0] ? "/" : "region ",
                 fl->notes[i].region,
                 digest ? " (digest)" : "", fl->msgs ? "queued" : "nobody");
    }

    /* the messages and what is left of the note list, atomically */
    memset(&args, 0, sizeof(args));

    alert_args_add(&args, "MULTI");
    alert_redis_send(NULL, NULL, &args);
    alert_args_free(&args);

    for (m = fl->msgs; m; m = m->next) {
        s = alert_msg_encode(m);
        if (s == NULL) {
            continue;
        }

        alert_args_add(&args, "HSET");
        alert_args_addf(&args, "devmon:{%s}:alert:outbox", a->id);
        alert_args_add(&args, m->id);
        alert_args_add(&args, s);
        alert_redis_send(NULL, NULL, &args);
        alert_args_free(&args);
        free(s);
    }

    alert_args_add(&args, "DEL");
    alert_args_addf(&args, "devmon:{%s}:alert:pending", a->id);
    alert_redis_send(NULL, NULL, &args);
    alert_args_free(&args);

    a->flushing = 0;
    a->pending_rewrite = 0;
    a->nsaved = 0;
    open = 1;
    alert_redis_save_queue(a, &open);

    alert_args_add(&args, "EXEC");
    if (alert_redis_send(alert_outbox_on_saved, fl, &args) == 0) {
        fl->outstanding++;
    } else {
        fl->failed = 1;
        alert_outbox_flush_free(fl);
    }

    alert_args_free(&args);
}


static void
alert_outbox_on_saved(redisAsyncContext *ac, void *r, void *data)
{
    redisReply     *reply;
    alert_msg_t    *m;
    alert_flush_t  *fl;

    reply = r;
    fl = data;

    if (alert_outbox_reply_done(fl, reply) != 0) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        log_error("%s: saving alerts failed: %s", fl->acct->id,
                  reply->type == REDIS_REPLY_ERROR ? reply->str : "aborted");
        alert_outbox_flush_free(fl);
        alert_redis_lost("save failed");
        return;
    }

    while ((m = fl->msgs) != NULL) {
        fl->msgs = m->next;
        alert_outbox_add(m);
    }

    alert_outbox_flush_free(fl);

    alert_outbox_tick(devmon_now_ms());
}


static void
alert_outbox_flush_free(alert_flush_t *fl)
{
    alert_msg_t  *m;

    while ((m = fl->msgs) != NULL) {
        fl->msgs = m->next;
        alert_msg_free(m);
    }

    free(fl->notes);
    free(fl->info);
    free(fl->users);
    free(fl);
}


static void
alert_outbox_add(alert_msg_t *m)
{
    m->next = ob.msgs;
    ob.msgs = m;
    ob.n++;
}


static void
alert_outbox_remove(alert_msg_t *m)
{
    alert_msg_t  **pp;

    for (pp = &ob.msgs; *pp; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            ob.n--;
            return;
        }
    }
}


/* a new session: what is not being sent right now is read back */

void
alert_outbox_reset(void)
{
    alert_msg_t  *m, *next, *keep;

    keep = NULL;

    for (m = ob.msgs; m; m = next) {
        next = m->next;

        if (m->busy) {
            m->next = keep;
            keep = m;
        } else {
            alert_msg_free(m);
            ob.n--;
        }
    }

    ob.msgs = keep;
}


void
alert_outbox_load(const char *account, const char *id, const char *json)
{
    alert_msg_t   *m;
    alert_gone_t  *g;

    for (m = ob.msgs; m; m = m->next) {
        if (strcmp(m->id, id) == 0 && strcmp(m->account, account) == 0) {
            return;
        }
    }

    for (g = ob.gone; g; g = g->next) {
        if (strcmp(g->id, id) == 0 && strcmp(g->account, account) == 0) {
            return;
        }
    }

    m = alert_msg_decode(account, id, json);
    if (m == NULL) {
        log_error("%s: outbox entry %s is unreadable, skipped", account, id);
        return;
    }

    alert_outbox_add(m);
}


/* HDEL of the ids delivered while Redis was away, for one account */

void
alert_outbox_forgotten(const char *account, alert_args_t *args)
{
    alert_gone_t  *g, **pp;

    for (pp = &ob.gone; (g = *pp) != NULL; /* void */ ) {
        if (strcmp(g->account, account) != 0) {
            pp = &g->next;
            continue;
        }

        if (args->n == 0) {
            alert_args_add(args, "HDEL");
            alert_args_addf(args, "devmon:{%s}:alert:outbox", account);
        }

        alert_args_add(args, g->id);
        *pp = g->next;
        free(g);
    }
}


void
alert_outbox_tick(int64_t now)
{
    alert_msg_t  *m;

    for (m = ob.msgs; m; m = m->next) {
        if (alert_send_running() >= ALERT_MAXSENDING) {
            return;
        }

        if (m->busy || m->next_try > now) {
            continue;
        }

        if (m->channel == ALERT_CH_EMAIL && ob.conf->smtp.url[0] == '\0') {
            log_error("%s: alert %s: no \"smtp.url\" configured",
                      m->account, m->id);
            m->next_try = now + (int64_t) (ob.conf->retry.max * 1000);
            continue;
        }

        if (alert_send_start(m) != 0) {
            m->next_try = now + (int64_t) (ob.conf->retry.min * 1000);
        }
    }
}


/* a transfer ended: delete the message, or try it again later */

static void
alert_outbox_done(alert_msg_t *m, const char *err, int permanent)
{
    int      i;
    char     dest[300];
    double   d;
    int64_t  now;

    now = devmon_now_ms();

    /* a webhook URL may carry a secret: logs get its scheme and host */
    alert_msg_dest(m, dest, sizeof(dest));

    if (err == NULL) {
        log_info("%s: alert %s delivered to %s", m->account, m->id, dest);
        alert_outbox_delete(m);
        return;
    }

    m->attempts++;

    if (permanent) {
        log_error("%s: alert %s to %s dropped: %s (retrying cannot help)",
                  m->account, m->id, dest, err);
        alert_outbox_delete(m);
        return;
    }

    if (now - m->created > (int64_t) (ob.conf->retry.give_up * 1000)) {
        log_error("%s: alert %s to %s dropped after %d attempts: %s",
                  m->account, m->id, dest, m->attempts, err);
        alert_outbox_delete(m);
        return;
    }

    d = ob.conf->retry.min;
    for (i = 1; i < m->attempts && d < ob.conf->retry.max; i++) {
        d *= 2;
    }

    if (d > ob.conf->retry.max) {
        d = ob.conf->retry.max;
    }

    /* jitter so a mail server coming back is not hit by everything at once */
    d *= 0.9 + 0.2 * (random() / (double) RAND_MAX);
    m->next_try = now + (int64_t) (d * 1000);

    log_warn("%s: alert %s to %s failed (attempt %d): %s; retry in %.1fs",
             m->account, m->id, dest, m->attempts, err, d);

    alert_outbox_persist(m);
}


/* the attempt count and next try go back to Redis: a restart keeps the
 * backoff instead of hammering a server that is down */

static void
alert_outbox_persist(alert_msg_t *m)
{
    char          *s;
    alert_args_t   args;

    if (!alert_redis_running() || (s = alert_msg_encode(m)) == NULL) {
        return;
    }

    memset(&args, 0, sizeof(args));
    alert_args_add(&args, "HSET");
    alert_args_addf(&args, "devmon:{%s}:alert:outbox", m->account);
    alert_args_add(&args, m->id);
    alert_args_add(&args, s);
    alert_redis_send(NULL, NULL, &args);
    alert_args_free(&args);
    free(s);
}


static void
alert_outbox_delete(alert_msg_t *m)
{
    alert_args_t   args;
    alert_gone_t  *g;

    memset(&args, 0, sizeof(args));
    alert_args_add(&args, "HDEL");
    alert_args_addf(&args, "devmon:{%s}:alert:outbox", m->account);
    alert_args_add(&args, m->id);

    if (!alert_redis_running() || alert_redis_send(NULL, NULL, &args) != 0) {
        g = calloc(1, sizeof(alert_gone_t));
        if (g != NULL) {
            snprintf(g->account, sizeof(g->account), "%s", m->account);
            snprintf(g->id, sizeof(g->id), "%s", m->id);
            g->next = ob.gone;
            ob.gone = g;
        }
    }

    alert_args_free(&args);

    alert_outbox_remove(m);
    alert_msg_free(m);
}


void
alert_outbox_fini(void)
{
    alert_msg_t   *m;
    alert_gone_t  *g;

    while ((m = ob.msgs) != NULL) {
        ob.msgs = m->next;
        alert_msg_free(m);
    }

    while ((g = ob.gone) != NULL) {
        ob.gone = g->next;
        free(g);
    }

    alert_send_fini();

    memset(&ob, 0, sizeof(ob));
}
