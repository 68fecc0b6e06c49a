/* Bearer token (JWT) validation: key sets and claim checks, no nginx. */

/*
 * Copyright (C) devmon authors
 */


#ifndef _NGX_DEVMON_JWT_H_INCLUDED_
#define _NGX_DEVMON_JWT_H_INCLUDED_


#include <stddef.h>


/*
 * libjwt 1.10 checks signatures only, and takes the algorithm from the
 * token itself.  Everything else (which algorithm may be used with which
 * key, exp/nbf/iat, iss, aud, size and syntax) is checked here, before and
 * after the one call into libjwt per candidate key.
 */

#define NGX_DEVMON_JWT_MAX_LEN       8192    /* default token size limit */
#define NGX_DEVMON_JWT_ACCOUNT_MAX   128     /* bytes, without the NUL */
#define NGX_DEVMON_JWT_USER_MAX      255
#define NGX_DEVMON_JWT_KID_MAX       128
#define NGX_DEVMON_JWT_MAX_TRIES     8       /* keys tried for one token */
#define NGX_DEVMON_JWT_MAX_AUDIENCES 16


/* algorithms, as bit numbers of a set */
typedef enum {
    NGX_DEVMON_JWT_HS256 = 0,
    NGX_DEVMON_JWT_HS384,
    NGX_DEVMON_JWT_HS512,
    NGX_DEVMON_JWT_RS256,
    NGX_DEVMON_JWT_RS384,
    NGX_DEVMON_JWT_RS512,
    NGX_DEVMON_JWT_ES256,
    NGX_DEVMON_JWT_ES384,
    NGX_DEVMON_JWT_ES512,
    NGX_DEVMON_JWT_NALGS
} ngx_devmon_jwt_alg_e;

#define NGX_DEVMON_JWT_ALG_BIT(a)    (1u << (a))
#define NGX_DEVMON_JWT_HS_ALGS       0x007u
#define NGX_DEVMON_JWT_RS_ALGS       0x038u
#define NGX_DEVMON_JWT_ES_ALGS       0x1c0u


/* why a token was refused; the order is the order of the checks */
typedef enum {
    NGX_DEVMON_JWT_OK = 0,
    NGX_DEVMON_JWT_MISSING,
    NGX_DEVMON_JWT_TOO_LARGE,
    NGX_DEVMON_JWT_MALFORMED,
    NGX_DEVMON_JWT_BAD_ALG,
    NGX_DEVMON_JWT_UNKNOWN_KID,
    NGX_DEVMON_JWT_BAD_SIGNATURE,
    NGX_DEVMON_JWT_EXPIRED,
    NGX_DEVMON_JWT_NOT_YET_VALID,
    NGX_DEVMON_JWT_IAT_FUTURE,
    NGX_DEVMON_JWT_WRONG_ISSUER,
    NGX_DEVMON_JWT_WRONG_AUDIENCE,
    NGX_DEVMON_JWT_NO_ACCOUNT,
    NGX_DEVMON_JWT_NO_USER,
    NGX_DEVMON_JWT_NREASONS
} ngx_devmon_jwt_reason_e;


typedef struct ngx_devmon_jwt_keys_s  ngx_devmon_jwt_keys_t;


/* what a token must satisfy; strings are NUL-terminated, owned by caller */
typedef struct {
    ngx_devmon_jwt_keys_t   *keys;
    unsigned                 algorithms;    /* 0: every alg of the keys */
    const char              *issuer;        /* NULL: not checked */
    const char *const       *audiences;     /* any one must be in "aud" */
    size_t                   naudiences;    /* 0: not checked */
    long                     leeway;        /* seconds, for exp/nbf/iat */
    const char              *account_claim; /* NULL: "acct" */
    const char              *user_claim;    /* NULL: "sub" */
    size_t                   max_len;       /* 0: NGX_DEVMON_JWT_MAX_LEN */
} ngx_devmon_jwt_policy_t;


typedef struct {
    ngx_devmon_jwt_reason_e  reason;
    long long                exp;           /* seconds since the epoch */
    char                     account[NGX_DEVMON_JWT_ACCOUNT_MAX + 1];
    char                     user[NGX_DEVMON_JWT_USER_MAX + 1];
} ngx_devmon_jwt_result_t;


/*
 * Key set.  Functions that can fail return 0 on success and -1 with a
 * NUL-terminated reason in err (never containing secret material).
 */
ngx_devmon_jwt_keys_t *ngx_devmon_jwt_keys_create(void);
void ngx_devmon_jwt_keys_free(ngx_devmon_jwt_keys_t *keys);

/* a shared secret for one of HS256/384/512, at least as long as the hash */
int ngx_devmon_jwt_keys_add_secret(ngx_devmon_jwt_keys_t *keys,
    ngx_devmon_jwt_alg_e alg, const unsigned char *secret, size_t len,
    const char *kid, char *err, size_t errlen);

/*
 * a PEM public key: RSA (RS*, >= 2048 bits, odd exponent >= 3) or EC
 * P-256/384/521 (ES*)
 */
int ngx_devmon_jwt_keys_add_pem(ngx_devmon_jwt_keys_t *keys,
    const char *pem, size_t len, const char *kid, char *err, size_t errlen);

/* every RSA/EC signing key of a JWKS document ({"keys":[...]}) */
int ngx_devmon_jwt_keys_add_jwks(ngx_devmon_jwt_keys_t *keys,
    const char *json, size_t len, char *err, size_t errlen);

/* the same, reading a file; a secret file loses one trailing newline */
int ngx_devmon_jwt_keys_add_secret_file(ngx_devmon_jwt_keys_t *keys,
    ngx_devmon_jwt_alg_e alg, const char *path, const char *kid, char *err,
    size_t errlen);
int ngx_devmon_jwt_keys_add_pem_file(ngx_devmon_jwt_keys_t *keys,
    const char *path, const char *kid, char *err, size_t errlen);
int ngx_devmon_jwt_keys_add_jwks_file(ngx_devmon_jwt_keys_t *keys,
    const char *path, char *err, size_t errlen);

/*
 * Call once the set is complete.  A token is tried against the keys of
 * its algorithm that have no kid and those with the token's kid, at most
 * NGX_DEVMON_JWT_MAX_TRIES of them: a set where that could be more fails
 * here.  A token without a kid is tried against every key of its
 * algorithm; where there are more than NGX_DEVMON_JWT_MAX_TRIES of them
 * (possible only when they have kids) it is refused as unknown_kid.
 */
int ngx_devmon_jwt_keys_check(const ngx_devmon_jwt_keys_t *keys, char *err,
    size_t errlen);

size_t ngx_devmon_jwt_keys_count(const ngx_devmon_jwt_keys_t *keys);
unsigned ngx_devmon_jwt_keys_algorithms(const ngx_devmon_jwt_keys_t *keys);


/* "HS256" ... "ES512" (exact case) to an alg, or -1 */
int ngx_devmon_jwt_alg_parse(const char *name, size_t len);
const char *ngx_devmon_jwt_alg_name(ngx_devmon_jwt_alg_e alg);

/* short reason used in answers, metrics and logs: "expired", ... */
const char *ngx_devmon_jwt_reason_name(ngx_devmon_jwt_reason_e reason);


/*
 * Validates token[0 .. len) at time "now" (seconds since the epoch) and
 * fills res; res->reason is NGX_DEVMON_JWT_OK when every check passed.
 * The token need not be NUL-terminated and is never logged or kept.
 */
void ngx_devmon_jwt_verify(const ngx_devmon_jwt_policy_t *policy,
    const char *token, size_t len, long long now,
    ngx_devmon_jwt_result_t *res);


#endif /* _NGX_DEVMON_JWT_H_INCLUDED_ */
