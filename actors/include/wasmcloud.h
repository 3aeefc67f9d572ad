/*
 * wasmcloud.h - what the wasmCloud 0.18 sample actors (wcpinger, wcponger, wckvcounter,
 * wcextras, wcmessenger) share, on top of wapc.h, msgpack.h and http.h.
 *
 * 0.18 messages are msgpack maps whose keys may come in any order, with unknown keys to be
 * skipped: `wc_map` walks one (wc_map_next / wc_map_find hand over the reader at a key's value
 * and skip whatever the caller leaves unread), and wc_read_int_field / wc_read_bool_field read
 * one field of a reply telling "missing" from "malformed". Every 0.18 actor answers
 * HealthRequest (wc_respond_health, wc_register_health_ok); HandleMessage and Publish carry
 * {subject, replyTo, body} (wc_decode_message, wc_write_message). Host calls go over the
 * "default" binding with a failure passed on unchanged (wc_call); the samples' guest errors
 * name the actor (wc_fail_malformed, wc_fail_lacks, wc_decode_request); their HTTP answers are
 * small JSON objects (wc_json_key, wc_buf_u64, wc_respond_json).
 */
#ifndef WASCC_WASMCLOUD_H
#define WASCC_WASMCLOUD_H

#include "http.h"

/* ------------------------------------------------------------------------------------------ */
/* Guest errors and host calls                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* Stores the guest error made of `parts` (a NULL-terminated list) and returns 0. */
static inline int wc_fail_parts(const char *const *parts) {
    wapc_buf b = {0};
    for (; *parts != NULL; parts++) wapc_buf_cstr(&b, *parts);
    return wapc_fail(b.data, b.len);
}

/* Stores the guest error "<actor>: malformed reply to <op>" and returns 0. */
static inline int wc_fail_malformed(const char *actor, const char *op) {
    return wc_fail_parts((const char *const[]){actor, ": malformed reply to ", op, NULL});
}

/* Stores the guest error "<actor>: reply to <op> lacks <key>" and returns 0: 0.18 replies
 * write every key, so a missing one (often waSCC's spelling of it instead) is named. */
static inline int wc_fail_lacks(const char *actor, const char *op, const char *key) {
    return wc_fail_parts((const char *const[]){actor, ": reply to ", op, " lacks ", key, NULL});
}

/*
 * Calls `op` of `ns` (a contract such as "wasmcloud:keyvalue", or an actor's call alias) on the
 * "default" binding with the message in `msg`. Returns 1 with *reply set to the answer; on
 * failure stores the host's error text, unchanged, as this call's guest error and returns 0,
 * so a handler can just `return 0`.
 */
static inline int wc_call(const char *ns, const char *op, const wapc_buf *msg,
                          wapc_bytes *reply) {
    if (wapc_host_call(wapc_cstr("default"), wapc_cstr(ns), wapc_cstr(op), wapc_buf_view(msg),
                       reply)) {
        return 1;
    }
    return wapc_fail(reply->ptr, reply->len);
}

/* Decodes HandleRequest's Request (http.h); a payload that is not one is the guest error
 * "<actor>: cannot decode the HTTP request" (result 0). */
static inline int wc_decode_request(const char *actor, const uint8_t *payload, uint32_t len,
                                    http_request *req) {
    if (http_decode_request(payload, len, req)) return 1;
    return wc_fail_parts((const char *const[]){actor, ": cannot decode the HTTP request", NULL});
}

/* ------------------------------------------------------------------------------------------ */
/* Reading maps: keys in any order, unknown ones skipped                                       */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    mp_reader r;    /* after wc_map_next/wc_map_find: at the current key's value */
    uint32_t left;  /* pairs not reached yet */
    uint32_t value; /* where the current value starts */
    int current;    /* there is a current value (skipped on the next step if still unread) */
} wc_map;

/* Starts reading the map in `data`; 0 if `data` does not begin with a map header. */
static inline int wc_map_open(wc_map *m, wapc_bytes data) {
    mp_reader_init(&m->r, data.ptr, data.len);
    m->current = 0;
    return mp_read_map(&m->r, &m->left);
}

/*
 * Moves to the next pair with a string key: returns 1 with *key set and m->r at its value.
 * The previous value is skipped first if the caller left it unread (every value takes at least
 * one byte, so an unmoved position means unread), and a pair whose key is not a string is
 * skipped whole. Returns 0 at the end of the map, or when it is truncated or malformed (then
 * m->r.err is set, see wc_map_done).
 */
static inline int wc_map_next(wc_map *m, wapc_bytes *key) {
    if (m->current && m->r.pos == m->value && !mp_skip(&m->r)) return 0;
    m->current = 0;
    while (m->left > 0) {
        m->left--;
        if (mp_read_str(&m->r, key)) {
            m->value = m->r.pos;
            m->current = 1;
            return 1;
        }
        if (m->r.err || !mp_skip(&m->r) || !mp_skip(&m->r)) return mp_truncated(&m->r);
    }
    return 0;
}

/* Moves to the next pair whose key is `name` (others are skipped): 1 with m->r at its value,
 * 0 as wc_map_next. Looping until 0 reads every occurrence, so the last one wins. */
static inline int wc_map_find(wc_map *m, const char *name) {
    wapc_bytes key;
    while (wc_map_next(m, &key)) {
        if (wapc_bytes_eq(key, name)) return 1;
    }
    return 0;
}

/* After wc_map_next or wc_map_find returned 0: 1 if the whole map was well formed. */
static inline int wc_map_done(const wc_map *m) {
    return !m->r.err;
}

/* Reads a str (or bin) into *out, or a nil, which leaves *out as it was (callers start it
 * empty); *nil (if not NULL) tells which. 0 if the value is neither. */
static inline int wc_read_opt_str(mp_reader *r, wapc_bytes *out, int *nil) {
    int is_nil = 0;
    if (!mp_read_str(r, out)) {
        if (r->err || !mp_read_nil(r)) return 0;
        is_nil = 1;
    }
    if (nil != NULL) *nil = is_nil;
    return 1;
}

/* The outcome of reading one field of a map. */
typedef enum { WC_FIELD_OK, WC_FIELD_MISSING, WC_FIELD_MALFORMED } wc_field;

/* Reads one value at r into *out (one of the adapters below); 0 if it has another type. */
typedef int (*wc_value_reader)(mp_reader *r, void *out);

static inline int wc_int_value(mp_reader *r, void *out) {
    return mp_read_int(r, (int64_t *)out);
}

static inline int wc_bool_value(mp_reader *r, void *out) {
    return mp_read_bool(r, (int *)out);
}

/*
 * Reads the field `name` of the map in `data` with `read`: WC_FIELD_OK with *out set (the last
 * occurrence wins), WC_FIELD_MISSING with *out untouched if the key is absent, or
 * WC_FIELD_MALFORMED if `data` is not a well-formed map or the value has another type.
 */
static inline wc_field wc_read_field(wapc_bytes data, const char *name, wc_value_reader read,
                                     void *out) {
    wc_map m;
    int found = 0;
    if (!wc_map_open(&m, data)) return WC_FIELD_MALFORMED;
    while (wc_map_find(&m, name)) {
        if (!read(&m.r, out)) return WC_FIELD_MALFORMED;
        found = 1;
    }
    if (!wc_map_done(&m)) return WC_FIELD_MALFORMED;
    return found ? WC_FIELD_OK : WC_FIELD_MISSING;
}

/* wc_read_field for an integer that fits in int64. */
static inline wc_field wc_read_int_field(wapc_bytes data, const char *name, int64_t *out) {
    return wc_read_field(data, name, wc_int_value, out);
}

/* wc_read_field for a bool (*out 1 or 0). */
static inline wc_field wc_read_bool_field(wapc_bytes data, const char *name, int *out) {
    return wc_read_field(data, name, wc_bool_value, out);
}

/* ------------------------------------------------------------------------------------------ */
/* HealthRequest                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* Answers HealthRequest with {healthy, message}, both keys always written. */
static inline int wc_respond_health(int healthy, wapc_bytes message) {
    wapc_buf out = {0};
    mp_write_map(&out, 2);
    mp_write_cstr(&out, "healthy");
    mp_write_bool(&out, healthy);
    mp_write_cstr(&out, "message");
    mp_write_str(&out, message);
    return wapc_respond_buf(&out);
}

/* A HealthRequest handler answering {healthy: true, message: ""}. The request,
 * {placeholder: true}, carries nothing, so it is not read. */
static inline int wc_health_ok(const uint8_t *payload, uint32_t len) {
    (void)payload;
    (void)len;
    return wc_respond_health(1, wapc_cstr(""));
}

/* Registers wc_health_ok for HealthRequest; call from actor_init(). */
static inline void wc_register_health_ok(void) {
    wapc_register("HealthRequest", wc_health_ok);
}

/* ------------------------------------------------------------------------------------------ */
/* Messages: HandleMessage's payload and Publish's request                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    wapc_bytes subject;
    wapc_bytes reply_to;
    wapc_bytes body;
} wc_message;

/* Decodes {subject, replyTo, body}: missing (or nil) fields are empty; 0 if the payload is not
 * a well-formed map or one of them is neither str/bin nor nil. */
static inline int wc_decode_message(const uint8_t *p, uint32_t len, wc_message *msg) {
    msg->subject = msg->reply_to = msg->body = wapc_cstr("");
    wc_map m;
    wapc_bytes key;
    if (!wc_map_open(&m, wapc_bytes_of(p, len))) return 0;
    while (wc_map_next(&m, &key)) {
        wapc_bytes *target = NULL;
        if (wapc_bytes_eq(key, "subject")) target = &msg->subject;
        else if (wapc_bytes_eq(key, "replyTo")) target = &msg->reply_to;
        else if (wapc_bytes_eq(key, "body")) target = &msg->body;
        if (target != NULL && !wc_read_opt_str(&m.r, target, NULL)) return 0;
    }
    return wc_map_done(&m);
}

/* Writes {subject, replyTo, body} (the body as bin), as Publish takes it. */
static inline void wc_write_message(wapc_buf *b, wapc_bytes subject, wapc_bytes reply_to,
                                    wapc_bytes body) {
    mp_write_map(b, 3);
    mp_write_cstr(b, "subject");
    mp_write_str(b, subject);
    mp_write_cstr(b, "replyTo");
    mp_write_str(b, reply_to);
    mp_write_cstr(b, "body");
    mp_write_bin(b, body);
}

/* ------------------------------------------------------------------------------------------ */
/* JSON answers to HandleRequest                                                               */
/* ------------------------------------------------------------------------------------------ */

/* Appends the member name `"name":` to the JSON object being built in `b` (which starts empty):
 * '{' before the first member, ',' before the others. `name` is written as it is. */
static inline void wc_json_key(wapc_buf *b, const char *name) {
    wapc_buf_byte(b, b->len == 0 ? '{' : ',');
    wapc_buf_byte(b, '"');
    wapc_buf_cstr(b, name);
    wapc_buf_cstr(b, "\":");
}

/* Appends `v` in decimal: all of uint64, where wapc_buf_i64 stops at INT64_MAX (v / 10 always
 * fits in int64, so it prints all but the last digit). */
static inline void wc_buf_u64(wapc_buf *b, uint64_t v) {
    if (v >= 10) wapc_buf_i64(b, (int64_t)(v / 10));
    wapc_buf_byte(b, (uint8_t)('0' + v % 10));
}

/* Closes the JSON object in `b` (an empty `b` makes "{}") and answers 200 application/json. */
static inline int wc_respond_json(wapc_buf *b) {
    if (b->len == 0) wapc_buf_byte(b, '{');
    wapc_buf_byte(b, '}');
    return http_respond(200, "OK", "application/json", wapc_buf_view(b));
}

#endif /* WASCC_WASMCLOUD_H */
