/* probed: types and limits shared by every module of the probe daemon */

#ifndef _PROBED_H_INCLUDED_
#define _PROBED_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "devmon.h"


#define PROBED_VERSION  "0.1.0"


/* check kinds; the order is the order of the "k" names below */
typedef enum {
    KIND_ICMP = 0,
    KIND_SNMP,
    KIND_HTTP,
    KIND_TCP,
    KIND_N
} probe_kind_e;

#define KIND_BIT(k)     (1u << (k))
#define KIND_ALL        ((1u << KIND_N) - 1)


/* result and device states; the numeric order is "how bad" (worst wins) */
typedef enum {
    ST_UNKNOWN = 0,
    ST_UP,
    ST_DEGRADED,
    ST_DOWN
} probe_st_e;


extern const char  *probe_kind_names[KIND_N];
extern const char  *probe_st_names[4];


#endif /* _PROBED_H_INCLUDED_ */
