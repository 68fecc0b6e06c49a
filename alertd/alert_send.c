/* alert_send: email (SMTP) and webhook POSTs through libcurl multi */

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"
#include "curl_ev.h"
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
    curl_ev_t              *ev;
    alert_send_done_pt      done;
    alert_xfer_t           *xfers;
    int                     running;
} alert_send_t;


static void alert_send_on_done(CURL *easy, CURLcode code, void *data);
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

    snd.ev = curl_ev_new(base, alert_send_on_done, NULL);

    return snd.ev != NULL ? 0 : -1;
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
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
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
        curl_ev_tls(e, c->smtp.verify_tls, c->smtp.ca_file);

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
        curl_ev_tls(e, c->webhook.verify_tls, c->webhook.ca_file);
    }

    if (curl_ev_add(snd.ev, e) != 0) {
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


/*
 * A webhook's 4xx other than 408 and 429 will not change by asking again:
 * a wrong URL or a refused token.  Everything else is worth a retry.
 */

static void
alert_send_on_done(CURL *easy, CURLcode code, void *data)
{
    int            permanent;
    long           status;
    char           err[CURL_ERROR_SIZE + 64];
    alert_msg_t   *m;
    alert_xfer_t  *x;

    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &x);
    m = x->msg;

    status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);

    permanent = 0;

    if (code != CURLE_OK) {
        snprintf(err, sizeof(err), "%s", x->err[0] ? x->err
                 : curl_easy_strerror(code));
        permanent = code == CURLE_UNSUPPORTED_PROTOCOL
                    || code == CURLE_URL_MALFORMAT;

    } else if (m->channel == ALERT_CH_WEBHOOK
               && (status < 200 || status > 299))
    {
        snprintf(err, sizeof(err), "HTTP status %ld", status);
        permanent = status >= 400 && status <= 499 && status != 408
                    && status != 429;

    } else {
        err[0] = '\0';
    }

    alert_send_release(x);

    m->busy = 0;
    snd.running--;

    snd.done(m, err[0] ? err : NULL, permanent);
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

    curl_ev_remove(snd.ev, x->easy);
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

    curl_ev_free(snd.ev);

    memset(&snd, 0, sizeof(snd));
}
