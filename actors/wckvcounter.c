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
#include "wasmcloud.h"

#define PATHS_KEY ":paths"

static wapc_bytes counter_key(wapc_bytes path) {
    uint8_t *key = (uint8_t *)wapc_alloc(path.len);
    for (uint32_t i = 0; i < path.len; i++) {
        uint8_t c = path.ptr[i];
        key[i] = c == '/' ? ':' : c;
    }
    return wapc_bytes_of(key, path.len);
}

/* Calls `op` on wasmcloud:keyvalue with {key, value: <int>} or {key, value: <str>}; a failed call
 * is this call's guest error (wc_call). */
static int kv_call(const char *op, wapc_bytes key, const int64_t *number, const wapc_bytes *text,
                   wapc_bytes *reply) {
    wapc_buf msg = {0};
    mp_write_map(&msg, 2);
    mp_write_cstr(&msg, "key");
    mp_write_str(&msg, key);
    mp_write_cstr(&msg, "value");
    if (number != NULL) mp_write_int(&msg, *number);
    else mp_write_str(&msg, *text);
    return wc_call("wasmcloud:keyvalue", op, &msg, reply);
}

static int handle_request(const uint8_t *payload, uint32_t len) {
    http_request req;
    if (!wc_decode_request("wckvcounter", payload, len, &req)) return 0;

    wapc_bytes reply;
    const int64_t one = 1;
    if (!kv_call("Add", counter_key(req.path), &one, NULL, &reply)) return 0;
    int64_t total;
    if (wc_read_int_field(reply, "value", &total) != WC_FIELD_OK) {
        return wc_fail_malformed("wckvcounter", "Add");
    }

    if (!kv_call("SetAdd", wapc_cstr(PATHS_KEY), NULL, &req.path, &reply)) return 0;
    int64_t paths;
    switch (wc_read_int_field(reply, "new_count", &paths)) {
        case WC_FIELD_OK: break;
        case WC_FIELD_MISSING: return wc_fail_lacks("wckvcounter", "SetAdd", "new_count");
        default: return wc_fail_malformed("wckvcounter", "SetAdd");
    }

    wapc_buf body = {0};
    wc_json_key(&body, "counter");
    wapc_buf_i64(&body, total);
    wc_json_key(&body, "paths");
    wapc_buf_i64(&body, paths);
    return wc_respond_json(&body);
}

static void actor_init(void) {
    wapc_register("HandleRequest", handle_request);
    wc_register_health_ok();
}
