"""tests/test_export_parquet.py — `envforge export --parquet`: the three formats read back
with pyarrow with the rows of the JSONL export; the embedded helper writes the same table
as scripts/parquet_writer.py; without pyarrow the export fails with a clear message.
Exit 77 when pyarrow is absent."""
import os
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "export_fixtures"))
import efpy  # noqa: E402
from efpy import check  # noqa: E402

CASES = ["test_parquet_formats", "test_parquet_helper_agrees", "test_parquet_missing_folder",
         "test_parquet_without_pyarrow"]


def test_parquet_formats(t):
    import pyarrow.parquet as pq
    db = efpy.small_store(t.tmp)
    for fmt, n in (("sft", 25), ("rl", 21), ("tasks", 8)):
        out = os.path.join(t.tmp, fmt + ".parquet")
        efpy.envforge("export", "--db", db, "--format", fmt, "--parquet", "-o", out)
        tab = pq.read_table(out)
        check(tab.num_rows == n, "%s: %d rows" % (fmt, tab.num_rows))
        jl = os.path.join(t.tmp, fmt + ".jsonl")
        efpy.envforge("export", "--db", db, "--format", fmt, "-o", jl)
        rows = efpy.read_jsonl(jl)
        first = tab.slice(0, 1).to_pylist()[0]
        if fmt == "rl":
            check(first["tokens"] == rows[0]["tokens"])
            check(first["rollout_routed_experts"] == rows[0]["rollout_routed_experts"])
            check(first["advantage"] == rows[0]["advantage"])
            sizes = [m["group_samples"] for m in tab.column("metadata").to_pylist()]
            check(sizes == [r["metadata"]["group_samples"] for r in rows] and 3 in sizes,
                  "metadata.group_samples")
        elif fmt == "sft":
            check(first["messages"][2]["tool_calls"][0]["function"]["arguments"] ==
                  rows[0]["messages"][2]["tool_calls"][0]["function"]["arguments"])
            import json
            check(json.loads(first["tools"]) == rows[0]["tools"])
        else:
            check(first["reward_model"] == rows[0]["reward_model"])
        print("    %s: %d rows, %d columns" % (fmt, tab.num_rows, tab.num_columns))


def test_parquet_helper_agrees(t):
    import pyarrow.parquet as pq
    db = efpy.small_store(t.tmp)
    script = os.path.join(efpy.source_dir(), "scripts", "parquet_writer.py")
    for fmt in ("sft", "rl", "tasks"):
        a = os.path.join(t.tmp, "a_%s.parquet" % fmt)
        b = os.path.join(t.tmp, "b_%s.parquet" % fmt)
        efpy.envforge("export", "--db", db, "--format", fmt, "--parquet", "-o", a)
        jl = efpy.envforge("export", "--db", db, "--format", fmt).stdout
        subprocess.run([sys.executable, script, fmt, b], input=jl, check=True,
                       capture_output=True)
        check(pq.read_table(a).equals(pq.read_table(b)), fmt + ": tables differ")


def test_parquet_missing_folder(t):
    """-o into a folder that does not exist: one line naming the path, exit 1, as the
    JSONL export says it (it was a Python traceback naming a temporary file); the helper
    run by hand says it in one line too."""
    db = efpy.small_store(t.tmp)
    out = os.path.join(t.tmp, "no", "such", "x.parquet")
    r = efpy.envforge("export", "--db", db, "--format", "rl", "--parquet", "-o", out,
                      check_rc=False)
    err = r.stderr.decode()
    check(r.returncode == 1, "exit %d" % r.returncode)
    check(err == "envforge export: cannot write %s: No such file or directory\n" % out, err)
    check(not os.path.exists(os.path.join(t.tmp, "no")))
    script = os.path.join(efpy.source_dir(), "scripts", "parquet_writer.py")
    p = subprocess.run([sys.executable, script, "rl", out], input=b"", capture_output=True)
    err = p.stderr.decode()
    check(p.returncode == 2 and "Traceback" not in err and err.count("\n") == 1, err)
    check(err.startswith("parquet: cannot write %s: " % out), err)


def test_parquet_without_pyarrow(t):
    fake = os.path.join(t.tmp, "fakebin")
    os.makedirs(fake, exist_ok=True)
    py = os.path.join(fake, "python3")
    with open(py, "w") as f:
        f.write("#!/bin/sh\necho 'ModuleNotFoundError: No module named pyarrow' >&2\nexit 1\n")
    os.chmod(py, stat.S_IRWXU)
    env = dict(os.environ, PATH=fake + os.pathsep + os.environ.get("PATH", ""))
    r = efpy.envforge("export", "--db", efpy.small_store(t.tmp), "--format", "sft", "--parquet",
                      "-o", os.path.join(t.tmp, "x.parquet"), check_rc=False, env=env)
    err = r.stderr.decode()
    check(r.returncode == 1, "exit %d" % r.returncode)
    check("pyarrow" in err and "pip install pyarrow" in err, err)
    print("    " + err.strip().splitlines()[-1])


def main():
    t = efpy.Tests()
    if not efpy.have("pyarrow"):
        return t.skip_all(CASES, "pyarrow is not installed (pip install pyarrow)")
    for name in CASES:
        t.run(globals()[name], t)
    return t.end()


if __name__ == "__main__":
    sys.exit(main())
