#!/usr/bin/env python3
"""tests/test_serve.py — `envforge serve` on the tiny model, driven by the official
`openai` Python client: models, chat with tools (tool_choice required and named, i.e.
constrained DSML tool calls), reasoning_content, streaming (chat and completions),
completions with token-id prompts and logprobs, seeds, concurrent clients giving the
same streams as sequential ones, request limits, and a clean stop on SIGTERM.

Prints one line per case and "N passed, N failed, N skipped"; exits 77 when the openai
package is absent (it is installed by scripts/setup.sh)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import urllib.error

try:
    import openai
except ImportError:
    print("skip: the openai package is not installed")
    print("0 passed, 0 failed, 1 skipped")
    sys.exit(77)

SRC = os.environ.get("EF_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
BIN = os.environ.get("EF_BIN", "envforge")
MODEL = os.path.join(SRC, "tests", "fixtures", "tiny_model")

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "maxLength": 16},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 5}},
            "required": ["city", "unit"]}}},
    {"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object", "properties": {
            "ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 3}},
            "required": ["ids"]}}},
]

results = {"passed": 0, "failed": 0, "skipped": 0}


def case(fn):
    t0 = time.time()
    try:
        fn()
        results["passed"] += 1
        print("ok   %s (%.2fs)" % (fn.__name__, time.time() - t0), flush=True)
    except Exception as e:  # noqa: BLE001 - report every failure as a failed case
        results["failed"] += 1
        print("FAIL %s: %s: %s" % (fn.__name__, type(e).__name__, e), flush=True)


def start_server(*extra):
    p = subprocess.Popen([BIN, "serve", "--model", MODEL, "--port", "0", "--threads", "1",
                          *extra], stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    if "listening on" not in line:
        p.kill()
        raise RuntimeError("serve did not start: " + line + p.stderr.read())
    url = line.strip().split("listening on ")[1]
    return p, url


server, base_url = start_server("--max-body-bytes", "200000")
client = openai.OpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=120)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def validate(schema, value, path="args"):
    """The subset of JSON Schema the tools above use."""
    t = schema.get("type")
    if "enum" in schema:
        check(value in schema["enum"], "%s: %r not in enum" % (path, value))
    if t == "object":
        check(isinstance(value, dict), "%s: not an object" % path)
        for k in schema.get("required", []):
            check(k in value, "%s: missing %s" % (path, k))
        for k, v in value.items():
            check(k in schema["properties"], "%s: unknown key %s" % (path, k))
            validate(schema["properties"][k], v, path + "." + k)
    elif t == "array":
        check(isinstance(value, list), "%s: not an array" % path)
        check(len(value) <= schema.get("maxItems", 10 ** 9), "%s: too many items" % path)
        for i, v in enumerate(value):
            validate(schema["items"], v, "%s[%d]" % (path, i))
    elif t == "string":
        check(isinstance(value, str), "%s: not a string" % path)
        check(len(value) <= schema.get("maxLength", 10 ** 9), "%s: too long" % path)
    elif t == "integer":
        check(isinstance(value, int) and not isinstance(value, bool), "%s: not an int" % path)
        check(schema.get("minimum", -10 ** 18) <= value <= schema.get("maximum", 10 ** 18),
              "%s: out of range" % path)


def schema_of(name):
    return next(t["function"]["parameters"] for t in TOOLS if t["function"]["name"] == name)


def test_models_and_health():
    ids = [m.id for m in client.models.list().data]
    check(ids == ["tiny_model"], "models: %r" % ids)
    with urllib.request.urlopen(base_url.replace("/v1", "/health")) as r:
        check(json.load(r)["status"] == "ok", "health")


def test_chat_with_tools_required():
    msgs = [{"role": "user", "content": "What is the weather in Paris?"}]
    for seed in range(6):
        r = client.chat.completions.create(model="tiny_model", messages=msgs, tools=TOOLS,
                                           tool_choice="required", seed=seed, max_tokens=600)
        ch = r.choices[0]
        check(ch.finish_reason == "tool_calls", "finish %s" % ch.finish_reason)
        calls = ch.message.tool_calls
        check(calls and len(calls) >= 1, "no tool calls")
        for c in calls:
            check(c.id and c.type == "function", "call shape")
            validate(schema_of(c.function.name), json.loads(c.function.arguments))
        extra = ch.message.model_extra or {}
        check("reasoning_content" in extra, "reasoning_content missing")
        check(r.usage.completion_tokens > 0 and r.usage.prompt_tokens > 100,
              "usage %r (tools are in the prompt)" % r.usage)


def test_chat_named_tool():
    r = client.chat.completions.create(
        model="tiny_model", messages=[{"role": "user", "content": "ids?"}], tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "lookup"}}, seed=11,
        max_tokens=600)
    calls = r.choices[0].message.tool_calls
    check([c.function.name for c in calls] == ["lookup"] * len(calls) and calls, "named")
    for c in calls:
        validate(schema_of("lookup"), json.loads(c.function.arguments))


def test_chat_unknown_named_tool_is_400():
    try:
        client.chat.completions.create(
            model="tiny_model", messages=[{"role": "user", "content": "x"}], tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "nope"}}, max_tokens=4)
    except openai.BadRequestError as e:
        check("nope" in str(e), str(e))
        return
    raise AssertionError("expected 400")


def test_chat_stream_matches_plain():
    msgs = [{"role": "user", "content": "Say something."}]
    plain = client.chat.completions.create(model="tiny_model", messages=msgs, seed=5,
                                           max_tokens=40, temperature=0.8)
    reasoning, content, finish, n_chunks = "", "", None, 0
    for ev in client.chat.completions.create(model="tiny_model", messages=msgs, seed=5,
                                             max_tokens=40, temperature=0.8, stream=True,
                                             stream_options={"include_usage": True}):
        n_chunks += 1
        if not ev.choices:
            check(ev.usage.completion_tokens == plain.usage.completion_tokens, "usage chunk")
            continue
        d = ev.choices[0].delta
        extra = d.model_extra or {}
        reasoning += extra.get("reasoning_content") or ""
        content += d.content or ""
        finish = ev.choices[0].finish_reason or finish
    m = plain.choices[0].message
    want_r = (m.model_extra or {}).get("reasoning_content") or ""
    check(reasoning == want_r, "reasoning %r != %r" % (reasoning, want_r))
    check(content == (m.content or ""), "content %r != %r" % (content, m.content))
    check(finish == plain.choices[0].finish_reason, "finish")
    check(n_chunks >= 3, "chunks %d" % n_chunks)


def test_chat_stream_tool_calls():
    calls, finish = {}, None
    for ev in client.chat.completions.create(
            model="tiny_model", messages=[{"role": "user", "content": "weather"}], tools=TOOLS,
            tool_choice="required", seed=3, max_tokens=600, stream=True):
        if not ev.choices:
            continue
        for tc in ev.choices[0].delta.tool_calls or []:
            c = calls.setdefault(tc.index, {"name": "", "args": ""})
            c["name"] += tc.function.name or ""
            c["args"] += tc.function.arguments or ""
        finish = ev.choices[0].finish_reason or finish
    check(calls and finish == "tool_calls", "stream tool calls %r %s" % (calls, finish))
    for c in calls.values():
        validate(schema_of(c["name"]), json.loads(c["args"]))


def test_completions_logprobs_and_seed():
    kw = dict(model="tiny_model", prompt=[0, 5, 6, 7], max_tokens=12, logprobs=1, seed=3,
              extra_body={"return_token_ids": True, "ignore_eos": True})
    a = client.completions.create(**kw)
    b = client.completions.create(**kw)
    ca, cb = a.choices[0], b.choices[0]
    lp = ca.logprobs
    check(len(lp.tokens) == 12 and len(lp.token_logprobs) == 12, "logprobs length")
    check(all(x <= 0 for x in lp.token_logprobs), "logprobs <= 0")
    check(ca.text == cb.text and lp.token_logprobs == cb.logprobs.token_logprobs, "seeded")
    ids = (ca.model_extra or {})["token_ids"]
    check(len(ids) == 12, "token_ids")
    c = client.completions.create(**dict(kw, seed=4))
    check((c.choices[0].model_extra or {})["token_ids"] != ids, "another seed, other tokens")
    g1 = client.completions.create(model="tiny_model", prompt="hello", max_tokens=8,
                                   temperature=0)
    g2 = client.completions.create(model="tiny_model", prompt="hello", max_tokens=8,
                                   temperature=0, seed=99)
    check(g1.choices[0].text == g2.choices[0].text, "greedy ignores the seed")


def test_completions_sampler_options():
    r = client.completions.create(
        model="tiny_model", prompt=[0, 9, 10], max_tokens=10, seed=1, temperature=0.9,
        top_p=0.9, extra_body={"top_k": 5, "min_p": 0.05, "repetition_penalty": 1.3,
                               "ignore_eos": True, "return_kept_sets": True,
                               "return_routed_experts": True})
    extra = r.choices[0].model_extra or {}
    off, kept = extra["kept_offsets"], extra["kept_token_ids"]
    check(len(off) == 11 and off[0] == 0, "kept offsets")
    check(all(1 <= off[i + 1] - off[i] <= 5 for i in range(10)), "top-k 5 caps kept sets")
    check(len(extra["routed_experts"]) == 10, "routes per token")
    check(len(extra["routed_experts"][0]) == 3 * 2, "layers x top-k")
    check(extra["routed_experts"][0][:2] == [-1, -1], "dense first layer")


def test_completions_stream():
    text = ""
    for ev in client.completions.create(model="tiny_model", prompt=[0, 1, 2, 3],
                                        max_tokens=10, seed=8, stream=True,
                                        extra_body={"ignore_eos": True}):
        text += ev.choices[0].text
    plain = client.completions.create(model="tiny_model", prompt=[0, 1, 2, 3], max_tokens=10,
                                      seed=8, extra_body={"ignore_eos": True})
    check(text == plain.choices[0].text, "%r != %r" % (text, plain.choices[0].text))


def test_concurrent_clients_same_streams():
    def one(seed):
        r = client.completions.create(model="tiny_model", prompt=[0, 20 + seed, 30], seed=seed,
                                      max_tokens=24, extra_body={"return_token_ids": True,
                                                                 "ignore_eos": True})
        return (r.choices[0].model_extra or {})["token_ids"]
    alone = {s: one(s) for s in range(4)}
    out, errs = {}, []

    def worker(s):
        try:
            out[s] = one(s % 4)
        except Exception as e:  # noqa: BLE001
            errs.append(e)
    ts = [threading.Thread(target=worker, args=(s,)) for s in range(16)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    check(not errs, "errors %r" % errs)
    for s in range(16):
        check(out[s] == alone[s % 4], "seed %d differs when batched" % s)


def test_limits():
    try:
        client.completions.create(model="tiny_model", prompt="x" * 300000, max_tokens=1)
        raise AssertionError("expected 413")
    except openai.APIStatusError as e:
        check(e.status_code == 413, "status %d" % e.status_code)
    for bad in ({"temperature": -1}, {"top_p": 2}, {"max_tokens": 0}):
        try:
            client.completions.create(model="tiny_model", prompt=[0, 1], **bad)
            raise AssertionError("expected 400 for %r" % bad)
        except openai.BadRequestError:
            pass
    req = urllib.request.Request(base_url + "/chat/completions", data=b"{not json",
                                 headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req)
        raise AssertionError("expected 400")
    except urllib.error.HTTPError as e:
        check(e.code == 400, "bad json %d" % e.code)
    try:
        urllib.request.urlopen(base_url + "/nothing")
        raise AssertionError("expected 404")
    except urllib.error.HTTPError as e:
        check(e.code == 404, "404")


def test_unsupported_fields_and_models():
    # what the server does not implement is refused, not silently ignored
    for bad in ({"stop": ["\n"]}, {"presence_penalty": 0.5}, {"logit_bias": {"5": 10}},
                {"echo": True}, {"best_of": 2}):
        try:
            client.completions.create(model="tiny_model", prompt=[0, 1], max_tokens=2, **bad)
            raise AssertionError("expected 400 for %r" % bad)
        except openai.BadRequestError as e:
            check(list(bad)[0] in str(e), "the message names the field: %s" % e)
    try:
        client.chat.completions.create(model="tiny_model", max_tokens=2, stop="x",
                                       messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("expected 400 for chat stop")
    except openai.BadRequestError:
        pass
    # their no-op values are fine
    client.completions.create(model="tiny_model", prompt=[0, 1], max_tokens=2, stop=[],
                              presence_penalty=0, frequency_penalty=0, echo=False, best_of=1)
    # another model's name is a 404 naming the served one; "default" is this one
    try:
        client.completions.create(model="gpt-4o", prompt=[0, 1], max_tokens=2)
        raise AssertionError("expected 404")
    except openai.NotFoundError as e:
        check("tiny_model" in str(e), str(e))
    client.completions.create(model="default", prompt=[0, 1], max_tokens=2)
    # max_model_len is what a request may use (--max-ctx, 65536 by default), not the
    # config's trained length
    with urllib.request.urlopen(base_url + "/models") as r:
        m = json.load(r)["data"][0]
    check(m["max_model_len"] == 65536, "max_model_len %r" % m["max_model_len"])
    p, url = start_server("--max-ctx", "4096")
    try:
        with urllib.request.urlopen(url + "/models") as r:
            check(json.load(r)["data"][0]["max_model_len"] == 4096, "--max-ctx 4096")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)


def test_sigterm_clean_stop():
    p, url = start_server()
    c = openai.OpenAI(base_url=url, api_key="none", max_retries=0, timeout=60)
    got = []

    def long_stream():
        try:
            for ev in c.completions.create(model="tiny_model", prompt=[0, 1], max_tokens=2000,
                                           stream=True, extra_body={"ignore_eos": True}):
                got.append(ev)
        except Exception:  # noqa: BLE001 - the stream may be cut at shutdown
            pass
    t = threading.Thread(target=long_stream)
    t.start()
    while not got:
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=60)
    err = p.stderr.read()
    t.join(timeout=30)
    check(rc == 0, "exit %d: %s" % (rc, err))
    check("stopped" in err, err)


for fn in [test_models_and_health, test_chat_with_tools_required, test_chat_named_tool,
           test_chat_unknown_named_tool_is_400, test_chat_stream_matches_plain,
           test_chat_stream_tool_calls, test_completions_logprobs_and_seed,
           test_completions_sampler_options, test_completions_stream,
           test_concurrent_clients_same_streams, test_limits,
           test_unsupported_fields_and_models, test_sigterm_clean_stop]:
    if len(sys.argv) > 1 and sys.argv[1] not in fn.__name__:
        continue
    case(fn)

server.send_signal(signal.SIGTERM)
try:
    rc = server.wait(timeout=60)
except subprocess.TimeoutExpired:
    server.kill()
    rc = -1
if rc != 0:
    results["failed"] += 1
    print("FAIL server exit %d" % rc)
print("%d passed, %d failed, %d skipped" % (results["passed"], results["failed"],
                                           results["skipped"]))
sys.exit(1 if results["failed"] else 0)
