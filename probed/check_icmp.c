/* check_icmp: ICMP echo through liboping, in batches on worker threads */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <oping.h>

#include <event2/event.h>

#include "log.h"
#include "check.h"


#define ICMP_ADDRLEN        256
#define ICMP_IDENTS         65536
#define ICMP_QUARANTINE     (30 * 1000000LL)    /* us an ident rests */
#define ICMP_ADD_TRIES      64
#define ICMP_FD_SPARE       32
#define ICMP_SOLO_MAX       64          /* addresses pinged alone */
#define ICMP_PROBE_TIMEOUT  0.001       /* s: a send test, not a ping */
#define ICMP_LOG_EVERY      (60 * 1000000LL)


/* one distinct address in a batch; checks of the same address share it */
typedef struct {
    char                addr[ICMP_ADDRLEN];
    int                 received;
    double              sum;
    double              prev;
    double              jsum;
    int                 jn;
    int                 ident;
    double              lat;            /* this round, < 0: no reply */
    const char         *er;
} icmp_host_t;


typedef struct {
    probe_t            *probe;
    int                 host;
} icmp_item_t;


typedef struct icmp_batch_s  icmp_batch_t;

struct icmp_batch_s {
    icmp_batch_t       *next;
    int                 n;
    int                 nhosts;
    int                 count;
    double              timeout;
    const char         *er;
    icmp_item_t        *items;
    icmp_host_t        *hosts;
};


static void *check_icmp_worker(void *arg);
static void check_icmp_ping(icmp_batch_t *b);
static void check_icmp_flush(void);
static void check_icmp_queue(icmp_batch_t *b);
static int check_icmp_solo(const char *addr, int set);
static int check_icmp_stopping(void);
static const char *check_icmp_add(pingobj_t *obj, icmp_host_t *h,
    int64_t now);
static void check_icmp_send_failed(icmp_batch_t *b, pingobj_t *obj,
    int64_t now);
static void check_icmp_on_flush(evutil_socket_t fd, short what, void *arg);
static void check_icmp_on_done(evutil_socket_t fd, short what, void *arg);
static void check_icmp_finish(icmp_batch_t *b);
static void check_icmp_result(probe_t *p, icmp_batch_t *b, icmp_host_t *h);


static struct event_base  *icmp_base;
static struct event       *icmp_flush_ev;
static struct event       *icmp_done_ev;
static int                 icmp_pipe[2] = { -1, -1 };
static int                 icmp_nocap;
static int                 icmp_batch_max;
static double              icmp_batch_wait;
static icmp_batch_t       *icmp_fill;
static int                 icmp_nthreads;
static pthread_t          *icmp_threads;

/* shared with the workers, under icmp_lock */
static pthread_mutex_t     icmp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t      icmp_cond = PTHREAD_COND_INITIALIZER;
static icmp_batch_t       *icmp_jobs;
static icmp_batch_t      **icmp_jobs_tail = &icmp_jobs;
static icmp_batch_t       *icmp_done;
static icmp_batch_t      **icmp_done_tail = &icmp_done;
static int                 icmp_stop;       /* also read atomically */
static unsigned char       icmp_ident_used[ICMP_IDENTS];
static int64_t             icmp_ident_rest[ICMP_IDENTS];
static char                icmp_solo[ICMP_SOLO_MAX][ICMP_ADDRLEN];
static int                 icmp_nsolo;
static int                 icmp_solo_next;
static int64_t             icmp_log_next;
static int                 icmp_log_quiet;


int
check_icmp_init(struct event_base *base, conf_t *conf)
{
    int  i, fd;

    icmp_base = base;

    /* liboping opens raw sockets: without CAP_NET_RAW every ICMP check
     * could only fail, so say it once and clearly */
    fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);

    if (fd == -1 && (errno == EPERM || errno == EACCES)) {
        icmp_nocap = 1;
        log_error("ICMP checks need CAP_NET_RAW to open raw sockets: run "
                  "probed as root, or grant it (setcap cap_net_raw+ep "
                  "probed, or AmbientCapabilities=CAP_NET_RAW in the "
                  "systemd unit); ICMP results stay \"unknown\" with "
                  "er \"no_cap\"");
    }

    if (fd != -1) {
        close(fd);
    }

    if (pipe2(icmp_pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
        log_error("icmp: pipe: %s", strerror(errno));
        return -1;
    }

    icmp_flush_ev = evtimer_new(base, check_icmp_on_flush, NULL);
    icmp_done_ev = event_new(base, icmp_pipe[0], EV_READ | EV_PERSIST,
                             check_icmp_on_done, NULL);
    event_add(icmp_done_ev, NULL);

    check_icmp_reconf(conf);

    icmp_nthreads = conf->icmp_threads;
    icmp_threads = calloc(icmp_nthreads, sizeof(pthread_t));
    if (icmp_threads == NULL) {
        return -1;
    }

    for (i = 0; i < icmp_nthreads; i++) {
        if (pthread_create(&icmp_threads[i], NULL, check_icmp_worker, NULL)
            != 0)
        {
            log_error("icmp: cannot start a worker thread");
            return -1;
        }
    }

    return 0;
}


void
check_icmp_reconf(conf_t *conf)
{
    icmp_batch_max = conf->icmp_batch;
    icmp_batch_wait = conf->icmp_batch_wait;

    if (icmp_nthreads && conf->icmp_threads != icmp_nthreads) {
        log_warn("icmp_threads changes on restart, not on reload");
    }
}


static icmp_batch_t *
check_icmp_batch_new(int max, int count, double timeout)
{
    icmp_batch_t  *b;

    b = calloc(1, sizeof(icmp_batch_t) + max * sizeof(icmp_item_t)
                  + max * sizeof(icmp_host_t));
    if (b == NULL) {
        return NULL;
    }

    b->items = (icmp_item_t *) (b + 1);
    b->hosts = (icmp_host_t *) (b->items + max);
    b->count = count;
    b->timeout = timeout;

    return b;
}


/*
 * A due check joins the batch being filled; the batch leaves for a worker
 * when it is full, when a check with other settings arrives, or when the
 * first of its checks has waited icmp_batch_wait.
 */

void
check_icmp_run(probe_t *p)
{
    int             i;
    result_t        r;
    icmp_batch_t   *b;
    struct timeval  tv;

    if (icmp_nocap) {
        result_init(&r, KIND_ICMP);
        r.er = "no_cap";
        probe_done(p, &r);
        return;
    }

    if (check_icmp_solo(p->dev->cd->address, 0)) {
        /* its sends failed before: alone it cannot spoil other results */
        b = check_icmp_batch_new(1, p->cc->count, p->cc->timeout);
        if (b == NULL) {
            result_init(&r, KIND_ICMP);
            r.er = "internal";
            probe_done(p, &r);
            return;
        }

        snprintf(b->hosts[0].addr, ICMP_ADDRLEN, "%s", p->dev->cd->address);
        b->nhosts = 1;
        b->items[0].probe = p;
        b->items[0].host = 0;
        b->n = 1;

        check_icmp_queue(b);
        return;
    }

    b = icmp_fill;

    if (b != NULL
        && (b->count != p->cc->count || b->timeout != p->cc->timeout))
    {
        check_icmp_flush();
        b = NULL;
    }

    if (b == NULL) {
        b = check_icmp_batch_new(icmp_batch_max, p->cc->count,
                                 p->cc->timeout);
        if (b == NULL) {
            result_init(&r, KIND_ICMP);
            r.er = "internal";
            probe_done(p, &r);
            return;
        }

        icmp_fill = b;

        tv.tv_sec = (long) icmp_batch_wait;
        tv.tv_usec = (long) ((icmp_batch_wait - tv.tv_sec) * 1e6);
        evtimer_add(icmp_flush_ev, &tv);
    }

    for (i = 0; i < b->nhosts; i++) {
        if (strcmp(b->hosts[i].addr, p->dev->cd->address) == 0) {
            break;
        }
    }

    if (i == b->nhosts) {
        snprintf(b->hosts[i].addr, ICMP_ADDRLEN, "%s", p->dev->cd->address);
        b->nhosts++;
    }

    b->items[b->n].probe = p;
    b->items[b->n].host = i;
    b->n++;

    if (b->n == icmp_batch_max) {
        check_icmp_flush();
    }
}


static void
check_icmp_flush(void)
{
    icmp_batch_t  *b;

    b = icmp_fill;
    icmp_fill = NULL;
    evtimer_del(icmp_flush_ev);

    if (b != NULL) {
        check_icmp_queue(b);
    }
}


static void
check_icmp_queue(icmp_batch_t *b)
{
    pthread_mutex_lock(&icmp_lock);
    *icmp_jobs_tail = b;
    icmp_jobs_tail = &b->next;
    pthread_cond_signal(&icmp_cond);
    pthread_mutex_unlock(&icmp_lock);
}


/*
 * Addresses whose sends failed (a broadcast address, a firewall REJECT)
 * are remembered so they are pinged alone from then on.  set: 1 remembers
 * addr, -1 forgets it, 0 asks.
 */

static int
check_icmp_solo(const char *addr, int set)
{
    int  i, found;

    found = 0;

    pthread_mutex_lock(&icmp_lock);

    for (i = 0; i < icmp_nsolo; i++) {
        if (strcasecmp(icmp_solo[i], addr) == 0) {
            found = 1;
            break;
        }
    }

    if (set > 0 && !found) {
        /* full: the oldest entry makes room */
        i = icmp_solo_next;
        icmp_solo_next = (icmp_solo_next + 1) % ICMP_SOLO_MAX;
        if (icmp_nsolo < ICMP_SOLO_MAX) {
            icmp_nsolo++;
        }

        snprintf(icmp_solo[i], ICMP_ADDRLEN, "%s", addr);

    } else if (set < 0 && found) {
        icmp_nsolo--;
        memcpy(icmp_solo[i], icmp_solo[icmp_nsolo], ICMP_ADDRLEN);
        icmp_solo_next = icmp_nsolo % ICMP_SOLO_MAX;
    }

    pthread_mutex_unlock(&icmp_lock);

    return found;
}


static int
check_icmp_stopping(void)
{
    return __atomic_load_n(&icmp_stop, __ATOMIC_RELAXED);
}


static void
check_icmp_on_flush(evutil_socket_t fd, short what, void *arg)
{
    check_icmp_flush();
}


static void *
check_icmp_worker(void *arg)
{
    icmp_batch_t  *b;

    for ( ;; ) {
        pthread_mutex_lock(&icmp_lock);

        while (icmp_jobs == NULL && !icmp_stop) {
            pthread_cond_wait(&icmp_cond, &icmp_lock);
        }

        if (icmp_stop) {
            pthread_mutex_unlock(&icmp_lock);
            return NULL;
        }

        b = icmp_jobs;
        icmp_jobs = b->next;
        if (icmp_jobs == NULL) {
            icmp_jobs_tail = &icmp_jobs;
        }

        pthread_mutex_unlock(&icmp_lock);

        b->next = NULL;
        check_icmp_ping(b);

        pthread_mutex_lock(&icmp_lock);
        *icmp_done_tail = b;
        icmp_done_tail = &b->next;
        pthread_mutex_unlock(&icmp_lock);

        /* wakes the loop; a full pipe already means "look" */
        if (write(icmp_pipe[1], "", 1) == -1 && errno != EAGAIN) {
            log_error("icmp: pipe write: %s", strerror(errno));
        }
    }
}


/*
 * liboping tells replies apart by ICMP ident and sequence only, and every
 * raw socket sees every reply, so an ident may be used by one host in one
 * batch across all threads at a time.  A released ident also rests for a
 * while so a late reply cannot land on its next owner.
 */

static int
check_icmp_ident_take(int ident, int64_t now)
{
    int  ok;

    pthread_mutex_lock(&icmp_lock);

    ok = !icmp_ident_used[ident] && icmp_ident_rest[ident] <= now;
    if (ok) {
        icmp_ident_used[ident] = 1;
    }

    pthread_mutex_unlock(&icmp_lock);

    return ok;
}


static void
check_icmp_ident_put(int ident, int64_t now)
{
    pthread_mutex_lock(&icmp_lock);
    icmp_ident_used[ident] = 0;
    icmp_ident_rest[ident] = now + ICMP_QUARANTINE;
    pthread_mutex_unlock(&icmp_lock);
}


static void
check_icmp_ident_release(icmp_batch_t *b, int64_t now)
{
    int  i, id;

    pthread_mutex_lock(&icmp_lock);

    for (i = 0; i < b->nhosts; i++) {
        id = b->hosts[i].ident;
        if (id >= 0) {
            icmp_ident_used[id] = 0;
            icmp_ident_rest[id] = now + ICMP_QUARANTINE;
        }
    }

    pthread_mutex_unlock(&icmp_lock);
}


static pingobj_iter_t *
check_icmp_find(pingobj_t *obj, const char *addr)
{
    char             name[ICMP_ADDRLEN];
    size_t           len;
    pingobj_iter_t  *it;

    for (it = ping_iterator_get(obj); it; it = ping_iterator_next(it)) {
        len = sizeof(name);
        /* liboping compares host names without case, so do we */
        if (ping_iterator_get_info(it, PING_INFO_USERNAME, name, &len) == 0
            && strcasecmp(name, addr) == 0)
        {
            return it;
        }
    }

    return NULL;
}


/*
 * Adds h to obj with an ident no other batch uses; returns NULL or the
 * reason the host cannot be pinged.
 */

static const char *
check_icmp_add(pingobj_t *obj, icmp_host_t *h, int64_t now)
{
    int              try;
    size_t           len;
    uint16_t         ident;
    pingobj_iter_t  *it;

    for (try = 0; try < ICMP_ADD_TRIES; try++) {
        errno = 0;

        if (ping_host_add(obj, h->addr) != 0) {
            log_debug("icmp: %s: %s", h->addr, ping_get_error(obj));
            return (errno == EPERM || errno == EACCES) ? "no_cap" : "dns";
        }

        it = check_icmp_find(obj, h->addr);
        len = sizeof(ident);

        if (it == NULL
            || ping_iterator_get_info(it, PING_INFO_IDENT, &ident, &len) != 0)
        {
            return "internal";
        }

        if (check_icmp_ident_take(ident, now)) {
            h->ident = ident;
            ping_iterator_set_context(it, h);
            return NULL;
        }

        /* a clash: a new host object draws a new random ident */
        ping_host_remove(obj, h->addr);
    }

    return "internal";
}


static void
check_icmp_ping(icmp_batch_t *b)
{
    int              i, k, fd, rc;
    double           lat, timeout;
    size_t           len;
    int64_t          now;
    pingobj_t       *obj;
    icmp_host_t     *h;
    pingobj_iter_t  *it;

    for (i = 0; i < b->nhosts; i++) {
        b->hosts[i].ident = -1;
    }

    /* liboping select()s on its raw sockets: every descriptor must stay
     * below FD_SETSIZE */
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd != -1) {
        close(fd);
    }

    if (fd == -1 || fd + b->nhosts + ICMP_FD_SPARE >= FD_SETSIZE) {
        b->er = "fd_limit";
        return;
    }

    obj = ping_construct();
    if (obj == NULL) {
        b->er = "internal";
        return;
    }

    timeout = b->timeout;
    ping_setopt(obj, PING_OPT_TIMEOUT, &timeout);

    now = devmon_mono_us();

    for (i = 0; i < b->nhosts; i++) {
        b->hosts[i].er = check_icmp_add(obj, &b->hosts[i], now);
    }

    for (k = 0; k < b->count; k++) {
        if (check_icmp_stopping()) {
            /* shutdown waits for one round at most, not for count */
            b->er = "internal";
            break;
        }

        for (i = 0; i < b->nhosts; i++) {
            b->hosts[i].lat = -1;
        }

        /*
         * liboping sends to every host and receives even when a send
         * failed, but then returns -1 without saying which host failed
         * (and perror()s "ping_sendto: ..." to stderr itself): the
         * replies read are good, the failed host is found below.
         */
        rc = ping_send(obj);

        for (it = ping_iterator_get(obj); it; it = ping_iterator_next(it)) {
            h = ping_iterator_get_context(it);
            len = sizeof(lat);

            if (h == NULL
                || ping_iterator_get_info(it, PING_INFO_LATENCY, &lat, &len)
                   != 0
                || lat < 0)
            {
                continue;
            }

            if (h->received) {
                h->jsum += fabs(lat - h->prev);
                h->jn++;
            }

            h->lat = lat;
            h->prev = lat;
            h->sum += lat;
            h->received++;
        }

        if (rc < 0) {
            check_icmp_send_failed(b, obj, now);
        }
    }

    if (b->nhosts == 1 && b->hosts[0].er == NULL && b->er == NULL) {
        /* a solo address that works again may share batches again */
        check_icmp_solo(b->hosts[0].addr, -1);
    }

    ping_destroy(obj);

    check_icmp_ident_release(b, devmon_mono_us());
}


/*
 * A send of this round failed.  Each host that got no reply is tried
 * alone with a tiny timeout (a send test: its own ping object and ident);
 * the one whose send fails again is reported "icmp_error", leaves this
 * batch and is pinged alone from now on.  A batch of one needs no test.
 */

static void
check_icmp_send_failed(icmp_batch_t *b, pingobj_t *obj, int64_t now)
{
    int           i, n, failed, say, suppressed;
    char          why[128];
    double        timeout;
    int64_t       t;
    pingobj_t    *solo;
    icmp_host_t  *h;
    icmp_host_t   probe;

    n = 0;

    for (i = 0; i < b->nhosts; i++) {
        h = &b->hosts[i];
        if (h->er == NULL && h->ident >= 0 && h->lat < 0) {
            n++;
        }
    }

    for (i = 0; i < b->nhosts; i++) {
        h = &b->hosts[i];

        if (h->er != NULL || h->ident < 0 || h->lat >= 0) {
            continue;
        }

        snprintf(why, sizeof(why), "%s", ping_get_error(obj));
        failed = (n == 1);

        if (!failed) {
            solo = ping_construct();
            if (solo == NULL) {
                continue;
            }

            timeout = ICMP_PROBE_TIMEOUT;
            ping_setopt(solo, PING_OPT_TIMEOUT, &timeout);

            memset(&probe, 0, sizeof(probe));
            probe.ident = -1;
            memcpy(probe.addr, h->addr, ICMP_ADDRLEN);

            if (check_icmp_add(solo, &probe, now) == NULL
                && ping_send(solo) < 0)
            {
                failed = 1;
                snprintf(why, sizeof(why), "%s", ping_get_error(solo));
            }

            ping_destroy(solo);

            if (probe.ident >= 0) {
                check_icmp_ident_put(probe.ident, devmon_mono_us());
            }
        }

        if (!failed) {
            continue;
        }

        h->er = "icmp_error";
        ping_host_remove(obj, h->addr);

        if (check_icmp_solo(h->addr, 1)) {
            continue;
        }

        /* one line a minute at most: a bad address list must not flood */
        t = devmon_mono_us();

        pthread_mutex_lock(&icmp_lock);

        say = (t >= icmp_log_next);
        suppressed = icmp_log_quiet;

        if (say) {
            icmp_log_next = t + ICMP_LOG_EVERY;
            icmp_log_quiet = 0;
        } else {
            icmp_log_quiet++;
        }

        pthread_mutex_unlock(&icmp_lock);

        if (say) {
            log_warn("icmp: %s: sending failed (%s); it is pinged alone "
                     "from now on, its result is \"icmp_error\" "
                     "(%d more such lines suppressed)", h->addr, why,
                     suppressed);
        }
    }
}


static void
check_icmp_on_done(evutil_socket_t fd, short what, void *arg)
{
    char           buf[256];
    icmp_batch_t  *list, *b, *next;

    while (read(fd, buf, sizeof(buf)) > 0) {
        /* drain */
    }

    pthread_mutex_lock(&icmp_lock);
    list = icmp_done;
    icmp_done = NULL;
    icmp_done_tail = &icmp_done;
    pthread_mutex_unlock(&icmp_lock);

    for (b = list; b; b = next) {
        next = b->next;
        check_icmp_finish(b);
    }
}


static void
check_icmp_finish(icmp_batch_t *b)
{
    int  i;

    for (i = 0; i < b->n; i++) {
        check_icmp_result(b->items[i].probe, b, &b->hosts[b->items[i].host]);
    }

    free(b);
}


static void
check_icmp_result(probe_t *p, icmp_batch_t *b, icmp_host_t *h)
{
    result_t       r;
    conf_check_t  *cc;

    result_init(&r, KIND_ICMP);

    if (b->er != NULL || h->er != NULL) {
        /* the check could not run: say why, do not guess a state */
        r.er = b->er ? b->er : h->er;
        r.st = strcmp(r.er, "dns") == 0 ? ST_DOWN : ST_UNKNOWN;
        probe_done(p, &r);
        return;
    }

    cc = p->cc;

    r.pl = 100.0 * (b->count - h->received) / b->count;

    if (h->received) {
        r.rt = h->sum / h->received;
    }

    if (h->jn) {
        r.jt = h->jsum / h->jn;
    }

    if (h->received == 0) {
        r.st = ST_DOWN;
        r.er = "timeout";

    } else if (r.pl >= cc->down_loss) {
        r.st = ST_DOWN;
        r.er = "loss";

    } else if (cc->degraded_loss > 0 && r.pl >= cc->degraded_loss) {
        r.st = ST_DEGRADED;
        r.er = "loss";

    } else {
        r.st = ST_UP;
    }

    probe_done(p, &r);
}


void
check_icmp_fini(void)
{
    int            i;
    icmp_batch_t  *b, *next;

    pthread_mutex_lock(&icmp_lock);
    __atomic_store_n(&icmp_stop, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&icmp_cond);
    pthread_mutex_unlock(&icmp_lock);

    /* a worker finishes its batch first: at most count * timeout */
    for (i = 0; i < icmp_nthreads; i++) {
        pthread_join(icmp_threads[i], NULL);
    }

    free(icmp_threads);
    icmp_threads = NULL;
    icmp_nthreads = 0;

    for (b = icmp_jobs; b; b = next) {
        next = b->next;
        free(b);
    }

    for (b = icmp_done; b; b = next) {
        next = b->next;
        free(b);
    }

    free(icmp_fill);
    icmp_fill = NULL;

    if (icmp_flush_ev) {
        event_free(icmp_flush_ev);
        event_free(icmp_done_ev);
        icmp_flush_ev = icmp_done_ev = NULL;
    }

    if (icmp_pipe[0] != -1) {
        close(icmp_pipe[0]);
        close(icmp_pipe[1]);
        icmp_pipe[0] = icmp_pipe[1] = -1;
    }
}
