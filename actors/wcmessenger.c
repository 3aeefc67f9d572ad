/*
 * wcmessenger - logs each message and echoes it to its reply subject, in the wasmCloud 0.18
 * shapes (contracts wasmcloud:messaging and wasmcloud:logging).
 *
 * HandleMessage {subject, replyTo, body}: first a host call (binding "default",
 * "wasmcloud:logging", "WriteLog") with {target: "wcmessenger", level: "info", text: "message
 * on <subject>"} (its reply is ignored); then, if replyTo is not empty, "Publish" on
 * "wasmcloud:messaging" with {subject: replyTo, replyTo: "", body: "echo: " + body}, whose reply
 * must be {published: true}. The answer to HandleMessage is empty.
 * A payload that is not a message map is the guest error "wcmessenger: cannot decode
 * HandleMessage"; a failed host call becomes this call's guest error (the host's error text,
 * unchanged); a Publish reply whose "published" is false or missing is the guest error
 * "wcmessenger: Publish was not published", and one that is not a map with a bool there,
 * "wcmessenger: malformed reply to Publish".
 * HealthRequest {placeholder: true} (ignored): answers {healthy: true, message: ""}.
 */
#include "wasmcloud.h"

static int write_log(wapc_bytes subject) {
    wapc_buf text = {0};
    wapc_buf_cstr(&text, "message on ");
    wapc_buf_bytes(&text, subject);

    wapc_buf msg = {0};
    mp_write_map(&msg, 3);
    mp_write_cstr(&msg, "target");
    mp_write_cstr(&msg, "wcmessenger");
    mp_write_cstr(&msg, "level");
    mp_write_cstr(&msg, "info");
    mp_write_cstr(&msg, "text");
    mp_write_str(&msg, wapc_buf_view(&text));

    wapc_bytes reply; /* ignored */
    return wc_call("wasmcloud:logging", "WriteLog", &msg, &reply);
}

static int handle_message(const uint8_t *payload, uint32_t len) {
    wc_message m;
    if (!wc_decode_message(payload, len, &m)) {
        return wapc_fail_cstr("wcmessenger: cannot decode HandleMessage");
    }
    if (!write_log(m.subject)) return 0;
    if (m.reply_to.len == 0) return wapc_respond(NULL, 0);

    wapc_buf echo = {0};
    wapc_buf_cstr(&echo, "echo: ");
    wapc_buf_bytes(&echo, m.body);

    wapc_buf publish = {0};
    wc_write_message(&publish, m.reply_to, wapc_cstr(""), wapc_buf_view(&echo));
    wapc_bytes reply;
    if (!wc_call("wasmcloud:messaging", "Publish", &publish, &reply)) return 0;
    /* {published: bool}; a missing key reads as false. */
    int published = 0;
    if (wc_read_bool_field(reply, "published", &published) == WC_FIELD_MALFORMED) {
        return wc_fail_malformed("wcmessenger", "Publish");
    }
    if (!published) return wapc_fail_cstr("wcmessenger: Publish was not published");
    return wapc_respond(NULL, 0);
}

static void actor_init(void) {
    wapc_register("HandleMessage", handle_message);
    wc_register_health_ok();
}
