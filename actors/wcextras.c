/*
 * wcextras - asks the host for a GUID, a random number and a sequence number, in the
 * wasmCloud 0.18 shapes (contract wasmcloud:extras).
 *
 * HandleRequest (wasmcloud:httpserver): host calls (binding "default", "wasmcloud:extras")
 * "RequestGuid", "RequestRandom" and "RequestSequence", each with all five keys
 * {guid: bool, sequence: bool, random: bool, min: 0, max} (the operation's flag true; max 100
 * for RequestRandom, else 0). Every reply must hold all three keys
 * {guid: str|nil, sequenceNumber: u64, random_number: u32} (waSCC spelled the last one
 * randomNumber). Answers 200 application/json
 *   {"guid":"<RequestGuid's guid>","random":<RequestRandom's random_number>,
 *    "sequence":<RequestSequence's sequenceNumber>}
 * A failed host call becomes this call's guest error (the host's error text, unchanged). A
 * reply without one of the keys is the guest error "wcextras: reply to <Op> lacks <key>"; one
 * that is not a map, or holds a value of the wrong type, "wcextras: malformed reply to <Op>";
 * a nil guid from RequestGuid, "wcextras: reply to RequestGuid has a nil guid".
 * HealthRequest {placeholder: true} (ignored): answers {healthy: true, message: ""}.
 */
#include "http.h"

#define RANDOM_MAX 100

typedef struct {
    int has_guid, has_sequence, has_random;
    int guid_nil;
    wapc_bytes guid;
    uint64_t sequence;
    uint32_t random;
} extras_reply;

/* Reads an unsigned integer of any msgpack width, up to UINT64_MAX. */
static int read_u64(mp_reader *r, uint64_t *out) {
    uint8_t t;
    if (!mp_peek(r, &t)) return mp_truncated(r);
    if (t == 0xcf) { /* uint64: may exceed INT64_MAX, which mp_read_int refuses */
        if (!mp_has(r, r->pos, 9)) return mp_truncated(r);
        *out = mp_be(r, r->pos + 1, 8);
        r->pos += 9;
        return 1;
    }
    int64_t v;
    if (!mp_read_int(r, &v) || v < 0) return 0;
    *out = (uint64_t)v;
    return 1;
}

/* Decodes an extras reply: 1 if it is a well-typed map (present keys are flagged). */
static int decode_extras_reply(wapc_bytes reply, extras_reply *x) {
    x->has_guid = x->has_sequence = x->has_random = x->guid_nil = 0;
    mp_reader r;
    mp_reader_init(&r, reply.ptr, reply.len);
    uint32_t fields;
    if (!mp_read_map(&r, &fields)) return 0;
    for (uint32_t i = 0; i < fields; i++) {
        wapc_bytes key;
        if (!mp_read_str(&r, &key)) {
            if (r.err || !mp_skip(&r) || !mp_skip(&r)) return 0;
            continue;
        }
        if (wapc_bytes_eq(key, "guid")) {
            x->has_guid = 1;
            x->guid_nil = 0;
            if (mp_read_str(&r, &x->guid)) continue;
            if (r.err || !mp_read_nil(&r)) return 0;
            x->guid_nil = 1;
        } else if (wapc_bytes_eq(key, "sequenceNumber")) {
            if (!read_u64(&r, &x->sequence)) return 0;
            x->has_sequence = 1;
        } else if (wapc_bytes_eq(key, "random_number")) {
            uint64_t v;
            if (!read_u64(&r, &v) || v > 0xffffffffu) return 0;
            x->random = (uint32_t)v;
            x->has_random = 1;
        } else if (!mp_skip(&r)) {
            return 0;
        }
    }
    return !r.err;
}

/*
 * Makes one extras host call and checks its reply. On failure stores the guest error and
 * returns 0.
 */
static int request_extras(const char *op, int guid, int sequence, int random, uint32_t max,
                          extras_reply *x) {
    wapc_buf msg = {0};
    mp_write_map(&msg, 5);
    mp_write_cstr(&msg, "guid");
    mp_write_bool(&msg, guid);
    mp_write_cstr(&msg, "sequence");
    mp_write_bool(&msg, sequence);
    mp_write_cstr(&msg, "random");
    mp_write_bool(&msg, random);
    mp_write_cstr(&msg, "min");
    mp_write_uint(&msg, 0);
    mp_write_cstr(&msg, "max");
    mp_write_uint(&msg, max);

    wapc_bytes reply;
    if (!wapc_host_call(wapc_cstr("default"), wapc_cstr("wasmcloud:extras"), wapc_cstr(op),
                        wapc_buf_view(&msg), &reply)) {
        return wapc_fail(reply.ptr, reply.len);
    }
    if (!decode_extras_reply(reply, x)) {
        return wapc_fail_with("wcextras: malformed reply to ", wapc_cstr(op));
    }
    const char *missing = NULL;
    if (!x->has_guid) missing = "guid";
    else if (!x->has_sequence) missing = "sequenceNumber";
    else if (!x->has_random) missing = "random_number";
    if (missing != NULL) {
        wapc_buf err = {0};
        wapc_buf_cstr(&err, "wcextras: reply to ");
        wapc_buf_cstr(&err, op);
        wapc_buf_cstr(&err, " lacks ");
        wapc_buf_cstr(&err, missing);
        return wapc_fail(err.data, err.len);
    }
    return 1;
}

/* Appends `v` in decimal (all of uint64, which wapc_buf_i64 cannot). */
static void buf_u64(wapc_buf *b, uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) wapc_buf_byte(b, (uint8_t)tmp[--n]);
}

/* Appends `s` as the body of a JSON string: '"', '\' and control bytes escaped. */
static void buf_json_text(wapc_buf *b, wapc_bytes s) {
    static const char hex[] = "0123456789abcdef";
    for (uint32_t i = 0; i < s.len; i++) {
        uint8_t c = s.ptr[i];
        if (c == '"' || c == '\\') {
            wapc_buf_byte(b, '\\');
            wapc_buf_byte(b, c);
        } else if (c < 0x20) {
            wapc_buf_cstr(b, "\\u00");
            wapc_buf_byte(b, (uint8_t)hex[c >> 4]);
            wapc_buf_byte(b, (uint8_t)hex[c & 0xf]);
        } else {
            wapc_buf_byte(b, c);
        }
    }
}

static int handle_request(const uint8_t *payload, uint32_t len) {
    http_request req;
    if (!http_decode_request(payload, len, &req)) {
        return wapc_fail_cstr("wcextras: cannot decode the HTTP request");
    }
    extras_reply guid, random, sequence;
    if (!request_extras("RequestGuid", 1, 0, 0, 0, &guid)) return 0;
    if (guid.guid_nil) return wapc_fail_cstr("wcextras: reply to RequestGuid has a nil guid");
    if (!request_extras("RequestRandom", 0, 0, 1, RANDOM_MAX, &random)) return 0;
    if (!request_extras("RequestSequence", 0, 1, 0, 0, &sequence)) return 0;

    wapc_buf body = {0};
    wapc_buf_cstr(&body, "{\"guid\":\"");
    buf_json_text(&body, guid.guid);
    wapc_buf_cstr(&body, "\",\"random\":");
    buf_u64(&body, random.random);
    wapc_buf_cstr(&body, ",\"sequence\":");
    buf_u64(&body, sequence.sequence);
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
