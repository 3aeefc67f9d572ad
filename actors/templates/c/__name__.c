/*
 * ${name} - a waPC actor for wascc-py.
 *
 * HandleRequest (wascc:http_server): writes one log line through wascc:logging, then answers
 * 200 text/plain with a greeting that names the request path.
 *
 * The headers come with wascc-py (`wascc build` finds them): wapc.h is the waPC guest runtime
 * (exports, imports, a per-call arena allocator), msgpack.h a MessagePack reader and writer,
 * http.h the HTTP request and response messages. There is no libc: the module is built for
 * wasm32-freestanding and imports nothing but the waPC functions.
 */
#include "http.h"

/* Sends {level, body} to WriteLog of wascc:logging (levels: 1 error ... 3 info ... 5 trace).
 * On failure the host's error text becomes this call's error, and 0 is returned. */
static int write_log(int64_t level, wapc_bytes text) {
    wapc_buf msg = {0};
    mp_write_map(&msg, 2);
    mp_write_cstr(&msg, "level");
    mp_write_int(&msg, level);
    mp_write_cstr(&msg, "body");
    mp_write_str(&msg, text);

    wapc_bytes reply;
    if (!wapc_host_call(wapc_cstr("default"), wapc_cstr("wascc:logging"), wapc_cstr("WriteLog"),
                        wapc_buf_view(&msg), &reply)) {
        return wapc_fail(reply.ptr, reply.len);
    }
    return 1;
}

static int handle_request(const uint8_t *payload, uint32_t len) {
    http_request req;
    if (!http_decode_request(payload, len, &req)) {
        return wapc_fail_cstr("${name}: cannot decode the HTTP request");
    }

    wapc_buf line = {0};
    wapc_buf_cstr(&line, "${name}: ");
    wapc_buf_bytes(&line, req.method);
    wapc_buf_byte(&line, ' ');
    wapc_buf_bytes(&line, req.path);
    if (!write_log(3, wapc_buf_view(&line))) return 0;

    wapc_buf body = {0};
    wapc_buf_cstr(&body, "Hello from ${name}! You asked for ");
    wapc_buf_bytes(&body, req.path);
    wapc_buf_byte(&body, '\n');
    return http_respond(200, "OK", "text/plain; charset=utf-8", wapc_buf_view(&body));
}

/* Called once when an instance starts: register every operation the actor answers. */
static void actor_init(void) {
    wapc_register("HandleRequest", handle_request);
}
