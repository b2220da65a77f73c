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
An answer follows the agent's test env: with no tool message yet it calls add(a, b) with
the numbers of "Add A and B." in the user message; after a tool result it answers with
that result. Usage counts are made up but consistent.
"""
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCHEDULE = (sys.argv[1] if len(sys.argv) > 1 else "429,500,slow,drop,ok").split(",")
LOCK = threading.Lock()
COUNT = [0]


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
        if not self.path.endswith("/chat/completions"):
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
        data = json.dumps(answer(json.loads(body))).encode()
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
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
