/*
 * engine/constrain.h — constrained decoding of DeepSeek-V3.2 DSML tool calls.
 *
 * Overview
 *   A completion is forced into the shape
 *     [reasoning "</think>"] [content] "\n\n<｜DSML｜function_calls>\n"
 *     <｜DSML｜invoke name="TOOL">\n <parameters> \n</｜DSML｜invoke> (joined by "\n")
 *     "\n</｜DSML｜function_calls>" EOS
 *   where TOOL is one of the given tools (OpenAI form: [{"type":"function","function":
 *   {"name", "parameters"}}]), each parameter name is a property of its schema (each at
 *   most once, every required one present), string-typed parameters are written raw
 *   (string="true") and every other value is JSON (string="false") that follows the
 *   property's schema: types (one or a list), enum/const, object properties and required,
 *   array items with minItems/maxItems, string minLength/maxLength, integer ranges of at
 *   most 64 values (as an enum) and a non-negative minimum. JSON is written in one
 *   canonical layout (Python's json.dumps separators: ", " and ": ").
 *
 *   So that every path ends, free text has byte budgets (reasoning, content, strings
 *   without maxLength), arrays without maxItems get max_array_items, numbers at most
 *   max_int_digits digits (and 4 decimals), and calls are capped at max_calls. Text never
 *   holds '<' outside the tags, nor U+F000..U+FFFF (the DSML bar U+FF5C lives there) nor
 *   4-byte UTF-8, so the DSML parser cannot be confused by a value; JSON strings hold no
 *   escapes. Not enforced: pattern, exclusive bounds, wide numeric ranges, format.
 *
 *   Masks are computed by walking a trie over the token byte strings of the vocabulary
 *   (built once per tokenizer, shared by threads): a branch is followed only while the
 *   grammar accepts its bytes, so the work is proportional to the allowed prefixes, never
 *   a scan of the whole vocabulary. The grammar is a byte-level pushdown automaton with a
 *   small fixed-size state that the walk copies at each step. Inside free text (reasoning,
 *   strings) a subtree whose tokens are all plain text within the remaining budget is
 *   taken whole from a precomputed range, so free text does not cost a walk of the trie.
 *
 * Example
 *   ef_constrain_vocab *v;
 *   ef_engine_constrain_vocab_new(ctx, tok, &v);              // once
 *   ef_constrain_options o = EF_CONSTRAIN_OPTIONS_INIT;
 *   ef_constrain *c;
 *   ef_engine_constrain_new(ctx, v, tools, &o, &c);           // per completion
 *   while (!ef_engine_constrain_done(c)) {
 *       const int32_t *ids; int n;
 *       ef_engine_constrain_allowed(ctx, c, &ids, &n);
 *       ... sample among ids ...
 *       ef_engine_constrain_accept(ctx, c, token);
 *   }
 *   ef_engine_constrain_free(c); ef_engine_constrain_vocab_free(v);
 */
#ifndef EF_ENGINE_CONSTRAIN_H
#define EF_ENGINE_CONSTRAIN_H

#include <stdint.h>
#include <cjson/cJSON.h>
#include "common/ef.h"
#include "engine/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ef_constrain_vocab ef_constrain_vocab;

/* The trie over every non-special token's bytes; the EOS token is found by its text.
 * *out: ef_engine_constrain_vocab_free. Immutable; shared by threads. */
int ef_engine_constrain_vocab_new(ef_ctx *ctx, const ef_tokenizer *tok, ef_constrain_vocab **out);
void ef_engine_constrain_vocab_free(ef_constrain_vocab *v);

#define EF_CONSTRAIN_OPTIONS_VERSION 1
typedef struct {
    int version;
    int thinking;            /* 1: the completion starts inside <think> */
    int max_reasoning_bytes; /* free reasoning before "</think>" (default 64) */
    int max_content_bytes;   /* free content before the calls (default 0; no newlines) */
    int max_calls;           /* invokes in the block (default 1) */
    int max_string_chars;    /* strings without maxLength (default 24) */
    int max_array_items;     /* arrays without maxItems (default 3) */
    int max_int_digits;      /* (default 6) */
    int slow_masks;          /* 1: step every trie edge, no plain-text shortcut (tests) */
} ef_constrain_options;
#define EF_CONSTRAIN_OPTIONS_INIT                                                                  \
    {                                                                                              \
        EF_CONSTRAIN_OPTIONS_VERSION, 1, 64, 0, 1, 24, 3, 6, 0                                     \
    }

typedef struct ef_constrain ef_constrain;

/* A grammar for one completion over `tools` (an OpenAI tools array; borrowed only during
 * the call). EF_EINVAL naming the tool and field for schemas it cannot hold (over 63
 * properties or 64 tools, nesting past 12 levels). *out: ef_engine_constrain_free. */
int ef_engine_constrain_new(ef_ctx *ctx, const ef_constrain_vocab *v, const cJSON *tools,
                            const ef_constrain_options *opts, ef_constrain **out);
void ef_engine_constrain_free(ef_constrain *c);

/* The ids allowed next (borrowed until the next call on c), in trie order. The EOS id
 * comes only once the block is closed. EF_EINVAL when the vocabulary cannot continue
 * (a byte no token spells). */
int ef_engine_constrain_allowed(ef_ctx *ctx, ef_constrain *c, const int32_t **ids, int *n);
/* Advances by one token; EF_EINVAL when the grammar does not allow it. */
int ef_engine_constrain_accept(ef_ctx *ctx, ef_constrain *c, int32_t token);
/* 1 once EOS was accepted. */
int ef_engine_constrain_done(const ef_constrain *c);
/* The EOS id of the vocabulary (-1 when it has none). */
int32_t ef_engine_constrain_eos(const ef_constrain_vocab *v);

#ifdef __cplusplus
}
#endif
#endif /* EF_ENGINE_CONSTRAIN_H */
