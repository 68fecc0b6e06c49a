/* backlog: the bounded publish queue; plain results go before state changes */

#ifndef _BACKLOG_H_INCLUDED_
#define _BACKLOG_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


typedef struct backlog_item_s  backlog_item_t;

struct backlog_item_s {
    backlog_item_t     *next;       /* queue order */
    backlog_item_t     *prev;
    backlog_item_t     *pnext;      /* plain items only, queue order */
    backlog_item_t     *pprev;
    unsigned            prio:1;     /* never dropped while plain ones wait */
};


typedef struct {
    backlog_item_t     *head;
    backlog_item_t     *tail;
    backlog_item_t     *phead;
    backlog_item_t     *ptail;
    size_t              n;
    size_t              max;
    uint64_t            dropped;
    uint64_t            dropped_prio;
} backlog_t;


void backlog_init(backlog_t *q, size_t max);
void backlog_push(backlog_t *q, backlog_item_t *it);
void backlog_push_head(backlog_t *q, backlog_item_t *it);
backlog_item_t *backlog_pop(backlog_t *q);
backlog_item_t *backlog_victim(backlog_t *q);
void backlog_splice_head(backlog_t *q, backlog_t *from);


#endif /* _BACKLOG_H_INCLUDED_ */
