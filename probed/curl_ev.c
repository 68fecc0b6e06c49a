/* curl_ev: libcurl's multi socket API driven by a libevent loop */

#include <stdlib.h>

#include "curl_ev.h"


struct curl_ev_s {
    struct event_base      *base;
    CURLM                  *multi;
    struct event           *timer;
    curl_ev_done_pt         done;
    void                   *data;
};


static int curl_ev_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp);
static int curl_ev_timer(CURLM *multi, long timeout_ms, void *userp);
static void curl_ev_on_socket(evutil_socket_t fd, short what, void *arg);
static void curl_ev_on_timer(evutil_socket_t fd, short what, void *arg);
static void curl_ev_collect(curl_ev_t *ce);


curl_ev_t *
curl_ev_new(struct event_base *base, curl_ev_done_pt done, void *data)
{
    curl_ev_t  *ce;

    ce = calloc(1, sizeof(curl_ev_t));
    if (ce == NULL) {
        return NULL;
    }

    ce->base = base;
    ce->done = done;
    ce->data = data;
    ce->multi = curl_multi_init();
    ce->timer = evtimer_new(base, curl_ev_on_timer, ce);

    if (ce->multi == NULL || ce->timer == NULL) {
        curl_ev_free(ce);
        return NULL;
    }

    curl_multi_setopt(ce->multi, CURLMOPT_SOCKETFUNCTION, curl_ev_socket);
    curl_multi_setopt(ce->multi, CURLMOPT_SOCKETDATA, ce);
    curl_multi_setopt(ce->multi, CURLMOPT_TIMERFUNCTION, curl_ev_timer);
    curl_multi_setopt(ce->multi, CURLMOPT_TIMERDATA, ce);

    return ce;
}


int
curl_ev_add(curl_ev_t *ce, CURL *easy)
{
    return curl_multi_add_handle(ce->multi, easy) == CURLM_OK ? 0 : -1;
}


void
curl_ev_remove(curl_ev_t *ce, CURL *easy)
{
    curl_multi_remove_handle(ce->multi, easy);
}


/* curl says which socket to watch for what: one persistent event each */

/* certificate checks of a transfer; an empty ca_file keeps the system's */

void
curl_ev_tls(CURL *easy, int verify, const char *ca_file)
{
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);

    if (ca_file[0]) {
        curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file);
    }
}


static int
curl_ev_socket(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
    short          kind;
    curl_ev_t     *ce;
    struct event  *ev;

    ce = userp;
    ev = socketp;

    if (what == CURL_POLL_REMOVE) {
        if (ev != NULL) {
            event_free(ev);
            curl_multi_assign(ce->multi, s, NULL);
        }

        return 0;
    }

    kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0)
                      | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);

    if (ev != NULL) {
        event_del(ev);
        event_assign(ev, ce->base, s, kind, curl_ev_on_socket, ce);

    } else {
        ev = event_new(ce->base, s, kind, curl_ev_on_socket, ce);
        if (ev == NULL) {
            return -1;
        }

        curl_multi_assign(ce->multi, s, ev);
    }

    event_add(ev, NULL);

    return 0;
}


static int
curl_ev_timer(CURLM *multi, long timeout_ms, void *userp)
{
    curl_ev_t       *ce;
    struct timeval   tv;

    ce = userp;

    if (timeout_ms < 0) {
        evtimer_del(ce->timer);
        return 0;
    }

    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(ce->timer, &tv);

    return 0;
}


static void
curl_ev_on_socket(evutil_socket_t fd, short what, void *arg)
{
    int         running, flags;
    curl_ev_t  *ce;

    ce = arg;

    flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0)
            | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);

    curl_multi_socket_action(ce->multi, fd, flags, &running);
    curl_ev_collect(ce);
}


static void
curl_ev_on_timer(evutil_socket_t fd, short what, void *arg)
{
    int         running;
    curl_ev_t  *ce;

    ce = arg;

    curl_multi_socket_action(ce->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    curl_ev_collect(ce);
}


static void
curl_ev_collect(curl_ev_t *ce)
{
    int       left;
    CURLMsg  *msg;

    while ((msg = curl_multi_info_read(ce->multi, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) {
            ce->done(msg->easy_handle, msg->data.result, ce->data);
        }
    }
}


/* transfers still added are the caller's: it removes them first */

void
curl_ev_free(curl_ev_t *ce)
{
    if (ce == NULL) {
        return;
    }

    if (ce->multi != NULL) {
        curl_multi_cleanup(ce->multi);
    }

    if (ce->timer != NULL) {
        event_free(ce->timer);
    }

    free(ce);
}
