/* Metrics shared by all workers and the devmon_status page. */

/*
 * Copyright (C) devmon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_devmon_module.h"
#include "ngx_http_devmon_stats.h"
#include "ngx_http_devmon_zone.h"
#include "ngx_devmon_jwt.h"
#include "ngx_http_devmon_stream.h"


static ngx_http_devmon_gauges_t *ngx_http_devmon_stats_claim(
    ngx_http_devmon_metrics_t *m);
static void ngx_http_devmon_stats_gauges(ngx_http_devmon_metrics_t *m,
    ngx_http_devmon_gauges_t *sum, ngx_atomic_uint_t *workers);
static ngx_int_t ngx_http_devmon_stats_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_devmon_status_handler(ngx_http_request_t *r);
static u_char *ngx_http_devmon_status_counter(u_char *p, u_char *last,
    const char *name, const char *type, const char *help,
    ngx_atomic_uint_t value);


static const ngx_uint_t
    ngx_http_devmon_latency_bounds[NGX_HTTP_DEVMON_LATENCY_N] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000
};

static const char  *ngx_http_devmon_hs_names[NGX_HTTP_DEVMON_HS_N] = {
    "101", "400", "401", "403", "426", "429", "503", "other"
};

static const char  *ngx_http_devmon_link_names[2] = {
    "subscriber", "command"
};


ngx_http_devmon_stats_t *
ngx_http_devmon_stats_attach(ngx_cycle_t *cycle)
{
    size_t                      size;
    ngx_uint_t                  n;
    ngx_core_conf_t            *ccf;
    ngx_http_devmon_zone_t     *zone;
    ngx_http_devmon_gauges_t   *slot;
    ngx_http_devmon_stats_t    *st;
    ngx_http_devmon_metrics_t  *m, *old;

    st = ngx_pcalloc(cycle->pool, sizeof(ngx_http_devmon_stats_t));
    if (st == NULL) {
        return NULL;
    }

    st->gauges = &st->own;

    /* room for the workers of a few overlapping reloads */
    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    n = ngx_max(8, 4 * (ngx_uint_t) ccf->worker_processes);

    size = offsetof(ngx_http_devmon_metrics_t, slots)
           + n * sizeof(ngx_http_devmon_gauges_t);

    zone = ngx_http_devmon_zone_cycle(cycle);

    slot = NULL;
    m = NULL;

    if (zone != NULL) {
        ngx_shmtx_lock(&zone->shpool->mutex);

        old = zone->sh->metrics;

        if (old != NULL && old->size != sizeof(ngx_http_devmon_metrics_t)) {
            /* a reload with another layout: start afresh */
            old = NULL;
        }

        m = old;

        if (m == NULL || m->nslots < n) {
            m = ngx_slab_calloc_locked(zone->shpool, size);

            if (m == NULL) {
                /* more workers than slots, and no room to grow: make do */
                m = old;

            } else {
                if (old != NULL) {
                    /*
                     * More workers than slots after a reload: keep the
                     * counters and the slots.  The old block is not freed,
                     * workers of the old cycle may still write to it.
                     */
                    ngx_memcpy(m, old, offsetof(ngx_http_devmon_metrics_t,
                                                slots)
                               + old->nslots
                                 * sizeof(ngx_http_devmon_gauges_t));
                }

                m->size = sizeof(ngx_http_devmon_metrics_t);
                m->nslots = n;
                zone->sh->metrics = m;
            }
        }

        if (m != NULL) {
            slot = ngx_http_devmon_stats_claim(m);
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
    }

    if (m == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "devmon: no room for metrics in the shared zone");

        /* counted privately rather than checked on every hot path */
        m = ngx_pcalloc(cycle->pool, sizeof(ngx_http_devmon_metrics_t));
        if (m == NULL) {
            return NULL;
        }

    } else if (slot == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "devmon: all %ui metrics slots are held by live "
                      "workers, this one is not counted in the gauges",
                      m->nslots);
    }

    st->sh = m;

    if (slot != NULL) {
        st->gauges = slot;
    }

    return st;
}


/*
 * A slot of a pid that is gone (killed, crashed, or our own pid held by a
 * dead predecessor) is reused, zeroed; called with the zone locked.
 */

static ngx_http_devmon_gauges_t *
ngx_http_devmon_stats_claim(ngx_http_devmon_metrics_t *m)
{
    ngx_pid_t                  pid;
    ngx_uint_t                 i;
    ngx_http_devmon_gauges_t  *g;

    for (i = 0; i < m->nslots; i++) {
        g = &m->slots[i];
        pid = (ngx_pid_t) g->pid;

        if (pid != 0 && pid != ngx_pid
            && (kill(pid, 0) == 0 || ngx_errno != ESRCH))
        {
            continue;
        }

        /* zeroed before the pid is set: a scrape never sums stale values */
        g->pid = 0;
        ngx_memory_barrier();

        g->connections = 0;
        g->links_up[0] = 0;
        g->links_up[1] = 0;
        g->accounts = 0;
        ngx_memory_barrier();

        g->pid = (ngx_atomic_uint_t) ngx_pid;

        return g;
    }

    return NULL;
}


void
ngx_http_devmon_stats_detach(ngx_http_devmon_stats_t *st)
{
    if (st->gauges == &st->own) {
        return;
    }

    st->gauges->pid = 0;
    st->gauges = &st->own;
}


/* gauges summed over the slots of live workers; workers counts the slots */

static void
ngx_http_devmon_stats_gauges(ngx_http_devmon_metrics_t *m,
    ngx_http_devmon_gauges_t *sum, ngx_atomic_uint_t *workers)
{
    ngx_pid_t                  pid;
    ngx_uint_t                 i;
    ngx_http_devmon_gauges_t  *g;

    ngx_memzero(sum, sizeof(ngx_http_devmon_gauges_t));
    *workers = 0;

    for (i = 0; i < m->nslots; i++) {
        g = &m->slots[i];
        pid = (ngx_pid_t) g->pid;

        if (pid == 0
            || (pid != ngx_pid && kill(pid, 0) == -1 && ngx_errno == ESRCH))
        {
            continue;
        }

        (*workers)++;
        sum->connections += g->connections;
        sum->links_up[0] += g->links_up[0];
        sum->links_up[1] += g->links_up[1];
        sum->accounts += g->accounts;
    }
}


ngx_int_t
ngx_http_devmon_stats_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_devmon_stats_log_handler;

    return NGX_OK;
}


/* refused handshakes are counted when they are logged, whoever refused */

static ngx_int_t
ngx_http_devmon_stats_log_handler(ngx_http_request_t *r)
{
    ngx_http_devmon_loc_conf_t   *dlcf;
    ngx_http_devmon_main_conf_t  *dmcf;

    if (r != r->main) {
        return NGX_OK;
    }

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_devmon_module);

    if (dlcf == NULL || dlcf->serve != NGX_HTTP_DEVMON_WS
        || r->headers_out.status == NGX_HTTP_SWITCHING_PROTOCOLS)
    {
        /* 101 is counted when the connection opens */
        return NGX_OK;
    }

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_devmon_module);

    if (dmcf->stream.worker && dmcf->stream.worker->stats) {
        ngx_http_devmon_stats_handshake(dmcf->stream.worker->stats,
                                        r->headers_out.status);
    }

    return NGX_OK;
}


void
ngx_http_devmon_stats_handshake(ngx_http_devmon_stats_t *st,
    ngx_uint_t status)
{
    ngx_uint_t  i;

    switch (status) {
    case NGX_HTTP_SWITCHING_PROTOCOLS:
        i = NGX_HTTP_DEVMON_HS_101;
        break;
    case NGX_HTTP_BAD_REQUEST:
        i = NGX_HTTP_DEVMON_HS_400;
        break;
    case NGX_HTTP_UNAUTHORIZED:
        i = NGX_HTTP_DEVMON_HS_401;
        break;
    case NGX_HTTP_FORBIDDEN:
        i = NGX_HTTP_DEVMON_HS_403;
        break;
    case 426:
        i = NGX_HTTP_DEVMON_HS_426;
        break;
    case 429:
        i = NGX_HTTP_DEVMON_HS_429;
        break;
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        i = NGX_HTTP_DEVMON_HS_503;
        break;
    default:
        i = NGX_HTTP_DEVMON_HS_OTHER;
    }

    ngx_http_devmon_stats_inc(st, handshakes[i], 1);
}


void
ngx_http_devmon_stats_latency(ngx_http_devmon_stats_t *st, ngx_msec_int_t ms)
{
    ngx_uint_t  i;

    if (ms < 0) {
        /* the publisher's clock is ahead of ours */
        ms = 0;
    }

    for (i = 0; i < NGX_HTTP_DEVMON_LATENCY_N; i++) {
        if ((ngx_uint_t) ms <= ngx_http_devmon_latency_bounds[i]) {
            break;
        }
    }

    ngx_http_devmon_stats_inc(st, latency[i], 1);
    ngx_http_devmon_stats_inc(st, latency_sum, ms);
}


char *
ngx_http_devmon_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_devmon_loc_conf_t *dlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (dlcf->serve != NGX_HTTP_DEVMON_NONE) {
        return "is duplicate, or the location already serves devmon";
    }

    dlcf->serve = NGX_HTTP_DEVMON_STATUS;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_devmon_status_handler;

    return NGX_CONF_OK;
}


/* Prometheus text exposition format 0.0.4, summed over all workers */

static ngx_int_t
ngx_http_devmon_status_handler(ngx_http_request_t *r)
{
    u_char                       *p, *last;
    ngx_int_t                     rc;
    ngx_buf_t                    *b;
    ngx_uint_t                    i;
    ngx_atomic_uint_t             cumulative, workers;
    ngx_http_devmon_zone_t       *zone;
    ngx_http_devmon_gauges_t      g;
    ngx_http_devmon_metrics_t    *st;
    ngx_http_devmon_main_conf_t  *dmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_devmon_module);

    if (dmcf->stream.worker == NULL || dmcf->stream.worker->stats == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = dmcf->stream.worker->stats->sh;

    ngx_http_devmon_stats_gauges(st, &g, &workers);

    b = ngx_create_temp_buf(r->pool, 16384);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->pos;
    last = b->end;

    p = ngx_http_devmon_status_counter(p, last, "devmon_workers", "gauge",
            "Worker processes running the devmon streams.", workers);

    p = ngx_http_devmon_status_counter(p, last, "devmon_connections",
            "gauge", "Open WebSocket connections.", g.connections);

    p = ngx_slprintf(p, last,
                     "# HELP devmon_handshakes_total WebSocket handshakes "
                     "by answer.\n"
                     "# TYPE devmon_handshakes_total counter\n");

    for (i = 0; i < NGX_HTTP_DEVMON_HS_N; i++) {
        p = ngx_slprintf(p, last,
                         "devmon_handshakes_total{status=\"%s\"} %uA\n",
                         ngx_http_devmon_hs_names[i], st->handshakes[i]);
    }

    p = ngx_http_devmon_status_counter(p, last, "devmon_frames_sent_total",
            "counter", "Frames handed to client connections.", st->frames);

    p = ngx_http_devmon_status_counter(p, last, "devmon_bytes_sent_total",
            "counter", "Bytes of those frames.", st->bytes);

    p = ngx_http_devmon_status_counter(p, last,
            "devmon_slow_client_closes_total", "counter",
            "Clients closed with 4008 because their queue overflowed.",
            st->slow_closes);

    p = ngx_http_devmon_status_counter(p, last,
            "devmon_events_received_total", "counter",
            "Events received from Redis pub/sub.", st->events);

    p = ngx_http_devmon_status_counter(p, last,
            "devmon_events_replayed_total", "counter",
            "Events sent from the stream on resume or backfill.",
            st->replayed);

    p = ngx_http_devmon_status_counter(p, last, "devmon_resets_total",
            "counter", "Reset messages: a resume point was lost.",
            st->resets);

    p = ngx_slprintf(p, last,
                     "# HELP devmon_redis_link_up Workers whose Redis link "
                     "is up.\n"
                     "# TYPE devmon_redis_link_up gauge\n");

    for (i = 0; i < 2; i++) {
        p = ngx_slprintf(p, last, "devmon_redis_link_up{link=\"%s\"} %uA\n",
                         ngx_http_devmon_link_names[i], g.links_up[i]);
    }

    p = ngx_slprintf(p, last,
                     "# HELP devmon_redis_reconnects_total Redis links "
                     "restored after a loss.\n"
                     "# TYPE devmon_redis_reconnects_total counter\n");

    for (i = 0; i < 2; i++) {
        p = ngx_slprintf(p, last,
                         "devmon_redis_reconnects_total{link=\"%s\"} %uA\n",
                         ngx_http_devmon_link_names[i], st->reconnects[i]);
    }

    p = ngx_http_devmon_status_counter(p, last, "devmon_subscribed_accounts",
            "gauge", "Accounts subscribed, summed over workers.",
            g.accounts);

    p = ngx_slprintf(p, last,
                     "# HELP devmon_publish_to_send_seconds From an event's "
                     "publish time to its first write to a client socket, "
                     "per worker.\n"
                     "# TYPE devmon_publish_to_send_seconds histogram\n");

    cumulative = 0;

    for (i = 0; i < NGX_HTTP_DEVMON_LATENCY_N; i++) {
        cumulative += st->latency[i];

        p = ngx_slprintf(p, last,
                         "devmon_publish_to_send_seconds_bucket"
                         "{le=\"%ui.%03ui\"} %uA\n",
                         ngx_http_devmon_latency_bounds[i] / 1000,
                         ngx_http_devmon_latency_bounds[i] % 1000,
                         cumulative);
    }

    cumulative += st->latency[NGX_HTTP_DEVMON_LATENCY_N];

    p = ngx_slprintf(p, last,
                     "devmon_publish_to_send_seconds_bucket{le=\"+Inf\"} %uA\n"
                     "devmon_publish_to_send_seconds_sum %uA.%03uA\n"
                     "devmon_publish_to_send_seconds_count %uA\n",
                     cumulative, st->latency_sum / 1000,
                     st->latency_sum % 1000, cumulative);

    /* the auth counters, kept by ngx_http_devmon_zone.c */

    zone = ngx_http_devmon_zone_get(r);

    p = ngx_http_devmon_status_counter(p, last, "devmon_auth_accepted_total",
            "counter", "Tokens accepted at handshakes and snapshots.",
            ngx_http_devmon_stat_get(zone, NGX_DEVMON_JWT_OK));

    p = ngx_slprintf(p, last,
                     "# HELP devmon_auth_failures_total Tokens refused, "
                     "by reason.\n"
                     "# TYPE devmon_auth_failures_total counter\n");

    for (i = NGX_DEVMON_JWT_OK + 1; i < NGX_DEVMON_JWT_NREASONS; i++) {
        p = ngx_slprintf(p, last,
                         "devmon_auth_failures_total{reason=\"%s\"} %uA\n",
                         ngx_devmon_jwt_reason_name(i),
                         ngx_http_devmon_stat_get(zone, i));
    }

    p = ngx_slprintf(p, last,
                     "# HELP devmon_auth_events_total Other session "
                     "events: caps, renewals, expiries.\n"
                     "# TYPE devmon_auth_events_total counter\n");

    for (i = NGX_DEVMON_JWT_NREASONS; i < NGX_HTTP_DEVMON_NSTATS; i++) {
        /* "auth_user_limit" -> "user_limit" */
        p = ngx_slprintf(p, last,
                         "devmon_auth_events_total{event=\"%s\"} %uA\n",
                         ngx_http_devmon_stat_name(i) + 5,
                         ngx_http_devmon_stat_get(zone, i));
    }

    if (p == last) {
        /* ngx_slprintf() stopped at the end: the page would be cut */
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "devmon: status page outgrew its buffer");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = p;

    return ngx_http_devmon_send_buf(r, NGX_HTTP_OK,
                                    "text/plain; version=0.0.4; charset=utf-8",
                                    b);
}


static u_char *
ngx_http_devmon_status_counter(u_char *p, u_char *last, const char *name,
    const char *type, const char *help, ngx_atomic_uint_t value)
{
    return ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n%s %uA\n",
                        name, help, name, type, name, value);
}
