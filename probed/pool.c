/* pool: allocations that live and die together (one loaded configuration) */

#include <stdlib.h>
#include <string.h>
#include <stdalign.h>

#include "pool.h"


struct pool_blk_s {
    pool_blk_t     *next;
    max_align_t     data[];
};


void *
pool_calloc(pool_t *pool, size_t size)
{
    pool_blk_t  *b;

    b = calloc(1, sizeof(pool_blk_t) + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = pool->blocks;
    pool->blocks = b;

    return b->data;
}


char *
pool_strdup(pool_t *pool, const char *s)
{
    char    *p;
    size_t   n;

    n = strlen(s) + 1;

    p = pool_calloc(pool, n);
    if (p != NULL) {
        memcpy(p, s, n);
    }

    return p;
}


void
pool_free(pool_t *pool)
{
    pool_blk_t  *b, *next;

    for (b = pool->blocks; b != NULL; b = next) {
        next = b->next;
        free(b);
    }

    pool->blocks = NULL;
}
