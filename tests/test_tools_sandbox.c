/*
 * tests/test_tools_sandbox.c — the python and bash tools in the real sandbox: a variable
 * kept across three calls, values, output, tracebacks, a cell interrupted at its time
 * limit with its state kept, one that cannot be interrupted, crashes (SIGKILL, os._exit)
 * survived with the loss of state reported, memory and output caps; bash in the sandbox
 * (inner uid, /work, no network), exit codes, timeouts, and files shared with the editor.
 * Cases skip when this machine cannot fully isolate code (no user namespaces).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "common/json.h"
#include "sandbox/sandbox.h"
#include "tests/testlib.h"
#include "tests/tools_testlib.h"
#include "tools/tools.h"

static int isolation_ok(void)
{
    ef_ctx *ctx = ef_ctx_new();
    ef_sandbox_worker *w = NULL;
    int ok = ef_sandbox_worker_new(ctx, NULL, &w) == 0 && ef_sandbox_worker_full(w, NULL);
    ef_sandbox_worker_free(w);
    ef_ctx_free(ctx);
    return ok;
}

/* A listener on the host's 127.0.0.1: code in the sandbox (its own, empty network
 * namespace) must not reach it. Returns the fd; *port gets the port. */
static int host_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 8) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* 1 when something connected to the listener. */
static int host_listener_reached(int fd)
{
    int c = accept(fd, NULL, NULL);
    if (c >= 0)
        close(c);
    return c >= 0;
}

static void fx_open(fixture *f, const char *tag, size_t max_output, int timeout_ms, int mem_mb)
{
    ef_tools_config cfg = EF_TOOLS_CONFIG_INIT;
    cfg.max_output_bytes = max_output;
    cfg.python_timeout_ms = timeout_ms;
    cfg.bash_timeout_ms = timeout_ms;
    cfg.python_mem_mb = mem_mb;
    fx_open_cfg(f, tag, &cfg);
}

static char last[1 << 17];

/* Runs a tool; returns is_error, leaves the text in `last`. */
static int run(fixture *f, const char *tool, const char *args)
{
    ef_tool_result r = EF_TOOL_RESULT_INIT;
    int rc = ef_tools_registry_call(f->reg, f->tc, tool, args, &r);
    if (rc != 0) {
        snprintf(last, sizeof last, "(call failed: %s)", ef_strerror(rc));
        return -1;
    }
    snprintf(last, sizeof last, "%s", r.text);
    int is_error = r.is_error;
    ef_tools_result_free(&r);
    return is_error;
}

static int py(fixture *f, const char *code)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "code", code);
    char *args = cJSON_PrintUnformatted(a);
    int rc = run(f, "python", args);
    cJSON_free(args);
    cJSON_Delete(a);
    return rc;
}

static int sh(fixture *f, const char *command)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "command", command);
    char *args = cJSON_PrintUnformatted(a);
    int rc = run(f, "bash", args);
    cJSON_free(args);
    cJSON_Delete(a);
    return rc;
}

#define EXPECT(call, want_error, needle)                                                       \
    do {                                                                                       \
        int e_ = (call);                                                                       \
        EF_CHECK_MSG(e_ == (want_error), "%s -> is_error %d: %s", #call, e_, last);            \
        EF_CHECK_CONTAINS(last, needle);                                                       \
    } while (0)

static void test_python_state(void)
{
    fixture f;
    fx_open(&f, "py", 65536, 10000, 1024);
    EXPECT(py(&f, "x = 41"), 0, "(no output)");
    EXPECT(py(&f, "x += 1\nprint('x is', x)"), 0, "x is 42\n");
    EXPECT(py(&f, "x"), 0, "42");
    EF_CHECK_EQ_STR(last, "42\n");
    EXPECT(py(&f, "def sq(n):\n    return n * n\nimport math\nsq(x) + math.floor(0.5)"), 0, "1764");
    EXPECT(py(&f, "sq(3)"), 0, "9");
    EXPECT(py(&f, "import sys\nprint('to err', file=sys.stderr)\nNone"), 0, "[stderr]\nto err\n");
    EXPECT(py(&f, "import os\nos.write(1, b'raw fd\\n')\nimport subprocess\n"
                  "subprocess.run(['echo', 'child'])\n'done'"),
           0, "raw fd\nchild\n'done'\n");
    EXPECT(py(&f, "def f():\n    return 1 / 0\nf()"), 1, "ZeroDivisionError: division by zero");
    EF_CHECK_CONTAINS(last, "File \"<cell-");
    EF_CHECK_CONTAINS(last, "line 2, in f");
    EF_CHECK(!strstr(last, "on_alarm") && !strstr(last, "_main"));
    EXPECT(py(&f, "if x ="), 1, "SyntaxError");
    EXPECT(py(&f, "input()"), 1, "EOFError");
    EXPECT(py(&f, "import sys; sys.exit(2)"), 1, "SystemExit: 2");
    EXPECT(py(&f, "open('made_by_python.txt', 'w').write('hi from python')\nimport os\nos.getcwd()"),
           0, "'/work'");
    char path[700];
    snprintf(path, sizeof path, "%s/made_by_python.txt", f.dir);
    char *data = NULL;
    size_t len = 0;
    EF_CHECK_OK(f.ctx, ef_file_read(f.ctx, path, 1024, &data, &len));
    EF_CHECK_EQ_STR(data, "hi from python");
    ef_free(data);
    EXPECT(py(&f, "x"), 0, "42"); /* still there after all that */
    fx_close(&f);
}

static void test_python_crash(void)
{
    fixture f;
    fx_open(&f, "pycrash", 65536, 10000, 1024);
    EXPECT(py(&f, "x = 41"), 0, "");
    EXPECT(py(&f, "x += 1"), 0, "");
    EXPECT(py(&f, "x"), 0, "42");
    EXPECT(py(&f, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"), 1,
           "killed by signal 9 while running this cell. The interpreter was restarted: all "
           "state (variables, imports, functions) was lost");
    EXPECT(py(&f, "x"), 1, "NameError: name 'x' is not defined");
    EXPECT(py(&f, "x = 7\nx * 6"), 0, "42");
    EXPECT(py(&f, "import os\nos._exit(3)"), 1, "exited with status 3");
    EXPECT(py(&f, "'alive again'"), 0, "'alive again'");
    /* a crash between calls (a thread that kills the process later) is noticed */
    EXPECT(py(&f, "import threading, os, time\n"
                  "threading.Thread(target=lambda: (time.sleep(0.2), os._exit(5))).start()"),
           0, "");
    usleep(600 * 1000);
    EXPECT(py(&f, "1 + 1"), 0, "[note: the interpreter exited with status 5 after the last call");
    EF_CHECK_CONTAINS(last, "state (variables, imports, functions) was lost]\n2\n");
    /* a cell that forges reply frames on the driver's descriptors: caught, restarted, and
     * the calls after it get their own results (they used to get the previous call's) */
    EXPECT(py(&f, "y = 5"), 0, "");
    EXPECT(py(&f, "import json, os, struct\n"
                  "d = json.dumps({'stdout': 'FORGED'}).encode()\n"
                  "for fd in range(3, 10):\n"
                  "    try:\n"
                  "        os.write(fd, struct.pack('<I', len(d)) + d)\n"
                  "    except OSError:\n"
                  "        pass\n"
                  "'wrote'"),
           1, "wrote to the interpreter's reply channel");
    EF_CHECK(strstr(last, "FORGED") == NULL);
    EXPECT(py(&f, "print('first')"), 0, "first");
    EXPECT(py(&f, "print('second')"), 0, "second");
    EXPECT(py(&f, "y"), 1, "NameError"); /* the state went with the restart */
    fx_close(&f);
}

static void test_python_limits(void)
{
    fixture f;
    fx_open(&f, "pylim", 2000, 1000, 512);
    EXPECT(py(&f, "keep = 'kept'"), 0, "");
    /* interrupted at the time limit inside Python: the state stays */
    EXPECT(py(&f, "while True:\n    pass"), 1, "TimeoutError: the cell ran past its time limit");
    EXPECT(py(&f, "keep"), 0, "'kept'");
    /* an address-space cap: MemoryError, the state stays */
    EXPECT(py(&f, "big = bytearray(2 * 1024 ** 3)"), 1, "MemoryError");
    EXPECT(py(&f, "keep"), 0, "'kept'");
    /* output caps */
    EXPECT(py(&f, "print('a' * 100000)"), 0, "[stdout truncated: 100001 characters in all]");
    EF_CHECK(strlen(last) < 4000);
    EXPECT(py(&f, "'b' * 100000"), 0, "[value truncated]");
    /* a cell that blocks the interrupt cannot be stopped from inside: the session is
     * killed at the deadline and restarted */
    EXPECT(py(&f, "import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])\n"
                  "while True:\n    pass"),
           1, "could not be interrupted");
    EF_CHECK_CONTAINS(last, "was lost");
    EXPECT(py(&f, "keep"), 1, "NameError");
    /* no network inside: the host's loopback listener stays untouched */
    int port = 0, lfd = host_listener(&port);
    EF_CHECK(lfd >= 0);
    char code[256];
    snprintf(code, sizeof code,
             "import socket\ns = socket.socket()\ns.settimeout(1)\ns.connect(('127.0.0.1', %d))",
             port);
    EXPECT(py(&f, code), 1, "Error");
    EF_CHECK(!host_listener_reached(lfd));
    close(lfd);
    fx_close(&f);
}

static void test_bash(void)
{
    fixture f;
    fx_open(&f, "bash", 65536, 5000, 512);
    EXPECT(sh(&f, "echo out; echo err >&2; exit 3"), 0, "[stdout]\nout\n[stderr]\nerr\n[exit code 3]");
    EXPECT(sh(&f, "pwd; id -u"), 0, "/work\n1000\n");
    EXPECT(sh(&f, "echo $$; cat /proc/1/status | head -1"), 0, "[exit code 0]");
    EXPECT(sh(&f, "ls /root 2>&1; cat /etc/shadow 2>&1 | head -1"), 0, "");
    EF_CHECK(!strstr(last, "root:"));
    /* files: bash sees the editor's files and the editor sees bash's */
    EXPECT(run(&f, "editor", "{\"command\":\"create\",\"path\":\"notes.txt\",\"file_text\":\"from "
                             "the editor\\n\"}"),
           0, "Created");
    EXPECT(sh(&f, "cat notes.txt && echo 'from bash' >> notes.txt && mkdir -p d && echo x > d/y"),
           0, "from the editor");
    EXPECT(run(&f, "editor", "{\"command\":\"view\",\"path\":\"notes.txt\"}"), 0,
           "     2\tfrom bash\n");
    EXPECT(run(&f, "editor", "{\"command\":\"str_replace\",\"path\":\"d/y\",\"old_str\":\"x\","
                             "\"new_str\":\"z\"}"),
           0, "Edited");
    EXPECT(sh(&f, "cat d/y; rm -r d; ls"), 0, "z\nnotes.txt\n");
    /* no network: the host's loopback listener stays untouched */
    int port = 0, lfd = host_listener(&port);
    EF_CHECK(lfd >= 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "(echo > /dev/tcp/127.0.0.1/%d) 2>&1; echo status=$?", port);
    EXPECT(sh(&f, cmd), 0, "status=1");
    EF_CHECK(!host_listener_reached(lfd));
    close(lfd);
    /* time limit */
    EXPECT(run(&f, "bash", "{\"command\":\"echo started; sleep 30\",\"timeout_s\":1}"), 1,
           "[timed out after 1.0 s; the command was killed]");
    EF_CHECK_CONTAINS(last, "started");
    /* output cap: the command finishes, the text is cut */
    EXPECT(sh(&f, "head -c 300000 /dev/zero | tr '\\0' a; echo; echo tail"), 0, "truncated");
    EF_CHECK(strlen(last) < 140000);
    EXPECT(run(&f, "bash", "{}"), 1, "arguments.command: required field is missing");
    fx_close(&f);
}

int main(int argc, char **argv)
{
    ef_sandbox_rootless_enter(); /* as a non-root user (tests/run_unprivileged.sh) */
    EF_TEST_BEGIN(argc, argv);
    ef_json_init();
    if (!ef_sandbox_available() || !isolation_ok()) {
        EF_SKIP(test_python_state, "no full sandbox isolation on this machine");
        EF_SKIP(test_python_crash, "no full sandbox isolation on this machine");
        EF_SKIP(test_python_limits, "no full sandbox isolation on this machine");
        EF_SKIP(test_bash, "no full sandbox isolation on this machine");
        return EF_TEST_END();
    }
    EF_RUN(test_python_state);
    EF_RUN(test_python_crash);
    EF_RUN(test_python_limits);
    EF_RUN(test_bash);
    return EF_TEST_END();
}
