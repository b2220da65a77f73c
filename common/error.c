/*
 * common/error.c — error codes, the context that carries the last error message, and
 * the logging sink. A context belongs to one thread of work at a time.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "common/ef.h"
#include "common/json.h"

#define ERRMSG_CAP 2048

struct ef_ctx {
    int code;
    char msg[ERRMSG_CAP];
    ef_log_level min_level;
    ef_log_fn log_fn;
    void *log_ud;
};

static const char *const error_names[] = {
    "EF_OK: success",
    "EF_ERROR: failure",
    "EF_ENOMEM: out of memory",
    "EF_EINVAL: invalid argument or input",
    "EF_ENOTFOUND: not found",
    "EF_ETIMEOUT: time limit passed",
    "EF_ELIMIT: limit reached",
    "EF_EIO: input/output or system call error",
    "EF_ESANDBOX: sandbox error",
    "EF_EPARSE: malformed input",
    "EF_ESTORE: store (SQLite) error",
    "EF_EUNSUPPORTED: not supported here",
    "EF_EEXISTS: already exists",
    "EF_ECONFLICT: conflicting data",
    "EF_EHTTP: HTTP error",
    "EF_ELUA: Lua error",
    "EF_ECUDA: CUDA error",
    "EF_EINTR: interrupted",
    "EF_EVERIFY: verification failed",
};

const char *ef_strerror(int code)
{
    if (code > 0 || code <= EF_ERROR_MIN_)
        return "EF_?: unknown error code";
    return error_names[-code];
}

static void default_log(void *ud, ef_log_level level, const char *func, int line, const char *msg)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    (void)ud;
    if (level >= EF_LOG_WARN || !func)
        fprintf(stderr, "envforge: %s: %s\n", names[level], msg);
    else
        fprintf(stderr, "envforge: %s: %s:%d: %s\n", names[level], func, line, msg);
}

static ef_log_level level_from_env(void)
{
    const char *s = getenv("EF_LOG");
    if (!s)
        return EF_LOG_WARN;
    if (!strcasecmp(s, "debug"))
        return EF_LOG_DEBUG;
    if (!strcasecmp(s, "info"))
        return EF_LOG_INFO;
    if (!strcasecmp(s, "error"))
        return EF_LOG_ERROR;
    return EF_LOG_WARN;
}

ef_ctx *ef_ctx_new(void)
{
    ef_json_init();
    ef_ctx *ctx = ef_calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->min_level = level_from_env();
    ctx->log_fn = default_log;
    return ctx;
}

void ef_ctx_free(ef_ctx *ctx)
{
    ef_free(ctx);
}

void ef_ctx_set_log(ef_ctx *ctx, ef_log_level min_level, ef_log_fn fn, void *ud)
{
    ctx->min_level = min_level;
    ctx->log_fn = fn ? fn : default_log;
    ctx->log_ud = ud;
}

ef_log_level ef_ctx_log_level(const ef_ctx *ctx)
{
    return ctx ? ctx->min_level : EF_LOG_WARN;
}

int ef_verrorf(ef_ctx *ctx, int code, const char *fmt, va_list ap)
{
    if (!ctx)
        return code;
    ctx->code = code;
    vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
    return code;
}

int ef_errorf(ef_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ef_verrorf(ctx, code, fmt, ap);
    va_end(ap);
    return code;
}

int ef_error_wrap(ef_ctx *ctx, int code, const char *fmt, ...)
{
    if (!ctx)
        return code;
    char prefix[512], old[ERRMSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, ctx->msg, sizeof old);
    const char *rest = old[0] ? old : ef_strerror(code);
    size_t n = strlen(prefix);
    if (n > sizeof ctx->msg - 3)
        n = sizeof ctx->msg - 3;
    memcpy(ctx->msg, prefix, n);
    memcpy(ctx->msg + n, ": ", 2);
    size_t room = sizeof ctx->msg - n - 3, m = strlen(rest);
    if (m > room)
        m = room;
    memcpy(ctx->msg + n + 2, rest, m);
    ctx->msg[n + 2 + m] = '\0';
    ctx->code = code;
    return code;
}

const char *ef_errmsg(const ef_ctx *ctx)
{
    return ctx ? ctx->msg : "";
}

int ef_errcode(const ef_ctx *ctx)
{
    return ctx ? ctx->code : EF_OK;
}

void ef_error_clear(ef_ctx *ctx)
{
    if (ctx) {
        ctx->code = 0;
        ctx->msg[0] = '\0';
    }
}

void ef_log(ef_ctx *ctx, ef_log_level level, const char *func, int line, const char *fmt, ...)
{
    ef_log_level min = ctx ? ctx->min_level : level_from_env();
    if (level < min)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ctx)
        ctx->log_fn(ctx->log_ud, level, func, line, msg);
    else
        default_log(NULL, level, func, line, msg);
}
