/* redis_link: one hiredis async link with setup, backoff and liveness */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include <hiredis/adapters/libevent.h>

#include "log.h"
#include "redis_link.h"


typedef enum {
    RL_DOWN = 0,
    RL_CONNECTING,
    RL_SETUP,
    RL_UP
} redis_link_state_e;


struct redis_link_s {
    struct event_base      *base;
    redis_link_conf_t       conf;
    char                   *host;
    char                   *socket;
    char                   *password;
    char                   *name;
    char                    where[300];
    redis_link_up_pt        up;
    redis_link_down_pt      down;
    void                   *data;
    redisAsyncContext      *ac;
    int                     state;
    unsigned                gen;            /* replies of old links: NULL */
    int                     setup_left;
    double                  backoff;
    size_t                  inflight;
    double                  progress;       /* last reply, monotonic s */
    struct event           *retry_ev;
    struct event           *timeout_ev;     /* connect and setup */
    struct event           *reply_ev;       /* oldest command unanswered */
    char                    logged[200];    /* last failure logged */
    unsigned                lasting:1;      /* retrying will not help soon */
    unsigned                stopping:1;
};


/* every command carries this, so a reply can be matched to its link */
typedef struct {
    redis_link_t           *link;
    unsigned                gen;
    redisCallbackFn        *cb;
    void                   *privdata;
} redis_link_cmd_t;


static void redis_link_connect(redis_link_t *l);
static void redis_link_setup(redis_link_t *l);
static void redis_link_setup_send(redis_link_t *l, char *what, int argc,
    const char **argv);
static void redis_link_fail(redis_link_t *l, const char *why, int lasting);
static void redis_link_on_connect(const redisAsyncContext *ac, int status);
static void redis_link_on_disconnect(const redisAsyncContext *ac,
    int status);
static redis_link_cmd_t *redis_link_cmd_new(redis_link_t *l,
    redisCallbackFn *cb, void *privdata);
static void redis_link_sent(redis_link_t *l);
static void redis_link_on_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void redis_link_on_setup(redisAsyncContext *ac, void *r,
    void *privdata);
static void redis_link_on_retry(evutil_socket_t fd, short what, void *arg);
static void redis_link_on_timeout(evutil_socket_t fd, short what,
    void *arg);
static void redis_link_on_reply_timer(evutil_socket_t fd, short what,
    void *arg);
static void redis_link_timer(struct event *ev, double s);
static double redis_link_now(void);


redis_link_t *
redis_link_new(struct event_base *base, const redis_link_conf_t *conf,
    redis_link_up_pt up, redis_link_down_pt down, void *data)
{
    redis_link_t  *l;

    l = calloc(1, sizeof(redis_link_t));
    if (l == NULL) {
        return NULL;
    }

    l->base = base;
    l->conf = *conf;
    l->up = up;
    l->down = down;
    l->data = data;

    l->host = strdup(conf->host ? conf->host : "127.0.0.1");
    l->socket = strdup(conf->socket ? conf->socket : "");
    l->password = strdup(conf->password ? conf->password : "");
    l->name = strdup(conf->name ? conf->name : "redis");

    l->retry_ev = evtimer_new(base, redis_link_on_retry, l);
    l->timeout_ev = evtimer_new(base, redis_link_on_timeout, l);
    l->reply_ev = evtimer_new(base, redis_link_on_reply_timer, l);

    if (l->host == NULL || l->socket == NULL || l->password == NULL
        || l->name == NULL || l->retry_ev == NULL || l->timeout_ev == NULL
        || l->reply_ev == NULL)
    {
        redis_link_free(l);
        return NULL;
    }

    l->conf.host = l->host;
    l->conf.socket = l->socket;
    l->conf.password = l->password;
    l->conf.name = l->name;

    if (l->conf.backoff_min <= 0) {
        l->conf.backoff_min = 0.1;
    }

    if (l->conf.backoff_max < l->conf.backoff_min) {
        l->conf.backoff_max = 5.0;
    }

    if (l->socket[0]) {
        snprintf(l->where, sizeof(l->where), "%s", l->socket);
    } else {
        snprintf(l->where, sizeof(l->where), "%s%s%s:%d",
                 strchr(l->host, ':') ? "[" : "", l->host,
                 strchr(l->host, ':') ? "]" : "", l->conf.port);
    }

    return l;
}


/* hiredis 0.14 resolves names with a blocking getaddrinfo(): refused */

int
redis_link_host_ok(const char *host)
{
    unsigned char  buf[16];

    return inet_pton(AF_INET, host, buf) == 1
           || inet_pton(AF_INET6, host, buf) == 1;
}


void
redis_link_start(redis_link_t *l)
{
    if (l->state == RL_DOWN && !evtimer_pending(l->retry_ev, NULL)) {
        redis_link_connect(l);
    }
}


int
redis_link_is_up(const redis_link_t *l)
{
    return l->state == RL_UP;
}


const char *
redis_link_where(const redis_link_t *l)
{
    return l->where;
}


static void
redis_link_connect(redis_link_t *l)
{
    redisAsyncContext  *ac;

    if (l->ac != NULL || l->stopping) {
        return;
    }

    l->lasting = 0;

    if (l->socket[0]) {
        ac = redisAsyncConnectUnix(l->socket);

    } else if (!redis_link_host_ok(l->host)) {
        redis_link_fail(l, "host must be a numeric address", 1);
        return;

    } else {
        ac = redisAsyncConnect(l->host, l->conf.port);
    }

    if (ac == NULL) {
        redis_link_fail(l, "out of memory", 0);
        return;
    }

    if (ac->err) {
        /* the context never reached the loop: ours to free */
        redis_link_fail(l, ac->errstr, 0);
        redisAsyncFree(ac);
        return;
    }

    if (!l->socket[0]) {
        /* a peer that vanished without a FIN is noticed by the kernel */
        redisEnableKeepAlive(&ac->c);
    }

    ac->data = l;
    l->ac = ac;
    l->state = RL_CONNECTING;
    l->gen++;
    l->inflight = 0;

    redisLibeventAttach(ac, l->base);
    redisAsyncSetConnectCallback(ac, redis_link_on_connect);
    redisAsyncSetDisconnectCallback(ac, redis_link_on_disconnect);

    redis_link_timer(l->timeout_ev, l->conf.connect_timeout);
}


static void
redis_link_on_connect(const redisAsyncContext *ac, int status)
{
    redis_link_t  *l;

    l = ac->data;

    if (l == NULL || ac != l->ac) {
        return;
    }

    if (status != REDIS_OK) {
        /* hiredis frees a context whose connect failed */
        l->ac = NULL;
        redis_link_fail(l, ac->errstr, 0);
        return;
    }

    l->state = RL_SETUP;
    redis_link_setup(l);
}


/*
 * AUTH and SELECT go first and the link counts as up only once the last of
 * them answered OK: nothing of the user's is sent on a link that would
 * refuse it or write into the wrong database.  Without either, a PING
 * proves the peer speaks and does not want a password.
 */

static void
redis_link_setup(redis_link_t *l)
{
    char          db[16];
    const char   *argv[2];
    static char   auth[] = "AUTH", sel[] = "SELECT", ping[] = "PING";

    l->setup_left = 0;

    if (l->password[0]) {
        argv[0] = "AUTH";
        argv[1] = l->password;
        redis_link_setup_send(l, auth, 2, argv);
    }

    if (l->conf.db) {
        snprintf(db, sizeof(db), "%d", l->conf.db);
        argv[0] = "SELECT";
        argv[1] = db;
        redis_link_setup_send(l, sel, 2, argv);
    }

    if (l->setup_left == 0) {
        argv[0] = "PING";
        redis_link_setup_send(l, ping, 1, argv);
    }

    if (l->setup_left == 0) {
        redis_link_fail(l, "out of memory", 0);
        return;
    }

    l->progress = redis_link_now();
}


static void
redis_link_on_setup(redisAsyncContext *ac, void *r, void *privdata)
{
    char           why[160];
    redisReply    *reply;
    redis_link_t  *l;

    reply = r;
    l = ac->data;

    if (reply == NULL || l == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        /* a wrong password or database stays wrong: no quick retries */
        snprintf(why, sizeof(why), "%s failed: %s", (char *) privdata,
                 reply->str);
        redis_link_fail(l, why, 1);
        return;
    }

    if (--l->setup_left > 0) {
        return;
    }

    evtimer_del(l->timeout_ev);

    l->state = RL_UP;
    l->backoff = 0;
    l->logged[0] = '\0';

    if (!l->conf.quiet) {
        log_info("%s: connected to %s", l->name, l->where);
    }

    if (l->up) {
        l->up(l, l->data);
    }
}


/* a setup command; one lost to memory leaves setup_left short, and none
 * at all fails the link */

static void
redis_link_setup_send(redis_link_t *l, char *what, int argc,
    const char **argv)
{
    redis_link_cmd_t  *c;

    c = redis_link_cmd_new(l, redis_link_on_setup, what);
    if (c == NULL) {
        return;
    }

    redisAsyncCommandArgv(l->ac, redis_link_on_reply, c, argc, argv, NULL);
    l->inflight++;
    l->setup_left++;
}


static void
redis_link_on_disconnect(const redisAsyncContext *ac, int status)
{
    redis_link_t  *l;

    l = ac->data;

    if (l == NULL || ac != l->ac) {
        return;
    }

    /* hiredis frees the context after this callback */
    l->ac = NULL;
    redis_link_fail(l, status == REDIS_OK ? "connection closed"
                                          : ac->errstr, 0);
}


int
redis_link_command(redis_link_t *l, redisCallbackFn *cb, void *privdata,
    int argc, const char **argv, const size_t *argvlen)
{
    redis_link_cmd_t  *c;

    if (l->state != RL_UP) {
        return -1;
    }

    c = redis_link_cmd_new(l, cb, privdata);
    if (c == NULL) {
        return -1;
    }

    if (redisAsyncCommandArgv(l->ac, redis_link_on_reply, c, argc, argv,
                              argvlen)
        != REDIS_OK)
    {
        free(c);
        return -1;
    }

    redis_link_sent(l);

    return 0;
}


int
redis_link_commandf(redis_link_t *l, redisCallbackFn *cb, void *privdata,
    const char *fmt, ...)
{
    int                rc;
    va_list            ap;
    redis_link_cmd_t  *c;

    if (l->state != RL_UP) {
        return -1;
    }

    c = redis_link_cmd_new(l, cb, privdata);
    if (c == NULL) {
        return -1;
    }

    va_start(ap, fmt);
    rc = redisvAsyncCommand(l->ac, redis_link_on_reply, c, fmt, ap);
    va_end(ap);

    if (rc != REDIS_OK) {
        free(c);
        return -1;
    }

    redis_link_sent(l);

    return 0;
}


/* the record that matches a reply to this link and its generation */

static redis_link_cmd_t *
redis_link_cmd_new(redis_link_t *l, redisCallbackFn *cb, void *privdata)
{
    redis_link_cmd_t  *c;

    c = malloc(sizeof(redis_link_cmd_t));
    if (c == NULL) {
        return NULL;
    }

    c->link = l;
    c->gen = l->gen;
    c->cb = cb;
    c->privdata = privdata;

    return c;
}


/* a command went out: liveness counts from the first one unanswered */

static void
redis_link_sent(redis_link_t *l)
{
    if (l->inflight++ == 0) {
        l->progress = redis_link_now();
    }

    if (l->conf.reply_timeout > 0 && !evtimer_pending(l->reply_ev, NULL)) {
        redis_link_timer(l->reply_ev, l->conf.reply_timeout);
    }
}


/* a reply of an earlier link, or the NULL of a teardown, reaches the user
 * as NULL: the user never has to compare contexts */

static void
redis_link_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redis_link_t      *l;
    redis_link_cmd_t  *c;

    c = privdata;
    l = c->link;

    if (c->gen != l->gen || ac != l->ac) {
        r = NULL;
    }

    if (r != NULL) {
        l->inflight--;
        l->progress = redis_link_now();
    }

    if (c->cb) {
        c->cb(ac, r, c->privdata);
    }

    free(c);
}


/*
 * The oldest command has had no reply for reply_timeout seconds: the peer
 * is gone without a word (a half-open TCP connection) or hangs.  Checked
 * against the time of the last reply, so one timer serves every command.
 */

static void
redis_link_on_reply_timer(evutil_socket_t fd, short what, void *arg)
{
    char           why[64];
    double         idle;
    redis_link_t  *l;

    l = arg;

    if (l->ac == NULL || l->inflight == 0) {
        return;
    }

    idle = redis_link_now() - l->progress;

    if (idle + 0.001 < l->conf.reply_timeout) {
        redis_link_timer(l->reply_ev, l->conf.reply_timeout - idle);
        return;
    }

    snprintf(why, sizeof(why), "no reply for %.0f s", idle);
    redis_link_fail(l, why, 0);
}


static void
redis_link_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    redis_link_t  *l;

    l = arg;

    redis_link_fail(l, l->state == RL_SETUP ? "setup timeout"
                                            : "connect timeout", 0);
}


static void
redis_link_on_retry(evutil_socket_t fd, short what, void *arg)
{
    redis_link_connect(arg);
}


void
redis_link_drop(redis_link_t *l, const char *why)
{
    if (l->state == RL_DOWN && l->ac == NULL) {
        return;
    }

    redis_link_fail(l, why ? why : "dropped", 0);
}


/*
 * The one way down.  A context freed inside one of its reply callbacks is
 * only marked by hiredis and freed once the callback returns; the pending
 * callbacks then see NULL replies (the generation moved on).
 */

static void
redis_link_fail(redis_link_t *l, const char *why, int lasting)
{
    char                msg[200];
    double              d;
    redisAsyncContext  *ac;

    evtimer_del(l->timeout_ev);
    evtimer_del(l->reply_ev);

    ac = l->ac;
    l->ac = NULL;
    l->state = RL_DOWN;
    l->gen++;
    l->inflight = 0;
    l->lasting |= lasting;

    snprintf(msg, sizeof(msg), "%s", why);

    if (ac != NULL) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }

    if (!l->stopping && !l->conf.no_retry) {
        if (l->lasting) {
            l->backoff = l->conf.backoff_max;
        } else {
            l->backoff = l->backoff == 0 ? l->conf.backoff_min
                                         : l->backoff * 2;
        }

        if (l->backoff > l->conf.backoff_max) {
            l->backoff = l->conf.backoff_max;
        }

        /* jitter so that many daemons do not come back in step */
        d = l->backoff * (0.8 + 0.4 * (random() / (double) RAND_MAX));
        redis_link_timer(l->retry_ev, d);
    }

    /* once per cause: a wrong password is not worth a line a second */
    if (!l->conf.quiet && strcmp(l->logged, msg) != 0) {
        log_error("%s: %s: %s%s", l->name, l->where, msg,
                  l->conf.no_retry ? "" : l->lasting
                  ? "; fix it, retrying slowly" : "; retrying");
        snprintf(l->logged, sizeof(l->logged), "%s", msg);
    }

    if (l->down) {
        l->down(l, msg, l->data);
    }
}


void
redis_link_free(redis_link_t *l)
{
    redisAsyncContext  *ac;

    if (l == NULL) {
        return;
    }

    l->stopping = 1;

    ac = l->ac;
    l->ac = NULL;
    l->state = RL_DOWN;
    l->gen++;

    if (ac != NULL) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }

    if (l->retry_ev) {
        event_free(l->retry_ev);
    }

    if (l->timeout_ev) {
        event_free(l->timeout_ev);
    }

    if (l->reply_ev) {
        event_free(l->reply_ev);
    }

    free(l->host);
    free(l->socket);
    free(l->password);
    free(l->name);
    free(l);
}


static void
redis_link_timer(struct event *ev, double s)
{
    struct timeval  tv;

    if (s < 0) {
        s = 0;
    }

    tv.tv_sec = (long) s;
    tv.tv_usec = (long) ((s - tv.tv_sec) * 1e6);

    evtimer_add(ev, &tv);
}


static double
redis_link_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}
