/* publish: paced, pipelined bench publisher driving probed/publish.lua. */

/*
 * Copyright (C) devmon authors
 */


#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "bench_hist.h"


#define PUB_MAX_BATCH  4096


typedef struct {
    char           *host;
    int             port;
    char           *socket;
    char           *script_path;
    unsigned        accounts;
    char           *account_fmt;
    unsigned        devices;
    double          rate;
    double          duration;
    uint64_t        count;
    unsigned        maxlen;
    unsigned        batch;
    int             plain;
    char           *seq_file;
    char           *region;
} pub_conf_t;


typedef struct {
    redisContext   *rc;
    char           *script;
    size_t          script_len;
    char            sha[41];
    uint64_t       *seq;               /* last sequence number per account */
    uint64_t        published;
    uint64_t        errors;
    uint64_t        noscript;
    uint64_t        max_lag;           /* behind schedule, us */
    bench_hist_t    rtt;               /* batch round trip per event, us */
} pub_t;


static int pub_load_script(pub_t *pub);
static int pub_send_batch(pub_t *pub, uint64_t first, unsigned n);
static void pub_build(pub_t *pub, uint64_t i, uint64_t seq, uint64_t pt,
    char *buf, const char **av, size_t *al);
static void pub_seq_load(pub_t *pub);
static void pub_seq_save(pub_t *pub);
static uint64_t pub_mono_us(void);
static uint64_t pub_wall_us(void);
static void pub_usage(void);


static pub_conf_t  pub_conf;


static const struct option  pub_options[] = {
    { "host",        required_argument, NULL, 'h' },
    { "port",        required_argument, NULL, 'p' },
    { "socket",      required_argument, NULL, 's' },
    { "script",      required_argument, NULL, 'L' },
    { "accounts",    required_argument, NULL, 'a' },
    { "account-fmt", required_argument, NULL, 'A' },
    { "devices",     required_argument, NULL, 'D' },
    { "rate",        required_argument, NULL, 'r' },
    { "duration",    required_argument, NULL, 'd' },
    { "count",       required_argument, NULL, 'n' },
    { "maxlen",      required_argument, NULL, 'm' },
    { "batch",       required_argument, NULL, 'b' },
    { "plain",       no_argument,       NULL, 'P' },
    { "seq-file",    required_argument, NULL, 'q' },
    { "region",      required_argument, NULL, 'g' },
    { "help",        no_argument,       NULL, '?' },
    { NULL, 0, NULL, 0 }
};


int
main(int argc, char **argv)
{
    int              opt;
    double           secs;
    uint64_t         t0, now, due, sent, total, sched, end;
    unsigned         n;
    pub_t            pub;
    struct timespec  ts;

    pub_conf.host = "127.0.0.1";
    pub_conf.port = 6379;
    pub_conf.accounts = 1;
    pub_conf.account_fmt = "b%u";
    pub_conf.devices = 10;
    pub_conf.rate = 100;
    pub_conf.duration = 5;
    pub_conf.maxlen = 10000;
    pub_conf.batch = 512;
    pub_conf.region = "fra";

    while ((opt = getopt_long(argc, argv, "h:p:s:L:a:A:D:r:d:n:m:b:Pq:g:",
                              pub_options, NULL))
           != -1)
    {
        switch (opt) {
        case 'h':
            pub_conf.host = optarg;
            break;
        case 'p':
            pub_conf.port = atoi(optarg);
            break;
        case 's':
            pub_conf.socket = optarg;
            break;
        case 'L':
            pub_conf.script_path = optarg;
            break;
        case 'a':
            pub_conf.accounts = (unsigned) strtoul(optarg, NULL, 10);
            break;
        case 'A':
            pub_conf.account_fmt = optarg;
            break;
        case 'D':
            pub_conf.devices = (unsigned) strtoul(optarg, NULL, 10);
            break;
        case 'r':
            pub_conf.rate = strtod(optarg, NULL);
            break;
        case 'd':
            pub_conf.duration = strtod(optarg, NULL);
            break;
        case 'n':
            pub_conf.count = strtoull(optarg, NULL, 10);
            break;
        case 'm':
            pub_conf.maxlen = (unsigned) strtoul(optarg, NULL, 10);
            break;
        case 'b':
            pub_conf.batch = (unsigned) strtoul(optarg, NULL, 10);
            break;
        case 'P':
            pub_conf.plain = 1;
            break;
        case 'q':
            pub_conf.seq_file = optarg;
            break;
        case 'g':
            pub_conf.region = optarg;
            break;
        default:
            pub_usage();
            return 2;
        }
    }

    if (pub_conf.script_path == NULL || pub_conf.accounts == 0
        || pub_conf.devices == 0 || pub_conf.rate <= 0
        || pub_conf.batch == 0 || pub_conf.batch > PUB_MAX_BATCH)
    {
        pub_usage();
        return 2;
    }

    if (pub_conf.socket == NULL && strncmp(pub_conf.host, "127.", 4) != 0) {
        fprintf(stderr, "publish: loopback only (127.x.x.x or --socket)\n");
        return 2;
    }

    memset(&pub, 0, sizeof(pub_t));

    pub.seq = calloc(pub_conf.accounts, sizeof(uint64_t));
    if (pub.seq == NULL) {
        return 1;
    }

    pub_seq_load(&pub);

    pub.rc = pub_conf.socket ? redisConnectUnix(pub_conf.socket)
                             : redisConnect(pub_conf.host, pub_conf.port);

    if (pub.rc == NULL || pub.rc->err) {
        fprintf(stderr, "publish: redis: %s\n",
                pub.rc ? pub.rc->errstr : "cannot allocate");
        return 1;
    }

    if (pub_load_script(&pub) != 0) {
        return 1;
    }

    total = pub_conf.count ? pub_conf.count
                           : (uint64_t) (pub_conf.rate * pub_conf.duration);

    /*
     * Event i is due at t0 + i / rate.  Whatever is due is sent as one
     * pipelined batch, so a late start catches up without drifting.
     */

    t0 = pub_mono_us();
    end = t0 + (uint64_t) ((pub_conf.duration + 5) * 1e6);
    sent = 0;

    while (sent < total) {
        now = pub_mono_us();

        if (now > end) {
            fprintf(stderr, "publish: ran out of time at %llu of %llu\n",
                    (unsigned long long) sent, (unsigned long long) total);
            break;
        }

        due = (uint64_t) ((double) (now - t0) * pub_conf.rate / 1e6) + 1;

        if (due > total) {
            due = total;
        }

        if (due > sent) {
            n = due - sent > pub_conf.batch ? pub_conf.batch
                                            : (unsigned) (due - sent);

            sched = t0 + (uint64_t) ((double) sent * 1e6 / pub_conf.rate);

            if (now - sched > pub.max_lag && now > sched) {
                pub.max_lag = now - sched;
            }

            if (pub_send_batch(&pub, sent, n) != 0) {
                break;
            }

            sent += n;
            continue;
        }

        sched = t0 + (uint64_t) ((double) sent * 1e6 / pub_conf.rate);
        ts.tv_sec = sched / 1000000;
        ts.tv_nsec = (sched % 1000000) * 1000;

        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)
               == EINTR)
        {
            /* void */
        }
    }

    secs = (double) (pub_mono_us() - t0) / 1e6;

    pub_seq_save(&pub);

    printf("{\"published\":%llu,\"errors\":%llu,\"noscript\":%llu,"
           "\"rate\":%.1f,\"achieved\":%.1f,\"secs\":%.3f,\"accounts\":%u,"
           "\"max_lag_us\":%llu,",
           (unsigned long long) pub.published,
           (unsigned long long) pub.errors,
           (unsigned long long) pub.noscript, pub_conf.rate,
           secs > 0 ? pub.published / secs : 0.0, secs, pub_conf.accounts,
           (unsigned long long) pub.max_lag);
    bench_hist_json(stdout, "rtt_us", &pub.rtt);
    printf("}\n");

    fprintf(stderr, "publish: %llu events in %.2f s (%.0f/s, asked %.0f/s), "
            "%llu errors, lag max %llu us\n",
            (unsigned long long) pub.published, secs,
            secs > 0 ? pub.published / secs : 0.0, pub_conf.rate,
            (unsigned long long) pub.errors,
            (unsigned long long) pub.max_lag);

    redisFree(pub.rc);

    return pub.errors ? 1 : 0;
}


/* the script text is read from probed/publish.lua at run time, never copied */

static int
pub_load_script(pub_t *pub)
{
    FILE        *f;
    long         size;
    redisReply  *r;

    if (pub->script == NULL) {
        f = fopen(pub_conf.script_path, "r");
        if (f == NULL) {
            fprintf(stderr, "publish: %s: %s\n", pub_conf.script_path,
                    strerror(errno));
            return -1;
        }

        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fseek(f, 0, SEEK_SET);

        pub->script = malloc(size + 1);
        if (pub->script == NULL
            || fread(pub->script, 1, size, f) != (size_t) size)
        {
            fclose(f);
            return -1;
        }

        fclose(f);
        pub->script[size] = '\0';
        pub->script_len = size;
    }

    r = redisCommand(pub->rc, "SCRIPT LOAD %b", pub->script,
                     pub->script_len);

    if (r == NULL || r->type != REDIS_REPLY_STRING || r->len != 40) {
        fprintf(stderr, "publish: SCRIPT LOAD failed: %s\n",
                r && r->type == REDIS_REPLY_ERROR ? r->str : pub->rc->errstr);

        if (r) {
            freeReplyObject(r);
        }

        return -1;
    }

    memcpy(pub->sha, r->str, 40);
    pub->sha[40] = '\0';
    freeReplyObject(r);

    return 0;
}


/* builds the EVALSHA arguments of event number i into buf */

static void
pub_build(pub_t *pub, uint64_t i, uint64_t seq, uint64_t pt, char *buf,
    const char **av, size_t *al)
{
    char      *p, acct[64];
    unsigned   a, dev, k;

    a = i % pub_conf.accounts;
    dev = (i / pub_conf.accounts) % pub_conf.devices;

    snprintf(acct, sizeof(acct), pub_conf.account_fmt, a);

    p = buf;

    av[0] = "EVALSHA";
    av[1] = pub->sha;
    av[2] = "4";

    /* keys: ev, state, live, epoch; then field, event, maxlen */
    av[3] = p;
    p += sprintf(p, "devmon:{%s}:ev", acct) + 1;
    av[4] = p;
    p += sprintf(p, "devmon:{%s}:state", acct) + 1;
    av[5] = p;
    p += sprintf(p, "devmon:{%s}:live", acct) + 1;
    av[6] = p;
    p += sprintf(p, "devmon:{%s}:epoch", acct) + 1;
    av[7] = p;
    p += sprintf(p, "dev%u|%s|icmp", dev, pub_conf.region) + 1;
    av[8] = p;

    if (pub_conf.plain) {
        /* what probed sends for a healthy ICMP target, nothing added */
        p += sprintf(p, "{\"d\":\"dev%u\",\"r\":\"%s\",\"k\":\"icmp\","
                     "\"t\":%llu,\"st\":\"up\",\"rt\":%u.%u,\"pl\":0}",
                     dev, pub_conf.region, (unsigned long long) (pt / 1000),
                     (unsigned) (pt % 7), (unsigned) (pt / 7 % 10)) + 1;

    } else {
        /* bench fields last, so wsload finds them cheaply */
        p += sprintf(p, "{\"d\":\"dev%u\",\"r\":\"%s\",\"k\":\"icmp\","
                     "\"t\":%llu,\"st\":\"up\",\"rt\":1.8,\"pl\":0,"
                     "\"ax\":%u,\"sq\":%llu,\"pt\":%llu}",
                     dev, pub_conf.region, (unsigned long long) (pt / 1000),
                     a, (unsigned long long) seq,
                     (unsigned long long) pt) + 1;
    }

    av[9] = p;
    sprintf(p, "%u", pub_conf.maxlen);

    for (k = 0; k < 10; k++) {
        al[k] = strlen(av[k]);
    }
}


static int
pub_send_batch(pub_t *pub, uint64_t first, unsigned n)
{
    size_t          al[10];
    unsigned        i;
    uint64_t        t0, pt, seq[PUB_MAX_BATCH];
    const char     *av[10];
    redisReply     *r;
    unsigned char   retry[PUB_MAX_BATCH];
    char            buf[1024];

    pt = pub_wall_us();

    for (i = 0; i < n; i++) {
        seq[i] = ++pub->seq[(first + i) % pub_conf.accounts];
        pub_build(pub, first + i, seq[i], pt, buf, av, al);

        /* hiredis copies the arguments into its output buffer */
        if (redisAppendCommandArgv(pub->rc, 10, av, al) != REDIS_OK) {
            fprintf(stderr, "publish: %s\n", pub->rc->errstr);
            return -1;
        }
    }

    t0 = pub_mono_us();

    for (i = 0; i < n; i++) {
        retry[i] = 0;

        if (redisGetReply(pub->rc, (void **) &r) != REDIS_OK || r == NULL) {
            fprintf(stderr, "publish: redis: %s\n", pub->rc->errstr);
            return -1;
        }

        if (r->type == REDIS_REPLY_ERROR
            && strncmp(r->str, "NOSCRIPT", 8) == 0)
        {
            retry[i] = 1;
            pub->noscript++;

        } else if (r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "publish: %s\n", r->str);
            pub->errors++;

        } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            pub->errors++;

        } else {
            pub->published++;
        }

        freeReplyObject(r);
    }

    bench_hist_add(&pub->rtt, pub_mono_us() - t0);

    for (i = 0; i < n; i++) {
        if (!retry[i]) {
            continue;
        }

        /* Redis lost the script (restart, SCRIPT FLUSH): load, resend */
        if (pub_load_script(pub) != 0) {
            return -1;
        }

        pub_build(pub, first + i, seq[i], pt, buf, av, al);

        r = redisCommandArgv(pub->rc, 10, av, al);

        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
            pub->published++;

        } else {
            pub->errors++;
        }

        if (r) {
            freeReplyObject(r);
        }
    }

    return 0;
}


/* sequence numbers go on across runs, one line per account */

static void
pub_seq_load(pub_t *pub)
{
    FILE                *f;
    unsigned             a;
    unsigned long long   v;

    if (pub_conf.seq_file == NULL) {
        return;
    }

    f = fopen(pub_conf.seq_file, "r");
    if (f == NULL) {
        return;
    }

    for (a = 0; a < pub_conf.accounts && fscanf(f, "%llu", &v) == 1; a++) {
        pub->seq[a] = v;
    }

    fclose(f);
}


static void
pub_seq_save(pub_t *pub)
{
    FILE      *f;
    unsigned   a;

    if (pub_conf.seq_file == NULL) {
        return;
    }

    f = fopen(pub_conf.seq_file, "w");
    if (f == NULL) {
        fprintf(stderr, "publish: %s: %s\n", pub_conf.seq_file,
                strerror(errno));
        return;
    }

    for (a = 0; a < pub_conf.accounts; a++) {
        fprintf(f, "%llu\n", (unsigned long long) pub->seq[a]);
    }

    fclose(f);
}


static uint64_t
pub_mono_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static uint64_t
pub_wall_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static void
pub_usage(void)
{
    fprintf(stderr,
        "usage: publish --script probed/publish.lua [options]\n"
        "  -h, --host ADDR        redis host, loopback only (127.0.0.1)\n"
        "  -p, --port N           redis port (6379)\n"
        "  -s, --socket PATH      redis unix socket instead\n"
        "  -L, --script FILE      publish.lua, loaded with SCRIPT LOAD\n"
        "  -a, --accounts N       events go round-robin over N accounts (1)\n"
        "  -A, --account-fmt FMT  account name from its number (b%%u)\n"
        "  -D, --devices N        devices per account (10)\n"
        "  -r, --rate N           events per second (100)\n"
        "  -d, --duration S       seconds (5)\n"
        "  -n, --count N          events in all (default rate * duration)\n"
        "  -m, --maxlen N         stream replay window (10000)\n"
        "  -b, --batch N          largest pipeline (512)\n"
        "  -P, --plain            a bare ICMP event: no ax/sq/pt fields\n"
        "  -q, --seq-file FILE    keep per-account sequence numbers here\n"
        "  -g, --region NAME      region (fra)\n"
        "Events carry \"ax\" (account number), \"sq\" (per-account sequence\n"
        "from 1) and \"pt\" (publish time, epoch us) for wsload.\n");
}
