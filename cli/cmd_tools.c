/*
 * cli/cmd_tools.c — `envforge tools [--json]`: the built-in tools and their JSON Schemas,
 * as readable text or as OpenAI function definitions.
 */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "common/json.h"
#include "tools/tools.h"

static const char usage_text[] =
    "usage: envforge tools [--json]\n"
    "Lists the built-in tools and their JSON Schemas.\n"
    "\n"
    "  --json   print the tools as OpenAI function definitions:\n"
    "           [{\"type\":\"function\",\"function\":{\"name\",\"description\",\"parameters\"}}]\n";

static void print_params(const cJSON *schema)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
    const cJSON *p;
    cJSON_ArrayForEach(p, props)
    {
        int required = 0;
        const cJSON *r;
        cJSON_ArrayForEach(r, req)
        {
            if (cJSON_IsString(r) && strcmp(r->valuestring, p->string) == 0)
                required = 1;
        }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
        const cJSON *desc = cJSON_GetObjectItemCaseSensitive(p, "description");
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(p, "enum");
        printf("    %-12s %-8s%s", p->string, cJSON_IsString(type) ? type->valuestring : "any",
               required ? " required" : "         ");
        if (en) {
            printf(" one of:");
            const cJSON *e;
            cJSON_ArrayForEach(e, en)
            {
                if (cJSON_IsString(e))
                    printf(" %s", e->valuestring);
            }
            printf(".");
        }
        if (cJSON_IsString(desc))
            printf(" %s", desc->valuestring);
        printf("\n");
    }
}

int ef_cli_tools(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return EF_EXIT_OK;
    }
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            return ef_cli_usage_error("tools", "unknown argument '%s'", argv[i]);
    }
    ef_ctx *ctx = ef_ctx_new();
    ef_tool_registry *reg = NULL;
    cJSON *defs = NULL;
    int rc = EF_EXIT_FAIL;
    if (!ctx || ef_tools_registry_new(ctx, &reg) < 0 || ef_tools_add_builtins(reg, NULL) < 0)
        goto done;
    if (json) {
        if (ef_tools_registry_openai(reg, &defs) < 0)
            goto done;
        char *text = cJSON_Print(defs);
        if (!text)
            goto done;
        printf("%s\n", text);
        cJSON_free(text);
    } else {
        for (size_t i = 0; i < ef_tools_registry_count(reg); i++) {
            printf("%s\n  %s\n  parameters:\n", ef_tools_registry_name(reg, i),
                   ef_tools_registry_description(reg, i));
            print_params(ef_tools_registry_schema(reg, i));
            printf("\n");
        }
        printf("`envforge tools --json` prints them as OpenAI function definitions.\n");
    }
    rc = EF_EXIT_OK;
done:
    if (rc != EF_EXIT_OK)
        fprintf(stderr, "envforge tools: %s\n", ctx ? ef_errmsg(ctx) : "out of memory");
    cJSON_Delete(defs);
    ef_tools_registry_free(reg);
    ef_ctx_free(ctx);
    return rc;
}
