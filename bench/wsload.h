/* wsload: WebSocket load generator types shared by its process and stats. */

/*
 * Copyright (C) devmon authors
 */


#ifndef _WSLOAD_H_INCLUDED_
#define _WSLOAD_H_INCLUDED_


#include <stdint.h>
#include <netinet/in.h>

#include "bench_hist.h"


#define WL_MAX_PROCS        64
#define WL_MAX_ADDRS        64
#define WL_MAX_HEADERS      16
#define WL_ID_LEN           40
#define WL_EPOCH_LEN        32

/* the close codes counted one by one; anything else is "other" */
#define WL_CLOSE_CODES      13


typedef struct {
    /* what the user asked for */
    char               *url;
    char                host[64];      /* Host header */
    struct sockaddr_in  dst;
    char               *path;          /* path and query, '/' first */
    unsigned            conns;
    unsigned            procs;
    struct in_addr      addrs[WL_MAX_ADDRS];
    unsigned            naddrs;
    double              rate;          /* new connections per second */
    unsigned            inflight;      /* per process */
    double              hold;          /* seconds, after all are open */
    double              connect_timeout;  /* seconds for the connect phase */
    unsigned            hs_timeout;    /* ms per handshake */
    char               *tokens_file;
    char              **tokens;
    unsigned            ntokens;
    unsigned char      *secret;
    size_t              secret_len;
    char               *claims;
    char               *account_fmt;
    unsigned            accounts;
    int                 token_in;
    char               *protocol;
    char               *headers[WL_MAX_HEADERS];
    unsigned            nheaders;
    int                 reconnect;
    unsigned            rc_min;        /* ms */
    unsigned            rc_max;        /* ms */
    char               *since_param;
    int                 strict_seq;
    char               *ready_file;
    int                 progress;
    unsigned            ttl;           /* token lifetime, s */
} wl_conf_t;


#define WL_TOKEN_HEADER     0
#define WL_TOKEN_PROTO      1
#define WL_TOKEN_QUERY      2
#define WL_TOKEN_NONE       3


/* one per process, written by that process only, read by the parent */

typedef struct {
    volatile uint64_t   live;
    volatile int        ready;         /* every first attempt has ended */
    volatile int        done;

    uint64_t            attempts;      /* TCP connects started */
    uint64_t            opened;        /* 101 with a valid accept key */
    uint64_t            first_opened;  /* of the initial attempts */
    uint64_t            first_failed;
    uint64_t            connect_errors;
    uint64_t            hs_timeouts;
    uint64_t            bad_handshakes;
    uint64_t            hs_eof;        /* closed before any response */
    uint64_t            status_101;
    uint64_t            status_4xx;
    uint64_t            status_5xx;
    uint64_t            status_other;
    uint64_t            status_401;
    uint64_t            status_429;
    uint64_t            status_503;

    uint64_t            drops;         /* open connections the server ended */
    uint64_t            reconnects;    /* attempts after a drop or failure */
    uint64_t            closes[WL_CLOSE_CODES + 1];

    uint64_t            frames;
    uint64_t            bytes;
    uint64_t            events;
    uint64_t            replayed;      /* published before this open */
    uint64_t            controls;
    uint64_t            stream_controls;  /* state, region: with an id */
    uint64_t            hellos;
    uint64_t            resets;
    uint64_t            snapshots;
    uint64_t            pings;
    uint64_t            fragments;
    uint64_t            gaps;          /* events missing between two seen */
    uint64_t            dups;
    uint64_t            cross;         /* events of another account */
    uint64_t            ev_bytes;      /* event frames, header included */
    uint64_t            ev_min;
    uint64_t            ev_max;

    uint64_t            first_attempt_us;
    uint64_t            all_open_us;
    uint64_t            drop_first_us;
    uint64_t            full_again_us;

    bench_hist_t        lat;           /* publish to receive, us */
} wl_proc_stats_t;


/* one per connection, for the per-account loss check at the end */

typedef struct {
    uint32_t            account;
    uint32_t            opens;
    uint64_t            last_sq;
    uint64_t            events;
} wl_conn_rec_t;


typedef struct {
    volatile int        stop;
    wl_proc_stats_t     proc[WL_MAX_PROCS];
    wl_conn_rec_t       conn[];
} wl_shared_t;


extern wl_conf_t       wl_conf;
extern wl_shared_t    *wl_shared;
extern const unsigned  wl_close_codes[WL_CLOSE_CODES];


int wl_worker_run(unsigned proc, unsigned lo, unsigned hi);
uint64_t wl_now_us(void);
uint64_t wl_wall_us(void);


#endif /* _WSLOAD_H_INCLUDED_ */
