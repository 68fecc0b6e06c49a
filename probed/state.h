/* state: check hysteresis, device state, flap score, transition hooks */

#ifndef _STATE_H_INCLUDED_
#define _STATE_H_INCLUDED_


#include <stdint.h>


/* the filtered state of one check */
typedef struct {
    int             st;         /* filtered state */
    int             cand;       /* the state recent results point to */
    int             run;        /* consecutive results at cand */
} state_check_t;


/* the state of one device in this region: the worst of its checks */
typedef struct {
    int             st;
    double          flap;       /* decayed count of state changes */
    int64_t         flap_t;     /* ms of the last decay */
    unsigned        flapping:1;
} state_dev_t;


#define STATE_CHANGED       0x01
#define STATE_FLAP_START    0x02
#define STATE_FLAP_END      0x04


typedef enum {
    STATE_EV_CHANGE = 1,        /* device state changed (st, was) */
    STATE_EV_FLAP_START,        /* flap score crossed flap_threshold */
    STATE_EV_FLAP_END,          /* flap score fell below half of it */
    STATE_EV_REBOOT             /* SNMP uptime went backwards */
} state_ev_e;


/*
 * What a hook receives.  Hooks run on the event loop right after the
 * transition was published: they must not block (the alert module queues
 * the notification and returns).  Strings live until the hook returns.
 */
typedef struct {
    int             type;       /* state_ev_e */
    const char     *account;
    const char     *device;
    const char     *name;       /* device display name */
    const char     *region;
    const char     *kind;       /* the check that caused it */
    int             st;
    int             was;
    const char     *er;
    double          flap;
    unsigned        flapping:1;
    int64_t         t;          /* epoch ms */
} state_transition_t;

typedef void (*state_hook_pt)(const state_transition_t *tr, void *data);


int state_check_feed(state_check_t *c, int raw, int down_after,
    int up_after);
int state_worst(int a, int b);
int state_dev_update(state_dev_t *d, int st, int64_t now,
    double flap_threshold, double flap_halflife);

int state_hook_add(state_hook_pt hook, void *data);
void state_hook_remove(state_hook_pt hook, void *data);
void state_emit(const state_transition_t *tr);


#endif /* _STATE_H_INCLUDED_ */
