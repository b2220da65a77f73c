/*
 * tools/schema.c — the JSON Schema subset that tool parameters use: checking a schema's
 * own form when a tool registers, and checking a call's arguments against it. Both go to
 * common/jschema.c in its tool dialect (the supported keywords are listed in tools/tools.h
 * and common/jschema.h); this file names the roots of the messages.
 */
#include "common/jschema.h"
#include "tools/tools_int.h"

int ef_tools_schema_check(ef_ctx *ctx, const cJSON *schema)
{
    if (!schema)
        return ef_errorf(ctx, EF_EINVAL, "schema: missing");
    ef_jschema_options o = EF_JSCHEMA_OPTIONS_INIT;
    o.dialect = EF_JSCHEMA_TOOL;
    o.root = "$";
    return ef_jschema_check(ctx, schema, &o);
}

int ef_tools_schema_validate(ef_ctx *ctx, const cJSON *schema, const cJSON *value,
                             const char *root)
{
    if (!schema || !value)
        return ef_errorf(ctx, EF_EINVAL, "schema validation: missing schema or value");
    ef_jschema_options o = EF_JSCHEMA_OPTIONS_INIT;
    o.dialect = EF_JSCHEMA_TOOL;
    o.root = root && *root ? root : "$";
    return ef_jschema_validate(ctx, schema, value, &o);
}
