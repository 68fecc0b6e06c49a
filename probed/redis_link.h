/* redis_link: one hiredis async link with setup, backoff and liveness */

#ifndef _REDIS_LINK_H_INCLUDED_
#define _REDIS_LINK_H_INCLUDED_


#include <stddef.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>


typedef struct redis_link_s  redis_link_t;


typedef struct {
    const char     *name;           /* in log lines: "redis", "redis rd" */
    const char     *host;           /* numeric: hiredis 0.14 resolves
                                     * names with a blocking call */
    int             port;
    const char     *socket;         /* used instead of host/port if set */
    const char     *password;
    int             db;
    double          connect_timeout;    /* connect and setup, seconds */
    double          reply_timeout;  /* oldest command unanswered: dead */
    double          backoff_min;
    double          backoff_max;
    unsigned        no_retry:1;     /* a CLI: report the failure, stop */
    unsigned        quiet:1;        /* the user logs connects and
                                     * failures itself */
} redis_link_conf_t;


/*
 * up: the link is connected and AUTH/SELECT succeeded; commands may go.
 * down: the link is gone (why says so); every command's callback has
 * been or will be called with a NULL reply.
 */
typedef void (*redis_link_up_pt)(redis_link_t *l, void *data);
typedef void (*redis_link_down_pt)(redis_link_t *l, const char *why,
    void *data);


redis_link_t *redis_link_new(struct event_base *base,
    const redis_link_conf_t *conf, redis_link_up_pt up,
    redis_link_down_pt down, void *data);
void redis_link_start(redis_link_t *l);
int redis_link_command(redis_link_t *l, redisCallbackFn *cb, void *privdata,
    int argc, const char **argv, const size_t *argvlen);
int redis_link_commandf(redis_link_t *l, redisCallbackFn *cb,
    void *privdata, const char *fmt, ...);
void redis_link_drop(redis_link_t *l, const char *why);
int redis_link_is_up(const redis_link_t *l);
const char *redis_link_where(const redis_link_t *l);
void redis_link_free(redis_link_t *l);

int redis_link_host_ok(const char *host);


#endif /* _REDIS_LINK_H_INCLUDED_ */
