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
#include "wasmcloud.h"

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
    wc_map m;
    wapc_bytes key;
    if (!wc_map_open(&m, reply)) return 0;
    while (wc_map_next(&m, &key)) {
        if (wapc_bytes_eq(key, "guid")) {
            x->has_guid = 1;
            if (!wc_read_opt_str(&m.r, &x->guid, &x->guid_nil)) return 0;
        } else if (wapc_bytes_eq(key, "sequenceNumber")) {
            if (!read_u64(&m.r, &x->sequence)) return 0;
            x->has_sequence = 1;
        } else if (wapc_bytes_eq(key, "random_number")) {
            uint64_t v;
            if (!read_u64(&m.r, &v) || v > 0xffffffffu) return 0;
            x->random = (uint32_t)v;
            x->has_random = 1;
        }
    }
    return wc_map_done(&m);
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
    if (!wc_call("wasmcloud:extras", op, &msg, &reply)) return 0;
    if (!decode_extras_reply(reply, x)) return wc_fail_malformed("wcextras", op);
    if (!x->has_guid) return wc_fail_lacks("wcextras", op, "guid");
    if (!x->has_sequence) return wc_fail_lacks("wcextras", op, "sequenceNumber");
    if (!x->has_random) return wc_fail_lacks("wcextras", op, "random_number");
    return 1;
}

/* Appends `s` as a JSON string: in quotes, with '"', '\' and control bytes escaped. */
static void buf_json_str(wapc_buf *b, wapc_bytes s) {
    static const char hex[] = "0123456789abcdef";
    wapc_buf_byte(b, '"');
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
    wapc_buf_byte(b, '"');
}

static int handle_request(const uint8_t *payload, uint32_t len) {
    http_request req;
    if (!wc_decode_request("wcextras", payload, len, &req)) return 0;
    extras_reply guid, random, sequence;
    if (!request_extras("RequestGuid", 1, 0, 0, 0, &guid)) return 0;
    if (guid.guid_nil) return wapc_fail_cstr("wcextras: reply to RequestGuid has a nil guid");
    if (!request_extras("RequestRandom", 0, 0, 1, RANDOM_MAX, &random)) return 0;
    if (!request_extras("RequestSequence", 0, 1, 0, 0, &sequence)) return 0;

    wapc_buf body = {0};
    wc_json_key(&body, "guid");
    buf_json_str(&body, guid.guid);
    wc_json_key(&body, "random");
    wc_buf_u64(&body, random.random);
    wc_json_key(&body, "sequence");
    wc_buf_u64(&body, sequence.sequence);
    return wc_respond_json(&body);
}

static void actor_init(void) {
    wapc_register("HandleRequest", handle_request);
    wc_register_health_ok();
}
