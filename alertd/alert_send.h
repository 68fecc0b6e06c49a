/* alert_send: email (SMTP) and webhook POSTs through libcurl multi */

#ifndef _ALERT_SEND_H_INCLUDED_
#define _ALERT_SEND_H_INCLUDED_


#include <event2/event.h>

#include "alert_conf.h"
#include "alert_render.h"


/* err is NULL when the message was accepted; permanent: do not retry */
typedef void (*alert_send_done_pt)(alert_msg_t *m, const char *err,
    int permanent);


int alert_send_init(struct event_base *base, alert_send_done_pt done);
void alert_send_reconfigure(const alert_conf_t *conf);
int alert_send_start(alert_msg_t *m);
int alert_send_running(void);
void alert_send_fini(void);


#endif /* _ALERT_SEND_H_INCLUDED_ */
