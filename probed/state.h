/* state: check hysteresis, device state and flap score */

#ifndef _STATE_H_INCLUDED_
#define _STATE_H_INCLUDED_


#include <stdint.h>


/* the filtered state of one check */
typedef struct {
    int             st;         /* filtered state */
    int             best;       /* best state seen in the current run */
    int             run;        /* consecutive results other than st */
} state_check_t;


/* the state of one device in this region: the worst of its checks */
typedef struct {
    int             st;
    double          flap;       /* decayed count of state changes */
    int64_t         flap_t;     /* monotonic ms of the last decay */
    unsigned        flapping:1;
} state_dev_t;


#define STATE_CHANGED       0x01
#define STATE_FLAP_START    0x02
#define STATE_FLAP_END      0x04


int state_check_feed(state_check_t *c, int raw, int down_after,
    int up_after);
int state_dev_update(state_dev_t *d, int st, int64_t now,
    double flap_threshold, double flap_halflife);


#endif /* _STATE_H_INCLUDED_ */
