/*
 * common/ef.h — the base every envforge component builds on.
 *
 * Overview
 *   - Errors: functions that can fail return int, 0 on success or a negative code from
 *     ef_error. ef_strerror() names a code; the detailed message lives on the context
 *     (ef_errmsg(ctx)), never in a global.
 *   - Context: ef_ctx carries the last error message and the log sink. One per thread
 *     of work; contexts are not shared between threads.
 *   - Logging: EF_LOG_D/I/W/E(ctx, fmt, ...) with function and line, filtered by level.
 *   - Memory: ef_malloc/ef_calloc/ef_realloc/ef_free/ef_strdup. Tests can make the Nth
 *     allocation fail (ef_alloc_fail_after) to exercise every error path.
 *   - Capped buffers: ef_buf grows up to a byte cap and fails with EF_ELIMIT past it.
 *   - More in the small headers: common/json.h (cJSON helpers), common/rng.h (seeded,
 *     splittable RNG), common/hash.h (SHA-256), common/pool.h (thread pool),
 *     common/progress.h (progress bar on stderr).
 *
 * Example
 *   ef_ctx *ctx = ef_ctx_new();
 *   ef_buf b = EF_BUF_INIT(1 << 20);
 *   if (ef_buf_appendf(&b, "%d tasks", 3) < 0) fprintf(stderr, "%s\n", ef_errmsg(ctx));
 *   int rc = ef_errorf(ctx, EF_EINVAL, "%s:%d: field 'name' must be a string", path, line);
 *   ef_buf_free(&b);
 *   ef_ctx_free(ctx);
 */
#ifndef EF_H
#define EF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef EF_VERSION
#define EF_VERSION "0.1.0"
#endif

/* Error codes. Never renumbered, never reused: append new ones at the end. */
typedef enum {
    EF_OK = 0,
    EF_ERROR = -1,         /* generic failure */
    EF_ENOMEM = -2,        /* out of memory */
    EF_EINVAL = -3,        /* invalid argument or input */
    EF_ENOTFOUND = -4,     /* no such file, row, tool, key */
    EF_ETIMEOUT = -5,      /* a time limit passed */
    EF_ELIMIT = -6,        /* a size, count or budget limit was hit */
    EF_EIO = -7,           /* read/write/system call failed */
    EF_ESANDBOX = -8,      /* sandbox setup or containment failed */
    EF_EPARSE = -9,        /* malformed text, JSON, file format */
    EF_ESTORE = -10,       /* SQLite store error */
    EF_EUNSUPPORTED = -11, /* not available on this machine or build */
    EF_EEXISTS = -12,      /* already exists */
    EF_ECONFLICT = -13,    /* conflicting data (merge, duplicate) */
    EF_EHTTP = -14,        /* HTTP transport or status error */
    EF_ELUA = -15,         /* Lua runtime error */
    EF_ECUDA = -16,        /* CUDA runtime error */
    EF_EINTR = -17,        /* interrupted (signal, cancel) */
    EF_EVERIFY = -18,      /* verification failed */
    EF_ERROR_MIN_ = -19    /* one past the last code; internal */
} ef_error;

/* The name and short meaning of a code: "EF_ENOMEM: out of memory". Never NULL. */
const char *ef_strerror(int code);

/* ---- context, errors, logging ------------------------------------------------ */

typedef enum { EF_LOG_DEBUG = 0, EF_LOG_INFO = 1, EF_LOG_WARN = 2, EF_LOG_ERROR = 3 } ef_log_level;

typedef void (*ef_log_fn)(void *ud, ef_log_level level, const char *func, int line,
                          const char *msg);

typedef struct ef_ctx ef_ctx;

/* A new context: log level WARN to stderr (EF_LOG=debug|info|warn|error overrides).
 * Returns NULL only when out of memory. */
ef_ctx *ef_ctx_new(void);
void ef_ctx_free(ef_ctx *ctx);
void ef_ctx_set_log(ef_ctx *ctx, ef_log_level min_level, ef_log_fn fn, void *ud);
ef_log_level ef_ctx_log_level(const ef_ctx *ctx);

/* Records "message" as the context's last error and returns code (so callers can
 * `return ef_errorf(ctx, EF_EINVAL, ...)`). ctx may be NULL (message dropped). */
int ef_errorf(ef_ctx *ctx, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ef_verrorf(ef_ctx *ctx, int code, const char *fmt, va_list ap);
/* Prefixes the current message: "prefix: old message". Returns code. */
int ef_error_wrap(ef_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The last error message, "" when none. Borrowed; valid until the next error. */
const char *ef_errmsg(const ef_ctx *ctx);
int ef_errcode(const ef_ctx *ctx);
void ef_error_clear(ef_ctx *ctx);

void ef_log(ef_ctx *ctx, ef_log_level level, const char *func, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define EF_LOG_D(ctx, ...) ef_log((ctx), EF_LOG_DEBUG, __func__, __LINE__, __VA_ARGS__)
#define EF_LOG_I(ctx, ...) ef_log((ctx), EF_LOG_INFO, __func__, __LINE__, __VA_ARGS__)
#define EF_LOG_W(ctx, ...) ef_log((ctx), EF_LOG_WARN, __func__, __LINE__, __VA_ARGS__)
#define EF_LOG_E(ctx, ...) ef_log((ctx), EF_LOG_ERROR, __func__, __LINE__, __VA_ARGS__)

/* ---- memory -------------------------------------------------------------------- */

void *ef_malloc(size_t n);
void *ef_calloc(size_t count, size_t size);
void *ef_realloc(void *p, size_t n);
void ef_free(void *p);
char *ef_strdup(const char *s);
char *ef_strndup(const char *s, size_t n);
/* printf into a new string (ef_free it); NULL when out of memory. */
char *ef_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Test hook: the n-th allocation from now (1-based) and every one after it fail, on the
 * calling thread only; n = 0 turns injection off. Returns how many allocations were
 * made since the last call (to size the loop over n). */
long ef_alloc_fail_after(long n);
/* Number of allocations that failed by injection since the last ef_alloc_fail_after. */
long ef_alloc_failed_count(void);

/* ---- capped dynamic buffers ---------------------------------------------------- */

typedef struct {
    char *data;       /* always NUL-terminated when non-NULL */
    size_t len;       /* bytes used, not counting the NUL */
    size_t cap;       /* bytes allocated */
    size_t max_bytes; /* growth stops here: appends past it fail with EF_ELIMIT */
} ef_buf;

#define EF_BUF_INIT(max)                                                                           \
    {                                                                                              \
        NULL, 0, 0, (max)                                                                          \
    }

void ef_buf_init(ef_buf *b, size_t max_bytes);
/* Appends; on EF_ELIMIT nothing is appended. */
int ef_buf_append(ef_buf *b, const void *data, size_t len);
/* Appends as much as fits under the cap; returns EF_ELIMIT when it had to cut. */
int ef_buf_append_capped(ef_buf *b, const void *data, size_t len);
int ef_buf_appends(ef_buf *b, const char *s);
int ef_buf_appendf(ef_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ef_buf_putc(ef_buf *b, char c);
void ef_buf_reset(ef_buf *b);
/* Hands over the data (caller frees with ef_free) and resets the buffer. May be NULL. */
char *ef_buf_detach(ef_buf *b);
void ef_buf_free(ef_buf *b);

/* ---- small helpers ------------------------------------------------------------- */

/* Monotonic time. */
uint64_t ef_now_ns(void);
double ef_now_s(void);
/* Reads a whole file (cap max_bytes) into *out (ef_free), its size into *len. */
int ef_file_read(ef_ctx *ctx, const char *path, size_t max_bytes, char **out, size_t *len);
int ef_file_write(ef_ctx *ctx, const char *path, const void *data, size_t len);
/* Removes path and everything below it, at any depth (no path longer than one name is
 * ever built: each directory is opened from its parent), never following a symbolic link;
 * a directory that will not let us in is given u+rwx first. For trees a sandbox wrote.
 * 0, or the negative errno of the first failure (the rest is still removed). */
int ef_remove_tree(const char *path);

#define EF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define EF_MIN(a, b) ((a) < (b) ? (a) : (b))
#define EF_MAX(a, b) ((a) > (b) ? (a) : (b))

#ifdef __cplusplus
}
#endif
#endif /* EF_H */
