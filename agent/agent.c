/*
 * agent/agent.c — small shared pieces of the agent: availability, the names of end
 * reasons and context policies, shard parsing, env release.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/agent_int.h"

int ef_agent_available(void)
{
    return 1;
}

const char *ef_agent_missing(void)
{
    return "";
}

static const char *const end_names[EF_END_COUNT_] = {"answer",      "submit",    "max_turns",
                                                     "max_tokens",  "timeout",   "context_overflow",
                                                     "model_error", "tool_error"};

const char *ef_agent_end_reason_name(ef_agent_end_reason r)
{
    return (unsigned)r < EF_END_COUNT_ ? end_names[r] : "unknown";
}

static const char *const policy_names[] = {"none", "summary", "discard-75", "discard-all"};

int ef_agent_context_policy_parse(const char *name, ef_agent_context_policy *out)
{
    for (size_t i = 0; name && i < EF_ARRAY_LEN(policy_names); i++)
        if (strcmp(name, policy_names[i]) == 0) {
            *out = (ef_agent_context_policy)i;
            return 0;
        }
    return EF_EINVAL;
}

const char *ef_agent_context_policy_name(ef_agent_context_policy p)
{
    return (unsigned)p < EF_ARRAY_LEN(policy_names) ? policy_names[p] : "unknown";
}

int ef_agent_shard_parse(ef_ctx *ctx, const char *text, int64_t *index, int64_t *count)
{
    char *end;
    long long i = strtoll(text, &end, 10);
    if (end == text || *end != '/')
        goto bad;
    const char *p = end + 1;
    long long n = strtoll(p, &end, 10);
    if (end == p || *end || n < 1 || i < 0 || i >= n)
        goto bad;
    *index = i;
    *count = n;
    return 0;
bad:
    return ef_errorf(ctx, EF_EINVAL, "--shard '%s': expected i/N with 0 <= i < N", text);
}

void ef_agent_env_free(ef_agent_env *env)
{
    if (env && env->iface && env->iface->free)
        env->iface->free(env);
}
