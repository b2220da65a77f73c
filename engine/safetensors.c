/*
 * engine/safetensors.c — safetensors files: mmap, header parsing and validation, and
 * sharded checkpoints through model.safetensors.index.json.
 *
 * Format: 8 bytes little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "BF16", "shape": [r, c], "data_offsets": [b, e]}, "__metadata__": {}},
 * then the data; offsets are relative to the byte after the header. Validation rejects,
 * with a message naming the file and the tensor: a header longer than the file or than
 * 100 MiB, JSON that is not an object, unknown dtypes, shapes that are not arrays of
 * non-negative integers (or overflow), offsets outside the data or not matching
 * shape x dtype size, overlapping tensors, and duplicate names. Nothing here trusts the
 * file: the fuzz target (tests/fuzz/fuzz_safetensors.c) feeds ef_engine__st_parse
 * arbitrary bytes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/json.h"
#include "engine/engine_int.h"

static const struct {
    const char *name;
    size_t bytes;
} dtypes[EF_DT_COUNT_] = {
    [EF_DT_F64] = {"F64", 8},    [EF_DT_F32] = {"F32", 4},         [EF_DT_F16] = {"F16", 2},
    [EF_DT_BF16] = {"BF16", 2},  [EF_DT_F8_E4M3] = {"F8_E4M3", 1}, [EF_DT_F8_E5M2] = {"F8_E5M2", 1},
    [EF_DT_I64] = {"I64", 8},    [EF_DT_I32] = {"I32", 4},         [EF_DT_I16] = {"I16", 2},
    [EF_DT_I8] = {"I8", 1},      [EF_DT_U64] = {"U64", 8},         [EF_DT_U32] = {"U32", 4},
    [EF_DT_U16] = {"U16", 2},    [EF_DT_U8] = {"U8", 1},           [EF_DT_BOOL] = {"BOOL", 1},
};

const char *ef_engine__dtype_name(ef_dtype dt)
{
    return (unsigned)dt < EF_DT_COUNT_ ? dtypes[dt].name : "?";
}

size_t ef_engine__dtype_bytes(ef_dtype dt)
{
    return (unsigned)dt < EF_DT_COUNT_ ? dtypes[dt].bytes : 0;
}

static int dtype_from_name(const char *s, ef_dtype *out)
{
    for (int i = 0; i < EF_DT_COUNT_; i++)
        if (strcmp(dtypes[i].name, s) == 0) {
            *out = (ef_dtype)i;
            return 0;
        }
    return -1;
}

void ef_engine__st_file_clear(ef_st_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n_tensors; i++)
        ef_free(f->tensors[i].name);
    ef_free(f->tensors);
    if (f->owns_map && f->map)
        munmap(f->map, f->map_bytes);
    ef_free(f->path);
    memset(f, 0, sizeof *f);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const ef_st_tensor *)a)->name, ((const ef_st_tensor *)b)->name);
}

static int cmp_offset(const void *a, const void *b)
{
    const ef_st_tensor *x = *(const ef_st_tensor *const *)a, *y = *(const ef_st_tensor *const *)b;
    if (x->data != y->data)
        return x->data < y->data ? -1 : 1;
    return x->n_bytes < y->n_bytes ? -1 : x->n_bytes > y->n_bytes;
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static int json_u64(const cJSON *it, uint64_t *out)
{
    if (!cJSON_IsNumber(it))
        return -1;
    double v = it->valuedouble;
    if (!(v >= 0) || v > 9007199254740992.0 || v != (double)(uint64_t)v)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int parse_entry(ef_ctx *ctx, const char *what, const cJSON *it, const uint8_t *data,
                       uint64_t data_len, ef_st_tensor *t)
{
    const char *name = it->string;
    if (!cJSON_IsObject(it))
        return ef_errorf(ctx, EF_EPARSE, "%s: tensor '%s': entry must be an object", what, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    if (!cJSON_IsString(dt))
        return ef_errorf(ctx, EF_EPARSE, "%s: tensor '%s': 'dtype' missing or not a string",
                         what, name);
    if (dtype_from_name(dt->valuestring, &t->dtype) < 0)
        return ef_errorf(ctx, EF_EPARSE, "%s: tensor '%s': unknown dtype '%s'", what, name,
                         dt->valuestring);
    if (!cJSON_IsArray(shape))
        return ef_errorf(ctx, EF_EPARSE, "%s: tensor '%s': 'shape' missing or not an array",
                         what, name);
    int nd = cJSON_GetArraySize(shape);
    if (nd > EF_ST_MAX_DIMS)
        return ef_errorf(ctx, EF_EPARSE, "%s: tensor '%s': %d dimensions (at most %d)", what,
                         name, nd, EF_ST_MAX_DIMS);
    uint64_t count = 1;
    int d = 0;
    for (const cJSON *e = shape->child; e; e = e->next, d++) {
        uint64_t v;
        if (json_u64(e, &v) < 0 || v > (1ull << 40))
            return ef_errorf(ctx, EF_EPARSE,
                             "%s: tensor '%s': shape[%d] is not a non-negative integer", what,
                             name, d);
        t->shape[d] = (int64_t)v;
        if (v && count > (UINT64_MAX >> 8) / v)
            return ef_errorf(ctx, EF_EPARSE, "%s: tensor '%s': shape overflows", what, name);
        count *= v;
    }
    t->n_dims = nd;
    uint64_t begin, end;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        json_u64(cJSON_GetArrayItem(offs, 0), &begin) < 0 ||
        json_u64(cJSON_GetArrayItem(offs, 1), &end) < 0)
        return ef_errorf(ctx, EF_EPARSE,
                         "%s: tensor '%s': 'data_offsets' must be [begin, end] integers", what,
                         name);
    if (begin > end || end > data_len)
        return ef_errorf(ctx, EF_EPARSE,
                         "%s: tensor '%s': data_offsets [%llu, %llu] outside the data (%llu "
                         "bytes)",
                         what, name, (unsigned long long)begin, (unsigned long long)end,
                         (unsigned long long)data_len);
    uint64_t want = count * dtypes[t->dtype].bytes;
    if (end - begin != want)
        return ef_errorf(ctx, EF_EPARSE,
                         "%s: tensor '%s': data_offsets span %llu bytes but shape x %s needs "
                         "%llu",
                         what, name, (unsigned long long)(end - begin), dtypes[t->dtype].name,
                         (unsigned long long)want);
    t->data = data + begin;
    t->n_bytes = (size_t)(end - begin);
    return 0;
}

int ef_engine__st_parse(ef_ctx *ctx, const char *what, const uint8_t *buf, size_t len,
                        ef_st_file *out)
{
    ef_st_file f;
    cJSON *doc = NULL;
    const ef_st_tensor **order = NULL;
    int rc;
    memset(&f, 0, sizeof f);
    if (len < 8)
        return ef_errorf(ctx, EF_EPARSE, "%s: %zu bytes is too short for a safetensors file",
                         what, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    if (hlen > EF_ST_MAX_HEADER_BYTES || hlen > len - 8)
        return ef_errorf(ctx, EF_EPARSE,
                         "%s: header length %llu exceeds the file (%zu bytes) or the 100 MiB cap",
                         what, (unsigned long long)hlen, len);
    if (hlen < 2 || buf[8] != '{')
        return ef_errorf(ctx, EF_EPARSE, "%s: the header is not a JSON object", what);
    /* A NUL-terminated copy: the JSON error path quotes text after the error position. */
    char *htext = ef_malloc((size_t)hlen + 1);
    if (!htext)
        return ef_errorf(ctx, EF_ENOMEM, "%s: out of memory for a %llu-byte header", what,
                         (unsigned long long)hlen);
    memcpy(htext, buf + 8, (size_t)hlen);
    htext[hlen] = 0;
    rc = ef_json_parse(ctx, htext, (size_t)hlen, what, &doc);
    ef_free(htext);
    if (rc < 0)
        return rc == EF_ENOMEM ? rc : EF_EPARSE;
    if (!cJSON_IsObject(doc)) {
        rc = ef_errorf(ctx, EF_EPARSE, "%s: the header is not a JSON object", what);
        goto cleanup;
    }
    const uint8_t *data = buf + 8 + hlen;
    uint64_t data_len = len - 8 - hlen;
    int n = 0;
    for (const cJSON *it = doc->child; it; it = it->next)
        n += strcmp(it->string, "__metadata__") != 0;
    f.tensors = ef_calloc((size_t)(n ? n : 1), sizeof *f.tensors);
    if (!f.tensors) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (const cJSON *it = doc->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(it)) {
                rc = ef_errorf(ctx, EF_EPARSE, "%s: '__metadata__' must be an object", what);
                goto cleanup;
            }
            continue;
        }
        ef_st_tensor *t = &f.tensors[f.n_tensors];
        if ((rc = parse_entry(ctx, what, it, data, data_len, t)) < 0)
            goto cleanup;
        if (!(t->name = ef_strdup(it->string))) {
            rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
            goto cleanup;
        }
        f.n_tensors++;
    }
    qsort(f.tensors, (size_t)f.n_tensors, sizeof *f.tensors, cmp_name);
    for (int i = 1; i < f.n_tensors; i++)
        if (strcmp(f.tensors[i - 1].name, f.tensors[i].name) == 0) {
            rc = ef_errorf(ctx, EF_EPARSE, "%s: tensor '%s' appears twice", what,
                           f.tensors[i].name);
            goto cleanup;
        }
    /* No two tensors may share bytes (empty tensors share nothing). */
    order = ef_calloc((size_t)(f.n_tensors ? f.n_tensors : 1), sizeof *order);
    if (!order) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (int i = 0; i < f.n_tensors; i++)
        order[i] = &f.tensors[i];
    qsort(order, (size_t)f.n_tensors, sizeof *order, cmp_offset);
    const ef_st_tensor *prev = NULL;
    for (int i = 0; i < f.n_tensors; i++) {
        if (!order[i]->n_bytes)
            continue;
        if (prev && prev->data + prev->n_bytes > order[i]->data) {
            rc = ef_errorf(ctx, EF_EPARSE, "%s: tensors '%s' and '%s' overlap in the data", what,
                           prev->name, order[i]->name);
            goto cleanup;
        }
        prev = order[i];
    }
    f.map = (uint8_t *)buf;
    f.map_bytes = len;
    *out = f;
    memset(&f, 0, sizeof f);
    rc = 0;
cleanup:
    ef_free(order);
    cJSON_Delete(doc);
    ef_engine__st_file_clear(&f);
    return rc;
}

int ef_engine__st_open(ef_ctx *ctx, const char *path, ef_st_file *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ef_errorf(ctx, EF_ENOTFOUND, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ef_errorf(ctx, EF_EIO, "%s: not a regular file", path);
    }
    size_t len = (size_t)st.st_size;
    if (len < 8) {
        close(fd);
        return ef_errorf(ctx, EF_EPARSE, "%s: %zu bytes is too short for a safetensors file",
                         path, len);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return ef_errorf(ctx, EF_EIO, "%s: mmap failed: %s", path, strerror(errno));
    ef_st_file f;
    int rc = ef_engine__st_parse(ctx, path, map, len, &f);
    if (rc < 0) {
        munmap(map, len);
        return rc;
    }
    f.owns_map = 1;
    if (!(f.path = ef_strdup(path))) {
        ef_engine__st_file_clear(&f);
        return ef_errorf(ctx, EF_ENOMEM, "out of memory");
    }
    *out = f;
    return 0;
}

/* ---- checkpoint folders ------------------------------------------------------------ */

void ef_engine__st_set_clear(ef_st_set *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_files; i++)
        ef_engine__st_file_clear(&s->files[i]);
    ef_free(s->files);
    ef_free(s->by_name);
    memset(s, 0, sizeof *s);
}

static int cmp_tensor_ptr(const void *a, const void *b)
{
    return strcmp((*(const ef_st_tensor *const *)a)->name,
                  (*(const ef_st_tensor *const *)b)->name);
}

const ef_st_tensor *ef_engine__st_find(const ef_st_set *s, const char *name)
{
    int lo = 0, hi = s->n_tensors - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(s->by_name[mid]->name, name);
        if (c == 0)
            return s->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

/* Shard names from the index's weight_map, deduplicated, in first-seen order. */
static int index_shards(ef_ctx *ctx, const char *ipath, cJSON **doc_out, char ***names_out,
                        int *n_out)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *doc = NULL;
    char **names = NULL;
    int n = 0, rc;
    if ((rc = ef_file_read(ctx, ipath, 256u << 20, &text, &len)) < 0)
        return rc;
    if ((rc = ef_json_parse(ctx, text, len, ipath, &doc)) < 0)
        goto cleanup;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(doc, "weight_map");
    if (!cJSON_IsObject(wm)) {
        rc = ef_errorf(ctx, EF_EPARSE, "%s: 'weight_map' missing or not an object", ipath);
        goto cleanup;
    }
    int cap = cJSON_GetArraySize(wm);
    names = ef_calloc((size_t)(cap ? cap : 1), sizeof *names);
    if (!names) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (const cJSON *it = wm->child; it; it = it->next) {
        if (!cJSON_IsString(it) || strchr(it->valuestring, '/') || it->valuestring[0] == '.') {
            rc = ef_errorf(ctx, EF_EPARSE, "%s: weight_map['%s'] must be a plain file name",
                           ipath, it->string);
            goto cleanup;
        }
        int seen = 0;
        for (int i = 0; i < n && !seen; i++)
            seen = strcmp(names[i], it->valuestring) == 0;
        if (!seen)
            names[n++] = it->valuestring;
    }
    *doc_out = doc;
    *names_out = names;
    *n_out = n;
    doc = NULL;
    names = NULL;
    rc = 0;
cleanup:
    ef_free(names);
    cJSON_Delete(doc);
    ef_free(text);
    return rc;
}

int ef_engine__st_set_open(ef_ctx *ctx, const char *dir, ef_st_set *out)
{
    ef_st_set s;
    memset(&s, 0, sizeof s);
    cJSON *idx = NULL;
    char **shards = NULL;
    int n_shards = 0, rc;
    char *ipath = ef_asprintf("%s/model.safetensors.index.json", dir);
    char *path = NULL;
    if (!ipath)
        return ef_errorf(ctx, EF_ENOMEM, "out of memory");
    if (access(ipath, F_OK) == 0) {
        if ((rc = index_shards(ctx, ipath, &idx, &shards, &n_shards)) < 0)
            goto cleanup;
    } else {
        shards = NULL;
        n_shards = 1;
        char *p = ef_asprintf("%s/model.safetensors", dir);
        if (!p) {
            rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
            goto cleanup;
        }
        int exists = access(p, F_OK) == 0;
        ef_free(p);
        if (!exists) {
            rc = ef_errorf(ctx, EF_ENOTFOUND,
                           "%s: neither model.safetensors nor model.safetensors.index.json",
                           dir);
            goto cleanup;
        }
        s.files = ef_calloc(1, sizeof *s.files);
        if (!s.files) {
            rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
            goto cleanup;
        }
    }
    if (!s.files && !(s.files = ef_calloc((size_t)(n_shards ? n_shards : 1), sizeof *s.files))) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto cleanup;
    }
    int total = 0;
    for (int i = 0; i < n_shards; i++) {
        ef_free(path);
        path = ef_asprintf("%s/%s", dir, shards ? shards[i] : "model.safetensors");
        if (!path) {
            rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
            goto cleanup;
        }
        if ((rc = ef_engine__st_open(ctx, path, &s.files[i])) < 0)
            goto cleanup;
        s.n_files++;
        for (int t = 0; t < s.files[i].n_tensors; t++)
            s.files[i].tensors[t].file_index = i;
        total += s.files[i].n_tensors;
    }
    s.by_name = ef_calloc((size_t)(total ? total : 1), sizeof *s.by_name);
    if (!s.by_name) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (int i = 0; i < s.n_files; i++)
        for (int t = 0; t < s.files[i].n_tensors; t++)
            s.by_name[s.n_tensors++] = &s.files[i].tensors[t];
    qsort(s.by_name, (size_t)s.n_tensors, sizeof *s.by_name, cmp_tensor_ptr);
    for (int i = 1; i < s.n_tensors; i++)
        if (strcmp(s.by_name[i - 1]->name, s.by_name[i]->name) == 0) {
            rc = ef_errorf(ctx, EF_EPARSE, "%s: tensor '%s' is in both %s and %s", dir,
                           s.by_name[i]->name, s.files[s.by_name[i - 1]->file_index].path,
                           s.files[s.by_name[i]->file_index].path);
            goto cleanup;
        }
    if (idx) {
        /* The index and the shards must agree on where each tensor lives. */
        const cJSON *wm = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
        for (const cJSON *it = wm->child; it; it = it->next) {
            const ef_st_tensor *t = ef_engine__st_find(&s, it->string);
            const char *file = t ? strrchr(s.files[t->file_index].path, '/') + 1 : NULL;
            if (!t || strcmp(file, it->valuestring) != 0) {
                rc = ef_errorf(ctx, EF_EPARSE,
                               "%s: tensor '%s' is listed in %s but not found there", ipath,
                               it->string, it->valuestring);
                goto cleanup;
            }
        }
    }
    *out = s;
    memset(&s, 0, sizeof s);
    rc = 0;
cleanup:
    ef_free(path);
    ef_free(shards);
    cJSON_Delete(idx);
    ef_free(ipath);
    ef_engine__st_set_clear(&s);
    return rc;
}
