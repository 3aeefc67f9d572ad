/*
 * wasi.h - WASI (wasi_snapshot_preview1) for freestanding C actors and providers, without
 * wasi-libc.
 *
 * wasi-libc brings its own malloc over the heap that wapc.h's call arena owns, so the samples
 * that use WASI declare the raw preview1 imports here instead and keep everything in the
 * arena. Include it after (or instead of) wapc.h/msgpack.h; it includes msgpack.h.
 *
 * Paths. A guest path such as "/data/a/b.txt" is served by the preopened directory whose name
 * is its longest leading run of whole components ("/data"); the rest ("a/b.txt") is handed to
 * path_open exactly as given. Resolving ".." or symlinks is left to the host's sandbox on
 * purpose: it is the sandbox, not this header, that must refuse an escape.
 *
 * Errors are WASI errno values (wasi_strerror names them), plus WASI_ENOGRANT, our own, for a
 * path that no preopened directory holds.
 *
 * Two sections serve the WASI samples' messages rather than WASI itself: checking names that
 * become one path component, and decoding msgpack maps by a table of fields. Every one of
 * those samples needs both, and one copy here saves each of them its own.
 */
#ifndef WASCC_WASI_H
#define WASCC_WASI_H

#include "msgpack.h"

#define WASI_IMPORT(name) \
    __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))

/* ------------------------------------------------------------------------------------------ */
/* Types and constants of wasi_snapshot_preview1                                              */
/* ------------------------------------------------------------------------------------------ */

#define WASI_ESUCCESS 0
#define WASI_EACCES 2
#define WASI_EBADF 8
#define WASI_EEXIST 20
#define WASI_EFBIG 22
#define WASI_EINVAL 28
#define WASI_EIO 29
#define WASI_EISDIR 31
#define WASI_ELOOP 32
#define WASI_ENAMETOOLONG 37
#define WASI_ENOENT 44
#define WASI_ENOSPC 51
#define WASI_ENOSYS 52
#define WASI_ENOTDIR 54
#define WASI_ENOTEMPTY 55
#define WASI_ENOTSUP 58
#define WASI_EPERM 63
#define WASI_EROFS 69
#define WASI_EXDEV 75
#define WASI_ENOTCAPABLE 76
/* Not a WASI errno (those fit in 16 bits): no preopened directory holds the path. */
#define WASI_ENOGRANT 0x10000

#define WASI_RIGHT_FD_READ (1ull << 1)
#define WASI_RIGHT_FD_SEEK (1ull << 2)
#define WASI_RIGHT_FD_TELL (1ull << 5)
#define WASI_RIGHT_FD_WRITE (1ull << 6)
#define WASI_RIGHT_PATH_OPEN (1ull << 13)
#define WASI_RIGHT_FD_READDIR (1ull << 14)
#define WASI_RIGHT_PATH_FILESTAT_GET (1ull << 18)
#define WASI_RIGHT_FD_FILESTAT_GET (1ull << 21)
#define WASI_RIGHT_FD_FILESTAT_SET_SIZE (1ull << 22)

/* Rights asked for when opening. Opens ask only for what they use, because a read-only grant
 * refuses an open that asks for any writing right, even one that then only reads. */
#define WASI_RIGHTS_READ \
    (WASI_RIGHT_FD_READ | WASI_RIGHT_FD_SEEK | WASI_RIGHT_FD_TELL | WASI_RIGHT_FD_FILESTAT_GET)
#define WASI_RIGHTS_WRITE \
    (WASI_RIGHTS_READ | WASI_RIGHT_FD_WRITE | WASI_RIGHT_FD_FILESTAT_SET_SIZE)
#define WASI_RIGHTS_DIR                                                                    \
    (WASI_RIGHT_FD_READDIR | WASI_RIGHT_PATH_OPEN | WASI_RIGHT_PATH_FILESTAT_GET |         \
     WASI_RIGHT_FD_FILESTAT_GET)

#define WASI_LOOKUP_SYMLINK_FOLLOW 1u

#define WASI_O_CREAT 1u
#define WASI_O_DIRECTORY 2u
#define WASI_O_EXCL 4u
#define WASI_O_TRUNC 8u

#define WASI_FILETYPE_DIRECTORY 3
#define WASI_FILETYPE_REGULAR_FILE 4

#define WASI_PREOPENTYPE_DIR 0

typedef struct {
    uint8_t *buf;
    uint32_t len;
} wasi_iovec;

typedef struct {
    const uint8_t *buf;
    uint32_t len;
} wasi_ciovec;

typedef struct {
    uint8_t tag;
    uint32_t name_len;
} wasi_prestat;

typedef struct {
    uint64_t dev;
    uint64_t ino;
    uint8_t filetype;
    uint64_t nlink;
    uint64_t size;
    uint64_t atim;
    uint64_t mtim;
    uint64_t ctim;
} wasi_filestat;

typedef struct {
    uint64_t next; /* cookie of the entry after this one */
    uint64_t ino;
    uint32_t namlen; /* the name follows the struct, not NUL-terminated */
    uint8_t type;
} wasi_dirent;

/* The host reads and writes these records at these offsets: the C layout must match. */
_Static_assert(sizeof(wasi_iovec) == 8, "wasi iovec layout");
_Static_assert(sizeof(wasi_prestat) == 8 && offsetof(wasi_prestat, name_len) == 4,
               "wasi prestat layout");
_Static_assert(sizeof(wasi_filestat) == 64 && offsetof(wasi_filestat, filetype) == 16 &&
                   offsetof(wasi_filestat, size) == 32,
               "wasi filestat layout");
_Static_assert(sizeof(wasi_dirent) == 24 && offsetof(wasi_dirent, type) == 20,
               "wasi dirent layout");

/* ------------------------------------------------------------------------------------------ */
/* Imports. Each returns a WASI errno.                                                         */
/* ------------------------------------------------------------------------------------------ */

WASI_IMPORT("fd_prestat_get") int32_t wasi_fd_prestat_get(int32_t fd, wasi_prestat *out);
WASI_IMPORT("fd_prestat_dir_name")
int32_t wasi_fd_prestat_dir_name(int32_t fd, uint8_t *path, uint32_t len);
WASI_IMPORT("path_open")
int32_t wasi_path_open(int32_t dirfd, uint32_t lookupflags, const uint8_t *path, uint32_t len,
                       uint32_t oflags, uint64_t rights, uint64_t rights_inheriting,
                       uint32_t fdflags, int32_t *fd);
WASI_IMPORT("fd_read")
int32_t wasi_fd_read(int32_t fd, const wasi_iovec *iovs, uint32_t count, uint32_t *nread);
WASI_IMPORT("fd_pread")
int32_t wasi_fd_pread(int32_t fd, const wasi_iovec *iovs, uint32_t count, uint64_t offset,
                      uint32_t *nread);
WASI_IMPORT("fd_write")
int32_t wasi_fd_write(int32_t fd, const wasi_ciovec *iovs, uint32_t count, uint32_t *nwritten);
WASI_IMPORT("fd_pwrite")
int32_t wasi_fd_pwrite(int32_t fd, const wasi_ciovec *iovs, uint32_t count, uint64_t offset,
                       uint32_t *nwritten);
WASI_IMPORT("fd_close") int32_t wasi_fd_close(int32_t fd);
WASI_IMPORT("fd_filestat_get") int32_t wasi_fd_filestat_get(int32_t fd, wasi_filestat *out);
WASI_IMPORT("path_filestat_get")
int32_t wasi_path_filestat_get(int32_t dirfd, uint32_t lookupflags, const uint8_t *path,
                               uint32_t len, wasi_filestat *out);
WASI_IMPORT("path_create_directory")
int32_t wasi_path_create_directory(int32_t dirfd, const uint8_t *path, uint32_t len);
WASI_IMPORT("path_remove_directory")
int32_t wasi_path_remove_directory(int32_t dirfd, const uint8_t *path, uint32_t len);
WASI_IMPORT("path_unlink_file")
int32_t wasi_path_unlink_file(int32_t dirfd, const uint8_t *path, uint32_t len);
WASI_IMPORT("fd_readdir")
int32_t wasi_fd_readdir(int32_t fd, uint8_t *buf, uint32_t len, uint64_t cookie,
                        uint32_t *used);
WASI_IMPORT("environ_sizes_get") int32_t wasi_environ_sizes_get(uint32_t *count, uint32_t *size);
WASI_IMPORT("environ_get") int32_t wasi_environ_get(uint8_t **environ, uint8_t *buf);
WASI_IMPORT("args_sizes_get") int32_t wasi_args_sizes_get(uint32_t *count, uint32_t *size);
WASI_IMPORT("args_get") int32_t wasi_args_get(uint8_t **argv, uint8_t *buf);

/* ------------------------------------------------------------------------------------------ */
/* Error text                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static inline const char *wasi_strerror(int err) {
    switch (err) {
        case WASI_ESUCCESS: return "success";
        case WASI_EACCES: return "access denied";
        case WASI_EBADF: return "bad file descriptor";
        case WASI_EEXIST: return "already exists";
        case WASI_EFBIG: return "file too large";
        case WASI_EINVAL: return "invalid argument";
        case WASI_EIO: return "I/O error";
        case WASI_EISDIR: return "is a directory";
        case WASI_ELOOP: return "too many symbolic links";
        case WASI_ENAMETOOLONG: return "name too long";
        case WASI_ENOENT: return "no such file";
        case WASI_ENOSPC: return "no space left";
        case WASI_ENOSYS: return "not implemented";
        case WASI_ENOTDIR: return "not a directory";
        case WASI_ENOTEMPTY: return "directory not empty";
        case WASI_ENOTSUP: return "not supported";
        case WASI_EPERM: return "not permitted";
        case WASI_EROFS: return "read-only";
        case WASI_EXDEV: return "crosses devices";
        case WASI_ENOTCAPABLE: return "not permitted by the sandbox";
        default: return "error";
    }
}

/* Appends "VERB PATH: TEXT (errno N)", or for WASI_ENOGRANT "VERB PATH: no granted directory
 * holds PATH" (there is no errno to show). */
static inline void wasi_put_error(wapc_buf *b, const char *verb, wapc_bytes path, int err) {
    wapc_buf_cstr(b, verb);
    wapc_buf_byte(b, ' ');
    wapc_buf_bytes(b, path);
    wapc_buf_cstr(b, ": ");
    if (err == WASI_ENOGRANT) {
        wapc_buf_cstr(b, "no granted directory holds ");
        wapc_buf_bytes(b, path);
        return;
    }
    wapc_buf_cstr(b, wasi_strerror(err));
    wapc_buf_cstr(b, " (errno ");
    wapc_buf_i64(b, err);
    wapc_buf_byte(b, ')');
}

/* Stores the guest error of wasi_put_error and returns 0, like wapc_fail. */
static inline int wasi_fail(const char *verb, wapc_bytes path, int err) {
    wapc_buf b = {0};
    wasi_put_error(&b, verb, path, err);
    return wapc_fail(b.data, b.len);
}

/* ------------------------------------------------------------------------------------------ */
/* Preopened directories                                                                       */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    int32_t fd;
    wapc_bytes name; /* the guest path it was granted under, e.g. "/data" */
} wasi_preopen;

/* Preopens are numbered from 3 without gaps, and the first fd past them answers EBADF; the
 * bound only guards against a host that never does. */
#define WASI_MAX_PREOPENS 256

/* Lists the preopened directories (in the arena); returns their number. */
static inline uint32_t wasi_preopens(wasi_preopen **out) {
    wasi_preopen *list = NULL;
    uint32_t count = 0;
    for (int32_t fd = 3; fd < 3 + WASI_MAX_PREOPENS; fd++) {
        wasi_prestat st;
        int32_t err = wasi_fd_prestat_get(fd, &st);
        if (err == WASI_EBADF) break;
        if (err != WASI_ESUCCESS || st.tag != WASI_PREOPENTYPE_DIR) continue;
        uint8_t *name = (uint8_t *)wapc_alloc(st.name_len);
        if (wasi_fd_prestat_dir_name(fd, name, st.name_len) != WASI_ESUCCESS) continue;
        list = (wasi_preopen *)wapc_realloc(list, count * (uint32_t)sizeof *list,
                                            (count + 1) * (uint32_t)sizeof *list);
        list[count].fd = fd;
        list[count].name = wapc_bytes_of(name, st.name_len);
        count++;
    }
    *out = list;
    return count;
}

/* How many leading bytes of `path` the preopen `name` stands for (whole components only), or
 * -1 when it does not lead `path`. A trailing '/' in the name does not count. */
static inline int64_t wasi_preopen_match(wapc_bytes name, wapc_bytes path) {
    uint32_t n = name.len;
    while (n > 1 && name.ptr[n - 1] == '/') n--;
    if (n == 0 || n > path.len || memcmp(name.ptr, path.ptr, n) != 0) return -1;
    if (n == path.len || path.ptr[n] == '/' || name.ptr[n - 1] == '/') return n;
    return -1;
}

/*
 * Finds the preopen that holds the guest path `path`: sets *fd to it and *rest to the path
 * relative to it (the separating slashes dropped, "." for the directory itself; nothing else
 * is changed, ".." included). Returns WASI_ESUCCESS or WASI_ENOGRANT.
 */
static inline int wasi_resolve(wapc_bytes path, int32_t *fd, wapc_bytes *rest) {
    wasi_preopen *list;
    uint32_t count = wasi_preopens(&list);
    int64_t best = -1;
    for (uint32_t i = 0; i < count; i++) {
        int64_t n = wasi_preopen_match(list[i].name, path);
        if (n > best) {
            best = n;
            *fd = list[i].fd;
        }
    }
    if (best < 0) return WASI_ENOGRANT;
    uint32_t at = (uint32_t)best;
    while (at < path.len && path.ptr[at] == '/') at++;
    *rest = at < path.len ? wapc_bytes_of(path.ptr + at, path.len - at) : wapc_cstr(".");
    return WASI_ESUCCESS;
}

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* Opens `rel` relative to the directory `dirfd`, following symlinks (the sandbox refuses those
 * that lead out of it). */
static inline int wasi_open_at(int32_t dirfd, wapc_bytes rel, uint32_t oflags, uint64_t rights,
                               int32_t *fd) {
    return wasi_path_open(dirfd, WASI_LOOKUP_SYMLINK_FOLLOW, rel.ptr, rel.len, oflags, rights,
                          rights, 0, fd);
}

/* Opens the guest path `path` (see wasi_resolve). */
static inline int wasi_open(wapc_bytes path, uint32_t oflags, uint64_t rights, int32_t *fd) {
    int32_t dirfd;
    wapc_bytes rel;
    int err = wasi_resolve(path, &dirfd, &rel);
    if (err != WASI_ESUCCESS) return err;
    return wasi_open_at(dirfd, rel, oflags, rights, fd);
}

/* Reads up to `len` bytes at `offset`, stopping early only at the end of the file. */
static inline int wasi_pread_full(int32_t fd, uint8_t *buf, uint32_t len, uint64_t offset,
                                  uint32_t *got) {
    *got = 0;
    while (*got < len) {
        wasi_iovec iov = {buf + *got, len - *got};
        uint32_t n = 0;
        int err = wasi_fd_pread(fd, &iov, 1, offset + *got, &n);
        if (err != WASI_ESUCCESS) return err;
        if (n == 0) break;
        *got += n;
    }
    return WASI_ESUCCESS;
}

/* Reads from `fd`'s position to the end of the file into the arena. The size is not asked
 * first: a file may grow or shrink while it is read. A directory is EISDIR (fd_read itself
 * would answer EBADF, which misleads). */
static inline int wasi_read_fd(int32_t fd, wapc_bytes *out) {
    wasi_filestat st;
    int err = wasi_fd_filestat_get(fd, &st);
    if (err != WASI_ESUCCESS) return err;
    if (st.filetype == WASI_FILETYPE_DIRECTORY) return WASI_EISDIR;
    wapc_buf b = {0};
    for (;;) {
        wapc_buf_reserve(&b, 65536);
        wasi_iovec iov = {b.data + b.len, b.cap - b.len};
        uint32_t n = 0;
        err = wasi_fd_read(fd, &iov, 1, &n);
        if (err != WASI_ESUCCESS) return err;
        if (n == 0) break;
        b.len += n;
    }
    *out = wapc_buf_view(&b);
    return WASI_ESUCCESS;
}

/* Reads the whole file at the guest path `path` into the arena. */
static inline int wasi_read_file(wapc_bytes path, wapc_bytes *out) {
    int32_t fd;
    int err = wasi_open(path, 0, WASI_RIGHTS_READ, &fd);
    if (err != WASI_ESUCCESS) return err;
    err = wasi_read_fd(fd, out);
    wasi_fd_close(fd);
    return err;
}

/* Writes all of `data` at `fd`'s position (a write may take less than asked for). */
static inline int wasi_write_fd(int32_t fd, wapc_bytes data) {
    uint32_t done = 0;
    while (done < data.len) {
        wasi_ciovec iov = {data.ptr + done, data.len - done};
        uint32_t n = 0;
        int err = wasi_fd_write(fd, &iov, 1, &n);
        if (err != WASI_ESUCCESS) return err;
        if (n == 0) return WASI_EIO;
        done += n;
    }
    return WASI_ESUCCESS;
}

/* Writes all of `data` at `offset`. */
static inline int wasi_pwrite_fd(int32_t fd, wapc_bytes data, uint64_t offset) {
    uint32_t done = 0;
    while (done < data.len) {
        wasi_ciovec iov = {data.ptr + done, data.len - done};
        uint32_t n = 0;
        int err = wasi_fd_pwrite(fd, &iov, 1, offset + done, &n);
        if (err != WASI_ESUCCESS) return err;
        if (n == 0) return WASI_EIO;
        done += n;
    }
    return WASI_ESUCCESS;
}

/* Creates (or truncates) the file at the guest path `path` and writes `data` into it. */
static inline int wasi_write_file(wapc_bytes path, wapc_bytes data) {
    int32_t fd;
    int err = wasi_open(path, WASI_O_CREAT | WASI_O_TRUNC, WASI_RIGHTS_WRITE, &fd);
    if (err != WASI_ESUCCESS) return err;
    err = wasi_write_fd(fd, data);
    wasi_fd_close(fd);
    return err;
}

static inline int wasi_fd_size(int32_t fd, uint64_t *size) {
    wasi_filestat st;
    int err = wasi_fd_filestat_get(fd, &st);
    if (err == WASI_ESUCCESS) *size = st.size;
    return err;
}

/* Stats the guest path `path`, following symlinks. */
static inline int wasi_stat(wapc_bytes path, wasi_filestat *st) {
    int32_t dirfd;
    wapc_bytes rel;
    int err = wasi_resolve(path, &dirfd, &rel);
    if (err != WASI_ESUCCESS) return err;
    return wasi_path_filestat_get(dirfd, WASI_LOOKUP_SYMLINK_FOLLOW, rel.ptr, rel.len, st);
}

static inline int wasi_mkdir(wapc_bytes path) {
    int32_t dirfd;
    wapc_bytes rel;
    int err = wasi_resolve(path, &dirfd, &rel);
    if (err != WASI_ESUCCESS) return err;
    return wasi_path_create_directory(dirfd, rel.ptr, rel.len);
}

static inline int wasi_rmdir(wapc_bytes path) {
    int32_t dirfd;
    wapc_bytes rel;
    int err = wasi_resolve(path, &dirfd, &rel);
    if (err != WASI_ESUCCESS) return err;
    return wasi_path_remove_directory(dirfd, rel.ptr, rel.len);
}

static inline int wasi_unlink(wapc_bytes path) {
    int32_t dirfd;
    wapc_bytes rel;
    int err = wasi_resolve(path, &dirfd, &rel);
    if (err != WASI_ESUCCESS) return err;
    return wasi_path_unlink_file(dirfd, rel.ptr, rel.len);
}

/* ------------------------------------------------------------------------------------------ */
/* Names that become one path component                                                        */
/* ------------------------------------------------------------------------------------------ */

#define WASI_NAME_RULE "a name is 1 to 255 bytes, not '.' or '..', without '/', '\\' or NUL"

/* Whether `name` (from a message) can be joined into a path as one component and nothing
 * else: it cannot climb out with "..", split into several components, or be cut at a NUL. */
static inline int wasi_name_ok(wapc_bytes name) {
    if (name.len == 0 || name.len > 255) return 0;
    if (wapc_bytes_eq(name, ".") || wapc_bytes_eq(name, "..")) return 0;
    for (uint32_t i = 0; i < name.len; i++) {
        uint8_t c = name.ptr[i];
        if (c == '/' || c == '\\' || c == 0) return 0;
    }
    return 1;
}

/* Appends `text` with control bytes as \xNN, so that a message stays one line. */
static inline void wasi_put_escaped(wapc_buf *b, wapc_bytes text) {
    static const char hex[] = "0123456789abcdef";
    for (uint32_t i = 0; i < text.len; i++) {
        uint8_t c = text.ptr[i];
        if (c < 0x20 || c == 0x7f) {
            uint8_t esc[4] = {'\\', 'x', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
            wapc_buf_put(b, esc, 4);
        } else {
            wapc_buf_byte(b, c);
        }
    }
}

/* Appends `text` escaped and in single quotes. */
static inline void wasi_put_quoted(wapc_buf *b, wapc_bytes text) {
    wapc_buf_byte(b, '\'');
    wasi_put_escaped(b, text);
    wapc_buf_byte(b, '\'');
}

/* Checks a name; if it is refused, stores the guest error "WHAT 'NAME' is not allowed: RULE"
 * and returns 0. */
static inline int wasi_check_name(const char *what, wapc_bytes name) {
    if (wasi_name_ok(name)) return 1;
    wapc_buf b = {0};
    wapc_buf_cstr(&b, what);
    wapc_buf_byte(&b, ' ');
    wasi_put_quoted(&b, name);
    wapc_buf_cstr(&b, " is not allowed: " WASI_NAME_RULE);
    return wapc_fail(b.data, b.len);
}

/* ------------------------------------------------------------------------------------------ */
/* Directories                                                                                 */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    wapc_bytes name;
    uint8_t type; /* WASI_FILETYPE_* as the directory reports it */
} wasi_entry;

/* Byte-wise order, a shorter name first when it is a prefix of the other. */
static inline int wasi_name_cmp(wapc_bytes a, wapc_bytes b) {
    uint32_t n = a.len < b.len ? a.len : b.len;
    int c = memcmp(a.ptr, b.ptr, n);
    if (c != 0) return c;
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

/* Sorts entries by name: a bottom-up merge sort, since directories can be large. */
static inline void wasi_sort_entries(wasi_entry *items, uint32_t n) {
    if (n < 2) return;
    wasi_entry *tmp = (wasi_entry *)wapc_alloc(n * (uint32_t)sizeof *items);
    wasi_entry *src = items, *dst = tmp;
    for (uint32_t width = 1; width < n; width *= 2) {
        for (uint32_t lo = 0; lo < n; lo += 2 * width) {
            uint32_t mid = lo + width < n ? lo + width : n;
            uint32_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            uint32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                dst[k++] = wasi_name_cmp(src[j].name, src[i].name) < 0 ? src[j++] : src[i++];
            }
            while (i < mid) dst[k++] = src[i++];
            while (j < hi) dst[k++] = src[j++];
        }
        wasi_entry *swap = src;
        src = dst;
        dst = swap;
    }
    if (src != items) memcpy(items, src, n * sizeof *items);
}

/*
 * Lists the open directory `dirfd` (without "." and ".."), sorted by name, into the arena.
 * fd_readdir fills a buffer and may cut the last entry short; reading resumes at the cookie
 * of the last whole entry, with a larger buffer when not even one entry fitted.
 */
static inline int wasi_list_fd(int32_t dirfd, wasi_entry **out, uint32_t *count) {
    typedef struct {
        uint32_t at, len; /* the name's place in `names` */
        uint8_t type;
    } found;
    uint32_t cap = 4096;
    uint8_t *buf = (uint8_t *)wapc_alloc(cap);
    wapc_buf names = {0}; /* the names' bytes, copied out of `buf` before it is reused */
    wapc_buf seen = {0};  /* `found` records */
    uint64_t cookie = 0;
    for (;;) {
        uint32_t used = 0;
        int err = wasi_fd_readdir(dirfd, buf, cap, cookie, &used);
        if (err != WASI_ESUCCESS) return err;
        uint32_t pos = 0, whole = 0;
        while (pos + sizeof(wasi_dirent) <= used) {
            wasi_dirent d;
            memcpy(&d, buf + pos, sizeof d);
            if ((uint64_t)pos + sizeof d + d.namlen > used) break;
            wapc_bytes name = wapc_bytes_of(buf + pos + sizeof d, d.namlen);
            if (!wapc_bytes_eq(name, ".") && !wapc_bytes_eq(name, "..")) {
                found f = {names.len, d.namlen, d.type};
                wapc_buf_bytes(&names, name);
                wapc_buf_put(&seen, &f, sizeof f);
            }
            cookie = d.next;
            pos += (uint32_t)sizeof d + d.namlen;
            whole++;
        }
        if (used < cap) break; /* the directory's end fitted in the buffer */
        if (whole == 0) {
            if (cap >= (1u << 24)) return WASI_ENAMETOOLONG;
            cap *= 2;
            buf = (uint8_t *)wapc_alloc(cap);
        }
    }
    uint32_t n = seen.len / (uint32_t)sizeof(found);
    wasi_entry *items = (wasi_entry *)wapc_alloc(n * (uint32_t)sizeof(wasi_entry));
    for (uint32_t i = 0; i < n; i++) {
        found f;
        memcpy(&f, seen.data + i * sizeof f, sizeof f);
        items[i].name = wapc_bytes_of(names.data + f.at, f.len);
        items[i].type = f.type;
    }
    wasi_sort_entries(items, n);
    *out = items;
    *count = n;
    return WASI_ESUCCESS;
}

/* Lists the directory at the guest path `path` (see wasi_list_fd). */
static inline int wasi_list_dir(wapc_bytes path, wasi_entry **out, uint32_t *count) {
    int32_t fd;
    int err = wasi_open(path, WASI_O_DIRECTORY, WASI_RIGHTS_DIR, &fd);
    if (err != WASI_ESUCCESS) return err;
    err = wasi_list_fd(fd, out, count);
    wasi_fd_close(fd);
    return err;
}

/* ------------------------------------------------------------------------------------------ */
/* Environment and arguments                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Reads environ_get's or args_get's strings into the arena (`sizes` and `get` pick which). */
static inline int wasi_strings(int32_t (*sizes)(uint32_t *, uint32_t *),
                               int32_t (*get)(uint8_t **, uint8_t *), wapc_bytes **out,
                               uint32_t *count) {
    uint32_t n = 0, size = 0;
    int err = sizes(&n, &size);
    if (err != WASI_ESUCCESS) return err;
    uint8_t **ptrs = (uint8_t **)wapc_alloc((n + 1) * (uint32_t)sizeof(uint8_t *));
    uint8_t *buf = (uint8_t *)wapc_alloc(size + 1);
    err = get(ptrs, buf);
    if (err != WASI_ESUCCESS) return err;
    wapc_bytes *items = (wapc_bytes *)wapc_alloc((n + 1) * (uint32_t)sizeof(wapc_bytes));
    for (uint32_t i = 0; i < n; i++) items[i] = wapc_cstr((const char *)ptrs[i]);
    *out = items;
    *count = n;
    return WASI_ESUCCESS;
}

/* The environment, as "NAME=VALUE" strings. */
static inline int wasi_environ(wapc_bytes **vars, uint32_t *count) {
    return wasi_strings(wasi_environ_sizes_get, wasi_environ_get, vars, count);
}

static inline int wasi_args(wapc_bytes **args, uint32_t *count) {
    return wasi_strings(wasi_args_sizes_get, wasi_args_get, args, count);
}

/* Looks up one environment variable: 1 and its value if it is set, else 0. */
static inline int wasi_getenv(const char *name, wapc_bytes *value) {
    wapc_bytes *vars;
    uint32_t count;
    if (wasi_environ(&vars, &count) != WASI_ESUCCESS) return 0;
    uint32_t n = wapc_strlen(name);
    for (uint32_t i = 0; i < count; i++) {
        wapc_bytes v = vars[i];
        if (v.len > n && v.ptr[n] == '=' && memcmp(v.ptr, name, n) == 0) {
            *value = wapc_bytes_of(v.ptr + n + 1, v.len - n - 1);
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding msgpack maps by a table of fields                                                  */
/* ------------------------------------------------------------------------------------------ */

typedef enum {
    MPF_STR,  /* wapc_bytes: str (bin tolerated) */
    MPF_BIN,  /* wapc_bytes: bin (str tolerated) */
    MPF_INT,  /* int64_t */
    MPF_BOOL, /* int */
    MPF_RAW,  /* wapc_bytes: any value, still encoded (a map to walk later, say) */
} mpf_kind;

typedef struct {
    const char *name;
    mpf_kind kind;
    void *out;    /* where the value goes; left alone when the field is missing or nil */
    int required; /* missing or nil is an error */
    int seen;     /* set by mpf_decode */
} mpf_field;

static inline const char *mpf_kind_name(mpf_kind kind) {
    switch (kind) {
        case MPF_STR: return "a string";
        case MPF_BIN: return "bytes";
        case MPF_INT: return "an integer";
        case MPF_BOOL: return "a boolean";
        default: return "a value";
    }
}

static inline int mpf_read(mp_reader *r, mpf_field *f) {
    switch (f->kind) {
        case MPF_STR: return mp_read_str(r, (wapc_bytes *)f->out);
        case MPF_BIN: return mp_read_bin(r, (wapc_bytes *)f->out);
        case MPF_INT: return mp_read_int(r, (int64_t *)f->out);
        case MPF_BOOL: return mp_read_bool(r, (int *)f->out);
        default: {
            uint32_t start = r->pos;
            if (!mp_skip(r)) return 0;
            *(wapc_bytes *)f->out = wapc_bytes_of(r->p + start, r->pos - start);
            return 1;
        }
    }
}

/*
 * Decodes the msgpack map `msg` into `fields`: keys in any order, unknown keys skipped, a nil
 * value counts as missing. On failure returns 0 with the reason in `err` ("field 'id' must be
 * a string", "required field 'id' is missing", ...).
 */
static inline int mpf_decode(wapc_bytes msg, mpf_field *fields, uint32_t nfields, wapc_buf *err) {
    mp_reader r;
    mp_reader_init(&r, msg.ptr, msg.len);
    uint32_t pairs;
    if (!mp_read_map(&r, &pairs)) {
        wapc_buf_cstr(err, "the message is not a msgpack map");
        return 0;
    }
    for (uint32_t i = 0; i < pairs && !r.err; i++) {
        wapc_bytes key = {NULL, 0};
        mpf_field *f = NULL;
        if (mp_read_str(&r, &key)) {
            for (uint32_t j = 0; j < nfields && f == NULL; j++) {
                if (wapc_bytes_eq(key, fields[j].name)) f = &fields[j];
            }
        } else if (!r.err) {
            mp_skip(&r); /* a key that is not a string names no field */
        }
        if (r.err) break;
        if (f == NULL) {
            mp_skip(&r);
            continue;
        }
        if (mp_read_nil(&r)) continue;
        if (mpf_read(&r, f)) {
            f->seen = 1;
        } else if (!r.err) {
            wapc_buf_cstr(err, "field '");
            wapc_buf_cstr(err, f->name);
            wapc_buf_cstr(err, "' must be ");
            wapc_buf_cstr(err, mpf_kind_name(f->kind));
            return 0;
        }
    }
    if (r.err) {
        wapc_buf_cstr(err, "the message is truncated or malformed");
        return 0;
    }
    for (uint32_t j = 0; j < nfields; j++) {
        if (fields[j].required && !fields[j].seen) {
            wapc_buf_cstr(err, "required field '");
            wapc_buf_cstr(err, fields[j].name);
            wapc_buf_cstr(err, "' is missing");
            return 0;
        }
    }
    return 1;
}

/* mpf_decode for a handler's request: a failure becomes the guest error "OP: REASON". */
static inline int mpf_decode_request(const char *op, const uint8_t *payload, uint32_t len,
                                     mpf_field *fields, uint32_t nfields) {
    wapc_buf err = {0};
    wapc_buf_cstr(&err, op);
    wapc_buf_cstr(&err, ": ");
    if (mpf_decode(wapc_bytes_of(payload, len), fields, nfields, &err)) return 1;
    return wapc_fail(err.data, err.len);
}

#define MPF_COUNT(table) ((uint32_t)(sizeof(table) / sizeof((table)[0])))

#endif /* WASCC_WASI_H */
