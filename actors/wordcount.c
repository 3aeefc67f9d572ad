/*
 * wordcount - counts a file's bytes, words and lines through WASI: the processor of the
 * pipeline example.
 *
 * Count {container: str, id: str} reads /in/{container}/{id} (the manifest grants a directory
 * read-only under the guest path /in) and replies
 *   {bytes: int, words: int, lines: int, checksum: str}
 * words: maximal runs of bytes other than space, \t, \n, \r, \v and \f;
 * lines: the number of '\n' bytes (a last line without one is not counted, as wc -l);
 * checksum: FNV-1a 64 of the bytes (offset basis 0xcbf29ce484222325, prime 0x100000001b3), as
 *   16 lower-case hex digits; cheap, and enough to tell two uploads apart, not a security hash.
 * container and id follow the blob store's name rules, so only files two levels below /in
 * can be read. The file is read in chunks: its size is not limited by the call arena.
 */
#include "wasi.h"

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define READ_CHUNK 65536u

typedef struct {
    uint64_t bytes, words, lines, hash;
    int in_word; /* the last byte seen was part of a word: a chunk may end inside one */
} tally;

static int is_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void tally_bytes(tally *t, const uint8_t *p, uint32_t n) {
    uint64_t hash = t->hash;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        hash = (hash ^ c) * FNV_PRIME;
        if (is_space(c)) {
            t->in_word = 0;
            if (c == '\n') t->lines++;
        } else if (!t->in_word) {
            t->in_word = 1;
            t->words++;
        }
    }
    t->hash = hash;
    t->bytes += n;
}

static void put_hex64(wapc_buf *b, uint64_t v) {
    static const char hex[] = "0123456789abcdef";
    char text[16];
    for (int i = 15; i >= 0; i--) {
        text[i] = hex[v & 15];
        v >>= 4;
    }
    wapc_buf_put(b, text, 16);
}

static int handle_count(const uint8_t *payload, uint32_t len) {
    wapc_bytes container = {NULL, 0}, id = {NULL, 0};
    mpf_field fields[] = {
        {"container", MPF_STR, &container, 1, 0},
        {"id", MPF_STR, &id, 1, 0},
    };
    if (!mpf_decode_request("Count", payload, len, fields, MPF_COUNT(fields))) return 0;
    if (!wasi_check_name("container id", container) || !wasi_check_name("blob id", id)) {
        return 0;
    }

    wapc_buf path = {0};
    wapc_buf_cstr(&path, "/in/");
    wapc_buf_bytes(&path, container);
    wapc_buf_byte(&path, '/');
    wapc_buf_bytes(&path, id);

    int32_t fd;
    int err = wasi_open(wapc_buf_view(&path), 0, WASI_RIGHTS_READ, &fd);
    if (err != WASI_ESUCCESS) return wasi_fail("count", wapc_buf_view(&path), err);
    wasi_filestat st;
    err = wasi_fd_filestat_get(fd, &st);
    if (err == WASI_ESUCCESS && st.filetype == WASI_FILETYPE_DIRECTORY) err = WASI_EISDIR;
    if (err != WASI_ESUCCESS) {
        wasi_fd_close(fd);
        return wasi_fail("count", wapc_buf_view(&path), err);
    }
    uint8_t *chunk = (uint8_t *)wapc_alloc(READ_CHUNK);
    tally t = {0, 0, 0, FNV_OFFSET, 0};
    for (;;) {
        wasi_iovec iov = {chunk, READ_CHUNK};
        uint32_t n = 0;
        err = wasi_fd_read(fd, &iov, 1, &n);
        if (err != WASI_ESUCCESS || n == 0) break;
        tally_bytes(&t, chunk, n);
    }
    wasi_fd_close(fd);
    if (err != WASI_ESUCCESS) return wasi_fail("count", wapc_buf_view(&path), err);

    wapc_buf out = {0};
    mp_write_map(&out, 4);
    mp_write_cstr(&out, "bytes");
    mp_write_uint(&out, t.bytes);
    mp_write_cstr(&out, "words");
    mp_write_uint(&out, t.words);
    mp_write_cstr(&out, "lines");
    mp_write_uint(&out, t.lines);
    mp_write_cstr(&out, "checksum");
    mp_write_str_header(&out, 16);
    put_hex64(&out, t.hash);
    return wapc_respond_buf(&out);
}

static void actor_init(void) {
    wapc_register("Count", handle_count);
}
