/* publish: events into Redis via publish.lua; backlog and reconnects */

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <openssl/sha.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "log.h"
#include "backlog.h"
#include "publish.h"
#include "publish_lua.h"


#define PUB_BACKOFF_MIN     0.1
#define PUB_BACKOFF_MAX     5.0


typedef enum {
    PUB_EVAL = 0,
    PUB_HSET,
    PUB_HDEL
} pub_op_e;


typedef enum {
    PUB_DOWN = 0,
    PUB_CONNECTING,
    PUB_UP
} pub_conn_e;


typedef struct {
    backlog_item_t          link;           /* first: items are links */
    int                     op;
    publish_done_pt         cb;
    void                   *data;
    char                   *account;
    char                   *field;
    char                   *json;
    size_t                  jlen;
    char                    mem[];
} pub_item_t;


typedef struct {
    struct event_base      *base;
    publish_conf_t          conf;
    char                   *host;
    char                   *socket;
    char                   *password;
    redisAsyncContext      *ac;
    int                     conn;
    int                     ever_connected;
    int                     need_load;
    double                  backoff;
    struct event           *retry_ev;
    struct event           *connect_ev;
    backlog_t               queue;
    backlog_t               inflight;
    backlog_t               noscript;
    char                    sha[41];
    uint64_t                published;
    unsigned                stopping:1;
    unsigned                logged_down:1;
    void                  (*idle)(void *data);
    void                   *idle_data;
} pub_t;


static void publish_connect(void);
static void publish_lost(const char *why);
static void publish_pump(void);
static void publish_send(pub_item_t *it);
static void publish_fail_all(const char *err);
static void publish_trim(void);
static void publish_retry_handler(evutil_socket_t fd, short what, void *arg);
static void publish_timeout_handler(evutil_socket_t fd, short what,
    void *arg);


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

    pub.retry_ev = evtimer_new(base, publish_retry_handler, NULL);
    pub.connect_ev = evtimer_new(base, publish_timeout_handler, NULL);
    if (pub.retry_ev == NULL || pub.connect_ev == NULL) {
        return -1;
    }

    publish_reconfigure(pc);

    return 0;
}


/* a reload: keep the connection unless where it goes changed */

void
publish_reconfigure(const publish_conf_t *pc)
{
    int  same;

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

    if (same) {
        return;
    }

    if (pub.ac != NULL) {
        publish_lost("configuration changed");
        return;
    }

    if (pub.conn == PUB_DOWN && !evtimer_pending(pub.retry_ev, NULL)) {
        publish_connect();
    }
}


static pub_item_t *
publish_item(int op, const char *account, const char *field,
    const char *json, size_t jlen)
{
    size_t       alen, flen;
    pub_item_t  *it;

    alen = strlen(account);
    flen = strlen(field);

    it = malloc(sizeof(pub_item_t) + alen + flen + jlen + 3);
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
    size_t len, int prio, publish_done_pt cb, void *data)
{
    pub_item_t  *it;

    it = publish_item(PUB_EVAL, account, field, json, len);
    if (it == NULL) {
        return -1;
    }

    it->link.prio = prio ? 1 : 0;
    it->cb = cb;
    it->data = data;

    backlog_push(&pub.queue, &it->link);
    publish_trim();
    publish_pump();

    return 0;
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
    return pub.conn == PUB_UP;
}


void
publish_stats(uint64_t *published, uint64_t *dropped)
{
    *published = pub.published;
    *dropped = pub.queue.dropped + pub.queue.dropped_prio;
}


static void
publish_schedule_retry(void)
{
    double          d;
    struct timeval  tv;

    if (pub.stopping) {
        return;
    }

    pub.backoff = pub.backoff == 0 ? PUB_BACKOFF_MIN : pub.backoff * 2;
    if (pub.backoff > PUB_BACKOFF_MAX) {
        pub.backoff = PUB_BACKOFF_MAX;
    }

    /* jitter so that many daemons do not come back in step */
    d = pub.backoff * (0.8 + 0.4 * (random() / (double) RAND_MAX));

    tv.tv_sec = (long) d;
    tv.tv_usec = (long) ((d - tv.tv_sec) * 1e6);

    evtimer_add(pub.retry_ev, &tv);
}


static void
publish_on_setup(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply  *reply;

    reply = r;

    if (reply == NULL || ac != pub.ac) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        log_error("redis: %s failed: %s", (char *) privdata, reply->str);
        publish_lost("setup failed");
    }
}


static void
publish_on_connect(const redisAsyncContext *ac, int status)
{
    char         db[16];
    const char  *argv[2];

    if (ac != pub.ac) {
        return;
    }

    if (status != REDIS_OK) {
        /* hiredis frees a context whose connect failed */
        pub.ac = NULL;
        publish_lost(ac->errstr);
        return;
    }

    evtimer_del(pub.connect_ev);

    pub.conn = PUB_UP;
    pub.backoff = 0;
    pub.ever_connected = 1;
    pub.logged_down = 0;

    /* pipelined before everything else: Redis runs them first */
    if (pub.password[0]) {
        argv[0] = "AUTH";
        argv[1] = pub.password;
        redisAsyncCommandArgv(pub.ac, publish_on_setup, (void *) "AUTH", 2,
                              argv, NULL);
    }

    if (pub.conf.db) {
        snprintf(db, sizeof(db), "%d", pub.conf.db);
        argv[0] = "SELECT";
        argv[1] = db;
        redisAsyncCommandArgv(pub.ac, publish_on_setup, (void *) "SELECT", 2,
                              argv, NULL);
    }

    redisAsyncCommand(pub.ac, publish_on_setup, (void *) "SCRIPT LOAD",
                      "SCRIPT LOAD %s", publish_lua);

    log_info("redis: connected to %s%s%d, %zu queued", pub.socket[0]
             ? pub.socket : pub.host, pub.socket[0] ? "" : ":",
             pub.socket[0] ? 0 : pub.conf.port, publish_pending());

    publish_pump();
}


static void
publish_on_disconnect(const redisAsyncContext *ac, int status)
{
    if (ac != pub.ac) {
        return;
    }

    /* hiredis frees the context after this callback */
    pub.ac = NULL;
    publish_lost(status == REDIS_OK ? "closed" : ac->errstr);
}


static void
publish_retry_handler(evutil_socket_t fd, short what, void *arg)
{
    publish_connect();
}


static void
publish_timeout_handler(evutil_socket_t fd, short what, void *arg)
{
    publish_lost("connect timeout");
}


static void
publish_connect(void)
{
    struct timeval  tv;

    if (pub.ac != NULL || pub.stopping) {
        return;
    }

    if (pub.socket[0]) {
        pub.ac = redisAsyncConnectUnix(pub.socket);
    } else {
        pub.ac = redisAsyncConnect(pub.host, pub.conf.port);
    }

    if (pub.ac == NULL) {
        publish_lost("out of memory");
        return;
    }

    if (pub.ac->err) {
        publish_lost(pub.ac->errstr);
        return;
    }

    pub.conn = PUB_CONNECTING;

    redisLibeventAttach(pub.ac, pub.base);
    redisAsyncSetConnectCallback(pub.ac, publish_on_connect);
    redisAsyncSetDisconnectCallback(pub.ac, publish_on_disconnect);

    tv.tv_sec = (long) pub.conf.connect_timeout;
    tv.tv_usec = (long) ((pub.conf.connect_timeout - tv.tv_sec) * 1e6);
    evtimer_add(pub.connect_ev, &tv);
}


/*
 * The connection is gone (or never came): everything in flight goes back
 * to the head of the queue in its order, so nothing is lost and order is
 * kept; a command Redis ran whose reply was lost is sent twice.
 */

static void
publish_lost(const char *why)
{
    redisAsyncContext  *ac;

    if (why == NULL) {
        why = "connect timeout";
    }

    evtimer_del(pub.connect_ev);

    ac = pub.ac;
    pub.ac = NULL;
    pub.conn = PUB_DOWN;
    pub.need_load = 0;

    backlog_splice_head(&pub.queue, &pub.noscript);
    backlog_splice_head(&pub.queue, &pub.inflight);
    publish_trim();

    if (!pub.logged_down && !pub.conf.fail_fast) {
        log_error("redis: %s: %s; %zu results queued, retrying",
                  pub.socket[0] ? pub.socket : pub.host, why,
                  publish_pending());
        pub.logged_down = 1;
    }

    if (ac != NULL) {
        /* callbacks see ac != pub.ac and ignore the teardown */
        if (ac->c.flags & REDIS_IN_CALLBACK) {
            redisAsyncDisconnect(ac);
        } else {
            redisAsyncFree(ac);
        }
    }

    if (pub.conf.fail_fast) {
        publish_fail_all(why);
        return;
    }

    publish_schedule_retry();
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

    if (reply == NULL || ac != pub.ac) {
        return;
    }

    /* replies come in the order the commands went out */
    head = backlog_pop(&pub.inflight);
    if (head != &it->link) {
        log_error("redis: reply out of order");
        publish_lost("protocol error");
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
        redisAsyncCommand(pub.ac, publish_on_setup, (void *) "SCRIPT LOAD",
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

    while (pub.conn == PUB_UP && !pub.need_load
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

    redisAsyncCommandArgv(pub.ac, publish_on_reply, it, argc, argv, argvlen);
}


void
publish_fini(void)
{
    backlog_item_t     *it;
    redisAsyncContext  *ac;

    pub.stopping = 1;

    if (pub.ac != NULL) {
        ac = pub.ac;
        pub.ac = NULL;
        redisAsyncFree(ac);
    }

    backlog_splice_head(&pub.queue, &pub.noscript);
    backlog_splice_head(&pub.queue, &pub.inflight);

    while ((it = backlog_pop(&pub.queue)) != NULL) {
        publish_done((pub_item_t *) it, NULL, NULL, "shutting down");
    }

    if (pub.retry_ev) {
        event_free(pub.retry_ev);
        event_free(pub.connect_ev);
    }

    free(pub.host);
    free(pub.socket);
    free(pub.password);
    memset(&pub, 0, sizeof(pub));
}
