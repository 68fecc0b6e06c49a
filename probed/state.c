/* state: check hysteresis, device state, flap score, transition hooks */

#include <math.h>
#include <stddef.h>

#include "probed.h"
#include "state.h"


#define STATE_MAXHOOKS  8


typedef struct {
    state_hook_pt   hook;
    void           *data;
} state_hook_t;


static state_hook_t  state_hooks[STATE_MAXHOOKS];
static int           state_nhooks;


/*
 * Feeds one raw result to a check's filter; returns 1 when the filtered
 * state changed.  The first result sets the state at once (there is nothing
 * to smooth yet); going down takes down_after results in a row, any other
 * change (leaving down, up <-> degraded) takes up_after.  Unknown results
 * (the check could not run) leave the filter alone.
 */

int
state_check_feed(state_check_t *c, int raw, int down_after, int up_after)
{
    int  need;

    if (raw == ST_UNKNOWN) {
        return 0;
    }

    if (c->st == ST_UNKNOWN) {
        c->st = raw;
        c->cand = raw;
        c->run = 0;
        return 1;
    }

    if (raw == c->st) {
        c->cand = raw;
        c->run = 0;
        return 0;
    }

    if (raw == c->cand) {
        c->run++;

    } else {
        c->cand = raw;
        c->run = 1;
    }

    need = (raw == ST_DOWN) ? down_after : up_after;

    if (c->run < need) {
        return 0;
    }

    c->st = raw;
    c->run = 0;

    return 1;
}


int
state_worst(int a, int b)
{
    return a > b ? a : b;
}


/*
 * Moves a device to state st (the worst of its checks' filtered states) and
 * keeps its flap score: every change adds 1, the score halves every
 * flap_halflife seconds; flapping starts at flap_threshold and ends below
 * half of it so the flag itself does not flap.
 */

int
state_dev_update(state_dev_t *d, int st, int64_t now, double flap_threshold,
    double flap_halflife)
{
    int  rc;

    rc = 0;

    if (d->flap_t != 0 && now > d->flap_t) {
        d->flap *= pow(0.5, (now - d->flap_t) / 1000.0 / flap_halflife);
    }

    d->flap_t = now;

    if (st != d->st) {
        if (d->st != ST_UNKNOWN) {
            d->flap += 1.0;
        }

        d->st = st;
        rc |= STATE_CHANGED;
    }

    if (!d->flapping && d->flap >= flap_threshold) {
        d->flapping = 1;
        rc |= STATE_FLAP_START;

    } else if (d->flapping && d->flap < flap_threshold / 2) {
        d->flapping = 0;
        rc |= STATE_FLAP_END;
    }

    return rc;
}


int
state_hook_add(state_hook_pt hook, void *data)
{
    if (state_nhooks == STATE_MAXHOOKS) {
        return -1;
    }

    state_hooks[state_nhooks].hook = hook;
    state_hooks[state_nhooks].data = data;
    state_nhooks++;

    return 0;
}


void
state_hook_remove(state_hook_pt hook, void *data)
{
    int  i;

    for (i = 0; i < state_nhooks; i++) {
        if (state_hooks[i].hook == hook && state_hooks[i].data == data) {
            state_hooks[i] = state_hooks[--state_nhooks];
            return;
        }
    }
}


void
state_emit(const state_transition_t *tr)
{
    int  i;

    for (i = 0; i < state_nhooks; i++) {
        state_hooks[i].hook(tr, state_hooks[i].data);
    }
}
