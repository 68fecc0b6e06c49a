/* sched: runs every check once per interval, spread evenly, never in bursts */

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "probe.h"
#include "sched.h"


#define SCHED_SAMPLES   65536


static void sched_fire(evutil_socket_t fd, short what, void *arg);
static void sched_arm(probe_t *p, int64_t now);


static struct event_base  *sched_base;
static int64_t             sched_anchor;
static int64_t            *sched_late;      /* lateness samples, us */
static size_t              sched_nlate;
static uint64_t            sched_seen;
static uint64_t            sched_runs;
static uint64_t            sched_overruns;


int
sched_init(struct event_base *base)
{
    sched_base = base;
    sched_anchor = 0;

    sched_late = malloc(SCHED_SAMPLES * sizeof(int64_t));

    return sched_late ? 0 : -1;
}


/*
 * The n checks that share an interval start at index * interval / n from
 * the anchor, so they are evenly spread and no two share a start.
 */

int64_t
sched_phase(int index, int n, int64_t interval)
{
    return n ? (int64_t) ((double) interval * index / n) : 0;
}


/* the first anchor + phase + k * interval that is not in the past */

int64_t
sched_next_due(int64_t now, int64_t anchor, int64_t phase, int64_t interval)
{
    int64_t  t, k;

    t = anchor + phase;

    if (t >= now) {
        return t;
    }

    k = (now - t + interval - 1) / interval;

    return t + k * interval;
}


static int
sched_cmp(const void *a, const void *b)
{
    const probe_t  *pa, *pb;

    pa = *(probe_t **) a;
    pb = *(probe_t **) b;

    if (pa->cc->interval != pb->cc->interval) {
        return pa->cc->interval < pb->cc->interval ? -1 : 1;
    }

    /* configuration order inside one interval */
    return pa < pb ? -1 : pa > pb;
}


/* (re)plans all checks: after start and after each reload */

void
sched_plan(probe_t **probes, int n)
{
    int       i, j, k, g;
    int64_t   now, iv;
    probe_t  *p;

    qsort(probes, n, sizeof(probe_t *), sched_cmp);

    now = devmon_mono_us();

    if (sched_anchor == 0) {
        /* phase 0 runs right away at start */
        sched_anchor = now;
    }

    for (i = 0; i < n; i = j) {
        iv = (int64_t) (probes[i]->cc->interval * 1e6);

        for (j = i; j < n && (int64_t) (probes[j]->cc->interval * 1e6) == iv;
             j++)
        {
            /* void */
        }

        g = j - i;

        for (k = 0; k < g; k++) {
            p = probes[i + k];

            if (p->timer == NULL) {
                p->timer = evtimer_new(sched_base, sched_fire, p);
                if (p->timer == NULL) {
                    log_error("out of memory for a timer");
                    continue;
                }
            }

            p->due = sched_next_due(now, sched_anchor,
                                    sched_phase(k, g, iv), iv);
            sched_arm(p, now);
        }
    }
}


void
sched_remove(probe_t *p)
{
    if (p->timer != NULL) {
        event_free(p->timer);
        p->timer = NULL;
    }
}


static void
sched_arm(probe_t *p, int64_t now)
{
    int64_t         d;
    struct timeval  tv;

    d = p->due - now;
    if (d < 0) {
        d = 0;
    }

    tv.tv_sec = d / 1000000;
    tv.tv_usec = d % 1000000;

    evtimer_add(p->timer, &tv);
}


static void
sched_fire(evutil_socket_t fd, short what, void *arg)
{
    int64_t    now, late, iv;
    uint64_t   r;
    probe_t   *p;

    p = arg;
    now = devmon_mono_us();
    late = now - p->due;
    iv = (int64_t) (p->cc->interval * 1e6);

    /* reservoir sampling keeps the percentiles honest at any rate */
    sched_seen++;
    if (sched_nlate < SCHED_SAMPLES) {
        sched_late[sched_nlate++] = late;
    } else {
        r = ((uint64_t) random() << 31 | random()) % sched_seen;
        if (r < SCHED_SAMPLES) {
            sched_late[r] = late;
        }
    }

    /* the next run keeps the phase; runs missed by a stalled loop are
     * skipped rather than fired in a burst */
    p->due += iv;
    if (p->due < now) {
        p->due = sched_next_due(now, p->due, 0, iv);
    }

    sched_arm(p, now);

    if (p->running) {
        sched_overruns++;
        return;
    }

    sched_runs++;
    probe_run(p);
}


static int
sched_cmp_i64(const void *a, const void *b)
{
    int64_t  x, y;

    x = *(const int64_t *) a;
    y = *(const int64_t *) b;

    return x < y ? -1 : x > y;
}


/* the counters since the last call */

void
sched_stats(sched_stats_t *st)
{
    memset(st, 0, sizeof(*st));

    st->runs = sched_runs;
    st->overruns = sched_overruns;

    if (sched_nlate) {
        qsort(sched_late, sched_nlate, sizeof(int64_t), sched_cmp_i64);
        st->late_p50 = sched_late[sched_nlate / 2] / 1000.0;
        st->late_p99 = sched_late[(sched_nlate * 99) / 100] / 1000.0;
        st->late_max = sched_late[sched_nlate - 1] / 1000.0;
    }

    sched_nlate = 0;
    sched_seen = 0;
    sched_runs = 0;
    sched_overruns = 0;
}


void
sched_fini(void)
{
    free(sched_late);
    sched_late = NULL;
}
