/*
 * kvcounter - counts hits per HTTP path in the key-value store.
 *
 * HandleRequest: key = the path with every '/' replaced by ':' ("/a/b" -> ":a:b"); host call (binding "default", "wascc:keyvalue", "Add") with
 * {key, value: 1}; replies 200 application/json {"counter":N} with N the new total.
 * A failed host call becomes this call's guest error (the host's error text, unchanged).
 */
#include "http.h"

static wapc_bytes counter_key(wapc_bytes path) {
    /* As waSCC's kvcounter: every '/' becomes ':', so "/a/b" counts under ":a:b". */
    uint8_t *key = (uint8_t *)wapc_alloc(path.len);
    for (uint32_t i = 0; i < path.len; i++) {
        uint8_t c = path.ptr[i];
        key[i] = c == '/' ? ':' : c;
    }
    return wapc_bytes_of(key, path.len);
}

/* Finds the integer field "value" in an Add response map. */
static int decode_add_response(wapc_bytes reply, int64_t *value) {
    mp_reader r;
    mp_reader_init(&r, reply.ptr, reply.len);
    uint32_t fields;
    if (!mp_read_map(&r, &fields)) return 0;
    for (uint32_t i = 0; i < fields; i++) {
        wapc_bytes key = {NULL, 0};
        if (mp_read_str(&r, &key) && wapc_bytes_eq(key, "value")) {
            return mp_read_int(&r, value);
        }
        if (r.err) return 0;
        if (key.ptr == NULL && !mp_skip(&r)) return 0; /* key was not a string */
        if (!mp_skip(&r)) return 0;
    }
    return 0;
}

static int handle_request(const uint8_t *payload, uint32_t len) {
    http_request req;
    if (!http_decode_request(payload, len, &req)) {
        return wapc_fail_cstr("kvcounter: cannot decode the HTTP request");
    }

    wapc_buf add = {0};
    mp_write_map(&add, 2);
    mp_write_cstr(&add, "key");
    mp_write_str(&add, counter_key(req.path));
    mp_write_cstr(&add, "value");
    mp_write_int(&add, 1);

    wapc_bytes reply;
    if (!wapc_host_call(wapc_cstr("default"), wapc_cstr("wascc:keyvalue"), wapc_cstr("Add"),
                        wapc_buf_view(&add), &reply)) {
        return wapc_fail(reply.ptr, reply.len);
    }
    int64_t total;
    if (!decode_add_response(reply, &total)) {
        return wapc_fail_cstr("kvcounter: malformed reply to Add");
    }

    wapc_buf body = {0};
    wapc_buf_cstr(&body, "{\"counter\":");
    wapc_buf_i64(&body, total);
    wapc_buf_byte(&body, '}');
    return http_respond(200, "OK", "application/json", wapc_buf_view(&body));
}

static void actor_init(void) {
    wapc_register("HandleRequest", handle_request);
}
