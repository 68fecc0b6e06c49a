/* alert_state: per-device alert decisions: cooldowns, holds, flaps, regions */

#ifndef _ALERT_STATE_H_INCLUDED_
#define _ALERT_STATE_H_INCLUDED_


#include <jansson.h>

#include "alert.h"


#define ALERT_MAXREGIONS    32


typedef struct alert_dev_s  alert_dev_t;

struct alert_dev_s {
    alert_dev_t        *next;       /* hash chain */
    alert_dev_t        *lnext;      /* every record of the account */
    char                device[ALERT_IDLEN];
    char                region[ALERT_IDLEN];
    int                 cur;        /* latest state probed reported */
    int64_t             cur_t;      /* when it entered cur */
    char                er[ALERT_ERLEN];
    int                 ns;         /* last notified: up (or unknown) / down */
    int                 nd;         /* degraded was notified */
    int64_t             down_t;     /* start of the outage notified */
    int64_t             cd;         /* no offline alert before this */
    int64_t             due;        /* look again at this time (0: never) */
    unsigned            flapping:1;
    unsigned            flap_sent:1;
    unsigned            after_flap:1;
    unsigned            dirty:1;    /* to be written to Redis */
};


typedef struct {
    char                name[ALERT_IDLEN];
    int                 failed;     /* its own check failed, notified */
    int64_t             t;
    unsigned            dirty:1;
} alert_region_t;


typedef struct {
    int64_t             cooldown;       /* ms */
    int64_t             hold;           /* ms */
    int64_t             window;         /* ms */
} alert_policy_t;


typedef struct {
    char                id[ALERT_IDLEN];
    alert_policy_t      policy;
    alert_dev_t       **buckets;
    int                 nbuckets;
    alert_dev_t        *devs;
    int                 ndevs;
    alert_region_t      regions[ALERT_MAXREGIONS];
    int                 nregions;
    alert_note_t       *pending;        /* waiting for the storm window */
    int                 npending;
    int                 cpending;
    int                 nsaved;         /* leading notes already in Redis */
    int64_t             window_due;     /* 0: nothing pending */
    unsigned            pending_rewrite:1;  /* notes were taken back */
    unsigned            flushing:1;     /* a fan-out is under way */
} alert_acct_t;


/* a state-change or region event as read from the stream */
typedef struct {
    int                 region_ev;      /* 1: heartbeat, 0: device state */
    const char         *device;
    const char         *region;
    int64_t             t;
    int                 st;
    int                 was;
    const char         *er;
    int                 fl;
    int                 ok;             /* heartbeat: 1, 0, -1 not said */
} alert_event_t;


int alert_acct_init(alert_acct_t *a, const char *id,
    const alert_policy_t *policy);
void alert_acct_reset(alert_acct_t *a);
void alert_acct_free(alert_acct_t *a);

int alert_event_parse(const char *id, const char *json, alert_event_t *ev,
    json_t **root);
void alert_state_event(alert_acct_t *a, const alert_event_t *ev);
void alert_state_tick(alert_acct_t *a, int64_t now);
void alert_state_drop_region_notes(alert_acct_t *a);

alert_dev_t *alert_dev_get(alert_acct_t *a, const char *device,
    const char *region, int create);
char *alert_dev_encode(const alert_dev_t *d);
int alert_dev_decode(alert_acct_t *a, const char *json);
char *alert_region_encode(const alert_region_t *r);
int alert_region_decode(alert_acct_t *a, const char *json);
alert_region_t *alert_region_get(alert_acct_t *a, const char *name,
    int create);
char *alert_note_encode(const alert_note_t *n);
int alert_note_decode(const char *json, alert_note_t *n);
int alert_note_push(alert_acct_t *a, const alert_note_t *n);


#endif /* _ALERT_STATE_H_INCLUDED_ */
