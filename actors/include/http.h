/*
 * http.h - the wascc:http_server messages (HandleRequest) for the sample actors.
 *
 * Request  {method: str, path: str, queryString: str, header: {str: str}, body: bin}
 * Response {statusCode: int, status: str, header: {str: str}, body: bin}
 *
 * Decoding is tolerant: fields may come in any order, unknown fields are skipped, missing ones
 * are empty, and any string may arrive as bin (and the body as str).
 */
#ifndef WASCC_HTTP_H
#define WASCC_HTTP_H

#include "msgpack.h"

typedef struct {
    wapc_bytes name;
    wapc_bytes value;
} http_header;

typedef struct {
    wapc_bytes method;
    wapc_bytes path;
    wapc_bytes query;
    http_header *headers; /* in wire order */
    uint32_t header_count;
    wapc_bytes body;
} http_request;

/* Decodes the header map; entries whose value is not a string are skipped. */
static inline int http_decode_headers(mp_reader *r, http_request *req) {
    uint32_t n;
    if (!mp_read_map(r, &n)) {
        /* nil (or any other non-map) means "no headers" */
        return mp_skip(r);
    }
    /* Each pair takes at least two bytes, which bounds a hostile count. */
    if ((uint64_t)n * 2 > r->len - r->pos) return 0;
    req->headers = (http_header *)wapc_alloc(n * (uint32_t)sizeof(http_header));
    for (uint32_t i = 0; i < n; i++) {
        http_header h = {{NULL, 0}, {NULL, 0}};
        if (mp_read_str(r, &h.name) && mp_read_str(r, &h.value)) {
            req->headers[req->header_count++] = h;
            continue;
        }
        if (r->err) return 0;
        /* Skip whatever is left of this pair: the key if it was not a string, then the value. */
        if (h.name.ptr == NULL && !mp_skip(r)) return 0;
        if (!mp_skip(r)) return 0;
    }
    return 1;
}

/* Decodes a msgpack Request; returns 0 if it is not a well-formed map. */
static inline int http_decode_request(const uint8_t *p, uint32_t len, http_request *req) {
    static const wapc_bytes empty = {(const uint8_t *)"", 0};
    req->method = req->path = req->query = req->body = empty;
    req->headers = NULL;
    req->header_count = 0;

    mp_reader r;
    mp_reader_init(&r, p, len);
    uint32_t fields;
    if (!mp_read_map(&r, &fields)) return 0;
    for (uint32_t i = 0; i < fields; i++) {
        wapc_bytes key;
        if (!mp_read_str(&r, &key)) {
            if (r.err || !mp_skip(&r) || !mp_skip(&r)) return 0;
            continue;
        }
        wapc_bytes *target = NULL;
        if (wapc_bytes_eq(key, "method")) target = &req->method;
        else if (wapc_bytes_eq(key, "path")) target = &req->path;
        else if (wapc_bytes_eq(key, "queryString")) target = &req->query;
        else if (wapc_bytes_eq(key, "body")) target = &req->body;

        if (target != NULL) {
            if (mp_read_str(&r, target)) continue;
            if (r.err) return 0;
        } else if (wapc_bytes_eq(key, "header")) {
            if (!http_decode_headers(&r, req)) return 0;
            continue;
        }
        if (!mp_skip(&r)) return 0; /* unknown field, or nil/other where a string belongs */
    }
    return !r.err;
}

/*
 * Writes a Response up to and including the body's bin header; the caller appends exactly
 * `body_len` body bytes. `content_type` may be NULL for an empty header map.
 */
static inline void http_write_response_head(wapc_buf *b, int64_t code, const char *status,
                                            const char *content_type, uint32_t body_len) {
    mp_write_map(b, 4);
    mp_write_cstr(b, "statusCode");
    mp_write_int(b, code);
    mp_write_cstr(b, "status");
    mp_write_cstr(b, status);
    mp_write_cstr(b, "header");
    if (content_type != NULL) {
        mp_write_map(b, 1);
        mp_write_cstr(b, "content-type");
        mp_write_cstr(b, content_type);
    } else {
        mp_write_map(b, 0);
    }
    mp_write_cstr(b, "body");
    mp_write_bin_header(b, body_len);
}

/* Sends a complete Response as the call's result and returns 1. */
static inline int http_respond(int64_t code, const char *status, const char *content_type,
                               wapc_bytes body) {
    wapc_buf b = {0};
    wapc_buf_reserve(&b, body.len + 96);
    http_write_response_head(&b, code, status, content_type, body.len);
    wapc_buf_bytes(&b, body);
    return wapc_respond_buf(&b);
}

#endif /* WASCC_HTTP_H */
