/* alert_outbox: fan-out of notes to users and delivery with retries */

#ifndef _ALERT_OUTBOX_H_INCLUDED_
#define _ALERT_OUTBOX_H_INCLUDED_


#include <event2/event.h>

#include "alert_conf.h"
#include "alert_redis.h"
#include "alert_state.h"
#include "alert_render.h"


int alert_outbox_init(struct event_base *base, const alert_conf_t *conf);
void alert_outbox_reconfigure(const alert_conf_t *conf);
void alert_outbox_flush(alert_acct_t *a);
void alert_outbox_reset(void);
void alert_outbox_load(const char *account, const char *id,
    const char *json);
void alert_outbox_forgotten(const char *account, alert_args_t *args);
void alert_outbox_tick(int64_t now);
size_t alert_outbox_size(void);
void alert_outbox_fini(void);


#endif /* _ALERT_OUTBOX_H_INCLUDED_ */
