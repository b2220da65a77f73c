"""tests/test_export_rl.py — the rl export against the store read independently (sqlite3 +
numpy, the layout of docs/store.md): tokens = prompt + response; loss mask, log-probs,
top-p offsets (response + 1) and ids, and routes per response token; GRPO advantages
recomputed with numpy (std with N-1 as verl, and Dr. GRPO), groups contiguous and
full-size, incomplete groups absent. And end to end: `envforge gen` + `envforge run` through
the http backend in token-in/token-out mode (--tokenizer, against the agent tests'
OpenAI-compatible server tests/agent_fixtures/http_server.py) stores real token streams,
which export as rl samples consistent with the store. Exit 77 when numpy is absent."""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "export_fixtures"))
import efpy  # noqa: E402
from efpy import check  # noqa: E402

CASES = ["test_rl_matches_store", "test_rl_advantages_numpy", "test_rl_from_real_run"]


def stream(db, episode_id):
    import numpy as np
    n, ids, mask, lp, offs, topp, L, K, rb, routes = db.execute(
        "SELECT n_tokens, token_ids, loss_mask, logprobs, topp_offsets, topp_ids, route_layers, "
        "route_topk, route_bytes, routes FROM token_streams WHERE episode_id = ?",
        (episode_id,)).fetchone()
    ids = np.frombuffer(ids, "<i4")
    mask = np.frombuffer(mask, "u1")
    lp = np.frombuffer(lp, "<f4") if lp else None
    offs = np.frombuffer(offs, "<i4") if offs else None
    topp = np.frombuffer(topp, "<i4") if topp else None
    if routes:
        routes = np.frombuffer(routes, "u1" if rb == 1 else "<u2").reshape(n, L, K)
    return n, ids, mask, lp, offs, topp, routes


def test_rl_matches_store(t):
    import numpy as np
    dbp = efpy.small_store(t.tmp)
    out = os.path.join(t.tmp, "rl.jsonl")
    efpy.envforge("export", "--db", dbp, "--format", "rl", "-o", out)
    rows = efpy.read_jsonl(out)
    db = sqlite3.connect(dbp)
    check(len(rows) == 18, "rows %d" % len(rows))
    n_tokens = 0
    for r in rows:
        n, ids, mask, lp, offs, topp, routes = stream(db, r["metadata"]["episode_id"])
        p = int(np.argmax(mask == 1)) if mask.any() else n
        resp = n - p
        check(r["tokens"] == ids.tolist(), "tokens")
        check(r["prompt_length"] == p and r["response_length"] == resp)
        check(len(r["tokens"]) == r["prompt_length"] + r["response_length"])
        check(r["loss_mask"] == mask[p:].tolist())
        check(len(r["rollout_log_probs"]) == resp)
        check(np.array_equal(np.array(r["rollout_log_probs"], dtype=np.float32), lp[p:]),
              "log-probs differ")
        o = r["rollout_top_p_token_offsets"]
        check(len(o) == resp + 1 and o[0] == 0)
        check(o == (offs[p:] - offs[p]).tolist())
        check(r["rollout_top_p_token_ids"] == topp[offs[p]:offs[n]].tolist())
        check(np.array_equal(np.array(r["rollout_routed_experts"]), routes[p:]), "routes")
        check(np.array(r["rollout_routed_experts"]).shape == (resp,) + routes.shape[1:])
        n_tokens += n
    # incomplete (3 of 4) and tokenless groups never appear
    groups = {r["metadata"]["group_id"] for r in rows}
    check(groups == {100, 101, 102, 104, 206, 207}, str(groups))
    print("    %d samples, %d tokens checked against the store" % (len(rows), n_tokens))


def test_rl_advantages_numpy(t):
    import numpy as np
    dbp = efpy.small_store(t.tmp)
    for mode in ("std", "dr"):
        out = os.path.join(t.tmp, "rl_%s.jsonl" % mode)
        efpy.envforge("export", "--db", dbp, "--format", "rl", "--grpo", mode, "-o", out)
        rows = efpy.read_jsonl(out)
        by_group = {}
        for r in rows:
            by_group.setdefault(r["group_index"], []).append(r)
        check(sorted(by_group) == list(range(len(by_group))))
        last = -1
        for r in rows:  # contiguous: group_index never goes back
            check(r["group_index"] >= last)
            last = r["group_index"]
        for gi, g in by_group.items():
            check(len(g) == g[0]["metadata"]["group_size"], "group %d not full-size" % gi)
            rw = np.array([x["reward"] for x in g])
            if len(rw) == 1:
                want = np.zeros(1)
            elif mode == "std":
                want = (rw - rw.mean()) / (rw.std(ddof=1) + 1e-6)
            else:
                want = rw - rw.mean()
            got = np.array([x["advantage"] for x in g])
            check(np.allclose(got, want, rtol=0, atol=1e-12), "%s group %d: %s vs %s" % (
                mode, gi, got, want))


def test_rl_from_real_run(t):
    import subprocess
    src = efpy.source_dir()
    server = os.path.join(src, "tests", "agent_fixtures", "http_server.py")
    tok = os.path.join(src, "tests", "fixtures", "tokenizer", "tokenizer.json")
    if not (os.path.exists(server) and os.path.exists(tok)):
        raise efpy.Skip("the agent's http test server or the tokenizer fixture is missing")
    db = os.path.join(t.tmp, "real.db")
    r = efpy.envforge("gen", os.path.join(src, "examples", "envs", "arith.lua"), "-n", "3",
                      "--seed", "1", "--db", db, check_rc=False)
    if r.returncode != 0:
        raise efpy.Skip("envforge gen failed: " + r.stderr.decode(errors="replace")[-200:])
    srv = subprocess.Popen([sys.executable, server, "ok", tok], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(srv.stdout.readline())
        r = efpy.envforge("run", "--db", db, "--model", "http://127.0.0.1:%d/v1#m" % port,
                          "--tokenizer", tok, "--group", "3", "--max-turns", "4",
                          check_rc=False)
    finally:
        srv.kill()
        srv.wait()
    if r.returncode != 0:
        raise efpy.Skip("envforge run (http, --tokenizer) failed: " +
                        r.stderr.decode(errors="replace")[-300:])
    out = os.path.join(t.tmp, "real_rl.jsonl")
    efpy.envforge("export", "--db", db, "--format", "rl", "-o", out)
    rows = efpy.read_jsonl(out)
    check(len(rows) == 9, "rows %d" % len(rows))
    check([r["group_index"] for r in rows] == [0, 0, 0, 1, 1, 1, 2, 2, 2])
    con = sqlite3.connect(db)
    for r in rows:
        n, ids, mask, lp, offs, topp, routes = stream(con, r["metadata"]["episode_id"])
        p = r["prompt_length"]
        check(r["tokens"] == ids.tolist() and p + r["response_length"] == n)
        check(mask[:p].sum() == 0 and mask[p] == 1, "prompt ends at the first model token")
        check(r["loss_mask"] == mask[p:].tolist())
        check(0 in r["loss_mask"], "a multi-turn response holds tool tokens (mask 0)")
        # the server samples every token at log-prob -0.5; tool tokens carry 0
        check(all(lp == (-0.5 if m else 0.0) for lp, m in zip(r["rollout_log_probs"],
                                                               r["loss_mask"])))
        check(r["rollout_top_p_token_offsets"] is None and r["rollout_routed_experts"] is None)
        check(r["advantage"] == 0.0)  # every sample got the same reward
    print("    %d samples from a real run: prompt %d + response %d tokens (first)" % (
        len(rows), rows[0]["prompt_length"], rows[0]["response_length"]))


def main():
    t = efpy.Tests()
    if not efpy.have("numpy"):
        return t.skip_all(CASES, "numpy is not installed (pip install numpy)")
    for name in CASES:
        t.run(globals()[name], t)
    return t.end()


if __name__ == "__main__":
    sys.exit(main())
