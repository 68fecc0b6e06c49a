/* Unit tests of the WebSocket codec (ngx_devmon_ws_codec.c), TAP output. */

/*
 * Copyright (C) devmon authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_devmon_ws_codec.h"


#define S(s)  (const uint8_t *) (s), sizeof(s) - 1


typedef struct {
    int                          rc;
    unsigned                     opcode;
    unsigned                     first;
    unsigned                     last;
    size_t                       len;
    uint8_t                      data[256];
} event_t;


static int  test_n;
static int  test_failed;


static void
ok(int cond, const char *name)
{
    test_n++;

    if (!cond) {
        test_failed++;
    }

    printf("%sok %d - %s\n", cond ? "" : "not ", test_n, name);
}


/* a client frame: masked unless mask is NULL; lenform forces 7/16/64 */
static size_t
frame(uint8_t *out, unsigned b0, const void *payload, size_t len,
    const uint8_t *mask, int lenform)
{
    size_t  n, i;

    n = 0;
    out[n++] = (uint8_t) b0;

    if (lenform == 0) {
        lenform = len < 126 ? 7 : (len <= 0xffff ? 16 : 64);
    }

    if (lenform == 7) {
        out[n++] = (uint8_t) len;

    } else if (lenform == 16) {
        out[n++] = 126;
        out[n++] = (uint8_t) (len >> 8);
        out[n++] = (uint8_t) len;

    } else {
        out[n++] = 127;
        for (i = 0; i < 8; i++) {
            out[n++] = (uint8_t) ((uint64_t) len >> (56 - 8 * i));
        }
    }

    if (mask) {
        out[1] |= 0x80;
        memcpy(out + n, mask, 4);
        n += 4;
    }

    for (i = 0; i < len; i++) {
        out[n + i] = ((const uint8_t *) payload)[i] ^ (mask ? mask[i & 3] : 0);
    }

    return n + len;
}


static const uint8_t  mask_a[4] = { 0x37, 0xfa, 0x21, 0x3d };


/*
 * Feeds "buf" to a reader "step" bytes at a time and records every event;
 * data chunks of one message are concatenated into one event.
 */
static int
run(ngx_devmon_ws_reader_t *rd, uint8_t *buf, size_t len, size_t step,
    event_t *ev, int max)
{
    int                     n, rc;
    size_t                  pos, end, used;
    ngx_devmon_ws_chunk_t   ch;

    n = 0;
    pos = 0;

    while (pos < len && n < max) {
        end = pos + step < len ? pos + step : len;

        while (pos < end && n < max) {
            rc = ngx_devmon_ws_read(rd, buf + pos, end - pos, &used, &ch);
            pos += used;

            if (rc == NGX_DEVMON_WS_AGAIN) {
                break;
            }

            if (rc >= 1000) {
                ev[n].rc = rc;
                return n + 1;
            }

            if (rc == NGX_DEVMON_WS_DATA && n > 0 && ev[n - 1].rc == rc
                && !ev[n - 1].last && !ch.first)
            {
                /* continue the previous message */
                n--;

            } else {
                memset(&ev[n], 0, sizeof(event_t));
                ev[n].rc = rc;
                ev[n].opcode = ch.opcode;
                ev[n].first = ch.first;
            }

            if (ev[n].len < sizeof(ev[n].data)) {
                memcpy(ev[n].data + ev[n].len, ch.data,
                       ch.len < sizeof(ev[n].data) - ev[n].len
                       ? ch.len : sizeof(ev[n].data) - ev[n].len);
            }

            ev[n].len += ch.len;
            ev[n].last = ch.last;
            n++;
        }
    }

    return n;
}


static int
first_error(uint8_t *buf, size_t len, uint64_t max)
{
    int                     n;
    event_t                 ev[16];
    ngx_devmon_ws_reader_t  rd;

    memset(&rd, 0, sizeof(rd));
    rd.max_message = max;

    n = run(&rd, buf, len, len, ev, 16);

    return n ? ev[n - 1].rc : 0;
}


static void
test_sha1_accept(void)
{
    uint8_t  d[20], acc[NGX_DEVMON_WS_ACCEPT_LEN + 1];
    uint8_t  b64[16];
    char     hex[41];
    int      i;
    static uint8_t  million[1000000];

    ngx_devmon_ws_sha1(S("abc"), d);
    for (i = 0; i < 20; i++) {
        sprintf(hex + 2 * i, "%02x", d[i]);
    }
    ok(strcmp(hex, "a9993e364706816aba3e25717850c26c9cd0d89d") == 0,
       "sha1(\"abc\")");

    ngx_devmon_ws_sha1(S(""), d);
    for (i = 0; i < 20; i++) {
        sprintf(hex + 2 * i, "%02x", d[i]);
    }
    ok(strcmp(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709") == 0,
       "sha1 of the empty string");

    ngx_devmon_ws_sha1(
        S("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"), d);
    for (i = 0; i < 20; i++) {
        sprintf(hex + 2 * i, "%02x", d[i]);
    }
    ok(strcmp(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1") == 0,
       "sha1 of 56 bytes (padding spills into a second block)");

    memset(million, 'a', sizeof(million));
    ngx_devmon_ws_sha1(million, sizeof(million), d);
    for (i = 0; i < 20; i++) {
        sprintf(hex + 2 * i, "%02x", d[i]);
    }
    ok(strcmp(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f") == 0,
       "sha1 of a million 'a'");

    /* RFC 6455 1.3 example */
    ngx_devmon_ws_accept(S("dGhlIHNhbXBsZSBub25jZQ=="), acc);
    acc[NGX_DEVMON_WS_ACCEPT_LEN] = '\0';
    ok(strcmp((char *) acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
       "Sec-WebSocket-Accept of the RFC 6455 sample key");

    ok(ngx_devmon_ws_base64(b64, S("")) == 0, "base64 of nothing");
    ok(ngx_devmon_ws_base64(b64, S("f")) == 4
       && memcmp(b64, "Zg==", 4) == 0, "base64 \"f\"");
    ok(ngx_devmon_ws_base64(b64, S("fo")) == 4
       && memcmp(b64, "Zm8=", 4) == 0, "base64 \"fo\"");
    ok(ngx_devmon_ws_base64(b64, S("foob")) == 8
       && memcmp(b64, "Zm9vYg==", 8) == 0, "base64 \"foob\"");
}


static void
test_key(void)
{
    ok(ngx_devmon_ws_key_valid(S("dGhlIHNhbXBsZSBub25jZQ==")),
       "key: base64 of 16 bytes is valid");
    ok(!ngx_devmon_ws_key_valid(S("dGhlIHNhbXBsZSBub25jZQ=")),
       "key: 23 characters rejected");
    ok(!ngx_devmon_ws_key_valid(S("dGhlIHNhbXBsZSBub25jZQ===")),
       "key: 25 characters rejected");
    ok(!ngx_devmon_ws_key_valid(S("dGhlIHNhbXBsZSBub25jZXk=")),
       "key: 17 bytes (one '=') rejected");
    ok(!ngx_devmon_ws_key_valid(S("dGhlIHNhbXBsZSBub25j*Q==")),
       "key: non-base64 character rejected");
    ok(!ngx_devmon_ws_key_valid(S("")), "key: empty rejected");
    ok(!ngx_devmon_ws_key_valid(S("dGhlIHNhbXBsZSBub25jZQ  ")),
       "key: spaces instead of padding rejected");
}


static void
test_tokens(void)
{
    int             n;
    size_t          len;
    const uint8_t  *pos, *last, *t;
    char            got[128];

    ok(ngx_devmon_ws_token_find(S("Upgrade"), "upgrade"),
       "token: single, case-insensitive");
    ok(ngx_devmon_ws_token_find(S("keep-alive, Upgrade"), "upgrade"),
       "token: second in a list");
    ok(ngx_devmon_ws_token_find(S(" ,UPGRADE\t, close"), "upgrade"),
       "token: empty elements and tabs");
    ok(!ngx_devmon_ws_token_find(S("upgraded, keep-alive"), "upgrade"),
       "token: prefix match is no match");
    ok(!ngx_devmon_ws_token_find(S("keep-alive"), "upgrade"),
       "token: absent");
    ok(!ngx_devmon_ws_token_find(S(""), "upgrade"), "token: empty list");

    pos = (const uint8_t *) "devmon.v1, bearer.a.b.c ,,  chat ,";
    last = pos + strlen((const char *) pos);
    got[0] = '\0';
    n = 0;

    while (ngx_devmon_ws_token_next(&pos, last, &t, &len) && n < 10) {
        strncat(got, (const char *) t, len);
        strcat(got, "|");
        n++;
    }

    ok(strcmp(got, "devmon.v1|bearer.a.b.c|chat|") == 0,
       "subprotocol list split into its elements");
}


static void
test_utf8(void)
{
    size_t                i;
    int                   bad;
    ngx_devmon_ws_utf8_t  u;

    static const char  *good[] = {
        "", "hello", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
        "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf",
        "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
        "\xf4\x8f\xbf\xbf", "0123456789abcdef\xc3\xa9" "0123456789"
    };

    static const char  *invalid[] = {
        "\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80",
        "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
        "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80", "\xff", "\xfe", "\xce", "\xe1\xbd",
        "0123456789abcdef\xed\xa0\x80", "\xc3\x28"
    };

    bad = 0;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!ngx_devmon_ws_utf8_valid((const uint8_t *) good[i],
                                      strlen(good[i])))
        {
            bad++;
        }
    }
    ok(bad == 0, "utf8: valid sequences (1-4 bytes, boundaries) accepted");

    bad = 0;
    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        if (ngx_devmon_ws_utf8_valid((const uint8_t *) invalid[i],
                                     strlen(invalid[i])))
        {
            printf("# accepted invalid #%zu\n", i);
            bad++;
        }
    }
    ok(bad == 0, "utf8: overlongs, surrogates, > U+10FFFF, truncated "
       "sequences rejected");

    /* one byte at a time: the state carries over */
    memset(&u, 0, sizeof(u));
    bad = 0;
    for (i = 0; i < 4; i++) {
        bad |= ngx_devmon_ws_utf8_feed(&u,
                                       (const uint8_t *) "\xf0\x9f\x98\x80"
                                       + i, 1);
        if (i < 3 && ngx_devmon_ws_utf8_complete(&u)) {
            bad = 1;
        }
    }
    ok(bad == 0 && ngx_devmon_ws_utf8_complete(&u),
       "utf8: a 4-byte sequence fed byte by byte");

    memset(&u, 0, sizeof(u));
    ok(ngx_devmon_ws_utf8_feed(&u, S("\xed")) == 0
       && ngx_devmon_ws_utf8_feed(&u, S("\xa0")) == -1,
       "utf8: surrogate detected across a chunk boundary");
}


static void
test_base64_decode(void)
{
    size_t   n;
    uint8_t  out[32];

    ok(ngx_devmon_ws_base64_decode(out, &n, S("aGVsbG8"),
                                   NGX_DEVMON_WS_B64_STRICT) == 0
       && n == 5 && memcmp(out, "hello", 5) == 0,
       "base64: 7 characters decode to 5 bytes");

    ok(ngx_devmon_ws_base64_decode(out, &n, S("-_8"),
                                   NGX_DEVMON_WS_B64_URL) == 0
       && n == 2 && out[0] == 0xfb && out[1] == 0xff,
       "base64url: '-' and '_' are 62 and 63");

    ok(ngx_devmon_ws_base64_decode(out, &n, S("+/8"), 0) == 0
       && n == 2 && out[0] == 0xfb && out[1] == 0xff,
       "base64: '+' and '/' are 62 and 63");

    ok(ngx_devmon_ws_base64_decode(out, &n, S("+/8"), NGX_DEVMON_WS_B64_URL)
       == -1, "base64url: '+' refused");

    ok(ngx_devmon_ws_base64_decode(out, &n, S("aGVsbG8="), 0) == -1,
       "base64: padding is the caller's to strip");

    ok(ngx_devmon_ws_base64_decode(out, &n, S("aGVsb"), 0) == -1,
       "base64: a lone last character refused");

    ok(ngx_devmon_ws_base64_decode(out, &n, S("aGVsbG9"), 0) == 0
       && ngx_devmon_ws_base64_decode(out, &n, S("aGVsbG9"),
                                      NGX_DEVMON_WS_B64_STRICT) == -1,
       "base64: nonzero unused bits refused only when strict");

    ok(ngx_devmon_ws_base64_decode(out, &n, S(""), 0) == 0 && n == 0,
       "base64: empty is empty");
}


static void
test_close(void)
{
    int             rc, bad;
    size_t          i, rlen, n;
    unsigned        code;
    uint8_t         out[130], reason[200];
    const uint8_t  *r;

    static const unsigned  valid[] = {
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
        1014, 3000, 3999, 4000, 4999
    };

    static const unsigned  invalid[] = {
        0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535
    };

    bad = 0;
    for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        bad += !ngx_devmon_ws_close_code_valid(valid[i]);
    }
    ok(bad == 0, "close codes 1000-1003, 1007-1014, 3000-4999 valid");

    bad = 0;
    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        bad += ngx_devmon_ws_close_code_valid(invalid[i]);
    }
    ok(bad == 0, "close codes <1000, 1004-1006, 1015-1016, 1100-2999, "
       ">4999 invalid");

    rc = ngx_devmon_ws_parse_close(S(""), &code, &r, &rlen);
    ok(rc == 0 && code == 0 && rlen == 0, "close: empty payload is valid");

    rc = ngx_devmon_ws_parse_close(S("\x03"), &code, &r, &rlen);
    ok(rc == 1002, "close: 1-byte payload -> 1002");

    rc = ngx_devmon_ws_parse_close(S("\x03\xe8" "bye"), &code, &r, &rlen);
    ok(rc == 0 && code == 1000 && rlen == 3 && memcmp(r, "bye", 3) == 0,
       "close: 1000 with reason parsed");

    rc = ngx_devmon_ws_parse_close(S("\x03\xed"), &code, &r, &rlen);
    ok(rc == 1002, "close: code 1005 -> 1002");

    rc = ngx_devmon_ws_parse_close(S("\x03\xe8\xce\xba\xff"), &code, &r,
                                   &rlen);
    ok(rc == 1007, "close: reason not UTF-8 -> 1007");

    n = ngx_devmon_ws_close_payload(out, 4008, S("slow"));
    ok(n == 6 && out[0] == 0x0f && out[1] == 0xa8
       && memcmp(out + 2, "slow", 4) == 0, "close payload 4008 \"slow\"");

    ok(ngx_devmon_ws_close_payload(out, 0, S("x")) == 0,
       "close payload without code is empty");

    /* 122 ASCII bytes then a 2-byte character straddling the limit */
    memset(reason, 'a', 122);
    reason[122] = 0xc3;
    reason[123] = 0xa9;
    n = ngx_devmon_ws_close_payload(out, 1000, reason, 124);
    ok(n == 124 && ngx_devmon_ws_utf8_valid(out + 2, n - 2),
       "close payload reason cut to 123 bytes on a UTF-8 boundary");
}


static void
test_encode(void)
{
    uint8_t  h[10];

    ok(ngx_devmon_ws_encode_header(h, NGX_DEVMON_WS_OP_TEXT, 0) == 2
       && h[0] == 0x81 && h[1] == 0, "encode: empty text frame");
    ok(ngx_devmon_ws_encode_header(h, NGX_DEVMON_WS_OP_TEXT, 125) == 2
       && h[1] == 125, "encode: 125 bytes, 7-bit length");
    ok(ngx_devmon_ws_encode_header(h, NGX_DEVMON_WS_OP_BINARY, 126) == 4
       && h[0] == 0x82 && h[1] == 126 && h[2] == 0 && h[3] == 126,
       "encode: 126 bytes, 16-bit length");
    ok(ngx_devmon_ws_encode_header(h, NGX_DEVMON_WS_OP_TEXT, 65535) == 4
       && h[2] == 0xff && h[3] == 0xff, "encode: 65535 bytes, 16-bit");
    ok(ngx_devmon_ws_encode_header(h, NGX_DEVMON_WS_OP_TEXT, 65536) == 10
       && h[1] == 127 && h[7] == 1 && h[8] == 0 && h[9] == 0,
       "encode: 65536 bytes, 64-bit length");
    ok(ngx_devmon_ws_header_size(125) == 2
       && ngx_devmon_ws_header_size(126) == 4
       && ngx_devmon_ws_header_size(70000) == 10, "header sizes");
}


static void
test_reader(void)
{
    int                     n, i, same;
    size_t                  len, step;
    uint8_t                 buf[80000];
    event_t                 ev[16], ev2[16];
    ngx_devmon_ws_reader_t  rd;
    static uint8_t          big[70000];

    memset(&rd, 0, sizeof(rd));
    len = frame(buf, 0x81, "Hello", 5, mask_a, 0);
    n = run(&rd, buf, len, len, ev, 16);
    ok(n == 1 && ev[0].rc == NGX_DEVMON_WS_DATA && ev[0].first && ev[0].last
       && ev[0].opcode == NGX_DEVMON_WS_OP_TEXT && ev[0].len == 5
       && memcmp(ev[0].data, "Hello", 5) == 0,
       "reader: masked text frame unmasked");

    len = frame(buf, 0x81, "Hello", 5, NULL, 0);
    ok(first_error(buf, len, 0) == 1002, "reader: unmasked frame -> 1002");

    len = frame(buf, 0xc1, "Hello", 5, mask_a, 0);
    ok(first_error(buf, len, 0) == 1002, "reader: RSV1 set -> 1002");

    len = frame(buf, 0x91, "Hello", 5, mask_a, 0);
    ok(first_error(buf, len, 0) == 1002, "reader: RSV3 set -> 1002");

    len = frame(buf, 0x83, "x", 1, mask_a, 0);
    ok(first_error(buf, len, 0) == 1002, "reader: opcode 3 -> 1002");

    len = frame(buf, 0x8b, "", 0, mask_a, 0);
    ok(first_error(buf, len, 0) == 1002, "reader: opcode 0xB -> 1002");

    len = frame(buf, 0x80, "x", 1, mask_a, 0);
    ok(first_error(buf, len, 0) == 1002,
       "reader: continuation without a message -> 1002");

    len = frame(buf, 0x01, "ab", 2, mask_a, 0);
    len += frame(buf + len, 0x81, "cd", 2, mask_a, 0);
    ok(first_error(buf, len, 0) == 1002,
       "reader: new text frame inside a fragmented message -> 1002");

    len = frame(buf, 0x09, "", 0, mask_a, 0);
    ok(first_error(buf, len, 0) == 1002,
       "reader: fragmented ping -> 1002");

    memset(big, 'p', 126);
    len = frame(buf, 0x89, big, 126, mask_a, 0);
    ok(first_error(buf, len, 0) == 1002,
       "reader: ping with 126 bytes -> 1002");

    len = frame(buf, 0x81, "abc", 3, mask_a, 16);
    ok(first_error(buf, len, 0) == 1002,
       "reader: 16-bit length for 3 bytes (not minimal) -> 1002");

    memset(big, 'a', 200);
    len = frame(buf, 0x81, big, 200, mask_a, 64);
    ok(first_error(buf, len, 0) == 1002,
       "reader: 64-bit length for 200 bytes (not minimal) -> 1002");

    len = frame(buf, 0x82, "", 0, mask_a, 64);
    buf[2] = 0x80;
    buf[8] = 0x01;
    ok(first_error(buf, len, 0) == 1002,
       "reader: 64-bit length with the top bit set -> 1002");

    len = frame(buf, 0x81, "01234567890", 11, mask_a, 0);
    ok(first_error(buf, len, 10) == 1009,
       "reader: frame above max_message -> 1009");

    len = frame(buf, 0x01, "012345", 6, mask_a, 0);
    len += frame(buf + len, 0x80, "012345", 6, mask_a, 0);
    ok(first_error(buf, len, 10) == 1009,
       "reader: fragments adding up above max_message -> 1009");

    len = frame(buf, 0x01, "01234", 5, mask_a, 0);
    len += frame(buf + len, 0x80, "56789", 5, mask_a, 0);
    len += frame(buf + len, 0x81, "0123456789", 10, mask_a, 0);
    memset(&rd, 0, sizeof(rd));
    rd.max_message = 10;
    n = run(&rd, buf, len, len, ev, 16);
    ok(n == 2 && ev[0].last && ev[0].len == 10 && ev[1].len == 10,
       "reader: messages of exactly max_message pass, counter resets");

    /* fragmented text with a ping in the middle */
    len = frame(buf, 0x01, "Hel", 3, mask_a, 0);
    len += frame(buf + len, 0x89, "pi", 2, mask_a, 0);
    len += frame(buf + len, 0x00, "", 0, mask_a, 0);
    len += frame(buf + len, 0x80, "lo", 2, mask_a, 0);
    memset(&rd, 0, sizeof(rd));
    n = run(&rd, buf, len, len, ev, 16);
    ok(n == 3 && ev[0].rc == NGX_DEVMON_WS_DATA && ev[0].first
       && !ev[0].last && ev[0].len == 3
       && ev[1].rc == NGX_DEVMON_WS_CONTROL
       && ev[1].opcode == NGX_DEVMON_WS_OP_PING && ev[1].len == 2
       && memcmp(ev[1].data, "pi", 2) == 0
       && ev[2].rc == NGX_DEVMON_WS_DATA && !ev[2].first && ev[2].last
       && ev[2].len == 2 && memcmp(ev[2].data, "lo", 2) == 0,
       "reader: ping interleaved in a fragmented message");

    /* the same stream byte by byte, and in 3-byte steps */
    for (step = 1; step <= 3; step += 2) {
        memset(&rd, 0, sizeof(rd));
        len = frame(buf, 0x01, "Hel", 3, mask_a, 0);
        len += frame(buf + len, 0x89, "pi", 2, mask_a, 0);
        len += frame(buf + len, 0x00, "", 0, mask_a, 0);
        len += frame(buf + len, 0x80, "lo", 2, mask_a, 0);
        len += frame(buf + len, 0x81, "\xce\xba", 2, mask_a, 0);
        n = run(&rd, buf, len, step, ev2, 16);
        same = n == 4 && ev2[0].len == 3 && ev2[0].first && !ev2[0].last
               && memcmp(ev2[0].data, "Hel", 3) == 0
               && ev2[1].opcode == NGX_DEVMON_WS_OP_PING
               && ev2[2].len == 2 && !ev2[2].first && ev2[2].last
               && memcmp(ev2[2].data, "lo", 2) == 0
               && ev2[3].len == 2 && ev2[3].first && ev2[3].last
               && memcmp(ev2[3].data, "\xce\xba", 2) == 0;
        ok(same, step == 1 ? "reader: fed byte by byte"
                           : "reader: fed 3 bytes at a time");
    }

    len = frame(buf, 0x01, "\xce", 1, mask_a, 0);
    len += frame(buf + len, 0x80, "\xba!", 2, mask_a, 0);
    memset(&rd, 0, sizeof(rd));
    n = run(&rd, buf, len, len, ev, 16);
    ok(n == 1 && ev[0].rc == NGX_DEVMON_WS_DATA && ev[0].last
       && ev[0].len == 3,
       "reader: UTF-8 character split across fragments is valid");

    len = frame(buf, 0x01, "ok", 2, mask_a, 0);
    len += frame(buf + len, 0x00, "\xe1\xbd", 2, mask_a, 0);
    ok(first_error(buf, len, 0) == NGX_DEVMON_WS_DATA,
       "reader: open sequence at a fragment end is not yet an error");

    len += frame(buf + len, 0x80, "", 0, mask_a, 0);
    ok(first_error(buf, len, 0) == 1007,
       "reader: message ending in mid-sequence -> 1007");

    /* fail fast: the error comes before the rest of the frame arrives */
    len = frame(buf, 0x81, "ab\xc0\xaf" "cdefgh", 10, mask_a, 0);
    memset(&rd, 0, sizeof(rd));
    n = run(&rd, buf, 2 + 4 + 4, 100, ev, 16);
    ok(n >= 1 && ev[n - 1].rc == 1007,
       "reader: invalid UTF-8 -> 1007 before the frame is complete");

    len = frame(buf, 0x82, "\xff\xfe", 2, mask_a, 0);
    memset(&rd, 0, sizeof(rd));
    n = run(&rd, buf, len, len, ev, 16);
    ok(n == 1 && ev[0].opcode == NGX_DEVMON_WS_OP_BINARY && ev[0].len == 2,
       "reader: binary frame is not UTF-8 checked");

    len = frame(buf, 0x81, "", 0, mask_a, 0);
    memset(&rd, 0, sizeof(rd));
    n = run(&rd, buf, len, len, ev, 16);
    ok(n == 1 && ev[0].rc == NGX_DEVMON_WS_DATA && ev[0].len == 0
       && ev[0].first && ev[0].last, "reader: empty text message reported");

    len = frame(buf, 0x88, "\x03", 1, mask_a, 0);
    ok(first_error(buf, len, 0) == 1002,
       "reader: close with a 1-byte payload -> 1002");

    len = frame(buf, 0x88, "\x03\xee", 2, mask_a, 0);
    ok(first_error(buf, len, 0) == 1002,
       "reader: close with code 1006 -> 1002");

    len = frame(buf, 0x88, "\x0b\xb8" "\xc0", 3, mask_a, 0);
    ok(first_error(buf, len, 0) == 1007,
       "reader: close reason not UTF-8 -> 1007");

    len = frame(buf, 0x88, "\x03\xe8" "done", 6, mask_a, 0);
    memset(&rd, 0, sizeof(rd));
    n = run(&rd, buf, len, len, ev, 16);
    ok(n == 1 && ev[0].rc == NGX_DEVMON_WS_CONTROL
       && ev[0].opcode == NGX_DEVMON_WS_OP_CLOSE && ev[0].len == 6
       && memcmp(ev[0].data + 2, "done", 4) == 0,
       "reader: valid close frame reported");

    len = frame(buf, 0x8a, "", 0, mask_a, 0);
    memset(&rd, 0, sizeof(rd));
    n = run(&rd, buf, len, len, ev, 16);
    ok(n == 1 && ev[0].opcode == NGX_DEVMON_WS_OP_PONG && ev[0].len == 0,
       "reader: empty pong reported");

    memset(big, 'z', sizeof(big));
    len = frame(buf, 0x81, big, sizeof(big), mask_a, 0);
    memset(&rd, 0, sizeof(rd));
    n = run(&rd, buf, len, 4096, ev, 16);
    same = n == 1 && ev[0].len == sizeof(big) && ev[0].last;
    for (i = 0; same && i < 256; i++) {
        same = ev[0].data[i] == 'z';
    }
    ok(same, "reader: 70000-byte frame (64-bit length) in 4 KiB reads");
}


int
main(void)
{
    test_sha1_accept();
    test_key();
    test_tokens();
    test_utf8();
    test_base64_decode();
    test_close();
    test_encode();
    test_reader();

    /* the plan comes last: TAP allows it, and it cannot go stale */
    printf("1..%d\n", test_n);

    if (test_failed) {
        printf("# %d of %d failed\n", test_failed, test_n);
    }

    return test_failed ? 1 : 0;
}
