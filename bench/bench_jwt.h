/* HS256 token minting for the load generator (bench use only). */

/*
 * Copyright (C) devmon authors
 */


#ifndef _BENCH_JWT_H_INCLUDED_
#define _BENCH_JWT_H_INCLUDED_


#include <stddef.h>


size_t bench_b64url(char *dst, const unsigned char *src, size_t len);
size_t bench_b64(char *dst, const unsigned char *src, size_t len);
int bench_jwt_hs256(char *dst, size_t size, const unsigned char *key,
    size_t keylen, const char *claims, size_t claims_len);


#endif /* _BENCH_JWT_H_INCLUDED_ */
