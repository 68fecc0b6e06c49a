/* probe: devices and their checks at run time; results into state and Redis */

#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "log.h"
#include "publish.h"
#include "sched.h"
#include "check.h"
#include "probe.h"
#include "region.h"


#define PROBE_EVLEN     1024


/* a device of the configuration being applied */
typedef struct {
    device_t           *dev;
    conf_account_t     *acct;
    conf_device_t      *cd;
    unsigned            kept:1;     /* a running device that stays */
} probe_pick_t;


static device_t *probe_device_new(conf_account_t *a, conf_device_t *cd);
static void probe_device_retire(device_t *dev);
static void probe_device_free(device_t *dev);
static void probe_kind_free(probe_t *p);
static void probe_catalogue(conf_t *conf, conf_t *old);


struct evdns_base  *probe_dns;
conf_t             *probe_conf;

static device_t       *probe_devices;
static int             probe_nprobes;
static probe_stats_t   probe_counters;
static int             probe_dead_running;


int
probe_init(struct event_base *base, struct evdns_base *dns)
{
    probe_dns = dns;

    return 0;
}


/*
 * Applies a (new) configuration.  A device whose text and inherited
 * defaults did not change keeps its object: filter and device state, flap
 * score, SNMP uptime and any run in progress survive the reload.  Others
 * are retired (freed once their runs finish) and built anew.  Everything
 * that can fail (memory) happens before the running list is touched: on
 * failure nothing changed and the old configuration keeps running.
 */

int
probe_apply(conf_t *conf, conf_t *old)
{
    int              i, j, k, n, m, nb, np, rc;
    int             *heads, *chain;
    char            *taken;
    device_t        *dev, **olds, **tail;
    probe_t        **all;
    probe_pick_t    *pick;
    conf_device_t   *cd;
    conf_account_t  *a;

    rc = -1;
    m = 0;

    n = 0;
    for (dev = probe_devices; dev; dev = dev->next) {
        n++;
    }

    np = 0;
    for (i = 0; i < conf->naccounts; i++) {
        np += conf->accounts[i].ndevices;
    }

    nb = n * 2 + 1;

    olds = calloc(n + 1, sizeof(device_t *));
    chain = calloc(n + 1, sizeof(int));
    taken = calloc(n + 1, 1);
    heads = malloc(nb * sizeof(int));
    pick = calloc(np + 1, sizeof(probe_pick_t));
    all = NULL;

    if (olds == NULL || chain == NULL || taken == NULL || heads == NULL
        || pick == NULL)
    {
        goto done;
    }

    /* an index of the running devices by account and id */
    for (i = 0; i < nb; i++) {
        heads[i] = -1;
    }

    i = 0;
    for (dev = probe_devices; dev; dev = dev->next) {
        olds[i] = dev;
        k = devmon_hash(dev->acct->id, dev->cd->id) % nb;
        chain[i] = heads[k];
        heads[k] = i;
        i++;
    }

    /* the new list in configuration order: kept or new devices */
    np = 0;

    for (i = 0; i < conf->naccounts; i++) {
        a = &conf->accounts[i];

        for (j = 0; j < a->ndevices; j++) {
            cd = &a->devices[j];

            if (!conf_device_in_region(cd, conf->region)) {
                continue;
            }

            k = heads[devmon_hash(a->id, cd->id) % nb];

            while (k != -1
                   && (strcmp(olds[k]->acct->id, a->id) != 0
                       || strcmp(olds[k]->cd->id, cd->id) != 0))
            {
                k = chain[k];
            }

            pick[m].acct = a;
            pick[m].cd = cd;

            if (k != -1 && !taken[k]
                && strcmp(olds[k]->cd->signature, cd->signature) == 0
                && olds[k]->nprobes == cd->nchecks)
            {
                taken[k] = 1;
                pick[m].dev = olds[k];
                pick[m].kept = 1;

            } else {
                pick[m].dev = probe_device_new(a, cd);
                if (pick[m].dev == NULL) {
                    goto done;
                }
            }

            np += cd->nchecks;
            m++;
        }
    }

    all = malloc((np + 1) * sizeof(probe_t *));
    if (all == NULL) {
        goto done;
    }

    /* nothing can fail from here on: retire, relink, plan */

    for (k = 0; k < n; k++) {
        if (!taken[k]) {
            probe_device_retire(olds[k]);
        }
    }

    probe_devices = NULL;
    tail = &probe_devices;
    np = 0;

    for (i = 0; i < m; i++) {
        dev = pick[i].dev;
        dev->acct = pick[i].acct;
        dev->cd = pick[i].cd;
        dev->next = NULL;

        for (k = 0; k < dev->nprobes; k++) {
            dev->probes[k].cc = &dev->cd->checks[k];
            all[np++] = &dev->probes[k];
        }

        *tail = dev;
        tail = &dev->next;
    }

    probe_conf = conf;
    probe_nprobes = np;

    sched_plan(all, np);
    probe_catalogue(conf, old);

    rc = 0;

done:

    if (rc != 0 && pick != NULL) {
        /* the running list was not touched: drop what was built */
        for (i = 0; i < m; i++) {
            if (!pick[i].kept) {
                probe_device_free(pick[i].dev);
            }
        }
    }

    free(olds);
    free(chain);
    free(taken);
    free(heads);
    free(pick);
    free(all);

    return rc;
}


static device_t *
probe_device_new(conf_account_t *a, conf_device_t *cd)
{
    int        i;
    device_t  *dev;

    dev = calloc(1, sizeof(device_t) + cd->nchecks * sizeof(probe_t));
    if (dev == NULL) {
        return NULL;
    }

    dev->acct = a;
    dev->cd = cd;
    dev->probes = (probe_t *) (dev + 1);
    dev->nprobes = cd->nchecks;

    for (i = 0; i < cd->nchecks; i++) {
        dev->probes[i].dev = dev;
        dev->probes[i].cc = &cd->checks[i];
        dev->probes[i].kind = cd->checks[i].kind;
    }

    return dev;
}


static void
probe_device_retire(device_t *dev)
{
    int       i;
    probe_t  *p;

    dev->dead = 1;

    for (i = 0; i < dev->nprobes; i++) {
        p = &dev->probes[i];
        sched_remove(p);

        if (p->running) {
            p->dead = 1;
            probe_dead_running++;
        } else {
            probe_kind_free(p);
        }
    }

    if (dev->nrunning == 0) {
        probe_device_free(dev);
    }
}


static void
probe_device_free(device_t *dev)
{
    free(dev);
}


static void
probe_kind_free(probe_t *p)
{
    if (p->kind == KIND_SNMP) {
        check_snmp_free(p);
    }
}


int
probe_count(void)
{
    return probe_nprobes;
}


/* runs of removed checks still in progress: they may read the old conf */

int
probe_zombies(void)
{
    return probe_dead_running;
}


void
probe_run(probe_t *p)
{
    p->running = 1;
    p->dev->nrunning++;
    p->started = devmon_mono_us();

    switch (p->kind) {

    case KIND_ICMP:
        check_icmp_run(p);
        break;

    case KIND_SNMP:
        check_snmp_run(p);
        break;

    case KIND_HTTP:
        check_http_run(p);
        break;

    default:
        check_tcp_run(p);
        break;
    }
}


/* a device state change, or a flapping start or end (st equal to was) */

static void
probe_transition(device_t *dev, int was, const char *er, int64_t now)
{
    size_t          n;
    char            field[200], buf[PROBE_EVLEN];
    result_state_t  rs;

    rs.device = dev->cd->id;
    rs.region = probe_conf->region;
    rs.st = dev->state.st;
    rs.was = was;
    rs.er = er;
    rs.flapping = dev->state.flapping;

    n = result_encode_state(&rs, buf, sizeof(buf));
    snprintf(field, sizeof(field), "%s|%s|state", dev->cd->id,
             probe_conf->region);

    /* state changes are the last thing a full backlog gives up */
    if (n < sizeof(buf)) {
        publish_event(dev->acct->id, field, buf, n, now, 1, NULL, NULL);
    }

    probe_counters.changes++;

    if (was != dev->state.st) {
        log_info("%s/%s: %s -> %s%s%s%s", dev->acct->id, dev->cd->id,
                 probe_st_names[was], probe_st_names[dev->state.st],
                 er ? " (" : "", er ? er : "", er ? ")" : "");

    } else {
        log_info("%s/%s: flapping %s", dev->acct->id, dev->cd->id,
                 dev->state.flapping ? "starts" : "ends");
    }
}


void
probe_done(probe_t *p, result_t *r)
{
    int          i, rc, worst, was;
    char         field[200], buf[PROBE_EVLEN];
    size_t       n;
    int64_t      now;
    device_t    *dev;
    const char  *er;

    dev = p->dev;

    p->running = 0;
    dev->nrunning--;

    if (p->dead) {
        probe_dead_running--;
        probe_kind_free(p);

        if (dev->nrunning == 0) {
            probe_device_free(dev);
        }

        return;
    }

    now = devmon_now_ms();
    r->t = now;

    /* the degraded band for response time is the same for every kind */
    if (r->st == ST_UP && p->cc->degraded_rtt > 0 && r->rt >= 0
        && r->rt >= p->cc->degraded_rtt)
    {
        r->st = ST_DEGRADED;
        r->er = "latency";
    }

    p->er = r->er;

    n = result_encode(r, dev->cd->id, probe_conf->region, buf, sizeof(buf));
    snprintf(field, sizeof(field), "%s|%s|%s", dev->cd->id,
             probe_conf->region, probe_kind_names[p->kind]);

    if (n < sizeof(buf)) {
        publish_event(dev->acct->id, field, buf, n, r->t, 0, NULL, NULL);
    } else {
        log_error("%s/%s: %s event too large", dev->acct->id, dev->cd->id,
                  probe_kind_names[p->kind]);
    }

    probe_counters.results++;

    state_check_feed(&p->filter, r->st, p->cc->down_after, p->cc->up_after);

    worst = ST_UNKNOWN;
    er = NULL;

    for (i = 0; i < dev->nprobes; i++) {
        if (dev->probes[i].filter.st > worst) {
            worst = dev->probes[i].filter.st;
            er = dev->probes[i].er;
        }
    }

    if (worst == ST_UP) {
        er = NULL;
    }

    was = dev->state.st;
    /* the flap score decays on the monotonic clock */
    rc = state_dev_update(&dev->state, worst, devmon_mono_us() / 1000,
                          p->cc->flap_threshold, p->cc->flap_halflife);

    if (rc & STATE_CHANGED) {
        probe_transition(dev, was, er, now);
    }

    if (rc & (STATE_FLAP_START | STATE_FLAP_END)) {
        probe_transition(dev, dev->state.st, er, now);
    }

    if (r->rb) {
        log_info("%s/%s: SNMP agent rebooted", dev->acct->id, dev->cd->id);
    }
}


static void
probe_catalogue(conf_t *conf, conf_t *old)
{
    int              i, j, k, m;
    char             buf[2048];
    size_t           n, size;
    conf_account_t  *a, *oa;
    conf_device_t   *cd;

    size = sizeof(buf);

    for (i = 0; i < conf->naccounts; i++) {
        a = &conf->accounts[i];

        for (j = 0; j < a->ndevices; j++) {
            cd = &a->devices[j];

            n = snprintf(buf, size, "{\"d\":");
            n += json_put_string(buf + n, n < size ? size - n : 0, cd->id);
            n += snprintf(buf + n, n < size ? size - n : 0, ",\"n\":");
            n += json_put_string(buf + n, n < size ? size - n : 0, cd->name);
            n += snprintf(buf + n, n < size ? size - n : 0, ",\"a\":");
            n += json_put_string(buf + n, n < size ? size - n : 0,
                                 cd->address);
            n += snprintf(buf + n, n < size ? size - n : 0, ",\"rg\":[");

            for (k = 0; k < cd->nregions; k++) {
                n += snprintf(buf + n, n < size ? size - n : 0, "%s",
                              k ? "," : "");
                n += json_put_string(buf + n, n < size ? size - n : 0,
                                     cd->regions[k]);
            }

            n += snprintf(buf + n, n < size ? size - n : 0, "],\"k\":[");

            for (k = 0; k < cd->nchecks; k++) {
                n += snprintf(buf + n, n < size ? size - n : 0, "%s\"%s\"",
                              k ? "," : "",
                              probe_kind_names[cd->checks[k].kind]);
            }

            n += snprintf(buf + n, n < size ? size - n : 0, "]}");

            if (n < size) {
                publish_device(a->id, cd->id, buf);
            }
        }
    }

    if (old == NULL) {
        return;
    }

    /* devices that left the configuration leave the catalogue */
    for (i = 0; i < old->naccounts; i++) {
        oa = &old->accounts[i];
        a = NULL;

        for (k = 0; k < conf->naccounts; k++) {
            if (strcmp(conf->accounts[k].id, oa->id) == 0) {
                a = &conf->accounts[k];
            }
        }

        for (j = 0; j < oa->ndevices; j++) {
            m = 0;

            for (k = 0; a != NULL && k < a->ndevices; k++) {
                if (strcmp(a->devices[k].id, oa->devices[j].id) == 0) {
                    m = 1;
                    break;
                }
            }

            if (!m) {
                publish_device(oa->id, oa->devices[j].id, NULL);
            }
        }
    }
}


void
probe_heartbeat(int64_t interval_ms)
{
    int      i;
    char     buf[256], field[100];
    size_t   n;
    int64_t  now;

    now = devmon_now_ms();

    n = result_encode_heartbeat(probe_conf->region, interval_ms,
                                region_ok(), buf, sizeof(buf));
    snprintf(field, sizeof(field), "|%s|hb", probe_conf->region);

    for (i = 0; i < probe_conf->naccounts; i++) {
        publish_event(probe_conf->accounts[i].id, field, buf, n, now, 0,
                      NULL, NULL);
    }
}


void
probe_stats(probe_stats_t *st)
{
    *st = probe_counters;
}


void
probe_fini(void)
{
    device_t  *dev, *next;

    for (dev = probe_devices; dev; dev = next) {
        next = dev->next;
        probe_device_retire(dev);
    }

    probe_devices = NULL;
}
