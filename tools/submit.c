/*
 * tools/submit.c — the `submit` tool: the model hands in its final answer, which ends
 * the episode (the result carries ends_episode and the context keeps the answer for the
 * verifier). A second submit replaces nothing: the first answer stands.
 */
#include <string.h>
#include "tools/tools_int.h"

static const char schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"answer\":{\"type\":\"string\",\"description\":\"the final answer\"}},"
    "\"required\":[\"answer\"],\"additionalProperties\":false}";

static int run_submit(ef_tool_ctx *tc, void *ud, const cJSON *args, ef_tool_result *out)
{
    (void)ud;
    const char *answer = cJSON_GetObjectItemCaseSensitive(args, "answer")->valuestring;
    if (tc->submitted) {
        out->ends_episode = 1;
        return ef_tools_result_setf(out, 1, "An answer was already submitted; the episode is over.");
    }
    char *copy = ef_strdup(answer);
    cJSON *data = cJSON_CreateObject();
    if (!copy || !data || !cJSON_AddStringToObject(data, "answer", answer)) {
        ef_free(copy);
        cJSON_Delete(data);
        return ef_errorf(tc->ctx, EF_ENOMEM, "submit: out of memory");
    }
    int rc = ef_tools_result_setf(out, 0, "Answer submitted; the episode ends.");
    if (rc < 0) {
        ef_free(copy);
        cJSON_Delete(data);
        return ef_errorf(tc->ctx, EF_ENOMEM, "submit: out of memory");
    }
    tc->answer = copy;
    tc->submitted = 1;
    out->data = data;
    out->ends_episode = 1;
    return 0;
}

int ef_tools__add_submit(ef_tool_registry *reg)
{
    ef_tool_def d = EF_TOOL_DEF_INIT;
    d.name = "submit";
    d.description = "Submit the final answer. This ends the episode: call it once, when done.";
    d.parameters = schema;
    d.run = run_submit;
    return ef_tools_registry_add(reg, &d);
}
