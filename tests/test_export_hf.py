"""tests/test_export_hf.py — the sft export loads with Hugging Face `datasets` and renders
through a chat template with tools (transformers' apply_chat_template with the template in
tests/export_fixtures/chat_template.jinja; nothing is downloaded). The tasks export loads
as the prompt-only dataset TRL's GRPO trainer reads. Exit 77 when datasets or transformers
is absent."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "export_fixtures"))
import efpy  # noqa: E402
from efpy import check  # noqa: E402

CASES = ["test_sft_loads_with_datasets", "test_sft_renders_chat_template",
         "test_tasks_load_as_prompts", "test_real_run_store"]


def strip_none(v):
    """What a reader does with Arrow's struct union: drop the keys a row did not have."""
    if isinstance(v, dict):
        return {k: strip_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [strip_none(x) for x in v]
    return v


def sft_path(t):
    out = os.path.join(t.tmp, "sft.jsonl")
    if not os.path.exists(out):
        efpy.envforge("export", "--db", efpy.small_store(t.tmp), "--format", "sft", "-o", out)
    return out


def test_sft_loads_with_datasets(t):
    import datasets
    ds = datasets.load_dataset("json", data_files=sft_path(t), split="train")
    check(len(ds) == 25, "rows %d" % len(ds))
    for col in ("messages", "tools", "env", "task_id", "reward", "verified"):
        check(col in ds.column_names, "missing column " + col)
    row = ds[0]
    m = row["messages"]
    check([x["role"] for x in m] == ["system", "user", "assistant", "tool", "tool", "assistant"])
    call = m[2]["tool_calls"][0]
    check(call["type"] == "function" and call["function"]["name"] == "calc")
    check(isinstance(call["function"]["arguments"], str))
    check(json.loads(m[2]["tool_calls"][1]["function"]["arguments"]) == {"name": "pi"})
    check(m[3]["tool_call_id"] == call["id"])
    check(m[2]["reasoning_content"].startswith("I need pi first"))
    check(row["verified"] is True and row["reward"] == 1.0)
    check([x["function"]["name"] for x in ds[24]["tools"]] == ["calc", "lookup", "python", "submit"])
    print("    datasets: %d rows, columns %s" % (len(ds), ",".join(ds.column_names[:6])))


def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")


def test_sft_renders_chat_template(t):
    import datasets
    tpl = open(os.path.join(efpy.source_dir(), "tests", "export_fixtures",
                            "chat_template.jinja")).read()
    tok = tokenizer()
    ds = datasets.load_dataset("json", data_files=sft_path(t), split="train")
    raw = efpy.read_jsonl(sft_path(t))
    n = 0
    for i, row in enumerate(ds):
        text = tok.apply_chat_template(row["messages"], tools=strip_none(row["tools"]),
                                       chat_template=tpl, tokenize=False)
        # The same row straight from the JSONL renders the same text.
        text_raw = tok.apply_chat_template(raw[i]["messages"], tools=raw[i]["tools"],
                                           chat_template=tpl, tokenize=False)
        check(text == text_raw, "row %d renders differently from datasets and from JSONL" % i)
        check('"name": "calc"' in text and "<tools>" in text)
        check('<tool_call>\n{"name": "calc", "arguments": {"expression":"6 * 7"}}' in text, text)
        check('"arguments": {"name":"pi"}' in text)
        check("<think>\nI need pi first" in text)
        check('<tool_response id="%s">\n42\n</tool_response>' % raw[i]["messages"][3]["tool_call_id"]
              in text)
        n += 1
    check(n == 25)
    print("    rendered %d conversations; first is %d chars" % (n, len(
        tok.apply_chat_template(raw[0]["messages"], tools=raw[0]["tools"], chat_template=tpl,
                                tokenize=False))))


def test_tasks_load_as_prompts(t):
    import datasets
    out = os.path.join(t.tmp, "tasks.jsonl")
    efpy.envforge("export", "--db", efpy.small_store(t.tmp), "--format", "tasks", "-o", out)
    ds = datasets.load_dataset("json", data_files=out, split="train")
    check(len(ds) == 8)
    check(ds[0]["prompt"] == [{"role": "user", "content": "Compute task A: what is 6 * 7 + pi?"}])
    check(ds[0]["reward_model"] == {"style": "rule", "ground_truth": "45.14159"})
    check(ds[0]["data_source"] == "envforge/calc" and ds[0]["ability"] == "interpreter")
    check(json.loads(ds[0]["extra_info"]["task_json"])["state"] == {"k": 0})
    check(ds[0]["extra_info"]["seed"] == "1000")


def test_real_run_store(t):
    """A store filled by `envforge gen` and `envforge run --model oracle` exports and loads."""
    env = os.path.join(efpy.source_dir(), "examples", "envs", "arith.lua")
    db = os.path.join(t.tmp, "run.db")
    r = efpy.envforge("gen", env, "-n", "4", "--seed", "1", "--db", db, check_rc=False)
    if r.returncode != 0:
        raise efpy.Skip("envforge gen failed: " + r.stderr.decode(errors="replace")[-200:])
    r = efpy.envforge("run", "--db", db, "--model", "oracle", "--group", "2", check_rc=False)
    if r.returncode != 0:
        raise efpy.Skip("envforge run failed: " + r.stderr.decode(errors="replace")[-200:])
    import datasets
    out = os.path.join(t.tmp, "run_sft.jsonl")
    efpy.envforge("export", "--db", db, "--format", "sft", "--verified-only", "-o", out)
    ds = datasets.load_dataset("json", data_files=out, split="train")
    check(len(ds) == 8, "rows %d" % len(ds))
    tpl = open(os.path.join(efpy.source_dir(), "tests", "export_fixtures",
                            "chat_template.jinja")).read()
    text = tokenizer().apply_chat_template(efpy.read_jsonl(out)[0]["messages"],
                                           tools=efpy.read_jsonl(out)[0]["tools"],
                                           chat_template=tpl, tokenize=False)
    # the oracle is offered the env's tools only (no `submit`: it answers directly)
    names = [x["function"]["name"] for x in efpy.read_jsonl(out)[0]["tools"]]
    check("<tool_call>" in text and "calc" in text and names == ["calc"], "tools %s" % names)


def main():
    t = efpy.Tests()
    if not (efpy.have("datasets") and efpy.have("transformers")):
        return t.skip_all(CASES, "the Python packages datasets and transformers are not "
                                 "installed (pip install datasets transformers)")
    for name in CASES:
        t.run(globals()[name], t)
    return t.end()


if __name__ == "__main__":
    sys.exit(main())
