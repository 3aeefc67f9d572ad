/*
 * relay - makes one host call of its caller's choosing (a test and benchmark actor).
 *
 * Call: the payload is NAMESPACE "\n" OPERATION "\n" BODY (BODY may hold any bytes). The actor
 * calls __host_call(binding "default", NAMESPACE, OPERATION, BODY); the host's answer becomes
 * this call's result, and a host error becomes the guest error "relay: " + its text.
 * Several tests need an actor that reaches one provider or another with given bytes; this
 * keeps the choice in the test instead of in a module per provider.
 *
 * BindActor, RemoveActor and HealthRequest answer empty, so that the same module, signed with
 * --provider, is a wasm capability provider whose own host calls a test chooses.
 */
#include "wapc.h"

/* The index of the first '\n' at or after `from`, or `len` if there is none. */
static uint32_t line_end(const uint8_t *p, uint32_t from, uint32_t len) {
    while (from < len && p[from] != '\n') from++;
    return from;
}

static int handle_call(const uint8_t *payload, uint32_t len) {
    uint32_t ns_end = line_end(payload, 0, len);
    uint32_t op_end = line_end(payload, ns_end + 1, len);
    if (op_end >= len) {
        return wapc_fail_cstr("relay: the payload must be NAMESPACE\\nOPERATION\\nBODY");
    }
    wapc_bytes reply;
    if (!wapc_host_call(wapc_cstr("default"), wapc_bytes_of(payload, ns_end),
                        wapc_bytes_of(payload + ns_end + 1, op_end - ns_end - 1),
                        wapc_bytes_of(payload + op_end + 1, len - op_end - 1), &reply)) {
        return wapc_fail_with("relay: ", reply);
    }
    return wapc_respond(reply.ptr, reply.len);
}

static int handle_lifecycle(const uint8_t *payload, uint32_t len) {
    (void)payload;
    (void)len;
    return wapc_respond(0, 0);
}

static void actor_init(void) {
    wapc_register("Call", handle_call);
    wapc_register("BindActor", handle_lifecycle);
    wapc_register("RemoveActor", handle_lifecycle);
    wapc_register("HealthRequest", handle_lifecycle);
}
