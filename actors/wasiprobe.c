/*
 * wasiprobe - does exactly what it is asked with WASI, for the tests of the host's WASI grants.
 *
 * Every message is msgpack. A failure is the guest error "VERB PATH: TEXT (errno N)" (or
 * "VERB PATH: no granted directory holds PATH"), so the tests can tell what the sandbox said.
 *
 *   Read {path}              -> bin      the whole file
 *   Write {path, data: bin}  -> {written: int}   creates or truncates
 *   ReadAt {fd: int, path}   -> bin      path_open on that raw descriptor with the path as given
 *                                        (absolute paths, or fd 3 without the preopen lookup)
 *   List {path}              -> [str]    the directory's names, sorted, without . and ..
 *   Mkdir {path}             -> empty
 *   Remove {path}            -> empty    unlinks a file
 *   Env                      -> {str: str}   every environment variable
 *   Args                     -> [str]    every argument
 *   Preopens                 -> [str]    the guest names of the preopened directories
 *   Print {stdout, stderr}   -> empty    writes each non-empty one to fd 1 / fd 2
 */
#include "wasi.h"

/* Decodes a request that holds just {path}. */
static int decode_path(const char *op, const uint8_t *payload, uint32_t len, wapc_bytes *path) {
    mpf_field fields[] = {{"path", MPF_STR, path, 1, 0}};
    return mpf_decode_request(op, payload, len, fields, MPF_COUNT(fields));
}

static int respond_bin(wapc_bytes data) {
    wapc_buf out = {0};
    wapc_buf_reserve(&out, data.len + 5);
    mp_write_bin(&out, data);
    return wapc_respond_buf(&out);
}

static int handle_read(const uint8_t *payload, uint32_t len) {
    wapc_bytes path;
    if (!decode_path("Read", payload, len, &path)) return 0;
    wapc_bytes data;
    int err = wasi_read_file(path, &data);
    if (err != WASI_ESUCCESS) return wasi_fail("read", path, err);
    return respond_bin(data);
}

static int handle_write(const uint8_t *payload, uint32_t len) {
    wapc_bytes path, data;
    mpf_field fields[] = {
        {"path", MPF_STR, &path, 1, 0},
        {"data", MPF_BIN, &data, 1, 0},
    };
    if (!mpf_decode_request("Write", payload, len, fields, MPF_COUNT(fields))) return 0;
    int err = wasi_write_file(path, data);
    if (err != WASI_ESUCCESS) return wasi_fail("write", path, err);
    wapc_buf out = {0};
    mp_write_map(&out, 1);
    mp_write_cstr(&out, "written");
    mp_write_uint(&out, data.len);
    return wapc_respond_buf(&out);
}

static int handle_read_at(const uint8_t *payload, uint32_t len) {
    int64_t dirfd = 0;
    wapc_bytes path;
    mpf_field fields[] = {
        {"fd", MPF_INT, &dirfd, 1, 0},
        {"path", MPF_STR, &path, 1, 0},
    };
    if (!mpf_decode_request("ReadAt", payload, len, fields, MPF_COUNT(fields))) return 0;
    if (dirfd < 0 || dirfd > 0x7fffffff) return wasi_fail("readat", path, WASI_EBADF);
    int32_t fd;
    int err = wasi_open_at((int32_t)dirfd, path, 0, WASI_RIGHTS_READ, &fd);
    if (err != WASI_ESUCCESS) return wasi_fail("readat", path, err);
    wapc_bytes data;
    err = wasi_read_fd(fd, &data);
    wasi_fd_close(fd);
    if (err != WASI_ESUCCESS) return wasi_fail("readat", path, err);
    return respond_bin(data);
}

static int handle_list(const uint8_t *payload, uint32_t len) {
    wapc_bytes path;
    if (!decode_path("List", payload, len, &path)) return 0;
    wasi_entry *entries;
    uint32_t count;
    int err = wasi_list_dir(path, &entries, &count);
    if (err != WASI_ESUCCESS) return wasi_fail("list", path, err);
    wapc_buf out = {0};
    mp_write_array(&out, count);
    for (uint32_t i = 0; i < count; i++) mp_write_str(&out, entries[i].name);
    return wapc_respond_buf(&out);
}

static int handle_mkdir(const uint8_t *payload, uint32_t len) {
    wapc_bytes path;
    if (!decode_path("Mkdir", payload, len, &path)) return 0;
    int err = wasi_mkdir(path);
    if (err != WASI_ESUCCESS) return wasi_fail("mkdir", path, err);
    return wapc_respond(NULL, 0);
}

static int handle_remove(const uint8_t *payload, uint32_t len) {
    wapc_bytes path;
    if (!decode_path("Remove", payload, len, &path)) return 0;
    int err = wasi_unlink(path);
    if (err != WASI_ESUCCESS) return wasi_fail("remove", path, err);
    return wapc_respond(NULL, 0);
}

static int handle_env(const uint8_t *payload, uint32_t len) {
    (void)payload;
    (void)len;
    wapc_bytes *vars;
    uint32_t count;
    int err = wasi_environ(&vars, &count);
    if (err != WASI_ESUCCESS) return wasi_fail("env", wapc_cstr("environ"), err);
    wapc_buf out = {0};
    mp_write_map(&out, count);
    for (uint32_t i = 0; i < count; i++) {
        wapc_bytes v = vars[i];
        uint32_t eq = 0;
        while (eq < v.len && v.ptr[eq] != '=') eq++;
        mp_write_str(&out, wapc_bytes_of(v.ptr, eq));
        uint32_t at = eq < v.len ? eq + 1 : v.len;
        mp_write_str(&out, wapc_bytes_of(v.ptr + at, v.len - at));
    }
    return wapc_respond_buf(&out);
}

static int respond_strings(const wapc_bytes *items, uint32_t count) {
    wapc_buf out = {0};
    mp_write_array(&out, count);
    for (uint32_t i = 0; i < count; i++) mp_write_str(&out, items[i]);
    return wapc_respond_buf(&out);
}

static int handle_args(const uint8_t *payload, uint32_t len) {
    (void)payload;
    (void)len;
    wapc_bytes *args;
    uint32_t count;
    int err = wasi_args(&args, &count);
    if (err != WASI_ESUCCESS) return wasi_fail("args", wapc_cstr("argv"), err);
    return respond_strings(args, count);
}

static int handle_preopens(const uint8_t *payload, uint32_t len) {
    (void)payload;
    (void)len;
    wasi_preopen *list;
    uint32_t count = wasi_preopens(&list);
    wapc_buf out = {0};
    mp_write_array(&out, count);
    for (uint32_t i = 0; i < count; i++) mp_write_str(&out, list[i].name);
    return wapc_respond_buf(&out);
}

static int handle_print(const uint8_t *payload, uint32_t len) {
    wapc_bytes out = {NULL, 0}, err = {NULL, 0};
    mpf_field fields[] = {
        {"stdout", MPF_STR, &out, 0, 0},
        {"stderr", MPF_STR, &err, 0, 0},
    };
    if (!mpf_decode_request("Print", payload, len, fields, MPF_COUNT(fields))) return 0;
    int e = out.len ? wasi_write_fd(1, out) : WASI_ESUCCESS;
    if (e != WASI_ESUCCESS) return wasi_fail("print", wapc_cstr("stdout"), e);
    e = err.len ? wasi_write_fd(2, err) : WASI_ESUCCESS;
    if (e != WASI_ESUCCESS) return wasi_fail("print", wapc_cstr("stderr"), e);
    return wapc_respond(NULL, 0);
}

static void actor_init(void) {
    wapc_register("Read", handle_read);
    wapc_register("Write", handle_write);
    wapc_register("ReadAt", handle_read_at);
    wapc_register("List", handle_list);
    wapc_register("Mkdir", handle_mkdir);
    wapc_register("Remove", handle_remove);
    wapc_register("Env", handle_env);
    wapc_register("Args", handle_args);
    wapc_register("Preopens", handle_preopens);
    wapc_register("Print", handle_print);
}
