/*
 * echo - answers every HTTP request with a JSON description of that request.
 *
 * HandleRequest: Request -> 200 application/json
 *   {"method":..,"path":..,"query_string":..,"headers":{..},"body":".."}
 * Every string is written byte by byte: printable ASCII as is (with '"' and '\' escaped) and
 * every other byte as \u00XX, so the body comes back as one JSON code point per byte.
 *
 * Echo: returns its payload unchanged (used by the benchmarks).
 */
#include "http.h"

static const char HEX[] = "0123456789abcdef";

/* Appends `s` as a JSON string literal. Runs of plain bytes are copied in one go. */
static void json_string(wapc_buf *b, wapc_bytes s) {
    wapc_buf_byte(b, '"');
    uint32_t run = 0; /* start of the pending run of plain bytes */
    for (uint32_t i = 0; i < s.len; i++) {
        uint8_t c = s.ptr[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') continue;
        wapc_buf_put(b, s.ptr + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            uint8_t esc[2] = {'\\', c};
            wapc_buf_put(b, esc, 2);
        } else {
            uint8_t esc[6] = {'\\', 'u', '0', '0', (uint8_t)HEX[c >> 4], (uint8_t)HEX[c & 15]};
            wapc_buf_put(b, esc, 6);
        }
    }
    wapc_buf_put(b, s.ptr + run, s.len - run);
    wapc_buf_byte(b, '"');
}

static void json_field(wapc_buf *b, const char *name, wapc_bytes value) {
    wapc_buf_byte(b, '"');
    wapc_buf_cstr(b, name);
    wapc_buf_cstr(b, "\":");
    json_string(b, value);
}

static void echo_json(wapc_buf *b, const http_request *req) {
    wapc_buf_byte(b, '{');
    json_field(b, "method", req->method);
    wapc_buf_byte(b, ',');
    json_field(b, "path", req->path);
    wapc_buf_byte(b, ',');
    json_field(b, "query_string", req->query);
    wapc_buf_cstr(b, ",\"headers\":{");
    for (uint32_t i = 0; i < req->header_count; i++) {
        if (i) wapc_buf_byte(b, ',');
        json_string(b, req->headers[i].name);
        wapc_buf_byte(b, ':');
        json_string(b, req->headers[i].value);
    }
    wapc_buf_cstr(b, "},");
    json_field(b, "body", req->body);
    wapc_buf_byte(b, '}');
}

static int handle_request(const uint8_t *payload, uint32_t len) {
    http_request req;
    if (!http_decode_request(payload, len, &req)) {
        return wapc_fail_cstr("echo: cannot decode the HTTP request");
    }
    /* Measure the JSON first so the response is built in one exactly sized buffer: bodies of
     * several MiB then cost one copy instead of two. */
    wapc_buf measure = {.count_only = 1};
    echo_json(&measure, &req);

    wapc_buf out = {0};
    wapc_buf_reserve(&out, measure.len + 128);
    http_write_response_head(&out, 200, "OK", "application/json", measure.len);
    echo_json(&out, &req);
    return wapc_respond_buf(&out);
}

static int handle_echo(const uint8_t *payload, uint32_t len) {
    return wapc_respond(payload, len);
}

static void actor_init(void) {
    wapc_register("HandleRequest", handle_request);
    wapc_register("Echo", handle_echo);
}
