/* pool: allocations that live and die together (one loaded configuration) */

#ifndef _POOL_H_INCLUDED_
#define _POOL_H_INCLUDED_


#include <stddef.h>


typedef struct pool_blk_s  pool_blk_t;

typedef struct {
    pool_blk_t  *blocks;
} pool_t;


void *pool_calloc(pool_t *pool, size_t size);
char *pool_strdup(pool_t *pool, const char *s);
void pool_free(pool_t *pool);


#endif /* _POOL_H_INCLUDED_ */
