/* probe: devices and their checks at run time; results into state and Redis */

#ifndef _PROBE_H_INCLUDED_
#define _PROBE_H_INCLUDED_


#include <event2/event.h>
#include <event2/dns.h>

#include "probed.h"
#include "conf.h"
#include "state.h"
#include "result.h"


typedef struct device_s  device_t;
typedef struct probe_s   probe_t;


struct probe_s {
    device_t           *dev;
    conf_check_t       *cc;
    int                 kind;
    state_check_t       filter;
    const char         *er;         /* reason of the last raw result */
    struct event       *timer;
    int64_t             due;        /* monotonic us of the next run */
    int64_t             started;    /* monotonic us the run began */
    unsigned            running:1;
    unsigned            dead:1;     /* removed by a reload while running */
    void               *kctx;       /* the kind module's state */
};


struct device_s {
    device_t           *next;
    conf_account_t     *acct;
    conf_device_t      *cd;
    probe_t            *probes;
    int                 nprobes;
    int                 nrunning;
    state_dev_t         state;
    unsigned            dead:1;
};


typedef struct {
    uint64_t            results;
    uint64_t            changes;
} probe_stats_t;


int probe_init(struct event_base *base, struct evdns_base *dns);
int probe_apply(conf_t *conf, conf_t *old);
void probe_run(probe_t *p);
void probe_done(probe_t *p, result_t *r);
void probe_heartbeat(int64_t interval_ms);
void probe_stats(probe_stats_t *st);
int probe_count(void);
int probe_zombies(void);
void probe_fini(void);

extern struct evdns_base  *probe_dns;
extern conf_t             *probe_conf;


#endif /* _PROBE_H_INCLUDED_ */
