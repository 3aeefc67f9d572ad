/*
 * pinger - calls another actor (actor-to-actor host call).
 *
 * Ping: the payload is the target actor's 56-character public key (raw bytes). Host call with
 * binding "default", namespace = that key, operation "Pong", payload "ping"; the reply becomes
 * this call's result. On failure the guest error is "pinger: " + the host error text.
 */
#include "wapc.h"

static int handle_ping(const uint8_t *payload, uint32_t len) {
    wapc_bytes reply;
    if (!wapc_host_call(wapc_cstr("default"), wapc_bytes_of(payload, len), wapc_cstr("Pong"),
                        wapc_cstr("ping"), &reply)) {
        return wapc_fail_with("pinger: ", reply);
    }
    return wapc_respond(reply.ptr, reply.len);
}

static void actor_init(void) {
    wapc_register("Ping", handle_ping);
}
