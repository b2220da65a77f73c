# scripts/parquet_writer.py — Parquet for `envforge export --parquet`: reads the JSONL
# the exporter writes (stdin) and writes one Parquet file with pyarrow, with a fixed
# schema per format so that every row group agrees. Fields whose shape varies from row
# to row (tools, the task JSON, the verifier's info) are JSON strings.
# usage: envforge export ... | python3 scripts/parquet_writer.py sft|rl|tasks OUT.parquet
# (envforge runs the same program itself, embedded in datasets/export_parquet.c.)
import json
import sys

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError:
    sys.stderr.write("parquet: the Python package pyarrow is missing: pip install pyarrow\n")
    sys.exit(3)

S, I, F, B = pa.string(), pa.int64(), pa.float64(), pa.bool_()
CALL = pa.struct([("id", S), ("type", S),
                  ("function", pa.struct([("name", S), ("arguments", S)]))])
MSG = pa.struct([("role", S), ("content", S), ("reasoning_content", S),
                 ("tool_calls", pa.list_(CALL)), ("tool_call_id", S), ("name", S)])
SCHEMAS = {
    "sft": pa.schema([("messages", pa.list_(MSG)), ("tools", S), ("env", S), ("level", I),
                      ("task_id", I), ("reward", F), ("verified", B), ("run", S),
                      ("episode_id", I), ("group_id", I), ("sample_idx", I), ("status", S),
                      ("end_reason", S), ("num_turns", I), ("answer", S), ("verify_info", S)]),
    "rl": pa.schema([("group_index", I), ("index", I), ("tokens", pa.list_(pa.int32())),
                     ("prompt_length", I), ("response_length", I),
                     ("loss_mask", pa.list_(pa.int8())), ("reward", F), ("advantage", F),
                     ("rollout_log_probs", pa.list_(pa.float32())),
                     ("rollout_top_p_token_ids", pa.list_(pa.int32())),
                     ("rollout_top_p_token_offsets", pa.list_(pa.int32())),
                     ("rollout_routed_experts", pa.list_(pa.list_(pa.list_(pa.uint16())))),
                     ("status", S),
                     ("metadata", pa.struct([("run", S), ("run_id", I), ("group_id", I),
                                             ("group_size", I), ("group_samples", I),
                                             ("sample_idx", I),
                                             ("episode_id", I), ("task_id", I), ("env", S),
                                             ("level", I), ("end_reason", S), ("verified", B),
                                             ("num_turns", I), ("route_layers", I),
                                             ("route_topk", I)]))]),
    "tasks": pa.schema([("data_source", S),
                        ("prompt", pa.list_(pa.struct([("role", S), ("content", S)]))),
                        ("ability", S),
                        ("reward_model", pa.struct([("style", S), ("ground_truth", S)])),
                        ("extra_info", pa.struct([("index", I), ("split", S), ("task_id", I),
                                                  ("env", S), ("env_version", I), ("level", I),
                                                  ("idx", I), ("seed", S), ("content_hash", S),
                                                  ("tools", S), ("task_json", S)]))]),
}
AS_JSON = {"sft": ("tools",)}
BATCH_BYTES = 32 << 20


def main():
    fmt, path = sys.argv[1], sys.argv[2]
    schema = SCHEMAS[fmt]
    try:
        writer = pq.ParquetWriter(path, schema, compression="zstd")
    except OSError as e:  # a missing folder, no permission: one line, not a traceback
        sys.stderr.write("parquet: cannot write %s: %s\n" % (path, e.strerror or e))
        sys.exit(2)
    rows, size, n = [], 0, 0
    for line in sys.stdin.buffer:
        row = json.loads(line)
        for k in AS_JSON.get(fmt, ()):
            row[k] = json.dumps(row[k], ensure_ascii=False)
        rows.append(row)
        size += len(line)
        if size >= BATCH_BYTES:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
            n += len(rows)
            rows, size = [], 0
    if rows:
        writer.write_table(pa.Table.from_pylist(rows, schema=schema))
        n += len(rows)
    writer.close()
    sys.stderr.write("parquet: %d rows -> %s\n" % (n, path))


main()
