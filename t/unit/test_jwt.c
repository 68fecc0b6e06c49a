/* Unit tests (TAP) for ngx_devmon_jwt: keys and tokens made at run time. */

/*
 * Copyright (C) devmon authors
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "ngx_devmon_jwt.h"


#define TOKEN_MAX  20000


/* how a test token is signed: by a secret or by a private key */
typedef struct {
    const char            *alg;
    const unsigned char   *secret;
    size_t                 secret_len;
    EVP_PKEY              *pkey;
} signer_t;


static int   tests;
static int   failed;
static long long  now;
static char  tmpdir[] = "/tmp/devmon-jwt-XXXXXX";


static void
ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tests++;

    if (!cond) {
        failed++;
        printf("not ");
    }

    printf("ok %d - ", tests);
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    printf("\n");
}


static void
die(const char *what)
{
    printf("Bail out! %s\n", what);
    exit(1);
}


static size_t
b64url(const unsigned char *src, size_t len, char *dst)
{
    static const char  abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                               "qrstuvwxyz0123456789-_";
    size_t        i, n;
    unsigned int  acc, bits;

    n = 0;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        acc = (acc << 8) | src[i];
        bits += 8;

        while (bits >= 6) {
            bits -= 6;
            dst[n++] = abc[(acc >> bits) & 63];
        }
    }

    if (bits) {
        dst[n++] = abc[(acc << (6 - bits)) & 63];
    }

    dst[n] = '\0';

    return n;
}


static const EVP_MD *
md_of(const char *alg)
{
    if (strcmp(alg + 2, "256") == 0) {
        return EVP_sha256();
    }

    if (strcmp(alg + 2, "384") == 0) {
        return EVP_sha384();
    }

    return EVP_sha512();
}


/* signs "input" as the JWS algorithm says; returns the raw signature */

static size_t
sign(const signer_t *s, const char *input, unsigned char *sig)
{
    size_t            len, coord;
    EVP_MD_CTX       *ctx;
    ECDSA_SIG        *es;
    unsigned int      hlen;
    unsigned char     der[512];
    const BIGNUM     *r, *ss;
    const unsigned char  *p;

    if (s->alg[0] == 'H') {
        if (HMAC(md_of(s->alg), s->secret, (int) s->secret_len,
                 (const unsigned char *) input, strlen(input), sig, &hlen)
            == NULL)
        {
            die("HMAC");
        }

        return hlen;
    }

    ctx = EVP_MD_CTX_new();
    len = sizeof(der);

    if (ctx == NULL
        || EVP_DigestSignInit(ctx, NULL, md_of(s->alg), NULL, s->pkey) != 1
        || EVP_DigestSign(ctx, der, &len, (const unsigned char *) input,
                          strlen(input)) != 1)
    {
        die("EVP_DigestSign");
    }

    EVP_MD_CTX_free(ctx);

    if (s->alg[0] == 'R') {
        memcpy(sig, der, len);
        return len;
    }

    /* JWS ECDSA signatures are r || s, each the size of the field */
    coord = (EVP_PKEY_get_bits(s->pkey) + 7) / 8;
    p = der;

    es = d2i_ECDSA_SIG(NULL, &p, (long) len);
    if (es == NULL) {
        die("d2i_ECDSA_SIG");
    }

    ECDSA_SIG_get0(es, &r, &ss);
    BN_bn2binpad(r, sig, (int) coord);
    BN_bn2binpad(ss, sig + coord, (int) coord);
    ECDSA_SIG_free(es);

    return 2 * coord;
}


/* header JSON (or alg/kid), claims JSON: a compact JWS, malloc()ed */

static char *
mint_raw(const signer_t *s, const char *header, const char *claims)
{
    char           *tok;
    size_t          n, slen;
    unsigned char   sig[1024];

    tok = malloc(TOKEN_MAX);
    if (tok == NULL) {
        die("malloc");
    }

    n = b64url((const unsigned char *) header, strlen(header), tok);
    tok[n++] = '.';
    n += b64url((const unsigned char *) claims, strlen(claims), tok + n);

    slen = s ? sign(s, tok, sig) : 0;

    tok[n++] = '.';
    b64url(sig, slen, tok + n);

    return tok;
}


static char *
mint(const signer_t *s, const char *kid, const char *claims)
{
    char  header[256];

    if (kid) {
        snprintf(header, sizeof(header),
                 "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                 s->alg, kid);

    } else {
        snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}",
                 s->alg);
    }

    return mint_raw(s, header, claims);
}


/* standard claims valid now, with extra members appended */

static char *
claims(const char *extra)
{
    static char  buf[TOKEN_MAX];

    snprintf(buf, sizeof(buf),
             "{\"sub\":\"alice\",\"acct\":\"acme\",\"iat\":%lld,"
             "\"exp\":%lld%s%s}",
             now - 5, now + 300, extra ? "," : "", extra ? extra : "");

    return buf;
}


static ngx_devmon_jwt_reason_e
check(const ngx_devmon_jwt_policy_t *policy, const char *token,
    ngx_devmon_jwt_result_t *res)
{
    ngx_devmon_jwt_result_t  local;

    if (res == NULL) {
        res = &local;
    }

    ngx_devmon_jwt_verify(policy, token, token ? strlen(token) : 0, now,
                          res);

    return res->reason;
}


static void
expect(const ngx_devmon_jwt_policy_t *policy, char *token,
    ngx_devmon_jwt_reason_e want, const char *what)
{
    ngx_devmon_jwt_reason_e  got;

    got = check(policy, token, NULL);

    ok(got == want, "%s: %s (got %s)", what,
       ngx_devmon_jwt_reason_name(want), ngx_devmon_jwt_reason_name(got));

    free(token);
}


static EVP_PKEY *
keygen_rsa(void)
{
    EVP_PKEY  *k;

    k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    if (k == NULL) {
        die("RSA keygen");
    }

    return k;
}


static EVP_PKEY *
keygen_ec(const char *curve)
{
    EVP_PKEY  *k;

    k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    if (k == NULL) {
        die("EC keygen");
    }

    return k;
}


/* the public half as PEM text, malloc()ed */

static char *
pub_pem(EVP_PKEY *k)
{
    BIO   *bio;
    char  *p, *out;
    long   n;

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_PUBKEY(bio, k) != 1) {
        die("PEM_write_bio_PUBKEY");
    }

    n = BIO_get_mem_data(bio, &p);
    out = malloc(n + 1);
    memcpy(out, p, n);
    out[n] = '\0';
    BIO_free(bio);

    return out;
}


static void
bn_b64(EVP_PKEY *k, const char *param, size_t pad, char *out)
{
    int             n;
    BIGNUM         *bn;
    unsigned char   raw[1024];

    bn = NULL;

    if (EVP_PKEY_get_bn_param(k, param, &bn) != 1) {
        die("EVP_PKEY_get_bn_param");
    }

    n = pad ? BN_bn2binpad(bn, raw, (int) pad) : BN_bn2bin(bn, raw);
    b64url(raw, (size_t) n, out);
    BN_free(bn);
}


/* one JWK member of a JWKS, public parts only */

static void
jwk(EVP_PKEY *k, const char *kid, char *out, size_t size)
{
    char    a[1024], b[1024], group[64];
    size_t  coord;

    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
        bn_b64(k, OSSL_PKEY_PARAM_RSA_N, 0, a);
        bn_b64(k, OSSL_PKEY_PARAM_RSA_E, 0, b);
        snprintf(out, size, "{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"%s\","
                 "\"n\":\"%s\",\"e\":\"%s\"}", kid, a, b);
        return;
    }

    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                   sizeof(group), NULL);
    coord = (EVP_PKEY_get_bits(k) + 7) / 8;
    bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, coord, a);
    bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, coord, b);

    snprintf(out, size, "{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"%s\","
             "\"x\":\"%s\",\"y\":\"%s\"}", kid,
             strcmp(group, "prime256v1") == 0 ? "P-256"
             : strcmp(group, "secp384r1") == 0 ? "P-384" : "P-521", a, b);
}


static void
write_file(const char *name, const void *data, size_t len, char *path)
{
    FILE  *f;

    snprintf(path, 512, "%s/%s", tmpdir, name);

    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        die("write_file");
    }
}


static ngx_devmon_jwt_keys_t *
keys_new(void)
{
    ngx_devmon_jwt_keys_t  *keys;

    keys = ngx_devmon_jwt_keys_create();
    if (keys == NULL) {
        die("keys_create");
    }

    return keys;
}


int
main(void)
{
    int                       rc, a;
    char                      err[512], path[512], *pem, *tok, *p;
    char                      jwks[16384], j1[4096], j2[4096], j3[4096];
    char                      big[TOKEN_MAX], c[1024];
    size_t                    i;
    EVP_PKEY                 *rsa, *rsa2, *ec256, *ec384, *ec521, *weak;
    signer_t                  hs256, hs384, hs512, s;
    const char               *auds[2];
    ngx_devmon_jwt_keys_t    *keys, *k2;
    ngx_devmon_jwt_policy_t   pol, pol2;
    ngx_devmon_jwt_result_t   res;

    static const unsigned char  secret[] =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    setvbuf(stdout, NULL, _IONBF, 0);

    if (mkdtemp(tmpdir) == NULL) {
        die("mkdtemp");
    }

    now = (long long) time(NULL);

    rsa = keygen_rsa();
    rsa2 = keygen_rsa();
    ec256 = keygen_ec("P-256");
    ec384 = keygen_ec("P-384");
    ec521 = keygen_ec("P-521");

    hs256 = (signer_t) { "HS256", secret, 32, NULL };
    hs384 = (signer_t) { "HS384", secret, 48, NULL };
    hs512 = (signer_t) { "HS512", secret, 64, NULL };

    /* key loading */

    keys = keys_new();

    ok(ngx_devmon_jwt_keys_add_secret(keys, NGX_DEVMON_JWT_HS256, secret, 32,
                                      NULL, err, sizeof(err)) == 0,
       "HS256 secret of 32 bytes accepted");
    ok(ngx_devmon_jwt_keys_add_secret(keys, NGX_DEVMON_JWT_HS384, secret, 48,
                                      NULL, err, sizeof(err)) == 0,
       "HS384 secret of 48 bytes accepted");

    rc = ngx_devmon_jwt_keys_add_secret(keys, NGX_DEVMON_JWT_HS512, secret,
                                        63, NULL, err, sizeof(err));
    ok(rc == -1 && strstr(err, "too short") != NULL,
       "HS512 secret of 63 bytes refused: %s", err);
    ok(strstr(err, "0123456789") == NULL, "error does not show the secret");

    /* the secret file loses its newline: "echo" style files work */
    memcpy(c, secret, 64);
    c[64] = '\n';
    write_file("hs512.key", c, 65, path);
    ok(ngx_devmon_jwt_keys_add_secret_file(keys, NGX_DEVMON_JWT_HS512, path,
                                           NULL, err, sizeof(err)) == 0,
       "HS512 secret file with trailing newline accepted");

    pem = pub_pem(rsa);
    rc = ngx_devmon_jwt_keys_add_secret(keys, NGX_DEVMON_JWT_HS256,
                                        (unsigned char *) pem, strlen(pem),
                                        NULL, err, sizeof(err));
    ok(rc == -1 && strstr(err, "PEM") != NULL,
       "a PEM public key as HMAC secret refused: %s", err);

    write_file("rsa.pub", pem, strlen(pem), path);
    ok(ngx_devmon_jwt_keys_add_pem_file(keys, path, NULL, err, sizeof(err))
       == 0, "RSA PEM public key file accepted");
    free(pem);

    pem = pub_pem(ec256);
    ok(ngx_devmon_jwt_keys_add_pem(keys, pem, strlen(pem), NULL, err,
                                   sizeof(err)) == 0,
       "EC P-256 PEM public key accepted");
    free(pem);

    pem = pub_pem(ec384);
    ok(ngx_devmon_jwt_keys_add_pem(keys, pem, strlen(pem), "e384", err,
                                   sizeof(err)) == 0,
       "EC P-384 PEM public key with kid accepted");
    free(pem);

    pem = pub_pem(ec521);
    ok(ngx_devmon_jwt_keys_add_pem(keys, pem, strlen(pem), NULL, err,
                                   sizeof(err)) == 0,
       "EC P-521 PEM public key accepted");
    free(pem);

    ok(ngx_devmon_jwt_keys_count(keys) == 7, "7 keys in the set");
    ok(ngx_devmon_jwt_keys_algorithms(keys) == 0x1ff,
       "the set covers all nine algorithms");

    /* bad key material */

    rc = ngx_devmon_jwt_keys_add_pem_file(keys, "/nonexistent/k.pem", NULL,
                                          err, sizeof(err));
    ok(rc == -1 && strstr(err, "/nonexistent/k.pem") != NULL,
       "missing key file names the file: %s", err);

    weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
    pem = pub_pem(weak);
    rc = ngx_devmon_jwt_keys_add_pem(keys, pem, strlen(pem), NULL, err,
                                     sizeof(err));
    ok(rc == -1 && strstr(err, "1024") != NULL,
       "RSA-1024 refused: %s", err);
    free(pem);
    EVP_PKEY_free(weak);

    weak = keygen_ec("secp256k1");
    pem = pub_pem(weak);
    rc = ngx_devmon_jwt_keys_add_pem(keys, pem, strlen(pem), NULL, err,
                                     sizeof(err));
    ok(rc == -1 && strstr(err, "secp256k1") != NULL,
       "secp256k1 refused: %s", err);
    free(pem);
    EVP_PKEY_free(weak);

    {
        BIO   *bio;
        long   n;

        bio = BIO_new(BIO_s_mem());
        PEM_write_bio_PrivateKey(bio, ec256, NULL, NULL, 0, NULL, NULL);
        n = BIO_get_mem_data(bio, &p);
        rc = ngx_devmon_jwt_keys_add_pem(keys, p, (size_t) n, NULL, err,
                                         sizeof(err));
        ok(rc == -1, "a private key file is refused: %s", err);
        BIO_free(bio);
    }

    rc = ngx_devmon_jwt_keys_add_pem(keys, "garbage", 7, NULL, err,
                                     sizeof(err));
    ok(rc == -1, "garbage PEM refused: %s", err);

    ok(ngx_devmon_jwt_keys_count(keys) == 7, "failed loads added nothing");

    /* policy over the full set */

    memset(&pol, 0, sizeof(pol));
    pol.keys = keys;

    tok = mint(&hs256, NULL, claims(NULL));
    rc = check(&pol, tok, &res);
    ok(rc == NGX_DEVMON_JWT_OK, "HS256 valid: %s",
       ngx_devmon_jwt_reason_name(rc));
    ok(strcmp(res.account, "acme") == 0 && strcmp(res.user, "alice") == 0
       && res.exp == now + 300, "account, user and exp returned");

    /* not NUL-terminated: the length is what counts */
    p = malloc(strlen(tok) + 8);
    memcpy(p, tok, strlen(tok));
    memcpy(p + strlen(tok), "garbage", 8);
    ngx_devmon_jwt_verify(&pol, p, strlen(tok), now, &res);
    ok(res.reason == NGX_DEVMON_JWT_OK, "token without NUL terminator");
    free(p);
    free(tok);

    expect(&pol, mint(&hs384, NULL, claims(NULL)), NGX_DEVMON_JWT_OK,
           "HS384 valid");
    expect(&pol, mint(&hs512, NULL, claims(NULL)), NGX_DEVMON_JWT_OK,
           "HS512 valid");

    s = (signer_t) { "RS256", NULL, 0, rsa };
    expect(&pol, mint(&s, NULL, claims(NULL)), NGX_DEVMON_JWT_OK,
           "RS256 valid");
    s.alg = "RS384";
    expect(&pol, mint(&s, NULL, claims(NULL)), NGX_DEVMON_JWT_OK,
           "RS384 valid");
    s.alg = "RS512";
    expect(&pol, mint(&s, NULL, claims(NULL)), NGX_DEVMON_JWT_OK,
           "RS512 valid");

    s = (signer_t) { "ES256", NULL, 0, ec256 };
    expect(&pol, mint(&s, NULL, claims(NULL)), NGX_DEVMON_JWT_OK,
           "ES256 valid");
    s = (signer_t) { "ES384", NULL, 0, ec384 };
    expect(&pol, mint(&s, "e384", claims(NULL)), NGX_DEVMON_JWT_OK,
           "ES384 valid, kid matches");
    expect(&pol, mint(&s, "other", claims(NULL)),
           NGX_DEVMON_JWT_UNKNOWN_KID, "ES384 with an unknown kid");
    s = (signer_t) { "ES512", NULL, 0, ec521 };
    expect(&pol, mint(&s, "anything", claims(NULL)), NGX_DEVMON_JWT_OK,
           "ES512 valid: a key without kid matches any kid");

    /* curve and algorithm must agree */
    s = (signer_t) { "ES256", NULL, 0, ec384 };
    expect(&pol, mint(&s, NULL, claims(NULL)), NGX_DEVMON_JWT_BAD_SIGNATURE,
           "ES256 header signed with a P-384 key");

    /* signed by a key we do not have */
    s = (signer_t) { "RS256", NULL, 0, rsa2 };
    expect(&pol, mint(&s, NULL, claims(NULL)), NGX_DEVMON_JWT_BAD_SIGNATURE,
           "RS256 signed by another key");

    hs256.secret = secret + 1;
    expect(&pol, mint(&hs256, NULL, claims(NULL)),
           NGX_DEVMON_JWT_BAD_SIGNATURE, "HS256 signed by another secret");
    hs256.secret = secret;

    /* tampered claims under a genuine signature */
    tok = mint(&hs256, NULL, claims(NULL));
    p = mint_raw(NULL, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                 "{\"sub\":\"alice\",\"acct\":\"evil\",\"exp\":9999999999}");
    i = strlen(p);
    snprintf(p + i - 1, TOKEN_MAX - i, "%s", strrchr(tok, '.'));
    free(tok);
    expect(&pol, p, NGX_DEVMON_JWT_BAD_SIGNATURE,
           "claims swapped under a genuine signature");

    /* alg "none" in its spellings */
    expect(&pol, mint_raw(NULL, "{\"alg\":\"none\"}", claims(NULL)),
           NGX_DEVMON_JWT_BAD_ALG, "alg none");
    expect(&pol, mint_raw(NULL, "{\"alg\":\"None\"}", claims(NULL)),
           NGX_DEVMON_JWT_BAD_ALG, "alg None");
    expect(&pol, mint_raw(NULL, "{\"alg\":\"NONE\"}", claims(NULL)),
           NGX_DEVMON_JWT_BAD_ALG, "alg NONE");
    expect(&pol, mint_raw(&hs256, "{\"alg\":\"hs256\"}", claims(NULL)),
           NGX_DEVMON_JWT_BAD_ALG, "alg in the wrong case");
    expect(&pol, mint_raw(&hs256, "{\"alg\":\"PS256\"}", claims(NULL)),
           NGX_DEVMON_JWT_BAD_ALG, "PS256 (not supported)");
    expect(&pol, mint_raw(&hs256, "{\"typ\":\"JWT\"}", claims(NULL)),
           NGX_DEVMON_JWT_MALFORMED, "no alg at all");

    /* empty signature with a real algorithm */
    tok = mint(&hs256, NULL, claims(NULL));
    strrchr(tok, '.')[1] = '\0';
    expect(&pol, tok, NGX_DEVMON_JWT_BAD_SIGNATURE, "empty signature");

    /* the algorithm confusion forgery: RSA public key as HMAC secret */

    k2 = keys_new();
    pem = pub_pem(rsa);
    ngx_devmon_jwt_keys_add_pem(k2, pem, strlen(pem), NULL, err, sizeof(err));

    memset(&pol2, 0, sizeof(pol2));
    pol2.keys = k2;

    s = (signer_t) { "HS256", (unsigned char *) pem, strlen(pem), NULL };
    expect(&pol2, mint(&s, NULL, claims(NULL)), NGX_DEVMON_JWT_BAD_ALG,
           "forgery: RS256 public key as HS256 secret, RSA-only set");

    pol2.algorithms = NGX_DEVMON_JWT_ALG_BIT(NGX_DEVMON_JWT_HS256)
                      | NGX_DEVMON_JWT_ALG_BIT(NGX_DEVMON_JWT_RS256);
    expect(&pol2, mint(&s, NULL, claims(NULL)), NGX_DEVMON_JWT_BAD_ALG,
           "forgery refused even when HS256 is allowed but no secret is set");

    ngx_devmon_jwt_keys_add_secret(k2, NGX_DEVMON_JWT_HS256, secret, 32,
                                   NULL, err, sizeof(err));
    expect(&pol2, mint(&s, NULL, claims(NULL)), NGX_DEVMON_JWT_BAD_SIGNATURE,
           "forgery with both families configured: bad signature");

    /* and the same trick spelled with the trailing newline dropped */
    s.secret_len = strlen(pem) - 1;
    expect(&pol2, mint(&s, NULL, claims(NULL)), NGX_DEVMON_JWT_BAD_SIGNATURE,
           "forgery, PEM without newline: bad signature");
    free(pem);

    /* allowed algorithms */
    pol2.algorithms = NGX_DEVMON_JWT_ALG_BIT(NGX_DEVMON_JWT_RS256);
    s = (signer_t) { "RS384", NULL, 0, rsa };
    expect(&pol2, mint(&s, NULL, claims(NULL)), NGX_DEVMON_JWT_BAD_ALG,
           "RS384 when only RS256 is allowed");
    expect(&pol2, mint(&hs256, NULL, claims(NULL)), NGX_DEVMON_JWT_BAD_ALG,
           "HS256 when only RS256 is allowed");
    s.alg = "RS256";
    expect(&pol2, mint(&s, NULL, claims(NULL)), NGX_DEVMON_JWT_OK,
           "RS256 when only RS256 is allowed");
    s = (signer_t) { "ES256", NULL, 0, ec256 };
    pol2.algorithms = 0;
    expect(&pol2, mint(&s, NULL, claims(NULL)), NGX_DEVMON_JWT_BAD_ALG,
           "ES256 with no EC key in the set");
    ngx_devmon_jwt_keys_free(k2);

    /* JWKS: rotation by kid */

    k2 = keys_new();
    jwk(rsa, "r1", j1, sizeof(j1));
    jwk(rsa2, "r2", j2, sizeof(j2));
    jwk(ec256, "e1", j3, sizeof(j3));
    snprintf(jwks, sizeof(jwks), "{\"keys\":[%s,%s,%s,"
             "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"},"
             "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}"
             "]}", j1, j2, j3);
    write_file("jwks.json", jwks, strlen(jwks), path);

    rc = ngx_devmon_jwt_keys_add_jwks_file(k2, path, err, sizeof(err));
    ok(rc == 0, "JWKS file loaded: %s", rc ? err : "ok");
    ok(ngx_devmon_jwt_keys_count(k2) == 3,
       "JWKS: 3 signing keys, oct and enc keys skipped");

    pol2.keys = k2;
    pol2.algorithms = 0;

    s = (signer_t) { "RS256", NULL, 0, rsa };
    expect(&pol2, mint(&s, "r1", claims(NULL)), NGX_DEVMON_JWT_OK,
           "JWKS RS256 kid r1");
    s.pkey = rsa2;
    expect(&pol2, mint(&s, "r2", claims(NULL)), NGX_DEVMON_JWT_OK,
           "JWKS RS256 kid r2 (rotated key)");
    expect(&pol2, mint(&s, "r1", claims(NULL)), NGX_DEVMON_JWT_BAD_SIGNATURE,
           "JWKS kid r1 but signed by r2");
    expect(&pol2, mint(&s, "r9", claims(NULL)), NGX_DEVMON_JWT_UNKNOWN_KID,
           "JWKS unknown kid");
    expect(&pol2, mint(&s, NULL, claims(NULL)), NGX_DEVMON_JWT_OK,
           "JWKS token without kid tries every RSA key");
    s = (signer_t) { "ES256", NULL, 0, ec256 };
    expect(&pol2, mint(&s, "e1", claims(NULL)), NGX_DEVMON_JWT_OK,
           "JWKS ES256 kid e1");
    expect(&pol2, mint(&s, "r1", claims(NULL)), NGX_DEVMON_JWT_UNKNOWN_KID,
           "JWKS ES256 naming an RSA kid");
    ngx_devmon_jwt_keys_free(k2);

    /* JWKS with an "alg" pins the key to it */
    k2 = keys_new();
    jwk(rsa, "r1", j1, sizeof(j1));
    j1[strlen(j1) - 1] = '\0';
    snprintf(jwks, sizeof(jwks), "{\"keys\":[%s,\"alg\":\"RS512\"}]}", j1);
    ok(ngx_devmon_jwt_keys_add_jwks(k2, jwks, strlen(jwks), err,
                                    sizeof(err)) == 0, "JWKS with alg");
    pol2.keys = k2;
    s = (signer_t) { "RS256", NULL, 0, rsa };
    expect(&pol2, mint(&s, "r1", claims(NULL)), NGX_DEVMON_JWT_BAD_ALG,
           "JWK alg RS512 refuses RS256");
    s.alg = "RS512";
    expect(&pol2, mint(&s, "r1", claims(NULL)), NGX_DEVMON_JWT_OK,
           "JWK alg RS512 accepts RS512");
    ngx_devmon_jwt_keys_free(k2);

    /* JWKS errors */
    k2 = keys_new();

    rc = ngx_devmon_jwt_keys_add_jwks(k2, "{\"keys\":", 8, err, sizeof(err));
    ok(rc == -1 && strstr(err, "JSON") != NULL, "JWKS bad JSON: %s", err);

    rc = ngx_devmon_jwt_keys_add_jwks(k2, "{\"keys\":[]}", 11, err,
                                      sizeof(err));
    ok(rc == -1 && strstr(err, "no RSA or EC") != NULL,
       "JWKS without signing keys: %s", err);

    jwk(ec256, "e1", j3, sizeof(j3));
    p = strstr(j3, "\"y\":\"") + 5;
    p[0] = p[0] == 'A' ? 'B' : 'A';           /* move the point off curve */
    snprintf(jwks, sizeof(jwks), "{\"keys\":[%s]}", j3);
    rc = ngx_devmon_jwt_keys_add_jwks(k2, jwks, strlen(jwks), err,
                                      sizeof(err));
    ok(rc == -1 && strstr(err, "keys[0]") != NULL,
       "JWKS EC point off the curve: %s", err);

    snprintf(jwks, sizeof(jwks), "{\"keys\":[{\"kty\":\"EC\",\"crv\":"
             "\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}");
    rc = ngx_devmon_jwt_keys_add_jwks(k2, jwks, strlen(jwks), err,
                                      sizeof(err));
    ok(rc == -1 && strstr(err, "32-byte") != NULL,
       "JWKS EC coordinates of the wrong size: %s", err);

    snprintf(jwks, sizeof(jwks), "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\","
             "\"e\":\"AQAB\"}]}");
    rc = ngx_devmon_jwt_keys_add_jwks(k2, jwks, strlen(jwks), err,
                                      sizeof(err));
    ok(rc == -1, "JWKS RSA key of 17 bits: %s", err);
    ok(ngx_devmon_jwt_keys_count(k2) == 0, "JWKS errors added nothing");
    ngx_devmon_jwt_keys_free(k2);

    /* time claims */

    snprintf(c, sizeof(c), "{\"sub\":\"u\",\"acct\":\"a\",\"exp\":%lld}",
             now - 10);
    expect(&pol, mint(&hs256, NULL, c), NGX_DEVMON_JWT_EXPIRED, "expired");

    pol.leeway = 30;
    expect(&pol, mint(&hs256, NULL, c), NGX_DEVMON_JWT_OK,
           "expired 10 s ago, 30 s leeway");
    pol.leeway = 0;

    snprintf(c, sizeof(c), "{\"sub\":\"u\",\"acct\":\"a\",\"exp\":%lld}",
             now);
    expect(&pol, mint(&hs256, NULL, c), NGX_DEVMON_JWT_EXPIRED,
           "exp equal to now is expired");

    snprintf(c, sizeof(c), "{\"sub\":\"u\",\"acct\":\"a\",\"exp\":%lld.5}",
             now + 100);
    expect(&pol, mint(&hs256, NULL, c), NGX_DEVMON_JWT_OK,
           "exp as a fractional NumericDate");

    expect(&pol, mint(&hs256, NULL, "{\"sub\":\"u\",\"acct\":\"a\"}"),
           NGX_DEVMON_JWT_MALFORMED, "no exp");
    expect(&pol, mint(&hs256, NULL,
                      "{\"sub\":\"u\",\"acct\":\"a\",\"exp\":\"9999999999\"}"),
           NGX_DEVMON_JWT_MALFORMED, "exp as a string");
    expect(&pol, mint(&hs256, NULL,
                      "{\"sub\":\"u\",\"acct\":\"a\",\"exp\":1e300}"),
           NGX_DEVMON_JWT_MALFORMED, "exp absurdly large");

    snprintf(c, sizeof(c), "\"nbf\":%lld", now + 60);
    expect(&pol, mint(&hs256, NULL, claims(c)),
           NGX_DEVMON_JWT_NOT_YET_VALID, "nbf in the future");
    pol.leeway = 90;
    expect(&pol, mint(&hs256, NULL, claims(c)), NGX_DEVMON_JWT_OK,
           "nbf in the future, inside the leeway");
    pol.leeway = 0;

    snprintf(c, sizeof(c), "\"nbf\":%lld", now);
    expect(&pol, mint(&hs256, NULL, claims(c)), NGX_DEVMON_JWT_OK,
           "nbf now");

    snprintf(c, sizeof(c), "{\"sub\":\"u\",\"acct\":\"a\",\"exp\":%lld,"
             "\"iat\":%lld}", now + 600, now + 60);
    expect(&pol, mint(&hs256, NULL, c), NGX_DEVMON_JWT_IAT_FUTURE,
           "iat in the future");
    snprintf(c, sizeof(c), "{\"sub\":\"u\",\"acct\":\"a\",\"exp\":%lld,"
             "\"iat\":\"x\"}", now + 600);
    expect(&pol, mint(&hs256, NULL, c), NGX_DEVMON_JWT_MALFORMED,
           "iat not a number");

    /* issuer and audience */

    pol.issuer = "https://idp.example";
    expect(&pol, mint(&hs256, NULL, claims("\"iss\":\"https://idp.example\"")),
           NGX_DEVMON_JWT_OK, "right issuer");
    expect(&pol, mint(&hs256, NULL, claims("\"iss\":\"https://evil\"")),
           NGX_DEVMON_JWT_WRONG_ISSUER, "wrong issuer");
    expect(&pol, mint(&hs256, NULL, claims(NULL)),
           NGX_DEVMON_JWT_WRONG_ISSUER, "no issuer when one is required");
    expect(&pol, mint(&hs256, NULL,
                      claims("\"iss\":\"https://idp.example\\u0000x\"")),
           NGX_DEVMON_JWT_MALFORMED, "claims with \\u0000 are refused");
    pol.issuer = NULL;

    auds[0] = "devmon";
    auds[1] = "devmon-staging";
    pol.audiences = auds;
    pol.naudiences = 2;
    expect(&pol, mint(&hs256, NULL, claims("\"aud\":\"devmon\"")),
           NGX_DEVMON_JWT_OK, "audience string");
    expect(&pol, mint(&hs256, NULL,
                      claims("\"aud\":[\"other\",\"devmon-staging\"]")),
           NGX_DEVMON_JWT_OK, "audience array containing ours");
    expect(&pol, mint(&hs256, NULL, claims("\"aud\":[\"other\",\"x\"]")),
           NGX_DEVMON_JWT_WRONG_AUDIENCE, "audience array without ours");
    expect(&pol, mint(&hs256, NULL, claims("\"aud\":\"other\"")),
           NGX_DEVMON_JWT_WRONG_AUDIENCE, "wrong audience string");
    expect(&pol, mint(&hs256, NULL, claims(NULL)),
           NGX_DEVMON_JWT_WRONG_AUDIENCE, "no audience");
    expect(&pol, mint(&hs256, NULL, claims("\"aud\":[1,\"devmon\"]")),
           NGX_DEVMON_JWT_WRONG_AUDIENCE, "audience array with a number");
    pol.naudiences = 0;

    /* account and user */

    snprintf(c, sizeof(c), "{\"sub\":\"u\",\"exp\":%lld}", now + 60);
    expect(&pol, mint(&hs256, NULL, c), NGX_DEVMON_JWT_NO_ACCOUNT,
           "no account claim");
    snprintf(c, sizeof(c), "{\"sub\":\"u\",\"acct\":\"a{b}\",\"exp\":%lld}",
             now + 60);
    expect(&pol, mint(&hs256, NULL, c), NGX_DEVMON_JWT_NO_ACCOUNT,
           "account with hash-tag braces");
    snprintf(c, sizeof(c), "{\"sub\":\"u\",\"acct\":\"\",\"exp\":%lld}",
             now + 60);
    expect(&pol, mint(&hs256, NULL, c), NGX_DEVMON_JWT_NO_ACCOUNT,
           "empty account");
    snprintf(c, sizeof(c), "{\"sub\":\"u\",\"acct\":[\"a\"],\"exp\":%lld}",
             now + 60);
    expect(&pol, mint(&hs256, NULL, c), NGX_DEVMON_JWT_NO_ACCOUNT,
           "account as an array");

    snprintf(c, sizeof(c), "{\"sub\":\"u\",\"acct\":42,\"exp\":%lld}",
             now + 60);
    tok = mint(&hs256, NULL, c);
    rc = check(&pol, tok, &res);
    ok(rc == NGX_DEVMON_JWT_OK && strcmp(res.account, "42") == 0,
       "numeric account becomes \"42\"");
    free(tok);

    snprintf(c, sizeof(c), "{\"acct\":\"a\",\"exp\":%lld}", now + 60);
    expect(&pol, mint(&hs256, NULL, c), NGX_DEVMON_JWT_NO_USER, "no user");
    snprintf(c, sizeof(c), "{\"acct\":\"a\",\"sub\":\"x\\ny\",\"exp\":%lld}",
             now + 60);
    expect(&pol, mint(&hs256, NULL, c), NGX_DEVMON_JWT_NO_USER,
           "user with a control character");

    pol.account_claim = "tenant";
    pol.user_claim = "email";
    snprintf(c, sizeof(c), "{\"tenant\":\"t1\",\"email\":\"b@x.org\","
             "\"exp\":%lld}", now + 60);
    tok = mint(&hs256, NULL, c);
    rc = check(&pol, tok, &res);
    ok(rc == NGX_DEVMON_JWT_OK && strcmp(res.account, "t1") == 0
       && strcmp(res.user, "b@x.org") == 0, "custom account and user claims");
    free(tok);
    expect(&pol, mint(&hs256, NULL, claims(NULL)), NGX_DEVMON_JWT_NO_ACCOUNT,
           "custom account claim absent");
    pol.account_claim = NULL;
    pol.user_claim = NULL;

    /* syntax, before any crypto */

    ok(check(&pol, NULL, NULL) == NGX_DEVMON_JWT_MISSING, "NULL: missing");
    ok(check(&pol, "", NULL) == NGX_DEVMON_JWT_MISSING, "empty: missing");
    ok(check(&pol, "abc", NULL) == NGX_DEVMON_JWT_MALFORMED, "one segment");
    ok(check(&pol, "abc.def", NULL) == NGX_DEVMON_JWT_MALFORMED,
       "two segments");
    ok(check(&pol, "a.b.c.d", NULL) == NGX_DEVMON_JWT_MALFORMED,
       "four segments");
    ok(check(&pol, ".e30.sig", NULL) == NGX_DEVMON_JWT_MALFORMED,
       "empty header");
    ok(check(&pol, "e30..sig", NULL) == NGX_DEVMON_JWT_MALFORMED,
       "empty payload");
    ok(check(&pol, "e30=.e30.sig", NULL) == NGX_DEVMON_JWT_MALFORMED,
       "padding");
    ok(check(&pol, "e3 0.e30.sig", NULL) == NGX_DEVMON_JWT_MALFORMED,
       "space inside");
    ok(check(&pol, "e31.e30.sig", NULL) == NGX_DEVMON_JWT_MALFORMED,
       "non-canonical base64url (unused bits set)");
    ok(check(&pol, "W10.e30.sig", NULL) == NGX_DEVMON_JWT_MALFORMED,
       "header is a JSON array");
    ok(check(&pol, "bm90IGpzb24.e30.sig", NULL) == NGX_DEVMON_JWT_MALFORMED,
       "header is not JSON");

    expect(&pol, mint_raw(&hs256, "{\"alg\":\"HS256\",\"alg\":\"none\"}",
                          claims(NULL)),
           NGX_DEVMON_JWT_MALFORMED, "duplicate alg in the header");
    expect(&pol, mint_raw(&hs256, "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
                          claims(NULL)),
           NGX_DEVMON_JWT_MALFORMED, "crit header");
    expect(&pol, mint_raw(&hs256, "{\"alg\":\"HS256\",\"kid\":7}",
                          claims(NULL)),
           NGX_DEVMON_JWT_MALFORMED, "numeric kid");
    expect(&pol, mint_raw(&hs256, "{\"alg\":\"HS256\"}", "[1]"),
           NGX_DEVMON_JWT_MALFORMED, "claims are a JSON array");
    expect(&pol, mint_raw(&hs256, "{\"alg\":\"HS256\"}",
                          "{\"acct\":\"a\",\"acct\":\"b\",\"sub\":\"u\","
                          "\"exp\":9999999999}"),
           NGX_DEVMON_JWT_MALFORMED, "duplicate claim");

    /* size */

    memset(big, 'A', NGX_DEVMON_JWT_MAX_LEN + 1);
    big[10] = '.';
    big[20] = '.';
    ngx_devmon_jwt_verify(&pol, big, NGX_DEVMON_JWT_MAX_LEN + 1, now, &res);
    ok(res.reason == NGX_DEVMON_JWT_TOO_LARGE, "8193 bytes: too_large");

    snprintf(big, sizeof(big), "\"pad\":\"%0*d\"", 6300, 0);
    tok = mint(&hs256, NULL, claims(big));
    ok(strlen(tok) > 8192, "padded token is %zu bytes", strlen(tok));
    expect(&pol, tok, NGX_DEVMON_JWT_TOO_LARGE, "real oversized token");

    pol.max_len = 100;
    expect(&pol, mint(&hs256, NULL, claims(NULL)), NGX_DEVMON_JWT_TOO_LARGE,
           "custom limit of 100 bytes");
    pol.max_len = 0;

    /* more keys than a token may be tried against */

    {
        char            kid[16];
        unsigned char   many[9][32];
        signer_t        ninth;

        k2 = keys_new();

        for (i = 0; i < 9; i++) {
            memset(many[i], 'a' + (int) i, 32);
            ok(ngx_devmon_jwt_keys_add_secret(k2, NGX_DEVMON_JWT_HS256,
                                              many[i], 32, NULL, err,
                                              sizeof(err)) == 0,
               "kid-less HS256 key %zu added", i + 1);
        }

        rc = ngx_devmon_jwt_keys_check(k2, err, sizeof(err));
        ok(rc == -1 && strstr(err, "HS256") != NULL,
           "9 kid-less HS256 keys refused by keys_check: %s", err);
        ngx_devmon_jwt_keys_free(k2);

        k2 = keys_new();

        for (i = 0; i < 9; i++) {
            snprintf(kid, sizeof(kid), "k%zu", i + 1);
            (void) ngx_devmon_jwt_keys_add_secret(k2, NGX_DEVMON_JWT_HS256,
                                                  many[i], 32, kid, err,
                                                  sizeof(err));
        }

        ok(ngx_devmon_jwt_keys_check(k2, err, sizeof(err)) == 0,
           "9 HS256 keys with distinct kids pass keys_check");

        memset(&pol2, 0, sizeof(pol2));
        pol2.keys = k2;
        ninth = (signer_t) { "HS256", many[8], 32, NULL };

        expect(&pol2, mint(&ninth, "k9", claims(NULL)), NGX_DEVMON_JWT_OK,
               "9th key selected by its kid");
        expect(&pol2, mint(&ninth, NULL, claims(NULL)),
               NGX_DEVMON_JWT_UNKNOWN_KID,
               "no kid among 9 keys: refused, not cut at the 8th");

        (void) ngx_devmon_jwt_keys_add_secret(k2, NGX_DEVMON_JWT_HS256,
                                              many[0], 32, NULL, err,
                                              sizeof(err));
        ok(ngx_devmon_jwt_keys_check(k2, err, sizeof(err)) == 0,
           "one kid-less key beside 9 keyed ones passes keys_check");
        ngx_devmon_jwt_keys_free(k2);
    }

    /* RSA public exponents that make signatures meaningless */

    k2 = keys_new();

    for (i = 0; i < 2; i++) {
        jwk(rsa, "r1", j1, sizeof(j1));
        p = strstr(j1, "\"e\":\"AQAB\"");
        if (p == NULL) {
            die("test RSA key has e != 65537");
        }

        snprintf(jwks, sizeof(jwks), "{\"keys\":[%.*s\"e\":\"%s\"}]}",
                 (int) (p - j1), j1, i == 0 ? "AQ" : "AAAC");
        rc = ngx_devmon_jwt_keys_add_jwks(k2, jwks, strlen(jwks), err,
                                          sizeof(err));
        ok(rc == -1 && strstr(err, "exponent") != NULL,
           "JWKS RSA key with e = %d refused: %s", i == 0 ? 1 : 2, err);
    }

    ok(ngx_devmon_jwt_keys_count(k2) == 0, "bad exponents added nothing");
    ngx_devmon_jwt_keys_free(k2);

    /* names */

    ok(strcmp(ngx_devmon_jwt_reason_name(NGX_DEVMON_JWT_EXPIRED), "expired")
       == 0, "reason name expired");
    ok(strcmp(ngx_devmon_jwt_reason_name(NGX_DEVMON_JWT_NO_USER), "no_user")
       == 0, "reason name no_user");
    ok(strcmp(ngx_devmon_jwt_reason_name(NGX_DEVMON_JWT_NREASONS), "?") == 0,
       "reason name out of range");

    a = ngx_devmon_jwt_alg_parse("ES384", 5);
    ok(a == NGX_DEVMON_JWT_ES384, "alg_parse ES384");
    ok(ngx_devmon_jwt_alg_parse("none", 4) == -1, "alg_parse none");

    ngx_devmon_jwt_keys_free(keys);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa2);
    EVP_PKEY_free(ec256);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(ec521);

    snprintf(c, sizeof(c), "rm -rf '%s'", tmpdir);
    if (system(c) != 0) {
        printf("# could not remove %s\n", tmpdir);
    }

    printf("1..%d\n", tests);

    if (failed) {
        printf("# %d of %d failed\n", failed, tests);
    }

    return failed ? 1 : 0;
}
