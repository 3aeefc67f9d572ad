/*
 * wcponger - the target of wcpinger, in the wasmCloud 0.18 shapes (msgpack maps, every key
 * always written). Its call alias, wasmcloud/examples/ponger, is given when it is signed.
 *
 * Ping {value: int}: answers {value: value + 42}. A payload that is not such a map is the
 * guest error "wcponger: cannot decode Ping"; a value whose sum does not fit in 64 bits,
 * "wcponger: value + 42 overflows".
 * HealthRequest {placeholder: true} (ignored): answers {healthy, message} from a static flag
 * and message, initially {healthy: true, message: ""}.
 * SetHealth {healthy: bool, message: str}: sets that flag and message (a longer message is cut
 * to 200 bytes at a UTF-8 boundary) and answers empty; a payload without a bool "healthy" is
 * the guest error "wcponger: cannot decode SetHealth". This lets a test make a 0.18 actor
 * report unhealthy.
 * Unknown keys are ignored everywhere and keys may come in any order.
 */
#include "wasmcloud.h"

#define HEALTH_MESSAGE_MAX 200

/* Lives for the instance, not the call: the arena never holds it. */
static int health_flag = 1;
static uint8_t health_message[HEALTH_MESSAGE_MAX];
static uint32_t health_message_len;

static int handle_ping(const uint8_t *payload, uint32_t len) {
    int64_t value;
    if (wc_read_int_field(wapc_bytes_of(payload, len), "value", &value) != WC_FIELD_OK) {
        return wapc_fail_cstr("wcponger: cannot decode Ping");
    }
    if (value > INT64_MAX - 42) return wapc_fail_cstr("wcponger: value + 42 overflows");

    wapc_buf out = {0};
    mp_write_map(&out, 1);
    mp_write_cstr(&out, "value");
    mp_write_int(&out, value + 42);
    return wapc_respond_buf(&out);
}

/* Decodes {healthy: bool, message: str}; "healthy" is required, a missing or nil message is
 * empty. */
static int decode_set_health(const uint8_t *p, uint32_t len, int *healthy, wapc_bytes *message) {
    *message = wapc_cstr("");
    wc_map m;
    wapc_bytes key;
    if (!wc_map_open(&m, wapc_bytes_of(p, len))) return 0;
    int found = 0;
    while (wc_map_next(&m, &key)) {
        if (wapc_bytes_eq(key, "healthy")) {
            if (!mp_read_bool(&m.r, healthy)) return 0;
            found = 1;
        } else if (wapc_bytes_eq(key, "message")) {
            if (!wc_read_opt_str(&m.r, message, NULL)) return 0;
        }
    }
    return found && wc_map_done(&m);
}

static int handle_set_health(const uint8_t *payload, uint32_t len) {
    int healthy;
    wapc_bytes message;
    if (!decode_set_health(payload, len, &healthy, &message)) {
        return wapc_fail_cstr("wcponger: cannot decode SetHealth");
    }
    uint32_t n = message.len;
    if (n > HEALTH_MESSAGE_MAX) {
        /* Cut before a UTF-8 continuation byte, so the str stays valid text. */
        n = HEALTH_MESSAGE_MAX;
        while (n > 0 && (message.ptr[n] & 0xc0) == 0x80) n--;
    }
    memcpy(health_message, message.ptr, n);
    health_message_len = n;
    health_flag = healthy;
    return wapc_respond(NULL, 0);
}

static int handle_health(const uint8_t *payload, uint32_t len) {
    (void)payload;
    (void)len;
    return wc_respond_health(health_flag, wapc_bytes_of(health_message, health_message_len));
}

static void actor_init(void) {
    wapc_register("Ping", handle_ping);
    wapc_register("SetHealth", handle_set_health);
    wapc_register("HealthRequest", handle_health);
}
