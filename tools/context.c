/*
 * tools/context.c — the per-episode tool context: a private copy of the settings
 * (environment variables filled in for the search endpoint and key), and the state the
 * tools keep across calls (editor undo history, python session, corpus and repository
 * handles, the submitted answer), released together at the end of the episode.
 */
#include <stdlib.h>
#include <string.h>
#include "tools/tools_int.h"

static int own(ef_tool_ctx *tc, size_t slot, const char **field)
{
    if (!*field)
        return 0;
    tc->own_strings[slot] = ef_strdup(*field);
    if (!tc->own_strings[slot])
        return EF_ENOMEM;
    *field = tc->own_strings[slot];
    return 0;
}

static const char *env_or(const char *v, const char *name)
{
    if (v)
        return v;
    const char *e = getenv(name);
    return e && *e ? e : NULL;
}

int ef_tools_ctx_new(ef_ctx *ctx, const ef_tools_config *cfg, ef_tool_ctx **out)
{
    ef_tools_config def = EF_TOOLS_CONFIG_INIT;
    if (!cfg)
        cfg = &def;
    if (cfg->version != EF_TOOLS_CONFIG_VERSION)
        return ef_errorf(ctx, EF_EINVAL, "tools config: version %d, expected %d", cfg->version,
                         EF_TOOLS_CONFIG_VERSION);
    ef_tool_ctx *tc = ef_calloc(1, sizeof *tc);
    if (!tc)
        return ef_errorf(ctx, EF_ENOMEM, "tool context: out of memory");
    tc->ctx = ctx;
    tc->cfg = *cfg;
    tc->workdir_dirty = 1;
    tc->cfg.search_url = env_or(cfg->search_url, "EF_SEARCH_URL");
    tc->cfg.search_key = env_or(cfg->search_key, "EF_SEARCH_KEY");
    const char **fields[] = {&tc->cfg.workdir,          &tc->cfg.repo_path,
                             &tc->cfg.corpus_path,      &tc->cfg.search_url,
                             &tc->cfg.search_key,       &tc->cfg.fetch_allow_nets,
                             &tc->cfg.python_path,      &tc->cfg.git_author_name,
                             &tc->cfg.git_author_email};
    for (size_t i = 0; i < EF_ARRAY_LEN(fields); i++) {
        if (own(tc, i, fields[i]) < 0) {
            ef_tools_ctx_free(tc);
            return ef_errorf(ctx, EF_ENOMEM, "tool context: out of memory");
        }
    }
    *out = tc;
    return 0;
}

void ef_tools_ctx_free(ef_tool_ctx *tc)
{
    if (!tc)
        return;
    if (tc->python && tc->python_free)
        tc->python_free(tc->python);
    ef_sandbox_worker_free(tc->own_worker);
    for (size_t i = 0; i < tc->n_undo; i++) {
        ef_free(tc->undo[i].path);
        ef_free(tc->undo[i].content);
    }
    ef_free(tc->undo);
    if (tc->corpus)
        sqlite3_close(tc->corpus);
    for (size_t i = 0; i < EF_ARRAY_LEN(tc->own_strings); i++) {
        if (tc->own_strings[i] && i == 4) /* the search key: wipe before freeing */
            memset(tc->own_strings[i], 0, strlen(tc->own_strings[i]));
        ef_free(tc->own_strings[i]);
    }
    ef_free(tc->answer);
    ef_free(tc);
}

ef_ctx *ef_tools_ctx_ef(const ef_tool_ctx *tc)
{
    return tc->ctx;
}

const ef_tools_config *ef_tools_ctx_config(const ef_tool_ctx *tc)
{
    return &tc->cfg;
}

void ef_tools_ctx_workdir_changed(ef_tool_ctx *tc)
{
    tc->workdir_dirty = 1;
}

int ef_tools_ctx_submitted(const ef_tool_ctx *tc, const char **answer)
{
    if (tc->submitted && answer)
        *answer = tc->answer;
    return tc->submitted;
}

int ef_tools_available(void)
{
    return 1;
}

const char *ef_tools_missing(void)
{
    return "";
}
