/*
 * msgpack.h - a small MessagePack reader and writer for the sample actors.
 *
 * Reader: every mp_read_* returns 1 on success and 0 on failure. A failure caused by an
 * unexpected type leaves the position unchanged, so the caller can mp_skip() the value;
 * truncated input sets `err`. Strings are accepted as str or bin (peers differ in how they
 * encode text), and bin fields likewise accept str.
 *
 * Writer: appends to a wapc_buf, with the most compact encoding for integers and lengths
 * (byte-identical to Python's msgpack.packb(..., use_bin_type=True)).
 */
#ifndef WASCC_MSGPACK_H
#define WASCC_MSGPACK_H

#include "wapc.h"

typedef struct {
    const uint8_t *p;
    uint32_t len;
    uint32_t pos;
    int err; /* set once the input turned out to be truncated or malformed */
} mp_reader;

static inline void mp_reader_init(mp_reader *r, const uint8_t *p, uint32_t len) {
    r->p = p;
    r->len = len;
    r->pos = 0;
    r->err = 0;
}

/* Reads a big-endian unsigned integer of `n` bytes at position `at`. */
static inline uint64_t mp_be(const mp_reader *r, uint32_t at, uint32_t n) {
    uint64_t v = 0;
    for (uint32_t i = 0; i < n; i++) v = (v << 8) | r->p[at + i];
    return v;
}

/* True if `n` more bytes are available after position `at`. */
static inline int mp_has(const mp_reader *r, uint32_t at, uint64_t n) {
    return (uint64_t)at + n <= r->len;
}

static inline int mp_truncated(mp_reader *r) {
    r->err = 1;
    return 0;
}

static inline int mp_peek(const mp_reader *r, uint8_t *tag) {
    if (!mp_has(r, r->pos, 1)) return 0;
    *tag = r->p[r->pos];
    return 1;
}

/* Reads a container header: a fix form (tag & 0xf0 == fix, count in the low nibble) or a
 * 16/32-bit form (tags tag16, tag16 + 1). Maps and arrays differ only in these tags. */
static inline int mp_read_header(mp_reader *r, uint8_t fix, uint8_t tag16, uint32_t *count) {
    uint8_t t;
    if (!mp_peek(r, &t)) return mp_truncated(r);
    uint32_t hdr;
    if ((t & 0xf0) == fix) {
        *count = t & 0x0f;
        hdr = 1;
    } else if (t == tag16 || t == (uint8_t)(tag16 + 1)) {
        uint32_t w = t == tag16 ? 2 : 4;
        if (!mp_has(r, r->pos, 1 + w)) return mp_truncated(r);
        *count = (uint32_t)mp_be(r, r->pos + 1, w);
        hdr = 1 + w;
    } else {
        return 0;
    }
    r->pos += hdr;
    return 1;
}

/* Reads a map header: *count is the number of key/value pairs that follow. */
static inline int mp_read_map(mp_reader *r, uint32_t *count) {
    return mp_read_header(r, 0x80, 0xde, count);
}

/* Reads an array header: *count is the number of elements that follow. */
static inline int mp_read_array(mp_reader *r, uint32_t *count) {
    return mp_read_header(r, 0x90, 0xdc, count);
}

/* Reads a str (fixstr, str8/16/32) or a bin (bin8/16/32); *out points into the input. */
static inline int mp_read_str(mp_reader *r, wapc_bytes *out) {
    uint8_t t;
    if (!mp_peek(r, &t)) return mp_truncated(r);
    uint32_t w; /* width of the length field */
    uint64_t n = 0;
    if ((t & 0xe0) == 0xa0) {
        w = 0;
        n = t & 0x1f;
    } else if (t == 0xd9 || t == 0xc4) {
        w = 1;
    } else if (t == 0xda || t == 0xc5) {
        w = 2;
    } else if (t == 0xdb || t == 0xc6) {
        w = 4;
    } else {
        return 0;
    }
    if (!mp_has(r, r->pos, 1 + w)) return mp_truncated(r);
    if (w) n = mp_be(r, r->pos + 1, w);
    if (!mp_has(r, r->pos + 1 + w, n)) return mp_truncated(r);
    *out = wapc_bytes_of(r->p + r->pos + 1 + w, (uint32_t)n);
    r->pos += 1 + w + (uint32_t)n;
    return 1;
}

/* Byte fields: the same wire forms as strings (bin preferred, str tolerated). */
static inline int mp_read_bin(mp_reader *r, wapc_bytes *out) {
    return mp_read_str(r, out);
}

/* Reads any integer encoding that fits in int64 (a uint64 above INT64_MAX fails). */
static inline int mp_read_int(mp_reader *r, int64_t *out) {
    uint8_t t;
    if (!mp_peek(r, &t)) return mp_truncated(r);
    if (t <= 0x7f) {
        *out = t;
        r->pos += 1;
        return 1;
    }
    if (t >= 0xe0) {
        *out = (int8_t)t;
        r->pos += 1;
        return 1;
    }
    uint32_t w;
    int is_signed;
    switch (t) {
        case 0xcc: w = 1; is_signed = 0; break;
        case 0xcd: w = 2; is_signed = 0; break;
        case 0xce: w = 4; is_signed = 0; break;
        case 0xcf: w = 8; is_signed = 0; break;
        case 0xd0: w = 1; is_signed = 1; break;
        case 0xd1: w = 2; is_signed = 1; break;
        case 0xd2: w = 4; is_signed = 1; break;
        case 0xd3: w = 8; is_signed = 1; break;
        default: return 0;
    }
    if (!mp_has(r, r->pos, 1 + w)) return mp_truncated(r);
    uint64_t v = mp_be(r, r->pos + 1, w);
    if (is_signed) {
        /* Sign-extend the w-byte two's complement value. */
        uint32_t shift = 64 - 8 * w;
        *out = (int64_t)(v << shift) >> shift;
    } else {
        if (v > (uint64_t)INT64_MAX) return 0;
        *out = (int64_t)v;
    }
    r->pos += 1 + w;
    return 1;
}

static inline int mp_read_bool(mp_reader *r, int *out) {
    uint8_t t;
    if (!mp_peek(r, &t)) return mp_truncated(r);
    if (t != 0xc2 && t != 0xc3) return 0;
    *out = t == 0xc3;
    r->pos += 1;
    return 1;
}

static inline int mp_read_nil(mp_reader *r) {
    uint8_t t;
    if (!mp_peek(r, &t)) return mp_truncated(r);
    if (t != 0xc0) return 0;
    r->pos += 1;
    return 1;
}

/*
 * Skips one complete value of any type (nested maps and arrays included). Iterative: `pending`
 * counts the values still to skip, so hostile nesting cannot overflow the stack.
 */
static inline int mp_skip(mp_reader *r) {
    uint64_t pending = 1;
    while (pending) {
        uint8_t t;
        if (!mp_peek(r, &t)) return mp_truncated(r);
        pending--;
        uint64_t body = 0;  /* payload bytes after the header */
        uint32_t hdr = 1;   /* header bytes including the tag */
        uint32_t w = 0;     /* width of a length/count field */
        if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
            /* fixint, nil, bool: the tag is the whole value */
        } else if ((t & 0xf0) == 0x80) {
            pending += 2u * (t & 0x0f);
        } else if ((t & 0xf0) == 0x90) {
            pending += t & 0x0f;
        } else if ((t & 0xe0) == 0xa0) {
            body = t & 0x1f;
        } else {
            switch (t) {
                case 0xcc: case 0xd0: body = 1; break;
                case 0xcd: case 0xd1: body = 2; break;
                case 0xce: case 0xd2: case 0xca: body = 4; break;
                case 0xcf: case 0xd3: case 0xcb: body = 8; break;
                case 0xd4: body = 2; break;  /* fixext 1: type + 1 */
                case 0xd5: body = 3; break;
                case 0xd6: body = 5; break;
                case 0xd7: body = 9; break;
                case 0xd8: body = 17; break;
                case 0xc4: case 0xd9: w = 1; break;
                case 0xc5: case 0xda: w = 2; break;
                case 0xc6: case 0xdb: w = 4; break;
                case 0xc7: w = 1; body = 1; break;  /* ext: length + type byte */
                case 0xc8: w = 2; body = 1; break;
                case 0xc9: w = 4; body = 1; break;
                case 0xdc: case 0xde: w = 2; break;
                case 0xdd: case 0xdf: w = 4; break;
                default: return mp_truncated(r);  /* 0xc1 is never used */
            }
            if (w) {
                if (!mp_has(r, r->pos, 1 + w)) return mp_truncated(r);
                uint64_t n = mp_be(r, r->pos + 1, w);
                hdr += w;
                if (t == 0xdc || t == 0xdd) {
                    pending += n;
                } else if (t == 0xde || t == 0xdf) {
                    pending += 2 * n;
                } else {
                    body += n;
                }
            }
        }
        if (!mp_has(r, r->pos, hdr + body)) return mp_truncated(r);
        r->pos += hdr + (uint32_t)body;
    }
    return 1;
}

/* ---- writer ------------------------------------------------------------------------------ */

/* Appends a tag byte followed by the low `n` bytes of `v`, big-endian. */
static inline void mp_put_tagged(wapc_buf *b, uint8_t tag, uint64_t v, uint32_t n) {
    uint8_t tmp[9];
    tmp[0] = tag;
    for (uint32_t i = 0; i < n; i++) tmp[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    wapc_buf_put(b, tmp, 1 + n);
}

static inline void mp_write_nil(wapc_buf *b) { wapc_buf_byte(b, 0xc0); }

static inline void mp_write_bool(wapc_buf *b, int v) { wapc_buf_byte(b, v ? 0xc3 : 0xc2); }

static inline void mp_write_uint(wapc_buf *b, uint64_t v) {
    if (v <= 0x7f) wapc_buf_byte(b, (uint8_t)v);
    else if (v <= 0xff) mp_put_tagged(b, 0xcc, v, 1);
    else if (v <= 0xffff) mp_put_tagged(b, 0xcd, v, 2);
    else if (v <= 0xffffffffu) mp_put_tagged(b, 0xce, v, 4);
    else mp_put_tagged(b, 0xcf, v, 8);
}

static inline void mp_write_int(wapc_buf *b, int64_t v) {
    if (v >= 0) mp_write_uint(b, (uint64_t)v);
    else if (v >= -32) wapc_buf_byte(b, (uint8_t)v);
    else if (v >= -128) mp_put_tagged(b, 0xd0, (uint64_t)v, 1);
    else if (v >= -32768) mp_put_tagged(b, 0xd1, (uint64_t)v, 2);
    else if (v >= -2147483647 - 1) mp_put_tagged(b, 0xd2, (uint64_t)v, 4);
    else mp_put_tagged(b, 0xd3, (uint64_t)v, 8);
}

static inline void mp_write_map(wapc_buf *b, uint32_t n) {
    if (n <= 15) wapc_buf_byte(b, (uint8_t)(0x80 | n));
    else if (n <= 0xffff) mp_put_tagged(b, 0xde, n, 2);
    else mp_put_tagged(b, 0xdf, n, 4);
}

static inline void mp_write_array(wapc_buf *b, uint32_t n) {
    if (n <= 15) wapc_buf_byte(b, (uint8_t)(0x90 | n));
    else if (n <= 0xffff) mp_put_tagged(b, 0xdc, n, 2);
    else mp_put_tagged(b, 0xdd, n, 4);
}

/* Writes only the header of a str of length n (the caller appends the bytes). */
static inline void mp_write_str_header(wapc_buf *b, uint32_t n) {
    if (n <= 31) wapc_buf_byte(b, (uint8_t)(0xa0 | n));
    else if (n <= 0xff) mp_put_tagged(b, 0xd9, n, 1);
    else if (n <= 0xffff) mp_put_tagged(b, 0xda, n, 2);
    else mp_put_tagged(b, 0xdb, n, 4);
}

/* Writes only the header of a bin of length n (the caller appends the bytes). */
static inline void mp_write_bin_header(wapc_buf *b, uint32_t n) {
    if (n <= 0xff) mp_put_tagged(b, 0xc4, n, 1);
    else if (n <= 0xffff) mp_put_tagged(b, 0xc5, n, 2);
    else mp_put_tagged(b, 0xc6, n, 4);
}

static inline void mp_write_str(wapc_buf *b, wapc_bytes s) {
    mp_write_str_header(b, s.len);
    wapc_buf_bytes(b, s);
}

static inline void mp_write_cstr(wapc_buf *b, const char *s) { mp_write_str(b, wapc_cstr(s)); }

static inline void mp_write_bin(wapc_buf *b, wapc_bytes s) {
    mp_write_bin_header(b, s.len);
    wapc_buf_bytes(b, s);
}

#endif /* WASCC_MSGPACK_H */
