/* alertd: the alert daemon's entry point: options, start, stop */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"
#include "alert.h"
#include "alert_conf.h"
#include "alert_state.h"
#include "alert_redis.h"
#include "alert_outbox.h"


static void alertd_usage(FILE *out);
static void alertd_on_signal(evutil_socket_t sig, short what, void *arg);
static void alertd_on_hup(evutil_socket_t sig, short what, void *arg);
static void alertd_policy(const alert_conf_t *conf, alert_policy_t *policy);
static void alertd_on_tick(evutil_socket_t fd, short what, void *arg);


static struct event_base  *alertd_base;
static struct event       *alertd_tick_ev;
static const char         *alertd_file;
static alert_conf_t       *alertd_conf;     /* the one started with */
static alert_conf_t       *alertd_live;     /* the last one loaded */
static alert_acct_t       *alertd_accts;
static const int           alertd_levels[] = { LOG_ERR, LOG_WARN, LOG_INFO,
                                               LOG_DEBUG };
static int                 alertd_verbose;


int
main(int argc, char **argv)
{
    int                  c, i, test;
    char                 err[ALERT_CONF_ERRLEN];
    const char          *file;
    alert_acct_t        *accts;
    alert_conf_t        *conf;
    struct timeval       tv;
    alert_policy_t       policy;
    struct event        *sig_term, *sig_int, *sig_hup;
    static struct option long_options[] = {
        { "config", required_argument, NULL, 'c' },
        { "test", no_argument, NULL, 't' },
        { "verbose", no_argument, NULL, 'v' },
        { "version", no_argument, NULL, 'V' },
        { "keys-markdown", no_argument, NULL, 'K' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    log_ident = "alertd";
    file = NULL;
    test = 0;

    while ((c = getopt_long(argc, argv, "c:tvVh", long_options, NULL))
           != -1)
    {
        switch (c) {

        case 'c':
            file = optarg;
            break;

        case 't':
            test = 1;
            break;

        case 'v':
            log_level = LOG_DEBUG;
            alertd_verbose = 1;
            break;

        case 'V':
            printf("devmon-alertd %s\n", ALERT_VERSION);
            return 0;

        case 'K':
            alert_conf_keys_markdown(stdout);
            return 0;

        case 'h':
            alertd_usage(stdout);
            return 0;

        default:
            alertd_usage(stderr);
            return 2;
        }
    }

    if (file == NULL || optind != argc) {
        alertd_usage(stderr);
        return 2;
    }

    conf = alert_conf_load(file, err);
    if (conf == NULL) {
        fprintf(stderr, "alertd: %s\n", err);
        return 1;
    }

    if (test) {
        printf("alertd: %s is valid: %d accounts\n", file, conf->naccounts);
        alert_conf_free(conf);
        return 0;
    }

    if (!alertd_verbose) {
        log_level = alertd_levels[conf->log_level];
    }

    alertd_file = file;
    alertd_conf = conf;
    alertd_live = conf;

    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned) getpid() ^ (unsigned) devmon_now_ms());

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        log_error("curl_global_init failed");
        return 1;
    }

    alertd_base = event_base_new();
    if (alertd_base == NULL) {
        log_error("event_base_new failed");
        return 1;
    }

    alertd_policy(conf, &policy);

    accts = calloc(conf->naccounts, sizeof(alert_acct_t));
    if (accts == NULL) {
        log_error("out of memory");
        return 1;
    }

    for (i = 0; i < conf->naccounts; i++) {
        if (alert_acct_init(&accts[i], conf->accounts[i], &policy) != 0) {
            log_error("out of memory");
            return 1;
        }
    }

    if (alert_outbox_init(alertd_base, conf) != 0
        || alert_redis_init(alertd_base, conf, accts, conf->naccounts) != 0)
    {
        log_error("initialisation failed");
        return 1;
    }

    alertd_accts = accts;

    sig_term = evsignal_new(alertd_base, SIGTERM, alertd_on_signal, NULL);
    sig_int = evsignal_new(alertd_base, SIGINT, alertd_on_signal, NULL);
    sig_hup = evsignal_new(alertd_base, SIGHUP, alertd_on_hup, NULL);
    evsignal_add(sig_term, NULL);
    evsignal_add(sig_int, NULL);
    evsignal_add(sig_hup, NULL);

    /* deadlines (cooldowns, holds, storm windows, retries) are looked at
     * on a steady tick rather than one timer each */
    alertd_tick_ev = event_new(alertd_base, -1, EV_PERSIST, alertd_on_tick,
                               NULL);
    tv.tv_sec = (long) conf->tick;
    tv.tv_usec = (long) ((conf->tick - tv.tv_sec) * 1e6);
    event_add(alertd_tick_ev, &tv);

    log_info("started: %d accounts, pid %d", conf->naccounts,
             (int) getpid());

    event_base_dispatch(alertd_base);

    log_info("stopping; %zu messages left in the outbox",
             alert_outbox_size());

    alert_redis_fini();
    alert_outbox_fini();

    for (i = 0; i < conf->naccounts; i++) {
        alert_acct_free(&accts[i]);
    }

    free(accts);
    event_free(alertd_tick_ev);
    event_free(sig_term);
    event_free(sig_int);
    event_free(sig_hup);
    event_base_free(alertd_base);
    curl_global_cleanup();

    if (alertd_live != conf) {
        alert_conf_free(alertd_live);
    }

    alert_conf_free(conf);

    return 0;
}


static void
alertd_usage(FILE *out)
{
    fprintf(out,
        "usage: devmon-alertd -c FILE [-t] [-v]\n"
        "       devmon-alertd --version | --keys-markdown\n"
        "  -c, --config FILE   JSON configuration\n"
        "  -t, --test          check the configuration and exit\n"
        "  -v, --verbose       debug messages\n"
        "      --keys-markdown print the configuration keys as a table\n"
        "signals: TERM and INT stop (the state is in Redis already);\n"
        "         HUP reloads delivery settings, policy and log level\n");
}


static void
alertd_on_signal(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopbreak(alertd_base);
}


static void
alertd_policy(const alert_conf_t *conf, alert_policy_t *policy)
{
    policy->cooldown = (int64_t) (conf->cooldown * 1000);
    policy->hold = (int64_t) (conf->recovery_hold * 1000);
    policy->window = (int64_t) (conf->storm_window * 1000);
}


/*
 * A reload applies what needs no new session: the log level, the alert
 * policy, SMTP, webhook and retry settings, the subject prefix and storm
 * threshold.  Accounts, Redis, group, consumer, batch and tick are read at
 * start only; a change of those is logged and waits for a restart.  The
 * configuration alertd started with stays: the Redis reader points into
 * it.
 */

static void
alertd_on_hup(evutil_socket_t sig, short what, void *arg)
{
    int              i, same;
    char             err[ALERT_CONF_ERRLEN];
    alert_conf_t    *c, *o;
    alert_policy_t   policy;

    c = alert_conf_load(alertd_file, err);
    if (c == NULL) {
        log_error("reload failed, the running configuration stays: %s", err);
        return;
    }

    o = alertd_conf;
    same = c->naccounts == o->naccounts
           && strcmp(c->group, o->group) == 0
           && strcmp(c->consumer, o->consumer) == 0
           && strcmp(c->redis.host, o->redis.host) == 0
           && strcmp(c->redis.socket, o->redis.socket) == 0
           && strcmp(c->redis.password, o->redis.password) == 0
           && c->redis.port == o->redis.port && c->redis.db == o->redis.db
           && c->batch == o->batch && c->tick == o->tick;

    for (i = 0; same && i < c->naccounts; i++) {
        same = strcmp(c->accounts[i], o->accounts[i]) == 0;
    }

    if (!same) {
        log_warn("reload: accounts, redis, group, consumer, batch and tick "
                 "take effect on restart only");
    }

    if (!alertd_verbose) {
        log_level = alertd_levels[c->log_level];
    }

    alertd_policy(c, &policy);

    for (i = 0; i < o->naccounts; i++) {
        alertd_accts[i].policy = policy;
    }

    alert_outbox_reconfigure(c);

    if (alertd_live != alertd_conf) {
        alert_conf_free(alertd_live);
    }

    alertd_live = c;

    log_info("configuration reloaded from %s", alertd_file);
}


static void
alertd_on_tick(evutil_socket_t fd, short what, void *arg)
{
    int64_t  now;

    now = devmon_now_ms();

    alert_redis_tick(now);
    alert_outbox_tick(now);
}
