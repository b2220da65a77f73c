/*
 * common/json.h — JSON helpers over cJSON whose errors name the JSON path.
 *
 * Paths are dotted with array indexes: "messages[2].tool_calls[0].function.name".
 * Getters write *out only on success; a missing field is EF_ENOTFOUND, a field of the
 * wrong type EF_EINVAL, and the message names the path and both types.
 *
 *   cJSON *doc;
 *   if (ef_json_parse(ctx, text, len, "task.json", &doc) < 0) return ef_errcode(ctx);
 *   const char *name; int64_t n;
 *   if (ef_json_get_str(ctx, doc, "env.name", &name) < 0 ||
 *       ef_json_get_int(ctx, doc, "env.n_tasks", &n) < 0) ...
 *   cJSON_Delete(doc);
 */
#ifndef EF_JSON_H
#define EF_JSON_H

#include <cjson/cJSON.h>
#include "common/ef.h"

/* Routes cJSON's allocations through ef_malloc (so failure injection reaches it).
 * Called by ef_ctx_new; safe to call again. */
void ef_json_init(void);

/* Parses text (not necessarily NUL-terminated). On error the message names `what`
 * (a file name or a description), the line and column. *out: cJSON_Delete. */
int ef_json_parse(ef_ctx *ctx, const char *text, size_t len, const char *what, cJSON **out);
/* 1 when JSON text holds a \u0000 escape (one not itself escaped): cJSON's C strings end
 * there, so the string it is in would be cut without a word. */
int ef_json_text_has_nul(const char *text);

/* Looks up a path; *out is borrowed from obj. */
int ef_json_get(ef_ctx *ctx, const cJSON *obj, const char *path, const cJSON **out);
int ef_json_get_str(ef_ctx *ctx, const cJSON *obj, const char *path, const char **out);
int ef_json_get_int(ef_ctx *ctx, const cJSON *obj, const char *path, int64_t *out);
int ef_json_get_num(ef_ctx *ctx, const cJSON *obj, const char *path, double *out);
int ef_json_get_bool(ef_ctx *ctx, const cJSON *obj, const char *path, int *out);
int ef_json_get_obj(ef_ctx *ctx, const cJSON *obj, const char *path, const cJSON **out);
int ef_json_get_arr(ef_ctx *ctx, const cJSON *obj, const char *path, const cJSON **out);
/* Optional variants: a missing field (or JSON null) gives the default and returns 0. */
int ef_json_opt_str(ef_ctx *ctx, const cJSON *obj, const char *path, const char *def,
                    const char **out);
int ef_json_opt_int(ef_ctx *ctx, const cJSON *obj, const char *path, int64_t def, int64_t *out);
int ef_json_opt_num(ef_ctx *ctx, const cJSON *obj, const char *path, double def, double *out);
int ef_json_opt_bool(ef_ctx *ctx, const cJSON *obj, const char *path, int def, int *out);

/* Compact text (ef_free). NULL when out of memory. */
char *ef_json_print(const cJSON *item);
/* 1 when a equals expected: numbers by value (1 == 1.0), objects with keys in any order,
 * arrays in order. subset: an object of a may hold keys that expected lacks (at every
 * level). Two NULLs are equal. */
int ef_json_equal(const cJSON *a, const cJSON *expected, int subset);
/* Canonical text: object keys sorted, compact; equal values give equal bytes
 * (used for content hashes). ef_free. NULL when out of memory. */
char *ef_json_canonical(const cJSON *item);
/* How byte c of a string is written in JSON with the shortest escapes (what
 * ef_json_canonical and Python's json.dumps write): \" \\ \n \r \t \b \f, \u00xx
 * (lowercase) for the other bytes below 0x20; NULL when c stands as it is. ubuf holds the
 * \u form. */
const char *ef_json_escape_byte(unsigned char c, char ubuf[8]);
/* The JSON type's name: "string", "number", "object", ... */
const char *ef_json_type_name(const cJSON *item);

#endif
