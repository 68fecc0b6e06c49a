/* HS256 token minting for the load generator: base64url and HMAC-SHA256. */

/*
 * Copyright (C) devmon authors
 */


#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bench_jwt.h"


static const char  bench_b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char  bench_b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static size_t
bench_b64_encode(char *dst, const unsigned char *src, size_t len,
    const char *alphabet, int pad)
{
    char    *p;
    size_t   i;

    p = dst;

    for (i = 0; i + 2 < len; i += 3) {
        *p++ = alphabet[src[i] >> 2];
        *p++ = alphabet[((src[i] & 3) << 4) | (src[i + 1] >> 4)];
        *p++ = alphabet[((src[i + 1] & 15) << 2) | (src[i + 2] >> 6)];
        *p++ = alphabet[src[i + 2] & 63];
    }

    if (i < len) {
        *p++ = alphabet[src[i] >> 2];

        if (i + 1 < len) {
            *p++ = alphabet[((src[i] & 3) << 4) | (src[i + 1] >> 4)];
            *p++ = alphabet[(src[i + 1] & 15) << 2];

        } else {
            *p++ = alphabet[(src[i] & 3) << 4];

            if (pad) {
                *p++ = '=';
            }
        }

        if (pad) {
            *p++ = '=';
        }
    }

    *p = '\0';

    return p - dst;
}


size_t
bench_b64url(char *dst, const unsigned char *src, size_t len)
{
    return bench_b64_encode(dst, src, len, bench_b64_url, 0);
}


size_t
bench_b64(char *dst, const unsigned char *src, size_t len)
{
    return bench_b64_encode(dst, src, len, bench_b64_std, 1);
}


/*
 * Writes header.claims.signature into dst; returns its length or -1 when
 * dst is too small.  The header is fixed: {"alg":"HS256","typ":"JWT"}.
 */

int
bench_jwt_hs256(char *dst, size_t size, const unsigned char *key,
    size_t keylen, const char *claims, size_t claims_len)
{
    size_t          n;
    unsigned int    maclen;
    unsigned char   mac[EVP_MAX_MD_SIZE];
    static const char  header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

    if (size < (sizeof(header) + claims_len + 32) * 4 / 3 + 8) {
        return -1;
    }

    n = bench_b64url(dst, (const unsigned char *) header, sizeof(header) - 1);
    dst[n++] = '.';
    n += bench_b64url(dst + n, (const unsigned char *) claims, claims_len);

    if (HMAC(EVP_sha256(), key, (int) keylen, (unsigned char *) dst, n, mac,
             &maclen)
        == NULL)
    {
        return -1;
    }

    dst[n++] = '.';
    n += bench_b64url(dst + n, mac, maclen);

    return (int) n;
}
