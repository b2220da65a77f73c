/*
 * datasets/export.c — `envforge export`: the sft, rl and tasks exports as JSONL. Each
 * format is one SQL cursor stepped inside one read transaction; the sft rows read an
 * episode's messages with a second cursor, the rl rows buffer one GRPO group's small
 * rows (ids, rewards, status) and read each sample's token stream BLOBs in place, so
 * memory does not grow with the store. The arithmetic of advantages lives in
 * datasets/grpo.c; the JSON writer in datasets/export_json.c.
 */
#include <math.h>
#include <string.h>
#include "common/json.h"
#include "datasets/export_int.h"

#define W_LIT(w, s) ef_export__jw_lit((w), (s))
#define W_KEY(w, k) ef_export__jw_key((w), (k))
#define W_STR(w, s) ef_export__jw_str((w), (s))
#define W_INT(w, v) ef_export__jw_int((w), (v))
#define W_NUM(w, v) ef_export__jw_num((w), (v))

/* The most samples one group may hold (a corrupt store could claim more). */
#define MAX_GROUP (1 << 20)

static const char submit_tool[] =
    "{\"type\":\"function\",\"function\":{\"name\":\"submit\",\"description\":\"Submit the "
    "final answer and end the task.\",\"parameters\":{\"type\":\"object\",\"properties\":"
    "{\"answer\":{\"type\":\"string\",\"description\":\"the final answer\"}},\"required\":"
    "[\"answer\"]}}}";

/* ---- shared ------------------------------------------------------------------------ */

static int prepare(ef_store *s, const char *sql, sqlite3_stmt **out)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, out, NULL);
    if (rc != SQLITE_OK)
        return ef_datasets__sqlerr(s, rc, "export: prepare");
    return 0;
}

/* Binds ?1 env, ?2 level, ?3 run. */
static void bind_filters(sqlite3_stmt *st, const ef_export_options *o)
{
    if (o->env)
        sqlite3_bind_text(st, 1, o->env, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, o->level);
    if (o->run)
        sqlite3_bind_text(st, 3, o->run, -1, SQLITE_STATIC);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Appends el to out in OpenAI form ({"type":"function","function":{...}}; a bare function
 * object is wrapped) unless a tool of its name is there already. Returns -1 when out of
 * memory; *name_out: its name (borrowed from el) or NULL. */
static int add_tool(cJSON *out, const cJSON *el, const char **name_out)
{
    *name_out = NULL;
    if (!cJSON_IsObject(el))
        return 0;
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(el, "function");
    if (!cJSON_IsObject(fn))
        fn = el;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    if (cJSON_IsString(name)) {
        *name_out = name->valuestring;
        const cJSON *have;
        cJSON_ArrayForEach(have, out)
        {
            const cJSON *hn = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(have, "function"), "name");
            if (cJSON_IsString(hn) && !strcmp(hn->valuestring, name->valuestring))
                return 0; /* the env's own tool of that name wins, as in the runner */
        }
    }
    cJSON *item;
    if (fn != el)
        item = cJSON_Duplicate(el, 1);
    else {
        item = cJSON_CreateObject();
        cJSON *dup = item ? cJSON_Duplicate(el, 1) : NULL;
        if (!dup || !cJSON_AddStringToObject(item, "type", "function") ||
            !cJSON_AddItemToObject(item, "function", dup)) {
            cJSON_Delete(dup);
            cJSON_Delete(item);
            return -1;
        }
    }
    if (!item || !cJSON_AddItemToArray(out, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

/* The tools the model saw, as an OpenAI function list: the run's config "tools" when it
 * recorded them; else the env's tools, then the run's built-in tools ("builtin_tools":
 * those the env has no tool of the same name for), then `submit` when the run offered it
 * and the env has none — the order in which the runner put them before the model. */
static char *tools_for(const char *env_tools, const char *run_config)
{
    cJSON *cfg = run_config ? cJSON_Parse(run_config) : NULL;
    cJSON *src = NULL, *out = cJSON_CreateArray();
    char *text = NULL;
    int submit = 0;
    if (!out)
        goto cleanup;
    int listed = cfg && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(cfg, "tools"));
    if (listed)
        src = cJSON_DetachItemFromObjectCaseSensitive(cfg, "tools");
    else {
        src = env_tools ? cJSON_Parse(env_tools) : NULL;
        submit = cfg && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "submit_tool"));
    }
    const cJSON *el;
    const char *name;
    cJSON_ArrayForEach(el, src)
    {
        if (add_tool(out, el, &name) < 0)
            goto cleanup;
        if (name && !strcmp(name, "submit"))
            submit = 0;
    }
    const cJSON *builtins = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "builtin_tools") : NULL;
    if (!listed)
        cJSON_ArrayForEach(el, builtins)
        {
            if (add_tool(out, el, &name) < 0)
                goto cleanup;
        }
    if (submit) {
        cJSON *item = cJSON_Parse(submit_tool);
        if (!item || !cJSON_AddItemToArray(out, item)) {
            cJSON_Delete(item);
            goto cleanup;
        }
    }
    text = ef_json_print(out);
cleanup:
    cJSON_Delete(cfg);
    cJSON_Delete(src);
    cJSON_Delete(out);
    return text;
}

/* A small cache of tool lists by (run, env): exports are ordered by run, so a handful
 * of slots is plenty. */
#define TOOLS_SLOTS 16
typedef struct {
    int64_t run_id, env_id;
    char *json;
} tools_slot;

typedef struct {
    tools_slot slot[TOOLS_SLOTS];
    unsigned next;
} tools_cache;

static const char *tools_cached(tools_cache *c, int64_t run_id, int64_t env_id,
                                const char *env_tools, const char *run_config)
{
    for (int i = 0; i < TOOLS_SLOTS; i++)
        if (c->slot[i].json && c->slot[i].run_id == run_id && c->slot[i].env_id == env_id)
            return c->slot[i].json;
    char *j = tools_for(env_tools, run_config);
    if (!j)
        return NULL;
    tools_slot *s = &c->slot[c->next++ % TOOLS_SLOTS];
    ef_free(s->json);
    s->run_id = run_id;
    s->env_id = env_id;
    s->json = j;
    return j;
}

static void tools_cache_free(tools_cache *c)
{
    for (int i = 0; i < TOOLS_SLOTS; i++)
        ef_free(c->slot[i].json);
}

/* ---- sft --------------------------------------------------------------------------- */

/* Episode columns shared by sft and rl. */
static const char episode_sql[] =
    "SELECT ep.id, ep.run_id, ep.group_id, ep.task_id, ep.sample_idx, ep.reward, "
    "ep.verified, ep.status, ep.end_reason, ep.n_turns, ep.answer, ep.verify_info, "
    "r.name, r.group_size, r.config_json, e.id, e.name, e.tools_json, t.level, "
    "EXISTS (SELECT 1 FROM token_streams ts WHERE ts.episode_id = ep.id), "
    "(ep.end_reason = 'model_error' OR ep.error LIKE 'verify: %') "
    "FROM episodes ep JOIN runs r ON r.id = ep.run_id JOIN tasks t ON t.id = ep.task_id "
    "JOIN envs e ON e.id = t.env_id "
    "WHERE (?1 IS NULL OR e.name = ?1) AND (?2 < 0 OR t.level = ?2) "
    "AND (?3 IS NULL OR r.name = ?3) AND ep.reward >= ?4 AND (?5 = 0 OR ep.verified = 1) "
    "ORDER BY ep.run_id, ep.group_id, ep.sample_idx, ep.id";
enum {
    C_ID,
    C_RUN_ID,
    C_GROUP_ID,
    C_TASK_ID,
    C_SAMPLE,
    C_REWARD,
    C_VERIFIED,
    C_STATUS,
    C_END,
    C_TURNS,
    C_ANSWER,
    C_VINFO,
    C_RUN,
    C_GROUP_SIZE,
    C_RUN_CONFIG,
    C_ENV_ID,
    C_ENV,
    C_ENV_TOOLS,
    C_LEVEL,
    C_HAS_TOKENS,
    C_FAULT /* the model or the verifier failed: no verdict on the model (run.c retries) */
};

/* An assistant's stored tool_calls, written in OpenAI form with arguments as a JSON
 * string whatever the stored form was. */
static void write_tool_calls(ef_jw *w, const char *json)
{
    cJSON *arr = cJSON_Parse(json);
    ef_export__jw_putc(w, '[');
    int first = 1;
    const cJSON *c;
    cJSON_ArrayForEach(c, arr)
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
        const cJSON *src = cJSON_IsObject(fn) ? fn : c;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(src, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(src, "arguments");
        W_LIT(w, first ? "{" : ",{");
        first = 0;
        W_KEY(w, "id");
        W_STR(w, cJSON_IsString(id) ? id->valuestring : "");
        W_LIT(w, ",\"type\":\"function\",\"function\":{");
        W_KEY(w, "name");
        W_STR(w, cJSON_IsString(name) ? name->valuestring : "");
        ef_export__jw_putc(w, ',');
        W_KEY(w, "arguments");
        if (cJSON_IsString(args))
            W_STR(w, args->valuestring);
        else if (args) {
            char *t = ef_json_print(args);
            W_STR(w, t ? t : "{}");
            ef_free(t);
        } else
            W_STR(w, "{}");
        W_LIT(w, "}}");
    }
    ef_export__jw_putc(w, ']');
    cJSON_Delete(arr);
}

static int write_messages(ef_store *s, sqlite3_stmt *mq, ef_jw *w, int64_t episode_id)
{
    sqlite3_reset(mq);
    sqlite3_bind_int64(mq, 1, episode_id);
    ef_export__jw_putc(w, '[');
    int rc, first = 1;
    while ((rc = sqlite3_step(mq)) == SQLITE_ROW) {
        const char *role = col_text(mq, 0);
        const char *content = col_text(mq, 1);
        const char *reasoning = col_text(mq, 2);
        const char *calls = col_text(mq, 3);
        W_LIT(w, first ? "{" : ",{");
        first = 0;
        W_KEY(w, "role");
        W_STR(w, role);
        ef_export__jw_putc(w, ',');
        W_KEY(w, "content");
        W_STR(w, content ? content : "");
        if (role && !strcmp(role, "assistant")) {
            if (reasoning) {
                ef_export__jw_putc(w, ',');
                W_KEY(w, "reasoning_content");
                W_STR(w, reasoning);
            }
            if (calls && strcmp(calls, "[]") != 0) {
                ef_export__jw_putc(w, ',');
                W_KEY(w, "tool_calls");
                write_tool_calls(w, calls);
            }
        } else if (role && !strcmp(role, "tool")) {
            ef_export__jw_putc(w, ',');
            W_KEY(w, "tool_call_id");
            W_STR(w, col_text(mq, 4) ? col_text(mq, 4) : "");
            if (col_text(mq, 5)) {
                ef_export__jw_putc(w, ',');
                W_KEY(w, "name");
                W_STR(w, col_text(mq, 5));
            }
        }
        ef_export__jw_putc(w, '}');
    }
    ef_export__jw_putc(w, ']');
    if (rc != SQLITE_DONE)
        return ef_datasets__sqlerr(s, rc, "export: messages of episode %lld",
                                   (long long)episode_id);
    return 0;
}

static int export_sft(ef_store *s, const ef_export_options *o, ef_jw *w, ef_export_stats *st)
{
    sqlite3_stmt *q = NULL, *mq = NULL;
    tools_cache tc;
    memset(&tc, 0, sizeof(tc));
    int rc;
    if ((rc = prepare(s, episode_sql, &q)) < 0 ||
        (rc = prepare(s,
                      "SELECT role, content, reasoning_content, tool_calls, tool_call_id, name "
                      "FROM messages WHERE episode_id = ?1 ORDER BY idx",
                      &mq)) < 0)
        goto cleanup;
    bind_filters(q, o);
    sqlite3_bind_double(q, 4, o->min_reward < 0 ? -1.0 : o->min_reward);
    sqlite3_bind_int(q, 5, o->verified_only);
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW && !w->failed) {
        int64_t id = sqlite3_column_int64(q, C_ID);
        if (sqlite3_column_int(q, C_FAULT)) {
            st->n_faulty++; /* a server or verifier failure is no trajectory of the model */
            continue;
        }
        const char *tools =
            tools_cached(&tc, sqlite3_column_int64(q, C_RUN_ID), sqlite3_column_int64(q, C_ENV_ID),
                         col_text(q, C_ENV_TOOLS), col_text(q, C_RUN_CONFIG));
        if (!tools) {
            rc = ef_errorf(ef_store_ctx(s), EF_ENOMEM, "export: out of memory");
            goto cleanup;
        }
        W_LIT(w, "{\"messages\":");
        if ((rc = write_messages(s, mq, w, id)) < 0)
            goto cleanup;
        W_LIT(w, ",\"tools\":");
        W_LIT(w, tools);
        W_LIT(w, ",\"env\":");
        W_STR(w, col_text(q, C_ENV));
        W_LIT(w, ",\"level\":");
        W_INT(w, sqlite3_column_int64(q, C_LEVEL));
        W_LIT(w, ",\"task_id\":");
        W_INT(w, sqlite3_column_int64(q, C_TASK_ID));
        W_LIT(w, ",\"reward\":");
        W_NUM(w, sqlite3_column_double(q, C_REWARD));
        W_LIT(w, sqlite3_column_int(q, C_VERIFIED) ? ",\"verified\":true" : ",\"verified\":false");
        W_LIT(w, ",\"run\":");
        W_STR(w, col_text(q, C_RUN));
        W_LIT(w, ",\"episode_id\":");
        W_INT(w, id);
        W_LIT(w, ",\"group_id\":");
        W_INT(w, sqlite3_column_int64(q, C_GROUP_ID));
        W_LIT(w, ",\"sample_idx\":");
        W_INT(w, sqlite3_column_int64(q, C_SAMPLE));
        W_LIT(w, ",\"status\":");
        W_STR(w, col_text(q, C_STATUS));
        W_LIT(w, ",\"end_reason\":");
        W_STR(w, col_text(q, C_END));
        W_LIT(w, ",\"num_turns\":");
        W_INT(w, sqlite3_column_int64(q, C_TURNS));
        W_LIT(w, ",\"answer\":");
        W_STR(w, col_text(q, C_ANSWER));
        /* A JSON string: its shape varies by verifier, a column must not. */
        W_LIT(w, ",\"verify_info\":");
        W_STR(w, col_text(q, C_VINFO));
        W_LIT(w, "}\n");
        st->n_rows++;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = ef_datasets__sqlerr(s, step, "export: episodes");
cleanup:
    tools_cache_free(&tc);
    sqlite3_finalize(q);
    sqlite3_finalize(mq);
    return rc;
}

/* ---- rl ---------------------------------------------------------------------------- */

typedef struct {
    int64_t id, task_id, sample_idx, n_turns;
    double reward;
    int verified, has_tokens, passes, faulty;
    char status[24], end_reason[32];
} member;

typedef struct {
    int64_t run_id, group_id, group_size;
    int level;
    char *run, *env;
    member *m;
    size_t n, cap;
    double *rewards, *adv;
} group_buf;

static void copy_small(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static int write_sample(ef_store *s, sqlite3_stmt *tq, ef_jw *w, const group_buf *g, size_t i,
                        uint64_t group_index, uint64_t index)
{
    const member *m = &g->m[i];
    sqlite3_reset(tq);
    sqlite3_bind_int64(tq, 1, m->id);
    int rc = sqlite3_step(tq);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE
                   ? ef_errorf(ef_store_ctx(s), EF_ENOTFOUND,
                               "export: episode %lld: token stream vanished", (long long)m->id)
                   : ef_datasets__sqlerr(s, rc, "export: token stream");
    int64_t n = sqlite3_column_int64(tq, 0);
    const void *ids = sqlite3_column_blob(tq, 1);
    const unsigned char *mask = sqlite3_column_blob(tq, 2);
    const void *lp = sqlite3_column_blob(tq, 3);
    int lp_bytes = sqlite3_column_bytes(tq, 3);
    const void *offs = sqlite3_column_blob(tq, 4);
    int offs_bytes = sqlite3_column_bytes(tq, 4);
    const void *topp = sqlite3_column_blob(tq, 5);
    int topp_bytes = sqlite3_column_bytes(tq, 5);
    int64_t L = sqlite3_column_int64(tq, 6), K = sqlite3_column_int64(tq, 7);
    int rb = sqlite3_column_int(tq, 8);
    const unsigned char *routes = sqlite3_column_blob(tq, 9);
    int64_t routes_bytes = sqlite3_column_bytes(tq, 9);
    ef_ctx *ctx = ef_store_ctx(s);
    if (n < 0 || (n && (!ids || !mask)) || (lp && lp_bytes != 4 * n) ||
        (offs && offs_bytes != 4 * (n + 1)) ||
        (routes && (L <= 0 || K <= 0 || (rb != 1 && rb != 2) || routes_bytes != rb * n * L * K)))
        return ef_errorf(ctx, EF_ESTORE,
                         "export: episode %lld: token stream BLOBs do not match n_tokens %lld "
                         "(run `envforge` with a store written by this version)",
                         (long long)m->id, (long long)n);
    if (offs && n >= 0 && 4LL * ef_export__le_i32(offs, (size_t)n) != topp_bytes)
        return ef_errorf(ctx, EF_ESTORE,
                         "export: episode %lld: topp_ids holds %d bytes, "
                         "offsets say %lld",
                         (long long)m->id, topp_bytes, 4LL * ef_export__le_i32(offs, (size_t)n));
    int64_t p = 0; /* prompt length: tokens before the first model token */
    while (p < n && !mask[p])
        p++;
    if (p == n) /* no model token: all prompt, empty response */
        p = n;
    int64_t resp = n - p;
    W_LIT(w, "{\"group_index\":");
    W_INT(w, (int64_t)group_index);
    W_LIT(w, ",\"index\":");
    W_INT(w, (int64_t)index);
    W_LIT(w, ",\"tokens\":[");
    for (int64_t t = 0; t < n; t++) {
        if (t)
            ef_export__jw_putc(w, ',');
        W_INT(w, ef_export__le_i32(ids, (size_t)t));
    }
    W_LIT(w, "],\"prompt_length\":");
    W_INT(w, p);
    W_LIT(w, ",\"response_length\":");
    W_INT(w, resp);
    W_LIT(w, ",\"loss_mask\":[");
    for (int64_t t = p; t < n; t++) {
        if (t > p)
            ef_export__jw_putc(w, ',');
        ef_export__jw_putc(w, mask[t] ? '1' : '0');
    }
    W_LIT(w, "],\"reward\":");
    W_NUM(w, m->reward);
    W_LIT(w, ",\"advantage\":");
    W_NUM(w, g->adv[i]);
    W_LIT(w, ",\"rollout_log_probs\":");
    if (lp) {
        ef_export__jw_putc(w, '[');
        for (int64_t t = p; t < n; t++) {
            if (t > p)
                ef_export__jw_putc(w, ',');
            ef_export__jw_f32(w, ef_export__le_f32(lp, (size_t)t));
        }
        ef_export__jw_putc(w, ']');
    } else
        W_LIT(w, "null");
    W_LIT(w, ",\"rollout_top_p_token_ids\":");
    if (offs) {
        int32_t base = ef_export__le_i32(offs, (size_t)p), end = ef_export__le_i32(offs, (size_t)n);
        ef_export__jw_putc(w, '[');
        for (int32_t k = base; k < end; k++) {
            if (k > base)
                ef_export__jw_putc(w, ',');
            W_INT(w, ef_export__le_i32(topp, (size_t)k));
        }
        W_LIT(w, "],\"rollout_top_p_token_offsets\":[");
        for (int64_t t = p; t <= n; t++) {
            if (t > p)
                ef_export__jw_putc(w, ',');
            W_INT(w, ef_export__le_i32(offs, (size_t)t) - base);
        }
        ef_export__jw_putc(w, ']');
    } else
        W_LIT(w, "null,\"rollout_top_p_token_offsets\":null");
    W_LIT(w, ",\"rollout_routed_experts\":");
    if (routes) {
        ef_export__jw_putc(w, '[');
        for (int64_t t = p; t < n; t++) {
            if (t > p)
                ef_export__jw_putc(w, ',');
            ef_export__jw_putc(w, '[');
            for (int64_t l = 0; l < L; l++) {
                if (l)
                    ef_export__jw_putc(w, ',');
                ef_export__jw_putc(w, '[');
                for (int64_t k = 0; k < K; k++) {
                    size_t at = (size_t)((t * L + l) * K + k);
                    if (k)
                        ef_export__jw_putc(w, ',');
                    W_INT(w, rb == 1 ? routes[at] : ef_export__le_u16(routes, at));
                }
                ef_export__jw_putc(w, ']');
            }
            ef_export__jw_putc(w, ']');
        }
        ef_export__jw_putc(w, ']');
    } else
        W_LIT(w, "null");
    W_LIT(w, ",\"status\":");
    W_STR(w, m->status);
    W_LIT(w, ",\"metadata\":{\"run\":");
    W_STR(w, g->run);
    W_LIT(w, ",\"run_id\":");
    W_INT(w, g->run_id);
    W_LIT(w, ",\"group_id\":");
    W_INT(w, g->group_id);
    W_LIT(w, ",\"group_size\":");
    W_INT(w, g->group_size);
    W_LIT(w, ",\"group_samples\":");
    W_INT(w, (int64_t)g->n);
    W_LIT(w, ",\"sample_idx\":");
    W_INT(w, m->sample_idx);
    W_LIT(w, ",\"episode_id\":");
    W_INT(w, m->id);
    W_LIT(w, ",\"task_id\":");
    W_INT(w, m->task_id);
    W_LIT(w, ",\"env\":");
    W_STR(w, g->env);
    W_LIT(w, ",\"level\":");
    W_INT(w, g->level);
    W_LIT(w, ",\"end_reason\":");
    W_STR(w, m->end_reason);
    W_LIT(w, m->verified ? ",\"verified\":true" : ",\"verified\":false");
    W_LIT(w, ",\"num_turns\":");
    W_INT(w, m->n_turns);
    if (routes) {
        W_LIT(w, ",\"route_layers\":");
        W_INT(w, L);
        W_LIT(w, ",\"route_topk\":");
        W_INT(w, K);
    }
    W_LIT(w, "}}\n");
    return 0;
}

/* Writes the buffered group when it is complete; counts it as skipped otherwise.
 *
 * A sample without a token stream is a verdict the export cannot write: the runner keeps
 * no stream once it stops describing one context (a context reset replaced earlier turns;
 * an unparsable tool call was answered by a user message, after which the encoder drops
 * the earlier reasoning), and tokens rebuilt from the messages would not be what the
 * model sampled in the context it saw. Such samples are left out and the group written
 * with the rest, its advantages computed over those — the same figures a trainer that
 * groups rows by group_index computes from the rows — when at least 2 remain; a group
 * with fewer, or any with o->full_groups, is skipped. */
static int flush_group(ef_store *s, sqlite3_stmt *tq, ef_jw *w, group_buf *g,
                       const ef_export_options *o, ef_export_stats *st, uint64_t *index)
{
    if (!g->n)
        return 0;
    int complete = (int64_t)g->n == g->group_size, passes = 1, faulty = 0;
    size_t n_tokens = 0;
    for (size_t i = 0; i < g->n; i++) {
        passes &= g->m[i].passes;
        n_tokens += g->m[i].has_tokens != 0;
        faulty |= g->m[i].faulty;
        if (i && g->m[i].sample_idx == g->m[i - 1].sample_idx)
            complete = 0;
    }
    int tokens = n_tokens == g->n || (!o->full_groups && n_tokens >= 2);
    int rc = 0;
    if (!complete)
        st->n_groups_incomplete++;
    else if (faulty) /* a reward 0 there is the server's or the verifier's, not the model's */
        st->n_groups_faulty++;
    else if (!passes)
        st->n_groups_filtered++;
    else if (!tokens)
        st->n_groups_no_tokens++;
    if (!complete || faulty || !passes || !tokens) {
        st->n_samples_skipped += g->n;
        goto done;
    }
    if (n_tokens < g->n) {
        size_t k = 0;
        for (size_t i = 0; i < g->n; i++) {
            if (g->m[i].has_tokens)
                g->m[k++] = g->m[i];
            else if (!st->n_samples_no_tokens++)
                st->first_no_tokens = g->m[i].id;
        }
        g->n = k;
        st->n_groups_short++;
    }
    for (size_t i = 0; i < g->n; i++)
        g->rewards[i] = g->m[i].reward;
    ef_grpo_advantages(g->rewards, g->n, o->grpo, g->adv);
    for (size_t i = 0; i < g->n && rc == 0; i++) {
        rc = write_sample(s, tq, w, g, i, st->n_groups, (*index)++);
        st->n_rows++;
    }
    st->n_groups++;
done:
    g->n = 0;
    return rc;
}

static int group_push(group_buf *g, ef_ctx *ctx)
{
    if (g->n < g->cap)
        return 0;
    if (g->cap >= MAX_GROUP)
        return ef_errorf(ctx, EF_ELIMIT, "export: run %lld group %lld has more than %d samples",
                         (long long)g->run_id, (long long)g->group_id, MAX_GROUP);
    size_t cap = g->cap ? g->cap * 2 : 16;
    member *m = ef_realloc(g->m, cap * sizeof(*m));
    if (m)
        g->m = m;
    double *r = ef_realloc(g->rewards, cap * sizeof(double));
    if (r)
        g->rewards = r;
    double *a = ef_realloc(g->adv, cap * sizeof(double));
    if (a)
        g->adv = a;
    if (!m || !r || !a)
        return ef_errorf(ctx, EF_ENOMEM, "export: out of memory");
    g->cap = cap;
    return 0;
}

static int set_str(char **dst, const char *src, ef_ctx *ctx)
{
    if (*dst && src && !strcmp(*dst, src))
        return 0;
    ef_free(*dst);
    *dst = ef_strdup(src ? src : "");
    return *dst ? 0 : ef_errorf(ctx, EF_ENOMEM, "export: out of memory");
}

static int export_rl(ef_store *s, const ef_export_options *o, ef_jw *w, ef_export_stats *st)
{
    ef_ctx *ctx = ef_store_ctx(s);
    sqlite3_stmt *q = NULL, *tq = NULL;
    group_buf g;
    memset(&g, 0, sizeof(g));
    uint64_t index = 0;
    int rc;
    if ((rc = prepare(s, episode_sql, &q)) < 0 ||
        (rc = prepare(s,
                      "SELECT n_tokens, token_ids, loss_mask, logprobs, topp_offsets, topp_ids, "
                      "route_layers, route_topk, route_bytes, routes FROM token_streams "
                      "WHERE episode_id = ?1",
                      &tq)) < 0)
        goto cleanup;
    /* Filters that choose samples are applied per group below, never in SQL: a group
     * must be judged whole. */
    bind_filters(q, o);
    sqlite3_bind_double(q, 4, -1.0);
    sqlite3_bind_int(q, 5, 0);
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW && !w->failed) {
        int64_t run_id = sqlite3_column_int64(q, C_RUN_ID);
        int64_t group_id = sqlite3_column_int64(q, C_GROUP_ID);
        if (g.n && (run_id != g.run_id || group_id != g.group_id) &&
            (rc = flush_group(s, tq, w, &g, o, st, &index)) < 0)
            goto cleanup;
        if (!g.n) {
            g.run_id = run_id;
            g.group_id = group_id;
            g.group_size = sqlite3_column_int64(q, C_GROUP_SIZE);
            g.level = sqlite3_column_int(q, C_LEVEL);
            if ((rc = set_str(&g.run, col_text(q, C_RUN), ctx)) < 0 ||
                (rc = set_str(&g.env, col_text(q, C_ENV), ctx)) < 0)
                goto cleanup;
        }
        if ((rc = group_push(&g, ctx)) < 0)
            goto cleanup;
        member *m = &g.m[g.n++];
        m->id = sqlite3_column_int64(q, C_ID);
        m->task_id = sqlite3_column_int64(q, C_TASK_ID);
        m->sample_idx = sqlite3_column_int64(q, C_SAMPLE);
        m->n_turns = sqlite3_column_int64(q, C_TURNS);
        m->reward = sqlite3_column_double(q, C_REWARD);
        m->verified = sqlite3_column_int(q, C_VERIFIED);
        m->has_tokens = sqlite3_column_int(q, C_HAS_TOKENS);
        m->faulty = sqlite3_column_int(q, C_FAULT);
        m->passes =
            (o->min_reward < 0 || m->reward >= o->min_reward) && (!o->verified_only || m->verified);
        copy_small(m->status, sizeof(m->status), col_text(q, C_STATUS));
        copy_small(m->end_reason, sizeof(m->end_reason), col_text(q, C_END));
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW) {
        rc = ef_datasets__sqlerr(s, step, "export: episodes");
        goto cleanup;
    }
    rc = flush_group(s, tq, w, &g, o, st, &index);
cleanup:
    ef_free(g.m);
    ef_free(g.rewards);
    ef_free(g.adv);
    ef_free(g.run);
    ef_free(g.env);
    sqlite3_finalize(q);
    sqlite3_finalize(tq);
    return rc;
}

/* ---- tasks ------------------------------------------------------------------------- */

static int export_tasks(ef_store *s, const ef_export_options *o, ef_jw *w, ef_export_stats *st)
{
    sqlite3_stmt *q = NULL;
    tools_cache tc;
    memset(&tc, 0, sizeof(tc));
    int rc = prepare(s,
                     "SELECT t.id, t.idx, t.seed, t.level, t.content_hash, t.prompt, t.task_json, "
                     "e.id, e.name, e.version, e.category, e.tools_json "
                     "FROM tasks t JOIN envs e ON e.id = t.env_id "
                     "WHERE (?1 IS NULL OR e.name = ?1) AND (?2 < 0 OR t.level = ?2) "
                     "AND (?3 IS NULL OR EXISTS (SELECT 1 FROM episodes ep JOIN runs r "
                     "ON r.id = ep.run_id WHERE ep.task_id = t.id AND r.name = ?3)) "
                     "ORDER BY t.env_id, t.level, t.id",
                     &q);
    if (rc < 0)
        goto cleanup;
    bind_filters(q, o);
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW && !w->failed) {
        const char *task_json = col_text(q, 6);
        cJSON *task = cJSON_Parse(task_json ? task_json : "null");
        const cJSON *ans = cJSON_GetObjectItemCaseSensitive(task, "answer");
        char *truth = cJSON_IsString(ans) ? NULL : (ans ? ef_json_print(ans) : NULL);
        const char *category = col_text(q, 10);
        const char *tools = tools_cached(&tc, 0, sqlite3_column_int64(q, 7), col_text(q, 11), NULL);
        W_LIT(w, "{\"data_source\":");
        char src[256];
        snprintf(src, sizeof(src), "envforge/%s", col_text(q, 8) ? col_text(q, 8) : "");
        W_STR(w, src);
        W_LIT(w, ",\"prompt\":[{\"role\":\"user\",\"content\":");
        W_STR(w, col_text(q, 5));
        W_LIT(w, "}],\"ability\":");
        W_STR(w, category ? category : "agent");
        W_LIT(w, ",\"reward_model\":{\"style\":\"rule\",\"ground_truth\":");
        W_STR(w, cJSON_IsString(ans) ? ans->valuestring : truth ? truth : "");
        W_LIT(w, "},\"extra_info\":{\"index\":");
        W_INT(w, (int64_t)st->n_rows);
        W_LIT(w, ",\"split\":\"train\",\"task_id\":");
        W_INT(w, sqlite3_column_int64(q, 0));
        W_LIT(w, ",\"env\":");
        W_STR(w, col_text(q, 8));
        W_LIT(w, ",\"env_version\":");
        W_INT(w, sqlite3_column_int64(q, 9));
        W_LIT(w, ",\"level\":");
        W_INT(w, sqlite3_column_int64(q, 3));
        W_LIT(w, ",\"idx\":");
        W_INT(w, sqlite3_column_int64(q, 1));
        /* The 64-bit seed as a decimal string, exact whatever reads it. */
        char seed[32];
        snprintf(seed, sizeof(seed), "%llu", (unsigned long long)sqlite3_column_int64(q, 2));
        W_LIT(w, ",\"seed\":");
        W_STR(w, seed);
        W_LIT(w, ",\"content_hash\":");
        W_STR(w, col_text(q, 4));
        W_LIT(w, ",\"tools\":");
        W_STR(w, tools ? tools : "[]");
        W_LIT(w, ",\"task_json\":");
        W_STR(w, task_json);
        W_LIT(w, "}}\n");
        ef_free(truth);
        cJSON_Delete(task);
        st->n_rows++;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = ef_datasets__sqlerr(s, step, "export: tasks");
cleanup:
    tools_cache_free(&tc);
    sqlite3_finalize(q);
    return rc;
}

/* ---- entry ------------------------------------------------------------------------- */

int ef_export_write(ef_store *s, const ef_export_options *o, FILE *out, ef_export_stats *st)
{
    ef_export_stats local;
    ef_export_stats *acc = st ? st : &local;
    memset(acc, 0, sizeof(*acc));
    ef_ctx *ctx = ef_store_ctx(s);
    if (!o || o->version != EF_EXPORT_OPTIONS_VERSION)
        return ef_errorf(ctx, EF_EINVAL, "export: options version %u, expected %u",
                         o ? o->version : 0, EF_EXPORT_OPTIONS_VERSION);
    if (o->min_reward > 1.0 || isnan(o->min_reward))
        return ef_errorf(ctx, EF_EINVAL, "export: --min-reward %g is outside [0, 1]",
                         o->min_reward);
    ef_jw w;
    ef_export__jw_init(&w, out);
    int rc = ef_export__read_begin(s);
    if (rc < 0)
        return rc;
    switch (o->format) {
    case EF_EXPORT_SFT:
        rc = export_sft(s, o, &w, acc);
        break;
    case EF_EXPORT_RL:
        rc = export_rl(s, o, &w, acc);
        break;
    case EF_EXPORT_TASKS:
        rc = export_tasks(s, o, &w, acc);
        break;
    default:
        rc = ef_errorf(ctx, EF_EINVAL, "export: unknown format %d", (int)o->format);
    }
    ef_export__read_end(s);
    ef_export__jw_flush(&w);
    if (rc == 0 && w.failed)
        rc = ef_errorf(ctx, EF_EIO,
                       "export: writing the output failed (disk full, or the "
                       "reader closed the pipe)");
    acc->n_bytes = w.n_bytes;
    return rc;
}
