/*
 * datasets/datasets.h — the store: one SQLite file (WAL mode) that holds envs, tasks,
 * runs, episodes, messages, tool calls, token streams and events; plus a writer that
 * batches inserts from many threads through one connection.
 *
 * Overview
 *   - ef_store_open() creates or migrates the file: WAL journal, a busy timeout, foreign
 *     keys on, schema version recorded in table `schema_migrations`. A file that is not
 *     a SQLite database, a SQLite database that is not a store, or a store whose schema
 *     is newer than this build is refused with a clear message.
 *   - One ef_store is one connection, used by one thread at a time. Every insert runs
 *     in a transaction (its own, or the caller's from ef_store_begin()).
 *   - Rows go in as structs of borrowed pointers (ef_env_row, ef_task_row, ...). Input
 *     is checked before anything is written: a NULL required field, a reward outside
 *     [0,1] or NaN, an unknown env/run/task id, malformed JSON gives EF_EINVAL with a
 *     message naming the field, and leaves the file as it was.
 *   - Reading: *_get() returns one owned row (free with the matching *_free()); the
 *     task and episode iterators hand out borrowed rows valid until the next step.
 *   - ef_store_writer: a queue drained by one thread on its own connection, committing
 *     every N items or T milliseconds; any thread may submit an episode with its
 *     messages, tool calls, token stream and events, which land in one transaction.
 *     Do not hold a write transaction (ef_store_begin) on another connection to the same
 *     file while the writer works: its commits would wait for it (busy timeout).
 *     A resumed run never duplicates an episode: (run_id, task_id, sample_idx) is
 *     unique, and a second submit of the same triple is reported as EF_EEXISTS.
 *   - Token streams are BLOBs with a fixed little-endian layout (below, and
 *     docs/store.md), so that any language reads them without this library.
 *   - ef_store_merge() joins another store (a shard) into this one; rows that share a
 *     key but differ are reported as conflicts and never overwrite.
 *   - Errors land on the ctx given to ef_store_open (the writer's submit and flush take
 *     the caller's ctx instead, since they run on many threads).
 *
 * Example
 *   ef_store *s;
 *   if (ef_store_open(ctx, "runs.db", &s) < 0) { fprintf(stderr, "%s\n", ef_errmsg(ctx)); ... }
 *   ef_env_row env = {.name = "travel", .version = 1, .content_hash = hex, .source = lua};
 *   int64_t env_id;
 *   ef_store_env_insert(s, &env, &env_id);
 *   ef_task_row t = {.env_id = env_id, .idx = 0, .seed = 42, .content_hash = thex,
 *                    .prompt = "Plan a trip", .task_json = "{\"prompt\":\"Plan a trip\"}"};
 *   size_t n_new, n_dup;
 *   ef_store_task_insert_batch(s, &t, 1, &n_new, &n_dup);
 *
 *   ef_task_iter *it; const ef_task_row *row; int64_t task_id;
 *   ef_store_task_iter_new(s, env_id, &it);
 *   while (ef_store_task_iter_next(it, &row, &task_id) == 1) puts(row->prompt);
 *   ef_store_task_iter_free(it);
 *   ef_store_close(s);
 *
 * Token stream BLOB layout (all little-endian, n = n_tokens):
 *   token_ids     int32  × n
 *   loss_mask     uint8  × n          1 = sampled by the model (trained on), 0 = prompt/tool
 *   logprobs      float32 × n         sampled log-prob; 0 where loss_mask is 0 (optional)
 *   topp_offsets  int32  × (n + 1)    CSR offsets into topp_ids; [0] = 0 (optional)
 *   topp_ids      int32  × topp_offsets[n]   the kept top-p/top-k set of position i is
 *                                     topp_ids[topp_offsets[i] .. topp_offsets[i+1])
 *   routes        uint8 or uint16 × n × route_layers × route_topk  (route_bytes column
 *                                     says 1 or 2), position-major: routes[i][layer][k]
 */
#ifndef EF_DATASETS_H
#define EF_DATASETS_H

#include <stddef.h>
#include <stdint.h>
#include "common/ef.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1: the store is built. Kept for the CLI's placeholder commands. */
int ef_datasets_available(void);
/* What of the component is still missing, for messages. Borrowed. */
const char *ef_datasets_missing(void);

/* The schema version this build creates and reads. */
#define EF_STORE_SCHEMA_VERSION 1

/* ---- opening ------------------------------------------------------------------- */

typedef struct ef_store ef_store;

typedef struct {
    unsigned version;     /* EF_STORE_OPTIONS_VERSION */
    int busy_timeout_ms;  /* wait this long for another writer's lock (default 30000) */
    int synchronous_full; /* 1: fsync every commit (survives power loss); 0: NORMAL,
                             which survives a killed process (the default) */
    int read_only;        /* 1: open an existing store for reading only */
} ef_store_options;

#define EF_STORE_OPTIONS_VERSION 1
/* clang-format off */
#define EF_STORE_OPTIONS_INIT {EF_STORE_OPTIONS_VERSION, 30000, 0, 0}
/* clang-format on */

/* Opens (creating and migrating as needed) the store at path. Errors go to ctx, which
 * the store keeps and uses for every later call; ctx must outlive the store. */
int ef_store_open(ef_ctx *ctx, const char *path, ef_store **out);
int ef_store_open_ext(ef_ctx *ctx, const char *path, const ef_store_options *opts, ef_store **out);
/* Closes; accepts NULL. An open transaction is rolled back. */
void ef_store_close(ef_store *s);
/* The context and path the store was opened with. Borrowed. */
ef_ctx *ef_store_ctx(ef_store *s);
const char *ef_store_path(const ef_store *s);
/* The schema version recorded in the file. */
int ef_store_schema_version(ef_store *s, int64_t *out);

/* Transactions. begin/commit nest: only the outermost pair touches the file (BEGIN
 * IMMEDIATE ... COMMIT); inner ones are savepoints. rollback undoes the innermost. */
int ef_store_begin(ef_store *s);
int ef_store_commit(ef_store *s);
int ef_store_rollback(ef_store *s);

/* Runs PRAGMA integrity_check; 0 when it says "ok", EF_ESTORE with its first line
 * otherwise. */
int ef_store_check(ef_store *s);

/* ---- envs ------------------------------------------------------------------------ */

typedef struct {
    const char *name; /* required */
    int64_t version;
    const char *category; /* general | search | interpreter | code; may be NULL */
    const char *description;
    const char *content_hash; /* required: hex sha256 of the env source */
    const char *source_path;
    const char *source;     /* the Lua text */
    const char *tools_json; /* JSON (a list of tool schemas); NULL or valid JSON */
} ef_env_row;

/* Inserts; an env with the same content_hash already stored gives its id (and 0). */
int ef_store_env_insert(ef_store *s, const ef_env_row *env, int64_t *out_id);
/* One env, owned: free with ef_store_env_free. EF_ENOTFOUND when absent. */
int ef_store_env_get(ef_store *s, int64_t id, ef_env_row **out);
void ef_store_env_free(ef_env_row *env);
/* The id of the newest version of the env called name; EF_ENOTFOUND when none. */
int ef_store_env_find(ef_store *s, const char *name, int64_t *out_id);

/* ---- tasks ----------------------------------------------------------------------- */

typedef struct {
    int64_t env_id;           /* required: an id from ef_store_env_insert */
    int64_t idx;              /* index of the task within its generation */
    uint64_t seed;            /* stored as INTEGER with the same 64 bits (may read negative) */
    int level;                /* difficulty level */
    const char *content_hash; /* required: hex sha256 of the canonical task JSON */
    const char *prompt;       /* required */
    const char *task_json;    /* required, valid JSON: the whole task */
} ef_task_row;

/* Inserts rows in one transaction; rows whose (env_id, content_hash) is already stored
 * (or earlier in the batch) are skipped and counted. All rows are checked before any is
 * written: one bad row stores none. n_inserted/n_duplicate may be NULL. */
int ef_store_task_insert_batch(ef_store *s, const ef_task_row *rows, size_t n, size_t *n_inserted,
                               size_t *n_duplicate);
/* Number of tasks of env_id (0 = all envs). */
int ef_store_task_count(ef_store *s, int64_t env_id, int64_t *out);
/* One task, owned: free with ef_store_task_free. */
int ef_store_task_get(ef_store *s, int64_t id, ef_task_row **out);
void ef_store_task_free(ef_task_row *task);

/* Iterates tasks of env_id (0 = all) by id. The row and its strings are borrowed and
 * valid until the next call on the iterator. */
typedef struct ef_task_iter ef_task_iter;
int ef_store_task_iter_new(ef_store *s, int64_t env_id, ef_task_iter **out);
/* 1: a row, 0: done, < 0: error (on the store's ctx). task_id may be NULL. */
int ef_store_task_iter_next(ef_task_iter *it, const ef_task_row **row, int64_t *task_id);
void ef_store_task_iter_free(ef_task_iter *it);

/* ---- runs ------------------------------------------------------------------------ */

typedef struct {
    const char *name;        /* unique label, used to resume; NULL: "run-<id>" */
    const char *model;       /* required: model name as given to `envforge run` */
    const char *config_json; /* NULL or valid JSON: the run's settings */
    uint64_t seed;
    int64_t group_size;               /* samples per task (GRPO group size) */
    int64_t shard_index, shard_count; /* this shard of shard_count (0 of 1 when unsharded) */
    const char *status;               /* NULL: "running"; later "done", "failed", "interrupted" */
    const char *host;
} ef_run_row;

/* Inserts a run. A run with the same name gives EF_EEXISTS (use ef_store_run_find). */
int ef_store_run_insert(ef_store *s, const ef_run_row *run, int64_t *out_id);
int ef_store_run_find(ef_store *s, const char *name, int64_t *out_id);
int ef_store_run_get(ef_store *s, int64_t id, ef_run_row **out);
void ef_store_run_free(ef_run_row *run);
/* Sets the run's status and its finished_at time (for any status but "running"). */
int ef_store_run_set_status(ef_store *s, int64_t id, const char *status);

/* ---- episodes -------------------------------------------------------------------- */

typedef struct {
    int64_t run_id;          /* required, must exist */
    int64_t task_id;         /* required, must exist */
    int64_t group_id;        /* the GRPO group: samples of one task in one run share it */
    int64_t sample_idx;      /* index of the sample within its group, >= 0 */
    const char *model;       /* model name; NULL: the run's model */
    const char *status;      /* required; slime's names: "completed", "truncated",
                                "aborted", "failed" */
    const char *end_reason;  /* required: "answer", "submit", "max_turns", "max_tokens",
                                "time", "context", "error", ... */
    double reward;           /* in [0, 1]; NaN is refused */
    int verified;            /* 1: the verifier ran on the answer (reward is its verdict);
                                0: it could not (no answer, error, budget) */
    const char *answer;      /* the final answer text; may be NULL */
    const char *verify_info; /* NULL or valid JSON from the verifier */
    const char *error;       /* what went wrong, when status is not "ok"; may be NULL */
    int64_t n_turns;         /* model calls */
    int64_t n_tool_calls, n_tool_errors, n_parse_errors, n_context_resets;
    int64_t n_prompt_tokens, n_completion_tokens; /* summed over the model calls */
    int64_t wall_ms, model_ms, tool_ms, verify_ms;
    double started_at; /* unix time in seconds; 0: now */
} ef_episode_row;

typedef struct {
    int64_t idx;      /* position in the conversation; -1: its place in the array */
    const char *role; /* required: system | user | assistant | tool | developer */
    const char *content;
    const char *reasoning_content;
    const char *tool_calls_json; /* NULL or a JSON array in OpenAI form */
    const char *tool_call_id;    /* required (may be "") for role "tool" */
    const char *name;
} ef_message_row;

typedef struct {
    int64_t message_idx;        /* the assistant message that made the call */
    const char *call_id;        /* required, may be "" (a model may give no id) */
    const char *tool;           /* required, may be "": tool name as the model gave it */
    const char *arguments_json; /* valid JSON, required unless is_error (a failed call
                                   keeps the model's text as sent; NULL is stored as "") */
    const char *result;         /* the text the model saw */
    int is_error;
    int64_t wall_ms;
} ef_tool_call_row;

typedef struct {
    size_t n_tokens;
    const int32_t *token_ids;         /* required, n_tokens */
    const uint8_t *loss_mask;         /* required, n_tokens, each 0 or 1 */
    const float *logprobs;            /* NULL or n_tokens */
    const int32_t *topp_offsets;      /* NULL or n_tokens + 1, [0] = 0, non-decreasing */
    const int32_t *topp_ids;          /* topp_offsets[n_tokens] ids (when offsets are given) */
    int64_t route_layers, route_topk; /* 0 when there are no routes */
    const uint16_t *routes;           /* NULL or n_tokens * route_layers * route_topk */
} ef_token_stream;

typedef struct {
    int64_t run_id;           /* 0: none (inside a bundle: the episode's run) */
    int64_t episode_id;       /* 0: none (inside a bundle: the episode) */
    const char *kind;         /* required: "context_reset", "model_error", ... */
    const char *payload_json; /* NULL ("{}") or valid JSON */
    double time;              /* unix time in seconds; 0: now */
} ef_event_row;

/* An episode with everything that belongs to it; stored in one transaction. */
typedef struct {
    const ef_episode_row *episode; /* required */
    const ef_message_row *messages;
    size_t n_messages;
    const ef_tool_call_row *tool_calls;
    size_t n_tool_calls;
    const ef_token_stream *tokens; /* NULL: none */
    const ef_event_row *events;
    size_t n_events;
} ef_episode_bundle;

/* Checks a row / bundle without writing (what insert checks first). */
int ef_store_episode_validate(ef_ctx *ctx, const ef_episode_row *ep);
int ef_store_bundle_validate(ef_ctx *ctx, const ef_episode_bundle *b);

/* Inserts one episode row. EF_EEXISTS when (run_id, task_id, sample_idx) is stored. */
int ef_store_episode_insert(ef_store *s, const ef_episode_row *ep, int64_t *out_id);
/* Inserts a bundle in one transaction: all of it or nothing. */
int ef_store_bundle_insert(ef_store *s, const ef_episode_bundle *b, int64_t *out_id);
/* The id of the episode (run_id, task_id, sample_idx); EF_ENOTFOUND when absent. */
int ef_store_episode_find(ef_store *s, int64_t run_id, int64_t task_id, int64_t sample_idx,
                          int64_t *out_id);
int ef_store_episode_get(ef_store *s, int64_t id, ef_episode_row **out);
/* Deletes an episode with its messages, tool calls, token stream and events (a resumed
 * run replaces the episodes that ended in model_error); EF_ENOTFOUND when absent. */
int ef_store_episode_delete(ef_store *s, int64_t id);
void ef_store_episode_free(ef_episode_row *ep);
/* Number of episodes of a run (0 = all runs). */
int ef_store_episode_count(ef_store *s, int64_t run_id, int64_t *out);

/* Episode iteration with filters; 0 / NULL fields do not filter. */
typedef struct {
    unsigned version; /* EF_EPISODE_FILTER_VERSION */
    int64_t run_id, task_id, env_id;
    int64_t group_id; /* -1: any */
    int verified_only;
    double min_reward; /* rows with reward >= min_reward (default 0: all) */
} ef_episode_filter;
#define EF_EPISODE_FILTER_VERSION 1
/* clang-format off */
#define EF_EPISODE_FILTER_INIT {EF_EPISODE_FILTER_VERSION, 0, 0, 0, -1, 0, 0.0}
/* clang-format on */

typedef struct ef_episode_iter ef_episode_iter;
/* Iterates by (run_id, group_id, sample_idx, id). filter may be NULL. */
int ef_store_episode_iter_new(ef_store *s, const ef_episode_filter *filter, ef_episode_iter **out);
/* 1: a row (borrowed, valid until the next call), 0: done, < 0: error. */
int ef_store_episode_iter_next(ef_episode_iter *it, const ef_episode_row **row,
                               int64_t *episode_id);
void ef_store_episode_iter_free(ef_episode_iter *it);

/* Messages of an episode; idx -1 numbers them after the episode's last message. */
int ef_store_message_insert(ef_store *s, int64_t episode_id, const ef_message_row *rows, size_t n);
/* All messages of an episode by idx: an owned array, free with ef_store_message_list_free. */
int ef_store_message_list(ef_store *s, int64_t episode_id, ef_message_row **out, size_t *n);
void ef_store_message_list_free(ef_message_row *rows, size_t n);

int ef_store_tool_call_insert(ef_store *s, int64_t episode_id, const ef_tool_call_row *rows,
                              size_t n);
int ef_store_tool_call_list(ef_store *s, int64_t episode_id, ef_tool_call_row **out, size_t *n);
void ef_store_tool_call_list_free(ef_tool_call_row *rows, size_t n);

/* One token stream per episode; a second insert for the episode gives EF_EEXISTS. */
int ef_store_token_stream_insert(ef_store *s, int64_t episode_id, const ef_token_stream *t);
int ef_store_token_stream_validate(ef_ctx *ctx, const ef_token_stream *t);
/* The stream decoded into owned arrays; EF_ENOTFOUND when the episode has none. */
int ef_store_token_stream_get(ef_store *s, int64_t episode_id, ef_token_stream **out);
void ef_store_token_stream_free(ef_token_stream *t);

int ef_store_event_insert(ef_store *s, const ef_event_row *ev, int64_t *out_id);
/* Events of an episode (episode_id > 0), or of a run (run_id > 0, episode_id 0: all of
 * them, its episodes' included), by time and id: an owned array, free with
 * ef_store_event_list_free. */
int ef_store_event_list(ef_store *s, int64_t run_id, int64_t episode_id, ef_event_row **out,
                        size_t *n);
void ef_store_event_list_free(ef_event_row *rows, size_t n);

/* ---- the writer ------------------------------------------------------------------ */

typedef struct ef_store_writer ef_store_writer;

/* What happened to one submitted item, reported after its batch's commit. */
typedef struct {
    uint64_t tag;       /* the submitter's tag */
    int rc;             /* 0 stored; EF_EEXISTS already stored (resume); < 0 error */
    int64_t episode_id; /* the new (or, on EF_EEXISTS, the existing) episode id */
} ef_store_commit_item;

/* Called on the writer thread after each batch, with its items in submit order. It
 * must not call the writer. */
typedef void (*ef_store_commit_fn)(void *ud, const ef_store_commit_item *items, size_t n);

typedef struct {
    unsigned version;   /* EF_STORE_WRITER_OPTIONS_VERSION */
    size_t batch_items; /* commit when this many items wait (default 64) */
    int batch_ms;       /* ... or when the oldest has waited this long (default 250) */
    size_t max_queue;   /* submit waits while this many items are queued (default 4096) */
    ef_store_commit_fn on_commit;
    void *on_commit_ud;
    ef_store_options store; /* how the writer's connection is opened */
} ef_store_writer_options;

#define EF_STORE_WRITER_OPTIONS_VERSION 1
/* clang-format off */
#define EF_STORE_WRITER_OPTIONS_INIT                                                       \
    {EF_STORE_WRITER_OPTIONS_VERSION, 64, 250, 4096, NULL, NULL, EF_STORE_OPTIONS_INIT}
/* clang-format on */

typedef struct {
    uint64_t n_submitted, n_stored, n_duplicate, n_failed, n_commits;
} ef_store_writer_stats;

/* Opens its own connection to path (creating/migrating the store) and starts the
 * thread. opts may be NULL. */
int ef_store_writer_new(ef_ctx *ctx, const char *path, const ef_store_writer_options *opts,
                        ef_store_writer **out);
/* Queues a deep copy of the bundle (checked first; errors on ctx, the caller's). Waits
 * while the queue is full. After a store error on the writer thread, submits fail
 * with that error. Thread-safe. */
int ef_store_writer_submit(ef_store_writer *w, ef_ctx *ctx, const ef_episode_bundle *b,
                           uint64_t tag);
/* Queues a run-level event (ev->episode_id must be 0). */
int ef_store_writer_submit_event(ef_store_writer *w, ef_ctx *ctx, const ef_event_row *ev,
                                 uint64_t tag);
/* Waits until everything submitted before the call is committed. Returns the first
 * store error of the writer (message on ctx), or 0. Duplicates are not errors. */
int ef_store_writer_flush(ef_store_writer *w, ef_ctx *ctx);
void ef_store_writer_get_stats(ef_store_writer *w, ef_store_writer_stats *out);
/* Flushes, stops the thread, closes the connection and frees; returns what flush
 * returned. Call it once every submitting thread is done. Accepts NULL. */
int ef_store_writer_close(ef_store_writer *w, ef_ctx *ctx);

/* ---- merge ----------------------------------------------------------------------- */

/* What one ef_store_merge added and found. */
typedef struct {
    uint64_t n_envs, n_tasks, n_runs, n_episodes, n_events; /* rows added to the store */
    uint64_t n_same_envs, n_same_tasks, n_same_runs;        /* already there: mapped */
    uint64_t n_same_episodes;     /* already there and identical: skipped */
    uint64_t n_conflicts;         /* reported, the store's rows kept, the input's skipped */
    uint64_t n_replaced_episodes; /* the store's failed episode (model_error, or its verifier
                                   * failed) replaced by the input's that did not fail */
    uint64_t n_failed_episodes;   /* the input's failed episode left out: the store has one
                                   * for its (run, task, sample) */
} ef_store_merge_stats;

/* A line about the merge: conflict = 1 for a conflict (the store's row kept, the
 * input's skipped), 0 for a note (a run renamed to keep names unique, a failed episode
 * replaced). */
typedef void (*ef_store_merge_report_fn)(void *ud, int conflict, const char *msg);

/* 0 when path is a store this build reads (checked read-only; nothing is written);
 * else the reason on ctx: "PATH: not an envforge store (no such file | a directory |
 * an empty file | not a SQLite database... | a SQLite database with no tables | ... no
 * schema_migrations)" (EF_ENOTFOUND, EF_EINVAL or EF_EPARSE), EF_EUNSUPPORTED for a
 * store newer than this build, EF_EIO when it cannot be read. ef_store_merge runs it
 * first; `envforge merge` runs it on every input before it opens OUT. */
int ef_store_merge_check_input(ef_ctx *ctx, const char *path);

/* Joins the store at in_path into s, in one transaction (all of it or nothing):
 * envs by content_hash; tasks by (env, content_hash); runs by name, model and shard
 * (a run whose name is taken by a different run gets "<name>/shard-I-of-N" or
 * "<name>/K" and a note; one with the same name, model and shard but other settings —
 * seed, group_size or a config_json key — is a conflict, left out with its episodes
 * and events); episodes by (run, task, sample_idx) with their messages, tool calls,
 * token streams and events; run events once each. GRPO groups are renumbered as
 * whole groups: the input's (run, group, task) gets the store group it continues (one
 * holding an episode with the same key, or the run's one group of that task) or a new
 * id in the run (the task's id when free), so that a store group never mixes tasks or
 * runs. Rows that share a key but differ (an env's source, a task's prompt or JSON, an
 * episode's outcome or group) are conflicts: reported through report (may be NULL),
 * counted, and never overwrite what the store has; the episodes of a conflicting task
 * are skipped with it. The exception is a failed episode (model_error, or an error
 * "verify: ...": no verdict on the model): the input's episode that did not fail
 * replaces the store's failed one (a note, n_replaced_episodes), and the input's failed
 * one never replaces the store's (n_failed_episodes). Returns 0 even when there were
 * conflicts (see stats->n_conflicts); < 0 when the input cannot be read (see
 * ef_store_merge_check_input) or the store cannot be written. Not inside a transaction
 * of the caller's. */
int ef_store_merge(ef_store *s, const char *in_path, ef_store_merge_report_fn report, void *ud,
                   ef_store_merge_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* EF_DATASETS_H */
