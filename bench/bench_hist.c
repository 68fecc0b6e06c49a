/* Latency histogram for the benches: bucket maths, percentiles, output. */

/*
 * Copyright (C) devmon authors
 */


#include <string.h>

#include "bench_hist.h"


static unsigned
bench_hist_index(uint64_t v)
{
    unsigned  e;

    if (v < BENCH_HIST_SUB) {
        return (unsigned) v;
    }

    e = 63 - __builtin_clzll(v);

    if (e > BENCH_HIST_MAX_EXP) {
        return BENCH_HIST_BUCKETS - 1;
    }

    /* top BENCH_HIST_SUB_BITS bits of v, the leading 1 included */
    return BENCH_HIST_SUB + (e - BENCH_HIST_SUB_BITS) * BENCH_HIST_HALF
           + (unsigned) (v >> (e - BENCH_HIST_SUB_BITS + 1)) - BENCH_HIST_HALF;
}


/* the largest value that falls into bucket i */

static uint64_t
bench_hist_value(unsigned i)
{
    unsigned  e, s;

    if (i < BENCH_HIST_SUB) {
        return i;
    }

    e = (i - BENCH_HIST_SUB) / BENCH_HIST_HALF + BENCH_HIST_SUB_BITS;
    s = (i - BENCH_HIST_SUB) % BENCH_HIST_HALF + BENCH_HIST_HALF;

    return (((uint64_t) s + 1) << (e - BENCH_HIST_SUB_BITS + 1)) - 1;
}


void
bench_hist_add(bench_hist_t *h, uint64_t v)
{
    h->bucket[bench_hist_index(v)]++;
    h->count++;
    h->sum += v;

    if (v > h->max) {
        h->max = v;
    }
}


void
bench_hist_merge(bench_hist_t *to, const bench_hist_t *from)
{
    unsigned  i;

    for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
        to->bucket[i] += from->bucket[i];
    }

    to->count += from->count;
    to->sum += from->sum;

    if (from->max > to->max) {
        to->max = from->max;
    }
}


/*
 * to = a - b, for interval reports: b is an earlier copy of a.  The max of
 * the interval is not known exactly; the highest non-empty bucket is used.
 */

void
bench_hist_sub(bench_hist_t *to, const bench_hist_t *a, const bench_hist_t *b)
{
    unsigned  i;

    to->count = a->count - b->count;
    to->sum = a->sum - b->sum;
    to->max = 0;

    for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
        to->bucket[i] = a->bucket[i] - b->bucket[i];

        if (to->bucket[i]) {
            to->max = bench_hist_value(i);
        }
    }

    if (to->max > a->max) {
        to->max = a->max;
    }
}


uint64_t
bench_hist_pct(const bench_hist_t *h, double pct)
{
    unsigned  i;
    uint64_t  rank, seen;

    if (h->count == 0) {
        return 0;
    }

    rank = (uint64_t) ((double) h->count * pct / 100.0 + 0.5);
    if (rank == 0) {
        rank = 1;
    }

    seen = 0;

    for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->bucket[i];

        if (seen >= rank) {
            return bench_hist_value(i) < h->max ? bench_hist_value(i) : h->max;
        }
    }

    return h->max;
}


void
bench_hist_json(FILE *f, const char *name, const bench_hist_t *h)
{
    fprintf(f, "\"%s\":{\"n\":%llu,\"mean\":%.1f,\"p50\":%llu,\"p90\":%llu,"
            "\"p99\":%llu,\"p999\":%llu,\"max\":%llu}",
            name, (unsigned long long) h->count,
            h->count ? (double) h->sum / (double) h->count : 0.0,
            (unsigned long long) bench_hist_pct(h, 50.0),
            (unsigned long long) bench_hist_pct(h, 90.0),
            (unsigned long long) bench_hist_pct(h, 99.0),
            (unsigned long long) bench_hist_pct(h, 99.9),
            (unsigned long long) h->max);
}
