/* publish: events into Redis via publish.lua; backlog and reconnects */

#ifndef _PUBLISH_H_INCLUDED_
#define _PUBLISH_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>


typedef struct {
    const char     *host;
    int             port;
    const char     *socket;         /* used instead of host/port if set */
    const char     *password;
    int             db;
    int             maxlen;         /* stream MAXLEN ~ */
    size_t          backlog;        /* queued items kept while away */
    double          connect_timeout;
    int             window;         /* commands in flight */
    unsigned        fail_fast:1;    /* a CLI: give up instead of retrying */
} publish_conf_t;


/* err is NULL on success; id and epoch are set for events */
typedef void (*publish_done_pt)(void *data, const char *id,
    const char *epoch, const char *err);


int publish_init(struct event_base *base, const publish_conf_t *pc);
void publish_reconfigure(const publish_conf_t *pc);
/*
 * An event's time is its stream id's (when it is published); taken is when
 * the result was taken (epoch ms): an event published PUBLISH_LATE_MS or
 * more after it gets "t":taken.  taken 0: the JSON goes as given.
 */
#define PUBLISH_LATE_MS     1000

int publish_event(const char *account, const char *field, const char *json,
    size_t len, int64_t taken, int prio, publish_done_pt cb, void *data);
size_t publish_stamp(char *json, size_t len, int64_t t);
int publish_device(const char *account, const char *device,
    const char *json);
void publish_set_idle(void (*idle)(void *data), void *data);
size_t publish_pending(void);
int publish_connected(void);
void publish_stats(uint64_t *published, uint64_t *dropped);
void publish_fini(void);


#endif /* _PUBLISH_H_INCLUDED_ */
