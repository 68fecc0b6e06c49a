/* result: one probe result and its compact JSON event encoding */

#ifndef _RESULT_H_INCLUDED_
#define _RESULT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define RESULT_NONE     (-1.0)      /* a measurement that was not taken */
#define RESULT_EXTRA    512


typedef struct {
    int             kind;
    int             st;
    const char     *er;             /* static failure reason or NULL */
    int64_t         t;              /* epoch ms, when taken */
    double          rt;             /* response ms */
    double          pl;             /* loss percent */
    double          jt;             /* jitter ms */
    int             sc;             /* HTTP status, 0 = none */
    double          dn;             /* DNS ms */
    double          cn;             /* connect ms */
    double          tl;             /* TLS ms */
    double          ft;             /* first byte ms after the request */
    int             cx;             /* certificate days left */
    unsigned        has_cx:1;
    unsigned        rb:1;           /* SNMP: the agent rebooted */
    int64_t         ut;             /* SNMP uptime, seconds; -1 = none */
    char            extra[RESULT_EXTRA];    /* more members, pre-encoded */
} result_t;


typedef struct {
    const char     *device;
    const char     *region;
    int             st;
    int             was;
    const char     *er;
    unsigned        flapping:1;
} result_state_t;


void result_init(result_t *r, int kind);
size_t result_encode(const result_t *r, const char *device, const char *region,
    char *buf, size_t size);
size_t result_encode_state(const result_state_t *s, char *buf, size_t size);
size_t result_encode_heartbeat(const char *region, int64_t interval_ms,
    int ok, char *buf, size_t size);
size_t json_put_string(char *buf, size_t size, const char *s);
size_t json_put_ms(char *buf, size_t size, double v);


#endif /* _RESULT_H_INCLUDED_ */
