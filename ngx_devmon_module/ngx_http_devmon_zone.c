/* The shared memory zone of all workers: per-user counts and counters. */

/*
 * Copyright (C) devmon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_devmon_module.h"
#include "ngx_http_devmon_zone.h"


static ngx_int_t ngx_http_devmon_zone_add(ngx_conf_t *cf, ngx_str_t *name,
    size_t size);
static ngx_int_t ngx_http_devmon_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_devmon_user_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_devmon_user_t *ngx_http_devmon_user_lookup(
    ngx_http_devmon_zone_t *zone, ngx_str_t *user, uint32_t hash);
static ngx_uint_t ngx_http_devmon_user_drop(ngx_http_devmon_zone_t *zone,
    ngx_int_t slot, ngx_pid_t pid, ngx_uint_t same_pid);
static ngx_uint_t ngx_http_devmon_user_drop_dead(
    ngx_http_devmon_zone_t *zone, ngx_http_devmon_user_t *u);
static void ngx_http_devmon_user_reclaimed(ngx_http_devmon_zone_t *zone,
    ngx_uint_t n);


static const char  *ngx_http_devmon_stat_names[] = {
    "auth_ok",
    "auth_missing",
    "auth_too_large",
    "auth_malformed",
    "auth_bad_alg",
    "auth_unknown_kid",
    "auth_bad_signature",
    "auth_expired",
    "auth_not_yet_valid",
    "auth_iat_future",
    "auth_wrong_issuer",
    "auth_wrong_audience",
    "auth_no_account",
    "auth_no_user",
    "auth_user_limit",
    "auth_renewed",
    "auth_renew_failed",
    "auth_closed_expired",
    "auth_closed_other_identity",
    "auth_zone_full",
    "auth_reclaimed"
};

_Static_assert(sizeof(ngx_http_devmon_stat_names) / sizeof(char *)
               == NGX_HTTP_DEVMON_NSTATS,
               "a name for each NGX_HTTP_DEVMON_STAT_*");


char *
ngx_http_devmon_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_devmon_main_conf_t *dmcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (dmcf->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "devmon zone \"%V\" size \"%V\" is invalid or "
                           "below %uz", &value[1], &value[2],
                           8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_devmon_zone_add(cf, &value[1], size) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_devmon_zone_ensure(ngx_conf_t *cf)
{
    ngx_str_t                     name = ngx_string(NGX_HTTP_DEVMON_ZONE_NAME);
    ngx_http_devmon_main_conf_t  *dmcf;

    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_devmon_module);

    if (dmcf->zone) {
        return NGX_OK;
    }

    return ngx_http_devmon_zone_add(cf, &name, NGX_HTTP_DEVMON_ZONE_SIZE);
}


static ngx_int_t
ngx_http_devmon_zone_add(ngx_conf_t *cf, ngx_str_t *name, size_t size)
{
    ngx_shm_zone_t               *shm_zone;
    ngx_http_devmon_zone_t       *zone;
    ngx_http_devmon_main_conf_t  *dmcf;

    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_devmon_module);

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_devmon_zone_t));
    if (zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, name, size, &ngx_http_devmon_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared memory zone \"%V\" is already used by "
                           "devmon", name);
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_devmon_zone_init;
    shm_zone->data = zone;

    dmcf->zone = shm_zone;

    return NGX_OK;
}


/* a reload adopts the old zone, so counts and counters carry over */

static ngx_int_t
ngx_http_devmon_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_devmon_zone_t  *ozone = data;

    size_t                   len;
    ngx_http_devmon_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        if (ozone->sh->magic != NGX_HTTP_DEVMON_ZONE_MAGIC) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "devmon zone \"%V\" was made by another version "
                          "of the module: restart nginx instead of "
                          "reloading", &shm_zone->shm.name);
            return NGX_ERROR;
        }

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_calloc(zone->shpool, sizeof(ngx_http_devmon_shctx_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;
    zone->sh->magic = NGX_HTTP_DEVMON_ZONE_MAGIC;

    ngx_rbtree_init(&zone->sh->users, &zone->sh->sentinel,
                    ngx_http_devmon_user_insert);

    len = sizeof(" in devmon zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in devmon zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone refuses the connection (503) and says so itself */
    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


ngx_http_devmon_zone_t *
ngx_http_devmon_zone_get(ngx_http_request_t *r)
{
    ngx_http_devmon_main_conf_t  *dmcf;

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_devmon_module);

    if (dmcf == NULL || dmcf->zone == NULL) {
        return NULL;
    }

    return dmcf->zone->data;
}


ngx_http_devmon_zone_t *
ngx_http_devmon_zone_cycle(ngx_cycle_t *cycle)
{
    ngx_http_devmon_main_conf_t  *dmcf;

    /* NULL without an http block */
    dmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_devmon_module);

    if (dmcf == NULL || dmcf->zone == NULL) {
        return NULL;
    }

    return dmcf->zone->data;
}


/*
 * The master respawns a crashed worker into the same process slot, and
 * a slot is reused only after its process was reaped; so entries with
 * our slot and another pid belong to a dead worker whose pool cleanups
 * never ran.  They are dropped here.
 */

ngx_int_t
ngx_http_devmon_zone_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t               n;
    ngx_http_devmon_zone_t  *zone;

    zone = ngx_http_devmon_zone_cycle(cycle);
    if (zone == NULL) {
        return NGX_OK;
    }

    n = ngx_http_devmon_user_drop(zone, ngx_process_slot, ngx_pid, 0);

    if (n) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "devmon: reclaimed %ui user connection slots of a "
                      "dead worker", n);
    }

    return NGX_OK;
}


/* what is still counted when a worker exits goes with it */

void
ngx_http_devmon_zone_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_devmon_zone_t  *zone;

    zone = ngx_http_devmon_zone_cycle(cycle);
    if (zone == NULL) {
        return;
    }

    (void) ngx_http_devmon_user_drop(zone, ngx_process_slot, ngx_pid, 1);
}


void
ngx_http_devmon_stat_add(ngx_http_devmon_zone_t *zone, ngx_uint_t n)
{
    if (zone && n < NGX_HTTP_DEVMON_NSTATS) {
        (void) ngx_atomic_fetch_add(&zone->sh->stats[n], 1);
    }
}


ngx_atomic_uint_t
ngx_http_devmon_stat_get(ngx_http_devmon_zone_t *zone, ngx_uint_t n)
{
    if (zone == NULL || n >= NGX_HTTP_DEVMON_NSTATS) {
        return 0;
    }

    return zone->sh->stats[n];
}


const char *
ngx_http_devmon_stat_name(ngx_uint_t n)
{
    if (n >= NGX_HTTP_DEVMON_NSTATS) {
        return NULL;
    }

    return ngx_http_devmon_stat_names[n];
}


ngx_int_t
ngx_http_devmon_user_acquire(ngx_http_devmon_zone_t *zone, ngx_str_t *user,
    ngx_uint_t limit)
{
    uint32_t                        hash;
    ngx_uint_t                      reclaimed;
    ngx_queue_t                    *q;
    ngx_http_devmon_user_t         *u;
    ngx_http_devmon_user_worker_t  *w;

    hash = ngx_crc32_short(user->data, user->len);
    reclaimed = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    u = ngx_http_devmon_user_lookup(zone, user, hash);

    if (u == NULL) {
        u = ngx_slab_alloc_locked(zone->shpool,
                                  offsetof(ngx_http_devmon_user_t, data)
                                  + user->len);
        if (u == NULL) {
            goto full;
        }

        u->node.key = hash;
        u->total = 0;
        u->len = user->len;
        ngx_memcpy(u->data, user->data, user->len);
        ngx_queue_init(&u->workers);

        ngx_rbtree_insert(&zone->sh->users, &u->node);
    }

    if (limit && u->total >= limit) {
        reclaimed = ngx_http_devmon_user_drop_dead(zone, u);

        if (u->total >= limit) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            ngx_http_devmon_user_reclaimed(zone, reclaimed);
            return NGX_BUSY;
        }
    }

    for (q = ngx_queue_head(&u->workers);
         q != ngx_queue_sentinel(&u->workers);
         q = ngx_queue_next(q))
    {
        w = ngx_queue_data(q, ngx_http_devmon_user_worker_t, queue);

        if (w->pid == ngx_pid) {
            goto found;
        }
    }

    w = ngx_slab_alloc_locked(zone->shpool,
                              sizeof(ngx_http_devmon_user_worker_t));
    if (w == NULL) {
        if (u->total == 0) {
            ngx_rbtree_delete(&zone->sh->users, &u->node);
            ngx_slab_free_locked(zone->shpool, u);
        }

        goto full;
    }

    w->pid = ngx_pid;
    w->slot = ngx_process_slot;
    w->count = 0;
    ngx_queue_insert_tail(&u->workers, &w->queue);

found:

    w->count++;
    u->total++;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_devmon_user_reclaimed(zone, reclaimed);

    return NGX_OK;

full:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_devmon_user_reclaimed(zone, reclaimed);

    ngx_http_devmon_stat_add(zone, NGX_HTTP_DEVMON_STAT_ZONE_FULL);

    return NGX_ERROR;
}


void
ngx_http_devmon_user_release(ngx_http_devmon_zone_t *zone, ngx_str_t *user)
{
    uint32_t                        hash;
    ngx_queue_t                    *q;
    ngx_http_devmon_user_t         *u;
    ngx_http_devmon_user_worker_t  *w;

    hash = ngx_crc32_short(user->data, user->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    u = ngx_http_devmon_user_lookup(zone, user, hash);
    if (u == NULL) {
        /* already dropped by ngx_http_devmon_zone_exit_process() */
        goto done;
    }

    for (q = ngx_queue_head(&u->workers);
         q != ngx_queue_sentinel(&u->workers);
         q = ngx_queue_next(q))
    {
        w = ngx_queue_data(q, ngx_http_devmon_user_worker_t, queue);

        if (w->pid != ngx_pid) {
            continue;
        }

        w->count--;
        u->total--;

        if (w->count == 0) {
            ngx_queue_remove(&w->queue);
            ngx_slab_free_locked(zone->shpool, w);
        }

        break;
    }

    if (u->total == 0) {
        ngx_rbtree_delete(&zone->sh->users, &u->node);
        ngx_slab_free_locked(zone->shpool, u);
    }

done:

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


ngx_uint_t
ngx_http_devmon_user_count(ngx_http_devmon_zone_t *zone, ngx_str_t *user)
{
    ngx_uint_t               n;
    ngx_http_devmon_user_t  *u;

    ngx_shmtx_lock(&zone->shpool->mutex);

    u = ngx_http_devmon_user_lookup(zone, user,
                                    ngx_crc32_short(user->data, user->len));
    n = u ? u->total : 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return n;
}


/*
 * Drops the entries of one process slot: those of other pids (a dead
 * predecessor) or, with same_pid, those of pid itself (exiting worker).
 * Returns the connections dropped.
 */

static ngx_uint_t
ngx_http_devmon_user_drop(ngx_http_devmon_zone_t *zone, ngx_int_t slot,
    ngx_pid_t pid, ngx_uint_t same_pid)
{
    ngx_uint_t                      n;
    ngx_queue_t                    *q, *next;
    ngx_rbtree_t                   *tree;
    ngx_rbtree_node_t              *node, *next_node;
    ngx_http_devmon_user_t         *u;
    ngx_http_devmon_user_worker_t  *w;

    n = 0;
    tree = &zone->sh->users;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (tree->root == tree->sentinel) {
        goto done;
    }

    for (node = ngx_rbtree_min(tree->root, tree->sentinel);
         node;
         node = next_node)
    {
        next_node = ngx_rbtree_next(tree, node);

        u = (ngx_http_devmon_user_t *) node;

        for (q = ngx_queue_head(&u->workers);
             q != ngx_queue_sentinel(&u->workers);
             q = next)
        {
            next = ngx_queue_next(q);
            w = ngx_queue_data(q, ngx_http_devmon_user_worker_t, queue);

            if (w->slot != slot || (w->pid == pid) != (same_pid != 0)) {
                continue;
            }

            n += w->count;
            u->total -= w->count;
            ngx_queue_remove(&w->queue);
            ngx_slab_free_locked(zone->shpool, w);
        }

        if (u->total == 0) {
            ngx_rbtree_delete(tree, &u->node);
            ngx_slab_free_locked(zone->shpool, u);
        }
    }

done:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (n && !same_pid) {
        (void) ngx_atomic_fetch_add(
                        &zone->sh->stats[NGX_HTTP_DEVMON_STAT_RECLAIMED], n);
    }

    return n;
}


/*
 * A worker that dies while exiting (after a reload) is not respawned, so
 * no successor reclaims its entries (ngx_http_devmon_zone_init_process()).
 * A user at the limit checks for them; called locked, u stays in the tree
 * (the caller counts on it).  Returns the connections dropped.
 */

static ngx_uint_t
ngx_http_devmon_user_drop_dead(ngx_http_devmon_zone_t *zone,
    ngx_http_devmon_user_t *u)
{
    ngx_uint_t                      n;
    ngx_queue_t                    *q, *next;
    ngx_http_devmon_user_worker_t  *w;

    n = 0;

    for (q = ngx_queue_head(&u->workers);
         q != ngx_queue_sentinel(&u->workers);
         q = next)
    {
        next = ngx_queue_next(q);
        w = ngx_queue_data(q, ngx_http_devmon_user_worker_t, queue);

        if (w->pid == ngx_pid || kill(w->pid, 0) == 0 || ngx_errno != ESRCH) {
            continue;
        }

        n += w->count;
        u->total -= w->count;
        ngx_queue_remove(&w->queue);
        ngx_slab_free_locked(zone->shpool, w);
    }

    return n;
}


/* counted and logged once the zone is unlocked */

static void
ngx_http_devmon_user_reclaimed(ngx_http_devmon_zone_t *zone, ngx_uint_t n)
{
    if (n == 0) {
        return;
    }

    (void) ngx_atomic_fetch_add(
                    &zone->sh->stats[NGX_HTTP_DEVMON_STAT_RECLAIMED], n);

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "devmon: reclaimed %ui user connection slots of a worker "
                  "that died while exiting", n);
}


static ngx_http_devmon_user_t *
ngx_http_devmon_user_lookup(ngx_http_devmon_zone_t *zone, ngx_str_t *user,
    uint32_t hash)
{
    ngx_int_t                rc;
    ngx_rbtree_node_t       *node, *sentinel;
    ngx_http_devmon_user_t  *u;

    node = zone->sh->users.root;
    sentinel = zone->sh->users.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        u = (ngx_http_devmon_user_t *) node;

        rc = ngx_memn2cmp(user->data, u->data, user->len, u->len);

        if (rc == 0) {
            return u;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_devmon_user_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t       **p;
    ngx_http_devmon_user_t   *u, *ut;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            u = (ngx_http_devmon_user_t *) node;
            ut = (ngx_http_devmon_user_t *) temp;

            p = (ngx_memn2cmp(u->data, ut->data, u->len, ut->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}
