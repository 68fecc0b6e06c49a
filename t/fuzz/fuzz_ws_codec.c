/* libFuzzer target: arbitrary bytes through the WebSocket codec. */

/*
 * Copyright (C) devmon authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_devmon_ws_codec.h"


/*
 * Besides "does not crash", the target checks that the reader gives the
 * same verdict and the same payload bytes however the input is split:
 * that is what a network does to a stream.
 */

typedef struct {
    int                          rc;
    size_t                       events;
    size_t                       bytes;
    uint32_t                     sum;
} outcome_t;


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
feed(const uint8_t *data, size_t size, size_t step, uint64_t max,
    outcome_t *out)
{
    int                     rc;
    size_t                  pos, end, used, i;
    uint8_t                *buf;
    ngx_devmon_ws_chunk_t   ch;
    ngx_devmon_ws_reader_t  rd;

    memset(out, 0, sizeof(outcome_t));
    memset(&rd, 0, sizeof(rd));
    rd.max_message = max;

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        abort();
    }

    memcpy(buf, data, size);
    pos = 0;

    while (pos < size) {
        end = pos + step < size ? pos + step : size;

        while (pos < end) {
            rc = ngx_devmon_ws_read(&rd, buf + pos, end - pos, &used, &ch);

            if (used > end - pos) {
                abort();
            }

            pos += used;

            if (rc == NGX_DEVMON_WS_AGAIN) {
                if (pos != end) {
                    abort();
                }
                break;
            }

            if (rc >= 1000) {
                if (rc != 1002 && rc != 1007 && rc != 1009) {
                    abort();
                }
                out->rc = rc;
                free(buf);
                return;
            }

            if (rc == NGX_DEVMON_WS_CONTROL) {
                if (ch.len > NGX_DEVMON_WS_MAX_CONTROL
                    || !(ch.opcode & 0x8))
                {
                    abort();
                }

            } else if (rc == NGX_DEVMON_WS_DATA) {
                if (ch.len && (ch.data < buf || ch.data + ch.len > buf + pos))
                {
                    abort();
                }

                if (ch.opcode != NGX_DEVMON_WS_OP_TEXT
                    && ch.opcode != NGX_DEVMON_WS_OP_BINARY)
                {
                    abort();
                }

            } else {
                abort();
            }

            out->events += ch.last;
            out->bytes += ch.len;

            for (i = 0; i < ch.len; i++) {
                out->sum = out->sum * 31 + ch.data[i];
            }
        }
    }

    free(buf);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          step, len, n;
    unsigned        code;
    uint64_t        max;
    uint8_t         acc[NGX_DEVMON_WS_ACCEPT_LEN], hdr[10], close[125];
    uint8_t        *b64, *enc;
    outcome_t       whole, split;
    const uint8_t  *pos, *tok, *reason;

    if (size < 2) {
        return 0;
    }

    /* two leading bytes choose how to split the stream and the limit */
    step = (data[0] & 0x1f) + 1;
    max = (data[1] & 0x80) ? 0 : (uint64_t) (data[1] & 0x7f) * 16;
    data += 2;
    size -= 2;

    feed(data, size, size ? size : 1, max, &whole);
    feed(data, size, step, max, &split);

    /*
     * The verdict must not depend on the split; without an error the
     * payload bytes must agree too (with one, a split stream may have
     * reported a valid prefix that the whole one never did).
     */
    if (whole.rc != split.rc) {
        abort();
    }

    if (whole.rc == 0
        && (whole.bytes != split.bytes || whole.sum != split.sum
            || whole.events != split.events))
    {
        abort();
    }

    /* the same bytes as UTF-8, close payload, header values */
    (void) ngx_devmon_ws_utf8_valid(data, size);

    if (ngx_devmon_ws_parse_close(data, size, &code, &reason, &len) == 0) {
        if (code && !ngx_devmon_ws_close_code_valid(code)) {
            abort();
        }

        n = ngx_devmon_ws_close_payload(close, code, reason, len);
        if (n > NGX_DEVMON_WS_MAX_CONTROL
            || ngx_devmon_ws_parse_close(close, n, &code, &reason, &len)
               != 0)
        {
            abort();
        }
    }

    if (ngx_devmon_ws_key_valid(data, size)) {
        ngx_devmon_ws_accept(data, size, acc);
    }

    (void) ngx_devmon_ws_token_find(data, size, "upgrade");

    pos = data;
    n = 0;
    while (ngx_devmon_ws_token_next(&pos, data + size, &tok, &len)) {
        if (len == 0 || tok < data || tok + len > data + size || ++n > size)
        {
            abort();
        }
    }

    /* base64: what decodes strictly encodes back to the same text */
    b64 = malloc(size / 4 * 3 + 2 + size + 8);

    if (b64 != NULL) {
        (void) ngx_devmon_ws_base64_decode(b64, &n, data, size,
                                           NGX_DEVMON_WS_B64_URL);

        if (ngx_devmon_ws_base64_decode(b64, &n, data, size,
                                        NGX_DEVMON_WS_B64_STRICT)
            == 0)
        {
            if (n != size * 3 / 4) {
                abort();
            }

            enc = b64 + size / 4 * 3 + 2;
            len = ngx_devmon_ws_base64(enc, b64, n);

            while (len && enc[len - 1] == '=') {
                len--;
            }

            if (len != size || memcmp(enc, data, size) != 0) {
                abort();
            }
        }

        free(b64);
    }

    if (ngx_devmon_ws_encode_header(hdr, NGX_DEVMON_WS_OP_TEXT, size)
        != ngx_devmon_ws_header_size(size))
    {
        abort();
    }

    return 0;
}
