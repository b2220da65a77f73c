/*
 * engine/encoding.h — DeepSeek-V3.2 chat encoding (messages + tools -> prompt text) and
 * the DSML parser (completion text -> assistant message).
 *
 * Overview
 *   ef_engine_chat_encode renders OpenAI-form messages (cJSON) the way DeepSeek's
 *   published encoder (encoding_dsv32.py, encode_messages) does, byte for byte: BOS, the
 *   system prompt with the tools section and JSON Schemas (Python json.dumps style:
 *   ", " and ": " separators, non-ASCII kept), <｜User｜>/<｜Assistant｜> turns, thinking
 *   (<think>...</think>) kept after the last user turn and dropped before it, tool calls
 *   as <｜DSML｜function_calls> blocks with string="true|false" parameters, tool results
 *   in <function_results>/<result>.
 *
 *   ef_engine_chat_parse is the inverse for one assistant completion: reasoning, content
 *   and DSML tool calls, with each call's arguments rebuilt as a JSON object string (as
 *   DeepSeek's parse_message_from_completion_text does). It is THE DSML parser of the
 *   project: malformed text (unterminated blocks, unknown tags, bad JSON parameter
 *   values, stray special tokens) is an EF_EPARSE error whose message names the byte
 *   offset and what was expected; it never crashes and allocates in proportion to the
 *   input (capped).
 *
 *   Where Python's encoder would print None (a user or tool turn with no content), so does
 *   this one; content given as an array of {"type":"text","text":...} parts is joined.
 *   Numbers inside cJSON values (tool schemas) print as Python would print the parsed
 *   value, except that integral floats written "1.0" in the source print as "1" (cJSON
 *   keeps no such distinction) — unless the document was read with
 *   ef_engine_pyjson_parse, which keeps Python's text for every number (the CLI does);
 *   tool-call arguments are JSON text and keep it exactly.
 *
 * Example
 *   ef_chat_encode_options eo = EF_CHAT_ENCODE_OPTIONS_INIT;   // thinking, drop, BOS
 *   char *prompt; size_t len;
 *   if (ef_engine_chat_encode(ctx, messages, NULL, &eo, &prompt, &len) < 0) ...
 *   ...generate completion text...
 *   ef_chat_parse_options po = EF_CHAT_PARSE_OPTIONS_INIT;
 *   cJSON *msg;   // {"role":"assistant","content":..,"reasoning_content":..,"tool_calls":[..]}
 *   if (ef_engine_chat_parse(ctx, completion, n, &po, &msg) < 0)
 *       fprintf(stderr, "%s\n", ef_errmsg(ctx));
 */
#ifndef EF_ENGINE_ENCODING_H
#define EF_ENGINE_ENCODING_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "common/ef.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The special strings of the DeepSeek-V3.2 encoding. */
#define EF_DSV32_BOS "<｜begin▁of▁sentence｜>"
#define EF_DSV32_EOS "<｜end▁of▁sentence｜>"
#define EF_DSV32_USER "<｜User｜>"
#define EF_DSV32_ASSISTANT "<｜Assistant｜>"
#define EF_DSV32_THINK "<think>"
#define EF_DSV32_THINK_END "</think>"
#define EF_DSV32_DSML "｜DSML｜"

typedef struct {
    int version;       /* 1 */
    int thinking;      /* 1: thinking mode; 0: chat mode */
    int drop_thinking; /* thinking mode: reasoning of turns before the last user turn
                          is dropped (and developer turns before it, as DeepSeek does) */
    int add_bos;       /* BOS first, when there is no context */
    size_t max_bytes;  /* cap on the prompt; EF_ELIMIT past it */
} ef_chat_encode_options;

#define EF_CHAT_ENCODE_OPTIONS_INIT                                                                \
    {                                                                                              \
        1, 1, 1, 1, (size_t)256 << 20                                                              \
    }

/* Encodes `messages` (a JSON array) after `context` (an array or NULL: earlier messages
 * that are already in the prompt; only `messages` are rendered, as encode_messages does).
 * *out (ef_free) is NUL-terminated; *out_len may be NULL. Errors name the message index
 * and field ("messages[3].tool_calls[0].function.arguments: ..."). */
int ef_engine_chat_encode(ef_ctx *ctx, const cJSON *messages, const cJSON *context,
                          const ef_chat_encode_options *opt, char **out, size_t *out_len);

/* Encodes a document in the golden vectors' input form {"tools": [...], "messages": [...]}:
 * the top-level tools are attached to the first message (DeepSeek's test does this). */
int ef_engine_chat_encode_doc(ef_ctx *ctx, const cJSON *doc, const ef_chat_encode_options *opt,
                              char **out, size_t *out_len);

typedef struct {
    int version;      /* 1 */
    int thinking;     /* 1: the completion starts inside <think> (thinking mode) */
    int require_eos;  /* 1: a reply without tool calls must end with EOS, as DeepSeek's
                         parser wants (after a closed function_calls block EOS is optional
                         either way); 0: EOS is optional everywhere (servers often strip it) */
    size_t max_bytes; /* inputs longer than this are EF_ELIMIT */
} ef_chat_parse_options;

#define EF_CHAT_PARSE_OPTIONS_INIT                                                                 \
    {                                                                                              \
        1, 1, 1, (size_t)64 << 20                                                                  \
    }

/* Parses one assistant completion. *out (cJSON_Delete):
 *   {"role": "assistant", "content": "...", "reasoning_content": "...",
 *    "tool_calls": [{"type": "function", "function": {"name": "...", "arguments": "{...}"}}]}
 * reasoning_content is "" in chat mode; tool_calls is [] when there are none. */
int ef_engine_chat_parse(ef_ctx *ctx, const char *text, size_t len,
                         const ef_chat_parse_options *opt, cJSON **out);

/* ---- Python-compatible JSON (encoding_pyjson.c) ------------------------------------------ */

/* Appends json.dumps(value, ensure_ascii=False) of a cJSON value. EF_ELIMIT at the cap,
 * EF_EINVAL for invalid UTF-8 in a string. */
int ef_engine_pyjson_dump(const cJSON *value, ef_buf *out);
/* Appends the Python json.dumps(string, ensure_ascii=False) of UTF-8 bytes. */
int ef_engine_pyjson_dump_str(const char *s, size_t len, ef_buf *out);
/* Appends json.dumps(json.loads(text)): JSON text re-printed as Python prints it, numbers
 * kept as Python keeps them (ints exact, floats by shortest repr). EF_EPARSE for text
 * json.loads rejects; the message (on ctx) names the byte offset. */
int ef_engine_pyjson_redump(ef_ctx *ctx, const char *text, size_t len, ef_buf *out);

/* Parses JSON text as Python's json.loads sees it, into cJSON: numbers (and NaN,
 * Infinity) become raw items holding the text Python would print for them, so that
 * ef_engine_pyjson_dump and the encoder print "1.0" where the text had 1.0; a repeated key
 * keeps its first place and its last value. *out: cJSON_Delete. EF_EPARSE names the byte
 * offset; a string holding \u0000 is refused (cJSON strings end at NUL). */
int ef_engine_pyjson_parse(ef_ctx *ctx, const char *text, size_t len, cJSON **out);

/* The members of a JSON object text, in order, as Python's dict would hold them (a
 * repeated key keeps its first position and its last value). For each: the key (UTF-8),
 * the value as Python would hand it over: a string value decoded (is_string = 1), any
 * other value re-dumped (is_string = 0). */
typedef struct {
    char *key;
    size_t key_len;
    char *value;
    size_t value_len;
    int is_string;
} ef_pyjson_member;

/* *members: ef_engine_pyjson_members_free. EF_EPARSE when text is not a JSON object. */
int ef_engine_pyjson_object_members(ef_ctx *ctx, const char *text, size_t len,
                                    ef_pyjson_member **members, size_t *n_members);
void ef_engine_pyjson_members_free(ef_pyjson_member *members, size_t n_members);

#ifdef __cplusplus
}
#endif
#endif /* EF_ENGINE_ENCODING_H */
