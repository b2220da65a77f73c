#!/usr/bin/env python3
"""Build the tiny random DeepSeek-V3.2 (deepseek_v32) checkpoint the engine tests use.

Writes into OUT (default tests/fixtures/tiny_model):
  config.json, model-0000{1,2}-of-00002.safetensors + model.safetensors.index.json (bf16),
  tokenizer.json (byte-level BPE trained with Hugging Face `tokenizers` on a small text),
  reference.json + ref_*.f32 (reference logits, little-endian float32, [n_tokens x vocab]),
  fp8/ (the same model with its linear weights in fp8-e4m3 + 128x128 weight_scale_inv,
        and its own reference logits).

The reference forward is written here in plain PyTorch, following DeepSeek's
inference/model.py (V3.2, the fixed copy mirrored in huggingface/transformers under
models/deepseek_v32/deepseek_files/) op for op, with plain-torch replacements for its
GPU kernels: act_quant (blockwise fp8-e4m3 with amax floor 1e-4, scale amax/448),
fp8_index (fp8 q . fp8 k, ReLU, x weights, sum over heads, x k_scale), the Hadamard
transform (fast_hadamard_transform, Sylvester order, scale dim^-0.5). Differences from
model.py, all deliberate:
  - everything runs in float32 (model.py runs bf16); the C engine computes in fp32 too;
  - quantization blocks are min(128, dim), so tiny dims work;
  - prefill with start_pos > 0 attends to the cached keys (model.py only handles
    prefill from 0), and the decode path is model.py's absorbed MQA form;
  - fp8 linears: the input goes through a blockwise fp8 round trip (act_quant, blocks of
    128 with a shorter last block where model.py would assert) and meets the dequantized
    weight in fp32 — the same products fp8_gemm forms, summed in a different order.
transformers' own DeepseekV32 class is not used: it skips the Hadamard rotation and the
fp8 simulation of the indexer, which this engine reproduces.

Usage: python3 scripts/make_tiny_model.py [--out DIR] [--check]
"""
import argparse
import json
import math
import os
import struct
import sys

import torch
from safetensors.torch import save_file

SEED = 1234
TOPK_SMALL = 8
TOPK_LARGE = 1024  # above every prompt: DSA selects every earlier key

CONFIG = {
    "architectures": ["DeepseekV32ForCausalLM"],
    "model_type": "deepseek_v32",
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 128,
    "moe_intermediate_size": 32,
    "num_hidden_layers": 3,
    "first_k_dense_replace": 1,
    "moe_layer_freq": 1,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "q_lora_rank": 48,
    "kv_lora_rank": 32,
    "qk_nope_head_dim": 16,
    "qk_rope_head_dim": 8,
    "v_head_dim": 16,
    "n_routed_experts": 8,
    "n_shared_experts": 1,
    "num_experts_per_tok": 2,
    "n_group": 2,
    "topk_group": 1,
    "norm_topk_prob": True,
    "routed_scaling_factor": 2.5,
    "scoring_func": "sigmoid",
    "topk_method": "noaux_tc",
    "index_n_heads": 8,
    "index_head_dim": 32,
    "index_topk": TOPK_SMALL,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32,
                     "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
    "max_position_embeddings": 256,
    "bos_token_id": 0,
    "eos_token_id": 1,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "attention_bias": False,
    "num_nextn_predict_layers": 0,
    "torch_dtype": "bfloat16",
}

TRAIN_TEXT = """The engine reads a checkpoint, maps its weights and runs the forward pass.
def add(a, b):\n    return a + b\n\nfor i in range(10):\n    print(i * i)
Sparse attention keeps the top k keys for every query; the indexer scores them cheaply.
Numbers 0 1 2 3 4 5 6 7 8 9 10 100 1000 3.14159 2.71828 -42 +7 1e-6
Whitespace    runs   and\ttabs\n\n\nnewlines. 中文字符 和 日本語の文字。 Emoji: 🙂🚀✨
{"json": [1, 2, 3], "nested": {"key": "value"}} <tag attr="x">text</tag>
Mixture of experts routes each token to a few experts chosen by a sigmoid gate.
"""

# The realistic-shape variant (fp8_ue8m0/): index heads of 128 (one full quantization
# block), a 256-wide kv latent (two blocks), rope 64, fp8 weights with partial 128x128
# blocks, activation scales rounded to powers of two (scale_fmt ue8m0) as in the 671B.
CONFIG_128 = dict(CONFIG, hidden_size=128, intermediate_size=256, moe_intermediate_size=64,
                  num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                  q_lora_rank=64, kv_lora_rank=256, qk_nope_head_dim=64, qk_rope_head_dim=64,
                  v_head_dim=64, n_routed_experts=4, index_n_heads=8, index_head_dim=128,
                  quantization_config={"activation_scheme": "dynamic", "fmt": "e4m3",
                                       "quant_method": "fp8", "scale_fmt": "ue8m0",
                                       "weight_block_size": [128, 128]})

PROMPTS = [
    "def add(a, b): return a + b",
    "Sparse attention keeps the top k keys for every query; the indexer scores them "
    "cheaply. Numbers 0 1 2 3 4 5 6 7 8 9 and emoji 🙂🚀 follow.",
]


# ---- tokenizer -------------------------------------------------------------------------

def build_tokenizer(path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=CONFIG["vocab_size"],
        special_tokens=["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([TRAIN_TEXT] * 4, trainer=trainer)
    tok.save(path)
    return tok


# ---- weights ---------------------------------------------------------------------------

def make_weights(cfg, gen):
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    QL, C, R = cfg["q_lora_rank"], cfg["kv_lora_rank"], cfg["qk_rope_head_dim"]
    NOPE, V = cfg["qk_nope_head_dim"], cfg["v_head_dim"]
    IH, ID = cfg["index_n_heads"], cfg["index_head_dim"]
    w = {}

    def lin(name, out_f, in_f, gain=1.0):
        w[name] = torch.randn(out_f, in_f, generator=gen) * (gain / math.sqrt(in_f))

    def norm(name, n):
        w[name] = 1.0 + 0.1 * torch.randn(n, generator=gen)

    w["model.embed_tokens.weight"] = torch.randn(cfg["vocab_size"], D, generator=gen)
    norm("model.norm.weight", D)
    lin("lm_head.weight", cfg["vocab_size"], D)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        norm(p + "input_layernorm.weight", D)
        norm(p + "post_attention_layernorm.weight", D)
        a = p + "self_attn."
        lin(a + "q_a_proj.weight", QL, D)
        norm(a + "q_a_layernorm.weight", QL)
        lin(a + "q_b_proj.weight", H * (NOPE + R), QL)
        lin(a + "kv_a_proj_with_mqa.weight", C + R, D)
        norm(a + "kv_a_layernorm.weight", C)
        lin(a + "kv_b_proj.weight", H * (NOPE + V), C)
        lin(a + "o_proj.weight", D, H * V)
        lin(a + "indexer.wq_b.weight", IH * ID, QL, gain=2.0)
        lin(a + "indexer.wk.weight", ID, D, gain=2.0)
        norm(a + "indexer.k_norm.weight", ID)
        w[a + "indexer.k_norm.bias"] = 0.1 * torch.randn(ID, generator=gen)
        lin(a + "indexer.weights_proj.weight", IH, D)
        if l < cfg["first_k_dense_replace"]:
            m = p + "mlp."
            lin(m + "gate_proj.weight", cfg["intermediate_size"], D)
            lin(m + "up_proj.weight", cfg["intermediate_size"], D)
            lin(m + "down_proj.weight", D, cfg["intermediate_size"])
        else:
            m = p + "mlp."
            lin(m + "gate.weight", cfg["n_routed_experts"], D)
            w[m + "gate.e_score_correction_bias"] = 0.05 * torch.randn(
                cfg["n_routed_experts"], generator=gen)
            MI = cfg["moe_intermediate_size"]
            for e in range(cfg["n_routed_experts"]):
                x = f"{m}experts.{e}."
                lin(x + "gate_proj.weight", MI, D)
                lin(x + "up_proj.weight", MI, D)
                lin(x + "down_proj.weight", D, MI)
            S = MI * cfg["n_shared_experts"]
            lin(m + "shared_experts.gate_proj.weight", S, D)
            lin(m + "shared_experts.up_proj.weight", S, D)
            lin(m + "shared_experts.down_proj.weight", D, S)
    # what the reference computes with: the bf16-rounded values, in fp32
    return {k: v.to(torch.bfloat16) for k, v in w.items()}


FP8_LINEARS = ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj",
               "indexer.wq_b", "indexer.wk", "gate_proj", "up_proj", "down_proj")


def to_fp8(weights, block=128):
    """fp8-e4m3 weights with weight_scale_inv per 128x128 block (scale = amax / 448)."""
    out, deq = {}, {}
    for k, v in weights.items():
        if v.dim() == 2 and any(s + ".weight" in k for s in FP8_LINEARS) and "mlp.gate." not in k:
            wf = v.float()
            r, c = wf.shape
            sr, sc = (r + block - 1) // block, (c + block - 1) // block
            scale = torch.empty(sr, sc)
            q = torch.empty(r, c, dtype=torch.float8_e4m3fn)
            d = torch.empty(r, c)
            for i in range(sr):
                for j in range(sc):
                    blk = wf[i * block:(i + 1) * block, j * block:(j + 1) * block]
                    s = blk.abs().max().clamp(min=1e-4) / 448.0
                    qb = (blk / s).clamp(-448, 448).to(torch.float8_e4m3fn)
                    q[i * block:(i + 1) * block, j * block:(j + 1) * block] = qb
                    d[i * block:(i + 1) * block, j * block:(j + 1) * block] = qb.float() * s
                    scale[i, j] = s
            out[k] = q
            out[k + "_scale_inv"] = scale
            deq[k] = d
        else:
            out[k] = v
            deq[k] = v.float()
    return out, deq


# ---- reference forward (plain torch, after inference/model.py) --------------------------

def act_quant(x, block, ue8m0=False):
    """Blockwise fp8-e4m3 round trip: returns (q as float, scales)."""
    shape = x.shape
    xb = x.reshape(-1, shape[-1] // block, block)
    amax = xb.abs().amax(-1).clamp(min=1e-4)
    s = amax * (1.0 / 448.0)
    if ue8m0:
        # round up to a power of two exactly (kernel.py's fast_log2_ceil on the bits)
        m, e = torch.frexp(s)
        s = torch.ldexp(torch.ones_like(s), torch.where(m == 0.5, e - 1, e))
    q = (xb / s.unsqueeze(-1)).clamp(-448, 448).to(torch.float8_e4m3fn).float()
    return q.reshape(shape), s.reshape(*shape[:-1], shape[-1] // block)


def hadamard(x):
    d = x.shape[-1]
    y = x.clone()
    h = 1
    while h < d:
        y = y.reshape(*x.shape[:-1], d // (2 * h), 2, h)
        a, b = y[..., 0, :], y[..., 1, :]
        y = torch.stack([a + b, a - b], dim=-2)
        h *= 2
    return y.reshape(x.shape) * d ** -0.5


def rope_freqs(cfg, n):
    dim, base = cfg["qk_rope_head_dim"], cfg["rope_theta"]
    rs = cfg["rope_scaling"]
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    orig, factor = rs["original_max_position_embeddings"], rs["factor"]

    def corr(rot):
        return dim * math.log(orig / (rot * 2 * math.pi)) / (2 * math.log(base))
    low = max(math.floor(corr(rs["beta_fast"])), 0)
    high = min(math.ceil(corr(rs["beta_slow"])), dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    smooth = 1 - ramp
    freqs = freqs / factor * (1 - smooth) + freqs * smooth
    t = torch.arange(n, dtype=torch.float32)
    ang = torch.outer(t, freqs)
    return torch.polar(torch.ones_like(ang), ang)


def apply_rope(x, f, interleaved):
    shape = x.shape
    if not interleaved:
        x = x.reshape(*shape[:-1], 2, -1).transpose(-1, -2).contiguous()
    xc = torch.view_as_complex(x.float().reshape(*shape[:-1], -1, 2))
    f = f.reshape(shape[0], *([1] * (len(shape) - 2)), -1)
    y = torch.view_as_real(xc * f).flatten(-2)
    if not interleaved:
        y = torch.cat([y[..., 0::2], y[..., 1::2]], dim=-1)
    return y


def rmsnorm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


class Reference:
    """Caches for one sequence; forward(tokens, start) returns [n x vocab] logits."""

    def __init__(self, cfg, w, n_ctx, index_topk, fp8_names=()):
        self.c, self.w, self.topk = cfg, {k: v.float() for k, v in w.items()}, index_topk
        self.fp8_names = set(fp8_names)
        self.ue8m0 = cfg.get("quantization_config", {}).get("scale_fmt") == "ue8m0"
        L = cfg["num_hidden_layers"]
        self.kv = torch.zeros(L, n_ctx, cfg["kv_lora_rank"])
        self.pe = torch.zeros(L, n_ctx, cfg["qk_rope_head_dim"])
        self.ik = torch.zeros(L, n_ctx, cfg["index_head_dim"])
        self.iks = torch.zeros(L, n_ctx, 1)
        self.freqs = rope_freqs(cfg, n_ctx)
        rs = cfg["rope_scaling"]
        ms = 0.1 * rs["mscale_all_dim"] * math.log(rs["factor"]) + 1.0
        self.scale = (cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]) ** -0.5 * ms * ms
        self.routes = []
        self.min_gap = float("inf")

    def lin(self, x, name):
        if name in self.fp8_names:
            # model.py's linear() on an fp8 weight: act_quant(x) then fp8_gemm; here the
            # input's blockwise fp8 round trip (blocks of 128, the last one shorter)
            parts = []
            for b0 in range(0, x.shape[-1], 128):
                xb = x[..., b0:b0 + 128].contiguous()
                q, s = act_quant(xb, xb.shape[-1], self.ue8m0)
                parts.append(q * s)
            x = torch.cat(parts, -1)
        return x @ self.w[name].t()

    def indexer(self, l, x, qr, start, f, mask):
        c, p = self.c, f"model.layers.{l}.self_attn.indexer."
        n, IH, ID, R = x.shape[0], c["index_n_heads"], c["index_head_dim"], c["qk_rope_head_dim"]
        end = start + n
        q = self.lin(qr, p + "wq_b.weight").view(n, IH, ID)
        q = torch.cat([apply_rope(q[..., :R], f, False), q[..., R:]], -1)
        k = torch.nn.functional.layer_norm(self.lin(x, p + "wk.weight"), (ID,),
                                           self.w[p + "k_norm.weight"],
                                           self.w[p + "k_norm.bias"], 1e-6)
        k = torch.cat([apply_rope(k[..., :R], f, False), k[..., R:]], -1)
        q, k = hadamard(q), hadamard(k)
        blk = min(128, ID)
        q8, qs = act_quant(q, blk, self.ue8m0)
        k8, ks = act_quant(k, blk, self.ue8m0)
        self.ik[l, start:end], self.iks[l, start:end] = k8, ks
        wts = self.lin(x, p + "weights_proj.weight") * IH ** -0.5
        wts = wts.unsqueeze(-1) * qs * ID ** -0.5          # [n, IH, 1]
        logits = torch.einsum("nhd,td->nht", q8, self.ik[l, :end])
        score = (logits.clamp(min=0) * wts).sum(1) * self.iks[l, :end, 0]  # [n, end]
        if mask is not None:
            score = score + mask
        kk = min(self.topk, end)
        top = score.topk(kk, dim=-1)
        # margin at the top-k boundary among valid keys (ties there would be ambiguous)
        for i in range(n):
            valid = score[i][torch.isfinite(score[i])]
            if valid.numel() > kk:
                sv = valid.sort(descending=True).values
                gap = (sv[kk - 1] - sv[kk]).item() / (sv.abs().max().item() + 1e-30)
                self.min_gap = min(self.min_gap, gap)
        return top.indices

    def attention(self, l, x, start):
        c, p = self.c, f"model.layers.{l}.self_attn."
        n, H = x.shape[0], c["num_attention_heads"]
        NOPE, R, V, C = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"]
        end = start + n
        f = self.freqs[start:end]
        eps = c["rms_norm_eps"]
        qr = rmsnorm(self.lin(x, p + "q_a_proj.weight"), self.w[p + "q_a_layernorm.weight"], eps)
        q = self.lin(qr, p + "q_b_proj.weight").view(n, H, NOPE + R)
        q_nope, q_pe = q[..., :NOPE], apply_rope(q[..., NOPE:], f, True)
        kv = self.lin(x, p + "kv_a_proj_with_mqa.weight")
        kv, k_pe = kv[:, :C], kv[:, C:]
        kv = rmsnorm(kv, self.w[p + "kv_a_layernorm.weight"], eps)
        k_pe = apply_rope(k_pe, f, True)
        q8, s = act_quant(kv, min(128, C), self.ue8m0)
        kv = (q8.view(n, -1, min(128, C)) * s.unsqueeze(-1)).view(n, C)
        self.kv[l, start:end], self.pe[l, start:end] = kv, k_pe
        wkv_b = self.w[p + "kv_b_proj.weight"].view(H, NOPE + V, C)
        pos = torch.arange(start, end)
        causal = torch.where(torch.arange(end)[None, :] <= pos[:, None], 0.0, float("-inf"))
        mask = causal if n > 1 else None
        top = self.indexer(l, x, qr, start, f, mask)
        index_mask = torch.full((n, end), float("-inf")).scatter_(-1, top, 0) + causal
        if n > 1:  # MHA form (model.py's prefill), over every cached key
            kvb = (self.kv[l, :end] @ wkv_b.view(-1, C).t()).view(end, H, NOPE + V)
            k = torch.cat([kvb[..., :NOPE], self.pe[l, :end].unsqueeze(1).expand(end, H, R)], -1)
            qq = torch.cat([q_nope, q_pe], -1)
            scores = torch.einsum("shd,thd->sht", qq, k) * self.scale
            scores = scores + index_mask.unsqueeze(1)
            o = torch.einsum("sht,thd->shd", scores.softmax(-1), kvb[..., NOPE:])
        else:  # absorbed MQA form (model.py's decode)
            ql = torch.einsum("shd,hdc->shc", q_nope, wkv_b[:, :NOPE])
            scores = (torch.einsum("shc,tc->sht", ql, self.kv[l, :end]) +
                      torch.einsum("shr,tr->sht", q_pe, self.pe[l, :end])) * self.scale
            scores = scores + index_mask.unsqueeze(1)
            o = torch.einsum("sht,tc->shc", scores.softmax(-1), self.kv[l, :end])
            o = torch.einsum("shc,hdc->shd", o, wkv_b[:, NOPE:])
        return self.lin(o.reshape(n, H * V), p + "o_proj.weight")

    def mlp(self, x, p):
        g, u = self.lin(x, p + "gate_proj.weight"), self.lin(x, p + "up_proj.weight")
        return self.lin(torch.nn.functional.silu(g) * u, p + "down_proj.weight")

    def moe(self, l, x):
        c, p = self.c, f"model.layers.{l}.mlp."
        E, G, K = c["n_routed_experts"], c["n_group"], c["num_experts_per_tok"]
        scores = self.lin(x, p + "gate.weight").sigmoid()
        orig = scores
        sel = scores + self.w[p + "gate.e_score_correction_bias"]
        gs = sel.view(x.shape[0], G, -1).topk(2, dim=-1)[0].sum(-1)
        gi = gs.topk(c["topk_group"], dim=-1)[1]
        gmask = torch.ones(x.shape[0], G, dtype=torch.bool).scatter_(1, gi, False)
        sel = sel.view(x.shape[0], G, -1).masked_fill(gmask.unsqueeze(-1), float("-inf")).flatten(1)
        idx = sel.topk(K, dim=-1)[1]
        wts = orig.gather(1, idx)
        wts = wts / wts.sum(-1, keepdim=True) * c["routed_scaling_factor"]
        y = torch.zeros_like(x)
        for e in range(E):
            rows, slot = torch.where(idx == e)
            if rows.numel():
                y[rows] += self.mlp(x[rows], f"{p}experts.{e}.") * wts[rows, slot, None]
        y += self.mlp(x, p + "shared_experts.")
        return y, idx

    def forward(self, tokens, start):
        c = self.c
        x = self.w["model.embed_tokens.weight"][torch.tensor(tokens)]
        eps = c["rms_norm_eps"]
        routes = []
        for l in range(c["num_hidden_layers"]):
            p = f"model.layers.{l}."
            x = x + self.attention(l, rmsnorm(x, self.w[p + "input_layernorm.weight"], eps), start)
            h = rmsnorm(x, self.w[p + "post_attention_layernorm.weight"], eps)
            if l < c["first_k_dense_replace"]:
                x = x + self.mlp(h, p + "mlp.")
                routes.append(torch.full((len(tokens), c["num_experts_per_tok"]), -1))
            else:
                y, idx = self.moe(l, h)
                x = x + y
                routes.append(idx)
        self.routes.append(torch.stack(routes, 1))  # [n, layers, K]
        return self.lin(rmsnorm(x, self.w["model.norm.weight"], eps), "lm_head.weight")


def run_cases(cfg, weights, prompts_tokens, out, tag, manifest, fp8_names=(),
              cases=((TOPK_SMALL, "prefill"), (TOPK_SMALL, "decode"), (TOPK_LARGE, "prefill"),
                     (TOPK_LARGE, "decode")), prompt_ids=None):
    for pi, toks in enumerate(prompts_tokens):
        if prompt_ids is not None and pi not in prompt_ids:
            continue
        for topk, mode in cases:
            if True:
                ref = Reference(cfg, weights, len(toks) + 4, topk, fp8_names)
                with torch.no_grad():
                    if mode == "prefill":
                        logits = ref.forward(toks, 0)
                    else:
                        logits = torch.cat([ref.forward([t], i) for i, t in enumerate(toks)])
                name = f"ref_{tag}p{pi}_topk{topk}_{mode}.f32"
                with open(os.path.join(out, name), "wb") as fh:
                    fh.write(logits.contiguous().numpy().astype("<f4").tobytes())
                routes = torch.cat(ref.routes).flatten().tolist()
                manifest["cases"].append({
                    "prompt": pi, "index_topk": topk, "mode": mode, "file": name,
                    "n_tokens": len(toks), "routes": routes,
                    "topk_min_relative_gap": None if ref.min_gap == float("inf") else ref.min_gap})
                if ref.min_gap != float("inf") and ref.min_gap < 1e-4:
                    sys.exit(f"{tag} prompt {pi} topk {topk} {mode}: top-k boundary gap "
                             f"{ref.min_gap:.2e} is too small; pick another seed or prompt")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                  "fixtures", "tiny_model"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(os.path.join(out, "fp8"), exist_ok=True)
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    tok = build_tokenizer(os.path.join(out, "tokenizer.json"))
    assert tok.get_vocab_size() <= CONFIG["vocab_size"]
    prompts_tokens = [[CONFIG["bos_token_id"]] + tok.encode(p).ids for p in PROMPTS]
    weights = make_weights(CONFIG, gen)

    # bf16, two shards + index
    names = sorted(weights)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half],
              "model-00002-of-00002.safetensors": names[half:]}
    wmap = {}
    for fname, keys in shards.items():
        save_file({k: weights[k].contiguous() for k in keys}, os.path.join(out, fname),
                  metadata={"format": "pt"})
        wmap.update({k: fname for k in keys})
    total = sum(v.numel() * v.element_size() for v in weights.values())
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as fh:
        json.dump({"metadata": {"total_size": total}, "weight_map": wmap}, fh, indent=1,
                  sort_keys=True)
    with open(os.path.join(out, "config.json"), "w") as fh:
        json.dump(CONFIG, fh, indent=2)

    manifest = {"seed": SEED, "prompts": [{"text": p, "tokens": t}
                                          for p, t in zip(PROMPTS, prompts_tokens)],
                "vocab_size": CONFIG["vocab_size"], "n_layers": CONFIG["num_hidden_layers"],
                "n_experts_per_tok": CONFIG["num_experts_per_tok"], "cases": []}
    run_cases(CONFIG, weights, prompts_tokens, out, "", manifest)
    with open(os.path.join(out, "reference.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)

    # fp8 variant: single file, quantized linears, its own references (prefill only)
    q, deq = to_fp8(weights)
    save_file({k: v.contiguous() for k, v in q.items()},
              os.path.join(out, "fp8", "model.safetensors"))
    cfg8 = dict(CONFIG)
    cfg8["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3",
                                   "quant_method": "fp8", "weight_block_size": [128, 128]}
    with open(os.path.join(out, "fp8", "config.json"), "w") as fh:
        json.dump(cfg8, fh, indent=2)
    m8 = {"prompts": manifest["prompts"], "vocab_size": CONFIG["vocab_size"],
          "n_layers": CONFIG["num_hidden_layers"],
          "n_experts_per_tok": CONFIG["num_experts_per_tok"], "cases": []}
    fp8_names = [k for k in q if k + "_scale_inv" in q]
    run_cases(cfg8, deq, prompts_tokens[:1], os.path.join(out, "fp8"), "", m8, fp8_names)
    m8["cases"] = [c for c in m8["cases"] if c["mode"] == "prefill"]
    for f in os.listdir(os.path.join(out, "fp8")):
        if f.endswith("_decode.f32"):
            os.remove(os.path.join(out, "fp8", f))
    with open(os.path.join(out, "fp8", "reference.json"), "w") as fh:
        json.dump(m8, fh, indent=1)
    # realistic-shape fp8 + ue8m0 variant
    vdir = os.path.join(out, "fp8_ue8m0")
    os.makedirs(vdir, exist_ok=True)
    w128 = make_weights(CONFIG_128, torch.Generator().manual_seed(SEED + 1))
    q128, deq128 = to_fp8(w128)
    save_file({k: v.contiguous() for k, v in q128.items()}, os.path.join(vdir, "model.safetensors"))
    with open(os.path.join(vdir, "config.json"), "w") as fh:
        json.dump(CONFIG_128, fh, indent=2)
    mv = {"prompts": manifest["prompts"], "vocab_size": CONFIG_128["vocab_size"],
          "n_layers": CONFIG_128["num_hidden_layers"],
          "n_experts_per_tok": CONFIG_128["num_experts_per_tok"], "cases": []}
    run_cases(CONFIG_128, deq128, prompts_tokens, vdir, "", mv,
              [k for k in q128 if k + "_scale_inv" in q128],
              cases=((TOPK_SMALL, "prefill"), (TOPK_SMALL, "decode"), (TOPK_LARGE, "prefill")),
              prompt_ids=(1,))
    with open(os.path.join(vdir, "reference.json"), "w") as fh:
        json.dump(mv, fh, indent=1)
    print(f"wrote {out}: {len(weights)} tensors, {total} bytes of bf16 weights, "
          f"prompts of {[len(t) for t in prompts_tokens]} tokens")


if __name__ == "__main__":
    main()
