/*
 * blobstore - a wasm capability provider of wascc:blobstore that keeps blobs as files.
 *
 * The host grants it one directory, read-write, under the guest path /blobs, and it lays the
 * store out as /blobs/{space}/{container}/{blob}: containers are directories, blobs are files.
 * An actor's space is its binding's SPACE value, or else its own public key, so two actors
 * bound without SPACE never see each other's blobs, and actors that name the same SPACE share
 * one store. docs/blobstore.md is the contract; in short:
 *
 *   GetCapabilityDescriptor, BindActor {module, values}, RemoveActor {module}, HealthRequest
 *   from the host, and from actors (wrapped by the host as {actor, binding, msg: bin}):
 *   CreateContainer, RemoveContainer, ListObjects, GetObjectInfo, RemoveObject, UploadChunk,
 *   DownloadChunk.
 *
 * The host sends BindActor to every instance, including every fresh one for each binding in
 * force, so binding is idempotent and the table below is per instance; all instances share the
 * files. The actor field of a call is set by the host, never by the actor, which is what makes
 * keying the isolation on it sound.
 */
#include "wasi.h"

#define MAX_ACTORS 64
#define MAX_ACTOR_KEY 64 /* actor keys are 56 characters; a little room for other hosts */
#define MAX_SPACE 64
#define MAX_CHUNK 1048576
#define ROOT "/blobs"

#define SPACE_RULE "a space is 1 to 64 of A-Z a-z 0-9 . _ -, and not '.' or '..'"

typedef struct {
    uint8_t actor[MAX_ACTOR_KEY];
    uint32_t actor_len;
    uint8_t space[MAX_SPACE];
    uint32_t space_len;
    int used;
} binding;

static binding bindings[MAX_ACTORS];

/* One actor call, unwrapped: whose space it works in and the actor's own message. */
typedef struct {
    wapc_bytes actor;
    wapc_bytes space;
    wapc_bytes msg;
} call;

static int space_ok(wapc_bytes space) {
    if (space.len == 0 || space.len > MAX_SPACE) return 0;
    if (wapc_bytes_eq(space, ".") || wapc_bytes_eq(space, "..")) return 0;
    for (uint32_t i = 0; i < space.len; i++) {
        uint8_t c = space.ptr[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok) return 0;
    }
    return 1;
}

static binding *find_binding(wapc_bytes actor) {
    for (uint32_t i = 0; i < MAX_ACTORS; i++) {
        binding *b = &bindings[i];
        if (b->used && b->actor_len == actor.len && memcmp(b->actor, actor.ptr, actor.len) == 0) {
            return b;
        }
    }
    return NULL;
}

/* ---- paths and replies ------------------------------------------------------------------- */

/* "/blobs/{space}[/{container}[/{id}]]" (a NULL part ends the path). */
static wapc_bytes store_path(wapc_bytes space, const wapc_bytes *container, const wapc_bytes *id) {
    wapc_buf b = {0};
    wapc_buf_cstr(&b, ROOT "/");
    wapc_buf_bytes(&b, space);
    if (container != NULL) {
        wapc_buf_byte(&b, '/');
        wapc_buf_bytes(&b, *container);
        if (id != NULL) {
            wapc_buf_byte(&b, '/');
            wapc_buf_bytes(&b, *id);
        }
    }
    return wapc_buf_view(&b);
}

static int fail_no_container(wapc_bytes container) {
    wapc_buf b = {0};
    wapc_buf_cstr(&b, "no container ");
    wasi_put_escaped(&b, container);
    return wapc_fail(b.data, b.len);
}

/* A blob that is not there: says whether its container is missing too. */
static int fail_no_blob(const call *c, wapc_bytes container, wapc_bytes id) {
    wasi_filestat st;
    int err = wasi_stat(store_path(c->space, &container, NULL), &st);
    if (err != WASI_ESUCCESS || st.filetype != WASI_FILETYPE_DIRECTORY) {
        return fail_no_container(container);
    }
    wapc_buf b = {0};
    wapc_buf_cstr(&b, "no blob ");
    wasi_put_escaped(&b, id);
    wapc_buf_cstr(&b, " in container ");
    wasi_put_escaped(&b, container);
    return wapc_fail(b.data, b.len);
}

/* Checks that the container directory exists (operations on blobs never create it). */
static int need_container(const call *c, wapc_bytes container) {
    wasi_filestat st;
    wapc_bytes path = store_path(c->space, &container, NULL);
    int err = wasi_stat(path, &st);
    if (err == WASI_ENOENT || (err == WASI_ESUCCESS && st.filetype != WASI_FILETYPE_DIRECTORY)) {
        return fail_no_container(container);
    }
    if (err != WASI_ESUCCESS) return wasi_fail("stat", path, err);
    return 1;
}

/* Creates a directory unless it exists. A read-only grant refuses mkdir even for a directory
 * that is there, so existing is checked after a failure, not only on EEXIST. */
static int ensure_dir(const char *verb, wapc_bytes path) {
    int err = wasi_mkdir(path);
    if (err == WASI_ESUCCESS) return 1;
    wasi_filestat st;
    if (wasi_stat(path, &st) == WASI_ESUCCESS) {
        if (st.filetype == WASI_FILETYPE_DIRECTORY) return 1;
        err = WASI_ENOTDIR;
    }
    return wasi_fail(verb, path, err);
}

/* {id, container, byteSize}: the reply of most blob operations. */
static void write_blob_info(wapc_buf *out, wapc_bytes id, wapc_bytes container, uint64_t size) {
    mp_write_map(out, 3);
    mp_write_cstr(out, "id");
    mp_write_str(out, id);
    mp_write_cstr(out, "container");
    mp_write_str(out, container);
    mp_write_cstr(out, "byteSize");
    mp_write_uint(out, size);
}

static int respond_blob_info(wapc_bytes id, wapc_bytes container, uint64_t size) {
    wapc_buf out = {0};
    write_blob_info(&out, id, container, size);
    return wapc_respond_buf(&out);
}

static int respond_id(wapc_bytes id) {
    wapc_buf out = {0};
    mp_write_map(&out, 1);
    mp_write_cstr(&out, "id");
    mp_write_str(&out, id);
    return wapc_respond_buf(&out);
}

static int fail_op(const char *op, const char *detail) {
    wapc_buf b = {0};
    wapc_buf_cstr(&b, op);
    wapc_buf_cstr(&b, ": ");
    wapc_buf_cstr(&b, detail);
    return wapc_fail(b.data, b.len);
}

/* ---- host operations --------------------------------------------------------------------- */

static int handle_descriptor(const uint8_t *payload, uint32_t len) {
    (void)payload;
    (void)len;
    wapc_buf out = {0};
    mp_write_map(&out, 5);
    mp_write_cstr(&out, "id");
    mp_write_cstr(&out, "wascc:blobstore");
    mp_write_cstr(&out, "name");
    mp_write_cstr(&out, "wascc blob store");
    mp_write_cstr(&out, "version");
    mp_write_cstr(&out, "0.1.0");
    mp_write_cstr(&out, "revision");
    mp_write_uint(&out, 1);
    mp_write_cstr(&out, "long_description");
    mp_write_cstr(&out,
                  "Blobs kept as files in the directory granted as " ROOT ": "
                  ROOT "/SPACE/CONTAINER/BLOB, where SPACE is the binding's SPACE value or "
                  "else the actor's key, so actors are isolated unless they share a SPACE.");
    return wapc_respond_buf(&out);
}

/* Finds SPACE among the binding values (host keys "__wascc_..." and others are ignored). */
static int find_space(wapc_bytes values, wapc_bytes *space, int *given) {
    *given = 0;
    if (values.len == 0) return 1;
    mp_reader r;
    mp_reader_init(&r, values.ptr, values.len);
    uint32_t pairs;
    if (!mp_read_map(&r, &pairs)) return fail_op("BindActor", "field 'values' must be a map");
    for (uint32_t i = 0; i < pairs; i++) {
        wapc_bytes key = {NULL, 0};
        if (mp_read_str(&r, &key) && wapc_bytes_eq(key, "SPACE")) {
            if (!mp_read_str(&r, space)) {
                return fail_op("BindActor", "the binding value SPACE must be a string");
            }
            *given = 1;
            continue;
        }
        if (r.err || (key.ptr == NULL && !mp_skip(&r)) || !mp_skip(&r)) {
            return fail_op("BindActor", "field 'values' is truncated or malformed");
        }
    }
    return 1;
}

static void log_info(wapc_bytes line) {
    wapc_buf msg = {0};
    mp_write_map(&msg, 2);
    mp_write_cstr(&msg, "level");
    mp_write_int(&msg, 3);
    mp_write_cstr(&msg, "body");
    mp_write_str(&msg, line);
    wapc_bytes reply;
    /* Best effort: a host without wascc:logging for us must not make binding fail. */
    (void)wapc_host_call(wapc_cstr("default"), wapc_cstr("wascc:logging"), wapc_cstr("WriteLog"),
                         wapc_buf_view(&msg), &reply);
}

static int handle_bind(const uint8_t *payload, uint32_t len) {
    wapc_bytes module = {NULL, 0}, values = {NULL, 0};
    mpf_field fields[] = {
        {"module", MPF_STR, &module, 1, 0},
        {"values", MPF_RAW, &values, 0, 0},
    };
    if (!mpf_decode_request("BindActor", payload, len, fields, MPF_COUNT(fields))) return 0;
    if (module.len == 0 || module.len > MAX_ACTOR_KEY) {
        return fail_op("BindActor", "field 'module' must be an actor key of 1 to 64 bytes");
    }
    wapc_bytes space;
    int given;
    if (!find_space(values, &space, &given)) return 0;
    if (!given) space = module;
    if (!space_ok(space)) {
        wapc_buf b = {0};
        wapc_buf_cstr(&b, given ? "BindActor: SPACE " : "BindActor: actor key ");
        wasi_put_quoted(&b, space);
        wapc_buf_cstr(&b, given ? " is not allowed: " SPACE_RULE
                                : " cannot name a space (set SPACE): " SPACE_RULE);
        return wapc_fail(b.data, b.len);
    }

    binding *slot = find_binding(module);
    for (uint32_t i = 0; slot == NULL && i < MAX_ACTORS; i++) {
        if (!bindings[i].used) slot = &bindings[i];
    }
    if (slot == NULL) {
        wapc_buf b = {0};
        wapc_buf_cstr(&b, "BindActor: cannot bind actor ");
        wasi_put_escaped(&b, module);
        wapc_buf_cstr(&b, ": this provider already serves its limit of 64 actors");
        return wapc_fail(b.data, b.len);
    }

    if (!ensure_dir("create space", store_path(space, NULL, NULL))) return 0;

    memcpy(slot->actor, module.ptr, module.len);
    slot->actor_len = module.len;
    memcpy(slot->space, space.ptr, space.len);
    slot->space_len = space.len;
    slot->used = 1;

    wapc_buf line = {0};
    wapc_buf_cstr(&line, "blobstore: actor ");
    wasi_put_escaped(&line, module);
    wapc_buf_cstr(&line, " uses space ");
    wapc_buf_bytes(&line, space);
    log_info(wapc_buf_view(&line));
    return wapc_respond(NULL, 0);
}

static int handle_remove_actor(const uint8_t *payload, uint32_t len) {
    wapc_bytes module = {NULL, 0};
    mpf_field fields[] = {{"module", MPF_STR, &module, 1, 0}};
    if (!mpf_decode_request("RemoveActor", payload, len, fields, MPF_COUNT(fields))) return 0;
    binding *b = find_binding(module);
    if (b != NULL) b->used = 0; /* the files stay: unbinding is not deleting */
    return wapc_respond(NULL, 0);
}

static int handle_health(const uint8_t *payload, uint32_t len) {
    (void)payload;
    (void)len;
    return wapc_respond(NULL, 0);
}

/* ---- actor operations -------------------------------------------------------------------- */

/* Unwraps {actor, binding, msg} and finds the actor's space; refuses an actor not bound. */
static int unwrap(const char *op, const uint8_t *payload, uint32_t len, call *c) {
    wapc_bytes binding_name = {NULL, 0};
    c->actor = c->msg = wapc_bytes_of(NULL, 0);
    mpf_field fields[] = {
        {"actor", MPF_STR, &c->actor, 1, 0},
        {"binding", MPF_STR, &binding_name, 0, 0},
        {"msg", MPF_BIN, &c->msg, 0, 0},
    };
    if (!mpf_decode_request(op, payload, len, fields, MPF_COUNT(fields))) return 0;
    binding *b = find_binding(c->actor);
    if (b == NULL) {
        wapc_buf e = {0};
        wapc_buf_cstr(&e, op);
        wapc_buf_cstr(&e, ": actor ");
        wasi_put_quoted(&e, c->actor);
        wapc_buf_cstr(&e, " is not bound to this wascc:blobstore provider");
        return wapc_fail(e.data, e.len);
    }
    c->space = wapc_bytes_of(b->space, b->space_len);
    return 1;
}

/* Decodes the actor's own message. */
static int decode_msg(const char *op, const call *c, mpf_field *fields, uint32_t n) {
    return mpf_decode_request(op, c->msg.ptr, c->msg.len, fields, n);
}

static int check_chunk_size(const char *op, int64_t chunk_size) {
    if (chunk_size >= 1 && chunk_size <= MAX_CHUNK) return 1;
    wapc_buf b = {0};
    wapc_buf_cstr(&b, op);
    wapc_buf_cstr(&b, ": chunkSize ");
    wapc_buf_i64(&b, chunk_size);
    wapc_buf_cstr(&b, " is out of range (1 to 1048576)");
    return wapc_fail(b.data, b.len);
}

/* The byte offset of chunk `seq`; refuses negative numbers and offsets past 2^53. */
static int chunk_offset(const char *op, int64_t seq, int64_t chunk_size, uint64_t *offset) {
    if (seq >= 0 && seq <= (1ll << 53) / chunk_size) {
        *offset = (uint64_t)seq * (uint64_t)chunk_size;
        return 1;
    }
    wapc_buf b = {0};
    wapc_buf_cstr(&b, op);
    wapc_buf_cstr(&b, ": sequenceNo ");
    wapc_buf_i64(&b, seq);
    wapc_buf_cstr(&b, " is out of range");
    return wapc_fail(b.data, b.len);
}

static int handle_create_container(const uint8_t *payload, uint32_t len) {
    call c;
    wapc_bytes id = {NULL, 0};
    mpf_field fields[] = {{"id", MPF_STR, &id, 1, 0}};
    if (!unwrap("CreateContainer", payload, len, &c)) return 0;
    if (!decode_msg("CreateContainer", &c, fields, MPF_COUNT(fields))) return 0;
    if (!wasi_check_name("container id", id)) return 0;
    /* The space may have been removed behind the provider's back since BindActor made it. */
    if (!ensure_dir("create space", store_path(c.space, NULL, NULL))) return 0;
    if (!ensure_dir("create container", store_path(c.space, &id, NULL))) return 0;
    return respond_id(id);
}

static int handle_remove_container(const uint8_t *payload, uint32_t len) {
    call c;
    wapc_bytes id = {NULL, 0};
    mpf_field fields[] = {{"id", MPF_STR, &id, 1, 0}};
    if (!unwrap("RemoveContainer", payload, len, &c)) return 0;
    if (!decode_msg("RemoveContainer", &c, fields, MPF_COUNT(fields))) return 0;
    if (!wasi_check_name("container id", id)) return 0;
    wapc_bytes path = store_path(c.space, &id, NULL);
    wasi_entry *entries;
    uint32_t count;
    int err = wasi_list_dir(path, &entries, &count);
    if (err == WASI_ENOENT || err == WASI_ENOTDIR) return fail_no_container(id);
    if (err != WASI_ESUCCESS) return wasi_fail("list container", path, err);
    for (uint32_t i = 0; i < count; i++) {
        wapc_bytes blob = store_path(c.space, &id, &entries[i].name);
        err = entries[i].type == WASI_FILETYPE_DIRECTORY ? wasi_rmdir(blob) : wasi_unlink(blob);
        if (err != WASI_ESUCCESS && err != WASI_ENOENT) return wasi_fail("remove", blob, err);
    }
    err = wasi_rmdir(path);
    if (err != WASI_ESUCCESS) return wasi_fail("remove container", path, err);
    return respond_id(id);
}

static int handle_list_objects(const uint8_t *payload, uint32_t len) {
    call c;
    wapc_bytes id = {NULL, 0};
    mpf_field fields[] = {{"id", MPF_STR, &id, 1, 0}};
    if (!unwrap("ListObjects", payload, len, &c)) return 0;
    if (!decode_msg("ListObjects", &c, fields, MPF_COUNT(fields))) return 0;
    if (!wasi_check_name("container id", id)) return 0;
    wapc_bytes path = store_path(c.space, &id, NULL);
    int32_t dirfd;
    int err = wasi_open(path, WASI_O_DIRECTORY, WASI_RIGHTS_DIR, &dirfd);
    if (err == WASI_ENOENT || err == WASI_ENOTDIR) return fail_no_container(id);
    if (err != WASI_ESUCCESS) return wasi_fail("list container", path, err);
    wasi_entry *entries;
    uint32_t count;
    err = wasi_list_fd(dirfd, &entries, &count);
    if (err != WASI_ESUCCESS) {
        wasi_fd_close(dirfd);
        return wasi_fail("list container", path, err);
    }
    /* Sizes first, so that the array's length is known before it is written. A name that is
     * not a regular file (or vanished meanwhile) is not a blob. */
    uint64_t *sizes = (uint64_t *)wapc_alloc(count * (uint32_t)sizeof(uint64_t));
    uint32_t blobs = 0;
    for (uint32_t i = 0; i < count; i++) {
        wasi_filestat st;
        wapc_bytes name = entries[i].name;
        err = wasi_path_filestat_get(dirfd, WASI_LOOKUP_SYMLINK_FOLLOW, name.ptr, name.len, &st);
        if (err != WASI_ESUCCESS || st.filetype != WASI_FILETYPE_REGULAR_FILE) {
            entries[i].name.ptr = NULL;
            continue;
        }
        sizes[i] = st.size;
        blobs++;
    }
    wasi_fd_close(dirfd);
    wapc_buf out = {0};
    mp_write_map(&out, 1);
    mp_write_cstr(&out, "blobs");
    mp_write_array(&out, blobs);
    for (uint32_t i = 0; i < count; i++) {
        if (entries[i].name.ptr != NULL) write_blob_info(&out, entries[i].name, id, sizes[i]);
    }
    return wapc_respond_buf(&out);
}

/* The decoded {id, container} of GetObjectInfo and RemoveObject, names checked. */
static int decode_blob_ref(const char *op, const call *c, wapc_bytes *id, wapc_bytes *container) {
    mpf_field fields[] = {
        {"id", MPF_STR, id, 1, 0},
        {"container", MPF_STR, container, 1, 0},
    };
    if (!decode_msg(op, c, fields, MPF_COUNT(fields))) return 0;
    return wasi_check_name("container id", *container) && wasi_check_name("blob id", *id);
}

/* Stats a blob: 1 with its size, or 0 with the guest error stored. */
static int stat_blob(const call *c, wapc_bytes container, wapc_bytes id, uint64_t *size) {
    wapc_bytes path = store_path(c->space, &container, &id);
    wasi_filestat st;
    int err = wasi_stat(path, &st);
    if (err == WASI_ENOENT || err == WASI_ENOTDIR ||
        (err == WASI_ESUCCESS && st.filetype != WASI_FILETYPE_REGULAR_FILE)) {
        return fail_no_blob(c, container, id);
    }
    if (err != WASI_ESUCCESS) return wasi_fail("stat", path, err);
    *size = st.size;
    return 1;
}

static int handle_get_object_info(const uint8_t *payload, uint32_t len) {
    call c;
    wapc_bytes id = {NULL, 0}, container = {NULL, 0};
    uint64_t size;
    if (!unwrap("GetObjectInfo", payload, len, &c)) return 0;
    if (!decode_blob_ref("GetObjectInfo", &c, &id, &container)) return 0;
    if (!stat_blob(&c, container, id, &size)) return 0;
    return respond_blob_info(id, container, size);
}

static int handle_remove_object(const uint8_t *payload, uint32_t len) {
    call c;
    wapc_bytes id = {NULL, 0}, container = {NULL, 0};
    uint64_t size;
    if (!unwrap("RemoveObject", payload, len, &c)) return 0;
    if (!decode_blob_ref("RemoveObject", &c, &id, &container)) return 0;
    if (!stat_blob(&c, container, id, &size)) return 0;
    wapc_bytes path = store_path(c.space, &container, &id);
    int err = wasi_unlink(path);
    if (err == WASI_ENOENT) return fail_no_blob(&c, container, id);
    if (err != WASI_ESUCCESS) return wasi_fail("remove", path, err);
    return respond_blob_info(id, container, size);
}

static int handle_upload_chunk(const uint8_t *payload, uint32_t len) {
    call c;
    int64_t seq = 0, total = 0, chunk_size = 0;
    wapc_bytes container = {NULL, 0}, id = {NULL, 0}, bytes = {NULL, 0};
    mpf_field fields[] = {
        {"sequenceNo", MPF_INT, &seq, 1, 0},
        {"container", MPF_STR, &container, 1, 0},
        {"id", MPF_STR, &id, 1, 0},
        {"totalBytes", MPF_INT, &total, 0, 0},
        {"chunkSize", MPF_INT, &chunk_size, 1, 0},
        {"chunkBytes", MPF_BIN, &bytes, 1, 0},
    };
    if (!unwrap("UploadChunk", payload, len, &c)) return 0;
    if (!decode_msg("UploadChunk", &c, fields, MPF_COUNT(fields))) return 0;
    if (!wasi_check_name("container id", container) || !wasi_check_name("blob id", id)) return 0;
    if (!check_chunk_size("UploadChunk", chunk_size)) return 0;
    if (bytes.len > chunk_size) {
        return fail_op("UploadChunk", "chunkBytes is longer than chunkSize");
    }
    if (total < 0) return fail_op("UploadChunk", "totalBytes must not be negative");
    uint64_t offset;
    if (!chunk_offset("UploadChunk", seq, chunk_size, &offset)) return 0;
    if (!need_container(&c, container)) return 0;

    /* Chunk 0 starts the blob afresh; later chunks only write into one that exists. */
    wapc_bytes path = store_path(c.space, &container, &id);
    uint32_t oflags = seq == 0 ? WASI_O_CREAT | WASI_O_TRUNC : 0;
    int32_t fd;
    int err = wasi_open(path, oflags, WASI_RIGHTS_WRITE, &fd);
    if (err == WASI_ENOENT) return fail_no_blob(&c, container, id);
    if (err != WASI_ESUCCESS) return wasi_fail("write", path, err);
    uint64_t size = 0;
    err = wasi_pwrite_fd(fd, bytes, offset);
    if (err == WASI_ESUCCESS) err = wasi_fd_size(fd, &size);
    wasi_fd_close(fd);
    if (err != WASI_ESUCCESS) return wasi_fail("write", path, err);
    return respond_blob_info(id, container, size);
}

static int handle_download_chunk(const uint8_t *payload, uint32_t len) {
    call c;
    int64_t seq = 0, chunk_size = 0;
    wapc_bytes container = {NULL, 0}, id = {NULL, 0};
    mpf_field fields[] = {
        {"sequenceNo", MPF_INT, &seq, 1, 0},
        {"container", MPF_STR, &container, 1, 0},
        {"id", MPF_STR, &id, 1, 0},
        {"chunkSize", MPF_INT, &chunk_size, 1, 0},
    };
    if (!unwrap("DownloadChunk", payload, len, &c)) return 0;
    if (!decode_msg("DownloadChunk", &c, fields, MPF_COUNT(fields))) return 0;
    if (!wasi_check_name("container id", container) || !wasi_check_name("blob id", id)) return 0;
    if (!check_chunk_size("DownloadChunk", chunk_size)) return 0;
    uint64_t offset;
    if (!chunk_offset("DownloadChunk", seq, chunk_size, &offset)) return 0;

    wapc_bytes path = store_path(c.space, &container, &id);
    int32_t fd;
    int err = wasi_open(path, 0, WASI_RIGHTS_READ, &fd);
    if (err == WASI_ENOENT || err == WASI_ENOTDIR) return fail_no_blob(&c, container, id);
    if (err != WASI_ESUCCESS) return wasi_fail("read", path, err);
    wasi_filestat st;
    err = wasi_fd_filestat_get(fd, &st);
    if (err != WASI_ESUCCESS || st.filetype != WASI_FILETYPE_REGULAR_FILE) {
        wasi_fd_close(fd);
        if (err != WASI_ESUCCESS) return wasi_fail("stat", path, err);
        return fail_no_blob(&c, container, id);
    }
    uint32_t want = 0, got = 0;
    if (offset < st.size) {
        uint64_t left = st.size - offset;
        want = left < (uint64_t)chunk_size ? (uint32_t)left : (uint32_t)chunk_size;
    }
    uint8_t *chunk = (uint8_t *)wapc_alloc(want);
    err = wasi_pread_full(fd, chunk, want, offset, &got);
    wasi_fd_close(fd);
    if (err != WASI_ESUCCESS) return wasi_fail("read", path, err);

    wapc_buf out = {0};
    wapc_buf_reserve(&out, got + 128 + container.len + id.len);
    mp_write_map(&out, 6);
    mp_write_cstr(&out, "sequenceNo");
    mp_write_int(&out, seq);
    mp_write_cstr(&out, "container");
    mp_write_str(&out, container);
    mp_write_cstr(&out, "id");
    mp_write_str(&out, id);
    mp_write_cstr(&out, "totalBytes");
    mp_write_uint(&out, st.size);
    mp_write_cstr(&out, "chunkSize");
    mp_write_int(&out, chunk_size);
    mp_write_cstr(&out, "chunkBytes");
    mp_write_bin(&out, wapc_bytes_of(chunk, got));
    return wapc_respond_buf(&out);
}

static void actor_init(void) {
    wapc_register("GetCapabilityDescriptor", handle_descriptor);
    wapc_register("BindActor", handle_bind);
    wapc_register("RemoveActor", handle_remove_actor);
    wapc_register("HealthRequest", handle_health);
    wapc_register("CreateContainer", handle_create_container);
    wapc_register("RemoveContainer", handle_remove_container);
    wapc_register("ListObjects", handle_list_objects);
    wapc_register("GetObjectInfo", handle_get_object_info);
    wapc_register("RemoveObject", handle_remove_object);
    wapc_register("UploadChunk", handle_upload_chunk);
    wapc_register("DownloadChunk", handle_download_chunk);
}
