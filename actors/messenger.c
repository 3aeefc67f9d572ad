/*
 * messenger - answers requests on its subscribed subjects (contract wascc:messaging).
 *
 * DeliverMessage {subject, replyTo, body}: if replyTo is not empty, host call (binding
 * "default", "wascc:messaging", "Publish") with {subject: replyTo, replyTo: "", body: the body
 * with ASCII letters uppercased}; a message without replyTo is accepted and ignored. The reply
 * to DeliverMessage is empty. A payload that is not a DeliverMessage map is a guest error
 * "messenger: cannot decode DeliverMessage"; a failed Publish is the guest error
 * "messenger: " + the host's error text.
 */
#include "msgpack.h"

typedef struct {
    wapc_bytes subject;
    wapc_bytes reply_to;
    wapc_bytes body;
} message;

/* Decodes {subject, replyTo, body} in any order; unknown fields are skipped. */
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
            if (r.err) return 0;
        }
        if (!mp_skip(&r)) return 0;
    }
    return 1;
}

static int deliver_message(const uint8_t *payload, uint32_t len) {
    message m;
    if (!decode_message(payload, len, &m)) {
        return wapc_fail_cstr("messenger: cannot decode DeliverMessage");
    }
    if (m.reply_to.len == 0) return wapc_respond(NULL, 0);

    uint8_t *upper = (uint8_t *)wapc_alloc(m.body.len);
    for (uint32_t i = 0; i < m.body.len; i++) {
        uint8_t c = m.body.ptr[i];
        upper[i] = (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
    }

    wapc_buf publish = {0};
    mp_write_map(&publish, 3);
    mp_write_cstr(&publish, "subject");
    mp_write_str(&publish, m.reply_to);
    mp_write_cstr(&publish, "replyTo");
    mp_write_cstr(&publish, "");
    mp_write_cstr(&publish, "body");
    mp_write_bin(&publish, wapc_bytes_of(upper, m.body.len));

    wapc_bytes reply;
    if (!wapc_host_call(wapc_cstr("default"), wapc_cstr("wascc:messaging"), wapc_cstr("Publish"),
                        wapc_buf_view(&publish), &reply)) {
        return wapc_fail_with("messenger: ", reply);
    }
    return wapc_respond(NULL, 0);
}

static void actor_init(void) {
    wapc_register("DeliverMessage", deliver_message);
}
