/* probed: the probe daemon's entry point: options, start, reload, stop */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/dns.h>

#include "log.h"
#include "conf.h"
#include "notify.h"
#include "publish.h"
#include "sched.h"
#include "probe.h"
#include "check.h"
#include "region.h"


typedef struct retired_s  retired_t;

struct retired_s {
    retired_t      *next;
    conf_t         *conf;
};


static void probed_usage(FILE *out);
static void probed_publish_conf(conf_t *conf, publish_conf_t *pc);
static void probed_on_signal(evutil_socket_t sig, short what, void *arg);
static void probed_reload(void);
static void probed_stop(void);
static void probed_on_cycle(evutil_socket_t fd, short what, void *arg);
static void probed_arm_cycle(int64_t now);
static void probed_break(void *data);
static void probed_on_break(evutil_socket_t fd, short what, void *arg);
static int probed_log_level(conf_t *conf);


static struct event_base  *probed_base;
static struct evdns_base  *probed_dns;
static struct event       *probed_cycle_ev;
static struct event       *probed_stop_ev;
static conf_t             *probed_conf;
static retired_t          *probed_retired;
static const char         *probed_file;
static const char         *probed_region;
static struct rusage       probed_ru;
static int64_t             probed_cycle_due;    /* monotonic us */
static double              probed_cycle_iv;     /* seconds */
static int                 probed_stopping;


int
main(int argc, char **argv)
{
    int                  c, test, ndev, nchk, i, j;
    char                 err[CONF_ERRLEN];
    conf_t              *conf;
    publish_conf_t       pc;
    struct event        *sig_hup, *sig_term, *sig_int;
    static struct option long_options[] = {
        { "config", required_argument, NULL, 'c' },
        { "test", no_argument, NULL, 't' },
        { "region", required_argument, NULL, 'r' },
        { "version", no_argument, NULL, 'V' },
        { "verbose", no_argument, NULL, 'v' },
        { "keys-markdown", no_argument, NULL, 'K' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    test = 0;

    while ((c = getopt_long(argc, argv, "c:tr:vVh", long_options, NULL))
           != -1)
    {
        switch (c) {

        case 'c':
            probed_file = optarg;
            break;

        case 't':
            test = 1;
            break;

        case 'r':
            probed_region = optarg;
            break;

        case 'v':
            log_level = LOG_DEBUG;
            break;

        case 'V':
            printf("probed %s\n", PROBED_VERSION);
            return 0;

        case 'K':
            conf_keys_markdown(stdout);
            return 0;

        case 'h':
            probed_usage(stdout);
            return 0;

        default:
            probed_usage(stderr);
            return 2;
        }
    }

    if (probed_file == NULL || optind != argc) {
        probed_usage(stderr);
        return 2;
    }

    conf = conf_load(probed_file, probed_region, err);
    if (conf == NULL) {
        fprintf(stderr, "probed: %s\n", err);
        return 1;
    }

    if (test) {
        ndev = nchk = 0;

        for (i = 0; i < conf->naccounts; i++) {
            for (j = 0; j < conf->accounts[i].ndevices; j++) {
                ndev++;
                nchk += conf->accounts[i].devices[j].nchecks;
            }
        }

        printf("probed: %s is valid: region %s, %d accounts, %d devices, "
               "%d checks\n", probed_file, conf->region, conf->naccounts,
               ndev, nchk);
        conf_free(conf);
        return 0;
    }

    if (log_level != LOG_DEBUG) {
        log_level = probed_log_level(conf);
    }

    probed_conf = conf;

    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned) devmon_mono_us());

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        log_error("curl_global_init failed");
        return 1;
    }

    probed_base = event_base_new();
    if (probed_base == NULL) {
        log_error("event_base_new failed");
        return 1;
    }

    probed_dns = evdns_base_new(probed_base,
                                EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (probed_dns == NULL) {
        /* no resolv.conf: numeric addresses still work */
        probed_dns = evdns_base_new(probed_base, 0);
    }

    probed_publish_conf(conf, &pc);

    if (publish_init(probed_base, &pc) != 0
        || sched_init(probed_base) != 0
        || probe_init(probed_base, probed_dns) != 0
        || check_icmp_init(probed_base, conf) != 0
        || check_snmp_init(probed_base) != 0
        || check_http_init(probed_base) != 0
        || check_tcp_init(probed_base) != 0
        || region_init(probed_base, conf) != 0)
    {
        log_error("initialisation failed");
        return 1;
    }

    if (probe_apply(conf, NULL) != 0) {
        log_error("out of memory applying the configuration");
        return 1;
    }

    sig_hup = evsignal_new(probed_base, SIGHUP, probed_on_signal, NULL);
    sig_term = evsignal_new(probed_base, SIGTERM, probed_on_signal, NULL);
    sig_int = evsignal_new(probed_base, SIGINT, probed_on_signal, NULL);
    evsignal_add(sig_hup, NULL);
    evsignal_add(sig_term, NULL);
    evsignal_add(sig_int, NULL);

    probed_cycle_ev = evtimer_new(probed_base, probed_on_cycle, NULL);
    probed_stop_ev = evtimer_new(probed_base, probed_on_break, NULL);
    getrusage(RUSAGE_SELF, &probed_ru);
    probed_cycle_iv = conf->defaults.interval;
    probed_cycle_due = devmon_mono_us() + (int64_t) (probed_cycle_iv * 1e6);
    probed_arm_cycle(devmon_mono_us());

    /* the first heartbeat at once: clients see the region come up */
    probe_heartbeat((int64_t) (conf->defaults.interval * 1000));

    log_info("started: region %s, %d checks, pid %d", conf->region,
             probe_count(), (int) getpid());

    notify_send("READY=1");

    event_base_dispatch(probed_base);

    log_info("stopping");

    probe_fini();
    region_fini();
    check_http_fini();
    check_snmp_fini();
    check_icmp_fini();
    sched_fini();
    publish_fini();

    event_free(sig_hup);
    event_free(sig_term);
    event_free(sig_int);
    event_free(probed_cycle_ev);
    event_free(probed_stop_ev);
    evdns_base_free(probed_dns, 0);
    event_base_free(probed_base);
    curl_global_cleanup();

    conf_free(probed_conf);

    return 0;
}


static void
probed_usage(FILE *out)
{
    fprintf(out,
        "usage: probed -c FILE [-t] [--region NAME] [-v]\n"
        "       probed --version | --keys-markdown\n"
        "  -c, --config FILE   JSON configuration\n"
        "  -t, --test          check the configuration and exit\n"
        "  -r, --region NAME   probe as this region (overrides \"region\")\n"
        "  -v, --verbose       debug messages\n"
        "      --keys-markdown print the configuration keys as a table\n"
        "signals: HUP reloads the configuration, TERM and INT stop\n");
}


static int
probed_log_level(conf_t *conf)
{
    static const int  levels[] = { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

    return levels[conf->log_level];
}


static void
probed_publish_conf(conf_t *conf, publish_conf_t *pc)
{
    memset(pc, 0, sizeof(*pc));

    pc->host = conf->redis.host;
    pc->port = conf->redis.port;
    pc->socket = conf->redis.socket;
    pc->password = conf->redis.password;
    pc->db = conf->redis.db;
    pc->maxlen = conf->redis.maxlen;
    pc->backlog = conf->redis.backlog;
    pc->connect_timeout = conf->redis.connect_timeout;
    pc->window = 256;
}


static void
probed_on_signal(evutil_socket_t sig, short what, void *arg)
{
    if (probed_stopping) {
        /* a reload would start probing again and another TERM would push
         * the exit back: once stopping, stopping is all there is */
        log_info("stopping: signal %d ignored", (int) sig);
        return;
    }

    if (sig == SIGHUP) {
        probed_reload();
    } else {
        probed_stop();
    }
}


static void
probed_reload(void)
{
    char             err[CONF_ERRLEN];
    int64_t          now, due;
    conf_t          *conf, *old;
    retired_t       *r;
    publish_conf_t   pc;

    notify_send("RELOADING=1");

    conf = conf_load(probed_file, probed_region, err);
    if (conf == NULL) {
        log_error("reload failed, keeping the running configuration: %s",
                  err);
        notify_send("READY=1");
        return;
    }

    /* runs of removed checks may still read the old configuration: it is
     * retired, not freed, and that must not fail after the switch */
    r = malloc(sizeof(retired_t));

    old = probed_conf;

    if (r == NULL || probe_apply(conf, old) != 0) {
        log_error("reload failed, keeping the running configuration: "
                  "out of memory");
        free(r);
        conf_free(conf);
        notify_send("READY=1");
        return;
    }

    probed_conf = conf;

    r->conf = old;
    r->next = probed_retired;
    probed_retired = r;

    if (log_level != LOG_DEBUG) {
        log_level = probed_log_level(conf);
    }

    probed_publish_conf(conf, &pc);
    publish_reconfigure(&pc);
    check_icmp_reconf(conf);

    /* the heartbeat keeps its cadence; a new interval counts from the
     * last cycle */
    if (conf->defaults.interval != probed_cycle_iv) {
        now = devmon_mono_us();
        due = probed_cycle_due
              - (int64_t) (probed_cycle_iv * 1e6)
              + (int64_t) (conf->defaults.interval * 1e6);
        probed_cycle_iv = conf->defaults.interval;
        probed_cycle_due = due > now ? due : now;
        probed_arm_cycle(now);
    }

    log_info("reloaded: %d checks", probe_count());

    notify_send("READY=1");
}


static void
probed_stop(void)
{
    struct timeval  tv;

    probed_stopping = 1;
    notify_send("STOPPING=1");

    /* no new runs; the queue gets a moment to reach Redis */
    probe_fini();
    evtimer_del(probed_cycle_ev);

    if (publish_pending() == 0 || !publish_connected()) {
        event_base_loopbreak(probed_base);
        return;
    }

    publish_set_idle(probed_break, NULL);

    tv.tv_sec = 2;
    tv.tv_usec = 0;
    evtimer_add(probed_stop_ev, &tv);
}


static void
probed_break(void *data)
{
    event_base_loopbreak(probed_base);
}


static void
probed_on_break(evutil_socket_t fd, short what, void *arg)
{
    log_warn("stopping with %zu results not published", publish_pending());
    event_base_loopbreak(probed_base);
}


static void
probed_arm_cycle(int64_t now)
{
    int64_t         d;
    struct timeval  tv;

    d = probed_cycle_due - now;
    if (d < 0) {
        d = 0;
    }

    tv.tv_sec = d / 1000000;
    tv.tv_usec = d % 1000000;

    evtimer_del(probed_cycle_ev);
    evtimer_add(probed_cycle_ev, &tv);
}


/* once per cycle: the region heartbeat and what the cycle cost */

static void
probed_on_cycle(evutil_socket_t fd, short what, void *arg)
{
    double          cpu;
    int64_t         now, iv;
    uint64_t        published, dropped;
    retired_t      *r;
    struct rusage   ru;
    sched_stats_t   ss;
    probe_stats_t   ps;

    now = devmon_mono_us();
    iv = (int64_t) (probed_cycle_iv * 1e6);

    /* a stalled loop skips cycles rather than running them in a burst */
    probed_cycle_due += iv;
    if (probed_cycle_due <= now) {
        probed_cycle_due = now + iv;
    }

    probed_arm_cycle(now);

    probe_heartbeat((int64_t) (probed_conf->defaults.interval * 1000));
    region_run(probed_conf, probed_conf->defaults.interval);

    getrusage(RUSAGE_SELF, &ru);
    cpu = (ru.ru_utime.tv_sec - probed_ru.ru_utime.tv_sec
           + ru.ru_stime.tv_sec - probed_ru.ru_stime.tv_sec) * 1000.0
          + (ru.ru_utime.tv_usec - probed_ru.ru_utime.tv_usec
             + ru.ru_stime.tv_usec - probed_ru.ru_stime.tv_usec) / 1000.0;
    probed_ru = ru;

    sched_stats(&ss);
    probe_stats(&ps);
    publish_stats(&published, &dropped);

    log_info("cycle: checks=%d runs=%llu overruns=%llu late_p50=%.3fms "
             "late_p99=%.3fms late_max=%.3fms cpu=%.1fms results=%llu "
             "published=%llu queued=%zu dropped=%llu",
             probe_count(), (unsigned long long) ss.runs,
             (unsigned long long) ss.overruns, ss.late_p50, ss.late_p99,
             ss.late_max, cpu, (unsigned long long) ps.results,
             (unsigned long long) published, publish_pending(),
             (unsigned long long) dropped);

    if (probe_zombies() == 0) {
        while ((r = probed_retired) != NULL) {
            probed_retired = r->next;
            conf_free(r->conf);
            free(r);
        }
    }
}
