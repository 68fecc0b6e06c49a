/* wsload: WebSocket load generator: options, worker processes, report. */

/*
 * Copyright (C) devmon authors
 */


#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "wsload.h"


typedef struct {
    uint64_t        t_us;
    wl_proc_stats_t s;
} wl_snap_t;


static void wl_usage(void);
static int wl_parse_url(const char *url);
static int wl_parse_addrs(const char *arg);
static int wl_read_file(const char *path, char **text, size_t *len);
static int wl_load_tokens(const char *path);
static void wl_merge(wl_snap_t *snap);
static void wl_report_interval(wl_snap_t *prev, unsigned n);
static void wl_report_final(wl_snap_t *base, wl_snap_t *end,
    double connect_s, double cpu_s);
static void wl_on_signal(int signo);


wl_conf_t       wl_conf;
wl_shared_t    *wl_shared;

const unsigned  wl_close_codes[WL_CLOSE_CODES] = {
    1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011, 1013,
    4001, 4008
};

static volatile sig_atomic_t  wl_interval_asked;
static volatile sig_atomic_t  wl_end_asked;


static const struct option  wl_options[] = {
    { "url",             required_argument, NULL, 'u' },
    { "conns",           required_argument, NULL, 'c' },
    { "procs",           required_argument, NULL, 'P' },
    { "bind",            required_argument, NULL, 'B' },
    { "rate",            required_argument, NULL, 'r' },
    { "inflight",        required_argument, NULL, 'i' },
    { "hold",            required_argument, NULL, 'd' },
    { "connect-timeout", required_argument, NULL, 'C' },
    { "hs-timeout",      required_argument, NULL, 'W' },
    { "tokens",          required_argument, NULL, 'T' },
    { "secret",          required_argument, NULL, 'S' },
    { "claims",          required_argument, NULL, 'J' },
    { "account-fmt",     required_argument, NULL, 'A' },
    { "accounts",        required_argument, NULL, 'a' },
    { "token-in",        required_argument, NULL, 'k' },
    { "protocol",        required_argument, NULL, 'p' },
    { "header",          required_argument, NULL, 'H' },
    { "reconnect",       no_argument,       NULL, 'R' },
    { "reconnect-min",   required_argument, NULL, 'm' },
    { "reconnect-max",   required_argument, NULL, 'M' },
    { "since-param",     required_argument, NULL, 's' },
    { "strict-seq",      no_argument,       NULL, 'X' },
    { "ready-file",      required_argument, NULL, 'F' },
    { "progress",        no_argument,       NULL, 'v' },
    { "ttl",             required_argument, NULL, 'L' },
    { "help",            no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


int
main(int argc, char **argv)
{
    int             opt, status;
    char           *text;
    size_t          len, shm_size;
    pid_t           pids[WL_MAX_PROCS], pid;
    double          elapsed, connect_s, cpu_s, last_progress;
    uint64_t        t0, now, ready_at, stop_at;
    unsigned        p, lo, hi, per, n, ready, intervals, waited;
    wl_snap_t       base, end, prev;
    struct rlimit   rl;
    struct rusage   ru;
    struct sigaction  sa;

    wl_conf.conns = 1;
    wl_conf.inflight = 512;
    wl_conf.hold = 10;
    wl_conf.connect_timeout = 120;
    wl_conf.hs_timeout = 10000;
    wl_conf.claims = "{\"sub\":\"u%n\",\"acct\":\"%a\",\"iat\":%i,\"exp\":%e}";
    wl_conf.account_fmt = "b%u";
    wl_conf.accounts = 1;
    wl_conf.token_in = WL_TOKEN_HEADER;
    wl_conf.rc_min = 100;
    wl_conf.rc_max = 1000;
    wl_conf.since_param = "since";
    wl_conf.ttl = 3600;

    while ((opt = getopt_long(argc, argv, "u:c:P:B:r:i:d:C:W:T:S:J:A:a:k:"
                              "p:H:Rm:M:s:XF:vL:h", wl_options, NULL))
           != -1)
    {
        switch (opt) {
        case 'u':
            wl_conf.url = optarg;
            break;
        case 'c':
            wl_conf.conns = (unsigned) strtoul(optarg, NULL, 10);
            break;
        case 'P':
            wl_conf.procs = (unsigned) strtoul(optarg, NULL, 10);
            break;
        case 'B':
            if (wl_parse_addrs(optarg) != 0) {
                return 2;
            }
            break;
        case 'r':
            wl_conf.rate = strtod(optarg, NULL);
            break;
        case 'i':
            wl_conf.inflight = (unsigned) strtoul(optarg, NULL, 10);
            break;
        case 'd':
            wl_conf.hold = strtod(optarg, NULL);
            break;
        case 'C':
            wl_conf.connect_timeout = strtod(optarg, NULL);
            break;
        case 'W':
            wl_conf.hs_timeout = (unsigned) strtoul(optarg, NULL, 10);
            break;
        case 'T':
            if (wl_load_tokens(optarg) != 0) {
                return 2;
            }
            break;
        case 'S':
            if (wl_read_file(optarg, &text, &len) != 0) {
                return 2;
            }

            while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) {
                len--;
            }

            wl_conf.secret = (unsigned char *) text;
            wl_conf.secret_len = len;
            break;
        case 'J':
            wl_conf.claims = optarg;
            break;
        case 'A':
            wl_conf.account_fmt = optarg;
            break;
        case 'a':
            wl_conf.accounts = (unsigned) strtoul(optarg, NULL, 10);
            break;
        case 'k':
            if (strcmp(optarg, "header") == 0) {
                wl_conf.token_in = WL_TOKEN_HEADER;
            } else if (strcmp(optarg, "proto") == 0) {
                wl_conf.token_in = WL_TOKEN_PROTO;
            } else if (strcmp(optarg, "query") == 0) {
                wl_conf.token_in = WL_TOKEN_QUERY;
            } else if (strcmp(optarg, "none") == 0) {
                wl_conf.token_in = WL_TOKEN_NONE;
            } else {
                fprintf(stderr, "wsload: --token-in: header, proto, query "
                        "or none\n");
                return 2;
            }
            break;
        case 'p':
            wl_conf.protocol = optarg;
            break;
        case 'H':
            if (wl_conf.nheaders == WL_MAX_HEADERS) {
                fprintf(stderr, "wsload: too many headers\n");
                return 2;
            }
            wl_conf.headers[wl_conf.nheaders++] = optarg;
            break;
        case 'R':
            wl_conf.reconnect = 1;
            break;
        case 'm':
            wl_conf.rc_min = (unsigned) strtoul(optarg, NULL, 10);
            break;
        case 'M':
            wl_conf.rc_max = (unsigned) strtoul(optarg, NULL, 10);
            break;
        case 's':
            wl_conf.since_param = *optarg ? optarg : NULL;
            break;
        case 'X':
            wl_conf.strict_seq = 1;
            break;
        case 'F':
            wl_conf.ready_file = optarg;
            break;
        case 'v':
            wl_conf.progress = 1;
            break;
        case 'L':
            wl_conf.ttl = (unsigned) strtoul(optarg, NULL, 10);
            break;
        default:
            wl_usage();
            return opt == 'h' ? 0 : 2;
        }
    }

    if (wl_conf.url == NULL || wl_parse_url(wl_conf.url) != 0) {
        wl_usage();
        return 2;
    }

    if (wl_conf.conns == 0 || wl_conf.accounts == 0) {
        fprintf(stderr, "wsload: --conns and --accounts must be positive\n");
        return 2;
    }

    if (wl_conf.token_in != WL_TOKEN_NONE && wl_conf.ntokens == 0
        && wl_conf.secret == NULL)
    {
        fprintf(stderr, "wsload: give --tokens FILE, --secret FILE, or "
                "--token-in none\n");
        return 2;
    }

    if (wl_conf.token_in == WL_TOKEN_NONE) {
        wl_conf.ntokens = 0;
        wl_conf.secret = NULL;
    }

    /* one process holds at most ~19,000 descriptors here */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        (void) setrlimit(RLIMIT_NOFILE, &rl);
    }

    if (wl_conf.procs == 0) {
        wl_conf.procs = (wl_conf.conns + 17999) / 18000;
    }

    if (wl_conf.procs > WL_MAX_PROCS || wl_conf.procs > wl_conf.conns) {
        fprintf(stderr, "wsload: bad --procs\n");
        return 2;
    }

    per = (wl_conf.conns + wl_conf.procs - 1) / wl_conf.procs;

    if (per + 64 > rl.rlim_cur) {
        fprintf(stderr, "wsload: %u connections per process exceed the "
                "descriptor limit %llu: raise --procs\n", per,
                (unsigned long long) rl.rlim_cur);
        return 2;
    }

    if (wl_conf.naddrs == 0) {
        /* about 28,000 ephemeral ports per source address */
        n = (wl_conf.conns + 19999) / 20000;

        for (p = 0; p < n && p < WL_MAX_ADDRS; p++) {
            wl_conf.addrs[p].s_addr = htonl(0x7f000001 + p);
        }

        wl_conf.naddrs = p;
    }

    shm_size = sizeof(wl_shared_t)
               + (size_t) wl_conf.conns * sizeof(wl_conn_rec_t);

    wl_shared = mmap(NULL, shm_size, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (wl_shared == MAP_FAILED) {
        perror("wsload: mmap");
        return 1;
    }

    memset(&sa, 0, sizeof(struct sigaction));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    sa.sa_handler = wl_on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    t0 = wl_now_us();

    for (p = 0; p < wl_conf.procs; p++) {
        lo = p * per;
        hi = lo + per < wl_conf.conns ? lo + per : wl_conf.conns;

        pid = fork();

        if (pid == -1) {
            perror("wsload: fork");
            wl_shared->stop = 1;
            return 1;
        }

        if (pid == 0) {
            sa.sa_handler = SIG_IGN;
            sigaction(SIGUSR1, &sa, NULL);
            sigaction(SIGINT, &sa, NULL);
            sa.sa_handler = SIG_DFL;
            sigaction(SIGTERM, &sa, NULL);

            _exit(wl_worker_run(p, lo, hi));
        }

        pids[p] = pid;
    }

    /* connect phase: until every first attempt has ended */

    last_progress = 0;
    ready_at = 0;

    for ( ;; ) {
        usleep(20000);
        now = wl_now_us();
        elapsed = (double) (now - t0) / 1e6;

        ready = 0;

        for (p = 0; p < wl_conf.procs; p++) {
            ready += wl_shared->proc[p].ready;
        }

        if (ready == wl_conf.procs) {
            ready_at = now;
            break;
        }

        if (elapsed > wl_conf.connect_timeout || wl_end_asked) {
            fprintf(stderr, "wsload: connect phase ended after %.1f s with "
                    "%u of %u processes done\n", elapsed, ready,
                    wl_conf.procs);
            ready_at = now;
            break;
        }

        if (wl_conf.progress && elapsed - last_progress >= 1.0) {
            last_progress = elapsed;
            wl_merge(&end);
            fprintf(stderr, "wsload: %.0f s: %llu open, %llu failed\n",
                    elapsed, (unsigned long long) end.s.live,
                    (unsigned long long) end.s.first_failed);
        }
    }

    wl_merge(&base);

    /* handshakes end when the last one did, not when we noticed */
    connect_s = (double) (ready_at - t0) / 1e6;

    if (base.s.all_open_us > t0) {
        connect_s = (double) (base.s.all_open_us - t0) / 1e6;
    }

    if (wl_conf.ready_file) {
        FILE  *f = fopen(wl_conf.ready_file, "w");

        if (f) {
            fprintf(f, "%llu\n", (unsigned long long) base.s.live);
            fclose(f);
        }
    }

    fprintf(stderr, "wsload: %llu of %u open after %.2f s\n",
            (unsigned long long) base.s.live, wl_conf.conns, connect_s);

    /* hold phase: interval reports on SIGUSR1, ends early on SIGTERM */

    prev = base;
    intervals = 0;
    stop_at = ready_at + (uint64_t) (wl_conf.hold * 1e6);
    last_progress = 0;

    while (!wl_end_asked && wl_now_us() < stop_at) {
        usleep(10000);

        if (wl_interval_asked) {
            wl_interval_asked = 0;
            wl_report_interval(&prev, ++intervals);
        }

        if (wl_conf.progress) {
            elapsed = (double) (wl_now_us() - ready_at) / 1e6;

            if (elapsed - last_progress >= 1.0) {
                last_progress = elapsed;
                wl_merge(&end);
                fprintf(stderr, "wsload: hold %.0f s: %llu live, %llu "
                        "events, %llu drops\n", elapsed,
                        (unsigned long long) end.s.live,
                        (unsigned long long) end.s.events,
                        (unsigned long long) end.s.drops);
            }
        }
    }

    wl_merge(&end);
    wl_shared->stop = 1;

    cpu_s = 0;

    for (p = 0; p < wl_conf.procs; p++) {
        for (waited = 0; waited < 500; waited++) {
            pid = wait4(pids[p], &status, WNOHANG, &ru);

            if (pid == pids[p] || (pid == -1 && errno != EINTR)) {
                break;
            }

            usleep(10000);
        }

        if (pid != pids[p]) {
            kill(pids[p], SIGKILL);
            pid = wait4(pids[p], &status, 0, &ru);
        }

        if (pid == pids[p]) {
            cpu_s += ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
                     + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
        }
    }

    wl_report_final(&base, &end, connect_s, cpu_s);

    return 0;
}


static void
wl_usage(void)
{
    fprintf(stderr,
        "usage: wsload -u ws://127.0.0.1:PORT/PATH[?QUERY] [options]\n"
        "  -c, --conns N           connections (default 1)\n"
        "  -P, --procs N           processes (default: one per 18,000)\n"
        "  -B, --bind ADDRS        source addresses: 127.0.0.2-9 or a,b,c\n"
        "  -r, --rate N            new connections per second (0: no pacing)\n"
        "  -i, --inflight N        handshakes in flight per process (512)\n"
        "  -d, --hold S            seconds to hold once all are open (10)\n"
        "  -C, --connect-timeout S bound on the connect phase (120)\n"
        "  -W, --hs-timeout MS     one handshake's bound (10000)\n"
        "  -T, --tokens FILE       one token per line, line i%%n for conn i\n"
        "  -S, --secret FILE       mint HS256 tokens with this key\n"
        "  -J, --claims TEMPLATE   claims; %%n conn, %%a account, %%e exp, "
        "%%i iat\n"
        "                          (default {\"sub\":\"u%%n\","
        "\"acct\":\"%%a\",\"iat\":%%i,\"exp\":%%e})\n"
        "  -A, --account-fmt FMT   account name from its number (b%%u)\n"
        "  -a, --accounts N        conn i belongs to account i %% N (1)\n"
        "  -k, --token-in WHERE    header | proto | query | none (header)\n"
        "  -p, --protocol LIST     Sec-WebSocket-Protocol value\n"
        "  -H, --header 'N: V'     extra request header (repeatable)\n"
        "  -R, --reconnect         reconnect after a drop, resuming with "
        "since=\n"
        "  -m, --reconnect-min MS  reconnect delay, uniform in [min,max]\n"
        "  -M, --reconnect-max MS  (100, 1000)\n"
        "  -s, --since-param NAME  resume argument name (since; '' none)\n"
        "  -X, --strict-seq        sequence numbers start at 1: count the "
        "missed head\n"
        "  -F, --ready-file PATH   written once the connect phase ends\n"
        "  -v, --progress          progress on stderr every second\n"
        "  -L, --ttl S             minted token lifetime (3600)\n"
        "SIGUSR1 prints an interval report; SIGTERM ends the hold early.\n"
        "stdout: JSON lines; stderr: human text.\n");
}


static int
wl_parse_url(const char *url)
{
    char        host[40];
    size_t      n;
    unsigned    port;
    const char *p, *colon, *slash;

    if (strncmp(url, "ws://", 5) != 0) {
        fprintf(stderr, "wsload: only ws:// URLs\n");
        return -1;
    }

    p = url + 5;
    slash = strchr(p, '/');
    if (slash == NULL) {
        slash = p + strlen(p);
    }

    colon = memchr(p, ':', slash - p);
    n = (colon ? colon : slash) - p;

    if (n == 0 || n >= sizeof(host)) {
        return -1;
    }

    memcpy(host, p, n);
    host[n] = '\0';
    port = colon ? (unsigned) strtoul(colon + 1, NULL, 10) : 80;

    memset(&wl_conf.dst, 0, sizeof(struct sockaddr_in));
    wl_conf.dst.sin_family = AF_INET;
    wl_conf.dst.sin_port = htons(port);

    if (inet_pton(AF_INET, host, &wl_conf.dst.sin_addr) != 1
        || (ntohl(wl_conf.dst.sin_addr.s_addr) >> 24) != 127)
    {
        fprintf(stderr, "wsload: the host must be a 127.x.x.x address\n");
        return -1;
    }

    snprintf(wl_conf.host, sizeof(wl_conf.host), "%s:%u", host, port);
    wl_conf.path = *slash ? (char *) slash : "/";

    return 0;
}


static int
wl_parse_addrs(const char *arg)
{
    char            buf[256], *tok, *save, *dash;
    unsigned        last, i;
    struct in_addr  a;

    snprintf(buf, sizeof(buf), "%s", arg);

    for (tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
    {
        dash = strchr(tok, '-');
        last = 0;

        if (dash) {
            *dash = '\0';
            last = (unsigned) strtoul(dash + 1, NULL, 10);
        }

        if (inet_pton(AF_INET, tok, &a) != 1
            || (ntohl(a.s_addr) >> 24) != 127)
        {
            fprintf(stderr, "wsload: source addresses must be 127.x.x.x\n");
            return -1;
        }

        if (!dash) {
            last = ntohl(a.s_addr) & 0xff;
        }

        for (i = ntohl(a.s_addr) & 0xff; i <= last && i < 256; i++) {
            if (wl_conf.naddrs == WL_MAX_ADDRS) {
                fprintf(stderr, "wsload: too many source addresses\n");
                return -1;
            }

            wl_conf.addrs[wl_conf.naddrs++].s_addr =
                htonl((ntohl(a.s_addr) & 0xffffff00) | i);
        }
    }

    return wl_conf.naddrs ? 0 : -1;
}


static int
wl_read_file(const char *path, char **text, size_t *len)
{
    FILE    *f;
    long     size;

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "wsload: %s: %s\n", path, strerror(errno));
        return -1;
    }

    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);

    *text = malloc(size + 1);
    if (*text == NULL || fread(*text, 1, size, f) != (size_t) size) {
        fprintf(stderr, "wsload: %s: cannot read\n", path);
        fclose(f);
        return -1;
    }

    (*text)[size] = '\0';
    *len = size;
    fclose(f);

    return 0;
}


static int
wl_load_tokens(const char *path)
{
    char     *text, *line, *save;
    size_t    len, n;

    if (wl_read_file(path, &text, &len) != 0) {
        return -1;
    }

    n = 1;

    for (line = text; *line; line++) {
        n += (*line == '\n');
    }

    wl_conf.tokens = calloc(n, sizeof(char *));
    if (wl_conf.tokens == NULL) {
        return -1;
    }

    for (line = strtok_r(text, "\r\n", &save); line;
         line = strtok_r(NULL, "\r\n", &save))
    {
        wl_conf.tokens[wl_conf.ntokens++] = line;
    }

    if (wl_conf.ntokens == 0) {
        fprintf(stderr, "wsload: %s: no tokens\n", path);
        return -1;
    }

    return 0;
}


/* sums the per-process counters; times take the earliest or the latest */

static void
wl_merge(wl_snap_t *snap)
{
    unsigned          p, i, nfields;
    uint64_t         *to;
    const uint64_t   *from;
    wl_proc_stats_t  *s, *st;

    s = &snap->s;
    memset(snap, 0, sizeof(wl_snap_t));
    snap->t_us = wl_now_us();
    s->ev_min = UINT64_MAX;

    nfields = (offsetof(wl_proc_stats_t, ev_min)
               - offsetof(wl_proc_stats_t, attempts)) / sizeof(uint64_t);

    for (p = 0; p < wl_conf.procs; p++) {
        st = &wl_shared->proc[p];

        s->live += st->live;
        s->ready += st->ready;

        to = &s->attempts;
        from = &st->attempts;

        for (i = 0; i < nfields; i++) {
            to[i] += from[i];
        }

        if (st->ev_min < s->ev_min) {
            s->ev_min = st->ev_min;
        }

        if (st->ev_max > s->ev_max) {
            s->ev_max = st->ev_max;
        }

        /* all open only once every process is */
        if (st->all_open_us == 0) {
            s->all_open_us = UINT64_MAX;

        } else if (st->all_open_us > s->all_open_us) {
            s->all_open_us = st->all_open_us;
        }

        if (st->drop_first_us
            && (s->drop_first_us == 0 || st->drop_first_us < s->drop_first_us))
        {
            s->drop_first_us = st->drop_first_us;
        }

        if (st->full_again_us > s->full_again_us) {
            s->full_again_us = st->full_again_us;
        }

        bench_hist_merge(&s->lat, &st->lat);
    }

    if (s->all_open_us == UINT64_MAX) {
        s->all_open_us = 0;
    }
}


static void
wl_report_interval(wl_snap_t *prev, unsigned n)
{
    double           dt;
    wl_snap_t        cur;
    bench_hist_t     lat;

    wl_merge(&cur);

    dt = (double) (cur.t_us - prev->t_us) / 1e6;
    if (dt <= 0) {
        dt = 1e-6;
    }

    bench_hist_sub(&lat, &cur.s.lat, &prev->s.lat);

    printf("{\"interval\":%u,\"secs\":%.3f,\"live\":%llu,\"frames\":%llu,"
           "\"frames_s\":%.0f,\"bytes_s\":%.0f,\"events\":%llu,"
           "\"events_s\":%.0f,\"gaps\":%llu,\"dups\":%llu,\"cross\":%llu,"
           "\"drops\":%llu,",
           n, dt, (unsigned long long) cur.s.live,
           (unsigned long long) (cur.s.frames - prev->s.frames),
           (cur.s.frames - prev->s.frames) / dt,
           (cur.s.bytes - prev->s.bytes) / dt,
           (unsigned long long) (cur.s.events - prev->s.events),
           (cur.s.events - prev->s.events) / dt,
           (unsigned long long) (cur.s.gaps - prev->s.gaps),
           (unsigned long long) (cur.s.dups - prev->s.dups),
           (unsigned long long) (cur.s.cross - prev->s.cross),
           (unsigned long long) (cur.s.drops - prev->s.drops));
    bench_hist_json(stdout, "lat_us", &lat);
    printf("}\n");
    fflush(stdout);

    fprintf(stderr, "wsload: interval %u: %.2f s, %.0f frames/s, latency "
            "us p50 %llu p99 %llu max %llu\n", n, dt,
            (cur.s.frames - prev->s.frames) / dt,
            (unsigned long long) bench_hist_pct(&lat, 50),
            (unsigned long long) bench_hist_pct(&lat, 99),
            (unsigned long long) lat.max);

    *prev = cur;
}


static void
wl_report_final(wl_snap_t *base, wl_snap_t *end, double connect_s,
    double cpu_s)
{
    double            dt, recovery_ms, hs_s;
    unsigned          i, a, never;
    uint64_t         *amax, tail, sum;
    bench_hist_t      lat;
    wl_conn_rec_t    *r;
    wl_proc_stats_t  *b, *e;

    b = &base->s;
    e = &end->s;

    dt = (double) (end->t_us - base->t_us) / 1e6;
    if (dt <= 0) {
        dt = 1e-6;
    }

    bench_hist_sub(&lat, &e->lat, &b->lat);

    /* events each connection missed at the end of its account's stream */
    amax = calloc(wl_conf.accounts, sizeof(uint64_t));
    tail = 0;
    never = 0;

    if (amax) {
        for (i = 0; i < wl_conf.conns; i++) {
            r = &wl_shared->conn[i];

            if (r->last_sq > amax[r->account]) {
                amax[r->account] = r->last_sq;
            }
        }

        for (i = 0; i < wl_conf.conns; i++) {
            r = &wl_shared->conn[i];

            if (r->opens == 0) {
                never++;
                continue;
            }

            tail += amax[r->account] - r->last_sq;
        }
    }

    recovery_ms = -1;

    if (e->drop_first_us) {
        recovery_ms = e->full_again_us > e->drop_first_us
                      && e->live == wl_conf.conns
                      ? (double) (e->full_again_us - e->drop_first_us) / 1e3
                      : -1;
    }

    hs_s = connect_s > 0 ? b->first_opened / connect_s : 0;

    printf("{\"conns\":%u,\"procs\":%u,\"addrs\":%u,\"opened_first\":%llu,"
           "\"failed_first\":%llu,\"never_opened\":%u,\"connect_s\":%.3f,"
           "\"handshakes_s\":%.0f,\"hold_s\":%.3f,\"live_end\":%llu,"
           "\"frames\":%llu,\"frames_s\":%.0f,\"bytes_s\":%.0f,"
           "\"events\":%llu,\"events_s\":%.0f,\"controls\":%llu,"
           "\"stream_controls\":%llu,"
           "\"replayed\":%llu,\"hellos\":%llu,\"snapshots\":%llu,"
           "\"resets\":%llu,"
           "\"pings\":%llu,\"fragments\":%llu,",
           wl_conf.conns, wl_conf.procs, wl_conf.naddrs,
           (unsigned long long) e->first_opened,
           (unsigned long long) e->first_failed, never, connect_s, hs_s, dt,
           (unsigned long long) e->live,
           (unsigned long long) (e->frames - b->frames),
           (e->frames - b->frames) / dt, (e->bytes - b->bytes) / dt,
           (unsigned long long) (e->events - b->events),
           (e->events - b->events) / dt,
           (unsigned long long) e->controls,
           (unsigned long long) e->stream_controls,
           (unsigned long long) e->replayed,
           (unsigned long long) e->hellos,
           (unsigned long long) e->snapshots,
           (unsigned long long) e->resets,
           (unsigned long long) e->pings,
           (unsigned long long) e->fragments);

    printf("\"attempts\":%llu,\"opened\":%llu,\"reconnects\":%llu,"
           "\"drops\":%llu,\"connect_errors\":%llu,\"hs_timeouts\":%llu,"
           "\"bad_handshakes\":%llu,\"hs_eof\":%llu,"
           "\"status\":{\"101\":%llu,\"4xx\":%llu,"
           "\"401\":%llu,\"429\":%llu,\"5xx\":%llu,\"503\":%llu,"
           "\"other\":%llu},\"closes\":{",
           (unsigned long long) e->attempts,
           (unsigned long long) e->opened,
           (unsigned long long) e->reconnects,
           (unsigned long long) e->drops,
           (unsigned long long) e->connect_errors,
           (unsigned long long) e->hs_timeouts,
           (unsigned long long) e->bad_handshakes,
           (unsigned long long) e->hs_eof,
           (unsigned long long) e->status_101,
           (unsigned long long) e->status_4xx,
           (unsigned long long) e->status_401,
           (unsigned long long) e->status_429,
           (unsigned long long) e->status_5xx,
           (unsigned long long) e->status_503,
           (unsigned long long) e->status_other);

    for (i = 0; i < WL_CLOSE_CODES; i++) {
        printf("\"%u\":%llu,", wl_close_codes[i],
               (unsigned long long) e->closes[i]);
    }

    printf("\"other\":%llu},\"gaps\":%llu,\"dups\":%llu,\"cross\":%llu,"
           "\"tail_missing\":%llu,\"recovery_ms\":%.1f,",
           (unsigned long long) e->closes[WL_CLOSE_CODES],
           (unsigned long long) e->gaps, (unsigned long long) e->dups,
           (unsigned long long) e->cross, (unsigned long long) tail,
           recovery_ms);

    sum = 0;

    for (a = 0; amax && a < wl_conf.accounts; a++) {
        sum += amax[a];
    }

    printf("\"sq_max_sum\":%llu,", (unsigned long long) sum);

    printf("\"ev_frame_bytes\":{\"min\":%llu,\"max\":%llu,\"mean\":%.1f},"
           "\"cpu_s\":%.2f,",
           (unsigned long long) (e->events ? e->ev_min : 0),
           (unsigned long long) e->ev_max,
           e->events ? (double) e->ev_bytes / e->events : 0.0, cpu_s);
    bench_hist_json(stdout, "lat_us", &lat);
    printf("}\n");
    fflush(stdout);

    fprintf(stderr,
            "wsload: %u conns in %u procs: %llu opened first time, %llu "
            "failed, %.2f s to connect (%.0f handshakes/s)\n"
            "wsload: hold %.1f s: %.0f frames/s, %.0f bytes/s, %llu events; "
            "latency us p50 %llu p90 %llu p99 %llu p99.9 %llu max %llu\n"
            "wsload: drops %llu, reconnects %llu, 5xx %llu, gaps %llu, "
            "dups %llu, cross-account %llu, tail missing %llu, "
            "recovery %.1f ms, cpu %.2f s\n",
            wl_conf.conns, wl_conf.procs,
            (unsigned long long) e->first_opened,
            (unsigned long long) e->first_failed, connect_s, hs_s, dt,
            (e->frames - b->frames) / dt, (e->bytes - b->bytes) / dt,
            (unsigned long long) (e->events - b->events),
            (unsigned long long) bench_hist_pct(&lat, 50),
            (unsigned long long) bench_hist_pct(&lat, 90),
            (unsigned long long) bench_hist_pct(&lat, 99),
            (unsigned long long) bench_hist_pct(&lat, 99.9),
            (unsigned long long) lat.max,
            (unsigned long long) e->drops,
            (unsigned long long) e->reconnects,
            (unsigned long long) e->status_5xx,
            (unsigned long long) e->gaps, (unsigned long long) e->dups,
            (unsigned long long) e->cross, (unsigned long long) tail,
            recovery_ms, cpu_s);

    free(amax);
}


static void
wl_on_signal(int signo)
{
    if (signo == SIGUSR1) {
        wl_interval_asked = 1;

    } else {
        wl_end_asked = 1;
    }
}
