/* state: check hysteresis, device state and flap score */

#include <math.h>
#include <stddef.h>

#include "probed.h"
#include "state.h"


/*
 * Feeds one raw result to a check's filter; returns 1 when the filtered
 * state changed.  The first result sets the state at once (there is nothing
 * to smooth yet).  After that the filter counts consecutive results that
 * differ from the filtered state, whatever they are, and remembers the
 * best of them: a run of down_after results that are all down goes down;
 * a run of up_after results that are not all down moves to the best state
 * seen in it.  Counting any difference (not one candidate state) keeps
 * results that alternate down, degraded, down from holding a check "up"
 * for ever.  Unknown results (the check could not run) leave the filter
 * alone.
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
        c->run = 0;
        return 1;
    }

    if (raw == c->st) {
        c->run = 0;
        return 0;
    }

    if (c->run == 0 || raw < c->best) {
        /* ST_UP < ST_DEGRADED < ST_DOWN: lower is better */
        c->best = raw;
    }

    c->run++;

    need = (c->best == ST_DOWN) ? down_after : up_after;

    if (c->run < need) {
        return 0;
    }

    /* best differs from st: every result in the run did */
    c->run = 0;
    c->st = c->best;

    return 1;
}


/*
 * Moves a device to state st (the worst of its checks' filtered states) and
 * keeps its flap score: every change adds 1, the score halves every
 * flap_halflife seconds; flapping starts at flap_threshold and ends below
 * half of it so the flag itself does not flap.  now is monotonic ms: a
 * wall clock step must not decay or freeze the score.
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
