/* The shared memory zone of all workers: per-user counts and counters. */

/*
 * Copyright (C) devmon authors
 */


#ifndef _NGX_HTTP_DEVMON_ZONE_H_INCLUDED_
#define _NGX_HTTP_DEVMON_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_devmon_jwt.h"


#define NGX_HTTP_DEVMON_ZONE_NAME     "devmon"
#define NGX_HTTP_DEVMON_ZONE_SIZE     (1024 * 1024)

/* bumped when ngx_http_devmon_shctx_t changes: a reload cannot adopt it */
#define NGX_HTTP_DEVMON_ZONE_MAGIC    0x64766d01


/*
 * Auth counters, summed over all workers (ngx_atomic_t in the zone, no
 * lock).  The first NGX_DEVMON_JWT_NREASONS are handshakes and snapshot
 * requests by token verdict (index NGX_DEVMON_JWT_OK counts accepted
 * ones); the rest follow.
 */
#define NGX_HTTP_DEVMON_STAT_USER_LIMIT     (NGX_DEVMON_JWT_NREASONS + 0)
#define NGX_HTTP_DEVMON_STAT_RENEWED        (NGX_DEVMON_JWT_NREASONS + 1)
#define NGX_HTTP_DEVMON_STAT_RENEW_FAILED   (NGX_DEVMON_JWT_NREASONS + 2)
#define NGX_HTTP_DEVMON_STAT_CLOSED_EXPIRED (NGX_DEVMON_JWT_NREASONS + 3)
#define NGX_HTTP_DEVMON_STAT_CLOSED_OTHER   (NGX_DEVMON_JWT_NREASONS + 4)
#define NGX_HTTP_DEVMON_STAT_ZONE_FULL      (NGX_DEVMON_JWT_NREASONS + 5)
#define NGX_HTTP_DEVMON_STAT_RECLAIMED      (NGX_DEVMON_JWT_NREASONS + 6)
#define NGX_HTTP_DEVMON_NSTATS              (NGX_DEVMON_JWT_NREASONS + 7)


/*
 * Layout of the zone.  Issue 4 (metrics) hangs its own structure off
 * "metrics", allocated from the same slab pool when it is NULL (a reload
 * finds it already there).
 */
typedef struct {
    ngx_uint_t                   magic;
    ngx_rbtree_t                 users;     /* ngx_http_devmon_user_t */
    ngx_rbtree_node_t            sentinel;
    ngx_atomic_t                 stats[NGX_HTTP_DEVMON_NSTATS];
    void                        *metrics;   /* issue 4 */
} ngx_http_devmon_shctx_t;


/*
 * One authenticated user ("account user", a space cannot occur in an
 * account), with one entry per worker holding its connections: a new
 * worker in the slot of a crashed one takes the dead worker's entries
 * back (see ngx_http_devmon_zone_init_process()).
 */
typedef struct {
    ngx_queue_t                  queue;
    ngx_pid_t                    pid;
    ngx_int_t                    slot;      /* ngx_process_slot */
    ngx_uint_t                   count;
} ngx_http_devmon_user_worker_t;


typedef struct {
    ngx_rbtree_node_t            node;      /* key: crc32 of data */
    ngx_queue_t                  workers;
    ngx_uint_t                   total;
    size_t                       len;
    u_char                       data[1];
} ngx_http_devmon_user_t;


typedef struct {
    ngx_http_devmon_shctx_t     *sh;
    ngx_slab_pool_t             *shpool;
} ngx_http_devmon_zone_t;


char *ngx_http_devmon_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* adds the default zone if "devmon_zone" did not declare one */
ngx_int_t ngx_http_devmon_zone_ensure(ngx_conf_t *cf);

ngx_http_devmon_zone_t *ngx_http_devmon_zone_get(ngx_http_request_t *r);
ngx_http_devmon_zone_t *ngx_http_devmon_zone_cycle(ngx_cycle_t *cycle);

ngx_int_t ngx_http_devmon_zone_init_process(ngx_cycle_t *cycle);
void ngx_http_devmon_zone_exit_process(ngx_cycle_t *cycle);

/* counters: what issue 4 prints on devmon_status, by name */
void ngx_http_devmon_stat_add(ngx_http_devmon_zone_t *zone, ngx_uint_t n);
ngx_atomic_uint_t ngx_http_devmon_stat_get(ngx_http_devmon_zone_t *zone,
    ngx_uint_t n);
const char *ngx_http_devmon_stat_name(ngx_uint_t n);

/*
 * Counts one more connection of user (at most "limit", 0: no limit).
 * NGX_OK: counted; NGX_BUSY: at the limit; NGX_ERROR: the zone is full.
 */
ngx_int_t ngx_http_devmon_user_acquire(ngx_http_devmon_zone_t *zone,
    ngx_str_t *user, ngx_uint_t limit);
void ngx_http_devmon_user_release(ngx_http_devmon_zone_t *zone,
    ngx_str_t *user);
ngx_uint_t ngx_http_devmon_user_count(ngx_http_devmon_zone_t *zone,
    ngx_str_t *user);


#endif /* _NGX_HTTP_DEVMON_ZONE_H_INCLUDED_ */
