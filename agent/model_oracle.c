/*
 * agent/model_oracle.c — the `oracle` model: the env's reference solver (Lua `solve`)
 * acting through the same tool-call path as a model. It answers no requests itself: the
 * episode loop sees is_oracle() and runs ef_agent_env.solve, recording every call() as
 * an assistant tool call and a tool message, so its episodes are demonstrations.
 */
#include "agent/agent_int.h"

static int oracle_complete(ef_model *m, ef_ctx *ctx, const ef_model_request *req,
                           ef_model_response *out)
{
    (void)m;
    (void)req;
    (void)out;
    return ef_errorf(ctx, EF_EUNSUPPORTED,
                     "model oracle: acts through the env's solver, not through requests");
}

static int oracle_is_oracle(const ef_model *m)
{
    (void)m;
    return 1;
}

static void oracle_free(ef_model *m)
{
    (void)m;
}

static const ef_model_iface oracle_iface = {"oracle", oracle_complete, oracle_free,
                                            oracle_is_oracle};

int ef_agent__model_oracle_open(ef_ctx *ctx, ef_model **out)
{
    ef_model *m = ef_calloc(1, sizeof(*m));
    if (!m || !(m->name = ef_strdup("oracle"))) {
        ef_free(m);
        return ef_errorf(ctx, EF_ENOMEM, "model oracle: out of memory");
    }
    m->iface = &oracle_iface;
    *out = m;
    return 0;
}
