"""tests/test_export_rl.py — the rl export against the store read independently (sqlite3 +
numpy, the layout of docs/store.md): tokens = prompt + response; loss mask, log-probs,
top-p offsets (response + 1) and ids, and routes per response token; GRPO advantages
recomputed with numpy (std with N-1 as verl, and Dr. GRPO), groups contiguous with
group_samples rows, incomplete groups absent. And end to end: `envforge gen` + `envforge
run` through the http backend in token-in/token-out mode (--tokenizer, against the agent
tests' OpenAI-compatible server tests/agent_fixtures/http_server.py) stores real token
streams, which export as rl samples consistent with the store; an episode with a broken
DSML call keeps its stream — the bad turn's sampled ids at mask 1, the loop's feedback as
prompt tokens, exactly what the server was given and sampled — and is exported; episodes
that keep no stream (a server answering with text only, context resets) leave their group
short or skipped. Exit 77 when numpy is absent."""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "export_fixtures"))
import efpy  # noqa: E402
from efpy import check  # noqa: E402

CASES = ["test_rl_matches_store", "test_rl_advantages_numpy", "test_rl_from_real_run",
         "test_rl_real_run_parse_error", "test_rl_real_run_without_tokens",
         "test_rl_real_run_without_logprobs"]


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
    check(len(rows) == 21, "rows %d" % len(rows))
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
    # the incomplete group (3 of 4) never appears; 105 lost its sample without a token
    # stream and says so
    groups = {r["metadata"]["group_id"] for r in rows}
    check(groups == {100, 101, 102, 104, 105, 206, 207}, str(groups))
    for r in rows:
        g = r["metadata"]
        check(g["group_samples"] == g["group_size"] - (g["group_id"] == 105), str(g))
        check(g["group_samples"] == sum(x["group_index"] == r["group_index"] for x in rows))
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
            check(len(g) == g[0]["metadata"]["group_samples"], "group %d: size" % gi)
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


def serve_and_run(t, db, schedule, *run_args, prompt_log=None):
    """`envforge run` on db against the agent tests' http server in token-in/token-out
    mode, answering request n with mode schedule[n] (and logging each request's prompt and
    sampled ids to prompt_log when given); the run's CompletedProcess."""
    import subprocess
    src = efpy.source_dir()
    server = os.path.join(src, "tests", "agent_fixtures", "http_server.py")
    tok = os.path.join(src, "tests", "fixtures", "tokenizer", "tokenizer.json")
    if not (os.path.exists(server) and os.path.exists(tok)):
        raise efpy.Skip("the agent's http test server or the tokenizer fixture is missing")
    env = dict(os.environ)
    if prompt_log:
        env["EF_TEST_PROMPT_LOG"] = prompt_log
    srv = subprocess.Popen([sys.executable, server, ",".join(schedule), tok],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        port = int(srv.stdout.readline())
        r = efpy.envforge("run", "--db", db, "--model", "http://127.0.0.1:%d/v1#m" % port,
                          "--tokenizer", tok, "--concurrency", "1", *run_args, check_rc=False)
    finally:
        srv.kill()
        srv.wait()
    if r.returncode != 0:
        raise efpy.Skip("envforge run (http, --tokenizer) failed: " +
                        r.stderr.decode(errors="replace")[-300:])
    return r


def test_rl_real_run_parse_error(t):
    """A DSML tool call cut off (the server's badcall mode: a parse error the loop answers
    with its own feedback) keeps the episode's token stream: it is exactly the prompts the
    server was given and the ids it sampled — the bad turn's at mask 1 with their
    log-probs, the feedback after them at mask 0 — and export rl writes the sample with its
    whole group."""
    import numpy as np
    src = efpy.source_dir()
    db = os.path.join(t.tmp, "badcall.db")
    log = os.path.join(t.tmp, "prompts.jsonl")
    efpy.envforge("gen", os.path.join(src, "examples", "envs", "arith.lua"), "-n", "2",
                  "--seed", "1", "--db", db)
    # request 4 is the first turn of task 1's third sample (2 requests per episode)
    serve_and_run(t, db, ["badcall" if i == 4 else "ok" for i in range(64)],
                  "--group", "3", "--max-turns", "4", "--run", "bad", prompt_log=log)
    reqs = efpy.read_jsonl(log)
    con = sqlite3.connect(db)
    eps = con.execute(
        "SELECT id, group_id, sample_idx, n_parse_errors, n_turns, "
        "EXISTS (SELECT 1 FROM token_streams ts WHERE ts.episode_id = ep.id) "
        "FROM episodes ep ORDER BY id").fetchall()
    check(len(eps) == 6 and all(e[5] == 1 for e in eps), "every episode keeps a stream: %s"
          % eps)
    bad = [e for e in eps if e[3] > 0]
    check(len(bad) == 1 and bad[0][3] == 1 and bad[0][4] == 3, str(eps))
    check(sum(e[4] for e in eps) == len(reqs), "one logged request per turn")
    # the requests in order (one worker): episode by episode, turn by turn
    k = 0
    for e in eps:
        n, ids, mask, lp, offs, topp, routes = stream(con, e[0])
        done = 0
        for turn in range(e[4]):
            p, c = reqs[k]["prompt"], reqs[k]["token_ids"]
            k += 1
            check(ids[:len(p)].tolist() == p, "episode %d turn %d: the prompt given is the "
                  "stored stream so far" % (e[0], turn))
            check(len(p) > done and not mask[done:len(p)].any() and
                  not lp[done:len(p)].any(), "new prompt tokens carry mask 0")
            check(ids[len(p):len(p) + len(c)].tolist() == c and
                  mask[len(p):len(p) + len(c)].all() and
                  (lp[len(p):len(p) + len(c)] == np.float32(-0.5)).all(),
                  "episode %d turn %d: the sampled ids follow with mask 1" % (e[0], turn))
            done = len(p) + len(c)
        check(done == n, "the stream ends with the last sampled id")
    # the bad turn: its sampled ids (a DSML block cut off) at mask 1, then the feedback
    check([x["mode"] for x in reqs].count("badcall") == 1 and reqs[4]["mode"] == "badcall")
    n, ids, mask, lp, offs, topp, routes = stream(con, bad[0][0])
    p0 = len(reqs[4]["prompt"])
    c0 = len(reqs[4]["token_ids"])
    p1 = len(reqs[5]["prompt"])
    check(mask[p0:p0 + c0].all() and not mask[p0 + c0:p1].any() and p1 > p0 + c0)
    out = os.path.join(t.tmp, "bad_rl.jsonl")
    r = efpy.envforge("export", "--db", db, "--format", "rl", "-o", out)
    rows = efpy.read_jsonl(out)
    check(len(rows) == 6, "rows %d: %s" % (len(rows), r.stderr.decode()))
    check("no token stream" not in r.stderr.decode(), r.stderr.decode())
    row = [x for x in rows if x["metadata"]["episode_id"] == bad[0][0]]
    check(len(row) == 1 and row[0]["metadata"]["group_samples"] == 3)
    row = row[0]
    pl = row["prompt_length"]
    check(row["tokens"] == ids.tolist() and pl == p0, "the response starts at the bad turn")
    check(row["loss_mask"][:c0] == [1] * c0 and row["loss_mask"][c0:p1 - pl] ==
          [0] * (p1 - pl - c0), "bad turn mask 1, feedback mask 0")
    check(row["rollout_log_probs"][:c0] == [-0.5] * c0)
    print("    parse error: bad turn %d sampled tokens at mask 1, feedback %d prompt tokens; "
          "group written whole" % (c0, p1 - p0 - c0))


def test_rl_real_run_without_tokens(t):
    """Episodes that keep no token stream, made by real runs: a turn the server answers
    with text only (the noids mode: no ids to store, and tokenizing the text again would
    only guess at them) and context resets (a small window). The first leaves its group
    one sample short: the group is written with the other two, its advantages over those,
    and stderr names the episode; --full-groups skips the group; sft keeps the episode. A
    run where every episode reset writes no rl group."""
    src = efpy.source_dir()
    db = os.path.join(t.tmp, "notok.db")
    efpy.envforge("gen", os.path.join(src, "examples", "envs", "arith.lua"), "-n", "2",
                  "--seed", "1", "--db", db)
    # request 4 is the first turn of task 1's third sample (2 requests per episode)
    serve_and_run(t, db, ["noids" if i == 4 else "ok" for i in range(64)],
                  "--group", "3", "--max-turns", "4", "--run", "noids")
    con = sqlite3.connect(db)
    eps = con.execute(
        "SELECT id, group_id, sample_idx, n_parse_errors, reward, "
        "EXISTS (SELECT 1 FROM token_streams ts WHERE ts.episode_id = ep.id) "
        "FROM episodes ep ORDER BY group_id, sample_idx").fetchall()
    check(len(eps) == 6 and all(e[3] == 0 for e in eps), str(eps))
    bad = [e for e in eps if e[5] == 0]
    check(len(bad) == 1 and bad[0][2] == 2, "the text-only turn left no token stream: %s" % eps)
    out = os.path.join(t.tmp, "notok_rl.jsonl")
    r = efpy.envforge("export", "--db", db, "--format", "rl", "-o", out)
    err = r.stderr.decode()
    rows = efpy.read_jsonl(out)
    check(len(rows) == 5, "rows %d" % len(rows))
    check(bad[0][0] not in [x["metadata"]["episode_id"] for x in rows])
    short = [x for x in rows if x["metadata"]["group_id"] == bad[0][1]]
    check(len(short) == 2 and all(x["metadata"]["group_samples"] == 2 and
                                  x["metadata"]["group_size"] == 3 for x in short), str(short))
    check(short[0]["group_index"] == short[1]["group_index"])
    check("1 sample has no token stream" in err and
          "first: episode %d): 1 group written without them" % bad[0][0] in err, err)
    for x in rows:  # what is written is the stored stream, untouched
        n, ids, mask, lp, offs, topp, routes = stream(con, x["metadata"]["episode_id"])
        check(x["tokens"] == ids.tolist() and x["loss_mask"] == mask[x["prompt_length"]:].tolist())
    r = efpy.envforge("export", "--db", db, "--format", "rl", "--full-groups")
    check(len(r.stdout.splitlines()) == 3, "--full-groups keeps the full group only")
    check("1 short of token streams (3 samples)" in r.stderr.decode(), r.stderr.decode())
    r = efpy.envforge("export", "--db", db, "--format", "sft")
    check(len(r.stdout.splitlines()) == 6, "sft keeps every episode")
    # context resets: the stream no longer describes one context, none is kept
    serve_and_run(t, db, ["ok"] * 64, "--group", "2", "--max-turns", "5", "--run", "reset",
                  "--context-window", "400", "--context-policy", "discard-all")
    n_reset, n_tok = con.execute(
        "SELECT count(*), sum(EXISTS (SELECT 1 FROM token_streams ts WHERE ts.episode_id = "
        "ep.id)) FROM episodes ep JOIN runs r ON r.id = ep.run_id WHERE r.name = 'reset' "
        "AND ep.n_context_resets > 0").fetchone()
    check(n_reset == 4 and n_tok == 0, "resets %d, with tokens %d" % (n_reset, n_tok))
    r = efpy.envforge("export", "--db", db, "--format", "rl", "--run", "reset")
    check(r.stdout == b"", "no rl row from a run whose every episode reset")
    check("0 groups written" in r.stderr.decode() and
          "2 short of token streams (4 samples)" in r.stderr.decode(), r.stderr.decode())
    print("    text only: group written with 2 of 3; context resets: %d episodes, no stream"
          % n_reset)



def test_rl_real_run_without_logprobs(t):
    """A server that returns token ids but no log-probs for one turn (the nolp mode): the
    episode keeps its token stream, stored without log-probs (a 0.0 would read as
    probability 1 in a trainer's importance ratio), and export rl writes
    rollout_log_probs null for it and the sampled log-probs (-0.5) for the others."""
    src = efpy.source_dir()
    db = os.path.join(t.tmp, "nolp.db")
    efpy.envforge("gen", os.path.join(src, "examples", "envs", "arith.lua"), "-n", "2",
                  "--seed", "1", "--db", db)
    # request 5 is the second turn of task 1's third sample (2 requests per episode)
    serve_and_run(t, db, ["nolp" if i == 5 else "ok" for i in range(64)],
                  "--group", "3", "--max-turns", "4", "--run", "nolp")
    con = sqlite3.connect(db)
    eps = con.execute(
        "SELECT ep.id, ep.sample_idx, ts.logprobs IS NULL FROM episodes ep JOIN token_streams "
        "ts ON ts.episode_id = ep.id ORDER BY ep.group_id, ep.sample_idx").fetchall()
    check(len(eps) == 6, "every episode keeps its stream: %s" % eps)
    nolp = [e for e in eps if e[2]]
    check(len(nolp) == 1 and nolp[0][1] == 2, "one stream without log-probs: %s" % eps)
    out = os.path.join(t.tmp, "nolp_rl.jsonl")
    efpy.envforge("export", "--db", db, "--format", "rl", "-o", out)
    rows = efpy.read_jsonl(out)
    check(len(rows) == 6, "rows %d" % len(rows))
    for x in rows:
        if x["metadata"]["episode_id"] == nolp[0][0]:
            check(x["rollout_log_probs"] is None, "null log-probs for the nolp episode")
        else:
            lp = [v for v, m in zip(x["rollout_log_probs"], x["loss_mask"]) if m]
            check(lp and all(v == -0.5 for v in lp), "sampled log-probs kept")


def main():
    t = efpy.Tests()
    if not efpy.have("numpy"):
        return t.skip_all(CASES, "numpy is not installed (pip install numpy)")
    for name in CASES:
        t.run(globals()[name], t)
    return t.end()


if __name__ == "__main__":
    sys.exit(main())
