/*
 * wckvcounter - counts hits per HTTP path and the distinct paths seen, in the wasmCloud 0.18
 * shapes (contract wasmcloud:keyvalue).
 *
 * HandleRequest (wasmcloud:httpserver): key = the path with every '/' replaced by ':' ("/a/b"
 * -> ":a:b", as kvcounter); host call (binding "default", "wasmcloud:keyvalue", "Add") with
 * {key, value: 1} -> {value: the new total}; then "SetAdd" with {key: ":paths", value: the path}
 * -> {new_count: the set's size} (snake case: waSCC's reply said newCount, and is refused).
 * Answers 200 application/json {"counter":N,"paths":M}.
 * A failed host call becomes this call's guest error (the host's error text, unchanged). A
 * reply to SetAdd without new_count is the guest error "wckvcounter: reply to SetAdd lacks
 * new_count"; any other unreadable reply, "wckvcounter: malformed reply to <Op>".
 * HealthRequest {placeholder: true} (ignored): answers {healthy: true, message: ""}.
 */
#include "http.h"

#define PATHS_KEY ":paths"

/* The outcome of reading one integer field from a reply map. */
typedef enum { FIELD_OK, FIELD_MISSING, FIELD_MALFORMED } field_result;

static wapc_bytes counter_key(wapc_bytes path) {
    uint8_t *key = (uint8_t *)wapc_alloc(path.len);
    for (uint32_t i = 0; i < path.len; i++) {
        uint8_t c = path.ptr[i];
        key[i] = c == '/' ? ':' : c;
    }
    return wapc_bytes_of(key, path.len);
}

/* Reads the integer field `name` of a reply map (keys in any order, unknown ones skipped). */
static field_result read_int_field(wapc_bytes reply, const char *name, int64_t *out) {
    mp_reader r;
    mp_reader_init(&r, reply.ptr, reply.len);
    uint32_t fields;
    if (!mp_read_map(&r, &fields)) return FIELD_MALFORMED;
    int found = 0;
    for (uint32_t i = 0; i < fields; i++) {
        wapc_bytes key;
        if (!mp_read_str(&r, &key)) {
            if (r.err || !mp_skip(&r) || !mp_skip(&r)) return FIELD_MALFORMED;
            continue;
        }
        if (wapc_bytes_eq(key, name)) {
            if (!mp_read_int(&r, out)) return FIELD_MALFORMED;
            found = 1;
            continue;
        }
        if (!mp_skip(&r)) return FIELD_MALFORMED;
    }
    if (r.err) return FIELD_MALFORMED;
    return found ? FIELD_OK : FIELD_MISSING;
}

/* Calls `op` on wasmcloud:keyvalue with {key, value: <int>} or {key, value: <str>}. */
static int kv_call(const char *op, wapc_bytes key, const int64_t *number, const wapc_bytes *text,
                   wapc_bytes *reply) {
    wapc_buf msg = {0};
    mp_write_map(&msg, 2);
    mp_write_cstr(&msg, "key");
    mp_write_str(&msg, key);
    mp_write_cstr(&msg, "value");
    if (number != NULL) mp_write_int(&msg, *number);
    else mp_write_str(&msg, *text);
    return wapc_host_call(wapc_cstr("default"), wapc_cstr("wasmcloud:keyvalue"), wapc_cstr(op),
                          wapc_buf_view(&msg), reply);
}

static int handle_request(const uint8_t *payload, uint32_t len) {
    http_request req;
    if (!http_decode_request(payload, len, &req)) {
        return wapc_fail_cstr("wckvcounter: cannot decode the HTTP request");
    }

    wapc_bytes reply;
    const int64_t one = 1;
    if (!kv_call("Add", counter_key(req.path), &one, NULL, &reply)) {
        return wapc_fail(reply.ptr, reply.len);
    }
    int64_t total;
    if (read_int_field(reply, "value", &total) != FIELD_OK) {
        return wapc_fail_cstr("wckvcounter: malformed reply to Add");
    }

    if (!kv_call("SetAdd", wapc_cstr(PATHS_KEY), NULL, &req.path, &reply)) {
        return wapc_fail(reply.ptr, reply.len);
    }
    int64_t paths;
    switch (read_int_field(reply, "new_count", &paths)) {
        case FIELD_OK: break;
        case FIELD_MISSING: return wapc_fail_cstr("wckvcounter: reply to SetAdd lacks new_count");
        default: return wapc_fail_cstr("wckvcounter: malformed reply to SetAdd");
    }

    wapc_buf body = {0};
    wapc_buf_cstr(&body, "{\"counter\":");
    wapc_buf_i64(&body, total);
    wapc_buf_cstr(&body, ",\"paths\":");
    wapc_buf_i64(&body, paths);
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
