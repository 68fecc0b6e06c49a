/* RFC 6455 frame codec and handshake helpers, pure C (no nginx headers). */

/*
 * Copyright (C) devmon authors
 */


#include <string.h>

#include "ngx_devmon_ws_codec.h"


#define NGX_DEVMON_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#define ngx_devmon_ws_is_control(op)  ((op) & 0x8)


static int ngx_devmon_ws_read_header(ngx_devmon_ws_reader_t *rd,
    const uint8_t *buf, size_t len, size_t *used);
static int ngx_devmon_ws_check_start(ngx_devmon_ws_reader_t *rd);
static int ngx_devmon_ws_check_header(ngx_devmon_ws_reader_t *rd);
static void ngx_devmon_ws_sha1_block(uint32_t h[5], const uint8_t *p);


static const char  ngx_devmon_ws_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


int
ngx_devmon_ws_read(ngx_devmon_ws_reader_t *rd, uint8_t *buf, size_t len,
    size_t *used, ngx_devmon_ws_chunk_t *ch)
{
    int       rc;
    size_t    pos, n;
    unsigned  code;

    const uint8_t  *reason;

    pos = 0;

    for ( ;; ) {

        if (!rd->in_payload) {
            if (pos == len) {
                *used = pos;
                return NGX_DEVMON_WS_AGAIN;
            }

            rc = ngx_devmon_ws_read_header(rd, buf + pos, len - pos, &n);
            pos += n;

            if (rc == NGX_DEVMON_WS_AGAIN) {
                continue;
            }

            if (rc != 0) {
                *used = pos;
                return rc;
            }

            /* rd->in_payload is set: fall through, even for 0 bytes */
        }

        n = len - pos;
        if ((uint64_t) n > rd->frame_left) {
            n = (size_t) rd->frame_left;
        }

        ngx_devmon_ws_unmask(buf + pos, n, rd->mask, rd->mask_pos);
        rd->mask_pos = (rd->mask_pos + n) & 3;
        rd->frame_left -= n;

        if (ngx_devmon_ws_is_control(rd->opcode)) {
            memcpy(rd->ctl + rd->ctl_len, buf + pos, n);
            rd->ctl_len += n;
            pos += n;

            if (rd->frame_left) {
                *used = pos;
                return NGX_DEVMON_WS_AGAIN;
            }

            rd->in_payload = 0;
            *used = pos;

            if (rd->opcode == NGX_DEVMON_WS_OP_CLOSE) {
                rc = ngx_devmon_ws_parse_close(rd->ctl, rd->ctl_len, &code,
                                               &reason, &n);
                if (rc != 0) {
                    return rc;
                }
            }

            ch->opcode = rd->opcode;
            ch->data = rd->ctl;
            ch->len = rd->ctl_len;
            ch->first = 1;
            ch->last = 1;

            return NGX_DEVMON_WS_CONTROL;
        }

        /* data frame: the payload is reported in place */

        if (rd->msg_opcode == NGX_DEVMON_WS_OP_TEXT
            && ngx_devmon_ws_utf8_feed(&rd->utf8, buf + pos, n) != 0)
        {
            *used = pos + n;
            return NGX_DEVMON_WS_CLOSE_BAD_DATA;
        }

        ch->opcode = rd->msg_opcode;
        ch->data = buf + pos;
        ch->len = n;
        ch->first = !rd->msg_started;
        ch->last = 0;

        pos += n;

        if (rd->frame_left == 0) {
            rd->in_payload = 0;

            if (rd->fin) {
                if (rd->msg_opcode == NGX_DEVMON_WS_OP_TEXT
                    && !ngx_devmon_ws_utf8_complete(&rd->utf8))
                {
                    *used = pos;
                    return NGX_DEVMON_WS_CLOSE_BAD_DATA;
                }

                ch->last = 1;
                rd->msg_opcode = 0;
                rd->msg_started = 0;
                rd->msg_len = 0;
            }
        }

        if (n == 0 && !ch->last) {
            if (rd->in_payload) {
                /* pos == len: the rest of the payload is still to come */
                *used = pos;
                return NGX_DEVMON_WS_AGAIN;
            }

            /* an empty fragment: nothing to tell */
            continue;
        }

        if (!ch->last) {
            rd->msg_started = 1;
        }

        *used = pos;
        return NGX_DEVMON_WS_DATA;
    }
}


static int
ngx_devmon_ws_read_header(ngx_devmon_ws_reader_t *rd, const uint8_t *buf,
    size_t len, size_t *used)
{
    int     rc;
    size_t  n;

    if (rd->hdr_need == 0) {
        rd->hdr_need = 2;
    }

    n = 0;

    while (n < len && rd->hdr_len < rd->hdr_need) {
        rd->hdr[rd->hdr_len++] = buf[n++];

        if (rd->hdr_len == 2) {
            /* fail as early as the first two bytes allow */
            rc = ngx_devmon_ws_check_start(rd);
            if (rc != 0) {
                *used = n;
                return rc;
            }
        }
    }

    *used = n;

    if (rd->hdr_len < rd->hdr_need) {
        return NGX_DEVMON_WS_AGAIN;
    }

    return ngx_devmon_ws_check_header(rd);
}


static int
ngx_devmon_ws_check_start(ngx_devmon_ws_reader_t *rd)
{
    unsigned  fin, opcode, len7;

    fin = rd->hdr[0] >> 7;
    opcode = rd->hdr[0] & 0x0f;
    len7 = rd->hdr[1] & 0x7f;

    /* no extension is ever negotiated, so the RSV bits must be 0 */
    if (rd->hdr[0] & 0x70) {
        return NGX_DEVMON_WS_CLOSE_PROTOCOL;
    }

    /* RFC 6455 5.1: a server must fail on an unmasked client frame */
    if (!(rd->hdr[1] & 0x80)) {
        return NGX_DEVMON_WS_CLOSE_PROTOCOL;
    }

    switch (opcode) {

    case NGX_DEVMON_WS_OP_CONT:
        if (rd->msg_opcode == 0) {
            return NGX_DEVMON_WS_CLOSE_PROTOCOL;
        }
        break;

    case NGX_DEVMON_WS_OP_TEXT:
    case NGX_DEVMON_WS_OP_BINARY:
        if (rd->msg_opcode != 0) {
            return NGX_DEVMON_WS_CLOSE_PROTOCOL;
        }
        break;

    case NGX_DEVMON_WS_OP_CLOSE:
    case NGX_DEVMON_WS_OP_PING:
    case NGX_DEVMON_WS_OP_PONG:
        if (!fin || len7 > NGX_DEVMON_WS_MAX_CONTROL) {
            return NGX_DEVMON_WS_CLOSE_PROTOCOL;
        }
        break;

    default:
        return NGX_DEVMON_WS_CLOSE_PROTOCOL;
    }

    rd->hdr_need = 2 + 4;

    if (len7 == 126) {
        rd->hdr_need += 2;

    } else if (len7 == 127) {
        rd->hdr_need += 8;
    }

    return 0;
}


static int
ngx_devmon_ws_check_header(ngx_devmon_ws_reader_t *rd)
{
    size_t    i, m;
    unsigned  opcode, len7;
    uint64_t  len;

    opcode = rd->hdr[0] & 0x0f;
    len7 = rd->hdr[1] & 0x7f;
    m = 2;

    if (len7 == 126) {
        len = ((uint64_t) rd->hdr[2] << 8) | rd->hdr[3];
        m = 4;

        if (len < 126) {
            return NGX_DEVMON_WS_CLOSE_PROTOCOL;
        }

    } else if (len7 == 127) {
        len = 0;
        for (i = 2; i < 10; i++) {
            len = (len << 8) | rd->hdr[i];
        }
        m = 10;

        if ((len >> 63) || len <= 0xffff) {
            return NGX_DEVMON_WS_CLOSE_PROTOCOL;
        }

    } else {
        len = len7;
    }

    if (!ngx_devmon_ws_is_control(opcode)) {
        if (opcode != NGX_DEVMON_WS_OP_CONT) {
            rd->msg_opcode = opcode;
            rd->msg_started = 0;
            rd->msg_len = 0;
            memset(&rd->utf8, 0, sizeof(ngx_devmon_ws_utf8_t));
        }

        /* refuse before a single payload byte is buffered */
        if (rd->max_message && len > rd->max_message - rd->msg_len) {
            return NGX_DEVMON_WS_CLOSE_TOO_BIG;
        }

        rd->msg_len += len;

    } else {
        rd->ctl_len = 0;
    }

    memcpy(rd->mask, rd->hdr + m, 4);
    rd->mask_pos = 0;
    rd->fin = rd->hdr[0] >> 7;
    rd->opcode = opcode;
    rd->frame_left = len;
    rd->in_payload = 1;
    rd->hdr_len = 0;
    rd->hdr_need = 0;

    return 0;
}


void
ngx_devmon_ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4],
    unsigned pos)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        p[i] ^= mask[(pos + i) & 3];
    }
}


int
ngx_devmon_ws_utf8_feed(ngx_devmon_ws_utf8_t *u, const uint8_t *p,
    size_t len)
{
    uint8_t         c;
    uint64_t        w;
    const uint8_t  *last;

    last = p + len;

    while (p < last) {

        if (u->need == 0) {
            /* ASCII runs are the common case: skip them 8 bytes at a time */
            while (last - p >= 8) {
                memcpy(&w, p, 8);
                if (w & 0x8080808080808080ULL) {
                    break;
                }
                p += 8;
            }

            if (p == last) {
                break;
            }
        }

        c = *p++;

        if (u->need) {
            if (c < u->lo || c > u->hi) {
                return -1;
            }

            u->need--;
            u->lo = 0x80;
            u->hi = 0xbf;
            continue;
        }

        if (c < 0x80) {
            continue;
        }

        /*
         * The ranges of the second byte exclude overlong forms (E0, F0),
         * UTF-16 surrogates (ED) and code points above U+10FFFF (F4).
         */

        if (c < 0xc2) {
            return -1;
        }

        u->lo = 0x80;
        u->hi = 0xbf;

        if (c < 0xe0) {
            u->need = 1;

        } else if (c < 0xf0) {
            u->need = 2;

            if (c == 0xe0) {
                u->lo = 0xa0;

            } else if (c == 0xed) {
                u->hi = 0x9f;
            }

        } else if (c < 0xf5) {
            u->need = 3;

            if (c == 0xf0) {
                u->lo = 0x90;

            } else if (c == 0xf4) {
                u->hi = 0x8f;
            }

        } else {
            return -1;
        }
    }

    return 0;
}


int
ngx_devmon_ws_utf8_valid(const uint8_t *p, size_t len)
{
    ngx_devmon_ws_utf8_t  u;

    memset(&u, 0, sizeof(ngx_devmon_ws_utf8_t));

    return ngx_devmon_ws_utf8_feed(&u, p, len) == 0
           && ngx_devmon_ws_utf8_complete(&u);
}


int
ngx_devmon_ws_close_code_valid(unsigned code)
{
    if (code >= 1000 && code <= 1003) {
        return 1;
    }

    /* 1012-1014 are IANA-registered (restart, try again, bad gateway) */
    if (code >= 1007 && code <= 1014) {
        return 1;
    }

    return code >= 3000 && code <= 4999;
}


int
ngx_devmon_ws_parse_close(const uint8_t *p, size_t len, unsigned *code,
    const uint8_t **reason, size_t *reason_len)
{
    *code = 0;
    *reason = p;
    *reason_len = 0;

    if (len == 0) {
        return 0;
    }

    if (len == 1 || len > NGX_DEVMON_WS_MAX_CONTROL) {
        return NGX_DEVMON_WS_CLOSE_PROTOCOL;
    }

    *code = ((unsigned) p[0] << 8) | p[1];

    if (!ngx_devmon_ws_close_code_valid(*code)) {
        return NGX_DEVMON_WS_CLOSE_PROTOCOL;
    }

    if (!ngx_devmon_ws_utf8_valid(p + 2, len - 2)) {
        return NGX_DEVMON_WS_CLOSE_BAD_DATA;
    }

    *reason = p + 2;
    *reason_len = len - 2;

    return 0;
}


size_t
ngx_devmon_ws_close_payload(uint8_t *out, unsigned code,
    const uint8_t *reason, size_t reason_len)
{
    if (code == 0) {
        return 0;
    }

    if (reason_len > NGX_DEVMON_WS_MAX_CONTROL - 2) {
        reason_len = NGX_DEVMON_WS_MAX_CONTROL - 2;

        /* never cut a UTF-8 sequence: the peer would fail with 1007 */
        while (reason_len && (reason[reason_len] & 0xc0) == 0x80) {
            reason_len--;
        }
    }

    out[0] = (uint8_t) (code >> 8);
    out[1] = (uint8_t) code;

    if (reason_len) {
        memcpy(out + 2, reason, reason_len);
    }

    return 2 + reason_len;
}


size_t
ngx_devmon_ws_header_size(uint64_t len)
{
    if (len < 126) {
        return 2;
    }

    if (len <= 0xffff) {
        return 4;
    }

    return 10;
}


size_t
ngx_devmon_ws_encode_header(uint8_t *out, unsigned opcode, uint64_t len)
{
    size_t  i, n;

    out[0] = (uint8_t) (0x80 | (opcode & 0x0f));

    if (len < 126) {
        out[1] = (uint8_t) len;
        return 2;
    }

    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t) (len >> 8);
        out[3] = (uint8_t) len;
        return 4;
    }

    out[1] = 127;
    n = 10;

    for (i = 9; i >= 2; i--) {
        out[i] = (uint8_t) len;
        len >>= 8;
    }

    return n;
}


int
ngx_devmon_ws_base64_value(uint8_t c, unsigned url)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == (url ? '-' : '+')) {
        return 62;
    }

    if (c == (url ? '_' : '/')) {
        return 63;
    }

    return -1;
}


int
ngx_devmon_ws_base64_decode(uint8_t *out, size_t *out_len, const uint8_t *in,
    size_t len, unsigned flags)
{
    int       v;
    size_t    i, n;
    uint32_t  acc, bits;

    /* a lone last character carries 6 bits: not even one byte */
    if (len % 4 == 1) {
        return -1;
    }

    n = 0;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        v = ngx_devmon_ws_base64_value(in[i], flags & NGX_DEVMON_WS_B64_URL);
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    if ((flags & NGX_DEVMON_WS_B64_STRICT) && acc != 0) {
        return -1;
    }

    *out_len = n;

    return 0;
}


int
ngx_devmon_ws_key_valid(const uint8_t *key, size_t len)
{
    size_t   n;
    uint8_t  raw[18];

    /* 16 bytes encode to 22 characters and "==" */

    if (len != NGX_DEVMON_WS_KEY_LEN || key[22] != '=' || key[23] != '=') {
        return 0;
    }

    /*
     * Nonzero pad bits in key[21] still decode to 16 bytes: accepted, the
     * key is only echoed back hashed.
     */

    return ngx_devmon_ws_base64_decode(raw, &n, key, 22, 0) == 0 && n == 16;
}


size_t
ngx_devmon_ws_base64(uint8_t *out, const uint8_t *in, size_t len)
{
    size_t    i, n;
    uint32_t  v;

    n = 0;

    for (i = 0; i + 2 < len; i += 3) {
        v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8) | in[i + 2];
        out[n++] = ngx_devmon_ws_b64[v >> 18];
        out[n++] = ngx_devmon_ws_b64[(v >> 12) & 0x3f];
        out[n++] = ngx_devmon_ws_b64[(v >> 6) & 0x3f];
        out[n++] = ngx_devmon_ws_b64[v & 0x3f];
    }

    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[n++] = ngx_devmon_ws_b64[v >> 18];
        out[n++] = ngx_devmon_ws_b64[(v >> 12) & 0x3f];
        out[n++] = '=';
        out[n++] = '=';

    } else if (len - i == 2) {
        v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8);
        out[n++] = ngx_devmon_ws_b64[v >> 18];
        out[n++] = ngx_devmon_ws_b64[(v >> 12) & 0x3f];
        out[n++] = ngx_devmon_ws_b64[(v >> 6) & 0x3f];
        out[n++] = '=';
    }

    return n;
}


void
ngx_devmon_ws_accept(const uint8_t *key, size_t len,
    uint8_t out[NGX_DEVMON_WS_ACCEPT_LEN])
{
    uint8_t  buf[NGX_DEVMON_WS_KEY_LEN + sizeof(NGX_DEVMON_WS_GUID) - 1];
    uint8_t  digest[20];

    /* the key was checked by ngx_devmon_ws_key_valid(): 24 bytes */
    if (len > NGX_DEVMON_WS_KEY_LEN) {
        len = NGX_DEVMON_WS_KEY_LEN;
    }

    memcpy(buf, key, len);
    memcpy(buf + len, NGX_DEVMON_WS_GUID, sizeof(NGX_DEVMON_WS_GUID) - 1);

    ngx_devmon_ws_sha1(buf, len + sizeof(NGX_DEVMON_WS_GUID) - 1, digest);
    (void) ngx_devmon_ws_base64(out, digest, 20);
}


/*
 * SHA-1 (FIPS 180-4) for Sec-WebSocket-Accept only: the handshake needs
 * it, and keeping it here leaves the codec free of library dependencies.
 */

#define ngx_devmon_ws_rol(x, n)  (((x) << (n)) | ((x) >> (32 - (n))))


static void
ngx_devmon_ws_sha1_block(uint32_t h[5], const uint8_t *p)
{
    size_t    i;
    uint32_t  w[80], a, b, c, d, e, f, k, t;

    for (i = 0; i < 16; i++) {
        w[i] = ((uint32_t) p[4 * i] << 24) | ((uint32_t) p[4 * i + 1] << 16)
               | ((uint32_t) p[4 * i + 2] << 8) | p[4 * i + 3];
    }

    for (i = 16; i < 80; i++) {
        t = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
        w[i] = ngx_devmon_ws_rol(t, 1);
    }

    a = h[0];
    b = h[1];
    c = h[2];
    d = h[3];
    e = h[4];

    for (i = 0; i < 80; i++) {
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;

        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;

        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;

        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }

        t = ngx_devmon_ws_rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = ngx_devmon_ws_rol(b, 30);
        b = a;
        a = t;
    }

    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}


void
ngx_devmon_ws_sha1(const uint8_t *p, size_t len, uint8_t digest[20])
{
    size_t    i, n;
    uint8_t   block[64];
    uint32_t  h[5];
    uint64_t  bits;

    h[0] = 0x67452301;
    h[1] = 0xefcdab89;
    h[2] = 0x98badcfe;
    h[3] = 0x10325476;
    h[4] = 0xc3d2e1f0;

    bits = (uint64_t) len * 8;

    for (i = 0; i + 64 <= len; i += 64) {
        ngx_devmon_ws_sha1_block(h, p + i);
    }

    n = len - i;
    memcpy(block, p + i, n);
    block[n++] = 0x80;

    if (n > 56) {
        memset(block + n, 0, 64 - n);
        ngx_devmon_ws_sha1_block(h, block);
        n = 0;
    }

    memset(block + n, 0, 56 - n);

    for (i = 0; i < 8; i++) {
        block[63 - i] = (uint8_t) (bits >> (8 * i));
    }

    ngx_devmon_ws_sha1_block(h, block);

    for (i = 0; i < 5; i++) {
        digest[4 * i] = (uint8_t) (h[i] >> 24);
        digest[4 * i + 1] = (uint8_t) (h[i] >> 16);
        digest[4 * i + 2] = (uint8_t) (h[i] >> 8);
        digest[4 * i + 3] = (uint8_t) h[i];
    }
}


int
ngx_devmon_ws_token_next(const uint8_t **pos, const uint8_t *last,
    const uint8_t **token, size_t *token_len)
{
    const uint8_t  *p, *start, *end;

    p = *pos;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        end = p;

        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        if (end > start) {
            *pos = p;
            *token = start;
            *token_len = end - start;
            return 1;
        }
    }

    *pos = last;

    return 0;
}


int
ngx_devmon_ws_token_find(const uint8_t *list, size_t len, const char *token)
{
    size_t          i, n, tlen;
    uint8_t         a, b;
    const uint8_t  *pos, *t;

    tlen = strlen(token);
    pos = list;

    while (ngx_devmon_ws_token_next(&pos, list + len, &t, &n)) {

        if (n != tlen) {
            continue;
        }

        for (i = 0; i < n; i++) {
            a = t[i];
            b = (uint8_t) token[i];

            if (a >= 'A' && a <= 'Z') {
                a |= 0x20;
            }

            if (b >= 'A' && b <= 'Z') {
                b |= 0x20;
            }

            if (a != b) {
                break;
            }
        }

        if (i == n) {
            return 1;
        }
    }

    return 0;
}
