/* devmon: what probed and alertd both speak: state names, clock, key hash */

#ifndef _DEVMON_H_INCLUDED_
#define _DEVMON_H_INCLUDED_


#include <stdint.h>


/* the "st" words of events, indexed by state; the order is "how bad" */
#define DEVMON_ST_NAMES  { "unknown", "up", "degraded", "down" }


int64_t devmon_now_ms(void);        /* wall clock, epoch milliseconds */
int64_t devmon_mono_us(void);       /* monotonic clock, microseconds */


/* FNV-1a over "a\0b": buckets keyed by two ids */

static inline uint32_t
devmon_hash(const char *a, const char *b)
{
    uint32_t  h;

    h = 2166136261u;

    for ( /* void */ ; *a; a++) {
        h = (h ^ (unsigned char) *a) * 16777619u;
    }

    h *= 16777619u;

    for ( /* void */ ; *b; b++) {
        h = (h ^ (unsigned char) *b) * 16777619u;
    }

    return h;
}


#endif /* _DEVMON_H_INCLUDED_ */
