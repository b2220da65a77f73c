/*
 * common/jschema.h — the one JSON Schema validator of envforge: checking a schema's own
 * form, and checking a value against a schema.
 *
 * Two dialects share the one walk. They differ only in which keywords a schema may use
 * and in the words of the messages:
 *
 * - EF_JSCHEMA_TOOL, tool parameters (tools/): type (a name or a list), properties,
 *   required, enum, const, items, minimum, maximum, exclusiveMinimum, exclusiveMaximum,
 *   minLength, maxLength, minItems, maxItems, additionalProperties (boolean or schema),
 *   pattern, and the annotations description, title, default, examples, format, $schema.
 *   Any other keyword is EF_EUNSUPPORTED. Messages are written for the model that filled
 *   in the arguments ("arguments.n: required field is missing").
 * - EF_JSCHEMA_FULL, the JSON verifier and env tool schemas (verifiers/, envgen/): all of
 *   the above plus allOf, anyOf, oneOf, not, multipleOf, uniqueItems, nullable,
 *   minProperties, maxProperties (checked for form only), $id, $comment and boolean
 *   schemas; every name in required must be declared in properties; an unknown keyword is
 *   EF_EINVAL.
 *
 * Lengths count Unicode code points; pattern is a POSIX extended regular expression (the
 * common subset of ECMA-262: classes, anchors, groups, alternation, counted repetition).
 * Values compare as ef_json_equal does (numbers by value, objects unordered). Messages
 * name the failing place by its path from the root ("edits[1].path").
 *
 *   ef_jschema_options o = EF_JSCHEMA_OPTIONS_INIT;
 *   o.dialect = EF_JSCHEMA_TOOL;
 *   o.root = "arguments";
 *   if (ef_jschema_check(ctx, schema, &o) < 0 ||
 *       ef_jschema_validate(ctx, schema, args, &o) < 0)
 *       return ef_errcode(ctx);        // "arguments.n: expected integer, got string"
 */
#ifndef EF_JSCHEMA_H
#define EF_JSCHEMA_H

#include <cjson/cJSON.h>
#include "common/ef.h"

typedef enum {
    EF_JSCHEMA_FULL = 0, /* the verifier's keywords and words */
    EF_JSCHEMA_TOOL = 1, /* the tool parameter subset and its words */
} ef_jschema_dialect;

typedef struct {
    int version; /* EF_JSCHEMA_OPTIONS_VERSION */
    ef_jschema_dialect dialect;
    const char *root; /* the root's name in messages; NULL: "$" */
} ef_jschema_options;

#define EF_JSCHEMA_OPTIONS_VERSION 1
#define EF_JSCHEMA_OPTIONS_INIT {EF_JSCHEMA_OPTIONS_VERSION, EF_JSCHEMA_FULL, NULL}

/* Checks a schema's own form: only the dialect's keywords, each of the right form, regular
 * expressions that compile, nesting at most 32 (tool) or 64 (full) levels. A bad schema
 * fails with EF_EINVAL (EF_EUNSUPPORTED for a keyword outside the tool dialect, EF_ELIMIT
 * for nesting) and a message naming the keyword's path. opts NULL: the defaults. */
int ef_jschema_check(ef_ctx *ctx, const cJSON *schema, const ef_jschema_options *opts);

/* Checks value against schema (which should have passed ef_jschema_check): 0 when valid;
 * EF_EINVAL with a message naming the first mismatch's path and what was expected, or
 * EF_ELIMIT past the nesting limit. */
int ef_jschema_validate(ef_ctx *ctx, const cJSON *schema, const cJSON *value,
                        const ef_jschema_options *opts);

#endif
