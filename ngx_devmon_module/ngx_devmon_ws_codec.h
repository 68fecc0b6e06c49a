/* RFC 6455 frame codec and handshake helpers, pure C (no nginx headers). */

/*
 * Copyright (C) devmon authors
 */


#ifndef _NGX_DEVMON_WS_CODEC_H_INCLUDED_
#define _NGX_DEVMON_WS_CODEC_H_INCLUDED_


/*
 * Everything here works on caller-owned memory, never allocates and keeps
 * no hidden state, so that it can be unit-tested and fuzzed without nginx
 * (t/unit/test_ws_codec.c, t/fuzz/fuzz_ws_codec.c).
 */

#include <stddef.h>
#include <stdint.h>


#define NGX_DEVMON_WS_OP_CONT        0x0
#define NGX_DEVMON_WS_OP_TEXT        0x1
#define NGX_DEVMON_WS_OP_BINARY      0x2
#define NGX_DEVMON_WS_OP_CLOSE       0x8
#define NGX_DEVMON_WS_OP_PING        0x9
#define NGX_DEVMON_WS_OP_PONG        0xa

#define NGX_DEVMON_WS_CLOSE_NORMAL       1000
#define NGX_DEVMON_WS_CLOSE_GOING_AWAY   1001
#define NGX_DEVMON_WS_CLOSE_PROTOCOL     1002
#define NGX_DEVMON_WS_CLOSE_UNSUPPORTED  1003
#define NGX_DEVMON_WS_CLOSE_BAD_DATA     1007
#define NGX_DEVMON_WS_CLOSE_POLICY       1008
#define NGX_DEVMON_WS_CLOSE_TOO_BIG      1009
#define NGX_DEVMON_WS_CLOSE_INTERNAL     1011

#define NGX_DEVMON_WS_MAX_CONTROL    125
#define NGX_DEVMON_WS_MAX_HEADER     14    /* server frames: 10 */
#define NGX_DEVMON_WS_KEY_LEN        24
#define NGX_DEVMON_WS_ACCEPT_LEN     28

/* ngx_devmon_ws_read() results; errors are close codes (>= 1000) */
#define NGX_DEVMON_WS_AGAIN          0
#define NGX_DEVMON_WS_DATA           1
#define NGX_DEVMON_WS_CONTROL        2


/* incremental UTF-8 validator: state survives chunk and frame boundaries */
typedef struct {
    uint8_t                      need;     /* continuation bytes still due */
    uint8_t                      lo;       /* range of the next one */
    uint8_t                      hi;
} ngx_devmon_ws_utf8_t;


/* what ngx_devmon_ws_read() reports */
typedef struct {
    unsigned                     opcode;   /* message or control opcode */
    uint8_t                     *data;     /* unmasked payload bytes */
    size_t                       len;
    unsigned                     first:1;  /* first chunk of a message */
    unsigned                     last:1;   /* message (or frame) complete */
} ngx_devmon_ws_chunk_t;


/* client-to-server stream reader; zero it, then set max_message */
typedef struct {
    uint64_t                     max_message;  /* 0: unlimited */

    /* frame header being collected */
    uint8_t                      hdr[NGX_DEVMON_WS_MAX_HEADER];
    size_t                       hdr_len;
    size_t                       hdr_need;

    /* frame whose payload is being read */
    unsigned                     in_payload:1;
    unsigned                     fin:1;
    unsigned                     opcode:4;
    unsigned                     mask_pos:2;
    uint8_t                      mask[4];
    uint64_t                     frame_left;

    /* data message that is open (fragments may follow) */
    unsigned                     msg_opcode:4;  /* 0: none open */
    unsigned                     msg_started:1; /* first chunk reported */
    uint64_t                     msg_len;
    ngx_devmon_ws_utf8_t         utf8;

    /* control frames are small: their payload is collected here */
    uint8_t                      ctl[NGX_DEVMON_WS_MAX_CONTROL];
    size_t                       ctl_len;
} ngx_devmon_ws_reader_t;


/*
 * Consumes up to "len" bytes of "buf" (unmasked in place) and stops at the
 * first thing to report; "*used" tells how many bytes were consumed, the
 * caller calls again with the rest.  Returns NGX_DEVMON_WS_AGAIN (all input
 * consumed, nothing to report), NGX_DEVMON_WS_DATA (a chunk of a text or
 * binary message, text already validated; "last" ends the message),
 * NGX_DEVMON_WS_CONTROL (a complete and valid ping, pong or close frame),
 * or the close code with which to fail the connection: 1002 protocol,
 * 1007 invalid UTF-8, 1009 message larger than max_message.  After an
 * error the reader must not be used again.
 */
int ngx_devmon_ws_read(ngx_devmon_ws_reader_t *rd, uint8_t *buf, size_t len,
    size_t *used, ngx_devmon_ws_chunk_t *ch);

/* returns 0, or -1 at the first invalid byte */
int ngx_devmon_ws_utf8_feed(ngx_devmon_ws_utf8_t *u, const uint8_t *p,
    size_t len);
#define ngx_devmon_ws_utf8_complete(u)  ((u)->need == 0)
int ngx_devmon_ws_utf8_valid(const uint8_t *p, size_t len);

void ngx_devmon_ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4],
    unsigned pos);

/* a code a peer may send in a close frame (RFC 6455 7.4, IANA registry) */
int ngx_devmon_ws_close_code_valid(unsigned code);

/*
 * Validates a received close payload: returns 0 and sets *code (0 when the
 * payload is empty) and the reason, or the close code to fail with
 * (1002 bad length or code, 1007 reason not UTF-8).
 */
int ngx_devmon_ws_parse_close(const uint8_t *p, size_t len, unsigned *code,
    const uint8_t **reason, size_t *reason_len);

/* writes a close payload (code 0: empty); returns its length, <= 125 */
size_t ngx_devmon_ws_close_payload(uint8_t *out, unsigned code,
    const uint8_t *reason, size_t reason_len);

/* server frame header (FIN set, unmasked); returns 2, 4 or 10 */
size_t ngx_devmon_ws_header_size(uint64_t len);
size_t ngx_devmon_ws_encode_header(uint8_t *out, unsigned opcode,
    uint64_t len);

/* handshake */
int ngx_devmon_ws_key_valid(const uint8_t *key, size_t len);
void ngx_devmon_ws_accept(const uint8_t *key, size_t len,
    uint8_t out[NGX_DEVMON_WS_ACCEPT_LEN]);
void ngx_devmon_ws_sha1(const uint8_t *p, size_t len, uint8_t digest[20]);
size_t ngx_devmon_ws_base64(uint8_t *out, const uint8_t *in, size_t len);

/*
 * Base64 (RFC 4648 4) or, with NGX_DEVMON_WS_B64_URL, base64url (5), both
 * without padding; NGX_DEVMON_WS_B64_STRICT also refuses nonzero unused
 * bits, so that each value has exactly one encoding (JWS, RFC 7515 2).
 * out needs len / 4 * 3 + 2 bytes.  Returns 0, or -1 if in is not valid.
 * Shared by the handshake and the token validator (ngx_devmon_jwt.c).
 */
#define NGX_DEVMON_WS_B64_URL        0x1
#define NGX_DEVMON_WS_B64_STRICT     0x2

int ngx_devmon_ws_base64_decode(uint8_t *out, size_t *out_len,
    const uint8_t *in, size_t len, unsigned flags);

/* the value of one base64 (url: base64url) character, or -1 */
int ngx_devmon_ws_base64_value(uint8_t c, unsigned url);

/*
 * Comma-separated header lists (Connection, Upgrade,
 * Sec-WebSocket-Protocol): _token_next() yields each non-empty element
 * without surrounding spaces and returns 0 at the end; _token_find() is a
 * case-insensitive search for one element.
 */
int ngx_devmon_ws_token_next(const uint8_t **pos, const uint8_t *last,
    const uint8_t **token, size_t *token_len);
int ngx_devmon_ws_token_find(const uint8_t *list, size_t len,
    const char *token);


#endif /* _NGX_DEVMON_WS_CODEC_H_INCLUDED_ */
