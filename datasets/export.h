/*
 * datasets/export.h — getting trajectories out of the store: exports for trainers (SFT
 * messages, RL token samples with GRPO advantages, prompt-only task rows), statistics
 * per env and level, and a self-contained HTML report.
 *
 * Overview
 *   - ef_export_write() streams one JSON object per line to a FILE: it steps through
 *     SQL cursors inside one read transaction (a consistent snapshot while a run keeps
 *     writing) and holds at most one episode (rl: one GRPO group's rows plus one token
 *     stream) in memory, whatever the store's size. Order is deterministic: by run,
 *     group, sample index and episode id (tasks: by env name, level, task id).
 *   - sft: one object per episode — messages in OpenAI chat form (assistant
 *     reasoning_content, tool_calls with arguments as a JSON string, tool turns with
 *     tool_call_id), tools (OpenAI function list), env, task_id, reward, verified, ...
 *   - rl: one object per sample, named as slime's Sample: group_index, index, tokens,
 *     response_length, loss_mask, reward, advantage, rollout_log_probs,
 *     rollout_routed_experts, rollout_top_p_token_ids/offsets, status, metadata. The
 *     prompt is the token stream up to the first model token; the response is the rest
 *     (model and tool tokens; loss_mask 0 on tool tokens). Groups are (run, group_id);
 *     a group is judged whole: it needs as many samples as the run's group_size, none
 *     with a model or verifier error, each passing the filters; others are counted in
 *     ef_export_stats and skipped whole. A sample without a token stream (a context
 *     reset or an unparsable tool call leaves none) cannot be written: its group is
 *     written without it when at least 2 samples remain, the advantages computed over
 *     those (metadata.group_samples says how many), else skipped (always skipped with
 *     full_groups). Groups are contiguous; group_index counts the written groups from 0.
 *   - tasks: one prompt-only row per task in the form verl and TRL read (prompt as
 *     messages, data_source, ability, reward_model{style, ground_truth}, extra_info).
 *   - ef_stats_compute() builds the statistics as a cJSON tree (per env and level:
 *     tasks, episodes, pass@1/pass@k with the unbiased estimator, reward histogram,
 *     turns, tokens, tool-error rates, end reasons, per-task flakiness);
 *     ef_stats_print_table() prints it as a text table; ef_report_write() renders it
 *     and a trajectory viewer into one HTML file with no outside references.
 *
 * Example
 *   ef_store *s;  ef_store_open_ext(ctx, "runs.db", &(ef_store_options)EF_STORE_OPTIONS_INIT, &s);
 *   ef_export_options o = EF_EXPORT_OPTIONS_INIT;
 *   o.format = EF_EXPORT_RL;  o.grpo = EF_GRPO_DR;  o.env = "travel";
 *   ef_export_stats st;
 *   if (ef_export_write(s, &o, stdout, &st) < 0) fprintf(stderr, "%s\n", ef_errmsg(ctx));
 *
 *   cJSON *stats;
 *   ef_stats_options so = EF_STATS_OPTIONS_INIT;
 *   ef_stats_compute(s, &so, &stats);  ef_stats_print_table(stats, stdout);  cJSON_Delete(stats);
 */
#ifndef EF_EXPORT_H
#define EF_EXPORT_H

#include <stdint.h>
#include <stdio.h>
#include <cjson/cJSON.h>
#include "datasets/datasets.h"
#include "datasets/grpo.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { EF_EXPORT_SFT = 0, EF_EXPORT_RL = 1, EF_EXPORT_TASKS = 2 } ef_export_format;

typedef struct {
    unsigned version; /* EF_EXPORT_OPTIONS_VERSION */
    ef_export_format format;
    double min_reward; /* episodes with reward >= min_reward; < 0: no filter */
    int verified_only; /* episodes whose verifier ran */
    const char *env;   /* env name; NULL: all */
    int level;         /* task level; < 0: all */
    const char *run;   /* run name; NULL: all */
    ef_grpo_norm grpo; /* rl: EF_GRPO_STD (verl) or EF_GRPO_DR (Dr. GRPO) */
    int full_groups;   /* rl: skip a group that lost a sample without a token stream
                        * instead of writing the rest of it (trainers that reshape rewards
                        * by a fixed group size, as slime's GRPO does) */
} ef_export_options;

#define EF_EXPORT_OPTIONS_VERSION 2
/* clang-format off */
#define EF_EXPORT_OPTIONS_INIT {EF_EXPORT_OPTIONS_VERSION, EF_EXPORT_SFT, -1.0, 0, NULL, -1, NULL, EF_GRPO_STD, 0}
/* clang-format on */

/* What one export wrote and skipped. */
typedef struct {
    uint64_t n_rows;              /* objects written */
    uint64_t n_bytes;             /* bytes written */
    uint64_t n_groups;            /* rl: groups written */
    uint64_t n_groups_incomplete; /* rl: groups skipped: fewer samples than group_size */
    uint64_t n_groups_filtered;   /* rl: groups skipped: a sample failed a filter */
    uint64_t n_groups_no_tokens;  /* rl: groups skipped: fewer than 2 samples with a token
                                   * stream (with full_groups: any sample without one) */
    uint64_t n_samples_skipped;   /* rl: samples in the skipped groups */
    uint64_t n_groups_short;      /* rl: groups written without their samples that have no
                                   * token stream (advantages over the samples written) */
    uint64_t n_samples_no_tokens; /* rl: samples left out of written groups for that */
    int64_t first_no_tokens;      /* rl: the episode id of the first of those (0: none) */
    uint64_t n_groups_faulty;     /* rl: groups skipped: a sample ended in model_error or its
                                   * verifier failed (no verdict on the model: resuming the
                                   * run retries those) */
    uint64_t n_faulty;            /* sft: such episodes skipped */
} ef_export_stats;

/* Writes the export as JSONL to out. Errors (a store read, a malformed stored row, a
 * write error on out) go to the store's ctx. st may be NULL. */
int ef_export_write(ef_store *s, const ef_export_options *o, FILE *out, ef_export_stats *st);

/* Parquet: runs `python3 -c <helper>` reading the JSONL the exporter writes into a
 * pipe and writing path with pyarrow (explicit schema per format; fields whose shape
 * varies from row to row — tools, task JSON, verifier info — become JSON strings).
 * EF_EUNSUPPORTED with an install hint when python3 or pyarrow is missing. */
int ef_export_write_parquet(ef_store *s, const ef_export_options *o, const char *path,
                            ef_export_stats *st);
/* 1 when `python3 -c "import pyarrow"` works. */
int ef_export_parquet_available(void);

/* ---- statistics ------------------------------------------------------------------ */

#define EF_STATS_MAX_K 8

typedef struct {
    unsigned version;       /* EF_STATS_OPTIONS_VERSION */
    const char *run;        /* run name; NULL: all runs */
    const char *env;        /* env name; NULL: all */
    int ks[EF_STATS_MAX_K]; /* pass@k for these k (ascending, > 0) */
    int n_ks;
    double success_reward; /* a sample passes when reward >= this (default 1.0) */
    int n_flaky_listed;    /* the most flaky tasks listed per env/level (default 10) */
} ef_stats_options;

#define EF_STATS_OPTIONS_VERSION 1
/* clang-format off */
#define EF_STATS_OPTIONS_INIT {EF_STATS_OPTIONS_VERSION, NULL, NULL, {1, 4, 8}, 3, 1.0, 10}
/* clang-format on */

/* The statistics as a cJSON object (cJSON_Delete):
 *   {"store": path, "success_reward": 1, "ks": [1,4,8],
 *    "groups": [ {env, level, tasks, tasks_sampled, episodes, verified, solved,
 *                 mean_reward, pass_at_k: {"1": p, "4": p}, tasks_at_k: {"4": n},
 *                 reward_histogram: [10 counts over [0,.1),..,[.9,1]],
 *                 turns: {mean, max, histogram: {"n": count}},
 *                 tokens: {prompt, completion, mean_completion},
 *                 tool_calls, tool_errors, tool_error_rate, parse_errors, context_resets,
 *                 tools: [{tool, calls, errors, error_rate}],
 *                 end_reasons: {reason: n}, status: {status: n},
 *                 flakiness: {mean, flaky_tasks, tasks: [{task_id, n, c, flakiness}]}} ],
 *    "total": {same fields, env "all", level -1},
 *    "runs": [ {name, model, group_size, episodes, verified, passed, pass_rate,
 *               mean_reward, tokens: {prompt, completion, mean_completion}, tool_calls,
 *               tool_errors, tool_error_rate, parse_errors, episode_errors} ]}
 * tool_calls and tool_errors count the stored tool calls and those answered with an
 * error for any reason (arguments that are not a JSON object, an unknown tool, arguments
 * the schema refuses, the tool failing): a group's are the sums of its tools'.
 * parse_errors are the episodes' count of replies or calls that could not be parsed (an
 * empty reply, a broken DSML block, a call without a name or with arguments that are
 * not a JSON object — the last are tool errors too). episode_errors: episodes that ended
 * in model_error or whose verifier failed.
 * Memory is bounded by the number of env/level groups, runs, tools and end reasons, not by
 * the number of episodes. */
int ef_stats_compute(ef_store *s, const ef_stats_options *o, cJSON **out);
/* The statistics as a text table: one row per env and level. */
int ef_stats_print_table(const cJSON *stats, FILE *out);
/* The statistics as a text table: one row per run (`stats --by run`). */
int ef_stats_print_runs(const cJSON *stats, FILE *out);

/* ---- report ---------------------------------------------------------------------- */

typedef struct {
    unsigned version;         /* EF_REPORT_OPTIONS_VERSION */
    ef_stats_options stats;   /* what the figures cover */
    int64_t max_episodes;     /* trajectories embedded in the viewer (default 300) */
    size_t max_content_bytes; /* per message/tool result text kept (default 16384) */
    const char *title;        /* NULL: "envforge report: <store>" */
} ef_report_options;

#define EF_REPORT_OPTIONS_VERSION 1
/* clang-format off */
#define EF_REPORT_OPTIONS_INIT {EF_REPORT_OPTIONS_VERSION, EF_STATS_OPTIONS_INIT, 300, 16384, NULL}
/* clang-format on */

/* Writes one self-contained HTML file (inline CSS, JS and SVG; no network) with the
 * statistics as charts and a trajectory viewer with search and filters. Episodes are
 * sampled evenly over the store (in export order) up to max_episodes. */
int ef_report_write(ef_store *s, const ef_report_options *o, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* EF_EXPORT_H */
