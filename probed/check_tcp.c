/* check_tcp: a non-blocking TCP connect on the loop, with asynchronous DNS */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/event.h>
#include <event2/dns.h>
#include <event2/util.h>

#include "log.h"
#include "check.h"


typedef struct {
    probe_t                             *probe;
    int                                  fd;
    int64_t                              t0;
    struct event                        *ev;
    struct event                        *timer;
    struct evdns_getaddrinfo_request    *dns;      /* a pending lookup */
} tcp_run_t;


static void check_tcp_resolved(int err, struct evutil_addrinfo *ai,
    void *arg);
static void check_tcp_event(evutil_socket_t fd, short what, void *arg);
static void check_tcp_timeout(evutil_socket_t fd, short what, void *arg);
static void check_tcp_finish(tcp_run_t *run, int st, const char *er);


static struct event_base  *tcp_base;


int
check_tcp_init(struct event_base *base)
{
    tcp_base = base;

    return 0;
}


void
check_tcp_run(probe_t *p)
{
    char                               port[8];
    result_t                           r;
    tcp_run_t                         *run;
    struct timeval                     tv;
    struct evutil_addrinfo             hints;
    struct evdns_getaddrinfo_request  *req;

    run = calloc(1, sizeof(tcp_run_t));
    if (run == NULL) {
        result_init(&r, p->kind);
        r.er = "internal";
        probe_done(p, &r);
        return;
    }

    run->probe = p;
    run->fd = -1;
    run->t0 = devmon_mono_us();

    run->timer = evtimer_new(tcp_base, check_tcp_timeout, run);
    tv.tv_sec = (long) p->cc->timeout;
    tv.tv_usec = (long) ((p->cc->timeout - tv.tv_sec) * 1e6);
    evtimer_add(run->timer, &tv);

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_NUMERICSERV | EVUTIL_AI_ADDRCONFIG;

    snprintf(port, sizeof(port), "%d", p->cc->port);

    /*
     * A numeric address (or an immediate failure) runs the callback
     * inside this call, and the callback may already have finished and
     * freed the run: NULL says exactly that, so run is touched only when
     * the lookup is really pending.
     */
    req = evdns_getaddrinfo(probe_dns, p->dev->cd->address, port, &hints,
                            check_tcp_resolved, run);
    if (req != NULL) {
        run->dns = req;
    }
}


static void
check_tcp_resolved(int err, struct evutil_addrinfo *ai, void *arg)
{
    int         rc, err_connect;
    tcp_run_t  *run;

    run = arg;
    run->dns = NULL;

    if (err != 0 || ai == NULL) {
        /* EVUTIL_EAI_CANCEL too: the timeout cancelled the lookup */
        check_tcp_finish(run, ST_DOWN, "dns");
        return;
    }

    run->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK
                                    | SOCK_CLOEXEC, 0);
    if (run->fd == -1) {
        evutil_freeaddrinfo(ai);
        log_error("tcp: socket: %s", strerror(errno));
        check_tcp_finish(run, ST_UNKNOWN, "internal");
        return;
    }

    rc = connect(run->fd, ai->ai_addr, ai->ai_addrlen);
    err_connect = (rc == 0) ? 0 : errno;
    evutil_freeaddrinfo(ai);

    if (rc == 0 || err_connect == EINPROGRESS) {
        run->ev = event_new(tcp_base, run->fd, EV_WRITE, check_tcp_event,
                            run);
        event_add(run->ev, NULL);
        return;
    }

    check_tcp_finish(run, ST_DOWN, err_connect == ECONNREFUSED
                                   ? "refused" : "unreachable");
}


static void
check_tcp_event(evutil_socket_t fd, short what, void *arg)
{
    int         err;
    socklen_t   len;
    tcp_run_t  *run;

    run = arg;
    err = 0;
    len = sizeof(err);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        err = errno;
    }

    if (err == 0) {
        check_tcp_finish(run, ST_UP, NULL);
        return;
    }

    check_tcp_finish(run, ST_DOWN, err == ECONNREFUSED ? "refused"
                                   : err == ETIMEDOUT ? "timeout"
                                                      : "unreachable");
}


static void
check_tcp_timeout(evutil_socket_t fd, short what, void *arg)
{
    tcp_run_t  *run;

    run = arg;

    if (run->dns != NULL) {
        /* the callback runs with EVUTIL_EAI_CANCEL (now or from the loop)
         * and finishes the run with "dns": run is not touched here after */
        evdns_getaddrinfo_cancel(run->dns);
        return;
    }

    check_tcp_finish(run, ST_DOWN, "timeout");
}


static void
check_tcp_finish(tcp_run_t *run, int st, const char *er)
{
    probe_t   *p;
    result_t   r;

    p = run->probe;

    result_init(&r, KIND_TCP);
    r.st = st;
    r.er = er;

    if (st == ST_UP) {
        r.rt = (devmon_mono_us() - run->t0) / 1000.0;
    }

    if (run->ev) {
        event_free(run->ev);
    }

    if (run->fd != -1) {
        close(run->fd);
    }

    event_free(run->timer);
    free(run);

    probe_done(p, &r);
}
