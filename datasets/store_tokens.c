/*
 * datasets/store_tokens.c — the token_streams table: one row per episode holding the
 * exact sampled tokens as little-endian BLOBs (layout in datasets.h and docs/store.md).
 * Encoding and decoding are byte by byte, so the file reads the same on any host.
 * Checks shapes before writing (mask values, CSR offsets, route dims) and checks BLOB
 * lengths against the stored dims when reading.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "datasets/datasets_int.h"

/* Keeps every BLOB under SQLite's default 1e9-byte limit. */
#define MAX_BLOB_BYTES 900000000ull

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t *encode_i32(const int32_t *v, size_t n)
{
    uint8_t *b = ef_malloc(n * 4);
    if (b)
        for (size_t i = 0; i < n; i++)
            put_u32(b + 4 * i, (uint32_t)v[i]);
    return b;
}

static uint8_t *encode_f32(const float *v, size_t n)
{
    uint8_t *b = ef_malloc(n * 4);
    if (b)
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &v[i], 4);
            put_u32(b + 4 * i, u);
        }
    return b;
}

static size_t n_route_values(const ef_token_stream *t)
{
    return t->routes ? t->n_tokens * (size_t)t->route_layers * (size_t)t->route_topk : 0;
}

int ef_store_token_stream_validate(ef_ctx *ctx, const ef_token_stream *t)
{
    if (!t)
        return ef_errorf(ctx, EF_EINVAL, "token stream: NULL");
    size_t n = t->n_tokens;
    if ((uint64_t)n * 4 > MAX_BLOB_BYTES)
        return ef_errorf(ctx, EF_ELIMIT,
                         "token stream: field 'n_tokens' = %zu is over the "
                         "store's limit",
                         n);
    if (n && (!t->token_ids || !t->loss_mask))
        return ef_errorf(ctx, EF_EINVAL,
                         "token stream: fields 'token_ids' and 'loss_mask' are "
                         "required (n_tokens = %zu)",
                         n);
    for (size_t i = 0; i < n; i++)
        if (t->loss_mask[i] > 1)
            return ef_errorf(ctx, EF_EINVAL, "token stream: loss_mask[%zu] = %u must be 0 or 1", i,
                             t->loss_mask[i]);
    if (t->logprobs)
        for (size_t i = 0; i < n; i++)
            if (isnan(t->logprobs[i]))
                return ef_errorf(ctx, EF_EINVAL, "token stream: logprobs[%zu] is NaN", i);
    if (t->topp_ids && !t->topp_offsets)
        return ef_errorf(ctx, EF_EINVAL, "token stream: field 'topp_ids' needs 'topp_offsets'");
    if (t->topp_offsets) {
        if (t->topp_offsets[0] != 0)
            return ef_errorf(ctx, EF_EINVAL, "token stream: topp_offsets[0] = %d must be 0",
                             t->topp_offsets[0]);
        for (size_t i = 0; i < n; i++)
            if (t->topp_offsets[i + 1] < t->topp_offsets[i])
                return ef_errorf(ctx, EF_EINVAL,
                                 "token stream: topp_offsets[%zu] = %d is less than "
                                 "topp_offsets[%zu] = %d (offsets must not decrease)",
                                 i + 1, t->topp_offsets[i + 1], i, t->topp_offsets[i]);
        if ((uint64_t)t->topp_offsets[n] * 4 > MAX_BLOB_BYTES)
            return ef_errorf(ctx, EF_ELIMIT, "token stream: %d top-p ids are over the limit",
                             t->topp_offsets[n]);
        if (t->topp_offsets[n] > 0 && !t->topp_ids)
            return ef_errorf(ctx, EF_EINVAL,
                             "token stream: field 'topp_ids' is required "
                             "(topp_offsets[n_tokens] = %d)",
                             t->topp_offsets[n]);
    }
    int has_dims = t->route_layers > 0 && t->route_topk > 0;
    if (t->route_layers < 0 || t->route_topk < 0 || (t->routes != NULL) != has_dims)
        return ef_errorf(ctx, EF_EINVAL,
                         "token stream: fields 'routes', 'route_layers' (%lld) and 'route_topk' "
                         "(%lld) go together: routes needs both dims > 0, no routes both 0",
                         (long long)t->route_layers, (long long)t->route_topk);
    if (has_dims &&
        (uint64_t)t->route_layers * (uint64_t)t->route_topk * 2 * (uint64_t)(n ? n : 1) >
            MAX_BLOB_BYTES)
        return ef_errorf(ctx, EF_ELIMIT,
                         "token stream: routes (%zu x %lld x %lld) are over the "
                         "store's limit",
                         n, (long long)t->route_layers, (long long)t->route_topk);
    return 0;
}

int ef_store_token_stream_insert(ef_store *s, int64_t episode_id, const ef_token_stream *t)
{
    int rc = ef_store_token_stream_validate(s->ctx, t);
    if (rc < 0)
        return ef_error_wrap(s->ctx, rc, "episode %lld", (long long)episode_id);
    size_t n = t->n_tokens, n_routes = n_route_values(t);
    size_t n_topp = t->topp_offsets ? (size_t)t->topp_offsets[n] : 0;
    uint8_t *ids = encode_i32(t->token_ids, n);
    uint8_t *lp = t->logprobs ? encode_f32(t->logprobs, n) : NULL;
    uint8_t *offs = t->topp_offsets ? encode_i32(t->topp_offsets, n + 1) : NULL;
    uint8_t *topp = t->topp_offsets ? encode_i32(t->topp_ids, n_topp) : NULL;
    int route_bytes = 0;
    uint8_t *routes = NULL;
    int64_t n_model = 0;
    for (size_t i = 0; i < n; i++)
        n_model += t->loss_mask[i];
    if (t->routes) {
        route_bytes = 1;
        for (size_t i = 0; i < n_routes && route_bytes == 1; i++)
            if (t->routes[i] > 255)
                route_bytes = 2;
        routes = ef_malloc(n_routes * (size_t)route_bytes);
        if (routes)
            for (size_t i = 0; i < n_routes; i++) {
                if (route_bytes == 1) {
                    routes[i] = (uint8_t)t->routes[i];
                } else {
                    routes[2 * i] = (uint8_t)t->routes[i];
                    routes[2 * i + 1] = (uint8_t)(t->routes[i] >> 8);
                }
            }
    }
    if (!ids || (t->logprobs && !lp) || (t->topp_offsets && (!offs || !topp)) ||
        (t->routes && !routes)) {
        rc = ef_errorf(s->ctx, EF_ENOMEM,
                       "%s: out of memory encoding the token stream of "
                       "episode %lld",
                       s->path, (long long)episode_id);
        goto cleanup;
    }
    if ((rc = ef_datasets__tx_begin(s)) < 0)
        goto cleanup;
    int exists = 0;
    rc = ef_datasets__row_exists(s, EF_ST_EPISODE_EXISTS, "episodes", episode_id, &exists);
    if (rc == 0 && !exists)
        rc = ef_errorf(s->ctx, EF_EINVAL,
                       "token stream: field 'episode_id' = %lld is not an "
                       "episode in %s",
                       (long long)episode_id, s->path);
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = ef_datasets__stmt(s, EF_ST_TOKENS_INSERT,
                               "INSERT INTO token_streams(episode_id, n_tokens, n_model_tokens, "
                               "token_ids, loss_mask, logprobs, topp_offsets, topp_ids, "
                               "route_layers, route_topk, route_bytes, routes) VALUES (?1, ?2, "
                               "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                               &st);
    if (rc == 0) {
        /* zero-length BLOBs must not bind as NULL: give them a valid pointer */
        static const uint8_t empty[1];
        sqlite3_bind_int64(st, 1, episode_id);
        sqlite3_bind_int64(st, 2, (int64_t)n);
        sqlite3_bind_int64(st, 3, n_model);
        sqlite3_bind_blob64(st, 4, n ? ids : empty, n * 4, SQLITE_STATIC);
        sqlite3_bind_blob64(st, 5, n ? t->loss_mask : empty, n, SQLITE_STATIC);
        if (lp)
            sqlite3_bind_blob64(st, 6, n ? lp : empty, n * 4, SQLITE_STATIC);
        if (offs) {
            sqlite3_bind_blob64(st, 7, offs, (n + 1) * 4, SQLITE_STATIC);
            sqlite3_bind_blob64(st, 8, n_topp ? topp : empty, n_topp * 4, SQLITE_STATIC);
        }
        sqlite3_bind_int64(st, 9, t->routes ? t->route_layers : 0);
        sqlite3_bind_int64(st, 10, t->routes ? t->route_topk : 0);
        sqlite3_bind_int(st, 11, route_bytes);
        if (routes)
            sqlite3_bind_blob64(st, 12, n_routes ? routes : empty, n_routes * (size_t)route_bytes,
                                SQLITE_STATIC);
        int src = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (src == SQLITE_CONSTRAINT_PRIMARYKEY || src == SQLITE_CONSTRAINT_UNIQUE)
            rc = ef_errorf(s->ctx, EF_EEXISTS, "%s: episode %lld already has a token stream",
                           s->path, (long long)episode_id);
        else if (src != SQLITE_DONE)
            rc = ef_datasets__sqlerr(s, src, "inserting the token stream of episode %lld",
                                     (long long)episode_id);
    }
    rc = ef_datasets__tx_end(s, rc);
cleanup:
    ef_free(ids);
    ef_free(lp);
    ef_free(offs);
    ef_free(topp);
    ef_free(routes);
    return rc;
}

void ef_store_token_stream_free(ef_token_stream *t)
{
    if (!t)
        return;
    ef_free((void *)t->token_ids);
    ef_free((void *)t->loss_mask);
    ef_free((void *)t->logprobs);
    ef_free((void *)t->topp_offsets);
    ef_free((void *)t->topp_ids);
    ef_free((void *)t->routes);
    ef_free(t);
}

/* Column col as a BLOB of exactly want bytes (NULL column: *present = 0). */
static int blob_col(ef_store *s, sqlite3_stmt *st, int col, const char *name, size_t want,
                    int64_t episode_id, const uint8_t **out, int *present)
{
    *present = sqlite3_column_type(st, col) != SQLITE_NULL;
    *out = NULL;
    if (!*present)
        return 0;
    const uint8_t *p = sqlite3_column_blob(st, col);
    size_t len = (size_t)sqlite3_column_bytes(st, col);
    if (len != want)
        return ef_errorf(s->ctx, EF_EPARSE,
                         "%s: token_streams row of episode %lld: column %s is %zu bytes, "
                         "expected %zu from its dims",
                         s->path, (long long)episode_id, name, len, want);
    if (!p && want)
        return ef_errorf(s->ctx, EF_ENOMEM, "%s: out of memory reading %s", s->path, name);
    *out = p;
    return 0;
}

static int32_t *decode_i32(const uint8_t *b, size_t n)
{
    int32_t *v = ef_malloc(n * sizeof *v);
    if (v)
        for (size_t i = 0; i < n; i++)
            v[i] = (int32_t)get_u32(b + 4 * i);
    return v;
}

static int decode(ef_store *s, sqlite3_stmt *st, int64_t episode_id, ef_token_stream *t)
{
    int64_t n64 = sqlite3_column_int64(st, 0);
    int64_t layers = sqlite3_column_int64(st, 6), topk = sqlite3_column_int64(st, 7);
    int route_bytes = sqlite3_column_int(st, 8);
    if (n64 < 0 || layers < 0 || topk < 0 || (uint64_t)n64 * 4 > MAX_BLOB_BYTES ||
        (uint64_t)layers * (uint64_t)topk * (uint64_t)n64 > MAX_BLOB_BYTES)
        return ef_errorf(s->ctx, EF_EPARSE, "%s: token_streams row of episode %lld has bad dims",
                         s->path, (long long)episode_id);
    size_t n = (size_t)n64, n_routes = n * (size_t)layers * (size_t)topk;
    const uint8_t *ids, *mask, *lp, *offs, *topp, *routes;
    int has_ids, has_mask, has_lp, has_offs, has_topp, has_routes, rc;
    if ((rc = blob_col(s, st, 1, "token_ids", n * 4, episode_id, &ids, &has_ids)) < 0 ||
        (rc = blob_col(s, st, 2, "loss_mask", n, episode_id, &mask, &has_mask)) < 0 ||
        (rc = blob_col(s, st, 3, "logprobs", n * 4, episode_id, &lp, &has_lp)) < 0 ||
        (rc = blob_col(s, st, 4, "topp_offsets", (n + 1) * 4, episode_id, &offs, &has_offs)) < 0)
        return rc;
    size_t n_topp = has_offs ? get_u32(offs + 4 * n) : 0;
    if ((rc = blob_col(s, st, 5, "topp_ids", n_topp * 4, episode_id, &topp, &has_topp)) < 0 ||
        (rc = blob_col(s, st, 9, "routes", n_routes * (size_t)route_bytes, episode_id, &routes,
                       &has_routes)) < 0)
        return rc;
    t->n_tokens = n;
    int ok = 1;
    t->token_ids = decode_i32(ids, n);
    uint8_t *m = ef_malloc(n);
    if (m)
        memcpy(m, mask ? mask : (const uint8_t *)"", n);
    t->loss_mask = m;
    ok = t->token_ids && m;
    if (has_lp) {
        float *f = ef_malloc(n * sizeof *f);
        if (f)
            for (size_t i = 0; i < n; i++) {
                uint32_t u = get_u32(lp + 4 * i);
                memcpy(&f[i], &u, 4);
            }
        t->logprobs = f;
        ok = ok && f;
    }
    if (has_offs) {
        t->topp_offsets = decode_i32(offs, n + 1);
        t->topp_ids = decode_i32(topp ? topp : (const uint8_t *)"", n_topp);
        ok = ok && t->topp_offsets && t->topp_ids;
    }
    if (has_routes && n_routes > 0 && route_bytes > 0) {
        uint16_t *r = ef_malloc(n_routes * sizeof *r);
        if (r)
            for (size_t i = 0; i < n_routes; i++)
                r[i] = route_bytes == 1 ? routes[i]
                                        : (uint16_t)(routes[2 * i] | routes[2 * i + 1] << 8);
        t->routes = r;
        t->route_layers = layers;
        t->route_topk = topk;
        ok = ok && r;
    }
    if (!ok)
        return ef_errorf(s->ctx, EF_ENOMEM,
                         "%s: out of memory decoding the token stream of "
                         "episode %lld",
                         s->path, (long long)episode_id);
    return 0;
}

int ef_store_token_stream_get(ef_store *s, int64_t episode_id, ef_token_stream **out)
{
    sqlite3_stmt *st;
    int rc = ef_datasets__stmt(s, EF_ST_TOKENS_GET,
                               "SELECT n_tokens, token_ids, loss_mask, logprobs, topp_offsets, "
                               "topp_ids, route_layers, route_topk, route_bytes, routes "
                               "FROM token_streams WHERE episode_id = ?1",
                               &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, episode_id);
    int src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        sqlite3_reset(st);
        if (src == SQLITE_DONE)
            return ef_errorf(s->ctx, EF_ENOTFOUND, "%s: episode %lld has no token stream", s->path,
                             (long long)episode_id);
        return ef_datasets__sqlerr(s, src, "reading the token stream of episode %lld",
                                   (long long)episode_id);
    }
    ef_token_stream *t = ef_calloc(1, sizeof *t);
    if (!t)
        rc = ef_errorf(s->ctx, EF_ENOMEM, "%s: out of memory reading a token stream", s->path);
    else
        rc = decode(s, st, episode_id, t);
    sqlite3_reset(st);
    if (rc < 0) {
        ef_store_token_stream_free(t);
        return rc;
    }
    *out = t;
    return 0;
}
