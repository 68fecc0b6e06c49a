/* sched: runs every check once per interval, spread evenly, never in bursts */

#ifndef _SCHED_H_INCLUDED_
#define _SCHED_H_INCLUDED_


#include <stdint.h>
#include <event2/event.h>


typedef struct probe_s  probe_t;


typedef struct {
    uint64_t        runs;
    uint64_t        overruns;       /* a run was due while one was going */
    double          late_p50;       /* ms */
    double          late_p99;
    double          late_max;
} sched_stats_t;


int sched_init(struct event_base *base);
int64_t sched_phase(int index, int n, int64_t interval);
int64_t sched_next_due(int64_t now, int64_t anchor, int64_t phase,
    int64_t interval);
void sched_plan(probe_t **probes, int n);
void sched_remove(probe_t *p);
void sched_stats(sched_stats_t *st);
void sched_fini(void);


#endif /* _SCHED_H_INCLUDED_ */
