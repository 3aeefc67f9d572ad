/*
 * logger - writes two log lines through the wascc:logging capability for each HTTP request.
 *
 * HandleRequest: WriteLog {level: 3 (info), body} then WriteLog {level: 2 (warn), body}, both
 * mentioning the request path; replies 200 text/plain "logged". A failed host call becomes
 * this call's guest error (the host's error text, unchanged).
 */
#include "http.h"

/* Sends one WriteLog; on failure stores the host error as the guest error and returns 0. */
static int write_log(int64_t level, const char *text, wapc_bytes path) {
    wapc_buf line = {0};
    wapc_buf_cstr(&line, text);
    wapc_buf_bytes(&line, path);

    wapc_buf msg = {0};
    mp_write_map(&msg, 2);
    mp_write_cstr(&msg, "level");
    mp_write_int(&msg, level);
    mp_write_cstr(&msg, "body");
    mp_write_str(&msg, wapc_buf_view(&line));

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
        return wapc_fail_cstr("logger: cannot decode the HTTP request");
    }
    if (!write_log(3, "logger: handling request for ", req.path)) return 0;
    if (!write_log(2, "logger: sample warning for ", req.path)) return 0;
    return http_respond(200, "OK", "text/plain", wapc_cstr("logged"));
}

static void actor_init(void) {
    wapc_register("HandleRequest", handle_request);
}
