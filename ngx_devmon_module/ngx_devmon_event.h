/* Event parsing without nginx: stream ids, live messages, resume points. */

/*
 * Copyright (C) devmon authors
 */


#ifndef _NGX_DEVMON_EVENT_H_INCLUDED_
#define _NGX_DEVMON_EVENT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* "18446744073709551615-18446744073709551615" */
#define NGX_DEVMON_ID_LEN       41

/* the epoch publish.lua writes: seconds and microseconds, digits only */
#define NGX_DEVMON_EPOCH_LEN    32


/* a Redis stream id: compared as numbers, never as strings */
typedef struct {
    uint64_t                    ms;
    uint64_t                    seq;
} ngx_devmon_id_t;


/* what the fan-out needs from one event, pointing into the message */
typedef struct {
    const unsigned char        *epoch;
    size_t                      epoch_len;
    const unsigned char        *json;       /* the event, byte for byte */
    size_t                      json_len;
    ngx_devmon_id_t             id;
    const unsigned char        *device;     /* "d", raw; NULL if absent */
    size_t                      device_len;
    const unsigned char        *region;     /* "r", raw; NULL if absent */
    size_t                      region_len;
    uint64_t                    t;          /* "t" in ms; 0 if absent */
} ngx_devmon_event_t;


int ngx_devmon_id_parse(const unsigned char *p, size_t len,
    ngx_devmon_id_t *id);
int ngx_devmon_id_cmp(const ngx_devmon_id_t *a, const ngx_devmon_id_t *b);
size_t ngx_devmon_id_print(unsigned char *buf, const ngx_devmon_id_t *id);

int ngx_devmon_event_parse_live(const unsigned char *p, size_t len,
    ngx_devmon_event_t *ev);
int ngx_devmon_event_parse(const unsigned char *p, size_t len,
    ngx_devmon_event_t *ev);

int ngx_devmon_since_parse(const unsigned char *p, size_t len,
    const unsigned char **epoch, size_t *epoch_len, ngx_devmon_id_t *id);


#endif /* _NGX_DEVMON_EVENT_H_INCLUDED_ */
