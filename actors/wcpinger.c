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
#include "wasmcloud.h"

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

static int handle_request(const uint8_t *payload, uint32_t len) {
    http_request req;
    if (!wc_decode_request("wcpinger", payload, len, &req)) return 0;
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
    if (!wc_call(PONGER_ALIAS, "Ping", &ping, &reply)) return 0;
    /* The reply must be a map with an integer "value" (other keys skipped). */
    int64_t answer;
    if (wc_read_int_field(reply, "value", &answer) != WC_FIELD_OK) {
        return wc_fail_malformed("wcpinger", "Ping");
    }

    wapc_buf body = {0};
    wc_json_key(&body, "value");
    wapc_buf_i64(&body, answer);
    return wc_respond_json(&body);
}

static void actor_init(void) {
    wapc_register("HandleRequest", handle_request);
    wc_register_health_ok();
}
