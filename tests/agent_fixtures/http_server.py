#!/usr/bin/env python3
"""A flaky OpenAI-compatible chat server for the agent's http backend test (stdlib only).

Binds 127.0.0.1 on a free port and prints the port on stdout. POST /v1/chat/completions:
request n (counted from 0 over the server's life) is answered by the mode MODE[n % 5]
of the schedule given as argv[1] (default "429,500,slow,drop,ok"):
  429   HTTP 429 with Retry-After: 0
  500   HTTP 500
  slow  sleeps 1.5 s, then answers (past a client timeout of 1 s this is a timeout)
  drop  closes the connection without answering
  ok    answers
  trunc sends half of a valid body and closes
  badcall (token-in/token-out only) answers, but its DSML tool call is cut off before
        its closing tags, as a model that loses the format does (a parse error)
  empty (token-in/token-out only) answers with an empty reply (reasoning closed, nothing
        after it)
  noids (token-in/token-out only) answers as ok, with the text only (no token ids)
  nolp  (token-in/token-out only) answers as ok, with token ids but no log-probs
An answer follows the agent's test env: with no tool message yet it calls add(a, b) with
the numbers of "Add A and B." in the user message; after a tool result it answers with
that result. Usage counts are made up but consistent.

With $EF_TEST_EXPECT_KEY set, a request without "Authorization: Bearer $EF_TEST_EXPECT_KEY"
gets HTTP 401.

POST /v1/completions (token-in/token-out; argv[2] names a tokenizer.json): the prompt
is a list of token ids, decoded with the tokenizer's byte-level vocabulary; the answer
is DeepSeek-V3.2 completion text (thinking, then a DSML call or the answer) with its
token ids (greedy longest match over the vocabulary, then EOS) as vLLM returns them
(token_ids, logprobs.tokens "token_id:N", logprobs.token_logprobs = -0.5 each). The
numbers to add are those of the last "Add A and B." in the prompt; tool results count
after the last user turn. With $EF_TEST_PROMPT_LOG set, each answered request appends
{"mode", "prompt": [ids], "token_ids": [ids]} (what the model was given and sampled) to
that file.
"""
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCHEDULE = (sys.argv[1] if len(sys.argv) > 1 else "429,500,slow,drop,ok").split(",")
LOCK = threading.Lock()
COUNT = [0]


TOK = None  # (id -> text, special texts -> id, byte-level text -> id, eos id)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def load_tokenizer(path):
    doc = json.load(open(path, encoding="utf-8"))
    vocab = dict(doc["model"]["vocab"])
    special = {a["content"]: a["id"] for a in doc.get("added_tokens", [])}
    inv = {v: k for k, v in vocab.items()}
    for k, v in special.items():
        inv[v] = k
    return inv, special, vocab, special.get("<\uff5cend\u2581of\u2581sentence\uff5c>")


def decode(ids):
    inv, special, _, _ = TOK
    u2b = {v: k for k, v in bytes_to_unicode().items()}
    out = bytearray()
    for i in ids:
        t = inv[i]
        if t in special:
            out += t.encode()
        else:
            out += bytes(u2b[c] for c in t)
    return out.decode("utf-8", "replace")


def encode(text):
    _, special, vocab, _ = TOK
    b2u = bytes_to_unicode()
    ids, pos = [], 0
    while pos < len(text):
        sp = [k for k in special if text.startswith(k, pos)]
        if sp:
            k = max(sp, key=len)
            ids.append(special[k])
            pos += len(k)
            continue
        # the longest vocabulary entry matching here (in byte-level form)
        best = None
        for end in range(min(len(text), pos + 24), pos, -1):
            piece = "".join(b2u[b] for b in text[pos:end].encode())
            if piece in vocab:
                best = (end, vocab[piece])
                break
        if best is None:  # a single character as its bytes
            for b in text[pos].encode():
                ids.append(vocab[b2u[b]])
            pos += 1
        else:
            ids.append(best[1])
            pos = best[0]
    return ids


def completion(req, mode="ok"):
    D = "\uff5cDSML\uff5c"
    prompt = decode(req.get("prompt", []))
    last_user = prompt.rfind("<\uff5cUser\uff5c>")
    results = re.findall(r"<result>(.*?)</result>", prompt[last_user:], re.S)
    if mode == "badcall":
        text = ("adding</think>\n\n<%sfunction_calls>\n<%sinvoke name=\"add\">\n"
                "<%sparameter name=\"a\" string=\"false\">1") % (D, D, D)
    elif mode == "empty":
        text = "</think>"
    elif results:
        text = "done</think>" + results[-1]
    else:
        adds = re.findall(r"Add (-?\d+) and (-?\d+)", prompt)
        a, b = (int(adds[-1][0]), int(adds[-1][1])) if adds else (0, 0)
        text = ("adding</think>\n\n<%sfunction_calls>\n<%sinvoke name=\"add\">\n"
                "<%sparameter name=\"a\" string=\"false\">%d</%sparameter>\n"
                "<%sparameter name=\"b\" string=\"false\">%d</%sparameter>\n"
                "</%sinvoke>\n</%sfunction_calls>") % (D, D, D, a, D, D, b, D, D, D)
    ids = encode(text) + [TOK[3]]
    log = os.environ.get("EF_TEST_PROMPT_LOG")
    if log and mode != "trunc":
        with LOCK, open(log, "a") as f:
            f.write(json.dumps({"mode": mode, "prompt": req.get("prompt", []),
                                "token_ids": None if mode == "noids" else ids}) + "\n")
    choice = {"index": 0, "text": text, "token_ids": ids, "finish_reason": "stop",
              "logprobs": {"tokens": ["token_id:%d" % i for i in ids],
                           "token_logprobs": [-0.5] * len(ids)}}
    if mode == "noids":
        del choice["token_ids"]
        choice["logprobs"] = None
    if mode == "nolp":
        choice["logprobs"] = None
    return {"id": "x", "object": "text_completion", "model": req.get("model", ""),
            "choices": [choice],
            "usage": {"prompt_tokens": len(req.get("prompt", [])), "completion_tokens": len(ids),
                      "total_tokens": len(req.get("prompt", [])) + len(ids)}}


def answer(req):
    msgs = req.get("messages", [])
    tool = [m for m in msgs if m.get("role") == "tool"]
    if tool:
        msg = {"role": "assistant", "content": tool[-1].get("content", "")}
        finish = "stop"
    else:
        user = [m for m in msgs if m.get("role") == "user"][-1].get("content", "")
        m = re.search(r"Add (-?\d+) and (-?\d+)", user)
        a, b = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        msg = {"role": "assistant", "content": None, "reasoning_content": "adding",
               "tool_calls": [{"id": "call_%d" % COUNT[0], "type": "function",
                               "function": {"name": "add",
                                            "arguments": json.dumps({"a": a, "b": b})}}]}
        finish = "tool_calls"
    return {"id": "x", "object": "chat.completion", "model": req.get("model", ""),
            "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10 * len(msgs), "completion_tokens": 7,
                      "total_tokens": 10 * len(msgs) + 7}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with LOCK:
            k = COUNT[0]
            COUNT[0] += 1
        mode = SCHEDULE[k % len(SCHEDULE)]
        want = os.environ.get("EF_TEST_EXPECT_KEY")
        if want and self.headers.get("Authorization") != "Bearer " + want:
            data = b'{"error":{"message":"bad key"}}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if not self.path.endswith("/completions") or (
                not self.path.endswith("/chat/completions") and TOK is None):
            self.send_error(404)
            return
        if mode == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if mode in ("429", "500"):
            data = b'{"error":{"message":"try again"}}'
            self.send_response(int(mode))
            if mode == "429":
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if mode == "slow":
            time.sleep(1.5)
        req = json.loads(body)
        if self.path.endswith("/chat/completions"):
            data = json.dumps(answer(req)).encode()
        else:
            data = json.dumps(completion(req, mode)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if mode == "trunc":
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(data)


def main():
    global TOK
    if len(sys.argv) > 2:
        TOK = load_tokenizer(sys.argv[2])
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
