/* check_http: HTTP(S) checks on the libcurl multi socket API */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"
#include "check.h"
#include "curl_ev.h"


#define HTTP_BODY_MAX   (1024 * 1024)


typedef struct {
    probe_t        *probe;
    CURL           *easy;
    char           *body;
    size_t          len;
    char            errbuf[CURL_ERROR_SIZE];
} http_run_t;


static void check_http_on_done(CURL *easy, CURLcode code, void *data);
static void check_http_finish(http_run_t *run, CURLcode code);


static curl_ev_t  *http_ev;


int
check_http_init(struct event_base *base)
{
    http_ev = curl_ev_new(base, check_http_on_done, NULL);

    return http_ev != NULL ? 0 : -1;
}


static size_t
check_http_write(char *data, size_t size, size_t nmemb, void *arg)
{
    size_t       n;
    char        *b;
    http_run_t  *run;

    run = arg;
    n = size * nmemb;

    /* the body is kept only to look for the keyword, and only so much */
    if (run->probe->cc->keyword[0] == '\0' || run->len >= HTTP_BODY_MAX) {
        return n;
    }

    b = realloc(run->body, run->len + n + 1);
    if (b == NULL) {
        return 0;
    }

    memcpy(b + run->len, data, n);
    run->body = b;
    run->len += n;
    run->body[run->len] = '\0';

    return n;
}


void
check_http_run(probe_t *p)
{
    long          ms;
    CURL         *easy;
    http_run_t   *run;
    result_t      r;
    conf_check_t *cc;

    cc = p->cc;

    run = calloc(1, sizeof(http_run_t));
    easy = curl_easy_init();

    if (run == NULL || easy == NULL) {
        free(run);
        if (easy) {
            curl_easy_cleanup(easy);
        }
        result_init(&r, KIND_HTTP);
        r.er = "internal";
        probe_done(p, &r);
        return;
    }

    run->probe = p;
    run->easy = easy;

    ms = (long) (cc->timeout * 1000);

    curl_easy_setopt(easy, CURLOPT_URL, cc->url);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, run);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, run->errbuf);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, check_http_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, run);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "devmon-probed/"
                     PROBED_VERSION);

    /* a new connection every time: the phases are what is measured */
    curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);

    if (strncmp(cc->url, "https:", 6) == 0) {
        curl_easy_setopt(easy, CURLOPT_CERTINFO, 1L);
        curl_ev_tls(easy, cc->verify_tls, cc->ca_file);
    }

    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");

    if (curl_ev_add(http_ev, easy) != 0) {
        check_http_finish(run, CURLE_FAILED_INIT);
    }
}


static void
check_http_on_done(CURL *easy, CURLcode code, void *data)
{
    http_run_t  *run;

    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &run);
    check_http_finish(run, code);
}


/* days until the leaf certificate expires, from curl's certificate info */

static int
check_http_cert_days(CURL *easy, int *days)
{
    char                    *s;
    time_t                   t;
    struct tm                tm;
    struct curl_slist       *sl;
    struct curl_certinfo    *ci;

    ci = NULL;

    if (curl_easy_getinfo(easy, CURLINFO_CERTINFO, &ci) != CURLE_OK
        || ci == NULL || ci->num_of_certs < 1)
    {
        return -1;
    }

    for (sl = ci->certinfo[0]; sl != NULL; sl = sl->next) {
        if (strncmp(sl->data, "Expire date:", 12) != 0) {
            continue;
        }

        memset(&tm, 0, sizeof(tm));
        s = strptime(sl->data + 12, "%b %d %H:%M:%S %Y", &tm);
        if (s == NULL) {
            return -1;
        }

        t = timegm(&tm);
        *days = (int) ((t - time(NULL)) / 86400);
        if (t < time(NULL)) {
            *days = -1 - (int) ((time(NULL) - t) / 86400);
        }

        return 0;
    }

    return -1;
}


static void
check_http_finish(http_run_t *run, CURLcode code)
{
    int            i, ok, days;
    long           sc, oserr;
    probe_t       *p;
    result_t       r;
    conf_check_t  *cc;
    curl_off_t     dns, conn, app, start, total;

    p = run->probe;
    cc = p->cc;

    result_init(&r, KIND_HTTP);

    curl_easy_getinfo(run->easy, CURLINFO_NAMELOOKUP_TIME_T, &dns);
    curl_easy_getinfo(run->easy, CURLINFO_CONNECT_TIME_T, &conn);
    curl_easy_getinfo(run->easy, CURLINFO_APPCONNECT_TIME_T, &app);
    curl_easy_getinfo(run->easy, CURLINFO_STARTTRANSFER_TIME_T, &start);
    curl_easy_getinfo(run->easy, CURLINFO_TOTAL_TIME_T, &total);
    curl_easy_getinfo(run->easy, CURLINFO_RESPONSE_CODE, &sc);
    curl_easy_getinfo(run->easy, CURLINFO_OS_ERRNO, &oserr);

    /* curl's times are cumulative; the event carries each phase alone */
    if (conn > 0) {
        r.dn = dns / 1000.0;
        r.cn = (conn - dns) / 1000.0;
    }

    if (app > 0) {
        r.tl = (app - conn) / 1000.0;
    }

    if (start > 0) {
        r.ft = (start - (app > 0 ? app : conn)) / 1000.0;
    }

    switch (code) {

    case CURLE_OK:
        r.sc = (int) sc;
        r.rt = total / 1000.0;

        ok = cc->nexpect == 0 && sc >= 200 && sc < 400;
        for (i = 0; i < cc->nexpect; i++) {
            if (cc->expect[i] == sc) {
                ok = 1;
            }
        }

        if (!ok) {
            r.st = ST_DOWN;
            r.er = "http_status";

        } else if (cc->keyword[0]
                   && (run->body == NULL
                       || strstr(run->body, cc->keyword) == NULL))
        {
            r.st = ST_DOWN;
            r.er = "keyword";

        } else {
            r.st = ST_UP;
        }

        break;

    case CURLE_OPERATION_TIMEDOUT:
        r.st = ST_DOWN;
        r.er = "timeout";
        break;

    case CURLE_COULDNT_RESOLVE_HOST:
        r.st = ST_DOWN;
        r.er = "dns";
        break;

    case CURLE_COULDNT_CONNECT:
        r.st = ST_DOWN;
        r.er = oserr == ECONNREFUSED ? "refused" : "unreachable";
        break;

    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        r.st = ST_DOWN;
        r.er = "tls";
        break;

    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
        r.st = ST_DOWN;
        r.er = "http_protocol";
        break;

    default:
        r.st = ST_DOWN;
        r.er = "http_error";
        break;
    }

    if (r.st != ST_DOWN || code == CURLE_OK) {
        if (check_http_cert_days(run->easy, &days) == 0) {
            r.cx = days;
            r.has_cx = 1;

            if (days < 0) {
                r.st = ST_DOWN;
                r.er = "cert_expired";

            } else if (days < cc->cert_warn_days && r.st == ST_UP) {
                r.st = ST_DEGRADED;
                r.er = "cert_expiring";
            }
        }
    }

    if (code != CURLE_OK) {
        log_debug("%s/%s: http: %s", p->dev->acct->id, p->dev->cd->id,
                  run->errbuf[0] ? run->errbuf : curl_easy_strerror(code));
    }

    curl_ev_remove(http_ev, run->easy);
    curl_easy_cleanup(run->easy);
    free(run->body);
    free(run);

    probe_done(p, &r);
}


void
check_http_fini(void)
{
    curl_ev_free(http_ev);
    http_ev = NULL;
}
