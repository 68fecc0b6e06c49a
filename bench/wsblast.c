/* wsblast: test-only WebSocket broadcaster that measures wsload's ceiling. */

/*
 * Copyright (C) devmon authors
 */


/*
 * Accepts WebSocket clients on 127.0.0.1:PORT (no auth), then sends every
 * client the same event frame RATE times a second for SECS seconds, with
 * "sq" and "pt" like the bench publisher.  It does nothing else, so
 * wsload's frames/s against it is the most wsload can measure here.
 *
 *   wsblast PORT RATE SECS [START_AFTER_S [PROCS]]
 *
 * With PROCS > 1 it forks: each process has its own SO_REUSEPORT listener,
 * clients and send loop (as nginx's workers would), and prints its own
 * report line.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <openssl/sha.h>

#include "bench_jwt.h"


#define WB_MAX_CONNS  65536


typedef struct {
    int       fd;
    int       open;
    size_t    len;
    char      buf[1024];
} wb_conn_t;


static uint64_t wb_us(int clock);
static void wb_accept(int lfd, int ep);
static void wb_read(wb_conn_t *c);


static wb_conn_t  *wb_conns[WB_MAX_CONNS];
static int         wb_open[WB_MAX_CONNS];
static unsigned    wb_nopen;


int
main(int argc, char **argv)
{
    int                  lfd, ep, n, i, one, port, procs, parent;
    char                 batch[65536], *payload;
    double               rate, secs, after;
    size_t               plen, blen;
    uint64_t             t0, now, sent, due, short_writes, end, writes;
    unsigned             k;
    ssize_t              w;
    struct rlimit        rl;
    struct sockaddr_in   sin;
    struct epoll_event   ev, evs[256];

    if (argc < 4) {
        fprintf(stderr, "usage: wsblast PORT RATE SECS "
                "[START_AFTER_S [PROCS]]\n");
        return 2;
    }

    port = atoi(argv[1]);
    rate = strtod(argv[2], NULL);
    secs = strtod(argv[3], NULL);
    after = argc > 4 ? strtod(argv[4], NULL) : 3;
    procs = argc > 5 ? atoi(argv[5]) : 1;

    /* one clock for every process: they start sending together */
    t0 = wb_us(CLOCK_MONOTONIC);

    parent = 1;

    for (i = 1; i < procs; i++) {
        if (fork() == 0) {
            parent = 0;
            break;
        }
    }

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        (void) setrlimit(RLIMIT_NOFILE, &rl);
    }

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(int));
    setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(int));

    memset(&sin, 0, sizeof(struct sockaddr_in));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (bind(lfd, (struct sockaddr *) &sin, sizeof(sin)) == -1
        || listen(lfd, 65535) == -1)
    {
        perror("wsblast: listen");
        return 1;
    }

    ep = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

    end = t0 + (uint64_t) ((after + secs) * 1e6);
    sent = 0;
    short_writes = 0;
    writes = 0;

    while ((now = wb_us(CLOCK_MONOTONIC)) < end) {
        n = epoll_wait(ep, evs, 256, 1);

        for (i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                wb_accept(lfd, ep);

            } else {
                wb_read(evs[i].data.ptr);
            }
        }

        if (now < t0 + (uint64_t) (after * 1e6)) {
            continue;
        }

        due = (uint64_t) ((double) (now - t0 - (uint64_t) (after * 1e6))
                          * rate / 1e6);

        /* every frame due now goes to each client in one write */
        blen = 0;

        while (sent < due && blen + 256 < sizeof(batch)) {
            sent++;

            payload = batch + blen + 2;
            plen = sprintf(payload, "{\"id\":\"%llu-0\",\"d\":\"dev1\","
                           "\"r\":\"fra\",\"k\":\"icmp\",\"st\":\"up\","
                           "\"ax\":0,\"sq\":%llu,\"pt\":%llu}",
                           (unsigned long long) sent,
                           (unsigned long long) sent,
                           (unsigned long long) wb_us(CLOCK_REALTIME));
            batch[blen] = (char) 0x81;
            batch[blen + 1] = (char) plen;
            blen += plen + 2;
        }

        if (blen == 0) {
            continue;
        }

        writes++;

        for (k = 0; k < wb_nopen; k++) {
            w = send(wb_open[k], batch, blen, MSG_NOSIGNAL);

            if (w != (ssize_t) blen) {
                short_writes++;
            }
        }
    }

    printf("{\"clients\":%u,\"events\":%llu,\"frames\":%llu,"
           "\"writes_per_client\":%llu,\"short_writes\":%llu}\n", wb_nopen,
           (unsigned long long) sent,
           (unsigned long long) sent * wb_nopen,
           (unsigned long long) writes,
           (unsigned long long) short_writes);
    fflush(stdout);

    if (parent) {
        while (wait(NULL) > 0) {
            /* the reports of all processes are out when the parent exits */
        }
    }

    return 0;
}


static uint64_t
wb_us(int clock)
{
    struct timespec  ts;

    clock_gettime(clock, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static void
wb_accept(int lfd, int ep)
{
    int                  fd, one;
    wb_conn_t           *c;
    struct epoll_event   ev;

    for ( ;; ) {
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        if (fd == -1) {
            return;
        }

        if (fd >= WB_MAX_CONNS) {
            close(fd);
            continue;
        }

        one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(int));

        c = calloc(1, sizeof(wb_conn_t));
        c->fd = fd;
        wb_conns[fd] = c;

        ev.events = EPOLLIN;
        ev.data.ptr = c;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
}


static void
wb_read(wb_conn_t *c)
{
    char           *key, *eol, accept[64], resp[256], kbuf[128];
    ssize_t         n;
    unsigned char   md[SHA_DIGEST_LENGTH];

    n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);

    if (n <= 0) {
        if (n == -1 && errno == EAGAIN) {
            return;
        }

        /* closed: left in the open list, writes to it just fail */
        return;
    }

    if (c->open) {
        return;
    }

    c->len += n;
    c->buf[c->len] = '\0';

    if (strstr(c->buf, "\r\n\r\n") == NULL) {
        return;
    }

    key = strcasestr(c->buf, "Sec-WebSocket-Key:");
    if (key == NULL) {
        close(c->fd);
        return;
    }

    key += 18;
    while (*key == ' ') {
        key++;
    }

    eol = strstr(key, "\r\n");
    snprintf(kbuf, sizeof(kbuf), "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
             (int) (eol - key), key);
    SHA1((unsigned char *) kbuf, strlen(kbuf), md);
    bench_b64(accept, md, SHA_DIGEST_LENGTH);

    n = snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n\r\n", accept);

    if (write(c->fd, resp, n) == n) {
        c->open = 1;
        wb_open[wb_nopen++] = c->fd;
    }
}
