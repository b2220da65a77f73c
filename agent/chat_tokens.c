/*
 * agent/chat_tokens.c — conversations as DeepSeek-V3.2 token ids and completions back
 * as messages, for the backends that work in tokens (http token-in/token-out, the
 * built-in engine). The prompt is the conversation rendered by the chat encoder
 * (engine/encoding.h) and tokenized (engine/tokenizer.h); from the second turn of an
 * episode on it is the episode's ids so far followed by the tokens of the messages that
 * came after them (tool results, the harness's error feedback), rendered as a
 * continuation of the earlier ones, so what the model sampled is never re-tokenized and
 * nothing it already saw is rendered again. A completion's text is split into reasoning,
 * content and DSML tool calls by the engine's parser.
 */
#include <string.h>
#include "agent/agent_int.h"
#include "engine/encoding.h"

/* Messages [from, to) of req->conv rendered as prompt text: from 0 the whole prompt with
 * the tools (BOS first); from > 0 only those messages, after the earlier ones as the
 * encoder's context (as DeepSeek's encode_messages renders a continuation). */
static int render(ef_ctx *ctx, const ef_agent__chat_tok *ct, const ef_model_request *req,
                  size_t from, size_t to, char **text, size_t *len)
{
    ef_agent_conv head = *req->conv, tail = *req->conv;
    head.n = from;
    tail.msgs = req->conv->msgs + from;
    tail.n = to - from;
    cJSON *doc = cJSON_CreateObject(), *msgs = NULL, *context = NULL, *tools = NULL;
    int rc = EF_ENOMEM;
    if (!doc || ef_agent_conv_to_json(&tail, req->with_reasoning, &msgs) < 0 ||
        (from && ef_agent_conv_to_json(&head, req->with_reasoning, &context) < 0))
        goto cleanup;
    ef_chat_encode_options eo = EF_CHAT_ENCODE_OPTIONS_INIT;
    eo.thinking = ct->thinking;
    eo.drop_thinking = 1;
    if (from) {
        rc = ef_engine_chat_encode(ctx, msgs, context, &eo, text, len);
        goto cleanup;
    }
    if (req->tools_json && *req->tools_json) {
        if ((rc = ef_json_parse(ctx, req->tools_json, strlen(req->tools_json), "tools", &tools)) <
            0)
            goto cleanup;
        if (!cJSON_AddItemToObject(doc, "tools", tools)) {
            cJSON_Delete(tools);
            rc = EF_ENOMEM;
            goto cleanup;
        }
        rc = EF_ENOMEM;
    }
    if (!cJSON_AddItemToObject(doc, "messages", msgs))
        goto cleanup;
    msgs = NULL;
    rc = ef_engine_chat_encode_doc(ctx, doc, &eo, text, len);
cleanup:
    cJSON_Delete(msgs);
    cJSON_Delete(context);
    cJSON_Delete(doc);
    if (rc == EF_ENOMEM)
        ef_errorf(ctx, EF_ENOMEM, "prompt: out of memory rendering the conversation");
    return rc;
}

int ef_agent__chat_prompt_ids(ef_ctx *ctx, const ef_agent__chat_tok *ct,
                              const ef_model_request *req, int32_t **ids, size_t *n_ids)
{
    char *text = NULL;
    size_t len = 0;
    int32_t *tail = NULL;
    size_t n_tail = 0;
    size_t n_msgs = req->conv->n, from = 0;
    if (req->context_ids && req->n_context_ids && req->n_context_msgs &&
        req->n_context_msgs <= n_msgs)
        from = req->n_context_msgs;
    int rc = render(ctx, ct, req, from, n_msgs, &text, &len);
    if (rc == 0 && !from)
        rc = ef_engine_tok_encode(ctx, ct->tok, text, len, 0, ids, n_ids);
    else if (rc == 0)
        rc = ef_engine_tok_encode(ctx, ct->tok, text, len, 0, &tail, &n_tail);
    if (rc == 0 && from) {
        /* the stream so far, then the new messages' tokens: what the model sampled is never
         * re-tokenized. The sampled ids end before the EOS the rendering puts after the
         * turn when the server leaves it out (or the turn was cut off). */
        int add_eos = ct->eos_id >= 0 && req->context_ids[req->n_context_ids - 1] != ct->eos_id;
        size_t n = req->n_context_ids + (size_t)add_eos + n_tail;
        int32_t *v = ef_malloc(n * sizeof(*v));
        if (!v)
            rc = ef_errorf(ctx, EF_ENOMEM, "prompt: out of memory");
        else {
            memcpy(v, req->context_ids, req->n_context_ids * sizeof(*v));
            if (add_eos)
                v[req->n_context_ids] = ct->eos_id;
            if (n_tail)
                memcpy(v + req->n_context_ids + add_eos, tail, n_tail * sizeof(*v));
            *ids = v;
            *n_ids = n;
        }
    }
    ef_free(text);
    ef_free(tail);
    return rc;
}

int ef_agent__chat_parse(ef_ctx *ctx, const ef_agent__chat_tok *ct, const char *text, size_t len,
                         ef_agent_msg *out)
{
    static const char eos[] = EF_DSV32_EOS;
    if (len >= sizeof(eos) - 1 && memcmp(text + len - (sizeof(eos) - 1), eos, sizeof(eos) - 1) == 0)
        len -= sizeof(eos) - 1;
    ef_chat_parse_options po = EF_CHAT_PARSE_OPTIONS_INIT;
    po.thinking = ct->thinking;
    po.require_eos = 0;
    cJSON *msg = NULL;
    memset(out, 0, sizeof(*out));
    out->role = EF_ROLE_ASSISTANT;
    int rc = ef_engine_chat_parse(ctx, text, len, &po, &msg);
    if (rc < 0) {
        if (rc == EF_ENOMEM)
            return rc;
        /* broken DSML: the raw text goes back as content; the loop reports it */
        out->content = ef_strndup(text, len);
        return out->content ? 0 : EF_ENOMEM;
    }
    rc = ef_agent_msg_from_json(ctx, msg, "completion", out);
    cJSON_Delete(msg);
    if (rc < 0)
        return rc;
    if (out->reasoning_content && !*out->reasoning_content) {
        ef_free(out->reasoning_content);
        out->reasoning_content = NULL;
    }
    return 0;
}
