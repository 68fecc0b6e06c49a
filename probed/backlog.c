/* backlog: the bounded publish queue; plain results go before state changes */

#include "backlog.h"


void
backlog_init(backlog_t *q, size_t max)
{
    q->head = q->tail = NULL;
    q->phead = q->ptail = NULL;
    q->n = 0;
    q->max = max;
    q->dropped = 0;
    q->dropped_prio = 0;
}


void
backlog_push(backlog_t *q, backlog_item_t *it)
{
    it->next = NULL;
    it->prev = q->tail;

    if (q->tail) {
        q->tail->next = it;
    } else {
        q->head = it;
    }

    q->tail = it;

    it->pnext = it->pprev = NULL;

    if (!it->prio) {
        it->pprev = q->ptail;

        if (q->ptail) {
            q->ptail->pnext = it;
        } else {
            q->phead = it;
        }

        q->ptail = it;
    }

    q->n++;
}


/* puts back an item that was taken from the head (a lost connection) */

void
backlog_push_head(backlog_t *q, backlog_item_t *it)
{
    it->prev = NULL;
    it->next = q->head;

    if (q->head) {
        q->head->prev = it;
    } else {
        q->tail = it;
    }

    q->head = it;

    it->pnext = it->pprev = NULL;

    if (!it->prio) {
        it->pnext = q->phead;

        if (q->phead) {
            q->phead->pprev = it;
        } else {
            q->ptail = it;
        }

        q->phead = it;
    }

    q->n++;
}


static void
backlog_unlink(backlog_t *q, backlog_item_t *it)
{
    if (it->prev) {
        it->prev->next = it->next;
    } else {
        q->head = it->next;
    }

    if (it->next) {
        it->next->prev = it->prev;
    } else {
        q->tail = it->prev;
    }

    if (!it->prio) {
        if (it->pprev) {
            it->pprev->pnext = it->pnext;
        } else {
            q->phead = it->pnext;
        }

        if (it->pnext) {
            it->pnext->pprev = it->pprev;
        } else {
            q->ptail = it->pprev;
        }
    }

    it->next = it->prev = it->pnext = it->pprev = NULL;
    q->n--;
}


backlog_item_t *
backlog_pop(backlog_t *q)
{
    backlog_item_t  *it;

    it = q->head;

    if (it != NULL) {
        backlog_unlink(q, it);
    }

    return it;
}


/*
 * When the queue is over its bound, the item to drop: the oldest plain
 * result, and a state change only when nothing else is left.  Returns NULL
 * while the queue is within bounds.
 */

backlog_item_t *
backlog_victim(backlog_t *q)
{
    backlog_item_t  *it;

    if (q->n <= q->max) {
        return NULL;
    }

    if (q->phead != NULL) {
        it = q->phead;
        q->dropped++;

    } else {
        it = q->head;
        q->dropped_prio++;
    }

    backlog_unlink(q, it);

    return it;
}


/* moves every item of from, in order, in front of the items of q */

void
backlog_splice_head(backlog_t *q, backlog_t *from)
{
    backlog_item_t  *it, *prev;

    for (it = from->tail; it != NULL; it = prev) {
        prev = it->prev;
        backlog_push_head(q, it);
    }

    from->head = from->tail = NULL;
    from->phead = from->ptail = NULL;
    from->n = 0;
}
