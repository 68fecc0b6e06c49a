/* check: the probe kinds (ICMP, SNMP, HTTP, TCP) behind one interface */

#ifndef _CHECK_H_INCLUDED_
#define _CHECK_H_INCLUDED_


#include <event2/event.h>

#include "conf.h"
#include "probe.h"


/*
 * Each kind starts a run with *_run() and finishes it, later and on the
 * loop, with probe_done().  *_free() drops what the kind keeps per check
 * (sessions, the last uptime) when the check goes away.
 */

int check_icmp_init(struct event_base *base, conf_t *conf);
void check_icmp_reconf(conf_t *conf);
void check_icmp_run(probe_t *p);
void check_icmp_fini(void);

int check_snmp_init(struct event_base *base);
void check_snmp_run(probe_t *p);
void check_snmp_free(probe_t *p);
void check_snmp_fini(void);

int check_http_init(struct event_base *base);
void check_http_run(probe_t *p);
void check_http_fini(void);

int check_tcp_init(struct event_base *base);
void check_tcp_run(probe_t *p);


#endif /* _CHECK_H_INCLUDED_ */
