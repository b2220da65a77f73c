/*
 * cli/cmd_serve.c — `envforge serve`: loads a model folder into the engine runtime and
 * serves the OpenAI-compatible API on it (engine/serve.h) until SIGTERM or SIGINT, then
 * shuts down cleanly (in-flight requests finish or are cancelled after a grace period).
 * The bound address goes to stderr ("listening on http://HOST:PORT/v1"), so that a test
 * or script that asked for port 0 can read the port.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "engine/serve.h"

static const char usage_text[] =
    "usage: envforge serve --model DIR [--port P] [options]\n"
    "An OpenAI-compatible server on the built-in engine: POST /v1/chat/completions (tools,\n"
    "tool_choice, reasoning_content, stream), POST /v1/completions (text or token-id\n"
    "prompts, logprobs, return_token_ids, stream), GET /v1/models, GET /health.\n"
    "  --model DIR           a deepseek_v32 model folder (config.json, safetensors,\n"
    "                        tokenizer.json)\n"
    "  --port P              TCP port (default 8000; 0: any free port, printed on stderr)\n"
    "  --host ADDR           IPv4 address to bind (default 127.0.0.1)\n"
    "  --served-model-name N the model id in /v1/models (default: DIR's base name)\n"
    "  --max-batch N         sequences decoded together (default 32)\n"
    "  --max-ctx N           prompt + completion tokens per request (default 65536)\n"
    "  --max-conns N         connections at once; more get 503 (default 64)\n"
    "  --max-body-bytes N    request body limit, 413 past it (default 8388608)\n"
    "  --chat-mode           chat requests default to non-thinking mode\n"
    "  --backend cpu|ref     engine ops (default cpu)\n"
    "  --threads N           engine threads (default, and 0: all cores)\n"
    "Stops on SIGTERM/SIGINT.\n";

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int ef_cli_serve(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return 0;
    }
    const char *model = NULL;
    ef_rt_options ro = EF_RT_OPTIONS_INIT;
    ef_server_options so = EF_SERVER_OPTIONS_INIT;
    so.port = 8000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--chat-mode")) {
            so.thinking = 0;
            continue;
        }
        if (i + 1 >= argc)
            return ef_cli_usage_error("serve", "%s needs a value (or is unknown)", a);
        const char *v = argv[++i];
        long long n = 0;
#define NUM(lo, hi) (ef_cli_parse_int("serve", a, v, (lo), (hi), &n) < 0 ? EF_EXIT_USAGE : 0)
        if (!strcmp(a, "--model"))
            model = v;
        else if (!strcmp(a, "--host"))
            so.host = v;
        else if (!strcmp(a, "--served-model-name"))
            so.served_name = v;
        else if (!strcmp(a, "--backend"))
            ro.backend = v;
        else if (!strcmp(a, "--port")) {
            if (NUM(0, 65535))
                return EF_EXIT_USAGE;
            so.port = (int)n;
        } else if (!strcmp(a, "--max-batch")) {
            if (NUM(1, 65536))
                return EF_EXIT_USAGE;
            ro.max_batch = (int)n;
        } else if (!strcmp(a, "--max-ctx")) {
            if (NUM(1, 1 << 24))
                return EF_EXIT_USAGE;
            ro.max_ctx = (int)n;
        } else if (!strcmp(a, "--max-conns")) {
            if (NUM(1, 1 << 20))
                return EF_EXIT_USAGE;
            so.max_conns = (int)n;
        } else if (!strcmp(a, "--max-body-bytes")) {
            if (NUM(1, 1LL << 40))
                return EF_EXIT_USAGE;
            so.max_body_bytes = (size_t)n;
        } else if (!strcmp(a, "--threads")) {
            if (NUM(0, 4096))
                return EF_EXIT_USAGE;
            ro.n_threads = (int)n;
        }
#undef NUM
        else
            return ef_cli_usage_error("serve", "unknown option %s", a);
    }
    if (!model)
        return ef_cli_usage_error("serve", "--model DIR is required");
    ef_ctx *ctx = ef_ctx_new();
    ef_engine_rt *rt = NULL;
    ef_engine_server *srv = NULL;
    int rc = ef_engine_rt_open(ctx, model, &ro, &rt);
    if (rc == 0)
        rc = ef_engine_server_new(ctx, rt, model, &so, &srv);
    if (rc < 0) {
        fprintf(stderr, "envforge serve: %s\n", ef_errmsg(ctx));
        ef_engine_rt_free(rt);
        ef_ctx_free(ctx);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "envforge serve: listening on http://%s:%d/v1\n",
            so.host ? so.host : "127.0.0.1", ef_engine_server_port(srv));
    fflush(stderr);
    rc = ef_engine_server_run(ctx, srv, &g_stop);
    ef_batch_stats st;
    ef_engine_batch_get_stats(ef_engine_rt_batch(rt), &st);
    fprintf(stderr,
            "envforge serve: stopped; %lld requests, %lld tokens generated, %lld prompt tokens, "
            "%lld steps, at most %lld sequences at once\n",
            (long long)st.n_requests, (long long)st.n_tokens, (long long)st.n_prefill_tokens,
            (long long)st.n_steps, (long long)st.max_active);
    ef_engine_server_free(srv);
    ef_engine_rt_free(rt);
    ef_ctx_free(ctx);
    return rc < 0 ? 1 : 0;
}
