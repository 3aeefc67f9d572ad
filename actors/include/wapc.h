/*
 * wapc.h - a minimal waPC guest runtime for freestanding wasm32 C actors.
 *
 * Include this header from exactly one translation unit per actor (it defines the exported
 * entry points). The actor then defines `actor_init()`, which registers its operations with
 * `wapc_register()`; the host calls the exported `wapc_init` once after instantiation.
 *
 * Exports: `memory` (by the linker), `__guest_call(op_len, msg_len) -> i32`, `wapc_init()`.
 * Imports: only from module "wapc" (see the ABI table in docs/abi.md).
 *
 * Memory: a per-call arena. `__guest_call` resets the heap to `__heap_base` on entry, so
 * everything from `wapc_alloc()` lives until the current call returns and nothing leaks across
 * calls. The arena grows linear memory with `memory.grow` as needed; if growing fails the actor
 * stores the guest error "out of memory" and traps, so the host sees a failed call.
 *
 * Handlers have the signature `int handler(const uint8_t *payload, uint32_t len)` and end with
 * `return wapc_respond(...)` (result 1) or `return wapc_fail...(...)` (result 0).
 */
#ifndef WASCC_WAPC_H
#define WASCC_WAPC_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------------ */
/* Host imports (module "wapc"). Pointers are wasm32 linear-memory offsets (i32).              */
/* ------------------------------------------------------------------------------------------ */

#define WAPC_IMPORT(name) __attribute__((import_module("wapc"), import_name(name)))
#define WAPC_EXPORT(name) __attribute__((export_name(name)))

WAPC_IMPORT("__guest_request") void wapc_imp_guest_request(uint8_t *op_ptr, uint8_t *msg_ptr);
WAPC_IMPORT("__guest_response") void wapc_imp_guest_response(const uint8_t *ptr, uint32_t len);
WAPC_IMPORT("__guest_error") void wapc_imp_guest_error(const uint8_t *ptr, uint32_t len);
WAPC_IMPORT("__host_call")
int32_t wapc_imp_host_call(const uint8_t *bd_ptr, uint32_t bd_len, const uint8_t *ns_ptr,
                           uint32_t ns_len, const uint8_t *op_ptr, uint32_t op_len,
                           const uint8_t *ptr, uint32_t len);
WAPC_IMPORT("__host_response_len") uint32_t wapc_imp_host_response_len(void);
WAPC_IMPORT("__host_response") void wapc_imp_host_response(uint8_t *ptr);
WAPC_IMPORT("__host_error_len") uint32_t wapc_imp_host_error_len(void);
WAPC_IMPORT("__host_error") void wapc_imp_host_error(uint8_t *ptr);
WAPC_IMPORT("__console_log") void wapc_imp_console_log(const uint8_t *ptr, uint32_t len);

/* ------------------------------------------------------------------------------------------ */
/* Freestanding libc pieces. With the default wasm32 CPU (bulk memory enabled) clang lowers    */
/* memcpy/memset to memory.copy/memory.fill and these are never referenced (the linker drops   */
/* them); they exist for builds with -mcpu=mvp. `no_builtin` stops clang from turning the      */
/* loops back into calls to themselves.                                                        */
/* ------------------------------------------------------------------------------------------ */

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

__attribute__((no_builtin)) void *memcpy(void *dst, const void *src, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    while (n--) *d++ = *s++;
    return dst;
}

__attribute__((no_builtin)) void *memmove(void *dst, const void *src, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    if (d < s) {
        while (n--) *d++ = *s++;
    } else {
        while (n--) d[n] = s[n];
    }
    return dst;
}

__attribute__((no_builtin)) void *memset(void *dst, int c, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}

__attribute__((no_builtin)) int memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *x = (const uint8_t *)a;
    const uint8_t *y = (const uint8_t *)b;
    for (; n; n--, x++, y++) {
        if (*x != *y) return *x < *y ? -1 : 1;
    }
    return 0;
}

static inline uint32_t wapc_strlen(const char *s) {
    uint32_t n = 0;
    while (s[n]) n++;
    return n;
}

/* A borrowed byte range (not NUL-terminated). */
typedef struct {
    const uint8_t *ptr;
    uint32_t len;
} wapc_bytes;

static inline wapc_bytes wapc_bytes_of(const void *ptr, uint32_t len) {
    wapc_bytes b = {(const uint8_t *)ptr, len};
    return b;
}

static inline wapc_bytes wapc_cstr(const char *s) {
    return wapc_bytes_of(s, wapc_strlen(s));
}

static inline int wapc_bytes_eq(wapc_bytes a, const char *s) {
    uint32_t n = wapc_strlen(s);
    return a.len == n && memcmp(a.ptr, s, n) == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Arena allocator                                                                             */
/* ------------------------------------------------------------------------------------------ */

#define WAPC_PAGE_SIZE 65536u
#define WAPC_ALIGN 8u

extern unsigned char __heap_base; /* provided by wasm-ld: first byte after data and stack */

static uintptr_t wapc_heap_top;   /* next free byte */
static uintptr_t wapc_heap_last;  /* start of the most recent block (grown in place) */

static inline uintptr_t wapc_align_up(uintptr_t v) {
    return (v + (WAPC_ALIGN - 1)) & ~(uintptr_t)(WAPC_ALIGN - 1);
}

static inline void wapc_heap_reset(void) {
    wapc_heap_top = wapc_align_up((uintptr_t)&__heap_base);
    wapc_heap_last = 0;
}

static inline void wapc_fail_oom(void) {
    static const char msg[] = "out of memory";
    wapc_imp_guest_error((const uint8_t *)msg, sizeof msg - 1);
    __builtin_trap();
}

/*
 * Makes sure linear memory reaches at least `end` (exclusive); traps if it cannot grow. Ends
 * near 4 GiB are refused outright so that aligning them up cannot wrap around 32 bits.
 */
static inline void wapc_heap_ensure(uint64_t end) {
    if (end > 0xFFFFFFF0ull) wapc_fail_oom();
    uint64_t have = (uint64_t)__builtin_wasm_memory_size(0) * WAPC_PAGE_SIZE;
    if (end <= have) return;
    uint64_t pages = (end - have + WAPC_PAGE_SIZE - 1) / WAPC_PAGE_SIZE;
    if (__builtin_wasm_memory_grow(0, (size_t)pages) == (size_t)-1) wapc_fail_oom();
}

/* Returns `n` bytes (8-aligned, uninitialised) valid until the current call returns. */
static inline void *wapc_alloc(uint32_t n) {
    if (wapc_heap_top == 0) wapc_heap_reset();
    uintptr_t start = wapc_heap_top;
    uint64_t end = (uint64_t)start + n;
    wapc_heap_ensure(end);
    wapc_heap_top = wapc_align_up((uintptr_t)end);
    wapc_heap_last = start;
    return (void *)start;
}

/* Resizes a block from wapc_alloc; the most recent block grows in place. */
static inline void *wapc_realloc(void *ptr, uint32_t old_len, uint32_t new_len) {
    if (ptr != NULL && (uintptr_t)ptr == wapc_heap_last) {
        uint64_t end = (uint64_t)(uintptr_t)ptr + new_len;
        wapc_heap_ensure(end);
        wapc_heap_top = wapc_align_up((uintptr_t)end);
        return ptr;
    }
    void *fresh = wapc_alloc(new_len);
    if (ptr != NULL) memcpy(fresh, ptr, old_len < new_len ? old_len : new_len);
    return fresh;
}

/* ------------------------------------------------------------------------------------------ */
/* Growable byte buffer. With `count_only` set it just measures what would be written.         */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    uint8_t *data;
    uint32_t len;
    uint32_t cap;
    int count_only;
} wapc_buf;

static inline void wapc_buf_reserve(wapc_buf *b, uint32_t extra) {
    uint64_t need = (uint64_t)b->len + extra;
    if (need > 0xFFFFFFF0ull) wapc_fail_oom(); /* also stops a count from wrapping */
    if (b->count_only || need <= b->cap) return;
    uint64_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    if (cap > 0xFFFFFFF0ull) cap = need;
    b->data = (uint8_t *)wapc_realloc(b->data, b->len, (uint32_t)cap);
    b->cap = (uint32_t)cap;
}

static inline void wapc_buf_put(wapc_buf *b, const void *ptr, uint32_t n) {
    wapc_buf_reserve(b, n);
    if (!b->count_only && n) memcpy(b->data + b->len, ptr, n);
    b->len += n;
}

static inline void wapc_buf_byte(wapc_buf *b, uint8_t c) {
    wapc_buf_reserve(b, 1);
    if (!b->count_only) b->data[b->len] = c;
    b->len += 1;
}

static inline void wapc_buf_cstr(wapc_buf *b, const char *s) {
    wapc_buf_put(b, s, wapc_strlen(s));
}

static inline void wapc_buf_bytes(wapc_buf *b, wapc_bytes s) {
    wapc_buf_put(b, s.ptr, s.len);
}

/* Appends `v` in decimal. */
static inline void wapc_buf_i64(wapc_buf *b, int64_t v) {
    char tmp[20];
    int n = 0;
    /* Work with the magnitude as unsigned so INT64_MIN does not overflow. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) wapc_buf_byte(b, '-');
    while (n) wapc_buf_byte(b, (uint8_t)tmp[--n]);
}

static inline wapc_bytes wapc_buf_view(const wapc_buf *b) {
    return wapc_bytes_of(b->data, b->len);
}

/* ------------------------------------------------------------------------------------------ */
/* Results, errors, logging, host calls                                                        */
/* ------------------------------------------------------------------------------------------ */

static inline int wapc_respond(const void *ptr, uint32_t len) {
    wapc_imp_guest_response((const uint8_t *)ptr, len);
    return 1;
}

static inline int wapc_respond_buf(const wapc_buf *b) {
    return wapc_respond(b->data, b->len);
}

static inline int wapc_fail(const void *ptr, uint32_t len) {
    wapc_imp_guest_error((const uint8_t *)ptr, len);
    return 0;
}

static inline int wapc_fail_cstr(const char *msg) {
    return wapc_fail(msg, wapc_strlen(msg));
}

/* Stores the guest error `prefix` + `detail` and returns 0. */
static inline int wapc_fail_with(const char *prefix, wapc_bytes detail) {
    wapc_buf b = {0};
    wapc_buf_cstr(&b, prefix);
    wapc_buf_bytes(&b, detail);
    return wapc_fail(b.data, b.len);
}

static inline void wapc_log(const char *line) {
    wapc_imp_console_log((const uint8_t *)line, wapc_strlen(line));
}

/*
 * Calls the host. On success returns 1 and sets *out to the host response; on failure returns
 * 0 and sets *out to the host error text. Both live in the call arena.
 */
static inline int wapc_host_call(wapc_bytes binding, wapc_bytes ns, wapc_bytes op,
                                 wapc_bytes payload, wapc_bytes *out) {
    int32_t ok = wapc_imp_host_call(binding.ptr, binding.len, ns.ptr, ns.len, op.ptr, op.len,
                                    payload.ptr, payload.len);
    if (ok == 1) {
        uint32_t n = wapc_imp_host_response_len();
        uint8_t *p = (uint8_t *)wapc_alloc(n);
        if (n) wapc_imp_host_response(p);
        *out = wapc_bytes_of(p, n);
        return 1;
    }
    uint32_t n = wapc_imp_host_error_len();
    uint8_t *p = (uint8_t *)wapc_alloc(n);
    if (n) wapc_imp_host_error(p);
    *out = wapc_bytes_of(p, n);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Operation dispatch                                                                          */
/* ------------------------------------------------------------------------------------------ */

typedef int (*wapc_handler)(const uint8_t *payload, uint32_t len);

#define WAPC_MAX_HANDLERS 16

static struct {
    const char *name;
    wapc_handler fn;
} wapc_handlers[WAPC_MAX_HANDLERS];
static uint32_t wapc_handler_count;

/* Registers `fn` for operation `name` (a string literal); call from actor_init(). */
static inline void wapc_register(const char *name, wapc_handler fn) {
    if (wapc_handler_count < WAPC_MAX_HANDLERS) {
        wapc_handlers[wapc_handler_count].name = name;
        wapc_handlers[wapc_handler_count].fn = fn;
        wapc_handler_count++;
    }
}

/* Defined by each actor: registers its operations. */
static void actor_init(void);

WAPC_EXPORT("wapc_init") void wapc_init(void);
WAPC_EXPORT("__guest_call") int32_t wapc_guest_call(uint32_t op_len, uint32_t msg_len);

void wapc_init(void) {
    wapc_handler_count = 0; /* idempotent if the host calls it again */
    actor_init();
}

int32_t wapc_guest_call(uint32_t op_len, uint32_t msg_len) {
    wapc_heap_reset();
    uint8_t *op = (uint8_t *)wapc_alloc(op_len);
    uint8_t *msg = (uint8_t *)wapc_alloc(msg_len);
    wapc_imp_guest_request(op, msg);
    wapc_bytes op_name = wapc_bytes_of(op, op_len);
    for (uint32_t i = 0; i < wapc_handler_count; i++) {
        if (wapc_bytes_eq(op_name, wapc_handlers[i].name)) {
            return wapc_handlers[i].fn(msg, msg_len) ? 1 : 0;
        }
    }
    return wapc_fail_with("unknown operation: ", op_name);
}

#endif /* WASCC_WAPC_H */
