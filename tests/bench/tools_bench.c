/*
 * tests/bench/tools_bench.c — the python tool's persistent interpreter against a fresh
 * sandboxed python3 per call: N sequential calls each way, the same sandbox settings
 * (workdir at /work, no network, the tool's limits), calls/s, p50 and p99, and the ratio.
 * The persistent path is the whole tool call (JSON arguments, schema check, framing, the
 * driver, the reply formatted for the model); the fresh path is ef_sandbox_run of
 * `python3 -I -c CODE` alone. Also the bash tool's calls/s, for scale.
 *
 *   bench_tools [N_CALLS]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/json.h"
#include "tools/tools.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double per_s, p50_ms, p99_ms;
    int failures;
} stats;

static stats summarize(double *lat, int n, double total_s, int failures)
{
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    stats s = {n / total_s, lat[n / 2], lat[(int)(n * 0.99) < n ? (int)(n * 0.99) : n - 1],
               failures};
    return s;
}

static void print_stats(const char *name, stats s)
{
    printf("  %-44s %8.1f calls/s  p50 %7.2f ms  p99 %7.2f ms%s\n", name, s.per_s, s.p50_ms,
           s.p99_ms, s.failures ? "  (FAILURES)" : "");
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 300;
    if (n < 10)
        n = 10;
    ef_ctx *ctx = ef_ctx_new();
    char dir[] = "/tmp/ef_bench_tools.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    ef_tool_registry *reg = NULL;
    ef_tool_ctx *tc = NULL;
    ef_tools_config cfg = EF_TOOLS_CONFIG_INIT;
    cfg.workdir = dir;
    if (ef_tools_registry_new(ctx, &reg) < 0 || ef_tools_add_builtins(reg, NULL) < 0 ||
        ef_tools_ctx_new(ctx, &cfg, &tc) < 0) {
        fprintf(stderr, "bench_tools: %s\n", ef_errmsg(ctx));
        return 1;
    }
    double *lat = calloc((size_t)n, sizeof *lat);
    int fails = 0;

    /* warm-up: starts the interpreter (its start is not part of the per-call figure) */
    ef_tool_result r = EF_TOOL_RESULT_INIT;
    double t_start = ef_now_s();
    if (ef_tools_registry_call(reg, tc, "python", "{\"code\":\"x = 0\"}", &r) < 0 || r.is_error) {
        fprintf(stderr, "bench_tools: python tool: %s\n", r.text ? r.text : ef_errmsg(ctx));
        return 1;
    }
    double start_ms = (ef_now_s() - t_start) * 1e3;
    ef_tools_result_free(&r);
    double t0 = ef_now_s();
    for (int i = 0; i < n; i++) {
        double a = ef_now_s();
        if (ef_tools_registry_call(reg, tc, "python", "{\"code\":\"x += 1\\nx * 2\"}", &r) < 0 ||
            r.is_error)
            fails++;
        ef_tools_result_free(&r);
        lat[i] = (ef_now_s() - a) * 1e3;
    }
    stats persistent = summarize(lat, n, ef_now_s() - t0, fails);
    ef_tools_registry_call(reg, tc, "python", "{\"code\":\"x\"}", &r);
    int state_ok = r.text && atoi(r.text) == n;
    ef_tools_result_free(&r);

    /* a fresh sandboxed python3 per call, same options */
    ef_sandbox_worker *w = NULL;
    if (ef_sandbox_worker_new(ctx, NULL, &w) < 0) {
        fprintf(stderr, "bench_tools: %s\n", ef_errmsg(ctx));
        return 1;
    }
    ef_sandbox_options o = EF_SANDBOX_OPTIONS_INIT;
    o.workdir = dir;
    o.wall_ms = cfg.python_timeout_ms;
    o.mem_bytes = (int64_t)cfg.python_mem_mb << 20;
    o.out_bytes = (int64_t)cfg.max_output_bytes;
    const char *pyargv[] = {"python3", "-I", "-c", "x = 1\nprint(x * 2)", NULL};
    fails = 0;
    t0 = ef_now_s();
    for (int i = 0; i < n; i++) {
        double a = ef_now_s();
        ef_sandbox_result *res = NULL;
        if (ef_sandbox_run(ctx, w, &o, pyargv, &res) < 0 || res->status != EF_SANDBOX_OK)
            fails++;
        ef_sandbox_result_free(res);
        lat[i] = (ef_now_s() - a) * 1e3;
    }
    stats fresh = summarize(lat, n, ef_now_s() - t0, fails);

    /* bash tool, for scale */
    fails = 0;
    int n_bash = n < 200 ? n : 200;
    t0 = ef_now_s();
    for (int i = 0; i < n_bash; i++) {
        double a = ef_now_s();
        if (ef_tools_registry_call(reg, tc, "bash", "{\"command\":\"echo $((6*7))\"}", &r) < 0 ||
            r.is_error)
            fails++;
        ef_tools_result_free(&r);
        lat[i] = (ef_now_s() - a) * 1e3;
    }
    stats bash = summarize(lat, n_bash, ef_now_s() - t0, fails);

    double load = 0;
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (fscanf(lf, "%lf", &load) != 1)
            load = 0;
        fclose(lf);
    }
    printf("tools bench: %d sequential calls each, %ld cores, load %.2f\n", n,
           sysconf(_SC_NPROCESSORS_ONLN), load);
    printf("  python interpreter start (first call):       %.1f ms\n", start_ms);
    print_stats("python tool, persistent session", persistent);
    print_stats("fresh sandboxed python3 per call", fresh);
    print_stats("bash tool (fresh sandboxed bash per call)", bash);
    printf("  ratio persistent / fresh: %.1fx (state kept across %d calls: %s)\n",
           persistent.per_s / fresh.per_s, n, state_ok ? "yes" : "NO");
    printf("{\"n\":%d,\"python_persistent_calls_per_s\":%.1f,\"python_fresh_calls_per_s\":%.1f,"
           "\"ratio\":%.2f,\"bash_calls_per_s\":%.1f,\"python_start_ms\":%.1f}\n",
           n, persistent.per_s, fresh.per_s, persistent.per_s / fresh.per_s, bash.per_s,
           start_ms);
    ef_sandbox_worker_free(w);
    ef_tools_ctx_free(tc);
    ef_tools_registry_free(reg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(lat);
    ef_ctx_free(ctx);
    return persistent.failures || fresh.failures || !state_ok ? 1 : 0;
}
