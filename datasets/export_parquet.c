/*
 * datasets/export_parquet.c — `envforge export --parquet`: the exporter writes its JSONL
 * into a pipe read by a small Python program (scripts/parquet_writer.py, embedded below
 * byte for byte and run as `python3 -c`; tests/test_export checks the copies agree) that
 * writes the Parquet file with pyarrow. Memory stays bounded on both sides: the exporter
 * streams, the helper writes a row group every 32 MB of input.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "datasets/export_int.h"

extern char **environ;

/* scripts/parquet_writer.py (regenerate this literal when the script changes). */
/* clang-format off */
static const char helper_py[] =
    "# scripts/parquet_writer.py — Parquet for `envforge export --parquet`: reads the JSONL\n"
    "# the exporter writes (stdin) and writes one Parquet file with pyarrow, with a fixed\n"
    "# schema per format so that every row group agrees. Fields whose shape varies from row\n"
    "# to row (tools, the task JSON, the verifier's info) are JSON strings.\n"
    "# usage: envforge export ... | python3 scripts/parquet_writer.py sft|rl|tasks OUT.parquet\n"
    "# (envforge runs the same program itself, embedded in datasets/export_parquet.c.)\n"
    "import json\n"
    "import sys\n"
    "\n"
    "try:\n"
    "    import pyarrow as pa\n"
    "    import pyarrow.parquet as pq\n"
    "except ImportError:\n"
    "    sys.stderr.write(\"parquet: the Python package pyarrow is missing: pip install pyarrow\\n\")\n"
    "    sys.exit(3)\n"
    "\n"
    "S, I, F, B = pa.string(), pa.int64(), pa.float64(), pa.bool_()\n"
    "CALL = pa.struct([(\"id\", S), (\"type\", S),\n"
    "                  (\"function\", pa.struct([(\"name\", S), (\"arguments\", S)]))])\n"
    "MSG = pa.struct([(\"role\", S), (\"content\", S), (\"reasoning_content\", S),\n"
    "                 (\"tool_calls\", pa.list_(CALL)), (\"tool_call_id\", S), (\"name\", S)])\n"
    "SCHEMAS = {\n"
    "    \"sft\": pa.schema([(\"messages\", pa.list_(MSG)), (\"tools\", S), (\"env\", S), (\"level\", I),\n"
    "                      (\"task_id\", I), (\"reward\", F), (\"verified\", B), (\"run\", S),\n"
    "                      (\"episode_id\", I), (\"group_id\", I), (\"sample_idx\", I), (\"status\", S),\n"
    "                      (\"end_reason\", S), (\"num_turns\", I), (\"answer\", S), (\"verify_info\", S)]),\n"
    "    \"rl\": pa.schema([(\"group_index\", I), (\"index\", I), (\"tokens\", pa.list_(pa.int32())),\n"
    "                     (\"prompt_length\", I), (\"response_length\", I),\n"
    "                     (\"loss_mask\", pa.list_(pa.int8())), (\"reward\", F), (\"advantage\", F),\n"
    "                     (\"rollout_log_probs\", pa.list_(pa.float32())),\n"
    "                     (\"rollout_top_p_token_ids\", pa.list_(pa.int32())),\n"
    "                     (\"rollout_top_p_token_offsets\", pa.list_(pa.int32())),\n"
    "                     (\"rollout_routed_experts\", pa.list_(pa.list_(pa.list_(pa.uint16())))),\n"
    "                     (\"status\", S),\n"
    "                     (\"metadata\", pa.struct([(\"run\", S), (\"run_id\", I), (\"group_id\", I),\n"
    "                                             (\"group_size\", I), (\"group_samples\", I),\n"
    "                                             (\"sample_idx\", I),\n"
    "                                             (\"episode_id\", I), (\"task_id\", I), (\"env\", S),\n"
    "                                             (\"level\", I), (\"end_reason\", S), (\"verified\", B),\n"
    "                                             (\"num_turns\", I), (\"route_layers\", I),\n"
    "                                             (\"route_topk\", I)]))]),\n"
    "    \"tasks\": pa.schema([(\"data_source\", S),\n"
    "                        (\"prompt\", pa.list_(pa.struct([(\"role\", S), (\"content\", S)]))),\n"
    "                        (\"ability\", S),\n"
    "                        (\"reward_model\", pa.struct([(\"style\", S), (\"ground_truth\", S)])),\n"
    "                        (\"extra_info\", pa.struct([(\"index\", I), (\"split\", S), (\"task_id\", I),\n"
    "                                                  (\"env\", S), (\"env_version\", I), (\"level\", I),\n"
    "                                                  (\"idx\", I), (\"seed\", S), (\"content_hash\", S),\n"
    "                                                  (\"tools\", S), (\"task_json\", S)]))]),\n"
    "}\n"
    "AS_JSON = {\"sft\": (\"tools\",)}\n"
    "BATCH_BYTES = 32 << 20\n"
    "\n"
    "\n"
    "def main():\n"
    "    fmt, path = sys.argv[1], sys.argv[2]\n"
    "    schema = SCHEMAS[fmt]\n"
    "    try:\n"
    "        writer = pq.ParquetWriter(path, schema, compression=\"zstd\")\n"
    "    except OSError as e:  # a missing folder, no permission: one line, not a traceback\n"
    "        sys.stderr.write(\"parquet: cannot write %s: %s\\n\" % (path, e.strerror or e))\n"
    "        sys.exit(2)\n"
    "    rows, size, n = [], 0, 0\n"
    "    for line in sys.stdin.buffer:\n"
    "        row = json.loads(line)\n"
    "        for k in AS_JSON.get(fmt, ()):\n"
    "            row[k] = json.dumps(row[k], ensure_ascii=False)\n"
    "        rows.append(row)\n"
    "        size += len(line)\n"
    "        if size >= BATCH_BYTES:\n"
    "            writer.write_table(pa.Table.from_pylist(rows, schema=schema))\n"
    "            n += len(rows)\n"
    "            rows, size = [], 0\n"
    "    if rows:\n"
    "        writer.write_table(pa.Table.from_pylist(rows, schema=schema))\n"
    "        n += len(rows)\n"
    "    writer.close()\n"
    "    sys.stderr.write(\"parquet: %d rows -> %s\\n\" % (n, path))\n"
    "\n"
    "\n"
    "main()\n";
/* clang-format on */

/* Runs python3 with args, stdin from in_fd (or /dev/null when < 0), stdout and stderr
 * inherited; *pid set. */
static int spawn_python(char *const argv[], int in_fd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return -1;
    if (in_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    int rc = posix_spawnp(pid, "python3", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? 0 : -1;
}

static int wait_exit(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int ef_export_parquet_available(void)
{
    char *argv[] = {"python3", "-c", "import pyarrow.parquet", NULL};
    pid_t pid;
    if (spawn_python(argv, -1, &pid) < 0)
        return 0;
    return wait_exit(pid) == 0;
}

int ef_export_write_parquet(ef_store *s, const ef_export_options *o, const char *path,
                            ef_export_stats *st)
{
    ef_ctx *ctx = ef_store_ctx(s);
    static const char *const names[] = {"sft", "rl", "tasks"};
    if (!o || (unsigned)o->format > EF_EXPORT_TASKS)
        return ef_errorf(ctx, EF_EINVAL, "export: unknown format");
    if (!path || !*path)
        return ef_errorf(ctx, EF_EINVAL, "export --parquet: give the output file with -o");
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return ef_errorf(ctx, EF_EIO, "export --parquet: pipe: %s", strerror(errno));
    char *argv[] = {"python3",    "-c", (char *)helper_py, (char *)names[o->format],
                    (char *)path, NULL};
    pid_t pid;
    if (spawn_python(argv, fds[0], &pid) < 0) {
        close(fds[0]);
        close(fds[1]);
        return ef_errorf(ctx, EF_EUNSUPPORTED,
                         "export --parquet: cannot start python3 (Parquet needs python3 with "
                         "pyarrow: pip install pyarrow); JSONL works without it");
    }
    close(fds[0]);
    FILE *f = fdopen(fds[1], "w");
    if (!f) {
        close(fds[1]);
        wait_exit(pid);
        return ef_errorf(ctx, EF_ENOMEM, "export --parquet: out of memory");
    }
    /* A helper that dies early closes the pipe: see EPIPE, not SIGPIPE. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = ef_export_write(s, o, f, st);
    if (rc < 0) /* never let the helper finish a partial file */
        kill(pid, SIGKILL);
    fclose(f);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&block, NULL, &zero) > 0)
        ;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    int code = wait_exit(pid);
    if (code != 0 || rc < 0)
        unlink(path);
    if (code != 0 && code != 128 + SIGKILL) { /* the helper failed on its own */
        if (!ef_export_parquet_available())
            return ef_errorf(ctx, EF_EUNSUPPORTED,
                             "export --parquet: needs python3 with pyarrow, which is not "
                             "installed here (pip install pyarrow); JSONL works without it");
        return ef_errorf(ctx, EF_EIO,
                         "export --parquet: the pyarrow helper failed (exit %d; its message "
                         "is above)",
                         code);
    }
    return rc;
}
