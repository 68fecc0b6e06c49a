/* Latency histogram for the benches: log-linear buckets, mergeable. */

/*
 * Copyright (C) devmon authors
 */


#ifndef _BENCH_HIST_H_INCLUDED_
#define _BENCH_HIST_H_INCLUDED_


#include <stdint.h>
#include <stdio.h>


/*
 * Values below 2^BENCH_HIST_SUB_BITS are exact; above, each power of two
 * is split into 2^(BENCH_HIST_SUB_BITS - 1) buckets, so a reported
 * percentile is within about 1.6% of the true value.
 */
#define BENCH_HIST_SUB_BITS  7
#define BENCH_HIST_SUB       (1 << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_HALF      (BENCH_HIST_SUB / 2)
#define BENCH_HIST_MAX_EXP   40
#define BENCH_HIST_BUCKETS                                                   \
    (BENCH_HIST_SUB + (BENCH_HIST_MAX_EXP - BENCH_HIST_SUB_BITS + 1)          \
                      * BENCH_HIST_HALF)


typedef struct {
    uint64_t    count;
    uint64_t    sum;
    uint64_t    max;
    uint64_t    bucket[BENCH_HIST_BUCKETS];
} bench_hist_t;


void bench_hist_add(bench_hist_t *h, uint64_t v);
void bench_hist_merge(bench_hist_t *to, const bench_hist_t *from);
void bench_hist_sub(bench_hist_t *to, const bench_hist_t *a,
    const bench_hist_t *b);
uint64_t bench_hist_pct(const bench_hist_t *h, double pct);
void bench_hist_json(FILE *f, const char *name, const bench_hist_t *h);


#endif /* _BENCH_HIST_H_INCLUDED_ */
