/* alert: types and limits shared by every module of the alert daemon */

#ifndef _ALERT_H_INCLUDED_
#define _ALERT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "devmon.h"


#define ALERT_VERSION   "0.1.0"

#define ALERT_IDLEN     128         /* account, device, region, user ids */
#define ALERT_ERLEN     32          /* failure reason */


/* device states as probed names them; the order is "how bad" */
typedef enum {
    AST_UNKNOWN = 0,
    AST_UP,
    AST_DEGRADED,
    AST_DOWN
} alert_st_e;


/* what a notification is about; each maps to one user preference */
typedef enum {
    AK_OFFLINE = 0,
    AK_RECOVERY,
    AK_DEGRADED,                    /* st says degraded or cleared (up) */
    AK_FLAPPING,                    /* flag says started or stopped */
    AK_REGION,                      /* a region's own check failed / ok */
    AK_N
} alert_kind_e;


/* one account-level notification, before it is fanned out to users */
typedef struct {
    int             kind;
    char            device[ALERT_IDLEN];
    char            region[ALERT_IDLEN];
    int64_t         t;              /* epoch ms of the change */
    int             st;             /* the state it announces */
    char            er[ALERT_ERLEN];
    int64_t         down_ms;        /* recovery: how long it was down */
    int             flag;           /* flapping: 1 start, 0 stop;
                                     * recovery: 1 after flapping */
    int64_t         queued;         /* epoch ms it entered the queue */
    int             prev_ns;        /* device record before it, to undo */
    int64_t         prev_cd;
} alert_note_t;


extern const char  *alert_st_names[4];
extern const char  *alert_kind_names[AK_N];


int alert_st_parse(const char *s);
char *alert_json_dump(json_t *o);


#endif /* _ALERT_H_INCLUDED_ */
