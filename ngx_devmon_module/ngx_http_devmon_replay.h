/* Snapshot and replay from Redis: resume, reset, backfill, devmon_snapshot. */

/*
 * Copyright (C) devmon authors
 */


#ifndef _NGX_HTTP_DEVMON_REPLAY_H_INCLUDED_
#define _NGX_HTTP_DEVMON_REPLAY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_devmon_stream.h"


/* why a client gets "reset" before a snapshot */
#define NGX_HTTP_DEVMON_RESET_NONE     0
#define NGX_HTTP_DEVMON_RESET_EPOCH    1    /* another history */
#define NGX_HTTP_DEVMON_RESET_WINDOW   2    /* trimmed past the point */
#define NGX_HTTP_DEVMON_RESET_GONE     3    /* the stream is gone */
#define NGX_HTTP_DEVMON_RESET_TOO_FAR  4    /* more than devmon_replay_max */
#define NGX_HTTP_DEVMON_RESET_INVALID  5    /* unreadable "since" */


void ngx_http_devmon_replay_start(ngx_http_devmon_client_t *cl);
void ngx_http_devmon_replay_restart(ngx_http_devmon_client_t *cl,
    ngx_uint_t reason);
void ngx_http_devmon_replay_backfill(ngx_http_devmon_account_t *acc);

char *ngx_http_devmon_snapshot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_DEVMON_REPLAY_H_INCLUDED_ */
