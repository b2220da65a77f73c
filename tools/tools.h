/*
 * tools/tools.h — the tool registry, JSON Schemas and the built-in tools.
 *
 * Overview
 *   A registry (ef_tool_registry) holds tools. Each tool has a name, a description, its
 *   parameters as a JSON Schema object (OpenAI function-calling form) and a run callback
 *   with a user pointer. The built-in tools (python, bash, editor, search, fetch, git,
 *   submit) register through the same interface as the env's own Lua tools.
 *
 *   ef_tools_registry_call() parses the model's argument text, checks it against the
 *   tool's schema and only then runs the tool. Anything the model did wrong — unknown
 *   tool, invalid JSON, a missing or mistyped field, a file that is not there — comes back
 *   as an error *result* (is_error = 1, text naming the field), never as a failed call:
 *   a negative return means the host itself failed (out of memory).
 *
 *   A tool context (ef_tool_ctx) holds one episode's state: its workdir, sandbox limits,
 *   the python session, the editor's undo history, the corpus and repository handles,
 *   search/fetch settings and byte caps. Free it at the end of the episode.
 *
 * Example
 *   ef_tool_registry *reg;
 *   ef_tools_registry_new(ctx, &reg);
 *   ef_tools_add_builtins(reg, NULL);                // every built-in tool
 *   ef_tools_config cfg = EF_TOOLS_CONFIG_INIT;
 *   cfg.workdir = "/tmp/episode-17";
 *   ef_tool_ctx *tc;
 *   ef_tools_ctx_new(ctx, &cfg, &tc);
 *   ef_tool_result r = EF_TOOL_RESULT_INIT;
 *   if (ef_tools_registry_call(reg, tc, "python", "{\"code\":\"x = 41\\nx + 1\"}", &r) == 0)
 *       printf("%s%s\n", r.is_error ? "error: " : "", r.text);   // "42"
 *   ef_tools_result_free(&r);
 *   ef_tools_ctx_free(tc);
 *   ef_tools_registry_free(reg);
 *
 * Threads: a registry is read-only after setup and may be shared; a tool context belongs
 * to one episode and one thread at a time.
 */
#ifndef EF_TOOLS_H
#define EF_TOOLS_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "common/ef.h"
#include "sandbox/sandbox.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- results ------------------------------------------------------------------ */

typedef struct {
    char *text;       /* for the model; never NULL after a call returned 0 (ef_malloc'd) */
    cJSON *data;      /* structured result (may be NULL); owned */
    int is_error;     /* 1: the call failed (bad arguments, tool error) */
    int ends_episode; /* 1: the tool ends the episode (submit) */
    int truncated;    /* 1: text was cut at a byte cap */
} ef_tool_result;

#define EF_TOOL_RESULT_INIT {NULL, NULL, 0, 0, 0}

/* Frees what the result owns and resets it to EF_TOOL_RESULT_INIT. Accepts NULL. */
void ef_tools_result_free(ef_tool_result *r);
/* Sets text (printf) and the error flag on a result; for tool authors. Returns 0, or
 * EF_ENOMEM. Replaces any text already there. */
int ef_tools_result_setf(ef_tool_result *r, int is_error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the per-episode tool context --------------------------------------------- */

/* Settings of one episode's tools. Strings are copied by ef_tools_ctx_new. */
typedef struct {
    int version;
    const char *workdir;      /* the episode's working directory on the host (required for
                                 python, bash, editor; git's default repository) */
    const char *repo_path;    /* git repository; NULL = workdir */
    const char *corpus_path;  /* local search corpus (envforge corpus build); NULL = none */
    const char *search_url;   /* SearxNG-compatible endpoint; NULL = $EF_SEARCH_URL */
    const char *search_key;   /* sent as "Authorization: Bearer KEY", never logged;
                                 NULL = $EF_SEARCH_KEY */
    int search_timeout_ms;    /* per HTTP attempt */
    int search_retries;       /* extra attempts on 429, 5xx and transport errors */
    int search_backoff_ms;    /* first backoff; doubles per retry (Retry-After wins) */
    size_t search_max_bytes;  /* response body cap */
    int fetch_timeout_ms;
    int fetch_max_redirects;
    size_t fetch_max_bytes;   /* body cap; longer pages are cut */
    int fetch_allow_private;  /* 1: loopback/private/link-local addresses allowed */
    const char *fetch_allow_nets; /* comma-separated CIDRs allowed even when private
                                     ("127.0.0.2/32,fd00::/8"); NULL = none */
    size_t max_output_bytes;  /* cap on every tool's text for the model */
    int python_timeout_ms;    /* per call */
    int python_mem_mb;        /* address-space cap of the interpreter */
    int bash_timeout_ms;      /* per call */
    int bash_mem_mb;
    int sandbox_network;      /* 1: python/bash get the host network (default 0: none) */
    int sandbox_allow_weak;   /* 1: run python/bash even without user namespaces */
    ef_sandbox_worker *sandbox_worker; /* borrowed, one per thread; NULL: the context makes
                                          its own on first use */
    const char *python_path;  /* interpreter inside the sandbox; NULL = "python3" found on PATH */
    const char *git_author_name;  /* commits by the git tool */
    const char *git_author_email;
} ef_tools_config;

#define EF_TOOLS_CONFIG_VERSION 1
#define EF_TOOLS_CONFIG_INIT                                                                   \
    {EF_TOOLS_CONFIG_VERSION, NULL, NULL, NULL, NULL, NULL, 10000, 3, 250, 4u << 20,         \
     15000, 5, 2u << 20, 0, NULL, 64u << 10, 30000, 1024, 30000, 1024, 0, 0, NULL, NULL,     \
     "envforge agent", "agent@envforge.invalid"}

typedef struct ef_tool_ctx ef_tool_ctx;

/* A context for one episode. ctx receives errors and logs (borrowed; must outlive the
 * tool context). *out: ef_tools_ctx_free. */
int ef_tools_ctx_new(ef_ctx *ctx, const ef_tools_config *cfg, ef_tool_ctx **out);
/* Stops the python session, closes the corpus and repository. Accepts NULL. */
void ef_tools_ctx_free(ef_tool_ctx *tc);
/* Borrowed views. */
ef_ctx *ef_tools_ctx_ef(const ef_tool_ctx *tc);
const ef_tools_config *ef_tools_ctx_config(const ef_tool_ctx *tc);
/* Tells the context that the host wrote into the workdir during the episode: the files
 * are handed to the sandbox's uid again before the next tool call that touches them
 * (tools' own writes need no notice). */
void ef_tools_ctx_workdir_changed(ef_tool_ctx *tc);
/* 1 once submit was called; *answer (borrowed) is its answer. */
int ef_tools_ctx_submitted(const ef_tool_ctx *tc, const char **answer);

/* ---- tools and the registry --------------------------------------------------- */

/* A tool's run callback. args has passed the schema check. Fill *out (text, data, flags);
 * return 0. A negative return (with a message on ef_tools_ctx_ef(tc)) is turned into an
 * error result carrying that message, except EF_ENOMEM, which fails the call. */
typedef int (*ef_tool_run_fn)(ef_tool_ctx *tc, void *ud, const cJSON *args, ef_tool_result *out);

typedef struct {
    int version;
    const char *name;        /* [A-Za-z0-9_-]{1,64}, unique in the registry */
    const char *description;
    const char *parameters;  /* JSON Schema text of an object: {"type":"object",...} */
    ef_tool_run_fn run;
    void *ud;                /* passed to run; the registry does not own it... */
    void (*ud_free)(void *ud); /* ...unless this is set: called when the registry is freed */
} ef_tool_def;

#define EF_TOOL_DEF_VERSION 1
#define EF_TOOL_DEF_INIT {EF_TOOL_DEF_VERSION, NULL, NULL, NULL, NULL, NULL, NULL}

typedef struct ef_tool_registry ef_tool_registry;

int ef_tools_registry_new(ef_ctx *ctx, ef_tool_registry **out);
void ef_tools_registry_free(ef_tool_registry *reg);
/* Adds a tool. The schema is parsed and checked (only the supported keywords, each of the
 * right form); a bad schema fails with EF_EINVAL naming the keyword and its path. A name
 * already registered fails with EF_EEXISTS. On failure ud_free is not called. */
int ef_tools_registry_add(ef_tool_registry *reg, const ef_tool_def *def);
size_t ef_tools_registry_count(const ef_tool_registry *reg);
/* The i-th tool's name / description / schema (borrowed; in registration order). */
const char *ef_tools_registry_name(const ef_tool_registry *reg, size_t i);
const char *ef_tools_registry_description(const ef_tool_registry *reg, size_t i);
const cJSON *ef_tools_registry_schema(const ef_tool_registry *reg, size_t i);
/* Index of a tool by name, or -1. */
long ef_tools_registry_find(const ef_tool_registry *reg, const char *name);
/* [{"type":"function","function":{"name","description","parameters"}}, ...] in
 * registration order. *out: cJSON_Delete. */
int ef_tools_registry_openai(const ef_tool_registry *reg, cJSON **out);

/* Runs one tool call: parses args_json (NULL or "" mean {}), checks it against the schema,
 * runs the tool and caps the text at the context's max_output_bytes. *out is always
 * filled when 0 is returned; is_error tells the model's mistakes and tool failures.
 * Returns EF_ENOMEM (or EF_EINVAL for NULL arguments) when the host failed. */
int ef_tools_registry_call(ef_tool_registry *reg, ef_tool_ctx *tc, const char *name,
                           const char *args_json, ef_tool_result *out);
/* The same with arguments already parsed (Lua and the oracle hand tables over). */
int ef_tools_registry_call_json(ef_tool_registry *reg, ef_tool_ctx *tc, const char *name,
                                const cJSON *args, ef_tool_result *out);

/* The built-in tools, by name. */
extern const char *const ef_tools_builtin_names[]; /* NULL-terminated */
/* Registers the named built-ins (names NULL-terminated; NULL = all of them). */
int ef_tools_add_builtins(ef_tool_registry *reg, const char *const *names);

/* ---- JSON Schema (the subset tools use) --------------------------------------- */

/* Checks a schema's own form: type (string or list of: object, array, string, number,
 * integer, boolean, null), properties, required, enum, const, items, minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern (POSIX extended
 * regular expression), minItems, maxItems, additionalProperties (boolean or schema), plus
 * the annotations description, title, default, examples, format, $schema. Other keywords
 * fail with EF_EUNSUPPORTED naming them. */
int ef_tools_schema_check(ef_ctx *ctx, const cJSON *schema);
/* Checks value against schema. On a mismatch returns EF_EINVAL with a message naming
 * the field by path ("edits[1].old_str: expected string, got number") on ctx. `root`
 * names the top (e.g. "arguments"); fields are named relative to it. */
int ef_tools_schema_validate(ef_ctx *ctx, const cJSON *schema, const cJSON *value,
                             const char *root);

/* ---- the local search corpus ---------------------------------------------------- */

/* Builds an SQLite FTS5 corpus from JSON Lines: one object per line with "id" (string
 * or number), "text" and optional "title" and "url". Blank lines are skipped; a bad line
 * fails naming the file and line. Replaces db_path. *n_docs (may be NULL) gets the count. */
int ef_tools_corpus_build(ef_ctx *ctx, const char *jsonl_path, const char *db_path,
                          size_t *n_docs);
/* Searches a corpus file: the best k documents by BM25 as a JSON array of
 * {"id","title","url","snippet","score"} (score: higher is better). *out: cJSON_Delete. */
int ef_tools_corpus_search(ef_ctx *ctx, const char *db_path, const char *query, int k,
                           cJSON **out);

/* ---- availability (for the CLI) ----------------------------------------------- */

int ef_tools_available(void);
const char *ef_tools_missing(void);

#ifdef __cplusplus
}
#endif
#endif /* EF_TOOLS_H */
