/*
 * tools/corpus.c — the local search corpus: building an SQLite FTS5 index from JSON
 * Lines (`envforge corpus build`), ranked search with BM25 and snippets, and opening one
 * document by id (the fetch tool's corpus mode).
 *
 * Layout: docs(rowid, id UNIQUE, title, url, text) holds the documents; docs_fts is an
 * external-content FTS5 table over (title, text) with the porter stemmer over ef_cjk
 * (unicode61 words, and CJK runs as characters and bigrams; common/fts.h); meta holds the
 * format version and the document count. A build writes a temporary file next to the
 * target and renames it into place, so readers never see half a corpus; it replaces only
 * a missing or empty file or an earlier corpus, never another database or file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/fts.h"
#include "tools/tools_int.h"

/* 2: the ef_cjk tokenizer (common/fts.h) under the stemmer; 1 (still read): unicode61 */
#define CORPUS_FORMAT 2
#define CORPUS_FORMAT_MIN 1
#define MAX_LINE_BYTES (64u << 20)
#define TITLE_WEIGHT 2.0

static const char create_sql[] =
    "PRAGMA journal_mode=OFF;"
    "PRAGMA synchronous=OFF;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE docs(rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,"
    " url TEXT, text TEXT NOT NULL);"
    "CREATE VIRTUAL TABLE docs_fts USING fts5(title, text, content='docs',"
    " content_rowid='rowid', tokenize='porter ef_cjk');";

static int sql_fail(ef_ctx *ctx, sqlite3 *db, const char *what)
{
    return ef_errorf(ctx, EF_ESTORE, "%s: %s", what, db ? sqlite3_errmsg(db) : "no database");
}

/* The id field as text: strings as they are, integers printed. */
static int doc_id(ef_ctx *ctx, const cJSON *doc, const char *where, char *buf, size_t cap,
                  const char **out)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id");
    if (cJSON_IsString(id) && id->valuestring[0]) {
        *out = id->valuestring;
        return 0;
    }
    if (cJSON_IsNumber(id) && id->valuedouble == (double)(long long)id->valuedouble) {
        snprintf(buf, cap, "%lld", (long long)id->valuedouble);
        *out = buf;
        return 0;
    }
    return ef_errorf(ctx, EF_EINVAL, "%s: field \"id\" must be a non-empty string or an "
                     "integer, got %s", where, ef_json_type_name(id));
}

static int insert_line(ef_ctx *ctx, sqlite3_stmt *ins, const char *line, size_t len,
                       const char *where)
{
    cJSON *doc = NULL;
    int rc = ef_json_parse(ctx, line, len, where, &doc);
    if (rc < 0)
        return rc;
    char idbuf[32];
    const char *id = NULL, *title = "", *url = NULL, *text = NULL;
    if (!cJSON_IsObject(doc)) {
        rc = ef_errorf(ctx, EF_EINVAL, "%s: expected an object, got %s", where,
                       ef_json_type_name(doc));
        goto done;
    }
    if ((rc = doc_id(ctx, doc, where, idbuf, sizeof idbuf, &id)) < 0)
        goto done;
    const cJSON *f;
    if (!cJSON_IsString(f = cJSON_GetObjectItemCaseSensitive(doc, "text"))) {
        rc = ef_errorf(ctx, EF_EINVAL, "%s: field \"text\" must be a string, got %s", where,
                       ef_json_type_name(f));
        goto done;
    }
    text = f->valuestring;
    if ((f = cJSON_GetObjectItemCaseSensitive(doc, "title")) && !cJSON_IsNull(f)) {
        if (!cJSON_IsString(f)) {
            rc = ef_errorf(ctx, EF_EINVAL, "%s: field \"title\" must be a string", where);
            goto done;
        }
        title = f->valuestring;
    }
    if ((f = cJSON_GetObjectItemCaseSensitive(doc, "url")) && cJSON_IsString(f))
        url = f->valuestring;
    sqlite3_reset(ins);
    sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 2, title, -1, SQLITE_TRANSIENT);
    if (url)
        sqlite3_bind_text(ins, 3, url, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(ins, 3);
    sqlite3_bind_text(ins, 4, text, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(ins);
    if (src == SQLITE_CONSTRAINT)
        rc = ef_errorf(ctx, EF_ECONFLICT, "%s: duplicate document id \"%s\"", where, id);
    else if (src != SQLITE_DONE)
        rc = ef_errorf(ctx, EF_ESTORE, "%s: insert: %s", where,
                       sqlite3_errmsg(sqlite3_db_handle(ins)));
done:
    cJSON_Delete(doc);
    return rc;
}

static int load_lines(ef_ctx *ctx, sqlite3 *db, FILE *in, const char *jsonl_path, size_t *n_docs)
{
    sqlite3_stmt *ins = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO docs(id, title, url, text) VALUES (?, ?, ?, ?)", -1,
                           &ins, NULL) != SQLITE_OK)
        return sql_fail(ctx, db, "corpus insert");
    char *line = NULL;
    size_t cap = 0, lineno = 0, n = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if ((size_t)len > MAX_LINE_BYTES) {
            rc = ef_errorf(ctx, EF_ELIMIT, "%s:%zu: line longer than %u bytes", jsonl_path,
                           lineno, MAX_LINE_BYTES);
            break;
        }
        size_t k = 0;
        while (k < (size_t)len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' ||
                                   line[k] == '\n'))
            k++;
        if (k == (size_t)len)
            continue;
        char where[512];
        snprintf(where, sizeof where, "%s:%zu", jsonl_path, lineno);
        if ((rc = insert_line(ctx, ins, line, (size_t)len, where)) < 0)
            break;
        n++;
    }
    if (rc == 0 && ferror(in))
        rc = ef_errorf(ctx, EF_EIO, "%s: read error", jsonl_path);
    free(line); /* getline allocates with malloc */
    sqlite3_finalize(ins);
    *n_docs = n;
    return rc;
}

/* What db_path holds when it is not a file a build may replace: NULL for a missing or
 * empty file or an envforge corpus (any format: an older one is rebuilt), otherwise a
 * description ("a directory", "an envforge store", ...). */
static const char *not_replaceable(const char *db_path)
{
    struct stat st;
    if (stat(db_path, &st) != 0)
        return NULL;
    if (S_ISDIR(st.st_mode))
        return "a directory";
    if (!S_ISREG(st.st_mode))
        return "not a regular file";
    if (st.st_size == 0)
        return NULL;
    FILE *f = fopen(db_path, "rb");
    char head[16] = {0};
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    if (got < sizeof head || memcmp(head, "SQLite format 3", 16) != 0)
        return "a file that is not an SQLite database";
    sqlite3 *db = NULL;
    const char *what = "an SQLite database that is not an envforge corpus";
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st_ = NULL;
        if (sqlite3_prepare_v2(db,
                               "SELECT sum(name = 'meta') + sum(name = 'docs') + "
                               "sum(name = 'docs_fts'), sum(name = 'schema_migrations') "
                               "FROM sqlite_master WHERE type = 'table'",
                               -1, &st_, NULL) == SQLITE_OK &&
            sqlite3_step(st_) == SQLITE_ROW) {
            if (sqlite3_column_int(st_, 0) == 3)
                what = NULL;
            else if (sqlite3_column_int(st_, 1) > 0)
                what = "an envforge store";
        }
        sqlite3_finalize(st_);
    }
    sqlite3_close(db);
    return what;
}

int ef_tools_corpus_build(ef_ctx *ctx, const char *jsonl_path, const char *db_path,
                          size_t *n_docs)
{
    const char *what = not_replaceable(db_path);
    if (what)
        return ef_errorf(ctx, EF_EEXISTS,
                         "%s: exists and is %s; a corpus build replaces its output, so pass "
                         "another -o path (or delete the file first)",
                         db_path, what);
    FILE *in = strcmp(jsonl_path, "-") == 0 ? stdin : fopen(jsonl_path, "r");
    if (!in)
        return ef_errorf(ctx, errno == ENOENT ? EF_ENOTFOUND : EF_EIO, "%s: %s", jsonl_path,
                         strerror(errno));
    char *tmp = ef_asprintf("%s.tmp-%ld", db_path, (long)getpid());
    sqlite3 *db = NULL;
    size_t n = 0;
    int rc = 0;
    if (!tmp) {
        rc = ef_errorf(ctx, EF_ENOMEM, "corpus: out of memory");
        goto done;
    }
    unlink(tmp);
    if (sqlite3_open(tmp, &db) != SQLITE_OK || ef_fts_register(db) != SQLITE_OK) {
        rc = sql_fail(ctx, db, tmp);
        goto done;
    }
    if (sqlite3_exec(db, create_sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        rc = sql_fail(ctx, db, "corpus schema");
        goto done;
    }
    if ((rc = load_lines(ctx, db, in, jsonl_path, &n)) < 0)
        goto done;
    char meta[256];
    snprintf(meta, sizeof meta,
             "INSERT INTO docs_fts(docs_fts) VALUES('rebuild');"
             "INSERT INTO meta VALUES('format', '%d'), ('n_docs', '%zu');"
             "COMMIT; INSERT INTO docs_fts(docs_fts) VALUES('optimize');",
             CORPUS_FORMAT, n);
    if (sqlite3_exec(db, meta, NULL, NULL, NULL) != SQLITE_OK) {
        rc = sql_fail(ctx, db, "corpus index");
        goto done;
    }
    if (sqlite3_close(db) != SQLITE_OK) {
        rc = sql_fail(ctx, db, "corpus close");
        goto done;
    }
    db = NULL;
    if (rename(tmp, db_path) < 0) {
        rc = ef_errorf(ctx, EF_EIO, "%s: rename from %s: %s", db_path, tmp, strerror(errno));
        goto done;
    }
    if (n_docs)
        *n_docs = n;
done:
    if (db)
        sqlite3_close(db);
    if (rc < 0 && tmp)
        unlink(tmp);
    ef_free(tmp);
    if (in != stdin)
        fclose(in);
    return rc;
}

/* ---- reading ------------------------------------------------------------------- */

static int open_ro(ef_ctx *ctx, const char *path, sqlite3 **out)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        int rc = ef_errorf(ctx, EF_ENOTFOUND, "corpus %s: %s", path,
                           db ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (ef_fts_register(db) != SQLITE_OK) {
        rc = ef_errorf(ctx, EF_EUNSUPPORTED, "corpus %s: this SQLite has no FTS5: %s", path,
                       sqlite3_errmsg(db));
        sqlite3_close(db);
        return rc;
    }
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'format'", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) < CORPUS_FORMAT_MIN ||
        sqlite3_column_int(st, 0) > CORPUS_FORMAT)
        rc = ef_errorf(ctx, EF_EPARSE,
                       "corpus %s: not an envforge corpus of format %d..%d (make it with "
                       "`envforge corpus build DOCS.jsonl -o %s`)",
                       path, CORPUS_FORMAT_MIN, CORPUS_FORMAT, path);
    sqlite3_finalize(st);
    if (rc < 0) {
        sqlite3_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

int ef_tools__corpus_open(ef_tool_ctx *tc, sqlite3 **out)
{
    if (!tc->corpus) {
        if (!tc->cfg.corpus_path)
            return ef_errorf(tc->ctx, EF_EUNSUPPORTED, "no local corpus is configured");
        int rc = open_ro(tc->ctx, tc->cfg.corpus_path, &tc->corpus);
        if (rc < 0)
            return rc;
    }
    *out = tc->corpus;
    return 0;
}

/* Words that carry no topic; left out of queries that have other words (in a small
 * corpus a rare "with" would otherwise weigh as much as a rare "chlorophyll"). */
static const char *const stopwords[] = {
    "a", "about", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could",
    "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into",
    "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "she", "he", "so",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those",
    "to", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why", "will",
    "with", "would", "you", "your"};

static int is_word_byte(unsigned char c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_stopword(const char *w, size_t n)
{
    char low[16];
    if (n >= sizeof low)
        return 0;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] - 'A' + 'a' : w[i]);
    low[n] = '\0';
    for (size_t i = 0; i < EF_ARRAY_LEN(stopwords); i++)
        if (strcmp(low, stopwords[i]) == 0)
            return 1;
    return 0;
}

typedef struct {
    ef_buf b;
    int n_terms;
} query_terms;

static int add_term(void *ud, const char *t, size_t n)
{
    query_terms *q = ud;
    if (ef_buf_appendf(&q->b, "%s\"%.*s\"", q->n_terms ? " OR " : "", (int)n, t) < 0)
        return -1; /* past the cap: search with the terms so far */
    q->n_terms++;
    return 0;
}

/* The query as FTS5 syntax: each word quoted (so punctuation and operators in the
 * model's text cannot be syntax errors), joined with OR; BM25 favours documents that
 * match more of them. CJK runs, which have no spaces between words, become their
 * overlapping bigrams (ef_fts_terms). Stop words are dropped unless nothing else is
 * left. */
static char *fts_query(const char *q)
{
    for (int pass = 0; pass < 2; pass++) {
        query_terms qt = {EF_BUF_INIT(16384), 0};
        const char *p = q;
        while (*p) {
            while (*p && !is_word_byte((unsigned char)*p))
                p++;
            const char *start = p;
            while (*p && is_word_byte((unsigned char)*p))
                p++;
            size_t n = (size_t)(p - start);
            if (n == 0 || (pass == 0 && is_stopword(start, n)))
                continue;
            if (ef_fts_terms(start, n, add_term, &qt) < 0) {
                if (qt.b.len == 0) {
                    ef_buf_free(&qt.b);
                    return NULL;
                }
                break;
            }
        }
        if (qt.n_terms > 0)
            return ef_buf_detach(&qt.b);
        ef_buf_free(&qt.b);
    }
    return ef_strdup("");
}

int ef_tools__corpus_query(ef_ctx *ctx, sqlite3 *db, const char *query, int k, cJSON **out)
{
    char *fq = fts_query(query);
    if (!fq)
        return ef_errorf(ctx, EF_ENOMEM, "corpus search: out of memory");
    if (!fq[0]) {
        ef_free(fq);
        return ef_errorf(ctx, EF_EINVAL, "arguments.query: has no searchable words");
    }
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT d.id, d.title, d.url, snippet(docs_fts, 1, '[', ']', ' ... ', 24),"
             " bm25(docs_fts, %g, 1.0) AS score FROM docs_fts JOIN docs d ON"
             " d.rowid = docs_fts.rowid WHERE docs_fts MATCH ?1 ORDER BY score, d.rowid"
             " LIMIT ?2",
             TITLE_WEIGHT);
    sqlite3_stmt *st = NULL;
    cJSON *arr = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = sql_fail(ctx, db, "corpus search");
        goto done;
    }
    sqlite3_bind_text(st, 1, fq, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, k);
    if (!(arr = cJSON_CreateArray()))
        goto oom;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *hit = cJSON_CreateObject();
        if (!hit)
            goto oom;
        cJSON_AddItemToArray(arr, hit);
        const char *url = (const char *)sqlite3_column_text(st, 2);
        if (!cJSON_AddStringToObject(hit, "id", (const char *)sqlite3_column_text(st, 0)) ||
            !cJSON_AddStringToObject(hit, "title", (const char *)sqlite3_column_text(st, 1)) ||
            !(url ? cJSON_AddStringToObject(hit, "url", url) : cJSON_AddNullToObject(hit, "url")) ||
            !cJSON_AddStringToObject(hit, "snippet", (const char *)sqlite3_column_text(st, 3)) ||
            !cJSON_AddNumberToObject(hit, "score", -sqlite3_column_double(st, 4)))
            goto oom;
    }
    if (src != SQLITE_DONE) {
        rc = sql_fail(ctx, db, "corpus search");
        goto done;
    }
    *out = arr;
    arr = NULL;
    goto done;
oom:
    rc = ef_errorf(ctx, EF_ENOMEM, "corpus search: out of memory");
done:
    cJSON_Delete(arr);
    sqlite3_finalize(st);
    ef_free(fq);
    return rc;
}

int ef_tools_corpus_search(ef_ctx *ctx, const char *db_path, const char *query, int k,
                           cJSON **out)
{
    sqlite3 *db = NULL;
    int rc = open_ro(ctx, db_path, &db);
    if (rc < 0)
        return rc;
    rc = ef_tools__corpus_query(ctx, db, query, k, out);
    sqlite3_close(db);
    return rc;
}

int ef_tools__corpus_get(ef_ctx *ctx, sqlite3 *db, const char *id, cJSON **out)
{
    sqlite3_stmt *st = NULL;
    cJSON *doc = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db, "SELECT id, title, url, text FROM docs WHERE id = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return sql_fail(ctx, db, "corpus lookup");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = ef_errorf(ctx, EF_ENOTFOUND, "arguments.id: no document \"%s\" in the corpus", id);
        goto done;
    }
    if (src != SQLITE_ROW) {
        rc = sql_fail(ctx, db, "corpus lookup");
        goto done;
    }
    const char *url = (const char *)sqlite3_column_text(st, 2);
    if (!(doc = cJSON_CreateObject()) ||
        !cJSON_AddStringToObject(doc, "id", (const char *)sqlite3_column_text(st, 0)) ||
        !cJSON_AddStringToObject(doc, "title", (const char *)sqlite3_column_text(st, 1)) ||
        !(url ? cJSON_AddStringToObject(doc, "url", url) : cJSON_AddNullToObject(doc, "url")) ||
        !cJSON_AddStringToObject(doc, "text", (const char *)sqlite3_column_text(st, 3))) {
        cJSON_Delete(doc);
        rc = ef_errorf(ctx, EF_ENOMEM, "corpus lookup: out of memory");
        goto done;
    }
    *out = doc;
done:
    sqlite3_finalize(st);
    return rc;
}
