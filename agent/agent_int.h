/*
 * agent/agent_int.h — declarations shared between the agent's files; not public.
 */
#ifndef EF_AGENT_INT_H
#define EF_AGENT_INT_H

#include "agent/agent.h"
#include "common/json.h"
#include "engine/tokenizer.h"

/* Duplicates s (NULL stays NULL); *ok set to 0 on allocation failure. */
char *ef_agent__dup(const char *s, int *ok);
/* Makes room in the array *items (elem bytes each, *cap of them allocated) for need
 * elements, doubling from first; EF_ENOMEM, with *items and *cap unchanged, when out of
 * memory. */
int ef_agent__reserve(void **items, size_t elem, size_t need, size_t *cap, size_t first);

/* The backends' constructors (model name already split). */
int ef_agent__model_replay_open(ef_ctx *ctx, const char *path, ef_model **out);
int ef_agent__model_http_open(ef_ctx *ctx, const char *url, const ef_model_options *opts,
                              ef_model **out);
int ef_agent__model_oracle_open(ef_ctx *ctx, ef_model **out);
int ef_agent__model_engine_open(ef_ctx *ctx, const char *dir, const ef_model_options *opts,
                                ef_model **out);

/* Reads an OpenAI chat completion body (or a bare message object) into *out. */
int ef_agent__response_from_json(ef_ctx *ctx, const cJSON *j, const char *what,
                                 ef_model_response *out);

/* Builds the chat request body. *out: ef_free. */
int ef_agent__request_body(ef_ctx *ctx, const ef_model_request *req, const char *model, char **out);

/* Rough prompt size in tokens for context policies when the server gives no usage:
 * bytes / 4 over every message. */
int64_t ef_agent__conv_estimate_tokens(const ef_agent_conv *c);

/* Thinking retention: clears reasoning_content of assistant messages that precede the
 * last user message (the harness's feedback messages do not count). */
void ef_agent__retain_reasoning(ef_agent_conv *c);

/* Checks a call's parsed arguments against the top level of its tool's object schema
 * (required fields, declared types, enums). 0 fits; 1 with *why (ef_free) otherwise. */
int ef_agent__args_check(const cJSON *schema, const cJSON *args, char **why);

/* Token-level backends: the DeepSeek-V3.2 encoder and a tokenizer (agent/chat_tokens.c). */
typedef struct {
    const ef_tokenizer *tok; /* borrowed */
    int32_t eos_id;          /* -1 when the tokenizer has none */
    int thinking;            /* thinking mode (prompts end in <think>) */
} ef_agent__chat_tok;

/* The prompt ids of req: with req->context_ids, those ids (+ EOS when they do not end
 * in it) followed by the tokens of the messages after the n_context_msgs they cover,
 * rendered as the encoder's continuation of them; without, the whole conversation
 * rendered and tokenized. *ids: ef_free. */
int ef_agent__chat_prompt_ids(ef_ctx *ctx, const ef_agent__chat_tok *ct,
                              const ef_model_request *req, int32_t **ids, size_t *n_ids);
/* A completion's text (a trailing EOS dropped) as an assistant message: reasoning,
 * content, DSML tool calls; text the parser refuses becomes the content as is. */
int ef_agent__chat_parse(ef_ctx *ctx, const ef_agent__chat_tok *ct, const char *text, size_t len,
                         ef_agent_msg *out);

/* Event recording. */
int ef_agent__event_add(ef_agent_episode *ep, const char *kind, const char *payload_json);

#endif
