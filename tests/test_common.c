/*
 * tests/test_common.c — the common library: error codes and messages, capped buffers,
 * JSON paths, canonical text and equality, the JSON Schema dialects, the RNG's pinned
 * streams, SHA-256 vectors, the thread pool, the progress line, and allocation-failure
 * injection.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tests/testlib.h"
#include "common/fts.h"
#include "common/hash.h"
#include "common/jschema.h"
#include "common/json.h"
#include "common/pool.h"
#include "common/progress.h"
#include "common/rng.h"

static void test_strerror(void)
{
    EF_CHECK_CONTAINS(ef_strerror(EF_ENOMEM), "EF_ENOMEM");
    EF_CHECK_CONTAINS(ef_strerror(EF_EVERIFY), "EF_EVERIFY");
    EF_CHECK_CONTAINS(ef_strerror(-999), "unknown");
    EF_CHECK_CONTAINS(ef_strerror(5), "unknown");
    for (int c = 0; c > EF_ERROR_MIN_; c--)
        EF_CHECK(strncmp(ef_strerror(c), "EF_", 3) == 0);
}

static void test_ctx_errors(void)
{
    ef_ctx *ctx = ef_ctx_new();
    EF_CHECK(ctx != NULL);
    EF_CHECK_EQ_STR(ef_errmsg(ctx), "");
    int rc = ef_errorf(ctx, EF_EINVAL, "%s:%d: field '%s' must be a string", "a.lua", 7, "name");
    EF_CHECK_EQ_INT(rc, EF_EINVAL);
    EF_CHECK_EQ_INT(ef_errcode(ctx), EF_EINVAL);
    EF_CHECK_EQ_STR(ef_errmsg(ctx), "a.lua:7: field 'name' must be a string");
    ef_error_wrap(ctx, EF_EINVAL, "loading env %s", "travel");
    EF_CHECK_EQ_STR(ef_errmsg(ctx), "loading env travel: a.lua:7: field 'name' must be a string");
    ef_error_clear(ctx);
    EF_CHECK_EQ_INT(ef_errcode(ctx), 0);
    EF_CHECK_EQ_INT(ef_errorf(NULL, EF_EIO, "dropped"), EF_EIO);
    ef_ctx_free(ctx);
}

typedef struct {
    int n;
    char last[256];
} log_sink;

static void sink_fn(void *ud, ef_log_level level, const char *func, int line, const char *msg)
{
    log_sink *s = ud;
    (void)level;
    s->n++;
    snprintf(s->last, sizeof s->last, "%s:%d:%s", func, line > 0 ? 1 : 0, msg);
}

static void test_logging(void)
{
    ef_ctx *ctx = ef_ctx_new();
    log_sink s = {0, ""};
    ef_ctx_set_log(ctx, EF_LOG_INFO, sink_fn, &s);
    EF_LOG_D(ctx, "hidden %d", 1);
    EF_LOG_I(ctx, "shown %d", 2);
    EF_LOG_E(ctx, "error %s", "x");
    EF_CHECK_EQ_INT(s.n, 2);
    EF_CHECK_EQ_STR(s.last, "test_logging:1:error x");
    ef_ctx_free(ctx);
}

static void test_buf_cap(void)
{
    ef_buf b = EF_BUF_INIT(10);
    EF_CHECK_EQ_INT(ef_buf_appends(&b, "hello"), 0);
    EF_CHECK_EQ_INT(ef_buf_appendf(&b, "%d", 1234), 0);
    EF_CHECK_EQ_STR(b.data, "hello1234");
    EF_CHECK_EQ_INT(ef_buf_appends(&b, "xy"), EF_ELIMIT); /* 11 > 10: nothing appended */
    EF_CHECK_EQ_STR(b.data, "hello1234");
    EF_CHECK_EQ_INT(ef_buf_append_capped(&b, "xyz", 3), EF_ELIMIT); /* one byte fits */
    EF_CHECK_EQ_STR(b.data, "hello1234x");
    EF_CHECK_EQ_INT(b.len, 10);
    ef_buf_reset(&b);
    EF_CHECK_EQ_INT(b.len, 0);
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ef_buf b2 = EF_BUF_INIT(1 << 20);
    EF_CHECK_EQ_INT(ef_buf_appendf(&b2, "<%s>", big), 0);
    EF_CHECK_EQ_INT(b2.len, 601);
    char *d = ef_buf_detach(&b2);
    EF_CHECK(d && d[0] == '<' && d[600] == '>');
    ef_free(d);
    ef_buf_free(&b);
    ef_buf_free(&b2);
}

static void test_json_paths(void)
{
    ef_ctx *ctx = ef_ctx_new();
    const char *text = "{\"env\":{\"name\":\"travel\",\"n\":3,\"x\":1.5,\"ok\":true},"
                       "\"msgs\":[{\"role\":\"user\"},{\"role\":\"assistant\"}]}";
    cJSON *doc = NULL;
    EF_CHECK_OK(ctx, ef_json_parse(ctx, text, strlen(text), "t.json", &doc));
    const char *s = NULL;
    int64_t n = 0;
    double x = 0;
    int ok = 0;
    EF_CHECK_OK(ctx, ef_json_get_str(ctx, doc, "env.name", &s));
    EF_CHECK_EQ_STR(s, "travel");
    EF_CHECK_OK(ctx, ef_json_get_int(ctx, doc, "env.n", &n));
    EF_CHECK_EQ_INT(n, 3);
    EF_CHECK_OK(ctx, ef_json_get_num(ctx, doc, "env.x", &x));
    EF_CHECK_NEAR(x, 1.5, 0);
    EF_CHECK_OK(ctx, ef_json_get_bool(ctx, doc, "env.ok", &ok));
    EF_CHECK_EQ_INT(ok, 1);
    EF_CHECK_OK(ctx, ef_json_get_str(ctx, doc, "msgs[1].role", &s));
    EF_CHECK_EQ_STR(s, "assistant");
    EF_CHECK_EQ_INT(ef_json_get_int(ctx, doc, "env.x", &n), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "env.x");
    EF_CHECK_EQ_INT(ef_json_get_str(ctx, doc, "env.n", &s), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "'env.n': expected string, got number");
    EF_CHECK_EQ_INT(ef_json_get_str(ctx, doc, "msgs[5].role", &s), EF_ENOTFOUND);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "msgs[5]");
    EF_CHECK_EQ_INT(ef_json_get_str(ctx, doc, "env.missing", &s), EF_ENOTFOUND);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "env.missing");
    EF_CHECK_OK(ctx, ef_json_opt_int(ctx, doc, "env.missing", 7, &n));
    EF_CHECK_EQ_INT(n, 7);
    EF_CHECK_EQ_INT(ef_json_opt_int(ctx, doc, "env.name", 7, &n), EF_EINVAL);
    cJSON_Delete(doc);

    const char *bad = "{\n  \"a\": 1,\n  \"b\": [1, 2,, 3]\n}";
    EF_CHECK_EQ_INT(ef_json_parse(ctx, bad, strlen(bad), "bad.json", &doc), EF_EPARSE);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "bad.json:3:");
    EF_CHECK_EQ_INT(ef_json_parse(ctx, "{\"a\":", 5, "cut.json", &doc), EF_EPARSE);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "unexpected end");
    EF_CHECK_EQ_INT(ef_json_parse(ctx, "{} x", 4, "tail.json", &doc), EF_EPARSE);
    /* not NUL-terminated: the message quotes only bytes inside the input */
    char *cut = ef_malloc(9);
    memcpy(cut, "[1, 2, @x", 9);
    EF_CHECK_EQ_INT(ef_json_parse(ctx, cut, 9, "raw", &doc), EF_EPARSE);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "raw:1:");
    ef_free(cut);
    ef_ctx_free(ctx);
}

static void test_json_canonical(void)
{
    ef_ctx *ctx = ef_ctx_new();
    const char *a = "{\"b\":[1,2.5,\"x\\n\"],\"a\":{\"z\":null,\"y\":true},\"c\":1e21}";
    const char *b = "{ \"a\" : {\"y\":true, \"z\":null}, \"c\":1E21, \"b\":[1, 2.50, \"x\\n\"]}";
    cJSON *ja = NULL, *jb = NULL;
    EF_CHECK_OK(ctx, ef_json_parse(ctx, a, strlen(a), "a", &ja));
    EF_CHECK_OK(ctx, ef_json_parse(ctx, b, strlen(b), "b", &jb));
    char *ca = ef_json_canonical(ja), *cb = ef_json_canonical(jb);
    EF_CHECK_EQ_STR(ca, cb);
    EF_CHECK_EQ_STR(ca, "{\"a\":{\"y\":true,\"z\":null},\"b\":[1,2.5,\"x\\n\"],\"c\":1e+21}");
    ef_free(ca);
    ef_free(cb);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    ef_ctx_free(ctx);
}

static void test_json_equal(void)
{
    cJSON *a = cJSON_Parse("{\"x\":[1,{\"y\":true}],\"z\":\"s\"}");
    cJSON *b = cJSON_Parse("{\"z\":\"s\",\"x\":[1.0,{\"y\":true}]}");
    cJSON *sub = cJSON_Parse("{\"x\":[1,{}]}");
    EF_CHECK(ef_json_equal(a, b, 0) && ef_json_equal(b, a, 0));
    EF_CHECK(!ef_json_equal(a, sub, 0));
    EF_CHECK(ef_json_equal(a, sub, 1));  /* a holds every key of sub, at every level */
    EF_CHECK(!ef_json_equal(sub, a, 1)); /* but not the other way round */
    EF_CHECK(ef_json_equal(NULL, NULL, 0) && !ef_json_equal(a, NULL, 0));
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(sub);
}

/* One walk, two dialects: the tool subset refuses what the full dialect takes, and each
 * words its messages for its reader. */
static void test_jschema_dialects(void)
{
    ef_ctx *ctx = ef_ctx_new();
    ef_jschema_options tool = EF_JSCHEMA_OPTIONS_INIT, full = EF_JSCHEMA_OPTIONS_INIT;
    tool.dialect = EF_JSCHEMA_TOOL;
    tool.root = full.root = "arguments";
    cJSON *s = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"n\":{\"anyOf\":["
                           "{\"type\":\"integer\"},{\"type\":\"null\"}]}},"
                           "\"required\":[\"n\"]}");
    cJSON *ok = cJSON_Parse("{\"n\":null}"), *bad = cJSON_Parse("{\"n\":\"3\"}");
    cJSON *none = cJSON_Parse("{}");
    EF_CHECK_EQ_INT(ef_jschema_check(ctx, s, &tool), EF_EUNSUPPORTED);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "keyword \"anyOf\" is not supported");
    EF_CHECK_OK(ctx, ef_jschema_check(ctx, s, &full));
    EF_CHECK_OK(ctx, ef_jschema_validate(ctx, s, ok, &full));
    EF_CHECK_EQ_INT(ef_jschema_validate(ctx, s, bad, &full), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments.n: matches 0 of the anyOf alternatives");
    EF_CHECK_EQ_INT(ef_jschema_validate(ctx, s, none, &full), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments: missing required property 'n'");
    EF_CHECK_EQ_INT(ef_jschema_validate(ctx, s, none, &tool), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments.n: required field is missing");
    cJSON_Delete(s);
    cJSON_Delete(ok);
    cJSON_Delete(bad);
    cJSON_Delete(none);
    ef_ctx_free(ctx);
}

/* The escapes the canonical form (and the engine's Python-compatible dump) write. */
static void test_json_escape_byte(void)
{
    char u[8];
    EF_CHECK_EQ_STR(ef_json_escape_byte('"', u), "\\\"");
    EF_CHECK_EQ_STR(ef_json_escape_byte('\\', u), "\\\\");
    EF_CHECK_EQ_STR(ef_json_escape_byte('\n', u), "\\n");
    EF_CHECK_EQ_STR(ef_json_escape_byte('\b', u), "\\b");
    EF_CHECK_EQ_STR(ef_json_escape_byte('\f', u), "\\f");
    EF_CHECK_EQ_STR(ef_json_escape_byte(0x01, u), "\\u0001");
    EF_CHECK_EQ_STR(ef_json_escape_byte(0x1f, u), "\\u001f");
    EF_CHECK(ef_json_escape_byte(' ', u) == NULL);
    EF_CHECK(ef_json_escape_byte('/', u) == NULL);
    EF_CHECK(ef_json_escape_byte(0x7f, u) == NULL);
    EF_CHECK(ef_json_escape_byte(0xc3, u) == NULL);
    ef_ctx *ctx = ef_ctx_new();
    const char *in = "[\"q\\\"b\\\\\\u0001\\t\\u007f\\u00e9\"]";
    cJSON *j = NULL;
    EF_CHECK_OK(ctx, ef_json_parse(ctx, in, strlen(in), "in", &j));
    char *c = ef_json_canonical(j);
    EF_CHECK_EQ_STR(c, "[\"q\\\"b\\\\\\u0001\\t\x7f\xc3\xa9\"]");
    ef_free(c);
    cJSON_Delete(j);
    ef_ctx_free(ctx);
}

/* Pinned first outputs of xoshiro256** seeded through SplitMix64, computed by an
 * independent implementation of the published algorithms; the same on every machine. */
static void test_rng_pinned(void)
{
    static const struct {
        uint64_t seed, v[3];
    } pins[] = {
        {0, {0x99ec5f36cb75f2b4ull, 0xbf6e1f784956452aull, 0x1a5f849d4933e6e0ull}},
        {1, {0xb3f2af6d0fc710c5ull, 0x853b559647364ceaull, 0x92f89756082a4514ull}},
        {42, {0x15780b2e0c2ec716ull, 0x6104d9866d113a7eull, 0xae17533239e499a1ull}},
        {0xdeadbeef, {0xc5555444a74d7e83ull, 0x65c30d37b4b16e38ull, 0x54f773200a4efa23ull}},
    };
    for (size_t i = 0; i < EF_ARRAY_LEN(pins); i++) {
        ef_rng r;
        ef_rng_seed(&r, pins[i].seed);
        for (int k = 0; k < 3; k++) {
            uint64_t got = ef_rng_u64(&r);
            EF_CHECK_MSG(got == pins[i].v[k], "seed %llu value %d: %016llx",
                         (unsigned long long)pins[i].seed, k, (unsigned long long)got);
        }
    }
    EF_CHECK(ef_rng_derive(1, 2, 3) == 0xd0734750fde362b3ull);
    EF_CHECK(ef_rng_derive(1, 2, 3) != ef_rng_derive(1, 3, 2));
}

static void test_rng_ranges(void)
{
    ef_rng r;
    ef_rng_seed(&r, 7);
    int counts[6] = {0};
    for (int i = 0; i < 60000; i++) {
        int64_t v = ef_rng_range(&r, 1, 6);
        EF_CHECK(v >= 1 && v <= 6);
        if (v >= 1 && v <= 6)
            counts[v - 1]++;
    }
    for (int i = 0; i < 6; i++)
        EF_CHECK_MSG(counts[i] > 9000 && counts[i] < 11000, "face %d: %d", i + 1, counts[i]);
    double sum = 0;
    for (int i = 0; i < 10000; i++) {
        double u = ef_rng_double(&r);
        EF_CHECK(u >= 0 && u < 1);
        sum += u;
    }
    EF_CHECK_NEAR(sum / 10000, 0.5, 0.02);
    EF_CHECK_EQ_INT(ef_rng_range(&r, 5, 5), 5);
    EF_CHECK_EQ_INT(ef_rng_below(&r, 0), 0);
    int a[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, seen = 0;
    ef_rng_shuffle(&r, a, 10, sizeof a[0]);
    for (int i = 0; i < 10; i++)
        seen |= 1 << a[i];
    EF_CHECK_EQ_INT(seen, 0x3ff);
    ef_rng c1, c2, p1, p2;
    ef_rng_seed(&p1, 9);
    ef_rng_seed(&p2, 9);
    ef_rng_split(&p1, &c1);
    ef_rng_split(&p2, &c2);
    EF_CHECK(ef_rng_u64(&c1) == ef_rng_u64(&c2));
    EF_CHECK(ef_rng_u64(&c1) != ef_rng_u64(&p1));
}

static void test_sha256_vectors(void)
{
    char hex[65];
    EF_CHECK_EQ_INT(ef_sha256_hex("", 0, hex), 0);
    EF_CHECK_EQ_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EF_CHECK_EQ_INT(ef_sha256_hex("abc", 3, hex), 0);
    EF_CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    EF_CHECK_EQ_INT(ef_sha256_hex(m, strlen(m), hex), 0);
    EF_CHECK_EQ_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* incremental over a million 'a' equals the FIPS 180-2 vector */
    ef_sha256_ctx *h = NULL;
    EF_CHECK_EQ_INT(ef_sha256_new(&h), 0);
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    for (int i = 0; i < 1000; i++)
        ef_sha256_update(h, chunk, sizeof chunk);
    uint8_t d[32];
    EF_CHECK_EQ_INT(ef_sha256_final(h, d), 0);
    ef_sha256_free(h);
    ef_hex_encode(d, 32, hex);
    EF_CHECK_EQ_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    EF_CHECK(ef_sha256_u64("abc", 3) == 0xeacf018fbf1678baull);
}

static void count_fn(void *ud, size_t i, int tid)
{
    atomic_long *sum = ud;
    (void)tid;
    atomic_fetch_add(sum, (long)i);
}

static void job_fn(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void test_pool(void)
{
    ef_pool *pool = NULL;
    EF_CHECK_EQ_INT(ef_pool_new(&pool, 4), 0);
    EF_CHECK_EQ_INT(ef_pool_size(pool), 4);
    atomic_long sum;
    atomic_init(&sum, 0);
    EF_CHECK_EQ_INT(ef_pool_for(pool, 100000, count_fn, &sum), 0);
    EF_CHECK_EQ_INT(atomic_load(&sum), 100000L * 99999L / 2);
    atomic_int n;
    atomic_init(&n, 0);
    for (int i = 0; i < 1000; i++)
        ef_pool_submit(pool, job_fn, &n);
    ef_pool_wait(pool);
    EF_CHECK_EQ_INT(atomic_load(&n), 1000);
    ef_pool_free(pool);
    ef_pool_free(NULL);
    EF_CHECK(ef_ncpu() >= 1);
}

static void test_progress_line(void)
{
    ef_progress *p = ef_progress_new("gen travel", 200, "tasks");
    EF_CHECK(p != NULL);
    for (int i = 0; i < 50; i++)
        ef_progress_add(p, 1);
    ef_progress_note(p, "kept %d", 48);
    char line[512];
    ef_progress_format(p, line, sizeof line);
    EF_CHECK_CONTAINS(line, "gen travel");
    EF_CHECK_CONTAINS(line, "50/200 tasks");
    EF_CHECK_CONTAINS(line, "25.0%");
    EF_CHECK_CONTAINS(line, "tasks/s");
    EF_CHECK_CONTAINS(line, "eta");
    EF_CHECK_CONTAINS(line, "| kept 48");
    ef_progress_finish(p);
    ef_progress_add(NULL, 1);
    ef_progress_finish(NULL);
}

static void test_files(void)
{
    ef_ctx *ctx = ef_ctx_new();
    const char *dir = ef_test_tmpdir("common");
    char path[600];
    snprintf(path, sizeof path, "%s/f.txt", dir);
    EF_CHECK_OK(ctx, ef_file_write(ctx, path, "hello", 5));
    char *data = NULL;
    size_t len = 0;
    EF_CHECK_OK(ctx, ef_file_read(ctx, path, 100, &data, &len));
    EF_CHECK_EQ_INT(len, 5);
    EF_CHECK_EQ_STR(data, "hello");
    ef_free(data);
    EF_CHECK_EQ_INT(ef_file_read(ctx, path, 3, &data, &len), EF_ELIMIT);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "f.txt");
    snprintf(path, sizeof path, "%s/missing.txt", dir);
    EF_CHECK_EQ_INT(ef_file_read(ctx, path, 100, &data, &len), EF_ENOTFOUND);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "missing.txt");
    ef_ctx_free(ctx);
}

/* Every allocation in parse + canonical + buffer growth fails in turn; each must fail
 * cleanly (no crash, no leak under ASan) and the last run must succeed. */
static void test_alloc_failure(void)
{
    ef_ctx *ctx = ef_ctx_new();
    const char *text = "{\"b\":[1,2,3,{\"x\":\"y\"}],\"a\":\"long string value here\"}";
    int n_ok = 0, n_fail = 0;
    EF_ALLOC_LOOP(n, 200)
    {
        cJSON *doc = NULL;
        int rc = ef_json_parse(ctx, text, strlen(text), "t", &doc);
        if (rc == 0) {
            char *c = ef_json_canonical(doc);
            ef_buf b = EF_BUF_INIT(1 << 16);
            int rb = c ? ef_buf_appendf(&b, "%s|%s", c, c) : EF_ENOMEM;
            if (c && rb == 0)
                n_ok++;
            else
                n_fail++;
            ef_buf_free(&b);
            ef_free(c);
            cJSON_Delete(doc);
        } else {
            EF_CHECK(rc == EF_ENOMEM || rc == EF_EPARSE);
            n_fail++;
        }
    }
    EF_CHECK(n_fail > 3);
    EF_CHECK_EQ_INT(n_ok, 1);
    ef_ctx_free(ctx);
}

/* A tree a sandbox could leave: deeper than PATH_MAX, a directory with mode 0, a file and
 * a symbolic link to a file outside at the bottom. All of it goes; the outside file
 * stays. */
static void test_remove_tree(void)
{
    char root[512], outside[600];
    snprintf(root, sizeof root, "%s", ef_test_tmpdir("rmtree"));
    snprintf(outside, sizeof outside, "%s.outside", root);
    EF_CHECK(ef_file_write(NULL, outside, "keep", 4) == 0);
    int fd = open(root, O_RDONLY | O_DIRECTORY);
    EF_CHECK(fd >= 0);
    for (int i = 0; fd >= 0 && i < 3000; i++) {
        int w = openat(fd, "f", O_CREAT | O_WRONLY, 0644);
        if (w >= 0)
            close(w);
        if (mkdirat(fd, "d", 0755) < 0) {
            EF_CHECK_MSG(0, "mkdir at depth %d", i);
            break;
        }
        int next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
        close(fd);
        fd = next;
        if (i == 1500 && fd >= 0) { /* a locked directory on the way */
            EF_CHECK(mkdirat(fd, "locked", 0755) == 0);
            int l = openat(fd, "locked", O_RDONLY | O_DIRECTORY);
            int w2 = l >= 0 ? openat(l, "inside", O_CREAT | O_WRONLY, 0644) : -1;
            if (w2 >= 0)
                close(w2);
            if (l >= 0)
                close(l);
            EF_CHECK(fchmodat(fd, "locked", 0, 0) == 0);
        }
    }
    if (fd >= 0) {
        EF_CHECK(symlinkat(outside, fd, "link") == 0);
        close(fd);
    }
    EF_CHECK_EQ_INT(ef_remove_tree(root), 0);
    struct stat st;
    EF_CHECK(lstat(root, &st) < 0 && errno == ENOENT);
    char *kept = NULL;
    size_t len = 0;
    EF_CHECK(ef_file_read(NULL, outside, 100, &kept, &len) == 0 && len == 4);
    ef_free(kept);
    unlink(outside);
    /* a plain file, a link, and a path that is not there */
    EF_CHECK_EQ_INT(ef_remove_tree(outside), 0);
    EF_CHECK_EQ_INT(ef_remove_tree(root), 0);
}

/* ---- full-text search over CJK (common/fts.h) ----------------------------------------- */

static int join_term(void *ud, const char *t, size_t n)
{
    ef_buf *b = ud;
    ef_buf_appendf(b, "%s%.*s", b->len ? "|" : "", (int)n, t);
    return 0;
}

static void check_terms(const char *word, const char *want)
{
    ef_buf b = EF_BUF_INIT(4096);
    EF_CHECK_EQ_INT(ef_fts_terms(word, strlen(word), join_term, &b), 0);
    EF_CHECK_EQ_STR(b.data ? b.data : "", want);
    ef_buf_free(&b);
}

static int stop_after_two(void *ud, const char *t, size_t n)
{
    (void)t, (void)n;
    return ++*(int *)ud == 2 ? 7 : 0;
}

static void test_fts_terms(void)
{
    check_terms("plants", "plants");
    check_terms("北", "北");
    check_terms("北京", "北京");
    check_terms("天安门", "天安|安门");
    check_terms("abc北京天x", "abc|北京|京天|x");
    check_terms("東京はスカイツリー", "東京|京は|はス|スカ|カイ|イツ|ツリ|リー");
    check_terms("한강이", "한강|강이");
    check_terms("Zürich", "Zürich"); /* Latin stays whole, accents and all */
    check_terms("北，京", "北|，|京"); /* CJK punctuation is not a CJK character */
    check_terms("\xff北", "\xff|北");   /* a stray byte does not swallow what follows */
    int n = 0;
    EF_CHECK_EQ_INT(ef_fts_terms("一二三四", strlen("一二三四"), stop_after_two, &n), 7);
    EF_CHECK_EQ_INT(n, 2);
    EF_CHECK_EQ_INT(ef_fts_cjk_len((const unsigned char *)"a", 1), 0);
    EF_CHECK_EQ_INT(ef_fts_cjk_len((const unsigned char *)"é", 2), 0);
    EF_CHECK_EQ_INT(ef_fts_cjk_len((const unsigned char *)"中", 3), 3);
    EF_CHECK_EQ_INT(ef_fts_cjk_len((const unsigned char *)"中", 2), 0); /* cut short */
    EF_CHECK_EQ_INT(ef_fts_cjk_len((const unsigned char *)"\xf0\xa0\x80\x80", 4), 4); /* U+20000 */
}

/* One row per (term, position) of a table's vocabulary, "term@pos" joined with spaces. */
static char *vocab(sqlite3 *db, const char *table)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "CREATE VIRTUAL TABLE IF NOT EXISTS v_%s USING fts5vocab(%s, 'instance');", table,
             table);
    EF_CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    snprintf(sql, sizeof sql, "SELECT term, offset FROM v_%s ORDER BY offset, term", table);
    sqlite3_stmt *st = NULL;
    ef_buf b = EF_BUF_INIT(1 << 16);
    EF_CHECK_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    while (st && sqlite3_step(st) == SQLITE_ROW)
        ef_buf_appendf(&b, "%s%s@%d", b.len ? " " : "", (const char *)sqlite3_column_text(st, 0),
                       sqlite3_column_int(st, 1));
    sqlite3_finalize(st);
    return b.data ? ef_buf_detach(&b) : ef_strdup("");
}

static int count_matches(sqlite3 *db, const char *table, const char *query)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s MATCH ?1", table, table);
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

static void test_fts_tokenizer(void)
{
    sqlite3 *db = NULL;
    EF_CHECK_EQ_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    EF_CHECK_EQ_INT(ef_fts_register(db), SQLITE_OK);
    EF_CHECK_EQ_INT(sqlite3_exec(db,
                                 "CREATE VIRTUAL TABLE u USING fts5(t, tokenize='unicode61 "
                                 "remove_diacritics 2');"
                                 "CREATE VIRTUAL TABLE c USING fts5(t, tokenize='ef_cjk "
                                 "remove_diacritics 2');"
                                 "CREATE VIRTUAL TABLE p USING fts5(t, tokenize='porter ef_cjk');",
                                 NULL, NULL, NULL),
                    SQLITE_OK);
    /* outside CJK runs: exactly unicode61's tokens and positions, arguments included */
    const char *latin = "Zürich CAFÉ-owners, naïve 42x; Ελλάδα Москва";
    char sql[512];
    snprintf(sql, sizeof sql, "INSERT INTO u VALUES('%s'); INSERT INTO c VALUES('%s');", latin,
             latin);
    EF_CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    char *vu = vocab(db, "u"), *vc = vocab(db, "c");
    EF_CHECK_EQ_STR(vc, vu);
    EF_CHECK_CONTAINS(vc, "cafe@");
    ef_free(vu);
    ef_free(vc);
    /* a CJK run: a character per position, the bigram it starts at the same position */
    EF_CHECK_EQ_INT(sqlite3_exec(db,
                                 "DELETE FROM c; INSERT INTO c VALUES('ab 北京天 x，東');",
                                 NULL, NULL, NULL),
                    SQLITE_OK);
    vc = vocab(db, "c");
    EF_CHECK_EQ_STR(vc, "ab@0 北@1 北京@1 京@2 京天@2 天@3 x@4 東@5");
    ef_free(vc);
    EF_CHECK_EQ_INT(count_matches(db, "c", "\"北京\""), 1);
    EF_CHECK_EQ_INT(count_matches(db, "c", "\"北京天\""), 1);
    EF_CHECK_EQ_INT(count_matches(db, "c", "\"京\""), 1);
    EF_CHECK_EQ_INT(count_matches(db, "c", "\"天北\""), 0);
    EF_CHECK_EQ_INT(count_matches(db, "c", "\"京天 x\""), 1);   /* a phrase across the run */
    EF_CHECK_EQ_INT(count_matches(db, "c", "\"北天\""), 0);
    EF_CHECK_EQ_INT(count_matches(db, "c", "\"x 東\""), 1);     /* over CJK punctuation */
    EF_CHECK_EQ_INT(count_matches(db, "c", "\"，\""), 0);
    /* under the stemmer, and snippets highlight the characters matched */
    EF_CHECK_EQ_INT(sqlite3_exec(db,
                                 "INSERT INTO p VALUES('北京是中华人民共和国的首都，天安门广场"
                                 "位于市中心。Plants grow');",
                                 NULL, NULL, NULL),
                    SQLITE_OK);
    EF_CHECK_EQ_INT(count_matches(db, "p", "\"天安门\" AND plant"), 1);
    sqlite3_stmt *st = NULL;
    EF_CHECK_EQ_INT(sqlite3_prepare_v2(db,
                                       "SELECT highlight(p, 0, '[', ']') FROM p WHERE p MATCH "
                                       "'\"天安门\"'",
                                       -1, &st, NULL),
                    SQLITE_OK);
    if (st && sqlite3_step(st) == SQLITE_ROW)
        EF_CHECK_CONTAINS((const char *)sqlite3_column_text(st, 0), "，[天安门]广场");
    else
        EF_CHECK_MSG(0, "no highlight row");
    sqlite3_finalize(st);
    /* a tokenizer argument unicode61 refuses is refused here too */
    EF_CHECK(sqlite3_exec(db, "CREATE VIRTUAL TABLE bad USING fts5(t, tokenize='ef_cjk nope 1');",
                          NULL, NULL, NULL) != SQLITE_OK);
    sqlite3_close(db);
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    EF_RUN(test_remove_tree);
    EF_RUN(test_strerror);
    EF_RUN(test_ctx_errors);
    EF_RUN(test_logging);
    EF_RUN(test_buf_cap);
    EF_RUN(test_json_paths);
    EF_RUN(test_json_canonical);
    EF_RUN(test_json_escape_byte);
    EF_RUN(test_json_equal);
    EF_RUN(test_jschema_dialects);
    EF_RUN(test_rng_pinned);
    EF_RUN(test_rng_ranges);
    EF_RUN(test_sha256_vectors);
    EF_RUN(test_pool);
    EF_RUN(test_progress_line);
    EF_RUN(test_files);
    EF_RUN(test_alloc_failure);
    EF_RUN(test_fts_terms);
    EF_RUN(test_fts_tokenizer);
    return EF_TEST_END();
}
