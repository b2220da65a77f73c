/*
 * tools/python.c — the `python` tool: one persistent interpreter per episode, like a
 * Jupyter kernel, in a sandbox session. A small driver (below, run with python3 -I -c)
 * reads length-prefixed JSON requests on its stdin, runs each cell in one namespace that
 * lives across calls, and answers with the cell's stdout and stderr (capped), the value
 * of a last expression, and any exception with a traceback of the cell's own frames.
 * Output written at the file-descriptor level (os.write, subprocesses) is captured into a
 * temporary file and returned after the Python-level output.
 *
 * Time: the driver interrupts a cell with a TimeoutError when the per-call limit passes
 * (state is kept); if the cell cannot be interrupted (stuck in C code), the session's own
 * deadline a little later kills the interpreter. Memory: an address-space cap per process
 * (MemoryError inside Python). A dead interpreter (crash, os._exit, a kill, a limit) is
 * restarted and the loss of its state is said in the result.
 */
#include <stdio.h>
#include <string.h>
#include "common/utf8.h"
#include "tools/tools_int.h"

#define GRACE_MS 3000       /* past the driver's own timeout before the session is killed */
#define START_TIMEOUT_MS 20000

struct ef_tools__python {
    ef_sandbox_session *s;
    char *version;
    int n_restarts;
    int64_t seq; /* the id of the last request: its reply must carry it */
};

static const char driver[] =
    "import ast, io, json, linecache, os, signal, struct, sys, tempfile, traceback, types\n"
    "\n"
    "class _Cap(io.TextIOBase):\n"
    "    encoding = 'utf-8'\n"
    "    errors = 'replace'\n"
    "\n"
    "    def __init__(self, limit):\n"
    "        self.parts, self.n, self.total, self.limit = [], 0, 0, limit\n"
    "\n"
    "    def writable(self):\n"
    "        return True\n"
    "\n"
    "    def isatty(self):\n"
    "        return False\n"
    "\n"
    "    def write(self, s):\n"
    "        if not isinstance(s, str):\n"
    "            raise TypeError('write() argument must be str, not %s' % type(s).__name__)\n"
    "        self.total += len(s)\n"
    "        room = self.limit - self.n\n"
    "        if room > 0:\n"
    "            self.parts.append(s[:room])\n"
    "            self.n += min(room, len(s))\n"
    "        return len(s)\n"
    "\n"
    "    def value(self):\n"
    "        return ''.join(self.parts)\n"
    "\n"
    "def _clean(s):\n"
    "    return s.encode('utf-8', 'replace').decode('utf-8', 'replace')\n"
    "\n"
    "def _error(e, limit):\n"
    "    tb = e.__traceback__\n"
    "    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith('<cell-'):\n"
    "        tb = tb.tb_next\n"
    "    try:\n"
    "        te = traceback.TracebackException(type(e), e, tb)\n"
    "        me = _error.__code__.co_filename\n"
    "        keep = [f for f in te.stack if f.filename != me]\n"
    "        te.stack = traceback.StackSummary.from_list(keep)\n"
    "        text = ''.join(te.format())\n"
    "    except BaseException:\n"
    "        text = '%s: (traceback unavailable)\\n' % type(e).__name__\n"
    "    if len(text) > limit:\n"
    "        text = '...\\n' + text[-limit:]\n"
    "    try:\n"
    "        msg = str(e)\n"
    "    except BaseException:\n"
    "        msg = ''\n"
    "    return {'type': type(e).__name__, 'message': _clean(msg[:2000]),\n"
    "            'traceback': _clean(text)}\n"
    "\n"
    "def _main():\n"
    "    rfd, wfd = os.dup(0), os.dup(1)\n"
    "    nul = os.open(os.devnull, os.O_RDONLY)\n"
    "    os.dup2(nul, 0)\n"
    "    os.close(nul)\n"
    "    cap = tempfile.TemporaryFile()\n"
    "    os.dup2(cap.fileno(), 1)\n"
    "    os.dup2(cap.fileno(), 2)\n"
    "    rin = os.fdopen(rfd, 'rb', buffering=0)\n"
    "    wout = os.fdopen(wfd, 'wb', buffering=0)\n"
    "\n"
    "    def read_exact(n):\n"
    "        buf = b''\n"
    "        while len(buf) < n:\n"
    "            chunk = rin.read(n - len(buf))\n"
    "            if not chunk:\n"
    "                return None\n"
    "            buf += chunk\n"
    "        return buf\n"
    "\n"
    "    def send(obj):\n"
    "        data = json.dumps(obj, ensure_ascii=False).encode('utf-8', 'replace')\n"
    "        wout.write(struct.pack('<I', len(data)) + data)\n"
    "\n"
    "    def on_alarm(signum, frame):\n"
    "        raise TimeoutError('the cell ran past its time limit and was interrupted')\n"
    "\n"
    "    main_mod = types.ModuleType('__main__')\n"
    "    sys.modules['__main__'] = main_mod\n"
    "    ns = main_mod.__dict__\n"
    "    signal.signal(signal.SIGALRM, on_alarm)\n"
    "    send({'ready': True, 'python': sys.version.split()[0]})\n"
    "    n = 0\n"
    "    while True:\n"
    "        hdr = read_exact(4)\n"
    "        if hdr is None:\n"
    "            return\n"
    "        body = read_exact(struct.unpack('<I', hdr)[0])\n"
    "        if body is None:\n"
    "            return\n"
    "        req = json.loads(body.decode('utf-8'))\n"
    "        n += 1\n"
    "        code = req.get('code', '')\n"
    "        limit = int(req.get('max_output', 65536))\n"
    "        timeout = float(req.get('timeout', 30))\n"
    "        fname = '<cell-%d>' % n\n"
    "        linecache.cache[fname] = (len(code), None, code.splitlines(True), fname)\n"
    "        out, err = _Cap(limit), _Cap(limit)\n"
    "        cap.seek(0)\n"
    "        cap.truncate()\n"
    "        saved = sys.stdout, sys.stderr\n"
    "        sys.stdout, sys.stderr = out, err\n"
    "        value, error = None, None\n"
    "        try:\n"
    "            tree = ast.parse(code, fname, 'exec')\n"
    "            last = None\n"
    "            if tree.body and isinstance(tree.body[-1], ast.Expr):\n"
    "                last = ast.Expression(tree.body.pop().value)\n"
    "            signal.setitimer(signal.ITIMER_REAL, timeout)\n"
    "            try:\n"
    "                exec(compile(tree, fname, 'exec'), ns)\n"
    "                if last is not None:\n"
    "                    v = eval(compile(last, fname, 'eval'), ns)\n"
    "                    if v is not None:\n"
    "                        ns['_'] = v\n"
    "                        value = repr(v)\n"
    "            finally:\n"
    "                signal.setitimer(signal.ITIMER_REAL, 0)\n"
    "        except BaseException as e:\n"
    "            error = _error(e, limit)\n"
    "        finally:\n"
    "            sys.stdout, sys.stderr = saved\n"
    "        try:\n"
    "            sys.__stdout__.flush()\n"
    "            sys.__stderr__.flush()\n"
    "        except BaseException:\n"
    "            pass\n"
    "        cap.seek(0)\n"
    "        raw = cap.read(limit + 1)\n"
    "        cap_total = cap.seek(0, 2)\n"
    "        resp = {'stdout': _clean(out.value()), 'stderr': _clean(err.value()),\n"
    "                'stdout_total': out.total, 'stderr_total': err.total,\n"
    "                'fd_output': _clean(raw[:limit].decode('utf-8', 'replace')),\n"
    "                'fd_output_total': cap_total}\n"
    "        if value is not None:\n"
    "            if len(value) > limit:\n"
    "                resp['value_total'] = len(value)\n"
    "                value = value[:limit]\n"
    "            resp['value'] = _clean(value)\n"
    "        if error is not None:\n"
    "            resp['error'] = error\n"
    "        resp['id'] = req.get('id')\n"
    "        send(resp)\n"
    "\n"
    "_main()\n";

static const char schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"code\":{\"type\":\"string\",\"description\":\"Python code to run in the persistent "
    "interpreter; variables, functions and imports stay for later calls; the value of a "
    "last expression is shown\"},"
    "\"timeout_s\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":600,\"description\":"
    "\"time limit for this call in seconds (default and upper bound: the episode's)\"}},"
    "\"required\":[\"code\"],\"additionalProperties\":false}";

static void python_free(ef_tools__python *py)
{
    if (!py)
        return;
    ef_sandbox_session_free(py->s);
    ef_free(py->version);
    ef_free(py);
}

/* Waits for the driver's {"ready":true} frame after a (re)start. */
static int await_ready(ef_ctx *ctx, ef_tools__python *py)
{
    char *reply = NULL;
    size_t len = 0;
    int rc = ef_sandbox_session_recv_frame(ctx, py->s, START_TIMEOUT_MS, &reply, &len);
    if (rc < 0) {
        size_t n = 0;
        const char *err = ef_sandbox_session_stderr(py->s, &n);
        return ef_errorf(ctx, rc == EF_ENOMEM ? rc : EF_ESANDBOX,
                         "the python interpreter did not start: %s%s%.*s", ef_errmsg(ctx),
                         n ? "; stderr: " : "", (int)(n < 500 ? n : 500), err);
    }
    cJSON *doc = NULL;
    rc = ef_json_parse(ctx, reply, len, "python driver", &doc);
    ef_free(reply);
    if (rc < 0)
        return rc;
    const char *v = NULL;
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "ready")) ||
        ef_json_get_str(ctx, doc, "python", &v) < 0) {
        cJSON_Delete(doc);
        return ef_errorf(ctx, EF_ESANDBOX, "the python driver sent no ready message");
    }
    ef_free(py->version);
    py->version = ef_strdup(v);
    cJSON_Delete(doc);
    return py->version ? 0 : ef_errorf(ctx, EF_ENOMEM, "python: out of memory");
}

static int python_start(ef_tool_ctx *tc)
{
    ef_ctx *ctx = tc->ctx;
    ef_sandbox_worker *w;
    int rc = ef_tools__sandbox_prepare(tc, &w);
    if (rc < 0)
        return rc;
    ef_tools__python *py = ef_calloc(1, sizeof *py);
    if (!py)
        return ef_errorf(ctx, EF_ENOMEM, "python: out of memory");
    ef_sandbox_options o;
    ef_tools__sandbox_options(tc, 0, tc->cfg.python_mem_mb, &o);
    o.cpu_ms = 0; /* RLIMIT_CPU would add up over the session; each call has a deadline */
    o.out_bytes = (int64_t)(tc->cfg.max_output_bytes ? tc->cfg.max_output_bytes : 65536) * 8 +
                  (1 << 16);
    const char *argv[] = {tc->cfg.python_path ? tc->cfg.python_path : "python3", "-I", "-u",
                          "-c", driver, NULL};
    if ((rc = ef_sandbox_session_start(ctx, w, &o, argv, &py->s)) < 0 ||
        (rc = await_ready(ctx, py)) < 0) {
        python_free(py);
        return rc;
    }
    tc->python = py;
    tc->python_free = python_free;
    return 0;
}

/* Why the session ended, for the model. */
static void describe_death(ef_sandbox_session *s, char *buf, size_t cap)
{
    const ef_sandbox_result *r = ef_sandbox_session_result(s);
    switch (r->status) {
    case EF_SANDBOX_NONZERO_EXIT:
    case EF_SANDBOX_OK:
        snprintf(buf, cap, "the interpreter exited with status %d", r->exit_code);
        break;
    case EF_SANDBOX_SIGNALED:
        snprintf(buf, cap, "the interpreter was killed by signal %d", r->signal);
        break;
    case EF_SANDBOX_MEMORY_LIMIT:
        snprintf(buf, cap, "the interpreter ran out of memory");
        break;
    case EF_SANDBOX_TIMEOUT:
        snprintf(buf, cap, "the cell could not be interrupted at its time limit, so the "
                           "interpreter was stopped");
        break;
    case EF_SANDBOX_SECCOMP:
        snprintf(buf, cap, "the interpreter was stopped for a forbidden system call (%s)",
                 r->detail);
        break;
    default:
        snprintf(buf, cap, "the interpreter stopped (%s%s%s)", ef_sandbox_status_name(r->status),
                 r->detail[0] ? ": " : "", r->detail);
    }
}

/* Restarts a dead session; on failure drops it so that the next call starts afresh. */
static int python_restart(ef_tool_ctx *tc)
{
    ef_tools__python *py = tc->python;
    py->n_restarts++;
    int rc = ef_sandbox_session_restart(tc->ctx, py->s);
    if (rc == 0)
        rc = await_ready(tc->ctx, py);
    if (rc < 0) {
        python_free(py);
        tc->python = NULL;
    }
    return rc;
}

static int append_str(ef_buf *b, const cJSON *doc, const char *key, const char *total_key,
                      const char *label)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, total_key);
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return 0;
    int rc = label ? ef_buf_appendf(b, "[%s]\n", label) : 0;
    size_t n = strlen(v->valuestring);
    if (rc == 0)
        rc = ef_buf_append(b, v->valuestring, n);
    if (rc == 0 && v->valuestring[n - 1] != '\n')
        rc = ef_buf_putc(b, '\n');
    if (rc == 0 && cJSON_IsNumber(t) && t->valuedouble > (double)ef_utf8_count(v->valuestring, n))
        rc = ef_buf_appendf(b, "[%s truncated: %.0f characters in all]\n",
                            label ? label : strcmp(key, "stdout") == 0 ? "stdout" : "output",
                            t->valuedouble);
    return rc;
}

/* The model's text for one reply: output, errors, the last value. */
static int format_reply(const cJSON *doc, const char *note, ef_buf *b, int *is_error, int *cut)
{
    int rc = note ? ef_buf_appendf(b, "%s\n", note) : 0;
    if (rc == 0)
        rc = append_str(b, doc, "stdout", "stdout_total", NULL);
    if (rc == 0)
        rc = append_str(b, doc, "fd_output", "fd_output_total", NULL);
    if (rc == 0)
        rc = append_str(b, doc, "stderr", "stderr_total", "stderr");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(doc, "error");
    const cJSON *tb = cJSON_GetObjectItemCaseSensitive(err, "traceback");
    *is_error = err != NULL;
    if (rc == 0 && cJSON_IsString(tb))
        rc = ef_buf_appends(b, tb->valuestring);
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(doc, "value");
    if (rc == 0 && cJSON_IsString(value))
        rc = ef_buf_appendf(b, "%s\n", value->valuestring);
    if (rc == 0 && cJSON_GetObjectItemCaseSensitive(doc, "value_total"))
        rc = ef_buf_appends(b, "[value truncated]\n");
    if (rc == 0 && b->len == 0)
        rc = ef_buf_appends(b, "(no output)\n");
    *cut = rc == EF_ELIMIT;
    return rc == EF_ELIMIT ? 0 : rc;
}

static int run_python(ef_tool_ctx *tc, void *ud, const cJSON *args, ef_tool_result *out)
{
    (void)ud;
    ef_ctx *ctx = tc->ctx;
    const char *code = cJSON_GetObjectItemCaseSensitive(args, "code")->valuestring;
    int64_t timeout_s = 0, wall_ms = tc->cfg.python_timeout_ms > 0 ? tc->cfg.python_timeout_ms : 30000;
    ef_json_opt_int(ctx, args, "timeout_s", 0, &timeout_s);
    if (timeout_s > 0 && timeout_s * 1000 < wall_ms)
        wall_ms = timeout_s * 1000;
    size_t max_output = tc->cfg.max_output_bytes ? tc->cfg.max_output_bytes : 65536;
    char note[512] = "";
    int rc;
    if (!tc->python && (rc = python_start(tc)) < 0)
        return rc;
    cJSON *req = cJSON_CreateObject();
    char *req_text = NULL;
    /* the driver's cap per stream leaves room for the notes under the overall cap */
    double limit = (double)(max_output > 1024 ? max_output * 3 / 4 : 256);
    int64_t id = ++tc->python->seq;
    if (!req || !cJSON_AddStringToObject(req, "code", code) ||
        !cJSON_AddNumberToObject(req, "id", (double)id) ||
        !cJSON_AddNumberToObject(req, "timeout", (double)wall_ms / 1000.0) ||
        !cJSON_AddNumberToObject(req, "max_output", limit) ||
        !(req_text = ef_json_print(req))) {
        cJSON_Delete(req);
        return ef_errorf(ctx, EF_ENOMEM, "python: out of memory");
    }
    cJSON_Delete(req);
    /* A request the interpreter cannot take means it died after the last call: restart
     * it, say the state is gone, and run the cell on the fresh one. */
    rc = ef_sandbox_session_send_frame(ctx, tc->python->s, req_text, strlen(req_text), 10000);
    if (rc < 0 && rc != EF_ENOMEM && !ef_sandbox_session_alive(tc->python->s)) {
        char why[256];
        describe_death(tc->python->s, why, sizeof why);
        ef_error_clear(ctx);
        if ((rc = python_restart(tc)) < 0) {
            ef_free(req_text);
            return ef_error_wrap(ctx, rc, "%s after the last call and could not be restarted",
                                 why);
        }
        snprintf(note, sizeof note, "[note: %s after the last call; it was restarted and its "
                 "state (variables, imports, functions) was lost]", why);
        rc = ef_sandbox_session_send_frame(ctx, tc->python->s, req_text, strlen(req_text), 10000);
    }
    ef_free(req_text);
    ef_tools__python *py = tc->python;
    char *reply = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = ef_sandbox_session_recv_frame(ctx, py->s, wall_ms + GRACE_MS, &reply, &len);
    if (rc == EF_ENOMEM)
        return rc;
    if (rc < 0) {
        /* the session is over: say why, restart it, report the lost state */
        char why[256];
        if (ef_sandbox_session_alive(py->s))
            snprintf(why, sizeof why, "the interpreter stopped answering (%s)", ef_errmsg(ctx));
        else
            describe_death(py->s, why, sizeof why);
        ef_error_clear(ctx);
        int rrc = python_restart(tc);
        cJSON *data = cJSON_CreateObject();
        if (data) {
            cJSON_AddBoolToObject(data, "crashed", 1);
            cJSON_AddBoolToObject(data, "restarted", rrc == 0);
            cJSON_AddBoolToObject(data, "state_lost", 1);
            out->data = data;
        }
        if (rrc < 0)
            return ef_tools_result_setf(out, 1, "%s while running this cell; restarting it "
                                        "failed (%s); the next call will try again",
                                        why, ef_errmsg(ctx));
        return ef_tools_result_setf(out, 1, "%s while running this cell. The interpreter was "
                                    "restarted: all state (variables, imports, functions) was "
                                    "lost; run the needed code again.", why);
    }
    cJSON *doc = NULL;
    rc = ef_json_parse(ctx, reply, len, "python reply", &doc);
    ef_free(reply);
    if (rc < 0)
        return rc;
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(doc, "id");
    if (!cJSON_IsNumber(rid) || rid->valuedouble != (double)id) {
        /* not this request's reply: the cell wrote to the driver's reply channel (its fd
         * is the process's own). Later replies could no longer be matched to their
         * calls: start afresh. */
        cJSON_Delete(doc);
        int rrc = python_restart(tc);
        cJSON *data = cJSON_CreateObject();
        if (data) {
            cJSON_AddBoolToObject(data, "restarted", rrc == 0);
            cJSON_AddBoolToObject(data, "state_lost", 1);
            out->data = data;
        }
        return ef_tools_result_setf(out, 1, "this cell wrote to the interpreter's reply "
                                    "channel, so its result cannot be trusted. The interpreter "
                                    "was restarted%s: all state (variables, imports, "
                                    "functions) was lost.",
                                    rrc == 0 ? "" : " (failed; the next call will try again)");
    }
    ef_buf b = EF_BUF_INIT(max_output * 4 + 4096);
    int is_error = 0, cut = 0;
    rc = format_reply(doc, note[0] ? note : NULL, &b, &is_error, &cut);
    if (rc < 0) {
        cJSON_Delete(doc);
        ef_buf_free(&b);
        return ef_errorf(ctx, rc, "python: out of memory");
    }
    if (note[0])
        cJSON_AddBoolToObject(doc, "state_lost", 1);
    out->data = doc;
    out->truncated = cut;
    return ef_tools__result_take(out, is_error, ef_buf_detach(&b));
}

int ef_tools__add_python(ef_tool_registry *reg)
{
    ef_tool_def d = EF_TOOL_DEF_INIT;
    d.name = "python";
    d.description = "Run Python code in a persistent, sandboxed interpreter (like a Jupyter "
                    "kernel): state is kept between calls; stdout, stderr, the value of the "
                    "last expression and exceptions with tracebacks come back. The working "
                    "directory (/work) holds the episode's files. No network.";
    d.parameters = schema;
    d.run = run_python;
    return ef_tools_registry_add(reg, &d);
}
