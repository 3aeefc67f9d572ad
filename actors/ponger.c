/*
 * ponger - the target of pinger.
 *
 * Pong: returns "pong: " followed by the payload.
 */
#include "wapc.h"

static int handle_pong(const uint8_t *payload, uint32_t len) {
    wapc_buf out = {0};
    wapc_buf_cstr(&out, "pong: ");
    wapc_buf_put(&out, payload, len);
    return wapc_respond_buf(&out);
}

static void actor_init(void) {
    wapc_register("Pong", handle_pong);
}
