/*
 * engine/tokenizer.h — Hugging Face tokenizer.json (byte-level BPE) in plain C.
 *
 * Overview
 *   Loads the tokenizer.json of a model folder and encodes text to token ids and ids back
 *   to text exactly as Hugging Face `tokenizers` does for the variants DeepSeek-V3/V3.2
 *   use: added and special tokens split out first (leftmost-longest, with lstrip/rstrip),
 *   an empty or Sequence normalizer, a Sequence pre-tokenizer of Split regexes (run with
 *   PCRE2 in UTF/Unicode-property mode; `\s` follows Oniguruma's White_Space set) and
 *   ByteLevel, a BPE model (merge ranks in a hash table, a heap per word, a cache per
 *   pre-token piece; unk_token, byte_fallback and ignore_merges supported), the ByteLevel
 *   decoder with Rust's lossy UTF-8 repair, and null/ByteLevel/TemplateProcessing
 *   post-processors. Anything else in the file is an error naming its JSON path.
 *
 *   A loaded tokenizer is immutable: encode and decode may run on many threads at once.
 *
 * Example
 *   ef_tokenizer *tok;
 *   if (ef_engine_tok_load(ctx, "model/tokenizer.json", &tok) < 0) return ef_errcode(ctx);
 *   int32_t *ids; size_t n;
 *   if (ef_engine_tok_encode(ctx, tok, text, strlen(text), EF_TOK_ADD_SPECIAL, &ids, &n) == 0) {
 *       char *back; size_t len;
 *       ef_engine_tok_decode(ctx, tok, ids, n, 0, &back, &len);   // == text
 *       ef_free(back);
 *       ef_free(ids);
 *   }
 *   int32_t eos = ef_engine_tok_token_id(tok, "<｜end▁of▁sentence｜>");
 *   ef_engine_tok_free(tok);
 */
#ifndef EF_ENGINE_TOKENIZER_H
#define EF_ENGINE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "common/ef.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ef_tokenizer ef_tokenizer;

/* Encode flags. */
#define EF_TOK_ADD_SPECIAL 1u   /* run the post-processor (e.g. a template adding BOS) */
#define EF_TOK_SPLIT_SPECIAL 2u /* treat added/special token text as plain text */
/* Decode flags. */
#define EF_TOK_SKIP_SPECIAL 1u /* leave out tokens marked special */

/* Largest tokenizer.json accepted (bytes). */
#define EF_TOK_MAX_FILE_BYTES ((size_t)512 << 20)

/* Loads path: a tokenizer.json file, or a folder holding one. *out: ef_engine_tok_free. */
int ef_engine_tok_load(ef_ctx *ctx, const char *path, ef_tokenizer **out);
/* Loads from JSON text; `what` names it in messages ("model/tokenizer.json"). */
int ef_engine_tok_load_json(ef_ctx *ctx, const char *text, size_t len, const char *what,
                            ef_tokenizer **out);
/* Loads from a parsed document (borrowed; nothing of it is kept). */
int ef_engine_tok_load_doc(ef_ctx *ctx, const cJSON *doc, const char *what, ef_tokenizer **out);
void ef_engine_tok_free(ef_tokenizer *tok);

/* Encodes UTF-8 text (invalid UTF-8 is EF_EINVAL naming the byte offset).
 * *ids: ef_free; *n_ids may be 0 (then *ids is still a valid allocation). */
int ef_engine_tok_encode(ef_ctx *ctx, const ef_tokenizer *tok, const char *text, size_t len,
                         unsigned flags, int32_t **ids, size_t *n_ids);
/* Decodes ids to UTF-8 text (NUL-terminated; *out: ef_free). Unknown ids are EF_EINVAL. */
int ef_engine_tok_decode(ef_ctx *ctx, const ef_tokenizer *tok, const int32_t *ids, size_t n_ids,
                         unsigned flags, char **out, size_t *out_len);

/* One more than the largest id (model vocabulary and added tokens). */
int32_t ef_engine_tok_vocab_size(const ef_tokenizer *tok);
/* The id of a token given its text as written in tokenizer.json (added tokens first, then
 * the model vocabulary); -1 when absent. */
int32_t ef_engine_tok_token_id(const ef_tokenizer *tok, const char *content);
/* The token's text as written in tokenizer.json (borrowed), NULL for an unused id. */
const char *ef_engine_tok_token_text(const ef_tokenizer *tok, int32_t id);
/* The bytes the decoder makes of this one token (borrowed; may be a partial UTF-8
 * character). Returns EF_EINVAL for an unused id. */
int ef_engine_tok_token_bytes(const ef_tokenizer *tok, int32_t id, const char **bytes, size_t *len);
/* 1 when id is an added token marked special, else 0. */
int ef_engine_tok_is_special(const ef_tokenizer *tok, int32_t id);

#ifdef __cplusplus
}
#endif
#endif /* EF_ENGINE_TOKENIZER_H */
