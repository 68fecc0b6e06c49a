/* publish: events into Redis via publish.lua; backlog and reconnects */

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <openssl/sha.h>

#include "probed.h"
#include "log.h"
#include "backlog.h"
#include "redis_link.h"
#include "publish.h"
#include "publish_lua.h"


#define PUB_BACKOFF_MIN     0.1
#define PUB_BACKOFF_MAX     5.0
#define PUB_REPLY_TIMEOUT   10.0

/* room for the "t" member publish_stamp() may add: "t":<20 digits>, */
#define PUB_STAMP_LEN       (sizeof("\"t\":,") - 1 + 20)


typedef enum {
    PUB_EVAL = 0,
    PUB_HSET,
    PUB_HDEL
} pub_op_e;


typedef struct {
    backlog_item_t          link;           /* first: items are links */
    int                     op;
    publish_done_pt         cb;
    void                   *data;
    char                   *account;
    char                   *field;
    char                   *json;
    size_t                  jlen;
    int64_t                 taken;          /* 0: no "t" to add */
    char                    mem[];
} pub_item_t;


typedef struct {
    struct event_base      *base;
    publish_conf_t          conf;
    char                   *host;
    char                   *socket;
    char                   *password;
    redis_link_t           *link;
    int                     need_load;
    backlog_t               queue;
    backlog_t               inflight;
    backlog_t               noscript;
    char                    sha[41];
    uint64_t                published;
    unsigned                stopping:1;
    char                    logged[200];    /* last failure logged */
    void                  (*idle)(void *data);
    void                   *idle_data;
} pub_t;


static void publish_on_up(redis_link_t *l, void *data);
static void publish_on_down(redis_link_t *l, const char *why, void *data);
static void publish_pump(void);
static void publish_send(pub_item_t *it);
static void publish_fail_all(const char *err);
static void publish_trim(void);


static pub_t  pub;


int
publish_init(struct event_base *base, const publish_conf_t *pc)
{
    int             i;
    unsigned char   md[SHA_DIGEST_LENGTH];

    memset(&pub, 0, sizeof(pub));

    pub.base = base;

    backlog_init(&pub.queue, pc->backlog ? pc->backlog : SIZE_MAX);
    backlog_init(&pub.inflight, SIZE_MAX);
    backlog_init(&pub.noscript, SIZE_MAX);

    /* EVALSHA needs the digest before the first reply, so it is computed
     * here rather than taken from SCRIPT LOAD */
    SHA1((const unsigned char *) publish_lua, strlen(publish_lua), md);

    for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
        sprintf(pub.sha + 2 * i, "%02x", md[i]);
    }

    publish_reconfigure(pc);

    return pub.link != NULL ? 0 : -1;
}


/* a reload: keep the connection unless where it goes changed */

void
publish_reconfigure(const publish_conf_t *pc)
{
    int                same;
    redis_link_t      *old;
    redis_link_conf_t  lc;

    same = pub.host != NULL
           && strcmp(pub.host, pc->host) == 0
           && strcmp(pub.socket, pc->socket) == 0
           && strcmp(pub.password, pc->password) == 0
           && pub.conf.port == pc->port && pub.conf.db == pc->db;

    free(pub.host);
    free(pub.socket);
    free(pub.password);

    pub.conf = *pc;
    pub.host = strdup(pc->host);
    pub.socket = strdup(pc->socket);
    pub.password = strdup(pc->password);
    pub.conf.host = pub.host;
    pub.conf.socket = pub.socket;
    pub.conf.password = pub.password;

    if (pub.conf.window <= 0) {
        pub.conf.window = 256;
    }

    pub.queue.max = pc->backlog ? pc->backlog : SIZE_MAX;
    publish_trim();

    if (same && pub.link != NULL) {
        return;
    }

    memset(&lc, 0, sizeof(lc));
    lc.name = "redis";
    lc.host = pub.host;
    lc.port = pub.conf.port;
    lc.socket = pub.socket;
    lc.password = pub.password;
    lc.db = pub.conf.db;
    lc.connect_timeout = pub.conf.connect_timeout;
    lc.reply_timeout = PUB_REPLY_TIMEOUT;
    lc.backoff_min = PUB_BACKOFF_MIN;
    lc.backoff_max = PUB_BACKOFF_MAX;
    lc.no_retry = pub.conf.fail_fast;

    /* the lines below say how many results wait: probed's operators and
     * its tests read them */
    lc.quiet = 1;

    /* the old link's down hook puts what was in flight back in the queue */
    old = pub.link;
    pub.link = redis_link_new(pub.base, &lc, publish_on_up, publish_on_down,
                              NULL);

    if (old != NULL) {
        redis_link_drop(old, "configuration changed");
        redis_link_free(old);
    }

    if (pub.link == NULL) {
        log_error("redis: out of memory");
        return;
    }

    redis_link_start(pub.link);
}


static pub_item_t *
publish_item(int op, const char *account, const char *field,
    const char *json, size_t jlen)
{
    size_t       alen, flen;
    pub_item_t  *it;

    alen = strlen(account);
    flen = strlen(field);

    it = malloc(sizeof(pub_item_t) + alen + flen + jlen + PUB_STAMP_LEN
                + 3);
    if (it == NULL) {
        return NULL;
    }

    memset(it, 0, sizeof(pub_item_t));

    it->op = op;
    it->account = it->mem;
    it->field = it->account + alen + 1;
    it->json = it->field + flen + 1;
    it->jlen = jlen;

    memcpy(it->account, account, alen + 1);
    memcpy(it->field, field, flen + 1);
    memcpy(it->json, json, jlen);
    it->json[jlen] = '\0';

    return it;
}


static void
publish_done(pub_item_t *it, const char *id, const char *epoch,
    const char *err)
{
    if (it->cb) {
        it->cb(it->data, id, epoch, err);
    }

    free(it);
}


static void
publish_trim(void)
{
    backlog_item_t  *v;

    while ((v = backlog_victim(&pub.queue)) != NULL) {
        publish_done((pub_item_t *) v, NULL, NULL, "backlog full");
    }
}


int
publish_event(const char *account, const char *field, const char *json,
    size_t len, int64_t taken, int prio, publish_done_pt cb, void *data)
{
    pub_item_t  *it;

    it = publish_item(PUB_EVAL, account, field, json, len);
    if (it == NULL) {
        return -1;
    }

    it->taken = taken;
    it->link.prio = prio ? 1 : 0;
    it->cb = cb;
    it->data = data;

    backlog_push(&pub.queue, &it->link);
    publish_trim();
    publish_pump();

    return 0;
}


/*
 * Adds "t":t as the first member of the JSON object in json (which has
 * room for PUB_STAMP_LEN more bytes); returns the new length.  The one
 * place where an event gets "t": readers take a missing "t" as the time
 * in the event's stream id.
 */

size_t
publish_stamp(char *json, size_t len, int64_t t)
{
    int   n;
    char  member[PUB_STAMP_LEN + 1];

    if (len < 2 || json[0] != '{') {
        return len;
    }

    n = snprintf(member, sizeof(member), "\"t\":%lld%s", (long long) t,
                 json[1] == '}' ? "" : ",");

    memmove(json + 1 + n, json + 1, len);    /* the NUL too */
    memcpy(json + 1, member, n);

    return len + n;
}


/* the device catalogue: json NULL deletes the entry */

int
publish_device(const char *account, const char *device, const char *json)
{
    pub_item_t  *it;

    it = publish_item(json ? PUB_HSET : PUB_HDEL, account, device,
                      json ? json : "", json ? strlen(json) : 0);
    if (it == NULL) {
        return -1;
    }

    it->link.prio = 1;

    backlog_push(&pub.queue, &it->link);
    publish_trim();
    publish_pump();

    return 0;
}


void
publish_set_idle(void (*idle)(void *data), void *data)
{
    pub.idle = idle;
    pub.idle_data = data;
}


size_t
publish_pending(void)
{
    return pub.queue.n + pub.inflight.n + pub.noscript.n;
}


int
publish_connected(void)
{
    return pub.link != NULL && redis_link_is_up(pub.link);
}


void
publish_stats(uint64_t *published, uint64_t *dropped)
{
    *published = pub.published;
    *dropped = pub.queue.dropped + pub.queue.dropped_prio;
}


static void
publish_on_load(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply  *reply;

    reply = r;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        log_error("redis: SCRIPT LOAD failed: %s", reply->str);
        redis_link_drop(pub.link, "SCRIPT LOAD failed");
    }
}


static void
publish_on_up(redis_link_t *l, void *data)
{
    /* pipelined before the queue: a flushed script cache costs nothing */
    redis_link_commandf(l, publish_on_load, NULL, "SCRIPT LOAD %s",
                        publish_lua);

    pub.logged[0] = '\0';

    log_info("redis: connected to %s%s%d, %zu queued", pub.socket[0]
             ? pub.socket : pub.host, pub.socket[0] ? "" : ":",
             pub.socket[0] ? 0 : pub.conf.port, publish_pending());

    publish_pump();
}


/*
 * The connection is gone (or never came): everything in flight goes back
 * to the head of the queue in its order, so nothing is lost and order is
 * kept; a command Redis ran whose reply was lost is sent twice.
 */

static void
publish_on_down(redis_link_t *l, const char *why, void *data)
{
    pub.need_load = 0;

    backlog_splice_head(&pub.queue, &pub.noscript);
    backlog_splice_head(&pub.queue, &pub.inflight);
    publish_trim();

    /* once per cause: a wrong password is not worth a line a second */
    if (!pub.conf.fail_fast && !pub.stopping
        && strcmp(pub.logged, why) != 0)
    {
        log_error("redis: %s: %s; %zu results queued, retrying",
                  pub.socket[0] ? pub.socket : pub.host, why,
                  publish_pending());
        snprintf(pub.logged, sizeof(pub.logged), "%s", why);
    }

    if (pub.conf.fail_fast && !pub.stopping) {
        publish_fail_all(why);
    }
}


static void
publish_fail_all(const char *err)
{
    backlog_item_t  *it;

    while ((it = backlog_pop(&pub.queue)) != NULL) {
        publish_done((pub_item_t *) it, NULL, NULL, err);
    }

    if (pub.idle) {
        pub.idle(pub.idle_data);
    }
}


static void
publish_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    pub_item_t      *it;
    redisReply      *reply;
    backlog_item_t  *head;

    reply = r;
    it = privdata;

    if (reply == NULL) {
        return;
    }

    /* replies come in the order the commands went out */
    head = backlog_pop(&pub.inflight);
    if (head != &it->link) {
        if (head != NULL) {
            backlog_push_head(&pub.inflight, head);
        }

        log_error("redis: reply out of order");
        redis_link_drop(pub.link, "protocol error");
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR
        && strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        /* the script cache was flushed: load it again and resend these in
         * order once everything sent before them has answered */
        backlog_push(&pub.noscript, &it->link);
        pub.need_load = 1;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        log_error("redis: publish to \"%s\" failed: %s", it->account,
                  reply->str);
        publish_done(it, NULL, NULL, reply->str);

    } else if (it->op == PUB_EVAL) {
        pub.published++;

        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
            publish_done(it, reply->element[0]->str,
                         reply->element[1]->str, NULL);
        } else {
            publish_done(it, "", "", NULL);
        }

    } else {
        publish_done(it, NULL, NULL, NULL);
    }

    if (pub.need_load && pub.inflight.n == 0) {
        redis_link_commandf(pub.link, publish_on_load, NULL,
                            "SCRIPT LOAD %s", publish_lua);
        backlog_splice_head(&pub.queue, &pub.noscript);
        pub.need_load = 0;
    }

    publish_pump();

    if (publish_pending() == 0 && pub.idle) {
        pub.idle(pub.idle_data);
    }
}


static void
publish_pump(void)
{
    backlog_item_t  *it;

    while (publish_connected() && !pub.need_load
           && pub.inflight.n < (size_t) pub.conf.window)
    {
        it = backlog_pop(&pub.queue);
        if (it == NULL) {
            break;
        }

        backlog_push(&pub.inflight, it);
        publish_send((pub_item_t *) it);
    }
}


static void
publish_send(pub_item_t *it)
{
    int          i, argc;
    char         keys[4][200], maxlen[16];
    const char  *argv[10];
    size_t       argvlen[10];

    snprintf(keys[0], sizeof(keys[0]), "devmon:{%s}:ev", it->account);
    snprintf(keys[1], sizeof(keys[1]), "devmon:{%s}:state", it->account);
    snprintf(keys[2], sizeof(keys[2]), "devmon:{%s}:live", it->account);
    snprintf(keys[3], sizeof(keys[3]), "devmon:{%s}:epoch", it->account);

    if (it->op == PUB_EVAL) {
        snprintf(maxlen, sizeof(maxlen), "%d", pub.conf.maxlen);

        /* waited in the backlog: its stream id no longer tells its time */
        if (it->taken > 0 && devmon_now_ms() - it->taken >= PUBLISH_LATE_MS) {
            it->jlen = publish_stamp(it->json, it->jlen, it->taken);
            it->taken = 0;
        }

        argv[0] = "EVALSHA";
        argv[1] = pub.sha;
        argv[2] = "4";
        argv[3] = keys[0];
        argv[4] = keys[1];
        argv[5] = keys[2];
        argv[6] = keys[3];
        argv[7] = it->field;
        argv[8] = it->json;
        argv[9] = maxlen;
        argc = 10;

    } else {
        snprintf(keys[0], sizeof(keys[0]), "devmon:{%s}:devices",
                 it->account);

        argv[0] = it->op == PUB_HSET ? "HSET" : "HDEL";
        argv[1] = keys[0];
        argv[2] = it->field;
        argv[3] = it->json;
        argc = it->op == PUB_HSET ? 4 : 3;
    }

    for (i = 0; i < argc; i++) {
        argvlen[i] = argv[i] == it->json ? it->jlen : strlen(argv[i]);
    }

    if (redis_link_command(pub.link, publish_on_reply, it, argc, argv,
                           argvlen)
        != 0)
    {
        /* the item is in flight already: the drop puts it back */
        redis_link_drop(pub.link, "cannot send a command");
    }
}


void
publish_fini(void)
{
    backlog_item_t  *it;

    pub.stopping = 1;

    if (pub.link != NULL) {
        redis_link_free(pub.link);
        pub.link = NULL;
    }

    backlog_splice_head(&pub.queue, &pub.noscript);
    backlog_splice_head(&pub.queue, &pub.inflight);

    while ((it = backlog_pop(&pub.queue)) != NULL) {
        publish_done((pub_item_t *) it, NULL, NULL, "shutting down");
    }

    free(pub.host);
    free(pub.socket);
    free(pub.password);
    memset(&pub, 0, sizeof(pub));
}
