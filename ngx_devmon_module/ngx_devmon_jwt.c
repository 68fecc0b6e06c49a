/* Bearer token (JWT) validation: key sets and claim checks, no nginx. */

/*
 * Copyright (C) devmon authors
 */


#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "ngx_devmon_jwt.h"
#include "ngx_devmon_ws_codec.h"


#define NGX_DEVMON_JWT_FILE_MAX      (1024 * 1024)
#define NGX_DEVMON_JWT_RSA_MIN_BITS  2048
#define NGX_DEVMON_JWT_DATE_MAX      1e15    /* far beyond any real date */


typedef struct {
    unsigned                 algorithms;    /* what this key may verify */
    char                    *kid;           /* NULL: none */
    unsigned char           *data;          /* secret, or PEM public key */
    size_t                   len;
} ngx_devmon_jwt_key_t;


struct ngx_devmon_jwt_keys_s {
    ngx_devmon_jwt_key_t    *keys;
    size_t                   nkeys;
    size_t                   nalloc;
};


typedef struct {
    const char              *name;
    jwt_alg_t                libjwt;
    size_t                   hash_len;
    const char              *curve;         /* ES only */
    size_t                   coord_len;     /* ES only */
} ngx_devmon_jwt_alg_t;


static int ngx_devmon_jwt_add(ngx_devmon_jwt_keys_t *keys, unsigned algs,
    const unsigned char *data, size_t len, const char *kid, char *err,
    size_t errlen);
static int ngx_devmon_jwt_add_pkey(ngx_devmon_jwt_keys_t *keys,
    EVP_PKEY *pkey, unsigned only, const char *kid, char *err,
    size_t errlen);
static int ngx_devmon_jwt_jwk(ngx_devmon_jwt_keys_t *keys, json_t *jwk,
    size_t n, char *err, size_t errlen);
static EVP_PKEY *ngx_devmon_jwt_jwk_rsa(json_t *jwk, size_t n, char *err,
    size_t errlen);
static EVP_PKEY *ngx_devmon_jwt_jwk_ec(json_t *jwk, size_t n, char *err,
    size_t errlen);
static int ngx_devmon_jwt_read_file(const char *path, unsigned char **data,
    size_t *len, char *err, size_t errlen);
static void ngx_devmon_jwt_error(char *err, size_t errlen,
    const char *fmt, ...);
static unsigned char *ngx_devmon_jwt_b64url_decode(const char *src,
    size_t len, size_t *out_len);
static json_t *ngx_devmon_jwt_b64url_json(const char *src, size_t len);
static int ngx_devmon_jwt_date(json_t *claims, const char *name,
    long long *date);
static int ngx_devmon_jwt_aud_ok(const ngx_devmon_jwt_policy_t *policy,
    json_t *aud);
static int ngx_devmon_jwt_id(json_t *value, char *buf, size_t max,
    int account);


static const ngx_devmon_jwt_alg_t  ngx_devmon_jwt_algs[] = {
    { "HS256", JWT_ALG_HS256, 32, NULL, 0 },
    { "HS384", JWT_ALG_HS384, 48, NULL, 0 },
    { "HS512", JWT_ALG_HS512, 64, NULL, 0 },
    { "RS256", JWT_ALG_RS256, 32, NULL, 0 },
    { "RS384", JWT_ALG_RS384, 48, NULL, 0 },
    { "RS512", JWT_ALG_RS512, 64, NULL, 0 },
    { "ES256", JWT_ALG_ES256, 32, "P-256", 32 },
    { "ES384", JWT_ALG_ES384, 48, "P-384", 48 },
    { "ES512", JWT_ALG_ES512, 64, "P-521", 66 }
};


static const char  *ngx_devmon_jwt_reasons[] = {
    "ok",
    "missing",
    "too_large",
    "malformed",
    "bad_alg",
    "unknown_kid",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "iat_future",
    "wrong_issuer",
    "wrong_audience",
    "no_account",
    "no_user"
};

_Static_assert(sizeof(ngx_devmon_jwt_reasons) / sizeof(char *)
               == NGX_DEVMON_JWT_NREASONS,
               "a reason name for each ngx_devmon_jwt_reason_e");
_Static_assert(sizeof(ngx_devmon_jwt_algs) / sizeof(ngx_devmon_jwt_alg_t)
               == NGX_DEVMON_JWT_NALGS,
               "an entry for each ngx_devmon_jwt_alg_e");


ngx_devmon_jwt_keys_t *
ngx_devmon_jwt_keys_create(void)
{
    return calloc(1, sizeof(ngx_devmon_jwt_keys_t));
}


void
ngx_devmon_jwt_keys_free(ngx_devmon_jwt_keys_t *keys)
{
    size_t  i;

    if (keys == NULL) {
        return;
    }

    for (i = 0; i < keys->nkeys; i++) {
        /* secrets do not linger in freed memory */
        OPENSSL_cleanse(keys->keys[i].data, keys->keys[i].len);
        free(keys->keys[i].data);
        free(keys->keys[i].kid);
    }

    free(keys->keys);
    free(keys);
}


size_t
ngx_devmon_jwt_keys_count(const ngx_devmon_jwt_keys_t *keys)
{
    return keys ? keys->nkeys : 0;
}


unsigned
ngx_devmon_jwt_keys_algorithms(const ngx_devmon_jwt_keys_t *keys)
{
    size_t    i;
    unsigned  algs;

    algs = 0;

    for (i = 0; keys && i < keys->nkeys; i++) {
        algs |= keys->keys[i].algorithms;
    }

    return algs;
}


/*
 * A token is checked against at most NGX_DEVMON_JWT_MAX_TRIES keys: those
 * of its algorithm without a kid plus those with its kid.  A set where
 * that could be more cannot serve every token, so it is refused here, at
 * configuration time, not silently cut at run time.
 */

int
ngx_devmon_jwt_keys_check(const ngx_devmon_jwt_keys_t *keys, char *err,
    size_t errlen)
{
    int     a;
    size_t  i, j, nokid, same, most;

    for (a = 0; a < NGX_DEVMON_JWT_NALGS; a++) {
        nokid = 0;
        most = 0;

        for (i = 0; i < keys->nkeys; i++) {
            if (!(keys->keys[i].algorithms & NGX_DEVMON_JWT_ALG_BIT(a))) {
                continue;
            }

            if (keys->keys[i].kid == NULL) {
                nokid++;
                continue;
            }

            same = 0;

            for (j = 0; j < keys->nkeys; j++) {
                if ((keys->keys[j].algorithms & NGX_DEVMON_JWT_ALG_BIT(a))
                    && keys->keys[j].kid
                    && strcmp(keys->keys[j].kid, keys->keys[i].kid) == 0)
                {
                    same++;
                }
            }

            if (same > most) {
                most = same;
            }
        }

        if (nokid + most > NGX_DEVMON_JWT_MAX_TRIES) {
            ngx_devmon_jwt_error(err, errlen,
                                 "%zu %s keys without a kid and %zu with "
                                 "one same kid: a token may be tried "
                                 "against at most %d keys; give the keys "
                                 "distinct kids", nokid,
                                 ngx_devmon_jwt_algs[a].name, most,
                                 NGX_DEVMON_JWT_MAX_TRIES);
            return -1;
        }
    }

    return 0;
}


int
ngx_devmon_jwt_alg_parse(const char *name, size_t len)
{
    int  i;

    for (i = 0; i < NGX_DEVMON_JWT_NALGS; i++) {
        if (len == 5 && memcmp(name, ngx_devmon_jwt_algs[i].name, 5) == 0) {
            return i;
        }
    }

    return -1;
}


const char *
ngx_devmon_jwt_alg_name(ngx_devmon_jwt_alg_e alg)
{
    if ((unsigned) alg >= NGX_DEVMON_JWT_NALGS) {
        return "?";
    }

    return ngx_devmon_jwt_algs[alg].name;
}


const char *
ngx_devmon_jwt_reason_name(ngx_devmon_jwt_reason_e reason)
{
    if ((unsigned) reason >= NGX_DEVMON_JWT_NREASONS) {
        return "?";
    }

    return ngx_devmon_jwt_reasons[reason];
}


int
ngx_devmon_jwt_keys_add_secret(ngx_devmon_jwt_keys_t *keys,
    ngx_devmon_jwt_alg_e alg, const unsigned char *secret, size_t len,
    const char *kid, char *err, size_t errlen)
{
    if (alg > NGX_DEVMON_JWT_HS512) {
        ngx_devmon_jwt_error(err, errlen, "not an HMAC algorithm");
        return -1;
    }

    /* RFC 7518 3.2: the key must be at least as long as the hash */
    if (len < ngx_devmon_jwt_algs[alg].hash_len) {
        ngx_devmon_jwt_error(err, errlen,
                             "secret too short for %s: %zu bytes, "
                             "at least %zu needed",
                             ngx_devmon_jwt_algs[alg].name, len,
                             ngx_devmon_jwt_algs[alg].hash_len);
        return -1;
    }

    /*
     * A public key used as an HMAC secret is the classic algorithm
     * confusion attack: anyone holding the public key could sign.
     */
    if (len >= 10 && memcmp(secret, "-----BEGIN", 10) == 0) {
        ngx_devmon_jwt_error(err, errlen,
                             "secret looks like a PEM key; "
                             "use \"rsa\" or \"ec\" for public keys");
        return -1;
    }

    return ngx_devmon_jwt_add(keys, NGX_DEVMON_JWT_ALG_BIT(alg), secret, len,
                              kid, err, errlen);
}


int
ngx_devmon_jwt_keys_add_pem(ngx_devmon_jwt_keys_t *keys, const char *pem,
    size_t len, const char *kid, char *err, size_t errlen)
{
    int        rc;
    BIO       *bio;
    EVP_PKEY  *pkey;

    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        ngx_devmon_jwt_error(err, errlen, "out of memory");
        return -1;
    }

    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (pkey == NULL) {
        ngx_devmon_jwt_error(err, errlen,
                             "not a PEM public key (\"BEGIN PUBLIC KEY\")");
        return -1;
    }

    rc = ngx_devmon_jwt_add_pkey(keys, pkey, 0, kid, err, errlen);

    EVP_PKEY_free(pkey);

    return rc;
}


int
ngx_devmon_jwt_keys_add_jwks(ngx_devmon_jwt_keys_t *keys, const char *json,
    size_t len, char *err, size_t errlen)
{
    int           rc;
    size_t        i, added;
    json_t       *doc, *list;
    json_error_t  jerr;

    doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        ngx_devmon_jwt_error(err, errlen, "invalid JSON at line %d: %s",
                             jerr.line, jerr.text);
        return -1;
    }

    list = json_object_get(doc, "keys");
    if (!json_is_array(list)) {
        ngx_devmon_jwt_error(err, errlen, "no \"keys\" array");
        json_decref(doc);
        return -1;
    }

    added = keys->nkeys;
    rc = 0;

    for (i = 0; i < json_array_size(list); i++) {
        rc = ngx_devmon_jwt_jwk(keys, json_array_get(list, i), i, err,
                                errlen);
        if (rc != 0) {
            break;
        }
    }

    json_decref(doc);

    if (rc == 0 && keys->nkeys == added) {
        ngx_devmon_jwt_error(err, errlen, "no RSA or EC signing key");
        return -1;
    }

    return rc;
}


int
ngx_devmon_jwt_keys_add_secret_file(ngx_devmon_jwt_keys_t *keys,
    ngx_devmon_jwt_alg_e alg, const char *path, const char *kid, char *err,
    size_t errlen)
{
    int             rc;
    size_t          len;
    unsigned char  *data;

    if (ngx_devmon_jwt_read_file(path, &data, &len, err, errlen) != 0) {
        return -1;
    }

    /* what "echo secret > file" leaves behind is not part of the secret */
    if (len && data[len - 1] == '\n') {
        len--;
        if (len && data[len - 1] == '\r') {
            len--;
        }
    }

    rc = ngx_devmon_jwt_keys_add_secret(keys, alg, data, len, kid, err,
                                        errlen);

    OPENSSL_cleanse(data, len);
    free(data);

    return rc;
}


int
ngx_devmon_jwt_keys_add_pem_file(ngx_devmon_jwt_keys_t *keys,
    const char *path, const char *kid, char *err, size_t errlen)
{
    int             rc;
    size_t          len;
    unsigned char  *data;

    if (ngx_devmon_jwt_read_file(path, &data, &len, err, errlen) != 0) {
        return -1;
    }

    rc = ngx_devmon_jwt_keys_add_pem(keys, (char *) data, len, kid, err,
                                     errlen);
    free(data);

    return rc;
}


int
ngx_devmon_jwt_keys_add_jwks_file(ngx_devmon_jwt_keys_t *keys,
    const char *path, char *err, size_t errlen)
{
    int             rc;
    size_t          len;
    unsigned char  *data;

    if (ngx_devmon_jwt_read_file(path, &data, &len, err, errlen) != 0) {
        return -1;
    }

    rc = ngx_devmon_jwt_keys_add_jwks(keys, (char *) data, len, err, errlen);
    free(data);

    return rc;
}


static int
ngx_devmon_jwt_add(ngx_devmon_jwt_keys_t *keys, unsigned algs,
    const unsigned char *data, size_t len, const char *kid, char *err,
    size_t errlen)
{
    size_t                 n;
    ngx_devmon_jwt_key_t  *key, *p;

    if (kid && (kid[0] == '\0' || strlen(kid) > NGX_DEVMON_JWT_KID_MAX)) {
        ngx_devmon_jwt_error(err, errlen, "kid empty or longer than %d",
                             NGX_DEVMON_JWT_KID_MAX);
        return -1;
    }

    if (keys->nkeys == keys->nalloc) {
        n = keys->nalloc ? keys->nalloc * 2 : 4;

        p = realloc(keys->keys, n * sizeof(ngx_devmon_jwt_key_t));
        if (p == NULL) {
            goto nomem;
        }

        keys->keys = p;
        keys->nalloc = n;
    }

    key = &keys->keys[keys->nkeys];
    memset(key, 0, sizeof(ngx_devmon_jwt_key_t));

    /* one spare NUL byte: libjwt hands PEM text to OpenSSL */
    key->data = malloc(len + 1);
    if (key->data == NULL) {
        goto nomem;
    }

    memcpy(key->data, data, len);
    key->data[len] = '\0';
    key->len = len;

    if (kid) {
        key->kid = strdup(kid);
        if (key->kid == NULL) {
            free(key->data);
            goto nomem;
        }
    }

    key->algorithms = algs;
    keys->nkeys++;

    return 0;

nomem:

    ngx_devmon_jwt_error(err, errlen, "out of memory");
    return -1;
}


/*
 * Checks an RSA or EC public key, decides which algorithms it may verify
 * ("only" narrows them, 0: all of its family) and stores it as PEM.
 */

static int
ngx_devmon_jwt_add_pkey(ngx_devmon_jwt_keys_t *keys, EVP_PKEY *pkey,
    unsigned only, const char *kid, char *err, size_t errlen)
{
    int        i, rc, bits;
    BIO       *bio;
    char       group[64], *pem;
    BIGNUM    *e;
    long       len;
    unsigned   algs;

    algs = 0;

    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
        bits = EVP_PKEY_get_bits(pkey);

        if (bits < NGX_DEVMON_JWT_RSA_MIN_BITS) {
            ngx_devmon_jwt_error(err, errlen,
                                 "RSA key of %d bits, at least %d needed",
                                 bits, NGX_DEVMON_JWT_RSA_MIN_BITS);
            return -1;
        }

        /* e = 1 (or any even e) makes every signature trivial or void */
        e = NULL;

        if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1
            || !BN_is_odd(e) || BN_num_bits(e) < 2)
        {
            BN_free(e);
            ngx_devmon_jwt_error(err, errlen, "RSA public exponent is not "
                                 "an odd number of at least 3");
            return -1;
        }

        BN_free(e);

        algs = NGX_DEVMON_JWT_RS_ALGS;

    } else if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC) {

        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                           group, sizeof(group), NULL)
            != 1)
        {
            ngx_devmon_jwt_error(err, errlen, "EC key without a curve name");
            return -1;
        }

        /* OpenSSL names the curves after SEC 2, JWA after NIST */
        if (strcmp(group, "prime256v1") == 0) {
            algs = NGX_DEVMON_JWT_ALG_BIT(NGX_DEVMON_JWT_ES256);

        } else if (strcmp(group, "secp384r1") == 0) {
            algs = NGX_DEVMON_JWT_ALG_BIT(NGX_DEVMON_JWT_ES384);

        } else if (strcmp(group, "secp521r1") == 0) {
            algs = NGX_DEVMON_JWT_ALG_BIT(NGX_DEVMON_JWT_ES512);

        } else {
            ngx_devmon_jwt_error(err, errlen,
                                 "EC curve \"%s\" is not P-256, P-384 or "
                                 "P-521", group);
            return -1;
        }

    } else {
        ngx_devmon_jwt_error(err, errlen, "key is neither RSA nor EC");
        return -1;
    }

    if (only) {
        if ((algs & only) == 0) {
            for (i = 0; i < NGX_DEVMON_JWT_NALGS; i++) {
                if (only & NGX_DEVMON_JWT_ALG_BIT(i)) {
                    break;
                }
            }

            ngx_devmon_jwt_error(err, errlen, "key cannot be used for %s",
                                 ngx_devmon_jwt_alg_name(i));
            return -1;
        }

        algs &= only;
    }

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1) {
        BIO_free(bio);
        ngx_devmon_jwt_error(err, errlen, "cannot encode the key as PEM");
        return -1;
    }

    len = BIO_get_mem_data(bio, &pem);

    rc = ngx_devmon_jwt_add(keys, algs, (unsigned char *) pem, (size_t) len,
                            kid, err, errlen);
    BIO_free(bio);

    return rc;
}


/* one member of a JWKS: 0 added or skipped, -1 an error in a signing key */

static int
ngx_devmon_jwt_jwk(ngx_devmon_jwt_keys_t *keys, json_t *jwk, size_t n,
    char *err, size_t errlen)
{
    int          rc, a;
    char         reason[256];
    json_t      *v;
    unsigned     only;
    EVP_PKEY    *pkey;
    const char  *kty, *kid;

    if (!json_is_object(jwk)) {
        ngx_devmon_jwt_error(err, errlen, "keys[%zu] is not an object", n);
        return -1;
    }

    kty = json_string_value(json_object_get(jwk, "kty"));
    if (kty == NULL) {
        ngx_devmon_jwt_error(err, errlen, "keys[%zu] has no \"kty\"", n);
        return -1;
    }

    /* encryption keys and key types we cannot verify with are skipped */
    v = json_object_get(jwk, "use");
    if (v && (!json_is_string(v) || strcmp(json_string_value(v), "sig"))) {
        return 0;
    }

    if (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0) {
        return 0;
    }

    only = 0;

    v = json_object_get(jwk, "alg");
    if (v) {
        if (!json_is_string(v)) {
            ngx_devmon_jwt_error(err, errlen, "keys[%zu]: \"alg\" is not "
                                 "a string", n);
            return -1;
        }

        a = ngx_devmon_jwt_alg_parse(json_string_value(v),
                                     json_string_length(v));
        if (a < 0) {
            /* e.g. PS256, which libjwt 1.10 cannot verify */
            return 0;
        }

        only = NGX_DEVMON_JWT_ALG_BIT(a);
    }

    kid = NULL;

    v = json_object_get(jwk, "kid");
    if (v) {
        kid = json_string_value(v);
        if (kid == NULL || strlen(kid) != json_string_length(v)) {
            ngx_devmon_jwt_error(err, errlen, "keys[%zu]: bad \"kid\"", n);
            return -1;
        }
    }

    if (kty[0] == 'R') {
        pkey = ngx_devmon_jwt_jwk_rsa(jwk, n, err, errlen);

    } else {
        pkey = ngx_devmon_jwt_jwk_ec(jwk, n, err, errlen);
    }

    if (pkey == NULL) {
        return -1;
    }

    rc = ngx_devmon_jwt_add_pkey(keys, pkey, only, kid, err, errlen);
    EVP_PKEY_free(pkey);

    if (rc != 0) {
        /* keep the reason, say which key it was about */
        snprintf(reason, sizeof(reason), "%s", err);
        ngx_devmon_jwt_error(err, errlen, "keys[%zu]: %s", n, reason);
    }

    return rc;
}


static EVP_PKEY *
ngx_devmon_jwt_jwk_rsa(json_t *jwk, size_t n, char *err, size_t errlen)
{
    BIGNUM          *bn_n, *bn_e;
    EVP_PKEY        *pkey;
    size_t           n_len, e_len;
    json_t          *jn, *je;
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *ctx;
    unsigned char   *raw_n, *raw_e;
    OSSL_PARAM_BLD  *bld;

    pkey = NULL;
    bn_n = NULL;
    bn_e = NULL;
    raw_n = NULL;
    raw_e = NULL;
    bld = NULL;
    params = NULL;
    ctx = NULL;

    jn = json_object_get(jwk, "n");
    je = json_object_get(jwk, "e");

    if (!json_is_string(jn) || !json_is_string(je)) {
        ngx_devmon_jwt_error(err, errlen, "keys[%zu]: RSA key without "
                             "\"n\" and \"e\"", n);
        return NULL;
    }

    raw_n = ngx_devmon_jwt_b64url_decode(json_string_value(jn),
                                         json_string_length(jn), &n_len);
    raw_e = ngx_devmon_jwt_b64url_decode(json_string_value(je),
                                         json_string_length(je), &e_len);

    if (raw_n == NULL || raw_e == NULL || n_len == 0 || e_len == 0) {
        ngx_devmon_jwt_error(err, errlen, "keys[%zu]: \"n\" or \"e\" is not "
                             "base64url", n);
        goto done;
    }

    bn_n = BN_bin2bn(raw_n, (int) n_len, NULL);
    bn_e = BN_bin2bn(raw_e, (int) e_len, NULL);
    bld = OSSL_PARAM_BLD_new();

    if (bn_n == NULL || bn_e == NULL || bld == NULL
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL
        || (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        ngx_devmon_jwt_error(err, errlen, "keys[%zu]: invalid RSA key", n);
        pkey = NULL;
    }

done:

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    free(raw_n);
    free(raw_e);

    return pkey;
}


static EVP_PKEY *
ngx_devmon_jwt_jwk_ec(json_t *jwk, size_t n, char *err, size_t errlen)
{
    int              a;
    size_t           x_len, y_len, coord;
    json_t          *jx, *jy;
    EVP_PKEY        *pkey;
    OSSL_PARAM      *params;
    const char      *crv;
    EVP_PKEY_CTX    *ctx, *check;
    unsigned char   *x, *y, point[1 + 2 * 66];
    OSSL_PARAM_BLD  *bld;

    pkey = NULL;
    x = NULL;
    y = NULL;
    bld = NULL;
    params = NULL;
    ctx = NULL;
    check = NULL;

    crv = json_string_value(json_object_get(jwk, "crv"));

    for (a = NGX_DEVMON_JWT_ES256; a <= NGX_DEVMON_JWT_ES512; a++) {
        if (crv && strcmp(crv, ngx_devmon_jwt_algs[a].curve) == 0) {
            break;
        }
    }

    if (a > NGX_DEVMON_JWT_ES512) {
        ngx_devmon_jwt_error(err, errlen, "keys[%zu]: \"crv\" is not P-256, "
                             "P-384 or P-521", n);
        return NULL;
    }

    coord = ngx_devmon_jwt_algs[a].coord_len;

    jx = json_object_get(jwk, "x");
    jy = json_object_get(jwk, "y");

    if (json_is_string(jx) && json_is_string(jy)) {
        x = ngx_devmon_jwt_b64url_decode(json_string_value(jx),
                                         json_string_length(jx), &x_len);
        y = ngx_devmon_jwt_b64url_decode(json_string_value(jy),
                                         json_string_length(jy), &y_len);
    }

    /* RFC 7518 6.2.1.2: coordinates are exactly the field size long */
    if (x == NULL || y == NULL || x_len != coord || y_len != coord) {
        ngx_devmon_jwt_error(err, errlen, "keys[%zu]: \"x\" or \"y\" is "
                             "not a %zu-byte base64url value", n, coord);
        goto done;
    }

    /* uncompressed point: 0x04 || x || y */
    point[0] = 0x04;
    memcpy(point + 1, x, coord);
    memcpy(point + 1 + coord, y, coord);

    bld = OSSL_PARAM_BLD_new();

    if (bld == NULL
        || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                            crv, 0)
        || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                             point, 1 + 2 * coord)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL
        || (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        ngx_devmon_jwt_error(err, errlen, "keys[%zu]: invalid EC key", n);
        pkey = NULL;
        goto done;
    }

    /* a point off the curve is an invalid-curve attack waiting to happen */
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (check == NULL || EVP_PKEY_public_check(check) != 1) {
        ngx_devmon_jwt_error(err, errlen, "keys[%zu]: EC point is not on "
                             "the curve", n);
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }

done:

    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);

    return pkey;
}


void
ngx_devmon_jwt_verify(const ngx_devmon_jwt_policy_t *policy,
    const char *token, size_t len, long long now,
    ngx_devmon_jwt_result_t *res)
{
    int                    a, found;
    char                  *copy;
    jwt_t                 *jwt;
    size_t                 i, max, dot1, dot2, ndots, tries;
    json_t                *header, *claims, *v;
    long long              exp, date;
    unsigned               allowed;
    const char            *kid, *name;
    ngx_devmon_jwt_key_t  *key, *cand[NGX_DEVMON_JWT_MAX_TRIES];

    memset(res, 0, sizeof(ngx_devmon_jwt_result_t));

    header = NULL;
    claims = NULL;
    copy = NULL;

    if (token == NULL || len == 0) {
        res->reason = NGX_DEVMON_JWT_MISSING;
        return;
    }

    max = policy->max_len ? policy->max_len : NGX_DEVMON_JWT_MAX_LEN;

    if (len > max) {
        res->reason = NGX_DEVMON_JWT_TOO_LARGE;
        return;
    }

    /* JWS compact form: three base64url segments, the first two non-empty */

    dot1 = 0;
    dot2 = 0;
    ndots = 0;

    for (i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (++ndots == 1) {
                dot1 = i;

            } else {
                dot2 = i;
            }

        } else if (ngx_devmon_ws_base64_value((unsigned char) token[i], 1)
                   < 0)
        {
            res->reason = NGX_DEVMON_JWT_MALFORMED;
            return;
        }
    }

    if (ndots != 2 || dot1 == 0 || dot2 == dot1 + 1) {
        res->reason = NGX_DEVMON_JWT_MALFORMED;
        return;
    }

    res->reason = NGX_DEVMON_JWT_MALFORMED;

    header = ngx_devmon_jwt_b64url_json(token, dot1);
    if (header == NULL) {
        goto done;
    }

    v = json_object_get(header, "alg");
    if (!json_is_string(v)) {
        goto done;
    }

    /* "none" and anything we do not know or do not allow */

    allowed = policy->algorithms ? policy->algorithms
                                 : ngx_devmon_jwt_keys_algorithms(policy->keys);

    a = ngx_devmon_jwt_alg_parse(json_string_value(v), json_string_length(v));

    if (a < 0 || !(allowed & NGX_DEVMON_JWT_ALG_BIT(a))) {
        res->reason = NGX_DEVMON_JWT_BAD_ALG;
        goto done;
    }

    /* RFC 7515 4.1.11: we understand no extension, so none is critical */
    if (json_object_get(header, "crit")) {
        goto done;
    }

    kid = NULL;

    v = json_object_get(header, "kid");
    if (v) {
        kid = json_string_value(v);
        if (kid == NULL || json_string_length(v) > NGX_DEVMON_JWT_KID_MAX
            || strlen(kid) != json_string_length(v))
        {
            goto done;
        }
    }

    claims = ngx_devmon_jwt_b64url_json(token + dot1 + 1, dot2 - dot1 - 1);
    if (claims == NULL) {
        goto done;
    }

    if (dot2 == len - 1) {
        res->reason = NGX_DEVMON_JWT_BAD_SIGNATURE;
        goto done;
    }

    /*
     * Candidate keys: only those of the token's algorithm family (an RSA
     * key is never an HMAC secret), with the token's kid if it has one;
     * keys configured without a kid match any kid.
     */

    found = 0;
    tries = 0;

    for (i = 0; policy->keys && i < policy->keys->nkeys; i++) {
        key = &policy->keys->keys[i];

        if (!(key->algorithms & NGX_DEVMON_JWT_ALG_BIT(a))) {
            continue;
        }

        found = 1;

        if (kid && key->kid && strcmp(kid, key->kid) != 0) {
            continue;
        }

        if (tries == NGX_DEVMON_JWT_MAX_TRIES) {
            /*
             * Only a token without a kid gets here, and only with a
             * set that ngx_devmon_jwt_keys_check() allows to be large
             * because its keys have kids: it must name its key.
             */
            res->reason = NGX_DEVMON_JWT_UNKNOWN_KID;
            goto done;
        }

        cand[tries++] = key;
    }

    if (!found) {
        res->reason = NGX_DEVMON_JWT_BAD_ALG;
        goto done;
    }

    if (tries == 0) {
        res->reason = NGX_DEVMON_JWT_UNKNOWN_KID;
        goto done;
    }

    /* libjwt wants a C string */
    copy = malloc(len + 1);
    if (copy == NULL) {
        res->reason = NGX_DEVMON_JWT_BAD_SIGNATURE;
        goto done;
    }

    memcpy(copy, token, len);
    copy[len] = '\0';

    res->reason = NGX_DEVMON_JWT_BAD_SIGNATURE;

    for (i = 0; i < tries; i++) {
        jwt = NULL;

        if (cand[i]->len == 0) {
            continue;
        }

        if (jwt_decode(&jwt, copy, cand[i]->data, (int) cand[i]->len) == 0
            && jwt_get_alg(jwt) == ngx_devmon_jwt_algs[a].libjwt)
        {
            res->reason = NGX_DEVMON_JWT_OK;
        }

        jwt_free(jwt);

        if (res->reason == NGX_DEVMON_JWT_OK) {
            break;
        }
    }

    if (res->reason != NGX_DEVMON_JWT_OK) {
        goto done;
    }

    /* the signature holds; now the claims, in the order of the reasons */

    if (ngx_devmon_jwt_date(claims, "exp", &exp) != 1) {
        /* no expiry at all is refused: sessions must end */
        res->reason = NGX_DEVMON_JWT_MALFORMED;
        goto done;
    }

    if (now >= exp + policy->leeway) {
        res->reason = NGX_DEVMON_JWT_EXPIRED;
        goto done;
    }

    switch (ngx_devmon_jwt_date(claims, "nbf", &date)) {
    case -1:
        res->reason = NGX_DEVMON_JWT_MALFORMED;
        goto done;
    case 1:
        if (now + policy->leeway < date) {
            res->reason = NGX_DEVMON_JWT_NOT_YET_VALID;
            goto done;
        }
    }

    switch (ngx_devmon_jwt_date(claims, "iat", &date)) {
    case -1:
        res->reason = NGX_DEVMON_JWT_MALFORMED;
        goto done;
    case 1:
        if (date > now + policy->leeway) {
            res->reason = NGX_DEVMON_JWT_IAT_FUTURE;
            goto done;
        }
    }

    if (policy->issuer) {
        v = json_object_get(claims, "iss");

        if (!json_is_string(v)
            || json_string_length(v) != strlen(policy->issuer)
            || memcmp(json_string_value(v), policy->issuer,
                      json_string_length(v)) != 0)
        {
            res->reason = NGX_DEVMON_JWT_WRONG_ISSUER;
            goto done;
        }
    }

    if (policy->naudiences
        && !ngx_devmon_jwt_aud_ok(policy, json_object_get(claims, "aud")))
    {
        res->reason = NGX_DEVMON_JWT_WRONG_AUDIENCE;
        goto done;
    }

    name = policy->account_claim ? policy->account_claim : "acct";

    if (!ngx_devmon_jwt_id(json_object_get(claims, name), res->account,
                           NGX_DEVMON_JWT_ACCOUNT_MAX, 1))
    {
        res->reason = NGX_DEVMON_JWT_NO_ACCOUNT;
        goto done;
    }

    name = policy->user_claim ? policy->user_claim : "sub";

    if (!ngx_devmon_jwt_id(json_object_get(claims, name), res->user,
                           NGX_DEVMON_JWT_USER_MAX, 0))
    {
        res->reason = NGX_DEVMON_JWT_NO_USER;
        goto done;
    }

    res->exp = exp;
    res->reason = NGX_DEVMON_JWT_OK;

done:

    if (res->reason != NGX_DEVMON_JWT_OK) {
        res->account[0] = '\0';
        res->user[0] = '\0';
        res->exp = 0;
    }

    free(copy);
    json_decref(header);
    json_decref(claims);
}


/* 1: a NumericDate, 0: absent, -1: present but not a number */

static int
ngx_devmon_jwt_date(json_t *claims, const char *name, long long *date)
{
    double   d;
    json_t  *v;

    v = json_object_get(claims, name);
    if (v == NULL) {
        return 0;
    }

    if (json_is_integer(v)) {
        *date = json_integer_value(v);

    } else if (json_is_real(v)) {
        d = json_real_value(v);
        if (!(d > -NGX_DEVMON_JWT_DATE_MAX && d < NGX_DEVMON_JWT_DATE_MAX)) {
            return -1;
        }

        /* floor() without libm: the module does not link it */
        *date = (long long) d;

        if ((double) *date > d) {
            (*date)--;
        }

    } else {
        return -1;
    }

    /* keeps "exp + leeway" and "now + leeway" far from overflow */
    if (*date <= -NGX_DEVMON_JWT_DATE_MAX || *date >= NGX_DEVMON_JWT_DATE_MAX) {
        return -1;
    }

    return 1;
}


static int
ngx_devmon_jwt_aud_ok(const ngx_devmon_jwt_policy_t *policy, json_t *aud)
{
    size_t   i, j, n;
    json_t  *v;

    /* "aud" is a string or an array of strings (RFC 7519 4.1.3) */
    n = json_is_array(aud) ? json_array_size(aud) : 1;

    if (n > NGX_DEVMON_JWT_MAX_AUDIENCES) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        v = json_is_array(aud) ? json_array_get(aud, i) : aud;

        if (!json_is_string(v)) {
            return 0;
        }

        for (j = 0; j < policy->naudiences; j++) {
            if (json_string_length(v) == strlen(policy->audiences[j])
                && memcmp(json_string_value(v), policy->audiences[j],
                          json_string_length(v)) == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * Copies an account or user id.  Accounts end up inside Redis key names
 * ("devmon:{A}:ev") and JSON text, so they are printable ASCII without
 * braces, quotes, backslashes or spaces; a numeric account is accepted
 * as its decimal form.  Users may be any UTF-8 without control
 * characters, quotes or backslashes.
 */

static int
ngx_devmon_jwt_id(json_t *value, char *buf, size_t max, int account)
{
    size_t          i, len;
    const char     *s;
    unsigned char   c;

    if (account && json_is_integer(value)) {
        if (json_integer_value(value) < 0) {
            return 0;
        }

        snprintf(buf, max + 1, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(value));
        return 1;
    }

    if (!json_is_string(value)) {
        return 0;
    }

    s = json_string_value(value);
    len = json_string_length(value);

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            return 0;
        }

        if (account && (c <= 0x20 || c >= 0x7f || c == '{' || c == '}')) {
            return 0;
        }
    }

    memcpy(buf, s, len);
    buf[len] = '\0';

    return 1;
}


/*
 * Strict base64url without padding (RFC 7515 2): a lone trailing
 * character or non-zero unused bits make the text malformed, so each
 * value has exactly one encoding.  Returns malloc()ed bytes plus a NUL.
 */

static unsigned char *
ngx_devmon_jwt_b64url_decode(const char *src, size_t len, size_t *out_len)
{
    unsigned char  *out;

    out = malloc(len / 4 * 3 + 3);
    if (out == NULL) {
        return NULL;
    }

    if (ngx_devmon_ws_base64_decode(out, out_len, (const uint8_t *) src, len,
                                    NGX_DEVMON_WS_B64_URL
                                    |NGX_DEVMON_WS_B64_STRICT)
        != 0)
    {
        free(out);
        return NULL;
    }

    out[*out_len] = '\0';

    return out;
}


static json_t *
ngx_devmon_jwt_b64url_json(const char *src, size_t len)
{
    size_t          n;
    json_t         *json;
    unsigned char  *raw;
    json_error_t    jerr;

    raw = ngx_devmon_jwt_b64url_decode(src, len, &n);
    if (raw == NULL) {
        return NULL;
    }

    /* duplicate names would let two parsers see two different tokens */
    json = json_loadb((char *) raw, n, JSON_REJECT_DUPLICATES, &jerr);
    free(raw);

    if (json != NULL && !json_is_object(json)) {
        json_decref(json);
        return NULL;
    }

    return json;
}


static int
ngx_devmon_jwt_read_file(const char *path, unsigned char **data,
    size_t *len, char *err, size_t errlen)
{
    FILE           *f;
    size_t          n;
    unsigned char  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        ngx_devmon_jwt_error(err, errlen, "cannot open \"%s\": %s", path,
                             strerror(errno));
        return -1;
    }

    buf = malloc(NGX_DEVMON_JWT_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        ngx_devmon_jwt_error(err, errlen, "out of memory");
        return -1;
    }

    n = fread(buf, 1, NGX_DEVMON_JWT_FILE_MAX + 1, f);

    if (ferror(f)) {
        ngx_devmon_jwt_error(err, errlen, "cannot read \"%s\": %s", path,
                             strerror(errno));
        goto failed;
    }

    if (n > NGX_DEVMON_JWT_FILE_MAX) {
        ngx_devmon_jwt_error(err, errlen, "\"%s\" is larger than %d bytes",
                             path, NGX_DEVMON_JWT_FILE_MAX);
        goto failed;
    }

    if (n == 0) {
        ngx_devmon_jwt_error(err, errlen, "\"%s\" is empty", path);
        goto failed;
    }

    fclose(f);

    *data = buf;
    *len = n;

    return 0;

failed:

    OPENSSL_cleanse(buf, n);
    free(buf);
    fclose(f);

    return -1;
}


static void
ngx_devmon_jwt_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(err, errlen, fmt, args);
    va_end(args);
}
