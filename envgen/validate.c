/*
 * envgen/validate.c — deciding whether a task is kept: its reference solution (solve
 * acting through call()) must score 1 under verify, and trivial answers — empty, the
 * constant "0", the prompt echoed, and a random answer shaped like the reference one —
 * must each score below 1, every one on a fresh copy of the initial state (so a verifier
 * that only looks at an untouched database fails, as tau-bench's lesson asks).
 */
#include <math.h>
#include <string.h>
#include "common/json.h"
#include "common/rng.h"
#include "envgen/envgen_int.h"

#define FULL_REWARD (1.0 - 1e-9)

static const char *const drop_names[EF_DROP_N_] = {
    "kept",          "generate_error", "solve_error",   "verify_error",
    "reference_fails", "trivial_empty", "trivial_const", "trivial_echo",
    "trivial_random", "duplicate"};

const char *ef_envgen_drop_name(int reason)
{
    if (reason < 0 || reason >= EF_DROP_N_)
        return "unknown";
    return drop_names[reason];
}

void ef_envgen_check_clear(ef_envgen_check *chk)
{
    if (!chk)
        return;
    ef_free(chk->message);
    ef_free(chk->answer_json);
    ef_free(chk->calls_json);
    ef_free(chk->first_tool_error);
    memset(chk, 0, sizeof *chk);
}

/* ---- the random answer shaped like the reference --------------------------------------- */

/* Writes into dst (n bytes) s[0..n) with every ASCII letter and digit replaced by a random
 * one of its kind, until the result differs from s (8 tries); 1 when it does. */
static int perturb_into(ef_rng *r, const char *s, size_t n, char *dst)
{
    for (int tries = 0; tries < 8; tries++) {
        for (size_t i = 0; i < n; i++) {
            char c = s[i];
            if (c >= '0' && c <= '9')
                c = (char)('0' + ef_rng_below(r, 10));
            else if (c >= 'a' && c <= 'z')
                c = (char)('a' + ef_rng_below(r, 26));
            else if (c >= 'A' && c <= 'Z')
                c = (char)('A' + ef_rng_below(r, 26));
            dst[i] = c;
        }
        if (memcmp(dst, s, n) != 0)
            return 1;
    }
    return 0;
}

static int perturb_string(ef_rng *r, const char *s, size_t n, char **out)
{
    char *p = ef_malloc(n + 1);
    if (!p)
        return EF_ENOMEM;
    if (perturb_into(r, s, n, p)) {
        p[n] = 0;
        *out = p;
        return 1;
    }
    ef_free(p);
    return 0;
}

/* Perturbs every leaf; returns how many changed (or <0 on OOM). */
static int perturb(ef_rng *r, cJSON *v)
{
    if (cJSON_IsString(v)) {
        char *p;
        int rc = perturb_string(r, v->valuestring, strlen(v->valuestring), &p);
        if (rc <= 0)
            return rc;
        rc = cJSON_SetValuestring(v, p) ? 1 : EF_ENOMEM;
        ef_free(p);
        return rc;
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9e15) {
            double delta = (double)(1 + ef_rng_below(r, 9)) * (ef_rng_below(r, 2) ? 1 : -1);
            cJSON_SetNumberValue(v, d + delta);
        } else {
            cJSON_SetNumberValue(v, d * (1.1 + 0.4 * ef_rng_double(r)));
        }
        return 1;
    }
    if (cJSON_IsBool(v)) {
        v->type = cJSON_IsTrue(v) ? cJSON_False : cJSON_True;
        return 1;
    }
    int n = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, v) {
        int rc = perturb(r, c);
        if (rc < 0)
            return rc;
        n += rc;
    }
    return n;
}

static char *random_answer(const char *answer_json, uint64_t seed)
{
    ef_rng r;
    ef_rng_seed(&r, ef_rng_derive(seed, 0x7472697669616cULL, 3));
    /* The common answer, a JSON string without escapes (our encoder's text, so its only
     * quotes are the outer two): its bytes between the quotes are the string itself, and
     * the perturbed one needs no escaping either (letters and digits stay letters and
     * digits), so the text is perturbed in place — the same draws and the same text
     * cJSON would give, without building its tree. */
    size_t n = strlen(answer_json);
    if (n >= 2 && answer_json[0] == '"' && answer_json[n - 1] == '"' &&
        !memchr(answer_json, '\\', n)) {
        char *out = ef_malloc(n + 1);
        if (!out)
            return NULL;
        if (!perturb_into(&r, answer_json + 1, n - 2, out + 1)) {
            ef_free(out);
            return NULL;
        }
        out[0] = '"';
        out[n - 1] = '"';
        out[n] = 0;
        return out;
    }
    cJSON *v = cJSON_Parse(answer_json);
    if (!v)
        return NULL;
    char *out = NULL;
    if (perturb(&r, v) > 0)
        out = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    return out;
}

/* ---- validation ----------------------------------------------------------------------- */

static void set_drop(ef_envgen_check *chk, int reason, char *msg)
{
    if (chk->drop == EF_DROP_NONE) {
        chk->drop = reason;
        chk->message = msg;
    } else {
        ef_free(msg);
    }
}

static const char *const trivial_names[EF_ENVGEN_N_TRIVIAL] = {
    "the empty answer", "the constant answer \"0\"", "the prompt echoed back",
    "a random answer shaped like the reference"};

int ef_envgen_validate(ef_ctx *ctx, ef_env *env, const ef_env_task *t, ef_envgen_check *chk)
{
    memset(chk, 0, sizeof *chk);
    chk->ref_reward = -1;
    for (int i = 0; i < EF_ENVGEN_N_TRIVIAL; i++)
        chk->trivial_reward[i] = -1;
    ef_env_episode *ep = NULL;
    int rc = ef_envgen__episode_new_task(ctx, env, t, &ep);
    if (rc < 0) {
        if (rc == EF_ENOMEM)
            return rc;
        set_drop(chk, EF_DROP_SOLVE, ef_strdup(ef_errmsg(ctx)));
        return 0;
    }
    /* every copy this candidate needs, in one walk of the task and one of its state: the
     * reference verify's task and each trivial answer's task and fresh state; solve then
     * gets the decoded original */
    rc = ef_envgen__episode_stash(ctx, ep, 1 + EF_ENVGEN_N_TRIVIAL, EF_ENVGEN_N_TRIVIAL, 1);
    if (rc < 0) {
        set_drop(chk, EF_DROP_SOLVE, ef_strdup(ef_errmsg(ctx)));
        ef_env_episode_free(ep);
        return rc == EF_ENOMEM ? rc : 0;
    }
    rc = ef_env_episode_solve(ctx, ep, &chk->answer_json, &chk->calls_json);
    chk->n_calls = ep->n_calls;
    if (ep->first_tool_error && !(chk->first_tool_error = ef_strdup(ep->first_tool_error))) {
        ef_env_episode_free(ep);
        return EF_ENOMEM;
    }
    if (rc < 0) {
        set_drop(chk, EF_DROP_SOLVE, ef_strdup(ef_errmsg(ctx)));
        ef_env_episode_free(ep);
        return 0;
    }
    double r;
    /* info too: one that is not JSON would otherwise first show in `envforge run` */
    char *info = NULL;
    rc = ef_env_episode_verify(ctx, ep, chk->answer_json, &r, &info);
    ef_free(info);
    if (rc < 0) {
        set_drop(chk, EF_DROP_VERIFY,
                 ef_asprintf("on the reference answer: %s", ef_errmsg(ctx)));
        ef_env_episode_free(ep);
        return 0;
    }
    chk->ref_reward = r;
    if (r < FULL_REWARD) {
        char shown[120];
        snprintf(shown, sizeof shown, "%.100s%s", chk->answer_json,
                 strlen(chk->answer_json) > 100 ? "..." : "");
        set_drop(chk, EF_DROP_REFERENCE,
                 ef_asprintf("%s:%d: verify gave the reference solution %g, not 1 (level %d, "
                             "answer %s, %zu tool calls)%s%s",
                             env->path, env->fn_line[2], r, t->level, shown, ep->n_calls,
                             ep->first_tool_error ? "; first tool error: " : "",
                             ep->first_tool_error ? ep->first_tool_error : ""));
    }
    /* trivial answers, each on a fresh copy of the initial state (the same episode: the
     * copies were made before solve, no second decode) */
    char *answers[EF_ENVGEN_N_TRIVIAL] = {NULL, NULL, NULL, NULL};
    answers[0] = ef_strdup("\"\"");
    answers[1] = ef_strdup("\"0\"");
    ef_buf echo = EF_BUF_INIT(env->limits.max_json_bytes);
    const char *prompt = t->prompt ? t->prompt : "";
    answers[2] = ef_envgen__json_quote(&echo, prompt, strlen(prompt)) == 0 ? ef_buf_detach(&echo) : NULL;
    ef_buf_free(&echo);
    answers[3] = random_answer(chk->answer_json, t->seed ^ (uint64_t)t->idx);
    for (int i = 0; i < EF_ENVGEN_N_TRIVIAL && ep; i++) {
        if (!answers[i])
            continue;
        /* on a fresh copy of the initial state each time */
        rc = ef_envgen__episode_verify(ctx, ep, answers[i], 1, &r, NULL);
        if (rc < 0) {
            set_drop(chk, EF_DROP_VERIFY,
                     ef_asprintf("on %s: %s", trivial_names[i], ef_errmsg(ctx)));
            continue;
        }
        chk->trivial_reward[i] = r;
        if (r >= FULL_REWARD)
            set_drop(chk, EF_DROP_TRIVIAL_EMPTY + i,
                     ef_asprintf("%s:%d: verify gave full reward to %s (level %d)", env->path,
                                 env->fn_line[2], trivial_names[i], t->level));
    }
    ef_env_episode_free(ep);
    for (int i = 0; i < EF_ENVGEN_N_TRIVIAL; i++)
        ef_free(answers[i]);
    return 0;
}
