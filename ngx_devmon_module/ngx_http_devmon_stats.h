/* Metrics shared by all workers and the devmon_status page. */

/*
 * Copyright (C) devmon authors
 */


#ifndef _NGX_HTTP_DEVMON_STATS_H_INCLUDED_
#define _NGX_HTTP_DEVMON_STATS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_devmon_module.h"


/* handshake results, by answer */
#define NGX_HTTP_DEVMON_HS_101        0
#define NGX_HTTP_DEVMON_HS_400        1
#define NGX_HTTP_DEVMON_HS_401        2
#define NGX_HTTP_DEVMON_HS_403        3
#define NGX_HTTP_DEVMON_HS_426        4
#define NGX_HTTP_DEVMON_HS_429        5
#define NGX_HTTP_DEVMON_HS_503        6
#define NGX_HTTP_DEVMON_HS_OTHER      7
#define NGX_HTTP_DEVMON_HS_N          8

#define NGX_HTTP_DEVMON_LINK_SUB      0
#define NGX_HTTP_DEVMON_LINK_CMD      1

/* publish-to-send latency, upper bounds in ms; one more for +Inf */
#define NGX_HTTP_DEVMON_LATENCY_N     12


/*
 * Gauges of one worker, in a slot of the zone keyed by its pid.  Only that
 * worker writes them, without a lock; devmon_status sums the slots whose
 * pid is alive, so a worker killed before it could take its share back
 * drops out of the sums, and the next worker to start reuses its slot.
 */
typedef struct {
    ngx_atomic_t                 pid;          /* 0: free */
    ngx_atomic_t                 connections;
    ngx_atomic_t                 links_up[2];
    ngx_atomic_t                 accounts;
} ngx_http_devmon_gauges_t;


/*
 * Counters summed over all workers, in the devmon zone (shctx->metrics,
 * allocated by the first worker, adopted after a reload), followed by
 * the gauge slots.
 */
typedef struct {
    ngx_uint_t                   size;         /* layout check on reload */
    ngx_uint_t                   nslots;
    ngx_atomic_t                 handshakes[NGX_HTTP_DEVMON_HS_N];
    ngx_atomic_t                 frames;
    ngx_atomic_t                 bytes;
    ngx_atomic_t                 slow_closes;
    ngx_atomic_t                 events;       /* received from pub/sub */
    ngx_atomic_t                 replayed;     /* sent from the stream */
    ngx_atomic_t                 resets;
    ngx_atomic_t                 reconnects[2];
    ngx_atomic_t                 latency[NGX_HTTP_DEVMON_LATENCY_N + 1];
    ngx_atomic_t                 latency_sum;  /* ms */
    ngx_http_devmon_gauges_t     slots[1];     /* nslots of them */
} ngx_http_devmon_metrics_t;


/* what a worker holds, in its own memory */
typedef struct {
    ngx_http_devmon_metrics_t   *sh;
    ngx_http_devmon_gauges_t    *gauges;       /* its slot, or "own" */
    ngx_http_devmon_gauges_t     own;          /* no slot, or after exit */
} ngx_http_devmon_stats_t;


#define ngx_http_devmon_stats_inc(st, field, n)                              \
    (void) ngx_atomic_fetch_add(&(st)->sh->field, (ngx_atomic_int_t) (n))

/* the slot has one writer: a plain add is enough */
#define ngx_http_devmon_gauge_add(st, field, n)                              \
    (st)->gauges->field += (ngx_atomic_uint_t) (n)


/*
 * Adopts the zone's metrics and claims a gauge slot; falls back to
 * private memory (counted, never shown) when the zone has no room.
 * NULL: out of memory.
 */
ngx_http_devmon_stats_t *ngx_http_devmon_stats_attach(ngx_cycle_t *cycle);
/* frees the slot at worker exit; later updates go to "own" */
void ngx_http_devmon_stats_detach(ngx_http_devmon_stats_t *st);
ngx_int_t ngx_http_devmon_stats_postconfiguration(ngx_conf_t *cf);
void ngx_http_devmon_stats_handshake(ngx_http_devmon_stats_t *st,
    ngx_uint_t status);
void ngx_http_devmon_stats_latency(ngx_http_devmon_stats_t *st,
    ngx_msec_int_t ms);

char *ngx_http_devmon_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_DEVMON_STATS_H_INCLUDED_ */
