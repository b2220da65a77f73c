"""tests/export_fixtures/efpy.py — the small harness the Python export tests share: one
line per case ("ok", "FAIL", "skip") and the closing line "N passed, N failed, N skipped";
exit 0 / 1, or 77 when every case was skipped (a package or browser is absent)."""
import os
import subprocess
import sys
import tempfile
import traceback


class Tests:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.tmp = tempfile.mkdtemp(prefix="eftest-export-py-")
        # Hugging Face libraries: no network, caches in the scratch folder, no bars.
        for k, v in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"),
                     ("TRANSFORMERS_OFFLINE", "1"), ("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")):
            os.environ[k] = v
        os.environ["HF_DATASETS_CACHE"] = os.path.join(self.tmp, "hf-cache")

    def run(self, fn, *args):
        name = fn.__name__
        try:
            fn(*args)
        except Skip as s:
            self.skipped += 1
            print("skip %s: %s" % (name, s), flush=True)
            return
        except Exception:
            self.failed += 1
            print("FAIL %s" % name, flush=True)
            for line in traceback.format_exc().rstrip().splitlines()[-12:]:
                print("    " + line, flush=True)
            return
        self.passed += 1
        print("ok   %s" % name, flush=True)

    def skip_all(self, names, why):
        for n in names:
            self.skipped += 1
            print("skip %s: %s" % (n, why), flush=True)
        return self.end()

    def end(self):
        print("%d passed, %d failed, %d skipped" % (self.passed, self.failed, self.skipped),
              flush=True)
        subprocess.run(["rm", "-rf", self.tmp])
        if self.failed:
            return 1
        return 77 if self.passed == 0 and self.skipped else 0


class Skip(Exception):
    pass


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def tool(name):
    """The path of a built program given by env var name; Skip when it is missing."""
    p = os.environ.get(name)
    if not p or not os.access(p, os.X_OK):
        raise Skip("%s is not set or not built" % name)
    return p


def envforge(*args, check_rc=True, env=None):
    r = subprocess.run([tool("EF_BIN")] + [str(a) for a in args], capture_output=True,
                       env=env, timeout=600)
    if check_rc and r.returncode != 0:
        raise AssertionError("envforge %s -> %d: %s" % (" ".join(map(str, args)), r.returncode,
                                                          r.stderr.decode(errors="replace")))
    return r


def small_store(tmp):
    path = os.path.join(tmp, "fixture.db")
    if not os.path.exists(path):
        subprocess.run([tool("EF_MAKE_STORE"), "small", path], check=True)
    return path


def read_jsonl(path):
    import json
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def have(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def source_dir():
    return os.environ.get("EF_SOURCE_DIR",
                          os.path.dirname(os.path.dirname(os.path.dirname(
                              os.path.abspath(__file__)))))


sys.dont_write_bytecode = True
