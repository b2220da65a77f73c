#!/usr/bin/env python3
"""Writes the malformed-input corpus for the engine's loaders (tests/malformed/engine/).

Each entry of MANIFEST is "NAME<TAB>part of the expected error message"; tests/test_engine.c
(test_malformed_corpus) loads every entry — *.safetensors as a safetensors file, config*.json
as a config, NAME/ as a model folder — and checks it is rejected with that message and
the file named. Plain Python (struct/json) only; run from anywhere:
    python3 tests/malformed/engine/make_corpus.py
"""
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
entries = []


def st_bytes(header, data=b"", raw_header=None):
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def put(name, blob, want):
    with open(os.path.join(HERE, name), "wb") as fh:
        fh.write(blob)
    entries.append((name, want))


def t(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


# ---- safetensors headers ------------------------------------------------------------------
put("short.safetensors", b"\x01\x02\x03", "too short")
put("header_len_huge.safetensors", struct.pack("<Q", 10**12) + b"{}", "exceeds the file")
put("header_len_past_end.safetensors", struct.pack("<Q", 64) + b'{"a":1}', "exceeds the file")
put("not_json.safetensors", st_bytes(None, raw_header=b'{"a": {"dtype": '), "invalid JSON")
put("header_array.safetensors", st_bytes(None, raw_header=b"[1, 2, 3]"), "not a JSON object")
put("unknown_dtype.safetensors", st_bytes({"w": t("Q4_K", [4], 0, 4)}, b"\0" * 4),
    "unknown dtype 'Q4_K'")
put("dtype_not_string.safetensors", st_bytes({"w": {"dtype": 3, "shape": [1],
                                                    "data_offsets": [0, 4]}}, b"\0" * 4),
    "'dtype' missing or not a string")
put("offsets_out_of_range.safetensors", st_bytes({"w": t("F32", [4], 0, 16)}, b"\0" * 8),
    "outside the data")
put("offsets_reversed.safetensors", st_bytes({"w": t("F32", [0], 8, 4)}, b"\0" * 8),
    "outside the data")
put("size_mismatch.safetensors", st_bytes({"w": t("F32", [2, 3], 0, 16)}, b"\0" * 16),
    "shape x F32 needs 24")
put("overlap.safetensors", st_bytes({"a": t("F32", [4], 0, 16), "b": t("F32", [2], 8, 16)},
                                    b"\0" * 16), "overlap")
put("shape_negative.safetensors", st_bytes({"w": t("F32", [-1], 0, 4)}, b"\0" * 4),
    "shape[0] is not a non-negative integer")
put("shape_float.safetensors", st_bytes({"w": t("F32", [1.5], 0, 4)}, b"\0" * 4),
    "shape[0] is not a non-negative integer")
put("shape_not_array.safetensors", st_bytes({"w": {"dtype": "F32", "shape": 4,
                                                   "data_offsets": [0, 16]}}, b"\0" * 16),
    "'shape' missing or not an array")
put("shape_overflow.safetensors", st_bytes({"w": t("F32", [2**40, 2**40, 2**40], 0, 4)},
                                           b"\0" * 4), "shape overflows")
put("too_many_dims.safetensors", st_bytes({"w": t("U8", [1] * 9, 0, 1)}, b"\0"),
    "9 dimensions")
put("offsets_missing.safetensors", st_bytes({"w": {"dtype": "F32", "shape": [1]}}, b"\0" * 4),
    "'data_offsets' must be [begin, end]")
put("offsets_three.safetensors", st_bytes({"w": {"dtype": "F32", "shape": [1],
                                                 "data_offsets": [0, 2, 4]}}, b"\0" * 4),
    "'data_offsets' must be [begin, end]")
put("entry_not_object.safetensors", st_bytes({"w": [1, 2]}), "entry must be an object")
put("metadata_not_object.safetensors", st_bytes({"__metadata__": "x"}),
    "'__metadata__' must be an object")
put("duplicate_name.safetensors",
    st_bytes(None, raw_header=b'{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                              b'"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
             data=b"\0\0"), "appears twice")

# ---- config.json --------------------------------------------------------------------------
MICRO = {
    "model_type": "deepseek_v32", "vocab_size": 32, "hidden_size": 16,
    "intermediate_size": 32, "moe_intermediate_size": 8, "num_hidden_layers": 1,
    "first_k_dense_replace": 1, "num_attention_heads": 2, "q_lora_rank": 8,
    "kv_lora_rank": 8, "qk_nope_head_dim": 4, "qk_rope_head_dim": 4, "v_head_dim": 4,
    "n_routed_experts": 4, "num_experts_per_tok": 2, "n_group": 1, "topk_group": 1,
    "n_shared_experts": 1, "index_n_heads": 2, "index_head_dim": 8, "index_topk": 4,
}


def cfg_put(name, cfg, want, raw=None):
    put(name, raw if raw is not None else json.dumps(cfg).encode(), want)


for key in ("hidden_size", "vocab_size", "num_hidden_layers", "index_topk", "kv_lora_rank"):
    c = dict(MICRO)
    del c[key]
    cfg_put(f"config_missing_{key}.json", c, f"missing required key '{key}'")
cfg_put("config_model_type.json", dict(MICRO, model_type="deepseek_v3"),
        "model_type 'deepseek_v3' is not supported")
cfg_put("config_not_object.json", None, "the top level must be a JSON object", raw=b"[1]")
cfg_put("config_truncated.json", None, "invalid JSON", raw=b'{"model_type": "deepseek_v32", ')
cfg_put("config_string_int.json", dict(MICRO, hidden_size="16"), "must be an integer")
cfg_put("config_zero_heads.json", dict(MICRO, num_attention_heads=0), "out of range")
cfg_put("config_index_dim.json", dict(MICRO, index_head_dim=24), "must be a power of 2")
cfg_put("config_rope_odd.json", dict(MICRO, qk_rope_head_dim=3), "must be even")
cfg_put("config_groups.json", dict(MICRO, n_group=3), "must be a multiple of n_group")
cfg_put("config_topk_experts.json", dict(MICRO, num_experts_per_tok=9),
        "exceeds the experts")
cfg_put("config_rope_type.json", dict(MICRO, rope_scaling={"type": "linear", "factor": 2}),
        "rope_scaling.type 'linear'")
cfg_put("config_quant.json", dict(MICRO, quantization_config={"quant_method": "gptq"}),
        "quant_method 'gptq'")
cfg_put("config_dense_layers.json", dict(MICRO, first_k_dense_replace=5),
        "first_k_dense_replace 5 exceeds")

# ---- model folders -------------------------------------------------------------------------
def micro_tensors(cfg):
    D, H, C, R = cfg["hidden_size"], cfg["num_attention_heads"], cfg["kv_lora_rank"], cfg["qk_rope_head_dim"]
    QL, NOPE, V = cfg["q_lora_rank"], cfg["qk_nope_head_dim"], cfg["v_head_dim"]
    IH, ID, I = cfg["index_n_heads"], cfg["index_head_dim"], cfg["intermediate_size"]
    p = "model.layers.0."
    return {
        "model.embed_tokens.weight": [cfg["vocab_size"], D], "model.norm.weight": [D],
        "lm_head.weight": [cfg["vocab_size"], D],
        p + "input_layernorm.weight": [D], p + "post_attention_layernorm.weight": [D],
        p + "self_attn.q_a_proj.weight": [QL, D], p + "self_attn.q_a_layernorm.weight": [QL],
        p + "self_attn.q_b_proj.weight": [H * (NOPE + R), QL],
        p + "self_attn.kv_a_proj_with_mqa.weight": [C + R, D],
        p + "self_attn.kv_a_layernorm.weight": [C],
        p + "self_attn.kv_b_proj.weight": [H * (NOPE + V), C],
        p + "self_attn.o_proj.weight": [D, H * V],
        p + "self_attn.indexer.wq_b.weight": [IH * ID, QL],
        p + "self_attn.indexer.wk.weight": [ID, D],
        p + "self_attn.indexer.k_norm.weight": [ID], p + "self_attn.indexer.k_norm.bias": [ID],
        p + "self_attn.indexer.weights_proj.weight": [IH, D],
        p + "mlp.gate_proj.weight": [I, D], p + "mlp.up_proj.weight": [I, D],
        p + "mlp.down_proj.weight": [D, I],
    }


def write_st(path, tensors):
    """tensors: name -> (dtype, shape); zero data, offsets in name order."""
    sizes = {"F32": 4, "BF16": 2, "F16": 2, "F8_E4M3": 1, "I32": 4}
    hdr, off = {}, 0
    for name in sorted(tensors):
        dt, shape = tensors[name]
        n = sizes[dt]
        for s in shape:
            n *= s
        hdr[name] = t(dt, shape, off, off + n)
        off += n
    with open(path, "wb") as fh:
        fh.write(st_bytes(hdr, b"\0" * off))


def model_dir(name, want, mutate=None, cfg=None, files=None):
    d = os.path.join(HERE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    cfg = cfg or dict(MICRO)
    with open(os.path.join(d, "config.json"), "w") as fh:
        json.dump(cfg, fh)
    tensors = {k: ("BF16", v) for k, v in micro_tensors(MICRO).items()}
    if mutate:
        mutate(tensors)
    if files is None:
        write_st(os.path.join(d, "model.safetensors"), tensors)
    else:
        files(d, tensors)
    entries.append((name + "/", want))


def drop(name):
    return lambda ts: ts.pop(name)


model_dir("model_missing_tensor", "tensor 'model.layers.0.self_attn.indexer.wk.weight' is "
          "missing", drop("model.layers.0.self_attn.indexer.wk.weight"))
model_dir("model_bad_shape", "has shape [16, 9], config needs [16, 8]",
          lambda ts: ts.__setitem__("model.layers.0.self_attn.kv_b_proj.weight", ("BF16", [16, 9])))
model_dir("model_bad_dtype", "has dtype I32",
          lambda ts: ts.__setitem__("model.layers.0.mlp.up_proj.weight", ("I32", [32, 16])))
model_dir("model_fp8_no_scale", "has no 'model.layers.0.self_attn.o_proj.weight_scale_inv'",
          lambda ts: ts.__setitem__("model.layers.0.self_attn.o_proj.weight", ("F8_E4M3", [16, 8])))
model_dir("model_fp8_bad_scale", "weight_scale_inv' has shape [2, 1], config needs [1, 1]",
          lambda ts: ts.update({"model.layers.0.self_attn.o_proj.weight": ("F8_E4M3", [16, 8]),
                                "model.layers.0.self_attn.o_proj.weight_scale_inv": ("F32", [2, 1])}))
model_dir("model_no_weights", "neither model.safetensors nor model.safetensors.index.json",
          files=lambda d, ts: None)


def sharded(d, ts, wrong=False, missing=False):
    names = sorted(ts)
    a, b = names[: len(names) // 2], names[len(names) // 2:]
    write_st(os.path.join(d, "model-00001-of-00002.safetensors"), {k: ts[k] for k in a})
    if not missing:
        write_st(os.path.join(d, "model-00002-of-00002.safetensors"), {k: ts[k] for k in b})
    wmap = {k: "model-00001-of-00002.safetensors" for k in a}
    wmap.update({k: "model-00002-of-00002.safetensors" for k in b})
    if wrong:
        wmap[a[0]] = "model-00002-of-00002.safetensors"
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as fh:
        json.dump({"weight_map": wmap}, fh)


model_dir("model_shard_missing", "model-00002-of-00002.safetensors: cannot open",
          files=lambda d, ts: sharded(d, ts, missing=True))
model_dir("model_shard_wrong_file", "but not found there",
          files=lambda d, ts: sharded(d, ts, wrong=True))
model_dir("model_bad_config", "missing required key 'q_lora_rank'",
          cfg={k: v for k, v in MICRO.items() if k != "q_lora_rank"})

with open(os.path.join(HERE, "MANIFEST"), "w") as fh:
    fh.write("# file<TAB>expected part of the error message (written by make_corpus.py)\n")
    for name, want in entries:
        fh.write(f"{name}\t{want}\n")
print(f"{len(entries)} malformed entries in {HERE}")
