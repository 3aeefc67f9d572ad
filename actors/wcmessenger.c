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
#include "msgpack.h"

typedef struct {
    wapc_bytes subject;
    wapc_bytes reply_to;
    wapc_bytes body;
} message;

/* Decodes {subject, replyTo, body} in any order; unknown fields are skipped, missing (or nil)
 * ones are empty. */
static int decode_message(const uint8_t *p, uint32_t len, message *m) {
    static const wapc_bytes empty = {(const uint8_t *)"", 0};
    m->subject = m->reply_to = m->body = empty;
    mp_reader r;
    mp_reader_init(&r, p, len);
    uint32_t fields;
    if (!mp_read_map(&r, &fields)) return 0;
    for (uint32_t i = 0; i < fields; i++) {
        wapc_bytes key;
        if (!mp_read_str(&r, &key)) {
            if (r.err || !mp_skip(&r) || !mp_skip(&r)) return 0;
            continue;
        }
        wapc_bytes *target = NULL;
        if (wapc_bytes_eq(key, "subject")) target = &m->subject;
        else if (wapc_bytes_eq(key, "replyTo")) target = &m->reply_to;
        else if (wapc_bytes_eq(key, "body")) target = &m->body;
        if (target != NULL) {
            if (mp_read_str(&r, target)) continue;
            if (r.err) return 0;
            if (mp_read_nil(&r)) continue; /* nil: leave it empty */
            return 0;
        }
        if (!mp_skip(&r)) return 0;
    }
    return !r.err;
}

/* Reads "published" from a Publish reply: 1 and *published set if the map decodes (a missing
 * key reads as false), 0 if it does not. */
static int decode_publish_reply(wapc_bytes reply, int *published) {
    *published = 0;
    mp_reader r;
    mp_reader_init(&r, reply.ptr, reply.len);
    uint32_t fields;
    if (!mp_read_map(&r, &fields)) return 0;
    for (uint32_t i = 0; i < fields; i++) {
        wapc_bytes key;
        if (!mp_read_str(&r, &key)) {
            if (r.err || !mp_skip(&r) || !mp_skip(&r)) return 0;
            continue;
        }
        if (wapc_bytes_eq(key, "published")) {
            if (!mp_read_bool(&r, published)) return 0;
            continue;
        }
        if (!mp_skip(&r)) return 0;
    }
    return !r.err;
}

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

    wapc_bytes reply;
    if (!wapc_host_call(wapc_cstr("default"), wapc_cstr("wasmcloud:logging"),
                        wapc_cstr("WriteLog"), wapc_buf_view(&msg), &reply)) {
        return wapc_fail(reply.ptr, reply.len);
    }
    return 1;
}

static int handle_message(const uint8_t *payload, uint32_t len) {
    message m;
    if (!decode_message(payload, len, &m)) {
        return wapc_fail_cstr("wcmessenger: cannot decode HandleMessage");
    }
    if (!write_log(m.subject)) return 0;
    if (m.reply_to.len == 0) return wapc_respond(NULL, 0);

    wapc_buf echo = {0};
    wapc_buf_cstr(&echo, "echo: ");
    wapc_buf_bytes(&echo, m.body);

    wapc_buf publish = {0};
    mp_write_map(&publish, 3);
    mp_write_cstr(&publish, "subject");
    mp_write_str(&publish, m.reply_to);
    mp_write_cstr(&publish, "replyTo");
    mp_write_cstr(&publish, "");
    mp_write_cstr(&publish, "body");
    mp_write_bin(&publish, wapc_buf_view(&echo));

    wapc_bytes reply;
    if (!wapc_host_call(wapc_cstr("default"), wapc_cstr("wasmcloud:messaging"),
                        wapc_cstr("Publish"), wapc_buf_view(&publish), &reply)) {
        return wapc_fail(reply.ptr, reply.len);
    }
    int published;
    if (!decode_publish_reply(reply, &published)) {
        return wapc_fail_cstr("wcmessenger: malformed reply to Publish");
    }
    if (!published) return wapc_fail_cstr("wcmessenger: Publish was not published");
    return wapc_respond(NULL, 0);
}

static int handle_health(const uint8_t *payload, uint32_t len) {
    (void)payload;
    (void)len;
    wapc_buf out = {0};
    mp_write_map(&out, 2);
    mp_write_cstr(&out, "healthy");
    mp_write_bool(&out, 1);
    mp_write_cstr(&out, "message");
    mp_write_cstr(&out, "");
    return wapc_respond_buf(&out);
}

static void actor_init(void) {
    wapc_register("HandleMessage", handle_message);
    wapc_register("HealthRequest", handle_health);
}
