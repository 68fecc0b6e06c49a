/* wsload worker process: one epoll loop driving its share of connections. */

/*
 * Copyright (C) devmon authors
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <openssl/sha.h>

#include "bench_jwt.h"
#include "wsload.h"


#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT  24
#endif

#define WL_IDLE          0
#define WL_CONNECTING    1
#define WL_HANDSHAKE     2
#define WL_OPEN          3
#define WL_WAIT          4             /* in the reconnect heap */
#define WL_DEAD          5             /* failed, not retried */

#define WL_READ_BUF      (256 * 1024)
#define WL_MAX_INPUT     (16 * 1024 * 1024)
#define WL_MAX_RESPONSE  8192
#define WL_REQ_BUF       8192
#define WL_EVENTS        1024

#define WS_GUID          "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


typedef struct {
    int             fd;
    uint32_t        idx;               /* global connection number */
    uint32_t        account;
    uint8_t         state;
    uint8_t         first_done;        /* the first attempt has ended */
    uint8_t         epoch_len;
    uint8_t         id_len;
    uint8_t         want_out;
    uint16_t        attempts;
    uint64_t        t_start;           /* this attempt began, us */
    uint64_t        due;               /* reconnect due, us */
    uint64_t        open_wall;         /* epoch us of the last 101 */
    char           *in;                /* partial input kept between reads */
    uint32_t        in_len;
    uint32_t        in_cap;
    char           *out;               /* output not yet written */
    uint32_t        out_len;
    uint32_t        out_off;
    char            key[28];           /* Sec-WebSocket-Key */
    char            epoch[WL_EPOCH_LEN];
    char            id[WL_ID_LEN];
    wl_conn_rec_t  *rec;
} wl_conn_t;


typedef struct {
    unsigned         proc;
    unsigned         lo;
    unsigned         hi;
    int              ep;
    wl_conn_t       *conns;
    unsigned         nconns;
    unsigned         next_first;       /* next connection never started */
    unsigned         inflight;
    uint64_t         t0;
    uint64_t         last_scan;
    unsigned        *heap;             /* reconnect queue, by due time */
    unsigned         heap_len;
    unsigned         first_ended;
    unsigned char   *rbuf;
    char            *req;
    wl_proc_stats_t *st;
    uint64_t         now_wall;         /* taken once per read */
    unsigned         rand_state;
} wl_worker_t;


static void wl_start(wl_worker_t *w, wl_conn_t *c);
static void wl_on_connected(wl_worker_t *w, wl_conn_t *c);
static void wl_on_readable(wl_worker_t *w, wl_conn_t *c);
static int wl_handshake(wl_worker_t *w, wl_conn_t *c, const char *p,
    size_t len);
static int wl_frames(wl_worker_t *w, wl_conn_t *c, unsigned char *p,
    size_t len, size_t *used);
static void wl_message(wl_worker_t *w, wl_conn_t *c, const char *p,
    size_t len, size_t framelen);
static void wl_send(wl_worker_t *w, wl_conn_t *c, const char *p, size_t len);
static void wl_send_frame(wl_worker_t *w, wl_conn_t *c, unsigned op,
    const unsigned char *p, size_t len);
static void wl_flush(wl_worker_t *w, wl_conn_t *c);
static void wl_close(wl_worker_t *w, wl_conn_t *c, unsigned retry_after);
static void wl_heap_push(wl_worker_t *w, unsigned i);
static unsigned wl_heap_pop(wl_worker_t *w);
static void wl_count_close(wl_worker_t *w, unsigned code);
static unsigned wl_rand(wl_worker_t *w);
static int wl_build_request(wl_worker_t *w, wl_conn_t *c);


uint64_t
wl_now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


uint64_t
wl_wall_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


int
wl_worker_run(unsigned proc, unsigned lo, unsigned hi)
{
    int                  n, i, timeout;
    double               allowed;
    uint64_t             now;
    unsigned             k, target;
    wl_conn_t           *c;
    wl_worker_t          worker, *w;
    struct epoll_event   evs[WL_EVENTS];

    w = &worker;
    memset(w, 0, sizeof(wl_worker_t));

    w->proc = proc;
    w->lo = lo;
    w->hi = hi;
    w->nconns = hi - lo;
    w->st = &wl_shared->proc[proc];
    w->st->ev_min = UINT64_MAX;
    w->rand_state = (unsigned) (getpid() ^ wl_now_us());

    w->ep = epoll_create1(0);
    w->conns = calloc(w->nconns, sizeof(wl_conn_t));
    w->heap = calloc(w->nconns, sizeof(unsigned));
    w->rbuf = malloc(WL_READ_BUF);
    w->req = malloc(WL_REQ_BUF);

    if (w->ep == -1 || w->conns == NULL || w->heap == NULL
        || w->rbuf == NULL || w->req == NULL)
    {
        perror("wsload: worker init");
        return 1;
    }

    for (k = 0; k < w->nconns; k++) {
        c = &w->conns[k];
        c->fd = -1;
        c->idx = lo + k;
        c->account = (lo + k) % wl_conf.accounts;
        c->rec = &wl_shared->conn[lo + k];
        c->rec->account = c->account;
    }

    target = w->nconns;
    w->t0 = wl_now_us();
    w->st->first_attempt_us = w->t0;

    while (!wl_shared->stop) {
        now = wl_now_us();

        /* first attempts, paced by the connect rate */
        if (wl_conf.rate > 0) {
            allowed = (double) (now - w->t0) * wl_conf.rate
                      / wl_conf.procs / 1e6 + 1;

        } else {
            allowed = w->nconns;
        }

        while (w->next_first < w->nconns
               && w->next_first < allowed
               && w->inflight < wl_conf.inflight)
        {
            wl_start(w, &w->conns[w->next_first++]);
        }

        /* reconnects whose time has come */
        while (w->heap_len
               && w->conns[w->heap[0]].due <= now
               && w->inflight < wl_conf.inflight)
        {
            c = &w->conns[wl_heap_pop(w)];
            w->st->reconnects++;
            wl_start(w, c);
        }

        /* handshake timeouts, checked a few times a second */
        if (now - w->last_scan > 200000) {
            w->last_scan = now;

            for (k = 0; k < w->nconns; k++) {
                c = &w->conns[k];

                if ((c->state == WL_CONNECTING || c->state == WL_HANDSHAKE)
                    && now > c->t_start
                    && now - c->t_start > wl_conf.hs_timeout * 1000ULL)
                {
                    w->st->hs_timeouts++;
                    wl_close(w, c, 0);
                }
            }
        }

        if (!w->st->ready && w->first_ended == w->nconns) {
            w->st->ready = 1;
        }

        if (w->st->live == target && w->st->all_open_us == 0) {
            w->st->all_open_us = now;
        }

        timeout = 10;

        if (w->next_first < w->nconns && wl_conf.rate > 0) {
            timeout = 1;
        }

        n = epoll_wait(w->ep, evs, WL_EVENTS, timeout);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            perror("wsload: epoll_wait");
            return 1;
        }

        for (i = 0; i < n; i++) {
            c = evs[i].data.ptr;

            if (c->fd == -1) {
                continue;
            }

            if (c->state == WL_CONNECTING) {
                if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                    wl_on_connected(w, c);
                }

                continue;
            }

            if (evs[i].events & EPOLLOUT) {
                wl_flush(w, c);

                if (c->fd == -1) {
                    continue;
                }
            }

            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                wl_on_readable(w, c);
            }
        }
    }

    w->st->done = 1;

    return 0;
}


static void
wl_start(wl_worker_t *w, wl_conn_t *c)
{
    int                  fd, one;
    struct sockaddr_in   src;
    struct epoll_event   ev;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        perror("wsload: socket");
        w->st->connect_errors++;
        wl_close(w, c, 0);
        return;
    }

    one = 1;
    (void) setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                      sizeof(int));
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(int));

    memset(&src, 0, sizeof(struct sockaddr_in));
    src.sin_family = AF_INET;
    src.sin_addr = wl_conf.addrs[c->idx % wl_conf.naddrs];

    c->fd = fd;
    c->state = WL_CONNECTING;
    c->t_start = wl_now_us();
    c->attempts++;
    c->in_len = 0;
    w->inflight++;
    w->st->attempts++;

    if (bind(fd, (struct sockaddr *) &src, sizeof(struct sockaddr_in)) == -1
        || (connect(fd, (struct sockaddr *) &wl_conf.dst,
                    sizeof(struct sockaddr_in)) == -1
            && errno != EINPROGRESS))
    {
        w->st->connect_errors++;
        wl_close(w, c, 0);
        return;
    }

    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.ptr = c;

    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
        perror("wsload: epoll_ctl");
        w->st->connect_errors++;
        wl_close(w, c, 0);
    }
}


static void
wl_on_connected(wl_worker_t *w, wl_conn_t *c)
{
    int                  err, n;
    socklen_t            len;
    struct epoll_event   ev;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err) {
        w->st->connect_errors++;
        wl_close(w, c, 0);
        return;
    }

    c->state = WL_HANDSHAKE;

    ev.events = EPOLLIN;
    ev.data.ptr = c;
    (void) epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);

    n = wl_build_request(w, c);
    if (n < 0) {
        fprintf(stderr, "wsload: request too long\n");
        wl_close(w, c, 0);
        return;
    }

    wl_send(w, c, w->req, n);
}


/*
 * Expands the claims template: %n connection number, %a account name,
 * %e expiry (now + ttl), %i issued at (now), %% a percent sign.
 */

static size_t
wl_claims(wl_conn_t *c, char *dst, size_t size)
{
    char        *p, *end, acct[64];
    time_t       now;
    const char  *t;

    now = time(NULL);
    p = dst;
    end = dst + size - 32;

    snprintf(acct, sizeof(acct), wl_conf.account_fmt, c->account);

    for (t = wl_conf.claims; *t && p < end; t++) {
        if (*t != '%' || t[1] == '\0') {
            *p++ = *t;
            continue;
        }

        switch (*++t) {
        case 'n':
            p += sprintf(p, "%u", c->idx);
            break;
        case 'a':
            p += snprintf(p, end - p, "%s", acct);
            break;
        case 'e':
            p += sprintf(p, "%lld", (long long) now + wl_conf.ttl);
            break;
        case 'i':
            p += sprintf(p, "%lld", (long long) now);
            break;
        default:
            *p++ = *t;
        }
    }

    return p - dst;
}


static int
wl_build_request(wl_worker_t *w, wl_conn_t *c)
{
    int             n;
    char           *p, *end, tok[2048], claims[1024];
    size_t          i, len;
    unsigned char   raw[16];

    tok[0] = '\0';

    if (wl_conf.ntokens) {
        snprintf(tok, sizeof(tok), "%s",
                 wl_conf.tokens[c->idx % wl_conf.ntokens]);

    } else if (wl_conf.secret) {
        len = wl_claims(c, claims, sizeof(claims));

        if (bench_jwt_hs256(tok, sizeof(tok), wl_conf.secret,
                            wl_conf.secret_len, claims, len)
            < 0)
        {
            return -1;
        }
    }

    for (i = 0; i < 16; i++) {
        raw[i] = (unsigned char) wl_rand(w);
    }

    bench_b64(c->key, raw, 16);

    p = w->req;
    end = w->req + WL_REQ_BUF;

    p += snprintf(p, end - p, "GET %s", wl_conf.path);

    if (tok[0] && wl_conf.token_in == WL_TOKEN_QUERY) {
        p += snprintf(p, end - p, "%caccess_token=%s",
                      strchr(wl_conf.path, '?') ? '&' : '?', tok);
    }

    if (c->id_len && wl_conf.since_param) {
        p += snprintf(p, end - p, "%c%s=%.*s%s%.*s",
                      (strchr(wl_conf.path, '?') || (tok[0]
                       && wl_conf.token_in == WL_TOKEN_QUERY)) ? '&' : '?',
                      wl_conf.since_param, c->epoch_len, c->epoch,
                      c->epoch_len ? ":" : "", c->id_len, c->id);
    }

    p += snprintf(p, end - p,
                  " HTTP/1.1\r\n"
                  "Host: %s\r\n"
                  "Upgrade: websocket\r\n"
                  "Connection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\n",
                  wl_conf.host, c->key);

    if (tok[0] && wl_conf.token_in == WL_TOKEN_PROTO) {
        p += snprintf(p, end - p, "Sec-WebSocket-Protocol: %s%sbearer.%s\r\n",
                      wl_conf.protocol ? wl_conf.protocol : "",
                      wl_conf.protocol ? ", " : "", tok);

    } else if (wl_conf.protocol) {
        p += snprintf(p, end - p, "Sec-WebSocket-Protocol: %s\r\n",
                      wl_conf.protocol);
    }

    if (tok[0] && wl_conf.token_in == WL_TOKEN_HEADER) {
        p += snprintf(p, end - p, "Authorization: Bearer %s\r\n", tok);
    }

    for (i = 0; i < wl_conf.nheaders; i++) {
        p += snprintf(p, end - p, "%s\r\n", wl_conf.headers[i]);
    }

    n = snprintf(p, end - p, "\r\n");

    if (p + n >= end) {
        return -1;
    }

    return (int) (p + n - w->req);
}


static void
wl_on_readable(wl_worker_t *w, wl_conn_t *c)
{
    int             r;
    ssize_t         n;
    size_t          len, off, used, rest;
    unsigned char  *data;

    do {
        n = read(c->fd, w->rbuf, WL_READ_BUF);
    } while (n == -1 && errno == EINTR);

    if (n == -1 && errno == EAGAIN) {
        return;
    }

    if (n <= 0) {
        /* EOF or reset without a close frame */
        if (c->state == WL_OPEN) {
            wl_count_close(w, 1006);

        } else if (c->state == WL_HANDSHAKE && c->in_len == 0) {
            w->st->hs_eof++;
        }

        wl_close(w, c, 0);
        return;
    }

    w->st->bytes += n;
    w->now_wall = wl_wall_us();

    if (c->state == WL_HANDSHAKE || c->in_len) {
        len = c->in_len + n;

        if (len > WL_MAX_INPUT) {
            fprintf(stderr, "wsload: connection %u: message too big\n",
                    c->idx);
            wl_close(w, c, 0);
            return;
        }

        if (len > c->in_cap) {
            c->in_cap = len < 4096 ? 4096 : len * 2;
            c->in = realloc(c->in, c->in_cap);

            if (c->in == NULL) {
                perror("wsload: realloc");
                exit(1);
            }
        }

        memcpy(c->in + c->in_len, w->rbuf, n);
        c->in_len = len;
        data = (unsigned char *) c->in;

    } else {
        data = w->rbuf;
        len = n;
    }

    off = 0;

    if (c->state == WL_HANDSHAKE) {
        r = wl_handshake(w, c, (char *) data, len);

        if (r <= 0) {
            /* incomplete (kept in c->in) or closed */
            return;
        }

        off = r;
    }

    if (wl_frames(w, c, data + off, len - off, &used) != 0) {
        return;
    }

    off += used;
    rest = len - off;

    if (rest == 0) {
        c->in_len = 0;

        if (c->in_cap > 65536 || w->nconns > 1000) {
            /* idle connections should not each hold a buffer */
            free(c->in);
            c->in = NULL;
            c->in_cap = 0;
        }

        return;
    }

    if (data == w->rbuf) {
        if (rest > c->in_cap) {
            c->in_cap = rest < 4096 ? 4096 : rest * 2;
            free(c->in);
            c->in = malloc(c->in_cap);

            if (c->in == NULL) {
                perror("wsload: malloc");
                exit(1);
            }
        }

        memcpy(c->in, data + off, rest);

    } else {
        memmove(c->in, data + off, rest);
    }

    c->in_len = rest;
}


static int
wl_header_value(const char *h, size_t hlen, const char *name, const char **v,
    size_t *vlen)
{
    size_t       nlen;
    const char  *p, *end, *eol;

    nlen = strlen(name);
    end = h + hlen;

    for (p = h; p < end; p = eol + 2) {
        eol = memmem(p, end - p, "\r\n", 2);
        if (eol == NULL) {
            return 0;
        }

        if ((size_t) (eol - p) > nlen && p[nlen] == ':'
            && strncasecmp(p, name, nlen) == 0)
        {
            p += nlen + 1;

            while (p < eol && (*p == ' ' || *p == '\t')) {
                p++;
            }

            *v = p;
            *vlen = eol - p;

            while (*vlen && (p[*vlen - 1] == ' ' || p[*vlen - 1] == '\t')) {
                (*vlen)--;
            }

            return 1;
        }
    }

    return 0;
}


/* returns the response length, 0 while incomplete, -1 when closed */

static int
wl_handshake(wl_worker_t *w, wl_conn_t *c, const char *p, size_t len)
{
    char            *end, accept[32], buf[64];
    size_t           vlen;
    unsigned         status, retry;
    const char      *v;
    unsigned char    md[SHA_DIGEST_LENGTH];
    wl_proc_stats_t *st;

    st = w->st;

    end = memmem(p, len, "\r\n\r\n", 4);

    if (end == NULL) {
        if (len > WL_MAX_RESPONSE) {
            st->bad_handshakes++;
            wl_close(w, c, 0);
            return -1;
        }

        return 0;
    }

    end += 4;

    if (len < 12 || strncmp(p, "HTTP/1.1 ", 9) != 0) {
        st->bad_handshakes++;
        wl_close(w, c, 0);
        return -1;
    }

    status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');

    if (status != 101) {
        if (status >= 400 && status < 500) {
            st->status_4xx++;

        } else if (status >= 500 && status < 600) {
            st->status_5xx++;

        } else {
            st->status_other++;
        }

        st->status_401 += (status == 401);
        st->status_429 += (status == 429);
        st->status_503 += (status == 503);

        retry = 0;

        if (wl_header_value(p, end - p, "Retry-After", &v, &vlen)) {
            retry = (unsigned) strtoul(v, NULL, 10);
        }

        wl_close(w, c, retry);
        return -1;
    }

    st->status_101++;

    vlen = snprintf(buf, sizeof(buf), "%s" WS_GUID, c->key);
    SHA1((unsigned char *) buf, vlen, md);
    bench_b64(accept, md, SHA_DIGEST_LENGTH);

    if (!wl_header_value(p, end - p, "Sec-WebSocket-Accept", &v, &vlen)
        || vlen != strlen(accept) || memcmp(v, accept, vlen) != 0)
    {
        st->bad_handshakes++;
        wl_close(w, c, 0);
        return -1;
    }

    c->state = WL_OPEN;
    c->open_wall = wl_wall_us();
    c->rec->opens++;
    w->inflight--;
    st->opened++;
    st->live++;

    if (!c->first_done) {
        c->first_done = 1;
        w->first_ended++;
        st->first_opened++;
    }

    if (st->live == w->nconns && st->drop_first_us) {
        st->full_again_us = wl_now_us();
    }

    return (int) (end - p);
}


static uint64_t
wl_number(const char *p, const char *end)
{
    uint64_t  v;

    v = 0;

    while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
    }

    return v;
}


static int
wl_frames(wl_worker_t *w, wl_conn_t *c, unsigned char *p, size_t len,
    size_t *used)
{
    size_t           off, hdr, avail;
    uint64_t         plen;
    unsigned         op, code, i;
    unsigned char   *payload;
    wl_proc_stats_t *st;

    st = w->st;
    off = 0;

    while (len - off >= 2) {
        avail = len - off;
        plen = p[off + 1] & 0x7f;
        hdr = 2;

        if (plen == 126) {
            if (avail < 4) {
                break;
            }

            plen = ((uint64_t) p[off + 2] << 8) | p[off + 3];
            hdr = 4;

        } else if (plen == 127) {
            if (avail < 10) {
                break;
            }

            plen = 0;

            for (i = 0; i < 8; i++) {
                plen = (plen << 8) | p[off + 2 + i];
            }

            hdr = 10;
        }

        if (p[off + 1] & 0x80) {
            /* a server must not mask; counted, payload left masked */
            st->bad_handshakes++;
            hdr += 4;
        }

        if (plen > WL_MAX_INPUT) {
            fprintf(stderr, "wsload: connection %u: frame too big\n", c->idx);
            wl_close(w, c, 0);
            return -1;
        }

        if (avail < hdr + plen) {
            break;
        }

        payload = p + off + hdr;
        op = p[off] & 0x0f;
        st->frames++;

        switch (op) {

        case 1:
        case 2:
            if (p[off] & 0x80) {
                wl_message(w, c, (char *) payload, plen, hdr + plen);

            } else {
                st->fragments++;
            }

            break;

        case 0:
            st->fragments++;
            break;

        case 8:
            code = plen >= 2 ? ((unsigned) payload[0] << 8) | payload[1]
                             : 1005;
            wl_count_close(w, code);
            wl_send_frame(w, c, 8, payload, plen >= 2 ? 2 : 0);

            if (c->fd != -1) {
                wl_close(w, c, 0);
            }

            return -1;

        case 9:
            st->pings++;
            wl_send_frame(w, c, 10, payload, plen < 126 ? plen : 125);

            if (c->fd == -1) {
                return -1;
            }

            break;

        default:
            break;
        }

        off += hdr + plen;
    }

    *used = off;

    return 0;
}


static void
wl_copy_string(const char *p, const char *end, char *dst, size_t size,
    uint8_t *dlen)
{
    size_t  n;

    n = 0;

    if (p < end && *p == '"') {
        p++;
    }

    while (p < end && *p != '"' && *p != ',' && *p != '}'
           && n < size - 1)
    {
        dst[n++] = *p++;
    }

    *dlen = (uint8_t) n;
}


static uint64_t
wl_max_sq(const char *p, const char *end)
{
    uint64_t     v, max;
    const char  *q;

    max = 0;

    while ((q = memmem(p, end - p, "\"sq\":", 5)) != NULL) {
        v = wl_number(q + 5, end);

        if (v > max) {
            max = v;
        }

        p = q + 5;
    }

    return max;
}


static void
wl_message(wl_worker_t *w, wl_conn_t *c, const char *p, size_t len,
    size_t framelen)
{
    const char      *q, *end;
    uint64_t         v;
    wl_proc_stats_t *st;

    st = w->st;
    end = p + len;

    if (len >= 9 && memcmp(p, "{\"type\":\"", 9) == 0) {
        q = p + 9;

        if (len >= 14 && memcmp(q, "hello", 5) == 0) {
            st->hellos++;

        } else if (len >= 14 && memcmp(q, "reset", 5) == 0) {
            if (st->resets++ == 0) {
                /* the first one says why; enough to diagnose */
                fprintf(stderr, "wsload: connection %u: %.*s\n", c->idx,
                        (int) (len < 300 ? len : 300), p);
            }

        } else if (len >= 17 && memcmp(q, "snapshot\"", 9) == 0) {
            st->snapshots++;

            /* the snapshot's "id" (before any state) is a resume point */
            q = memmem(p, len < 200 ? len : 200, "\"id\":\"", 6);

            if (q && q[6] != '"') {
                wl_copy_string(q + 5, end, c->id, WL_ID_LEN, &c->id_len);
            }

            /*
             * A first snapshot sets the sequence baseline: its newest
             * event is where this client's history starts.  After a
             * reset it does not, so events skipped by the reset count.
             */
            if (c->rec->last_sq == 0) {
                c->rec->last_sq = wl_max_sq(p, end);
            }

        } else {
            st->controls++;

            /* {"type":"epoch",...}: the account's first history began */
            if (len < 15 || memcmp(q, "epoch\"", 6) != 0) {
                return;
            }
        }

        q = memmem(p, len < 200 ? len : 200, "\"epoch\":", 8);

        if (q) {
            wl_copy_string(q + 8, end, c->epoch, WL_EPOCH_LEN, &c->epoch_len);
        }

        return;
    }

    if (len > 7 && memcmp(p, "{\"id\":\"", 7) == 0) {
        wl_copy_string(p + 6, end, c->id, WL_ID_LEN, &c->id_len);

        /*
         * State changes and region heartbeats come through the stream
         * too, {"id":"...","type":...}: a resume point, not a probe event.
         */
        q = p + 7 + c->id_len;

        if (q + 10 < end && memcmp(q, "\",\"type\":", 9) == 0) {
            st->stream_controls++;
            return;
        }
    }

    st->events++;
    st->ev_bytes += framelen;

    if (framelen < st->ev_min) {
        st->ev_min = framelen;
    }

    if (framelen > st->ev_max) {
        st->ev_max = framelen;
    }

    c->rec->events++;

    /* bench fields, added last by the bench publisher */

    q = memmem(p, len, "\"ax\":", 5);

    if (q && wl_number(q + 5, end) != c->account) {
        st->cross++;
    }

    q = memmem(p, len, "\"sq\":", 5);

    if (q) {
        v = wl_number(q + 5, end);

        if (c->rec->last_sq == 0 && !wl_conf.strict_seq) {
            /* the first event seen sets the baseline */

        } else if (v > c->rec->last_sq + 1) {
            st->gaps += v - c->rec->last_sq - 1;

        } else if (v <= c->rec->last_sq) {
            st->dups++;
        }

        if (v > c->rec->last_sq) {
            c->rec->last_sq = v;
        }
    }

    q = memmem(p, len, "\"pt\":", 5);

    if (q) {
        v = wl_number(q + 5, end);

        /* replayed history says nothing about live latency */
        if (v < c->open_wall) {
            st->replayed++;

        } else {
            bench_hist_add(&st->lat, w->now_wall > v ? w->now_wall - v : 0);
        }
    }
}


static void
wl_send(wl_worker_t *w, wl_conn_t *c, const char *p, size_t len)
{
    ssize_t             n;
    struct epoll_event  ev;

    n = 0;

    if (c->out_len == c->out_off) {
        do {
            n = write(c->fd, p, len);
        } while (n == -1 && errno == EINTR);

        if (n == -1) {
            if (errno != EAGAIN) {
                wl_close(w, c, 0);
                return;
            }

            n = 0;
        }

        if ((size_t) n == len) {
            return;
        }

        c->out_len = 0;
        c->out_off = 0;
    }

    c->out = realloc(c->out, c->out_len + len - n);
    if (c->out == NULL) {
        perror("wsload: realloc");
        exit(1);
    }

    memcpy(c->out + c->out_len, p + n, len - n);
    c->out_len += len - n;

    if (!c->want_out) {
        c->want_out = 1;
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.ptr = c;
        (void) epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
}


static void
wl_flush(wl_worker_t *w, wl_conn_t *c)
{
    ssize_t             n;
    struct epoll_event  ev;

    while (c->out_off < c->out_len) {
        n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            if (errno != EAGAIN) {
                wl_close(w, c, 0);
            }

            return;
        }

        c->out_off += n;
    }

    free(c->out);
    c->out = NULL;
    c->out_len = 0;
    c->out_off = 0;

    if (c->want_out) {
        c->want_out = 0;
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        (void) epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
}


/* client frames are masked (RFC 6455 5.3); payloads here are <= 125 */

static void
wl_send_frame(wl_worker_t *w, wl_conn_t *c, unsigned op,
    const unsigned char *p, size_t len)
{
    size_t         i;
    unsigned       m;
    unsigned char  frame[2 + 4 + 125], *mask;

    if (len > 125) {
        len = 125;
    }

    frame[0] = (unsigned char) (0x80 | op);
    frame[1] = (unsigned char) (0x80 | len);
    mask = frame + 2;
    m = wl_rand(w);
    memcpy(mask, &m, 4);

    for (i = 0; i < len; i++) {
        frame[6 + i] = p[i] ^ mask[i & 3];
    }

    wl_send(w, c, (char *) frame, 6 + len);
}


static void
wl_close(wl_worker_t *w, wl_conn_t *c, unsigned retry_after)
{
    uint64_t         now, delay;
    unsigned         span;
    wl_proc_stats_t *st;

    st = w->st;
    now = wl_now_us();

    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
    }

    if (c->state == WL_CONNECTING || c->state == WL_HANDSHAKE) {
        w->inflight--;
    }

    if (c->state != WL_OPEN && !c->first_done) {
        /* the first attempt failed, wherever it was */
        c->first_done = 1;
        w->first_ended++;
        st->first_failed++;

    } else if (c->state == WL_OPEN) {
        st->live--;

        if (!wl_shared->stop) {
            st->drops++;

            if (st->drop_first_us == 0) {
                st->drop_first_us = now;
            }
        }
    }

    free(c->out);
    c->out = NULL;
    c->out_len = 0;
    c->out_off = 0;
    c->want_out = 0;
    c->in_len = 0;

    if (!wl_conf.reconnect || wl_shared->stop) {
        c->state = WL_DEAD;
        return;
    }

    span = wl_conf.rc_max > wl_conf.rc_min ? wl_conf.rc_max - wl_conf.rc_min
                                            : 0;
    delay = wl_conf.rc_min + (span ? wl_rand(w) % (span + 1) : 0);

    if (retry_after && delay < retry_after * 1000ULL) {
        /* the server asked for a pause; keep jitter on top of it */
        delay = retry_after * 1000ULL + (span ? wl_rand(w) % (span + 1) : 0);
    }

    c->state = WL_WAIT;
    c->due = now + delay * 1000;
    wl_heap_push(w, c - w->conns);
}


static void
wl_count_close(wl_worker_t *w, unsigned code)
{
    unsigned  i;

    for (i = 0; i < WL_CLOSE_CODES; i++) {
        if (wl_close_codes[i] == code) {
            break;
        }
    }

    w->st->closes[i]++;
}


static void
wl_heap_push(wl_worker_t *w, unsigned i)
{
    unsigned   k, parent;
    unsigned  *h;

    h = w->heap;
    k = w->heap_len++;

    while (k > 0) {
        parent = (k - 1) / 2;

        if (w->conns[h[parent]].due <= w->conns[i].due) {
            break;
        }

        h[k] = h[parent];
        k = parent;
    }

    h[k] = i;
}


static unsigned
wl_heap_pop(wl_worker_t *w)
{
    unsigned   top, last, k, child;
    unsigned  *h;

    h = w->heap;
    top = h[0];
    last = h[--w->heap_len];
    k = 0;

    for ( ;; ) {
        child = 2 * k + 1;

        if (child >= w->heap_len) {
            break;
        }

        if (child + 1 < w->heap_len
            && w->conns[h[child + 1]].due < w->conns[h[child]].due)
        {
            child++;
        }

        if (w->conns[last].due <= w->conns[h[child]].due) {
            break;
        }

        h[k] = h[child];
        k = child;
    }

    h[k] = last;

    return top;
}


/* xorshift: keys, masks and jitter need speed, not secrecy */

static unsigned
wl_rand(wl_worker_t *w)
{
    unsigned  x;

    x = w->rand_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    w->rand_state = x;

    return x;
}
