/*
 * wcpinger - calls wcponger by its call alias (actor-to-actor), in the wasmCloud 0.18 shapes.
 *
 * HandleRequest (wasmcloud:httpserver): host call (binding "default", namespace
 * "wasmcloud/examples/ponger", "Ping") with {value: 11}; a query parameter value=N (decimal,
 * optionally negative, e.g. "?value=5" or "?a=b&value=-3") replaces 11. Decodes {value: N}
 * from the reply and answers 200 application/json {"value":N} (so 11 -> 53 from wcponger).
 * A query value that is not a 64-bit decimal integer answers 400 text/plain. A failed host
 * call becomes this call's guest error (the host's error text, unchanged); a reply that is not
 * a map with an integer "value" is the guest error "wcpinger: malformed reply to Ping".
 * HealthRequest {placeholder: true} (ignored): answers {healthy: true, message: ""}.
 */
#include "http.h"

#define DEFAULT_VALUE 11
#define PONGER_ALIAS "wasmcloud/examples/ponger"

/* Parses an optionally negative decimal that fits in int64; 0 if `s` is not one. */
static int parse_i64(wapc_bytes s, int64_t *out) {
    uint32_t i = 0;
    int negative = s.len > 0 && s.ptr[0] == '-';
    if (negative) i = 1;
    if (i == s.len) return 0;
    /* Accumulate the magnitude as unsigned: INT64_MIN's magnitude is INT64_MAX + 1. */
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; i < s.len; i++) {
        uint8_t c = s.ptr[i];
        if (c < '0' || c > '9') return 0;
        uint64_t digit = (uint64_t)(c - '0');
        if (v > (limit - digit) / 10) return 0;
        v = v * 10 + digit;
    }
    *out = negative ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

/*
 * Looks for the parameter "value" in a query string of '&'-separated name=value pairs.
 * Returns 1 and sets *value to its text if present (the last one wins), 0 if absent.
 */
static int query_value(wapc_bytes query, wapc_bytes *value) {
    int found = 0;
    uint32_t start = 0;
    while (start <= query.len) {
        uint32_t end = start;
        while (end < query.len && query.ptr[end] != '&') end++;
        wapc_bytes pair = wapc_bytes_of(query.ptr + start, end - start);
        if (pair.len >= 6 && memcmp(pair.ptr, "value=", 6) == 0) {
            *value = wapc_bytes_of(pair.ptr + 6, pair.len - 6);
            found = 1;
        }
        start = end + 1;
    }
    return found;
}

/* Reads the integer field "value" of the reply map; 0 if it is not there. */
static int decode_ping_reply(wapc_bytes reply, int64_t *value) {
    mp_reader r;
    mp_reader_init(&r, reply.ptr, reply.len);
    uint32_t fields;
    if (!mp_read_map(&r, &fields)) return 0;
    int found = 0;
    for (uint32_t i = 0; i < fields; i++) {
        wapc_bytes key;
        if (!mp_read_str(&r, &key)) {
            if (r.err || !mp_skip(&r) || !mp_skip(&r)) return 0;
            continue;
        }
        if (wapc_bytes_eq(key, "value")) {
            if (!mp_read_int(&r, value)) return 0;
            found = 1;
            continue;
        }
        if (!mp_skip(&r)) return 0;
    }
    return found && !r.err;
}

static int handle_request(const uint8_t *payload, uint32_t len) {
    http_request req;
    if (!http_decode_request(payload, len, &req)) {
        return wapc_fail_cstr("wcpinger: cannot decode the HTTP request");
    }
    int64_t value = DEFAULT_VALUE;
    wapc_bytes text;
    if (query_value(req.query, &text) && !parse_i64(text, &value)) {
        return http_respond(400, "Bad Request", "text/plain",
                            wapc_cstr("wcpinger: value must be a 64-bit decimal integer"));
    }

    wapc_buf ping = {0};
    mp_write_map(&ping, 1);
    mp_write_cstr(&ping, "value");
    mp_write_int(&ping, value);

    wapc_bytes reply;
    if (!wapc_host_call(wapc_cstr("default"), wapc_cstr(PONGER_ALIAS), wapc_cstr("Ping"),
                        wapc_buf_view(&ping), &reply)) {
        return wapc_fail(reply.ptr, reply.len);
    }
    int64_t answer;
    if (!decode_ping_reply(reply, &answer)) {
        return wapc_fail_cstr("wcpinger: malformed reply to Ping");
    }

    wapc_buf body = {0};
    wapc_buf_cstr(&body, "{\"value\":");
    wapc_buf_i64(&body, answer);
    wapc_buf_byte(&body, '}');
    return http_respond(200, "OK", "application/json", wapc_buf_view(&body));
}

static int handle_health(const uint8_t *payload, uint32_t len) {
    (void)payload;
    (void)len;
    wapc_buf out = {0};
    mp_write_map(&out, 2);
    mp_write_cstr(&out, "healthy");
    mp_write_bool(&out, 1);
    mp_write_cstr(&out, "message");
    mp_write_cstr(&out, "");
    return wapc_respond_buf(&out);
}

static void actor_init(void) {
    wapc_register("HandleRequest", handle_request);
    wapc_register("HealthRequest", handle_health);
}
