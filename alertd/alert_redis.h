/* alert_redis: the stream consumer and the alert state kept in Redis */

#ifndef _ALERT_REDIS_H_INCLUDED_
#define _ALERT_REDIS_H_INCLUDED_


#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "alert_conf.h"
#include "alert_state.h"


/* the arguments of one command, owned */
typedef struct {
    int                 n;
    int                 cap;
    char              **v;
    size_t             *len;
} alert_args_t;


void alert_args_add(alert_args_t *a, const char *s);
void alert_args_addf(alert_args_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void alert_args_free(alert_args_t *a);

int alert_redis_init(struct event_base *base, const alert_conf_t *conf,
    alert_acct_t *accts, int naccts);
int alert_redis_send(redisCallbackFn *cb, void *data, alert_args_t *args);
int alert_redis_gen(void);
int alert_redis_running(void);
void alert_redis_tick(int64_t now);
void alert_redis_save(alert_acct_t *a);
void alert_redis_save_queue(alert_acct_t *a, int *open);
void alert_redis_lost(const char *why);
void alert_redis_fini(void);


#endif /* _ALERT_REDIS_H_INCLUDED_ */
