/*
 * common/fts.h — full-text search over text in any script, for the search tool's corpus
 * (tools/corpus.c) and the envs' in-memory index (envgen/search.c).
 *
 * SQLite's unicode61 tokenizer splits on spaces and punctuation, so a run of Chinese or
 * Japanese text, written without spaces, becomes one token and no word inside it can be
 * found. The `ef_cjk` tokenizer wraps unicode61: text outside CJK runs goes to unicode61
 * unchanged (same tokens, same positions), and a run of Han, kana or Hangul characters is
 * indexed as one token per character plus, at the same position, the bigram it starts
 * (as Lucene's CJK analyzer does). A query then finds any word of two or more characters
 * as a phrase of bigrams, and a single character alone.
 *
 *   ef_fts_register(db);     // once per connection, before any statement uses it
 *   CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter ef_cjk');
 *
 * Queries made from free text: ef_fts_terms() cuts one word (a run of letters and digits
 * as the caller found it) into the terms a query should OR together: the parts outside
 * CJK runs whole, each CJK run as its overlapping bigrams (a lone character as itself),
 * since CJK queries have no spaces to split words on.
 */
#ifndef EF_FTS_H
#define EF_FTS_H

#include <sqlite3.h>
#include <stddef.h>

/* Registers the ef_cjk tokenizer on db. 0, or an SQLite error code (FTS5 missing). */
int ef_fts_register(sqlite3 *db);

/* Calls fn for each query term of word[0..n) as above; stops early when fn returns
 * non-zero and returns that value, else 0. */
int ef_fts_terms(const char *word, size_t n, int (*fn)(void *ud, const char *t, size_t tn),
                 void *ud);

/* The byte length of the CJK character at p (UTF-8, at most n bytes), 0 if p does not
 * start one. */
size_t ef_fts_cjk_len(const unsigned char *p, size_t n);

#endif
