/* region: the region's own connectivity check, reported in its heartbeat */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/util.h>

#include "log.h"
#include "region.h"


/*
 * Each cycle every "region_check" target (numeric host:port) gets a TCP
 * connect; the region is ok when at least one answers.  The heartbeat of
 * the next cycle carries the verdict as "ok", so alerting can tell "this
 * region lost its uplink" from "these devices are down".
 */

typedef struct {
    int                 fd;
    struct event       *ev;
} region_try_t;


typedef struct {
    struct event_base  *base;
    region_try_t       *tries;
    int                 ntries;
    int                 pending;
    int                 answered;       /* this round */
    int                 ok;             /* last verdict, -1: none */
    struct event       *timer;
} region_t;


static void region_on_connect(evutil_socket_t fd, short what, void *arg);
static void region_on_timeout(evutil_socket_t fd, short what, void *arg);
static void region_end_round(void);


static region_t  rgn;


/* the targets were validated by conf (numeric host:port) */

int
region_init(struct event_base *base, conf_t *conf)
{
    memset(&rgn, 0, sizeof(rgn));

    rgn.base = base;
    rgn.ok = -1;
    rgn.timer = evtimer_new(base, region_on_timeout, NULL);

    return rgn.timer ? 0 : -1;
}


int
region_ok(void)
{
    return rgn.ok;
}


void
region_run(conf_t *conf, double timeout)
{
    int                      i, len;
    struct timeval           tv;
    region_try_t            *t;
    struct sockaddr_storage  ss;

    region_end_round();

    if (conf->nregion_check == 0) {
        rgn.ok = -1;
        return;
    }

    rgn.tries = calloc(conf->nregion_check, sizeof(region_try_t));
    if (rgn.tries == NULL) {
        return;
    }

    rgn.ntries = conf->nregion_check;
    rgn.answered = 0;

    for (i = 0; i < rgn.ntries; i++) {
        t = &rgn.tries[i];
        t->fd = -1;
        len = sizeof(ss);

        if (evutil_parse_sockaddr_port(conf->region_check[i],
                                       (struct sockaddr *) &ss, &len) != 0)
        {
            continue;
        }

        t->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (t->fd == -1) {
            continue;
        }

        if (connect(t->fd, (struct sockaddr *) &ss, len) != 0
            && errno != EINPROGRESS)
        {
            close(t->fd);
            t->fd = -1;
            continue;
        }

        t->ev = event_new(rgn.base, t->fd, EV_WRITE, region_on_connect, t);
        if (t->ev == NULL) {
            continue;
        }

        event_add(t->ev, NULL);
        rgn.pending++;
    }

    if (rgn.pending == 0) {
        region_end_round();
        return;
    }

    tv.tv_sec = (long) timeout;
    tv.tv_usec = (long) ((timeout - tv.tv_sec) * 1e6);
    evtimer_add(rgn.timer, &tv);
}


static void
region_on_connect(evutil_socket_t fd, short what, void *arg)
{
    int             err;
    socklen_t       len;
    region_try_t   *t;

    t = arg;
    err = 0;
    len = sizeof(err);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
        rgn.answered++;
    }

    event_free(t->ev);
    t->ev = NULL;
    close(t->fd);
    t->fd = -1;

    if (--rgn.pending == 0) {
        region_end_round();
    }
}


static void
region_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    region_end_round();
}


/* the verdict of the round; targets still connecting count as failed */

static void
region_end_round(void)
{
    int             i, ok;
    region_try_t   *t;

    if (rgn.tries == NULL) {
        return;
    }

    for (i = 0; i < rgn.ntries; i++) {
        t = &rgn.tries[i];

        if (t->ev != NULL) {
            event_free(t->ev);
        }

        if (t->fd != -1) {
            close(t->fd);
        }
    }

    ok = rgn.answered > 0;

    if (rgn.ok != -1 && ok != rgn.ok) {
        log_warn("region check: %s", ok ? "reachable again"
                                        : "no target answers");
    }

    rgn.ok = ok;
    free(rgn.tries);
    rgn.tries = NULL;
    rgn.ntries = 0;
    rgn.pending = 0;
    evtimer_del(rgn.timer);
}


void
region_fini(void)
{
    region_end_round();

    if (rgn.timer != NULL) {
        event_free(rgn.timer);
    }

    memset(&rgn, 0, sizeof(rgn));
}
