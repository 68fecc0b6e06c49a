/* alert_send: email (SMTP) and webhook POSTs through libcurl multi */

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"
#include "alert_send.h"


typedef struct alert_xfer_s  alert_xfer_t;

struct alert_xfer_s {
    alert_xfer_t           *next;
    alert_xfer_t           *prev;
    alert_msg_t            *msg;
    CURL                   *easy;
    struct curl_slist      *list;
    size_t                  off;            /* upload position */
    char                    err[CURL_ERROR_SIZE];
};


typedef struct {
    struct event_base      *base;
    const alert_conf_t     *conf;
    CURLM                  *multi;
    struct event           *timer;
    alert_send_done_pt      done;
    alert_xfer_t           *xfers;
    int                     running;
} alert_send_t;


static int alert_send_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp);
static int alert_send_timer(CURLM *multi, long timeout_ms, void *userp);
static void alert_send_on_timer(evutil_socket_t fd, short what, void *arg);
static void alert_send_on_socket(evutil_socket_t fd, short what, void *arg);
static void alert_send_reap(void);
static void alert_send_release(alert_xfer_t *x);
static size_t alert_send_read(char *buf, size_t size, size_t nitems,
    void *userp);
static size_t alert_send_discard(char *buf, size_t size, size_t nitems,
    void *userp);


static alert_send_t  snd;


int
alert_send_init(struct event_base *base, alert_send_done_pt done)
{
    memset(&snd, 0, sizeof(snd));

    snd.base = base;
    snd.done = done;

    snd.multi = curl_multi_init();
    snd.timer = evtimer_new(base, alert_send_on_timer, NULL);

    if (snd.multi == NULL || snd.timer == NULL) {
        return -1;
    }

    curl_multi_setopt(snd.multi, CURLMOPT_SOCKETFUNCTION, alert_send_socket);
    curl_multi_setopt(snd.multi, CURLMOPT_TIMERFUNCTION, alert_send_timer);

    return 0;
}


void
alert_send_reconfigure(const alert_conf_t *conf)
{
    snd.conf = conf;
}


int
alert_send_running(void)
{
    return snd.running;
}


int
alert_send_start(alert_msg_t *m)
{
    char                    addr[300];
    CURL                   *e;
    alert_xfer_t           *x;
    const alert_conf_t     *c;

    c = snd.conf;

    x = calloc(1, sizeof(alert_xfer_t));
    if (x == NULL) {
        return -1;
    }

    e = curl_easy_init();
    if (e == NULL) {
        free(x);
        return -1;
    }

    x->msg = m;
    x->easy = e;

    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->err);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, alert_send_discard);

    if (m->channel == ALERT_CH_EMAIL) {
        snprintf(addr, sizeof(addr), "<%s>", m->to);
        x->list = curl_slist_append(NULL, addr);
        snprintf(addr, sizeof(addr), "<%s>", c->smtp.from);

        curl_easy_setopt(e, CURLOPT_URL, c->smtp.url);
        curl_easy_setopt(e, CURLOPT_MAIL_FROM, addr);
        curl_easy_setopt(e, CURLOPT_MAIL_RCPT, x->list);
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, alert_send_read);
        curl_easy_setopt(e, CURLOPT_READDATA, x);
        curl_easy_setopt(e, CURLOPT_INFILESIZE, (long) strlen(m->body));
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                         (long) (c->smtp.timeout * 1000));
        curl_easy_setopt(e, CURLOPT_USE_SSL,
                         c->smtp.starttls == ALERT_TLS_REQUIRE
                         ? (long) CURLUSESSL_ALL
                         : c->smtp.starttls == ALERT_TLS_TRY
                         ? (long) CURLUSESSL_TRY : (long) CURLUSESSL_NONE);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER,
                         (long) c->smtp.verify_tls);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST,
                         c->smtp.verify_tls ? 2L : 0L);

        if (c->smtp.ca_file[0]) {
            curl_easy_setopt(e, CURLOPT_CAINFO, c->smtp.ca_file);
        }

        if (c->smtp.user[0]) {
            curl_easy_setopt(e, CURLOPT_USERNAME, c->smtp.user);
            curl_easy_setopt(e, CURLOPT_PASSWORD, c->smtp.password);
        }

    } else {
        x->list = curl_slist_append(NULL, "Content-Type: application/json");

        curl_easy_setopt(e, CURLOPT_URL, m->to);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->list);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, m->body);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "devmon-alertd/"
                         ALERT_VERSION);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                         (long) (c->webhook.timeout * 1000));
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER,
                         (long) c->webhook.verify_tls);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST,
                         c->webhook.verify_tls ? 2L : 0L);

        if (c->webhook.ca_file[0]) {
            curl_easy_setopt(e, CURLOPT_CAINFO, c->webhook.ca_file);
        }
    }

    if (curl_multi_add_handle(snd.multi, e) != CURLM_OK) {
        curl_slist_free_all(x->list);
        curl_easy_cleanup(e);
        free(x);
        return -1;
    }

    x->next = snd.xfers;
    if (snd.xfers != NULL) {
        snd.xfers->prev = x;
    }
    snd.xfers = x;

    m->busy = 1;
    snd.running++;

    return 0;
}


static size_t
alert_send_read(char *buf, size_t size, size_t nitems, void *userp)
{
    size_t         n, left;
    alert_xfer_t  *x;

    x = userp;

    left = strlen(x->msg->body) - x->off;
    n = size * nitems < left ? size * nitems : left;

    memcpy(buf, x->msg->body + x->off, n);
    x->off += n;

    return n;
}


static size_t
alert_send_discard(char *buf, size_t size, size_t nitems, void *userp)
{
    return size * nitems;
}


static int
alert_send_socket(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
    short          flags;
    struct event  *ev;

    ev = socketp;

    if (what == CURL_POLL_REMOVE) {
        if (ev != NULL) {
            event_free(ev);
            curl_multi_assign(snd.multi, s, NULL);
        }

        return 0;
    }

    flags = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0)
            | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);

    if (ev != NULL) {
        event_del(ev);
        event_assign(ev, snd.base, s, flags, alert_send_on_socket, NULL);

    } else {
        ev = event_new(snd.base, s, flags, alert_send_on_socket, NULL);
        if (ev == NULL) {
            return -1;
        }

        curl_multi_assign(snd.multi, s, ev);
    }

    event_add(ev, NULL);

    return 0;
}


static int
alert_send_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct timeval  tv;

    if (timeout_ms < 0) {
        evtimer_del(snd.timer);
        return 0;
    }

    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(snd.timer, &tv);

    return 0;
}


static void
alert_send_on_timer(evutil_socket_t fd, short what, void *arg)
{
    int  running;

    curl_multi_socket_action(snd.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    alert_send_reap();
}


static void
alert_send_on_socket(evutil_socket_t fd, short what, void *arg)
{
    int  running, flags;

    flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0)
            | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);

    curl_multi_socket_action(snd.multi, fd, flags, &running);
    alert_send_reap();
}


static void
alert_send_reap(void)
{
    int            left;
    long           code;
    char           err[CURL_ERROR_SIZE + 64];
    CURLMsg       *cm;
    alert_msg_t   *m;
    alert_xfer_t  *x;

    while ((cm = curl_multi_info_read(snd.multi, &left)) != NULL) {
        if (cm->msg != CURLMSG_DONE) {
            continue;
        }

        curl_easy_getinfo(cm->easy_handle, CURLINFO_PRIVATE, (char **) &x);
        m = x->msg;

        code = 0;
        curl_easy_getinfo(cm->easy_handle, CURLINFO_RESPONSE_CODE, &code);

        if (cm->data.result != CURLE_OK) {
            snprintf(err, sizeof(err), "%s", x->err[0] ? x->err
                     : curl_easy_strerror(cm->data.result));

        } else if (m->channel == ALERT_CH_WEBHOOK
                   && (code < 200 || code > 299))
        {
            snprintf(err, sizeof(err), "HTTP status %ld", code);

        } else {
            err[0] = '\0';
        }

        alert_send_release(x);

        m->busy = 0;
        snd.running--;

        snd.done(m, err[0] ? err : NULL);
    }
}


static void
alert_send_release(alert_xfer_t *x)
{
    if (x->prev != NULL) {
        x->prev->next = x->next;
    } else {
        snd.xfers = x->next;
    }

    if (x->next != NULL) {
        x->next->prev = x->prev;
    }

    curl_multi_remove_handle(snd.multi, x->easy);
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->list);
    free(x);
}


void
alert_send_fini(void)
{
    /* transfers still running are abandoned: the outbox keeps them */
    while (snd.xfers != NULL) {
        snd.xfers->msg->busy = 0;
        alert_send_release(snd.xfers);
        snd.running--;
    }

    if (snd.multi != NULL) {
        curl_multi_cleanup(snd.multi);
    }

    if (snd.timer != NULL) {
        event_free(snd.timer);
    }

    memset(&snd, 0, sizeof(snd));
}
