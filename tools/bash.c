/*
 * tools/bash.c — the `bash` tool: one command per call, run by bash in the sandbox with
 * the episode's workdir at /work as its cwd; stdout and stderr capped; the result says
 * how it ended (exit status, timeout, a limit). Nothing persists between calls but the
 * files in the workdir.
 */
#include <stdio.h>
#include <string.h>
#include "tools/tools_int.h"

static const char schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"command\":{\"type\":\"string\",\"minLength\":1,\"description\":\"a bash command line, "
    "run in the working directory (/work); each call starts a fresh shell\"},"
    "\"timeout_s\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":600,\"description\":"
    "\"time limit in seconds (default and upper bound: the episode's)\"}},"
    "\"required\":[\"command\"],\"additionalProperties\":false}";

static int append_stream(ef_buf *b, const char *name, const ef_sandbox_stream *s)
{
    if (s->len == 0)
        return 0;
    int rc = ef_buf_appendf(b, "[%s]\n", name);
    if (rc == 0)
        rc = ef_buf_append(b, s->data, s->len);
    if (rc == 0 && s->data[s->len - 1] != '\n')
        rc = ef_buf_putc(b, '\n');
    if (rc == 0 && s->truncated)
        rc = ef_buf_appendf(b, "[%s truncated: %zu of %zu bytes shown]\n", name, s->len,
                            s->total);
    return rc;
}

/* How the run ended, for the model. */
static int append_status(ef_buf *b, const ef_sandbox_result *r, int64_t wall_ms)
{
    switch (r->status) {
    case EF_SANDBOX_OK:
    case EF_SANDBOX_NONZERO_EXIT:
    case EF_SANDBOX_OUTPUT_LIMIT:
        return ef_buf_appendf(b, "[exit code %d]", r->exit_code);
    case EF_SANDBOX_TIMEOUT:
        return ef_buf_appendf(b, "[timed out after %.1f s; the command was killed]",
                              (double)wall_ms / 1000.0);
    case EF_SANDBOX_SIGNALED:
        return ef_buf_appendf(b, "[killed by signal %d]", r->signal);
    case EF_SANDBOX_SECCOMP:
        return ef_buf_appendf(b, "[killed: system call %s is not allowed]", r->detail);
    default:
        return ef_buf_appendf(b, "[%s%s%s]", ef_sandbox_status_name(r->status),
                              r->detail[0] ? ": " : "", r->detail);
    }
}

static int run_bash(ef_tool_ctx *tc, void *ud, const cJSON *args, ef_tool_result *out)
{
    (void)ud;
    ef_ctx *ctx = tc->ctx;
    ef_sandbox_worker *w;
    int rc = ef_tools__sandbox_prepare(tc, &w);
    if (rc < 0)
        return rc;
    const char *command = cJSON_GetObjectItemCaseSensitive(args, "command")->valuestring;
    int64_t timeout_s = 0, wall_ms = tc->cfg.bash_timeout_ms > 0 ? tc->cfg.bash_timeout_ms : 30000;
    ef_json_opt_int(ctx, args, "timeout_s", 0, &timeout_s);
    if (timeout_s > 0 && timeout_s * 1000 < wall_ms)
        wall_ms = timeout_s * 1000;
    ef_sandbox_options o;
    ef_tools__sandbox_options(tc, wall_ms, tc->cfg.bash_mem_mb, &o);
    const char *argv[] = {"/bin/bash", "-c", command, NULL};
    ef_sandbox_result *r = NULL;
    if ((rc = ef_sandbox_run(ctx, w, &o, argv, &r)) < 0)
        return rc;
    if (r->status == EF_SANDBOX_SETUP_ERROR) {
        rc = ef_errorf(ctx, EF_ESANDBOX, "the sandbox could not start the command: %s",
                       r->detail);
        ef_sandbox_result_free(r);
        return rc;
    }
    ef_buf b = EF_BUF_INIT((size_t)o.out_bytes * 2 + 4096);
    rc = append_stream(&b, "stdout", &r->out);
    if (rc == 0)
        rc = append_stream(&b, "stderr", &r->err);
    if (rc == 0)
        rc = append_status(&b, r, wall_ms);
    cJSON *data = cJSON_CreateObject();
    if (rc < 0 || !data || !cJSON_AddStringToObject(data, "status", ef_sandbox_status_name(r->status)) ||
        !cJSON_AddNumberToObject(data, "exit_code", r->exit_code) ||
        !cJSON_AddNumberToObject(data, "wall_ms", r->wall_ms) ||
        !cJSON_AddBoolToObject(data, "truncated", r->out.truncated || r->err.truncated)) {
        cJSON_Delete(data);
        ef_buf_free(&b);
        ef_sandbox_result_free(r);
        return ef_errorf(ctx, EF_ENOMEM, "bash: out of memory");
    }
    out->truncated = r->out.truncated || r->err.truncated;
    int failed = r->status != EF_SANDBOX_OK && r->status != EF_SANDBOX_NONZERO_EXIT;
    ef_sandbox_result_free(r);
    out->data = data;
    return ef_tools__result_take(out, failed, ef_buf_detach(&b));
}

int ef_tools__add_bash(ef_tool_registry *reg)
{
    ef_tool_def d = EF_TOOL_DEF_INIT;
    d.name = "bash";
    d.description = "Run a bash command in the sandboxed working directory (/work). No "
                    "network; output is capped; each call is a fresh shell, only files persist.";
    d.parameters = schema;
    d.run = run_bash;
    return ef_tools_registry_add(reg, &d);
}
