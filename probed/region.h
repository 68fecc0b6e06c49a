/* region: the region's own connectivity check, reported in its heartbeat */

#ifndef _REGION_H_INCLUDED_
#define _REGION_H_INCLUDED_


#include <event2/event.h>

#include "conf.h"


int region_init(struct event_base *base, conf_t *conf);
void region_run(conf_t *conf, double timeout);
int region_ok(void);
void region_fini(void);


#endif /* _REGION_H_INCLUDED_ */
