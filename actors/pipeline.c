/*
 * pipeline - the HTTP front of the pipeline example: stores uploaded files in the blob store,
 * has another actor count them, and keeps the counts in the key-value store.
 *
 * Claims: wascc:http_server, wascc:blobstore, wascc:keyvalue, and the processor actor's key.
 * The processor (the wordcount actor) is named by the environment variable PROCESSOR, its
 * 56-character public key, which the manifest grants through WASI; it is read on every
 * request, and a request without it is answered 500.
 *
 *   PUT /files/{name}        stores the body in container "uploads" (64 KiB chunks), calls
 *                            PROCESSOR's Count {container, id}, keeps the JSON
 *                            {"name","bytes","words","lines","checksum"} under "count:{name}"
 *                            and answers it, 201
 *   GET /files/{name}/count  the stored JSON, 200; 404 if there is none
 *   GET /files/{name}        the file's bytes, 200 application/octet-stream; 404 if missing
 *   GET /files               the names in "uploads" as a JSON array, 200
 *
 * {name} is one path segment, percent-decoded, under the blob store's name rules and without
 * control characters (400 otherwise). Other paths are 404, other methods 405 (with Allow). A
 * failed host call is 502 with {"error": "..."} holding the host's text.
 *
 * Telling "missing" from "failed": the blob store's errors for a blob or container that is not
 * there read "no blob NAME in container C" and "no container C" (docs/blobstore.md), and the
 * host passes a provider's error text on, so the exact sentence is looked for in the error.
 */
#include "http.h"
#include "wasi.h"

#define CONTAINER "uploads"
#define CHUNK 65536u

static const char HEX[] = "0123456789abcdef";

/* ---- JSON ------------------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p[0..n), or 0 if it is not one. */
static uint32_t utf8_len(const uint8_t *p, uint32_t n) {
    uint8_t c = p[0];
    uint32_t len;
    uint8_t lo = 0x80, hi = 0xbf; /* the range allowed for the second byte */
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) len = 3;
    else if (c >= 0xf0 && c <= 0xf4) len = 4;
    else return 0;
    if (c == 0xe0) lo = 0xa0;      /* overlong */
    else if (c == 0xed) hi = 0x9f; /* surrogates */
    else if (c == 0xf0) lo = 0x90; /* overlong */
    else if (c == 0xf4) hi = 0x8f; /* past U+10FFFF */
    if (n < len || p[1] < lo || p[1] > hi) return 0;
    for (uint32_t i = 2; i < len; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) return 0;
    }
    return len;
}

/* Appends `s` as a JSON string. Host error text is meant to be UTF-8 but is not checked by
 * anyone on the way, so a byte that is not valid UTF-8 becomes U+FFFD: the body stays JSON. */
static void json_string(wapc_buf *b, wapc_bytes s) {
    wapc_buf_byte(b, '"');
    for (uint32_t i = 0; i < s.len;) {
        uint8_t c = s.ptr[i];
        if (c == '"' || c == '\\') {
            uint8_t esc[2] = {'\\', c};
            wapc_buf_put(b, esc, 2);
            i++;
        } else if (c < 0x20) {
            uint8_t esc[6] = {'\\', 'u', '0', '0', (uint8_t)HEX[c >> 4], (uint8_t)HEX[c & 15]};
            wapc_buf_put(b, esc, 6);
            i++;
        } else if (c < 0x80) {
            wapc_buf_byte(b, c);
            i++;
        } else {
            uint32_t n = utf8_len(s.ptr + i, s.len - i);
            if (n == 0) {
                wapc_buf_cstr(b, "\\ufffd");
                i++;
            } else {
                wapc_buf_put(b, s.ptr + i, n);
                i += n;
            }
        }
    }
    wapc_buf_byte(b, '"');
}

/* ---- responses -------------------------------------------------------------------------- */

static int respond(int64_t code, const char *status, const char *content_type, const char *allow,
                   wapc_bytes body) {
    wapc_buf b = {0};
    wapc_buf_reserve(&b, body.len + 160);
    mp_write_map(&b, 4);
    mp_write_cstr(&b, "statusCode");
    mp_write_int(&b, code);
    mp_write_cstr(&b, "status");
    mp_write_cstr(&b, status);
    mp_write_cstr(&b, "header");
    mp_write_map(&b, allow != NULL ? 2 : 1);
    mp_write_cstr(&b, "content-type");
    mp_write_cstr(&b, content_type);
    if (allow != NULL) {
        mp_write_cstr(&b, "allow");
        mp_write_cstr(&b, allow);
    }
    mp_write_cstr(&b, "body");
    mp_write_bin(&b, body);
    return wapc_respond_buf(&b);
}

static int respond_json(int64_t code, const char *status, wapc_bytes json) {
    return respond(code, status, "application/json", NULL, json);
}

/* {"error": PREFIX DETAIL} with the given status. */
static int respond_error(int64_t code, const char *status, const char *prefix, wapc_bytes detail) {
    wapc_buf text = {0};
    wapc_buf_cstr(&text, prefix);
    wapc_buf_bytes(&text, detail);
    wapc_buf json = {0};
    wapc_buf_cstr(&json, "{\"error\":");
    json_string(&json, wapc_buf_view(&text));
    wapc_buf_byte(&json, '}');
    return respond_json(code, status, wapc_buf_view(&json));
}

static int respond_not_allowed(const char *allow) {
    wapc_buf json = {0};
    wapc_buf_cstr(&json, "{\"error\":\"method not allowed; use ");
    wapc_buf_cstr(&json, allow);
    wapc_buf_cstr(&json, "\"}");
    return respond(405, "Method Not Allowed", "application/json", allow, wapc_buf_view(&json));
}

/* A failed host call: 502 naming what was asked, with the host's error text. */
static int respond_host_failure(const char *what, wapc_bytes error) {
    wapc_buf text = {0};
    wapc_buf_cstr(&text, what);
    wapc_buf_cstr(&text, " failed: ");
    wapc_buf_bytes(&text, error);
    return respond_error(502, "Bad Gateway", "", wapc_buf_view(&text));
}

/* ---- host calls ------------------------------------------------------------------------- */

static int call_blobstore(const char *op, const wapc_buf *msg, wapc_bytes *out) {
    return wapc_host_call(wapc_cstr("default"), wapc_cstr("wascc:blobstore"), wapc_cstr(op),
                          wapc_buf_view(msg), out);
}

static int call_keyvalue(const char *op, const wapc_buf *msg, wapc_bytes *out) {
    return wapc_host_call(wapc_cstr("default"), wapc_cstr("wascc:keyvalue"), wapc_cstr(op),
                          wapc_buf_view(msg), out);
}

static int contains(wapc_bytes hay, wapc_bytes needle) {
    if (needle.len == 0) return 1;
    for (uint32_t i = 0; i + needle.len <= hay.len; i++) {
        if (memcmp(hay.ptr + i, needle.ptr, needle.len) == 0) return 1;
    }
    return 0;
}

/* Whether a blob store error says the blob `name` (or the container) is not there. */
static int is_missing(wapc_bytes error, wapc_bytes name) {
    wapc_buf blob = {0};
    wapc_buf_cstr(&blob, "no blob ");
    wapc_buf_bytes(&blob, name);
    wapc_buf_cstr(&blob, " in container " CONTAINER);
    return contains(error, wapc_buf_view(&blob)) ||
           contains(error, wapc_cstr("no container " CONTAINER));
}

static void write_container_msg(wapc_buf *msg) {
    mp_write_map(msg, 1);
    mp_write_cstr(msg, "id");
    mp_write_cstr(msg, CONTAINER);
}

static void write_key_msg(wapc_buf *msg, wapc_bytes name) {
    mp_write_cstr(msg, "key");
    mp_write_str_header(msg, (uint32_t)sizeof "count:" - 1 + name.len);
    wapc_buf_cstr(msg, "count:");
    wapc_buf_bytes(msg, name);
}

/* ---- routes ----------------------------------------------------------------------------- */

static int put_file(wapc_bytes name, wapc_bytes processor, wapc_bytes body) {
    wapc_bytes reply;
    wapc_buf msg = {0};
    write_container_msg(&msg);
    if (!call_blobstore("CreateContainer", &msg, &reply)) {
        return respond_host_failure("CreateContainer", reply);
    }

    /* An empty body still makes one (empty) chunk: chunk 0 is what creates the blob. */
    uint32_t chunks = body.len == 0 ? 1 : (body.len + CHUNK - 1) / CHUNK;
    for (uint32_t seq = 0; seq < chunks; seq++) {
        uint32_t at = seq * CHUNK;
        uint32_t n = body.len - at < CHUNK ? body.len - at : CHUNK;
        wapc_buf up = {0};
        wapc_buf_reserve(&up, n + 128 + name.len);
        mp_write_map(&up, 6);
        mp_write_cstr(&up, "sequenceNo");
        mp_write_uint(&up, seq);
        mp_write_cstr(&up, "container");
        mp_write_cstr(&up, CONTAINER);
        mp_write_cstr(&up, "id");
        mp_write_str(&up, name);
        mp_write_cstr(&up, "totalBytes");
        mp_write_uint(&up, body.len);
        mp_write_cstr(&up, "chunkSize");
        mp_write_uint(&up, CHUNK);
        mp_write_cstr(&up, "chunkBytes");
        mp_write_bin(&up, wapc_bytes_of(body.ptr + at, n));
        if (!call_blobstore("UploadChunk", &up, &reply)) {
            return respond_host_failure("UploadChunk", reply);
        }
    }

    wapc_buf count = {0};
    mp_write_map(&count, 2);
    mp_write_cstr(&count, "container");
    mp_write_cstr(&count, CONTAINER);
    mp_write_cstr(&count, "id");
    mp_write_str(&count, name);
    if (!wapc_host_call(wapc_cstr("default"), processor, wapc_cstr("Count"),
                        wapc_buf_view(&count), &reply)) {
        return respond_host_failure("Count", reply);
    }
    int64_t bytes = 0, words = 0, lines = 0;
    wapc_bytes checksum = {NULL, 0};
    mpf_field fields[] = {
        {"bytes", MPF_INT, &bytes, 1, 0},
        {"words", MPF_INT, &words, 1, 0},
        {"lines", MPF_INT, &lines, 1, 0},
        {"checksum", MPF_STR, &checksum, 1, 0},
    };
    wapc_buf why = {0};
    if (!mpf_decode(reply, fields, MPF_COUNT(fields), &why)) {
        return respond_error(502, "Bad Gateway", "malformed reply to Count: ", wapc_buf_view(&why));
    }

    wapc_buf json = {0};
    wapc_buf_cstr(&json, "{\"name\":");
    json_string(&json, name);
    wapc_buf_cstr(&json, ",\"bytes\":");
    wapc_buf_i64(&json, bytes);
    wapc_buf_cstr(&json, ",\"words\":");
    wapc_buf_i64(&json, words);
    wapc_buf_cstr(&json, ",\"lines\":");
    wapc_buf_i64(&json, lines);
    wapc_buf_cstr(&json, ",\"checksum\":");
    json_string(&json, checksum);
    wapc_buf_byte(&json, '}');

    wapc_buf set = {0};
    mp_write_map(&set, 3);
    write_key_msg(&set, name);
    mp_write_cstr(&set, "value");
    mp_write_str(&set, wapc_buf_view(&json));
    mp_write_cstr(&set, "expires");
    mp_write_uint(&set, 0);
    if (!call_keyvalue("Set", &set, &reply)) return respond_host_failure("Set", reply);
    return respond_json(201, "Created", wapc_buf_view(&json));
}

static int get_count(wapc_bytes name) {
    wapc_buf get = {0};
    mp_write_map(&get, 1);
    write_key_msg(&get, name);
    wapc_bytes reply;
    if (!call_keyvalue("Get", &get, &reply)) return respond_host_failure("Get", reply);
    wapc_bytes value = {NULL, 0};
    int exists = 0;
    mpf_field fields[] = {
        {"value", MPF_STR, &value, 0, 0},
        {"exists", MPF_BOOL, &exists, 0, 0},
    };
    wapc_buf why = {0};
    if (!mpf_decode(reply, fields, MPF_COUNT(fields), &why)) {
        return respond_error(502, "Bad Gateway", "malformed reply to Get: ", wapc_buf_view(&why));
    }
    if (!exists) return respond_error(404, "Not Found", "no count for ", name);
    return respond_json(200, "OK", value);
}

static int get_file(wapc_bytes name) {
    wapc_buf body = {0};
    for (uint32_t seq = 0;; seq++) {
        wapc_buf down = {0};
        mp_write_map(&down, 4);
        mp_write_cstr(&down, "sequenceNo");
        mp_write_uint(&down, seq);
        mp_write_cstr(&down, "container");
        mp_write_cstr(&down, CONTAINER);
        mp_write_cstr(&down, "id");
        mp_write_str(&down, name);
        mp_write_cstr(&down, "chunkSize");
        mp_write_uint(&down, CHUNK);
        wapc_bytes reply;
        if (!call_blobstore("DownloadChunk", &down, &reply)) {
            if (is_missing(reply, name)) return respond_error(404, "Not Found", "no file ", name);
            return respond_host_failure("DownloadChunk", reply);
        }
        int64_t total = 0;
        wapc_bytes chunk = {NULL, 0};
        mpf_field fields[] = {
            {"totalBytes", MPF_INT, &total, 1, 0},
            {"chunkBytes", MPF_BIN, &chunk, 1, 0},
        };
        wapc_buf why = {0};
        if (!mpf_decode(reply, fields, MPF_COUNT(fields), &why)) {
            return respond_error(502, "Bad Gateway", "malformed reply to DownloadChunk: ",
                                 wapc_buf_view(&why));
        }
        wapc_buf_bytes(&body, chunk);
        /* Every round either adds bytes or ends, so the loop ends even if the blob changes. */
        if (chunk.len == 0 || (int64_t)body.len >= total) break;
    }
    return respond(200, "OK", "application/octet-stream", NULL, wapc_buf_view(&body));
}

static int list_files(void) {
    wapc_buf msg = {0};
    write_container_msg(&msg);
    wapc_bytes reply;
    if (!call_blobstore("ListObjects", &msg, &reply)) {
        /* Nothing uploaded yet: the container is made by the first PUT. */
        if (contains(reply, wapc_cstr("no container " CONTAINER))) {
            return respond_json(200, "OK", wapc_cstr("[]"));
        }
        return respond_host_failure("ListObjects", reply);
    }
    wapc_bytes blobs = {NULL, 0};
    mpf_field fields[] = {{"blobs", MPF_RAW, &blobs, 0, 0}};
    wapc_buf why = {0};
    wapc_buf json = {0};
    wapc_buf_byte(&json, '[');
    if (!mpf_decode(reply, fields, MPF_COUNT(fields), &why)) goto malformed;
    if (blobs.len != 0) {
        mp_reader r;
        mp_reader_init(&r, blobs.ptr, blobs.len);
        uint32_t count;
        if (!mp_read_array(&r, &count)) goto malformed;
        for (uint32_t i = 0; i < count; i++) {
            uint32_t start = r.pos;
            if (!mp_skip(&r)) goto malformed;
            wapc_bytes id = {NULL, 0};
            mpf_field blob[] = {{"id", MPF_STR, &id, 1, 0}};
            if (!mpf_decode(wapc_bytes_of(blobs.ptr + start, r.pos - start), blob, 1, &why)) {
                goto malformed;
            }
            if (i) wapc_buf_byte(&json, ',');
            json_string(&json, id);
        }
    }
    wapc_buf_byte(&json, ']');
    return respond_json(200, "OK", wapc_buf_view(&json));
malformed:
    return respond_error(502, "Bad Gateway", "malformed reply to ListObjects: ",
                         why.len ? wapc_buf_view(&why) : wapc_cstr("blobs is not a list"));
}

/* ---- request parsing -------------------------------------------------------------------- */

static int hex_value(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes one path segment; 0 if an escape is malformed. */
static int percent_decode(wapc_bytes in, wapc_bytes *out) {
    uint8_t *p = (uint8_t *)wapc_alloc(in.len);
    uint32_t n = 0;
    for (uint32_t i = 0; i < in.len; i++) {
        uint8_t c = in.ptr[i];
        if (c == '%') {
            if (i + 2 >= in.len || hex_value(in.ptr[i + 1]) < 0 ||
                hex_value(in.ptr[i + 2]) < 0) {
                return 0;
            }
            c = (uint8_t)(hex_value(in.ptr[i + 1]) * 16 + hex_value(in.ptr[i + 2]));
            i += 2;
        }
        p[n++] = c;
    }
    *out = wapc_bytes_of(p, n);
    return 1;
}

/* Decodes the {name} segment and checks it; 0 with the reason in `why` if it is refused. */
static int file_name(wapc_bytes segment, wapc_bytes *name, wapc_buf *why) {
    if (!percent_decode(segment, name)) {
        wapc_buf_cstr(why, "malformed percent-escape in ");
        wapc_buf_bytes(why, segment);
        return 0;
    }
    int ok = wasi_name_ok(*name);
    for (uint32_t i = 0; ok && i < name->len; i++) {
        if (name->ptr[i] < 0x20 || name->ptr[i] == 0x7f) ok = 0;
    }
    if (ok) return 1;
    wapc_buf_cstr(why, "file name ");
    wasi_put_quoted(why, *name);
    wapc_buf_cstr(why, " is not allowed: " WASI_NAME_RULE ", nor control characters");
    return 0;
}

static int handle_request(const uint8_t *payload, uint32_t len) {
    http_request req;
    if (!http_decode_request(payload, len, &req)) {
        return wapc_fail_cstr("pipeline: cannot decode the HTTP request");
    }
    wapc_bytes processor;
    if (!wasi_getenv("PROCESSOR", &processor) || processor.len == 0) {
        return respond_error(500, "Internal Server Error",
                             "the environment variable PROCESSOR is not set: the manifest must "
                             "grant it the processor actor's public key",
                             wapc_cstr(""));
    }

    static const char prefix[] = "/files";
    wapc_bytes path = req.path;
    uint32_t plen = (uint32_t)sizeof prefix - 1;
    if (path.len < plen || memcmp(path.ptr, prefix, plen) != 0 ||
        (path.len > plen && path.ptr[plen] != '/')) {
        return respond_error(404, "Not Found", "no such route: ", path);
    }
    wapc_bytes rest = wapc_bytes_of(path.ptr + plen, path.len - plen);
    if (rest.len <= 1) { /* "/files" or "/files/" */
        if (!wapc_bytes_eq(req.method, "GET")) return respond_not_allowed("GET");
        return list_files();
    }
    rest = wapc_bytes_of(rest.ptr + 1, rest.len - 1);
    uint32_t slash = 0;
    while (slash < rest.len && rest.ptr[slash] != '/') slash++;
    wapc_bytes segment = wapc_bytes_of(rest.ptr, slash);
    wapc_bytes tail = wapc_bytes_of(rest.ptr + slash, rest.len - slash);

    int count = wapc_bytes_eq(tail, "/count");
    if (tail.len != 0 && !count) return respond_error(404, "Not Found", "no such route: ", path);
    int get = wapc_bytes_eq(req.method, "GET"), put = !count && wapc_bytes_eq(req.method, "PUT");
    if (!get && !put) return respond_not_allowed(count ? "GET" : "GET, PUT");
    wapc_bytes name;
    wapc_buf why = {0};
    if (!file_name(segment, &name, &why)) {
        return respond_error(400, "Bad Request", "", wapc_buf_view(&why));
    }
    if (count) return get_count(name);
    return put ? put_file(name, processor, req.body) : get_file(name);
}

static void actor_init(void) {
    wapc_register("HandleRequest", handle_request);
}
